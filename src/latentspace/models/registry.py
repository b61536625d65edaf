"""The model registry: every model is found by name, everywhere (CLI, run folder, explorer).

Families are imported lazily, so listing names does not import torch. Two kinds of family: those
``latentspace fit`` trains on data (``kind="fit"``), and those that hold a latent space brought
from elsewhere (``kind="import"``: vectors with no model, a user's ONNX networks, wrapped callables),
which ``latentspace import`` and :func:`latentspace.wrap` create.
"""

from __future__ import annotations

import difflib
import importlib

from ..errors import InputError

# name -> module that registers it on import
_MODULES: dict[str, str] = {
    "pca": "latentspace.models.pca",
    "ae": "latentspace.models.autoencoder",
    "dae": "latentspace.models.autoencoder",
    "vae": "latentspace.models.vae",
    "beta_vae": "latentspace.models.vae",
    "gan": "latentspace.models.gan",
}
# families that are not fitted from data but hold a latent space made elsewhere
_IMPORTED: dict[str, str] = {
    "embeddings": "latentspace.models.embeddings",
}
_MODULES.update(_IMPORTED)
_CLASSES: dict[str, type] = {}


def register(name: str):
    """Class decorator: make a model available as ``name``."""

    def deco(cls: type) -> type:
        cls.model_name = name
        _CLASSES[name] = cls
        _MODULES.setdefault(name, cls.__module__)
        return cls

    return deco


def available_models(kind: str | None = None) -> list[str]:
    """Names of the registered models: every one, or only those ``latentspace fit`` trains
    (``kind="fit"``) or those holding a latent space brought from elsewhere (``kind="import"``)."""
    names = set(_MODULES) | set(_CLASSES)
    if kind == "fit":
        names -= set(_IMPORTED)
    elif kind == "import":
        names &= set(_IMPORTED)
    elif kind is not None:
        raise InputError(f"kind must be 'fit', 'import' or None; got {kind!r}")
    return sorted(names)


def is_imported(name: str) -> bool:
    """Whether ``name`` holds a latent space made elsewhere (not trained by ``fit``)."""
    return name in _IMPORTED


def get_model_class(name: str) -> type:
    """The class registered as ``name``; an unknown name lists the valid ones."""
    if name not in _CLASSES:
        if name not in _MODULES:
            close = difflib.get_close_matches(name, available_models(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"unknown model {name!r}{hint}; available: {', '.join(available_models())}")
        importlib.import_module(_MODULES[name])
    return _CLASSES[name]


def create_model(name: str, latent_dim: int | None = None, **params):
    """Instantiate model ``name``; ``latent_dim`` goes to the family's own latent-size parameter.

    The parameters are checked as ``fit`` checks them, and neural networks against the bound on
    their size (models/config.py's ``MAX_PARAMETERS``), before anything is allocated: a bad value
    raises :class:`InputError` naming the parameter and what is allowed.
    """
    cls = get_model_class(name)
    if latent_dim is not None:
        params[cls.latent_param] = latent_dim
    valid = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise InputError(
            f"model {name!r} has no parameter {', '.join(unknown)}; parameters: {', '.join(valid)}"
        )
    model = cls(**params)
    model.check_params()
    return model
