"""PCA on MNIST 70,000 x 784: latentspace against scikit-learn, side by side in one run.

Usage: .venv/bin/python bench/bench_pca.py [--repeats 5] [--components 16 50]

For each k, ``fit`` (and then ``transform`` of all rows) is timed for both libraries, the runs
interleaved (the order alternates every repeat), one warm-up each, median of ``--repeats``. Peak
memory is what tracemalloc sees during one separate, untimed fit (numpy and scipy report their
buffers to it; BLAS-internal workspace is not included). Ratios are ours / scikit-learn: lower is
better. Both estimators run with their defaults apart from n_components; nothing is tuned.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from functools import partial
from pathlib import Path

import numpy as np
import scipy
import sklearn
from sklearn.decomposition import PCA as SkPCA
from threadpoolctl import threadpool_info

import latentspace as ls

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_model  # noqa: E402

MIB = 2**20


def timed(fn) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each callable: one warm-up each, then ``repeats`` rounds, order alternating."""
    names = list(fns)
    for name in names:
        fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(timed(fns[name]))
    return {name: statistics.median(ts) for name, ts in times.items()}


def peak_mib(fn) -> float:
    """Peak traced memory (MiB) above the baseline while ``fn`` runs."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - base) / MIB


def header() -> None:
    blas = ", ".join(
        f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads)"
        for p in threadpool_info()
        if p.get("user_api") == "blas"
    )
    print(f"date     : {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine  : {os.cpu_count()} cpus, {cpu_model()} ({platform.machine()}, {platform.system()})")
    print(f"python   : {platform.python_version()} ({sys.executable})")
    print(
        f"versions : latentspace {ls.__version__}, scikit-learn {sklearn.__version__},"
        f" numpy {np.__version__}, scipy {scipy.__version__}"
    )
    print(f"blas     : {blas or 'unknown'}")


def row(cells, widths) -> str:
    return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--components", type=int, nargs="+", default=[16, 50])
    args = parser.parse_args(argv)

    header()
    X = ls.load_data("mnist").X
    print(f"data     : MNIST X {X.dtype} {X.shape}, repeats {args.repeats} (median), one warm-up each\n")

    cols = ["k", "ours s", "sklearn s", "ratio", "ours MiB", "sklearn MiB", "mem ratio"]
    widths = [4, 9, 9, 6, 9, 11, 9]
    fit_rows, tr_rows, checks = [], [], []
    for k in args.components:
        fits = {
            "ours": lambda k=k: ls.PCA(n_components=k).fit(X),
            "sklearn": lambda k=k: SkPCA(n_components=k).fit(X),
        }
        t = interleaved(fits, args.repeats)
        m = {name: peak_mib(fn) for name, fn in fits.items()}
        ours, ref = fits["ours"](), fits["sklearn"]()
        ev_ours, ev_ref = ours.explained_variance_, np.asarray(ref.explained_variance_, np.float64)
        rel = float(np.max(np.abs(ev_ours - ev_ref) / ev_ref))
        cos = float(np.min(np.abs(np.sum(ours.components_ * ref.components_, axis=1))))
        solvers = f"{ours.fit_solver_} / {ref._fit_svd_solver}"
        fit_rows.append((k, t, m))

        transforms = {"ours": partial(ours.transform, X), "sklearn": partial(ref.transform, X)}
        tt = interleaved(transforms, args.repeats)
        tm = {name: peak_mib(fn) for name, fn in transforms.items()}
        zdiff = float(np.max(np.abs(ours.transform(X) - ref.transform(X))))
        tr_rows.append((k, tt, tm))
        checks.append((k, solvers, rel, cos, zdiff))

    for title, rows in (("fit", fit_rows), (f"transform ({X.shape[0]} rows)", tr_rows)):
        print(f"PCA {title}: ratio = ours / sklearn, lower is better")
        print(row(cols, widths))
        for k, t, m in rows:
            cells = [k, f"{t['ours']:.3f}", f"{t['sklearn']:.3f}", f"{t['ours'] / t['sklearn']:.2f}"]
            cells += [f"{m['ours']:.1f}", f"{m['sklearn']:.1f}", f"{m['ours'] / m['sklearn']:.2f}"]
            print(row(cells, widths))
        print()

    print("agreement (solvers ours / sklearn; explained_variance_ max rel diff; min |cos| of components;")
    print("           transform max abs diff)")
    ok = True
    for k, solvers, rel, cos, zdiff in checks:
        flag = "ok" if rel <= 1e-4 else "MISMATCH > 1e-4"
        ok &= rel <= 1e-4
        print(f"  k={k:<3} {solvers:32} ev rel {rel:.2e} ({flag})  cos {cos:.7f}  z {zdiff:.2e}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
