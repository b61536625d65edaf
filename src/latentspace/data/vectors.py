"""Vectors brought from elsewhere, with their metadata: the input of ``latentspace import``.

Vectors come from ``.npy`` / ``.npz``; Parquet with a list or fixed-size-list vector column
(Embedding Atlas's convention) or one column per dimension (read row group by row group into one
float32 array, so a large file never sits in memory twice); CSV / TSV, including TensorBoard
projector's header-less tensor TSV; or, in Python, numpy, torch, pandas, polars and pyarrow objects.
Metadata comes from the same table or another (CSV, TSV with the projector's header rule, Parquet,
or a frame) and is kept as Arrow columns of their own types.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .reasons import reason

VECTOR_SUFFIXES = (".npy", ".npz", ".parquet", ".csv", ".tsv", ".txt")
TABLE_SUFFIXES = (".parquet", ".csv", ".tsv", ".txt")
_BLOCK = 65536


@dataclass
class Vectors:
    """``Z`` (n, k) float32, finite; ``metadata`` a pyarrow table of n rows (or None); ``name``
    what messages and the run call the source."""

    Z: np.ndarray
    metadata: object
    name: str


# --- checks ----------------------------------------------------------------------------------------
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


def _float_kind(t) -> bool:
    import pyarrow as pa

    return pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)


def _first_null(col) -> int:
    return int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])


# --- in-memory objects -------------------------------------------------------------------------------
def as_table(obj, where: str = "metadata"):
    """A pyarrow table from a pyarrow table, a pandas or polars frame, or a dict of columns."""
    import pyarrow as pa

    if obj is None or isinstance(obj, pa.Table):
        return obj
    module = type(obj).__module__
    try:
        if module.startswith("pandas"):
            return pa.Table.from_pandas(obj, preserve_index=False)
        if module.startswith("polars"):
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
    """(n, k) float32 from numpy, torch, a list of lists, a frame of numeric columns, or a
    pyarrow (fixed-size) list array."""
    import pyarrow as pa

    module = type(obj).__module__
    if module.startswith("torch"):
        obj = obj.detach().cpu().numpy()
    elif module.startswith(("pandas", "polars")) or isinstance(obj, pa.Table):
        table = as_table(obj, where)
        return _columns_matrix(table, table.column_names, where)
    elif isinstance(obj, pa.ChunkedArray | pa.Array) and pa.types.is_list(
        obj.type
    ) | pa.types.is_fixed_size_list(obj.type) | pa.types.is_large_list(obj.type):
        return _list_matrix(obj, where, "vectors", 0)
    try:
        Z = np.asarray(obj)
    except (ValueError, TypeError) as exc:  # ragged lists
        raise InputError(f"{where} are not a rectangular array of numbers: {reason(exc)}") from None
    if Z.dtype.kind not in "biuf":
        raise InputError(f"{where} must be numbers; got dtype {Z.dtype}")
    if Z.ndim != 2 or Z.shape[0] < 1 or Z.shape[1] < 1:
        raise InputError(f"{where} must be a 2-D array (n vectors, k values); got shape {Z.shape}")
    return np.ascontiguousarray(Z, dtype=np.float32)


# --- tables: a vector column, or one column per dimension ------------------------------------------
def _list_matrix(col, where: str, name: str, first_row: int, k: int | None = None) -> np.ndarray:
    """A list / fixed-size-list column of numbers -> (rows, k) float32; ragged rows, nulls and
    non-numbers refused with the row named."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)):
        raise InputError(f"{where}: column {name!r} holds {t}, not lists of numbers (vectors)")
    if not _float_kind(t.value_type):
        raise InputError(f"{where}: column {name!r} holds lists of {t.value_type}; vectors must be numbers")
    if col.null_count:
        raise InputError(f"{where}: column {name!r} has no vector at row {first_row + _first_null(col)}")
    lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
    k = int(lengths[0]) if k is None and len(lengths) else k
    if len(lengths) and (lengths != k).any():
        row = int(np.flatnonzero(lengths != k)[0])
        raise InputError(
            f"{where}: column {name!r} is ragged: row {first_row + row} has {int(lengths[row])} values,"
            f" row 0 has {k}; every vector must have the same length"
        )
    if not k:
        raise InputError(f"{where}: column {name!r} holds empty vectors")
    values = pc.list_flatten(col)
    if values.null_count:
        row = _first_null(values) // k
        raise InputError(
            f"{where}: column {name!r} has a missing value in the vector at row {first_row + row}"
        )
    return values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, k)


def _columns_matrix(table, names: list[str], where: str, first_row: int = 0) -> np.ndarray:
    out = np.empty((table.num_rows, len(names)), np.float32)
    for j, name in enumerate(names):
        col = table[name]
        if not _float_kind(col.type):
            raise InputError(f"{where}: column {name!r} holds {col.type}; vector values must be numbers")
        if col.null_count:
            raise InputError(f"{where}: column {name!r} is empty at row {first_row + _first_null(col)}")
        out[:, j] = col.to_numpy(zero_copy_only=False)
    return out


def vector_columns(schema, where: str, vector_col: str | None, z_cols: str | None) -> tuple[str | None, list]:
    """Which columns hold the vectors: (a list column, []) or (None, dimension columns)."""
    import pyarrow as pa

    names = list(schema.names)
    if vector_col is not None and z_cols is not None:
        raise InputError("give --vector-col or --z-cols, not both")
    if vector_col is not None:
        if vector_col not in names:
            raise InputError(f"{where}: no column {vector_col!r}; columns: {', '.join(names)}")
        return vector_col, []
    if z_cols is not None:
        dims = [n for n in names if n.startswith(z_cols)]
        if not dims:
            raise InputError(
                f"{where}: no column starts with {z_cols!r} (--z-cols); columns: {', '.join(names)}"
            )
        return None, dims
    lists = [
        f.name
        for f in schema
        if pa.types.is_list(f.type) or pa.types.is_fixed_size_list(f.type) or pa.types.is_large_list(f.type)
    ]
    if len(lists) == 1:
        return lists[0], []
    if not lists and all(_float_kind(f.type) for f in schema):
        return None, names
    found = f"list columns {', '.join(lists)}" if lists else "columns that are not numbers"
    raise InputError(
        f"{where} has {found}: name the vectors with --vector-col COLUMN (a list column) or"
        " --z-cols PREFIX (one column per dimension)"
    )


def read_parquet(path: Path, vector_col=None, z_cols=None) -> Vectors:
    """Vectors and the other columns of a Parquet file, the vectors read batch by batch into one
    preallocated float32 array."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path.name} cannot be read as Parquet: {reason(exc)}") from None
    col, dims = vector_columns(schema, path.name, vector_col, z_cols)
    used = [col] if col else dims
    n = pf.metadata.num_rows
    if n == 0:
        raise InputError(f"{path.name} has 0 rows; at least one vector is needed")
    Z = None
    start = 0
    try:
        for batch in pf.iter_batches(batch_size=_BLOCK, columns=used):
            block = (
                _list_matrix(batch.column(0), path.name, col, start, None if Z is None else Z.shape[1])
                if col
                else _columns_matrix(pa.Table.from_batches([batch]), dims, path.name, start)
            )
            if Z is None:
                Z = np.empty((n, block.shape[1]), np.float32)
            Z[start : start + len(block)] = block
            start += len(block)
        rest = [c for c in schema.names if c not in used]
        metadata = pf.read(columns=rest) if rest else None
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path.name} cannot be read as Parquet: {reason(exc)}") from None
    return Vectors(Z, metadata, path.stem)


def read_text_table(path: Path, *, header: bool | None = None):
    """A CSV / TSV as a pyarrow table. ``header=None`` decides as TensorBoard's projector does:
    a file whose first line is all numbers has no header."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    tsv = path.suffix.lower() in (".tsv", ".txt")
    delim = "\t" if tsv else ","
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline().rstrip("\r\n")
    except OSError as exc:
        raise InputError(f"{path.name} cannot be opened: {reason(exc)}") from None
    if not first.strip():
        raise InputError(
            f"{path.name} is empty; expected rows of {'tab' if tsv else 'comma'}-separated values"
        )
    fields = first.split(delim)
    if header is None:
        header = not all(_is_number(f) for f in fields)
    read = pacsv.ReadOptions(
        autogenerate_column_names=not header, column_names=None, use_threads=True, block_size=1 << 24
    )
    try:
        table = pacsv.read_csv(
            path,
            read_options=read,
            parse_options=pacsv.ParseOptions(delimiter=delim, quote_char=False if tsv else '"'),
        )
    except (pa.ArrowException, OSError) as exc:
        raise InputError(
            f"{path.name} cannot be read as a {'TSV' if tsv else 'CSV'} table: {reason(exc)}"
        ) from None
    return table


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_metadata(path: str | Path):
    """A metadata table: Parquet, CSV, or TSV (TensorBoard projector's rule: a single-column TSV has
    no header and its column is called ``label``; several columns have a header line)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise InputError(f"metadata file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(f"{path.name}: metadata must be {', '.join(TABLE_SUFFIXES)}")
    if suffix == ".parquet":
        try:
            return pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{path.name} cannot be read as Parquet: {reason(exc)}") from None
    if suffix in (".tsv", ".txt"):
        with open(path, encoding="utf-8", errors="replace") as fh:
            one_column = "\t" not in fh.readline()
        if one_column:
            table = read_text_table(path, header=False)
            return table.rename_columns(["label"])
    return read_text_table(path, header=True)


def read_vectors(path: str | Path, *, vector_col: str | None = None, z_cols: str | None = None) -> Vectors:
    """Vectors (and any other columns, as metadata) from a file."""
    from .arrays import read_npy, read_npz

    path = Path(path)
    if not path.is_file():
        raise InputError(f"no file {path}: expected vectors in {', '.join(VECTOR_SUFFIXES)}")
    suffix = path.suffix.lower()
    if suffix not in VECTOR_SUFFIXES:
        raise InputError(
            f"{path.name}: vectors must be {', '.join(VECTOR_SUFFIXES)}; got {suffix or 'no suffix'}"
        )
    if suffix in (".npy", ".npz"):
        if vector_col or z_cols:
            raise InputError(f"--vector-col and --z-cols apply to tables; {path.name} is a NumPy file")
        ds = read_npy(path) if suffix == ".npy" else read_npz(path)
        if ds.sample_shape is not None:
            raise InputError(
                f"{path.name} holds an array of shape ({ds.n}, {', '.join(map(str, ds.sample_shape))});"
                " vectors must be 2-D (n vectors, k values)"
            )
        metadata = None
        if ds.y is not None:
            import pyarrow as pa

            names = ds.label_names or [str(v) for v in range(int(ds.y.max()) + 1)]
            metadata = pa.table({"label": pa.array([names[v] for v in ds.y])})
        return Vectors(np.asarray(ds.X, dtype=np.float32), metadata, path.stem)
    if suffix == ".parquet":
        return read_parquet(path, vector_col, z_cols)
    table = read_text_table(path)
    if table.num_rows == 0:
        raise InputError(f"{path.name} has a header line but no rows")
    col, dims = vector_columns(table.schema, path.name, vector_col, z_cols)
    if col:
        raise InputError(f"{path.name}: a CSV/TSV cannot hold list columns; use one column per dimension")
    Z = _columns_matrix(table, dims, path.name)
    rest = [c for c in table.column_names if c not in dims]
    return Vectors(Z, table.select(rest) if rest else None, path.stem)


# --- metadata: joined to the vectors, kept in Arrow types ------------------------------------------
def attach_metadata(vec: Vectors, metadata, id_col: str | None, where: str):
    """The vectors' own columns plus ``metadata`` (row-aligned, or matched on ``id_col`` when both
    tables have it); ids unique; returns one table of n rows or None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(vec.Z)
    own = vec.metadata
    if (
        metadata is not None
        and metadata.num_rows != n
        and not (id_col and own is not None and id_col in own.column_names)
    ):
        raise InputError(f"{where} has {metadata.num_rows:,} rows; the vectors are {n:,}: one row per vector")
    if (
        metadata is not None
        and own is not None
        and id_col
        and id_col in own.column_names
        and id_col in metadata.column_names
    ):
        _unique_ids(metadata[id_col], where, id_col)
        _unique_ids(own[id_col], "the vectors' table", id_col)
        idx = pc.index_in(own[id_col], value_set=metadata[id_col].combine_chunks())
        if idx.null_count:
            row = _first_null(idx)
            raise InputError(
                f"{where} has no row with {id_col} = {own[id_col][row].as_py()!r} (vector {row})"
            )
        metadata = metadata.take(idx).drop_columns([id_col])
    table = own
    if metadata is not None:
        if table is None:
            table = metadata
        else:
            for name in metadata.column_names:
                if name in table.column_names:
                    raise InputError(f"{where}: column {name!r} is also in the vectors' table; rename one")
                table = table.append_column(name, metadata[name])
    if table is None:
        if id_col:
            raise InputError(f"--id-col {id_col!r}: there is no metadata table with that column")
        return None
    twice = next((c for c in table.column_names if table.column_names.count(c) > 1), None)
    if twice is not None:
        raise InputError(f"{where}: column {twice!r} appears twice; column names must be unique")
    if id_col is not None:
        if id_col not in table.column_names:
            raise InputError(f"--id-col {id_col!r}: no such column; columns: {', '.join(table.column_names)}")
        _unique_ids(table[id_col], where, id_col)
    if table.num_rows != n:
        raise InputError(f"{where} has {table.num_rows:,} rows; the vectors are {n:,}: one row per vector")
    return pa.table({name: table[name].combine_chunks() for name in table.column_names})


def _unique_ids(col, where: str, id_col: str) -> None:
    import pyarrow.compute as pc

    if col.null_count:
        raise InputError(f"{where}: id column {id_col!r} is empty at row {_first_null(col)}")
    counts = pc.value_counts(col)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(repeated):
        value = repeated[0]["values"].as_py()
        rows = np.flatnonzero(pc.equal(col, value).to_numpy(zero_copy_only=False))[:2]
        raise InputError(
            f"{where}: id {value!r} appears {repeated[0]['counts'].as_py()} times in column {id_col!r}"
            f" (rows {rows[0]} and {rows[1]}); ids must be unique"
        )
