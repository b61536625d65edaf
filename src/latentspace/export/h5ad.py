"""AnnData's ``.h5ad`` for single-cell users (scanpy, scvi-tools, CELLxGENE), written by anndata
itself (the ``anndata`` extra).

``obsm["X_latent"]``   the latents, (n, k) float32 (``sc.pp.neighbors(adata, use_rep="X_latent")``)
``obsm["X_<method>"]`` every stored 2-D map, (n, 2) float32: ``X_umap``, ``X_tsne``, ``X_pca``
                       (what ``sc.pl.umap`` and ``sc.pl.embedding`` draw)
``obs``                one row per item, indexed by the row number as text: ``label`` and
                       ``split`` as categories, factors and metadata in their own types
``uns["latentspace"]`` the run, the model, the latent size and the maps
``X``                  none: the run's data are not copied (an empty (n, 0) matrix keeps the shape)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..extras import require
from .items import Exported


def obs_frame(columns):
    """The item columns as a pandas frame anndata writes: texts of few values as categories."""
    import pandas as pd
    import pyarrow as pa

    frame = {}
    for c in columns.column_names:
        if c == "row":
            continue
        col = columns[c]
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        values = col.to_pandas()
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            if c in ("label", "split") or values.nunique(dropna=True) <= max(100, len(values) // 2):
                values = values.astype("category")
            else:
                values = values.astype(object)
        elif pa.types.is_temporal(col.type):
            values = values.astype(str)  # h5ad holds no time types
        frame[c] = values
    out = pd.DataFrame(frame, index=pd.RangeIndex(columns.num_rows))
    out.index = pd.Index([str(i) for i in columns["row"].to_pylist()], name="row")
    return out


def write_h5ad(run, data: Exported, out: Path, overwrite: bool = False) -> dict:
    """Write ``out`` (a .h5ad file) atomically; returns what to tell the user."""
    require("anndata", "`latentspace export --to anndata`")
    import anndata

    from ..atomic import atomic_path

    obsm = {"X_latent": np.ascontiguousarray(data.Z, np.float32)}
    for method, xy in data.maps.items():
        obsm[f"X_{method}"] = np.ascontiguousarray(xy, np.float32)
    obs = obs_frame(data.columns)
    adata = anndata.AnnData(
        X=np.zeros((data.n, 0), np.float32),
        obs=obs,
        obsm=obsm,
        uns={"latentspace": {**data.info, "maps": sorted(data.maps)}},
    )
    with atomic_path(out, replace=overwrite) as tmp:
        adata.write_h5ad(tmp)
    return {"files": [out], "open": f"anndata.read_h5ad({str(out)!r})"}
