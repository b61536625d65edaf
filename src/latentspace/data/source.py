"""Rows that stay on disk: read-only 2-D float32 views that are read in blocks, never whole.

``RowSource`` is what the models, the training engine and the metrics accept besides an ndarray:
it has ``shape``, ``dtype``, ``ndim`` and ``len()``, and indexing by a slice or by row numbers
returns a float32 ndarray of just those rows. ``RowSubset`` is a subset of the rows of another
array (a memory-mapped ``.npy``, or another source): the training split of a dataset larger than
memory, for example, without copying it. ``is_streamed`` tells the code paths that must not load
everything (the training engine, the encoder) when to read block by block.
"""

from __future__ import annotations

import math
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import InputError
from .reasons import reason

FLOAT32_MAX = float(np.finfo(np.float32).max)


class RowSource:
    """Base class: subclasses define ``shape`` and ``_read_sorted(rows)`` (ascending row numbers).

    ``random_access``: whether reading scattered rows is cheap (a memory map) or means decoding whole
    blocks (Parquet row groups, Dask chunks); training copies the latter to a temporary memory map
    once, in order, and then reads that (see :func:`random_access_copy`)."""

    dtype = np.dtype(np.float32)
    random_access = True
    ndim = 2
    shape: tuple[int, int]

    def __len__(self) -> int:
        return self.shape[0]

    def _read_sorted(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _read_range(self, start: int, stop: int) -> np.ndarray:
        return self._read_sorted(np.arange(start, stop, dtype=np.int64))

    def take(self, rows) -> np.ndarray:
        """Rows in the order given (read in ascending order, then put back in that order)."""
        rows = np.asarray(rows, dtype=np.int64)
        n = self.shape[0]
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"row index out of range for {n} rows")
        rows = np.where(rows < 0, rows + n, rows)
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        out[order] = self._read_sorted(rows[order])
        return out

    def __getitem__(self, key):
        if isinstance(key, tuple):  # X[rows, cols]: the rows first, then the columns
            rows, cols = key
            block = self[rows] if not isinstance(rows, int | np.integer) else self[rows : rows + 1][0]
            return block[..., cols]
        if isinstance(key, int | np.integer):
            return self.take([int(key)])[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step == 1:
                return self._read_range(start, max(start, stop))
            return self.take(np.arange(start, stop, step))
        key = np.asarray(key)
        if key.dtype == bool:
            if key.shape != (self.shape[0],):
                raise IndexError(f"boolean index of shape {key.shape} for {self.shape[0]} rows")
            return self.take(np.flatnonzero(key))
        return self.take(key)

    def __array__(self, dtype=None, copy=None):
        """All rows in memory (what code not written for streaming gets; avoid for large data)."""
        out = (
            np.concatenate([self[a : a + 65536] for a in range(0, len(self), 65536)])
            if len(self)
            else (np.empty((0, self.shape[1]), dtype=np.float32))
        )
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape})"


class RowSubset(RowSource):
    """The rows ``index`` (ascending) of ``base``: an ndarray, a memory map or another RowSource."""

    def __init__(self, base, index):
        index = np.asarray(index, dtype=np.int64)
        if index.ndim != 1 or (index.size and (np.any(np.diff(index) <= 0) or index[0] < 0)):
            raise InputError("a row subset needs distinct row numbers in ascending order")
        if index.size and index[-1] >= base.shape[0]:
            raise InputError(f"row {int(index[-1])} is beyond the {base.shape[0]} rows of the data")
        self.base, self.index = base, index
        self.shape = (len(index), int(base.shape[1]))

    def _read_sorted(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.base[self.index[rows]], dtype=np.float32)

    def _read_range(self, start: int, stop: int) -> np.ndarray:
        idx = self.index[start:stop]
        if len(idx) and idx[-1] - idx[0] == len(idx) - 1:  # contiguous: one slice
            return np.asarray(self.base[int(idx[0]) : int(idx[-1]) + 1], dtype=np.float32)
        return np.asarray(self.base[idx], dtype=np.float32)


class ArrayRows(RowSource):
    """An on-disk 2-D array of any numeric type, read as float32 (times ``scale``, e.g. 1/255 for
    uint8 images): the conversion happens per block, not for the whole file."""

    def __init__(self, base, scale: float | None = None):
        if base.ndim != 2 or base.dtype.kind not in "biuf":
            raise InputError(f"expected a 2-D numeric array; got {base.dtype} of shape {base.shape}")
        self.base, self.scale = base, scale
        self.shape = (int(base.shape[0]), int(base.shape[1]))

    def _convert(self, block) -> np.ndarray:
        out = np.asarray(block, dtype=np.float32)
        if self.scale is not None:
            out *= np.float32(self.scale)
        return out

    def _read_sorted(self, rows: np.ndarray) -> np.ndarray:
        return self._convert(self.base[rows])

    def _read_range(self, start: int, stop: int) -> np.ndarray:
        return self._convert(self.base[start:stop])


class DaskRows(RowSource):
    """A 2-D Dask array, computed block by block as rows are asked for (never whole)."""

    random_access = False  # each read computes the chunks it touches: training copies it to disk first

    def __init__(self, array):
        if array.ndim != 2 or array.dtype.kind not in "biuf":
            raise InputError(f"expected a 2-D numeric Dask array; got {array.dtype} of shape {array.shape}")
        if any(math.isnan(s) for s in array.shape):
            raise InputError("the Dask array has unknown chunk sizes; call .compute_chunk_sizes() first")
        self.array = array
        self.shape = (int(array.shape[0]), int(array.shape[1]))

    def _read_sorted(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.array[rows].compute(), dtype=np.float32)

    def _read_range(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.array[start:stop].compute(), dtype=np.float32)


class ParquetRows(RowSource):
    """The numeric columns of a Parquet file, read one row group at a time (the last two decoded
    row groups are kept, so reading rows in order decodes each group once)."""

    random_access = False

    def __init__(self, path, columns: list[str]):
        import pyarrow.parquet as pq

        self.path, self.columns = str(path), list(columns)
        self._file = pq.ParquetFile(self.path)
        sizes = [self._file.metadata.row_group(i).num_rows for i in range(self._file.num_row_groups)]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.shape = (int(self._starts[-1]), len(self.columns))
        self._decoded: dict[int, np.ndarray] = {}

    def _group(self, g: int) -> np.ndarray:
        if g not in self._decoded:
            import pyarrow as pa

            name = Path(self.path).name
            try:
                table = self._file.read_row_group(g, columns=self.columns)
            except (pa.ArrowException, OSError) as exc:
                raise InputError(f"{name}: row group {g} cannot be read ({reason(exc)})") from None
            block = np.empty((table.num_rows, len(self.columns)), dtype=np.float32)
            for j, c in enumerate(self.columns):
                block[:, j] = arrow_column_float32(table[c], name, j, c, first_row=int(self._starts[g]))
            if len(self._decoded) >= 2:
                self._decoded.pop(next(iter(self._decoded)))
            self._decoded[g] = block
        return self._decoded[g]

    def _read_sorted(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        groups = np.searchsorted(self._starts, rows, side="right") - 1
        for g in np.unique(groups):
            sel = groups == g
            out[sel] = self._group(int(g))[rows[sel] - self._starts[g]]
        return out


class ImageRows(RowSource):
    """A folder's images, decoded when their rows are read: greyscale as 1 channel, else RGB, each
    file's pixels scaled to [0, 1] by the rules of its mode (see :mod:`latentspace.data.images`);
    an image of another size or that cannot be decoded is an error naming the file."""

    random_access = False  # a decode per row: training decodes each image once into a memory map

    def __init__(self, files: list[Path], root: Path, size: tuple[int, int], rgb: bool):
        self.files, self.root, self.size, self.rgb = list(files), Path(root), tuple(size), bool(rgb)
        w, h = self.size
        self.shape = (len(self.files), (3 if rgb else 1) * h * w)

    def _read_sorted(self, rows: np.ndarray) -> np.ndarray:
        from .images import read_image

        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        for i, r in enumerate(rows):
            p = self.files[int(r)]
            out[i] = read_image(p, str(p.relative_to(self.root)), self.size, self.rgb)
            if len(rows) >= 1000 and ((i + 1) % 1000 == 0 or i + 1 == len(rows)):
                from ..progress import report

                report("decoding images", i + 1, len(rows))
        return out


def arrow_column_float32(column, where: str, col: int, name: str, first_row: int = 0) -> np.ndarray:
    """A numeric Arrow column as float32 (nulls as NaN); a value that float32 cannot hold (it would
    become an infinity) is an error naming ``where``, the row and the column. Integers beyond 2**24
    are rounded, as numpy rounds them."""
    import pyarrow as pa

    values = column.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    over = np.flatnonzero(np.isfinite(values) & (np.abs(values) > FLOAT32_MAX))
    if over.size:
        row = int(over[0])
        raise InputError(
            f"{where} has {values[row]:g} at row {first_row + row}, column {col} ({name!r}):"
            f" beyond float32's range (|x| <= {FLOAT32_MAX:.3g}); rescale the data"
        )
    return values.astype(np.float32)


def is_streamed(X) -> bool:
    """True when ``X`` lives on disk (a memory map or a RowSource): read it block by block."""
    return isinstance(X, RowSource | np.memmap)


def rows_of(X, mask):
    """``X[mask]`` for a boolean row mask: a copy for in-memory arrays, a lazy RowSubset for data on
    disk (so that a training split never loads the whole set)."""
    mask = np.asarray(mask, dtype=bool)
    return RowSubset(X, np.flatnonzero(mask)) if is_streamed(X) else X[mask]


def as_block(rows) -> np.ndarray:
    """A block of rows as a C-contiguous, writable float32 ndarray (a copy only when it is not one
    already, e.g. a read-only slice of a memory map), ready for ``torch.from_numpy``."""
    return np.require(rows, dtype=np.float32, requirements=["C_CONTIGUOUS", "WRITEABLE"])


@contextmanager
def random_access_copy(X, where: str | Path | None = None, rows: int = 65536):
    """``X`` itself if scattered rows are cheap to read, else a temporary float32 memory map of it
    written in order one block at a time (deleted on exit): shuffled training batches then cost a
    page read each instead of a row-group decode each."""
    if not isinstance(X, RowSource) or X.random_access:
        yield X
        return
    if where is not None:  # beside the run (the system's temporary folder may be small)
        Path(where).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=where, prefix="latentspace-rows-") as tmp:
        path = Path(tmp) / "rows.npy"
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=X.shape)
        for a in range(0, X.shape[0], rows):
            out[a : a + rows] = X[a : a + rows]
        out.flush()
        del out
        copy = np.load(path, mmap_mode="r")
        try:
            yield copy
        finally:
            del copy
