"""Approximate nearest neighbours with faiss's HNSW index, for data too large for the exact search.

The answers are NOT exact: some true neighbours are missed. ``neighbours`` measures how many on
sampled rows (``recall_``: the mean share of each sampled row's true k nearest that were found).
"""

from __future__ import annotations

import numpy as np

from ..progress import report
from .index import KNNIndex

_SEARCH_ROWS = 16384  # queries per faiss call
_HNSW_M = 16  # links per node; with efConstruction 40 and efSearch 64: recall 0.989 at k = 15 on
# 1M 16-d VAE latents in 160 s (M 32 and efConstruction 80: 0.998 in 332 s, the build on one thread)
_HNSW_EF_CONSTRUCTION = 40
_HNSW_EF_SEARCH = 64
# Above 64 dimensions distances concentrate and the small graph misses neighbours: on 1M x 384
# clustered vectors M 16 found 0.704 of the true 15 nearest; on 100k of them M 16 / efC 40 gave
# 0.987 and M 32 / efC 80 / efSearch 128 gave 1.000, for 1.5x the build time.
_HIGH_DIM, _HIGH_M, _HIGH_EF_CONSTRUCTION, _HIGH_EF_SEARCH = 64, 32, 80, 128
_RECALL_ROWS = 2000  # rows whose exact neighbours measure the recall


class HNSWIndex(KNNIndex):
    """Approximate k nearest neighbours (faiss ``IndexHNSWFlat``).

    The index is built with one thread, so the same data give the same graph (faiss inserts in
    parallel otherwise, and the links depend on timing); searches use every thread.

    Parameters
    ----------
    metric : "euclidean" or "cosine".
    seed : which rows measure the recall.

    Attributes
    ----------
    recall_ : float, after ``neighbours``: the mean share of the true k nearest found, measured
        against an exact search on ``_RECALL_ROWS`` sampled rows.
    """

    name = "hnsw"
    exact = False

    def __init__(self, metric: str = "euclidean", seed: int = 0):
        super().__init__(metric)
        self.seed = seed

    def _build(self, task: str = "kNN graph (HNSW)") -> None:
        import faiss

        n, d = self.data_.shape
        high = d > _HIGH_DIM
        self.index_ = faiss.IndexHNSWFlat(d, _HIGH_M if high else _HNSW_M)
        self.index_.hnsw.efConstruction = _HIGH_EF_CONSTRUCTION if high else _HNSW_EF_CONSTRUCTION
        self.ef_search_ = _HIGH_EF_SEARCH if high else _HNSW_EF_SEARCH
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            for a in range(0, n, _SEARCH_ROWS * 4):
                self.index_.add(self.data_[a : a + _SEARCH_ROWS * 4])
                report(task + ", building", min(a + _SEARCH_ROWS * 4, n), n)
        finally:
            faiss.omp_set_num_threads(threads)

    def _search(self, points: np.ndarray, k: int, task: str):
        self.index_.hnsw.efSearch = max(self.ef_search_, 4 * k)
        idx = np.empty((len(points), k), dtype=np.int64)
        sq = np.empty((len(points), k), dtype=np.float32)
        for a in range(0, len(points), _SEARCH_ROWS):
            b = min(a + _SEARCH_ROWS, len(points))
            sq[a:b], idx[a:b] = self.index_.search(points[a:b], k)
            report(task, b, len(points))
        return idx, sq

    def _neighbours(self, k: int, task: str = "kNN graph (HNSW)") -> tuple[np.ndarray, np.ndarray]:
        n = len(self.data_)
        ii, sq = self._search(self.data_, k + 1, task)
        own = ii == np.arange(n)[:, None]
        keep = np.argsort(own, axis=1, kind="stable")[:, :k]  # drop the row itself (else the last)
        idx = np.take_along_axis(ii, keep, 1)
        dist = np.sqrt(np.maximum(np.take_along_axis(sq, keep, 1), 0.0))
        self.recall_ = self._recall(idx, k)
        return idx, dist

    def _query(self, points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        idx, sq = self._search(points, k, "nearest neighbours (HNSW)")
        return idx, np.sqrt(np.maximum(sq, 0.0))

    def _recall(self, idx: np.ndarray, k: int) -> float:
        """Mean share of each sampled row's exact k nearest that ``idx`` holds."""
        import faiss

        n, d = self.data_.shape
        rows = np.sort(np.random.default_rng(self.seed).choice(n, min(_RECALL_ROWS, n), replace=False))
        flat = faiss.IndexFlatL2(d)
        flat.add(self.data_)
        _, true = flat.search(self.data_[rows], k + 1)
        hits = [len(np.intersect1d(t[t != r][:k], idx[r])) for r, t in zip(rows, true, strict=True)]
        return float(np.mean(hits) / k)
