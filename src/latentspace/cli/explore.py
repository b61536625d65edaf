"""``latentspace explore``: serve the latent explorer for one run, or two runs side by side."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer

from .app import app, console, err_console, stage


def serve(
    paths: list[Path],
    host: str = "127.0.0.1",
    port: int = 8765,
    map_method: str | None = None,
    force: bool = False,
) -> None:
    """Load the runs, print the URL with its access token, and serve until Ctrl-C."""
    import uvicorn

    from ..errors import InputError
    from ..stages.evaluate import same_data_check
    from ..web.app import LOCAL_HOSTS, create_app, load_state

    with stage():
        if not 1 <= len(paths) <= 2:
            raise InputError("explore takes one run, or two runs of the same data to compare")
        if not 1 <= port <= 65535:
            raise InputError(f"--port must be in 1..65535; got {port}")
        states = [load_state(i, p, map_method) for i, p in enumerate(paths)]
        same_data_check([s.run for s in states], force)
    if host not in LOCAL_HOSTS:
        err_console.print(
            f"[yellow]warning:[/] serving on {host}: anyone who can reach this address and has the"
            " token can use the explorer (the default, 127.0.0.1, is reachable from this machine only)"
        )
    token = secrets.token_urlsafe(24)
    shown = f"[{host}]" if ":" in host else host
    console.print(f"latent explorer for {', '.join(s.run.name for s in states)}:")
    console.print(f"  [bold]http://{shown}:{port}/?token={token}[/]   (Ctrl-C stops)")
    uvicorn.run(create_app(states, token, host), host=host, port=port, log_level="warning")


@app.command()
def explore(
    runs: Annotated[list[Path], typer.Argument(help="A run folder, or two of the same data to compare.")],
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8765,
    host: Annotated[str, typer.Option(help="Address to bind (default: this machine only).")] = "127.0.0.1",
    map_method: Annotated[
        str | None, typer.Option("--map", help="Which stored map to show (default: umap, tsne, pca).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Compare runs of different data anyway.")] = False,
) -> None:
    """Serve the latent explorer in the browser: the map, items, neighbours, sliders, interpolation,
    samples, attribute vectors, and two runs side by side."""
    serve(list(runs), host, port, map_method, force)
