"""Vectors brought from elsewhere, with their metadata: the input of ``latentspace import``.

Vectors come from ``.npy`` / ``.npz``; Parquet with a list or fixed-size-list vector column
(Embedding Atlas's convention) or one column per dimension (read batch by batch into one
preallocated float32 array, so a large file never sits in memory twice); CSV / TSV, including
TensorBoard projector's header-less tensor TSV; or, in Python, numpy, torch, pandas, polars and
pyarrow objects. Values are kept as float32 exactly as given: integers and float64 are converted,
never rescaled, and a float64 beyond float32's range is refused, naming its row.

Metadata comes from the same table or another (CSV, TSV with the projector's header rule, Parquet,
or a frame) and is kept as Arrow columns of their own types.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .reasons import reason
from .tables import _first_null, _is_number, _list, _plain, _read_text, _show, _values

log = logging.getLogger(__name__)

VECTOR_SUFFIXES = (".npy", ".npz", ".parquet", ".csv", ".tsv", ".txt")
# columns never taken as dimensions when the vector columns are found on their own (an id, a
# label or pandas' index are numbers too); they stay metadata
NOT_DIMENSIONS = ("", "id", "ids", "index", "label", "labels", "class", "category", "target", "targets")
# .npz arrays that hold the vectors, by name, when the archive holds several 2-D arrays
NPZ_VECTOR_KEYS = ("embeddings", "embedding", "vectors", "Z", "z", "latents", "X", "x", "data", "features")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_BLOCK = 65536
_BATCH_BYTES = 2 << 20  # a Parquet batch of vectors: about 2 MB, however long the vectors


@dataclass
class Vectors:
    """``Z`` (n, k) float32; ``metadata`` a pyarrow table of n rows (or None); ``name`` what the
    run calls the data; ``where`` what messages call the source (a file name)."""

    Z: np.ndarray
    metadata: object
    name: str
    where: str = "the vectors"


# --- numbers -----------------------------------------------------------------------------------
def check_finite(Z: np.ndarray, where: str) -> None:
    """Every value finite, checked in blocks; the first bad row and dimension named."""
    for start in range(0, len(Z), _BLOCK):
        block = np.asarray(Z[start : start + _BLOCK])
        bad = ~np.isfinite(block)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise InputError(
                f"{where}: vector {start + int(row)} holds {float(block[row, col])} at dimension {int(col)};"
                " every value must be finite (drop or fix that row)"
            )


def to_float32(block, where: str, first_row: int = 0) -> np.ndarray:
    """``block`` (rows, k) of numbers as float32, unscaled; a float64 value float32 cannot hold is
    refused with its row and dimension (it would silently become an infinity)."""
    a = np.asarray(block)
    if a.dtype.kind == "f" and a.dtype.itemsize > 4:
        over = np.abs(a) > _FLOAT32_MAX  # NaN compares False: found by check_finite
        if over.any():
            over &= np.isfinite(a)
        if over.any():
            flat = a.reshape(len(a), -1)
            row, col = (int(i) for i in np.argwhere(over.reshape(len(a), -1))[0])
            raise InputError(
                f"{where}: vector {first_row + row} holds {float(flat[row, col]):g} at dimension {col},"
                f" beyond float32's range (|x| <= {_FLOAT32_MAX:.3g}); rescale the vectors"
            )
    return a.astype(np.float32, copy=False)


def _float_kind(t) -> bool:
    import pyarrow as pa

    return pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)


def _is_list(t) -> bool:
    import pyarrow as pa

    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


# --- in-memory objects -------------------------------------------------------------------------------
def as_table(obj, where: str = "metadata"):
    """A pyarrow table from a pyarrow table, a pandas or polars frame, or a dict of columns. A
    pandas index that holds values (not 0..n-1) is kept as a column (``index`` when unnamed)."""
    import pyarrow as pa

    if obj is None or isinstance(obj, pa.Table):
        return obj
    module = type(obj).__module__
    try:
        if module.startswith("pandas") and hasattr(obj, "columns"):
            return _plain(pa.Table.from_pandas(obj))
        if module.startswith("polars") and hasattr(obj, "columns"):
            return obj.to_arrow()
        if isinstance(obj, dict):
            return pa.table({str(k): v for k, v in obj.items()})
        if hasattr(obj, "__arrow_c_stream__"):  # any Arrow-speaking frame (DuckDB, cuDF, ...)
            return pa.table(obj)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InputError(f"{where} cannot be turned into a table: {reason(exc)}") from None
    raise InputError(
        f"{where} must be a pyarrow table, a pandas or polars DataFrame, or a dict of columns;"
        f" got {type(obj).__name__}"
    )


def as_matrix(obj, where: str = "the vectors") -> np.ndarray:
    """(n, k) float32 from numpy, torch, a list of lists, a pandas / polars frame of numeric
    columns, a pandas / polars Series or pyarrow array of lists (one vector per row)."""
    import pyarrow as pa

    module = type(obj).__module__
    if module.startswith("torch"):
        t = obj.detach().cpu()
        if str(t.dtype) in ("torch.bfloat16", "torch.float16"):
            t = t.float()  # numpy has no bfloat16; both widen exactly
        try:
            obj = t.numpy()
        except TypeError as exc:
            raise InputError(f"{where} must be numbers; {reason(exc)}") from None
    elif (module.startswith(("pandas", "polars")) and hasattr(obj, "columns")) or isinstance(obj, pa.Table):
        table = as_table(obj, where)
        if table.num_rows == 0 or table.num_columns == 0:
            raise InputError(f"{where} hold {table.num_rows} rows and {table.num_columns} columns; nothing")
        lists = [c for c in table.column_names if _is_list(table[c].type)]
        if len(lists) == 1 and table.num_columns == 1:
            return _list_matrix(table[lists[0]], where, lists[0], 0)
        if lists:
            raise InputError(
                f"{where} are a table of {table.num_columns} columns, {len(lists)} of them lists"
                f" ({_list(lists)}); give the vector column alone (e.g. frame[{lists[0]!r}]) and the"
                " other columns as metadata"
            )
        return _columns_matrix(table, table.column_names, where)
    elif module.startswith(("pandas", "polars")):  # a Series: of lists (one vector a row) or numbers
        try:
            obj = obj.to_arrow() if module.startswith("polars") else pa.array(obj, from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise InputError(f"{where} cannot be read as vectors: {reason(exc)}") from None
    if isinstance(obj, pa.ChunkedArray | pa.Array):
        if _is_list(obj.type):
            return _list_matrix(obj, where, "vectors", 0)
        obj = obj.to_numpy(zero_copy_only=False)
    try:
        Z = np.asarray(obj)
    except (ValueError, TypeError) as exc:  # ragged lists
        raise InputError(f"{where} are not a rectangular array of numbers: {reason(exc)}") from None
    return _matrix(Z, where)


def _matrix(Z: np.ndarray, where: str) -> np.ndarray:
    """A numeric 2-D array (maybe memory-mapped) as one float32 array, converted in blocks."""
    if Z.dtype.kind not in "biuf":
        raise InputError(f"{where} must be numbers; got dtype {Z.dtype}")
    if Z.ndim == 1:
        raise InputError(
            f"{where} are 1-D (shape {Z.shape}); vectors are 2-D (n vectors, k values):"
            " one value per vector is shape (n, 1)"
        )
    if Z.ndim != 2:
        raise InputError(f"{where} have shape {Z.shape}; vectors must be 2-D (n vectors, k values)")
    if Z.shape[0] < 1 or Z.shape[1] < 1:
        raise InputError(f"{where} have shape {Z.shape}; at least one vector of at least one value is needed")
    if Z.dtype == np.float32 and not isinstance(Z, np.memmap):
        return np.ascontiguousarray(Z)
    out = np.empty(Z.shape, np.float32)
    for start in range(0, len(Z), _BLOCK):
        out[start : start + _BLOCK] = to_float32(Z[start : start + _BLOCK], where, start)
    return out


# --- tables: a vector column, or one column per dimension ------------------------------------------
def _list_matrix(col, where: str, name: str, first_row: int, k: int | None = None) -> np.ndarray:
    """A list / fixed-size-list column of numbers -> (rows, k) float32; ragged rows, nulls and
    non-numbers refused with the row named."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if not _is_list(t):
        raise InputError(
            f"{where}: column {name!r} holds {t}, not lists of numbers (vectors); for one column per"
            " dimension, give --z-cols"
        )
    if not _float_kind(t.value_type):
        raise InputError(f"{where}: column {name!r} holds lists of {t.value_type}; vectors must be numbers")
    if col.null_count:
        raise InputError(f"{where}: column {name!r} has no vector at row {first_row + _first_null(col)}")
    if len(col) == 0:
        return np.empty((0, k or 0), np.float32)
    lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
    k = int(lengths[0]) if k is None else k
    if (lengths != k).any():
        row = int(np.flatnonzero(lengths != k)[0])
        raise InputError(
            f"{where}: column {name!r} is ragged: row {first_row + row} has {_values(lengths[row])},"
            f" row 0 has {k}; every vector must have the same length"
        )
    if not k:
        raise InputError(f"{where}: column {name!r} holds empty vectors (0 values at row {first_row})")
    values = pc.list_flatten(col)
    if values.null_count:
        row = _first_null(values) // k
        raise InputError(
            f"{where}: column {name!r} has a missing value in the vector at row {first_row + row}"
        )
    if pa.types.is_decimal(values.type):
        values = values.cast(pa.float64())
    return to_float32(values.to_numpy(zero_copy_only=False).reshape(-1, k), where, first_row)


def _columns_matrix(
    table, names: list[str], where: str, first_row: int = 0, headerless: bool = False, out=None
) -> np.ndarray:
    """One column per dimension of a table (or record batch) -> (rows, len(names)) float32,
    written into ``out`` when given; a column that is not numbers, or an empty cell, refused with
    its row named."""
    import pyarrow as pa

    if out is None:
        out = np.empty((table.num_rows, len(names)), np.float32)
    for j, name in enumerate(names):
        col = table.column(name)
        what = f"dimension {j}" if headerless else f"column {name!r}"
        if not _float_kind(col.type):
            raise InputError(_not_numbers(col, where, what, first_row, headerless))
        if col.null_count:
            raise InputError(
                f"{where}: vector {first_row + _first_null(col)} has no number in {what} (empty, NaN or NA);"
                " every value must be a finite number"
            )
        if pa.types.is_decimal(col.type):
            col = col.cast(pa.float64())
        values = col.to_numpy(zero_copy_only=False)
        out[:, j] = to_float32(values[:, None], where, first_row)[:, 0]
    return out


def _not_numbers(col, where: str, what: str, first_row: int, headerless: bool) -> str:
    """The message for a vector column that is not numbers: its first value that is not one."""
    import pyarrow as pa

    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        for i, v in enumerate(col.to_pylist()):
            if v is not None and not _is_number(v):
                tail = "; a header-less file holds numbers only" if headerless else ""
                return f"{where}: vector {first_row + i} holds {_show(v)} in {what}, not a number{tail}"
    return f"{where}: {what} holds {col.type}; vector values must be numbers"


def _z_columns(names: list[str], where: str, z_cols: str) -> list[str]:
    """``--z-cols``: a comma list of column names, or a prefix of columns named PREFIX<number>."""
    if "," in z_cols:
        chosen = [c.strip() for c in z_cols.split(",") if c.strip()]
        missing = next((c for c in chosen if c not in names), None)
        if missing is not None:
            raise InputError(f"{where}: no column {missing!r} (--z-cols); columns: {_list(names)}")
        twice = next((c for c in chosen if chosen.count(c) > 1), None)
        if twice is not None:
            raise InputError(f"--z-cols names column {twice!r} twice")
        return chosen
    rx = re.compile(re.escape(z_cols) + r"(\d+)")
    dims = sorted((int(m.group(1)), c) for c in names if (m := rx.fullmatch(c)))
    if not dims:
        starting = [c for c in names if c.startswith(z_cols)]
        hint = (
            f"; these start with it: {_list(starting)} (name them as --z-cols A,B,C)"
            if starting
            else f"; columns: {_list(names)}"
        )
        raise InputError(f"{where}: no column is named {z_cols}<number> (--z-cols {z_cols}){hint}")
    return [c for _, c in dims]


def vector_columns(
    schema,
    where: str,
    vector_col: str | None,
    z_cols: str | None,
    exclude=(),
    headerless: bool = False,
    table=None,
) -> tuple[str | None, list]:
    """Which columns hold the vectors: (a list column, []) or (None, dimension columns).

    Found on their own when unambiguous: the one list column, or else every numeric column
    (except ``exclude``, the columns named by other options, and ids, labels and pandas' index,
    :data:`NOT_DIMENSIONS`) when no other column is left over."""
    import pyarrow as pa

    names = list(schema.names)
    if vector_col is not None and z_cols is not None:
        raise InputError("give --vector-col or --z-cols, not both")
    if vector_col is not None:
        if vector_col not in names:
            raise InputError(f"{where}: no column {vector_col!r} (--vector-col); columns: {_list(names)}")
        return vector_col, []
    if z_cols is not None:
        return None, _z_columns(names, where, z_cols)
    if headerless:
        return None, names
    lists = [f.name for f in schema if _is_list(f.type) and f.name not in exclude]
    if len(lists) == 1:
        return lists[0], []
    if lists:
        raise InputError(
            f"{where} has several list columns ({_list(lists)}); name the vectors with --vector-col"
        )
    rest = [f for f in schema if f.name not in exclude and f.name.strip().lower() not in NOT_DIMENSIONS]
    numbers = [f.name for f in rest if _float_kind(f.type)]
    others = [f.name for f in rest if not _float_kind(f.type) and not pa.types.is_null(f.type)]
    if numbers and not others:
        return None, numbers
    if not numbers:
        raise InputError(
            f"{where} has no column of numbers to read vectors from (columns: {_list(names)});"
            " vectors are a list column (--vector-col) or one column of numbers per dimension (--z-cols)"
        )
    why = ""
    if table is not None:  # a column of numbers but one: say where
        for name in others:
            col = table[name]
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                values = [v for v in col.slice(0, 1000).to_pylist() if v is not None]
                if values and _is_number(values[0]):
                    why = f" ({_not_numbers(col, '', f'column {name!r}', 0, False)[2:]})"
                    break
    raise InputError(
        f"{where}: which columns are the vectors? {len(numbers)} {'holds' if len(numbers) == 1 else 'hold'}"
        f" numbers ({_list(numbers, 6)}), {len(others)} {'does' if len(others) == 1 else 'do'} not"
        f" ({_list(others, 6)}){why}; name them with --z-cols PREFIX (columns PREFIX0, PREFIX1, ...)"
        " or --z-cols A,B,C"
    )


def read_parquet(path: Path, vector_col=None, z_cols=None, exclude=()) -> Vectors:
    """Vectors and the other columns of a Parquet file, the vectors read batch by batch (within
    row groups) into one preallocated float32 array."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:  # column chunks streamed through a small buffer, not read whole
        pf = pq.ParquetFile(path, buffer_size=1 << 16, pre_buffer=False)
        schema = pf.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path.name} cannot be read as Parquet: {reason(exc)}") from None
    col, dims = vector_columns(schema, path.name, vector_col, z_cols, exclude)
    used = [col] if col else dims
    n = pf.metadata.num_rows
    if n == 0:
        raise InputError(f"{path.name} has 0 rows; at least one vector is needed")
    Z = None
    start = 0
    try:
        batch_rows = _batch_rows(pf.metadata, set(used))
        if dims:
            Z = np.empty((n, len(dims)), np.float32)
        for batch in pf.iter_batches(batch_size=batch_rows, columns=used, use_threads=False):
            stop = start + batch.num_rows
            if stop > n:
                raise InputError(f"{path.name} holds more rows than its metadata declares ({n:,})")
            if col:
                block = _list_matrix(
                    batch.column(0), path.name, col, start, None if Z is None else Z.shape[1]
                )
                if Z is None:
                    Z = np.empty((n, block.shape[1]), np.float32)
                Z[start:stop] = block
                del block
            else:
                _columns_matrix(batch, dims, path.name, start, out=Z[start:stop])
            start = stop
            del batch
        rest = [c for c in schema.names if c not in used]
        metadata = pf.read(columns=rest, use_pandas_metadata=False) if rest else None
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path.name} cannot be read as Parquet: {reason(exc)}") from None
    if start != n:
        raise InputError(f"{path.name} declares {n:,} rows but holds {start:,}; it may be truncated")
    if metadata is not None:
        metadata = _plain(metadata)
    log.info("%s: %s", path.name, f"vectors from column {col!r}" if col else f"{len(dims)} vector columns")
    return Vectors(Z, metadata, path.stem, path.name)


def _batch_rows(meta, used: set[str], target: int = _BATCH_BYTES) -> int:
    """Rows per batch so that one batch of the ``used`` columns holds about ``target`` bytes
    (their uncompressed size in the file's metadata), within 256..65536."""
    size = 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        for j in range(group.num_columns):
            chunk = group.column(j)
            if chunk.path_in_schema.split(".")[0] in used:
                size += chunk.total_uncompressed_size
    per_row = max(1.0, size / max(1, meta.num_rows))
    return int(min(_BLOCK, max(256, target // per_row)))


def read_vectors(
    path: str | Path, *, vector_col: str | None = None, z_cols: str | None = None, exclude=()
) -> Vectors:
    """Vectors (and any other columns, as metadata) from a file; ``exclude``: columns that other
    options name (an id, a label, a text), never taken as dimensions."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file of vectors ({', '.join(VECTOR_SUFFIXES)})")
    if not path.is_file():
        raise InputError(f"no file {path}: expected vectors in {', '.join(VECTOR_SUFFIXES)}")
    suffix = path.suffix.lower()
    if suffix not in VECTOR_SUFFIXES:
        raise InputError(
            f"{path.name}: vectors must be {', '.join(VECTOR_SUFFIXES)}; got {suffix or 'no suffix'}"
        )
    if suffix == ".npy":
        if vector_col or z_cols:
            raise InputError(f"--vector-col and --z-cols apply to tables and .npz; {path.name} is one array")
        return Vectors(_matrix(_open_npy(path), path.name), None, path.stem, path.name)
    if suffix == ".npz":
        if z_cols:
            raise InputError(f"--z-cols applies to tables; name an array of {path.name} with --vector-col")
        return _read_npz(path, vector_col)
    if suffix == ".parquet":
        return read_parquet(path, vector_col, z_cols, exclude)
    if path.stat().st_size == 0:
        raise InputError(f"{path.name} is empty (0 bytes); expected rows of numbers")
    table, header = _read_text(path)
    if table.num_rows == 0:
        raise InputError(f"{path.name} has a header line but no rows")
    headerless = not header
    col, dims = vector_columns(table.schema, path.name, vector_col, z_cols, exclude, headerless, table)
    if col:
        raise InputError(f"{path.name}: a CSV/TSV cannot hold list columns; use one column per dimension")
    Z = _columns_matrix(table, dims, path.name, headerless=headerless)
    rest = [c for c in table.column_names if c not in dims]
    return Vectors(Z, table.select(rest) if rest else None, path.stem, path.name)


# --- NumPy files ---------------------------------------------------------------------------------
def _open_npy(path: Path) -> np.ndarray:
    """A ``.npy`` array, memory-mapped, after its header is checked against the file's size (the
    values are taken as they are: integers are not rescaled as images are)."""
    from .arrays import _NPY_MAGIC, _ZIP_MAGIC, NPY_EXPECTED, _npy_header, _refuse_truncated, file_head

    head = file_head(path, NPY_EXPECTED)
    if head.startswith(_ZIP_MAGIC):
        raise InputError(f"{path.name} is an .npz (zip) archive, not a .npy file; rename it to .npz")
    if not head.startswith(_NPY_MAGIC):
        raise InputError(f"{path.name} is not a NumPy .npy file (no .npy header); write it with numpy.save")
    try:
        with open(path, "rb") as fh:
            shape, dtype, offset = _npy_header(fh)
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise InputError(f"{path.name} has a damaged .npy header: {reason(exc)}") from None
    if dtype.hasobject:
        raise InputError(
            f"{path.name} holds Python objects (dtype {dtype}); object arrays are refused because"
            " loading them would run pickle"
        )
    _refuse_truncated(path.name, shape, dtype, path.stat().st_size - offset)
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path.name} cannot be read as a .npy array: {reason(exc)}") from None


def _read_npz(path: Path, vector_col: str | None) -> Vectors:
    """The vectors of an ``.npz``: the array ``vector_col``, else the only 2-D array (or the one
    named like vectors); every 1-D array of one value per vector (labels, ids) is metadata."""
    import zipfile

    import pyarrow as pa

    from .arrays import _NPY_MAGIC, _ZIP_MAGIC, NPZ_EXPECTED, Y_KEYS, _member, file_head

    head = file_head(path, NPZ_EXPECTED)
    if head.startswith(_NPY_MAGIC):
        raise InputError(f"{path.name} is a .npy file, not an .npz (zip) archive; rename it to .npy")
    if not head.startswith(_ZIP_MAGIC):
        raise InputError(f"{path.name} is not an .npz archive (not a zip file); write it with numpy.savez")
    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path.name} is not a readable .npz archive: {reason(exc)}") from None
    with archive as f:
        arrays = {key: _member(f, key, path) for key in f.files}
    if not arrays:
        raise InputError(f"{path.name} holds no arrays")
    if vector_col is not None:
        if vector_col not in arrays:
            raise InputError(
                f"{path.name}: no array {vector_col!r} (--vector-col); arrays: {_list(list(arrays))}"
            )
        key = vector_col
    else:
        two_d = [k for k, a in arrays.items() if a.ndim == 2]
        key = two_d[0] if len(two_d) == 1 else next((k for k in NPZ_VECTOR_KEYS if k in two_d), None)
        if key is None:
            shapes = ", ".join(f"{k} {a.shape}" for k, a in arrays.items())
            raise InputError(
                f"{path.name}: which array holds the vectors? ({shapes}); name it with --vector-col"
            )
    Z = _matrix(arrays[key], f"array {key!r} of {path.name}")
    cols = {}
    for k, a in arrays.items():
        if k == key:
            continue
        if a.ndim == 1 and len(a) == len(Z) and a.dtype.kind in "biufUSM":
            name = "label" if k in Y_KEYS and "label" not in arrays else k  # y: the labels
            cols[name] = pa.array(a.astype(str) if a.dtype.kind == "S" else a)
        else:
            log.warning(
                "%s: array %r %s is not kept (metadata is one value per vector)", path.name, k, a.shape
            )
    return Vectors(Z, pa.table(cols) if cols else None, path.stem, path.name)
