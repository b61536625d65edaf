"""The latent explorer: API through the test client, every security rule of the issue as a test,
and a real Chromium session against a server on loopback."""

import socket
import warnings

import numpy as np
import pytest

from latentspace.maps.store import map_run
from latentspace.runfolder import Run
from latentspace.stages.fit import fit
from latentspace.web.app import MAX_BODY, MAX_SPAN, create_app, load_state

from .conftest import PageLog, serving

warnings.filterwarnings("ignore", category=DeprecationWarning)
TOKEN = "test-token-123"
H = {"X-Token": TOKEN}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits):
    root = tmp_path_factory.mktemp("explore")
    fit(digits, "ae", latent_dim=4, out=root / "ae", epochs=3, arch="mlp")
    fit(digits, "pca", latent_dim=4, out=root / "pca")
    map_run(Run(root / "ae"), "umap", n_epochs=100)
    return [root / "ae", root / "pca"]


@pytest.fixture(scope="module")
def states(runs):
    return [load_state(i, p, wait_layers=True) for i, p in enumerate(runs)]


@pytest.fixture(scope="module")
def client(states):
    from starlette.testclient import TestClient

    return TestClient(create_app(states, TOKEN), base_url="http://127.0.0.1:8765")


def test_runs_and_map(client, states):
    info = client.get("/api/runs", headers=H).json()["runs"]
    assert [r["model"] for r in info] == ["ae", "pca"] and info[0]["map"]["method"] == "umap"
    assert info[1]["map"]["method"] == "pca"  # no stored map: PCA of the latents
    m = client.get("/api/runs/0/map", headers=H).json()
    import base64

    x = np.frombuffer(base64.b64decode(m["x"]), np.float32)
    assert np.array_equal(x, states[0].lmap.embedding[:, 0])
    err = np.frombuffer(base64.b64decode(m["error"]), np.float32)
    X, Z = states[0].data.X, states[0].Z
    assert err[7] == pytest.approx(np.mean((states[0].model.decode(Z[7:8])[0] - X[7]) ** 2), rel=1e-5)


def test_item_neighbours_and_decode(client, states):
    s = states[0]
    r = client.get("/api/runs/0/items/12?k=5", headers=H).json()
    d = np.linalg.norm(s.Z - s.Z[12], axis=1)
    d[12] = np.inf
    assert set(r["neighbours"]) == set(np.argsort(d)[:5].tolist())
    dec = client.post("/api/runs/0/decode", json={"z": r["z"], "png": True}, headers=H)
    assert dec.status_code == 200 and dec.content[:4] == b"\x89PNG"
    import io

    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(dec.content)), dtype=np.float32)
    lo, hi = s.value_range
    expect = np.clip((s.model.decode(s.Z[12:13])[0] - lo) / (hi - lo), 0, 1).reshape(8, 8) * 255
    assert np.abs(img - expect).max() <= 1.0  # the decoder's output, to 8-bit rounding


def test_interpolation_sample_attribute_inverse(client, states):
    s = states[0]
    r = client.post(
        "/api/runs/0/interpolate", json={"a": 0, "b": 1, "steps": 6, "method": "slerp"}, headers=H
    ).json()
    assert len(r["items"]) == 6 and len(r["positions"]) == 6 and r["t"][0] == 0.0
    # the path ends at the items' own places on the map (a latent equal to an item's sits on it)
    assert np.allclose(r["positions"][0], s.lmap.embedding[0], atol=1e-3)
    r = client.post("/api/runs/0/sample", json={"n": 5, "seed": 3}, headers=H).json()
    assert len(r["items"]) == 5 and np.isfinite(r["positions"]).all()
    y = s.data.y
    a, b = np.flatnonzero(y == 0)[:30].tolist(), np.flatnonzero(y == 1)[:30].tolist()
    r = client.post(
        "/api/runs/0/attribute", json={"group_a": a, "group_b": b, "item": a[0], "alphas": [0, 1]}, headers=H
    ).json()
    v = s.Z[b].mean(0) - s.Z[a].mean(0)
    assert r["direction_norm"] == pytest.approx(float(np.linalg.norm(v)), rel=1e-5)
    r = client.post("/api/runs/0/inverse", json={"point": s.lmap.embedding[40].tolist()}, headers=H).json()
    assert np.linalg.norm(np.array(r["z"]) - s.Z[40]) < 0.25 * np.linalg.norm(s.Z[40] - s.Z.mean(0))


@pytest.mark.parametrize("headers", [{}, {"X-Token": "wrong"}, {"X-Token": ""}])
def test_api_needs_the_token(client, headers):
    assert client.get("/api/runs", headers=headers).status_code == 403
    assert client.post("/api/runs/0/decode", json={"z": [0, 0, 0, 0]}, headers=headers).status_code == 403
    assert client.get(f"/api/runs?token={TOKEN}").status_code == 200  # the URL form


@pytest.mark.parametrize(
    "host", ["evil.example", "attacker.com:8765", "127.0.0.1.evil.com", "192.168.1.5:8765"]
)
def test_foreign_host_header_is_refused(client, host):
    assert client.get("/api/runs", headers={**H, "Host": host}).status_code == 403
    assert client.get("/", headers={"Host": host}).status_code == 403


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "localhost", "[::1]:8765"])
def test_local_host_headers_pass(client, host):
    assert client.get("/api/runs", headers={**H, "Host": host}).status_code == 200


def test_no_cors_for_foreign_origins(client):
    r = client.get("/api/runs", headers={**H, "Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in {k.lower() for k in r.headers}
    r = client.options(
        "/api/runs/0/decode",
        headers={**H, "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in {k.lower() for k in r.headers}


@pytest.mark.parametrize(
    "path",
    [
        "/static/../config.json",
        "/static/%2e%2e/config.json",
        "/static/%2e%2e%2fconfig.json",
        "/static/..%5cconfig.json",
        "/static/..\\config.json",
        "/static//etc/passwd",
        "/static/%2Fetc%2Fpasswd",
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/api/runs/0/../../../etc/passwd",
        "/static/explorer.py",
        "/static/",
        "/runs/0/model.safetensors",
        "/api/runs/5/map",
    ],
)
def test_path_traversal_gets_404(client, path):
    r = client.get(path, headers=H)
    assert r.status_code == 404, (path, r.status_code)
    assert b"root:" not in r.content and b"schema_version" not in r.content


def test_packaged_files_are_served(client):
    scripts = (
        "scatter.js",
        "scatter_splat.js",
        "explorer_model.js",
        "explorer_map.js",
        "explorer_url.js",
        "explorer.js",
    )
    for name in (*scripts, "explorer.css"):
        assert client.get(f"/static/{name}").status_code == 200
    page = client.get("/").text
    # the parts before the core, which sets them up; the splat after the scatter it extends
    at = [page.index(f'<script src="/static/{name}">') for name in scripts]
    assert at == sorted(at)


def test_big_bodies_get_413(client):
    r = client.post("/api/runs/0/decode", content=b"x" * (MAX_BODY + 1), headers=H)
    assert r.status_code == 413
    assert client.get("/api/runs", headers=H).status_code == 200


@pytest.mark.parametrize(
    "path, body, message",
    [
        ("decode", {"z": [0.0, 0.0, 0.0]}, "z must be a list of 4 finite numbers (the latent size); got 3"),
        ("decode", {"z": "abc"}, "z must be a list of 4 finite numbers"),
        ("decode", {"z": [0.0, None, 0.0, 0.0]}, "z[1] is null"),
        ("decode", {"z": [1e9, 0.0, 0.0, 0.0]}, f"the allowed span is ±{MAX_SPAN:g}"),
        ("interpolate", {"a": 0, "b": 10**6}, "b 1000000 is out of range"),
        ("interpolate", {"a": 0, "b": 1, "steps": 1000}, "steps must be an integer in"),
        ("interpolate", {"a": 0, "b": 1, "method": "cubic"}, "method must be lerp or slerp"),
        ("sample", {"n": 0}, "n must be an integer in"),
        ("attribute", {"group_a": [], "group_b": [1], "item": 0}, "group_a must be a list of 1 to"),
        ("attribute", {"group_a": [1], "group_b": [-3], "item": 0}, "group_b[0] -3 is out of range"),
        ("inverse", {"point": [1.0]}, "point must be"),
        ("place", {"zs": []}, "zs must be a list of 1 to"),
    ],
)
def test_bad_values_get_422_and_the_server_keeps_serving(client, path, body, message):
    r = client.post(f"/api/runs/0/{path}", json=body, headers=H)
    assert r.status_code == 422 and message in r.json()["detail"], r.text
    assert client.get("/api/runs", headers=H).status_code == 200


def test_nan_and_bad_json_get_422(client):
    r = client.post(
        "/api/runs/0/decode",
        content=b'{"z": [NaN, 0, 0, 0]}',
        headers={**H, "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and "z[0] is not a finite number" in r.json()["detail"]
    r = client.post("/api/runs/0/decode", content=b"{not json", headers=H)
    assert r.status_code == 422
    assert client.get("/api/runs/0/items/999999", headers=H).status_code == 422
    assert client.get("/api/runs/0/items/3?k=0", headers=H).status_code == 422


def test_cli_warns_on_public_host_and_refuses_bad_port(runs, monkeypatch):
    from typer.testing import CliRunner

    import latentspace.cli.explore as ce
    from latentspace.cli import app

    served = {}
    monkeypatch.setattr("uvicorn.run", lambda app, host, port, **kw: served.update(host=host, port=port))
    res = CliRunner().invoke(app, ["explore", str(runs[0]), "--host", "0.0.0.0", "--port", "9999"])
    assert res.exit_code == 0 and "warning" in res.output and served == {"host": "0.0.0.0", "port": 9999}
    assert "?token=" in res.output
    served.clear()
    res = CliRunner().invoke(app, ["explore", str(runs[0])])
    assert served["host"] == "127.0.0.1" and "warning" not in res.output
    res = CliRunner().invoke(app, ["explore", str(runs[0]), "--port", "70000"])
    assert res.exit_code == 2 and "--port must be in 1..65535" in res.output
    assert ce.serve  # the command and demo share one function


# --- a real browser against a real server --------------------------------------------------------
@pytest.fixture(scope="module")
def server(states):
    with serving(create_app(states, TOKEN)) as url:
        yield url


def _click_item(pg, run: int, i: int):
    x, y = pg.evaluate(
        f"explorer.maps[{run}].toScreen(explorer.maps[{run}].x[{i}], explorer.maps[{run}].y[{i}])"
    )
    box = pg.locator(f"#map{run}").bounding_box()
    pg.mouse.click(box["x"] + x, box["y"] + y)


def test_explorer_in_chromium(server, browser, states):
    log = PageLog(browser)
    pg = log.page
    pg.goto(f"{server}/?token={TOKEN}")
    pg.wait_for_selector("#maps[data-ready='1']", timeout=30000)
    assert pg.evaluate("explorer.maps.length") == 2 and pg.evaluate("explorer.maps[0].n") == states[0].n
    # a click on a point shows the original beside its reconstruction, in both runs (linked)
    _click_item(pg, 0, 3)
    pg.wait_for_function("explorer.selected >= 0 && document.querySelectorAll('#sel .pair img').length === 3")
    sel = pg.evaluate("explorer.selected")
    assert pg.evaluate("[explorer.maps[0].selected, explorer.maps[1].selected]") == [sel, sel]
    assert pg.evaluate("explorer.maps[0].highlight.length") == 8  # the neighbours, on the map
    assert pg.evaluate("document.querySelector('#sel .pair img').naturalWidth") == 8
    # moving a slider re-decodes: the image changes (the panels are tabs)
    pg.click("button[data-tab=sliders]")
    pg.wait_for_selector("#sliders .decoded img")
    before = pg.get_attribute("#sliders .decoded img", "src")
    slider = pg.locator("#sliders input").first
    slider.fill(slider.get_attribute("max"))
    pg.wait_for_function(f"document.querySelector('#sliders .decoded img').src !== {before!r}", timeout=10000)
    # an interpolation draws a path on the map and a strip beside it
    pg.click("button[data-tab=interp]")
    pg.click("#seta")
    _click_item(pg, 0, 1000)
    pg.wait_for_function(f"explorer.selected !== {sel}")
    pg.click("#setb")
    pg.click("#igo")
    pg.wait_for_selector("#interp .strip figure img")
    assert pg.evaluate("explorer.maps[0].paths[0].points.length") == 10
    assert pg.evaluate("document.querySelectorAll('#interp .strip figure').length") == 10
    # click on empty space decodes there
    box = pg.locator("#map0").bounding_box()
    ex, ey = pg.evaluate(
        "(() => { const m = explorer.maps[0];"
        " for (let y = 20; y < m.h; y += 23) for (let x = 20; x < m.w; x += 23)"
        "   if (m.pick(x, y, 20) < 0) return [x, y]; })()"
    )
    pg.click("button[data-tab=item]")
    pg.mouse.click(box["x"] + ex, box["y"] + ey)
    pg.wait_for_selector("#space .decoded img")
    pg.click("button[data-tab=samples]")
    pg.click("#sample")
    pg.wait_for_selector("#samples .strip figure img")
    # the draws on the map are numbered as under their images, and no earlier path stays beside them
    assert pg.evaluate("explorer.maps[0].extra.map((e) => e.label)") == [str(k) for k in range(1, 9)]
    assert pg.evaluate("explorer.maps[0].paths.length") == 0
    log.shot("explorer.png")
    assert log.errors == []
    assert log.external(server) == []


def _raw(server, head: bytes, body_parts, timeout=10.0) -> bytes:
    """Send a request over a plain socket, part by part, and return what came back (the server may
    answer before the body is complete)."""
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as c:
        c.sendall(head)
        for part in body_parts:
            try:
                c.sendall(part)
            except OSError:
                break
        return c.recv(4096)


def test_413_arrives_before_the_body_is_read(server):
    # announced too big: answered on the headers alone, with none of the 5 MB sent
    head = (
        f"POST /api/runs/0/decode HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Token: {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {5 << 20}\r\n\r\n"
    ).encode()
    assert _raw(server, head, []).startswith(b"HTTP/1.1 413")
    # chunked without a length: cut off once the limit is passed
    head = (
        f"POST /api/runs/0/decode HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Token: {TOKEN}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    assert _raw(server, head, [chunk] * 20).startswith(b"HTTP/1.1 413")
