"""The CLI's fixed cost: cheap commands on a 70,000-row run, against a plain faiss script.

Usage: .venv/bin/python bench/bench_cli.py [--rounds 7] [--run PATH]

A cheap command should cost what reading its inputs costs. The run is MNIST's 70,000 digits under
PCA-16 (fitted into a temporary folder unless ``--run`` names one). Each command runs as a new
process, as a user would run it, ``--rounds`` times in turn with the anchor; reported are the median
wall time and the peak resident memory (from the child's rusage). The anchor is the script a user
would write instead: read ``latents.parquet`` with pyarrow and ask faiss for the 8 nearest rows of
one item. Target: ``info`` and ``neighbours`` under 1 s each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import MIB, header

TARGET_SECONDS = 1.0
ANCHOR = """
import sys
import faiss, numpy as np, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1] + "/latents.parquet")
Z = np.column_stack([t[c].to_numpy() for c in t.column_names if c.startswith("z_")]).astype(np.float32)
index = faiss.IndexFlatL2(Z.shape[1])
index.add(Z)
d, i = index.search(Z[5:6], 9)
print(i[0][1:], np.sqrt(d[0][1:]))
"""


def run_once(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one command in a new process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss * 1024 / MIB


def make_run(folder: Path) -> Path:
    run = folder / "mnist-pca16"
    cli = [sys.executable, "-m", "latentspace"]
    subprocess.run([*cli, "fit", "--data", "mnist", "-m", "pca", "-k", "16", "--out", str(run)], check=True)
    return run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--run", type=Path, help="an existing 70,000-row run (default: fit one)")
    args = ap.parse_args(argv)
    import faiss
    import pyarrow

    import latentspace

    header(
        "CLI fixed cost on a 70,000-row run",
        {"latentspace": latentspace.__version__, "faiss": faiss.__version__, "pyarrow": pyarrow.__version__},
    )
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or make_run(Path(tmp))
        cli = [sys.executable, "-m", "latentspace"]
        commands = {
            "latentspace info": [*cli, "info", str(run)],
            "latentspace neighbours -k 8": [*cli, "neighbours", str(run), "--item", "5", "-k", "8"],
            "anchor: pyarrow + faiss script": [sys.executable, "-c", ANCHOR, str(run)],
        }
        for cmd in commands.values():  # warm the page cache and numba's / Python's bytecode caches
            run_once(cmd)
        seen: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.rounds):  # interleaved, so a change of machine load hits all alike
            for name, cmd in commands.items():
                seen[name].append(run_once(cmd))
    anchor = statistics.median(s for s, _ in seen["anchor: pyarrow + faiss script"])
    print(f"{'command':34} {'median s':>9} {'min s':>7} {'peak MiB':>9} {'x anchor':>9}")
    failed = []
    for name, values in seen.items():
        secs = [s for s, _ in values]
        med = statistics.median(secs)
        print(f"{name:34} {med:9.3f} {min(secs):7.3f} {max(m for _, m in values):9.0f} {med / anchor:9.2f}")
        if not name.startswith("anchor") and med > TARGET_SECONDS:
            failed.append(name)
    print(f"\ntarget: each latentspace command under {TARGET_SECONDS:.1f} s (median of {args.rounds})")
    if failed:
        print("MISSED: " + ", ".join(failed))
        return 1
    print("met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
