"""The encode stage: data -> latents with a fitted run, in memory, to Parquet, or on a Dask cluster."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from ..data import Dataset, load
from ..runfolder import Run

ENCODE_ROWS = 65536  # rows per encoded piece (and per Parquet row group)
FORMATS = (".parquet", ".csv")  # what ``out`` may end in; the suffix decides the format


def _writer(path: str, suffix: str, schema):
    """A streaming table writer for the format ``suffix`` names."""
    if suffix == ".csv":
        import pyarrow.csv as pcsv

        return pcsv.CSVWriter(path, schema)
    import pyarrow.parquet as pq

    return pq.ParquetWriter(path, schema)


def encode(
    run: Run | str | Path,
    data: Dataset | str,
    out: str | Path | None = None,
    *,
    dask: str | None = None,
    overwrite: bool = False,
):
    """Encode ``data`` with the model of ``run``; write the latents to ``out`` or return Z.

    ``out`` ends in ``.parquet`` or ``.csv`` (the suffix decides the format); an existing file is
    replaced only with ``overwrite``, and nothing is written inside a run folder. The data are
    encoded ``ENCODE_ROWS`` rows at a time and each piece is written as it comes (data on disk are
    never loaded whole); the file appears only when complete. ``dask``: a scheduler address or
    "local" encodes the pieces on a Dask cluster (:mod:`latentspace.cluster`), with the same result."""
    from ..atomic import atomic_path
    from ..progress import report
    from ..runfolder.folder import latents_table
    from .targets import check_target

    if out is not None:
        out = check_target(out, overwrite, suffixes=FORMATS)
    run = run if isinstance(run, Run) else Run(run)
    ds = load(data) if isinstance(data, str | Path) else data
    n = ds.n
    with contextlib.ExitStack() as stack:
        if dask:
            from ..cluster import connect, encode_partitions

            client = stack.enter_context(connect(dask))
            pieces = encode_partitions(client, run, ds, ENCODE_ROWS)
        else:
            model = run.load_model()
            pieces = ((a, model.encode(ds.X[a : a + ENCODE_ROWS])) for a in range(0, n, ENCODE_ROWS))
        if out is None:
            return np.concatenate([Z for _, Z in pieces]) if n else np.empty((0, run.config["latent_dim"]))
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out, replace=overwrite) as tmp:
            writer = None
            try:
                for a, Z in pieces:
                    table = latents_table(np.asarray(Z), ds, None, start=a)
                    if writer is None:
                        writer = _writer(tmp, out.suffix.lower(), table.schema)
                    writer.write_table(table)
                    report("encoding", min(a + ENCODE_ROWS, n), n)
            finally:
                if writer is not None:
                    writer.close()
    return out
