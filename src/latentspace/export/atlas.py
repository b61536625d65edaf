"""Embedding Atlas's Parquet: one row per item, read by ``embedding-atlas FILE --x projection_x --y
projection_y --neighbors neighbors`` (its command line and widget take any columns by name).

Columns, in the layout Embedding Atlas itself writes when it computes a projection
(``embedding_atlas.projection.compute_vector_projection``):

``row``            the item's row in the run (int64)
``vector``         the latents, a list of k float32 (its ``--vector`` column)
``projection_x``, ``projection_y``   the run's 2-D map (float32)
``neighbors``      ``{"ids": [...], "distances": [...]}``: the item's nearest others in latent
                   space, zero-based row numbers sorted by distance (its ``--neighbors`` format;
                   Embedding Atlas numbers rows 0..n-1 in file order, as ``row`` does); left out
                   when 0 neighbours are asked for
``label``, ``split``, ``factor_*`` and the imported metadata, each in its own Arrow type
``image``          the item as PNG bytes, for image data (shown in its tooltips and table)

The file's metadata (``latentspace``) records the run, the model, the map and how the neighbours
were found (Euclidean distances between latents).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..progress import report
from .items import NEIGHBOURS, Exported, neighbours, pictures

ROW_GROUP = 65536


def command(out: Path, columns: list[str]) -> str:
    """The command that opens the file in Embedding Atlas."""
    text = f"embedding-atlas {out}"
    if "projection_x" in columns:
        text += " --x projection_x --y projection_y"
    if "neighbors" in columns:
        text += " --neighbors neighbors"
    return text + (" --image image" if "image" in columns else "")


def atlas_table(run, data: Exported, k: int = NEIGHBOURS):
    import pyarrow as pa

    n, dim = data.Z.shape
    cols = {"row": data.columns["row"]}
    cols["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(data.Z.reshape(-1)), dim).cast(
        pa.list_(pa.float32())
    )  # a plain list: pandas (which Embedding Atlas loads the file with) reads it as arrays
    if data.xy is not None:
        cols["projection_x"] = pa.array(data.xy[:, 0])
        cols["projection_y"] = pa.array(data.xy[:, 1])
    ids, dist, how = neighbours(run, data.Z, k)
    kk = ids.shape[1]
    if kk:
        big = n * kk >= 2**31  # list offsets are int32 up to there
        lists = pa.LargeListArray if big else pa.ListArray
        offsets = pa.array(np.arange(n + 1, dtype=np.int64 if big else np.int32) * kk)
        cols["neighbors"] = pa.StructArray.from_arrays(
            [
                lists.from_arrays(offsets, pa.array(ids.reshape(-1))),
                lists.from_arrays(offsets, pa.array(dist.reshape(-1))),
            ],
            names=["ids", "distances"],
        )
    for c in data.columns.column_names:
        col = data.columns[c]
        if pa.types.is_dictionary(col.type):  # DuckDB makes an ENUM of it, which gets no chart
            col = col.cast(col.type.value_type)
        if c != "row":
            cols[c] = col
    items = pictures(run)
    if items is not None:
        pngs = []
        for i in range(n):
            pngs.append(items.png(i))
            if i % 2048 == 0 or i == n - 1:
                report("drawing items", i + 1, n)
        cols["image"] = pa.array(pngs, pa.binary())
    info = {**data.info, "neighbors": {"k": kk, "metric": "euclidean", "found_by": how}}
    return pa.table(cols).replace_schema_metadata({"latentspace": json.dumps(info)})


def write_atlas(run, data: Exported, out: Path, overwrite: bool = False, k: int = NEIGHBOURS) -> dict:
    """Write ``out`` (a .parquet file) atomically; returns what to tell the user."""
    import pyarrow.parquet as pq

    from ..atomic import atomic_path

    table = atlas_table(run, data, k)
    with atomic_path(out, replace=overwrite) as tmp:
        pq.write_table(table, tmp, row_group_size=ROW_GROUP)
    return {"files": [out], "open": command(out, table.column_names)}
