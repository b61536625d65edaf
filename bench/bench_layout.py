"""UMAP's layout optimisation alone: ours (`latentspace.maps.layout.optimize_layout`, every core,
seeded) against umap-learn's `optimize_layout_euclidean` (one thread, as umap-learn runs it when a
seed is set), on the same fuzzy graph and the same initialisation, with the quality of both maps.

Usage: .venv/bin/python bench/bench_layout.py [--n 70000] [--epochs 200]

Latents: a 16-d PCA of the first n MNIST images; graph: the exact 15-NN graph through umap-learn's
`fuzzy_simplicial_set`, pruned as umap-learn prunes it (`latentspace.maps.umap.umap_graph`);
initialisation: the latents' 2-D PCA scaled to [0, 10], as umap-learn's "pca" init ends (ours then
runs `layout.ROUNDS` rounds per epoch, as `fit_map` does from a PCA start). Each
layout runs once after a compilation run on a small graph; ratio ours / umap-learn (lower is
better). Quality: trustworthiness, continuity and 10-NN label accuracy of each map against the
latents (map_quality, exact).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import header  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=70_000)
    p.add_argument("--epochs", type=int, default=200)
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")

    import numba
    import numpy as np
    from sklearn.decomposition import PCA
    from umap.layouts import optimize_layout_euclidean
    from umap.umap_ import find_ab_params, make_epochs_per_sample

    import latentspace as ls
    from latentspace.knn import KnnGraph
    from latentspace.maps import LatentMap, map_quality
    from latentspace.maps.layout import ROUNDS, optimize_layout
    from latentspace.maps.umap import umap_graph

    header("UMAP layout: ours vs umap-learn", {"latentspace": ls.__version__, "numba": numba.__version__})
    d = ls.load_data("mnist")
    X, y = d.X[: args.n], np.asarray(d.y[: args.n])
    Z = ls.PCA(16, random_state=0).fit(X).encode(X)
    n, ne = len(Z), args.epochs
    graph = KnnGraph.compute(Z, 14)
    g = umap_graph(Z, graph, 15, n_epochs=ne)
    init = PCA(2, random_state=0).fit_transform(Z)
    init = (10 * (init - init.min(0)) / (init.max(0) - init.min(0))).astype(np.float32)
    a, b = find_ab_params(1.0, 0.1)
    threads = numba.config.NUMBA_NUM_THREADS
    print(f"n = {n:,}, edges {g.nnz:,}, {ne} epochs, {threads} threads\n")

    def theirs(emb, G, epochs):
        rng = np.random.RandomState(0).randint(-(2**31) + 1, 2**31 - 1, 3).astype(np.int64)
        numba.set_num_threads(1)
        try:
            return optimize_layout_euclidean(
                emb.copy(), emb.copy(), G.row, G.col, epochs, G.shape[1],
                make_epochs_per_sample(G.data, epochs), a, b, rng, 1.0, 1.0, 5.0,
                parallel=False, move_other=True,
            )  # fmt: skip
        finally:
            numba.set_num_threads(threads)

    small = g.tocsr()[:2000, :2000].tocoo()  # compile both before timing
    optimize_layout(init[:2000], small, 2, a, b, seed=0)
    theirs(init[:2000], small, 2)
    out = {}
    for name, fn in (
        # PCA initialisation: several rounds per epoch, as fit_map runs it (layout.ROUNDS)
        ("ours", lambda: optimize_layout(init, g, ne, a, b, seed=0, threads=threads, rounds=ROUNDS)),
        ("umap-learn", lambda: theirs(init, g, ne)),
    ):
        t = time.perf_counter()
        emb = fn()
        secs = time.perf_counter() - t
        m = LatentMap("umap", 2, {"metric": "euclidean"}, 0, np.asarray(emb, np.float32), Z, graph)
        q = map_quality(m, y, sample=None)
        out[name] = secs
        print(
            f"{name:10} {secs:7.1f} s   T {q['trustworthiness']:.4f}  continuity {q['continuity']:.4f}"
            f"  10-NN accuracy {q['knn_accuracy_map']:.4f}"
        )
    print(f"\nratio ours / umap-learn (time): {out['ours'] / out['umap-learn']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
