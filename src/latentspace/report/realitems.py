"""Real items in the report: for a few items, their nearest neighbours in latent space shown as
items (thumbnails, texts or data rows, as :class:`latentspace.runfolder.items.RunItems` says, the
same as the explorer), and a summary of the run's metadata columns."""

from __future__ import annotations

import html
import struct

import numpy as np

from .page import b64, figure

N_QUERIES, N_NEIGHBOURS = 6, 6  # the neighbours figure: items, and neighbours shown for each


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


def item_html(seen, i: int, caption: str) -> str:
    """One item as the page shows it: its image, its text (a card), its data row (bars) or its name."""
    png = seen.png(i)
    if png is not None:  # small images (digits) with sharp pixels, photographs' thumbnails smoothly
        w, h = struct.unpack(">II", png[16:24])
        smooth = " class='smooth'" if max(w, h) >= 48 else ""
        body = f'<img{smooth} alt="{html.escape(seen.name(i))}" src="data:image/png;base64,{b64(png)}">'
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


def neighbours_section(seen, Z, pool, y, rng) -> str:
    from ..knn import nearest

    if len(Z) < 2:
        return ""
    queries = _queries(pool, y, rng)
    k = min(N_NEIGHBOURS, len(Z) - 1)
    idx, dist = nearest(Z, Z[queries], k + 1)
    rows = []
    for q, ii, dd in zip(queries, idx, dist, strict=True):
        keep = ii != q
        cells = [item_html(seen, q, f"{seen.name(q)}")]
        cells += [
            item_html(seen, int(j), f"{seen.name(int(j))} d={d:.3g}")
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
    return figure(
        "Nearest neighbours",
        f"{len(queries)} items ({'one of each of the first classes' if y is not None else 'at random'}) and"
        f" the {k} items nearest each in latent space (euclidean distance d), shown as {what}:"
        " neighbours that share what matters about an item are the mark of a good latent space.",
        body,
        "neighbours",
    )


def short(v, n: int = 40) -> str:
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
            shown = ", ".join(repr(short(c["values"])) for c in counts[:3])
            return f"{distinct:,} distinct values, e.g. {shown}{tail}"
        shown = ", ".join(f"{short(c['values'])} ({c['counts']:,})" for c in counts[:8])
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


def metadata_section(run) -> str:
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
    return figure(
        "Metadata",
        f"The {len(rows)} metadata columns kept with the vectors: each one's kind and its values"
        " (the most common, or the range). The map's colours and tooltips draw on them.",
        body,
        "metadata",
    )
