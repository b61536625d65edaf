"""`make demo`'s main job against its budget: five minutes on a quiet 2-core machine.

Usage: .venv/bin/python bench/bench_demo.py [--out DIR] [--cold]

Runs ``latentspace demo --no-serve`` as a user would (a new process, stdout not a terminal, so the
progress lines are what a log gets) into a temporary folder, and reports the wall time, the CPU
time of the process and its children (user + sys: a figure the machine's other work moves less),
the machine's load before and after, and the demo's own line of stage times. ``--cold`` empties
the cache of the dataset classifier and the raw-data probes first (``LATENTSPACE_CACHE``), as on
a fresh machine. The anchor is the budget itself: there is no other tool that does this job.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import header

BUDGET_SECONDS = 300.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="folder for the runs (default: a temporary one)")
    ap.add_argument("--cold", action="store_true", help="start without the classifier and probe caches")
    args = ap.parse_args()
    import torch

    import latentspace

    versions = {"latentspace": latentspace.__version__, "torch": torch.__version__}
    header("make demo's main job (demo --no-serve)", versions)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "runs"
        env = dict(os.environ)
        if args.cold:
            env["LATENTSPACE_CACHE"] = str(Path(tmp) / "cache")
        exe = Path(sys.executable).with_name("latentspace")
        load0 = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        res = subprocess.run(
            [str(exe), "demo", "--no-serve", "--overwrite", "--out", str(out)],
            capture_output=True,
            text=True,
            env=env,
        )
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        load1 = os.getloadavg()[0]
    if res.returncode != 0:
        print(res.stdout[-3000:], res.stderr[-3000:], sep="\n")
        return 1
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stages = [ln for ln in (res.stdout + res.stderr).splitlines() if "stage times:" in ln]
    print(f"caches   : {'cold (emptied first)' if args.cold else 'as found'}")
    print(f"load     : {load0:.2f} before, {load1:.2f} after (1-minute average)")
    print(f"wall     : {wall:.0f} s   (budget {BUDGET_SECONDS:.0f} s: ratio {wall / BUDGET_SECONDS:.2f})")
    print(f"cpu      : {cpu:.0f} s user + sys")
    print(stages[-1].strip() if stages else "(no stage-time line)")
    return 0 if wall < BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
