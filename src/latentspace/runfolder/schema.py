"""Reading the JSON of a run folder as untrusted input: one bounded parser and a small schema check.

A run folder's checksums are unkeyed (anyone who can write the folder can re-sign it), so every JSON
file of a run (config.json, metrics.json, history.json, a map's metadata) is parsed here, with its
size and nesting depth bounded, and then checked against a schema that says which keys hold which
types. A file that fails either check raises :class:`RunIntegrityError` with one line naming the
file, the field and what was expected; nothing downstream sees a value of the wrong type.

A schema is built from a few checkers::

    Fields(n=Int(0), name=Str(), sample_shape=Nullable(ListOf(Int(1))), optional={"seed": Int()})
"""

from __future__ import annotations

import json
import math
import re

from ..errors import RunIntegrityError

MAX_JSON_BYTES = 64 << 20  # far above any run's JSON (a 1,000-epoch history is ~300 KB)
MAX_JSON_DEPTH = 32  # a run's JSON nests at most ~6 levels (metrics: results.family.values.key[...])


class _Bad(Exception):
    """A value that does not fit its schema: ``path`` (dotted) and what was expected."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path, message)
        self.path, self.message = path, message


def show(value) -> str:
    text = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _depth(value) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d)
            if d > MAX_JSON_DEPTH:
                break
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def parse_json(data: bytes | str, where) -> object:
    """Parse JSON read from ``where`` (a path, for messages), refusing anything over
    :data:`MAX_JSON_BYTES` or nested deeper than :data:`MAX_JSON_DEPTH`."""
    if len(data) > MAX_JSON_BYTES:
        raise RunIntegrityError(
            f"{where} is {len(data):,} bytes, over the {MAX_JSON_BYTES:,} a run's JSON may have"
        )
    try:
        value = json.loads(data)
    except RecursionError:
        raise RunIntegrityError(f"{where} is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, or an integer of 5,000 digits
        raise RunIntegrityError(f"{where} is not valid JSON (truncated or edited?): {exc}") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise RunIntegrityError(f"{where} is nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def read_json_file(path) -> object:
    """:func:`parse_json` of a file, reading no more than the size limit allows."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise RunIntegrityError(f"{path} cannot be read: {exc.strerror or exc}") from None
    return parse_json(data, path)


def check(value, schema, where) -> object:
    """``value`` when it fits ``schema``; else RunIntegrityError naming ``where`` and the field."""
    try:
        schema(value, "")
    except _Bad as bad:
        field = f" {bad.path}" if bad.path else ""
        raise RunIntegrityError(f"{where}:{field} {bad.message}") from None
    return value


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


# --- checkers: callables (value, path) that raise _Bad --------------------------------------------
def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class Int:
    def __init__(self, lo: int | None = None, hi: int | None = None) -> None:
        self.lo, self.hi = lo, hi

    def __call__(self, v, path: str) -> None:
        if not _is_int(v):
            raise _Bad(path, f"must be an integer, got {show(v)}")
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            lo = "" if self.lo is None else f"{self.lo} <= "
            hi = "" if self.hi is None else f" <= {self.hi}"
            raise _Bad(path, f"must be an integer {lo}n{hi}, got {show(v)}")


class Num:
    def __init__(self, finite: bool = False) -> None:
        self.finite = finite

    def __call__(self, v, path: str) -> None:
        if not _is_number(v):
            raise _Bad(path, f"must be a number, got {show(v)}")
        if self.finite and not math.isfinite(v):
            raise _Bad(path, f"must be a finite number, got {show(v)}")


class Str:
    def __init__(self, pattern: str | None = None, what: str = "a string") -> None:
        self.pattern, self.what = (re.compile(pattern) if pattern else None), what

    def __call__(self, v, path: str) -> None:
        if not isinstance(v, str) or (self.pattern is not None and not self.pattern.fullmatch(v)):
            raise _Bad(path, f"must be {self.what}, got {show(v)}")


class Const:
    def __init__(self, *values) -> None:
        self.values = values

    def __call__(self, v, path: str) -> None:
        if not any(type(v) is type(c) and v == c for c in self.values):
            raise _Bad(path, f"must be one of {', '.join(map(repr, self.values))}, got {show(v)}")


def Bool(v, path: str) -> None:  # noqa: N802 - used like the checker classes
    if not isinstance(v, bool):
        raise _Bad(path, f"must be true or false, got {show(v)}")


def Scalar(v, path: str) -> None:  # noqa: N802
    """A number, string, boolean or null (no list or object)."""
    if v is not None and not isinstance(v, int | float | str):
        raise _Bad(path, f"must be a number, string, boolean or null, got {show(v)}")


def Anything(v, path: str) -> None:  # noqa: N802 - depth and size are bounded by parse_json
    """Any JSON value."""


class Nullable:
    def __init__(self, inner) -> None:
        self.inner = inner

    def __call__(self, v, path: str) -> None:
        if v is not None:
            self.inner(v, path)


class AnyOf:
    def __init__(self, *options, what: str) -> None:
        self.options, self.what = options, what

    def __call__(self, v, path: str) -> None:
        for option in self.options:
            try:
                option(v, path)
                return
            except _Bad:
                continue
        raise _Bad(path, f"must be {self.what}, got {show(v)}")


class ListOf:
    def __init__(self, item, min_len: int = 0) -> None:
        self.item, self.min_len = item, min_len

    def __call__(self, v, path: str) -> None:
        if not isinstance(v, list):
            raise _Bad(path, f"must be a list, got {show(v)}")
        if len(v) < self.min_len:
            raise _Bad(path, f"must hold at least {self.min_len} item(s), got {len(v)}")
        for i, x in enumerate(v):
            self.item(x, f"{path}[{i}]")


class DictOf:
    """An object with any keys (strings) whose values all fit ``value``."""

    def __init__(self, value=Anything) -> None:
        self.value = value

    def __call__(self, v, path: str) -> None:
        if not isinstance(v, dict):
            raise _Bad(path, f"must be an object, got {show(v)}")
        for k, x in v.items():
            self.value(x, _join(path, k))


class Fields:
    """An object with the given required keys (other keys are allowed and not checked, except
    those in ``optional``, which are checked when present)."""

    def __init__(self, optional: dict | None = None, **required) -> None:
        self.required, self.optional = required, optional or {}

    def __call__(self, v, path: str) -> None:
        if not isinstance(v, dict):
            raise _Bad(path, f"must be an object, got {show(v)}")
        for key, checker in self.required.items():
            if key not in v:
                raise _Bad(_join(path, key), "is missing")
            checker(v[key], _join(path, key))
        for key, checker in self.optional.items():
            if key in v:
                checker(v[key], _join(path, key))
