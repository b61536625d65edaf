"""What the notebook widget shows, and its answers to the page: a run loaded as the explorer loads it
(``web.state.load_state``: the map, the per-row columns of ``web.columns``, the items of
``runfolder.items``), shipped as binary buffers, plus the requests a person makes by hovering,
clicking and searching.

Requests (``{"type": ..., "id": ...}`` from the page; each answer repeats ``id``):

``view`` ``{row}``
    the item as a tooltip shows it (``RunItems.view``: name, label, image, text, values, metadata);
``item`` ``{row}``
    the item with its reconstruction (a decoder's PNG as a buffer) and its ``k`` nearest neighbours;
``decode`` ``{x, y}``
    a map position: taken back to a latent by the map's inverse (kept within ``MAX_SPAN`` standard
    deviations of the latents' mean) and decoded (PNG buffer, or values), with how far it lies from
    the data; a run without a decoder answers with the real items nearest the position on the map;
``latent`` ``{dim}``
    one latent dimension, float32 buffer;
``text`` ``{j}``
    a free-text column's texts (UTF-8 joined by NUL, as ``web.columns.joined``), for the search;
``search`` ``{j, q}``
    rows whose text in column ``j`` holds ``q``, one bit per row (texts too large to ship).
"""

from __future__ import annotations

import base64
import io
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError

log = logging.getLogger(__name__)
NEIGHBOURS = 6  # nearest items listed beside a clicked one
MAX_QUERY = 200  # characters of a search answered here


class MapSource:
    """A run as the widget shows it. ``state`` is the explorer's ``RunState``; ``tempdir`` a folder
    made for arrays given in Python (removed by :meth:`close`)."""

    def __init__(self, state, tempdir: str | None = None, sample_shape=None):
        self.state = state
        self.tempdir = tempdir
        # how a decoded vector is drawn when the run's own data are not images (a model given with
        # vectors): its (c, h, w), else None (values)
        self.sample_shape = sample_shape

    # --- building ----------------------------------------------------------------------------------
    @classmethod
    def from_run(cls, run, map_method: str | None = None) -> MapSource:
        path = getattr(run, "path", run)
        # the map's layers (distortion, error, sensitivity) are columns the widget ships once: waited for
        return cls(_load_state()(0, Path(path), map_method, wait_layers=True))

    @classmethod
    def from_arrays(
        cls,
        Z,
        metadata=None,
        model=None,
        *,
        items=None,
        data=None,
        label_col: str | None = None,
        text_col: str | None = None,
        map_method: str | None = None,
        seed: int = 0,
    ) -> MapSource:
        """Vectors held in Python: imported into a temporary run folder (``from_embeddings``, so
        metadata, labels and items are read as an imported run's are), mapped, and loaded. A
        ``model`` with a decoder then decodes clicks on empty space."""
        from ..stages.imports import from_embeddings

        load_state = _load_state()
        tmp = tempfile.mkdtemp(prefix="latentspace-show-")
        try:
            run = from_embeddings(
                Z, metadata, out=Path(tmp) / "run", items=items, data=data, label_col=label_col,
                text_col=text_col, seed=seed,
            )  # fmt: skip
            if map_method not in (None, "pca"):
                from ..maps.store import map_run

                map_run(run, map_method, seed=seed)
            state = load_state(0, run.path, map_method, wait_layers=True)
            shape = None
            if model is not None:
                _check_model(model, state.latent_dim)
                state.model = model
                s = getattr(model, "sample_shape", None)
                shape = tuple(int(v) for v in s) if s is not None and len(s) == 3 else None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls(state, tmp, shape)

    def close(self) -> None:
        if self.tempdir is not None:
            shutil.rmtree(self.tempdir, ignore_errors=True)
            self.tempdir = None

    # --- what the page is sent once -------------------------------------------------------------
    def positions(self) -> tuple[bytes, bytes]:
        """The map's x and y, float32 bytes, one per row."""
        emb = self.state.lmap.embedding
        return (
            np.ascontiguousarray(emb[:, 0], np.float32).tobytes(),
            np.ascontiguousarray(emb[:, 1], np.float32).tobytes(),
        )

    def describe(self) -> dict:
        """The run as the page needs it (JSON): name, model, map, labels, items, columns, notes."""
        d = self.state.describe()
        keep = (
            "name", "model", "n", "latent_dim", "map", "labels", "label_col", "image",
            "has_decoder", "has_encoder", "note", "items", "columns", "slider_dims", "dimensions",
        )  # fmt: skip
        out = {k: d[k] for k in keep}
        out["has_decoder"] = self.state.has_decoder
        if self.state.has_decoder:
            out["note"] = None
        out["map_note"] = _map_note(self.state)
        return out

    def columns(self) -> list[dict]:
        """Every per-row column the page colours, filters and searches by: the explorer's wire form
        (``ColumnData.wire``) with codes and numbers as raw bytes; free texts are sent on the first
        search (``lazy``), or searched here when too large (``server_search``)."""
        out = []
        for j, col in enumerate(self.state.columns):
            data = self.state.column_data(j)
            wire = data.wire()
            lazy = wire["text"] is not None
            out.append(
                {
                    "codes": _raw(wire["codes"]),
                    "dtype": wire["dtype"],
                    "names": wire["names"],
                    "values": _raw(wire["values"]),
                    "text": None,
                    "lazy": lazy,
                    "server_search": bool(wire["server_search"]),
                    "key": col.key,
                }
            )
        return out

    # --- answers ------------------------------------------------------------------------------------
    def answer(self, msg: dict) -> tuple[dict, list[bytes]]:
        """The answer to one request from the page (see the module's docstring): (JSON, buffers). A
        bad request or a failure is answered with ``error``, one line."""
        kind = msg.get("type")
        handler = getattr(self, f"_answer_{kind}", None) if isinstance(kind, str) else None
        if handler is None:
            return {"error": f"unknown request {kind!r}"}, []
        try:
            body, buffers = handler(msg)
        except (InputError, ValueError, KeyError, TypeError, IndexError) as exc:
            return {"error": _line(exc)}, []
        except Exception as exc:  # noqa: BLE001 - the page gets one line; the traceback goes to the log
            log.exception("ls.show: the %s request failed", kind)
            return {"error": f"{kind} failed: {type(exc).__name__}: {_line(exc)}"}, []
        return body, buffers

    def _row(self, msg: dict, name: str = "row") -> int:
        i = msg.get(name)
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < self.state.n:
            raise InputError(f"{name} {i!r} is out of range: this run has items 0..{self.state.n - 1}")
        return i

    def _answer_view(self, msg):
        return {"view": self.state.items.view(self._row(msg))}, []

    def _answer_item(self, msg):
        s, i = self.state, self._row(msg)
        idx, dist = s.nearest(s.Z[i : i + 1], NEIGHBOURS + 1)
        keep = idx[0] != i
        nbrs, nd = idx[0][keep][:NEIGHBOURS], dist[0][keep][:NEIGHBOURS]
        body = {
            "row": i,
            "view": s.items.view(i),
            "neighbours": nbrs.tolist(),
            "distances": nd.astype(np.float64).tolist(),
            "neighbour_views": s.items.views(nbrs),
            "reconstruction": None,
        }
        buffers = []
        if s.has_decoder and s.has_encoder:
            with s.lock:
                x = np.asarray(s.model.decode(s.Z[i : i + 1]))[0]
            body["reconstruction"], buffers = self._drawn(x)
        return body, buffers

    def _answer_decode(self, msg):
        from ..web.layers import data_distance
        from ..web.requests import MAX_SPAN
        from ..web.state import MAP_NEAREST

        s = self.state
        point = [msg.get("x"), msg.get("y")]
        if not all(isinstance(v, int | float) and np.isfinite(v) for v in point):
            raise InputError(f"x and y must be finite numbers; got {point!r}")
        lo, hi = s.map_box
        point = np.clip(np.asarray(point, np.float64), lo[:2], hi[:2])
        z = s.lmap.inverse(point[None].astype(np.float32))[0]
        z = np.clip(z, s.mean - MAX_SPAN * s.std, s.mean + MAX_SPAN * s.std).astype(np.float32)
        body = {"point": point.tolist(), "z": z.astype(np.float64).tolist()}
        body["data_distance"] = data_distance(s, z)  # how far from the real latents
        if not s.has_decoder:  # the real items nearest the clicked place, on the map
            from ..runfolder.items import no_decoder_note

            idx, dist = s.nearest_on_map(point.astype(np.float32), MAP_NEAREST)
            body.update(kind="nearest", note=no_decoder_note(s.run, s.model), **s.nearest_answer(idx, dist))
            return body, []
        with s.lock:
            x = np.asarray(s.model.decode(z[None]))[0]
        drawn, buffers = self._drawn(x)
        return {**body, "kind": "decoded", "decoded": drawn}, buffers

    def _answer_latent(self, msg):
        dim = msg.get("dim")
        if not isinstance(dim, int) or isinstance(dim, bool) or not 0 <= dim < self.state.latent_dim:
            raise InputError(f"dim {dim!r} is out of range: 0..{self.state.latent_dim - 1}")
        return {"dim": dim}, [np.ascontiguousarray(self.state.Z[:, dim], np.float32).tobytes()]

    def _column(self, msg):
        j = msg.get("j")
        if not isinstance(j, int) or not 0 <= j < len(self.state.columns):
            raise InputError(f"j {j!r} is out of range: the columns are 0..{len(self.state.columns) - 1}")
        return j, self.state.column_data(j)

    def _answer_text(self, msg):
        j, data = self._column(msg)
        text = data.wire()["text"]
        if text is None:
            raise InputError(f"column {j} is not a text the page searches itself")
        return {"j": j}, [base64.b64decode(text)]

    def _answer_search(self, msg):
        j, data = self._column(msg)
        q = msg.get("q")
        if not isinstance(q, str) or not 1 <= len(q) <= MAX_QUERY:
            raise InputError(f"q must be 1 to {MAX_QUERY} characters")
        hit = data.search(q)
        return {"j": j, "count": int(hit.sum())}, [np.packbits(hit, bitorder="little").tobytes()]

    # --- drawing what a decoder gives back ---------------------------------------------------------
    def _drawn(self, x: np.ndarray) -> tuple[dict, list[bytes]]:
        """A decoded vector as the page shows it: ``{"png": 0}`` with the PNG as buffer 0 (image
        data), else ``{"values": [...]}`` (its first 64 values)."""
        s = self.state
        if s.is_image:
            return {"png": 0}, [s.png(x)]
        if self.sample_shape is not None and int(np.prod(self.sample_shape)) == x.size:
            return {"png": 0}, [_png(x, self.sample_shape)]
        return {"values": np.round(x[:64].astype(np.float64), 5).tolist()}, []


def _line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _load_state():
    """The explorer's ``load_state`` (its modules need pydantic, which the explorer's and the
    notebook's extras bring)."""
    try:
        from ..web.state import load_state
    except ImportError as exc:
        from ..errors import MissingDependencyError

        raise MissingDependencyError(
            f"ls.show needs {exc.name or 'a package'}: pip install 'latentspace[notebook]'"
        ) from None
    return load_state


def _raw(b64: str | None) -> bytes | None:
    return None if b64 is None else base64.b64decode(b64)


def _check_model(model, latent_dim: int) -> None:
    if not callable(getattr(model, "decode", None)):
        raise InputError(
            f"model: {type(model).__name__} has no decode(Z); give a fitted latentspace model or"
            " ls.wrap(encode=..., decode=..., latent_dim=...)"
        )
    k = getattr(model, "latent_dim", None)
    if k is not None and int(k) != latent_dim:
        raise InputError(f"model: its latent_dim is {k}, but Z has {latent_dim} columns")


def _png(x: np.ndarray, shape) -> bytes:
    """A decoded vector of a model trained on images in [0, 1], drawn as PNG (values clipped)."""
    from PIL import Image

    c, h, w = shape
    a = (np.clip(np.asarray(x, np.float32).reshape(c, h, w), 0, 1) * 255 + 0.5).astype(np.uint8)
    a = a.transpose(1, 2, 0)
    img = Image.fromarray(a[:, :, 0]) if c == 1 else Image.fromarray(a)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _map_note(state) -> str:
    from ..maps import get_method

    title = get_method(state.lmap.method).title
    q = state.lmap.quality or {}
    t = q.get("trustworthiness")
    return f"{title} map" + (f" · trustworthiness {t:.3f}" if isinstance(t, int | float) else "")
