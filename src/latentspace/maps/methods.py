"""2-D / 3-D maps of a latent space: PCA (scikit-learn), t-SNE (openTSNE), UMAP (umap-learn).

t-SNE and UMAP take their neighbours from the shared exact kNN graph (``graph.py``) instead of
searching again. UMAP's layout is optimised by ``layout.py`` on every core with the same result
for the same seed (umap-learn's own, single-threaded when seeded, stays as ``layout="umap-learn"``).
New points go onto an existing map through each method's own out-of-sample rule:
PCA exactly, openTSNE's ``TSNEEmbedding.transform`` (the reference embedding fixed), and for UMAP
umap-learn's transform procedure (fuzzy memberships to the new points' neighbours, initialised at
their weighted mean, optimised against the fixed reference) built from its public functions, so a
map loaded from disk transforms exactly as a freshly fitted one. A map position goes back to a
latent vector through PCA's linear inverse, or for t-SNE and UMAP through a neighbour-weighted mean
of the latents of the nearest map points.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field

import numpy as np

from ..data.validate import check_array
from ..errors import InputError
from ..models.params import Int, OneOf, Real
from ..progress import report
from .graph import KnnGraph, exact_knn, prepare

METHODS = ("pca", "tsne", "umap")

# typed parameters per method, (default, rule): the defaults are the libraries' own
PARAMS = {
    "pca": {},
    "tsne": {
        "perplexity": (30.0, Real(1.0, 500.0)),
        "early_exaggeration": (12.0, Real(1.0, 100.0)),
        "early_exaggeration_iter": (250, Int(0, 100_000)),
        "n_iter": (500, Int(1, 100_000)),
        "metric": ("euclidean", OneOf("euclidean", "cosine")),
    },
    "umap": {
        "n_neighbors": (15, Int(2, 500)),
        "min_dist": (0.1, Real(0.0, 10.0)),
        "spread": (1.0, Real(1e-3, 100.0)),
        "n_epochs": (0, Int(0, 100_000)),  # 0: umap-learn's default (200, or 500 below 10,000 points)
        "negative_sample_rate": (5, Int(1, 100)),
        "metric": ("euclidean", OneOf("euclidean", "cosine")),
        # auto: umap-learn's spectral initialisation below SPECTRAL_MAX rows, PCA of the latents from
        # there (ARPACK on a million-node graph Laplacian ran 18+ minutes without finishing)
        "init": ("auto", OneOf("auto", "spectral", "pca", "random")),
        # parallel: our seeded layout on every core (layout.py); umap-learn: its own, one thread
        "layout": ("parallel", OneOf("parallel", "umap-learn")),
    },
}
SPECTRAL_MAX = 200_000  # rows up to which init="auto" means umap-learn's spectral initialisation


def check_params(method: str, params: dict) -> dict:
    """Defaults filled in and every value checked, naming the parameter and its allowed values."""
    if method not in METHODS:
        raise InputError(f"map method must be one of {', '.join(METHODS)}; got {method!r}")
    rules = PARAMS[method]
    unknown = sorted(set(params) - set(rules))
    if unknown:
        allowed = ", ".join(rules) or "none"
        raise InputError(f"{method} maps take no parameter {unknown[0]!r}; allowed: {allowed}")
    out = {}
    for name, (default, rule) in rules.items():
        value = params.get(name, default)
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        problem = rule.check(value)
        if problem:
            raise InputError(f"{method} parameter {name} must be {problem}; got {value!r}")
        out[name] = value
    return out


def graph_k(method: str, params: dict, n: int) -> int:
    """How many neighbours per point the method takes from the shared graph."""
    if method == "tsne":
        return min(n - 1, int(3 * params["perplexity"]))
    if method == "umap":
        return min(n - 1, params["n_neighbors"] - 1)  # umap counts the point itself
    return 0


def _threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@functools.cache
def _graph_index_class():
    """openTSNE's KNNIndex over the shared graph (``build``) and faiss (``query``, for new points);
    defined on first use so that importing this module does not import openTSNE."""
    from openTSNE.nearest_neighbors import KNNIndex

    from ..ops.neighbours import knn

    class GraphIndex(KNNIndex):
        VALID_METRICS = ["euclidean"]

        def __init__(self, data, graph, k):
            super().__init__(data, k)
            self.graph = graph

        def build(self):
            idx, dist = self.graph.first(self.k)
            return idx, dist.astype(np.float64)

        def query(self, query, k):
            return knn(self.data, query, k)

    return GraphIndex


def _GraphIndex(data, graph, k):  # noqa: N802 - reads like the class it makes
    return _graph_index_class()(data, graph, k)


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

    # --- placing new latents -----------------------------------------------------------------
    def transform(self, Znew) -> np.ndarray:
        """Positions of new latents on this map (the existing points stay where they are)."""
        Znew = check_array(Znew, name="latents", n_features=self.Z.shape[1])
        if self.method == "pca":
            return ((Znew - self.state["mean"]) @ self.state["components"].T).astype(np.float32)
        if self.method == "tsne":
            return self._tsne_transform(Znew)
        return self._umap_transform(Znew)

    def _tsne_transform(self, Znew):
        from openTSNE import TSNEEmbedding
        from openTSNE.affinity import PerplexityBasedNN

        P = prepare(self.Z, self.params["metric"])
        k = graph_k("tsne", self.params, len(self.Z))
        aff = PerplexityBasedNN(
            perplexity=min(self.params["perplexity"], k / 3),
            knn_index=_GraphIndex(P, self.graph, k),
            n_jobs=_threads(),
        )
        ref = TSNEEmbedding(
            self.embedding.astype(np.float64),
            aff,
            random_state=self.seed,
            n_jobs=_threads(),
            negative_gradient_method="auto" if self.dims <= 2 else "bh",
        )
        # openTSNE's transform first centres the reference (in place, on its copy): undo that shift
        shift = (self.embedding.max(0).astype(np.float64) + self.embedding.min(0)) / 2
        out = ref.transform(prepare(Znew, self.params["metric"]))
        return (np.asarray(out, dtype=np.float64) + shift).astype(np.float32)

    def _umap_transform(self, Znew):
        import scipy.sparse
        from umap.layouts import optimize_layout_euclidean
        from umap.umap_ import (
            compute_membership_strengths,
            find_ab_params,
            init_graph_transform,
            make_epochs_per_sample,
            smooth_knn_dist,
        )

        from ..ops.neighbours import knn

        p = self.params
        nn = min(p["n_neighbors"], len(self.Z))
        indices, dists = knn(prepare(self.Z, p["metric"]), prepare(Znew, p["metric"]), nn)
        dists = dists.astype(np.float32)
        sigmas, rhos = smooth_knn_dist(dists, float(nn), local_connectivity=0.0)
        rows, cols, vals, _ = compute_membership_strengths(
            indices.astype(np.int32), dists, sigmas, rhos, bipartite=True
        )
        g = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(len(Znew), len(self.Z)))
        csr = g.tocsr()
        csr.eliminate_zeros()
        emb = init_graph_transform(csr, self.embedding).astype(np.float32)
        n_epochs = (100 if len(Znew) <= 10_000 else 30) if not p["n_epochs"] else max(1, p["n_epochs"] // 3)
        g.data[g.data < g.data.max() / float(n_epochs)] = 0.0
        g.eliminate_zeros()
        a, b = find_ab_params(p["spread"], p["min_dist"])
        rng = np.random.RandomState(self.seed).randint(-(2**31) + 1, 2**31 - 1, 3).astype(np.int64)
        return optimize_layout_euclidean(
            emb,
            self.embedding.astype(np.float32, copy=True),
            g.row,
            g.col,
            n_epochs,
            g.shape[1],
            make_epochs_per_sample(g.data, n_epochs),
            a,
            b,
            rng,
            1.0,
            1.0,
            float(p["negative_sample_rate"]),
            move_other=False,
        ).astype(np.float32)

    # --- from the map back to the latent space -----------------------------------------------
    def inverse(self, points, k: int = 8) -> np.ndarray:
        """Latent vectors for map positions: PCA's linear inverse (the latent on the map's plane),
        else a Gaussian-weighted mean of the latents of the ``k`` nearest map points (bandwidth:
        the distance to the nearest of them, at least a tenth of the mean neighbour spacing)."""
        points = check_array(points, name="map points", n_features=self.dims)
        if self.method == "pca":
            return (points @ self.state["components"] + self.state["mean"]).astype(np.float32)
        from ..ops.neighbours import knn

        k = min(int(k), len(self.Z))
        idx, dist = knn(self.embedding, points, k)
        spacing = self._spacing()
        h = np.maximum(dist[:, :1], 0.1 * spacing)
        w = np.exp(-0.5 * (dist / h) ** 2)
        w /= w.sum(1, keepdims=True)
        return np.einsum("qk,qkd->qd", w, self.Z[idx]).astype(np.float32)

    def _spacing(self) -> float:
        if "spacing" not in self.state:
            from ..ops.neighbours import knn

            rng = np.random.default_rng(0)
            probe = self.embedding[
                rng.choice(len(self.embedding), min(1000, len(self.embedding)), replace=False)
            ]
            _, d = knn(self.embedding, probe, 2)
            self.state["spacing"] = float(np.mean(d[:, 1])) or 1.0
        return self.state["spacing"]


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
    if method == "pca" and Z.shape[1] < dims:
        raise InputError(
            f"a {dims}-D PCA map needs latents of at least {dims} dimensions; these have {Z.shape[1]}"
        )
    seed = int(seed)
    t0 = time.perf_counter()
    need = graph_k(method, params, len(Z))
    if need:
        metric = params["metric"]
        if graph is None or graph.k < need or graph.metric != metric or graph.n != len(Z):
            graph = KnnGraph.compute(Z, need, metric)
    m = LatentMap(method, dims, params, seed, np.empty((0, dims), np.float32), Z, graph)
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=dims, random_state=seed).fit(Z)
        m.state = {"mean": pca.mean_.astype(np.float32), "components": pca.components_.astype(np.float32)}
        m.embedding = m.transform(Z)
    elif method == "tsne":
        m.embedding = _fit_tsne(Z, graph, dims, seed, params)
    else:
        m.embedding = _fit_umap(Z, graph, dims, seed, params)
    m.seconds = time.perf_counter() - t0
    return m


def _fit_tsne(Z, graph, dims, seed, params) -> np.ndarray:
    from openTSNE import TSNE
    from openTSNE.affinity import PerplexityBasedNN

    k = graph_k("tsne", params, len(Z))
    P = prepare(Z, params["metric"])
    aff = PerplexityBasedNN(
        perplexity=min(params["perplexity"], k / 3), knn_index=_GraphIndex(P, graph, k), n_jobs=_threads()
    )
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
        n_jobs=_threads(),
        callbacks=_Counter(progress),
        callbacks_every_iters=25,
    )
    return np.asarray(tsne.fit(P, affinities=aff), dtype=np.float32)


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


def _fit_umap(Z, graph, dims, seed, params) -> np.ndarray:
    import warnings

    import umap

    nn = min(params["n_neighbors"], len(Z))
    X = prepare(Z, params["metric"])
    if params["layout"] == "parallel":
        return _umap_parallel(X, graph, nn, dims, seed, params)
    idx, dist = _umap_neighbours(graph, nn)
    model = umap.UMAP(
        n_neighbors=nn,
        n_components=dims,
        min_dist=params["min_dist"],
        spread=params["spread"],
        n_epochs=params["n_epochs"] or None,
        negative_sample_rate=params["negative_sample_rate"],
        init=umap_init(params["init"], len(Z)),
        random_state=seed,
        precomputed_knn=(idx, dist, None),
        transform_mode="embedding",
    )
    with warnings.catch_warnings():  # "n_jobs overridden by random_state": the price of a seed
        warnings.simplefilter("ignore")
        report("UMAP", 0, 1)
        out = model.fit_transform(X)
        report("UMAP", 1, 1)
    return np.asarray(out, dtype=np.float32)


def _umap_neighbours(graph: KnnGraph, nn: int) -> tuple[np.ndarray, np.ndarray]:
    """The graph's first ``nn - 1`` neighbours as umap-learn takes them: each list starts with the
    point itself at distance 0."""
    idx, dist = graph.first(nn - 1)
    n = len(idx)
    idx = np.hstack([np.arange(n)[:, None], idx]).astype(np.int32)
    dist = np.hstack([np.zeros((n, 1), np.float32), dist]).astype(np.float32)
    return idx, dist


def umap_epochs(n_epochs: int, n: int) -> tuple[int, int]:
    """(epochs to run, epochs to prune by): umap-learn's defaults, 500 up to 10,000 points and 200
    above, and its pruning, which uses the default when 10 or fewer epochs are asked for."""
    default = 500 if n <= 10_000 else 200
    epochs = n_epochs or default
    return epochs, epochs if epochs > 10 else default


def umap_graph(X: np.ndarray, graph: KnnGraph, nn: int, n_epochs: int = 0):
    """umap-learn's fuzzy graph (scipy COO) of the points ``X`` from ``nn - 1`` neighbours of the
    shared kNN graph, with edges below max weight / epochs pruned as ``UMAP.fit`` prunes them."""
    from umap.umap_ import fuzzy_simplicial_set

    idx, dist = _umap_neighbours(graph, nn)
    rs = np.random.RandomState(0)  # for umap-learn's neighbour search, which given lists skip
    g, _, _ = fuzzy_simplicial_set(X, nn, rs, "euclidean", knn_indices=idx, knn_dists=dist)
    g = g.tocoo()
    g.sum_duplicates()
    prune = umap_epochs(n_epochs, len(X))[1]
    g.data[g.data < g.data.max() / float(prune)] = 0.0
    g.eliminate_zeros()
    return g


def _umap_parallel(X, graph, nn, dims, seed, params) -> np.ndarray:
    """umap-learn's fuzzy graph, (a, b) curve and initialisation (as ``UMAP.fit`` makes them), then
    the seeded parallel layout of ``layout.py``."""
    from sklearn.decomposition import PCA
    from umap.spectral import spectral_layout
    from umap.umap_ import find_ab_params, noisy_scale_coords

    from .layout import ROUNDS, optimize_layout

    n = len(X)
    rs = np.random.RandomState(seed)
    report("UMAP graph", 0, 1)
    g = umap_graph(X, graph, nn, params["n_epochs"])
    n_epochs = umap_epochs(params["n_epochs"], n)[0]
    init = umap_init(params["init"], n)
    report("UMAP graph", 1, 1)
    if init == "random":
        y = rs.uniform(-10.0, 10.0, size=(n, dims)).astype(np.float32)
    else:
        if init == "spectral":
            y = spectral_layout(X, g, dims, rs, metric="euclidean")
        else:
            y = PCA(n_components=dims, random_state=seed).fit_transform(X)
        y = noisy_scale_coords(np.asarray(y, np.float32), rs, max_coord=10, noise=0.0001)
    lo, hi = y.min(0), y.max(0)
    y = (10.0 * (y - lo) / np.where(hi > lo, hi - lo, 1.0)).astype(np.float32)
    a, b = find_ab_params(params["spread"], params["min_dist"])
    rate = float(params["negative_sample_rate"])
    rounds = 1 if init == "spectral" else ROUNDS  # from an unorganised start: see layout.ROUNDS
    return optimize_layout(
        y, g, n_epochs, a, b, seed, negative_sample_rate=rate, threads=_threads(), rounds=rounds
    )


def umap_init(init: str, n: int) -> str:
    """umap-learn's ``init`` for ``n`` rows: "auto" is "spectral" below SPECTRAL_MAX rows, else "pca"."""
    if init != "auto":
        return init
    return "spectral" if n < SPECTRAL_MAX else "pca"


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
