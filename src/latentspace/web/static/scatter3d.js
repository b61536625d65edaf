/* latentspace 3-D scatter: a 3-D map of many points in WebGL (Canvas 2D, depth-sorted, otherwise)
 * with orbit (drag), pan (shift-drag or right-drag), zoom (wheel), depth-tested round points, hover
 * and click, lasso selection (lassoMode; shift adds), highlighted and marked points, and extra points
 * and paths with three coordinates drawn on an overlay. Its members mirror LatentScatter's
 * (scatter.js), so a page can swap one view for the other: x, y, z, n, colors, state, mode,
 * lastDrawMs, frames, highlight, marks, extra, paths, selected, hoverIdx, lassoMode, lassoColor,
 * groupColors, view (here the camera), onHover(i, event), onClick(i, x, y), onLasso(ids, add),
 * onView(camera), setColors(rgb), setState(flags), setView(camera), draw(), requestDraw(),
 * drawOverlay(), frameMs(), snapshot(), pick(px, py, radius), inPolygon(poly), toScreen(x, y, z),
 * resize(), reset(); destroy() removes it. State bytes as in scatter.js: 1 hidden (not drawn, not
 * picked), 2 dimmed (pale and smaller, so matches show through), 4 and 8 groups A and B (a ring in
 * the group's colour, half and half for both).
 * Picking, the lasso, the pointer and the drawing without WebGL work from one projection of every
 * point per camera, in scatter3d_screen.js, which adds _project, _draw2d, pick, inPolygon, _events and
 * orbit to this prototype: load it right after this file.
 *
 * A click on empty space calls nothing: a pixel of a 3-D view names no single map position.
 * Tests and tools read the camera through window.__ls3d (every live view) and view.matrices().
 * No dependencies; used by the explorer and by the self-contained report. */
(function (global) {
  "use strict";

  const FOV = 40 * Math.PI / 180;
  const HIDDEN = 1, DIM = 2, IN_A = 4, IN_B = 8, DIM_SIZE = 0.6;
  const SIZE_MIN = 0.5, SIZE_MAX = 2.5;  // perspective point sizes, relative to a point at the target

  // 4x4 matrices in WebGL's column-major order
  function mul(a, b) {
    const o = new Float64Array(16);
    for (let c = 0; c < 4; c++) for (let r = 0; r < 4; r++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[k * 4 + r] * b[c * 4 + k];
      o[c * 4 + r] = s;
    }
    return o;
  }
  function perspective(fovy, aspect, near, far) {
    const f = 1 / Math.tan(fovy / 2), nf = 1 / (near - far);
    return Float64Array.of(f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) * nf, -1, 0, 0, 2 * far * near * nf, 0);
  }
  function lookAt(e, t) {
    let z = [e[0] - t[0], e[1] - t[1], e[2] - t[2]];
    const zl = Math.hypot(z[0], z[1], z[2]) || 1;
    z = z.map((v) => v / zl);
    let x = [z[2], 0, -z[0]];  // up = (0, 1, 0) crossed with z
    const xl = Math.hypot(x[0], x[1], x[2]) || 1;
    x = x.map((v) => v / xl);
    const y = [z[1] * x[2] - z[2] * x[1], z[2] * x[0] - z[0] * x[2], z[0] * x[1] - z[1] * x[0]];
    const d = (a) => a[0] * e[0] + a[1] * e[1] + a[2] * e[2];
    return Float64Array.of(x[0], y[0], z[0], 0, x[1], y[1], z[1], 0, x[2], y[2], z[2], 0, -d(x), -d(y), -d(z), 1);
  }

  function LatentScatter3D(container, opts) {
    this.container = container;
    this.x = opts.x; this.y = opts.y; this.z = opts.z; this.n = opts.x.length;
    this.pointSize = opts.pointSize || (this.n > 50000 ? 2.5 : this.n > 5000 ? 3.5 : 5);
    this.colors = opts.colors || new Uint8Array(this.n * 3).fill(90);
    this.state = new Uint8Array(this.n); this.anyState = 0;
    this.groupColors = opts.groupColors || [[230, 0, 126], [0, 150, 136]];
    this.onHover = null; this.onClick = null; this.onLasso = null; this.onView = null;
    this.highlight = []; this.marks = []; this.extra = []; this.paths = []; this.selected = -1; this.hoverIdx = -1;
    this.lassoMode = false; this.lastDrawMs = 0; this.lastProjectMs = 0; this.frames = [];
    this._version = 0; this._projected = -1; this._frame = 0; this._off = [];
    container.style.position = container.style.position || "relative";
    this.base = document.createElement("canvas");
    this.overlay = document.createElement("canvas");
    for (const c of [this.base, this.overlay]) {
      c.style.position = "absolute"; c.style.left = "0"; c.style.top = "0";
      c.style.width = "100%"; c.style.height = "100%";
      container.appendChild(c);
    }
    this.overlay.style.cursor = "grab";
    this.overlay.setAttribute("data-role", "map-overlay");
    this.overlay.setAttribute("data-view", "3d");
    this._bounds(); this._initGL(); this._events();
    this.resize();
    this.reset();
    if (global.ResizeObserver) {
      this._ro = new ResizeObserver(() => this.resize());
      this._ro.observe(container);
    }
    LatentScatter3D.views.push(this);
  }
  LatentScatter3D.views = [];
  LatentScatter3D.HIDDEN = HIDDEN; LatentScatter3D.DIM = DIM; LatentScatter3D.IN_A = IN_A; LatentScatter3D.IN_B = IN_B;
  LatentScatter3D.FOV = FOV; LatentScatter3D.SIZE_MAX = SIZE_MAX;  // panning's and picking's reach in scatter3d_screen.js

  // the data's box, and the model matrix that puts it in [-1, 1] (largest side) around the origin
  LatentScatter3D.prototype._bounds = function () {
    const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity], A = [this.x, this.y, this.z];
    for (let a = 0; a < 3; a++) {
      const v = A[a];
      for (let i = 0; i < this.n; i++) { const q = v[i]; if (q < lo[a]) lo[a] = q; if (q > hi[a]) hi[a] = q; }
      if (!(hi[a] > lo[a])) { lo[a] = (lo[a] === Infinity ? 0 : lo[a]) - 1; hi[a] = lo[a] + 2; }
    }
    const pad = 0.03 * Math.max(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]);
    for (let a = 0; a < 3; a++) { lo[a] -= pad; hi[a] += pad; }
    const c = [0, 1, 2].map((a) => (lo[a] + hi[a]) / 2);
    const s = 2 / Math.max(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]);
    this.box = { lo: lo, hi: hi };
    // everything drawn (the points and their box) lies within `radius` of the origin; the camera
    // frames the points (`reach`), so a far corner of the box may leave the view
    this.radius = 0.5 * s * Math.hypot(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]);
    let r2 = 0;
    for (let i = 0; i < this.n; i++) {
      const dx = (this.x[i] - c[0]) * s, dy = (this.y[i] - c[1]) * s, dz = (this.z[i] - c[2]) * s, d = dx * dx + dy * dy + dz * dz;
      if (d > r2) r2 = d;
    }
    this.reach = Math.max(Math.sqrt(r2), 0.05);
    this.model = Float64Array.of(s, 0, 0, 0, 0, s, 0, 0, 0, 0, s, 0, -s * c[0], -s * c[1], -s * c[2], 1);
  };

  LatentScatter3D.prototype._initGL = function () {
    let gl = null;
    try {
      gl = this.base.getContext("webgl", { antialias: false, depth: true, preserveDrawingBuffer: true });
    } catch (e) { gl = null; }
    this.gl = gl;
    if (!gl) { this.ctx2d = this.base.getContext("2d"); this.mode = "canvas2d"; return; }
    this.mode = "webgl";
    const sh = (type, src) => {
      const o = gl.createShader(type);
      gl.shaderSource(o, src); gl.compileShader(o);
      if (!gl.getShaderParameter(o, gl.COMPILE_STATUS)) throw new Error("scatter3d shader: " + gl.getShaderInfoLog(o));
      return o;
    };
    const program = (vs, fs) => {
      const p = gl.createProgram();
      gl.attachShader(p, sh(gl.VERTEX_SHADER, vs)); gl.attachShader(p, sh(gl.FRAGMENT_SHADER, fs));
      gl.linkProgram(p);
      return p;
    };
    // points: perspective size (clamped), a little fog with depth, round and shaded towards the rim;
    // the state byte hides, dims (pale, smaller) or rings a point in its group's colour: the groups'
    // halos in a first pass that leaves depth alone, every point's disc over them (as in 2-D, a dense
    // group shows its outline and keeps its colouring inside)
    this.prog = program(
      "attribute vec3 p; attribute vec3 c; attribute float st; uniform mat4 m; uniform float s; uniform float k;" +
      "uniform vec2 fog; uniform float halo; uniform vec3 ga; uniform vec3 gb; uniform float pass;" +
      "varying vec3 v; varying float f; varying float inner; varying vec3 g1; varying vec3 g2;" +
      "void main(){ vec4 q = m * vec4(p, 1.0); gl_Position = q;" +
      " float hid = mod(st, 2.0), dim = mod(floor(st / 2.0), 2.0), a = mod(floor(st / 4.0), 2.0), b = mod(floor(st / 8.0), 2.0);" +
      " float size = s * clamp(k / q.w, " + SIZE_MIN.toFixed(2) + ", " + SIZE_MAX.toFixed(2) + ");" +
      " v = c; f = 0.5 * clamp((q.w - fog.x) / fog.y, 0.0, 1.0);" +
      " if (dim > 0.5) { size *= " + DIM_SIZE.toFixed(2) + "; v = mix(c, vec3(0.86), 0.75); }" +
      " inner = 0.5; g1 = a > 0.5 ? ga : gb; g2 = b > 0.5 ? gb : ga;" +
      " if (pass < 0.5) { if (a + b < 0.5) hid = 1.0; inner = 0.0; size += halo; }" +
      " gl_PointSize = size;" +
      " if (hid > 0.5) { gl_Position = vec4(2.0, 2.0, 2.0, 1.0); gl_PointSize = 0.0; } }",
      "precision mediump float; varying vec3 v; varying float f; varying float inner; varying vec3 g1; varying vec3 g2;" +
      "void main(){ vec2 q = gl_PointCoord - 0.5; float r = length(q); if (r > 0.5) discard;" +
      " vec3 col = r > inner ? (q.x > 0.0 ? g2 : g1) : v * (1.0 - 0.3 * smoothstep(0.6, 1.0, r / inner));" +
      " gl_FragColor = vec4(mix(col, vec3(1.0), f), 1.0); }");
    // the data's box, as thin grey lines behind and among the points
    this.lineProg = program(
      "attribute vec3 p; uniform mat4 m; void main(){ gl_Position = m * vec4(p, 1.0); }",
      "precision mediump float; void main(){ gl_FragColor = vec4(0.82, 0.82, 0.82, 1.0); }");
    const pos = new Float32Array(this.n * 3);
    for (let i = 0; i < this.n; i++) { pos[3 * i] = this.x[i]; pos[3 * i + 1] = this.y[i]; pos[3 * i + 2] = this.z[i]; }
    this.posBuf = gl.createBuffer(); gl.bindBuffer(gl.ARRAY_BUFFER, this.posBuf);
    gl.bufferData(gl.ARRAY_BUFFER, pos, gl.STATIC_DRAW);
    this.colBuf = gl.createBuffer();
    this.stateBuf = gl.createBuffer(); gl.bindBuffer(gl.ARRAY_BUFFER, this.stateBuf);
    gl.bufferData(gl.ARRAY_BUFFER, this.state, gl.DYNAMIC_DRAW);
    const b = this.box, lo = b.lo, hi = b.hi, corner = (k) => [k & 1 ? hi[0] : lo[0], k & 2 ? hi[1] : lo[1], k & 4 ? hi[2] : lo[2]];
    const edges = [];
    for (let k = 0; k < 8; k++) for (const bit of [1, 2, 4]) if (!(k & bit)) edges.push(...corner(k), ...corner(k | bit));
    this.boxBuf = gl.createBuffer(); gl.bindBuffer(gl.ARRAY_BUFFER, this.boxBuf);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array(edges), gl.STATIC_DRAW);
    this.loc = {
      p: gl.getAttribLocation(this.prog, "p"), c: gl.getAttribLocation(this.prog, "c"),
      m: gl.getUniformLocation(this.prog, "m"), s: gl.getUniformLocation(this.prog, "s"),
      k: gl.getUniformLocation(this.prog, "k"), fog: gl.getUniformLocation(this.prog, "fog"),
      st: gl.getAttribLocation(this.prog, "st"), halo: gl.getUniformLocation(this.prog, "halo"),
      ga: gl.getUniformLocation(this.prog, "ga"), gb: gl.getUniformLocation(this.prog, "gb"),
      pass: gl.getUniformLocation(this.prog, "pass"),
      lp: gl.getAttribLocation(this.lineProg, "p"), lm: gl.getUniformLocation(this.lineProg, "m"),
    };
    this.setColors(this.colors);
  };

  LatentScatter3D.prototype.setColors = function (rgb) {
    this.colors = rgb;
    if (this.gl) {
      const gl = this.gl;
      gl.bindBuffer(gl.ARRAY_BUFFER, this.colBuf);
      gl.bufferData(gl.ARRAY_BUFFER, rgb, gl.STATIC_DRAW);
    }
    this.draw();
  };

  // the state byte of every point (HIDDEN | DIM | IN_A | IN_B); the array is kept, not copied
  LatentScatter3D.prototype.setState = function (flags) {
    this.state = flags;
    let any = 0;
    for (let i = 0; i < flags.length; i++) any |= flags[i];
    this.anyState = any;
    if (this.gl) {
      const gl = this.gl;
      gl.bindBuffer(gl.ARRAY_BUFFER, this.stateBuf);
      gl.bufferData(gl.ARRAY_BUFFER, flags, gl.DYNAMIC_DRAW);
    }
    this._version++;  // what can be picked has changed
    this.requestDraw();
  };

  LatentScatter3D.prototype.resize = function () {
    const r = this.container.getBoundingClientRect(), dpr = global.devicePixelRatio || 1;
    const w = Math.max(1, r.width), h = Math.max(1, r.height);
    if (w === this.w && h === this.h && dpr === this.dpr) return;
    this.w = w; this.h = h; this.dpr = dpr;
    for (const c of [this.base, this.overlay]) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
    if (this.cam) this._camera();
    this.draw();
  };

  // --- the camera: orbit around a target (yaw, pitch, distance), perspective -----------------------
  LatentScatter3D.prototype.reset = function () {
    const aspect = (this.w || 1) / (this.h || 1);
    const half = Math.min(FOV / 2, Math.atan(Math.tan(FOV / 2) * aspect));
    this.cam = { yaw: 0.6, pitch: 0.35, dist: 1.04 * this.reach / Math.sin(half), target: [0, 0, 0] };
    this.cam0 = Object.assign({}, this.cam);
    this._camera();
    this.draw();
  };

  // the camera as the page keeps it (`view`, as LatentScatter's view): yaw, pitch, dist, target
  LatentScatter3D.prototype.setView = function (cam) {
    if (!cam || !(cam.dist > 0) || !Array.isArray(cam.target)) return;  // a 2-D view: not ours
    this.cam = { yaw: +cam.yaw || 0, pitch: Math.max(-1.55, Math.min(1.55, +cam.pitch || 0)), dist: +cam.dist, target: cam.target.slice(0, 3).map(Number) };
    this._camera(); this.requestDraw();
  };

  LatentScatter3D.prototype._camera = function () {
    const c = this.cam, cp = Math.cos(c.pitch), t = c.target;
    const eye = [t[0] + c.dist * cp * Math.sin(c.yaw), t[1] + c.dist * Math.sin(c.pitch), t[2] + c.dist * cp * Math.cos(c.yaw)];
    const de = Math.hypot(eye[0], eye[1], eye[2]), R = this.radius;  // the data lie within R of the origin
    this.near = Math.max(0.01 * c.dist, de - 1.05 * R, 1e-4);
    this.far = Math.max(de + 1.05 * R, this.near * 2);
    this.eye = eye;
    this.viewM = lookAt(eye, t);
    this.projM = perspective(FOV, this.w / this.h, this.near, this.far);
    this.mvp = mul(this.projM, mul(this.viewM, this.model));
    this.view = this.cam;
    this._version++;
  };

  // the camera's matrices and the sizes needed to say where (and how large) each point is drawn
  LatentScatter3D.prototype.matrices = function () {
    return {
      model: Array.from(this.model), view: Array.from(this.viewM), proj: Array.from(this.projM), mvp: Array.from(this.mvp),
      width: this.w, height: this.h, dpr: this.dpr, pointSize: this.pointSize, sizeRef: this.cam.dist,
      sizeClamp: [SIZE_MIN, SIZE_MAX], near: this.near, far: this.far, camera: JSON.parse(JSON.stringify(this.cam)),
    };
  };

  // [screen x, screen y, depth, drawn radius] in CSS pixels of a data point, or null when not drawn
  LatentScatter3D.prototype.project = function (x, y, z) {
    const m = this.mvp, w = m[3] * x + m[7] * y + m[11] * z + m[15];
    if (!(w > this.near && w < this.far)) return null;
    const sx = (1 + (m[0] * x + m[4] * y + m[8] * z + m[12]) / w) * this.w / 2;
    const sy = (1 - (m[1] * x + m[5] * y + m[9] * z + m[13]) / w) * this.h / 2;
    return [sx, sy, w, this._radius(w)];
  };
  // the drawn radius in CSS pixels of a point at depth w with state byte f (as the shader sizes it)
  LatentScatter3D.prototype._radius = function (w, f) {
    let r = 0.5 * this.pointSize * Math.min(SIZE_MAX, Math.max(SIZE_MIN, this.cam.dist / w));
    if (f & DIM) r *= DIM_SIZE;
    if (f & (IN_A | IN_B)) r += 0.5 * Math.max(4, this.pointSize);
    return r;
  };
  LatentScatter3D.prototype.toScreen = function (x, y, z) {
    const p = this.project(x, y, z || 0);
    return p ? [p[0], p[1]] : [NaN, NaN];
  };

  // --- drawing ------------------------------------------------------------------------------------
  // draws are coalesced to one per animation frame
  LatentScatter3D.prototype.requestDraw = function () {
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => { this._frame = 0; this.draw(); });
  };

  LatentScatter3D.prototype.draw = function () {
    if (!this.w || !this.cam || this.dead) return;
    const t0 = performance.now();
    if (this.gl) {
      const gl = this.gl, L = this.loc, mvp = new Float32Array(this.mvp);
      gl.viewport(0, 0, this.base.width, this.base.height);
      gl.clearColor(1, 1, 1, 1); gl.clearDepth(1);
      gl.enable(gl.DEPTH_TEST); gl.depthFunc(gl.LEQUAL);
      gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
      gl.useProgram(this.lineProg);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.boxBuf);
      gl.enableVertexAttribArray(L.lp); gl.vertexAttribPointer(L.lp, 3, gl.FLOAT, false, 0, 0);
      gl.uniformMatrix4fv(L.lm, false, mvp);
      gl.drawArrays(gl.LINES, 0, 24);
      gl.useProgram(this.prog);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.posBuf);
      gl.enableVertexAttribArray(L.p); gl.vertexAttribPointer(L.p, 3, gl.FLOAT, false, 0, 0);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.colBuf);
      gl.enableVertexAttribArray(L.c); gl.vertexAttribPointer(L.c, 3, gl.UNSIGNED_BYTE, true, 0, 0);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.stateBuf);
      gl.enableVertexAttribArray(L.st); gl.vertexAttribPointer(L.st, 1, gl.UNSIGNED_BYTE, false, 0, 0);
      const [ga, gb] = this.groupColors;
      gl.uniform3f(L.ga, ga[0] / 255, ga[1] / 255, ga[2] / 255);
      gl.uniform3f(L.gb, gb[0] / 255, gb[1] / 255, gb[2] / 255);
      gl.uniform1f(L.halo, Math.max(4, this.pointSize) * this.dpr);
      gl.uniformMatrix4fv(L.m, false, mvp);
      gl.uniform1f(L.s, this.pointSize * this.dpr);
      gl.uniform1f(L.k, this.cam.dist);
      const de = Math.hypot(this.eye[0], this.eye[1], this.eye[2]);
      gl.uniform2f(L.fog, de - this.radius, 2 * this.radius);
      if (this.anyState & 12) {  // some point is in group A or B (state bits 4 and 8)
        gl.uniform1f(L.pass, 0); gl.depthMask(false);
        gl.drawArrays(gl.POINTS, 0, this.n);
        gl.depthMask(true);
      }
      gl.uniform1f(L.pass, 1);
      gl.drawArrays(gl.POINTS, 0, this.n);
      gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));  // waits for the GPU
    } else {
      this._draw2d();
    }
    this.lastDrawMs = performance.now() - t0;
    this.frames.push(this.lastDrawMs);
    if (this.frames.length > 60) this.frames.shift();
    this.drawOverlay();
    if (this.onView) this.onView(this.cam);
  };

  // the median of the last frames, in ms
  LatentScatter3D.prototype.frameMs = function () {
    const f = this.frames.slice().sort((a, b) => a - b);
    return f.length ? f[f.length >> 1] : 0;
  };

  // the map as one canvas (points and overlay), for saving as PNG
  LatentScatter3D.prototype.snapshot = function () {
    this.draw();
    const c = document.createElement("canvas");
    c.width = this.base.width; c.height = this.base.height;
    const g = c.getContext("2d");
    g.drawImage(this.base, 0, 0); g.drawImage(this.overlay, 0, 0);
    return c;
  };

  LatentScatter3D.prototype.drawOverlay = function () {
    if (!this.cam || this.dead) return;
    const c = this.overlay.getContext("2d"), dpr = this.dpr;
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.clearRect(0, 0, this.w, this.h);
    const at = (i) => this.project(this.x[i], this.y[i], this.z[i]);
    const ring = (p, extra, color, width) => {
      if (!p) return;
      c.strokeStyle = color; c.lineWidth = width; c.beginPath();
      c.arc(p[0], p[1], Math.max(4, p[3] + extra), 0, 2 * Math.PI); c.stroke();
    };
    for (const path of this.paths) {
      const pts = path.points.filter((q) => q.length > 2).map((q) => this.project(q[0], q[1], q[2]));
      if (pts.length < 2 || pts.some((p) => !p)) continue;
      c.strokeStyle = path.color || "#d62728"; c.lineWidth = path.width || 2; c.beginPath();
      pts.forEach((p, k) => (k ? c.lineTo(p[0], p[1]) : c.moveTo(p[0], p[1])));
      c.stroke();
    }
    for (const i of this.marks) if (!(this.state[i] & HIDDEN)) ring(at(i), 1.5, "#222", 1.2);
    for (const i of this.highlight) ring(at(i), 2, "#000", 1.5);
    for (const e of this.extra) {
      if (e.z === undefined) continue;
      const p = this.project(e.x, e.y, e.z);
      if (!p) continue;
      c.fillStyle = e.color || "#ff7f0e"; c.strokeStyle = "#000"; c.lineWidth = 1;
      c.beginPath(); c.moveTo(p[0], p[1] - 6); c.lineTo(p[0] + 5, p[1] + 4); c.lineTo(p[0] - 5, p[1] + 4); c.closePath();
      c.fill(); c.stroke();
    }
    if (this.selected >= 0) ring(at(this.selected), 5, "#d62728", 2.5);
    if (this.hoverIdx >= 0) ring(at(this.hoverIdx), 3, "#333", 1);
    if (this.lasso && this.lasso.length > 1) {
      c.strokeStyle = "rgb(" + (this.lassoColor || [31, 119, 180]).join(",") + ")"; c.lineWidth = 1.5; c.setLineDash([4, 3]); c.beginPath();
      this.lasso.forEach((q, k) => (k ? c.lineTo(q[0], q[1]) : c.moveTo(q[0], q[1])));
      c.closePath(); c.stroke(); c.setLineDash([]);
    }
    this._axes(c);
  };

  // which way x, y and z point, in the lower left corner
  LatentScatter3D.prototype._axes = function (c) {
    const v = this.viewM, ox = 28, oy = this.h - 28, L = 18, names = ["x", "y", "z"], colors = ["#c0392b", "#27ae60", "#2c6fbb"];
    c.font = "10px system-ui, sans-serif"; c.textAlign = "center"; c.textBaseline = "middle"; c.lineWidth = 1.5;
    for (let a = 0; a < 3; a++) {
      const dx = v[a * 4] * L, dy = -v[a * 4 + 1] * L;
      c.strokeStyle = colors[a]; c.fillStyle = colors[a];
      c.beginPath(); c.moveTo(ox, oy); c.lineTo(ox + dx, oy + dy); c.stroke();
      c.fillText(names[a], ox + dx * 1.35, oy + dy * 1.35);
    }
  };

  LatentScatter3D.prototype.destroy = function () {
    this.dead = true;
    if (this._frame) cancelAnimationFrame(this._frame);
    if (this._ro) this._ro.disconnect();
    this._off.forEach((f) => f());
    this.base.remove(); this.overlay.remove();
    const k = LatentScatter3D.views.indexOf(this);
    if (k >= 0) LatentScatter3D.views.splice(k, 1);
    if (this.gl) { const x = this.gl.getExtension("WEBGL_lose_context"); if (x) x.loseContext(); }
  };

  global.LatentScatter3D = LatentScatter3D;
  global.__ls3d = LatentScatter3D.views;
})(typeof window !== "undefined" ? window : this);
