"""CLI commands for the report card: ``evaluate`` and ``compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..extras import require
from .app import DaskOpt, OverwriteOpt, app, console, say, stage


def say_verdicts(found) -> None:
    """One line per verdict (interpret/verdicts.py), after a command's results."""
    styles = {"warning": "bold yellow", "note": "cyan"}
    for v in found:
        say((v.severity, styles.get(v.severity, "bold")), f" [{v.id}] {v.text}")


def _card_table(title: str, header: list[str], body: list[list], best: list | None = None) -> Table:
    from ..metrics.card import fmt, reading

    # which way is better beside each name; a value a family gets by construction is marked, not starred
    built = getattr(header, "by_construction", {})
    table = Table(title=title)
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i < 2 else "right")
    last = None
    for r, row in enumerate(body):
        arrow = reading(row[1]).arrow
        cells = [row[0] if row[0] != last else "", f"{row[1]} {arrow}".rstrip()]
        for i, v in enumerate(row[2:]):
            text = fmt(v)
            if best is not None and best[r] == i:
                text = Text(f"{text} ★", style="bold green")
            elif i in built.get(r, {}):
                text = Text(f"{text} (by construction)", style="dim")
            cells.append(text)
        table.add_row(*cells)
        last = row[0]
    return table


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder made by `fit`.")],
    metrics: Annotated[
        str | None,
        typer.Option(
            help="Families, comma-separated (default: all): "
            "reconstruction, likelihood, neighbourhood, probes, "
            "disentanglement, smoothness, generation."
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Neighbours for trustworthiness/continuity.")] = 10,
    force: Annotated[bool, typer.Option(help="Recompute even what metrics.json already has.")] = False,
    dask: DaskOpt = None,
) -> None:
    """Compute the report card of a run (only what is missing) into metrics.json and print it."""
    from ..interpret.verdicts import refresh
    from ..metrics.card import rows
    from ..runfolder import Run
    from ..stages.evaluate import evaluate as run_evaluate
    from ..stages.evaluate import parse_metrics

    with stage():
        if dask:
            require("dask", "--dask")
        r = Run(run)
        names = parse_metrics(metrics)
        card = run_evaluate(r, names, k=k, force=force, dask=dask)
        found = refresh(r)
    body = [[fam, key, value] for fam, key, value in rows(card, names)]
    console.print(_card_table(f"report card of {r.name}", ["family", "metric", "value"], body))
    say(("wrote", "green"), f" {r.path / 'metrics.json'}")
    say_verdicts(found)


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Two or more run folders.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path("compare.html"),
    force: Annotated[bool, typer.Option(help="Compare runs fitted on different data or splits.")] = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Line up the report cards of several runs; the best value per row is marked."""
    from ..atomic import atomic_write
    from ..errors import InputError
    from ..metrics.card import compare_table
    from ..report.compare import compare_html
    from ..runfolder import Run
    from ..stages.evaluate import METRICS_FILE, same_data_check
    from ..stages.targets import check_target

    with stage():
        check_target(out, overwrite, suffixes=(".html", ".htm"))
        if len(runs) < 2:
            raise InputError("compare needs at least two runs")
        opened = [Run(p) for p in runs]
        same_data_check(opened, force)
        cards = []
        for r in opened:
            card = r.read_json(METRICS_FILE)
            if card is None:
                raise InputError(
                    f"{r.path} has no metrics.json yet; run `latentspace evaluate {r.path}` first"
                )
            cards.append(card)
        header, body, best = compare_table(opened, cards)
        atomic_write(out, compare_html(header, body, best, runs=opened, out=out).encode(), replace=overwrite)
    console.print(_card_table("runs compared", header, body, best))
    say(("wrote", "green"), f" {out}")
