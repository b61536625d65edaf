/* latentspace scatter, the CPU path: LatentScatter (scatter.js, loaded first) rasterises its points
 * here, one pass per layer, into an image put on a 2-D canvas, in two cases: WebGL emulated on the
 * CPU from SPLAT_MIN points ("splat": an emulated GPU pays ~1.3 us per point primitive, 1.3 s a frame
 * at 1M points; the loop below a few hundredths of that), and no WebGL at all ("canvas2d"). This file
 * adds _splatFirst (which path _initGL takes), _splat and _drawSplat to LatentScatter.prototype. */
(function (global) {
  "use strict";
  const LatentScatter = global.LatentScatter;
  const HIDDEN = LatentScatter.HIDDEN, DIM = LatentScatter.DIM, IN_A = LatentScatter.IN_A, IN_B = LatentScatter.IN_B;
  const SPLAT_MIN = 100000;  // points from which software WebGL splats (below: a frame < ~0.15 s as GL points)

  // splat rather than WebGL: when told to (render "splat"), or from SPLAT_MIN points on software WebGL
  LatentScatter.prototype._splatFirst = function () {
    return this.render === "splat" || (this.render === "auto" && this.n >= SPLAT_MIN && softwareGL());
  };
  // WebGL emulated on the CPU (SwiftShader, llvmpipe, ...), as its renderer names itself; asked once,
  // of a context made for the question and let go
  let software = null;
  function softwareGL() {
    if (software !== null) return software;
    let gl = null;
    try { gl = document.createElement("canvas").getContext("webgl"); } catch (e) { gl = null; }
    if (!gl) return (software = false);
    const d = gl.getExtension("WEBGL_debug_renderer_info");
    software = /swiftshader|llvmpipe|softpipe|software|basic render/i.test(String(gl.getParameter(d ? d.UNMASKED_RENDERER_WEBGL : gl.RENDERER)));
    const lose = gl.getExtension("WEBGL_lose_context");
    if (lose) lose.loseContext();
    return software;
  }

  // pixel offsets (dx, dy) covered by a disc of diameter `size` (device pixels) centred on a pixel,
  // as the GL path's round point sprite covers them
  function stamp(size) {
    const r = size / 2, R = Math.floor(r), dx = [], dy = [];
    for (let y = -R; y <= R; y++) for (let x = -R; x <= R; x++) if (x * x + y * y <= r * r) { dx.push(x); dy.push(y); }
    return dx.length ? { dx: dx, dy: dy } : { dx: [0], dy: [0] };
  }
  const packRGB = (r, g, b) => 0xff000000 | (b << 16) | (g << 8) | r;  // an RGBA pixel as int32
  // the full frame rasterised here in layers as the GL passes (halos of groups A and B, dimmed points,
  // the others on top), each point an opaque disc in row order. The GL path blends points at alpha
  // 0.85, which in a dense region converges to their colour; here they take it outright (blending
  // reads and writes each pixel: ~4x the time). Dimmed points (alpha 0.45) take their colour over white.
  LatentScatter.prototype._splat = function () {
    const W = this.base.width, H = this.base.height, v = this.view, n = this.n, st = this.state, any = this.anyState || 0;
    if (!this.img || this.img.length !== W * H) {
      const buf = new ArrayBuffer(W * H * 4);
      this.img = new Int32Array(buf); this.imageData = new ImageData(new Uint8ClampedArray(buf), W, H);
    }
    const rgb = this.colors;
    if (!this.packed || this.packedFrom !== rgb) {  // one int per point, made again when the colours change
      this.packed = this.packed && this.packed.length === n ? this.packed : new Int32Array(n); this.packedFrom = rgb;
      for (let i = 0; i < n; i++) this.packed[i] = packRGB(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]);
    }
    const img = this.img, X = this.x, Y = this.y, P = this.packed, ps = this.pointSize * this.dpr;
    img.fill(-1);  // white
    const ax = W / (v.x1 - v.x0), bx = -v.x0 * ax, ay = H / (v.y1 - v.y0), by = H + v.y0 * ay;
    const [ga, gb] = this.groupColors, cA = packRGB(ga[0], ga[1], ga[2]), cB = packRGB(gb[0], gb[1], gb[2]);
    // one layer: points whose byte has none of `skip` and (when `need`) some of `need`; kind 0 their
    // colour, 1 dimmed (opaque 0.24 c + 0.69: the colour faded towards white, as in the GL pass), 2 a group's halo
    const layer = (size, skip, need, kind) => {
      const S = stamp(size), R = Math.ceil(size / 2), k = S.dx.length, off = new Int32Array(k);
      for (let j = 0; j < k; j++) off[j] = S.dy[j] * W + S.dx[j];
      for (let i = 0; i < n; i++) {
        const f = st[i];
        if ((f & skip) || (need && !(f & need))) continue;
        const fx = X[i] * ax + bx, fy = by - Y[i] * ay;
        if (!(fx >= -R && fx < W + R && fy >= -R && fy < H + R)) continue;  // (NaN: not drawn)
        let c = P[i];
        if (kind === 1) c = packRGB(((c & 255) * 61 >> 8) + 175, (((c >> 8) & 255) * 61 >> 8) + 175, (((c >> 16) & 255) * 61 >> 8) + 175);
        else if (kind === 2) c = f & IN_A ? cA : cB;
        const cx = ((fx + R + 1) | 0) - R - 1, cy = ((fy + R + 1) | 0) - R - 1;  // floor (fx, fy > -R - 1)
        const o = cy * W + cx, two = kind === 2 && (f & IN_A) && (f & IN_B);
        if (cx >= R && cx < W - R && cy >= R && cy < H - R && !two) { for (let j = 0; j < k; j++) img[o + off[j]] = c; continue; }
        for (let j = 0; j < k; j++) {  // near an edge, or in both groups (the right half in B's colour)
          const px = cx + S.dx[j], py = cy + S.dy[j];
          if (px >= 0 && px < W && py >= 0 && py < H) img[o + off[j]] = two && S.dx[j] > 0 ? cB : c;
        }
      }
    };
    if (any & (IN_A | IN_B)) layer(ps + Math.max(4, this.pointSize) * this.dpr, HIDDEN, IN_A | IN_B, 2);
    if (any & DIM) layer(ps, HIDDEN, DIM, 1);
    layer(ps, HIDDEN | DIM, 0, 0);
  };
  LatentScatter.prototype._drawSplat = function () { this._splat(); this.ctx2d.putImageData(this.imageData, 0, 0); };
})(typeof window !== "undefined" ? window : this);
