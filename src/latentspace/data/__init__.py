"""The data layer: :class:`Dataset`, built-in sets and file readers behind one :func:`load`."""

from __future__ import annotations

import difflib
from pathlib import Path

from ..errors import InputError
from .builtin import BUILTINS, load_builtin
from .dataset import Dataset
from .files import SUPPORTED, read_path
from .validate import check_array

__all__ = ["Dataset", "BUILTINS", "load", "load_builtin", "read_path", "check_array", "from_spec"]


def load(source: str | Path, *, label_col: str | None = None, **args) -> Dataset:
    """Load a built-in dataset by name (``"mnist"``, ``"shapes"``...) or a file or folder by path.

    Extra keyword arguments go to the built-in (``n=``, ``size=``, ``seed=``).
    """
    name = str(source)
    if name in BUILTINS and not Path(name).exists():
        if label_col is not None:
            raise InputError(f"--label-col applies to files; {name!r} is a built-in dataset")
        return load_builtin(name, **args)
    if Path(name).exists():
        if args:
            raise InputError(f"dataset arguments {sorted(args)} apply to built-ins, not to files")
        return read_path(name, label_col=label_col)
    close = difflib.get_close_matches(name, list(BUILTINS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InputError(
        f"unknown dataset {name!r}{hint}: not a built-in ({', '.join(BUILTINS)})"
        f" and no file or folder by that name; files can be {SUPPORTED}"
    )


def from_spec(spec: dict) -> Dataset:
    """Load the data a run was fitted on, from the ``spec`` stored in its config."""
    if "builtin" in spec:
        return load_builtin(spec["builtin"], **spec.get("args", {}))
    return read_path(spec["path"], label_col=spec.get("label_col"))
