"""``tsne``: openTSNE's t-SNE on the neighbours of the shared kNN graph.

openTSNE searches for neighbours itself unless given an index: :func:`_graph_index` hands it the
run's graph (``build``) and an exact search for new points (``query``), so the graph is computed once
per run. New points go onto the map by openTSNE's ``TSNEEmbedding.transform`` (the reference
embedding fixed).
"""

from __future__ import annotations

import functools

import numpy as np

from ..knn import prepare
from ..models.params import Int, OneOf, Real
from ..progress import report
from .registry import MapMethod, register, threads


@register
class TSNEMap(MapMethod):
    name = "tsne"
    title = "t-SNE"
    params = {
        "perplexity": (30.0, Real(1.0, 500.0)),
        "early_exaggeration": (12.0, Real(1.0, 100.0)),
        "early_exaggeration_iter": (250, Int(0, 100_000)),
        "n_iter": (500, Int(1, 100_000)),
        "metric": ("euclidean", OneOf("euclidean", "cosine")),
    }

    def graph_k(self, params, n):
        return min(n - 1, int(3 * params["perplexity"]))

    def _affinities(self, P, graph, params):
        from openTSNE.affinity import PerplexityBasedNN

        k = self.graph_k(params, len(P))
        return PerplexityBasedNN(
            perplexity=min(params["perplexity"], k / 3),
            knn_index=_graph_index_class()(P, graph, k),
            n_jobs=threads(),
        )

    def fit(self, Z, graph, dims, seed, params):
        from openTSNE import TSNE

        P = prepare(Z, params["metric"])
        total = params["early_exaggeration_iter"] + params["n_iter"]

        def progress(iteration, error, embedding):
            report("t-SNE", min(iteration, total), total, f"KL {error:.3f}")

        tsne = TSNE(
            n_components=dims,
            perplexity=params["perplexity"],
            early_exaggeration=params["early_exaggeration"],
            early_exaggeration_iter=params["early_exaggeration_iter"],
            n_iter=params["n_iter"],
            negative_gradient_method="auto" if dims <= 2 else "bh",
            initialization="pca",
            random_state=seed,
            n_jobs=threads(),
            callbacks=_Counter(progress),
            callbacks_every_iters=25,
        )
        return np.asarray(tsne.fit(P, affinities=self._affinities(P, graph, params)), dtype=np.float32), {}

    def transform(self, m, Znew):
        from openTSNE import TSNEEmbedding

        P = prepare(m.Z, m.params["metric"])
        ref = TSNEEmbedding(
            m.embedding.astype(np.float64),
            self._affinities(P, m.graph, m.params),
            random_state=m.seed,
            n_jobs=threads(),
            negative_gradient_method="auto" if m.dims <= 2 else "bh",
        )
        # openTSNE's transform first centres the reference (in place, on its copy): undo that shift
        shift = (m.embedding.max(0).astype(np.float64) + m.embedding.min(0)) / 2
        out = ref.transform(prepare(Znew, m.params["metric"]))
        return (np.asarray(out, dtype=np.float64) + shift).astype(np.float32)


class _Counter:
    """openTSNE restarts the iteration count in each phase; report one running count."""

    def __init__(self, fn):
        self.fn, self.done, self.last = fn, 0, 0

    def __call__(self, iteration, error, embedding):
        if iteration < self.last:
            self.done += self.last
        self.last = iteration
        self.fn(self.done + iteration, error, embedding)
        return False


@functools.cache
def _graph_index_class():
    """openTSNE's KNNIndex over the shared graph (``build``) and exact search (``query``, for new
    points); defined on first use so that importing this module does not import openTSNE."""
    from openTSNE.nearest_neighbors import KNNIndex

    from ..knn import nearest

    class GraphIndex(KNNIndex):
        VALID_METRICS = ["euclidean"]

        def __init__(self, data, graph, k):
            super().__init__(data, k)
            self.graph = graph

        def build(self):
            idx, dist = self.graph.first(self.k)
            return idx, dist.astype(np.float64)

        def query(self, query, k):
            return nearest(self.data, query, k)

    return GraphIndex
