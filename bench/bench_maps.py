"""Maps on MNIST latents: `latentspace map` against openTSNE / umap-learn called directly on the
same array, and map + neighbourhood metrics through the shared kNN graph against computing each
separately.

Usage: .venv/bin/python bench/bench_maps.py [--n 70000] [--methods umap,tsne]

Latents: a 16-d PCA of MNIST (all 70,000 images by default). Each measurement runs in a fresh
process, one after the other, so they never share the CPU.

(1) overhead: ours = `fit_map` (the shared exact faiss graph + the library's optimiser) vs direct =
    `openTSNE.TSNE(random_state=0).fit(Z)` / `umap.UMAP(random_state=0).fit_transform(Z)` with
    their own neighbour search; ratio ours / direct (target <= 1.05).
(2) shared graph: ours = one graph, used by the UMAP map and by the neighbourhood metrics of the
    map against the latents (trustworthiness, continuity, kNN preservation at k = 10); separate =
    umap-learn with its own search, then the metrics computing their own neighbours; target <= 0.7.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import header, in_fresh_process  # noqa: E402


def _latents(n: int):
    import latentspace as ls

    X = ls.load_data("mnist").X[:n]
    return ls.PCA(16, random_state=0).fit(X).encode(X)


def ours_map(n: int, method: str):
    import time
    import warnings

    warnings.simplefilter("ignore")
    from latentspace.maps import fit_map

    Z = _latents(n)
    t0 = time.perf_counter()
    m = fit_map(Z, method, 2, seed=0)
    return time.perf_counter() - t0, m.embedding.shape


def direct_map(n: int, method: str):
    import time
    import warnings

    warnings.simplefilter("ignore")
    Z = _latents(n)
    t0 = time.perf_counter()
    if method == "tsne":
        import os

        import openTSNE

        emb = openTSNE.TSNE(random_state=0, n_jobs=len(os.sched_getaffinity(0))).fit(Z)
    else:
        import umap

        emb = umap.UMAP(random_state=0).fit_transform(Z)
    return time.perf_counter() - t0, emb.shape


def shared(n: int):
    import time
    import warnings

    warnings.simplefilter("ignore")
    from latentspace.knn import KnnGraph
    from latentspace.maps import fit_map
    from latentspace.metrics.neighbourhood import neighbourhood_scores

    Z = _latents(n)
    t0 = time.perf_counter()
    g = KnnGraph.compute(Z, 14)
    m = fit_map(Z, "umap", 2, seed=0, graph=g)
    s = neighbourhood_scores(Z, m.embedding, 10, knn_X=g.first(10)[0])
    return time.perf_counter() - t0, s["trustworthiness"]


def separate(n: int):
    import time
    import warnings

    warnings.simplefilter("ignore")
    import umap

    from latentspace.metrics.neighbourhood import neighbourhood_scores

    Z = _latents(n)
    t0 = time.perf_counter()
    emb = umap.UMAP(random_state=0).fit_transform(Z)
    s = neighbourhood_scores(Z, emb, 10)
    return time.perf_counter() - t0, s["trustworthiness"]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=70_000)
    p.add_argument("--methods", default="umap,tsne")
    a = p.parse_args()
    from importlib.metadata import version

    header(
        "Maps: latentspace vs openTSNE / umap-learn called directly",
        {k: version(k) for k in ("latentspace", "openTSNE", "umap-learn", "faiss-cpu", "numba")},
    )
    ok = True
    for method in [m for m in a.methods.split(",") if m]:  # --methods "" runs only part (2)
        direct_map(2000, method)  # warm numba caches outside the timing
        ours_map(2000, method)
        t_dir, _ = in_fresh_process(direct_map, a.n, method)[1]
        t_our, _ = in_fresh_process(ours_map, a.n, method)[1]
        r = t_our / t_dir
        ok &= r <= 1.05
        print(
            f"{method:5} n={a.n:,}: ours {t_our:7.1f} s, direct {t_dir:7.1f} s,"
            f" ratio {r:.3f} (target <= 1.05)",
            flush=True,
        )
    t_sep, tr_sep = in_fresh_process(separate, a.n)[1]
    t_sh, tr_sh = in_fresh_process(shared, a.n)[1]
    r = t_sh / t_sep
    ok &= r <= 0.7
    print(
        f"UMAP map + neighbourhood metrics, n={a.n:,}: shared graph {t_sh:.1f} s"
        f" (trustworthiness {tr_sh:.4f}),"
        f" separate {t_sep:.1f} s ({tr_sep:.4f}), ratio {r:.3f} (target <= 0.7)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
