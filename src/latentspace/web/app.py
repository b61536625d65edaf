"""The latent explorer: a local FastAPI app over one or two runs.

Security model (each point is tested): the server binds 127.0.0.1 unless told otherwise; every
``/api`` call needs the per-launch token, a foreign Host header gets 403, bodies over ``MAX_BODY``
get 413 before they are read, and every response says ``Referrer-Policy: no-referrer``
(:mod:`.guard`); no CORS header is ever sent; only the packaged static files (a fixed list) and run
artefacts addressed by number are served, anything else is 404. Bodies, paths and queries are
parsed with declared types and bounds (:mod:`.requests`): a bad value gets 422 and one line naming
the field and what is allowed, never a 500. A run whose files do not fit together is refused when
it is loaded (:func:`load_state`); an error that still escapes a request is one line: 409 for a
broken run, 422 for bad input, a bare 500 (the traceback goes to the server's log only).

Decoding is the hot path (a slider move is one decode): concurrent decode requests are gathered
into one batch per model call by :class:`DecodeBatcher`, so 16 clients cost about one decode each.

A run whose model has no decoder (imported vectors; an imported encoder alone) is explored through
its real items: where a trained model would decode, the answer lists the items nearest the point
(the map click in map space; sliders, paths, attribute edits and prior draws in latent space), and
``/api/runs`` says so (``has_decoder``, ``note``). What an item looks like (an image, a text, a
data row, its metadata) comes from :class:`latentspace.runfolder.items.RunItems`, which the report
uses too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from .guard import MAX_BODY, Guard
from .requests import (
    MAX_BATCH,
    MAX_SPAN,
    MAX_STEPS,
    AttributeBody,
    DecodeBody,
    InterpolateBody,
    Invalid,
    InverseBody,
    NearestBody,
    PlaceBody,
    SampleBody,
    parse,
    query_error,
    shown,
)

__all__ = ["MAX_BODY", "MAX_SPAN", "RunState", "create_app", "load_state"]
STATIC_FILES = ("explorer.html", "explorer.js", "explorer.css", "scatter.js")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
NO_STORE = {"Cache-Control": "no-store"}


# --- one run, loaded once ------------------------------------------------------------------------
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

    def describe(self) -> dict:
        from ..runfolder.items import no_decoder_note

        d = self.data
        labels = None
        if d.y is not None:
            labels = [d.label_name(v) for v in np.unique(d.y)]
        order = np.argsort(-self.std)  # sliders for the dimensions that vary most
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
            "max_span": MAX_SPAN,
            "has_decoder": self.has_decoder,
            "has_encoder": self.has_encoder,
            "has_source_data": bool(self.run.has_source_data),
            "note": no_decoder_note(self.run, self.model),
            "items": self.items.describe(),
            "colour_columns": self.colour_columns,
            # without a decoder, a draw from the model's sample_latent (for imported vectors, a
            # Gaussian fitted to them) is shown as the real item nearest it
            "can_sample": hasattr(self.model, "sample" if self.has_decoder else "sample_latent"),
        }

    @cached_property
    def colour_columns(self) -> list[str]:
        """The metadata columns the map can be coloured by (categories, short texts, numbers)."""
        return [m["name"] for m in self.items.metadata_columns() if self.items.colour_column(m["name"])]

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

        if get_method(self.lmap.method).exact_transform:
            return self.lmap.transform(Zq)
        from ..knn import nearest as knn

        idx, dist = knn(self.Z, Zq, min(8, self.n))
        w = 1.0 / (dist + 1e-6 * (dist.max() + 1e-12))
        w /= w.sum(1, keepdims=True)
        return np.einsum("qk,qkd->qd", w, self.lmap.embedding[idx]).astype(np.float32)


def load_state(rid: int, path, map_method: str | None = None) -> RunState:
    """Load a run for the explorer. The run folder checks that its files fit together (one latent
    per item with every column, one finite map point per latent; see ``Run`` and ``maps.store``),
    so a tampered run is refused here, at start-up, with one line naming the file. A run without a
    decoder gets no reconstruction errors (nothing is decoded)."""
    from ..errors import InputError
    from ..maps.store import best_map
    from ..runfolder import Run
    from ..runfolder.items import RunItems

    run = Run(path)
    model = run.load_model()
    data = run.load_dataset()
    Z = run.latent_matrix()
    lmap, _ = best_map(run, 2, map_method)
    if lmap is None:
        raise InputError(f"{run.name} cannot be explored on a map: its latents have one dimension")
    items = RunItems(run, data)
    if items.kind == "image":
        items.png(0)  # items.parquet is read and checked now: a tampered one is refused at start-up
    err = None
    if getattr(model, "has_decoder", True) and run.has_source_data:
        X = data.X
        err = np.empty(len(Z), np.float32)
        for a in range(0, len(Z), 8192):
            xb = np.asarray(X[a : a + 8192])
            err[a : a + 8192] = np.mean((model.decode(Z[a : a + 8192]) - xb) ** 2, axis=1)
    std = Z.std(0).astype(np.float64)
    std[std == 0] = 1.0
    return RunState(
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


class DecodeBatcher:
    """Gathers concurrent decode requests of one model into one call (in a worker thread)."""

    def __init__(self, state: RunState):
        self.state = state
        self.queue: asyncio.Queue | None = None
        self.loop = self.task = None

    async def decode(self, z: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        if self.queue is None or self.loop is not loop:  # one worker per event loop
            self.loop, self.queue = loop, asyncio.Queue()
            self.task = loop.create_task(self._worker())
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put((z, fut))
        return await fut

    async def _worker(self):
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.queue.get()]
            while not self.queue.empty() and len(items) < MAX_BATCH:
                items.append(self.queue.get_nowait())
            Z = np.stack([z for z, _ in items])
            try:
                X = await loop.run_in_executor(None, self._decode, Z)
                for (_, fut), x in zip(items, X, strict=True):
                    if not fut.done():
                        fut.set_result(x)
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
                for _, fut in items:
                    if not fut.done():
                        fut.set_exception(exc)

    def _decode(self, Z):
        with self.state.lock:
            return self.state.model.decode(Z)


# --- the application -----------------------------------------------------------------------------
def create_app(states: list[RunState], token: str, host: str = "127.0.0.1", max_body: int = MAX_BODY):
    """The ASGI app (FastAPI inside the guard) for already loaded runs."""
    api = FastAPI(title="latentspace explorer", docs_url=None, redoc_url=None, openapi_url=None)
    static = {
        name: resources.files("latentspace.web").joinpath("static", name).read_bytes()
        for name in STATIC_FILES
    }
    types = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}
    batchers = [DecodeBatcher(s) for s in states]
    _answer_errors(api)

    def state(rid: int) -> RunState:
        if not 0 <= rid < len(states):
            raise HTTPException(404, f"no run {shown(rid)}")
        return states[rid]

    async def body(request: Request, model, s: RunState):
        return parse(model, await request.body(), s)

    @api.get("/")
    async def index():
        return Response(static["explorer.html"], media_type=types[".html"], headers=NO_STORE)

    @api.get("/static/{name}")
    async def static_file(name: str):
        if name not in static:
            raise HTTPException(404, "not found")
        return Response(static[name], media_type=types[Path(name).suffix], headers=NO_STORE)

    @api.get("/api/runs")
    async def runs():
        return {"runs": [s.describe() for s in states]}

    @api.get("/api/runs/{rid}/map")
    async def map_data(rid: int):
        s = state(rid)
        emb = s.lmap.embedding
        arrays = {
            "x": emb[:, 0].astype(np.float32),
            "y": emb[:, 1].astype(np.float32),
            "error": s.error,
            "label": (
                np.unique(s.data.y, return_inverse=True)[1].astype(np.int32) if s.data.y is not None else None
            ),
        }
        return {
            k: (None if v is None else base64.b64encode(np.ascontiguousarray(v).tobytes()).decode())
            for k, v in arrays.items()
        }

    @api.get("/api/runs/{rid}/latent/{dim}")
    async def latent_column(rid: int, dim: int):
        s = state(rid)
        if not 0 <= dim < s.latent_dim:
            raise Invalid(f"dim {shown(dim)} is out of range: 0..{s.latent_dim - 1}")
        return {"values": base64.b64encode(np.ascontiguousarray(s.Z[:, dim]).tobytes()).decode()}

    @api.get("/api/runs/{rid}/meta/{j}")
    async def meta_column(rid: int, j: int):
        """Metadata column ``j`` of ``colour_columns``, for colouring the map."""
        s = state(rid)
        names = s.colour_columns
        if not 0 <= j < len(names):
            last = f"0..{len(names) - 1}" if names else "none: this run has no such column"
            raise Invalid(f"j {shown(j)} is out of range: the colour columns are {last}")
        kind, *rest = s.items.colour_column(names[j])
        enc = lambda a, t: base64.b64encode(np.ascontiguousarray(a, t).tobytes()).decode()  # noqa: E731
        if kind == "values":
            return {"name": names[j], "values": enc(rest[0], np.float32), "codes": None, "names": None}
        return {"name": names[j], "values": None, "codes": enc(rest[0], np.int32), "names": rest[1]}

    @api.get("/api/runs/{rid}/items/{i}")
    async def item(rid: int, i: int, k: int = 8):
        s = state(rid)
        s.index(i)
        most = min(MAX_STEPS, s.n - 1)
        if not 1 <= k <= most:
            raise Invalid(f"k must be between 1 and {most}; got {shown(k)}")
        idx, dist = s.nearest(s.Z[i : i + 1], k + 1)
        keep = idx[0] != i
        nbrs, nd = idx[0][keep][:k], dist[0][keep][:k]
        recon = await batchers[s.rid].decode(s.Z[i]) if s.has_decoder else None
        return {
            "item": i,
            "label": s.items.label(i),
            "error": None if s.error is None else float(s.error[i]),
            "z": s.Z[i].astype(np.float64).tolist(),
            "view": s.items.view(i),
            "reconstruction": None if recon is None else s.item_bytes(recon[None])[0],
            "neighbours": nbrs.tolist(),
            "distances": nd.astype(np.float64).tolist(),
            "neighbour_views": s.items.views(nbrs),
        }

    @api.get("/api/runs/{rid}/items/{i}/view")
    async def item_view(rid: int, i: int):
        s = state(rid)
        return s.items.view(s.index(i))

    @api.get("/api/runs/{rid}/items/{i}/thumb")
    async def thumb(rid: int, i: int):
        s = state(rid)
        s.index(i)
        png = s.items.png(i)
        if png is None:
            return {"values": s.items.values(i), "text": s.items.text(i)}
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @api.post("/api/runs/{rid}/decode")
    async def decode(rid: int, request: Request):
        s = state(rid)
        b = await body(request, DecodeBody, s)
        s.need_decoder("decode a latent point")
        x = await batchers[s.rid].decode(b.z)
        if b.png and s.is_image:
            return Response(s.png(x), media_type="image/png")
        out = {"item": s.item_bytes(x[None])[0]}
        if b.place:
            out["position"] = s.place(b.z[None])[0].astype(np.float64).tolist()
        return out

    @api.post("/api/runs/{rid}/nearest")
    async def nearest(rid: int, request: Request):
        s = state(rid)
        b = await body(request, NearestBody, s)
        idx, dist = s.nearest(b.z[None], b.k)
        out = s.nearest_answer(idx[0], dist[0])
        if b.place:
            out["position"] = s.place(b.z[None])[0].astype(np.float64).tolist()
        return out

    @api.post("/api/runs/{rid}/place")
    async def place(rid: int, request: Request):
        s = state(rid)
        b = await body(request, PlaceBody, s)
        return {"positions": s.place(np.stack(b.zs)).astype(np.float64).tolist()}

    @api.post("/api/runs/{rid}/inverse")
    async def inverse(rid: int, request: Request):
        s = state(rid)
        b = await body(request, InverseBody, s)
        z = s.lmap.inverse(np.array([b.point], np.float32))[0]
        z = np.clip(z, s.mean - MAX_SPAN * s.std, s.mean + MAX_SPAN * s.std).astype(np.float32)
        if not s.has_decoder:  # the real items nearest the clicked place, in map space
            idx, dist = s.nearest_on_map(b.point, MAP_NEAREST)
            return {"z": z.astype(np.float64).tolist(), "point": list(b.point), **s.nearest_answer(idx, dist)}
        x = await batchers[s.rid].decode(z)
        return {"z": z.astype(np.float64).tolist(), "item": s.item_bytes(x[None])[0]}

    @api.post("/api/runs/{rid}/interpolate")
    async def interpolate(rid: int, request: Request):
        from .. import ops

        s = state(rid)
        b = await body(request, InterpolateBody, s)
        if not s.has_decoder:  # the real item nearest each step of the latent path
            Zp, t = ops.latent_path(s.Z[b.a], s.Z[b.b], b.steps, b.method)
            idx, dist = s.nearest(Zp, 1)
            return {
                "t": t.tolist(),
                "positions": s.place(Zp).astype(np.float64).tolist(),
                **s.nearest_answer(idx[:, 0], dist[:, 0]),
            }
        with s.lock:
            path = ops.interpolate(s.model, s.Z[b.a], s.Z[b.b], b.steps, b.method, space="latent")
        return {
            "t": path.t.tolist(),
            "positions": s.place(path.Z).astype(np.float64).tolist(),
            "items": s.item_bytes(path.X),
        }

    @api.post("/api/runs/{rid}/sample")
    async def sample(rid: int, request: Request):
        s = state(rid)
        b = await body(request, SampleBody, s)
        with s.lock:
            Zs = s.model.sample_latent(b.n, random_state=b.seed).astype(np.float32)
            X = s.model.decode(Zs) if s.has_decoder else None
        pos = await asyncio.get_running_loop().run_in_executor(None, s.lmap.transform, Zs)
        if X is None:  # the real item nearest each draw
            idx, dist = s.nearest(Zs, 1)
            return {"positions": pos.astype(np.float64).tolist(), **s.nearest_answer(idx[:, 0], dist[:, 0])}
        return {"positions": pos.astype(np.float64).tolist(), "items": s.item_bytes(X)}

    @api.post("/api/runs/{rid}/attribute")
    async def attribute(rid: int, request: Request):
        from .. import ops

        s = state(rid)
        b = await body(request, AttributeBody, s)
        in_a, in_b = np.zeros(s.n, bool), np.zeros(s.n, bool)
        in_a[b.group_a], in_b[b.group_b] = True, True
        v = ops.attribute_vector(s.model, None, in_b, vs=in_a, Z=s.Z)  # from group A towards group B
        Zs = ops.apply(s.Z[b.item], v, np.asarray(b.alphas, np.float32))
        lo, hi = s.mean - MAX_SPAN * s.std, s.mean + MAX_SPAN * s.std
        Zs = np.clip(Zs, lo, hi).astype(np.float32)
        out = {
            "direction_norm": float(np.linalg.norm(v)),
            "alphas": list(b.alphas),
            "positions": s.place(Zs).astype(np.float64).tolist(),
        }
        if not s.has_decoder:  # analogy search: the real item nearest the edited latent, per alpha
            idx, dist = s.nearest(Zs, 1)
            return {**out, **s.nearest_answer(idx[:, 0], dist[:, 0])}
        with s.lock:
            X = s.model.decode(Zs)
        return {**out, "items": s.item_bytes(X)}

    hosts = {h.lower() for h in (*LOCAL_HOSTS, host)}
    return Guard(api, token, hosts, max_body)


def _answer_errors(api: FastAPI) -> None:
    """Every refusal is one line of JSON: 422 for a bad value (a body, path or query value, or an
    InputError from below), 409 for a run whose files turn out not to fit together, and, for anything
    unexpected, a bare 500 whose details go to the server's log only (never into the response)."""
    from ..errors import LatentspaceError, RunIntegrityError

    def one_line(status: int, text: str) -> JSONResponse:
        return JSONResponse({"detail": " ".join(text.split()) or "error"}, status_code=status)

    @api.exception_handler(Invalid)
    async def _invalid(request, exc: Invalid):
        return one_line(422, str(exc))

    @api.exception_handler(RequestValidationError)
    async def _bad_path_or_query(request, exc: RequestValidationError):
        return one_line(422, query_error(list(exc.errors())))

    @api.exception_handler(LatentspaceError)
    async def _ours(request, exc: LatentspaceError):
        return one_line(409 if isinstance(exc, RunIntegrityError) else 422, str(exc))

    @api.exception_handler(Exception)
    async def _unexpected(request, exc: Exception):
        # Starlette re-raises it after this answer: the server logs the traceback
        return one_line(500, "internal error: the explorer's log has the details")
