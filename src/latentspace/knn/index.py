"""The index interface every nearest-neighbour search of latentspace goes through.

An index is built on the rows of one data set and then answers two questions: each row's k
nearest among the other rows (``neighbours``, the kNN graph) and the k nearest rows of new points
(``query``). Like openTSNE's ``KNNIndex``, exact and approximate searches sit behind the same
methods; ``exact`` says which one a caller holds.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..data.validate import check_array
from ..errors import InputError

METRICS = ("euclidean", "cosine")


def prepare(Z, metric: str) -> np.ndarray:
    """The rows as the index sees them (float32): cosine distance ranks like euclidean distance on
    unit vectors, so cosine rows are scaled to unit length (distances between them are then
    sqrt(2 - 2 cos), the chord distance)."""
    if metric not in METRICS:
        raise InputError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    Z = np.ascontiguousarray(Z, dtype=np.float32)
    if metric == "cosine":
        norms = np.linalg.norm(Z.astype(np.float64), axis=1, keepdims=True)
        if (norms == 0).any():
            row = int(np.flatnonzero(norms[:, 0] == 0)[0])
            raise InputError(f"row {row} of the latents is all zeros: it has no cosine distance")
        Z = (Z / norms).astype(np.float32)
    return Z


def check_k(k: int, available: int, what: str = "the number of other rows") -> int:
    """``k`` as an int in 1..available, else an error that says the allowed range."""
    if not 1 <= int(k) <= available:
        raise InputError(f"k must be between 1 and {available} ({what}); got {k}")
    return int(k)


class KNNIndex:
    """Nearest neighbours among the rows of one data set.

    ``build(data)`` indexes the rows and returns the index; ``neighbours(k)`` gives every indexed
    row's ``k`` nearest among the other rows; ``query(points, k)`` the ``k`` nearest indexed rows of
    each point. Results are ``(indices (m, k) int64, distances (m, k) float32)``, nearest first;
    distances are euclidean between the prepared rows (see :func:`prepare` for cosine).

    Parameters
    ----------
    metric : "euclidean" or "cosine".

    Attributes
    ----------
    data_ : (n, d) float32, the prepared rows (after ``build``).
    """

    name: ClassVar[str]
    exact: ClassVar[bool]

    def __init__(self, metric: str = "euclidean"):
        self.metric = metric

    def build(self, data) -> KNNIndex:
        """Index the rows of ``data`` (n, d); returns self."""
        self.data_ = prepare(check_array(data, name="data", min_rows=2), self.metric)
        self._build()
        return self

    def neighbours(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each indexed row's ``k`` nearest among the other rows (the row itself left out)."""
        return self._neighbours(check_k(k, len(self._data()) - 1))

    def query(self, points, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest indexed rows of each of ``points`` (q, d)."""
        data = self._data()
        points = check_array(points, name="query points", n_features=data.shape[1])
        return self._query(prepare(points, self.metric), check_k(k, len(data), "the number of rows"))

    def _data(self) -> np.ndarray:
        if not hasattr(self, "data_"):
            raise InputError(f"this {type(self).__name__} is not built yet: call build(data) first")
        return self.data_

    # what an index implements, on prepared float32 rows and a checked k
    def _build(self) -> None:
        raise NotImplementedError

    def _neighbours(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _query(self, points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError
