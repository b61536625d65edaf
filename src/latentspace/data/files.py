"""Readers for user files: .npy (memory-mapped), .npz, .csv, .parquet and folders of images.

Nothing here can execute code from a file: ``.npy``/``.npz`` are read with ``allow_pickle=False``,
tables with pyarrow, images with Pillow. A file that cannot be used (empty, truncated, another
format under this suffix, object arrays, no rows, a value beyond float32's range, ...) is an
:class:`InputError` of one line naming the file and what is allowed; how each image mode becomes
pixels in [0, 1] is set out in :mod:`latentspace.data.images`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..progress import report
from .arrays import NPY_EXPECTED, NPZ_EXPECTED, encode_labels, file_head, read_npy, read_npz
from .dataset import Dataset
from .images import IMAGE_SUFFIXES, header
from .reasons import reason
from .source import ImageRows, ParquetRows, arrow_column_float32

log = logging.getLogger(__name__)

TABLE_SUFFIXES = {".csv", ".parquet", ".pq"}
ARRAY_SUFFIXES = {".npy", ".npz"}
LAZY_PARQUET_BYTES = 512 << 20  # Parquet files larger than this are read by row group, not loaded
LAZY_IMAGE_BYTES = 512 << 20  # image folders whose float32 pixels exceed this are decoded per read

SUPPORTED = ".npy, .npz, .csv, .parquet, or a folder of PNG/JPEG/TIFF images"
_EXPECTED = {
    ".npy": NPY_EXPECTED,
    ".npz": NPZ_EXPECTED,
    ".csv": "a header line and rows of numbers",
    ".parquet": "a Parquet table",
    ".pq": "a Parquet table",
}


def read_path(path: str | Path, *, label_col: str | None = None) -> Dataset:
    """Read a file or folder into a :class:`Dataset`; the format follows the suffix."""
    p = Path(path)
    if p.is_dir():
        if label_col is not None:
            raise InputError("--label-col applies to tables; image folders take labels from sub-folders")
        return read_image_folder(p)
    suffix = p.suffix.lower()
    if not p.is_file():
        if p.exists():  # a device, a pipe, a socket
            raise InputError(f"{p.name} is not a regular file or a folder; use {SUPPORTED}")
        raise InputError(f"no such file or folder: {p}")
    if suffix not in _EXPECTED:
        raise InputError(f"cannot read {p.name!r}: unsupported format {suffix or '(none)'}; use {SUPPORTED}")
    head = file_head(p, _EXPECTED[suffix])
    if suffix == ".npy":
        return _finish(read_npy(p, head), p, label_col)
    if suffix == ".npz":
        return read_npz(p, label_col=label_col, head=head)
    return read_table(p, label_col=label_col)


def _finish(ds: Dataset, path: Path, label_col: str | None) -> Dataset:
    if label_col is not None:
        raise InputError(f"{path.name}: --label-col needs a table or an .npz holding a label array")
    return ds


def _is_label_type(t) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
    )


def read_table(path: Path, *, label_col: str | None = None) -> Dataset:
    """CSV or Parquet: every column numeric except the optional label column."""
    import pyarrow as pa

    lazy = False
    csv = path.suffix.lower() == ".csv"
    try:
        if csv:
            import pyarrow.csv as pacsv

            table = pacsv.read_csv(path)
            n_rows = table.num_rows
        else:
            import pyarrow.parquet as pq

            lazy = path.stat().st_size > LAZY_PARQUET_BYTES
            # a large file: its schema now (an empty table), the label column when asked for it,
            # the features row group by row group when rows are read
            pf = pq.ParquetFile(path)
            table = pf.schema_arrow.empty_table() if lazy else pf.read()
            n_rows = pf.metadata.num_rows
            if lazy and label_col is not None and label_col in table.column_names:
                labels = pq.read_table(path, columns=[label_col])[label_col]
    except (pa.ArrowException, OSError) as exc:
        raise InputError(
            f"{path.name} cannot be read as a table ({reason(exc)});"
            f" expected {_EXPECTED[path.suffix.lower()]}"
        ) from None
    columns = table.column_names
    if not columns:
        raise InputError(f"{path.name} has no columns; a table needs numeric feature columns")
    twice = next((c for c in columns if columns.count(c) > 1), None)
    if twice is not None:
        raise InputError(
            f"{path.name}: column {twice!r} appears {columns.count(twice)} times; column names must be unique"
        )
    if label_col is not None and label_col not in columns:
        raise InputError(f"{path.name}: no column {label_col!r}; columns: {', '.join(columns)}")
    features = [c for c in columns if c != label_col]
    non_numeric = [
        c
        for c in features
        if not (
            pa.types.is_integer(table[c].type)
            or pa.types.is_floating(table[c].type)
            or pa.types.is_boolean(table[c].type)
            or pa.types.is_null(table[c].type)
        )
    ]
    if non_numeric:
        listed = ", ".join(f"{c!r} ({table[c].type})" for c in non_numeric)
        raise InputError(
            f"{path.name}: non-numeric columns {listed}; features must be numbers"
            " (name one column with --label-col, drop the others)"
        )
    if not features:
        raise InputError(f"{path.name}: no feature columns besides the label column {label_col!r}")
    if n_rows == 0:
        raise InputError(
            f"{path.name} has a header line but no rows; at least one row of numbers is needed"
            if csv
            else f"{path.name} has 0 rows; at least one row is needed"
        )
    if lazy:  # larger than LAZY_PARQUET_BYTES: read by row group when rows are needed
        X = ParquetRows(path, features)
    else:
        X = np.empty((table.num_rows, len(features)), dtype=np.float32)
        for j, c in enumerate(features):
            X[:, j] = arrow_column_float32(table[c], path.name, j, c)  # nulls -> NaN
    y = names = None
    if label_col is not None:
        col = labels if lazy else table[label_col]
        what = f"label column {label_col!r}"
        if not _is_label_type(col.type):
            raise InputError(
                f"{path.name}: {what} has type {col.type}; labels must be integers, strings or finite numbers"
            )
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(f"{path.name}: {what} is empty at row {row}")
        y, names = encode_labels(col.to_numpy(zero_copy_only=False), path, what)
    return Dataset(
        X=X,
        y=y,
        label_names=names,
        feature_names=features,
        name=path.stem,
        spec={"path": str(path.resolve()), "label_col": label_col},
    )


def _image_files(folder: Path) -> tuple[list[Path], list[str] | None]:
    """Images directly in ``folder``, or in its sub-folders (then sub-folder names are labels)."""

    def images_in(d: Path) -> list[Path]:
        return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)

    top = images_in(folder)
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    nested = {d.name: images_in(d) for d in subdirs}
    nested = {k: v for k, v in nested.items() if v}
    if top and nested:
        raise InputError(
            f"{folder}: has images both at the top and in sub-folders ({', '.join(nested)});"
            " put all images in class sub-folders, or all at the top"
        )
    if nested:
        files, labels = [], []
        for name, paths in nested.items():
            files += paths
            labels += [name] * len(paths)
        return files, labels
    if not top:
        raise InputError(
            f"{folder}: no images found (nor in sub-folders); allowed: {', '.join(sorted(IMAGE_SUFFIXES))}"
        )
    return top, None


def read_image_folder(folder: Path) -> Dataset:
    """A folder of same-size PNG/JPEG/TIFF images; greyscale stays 1 channel, otherwise RGB.

    Image headers are read first (sizes and colour modes, no pixels); folders whose pixels would
    take more than LAZY_IMAGE_BYTES as float32 are decoded when rows are read, not at once. Each
    file's pixels are scaled to [0, 1] by its own mode (16-bit by 65535, alpha composited on
    black, ...): the rules are in :mod:`latentspace.data.images`."""
    try:
        files, labels = _image_files(folder)
    except OSError as exc:
        raise InputError(f"{folder.name} cannot be listed: {reason(exc)}") from None
    first_size, rgb = None, False
    for i, p in enumerate(files):
        size, c = header(p, str(p.relative_to(folder)))
        if first_size is None:
            first_size = size
        elif size != first_size:
            raise InputError(
                f"image {p.relative_to(folder)} is {size[0]}x{size[1]} but"
                f" {files[0].relative_to(folder)} is {first_size[0]}x{first_size[1]};"
                " all images must have one size"
            )
        rgb = rgb or c == 3
        if (i + 1) % 1000 == 0 or i + 1 == len(files):
            report("reading image headers", i + 1, len(files))
    w, h = first_size
    c = 3 if rgb else 1
    X = ImageRows(files, folder, (w, h), rgb)
    if len(files) * c * h * w * 4 <= LAZY_IMAGE_BYTES:
        X = X[0 : len(files)]  # small enough: decode them all now
    y, names = encode_labels(np.array(labels), folder) if labels else (None, None)
    return Dataset(
        X=X,
        y=y,
        label_names=names,
        sample_shape=(c, h, w),
        name=folder.name,
        spec={"path": str(folder.resolve())},
    )
