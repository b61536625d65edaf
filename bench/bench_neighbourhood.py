"""Trustworthiness + continuity (k=10) of 16-d PCA latents of MNIST: latentspace against
scikit-learn's ``trustworthiness`` in the same run, on a quiet machine and with one core kept busy,
and latentspace alone on all 70,000 images.

Usage: .venv/bin/python bench/bench_neighbourhood.py [--n 10000] [--full] [--no-busy] [--repeats 3]

scikit-learn has no continuity function; continuity is its trustworthiness with the two spaces
swapped, so its time is two calls. Each measurement runs in a fresh process; peak memory is that
process's maximum RSS minus its RSS after loading the data (the data are in memory either way).
latentspace's time is the median of ``--repeats`` calls in that process (one call varies by up to
a third on a shared virtual machine); scikit-learn's is one call (about 20 s, steadier). Values
are compared exactly: both sides get the same float32 values (scikit-learn as float64).

The busy case: a helper process runs a Python busy loop pinned to the last CPU this process may
use, started before the measured process and stopped after it; the ratio busy / quiet says how much
one busy core slows each library (on a machine with c cores the fair share left is (c - 1/2) / c of
the machine when the measured threads and the loop share that core evenly: 1.33x slower on 2 cores).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import MIB, header, in_fresh_process  # noqa: E402


def _data(n: int):
    import numpy as np

    import latentspace as ls

    X = ls.load_data("mnist").X[:n]
    Z = ls.PCA(16, random_state=0).fit(X).encode(X)
    return np.ascontiguousarray(X), Z


def ours(n: int, k: int, repeats: int = 1):
    import resource
    import statistics
    import time

    from latentspace.metrics.neighbourhood import neighbourhood_scores

    X, Z = _data(n)
    neighbourhood_scores(X[:300], Z[:300], 5)  # compile the kernels outside the timing
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = neighbourhood_scores(X, Z, k)
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), out["trustworthiness"], out["continuity"], loaded


def sklearn_side(n: int, k: int, repeats: int = 1):
    import resource
    import time

    import numpy as np
    from sklearn.manifold import trustworthiness

    X, Z = _data(n)
    X64, Z64 = X.astype(np.float64), Z.astype(np.float64)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    t = trustworthiness(X64, Z64, n_neighbors=k)
    c = trustworthiness(Z64, X64, n_neighbors=k)
    return time.perf_counter() - t0, t, c, loaded


def _spin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    while True:
        pass


@contextmanager
def one_core_busy():
    """A busy loop on the last CPU of this process's affinity (any CPU where that cannot be set)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    proc = mp.get_context("spawn").Process(target=_spin, args=(cpus[-1] if cpus else None,), daemon=True)
    proc.start()
    try:
        yield
    finally:
        proc.terminate()
        proc.join()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--full", action="store_true", help="also run latentspace alone on all 70,000 rows")
    p.add_argument("--no-busy", action="store_true", help="skip the runs with one core kept busy")
    p.add_argument("--repeats", type=int, default=3, help="latentspace calls per measurement (median)")
    args = p.parse_args()
    import numba
    import sklearn
    import torch

    import latentspace

    header(
        "Trustworthiness + continuity: latentspace vs scikit-learn",
        {
            "latentspace": latentspace.__version__,
            "scikit-learn": sklearn.__version__,
            "numba": numba.__version__ + f" ({numba.get_num_threads()} threads)",
            "torch": torch.__version__ + f" ({torch.get_num_threads()} threads)",
        },
    )
    rows, busy = [], {}
    for name, fn, repeats in (("latentspace", ours, args.repeats), ("scikit-learn", sklearn_side, 1)):
        _, (seconds, t, c, loaded), _, peak = in_fresh_process(fn, args.n, args.k, repeats)
        rows.append((name, seconds, t, c, (peak - loaded) / MIB))
        if not args.no_busy:
            with one_core_busy():
                busy[name] = in_fresh_process(fn, args.n, args.k, repeats)[1][0]
    print(f"n = {args.n:,}, k = {args.k}, MNIST pixels (784-d) vs PCA-16 latents")
    print(f"{'':14}{'seconds':>10}  {'trustworthiness':>16}  {'continuity':>14}{'extra peak MiB':>16}")
    for name, s, t, c, m in rows:
        print(f"{name:14}{s:10.2f}  {t:16.12f}  {c:14.12f}{m:16.0f}")
    (_, s0, t0, c0, m0), (_, s1, t1, c1, m1) = rows
    print(
        f"ratio latentspace / scikit-learn: time {s0 / s1:.3f} (speed-up {s1 / s0:.1f}x),"
        f" memory {m0 / max(m1, 1):.3f}; |diff| trust {abs(t0 - t1):.1e}, continuity {abs(c0 - c1):.1e}"
    )
    if busy:
        print(f"\none core of {os.cpu_count()} kept busy by a Python loop:")
        print(f"{'':14}{'quiet s':>10}{'busy s':>10}{'busy/quiet':>12}")
        for name, s, *_ in rows:
            print(f"{name:14}{s:10.2f}{busy[name]:10.2f}{busy[name] / s:12.2f}")
    if args.full:
        _, (seconds, t, c, loaded), _, peak = in_fresh_process(ours, 70_000, args.k)
        print(
            f"\nn = 70,000 (all of MNIST), latentspace only: {seconds:.1f} s, trustworthiness {t:.6f},"
            f" continuity {c:.6f}, extra peak {(peak - loaded) / MIB:.0f} MiB,"
            f" total peak {peak / MIB:.0f} MiB"
        )


if __name__ == "__main__":
    main()
