"""A run's results as pyarrow tables (``Run.map``, ``Run.metrics``, ``Run.latents(vector=True)``):
what pandas (``.to_pandas()``), polars (``polars.from_arrow``) and Embedding Atlas-style tools read,
without importing pandas here."""

from __future__ import annotations

import json

import numpy as np

from ..errors import InputError, RunIntegrityError
from .checks import one_line


def map_table(run, method: str, dims: int):
    """See :meth:`latentspace.runfolder.Run.map`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = f"map-{method}.parquet" if dims == 2 else f"map-{method}-{dims}d.parquet"
    if name not in run.config["files"]:
        stored = sorted(f[4:-8] for f in run.config["files"] if f.startswith("map-"))
        raise InputError(
            f"{run.name} has no {dims}-D {method} map (it has: {', '.join(stored) or 'none'});"
            f" make one with `latentspace map {run.path} --method {method}"
            + ("`" if dims == 2 else f" --dims {dims}`")
        )
    where = run.path / name
    try:
        table = pq.read_table(pa.BufferReader(run.read_file(name)))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise RunIntegrityError(f"{where} is not a readable Parquet file: {one_line(exc)}") from None
    axes = ["x", "y", "z"][:dims]
    if table.num_rows != run.n_items or any(a not in table.column_names for a in axes):
        raise RunIntegrityError(f"{where}: one row per item with columns {', '.join(axes)} expected")
    floats = [c for c in table.column_names if pa.types.is_floating(table[c].type)]
    keep = [c for c in floats if c not in axes]  # the per-point layers
    for c in axes + keep:
        if not pa.types.is_floating(table[c].type) or table[c].null_count:
            raise RunIntegrityError(f"{where}: column {c} must hold floating-point numbers, no gaps")
    latents = run.latents()
    z = {f"z_{j}" for j in range(run.config["latent_dim"])}
    out = pa.table({"row": latents["row"], **{c: table[c] for c in axes + keep}})
    for c in latents.column_names:
        if c != "row" and c not in z:
            out = out.append_column(c, latents[c])
    return out.replace_schema_metadata(None)


def metrics_table(run):
    """See :meth:`latentspace.runfolder.Run.metrics`."""
    import pyarrow as pa

    from ..metrics.card import direction, rows

    card = run.read_json("metrics.json") or {"results": {}}
    cols: dict[str, list] = {k: [] for k in ("family", "name", "value", "text", "direction", "params")}
    for family, key, value in rows(card):
        number = isinstance(value, int | float)
        sign = direction(key) if number else 0
        cols["family"].append(family)
        cols["name"].append(key)
        cols["value"].append(float(value) if number else None)
        cols["text"].append(None if number else str(value))
        cols["direction"].append({1: "higher", -1: "lower"}.get(sign))
        cols["params"].append(json.dumps(card["results"][family].get("params", {}), sort_keys=True))
    types = [pa.string(), pa.string(), pa.float64(), pa.string(), pa.string(), pa.string()]
    return pa.table({k: pa.array(v, t) for (k, v), t in zip(cols.items(), types, strict=True)})


def with_vector(table, k: int):
    """``table`` with its ``z_0..z_{k-1}`` columns replaced by one fixed-size-list ``vector``
    column (float32, k per row) where ``z_0`` was."""
    import pyarrow as pa

    names = [f"z_{j}" for j in range(k)]
    Z = np.column_stack([table[c].to_numpy() for c in names]).astype(np.float32, copy=False)
    vector = pa.FixedSizeListArray.from_arrays(pa.array(Z.reshape(-1)), k)
    at = table.column_names.index(names[0])
    rest = table.drop_columns(names)
    return rest.add_column(at, "vector", vector)
