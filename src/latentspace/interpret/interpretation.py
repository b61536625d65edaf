"""What interpret.json holds, built from arrays: :func:`interpret_latents` (latents, the columns to
compare with, optionally KL per dimension and a decoder) -> the document; :class:`Interpretation`
reads it back (names, slider order, the table the CLI prints, traversal latents).

The document (``schema_version`` 1; checked by ``runfolder.checks.INTERPRET_SCHEMA`` when read)::

    {"schema_version": 1, "seed": 0, "latent_dim": L, "n_rows": n, "rows_used": m,
     "importance": {"kind": "kl" | "variance", "rule": "KL < 0.01 nats", "rows": ..., "split": ...},
     "mi": {"estimator": ..., "bins": b, "normalised_by": ...},
     "columns": [{"key": "factor_scale", "name": "scale", "source": "factor", "kind": "numeric",
                  "rows": m, "best": "z_3", "best_mi": 0.61}, ...],
     "skipped_columns": [{"name": ..., "why": ...}],
     "dims": [{"id": "z_3", "kind": "dim", "index": 3, "importance": 0.81, "variance": 1.02,
               "spread": 1.01, "inactive": false, "name": "scale up", "title": "z_3: scale up, MI 0.61",
               "score": 0.61, "column": "factor_scale", "associations": [{"column": ..., "mi": ...,
               "corr": ...} | {"column": ..., "mi": ..., "shift": ..., "hi": ..., "lo": ...}],
               "kl": 0.81, "effect": 0.12}, ...],          # most important first
     "pcs": [{"id": "pc_1", "kind": "pc", "index": 1, "importance": 0.31 (share of variance),
              "vector": [L numbers], ...}, ...],
     "traversal": {"skipped": why} | {"rows": [...], "offsets": [...], "directions": ["z_3", ...]},
     "sensitivity": {"skipped": why} | {see interpret.sensitivity},
     "summary": "one line"}
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .association import n_bins
from .named import ASSOCIATIONS, associations, importance, name, principal_directions

SCHEMA_VERSION = 1
FILE = "interpret.json"
MAX_DIMS = 1024  # dimensions listed (the most important); the rest are counted in the summary
MAX_PCS = 32  # principal directions at most
ESTIMATOR = (
    "plug-in mutual information of the direction in equal-frequency bins and the column's codes"
    " (its values when few, else equal-frequency bins), Miller-Madow corrected"
)
NORMALISED_BY = "the entropy of the discretised column (1: the direction determines it)"
NO_DECODER = "this run has no decoder: no traversal or sensitivity (names and ties only)"


def _r(x: float) -> float:
    """A float kept to 6 significant digits (a smaller, stable file)."""
    return float(f"{float(x):.6g}")


def _ties(ties: list[dict]) -> list[dict]:
    out = []
    for t in ties[:ASSOCIATIONS]:
        d = {"column": t["column"], "mi": _r(t["mi"])}
        if "corr" in t:
            d["corr"] = _r(t["corr"])
        else:
            d.update(shift=_r(t["shift"]), hi=t["hi"], lo=t["lo"])
        out.append(d)
    return out


def interpret_latents(
    Z: np.ndarray,
    columns: list,
    *,
    skipped_columns: list[dict] | None = None,
    rows: np.ndarray | None = None,
    n_rows: int | None = None,
    kl: np.ndarray | None = None,
    kl_rows: int | None = None,
    kl_split: str | None = None,
    pcs: int = 8,
    decode=None,
    no_decoder: str = NO_DECODER,
    traverse: int = 8,
    items: list[int] | None = None,
    steps: int = 7,
    span: float = 2.0,
    sensitivity_rows: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    class_names: list[str] | None = None,
    seed: int = 0,
) -> dict:
    """The interpret.json document of latents ``Z`` (n, L: every row of the run).

    ``columns``: the Columns to compare with, over the rows ``rows`` (default: all) of ``Z``;
    ``kl``: KL per dimension (a VAE's, measured on ``kl_rows`` rows of split ``kl_split``), else
    importance is variance; ``decode``: the decoder (latents -> outputs), or None with the reason
    ``no_decoder``; ``traverse``: directions traversed (the most important active dimensions, then
    principal directions, half each at most) at ``steps`` offsets in -``span``..``span`` standard
    deviations around the latents of the rows ``items``; ``sensitivity_rows``: the rows whose
    decoder sensitivity is measured; ``labels`` / ``class_names``: label codes of every row."""
    Z = np.asarray(Z, np.float32)
    n, L = Z.shape
    rows = np.arange(n) if rows is None else np.asarray(rows, np.int64)
    Zs = Z[rows].astype(np.float64)
    bins = n_bins(len(rows))
    imp = importance(Z, kl)
    pca = principal_directions(Zs, min(int(pcs), MAX_PCS), seed)
    listed = imp["order"][:MAX_DIMS]
    V = np.concatenate([Zs[:, listed], (Zs - pca["mean"]) @ pca["vectors"].T], axis=1)
    ties = associations(V, columns, bins)
    shown = {c.key: c.name for c in columns}
    dims: list[dict] = []
    for pos, j in enumerate(listed):
        ident = f"z_{j}"
        why = None
        if imp["inactive"][j]:
            why = (
                f"KL {imp['score'][j]:.3g} nats"
                if imp["kind"] == "kl"
                else f"variance {imp['variance'][j]:.3g}"
            )
        short, title = name(ident, ties[pos], shown, why)
        entry = {
            "id": ident,
            "kind": "dim",
            "index": int(j),
            "importance": _r(imp["score"][j]),
            "variance": _r(imp["variance"][j]),
            "spread": _r(np.sqrt(imp["variance"][j])),
            "inactive": bool(imp["inactive"][j]),
            "name": short,
            "title": title,
            "score": _r(ties[pos][0]["mi"]) if ties[pos] else 0.0,
            "associations": _ties(ties[pos]),
        }
        if kl is not None:
            entry["kl"] = _r(kl[j])
        if short not in ("inactive", "unnamed"):
            entry["column"] = ties[pos][0]["column"]
        dims.append(entry)
    pc_list: list[dict] = []
    for p in range(len(pca["variance"])):
        ident = f"pc_{p + 1}"
        t = ties[len(listed) + p]
        short, title = name(ident, t, shown)
        entry = {
            "id": ident,
            "kind": "pc",
            "index": p + 1,
            "importance": _r(pca["ratio"][p]),
            "variance": _r(pca["variance"][p]),
            "spread": _r(np.sqrt(pca["variance"][p])),
            "inactive": False,
            "name": short,
            "title": title,
            "score": _r(t[0]["mi"]) if t else 0.0,
            "associations": _ties(t),
            "vector": [_r(v) for v in pca["vectors"][p]],
        }
        if short != "unnamed":
            entry["column"] = t[0]["column"]
        pc_list.append(entry)
    by_id = {d["id"]: d for d in dims + pc_list}
    entries = dims + pc_list
    col_out = []
    for c in columns:  # the active direction with the highest MI with each column
        best_mi, best_id = -1.0, None
        for entry, t in zip(entries, ties, strict=True):
            mi = next((a["mi"] for a in t if a["column"] == c.key), 0.0)
            if not entry["inactive"] and mi > best_mi:
                best_mi, best_id = mi, entry["id"]
        record = c.describe()
        if best_id is not None:
            record.update(best=best_id, best_mi=_r(best_mi))
        col_out.append(record)
    doc = {
        "schema_version": SCHEMA_VERSION,
        "seed": int(seed),
        "latent_dim": int(L),
        "n_rows": int(n),
        "rows_used": int(len(rows)),
        "importance": {"kind": imp["kind"], "rule": imp["rule"]},
        "mi": {"estimator": ESTIMATOR, "bins": int(bins), "normalised_by": NORMALISED_BY},
        "columns": col_out,
        "skipped_columns": list(skipped_columns or [])[:1024],
        "dims": dims,
        "pcs": pc_list,
    }
    if kl is not None:
        doc["importance"].update(rows=int(kl_rows or n), split=kl_split or "all")
    if decode is None:
        doc["traversal"] = {"skipped": no_decoder}
        doc["sensitivity"] = {"skipped": no_decoder}
    else:
        doc["traversal"] = _traversal(decode, Z, dims, pc_list, traverse, items, steps, span, by_id)
        from .sensitivity import sensitivity

        sens_rows = rows if sensitivity_rows is None else np.asarray(sensitivity_rows, np.int64)
        doc["sensitivity"] = sensitivity(
            decode, Z, sens_rows, labels=labels, class_names=class_names, seed=seed
        )
    doc["summary"] = summary(doc, shown, len(imp["order"]))
    return doc


def _traversal(decode, Z, dims, pcs, count, items, steps, span, by_id) -> dict:
    """Which directions are traversed around which rows, and each one's effect: the RMS change of
    the decoded output from -span to +span, averaged over the rows (set in the direction's entry)."""
    active = [d["id"] for d in dims if not d["inactive"]]
    count = max(0, int(count))
    n_pc = min(len(pcs), count // 2)
    chosen = active[: count - n_pc] + [p["id"] for p in pcs[:n_pc]]
    items = [int(i) for i in (items or [])]
    offsets = np.linspace(-span, span, int(steps))
    record = {
        "rows": items,
        "offsets": [_r(o) for o in offsets],
        "unit": "standard deviations of the latents along each direction",
        "directions": chosen,
    }
    if not chosen or not items:
        return record
    ends = np.array([-span, span], np.float32)
    for ident in chosen:
        pts = traversal_points(by_id[ident], Z[items], ends, Z.shape[1])  # (items, 2, L)
        out = np.asarray(decode(pts.reshape(-1, Z.shape[1])), np.float64).reshape(len(items), 2, -1)
        by_id[ident]["effect"] = _r(np.sqrt(((out[:, 1] - out[:, 0]) ** 2).mean(1)).mean())
    return record


def unit_vector(entry: dict, latent_dim: int) -> np.ndarray:
    """The unit vector of a direction entry: the axis of a dimension, a principal direction's vector."""
    if entry["kind"] == "dim":
        u = np.zeros(latent_dim, np.float32)
        u[entry["index"]] = 1.0
        return u
    return np.asarray(entry["vector"], np.float32)


def traversal_points(entry: dict, base: np.ndarray, offsets, latent_dim: int) -> np.ndarray:
    """Latents ``base`` (k, L) moved along the direction ``entry`` by ``offsets`` times its spread:
    (k, len(offsets), L) float32."""
    u = unit_vector(entry, latent_dim) * np.float32(entry["spread"])
    off = np.asarray(offsets, np.float32)
    return (np.asarray(base, np.float32)[:, None, :] + off[None, :, None] * u[None, None, :]).astype(
        np.float32
    )


def summary(doc: dict, shown: dict[str, str], n_dims: int) -> str:
    """One line: dimensions and inactive ones, how importance was measured, the strongest named
    ties, and the sensitivity's median."""
    inactive = [d["id"] for d in doc["dims"] if d["inactive"]]
    parts = [f"{n_dims} dimension" + ("" if n_dims == 1 else "s")]
    if inactive:
        listed = ", ".join(inactive[:6]) + (", ..." if len(inactive) > 6 else "")
        parts[0] += f" ({len(inactive)} inactive: {listed})"
    imp = doc["importance"]
    parts.append(
        "ordered by variance"
        if imp["kind"] != "kl"
        else f"ordered by KL on {imp['rows']:,} held-out rows"
        if imp["split"] == "test"
        else f"ordered by KL on {imp['rows']:,} rows (no held-out split)"
    )
    if n_dims > len(doc["dims"]):
        parts.append(f"{len(doc['dims'])} listed")
    ties = [f"{c['name']} → {c['best']} (MI {c['best_mi']:.2f})" for c in doc["columns"] if c.get("best")]
    if ties:
        parts.append("strongest: " + ", ".join(ties[:4]) + (", ..." if len(ties) > 4 else ""))
    elif not doc["columns"]:
        parts.append("no label, factor or metadata to name directions by")
    sens = doc.get("sensitivity", {})
    if "median" in sens:
        top = sens["most"][0]
        parts.append(
            f"decoder sensitivity median {sens['median']:.3g} (max {top['value']:.3g} at row {top['row']})"
        )
    else:
        parts.append("no decoder: no traversal or sensitivity")
    return "; ".join(parts)


@dataclass
class Interpretation:
    """interpret.json of a run, read or just written: ``doc`` (the document) and ``path`` (where it
    is, or None)."""

    doc: dict
    path: object = None

    @property
    def dims(self) -> list[dict]:
        """The latent dimensions, most important first."""
        return self.doc["dims"]

    @property
    def pcs(self) -> list[dict]:
        """The leading principal directions (pc_1 first)."""
        return self.doc["pcs"]

    @property
    def summary(self) -> str:
        return self.doc["summary"]

    def direction(self, ident: str) -> dict:
        """The entry of ``z_3`` or ``pc_1``."""
        for d in self.dims + self.pcs:
            if d["id"] == ident:
                return d
        raise KeyError(ident)

    def names(self) -> dict[str, str]:
        """Direction id -> short name."""
        return {d["id"]: d["name"] for d in self.dims + self.pcs}

    def best(self, column: str) -> dict | None:
        """The active direction (dimension or principal direction) with the highest MI with
        ``column`` (a key such as ``factor_scale`` or ``label``, or its shown name)."""
        for c in self.doc["columns"]:
            if column in (c["key"], c["name"]) and c.get("best"):
                return self.direction(c["best"])
        return None

    def sliders(self) -> list[dict]:
        """The explorer's sliders: ``{"dim", "name", "score", "inactive"}`` per dimension, most
        important first."""
        return slider_dimensions(self.doc)

    def traversal_latents(self, ident: str, Z: np.ndarray) -> np.ndarray:
        """The latents of the stored traversal along ``ident`` around its rows, (rows, steps, L),
        from the run's latents ``Z``."""
        tr = self.doc["traversal"]
        if "skipped" in tr:
            raise ValueError(tr["skipped"])
        base = np.asarray(Z, np.float32)[np.asarray(tr["rows"], np.int64)]
        return traversal_points(self.direction(ident), base, tr["offsets"], self.doc["latent_dim"])

    def moved_latents(self, rows, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The latents of ``rows`` and the same after the sensitivity record's small move, each
        (len(rows), L): what the report decodes to show items before and after (for instance the
        rows of ``doc["sensitivity"]["most"]`` and ``["least"]``)."""
        from .sensitivity import moved_latents

        sens = self.doc["sensitivity"]
        if "skipped" in sens:
            raise ValueError(sens["skipped"])
        return moved_latents(sens, Z, rows)

    def to_dict(self) -> dict:
        return self.doc


def slider_dimensions(doc: dict) -> list[dict]:
    """``[{"dim": 3, "name": "scale up", "score": 0.61, "inactive": false}, ...]`` in importance order."""
    return [
        {"dim": d["index"], "name": d["name"], "score": d["score"], "inactive": d["inactive"]}
        for d in doc["dims"]
    ]


def read_interpretation(run) -> Interpretation | None:
    """The interpret.json of ``run`` (an open Run), checked (checksum, schema, consistency with the
    run), or None when it has none."""
    from ..runfolder import checks

    doc = run.read_json(FILE)
    if doc is None:
        return None
    checks.check_interpretation(doc, run.config, run.path / FILE)
    return Interpretation(doc, run.path / FILE)
