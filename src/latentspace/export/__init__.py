"""A run in the formats of other tools: Embedding Atlas's Parquet (:mod:`.atlas`), the TensorBoard
projector's files (:mod:`.projector`) and AnnData's ``.h5ad`` (:mod:`.h5ad`).

``latentspace.export(run, to="embedding-atlas", out="digits.parquet")`` is the same as
``latentspace export RUN --to embedding-atlas --out digits.parquet``. This module is callable for
the reason ``latentspace.interpret`` is: once this room is imported, Python binds
``latentspace.export`` to it, whatever function held the name.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

from ..errors import InputError

# format -> (what ``out`` is, its suffix); the writers are imported when used
FORMATS = {
    "embedding-atlas": ("file", ".parquet"),
    "projector": ("folder", ""),
    "anndata": ("file", ".h5ad"),
}

__all__ = ["FORMATS", "export", "check_format"]


def check_format(to: str) -> str:
    if to not in FORMATS:
        raise InputError(f"--to must be one of {', '.join(FORMATS)}; got {to!r}")
    return to


def check_out(to: str, out, overwrite: bool = False) -> Path:
    """Refuse ``out`` before any work: an existing file or non-empty folder without ``overwrite``,
    a place inside a run folder, a file whose suffix is not the format's."""
    from ..extras import require
    from ..stages.targets import check_target

    kind, suffix = FORMATS[check_format(to)]
    if to == "anndata":
        require("anndata", "`latentspace export --to anndata`")
    return check_target(out, overwrite, kind=kind, suffixes=(suffix,) if suffix else ())


def export(
    run,
    to: str,
    out: str | Path,
    *,
    map: str | None = None,
    neighbours: int = 15,
    overwrite: bool = False,
) -> dict:
    """Write ``run`` (a Run or its folder) as ``to`` ("embedding-atlas", "projector", "anndata")
    into ``out`` (a .parquet file, a folder, a .h5ad file).

    ``map``: the stored 2-D map given as Embedding Atlas's x/y (default: the preferred stored map,
    else a PCA projection of the latents fitted now); every stored 2-D map goes into an AnnData
    export. ``neighbours``: per item, for Embedding Atlas (the run's stored graph when it holds
    them, else an exact search now; nothing is written into the run). An existing ``out`` is
    replaced only with ``overwrite``; every file appears only when complete.

    Returns ``{"files": [...], "open": how to open them, "notes": [...]}``."""
    from ..runfolder import Run
    from .items import gather

    out = check_out(to, out, overwrite)
    if neighbours < 0:
        raise InputError(f"neighbours must be at least 0; got {neighbours}")
    run = run if isinstance(run, Run) else Run(run)
    data = gather(run, map)
    out.parent.mkdir(parents=True, exist_ok=True)
    if to == "embedding-atlas":
        from .atlas import write_atlas

        result = write_atlas(run, data, out, overwrite, neighbours)
    elif to == "projector":
        from .projector import write_projector

        result = write_projector(run, data, out, overwrite)
    else:
        from .h5ad import write_h5ad

        result = write_h5ad(run, data, out, overwrite)
    result["notes"] = [data.map_note] if data.map_note else []
    return result


class _CallableRoom(types.ModuleType):
    def __call__(self, run, to: str, out, **kw) -> dict:
        """``latentspace.export(run, to=..., out=...)``: :func:`export`."""
        return export(run, to, out, **kw)


sys.modules[__name__].__class__ = _CallableRoom
