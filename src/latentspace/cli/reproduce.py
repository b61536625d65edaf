"""CLI command ``reproduce``: the published results of RESULTS.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import app, console, stage


@app.command()
def reproduce(
    out: Annotated[Path, typer.Option(help="Folder for the figures.")] = Path("results"),
    md: Annotated[Path, typer.Option(help="The results file to write.")] = Path("RESULTS.md"),
    quick: Annotated[bool, typer.Option(help="Small subsets and few epochs: a smoke run.")] = False,
    only: Annotated[
        str | None, typer.Option(help="Comma-separated experiments (default: all). See --list.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of every experiment.")] = 0,
    list_: Annotated[bool, typer.Option("--list", help="List the experiments and stop.")] = False,
) -> None:
    """Run the experiments that compare latentspace with published figures; write RESULTS.md."""
    from ..reproduce import EXPERIMENTS
    from ..reproduce import reproduce as run_all

    if list_:
        for key, fn in EXPERIMENTS.items():
            console.print(f"{key:24} {(fn.__doc__ or '').strip().splitlines()[0]}")
        return
    keys = [k.strip() for k in only.split(",") if k.strip()] if only else None
    command = "latentspace reproduce" + (" --quick" if quick else "") + (f" --only {only}" if only else "")
    with stage():
        done = run_all(out, md, quick=quick, only=keys, seed=seed, command=command)
    for e in done:
        console.print(f"[bold]{e.title}[/bold] ({e.seconds:.0f} s)")
        for r in e.rows:
            pub = "" if r.published is None else f"   {e.reference} {r.published:g}"
            console.print(f"  {r.quantity}: {r.ours_text()}{pub}")
    console.print(f"wrote {md} and figures in {out}/")
