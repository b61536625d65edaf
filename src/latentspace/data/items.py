"""What a person sees for an imported vector: an image, kept in the run as a small PNG.

Images come from a metadata column (file paths, relative to the metadata file's folder, or the
image bytes themselves) or from a folder of image files (matched to the vectors by id, or in
natural sorted order: ``img2`` before ``img10``). Each is decoded once with the pixel rules of
:mod:`latentspace.data.images`, made a thumbnail of at most ``THUMB`` pixels a side and stored as
PNG in ``items.parquet``, so a run is self-contained and its explorer never opens a file outside
the run.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..progress import report
from .images import IMAGE_SUFFIXES, to_unit
from .reasons import reason

THUMB = 96
MAX_PIXELS = 64_000_000  # a larger image is refused before it is decoded (a decompression bomb)
ITEMS_FILE = "items.parquet"
ITEM_SUFFIXES = tuple(sorted({*IMAGE_SUFFIXES, ".webp", ".bmp", ".gif"}))
_FORMATS = "PNG, JPEG, TIFF, WebP, BMP or GIF"


def thumbnail(source: bytes | Path, name: str) -> bytes:
    """One image (a path or its bytes) as a PNG thumbnail of at most THUMB x THUMB pixels;
    ``name`` says where it came from in messages."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise InputError(f"image {name} is {w}x{h}: over {MAX_PIXELS:,} pixels; shrink it first")
            im.seek(0)
            im.load()
            pixels = to_unit(im, name)  # (h, w, 1 or 3) in [0, 1], each mode by its own range
    except InputError:
        raise
    except UnidentifiedImageError:
        head = source[:8] if isinstance(source, bytes) else _head(source)
        raise InputError(f"image {name} is not an image ({_FORMATS}); its first bytes are {head!r}") from None
    except Exception as exc:  # any decoder error on an untrusted file: one line naming it
        raise InputError(f"image {name} cannot be read: {reason(exc)}") from None
    a = (pixels * 255 + 0.5).astype(np.uint8)
    img = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
    img.thumbnail((THUMB, THUMB))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(8)
    except OSError:
        return b""


def column_images(col, base: Path | None, column: str) -> list[bytes]:
    """Thumbnails from a metadata column of image bytes or of paths (relative to ``base``, the
    folder of the table that holds the column)."""
    import pyarrow as pa

    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    t = col.type
    binary = pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
    if not binary and not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise InputError(f"--image-col {column!r} holds {t}; expected image file paths or image bytes")
    values = col.to_pylist()
    empty = next((i for i, v in enumerate(values) if v is None or len(v) == 0), None)
    if empty is not None:
        raise InputError(f"--image-col {column!r} is empty at row {empty}; every vector needs an image")
    if binary:
        sources = [bytes(v) for v in values]
    else:  # every path is checked before any image is decoded
        sources = [Path(v) if base is None or Path(v).is_absolute() else base / v for v in values]
        missing = next((i for i, p in enumerate(sources) if not p.is_file()), None)
        if missing is not None:
            v = values[missing]
            relative = (
                "" if base is None or Path(v).is_absolute() else " (paths are relative to the table's folder)"
            )
            raise InputError(
                f"--image-col {column!r}, row {missing}: {str(sources[missing].absolute())!r} is not a"
                f" file{relative}"
            )
    out = []
    for i, source in enumerate(sources):
        name = (
            f"in row {i} of --image-col {column!r}"
            if binary
            else f"{values[i]} (row {i} of --image-col {column!r})"
        )
        out.append(thumbnail(source, name))
        if (i + 1) % 500 == 0 or i + 1 == len(values):
            report("making item thumbnails", i + 1, len(values))
    return out


def natural_key(path: Path) -> tuple:
    """Sort key reading runs of digits as numbers: ``img2`` before ``img10``."""
    parts = re.split(r"(\d+)", str(path))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def folder_images(folder: Path, n: int, ids: list[str] | None) -> list[bytes]:
    """Thumbnails of the images in ``folder`` (and its sub-folders): one per vector, matched by
    file name without suffix when ``ids`` are given, else taken in natural sorted path order."""
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise InputError(f"--items {folder} {what}; give a folder of images, one per vector")
    files = sorted(
        (p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in ITEM_SUFFIXES),
        key=lambda p: natural_key(p.relative_to(folder)),
    )
    if not files:
        raise InputError(f"--items {folder} holds no images ({', '.join(ITEM_SUFFIXES)})")
    if ids is None:
        if len(files) != n:
            raise InputError(
                f"--items {folder} holds {len(files):,} images; the vectors are {n:,}: give one image per"
                " vector (taken in sorted order), or --id-col to match images to vectors by file name"
            )
        chosen = files
    else:
        by_stem: dict[str, Path] = {}
        for p in files:
            if p.stem in by_stem:
                raise InputError(
                    f"--items {folder}: two images are named {p.stem!r}: {by_stem[p.stem]} and {p}"
                )
            by_stem[p.stem] = p
        missing = next((i for i, v in enumerate(ids) if v not in by_stem), None)
        if missing is not None:
            raise InputError(
                f"--items {folder}: no image named {ids[missing]!r} (the --id-col value of vector {missing})"
            )
        chosen = [by_stem[v] for v in ids]
    out = []
    for i, p in enumerate(chosen):
        out.append(thumbnail(p, f"{p.relative_to(folder)} in --items {folder}"))
        if (i + 1) % 500 == 0 or i + 1 == len(chosen):
            report("making item thumbnails", i + 1, len(chosen))
    return out


def items_bytes(images: list[bytes]) -> bytes:
    """``items.parquet``: row, image (PNG bytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {"row": pa.array(np.arange(len(images), dtype=np.int64)), "image": pa.array(images, pa.binary())}
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=4096)
    return buf.getvalue()
