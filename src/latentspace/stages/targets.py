"""Where a command may write: one check of every output (a file, a folder or a run folder), made
before any long work.

A target that exists is replaced only when the caller says ``overwrite``; nothing is ever written
inside a run folder (a folder holding a run's ``config.json``) except by the stages that record
their files there (``evaluate``, ``map``, ``report`` through :meth:`Run.write_file`); a file's suffix
must name the format that is written into it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from ..runfolder import check_destination
from ..runfolder.folder import CONFIG, LATENTS, MODEL

_CONFIG_MAX_BYTES = 16 << 20  # a run's config is a few KiB; larger JSON is someone else's


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a latentspace run: a ``config.json`` beside the run's model or
    latents, or one that records a run's checksums (a damaged run is still a run)."""
    cfg = folder / CONFIG
    if not cfg.is_file():
        return False
    if (folder / MODEL).exists() or (folder / LATENTS).exists():
        return True
    try:
        if cfg.stat().st_size > _CONFIG_MAX_BYTES:
            return False
        config = json.loads(cfg.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(config, dict) and "config_sha256" in config and "schema_version" in config


def run_holding(path: str | Path) -> Path | None:
    """The run folder that ``path`` lies in (at any depth, links followed), or None."""
    for folder in Path(path).resolve().parents:
        if is_run_folder(folder):
            return folder
    return None


def check_target(
    path: str | Path,
    overwrite: bool = False,
    *,
    kind: str = "file",
    suffixes: Sequence[str] = (),
    option: str = "--out",
) -> Path:
    """Refuse a target before any work is done; return it as a Path.

    Parameters
    ----------
    path : the file or folder about to be written.
    overwrite : whether an existing target may be replaced (``--overwrite``).
    kind : ``"file"``; ``"folder"`` (a folder whose files are written or replaced: it must be
        empty or absent unless ``overwrite``); ``"run"`` (a run folder that ``fit`` writes whole:
        only a run, or an empty folder, is ever replaced).
    suffixes : for a file, the suffixes whose format is written (lower case, with the dot).
    option : the option that named the target, for the message.
    """
    path = Path(path)
    holder = run_holding(path)
    if holder is not None:
        raise InputError(
            f"{option} {path} is inside the run folder {holder}, which only latentspace writes;"
            " choose a place outside it"
        )
    if kind == "file":
        if path.is_dir():
            raise InputError(f"{option} {path} is a folder; name a file")
        if suffixes and path.suffix.lower() not in suffixes:
            raise InputError(
                f"{option} must end in {' or '.join(suffixes)} (the format written follows the suffix);"
                f" got {path.name}"
            )
    elif path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is a file; name a folder")
    if kind == "run":
        return check_destination(path, overwrite)
    exists = path.exists() and (kind == "file" or any(path.iterdir()))
    if exists and not overwrite:
        raise InputError(f"{path} already exists; choose another {option} or pass --overwrite to replace it")
    return path
