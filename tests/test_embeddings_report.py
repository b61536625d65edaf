"""The report and the steering commands on runs without a decoder (imported vectors), checked against
numpy: decoded figures are left out with one line each, the nearest neighbours are shown as the
run's own items (texts, images), the metadata columns are summarised, the map's tooltips carry the
texts; a fitted run keeps every decoded figure; sample/traverse/reconstruct refuse in one line while
interpolate and attribute list the nearest real items."""

import base64
import hashlib
import html
import io
import json
import re

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import latentspace as ls
from latentspace.cli import app
from latentspace.errors import RunIntegrityError
from latentspace.maps.store import map_run
from latentspace.report.html import build_report, write_report
from latentspace.runfolder import Run
from latentspace.runfolder.items import RunItems
from latentspace.stages.evaluate import evaluate

from .conftest import PageLog
from .test_embeddings_explorer import lerp_path, nearest_rows

WORDS = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


def _digit_vectors(digits):
    rng = np.random.default_rng(1)
    return (np.asarray(digits.X, np.float64) @ rng.normal(size=(64, 16))).astype(np.float32)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits):
    """A text-item run and an image-item run of the same 1,797 digit vectors, mapped and reported."""
    root = tmp_path_factory.mktemp("emb-report")
    Z = _digit_vectors(digits)
    words = WORDS[digits.y]
    ink = np.asarray(digits.X).sum(1)
    texts = [f"a handwritten {w}, row {i}" for i, w in enumerate(words)]
    meta = {"digit": pa.array(words).dictionary_encode(), "ink": ink, "note": texts}
    pixels = (np.asarray(digits.X).reshape(-1, 8, 8) * 255).round().astype(np.uint8)
    ls.from_embeddings(Z, meta, out=root / "text", label_col="digit", text_col="note")
    ls.from_embeddings(
        Z, {k: meta[k] for k in ("digit", "ink")}, out=root / "image", items=pixels, label_col="digit"
    )
    for name in ("text", "image"):
        run = Run(root / name)
        evaluate(run, ["probes"])
        map_run(run, "umap", n_epochs=100)
        write_report(run, max_points=800)
    return {"root": root, "Z": Z, "words": words, "texts": texts, "ink": ink, "pixels": pixels}


def _section(page: str, ident: str) -> str:
    m = re.search(rf"<section class='fig' id=\"{ident}\">(.*?)</section>", page, re.S)
    assert m, f"no section {ident}"
    return m.group(1)


def _neighbour_rows(page: str) -> list[tuple[int, list[int], str]]:
    """(query, neighbours, the row's HTML) from the report's neighbours table."""
    out = []
    for row in re.findall(r"<tr><td class='query'>(.*?)</tr>", _section(page, "neighbours"), re.S):
        ids = [int(v) for v in re.findall(r"<figcaption>#(\d+)", row)]
        out.append((ids[0], ids[1:], row))
    return out


def test_text_report_leaves_out_decoded_figures_and_shows_exact_neighbours(runs):
    page = (runs["root"] / "text" / "report.html").read_text()
    for title in ("Originals and reconstructions", "Samples", "Latent traversal", "Interpolation"):
        assert f"<h2>{title}</h2>" not in page
        assert (
            f"<li><b>{title}</b>: not shown: this run holds imported vectors and has no decoder.</li>" in page
        )
    assert (
        "<p class='note' id='note'>this run holds imported vectors: no decoder; showing the nearest real items.</p>"
        in page
    )
    rows = _neighbour_rows(page)
    Z = runs["Z"]
    assert len(rows) == 6
    # one item of each of the first six classes (the category's own order: zero, one, ..., five)
    names = Run(runs["root"] / "text").config["dataset"]["label_names"]
    assert names == WORDS.tolist()
    assert [runs["words"][q] for q, _, _ in rows] == names[:6]
    for q, nbrs, row in rows:
        d = ((Z.astype(np.float64) - Z[q]) ** 2).sum(1)
        d[q] = np.inf
        assert nbrs == np.lexsort((np.arange(len(d)), d))[:6].tolist()
        cards = re.findall(r"<div class='textcard'[^>]*>([^<]*)</div>", row)
        assert cards == [html.escape(runs["texts"][j]) for j in [q, *nbrs]]
    # the page makes no request: no external URL, no src or href other than data:
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page)
    assert not re.search(r"(?i)<(script|link|img|iframe)[^>]+(src|href)=['\"](?!data:)", page)


def test_named_directions_without_a_decoder_say_why_there_is_no_traversal(runs, tmp_path):
    """Before interpret.json exists the section says how to make it; after, it names the
    directions (the digit word drives the latents) and says in one line why nothing is decoded."""
    import shutil

    from latentspace.interpret import interpret_run

    page = (runs["root"] / "text" / "report.html").read_text()
    assert "latentspace interpret RUN" in _section(page, "interpret")
    assert "no interpret.json yet" in _section(page, "sensitivity")
    shutil.copytree(runs["root"] / "text", tmp_path / "text")
    run = Run(tmp_path / "text")
    interp = interpret_run(run)
    page = build_report(Run(tmp_path / "text"), max_points=200)
    named = _section(page, "interpret")
    assert "id='traversal-absent'>No decoded traversals: no decoder in this run (imported vectors)" in named
    rows = re.findall(r"<tr data-direction='([^']+)'>", named)
    assert rows[:3] == [d["id"] for d in interp.dims if not d["inactive"]][:3]
    col = next(c for c in interp.doc["columns"] if c["name"] == "digit")
    assert col["best_mi"] > 0.2  # a random direction would score near 0
    assert f"<b>digit</b> ({col['source']}): {col['best']}, MI {col['best_mi']:.2f}" in named
    assert "<th>effect</th>" not in named and "decoded output" not in named
    assert "<img class='strip'" not in named
    sens = _section(page, "sensitivity")
    assert "id='sensitivity-absent'>Not shown: no decoder in this run (imported vectors)" in sens


def test_metadata_summary_gives_the_numbers(runs):
    page = (runs["root"] / "text" / "report.html").read_text()
    meta = _section(page, "metadata")
    counts = {w: int((runs["words"] == w).sum()) for w in WORDS}
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:8]
    assert (
        "digit (the label)</td><td>category</td><td>10 distinct: " + ", ".join(f"{w} ({c:,})" for w, c in top)
        in meta
    )
    ink = runs["ink"]
    assert (
        f"ink</td><td>number</td><td>min {ink.min():.4g}, median {np.median(ink):.4g},"
        f" max {ink.max():.4g}, mean {ink.mean():.4g}" in meta
    )
    assert "note (the items&#x27; text)</td><td>text</td><td>1,797 distinct values, e.g." in meta
    card = Run(runs["root"] / "text").read_json("metrics.json")["results"]
    assert card["probes"]["values"]["linear_probe_latent"] > 0.8  # the digit category is the label


def test_image_report_shows_the_imported_images(runs):
    run = Run(runs["root"] / "image")
    page = (run.path / "report.html").read_text()
    items = RunItems(run)
    for q, nbrs, row in _neighbour_rows(page):
        pngs = re.findall(r"src=\"data:image/png;base64,([^\"]+)\"", row)
        assert [base64.b64decode(p) for p in pngs] == [items.png(j) for j in [q, *nbrs]]
    assert page.count("<figure class='item'>") == 6 * 7
    # the map's tooltip sprite holds the very pixels of each shown row (8x8 tiles, 100 a row)
    from PIL import Image

    payload = json.loads(
        re.search(r"id='map-data'>(.*?)</script>", page, re.S).group(1).replace("<\\/", "</")
    )
    sp = payload["sprite"]
    assert (sp["h"], sp["w"], sp["cols"]) == (8, 8, 100)
    sheet = np.asarray(Image.open(io.BytesIO(base64.b64decode(sp["src"].split(",", 1)[1]))))
    for k in (0, 1, 250, len(payload["rows"]) - 1):
        r, c = divmod(k, 100)
        tile = sheet[r * 8 : (r + 1) * 8, c * 8 : (c + 1) * 8, 0]
        assert np.array_equal(tile, runs["pixels"][payload["rows"][k]])
    assert "reconstruction error" not in payload["colors"] and payload["error"] is None
    assert [name for name, _ in payload["legend"]] == WORDS.tolist()


def test_report_tooltips_in_chromium(runs, browser):
    for name, selector in (("text", "#tip .tiptext"), ("image", "#tip canvas")):
        log = PageLog(browser)
        pg = log.page
        pg.goto((runs["root"] / name / "report.html").as_uri())
        pg.wait_for_selector("#map[data-ready='1']", timeout=20000)
        pg.locator("#map").scroll_into_view_if_needed()
        x, y = pg.evaluate("latentMap.toScreen(latentMap.x[5], latentMap.y[5])")
        box = pg.locator("#map").bounding_box()
        pg.mouse.move(box["x"] + x, box["y"] + y)
        pg.wait_for_selector(selector, timeout=5000)
        row = pg.evaluate(
            "JSON.parse(document.getElementById('map-data').textContent).rows[latentMap.hoverIdx]"
        )
        tip = pg.inner_text("#tip")
        assert re.search(rf"#{row}\s+label {runs['words'][row]}\n", tip)
        if name == "text":
            assert pg.inner_text("#tip .tiptext") == runs["texts"][row]
        else:
            assert f"ink: {float(runs['ink'][row])}" in tip
        pg.select_option("#colorby", "ink")  # a metadata column colours the map
        log.shot(f"report-embeddings-{name}.png", pg.locator("#map-section"))
        assert log.errors == []
        assert log.external("file:") == []


def test_fitted_report_keeps_its_decoded_figures(tmp_path, digits):
    from latentspace.stages.fit import fit

    fit(digits, "pca", latent_dim=4, out=tmp_path / "pca")
    run = Run(tmp_path / "pca")
    page = build_report(run, max_points=300)
    for title in ("Originals and reconstructions", "Samples", "Latent traversal", "Interpolation"):
        assert f"<h2>{title}</h2>" in page
    assert "Decoded figures" not in page and "<h2>Metadata</h2>" not in page and "class='note'" not in page
    Z = run.latent_matrix()
    rows = _neighbour_rows(page)
    assert len(rows) == 6
    for q, nbrs, _ in rows:
        d = ((Z.astype(np.float64) - Z[q]) ** 2).sum(1)
        d[q] = np.inf
        assert nbrs == np.lexsort((np.arange(len(d)), d))[:6].tolist()
    payload = json.loads(
        re.search(r"id='map-data'>(.*?)</script>", page, re.S).group(1).replace("<\\/", "</")
    )
    assert "reconstruction error" in payload["colors"] and len(payload["error"]) == 300


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_on_a_run_without_a_decoder(runs, tmp_path):
    text = runs["root"] / "text"
    for cmd, extra in (("sample", []), ("traverse", ["--item", "3"]), ("reconstruct", [])):
        res = _run(cmd, text, "-o", tmp_path / f"{cmd}.png", *extra)
        assert res.exit_code == 2, res.output
        line = res.output.strip()
        assert "\n" not in line and "Traceback" not in res.output
        assert (
            line.startswith("error: text has no decoder (it holds imported vectors):")
            and f"`latentspace {cmd}`" in line
        )
        assert not (tmp_path / f"{cmd}.png").exists()
    Z = runs["Z"]
    # interpolate: the real item nearest each step of the straight path, listed in order
    res = _run("interpolate", text, "-o", tmp_path / "i.png", "--from", 5, "--to", 100, "--steps", 7)
    assert res.exit_code == 0, res.output
    listed = [int(v) for v in re.findall(r"│ #(\d+) ", res.output)]
    assert listed == nearest_rows(Z, lerp_path(Z[5], Z[100], 7))[:, 0].tolist()
    assert (tmp_path / "i.png").read_bytes()[:4] == b"\x89PNG"
    # attribute as analogy search: the real item nearest item + alpha (mean A - mean B)
    res = _run(
        "attribute",
        text,
        "-o",
        tmp_path / "a.png",
        "--where",
        "label==0",
        "--vs",
        "label==1",
        "--item",
        7,
        "--alphas",
        "0,1,2",
    )
    assert res.exit_code == 0, res.output
    y = Run(text).latents()["label"].to_numpy()
    v = (Z[y == 0].astype(np.float64).mean(0) - Z[y == 1].astype(np.float64).mean(0)).astype(np.float32)
    Zs = Z[7][None] + np.array([0, 1, 2], np.float32)[:, None] * v[None]
    listed = [int(v) for v in re.findall(r"│ #(\d+) ", res.output)]
    assert listed == nearest_rows(Z, Zs)[:, 0].tolist() and listed[0] == 7
    # neighbours draws the run's own items
    for name in ("text", "image"):
        res = _run("neighbours", runs["root"] / name, "--item", 3, "-k", 4, "-o", tmp_path / f"n-{name}.png")
        assert res.exit_code == 0, res.output
        assert (tmp_path / f"n-{name}.png").read_bytes()[:4] == b"\x89PNG"
    res = _run("report", text, "--points", 200)
    assert res.exit_code == 0 and "report.html" in res.output


# --- items.parquet is untrusted input -----------------------------------------------------------
def _resign(run_dir, name: str) -> None:
    from latentspace.runfolder.folder import _config_digest

    cfg_path = run_dir / "config.json"
    config = json.loads(cfg_path.read_text())
    config["files"][name] = hashlib.sha256((run_dir / name).read_bytes()).hexdigest()
    config["config_sha256"] = _config_digest(config)
    cfg_path.write_text(json.dumps(config))


@pytest.mark.parametrize(
    "image, words",
    [
        ("big", "is 200x8; thumbnails are at most 96x96"),
        ("jpeg", "the image of item 4 is not a PNG"),
    ],
)
def test_a_tampered_items_file_is_refused(tmp_path, runs, image, words):
    import shutil

    import pyarrow.parquet as pq
    from PIL import Image

    from latentspace.web.app import load_state

    run_dir = tmp_path / "run"
    shutil.copytree(runs["root"] / "image", run_dir)
    table = pq.read_table(run_dir / "items.parquet")
    pngs = table["image"].to_pylist()
    buf = io.BytesIO()
    if image == "big":
        Image.new("L", (200, 8)).save(buf, format="PNG")
    else:
        Image.new("RGB", (8, 8)).save(buf, format="JPEG")
    pngs[4] = buf.getvalue()
    pq.write_table(
        pa.table({"row": table["row"], "image": pa.array(pngs, pa.binary())}), run_dir / "items.parquet"
    )
    _resign(run_dir, "items.parquet")
    with pytest.raises(RunIntegrityError, match=re.escape(words)):
        load_state(0, run_dir)
    res = _run("report", run_dir)
    assert res.exit_code == 2 and words in res.output
