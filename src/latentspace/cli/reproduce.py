"""CLI command ``reproduce``: the published results of RESULTS.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import MAX_SEED, app, console, in_range, say, stage


@app.command()
def reproduce(
    out: Annotated[Path, typer.Option(help="Folder for the figures.")] = Path("results"),
    md: Annotated[Path, typer.Option(help="The results file to write.")] = Path("RESULTS.md"),
    quick: Annotated[bool, typer.Option(help="Small subsets and few epochs: a smoke run.")] = False,
    only: Annotated[
        str | None, typer.Option(help="Comma-separated experiments (default: all). See --list.")
    ] = None,
    seed: Annotated[int, typer.Option(help=f"Seed of every experiment (0..{MAX_SEED}).")] = 0,
    list_: Annotated[bool, typer.Option("--list", help="List the experiments and stop.")] = False,
    overwrite: Annotated[
        bool, typer.Option(help="Replace the results file and the chosen experiments' files in --out.")
    ] = False,
) -> None:
    """Run the experiments that compare latentspace with published figures; write RESULTS.md."""
    from ..reproduce import EXPERIMENTS
    from ..reproduce import reproduce as run_all
    from ..stages.targets import check_target

    if list_:
        for key, fn in EXPERIMENTS.items():
            console.print(f"{key:24} {(fn.__doc__ or '').strip().splitlines()[0]}")
        return
    keys = [k.strip() for k in only.split(",") if k.strip()] if only else None
    command = "latentspace reproduce" + (" --quick" if quick else "") + (f" --only {only}" if only else "")
    with stage():
        in_range("--seed", seed, 0, MAX_SEED)
        check_target(md, overwrite, suffixes=(".md", ".markdown", ".txt"), option="--md")
        check_target(out, overwrite, kind="folder")
        done = run_all(out, md, quick=quick, only=keys, seed=seed, command=command)
    for e in done:
        say((e.title, "bold"), f" ({e.seconds:.0f} s)")
        for r in e.rows:
            pub = "" if r.published is None else f"   {e.reference} {r.published:g}"
            say(f"  {r.quantity}: {r.ours_text()}{pub}")
    say(f"wrote {md} and figures in {out}/")
