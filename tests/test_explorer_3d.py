"""3-D maps in the explorer and the report: `explore RUN --map umap-3d` starts, the 3-D view paints,
turns, colours, hovers, lassoes and picks the right row in Chromium (checked against the page's own
camera matrices, with rows hidden behind others), and the report shows a working 3-D view."""

import base64
import warnings

import numpy as np
import pytest

from latentspace.maps.store import load_map, map_run
from latentspace.runfolder import Run
from latentspace.stages.fit import fit
from latentspace.web import view3d
from latentspace.web.app import create_app, load_state

from .conftest import PageLog, serving

warnings.filterwarnings("ignore", category=DeprecationWarning)
TOKEN = "test-token-3d"
H = {"X-Token": TOKEN}


@pytest.fixture(scope="module")
def run3d(tmp_path_factory, digits):
    """A PCA run of the digits with a stored 3-D UMAP map and no 2-D map; and what the page was
    told about its maps before the 3-D map was written."""
    path = tmp_path_factory.mktemp("explore3d") / "pca"
    fit(digits, "pca", latent_dim=6, out=path)
    before = view3d.prepare(Run(path), None)[1].describe()
    map_run(Run(path), "umap", 3, n_epochs=100)
    fit(digits, "pca", latent_dim=4, out=path.parent / "flat")  # a run with no 3-D map, to set beside it
    return path, before


def _layer_threads_done() -> None:
    """Wait for the layers of every state loaded so far (a CLI start leaves its thread running):
    two threads storing layers into one run at once would find it changed under them."""
    import threading

    for t in threading.enumerate():
        if t.name == "latentspace-layers":
            t.join(300)


@pytest.fixture(scope="module")
def state3d(run3d):
    _layer_threads_done()
    return load_state(0, run3d[0], "umap-3d", wait_layers=True)


@pytest.fixture(scope="module")
def server(state3d):
    with serving(create_app([state3d], TOKEN)) as url:
        yield url


def test_split_map_name():
    assert view3d.split_map_name("umap-3d") == ("umap", 3)
    assert view3d.split_map_name("tsne-2d") == ("tsne", 2)
    assert view3d.split_map_name("pca") == ("pca", 2)
    assert view3d.split_map_name(None) == (None, 2)
    assert view3d.split_map_name("UMAP-3D") == ("umap", 3)
    from latentspace.errors import InputError

    with pytest.raises(InputError, match=r"--map must be a map method \(pca, tsne, umap\).*got 'bogus'"):
        view3d.split_map_name("bogus")


def test_cli_explore_map_umap_3d_starts(run3d, monkeypatch):
    from starlette.testclient import TestClient
    from typer.testing import CliRunner

    from latentspace.cli import app

    path, before = run3d
    assert before == {"maps": [], "map3d": None, "view": "2d"}  # no 3-D map: no 3-D view
    served = {}
    monkeypatch.setattr("uvicorn.run", lambda app, host, port, **kw: served.update(app=app))
    res = CliRunner().invoke(app, ["explore", str(path), "--map", "umap-3d", "--port", "8931"])
    assert res.exit_code == 0, res.output
    client = TestClient(served["app"], base_url="http://127.0.0.1:8931")
    token = res.output.split("?token=")[1].split()[0]
    run = client.get("/api/runs", headers={"X-Token": token}).json()["runs"][0]
    assert run["view"] == "3d" and run["map3d"] == "umap"
    assert {"method": "umap", "dims": 3} in run["maps"]
    assert run["map"]["method"] == "pca"  # no 2-D UMAP map stored: the 2-D view is a PCA projection
    m = client.get("/api/runs/0/map3d", headers={"X-Token": token}).json()
    got = np.stack([np.frombuffer(base64.b64decode(m[a]), np.float32) for a in "xyz"], 1)
    assert m["method"] == "umap" and np.array_equal(got, load_map(Run(path), "umap", 3).embedding)
    # a 3-D map the run does not hold: one line naming those it has, exit 2
    res = CliRunner().invoke(app, ["explore", str(path), "--map", "tsne-3d"])
    assert res.exit_code == 2 and "has no 3-D tsne map (it has: umap)" in res.output
    _layer_threads_done()


def test_default_view_offers_3d(run3d):
    from starlette.testclient import TestClient

    _layer_threads_done()
    s = load_state(0, run3d[0], wait_layers=True)
    d = s.describe()
    assert (d["view"], d["map3d"]) == ("2d", "umap")
    client = TestClient(create_app([s], TOKEN), base_url="http://127.0.0.1:8765")
    assert client.get("/api/runs/0/map3d", headers=H).status_code == 200
    assert client.get("/api/runs/1/map3d", headers=H).status_code == 404
    for name in ("scatter3d.js", "scatter3d_screen.js"):
        assert client.get(f"/static/{name}").status_code == 200


# --- in Chromium -------------------------------------------------------------------------------------
PIXELS = """(sel) => {
  const v = sel ? document.querySelector(sel) : explorer.maps[0].base;
  const src = v.tagName === 'CANVAS' ? v : v.querySelector('canvas');
  const c = document.createElement('canvas'); c.width = src.width; c.height = src.height;
  const g = c.getContext('2d'); g.drawImage(src, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data, G = 24, grid = new Array(G * G * 3).fill(0);
  let ink = 0;
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
    const i = 4 * (y * c.width + x);
    if (d[i] > 235 && d[i + 1] > 235 && d[i + 2] > 235) continue;
    ink++;
    const k = 3 * (Math.floor(y * G / c.height) * G + Math.floor(x * G / c.width));
    grid[k] += d[i]; grid[k + 1] += d[i + 1]; grid[k + 2] += d[i + 2];
  }
  return { ink: ink, total: c.width * c.height, grid: grid };
}"""
FRAME = "new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"


def _changed(a, b) -> float:
    """How much two pictures differ: the share of colour mass that moved between grid cells."""
    ga, gb = np.array(a["grid"], float), np.array(b["grid"], float)
    return float(np.abs(ga - gb).sum() / max(ga.sum(), gb.sum(), 1.0))


def _screen(pg, view: str, xyz: np.ndarray) -> dict:
    """Each point's place on screen, from the page's own camera (window.__ls3d): centre in CSS pixels,
    depth, drawn radius, and whether it is drawn at all."""
    m = pg.evaluate(f"{view}.matrices()")
    M = np.array(m["mvp"], np.float64).reshape(4, 4).T  # column-major, as WebGL takes it
    h = np.c_[xyz.astype(np.float64), np.ones(len(xyz))] @ M.T
    w = h[:, 3]
    sx = (1 + h[:, 0] / w) * m["width"] / 2
    sy = (1 - h[:, 1] / w) * m["height"] / 2
    r = 0.5 * m["pointSize"] * np.clip(m["sizeRef"] / w, *m["sizeClamp"])
    drawn = (
        (w > m["near"])
        & (w < m["far"])
        & (sx > 2)
        & (sy > 2)
        & (sx < m["width"] - 2)
        & (sy < m["height"] - 2)
    )
    return {"sx": sx, "sy": sy, "w": w, "r": r, "drawn": drawn}


def _front(P, X, Y, margin=0.8):
    """The row drawn at (X, Y), if no disc edge lies within `margin` pixels of it (else None): the
    front-most point whose disc covers it, -1 for none."""
    d = np.hypot(P["sx"] - X, P["sy"] - Y)
    if np.any(P["drawn"] & (np.abs(d - P["r"]) < margin)):
        return None
    cover = np.flatnonzero(P["drawn"] & (d < P["r"]))
    return int(cover[np.argmin(P["w"][cover])]) if len(cover) else -1


def _cases(P, ox, oy, rng):
    """Clicks (viewport X, Y, the row expected) of three kinds: (1) points in the clear, clicked at
    their centre; (2) points partly hidden behind a nearer one, clicked on the part still seen;
    (3) a pixel where a nearer point covers a farther one whose centre is closer to the pointer:
    the nearer one is drawn there, so it must be picked (a nearest-centre pick gets it wrong)."""
    clear, partly, covered = [], [], []
    n = len(P["sx"])
    rows = rng.permutation(np.flatnonzero(P["drawn"]))
    for i in rows:
        # integer viewport pixels around the point's centre, nearest first
        cx, cy = ox + P["sx"][i], oy + P["sy"][i]
        R = int(np.ceil(P["r"][i])) + 1
        grid = [
            (X, Y) for X in range(int(cx) - R, int(cx) + R + 2) for Y in range(int(cy) - R, int(cy) + R + 2)
        ]
        grid.sort(key=lambda q: (q[0] - cx) ** 2 + (q[1] - cy) ** 2)
        d = np.hypot(P["sx"] - P["sx"][i], P["sy"] - P["sy"][i])
        nearer = P["drawn"] & (P["w"] < P["w"][i]) & (d < P["r"] + P["r"][i]) & (np.arange(n) != i)
        X, Y = grid[0]
        if len(clear) < 4 and not nearer.any() and _front(P, X - ox, Y - oy) == i:
            clear.append((X, Y, int(i)))
            continue
        if not nearer.any():
            continue
        at_centre = _front(P, X - ox, Y - oy)
        if len(partly) < 3 and at_centre not in (None, -1, int(i)):
            # its centre is hidden: click where it still shows
            seen = next(((X, Y) for X, Y in grid if _front(P, X - ox, Y - oy) == i), None)
            if seen:
                partly.append((*seen, int(i)))
                continue
        if len(covered) < 3:
            for X, Y in grid:
                f = _front(P, X - ox, Y - oy)
                if f not in (None, -1, int(i)) and P["w"][f] < P["w"][i]:
                    di = np.hypot(P["sx"][i] - (X - ox), P["sy"][i] - (Y - oy))
                    df = np.hypot(P["sx"][f] - (X - ox), P["sy"][f] - (Y - oy))
                    if di < df:
                        covered.append((X, Y, f))
                        break
        if len(clear) == 4 and len(partly) == 3 and len(covered) == 3:
            break
    return clear, partly, covered


def _click_and_check(pg, X, Y, row):
    pg.mouse.click(X, Y)
    # the page's selection, then the view's ring (set once the item's details have arrived)
    pg.wait_for_function(f"explorer.selected === {row}", timeout=5000)
    pg.wait_for_function(f"explorer.maps[0].selected === {row}", timeout=5000)


def test_3d_view_in_chromium(server, browser, state3d):
    log = PageLog(browser)
    pg = log.page
    pg.goto(f"{server}/?token={TOKEN}")
    pg.wait_for_selector("#maps[data-ready='1']", timeout=30000)
    v = "explorer.maps[0]"
    assert pg.evaluate(f"[{v}.constructor.name, {v}.mode, {v}.n, __ls3d.length]") == [
        "LatentScatter3D", "webgl", state3d.n, 1,
    ]  # fmt: skip
    # the view paints: a good share of non-white pixels
    first = pg.evaluate(PIXELS)
    assert first["ink"] > 0.01 * first["total"], first["ink"]
    # orbit: a drag turns the camera and changes the picture
    box = pg.locator("#map0 canvas[data-view='3d']").bounding_box()
    ox, oy = box["x"], box["y"]
    cam0 = pg.evaluate(f"{v}.matrices().camera")
    pg.mouse.move(ox + 300, oy + 300)
    pg.mouse.down()
    pg.mouse.move(ox + 420, oy + 340, steps=6)
    pg.mouse.up()
    pg.evaluate(FRAME)
    cam1 = pg.evaluate(f"{v}.matrices().camera")
    assert cam1["yaw"] != cam0["yaw"] and cam1["pitch"] != cam0["pitch"]
    turned = pg.evaluate(PIXELS)
    assert _changed(first, turned) > 0.2 and turned["ink"] > 0.01 * turned["total"]
    assert pg.evaluate("explorer.selected") == -1  # a drag selects nothing
    # colour by another column: the same points, other colours
    pg.select_option("#colorby", index=len(pg.locator("#colorby option").all()) - 1)
    pg.evaluate(FRAME)
    recoloured = pg.evaluate(PIXELS)
    assert (
        _changed(turned, recoloured) > 0.05 and abs(recoloured["ink"] - turned["ink"]) < 0.02 * turned["ink"]
    )
    pg.select_option("#colorby", "label")
    pg.evaluate(FRAME)

    xyz = state3d.view3d.map.embedding
    P = _screen(pg, v, xyz)
    clear, _, _ = _cases(P, ox, oy, np.random.default_rng(0))
    assert len(clear) == 4, clear
    # hover a point in the clear: it is ringed and its tooltip names it
    X, Y, row = clear[0]
    pg.mouse.move(X, Y)
    pg.wait_for_function(
        f"{v}.hoverIdx === {row} && document.getElementById('tip').style.display === 'block'"
    )
    # 3-D picking selects the row drawn under the pointer
    for X, Y, row in clear:
        _click_and_check(pg, X, Y, row)
    # the selection's neighbours are ringed on the 3-D view
    pg.wait_for_function(f"{v}.highlight.length === 8")
    pg.mouse.move(ox + 5, oy + 5)
    log.shot("explorer-3d.png")
    # larger points, so that many overlap: rows partly hidden, and pixels where a nearer point covers
    pg.evaluate(f"{v}.pointSize = 11; {v}.draw()")
    P = _screen(pg, v, xyz)
    _, partly, covered = _cases(P, ox, oy, np.random.default_rng(1))
    assert len(partly) >= 2 and len(covered) >= 2, (partly, covered)
    for X, Y, row in partly + covered:
        _click_and_check(pg, X, Y, row)
    # a row filtered out (state byte 1, as the page's filters set it) is neither drawn nor picked:
    # the point it covered is picked in its place
    hid = False
    for X, Y, front in covered:
        keep = dict(P, drawn=P["drawn"] & (np.arange(len(xyz)) != front))
        behind = _front(keep, X - ox, Y - oy)
        if behind is not None and behind >= 0:
            pg.evaluate(f"(() => {{ const s = new Uint8Array({v}.n); s[{front}] = 1; {v}.setState(s); }})()")
            _click_and_check(pg, X, Y, behind)
            assert pg.evaluate(f"{v}.pick({X - ox}, {Y - oy})") == behind
            pg.evaluate(f"{v}.setState(new Uint8Array({v}.n))")
            hid = True
            break
    assert hid, covered
    # lasso: the rows whose projection falls inside the drawn outline
    pg.evaluate(f"{v}.pointSize = 5; {v}.draw(); {v}.lassoMode = true;"
                f" window.__lassoed = null; const f = {v}.onLasso;"
                f" {v}.onLasso = (ids) => {{ window.__lassoed = ids; if (f) f(ids); }}; null")  # fmt: skip
    P = _screen(pg, v, xyz)
    x0, y0, x1, y1 = 250.5, 200.5, 520.5, 430.5
    pg.mouse.move(ox + x0, oy + y0)
    pg.mouse.down()
    for X, Y in ((x1, y0), (x1, y1), (x0, y1), (x0, y0 + 1)):
        pg.mouse.move(ox + X, oy + Y, steps=3)
    pg.mouse.up()
    got = pg.evaluate("window.__lassoed")
    inside = np.flatnonzero(
        (P["w"] > 0)
        & (P["sx"] > x0 + 1.5)
        & (P["sx"] < x1 - 1.5)
        & (P["sy"] > y0 + 1.5)
        & (P["sy"] < y1 - 1.5)
    )
    edge = np.flatnonzero(
        (P["sx"] > x0 - 1.5) & (P["sx"] < x1 + 1.5) & (P["sy"] > y0 - 1.5) & (P["sy"] < y1 + 1.5)
    )
    assert len(inside) > 20 and set(inside) <= set(got) <= set(edge)
    pg.evaluate(FRAME)
    log.shot("explorer-3d-lasso.png")  # group A as rings in its colour, if the page made it a group
    assert log.errors == [] and log.external(server) == []


def test_3d_switch_keeps_colours_and_selection(run3d, browser):
    _layer_threads_done()
    s = load_state(0, run3d[0], wait_layers=True)
    with serving(create_app([s], TOKEN)) as url:
        log = PageLog(browser)
        pg = log.page
        pg.goto(f"{url}/?token={TOKEN}")
        pg.wait_for_selector("#maps[data-ready='1']", timeout=30000)
        assert pg.evaluate("explorer.maps[0].constructor.name") == "LatentScatter"
        x, y = pg.evaluate("explorer.maps[0].toScreen(explorer.maps[0].x[5], explorer.maps[0].y[5])")
        box = pg.locator("#map0").bounding_box()
        pg.mouse.click(box["x"] + x, box["y"] + y)
        pg.wait_for_function("explorer.selected >= 0")
        sel = pg.evaluate("explorer.selected")
        pg.click("#view3d")
        pg.wait_for_function("explorer.maps[0].constructor.name === 'LatentScatter3D'")
        assert pg.evaluate("explorer.maps[0].selected") == sel
        assert pg.evaluate("Array.from(explorer.maps[0].colors.slice(0, 30))") == pg.evaluate(
            "Array.from(explorer.view3d.flat[0].colors.slice(0, 30))"
        )
        pg.evaluate(FRAME)
        assert pg.evaluate(PIXELS)["ink"] > 0
        # a group keeps its colouring: its halos go under every disc, so inside a dense group the
        # points' own colours show and the group's colour rings its outline (as in 2-D)
        shares = pg.evaluate(
            """async () => { const m = explorer.maps[0], n = m.n;
            m.setColors(new Uint8Array(n * 3).fill(0).map((_, k) => (k % 3 === 2 ? 255 : 0)));
            m.setState(new Uint8Array(n).fill(4)); m.draw();
            await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
            const src = m.snapshot(), g = src.getContext('2d'), d = g.getImageData(0, 0, src.width, src.height).data;
            let blue = 0, ring = 0;
            for (let i = 0; i < d.length; i += 4) {
              if (d[i] < 90 && d[i + 1] < 90 && d[i + 2] > 150) blue++;
              else if (d[i] > 150 && d[i + 1] < 90 && d[i + 2] > 60 && d[i + 2] < 200) ring++;
            }
            m.setState(new Uint8Array(n)); return [blue, ring]; }"""
        )
        assert shares[1] > 0 and shares[0] > shares[1], shares  # (one pass of rings: 0.23 as much blue)
        # contours are drawn on the 2-D view; a click on empty space in 3-D says where it works
        assert pg.is_disabled("#contours") and "2-D view" in pg.get_attribute("#contours", "title")
        pg.mouse.click(box["x"] + 3, box["y"] + 3)
        pg.wait_for_function(
            "document.getElementById('message').textContent.includes('switch to the 2-D view')"
        )
        pg.click("#view3d")
        pg.wait_for_function("explorer.maps[0].constructor.name === 'LatentScatter'")
        assert not pg.is_disabled("#contours") and "density contours" in pg.get_attribute(
            "#contours", "title"
        )
        assert log.errors == []
    # side by side with a run without a 3-D map: no 3-D view of one beside the other's 2-D map
    other = load_state(1, run3d[0].parent / "flat", wait_layers=True)
    with serving(create_app([s, other], TOKEN)) as url:
        pg = PageLog(browser).page
        pg.goto(f"{url}/?token={TOKEN}")
        pg.wait_for_selector("#maps[data-ready='1']", timeout=30000)
        assert pg.is_disabled("#view3d")
        assert "flat has none" in pg.get_attribute("#view3d", "title")
        # a number colours both maps on one scale: the wider of the two runs' ranges
        pg.select_option("#colorby", "error")  # (6 and 4 components: other errors)
        pg.wait_for_function("explorer.legends[1] && explorer.legends[1].key === 'error'")
        scales = pg.evaluate("explorer.legends.map((l) => [l.scale.lo, l.scale.hi])")
        own = pg.evaluate("explorer.legends.map((l) => l.col.range)")
        assert scales[0] == scales[1] == [min(r[0] for r in own), max(r[1] for r in own)]
        assert own[0] != own[1]
        pg.close()


def test_report_shows_a_working_3d_map(run3d, browser, tmp_path):
    from latentspace.report.html import build_report

    page = build_report(Run(run3d[0]), max_points=1000)
    assert "id='map3d'" in page and "LatentScatter3D" in page
    out = tmp_path / "report.html"
    out.write_text(page)
    log = PageLog(browser)
    pg = log.page
    pg.goto(out.as_uri())
    pg.wait_for_selector("#map3d[data-ready='1']", timeout=20000)
    pg.locator("#map3d").scroll_into_view_if_needed()
    assert pg.evaluate("latentMap3d.mode") == "webgl" and pg.evaluate("latentMap3d.n") == 1000
    first = pg.evaluate(PIXELS, "#map3d")
    assert first["ink"] > 0.005 * first["total"]
    box = pg.locator("#map3d").bounding_box()
    ox, oy = box["x"] + 1, box["y"] + 1  # inside the border
    pg.mouse.move(ox + 200, oy + 200)
    pg.mouse.down()
    pg.mouse.move(ox + 330, oy + 260, steps=5)
    pg.mouse.up()
    pg.evaluate(FRAME)
    assert _changed(first, pg.evaluate(PIXELS, "#map3d")) > 0.2
    # hover and click a point in the clear: its tooltip, then its row marked
    import json

    d = json.loads(pg.evaluate("document.getElementById('map-data').textContent"))
    box = pg.locator("#map3d canvas[data-view='3d']").bounding_box()
    ox, oy = box["x"], box["y"]
    P = _screen(pg, "latentMap3d", np.array(d["xyz3"], np.float32))
    clear, _, _ = _cases(P, ox, oy, np.random.default_rng(2))
    X, Y, i = clear[0]
    pg.mouse.move(X, Y)
    pg.wait_for_function("document.getElementById('tip3d').style.display === 'block'")
    assert pg.inner_text("#tip3d").startswith(f"#{d['rows'][i]}")
    pg.mouse.click(X, Y)
    assert pg.get_attribute("#map3d", "data-selected") == str(d["rows"][i])
    log.shot("report-3d.png", pg.locator("#map-section"))
    assert log.errors == [] and log.external(out.as_uri()) == []  # the file itself, nothing else


# --- the trust layers on the 3-D map ------------------------------------------------------------------
def _knn(A: np.ndarray, k: int) -> np.ndarray:
    """Each row's k nearest other rows, by a full float64 distance matrix and a stable sort."""
    A = A.astype(np.float64)
    D = ((A[:, None, :] - A[None, :, :]) ** 2).sum(2)
    np.fill_diagonal(D, np.inf)
    return np.argsort(D, axis=1, kind="stable")[:, :k]


def test_3d_layers_are_computed_against_the_3d_map_and_stored(state3d, run3d):
    from starlette.testclient import TestClient

    from latentspace.maps.layers import K
    from latentspace.maps.store import load_layers

    s = state3d
    info = s.layers.describe(s)
    assert info["status"] == "ready" and info["map3d"]["status"] == "ready", info
    run = Run(run3d[0])
    Z, emb3 = run.latent_matrix(), load_map(run, "umap", 3).embedding
    a, b = _knn(Z, K), _knn(emb3, K)
    expect = np.array([len(set(x) & set(y)) / K for x, y in zip(a, b, strict=True)], np.float32)
    stored = load_layers(run, "umap", 3)  # stored in map-umap-3d.parquet, as the 2-D maps' are
    assert stored is not None and np.array_equal(stored.get("distortion"), expect)
    assert np.array_equal(s.layers.layers3d.get("distortion"), expect)
    flat = s.layers.layers.get("distortion")  # the 2-D PCA projection's: another map, other values
    assert np.abs(flat - expect).mean() > 0.1 and expect.mean() > flat.mean()
    for name in ("error", "sensitivity"):  # of the latents, not of a map: the same on both
        assert np.array_equal(stored.get(name), s.layers.layers.get(name))
    assert "nearest on the 3-D map" in info["map3d"]["layers"][0]["explain"]
    # the 3-D distortion is also a filter of its own (it differs from the 2-D map's); it does not
    # colour: the 3-D view's distortion colouring already takes the 3-D values
    (col,) = [c for c in info["columns"] if c["key"] == "layer3d:distortion"]
    assert col["filter"] and not col["colour"] and col["name"].startswith("3-D map distortion")
    assert np.array_equal(s.column_data(col["index"]).values, expect)
    c = TestClient(create_app([s], TOKEN), base_url="http://127.0.0.1:8765")
    got = c.get("/api/runs/0/layers/distortion?dims=3", headers=H).json()
    assert np.array_equal(np.frombuffer(base64.b64decode(got["values"]), np.float32), expect)
    r = c.get("/api/runs/0/layers/distortion?dims=4", headers=H)
    assert r.status_code == 422 and "dims must be 2 or 3" in r.json()["detail"]


def test_3d_view_colours_by_the_3d_layer_and_the_url_keeps_view_and_camera(state3d, browser):
    """Colouring the 3-D view by map distortion uses the 3-D map's values (viridis: green rises with
    the value), with its colour bar and explanation; a reload of the URL reopens the 3-D view with
    the camera it had."""
    from scipy.stats import spearmanr

    s = state3d
    v3 = s.layers.layers3d.get("distortion")
    with serving(create_app([s], TOKEN)) as url:
        log = PageLog(browser)
        pg = log.page
        pg.goto(f"{url}/?token={TOKEN}")
        pg.wait_for_selector("#maps[data-ready='1']", timeout=60000)
        assert pg.evaluate("explorer.maps[0].constructor.name") == "LatentScatter3D"  # --map umap-3d
        pg.wait_for_function("!!document.querySelector(\"#colorby option[value='layer:distortion']\")")
        pg.select_option("#colorby", "layer:distortion")
        pg.wait_for_function("explorer.legends[0] && explorer.legends[0].key === 'layer:distortion'")
        rgb = np.array(pg.evaluate("Array.from(explorer.maps[0].colors)"), float).reshape(-1, 3)
        lo, hi = pg.evaluate("[explorer.legends[0].scale.lo, explorer.legends[0].scale.hi]")
        inside = (v3 > lo) & (v3 < hi)
        assert spearmanr(v3[inside], rgb[inside, 1])[0] > 0.99  # the colour follows the 3-D values
        assert len(np.unique(rgb[inside, 1])) > 3
        bar = pg.text_content("#legend0")
        assert "3-D map" in bar and "nearest on the 3-D map" in bar
        # its filter card filters by the 3-D values, the 2-D card by the 2-D ones
        pg.wait_for_selector(".card[data-key='layer3d:distortion']")
        for key, v in (("layer3d:distortion", v3), ("layer:distortion", s.layers.layers.get("distortion"))):
            shown = pg.evaluate(
                f"(() => {{ const c = explorer.table.find((c) => c.key === '{key}');"
                " explorer.cf.set(c, {lo: 0.5, hi: 1}); const n = explorer.cf.shown;"
                " explorer.cf.set(c, null); return n; })()"
            )
            assert shown == int(((v >= 0.5) & (v <= 1)).sum())
        assert int(((v3 >= 0.5) & (v3 <= 1)).sum()) != int(((v >= 0.5) & (v <= 1)).sum())
        # the decoder's sensitivity is the same on both maps: no "3-D" copy of it
        pg.select_option("#colorby", "layer:sensitivity")
        pg.wait_for_function("explorer.legends[0] && explorer.legends[0].key === 'layer:sensitivity'")
        assert "3-D" not in pg.evaluate("explorer.legends[0].col.name")
        # a PCA decoder is linear: its sensitivity is one value (kept to 4 digits, past float32's
        # rounding), drawn in one colour and one histogram bar, not noise spread over the ramp
        v = s.layers.layers.get("sensitivity")
        assert np.nanmax(v) == np.nanmin(v)
        rgb = np.array(pg.evaluate("Array.from(explorer.maps[0].colors)")).reshape(-1, 3)
        assert len(np.unique(rgb[np.isfinite(v)], axis=0)) == 1
        assert (
            pg.evaluate(
                "(() => { const c = explorer.table.find((c) => c.key === 'layer:sensitivity');"
                " return new Set(c.bins).size; })()"
            )
            == 1
        )
        pg.select_option("#colorby", "layer:distortion")
        pg.wait_for_function("explorer.legends[0].key === 'layer:distortion'")
        # back to 2-D: the same colouring takes the 2-D map's values
        pg.click("#view3d")
        pg.wait_for_function("explorer.maps[0].constructor.name === 'LatentScatter'")
        pg.wait_for_function("!explorer.legends[0].col.name.includes('3-D')")
        flat = np.array(pg.evaluate("Array.from(explorer.maps[0].colors)"), float).reshape(-1, 3)
        v2 = s.layers.layers.get("distortion")
        lo2, hi2 = pg.evaluate("[explorer.legends[0].scale.lo, explorer.legends[0].scale.hi]")
        ok = (v2 > lo2) & (v2 < hi2)
        assert spearmanr(v2[ok], flat[ok, 1])[0] > 0.99
        # 3-D again, turned and zoomed: the URL holds the view and the camera
        pg.click("#view3d")
        pg.wait_for_function("explorer.maps[0].constructor.name === 'LatentScatter3D'")
        pg.evaluate(
            "explorer.maps[0].orbit(0.9, -0.4); explorer.maps[0].cam.dist *= 0.7; explorer.maps[0].orbit(0, 0)"
        )
        cam = pg.evaluate("JSON.parse(JSON.stringify(explorer.maps[0].cam))")
        pg.wait_for_function("location.hash.includes('d=3') && location.hash.includes('k0=')")
        pg.wait_for_timeout(400)
        link = pg.url
        assert "token" not in link
        pg.goto("about:blank")
        pg.goto(link)
        pg.wait_for_selector("#maps[data-ready='1']", timeout=60000)
        assert pg.evaluate("explorer.maps[0].constructor.name") == "LatentScatter3D"
        pg.wait_for_function("explorer.legends[0] && explorer.legends[0].col.name.includes('3-D')")
        got = pg.evaluate("JSON.parse(JSON.stringify(explorer.maps[0].cam))")
        for key in ("yaw", "pitch", "dist"):
            assert got[key] == pytest.approx(cam[key], rel=1e-4, abs=1e-5)
        assert got["target"] == pytest.approx(cam["target"], abs=1e-5)
        assert pg.evaluate("document.querySelector('#colorby').value") == "layer:distortion"
        log.shot("explorer-3d-distortion.png")
        # a link that left the 3-D view opens in 2-D, with its 2-D window
        pg.click("#view3d")
        pg.wait_for_function(
            "explorer.maps[0].constructor.name === 'LatentScatter' && !location.hash.includes('d=3')"
        )
        pg.wait_for_timeout(400)
        flat_link = pg.url
        pg.goto("about:blank")
        pg.goto(flat_link)
        pg.wait_for_selector("#maps[data-ready='1']", timeout=60000)
        assert pg.evaluate("explorer.maps[0].constructor.name") == "LatentScatter"
        assert log.errors == []
        pg.close()
