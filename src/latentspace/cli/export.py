"""``latentspace export``: a run in Embedding Atlas's, the TensorBoard projector's or AnnData's format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import OverwriteOpt, app, in_range, say, stage


@app.command("export")
def export_cmd(
    run: Annotated[Path, typer.Argument(help="Run folder.")],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="embedding-atlas (a .parquet file), projector (a folder of TSV files, a sprite and"
            " its config) or anndata (a .h5ad file; needs the anndata extra).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The file or folder to write.")],
    map_method: Annotated[
        str | None,
        typer.Option(
            "--map", help="The stored 2-D map given as x/y (default: umap, tsne, pca; else PCA fitted now)."
        ),
    ] = None,
    neighbours: Annotated[
        int, typer.Option("--neighbours", help="Nearest neighbours per item (Embedding Atlas).")
    ] = 15,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write a run for another tool: latents, a 2-D map, labels and metadata (and, for Embedding
    Atlas, each item's nearest neighbours; for image data, the pictures)."""
    from ..export import check_out, export
    from ..runfolder import Run

    with stage():
        in_range("--neighbours", neighbours, 0, 1000)
        check_out(to, out, overwrite)  # before the run is read
        result = export(Run(run), to, out, map=map_method, neighbours=neighbours, overwrite=overwrite)
    for note in result["notes"]:
        say(("note:", "yellow"), f" {note}")
    say(("exported", "green"), f" {run} as {to} -> ", (str(out), "bold"))
    say(f"open it with: {result['open']}")
