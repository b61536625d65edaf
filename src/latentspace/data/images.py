"""Image files as float32 pixels in [0, 1]: each Pillow mode scaled by its own range.

The rules, one per mode (``Image.open(path).mode``):

==========================  ======================================================================
mode                        pixels
==========================  ======================================================================
``1`` (bilevel)             0 or 1
``L``, ``RGB``              8 bits: value / 255 (Pillow reads 16-bit colour PNGs at 8 bits a channel)
``I;16`` ``I;16L/B/N``      16 bits: value / 65535
``I`` (32-bit integer)      value / 65535; every value must lie in 0..65535 (a 16-bit image stored
                            in 32 bits), other values are refused rather than guessed at
``F`` (32-bit float)        kept as they are; every value must be finite and in [0, 1]
``P`` (palette)             through the palette to RGB (transparent entries: see alpha)
``CMYK`` ``YCbCr`` ``LAB``  converted to RGB by Pillow, then / 255
``HSV`` ``RGBX``
``LA`` ``RGBA`` ``PA``      composited on black: colour x alpha, so a transparent pixel is 0
                            whatever colour it hides; alpha is not kept as a channel. A PNG's
                            transparent colour key (``L``, ``RGB``, 16-bit) counts as alpha 0.
==========================  ======================================================================

Channels are decided from the headers alone: a folder is greyscale (1 channel) when every file's
mode is one of :data:`GREY`; one file of a :data:`COLOUR` mode makes the whole folder RGB, and its
greyscale files are then repeated on the three channels. Any other mode is refused with the list
above, as is a file with several frames (an animation, a multi-page TIFF), except a camera's MPO
JPEG, whose first frame is the photograph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from .reasons import reason

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}

_SIXTEEN = ("I;16", "I;16L", "I;16B", "I;16N")
GREY = ("1", "L", "LA", *_SIXTEEN, "I", "F")
COLOUR = ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX")
_TO_RGB = ("CMYK", "YCbCr", "LAB", "HSV", "RGBX")  # Pillow's own conversion to RGB
_KEYED = ("L", "RGB", "I", *_SIXTEEN)  # modes whose PNG may name one transparent colour


def channels(mode: str, name: str) -> int:
    """1 for a greyscale mode, 3 for a colour one; any other mode is an error naming the file."""
    if mode in GREY:
        return 1
    if mode in COLOUR:
        return 3
    raise InputError(
        f"image {name} has mode {mode!r}, which is not read; allowed: {', '.join(GREY + COLOUR)}"
    )


def header(path: Path, name: str) -> tuple[tuple[int, int], int]:
    """``((width, height), channels)`` of one file, from its header (no pixels decoded)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            size, mode = im.size, im.mode
            frames = getattr(im, "n_frames", 1)
            multi = frames > 1 and im.format != "MPO"
    except Exception as exc:  # any decoder error on an untrusted file: one line naming it
        raise InputError(f"image {name} cannot be read: {reason(exc)}") from None
    if multi:
        raise InputError(
            f"image {name} has {frames} frames; one image per file is read"
            " (split animations and multi-page files into one file per image)"
        )
    return size, channels(mode, name)


def read_image(path: Path, name: str, size: tuple[int, int], rgb: bool) -> np.ndarray:
    """One file as a flat float32 row in (c, h, w) order, c = 3 if ``rgb`` else 1."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.size != tuple(size):
                raise InputError(
                    f"image {name} is {im.size[0]}x{im.size[1]}; the folder's images are {size[0]}x{size[1]}"
                )
            im.load()
            pixels = to_unit(im, name)  # (h, w, 1 or 3)
    except InputError:
        raise
    except Exception as exc:  # any decoder error on an untrusted file: one line naming it
        raise InputError(f"image {name} cannot be read: {reason(exc)}") from None
    if pixels.shape[2] == 1 and rgb:
        pixels = np.repeat(pixels, 3, axis=2)
    elif pixels.shape[2] == 3 and not rgb:
        raise InputError(f"image {name} is in colour now but was greyscale when the folder was read")
    return pixels.transpose(2, 0, 1).ravel()


def to_unit(im, name: str) -> np.ndarray:
    """A Pillow image as float32 of shape (h, w, c) in [0, 1], c = :func:`channels` of its mode."""
    mode = im.mode
    channels(mode, name)
    key = im.info.get("transparency") if mode in _KEYED else None
    if mode in ("P", "PA"):
        im, mode = im.convert("RGBA"), "RGBA"  # the palette, its transparent entries as alpha
    elif mode in _TO_RGB:
        im, mode = im.convert("RGB"), "RGB"
    raw = np.asarray(im)
    if raw.ndim == 2:
        raw = raw[:, :, None]
    alpha = None
    if mode in ("LA", "RGBA"):
        raw, alpha = raw[..., :-1], raw[..., -1:].astype(np.float32) / np.float32(255)
    elif key is not None:
        alpha = _opaque(raw, key)
    if mode == "1":
        out = raw.astype(np.float32)
    elif mode in _SIXTEEN:
        out = raw.astype(np.float32) / np.float32(65535)
    elif mode == "I":
        _refuse_outside(raw, 0, 65535, name, "mode 'I' (32-bit integer) images must hold 0..65535 (16 bits)")
        out = raw.astype(np.float32) / np.float32(65535)
    elif mode == "F":
        _refuse_outside(
            raw, 0.0, 1.0, name, "mode 'F' (32-bit float) images must hold finite values in [0, 1]"
        )
        out = raw.astype(np.float32)
    else:
        out = raw.astype(np.float32) / np.float32(255)
    if alpha is not None:
        out *= alpha
    return out


def _opaque(raw: np.ndarray, key) -> np.ndarray | None:
    """(h, w, 1) float32: 0 where a pixel equals the transparent colour ``key``, else 1."""
    key = np.atleast_1d(np.asarray(key))
    if key.dtype.kind not in "iu" or key.size != raw.shape[2]:
        return None  # not a colour key this mode can hold: nothing is transparent
    return (~np.all(raw == key, axis=2, keepdims=True)).astype(np.float32)


def _refuse_outside(raw: np.ndarray, low, high, name: str, rule: str) -> None:
    bad = ~((raw >= low) & (raw <= high))  # NaN compares False: refused too
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0][:2])
        value = raw[row, col, 0]
        shown = str(int(value)) if raw.dtype.kind in "iu" else f"{float(value):g}"
        raise InputError(f"image {name} has {shown} at row {row}, column {col}; {rule}")
