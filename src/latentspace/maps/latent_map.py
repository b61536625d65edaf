"""A fitted 2-D / 3-D map of a latent space and how faithful it is.

:func:`fit_map` fits any registered method (``registry.py``: PCA, t-SNE, UMAP) on the latents, taking
the neighbours t-SNE and UMAP need from the shared kNN graph instead of searching again. The
:class:`LatentMap` it returns places new latents on the map (``transform``: each method's own
out-of-sample rule) and takes map positions back to latents (``inverse``). :func:`map_quality`
measures the map against the latents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..data.validate import check_array
from ..errors import InputError
from ..knn import KnnGraph, exact_knn
from .registry import check_params, get_method


@dataclass
class LatentMap:
    """A fitted map of latents ``Z``: ``embedding[i]`` is where latent ``Z[i]`` lies."""

    method: str
    dims: int
    params: dict
    seed: int
    embedding: np.ndarray  # (n, dims) float32
    Z: np.ndarray  # (n, latent_dim) float32, the latents the map was fitted on
    graph: KnnGraph | None = None
    state: dict = field(default_factory=dict)  # PCA: mean, components
    quality: dict = field(default_factory=dict)
    seconds: float = 0.0

    # --- placing new latents and going back -------------------------------------------------
    def transform(self, Znew) -> np.ndarray:
        """Positions of new latents on this map (the existing points stay where they are)."""
        Znew = check_array(Znew, name="latents", n_features=self.Z.shape[1])
        return get_method(self.method).transform(self, Znew)

    def inverse(self, points, k: int = 8) -> np.ndarray:
        """Latent vectors for map positions (PCA: the latent on the map's plane; t-SNE and UMAP: a
        neighbour-weighted mean of the latents of the nearest map points)."""
        points = check_array(points, name="map points", n_features=self.dims)
        return get_method(self.method).inverse(self, points, k)


def fit_map(
    Z,
    method: str = "umap",
    dims: int = 2,
    seed: int = 0,
    graph: KnnGraph | None = None,
    **params,
) -> LatentMap:
    """Fit a ``dims``-D map of latents ``Z``; ``graph`` (at least as many neighbours as the method
    uses) is reused if given, else computed."""
    import time

    Z = check_array(Z, name="latents", min_rows=3)
    params = check_params(method, params)
    if dims not in (2, 3):
        raise InputError(f"dims must be 2 or 3; got {dims}")
    spec = get_method(method)
    spec.check(Z, dims)
    seed = int(seed)
    t0 = time.perf_counter()
    need = spec.graph_k(params, len(Z))
    if need:
        metric = params["metric"]
        if graph is None or graph.k < need or graph.metric != metric or graph.n != len(Z):
            graph = KnnGraph.compute(Z, need, metric)
    embedding, state = spec.fit(Z, graph, dims, seed, params)
    m = LatentMap(method, dims, params, seed, embedding, Z, graph, state)
    m.seconds = time.perf_counter() - t0
    return m


def map_quality(m: LatentMap, labels=None, k: int = 10, sample: int | str | None = "auto") -> dict:
    """How faithful the map is to the latents: trustworthiness, continuity and kNN preservation at
    ``k`` (the latents' neighbours from the shared graph when it is exact and has enough), and the
    leave-one-out kNN label accuracy on the map and, for reference, in the latent space.

    ``sample``: "auto" scores every row up to SAMPLE_FROM rows and SAMPLE_ROWS random query rows
    beyond (each against all points, with 95% intervals; the output says which), an int asks for
    that many, None for all."""
    from ..metrics.neighbourhood import auto_sample, neighbourhood_scores

    n = len(m.Z)
    k = min(int(k), math.ceil(n / 2) - 1)
    if k < 1:
        return {}
    sample = auto_sample(n) if sample == "auto" else sample
    g = m.graph
    usable = g is not None and g.k >= k and g.metric == "euclidean"
    if not usable and sample is None:
        g, usable = KnnGraph.compute(m.Z, k, method="exact"), True
    exact_graph = usable and g.exact
    out = neighbourhood_scores(
        m.Z, m.embedding, k, knn_X=g.first(k)[0] if exact_graph else None, sample=sample, seed=m.seed
    )
    out.setdefault("estimate", "exact")
    if usable:
        out["graph"] = g.method
        if g.recall is not None:
            out["graph_recall"] = g.recall
    if labels is not None:
        y = np.asarray(labels)
        out["knn_accuracy_map"] = _vote_accuracy(exact_knn(m.embedding, k, task="map neighbours")[0], y)
        if usable:  # from the shared graph (approximate when the graph is)
            out["knn_accuracy_latent"] = _vote_accuracy(g.first(k)[0], y)
    return out


def _vote_accuracy(nbrs: np.ndarray, y: np.ndarray) -> float:
    """Majority vote of the neighbours' labels (ties: the label of the nearest among the tied)."""
    codes, yi = np.unique(y, return_inverse=True)
    votes = yi[nbrs]  # (n, k)
    counts = np.zeros((len(y), len(codes)), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(len(y)), votes.shape[1]), votes.ravel()), 1)
    best = counts.max(1, keepdims=True)
    tied = counts[np.arange(len(y))[:, None], votes] == best  # neighbours whose label is a winner
    pred = votes[np.arange(len(y)), np.argmax(tied, 1)]
    return float(np.mean(pred == yi))
