"""Exact nearest neighbours: every answer equals a stable float64 argsort of the true distances
(ties go to the lower row index).

Candidates are found fast in float32 (a float64 k-d tree for 2-D to 4-D data, our blocked GEMM scan
up to 64 dimensions, faiss's flat index above), then every row whose k-th and (k+1)-th candidate
distances are too close for float32 to order is settled in float64. Distances are recomputed in
float64 from the original values.
"""

from __future__ import annotations

import math

import numpy as np

from ..data.validate import check_array
from ..progress import report
from .blocked import EPS32, TREE_MAX_DIM, BlockSpace
from .index import KNNIndex, check_k
from .parallel import ordered_map

_SEARCH_ROWS = 16384  # queries per faiss call: bounds the (rows, k) temporaries and reports progress
_SPARE = 8  # candidates beyond k per row, enough to settle almost every boundary at once
_SCAN_MAX_DIM = 64  # up to here our blocked scan finds the candidates; above, faiss (faster there)
_TREE_ROWS = 4096  # queries per k-d tree task


class ExactIndex(KNNIndex):
    """Exact k nearest neighbours (see the module docstring for how exactness is kept).

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    >>> index = ExactIndex().build(Z)
    >>> index.neighbours(1)[0].ravel().tolist()
    [1, 0, 1]
    >>> index.query([[2.9, 0.0]], 2)[0].tolist()
    [[2, 1]]
    """

    name = "exact"
    exact = True

    def _build(self) -> None:
        pass  # the search needs nothing prepared beyond the rows themselves

    def _neighbours(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return _graph(self.data_, k, "kNN graph")

    def _query(self, points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return _search(self.data_, points, k)


def exact_knn(Z: np.ndarray, k: int, *, task: str = "kNN graph") -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of every row of ``Z`` among the other rows (euclidean).

    Returns (indices (n, k) int64, distances (n, k) float32), nearest first.
    """
    Z = np.ascontiguousarray(check_array(Z, name="data", min_rows=2), dtype=np.float32)
    return _graph(Z, check_k(k, len(Z) - 1), task)


def nearest(data, points, k: int, metric: str = "euclidean") -> tuple[np.ndarray, np.ndarray]:
    """The exact ``k`` nearest rows of ``data`` for each of ``points``: (indices (q, k), distances
    (q, k)). A one-off search; build an :class:`ExactIndex` to query the same rows repeatedly."""
    return ExactIndex(metric).build(data).query(points, k)


def _graph(Z: np.ndarray, k: int, task: str) -> tuple[np.ndarray, np.ndarray]:
    n, d = Z.shape
    if d <= TREE_MAX_DIM:
        return _tree_graph(Z, k, task)
    m = min(k + 1 + _SPARE, n)  # the row itself, k neighbours, and spare candidates for the boundary
    if d <= _SCAN_MAX_DIM:
        idx, sq, err, complete = BlockSpace(Z).candidates(m, task)
    else:
        idx, sq, err, complete = _faiss_candidates(Z, Z, m, task)
    return _settle(Z.astype(np.float64), None, idx, sq, err, complete, k)


def _search(Z: np.ndarray, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact k nearest rows of Z for each row of Q (Q not part of Z)."""
    if Z.shape[1] <= TREE_MAX_DIM:
        return _tree_search(Z, Q, k)
    m = min(k + _SPARE, len(Z))
    idx, sq, err, complete = _faiss_candidates(Z, Q, m, "nearest neighbours")
    return _settle(Z.astype(np.float64), Q.astype(np.float64), idx, sq, err, complete, k)


def _faiss_candidates(Z: np.ndarray, Q: np.ndarray, m: int, task: str):
    """The m nearest rows of Z for each row of Q by faiss's exact float32 search, their float32
    squared distances, the float32 error bound per query, and whether every row is a candidate."""
    import faiss

    n, d = Z.shape
    index = faiss.IndexFlatL2(d)
    index.add(Z)
    idx = np.empty((len(Q), m), dtype=np.int64)
    sq = np.empty((len(Q), m), dtype=np.float32)
    for a in range(0, len(Q), _SEARCH_ROWS):
        b = min(a + _SEARCH_ROWS, len(Q))
        dist, ii = index.search(Q[a:b], m)
        idx[a:b], sq[a:b] = ii, dist
        report(task, b, len(Q))
    norms = (Z.astype(np.float64) ** 2).sum(1)
    q_norms = norms if Q is Z else (Q.astype(np.float64) ** 2).sum(1)
    return idx, sq, 8.0 * math.sqrt(d) * EPS32 * (q_norms + norms.max()), m >= n


def _settle(Z64, Q64, idx, sq, err, complete, k):
    """Rank the candidates by exact float64 distance (ties by index) and search in full, in float64,
    every query whose k-th is not surely closer than all rows left out.

    Every row not returned is at float32 distance >= the last one returned, so at true distance >=
    that minus the float32 error bound ``err`` (about sqrt(d) eps (|x|^2 + |y|^2), 8x for safety).
    A query is settled when its k-th is below that bound, else (rare: exact ties, crowds at the
    boundary) it is searched in full. ``Q64`` None: the queries are the rows of Z themselves, each
    left out of its own list."""
    own = Q64 is None
    Q64 = Z64 if own else Q64
    q = len(Q64)
    bound = sq[:, -1].astype(np.float64) - err
    out_i = np.empty((q, k), dtype=np.int64)
    out_d = np.empty((q, k), dtype=np.float64)
    unsettled = []
    for a in range(0, q, _SEARCH_ROWS):
        b = min(a + _SEARCH_ROWS, q)
        ii = idx[a:b]
        d2 = ((Z64[ii] - Q64[a:b, None, :]) ** 2).sum(2)
        if own:
            d2[ii == np.arange(a, b)[:, None]] = math.inf  # the row itself
        d2[ii < 0] = math.inf  # faiss pads with -1 when it finds fewer rows
        order = np.lexsort((ii, d2), axis=1)[:, :k]
        out_i[a:b] = np.take_along_axis(ii, order, 1)
        out_d[a:b] = np.take_along_axis(d2, order, 1)
        if not complete:
            unsettled.extend((a + np.flatnonzero(~(out_d[a:b, -1] < bound[a:b]))).tolist())
    for i in unsettled:
        out_i[i], out_d[i] = _nearest_exact(Z64, Q64[i], k, i if own else -1)
    return out_i, np.sqrt(out_d).astype(np.float32)


def _nearest_exact(Z64: np.ndarray, x: np.ndarray, k: int, skip: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """The k rows of Z64 nearest x in float64 (row ``skip`` left out), ties to the lower index,
    and their squared distances: a partition, then a sort of the few candidates only."""
    dd = ((Z64 - x) ** 2).sum(1)
    if skip >= 0:
        dd[skip] = math.inf
    cand = np.flatnonzero(dd <= np.partition(dd, k - 1)[k - 1])  # every row tied at the k-th too
    best = cand[np.lexsort((cand, dd[cand]))[:k]]
    return best, dd[best]


def _tree_query(tree, Q64: np.ndarray, m: int):
    """scipy's k-d tree query in row blocks on the thread pool (the query releases the GIL)."""
    idx = np.empty((len(Q64), m), dtype=np.int64)
    dist = np.empty((len(Q64), m), dtype=np.float64)

    def query(a: int):
        return a, *tree.query(Q64[a : a + _TREE_ROWS], m, workers=1)

    for a, dd, ii in ordered_map(query, range(0, len(Q64), _TREE_ROWS)):
        dist[a : a + len(dd)] = np.asarray(dd).reshape(len(dd), m)
        idx[a : a + len(dd)] = np.asarray(ii).reshape(len(dd), m)
    return dist, idx


def _tree_graph(Z: np.ndarray, k: int, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact kNN of a low-dimensional space with scipy's k-d tree in float64; rows where the k-th
    and (k+1)-th distances tie exactly are settled by row index (the stable-sort rule)."""
    from scipy.spatial import cKDTree

    Z64 = Z.astype(np.float64)
    n = len(Z64)
    m = min(k + 2, n)
    dist, idx = _tree_query(cKDTree(Z64), Z64, m)
    report(task, n, n)
    own = idx == np.arange(n)[:, None]
    keep = np.argsort(own, axis=1, kind="stable")[:, : k + 1]
    idx, dist = np.take_along_axis(idx, keep, 1), np.take_along_axis(dist, keep, 1)
    # rows with an exact tie at the boundary (or whose own row fell outside the m found)
    redo = np.flatnonzero((dist[:, k] == dist[:, k - 1]) | ~own.any(1)) if m == k + 2 else []
    for i in redo:
        idx[i, :k], d2 = _nearest_exact(Z64, Z64[i], k, i)
        dist[i, :k] = np.sqrt(d2)
    return _by_distance(idx[:, :k], dist[:, :k])


def _tree_search(Z: np.ndarray, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k-d tree for queries: as ``_tree_graph``, with no row to leave out."""
    from scipy.spatial import cKDTree

    Z64, Q64 = Z.astype(np.float64), Q.astype(np.float64)
    m = min(k + 1, len(Z64))
    dist, idx = _tree_query(cKDTree(Z64), Q64, m)
    redo = np.flatnonzero(dist[:, k] == dist[:, k - 1]) if m == k + 1 else []
    for i in redo:
        idx[i, :k], d2 = _nearest_exact(Z64, Q64[i], k)
        dist[i, :k] = np.sqrt(d2)
    return _by_distance(idx[:, :k], dist[:, :k])


def _by_distance(idx: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row nearest first, equal distances by row index."""
    order = np.lexsort((idx, dist), axis=1)
    return (
        np.ascontiguousarray(np.take_along_axis(idx, order, 1)),
        np.take_along_axis(dist, order, 1).astype(np.float32),
    )
