"""Atomic file writes: a temporary file in the same folder, fsync, then rename over the target.

A reader (or a crash) sees either the old file or the complete new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError

_HASH_BLOCK = 1 << 20


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # mkstemp makes 0600 files; finished files get the usual mode


def _publish(tmp: str, path: Path, replace: bool) -> None:
    os.chmod(tmp, _FILE_MODE)
    if replace:
        os.replace(tmp, path)
        return
    try:  # a hard link fails if the name exists: a file that appeared meanwhile is never replaced
        os.link(tmp, path)
        os.unlink(tmp)
        return
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: check, then rename
        if not os.path.lexists(path):
            os.replace(tmp, path)
            return
    raise InputError(f"{path} already exists (it appeared while it was being written); nothing was replaced")


def fsync_dir(path: Path) -> None:
    """Flush a folder's entry table so a rename inside it survives a crash (POSIX only)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path, *, replace: bool = True) -> Iterator[str]:
    """Yield a temporary path in ``path``'s folder; once the block has written it, fsync it and
    rename it over ``path``. On any error the temporary file is removed and ``path`` is untouched.

    ``replace=False``: a file at ``path`` (one that appeared after the caller checked) is kept and
    :class:`~latentspace.errors.InputError` raised instead."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        _publish(tmp, path, replace)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write(path: str | Path, data: bytes, *, replace: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically and return the path (``replace``: see :func:`atomic_path`)."""
    with atomic_path(path, replace=replace) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_json(path: str | Path, obj) -> Path:
    return atomic_write(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_write_parquet(path: str | Path, table, *, row_group_size: int = 65536) -> Path:
    """Write a pyarrow Table to Parquet atomically."""
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=row_group_size)
    return Path(path)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            h.update(block)
    return h.hexdigest()
