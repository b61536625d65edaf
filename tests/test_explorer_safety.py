"""The explorer under hostile input (issue 23): every endpoint parses its body, path and query with
declared types and bounds and answers 422 with one line that names the field, never 500; a run with
tampered (and re-signed) files is refused at start-up with one line; the launch token leaves no trace
in the address bar or in a Referer header, and the page still works after a reload."""

import hashlib
import json
import shutil
import warnings
from dataclasses import replace

import numpy as np
import pytest

from latentspace.errors import LatentspaceError, RunIntegrityError
from latentspace.maps.store import map_run
from latentspace.runfolder import Run
from latentspace.stages.fit import fit
from latentspace.web.app import MAX_BODY, create_app, load_state

from .conftest import PageLog, serving

warnings.filterwarnings("ignore", category=DeprecationWarning)
TOKEN = "safety-token-456"
H = {"X-Token": TOKEN}
HJ = {**H, "Content-Type": "application/json"}
BIG = "9" * 400  # a 400-digit integer: no float holds it


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits):
    root = tmp_path_factory.mktemp("explore-safety")
    fit(digits, "ae", latent_dim=4, out=root / "ae", epochs=2, arch="mlp")
    map_run(Run(root / "ae"), "umap", n_epochs=50)
    return root


@pytest.fixture(scope="module")
def states(runs):
    return [load_state(0, runs / "ae", wait_layers=True)]


@pytest.fixture(scope="module")
def client(states):
    from starlette.testclient import TestClient

    # a server error must show up as a 500 here, not as an exception raised into the test
    return TestClient(
        create_app(states, TOKEN), base_url="http://127.0.0.1:8765", raise_server_exceptions=False
    )


def _one_line(r) -> str:
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail, r.text
    return detail


# --- a hostile-input battery over every endpoint ---------------------------------------------------
# (method, path, raw body or None, words the one-line message must contain); in a body, BIG stands
# for a 400-digit integer and ZMEAN for the run's mean latent (a valid z)
HOSTILE = [
    # POST /decode
    ("post", "decode", '{"z": [BIG, 0, 0, 0]}', ["z", "z[0]"]),
    ("post", "decode", "[" * 50_000, ["nested", "levels"]),
    ("post", "decode", '{"z": ' + "[" * 50_000, ["nested", "levels"]),
    ("post", "decode", '{"z": [1e308, 0, 0, 0]}', ["z[0]", "float32"]),
    ("post", "decode", '{"z": [-1e39, 0, 0, 0]}', ["z[0]", "float32"]),
    ("post", "decode", '{"z": [1e400, 0, 0, 0]}', ["z[0] is not a finite number"]),
    ("post", "decode", '{"z": [NaN, 0, 0, 0]}', ["z[0] is not a finite number"]),
    ("post", "decode", '{"z": [-Infinity, 0, 0, 0]}', ["z[0] is not a finite number"]),
    ("post", "decode", '{"z": ["NaN", 0, 0, 0]}', ["z", "z[0]", "'NaN'"]),
    ("post", "decode", '{"z": ["1.5", 0, 0, 0]}', ["z", "z[0]"]),
    ("post", "decode", '{"z": [true, 0, 0, 0]}', ["z", "z[0]"]),
    ("post", "decode", '{"z": [[0], [0], [0], [0]]}', ["z", "z[0]"]),
    ("post", "decode", '{"z": null}', ["z must be a list of 4"]),
    ("post", "decode", '{"z": {}}', ["z must be a list of 4"]),
    ("post", "decode", '{"z": []}', ["z must be a list of 4", "got 0"]),
    ("post", "decode", '{"z": [0, 0, 0, 0, 0]}', ["z must be a list of 4", "got 5"]),
    ("post", "decode", "{}", ["z is required"]),
    ("post", "decode", '{"z": ZMEAN, "zz": 1}', ["unknown field 'zz'", "z, place, png"]),
    ("post", "decode", '{"z": ZMEAN, "place": "yes"}', ["place must be true or false"]),
    ("post", "decode", '{"z": ZMEAN, "png": 1}', ["png must be true or false"]),
    ("post", "decode", "[]", ["JSON object"]),
    ("post", "decode", "null", ["JSON object"]),
    ("post", "decode", '"z"', ["JSON object"]),
    ("post", "decode", "", ["z is required"]),  # an empty body is {}: /sample takes every default
    ("post", "decode", "{not json", ["JSON object"]),
    # POST /place
    ("post", "place", '{"zs": []}', ["zs must be a list of 1 to 256"]),
    (
        "post",
        "place",
        '{"zs": [' + ",".join(["ZMEAN"] * 257) + "]}",
        ["zs must be a list of 1 to 256", "257"],
    ),
    ("post", "place", '{"zs": [[1e308, 0, 0, 0]]}', ["zs[0][0]", "float32"]),
    ("post", "place", '{"zs": [[BIG, 0, 0, 0]]}', ["zs[0][0]"]),
    ("post", "place", '{"zs": [[0, 0, 0]]}', ["zs[0]", "4"]),
    ("post", "place", '{"zs": "abc"}', ["zs must be a list"]),
    ("post", "place", '{"zs": [null]}', ["zs[0]"]),
    # POST /inverse
    ("post", "inverse", '{"point": [1e308, 0]}', ["point[0]", "float32"]),
    ("post", "inverse", '{"point": [BIG, 0]}', ["point[0]"]),
    ("post", "inverse", '{"point": [1e30, 0]}', ["point", "map"]),
    ("post", "inverse", '{"point": [0, -1e6]}', ["point", "map"]),
    ("post", "inverse", '{"point": [true, false]}', ["point[0]"]),
    ("post", "inverse", '{"point": ["1", "2"]}', ["point[0]"]),
    ("post", "inverse", '{"point": [NaN, 0]}', ["point[0] is not a finite number"]),
    ("post", "inverse", '{"point": [1, 2, 3]}', ["point must be [x, y]"]),
    ("post", "inverse", '{"point": []}', ["point must be [x, y]"]),
    ("post", "inverse", '{"point": null}', ["point must be [x, y]"]),
    ("post", "inverse", "{}", ["point is required"]),
    # POST /interpolate
    ("post", "interpolate", '{"a": 0, "b": BIG}', ["b ", "out of range", "0..1796"]),
    ("post", "interpolate", '{"a": -1, "b": 1}', ["a -1 is out of range", "0..1796"]),
    ("post", "interpolate", '{"a": "0", "b": 1}', ["a must be an item number"]),
    ("post", "interpolate", '{"a": 1.5, "b": 1}', ["a must be an item number"]),
    ("post", "interpolate", '{"a": true, "b": 1}', ["a must be an item number"]),
    ("post", "interpolate", '{"b": 1}', ["a is required"]),
    ("post", "interpolate", '{"a": 0, "b": 1, "steps": BIG}', ["steps must be an integer in [2, 64]"]),
    ("post", "interpolate", '{"a": 0, "b": 1, "steps": 1}', ["steps must be an integer in [2, 64]"]),
    ("post", "interpolate", '{"a": 0, "b": 1, "steps": 100000000}', ["steps must be an integer in [2, 64]"]),
    ("post", "interpolate", '{"a": 0, "b": 1, "steps": 2.5}', ["steps must be an integer in [2, 64]"]),
    ("post", "interpolate", '{"a": 0, "b": 1, "steps": "10"}', ["steps must be an integer in [2, 64]"]),
    ("post", "interpolate", '{"a": 0, "b": 1, "steps": true}', ["steps must be an integer in [2, 64]"]),
    ("post", "interpolate", '{"a": 0, "b": 1, "method": "LERP"}', ["method must be lerp or slerp"]),
    ("post", "interpolate", '{"a": 0, "b": 1, "method": null}', ["method must be lerp or slerp"]),
    ("post", "interpolate", '{"a": 0, "b": 1, "space": "data"}', ["unknown field 'space'"]),
    # POST /sample
    ("post", "sample", '{"n": 0}', ["n must be an integer in [1, 64]"]),
    ("post", "sample", '{"n": 1000000000}', ["n must be an integer in [1, 64]"]),
    ("post", "sample", '{"n": BIG}', ["n must be an integer in [1, 64]"]),
    ("post", "sample", '{"n": -5}', ["n must be an integer in [1, 64]"]),
    ("post", "sample", '{"n": "8"}', ["n must be an integer in [1, 64]"]),
    ("post", "sample", '{"n": 8.0}', ["n must be an integer in [1, 64]"]),
    ("post", "sample", '{"n": true}', ["n must be an integer in [1, 64]"]),
    ("post", "sample", '{"seed": -1}', ["seed must be an integer in [0, 4294967295]"]),
    ("post", "sample", '{"seed": 18446744073709551616}', ["seed must be an integer in [0, 4294967295]"]),
    ("post", "sample", '{"seed": BIG}', ["seed must be an integer in [0, 4294967295]"]),
    ("post", "sample", '{"seed": 1.5}', ["seed must be an integer in [0, 4294967295]"]),
    ("post", "sample", '{"count": 8}', ["unknown field 'count'", "n, seed"]),
    # POST /attribute
    ("post", "attribute", '{"group_a": [], "group_b": [1], "item": 0}', ["group_a must be a list of 1 to"]),
    ("post", "attribute", '{"group_a": [BIG], "group_b": [1], "item": 0}', ["group_a[0]", "out of range"]),
    ("post", "attribute", '{"group_a": [1], "group_b": [-3], "item": 0}', ["group_b[0] -3 is out of range"]),
    ("post", "attribute", '{"group_a": ["1"], "group_b": [1], "item": 0}', ["group_a[0]"]),
    ("post", "attribute", '{"group_a": [1.5], "group_b": [1], "item": 0}', ["group_a[0]"]),
    ("post", "attribute", '{"group_a": 1, "group_b": [1], "item": 0}', ["group_a must be a list"]),
    (
        "post",
        "attribute",
        '{"group_a": [' + ",".join(["0"] * 100_001) + '], "group_b": [1], "item": 0}',
        ["group_a must be a list of 1 to 100000", "100001"],
    ),
    ("post", "attribute", '{"group_a": [1], "group_b": [2]}', ["item is required"]),
    ("post", "attribute", '{"group_a": [1], "group_b": [2], "item": 5000}', ["item 5000 is out of range"]),
    (
        "post",
        "attribute",
        '{"group_a": [1], "group_b": [2], "item": 0, "alphas": []}',
        ["alphas must be 1 to 32"],
    ),
    (
        "post",
        "attribute",
        '{"group_a": [1], "group_b": [2], "item": 0, "alphas": [11]}',
        ["alphas[0]", "[-10, 10]"],
    ),
    ("post", "attribute", '{"group_a": [1], "group_b": [2], "item": 0, "alphas": [NaN]}', ["alphas[0]"]),
    ("post", "attribute", '{"group_a": [1], "group_b": [2], "item": 0, "alphas": [1e308]}', ["alphas[0]"]),
    ("post", "attribute", '{"group_a": [1], "group_b": [2], "item": 0, "alphas": [true]}', ["alphas[0]"]),
    (
        "post",
        "attribute",
        '{"group_a": [1], "group_b": [2], "item": 0, "alphas": [' + ",".join(["1"] * 33) + "]}",
        ["alphas must be 1 to 32", "33"],
    ),
    # GET endpoints: path and query
    ("get", "latent/4", None, ["dim 4 is out of range: 0..3"]),
    ("get", "latent/-1", None, ["dim -1 is out of range: 0..3"]),
    ("get", "latent/BIG", None, ["dim", "out of range: 0..3"]),
    ("get", "latent/x", None, ["dim must be an integer"]),
    ("get", "latent/1.5", None, ["dim must be an integer"]),
    ("get", "items/x", None, ["i must be an integer"]),
    ("get", "items/-1", None, ["item -1 is out of range"]),
    ("get", "items/BIG", None, ["item", "out of range"]),
    ("get", "items/1e3", None, ["i must be an integer"]),
    ("get", "items/3?k=nan", None, ["k must be an integer"]),
    ("get", "items/3?k=0", None, ["k must be between 1 and 64"]),
    ("get", "items/3?k=65", None, ["k must be between 1 and 64"]),
    ("get", "items/3?k=BIG", None, ["k must be between 1 and 64"]),
    ("get", "items/3?k=", None, ["k must be an integer"]),
    ("get", "items/x/thumb", None, ["i must be an integer"]),
    ("get", "items/1797/thumb", None, ["item 1797 is out of range"]),
    ("get", "items/-BIG/thumb", None, ["item", "out of range"]),
]


@pytest.mark.parametrize(
    "method, path, raw, words", HOSTILE, ids=[f"{i}-{m}-{p}" for i, (m, p, _, _) in enumerate(HOSTILE)]
)
def test_hostile_input_gets_one_line_422(client, states, method, path, raw, words):
    url = f"/api/runs/0/{path}".replace("BIG", BIG)
    if method == "post":
        raw = raw.replace("BIG", BIG).replace("ZMEAN", json.dumps(states[0].mean.tolist()))
        r = client.post(url, content=raw.encode(), headers=HJ)
    else:
        r = client.get(url, headers=H)
    assert r.status_code == 422, (r.status_code, r.text[:300])
    detail = _one_line(r)
    assert len(detail) < 300, detail
    for w in words:
        assert w in detail, (w, detail)
    assert client.get("/api/runs", headers=H).status_code == 200  # still serving


@pytest.mark.parametrize("rid", ["1", "-1", BIG, "x"], ids=["1", "-1", "big", "x"])
def test_unknown_run_ids(client, rid):
    for r in (
        client.get(f"/api/runs/{rid}/map", headers=H),
        client.post(f"/api/runs/{rid}/decode", json={"z": [0, 0, 0, 0]}, headers=H),
    ):
        assert r.status_code == (422 if rid == "x" else 404), r.text
        assert ("rid must be an integer" if rid == "x" else "no run") in _one_line(r)


def test_the_body_depth_is_bounded_before_parsing(client, states):
    # the deepest request passes; a deeper body is a type error or, past 8 levels, refused unparsed;
    # brackets inside strings do not count
    ok = client.post("/api/runs/0/place", json={"zs": [states[0].mean.tolist()]}, headers=H)
    assert ok.status_code == 200
    r = client.post("/api/runs/0/place", content=b'{"zs": [[[0], 0, 0, 0]]}', headers=HJ)
    assert r.status_code == 422 and "zs[0][0]" in _one_line(r)
    r = client.post(
        "/api/runs/0/interpolate", content=b'{"a": 0, "b": 1, "method": "[[[[[[[[[["}', headers=HJ
    )
    assert r.status_code == 422 and "method must be lerp or slerp" in _one_line(r)
    r = client.post("/api/runs/0/decode", content=b"{" + b'"a":{' * 40 + b"}" * 41, headers=HJ)
    assert r.status_code == 422 and "nested 41 levels" in _one_line(r)


def test_good_requests_still_work(client, states):
    s = states[0]
    z = s.Z[5].astype(float).tolist()
    assert client.post("/api/runs/0/decode", json={"z": z, "place": True}, headers=H).status_code == 200
    r = client.post("/api/runs/0/inverse", json={"point": s.lmap.embedding[9].tolist()}, headers=H)
    assert r.status_code == 200 and len(r.json()["z"]) == 4
    r = client.post("/api/runs/0/sample", json={"n": 64, "seed": 2**32 - 1}, headers=H)
    assert r.status_code == 200 and len(r.json()["items"]) == 64
    r = client.post(
        "/api/runs/0/interpolate", json={"a": 3, "b": 3, "steps": 64, "method": "slerp"}, headers=H
    )
    assert r.status_code == 200 and len(r.json()["items"]) == 64
    r = client.post(
        "/api/runs/0/attribute",
        json={"group_a": [1, 1, 2], "group_b": [1], "item": 0, "alphas": [-10, 10.0]},
        headers=H,
    )
    assert r.status_code == 200 and r.json()["alphas"] == [-10, 10.0]


# --- errors from inside: 409 for a run that turns out broken, a bare 500 as the last resort ---------
class _Broken:
    def __init__(self, model, exc):
        self.model, self.exc = model, exc

    def decode(self, Z):
        raise self.exc

    def __getattr__(self, name):
        return getattr(self.model, name)


@pytest.mark.parametrize(
    "exc, status, words",
    [
        (RunIntegrityError("model.safetensors does not hold a valid ae state"), 409, "model.safetensors"),
        (RuntimeError("secret internals at /home/x/y.py line 3"), 500, "internal error"),
        (MemoryError(), 500, "internal error"),
    ],
)
def test_errors_inside_a_request_are_one_line(states, exc, status, words):
    from starlette.testclient import TestClient

    s = replace(states[0], model=_Broken(states[0].model, exc))
    c = TestClient(create_app([s], TOKEN), base_url="http://127.0.0.1:8765", raise_server_exceptions=False)
    r = c.post("/api/runs/0/decode", json={"z": s.mean.tolist()}, headers=H)
    assert r.status_code == status and words in _one_line(r)
    assert "secret" not in r.text and "line 3" not in r.text  # no internals in the body


# --- a tampered run is refused at start-up ---------------------------------------------------------
def _resign(run_dir, name: str) -> None:
    """Record a tampered file's checksum in config.json, as anyone who can write the folder can."""
    from latentspace.runfolder.folder import _config_digest

    cfg_path = run_dir / "config.json"
    config = json.loads(cfg_path.read_text())
    config["files"][name] = hashlib.sha256((run_dir / name).read_bytes()).hexdigest()
    config["config_sha256"] = _config_digest(config)
    cfg_path.write_text(json.dumps(config))
    Run(run_dir)  # the checksums verify: only the content is wrong


def _tampered(runs, tmp_path, kind: str):
    import pyarrow.parquet as pq

    bad = tmp_path / f"ae-{kind}"
    shutil.copytree(runs / "ae", bad)
    if kind == "no-z":
        t = pq.read_table(bad / "latents.parquet")
        pq.write_table(
            t.drop_columns([c for c in t.column_names if c.startswith("z_")]), bad / "latents.parquet"
        )
        _resign(bad, "latents.parquet")
    elif kind == "map-10-rows":
        t = pq.read_table(bad / "map-umap.parquet")
        pq.write_table(t.slice(0, 10), bad / "map-umap.parquet")
        _resign(bad, "map-umap.parquet")
    elif kind == "map-nan":
        t = pq.read_table(bad / "map-umap.parquet")
        x = t["x"].to_numpy().copy()
        x[7] = np.nan
        import pyarrow as pa

        t = t.set_column(t.column_names.index("x"), "x", pa.array(x))
        pq.write_table(t, bad / "map-umap.parquet")
        _resign(bad, "map-umap.parquet")
    return bad


@pytest.mark.parametrize(
    "kind, names",
    [
        ("no-z", ("latents.parquet", "z_")),
        ("map-10-rows", ("map-umap", "umap map")),
        ("map-nan", ("map-umap", "umap map")),
    ],
)
def test_a_tampered_run_is_refused_at_start_up(runs, tmp_path, kind, names, monkeypatch):
    from typer.testing import CliRunner

    from latentspace.cli import app

    bad = _tampered(runs, tmp_path, kind)
    with pytest.raises(LatentspaceError) as info:
        load_state(0, bad)
    msg = str(info.value)
    assert "\n" not in msg and any(n in msg for n in names), msg
    served = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **kw: served.append(1))
    res = CliRunner().invoke(app, ["explore", str(bad)])
    assert res.exit_code == 2 and served == [], res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) <= 3 and lines[0].startswith("error:") and "Traceback" not in res.output, res.output


# --- headers and the token in the browser ----------------------------------------------------------
@pytest.mark.parametrize(
    "method, path, headers, body, status",
    [
        ("get", "/", {}, None, 200),
        ("get", "/static/explorer.js", {}, None, 200),
        ("get", "/api/runs", H, None, 200),
        ("get", "/api/runs", {}, None, 403),
        ("get", "/api/runs", {**H, "Host": "evil.example"}, None, 403),
        ("get", "/static/nope.js", {}, None, 404),
        ("post", "/api/runs/0/decode", HJ, b"{}", 422),
        ("post", "/api/runs/0/decode", HJ, b"x" * (MAX_BODY + 1), 413),
    ],
)
def test_every_response_says_no_referrer(client, method, path, headers, body, status):
    r = client.request(method.upper(), path, headers=headers, content=body)
    assert r.status_code == status
    assert r.headers.get("referrer-policy") == "no-referrer", dict(r.headers)


class _Recorder:
    """ASGI wrapper that records the path, query string and Referer of every request it sees."""

    def __init__(self, app):
        self.app, self.seen = app, []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            h = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            self.seen.append((scope["path"], scope["query_string"].decode("latin-1"), h.get("referer")))
        return await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server(states):
    rec = _Recorder(create_app(states, TOKEN))
    with serving(rec) as url:
        yield url, rec


def _select(pg, i: int):
    x, y = pg.evaluate(f"explorer.maps[0].toScreen(explorer.maps[0].x[{i}], explorer.maps[0].y[{i}])")
    box = pg.locator("#map0").bounding_box()
    pg.mouse.click(box["x"] + x, box["y"] + y)
    pg.wait_for_function("explorer.selected >= 0 && document.querySelectorAll('#sel .pair img').length === 2")


def test_the_token_leaves_the_address_bar_and_no_referer_carries_it(server, browser):
    url, rec = server
    log = PageLog(browser)
    pg = log.page
    pg.goto(f"{url}/?token={TOKEN}")
    pg.wait_for_selector("#maps[data-ready='1']", timeout=30000)
    assert TOKEN not in pg.evaluate("location.href") and pg.evaluate("location.search") == ""
    # about:blank, then this page: its entry was replaced, not pushed, so Back cannot bring the token back
    assert pg.evaluate("history.length") == 2
    _select(pg, 3)
    pg.wait_for_load_state("networkidle")  # the calls a selection makes (its slider decode) have landed
    n_first = len(rec.seen)
    # a reload (the address bar now has no token) still loads and answers
    pg.reload()
    pg.wait_for_selector("#maps[data-ready='1']", timeout=30000)
    _select(pg, 5)
    assert TOKEN not in pg.evaluate("location.href")
    assert log.errors == [], log.errors
    seen = rec.seen
    assert len(seen) > n_first + 3
    assert [r for r in seen if r[2] is not None] == []  # no Referer at all, so never the token
    # the token travels in the URL once, on the first page load; the API calls carry it in a header
    with_token = [r for r in seen if TOKEN in r[1]]
    assert with_token == [("/", f"token={TOKEN}", None)], with_token
    assert seen[n_first][:2] == ("/", "")  # the reload asked for the bare page
    # a link to the view (no token) opens in another tab of this browser; in another browser the
    # page says how to open it
    link = pg.evaluate("location.href")
    ctx = browser.new_context()
    first, tab = ctx.new_page(), ctx.new_page()
    first.goto(f"{url}/?token={TOKEN}")
    first.wait_for_selector("#maps[data-ready='1']", timeout=30000)
    tab.goto(link)
    tab.wait_for_selector("#maps[data-ready='1']", timeout=30000)
    ctx.close()
    other = PageLog(browser)
    other.page.goto(link)
    other.page.wait_for_selector(".notoken", timeout=30000)
    assert "the address `latentspace explore` printed" in other.page.inner_text(".notoken")
    other.page.close()
