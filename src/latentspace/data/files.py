"""Readers for user files: .npy (memory-mapped), .npz, .csv, .parquet and folders of images.

Nothing here can execute code from a file: ``.npy``/``.npz`` are read with ``allow_pickle=False``,
tables with pyarrow, images with Pillow. A file that cannot be used (empty, truncated, another
format under this suffix, object arrays, no rows, a value beyond float32's range, ...) is an
:class:`InputError` of one line naming the file and what is allowed; how each image mode becomes
pixels in [0, 1] is set out in :mod:`latentspace.data.images`.
"""

from __future__ import annotations

import logging
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..progress import report
from .dataset import Dataset
from .images import IMAGE_SUFFIXES, header
from .reasons import reason
from .source import FLOAT32_MAX, ArrayRows, ImageRows, ParquetRows, arrow_column_float32

log = logging.getLogger(__name__)

TABLE_SUFFIXES = {".csv", ".parquet", ".pq"}
ARRAY_SUFFIXES = {".npy", ".npz"}
LAZY_PARQUET_BYTES = 512 << 20  # Parquet files larger than this are read by row group, not loaded
LAZY_IMAGE_BYTES = 512 << 20  # image folders whose float32 pixels exceed this are decoded per read

SUPPORTED = ".npy, .npz, .csv, .parquet, or a folder of PNG/JPEG/TIFF images"
_EXPECTED = {
    ".npy": "a NumPy array written by numpy.save",
    ".npz": "an archive of NumPy arrays written by numpy.savez",
    ".csv": "a header line and rows of numbers",
    ".parquet": "a Parquet table",
    ".pq": "a Parquet table",
}
_SHAPES = "(n, d) vectors, or images (n, h, w), (n, c, h, w) or (n, h, w, c) with c = 1 or 3"

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first entry, or the end of an empty zip
_CHECK_ROWS = 16384  # rows scanned at a time for values beyond float32

_X_KEYS = ("X", "x", "data", "features", "images")
_Y_KEYS = ("y", "labels", "label", "targets", "target")


def read_path(path: str | Path, *, label_col: str | None = None) -> Dataset:
    """Read a file or folder into a :class:`Dataset`; the format follows the suffix."""
    p = Path(path)
    if p.is_dir():
        if label_col is not None:
            raise InputError("--label-col applies to tables; image folders take labels from sub-folders")
        return read_image_folder(p)
    suffix = p.suffix.lower()
    if not p.is_file():
        raise InputError(f"no such file or folder: {p}")
    if suffix not in _EXPECTED:
        raise InputError(f"cannot read {p.name!r}: unsupported format {suffix or '(none)'}; use {SUPPORTED}")
    head = _head(p, _EXPECTED[suffix])
    if suffix == ".npy":
        return _finish(read_npy(p, head), p, label_col)
    if suffix == ".npz":
        return read_npz(p, label_col=label_col, head=head)
    return read_table(p, label_col=label_col)


def _head(path: Path, expected: str) -> bytes:
    """The first bytes of a file: a readable, non-empty file, or an error naming it."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise InputError(f"{path.name} cannot be opened: {reason(exc)}") from None
    if not head:
        raise InputError(f"{path.name} is empty (0 bytes); expected {expected}")
    return head


def _finish(ds: Dataset, path: Path, label_col: str | None) -> Dataset:
    if label_col is not None:
        raise InputError(f"{path.name}: --label-col needs a table or an .npz holding a label array")
    return ds


def read_npy(path: Path, head: bytes | None = None) -> Dataset:
    """A ``.npy`` file, memory-mapped: its header is checked against the file's size first."""
    head = _head(path, _EXPECTED[".npy"]) if head is None else head
    if head.startswith(_ZIP_MAGIC):
        raise InputError(f"{path.name} is an .npz (zip) archive, not a .npy file; rename it to .npz")
    if not head.startswith(_NPY_MAGIC):
        raise InputError(
            f"{path.name} is not a NumPy .npy file (it does not start with the .npy header);"
            " write arrays with numpy.save"
        )
    shape, dtype, offset = _npy_header(path)
    if dtype.hasobject:
        raise InputError(
            f"{path.name} holds Python objects (dtype {dtype}); object arrays are refused because"
            " loading them would run pickle"
        )
    need, have = math.prod(shape) * dtype.itemsize, path.stat().st_size - offset
    if have < need:
        raise InputError(
            f"{path.name} is truncated: its header declares shape {shape} of {dtype}"
            f" ({need} bytes of data) but {have} follow"
        )
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path.name} cannot be read as a .npy array: {reason(exc)}") from None
    return _array_dataset(arr, path)


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, offset of the data) from a .npy header, without reading the data."""
    fmt = np.lib.format
    try:
        with open(path, "rb") as fh:
            major, _ = fmt.read_magic(fh)
            read = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
            shape, _, dtype = read(fh)
            return tuple(int(s) for s in shape), dtype, fh.tell()
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise InputError(f"{path.name} has a damaged .npy header: {reason(exc)}") from None


def _array_dataset(arr: np.ndarray, path: Path, y=None, label_names=None) -> Dataset:
    """Turn an array of shape (n, d), (n, h, w), (n, c, h, w) or (n, h, w, c) into a Dataset."""
    if arr.dtype.kind not in "biuf":
        raise InputError(
            f"{path.name}: array dtype {arr.dtype} is not numeric; features must be numbers"
            " (bool, int, uint or float)"
        )
    if not 2 <= arr.ndim <= 4:
        hint = " (save a single feature as shape (n, 1))" if arr.ndim == 1 else ""
        raise InputError(f"{path.name}: a {arr.ndim}-D array of shape {arr.shape}; allowed: {_SHAPES}{hint}")
    if arr.shape[0] == 0:
        raise InputError(f"{path.name} holds 0 rows (shape {arr.shape}); at least one row is needed")
    if math.prod(arr.shape[1:]) == 0:
        raise InputError(
            f"{path.name} holds rows of 0 values (shape {arr.shape}); each row needs at least one value"
        )
    sample_shape = None
    if arr.ndim == 3:
        sample_shape = (1, *arr.shape[1:])
    elif arr.ndim == 4:
        if arr.shape[1] not in (1, 3) and arr.shape[3] in (1, 3):  # channels last -> first
            arr = np.ascontiguousarray(arr.transpose(0, 3, 1, 2))
        if arr.shape[1] not in (1, 3):
            raise InputError(f"{path.name}: 4-D arrays must have 1 or 3 channels; got {arr.shape}")
        sample_shape = tuple(arr.shape[1:])
    X = arr.reshape(arr.shape[0], math.prod(arr.shape[1:]))
    _refuse_beyond_float32(X, path)
    if isinstance(X, np.memmap) and X.dtype != np.float32:  # converted block by block when read
        X = ArrayRows(X, 1.0 / 255.0 if X.dtype == np.uint8 else None)
        if arr.dtype == np.uint8:
            log.info("%s: uint8 values scaled to [0, 1] by 1/255 as they are read", path.name)
    elif X.dtype == np.uint8:
        log.info("%s: uint8 values scaled to [0, 1] by 1/255", path.name)
        X = X.astype(np.float32) / 255.0
    elif X.dtype != np.float32:
        X = X.astype(np.float32)
    return Dataset(
        X=X,
        y=y,
        label_names=label_names,
        sample_shape=sample_shape,
        name=path.stem,
        spec={"path": str(path.resolve())},
    )


def _refuse_beyond_float32(X: np.ndarray, path: Path) -> None:
    """Float64 (or wider) values that float32 cannot hold would silently become infinities."""
    if X.dtype.kind != "f" or X.dtype.itemsize <= 4:
        return
    for start in range(0, X.shape[0], _CHECK_ROWS):
        block = np.asarray(X[start : start + _CHECK_ROWS])
        over = np.abs(block) > FLOAT32_MAX  # NaN compares False; infinities are found later
        over &= np.isfinite(block)
        if over.any():
            row, col = (int(i) for i in np.argwhere(over)[0])
            raise InputError(
                f"{path.name} has {float(block[row, col]):g} at row {start + row}, column {col}:"
                f" beyond float32's range (|x| <= {FLOAT32_MAX:.3g}); rescale the data"
            )


def read_npz(path: Path, *, label_col: str | None = None, head: bytes | None = None) -> Dataset:
    """An ``.npz`` archive: the data array (``X``, ``data``, ... or the only one besides the
    labels) and optionally a label array (``y``, ``labels``, ... or ``label_col``)."""
    head = _head(path, _EXPECTED[".npz"]) if head is None else head
    if head.startswith(_NPY_MAGIC):
        raise InputError(f"{path.name} is a .npy file, not an .npz (zip) archive; rename it to .npy")
    if not head.startswith(_ZIP_MAGIC):
        raise InputError(
            f"{path.name} is not an .npz archive (not a zip file); write arrays with numpy.savez"
        )
    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise InputError(
            f"{path.name} is not a readable .npz (zip) archive ({reason(exc)}); it may be truncated:"
            " write it again with numpy.savez"
        ) from None
    with archive as f:
        keys = list(f.files)
        if not keys:
            raise InputError(
                f"{path.name} holds no arrays; expected the data as an array named one of"
                f" {', '.join(_X_KEYS)}"
            )
        if label_col is not None and label_col not in keys:
            raise InputError(f"{path.name}: no array {label_col!r}; arrays: {', '.join(keys)}")
        y_key = label_col or next((k for k in _Y_KEYS if k in keys), None)
        x_key = _data_key(keys, y_key, label_col, path)
        y, names = _encode_labels(_member(f, y_key, path), path) if y_key else (None, None)
        ds = _array_dataset(_member(f, x_key, path), path, y=y, label_names=names)
    ds.spec = {"path": str(path.resolve()), "label_col": label_col}
    return ds


def _data_key(keys: list[str], y_key: str | None, label_col: str | None, path: Path) -> str:
    rest = [k for k in keys if k != y_key]
    if not rest:
        if label_col is not None:
            raise InputError(
                f"{path.name}: --label-col {label_col!r} names the data array; no other array is left"
            )
        raise InputError(f"{path.name} holds only the labels {y_key!r}; no data array")
    x_key = next((k for k in _X_KEYS if k in rest), rest[0] if len(rest) == 1 else None)
    if x_key is None:
        raise InputError(
            f"{path.name}: cannot tell which array is the data among {rest};"
            f" name it one of {', '.join(_X_KEYS)}"
        )
    return x_key


def _member(f, key: str, path: Path) -> np.ndarray:
    """One array of an open .npz, or an error naming it and the archive."""
    where = f"array {key!r} in {path.name}"
    try:
        value = f[key]
    except MemoryError:
        raise InputError(
            f"{where} does not fit in memory; .npz archives are loaded whole: save large data as"
            " .npy, which is read from disk"
        ) from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError) as exc:
        if "allow_pickle" in str(exc):
            raise InputError(
                f"{where} holds Python objects; object arrays are refused because loading them"
                " would run pickle"
            ) from None
        raise InputError(f"{where} cannot be read ({reason(exc)}); the archive may be damaged") from None
    if not isinstance(value, np.ndarray):
        raise InputError(f"{where} is not a NumPy array; an .npz holds arrays written by numpy.savez")
    return value


def _encode_labels(values, path: Path, what: str = "labels") -> tuple[np.ndarray, list[str]]:
    """Class values (ints, strings or finite numbers) -> (int64 codes 0..k-1, names in sorted order)."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise InputError(f"{path.name}: {what} must be 1-D; got shape {values.shape}")
    kind = values.dtype.kind
    if kind == "O" and not all(isinstance(v, str) for v in values):  # arrow strings come as objects
        kind = "?"
    if kind not in "biufUSO":
        raise InputError(
            f"{path.name}: {what} must be integers, strings or finite numbers; got dtype {values.dtype}"
        )
    if kind == "f" and not np.all(np.isfinite(values)):
        row = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InputError(f"{path.name}: label missing or not finite at row {row}")
    if kind in "USO" and (empty := np.flatnonzero(values == (b"" if kind == "S" else ""))).size:
        raise InputError(f"{path.name}: {what} is empty at row {int(empty[0])}")
    classes, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64), [str(c) for c in classes]


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
        y, names = _encode_labels(col.to_numpy(zero_copy_only=False), path, what)
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
    y, names = _encode_labels(np.array(labels), folder) if labels else (None, None)
    return Dataset(
        X=X,
        y=y,
        label_names=names,
        sample_shape=(c, h, w),
        name=folder.name,
        spec={"path": str(folder.resolve())},
    )
