"""Results as tables: ``run.latents()``, ``run.map(method)`` and ``run.metrics()`` are pyarrow tables
whose values are the run's files (read here with pyarrow and json directly) and the model's own
encoding; ``to_pandas()`` and ``polars.from_arrow`` convert them in one call; the core imports no
pandas for them."""

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import latentspace as ls
from latentspace.errors import InputError

K = 6
# run first in a subprocess: the optional packages cannot be imported there, as if not installed
BLOCK = (
    "import sys\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.partition('.')[0] in ('pandas', 'polars', 'fastapi', 'uvicorn', 'dask',"
    " 'distributed', 'onnxruntime', 'anywidget', 'anndata'):\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "sys.meta_path.insert(0, Block())\n"
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from latentspace.maps.store import map_run
    from latentspace.stages.evaluate import evaluate

    out = tmp_path_factory.mktemp("tables") / "pca"
    r = ls.fit("digits", "pca", latent_dim=K, out=out)
    map_run(r, "pca", layers=False)
    evaluate(r, ["reconstruction", "probes", "disentanglement"])
    return ls.open_run(out)


def test_latents_are_the_files_values_and_the_models_encoding(run):
    t = run.latents()
    raw = pq.read_table(run.path / "latents.parquet")
    n = run.n_items
    assert t.column_names[: K + 1] == ["row"] + [f"z_{j}" for j in range(K)]
    assert t["row"].to_pylist() == list(range(n))
    for j in range(K):
        assert t[f"z_{j}"].type == pa.float32()
        np.testing.assert_array_equal(t[f"z_{j}"].to_numpy(), raw[f"z_{j}"].to_numpy())
    ds = ls.load_data("digits")
    Z = run.load_model().encode(ds.X)
    got = np.column_stack([t[f"z_{j}"].to_numpy() for j in range(K)])
    np.testing.assert_allclose(got, Z, atol=1e-4)
    np.testing.assert_array_equal(t["label"].to_numpy(), ds.y)
    assert set(t["split"].to_pylist()) == {"train", "test"}


def test_latents_as_one_vector_column(run):
    t = run.latents(vector=True)
    assert t.column_names == ["row", "vector", "split", "label"]
    assert t["vector"].type == pa.list_(pa.float32(), K)
    flat = np.asarray(t["vector"].combine_chunks().flatten()).reshape(-1, K)
    np.testing.assert_array_equal(flat, run.latent_matrix())


def test_one_call_to_pandas_and_polars(run):
    pl = pytest.importorskip("polars")
    df = run.latents().to_pandas()
    assert df.shape == (run.n_items, 1 + K + 2) and str(df["z_0"].dtype) == "float32"
    np.testing.assert_array_equal(df[[f"z_{j}" for j in range(K)]].to_numpy(), run.latent_matrix())
    frame = pl.from_arrow(run.map("pca"))
    assert frame.shape[0] == run.n_items and frame["x"].dtype == pl.Float32
    vec = pl.from_arrow(run.latents(vector=True))["vector"]
    np.testing.assert_array_equal(vec.to_numpy(), run.latent_matrix())


def test_map_table_is_the_map_file_with_the_items_columns(run):
    t = run.map("pca")
    raw = pq.read_table(run.path / "map-pca.parquet")
    assert t.column_names == ["row", "x", "y", "split", "label"]
    np.testing.assert_array_equal(t["x"].to_numpy(), raw["x"].to_numpy())
    np.testing.assert_array_equal(t["y"].to_numpy(), raw["y"].to_numpy())
    np.testing.assert_array_equal(t["label"].to_numpy(), run.latents()["label"].to_numpy())
    # a PCA map of the latents: x is the latents' first principal component (up to its sign)
    Z = run.latent_matrix().astype(np.float64)
    Zc = Z - Z.mean(0)
    pc1 = Zc @ np.linalg.svd(Zc, full_matrices=False)[2][0]
    assert abs(np.corrcoef(pc1, t["x"].to_numpy())[0, 1]) > 0.999
    with pytest.raises(
        InputError, match=r"has no 2-D umap map \(it has: pca\); make one with `latentspace map"
    ):
        run.map("umap")


def test_metrics_in_long_form(run):
    t = run.metrics()
    assert t.column_names == ["family", "name", "value", "text", "direction", "params"]
    card = json.loads((run.path / "metrics.json").read_text())["results"]
    rows = t.to_pylist()
    numbers = [r for r in rows if r["value"] is not None]
    assert len(numbers) >= 6
    for r in numbers:
        assert r["value"] == pytest.approx(card[r["family"]]["values"][r["name"]], rel=0, abs=0)
        assert json.loads(r["params"]) == card[r["family"]].get("params", {})
    by = {(r["family"], r["name"]): r for r in rows}
    assert by["reconstruction", "mse"]["direction"] == "lower"
    assert by["probes", "linear_probe_latent"]["direction"] == "higher"
    assert by["probes", "linear_probe_latent"]["value"] > 0.8  # digits, 6 PCA components
    assert by["probes", "knn_k"]["direction"] is None  # a setting, not a score
    skipped = by["disentanglement", "skipped"]
    assert skipped["value"] is None and "factors" in skipped["text"]


def test_metrics_of_an_unevaluated_run_is_empty(tmp_path):
    r = ls.fit("digits", "pca", latent_dim=2, out=tmp_path / "r")
    t = r.metrics()
    assert t.num_rows == 0 and t.schema.field("value").type == pa.float64()


def test_tables_need_no_pandas(run):
    """pyarrow imports pandas whenever it is installed (any ``to_numpy``), so the check is that the
    tables are made with pandas and the other optional packages unimportable."""
    code = (
        f"{BLOCK}"
        "import latentspace as ls\n"
        f"r = ls.open_run({str(run.path)!r})\n"
        "t = [r.latents(), r.latents(vector=True), r.map('pca'), r.metrics()]\n"
        "print([x.num_rows for x in t])\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    n = run.n_items
    assert res.stdout.split() == [f"[{n},", f"{n},", f"{n},", f"{run.metrics().num_rows}]"]
