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

  // a decoded item (base64 PNG for images, JSON numbers for vectors) as a figure
  function figure(run, item, caption, onclick) {
    const f = document.createElement("figure");
    if (run.image) {
      const img = document.createElement("img");
      img.src = "data:image/png;base64," + item;
      f.appendChild(img);
    } else {
      f.appendChild(bars(JSON.parse(item)));
    }
    if (caption !== undefined) { const cap = document.createElement("figcaption"); cap.textContent = caption; f.appendChild(cap); }
    if (onclick) f.addEventListener("click", onclick);
    return f;
  }
  function fill(el, nodes) { el.textContent = ""; nodes.forEach((n) => el.appendChild(n)); }

  // a real item (a view from the server: image, text, feature values, or only its name) as a
  // figure; every text goes in as a text node. `big`: the selected item's panel.
  function viewFigure(view, caption, onclick, big) {
    const f = document.createElement("figure");
    f.dataset.row = view.row;
    if (view.image) {
      const img = document.createElement("img");
      img.src = "data:image/png;base64," + view.image;
      img.alt = view.name;
      smooth(img);
      f.appendChild(img);
    } else if (view.values) {
      f.appendChild(bars(view.values));
    } else {
      const card = document.createElement("div");
      card.className = "textcard" + (big ? " big" : "");
      const t = view.text !== null && view.text !== undefined ? view.text : view.name;
      card.textContent = big || t.length <= 160 ? t : t.slice(0, 157) + "…";
      card.title = t;
      f.appendChild(card);
    }
    if (caption !== undefined) { const cap = document.createElement("figcaption"); cap.textContent = caption; f.appendChild(cap); }
    if (onclick) f.addEventListener("click", onclick);
    return f;
  }
  // small images (digits) are drawn with sharp pixels; photographs' thumbnails smoothly
  function smooth(img) {
    img.addEventListener("load", () => { if (img.naturalWidth >= 48 || img.naturalHeight >= 48) img.style.imageRendering = "auto"; });
  }
  function bars(vals) {
    const c = document.createElement("canvas");
    c.width = 112; c.height = 112;
    const g = c.getContext("2d"), ok = vals.map((v) => (v === null ? 0 : v));
    const lo = Math.min(0, ...ok), hi = Math.max(0, ...ok), w = 112 / ok.length;
    g.fillStyle = "#1f77b4";
    ok.forEach((v, j) => {
      const y0 = 112 * (1 - (0 - lo) / (hi - lo || 1)), y1 = 112 * (1 - (v - lo) / (hi - lo || 1));
      g.fillRect(j * w, Math.min(y0, y1), Math.max(1, w - 1), Math.abs(y1 - y0) + 1);
    });
    return c;
  }
  function metaTable(meta) {
    const t = document.createElement("table");
    t.className = "metatable";
    for (const [k, v] of Object.entries(meta || {})) {
      const tr = document.createElement("tr"), a = document.createElement("th"), b = document.createElement("td");
      a.textContent = k; b.textContent = v === null ? "–" : typeof v === "number" ? (+v.toPrecision(6)).toString() : String(v);
      tr.appendChild(a); tr.appendChild(b); t.appendChild(tr);
    }
    return t;
  }
  // the real items a run without a decoder shows in place of decoded ones
  function nearestFigures(r, caption) {
    return r.views.map((v, k) => {
      const f = viewFigure(v, caption(k, v), () => { select(v.row); });
      f.classList.add("near");
      return f;
    });
  }
  const short = (d) => (d < 10 ? d.toFixed(2) : d.toPrecision(3));

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
      const data = { x: floats(d.x), y: floats(d.y), error: d.error ? floats(d.error) : null, label: d.label ? floats(d.label, Int32Array) : null };
      S.data[run.id] = data;
      const sc = new LatentScatter($("map" + run.id), { x: data.x, y: data.y });
      S.maps[run.id] = sc;
      wire(run, sc);
    }
    const sel = $("colorby");
    const errors = S.runs.some((r) => S.data[r.id].error);
    const opts = (S.runs[0].labels ? ["label"] : []).concat(errors ? ["reconstruction error"] : [], S.runs[0].slider_dims.slice(0, 16).map((j) => "latent z_" + j));
    opts.forEach((o) => { const e = document.createElement("option"); e.textContent = o; sel.appendChild(e); });
    (S.runs[0].colour_columns || []).forEach((name) => {
      const e = document.createElement("option");
      e.textContent = name; e.value = "meta:" + name;
      sel.insertBefore(e, sel.options[opts.indexOf("reconstruction error") >= 0 ? 2 : S.runs[0].labels ? 1 : 0] || null);
    });
    sel.addEventListener("change", recolor);
    await recolor();
    const notes = S.runs.filter((r) => r.note).map((r) => (S.runs.length > 1 ? r.name + ": " : "") + r.note);
    if (notes.length) { $("note").textContent = notes.join("  |  "); $("note").hidden = false; }
    adapt();
    requestAnimationFrame(() => {
      window.__firstPaintMs = performance.now();
      $("maps").setAttribute("data-ready", "1");
      status(S.runs[0].n.toLocaleString() + " items; draw " + S.maps[0].lastDrawMs.toFixed(1) + " ms (" + S.maps[0].mode + ")");
    });
    window.explorer = S;
  }

  // what the panels say, for the active run: decoded items, or the nearest real items
  function adapt() {
    const run = S.runs[S.active], dec = run.has_decoder;
    const fitted = run.model === "embeddings" ? "a Gaussian fitted to the vectors" : "the model's prior";
    const set = (sel, text) => { const e = document.querySelector(sel); if (e) e.textContent = text; };
    set("#sliders .title", dec ? "Latent sliders" : "Latent sliders: nearest real items");
    set("#sliders .hint", dec ? "" : "Moving a slider shows the real items nearest the slider point.");
    set("#space .title", dec ? "Decoded from the map" : "Nearest real items to a map point");
    set("#interp .title", dec ? "Interpolation" : "Interpolation: nearest real items");
    set("#interp .hint", dec ? "" : "The real item nearest each step of the latent path from A to B.");
    set("#attr .title", dec ? "Attribute vector (A → B)" : "Attribute vector (A → B): analogy");
    set("#attr .hint", dec ? "" : "The real item nearest the selected item + α·(mean B − mean A), for α from 0 to the slider's value.");
    set("#samples .title", dec ? "Samples from the prior" : "Nearest real items to draws from " + fitted);
    $("sample").hidden = !run.can_sample;
    $("samples").hidden = !run.can_sample;
  }

  // the colours of classes (labels, or a metadata column's values) as a legend in each map's corner
  function legend(run, names) {
    let box = document.getElementById("legend" + run.id);
    if (!box) {
      box = document.createElement("div");
      box.className = "legend"; box.id = "legend" + run.id;
      $("map" + run.id).appendChild(box);
    }
    box.textContent = "";
    box.hidden = !names;
    if (!names) return;
    names.slice(0, 30).forEach((name, k) => {
      const row = document.createElement("div"), sw = document.createElement("span");
      sw.style.background = "rgb(" + TAB10[k % 10].join(",") + ")";
      row.appendChild(sw); row.appendChild(document.createTextNode(name));
      box.appendChild(row);
    });
    if (names.length > 30) { const more = document.createElement("div"); more.textContent = "… " + (names.length - 30) + " more"; box.appendChild(more); }
  }

  async function recolor() {
    const what = $("colorby").value;
    for (const run of S.runs) {
      const d = S.data[run.id];
      let rgb, names = null;
      if (what === "label" && d.label) {
        names = run.labels;
        rgb = new Uint8Array(run.n * 3);
        for (let i = 0; i < run.n; i++) rgb.set(TAB10[d.label[i] % 10], 3 * i);
      } else if (what.startsWith("latent z_")) {
        const j = +what.slice(9);
        if (j >= run.latent_dim) continue;
        rgb = valueColors(floats((await api("runs/" + run.id + "/latent/" + j)).values), COOLWARM);
      } else if (what.startsWith("meta:")) {
        const j = (run.colour_columns || []).indexOf(what.slice(5));
        if (j < 0) { S.maps[run.id].setColors(new Uint8Array(run.n * 3).fill(120)); legend(run, null); continue; }
        const m = await api("runs/" + run.id + "/meta/" + j);
        if (m.values) {
          const v = floats(m.values);
          let lo = Infinity;
          for (let i = 0; i < v.length; i++) if (Number.isFinite(v[i]) && v[i] < lo) lo = v[i];
          for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) v[i] = Number.isFinite(lo) ? lo : 0;
          rgb = valueColors(v, VIRIDIS);
        } else {
          names = m.names;
          const c = floats(m.codes, Int32Array);
          rgb = new Uint8Array(run.n * 3);
          for (let i = 0; i < run.n; i++) rgb.set(TAB10[c[i] % 10], 3 * i);
        }
      } else if (what === "reconstruction error" && d.error) {
        rgb = valueColors(d.error, VIRIDIS);
      } else {
        rgb = new Uint8Array(run.n * 3).fill(120);
      }
      S.maps[run.id].setColors(rgb);
      legend(run, names);
    }
  }

  const views = new Map();
  async function hover(run, i, e) {
    const tip = $("tip");
    if (i < 0 || !e) { tip.style.display = "none"; return; }
    tip.textContent = "";
    const b = document.createElement("b"); b.textContent = "#" + i; tip.appendChild(b);
    tip.style.left = e.clientX + 14 + "px"; tip.style.top = e.clientY + 14 + "px"; tip.style.display = "block";
    const key = run.id + ":" + i;
    if (!views.has(key)) {
      const r = await fetch("/api/runs/" + run.id + "/items/" + i + "/view", { headers: { "X-Token": token } });
      if (!r.ok) return;
      views.set(key, await r.json());
    }
    if (S.maps[run.id].hoverIdx !== i) return;
    tipContent(tip, run, views.get(key));
  }
  // the tooltip: the item's name (with its label), its image, text or values, and a few metadata values
  function tipContent(tip, run, v) {
    tip.textContent = "";
    const line = (text, cls) => { const d = document.createElement("div"); d.textContent = text; if (cls) d.className = cls; tip.appendChild(d); return d; };
    const b = document.createElement("b"); b.textContent = v.name; tip.appendChild(b);
    if (v.image) { const img = document.createElement("img"); img.src = "data:image/png;base64," + v.image; smooth(img); tip.appendChild(img); }
    if (v.text !== null) line(v.text.length > 300 ? v.text.slice(0, 297) + "…" : v.text, "tiptext");
    if (v.values) line(v.values.slice(0, 8).map((x) => (x === null ? "–" : x.toFixed(3))).join(" "));
    const skip = new Set([run.label_col, run.items.column]);
    Object.entries(v.meta || {}).filter(([k]) => !skip.has(k)).slice(0, 4).forEach(([k, x]) => {
      const s = x === null ? "–" : typeof x === "number" ? (+x.toPrecision(5)).toString() : String(x);
      line(k + ": " + (s.length > 60 ? s.slice(0, 57) + "…" : s), "tipmeta");
    });
  }

  function wire(run, sc) {
    sc.onHover = (i, e) => hover(run, i, e);
    sc.onClick = (i, x, y) => { S.active = run.id; adapt(); i >= 0 ? select(i) : decodeAt(run, x, y); };
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
      if (!figs.length) figs.push(viewFigure(r.view, (run.has_decoder ? "original " : "") + r.view.name, undefined, true));
      if (r.reconstruction !== null) figs.push(figure(run, r.reconstruction, run.name + " · error " + (r.error === null ? "–" : r.error.toPrecision(3))));
      const m = S.maps[run.id];
      m.selected = i; m.highlight = r.neighbours; m.drawOverlay();
    }
    fill($("sel").querySelector(".pair"), figs);
    fill($("sel").querySelector(".meta"), Object.keys(first.view.meta || {}).length ? [metaTable(first.view.meta)] : []);
    $("sel").querySelector(".hint").textContent = "";
    const run = S.runs[S.active];
    fill($("nbrs").querySelector(".strip"), first.neighbours.map((j, k) =>
      viewFigure(first.neighbour_views[k], "#" + j + " d=" + short(first.distances[k]), () => select(j))));
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
      let r;
      if (run.has_decoder) {
        r = await api("runs/" + run.id + "/decode", { z: S.z, place: true });
        fill($("sliders").querySelector(".decoded"), [figure(run, r.item, "decoded")]);
      } else {
        r = await api("runs/" + run.id + "/nearest", { z: S.z, k: 4, place: true });
        fill($("sliders").querySelector(".decoded"), nearestFigures(r, (k, v) => "#" + v.row + " d=" + short(r.distances[k])));
      }
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

  // a clicked place moved into the region the server answers for: the map's bounding box widened by
  // its size on each side (web/app.py: RunState.map_box); a click in the far void lands on its edge
  function onMap(run, x, y) {
    const d = S.data[run.id];
    if (!d.box) {
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (let i = 0; i < d.x.length; i++) {
        x0 = Math.min(x0, d.x[i]); x1 = Math.max(x1, d.x[i]); y0 = Math.min(y0, d.y[i]); y1 = Math.max(y1, d.y[i]);
      }
      const px = 0.99 * Math.max(x1 - x0, 1), py = 0.99 * Math.max(y1 - y0, 1);
      d.box = [x0 - px, x1 + px, y0 - py, y1 + py];
    }
    const b = d.box;
    return [Math.min(b[1], Math.max(b[0], x)), Math.min(b[3], Math.max(b[2], y))];
  }

  // --- click on empty space: the map position back to a latent, decoded; without a decoder, the
  // real items nearest that map position ----------------------------------------------------------
  async function decodeAt(run, x, y) {
    [x, y] = onMap(run, x, y);
    const r = await api("runs/" + run.id + "/inverse", { point: [x, y] });
    const at = "(" + x.toFixed(2) + ", " + y.toFixed(2) + ")";
    const m = S.maps[run.id];
    if (run.has_decoder) {
      fill($("space").querySelector(".decoded"), [figure(run, r.item, "at " + at)]);
      $("space").querySelector(".hint").textContent = "";
    } else {
      fill($("space").querySelector(".decoded"), nearestFigures(r, (k, v) => "#" + v.row + " d=" + short(r.distances[k])));
      $("space").querySelector(".hint").textContent = "The " + r.rows.length + " real items nearest " + at + " on the map.";
      m.highlight = r.rows;
      S.spaceRows = r.rows; S.spacePoint = r.point;
    }
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
    if (run.has_decoder) {
      fill($("interp").querySelector(".strip"), r.items.map((it, k) => figure(run, it, "t=" + r.t[k].toFixed(2))));
    } else {
      S.interpRows = r.rows;
      fill($("interp").querySelector(".strip"), nearestFigures(r, (k, v) => "t=" + r.t[k].toFixed(2) + " #" + v.row));
    }
  });

  // --- attribute vectors ------------------------------------------------------------------------
  async function attribute() {
    if (!S.groupA.length || !S.groupB.length || S.selected < 0) { status("lasso group A and group B, then select an item"); return; }
    const run = S.runs[S.active], a = +$("alpha").value;
    $("alphav").textContent = a;
    const alphas = run.has_decoder ? [0, a] : [0, a / 4, a / 2, 3 * a / 4, a];
    const r = await api("runs/" + run.id + "/attribute", { group_a: S.groupA, group_b: S.groupB, item: S.selected, alphas: alphas });
    if (run.has_decoder) {
      fill($("attr").querySelector(".strip"), r.items.map((it, k) => figure(run, it, "α=" + r.alphas[k])));
    } else {
      fill($("attr").querySelector(".strip"), nearestFigures(r, (k, v) => "α=" + r.alphas[k] + " #" + v.row));
    }
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
    if (run.has_decoder) {
      fill($("samples").querySelector(".strip"), r.items.map((it, k) => figure(run, it, "sample " + (k + 1))));
    } else {
      fill($("samples").querySelector(".strip"), nearestFigures(r, (k, v) => "draw " + (k + 1) + " #" + v.row));
    }
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
