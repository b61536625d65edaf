"""One run as the explorer holds it: loaded once and checked (:func:`load_state`), its latents, map,
items and per-row columns (:class:`RunState`), and the batcher that gathers concurrent decodes of one
model into one call (:class:`DecodeBatcher`)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from . import view3d
from .columns import Column, ColumnData, builtin_columns
from .requests import MAX_BATCH, MAX_SPAN, Invalid, shown

MAP_NEAREST = 8  # real items listed for a click on empty map space (a run without a decoder)


@dataclass
class RunState:
    rid: int
    run: object
    model: object
    data: object
    Z: np.ndarray
    lmap: object
    error: np.ndarray | None  # each item's reconstruction error; None without a decoder
    mean: np.ndarray
    std: np.ndarray
    lock: threading.Lock = field(default_factory=threading.Lock)
    value_range: tuple[float, float] = (0.0, 1.0)
    items: object = None  # RunItems: what a person sees for a row
    # per-row columns added by other parts of the explorer (map layers): each a colouring, a filter
    # and a search target on the page, served like the built-in ones (see columns.Column)
    extra_columns: list[Column] = field(default_factory=list)
    _column_data: dict = field(default_factory=dict, repr=False)
    view3d: object = None  # view3d.View3D: the run's stored maps and the 3-D one the page may show
    layers: object = None  # layers.RunLayers: the map's layers, the latent index (layers.attach_layers)
    _map_spacing: tuple | None = field(default=None, repr=False)  # (the map it measured, spacing)

    def __post_init__(self):
        if self.items is None:
            from ..runfolder.items import RunItems

            self.items = RunItems(self.run, self.data)

    @property
    def n(self) -> int:
        return len(self.Z)

    @property
    def latent_dim(self) -> int:
        return int(self.Z.shape[1])

    @property
    def is_image(self) -> bool:
        """What the decoder gives back is an image (the data's sample shape is (c, h, w))."""
        s = self.data.sample_shape
        return s is not None and len(s) == 3

    @property
    def has_decoder(self) -> bool:
        return bool(getattr(self.model, "has_decoder", True))

    @property
    def has_encoder(self) -> bool:
        return bool(getattr(self.model, "has_encoder", True))

    @cached_property
    def map_box(self) -> tuple[np.ndarray, np.ndarray]:
        """Where a map position may be asked for: the map's bounding box, widened by its size on
        each side (a click on empty space near the map; not a point a million units away)."""
        emb = self.lmap.embedding.astype(np.float64)
        lo, hi = emb.min(0), emb.max(0)
        pad = np.maximum(hi - lo, 1.0)
        return lo - pad, hi + pad

    # --- per-row columns: label, metadata, reconstruction error, layers ------------------------
    @cached_property
    def _builtin_columns(self) -> list[Column]:
        return builtin_columns(self)

    @property
    def columns(self) -> list[Column]:
        """Every per-row column of the run, in the order the page lists them."""
        return [*self._builtin_columns, *self.extra_columns]

    def column_data(self, j: int) -> ColumnData:
        """Column ``j`` of :attr:`columns`, loaded once and checked (one value per row)."""
        col = self.columns[j]
        if col.key not in self._column_data:
            self._column_data[col.key] = col.loaded(self.n)
        return self._column_data[col.key]

    @cached_property
    def colour_columns(self) -> list[str]:
        """The metadata columns the map can be coloured by (numbers; categories and texts of at most
        100 values: the rule of ``RunItems.colour_column``), by name."""
        out = []
        for j, col in enumerate(self.columns):
            if col.key.startswith("meta:") and col.describe(self.column_data(j))["colour"]:
                out.append(col.key[5:])
        return out

    def describe(self) -> dict:
        from ..runfolder.items import no_decoder_note

        d = self.data
        labels = None
        if d.y is not None:
            labels = [d.label_name(v) for v in np.unique(d.y)]
        from ..interpret import read_interpretation, slider_dimensions

        found = read_interpretation(self.run)  # interpret.json: names and importance order, if made
        dims = slider_dimensions(found.doc) if found is not None else None
        titles = {d["index"]: d["title"] for d in found.doc["dims"]} if found is not None else {}
        order = np.array([e["dim"] for e in dims]) if dims else np.argsort(-self.std)  # else most varied
        return {
            "id": self.rid,
            "name": self.run.name,
            "model": self.run.model_name,
            "n": self.n,
            "latent_dim": self.latent_dim,
            "map": {"method": self.lmap.method, "quality": self.lmap.quality},
            "labels": labels,
            "label_col": self.run.config.get("label_col"),
            "image": self.is_image,
            "sample_shape": list(d.sample_shape) if d.sample_shape else None,
            "feature_names": list(d.feature_names[:64]) if d.feature_names else None,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "slider_dims": order[:16].tolist(),
            "dimensions": dims,  # [{"dim", "name", "score", "inactive"}] by importance, or None
            # each named dimension's full text ("z_3: scale up, MI 0.61"), in the order of dimensions
            "dimension_titles": [titles.get(d["dim"], f"z_{d['dim']}") for d in dims] if dims else None,
            "max_span": MAX_SPAN,
            "has_decoder": self.has_decoder,
            "has_encoder": self.has_encoder,
            "has_source_data": bool(self.run.has_source_data),
            "note": no_decoder_note(self.run, self.model),
            "items": self.items.describe(),
            "colour_columns": self.colour_columns,
            "columns": [c.describe(self.column_data(j)) for j, c in enumerate(self.columns)],
            # without a decoder, a draw from the model's sample_latent (for imported vectors, a
            # Gaussian fitted to them) is shown as the real item nearest it
            "can_sample": hasattr(self.model, "sample" if self.has_decoder else "sample_latent"),
            **view3d.describe(self),  # the stored maps, the 3-D one the page can show, the view to open
        }

    def index(self, i: int, name: str = "item") -> int:
        """A row number from a path (FastAPI has made it an int), in range or :class:`Invalid`."""
        if not 0 <= i < self.n:
            raise Invalid(f"{name} {shown(i)} is out of range: this run has items 0..{self.n - 1}")
        return i

    def need_decoder(self, what: str) -> None:
        """Refuse (one line, 422) a request that decodes, on a run without a decoder."""
        if not self.has_decoder:
            raise Invalid(
                f"{self.run.name} has no decoder ({self.run.model_name}): it cannot {what};"
                " ask for the nearest real items instead"
            )

    # --- artefacts ----------------------------------------------------------------------------
    def item_bytes(self, X: np.ndarray) -> list[str]:
        """Decoded items as base64 PNG (images) or JSON number lists (vectors)."""
        if not self.is_image:
            return [json.dumps(np.round(x[:64].astype(np.float64), 5).tolist()) for x in X]
        return [base64.b64encode(self.png(x)).decode() for x in X]

    def png(self, x: np.ndarray) -> bytes:
        return self.items.render_png(x)

    def nearest(self, Zq: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` real items nearest each latent of ``Zq`` (exact; ties to the lower row)."""
        from ..knn import nearest as knn

        return knn(self.Z, np.asarray(Zq, np.float32).reshape(-1, self.latent_dim), min(int(k), self.n))

    def nearest_on_map(self, point, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items whose map positions lie nearest ``point`` (exact, in map space)."""
        from ..knn import nearest as knn

        idx, dist = knn(self.lmap.embedding, np.asarray([point], np.float32), min(int(k), self.n))
        return idx[0], dist[0]

    def map_support(self, point) -> dict:
        """How far a clicked map position lies from the items drawn there: the nearest item's
        ``row`` and map ``distance``; ``typical``, the median distance of an item to its K-th
        nearest on the map (over a seeded sample of up to 2,000 items, measured once per map);
        ``ratio``; ``off_map`` past ``limit`` (``maps.layers.OFF_DATA``). A map's inverse blends the
        latents of the nearest items, so a click far from them decodes something near them, not
        what lies there: the page says so."""
        from ..knn import nearest as knn
        from ..maps.layers import OFF_DATA, K

        emb = self.lmap.embedding
        kept = self._map_spacing
        if kept is None or kept[0] is not self.lmap:
            rows = np.random.default_rng(0).choice(self.n, min(self.n, 2000), replace=False)
            _, d = knn(emb, emb[rows], min(K + 1, self.n))  # the first is the item itself
            kept = self._map_spacing = (self.lmap, float(np.median(d[:, -1])))
        d2 = ((emb.astype(np.float64) - np.asarray(point, np.float64)) ** 2).sum(1)  # one point: a plain scan
        row = int(np.argmin(d2))
        t, d = kept[1], float(np.sqrt(d2[row]))
        ratio = d / t if t > 0 else None
        return {
            "row": row,
            "distance": d,
            "typical": t,
            "ratio": ratio,
            "off_map": bool(ratio is None or ratio > OFF_DATA),
            "limit": OFF_DATA,
        }

    def nearest_answer(self, idx: np.ndarray, dist: np.ndarray) -> dict:
        """The nearest real items as the page shows them: rows, distances, views."""
        rows = np.asarray(idx).reshape(-1)
        return {
            "rows": rows.tolist(),
            "distances": np.asarray(dist, np.float64).reshape(-1).tolist(),
            "views": self.items.views(rows),
        }

    def place(self, Zq: np.ndarray) -> np.ndarray:
        """Fast map positions of latents: exact for PCA maps, else the distance-weighted mean of the
        positions of their 8 nearest latents (the first step of UMAP's and openTSNE's transform)."""
        from ..maps import get_method

        if self.layers is not None:  # the latents indexed once at load (layers.LatentIndex)
            return self.layers.locate(Zq)[0]
        if get_method(self.lmap.method).exact_transform:
            return self.lmap.transform(Zq)
        from ..knn import nearest as knn

        idx, dist = knn(self.Z, Zq, min(8, self.n))
        w = 1.0 / (dist + 1e-6 * (dist.max() + 1e-12))
        w /= w.sum(1, keepdims=True)
        return np.einsum("qk,qkd->qd", w, self.lmap.embedding[idx]).astype(np.float32)

    def warm(self) -> None:
        """Run the map's transform once (UMAP's compiles on its first call: seconds), so the first
        prior draw a person asks for answers at once; and measure the map's spacing for clicks."""
        from ..maps import get_method

        if not get_method(self.lmap.method).exact_transform:  # not under the model's lock: decodes go on
            self.lmap.transform(self.Z[:2])
        self.map_support(self.lmap.embedding[0])  # the map's typical spacing, once (0.4 s at 1M rows)


def load_state(rid: int, path, map_method: str | None = None, wait_layers: bool = False) -> RunState:
    """Load a run for the explorer. The run folder checks that its files fit together (one latent
    per item with every column, one finite map point per latent; see ``Run`` and ``maps.store``),
    so a tampered run is refused here, at start-up, with one line naming the file. A run without a
    decoder gets no reconstruction errors (nothing is decoded). The map's layers are read when
    stored, else computed in a background thread (``state.layers.wait()``; ``wait_layers``: before
    returning)."""
    from ..errors import InputError
    from ..maps.store import best_map
    from ..runfolder import Run
    from ..runfolder.items import RunItems
    from .layers import attach_layers

    run = Run(path)
    model = run.load_model()
    data = run.load_dataset()
    Z = run.latent_matrix()
    map_method, maps3d = view3d.prepare(run, map_method)  # `--map umap-3d`: the 3-D view first
    lmap, _ = best_map(run, 2, map_method)
    if lmap is None:
        raise InputError(f"{run.name} cannot be explored on a map: its latents have one dimension")
    items = RunItems(run, data)
    if items.kind == "image":
        items.png(0)  # items.parquet is read and checked now: a tampered one is refused at start-up
    err = None  # the reconstruction error is a stored layer of the map: set by attach_layers
    std = Z.std(0).astype(np.float64)
    std[std == 0] = 1.0
    state = RunState(
        rid,
        run,
        model,
        data,
        Z,
        lmap,
        err,
        Z.mean(0).astype(np.float64),
        std,
        value_range=data.value_range(),
        items=items,
    )
    state.view3d = maps3d
    attach_layers(
        state, wait_layers
    )  # the map's layers (read, or computed in the background), the latent index
    return state


class DecodeBatcher:
    """Gathers concurrent decode requests of one model into one call (in a worker thread). A
    request with ``place`` (the slider's) also gets its map position and distance from the data
    (:func:`web.layers.placed_many`), found for the whole batch in one scan of the latents."""

    def __init__(self, state: RunState):
        self.state = state
        self.queue: asyncio.Queue | None = None
        self.loop = self.task = None

    async def decode(self, z: np.ndarray, place: bool = False):
        """The decoded item of ``z``; with ``place``, ``(item, {"position", "data_distance"})``."""
        loop = asyncio.get_running_loop()
        if self.queue is None or self.loop is not loop:  # one worker per event loop
            self.loop, self.queue = loop, asyncio.Queue()
            self.task = loop.create_task(self._worker())
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put((z, place, fut))
        return await fut

    async def _worker(self):
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.queue.get()]
            while not self.queue.empty() and len(items) < MAX_BATCH:
                items.append(self.queue.get_nowait())
            Z = np.stack([z for z, _, _ in items])
            wants = [i for i, (_, place, _) in enumerate(items) if place]
            try:
                X, where = await loop.run_in_executor(None, self._decode, Z, wants)
                for i, ((_, place, fut), x) in enumerate(zip(items, X, strict=True)):
                    if not fut.done():
                        fut.set_result((x, where[i]) if place else x)
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
                for _, _, fut in items:
                    if not fut.done():
                        fut.set_exception(exc)

    def _decode(self, Z, wants):
        from .layers import placed_many

        with self.state.lock:
            X = self.state.model.decode(Z)
        return X, dict(zip(wants, placed_many(self.state, Z[wants]), strict=True)) if wants else {}
