"""Optional parts of latentspace and the packages each needs (the extras of ``pyproject.toml``).

A feature that needs an extra calls :func:`require` before any work, so a missing package is one
line naming the extra and the command that installs it (``MissingDependencyError``; the CLI shows it
with exit code 2), never an ``ImportError`` from deep inside a dependency::

    require("explorer", "`latentspace explore`")
    # -> `latentspace explore` needs the explorer extra: pip install 'latentspace[explorer]'
    #    (missing: fastapi)

Availability is read with ``importlib.util.find_spec``: nothing is imported here, so checking costs
no start-up time.
"""

from __future__ import annotations

import importlib.util

from .errors import InputError, MissingDependencyError

# extra -> the import names it provides (the modules a feature imports; pyproject.toml lists the
# distributions and their versions)
EXTRAS: dict[str, tuple[str, ...]] = {
    "explorer": ("fastapi", "uvicorn"),
    "dask": ("dask", "distributed"),
    "onnx": ("onnxruntime",),
    "anndata": ("anndata",),
    "notebook": ("anywidget",),
}


def install_command(extra: str) -> str:
    return f"pip install 'latentspace[{extra}]'"


def missing(extra: str) -> list[str]:
    """The import names of ``extra`` that cannot be found (empty when the extra is installed)."""
    if extra not in EXTRAS:
        raise InputError(f"unknown extra {extra!r}; the extras are {', '.join(EXTRAS)}")
    out = []
    for name in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken or half-removed installation
            found = False
        if not found:
            out.append(name)
    return out


def available(extra: str) -> bool:
    return not missing(extra)


def require(extra: str, feature: str) -> None:
    """Raise ``MissingDependencyError`` naming ``extra`` when a package of it is missing.

    ``feature`` says what needs it, as the user asked for it (``"`latentspace explore`"``,
    ``"--dask"``, ``"ls.show"``)."""
    gone = missing(extra)
    if gone:
        raise MissingDependencyError(
            f"{feature} needs the {extra} extra: {install_command(extra)} (missing: {', '.join(gone)})"
        )
