"""The page while the map's layers are computed in the background: it opens at once, says
"computing layers…", and offers each layer (colouring, filter card, colour bar) once the server has
it; a link coloured by a layer takes that colouring when the layer arrives."""

import json
import threading
import warnings
from urllib.parse import quote

import pytest

import latentspace.maps.layers as map_layers
from latentspace.stages.fit import fit
from latentspace.web.app import create_app, load_state

from .conftest import PageLog, serving

warnings.filterwarnings("ignore", category=DeprecationWarning)
TOKEN = "layers-page-token"
OPTION = "#colorby option[value='layer:distortion']"


@pytest.fixture
def gated(tmp_path, digits, monkeypatch):
    """A PCA run of the digits (no stored map: a projection fitted at launch) whose layers wait
    for a gate."""
    gate, real = threading.Event(), map_layers.compute_layers
    monkeypatch.setattr(map_layers, "compute_layers", lambda *a, **kw: (gate.wait(120), real(*a, **kw))[1])
    fit(digits, "pca", latent_dim=5, out=tmp_path / "pca")
    state = load_state(0, tmp_path / "pca")
    assert state.layers.status == "computing"
    with serving(create_app([state], TOKEN)) as url:
        yield url, state, gate
    gate.set()
    state.layers.wait(120)


def test_the_page_says_computing_and_offers_the_layers_when_ready(gated, browser):
    url, state, gate = gated
    log = PageLog(browser)
    pg = log.page
    # a link with the distortion colouring and a filter on it, opened before the layer exists
    link = "#c=layer%3Adistortion&f=" + quote(json.dumps([["layer:distortion", {"r": [0.25, 1]}]]))
    pg.goto(f"{url}/?token={TOKEN}{link}")
    pg.wait_for_selector("#maps[data-ready='1']", timeout=60000)
    assert pg.text_content("#layerstatus") == "computing layers…" and pg.is_visible("#layerstatus")
    assert pg.evaluate("document.querySelector(\"#colorby option[value='wait:layers']\").disabled")
    assert pg.locator(OPTION).count() == 0 and pg.locator(".card[data-key='layer:distortion']").count() == 0
    assert pg.input_value("#colorby") == "label"  # the link's layer is not there yet
    log.shot("explorer-layers-computing.png")
    gate.set()
    pg.wait_for_selector(OPTION, state="attached", timeout=120000)
    pg.wait_for_selector("#layerstatus", state="hidden")
    assert pg.locator("#colorby option[value='wait:layers']").count() == 0
    for key in ("layer:distortion", "layer:sensitivity", "error"):
        pg.wait_for_selector(f".card[data-key='{key}']")
    # the link asked for the distortion colouring: taken once the layer arrived, with its colour bar
    pg.wait_for_function("explorer.legends[0] && explorer.legends[0].key === 'layer:distortion'")
    assert pg.input_value("#colorby") == "layer:distortion"
    bar = pg.text_content("#legend0")
    assert "map distortion" in bar and "10 nearest latent neighbours" in bar
    # ... and its filter, set once the column arrived: it hides exactly the rows outside the range
    import numpy as np

    v = state.layers.layers.get("distortion")
    pg.wait_for_function("explorer.cf.get('layer:distortion') !== null")
    assert pg.evaluate("explorer.cf.shown") == int(((v >= 0.25) & (v <= 1)).sum())
    assert "layer%3Adistortion" in pg.url.split("f=")[1]  # still in the link
    assert 0 < int(np.sum(v >= 0.25)) < len(v)
    log.shot("explorer-layers-ready.png")
    assert log.errors == []
    pg.close()
