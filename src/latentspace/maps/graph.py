"""One exact kNN graph of the latents, computed once and shared by t-SNE, UMAP and the
neighbourhood metrics; stored in the run as ``knn-<metric>.safetensors``.

The graph is exact: candidates are found in float32 (faiss's flat index above 64 dimensions, the
neighbourhood metrics' blocked GEMM scan up to 64, a float64 k-d tree for 2-D/3-D maps), and every
row whose k-th and (k+1)-th distances are too close for float32 to order is settled in float64
(ties go to the lower row index, as a stable sort would). Distances are recomputed in float64 from
the original values.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np

from ..data.validate import check_array
from ..errors import InputError, RunIntegrityError
from ..progress import report

METRICS = ("euclidean", "cosine")
_EPS32 = float(np.finfo(np.float32).eps)
_TREE_MAX_DIM = 4  # maps: a float64 k-d tree (float32 GEMM distances cancel badly in 2-D / 3-D)
_SEARCH_ROWS = 16384  # queries per faiss call: bounds the (rows, k) temporaries and reports progress
_SPARE = 8  # candidates beyond k per row, enough to settle almost every boundary at once
_SCAN_MAX_DIM = 64  # up to here our blocked scan finds the candidates; above, faiss (faster there)
_SCAN_ROWS = 256  # rows per distance block of that scan


def prepare(Z: np.ndarray, metric: str) -> np.ndarray:
    """The latents as the graph sees them: cosine distance ranks like euclidean on unit vectors."""
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


def latents_digest(Z: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(Z, dtype=np.float32).tobytes()).hexdigest()


def exact_knn(Z: np.ndarray, k: int, *, task: str = "kNN graph") -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of every row of ``Z`` among the other rows (euclidean).

    Returns (indices (n, k) int64, distances (n, k) float32), nearest first.
    """
    Z = np.ascontiguousarray(Z, dtype=np.float32)
    n, d = Z.shape
    if not 1 <= k < n:
        raise InputError(f"k must be between 1 and {n - 1} (the number of other rows); got {k}")
    if d <= _TREE_MAX_DIM:
        return _tree_knn(Z, k, task)
    m = min(k + 1 + _SPARE, n)  # the row itself, k neighbours, and spare candidates for the boundary
    search = _scan_candidates if d <= _SCAN_MAX_DIM else _faiss_candidates
    idx, sq, err, complete = search(Z, m, task)
    # Every row not returned is at float32 distance >= the last one returned, so at true distance
    # >= that minus the float32 error bound ``err`` (about sqrt(d) eps (|x|^2 + |y|^2), 8x for
    # safety). Candidates are ranked by exact float64 distance, ties by index; a row is settled when
    # its k-th is below that bound, else (rare: exact ties, crowds at the boundary) it is searched
    # in full.
    Z64 = Z.astype(np.float64)
    bound = sq[:, -1].astype(np.float64) - err
    out_i = np.empty((n, k), dtype=np.int64)
    out_d = np.empty((n, k), dtype=np.float64)
    unsettled = []
    for a in range(0, n, _SEARCH_ROWS):
        b = min(a + _SEARCH_ROWS, n)
        ii = idx[a:b]
        d2 = ((Z64[ii] - Z64[a:b, None, :]) ** 2).sum(2)
        d2[ii == np.arange(a, b)[:, None]] = math.inf  # the row itself
        order = np.lexsort((ii, d2), axis=1)[:, :k]
        out_i[a:b] = np.take_along_axis(ii, order, 1)
        out_d[a:b] = np.take_along_axis(d2, order, 1)
        if not complete:
            unsettled.extend((a + np.flatnonzero(~(out_d[a:b, -1] < bound[a:b]))).tolist())
    for i in unsettled:
        out_i[i], out_d[i] = _nearest_exact(Z64, i, k)
    return out_i, np.sqrt(out_d).astype(np.float32)


def _faiss_candidates(Z: np.ndarray, m: int, task: str):
    """The m nearest rows by faiss's exact float32 search (the row itself usually among them), their
    float32 squared distances, the float32 error bound per row, and whether every row is a
    candidate."""
    import faiss

    n, d = Z.shape
    index = faiss.IndexFlatL2(d)
    index.add(Z)
    idx = np.empty((n, m), dtype=np.int64)
    sq = np.empty((n, m), dtype=np.float32)
    for a in range(0, n, _SEARCH_ROWS):
        b = min(a + _SEARCH_ROWS, n)
        dist, ii = index.search(Z[a:b], m)
        idx[a:b], sq[a:b] = ii, dist
        report(task, b, n)
    norms = (Z.astype(np.float64) ** 2).sum(1)
    return idx, sq, 8.0 * math.sqrt(d) * _EPS32 * (norms + norms.max()), m >= n


def _scan_candidates(Z: np.ndarray, m: int, task: str):
    """The same as _faiss_candidates (the row itself excluded) from the neighbourhood metrics' own
    search: blocked float32 GEMM distances and one vectorised scan per row that skips 32-column
    chunks holding nothing below the current m-th. Twice as fast as faiss's flat index up to 64
    dimensions (70,000 x 16: 2.2 s vs 3.9 s), where faiss spends its time on a scalar heap check per
    value; beyond that faiss's GEMM wins (784-d: 1.8 s vs 2.1 s at 20,000)."""

    from ..metrics._kernels import scan_rows
    from ..metrics.neighbourhood import _Space

    n = len(Z)
    m = min(m, n - 1)  # the row itself is never a candidate here
    space = _Space(Z)
    idx = np.empty((n, m), dtype=np.int64)
    sq = np.empty((n, m), dtype=np.float32)
    no_thresholds = np.empty((_SCAN_ROWS, 0), dtype=np.float32)
    for a in range(0, n, _SCAN_ROWS):
        b = min(a + _SCAN_ROWS, n)
        rows = np.arange(a, b, dtype=np.int64)
        _, idx[a:b], sq[a:b] = scan_rows(space.block(rows).numpy(), rows, no_thresholds[: b - a], m)
        if (b // _SCAN_ROWS) % 16 == 0 or b == n:
            report(task, b, n)
    sq += space.sq.numpy()[:, None]  # the block holds |x_j|^2 - 2 x_i.x_j (centred): add |x_i|^2
    return idx, sq, space.tol_factor * (space.sq.double().numpy() + space.sq_max), m >= n - 1


def _nearest_exact(Z64: np.ndarray, i: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k rows nearest row i in float64 (itself excluded), ties to the lower index, and their
    squared distances: a partition, then a sort of the few candidates only."""
    dd = ((Z64 - Z64[i]) ** 2).sum(1)
    dd[i] = math.inf
    cand = np.flatnonzero(dd <= np.partition(dd, k - 1)[k - 1])  # every row tied at the k-th too
    best = cand[np.lexsort((cand, dd[cand]))[:k]]
    return best, dd[best]


def _tree_knn(Z: np.ndarray, k: int, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact kNN of a low-dimensional space with scipy's k-d tree in float64; rows where the k-th
    and (k+1)-th distances tie exactly are settled by row index (the stable-sort rule)."""
    from scipy.spatial import cKDTree

    Z64 = Z.astype(np.float64)
    n = len(Z64)
    m = min(k + 2, n)
    dist, idx = cKDTree(Z64).query(Z64, m, workers=-1)
    report(task, n, n)
    own = idx == np.arange(n)[:, None]
    keep = np.argsort(own, axis=1, kind="stable")[:, : k + 1]
    idx, dist = np.take_along_axis(idx, keep, 1), np.take_along_axis(dist, keep, 1)
    # rows with an exact tie at the boundary (or whose own row fell outside the m found)
    redo = np.flatnonzero((dist[:, k] == dist[:, k - 1]) | ~own.any(1)) if m == k + 2 else []
    for i in redo:
        idx[i, :k], d2 = _nearest_exact(Z64, i, k)
        dist[i, :k] = np.sqrt(d2)
    idx, dist = idx[:, :k], dist[:, :k]
    order = np.argsort(dist, axis=1, kind="stable")
    return np.ascontiguousarray(np.take_along_axis(idx, order, 1)), np.take_along_axis(dist, order, 1).astype(
        np.float32
    )


@dataclass
class KnnGraph:
    """k nearest neighbours of every latent (the row itself excluded), nearest first.

    ``method`` is "exact", or "hnsw" for an approximate graph (large data), whose ``recall`` (the
    mean share of the true k nearest found, measured on sampled rows) is kept with it."""

    indices: np.ndarray  # (n, k) int64
    distances: np.ndarray  # (n, k) float32
    metric: str
    latents_sha256: str
    method: str = "exact"
    recall: float | None = None

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    @property
    def n(self) -> int:
        return int(self.indices.shape[0])

    @property
    def exact(self) -> bool:
        return self.method == "exact"

    def first(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest of each row."""
        if k > self.k:
            raise InputError(f"the graph holds {self.k} neighbours per row; {k} were asked for")
        return self.indices[:, :k], self.distances[:, :k]

    @classmethod
    def compute(cls, Z: np.ndarray, k: int, metric: str = "euclidean", method: str = "auto") -> KnnGraph:
        """``method``: "exact", "hnsw" (approximate, faiss), or "auto": exact up to APPROX_FROM rows."""
        if method not in GRAPH_METHODS:
            raise InputError(f"graph method must be one of {', '.join(GRAPH_METHODS)}; got {method!r}")
        Z = check_array(Z, name="latents", min_rows=2)
        P = prepare(Z, metric)
        if method == "auto":
            method = "hnsw" if len(P) >= APPROX_FROM and P.shape[1] > _TREE_MAX_DIM else "exact"
        if method == "exact":
            idx, dist = exact_knn(P, int(k))
            return cls(idx, dist, metric, latents_digest(Z))
        idx, dist, recall = approximate_knn(P, int(k))
        return cls(idx, dist, metric, latents_digest(Z), "hnsw", recall)

    def to_bytes(self) -> bytes:
        from safetensors.numpy import save

        meta = {
            "metric": self.metric,
            "latents_sha256": self.latents_sha256,
            "k": str(self.k),
            "method": self.method,
        }
        if self.recall is not None:
            meta["recall"] = repr(float(self.recall))
        return save({"indices": self.indices, "distances": self.distances}, metadata=meta)

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> KnnGraph:
        from safetensors.numpy import load

        try:
            tensors = load(data)
            meta = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")]).get("__metadata__", {})
            method = meta.get("method", "exact")
            recall = float(meta["recall"]) if "recall" in meta else None
            g = cls(
                tensors["indices"],
                tensors["distances"],
                meta["metric"],
                meta["latents_sha256"],
                method,
                recall,
            )
        except Exception as exc:  # noqa: BLE001 - any decoding failure is the same problem
            raise RunIntegrityError(f"{where} is not a valid kNN graph: {exc}") from None
        if g.indices.shape != g.distances.shape or g.indices.ndim != 2:
            raise RunIntegrityError(f"{where} is not a valid kNN graph: its arrays disagree in shape")
        if g.method not in GRAPH_METHODS[1:]:
            raise RunIntegrityError(f"{where} is not a valid kNN graph: unknown method {g.method!r}")
        return g


GRAPH_METHODS = ("auto", "exact", "hnsw")
APPROX_FROM = 200_000  # rows from which "auto" builds an approximate (HNSW) graph
_HNSW_M = 16  # links per node; with efConstruction 40 and efSearch 64: recall 0.989 at k = 15 on
# 1M 16-d VAE latents in 160 s (M 32 and efConstruction 80: 0.998 in 332 s, the build on one thread)
_HNSW_EF_CONSTRUCTION = 40
_RECALL_ROWS = 2000  # rows whose exact neighbours measure an approximate graph's recall


def approximate_knn(Z: np.ndarray, k: int, *, seed: int = 0, task: str = "kNN graph (HNSW)"):
    """Approximate k nearest neighbours with faiss's HNSW index: (indices, distances, recall).

    The index is built with one thread, so the same data give the same graph (faiss inserts in
    parallel otherwise, and the links depend on timing); the search uses every thread. Recall is the
    mean share of each sampled row's exact k nearest that the graph holds, on _RECALL_ROWS rows."""
    import faiss

    Z = np.ascontiguousarray(Z, dtype=np.float32)
    n, d = Z.shape
    if not 1 <= k < n:
        raise InputError(f"k must be between 1 and {n - 1} (the number of other rows); got {k}")
    index = faiss.IndexHNSWFlat(d, _HNSW_M)
    index.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        for a in range(0, n, _SEARCH_ROWS * 4):
            index.add(Z[a : a + _SEARCH_ROWS * 4])
            report(task + ", building", min(a + _SEARCH_ROWS * 4, n), n)
    finally:
        faiss.omp_set_num_threads(threads)
    index.hnsw.efSearch = max(64, 4 * (k + 1))
    idx = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float32)
    for a in range(0, n, _SEARCH_ROWS):
        b = min(a + _SEARCH_ROWS, n)
        sq, ii = index.search(Z[a:b], k + 1)
        own = ii == np.arange(a, b)[:, None]
        keep = np.argsort(own, axis=1, kind="stable")[:, :k]  # drop the row itself (else the last)
        idx[a:b] = np.take_along_axis(ii, keep, 1)
        dist[a:b] = np.sqrt(np.maximum(np.take_along_axis(sq, keep, 1), 0.0))
        report(task, b, n)
    rows = np.sort(np.random.default_rng(seed).choice(n, min(_RECALL_ROWS, n), replace=False))
    flat = faiss.IndexFlatL2(d)
    flat.add(Z)
    _, true = flat.search(Z[rows], k + 1)
    hits = [len(np.intersect1d(t[t != r][:k], idx[r])) for r, t in zip(rows, true, strict=True)]
    return idx, dist, float(np.mean(hits) / k)


def graph_file(metric: str) -> str:
    return f"knn-{metric}.safetensors"


def run_graph(
    run, k: int, metric: str = "euclidean", Z: np.ndarray | None = None, method: str = "auto"
) -> KnnGraph:
    """The run's stored graph if it has at least ``k`` neighbours for these latents (and is exact
    when ``method`` is "exact"), else a new one (with ``k`` neighbours, or more if the stored one
    had more), saved in the run."""
    if method not in GRAPH_METHODS:
        raise InputError(f"graph method must be one of {', '.join(GRAPH_METHODS)}; got {method!r}")
    Z = run.latent_matrix() if Z is None else Z
    digest = latents_digest(Z)
    name = graph_file(metric)
    old = None
    if name in run.config["files"]:
        old = KnnGraph.from_bytes(run.read_file(name), str(run.path / name))
        if old.latents_sha256 == digest and old.k >= k and (old.exact or method != "exact"):
            return old
    graph = KnnGraph.compute(
        Z, max(k, old.k if old is not None and old.latents_sha256 == digest else 0), metric, method
    )
    run.write_file(name, graph.to_bytes())
    return graph
