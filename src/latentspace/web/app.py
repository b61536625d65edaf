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
"""

from __future__ import annotations

import asyncio
import base64
import io
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
@dataclass
class RunState:
    rid: int
    run: object
    model: object
    data: object
    Z: np.ndarray
    lmap: object
    error: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    lock: threading.Lock = field(default_factory=threading.Lock)
    value_range: tuple[float, float] = (0.0, 1.0)

    @property
    def n(self) -> int:
        return len(self.Z)

    @property
    def latent_dim(self) -> int:
        return int(self.Z.shape[1])

    @property
    def is_image(self) -> bool:
        s = self.data.sample_shape
        return s is not None and len(s) == 3

    @cached_property
    def map_box(self) -> tuple[np.ndarray, np.ndarray]:
        """Where a map position may be asked for: the map's bounding box, widened by its size on
        each side (a click on empty space near the map; not a point a million units away)."""
        emb = self.lmap.embedding.astype(np.float64)
        lo, hi = emb.min(0), emb.max(0)
        pad = np.maximum(hi - lo, 1.0)
        return lo - pad, hi + pad

    def describe(self) -> dict:
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
            "image": self.is_image,
            "sample_shape": list(d.sample_shape) if d.sample_shape else None,
            "feature_names": list(d.feature_names[:64]) if d.feature_names else None,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "slider_dims": order[:16].tolist(),
            "max_span": MAX_SPAN,
            "can_sample": hasattr(self.model, "sample"),
        }

    def index(self, i: int, name: str = "item") -> int:
        """A row number from a path (FastAPI has made it an int), in range or :class:`Invalid`."""
        if not 0 <= i < self.n:
            raise Invalid(f"{name} {shown(i)} is out of range: this run has items 0..{self.n - 1}")
        return i

    # --- artefacts ----------------------------------------------------------------------------
    def item_bytes(self, X: np.ndarray) -> list[str]:
        """Items as base64 PNG (images) or JSON number lists (vectors)."""
        if not self.is_image:
            return [json.dumps(np.round(x[:64].astype(np.float64), 5).tolist()) for x in X]
        return [base64.b64encode(self.png(x)).decode() for x in X]

    def png(self, x: np.ndarray) -> bytes:
        from PIL import Image

        c, h, w = self.data.sample_shape
        lo, hi = self.value_range
        a = np.clip((np.asarray(x, np.float32) - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
        a = (a.reshape(c, h, w) * 255 + 0.5).astype(np.uint8)
        img = Image.fromarray(a[0]) if c == 1 else Image.fromarray(a.transpose(1, 2, 0))
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()

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
    so a tampered run is refused here, at start-up, with one line naming the file."""
    from ..errors import InputError
    from ..maps.store import best_map
    from ..runfolder import Run

    run = Run(path)
    model = run.load_model()
    data = run.load_dataset()
    Z = run.latent_matrix()
    lmap, _ = best_map(run, 2, map_method)
    if lmap is None:
        raise InputError(f"{run.name} cannot be explored on a map: its latents have one dimension")
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

    @api.get("/api/runs/{rid}/items/{i}")
    async def item(rid: int, i: int, k: int = 8):
        s = state(rid)
        s.index(i)
        most = min(MAX_STEPS, s.n - 1)
        if not 1 <= k <= most:
            raise Invalid(f"k must be between 1 and {most}; got {shown(k)}")
        from ..knn import nearest as knn

        x = np.asarray(s.data.X[i : i + 1])
        idx, dist = knn(s.Z, s.Z[i : i + 1], k + 1)
        keep = idx[0] != i
        nbrs, nd = idx[0][keep][:k], dist[0][keep][:k]
        recon = await batchers[s.rid].decode(s.Z[i])
        y = s.data.y
        return {
            "item": i,
            "label": None if y is None else s.data.label_name(y[i]),
            "error": float(s.error[i]),
            "z": s.Z[i].astype(np.float64).tolist(),
            "original": s.item_bytes(x)[0],
            "reconstruction": s.item_bytes(recon[None])[0],
            "neighbours": nbrs.tolist(),
            "distances": nd.astype(np.float64).tolist(),
            "neighbour_items": s.item_bytes(np.asarray(s.data.X[nbrs])),
        }

    @api.get("/api/runs/{rid}/items/{i}/thumb")
    async def thumb(rid: int, i: int):
        s = state(rid)
        s.index(i)
        x = np.asarray(s.data.X[i])
        if not s.is_image:
            return {"values": json.loads(s.item_bytes(x[None])[0])}
        return Response(s.png(x), media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @api.post("/api/runs/{rid}/decode")
    async def decode(rid: int, request: Request):
        s = state(rid)
        b = await body(request, DecodeBody, s)
        x = await batchers[s.rid].decode(b.z)
        if b.png and s.is_image:
            return Response(s.png(x), media_type="image/png")
        out = {"item": s.item_bytes(x[None])[0]}
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
        x = await batchers[s.rid].decode(z)
        return {"z": z.astype(np.float64).tolist(), "item": s.item_bytes(x[None])[0]}

    @api.post("/api/runs/{rid}/interpolate")
    async def interpolate(rid: int, request: Request):
        from .. import ops

        s = state(rid)
        b = await body(request, InterpolateBody, s)
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
            X = s.model.decode(Zs)
        pos = await asyncio.get_running_loop().run_in_executor(None, s.lmap.transform, Zs)
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
        with s.lock:
            X = s.model.decode(Zs)
        return {
            "direction_norm": float(np.linalg.norm(v)),
            "alphas": list(b.alphas),
            "positions": s.place(Zs).astype(np.float64).tolist(),
            "items": s.item_bytes(X),
        }

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
