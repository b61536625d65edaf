"""Progress reporting without printing: library code reports, the caller (the CLI) draws.

Library functions call :func:`report` with a task name and counts; nothing happens unless a caller
installed a hook with :func:`progress_hook`. This keeps estimators free of UI code and of extra
``fit`` arguments (scikit-learn's ``Pipeline`` and ``clone`` stay happy).

Where no one watches a terminal (a log file, CI), :class:`LineReporter` turns the same reports into
plain lines: one at least every ``interval`` seconds with the step and an estimated time left, and
one when such a task ends. It formats; the caller decides where lines go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

ProgressFn = Callable[[str, int, int, str], None]  # (task, done, total, info)

_hook: ContextVar[ProgressFn | None] = ContextVar("latentspace_progress_hook", default=None)

# The clock of LineReporter, looked up at every reading so that a test can drive it.
clock: Callable[[], float] = time.monotonic


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


def duration(seconds: float) -> str:
    """``75.2`` -> ``"1m15s"``; ``3723`` -> ``"1h02m"``; below a minute ``"42s"``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


@dataclass
class _Task:
    start: float
    done: int = 0
    total: int = 0
    info: str = ""
    finished: bool = False
    shown: bool = False  # a progress line of it was written: its end is written too


class LineReporter:
    """A progress hook that writes plain lines, for output that is not a terminal.

    Nothing is written in the first ``interval`` seconds, so a quick command (or one that fails
    early, with its one-line error) stays as short as on a terminal. After that, a line whenever
    ``interval`` seconds have passed since the last one, from a report or from :meth:`tick` (which
    a caller runs on a timer, so a long step without reports still shows that work goes on), and a
    line when a task that was shown ends. Progress lines give the step, the share done, the time
    spent and an estimated time left (ETA: the time per unit so far times the units left; it
    assumes a steady rate). Stages themselves are announced by the caller (the CLI's result lines).

    Parameters
    ----------
    write : called with each line (no line break).
    interval : the longest silence, in seconds, while a task runs.
    now : the clock, in seconds; default :data:`clock` of this module, read at every call.
    """

    def __init__(
        self, write: Callable[[str], None], interval: float = 30.0, now: Callable[[], float] | None = None
    ):
        self.write = write
        self.interval = float(interval)
        self._now = now or (lambda: clock())
        self._tasks: dict[str, _Task] = {}
        self._lock = threading.Lock()
        self._last_line = self._now()

    def __call__(self, task: str, done: int, total: int, info: str = "") -> None:
        with self._lock:
            t = self._now()
            state = self._tasks.get(task)
            if state is None or (state.finished and done < total):  # new, or the same task again
                state = self._tasks[task] = _Task(start=t)
            state.done, state.total, state.info = int(done), int(total), info
            self._tasks[task] = self._tasks.pop(task)  # the dict's order: least recently reported first
            if done >= total > 0:
                if not state.finished:
                    state.finished = True
                    if state.shown:
                        extra = f"  {info}" if info else ""
                        count = f" ({total:,})" if total > 1 else ""
                        self._emit(t, f"{task}: done{count} in {duration(t - state.start)}{extra}")
            elif t - self._last_line >= self.interval:
                self._progress_line(task, state, t)

    def tick(self) -> None:
        """If nothing was written for ``interval``, write where the running task reported last
        stands (an outer task such as ``evaluate`` while an inner one has finished)."""
        with self._lock:
            t = self._now()
            if t - self._last_line < self.interval:
                return
            running = [name for name, state in self._tasks.items() if not state.finished]
            if running:
                self._progress_line(running[-1], self._tasks[running[-1]], t)

    def _progress_line(self, task: str, s: _Task, t: float) -> None:
        spent = t - s.start
        line = f"{task}: step {s.done:,}/{s.total:,}"
        if s.total > 0:
            line += f" ({100.0 * s.done / s.total:.0f}%)"
        line += f", {duration(spent)} spent"
        if 0 < s.done < s.total:
            line += f", ETA {duration(spent / s.done * (s.total - s.done))}"
        else:
            line += ", ETA unknown"
        s.shown = True
        self._emit(t, line + (f"  {s.info}" if s.info else ""))

    def _emit(self, t: float, line: str) -> None:
        self._last_line = t
        self.write(line)


@contextmanager
def heartbeat(reporter: LineReporter, every: float = 1.0) -> Iterator[None]:
    """Call ``reporter.tick()`` every ``every`` seconds of real time on a daemon thread while the
    ``with`` block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            reporter.tick()

    thread = threading.Thread(target=beat, name="latentspace-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
