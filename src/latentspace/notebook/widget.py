"""The map as a notebook widget (anywidget: Jupyter, JupyterLab, VS Code, Colab).

The front end is the explorer's own code, not a copy: the widget's ES module is assembled here, once,
from the package's ``web/static/scatter.js`` and ``scatter_splat.js`` (the map), ``columns.js``
(colours, cross-filter, search) and ``panels.js`` (filter cards, legend, colour bar), each evaluated
inside a scope of its own (they export onto ``window``; here onto that scope, so the page's ``window``
keeps nothing of them), followed by ``notebook/static/widget.js``, which lays them out and talks to Python.

Data travel as binary buffers: the map's x and y as float32 bytes traits, category codes and numbers
as bytes inside ``_columns`` (ipywidgets sends every ``bytes`` of a synced value as a buffer), so a
100,000-point map is 0.8 MB of positions and no JSON lists. Everything else the page asks for as
custom messages (:mod:`.source`).
"""

from __future__ import annotations

import weakref
from importlib import resources

from ..errors import MissingDependencyError

INSTALL = "pip install 'latentspace[notebook]'"
try:
    import anywidget
    import traitlets
except ImportError:  # pragma: no cover - the notebook extra is missing
    raise MissingDependencyError(f"ls.show needs anywidget: {INSTALL}") from None

# the explorer's scripts the widget runs
SHARED = ("scatter.js", "scatter_splat.js", "columns.js", "panels.js")


def _text(package: str, name: str) -> str:
    return resources.files(package).joinpath("static", name).read_text(encoding="utf-8")


def build_esm() -> str:
    """The widget's ES module: a scope, the explorer's scripts evaluated into it, the widget."""
    scope = (
        "// the explorer's scripts export onto `window`: here onto a scope of their own, which passes\n"
        "// everything else through to the page's window (functions bound to it)\n"
        "const __ls = (() => { const own = {}; return new Proxy(own, {\n"
        "  get: (t, k) => { if (k in own) return own[k]; const v = window[k];\n"
        "    return typeof v === 'function' && !/^[A-Z]/.test(String(k)) ? v.bind(window) : v; },\n"
        "  has: (t, k) => k in own || k in window,\n"
        "  set: (t, k, v) => { own[k] = v; return true; } }); })();\n"
    )
    parts = [scope]
    for name in SHARED:
        text = _text("latentspace.web", name)
        parts.append(f"// --- web/static/{name}\n(function (window) {{\n{text}\n}})(__ls);\n")
    parts.append("// --- notebook/static/widget.js\n" + _text("latentspace.notebook", "widget.js"))
    return "\n".join(parts)


class LatentMapWidget(anywidget.AnyWidget):
    """The map of a run, inline: hover, colour, search, filter, click to decode, lasso to select.

    Attributes
    ----------
    selection : list of int
        The selected rows (a lasso, a click on a point, or set from Python), synced both ways.
    """

    _esm = build_esm()
    _css = _text("latentspace.notebook", "widget.css")
    x = traitlets.Bytes(b"").tag(sync=True)  # float32, one per row
    y = traitlets.Bytes(b"").tag(sync=True)
    _run = traitlets.Dict().tag(sync=True)  # MapSource.describe()
    _columns = traitlets.List().tag(sync=True)  # MapSource.columns(): raw bytes inside
    selection = traitlets.List(traitlets.Int()).tag(sync=True)
    height = traitlets.Int(460).tag(sync=True)
    color_by = traitlets.Unicode("").tag(sync=True)  # a column key ("label", "meta:<name>", "latent:3")

    def __init__(self, source, height: int = 460, color_by: str | None = None):
        x, y = source.positions()
        run, columns = source.describe(), source.columns()
        super().__init__(x=x, y=y, _run=run, _columns=columns, height=height, color_by=color_by or "")
        self._source = source
        self._finalizer = weakref.finalize(self, source.close)
        self.on_msg(self._on_request)

    @traitlets.validate("selection")
    def _valid_selection(self, proposal):
        rows = sorted({int(i) for i in proposal["value"]})
        n = self._source.state.n if hasattr(self, "_source") else None
        if rows and n is not None and not (0 <= rows[0] and rows[-1] < n):
            bad = rows[0] if rows[0] < 0 else rows[-1]
            raise traitlets.TraitError(f"selection: row {bad} is out of range; this run has rows 0..{n - 1}")
        return rows

    @property
    def state(self):
        """The explorer's RunState behind the widget (the run, its model, latents and map)."""
        return self._source.state

    def selected_metadata(self):
        """The selected rows' label and metadata, as a pyarrow Table (``row`` first)."""
        import pyarrow as pa

        rows = pa.array(self.selection, pa.int64())
        s = self.state
        cols = {"row": rows}
        if s.data.y is not None:
            cols["label"] = pa.array(s.items.labels(self.selection), pa.string())
        meta = s.run.metadata().take(rows)
        for name in meta.column_names:
            cols.setdefault(name, meta[name])
        return pa.table(cols)

    def _on_request(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict):
            return
        body, buffers = self._source.answer(content)
        self.send({"id": content.get("id"), **body}, buffers)

    def close(self) -> None:
        super().close()
        self._finalizer()
