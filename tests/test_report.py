"""The self-contained report: no external reference, opens in headless Chromium without console
errors, the map renders and hovering shows an item; and `make demo`'s pieces from the CLI."""

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from latentspace.cli import app
from latentspace.maps.store import map_run
from latentspace.report.html import build_report, label_colors, write_report
from latentspace.runfolder import Run
from latentspace.stages.evaluate import evaluate
from latentspace.stages.fit import fit

from .conftest import PageLog


@pytest.fixture(scope="module")
def report_run(tmp_path_factory, digits):
    out = tmp_path_factory.mktemp("report") / "digits-ae"
    fit(digits, "ae", latent_dim=4, out=out, epochs=3, arch="mlp")
    run = Run(out)
    evaluate(run, ["reconstruction", "probes"])
    map_run(run, "umap", n_epochs=100)
    write_report(run, max_points=1000)
    return Run(out)


def test_report_is_self_contained(report_run):
    page = (report_run.path / "report.html").read_text()
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page.replace("http://www.w3.org", "")), (
        "external URL"
    )
    assert not re.search(r"(?i)<(script|link|img|iframe)[^>]+(src|href)=['\"](?!data:)", page)
    for title in (
        "Map of the latent space",
        "Originals and reconstructions",
        "Samples",
        "Latent traversal",
        "Interpolation",
        "Report card",
        "Training curves",
        "Configuration",
    ):
        assert f"<h2>{title}</h2>" in page
    assert page.count("class='caption'") >= 8  # every figure has its sentence
    assert "trustworthiness" in page and "probe_latent" in page  # the card is in it
    assert "report.html" in report_run.config["files"]  # recorded with its checksum


def test_report_opens_in_chromium(report_run, browser):
    log = PageLog(browser)
    pg = log.page
    pg.goto((report_run.path / "report.html").as_uri())
    pg.wait_for_selector("#map[data-ready='1']", timeout=20000)
    sc = pg.evaluate("[latentMap.n, latentMap.mode]")
    assert sc[0] == 1000 and sc[1] in ("webgl", "canvas2d")
    # hover the point nearest the map's centre (the legend may cover a corner): the tooltip shows
    # its row and its thumbnail
    x, y = pg.evaluate(
        "(() => { const m = latentMap; let best = 0, bd = Infinity;"
        " for (let i = 0; i < m.n; i++) { const s = m.toScreen(m.x[i], m.y[i]);"
        " const d = (s[0] - m.w / 2) ** 2 + (s[1] - m.h / 2) ** 2; if (d < bd) { bd = d; best = i; } }"
        " return m.toScreen(m.x[best], m.y[best]); })()"
    )
    box = pg.locator("#map").bounding_box()
    pg.mouse.move(box["x"] + x, box["y"] + y)
    pg.wait_for_selector("#tip canvas", timeout=5000)
    row = pg.evaluate("JSON.parse(document.getElementById('map-data').textContent).rows[latentMap.hoverIdx]")
    assert f"#{row}" in pg.inner_text("#tip")
    # zoom in: the view shrinks around the pointer
    before = pg.evaluate("latentMap.view.x1 - latentMap.view.x0")
    pg.mouse.wheel(0, -400)
    assert pg.evaluate("latentMap.view.x1 - latentMap.view.x0") < 0.8 * before
    pg.select_option("#colorby", "reconstruction error")
    pixels = pg.evaluate(
        "(() => { const c = document.querySelector('#map canvas'); const g = document.createElement('canvas');"
        " g.width = c.width; g.height = c.height; const x = g.getContext('2d'); x.drawImage(c, 0, 0);"
        " const d = x.getImageData(0, 0, g.width, g.height).data; let k = 0;"
        " for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i+1] < 250 || d[i+2] < 250) k++; return k; })()"
    )
    assert pixels > 500  # points were drawn
    log.shot("report-map.png", pg.locator("#map-section"))
    assert log.errors == []
    assert log.external("file:") == []


def test_label_colours_are_distinct_for_twenty_classes():
    c = label_colors(np.arange(20))
    assert len({tuple(v) for v in c}) == 20


def test_report_without_a_map_uses_pca_and_vector_data(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "vectors.npy", rng.normal(size=(300, 5)).astype(np.float32))
    fit(str(tmp_path / "vectors.npy"), "pca", latent_dim=3, out=tmp_path / "r")
    page = build_report(Run(tmp_path / "r"), max_points=100)
    assert "a PCA projection of the latents" in page and '"features"' in page
    assert "pca has no training epochs" in page


def test_cli_report(report_run, tmp_path):
    res = CliRunner().invoke(app, ["report", str(report_run.path), "--points", "200"])
    assert res.exit_code == 0, res.output
    assert "report.html" in res.output
    res = CliRunner().invoke(app, ["report", str(report_run.path), "--points", "0"])
    assert res.exit_code == 2 and "--points must be at least 1" in res.output
