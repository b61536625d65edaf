"""Exact distances block by block: one (rows x n) block of float32 distances at a time, from one
GEMM, with the float32 error bound that says which comparisons need a float64 re-check.

Used by the exact kNN search (candidates for latents up to 64 dimensions) and by the
neighbourhood metrics (ranks of given neighbours, counted in the same blocks).
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ..progress import report
from .parallel import ordered_map, threads

EPS32 = float(np.finfo(np.float32).eps)
_DIRECT_MAX_DIM = 4
_SCAN_ROWS = 256  # most rows per block: beyond this the GEMM gains nothing and falls out of cache
_BLOCK_BYTES = 128 << 20  # most bytes of the float32 distance blocks of all threads together
_MIN_BLOCKS_PER_THREAD = 32  # small enough blocks that a thread slowed by other work holds no one up
TREE_MAX_DIM = 4  # up to here a float64 k-d tree (GEMM distances cancel badly in 2-D / 3-D)


def rows_per_block(n: int, rows: int, workers: int) -> int:
    """Rows per block when ``workers`` threads each hold one block of ``n`` float32 columns and
    ``rows`` rows are to be scanned: within the memory bound, and at least
    ``_MIN_BLOCKS_PER_THREAD`` blocks per thread."""
    by_memory = _BLOCK_BYTES // (4 * max(n, 1) * workers)
    return max(8, min(_SCAN_ROWS, by_memory, -(-rows // (_MIN_BLOCKS_PER_THREAD * workers))))


class BlockSpace:
    """One space: centred float32 for GEMM distances, the original values for float64 re-checks.

    A block holds d'(i, j) = |x_j|^2 - 2 x_i.x_j, the squared distance less |x_i|^2: a constant per
    row, so every comparison within a row is unchanged and the block needs one GEMM and nothing else.
    Each thread gets a block buffer of its own, so blocks can be computed on several threads at once.
    """

    def __init__(self, A: np.ndarray):
        self.original = np.ascontiguousarray(A, dtype=np.float32)
        n, d = self.original.shape
        step = 8192
        total = np.zeros(d, dtype=np.float64)
        for a in range(0, n, step):
            total += self.original[a : a + step].sum(0, dtype=np.float64)
        self.f32 = self.original - (total / max(n, 1)).astype(np.float32)  # centred: smaller rounding
        sq = np.empty(n, dtype=np.float64)
        for a in range(0, n, step):
            block = self.f32[a : a + step].astype(np.float64)
            sq[a : a + step] = np.einsum("ij,ij->i", block, block)
        self.sq = sq.astype(np.float32)
        # |error| of a float32 GEMM distance is about sqrt(d) * eps * (|x|^2 + |y|^2) in practice
        # (Higham 2002, ch. 3); 8x that decides which comparisons get an exact float64 re-check
        self.tol_factor = 8.0 * math.sqrt(d) * EPS32
        self.sq_max = float(self.sq.max()) if n else 0.0
        # a 2-D or 3-D map: |x|^2 + |y|^2 - 2 x.y cancels badly (near points of a dense cluster are
        # far closer than the coordinates are large), so such spaces sum squared differences of the
        # original values instead: error at most (d + 3) u times the distance itself
        self.direct = d <= _DIRECT_MAX_DIM
        self.rel_factor = np.float32(4.0 * (d + 3) * EPS32)
        self._AT = np.ascontiguousarray(self.original.T) if self.direct else None
        self._local = threading.local()

    def __len__(self) -> int:
        return len(self.original)

    def block(self, rows: np.ndarray) -> np.ndarray:
        """Distances of the points ``rows`` (int64, ascending) to every point, (len(rows), n)
        float32, in this thread's buffer (valid until its next call)."""
        n = len(self.original)
        size = len(rows) * n
        buffer = getattr(self._local, "buffer", None)
        if buffer is None or len(buffer) < size:
            buffer = self._local.buffer = np.empty(size, dtype=np.float32)
        out = buffer[:size].reshape(len(rows), n)
        if self.direct:
            from ._kernels import direct_block

            direct_block(self.original, self._AT, rows, out)
            return out
        contiguous = len(rows) and rows[-1] - rows[0] == len(rows) - 1
        A = self.f32[int(rows[0]) : int(rows[-1]) + 1] if contiguous else self.f32[rows]
        np.matmul(A * np.float32(-2.0), self.f32.T, out=out)  # x -2 is exact: -2 (x_i . x_j)
        out += self.sq
        return out

    def tolerance(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """How far a block value may be from exact, for the points ``rows`` holding ``values``
        (rows, m): broadcastable to ``values``."""
        if self.direct:  # relative; the tiny floor keeps exact ties (0 included) inside the band
            return self.rel_factor * np.abs(values) + np.float32(1e-30)
        sq_i = self.sq[rows][:, None]
        loose = np.float32(self.tol_factor) * (sq_i + np.float32(self.sq_max))  # any |x_j| up to the largest
        # A point j whose value lies near v = |x_j|^2 - 2 x_i.x_j has |x_j| <= |x_i| + sqrt(|x_i|^2
        # + v) (Cauchy-Schwarz); points with larger norms are farther by more than their own error
        # (the gap grows as |x_j|^2, the error as eps |x_j|^2). So the band around v needs only that
        # norm, not the largest in the data: 3-10x narrower, and far fewer float64 re-checks.
        reach = np.sqrt(sq_i) + np.sqrt(np.maximum(sq_i + values + loose, np.float32(0.0)))
        return np.minimum(loose, np.float32(self.tol_factor) * (sq_i + reach * reach))

    def scan(self, D: np.ndarray, rows: np.ndarray, thresholds: np.ndarray, top_k: int):
        """One pass over each row of the block ``D`` of ``rows``: (counts (rows, m) of values below
        each of ``thresholds`` (rows, m), the ``top_k`` smallest values' columns and values)."""
        from ._kernels import scan_rows

        return scan_rows(D, rows, thresholds, top_k)

    def exact(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """float64 squared distances of the original rows i[p] and j[p]."""
        from ._kernels import pair_distances

        return pair_distances(self.original, np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64))

    def nearest(self, D: np.ndarray, rows: np.ndarray, idx: np.ndarray, val: np.ndarray, k: int):
        """The exact k nearest of each block row as a set, from the block ``D`` and its k + 1
        smallest values ``val`` (columns ``idx``): rows whose k-th and (k+1)-th are too close for
        float32 are settled in float64, ties to the lower index."""
        tol = np.broadcast_to(self.tolerance(rows, val[:, k : k + 1]), (len(rows), 1))[:, 0]
        unsure = np.flatnonzero(val[:, k] - val[:, k - 1] <= 2 * tol)
        for rr in unsure.tolist():
            i = int(rows[rr])
            close = np.flatnonzero(D[rr] < val[rr, k] + 2 * tol[rr])
            close = close[close != i]
            d = self.exact(np.full_like(close, i), close)
            idx[rr, :k] = close[np.argsort(d, kind="stable")[:k]]  # candidates ascend: ties to lower index
        return idx[:, :k]

    def candidates(self, m: int, task: str):
        """The m nearest rows of every row by float32 block distances (the row itself excluded),
        their float32 squared distances, the float32 error bound per row, and whether every other
        row is a candidate: one vectorised scan per row that skips 32-column chunks holding nothing
        below the current m-th."""
        n = len(self.original)
        m = min(m, n - 1)
        idx = np.empty((n, m), dtype=np.int64)
        sq = np.empty((n, m), dtype=np.float32)
        workers = threads()
        per = rows_per_block(n, n, workers)
        no_thresholds = np.empty((per, 0), dtype=np.float32)

        def scan(a: int):
            rows = np.arange(a, min(a + per, n), dtype=np.int64)
            _, ii, vv = self.scan(self.block(rows), rows, no_thresholds[: len(rows)], m)
            return a, ii, vv

        for a, ii, vv in ordered_map(scan, range(0, n, per)):
            b = a + len(ii)
            idx[a:b], sq[a:b] = ii, vv
            if (b // per) % 16 == 0 or b == n:
                report(task, b, n)
        sq += self.sq[:, None]  # the block holds |x_j|^2 - 2 x_i.x_j (centred): add |x_i|^2
        return idx, sq, self.tol_factor * (self.sq.astype(np.float64) + self.sq_max), m >= n - 1
