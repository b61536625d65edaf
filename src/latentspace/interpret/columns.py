"""The columns of a run that directions are compared with: its label, its factors (``factor_*``) and
its metadata (``meta_*``), each as a numeric or a categorical variable over the run's rows.

Numbers (factors, numeric metadata, times as seconds) are ``numeric``; labels, booleans, categories
and texts with at most ``MAX_CLASSES`` distinct values are ``categorical``. Anything else (free texts,
constant columns, columns of other types) is skipped with the reason. Missing values leave their
rows out of that column's comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_CLASSES = 50  # distinct values a text or category column may have to be compared by class
MAX_LABEL_CLASSES = 1000  # classes of the label column
MAX_COLUMNS = 64  # columns compared (the label, then factors, then metadata, in table order)
MIN_ROWS = 10  # rows with a value a column needs


@dataclass
class Column:
    """One variable: ``key`` (its column in latents.parquet), ``name`` (as shown), ``source``
    (label, factor or meta), ``kind`` (numeric or categorical), ``values`` (numbers, or class codes
    for categorical columns) on the rows where ``valid`` is True, and the class names."""

    key: str
    name: str
    source: str
    kind: str
    values: np.ndarray
    valid: np.ndarray
    classes: list[str] | None = None

    def describe(self) -> dict:
        out = {"key": self.key, "name": self.name, "source": self.source, "kind": self.kind}
        out["rows"] = int(self.valid.sum())
        if self.classes is not None:
            out["classes"] = len(self.classes)
        return out

    def class_name(self, code: int) -> str:
        return self.classes[int(code)] if self.classes is not None else str(code)


def _text(v) -> str:
    s = str(v)
    return s if len(s) <= 40 else s[:39] + "…"


def _categorical(key, name, source, arr, skipped, most) -> Column | None:
    """A column of hashable values (None: missing) -> a categorical Column, or None (skipped)."""
    valid = np.array([v is not None for v in arr], bool)
    present = [v for v in arr if v is not None]
    uniq = sorted(set(present), key=lambda v: (str(type(v)), v))
    if len(uniq) > most:
        skipped.append({"name": name, "why": f"{len(uniq):,} distinct values (more than {most})"})
        return None
    index = {v: i for i, v in enumerate(uniq)}
    codes = np.array([index[v] if v is not None else -1 for v in arr], np.int64)
    shown = [str(v).lower() if isinstance(v, bool) else _text(v) for v in uniq]
    return Column(key, name, source, "categorical", codes, valid, shown)


def _numeric(key, name, source, values) -> Column:
    values = np.asarray(values, np.float64)
    return Column(key, name, source, "numeric", values, np.isfinite(values))


def _time_seconds(col) -> np.ndarray | None:
    """A time or date column as float seconds (NaN where missing), or None when it cannot be."""
    import pyarrow as pa

    try:
        if pa.types.is_date(col.type):
            days = col.cast(pa.date32()).cast(pa.int32())
            return np.asarray(days.to_numpy(zero_copy_only=False), np.float64) * 86400.0
        ts = col.cast(pa.timestamp("us")).cast(pa.int64())
        return np.asarray(ts.to_numpy(zero_copy_only=False), np.float64) / 1e6
    except (pa.ArrowException, TypeError, ValueError):
        return None


def run_columns(table, config: dict) -> tuple[list[Column], list[dict]]:
    """The label, factor and metadata columns of a latents table (``config``: the run's
    config.json, for label names and metadata kinds), and the columns skipped with the reason."""
    import pyarrow as pa

    columns: list[Column] = []
    skipped: list[dict] = []
    names = table.column_names
    n = table.num_rows
    label_names = config["dataset"].get("label_names")
    if "label" in names:
        codes = np.asarray(table["label"].to_numpy(zero_copy_only=False), np.int64)
        uniq = np.unique(codes)
        if len(uniq) > MAX_LABEL_CLASSES:
            skipped.append({"name": "label", "why": f"{len(uniq):,} classes (more than {MAX_LABEL_CLASSES})"})
        else:
            named = label_names is not None and len(uniq) and 0 <= uniq[0] and uniq[-1] < len(label_names)
            classes = [_text(label_names[c]) if named else str(c) for c in uniq]
            columns.append(
                Column(
                    "label",
                    "label",
                    "label",
                    "categorical",
                    np.searchsorted(uniq, codes),
                    np.ones(n, bool),
                    classes,
                )
            )
    for key in names:
        if key.startswith("factor_"):
            columns.append(_numeric(key, key[len("factor_") :], "factor", table[key].to_numpy()))
    kinds = {m["name"]: m["kind"] for m in config.get("metadata", [])}
    factor_names = {c.name for c in columns if c.source == "factor"} | {"label"}
    for key in names:
        if not key.startswith("meta_"):
            continue
        name = key[len("meta_") :]
        shown = f"{name} (metadata)" if name in factor_names else name
        kind = kinds.get(name)
        col = table[key]
        if kind == "number":
            columns.append(
                _numeric(key, shown, "meta", col.cast(pa.float64()).to_numpy(zero_copy_only=False))
            )
        elif kind == "time":
            secs = _time_seconds(col)
            if secs is None:
                skipped.append({"name": shown, "why": f"times of type {col.type} are not compared"})
            else:
                columns.append(_numeric(key, shown, "meta", secs))
        elif kind in ("bool", "category", "text"):
            if pa.types.is_dictionary(col.type):
                col = col.cast(col.type.value_type)
            found = _categorical(key, shown, "meta", col.to_pylist(), skipped, MAX_CLASSES)
            if found is not None:
                columns.append(found)
        else:
            skipped.append({"name": shown, "why": f"a column of kind {kind} is not compared"})
    kept: list[Column] = []
    for c in columns:
        rows = int(c.valid.sum())
        vals = c.values[c.valid]
        if rows < MIN_ROWS:
            skipped.append({"name": c.name, "why": f"{rows} rows have a value (fewer than {MIN_ROWS})"})
        elif len(np.unique(vals)) < 2:
            skipped.append({"name": c.name, "why": "one value on every row"})
        elif len(kept) >= MAX_COLUMNS:
            skipped.append({"name": c.name, "why": f"over the {MAX_COLUMNS} columns compared"})
        else:
            kept.append(c)
    return kept, skipped
