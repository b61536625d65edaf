"""The map-method registry: every map method is found by name, everywhere (CLI, run folder, report,
explorer), as models are in ``models/registry.py``.

A method is a :class:`MapMethod` subclass declaring its parameters once (default and rule), how many
neighbours it takes from the shared kNN graph, and how it fits, places new latents and goes back from
map positions to latents. Method modules are imported on first use, so listing names is cheap.
"""

from __future__ import annotations

import difflib
import importlib
from typing import ClassVar

import numpy as np

from ..errors import InputError

# name -> module that registers it on import; the order is the order of preference for showing a
# map when a run has several (the first faithful to neighbourhoods, PCA last)
_MODULES: dict[str, str] = {
    "umap": "latentspace.maps.umap",
    "tsne": "latentspace.maps.tsne",
    "pca": "latentspace.maps.pca",
}
_METHODS: dict[str, MapMethod] = {}


class MapMethod:
    """One way of mapping latents to 2-D or 3-D. Subclasses set the class attributes and ``fit``."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""  # how people write it: "UMAP", "t-SNE"
    # parameter -> (default, rule from models.params); the defaults are the libraries' own
    params: ClassVar[dict[str, tuple]] = {}
    # True when new latents are placed exactly and cheaply (a linear map): the explorer uses it as is
    exact_transform: ClassVar[bool] = False

    def graph_k(self, params: dict, n: int) -> int:
        """How many neighbours per point the method takes from the shared graph (0: none)."""
        return 0

    def check(self, Z: np.ndarray, dims: int) -> None:
        """Refuse latents the method cannot map to ``dims`` dimensions (one line, what is allowed)."""

    def fit(self, Z: np.ndarray, graph, dims: int, seed: int, params: dict) -> tuple[np.ndarray, dict]:
        """(embedding (n, dims) float32, state to keep with the map) for latents ``Z``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def transform(self, m, Znew: np.ndarray) -> np.ndarray:
        """Positions of new latents on the fitted map ``m`` (a LatentMap)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def inverse(self, m, points: np.ndarray, k: int = 8) -> np.ndarray:
        """Latent vectors for map positions: a Gaussian-weighted mean of the latents of the ``k``
        nearest map points (bandwidth: the distance to the nearest of them, at least a tenth of the
        mean neighbour spacing)."""
        from ..knn import nearest

        k = min(int(k), len(m.Z))
        idx, dist = nearest(m.embedding, points, k)
        h = np.maximum(dist[:, :1], 0.1 * _spacing(m))
        w = np.exp(-0.5 * (dist / h) ** 2)
        w /= w.sum(1, keepdims=True)
        return np.einsum("qk,qkd->qd", w, m.Z[idx]).astype(np.float32)


def _spacing(m) -> float:
    """Mean distance from a map point to its nearest other point (1,000 probes), kept in the map."""
    if "spacing" not in m.state:
        from ..knn import nearest

        rng = np.random.default_rng(0)
        probe = m.embedding[rng.choice(len(m.embedding), min(1000, len(m.embedding)), replace=False)]
        _, d = nearest(m.embedding, probe, 2)
        m.state["spacing"] = float(np.mean(d[:, 1])) or 1.0
    return m.state["spacing"]


def threads() -> int:
    """Threads for the map libraries' ``n_jobs``: the same setting as the kNN work's (numba's,
    ``NUMBA_NUM_THREADS`` or ``numba.set_num_threads``; by default the cores available)."""
    from ..knn.parallel import threads as knn_threads

    return knn_threads()


def register(cls: type[MapMethod]) -> type[MapMethod]:
    """Class decorator: make a map method available under its ``name``."""
    _METHODS[cls.name] = cls()
    _MODULES.setdefault(cls.name, cls.__module__)
    return cls


def available_methods() -> list[str]:
    """Names of every map method, in the order of preference for showing one."""
    return list(_MODULES)


def get_method(name: str) -> MapMethod:
    """The method registered as ``name``; an unknown name lists the valid ones."""
    if name not in _METHODS:
        if name not in _MODULES:
            close = difflib.get_close_matches(str(name), list(_MODULES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"map method must be one of {', '.join(sorted(_MODULES))}; got {name!r}{hint}")
        importlib.import_module(_MODULES[name])
    return _METHODS[name]


def check_params(method: str, params: dict) -> dict:
    """Defaults filled in and every value checked, naming the parameter and its allowed values."""
    rules = get_method(method).params
    unknown = sorted(set(params) - set(rules))
    if unknown:
        allowed = ", ".join(rules) or "none"
        raise InputError(f"{method} maps take no parameter {unknown[0]!r}; allowed: {allowed}")
    out = {}
    for name, (default, rule) in rules.items():
        value = params.get(name, default)
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        problem = rule.check(value)
        if problem:
            raise InputError(f"{method} parameter {name} must be {problem}; got {value!r}")
        out[name] = value
    return out


def preferred(names) -> str | None:
    """Of the given method names, the one to show first (None when there are none)."""
    order = available_methods()
    names = sorted(set(names), key=lambda n: order.index(n) if n in order else len(order))
    return names[0] if names else None
