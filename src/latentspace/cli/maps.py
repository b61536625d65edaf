"""CLI commands for maps and the report: ``map`` and ``report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import InputError
from .app import MAX_SEED, app, console, in_range, parse_params, say, stage


@app.command("map")
def map_cmd(
    run: Annotated[Path, typer.Argument(help="Run folder made by `fit`.")],
    method: Annotated[str, typer.Option(help="pca, tsne or umap.")] = "umap",
    dims: Annotated[int, typer.Option(help="2 or 3.")] = 2,
    seed: Annotated[int, typer.Option(help=f"Same seed, same map (0..{MAX_SEED}).")] = 0,
    perplexity: Annotated[float | None, typer.Option(help="t-SNE perplexity (default 30).")] = None,
    n_neighbors: Annotated[int | None, typer.Option(help="UMAP neighbours (default 15).")] = None,
    min_dist: Annotated[float | None, typer.Option(help="UMAP minimum distance (default 0.1).")] = None,
    metric: Annotated[str | None, typer.Option(help="t-SNE/UMAP latent metric: euclidean or cosine.")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="Other method parameters as KEY=VALUE: t-SNE n_iter, early_exaggeration,"
            " early_exaggeration_iter; UMAP spread, n_epochs, negative_sample_rate, init"
            " (auto|spectral|pca|random), layout (parallel|umap-learn).",
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Neighbours for the map's quality figures.")] = 10,
    graph: Annotated[
        str,
        typer.Option(
            help="The latents' kNN graph: exact, hnsw (approximate, its recall reported) or auto"
            " (exact below 200,000 points)."
        ),
    ] = "auto",
) -> None:
    """Map the run's latents to 2-D or 3-D; writes map-<method>.parquet with its quality."""
    from ..interpret.verdicts import refresh
    from ..maps.store import map_file, map_run
    from ..runfolder import Run
    from .evaluate import say_verdicts

    with stage():
        in_range("--seed", seed, 0, MAX_SEED)
        in_range("--k", k, 1)
        params = parse_params(param)
        given = {"perplexity": perplexity, "n_neighbors": n_neighbors, "min_dist": min_dist, "metric": metric}
        params.update({key: v for key, v in given.items() if v is not None})
        r = Run(run)
        m = map_run(r, method, dims, seed, quality_k=k, graph=graph, **params)
        found = refresh(r)
    table = Table(
        title=f"{method} map of {r.name} ({dims}-D, {len(m.embedding):,} points, {m.seconds:.1f} s)"
    )
    table.add_column("quality against the latents")
    table.add_column("value", justify="right")
    for key, value in m.quality.items():
        if isinstance(value, list):
            value = "[" + ", ".join(f"{v:.4f}" for v in value) + "]"
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    say(("wrote", "green"), f" {r.path / map_file(method, dims)}")
    _layer_lines(r, method, dims)
    say_verdicts(found)


def _layer_lines(r, method: str, dims: int) -> None:
    """One line per stored layer of the map: what it is, its median and range."""
    import numpy as np

    from ..maps.store import load_layers

    kept = load_layers(r, method, dims)
    for entry in [] if kept is None else kept.describe():
        v = kept.get(entry["name"])
        v = v[np.isfinite(v)]
        part = "" if entry["measured"] == entry["n"] else f" ({entry['measured']:,} sampled points)"
        say(
            f"  layer {entry['name']}: median {np.median(v):.4g}, range {v.min():.4g}..{v.max():.4g}{part}"
            if len(v)
            else f"  layer {entry['name']}: no value"
        )


@app.command("layers")
def layers_cmd(
    run: Annotated[Path, typer.Argument(help="Run folder with a stored map.")],
    method: Annotated[
        str | None, typer.Option("--map", help="Which stored map (default: umap, tsne, pca).")
    ] = None,
    dims: Annotated[int, typer.Option(help="2 or 3.")] = 2,
    seed: Annotated[int, typer.Option(help=f"Seed of the sensitivity's directions (0..{MAX_SEED}).")] = 0,
) -> None:
    """Compute a stored map's per-point layers and store them with it: distortion (neighbours kept
    from the latents to the map), and where the model decodes, reconstruction error and decoder
    sensitivity. `map` computes them with every new map; the explorer on a map's first explore."""
    from ..maps.layers import compute_layers
    from ..maps.store import load_map, save_layers, stored_maps
    from ..runfolder import Run

    with stage():
        in_range("--seed", seed, 0, MAX_SEED)
        if dims not in (2, 3):
            raise InputError(f"--dims must be 2 or 3; got {dims}")
        r = Run(run)
        stored = [m for m, d in stored_maps(r) if d == dims]
        if method is None:
            from ..maps.registry import preferred

            method = preferred(stored)
            if method is None:
                raise InputError(
                    f"{r.name} has no {dims}-D map: make one with `latentspace map {r.path}"
                    + ("" if dims == 2 else f" --dims {dims}")
                    + "` (its layers come with it)"
                )
        m = load_map(r, method, dims)
        kept = compute_layers(r, m, seed=seed)
        name = save_layers(r, method, dims, kept)
    say(("wrote", "green"), f" {r.path / name} (layers: {', '.join(kept.values)}; {kept.seconds:.1f} s)")
    _layer_lines(r, method, dims)


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="Run folder made by `fit`.")],
    points: Annotated[int, typer.Option(help="Points on the interactive map (a random subset).")] = 5000,
    seed: Annotated[int, typer.Option(help=f"Seed of the subset and the example items (0..{MAX_SEED}).")] = 0,
) -> None:
    """Write report.html into the run: one self-contained page, readable offline."""
    from ..report.html import write_report
    from ..runfolder import Run

    with stage():
        in_range("--points", points, 1)
        in_range("--seed", seed, 0, MAX_SEED)
        path = write_report(Run(run), max_points=points, seed=seed)
    say(("wrote", "green"), f" {path}")
