"""What tells a person in the explorer whether to trust what they see: the map's per-point layers as
colourings (on the 2-D map and on the 3-D one), how far a decoded point lies from the data, and the
density overlay; and the index of the run's latents that places slider points on the map.

Hooks (each one line): :func:`attach_layers` in ``load_state`` once the state is built,
:func:`add_layer_routes` in ``create_app``, :func:`placed` in the decode and nearest routes (the
slider's ``{z, place: true}``; run in a worker thread), :func:`data_distance` in the inverse route,
``RunState.place`` through ``state.layers.locate``.

Layers never hold up start-up or a request. Layers stored in the map file are read at load; any that
are missing (a map stored without them, a PCA projection fitted at launch, a 3-D map) are computed in
a background thread (:meth:`RunLayers.start`) and offered when ready: ``/layers`` says ``computing``
until then, and the page polls it. Computed layers are stored with a stored map (atomically, in its
file; a sampled distortion is kept in memory only, see ``maps.layers``); those of a map fitted at
launch stay in memory. Past ``FULL_MOST`` rows without a stored kNN graph, the distortion is measured
on a seeded sample (seconds, where building a graph of a million latents takes minutes). Each layer
becomes a numeric column of the page (``layer:<name>``; the reconstruction error is ``error``),
appended to the run's columns when ready, so the numbers of the columns already listed stay valid;
a 3-D map's distortion (the one layer that differs between maps) adds a filter-only column
``layer3d:distortion``.

Routes:

``GET /api/runs/{rid}/layers``
    ``{"status": "ready" | "computing" | "failed", "problem", "layers": [{"name", "key", "title",
    "kind": "numeric", "range": [lo, hi], "good": "high" | "low", "per_map", "explain", "measured",
    "n", "info" (, "mean", "interval": a sample's mean and 95% interval)}], "columns": [the page's
    description of each layer column, with its "index" in ``/api/runs`` ``columns``],
    "typical_distance" (null until known), "k", "off_data_ratio", "stored", "notes", "map3d": null |
    {"method", "status", "problem", "layers": [... against the 3-D map]}}``.
``GET /api/runs/{rid}/layers/{name}?dims=2|3``
    ``{"name", "dims", "values"}``: base64 float32, one per row, NaN where not measured.
``GET /api/runs/{rid}/overlay``
    density contours and captioned regions (``maps.overlay.density_overlay``), computed on the
    first request and kept.

The decode answer with ``place: true``, the nearest answer with ``place: true`` and the inverse
answer carry ``data_distance``: ``{"row", "distance", "typical", "ratio", "off_data", "limit",
"k"}`` (see :meth:`RunLayers.support`); the inverse answer also carries ``map_distance``: how far
the click lies from every item on the map (``RunState.map_support``), where a click far from them
gets a warning of its own (a map's inverse blends the nearest items' latents there).
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from .columns import Column, ColumnData, b64
from .latent_index import LatentIndex
from .requests import Invalid, shown

log = logging.getLogger(__name__)
PLACE_K = 8  # latents whose map positions place a new latent (the first step of UMAP's transform)
FULL_MOST = 200_000  # rows up to which the distortion is measured at every point without a stored graph


class RunLayers:
    """One run's layers in the explorer (``layers``: the 2-D map's, ``layers3d``: the 3-D map's,
    each None until read or computed), its latent index and typical neighbour distance, and the
    density overlay once asked for."""

    def __init__(self, Z: np.ndarray, lmap, layers=None, stored: bool = False, notes=()):
        from ..maps import get_method
        from ..maps.layers import K

        self.lmap = lmap
        self.layers = layers
        self.layers3d = None
        self.status = "ready" if layers is not None else "computing"
        self.status3d = None  # None: no 3-D map; else as status
        self.problem = self.problem3d = None
        self.stored = stored
        self.notes = list(notes)
        self.index = LatentIndex(Z)
        self.exact_place = get_method(lmap.method).exact_transform
        self.k = K if layers is None else layers.k
        self.typical = None if layers is None else layers.typical_distance
        self.thread = None
        self._done = threading.Event()
        self._done.set()
        self._overlay = None
        self._lock = threading.Lock()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background computation (if any); True once it is over."""
        return self._done.wait(timeout)

    # --- placing latents and saying how far they are from the data ------------------------------
    def locate(self, Zq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(map positions (q, dims) float32, nearest real latent (q,), its distance (q,)) of the
        latents ``Zq``: positions exact on PCA maps, else the distance-weighted mean of the positions
        of the ``PLACE_K`` nearest latents."""
        Zq = np.asarray(Zq, np.float32).reshape(-1, self.index.Z.shape[1])
        idx, dist = self.index.query(Zq, PLACE_K)
        if self.exact_place:
            pos = self.lmap.transform(Zq)
        else:
            w = 1.0 / (dist + 1e-6 * (dist.max() + 1e-12))
            w /= w.sum(1, keepdims=True)
            pos = np.einsum("qk,qkd->qd", w, self.lmap.embedding[idx]).astype(np.float32)
        return pos, idx[:, 0], dist[:, 0]

    def support(self, row: int, distance: float) -> dict:
        """How far a latent lies from the data: the nearest real latent (``row``) and its euclidean
        ``distance``; ``typical``, the median distance of a latent to its ``k``-th nearest (the run's
        neighbour spacing; None while it is being computed); ``ratio`` = distance / typical;
        ``off_data`` when the ratio exceeds ``limit`` (``maps.layers.OFF_DATA``)."""
        from ..maps.layers import OFF_DATA

        d, t = float(distance), self.typical
        if t is None:
            ratio, off = None, False
        else:
            ratio = d / t if t > 0 else (0.0 if d == 0 else None)
            off = bool(ratio is None or ratio > OFF_DATA)
        return {
            "row": int(row),
            "distance": d,
            "typical": t,
            "ratio": ratio,
            "off_data": off,
            "limit": OFF_DATA,
            "k": int(self.k),
        }

    # --- what the page lists ---------------------------------------------------------------------
    def describe(self, state=None) -> dict:
        from ..maps.layers import OFF_DATA

        out = {
            "status": self.status,
            "problem": self.problem,
            "layers": _listed(self.layers),
            "typical_distance": self.typical,
            "k": int(self.k),
            "off_data_ratio": OFF_DATA,
            "stored": self.stored,
            "notes": list(self.notes),
            "map3d": None,
        }
        if state is not None:
            cols = state.columns
            keys = {x["key"] for x in out["layers"]}
            keys |= {f"layer3d:{x['name']}" for x in _listed(self.layers3d) if x["per_map"]}
            out["columns"] = [
                {**c.describe(state.column_data(j)), "index": j} for j, c in enumerate(cols) if c.key in keys
            ]
        if self.status3d is not None:
            v = getattr(state, "view3d", None)
            out["map3d"] = {
                "method": None if v is None else v.method,
                "status": self.status3d,
                "problem": self.problem3d,
                "layers": _listed(self.layers3d),
            }
        return out

    def get(self, name: str, dims: int = 2) -> np.ndarray:
        """A layer's values (n,) on the 2-D or the 3-D map, or :class:`Invalid` naming what there is."""
        have = self.layers if dims == 2 else self.layers3d
        status = self.status if dims == 2 else self.status3d
        which = "map" if dims == 2 else "3-D map"
        if have is None or name not in have.values:
            if status == "computing":
                raise Invalid(f"the layers of this run's {which} are being computed; ask again when ready")
            listed = ", ".join(have.values) if have is not None else "none"
            raise Invalid(f"name {shown(name)} is not a layer of this run's {which} (it has: {listed})")
        return have.get(name)

    def overlay(self, state) -> dict:
        """The density contours and captioned regions of the map (computed once)."""
        with self._lock:
            if self._overlay is None:
                from ..maps.overlay import density_overlay

                self._overlay = density_overlay(self.lmap.embedding, caption_columns(state))
            return self._overlay

    # --- the background computation ----------------------------------------------------------------
    def start(self, state, want: set[str], have=None, is_stored: bool = False) -> None:
        """Compute in a background thread what is missing: the 2-D layers ``want`` beyond ``have``
        (the stored ones), the typical neighbour distance, and the 3-D map's layers."""
        self._done.clear()
        if getattr(state.view3d, "method", None):
            self.status3d = "computing"
        self.thread = threading.Thread(
            target=self._run, args=(state, want, have, is_stored), name="latentspace-layers", daemon=True
        )
        self.thread.start()

    def _run(self, state, want, have, is_stored) -> None:
        neighbours = None
        try:
            if self.layers is None:
                layers, neighbours, note = _compute(state, state.lmap, want, have, is_stored, None, None)
                self.notes.append(note)
                publish(state, layers)
            if self.typical is None:  # stored layers without it
                from ..maps.layers import typical_distance

                self.typical = typical_distance(self.index.Z, None, self.k)
        except Exception as exc:  # noqa: BLE001 - said on the page and in the log, never a crash
            log.exception("map layers of %s", state.run.name)
            self.status, self.problem = "failed", f"the map's layers could not be computed: {exc}"
        try:
            if self.status3d is not None:
                m3 = state.view3d.load(state.run)
                layers3d, _, note = _compute(state, m3, want, None, True, neighbours, self.layers)
                self.notes.append(note)
                publish3d(state, layers3d)
        except Exception as exc:  # noqa: BLE001
            log.exception("3-D map layers of %s", state.run.name)
            self.status3d, self.problem3d = "failed", f"the 3-D map's layers could not be computed: {exc}"
        finally:
            self._done.set()


def _listed(layers) -> list[dict]:
    listed = [] if layers is None else layers.describe()
    for x in listed:
        x["key"] = "error" if x["name"] == "error" else f"layer:{x['name']}"
    return listed


def caption_columns(state) -> dict[str, tuple[np.ndarray, list[str]]]:
    """What regions are captioned by: the label, then each metadata column that colours by classes
    (name -> (codes, names))."""
    out = {}
    d = state.data
    if d.y is not None:
        values, codes = np.unique(d.y, return_inverse=True)
        out["label"] = (codes, [d.label_name(v) for v in values])
    for name in state.colour_columns:
        got = state.items.colour_column(name)
        if got is not None and got[0] == "classes" and name not in out:
            out[name] = (got[1], got[2])
    return out


# --- hooks ----------------------------------------------------------------------------------------
def attach_layers(state, wait: bool = False) -> RunLayers:
    """Give a freshly loaded ``state`` (a RunState) its layers: those stored with its map are read
    now; whatever is missing (and the 3-D map's layers) is computed in a background thread, or
    before returning with ``wait``. Each layer becomes a column of the page (see :func:`publish`)."""
    from ..maps.store import load_layers, stored_maps

    _ = state._builtin_columns  # fixed now: layers join as columns of their own, after the built-in ones
    run, m = state.run, state.lmap
    decodes = getattr(state.model, "has_decoder", True)
    want = {"distortion"} | ({"sensitivity"} if decodes else set())
    want |= {"error"} if decodes and run.has_source_data else set()
    is_stored = (m.method, m.dims) in stored_maps(run)  # else best_map fitted a PCA projection now
    have = load_layers(run, m.method, m.dims) if is_stored else None  # checked (a tampered one is refused)
    if have is not None:
        have.dims = m.dims
    done = have is not None and want <= set(have.values)
    state.layers = RunLayers(state.Z, m, have if done else None, stored=done)
    if done:
        publish(state, have)
    if not done or state.layers.typical is None or getattr(state.view3d, "method", None):
        if not done:
            state.layers.notes.append(f"{run.name}: computing its map's layers in the background")
        state.layers.start(state, want, have, is_stored)
        if wait:
            state.layers.wait()
    return state.layers


def _compute(state, m, want, have, is_stored, neighbours, reuse):
    """(the layers ``want`` of map ``m``: ``have`` and those computed now, the latent neighbours
    used, a note saying what was done). Stored with the map where it is stored."""
    from ..errors import RunIntegrityError
    from ..maps import get_method
    from ..maps.layers import Layers, compute_layers
    from ..maps.store import load_layers, map_file, save_layers

    run = state.run
    if have is None and is_stored:
        have = load_layers(run, m.method, m.dims)
    missing = set(want) - (set(have.values) if have is not None else set())
    title = ("3-D " if m.dims == 3 else "") + get_method(m.method).title
    if not missing:
        have.dims = m.dims
        return have, neighbours, f"{run.name}: read its {title} map's layers"
    t0 = time.perf_counter()
    new = compute_layers(
        run,
        m,
        model=state.model,
        data=state.data,
        names=missing,
        neighbours=neighbours,
        reuse=reuse,
        most=FULL_MOST,
    )
    took = time.perf_counter() - t0
    layers = new
    if have is not None:  # the stored ones and the new ones, in one record
        values, info = {**have.values, **new.values}, {**have.info, **new.info}
        layers = Layers(values, info, new.k, new.typical_distance, have.seconds + new.seconds, m.dims)
    names = ", ".join(sorted(missing))
    if not is_stored:
        return (
            layers,
            neighbours,
            f"{run.name}: computed the layers of its {title} projection ({names}) in {took:.1f} s",
        )
    keep = layers.storable()
    note = f"{run.name}: computed its {title} map's layers ({names}) in {took:.1f} s"
    try:
        if keep.values and set(keep.values) != set(have.values if have is not None else ()):
            save_layers(run, m.method, m.dims, keep)
            note += f"; stored in {map_file(m.method, m.dims)}"
    except (OSError, RunIntegrityError) as exc:  # read-only, or changed by another process meanwhile
        note += f"; not stored: {exc}"
    return layers, neighbours, note


def publish(state, layers) -> None:
    """Make computed ``layers`` the state's: the reconstruction error becomes ``state.error`` and the
    ``error`` column, distortion and sensitivity the columns ``layer:<name>``, each appended to the
    run's columns (those already listed keep their numbers)."""
    from ..maps.layers import ABOUT

    have = {c.key for c in state.columns}
    state.layers.k = layers.k
    if layers.typical_distance is not None:
        state.layers.typical = float(layers.typical_distance)
    for entry in layers.describe():
        name = entry["name"]
        key = "error" if name == "error" else f"layer:{name}"
        if key in have:
            continue
        values = layers.get(name)
        group = "model" if name == "error" else "layer"
        col = Column(
            key,
            ABOUT[name]["title"],
            "number",
            lambda v=values: ColumnData.numbers(v),
            entry["explain"],
            group=group,
            search=False,
        )
        state.extra_columns.append(col)
    if "error" in layers:
        state.error = layers.get("error")
    state.layers.layers = layers
    state.layers.status = "ready"


def publish3d(state, layers) -> None:
    """Make the 3-D map's ``layers`` the state's; those that differ between maps (distortion) also
    become columns ``layer3d:<name>`` that filter but do not colour (choosing ``layer:<name>`` in the
    3-D view already colours by the 3-D map's values), so a filter says which map it measures."""
    from ..maps.layers import ABOUT

    have = {c.key for c in state.columns}
    for entry in layers.describe():
        name, key = entry["name"], f"layer3d:{entry['name']}"
        if not entry["per_map"] or key in have:
            continue
        values = layers.get(name)
        col = Column(
            key,
            f"3-D {ABOUT[name]['title']}",  # the card's title is cut: the map first
            "number",
            lambda v=values: ColumnData.numbers(v),
            entry["explain"],
            group="layer",
            colour=False,
            search=False,
        )
        state.extra_columns.append(col)
    state.layers.layers3d = layers
    state.layers.status3d = "ready"


def placed(state, z: np.ndarray) -> dict:
    """The slider's answer beside the decoded item: the latent's map ``position`` and its
    ``data_distance`` (see :meth:`RunLayers.support`). Called in a worker thread."""
    return placed_many(state, np.asarray(z, np.float32)[None])[0]


def placed_many(state, Z: np.ndarray) -> list[dict]:
    """:func:`placed` of each row of ``Z`` (q, k), with one scan of the latents for all of them."""
    pos, row, dist = state.layers.locate(np.asarray(Z, np.float32))
    return [
        {"position": p.astype(np.float64).tolist(), "data_distance": state.layers.support(r, d)}
        for p, r, d in zip(pos, row, dist, strict=True)
    ]


def data_distance(state, z: np.ndarray) -> dict:
    """How far the latent ``z`` lies from the nearest real latent (see :meth:`RunLayers.support`)."""
    idx, dist = state.layers.index.query(np.asarray(z, np.float32)[None], 1)
    return state.layers.support(idx[0, 0], dist[0, 0])


def add_layer_routes(api, state) -> None:
    """``GET /api/runs/{rid}/layers``, ``/layers/{name}`` and ``/overlay``; ``state(rid)`` gives a
    run's RunState (or 404)."""
    import asyncio

    @api.get("/api/runs/{rid}/layers")
    async def layers(rid: int):
        s = state(rid)
        return s.layers.describe(s)

    @api.get("/api/runs/{rid}/layers/{name}")
    async def layer(rid: int, name: str, dims: int = 2):
        s = state(rid)
        if dims not in (2, 3):
            raise Invalid(f"dims must be 2 or 3; got {shown(dims)}")
        values = s.layers.get(name, dims)
        return {"name": name, "dims": dims, "values": b64(values.astype(np.float32))}

    @api.get("/api/runs/{rid}/overlay")
    async def overlay(rid: int):
        s = state(rid)
        return await asyncio.get_running_loop().run_in_executor(None, s.layers.overlay, s)
