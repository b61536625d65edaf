"""The run's kNN graph of its latents: computed once, shared by t-SNE, UMAP and the neighbourhood
metrics, stored in the run as ``knn-<metric>.safetensors``.

A graph is exact (:class:`~latentspace.knn.exact.ExactIndex`) unless it was asked to be approximate
or the latents have ``APPROX_FROM`` rows or more (then HNSW, :class:`~latentspace.knn.hnsw.HNSWIndex`,
with its measured recall stored beside it); ``KnnGraph.exact`` says which.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

import numpy as np

from ..data.validate import check_array
from ..errors import InputError, RunIntegrityError
from .blocked import TREE_MAX_DIM
from .index import KNNIndex

log = logging.getLogger(__name__)
LOW_RECALL = 0.9  # an approximate graph below this is said to be so when it is made

GRAPH_METHODS = ("auto", "exact", "hnsw")
APPROX_FROM = 200_000  # rows from which "auto" builds an approximate (HNSW) graph


def make_index(method: str, n: int, d: int, metric: str = "euclidean") -> KNNIndex:
    """An unbuilt index for ``n`` rows of ``d`` dimensions: ``method`` "exact", "hnsw"
    (approximate), or "auto": exact below APPROX_FROM rows (or up to 4 dimensions), else HNSW."""
    from .exact import ExactIndex
    from .hnsw import HNSWIndex

    if method not in GRAPH_METHODS:
        raise InputError(f"graph method must be one of {', '.join(GRAPH_METHODS)}; got {method!r}")
    if method == "auto":
        # up to TREE_MAX_DIM dimensions a k-d tree is fast at any size: exact
        method = "hnsw" if n >= APPROX_FROM and d > TREE_MAX_DIM else "exact"
    return ExactIndex(metric) if method == "exact" else HNSWIndex(metric)


def latents_digest(Z: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(Z, dtype=np.float32).tobytes()).hexdigest()


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
        """``method``: "exact", "hnsw" (approximate, faiss), or "auto" (see :func:`make_index`)."""
        Z = check_array(Z, name="latents", min_rows=2)
        index = make_index(method, len(Z), Z.shape[1], metric)
        idx, dist = index.build(Z).neighbours(int(k))
        recall = getattr(index, "recall_", None)
        if recall is not None and recall < LOW_RECALL:
            log.warning(
                "the approximate kNN graph found %.0f%% of the true %d nearest neighbours (recall %.3f):"
                " maps and scores built on it are approximate; `--graph exact` is exact but slower",
                100 * recall,
                k,
                recall,
            )
        return cls(idx, dist, metric, latents_digest(Z), index.name, recall)

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

    def check(self, n: int, metric: str, where) -> KnnGraph:
        """This graph, if it can be the ``metric`` graph of ``n`` latents: one row per latent, row
        numbers in range, finite distances (a stored graph is untrusted input)."""
        problem = None
        if self.n != n:
            problem = f"it has {self.n:,} rows; the run has {n:,} latents"
        elif self.metric != metric:
            problem = f"it is a {self.metric!r} graph, stored as {metric!r}"
        elif self.indices.dtype.kind not in "iu" or (
            self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n)
        ):
            problem = f"its indices must be row numbers 0..{n - 1}"
        elif self.distances.dtype.kind != "f" or not np.all(np.isfinite(self.distances)):
            problem = "its distances must be finite numbers"
        if problem:
            raise RunIntegrityError(f"{where} is not a valid kNN graph of the run's latents: {problem}")
        return self


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
        if old.latents_sha256 == digest:
            old.check(len(Z), metric, run.path / name)
            if old.k >= k and (old.exact or method != "exact"):
                return old
    graph = KnnGraph.compute(
        Z, max(k, old.k if old is not None and old.latents_sha256 == digest else 0), metric, method
    )
    run.write_file(name, graph.to_bytes())
    return graph
