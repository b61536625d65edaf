"""Helpers shared by the benchmarks: machine description, timing, peak memory in a fresh process."""

from __future__ import annotations

import datetime
import gc
import multiprocessing as mp
import os
import platform
import resource
import sys
import time

MIB = 2**20


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def header(title: str, versions: dict[str, str]) -> None:
    print(title)
    print(f"date     : {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine  : {os.cpu_count()} cpus, {cpu_model()} ({platform.machine()}, {platform.system()})")
    print(f"python   : {platform.python_version()} ({sys.executable})")
    print("versions : " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print()


def timed(fn) -> tuple[float, object]:
    gc.collect()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _child(queue, target, args):
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds, result = timed(lambda: target(*args))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((seconds, result, base * 1024, peak * 1024))


def in_fresh_process(target, *args):
    """Run ``target(*args)`` in a new process; return (seconds, result, rss before, peak rss) in bytes.

    The peak is the process's maximum resident set size (everything: numpy, torch, BLAS), measured
    from a process that holds nothing else, so two libraries are compared on equal terms.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, target, args))
    proc.start()
    out = queue.get()
    proc.join()
    return out
