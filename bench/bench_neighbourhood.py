"""Trustworthiness + continuity (k=10) of 16-d PCA latents of MNIST: latentspace against
scikit-learn's ``trustworthiness`` in the same run, and latentspace alone on all 70,000 images.

Usage: .venv/bin/python bench/bench_neighbourhood.py [--n 10000] [--full]

scikit-learn has no continuity function; continuity is its trustworthiness with the two spaces
swapped, so its time is two calls. Each measurement runs in a fresh process; peak memory is that
process's maximum RSS minus its RSS after loading the data (the data are in memory either way).
Values are compared exactly: both sides get the same float32 values (scikit-learn as float64).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import MIB, header, in_fresh_process  # noqa: E402


def _data(n: int):
    import numpy as np

    import latentspace as ls

    X = ls.load_data("mnist").X[:n]
    Z = ls.PCA(16, random_state=0).fit(X).encode(X)
    return np.ascontiguousarray(X), Z


def ours(n: int, k: int):
    import resource
    import time

    from latentspace.metrics.neighbourhood import neighbourhood_scores

    X, Z = _data(n)
    neighbourhood_scores(X[:300], Z[:300], 5)  # compile the kernels outside the timing
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    out = neighbourhood_scores(X, Z, k)
    return time.perf_counter() - t0, out["trustworthiness"], out["continuity"], loaded


def sklearn_side(n: int, k: int):
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


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--full", action="store_true", help="also run latentspace alone on all 70,000 rows")
    args = p.parse_args()
    import sklearn
    import torch

    import latentspace

    header(
        "Trustworthiness + continuity: latentspace vs scikit-learn",
        {
            "latentspace": latentspace.__version__,
            "scikit-learn": sklearn.__version__,
            "torch": torch.__version__ + f" ({torch.get_num_threads()} threads)",
        },
    )
    rows = []
    for name, fn in (("latentspace", ours), ("scikit-learn", sklearn_side)):
        _, (seconds, t, c, loaded), _, peak = in_fresh_process(fn, args.n, args.k)
        rows.append((name, seconds, t, c, (peak - loaded) / MIB))
    print(f"n = {args.n:,}, k = {args.k}, MNIST pixels (784-d) vs PCA-16 latents")
    print(f"{'':14}{'seconds':>10}  {'trustworthiness':>16}  {'continuity':>14}{'extra peak MiB':>16}")
    for name, s, t, c, m in rows:
        print(f"{name:14}{s:10.2f}  {t:16.12f}  {c:14.12f}{m:16.0f}")
    (_, s0, t0, c0, m0), (_, s1, t1, c1, m1) = rows
    print(
        f"ratio latentspace / scikit-learn: time {s0 / s1:.3f} (speed-up {s1 / s0:.1f}x),"
        f" memory {m0 / max(m1, 1):.3f}; |diff| trust {abs(t0 - t1):.1e}, continuity {abs(c0 - c1):.1e}"
    )
    if args.full:
        _, (seconds, t, c, loaded), _, peak = in_fresh_process(ours, 70_000, args.k)
        print(
            f"\nn = 70,000 (all of MNIST), latentspace only: {seconds:.1f} s, trustworthiness {t:.6f},"
            f" continuity {c:.6f}, extra peak {(peak - loaded) / MIB:.0f} MiB,"
            f" total peak {peak / MIB:.0f} MiB"
        )


if __name__ == "__main__":
    main()
