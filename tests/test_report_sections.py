"""The report's sections a person reads, on real runs: traversals of the most important directions
for several items, each row labelled with interpret.json's name and in its order; the named
directions and the decoder's sensitivity; one line where a run has neither; the configuration
folded behind a summary; tabular items as named feature tables in the data's units; and the
comparison page linking both reports with the same figures side by side. A browser test opens
the report and the comparison page in headless Chromium."""

import html
import re

import numpy as np
import pytest

from latentspace.data import load
from latentspace.interpret import interpret_run, read_interpretation
from latentspace.metrics.card import compare_table
from latentspace.report.compare import compare_html
from latentspace.report.directions import TRAVERSE_ITEMS
from latentspace.report.html import write_report
from latentspace.runfolder import Run
from latentspace.stages.evaluate import evaluate
from latentspace.stages.fit import fit

from .conftest import PageLog


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits):
    root = tmp_path_factory.mktemp("report-sections")
    vae = fit(digits, "vae", latent_dim=4, out=root / "digits-vae", epochs=3, arch="mlp")
    pca = fit(digits, "pca", latent_dim=4, out=root / "digits-pca")
    for run in (vae, pca):
        evaluate(run, ["reconstruction", "smoothness"])
    interpret_run(vae)  # the PCA run keeps no interpret.json: its report says so
    for path in (root / "digits-vae", root / "digits-pca"):
        write_report(Run(path), max_points=500)
    opened = [Run(root / "digits-pca"), Run(root / "digits-vae")]
    cards = [r.read_json("metrics.json") for r in opened]
    out = root / "compare.html"
    out.write_text(compare_html(*compare_table(opened, cards), runs=opened, out=out))
    return {"root": root, "vae": Run(root / "digits-vae"), "pca": Run(root / "digits-pca"), "compare": out}


def _section(page: str, ident: str) -> str:
    m = re.search(rf"<section class='fig' id=\"{ident}\">(.*?)</section>", page, re.S)
    assert m, f"no section {ident}"
    return m.group(1)


def test_traversal_rows_follow_interpret_order_and_names(runs):
    page = (runs["vae"].path / "report.html").read_text()
    interp = read_interpretation(runs["vae"])
    active = [d for d in interp.dims if not d["inactive"]]
    sec = _section(page, "traversal")
    items = re.findall(r"<figure class='trav' data-item='(\d+)'>(.*?)</figure>", sec, re.S)
    assert len(items) == TRAVERSE_ITEMS and len({i for i, _ in items}) == TRAVERSE_ITEMS
    for _, body in items:
        ids = re.findall(r"<tr data-direction='([^']+)'>", body)
        labels = [
            html.unescape(t)
            for t in re.findall(r"<tr data-direction='[^']+'><th title='[^']*'>(.*?)</th>", body)
        ]
        assert ids == [d["id"] for d in active][:6]
        assert labels == [d["title"] for d in active][:6]
    kls = [d["importance"] for d in active]
    assert kls == sorted(kls, reverse=True) and len(active) >= 2  # most important first
    # the same directions in the named-directions table, each with its decoded traversal
    named = _section(page, "interpret")
    rows = re.findall(r"<tr data-direction='([^']+)'>(.*?)</tr>", named, re.S)
    assert [r for r, _ in rows][: len(active)] == [d["id"] for d in active][:10]
    for ident, row in rows:
        entry = interp.direction(ident)
        assert html.escape(entry["name"]) in row and "<img class='strip'" in row
        tie = entry["associations"][0]
        assert f"MI {tie['mi']:.2f}" in row
    sens = _section(page, "sensitivity")
    doc = interp.doc["sensitivity"]
    assert f"median {doc['median']:.3g}" in sens
    assert f"the most sensitive item {doc['max'] / doc['min']:.3g} times the least" in sens
    assert "most and least sensitive items before and after" in sens and "<img" in sens


def test_a_run_without_interpret_says_why_in_one_line(runs):
    page = (runs["pca"].path / "report.html").read_text()
    assert "latentspace interpret RUN" in _section(page, "interpret")
    assert "id='sensitivity-absent'" in _section(page, "sensitivity")
    # the traversal falls back to variance order for a model without a posterior
    assert "ordered by variance" in _section(page, "traversal")
    Z = runs["pca"].latent_matrix()
    order = [f"z_{j}" for j in np.argsort(-Z.var(0), kind="stable")]
    ids = re.findall(r"<tr data-direction='([^']+)'>", _section(page, "traversal"))[:4]
    assert ids == order


def test_configuration_is_folded_behind_a_summary(runs):
    page = (runs["vae"].path / "report.html").read_text()
    sec = _section(page, "configuration")
    assert (
        "<details class='config' id='config'><summary>" in sec
        and "<details class='config' id='config' open" not in sec
    )
    summary = re.search(r"<summary>(.*?)</summary>", sec).group(1)
    assert summary.startswith("vae (4-d latent, mlp") and "3 epochs" in summary and "seed 0" in summary
    assert "1,797 items x 64 features" in summary


def test_tabular_items_are_named_feature_tables(tmp_path):
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True)
    df = wine.frame.drop(columns="target")
    df["kind"] = [wine.target_names[t] for t in wine.target]
    df.to_csv(tmp_path / "wine.csv", index=False)
    data = load(str(tmp_path / "wine.csv"), label_col="kind")
    fit(data, "vae", latent_dim=3, out=tmp_path / "r", epochs=2)
    run = Run(tmp_path / "r")
    write_report(run, max_points=100)
    page = (run.path / "report.html").read_text()
    sec = _section(page, "reconstructions")
    assert "<img" not in sec  # no line plots
    tables = re.findall(r"<div class='itemtable'><h4>#(\d+)[^<]*</h4>(.*?)</table>", sec, re.S)
    assert len(tables) == 5
    X = df.drop(columns="kind").to_numpy()
    for row, body in tables[:2]:
        cells = re.findall(r"<tr><th>([^<]+)</th><td class='num'[^>]*>([^<]+)</td>", body)
        assert [c[0] for c in cells] == list(df.columns[:-1])  # every feature, by name
        # originals in the data's own units (proline in the hundreds, hue near 1)
        assert [float(c[1]) for c in cells] == pytest.approx(X[int(row)], rel=1e-3)
    trav = _section(page, "traversal")
    assert "<img" not in trav and " → " in trav and "data-direction='z_" in trav


def test_report_and_compare_pages_in_chromium(runs, browser):
    log = PageLog(browser)
    pg = log.page
    pg.goto((runs["vae"].path / "report.html").as_uri())
    pg.wait_for_selector("#map[data-ready='1']", timeout=20000)
    # the configuration is folded: its summary shows, its tables do not, until clicked
    assert pg.evaluate("document.getElementById('config').open") is False
    assert (
        pg.locator("#config > summary").is_visible() and not pg.locator("#config table.kv").first.is_visible()
    )
    pg.click("#config > summary")
    assert pg.locator("#config table.kv").first.is_visible()
    interp = read_interpretation(runs["vae"])
    labels = pg.eval_on_selector_all(
        "figure.trav:first-of-type th[title]", "els => els.map(e => e.textContent)"
    )
    assert labels == [d["title"] for d in interp.dims if not d["inactive"]][:6]
    assert pg.locator("figure.trav").count() == TRAVERSE_ITEMS
    widths = pg.eval_on_selector_all("figure.trav img", "els => els.map(e => e.naturalWidth)")
    assert min(widths) >= 7 * 8 * 5  # seven 8x8 digits, enlarged to be seen
    log.shot("report-traversal.png", pg.locator("#traversal"))
    log.shot("report-card.png", pg.locator("#card"))
    assert log.errors == [] and log.external("file:") == []
    # the comparison page links both reports; a link opens the run's report
    pg.goto(runs["compare"].as_uri())
    hrefs = pg.eval_on_selector_all(".runs a", "els => els.map(e => e.getAttribute('href'))")
    assert hrefs == ["digits-pca/report.html", "digits-vae/report.html"]
    assert pg.locator(".side[data-kind='Latent traversal'] > figure").count() == 2
    log.shot("compare.png")
    pg.click(".runs a >> nth=1")
    pg.wait_for_selector("h1")
    assert pg.inner_text("h1") == "digits-vae"
    assert log.errors == []


def test_compare_links_reports_without_knowing_where_it_is_written(runs):
    """The CLI passes compare_table's result alone: its header carries the runs, and the links
    are then absolute file URIs of both reports."""
    opened = [runs["pca"], runs["vae"]]
    page = compare_html(*compare_table(opened, [r.read_json("metrics.json") for r in opened]), figures=False)
    hrefs = re.findall(r"<a href='([^']+)'>", page)
    assert hrefs == [(r.path / "report.html").resolve().as_uri() for r in opened]
    assert "Figures side by side" not in page
    # PCA's path ratio of 1 is by construction, never the best
    row = re.search(r"<tr data-metric='path_ratio_median'>.*?</tr>", page).group(0)
    assert "★" not in row and "by construction" in row
