"""The explorer's request bodies: declared types and bounds, parsed from bytes, refused in one line.

Every POST body is a pydantic model below (strict types: ``"3"`` is not a number, ``true`` is not
1; no unknown fields; finite float32 values; bounded lists and counts). Bounds that depend on the
run (the latent size, the number of items, the map's extent, the span allowed around the latents'
mean) are checked by validators that read the run from the validation context. Before any JSON is
parsed, the body's nesting depth is measured (:func:`nesting_depth`) so a body of 50,000 ``[``
costs one linear scan and no recursion. A refusal is one line that names the field (``z[2]``) and
says what is allowed: :func:`describe_error`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, TypeVar

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

MAX_DEPTH = 8  # the deepest request, {"zs": [[...]]}, has 3 levels
MAX_SPAN = 6.0  # sliders may move a latent at most this many standard deviations from the mean
MAX_BATCH = 256  # latents in one /place request (and decodes gathered into one model call)
MAX_GROUP = 100_000  # items in one lasso group
MAX_STEPS = 64  # interpolation steps, samples and neighbours per request
MAX_SEED = 2**32 - 1
MAX_ALPHA, MAX_ALPHAS = 10.0, 32
F32_MAX = float(np.finfo(np.float32).max)


class Invalid(ValueError):
    """A request value out of bounds: answered with 422 and the message."""


# --- showing a value in one short line ------------------------------------------------------------
def shown(v) -> str:
    """A request value as the message shows it: JSON spelling, long numbers and strings shortened."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        s = str(v)
        return s if len(s) <= 20 else f"{s[:9]}…{s[-4:]} ({len(s.lstrip('-'))} digits)"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, str):
        return repr(v if len(v) <= 30 else v[:30] + "…")
    if isinstance(v, list | tuple):
        return f"a list of {len(v)}"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


# --- value types ----------------------------------------------------------------------------------
def _float32(v: float) -> float:
    if abs(v) > F32_MAX:
        raise PydanticCustomError("float32", "= {v} is outside float32's range (±3.4e38)", {"v": shown(v)})
    return v


def _run(info: ValidationInfo):
    return info.context["run"]


def _row(v: int, info: ValidationInfo) -> int:
    n = _run(info).n
    if not 0 <= v < n:
        raise PydanticCustomError(
            "row_range", "{v} is out of range: this run has items 0..{last}", {"v": shown(v), "last": n - 1}
        )
    return v


def _latent_size(v, info: ValidationInfo):
    k = _run(info).latent_dim
    if isinstance(v, list) and len(v) != k:
        raise PydanticCustomError(
            "latent_size",
            "must be a list of {k} finite numbers (the latent size); got {got}",
            {"k": k, "got": len(v)},
        )
    return v


def _latent_span(v: list[float], info: ValidationInfo) -> np.ndarray:
    s = _run(info)
    z = np.asarray(v, dtype=np.float64)
    dev = np.abs(z - s.mean) / s.std
    far = np.flatnonzero(dev > MAX_SPAN + 1e-9)
    if len(far):
        j = int(far[0])
        raise PydanticCustomError(
            "latent_span",
            "[{j}] = {v} is {dev} standard deviations from the mean; the allowed span is ±{span}",
            {"j": j, "v": f"{z[j]:.4g}", "dev": f"{dev[j]:.1f}", "span": f"{MAX_SPAN:g}"},
        )
    return z.astype(np.float32)


def _on_map(v: tuple[float, float], info: ValidationInfo) -> tuple[float, float]:
    lo, hi = _run(info).map_box
    if not all(a <= x <= b for a, x, b in zip(lo, v, hi, strict=True)):
        raise PydanticCustomError(
            "off_map",
            "({x}, {y}) is too far off the map: x must be in [{x0}, {x1}] and y in [{y0}, {y1}]",
            {
                "x": shown(v[0]),
                "y": shown(v[1]),
                "x0": f"{lo[0]:.4g}",
                "x1": f"{hi[0]:.4g}",
                "y0": f"{lo[1]:.4g}",
                "y1": f"{hi[1]:.4g}",
            },
        )
    return v


Float32 = Annotated[float, AfterValidator(_float32)]
Row = Annotated[StrictInt, AfterValidator(_row)]
# a latent vector, checked against the run: its size, then each number, then its distance from the mean;
# validated into a float32 array of shape (latent_dim,)
Latent = Annotated[list[Float32], BeforeValidator(_latent_size), AfterValidator(_latent_span)]
Alpha = Annotated[float, Field(ge=-MAX_ALPHA, le=MAX_ALPHA)]


def _packed(v: str, info: ValidationInfo) -> np.ndarray:
    from .columns import unpack_rows

    try:
        return unpack_rows(v, _run(info).n)
    except ValueError as exc:
        raise PydanticCustomError("packed", "{why}", {"why": str(exc)}) from None


# a set of rows in the packed form of web.columns (a lasso group in the page's URL), validated into
# the sorted row numbers
Packed = Annotated[str, AfterValidator(_packed)]

# --- the bodies -----------------------------------------------------------------------------------
_LATENT = "a list of {k} finite numbers (the latent size)"
_ROW = "an item number in 0..{last}"
_PACKED = "null or a packed row list (URL-safe base64 of deflated varint gaps)"
_GROUP = f"a list of 1 to {MAX_GROUP} item numbers in 0..{{last}}"


class Body(BaseModel):
    """Strict JSON: numbers are numbers, no NaN or infinity, no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class DecodeBody(Body):
    z: Latent = Field(description=_LATENT)
    place: bool = Field(False, description="true or false")
    png: bool = Field(False, description="true or false")


class NearestBody(Body):
    z: Latent = Field(description=_LATENT)
    k: int = Field(8, ge=1, le=MAX_STEPS, description=f"an integer in [1, {MAX_STEPS}]")
    place: bool = Field(False, description="true or false")


class PlaceBody(Body):
    zs: list[Latent] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"a list of 1 to {MAX_BATCH} latents, each {_LATENT}"
    )


class InverseBody(Body):
    point: Annotated[tuple[Float32, Float32], AfterValidator(_on_map)] = Field(
        description="[x, y]: two finite numbers on the map"
    )


class InterpolateBody(Body):
    a: Row = Field(description=_ROW)
    b: Row = Field(description=_ROW)
    steps: int = Field(10, ge=2, le=MAX_STEPS, description=f"an integer in [2, {MAX_STEPS}]")
    method: Literal["lerp", "slerp"] = Field("lerp", description="lerp or slerp")


class SampleBody(Body):
    n: int = Field(8, ge=1, le=MAX_STEPS, description=f"an integer in [1, {MAX_STEPS}]")
    seed: int = Field(0, ge=0, le=MAX_SEED, description=f"an integer in [0, {MAX_SEED}]")


class AttributeBody(Body):
    group_a: list[Row] = Field(min_length=1, max_length=MAX_GROUP, description=_GROUP)
    group_b: list[Row] = Field(min_length=1, max_length=MAX_GROUP, description=_GROUP)
    item: Row = Field(description=_ROW)
    alphas: list[Alpha] = Field(
        [-2.0, -1.0, 0.0, 1.0, 2.0],
        min_length=1,
        max_length=MAX_ALPHAS,
        description=f"1 to {MAX_ALPHAS} finite numbers in [-{MAX_ALPHA:g}, {MAX_ALPHA:g}]",
    )


class ExportBody(Body):
    a: Packed | None = Field(None, description=_PACKED)
    b: Packed | None = Field(None, description=_PACKED)


# --- parsing --------------------------------------------------------------------------------------
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def nesting_depth(raw: bytes) -> int:
    """How deeply ``raw`` nests arrays and objects (brackets inside strings not counted): one pass
    over the bytes, no recursion, whatever the body holds."""
    a = np.frombuffer(_STRING.sub(b'""', raw), np.uint8)
    step = ((a == ord("[")) | (a == ord("{"))).astype(np.int32) - ((a == ord("]")) | (a == ord("}")))
    return int(np.cumsum(step).max(initial=0))


M = TypeVar("M", bound=Body)


def parse(model: type[M], raw: bytes, run) -> M:
    """``raw`` (a request body) as ``model``, checked against ``run``; :class:`Invalid` if not."""
    depth = nesting_depth(raw)
    if depth > MAX_DEPTH:
        raise Invalid(f"the body is nested {depth} levels deep; at most {MAX_DEPTH} levels are allowed")
    try:
        return model.model_validate_json(raw or b"{}", context={"run": run})
    except ValidationError as exc:
        raise Invalid(describe_error(exc, model, run)) from None


def describe_error(exc: ValidationError, model: type[Body], run) -> str:
    """The first error of ``exc`` in one line: the field's path, what is allowed, what came."""
    e = exc.errors(include_url=False)[0]
    loc, kind = e["loc"], e["type"]
    if kind == "json_invalid":
        return f"the body must be a JSON object; {e['msg'].removeprefix('Invalid JSON: ')}"
    if not loc:
        return f"the body must be a JSON object; got {shown(e['input'])}"
    name = str(loc[0])
    path = name + "".join(f"[{i}]" for i in loc[1:])
    if kind == "extra_forbidden":
        return f"unknown field {name!r}; the fields are {', '.join(model.model_fields)}"
    allowed = (model.model_fields[name].description or "").format(k=run.latent_dim, last=run.n - 1)
    if kind == "missing" and len(loc) == 1:
        return f"{name} is required: {allowed}"
    if kind in ("row_range", "latent_size", "float32", "off_map"):
        return f"{path} {e['msg']}"
    if kind == "packed":
        return f"{name} must be {allowed}; it {e['msg']}"
    if kind == "latent_span":
        return f"{path}{e['msg']}"
    if kind == "finite_number":
        return f"{name} must be {allowed}; {path} is not a finite number"
    got = f"got {shown(e['input'])}" if len(loc) == 1 else f"{path} is {shown(e['input'])}"
    return f"{name} must be {allowed}; {got}"


def query_error(errors: list[dict]) -> str:
    """FastAPI's errors for a path or query value (``/items/x``, ``?k=nan``) in one line."""
    e = errors[0]
    name = str(e["loc"][-1]) if e.get("loc") else "request"
    if e["type"] in ("int_parsing", "int_type", "int_from_float"):
        return f"{name} must be an integer; got {shown(e.get('input'))}"
    if e["type"] == "missing":
        return f"{name} is required"
    return f"{name}: {e.get('msg', 'not allowed')}; got {shown(e.get('input'))}"
