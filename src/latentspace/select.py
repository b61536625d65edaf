"""Row selections such as ``label==3`` or ``factor_scale>=0.8 and split==train`` over a run's table."""

from __future__ import annotations

import operator
import re

import numpy as np

from .errors import InputError

_OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_CLAUSE = re.compile(r"^\s*([A-Za-z_]\w*)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")


def _value(text: str):
    text = text.strip().strip("'\"")
    try:
        return float(text)
    except ValueError:
        return text


def select_rows(columns: dict[str, np.ndarray], expr: str, label_names=None) -> np.ndarray:
    """Boolean mask of the rows where every ``COLUMN OP VALUE`` clause (joined by ``and``) holds.

    ``columns`` maps names to equal-length arrays; ``label==cat`` works when ``label_names`` is
    given. An unknown column, a malformed clause, or a selection of no rows is an error.
    """
    n = len(next(iter(columns.values())))
    mask = np.ones(n, dtype=bool)
    for clause in re.split(r"\s+and\s+", expr.strip()):
        m = _CLAUSE.match(clause)
        if m is None:
            raise InputError(
                f"cannot read {clause!r} in {expr!r}: write COLUMN OP VALUE with OP one of"
                f" {' '.join(_OPS)}, joined by 'and' (e.g. label==3 and split==test)"
            )
        name, op, raw = m.groups()
        if name not in columns:
            raise InputError(f"unknown column {name!r} in {expr!r}; columns: {', '.join(columns)}")
        col, value = np.asarray(columns[name]), _value(raw)
        if isinstance(value, str) and name == "label" and label_names and value in label_names:
            value = float(label_names.index(value))
        if isinstance(value, str) != (col.dtype.kind in "OUS"):
            kind = "text" if col.dtype.kind in "OUS" else "numbers"
            raise InputError(f"column {name!r} holds {kind}; cannot compare it with {raw!r}")
        mask &= _OPS[op](col, value)
    if not mask.any():
        raise InputError(f"{expr!r} selects no rows (of {n})")
    return mask
