"""The Typer application and what every command shares: options, argument parsing, error handling.

Only this package prints. Library code reports progress through :mod:`latentspace.progress` and
raises :class:`~latentspace.errors.LatentspaceError`; here those become progress bars and one-line
errors with exit code 2.

Both consoles print text as it is (``markup=False``): paths, values and labels come from the user,
and ``[bold]`` or ``[/x]`` in them must be shown, not read as rich markup. Styled words are given as
``(text, style)`` parts of :func:`say`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from ..errors import InputError, LatentspaceError
from ..progress import LineReporter, heartbeat, progress_hook

app = typer.Typer(
    name="latentspace",
    help="Learn, measure, map and steer the latent space of a dataset.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)

MAX_SEED = 2**32 - 1  # what every seeded part accepts (numpy's legacy RandomState, scikit-learn)

Part = str | tuple[str, str]


def say(*parts: Part, err: bool = False) -> None:
    """Print one line: plain parts exactly as they are, ``(text, style)`` parts styled. Not wrapped,
    so a long path stays one piece to copy."""
    (err_console if err else console).print(Text.assemble(*parts), soft_wrap=True)


def in_range(option: str, value: int | float, lo: int | float, hi: int | float | None = None, why: str = ""):
    """Refuse ``value`` outside ``lo..hi``, naming the option; ``why`` explains the upper bound."""
    if value < lo:
        raise InputError(f"{option} must be at least {lo:,}; got {value:,}")
    if hi is not None and value > hi:
        raise InputError(f"{option} must be at most {hi:,}{why}; got {value:,}")
    return value


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
        force=True,
    )


PROGRESS_INTERVAL = 30.0  # seconds: the longest silence of progress lines in a log


def progress_lines() -> bool:
    """Progress as plain lines (for a log) rather than bars: when stdout is not a terminal."""
    return not console.is_terminal


@contextmanager
def _progress() -> Iterator[None]:
    """Bars on a terminal; otherwise plain lines with the step and an ETA, at least every
    PROGRESS_INTERVAL seconds: on stderr when that is not a terminal either (a log), else on stdout."""
    if progress_lines():
        out = err_console if not err_console.is_terminal else console
        lines = LineReporter(lambda line: out.print(Text(line), soft_wrap=True), PROGRESS_INTERVAL)
        with progress_hook(lines), heartbeat(lines):
            yield
        return
    progress = Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}", markup=False),
        console=err_console,
        transient=True,
    )
    tasks: dict[str, int] = {}

    def hook(task: str, done: int, total: int, info: str) -> None:
        if task not in tasks:
            tasks[task] = progress.add_task(task, total=total, info="")
        progress.update(tasks[task], completed=done, total=total, info=info)

    with progress, progress_hook(hook):
        yield


@contextmanager
def stage() -> Iterator[None]:
    """Turn expected errors into one red line and exit code 2; show progress meanwhile."""
    try:
        with _progress():
            yield
    except KeyboardInterrupt:
        say(
            ("interrupted.", "bold yellow"),
            " A neural fit continues from its last epoch with the same command and --resume.",
            err=True,
        )
        raise typer.Exit(130) from None
    except MemoryError:
        fail("not enough memory for this command; ask for fewer rows, steps or items")
    except (LatentspaceError, ValueError, OSError, EOFError) as exc:  # EOFError: a truncated file
        fail(str(exc).strip() or type(exc).__name__)


def fail(message: str) -> NoReturn:
    """Print an expected error as one line (its line breaks folded) and exit with code 2."""
    say(("error:", "bold red"), " ", " ".join(message.split()), err=True)
    raise typer.Exit(2)


@contextmanager
def spinner(text: str) -> Iterator[None]:
    with err_console.status(Text(text)):
        yield


def parse_data_args(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--data-arg expects KEY=VALUE (e.g. n=20000); got {item!r}")
        out[key.strip()] = value.strip()
    return out


def parse_params(items: list[str] | None) -> dict[str, object]:
    """``KEY=VALUE`` pairs; values are read as JSON (numbers, true/false, null, lists) or kept as text."""
    out: dict[str, object] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--param expects KEY=VALUE (e.g. beta=4 or hidden=[512,256]); got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value.strip()
    return out


def load_data(data: str, label_col: str | None, data_args: list[str] | None):
    from ..data import load

    with spinner(f"loading {data}"):
        return load(data, label_col=label_col, **parse_data_args(data_args))


DataOpt = Annotated[
    str, typer.Option("--data", "-d", help="Built-in name (see `datasets`) or a file/folder path.")
]
LabelOpt = Annotated[
    str | None, typer.Option("--label-col", help="Table column (or .npz array) holding labels.")
]
DataArgOpt = Annotated[
    list[str] | None,
    typer.Option("--data-arg", help="KEY=VALUE for a built-in, e.g. --data-arg n=20000."),
]
SeedOpt = Annotated[int, typer.Option(help=f"Random seed, 0..{MAX_SEED}.")]
OverwriteOpt = Annotated[bool, typer.Option(help="Replace the output if it exists.")]
DaskOpt = Annotated[
    str | None,
    typer.Option(
        "--dask",
        help="Split the work into partitions on a Dask cluster: a scheduler address"
        " (tcp://host:8786) or 'local' for one worker process per core on this machine.",
    ),
]


def main() -> None:
    app()
