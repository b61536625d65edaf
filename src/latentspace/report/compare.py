"""The comparison page of ``latentspace compare``: one self-contained HTML table of report cards."""

from __future__ import annotations

import html

from ..metrics.card import fmt


def compare_html(header, body, best, title: str = "latentspace: runs compared") -> str:
    """A self-contained HTML page with the comparison table (best value per row marked); ``header``,
    ``body`` and ``best`` as :func:`latentspace.metrics.card.compare_table` makes them."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    lines = []
    for row, b in zip(body, best, strict=True):
        cells = [f"<td>{esc(fmt(row[0]))}</td>", f"<td>{esc(fmt(row[1]))}</td>"]
        for i, v in enumerate(row[2:]):
            mark = ' class="best"' if b == i else ""
            cells.append(f"<td{mark}>{esc(fmt(v))}{' ★' if b == i else ''}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:nth-child(-n+2){{text-align:left}}
th{{background:#f3f3f3}}.best{{font-weight:bold;background:#e8f5e9}}</style></head><body>
<h1>{esc(title)}</h1><p>★ marks the best value of each row where higher or lower is clearly better.</p>
<table><thead><tr>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table></body></html>
"""
