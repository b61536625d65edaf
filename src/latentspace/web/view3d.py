"""The explorer's 3-D view: which maps a run holds, the 3-D map the page may show, and its route.

``explore RUN --map umap-3d`` opens the run's stored 3-D UMAP map (``latentspace map RUN --dims 3``)
first; without it, a run that holds a 3-D map gets a 2-D/3-D switch on the page. The 2-D map stays
the one the rest of the explorer works in (clicks on empty space, paths, placed points), chosen as
before by ``maps.store.best_map``: the same method as the 3-D map where that is stored.

Hooks: :func:`prepare` in ``load_state`` (before the 2-D map is chosen), ``state.view3d = ...``
after the state is built, :func:`describe` in ``RunState.describe``, :func:`add_routes` in
``create_app``.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from dataclasses import dataclass, field

import numpy as np

from .requests import Invalid


def split_map_name(name: str | None) -> tuple[str | None, int]:
    """``--map`` as (method, dims): ``umap`` is the 2-D UMAP map, ``umap-3d`` the 3-D one (case
    aside); a method that does not exist is refused in one line naming those that do."""
    from ..errors import InputError
    from ..maps.registry import available_methods

    if name is None:
        return None, 2
    method, dims = name.strip().lower(), 2
    for d in (2, 3):
        if method.endswith(f"-{d}d"):
            method, dims = method[:-3], d
    if method not in available_methods():
        known = ", ".join(sorted(available_methods()))
        raise InputError(
            f"--map must be a map method ({known}), with -3d for a 3-D map (umap-3d); got {name!r}"
        )
    return method, dims


@dataclass
class View3D:
    """What the page needs to know about a run's maps, and its 3-D map once read."""

    maps: list[tuple[str, int]]  # (method, dims) of every stored map
    method: str | None  # the 3-D map the page may show; None: no 3-D view
    view: str = "2d"  # the view the page opens in
    map: object = None  # the 3-D LatentMap, read on first use (or at start-up when asked for)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> dict:
        maps = [{"method": m, "dims": d} for m, d in self.maps]
        return {"maps": maps, "map3d": self.method, "view": self.view}

    def load(self, run):
        """The 3-D map (a broken one is a RunIntegrityError: 409 on the page)."""
        from ..maps.store import best_map

        if self.method is None:
            raise Invalid(f"{run.name} has no 3-D map: run `latentspace map {run.path} --dims 3` first")
        with self.lock:
            if self.map is None:
                self.map = best_map(run, 3, self.method)[0]
        return self.map


def prepare(run, map_method: str | None) -> tuple[str | None, View3D]:
    """(the 2-D map method to ask ``best_map`` for, the run's :class:`View3D`). ``METHOD-3d`` reads
    the 3-D map now, so a missing or broken one is refused at start-up with one line."""
    from ..maps.registry import preferred
    from ..maps.store import best_map, stored_maps

    method, dims = split_map_name(map_method)
    maps = stored_maps(run)
    flat = [m for m, d in maps if d == 2]
    deep = [m for m, d in maps if d == 3]
    if dims == 3:
        lm3, _ = best_map(run, 3, method)
        return (method if method in flat else None), View3D(maps, method, "3d", lm3)
    shown = method or preferred(flat)  # the 2-D map best_map will pick
    return method, View3D(maps, shown if shown in deep else preferred(deep))


def describe(state) -> dict:
    """The maps part of a run's description (a state built without :func:`prepare` has no 3-D view)."""
    v = getattr(state, "view3d", None)
    return v.describe() if v is not None else {"maps": [], "map3d": None, "view": "2d"}


def add_routes(api, state) -> None:
    """``GET /api/runs/{rid}/map3d``: the 3-D map's x, y, z (float32, base64), read on first use in
    a worker thread. ``state(rid)`` gives the run's state (404 for an unknown run)."""

    @api.get("/api/runs/{rid}/map3d")
    async def map3d_data(rid: int):
        s = state(rid)
        v = getattr(s, "view3d", None) or View3D([], None)
        m = await asyncio.get_running_loop().run_in_executor(None, v.load, s.run)
        enc = lambda a: base64.b64encode(np.ascontiguousarray(a, np.float32).tobytes()).decode()  # noqa: E731
        emb = m.embedding
        return {"method": m.method, "x": enc(emb[:, 0]), "y": enc(emb[:, 1]), "z": enc(emb[:, 2])}
