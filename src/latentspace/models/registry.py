"""The model registry: every model is found by name, everywhere (CLI, run folder, explorer).

Families are imported lazily, so listing names does not import torch. Two kinds of family: those
``latentspace fit`` trains on data (``kind="fit"``), and those that hold a latent space brought
from elsewhere (``kind="import"``: vectors with no model, a user's ONNX networks, wrapped callables),
which ``latentspace import`` and :func:`latentspace.wrap` create.

Other packages add families through the entry-point group ``latentspace.models`` (in their
pyproject: ``[project.entry-points."latentspace.models"] mymodel = "mypackage.models:MyModel"``).
Their names are read from the installed packages' metadata, so listing them imports nothing; a
plugin is imported when its model is first used, and one that cannot be (an import error, not a
:class:`LatentModel`, a name latentspace already uses) is reported by name and leaves the others
working.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from dataclasses import dataclass, replace
from importlib import metadata

from ..errors import InputError

log = logging.getLogger(__name__)
PLUGIN_GROUP = "latentspace.models"
PACKAGE = "latentspace"  # where the built-in families come from, as `latentspace models` says

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
    "onnx": "latentspace.models.onnx",
    "wrapped": "latentspace.models.wrapped",
}
_MODULES.update(_IMPORTED)
_BUILTIN = frozenset(_MODULES)
_CLASSES: dict[str, type] = {}


@dataclass(frozen=True)
class Plugin:
    """A model family another package registers: its entry point, read without importing it."""

    name: str
    target: str  # "module:Class"
    package: str  # the distribution that declares it
    problem: str | None = None  # why it cannot be used, when that shows without importing it

    def refuse(self, why: str) -> InputError:
        return InputError(f"model plugin {self.name!r} from {self.package} ({self.target}) {why}")


_plugins: dict[str, Plugin] | None = None


def plugins(refresh: bool = False) -> dict[str, Plugin]:
    """The model families of installed plugins by name, from their metadata (nothing is imported).

    A plugin that takes a built-in's name, or one another plugin took first, is kept (under
    ``"name (package)"``) with its ``problem`` and a logged warning, and is never loaded; so is one
    whose entry point names no class. ``refresh`` reads the metadata again (after installing a
    plugin in a running session)."""
    global _plugins
    if _plugins is None or refresh:
        found: dict[str, Plugin] = {}
        clashes: list[Plugin] = []
        for ep in metadata.entry_points(group=PLUGIN_GROUP):
            dist = getattr(ep, "dist", None)
            plugin = Plugin(ep.name, ep.value, dist.name if dist is not None else "an unknown package")
            if ep.name in _BUILTIN:
                clashes.append(replace(plugin, problem=f"the name {ep.name!r} is latentspace's own"))
                continue
            if ep.name in found:
                taken = f"the name {ep.name!r} is taken by {found[ep.name].package}"
                clashes.append(replace(plugin, problem=taken))
                continue
            elif ":" not in ep.value:
                plugin = replace(plugin, problem="must name its class as module:Class")
            found[ep.name] = plugin
        for plugin in [p for p in found.values() if p.problem] + clashes:
            log.warning("%s; it is not loaded", plugin.refuse(f"is ignored: {plugin.problem}"))
        _plugins = {**{f"{p.name} ({p.package})": p for p in clashes}, **found}
    return _plugins


def _usable_plugins() -> list[str]:
    return [name for name, p in plugins().items() if p.problem is None]


def register(name: str):
    """Class decorator: make a model available as ``name``."""

    def deco(cls: type) -> type:
        owner = _MODULES.get(name)
        if name in _BUILTIN and owner != cls.__module__:
            raise InputError(
                f"cannot register {cls.__name__} as {name!r}: the name is latentspace's own ({owner})"
            )
        cls.model_name = name
        _CLASSES[name] = cls
        _MODULES.setdefault(name, cls.__module__)
        return cls

    return deco


def available_models(kind: str | None = None) -> list[str]:
    """Names of the registered models: every one, or only those ``latentspace fit`` trains
    (``kind="fit"``) or those holding a latent space brought from elsewhere (``kind="import"``)."""
    names = set(_MODULES) | set(_CLASSES) | set(_usable_plugins())
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
    """The class registered as ``name`` (a plugin's is imported here, on first use); an unknown name
    lists the valid ones, and a plugin that cannot be loaded says why, naming it and its package."""
    if name not in _CLASSES:
        if name in _MODULES:
            importlib.import_module(_MODULES[name])
        elif name in plugins():
            return _load_plugin(plugins()[name])
        else:
            close = difflib.get_close_matches(name, available_models(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"unknown model {name!r}{hint}; available: {', '.join(available_models())}")
    return _CLASSES[name]


def _load_plugin(plugin: Plugin) -> type:
    from .base import LatentModel

    if plugin.problem:
        raise plugin.refuse(f"is ignored: {plugin.problem}")
    module, _, attr = plugin.target.partition(":")
    try:
        obj = importlib.import_module(module.strip())
        for part in attr.strip().split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # noqa: BLE001 - whatever a third party's import raises
        text = " ".join(str(exc).split())[:300]
        raise plugin.refuse(f"cannot be loaded: {type(exc).__name__}: {text}") from None
    if not (isinstance(obj, type) and issubclass(obj, LatentModel)):
        raise plugin.refuse("is not a latentspace model (a subclass of latentspace.models.LatentModel)")
    own = obj.__dict__.get("model_name")
    if own and own != plugin.name:
        raise plugin.refuse(f"registers its class as {own!r}; the entry point names it {plugin.name!r}")
    obj.model_name = plugin.name
    _CLASSES[plugin.name] = obj
    return obj


def model_source(name: str) -> str:
    """The package a model family comes from: ``latentspace`` for the built-ins, the distribution
    for a plugin's, the module for a class registered in a session (:func:`register`)."""
    if name in _BUILTIN:
        return PACKAGE
    if name in plugins():
        return plugins()[name].package
    return _MODULES.get(name, "?").partition(".")[0]


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
