"""The 3-D scatter (web/static/scatter3d.js) with many points in headless Chromium: first paint, an
orbit frame, and picking the point under the pointer two ways, to choose between them.

Usage: .venv/bin/python bench/bench_scatter3d.py [--n 1000000] [--picks 200]

(1) The page builds n points in 40 Gaussian clusters (a seeded generator, in the page), creates a
    LatentScatter3D in a 1000 x 800 box and draws it; "first paint" runs from the constructor's call
    to the drawn frame read back (gl.readPixels forces the GPU to finish).
(2) An orbit frame: the camera turns 0.02 rad and the frame is drawn and read back (median of 15).
(3) CPU picking (what scatter3d.js does): the first pick after a camera move projects every point
    into a screen grid; later picks look at the grid cells under the pointer (median of --picks).
(4) Colour-ID picking (the alternative): every point drawn again with its row number as its colour
    into an offscreen framebuffer with a depth buffer, then the pixels around the pointer read back;
    once with a scissor of 17 x 17 pixels (per pick) and once for the whole frame (once per camera
    position, picks then read an array).
(5) Agreement: at pixels where the ID pass finds a point (half the pixels tried are random, half a
    random point's centre), the share of CPU picks that name the same row (both return the front-most
    point drawn there; an edge pixel of a disc, or two depths within the 16-bit depth buffer's
    resolution, can differ).

Headless Chromium is run as the tests run it (--disable-gpu: WebGL on SwiftShader, on the CPU); on
a real GPU the draws are far cheaper and the CPU pick costs the same.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import header  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

PAGE_JS = (
    (Path(__file__).parent / "bench_scatter3d.js").read_text().split("*/", 1)[1].strip()
)  # the page side


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--picks", type=int, default=200)
    a = ap.parse_args()
    from importlib.metadata import version

    from playwright.sync_api import sync_playwright

    header("scatter3d: paint, orbit and picking in headless Chromium", {"playwright": version("playwright")})
    static = ROOT / "src/latentspace/web/static"
    js = "".join((static / f).read_text() for f in ("scatter3d.js", "scatter3d_screen.js"))  # in this order
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = b.new_page(viewport={"width": 1100, "height": 900})
        pg.set_content(
            f"<div id='box' style='width:1000px;height:800px;position:relative'></div><script>{js}</script>"
        )
        r = pg.evaluate(PAGE_JS, {"n": a.n, "picks": a.picks})
        b.close()
    print(f"renderer : {r['renderer']}")
    print(f"points   : {r['n']:,} in a 1000 x 800 view")
    print(f"first paint (construct, upload, draw, read back) : {r['firstPaint']:8.1f} ms")
    print(f"orbit frame (draw + read back), median           : {r['frame']:8.1f} ms")
    print(f"CPU pick, first after a camera move (projection) : {r['firstPick']:8.1f} ms")
    print(f"CPU pick, later picks (grid cells), mean         : {r['cpuPick'] * 1000:8.1f} us")
    print(f"colour-ID pick, scissored 17 x 17, per pick      : {r['gpuSmall']:8.1f} ms")
    print(f"colour-ID pass, whole frame + read back          : {r['gpuFull']:8.1f} ms")
    print(
        f"agreement: {r['same']} of {r['hit']} pixels where the ID pass finds a point name the same row"
        f" ({r['picks']} pixels tried)"
    )
    print(json.dumps(r))


if __name__ == "__main__":
    main()
