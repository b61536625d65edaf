"""Map layers that say where a map can be trusted (maps/layers.py, stored by maps/store.py), the
density overlay (maps/overlay.py), how far a decoded point lies from the data, the explorer's
latent index and routes (web/layers.py), and the side-by-side rule (maps.store.shared_method)."""

import hashlib
import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from latentspace.errors import InputError, RunIntegrityError
from latentspace.maps import LatentMap, check_params, load_map
from latentspace.maps.layers import OFF_DATA, K, decoder_layers, directions, neighbours_kept
from latentspace.maps.overlay import density_overlay
from latentspace.maps.store import load_layers, map_run, save_map, shared_method
from latentspace.runfolder import Run
from latentspace.stages.fit import fit

TOKEN = "layers-token"
H = {"X-Token": TOKEN}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits):
    """PCA runs of the digits: 5-d latents with a stored PCA map (layers included), 2-d latents
    with a PCA map, and 3-d whitened latents with a map stored without layers."""
    root = tmp_path_factory.mktemp("layers")
    fit(digits, "pca", latent_dim=5, out=root / "p5")
    fit(digits, "pca", latent_dim=2, out=root / "p2")
    fit(digits, "pca", latent_dim=3, whiten=True, out=root / "w3")
    map_run(Run(root / "p5"), "pca")
    map_run(Run(root / "p2"), "pca")
    map_run(Run(root / "w3"), "pca", layers=False)
    return root


def _knn(A: np.ndarray, k: int) -> np.ndarray:
    """Each row's k nearest other rows, by a full float64 distance matrix and a stable sort."""
    A = A.astype(np.float64)
    D = ((A[:, None, :] - A[None, :, :]) ** 2).sum(2)
    np.fill_diagonal(D, np.inf)
    return np.argsort(D, axis=1, kind="stable")[:, :k]


def test_distortion_equals_numpy(runs):
    run = Run(runs / "p5")
    layers = load_layers(run, "pca")
    Z, emb = run.latent_matrix(), load_map(run, "pca").embedding
    a, b = _knn(Z, K), _knn(emb, K)
    expect = np.array([len(set(x) & set(y)) / K for x, y in zip(a, b, strict=True)])
    got = layers.get("distortion")
    assert got.dtype == np.float32 and np.array_equal(got, expect.astype(np.float32))
    assert 0.1 < got.mean() < 0.3  # a 2-D projection of 5-d latents keeps a sixth of a neighbourhood (0.17)
    assert layers.info["distortion"] == {"k": K, "graph": "exact", "metric": "euclidean"}
    # typical neighbour distance: the median distance to the k-th neighbour
    D = np.sqrt(((Z[:, None, :].astype(np.float64) - Z[None]) ** 2).sum(2))
    np.fill_diagonal(D, np.inf)
    assert layers.typical_distance == pytest.approx(float(np.median(np.sort(D, 1)[:, K - 1])), rel=1e-5)


def test_distortion_is_one_where_the_map_is_the_latents(runs):
    layers = load_layers(Run(runs / "p2"), "pca")
    assert np.all(layers.get("distortion") == 1.0)


def test_neighbours_kept_counts_shared_entries():
    a = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    b = np.array([[4, 3, 9, 10], [8, 7, 6, 5]])
    assert neighbours_kept(a, b).tolist() == [0.5, 1.0]


def test_sensitivity_of_a_linear_decoder_is_the_norm_of_w_u():
    rng = np.random.default_rng(0)
    W, c = rng.normal(size=(6, 20)), rng.normal(size=20)
    Z = rng.normal(size=(300, 6)).astype(np.float32)

    def decode(z):
        return z.astype(np.float64) @ W + c

    _, sens, info = decoder_layers(decode, Z, count=4, seed=3)
    U = directions(6, 4, seed=3)
    assert np.allclose(U @ U.T, np.eye(4), atol=1e-12)  # orthonormal unit directions
    expect = np.sqrt(np.mean(np.linalg.norm(U @ W, axis=1) ** 2))  # RMS of |W u_j|
    assert info["directions"] == 4 and info["measured"] == 300
    assert np.allclose(sens, expect, rtol=1e-4)
    # as many directions as dimensions: |W|_F / sqrt(d), whatever the draw
    for seed in (0, 1):
        _, full, _ = decoder_layers(decode, Z, count=6, seed=seed)
        assert np.allclose(full, np.linalg.norm(W) / np.sqrt(6), rtol=1e-4)
    # only the given rows are measured; the rest are NaN
    _, part, info = decoder_layers(decode, Z, rows=np.array([3, 7]))
    assert np.isfinite(part).sum() == 2 and np.isfinite(part[[3, 7]]).all() and info["measured"] == 2


def test_sensitivity_and_error_of_a_whitened_pca_run(runs):
    """A whitened PCA decodes z to z sqrt(ev) C + mean (C orthonormal rows): with all 3 directions,
    the sensitivity is sqrt(sum(ev) / 3) at every point; the error is the mean squared residual."""
    from typer.testing import CliRunner

    from latentspace.cli import app

    run = Run(runs / "w3")
    assert load_layers(run, "pca") is None  # stored without layers: still loads
    assert load_map(run, "pca").embedding.shape == (1797, 2)
    res = CliRunner().invoke(app, ["layers", str(runs / "w3")])
    assert res.exit_code == 0 and "layer sensitivity" in res.output, res.output
    run = Run(runs / "w3")
    layers = load_layers(run, "pca")
    model = run.load_model()
    W = model.components_.astype(np.float64) * np.sqrt(model.explained_variance_)[:, None]
    assert np.allclose(layers.get("sensitivity"), np.linalg.norm(W) / np.sqrt(3), rtol=1e-3)  # 4 digits
    assert len(np.unique(layers.get("sensitivity"))) == 1  # linear: one value, no float32 noise
    X, Z = run.load_dataset().X, run.latent_matrix()
    err = np.mean((model.decode(Z).astype(np.float64) - X) ** 2, axis=1)
    assert np.allclose(layers.get("error"), err, rtol=1e-5)


# --- stored with the map, checked when read ---------------------------------------------------------
def _resign(run_dir, name: str) -> None:
    from latentspace.runfolder.folder import _config_digest

    cfg_path = run_dir / "config.json"
    config = json.loads(cfg_path.read_text())
    config["files"][name] = hashlib.sha256((run_dir / name).read_bytes()).hexdigest()
    config["config_sha256"] = _config_digest(config)
    cfg_path.write_text(json.dumps(config))


def _edit(run_dir, column: str, fn, meta_fn=None) -> None:
    """Rewrite a layer column of map-pca.parquet (or drop it: fn None) and re-sign the run."""
    path = run_dir / "map-pca.parquet"
    t = pq.read_table(path)
    meta = json.loads(t.schema.metadata[b"latentspace.map"])
    if fn is None:
        t = t.drop_columns([column])
    elif column in t.column_names:
        v = fn(t[column].to_numpy().copy())
        t = t.set_column(t.column_names.index(column), column, pa.array(v))
    else:
        t = t.append_column(column, pa.array(fn(np.zeros(t.num_rows, np.float32))))
    if meta_fn is not None:
        meta_fn(meta)
    pq.write_table(t.replace_schema_metadata({b"latentspace.map": json.dumps(meta).encode()}), path)
    _resign(run_dir, "map-pca.parquet")


def _set(i, value):
    def fn(v):
        v[i] = value
        return v

    return fn


@pytest.mark.parametrize(
    "column, fn, meta_fn, match",
    [
        ("distortion", _set(4, 1.5), None, "layer distortion must be shares in"),
        ("distortion", _set(4, 0.55), None, "layer distortion must be shares of k = 10"),
        ("distortion", _set(4, np.nan), None, "layer distortion must be shares in"),
        ("error", _set(0, -1.0), None, "layer error must be finite and >= 0"),
        ("error", _set(0, np.inf), None, "layer error must be finite and >= 0"),
        ("sensitivity", _set(9, np.nan), None, "layer sensitivity has 1,796 measured values"),
        ("sensitivity", _set(9, -2.0), None, "layer sensitivity must be >= 0"),
        ("error", None, None, "the layer record lists error, but there is no such column"),
        ("secret", lambda v: v, None, "unknown column 'secret'"),
        (
            "distortion",
            lambda v: v,
            lambda m: m["layers"]["info"].pop("distortion"),
            "not in the map's layer",
        ),
        ("distortion", lambda v: v, lambda m: m["layers"].update(k="ten"), r"layers.k must be an integer"),
    ],
)
def test_tampered_layers_are_refused(runs, tmp_path, column, fn, meta_fn, match):
    bad = tmp_path / "bad"
    shutil.copytree(runs / "p5", bad)
    _edit(bad, column, fn, meta_fn)
    with pytest.raises(RunIntegrityError, match=match) as info:
        load_map(Run(bad), "pca")
    assert "\n" not in str(info.value) and "map-pca.parquet" in str(info.value)


def test_layers_round_trip_and_unsigned_changes_are_refused(runs, tmp_path):
    from latentspace.maps.layers import compute_layers

    run = Run(runs / "p5")
    stored = load_layers(run, "pca")
    again = compute_layers(run, load_map(run, "pca"))
    assert set(stored.values) == {"distortion", "error", "sensitivity"}
    for name in stored.values:
        assert np.array_equal(stored.get(name), again.get(name)), name
    assert stored.info["sensitivity"] == {**again.info["sensitivity"]}
    bad = tmp_path / "unsigned"
    shutil.copytree(runs / "p5", bad)
    t = pq.read_table(bad / "map-pca.parquet")
    v = t["error"].to_numpy().copy()
    v[0] = 0.5
    pq.write_table(t.set_column(t.column_names.index("error"), "error", pa.array(v)), bad / "map-pca.parquet")
    with pytest.raises(RunIntegrityError, match="map-pca.parquet does not match the checksum"):
        load_map(Run(bad), "pca")


# --- the explorer: layers as columns, distance from the data -------------------------------------------
@pytest.fixture(scope="module")
def client(runs):
    from starlette.testclient import TestClient

    from latentspace.web.app import create_app, load_state

    state = load_state(0, runs / "p5")
    return state, TestClient(create_app([state], TOKEN), base_url="http://127.0.0.1:8765")


def test_layers_are_served_as_columns(client):
    import base64

    s, c = client
    info = c.get("/api/runs/0/layers", headers=H).json()
    assert [x["name"] for x in info["layers"]] == ["distortion", "error", "sensitivity"]
    first = info["layers"][0]
    assert first["kind"] == "numeric" and first["range"] == [0.0, 1.0] and first["good"] == "high"
    assert "10 nearest latent neighbours" in first["explain"]
    keys = [col["key"] for col in c.get("/api/runs", headers=H).json()["runs"][0]["columns"]]
    assert {"error", "layer:distortion", "layer:sensitivity"} <= set(keys)
    got = c.get("/api/runs/0/layers/distortion", headers=H).json()
    values = np.frombuffer(base64.b64decode(got["values"]), np.float32)
    assert np.array_equal(values, load_layers(s.run, "pca").get("distortion"))
    # the reconstruction error is read from the map file (not decoded at start-up)
    assert np.array_equal(s.error, load_layers(s.run, "pca").get("error"))
    r = c.get("/api/runs/0/layers/nope", headers=H)
    assert r.status_code == 422 and "not a layer of this run's map" in r.json()["detail"]


def test_slider_answer_as_png_with_its_place_in_a_header(client):
    """The page's slider on an image run asks {z, place, png}: the PNG's bytes (those of a plain png
    request) with the same position and data distance as the JSON answer, in the X-Place header."""
    import json

    s, c = client
    z = (s.Z[17] + 0.05).tolist()
    r = c.post("/api/runs/0/decode", json={"z": z, "place": True, "png": True}, headers=H)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content[:4] == b"\x89PNG"
    plain = c.post("/api/runs/0/decode", json={"z": z, "png": True}, headers=H)
    assert r.content == plain.content
    placed = json.loads(r.headers["X-Place"])
    answer = c.post("/api/runs/0/decode", json={"z": z, "place": True}, headers=H).json()
    assert placed["position"] == answer["position"] and placed["data_distance"] == answer["data_distance"]
    assert placed["data_distance"]["row"] == 17


def test_off_data_warning(client):
    s, c = client
    Z = s.Z.astype(np.float64)
    D = np.sqrt(((Z[:, None, :] - Z[None]) ** 2).sum(2))
    np.fill_diagonal(D, np.inf)
    typical = float(np.median(np.sort(D, 1)[:, K - 1]))
    # on a real latent: distance 0, no warning
    r = c.post("/api/runs/0/decode", json={"z": s.Z[17].tolist(), "place": True}, headers=H).json()
    near = r["data_distance"]
    assert near["row"] == 17 and near["distance"] == 0.0 and near["off_data"] is False
    assert near["typical"] == pytest.approx(typical, rel=1e-5) and near["limit"] == OFF_DATA
    assert np.allclose(r["position"], s.lmap.embedding[17], atol=1e-4)
    # a click far from the data on the PCA map: its latent lies far from every real one
    far = (s.lmap.embedding.max(0) + 0.9 * np.ptp(s.lmap.embedding, 0)).tolist()
    r = c.post("/api/runs/0/inverse", json={"point": far}, headers=H).json()
    z = np.array(r["z"])
    d = np.sqrt(((Z - z) ** 2).sum(1))
    near = r["data_distance"]
    assert near["row"] == int(np.argmin(d)) and near["distance"] == pytest.approx(d.min(), rel=1e-5)
    assert near["ratio"] == pytest.approx(d.min() / typical, rel=1e-4) and near["ratio"] > OFF_DATA
    assert near["off_data"] is True
    # a click on an item's own place: its latent's projection, close to the data
    r = c.post("/api/runs/0/inverse", json={"point": s.lmap.embedding[40].tolist()}, headers=H).json()
    assert r["data_distance"]["ratio"] < OFF_DATA and r["data_distance"]["off_data"] is False


def test_the_latent_index_matches_exact_search(client):
    from latentspace.knn import nearest

    s, _ = client
    rng = np.random.default_rng(1)
    Q = (s.Z[rng.choice(s.n, 50)] + rng.normal(size=(50, s.latent_dim)) * s.std).astype(np.float32)
    idx, dist = s.layers.index.query(Q, 8)
    ref_i, ref_d = nearest(s.Z, Q, 8)
    assert np.array_equal(idx, ref_i) and np.allclose(dist, ref_d, rtol=1e-6)


@pytest.mark.parametrize("rows, gemm_rows", [(1 << 15, 1024), (300, 70)])
def test_the_latent_index_passes_and_ties(monkeypatch, rows, gemm_rows):
    """Rows offered in several passes and products (a tail block shorter than 64), exact
    duplicates (equal distances rank by row), data far from the origin and k past the number of
    blocks: the same rows and distances as a float64 brute force."""
    import latentspace.web.latent_index as li

    monkeypatch.setattr(li, "_ROWS", rows)
    monkeypatch.setattr(li, "_GEMM_ROWS", gemm_rows)
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(1_001, 12)).astype(np.float32) + 500  # far from the origin
    Z[700:760] = Z[5]  # 61 copies of one row
    index = li.LatentIndex(Z)
    Q = np.concatenate([Z[[5, 0, 999]], Z[:13] + rng.normal(size=(13, 12)).astype(np.float32) * 0.3])
    for k in (1, 8, 70):
        idx, dist = index.query(Q, k)
        exact = ((Z[None].astype(np.float64) - Q[:, None].astype(np.float64)) ** 2).sum(2)
        ref = np.lexsort((np.broadcast_to(np.arange(len(Z)), exact.shape), exact), axis=1)[:, :k]
        assert np.array_equal(idx, ref), k
        assert np.allclose(dist, np.sqrt(np.take_along_axis(exact, ref, 1)), rtol=1e-6)
    assert list(index.query(Z[5], 61)[0][0]) == [5, *range(700, 760)]  # a tie of 61, by row


# --- density contours and captions -----------------------------------------------------------------
def test_contours_and_captions_of_three_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [12.0, 1.0], [5.0, 10.0]])
    P = np.concatenate([rng.normal(size=(400, 2)) + c for c in centres]).astype(np.float32)
    y = np.repeat([2, 0, 1], 400)  # codes into the names below
    names = ["cats", "dogs", "birds"]
    out = density_overlay(P, {"label": (y, names)})
    assert out["available"] and len(out["regions"]) == 3
    found = {}
    for r in out["regions"]:
        cap = r["captions"]["label"]
        assert cap["share"] == 1.0 and r["points"] > 300
        centre = centres[np.argmin(np.linalg.norm(centres - [r["x"], r["y"]], axis=1))]
        assert np.linalg.norm(centre - [r["x"], r["y"]]) < 1.0  # at the blob's densest place
        found[cap["value"]] = tuple(centre)
    assert found == {"birds": (0.0, 0.0), "cats": (12.0, 1.0), "dogs": (5.0, 10.0)}
    assert [c["mass"] for c in out["contours"]] == [0.5, 0.8, 0.95]
    assert all(len(c["lines"]) == 3 for c in out["contours"][:2])  # one ring per blob
    ring = np.array(out["contours"][0]["lines"][0])
    assert ring.ndim == 2 and ring.shape[1] == 2
    assert density_overlay(np.zeros((10, 3)))["available"] is False


def test_overlay_route(client):
    s, c = client
    out = c.get("/api/runs/0/overlay", headers=H).json()
    assert out["available"] and out["caption_by"] == ["label"] and len(out["regions"]) >= 3
    assert sum(r["points"] for r in out["regions"]) <= s.n


# --- side by side: one map method for both runs ------------------------------------------------------
def test_side_by_side_uses_one_method(runs, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from latentspace.cli import app

    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(runs / "p5", a)
    shutil.copytree(runs / "p5", b)
    (b / "map-pca.parquet").unlink()
    cfg = json.loads((b / "config.json").read_text())
    del cfg["files"]["map-pca.parquet"]
    from latentspace.runfolder.folder import _config_digest

    cfg["config_sha256"] = _config_digest(cfg)
    (b / "config.json").write_text(json.dumps(cfg))
    # run A gets a t-SNE map (its coordinates need not come from t-SNE for this rule)
    ra = Run(a)
    Z = ra.latent_matrix()
    emb = load_map(ra, "pca").embedding
    save_map(ra, LatentMap("tsne", 2, check_params("tsne", {}), 0, emb, Z))
    method, notes = shared_method([Run(a), Run(b)])
    assert method == "pca" and len(notes) == 1
    assert "b has no t-SNE map" in notes[0] and f"latentspace map {b} --method tsne" in notes[0]
    with pytest.raises(InputError, match=f"b has no 2-D tsne map.*latentspace map {b} --method tsne"):
        shared_method([Run(a), Run(b)], "tsne")
    assert shared_method([Run(a), Run(a)]) == ("tsne", [])
    assert shared_method([Run(a), Run(b)], "pca") == ("pca", [])
    assert shared_method([Run(b)], "tsne") == ("tsne", [])  # one run: as asked

    served = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: served.append(app))
    res = CliRunner().invoke(app, ["explore", str(a), str(b)])
    assert res.exit_code == 0, res.output
    assert "both runs show their PCA map: b has no t-SNE map" in " ".join(res.output.split())
    res = CliRunner().invoke(app, ["explore", str(a), str(b), "--map", "tsne"])
    assert res.exit_code == 2 and "b has no 2-D tsne map" in res.output and len(served) == 1


# --- layers never block start-up: computed in the background, offered when ready ----------------------
def test_missing_layers_are_computed_in_the_background_and_stored(runs, tmp_path, monkeypatch):
    import threading

    from starlette.testclient import TestClient

    import latentspace.maps.layers as map_layers
    from latentspace.web.app import create_app, load_state

    shutil.copytree(runs / "w3", tmp_path / "w3")
    save_map(Run(tmp_path / "w3"), load_map(Run(tmp_path / "w3"), "pca"))  # a stored map without layers
    gate, real = threading.Event(), map_layers.compute_layers
    monkeypatch.setattr(map_layers, "compute_layers", lambda *a, **kw: (gate.wait(60), real(*a, **kw))[1])
    s = load_state(0, tmp_path / "w3")  # returns at once: the layers wait for the gate
    c = TestClient(create_app([s], TOKEN), base_url="http://127.0.0.1:8765")
    info = c.get("/api/runs/0/layers", headers=H).json()
    assert info["status"] == "computing" and info["layers"] == [] and info["typical_distance"] is None
    before = [col["key"] for col in c.get("/api/runs", headers=H).json()["runs"][0]["columns"]]
    assert not {"error", "layer:distortion"} & set(before)
    r = c.get("/api/runs/0/layers/distortion", headers=H)
    assert r.status_code == 422 and "being computed" in r.json()["detail"]
    r = c.post("/api/runs/0/decode", json={"z": s.Z[5].tolist(), "place": True}, headers=H).json()
    assert r["data_distance"]["typical"] is None and r["data_distance"]["off_data"] is False
    gate.set()
    assert s.layers.wait(120)
    info = c.get("/api/runs/0/layers", headers=H).json()
    assert info["status"] == "ready" and [x["name"] for x in info["layers"]] == [
        "distortion",
        "error",
        "sensitivity",
    ]
    after = [col["key"] for col in c.get("/api/runs", headers=H).json()["runs"][0]["columns"]]
    assert after[: len(before)] == before  # appended: the numbers of the columns already listed hold
    assert [x["index"] for x in info["columns"]] == [after.index(x["key"]) for x in info["columns"]]
    stored = load_layers(Run(tmp_path / "w3"), "pca")  # stored atomically in the map file
    assert stored is not None and np.array_equal(stored.get("distortion"), s.layers.layers.get("distortion"))
    assert info["typical_distance"] == pytest.approx(stored.typical_distance)
    assert any("stored in map-pca.parquet" in n for n in info["notes"])


def test_a_large_run_without_a_graph_samples_the_distortion(runs, tmp_path, monkeypatch):
    """Past FULL_MOST rows without a stored kNN graph, the distortion is exact on a seeded sample
    (NaN elsewhere), with its mean and 95% interval, and no graph is built."""
    import latentspace.maps.layers as map_layers
    import latentspace.web.layers as web_layers
    from latentspace.maps.layers import K, Layers, mean_interval
    from latentspace.web.app import load_state

    shutil.copytree(runs / "p5", tmp_path / "p5")
    run = Run(tmp_path / "p5")
    files = set(run.config["files"])
    monkeypatch.setattr(web_layers, "FULL_MOST", 500)
    monkeypatch.setattr(map_layers, "DISTORTION_SAMPLE", 300)
    # the stored map's layers but its distortion: the distortion alone is measured, on a sample
    s = load_state(0, tmp_path / "p5", wait_layers=True)
    have = load_layers(run, "pca")
    keep = Layers(
        {k: v for k, v in have.values.items() if k != "distortion"},
        {k: v for k, v in have.info.items() if k != "distortion"},
        have.k,
    )
    monkeypatch.setattr(map_layers, "stored_graph", lambda *a, **kw: None)
    layers, _, note = web_layers._compute(
        s, s.lmap, {"distortion", "error", "sensitivity"}, keep, False, None, None
    )
    d = layers.get("distortion")
    rows = np.flatnonzero(np.isfinite(d))
    assert len(rows) == 300 and layers.info["distortion"]["sampled"] is True
    Z, emb = run.latent_matrix(), s.lmap.embedding
    a, b = _knn(Z, K)[rows], _knn(emb, K)[rows]
    expect = np.array([len(set(x) & set(y)) / K for x, y in zip(a, b, strict=True)], np.float32)
    assert np.array_equal(d[rows], expect)
    entry = layers.describe()[0]
    mean, lo, hi = mean_interval(expect)
    assert entry["mean"] == pytest.approx(mean) and entry["interval"] == pytest.approx([lo, hi])
    assert lo < mean < hi and "seeded sample of 300 of 1,797 points" in entry["explain"]
    full = load_layers(run, "pca").get("distortion")  # the exact layer at every point
    assert lo - 0.05 < full.mean() < hi + 0.05
    assert layers.storable().values.keys() == {"error", "sensitivity"}  # a sample is not stored
    assert set(Run(tmp_path / "p5").config["files"]) == files  # no graph built or stored


def test_the_sliders_place_builds_no_index_per_request(client, monkeypatch):
    """The slider's {z, place: true} uses the latent index built at load: no index is built and no
    exact search is run per request, and the position equals the weighted mean of the neighbours'."""
    import latentspace.knn as knn
    import latentspace.web.latent_index as li

    s, c = client
    built = []
    monkeypatch.setattr(li.LatentIndex, "__init__", lambda self, Z: built.append(1))
    monkeypatch.setattr(knn, "nearest", lambda *a, **kw: built.append("nearest"))
    monkeypatch.setattr(knn.ExactIndex, "build", lambda *a, **kw: built.append("build"))
    for i in (3, 50, 700):
        r = c.post("/api/runs/0/decode", json={"z": s.Z[i].tolist(), "place": True}, headers=H).json()
        assert r["data_distance"]["row"] == i and r["data_distance"]["distance"] == 0.0
        assert np.allclose(r["position"], s.lmap.transform(s.Z[i : i + 1])[0], atol=1e-5)  # PCA: exact
    assert built == []
