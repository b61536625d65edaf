"""`ls.show(run)` in a real JupyterLab, driven by headless Chromium: the server on loopback with a
token, on its own free port, with its own root, config, data, runtime and IPython folders (nothing of
the user's is read or written); a notebook calls `ls.show` on a small imported run (three clusters
far apart and one lone point), the map is painted, a click on the lone point and a lasso around one
cluster are read back in Python as `w.selection`, compared with the rows computed here from the
run's own map. Screenshots: test-artifacts/notebook-widget-*.png."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import nbformat
import numpy as np
import pytest
from PIL import Image

from .conftest import ARTIFACTS, PageLog, free_port

pytest.importorskip("anywidget")
pytest.importorskip("jupyterlab")
TOKEN = "notebook-token-5187"
N_CLUSTER, LONE = 400, 3 * 400  # rows 0..1199 in three clusters, row 1200 alone


def build_run(out):
    import latentspace as ls

    rng = np.random.default_rng(0)
    centres = np.zeros((3, 6), np.float32)
    centres[0, 0], centres[1, 1], centres[2, 2] = 30, 30, 30
    Z = np.concatenate([c + rng.normal(size=(N_CLUSTER, 6)).astype(np.float32) for c in centres])
    Z = np.concatenate([Z, np.array([[-25, -25, -25, 0, 0, 0]], np.float32)])
    meta = {
        "cluster": [f"c{i // N_CLUSTER}" for i in range(LONE)] + ["lone"],
        "score": rng.normal(size=LONE + 1),
    }
    return ls.from_embeddings(Z, meta, out=out, label_col="cluster")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a token, every folder it uses inside a temporary one; yields
    (base URL, root folder, map positions of the run)."""
    from latentspace.maps.store import best_map

    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    run = build_run(root / "run")
    emb = best_map(run, 2)[0].embedding  # the PCA projection the widget shows (fitted the same way)
    dirs = {k: base / k for k in ("config", "data", "runtime", "ipython", "home")}
    for d in dirs.values():
        d.mkdir()
    # no update check, no news feed, no extension index: the server makes no request of its own
    lab_config = {"check_for_updates_class": "jupyterlab.NeverCheckForUpdate", "news_url": None}
    lab_config["extension_manager"] = "readonly"
    server = {"LabApp": lab_config, "ServerApp": {"terminals_enabled": False}}
    (dirs["config"] / "jupyter_server_config.json").write_text(json.dumps(server))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "HOME": str(dirs["home"]),
        "JUPYTER_PLATFORM_DIRS": "0",
    }
    port = free_port()
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # a container's root (refused without it)
        cmd.append("--allow-root")
    log = open(base / "lab.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("JupyterLab did not start: " + (base / "lab.log").read_text()[-2000:])
            time.sleep(0.5)
        yield url, root, emb
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def write_notebook(root, name: str, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, str(root / name))


def run_cell(pg, k: int) -> None:
    """Execute cell ``k`` as a person would: click into it, Shift+Enter."""
    cell = pg.locator(".jp-Notebook .jp-Cell").nth(k)
    cell.locator(".jp-InputArea-editor").click()
    pg.keyboard.press("Shift+Enter")


def cell_output(pg, k: int, pattern: str, timeout: float = 120) -> str:
    out = pg.locator(".jp-Notebook .jp-Cell").nth(k).locator(".jp-OutputArea-output")
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = " ".join(out.all_inner_texts())
        if re.search(pattern, text):
            return text
        pg.wait_for_timeout(250)
    raise AssertionError(f"cell {k} printed no {pattern!r}: {text!r}")


def selection(pg) -> list[int]:
    """Run the cell that prints w.selection and read the rows back."""
    out = pg.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea-output")
    before = " ".join(out.all_inner_texts())
    stamp = re.search(r"RUN (\d+)", before)
    want = int(stamp[1]) + 1 if stamp else 1
    run_cell(pg, 1)
    text = cell_output(pg, 1, rf"RUN {want} SELECTION \[")
    return json.loads(re.search(r"SELECTION (\[[^\]]*\])", text)[1])


def test_show_in_jupyterlab_paints_and_selects(lab, browser):
    url, root, emb = lab
    write_notebook(
        root,
        "show.ipynb",
        [
            "import latentspace as ls\nw = ls.show('run')\nw",
            # numbered, so that each run's output is told from the last one's
            "_k = globals().get('_k', 0) + 1\nprint('RUN', _k, 'SELECTION', w.selection)",
        ],
    )
    log = PageLog(browser)
    pg = log.page
    pg.set_viewport_size({"width": 1400, "height": 1000})
    pg.goto(f"{url}/lab/tree/show.ipynb?reset&token={TOKEN}")
    pg.wait_for_selector(".jp-Notebook .jp-Cell .jp-InputArea-editor", timeout=120000)
    # the kernel is up (a cell run before it is would be dropped)
    pg.wait_for_function(
        "document.querySelector('#jp-main-statusbar').innerText.includes('Idle')", timeout=120000
    )
    run_cell(pg, 0)
    try:
        pg.wait_for_selector(".ls-widget[data-ready='1']", timeout=180000)
    except Exception:
        log.shot("notebook-widget-failed.png")
        raise AssertionError(f"no widget; page errors: {log.errors}") from None
    news = pg.locator(".jp-Notification-Toast button", has_text="No")  # JupyterLab asks about its news feed
    if news.count():
        news.first.click()
    widget = pg.locator(".ls-widget")
    widget.scroll_into_view_if_needed()
    mapbox = pg.locator(".ls-map")
    pg.wait_for_timeout(500)
    log.shot("notebook-widget-map.png", widget)

    # painted: the map's own pixels (a screenshot, not the page's word) hold coloured points
    shot = ARTIFACTS / "notebook-widget-canvas.png"
    mapbox.screenshot(path=str(shot))
    px = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    coloured = (px.max(2) - px.min(2)) > 60  # tab10 colours; the background and text are grey
    assert coloured.sum() > 2000, coloured.sum()
    assert pg.evaluate("document.querySelector('.ls-map').lsScatter.n") == LONE + 1

    # hover the lone point: the tooltip names it; click it: it is the selection, in Python
    sx, sy = screen_of(pg, emb[LONE])
    hit = pg.evaluate("([x, y]) => document.elementFromPoint(x, y).dataset.role", [sx, sy])
    assert hit == "map-overlay", "the lone point lies under another element"
    pg.mouse.move(sx, sy)
    pg.wait_for_function("document.querySelector('.ls-tip').textContent.includes('lone')", timeout=60000)
    pg.mouse.click(sx, sy)
    pg.wait_for_function("document.querySelector('.ls-selinfo').textContent.startsWith('1 selected')")
    assert selection(pg) == [LONE]
    pg.wait_for_selector(".ls-side .ls-item", timeout=60000)

    # empty space between the clusters: no decoder, so the real items nearest it on the map
    gap = (emb[:N_CLUSTER].mean(0) + emb[N_CLUSTER : 2 * N_CLUSTER].mean(0)) / 2
    pg.mouse.click(*screen_of(pg, gap))
    pg.wait_for_selector(".ls-side .ls-thumbs .ls-thumb", timeout=60000)
    sent = pg.evaluate(
        "(() => { const e = document.querySelector('.ls-map').lsScatter.extra[0]; return [e.x, e.y]; })()"
    )
    assert np.linalg.norm(np.asarray(sent) - gap) < 0.02 * np.ptp(emb[:, 0])  # where the click was
    d = np.linalg.norm(emb.astype(np.float64) - np.asarray(sent), axis=1)
    shown = [int(t[1:].split()[0]) for t in pg.locator(".ls-side .ls-thumb").all_inner_texts()]
    assert shown == np.argsort(d, kind="stable")[: len(shown)].tolist() and len(shown) == 8
    assert selection(pg) == [LONE]  # a click on empty space leaves the selection alone

    # lasso a box around cluster 1 in map units; the rows inside it, computed here from the map
    c1 = emb[N_CLUSTER : 2 * N_CLUSTER]
    lo, hi = c1.min(0), c1.max(0)
    pad = 0.15 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    inside = np.flatnonzero(np.all((emb >= lo) & (emb <= hi), 1))
    near = np.all((emb >= lo - pad) & (emb <= hi + pad), 1) & ~np.all(
        (emb >= lo + pad) & (emb <= hi - pad), 1
    )
    assert set(inside) == set(range(N_CLUSTER, 2 * N_CLUSTER))
    assert not near[:N_CLUSTER].any() and not near[2 * N_CLUSTER :].any()  # no other row near an edge
    pg.locator(".ls-seg button", has_text="lasso").click()
    corners = [screen_of(pg, p) for p in ([lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]])]
    pg.mouse.move(*corners[0])
    pg.mouse.down()
    for c in corners[1:] + corners[:1]:
        pg.mouse.move(*c, steps=8)
    pg.mouse.up()
    pg.wait_for_function(f"document.querySelector('.ls-selinfo').textContent.startsWith('{N_CLUSTER}')")
    log.shot("notebook-widget-lasso.png", widget)
    assert selection(pg) == list(range(N_CLUSTER, 2 * N_CLUSTER))
    assert not [e for e in log.errors if "favicon" not in e], log.errors
    assert not log.external(url), log.external(url)
    log.page.close()


def screen_of(pg, p) -> tuple[float, float]:
    return tuple(
        pg.evaluate(
            "([x, y]) => { const m = document.querySelector('.ls-map'), r = m.getBoundingClientRect();"
            " const s = m.lsScatter.toScreen(x, y); return [r.left + s[0], r.top + s[1]]; }",
            [float(p[0]), float(p[1])],
        )
    )
