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
from ..data.vectors import (
    Vectors,
    as_matrix,
    as_table,
    attach_metadata,
    check_finite,
    read_metadata,
    read_vectors,
)
from ..errors import InputError
from ..runfolder import save_run
from ..runfolder.checks import meta_kind
from .targets import check_target

log = logging.getLogger(__name__)

MAX_LABELS = 1000  # a label column with more distinct values is an id, not a class
DEFAULT_LABELS = ("label", "labels", "class", "category")


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
    when both tables have that column. ``vector_col`` / ``z_cols``: the list column, or the prefix of
    the per-dimension columns, when the vectors' file is a table (found on their own when there is
    one list column, or when every column is a number). ``label_col``: the categorical column that
    colours maps and trains probes (default: a column called label, labels, class or category).
    ``image_col`` (paths relative to the metadata file, or image bytes), ``text_col`` or ``items``
    (a folder of images): what the explorer and the report show for a row. ``data``: the source data
    the vectors were computed from (a path or built-in name, same rows): neighbourhood scores and
    probes on the raw data then apply, and its rows are the items unless others are given.
    """
    check_target(out, overwrite, kind="run")
    vec = read_vectors(vectors, vector_col=vector_col, z_cols=z_cols)
    meta_table = read_metadata(metadata) if metadata is not None else None
    base = Path(metadata).parent if metadata is not None else Path(vectors).parent
    return _write(
        vec,
        meta_table,
        out=out,
        where=Path(metadata).name if metadata is not None else Path(vectors).name,
        source=str(Path(vectors).resolve()),
        base=base,
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

    ``Z``: (n, k) numbers (numpy, torch, a pandas or polars frame, a pyarrow list array).
    ``metadata``: a pandas, polars or pyarrow table, or a dict of columns, one row per vector.
    ``items``: images for the rows: an array (n, h, w[, c]) of pixels (uint8, or floats in [0, 1]),
    a list of image bytes or file paths, or a folder of image files. Other arguments as in
    :func:`import_embeddings`.
    """
    check_target(out, overwrite, kind="run")
    vec = Vectors(as_matrix(Z), None, name)
    images = None
    if items is not None and not isinstance(items, str | Path):
        images = _python_images(items, len(vec.Z))
        items = None
    return _write(
        vec,
        as_table(metadata),
        out=out,
        where="metadata",
        source=None,
        base=None,
        id_col=id_col,
        label_col=label_col,
        image_col=image_col,
        text_col=text_col,
        items=items,
        images=images,
        data=data,
        test_fraction=test_fraction,
        seed=seed,
        overwrite=overwrite,
    )


def _python_images(items, n: int) -> list[bytes]:
    """Thumbnails of images given in Python: a pixel array, or a list of bytes or paths."""
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
    """(codes, names, column) of the label column, or (None, None, None)."""
    from ..data.arrays import encode_labels

    if label_col is None:
        if table is None:
            return None, None, None
        label_col = next((c for c in DEFAULT_LABELS if c in table.column_names), None)
        if label_col is None or meta_kind(table[label_col].type) not in (
            "text",
            "category",
            "number",
            "bool",
        ):
            return None, None, None
        if len(table[label_col].unique()) > MAX_LABELS:
            return None, None, None
    if table is None or label_col not in table.column_names:
        have = ", ".join(table.column_names) if table is not None else "there is no metadata"
        raise InputError(f"--label-col {label_col!r}: no such metadata column ({have})")
    col = table[label_col]
    kind = meta_kind(col.type)
    if kind not in ("text", "category", "number", "bool"):
        raise InputError(
            f"--label-col {label_col!r} holds {col.type}; a label must be a category, text or number"
        )
    if col.null_count:
        row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise InputError(f"--label-col {label_col!r} is empty at row {row}")
    if kind == "category":
        col = col.cast(col.type.value_type)
    values = col.to_numpy(zero_copy_only=False)
    distinct = len(np.unique(values))
    if distinct > MAX_LABELS:
        raise InputError(
            f"--label-col {label_col!r} has {distinct:,} distinct values; a label has at most {MAX_LABELS}"
            " classes (is it an id?)"
        )
    codes, names = encode_labels(values, Path(where), f"label column {label_col!r}")
    return codes, names, label_col


def _kept_metadata(table, image_col: str | None):
    """The metadata columns kept (each of a kind latentspace stores), and their record."""
    if table is None:
        return None, []
    keep, record = [], []
    for name in table.column_names:
        kind = meta_kind(table[name].type)
        if kind is None:
            if name != image_col:
                log.warning(
                    "metadata column %r (%s) is not kept: only text, categories, numbers,"
                    " booleans and times are",
                    name,
                    table[name].type,
                )
            continue
        keep.append(name)
        record.append({"name": name, "kind": kind})
    return (table.select(keep) if keep else None), record


def _write(
    vec: Vectors,
    meta_table,
    *,
    out,
    where: str,
    source,
    base,
    id_col,
    label_col,
    image_col,
    text_col,
    items,
    data,
    test_fraction,
    seed,
    overwrite,
    images=None,
):
    from ..models.embeddings import Embeddings

    Z = vec.Z
    n, k = Z.shape
    check_finite(Z, vec.name)
    table = attach_metadata(vec, meta_table, id_col, where)
    y, names, label_col = _labels(table, label_col, where)
    if sum(x is not None for x in (image_col, text_col, items, images)) > 1:
        raise InputError("give one kind of item: --image-col, --text-col or --items")
    if image_col is not None:
        if table is None or image_col not in table.column_names:
            raise InputError(f"--image-col {image_col!r}: no such metadata column")
        images = column_images(table[image_col], base, image_col)
    elif items is not None:
        ids = None if id_col is None else [str(v) for v in table[id_col].to_pylist()]
        images = folder_images(Path(items), n, ids)
    if text_col is not None:
        if table is None or text_col not in table.column_names:
            raise InputError(f"--text-col {text_col!r}: no such metadata column")
        if meta_kind(table[text_col].type) not in ("text", "category"):
            raise InputError(f"--text-col {text_col!r} holds {table[text_col].type}; expected text")
    kept, record = _kept_metadata(table, image_col)
    ds = _dataset(Z, y, names, data, vec.name, source)
    test_mask, split = split_mask(ds, test_fraction, seed)
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
