"""`encode --dask` and `evaluate --dask`: partitions on a Dask cluster give the in-process results."""

import logging

import numpy as np
import pytest

import latentspace as ls
from latentspace.errors import InputError
from latentspace.stages import encode as pipeline
from latentspace.stages.evaluate import evaluate


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    )
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    return {
        "pca": ls.fit("digits", "pca", latent_dim=5, out=root / "pca"),
        "vae": ls.fit("digits", "vae", latent_dim=4, out=root / "vae", epochs=2, hidden=(32,)),
    }


@pytest.mark.parametrize("name", ["pca", "vae"])
def test_encode_on_a_cluster_equals_in_process(runs, scheduler, tmp_path, monkeypatch, name):
    monkeypatch.setattr(pipeline, "ENCODE_ROWS", 500)  # 4 partitions of the 1,797 digits
    run = runs[name]
    local = pipeline.encode(run, "digits", tmp_path / "local.parquet")
    remote = pipeline.encode(run, "digits", tmp_path / "remote.parquet", dask=scheduler)
    import pyarrow.parquet as pq

    a, b = pq.read_table(local), pq.read_table(remote)
    assert a.schema == b.schema and pq.ParquetFile(remote).metadata.num_row_groups == 4
    za = np.column_stack([a[c].to_numpy() for c in a.column_names if c.startswith("z_")])
    zb = np.column_stack([b[c].to_numpy() for c in b.column_names if c.startswith("z_")])
    assert np.abs(za - zb).max() < 1e-5  # one torch thread per worker: the same up to summation order
    # data the workers cannot load themselves (no file, no built-in) are shipped block by block
    ds = ls.load_data("digits")
    shipped = pipeline.encode(run, ls.Dataset(X=ds.X, name="mem"), dask=scheduler)
    assert shipped.shape == za.shape and np.abs(shipped - za).max() < 1e-5


def test_evaluate_on_a_cluster_equals_in_process(runs, scheduler):
    run = runs["pca"]
    here = evaluate(run, ["neighbourhood"], k=7, force=True)["results"]["neighbourhood"]["values"]
    there = evaluate(run, ["neighbourhood"], k=7, force=True, dask=scheduler)
    assert there["results"]["neighbourhood"]["values"] == here  # exact: integer rank sums per row


def test_local_cluster_and_bad_address(runs, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "ENCODE_ROWS", 900)
    Z = pipeline.encode(runs["pca"], "digits", dask="local")
    assert np.abs(Z - runs["pca"].load_model().encode(ls.load_data("digits").X)).max() < 1e-5
    with pytest.raises(InputError, match="scheduler address"):
        pipeline.encode(runs["pca"], "digits", dask="my-cluster")
