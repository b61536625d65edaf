"""NumPy files: ``.npy`` (memory-mapped) and ``.npz`` archives, read with ``allow_pickle=False``.

Before any data are read, a file's first bytes and its .npy header (shape, dtype) are checked:
an empty file, another format under this suffix, object arrays, and a header that declares more
data than the file (or an .npz member) holds are each refused with one line naming the file.
"""

from __future__ import annotations

import logging
import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import InputError
from .dataset import Dataset
from .reasons import reason
from .source import FLOAT32_MAX, ArrayRows

log = logging.getLogger(__name__)

NPY_EXPECTED = "a NumPy array written by numpy.save"
NPZ_EXPECTED = "an archive of NumPy arrays written by numpy.savez"
_SHAPES = "(n, d) vectors, or images (n, h, w), (n, c, h, w) or (n, h, w, c) with c = 1 or 3"
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first entry, or the end of an empty zip
_CHECK_ROWS = 16384  # rows scanned at a time for values beyond float32

X_KEYS = ("X", "x", "data", "features", "images")
Y_KEYS = ("y", "labels", "label", "targets", "target")


def file_head(path: Path, expected: str) -> bytes:
    """The first bytes of a file: a readable, non-empty file, or an error naming it."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise InputError(f"{path.name} cannot be opened: {reason(exc)}") from None
    if not head:
        raise InputError(f"{path.name} is empty (0 bytes); expected {expected}")
    return head


def read_npy(path: Path, head: bytes | None = None) -> Dataset:
    """A ``.npy`` file, memory-mapped: its header is checked against the file's size first."""
    head = file_head(path, NPY_EXPECTED) if head is None else head
    if head.startswith(_ZIP_MAGIC):
        raise InputError(f"{path.name} is an .npz (zip) archive, not a .npy file; rename it to .npz")
    if not head.startswith(_NPY_MAGIC):
        raise InputError(
            f"{path.name} is not a NumPy .npy file (it does not start with the .npy header);"
            " write arrays with numpy.save"
        )
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
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path.name} cannot be read as a .npy array: {reason(exc)}") from None
    return array_dataset(arr, path)


def _npy_header(fh) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, offset of the data) from the .npy header at the start of ``fh``."""
    fmt = np.lib.format
    major, _ = fmt.read_magic(fh)
    read = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
    shape, _, dtype = read(fh)
    return tuple(int(s) for s in shape), dtype, fh.tell()


def _refuse_truncated(where: str, shape: tuple[int, ...], dtype: np.dtype, have: int) -> None:
    """numpy trusts the header: it would map, or allocate, the declared size before reading."""
    need = math.prod(shape) * dtype.itemsize
    if have < need:
        raise InputError(
            f"{where} is truncated: its header declares shape {shape} of {dtype}"
            f" ({need} bytes of data) but {have} follow"
        )


def array_dataset(arr: np.ndarray, path: Path, y=None, label_names=None) -> Dataset:
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
    head = file_head(path, NPZ_EXPECTED) if head is None else head
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
                f"{path.name} holds no arrays; expected the data as an array named one of {', '.join(X_KEYS)}"
            )
        if label_col is not None and label_col not in keys:
            raise InputError(f"{path.name}: no array {label_col!r}; arrays: {', '.join(keys)}")
        y_key = label_col or next((k for k in Y_KEYS if k in keys), None)
        x_key = _data_key(keys, y_key, label_col, path)
        y, names = encode_labels(_member(f, y_key, path), path) if y_key else (None, None)
        ds = array_dataset(_member(f, x_key, path), path, y=y, label_names=names)
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
    x_key = next((k for k in X_KEYS if k in rest), rest[0] if len(rest) == 1 else None)
    if x_key is None:
        raise InputError(
            f"{path.name}: cannot tell which array is the data among {rest};"
            f" name it one of {', '.join(X_KEYS)}"
        )
    return x_key


def _member(f, key: str, path: Path) -> np.ndarray:
    """One array of an open .npz, or an error naming it and the archive."""
    where = f"array {key!r} in {path.name}"
    _check_member_size(f, key, where)
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


def _check_member_size(f, key: str, where: str) -> None:
    """Refuse a member whose .npy header declares more data than the member holds (numpy would
    allocate the declared size first) or than this machine's memory (an .npz is loaded whole)."""
    member = key + ".npy" if key + ".npy" in f.zip.namelist() else key
    try:
        with f.zip.open(member) as fh:
            shape, dtype, offset = _npy_header(fh)
    except Exception:  # not a readable .npy member: numpy's own read below names the problem
        return
    if dtype.hasobject:
        return  # refused when read, without allocating
    _refuse_truncated(where, shape, dtype, f.zip.getinfo(member).file_size - offset)
    need = math.prod(shape) * dtype.itemsize
    if need > _physical_memory():
        raise InputError(
            f"{where} needs {need / 2**30:.1f} GiB ({shape} of {dtype}), more than this machine's"
            " memory; .npz archives are loaded whole: save large data as .npy, which is read from disk"
        )


def _physical_memory() -> float:
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # not a POSIX system: no bound
        return math.inf


def encode_labels(values, path: Path, what: str = "labels") -> tuple[np.ndarray, list[str]]:
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
