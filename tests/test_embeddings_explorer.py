"""The explorer on runs without a decoder (imported vectors): what the API answers and what the page
shows, checked against numpy. Where a trained model would decode, the nearest real items are shown
(the map click in map space; interpolation steps, attribute edits, prior draws and sliders in latent
space), and the page says so.

The end-to-end case imports 384-d vectors of 8 Gaussian clusters through `latentspace import` (a
string category, a float column, a text column), runs evaluate, map (UMAP) and report, and drives
the explorer in Chromium: 3,000 vectors in the default suite, 20,000 under `-m slow`."""

import base64
import io
import re
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from latentspace.cli import app
from latentspace.runfolder import Run
from latentspace.web.app import create_app, load_state

from .conftest import PageLog, serving

warnings.filterwarnings("ignore", category=DeprecationWarning)
TOKEN = "embeddings-token-789"
H = {"X-Token": TOKEN}
NOTE = "this run holds imported vectors: no decoder; showing the nearest real items"
K_CLUSTERS, DIM = 8, 384


# --- runs ------------------------------------------------------------------------------------------
def cluster_vectors(n: int, seed: int = 0):
    """``n`` vectors of 384 values around 8 random centres (unit noise), their cluster names, a float
    column and a text column ``item <i> of cluster c<j>``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K_CLUSTERS, DIM)).astype(np.float32)
    c = rng.integers(0, K_CLUSTERS, n)
    Z = centres[c] + rng.normal(size=(n, DIM)).astype(np.float32)
    names = np.array([f"c{j}" for j in c])
    texts = [f"item {i} of cluster c{j}" for i, j in enumerate(c)]
    score = (Z[:, 0] * 2.0 + 1.0).astype(np.float64)
    return Z, names, score, texts


def _cli(*args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


def build_cluster_run(root, n: int) -> dict:
    """Files on disk -> `latentspace import` -> evaluate -> map (UMAP) -> report, all by the CLI."""
    Z, names, score, texts = cluster_vectors(n)
    np.save(root / "vectors.npy", Z)
    pq.write_table(pa.table({"cluster": names, "score": score, "text": texts}), root / "meta.parquet")
    run = root / "run"
    _cli(
        "import",
        root / "vectors.npy",
        "--metadata",
        root / "meta.parquet",
        "--label-col",
        "cluster",
        "--text-col",
        "text",
        "--out",
        run,
    )
    evaluated = _cli("evaluate", run)
    _cli("map", run, "--method", "umap", "-p", "n_epochs=200")
    _cli("report", run, "--points", "2000")
    return {"run": run, "Z": Z, "names": names, "texts": texts, "score": score, "evaluate": evaluated}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return build_cluster_run(tmp_path_factory.mktemp("emb-small"), 3000)


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    return build_cluster_run(tmp_path_factory.mktemp("emb-large"), 20000)


@pytest.fixture(scope="module")
def small_state(small):
    return load_state(0, small["run"], wait_layers=True)


@pytest.fixture(scope="module")
def client(small_state):
    from starlette.testclient import TestClient

    return TestClient(
        create_app([small_state], TOKEN), base_url="http://127.0.0.1:8765", raise_server_exceptions=False
    )


# --- numpy, the reference ---------------------------------------------------------------------------
def nearest_rows(data: np.ndarray, queries: np.ndarray, k: int = 1) -> np.ndarray:
    """The k nearest rows of ``data`` for each query, in float64, ties to the lower row."""
    data, queries = np.asarray(data, np.float64), np.atleast_2d(np.asarray(queries, np.float64))
    out = []
    for q in queries:
        d = ((data - q) ** 2).sum(1)
        out.append(np.lexsort((np.arange(len(d)), d))[:k])
    return np.array(out)


def lerp_path(za, zb, steps: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return ((1 - t) * za.astype(np.float64) + t * zb.astype(np.float64)).astype(np.float32)


# --- the report card and the report ---------------------------------------------------------------
def check_evaluate_and_report(info: dict) -> None:
    run = Run(info["run"])
    card = run.read_json("metrics.json")["results"]
    probes = card["probes"]["values"]
    assert probes["linear_probe_latent"] > 0.9 and probes["knn_latent"] > 0.9  # the category is the label
    for family in ("reconstruction", "smoothness", "generation"):
        assert card[family]["skipped"].startswith("not measured: it needs a")
    assert run.config["label_col"] == "cluster"
    assert run.config["dataset"]["label_names"] == [f"c{j}" for j in range(K_CLUSTERS)]
    page = (info["run"] / "report.html").read_text()
    assert "<h2>Map of the latent space</h2>" in page and "<h2>Nearest neighbours</h2>" in page
    for title in ("Originals and reconstructions", "Samples", "Latent traversal", "Interpolation"):
        assert f"<h2>{title}</h2>" not in page
        assert f"<b>{title}</b>: not shown: this run holds imported vectors and has no decoder." in page
    for j in range(K_CLUSTERS):  # the classes are named: the legend, the metadata summary
        assert f'["c{j}", "#' in page
    assert re.search(r"cluster \(the label\)</td><td>text</td><td>8 distinct: c\d \([\d,]+\)", page)
    assert "text (the items&#x27; text)" in page and "min " in page  # the float column's range
    assert NOTE in page


def test_evaluate_and_report_of_imported_clusters(small):
    check_evaluate_and_report(small)


# --- the API ----------------------------------------------------------------------------------------
def test_describe_and_map_say_there_is_no_decoder(client, small):
    info = client.get("/api/runs", headers=H).json()["runs"][0]
    assert info["has_decoder"] is False and info["has_encoder"] is False and info["note"] == NOTE
    assert info["items"]["kind"] == "text" and info["items"]["column"] == "text"
    assert [m["name"] for m in info["items"]["metadata"]] == ["cluster", "score", "text"]
    assert info["labels"] == [f"c{j}" for j in range(K_CLUSTERS)] and info["can_sample"] is True
    m = client.get("/api/runs/0/map", headers=H).json()
    assert m["error"] is None
    codes = np.frombuffer(base64.b64decode(m["label"]), np.int32)
    assert [f"c{j}" for j in codes[:50]] == small["names"][:50].tolist()


def test_metadata_columns_colour_the_map(client, small):
    info = client.get("/api/runs", headers=H).json()["runs"][0]
    assert info["colour_columns"] == ["cluster", "score"]  # the text column has 3,000 values: no colours
    m = client.get("/api/runs/0/meta/0", headers=H).json()
    names, codes = np.unique(small["names"], return_inverse=True)
    assert m["name"] == "cluster" and m["names"] == names.tolist() and m["values"] is None
    assert np.array_equal(np.frombuffer(base64.b64decode(m["codes"]), np.int32), codes)
    m = client.get("/api/runs/0/meta/1", headers=H).json()
    assert np.array_equal(
        np.frombuffer(base64.b64decode(m["values"]), np.float32), small["score"].astype(np.float32)
    )


@pytest.mark.parametrize(
    "method, path, body, words",
    [
        ("get", "meta/2", None, "j 2 is out of range: the colour columns are 0..1"),
        ("get", "meta/x", None, "j must be an integer"),
        ("get", "items/3000/view", None, "item 3000 is out of range"),
        ("get", "items/-1/view", None, "item -1 is out of range"),
        ("post", "nearest", {"z": [0.0] * 3}, f"z must be a list of {DIM} finite numbers"),
        ("post", "nearest", {"z": [0.0] * DIM, "k": 65}, "k must be an integer in [1, 64]"),
        ("post", "nearest", {"z": [0.0] * DIM, "k": "3"}, "k must be an integer in [1, 64]"),
        ("post", "nearest", {"z": [0.0] * DIM, "extra": 1}, "unknown field 'extra'"),
        ("post", "nearest", {"z": [1e9] + [0.0] * (DIM - 1)}, "standard deviations from the mean"),
        ("post", "decode", {"z": [0.0] * DIM}, "run has no decoder (embeddings): it cannot decode"),
    ],
)
def test_new_endpoints_refuse_bad_input_in_one_line(client, method, path, body, words):
    r = getattr(client, method)(
        f"/api/runs/0/{path}", headers=H, **({"json": body} if body is not None else {})
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert words in detail and "\n" not in detail, detail
    assert client.get("/api/runs", headers=H).status_code == 200


def test_item_view_neighbours_and_refused_decode(client, small):
    Z = small["Z"]
    r = client.get("/api/runs/0/items/17?k=6", headers=H).json()
    assert r["reconstruction"] is None and r["error"] is None
    assert r["view"]["text"] == small["texts"][17] and r["view"]["label"] == small["names"][17]
    assert r["view"]["meta"]["score"] == pytest.approx(small["score"][17])
    d = ((Z.astype(np.float64) - Z[17]) ** 2).sum(1)
    d[17] = np.inf
    assert r["neighbours"] == np.lexsort((np.arange(len(d)), d))[:6].tolist()
    assert [v["text"] for v in r["neighbour_views"]] == [small["texts"][j] for j in r["neighbours"]]
    tip = client.get("/api/runs/0/items/5/view", headers=H).json()
    assert tip["text"] == "item 5 of " + "cluster " + small["names"][5] and tip["image"] is None
    dec = client.post("/api/runs/0/decode", json={"z": Z[3].tolist()}, headers=H)
    assert dec.status_code == 422 and "has no decoder" in dec.json()["detail"]
    assert "\n" not in dec.json()["detail"]


def test_nearest_interpolate_attribute_sample_match_numpy(client, small_state, small):
    Z, names = small["Z"], small["names"]
    r = client.post("/api/runs/0/nearest", json={"z": Z[40].tolist(), "k": 5}, headers=H).json()
    assert r["rows"] == nearest_rows(Z, Z[40], 5)[0].tolist() and r["rows"][0] == 40
    # interpolation: the real item nearest each step of the straight latent path
    a, b = int(np.flatnonzero(names == "c0")[0]), int(np.flatnonzero(names == "c5")[0])
    r = client.post("/api/runs/0/interpolate", json={"a": a, "b": b, "steps": 9}, headers=H).json()
    expect = nearest_rows(Z, lerp_path(Z[a], Z[b], 9))[:, 0]
    assert r["rows"] == expect.tolist() and r["rows"][0] == a and r["rows"][-1] == b
    assert len(r["positions"]) == 9 and [v["row"] for v in r["views"]] == r["rows"]
    # attribute: item + alpha (mean B - mean A), clipped to the explorer's span, then the nearest item
    ga, gb = np.flatnonzero(names == "c1")[:150], np.flatnonzero(names == "c2")[:150]
    item = int(np.flatnonzero(names == "c1")[200])
    body = {"group_a": ga.tolist(), "group_b": gb.tolist(), "item": item, "alphas": [0.0, 0.5, 1.0]}
    r = client.post("/api/runs/0/attribute", json=body, headers=H).json()
    v = Z[gb].astype(np.float64).mean(0) - Z[ga].astype(np.float64).mean(0)
    Zs = (Z[item][None] + np.array([0.0, 0.5, 1.0], np.float32)[:, None] * v.astype(np.float32)[None]).astype(
        np.float32
    )
    s = small_state
    Zs = np.clip(Zs, s.mean - 6 * s.std, s.mean + 6 * s.std).astype(np.float32)
    assert r["rows"] == nearest_rows(Z, Zs)[:, 0].tolist()
    assert r["rows"][0] == item and names[r["rows"][-1]] == "c2"  # the analogy lands in group B's cluster
    assert r["direction_norm"] == pytest.approx(float(np.linalg.norm(v)), rel=1e-5)
    # samples: the real item nearest each draw of the Gaussian fitted to the vectors
    r = client.post("/api/runs/0/sample", json={"n": 6, "seed": 3}, headers=H).json()
    draws = s.model.sample_latent(6, random_state=3)
    assert r["rows"] == nearest_rows(Z, draws)[:, 0].tolist() and len(r["positions"]) == 6


def test_map_click_lists_the_nearest_items_in_map_space(client, small_state):
    emb = small_state.lmap.embedding
    point = (emb[:, 0].mean() + 0.37, emb[:, 1].mean() - 0.21)
    r = client.post(
        "/api/runs/0/inverse", json={"point": [float(point[0]), float(point[1])]}, headers=H
    ).json()
    p32 = np.asarray(point, np.float32)
    assert r["rows"] == nearest_rows(emb, p32, 8)[0].tolist()
    assert r["distances"] == pytest.approx(np.linalg.norm(emb[r["rows"]] - p32, axis=1).tolist(), abs=1e-4)
    assert len(r["z"]) == DIM and "item" not in r


# --- Chromium ---------------------------------------------------------------------------------------
def _isolated(emb: np.ndarray, avoid=()) -> int:
    """The point whose nearest other point on the map is farthest: a click there hits it alone."""
    from scipy.spatial import cKDTree

    d, _ = cKDTree(emb.astype(np.float64)).query(emb.astype(np.float64), 2)
    d = d[:, 1].copy()
    d[list(avoid)] = -1
    return int(np.argmax(d))


def _screen(pg, i: int):
    x, y = pg.evaluate(f"explorer.maps[0].toScreen(explorer.maps[0].x[{i}], explorer.maps[0].y[{i}])")
    box = pg.locator("#map0").bounding_box()
    return box["x"] + x, box["y"] + y


def _rows(pg, section: str) -> list[int]:
    return pg.evaluate(f"[...document.querySelectorAll('#{section} figure')].map((f) => +f.dataset.row)")


def check_in_chromium(browser, state, info, shot: str) -> None:
    Z, texts, names = info["Z"], info["texts"], info["names"]
    emb = state.lmap.embedding
    with serving(create_app([state], TOKEN)) as url:
        log = PageLog(browser)
        pg = log.page
        pg.goto(f"{url}/?token={TOKEN}")
        pg.wait_for_selector("#maps[data-ready='1']", timeout=60000)
        assert pg.inner_text("#note") == NOTE
        assert pg.text_content("#space .title") == "Nearest real items to a map point"
        # hover: the tooltip shows the item's label, its text and a metadata value
        i = _isolated(emb)
        pg.mouse.move(*_screen(pg, i))
        pg.wait_for_selector("#tip .tiptext", timeout=10000)
        assert pg.evaluate("explorer.maps[0].hoverIdx") == i
        assert pg.inner_text("#tip .tiptext") == texts[i]
        assert f"#{i} ({names[i]})" in pg.inner_text("#tip b") and "score: " in pg.inner_text("#tip")
        # a click on empty space lists the real items nearest that place on the map
        ex, ey = pg.evaluate(
            "(() => { const m = explorer.maps[0], d = m.data;"
            " for (let y = 30; y < m.h - 30; y += 17) for (let x = 30; x < m.w - 30; x += 17) {"
            "   const q = m.toData(x, y);"
            "   if (q[0] > d.x0 && q[0] < d.x1 && q[1] > d.y0 && q[1] < d.y1 && m.pick(x, y, 25) < 0) return [x, y]; } })()"
        )
        box = pg.locator("#map0").bounding_box()
        pg.mouse.click(box["x"] + ex, box["y"] + ey)
        pg.wait_for_function("explorer.spaceRows !== undefined", timeout=20000)
        point = np.asarray(pg.evaluate("explorer.spacePoint"), np.float32)
        expect = nearest_rows(emb, point, 8)[0].tolist()
        assert pg.evaluate("explorer.spaceRows") == expect
        assert _rows(pg, "space") == expect
        # interpolation between two selected items: the real item nearest each step
        a = _isolated(emb)
        b = _isolated(emb, avoid=np.flatnonzero(names == names[a]))
        pg.mouse.click(*_screen(pg, a))
        pg.wait_for_function(
            f"explorer.selected === {a} && document.querySelector('#sel .textcard') !== null"
        )
        assert pg.inner_text("#sel .textcard") == texts[a]
        assert "score" in pg.inner_text("#sel .meta table")
        pg.click("button[data-tab=interp]")
        pg.click("#seta")
        pg.mouse.click(*_screen(pg, b))
        pg.wait_for_function(f"explorer.selected === {b}")
        pg.click("#setb")
        pg.click("#igo")
        pg.wait_for_function("explorer.interpRows !== undefined", timeout=20000)
        expect = nearest_rows(Z, lerp_path(Z[a], Z[b], 10))[:, 0].tolist()
        assert pg.evaluate("explorer.interpRows") == expect and _rows(pg, "interp") == expect
        assert expect[0] == a and expect[-1] == b
        pg.click("button[data-tab=samples]")
        pg.click("#sample")
        pg.wait_for_selector("#samples figure .textcard")
        # colour by a metadata column: its classes get a legend; a number column a colour bar
        legend = "[...document.querySelectorAll('#legend0 .legendname')].map((e) => e.textContent)"
        assert pg.evaluate(legend) == [f"c{j}" for j in range(K_CLUSTERS)]
        pg.select_option("#colorby", "meta:score")
        pg.wait_for_selector("#legend0.colourbar canvas")
        assert "score" in pg.inner_text("#legend0 .legendhead")
        pg.select_option("#colorby", "meta:cluster")
        pg.wait_for_function("!document.getElementById('legend0').classList.contains('colourbar')")
        assert pg.evaluate(legend) == [f"c{j}" for j in range(K_CLUSTERS)]
        pg.select_option("#colorby", "label")
        log.shot(shot)
        assert log.errors == []
        assert log.external(url) == []


def test_text_run_in_chromium(browser, small_state, small):
    check_in_chromium(browser, small_state, small, "explorer-embeddings-text.png")


@pytest.mark.slow
def test_twenty_thousand_imported_vectors_end_to_end(large, browser):
    """20,000 vectors of 384 values: import, evaluate, map, report and explore (about a minute)."""
    check_evaluate_and_report(large)
    state = load_state(0, large["run"])
    assert state.error is None and state.n == 20000
    check_in_chromium(browser, state, large, "explorer-embeddings-20k.png")


# --- an image-item run and a fitted run -------------------------------------------------------------
@pytest.fixture(scope="module")
def digit_images(tmp_path_factory, digits):
    """Digits as imported vectors (their 64 pixels through a fixed random projection to 16 values),
    the 8x8 images as items, a category and a number of metadata."""
    import latentspace as ls
    from latentspace.maps.store import map_run

    rng = np.random.default_rng(1)
    Z = (np.asarray(digits.X, np.float64) @ rng.normal(size=(64, 16))).astype(np.float32)
    words = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    meta = {"digit": pa.array(words[digits.y]).dictionary_encode(), "ink": np.asarray(digits.X).sum(1)}
    pixels = (np.asarray(digits.X).reshape(-1, 8, 8) * 255).round().astype(np.uint8)
    out = tmp_path_factory.mktemp("emb-images") / "run"
    ls.from_embeddings(Z, meta, out=out, items=pixels, label_col="digit")
    map_run(Run(out), "umap", n_epochs=100)
    return {"run": out, "Z": Z, "pixels": pixels, "words": words[digits.y]}


def test_image_run_shows_its_images(browser, digit_images):
    from PIL import Image
    from starlette.testclient import TestClient

    state = load_state(0, digit_images["run"], wait_layers=True)
    c = TestClient(create_app([state], TOKEN), base_url="http://127.0.0.1:8765")
    info = c.get("/api/runs", headers=H).json()["runs"][0]
    assert (
        info["items"]["kind"] == "image" and info["items"]["images"] is True and info["has_decoder"] is False
    )
    view = c.get("/api/runs/0/items/9/view", headers=H).json()
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(view["image"]))))
    assert np.array_equal(img, digit_images["pixels"][9])  # the very pixels given to the import
    assert view["meta"]["digit"] == digit_images["words"][9] and view["label"] == digit_images["words"][9]
    thumb = c.get("/api/runs/0/items/9/thumb", headers=H)
    assert thumb.headers["content-type"] == "image/png" and thumb.content == base64.b64decode(view["image"])
    with serving(create_app([state], TOKEN)) as url:
        log = PageLog(browser)
        pg = log.page
        pg.goto(f"{url}/?token={TOKEN}")
        pg.wait_for_selector("#maps[data-ready='1']", timeout=30000)
        i = _isolated(state.lmap.embedding)
        pg.mouse.move(*_screen(pg, i))
        pg.wait_for_selector("#tip img", timeout=10000)
        assert f"#{i} ({digit_images['words'][i]})" in pg.inner_text("#tip b")
        assert "ink: " in pg.inner_text("#tip")
        pg.mouse.click(*_screen(pg, i))
        pg.wait_for_function(
            f"explorer.selected === {i} && document.querySelectorAll('#nbrs figure img').length === 8"
        )
        assert pg.evaluate("document.querySelector('#sel .pair img').naturalWidth") == 8
        assert pg.evaluate("document.querySelectorAll('#sel .pair img').length") == 1  # no reconstruction
        assert "digit" in pg.inner_text("#sel .meta table") and "ink" in pg.inner_text("#sel .meta table")
        # the sliders show the real items nearest the slider point
        pg.click("button[data-tab=sliders]")
        pg.wait_for_function("document.querySelectorAll('#sliders .decoded figure').length === 4")
        assert _rows(pg, "sliders")[0] == i
        log.shot("explorer-embeddings-images.png")
        assert log.errors == []


def test_fitted_run_still_decodes(tmp_path, digits):
    from starlette.testclient import TestClient

    from latentspace.stages.fit import fit

    fit(digits, "pca", latent_dim=4, out=tmp_path / "pca")
    state = load_state(0, tmp_path / "pca")
    assert state.layers.wait(120)  # the layers (the error among them) come from a background thread
    assert state.has_decoder and state.error is not None
    c = TestClient(create_app([state], TOKEN), base_url="http://127.0.0.1:8765")
    info = c.get("/api/runs", headers=H).json()["runs"][0]
    assert info["has_decoder"] is True and info["note"] is None and info["items"]["kind"] == "data"
    r = c.get("/api/runs/0/items/12", headers=H).json()
    X = np.asarray(state.data.X)
    assert r["error"] == pytest.approx(
        float(np.mean((state.model.decode(state.Z[12:13])[0] - X[12]) ** 2)), rel=1e-5
    )
    assert r["reconstruction"] is not None and r["view"]["image"] is not None
    r = c.post("/api/runs/0/inverse", json={"point": state.lmap.embedding[40].tolist()}, headers=H).json()
    assert "item" in r and "rows" not in r
    r = c.post("/api/runs/0/interpolate", json={"a": 0, "b": 1, "steps": 5}, headers=H).json()
    assert len(r["items"]) == 5 and "rows" not in r
    r = c.post("/api/runs/0/decode", json={"z": state.Z[3].tolist(), "png": True}, headers=H)
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"


def test_an_encoder_without_a_decoder(tmp_path, digits):
    """An ONNX encoder imported alone: items are the data's rows (images), nothing is decoded, the
    explorer and the report show the nearest real items and say why."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from starlette.testclient import TestClient

    from latentspace.report.html import build_report
    from latentspace.stages.import_model import import_model

    torch.manual_seed(0)
    enc = torch.nn.Linear(64, 4)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            enc.eval(),
            (torch.zeros(2, 64),),
            buf,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "b"}, "y": {0: "b"}},
            dynamo=False,
        )
    import_model(digits, out=tmp_path / "enc", encoder=buf.getvalue())
    state = load_state(0, tmp_path / "enc", wait_layers=True)
    assert state.has_encoder and not state.has_decoder and state.error is None
    c = TestClient(create_app([state], TOKEN), base_url="http://127.0.0.1:8765")
    info = c.get("/api/runs", headers=H).json()["runs"][0]
    assert info["note"] == "this run's model (onnx) has no decoder; showing the nearest real items"
    assert info["items"]["kind"] == "data" and info["items"]["images"] is True
    r = c.get("/api/runs/0/items/30", headers=H).json()
    assert (
        r["reconstruction"] is None
        and r["view"]["image"] == base64.b64encode(state.items.render_png(np.asarray(digits.X[30]))).decode()
    )
    emb = state.lmap.embedding  # no stored map: the PCA of the latents
    point = emb[11] + np.float32(0.05)
    r = c.post("/api/runs/0/inverse", json={"point": point.astype(float).tolist()}, headers=H).json()
    assert r["rows"] == nearest_rows(emb, point, 8)[0].tolist()
    page = build_report(Run(tmp_path / "enc"), max_points=200)
    assert "<b>Interpolation</b>: not shown: its model (onnx) has no decoder." in page
    assert "<h2>Originals and reconstructions</h2>" not in page and page.count("<figure class='item'>") == 42
