"""The import stage: a latent space made elsewhere becomes a run folder.

``import_embeddings(path, out=...)`` reads vectors (and metadata) from files;
``from_embeddings(Z, metadata=..., out=...)`` takes them from Python objects. Both write a normal,
verified run whose model is ``embeddings`` (no encoder, no decoder): the vectors are its latents,
every metadata column is kept in its own Arrow type, one categorical column may serve as the label,
and items (what a person sees for a row: an image, a text, or the source data's row) go with it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..data import Dataset, load
from ..data.items import ITEMS_FILE, column_images, folder_images, items_bytes, thumbnail
from ..data.splits import split_mask
from ..data.tables import attach_metadata, read_metadata
from ..data.vectors import Vectors, as_matrix, as_table, check_finite, read_vectors
from ..errors import InputError
from ..runfolder import save_run
from ..runfolder.checks import meta_kind
from .targets import check_target

log = logging.getLogger(__name__)

MAX_LABELS = 1000  # a label column with more distinct values is an id, not a class
DEFAULT_LABELS = ("label", "labels", "class", "category", "target", "targets")


def import_embeddings(
    vectors: str | Path,
    *,
    out: str | Path,
    metadata: str | Path | None = None,
    id_col: str | None = None,
    vector_col: str | None = None,
    z_cols: str | None = None,
    label_col: str | None = None,
    image_col: str | None = None,
    text_col: str | None = None,
    items: str | Path | None = None,
    data=None,
    test_fraction: float | None = None,
    seed: int = 0,
    overwrite: bool = False,
):
    """Import vectors from a file (``.npy``, ``.npz``, Parquet, CSV, TSV) into a run folder at ``out``.

    ``metadata``: a table file (Parquet, CSV, TSV) with one row per vector, or matched on ``id_col``
    when both tables have that column (then in any order, and it may hold more rows). Any other
    columns of the vectors' own table are metadata too; every column is kept in its own type.
    ``vector_col``: the list column holding the vectors (or the array of an ``.npz``); ``z_cols``:
    the columns holding one value each, as a prefix (``z_`` for ``z_0, z_1, ...``) or a comma list.
    Without either, the vectors are the one list column, or every numeric column when no other is
    left (ids, labels and the columns other options name excepted). ``label_col``: the categorical
    column that colours maps and trains probes (default: a column called label, labels, class,
    category or target(s), when it can be one). ``image_col`` (paths relative to the file holding
    the column, or image bytes), ``text_col`` or ``items`` (a folder of images, matched by
    ``id_col`` to file names or taken in sorted order): what the explorer and the report show for
    a row. ``data``: the source data the vectors were computed from (a path or built-in name, same
    rows): neighbourhood scores and probes on the raw data then apply, and its rows are the items
    unless others are given.
    """
    check_target(out, overwrite, kind="run")
    named = {c for c in (id_col, label_col, image_col, text_col) if c is not None}
    vec = read_vectors(vectors, vector_col=vector_col, z_cols=z_cols, exclude=named)
    meta_table = read_metadata(metadata) if metadata is not None else None
    return _write(
        vec,
        meta_table,
        out=out,
        where=Path(metadata).name if metadata is not None else vec.where,
        source=str(Path(vectors).resolve()),
        bases=(Path(metadata).parent if metadata is not None else None, Path(vectors).parent),
        id_col=id_col,
        label_col=label_col,
        image_col=image_col,
        text_col=text_col,
        items=items,
        data=data,
        test_fraction=test_fraction,
        seed=seed,
        overwrite=overwrite,
    )


def from_embeddings(
    Z,
    metadata=None,
    *,
    out: str | Path,
    items=None,
    id_col: str | None = None,
    label_col: str | None = None,
    image_col: str | None = None,
    text_col: str | None = None,
    data=None,
    name: str = "embeddings",
    test_fraction: float | None = None,
    seed: int = 0,
    overwrite: bool = False,
):
    """Import vectors held in Python into a run folder at ``out``.

    ``Z``: (n, k) numbers: numpy, torch, a list of lists, a pandas or polars frame of numeric
    columns, or one vector per row as a pandas / polars Series or pyarrow (fixed-size) list array.
    ``metadata``: a pandas, polars or pyarrow table, or a dict of columns, one row per vector.
    ``items``: images for the rows: an array (n, h, w[, c]) of pixels (uint8, or floats in [0, 1]),
    a list of image bytes or file paths, or a folder of image files. Other arguments as in
    :func:`import_embeddings`.
    """
    check_target(out, overwrite, kind="run")
    vec = Vectors(as_matrix(Z), None, name)
    metadata = as_table(metadata)
    python_items = None
    if items is not None and not isinstance(items, str | Path):
        python_items, items = items, None
    return _write(
        vec,
        metadata,
        out=out,
        where="metadata",
        source=None,
        bases=(None, None),
        id_col=id_col,
        label_col=label_col,
        image_col=image_col,
        text_col=text_col,
        items=items,
        python_items=python_items,
        data=data,
        test_fraction=test_fraction,
        seed=seed,
        overwrite=overwrite,
    )


def _python_images(items, n: int) -> list[bytes]:
    """Thumbnails of images given in Python: a pixel array, or a list of bytes or paths."""
    if type(items).__module__.startswith("torch"):
        items = items.detach().cpu().numpy()
    if isinstance(items, np.ndarray) and items.dtype.kind in "uif":
        a = items
        if a.ndim not in (3, 4) or len(a) != n:
            raise InputError(
                f"items: an image array must be (n={n}, h, w) or (n, h, w, c); got shape {a.shape}"
            )
        if a.ndim == 4 and a.shape[1] in (1, 3) and a.shape[3] not in (1, 3):
            a = a.transpose(0, 2, 3, 1)  # (n, c, h, w) -> (n, h, w, c)
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 1:
                raise InputError("items: float images must hold finite values in [0, 1]")
            a = (a * 255 + 0.5).astype(np.uint8)
        elif a.max(initial=0) > 255 or a.min(initial=0) < 0:
            raise InputError("items: integer images must hold 0..255")
        return [_png(x.astype(np.uint8)) for x in a]
    items = list(items)
    if len(items) != n:
        raise InputError(f"items: {len(items):,} images for {n:,} vectors; give one per vector")
    return [thumbnail(v if isinstance(v, bytes) else Path(v), f"items[{i}]") for i, v in enumerate(items)]


def _png(a: np.ndarray) -> bytes:
    import io

    from PIL import Image

    img = Image.fromarray(a[:, :, 0] if a.ndim == 3 and a.shape[2] == 1 else a)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return thumbnail(buf.getvalue(), "an item")


def _labels(table, label_col: str | None, where: str):
    """(codes, names, column) of the label column, or (None, None, None). Without ``label_col``, a
    column called label, labels, class, category or target(s) is the label when it can be one."""
    explicit = label_col is not None
    if table is None:
        if explicit:
            raise InputError(
                f"--label-col {label_col!r}: there is no metadata to take it from; give --metadata"
            )
        return None, None, None
    names = table.column_names
    if not explicit:
        label_col = next((c for d in DEFAULT_LABELS for c in names if c.lower() == d), None)
        if label_col is None:
            return None, None, None
    elif label_col not in names:
        raise InputError(f"--label-col {label_col!r}: no such metadata column; columns: {_names(names)}")
    try:
        codes, classes = _label_codes(table[label_col], label_col)
    except InputError as exc:
        if explicit:
            raise
        log.warning("column %r is not used as the label: %s", label_col, exc)
        return None, None, None
    if not explicit:
        log.info(
            "the label is column %r (%d classes); choose another with --label-col", label_col, len(classes)
        )
    return codes, classes, label_col


def _label_codes(col, name: str) -> tuple[np.ndarray, list[str]]:
    """A label column -> (int64 codes 0..c-1, class names): a category's classes in its own order,
    other values sorted."""
    import pyarrow as pa

    n = len(col)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    kind = meta_kind(col.type)
    if kind not in ("text", "category", "number", "bool"):
        raise InputError(
            f"--label-col {name!r} holds {col.type}; a label must be a category, text, number or boolean"
        )
    if col.null_count:
        row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise InputError(
            f"--label-col {name!r} is empty at row {row}; every vector needs a label (fill the gaps,"
            " e.g. with 'unknown')"
        )
    if kind == "category":
        indices = col.indices.to_numpy(zero_copy_only=False)
        used = np.unique(indices)
        remap = np.full(len(col.dictionary), -1, np.int64)
        remap[used] = np.arange(len(used))
        codes, classes = remap[indices], [str(col.dictionary[int(i)].as_py()) for i in used]
    else:
        values = col.to_numpy(zero_copy_only=False)
        if values.dtype.kind == "f":
            if not np.all(np.isfinite(values)):
                row = int(np.flatnonzero(~np.isfinite(values))[0])
                raise InputError(
                    f"--label-col {name!r} holds {values[row]} at row {row}; labels must be finite"
                )
            if np.all(values == np.round(values)) and np.all(np.abs(values) < 2**53):
                values = values.astype(np.int64)  # 1.0, 2.0: classes 1 and 2
        if kind == "text" and (empty := np.flatnonzero(values == "")).size:
            raise InputError(
                f"--label-col {name!r} is empty at row {int(empty[0])}; every vector needs a label"
            )
        uniq, codes = np.unique(values, return_inverse=True)
        classes = [str(v) for v in uniq.tolist()]
    limit = min(MAX_LABELS, max(2, n // 2))
    if len(classes) > limit:
        raise InputError(
            f"--label-col {name!r} has {len(classes):,} distinct values in {n:,} rows: too many for a label"
            f" (at most {limit:,}: {MAX_LABELS:,}, and half the rows); is it an id? Give a column of"
            " categories"
        )
    return np.asarray(codes, np.int64).reshape(-1), classes


def _names(names, most: int = 12) -> str:
    shown = ", ".join(repr(c) if not c or c != c.strip() else c for c in names[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")


def _keepable(col):
    """A metadata column in a type latentspace keeps: categories of numbers become numbers,
    decimals float64, durations seconds (float64), times of day and empty columns text."""
    import pyarrow as pa

    t = col.type
    if pa.types.is_dictionary(t) and meta_kind(t) is None:
        col, t = col.cast(t.value_type), t.value_type
    if pa.types.is_decimal(t):
        return col.cast(pa.float64())
    if pa.types.is_duration(t):
        return pa.chunked_array(
            [c.cast(pa.int64()).to_numpy(zero_copy_only=False) / _PER_SECOND[t.unit] for c in col.chunks],
            pa.float64(),
        )
    if pa.types.is_time(t) or pa.types.is_null(t):
        return col.cast(pa.string())
    return col


_PER_SECOND = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


def _kept_metadata(table, image_col: str | None):
    """The metadata columns kept (each of a kind latentspace stores), and their record."""
    import pyarrow as pa

    if table is None:
        return None, []
    keep, record = {}, []
    for j, name in enumerate(table.column_names):
        col = _keepable(table[name])
        kind = meta_kind(col.type)
        if kind is None:
            if name != image_col:
                log.warning(
                    "metadata column %r (%s) is not kept: only text, categories, numbers,"
                    " booleans and times are",
                    name,
                    table[name].type,
                )
            continue
        if not name.strip():  # pandas' unnamed index column in a CSV
            name = "index" if "index" not in table.column_names else f"column_{j}"
        keep[name] = col
        record.append({"name": name, "kind": kind})
    return (pa.table(keep) if keep else None), record


def _write(
    vec: Vectors,
    meta_table,
    *,
    out,
    where: str,
    source,
    bases,
    id_col,
    label_col,
    image_col,
    text_col,
    items,
    data,
    test_fraction,
    seed,
    overwrite,
    python_items=None,
):
    """Check everything cheap first (values, metadata, label, item columns), then make the item
    thumbnails, then write the run (atomically: a failure leaves nothing behind)."""
    from ..models.embeddings import Embeddings

    Z = vec.Z
    n, k = Z.shape
    if n < 2:
        raise InputError(
            f"{vec.where} hold{'s' if vec.where != 'the vectors' else ''} {n} vector; at least 2 are needed"
        )
    check_finite(Z, vec.where)
    if sum(x is not None for x in (image_col, text_col, items, python_items)) > 1:
        raise InputError("give one kind of item: --image-col, --text-col or --items")
    table = attach_metadata(vec, meta_table, id_col, where)
    y, names, label_col = _labels(table, label_col, where)
    columns = table.column_names if table is not None else []
    for option, col in (("--text-col", text_col), ("--image-col", image_col)):
        if col is not None and col not in columns:
            have = f"columns: {_names(columns)}" if columns else "there is no metadata: give --metadata"
            raise InputError(f"{option} {col!r}: no such metadata column; {have}")
    if text_col is not None and meta_kind(table[text_col].type) not in ("text", "category"):
        raise InputError(f"--text-col {text_col!r} holds {table[text_col].type}; expected text")
    ds = _dataset(Z, y, names, data, vec.name, source)
    test_mask, split = split_mask(ds, test_fraction, seed)
    images = None
    if python_items is not None:
        images = _python_images(python_items, n)
    elif image_col is not None:  # paths are relative to the table holding the column
        base = bases[0] if meta_table is not None and image_col in meta_table.column_names else bases[1]
        images = column_images(table[image_col], base, image_col)
    elif items is not None:
        ids = None if id_col is None else [str(v) for v in table[id_col].to_pylist()]
        images = folder_images(Path(items), n, ids)
    kept, record = _kept_metadata(table, image_col)  # after every check: its warnings are for a run
    model = Embeddings(latent_dim=k).fit(Z)
    extra_files = {ITEMS_FILE: items_bytes(images)} if images is not None else {}
    kind = "image" if images is not None else "text" if text_col else "data" if data is not None else "none"
    extra_config = {"metadata": record, "items": {"kind": kind, **({"column": text_col} if text_col else {})}}
    if label_col is not None:
        extra_config["label_col"] = label_col
    log.info("importing %d vectors of %d values (%d metadata columns)", n, k, len(record))
    return save_run(
        out,
        model,
        ds,
        seed=seed,
        split=split,
        test_mask=test_mask,
        Z=Z,
        overwrite=overwrite,
        extra_files=extra_files,
        metadata=kept,
        extra_config=extra_config,
    )


def _dataset(Z, y, names, data, name: str, source) -> Dataset:
    """The run's data: the source data the vectors came from (same rows), else the vectors."""
    if data is None:
        spec = {"own_latents": True, **({"source": source} if source else {})}
        return Dataset(X=Z, y=y, label_names=names, name=name, spec=spec)
    ds = data if isinstance(data, Dataset) else load(data)
    if ds.n != len(Z):
        raise InputError(
            f"the source data {ds.name!r} have {ds.n:,} rows; the vectors are {len(Z):,}: one per row"
        )
    if y is not None:  # the label chosen from the metadata replaces the data's own
        ds.y, ds.label_names = y, names
    return ds
