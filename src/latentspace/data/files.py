"""Readers for user files: .npy (memory-mapped), .npz, .csv, .parquet and folders of images.

Nothing here can execute code from a file: ``.npy``/``.npz`` are read with ``allow_pickle=False``,
tables with pyarrow, images with Pillow.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..progress import report
from .dataset import Dataset
from .source import ArrayRows, ImageRows, ParquetRows

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
TABLE_SUFFIXES = {".csv", ".parquet", ".pq"}
ARRAY_SUFFIXES = {".npy", ".npz"}
LAZY_PARQUET_BYTES = 512 << 20  # Parquet files larger than this are read by row group, not loaded
LAZY_IMAGE_BYTES = 512 << 20  # image folders whose float32 pixels exceed this are decoded per read

SUPPORTED = ".npy, .npz, .csv, .parquet, or a folder of PNG/JPEG images"

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
    if suffix == ".npy":
        try:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise InputError(
                f"{p.name} cannot be read as a numeric array ({exc}); object arrays are refused"
                " because loading them would run pickle"
            ) from None
        return _finish(_array_dataset(arr, p), p, label_col)
    if suffix == ".npz":
        return read_npz(p, label_col=label_col)
    if suffix in TABLE_SUFFIXES:
        return read_table(p, label_col=label_col)
    raise InputError(f"cannot read {p.name!r}: unsupported format {suffix or '(none)'}; use {SUPPORTED}")


def _finish(ds: Dataset, path: Path, label_col: str | None) -> Dataset:
    if label_col is not None:
        raise InputError(f"{path.name}: --label-col needs a table or an .npz holding a label array")
    return ds


def _array_dataset(arr: np.ndarray, path: Path, y=None, label_names=None) -> Dataset:
    """Turn an array of shape (n, d), (n, h, w), (n, c, h, w) or (n, h, w, c) into a Dataset."""
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{path.name}: array dtype {arr.dtype} is not numeric")
    sample_shape = None
    if arr.ndim == 3:
        sample_shape = (1, *arr.shape[1:])
    elif arr.ndim == 4:
        if arr.shape[1] not in (1, 3) and arr.shape[3] in (1, 3):  # channels last -> first
            arr = np.ascontiguousarray(arr.transpose(0, 3, 1, 2))
        if arr.shape[1] not in (1, 3):
            raise InputError(f"{path.name}: 4-D arrays must have 1 or 3 channels; got {arr.shape}")
        sample_shape = tuple(arr.shape[1:])
    elif arr.ndim != 2:
        raise InputError(f"{path.name}: expected shape (n, d) or images (n, [c,] h, w); got {arr.shape}")
    X = arr.reshape(arr.shape[0], -1)
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


def read_npz(path: Path, *, label_col: str | None = None) -> Dataset:
    try:
        return _read_npz(path, label_col)
    except InputError:
        raise
    except (ValueError, OSError) as exc:  # object arrays, corrupt zip members
        raise InputError(
            f"{path.name} cannot be read as numeric arrays ({exc}); object arrays are refused"
            " because loading them would run pickle"
        ) from None


def _read_npz(path: Path, label_col: str | None) -> Dataset:
    with np.load(path, allow_pickle=False) as f:
        keys = list(f.keys())
        x_key = next((k for k in _X_KEYS if k in keys), keys[0] if len(keys) == 1 else None)
        if x_key is None:
            raise InputError(
                f"{path.name}: cannot tell which array is the data among {keys};"
                f" name it one of {', '.join(_X_KEYS)}"
            )
        y_key = label_col or next((k for k in _Y_KEYS if k in keys), None)
        if label_col is not None and label_col not in keys:
            raise InputError(f"{path.name}: no array {label_col!r}; arrays: {', '.join(keys)}")
        y, names = _encode_labels(f[y_key], path) if y_key else (None, None)
        ds = _array_dataset(f[x_key], path, y=y, label_names=names)
    ds.spec = {"path": str(path.resolve()), "label_col": label_col}
    return ds


def _encode_labels(values, path: Path) -> tuple[np.ndarray, list[str]]:
    """Class values (ints or strings) -> (int64 codes 0..k-1, names in sorted order)."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise InputError(f"{path.name}: labels must be 1-D; got shape {values.shape}")
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        row = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InputError(f"{path.name}: label missing or not finite at row {row}")
    classes, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64), [str(c) for c in classes]


def read_table(path: Path, *, label_col: str | None = None) -> Dataset:
    """CSV or Parquet: every column numeric except the optional label column."""
    import pyarrow as pa

    lazy = False
    try:
        if path.suffix.lower() == ".csv":
            import pyarrow.csv as pacsv

            table = pacsv.read_csv(path)
        else:
            import pyarrow.parquet as pq

            lazy = path.stat().st_size > LAZY_PARQUET_BYTES
            # a large file: its schema now (an empty table), the label column when asked for it,
            # the features row group by row group when rows are read
            table = pq.ParquetFile(path).schema_arrow.empty_table() if lazy else pq.read_table(path)
            if lazy and label_col is not None and label_col in table.column_names:
                labels = pq.read_table(path, columns=[label_col])[label_col]
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path.name}: cannot be read as a table: {exc}") from None
    columns = table.column_names
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
        raise InputError(f"{path.name}: no feature columns besides the label column")
    if lazy:  # larger than LAZY_PARQUET_BYTES: read by row group when rows are needed
        X = ParquetRows(path, features)
    else:
        X = np.empty((table.num_rows, len(features)), dtype=np.float32)
        for j, c in enumerate(features):
            X[:, j] = table[c].cast(pa.float32()).to_numpy(zero_copy_only=False)  # nulls -> NaN
    y = names = None
    if label_col is not None:
        col = labels if lazy else table[label_col]
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(f"{path.name}: label column {label_col!r} is empty at row {row}")
        y, names = _encode_labels(col.to_numpy(zero_copy_only=False), path)
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
        raise InputError(f"{folder}: no .png, .jpg or .jpeg images found (nor in sub-folders)")
    return top, None


def read_image_folder(folder: Path) -> Dataset:
    """A folder of same-size PNG/JPEG images; greyscale stays 1 channel, otherwise RGB.

    Image headers are read first (sizes and colour modes, no pixels); folders whose pixels would
    take more than LAZY_IMAGE_BYTES as float32 are decoded when rows are read, not at once."""
    from PIL import Image, UnidentifiedImageError

    files, labels = _image_files(folder)
    first_size, rgb = None, False
    for i, p in enumerate(files):
        try:
            with Image.open(p) as im:  # the header only
                size, mode = im.size, im.mode
        except (UnidentifiedImageError, OSError) as exc:
            raise InputError(f"image {p.relative_to(folder)} cannot be read: {exc}") from None
        if first_size is None:
            first_size = size
        elif size != first_size:
            raise InputError(
                f"image {p.relative_to(folder)} is {size[0]}x{size[1]} but"
                f" {files[0].relative_to(folder)} is {first_size[0]}x{first_size[1]};"
                " all images must have one size"
            )
        rgb = rgb or mode not in ("1", "L", "I", "I;16", "F", "LA")
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
