"""The latent explorer: a local FastAPI app over one or two runs.

Security model (each point is tested): the server binds 127.0.0.1 unless told otherwise; every
``/api`` call needs the per-launch token (``X-Token`` header or ``token`` query parameter) or gets
403; a Host header other than the bound address or localhost gets 403 (DNS rebinding); no CORS
header is ever sent; only the packaged static files (a fixed list) and run artefacts addressed by
number are served, anything else is 404; bodies over ``MAX_BODY`` get 413 before they are read;
bad values get 422 with a message.

Decoding is the hot path (a slider move is one decode): concurrent decode requests are gathered
into one batch per model call by :class:`DecodeBatcher`, so 16 clients cost about one decode each.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import io
import json
import math
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

MAX_BODY = 1 << 20  # bytes; a lasso of 100,000 indices fits
MAX_SPAN = 6.0  # sliders may move a latent at most this many standard deviations from the mean
MAX_BATCH = 256
STATIC_FILES = ("explorer.html", "explorer.js", "explorer.css", "scatter.js")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


class Invalid(ValueError):
    """A request value out of bounds: answered with 422 and the message."""


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
    def is_image(self) -> bool:
        s = self.data.sample_shape
        return s is not None and len(s) == 3

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
            "latent_dim": int(self.Z.shape[1]),
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

    # --- checks -----------------------------------------------------------------------------
    def index(self, i, name="item") -> int:
        if isinstance(i, bool) or not isinstance(i, int):
            raise Invalid(f"{name} must be an integer row number; got {i!r}")
        if not 0 <= i < self.n:
            raise Invalid(f"{name} {i} is out of range: this run has items 0..{self.n - 1}")
        return i

    def latent(self, z, name="z") -> np.ndarray:
        k = self.Z.shape[1]
        if not isinstance(z, list) or len(z) != k:
            got = len(z) if isinstance(z, list) else type(z).__name__
            raise Invalid(f"{name} must be a list of {k} numbers (the latent size); got {got}")
        for j, x in enumerate(z):
            if isinstance(x, bool) or not isinstance(x, int | float):
                raise Invalid(f"{name} must hold numbers only; {name}[{j}] is {x!r}")
        v = np.array(z, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(v))
        if len(bad):
            raise Invalid(f"{name}[{bad[0]}] is not a finite number")
        dev = np.abs(v - self.mean) / self.std
        far = np.flatnonzero(dev > MAX_SPAN + 1e-9)
        if len(far):
            j = int(far[0])
            raise Invalid(
                f"{name}[{j}] = {v[j]:.4g} is {dev[j]:.1f} standard deviations from the mean;"
                f" the allowed span is ±{MAX_SPAN:g}"
            )
        return v.astype(np.float32)

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


# --- the ASGI guard: host, token, body size -------------------------------------------------------
class Guard:
    """Outermost middleware: refuses foreign Host headers and API calls without the token (403),
    and bodies over ``max_body`` (413) before the application reads them."""

    def __init__(self, app, token: str, hosts: set[str], max_body: int = MAX_BODY):
        self.app, self.token, self.hosts, self.max_body = app, token, hosts, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        if name.lower() not in self.hosts:
            return await _plain(send, 403, "forbidden host")
        path = scope["path"]
        if path.startswith("/api/"):
            given = headers.get("x-token") or _query_token(scope.get("query_string", b""))
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                return await _plain(send, 403, "missing or wrong token")
        length = headers.get("content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_body
            except ValueError:
                return await _plain(send, 400, "bad content-length")
            if too_big:
                return await _plain(send, 413, f"body over {self.max_body} bytes")
        seen, rejected = 0, False

        async def limited():
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_body:  # answer now; the app sees the client gone
                    rejected = True
                    await _plain(send, 413, f"body over {self.max_body} bytes")
                    return {"type": "http.disconnect"}
            return msg

        async def guarded_send(msg):
            if not rejected:
                await send(msg)

        try:
            return await self.app(scope, limited, guarded_send)
        except Exception:
            if rejected:  # the app failed on the cut-off body: the 413 is already sent
                return None
            raise


def _query_token(qs: bytes) -> str | None:
    from urllib.parse import parse_qs

    vals = parse_qs(qs.decode("latin-1")).get("token")
    return vals[0] if vals else None


async def _plain(send, status: int, text: str):
    body = json.dumps({"detail": text}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


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

    @api.exception_handler(Invalid)
    async def _invalid(request, exc: Invalid):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    def state(rid: int) -> RunState:
        if not 0 <= rid < len(states):
            raise HTTPException(404, f"no run {rid}")
        return states[rid]

    async def body(request: Request) -> dict:
        try:
            data = json.loads(await request.body() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Invalid("the body must be a JSON object") from None
        if not isinstance(data, dict):
            raise Invalid("the body must be a JSON object")
        return data

    def headers_nocache():
        return {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

    @api.get("/")
    async def index():
        return Response(static["explorer.html"], media_type=types[".html"], headers=headers_nocache())

    @api.get("/static/{name}")
    async def static_file(name: str):
        if name not in static:
            raise HTTPException(404, "not found")
        return Response(static[name], media_type=types[Path(name).suffix], headers=headers_nocache())

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
        if not 0 <= dim < s.Z.shape[1]:
            raise Invalid(f"dimension {dim} is out of range: 0..{s.Z.shape[1] - 1}")
        return {"values": base64.b64encode(np.ascontiguousarray(s.Z[:, dim]).tobytes()).decode()}

    @api.get("/api/runs/{rid}/items/{i}")
    async def item(rid: int, i: int, k: int = 8):
        s = state(rid)
        s.index(i)
        if not 1 <= k <= min(64, s.n - 1):
            raise Invalid(f"k must be between 1 and {min(64, s.n - 1)}; got {k}")
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
        b = await body(request)
        z = s.latent(b.get("z"))
        x = await batchers[s.rid].decode(z)
        out = {"item": s.item_bytes(x[None])[0]}
        if b.get("place"):
            out["position"] = s.place(z[None])[0].astype(np.float64).tolist()
        if b.get("png") and s.is_image:
            return Response(s.png(x), media_type="image/png")
        return out

    @api.post("/api/runs/{rid}/place")
    async def place(rid: int, request: Request):
        s = state(rid)
        b = await body(request)
        zs = b.get("zs")
        if not isinstance(zs, list) or not 1 <= len(zs) <= MAX_BATCH:
            raise Invalid(f"zs must be a list of 1 to {MAX_BATCH} latent vectors")
        Zq = np.stack([s.latent(z, f"zs[{j}]") for j, z in enumerate(zs)])
        return {"positions": s.place(Zq).astype(np.float64).tolist()}

    @api.post("/api/runs/{rid}/inverse")
    async def inverse(rid: int, request: Request):
        s = state(rid)
        b = await body(request)
        pt = b.get("point")
        if not (isinstance(pt, list) and len(pt) == 2 and all(isinstance(v, int | float) for v in pt)):
            raise Invalid("point must be [x, y] (two numbers)")
        if not all(math.isfinite(v) for v in pt):
            raise Invalid("point must hold finite numbers")
        z = s.lmap.inverse(np.array([pt], np.float32))[0]
        z = np.clip(z, s.mean - MAX_SPAN * s.std, s.mean + MAX_SPAN * s.std).astype(np.float32)
        x = await batchers[s.rid].decode(z)
        return {"z": z.astype(np.float64).tolist(), "item": s.item_bytes(x[None])[0]}

    @api.post("/api/runs/{rid}/interpolate")
    async def interpolate(rid: int, request: Request):
        from .. import ops

        s = state(rid)
        b = await body(request)
        a, c = s.index(b.get("a"), "a"), s.index(b.get("b"), "b")
        steps = b.get("steps", 10)
        if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= 64:
            raise Invalid(f"steps must be an integer in [2, 64]; got {steps!r}")
        method = b.get("method", "lerp")
        if method not in ("lerp", "slerp"):
            raise Invalid(f"method must be lerp or slerp; got {method!r}")
        with s.lock:
            path = ops.interpolate(s.model, s.Z[a], s.Z[c], steps, method, space="latent")
        return {
            "t": path.t.tolist(),
            "positions": s.place(path.Z).astype(np.float64).tolist(),
            "items": s.item_bytes(path.X),
        }

    @api.post("/api/runs/{rid}/sample")
    async def sample(rid: int, request: Request):
        s = state(rid)
        b = await body(request)
        n, seed = b.get("n", 8), b.get("seed", 0)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 64:
            raise Invalid(f"n must be an integer in [1, 64]; got {n!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise Invalid(f"seed must be a non-negative integer; got {seed!r}")
        with s.lock:
            Zs = s.model.sample_latent(n, random_state=seed).astype(np.float32)
            X = s.model.decode(Zs)
        pos = await asyncio.get_running_loop().run_in_executor(None, s.lmap.transform, Zs)
        return {"positions": pos.astype(np.float64).tolist(), "items": s.item_bytes(X)}

    @api.post("/api/runs/{rid}/attribute")
    async def attribute(rid: int, request: Request):
        from .. import ops

        s = state(rid)
        b = await body(request)
        groups = []
        for key in ("group_a", "group_b"):
            g = b.get(key)
            if not isinstance(g, list) or not g:
                raise Invalid(f"{key} must be a non-empty list of item numbers")
            groups.append(np.array([s.index(i, key + " item") for i in g], dtype=np.int64))
        i = s.index(b.get("item"))
        alphas = b.get("alphas", [-2, -1, 0, 1, 2])
        if (
            not isinstance(alphas, list)
            or not 1 <= len(alphas) <= 32
            or not all(
                isinstance(a, int | float) and not isinstance(a, bool) and math.isfinite(a) and abs(a) <= 10
                for a in alphas
            )
        ):
            raise Invalid("alphas must be 1 to 32 finite numbers in [-10, 10]")
        in_a, in_b = np.zeros(s.n, bool), np.zeros(s.n, bool)
        in_a[groups[0]], in_b[groups[1]] = True, True
        v = ops.attribute_vector(s.model, None, in_b, vs=in_a, Z=s.Z)  # from group A towards group B
        Zs = ops.apply(s.Z[i], v, np.asarray(alphas, np.float32))
        lo, hi = s.mean - MAX_SPAN * s.std, s.mean + MAX_SPAN * s.std
        Zs = np.clip(Zs, lo, hi).astype(np.float32)
        with s.lock:
            X = s.model.decode(Zs)
        return {
            "direction_norm": float(np.linalg.norm(v)),
            "alphas": alphas,
            "positions": s.place(Zs).astype(np.float64).tolist(),
            "items": s.item_bytes(X),
        }

    hosts = {h.lower() for h in (*LOCAL_HOSTS, host)}
    return Guard(api, token, hosts, max_body)
