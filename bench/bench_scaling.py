"""Scaling table: encode, UMAP map and trustworthiness at n = 10k, 100k, 1M (issue 8).

Usage: .venv/bin/python bench/bench_scaling.py [--sizes 10000,100000,1000000] [--work DIR]

Data: MNIST-like rows of 784 uint8 pixels in a memory-mapped .npy file (read through the
out-of-core path, scaled to [0, 1) as read): the 70,000 MNIST digits first, then copies of them
shifted by up to 2 pixels with 5% of pixels flipped (seeded), where MNIST runs out.
Model: one VAE (MLP 784-512-16) trained for 3 epochs on the 60,000 MNIST training digits.
Stages, each in a fresh process: encode (all n rows, 65,536 at a time), map (UMAP 2-D of the
latents; the kNN graph exact below 200,000 rows, HNSW above, its recall printed), and
trustworthiness + continuity of the map against the latents at k = 10 (exact below 200,000 rows,
10,000 sampled query rows above, with the 95% interval). Reported per stage: wall time, peak
anonymous memory (what the process allocated, sampled every 10 ms; the memory map's own pages are
file-backed and not counted), and the log-log slope of time and memory between sizes.
Anchors in the same run, each in a fresh process on the same arrays: umap-learn called directly
(its own NN-descent graph) up to --anchor-map-max rows, and scikit-learn's trustworthiness up to
--anchor-trust-max rows (it builds an n x n distance matrix), with the ratios ours / anchor.
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import header, in_fresh_process  # noqa: E402

MIB = 2**20


def _anon() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("RssAnon:"))


def _measured(fn):
    """(seconds, result, peak anonymous memory growth in bytes) of fn(), sampled every 10 ms."""
    base, peak, done = _anon(), [0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], _anon() - base)
            time.sleep(0.01)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    t0 = time.perf_counter()
    try:
        out = fn()
    finally:
        seconds = time.perf_counter() - t0
        done.set()
        t.join()
    return seconds, out, max(peak[0], _anon() - base)


def make_data(work: Path, n: int) -> Path:
    import numpy as np

    import latentspace as ls

    path = work / f"pixels-{n}.npy"
    if path.exists():
        return path
    mnist = np.round(ls.load_data("mnist").X * 255).astype(np.uint8)
    out = np.lib.format.open_memmap(path.with_suffix(".tmp.npy"), mode="w+", dtype=np.uint8, shape=(n, 784))
    rng = np.random.default_rng(0)
    for a in range(0, n, 70_000):
        b = min(a + 70_000, n)
        block = mnist[: b - a].reshape(-1, 28, 28).copy()
        if a > 0:  # beyond MNIST: shifted copies with flipped pixels
            dy, dx = rng.integers(-2, 3, size=2)
            block = np.roll(block, (int(dy), int(dx)), axis=(1, 2))
            flip = rng.random(block.shape) < 0.05
            block[flip] = 255 - block[flip]
        out[a:b] = block.reshape(-1, 784)
    out.flush()
    del out
    path.with_suffix(".tmp.npy").rename(path)
    return path


def train_model(work: Path) -> Path:
    import latentspace as ls

    run = work / "vae"
    if not run.exists():
        ls.fit("mnist", "vae", latent_dim=16, out=run, epochs=3, arch="mlp", hidden=(512,), seed=0)
    return run


def stage_encode(run: str, pixels: str, out: str):
    import numpy as np

    import latentspace as ls

    model = ls.open_run(run).load_model()
    ds = ls.load_data(pixels)

    def work():
        Z = np.empty((ds.n, 16), dtype=np.float32)
        for a in range(0, ds.n, 65_536):
            Z[a : a + 65_536] = model.encode(ds.X[a : a + 65_536])
        np.save(out, Z)
        return Z.shape

    return _measured(work)


def stage_map(latents: str, out: str):
    import numpy as np

    from latentspace.knn import KnnGraph
    from latentspace.maps import fit_map

    Z = np.load(latents)

    def work():
        g = KnnGraph.compute(Z, 15)
        m = fit_map(Z, "umap", 2, seed=0, graph=g)
        np.save(out, m.embedding)
        return g.method, g.recall

    return _measured(work)


def stage_trust(latents: str, embedding: str):
    import numpy as np

    from latentspace.metrics.neighbourhood import auto_sample, neighbourhood_scores

    Z, E = np.load(latents), np.load(embedding)
    return _measured(lambda: neighbourhood_scores(Z, E, 10, sample=auto_sample(len(Z))))


def anchor_map(latents: str):
    """umap-learn on its own (its NN-descent graph), the same latents and seed."""
    import numpy as np
    import umap

    Z = np.load(latents)
    return _measured(lambda: umap.UMAP(random_state=0).fit_transform(Z).shape)


def anchor_trust(latents: str, embedding: str):
    """scikit-learn's trustworthiness (an n x n distance matrix: only small n)."""
    import numpy as np
    from sklearn.manifold import trustworthiness

    Z, E = np.load(latents), np.load(embedding)
    return _measured(lambda: trustworthiness(Z.astype(np.float64), E.astype(np.float64), n_neighbors=10))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--work", default="/tmp/latentspace-scaling")
    p.add_argument("--anchor-map-max", type=int, default=100_000, help="umap-learn direct up to this n")
    p.add_argument("--anchor-trust-max", type=int, default=10_000, help="scikit-learn up to this n")
    a = p.parse_args()
    from importlib.metadata import version

    header(
        "Scaling: encode, UMAP map, trustworthiness",
        {k: version(k) for k in ("latentspace", "torch", "umap-learn", "faiss-cpu")},
    )
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in a.sizes.split(",")]
    run = train_model(work)
    rows = []
    for n in sizes:
        pixels = make_data(work, n)
        Zf, Ef = str(work / f"Z-{n}.npy"), str(work / f"E-{n}.npy")
        enc = in_fresh_process(stage_encode, str(run), str(pixels), Zf)[1]
        mp_ = in_fresh_process(stage_map, Zf, Ef)[1]
        tr = in_fresh_process(stage_trust, Zf, Ef)[1]
        total = enc[0] + mp_[0] + tr[0]
        scores = tr[1]
        ci = scores.get("trustworthiness_ci")
        print(
            f"n={n:>9,}: encode {enc[0]:7.1f} s {enc[2] / MIB:7.0f} MiB | map {mp_[0]:7.1f} s"
            f" {mp_[2] / MIB:7.0f} MiB (graph {mp_[1][0]}, recall {mp_[1][1]}) | trust {tr[0]:7.1f} s"
            f" {tr[2] / MIB:7.0f} MiB T={scores['trustworthiness']:.4f}"
            + (f" [{ci[0]:.4f}, {ci[1]:.4f}] sampled" if ci else " exact")
            + f" | end to end {total / 60:.1f} min",
            flush=True,
        )
        rows.append((n, enc, mp_, tr))
        if n <= a.anchor_map_max:
            um = in_fresh_process(anchor_map, Zf)[1]
            print(
                f"   anchor umap-learn direct: {um[0]:7.1f} s {um[2] / MIB:7.0f} MiB -> map time ratio"
                f" {mp_[0] / um[0]:.3f}, memory ratio {max(mp_[2], MIB) / max(um[2], MIB):.3f}",
                flush=True,
            )
        if n <= a.anchor_trust_max:
            sk = in_fresh_process(anchor_trust, Zf, Ef)[1]
            print(
                f"   anchor scikit-learn trustworthiness: {sk[0]:7.1f} s {sk[2] / MIB:7.0f} MiB"
                f" (T={sk[1]:.4f}) -> time ratio {tr[0] / sk[0]:.3f},"
                f" memory ratio {max(tr[2], MIB) / max(sk[2], MIB):.3f}",
                flush=True,
            )
    print("\nlog-log slopes (time, memory) between consecutive sizes:")
    for (n1, *s1), (n2, *s2) in zip(rows, rows[1:], strict=False):
        parts = []
        for name, x, y in zip(("encode", "map", "trust"), s1, s2, strict=True):
            st = math.log(y[0] / x[0]) / math.log(n2 / n1)
            sm = math.log(max(y[2], MIB) / max(x[2], MIB)) / math.log(n2 / n1)
            parts.append(f"{name} {st:.2f} / {sm:.2f}")
        print(f"  {n1:,} -> {n2:,}: " + ", ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
