"""Maps in the run folder: ``map-<method>.parquet`` (``map-<method>-3d.parquet`` for 3-D), one row
per latent in the order of latents.parquet, with the method, parameters, seed, quality and (for
PCA) the projection in the file's metadata. Nothing executable is stored: a map is re-opened from
arrays and JSON, so ``transform`` works the same after loading."""

from __future__ import annotations

import json

import numpy as np

from ..errors import InputError, RunIntegrityError
from ..knn import KnnGraph, graph_file, latents_digest
from ..runfolder.checks import SHA256, one_line
from ..runfolder.schema import AnyOf, DictOf, Fields, Int, ListOf, Num, Scalar, Str, check, parse_json
from .latent_map import LatentMap
from .registry import available_methods, check_params, get_method, preferred

_META_KEY = b"latentspace.map"
AXES = ("x", "y", "z")
_FIGURES = AnyOf(Scalar, ListOf(Num()), what="a number, a string or a list of numbers")
_SCORES = Fields(optional={k: Num() for k in ("trustworthiness", "continuity", "knn_accuracy_map")})
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
        "state": Fields(
            optional={"mean": ListOf(Num(finite=True)), "components": ListOf(ListOf(Num(finite=True)))}
        ),
    },
)
_STATE = {"pca": ("mean", "components")}  # what a method needs from ``state`` to place new latents


def map_file(method: str, dims: int = 2) -> str:
    get_method(method)  # an unknown name: one line listing the methods
    return f"map-{method}.parquet" if dims == 2 else f"map-{method}-{dims}d.parquet"


def map_table(m: LatentMap):
    import pyarrow as pa

    cols = {"row": pa.array(np.arange(len(m.embedding), dtype=np.int64))}
    for j in range(m.dims):
        cols[AXES[j]] = pa.array(m.embedding[:, j].astype(np.float32))
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
    return pa.table(cols).replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})


def save_map(run, m: LatentMap) -> str:
    """Write the map into the run (atomically, checksum recorded); returns the file name."""
    import io

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(map_table(m), buf)
    name = map_file(m.method, m.dims)
    run.write_file(name, buf.getvalue())
    return name


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
    (an error lists the stored ones when it is missing), else the preferred stored map
    (``registry.preferred``), else a PCA projection of the latents fitted now (None when the latents
    have fewer than ``dims`` dimensions). The one place that makes this choice."""
    stored = [m for m, d in stored_maps(run) if d == dims]
    if method is not None and method not in stored:
        have = ", ".join(stored) or "none"
        raise InputError(f"{run.name} has no {dims}-D {method} map (it has: {have})")
    method = method or preferred(stored)
    if method is not None:
        return load_map(run, method, dims), f"the run's {get_method(method).title} map"
    Z = run.latent_matrix()
    if Z.shape[1] < dims:
        return None, f"no map: the latents have {Z.shape[1]} dimension(s)"
    from .latent_map import fit_map

    note = f"a PCA projection of the latents (no map saved yet: `latentspace map {run.path} --method umap`)"
    return fit_map(Z, "pca", dims, seed), note


def map_run(
    run,
    method: str = "umap",
    dims: int = 2,
    seed: int = 0,
    quality_k: int = 10,
    graph: str = "auto",
    **params,
) -> LatentMap:
    """Fit a map of the run's latents on its shared kNN graph (computed and stored once; ``graph``:
    "auto", "exact" or "hnsw"), measure its quality against the latents, and save it in the run."""
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
    save_map(run, m)
    return m
