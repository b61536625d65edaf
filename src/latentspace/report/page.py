"""The report's page: sections with a title and a sentence, the verdict box, the folded
configuration, and the assembly of one self-contained HTML file (styles and scripts inlined from
``web/static``: the scatter component, the report's map and tooltip code)."""

from __future__ import annotations

import base64
import html
import json
from datetime import datetime, timezone
from importlib import resources

esc = html.escape


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def img(png: bytes, alt: str, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<img{klass} alt="{esc(alt)}" src="data:image/png;base64,{b64(png)}">'


def figure(title: str, caption: str, body: str, fig_id: str = "") -> str:
    """One section: its title, its body, and the sentence that says what to look for."""
    ident = f' id="{fig_id}"' if fig_id else ""
    return (
        f"<section class='fig'{ident}><h2>{esc(title)}</h2>{body}"
        f"<p class='caption'>{esc(caption)}</p></section>"
    )


def verdicts_html(run) -> str:
    """The run's verdicts (interpret/verdicts.py: too few steps, collapsed units, a map not to read
    distances on, a GAN's own findings...), one sentence each, at the top of the page."""
    from ..interpret.verdicts import WARNING, from_run, model_failed

    said = from_run(run)
    if not said:
        return ""
    items = "".join(
        f"<li data-verdict='{esc(v.id)}'><strong>{esc(v.severity)}</strong>: {esc(v.text)}</li>" for v in said
    )
    warnings = sum(v.severity == WARNING for v in said)
    title = (
        f"{warnings} warning{'s' if warnings != 1 else ''} on this run" if warnings else "Notes on this run"
    )
    if model_failed(said):
        title = "This model has failed"
    kind = "warn" if warnings else "notes"
    return f"<div class='verdict {kind}' role='alert'><strong>{title}:</strong><ul>{items}</ul></div>"


def note_html(run, model) -> str:
    from ..runfolder.items import no_decoder_note

    note = no_decoder_note(run, model)
    return f"<p class='note' id='note'>{esc(note)}.</p>" if note else ""


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list | dict):
        return json.dumps(v, default=str)
    return str(v)


def config_summary(config: dict) -> str:
    """One line a person reads first: the model and its main settings, the data, the split, the seed."""
    model = config.get("model", {})
    p = model.get("params", {})
    info = config.get("info", {}) or {}
    ds = config.get("dataset", {})
    split = config.get("split", {})
    bits = [f"{config.get('latent_dim', '?')}-d latent"]
    if p.get("arch"):
        bits.append(f"{p['arch']} {'-'.join(str(h) for h in p.get('hidden') or [])}".strip())
    for key, label in (("epochs_run", "epochs"), ("steps", "steps")):
        if key in info:
            bits.append(f"{info[key]:,} {label}")
    if "lr" in p:
        bits.append(f"lr {p['lr']:g}")
    if "beta" in p:
        bits.append(f"β {p['beta']:g}")
    scale = info.get("scale") or p.get("scale")
    if scale and scale != "none":
        bits.append(f"{scale} scaling")
    data = f"{ds.get('name', '?')} ({ds.get('n', 0):,} items x {ds.get('d', 0):,} features)"
    parts = f"{model.get('name', '?')} ({', '.join(bits)}) on {data}"
    if "n_train" in split:
        parts += f"; {split['n_train']:,} train / {split.get('n_test', 0):,} test"
    return parts + f"; seed {config.get('seed', 0)}"


def _kv_table(rows: dict, cls: str = "kv") -> str:
    body = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(_value(v))}</td></tr>" for k, v in rows.items())
    return f"<table class='{cls}'>{body}</table>"


def config_section(config: dict) -> str:
    """The configuration folded: a summary line, then tables (model, data, split, versions), then
    the whole JSON folded once more."""
    config = {k: v for k, v in config.items() if k not in ("files", "config_sha256")}
    ds = {
        k: v
        for k, v in (config.get("dataset") or {}).items()
        if k not in ("label_names", "feature_names", "factor_names") or v
    }
    if isinstance(ds.get("label_names"), list) and len(ds["label_names"]) > 12:
        ds["label_names"] = ds["label_names"][:12] + [f"… {len(ds['label_names']) - 12} more"]
    groups = [
        ("model parameters", (config.get("model") or {}).get("params") or {}),
        ("what training learned", config.get("info") or {}),
        ("data", ds),
        ("split", config.get("split") or {}),
        ("versions", config.get("versions") or {}),
    ]
    tables = "".join(
        f"<div class='kvbox'><h4>{esc(title)}</h4>{_kv_table(rows)}</div>" for title, rows in groups if rows
    )
    raw = esc(json.dumps(config, indent=1, default=str))
    body = (
        f"<details class='config' id='config'><summary>{esc(config_summary(config))}</summary>"
        f"<div class='kvgrid'>{tables}</div>"
        f"<details class='raw'><summary>config.json as stored</summary><pre>{raw}</pre></details>"
        "</details>"
    )
    return figure(
        "Configuration",
        "Everything needed to reproduce the run (model parameters, data and its checksum, split and"
        " seed, versions); click the line to unfold it.",
        body,
        "configuration",
    )


def page(run, data, Z, sections: list[str], *, model=None, lead: str = "") -> str:
    """The whole page around ``sections``; ``lead``: HTML shown under the verdicts (the headline
    numbers)."""
    static = resources.files("latentspace.web").joinpath("static")
    scripts = ("scatter.js", "scatter_splat.js", "report.js")
    if any("id='map3d'" in s for s in sections):  # the 3-D map's scripts, only where one is shown
        scripts += ("scatter3d.js", "scatter3d_screen.js", "report3d.js")
    js = "".join(static.joinpath(name).read_text() for name in scripts)
    css = static.joinpath("report.css").read_text()
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (
        f"{esc(run.model_name)} on {esc(str(data.name))}: {len(Z):,} items, "
        f"{Z.shape[1]}-d latent; report written {created}"
    )
    nav = "".join(f"<a href='#{ident}'>{esc(title)}</a>" for ident, title in _section_titles(sections))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>latentspace report: {esc(run.name)}</title><style>{css}</style></head><body>"
        f"<h1>{esc(run.name)}</h1><p class='sub'>{head}</p>"
        + (f"<nav class='toc'>{nav}</nav>" if nav else "")
        + (note_html(run, model) if model is not None else "")
        + verdicts_html(run)
        + lead
        + "".join(sections)
        + f"<script>{js}</script>"
        "<script>if(!window.LatentScatter){var f=document.getElementById('mapfallback');"
        "if(f)f.style.display='block';}</script></body></html>"
    )


def _section_titles(sections: list[str]) -> list[tuple[str, str]]:
    import re

    out = []
    for s in sections:
        m = re.match(r"<section class='fig' id=\"([^\"]+)\"><h2>(.*?)</h2>", s)
        if m:
            out.append((m.group(1), html.unescape(m.group(2))))
    return out
