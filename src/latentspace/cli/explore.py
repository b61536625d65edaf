"""``latentspace explore``: serve the latent explorer for one run, or two runs side by side."""

from __future__ import annotations

import errno
import secrets
import socket
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from ..extras import require
from .app import app, fail, say, stage

_PORT_PROBLEMS = {
    errno.EADDRINUSE: "is in use",
    errno.EACCES: "needs privileges (ports below 1024 do)",
}


def require_explorer(feature: str = "`latentspace explore`") -> None:
    """One line naming the explorer extra when fastapi or uvicorn is missing."""
    require("explorer", feature)


def check_port(host: str, port: int) -> None:
    """Bind and listen on ``host:port`` for a moment, as uvicorn will: a busy port is one clear line
    before anything is loaded or served."""
    if not 1 <= port <= 65535:
        raise InputError(f"--port must be in 1..65535; got {port}")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn sets it
            sock.bind((host, port))
            sock.listen()
        except OSError as exc:
            if exc.errno in _PORT_PROBLEMS:
                raise InputError(
                    f"port {port} {_PORT_PROBLEMS[exc.errno]}; pick another with --port"
                ) from None
            raise InputError(f"cannot serve on --host {host} --port {port}: {exc.strerror or exc}") from None


def serve(
    paths: list[Path],
    host: str = "127.0.0.1",
    port: int = 8765,
    map_method: str | None = None,
    force: bool = False,
) -> None:
    """Load the runs, print the URL with its access token, and serve until Ctrl-C."""
    with stage():  # before anything imports fastapi or uvicorn
        require_explorer()
    import uvicorn

    from ..maps.store import shared_method
    from ..runfolder import Run
    from ..stages.evaluate import same_data_check
    from ..web.app import LOCAL_HOSTS, create_app, load_state

    with stage():
        if not 1 <= len(paths) <= 2:
            raise InputError("explore takes one run, or two runs of the same data to compare")
        check_port(host, port)  # before the runs are loaded
        map_method, notes = shared_method([Run(p) for p in paths], map_method)  # side by side: one method
        states = [load_state(i, p, map_method) for i, p in enumerate(paths)]
        same_data_check([s.run for s in states], force)
        check_port(host, port)  # again, just before serving: the port may have been taken meanwhile
    for note in notes + [line for s in states for line in s.layers.notes]:  # maps chosen, layers made
        say(("note:", "yellow"), f" {note}")
    if host not in LOCAL_HOSTS:
        say(
            ("warning:", "yellow"),
            f" serving on {host}: anyone who can reach this address and has the token can use the"
            " explorer (the default, 127.0.0.1, is reachable from this machine only)",
            err=True,
        )
    token = secrets.token_urlsafe(24)
    shown = f"[{host}]" if ":" in host else host
    say(f"latent explorer for {', '.join(s.run.name for s in states)}:")
    say("  ", (f"http://{shown}:{port}/?token={token}", "bold"), "   (Ctrl-C stops)")
    try:
        uvicorn.run(create_app(states, token, host, warm=True), host=host, port=port, log_level="warning")
    except SystemExit as exc:  # uvicorn exits when it cannot start: the port was taken after the check
        if exc.code not in (0, None):
            fail(f"port {port} is in use (taken as the explorer started); pick another with --port")
        raise


@app.command()
def explore(
    runs: Annotated[list[Path], typer.Argument(help="A run folder, or two of the same data to compare.")],
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8765,
    host: Annotated[str, typer.Option(help="Address to bind (default: this machine only).")] = "127.0.0.1",
    map_method: Annotated[
        str | None,
        typer.Option(
            "--map",
            help="Which stored map to show (default: umap, tsne, pca; pca is fitted at launch when"
            " not stored); METHOD-3d (umap-3d) opens the run's 3-D map, written by `latentspace map"
            " RUN --dims 3`.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Compare runs of different data anyway.")] = False,
) -> None:
    """Serve the latent explorer in the browser: the map (2-D, or 3-D where the run holds a 3-D map),
    items, neighbours, sliders, interpolation, samples, attribute vectors, and two runs side by side."""
    serve(list(runs), host, port, map_method, force)
