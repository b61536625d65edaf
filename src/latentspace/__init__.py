"""latentspace: learn, measure, map and steer the latent space of a dataset.

>>> import latentspace as ls
>>> ds = ls.load_data("digits")
>>> run = ls.fit(ds, "pca", latent_dim=8, out="runs/digits-pca")   # doctest: +SKIP
>>> Z = run.load_model().encode(ds.X)                                 # doctest: +SKIP

The names below are imported on first use (PEP 562), so ``import latentspace`` stays light: a
command that only reads a run folder never pays for torch or scikit-learn.
"""

from __future__ import annotations

import importlib
from importlib import metadata as _metadata
from typing import TYPE_CHECKING

from .errors import InputError, LatentspaceError, MissingDependencyError, RunIntegrityError

try:
    __version__ = _metadata.version("latentspace")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

# public name -> (module, attribute)
_LAZY = {
    "Dataset": ("latentspace.data", "Dataset"),
    "load_data": ("latentspace.data", "load"),
    "PCA": ("latentspace.models.pca", "PCA"),
    "available_models": ("latentspace.models", "available_models"),
    "create_model": ("latentspace.models", "create_model"),
    "get_model_class": ("latentspace.models", "get_model_class"),
    "register": ("latentspace.models", "register"),
    "fit": ("latentspace.stages.fit", "fit"),
    "encode": ("latentspace.stages.encode", "encode"),
    "interpret": ("latentspace.interpret", None),  # the room itself, callable: ls.interpret(run)
    "import_embeddings": ("latentspace.stages.imports", "import_embeddings"),
    "from_embeddings": ("latentspace.stages.imports", "from_embeddings"),
    "Run": ("latentspace.runfolder", "Run"),
    "open_run": ("latentspace.runfolder", "open_run"),
    "wrap": ("latentspace.models.wrapped", "wrap"),
    "show": ("latentspace.notebook", "show"),
    "export": ("latentspace.export", None),  # the room itself, callable: ls.export(run, to=, out=)
}

__all__ = [
    "Dataset",
    "load_data",
    "PCA",
    "available_models",
    "create_model",
    "get_model_class",
    "register",
    "fit",
    "encode",
    "interpret",
    "import_embeddings",
    "from_embeddings",
    "Run",
    "open_run",
    "wrap",
    "show",
    "export",
    "LatentspaceError",
    "InputError",
    "RunIntegrityError",
    "MissingDependencyError",
    "__version__",
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'latentspace' has no attribute {name!r}")
    module, attr = _LAZY[name]
    found = importlib.import_module(module)
    value = found if attr is None else getattr(found, attr)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from . import export, interpret
    from .data import Dataset
    from .data import load as load_data
    from .models import available_models, create_model, get_model_class, register
    from .models.pca import PCA
    from .models.wrapped import wrap
    from .notebook import show
    from .runfolder import Run, open_run
    from .stages.encode import encode
    from .stages.fit import fit
    from .stages.imports import from_embeddings, import_embeddings
