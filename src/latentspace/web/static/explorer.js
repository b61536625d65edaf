/* latentspace explorer: the map (LatentScatter) and the panels that steer the model through the
 * local API. Every API call carries the launch token; user-provided text goes in as text nodes. */
(function () {
  "use strict";
  const token = launchToken();
  const $ = (id) => document.getElementById(id);
  const status = (t) => { $("status").textContent = t; };
  const TAB10 = [[31,119,180],[255,127,14],[44,160,44],[214,39,40],[148,103,189],[140,86,75],[227,119,194],[127,127,127],[188,189,34],[23,190,207]];

  async function api(path, body) {
    const opts = { headers: { "X-Token": token } };
    if (body !== undefined) {
      opts.method = "POST"; opts.body = JSON.stringify(body);
      opts.headers["Content-Type"] = "application/json";
    }
    const r = await fetch("/api/" + path, opts);
    if (!r.ok) {
      let msg = r.status + "";
      try { msg += ": " + (await r.json()).detail; } catch (e) { /* not JSON */ }
      status(msg);
      throw new Error(msg);
    }
    return r.json();
  }
  function floats(b64, Type) {
    const s = atob(b64), a = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
    return new (Type || Float32Array)(a.buffer);
  }

  // an item (base64 PNG for images, JSON numbers for vectors) as a figure
  function figure(run, item, caption, onclick) {
    const f = document.createElement("figure");
    if (run.image) {
      const img = document.createElement("img");
      img.src = "data:image/png;base64," + item;
      f.appendChild(img);
    } else {
      const vals = JSON.parse(item), c = document.createElement("canvas");
      c.width = 112; c.height = 112;
      const g = c.getContext("2d"), lo = Math.min(0, ...vals), hi = Math.max(0, ...vals), w = 112 / vals.length;
      g.fillStyle = "#1f77b4";
      vals.forEach((v, j) => {
        const y0 = 112 * (1 - (0 - lo) / (hi - lo || 1)), y1 = 112 * (1 - (v - lo) / (hi - lo || 1));
        g.fillRect(j * w, Math.min(y0, y1), Math.max(1, w - 1), Math.abs(y1 - y0) + 1);
      });
      f.appendChild(c);
    }
    if (caption !== undefined) { const cap = document.createElement("figcaption"); cap.textContent = caption; f.appendChild(cap); }
    if (onclick) f.addEventListener("click", onclick);
    return f;
  }
  function fill(el, nodes) { el.textContent = ""; nodes.forEach((n) => el.appendChild(n)); }

  // colour ramps
  function ramp(stops, t) {
    const x = Math.max(0, Math.min(1, t)) * (stops.length - 1), k = Math.min(stops.length - 2, Math.floor(x)), f = x - k;
    return stops[k].map((v, j) => Math.round(v + f * (stops[k + 1][j] - v)));
  }
  const VIRIDIS = [[68,1,84],[59,82,139],[33,145,140],[94,201,98],[253,231,37]];
  const COOLWARM = [[59,76,192],[141,176,254],[221,221,221],[244,154,123],[180,4,38]];
  function valueColors(v, stops) {
    const s = Float32Array.from(v).sort(), lo = s[Math.floor(0.01 * (s.length - 1))], hi = s[Math.floor(0.99 * (s.length - 1))];
    const out = new Uint8Array(v.length * 3);
    for (let i = 0; i < v.length; i++) out.set(ramp(stops, (v[i] - lo) / (hi - lo || 1)), 3 * i);
    return out;
  }

  const S = { runs: [], maps: [], data: [], active: 0, selected: -1, A: null, B: null, groupA: [], groupB: [], z: null, mode: "pan" };

  async function start() {
    const info = await api("runs");
    S.runs = info.runs;
    $("runname").textContent = S.runs.map((r) => r.name + " (" + r.model + ", " + r.map.method + " map)").join("  |  ");
    const maps = $("maps");
    for (const run of S.runs) {
      const box = document.createElement("div");
      box.className = "mapbox"; box.id = "map" + run.id;
      const t = document.createElement("div"); t.className = "title"; t.textContent = run.name;
      box.appendChild(t);
      maps.appendChild(box);
    }
    for (const run of S.runs) {
      const d = await api("runs/" + run.id + "/map");
      const data = { x: floats(d.x), y: floats(d.y), error: floats(d.error), label: d.label ? floats(d.label, Int32Array) : null };
      S.data[run.id] = data;
      const sc = new LatentScatter($("map" + run.id), { x: data.x, y: data.y });
      S.maps[run.id] = sc;
      wire(run, sc);
    }
    const sel = $("colorby");
    const opts = (S.runs[0].labels ? ["label"] : []).concat(["reconstruction error"], S.runs[0].slider_dims.slice(0, 16).map((j) => "latent z_" + j));
    opts.forEach((o) => { const e = document.createElement("option"); e.textContent = o; sel.appendChild(e); });
    sel.addEventListener("change", recolor);
    await recolor();
    requestAnimationFrame(() => {
      window.__firstPaintMs = performance.now();
      $("maps").setAttribute("data-ready", "1");
      status(S.runs[0].n.toLocaleString() + " items; draw " + S.maps[0].lastDrawMs.toFixed(1) + " ms (" + S.maps[0].mode + ")");
    });
    window.explorer = S;
  }

  async function recolor() {
    const what = $("colorby").value;
    for (const run of S.runs) {
      const d = S.data[run.id];
      let rgb;
      if (what === "label" && d.label) {
        rgb = new Uint8Array(run.n * 3);
        for (let i = 0; i < run.n; i++) rgb.set(TAB10[d.label[i] % 10], 3 * i);
      } else if (what.startsWith("latent z_")) {
        const j = +what.slice(9);
        if (j >= run.latent_dim) continue;
        rgb = valueColors(floats((await api("runs/" + run.id + "/latent/" + j)).values), COOLWARM);
      } else {
        rgb = valueColors(d.error, VIRIDIS);
      }
      S.maps[run.id].setColors(rgb);
    }
  }

  const thumbs = new Map();
  async function hover(run, i, e) {
    const tip = $("tip");
    if (i < 0 || !e) { tip.style.display = "none"; return; }
    tip.textContent = "";
    const b = document.createElement("b"); b.textContent = "#" + i; tip.appendChild(b);
    tip.style.left = e.clientX + 14 + "px"; tip.style.top = e.clientY + 14 + "px"; tip.style.display = "block";
    const key = run.id + ":" + i;
    if (!thumbs.has(key)) {
      const r = await fetch("/api/runs/" + run.id + "/items/" + i + "/thumb", { headers: { "X-Token": token } });
      if (!r.ok) return;
      thumbs.set(key, run.image ? URL.createObjectURL(await r.blob()) : (await r.json()).values);
    }
    if (S.maps[run.id].hoverIdx !== i) return;
    const v = thumbs.get(key);
    if (run.image) { const img = document.createElement("img"); img.src = v; tip.appendChild(img); }
    else { const d = document.createElement("div"); d.textContent = v.slice(0, 8).map((x) => x.toFixed(3)).join(" "); tip.appendChild(d); }
  }

  function wire(run, sc) {
    sc.onHover = (i, e) => hover(run, i, e);
    sc.onClick = (i, x, y) => { S.active = run.id; i >= 0 ? select(i) : decodeAt(run, x, y); };
    sc.onLasso = (ids) => {
      S.active = run.id;
      if (S.mode === "A") S.groupA = ids; else S.groupB = ids;
      $("na").textContent = S.groupA.length; $("nb").textContent = S.groupB.length;
      for (const m of S.maps) { m.highlight = S.groupA.concat(S.groupB).slice(0, 2000); m.drawOverlay(); }
    };
  }

  async function select(i) {
    S.selected = i;
    const figs = [];
    let first = null;
    for (const run of S.runs) {
      const r = await api("runs/" + run.id + "/items/" + i);
      if (run.id === S.active) first = r;
      if (!figs.length) figs.push(figure(run, r.original, "original #" + i + (r.label !== null ? " (" + r.label + ")" : "")));
      figs.push(figure(run, r.reconstruction, run.name + " · error " + r.error.toPrecision(3)));
      const m = S.maps[run.id];
      m.selected = i; m.highlight = r.neighbours; m.drawOverlay();
    }
    fill($("sel").querySelector(".pair"), figs);
    $("sel").querySelector(".hint").textContent = "";
    const run = S.runs[S.active];
    fill($("nbrs").querySelector(".strip"), first.neighbours.map((j, k) =>
      figure(run, first.neighbour_items[k], "#" + j + " d=" + first.distances[k].toFixed(2), () => select(j))));
    buildSliders(run, first.z);
  }

  // --- sliders: one per latent dimension (the 16 that vary most), live decode -------------------
  let inflight = false, pending = null;
  function buildSliders(run, z) {
    S.z = z.slice(); S.z0 = z.slice();
    const rows = $("sliders").querySelector(".rows");
    rows.textContent = "";
    for (const j of run.slider_dims) {
      const lab = document.createElement("label"), name = document.createElement("b"), inp = document.createElement("input"), val = document.createElement("span");
      name.textContent = "z_" + j;
      const span = 4 * run.std[j];
      inp.type = "range"; inp.min = run.mean[j] - span; inp.max = run.mean[j] + span; inp.step = span / 50; inp.value = z[j];
      inp.dataset.dim = j;
      val.textContent = (+z[j]).toFixed(2);
      inp.addEventListener("pointerdown", () => traversalPath(run, j));
      inp.addEventListener("input", () => { S.z[j] = +inp.value; val.textContent = (+inp.value).toFixed(2); liveDecode(run); });
      lab.appendChild(name); lab.appendChild(inp); lab.appendChild(val);
      rows.appendChild(lab);
    }
    liveDecode(run);
  }
  async function liveDecode(run) {
    if (inflight) { pending = run; return; }
    inflight = true;
    try {
      const r = await api("runs/" + run.id + "/decode", { z: S.z, place: true });
      fill($("sliders").querySelector(".decoded"), [figure(run, r.item, "decoded")]);
      const m = S.maps[run.id];
      m.extra = [{ x: r.position[0], y: r.position[1], color: "#ff7f0e" }];
      m.drawOverlay();
      S.decodes = (S.decodes || 0) + 1;
    } finally {
      inflight = false;
      if (pending) { const p = pending; pending = null; liveDecode(p); }
    }
  }
  async function traversalPath(run, j) {
    const zs = [];
    for (let k = -4; k <= 4; k++) { const z = S.z.slice(); z[j] = run.mean[j] + k * run.std[j]; zs.push(z); }
    const r = await api("runs/" + run.id + "/place", { zs: zs });
    const m = S.maps[run.id];
    m.paths = [{ points: r.positions, color: "#9467bd" }];
    m.drawOverlay();
  }
  $("slreset").addEventListener("click", () => { if (S.z0) buildSliders(S.runs[S.active], S.z0); });

  // --- click on empty space: the map position back to a latent, decoded ----------------------
  async function decodeAt(run, x, y) {
    const r = await api("runs/" + run.id + "/inverse", { point: [x, y] });
    fill($("space").querySelector(".decoded"), [figure(run, r.item, "at (" + x.toFixed(2) + ", " + y.toFixed(2) + ")")]);
    $("space").querySelector(".hint").textContent = "";
    const m = S.maps[run.id];
    m.extra = [{ x: x, y: y, color: "#2ca02c" }]; m.drawOverlay();
    buildSliders(run, r.z);
  }

  // --- interpolation ----------------------------------------------------------------------------
  $("seta").addEventListener("click", () => { if (S.selected >= 0) { S.A = S.selected; $("ia").textContent = "#" + S.A; } });
  $("setb").addEventListener("click", () => { if (S.selected >= 0) { S.B = S.selected; $("ib").textContent = "#" + S.B; } });
  $("igo").addEventListener("click", async () => {
    if (S.A === null || S.B === null) { status("set A and B first"); return; }
    const run = S.runs[S.active];
    const r = await api("runs/" + run.id + "/interpolate", { a: S.A, b: S.B, steps: +$("isteps").value, method: $("imethod").value });
    const m = S.maps[run.id];
    m.paths = [{ points: r.positions, color: "#d62728" }]; m.drawOverlay();
    fill($("interp").querySelector(".strip"), r.items.map((it, k) => figure(run, it, "t=" + r.t[k].toFixed(2))));
  });

  // --- attribute vectors ------------------------------------------------------------------------
  async function attribute() {
    if (!S.groupA.length || !S.groupB.length || S.selected < 0) { status("lasso group A and group B, then select an item"); return; }
    const run = S.runs[S.active], a = +$("alpha").value;
    $("alphav").textContent = a;
    const r = await api("runs/" + run.id + "/attribute", { group_a: S.groupA, group_b: S.groupB, item: S.selected, alphas: [0, a] });
    fill($("attr").querySelector(".strip"), r.items.map((it, k) => figure(run, it, "α=" + r.alphas[k])));
    const m = S.maps[run.id];
    m.paths = [{ points: r.positions, color: "#17becf" }]; m.drawOverlay();
  }
  $("ago").addEventListener("click", attribute);
  $("alpha").addEventListener("change", attribute);

  // --- samples ------------------------------------------------------------------------------------
  let seed = 0;
  $("sample").addEventListener("click", async () => {
    const run = S.runs[S.active];
    const r = await api("runs/" + run.id + "/sample", { n: 8, seed: seed++ });
    const m = S.maps[run.id];
    m.extra = r.positions.map((p) => ({ x: p[0], y: p[1], color: "#ff7f0e" })); m.drawOverlay();
    fill($("samples").querySelector(".strip"), r.items.map((it, k) => figure(run, it, "sample " + (k + 1))));
  });

  // --- modes and view -----------------------------------------------------------------------------
  document.querySelectorAll(".modes button").forEach((b) => b.addEventListener("click", () => {
    S.mode = b.dataset.mode;
    document.querySelectorAll(".modes button").forEach((o) => o.classList.toggle("on", o === b));
    for (const m of S.maps) m.lassoMode = S.mode !== "pan";
  }));
  $("reset").addEventListener("click", () => S.maps.forEach((m) => m.reset()));

  start().catch((e) => status("could not load: " + e.message +
    (token ? "" : " (no token: open the address `latentspace explore` printed)")));

  /* The launch token arrives once, in the URL that `latentspace explore` prints. It is kept in this
   * tab's sessionStorage (scoped to this origin, port included; never sent by the browser on its own,
   * so the API stays header-only and cannot be driven by another page) and removed from the address
   * bar at once, so it is in no screenshot, shared link or history entry; the server's
   * Referrer-Policy: no-referrer keeps it out of Referer headers. A reload reads it back. */
  function launchToken() {
    const KEY = "latentspace-token", params = new URLSearchParams(location.search), given = params.get("token");
    let kept = null;
    try {
      if (given) sessionStorage.setItem(KEY, given);
      kept = sessionStorage.getItem(KEY);
    } catch (e) { /* storage disabled: the token lives in this page only */ }
    if (given !== null) {
      params.delete("token");
      const rest = params.toString();
      history.replaceState(history.state, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
    }
    return given || kept || "";
  }
})();
