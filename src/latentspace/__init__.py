"""latentspace: learn, measure, map and steer the latent space of a dataset.

>>> import latentspace as ls
>>> ds = ls.load_data("digits")
>>> run = ls.fit(ds, "pca", latent_dim=8, out="runs/digits-pca")   # doctest: +SKIP
>>> Z = run.load_model().encode(ds.X)                                 # doctest: +SKIP
"""

from __future__ import annotations

from importlib import metadata as _metadata

from .data import Dataset
from .data import load as load_data
from .errors import InputError, LatentspaceError, MissingDependencyError, RunIntegrityError
from .models import available_models, create_model, get_model_class, register
from .models.pca import PCA
from .runfolder import Run, open_run
from .stages.encode import encode
from .stages.fit import fit

try:
    __version__ = _metadata.version("latentspace")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

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
    "Run",
    "open_run",
    "LatentspaceError",
    "InputError",
    "RunIntegrityError",
    "MissingDependencyError",
    "__version__",
]
