"""Declarative parameter checks: each model lists its allowed values in one table.

``_param_rules = {"n_components": Int(1), "svd_solver": OneOf("auto", "full")}`` and
:func:`validate_params` raises one :class:`InputError` naming the model, parameter and range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError


@dataclass(frozen=True)
class Int:
    low: int | None = None
    high: int | None = None
    allow_none: bool = False

    def check(self, v) -> str | None:
        if v is None and self.allow_none:
            return None
        if isinstance(v, bool) or not isinstance(v, int | _np_int()):
            return f"an int in {self.describe()}"
        if (self.low is not None and v < self.low) or (self.high is not None and v > self.high):
            return f"an int in {self.describe()}"
        return None

    def describe(self) -> str:
        lo = "-inf" if self.low is None else self.low
        hi = "inf" if self.high is None else self.high
        return f"[{lo}, {hi}]" + (" or None" if self.allow_none else "")


@dataclass(frozen=True)
class Real:
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    allow_none: bool = False

    def check(self, v) -> str | None:
        if v is None and self.allow_none:
            return None
        ok = isinstance(v, int | float | _np_num()) and not isinstance(v, bool) and math.isfinite(v)
        if ok and self.low is not None:
            ok = v > self.low if self.low_open else v >= self.low
        if ok and self.high is not None:
            ok = v < self.high if self.high_open else v <= self.high
        return None if ok else f"a finite number in {self.describe()}"

    def describe(self) -> str:
        lo = "(-inf" if self.low is None else ("(" if self.low_open else "[") + f"{self.low}"
        hi = "inf)" if self.high is None else f"{self.high}" + (")" if self.high_open else "]")
        return f"{lo}, {hi}"


@dataclass(frozen=True)
class OneOf:
    options: tuple

    def __init__(self, *options) -> None:
        object.__setattr__(self, "options", options)

    def check(self, v) -> str | None:
        return None if v in self.options else "one of " + ", ".join(repr(o) for o in self.options)


@dataclass(frozen=True)
class Bool:
    def check(self, v) -> str | None:
        return None if isinstance(v, bool) else "True or False"


def _np_int():
    import numpy as np

    return np.integer


def _np_num():
    import numpy as np

    return np.integer | np.floating


def validate_params(estimator) -> None:
    """Check every parameter of ``estimator`` against its class's ``_param_rules`` table."""
    rules = getattr(type(estimator), "_param_rules", {})
    for name, value in estimator.get_params(deep=False).items():
        rule = rules.get(name)
        if rule is None:
            continue
        expected = rule.check(value)
        if expected is not None:
            raise InputError(
                f"{type(estimator).__name__}: parameter {name} must be {expected}; got {value!r}"
            )


@dataclass(frozen=True)
class IntTuple:
    """A non-empty list or tuple of positive ints (layer sizes, channels, a sample shape), of at
    most ``max_len`` entries when that is set."""

    allow_none: bool = False
    max_len: int | None = None

    def check(self, v) -> str | None:
        if v is None and self.allow_none:
            return None
        ok = isinstance(v, list | tuple) and 0 < len(v) <= (self.max_len or len(v))
        ok = ok and all(isinstance(x, int | _np_int()) and not isinstance(x, bool) and x > 0 for x in v)
        if ok:
            return None
        most = f" (at most {self.max_len})" if self.max_len else ""
        return f"a non-empty list of positive ints{most}" + (" or None" if self.allow_none else "")
