/* The page side of bench_scatter3d.py: evaluated in headless Chromium with LatentScatter3D loaded. */
(async (opts) => {
  const n = opts.n, picks = opts.picks;
  let s = 12345;
  const rnd = () => {  // mulberry32
    s = (s + 0x6D2B79F5) | 0; let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const C = [];
  for (let k = 0; k < 40; k++) C.push([gauss() * 6, gauss() * 6, gauss() * 6, 0.3 + rnd()]);
  const x = new Float32Array(n), y = new Float32Array(n), z = new Float32Array(n), rgb = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    const c = C[i % 40];
    x[i] = c[0] + gauss() * c[3]; y[i] = c[1] + gauss() * c[3]; z[i] = c[2] + gauss() * c[3];
    rgb[3 * i] = (i % 40) * 6; rgb[3 * i + 1] = 120; rgb[3 * i + 2] = 255 - (i % 40) * 6;
  }
  const box = document.getElementById("box");
  const one = new Uint8Array(4);
  const t0 = performance.now();
  const sc = new LatentScatter3D(box, { x: x, y: y, z: z, colors: rgb });
  const gl = sc.gl;
  gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, one);
  const firstPaint = performance.now() - t0;
  const med = (a) => { const b = a.slice().sort((p, q) => p - q); return b[b.length >> 1]; };
  const frames = [];
  for (let k = 0; k < 15; k++) {
    const t = performance.now();
    sc.orbit(0.02, 0);
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, one);
    frames.push(performance.now() - t);
  }
  // CPU picking
  const firstPicks = [];
  for (let k = 0; k < 5; k++) {
    sc.orbit(0.01, 0);
    const t = performance.now(); sc.pick(500, 400); firstPicks.push(performance.now() - t);
  }
  const pts = [];
  const P0 = sc._project();
  for (let k = 0; k < picks; k++) {  // half anywhere, half on a point's drawn centre
    if (k % 2) { pts.push([100 + Math.floor(rnd() * 800), 100 + Math.floor(rnd() * 600)]); continue; }
    let i = Math.floor(rnd() * n);
    while (!(P0.sx[i] > 10 && P0.sx[i] < 990 && P0.sy[i] > 10 && P0.sy[i] < 790)) i = Math.floor(rnd() * n);
    pts.push([Math.floor(P0.sx[i]), Math.floor(P0.sy[i])]);
  }
  let t = performance.now();
  const cpu = pts.map((p) => sc.pick(p[0] + 0.5, p[1] + 0.5, 0.001));
  const cpuPick = (performance.now() - t) / picks;
  // colour-ID picking: the same points, their row + 1 as colour, depth-tested, in a framebuffer
  const sh = (type, src) => { const o = gl.createShader(type); gl.shaderSource(o, src); gl.compileShader(o); return o; };
  const prog = gl.createProgram();
  gl.attachShader(prog, sh(gl.VERTEX_SHADER,
    "attribute vec3 p; attribute float id; uniform mat4 m; uniform float s; uniform float k; varying vec4 v;" +
    "void main(){ vec4 q = m * vec4(p, 1.0); gl_Position = q; gl_PointSize = s * clamp(k / q.w, 0.5, 2.5);" +
    " float j = id + 1.0; v = vec4(mod(j, 256.0), mod(floor(j / 256.0), 256.0), floor(j / 65536.0), 255.0) / 255.0; }"));
  gl.attachShader(prog, sh(gl.FRAGMENT_SHADER,
    "precision highp float; varying vec4 v; void main(){ vec2 q = gl_PointCoord - 0.5; if (dot(q, q) > 0.25) discard; gl_FragColor = v; }"));
  gl.linkProgram(prog);
  const ids = new Float32Array(n); for (let i = 0; i < n; i++) ids[i] = i;
  const idBuf = gl.createBuffer(); gl.bindBuffer(gl.ARRAY_BUFFER, idBuf); gl.bufferData(gl.ARRAY_BUFFER, ids, gl.STATIC_DRAW);
  const W = sc.base.width, H = sc.base.height;
  const tex = gl.createTexture(); gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, W, H, 0, gl.RGBA, gl.UNSIGNED_BYTE, null);
  const depth = gl.createRenderbuffer(); gl.bindRenderbuffer(gl.RENDERBUFFER, depth);
  gl.renderbufferStorage(gl.RENDERBUFFER, gl.DEPTH_COMPONENT16, W, H);
  const fb = gl.createFramebuffer(); gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
  gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
  gl.framebufferRenderbuffer(gl.FRAMEBUFFER, gl.DEPTH_ATTACHMENT, gl.RENDERBUFFER, depth);
  gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  const idPass = (x0, y0, w, h, out) => {
    gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    gl.viewport(0, 0, W, H);
    gl.enable(gl.SCISSOR_TEST); gl.scissor(x0, y0, w, h);
    gl.clearColor(0, 0, 0, 0); gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST);
    gl.useProgram(prog);
    const lp = gl.getAttribLocation(prog, "p"), li = gl.getAttribLocation(prog, "id");
    gl.bindBuffer(gl.ARRAY_BUFFER, sc.posBuf); gl.enableVertexAttribArray(lp); gl.vertexAttribPointer(lp, 3, gl.FLOAT, false, 0, 0);
    gl.bindBuffer(gl.ARRAY_BUFFER, idBuf); gl.enableVertexAttribArray(li); gl.vertexAttribPointer(li, 1, gl.FLOAT, false, 0, 0);
    gl.uniformMatrix4fv(gl.getUniformLocation(prog, "m"), false, new Float32Array(sc.mvp));
    gl.uniform1f(gl.getUniformLocation(prog, "s"), sc.pointSize * sc.dpr);
    gl.uniform1f(gl.getUniformLocation(prog, "k"), sc.cam.dist);
    gl.drawArrays(gl.POINTS, 0, n);
    gl.readPixels(x0, y0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, out);
    gl.disable(gl.SCISSOR_TEST);
    gl.disableVertexAttribArray(li);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  };
  const at = (buf, w, i) => { const v = buf[4 * i] + 256 * buf[4 * i + 1] + 65536 * buf[4 * i + 2]; return v - 1; };
  const small = new Uint8Array(17 * 17 * 4), gpuSmall = [];
  for (let k = 0; k < 10; k++) {
    const p = pts[k], t1 = performance.now();
    idPass(p[0] * sc.dpr - 8, H - 1 - p[1] * sc.dpr - 8, 17, 17, small);
    at(small, 17, 8 * 17 + 8);
    gpuSmall.push(performance.now() - t1);
  }
  const full = new Uint8Array(W * H * 4), gpuFull = [];
  for (let k = 0; k < 3; k++) { const t1 = performance.now(); idPass(0, 0, W, H, full); gpuFull.push(performance.now() - t1); }
  let hit = 0, same = 0;
  pts.forEach((p, k) => {
    const g = at(full, W, (H - 1 - Math.floor(p[1] * sc.dpr)) * W + Math.floor(p[0] * sc.dpr));
    if (g >= 0) { hit++; if (cpu[k] === g) same++; }
  });
  return { n: n, firstPaint: firstPaint, frame: med(frames), firstPick: med(firstPicks), project: sc.lastProjectMs,
           cpuPick: cpuPick, gpuSmall: med(gpuSmall), gpuFull: med(gpuFull), hit: hit, same: same, picks: picks,
           renderer: (() => { const d = gl.getExtension("WEBGL_debug_renderer_info"); return d ? gl.getParameter(d.UNMASKED_RENDERER_WEBGL) : "?"; })() };
})
