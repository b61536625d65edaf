"""Colours and pictures the report's map uses: categorical and continuous colours per point, the
tooltip sprite of item thumbnails, and the static PNG of every point (the fallback without
JavaScript)."""

from __future__ import annotations

import io

import numpy as np

from .page import b64

TAB10 = np.array(
    [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
    ],
    dtype=np.uint8,
)


def label_colors(y: np.ndarray) -> np.ndarray:
    """Categorical colours (tab10, then tab20-like variations) for integer labels."""
    _, codes = np.unique(y, return_inverse=True)
    base = TAB10[codes % 10].astype(np.int16)
    shade = (codes // 10) % 3  # beyond 10 classes: lighter and darker variants
    out = np.where(
        shade[:, None] == 1, base + (255 - base) // 2, np.where(shade[:, None] == 2, base // 2, base)
    )
    return out.astype(np.uint8)


def value_colors(v: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """Continuous values to RGB through a matplotlib colormap, 1st-99th percentile stretched."""
    from matplotlib import colormaps

    v = np.asarray(v, dtype=np.float64)
    lo, hi = np.nanpercentile(v, [1, 99]) if len(v) else (0.0, 1.0)
    t = np.clip((v - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    return (colormaps[cmap](t)[:, :3] * 255).astype(np.uint8)


SPRITE_CELL = 32  # the largest tile of the map's tooltip sprite (bigger thumbnails are shrunk)
SPRITE_PNG_MAX = 1_500_000  # above this a sprite of RGB tiles is written as JPEG, when smaller


def sprite(pixels: list[np.ndarray]) -> tuple[str, int, int, int]:
    """Item images (uint8 arrays (h, w, 1 or 3)) tiled in one image: (data URI, columns, tile
    height, tile width). Tiles are as large as the largest item, at most ``SPRITE_CELL`` a side;
    smaller items are centred."""
    from PIL import Image

    h = min(SPRITE_CELL, max(a.shape[0] for a in pixels))
    w = min(SPRITE_CELL, max(a.shape[1] for a in pixels))
    cols = 100
    rows = (len(pixels) + cols - 1) // cols
    sheet = np.zeros((rows * h, cols * w, 3), dtype=np.uint8)
    rgb = False
    for i, a in enumerate(pixels):
        rgb = rgb or a.shape[2] == 3
        if a.shape[0] > h or a.shape[1] > w:
            im = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
            im.thumbnail((w, h))
            a = np.asarray(im)
            a = a[:, :, None] if a.ndim == 2 else a
        r, q = divmod(i, cols)
        y0, x0 = r * h + (h - a.shape[0]) // 2, q * w + (w - a.shape[1]) // 2
        sheet[y0 : y0 + a.shape[0], x0 : x0 + a.shape[1]] = a if a.shape[2] == 3 else np.repeat(a, 3, 2)
    buf = io.BytesIO()
    Image.fromarray(sheet).save(buf, format="PNG", optimize=True)
    data, kind = buf.getvalue(), "png"
    if rgb and len(data) > SPRITE_PNG_MAX:
        jpg = io.BytesIO()
        Image.fromarray(sheet).save(jpg, format="JPEG", quality=85)
        if len(jpg.getvalue()) < len(data):
            data, kind = jpg.getvalue(), "jpeg"
    return f"data:image/{kind};base64,{b64(data)}", cols, h, w


def png_scatter(emb: np.ndarray, rgb: np.ndarray, title: str) -> bytes:
    from .figures import _mpl, _png

    plt = _mpl()
    fig, ax = plt.subplots(figsize=(7, 7))
    size = 1.0 if len(emb) > 20000 else 4.0
    ax.scatter(emb[:, 0], emb[:, 1], c=rgb / 255.0, s=size, linewidths=0, rasterized=True)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return _png(fig)
