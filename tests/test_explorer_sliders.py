"""The explorer's latent sliders take their names and order from interpret.json (`latentspace
interpret RUN`): in Chromium, the first slider is labelled with the most important named dimension
(its short name shown, the full text on hover), the sliders follow the importance order, and moving
a slider changes exactly that latent coordinate in the decode request the page sends."""

import json
import warnings

import numpy as np
import pytest

from latentspace.runfolder import Run
from latentspace.stages.fit import fit
from latentspace.stages.interpret import interpret
from latentspace.web.app import create_app, load_state

from .conftest import PageLog, serving

warnings.filterwarnings("ignore", category=DeprecationWarning)
TOKEN = "sliders-token"


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    """A PCA run of the swiss roll (3 latents, its factors to name them by) with interpret.json."""
    import latentspace as ls

    path = tmp_path_factory.mktemp("sliders") / "pca"
    fit(ls.load_data("swissroll", n=600), "pca", latent_dim=3, out=path)
    res = interpret(Run(path), seed=1)
    state = load_state(0, path, wait_layers=True)
    with serving(create_app([state], TOKEN)) as url:
        yield url, state, res


def test_sliders_are_named_and_ordered_by_interpret_json(named, browser):
    url, state, res = named
    dims = res.doc["dims"]
    assert [d["name"] for d in dims if not d["inactive"]]  # the swiss roll's factors name something
    log = PageLog(browser)
    pg = log.page
    sent = []
    pg.on(
        "request",
        lambda r: sent.append(json.loads(r.post_data)) if r.url.endswith("/decode") and r.post_data else None,
    )
    pg.goto(f"{url}/?token={TOKEN}")
    pg.wait_for_selector("#maps[data-ready='1']", timeout=60000)
    pg.evaluate("explorer.maps[0].onClick(7, 0, 0)")
    pg.wait_for_function("explorer.selected === 7 && explorer.itemZ !== undefined")
    pg.click("button[data-tab=sliders]")
    pg.wait_for_selector("#sliders .decoded figure")
    rows = pg.evaluate(
        "[...document.querySelectorAll('#sliders .rows label')].map((l) => ({dim: +l.querySelector('input')"
        ".dataset.dim, z: l.querySelector('b').textContent, name: (l.querySelector('.dimname') || {}).textContent,"
        " title: l.title}))"
    )
    assert [r["dim"] for r in rows] == [d["index"] for d in dims][:16]  # the importance order
    first = rows[0]
    assert first["z"] == f"z_{dims[0]['index']}"
    assert first["name"] == dims[0]["name"] and first["title"] == dims[0]["title"]
    assert first["title"].startswith(f"z_{dims[0]['index']}: ")
    # the colour list names the dimensions too, in the same order
    opts = pg.evaluate(
        "[...document.querySelectorAll('#colorby option')].filter((o) => o.value.startsWith('latent:'))"
        ".map((o) => [o.value, o.textContent])"
    )
    assert opts[0] == [f"latent:{dims[0]['index']}", f"z_{dims[0]['index']}: {dims[0]['name']}"]
    # move the first slider: the next decode request's z differs from the item's in that index only
    j = dims[0]["index"]
    z0 = np.asarray(state.Z[7], np.float64)
    target = float(z0[j] + 1.5 * state.std[j])
    sent.clear()
    pg.evaluate(
        "(v) => { const i = document.querySelector('#sliders .rows input');"
        " i.value = v; i.dispatchEvent(new Event('input')); }",
        target,
    )
    step = float(pg.evaluate("+document.querySelector('#sliders .rows input').step"))
    pg.wait_for_function(f"Math.abs(explorer.z[{j}] - {target}) <= {step}")
    pg.wait_for_timeout(500)
    assert sent, "no decode request was sent"
    z = np.asarray(sent[-1]["z"], np.float64)
    assert sent[-1]["place"] is True
    moved = np.flatnonzero(np.abs(z - z0) > 1e-5)
    assert moved.tolist() == [j]  # that latent coordinate, and no other
    assert abs(z[j] - target) <= step
    log.shot("explorer-sliders-named.png")
    assert log.errors == []
    pg.close()


def test_runs_without_interpret_json_keep_plain_names(tmp_path, browser, digits):
    path = tmp_path / "pca"
    fit(digits, "pca", latent_dim=4, out=path)
    state = load_state(0, path, wait_layers=True)
    assert state.describe()["dimension_titles"] is None
    with serving(create_app([state], TOKEN)) as url:
        log = PageLog(browser)
        pg = log.page
        pg.goto(f"{url}/?token={TOKEN}")
        pg.wait_for_selector("#maps[data-ready='1']", timeout=60000)
        pg.evaluate("explorer.maps[0].onClick(3, 0, 0)")
        pg.wait_for_function("explorer.selected === 3")
        pg.click("button[data-tab=sliders]")
        labels = pg.evaluate(
            "[...document.querySelectorAll('#sliders .rows label')].map((l) => [l.querySelector('b')"
            ".textContent, !!l.querySelector('.dimname')])"
        )
        order = np.argsort(-state.Z.std(0))
        assert labels == [[f"z_{j}", False] for j in order]
        assert log.errors == []
        pg.close()
