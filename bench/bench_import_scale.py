"""Bring your own vectors at scale: import + UMAP map + neighbourhood scores of n x d float32
vectors from Parquet, against umap-learn called directly on the same vectors.

Usage: .venv/bin/python bench/bench_import_scale.py [--n 1000000] [--d 384] [--skip-direct]

The vectors: 64 clusters on a 12-d curved manifold embedded in d dimensions, plus noise, written
to Parquet as Embedding Atlas stores them (an id, a category, a float, a text caption and a
``list<float>`` vector column) in row groups of 65,536 rows. Each side runs in a fresh process,
one after the other, and reports its time and its peak resident memory (the whole process:
pyarrow, numpy, numba, faiss).

ours   = `latentspace import` (the vector column streamed batch by batch into one float32 array,
         metadata kept, run folder written and verified) + `latentspace map --method umap` (the
         shared kNN graph: HNSW above 200,000 rows, recall measured; our layout; trustworthiness,
         continuity and kNN preservation of the map, sampled with 95% intervals).
direct = pyarrow reads the vector column, numpy stacks it, umap.UMAP().fit_transform (its own
         nearest-neighbour descent; n_jobs = every core, no random_state, so that it can use them).
Its users report running out of memory near a million rows (umap-learn issues #500, #511).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import MIB, header, in_fresh_process  # noqa: E402

GROUP = 65536


def make_parquet(path: Path, n: int, d: int, seed: int = 0) -> None:
    """Structured vectors written group by group (never all in memory twice)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(64, 12)) * 3
    lift = rng.normal(size=(12, d)).astype(np.float32) / np.sqrt(12)
    bend = rng.normal(size=(12, d)).astype(np.float32) / np.sqrt(12)
    names = np.array([f"topic-{i:02d}" for i in range(64)])
    writer = None
    for start in range(0, n, GROUP):
        m = min(GROUP, n - start)
        c = rng.integers(0, 64, m)
        u = (centres[c] + rng.normal(size=(m, 12))).astype(np.float32)
        Z = u @ lift + np.sin(u) @ bend + 0.1 * rng.standard_normal((m, d), dtype=np.float32)
        table = pa.table(
            {
                "id": pa.array([f"doc-{i}" for i in range(start, start + m)]),
                "topic": pa.array(names[c]).dictionary_encode(),
                "score": pa.array(rng.random(m)),
                "text": pa.array([f"document {start + i} about {names[ci]}" for i, ci in enumerate(c)]),
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(Z.ravel()), d),
            }
        )
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=GROUP)
    writer.close()


def ours(path: str, out: str):
    import time
    import warnings

    warnings.simplefilter("ignore")
    from latentspace import import_embeddings
    from latentspace.maps.store import map_run

    t0 = time.perf_counter()
    run = import_embeddings(path, out=out, label_col="topic", text_col="text", id_col="id")
    t1 = time.perf_counter()
    m = map_run(run, "umap")
    t2 = time.perf_counter()
    q = m.quality
    return {"import": t1 - t0, "map": t2 - t1, "quality": {k: q[k] for k in q if not isinstance(q[k], dict)}}


def direct(path: str):
    import time
    import warnings

    warnings.simplefilter("ignore")
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import umap

    t0 = time.perf_counter()
    col = pq.read_table(path, columns=["embedding"])["embedding"].combine_chunks()
    d = col.type.list_size
    Z = np.asarray(pc.list_flatten(col).to_numpy(), dtype=np.float32).reshape(-1, d)
    del col
    t1 = time.perf_counter()
    emb = umap.UMAP(n_jobs=-1).fit_transform(Z)
    t2 = time.perf_counter()
    return {"read": t1 - t0, "map": t2 - t1, "shape": emb.shape}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--skip-direct", action="store_true")
    p.add_argument("--input", default=None, help="an existing Parquet file of vectors (else one is made)")
    p.add_argument(
        "--workdir", default=None, help="where the Parquet file and the run go (default: a temp dir)"
    )
    a = p.parse_args()
    from importlib.metadata import version

    header(
        f"Import + UMAP map + neighbourhood scores of {a.n:,} x {a.d} float32 vectors from Parquet",
        {
            k: version(k)
            for k in ("latentspace", "umap-learn", "pynndescent", "faiss-cpu", "pyarrow", "numba")
        },
    )
    with tempfile.TemporaryDirectory(dir=a.workdir) as tmp:
        path = Path(a.input) if a.input else Path(tmp) / "vectors.parquet"
        if not a.input:
            make_parquet(path, a.n, a.d)
        size = path.stat().st_size
        matrix = a.n * a.d * 4
        print(
            f"input    : {path.name} {size / MIB:,.0f} MiB;"
            f" the float32 matrix alone is {matrix / MIB:,.0f} MiB"
        )
        s, r, _, peak = in_fresh_process(ours, str(path), str(Path(tmp) / "run"))
        q = r["quality"]
        print(
            f"ours     : {s:8.1f} s (import {r['import']:.1f} s, map {r['map']:.1f} s),"
            f" peak RSS {peak / MIB:,.0f} MiB ({peak / matrix:.2f}x the matrix)"
        )
        print(
            "           map quality: "
            + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in q.items())
        )
        if a.skip_direct:
            return 0
        try:
            s2, r2, _, peak2 = in_fresh_process(direct, str(path))
        except Exception as exc:  # noqa: BLE001 - an out-of-memory kill is a result here
            print(f"direct   : failed: {type(exc).__name__}: {exc}")
            return 0
        print(
            f"direct   : {s2:8.1f} s (read {r2['read']:.1f} s, umap-learn {r2['map']:.1f} s),"
            f" peak RSS {peak2 / MIB:,.0f} MiB ({peak2 / matrix:.2f}x the matrix)"
        )
        print(f"ratio    : time ours / direct {s / s2:.2f}, peak memory ours / direct {peak / peak2:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
