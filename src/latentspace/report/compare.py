"""The comparison page of ``latentspace compare``: one self-contained HTML file with a link to each
run's report, the same figures of every run side by side (one column per run: training curves,
reconstructions, samples, traversals of each run's most important directions), and the report
cards lined up by family, the best value of a row starred only where it was measured: a value a
model family gets by construction (a linear decoder's path ratio of 1) says so instead."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..metrics.card import FAMILIES, by_construction, fmt, reading
from .page import esc, img

STYLE = (
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1400px;"
    "padding:0 1.2em;color:#1d2330;line-height:1.4}"
    "h2{border-bottom:1px solid #e3e6eb;padding-bottom:.2em;margin-top:1.8em}"
    "table.cmp{border-collapse:collapse;width:auto}"
    "table.cmp td,table.cmp th{border-bottom:1px solid #e3e6eb;padding:3px 10px;"
    "text-align:right;vertical-align:top}"
    "table.cmp td:nth-child(-n+3),table.cmp th:nth-child(-n+3){text-align:left}"
    "table.cmp th{background:#f3f5f8}"
    "tr.fam td{background:#f7f8fa;font-weight:600;text-align:left;padding-top:8px}"
    ".best{font-weight:bold;background:#e8f5e9}"
    ".built{color:#6a4c93;font-size:.85em}"
    ".dir{color:#2c5fb3}"
    ".param td{color:#5b6473;font-size:.9em}"
    ".runs a{font-weight:600}"
    ".side{display:grid;gap:14px 22px}"
    ".side figure{margin:0;min-width:0;overflow-x:auto}"
    ".side figcaption{font-weight:600;margin-bottom:.3em}"
    ".side img{max-width:100%}"
    ".muted{color:#5b6473;font-style:italic}"
)


def _report_css() -> str:
    """The report's styles (traversal tables, feature tables), under the page's own."""
    from importlib import resources

    return resources.files("latentspace.web").joinpath("static", "report.css").read_text()


def _link(run, out: Path | None) -> str:
    """A link to ``run``'s report: relative to the page's folder when known, else a file URI."""
    if "report.html" not in run.config.get("files", {}):
        hint = f"latentspace report {run.path}"
        return f"{esc(run.name)} <span class='muted'>(no report yet: <code>{esc(hint)}</code>)</span>"
    target = Path(run.path) / "report.html"
    if out is not None:
        href = Path(os.path.relpath(target.resolve(), Path(out).resolve().parent)).as_posix()
    else:
        href = target.resolve().as_uri()
    return f"<a href='{esc(href)}'>{esc(run.name)}</a>"


def _fmt(v) -> str:
    """A card value for the page: counts with thousands separators, floats to 4 digits."""
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else fmt(v)


def _table(header, body, best, runs) -> str:
    models = [getattr(r, "model_name", "") for r in runs]
    built = getattr(header, "by_construction", None) or {}
    head = "".join(f"<th>{esc(h)}</th>" for h in ["family", "metric", "better", *header[2:]])
    order = {f: i for i, f in enumerate(FAMILIES)}
    idx = sorted(
        range(len(body)), key=lambda r: (order.get(body[r][0], 99), reading(body[r][1]).role != "score")
    )
    lines, last = [], None
    for r in idx:
        row, b = body[r], best[r]
        fam, key = row[0], row[1]
        if fam != last:
            q = FAMILIES.get(fam, "")
            lines.append(
                f"<tr class='fam'><td colspan='{len(row) + 1}'>{esc(fam)}"
                f" <span class='muted'>{esc(q)}</span></td></tr>"
            )
            last = fam
        rd = reading(key)
        why_row = built.get(r) or {i: w for i, m in enumerate(models) if (w := by_construction(m, key))}
        cells = []
        for i, v in enumerate(row[2:]):
            if i in why_row:
                cells.append(
                    f"<td title='{esc(why_row[i])}' data-by-construction='1'>{esc(_fmt(v))}"
                    f" <span class='built'>by construction</span></td>"
                )
            elif b == i:
                cells.append(f"<td class='best'>{esc(_fmt(v))} ★</td>")
            elif isinstance(v, str) and v.startswith("n/a"):  # a score not defined here says why on hover
                cells.append(f"<td title='{esc(v)}'>n/a</td>")
            else:
                cells.append(f"<td>{esc(_fmt(v))}</td>")
        kind = "" if rd.role == "score" else " class='param'"
        arrow = {"↑": "↑ higher", "↓": "↓ lower"}.get(rd.arrow, "" if rd.role == "score" else rd.role)
        lines.append(
            f"<tr{kind} data-metric='{esc(key)}'><td></td><td>{esc(key)}</td>"
            f"<td class='dir'>{esc(arrow)}</td>" + "".join(cells) + "</tr>"
        )
    return f"<table class='cmp'><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _run_figures(run, seed: int = 0) -> dict[str, str]:
    """The figures of one run, by kind: HTML (an image or a table), the same rows for every run."""
    from .cardview import curves_png
    from .decoded import Items, reconstruction_pngs, samples_body, why_not_decoded
    from .directions import TRAVERSE_DIRECTIONS, decode_traversal, item_traversal_html, ranked_dims
    from .interpretview import load

    out: dict[str, str] = {}
    history = run.read_json("history.json")
    curves = curves_png(history) if history else None
    out["Training curves"] = (
        img(curves, "training curves")
        if curves
        else f"<p class='muted'>{esc(run.model_name)} has no training epochs.</p>"
    )
    model = run.load_model()
    skipped = why_not_decoded(run, model)
    for kind in ("Originals and reconstructions", "Samples", "Latent traversal"):
        if kind in skipped:
            out[kind] = f"<p class='muted'>not shown: {esc(skipped[kind])}.</p>"
    if len(out) == 4:
        return out
    data = run.load_dataset()
    items = Items(data)
    Z = run.latent_matrix()
    table = run.latents()
    split = (
        np.asarray(table["split"].to_numpy(zero_copy_only=False)) if "split" in table.column_names else None
    )
    pool = (
        np.flatnonzero(split == "test")
        if split is not None and (split == "test").any()
        else np.arange(len(Z))
    )
    show = np.sort(np.random.default_rng(seed).choice(pool, size=min(8, len(pool)), replace=False))
    if "Originals and reconstructions" not in out:
        rec, _ = reconstruction_pngs(model, data, Z, show, items, tables=3)
        out["Originals and reconstructions"] = img(rec, "reconstructions") if isinstance(rec, bytes) else rec
    out["Samples"] = samples_body(model, seed, items)
    dims, how = ranked_dims(run, model, data, Z, load(run))
    chosen = [d for d in dims if not d.get("inactive")][:TRAVERSE_DIRECTIONS] or dims[:TRAVERSE_DIRECTIONS]
    base = np.asarray(Z[show[:1]], np.float32)
    T = np.stack([decode_traversal(model, d, base)[0] for d in chosen])  # (dirs, steps, d)
    if items.is_image:
        name = items.name(int(show[0]))
        out["Latent traversal"] = item_traversal_html(T, chosen, data, name, int(show[0]))
    else:
        from .directions import changed_features

        rows = "".join(
            f"<tr><th>{esc(d['title'])}</th><td>{changed_features(t[None], items.names, 3)}</td></tr>"
            for d, t in zip(chosen, T, strict=True)
        )
        out["Latent traversal"] = f"<table class='features'>{rows}</table>"
    return out


def _figures(runs) -> str:
    per_run = [_run_figures(r) for r in runs]
    cols = f"grid-template-columns:repeat({len(runs)},minmax(0,1fr))"
    parts = []
    for kind in ("Training curves", "Originals and reconstructions", "Samples", "Latent traversal"):
        cells = "".join(
            f"<figure data-run='{esc(r.name)}'><figcaption>{esc(r.name)}</figcaption>{f[kind]}</figure>"
            for r, f in zip(runs, per_run, strict=True)
        )
        parts.append(
            f"<h3>{esc(kind)}</h3><div class='side' data-kind='{esc(kind)}' style='{cols}'>{cells}</div>"
        )
    return "".join(parts)


def compare_html(
    header,
    body,
    best,
    title: str = "latentspace: runs compared",
    *,
    runs=None,
    out=None,
    figures: bool = True,
) -> str:
    """A self-contained HTML page comparing runs; ``header``, ``body`` and ``best`` as
    :func:`latentspace.metrics.card.compare_table` makes them (its header carries the runs when
    ``runs`` is not given); ``out``: where the page will be written (links are relative to it)."""
    runs = list(runs if runs is not None else getattr(header, "runs", None) or [])
    links = (
        "<p class='runs'>Reports: "
        + " · ".join(_link(r, None if out is None else Path(out)) for r in runs)
        + "</p>"
        if runs
        else ""
    )
    side = ""
    if runs and figures:
        side = (
            "<h2>Figures side by side</h2><p class='muted'>The same figure for every run, one column each;"
            " the"
            " same held-out items where items are shown.</p>" + _figures(runs)
        )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>{_report_css()}{STYLE}</style></head><body>
<h1>{esc(title)}</h1>{links}
<h2>Report cards</h2><p>★ marks the best value of a row where higher (↑) or lower (↓) is better and the
value was measured; a value a model family gets from its form is marked
<span class="built">by construction</span>
and never starred. Settings and reference values (grey) are not ranked.</p>
{_table(header, body, best, runs)}
{side}
</body></html>
"""
