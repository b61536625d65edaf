"""What every file of a run folder must hold, checked when it is read.

The checksums in config.json only say a file is the one the config names; they are unkeyed, so a
run is untrusted input however well it is signed. Each reader of :mod:`latentspace.runfolder` runs
the check here for its file and raises :class:`RunIntegrityError` (one line: the file, the field or
column, what is wrong) rather than letting a wrong type reach a model, a metric or the explorer.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import LatentspaceError, RunIntegrityError
from .schema import (
    AnyOf,
    Bool,
    DictOf,
    Fields,
    Int,
    ListOf,
    Nullable,
    Num,
    Scalar,
    Str,
    _Bad,
    check,
    show,
)

CONFIG, MODEL, LATENTS = "config.json", "model.safetensors", "latents.parquet"
SHA256 = Str(r"[0-9a-f]{64}", "a sha256 (64 hex digits)")
_NUMBERS = ListOf(Num())
# where the data came from: a built-in with its arguments, or a file or folder
DATA_SPEC = AnyOf(
    Fields(builtin=Str(), optional={"args": DictOf(Scalar), "subset": Bool}),
    Fields(path=Str(), optional={"label_col": Nullable(Str()), "subset": Bool}),
    # imported vectors given without their source data: the run's data are its own latents
    Fields(own_latents=Bool, optional={"source": Str()}),
    what='{"builtin": NAME, "args": {...}}, {"path": PATH} or {"own_latents": true}',
)
# the kinds of metadata column latents.parquet may hold (as ``meta_<name>``), by Arrow type
META_KINDS = ("text", "category", "number", "bool", "time")
# what a person sees for an item: the data row ("data": an image or a feature table), an image kept
# in items.parquet, a text column of the metadata, or nothing but the metadata ("none")
ITEMS = Fields(kind=Str(r"data|image|text|none", "data, image, text or none"), optional={"column": Str()})

CONFIG_SCHEMA = Fields(
    schema_version=Int(),
    config_sha256=SHA256,
    created=Str(),
    model=Fields(name=Str(), params=DictOf()),
    latent_dim=Int(1),
    dataset=Fields(
        name=Str(),
        spec=DATA_SPEC,
        n=Int(1),
        d=Int(1),
        sha256=SHA256,
        sample_shape=Nullable(ListOf(Int(1), min_len=1)),
        label_names=Nullable(ListOf(Str())),
        factor_names=Nullable(ListOf(Str())),
        feature_names=Nullable(ListOf(Str())),
    ),
    split=Fields(
        method=Str(), n_train=Int(0), n_test=Int(0), optional={"test_fraction": Num(), "seed": Int()}
    ),
    seed=Int(),
    versions=DictOf(Str()),
    info=DictOf(AnyOf(Scalar, _NUMBERS, what="a number, a string or a list of numbers")),
    files=DictOf(SHA256),
    optional={
        "metadata": ListOf(Fields(name=Str(), kind=Str("|".join(META_KINDS), ", ".join(META_KINDS)))),
        "items": ITEMS,
        "label_col": Str(),
    },
)

# history.json: one row per epoch, each a flat object of numbers (the engine's loss terms), and
# for models trained in stages which stage the row belongs to (a GAN's "gan", then "encoder")
_STAGE = Str(r"[a-z_]{1,32}", what="a stage name")


def _history_row(row, path: str) -> None:
    DictOf(Num())({k: v for k, v in row.items() if k != "stage"} if isinstance(row, dict) else row, path)
    if isinstance(row, dict) and "stage" in row:
        _STAGE(row["stage"], f"{path}.stage")


HISTORY_SCHEMA = ListOf(_history_row)

# metrics.json: the report card kept by the evaluate stage; each family has values or a reason
_ENTRY = {"params": DictOf(), "seconds": Num()}
_SKIPPED, _VALUES = Fields(skipped=Str(), optional=_ENTRY), Fields(values=DictOf(), optional=_ENTRY)
METRICS_SCHEMA = Fields(
    results=DictOf(
        lambda v, path: (_SKIPPED if isinstance(v, dict) and "skipped" in v else _VALUES)(v, path)
    ),
    optional={"schema_version": Int(), "updated": Str()},
)

# the JSON beside the tensors of model.safetensors (each family keeps some of these keys)
MODEL_META_SCHEMA = Fields(
    n_features=Int(1),
    optional={
        "likelihood": Str(),
        "arch": Str(),
        "history": HISTORY_SCHEMA,
        "inversion": DictOf(Num()),
        "diversity": Num(),
        "n_samples": Int(1),
        "noise_variance": Num(),
        "total_variance": Num(),
        "solver": Str(),
        "epochs_planned": Int(1),
        "kl_per_dim": ListOf(Num(finite=True)),
    },
)

# verdicts.json: the run's verdicts (interpret/verdicts.py), one sentence each with a stable id
VERDICTS_SCHEMA = Fields(
    verdicts=ListOf(
        Fields(
            id=Str(r"[a-z0-9-]{1,40}", "a verdict id (lower-case words joined by -)"),
            severity=Str(r"warning|note", "warning or note"),
            text=Str(),
            optional={"value": Num(), "limit": Num(), "source": Str(), "units": ListOf(Int(0))},
        )
    ),
    optional={"schema_version": Int()},
)

# interpret.json: named dimensions and directions, traversals and decoder sensitivity
# (interpret/interpretation.py); every list bounded, every number finite and in its range
MAX_LISTED_DIMS, MAX_PCS, MAX_VECTOR = 1024, 32, 65536


def _capped(item, most: int):
    """A list of at most ``most`` entries, each fitting ``item`` (the length checked first)."""
    inner = ListOf(item)

    def capped(v, path: str) -> None:
        if isinstance(v, list) and len(v) > most:
            raise _Bad(path, f"must hold at most {most:,} entries, got {len(v):,}")
        inner(v, path)

    return capped


def _between(lo: float, hi: float | None = None):
    """A finite number from ``lo`` to ``hi`` (no upper bound when None)."""

    def between(v, path: str) -> None:
        Num(finite=True)(v, path)
        if v < lo or (hi is not None and v > hi):
            upto = f" to {hi:g}" if hi is not None else " or more"
            raise _Bad(path, f"must be a number from {lo:g}{upto}, got {show(v)}")

    return between


_TEXT = Str(r"(?s).{0,1000}", "a string of at most 1,000 characters")
_ID = Str(r"(z|pc)_[0-9]{1,7}", "a direction id such as z_3 or pc_1")
_FINITE, _PLUS, _SHARE = Num(finite=True), _between(0.0), _between(0.0, 1.0)
_TIE = Fields(
    column=_TEXT,
    mi=_SHARE,
    optional={"corr": _between(-1.0, 1.0), "shift": _FINITE, "hi": _TEXT, "lo": _TEXT},
)
_DIRECTION = Fields(
    id=_ID,
    kind=Str(r"dim|pc", "dim or pc"),
    index=Int(0),
    importance=_FINITE,
    variance=_PLUS,
    spread=_PLUS,
    inactive=Bool,
    name=_TEXT,
    title=_TEXT,
    score=_SHARE,
    associations=_capped(_TIE, 8),
    optional={"kl": _FINITE, "column": _TEXT, "effect": _PLUS, "vector": _capped(_FINITE, MAX_VECTOR)},
)
_ROW_VALUE = Fields(row=Int(0), value=_PLUS)
_TRAVERSAL = Fields(
    rows=_capped(Int(0), 16),
    offsets=_capped(_FINITE, 33),
    unit=_TEXT,
    directions=_capped(_ID, 64),
)
_SENSITIVITY = Fields(
    rows=Int(1),
    directions=Int(1),
    step=_PLUS,
    seed=Int(0),
    median=_PLUS,
    p10=_PLUS,
    p90=_PLUS,
    min=_PLUS,
    max=_PLUS,
    most=_capped(_ROW_VALUE, 64),
    least=_capped(_ROW_VALUE, 64),
    move=Fields(size=_PLUS, direction=_capped(_FINITE, MAX_VECTOR)),
    optional={"by_label": _capped(Fields(label=_TEXT, median=_PLUS, rows=Int(1)), 50)},
)


def _or_skipped(schema):
    """``schema``, or ``{"skipped": why}`` for a part a run cannot have (no decoder)."""
    skipped = Fields(skipped=_TEXT)
    return lambda v, path: (skipped if isinstance(v, dict) and "skipped" in v else schema)(v, path)


INTERPRET_SCHEMA = Fields(
    schema_version=Int(1, 1),
    seed=Int(0),
    latent_dim=Int(1),
    n_rows=Int(1),
    rows_used=Int(1),
    importance=Fields(
        kind=Str(r"kl|variance", "kl or variance"),
        rule=_TEXT,
        optional={"rows": Int(1), "split": Str(r"test|all", "test or all")},
    ),
    mi=Fields(estimator=_TEXT, bins=Int(2, 64), normalised_by=_TEXT),
    columns=_capped(
        Fields(
            key=_TEXT,
            name=_TEXT,
            source=Str(r"label|factor|meta", "label, factor or meta"),
            kind=Str(r"numeric|categorical", "numeric or categorical"),
            rows=Int(0),
            optional={"classes": Int(2), "best": _ID, "best_mi": _SHARE},
        ),
        64,
    ),
    skipped_columns=_capped(Fields(name=_TEXT, why=_TEXT), 1024),
    dims=_capped(_DIRECTION, MAX_LISTED_DIMS),
    pcs=_capped(_DIRECTION, MAX_PCS),
    traversal=_or_skipped(_TRAVERSAL),
    sensitivity=_or_skipped(_SENSITIVITY),
    summary=Str(r"[^\n]{0,2000}", "one line of at most 2,000 characters"),
)

# the JSON files a run may hold, by name, and the schema each must fit
JSON_SCHEMAS = {
    "history.json": HISTORY_SCHEMA,
    "metrics.json": METRICS_SCHEMA,
    "verdicts.json": VERDICTS_SCHEMA,
    "interpret.json": INTERPRET_SCHEMA,
}


def check_interpretation(doc: dict, config: dict, where) -> dict:
    """interpret.json (already fitting INTERPRET_SCHEMA) against its run: the latent size and row
    count, direction ids that match their index, each dimension listed once, principal directions
    and moves of the latent's length, rows within the run, and every id it refers to listed."""

    def refuse(what: str):
        raise RunIntegrityError(f"{where}: {what}")

    L, n = config["latent_dim"], config["dataset"]["n"]
    if doc["latent_dim"] != L or doc["n_rows"] != n:
        refuse(f"describes {doc['n_rows']:,} rows of {doc['latent_dim']} dimensions; the run: {n:,} of {L}")
    ids = set()
    for part, kind, first in (("dims", "dim", 0), ("pcs", "pc", 1)):
        for i, d in enumerate(doc[part]):
            prefix = "z" if kind == "dim" else "pc"
            if d["kind"] != kind or d["id"] != f"{prefix}_{d['index']}" or d["id"] in ids:
                refuse(f"{part}[{i}] is {d['id']!r} ({d['kind']} {d['index']}): not a {kind} listed once")
            if not first <= d["index"] < (L if kind == "dim" else MAX_PCS + 1):
                refuse(f"{part}[{i}] has index {d['index']}; the latent has {L} dimensions")
            if kind == "pc" and len(d.get("vector", [])) != L:
                refuse(f"{part}[{i}] has a vector of {len(d.get('vector', []))} numbers, not {L}")
            ids.add(d["id"])
    keys = {c["key"] for c in doc["columns"]}
    for d in doc["dims"] + doc["pcs"]:
        for tie in d["associations"]:
            if tie["column"] not in keys:
                refuse(f"{d['id']} is tied to {tie['column']!r}, which the file does not list")
    for c in doc["columns"]:
        if "best" in c and c["best"] not in ids:
            refuse(f"column {c['key']!r} names {c['best']!r}, which the file does not list")
    trav = doc["traversal"]
    if "skipped" not in trav:
        for ident in trav["directions"]:
            if ident not in ids:
                refuse(f"the traversal names {ident!r}, which the file does not list")
        if any(r >= n for r in trav["rows"]):
            refuse(f"the traversal names a row beyond the run's {n:,}")
    sens = doc["sensitivity"]
    if "skipped" not in sens:
        if any(e["row"] >= n for e in sens["most"] + sens["least"]):
            refuse(f"the sensitivity names a row beyond the run's {n:,}")
        if len(sens["move"]["direction"]) != L:
            refuse(f"the sensitivity's move has {len(sens['move']['direction'])} numbers, not {L}")
    return doc


def check_file_name(name, where) -> str:
    """A plain file name of the run folder: no separator, no ``..``, not hidden, not the config."""
    bad = (
        not isinstance(name, str)
        or not 0 < len(name) <= 255
        or name.startswith(".")
        or any(c in name for c in "/\\")
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or name == CONFIG
    )
    if bad:
        raise RunIntegrityError(
            f"{where} names the file {name!r}: a run's files must be plain names inside its folder"
        )
    return name


def check_config(config, where: Path) -> dict:
    """Types of every field; every file name plain; the model and latents listed; the split and
    the data's shape consistent."""
    check(config, CONFIG_SCHEMA, where)
    for name in config["files"]:
        check_file_name(name, where)
    for name in (MODEL, LATENTS):
        if name not in config["files"]:
            raise RunIntegrityError(f"{where}: files does not list {name}")
    ds, split = config["dataset"], config["split"]
    if split["n_train"] + split["n_test"] != ds["n"]:
        raise RunIntegrityError(
            f"{where}: split.n_train + split.n_test = {split['n_train'] + split['n_test']}"
            f" differ from dataset.n = {ds['n']}"
        )
    shape = ds["sample_shape"]
    if shape is not None and math.prod(shape) != ds["d"]:
        raise RunIntegrityError(f"{where}: dataset.sample_shape {shape} does not hold dataset.d = {ds['d']}")
    return config


def meta_kind(t) -> str | None:
    """The kind of a metadata column by its Arrow type (one of ``META_KINDS``), or None when
    latentspace does not keep that type (lists, structs, binary)."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return "category" if meta_kind(t.value_type) == "text" else None
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "text"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "number"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "time"
    return None


def _check_metadata(table, config: dict, refuse) -> None:
    """``meta_<name>`` columns are exactly the ones config.json lists, each of its declared kind."""
    listed = {m["name"]: m["kind"] for m in config.get("metadata", [])}
    present = {c[5:]: table[c].type for c in table.column_names if c.startswith("meta_")}
    for name in sorted(set(listed) ^ set(present)):
        where = "config.json lists it but latents.parquet has no such column"
        refuse(f"metadata column {name!r}: " + (where if name in listed else "config.json does not list it"))
    for name, t in present.items():
        kind = meta_kind(t)
        if kind is None or (kind != listed[name] and {kind, listed[name]} != {"text", "category"}):
            refuse(f"metadata column {name!r} holds {t}; config.json says {listed[name]}")
    items = config.get("items")
    if items and items["kind"] == "text" and listed.get(items.get("column", "")) not in ("text", "category"):
        refuse(f"items are the text column {items.get('column')!r}, which is not a text metadata column")


def check_latents(table, config: dict, where: Path) -> None:
    """The latents table: one row per data row, in order, ``z_0..z_{k-1}`` finite floats, a split
    of train/test, integer labels within the label names, numeric factors, and the metadata
    columns config.json lists, each of its kind."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n, k = config["dataset"]["n"], config["latent_dim"]
    cols = set(table.column_names)

    def refuse(what: str):
        raise RunIntegrityError(f"{where}: {what}")

    if table.num_rows != n:
        refuse(f"has {table.num_rows:,} rows; the run's data has {n:,}")
    for name in ("row", *(f"z_{j}" for j in range(k))):
        if name not in cols:
            refuse(f"has no column {name} (the latents have {k} dimensions)")
    zs = {f"z_{j}" for j in range(k)}
    for name in table.column_names:
        col = table[name]
        if name == "row":
            if not pa.types.is_integer(col.type) or col.null_count:
                refuse(f"column row must be integers, got {col.type}")
            if not np.array_equal(col.to_numpy(), np.arange(n)):
                refuse("column row must number the rows 0, 1, ... in order")
        elif name in zs:
            if not pa.types.is_floating(col.type):
                refuse(f"column {name} must hold floating-point numbers, got {col.type}")
            values = col.to_numpy(zero_copy_only=False)
            if col.null_count or not np.all(np.isfinite(values)):
                first = int(np.flatnonzero(~np.isfinite(values))[0])
                refuse(f"column {name} holds NaN, infinity or a missing value (first at row {first})")
        elif name.startswith("factor_"):
            if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)) or col.null_count:
                refuse(f"column {name} must hold numbers without missing values, got {col.type}")
        elif name == "split":
            if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
                refuse(f"column split must hold strings, got {col.type}")
            other = sorted(str(v) for v in pc.unique(col).to_pylist() if v not in ("train", "test"))
            if other:
                refuse(f"column split holds {other[0]!r}; allowed: train, test")
            n_test = int(pc.sum(pc.equal(col, "test")).as_py() or 0)
            if n_test != config["split"]["n_test"]:
                refuse(
                    f"column split marks {n_test:,} test rows; {CONFIG} says {config['split']['n_test']:,}"
                )
        elif name == "label":
            _check_labels(col, config["dataset"]["label_names"], refuse)
        elif not name.startswith("meta_"):
            refuse(f"has a column {name!r} that is not part of a run's latents table")
    _check_metadata(table, config, refuse)


def _check_labels(col, names, refuse) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.null_count:
        refuse(f"column label has {col.null_count:,} missing values")
    if pa.types.is_integer(col.type):
        if names is not None and len(col):
            lo, hi = pc.min(col).as_py(), pc.max(col).as_py()
            if lo < 0 or hi >= len(names):
                refuse(f"column label holds {lo if lo < 0 else hi}; the run has {len(names)} label names")
    elif names is not None or not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        refuse(f"column label must hold integers, got {col.type}")


def check_tensors(tensors: dict[str, np.ndarray], config: dict, where: Path, bounded: bool = True) -> None:
    """Learned tensors are finite numbers, and (``bounded``, for models that read the data) together
    they hold at least one weight per input feature (a bound on what rebuilding the model may
    allocate, checked before it does)."""
    total = 0
    for name, t in tensors.items():
        if t.dtype.kind not in "fiub":
            raise RunIntegrityError(f"{where}: tensor {name} has dtype {t.dtype}, not a number type")
        if t.dtype.kind == "f" and not np.all(np.isfinite(t)):
            raise RunIntegrityError(f"{where}: tensor {name} holds NaN or infinity")
        total += t.size
    d = config["dataset"]["d"]
    if bounded and total < d:
        raise RunIntegrityError(f"{where} holds {total:,} numbers, fewer than the {d:,} input features")


def check_model_meta(meta, config: dict, where: Path, reads_data: bool = True) -> dict:
    check(meta, MODEL_META_SCHEMA, f"{where} (its metadata)")
    if reads_data and meta["n_features"] != config["dataset"]["d"]:
        raise RunIntegrityError(
            f"{where}: the model reads {meta['n_features']:,} features; the run's data has"
            f" {config['dataset']['d']:,} ({CONFIG} dataset.d)"
        )
    return meta


def check_model(model, config: dict, where: Path) -> None:
    """The rebuilt model answers its contract with the shapes the run says: encode (1, d) to
    (1, k), decode and sample back. A state that loads but cannot run fails here, naming the file."""
    d, k = config["dataset"]["d"], config["latent_dim"]
    if int(model.latent_dim) != k:
        raise RunIntegrityError(
            f"{where} holds a model of {model.latent_dim} latent dimensions; {CONFIG} says {k}"
        )
    calls = [("sample_latent", lambda: model.sample_latent(2, random_state=0), (2, k))]
    if model.has_encoder:
        calls.append(("encode", lambda: model.encode(np.zeros((1, d), np.float32)), (1, k)))
    if model.has_decoder:
        calls.append(("decode", lambda: model.decode(np.zeros((1, k), np.float32)), (1, d)))
    try:
        results = [(what, np.asarray(call()), shape) for what, call, shape in calls]
    except Exception as exc:  # noqa: BLE001 - whatever a malformed state makes the model raise
        raise RunIntegrityError(f"{where} does not hold a working model: {one_line(exc)}") from None
    for what, arr, shape in results:
        if arr.shape != shape:
            raise RunIntegrityError(f"{where}: the model's {what} gives shape {arr.shape}, expected {shape}")


def one_line(exc: BaseException) -> str:
    """An exception as one line of at most 300 characters, with its type unless it is ours."""
    text = " ".join(str(exc).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    if isinstance(exc, LatentspaceError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
