"""The explorer's routes that ask the model: an item with its neighbours and reconstruction, decode,
nearest real items, map placement and its inverse, interpolation, prior draws and attribute vectors.
Where a run has no decoder, each answers with the nearest real items (see :mod:`.app`)."""

from __future__ import annotations

import asyncio
import json

import numpy as np
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from .layers import data_distance, placed
from .requests import (
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
    shown,
)
from .state import MAP_NEAREST, DecodeBatcher, RunState

PLACE_HEADER = "X-Place"  # {z, place, png}: the point's position and data_distance, JSON


def add_model_routes(api: FastAPI, state, batchers: list[DecodeBatcher]) -> None:
    """Add the routes; ``state(rid)`` gives a run's RunState (or 404)."""

    async def body(request: Request, model, s: RunState):
        return parse(model, await request.body(), s)

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

    @api.post("/api/runs/{rid}/decode")
    async def decode(rid: int, request: Request):
        s = state(rid)
        b = await body(request, DecodeBody, s)
        s.need_decoder("decode a latent point")
        if b.place:  # the slider's: placed with the batch it is decoded in
            x, where = await batchers[s.rid].decode(b.z, place=True)
            if b.png and s.is_image:  # PNG bytes, the place as JSON in a header: no base64, no JSON body
                return Response(s.png(x), media_type="image/png", headers={PLACE_HEADER: json.dumps(where)})
            # plain JSON types already: a JSONResponse skips FastAPI's per-value encoder (the hot path)
            return JSONResponse({"item": s.item_bytes(x[None])[0], **where})  # position, data_distance
        x = await batchers[s.rid].decode(b.z)
        if b.png and s.is_image:
            return Response(s.png(x), media_type="image/png")
        return {"item": s.item_bytes(x[None])[0]}

    @api.post("/api/runs/{rid}/nearest")
    async def nearest(rid: int, request: Request):
        s = state(rid)
        b = await body(request, NearestBody, s)
        idx, dist = s.nearest(b.z[None], b.k)
        out = s.nearest_answer(idx[0], dist[0])
        if b.place:  # position, data_distance
            out.update(await asyncio.get_running_loop().run_in_executor(None, placed, s, b.z))
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

        # how far the point lies from the real latents, and the click from the items on the map: scans
        # of every row (about 20 ms a click at 1M rows), so in a worker thread, not on the event loop
        def support():
            return {"data_distance": data_distance(s, z), "map_distance": s.map_support(b.point)}

        near = await asyncio.get_running_loop().run_in_executor(None, support)
        if not s.has_decoder:  # the real items nearest the clicked place, in map space
            idx, dist = s.nearest_on_map(b.point, MAP_NEAREST)
            zl = z.astype(np.float64).tolist()
            return {"z": zl, "point": list(b.point), **s.nearest_answer(idx, dist), **near}
        x = await batchers[s.rid].decode(z)
        return {"z": z.astype(np.float64).tolist(), "item": s.item_bytes(x[None])[0], **near}

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
        """The direction from group A's mean latent to group B's, applied to an item at each alpha;
        ``direction`` lets the page move along it live (one decode per slider step)."""
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
            "direction": np.asarray(v, np.float64).tolist(),
            "alphas": list(b.alphas),
            "positions": s.place(Zs).astype(np.float64).tolist(),
        }
        if not s.has_decoder:  # analogy search: the real item nearest the edited latent, per alpha
            idx, dist = s.nearest(Zs, 1)
            return {**out, **s.nearest_answer(idx[:, 0], dist[:, 0])}
        with s.lock:
            X = s.model.decode(Zs)
        return {**out, "items": s.item_bytes(X)}
