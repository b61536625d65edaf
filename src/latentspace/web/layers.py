"""What tells a person in the explorer whether to trust what they see: the map's per-point layers as
colourings, how far a decoded point lies from the data, and the density overlay; and the index of
the run's latents that places slider points on the map.

Hooks (each one line): :func:`attach_layers` in ``load_state`` once the state is built,
:func:`add_layer_routes` in ``create_app``, :func:`placed` in the decode and nearest routes (the
slider's ``{z, place: true}``; run in a worker thread), :func:`data_distance` in the inverse route,
``RunState.place`` through ``state.layers.locate``.

Layers (``maps.layers``) are read from the map file; a stored map without them gets them computed
on its first explore and stored with it (``latentspace layers RUN`` does the same ahead of time); a
map that is not stored (a PCA projection fitted at launch) gets them computed in memory. Each
becomes a numeric column ``layer:<name>`` of the page's colour-by list (``web.columns``), except
the reconstruction error, which is the built-in ``error`` column, now read instead of decoded at
every start-up.

Routes:

``GET /api/runs/{rid}/layers``
    ``{"layers": [{"name", "key", "title", "kind": "numeric", "range": [lo, hi], "good": "high" |
    "low", "explain", "measured", "n", "info"}], "typical_distance", "k", "off_data_ratio",
    "stored", "notes"}``; ``key`` is the column's key in ``/api/runs`` ``columns``.
``GET /api/runs/{rid}/layers/{name}``
    ``{"name", "values"}``: base64 float32, one per row, NaN where not measured.
``GET /api/runs/{rid}/overlay``
    density contours and captioned regions (``maps.overlay.density_overlay``), computed on the
    first request and kept.

The decode answer with ``place: true``, the nearest answer with ``place: true`` and the inverse
answer carry ``data_distance``: ``{"row", "distance", "typical", "ratio", "off_data", "limit",
"k"}`` (see :meth:`RunLayers.support`).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from .columns import Column, ColumnData, b64
from .requests import Invalid, shown

PLACE_K = 8  # latents whose map positions place a new latent (the first step of UMAP's transform)
_SPARE = 8  # float32 candidates beyond k, re-ranked in float64


class LatentIndex:
    """The run's latents, indexed once at load, for the explorer's hot path (a slider move places
    one latent): ``query(points, k)`` gives the k nearest rows of each point, (indices (q, k)
    int64, distances (q, k) float32), nearest first, equal distances by row. The scan runs in
    numba without the GIL (so concurrent requests run side by side in the thread pool); float32
    candidates are re-ranked by float64 distances. Cost: one pass over n x d floats per point
    (0.2-0.4 ms at 70,000 x 16)."""

    def __init__(self, Z: np.ndarray):
        from . import _kernels

        self.Z = np.ascontiguousarray(Z, np.float32)
        self._scan = _kernels.scan
        self.query(self.Z[:1], 1)  # compile (or load the cached kernel) now, not on a request

    def query(self, points, k: int) -> tuple[np.ndarray, np.ndarray]:
        Q = np.ascontiguousarray(np.asarray(points, np.float32).reshape(-1, self.Z.shape[1]))
        n = len(self.Z)
        k = max(1, min(int(k), n))
        m = min(k + _SPARE, n)
        idx = np.empty((len(Q), m), np.int64)
        sq = np.empty((len(Q), m), np.float32)
        self._scan(self.Z, Q, m, idx, sq)
        exact = ((self.Z[idx].astype(np.float64) - Q[:, None, :].astype(np.float64)) ** 2).sum(2)
        order = np.lexsort((idx, exact), axis=1)[:, :k]
        return np.take_along_axis(idx, order, 1), np.sqrt(np.take_along_axis(exact, order, 1)).astype(
            np.float32
        )


class RunLayers:
    """One run's layers in the explorer, its latent index and its typical neighbour distance, and
    the density overlay once asked for."""

    def __init__(self, Z: np.ndarray, lmap, layers=None, stored: bool = False, notes=()):
        from ..maps import get_method
        from ..maps.layers import K, typical_distance

        self.lmap = lmap
        self.layers = layers
        self.stored = stored
        self.notes = list(notes)
        self.index = LatentIndex(Z)
        self.exact_place = get_method(lmap.method).exact_transform
        t = None if layers is None else layers.typical_distance
        self.k = K if layers is None else layers.k
        self.typical = float(typical_distance(self.index.Z, None, self.k) if t is None else t)
        self._overlay = None
        self._lock = threading.Lock()

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
        neighbour spacing); ``ratio`` = distance / typical; ``off_data`` when the ratio exceeds
        ``limit`` (``maps.layers.OFF_DATA``)."""
        from ..maps.layers import OFF_DATA

        d = float(distance)
        ratio = d / self.typical if self.typical > 0 else (0.0 if d == 0 else None)
        return {
            "row": int(row),
            "distance": d,
            "typical": self.typical,
            "ratio": ratio,
            "off_data": bool(ratio is None or ratio > OFF_DATA),
            "limit": OFF_DATA,
            "k": int(self.k),
        }

    # --- what the page lists ---------------------------------------------------------------------
    def describe(self) -> dict:
        from ..maps.layers import OFF_DATA

        listed = [] if self.layers is None else self.layers.describe()
        for x in listed:
            x["key"] = "error" if x["name"] == "error" else f"layer:{x['name']}"
        return {
            "layers": listed,
            "typical_distance": self.typical,
            "k": int(self.k),
            "off_data_ratio": OFF_DATA,
            "stored": self.stored,
            "notes": self.notes,
        }

    def overlay(self, state) -> dict:
        """The density contours and captioned regions of the map (computed once)."""
        with self._lock:
            if self._overlay is None:
                from ..maps.overlay import density_overlay

                self._overlay = density_overlay(self.lmap.embedding, caption_columns(state))
            return self._overlay


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
def attach_layers(state) -> RunLayers:
    """Give a freshly loaded ``state`` (a RunState) its layers: read from the map file, or computed
    (and stored with a stored map; kept in memory for a map fitted at launch); the reconstruction
    error becomes ``state.error``; distortion and sensitivity become columns of the page."""
    from ..maps.layers import ABOUT

    layers, stored, notes = _layers_for(state)
    state.layers = RunLayers(state.Z, state.lmap, layers, stored, notes)
    if "error" in layers:
        state.error = layers.get("error")
    have = {c.key for c in state.extra_columns}
    for entry in layers.describe():
        name = entry["name"]
        if name == "error" or f"layer:{name}" in have:
            continue
        values = layers.get(name)
        state.extra_columns.append(
            Column(
                f"layer:{name}",
                ABOUT[name]["title"],
                "number",
                lambda v=values: ColumnData.numbers(v),
                entry["explain"],
                group="layer",
                search=False,
            )
        )
    return state.layers


def _layers_for(state):
    """(Layers, stored in the run?, notes) for the state's map."""
    from ..maps import get_method
    from ..maps.layers import compute_layers
    from ..maps.store import load_layers, map_file, save_layers, stored_maps

    run, m = state.run, state.lmap
    decodes = getattr(state.model, "has_decoder", True)
    want = {"distortion"} | ({"sensitivity"} if decodes else set())
    want |= {"error"} if decodes and run.has_source_data else set()
    is_stored = (m.method, m.dims) in stored_maps(run)  # else best_map fitted a PCA projection now
    if is_stored:
        have = load_layers(run, m.method, m.dims)  # checked as the map was (a tampered one is refused)
        if have is not None and want <= set(have.values):
            return have, True, []
    t0 = time.perf_counter()
    try:
        layers = compute_layers(run, m, model=state.model, data=state.data)
    except OSError:  # the shared graph could not be stored (a read-only run): computed in memory
        from ..knn import KnnGraph
        from ..maps.layers import K

        graph = KnnGraph.compute(m.Z, min(K, len(m.Z) - 1), m.params.get("metric", "euclidean"))
        layers = compute_layers(run, m, graph=graph, model=state.model, data=state.data)
    took = time.perf_counter() - t0
    names = ", ".join(layers.values)
    title = get_method(m.method).title
    if not is_stored:
        return (
            layers,
            False,
            [f"{run.name}: computed the layers of its {title} projection ({names}) in {took:.1f} s"],
        )
    try:
        save_layers(run, m.method, m.dims, layers)
    except OSError as exc:
        note = f"{run.name}: computed its {title} map's layers ({names}) in {took:.1f} s; not stored: {exc}"
        return layers, False, [note]
    where = map_file(m.method, m.dims)
    note = f"{run.name}: computed its {title} map's layers ({names}) in {took:.1f} s; stored in {where}"
    return layers, True, [note]


def placed(state, z: np.ndarray) -> dict:
    """The slider's answer beside the decoded item: the latent's map ``position`` and its
    ``data_distance`` (see :meth:`RunLayers.support`). Called in a worker thread."""
    pos, row, dist = state.layers.locate(np.asarray(z, np.float32)[None])
    return {
        "position": pos[0].astype(np.float64).tolist(),
        "data_distance": state.layers.support(row[0], dist[0]),
    }


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
        return state(rid).layers.describe()

    @api.get("/api/runs/{rid}/layers/{name}")
    async def layer(rid: int, name: str):
        s = state(rid)
        have = [] if s.layers.layers is None else list(s.layers.layers.values)
        if name not in have:
            listed = ", ".join(have) or "none"
            raise Invalid(f"name {shown(name)} is not a layer of this run's map (it has: {listed})")
        return {"name": name, "values": b64(s.layers.layers.get(name).astype(np.float32))}

    @api.get("/api/runs/{rid}/overlay")
    async def overlay(rid: int):
        s = state(rid)
        return await asyncio.get_running_loop().run_in_executor(None, s.layers.overlay, s)
