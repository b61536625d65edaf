"""Per-row random streams: Monte Carlo noise that depends on a seed and the row alone.

A score estimated with random draws (a VAE's ELBO, its importance-weighted bound) should give a row
the same value wherever it sits in a batch, in any order, alone or among others. Drawing the noise
of a block from one generator ties each row's draws to its position. Instead each row gets its own
stream: a 64-bit key from a keyed BLAKE2b hash of (seed, the row's float32 bytes), and SplitMix64
(Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators") seeded with that key,
turned into standard normals by the Box-Muller transform. Streams of different rows are
independent in practice; equal rows get equal noise, which is what makes a score a function of the
row. Vectorised over rows and draws, the cost is small next to the network's.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64's increment (the golden ratio in 64 bits)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def row_keys(X: np.ndarray, seed: int) -> np.ndarray:
    """One 64-bit key per row of ``X`` (n, d), from the seed and the row's float32 bytes: (n,)."""
    rows = np.ascontiguousarray(X, dtype=np.float32)
    key = (int(seed) % 2**64).to_bytes(8, "little")
    digests = b"".join(hashlib.blake2b(r.tobytes(), digest_size=8, key=key).digest() for r in rows)
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


def _splitmix64(state: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (uint64 arithmetic wraps, as intended)."""
    z = state
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def row_normals(keys: np.ndarray, m: int) -> np.ndarray:
    """The first ``m`` standard normals of each row's stream, shape (len(keys), m), float64."""
    counters = np.arange(1, 2 * m + 1, dtype=np.uint64) * _GAMMA  # (2m,): the stream's states
    bits = _splitmix64(keys[:, None] + counters)  # (n, 2m) uint64
    u1 = ((bits[:, :m] >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53  # (0, 1]
    u2 = (bits[:, m:] >> np.uint64(11)).astype(np.float64) * 2.0**-53  # [0, 1)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
