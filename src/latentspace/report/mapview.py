"""The report's map: an interactive scatter of a random subset of points (the package's own scatter
component, the same one the explorer uses; pan, zoom, hover shows the item, colour by label,
reconstruction error, metadata or a latent dimension), a static PNG of every point as the fallback,
and the run's 3-D map below it when it holds one. We do not embed plotly: its bundle is 4.6 MB, its
hover cannot show an image, and it carries URLs (CDN, map tiles) that a file meant to make no
request should not hold."""

from __future__ import annotations

import html
import json

import numpy as np

from .colors import label_colors, png_scatter, sprite, value_colors
from .page import b64, figure, img
from .realitems import short

MAP_META_COLUMNS = 3  # metadata values in the map's tooltip
MAP_TEXT = 200  # characters of an item's text in the map's tooltip


def map_section(
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
        "colors": {k: b64(v.tobytes()) for k, v in colorings.items()},
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
            "values": [[None if r.get(c) is None else short(r[c], 60) for c in shown_meta] for r in metas],
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
    fallback = png_scatter(
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
        f"<noscript>{img(fallback, 'static map')}</noscript>"
        f"<div id='mapfallback' style='display:none'>{img(fallback, 'static map')}</div>"
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
    return figure("Map of the latent space", caption, body, "map-section")


# --- the 3-D map (web/static/scatter3d.js, scatter3d_screen.js and report3d.js, inlined) -----------
def stored_map3d(run):
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
    return (
        f"<h3 id='map3d-title'>The same items on the run's 3-D {html.escape(get_method(lm3.method).title)}"
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
