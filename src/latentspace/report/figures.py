"""PNG figures of decoded items: image grids for images, line plots plus tables for vectors; and
figures of real items (images of any size, or texts) for runs that show real items where a model
would decode (:func:`write_items_figure`).

Every figure has a title and readable row and column labels. Grids are one mosaic drawn with a
single ``imshow`` (fast for hundreds of items); vector data get one panel per row of the grid
with one line per column, and the decoded numbers as CSV beside the PNG.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError

_PAD = 1  # pixels between tiles


def _mpl():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def mosaic(items: np.ndarray, sample_shape, value_range=None) -> np.ndarray:
    """(rows, cols, d) items -> one (H, W[, 3]) float image in [0, 1] with 1-pixel gaps."""
    rows, cols, _ = items.shape
    c, h, w = sample_shape
    imgs = items.reshape(rows, cols, c, h, w).astype(np.float64)
    lo, hi = value_range if value_range is not None else (float(imgs.min()), float(imgs.max()))
    imgs = np.clip((imgs - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    out = np.ones((rows * (h + _PAD) - _PAD, cols * (w + _PAD) - _PAD, c))
    for r in range(rows):
        for k in range(cols):
            out[r * (h + _PAD) : r * (h + _PAD) + h, k * (w + _PAD) : k * (w + _PAD) + w] = imgs[
                r, k
            ].transpose(1, 2, 0)
    return out[..., 0] if c == 1 else out


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _mpl().close(fig)
    return buf.getvalue()


def grid_figure(
    items: np.ndarray,
    *,
    title: str,
    sample_shape=None,
    feature_names: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    value_range=None,
    row_title: str = "",
    col_title: str = "",
) -> bytes:
    """A labelled grid of decoded items, (rows, cols, n_features) -> PNG bytes."""
    items = np.asarray(items)
    if items.ndim != 3:
        raise InputError(f"grid items must be (rows, cols, n_features); got {items.shape}")
    if sample_shape is not None and len(sample_shape) == 3:
        return _image_grid(
            items, sample_shape, title, row_labels, col_labels, value_range, row_title, col_title
        )
    return _vector_grid(items, title, feature_names, row_labels, col_labels, row_title, col_title)


def _image_grid(items, shape, title, row_labels, col_labels, value_range, row_title, col_title):
    plt = _mpl()
    rows, cols, _ = items.shape
    _, h, w = shape
    img = mosaic(items, shape, value_range)
    scale = max(0.45, min(1.2, 10.0 / max(cols, 1))) / max(h, w) * 28
    fig, ax = plt.subplots(
        figsize=(max(3.5, cols * w / 28 * scale + 1.5), max(2.0, rows * h / 28 * scale + 1.0))
    )
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=11)
    ax.set_xticks([k * (w + _PAD) + w / 2 - 0.5 for k in range(cols)] if col_labels else [])
    ax.set_xticklabels(col_labels or [], fontsize=8, rotation=45 if cols > 8 else 0)
    ax.set_yticks([r * (h + _PAD) + h / 2 - 0.5 for r in range(rows)] if row_labels else [])
    ax.set_yticklabels(row_labels or [], fontsize=8)
    ax.set_xlabel(col_title, fontsize=9)
    ax.set_ylabel(row_title, fontsize=9)
    for side in ax.spines.values():
        side.set_visible(False)
    return _png(fig)


def _vector_grid(items, title, feature_names, row_labels, col_labels, row_title, col_title):
    plt = _mpl()
    rows, cols, d = items.shape
    names = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(d)]
    fig, axes = plt.subplots(rows, 1, figsize=(min(14, 4 + 0.35 * d), 2.2 * rows + 0.8), squeeze=False)
    colours = plt.cm.viridis(np.linspace(0, 1, cols))
    for r in range(rows):
        ax = axes[r, 0]
        for k in range(cols):
            label = col_labels[k] if col_labels else None
            ax.plot(range(d), items[r, k], marker="o", ms=3, lw=1.2, color=colours[k], label=label)
        ax.set_ylabel(f"{row_title} {row_labels[r]}".strip() if row_labels else "value", fontsize=9)
        ax.set_xticks(range(d))
        ax.set_xticklabels(names if r == rows - 1 else [""] * d, fontsize=8, rotation=45 if d > 6 else 0)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("feature", fontsize=9)
    if col_labels:
        axes[0, 0].legend(title=col_title or None, fontsize=7, ncol=min(cols, 6), loc="upper right")
    fig.suptitle(title, fontsize=11)
    return _png(fig)


def grid_csv(items: np.ndarray, feature_names=None, row_labels=None, col_labels=None) -> bytes:
    """The decoded numbers of a grid as CSV (one line per item), for vector data."""
    rows, cols, d = items.shape
    names = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(d)]
    lines = [",".join(["row", "column", *names])]
    for r in range(rows):
        for k in range(cols):
            rl = row_labels[r] if row_labels else str(r)
            cl = col_labels[k] if col_labels else str(k)
            lines.append(",".join([rl, cl, *(f"{v:.6g}" for v in items[r, k])]))
    return ("\n".join(lines) + "\n").encode()


def write_figure(
    path: str | Path,
    items: np.ndarray,
    *,
    sample_shape=None,
    feature_names=None,
    row_labels=None,
    col_labels=None,
    **kw,
) -> list[Path]:
    """Write the PNG (and, for vector data, a CSV of the numbers beside it); return the paths."""
    from ..atomic import atomic_write

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InputError(f"figures are written as PNG; --out must end in .png, got {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    png = grid_figure(
        items,
        sample_shape=sample_shape,
        feature_names=feature_names,
        row_labels=row_labels,
        col_labels=col_labels,
        **kw,
    )
    written = [atomic_write(path, png)]
    if sample_shape is None or len(sample_shape) != 3:
        csv = grid_csv(items, feature_names, row_labels, col_labels)
        written.append(atomic_write(path.with_suffix(".csv"), csv))
    return written


ITEMS_PER_ROW = 10  # real items in one row of an items figure


def items_figure(cells: Sequence[dict], *, title: str) -> bytes:
    """Real items in rows of ``ITEMS_PER_ROW`` -> PNG bytes. Each cell is ``{"caption": str}`` with
    ``"image"`` (a uint8 array (h, w, 1 or 3), any size: drawn in a unit square) or ``"text"``
    (wrapped, at most six lines). One axes holds every cell, so a long strip stays quick."""
    import textwrap

    plt = _mpl()
    n = len(cells)
    if n == 0:
        raise InputError("an items figure needs at least one item")
    cols = min(ITEMS_PER_ROW, n)
    rows = (n + cols - 1) // cols
    fig, ax = plt.subplots(figsize=(1.45 * cols + 0.4, 1.75 * rows + 0.6))
    for k, cell in enumerate(cells):
        r, q = divmod(k, cols)
        x0, y0 = q * 1.2, -r * 1.5
        img = cell.get("image")
        if img is not None:
            a = img[:, :, 0] if img.shape[2] == 1 else img
            h, w = a.shape[:2]
            sx, sy = (1.0, h / w) if w >= h else (w / h, 1.0)
            ext = (x0 + (1 - sx) / 2, x0 + (1 + sx) / 2, y0 + (1 - sy) / 2, y0 + (1 + sy) / 2)
            ax.imshow(
                a,
                cmap="gray" if a.ndim == 2 else None,
                vmin=0,
                vmax=255,
                extent=ext,
                interpolation="nearest" if max(h, w) < 48 else "antialiased",
            )
        else:
            text = str(cell.get("text") or "")
            lines = textwrap.wrap(text, 18)[:6]
            if len(textwrap.wrap(text, 18)) > 6:
                lines[-1] = lines[-1][:15] + "…"
            ax.add_patch(plt.Rectangle((x0, y0), 1.0, 1.0, fill=True, fc="#fafafa", ec="#cccccc", lw=0.6))
            ax.text(
                x0 + 0.04, y0 + 0.96, "\n".join(lines), va="top", ha="left", fontsize=6.5, family="sans-serif"
            )
        ax.text(x0 + 0.5, y0 - 0.06, cell.get("caption", ""), va="top", ha="center", fontsize=7)
    ax.set_xlim(-0.1, cols * 1.2)
    ax.set_ylim(-(rows - 1) * 1.5 - 0.35, 1.05)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    return _png(fig)


def write_items_figure(path: str | Path, cells: Sequence[dict], *, title: str) -> list[Path]:
    """Write :func:`items_figure` as a PNG (atomically); return its path."""
    from ..atomic import atomic_write

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InputError(f"figures are written as PNG; --out must end in .png, got {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return [atomic_write(path, items_figure(cells, title=title))]
