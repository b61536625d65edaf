"""The self-contained report of a run: one ``report.html`` with everything inlined (images as data
URIs, the map's JavaScript in the page), readable offline and without any external request.

The map is interactive (pan, zoom, hover shows the item's image or values, colour by label,
reconstruction error or a latent dimension) through the package's own scatter component (the same
one the explorer uses), on a random subset of points; a static PNG of every point is the fallback
when JavaScript is off. We do not embed plotly: its bundle is 4.6 MB, its hover cannot show an
image, and it carries URLs (CDN, map tiles) that a file meant to make no request should not hold.
"""

from __future__ import annotations

import base64
import html
import io
import json
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


def sprite(items: np.ndarray, sample_shape, value_range) -> tuple[bytes, int, int, int]:
    """Thumbnails of image items tiled in one PNG: (png, columns, height, width)."""
    from PIL import Image

    c, h, w = sample_shape
    lo, hi = value_range
    imgs = np.clip((np.asarray(items, dtype=np.float32) - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    imgs = (imgs.reshape(len(items), c, h, w) * 255).astype(np.uint8)
    cols = 100
    rows = (len(items) + cols - 1) // cols
    sheet = np.zeros((rows * h, cols * w, 3), dtype=np.uint8)
    for i, im in enumerate(imgs):
        r, q = divmod(i, cols)
        rgb = np.repeat(im, 3, 0) if c == 1 else im
        sheet[r * h : (r + 1) * h, q * w : (q + 1) * w] = rgb.transpose(1, 2, 0)
    buf = io.BytesIO()
    Image.fromarray(sheet).save(buf, format="PNG", optimize=True)
    return buf.getvalue(), cols, h, w


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
        if k not in ("epoch", "seconds", "lr") and isinstance(history[0][k], int | float)
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


def build_report(run, *, max_points: int = MAX_MAP_POINTS, seed: int = 0) -> str:
    """The report of ``run`` as one HTML string."""
    from .. import ops
    from ..maps.store import best_map

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
    report("report", 0, 6)
    sections = []

    # 1. the map
    lm, map_note = best_map(run, 2, seed=seed)
    if lm is not None:
        sections.append(_map_section(run, lm, map_note, data, model, items, rng, max_points))
    report("report", 1, 6)

    # 2. originals and reconstructions
    show = np.sort(rng.choice(pool, size=min(10, len(pool)), replace=False))
    X = np.asarray(data.X[show])
    R = model.decode(model.encode(X))
    mse = float(np.mean((R - X) ** 2))
    png = items.grid(
        np.stack([X, R]),
        title=f"originals and reconstructions (MSE {mse:.4g})",
        row_labels=["original", "reconstruction"],
        col_labels=[items.name(int(i)) for i in show],
    )
    sections.append(
        _figure(
            "Originals and reconstructions",
            "Held-out items (top) and what the model gives back after compressing them to "
            f"{Z.shape[1]} numbers (bottom): look for details that are lost or blurred.",
            _img(png, "originals and reconstructions"),
        )
    )
    report("report", 2, 6)

    # 3. samples from the prior
    S = model.sample(16, random_state=seed)
    png = items.grid(S.reshape(2, 8, -1), title="samples decoded from the prior")
    sections.append(
        _figure(
            "Samples",
            "New items decoded from random latent vectors drawn from the model's prior (for PCA and "
            "the plain autoencoder, a Gaussian fitted to the training latents): do they look like data?",
            _img(png, "samples"),
        )
    )

    # 4. traversal
    i = int(pool[0])
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
    sections.append(
        _figure(
            "Latent traversal",
            "One latent dimension moved at a time (rows), from -2 to +2 standard deviations around one "
            "item: a dimension that changes one visible property is an interpretable one.",
            _img(png, "traversal grid"),
        )
    )
    report("report", 3, 6)

    # 5. interpolation between two items of different labels (when there are labels)
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
    sections.append(
        _figure(
            "Interpolation",
            f"The decoded path between two items' latents ({method}): a smooth latent space gives "
            "plausible items all the way, a poor one gives blurs or jumps in the middle.",
            _img(png, "interpolation strip"),
        )
    )
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


def _map_section(run, lm, note, data, model, items, rng, max_points) -> str:
    n = len(lm.embedding)
    sub = np.sort(rng.choice(n, size=min(n, max_points), replace=False))
    X = np.asarray(data.X[sub])
    err = np.mean((model.decode(model.encode(X)) - X) ** 2, axis=1)
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
    colorings["reconstruction error"] = value_colors(err)
    for j in range(min(lm.Z.shape[1], 8)):
        colorings[f"latent z_{j}"] = value_colors(lm.Z[sub, j], "coolwarm")
    payload = {
        "x": np.round(lm.embedding[sub, 0], 4).tolist(),
        "y": np.round(lm.embedding[sub, 1], 4).tolist(),
        "rows": sub.tolist(),
        "labels": [data.label_name(v) for v in y[sub]] if y is not None else None,
        "error": np.round(err, 6).tolist(),
        "colors": {k: _b64(v.tobytes()) for k, v in colorings.items()},
        "legend": legend,
    }
    if data.sample_shape is not None and len(data.sample_shape) == 3:
        png, cols, h, w = sprite(X, data.sample_shape, items.range)
        payload["sprite"] = {"src": "data:image/png;base64," + _b64(png), "cols": cols, "h": h, "w": w}
    else:
        names = data.feature_names or [f"x{j}" for j in range(X.shape[1])]
        payload["features"] = {"names": list(names[:8]), "values": np.round(X[:, :8], 4).tolist()}
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
        "<script type='application/json' id='map-data'>"
        + json.dumps(payload).replace("</", "<\\/")
        + "</script>"
    )
    caption = (
        f"Each point is one item placed by {note}; {len(sub):,} of {n:,} points shown "
        "(a random subset; the static image shows all). Items the model finds alike sit together: "
        "look for clusters that match the labels, and for bright (high-error) regions the model "
        "reconstructs badly." + (f" Map quality against the latents: {quality}." if quality else "")
    )
    return _figure("Map of the latent space", caption, body, "map-section")


def _verdicts_html(model) -> str:
    """What the model says is wrong with itself (a collapsed GAN, say), at the top of the page."""
    said = model.verdicts() if hasattr(model, "verdicts") else []
    if not said:
        return ""
    items = "".join(f"<li>{html.escape(v)}</li>" for v in said)
    return (
        "<div class='verdict' role='alert' style='border:2px solid #b3261e;padding:8px 14px;"
        f"margin:12px 0;border-radius:6px'><strong>This model has failed:</strong><ul>{items}</ul></div>"
    )


def _page(run, model, data, Z, sections) -> str:
    static = resources.files("latentspace.web").joinpath("static")
    js = static.joinpath("scatter.js").read_text() + static.joinpath("report.js").read_text()
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
        + _verdicts_html(model)
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
