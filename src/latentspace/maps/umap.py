"""``umap``: UMAP on the neighbours of the shared kNN graph.

umap-learn's fuzzy graph, (a, b) curve and initialisation, as ``UMAP.fit`` makes them, then our
seeded layout on every core (``layout.py``); ``layout="umap-learn"`` runs umap-learn's own layout
(one thread when seeded). New points go onto the map by umap-learn's transform procedure (fuzzy
memberships to the new points' neighbours, initialised at their weighted mean, optimised against the
fixed reference) built from its public functions, so a map loaded from disk transforms exactly as a
freshly fitted one.
"""

from __future__ import annotations

import numpy as np

from ..knn import KnnGraph, prepare
from ..models.params import Int, OneOf, Real
from ..progress import report
from .registry import MapMethod, register, threads

SPECTRAL_MAX = 200_000  # rows up to which init="auto" means umap-learn's spectral initialisation


@register
class UMAPMap(MapMethod):
    name = "umap"
    title = "UMAP"
    params = {
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
    }

    def graph_k(self, params, n):
        return min(n - 1, params["n_neighbors"] - 1)  # umap counts the point itself

    def fit(self, Z, graph, dims, seed, params):
        nn = min(params["n_neighbors"], len(Z))
        X = prepare(Z, params["metric"])
        if params["layout"] == "parallel":
            return _layout_parallel(X, graph, nn, dims, seed, params), {}
        return _layout_umap_learn(X, graph, nn, dims, seed, params), {}

    def transform(self, m, Znew):
        import scipy.sparse
        from umap.layouts import optimize_layout_euclidean
        from umap.umap_ import (
            compute_membership_strengths,
            find_ab_params,
            init_graph_transform,
            make_epochs_per_sample,
            smooth_knn_dist,
        )

        from ..knn import nearest

        p = m.params
        nn = min(p["n_neighbors"], len(m.Z))
        indices, dists = nearest(prepare(m.Z, p["metric"]), prepare(Znew, p["metric"]), nn)
        dists = dists.astype(np.float32)
        sigmas, rhos = smooth_knn_dist(dists, float(nn), local_connectivity=0.0)
        rows, cols, vals, _ = compute_membership_strengths(
            indices.astype(np.int32), dists, sigmas, rhos, bipartite=True
        )
        g = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(len(Znew), len(m.Z)))
        csr = g.tocsr()
        csr.eliminate_zeros()
        emb = init_graph_transform(csr, m.embedding).astype(np.float32)
        n_epochs = (100 if len(Znew) <= 10_000 else 30) if not p["n_epochs"] else max(1, p["n_epochs"] // 3)
        g.data[g.data < g.data.max() / float(n_epochs)] = 0.0
        g.eliminate_zeros()
        a, b = find_ab_params(p["spread"], p["min_dist"])
        rng = np.random.RandomState(m.seed).randint(-(2**31) + 1, 2**31 - 1, 3).astype(np.int64)
        return optimize_layout_euclidean(
            emb,
            m.embedding.astype(np.float32, copy=True),
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


def _layout_umap_learn(X, graph, nn, dims, seed, params) -> np.ndarray:
    """umap-learn's ``UMAP.fit_transform`` on the shared graph's neighbours."""
    import warnings

    import umap

    idx, dist = _umap_neighbours(graph, nn)
    model = umap.UMAP(
        n_neighbors=nn,
        n_components=dims,
        min_dist=params["min_dist"],
        spread=params["spread"],
        n_epochs=params["n_epochs"] or None,
        negative_sample_rate=params["negative_sample_rate"],
        init=umap_init(params["init"], len(X)),
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


def _layout_parallel(X, graph, nn, dims, seed, params) -> np.ndarray:
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
        y, g, n_epochs, a, b, seed, negative_sample_rate=rate, threads=threads(), rounds=rounds
    )


def umap_init(init: str, n: int) -> str:
    """umap-learn's ``init`` for ``n`` rows: "auto" is "spectral" below SPECTRAL_MAX rows, else "pca"."""
    if init != "auto":
        return init
    return "spectral" if n < SPECTRAL_MAX else "pca"
