"""Tables that come with imported vectors: CSV / TSV (TensorBoard projector's header rule), the
metadata table, and its join to the vectors (row by row, or on an id column).

Metadata is kept as Arrow columns of their own types; ids must be unique; a table of another
length than the vectors, or an id missing from it, is refused with the row named.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from .reasons import reason

TABLE_SUFFIXES = (".parquet", ".csv", ".tsv", ".txt")
HEADERLESS = b"latentspace.headerless"  # schema metadata of a one-column TSV read without header


def _first_null(col) -> int:
    return int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _values(count) -> str:
    return f"{int(count)} value{'' if count == 1 else 's'}"


def _show(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(table):
    """A table without pandas' schema metadata, its unnamed index column (``__index_level_0__``,
    kept when it holds values) called ``index``."""
    names = table.column_names
    renamed = ["index" if c == "__index_level_0__" and "index" not in names else c for c in names]
    return table.rename_columns(renamed).replace_schema_metadata(None)


def _list(names, most: int = 12) -> str:
    shown = ", ".join(repr(n) if not n or n != n.strip() else n for n in names[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")


# --- CSV / TSV -----------------------------------------------------------------------------------
def _delimiter(path: Path, first: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return ","
    if suffix == ".txt" and "\t" not in first and " " in first.strip():
        return " "  # numpy.savetxt's default
    return "\t"


def _first_line(path: Path) -> str:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            return fh.readline().rstrip("\r\n")
    except OSError as exc:
        raise InputError(f"{path.name} cannot be opened: {reason(exc)}") from None


def read_text_table(path: Path, *, header: bool | None = None, single_column: bool = False):
    """A CSV / TSV as a pyarrow table (see :func:`_read_text`)."""
    return _read_text(path, header, single_column)[0]


def _read_text(path: Path, header: bool | None = None, single_column: bool = False):
    """(table, whether it had a header) of a CSV / TSV.

    ``header=None`` decides as TensorBoard's projector does for its tensor file: a first line of
    numbers is data, not a header (except 0, 1, 2, ..., the header pandas writes for unnamed
    columns). ``single_column``: every line is one value, empty lines included (the projector's
    one-column metadata)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    first = _first_line(path)
    delim = _delimiter(path, first)
    kind = {",": "comma", "\t": "tab", " ": "space"}[delim]
    if not first.strip() and not single_column:
        raise InputError(
            f"{path.name} is empty or starts with an empty line; expected rows of {kind}-separated values"
        )
    fields = [f.strip().strip('"') for f in first.split(delim)]
    if header is None:
        pandas_names = len(fields) > 1 and fields == [str(i) for i in range(len(fields))]
        header = pandas_names or not all(_is_number(f) for f in fields)
    parse = dict(delimiter=delim, quote_char='"' if delim == "," else False, newlines_in_values=delim == ",")
    if single_column:
        parse["ignore_empty_lines"] = False

    def read(use_threads: bool, handler=None):
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                autogenerate_column_names=not header, use_threads=use_threads, block_size=1 << 24
            ),
            parse_options=pacsv.ParseOptions(**parse, invalid_row_handler=handler),
        )

    try:
        table = read(True)
    except (pa.ArrowException, OSError) as exc:
        what = "TSV" if delim == "\t" else "CSV" if delim == "," else "text"
        bad: list = []
        if "Expected" in str(exc) and "columns" in str(exc):  # a ragged row: read again for its line
            try:
                read(False, lambda row: bad.append(row) or "error")
            except (pa.ArrowException, OSError):
                pass
        if bad and bad[0].number is not None:
            row = bad[0]
            raise InputError(
                f"{path.name}: line {row.number} has {_values(row.actual_columns)}, the lines before it"
                f" {row.expected_columns}; every line must have the same number of {kind}-separated values"
            ) from None
        raise InputError(f"{path.name} cannot be read as a {what} table: {reason(exc)}") from None
    if header and len(set(table.column_names)) < table.num_columns:
        twice = next(c for c in table.column_names if table.column_names.count(c) > 1)
        raise InputError(f"{path.name}: the header names column {twice!r} twice; column names must be unique")
    return table, header


def read_metadata(path: str | Path):
    """A metadata table: Parquet, CSV, or TSV (TensorBoard projector's rule: a TSV of one column has
    no header line and its column is called ``label``; several columns have a header line)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if path.is_dir():
        raise InputError(f"--metadata {path} is a folder; give a table file ({', '.join(TABLE_SUFFIXES)})")
    if not path.is_file():
        raise InputError(f"--metadata {path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(
            f"--metadata {path.name}: a metadata table must be {', '.join(TABLE_SUFFIXES)};"
            f" got {suffix or 'no suffix'}"
        )
    if path.stat().st_size == 0:
        raise InputError(f"--metadata {path.name} is empty (0 bytes)")
    if suffix == ".parquet":
        try:
            return _plain(pq.read_table(path, use_pandas_metadata=False))
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{path.name} cannot be read as Parquet: {reason(exc)}") from None
    if suffix in (".tsv", ".txt") and "\t" not in _first_line(path):
        table = read_text_table(path, header=False, single_column=True).rename_columns(["label"])
        return table.replace_schema_metadata({HEADERLESS: b"1"})
    table = read_text_table(path, header=True)
    if table.num_rows == 0:
        raise InputError(f"--metadata {path.name} has a header line but no rows")
    return table


# --- metadata: joined to the vectors, kept in Arrow types ------------------------------------------
def _comparable_ids(a, b):
    """Two id columns as arrays of one type (strings when their types differ)."""
    import pyarrow as pa

    def plain(col):
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        return col.dictionary_decode() if pa.types.is_dictionary(col.type) else col

    a, b = plain(a), plain(b)
    if a.type != b.type:
        a, b = a.cast(pa.large_string()), b.cast(pa.large_string())
    return a, b


def attach_metadata(vec, metadata, id_col: str | None, where: str):
    """The vectors' own columns (``vec``, a :class:`~latentspace.data.vectors.Vectors`) plus
    ``metadata`` (row-aligned, or matched on ``id_col`` when both tables have it: then the metadata
    may hold more rows, in any order); ids unique; returns one table of n rows or None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(vec.Z)
    own = vec.metadata
    if id_col is not None:
        columns = [
            *(own.column_names if own is not None else []),
            *(metadata.column_names if metadata is not None else []),
        ]
        if not columns:
            raise InputError(f"--id-col {id_col!r}: there is no metadata table to hold that column")
        if id_col not in columns:
            raise InputError(f"--id-col {id_col!r}: no such column; columns: {_list(columns)}")
    join = (
        metadata is not None
        and own is not None
        and id_col is not None
        and id_col in own.column_names
        and id_col in metadata.column_names
    )
    if metadata is not None and metadata.num_rows != n and not join:
        hint = ""
        if (metadata.schema.metadata or {}).get(HEADERLESS) and metadata.num_rows == n + 1:
            last = metadata.column(0)[-1].as_py()
            hint = (
                " (its last line is empty: remove it)"
                if last is None or last == ""
                else " (a TSV of one column has no header line, as in TensorBoard's projector:"
                " remove its first line, or use a .csv)"
            )
        elif own is not None:
            hint = " (or match rows by id: --id-col COLUMN, a column of both tables)"
        raise InputError(
            f"{where} has {metadata.num_rows:,} rows; the vectors are {n:,}: one row per vector{hint}"
        )
    if join:
        _unique_ids(metadata[id_col], where, id_col)
        _unique_ids(own[id_col], vec.where, id_col)
        ours, theirs = _comparable_ids(own[id_col], metadata[id_col])
        idx = pc.index_in(ours, value_set=theirs)
        if idx.null_count:
            row = _first_null(idx)
            raise InputError(
                f"{where} has no row with {id_col} = {_show(own[id_col][row].as_py())} (vector {row})"
            )
        metadata = metadata.take(idx).drop_columns([id_col])
    if metadata is not None:
        metadata = metadata.replace_schema_metadata(None)
    table = own
    if metadata is not None:
        if table is None:
            table = metadata
        else:
            for name in metadata.column_names:
                if name in table.column_names:
                    raise InputError(f"{where}: column {name!r} is also a column of {vec.where}; rename one")
                table = table.append_column(metadata.field(name), metadata[name])
    if table is None:
        return None
    twice = next((c for c in table.column_names if table.column_names.count(c) > 1), None)
    if twice is not None:
        raise InputError(f"{where}: column {twice!r} appears twice; column names must be unique")
    if id_col is not None:
        in_metadata = metadata is not None and id_col in metadata.column_names
        _unique_ids(table[id_col], where if in_metadata else vec.where, id_col)
    if table.num_rows != n:
        raise InputError(f"{where} has {table.num_rows:,} rows; the vectors are {n:,}: one row per vector")
    return pa.table({name: table[name].combine_chunks() for name in table.column_names})


def _unique_ids(col, where: str, id_col: str) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.null_count:
        raise InputError(f"{where}: id column {id_col!r} is empty at row {_first_null(col)}")
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    try:
        counts = pc.value_counts(col)
    except pa.ArrowException as exc:
        raise InputError(
            f"--id-col {id_col!r} holds {col.type}, which cannot be an id: {reason(exc)}"
        ) from None
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(repeated):
        value = repeated[0]["values"].as_py()
        rows = np.flatnonzero(pc.equal(col, repeated[0]["values"]).to_numpy(zero_copy_only=False))[:2]
        raise InputError(
            f"{where}: id {_show(value)} appears {repeated[0]['counts'].as_py()} times in column {id_col!r}"
            f" (rows {rows[0]} and {rows[1]}); ids must be unique"
        )
