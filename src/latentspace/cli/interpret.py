"""CLI command ``interpret``: named dimensions and directions, traversals and decoder sensitivity,
kept in the run's interpret.json and printed as a table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .app import MAX_SEED, app, console, in_range, say, stage


def _tie(entry: dict) -> str:
    """The strongest tie's second number: the rank correlation or the class mean shift."""
    if not entry["associations"] or entry["name"] in ("inactive", "unnamed"):
        return ""
    best = entry["associations"][0]
    return f"ρ {best['corr']:+.2f}" if "corr" in best else f"shift {best['shift']:.1f}σ"


def _importance(entry: dict, kind: str) -> str:
    if entry["kind"] == "pc":
        return f"{entry['importance']:.1%} of var"
    return f"KL {entry['importance']:.3g} nats" if kind == "kl" else f"var {entry['importance']:.3g}"


def _table(title: str, entries: list[dict], kind: str, effect: bool) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("direction")
    table.add_column("name", overflow="fold")
    table.add_column("MI", justify="right")
    table.add_column("tie", justify="right")
    table.add_column("importance", justify="right")
    if effect:
        table.add_column("effect", justify="right")
    for d in entries:
        cells = [d["id"], d["name"], f"{d['score']:.2f}", _tie(d), _importance(d, kind)]
        if effect:
            cells.append(f"{d['effect']:.3g}" if "effect" in d else "")
        table.add_row(*cells, style="dim" if d["inactive"] else None)
    return table


@app.command()
def interpret(
    run: Annotated[Path, typer.Argument(help="Run folder made by `fit` or `import`.")],
    top: Annotated[int, typer.Option(help="Dimensions printed (the most important first).")] = 16,
    pcs: Annotated[int, typer.Option(help="Leading principal directions named (0..32).")] = 8,
    rows: Annotated[
        int, typer.Option(help="Rows compared with the columns (a seeded sample beyond).")
    ] = 20_000,
    traverse: Annotated[int, typer.Option(help="Directions whose traversal is recorded (0..64).")] = 8,
    seed: Annotated[int, typer.Option(help=f"Seed of the row samples and directions (0..{MAX_SEED}).")] = 0,
) -> None:
    """Name the run's latent dimensions and leading principal directions by the label, factor or
    metadata column each is most tied to (normalised mutual information; rank correlation or class
    mean shift), order them by importance (KL per dimension for a VAE, variance otherwise), record
    traversals and the decoder's local sensitivity; keep it all in interpret.json."""
    from ..runfolder import Run
    from ..stages.interpret import interpret as run_interpret

    with stage():
        in_range("--top", top, 1)
        in_range("--pcs", pcs, 0, 32)
        in_range("--rows", rows, 100)
        in_range("--traverse", traverse, 0, 64)
        in_range("--seed", seed, 0, MAX_SEED)
        r = Run(run)
        result = run_interpret(r, seed=seed, pcs=pcs, rows=rows, traverse=traverse)
    doc = result.doc
    kind = doc["importance"]["kind"]
    effect = "skipped" not in doc["traversal"]
    how = "KL per dimension (nats)" if kind == "kl" else "variance"
    shown = doc["dims"][:top]
    more = len(doc["dims"]) - len(shown)
    title = f"dimensions of {r.name} by {how}" + (
        f" (top {len(shown)} of {doc['latent_dim']})" if more else ""
    )
    console.print(_table(title, shown, kind, effect))
    if doc["pcs"]:
        console.print(_table("principal directions of the latents", doc["pcs"], kind, effect))
    if not effect:
        say(("note:", "yellow"), f" {doc['traversal']['skipped']}")
    say(result.summary)
    say(("wrote", "green"), f" {result.path}")
