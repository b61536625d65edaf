"""Independent blocks of work on a pool of threads, scheduled dynamically.

numba's OpenMP and workqueue layers give each thread one fixed share of a parallel loop, and
OpenMP threads (numba's, torch's) spin at the end of each region. With one core busy with other
work, the share on that core finishes last while the others wait: trustworthiness at 10,000
points took 2.7x as long with one core busy as on a quiet machine. Here each block is
one task that whichever thread is free takes from a queue, a thread with nothing to do sleeps on a
lock, and every task runs serial code (``nogil`` numba kernels, numpy, BLAS kept to one thread per
call), so a thread slowed by other work simply ends up taking fewer blocks.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def threads() -> int:
    """Threads for the blocked work: numba's setting (``NUMBA_NUM_THREADS``,
    ``numba.set_num_threads``), which defaults to the cores available."""
    import numba

    return max(1, int(numba.get_num_threads()))


@functools.cache
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


# The BLAS thread limit is process-wide (OpenBLAS's pthreads build keeps one setting), so two
# overlapping limited regions on different threads (the explorer answers requests on a pool)
# would restore each other's settings out of order. One region at a time, process-wide: the
# thread that sets the limit is the one that restores it. Re-entrant for the same thread.
_REGION = threading.RLock()
_in_task = threading.local()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS calls use one thread each inside the block (the pool's threads are the parallelism),
    through threadpoolctl, the documented switch scikit-learn uses for the same pattern; the
    previous settings are restored on exit. Blocks on other threads wait for this one to end."""
    with _REGION, _blas_controller().limit(limits=1, user_api="blas"):
        yield


def _task(fn: Callable[[T], R]) -> Callable[[T], R]:
    def run(item: T) -> R:
        _in_task.active = True
        try:
            return fn(item)
        finally:
            _in_task.active = False

    return run


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> Iterator[R]:
    """``fn(item)`` for every item, computed on ``workers`` threads (default :func:`threads`) in
    whatever order they become free, yielded in the order of ``items``. Called from inside a task
    of another ``ordered_map`` it runs serially (the outer pool is the parallelism)."""
    items = list(items)
    if getattr(_in_task, "active", False):
        yield from map(fn, items)
        return
    workers = threads() if workers is None else int(workers)
    with one_blas_thread():
        if workers <= 1 or len(items) <= 1:
            yield from map(fn, items)
            return
        with ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix="latentspace-knn") as pool:
            yield from pool.map(_task(fn), items)
