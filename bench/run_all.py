"""Run every bench/bench_*.py in turn with this interpreter; exit non-zero if any of them fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    scripts = sorted(here.glob("bench_*.py"))
    if not scripts:
        print(f"no bench_*.py in {here}", file=sys.stderr)
        return 1
    failed = []
    for script in scripts:
        print(f"=== {script.name} ===", flush=True)
        rc = subprocess.call([sys.executable, str(script)])
        if rc != 0:
            failed.append(f"{script.name} (exit {rc})")
        print(flush=True)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    print(f"all {len(scripts)} benchmark(s) passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
