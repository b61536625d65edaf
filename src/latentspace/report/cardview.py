"""The report card as a person reads it (grouped by family, each score with the way that is better,
its verdict when one fires, what a family gets by construction, parameters apart) and the training
curves (one axis per loss term, training and validation together)."""

from __future__ import annotations

import numpy as np

from .page import esc

_SKIP_KEYS = ("epoch", "seconds", "lr", "steps")


def card_html(card: dict | None, model_name: str = "", verdicts=()) -> str:
    """The card grouped by family (``metrics.card.grouped``) as HTML."""
    from ..metrics.card import fmt, grouped

    if not card:
        return "<p>No report card yet: run <code>latentspace evaluate RUN</code>.</p>"
    blocks, skipped = [], []
    for fam in grouped(card, model_name, verdicts):
        head = (
            f"<h3>{esc(fam.name)} <span class='question'>{esc(fam.question)}</span></h3>"
            if fam.question
            else f"<h3>{esc(fam.name)}</h3>"
        )
        if fam.skipped is not None:
            skipped.append(
                f"<li class='skipped' data-family='{esc(fam.name)}'><b>{esc(fam.name)}</b>:"
                f" {esc(fam.skipped)}</li>"
            )
            continue
        refs = {r.of: (k, v, r) for k, v, r in fam.references if r.of}
        rows, built = [], []
        for key, value, r, why, spread in fam.scores:
            shown = fmt(value) + (f" ± {fmt(spread)}" if spread is not None else "")
            better = {"↑": "↑ higher", "↓": "↓ lower"}.get(r.arrow, "")
            notes = []
            if isinstance(value, str):  # a score that could not be computed says why
                shown, notes = "n/a", [esc(value.removeprefix("n/a: "))]
            if key in refs:
                rk, rv, rr = refs.pop(key)
                notes.append(f"{esc(rr.meaning or rk)}: {esc(fmt(rv))}")
            if why:
                notes.append(f"<span class='built' title='{esc(why)}'>by construction</span>")
                if why not in built:
                    built.append(why)
            said = "".join(
                f"<div class='v sev-{esc(v.severity)}' data-verdict='{esc(v.id)}'><b>{esc(v.severity)}</b>:"
                f" {esc(v.text)}</div>"
                for v in fam.verdicts.get(key, [])
            )
            rows.append(
                f"<tr data-metric='{esc(key)}' data-better='{r.better}'>"
                f"<td>{esc(key)}<div class='meaning'>{esc(r.meaning)}</div></td>"
                f"<td class='num'>{esc(shown)}</td><td class='dir'>{better}</td>"
                f"<td class='notes'>{'<br>'.join(notes)}</td></tr>"
            )
            if said:  # a verdict on this value: the whole width under it
                rows.append(
                    f"<tr class='verdictrow' data-metric='{esc(key)}'><td colspan='4'>{said}</td></tr>"
                )
        params = [(k, v) for k, v, _ in refs.values()] + fam.parameters
        ptext = " · ".join(
            f"{esc(k)} {esc(fmt(v) if not isinstance(v, int) else f'{v:,}')}" for k, v in params
        )
        blocks.append(
            f"<div class='family' data-family='{esc(fam.name)}'>{head}"
            "<table class='card'><tr><th>score</th><th>value</th><th>better</th><th></th></tr>"
            + "".join(rows)
            + "</table>"
            + "".join(f"<p class='params built'>by construction: {esc(w)}.</p>" for w in built)
            + (f"<p class='params'>settings: {ptext}</p>" if ptext else "")
            + "</div>"
        )
    tail = (
        f"<p class='notmeasured'>Not measured:</p><ul class='skipped'>{''.join(skipped)}</ul>"
        if skipped
        else ""
    )
    return "<div class='cardgrid'>" + "".join(blocks) + "</div>" + tail


def headline_html(card: dict | None, model_name: str = "") -> str:
    """The first score of each measured family in one line at the top of the page (a run at a
    glance; the card below has the rest)."""
    from ..metrics.card import fmt, grouped

    if not card:
        return ""
    chips = []
    for fam in grouped(card, model_name):
        first = next((s for s in fam.scores if isinstance(s[1], int | float)), None)
        if first is None:
            continue
        key, value, r, why, _ = first
        extra = " (by construction)" if why else ""
        chips.append(
            f"<a class='kpi' href='#card' title='{esc(fam.name)}: {esc(r.meaning)}{esc(extra)}'>"
            f"<span>{esc(key)}</span> <b>{esc(fmt(value))}</b> <i>{r.arrow}</i></a>"
        )
    return f"<div class='kpis'>{''.join(chips)}</div>" if chips else ""


def curve_series(history: list[dict]) -> dict[str, dict[str, tuple[list, list]]]:
    """Loss terms of history.json: ``{term: {"training": (epochs, values), "validation": ...}}``;
    training values are ``train_<term>`` (or a bare ``<term>``), validation ones ``val_<term>``
    where the history has them."""
    if not history:
        return {}
    first = history[0]
    keys = [k for k in first if k not in _SKIP_KEYS and isinstance(first[k], int | float)]
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    out: dict[str, dict] = {}
    for term in sorted({k.removeprefix("val_").removeprefix("train_") for k in keys}):
        series = {}
        for split, names in (("training", (f"train_{term}", term)), ("validation", (f"val_{term}",))):
            key = next((k for k in names if k in first), None)
            if key is not None:
                series[split] = (epochs, [float(h.get(key, np.nan)) for h in history])
        out[term] = series
    return out


def curves_figure(history: list[dict]):
    """One axis per loss term with its training and validation curves and a legend (a matplotlib
    Figure, or None without terms)."""
    from .figures import _mpl

    series = curve_series(history)
    if not series:
        return None
    plt = _mpl()
    n = len(series)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.1 * rows), squeeze=False)
    style = {"training": ("#1f77b4", "-"), "validation": ("#d62728", "--")}
    for ax, (term, by_split) in zip(axes.flat, series.items(), strict=False):
        for split, (x, v) in by_split.items():
            colour, ls = style[split]
            ax.plot(x, v, ls, color=colour, lw=1.8, marker="o" if len(x) <= 30 else None, ms=3, label=split)
        vals = np.concatenate([np.asarray(v, float) for _, v in by_split.values()])
        vals = vals[np.isfinite(vals)]
        if len(vals) and vals.min() > 0 and vals.max() / vals.min() > 50:
            ax.set_yscale("log")  # a loss falling over decades reads better on a log axis
        ax.set_title(term, fontsize=10)
        ax.set_xlabel("epoch", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def curves_png(history: list[dict]) -> bytes | None:
    from .figures import _png

    fig = curves_figure(history)
    return None if fig is None else _png(fig)


def curves_caption(history: list[dict]) -> str:
    """What the curves say in numbers: last training and validation loss and the gap."""
    last = history[-1] if history else {}
    base = (
        "Each loss term per epoch on the training batches (blue) and the validation split (red,"
        " dashed) on one axis: a widening gap is overfitting, a flat start a learning rate too small."
    )
    train = last.get("train_loss", last.get("loss"))
    if isinstance(train, int | float) and isinstance(last.get("val_loss"), int | float):
        gap = last["val_loss"] - train
        base += (
            f" Last epoch ({last.get('epoch', len(history))}): training loss {train:.4g}, validation"
            f" {last['val_loss']:.4g} (gap {gap:+.3g}, {100 * gap / max(abs(train), 1e-12):+.1f}%)."
        )
    return base
