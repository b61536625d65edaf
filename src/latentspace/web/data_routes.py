"""The explorer's routes that read a run's rows: the runs, the map, a latent dimension, per-row
columns (colour, filter, search; see :mod:`.columns`), one item's view and thumbnail, and the CSV
export of lasso groups."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from fastapi import FastAPI, Request, Response

from .columns import TEXT_LIMIT, b64, export_csv
from .requests import ExportBody, Invalid, parse, shown

MAX_QUERY = 200  # characters of a search sent to the server


def add_data_routes(api: FastAPI, states: list, state) -> None:
    """Add the routes; ``state(rid)`` gives a run's RunState (or 404)."""

    @api.get("/api/runs")
    async def runs():
        return {"runs": [s.describe() for s in states]}

    # the map's body: 1M points are 21 MB of base64 that every page load fetches and its first paint
    # waits for; made once per run and map, from start-up on, in a thread of its own
    pool = ThreadPoolExecutor(1, thread_name_prefix="map-body")
    bodies = {s.rid: (s.lmap, s.error, pool.submit(_map_body, s)) for s in states}

    @api.get("/api/runs/{rid}/map")
    async def map_data(rid: int):
        s = state(rid)
        kept = bodies.get(rid)
        if kept is None or kept[0] is not s.lmap or kept[1] is not s.error:  # (a new map, or errors set)
            kept = bodies[rid] = (s.lmap, s.error, pool.submit(_map_body, s))
        return Response(await asyncio.wrap_future(kept[2]), media_type="application/json")

    @api.get("/api/runs/{rid}/latent/{dim}")
    async def latent_column(rid: int, dim: int):
        s = state(rid)
        if not 0 <= dim < s.latent_dim:
            raise Invalid(f"dim {shown(dim)} is out of range: 0..{s.latent_dim - 1}")
        return {"values": b64(s.Z[:, dim])}

    @api.get("/api/runs/{rid}/meta/{j}")
    async def meta_column(rid: int, j: int):
        """Metadata column ``j`` of ``colour_columns``, for colouring the map."""
        s = state(rid)
        names = s.colour_columns
        if not 0 <= j < len(names):
            last = f"0..{len(names) - 1}" if names else "none: this run has no such column"
            raise Invalid(f"j {shown(j)} is out of range: the colour columns are {last}")
        kind, *rest = s.items.colour_column(names[j])
        if kind == "values":
            return {"name": names[j], "values": b64(rest[0].astype(np.float32)), "codes": None, "names": None}
        return {"name": names[j], "values": None, "codes": b64(rest[0].astype(np.int32)), "names": rest[1]}

    def column(s, j: int):
        cols = s.columns
        if not 0 <= j < len(cols):
            raise Invalid(f"j {shown(j)} is out of range: the run's columns are 0..{len(cols) - 1}")
        return cols[j], s.column_data(j)

    @api.get("/api/runs/{rid}/columns/{j}")
    async def column_values(rid: int, j: int):
        """Column ``j`` of ``columns`` in /api/runs: codes and names, numbers, or a text blob."""
        s = state(rid)

        def body():  # off the event loop: a free text of 1M rows is read, joined and encoded (~20 MB)
            col, data = column(s, j)
            return _json({"key": col.key, "n": s.n, **data.wire()})

        return Response(
            await asyncio.wrap_future(pool.submit(body)),
            media_type="application/json",
            headers={"Cache-Control": "private, max-age=3600"},
        )

    @api.get("/api/runs/{rid}/columns/{j}/text")
    async def column_text(rid: int, j: int):
        """A free-text column's rows as raw UTF-8 joined by NUL: what the explorer's page fetches
        (no JSON, no base64: at 1M rows 18 MB the browser need not parse or decode first)."""
        s = state(rid)
        col, data = column(s, j)
        if data.kind != "text" or data.texts is None:
            raise Invalid(f"column {shown(col.name)} is not a free text; fetch /columns/{j}")
        if data.server_search:
            raise Invalid(f"column {shown(col.name)} is over {TEXT_LIMIT:,} bytes: search it with /search")
        blob = await asyncio.wrap_future(pool.submit(data.text_blob))
        return Response(
            blob, media_type="application/octet-stream", headers={"Cache-Control": "private, max-age=3600"}
        )

    @api.get("/api/runs/{rid}/columns/{j}/search")
    async def column_search(rid: int, j: int, q: str = ""):
        """The rows whose text in column ``j`` contains ``q`` (case aside), one bit per row (bit i of
        byte i // 8, least significant first), for texts too large to send to the page."""
        s = state(rid)
        col, data = column(s, j)
        if not 1 <= len(q) <= MAX_QUERY:
            raise Invalid(f"q must be 1 to {MAX_QUERY} characters; got {len(q)}")
        if data.kind != "text":
            raise Invalid(f"column {shown(col.name)} is not a text column; the page searches it itself")
        # off the event loop (Arrow's kernels let go of the GIL): 30-50 ms at 1M rows
        hit = await asyncio.get_running_loop().run_in_executor(None, data.search, q)
        return {"count": int(hit.sum()), "bits": b64(np.packbits(hit, bitorder="little"))}

    @api.post("/api/runs/{rid}/export")
    async def export(rid: int, request: Request):
        """Lasso groups A and B (packed) as CSV: row, group, label and every metadata column."""
        s = state(rid)
        b = parse(ExportBody, await request.body(), s)
        groups = {g: r for g, r in (("A", b.a), ("B", b.b)) if r is not None and len(r)}
        if not groups:
            raise Invalid("nothing to export: a and b are both empty; lasso a group first")
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", s.run.name)[:60] or "run"
        return Response(
            export_csv(s, groups),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}-selection.csv"'},
        )

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


def _map_body(s) -> bytes:
    """JSON of the map's x and y (float32), reconstruction error (float32 or null) and label codes
    (int32 or null), each base64."""
    emb = s.lmap.embedding
    label = np.unique(s.data.y, return_inverse=True)[1].astype(np.int32) if s.data.y is not None else None
    arrays = {"x": emb[:, 0].astype(np.float32), "y": emb[:, 1].astype(np.float32), "error": s.error}
    return _json({k: (None if v is None else b64(v)) for k, v in {**arrays, "label": label}.items()})


def _json(value) -> bytes:
    import json

    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
