/* latentspace scatter: a map of many points, with pan (drag), zoom (wheel, around the pointer), hover
 * and click (nearest point through a grid index), lasso selection (shift-drag, or lassoMode), and on
 * an overlay: highlighted points, marks, extra points ({x, y, color, label}) and paths. Each point has a state byte
 * (setState): 1 hidden (filtered out), 2 dimmed (not a search match), 4 in group A, 8 in group B;
 * groups are drawn as coloured halos, with no cap on their size. Draws are coalesced to one per
 * animation frame (requestDraw); lastDrawMs is the time of the last frame, the GPU's work included.
 * Modes: "webgl" draws every point as a GL point; "splat" (WebGL emulated on the CPU, at scale) and
 * "canvas2d" (no WebGL) rasterise the points on the CPU (scatter_splat.js, which adds _splatFirst,
 * _splat and _drawSplat to this prototype: load it right after this file). While a pan or zoom goes
 * on and a full frame costs more than BITMAP_ABOVE_MS, the last full frame is moved and scaled by a
 * CSS transform (the compositor's work, the same for any number of points) and drawn in full once
 * the gesture rests for REST_MS. No other dependencies; used by the self-contained report, the
 * notebook widget and the explorer. */
(function (global) {
  "use strict";
  const HIDDEN = 1, DIM = 2, IN_A = 4, IN_B = 8;
  const BITMAP_ABOVE_MS = 12;  // full frames dearer than this are replaced by the moved bitmap in gestures
  const REST_MS = 120;  // a gesture rests after this long without input: the full frame is drawn

  function LatentScatter(container, opts) {
    this.container = container;
    this.x = opts.x; this.y = opts.y; this.n = opts.x.length;
    this.pointSize = opts.pointSize || (this.n > 50000 ? 2.5 : this.n > 5000 ? 3.5 : 5);
    this.colors = opts.colors || new Uint8Array(this.n * 3).fill(90);
    this.state = new Uint8Array(this.n);
    this.groupColors = opts.groupColors || [[230, 0, 126], [0, 150, 136]];
    this.onHover = null; this.onClick = null; this.onLasso = null; this.onView = null;
    this.highlight = []; this.marks = []; this.extra = []; this.paths = []; this.selected = -1;
    this.contours = []; this.captions = [];  // [{lines: [[[x, y], ...], ...], width}], [{x, y, text}]
    this.lastDrawMs = 0; this.frames = []; this.fullMs = 0; this.frameKind = "";
    this.render = opts.render || "auto";  // "auto", "webgl" or "splat" (tests force one)
    container.style.position = container.style.position || "relative";
    this.base = document.createElement("canvas");
    this.overlay = document.createElement("canvas");
    this.clip = document.createElement("div");  // the points' canvas, moved by CSS during a gesture
    this.clip.style.cssText = "position:absolute;left:0;top:0;width:100%;height:100%;overflow:hidden;background:#fff";
    this.base.style.transformOrigin = "0 0";
    for (const c of [this.base, this.overlay]) {
      c.style.position = "absolute"; c.style.left = "0"; c.style.top = "0";
      c.style.width = "100%"; c.style.height = "100%";
    }
    this.clip.appendChild(this.base);
    container.append(this.clip, this.overlay);
    this.overlay.style.cursor = "crosshair";
    this.overlay.setAttribute("data-role", "map-overlay");
    this._bounds(); this._initGL(); this._events();  // (the grid index: on the first pick)
    this.resize();
    if (global.ResizeObserver) new ResizeObserver(() => { if (this._sizeChanged()) this.resize(); }).observe(container);
  }
  LatentScatter.HIDDEN = HIDDEN; LatentScatter.DIM = DIM; LatentScatter.IN_A = IN_A; LatentScatter.IN_B = IN_B;

  LatentScatter.prototype._bounds = function () {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < this.n; i++) {
      const a = this.x[i], b = this.y[i];
      if (a < x0) x0 = a; if (a > x1) x1 = a; if (b < y0) y0 = b; if (b > y1) y1 = b;
    }
    if (!(x1 > x0)) { x0 -= 1; x1 += 1; }
    if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
    const px = 0.04 * (x1 - x0), py = 0.04 * (y1 - y0);
    this.data = { x0: x0 - px, x1: x1 + px, y0: y0 - py, y1: y1 + py };
    this.view = Object.assign({}, this.data);
  };

  // uniform grid over the data bounds: cell -> point ids (CSR), for hover and click; built on the
  // first pick, after the first paint (1M points: tens of ms)
  LatentScatter.prototype._grid = function () {
    const G = Math.max(8, Math.min(512, Math.round(Math.sqrt(this.n / 4))));
    const d = this.data, n = this.n, cell = new Int32Array(n), counts = new Int32Array(G * G + 1);
    for (let i = 0; i < n; i++) {
      const cx = Math.min(G - 1, Math.max(0, Math.floor((this.x[i] - d.x0) / (d.x1 - d.x0) * G)));
      const cy = Math.min(G - 1, Math.max(0, Math.floor((this.y[i] - d.y0) / (d.y1 - d.y0) * G)));
      cell[i] = cy * G + cx; counts[cell[i] + 1]++;
    }
    for (let c = 0; c < G * G; c++) counts[c + 1] += counts[c];
    const fill = counts.slice(0, G * G), ids = new Int32Array(n);
    for (let i = 0; i < n; i++) ids[fill[cell[i]]++] = i;
    this.G = G; this.cellStart = counts; this.cellIds = ids;
  };

  // three passes, each only when needed: group halos, dimmed points, the other points on top
  const VS = "attribute vec2 p; attribute vec3 c; attribute float f;" +
    "uniform vec4 t; uniform float s; uniform float pass; uniform float halo; uniform vec3 ga; uniform vec3 gb;" +
    "varying vec4 v; varying vec3 w; varying float both;" +
    "void main(){ float hid = mod(f, 2.0), dim = mod(floor(f / 2.0), 2.0);" +
    " float a = mod(floor(f / 4.0), 2.0), b = mod(floor(f / 8.0), 2.0);" +
    " gl_Position = vec4((p.x - t.x) * t.z * 2.0 - 1.0, (p.y - t.y) * t.w * 2.0 - 1.0, 0.0, 1.0);" +
    " gl_PointSize = s; v = vec4(c, 0.85); w = c; both = 0.0; bool skip = hid > 0.5;" +
    " if (pass < 0.5) { skip = skip || a + b < 0.5; gl_PointSize = s + halo; v = vec4(a > 0.5 ? ga : gb, 1.0); w = gb; both = a * b; }" +
    " else if (pass < 1.5) { skip = skip || dim < 0.5; v = vec4(c * 0.24 + 0.69, 1.0); }" +
    " else { skip = skip || dim > 0.5; }" +
    " if (skip) { gl_Position = vec4(2.0, 2.0, 2.0, 1.0); gl_PointSize = 0.0; } }";
  const FS = "precision mediump float; varying vec4 v; varying vec3 w; varying float both;" +
    "void main(){ vec2 q = gl_PointCoord - 0.5; if (dot(q, q) > 0.25) discard;" +
    " gl_FragColor = (both > 0.5 && q.x > 0.0) ? vec4(w, 1.0) : v; }";

  LatentScatter.prototype._initGL = function () {
    if (this._splatFirst()) {
      this.ctx2d = this.base.getContext("2d"); this.mode = "splat"; return;
    }
    let gl = null;
    try {
      gl = this.base.getContext("webgl", { antialias: false, preserveDrawingBuffer: true });
    } catch (e) { gl = null; }
    this.gl = gl;
    if (!gl) { this.ctx2d = this.base.getContext("2d"); this.mode = "canvas2d"; return; }
    this.mode = "webgl";
    this.one = new Uint8Array(4);
    const prog = program(gl, VS, FS);
    gl.useProgram(prog);
    this.prog = prog;
    this.u = {};
    for (const name of ["t", "s", "pass", "halo", "ga", "gb"]) this.u[name] = gl.getUniformLocation(prog, name);
    const pos = new Float32Array(this.n * 2);
    for (let i = 0; i < this.n; i++) { pos[2 * i] = this.x[i]; pos[2 * i + 1] = this.y[i]; }
    this.posBuf = gl.createBuffer(); gl.bindBuffer(gl.ARRAY_BUFFER, this.posBuf);
    gl.bufferData(gl.ARRAY_BUFFER, pos, gl.STATIC_DRAW);
    const lp = gl.getAttribLocation(prog, "p"); gl.enableVertexAttribArray(lp);
    gl.vertexAttribPointer(lp, 2, gl.FLOAT, false, 0, 0);
    this.stateBuf = gl.createBuffer(); gl.bindBuffer(gl.ARRAY_BUFFER, this.stateBuf);
    gl.bufferData(gl.ARRAY_BUFFER, this.state, gl.DYNAMIC_DRAW);
    const lf = gl.getAttribLocation(prog, "f"); gl.enableVertexAttribArray(lf);
    gl.vertexAttribPointer(lf, 1, gl.UNSIGNED_BYTE, false, 0, 0);
    this.colBuf = gl.createBuffer();
    this.lc = gl.getAttribLocation(prog, "c"); gl.enableVertexAttribArray(this.lc);
    this.setColors(this.colors);
    gl.enable(gl.BLEND); gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
  };
  function program(gl, vs, fs) {
    const sh = (type, src) => { const o = gl.createShader(type); gl.shaderSource(o, src); gl.compileShader(o); return o; };
    const prog = gl.createProgram();
    gl.attachShader(prog, sh(gl.VERTEX_SHADER, vs)); gl.attachShader(prog, sh(gl.FRAGMENT_SHADER, fs));
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error("scatter shaders: " + gl.getProgramInfoLog(prog));
    return prog;
  }

  LatentScatter.prototype.setColors = function (rgb) {
    this.colors = rgb;
    if (this.mode === "webgl") {
      const gl = this.gl;
      gl.bindBuffer(gl.ARRAY_BUFFER, this.colBuf);
      gl.bufferData(gl.ARRAY_BUFFER, rgb, gl.STATIC_DRAW);
      gl.vertexAttribPointer(this.lc, 3, gl.UNSIGNED_BYTE, true, 0, 0);
    }
    this.requestDraw();
  };

  // the state byte of every point (HIDDEN | DIM | IN_A | IN_B); the array is kept, not copied.
  // `any`: the OR of all bytes when the caller knows it (else it is computed)
  LatentScatter.prototype.setState = function (flags, any) {
    this.state = flags;
    if (any === undefined) { any = 0; for (let i = 0; i < flags.length; i++) any |= flags[i]; }
    this.anyState = any;
    if (this.mode === "webgl") {
      const gl = this.gl;
      gl.bindBuffer(gl.ARRAY_BUFFER, this.stateBuf);
      gl.bufferData(gl.ARRAY_BUFFER, flags, gl.DYNAMIC_DRAW);
    }
    this.requestDraw();
  };

  // a new size: the whole map fitted again, or, once the view was moved, the same centre and scale
  LatentScatter.prototype.resize = function () {
    const r = this.container.getBoundingClientRect(), dpr = global.devicePixelRatio || 1, v = this.view;
    const scale = this.w ? (v.x1 - v.x0) / this.w : 0;
    this.w = Math.max(1, r.width); this.h = Math.max(1, r.height); this.dpr = dpr;
    this.gesture = false; clearTimeout(this._rest);  // (a resized canvas holds no picture to move)
    for (const c of [this.base, this.overlay]) { c.width = Math.round(this.w * dpr); c.height = Math.round(this.h * dpr); }
    if (this.moved && scale) {
      const cx = (v.x0 + v.x1) / 2, cy = (v.y0 + v.y1) / 2;
      this.view = { x0: cx - scale * this.w / 2, x1: cx + scale * this.w / 2, y0: cy - scale * this.h / 2, y1: cy + scale * this.h / 2 };
    } else {
      this.view = Object.assign({}, this.data);
      this._fit();
    }
    this.draw();
  };
  LatentScatter.prototype._sizeChanged = function () {
    const r = this.container.getBoundingClientRect();
    return Math.max(1, r.width) !== this.w || Math.max(1, r.height) !== this.h || (global.devicePixelRatio || 1) !== this.dpr;
  };
  // keep the aspect ratio of the data: widen the view along the short side
  LatentScatter.prototype._fit = function () {
    const v = this.view, cx = (v.x0 + v.x1) / 2, cy = (v.y0 + v.y1) / 2;
    const s = Math.max((v.x1 - v.x0) / this.w, (v.y1 - v.y0) / this.h);
    this.view = { x0: cx - s * this.w / 2, x1: cx + s * this.w / 2, y0: cy - s * this.h / 2, y1: cy + s * this.h / 2 };
  };
  LatentScatter.prototype.setView = function (v) {
    this.view = { x0: v.x0, x1: v.x1, y0: v.y0, y1: v.y1 }; this.moved = true;
    this._fit(); this.requestDraw();
  };

  LatentScatter.prototype.toScreen = function (x, y) {
    const v = this.view;
    return [(x - v.x0) / (v.x1 - v.x0) * this.w, (1 - (y - v.y0) / (v.y1 - v.y0)) * this.h];
  };
  LatentScatter.prototype.toData = function (px, py) {
    const v = this.view;
    return [v.x0 + px / this.w * (v.x1 - v.x0), v.y0 + (1 - py / this.h) * (v.y1 - v.y0)];
  };

  LatentScatter.prototype.requestDraw = function () {
    if (this._raf) return;
    this._raf = global.requestAnimationFrame(() => { this._raf = 0; this.draw(); });
  };

  // a frame: the full one, or during a gesture (when full frames are dear) the last full one moved and
  // scaled by a CSS transform of its canvas (the compositor's work, whatever the number of points)
  LatentScatter.prototype.draw = function () {
    if (!this.w) return;
    const t0 = performance.now();
    if (this.gesture && this.shot) { this._moveShot(); this.frameKind = "bitmap"; }
    else {
      this.base.style.transform = "";
      if (this.gl) this._drawGL(); else this._drawSplat();
      this.frameKind = "full";
    }
    this.lastDrawMs = performance.now() - t0;
    if (this.frameKind === "full") { this.fullMs = this.lastDrawMs; this.shot = { view: Object.assign({}, this.view), w: this.w, h: this.h }; }
    if (this.frameKind === "full") { this.frames.push(this.lastDrawMs); if (this.frames.length > 60) this.frames.shift(); }
    this.drawOverlay();
    if (this.onView) this.onView(this.view);
  };
  // the median of the last full frames, in ms (a moved bitmap costs next to nothing here)
  LatentScatter.prototype.frameMs = function () {
    const f = this.frames.slice().sort((a, b) => a - b);
    return f.length ? f[f.length >> 1] : 0;
  };
  // a pan or zoom moved the view: when full frames are dear, bitmaps until the gesture rests
  LatentScatter.prototype._gestureMove = function () {
    this.moved = true;
    if (this.fullMs > BITMAP_ABOVE_MS && this.shot) {
      this.gesture = true;
      clearTimeout(this._rest);
      this._rest = setTimeout(() => { this.gesture = false; this.requestDraw(); }, REST_MS);
    }
    this.requestDraw();
  };
  // the last full frame's data rectangle where the current view puts it
  LatentScatter.prototype._moveShot = function () {
    const sv = this.shot.view, a = this.toScreen(sv.x0, sv.y1), b = this.toScreen(sv.x1, sv.y0);
    this.base.style.transform = "translate(" + a[0] + "px," + a[1] + "px) scale(" + (b[0] - a[0]) / this.shot.w + "," + (b[1] - a[1]) / this.shot.h + ")";
  };

  LatentScatter.prototype._drawGL = function () {
    const gl = this.gl, v = this.view, u = this.u, dpr = this.dpr;
    gl.viewport(0, 0, this.base.width, this.base.height);
    gl.clearColor(1, 1, 1, 1); gl.clear(gl.COLOR_BUFFER_BIT);
    gl.uniform4f(u.t, v.x0, v.y0, 1 / (v.x1 - v.x0), 1 / (v.y1 - v.y0));
    gl.uniform1f(u.s, this.pointSize * dpr);
    gl.uniform1f(u.halo, Math.max(4, this.pointSize) * dpr);
    const [ga, gb] = this.groupColors;
    gl.uniform3f(u.ga, ga[0] / 255, ga[1] / 255, ga[2] / 255);
    gl.uniform3f(u.gb, gb[0] / 255, gb[1] / 255, gb[2] / 255);
    const any = this.anyState || 0;
    if (any & (IN_A | IN_B)) { gl.uniform1f(u.pass, 0); gl.drawArrays(gl.POINTS, 0, this.n); }
    if (any & DIM) { gl.uniform1f(u.pass, 1); gl.drawArrays(gl.POINTS, 0, this.n); }
    gl.uniform1f(u.pass, 2); gl.drawArrays(gl.POINTS, 0, this.n);
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, this.one);  // waits for the GPU
  };

  LatentScatter.prototype.drawOverlay = function () {
    const c = this.overlay.getContext("2d"), dpr = this.dpr;
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.clearRect(0, 0, this.w, this.h);
    for (const k of this.contours) {
      c.strokeStyle = "rgba(40,50,70," + (k.alpha || 0.55) + ")"; c.lineWidth = k.width || 1; c.beginPath();
      for (const line of k.lines) line.forEach((q, j) => { const s = this.toScreen(q[0], q[1]); j ? c.lineTo(s[0], s[1]) : c.moveTo(s[0], s[1]); });
      c.stroke();
    }
    if (this.captions.length) {
      c.font = "600 12px system-ui, sans-serif"; c.textAlign = "center"; c.textBaseline = "middle"; c.lineJoin = "round";
      for (const t of this.captions) {
        const s = this.toScreen(t.x, t.y);
        c.strokeStyle = "rgba(255,255,255,0.9)"; c.lineWidth = 3.5; c.strokeText(t.text, s[0], s[1]);
        c.fillStyle = "#1d2330"; c.fillText(t.text, s[0], s[1]);
      }
    }
    for (const p of this.paths) {
      c.strokeStyle = p.color || "#d62728"; c.lineWidth = p.width || 2; c.beginPath();
      p.points.forEach((q, k) => { const s = this.toScreen(q[0], q[1]); k ? c.lineTo(s[0], s[1]) : c.moveTo(s[0], s[1]); });
      c.stroke();
      for (const q of p.points) { const s = this.toScreen(q[0], q[1]); c.fillStyle = p.color || "#d62728"; c.fillRect(s[0] - 2, s[1] - 2, 4, 4); }
    }
    c.lineWidth = 1.2; c.strokeStyle = "#222";
    for (const i of this.marks) {
      if (this.state[i] & HIDDEN) continue;
      const s = this.toScreen(this.x[i], this.y[i]);
      c.beginPath(); c.arc(s[0], s[1], 4.5, 0, 2 * Math.PI); c.stroke();
    }
    c.lineWidth = 1.5;
    for (const i of this.highlight) {
      const s = this.toScreen(this.x[i], this.y[i]);
      c.strokeStyle = "#000"; c.beginPath(); c.arc(s[0], s[1], 5, 0, 2 * Math.PI); c.stroke();
    }
    for (const e of this.extra) {
      const s = this.toScreen(e.x, e.y);
      c.fillStyle = e.color || "#ff7f0e"; c.strokeStyle = "#000";
      c.beginPath(); c.moveTo(s[0], s[1] - 6); c.lineTo(s[0] + 5, s[1] + 4); c.lineTo(s[0] - 5, s[1] + 4); c.closePath();
      c.fill(); c.stroke();
      if (e.label) {  // e.g. a sample's number, as under its image
        c.font = "bold 11px system-ui, sans-serif"; c.lineWidth = 3; c.strokeStyle = "#fff";
        c.strokeText(e.label, s[0] + 6, s[1] - 5); c.fillStyle = "#111"; c.fillText(e.label, s[0] + 6, s[1] - 5);
        c.lineWidth = 1; c.strokeStyle = "#000";
      }
    }
    if (this.selected >= 0) {
      const s = this.toScreen(this.x[this.selected], this.y[this.selected]);
      c.strokeStyle = "#d62728"; c.lineWidth = 2.5; c.beginPath(); c.arc(s[0], s[1], 8, 0, 2 * Math.PI); c.stroke();
    }
    if (this.hoverIdx >= 0) {
      const s = this.toScreen(this.x[this.hoverIdx], this.y[this.hoverIdx]);
      c.strokeStyle = "#333"; c.lineWidth = 1; c.beginPath(); c.arc(s[0], s[1], 6, 0, 2 * Math.PI); c.stroke();
    }
    if (this.lasso && this.lasso.length > 1) {
      const g = this.lassoColor || [31, 119, 180];
      c.strokeStyle = "rgb(" + g.join(",") + ")"; c.lineWidth = 1.5; c.setLineDash([4, 3]); c.beginPath();
      this.lasso.forEach((q, k) => k ? c.lineTo(q[0], q[1]) : c.moveTo(q[0], q[1]));
      c.closePath(); c.stroke(); c.setLineDash([]);
    }
  };

  // the map as one canvas (points and overlay), for saving as PNG
  LatentScatter.prototype.snapshot = function () {
    if (this.gesture) { this.gesture = false; clearTimeout(this._rest); this.draw(); } else if (this.gl) this._drawGL();
    const c = document.createElement("canvas");
    c.width = this.base.width; c.height = this.base.height;
    const g = c.getContext("2d");
    g.drawImage(this.base, 0, 0); g.drawImage(this.overlay, 0, 0);
    return c;
  };

  // nearest shown point within `radius` screen pixels of (px, py), or -1
  LatentScatter.prototype.pick = function (px, py, radius) {
    if (!this.cellIds) this._grid();
    radius = radius || 8;
    const d = this.data, G = this.G, q = this.toData(px, py), st = this.state;
    const r = this.toData(px + radius, py)[0] - q[0];
    const cx0 = Math.max(0, Math.floor((q[0] - r - d.x0) / (d.x1 - d.x0) * G));
    const cx1 = Math.min(G - 1, Math.floor((q[0] + r - d.x0) / (d.x1 - d.x0) * G));
    const cy0 = Math.max(0, Math.floor((q[1] - r - d.y0) / (d.y1 - d.y0) * G));
    const cy1 = Math.min(G - 1, Math.floor((q[1] + r - d.y0) / (d.y1 - d.y0) * G));
    let best = -1, bd = r * r;
    for (let cy = cy0; cy <= cy1; cy++) for (let cx = cx0; cx <= cx1; cx++) {
      const c = cy * G + cx;
      for (let k = this.cellStart[c]; k < this.cellStart[c + 1]; k++) {
        const i = this.cellIds[k];
        if (st[i] & HIDDEN) continue;
        const dx = this.x[i] - q[0], dy = this.y[i] - q[1], dd = dx * dx + dy * dy;
        if (dd <= bd) { bd = dd; best = i; }
      }
    }
    return best;
  };

  // the shown points inside a polygon of screen points
  LatentScatter.prototype.inPolygon = function (poly) {
    const out = [], st = this.state;
    const pts = poly.map((p) => this.toData(p[0], p[1]));
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const p of pts) { x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]); y0 = Math.min(y0, p[1]); y1 = Math.max(y1, p[1]); }
    for (let i = 0; i < this.n; i++) {
      const x = this.x[i], y = this.y[i];
      if (x < x0 || x > x1 || y < y0 || y > y1 || (st[i] & HIDDEN)) continue;
      let inside = false;
      for (let a = 0, b = pts.length - 1; a < pts.length; b = a++) {
        if ((pts[a][1] > y) !== (pts[b][1] > y) &&
            x < (pts[b][0] - pts[a][0]) * (y - pts[a][1]) / (pts[b][1] - pts[a][1]) + pts[a][0]) inside = !inside;
      }
      if (inside) out.push(i);
    }
    return out;
  };

  LatentScatter.prototype._events = function () {
    const el = this.overlay;
    let drag = null;
    this.hoverIdx = -1;
    const local = (e) => { const r = el.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    el.addEventListener("mousedown", (e) => {
      const p = local(e);
      drag = { p: p, view: Object.assign({}, this.view), moved: false, lasso: e.shiftKey || this.lassoMode, add: e.shiftKey };
      if (drag.lasso) this.lasso = [p];
    });
    global.addEventListener("mousemove", (e) => {
      if (!drag) {
        if (e.target !== el) return;
        const p = local(e), i = this.pick(p[0], p[1]);
        if (i !== this.hoverIdx) { this.hoverIdx = i; this.drawOverlay(); }
        if (this.onHover) this.onHover(i, e);
        return;
      }
      const p = local(e), dx = p[0] - drag.p[0], dy = p[1] - drag.p[1];
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (drag.lasso) { this.lasso.push(p); this.drawOverlay(); return; }
      const v = drag.view, sx = (v.x1 - v.x0) / this.w, sy = (v.y1 - v.y0) / this.h;
      this.view = { x0: v.x0 - dx * sx, x1: v.x1 - dx * sx, y0: v.y0 + dy * sy, y1: v.y1 + dy * sy };
      this._gestureMove();
    });
    global.addEventListener("mouseup", (e) => {
      if (!drag) return;
      const d = drag; drag = null;
      if (d.lasso) {
        const poly = this.lasso; this.lasso = null; this.drawOverlay();
        if (d.moved && poly.length > 2 && this.onLasso) this.onLasso(this.inPolygon(poly), d.add, poly.map((p) => this.toData(p[0], p[1])));
        return;
      }
      if (!d.moved && this.onClick) {
        const p = local(e), i = this.pick(p[0], p[1]), q = this.toData(p[0], p[1]);
        this.onClick(i, q[0], q[1]);
      }
    });
    el.addEventListener("wheel", (e) => {
      e.preventDefault();
      const p = local(e), q = this.toData(p[0], p[1]), f = Math.exp(e.deltaY * 0.0015), v = this.view;
      this.view = { x0: q[0] + (v.x0 - q[0]) * f, x1: q[0] + (v.x1 - q[0]) * f,
                    y0: q[1] + (v.y0 - q[1]) * f, y1: q[1] + (v.y1 - q[1]) * f };
      this._gestureMove();
    }, { passive: false });
    el.addEventListener("mouseleave", () => { if (this.hoverIdx >= 0) { this.hoverIdx = -1; this.drawOverlay(); } if (this.onHover) this.onHover(-1, null); });
  };

  LatentScatter.prototype.reset = function () { this.moved = false; this.resize(); };

  global.LatentScatter = LatentScatter;
})(typeof window !== "undefined" ? window : this);
