"""The :class:`Dataset` type every reader returns and every model and metric consumes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .validate import check_array

_HASH_ROWS = 16384


def label_name(value, names=None) -> str:
    """The display name of a label value: its entry in ``names`` when there are names."""
    return str(names[value] if names else value)


def item_name(i: int, label=None, names=None) -> str:
    """``#i (label)``, the name of item ``i`` in figures and tooltips (``#i`` without a label)."""
    return f"#{i}" + (f" ({label_name(label, names)})" if label is not None else "")


@dataclass
class Dataset:
    """Data as a float32 matrix plus what is known about each row.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32
        One row per item; images are flattened in (c, h, w) order. May be a memory map.
    y : ndarray of shape (n,), int64, optional
        Class codes; ``label_names[y[i]]`` is the readable name.
    label_names : list of str, optional
    factors : ndarray of shape (n, f), float64, optional
        Ground-truth generative factors (``shapes``, ``swissroll``), used by disentanglement metrics.
    factor_names : list of str, optional
    sample_shape : (c, h, w), optional
        Set for images, so models can pick convolutional nets and figures can draw the items.
    feature_names : list of str, optional
        Column names for tabular data.
    name : str
        Short name shown in tables.
    spec : dict
        How to load the same data again (built-in name and arguments, or file path and options).
    test_mask : ndarray of shape (n,), bool, optional
        A predefined held-out split (MNIST's 10,000 test images); ``None`` means "split at random".
    """

    X: np.ndarray
    y: np.ndarray | None = None
    label_names: list[str] | None = None
    factors: np.ndarray | None = None
    factor_names: list[str] | None = None
    sample_shape: tuple[int, ...] | None = None
    feature_names: list[str] | None = None
    name: str = "data"
    spec: dict = field(default_factory=dict)
    test_mask: np.ndarray | None = None
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.X).__module__.startswith("dask."):  # a Dask array: computed block by block
            from .source import DaskRows

            self.X = DaskRows(self.X)
        where = self.source()
        self.X = check_array(self.X, name=where, feature_names=self.feature_names)
        n, d = self.X.shape
        if self.y is not None:
            self.y = np.asarray(self.y)
            if self.y.shape != (n,):
                raise InputError(f"{where}: labels have shape {self.y.shape}; expected ({n},), one per row")
            if self.y.dtype.kind not in "iu":
                raise InputError(f"labels must be integer class codes; got dtype {self.y.dtype}")
            self.y = self.y.astype(np.int64, copy=False)
        if self.factors is not None:
            self.factors = np.asarray(self.factors, dtype=np.float64)
            if self.factors.ndim != 2 or self.factors.shape[0] != n:
                raise InputError(f"factors have shape {self.factors.shape}; expected ({n}, f)")
            names = self.factor_names or [f"factor_{i}" for i in range(self.factors.shape[1])]
            if len(names) != self.factors.shape[1]:
                raise InputError(f"{len(names)} factor names for {self.factors.shape[1]} factors")
            self.factor_names = list(names)
        if self.sample_shape is not None:
            self.sample_shape = tuple(int(s) for s in self.sample_shape)
            if int(np.prod(self.sample_shape)) != d:
                raise InputError(f"sample shape {self.sample_shape} does not hold {d} features")
        if self.feature_names is not None and len(self.feature_names) != d:
            raise InputError(f"{len(self.feature_names)} feature names for {d} features")
        if self.test_mask is not None:
            self.test_mask = np.asarray(self.test_mask, dtype=bool)
            if self.test_mask.shape != (n,):
                raise InputError(f"test mask has shape {self.test_mask.shape}; expected ({n},)")

    def source(self) -> str:
        """What errors call the data: the file's name when read from a file, else ``dataset 'name'``."""
        path = self.spec.get("path") if isinstance(self.spec, dict) else None
        return Path(path).name if path else f"dataset {self.name!r}"

    @property
    def n(self) -> int:
        """Number of items (rows)."""
        return int(self.X.shape[0])

    @property
    def d(self) -> int:
        """Number of features per item."""
        return int(self.X.shape[1])

    @property
    def is_image(self) -> bool:
        return self.sample_shape is not None and len(self.sample_shape) == 3

    def label_name(self, value) -> str:
        """The display name of a label value (its entry in ``label_names`` when there are names)."""
        return label_name(value, self.label_names)

    def item_name(self, i: int) -> str:
        """``#i (label)`` for figures and tooltips."""
        return item_name(i, None if self.y is None else self.y[i], self.label_names)

    def value_range(self, rows: int = 2000) -> tuple[float, float]:
        """(min, max) of the first ``rows`` items: the grey scale for drawing items (cheap on a
        memory-mapped file)."""
        head = np.asarray(self.X[: min(self.n, rows)])
        return float(head.min()), float(head.max())

    def images(self) -> np.ndarray:
        """The data as an array of shape (n, c, h, w); only for image data."""
        if not self.is_image:
            raise InputError(f"dataset {self.name!r} holds vectors, not images")
        return self.X.reshape((self.n, *self.sample_shape))

    def subset(self, index) -> Dataset:
        """A new Dataset with the rows ``index`` (ints or a boolean mask), labels and factors kept."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)

        def take(a):
            return None if a is None else np.asarray(a[idx])

        return Dataset(
            X=np.ascontiguousarray(self.X[idx]),
            y=take(self.y),
            label_names=self.label_names,
            factors=take(self.factors),
            factor_names=self.factor_names,
            sample_shape=self.sample_shape,
            feature_names=self.feature_names,
            name=self.name,
            spec=dict(self.spec, subset=True),
            test_mask=take(self.test_mask),
        )

    def fingerprint(self) -> str:
        """sha256 over the shape and the float32 bytes of ``X``: the same data gives the same hex.

        Computed once per Dataset (hashing MNIST takes ~0.3 s); ``X`` is not meant to change.
        """
        if self._fingerprint is None:
            h = hashlib.sha256(f"{self.X.shape}".encode())
            for start in range(0, self.n, _HASH_ROWS):
                h.update(np.ascontiguousarray(self.X[start : start + _HASH_ROWS]).tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def describe(self) -> dict:
        """A JSON-able summary (stored in run folders)."""
        return {
            "name": self.name,
            "spec": self.spec,
            "n": self.n,
            "d": self.d,
            "sample_shape": list(self.sample_shape) if self.sample_shape else None,
            "label_names": self.label_names,
            "factor_names": self.factor_names,
            "feature_names": self.feature_names,
            "sha256": self.fingerprint(),
        }

    def __repr__(self) -> str:
        parts = [f"{self.name!r}", f"n={self.n}", f"d={self.d}"]
        if self.sample_shape:
            parts.append(f"sample_shape={self.sample_shape}")
        if self.y is not None:
            parts.append(f"classes={len(np.unique(self.y))}")
        if self.factor_names:
            parts.append(f"factors={self.factor_names}")
        return f"Dataset({', '.join(parts)})"
