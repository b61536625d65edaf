"""The most important latent directions and how to draw them: their order (interpret.json's, else
KL per dimension for a model with a Gaussian posterior, else variance), a label per direction (the
generated name), and traversals decoded along them for several items (image grids, or for tables
the features that change most, in the data's units)."""

from __future__ import annotations

import io

import numpy as np

from .page import b64, esc, figure

TRAVERSE_ITEMS = 4  # items traversed in the report
TRAVERSE_DIRECTIONS = 6  # most important dimensions traversed
OFFSETS = np.linspace(-2.0, 2.0, 7)  # standard deviations along a direction
CHANGED_FEATURES = 4  # features listed per direction for tabular data


def ranked_dims(run, model, data, Z, interp) -> tuple[list[dict], str]:
    """Latent dimensions, most important first, as direction entries ``{"id", "kind": "dim",
    "index", "spread", "title", "inactive"}`` and a sentence on how they were ordered."""
    if interp is not None:
        dims = [dict(d) for d in interp.dims]
        rule = interp.doc["importance"]["rule"]
        how = f"ordered and named by interpret.json; inactive: {rule}"
        return dims, how
    from ..interpret.named import importance, kl_per_dimension

    kl = None
    if hasattr(model, "encode_posterior") and getattr(model, "has_encoder", True) and run.has_source_data:
        rows = np.arange(min(len(data.X), 2000))
        mu, logvar = model.encode_posterior(np.asarray(data.X[rows], np.float32))
        kl = kl_per_dimension(mu, logvar)
    imp = importance(Z, kl)
    unit = "nats" if imp["kind"] == "kl" else "variance"
    dims = []
    for j in imp["order"]:
        score = imp["score"][j]
        dims.append(
            {
                "id": f"z_{j}",
                "kind": "dim",
                "index": int(j),
                "spread": float(np.sqrt(imp["variance"][j])),
                "inactive": bool(imp["inactive"][j]),
                "importance": float(score),
                "title": f"z_{j} ({'KL' if unit == 'nats' else 'var'} {score:.3g}"
                + (" nats)" if unit == "nats" else ")"),
            }
        )
    how = (
        f"ordered by {'KL per dimension' if kl is not None else 'variance'}; run `latentspace interpret"
        " RUN` to name them"
    )
    return dims, how


def traverse_items(pool: np.ndarray, y, rng, count: int = TRAVERSE_ITEMS) -> list[int]:
    """Held-out items to traverse: one of each of the first classes, else random ones."""
    if y is not None:
        out = []
        for v in np.unique(y[pool]):
            if len(out) == count:
                break
            out.append(int(rng.choice(pool[y[pool] == v])))
        if len(out) >= min(count, len(pool)):
            return out
    return sorted(int(i) for i in rng.choice(pool, size=min(count, len(pool)), replace=False))


def decode_traversal(model, entry: dict, base: np.ndarray, offsets=OFFSETS) -> np.ndarray:
    """Decoded items along ``entry`` around the latents ``base`` (k, L): (k, len(offsets), d)."""
    from ..interpret.interpretation import traversal_points

    pts = traversal_points(entry, base, offsets, base.shape[1])  # (k, steps, L)
    out = model.decode(pts.reshape(-1, base.shape[1]))
    return np.asarray(out, np.float64).reshape(len(base), len(offsets), -1)


def strip_png(X: np.ndarray, data, scale: int = 2) -> bytes:
    """A row of decoded images (steps, d) as one small PNG (no axes), ``scale`` times enlarged."""
    from PIL import Image

    from .figures import mosaic

    a = mosaic(X[None], data.sample_shape, data.value_range())
    a = (np.clip(a, 0, 1) * 255).astype(np.uint8)
    im = Image.fromarray(a)
    im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def strip_img(X: np.ndarray, data, alt: str, scale: int = 2, cls: str = "") -> str:
    """``strip_png`` as an inline <img>."""
    klass = f" class='{cls}'" if cls else ""
    return f"<img{klass} alt='{esc(alt)}' src='data:image/png;base64,{b64(strip_png(X, data, scale))}'>"


def changed_features(T: np.ndarray, names: list[str], count: int = CHANGED_FEATURES) -> str:
    """For tabular data: the features that change most along a traversal (k, steps, d), with
    their mean value at the first and last offset, in the data's units."""
    lo, hi = T[:, 0].mean(0), T[:, -1].mean(0)
    spread = T.reshape(-1, T.shape[2]).std(0)
    scale = np.abs(hi - lo) / np.where(spread > 0, spread, 1.0)
    top = np.argsort(-np.abs(hi - lo) / np.maximum(np.abs(lo) + np.abs(hi), 1e-12))[:count]
    top = sorted(top, key=lambda j: -scale[j])
    return "; ".join(f"{esc(names[j])} {lo[j]:.4g} → {hi[j]:.4g}" for j in top)


def item_traversal_html(T: np.ndarray, chosen: list[dict], data, name: str, row: int) -> str:
    """One item's traversal (dirs, steps, d) of images: a row of decoded images per direction,
    labelled with the direction's name (HTML text, so it stays readable at any size)."""
    scale = max(1, round(56 / max(data.sample_shape[1:])))  # tiles about 56 px
    trs = "".join(
        f"<tr data-direction='{esc(d['id'])}'><th title='{esc(d['title'])}'>{esc(d['title'])}</th>"
        f"<td>{strip_img(T[r], data, d['id'], scale)}</td></tr>"
        for r, d in enumerate(chosen)
    )
    offsets = "<span>−2σ</span><span>0</span><span>+2σ</span>"
    return (
        f"<figure class='trav' data-item='{row}'><figcaption>around {esc(name)}</figcaption>"
        f"<table class='travtab'>{trs}<tr><th></th><td><div class='offsets'>{offsets}</div></td></tr>"
        "</table></figure>"
    )


def traversal_section(run, model, data, Z, pool, rng, items, interp) -> str:
    dims, how = ranked_dims(run, model, data, Z, interp)
    active = [d for d in dims if not d.get("inactive")] or dims
    chosen = active[:TRAVERSE_DIRECTIONS]
    rows = traverse_items(pool, data.y, rng)
    base = np.asarray(Z[rows], np.float32)
    if items.is_image:
        T = np.stack([decode_traversal(model, d, base) for d in chosen], axis=1)  # (k, dirs, steps, d)
        grids = [item_traversal_html(T[k], chosen, data, items.name(i), i) for k, i in enumerate(rows)]
        body = "<div class='travgrid'>" + "".join(grids) + "</div>"
    else:
        trs = []
        for d in chosen:
            T = decode_traversal(model, d, base)
            trs.append(
                f"<tr data-direction='{esc(d['id'])}'><th>{esc(d['title'])}</th>"
                f"<td>{changed_features(T, items.names)}</td></tr>"
            )
        body = (
            "<table class='card trav'><tr><th>direction</th><th>features that change most from −2σ to"
            " +2σ (mean over the items, data units)</th></tr>" + "".join(trs) + "</table>"
        )
    skipped = len(dims) - len(active)
    tail = f" {skipped} inactive dimension{'s' if skipped != 1 else ''} left out." if skipped else ""
    names = ", ".join(items.name(i) for i in rows)
    return figure(
        "Latent traversal",
        f"The {len(chosen)} most important latent dimensions ({how}), each moved alone from −2 to +2"
        f" standard deviations around {len(rows)} held-out items ({names}); each row is labelled"
        " with the dimension's name. A dimension that changes one visible property is an"
        " interpretable one." + tail,
        body,
        "traversal",
    )


def strip_html(model, data, items, entry: dict, base: np.ndarray) -> str:
    """One direction's decoded traversal around one item, inline in a table cell."""
    T = decode_traversal(model, entry, base[:1])
    if items.is_image:
        return strip_img(T[0], data, f"traversal of {entry['id']}", cls="strip")
    return changed_features(T, items.names, 3)
