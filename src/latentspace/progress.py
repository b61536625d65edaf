"""Progress reporting without printing: library code reports, the caller (the CLI) draws.

Library functions call :func:`report` with a task name and counts; nothing happens unless a caller
installed a hook with :func:`progress_hook`. This keeps estimators free of UI code and of extra
``fit`` arguments (scikit-learn's ``Pipeline`` and ``clone`` stay happy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

ProgressFn = Callable[[str, int, int, str], None]  # (task, done, total, info)

_hook: ContextVar[ProgressFn | None] = ContextVar("latentspace_progress_hook", default=None)


@contextmanager
def progress_hook(fn: ProgressFn) -> Iterator[None]:
    """Send every :func:`report` made inside the ``with`` block to ``fn(task, done, total, info)``."""
    token = _hook.set(fn)
    try:
        yield
    finally:
        _hook.reset(token)


def report(task: str, done: int, total: int, info: str = "") -> None:
    """Tell the installed hook (if any) that ``done`` of ``total`` units of ``task`` are finished.

    ``info`` is a short live status (running losses) shown beside the bar.
    """
    fn = _hook.get()
    if fn is not None:
        fn(task, done, total, info)
