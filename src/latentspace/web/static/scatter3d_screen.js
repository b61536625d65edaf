/* latentspace 3-D scatter, the screen side: LatentScatter3D (scatter3d.js, loaded first) projects every
 * point with the camera's matrix once per camera change (about 10 ms for 1,000,000 points), into a
 * screen grid; from that projection it paints without WebGL (depth-sorted), picks and lassoes. A pick
 * looks only at the grid cells under the pointer and returns the front-most point whose drawn disc
 * covers the pixel (what the depth test shows there), else the nearest centre within `radius` pixels.
 * A colour-ID render pass would cost a full redraw of every point per camera change, and far more than
 * that on software WebGL (see bench/bench_scatter3d.py). The pointer orbits, pans, zooms, hovers,
 * clicks and lassoes. This file adds _project, _draw2d, pick, inPolygon, _events and orbit to
 * LatentScatter3D.prototype. */
(function (global) {
  "use strict";
  const LatentScatter3D = global.LatentScatter3D;
  const HIDDEN = LatentScatter3D.HIDDEN, DIM = LatentScatter3D.DIM, IN_A = LatentScatter3D.IN_A, IN_B = LatentScatter3D.IN_B;
  const FOV = LatentScatter3D.FOV, SIZE_MAX = LatentScatter3D.SIZE_MAX;

  // --- every point projected once per camera, into a screen grid: drawn without WebGL, picked -----
  const CELL = 16;
  LatentScatter3D.prototype._project = function () {
    if (this._projected === this._version && this._P) return this._P;
    const t0 = performance.now(), n = this.n, m = this.mvp, X = this.x, Y = this.y, Z = this.z;
    const P = this._P && this._P.sx.length === n ? this._P : { sx: new Float32Array(n), sy: new Float32Array(n), w: new Float32Array(n) };
    const hw = this.w / 2, hh = this.h / 2, near = this.near, far = this.far;
    const m0 = m[0], m1 = m[1], m3 = m[3], m4 = m[4], m5 = m[5], m7 = m[7], m8 = m[8], m9 = m[9], m11 = m[11], m12 = m[12], m13 = m[13], m15 = m[15];
    const gw = Math.ceil(this.w / CELL), gh = Math.ceil(this.h / CELL), count = new Int32Array(gw * gh + 1), cell = new Int32Array(n);
    const st = this.state;
    for (let i = 0; i < n; i++) {
      const x = X[i], y = Y[i], z = Z[i], w = m3 * x + m7 * y + m11 * z + m15;
      cell[i] = -1;
      if (!(w > near && w < far) || (st[i] & HIDDEN)) { P.sx[i] = NaN; continue; }
      const sx = (1 + (m0 * x + m4 * y + m8 * z + m12) / w) * hw, sy = (1 - (m1 * x + m5 * y + m9 * z + m13) / w) * hh;
      P.sx[i] = sx; P.sy[i] = sy; P.w[i] = w;
      if (sx >= 0 && sy >= 0 && sx < this.w && sy < this.h) {
        const k = Math.floor(sy / CELL) * gw + Math.floor(sx / CELL);
        cell[i] = k; count[k + 1]++;
      }
    }
    for (let k = 0; k < gw * gh; k++) count[k + 1] += count[k];
    const fillAt = count.slice(0, gw * gh), ids = new Int32Array(count[gw * gh]);
    for (let i = 0; i < n; i++) if (cell[i] >= 0) ids[fillAt[cell[i]]++] = i;
    P.gw = gw; P.gh = gh; P.start = count; P.ids = ids;
    this._P = P; this._projected = this._version;
    this.lastProjectMs = performance.now() - t0;
    return P;
  };

  // without WebGL: every point projected and painted back to front
  LatentScatter3D.prototype._draw2d = function () {
    const c = this.ctx2d, dpr = this.dpr, P = this._project(), n = this.n, order = [];
    for (let i = 0; i < n; i++) if (P.sx[i] === P.sx[i]) order.push(i);
    order.sort((a, b) => P.w[b] - P.w[a]);
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.fillStyle = "#fff"; c.fillRect(0, 0, this.w, this.h);
    const rgb = this.colors, st = this.state, css = (a) => "rgb(" + a.join(",") + ")";
    for (const i of order) {
      const f = st[i], r = this._radius(P.w[i], f);
      if (f & (IN_A | IN_B)) {
        c.fillStyle = css(this.groupColors[f & IN_A ? 0 : 1]);
        c.beginPath(); c.arc(P.sx[i], P.sy[i], r, 0, 2 * Math.PI); c.fill();
      }
      c.fillStyle = f & DIM ? "rgb(225,225,225)" : "rgb(" + rgb[3 * i] + "," + rgb[3 * i + 1] + "," + rgb[3 * i + 2] + ")";
      c.beginPath(); c.arc(P.sx[i], P.sy[i], f & (IN_A | IN_B) ? r - 0.5 * Math.max(4, this.pointSize) : r, 0, 2 * Math.PI); c.fill();
    }
  };

  // --- picking and the lasso ----------------------------------------------------------------------
  // the point drawn at (px, py): the front-most one whose disc covers it, else the nearest centre
  // within `radius` pixels; -1 for none
  LatentScatter3D.prototype.pick = function (px, py, radius) {
    radius = radius || 8;
    const P = this._project(), st = this.state;
    const reach = Math.max(radius, 0.5 * this.pointSize * SIZE_MAX + 0.5 * Math.max(4, this.pointSize));
    const cx0 = Math.max(0, Math.floor((px - reach) / CELL)), cx1 = Math.min(P.gw - 1, Math.floor((px + reach) / CELL));
    const cy0 = Math.max(0, Math.floor((py - reach) / CELL)), cy1 = Math.min(P.gh - 1, Math.floor((py + reach) / CELL));
    let front = -1, fw = Infinity, best = -1, bd = radius * radius;
    for (let cy = cy0; cy <= cy1; cy++) for (let cx = cx0; cx <= cx1; cx++) {
      const k = cy * P.gw + cx;
      for (let j = P.start[k]; j < P.start[k + 1]; j++) {
        const i = P.ids[j], dx = P.sx[i] - px, dy = P.sy[i] - py, d = dx * dx + dy * dy, r = this._radius(P.w[i], st[i]);
        if (d <= r * r && P.w[i] <= fw) { fw = P.w[i]; front = i; }  // ties: the later row, drawn last
        if (d < bd) { bd = d; best = i; }
      }
    }
    return front >= 0 ? front : best;
  };

  // the shown points whose projection lies inside a screen polygon (those behind others too)
  LatentScatter3D.prototype.inPolygon = function (poly) {
    const P = this._project(), out = [];
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const q of poly) { x0 = Math.min(x0, q[0]); x1 = Math.max(x1, q[0]); y0 = Math.min(y0, q[1]); y1 = Math.max(y1, q[1]); }
    for (let i = 0; i < this.n; i++) {
      const x = P.sx[i], y = P.sy[i];
      if (!(x >= x0 && x <= x1 && y >= y0 && y <= y1)) continue;
      let inside = false;
      for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
        if ((poly[a][1] > y) !== (poly[b][1] > y) &&
            x < (poly[b][0] - poly[a][0]) * (y - poly[a][1]) / (poly[b][1] - poly[a][1]) + poly[a][0]) inside = !inside;
      }
      if (inside) out.push(i);
    }
    return out;
  };

  // --- pointer: orbit, pan, zoom, hover, click, lasso ---------------------------------------------
  LatentScatter3D.prototype._events = function () {
    const el = this.overlay;
    let drag = null;
    const local = (e) => { const r = el.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    const on = (target, type, fn, opt) => { target.addEventListener(type, fn, opt); this._off.push(() => target.removeEventListener(type, fn, opt)); };
    on(el, "contextmenu", (e) => e.preventDefault());
    on(el, "mousedown", (e) => {
      e.preventDefault();
      const p = local(e), lasso = e.button === 0 && !!this.lassoMode, pan = !lasso && (e.button === 2 || e.shiftKey);
      drag = { p: p, cam: JSON.parse(JSON.stringify(this.cam)), moved: false, pan: pan, lasso: lasso, add: e.shiftKey };
      if (lasso) this.lasso = [p];
      else el.style.cursor = pan ? "move" : "grabbing";
    });
    on(global, "mousemove", (e) => {
      if (!drag) {
        if (e.target !== el) return;
        const p = local(e), i = this.pick(p[0], p[1]);
        if (i !== this.hoverIdx) { this.hoverIdx = i; this.drawOverlay(); }
        if (this.onHover) this.onHover(i, e);
        return;
      }
      const p = local(e), dx = p[0] - drag.p[0], dy = p[1] - drag.p[1];
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (!drag.moved) return;
      if (drag.lasso) { this.lasso.push(p); this.drawOverlay(); return; }
      if (this.hoverIdx >= 0) { this.hoverIdx = -1; if (this.onHover) this.onHover(-1, null); }
      const c = drag.cam;
      if (drag.pan) {  // move the target in the screen plane, as far as the pointer moved at its depth
        const v = this.viewM, u = 2 * c.dist * Math.tan(FOV / 2) / this.h;
        this.cam.target = [0, 1, 2].map((a) => c.target[a] - dx * u * v[a * 4] + dy * u * v[a * 4 + 1]);
      } else {
        this.cam.yaw = c.yaw - dx * 0.008;
        this.cam.pitch = Math.max(-1.55, Math.min(1.55, c.pitch + dy * 0.008));
      }
      this._camera(); this.requestDraw();
    });
    on(global, "mouseup", (e) => {
      if (!drag) return;
      const d = drag; drag = null;
      el.style.cursor = "grab";
      if (d.lasso) {
        const poly = this.lasso; this.lasso = null; this.drawOverlay();
        if (d.moved && poly.length > 2 && this.onLasso) this.onLasso(this.inPolygon(poly), d.add, null);
        return;
      }
      if (!d.moved && e.button === 0 && this.onClick) {
        const p = local(e), i = this.pick(p[0], p[1]);
        if (i >= 0) this.onClick(i, this.x[i], this.y[i], this.z[i]);
        else this.onClick(-1, null, null, null);  // empty space: no map position to go back to
      }
    });
    on(el, "wheel", (e) => {
      e.preventDefault();
      this.cam.dist = Math.max(0.02 * this.radius, Math.min(50 * this.radius, this.cam.dist * Math.exp(e.deltaY * 0.0015)));
      this._camera(); this.requestDraw();
    }, { passive: false });
    on(el, "mouseleave", () => {
      if (this.hoverIdx >= 0) { this.hoverIdx = -1; this.drawOverlay(); }
      if (this.onHover) this.onHover(-1, null);
    });
  };

  // turn the camera (radians) or set its distance: for keys, buttons and tests
  LatentScatter3D.prototype.orbit = function (dyaw, dpitch) {
    this.cam.yaw += dyaw;
    this.cam.pitch = Math.max(-1.55, Math.min(1.55, this.cam.pitch + (dpitch || 0)));
    this._camera(); this.draw();
  };
})(typeof window !== "undefined" ? window : this);
