"""Maps in the run folder: ``map-<method>.parquet`` (``map-<method>-3d.parquet`` for 3-D), one row
per latent in the order of latents.parquet, with the method, parameters, seed, quality and (for
PCA) the projection in the file's metadata. Nothing executable is stored: a map is re-opened from
arrays and JSON, so ``transform`` works the same after loading.

Beside ``row, x, y (, z)`` a map file may hold its per-point layers (``maps.layers``: ``distortion``,
``error``, ``sensitivity``; float32, one column each) with their record in the metadata
(``layers``: k, the typical neighbour distance, how each was measured). They are checked like the
coordinates when the map is read (a run is untrusted input); a map file without them (written
before layers existed, or by ``map_run(..., layers=False)``) still loads."""

from __future__ import annotations

import json

import numpy as np

from ..errors import InputError, RunIntegrityError
from ..knn import KnnGraph, graph_file, latents_digest
from ..runfolder.checks import SHA256, one_line
from ..runfolder.schema import AnyOf, Bool, DictOf, Fields, Int, ListOf, Num, Scalar, Str, check, parse_json
from .latent_map import LatentMap
from .registry import available_methods, check_params, get_method, preferred

_META_KEY = b"latentspace.map"
AXES = ("x", "y", "z")
_FIGURES = AnyOf(Scalar, ListOf(Num()), what="a number, a string or a list of numbers")
_SCORES = Fields(optional={k: Num() for k in ("trustworthiness", "continuity", "knn_accuracy_map")})
_LAYER_INFO = Fields(
    optional={
        "k": Int(1),
        "graph": Str(),
        "metric": Str(),
        "graph_recall": Num(finite=True),
        "directions": Int(1),
        "step": Num(finite=True),
        "seed": Int(0),
        "measured": Int(0),
        "sampled": Bool,
    }
)
LAYERS_META = Fields(
    k=Int(1),
    info=DictOf(_LAYER_INFO),
    optional={"typical_distance": Num(finite=True), "seconds": Num()},
)
# the JSON in a map file's metadata (``map_table``); a run is untrusted input, so it is checked
MAP_META = Fields(
    method=Str(),
    dims=Int(2, 3),
    params=DictOf(),
    seed=Int(0),
    latents_sha256=SHA256,
    optional={
        "quality": lambda v, path: (DictOf(_FIGURES)(v, path), _SCORES(v, path)),
        "seconds": Num(),
        "layers": LAYERS_META,
        "state": Fields(
            optional={"mean": ListOf(Num(finite=True)), "components": ListOf(ListOf(Num(finite=True)))}
        ),
    },
)
_STATE = {"pca": ("mean", "components")}  # what a method needs from ``state`` to place new latents


def map_file(method: str, dims: int = 2) -> str:
    get_method(method)  # an unknown name: one line listing the methods
    return f"map-{method}.parquet" if dims == 2 else f"map-{method}-{dims}d.parquet"


def map_table(m: LatentMap, layers=None):
    """The map as an Arrow table with its metadata; ``layers`` (a ``maps.layers.Layers``) adds
    one float32 column per layer and its record."""
    import pyarrow as pa

    cols = {"row": pa.array(np.arange(len(m.embedding), dtype=np.int64))}
    for j in range(m.dims):
        cols[AXES[j]] = pa.array(m.embedding[:, j].astype(np.float32))
    for name, values in layers.values.items() if layers is not None else ():
        cols[name] = pa.array(np.asarray(values, np.float32))
    meta = {
        "method": m.method,
        "dims": m.dims,
        "params": m.params,
        "seed": m.seed,
        "quality": m.quality,
        "seconds": round(m.seconds, 3),
        "latents_sha256": latents_digest(m.Z),
        "state": {k: np.asarray(v).tolist() for k, v in m.state.items() if k in ("mean", "components")},
    }
    if layers is not None:
        meta["layers"] = layers.meta()
    return pa.table(cols).replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})


def save_map(run, m: LatentMap, layers=None) -> str:
    """Write the map (and its ``layers``, if given) into the run (atomically, checksum recorded);
    returns the file name."""
    name = map_file(m.method, m.dims)
    run.write_file(name, _parquet_bytes(map_table(m, layers)))
    return name


def _parquet_bytes(table) -> bytes:
    import io

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def read_map_table(run, method: str, dims: int = 2):
    """(table, metadata) of a stored map, verified against the run's checksums and checked: its
    metadata's types, one row per latent, finite coordinates."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = map_file(method, dims)
    if name not in run.config["files"]:
        raise InputError(
            f"{run.name} has no {dims}-D {method} map: run `latentspace map {run.path} --method {method}"
            + ("" if dims == 2 else f" --dims {dims}")
            + "` first"
        )
    where = run.path / name
    try:
        table = pq.read_table(pa.BufferReader(run.read_file(name)))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise RunIntegrityError(f"{where} is not a readable Parquet file: {one_line(exc)}") from None
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise RunIntegrityError(f"{where} is not a latentspace map (no map metadata)")
    meta = check(parse_json(raw, f"{where} (its map metadata)"), MAP_META, f"{where} (its map metadata)")
    if (meta["method"], meta["dims"]) != (method, dims):
        raise RunIntegrityError(
            f"{where} holds a {meta['dims']}-D {meta['method']!r} map, not the {dims}-D {method} map"
            " its name says"
        )
    _check_coordinates(table, dims, run.n_items, where)
    _check_layers(table, meta, dims, where)
    return table, meta


def _check_coordinates(table, dims: int, n: int, where) -> None:
    import pyarrow as pa

    if table.num_rows != n:
        raise RunIntegrityError(f"{where} has {table.num_rows:,} rows; the run has {n:,} latents")
    for axis in AXES[:dims]:
        if axis not in table.column_names:
            raise RunIntegrityError(f"{where} has no column {axis}")
        col = table[axis]
        if not pa.types.is_floating(col.type):
            raise RunIntegrityError(
                f"{where}: column {axis} must hold floating-point numbers, got {col.type}"
            )
        if col.null_count or not np.all(np.isfinite(col.to_numpy(zero_copy_only=False))):
            raise RunIntegrityError(f"{where}: column {axis} holds NaN, infinity or a missing value")


def _check_layers(table, meta: dict, dims: int, where) -> None:
    """The layer columns and their record: every column beyond row and the axes is a known layer
    listed in the record (and every listed layer has its column), float, without nulls;
    distortion a share of k (finite, in [0, 1]), error finite and >= 0, sensitivity finite and
    >= 0 where measured and NaN elsewhere, as many measured as the record says."""
    import pyarrow as pa

    from .layers import NAMES

    record = meta.get("layers")  # its shape checked with MAP_META
    listed = dict(record["info"]) if record is not None else {}
    extra = [c for c in table.column_names if c not in ("row", *AXES[:dims])]
    for name in extra:
        if name not in NAMES:
            raise RunIntegrityError(f"{where} has an unknown column {name!r} (layers: {', '.join(NAMES)})")
        if name not in listed:
            raise RunIntegrityError(f"{where}: the layer column {name} is not in the map's layer record")
    for name in listed:
        if name not in NAMES:
            raise RunIntegrityError(f"{where}: the layer record names an unknown layer {name!r}")
        if name not in table.column_names:
            raise RunIntegrityError(f"{where}: the layer record lists {name}, but there is no such column")
        col = table[name]
        if not pa.types.is_floating(col.type) or col.null_count:
            raise RunIntegrityError(f"{where}: layer {name} must hold floating-point numbers without gaps")
        v = col.to_numpy(zero_copy_only=False).astype(np.float64)
        finite = np.isfinite(v)
        bad = None
        if name == "distortion":
            k = int(record["k"])
            if not finite.all() or v.min(initial=0) < 0 or v.max(initial=0) > 1:
                bad = "must be shares in [0, 1]"
            elif np.abs(v * k - np.round(v * k)).max(initial=0) > 1e-3:
                bad = f"must be shares of k = {k} neighbours"
        elif name == "error":
            if not finite.all() or v.min(initial=0) < 0:
                bad = "must be finite and >= 0"
        else:  # sensitivity: NaN where not measured
            measured = listed[name].get("measured")
            if np.isinf(v).any() or v[finite].min(initial=0) < 0:
                bad = "must be >= 0 where measured and NaN elsewhere"
            elif measured is not None and int(finite.sum()) != measured:
                bad = f"has {int(finite.sum()):,} measured values; its record says {measured:,}"
        if bad:
            raise RunIntegrityError(f"{where}: layer {name} {bad}")


def _map_state(meta: dict, method: str, dims: int, k: int, where) -> dict[str, np.ndarray]:
    state = {
        key: np.asarray(v, dtype=np.float32)
        for key, v in meta.get("state", {}).items()
        if key in ("mean", "components")
    }
    shapes = {"mean": (k,), "components": (dims, k)}
    for key in _STATE.get(method, ()):
        if key not in state:
            raise RunIntegrityError(f"{where}: a {method} map keeps its {key} in its metadata; it has none")
    for key, arr in state.items():
        if arr.shape != shapes[key]:
            raise RunIntegrityError(
                f"{where}: state.{key} has shape {list(arr.shape)}, expected {list(shapes[key])}"
            )
    return state


def load_map(run, method: str, dims: int = 2) -> LatentMap:
    """Re-open a stored map with everything ``transform`` and ``inverse`` need."""
    table, meta = read_map_table(run, method, dims)
    where = run.path / map_file(method, dims)
    Z = run.latent_matrix()
    if meta["latents_sha256"] != latents_digest(Z):
        raise RunIntegrityError(
            f"the {method} map of {run.name} was made from other latents; re-run `latentspace map`"
        )
    emb = np.column_stack([table[a].to_numpy() for a in AXES[:dims]]).astype(np.float32)
    try:
        params = check_params(method, meta["params"])
    except InputError as exc:
        raise RunIntegrityError(f"{where}: {exc}") from None
    m = LatentMap(method, dims, params, int(meta["seed"]), emb, Z, quality=meta.get("quality", {}))
    m.state = _map_state(meta, method, dims, Z.shape[1], where)
    need = get_method(method).graph_k(params, len(Z))
    if need:
        name = graph_file(params["metric"])
        g = None
        if name in run.config["files"]:
            g = KnnGraph.from_bytes(run.read_file(name), str(run.path / name))
            if g.latents_sha256 == meta["latents_sha256"]:
                g.check(len(Z), params["metric"], run.path / name)
        if g is None or g.k < need or g.latents_sha256 != meta["latents_sha256"]:
            g = KnnGraph.compute(Z, need, params["metric"])
        m.graph = g
    return m


def load_layers(run, method: str, dims: int = 2):
    """The stored layers of a map (``maps.layers.Layers``, checked), or None when the map file has
    none. The map must be stored (see :func:`read_map_table`)."""
    from .layers import Layers

    table, meta = read_map_table(run, method, dims)
    record = meta.get("layers")
    if record is None:
        return None
    if meta["latents_sha256"] != latents_digest(run.latent_matrix()):
        raise RunIntegrityError(
            f"the {method} map of {run.name} was made from other latents; re-run `latentspace map`"
        )
    values = {name: table[name].to_numpy(zero_copy_only=False).astype(np.float32) for name in record["info"]}
    return Layers(
        values=values,
        info={name: dict(info) for name, info in record["info"].items()},
        k=int(record["k"]),
        typical_distance=record.get("typical_distance"),
        seconds=float(record.get("seconds", 0.0)),
    )


def save_layers(run, method: str, dims: int, layers) -> str:
    """Store ``layers`` with a stored map (replacing any it had); returns the file name. The map
    itself (coordinates, parameters, quality) is kept as it is."""
    table, meta = read_map_table(run, method, dims)
    table = table.select(["row", *AXES[:dims]])
    for name, values in layers.values.items():
        if len(values) != table.num_rows:
            raise InputError(
                f"layer {name} has {len(values):,} values; the map has {table.num_rows:,} points"
            )
        table = table.append_column(name, _float32_array(values))
    meta = {**meta, "layers": layers.meta()}
    name = map_file(method, dims)
    run.write_file(
        name, _parquet_bytes(table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()}))
    )
    return name


def _float32_array(values):
    import pyarrow as pa

    return pa.array(np.asarray(values, np.float32))


def stored_maps(run) -> list[tuple[str, int]]:
    """(method, dims) of every map in the run."""
    out = []
    for method in available_methods():
        for dims in (2, 3):
            if map_file(method, dims) in run.config["files"]:
                out.append((method, dims))
    return out


def best_map(run, dims: int = 2, method: str | None = None, seed: int = 0) -> tuple[LatentMap | None, str]:
    """The map to show for ``run`` and a note saying what it is: ``method``'s stored map when given
    (an error lists the stored ones and the command that makes the missing one; "pca" is fitted
    now when not stored), else the preferred stored map (``registry.preferred``), else a PCA
    projection of the latents fitted now (None when the latents have fewer than ``dims``
    dimensions). The one place that makes this choice."""
    stored = [m for m, d in stored_maps(run) if d == dims]
    if method is not None and method not in stored and method != "pca":
        have = ", ".join(stored) or "none"
        raise InputError(
            f"{run.name} has no {dims}-D {method} map (it has: {have}); make one with"
            f" `latentspace map {run.path} --method {method}" + ("" if dims == 2 else f" --dims {dims}") + "`"
        )
    method = method or preferred(stored)
    if method is not None and method in stored:
        return load_map(run, method, dims), f"the run's {get_method(method).title} map"
    Z = run.latent_matrix()
    if Z.shape[1] < dims:
        return None, f"no map: the latents have {Z.shape[1]} dimension(s)"
    from .latent_map import fit_map

    # a PCA projection is fitted in a moment: asked for and not stored, or no map stored at all
    note = f"a PCA projection of the latents (no map saved yet: `latentspace map {run.path} --method umap`)"
    return fit_map(Z, "pca", dims, seed), note


def shared_method(runs, requested: str | None = None) -> tuple[str | None, list[str]]:
    """The map method both runs of a side-by-side view show, and notes to print: ``requested``
    (``--map``: ``umap``, or ``umap-3d`` for 3-D maps) when every run has it stored (PCA always
    qualifies: it is fitted at launch where not stored), else an InputError naming the run that
    lacks it and the command that makes it; without a request, the first method in the order of
    preference (``registry.preferred``) that every run has, with a note for each better map a run
    holds that the other lacks (and the command that would make it). One run: ``requested`` as is."""
    if len(runs) < 2:
        return requested, []
    method, dims = requested, 2
    if requested is not None and requested.lower().endswith("-3d"):
        method, dims = requested[:-3], 3
    have = [{m for m, d in stored_maps(r) if d == dims} for r in runs]

    def make(r, m: str) -> str:
        return f"`latentspace map {r.path} --method {m}" + ("" if dims == 2 else f" --dims {dims}") + "`"

    if method is not None:
        get_method(method)  # an unknown name: one line listing the methods
        for r, h in zip(runs, have, strict=True):
            if method not in h and not (method == "pca" and dims == 2):
                raise InputError(
                    f"{r.name} has no {dims}-D {method} map, which side by side needs in both runs:"
                    f" make it with {make(r, method)}"
                )
        return requested, []
    common = set.intersection(*have) | {"pca"}
    best = preferred(common)
    notes = []
    for h in have:
        own = preferred(h)
        if own is not None and own != best:
            lacking = [r for r, other in zip(runs, have, strict=True) if own not in other]
            notes.append(
                f"both runs show their {get_method(best).title} map: {lacking[0].name} has no"
                f" {get_method(own).title} map ({make(lacking[0], own)} makes one)"
            )
    return best + ("" if dims == 2 else "-3d"), sorted(set(notes))


def map_run(
    run,
    method: str = "umap",
    dims: int = 2,
    seed: int = 0,
    quality_k: int = 10,
    graph: str = "auto",
    layers: bool = True,
    **params,
) -> LatentMap:
    """Fit a map of the run's latents on its shared kNN graph (computed and stored once; ``graph``:
    "auto", "exact" or "hnsw"), measure its quality against the latents, and save it in the run,
    with its per-point layers (``maps.layers``: distortion; error and sensitivity where the model
    decodes) unless ``layers`` is False."""
    from ..knn import run_graph
    from .latent_map import fit_map, map_quality

    params = check_params(method, params)
    Z = run.latent_matrix()
    n = len(Z)
    # one graph serves the method (t-SNE, UMAP) and the quality figures, stored in the run
    need = get_method(method).graph_k(params, n)
    knn = run_graph(
        run, max(need, min(quality_k, n - 1)), params.get("metric", "euclidean"), Z=Z, method=graph
    )
    m = fit_map(Z, method, dims, seed, graph=knn, **params)
    table = run.latents()
    labels = table["label"].to_numpy() if "label" in table.column_names else None
    m.quality = map_quality(m, labels, quality_k)
    kept = None
    if layers:
        from .layers import compute_layers

        kept = compute_layers(run, m, graph=knn, seed=seed)
    save_map(run, m, kept)
    return m
