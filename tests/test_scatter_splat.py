"""The scatter's CPU splat (scatter_splat.js: software WebGL at scale) against its WebGL path
(scatter.js), and the moved bitmap shown during a pan or zoom when full frames are dear."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ARTIFACTS

STATIC = Path(__file__).resolve().parent.parent / "src/latentspace/web/static"
JS = (STATIC / "scatter.js").read_text() + (STATIC / "scatter_splat.js").read_text()
PAGE = f"<div id='a' style='width:400px;height:300px;position:relative'></div><div id='b' style='width:400px;height:300px;position:relative'></div><script>{JS}</script>"

# the same 3,000 points drawn both ways: 3 colours, a third dimmed, some hidden, groups A, B and both
DRAW_BOTH = """() => {
  const n = 3000, x = new Float32Array(n), y = new Float32Array(n), rgb = new Uint8Array(3 * n), st = new Uint8Array(n);
  let s = 7; const rnd = () => { s = (s * 16807) % 2147483647; return s / 2147483647; };
  const pal = [[31, 119, 180], [255, 127, 14], [44, 160, 44]];
  for (let i = 0; i < n; i++) {
    const c = i % 3; x[i] = c * 3 + rnd() * 2; y[i] = (c % 2) * 2 + rnd() * 2;
    rgb.set(pal[c], 3 * i);
    st[i] = (i % 3 === 1 && i % 7 === 0 ? 2 : 0) | (i % 11 === 0 ? 1 : 0) | (i >= 100 && i < 160 ? 4 : 0) | (i >= 140 && i < 200 ? 8 : 0);
  }
  const out = {};
  for (const [id, render] of [["a", "webgl"], ["b", "splat"]]) {
    const sc = new LatentScatter(document.getElementById(id), { x: x, y: y, colors: rgb, render: render });
    sc.setState(st); sc.draw();
    const c = document.createElement("canvas"); c.width = sc.base.width; c.height = sc.base.height;
    const g = c.getContext("2d"); g.drawImage(sc.base, 0, 0);
    out[id] = { mode: sc.mode, px: Array.from(g.getImageData(0, 0, c.width, c.height).data) };
  }
  return out;
}"""


@pytest.fixture
def page(browser):
    pg = browser.new_page(viewport={"width": 900, "height": 700})
    pg.set_content(PAGE)
    yield pg
    pg.close()


def near(px: np.ndarray, rgb, tol: int = 40) -> np.ndarray:
    return (np.abs(px[..., :3].astype(int) - np.array(rgb)) <= tol).all(axis=-1)


def test_splat_draws_what_webgl_draws(page):
    r = page.evaluate(DRAW_BOTH)
    assert (r["a"]["mode"], r["b"]["mode"]) == ("webgl", "splat")
    gl, sp = (np.array(r[k]["px"], dtype=np.uint8).reshape(300, 400, 4) for k in "ab")
    ARTIFACTS.mkdir(exist_ok=True)
    Image.fromarray(np.concatenate([gl, sp], axis=1)[..., :3]).save(ARTIFACTS / "scatter-webgl-vs-splat.png")
    ink_gl, ink_sp = (p[..., :3].min(axis=-1) < 230 for p in (gl, sp))
    # the same pixels are inked (a disc's edge pixels may differ by sub-pixel rounding)
    agree = (ink_gl == ink_sp).mean()
    assert agree > 0.97, agree
    assert abs(int(ink_gl.sum()) - int(ink_sp.sum())) < 0.1 * ink_gl.sum()
    # each colour covers about as many pixels both ways: the classes (GL blends them at alpha 0.85,
    # so a point alone over white is up to 0.15 * 255 lighter per channel; the splat draws them
    # opaque) and the halos of groups A and B (opaque both ways)
    for rgb, tol in (
        ([31, 119, 180], 60),
        ([255, 127, 14], 60),
        ([44, 160, 44], 60),
        ([230, 0, 126], 40),
        ([0, 150, 136], 40),
    ):
        a, b = near(gl, rgb, tol).sum(), near(sp, rgb, tol).sum()
        assert a > 300 and abs(int(a) - int(b)) < 0.15 * a, (rgb, a, b)


GESTURE = """async (kind) => {
  const n = 2000, x = new Float32Array(n), y = new Float32Array(n);
  for (let i = 0; i < n; i++) { x[i] = (i % 50) / 49; y[i] = Math.floor(i / 50) / 39; }
  const sc = new LatentScatter(document.getElementById("a"), { x: x, y: y, render: "splat" });
  sc.draw(); sc.fullMs = 50;  // as if a full frame were dear
  const before = Object.assign({}, sc.view), p = [0.3, 0.6], s0 = sc.toScreen(p[0], p[1]);
  const ov = sc.overlay, r = ov.getBoundingClientRect();
  if (kind === "wheel") ov.dispatchEvent(new WheelEvent("wheel", { deltaY: -200, clientX: r.left + 150, clientY: r.top + 100, bubbles: true, cancelable: true }));
  else {
    ov.dispatchEvent(new MouseEvent("mousedown", { clientX: r.left + 100, clientY: r.top + 100, bubbles: true }));
    window.dispatchEvent(new MouseEvent("mousemove", { clientX: r.left + 160, clientY: r.top + 70, bubbles: true }));
  }
  await new Promise((ok) => requestAnimationFrame(() => ok()));
  const during = { kind: sc.frameKind, transform: sc.base.style.transform, s1: sc.toScreen(p[0], p[1]) };
  const m = /translate\\(([-\\d.e]+)px, ?([-\\d.e]+)px\\) scale\\(([-\\d.e]+), ?([-\\d.e]+)\\)/.exec(during.transform);
  during.moved = m ? [+m[1] + +m[3] * s0[0], +m[2] + +m[4] * s0[1]] : null;
  window.dispatchEvent(new MouseEvent("mouseup", { bubbles: true }));
  await new Promise((ok) => setTimeout(ok, 250));
  await new Promise((ok) => requestAnimationFrame(() => ok()));
  return { during: during, after: { kind: sc.frameKind, transform: sc.base.style.transform },
           zoomed: (sc.view.x1 - sc.view.x0) / (before.x1 - before.x0) };
}"""


@pytest.mark.parametrize("kind", ["wheel", "drag"])
def test_gesture_moves_the_last_frame_then_draws_in_full(page, kind):
    r = page.evaluate(GESTURE, kind)
    d = r["during"]
    assert d["kind"] == "bitmap" and d["moved"] is not None, d
    # the transform carries a data point's old pixel to where the new view puts it
    assert np.allclose(d["moved"], d["s1"], atol=0.05), d
    assert r["after"] == {"kind": "full", "transform": ""}
    if kind == "wheel":
        assert r["zoomed"] == pytest.approx(np.exp(-200 * 0.0015), rel=1e-6)


def test_auto_mode_splats_only_large_maps_on_software_webgl(page):
    modes = page.evaluate(
        """() => [2000, 150000].map((n, k) => {
          const x = new Float32Array(n).map((_, i) => i % 997), y = new Float32Array(n).map((_, i) => i % 991);
          return new LatentScatter(document.getElementById(k ? "b" : "a"), { x: x, y: y }).mode; })"""
    )
    # the tests' Chromium runs with --disable-gpu: WebGL on SwiftShader
    assert modes == ["webgl", "splat"]
