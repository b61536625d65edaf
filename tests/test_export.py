"""``latentspace export`` / ``ls.export``: each format read back by its own conventions or tool, and
checked against the run (latents, map, labels, metadata, neighbours from scikit-learn, pictures).

Embedding Atlas: the ``embedding-atlas`` command serves the exported Parquet on loopback and its page,
in headless Chromium, shows every point (its count, and the map's canvas painted); screenshot in
test-artifacts/export-embedding-atlas.png. AnnData: ``anndata.read_h5ad``. The projector: its TSV
files (shape, the header rule), the sprite's size and cells, both config files."""

import datetime
import io
import json
import math
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import latentspace as ls
from latentspace.cli import app
from latentspace.errors import InputError
from latentspace.runfolder.items import RunItems

from .conftest import PageLog, free_port

runner = CliRunner()
N_META = 300


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    from latentspace.maps.store import map_run

    out = tmp_path_factory.mktemp("export") / "digits-pca"
    r = ls.fit("digits", "pca", latent_dim=8, out=out)
    map_run(r, "pca", layers=False)
    return ls.open_run(out)


@pytest.fixture(scope="module")
def meta_run(tmp_path_factory):
    """Imported vectors with metadata of every kind (a tab and a line break in a text, NaNs, a
    column named like a reserved one)."""
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(N_META, 5)).astype(np.float32)
    meta = {
        "kind": pa.array([["a", "b", "c"][i % 3] for i in range(N_META)]).dictionary_encode(),
        "score": np.where(np.arange(N_META) % 7 == 0, np.nan, rng.normal(size=N_META)),
        "flag": np.arange(N_META) % 2 == 0,
        "note": pa.array([f"item\t{i}\nline" for i in range(N_META)]),
        "when": pa.array(
            [datetime.datetime(2024, 1, 1) + datetime.timedelta(hours=i) for i in range(N_META)]
        ),
        "label": pa.array([f"x{i % 2}" for i in range(N_META)]),
    }
    out = tmp_path_factory.mktemp("export") / "imported"
    return ls.from_embeddings(Z, meta, out=out, label_col="kind")


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, message):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert message in " ".join(result.output.split())


def exact_neighbours(Z, k):
    from sklearn.neighbors import NearestNeighbors

    dist, ids = NearestNeighbors(n_neighbors=k + 1).fit(Z.astype(np.float64)).kneighbors()
    return ids[:, :k], dist[:, :k]  # kneighbors() without X leaves each row out of its own list


# --- Embedding Atlas --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def atlas_file(digits_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("atlas") / "digits.parquet"
    result = invoke("export", digits_run.path, "--to", "embedding-atlas", "--out", out)
    assert result.exit_code == 0, result.output
    assert "embedding-atlas" in result.output and "--neighbors neighbors" in result.output
    return out


def test_atlas_parquet_holds_the_run(digits_run, atlas_file):
    t = pq.read_table(atlas_file)
    assert t.column_names == [
        "row",
        "vector",
        "projection_x",
        "projection_y",
        "neighbors",
        "label",
        "split",
        "image",
    ]
    Z = digits_run.latent_matrix()
    n = len(Z)
    assert t.num_rows == n and t["row"].to_pylist() == list(range(n))
    np.testing.assert_array_equal(np.stack(t["vector"].to_numpy(zero_copy_only=False)), Z)
    m = digits_run.map("pca")
    np.testing.assert_array_equal(t["projection_x"].to_numpy(), m["x"].to_numpy())
    np.testing.assert_array_equal(t["projection_y"].to_numpy(), m["y"].to_numpy())
    nb = t["neighbors"].combine_chunks()
    ids = np.stack(nb.field("ids").to_numpy(zero_copy_only=False))
    dist = np.stack(nb.field("distances").to_numpy(zero_copy_only=False))
    ref_ids, ref_dist = exact_neighbours(Z, 15)
    assert ids.shape == (n, 15) and (ids == ref_ids).mean() > 0.999  # ties may swap
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-4, atol=1e-5)
    assert t["label"].to_pylist() == [str(v) for v in ls.load_data("digits").y]
    info = json.loads(t.schema.metadata[b"latentspace"])
    assert info["run"] == "digits-pca" and info["map"] == "pca" and info["neighbors"]["k"] == 15
    from PIL import Image

    items = RunItems(digits_run)
    for i in (0, 5, n - 1):
        px = np.asarray(Image.open(io.BytesIO(t["image"][i].as_py())))
        np.testing.assert_array_equal(px, items.pixels([i])[0][:, :, 0])


@pytest.fixture(scope="module")
def atlas_server(atlas_file):
    """The real ``embedding-atlas`` command serving the export on loopback."""
    port = free_port()
    exe = Path(sys.executable).parent / "embedding-atlas"
    args = [exe, atlas_file, "--x", "projection_x", "--y", "projection_y", "--neighbors", "neighbors"]
    args += ["--image", "image", "--host", "127.0.0.1", "--port", str(port), "--no-auto-port"]
    proc = subprocess.Popen([str(a) for a in args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"embedding-atlas stopped: {proc.stderr.read().decode()[-2000:]}")
            try:
                urllib.request.urlopen(url + "data/metadata.json", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("embedding-atlas did not start within 120 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def test_embedding_atlas_shows_every_point(browser, atlas_server, digits_run):
    meta = json.loads(urllib.request.urlopen(atlas_server + "data/metadata.json").read())
    assert meta["props"]["data"]["projection"] == {"x": "projection_x", "y": "projection_y"}
    assert meta["props"]["data"]["neighbors"] == "neighbors"
    log = PageLog(browser)
    page = log.page
    failed = []
    page.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 500 else None)
    page.goto(atlas_server)
    n = digits_run.n_items
    page.get_by_text(f"{n:,} / {n:,} points").first.wait_for(timeout=60_000)
    canvas = max(page.locator("canvas").all(), key=lambda c: c.bounding_box()["width"])
    from PIL import Image

    painted = None
    for _ in range(40):  # the points are drawn a moment after the count appears
        img = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")).astype(int)
        blue = (img[:, :, 2] - img[:, :, 0] > 40).sum()  # its default point colour is a blue
        if blue > 2000:
            painted = blue
            break
        time.sleep(0.5)
    log.shot("export-embedding-atlas.png")
    assert painted, "the map's canvas shows no points"
    assert not failed, failed
    assert not log.external("http://127.0.0.1"), log.external("http://127.0.0.1")


# --- the projector ------------------------------------------------------------------------------------
def read_tsv(path: Path) -> list[list[str]]:
    text = path.read_text()
    assert text.endswith("\n")
    return [line.split("\t") for line in text[:-1].split("\n")]


def test_projector_files_follow_its_conventions(digits_run, tmp_path):
    out = tmp_path / "proj"
    result = ls.export(digits_run, to="projector", out=out)
    assert sorted(p.name for p in result["files"]) == sorted(p.name for p in out.iterdir())
    Z = digits_run.latent_matrix()
    n, k = Z.shape
    tensors = read_tsv(out / "tensors.tsv")
    assert len(tensors) == n and {len(r) for r in tensors} == {k}
    np.testing.assert_allclose(np.array(tensors, dtype=np.float64), Z, rtol=1e-6, atol=1e-7)
    meta = read_tsv(out / "metadata.tsv")
    assert meta[0] == ["label", "split"] and len(meta) == n + 1  # several columns: a header row
    assert [r[0] for r in meta[1:]] == [str(v) for v in ls.load_data("digits").y]
    # the sprite: a ceil(sqrt(n)) square grid of 8 x 8 digits, row-major
    from PIL import Image

    side = math.ceil(math.sqrt(n))
    sprite = Image.open(out / "sprite.png")
    assert sprite.size == (side * 8, side * 8) and max(sprite.size) <= 8192
    cfg = json.loads((out / "projector_config.json").read_text())["embeddings"][0]
    assert cfg["sprite"] == {"imagePath": "sprite.png", "singleImageDim": [8, 8]}
    assert cfg["tensorShape"] == [n, k] and cfg["metadataPath"] == "metadata.tsv"
    pbtxt = (out / "projector_config.pbtxt").read_text()
    assert pbtxt.count("single_image_dim: 8") == 2 and 'tensor_path: "tensors.tsv"' in pbtxt
    a = np.asarray(sprite)
    items = RunItems(digits_run)
    for i in (0, side + 3, n - 1):
        r, c = divmod(i, side)
        np.testing.assert_array_equal(a[r * 8 : r * 8 + 8, c * 8 : c * 8 + 8], items.pixels([i])[0][:, :, 0])


def test_projector_sprite_is_shrunk_to_its_limit(digits_run, tmp_path, monkeypatch):
    from latentspace.export import projector

    monkeypatch.setattr(projector, "SPRITE_MAX", 200)  # 43 x 43 cells of 8 px would be 344 px
    ls.export(digits_run, to="projector", out=tmp_path / "p")
    from PIL import Image

    size = Image.open(tmp_path / "p" / "sprite.png").size
    cfg = json.loads((tmp_path / "p" / "projector_config.json").read_text())["embeddings"][0]
    dim = cfg["sprite"]["singleImageDim"]
    assert max(size) <= 200 and dim == [4, 4] and size == (43 * 4, 43 * 4)


def test_projector_metadata_header_rule_and_clean_cells(meta_run, tmp_path):
    ls.export(meta_run, to="projector", out=tmp_path / "p")
    meta = read_tsv(tmp_path / "p" / "metadata.tsv")
    # the label (from kind), then the metadata; the run's own "label" column keeps its prefix
    assert meta[0] == ["label", "split", "kind", "score", "flag", "note", "when", "meta_label"]
    assert len(meta) == N_META + 1 and {len(r) for r in meta} == {8}
    assert meta[1][0] == meta[1][2] == "a" and meta[1][1] in ("train", "test")
    assert meta[1][5] == "item 0 line" and meta[1][3] == ""  # a tab and a line break; NaN is empty
    # one column: no header row (the projector reads every line as an item)
    r = ls.from_embeddings(np.eye(4, 3, dtype=np.float32) + 1, out=tmp_path / "one")
    ls.export(r, to="projector", out=tmp_path / "p1")
    one = read_tsv(tmp_path / "p1" / "metadata.tsv")
    assert len(one) == 4 and {len(x) for x in one} == {1} and set(x[0] for x in one) <= {"train", "test"}
    assert not (tmp_path / "p1" / "sprite.png").exists()
    assert (
        "sprite" not in json.loads((tmp_path / "p1" / "projector_config.json").read_text())["embeddings"][0]
    )


# --- AnnData ------------------------------------------------------------------------------------------
def test_anndata_reads_the_export(digits_run, meta_run, tmp_path):
    anndata = pytest.importorskip("anndata")
    out = tmp_path / "digits.h5ad"
    ls.export(digits_run, to="anndata", out=out)
    ad = anndata.read_h5ad(out)
    Z = digits_run.latent_matrix()
    assert ad.n_obs == len(Z) and ad.shape == (len(Z), 0)
    assert sorted(ad.obsm.keys()) == ["X_latent", "X_pca"]
    np.testing.assert_array_equal(ad.obsm["X_latent"], Z)
    m = digits_run.map("pca")
    np.testing.assert_array_equal(ad.obsm["X_pca"], np.column_stack([m["x"].to_numpy(), m["y"].to_numpy()]))
    assert list(ad.obs_names[:3]) == ["0", "1", "2"]
    assert str(ad.obs["label"].dtype) == "category"
    assert list(ad.obs["label"].astype(str)) == [str(v) for v in ls.load_data("digits").y]
    assert ad.uns["latentspace"]["run"] == "digits-pca" and list(ad.uns["latentspace"]["maps"]) == ["pca"]

    ls.export(meta_run, to="anndata", out=tmp_path / "meta.h5ad")
    ad = anndata.read_h5ad(tmp_path / "meta.h5ad")
    assert ad.obsm["X_latent"].shape == (N_META, 5) and "X_pca" in ad.obsm  # a PCA fitted now
    obs = ad.obs
    assert list(obs.columns) == ["label", "split", "kind", "score", "flag", "note", "when", "meta_label"]
    np.testing.assert_array_equal(np.isnan(obs["score"].to_numpy()), np.arange(N_META) % 7 == 0)
    assert obs["flag"].dtype == bool and obs["flag"].sum() == N_META // 2
    assert obs["note"].iloc[3] == "item\t3\nline" and obs["when"].iloc[1].startswith("2024-01-01")


# --- bad input ----------------------------------------------------------------------------------------
def test_bad_input_is_one_line(digits_run, tmp_path):
    one_line_error(
        invoke("export", digits_run.path, "--to", "csv", "--out", tmp_path / "x.csv"),
        "--to must be one of embedding-atlas, projector, anndata; got 'csv'",
    )
    one_line_error(
        invoke("export", digits_run.path, "--to", "embedding-atlas", "--out", tmp_path / "x.csv"),
        "--out must end in .parquet (the format written follows the suffix); got x.csv",
    )
    one_line_error(
        invoke("export", digits_run.path, "--to", "anndata", "--map", "umap", "--out", tmp_path / "a.h5ad"),
        "--map umap: digits-pca has no 2-D umap map (it has: pca); make it with `latentspace map",
    )
    assert not (tmp_path / "a.h5ad").exists()
    one_line_error(
        invoke("export", digits_run.path, "--to", "projector", "--out", digits_run.path / "proj"),
        "is inside the run folder",
    )
    out = tmp_path / "e.parquet"
    out.write_bytes(b"mine")
    one_line_error(
        invoke("export", digits_run.path, "--to", "embedding-atlas", "--out", out),
        "already exists; choose another --out or pass --overwrite to replace it",
    )
    assert out.read_bytes() == b"mine"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    one_line_error(
        invoke("export", digits_run.path, "--to", "projector", "--out", tmp_path / "full"), "already exists"
    )
    one_line_error(
        invoke("export", tmp_path / "nope", "--to", "projector", "--out", tmp_path / "p"), "no run folder at"
    )
    result = invoke(
        "export", digits_run.path, "--to", "embedding-atlas", "--out", out, "--overwrite", "--neighbours", "3"
    )
    assert result.exit_code == 0, result.output
    assert len(pq.read_table(out)["neighbors"][0].as_py()["ids"]) == 3
    assert (
        sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    )  # no temporary file left
    with pytest.raises(InputError, match="neighbours must be at least 0"):
        ls.export(digits_run, to="embedding-atlas", out=tmp_path / "n.parquet", neighbours=-1)


def test_export_is_callable_after_its_modules_are_imported(digits_run, tmp_path):
    import latentspace.export.atlas  # noqa: F401 - binds latentspace.export to the room

    assert callable(ls.export) and ls.export is sys.modules["latentspace.export"]
    res = ls.export(digits_run, "embedding-atlas", tmp_path / "a.parquet", neighbours=0)
    assert "neighbors" not in pq.read_table(res["files"][0]).column_names
    assert (
        res["open"]
        == f"embedding-atlas {tmp_path / 'a.parquet'} --x projection_x --y projection_y --image image"
    )
