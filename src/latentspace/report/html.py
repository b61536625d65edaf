"""The self-contained report of a run: one ``report.html`` with everything inlined (images as data
URIs, the map's JavaScript in the page), readable offline and without any external request.

The map is interactive (pan, zoom, hover shows the item's image or values, colour by label,
reconstruction error or a latent dimension) through the package's own scatter component (the same
one the explorer uses), on a random subset of points; a static PNG of every point is the fallback
when JavaScript is off. We do not embed plotly: its bundle is 4.6 MB, its hover cannot show an
image, and it carries URLs (CDN, map tiles) that a file meant to make no request should not hold.

A run whose model has no decoder (imported vectors; an imported encoder alone) gets no decoded
figures (reconstructions, samples, traversal, interpolation): one line says which are left out and
why. Every run shows, for a few items, their nearest neighbours as items (thumbnails, texts or data
rows, as :class:`latentspace.runfolder.items.RunItems` says, the same as the explorer), and a run
with metadata a summary of its columns.
"""

from __future__ import annotations

import base64
import html
import io
import json
import struct
from datetime import datetime, timezone
from importlib import resources

import numpy as np

from ..progress import report

REPORT_FILE = "report.html"
MAX_MAP_POINTS = 5000
_TAB10 = np.array(
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


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{_b64(png)}">'


def _figure(title: str, caption: str, body: str, fig_id: str = "") -> str:
    ident = f' id="{fig_id}"' if fig_id else ""
    return (
        f"<section class='fig'{ident}><h2>{html.escape(title)}</h2>{body}"
        f"<p class='caption'>{html.escape(caption)}</p></section>"
    )


def label_colors(y: np.ndarray) -> np.ndarray:
    """Categorical colours (tab10, then tab20-like variations) for integer labels."""
    _, codes = np.unique(y, return_inverse=True)
    base = _TAB10[codes % 10].astype(np.int16)
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
    return f"data:image/{kind};base64,{_b64(data)}", cols, h, w


def _png_scatter(emb: np.ndarray, rgb: np.ndarray, title: str) -> bytes:
    from .figures import _mpl, _png

    plt = _mpl()
    fig, ax = plt.subplots(figsize=(7, 7))
    size = 1.0 if len(emb) > 20000 else 4.0
    ax.scatter(emb[:, 0], emb[:, 1], c=rgb / 255.0, s=size, linewidths=0, rasterized=True)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return _png(fig)


def _curves(history: list[dict]) -> bytes | None:
    from .figures import _mpl, _png

    if not history:
        return None
    keys = [
        k
        for k in history[0]
        if k not in ("epoch", "seconds", "lr", "steps") and isinstance(history[0][k], int | float)
    ]
    if not keys:
        return None
    plt = _mpl()
    groups = sorted({k.removeprefix("val_") for k in keys})
    fig, axes = plt.subplots(1, len(groups), figsize=(4 * len(groups), 3.2), squeeze=False)
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    for ax, g in zip(axes[0], groups, strict=True):
        for k, style in ((g, "-"), (f"val_{g}", "--")):
            if k in history[0]:
                ax.plot(
                    epochs,
                    [h.get(k, np.nan) for h in history],
                    style,
                    label="validation" if style == "--" else "training",
                )
        ax.set_title(g)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def _card_html(card: dict | None) -> str:
    from ..metrics.card import fmt, rows

    if not card:
        return "<p>No report card yet: run <code>latentspace evaluate RUN</code>.</p>"
    body, last = [], None
    for fam, key, value in rows(card):
        body.append(
            f"<tr><td>{html.escape(fam) if fam != last else ''}</td><td>{html.escape(key)}</td>"
            f"<td class='num'>{html.escape(fmt(value))}</td></tr>"
        )
        last = fam
    return (
        "<table class='card'><tr><th>family</th><th>metric</th><th>value</th></tr>"
        + "".join(body)
        + "</table>"
    )


class _Items:
    """Figures of decoded items as PNG, with the data's value range."""

    def __init__(self, data):
        self.data = data
        self.range = data.value_range()

    def grid(self, items, **kw) -> bytes:
        from .figures import grid_figure

        return grid_figure(
            items,
            sample_shape=self.data.sample_shape,
            feature_names=self.data.feature_names,
            value_range=self.range,
            **kw,
        )

    def name(self, i: int) -> str:
        return self.data.item_name(i)


N_QUERIES, N_NEIGHBOURS = 6, 6  # the neighbours figure: items, and neighbours shown for each
DECODED_FIGURES = ("Originals and reconstructions", "Samples", "Latent traversal", "Interpolation")


def _why_not_decoded(run, model) -> dict[str, str]:
    """Which decoded figures this run cannot show, each with its reason (empty: it shows them all)."""
    if not getattr(model, "has_decoder", True):
        why = (
            "this run holds imported vectors and has no decoder"
            if run.model_name == "embeddings"
            else f"its model ({run.model_name}) has no decoder"
        )
        return {title: why for title in DECODED_FIGURES}
    if not run.has_source_data:
        return {
            "Originals and reconstructions": "the vectors came without their source data, so there is"
            " nothing to compare a reconstruction with"
        }
    return {}


def build_report(run, *, max_points: int = MAX_MAP_POINTS, seed: int = 0) -> str:
    """The report of ``run`` as one HTML string."""
    from ..maps.store import best_map
    from ..runfolder.items import RunItems

    model = run.load_model()
    data = run.load_dataset()
    Z = run.latent_matrix()
    table = run.latents()
    test = (
        np.asarray(table["split"].to_numpy(zero_copy_only=False)) == "test"
        if "split" in table.column_names
        else np.zeros(len(Z), bool)
    )
    pool = np.flatnonzero(test) if test.any() else np.arange(len(Z))
    rng = np.random.default_rng(seed)
    items = _Items(data)
    seen = RunItems(run, data)  # what a person sees for a row: the same as in the explorer
    skipped = _why_not_decoded(run, model)
    report("report", 0, 6)
    sections = []

    # 1. the map
    lm, map_note = best_map(run, 2, seed=seed)
    if lm is not None:
        reconstructs = "Originals and reconstructions" not in skipped
        lm3 = _stored_map3d(run)  # a 3-D map, when the run holds one, is shown below the 2-D one
        sections.append(
            _map_section(run, lm, map_note, data, model, seen, rng, max_points, reconstructs, lm3)
        )
    report("report", 1, 6)

    # 2.-5. what the decoder makes of latents, or one line per figure it cannot show
    if "Originals and reconstructions" not in skipped:
        sections.append(_reconstructions(model, data, Z, pool, rng, items))
    report("report", 2, 6)
    if "Samples" not in skipped:
        sections.append(_samples(model, seed, items))
        sections.append(_traversal(model, Z, int(pool[0]), items))
    report("report", 3, 6)
    if "Interpolation" not in skipped:
        sections.append(_interpolation(run, model, data, Z, pool, items))
    if skipped:
        sections.append(_skipped_section(skipped))
    sections.append(_neighbours_section(seen, Z, pool, data.y, rng))
    if seen.metadata_columns():
        sections.append(_metadata_section(run))
    report("report", 4, 6)

    # 6. report card, training curves, configuration
    sections.append(
        _figure(
            "Report card",
            "The metrics of `latentspace evaluate`, computed the same way for every model; "
            "`latentspace compare` lines several runs up.",
            _card_html(run.read_json("metrics.json")),
        )
    )
    history = run.read_json("history.json")
    curves = _curves(history) if history else None
    sections.append(
        _figure(
            "Training curves",
            "Loss terms per epoch on the training batches (solid) and the validation split (dashed): "
            "a widening gap is overfitting, a flat start a learning rate too small.",
            _img(curves, "training curves")
            if curves
            else f"<p>{html.escape(run.model_name)} has no training epochs.</p>",
        )
    )
    config = {k: v for k, v in run.config.items() if k not in ("files", "config_sha256")}
    sections.append(
        _figure(
            "Configuration",
            "Everything needed to reproduce the run: model parameters, data and its checksum, "
            "split and seed, versions.",
            f"<pre>{html.escape(json.dumps(config, indent=1, default=str))}</pre>",
        )
    )
    report("report", 5, 6)
    out = _page(run, model, data, Z, sections)
    report("report", 6, 6)
    return out


def _reconstructions(model, data, Z, pool, rng, items) -> str:
    show = np.sort(rng.choice(pool, size=min(10, len(pool)), replace=False))
    X = np.asarray(data.X[show])
    # a model without an encoder decodes the run's own latents (those of these very rows)
    R = model.decode(model.encode(X) if getattr(model, "has_encoder", True) else Z[show])
    mse = float(np.mean((R - X) ** 2))
    png = items.grid(
        np.stack([X, R]),
        title=f"originals and reconstructions (MSE {mse:.4g})",
        row_labels=["original", "reconstruction"],
        col_labels=[items.name(int(i)) for i in show],
    )
    return _figure(
        "Originals and reconstructions",
        "Held-out items (top) and what the model gives back after compressing them to "
        f"{Z.shape[1]} numbers (bottom): look for details that are lost or blurred.",
        _img(png, "originals and reconstructions"),
    )


def _samples(model, seed, items) -> str:
    S = model.sample(16, random_state=seed)
    png = items.grid(S.reshape(2, 8, -1), title="samples decoded from the prior")
    return _figure(
        "Samples",
        "New items decoded from random latent vectors drawn from the model's prior (for PCA and "
        "the plain autoencoder, a Gaussian fitted to the training latents): do they look like data?",
        _img(png, "samples"),
    )


def _traversal(model, Z, i: int, items) -> str:
    from .. import ops

    dims = f"0-{min(Z.shape[1], 8) - 1}"
    tr = ops.traverse(model, Z[i], dims, 2.0, 7, reference=Z)
    png = items.grid(
        tr.X,
        title=f"traversal of {items.name(i)}",
        row_labels=[f"z_{d}" for d in tr.dims],
        col_labels=[f"{o:+.1f}σ" for o in tr.offsets],
        row_title="latent dimension",
        col_title="offset from the item's value",
    )
    return _figure(
        "Latent traversal",
        "One latent dimension moved at a time (rows), from -2 to +2 standard deviations around one "
        "item: a dimension that changes one visible property is an interpretable one.",
        _img(png, "traversal grid"),
    )


def _interpolation(run, model, data, Z, pool, items) -> str:
    from .. import ops

    a = int(pool[0])
    others = pool[(data.y[pool] != data.y[a])] if data.y is not None else pool[1:]
    b = int(others[0]) if len(others) else int(pool[-1])
    method = "slerp" if run.model_name in ("vae", "beta_vae", "gan") else "lerp"
    path = ops.interpolate(model, Z[a], Z[b], 10, method, space="latent")
    png = items.grid(
        path.X[None],
        title=f"{method} from {items.name(a)} to {items.name(b)}",
        col_labels=[f"t={t:.2f}" for t in path.t],
        row_labels=[method],
    )
    return _figure(
        "Interpolation",
        f"The decoded path between two items' latents ({method}): a smooth latent space gives "
        "plausible items all the way, a poor one gives blurs or jumps in the middle.",
        _img(png, "interpolation strip"),
    )


def _skipped_section(skipped: dict[str, str]) -> str:
    lines = "".join(
        f"<li><b>{html.escape(title)}</b>: not shown: {html.escape(why)}.</li>"
        for title, why in skipped.items()
    )
    return _figure(
        "Decoded figures",
        "Where a trained model would decode, this report shows real items instead: the map's tooltips"
        " and the nearest neighbours below (the explorer shows the real items nearest any point).",
        f"<ul class='skipped'>{lines}</ul>",
        "skipped",
    )


# --- real items: the neighbours figure and the metadata summary ------------------------------------
def _svg_bars(values: list) -> str:
    """Feature values as a small inline bar chart (no external reference, no script)."""
    v = np.nan_to_num(np.asarray([0.0 if x is None else x for x in values], dtype=np.float64))
    lo, hi = min(0.0, float(v.min(initial=0))), max(0.0, float(v.max(initial=0)))
    span = hi - lo or 1.0
    w = 64.0 / max(len(v), 1)
    zero = 64 * (hi / span)
    bars = "".join(
        f"<rect x='{j * w:.2f}' y='{min(zero, 64 * (hi - x) / span):.2f}' width='{max(w - 0.5, 0.5):.2f}'"
        f" height='{abs(64 * x / span) + 0.5:.2f}'/>"
        for j, x in enumerate(v)
    )
    return f"<svg class='bars' viewBox='0 0 64 64' width='64' height='64' fill='#1f77b4'>{bars}</svg>"


def _item_html(seen, i: int, caption: str) -> str:
    """One item as the page shows it: its image, its text (a card), its data row (bars) or its name."""
    png = seen.png(i)
    if png is not None:  # small images (digits) with sharp pixels, photographs' thumbnails smoothly
        w, h = struct.unpack(">II", png[16:24])
        smooth = " class='smooth'" if max(w, h) >= 48 else ""
        body = f'<img{smooth} alt="{html.escape(seen.name(i))}" src="data:image/png;base64,{_b64(png)}">'
    elif seen.shows_values:
        body = _svg_bars(seen.values(i))
    else:
        text = seen.text(i)
        text = seen.name(i) if text is None else text
        short = text if len(text) <= 160 else text[:157] + "…"
        body = f"<div class='textcard' title='{html.escape(text[:500])}'>{html.escape(short)}</div>"
    return f"<figure class='item'>{body}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _queries(pool: np.ndarray, y, rng) -> list[int]:
    """Items whose neighbours are shown: one of each of the first classes, else random ones."""
    if y is None:
        return sorted(rng.choice(pool, size=min(N_QUERIES, len(pool)), replace=False).tolist())
    out = []
    for v in np.unique(y[pool])[:N_QUERIES]:
        out.append(int(rng.choice(pool[y[pool] == v])))
    return out


def _neighbours_section(seen, Z, pool, y, rng) -> str:
    from ..knn import nearest

    if len(Z) < 2:
        return ""
    queries = _queries(pool, y, rng)
    k = min(N_NEIGHBOURS, len(Z) - 1)
    idx, dist = nearest(Z, Z[queries], k + 1)
    rows = []
    for q, ii, dd in zip(queries, idx, dist, strict=True):
        keep = ii != q
        cells = [_item_html(seen, q, f"{seen.name(q)}")]
        cells += [
            _item_html(seen, int(j), f"{seen.name(int(j))} d={d:.3g}")
            for j, d in zip(ii[keep][:k], dd[keep][:k], strict=True)
        ]
        rows.append("<tr><td class='query'>" + cells[0] + "</td><td>" + "".join(cells[1:]) + "</td></tr>")
    what = {
        "image": "their images",
        "text": f"their texts (column {seen.column!r})",
        "data": "their data rows",
        "none": "their names",
    }[seen.kind]
    body = (
        "<table class='neighbours'><tr><th>item</th><th>its nearest neighbours in latent space</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    return _figure(
        "Nearest neighbours",
        f"{len(queries)} items ({'one of each of the first classes' if y is not None else 'at random'}) and"
        f" the {k} items nearest each in latent space (euclidean distance d), shown as {what}:"
        " neighbours that share what matters about an item are the mark of a good latent space.",
        body,
        "neighbours",
    )


def _short(v, n: int = 40) -> str:
    s = str(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def _column_summary(col, kind: str) -> str:
    """One line about a metadata column: its values, counts or range."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n, missing = len(col), col.null_count
    tail = f"; {missing:,} missing" if missing else ""
    present = col.drop_null() if missing else col
    if len(present) == 0:
        return f"all {n:,} missing"
    if kind in ("text", "category"):
        if pa.types.is_dictionary(present.type):
            present = present.cast(present.type.value_type)
        counts = pc.value_counts(present).to_pylist()
        counts.sort(key=lambda c: (-c["counts"], str(c["values"])))
        distinct = len(counts)
        if counts[0]["counts"] == 1:  # every value its own: examples rather than counts
            shown = ", ".join(repr(_short(c["values"])) for c in counts[:3])
            return f"{distinct:,} distinct values, e.g. {shown}{tail}"
        shown = ", ".join(f"{_short(c['values'])} ({c['counts']:,})" for c in counts[:8])
        more = f", … {distinct - 8:,} more" if distinct > 8 else ""
        return f"{distinct:,} distinct: {shown}{more}{tail}"
    if kind == "bool":
        true = int(pc.sum(present.cast(pa.int64())).as_py() or 0)
        return f"true {true:,}, false {len(present) - true:,}{tail}"
    if kind == "number":
        v = np.asarray(present.to_numpy(zero_copy_only=False), dtype=np.float64)
        v = v[np.isfinite(v)]
        if not len(v):
            return f"no finite values{tail}"
        lo, med, hi = np.min(v), np.median(v), np.max(v)
        return f"min {lo:.4g}, median {med:.4g}, max {hi:.4g}, mean {np.mean(v):.4g}{tail}"
    if kind == "time":
        mm = pc.min_max(present).as_py()
        return f"from {mm['min']} to {mm['max']}{tail}"
    return f"{n:,} values{tail}"


def _metadata_section(run) -> str:
    table = run.metadata()
    label_col = run.config.get("label_col")
    text_col = (run.config.get("items") or {}).get("column")
    rows = []
    for m in run.config.get("metadata", []):
        name, kind = m["name"], m["kind"]
        role = " (the label)" if name == label_col else " (the items' text)" if name == text_col else ""
        rows.append(
            f"<tr><td>{html.escape(name)}{html.escape(role)}</td><td>{html.escape(kind)}</td>"
            f"<td>{html.escape(_column_summary(table[name], kind))}</td></tr>"
        )
    body = (
        "<table class='card meta'><tr><th>column</th><th>kind</th><th>values</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    return _figure(
        "Metadata",
        f"The {len(rows)} metadata columns kept with the vectors: each one's kind and its values"
        " (the most common, or the range). The map's colours and tooltips draw on them.",
        body,
        "metadata",
    )


# --- the map ---------------------------------------------------------------------------------------
MAP_META_COLUMNS = 3  # metadata values in the map's tooltip
MAP_TEXT = 200  # characters of an item's text in the map's tooltip


def _map_section(
    run, lm, note, data, model, seen, rng, max_points, reconstructs: bool = True, lm3=None
) -> str:
    n = len(lm.embedding)
    sub = np.sort(rng.choice(n, size=min(n, max_points), replace=False))
    colorings = {}
    y = data.y
    if y is not None:  # colours from all labels, so a class missing from the subset shifts none
        every = label_colors(y)
        colorings["label"] = every[sub]
        values, first = np.unique(y, return_index=True)
        legend = [
            (data.label_name(v), "#" + bytes(every[i]).hex()) for v, i in zip(values, first, strict=True)
        ][:30]
    else:
        legend = []
    err = None
    if reconstructs:
        X = np.asarray(data.X[sub])
        codes = model.encode(X) if getattr(model, "has_encoder", True) else lm.Z[sub]
        err = np.mean((model.decode(codes) - X) ** 2, axis=1)
        colorings["reconstruction error"] = value_colors(err)
    for k, v in _meta_colorings(run, seen, sub).items():
        colorings[k if k not in colorings else f"metadata {k}"] = v
    for j in range(min(lm.Z.shape[1], 8)):
        colorings[f"latent z_{j}"] = value_colors(lm.Z[sub, j], "coolwarm")
    payload = {
        "x": np.round(lm.embedding[sub, 0], 4).tolist(),
        "y": np.round(lm.embedding[sub, 1], 4).tolist(),
        "rows": sub.tolist(),
        "labels": [data.label_name(v) for v in y[sub]] if y is not None else None,
        "error": None if err is None else np.round(err, 6).tolist(),
        "colors": {k: _b64(v.tobytes()) for k, v in colorings.items()},
        "legend": legend,
    }
    if seen.kind == "text":
        payload["texts"] = [t[:MAP_TEXT] for t in seen.texts(sub)]
    shown_meta = [
        m["name"]
        for m in seen.metadata_columns()
        if m["name"] not in (run.config.get("label_col"), seen.column)
    ][:MAP_META_COLUMNS]
    if shown_meta:
        metas = seen.metas(sub, shown_meta)
        payload["meta"] = {
            "names": shown_meta,
            "values": [[None if r.get(c) is None else _short(r[c], 60) for c in shown_meta] for r in metas],
        }
    if seen.shows_images:
        src, cols, h, w = sprite(seen.pixels(sub))
        payload["sprite"] = {"src": src, "cols": cols, "h": h, "w": w}
    elif seen.shows_values:
        X = np.asarray(data.X[sub])
        names = data.feature_names or [f"x{j}" for j in range(X.shape[1])]
        payload["features"] = {"names": list(names[:8]), "values": np.round(X[:, :8], 4).tolist()}
    if lm3 is not None:  # the 3-D view: the same rows, colourings and tooltips
        payload["xyz3"] = np.round(lm3.embedding[sub], 4).tolist()
    first = next(iter(colorings))
    fallback = _png_scatter(
        lm.embedding,
        label_colors(y) if y is not None else value_colors(lm.Z[:, 0], "coolwarm"),
        f"{lm.method} map",
    )
    q = lm.quality or {}
    quality = ", ".join(
        f"{k} {q[k]:.3f}" for k in ("trustworthiness", "continuity", "knn_accuracy_map") if k in q
    )
    options = "".join(
        f"<option{' selected' if k == first else ''}>{html.escape(k)}</option>" for k in colorings
    )
    body = (
        "<div class='mapbar'>colour by <select id='colorby'>" + options + "</select>"
        " <button id='resetview'>reset view</button>"
        " <span class='hint'>drag to pan, wheel to zoom, hover a point</span></div>"
        "<div class='mapwrap'><div id='map' data-ready='0'></div>"
        "<div id='tip'></div><div id='legend'></div></div>"
        f"<noscript>{_img(fallback, 'static map')}</noscript>"
        f"<div id='mapfallback' style='display:none'>{_img(fallback, 'static map')}</div>"
        + ("" if lm3 is None else _map3d_html(lm3))
        + "<script type='application/json' id='map-data'>"
        + json.dumps(payload).replace("</", "<\\/")
        + "</script>"
    )
    look = (
        "look for clusters that match the labels, and for bright (high-error) regions the model "
        "reconstructs badly."
        if err is not None
        else "look for clusters that match the labels; hover a point to see the item."
    )
    caption = (
        f"Each point is one item placed by {note}; {len(sub):,} of {n:,} points shown "
        "(a random subset; the static image shows all). Items the model finds alike sit together: "
        + look
        + (f" Map quality against the latents: {quality}." if quality else "")
    )
    return _figure("Map of the latent space", caption, body, "map-section")


# --- the 3-D map (web/static/scatter3d.js and report3d.js, inlined) --------------------------------
def _stored_map3d(run):
    """The run's stored 3-D map (`latentspace map RUN --dims 3`; the preferred method), or None."""
    from ..maps.registry import preferred
    from ..maps.store import load_map, stored_maps

    method = preferred([m for m, d in stored_maps(run) if d == 3])
    return None if method is None else load_map(run, method, 3)


def _map3d_html(lm3) -> str:
    """The 3-D view's box below the 2-D map; it shares the "colour by" choice and the payload."""
    from ..maps import get_method

    q = lm3.quality or {}
    quality = ", ".join(f"{k} {q[k]:.3f}" for k in ("trustworthiness", "continuity") if k in q)
    style = (
        "<style>#map3d{width:100%;height:560px;border:1px solid #ccc;background:#fff}"
        "#tip3d{position:absolute;display:none;pointer-events:none;background:#fff;border:1px solid #888;"
        "padding:4px 6px;font-size:12px;box-shadow:0 1px 4px #0003;max-width:320px;z-index:3}"
        "#tip3d canvas{image-rendering:pixelated;display:block}"
        "#legend3d{position:absolute;top:8px;right:8px;background:#fffd;font-size:12px;padding:4px 6px;"
        "border:1px solid #ddd;z-index:2;pointer-events:none}"
        "#legend3d span{display:inline-block;width:10px;height:10px;margin-right:4px}</style>"
    )
    return (
        style
        + f"<h3 id='map3d-title'>The same items on the run's 3-D {html.escape(get_method(lm3.method).title)}"
        " map</h3><div class='mapbar'><button id='resetview3d'>reset view</button> <span class='hint'>"
        "drag to turn, shift-drag or right-drag to pan, wheel to zoom, hover a point, click to mark it"
        + (f"; map quality against the latents: {html.escape(quality)}" if quality else "")
        + "</span></div><div class='mapwrap'><div id='map3d' data-ready='0'></div>"
        "<div id='tip3d'></div><div id='legend3d'></div></div>"
    )


def _meta_colorings(run, seen, sub) -> dict[str, np.ndarray]:
    """Map colours from metadata columns (categories, booleans and short texts as classes, numbers
    as a scale), the label column left out (it is "label" already); at most four columns."""
    out = {}
    for m in seen.metadata_columns():
        if m["name"] == run.config.get("label_col") or len(out) >= 4:
            continue
        col = seen.colour_column(m["name"])
        if col is None:
            continue
        if col[0] == "values":
            v = col[1]
            if np.isfinite(v).any():
                out[m["name"]] = value_colors(np.where(np.isfinite(v), v, v[np.isfinite(v)].min())[sub])
        else:
            out[m["name"]] = label_colors(col[1])[sub]
    return out


def _verdicts_html(run) -> str:
    """The run's verdicts (interpret/verdicts.py: too few steps, collapsed units, a map not to read
    distances on, a GAN's own findings...), one sentence each, at the top of the page."""
    from ..interpret.verdicts import WARNING, from_run, model_failed

    said = from_run(run)
    if not said:
        return ""
    items = "".join(
        f"<li data-verdict='{html.escape(v.id)}'><strong>{html.escape(v.severity)}</strong>: "
        f"{html.escape(v.text)}</li>"
        for v in said
    )
    warnings = sum(v.severity == WARNING for v in said)
    title = (
        f"{warnings} warning{'s' if warnings != 1 else ''} on this run" if warnings else "Notes on this run"
    )
    if model_failed(said):
        title = "This model has failed"
    colour = "#b3261e" if warnings else "#8a6d00"
    return (
        f"<div class='verdict' role='alert' style='border:2px solid {colour};padding:8px 14px;"
        f"margin:12px 0;border-radius:6px'><strong>{title}:</strong><ul>{items}</ul></div>"
    )


def _note_html(run, model) -> str:
    from ..runfolder.items import no_decoder_note

    note = no_decoder_note(run, model)
    return f"<p class='note' id='note'>{html.escape(note)}.</p>" if note else ""


def _page(run, model, data, Z, sections) -> str:
    static = resources.files("latentspace.web").joinpath("static")
    js = static.joinpath("scatter.js").read_text() + static.joinpath("report.js").read_text()
    if any("id='map3d'" in s for s in sections):  # the 3-D map's scripts, only where one is shown
        js += static.joinpath("scatter3d.js").read_text() + static.joinpath("report3d.js").read_text()
    css = static.joinpath("report.css").read_text()
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (
        f"{html.escape(run.model_name)} on {html.escape(str(data.name))}: {len(Z):,} items, "
        f"{Z.shape[1]}-d latent; report written {created}"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>latentspace report: {html.escape(run.name)}</title><style>{css}</style></head><body>"
        f"<h1>{html.escape(run.name)}</h1><p class='sub'>{head}</p>"
        + _note_html(run, model)
        + _verdicts_html(run)
        + "".join(sections)
        + f"<script>{js}</script>"
        "<script>if(!window.LatentScatter){document.getElementById('mapfallback').style.display='block';}</script>"
        "</body></html>"
    )


def write_report(run, **kw) -> str:
    """Build the report and save it in the run as report.html (atomically, checksum recorded)."""
    page = build_report(run, **kw)
    run.write_file(REPORT_FILE, page.encode())
    return str(run.path / REPORT_FILE)
