"""Per-row columns for the page: what the map can be coloured by, filtered on and searched, shipped
compactly so the page does the work for every row itself.

A :class:`Column` is a name, a kind and a loader; the run's built-in ones are its label, its metadata
columns and the reconstruction error (:func:`builtin_columns`). Other parts of the explorer add their
own per run (map layers such as a per-point distortion) by appending a ``Column`` to
``RunState.extra_columns`` before the app serves, for example::

    state.extra_columns.append(Column(
        key="layer:distortion", name="map distortion", kind="number", group="layer",
        explain="share of each point's 15 latent neighbours that are not among its 15 map neighbours",
        load=lambda: ColumnData.numbers(values)))

The page lists every column in ``/api/runs`` (``columns``: key, name, kind, one-line explanation,
whether it colours, filters, is searched, and how) and fetches one column's values by its place in that
list: ``/api/runs/{rid}/columns/{j}``. On the wire a category is codes (one, two or four bytes a row,
base64) and its names; a number is float32 (NaN where missing); a free text is one UTF-8 blob of the
row texts joined by NUL (base64 in that JSON, raw bytes from ``/columns/{j}/text``, which the
explorer's page fetches), or, over ``TEXT_LIMIT`` bytes (``server_search`` in its description),
searched here (``/api/runs/{rid}/columns/{j}/search?q=``, an answer of one bit per row).

Searching is exact for categories (case aside), a substring for texts (case aside), equality for
numbers. Lasso groups travel packed (:func:`unpack_rows`): the sorted rows as gaps (row - previous - 1)
in LEB128 varints, deflated (raw deflate), in URL-safe base64 without padding; the page's URL and the
CSV export (:func:`export_csv`) use the same form.
"""

from __future__ import annotations

import base64
import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

MAX_COLOUR_CLASSES = 100  # classes a category may have to colour the map (the legend's limit)
MAX_FILTER_CLASSES = 1000  # classes a category may have to be a filter (a checkbox list; a text: 100)
MAX_DICT = 65535  # distinct texts shipped as a dictionary (codes + names) rather than a blob
DICT_BYTES = 8 << 20  # ... whose names take at most this many UTF-8 bytes
LOWER_BYTES = 512 << 20  # free texts up to this size also kept lower-cased for the server's search
TEXT_LIMIT = 32 << 20  # UTF-8 bytes of a text column shipped to the page; larger ones are searched here
KINDS = ("category", "number", "text")


@dataclass
class ColumnData:
    """The values of a column, one per row: class codes and their names (``category``; also a text
    column with few distinct values), numbers (float32, NaN where missing), or texts."""

    kind: str
    codes: np.ndarray | None = None
    names: list[str] | None = None
    values: np.ndarray | None = None
    texts: object = None  # a pyarrow string array (no nulls): texts too varied for a dictionary
    lower: object = None  # the texts lower-cased, kept up to LOWER_BYTES: a search then costs half
    _wire: dict | None = field(default=None, repr=False)
    _blob: bytes | None = field(default=None, repr=False)

    @classmethod
    def classes(cls, codes, names, kind: str = "category") -> ColumnData:
        return cls(kind, codes=np.asarray(codes, np.int64), names=[str(v) for v in names])

    @classmethod
    def numbers(cls, values) -> ColumnData:
        return cls("number", values=np.asarray(values, np.float32).reshape(-1))

    @classmethod
    def from_strings(cls, values, kind: str) -> ColumnData:
        """Strings (a pyarrow array; null reads "–" for a category, "" for a text) as a column:
        codes and sorted names when a category, or a text with few distinct values; else texts."""
        import pyarrow as pa
        import pyarrow.compute as pc

        values = pa.chunked_array([values]) if isinstance(values, pa.Array) else values
        values = values.cast(pa.string()).fill_null("–" if kind == "category" else "").combine_chunks()
        if kind == "text" and pc.count_distinct(values).as_py() > MAX_DICT:
            return cls.free_texts(values)
        enc = pc.dictionary_encode(values)
        if kind == "text" and pc.sum(pc.binary_length(enc.dictionary)).as_py() > DICT_BYTES:
            return cls.free_texts(values)
        names = np.asarray(enc.dictionary.to_numpy(zero_copy_only=False), dtype=str)
        order = np.argsort(names, kind="stable")  # the order np.unique gives (and RunItems' legend)
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order))
        codes = rank[np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.int64)]
        return cls(kind, codes=codes, names=names[order].tolist())

    @classmethod
    def free_texts(cls, values) -> ColumnData:
        import pyarrow.compute as pc

        small = values.nbytes <= LOWER_BYTES
        return cls("text", texts=values, lower=pc.utf8_lower(values) if small else None)

    def __len__(self) -> int:
        if self.codes is not None:
            return len(self.codes)
        return len(self.values) if self.values is not None else len(self.texts)

    @property
    def n_classes(self) -> int | None:
        return None if self.names is None else len(self.names)

    def text_blob(self) -> bytes:
        """A free text's rows as UTF-8, joined by NUL (see :func:`joined`; made once)."""
        if self._blob is None:
            self._blob = joined(self.texts)
        return self._blob

    @property
    def server_search(self) -> bool:
        """Whether a free text is too large to send to the page (it is searched on the server):
        its joined size (texts and a NUL between each two), without joining them."""
        import pyarrow.compute as pc

        if self.texts is None:
            return False
        size = (pc.sum(pc.binary_length(self.texts)).as_py() or 0) + max(len(self.texts) - 1, 0)
        return size > TEXT_LIMIT

    def wire(self) -> dict:
        """The column as the page receives it (computed once)."""
        if self._wire is None:
            out = {"kind": self.kind, "codes": None, "dtype": None, "names": None, "values": None}
            out.update({"text": None, "server_search": False})
            if self.codes is not None:
                dtype = (
                    np.uint8
                    if len(self.names) <= 256
                    else np.uint16
                    if len(self.names) <= 65536
                    else np.uint32
                )
                out.update(
                    codes=b64(self.codes.astype(dtype)), dtype=np.dtype(dtype).str[1:], names=self.names
                )
            elif self.values is not None:
                out["values"] = b64(self.values.astype(np.float32))
            else:
                blob = self.text_blob()
                if len(blob) <= TEXT_LIMIT:
                    out["text"] = base64.b64encode(blob).decode()
                else:
                    out["server_search"] = True
            self._wire = out
        return self._wire

    def search(self, q: str) -> np.ndarray:
        """Rows whose text contains ``q``, ignoring case (a bool array)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.texts is not None:
            if self.lower is None:
                hit = pc.match_substring(self.texts, q, ignore_case=True)
            else:  # the same rows: both sides lower-cased, as the page searches
                hit = pc.match_substring(self.lower, pc.utf8_lower(pa.scalar(q, pa.string())).as_py())
            return np.asarray(hit.fill_null(False).to_numpy(zero_copy_only=False), bool)
        if self.names is not None:
            ok = np.array([q.lower() in s.lower() for s in self.names] + [False], bool)
            return ok[self.codes]
        return np.zeros(len(self), bool)


@dataclass
class Column:
    """A per-row column of a run: ``key`` (stable, used in URLs: ``label``, ``error``,
    ``meta:<name>``, ``layer:<name>``), ``name`` as shown, ``kind`` (``category``, ``number`` or
    ``text``), ``load`` (returns :class:`ColumnData`), a one-line ``explain``, the ``group`` the
    colour-by list shows it in, and whether it may colour the map (``colour``), filter (``filter``)
    and is searched (``search``)."""

    key: str
    name: str
    kind: str
    load: Callable[[], ColumnData]
    explain: str | None = None
    group: str = "data"
    colour: bool = True
    filter: bool = True
    search: bool = True

    def loaded(self, n: int) -> ColumnData:
        from ..errors import RunIntegrityError

        data = self.load()
        if len(data) != n:
            raise RunIntegrityError(f"column {self.name!r} has {len(data):,} values; the run has {n:,} items")
        return data

    def describe(self, data: ColumnData) -> dict:
        k = data.n_classes
        most = MAX_FILTER_CLASSES if data.kind == "category" else MAX_COLOUR_CLASSES  # a text: few values
        return {
            "key": self.key,
            "name": self.name,
            "kind": data.kind,
            "explain": self.explain,
            "group": self.group,
            "classes": k,
            "colour": self.colour and (data.kind == "number" or (k is not None and k <= MAX_COLOUR_CLASSES)),
            "filter": self.filter and (data.kind == "number" or (k is not None and k <= most)),
            "server_search": data.server_search,  # a free text over TEXT_LIMIT: never sent to the page
            "search": self.search,
            "match": {"category": "exact", "number": "equal"}.get(data.kind, "substring"),
        }


def joined(texts) -> bytes:
    """The UTF-8 bytes of a string array without nulls, each text followed by NUL but the last (a NUL
    inside a text becomes a space)."""
    import pyarrow as pa

    arr = texts.cast(pa.large_string())
    _, off, data = arr.buffers()
    o = np.frombuffer(off, np.int64)[arr.offset : arr.offset + len(arr) + 1]
    d = np.frombuffer(data, np.uint8)[o[0] : o[-1]] if data is not None else np.zeros(0, np.uint8)
    d = np.where(d == 0, np.uint8(32), d)
    return np.insert(d, o[1:-1] - o[0], np.uint8(0)).tobytes()


def b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


# --- the built-in columns of a run ---------------------------------------------------------------
def builtin_columns(state) -> list[Column]:
    """The label, every metadata column and the reconstruction error of ``state`` (a RunState)."""
    from ..runfolder.items import _json_value

    out: list[Column] = []
    d, run = state.data, state.run
    if d.y is not None:

        def label() -> ColumnData:
            values, codes = np.unique(d.y, return_inverse=True)
            return ColumnData.classes(codes, [d.label_name(v) for v in values])

        out.append(Column("label", run.config.get("label_col") or "label", "category", label))
    table = run.metadata()
    label_col, text_col = run.config.get("label_col"), state.items.column
    for m in state.items.metadata_columns():
        name, kind = m["name"], m["kind"]

        def load(name=name, kind=kind) -> ColumnData:
            import pyarrow as pa

            col = table[name]
            if kind == "number":
                return ColumnData.numbers(col.cast(pa.float64()).to_numpy(zero_copy_only=False))
            if kind == "time":
                return ColumnData.from_strings(
                    pa.array([_json_value(v) for v in col.to_pylist()], pa.string()), "text"
                )
            if pa.types.is_dictionary(col.type):
                col = col.cast(col.type.value_type)
            return ColumnData.from_strings(col, "category" if kind in ("category", "bool") else "text")

        plain = "number" if kind == "number" else "category" if kind in ("category", "bool") else "text"
        dup = name == label_col  # the label already shows it
        explain = "the text of each item" if name == text_col else None
        out.append(Column(f"meta:{name}", name, plain, load, explain, filter=not dup, search=not dup))
    if state.error is not None:
        err = state.error
        out.append(
            Column(
                "error",
                "reconstruction error",
                "number",
                lambda: ColumnData.numbers(err),
                "mean squared difference between an item and its decoding (lower: better kept)",
                group="model",
            )
        )
    return out


# --- lasso groups, packed -------------------------------------------------------------------------
def unpack_rows(text: str, n: int) -> np.ndarray:
    """Row numbers from their packed form (see the module's docstring); ValueError if malformed or
    out of 0..n-1. At most ``5 n`` bytes are ever inflated."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise ValueError("is not URL-safe base64") from None
    z = zlib.decompressobj(-15)
    try:
        data = z.decompress(raw, 5 * n + 16)
    except zlib.error:
        raise ValueError("is not raw deflate data") from None
    if z.unconsumed_tail or not z.eof:
        raise ValueError("inflates to more than the run's rows could take, or is cut short")
    b = np.frombuffer(data, np.uint8)
    if not len(b):
        return np.zeros(0, np.int64)
    if b[-1] >= 128:
        raise ValueError("ends inside a number")
    ends = np.flatnonzero(b < 128)
    starts = np.r_[0, ends[:-1] + 1]
    lengths = ends - starts + 1
    if lengths.max() > 5:
        raise ValueError("holds a number over 5 bytes")
    gaps = np.zeros(len(ends), np.int64)
    for k in range(int(lengths.max())):
        has = lengths > k
        gaps[has] |= (b[starts[has] + k] & 127).astype(np.int64) << (7 * k)
    rows = np.cumsum(gaps + 1) - 1
    if rows[-1] >= n:
        raise ValueError(f"names row {int(rows[-1])}: this run has items 0..{n - 1}")
    return rows


def pack_rows(rows) -> str:
    """The packed form of a set of row numbers (the inverse of :func:`unpack_rows`)."""
    rows = np.unique(np.asarray(rows, np.int64))
    gaps = np.diff(np.r_[-1, rows]) - 1
    out = bytearray()
    for g in gaps.tolist():
        while g >= 128:
            out.append((g & 127) | 128)
            g >>= 7
        out.append(g)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.urlsafe_b64encode(c.compress(bytes(out)) + c.flush()).decode().rstrip("=")


def export_csv(state, groups: dict[str, np.ndarray]) -> bytes:
    """The rows of ``groups`` (name -> rows) as CSV: ``row``, ``group`` (the names of the groups
    holding the row, space-separated), the label (when the run's label is not a metadata column) and
    every metadata column, one line per row in row order."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rows = np.unique(np.concatenate([np.asarray(r, np.int64) for r in groups.values()]))
    member = np.full(len(rows), "", dtype=object)
    for g, r in groups.items():
        has = np.isin(rows, r)
        member[has] = np.where(member[has] == "", g, member[has] + " " + g)
    cols = {"row": pa.array(rows), "group": pa.array(member.tolist(), pa.string())}
    meta = state.run.metadata()
    if state.data.y is not None and not state.run.config.get("label_col"):
        name = "label" if "label" not in meta.column_names else "_label"
        cols[name] = pa.array([state.data.label_name(v) for v in state.data.y[rows]], pa.string())
    picked = meta.take(pa.array(rows))
    for name in picked.column_names:
        if name in cols:
            continue
        col = picked[name]
        cols[name] = col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col
    buf = io.BytesIO()
    pcsv.write_csv(pa.table(cols), buf)
    return buf.getvalue()
