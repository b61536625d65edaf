"""Nearest neighbours, in one place: one index interface with an exact and an approximate search
behind it, and the run's stored kNN graph. ops, maps and metrics all search through here.

- :class:`KNNIndex`: ``build(data)``, ``neighbours(k)`` (each row's k nearest among the others),
  ``query(points, k)``; ``exact`` tells the two kinds apart.
- :class:`ExactIndex`: exact answers, ties to the lower row index (float32 candidates settled in
  float64); :func:`nearest` for a one-off query, :func:`exact_knn` for a whole graph.
- :class:`HNSWIndex`: approximate (faiss HNSW), with its measured ``recall_``.
- :class:`KnnGraph`, :func:`run_graph`: the graph stored in a run as ``knn-<metric>.safetensors``.

This package imports nothing from ``maps``, ``metrics`` or ``ops``: they sit above it.
"""

from .exact import ExactIndex, exact_knn, nearest
from .graph import APPROX_FROM, GRAPH_METHODS, KnnGraph, graph_file, latents_digest, make_index, run_graph
from .hnsw import HNSWIndex
from .index import METRICS, KNNIndex, prepare

__all__ = [
    "APPROX_FROM",
    "GRAPH_METHODS",
    "METRICS",
    "ExactIndex",
    "HNSWIndex",
    "KNNIndex",
    "KnnGraph",
    "exact_knn",
    "graph_file",
    "latents_digest",
    "make_index",
    "nearest",
    "prepare",
    "run_graph",
]
