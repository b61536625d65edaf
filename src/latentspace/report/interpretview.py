"""The report's interpret and sensitivity sections, drawn from interpret.json
(:class:`latentspace.interpret.Interpretation`): the named directions (name, strongest tie as
mutual information with a rank correlation or class shift, importance, a decoded traversal each),
and the decoder's most and least sensitive items before and after one small move, with numbers.
A run without interpret.json or without a decoder gets one line that says why."""

from __future__ import annotations

import numpy as np

from .directions import changed_features, strip_html
from .page import esc, figure, img

SHOWN_DIMS, SHOWN_PCS = 10, 4  # rows of the named-directions table
SENSITIVE_SHOWN = 4  # most and least sensitive items drawn


def load(run):
    """The run's Interpretation, or None when it has no interpret.json."""
    from ..interpret import read_interpretation

    return read_interpretation(run)


def _tie(a: dict, names: dict[str, str]) -> str:
    col = names.get(a["column"], a["column"])
    if "corr" in a:
        return f"{col}: MI {a['mi']:.2f}, ρ {a['corr']:+.2f}"
    return f"{col}: MI {a['mi']:.2f}, {a['hi']} vs {a['lo']} {a['shift']:.1f}σ"


def _importance(entry: dict, kind: str) -> str:
    if entry["kind"] == "pc":
        return f"{100 * entry['importance']:.1f}% of variance"
    return f"KL {entry['importance']:.3g} nats" if kind == "kl" else f"variance {entry['importance']:.3g}"


def interpret_section(run, model, data, Z, items, interp, has_decoder: bool) -> str:
    if interp is None:
        return figure(
            "Named directions",
            "",
            "<p class='absent' id='interpret-absent'>Not shown: this run has no interpret.json yet;"
            " run <code>latentspace interpret RUN</code> to name its directions.</p>",
            "interpret",
        )
    doc = interp.doc
    names = {c["key"]: c["name"] for c in doc["columns"]}
    kind = doc["importance"]["kind"]
    tr = doc.get("traversal", {})
    base_row = tr["rows"][0] if tr.get("rows") else 0
    base = np.asarray(Z[[base_row]], np.float32)
    shown = [d for d in interp.dims if not d["inactive"]][:SHOWN_DIMS] + interp.pcs[:SHOWN_PCS]
    strip_head = f"decoded from −2σ to +2σ around {esc(items.name(base_row))}" if has_decoder else ""
    rows = []
    for d in shown:
        tie = _tie(d["associations"][0], names) if d["associations"] else "—"
        decoded = ""
        if has_decoder:  # the effect (RMS output change) and the traversal itself
            effect = f"{d['effect']:.3g}" if "effect" in d else ""
            decoded = f"<td class='num'>{esc(effect)}</td><td>{strip_html(model, data, items, d, base)}</td>"
        rows.append(
            f"<tr data-direction='{esc(d['id'])}'><td>{esc(d['id'])}</td>"
            f"<td class='dname'>{esc(d['name'])}</td>"
            f"<td>{esc(tie)}</td><td class='num'>{esc(_importance(d, kind))}</td>{decoded}</tr>"
        )
    inactive = [d["id"] for d in interp.dims if d["inactive"]]
    cols = "".join(
        f"<li><b>{esc(c['name'])}</b> ({esc(c['source'])}): {esc(c['best'])}, MI {c['best_mi']:.2f}</li>"
        for c in doc["columns"]
        if c.get("best")
    )
    body = (
        f"<p class='summary'>{esc(doc['summary'])}</p>"
        + (f"<p>Each column's strongest direction:</p><ul class='cols'>{cols}</ul>" if cols else "")
        + "<div class='tablewrap'><table class='card named'><tr><th>direction</th><th>name</th>"
        "<th>strongest tie</th><th>importance</th>"
        + (f"<th>effect</th><th>{strip_head}</th>" if has_decoder else "")
        + "</tr>"
        + "".join(rows)
        + "</table></div>"
        + (
            f"<p class='absent'>{len(inactive)} inactive dimension{'s' if len(inactive) != 1 else ''}"
            f" not listed: {esc(', '.join(inactive[:12]))}{' …' if len(inactive) > 12 else ''}.</p>"
            if inactive
            else ""
        )
        + (
            ""
            if has_decoder
            else "<p class='absent' id='traversal-absent'>No decoded traversals: "
            f"{esc(tr.get('skipped', 'no decoder'))}.</p>"
        )
    )
    return figure(
        "Named directions",
        "Every latent dimension (z_*) and the leading principal directions of the latents (pc_*) compared"
        " with each label, factor and metadata column: normalised mutual information (1: the direction"
        " determines the column) with the rank correlation ρ for numbers or the gap between class means"
        " in standard deviations for categories; the strongest tie names the direction."
        + (" Effect: RMS change of the decoded output from −2σ to +2σ." if has_decoder else ""),
        body,
        "interpret",
    )


def sensitivity_section(model, Z, items, interp, has_decoder: bool, model_name: str = "") -> str:
    sens = None if interp is None else interp.doc.get("sensitivity")
    if interp is None or not has_decoder or sens is None or "skipped" in sens:
        why = (
            "this run has no interpret.json yet (run `latentspace interpret RUN`)"
            if interp is None
            else (sens or {}).get("skipped") or "this run has no decoder"
        )
        return figure(
            "Decoder sensitivity",
            "",
            f"<p class='absent' id='sensitivity-absent'>Not shown: {esc(why)}.</p>",
            "sensitivity",
        )
    most = sens["most"][:SENSITIVE_SHOWN]
    least = sens["least"][:SENSITIVE_SHOWN]
    picked = most + least
    rows = [p["row"] for p in picked]
    before, after = interp.moved_latents(rows, Z)
    Xb = np.asarray(model.decode(before), np.float64)
    Xa = np.asarray(model.decode(after), np.float64)
    change = np.sqrt(((Xa - Xb) ** 2).mean(1))
    labels = [
        f"{'most' if k < len(most) else 'least'}: {items.name(p['row'])}\ns={p['value']:.3g}, Δ={c:.3g}"
        for k, (p, c) in enumerate(zip(picked, change, strict=True))
    ]
    if items.is_image:
        png = items.grid(
            np.stack([Xb, Xa]),
            title=f"a move of {sens['move']['size']:.3g} in latent space, same direction for every item",
            row_labels=["before", "after"],
            col_labels=labels,
        )
        body = img(png, "most and least sensitive items before and after a small move")
    else:
        trs = "".join(
            f"<tr><td>{esc(lab.splitlines()[0])}</td><td class='num'>{p['value']:.3g}</td>"
            f"<td class='num'>{c:.3g}</td>"
            f"<td>{changed_features(np.stack([b, a])[None], items.names, 3)}</td></tr>"
            for lab, p, c, b, a in zip(labels, picked, change, Xb, Xa, strict=True)
        )
        body = (
            "<table class='card'><tr><th>item</th><th>sensitivity</th><th>RMS change</th>"
            "<th>features that change most (before → after)</th></tr>" + trs + "</table>"
        )
    by_label = sens.get("by_label") or []
    if by_label:
        top = sorted(by_label, key=lambda b: -b["median"])
        body += (
            "<p class='bylabel'>median sensitivity per label: "
            + ", ".join(f"{esc(str(b['label']))}: {b['median']:.3g}" for b in top[:12])
            + (" …" if len(top) > 12 else "")
            + "</p>"
        )
    ratio = sens["max"] / max(sens["min"], 1e-12)
    if ratio < 1.01:  # no extremes to show: say why before the ties
        from ..metrics.card import by_construction

        why = by_construction(model_name, "lipschitz")
        body = (
            "<p class='built' id='sensitivity-flat'>Every item is equally sensitive"
            f" (most / least {ratio:.4f})"
            + (f", by construction: {esc(why)}" if why else "")
            + "; the items below are ties, shown for the size of the move.</p>"
            + body
        )
    return figure(
        "Decoder sensitivity",
        f"How much the decoded output changes per unit of latent move (RMS over {sens['directions']}"
        f" random directions) on {sens['rows']:,} items: median {sens['median']:.3g}, 10-90% range"
        f" {sens['p10']:.3g}-{sens['p90']:.3g}, the most sensitive item {ratio:.3g} times the least."
        " Above, the most and least sensitive items before and after the same small move (s: sensitivity,"
        " Δ: RMS change of the output): where a small move changes a lot, distances in latent space"
        " say little.",
        body,
        "sensitivity",
    )
