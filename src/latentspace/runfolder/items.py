"""What a person sees for row ``i`` of a run, in one place: the report, the explorer and the CLI's
figures all ask :class:`RunItems`, so they never disagree.

An item is of one kind (``config.json``'s ``items`` record; a run made by ``latentspace fit`` has
none and its items are its data):

``image``
    a thumbnail kept in ``items.parquet`` (PNG, at most ``THUMB`` pixels a side), checked when read;
``text``
    a text column of the metadata (``items.column``);
``data``
    the row of the run's data: an image when the data have a ``(c, h, w)`` sample shape, else its
    feature values;
``none``
    nothing but the label and the metadata.

Every item also has its label and its metadata (the columns kept with the latents, under the
user's own names). Values leave here JSON-ready: texts cut at ``MAX_TEXT`` characters, times as
ISO strings, NaN as None. The module also says, in one sentence, what a run shows where a model
would decode and it has no decoder (:func:`no_decoder_note`).
"""

from __future__ import annotations

import base64
import io
import math
import struct
from datetime import date, datetime, time, timedelta

import numpy as np

from ..data.items import ITEMS_FILE, THUMB
from ..errors import InputError, RunIntegrityError

KINDS = ("image", "text", "data", "none")
MAX_TEXT = 2000  # characters of one text value given out (a tooltip or a table cell shows fewer)
MAX_VALUES = 64  # feature values of a data row given out
MAX_META = 64  # metadata columns given out per item
_PNG = b"\x89PNG\r\n\x1a\n"


def no_decoder_note(run, model) -> str | None:
    """The line a page shows where a model would decode and this one cannot, or None."""
    if getattr(model, "has_decoder", True):
        return None
    if run.model_name == "embeddings":
        return "this run holds imported vectors: no decoder; showing the nearest real items"
    return f"this run's model ({run.model_name}) has no decoder; showing the nearest real items"


def _json_value(v):
    """A metadata value as JSON can carry it."""
    if v is None or isinstance(v, bool | int | str):
        return v[:MAX_TEXT] if isinstance(v, str) else v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    if isinstance(v, timedelta):
        return str(v)
    return str(v)[:MAX_TEXT]


class RunItems:
    """The items of a run: ``kind``, and for rows their image (PNG), text, feature values, label
    and metadata.

    Parameters
    ----------
    run : Run
        An open run folder.
    data : Dataset, optional
        The run's data, when the caller has loaded it already (only ``data`` items read it).
    """

    def __init__(self, run, data=None):
        self.run = run
        record = run.config.get("items") or {"kind": "data"}
        self.kind: str = record["kind"]
        self.column: str | None = record.get("column") if self.kind == "text" else None
        self.n: int = run.n_items
        self._data = data
        self._png: list[bytes] | None = None
        self._meta = None
        self._labels = None
        self._range = None
        if self.kind == "image" and ITEMS_FILE not in run.config["files"]:
            raise RunIntegrityError(
                f"{run.path / 'config.json'} says the items are images, but the run has no {ITEMS_FILE}"
            )

    # --- what the run holds ---------------------------------------------------------------------
    @property
    def data(self):
        """The run's data (loaded on first use, checked against its fingerprint)."""
        if self._data is None:
            self._data = self.run.load_dataset()
        return self._data

    @property
    def sample_shape(self):
        return self.run.config["dataset"].get("sample_shape")

    @property
    def data_images(self) -> bool:
        """The run's data are images (what a decoder gives back is drawn as one)."""
        s = self.sample_shape
        return s is not None and len(s) == 3

    @property
    def shows_images(self) -> bool:
        """An item is shown as an image (a thumbnail, or a data row drawn as one)."""
        return self.kind == "image" or (self.kind == "data" and self.data_images)

    @property
    def shows_values(self) -> bool:
        """An item is shown as feature values (a data row that is not an image)."""
        return self.kind == "data" and not self.data_images

    def metadata_columns(self) -> list[dict]:
        """``[{"name", "kind"}]`` of the metadata kept with the latents (config.json's record)."""
        return [dict(m) for m in self.run.config.get("metadata", [])]

    def describe(self) -> dict:
        """What a page needs to know to draw items."""
        return {
            "kind": self.kind,
            "column": self.column,
            "images": self.shows_images,
            "metadata": self.metadata_columns()[:MAX_META],
        }

    # --- one row at a time, or several ------------------------------------------------------------
    def check_row(self, i) -> int:
        i = int(i)
        if not 0 <= i < self.n:
            raise InputError(f"item {i} is out of range: {self.run.name} has items 0..{self.n - 1}")
        return i

    def label(self, i: int) -> str | None:
        """The item's label as a name, or None when the run has no labels."""
        codes, names = self._label_codes()
        if codes is None:
            return None
        from ..data.dataset import label_name

        return label_name(codes[self.check_row(i)], names)

    def labels(self, rows) -> list[str | None]:
        return [self.label(i) for i in rows]

    def name(self, i: int) -> str:
        """``#i (label)``, as figures and tooltips name an item."""
        label = self.label(i)
        return f"#{int(i)}" + (f" ({label})" if label is not None else "")

    def text(self, i: int) -> str | None:
        """The item's text (text items), cut at ``MAX_TEXT`` characters; None for other kinds."""
        if self.kind != "text":
            return None
        v = self._metadata()[self.column][self.check_row(i)].as_py()
        return "" if v is None else str(v)[:MAX_TEXT]

    def texts(self, rows) -> list[str | None]:
        return [self.text(i) for i in rows]

    def png(self, i: int) -> bytes | None:
        """The item as PNG bytes (image items; data rows that are images), else None."""
        i = self.check_row(i)
        if self.kind == "image":
            return self._thumbnails()[i]
        if self.kind == "data" and self.data_images:
            return self.render_png(np.asarray(self.data.X[i]))
        return None

    def pixels(self, rows) -> list[np.ndarray] | None:
        """The items as uint8 arrays (h, w, 1 or 3), or None when items are not images."""
        rows = [self.check_row(i) for i in rows]
        if self.kind == "image":
            from PIL import Image

            out = []
            for i in rows:
                try:
                    with Image.open(io.BytesIO(self._thumbnails()[i])) as im:
                        grey = im.mode in ("1", "L", "I", "I;16", "F")
                        a = np.asarray(im.convert("L" if grey else "RGB"))
                except Exception as exc:  # noqa: BLE001 - any decoder error on an untrusted file
                    raise RunIntegrityError(
                        f"{self.run.path / ITEMS_FILE}: the image of item {i} cannot be read: {exc}"
                    ) from None
                out.append(a[:, :, None] if a.ndim == 2 else a)
            return out
        if self.kind == "data" and self.data_images:
            return [self.render(np.asarray(self.data.X[i])) for i in rows]
        return None

    def values(self, i: int) -> list[float] | None:
        """The first ``MAX_VALUES`` feature values of the item's data row (data items that are not
        images), else None."""
        if not self.shows_values:
            return None
        x = np.asarray(self.data.X[self.check_row(i)][:MAX_VALUES], dtype=np.float64)
        return [float(v) if math.isfinite(v) else None for v in np.round(x, 5)]

    def feature_names(self) -> list[str] | None:
        names = self.run.config["dataset"].get("feature_names")
        return list(names[:MAX_VALUES]) if names else None

    def meta(self, i: int) -> dict:
        """The item's metadata, ``{column: value}`` (at most ``MAX_META`` columns, JSON-ready)."""
        table = self._metadata()
        i = self.check_row(i)
        return {name: _json_value(table[name][i].as_py()) for name in table.column_names[:MAX_META]}

    def metas(self, rows, columns=None) -> list[dict]:
        """The metadata of several rows at once (``columns``: a subset, by name)."""
        table = self._metadata()
        names = [c for c in (columns or table.column_names[:MAX_META]) if c in table.column_names]
        if not names:
            return [{} for _ in rows]
        rows = np.asarray([self.check_row(i) for i in rows], dtype=np.int64)
        picked = table.select(names).take(rows).to_pylist()
        return [{k: _json_value(v) for k, v in row.items()} for row in picked]

    def colour_column(self, name: str, max_classes: int = 100):
        """A metadata column as the map colours it: ``("classes", codes (n,) int32, names)`` for
        categories, booleans and texts of at most ``max_classes`` values, ``("values", (n,) float64)``
        for numbers (NaN where missing), or None (times, free texts, an unknown name)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        kinds = {m["name"]: m["kind"] for m in self.metadata_columns()}
        if name not in kinds:
            return None
        col = self._metadata()[name]
        if kinds[name] == "number":
            return "values", np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64)
        if kinds[name] not in ("category", "bool", "text"):
            return None
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if pc.count_distinct(col, mode="all").as_py() > max_classes:
            return None
        values = col.cast(pa.string()).fill_null("–").to_numpy(zero_copy_only=False).astype(str)
        names, codes = np.unique(values, return_inverse=True)
        return "classes", codes.astype(np.int32), [str(v)[:80] for v in names]

    def view(self, i: int, *, meta: bool = True) -> dict:
        """Everything a page shows for item ``i``: row, name, label, image (base64 PNG), text,
        feature values and (``meta``) the metadata."""
        i = self.check_row(i)
        png = self.png(i)
        out = {
            "row": i,
            "name": self.name(i),
            "label": self.label(i),
            "image": None if png is None else base64.b64encode(png).decode(),
            "text": self.text(i),
            "values": self.values(i),
        }
        if meta:
            out["meta"] = self.meta(i)
        return out

    def views(self, rows, *, meta: bool = False) -> list[dict]:
        return [self.view(int(i), meta=meta) for i in rows]

    # --- drawing a data row (or what a decoder gives back) as an image --------------------------
    @property
    def value_range(self) -> tuple[float, float]:
        """The data's grey scale: (min, max) of its first rows."""
        if self._range is None:
            self._range = self.data.value_range()
        return self._range

    def render(self, x: np.ndarray) -> np.ndarray:
        """A data-space vector (a data row, or a decoded one) as a uint8 image (h, w, c)."""
        c, h, w = self.sample_shape
        lo, hi = self.value_range
        a = np.clip((np.asarray(x, np.float32) - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
        return (a.reshape(c, h, w) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)

    def render_png(self, x: np.ndarray) -> bytes:
        """A data-space vector drawn as PNG bytes."""
        from PIL import Image

        a = self.render(x)
        img = Image.fromarray(a[:, :, 0]) if a.shape[2] == 1 else Image.fromarray(a)
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()

    # --- reading the run's files, once, checked ---------------------------------------------------
    def _label_codes(self):
        if self._labels is None:
            table = self.run.latents()
            codes = table["label"].to_numpy() if "label" in table.column_names else None
            self._labels = (codes, self.run.config["dataset"].get("label_names"))
        return self._labels

    def _metadata(self):
        if self._meta is None:
            self._meta = self.run.metadata()
        return self._meta

    def _thumbnails(self) -> list[bytes]:
        """items.parquet's images, checked: one per row in order, each a PNG of at most THUMB
        pixels a side (the run folder is untrusted input; nothing larger is ever decoded)."""
        if self._png is None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            where = self.run.path / ITEMS_FILE
            data = self.run.read_file(ITEMS_FILE)  # checked against its recorded checksum
            try:
                table = pq.read_table(io.BytesIO(data))
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise RunIntegrityError(f"{where} is not a readable Parquet file: {exc}") from None
            if set(table.column_names) != {"row", "image"}:
                raise RunIntegrityError(f"{where} must have the columns row and image")
            if table.num_rows != self.n:
                raise RunIntegrityError(f"{where} has {table.num_rows:,} rows; the run has {self.n:,} items")
            row, image = table["row"], table["image"]
            if (
                not pa.types.is_integer(row.type)
                or row.null_count
                or not np.array_equal(row.to_numpy(), np.arange(self.n))
            ):
                raise RunIntegrityError(f"{where}: column row must number the items 0, 1, ... in order")
            if not (pa.types.is_binary(image.type) or pa.types.is_large_binary(image.type)):
                raise RunIntegrityError(f"{where}: column image must hold PNG bytes, got {image.type}")
            pngs = image.to_pylist()
            for i, b in enumerate(pngs):
                if b is None or len(b) < 24 or not b.startswith(_PNG) or b[12:16] != b"IHDR":
                    raise RunIntegrityError(f"{where}: the image of item {i} is not a PNG")
                w, h = struct.unpack(">II", b[16:24])
                if not (1 <= w <= THUMB and 1 <= h <= THUMB):
                    raise RunIntegrityError(
                        f"{where}: the image of item {i} is {w}x{h}; thumbnails are at most {THUMB}x{THUMB}"
                    )
            self._png = pngs
        return self._png
