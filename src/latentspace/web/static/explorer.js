/* latentspace explorer: the map (LatentScatter), the columns it is coloured, filtered and searched by
 * (columns.js, panels.js), the view kept in the URL (urlstate.js), and the tabs that steer the model
 * through the local API. Every API call carries the launch token; a call that takes over 200 ms shows
 * the busy indicator; user-provided text goes in as text nodes. */
(function () {
  "use strict";
  const token = launchToken();
  const $ = (id) => document.getElementById(id);
  const C = window.LatentColumns, P = window.LatentPanels, U = window.LatentUrl;
  const ALPHAS = [-3, -2, -1, 0, 1, 2, 3];  // the attribute strip
  const MARKED = 300;  // search matches ringed on the map when there are at most this many
  const S = {
    runs: [], maps: [], data: [], active: 0, selected: -1, A: null, B: null, groupA: [], groupB: [],
    z: null, mode: "pan", tab: "item", table: [], colour: null, legends: [], query: "", match: null,
    matchCount: 0, packed: { A: "", B: "" }, decodes: 0, alphaFrames: 0, busyShown: 0, pendingFilters: new Map(),
    timings: { firstPaint: null, filter: null, search: null, call: null },
  };
  window.explorer = S;

  // --- calls, the busy indicator, the status bar ----------------------------------------------------
  const status = (t) => { $("message").textContent = t; };
  let busyNow = 0;
  async function call(path, opts, where) {
    const t0 = performance.now(), b = { fired: false };
    opts.headers = Object.assign({ "X-Token": token }, opts.headers || {});
    b.timer = setTimeout(() => {
      b.fired = true; busyNow++; S.busyShown++; $("busy").hidden = false;
      if (where) { where._busy = (where._busy || 0) + 1; where.classList.add("busy"); }
    }, 200);
    try {
      const r = await fetch("/api/" + path, opts);
      if (!r.ok) {
        let msg = r.status + "";
        try { msg += ": " + (await r.json()).detail; } catch (e) { /* not JSON */ }
        status(msg);
        throw new Error(msg);
      }
      return r;
    } finally {
      clearTimeout(b.timer);
      if (b.fired) {
        if (!--busyNow) $("busy").hidden = true;
        if (where && !--where._busy) where.classList.remove("busy");
      }
      S.timings.call = { name: path.split("?")[0].split("/").filter((w) => !/^\d+$/.test(w)).slice(-1)[0], ms: performance.now() - t0 };
      statsSoon();
    }
  }
  async function api(path, body, where) {
    const opts = {};
    if (body !== undefined) { opts.method = "POST"; opts.body = JSON.stringify(body); opts.headers = { "Content-Type": "application/json" }; }
    return (await call(path, opts, where)).json();
  }
  function floats(b64, Type) { return new (Type || Float32Array)(C.bytes(b64).buffer); }
  let statsPending = false;
  function statsSoon() { if (!statsPending) { statsPending = true; requestAnimationFrame(() => { statsPending = false; stats(); }); } }
  function stats() {
    if (!S.runs.length || !S.maps[0]) return;
    const m = S.maps[0], t = S.timings, ms = (x) => x.toFixed(1) + " ms", parts = [S.runs[0].n.toLocaleString() + " items"];
    if (S.cf && S.cf.filters.size) parts.push(S.cf.shown.toLocaleString() + " shown");
    if (S.match) parts.push(S.matchCount.toLocaleString() + " matches");
    if (S.groupA.length || S.groupB.length) parts.push("A " + S.groupA.length.toLocaleString() + ", B " + S.groupB.length.toLocaleString());
    parts.push("frame " + ms(m.frameMs ? m.frameMs() : m.lastDrawMs || 0) + " (" + m.mode + ")");
    if (t.filter !== null) parts.push("filter " + ms(t.filter));
    if (t.search !== null) parts.push("search " + ms(t.search));
    if (t.call) parts.push("last call (" + t.call.name + ") " + ms(t.call.ms));
    if (t.firstPaint !== null) parts.push("first paint " + Math.round(t.firstPaint) + " ms" + (t.ready ? ", ready " + Math.round(t.ready) + " ms" : ""));
    $("stats").textContent = parts.join(" · ");
  }

  // --- figures ------------------------------------------------------------------------------------
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
    return finish(f, caption, onclick);
  }
  function finish(f, caption, onclick) {
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
      const card = document.createElement("div"), named = view.text === null || view.text === undefined;
      card.className = "textcard" + (big ? " big" : "") + (named ? " name" : "");  // (only a name: a small card)
      const t = named ? view.name : view.text;
      card.textContent = big || t.length <= 160 ? t : t.slice(0, 157) + "…";
      card.title = t;
      f.appendChild(card);
    }
    return finish(f, caption, onclick);
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
    g.fillStyle = "#3b6fb6";
    ok.forEach((v, j) => {
      const y0 = 112 * (1 - (0 - lo) / (hi - lo || 1)), y1 = 112 * (1 - (v - lo) / (hi - lo || 1));
      g.fillRect(j * w, Math.min(y0, y1), Math.max(1, w - 1), Math.abs(y1 - y0) + 1);
    });
    return c;
  }
  const shownValue = (v) => (v === null ? "–" : typeof v === "number" ? (+v.toPrecision(6)).toString() : String(v));
  function metaTable(meta) {
    const t = document.createElement("table");
    t.className = "metatable";
    for (const [k, v] of Object.entries(meta || {})) {
      const tr = document.createElement("tr"), a = document.createElement("th"), b = document.createElement("td");
      a.textContent = k; b.textContent = shownValue(v);
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

  // --- start: the runs, their maps and columns, the view in the URL ---------------------------------
  async function start() {
    const t0 = performance.now();
    const info = await api("runs");
    S.runs = info.runs;
    $("runname").textContent = S.runs.map((r) => r.name + " · " + r.model + " · " + r.map.method).join("  |  ");
    document.querySelector("header .brand").title = $("runname").textContent;
    const maps = $("maps");
    for (const run of S.runs) {
      const box = document.createElement("div");
      box.className = "mapbox"; box.id = "map" + run.id;
      const t = document.createElement("div"); t.className = "title"; t.textContent = run.name;
      const legendBox = document.createElement("div"); legendBox.className = "legend"; legendBox.id = "legend" + run.id; legendBox.hidden = true;
      box.append(t, legendBox);
      maps.appendChild(box);
    }
    if (S.runs.length > 1) document.body.classList.add("nofilters");
    await Promise.all(S.runs.map(async (run) => {
      const d = await api("runs/" + run.id + "/map");
      S.data[run.id] = { x: floats(d.x), y: floats(d.y), error: d.error ? floats(d.error) : null, label: d.label ? floats(d.label, Int32Array) : null };
    }));
    for (const run of S.runs) {
      const d = S.data[run.id], colors = d.label ? C.colours({ codes: d.label, names: run.labels }).rgb : undefined;
      const sc = new LatentScatter($("map" + run.id), { x: d.x, y: d.y, colors: colors });  // as "label" colours it
      S.maps[run.id] = sc;
      wire(run, sc);
    }
    requestAnimationFrame(() => {  // the map is on screen; its columns, filters and panels follow
      window.__firstPaintMs = performance.now();
      S.timings.firstPaint = window.__firstPaintMs - t0;
    });
    await loadColumns();
    colourOptions();
    S.groupBits = new Uint8Array(S.runs[0].n);
    S.cf = new C.CrossFilter(S.runs[0].n, S.table.filter((c) => c.bins));
    S.filterPanel = new P.FilterPanel($("filtercols"), S.table.filter((c) => c.filter && c.bins), filterHooks);
    const restored = await restoreUrl();
    await recolor();
    await view3d.init();  // 3-D view
    const notes = S.runs.filter((r) => r.note).map((r) => (S.runs.length > 1 ? r.name + ": " : "") + r.note);
    if (notes.length) { $("note").textContent = notes.join("  |  "); $("note").hidden = false; }
    adapt();
    refresh();
    S.timings.ready = performance.now() - t0;
    requestAnimationFrame(() => {
      S.ready = true;
      $("maps").setAttribute("data-ready", "1");
      stats();
    });
    setTimeout(loadTexts, 0);  // free texts in the background: the first search need not fetch them
    watchLayers();
    if (restored.sel >= 0 && restored.sel < S.runs[0].n) await select(restored.sel);
  }

  // run 0's columns (and those of a second run that run 0 lacks, or its map layers) make the table
  // that filters and search work on; free texts are fetched on the first search
  async function loadColumns() {
    S.cols = S.runs.map(() => ({}));
    const n0 = S.runs[0].n, jobs = [];
    S.runs.forEach((run, r) => run.columns.forEach((desc, j) => {
      const inTable = r === 0 || (run.n === n0 && (desc.group === "layer" || !S.runs[0].columns.some((c) => c.key === desc.key)));
      const slot = { key: r ? "r" + r + "/" + desc.key : desc.key, name: r ? run.name + ": " + desc.name : desc.name, search: desc.search, filter: desc.filter };
      if (inTable) S.table.push(slot);
      if (!inTable) return;  // (a second run's own copy of a column: fetched if it colours the map)
      if (desc.kind === "number" || desc.classes !== null) {
        jobs.push(column(run, desc.key).then((col) => Object.assign(slot, col, { key: slot.key, name: slot.name })));
      } else {
        slot.lazy = [run, desc.key];
      }
    }));
    await Promise.all(jobs);
  }
  // a run's column by key (loaded once): metadata, label, error, layers, or a latent dimension
  async function column(run, key) {
    const have = S.cols[run.id];
    if (!have[key]) {
      have[key] = (async () => {
        if (key.startsWith("latent:")) {
          const j = +key.slice(7), d = await api("runs/" + run.id + "/latent/" + j);
          return { key: key, name: "z_" + j, kind: "number", values: floats(d.values), explain: "latent dimension " + j };
        }
        const j = run.columns.findIndex((c) => c && c.key === key);
        if (j < 0) return null;
        return Object.assign(C.decode(run.columns[j], await api("runs/" + run.id + "/columns/" + j), j), { rid: run.id });
      })();
    }
    return have[key];
  }
  const tableColumn = (key) => S.table.find((c) => c.key === key);

  // --- colouring, legend, colour bar ---------------------------------------------------------------
  function colourOptions() {
    const sel = $("colorby"), run = S.runs[0], groups = { data: "Data", model: "Model", layer: "Can this map be trusted here?" };
    const byGroup = new Map();
    const seen = new Set();
    for (const r of S.runs) for (const c of r.columns) {
      if (!c.colour || seen.has(c.key)) continue;
      seen.add(c.key);
      const g = groups[c.group] || c.group;
      if (!byGroup.has(g)) byGroup.set(g, []);
      byGroup.get(g).push(c);
    }
    for (const [g, cols] of byGroup) {
      const og = document.createElement("optgroup"); og.label = g;
      for (const c of cols) { const o = document.createElement("option"); o.value = c.key; o.textContent = c.name; o.title = c.explain || ""; og.appendChild(o); }
      sel.appendChild(og);
    }
    const named = dimensionNames(run), og = document.createElement("optgroup");
    og.label = run.dimensions ? "Latent dimensions (by importance)" : "Latent dimensions (most varied first)";
    run.slider_dims.forEach((j) => {
      const o = document.createElement("option");
      o.value = "latent:" + j; o.textContent = "z_" + j + (named[j] ? ": " + named[j].name : "");
      if (named[j]) o.title = named[j].title;
      og.appendChild(o);
    });
    sel.appendChild(og);
    const none = document.createElement("option"); none.value = "none"; none.textContent = "none"; sel.appendChild(none);
    sel.value = seen.has("label") ? "label" : sel.options[0].value;
    sel.addEventListener("change", () => { recolor(); saveUrl(); });
  }
  async function recolor() {
    const key = $("colorby").value, t0 = performance.now();
    S.colour = key;
    for (const run of S.runs) {
      const deep = view3d.on && view3d.deep[run.id] === S.maps[run.id] && layers3d.has(run, key);
      const col = key === "none" ? null : deep ? await layers3d.column(run, key) : await column(run, key), m = S.maps[run.id];
      if (!col || (!col.codes && !col.values)) {
        m.setColors(new Uint8Array(run.n * 3).fill(120)); S.legends[run.id] = null; continue;
      }
      const c = C.colours(col, key.startsWith("latent:") ? "coolwarm" : "viridis");
      m.setColors(c.rgb);
      S.legends[run.id] = { key: key, col: col, legend: c.legend, scale: c.scale };
    }
    S.timings.colour = performance.now() - t0;
    if (S.contours) S.runs.forEach((run) => { const o = S.overlays[run.id]; if (o && o.available) { S.maps[run.id].captions = captions(o); S.maps[run.id].drawOverlay(); } });
    legends();
    if (S.filterPanel) S.filterPanel.update(S.cf, S.legends[0]);
  }
  function legends() {
    for (const run of S.runs) {
      const box = $("legend" + run.id), L = S.legends[run.id];
      if (!L) { box.hidden = true; continue; }
      if (L.scale) { P.colourBar(box, L.col, L.scale); continue; }
      const tcol = tableColumn(run.id ? "r" + run.id + "/" + L.key : L.key) || tableColumn(L.key);
      const spec = tcol && S.cf.get(tcol.key);
      P.legend(box, L.col, L.legend, tcol ? S.cf.counts(tcol) : null, spec ? spec.keep : null, {
        toggle: (code, solo) => { if (tcol) toggleClass(tcol, code, solo); },
      });
    }
  }

  // --- the map's layers: computed in the background by the server; offered when ready ----------------
  // /layers says "computing" until a run's layers (and its 3-D map's) are ready; the page asks again
  // each second, then adds each new layer column to the colourings, the filters and the table
  S.layerInfo = [];
  const TRUST = "Can this map be trusted here?";
  async function watchLayers() {
    await Promise.all(S.runs.map(async (run) => {
      for (let tries = 0; ; tries++) {
        let L;
        try { L = await api("runs/" + run.id + "/layers", undefined, null); } catch (e) { return; }
        S.layerInfo[run.id] = L;
        await addLayerColumns(run, L.columns || []);
        layerStatus();
        const busy = L.status === "computing" || (L.map3d && L.map3d.status === "computing");
        if (!busy) break;
        await new Promise((ok) => setTimeout(ok, tries < 10 ? 500 : 2000));
      }
      if (S.colour && S.colour.startsWith("layer:") && view3d.on) recolor();
    }));
  }
  function layerStatus() {
    const el = $("layerstatus"), L = S.layerInfo.filter(Boolean);
    const busy = L.some((x) => x.status === "computing"), busy3 = L.some((x) => x.map3d && x.map3d.status === "computing");
    const failed = L.filter((x) => x.status === "failed" || (x.map3d && x.map3d.status === "failed"));
    el.textContent = busy ? "computing layers…" : busy3 ? "computing the 3-D map's layers…" : failed.length ? "layers failed" : "";
    el.title = failed.length ? failed.map((x) => x.problem || x.map3d.problem).join("; ") : busy || busy3 ? "the map's trust layers (distortion, reconstruction error, decoder sensitivity) are being computed; they appear in the colour list when ready" : "";
    el.hidden = !el.textContent;
    const sel = $("colorby"), wait = sel.querySelector("option[value='wait:layers']");
    if (busy && !wait) {
      const o = document.createElement("option"); o.value = "wait:layers"; o.disabled = true; o.textContent = "computing layers…";
      trustGroup().appendChild(o);
    } else if (!busy && wait) wait.remove();
    const g = trustGroup(false);
    if (g && !g.children.length) g.remove();
  }
  function trustGroup(make) {
    const sel = $("colorby");
    let g = [...sel.querySelectorAll("optgroup")].find((o) => o.label === TRUST);
    if (!g && make !== false) {
      g = document.createElement("optgroup"); g.label = TRUST;
      sel.insertBefore(g, [...sel.querySelectorAll("optgroup")].find((o) => o.label.startsWith("Latent")) || null);
    }
    return g;
  }
  async function addLayerColumns(run, descs) {
    const n0 = S.runs[0].n, r = run.id;
    for (const desc of descs) {
      if (run.columns.some((c) => c && c.key === desc.key)) continue;
      run.columns[desc.index] = desc;  // the server appends: the next number
      if (r === 0 || run.n === n0) {
        const slot = { key: r ? "r" + r + "/" + desc.key : desc.key, name: r ? run.name + ": " + desc.name : desc.name, search: desc.search, filter: desc.filter };
        Object.assign(slot, await column(run, desc.key), { key: slot.key, name: slot.name });
        S.table.push(slot);
        if (slot.filter && slot.bins && S.filterPanel) S.filterPanel.add(slot);
        const spec = S.pendingFilters.get(slot.key);
        if (spec && S.cf) { S.pendingFilters.delete(slot.key); linkFilter(slot, spec); refresh(); stats(); saveUrl(); }
      }
      const sel = $("colorby");
      if (desc.colour && !sel.querySelector("option[value='" + desc.key + "']")) {
        const o = document.createElement("option"); o.value = desc.key; o.textContent = desc.name; o.title = desc.explain || "";
        (desc.group === "layer" ? trustGroup() : sel.querySelector("optgroup") || sel).appendChild(o);
        if (S.pendingColour === desc.key) { S.pendingColour = null; sel.value = desc.key; await recolor(); }
      }
    }
    if (descs.length && S.cf) S.filterPanel.update(S.cf, S.legends[0]);
  }

  // a layer's values on the 3-D map (the distortion differs from the 2-D map's), for the 3-D view
  const layers3d = {
    cache: [],
    info(run, key) {
      const L = S.layerInfo[run.id], m = L && L.map3d;
      return m && m.status === "ready" ? m.layers.find((x) => x.key === key) || null : null;
    },
    has(run, key) { return key.startsWith("layer:") && !!run.map3d; },
    async column(run, key) {
      const x = this.info(run, key);
      if (!x) return null;  // not computed yet: grey, said by the header's layer status
      const c = this.cache[run.id] || (this.cache[run.id] = {});
      const own = tableColumn((run.id ? "r" + run.id + "/" : "") + "layer3d:" + x.name);  // the 3-D filter's column
      if (own) return own;
      if (!c[key]) {
        const d = await api("runs/" + run.id + "/layers/" + x.name + "?dims=3");
        c[key] = { key: key, name: x.title + " · 3-D map", kind: "number", values: floats(d.values), explain: x.explain };
      }
      return c[key];
    },
  };

  // --- filters, search, groups: one state byte per row -----------------------------------------------
  const filterHooks = {
    toggle: (col, code, solo) => toggleClass(col, code, solo),
    range: (col, lo, hi) => setFilter(col, lo === null ? null : { lo: lo, hi: hi }),
    clear: (col) => setFilter(col, null),
  };
  function toggleClass(col, code, solo) {
    const cur = S.cf.get(col.key), keep = cur ? Uint8Array.from(cur.keep) : new Uint8Array(col.names.length).fill(1);
    if (solo) {
      const only = keep.every((v, k) => !!v === (k === code));
      keep.fill(only ? 1 : 0); keep[code] = 1;
    } else {
      keep[code] = keep[code] ? 0 : 1;
    }
    setFilter(col, keep.every(Boolean) ? null : { keep: keep });
  }
  function setFilter(col, spec) {
    const t0 = performance.now();
    S.cf.set(col, spec);
    refresh();
    S.timings.filter = performance.now() - t0;
    stats(); saveUrl();
  }
  // every map's state bytes from the filters, the search and the groups; the panels' counts (they
  // depend on the filters alone: `counts` false when only the search or the groups changed)
  function refresh(counts) {
    const n = S.runs[0].n, st = new Uint8Array(n), mask = S.cf.mask, m = S.match, g = S.groupBits;
    if (m) for (let i = 0; i < n; i++) st[i] = (mask[i] ? 1 : 0) | (m[i] ? 0 : 2) | g[i];
    else for (let i = 0; i < n; i++) st[i] = (mask[i] ? 1 : 0) | g[i];
    S.stateBytes = st;
    const any = (S.cf.shown < n ? 1 : 0) | (m ? 2 : 0) | (S.groupA.length ? 4 : 0) | (S.groupB.length ? 8 : 0);
    for (const run of S.runs) {
      const map = S.maps[run.id];
      if (run.n !== n || !map.setState) continue;
      map.marks = S.matchRows || [];
      map.setState(st, any);
    }
    if (counts !== false) { S.filterPanel.update(S.cf, S.legends[0]); legends(); }
    const active = S.cf.filters.size;
    $("shown").textContent = active ? S.cf.shown.toLocaleString() + " of " + n.toLocaleString() + " shown" : n.toLocaleString() + " items";
    $("clearfilters").hidden = !active;
    searchCount();
    statsSoon();
  }
  $("clearfilters").addEventListener("click", () => {
    const t0 = performance.now();
    for (const key of [...S.cf.filters.keys()]) S.cf.set(tableColumn(key), null);
    refresh(); S.timings.filter = performance.now() - t0; saveUrl();
  });

  let searchFrame = 0;
  $("search").addEventListener("input", () => { if (!searchFrame) searchFrame = requestAnimationFrame(() => { searchFrame = 0; runSearch(); }); });
  $("search").addEventListener("keydown", (e) => { if (e.key === "Escape") { $("search").value = ""; runSearch(); } });
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && document.activeElement.tagName !== "INPUT") { e.preventDefault(); $("search").focus(); }
  });
  // free texts, fetched once: in the background after start-up (a slot keeps `lazy` until its
  // texts are here); a search typed before then asks the server for those columns (one bit a row:
  // 125 kB at 1M rows, where the texts can be tens of MB)
  let textsLoaded = null;
  function loadTexts() {
    if (!textsLoaded) textsLoaded = Promise.all(S.table.filter((c) => c.lazy).map(async (slot) => {
      const [run, key] = slot.lazy;
      Object.assign(slot, await column(run, key), { key: slot.key, name: slot.name });
      delete slot.lazy;
    }));
    return textsLoaded;
  }
  const MAX_QUERY = 200;  // characters the server searches (data_routes.MAX_QUERY)
  async function runSearch() {
    const q = $("search").value;
    S.query = q;
    let waiting = [];
    if (q.trim()) {
      loadTexts();
      if (q.trim().length > MAX_QUERY) await loadTexts();
      waiting = S.table.filter((c) => c.lazy && c.search).map((c) => {
        const [run, key] = c.lazy;
        return { rid: run.id, index: run.columns.findIndex((d) => d && d.key === key) };
      });
    }
    if (S.query !== q) return;
    const t0 = performance.now(), r = C.search(S.runs[0].n, S.table, q);
    for (const col of r.remote.concat(waiting)) {
      const a = await api("runs/" + col.rid + "/columns/" + col.index + "/search?q=" + encodeURIComponent(q.trim()));
      if (S.query !== q) return;
      r.count += C.orBits(r.match, a.bits);
    }
    S.match = r.match;
    S.matchCount = r.count;
    S.matchRows = [];
    if (r.match && S.matchCount <= MARKED) for (let i = 0; i < r.match.length; i++) if (r.match[i]) S.matchRows.push(i);
    refresh(false);
    S.timings.search = performance.now() - t0;
    S.searched = q;
    stats(); saveUrl();
  }
  function searchCount() {
    const el = $("searchcount");
    el.parentNode.classList.toggle("counted", !!S.match);
    if (!S.match) { el.textContent = ""; el.className = ""; return; }
    let shown = 0;
    if (S.cf.filters.size) { const m = S.match, mask = S.cf.mask; for (let i = 0; i < m.length; i++) if (m[i] && !mask[i]) shown++; }
    el.textContent = S.matchCount ? S.matchCount.toLocaleString() + (S.matchCount === 1 ? " match" : " matches") : "no match";
    el.title = S.cf.filters.size ? shown.toLocaleString() + " of them shown (the filters hide the rest)" : "";
    el.className = S.matchCount ? "hit" : "";
  }

  // lasso groups: bits 4 (A) and 8 (B) of the state byte, kept until cleared
  async function setGroup(which, rows, add) {
    const bit = which === "A" ? 4 : 8, g = S.groupBits, off = ~bit & 255;
    if (!add) for (let i = 0; i < g.length; i++) g[i] &= off;
    for (const i of rows) g[i] |= bit;
    const out = [];
    for (let i = 0; i < g.length; i++) if (g[i] & bit) out.push(i);
    S["group" + which] = out;
    $("na").textContent = S.groupA.length.toLocaleString(); $("nb").textContent = S.groupB.length.toLocaleString();
    refresh(false);
    S.packed[which] = await U.groupToUrl(out);
    saveUrl();
  }
  $("cleargroups").addEventListener("click", () => { setGroup("A", [], false); setGroup("B", [], false); });

  // --- the item under the pointer ---------------------------------------------------------------------
  const views = new Map();
  async function hover(run, i, e) {
    const tip = $("tip");
    if (i < 0 || !e) { tip.style.display = "none"; return; }
    tip.textContent = "";
    const b = document.createElement("b"); b.textContent = "#" + i; tip.appendChild(b);
    tip.style.left = Math.min(e.clientX + 14, innerWidth - 330) + "px"; tip.style.top = Math.min(e.clientY + 14, innerHeight - 200) + "px";
    tip.style.display = "block";
    const key = run.id + ":" + i;
    if (!views.has(key)) {
      const r = await fetch("/api/runs/" + run.id + "/items/" + i + "/view", { headers: { "X-Token": token } });
      if (!r.ok) return;
      views.set(key, await r.json());
    }
    if (S.maps[run.id].hoverIdx !== i || tip.style.display === "none") return;
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
      const s = shownValue(x);
      line(k + ": " + (s.length > 60 ? s.slice(0, 57) + "…" : s), "tipmeta");
    });
  }
  const hideTip = () => { $("tip").style.display = "none"; };

  function wire(run, sc) {
    sc.onHover = (i, e) => hover(run, i, e);
    sc.onClick = (i, x, y) => { hideTip(); S.active = run.id; adapt(); i >= 0 ? select(i) : decodeAt(run, x, y); };
    sc.onLasso = (ids, add) => { S.active = run.id; setGroup(S.mode === "B" ? "B" : "A", ids, add); };
    sc.onView = () => { saveUrl(); statsSoon(); };
    sc.lassoMode = S.mode !== "pan";
  }

  // --- tabs -------------------------------------------------------------------------------------------
  function showTab(name) {
    if (!$("tab-" + name)) return;
    S.tab = name;
    document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("on", b.dataset.tab === name));
    document.querySelectorAll("#panel .tab").forEach((t) => { t.hidden = t.id !== "tab-" + name; });
    saveUrl();
  }
  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));

  // what the panels say, for the active run: decoded items, or the nearest real items
  function adapt() {
    const run = S.runs[S.active], dec = run.has_decoder;
    const fitted = run.model === "embeddings" ? "a Gaussian fitted to the vectors" : "the model's prior";
    const set = (sel, text) => { const e = document.querySelector(sel); if (e) e.textContent = text; };
    set("#sliders .title", dec ? "Latent sliders" : "Latent sliders: nearest real items");
    set("#space .title", dec ? "Decoded from the map" : "Nearest real items to a map point");
    set("#interp .title", dec ? "Interpolation" : "Interpolation: nearest real items");
    set("#attr .title", dec ? "Attribute vector (A → B)" : "Attribute vector (A → B): analogy");
    set("#samples .title", dec ? "Samples from the prior" : "Nearest real items to draws from " + fitted);
    set("#samples .hint", dec ? "Eight draws from " + fitted + ", decoded, and where they land on the map." : "");
    if (!dec) set("#interp .hint", "The real item nearest each step of the latent path from A to B.");
    $("sample").disabled = !run.can_sample;
    if (!run.can_sample) set("#samples .hint", "This run's model cannot draw from a prior.");
  }

  // --- the selected item ------------------------------------------------------------------------------
  async function select(i) {
    S.selected = i;
    const figs = [];
    let first = null;
    for (const run of S.runs) {
      const r = await api("runs/" + run.id + "/items/" + i, undefined, $("sel"));
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
    S.itemZ = first.z;
    buildSliders(run, first.z);
    saveUrl();
  }

  // --- sliders: one per latent dimension (the 16 that vary most), live decode -------------------
  let inflight = false, pending = null;
  function buildSliders(run, z) {
    S.z = z.slice(); S.z0 = z.slice();
    const rows = $("sliders").querySelector(".rows");
    rows.textContent = "";
    $("sliders").querySelector(".hint").textContent = run.has_decoder ? "" : "Moving a slider shows the real items nearest the slider point.";
    const named = dimensionNames(run);
    for (const j of run.slider_dims) {
      const lab = document.createElement("label"), name = document.createElement("b"), inp = document.createElement("input"), val = document.createElement("span");
      name.textContent = "z_" + j;
      lab.appendChild(name);
      if (named[j]) {  // interpret.json's name for it; its full text (the tie and its strength) on hover
        const t = document.createElement("em");
        t.className = "dimname"; t.textContent = named[j].name;
        lab.title = named[j].title;
        lab.classList.toggle("inactive", named[j].inactive);
        lab.appendChild(t);
      }
      const span = 4 * run.std[j];
      inp.type = "range"; inp.min = run.mean[j] - span; inp.max = run.mean[j] + span; inp.step = span / 50; inp.value = z[j];
      inp.dataset.dim = j;
      val.textContent = (+z[j]).toFixed(2);
      inp.addEventListener("pointerdown", () => traversalPath(run, j));
      inp.addEventListener("input", () => { S.z[j] = +inp.value; val.textContent = (+inp.value).toFixed(2); liveDecode(run); });
      lab.appendChild(inp); lab.appendChild(val);
      rows.appendChild(lab);
    }
    liveDecode(run);
  }
  // dimension j -> {name, title, inactive} from interpret.json (run.dimensions), when the run has one
  function dimensionNames(run) {
    const out = {};
    (run.dimensions || []).forEach((d, k) => {
      out[d.dim] = { name: d.name, title: (run.dimension_titles && run.dimension_titles[k]) || "z_" + d.dim + ": " + d.name, inactive: !!d.inactive };
    });
    return out;
  }
  async function liveDecode(run) {
    if (inflight) { pending = run; return; }
    inflight = true;
    try {
      let r;
      if (run.has_decoder && run.image) {  // the PNG as bytes, its place in a header
        const body = JSON.stringify({ z: S.z, place: true, png: true });
        const resp = await call("runs/" + run.id + "/decode", { method: "POST", body, headers: { "Content-Type": "application/json" } }, $("sliders"));
        r = JSON.parse(resp.headers.get("X-Place"));
        const url = URL.createObjectURL(await resp.blob()), f = figure(run, "", "decoded");
        f.querySelector("img").src = url;
        fill($("sliders").querySelector(".decoded"), [f]);
        if (S.sliderUrl) URL.revokeObjectURL(S.sliderUrl);
        S.sliderUrl = url;
      } else if (run.has_decoder) {
        r = await api("runs/" + run.id + "/decode", { z: S.z, place: true }, $("sliders"));
        fill($("sliders").querySelector(".decoded"), [figure(run, r.item, "decoded")]);
      } else {
        r = await api("runs/" + run.id + "/nearest", { z: S.z, k: 4, place: true }, $("sliders"));
        fill($("sliders").querySelector(".decoded"), nearestFigures(r, (k, v) => "#" + v.row + " d=" + short(r.distances[k])));
      }
      support($("sliders").querySelector(".support"), r.data_distance);
      const m = S.maps[run.id];
      m.extra = [{ x: r.position[0], y: r.position[1], color: "#ff7f0e" }];
      m.drawOverlay();
      S.decodes++;
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
  // its size on each side (web/state.py: RunState.map_box); a click in the far void lands on its edge
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

  // how far a decoded point lies from the data (the server's data_distance), said under it; a warning
  // when it is off the data (the decoder extrapolates there)
  function support(el, d) {
    el.classList.remove("off");
    if (!d) { el.textContent = ""; return; }
    if (d.typical === null) {
      el.textContent = "The nearest real item, #" + d.row + ", is " + short(d.distance) + " away (the typical neighbour distance is still being computed).";
      return;
    }
    const ratio = d.ratio === null ? "∞" : d.ratio.toFixed(1) + "×";
    el.textContent = (d.off_data ? "Off the data: " : "") + "the nearest real item, #" + d.row + ", is " + ratio +
      " the typical neighbour distance away" + (d.off_data ? " (over " + d.limit + "×): what is decoded here is extrapolated." : ".");
    el.classList.toggle("off", !!d.off_data);
  }

  // --- density contours and captioned regions (the server's /overlay), drawn on every 2-D map --------
  async function showContours(on) {
    S.contours = on;
    $("contours").setAttribute("aria-pressed", on ? "true" : "false");
    for (const run of S.runs) {
      const m = S.maps[run.id];
      if (!on) { m.contours = []; m.captions = []; m.drawOverlay(); continue; }
      const o = S.overlays[run.id] || (S.overlays[run.id] = await api("runs/" + run.id + "/overlay", undefined, null));
      if (!o.available) { status(o.reason || "no contours for this map"); continue; }
      m.contours = o.contours.map((k, j) => ({ lines: k.lines, width: 1 + 0.5 * j, alpha: 0.35 + 0.15 * j }));
      m.captions = captions(o);
      m.drawOverlay();
    }
    saveUrl();
  }
  // each dense region's most common value (and its share) in the colouring's column when it is a
  // category the server captions by, else in the first it does (the label)
  function captions(o) {
    const by = Array.isArray(o.caption_by) ? o.caption_by : [o.caption_by], key = S.colour || "";
    const name = key === "label" ? "label" : key.startsWith("meta:") ? key.slice(5) : null;
    const col = by.indexOf(name) >= 0 ? name : by[0];
    return o.regions.map((g) => {
      const c = g.captions && g.captions[col];
      return { x: g.x, y: g.y, text: c ? c.value + " " + Math.round(100 * c.share) + "%" : "" };
    }).filter((t) => t.text);
  }
  S.overlays = [];
  $("contours").addEventListener("click", () => showContours(!S.contours).catch((e) => status("contours: " + e.message)));

  // --- click on empty space: the map position back to a latent, decoded; without a decoder, the
  // real items nearest that map position ----------------------------------------------------------
  async function decodeAt(run, x, y) {
    [x, y] = onMap(run, x, y);
    if (S.tab !== "sliders") showTab("item");
    const r = await api("runs/" + run.id + "/inverse", { point: [x, y] }, $("space"));
    const at = "(" + x.toFixed(2) + ", " + y.toFixed(2) + ")";
    const m = S.maps[run.id];
    S.spaceDistance = r.data_distance || null;
    support($("space").querySelector(".support"), r.data_distance);
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
  $("seta").addEventListener("click", () => { if (S.selected >= 0) { S.A = S.selected; $("ia").textContent = "#" + S.A; saveUrl(); } });
  $("setb").addEventListener("click", () => { if (S.selected >= 0) { S.B = S.selected; $("ib").textContent = "#" + S.B; saveUrl(); } });
  $("igo").addEventListener("click", async () => {
    if (S.A === null || S.B === null) { status("set A and B first"); return; }
    const run = S.runs[S.active];
    const r = await api("runs/" + run.id + "/interpolate", { a: S.A, b: S.B, steps: +$("isteps").value, method: $("imethod").value }, $("interp"));
    const m = S.maps[run.id];
    m.paths = [{ points: r.positions, color: "#d62728" }]; m.drawOverlay();
    if (run.has_decoder) {
      fill($("interp").querySelector(".strip"), r.items.map((it, k) => figure(run, it, "t=" + r.t[k].toFixed(2))));
    } else {
      S.interpRows = r.rows;
      fill($("interp").querySelector(".strip"), nearestFigures(r, (k, v) => "t=" + r.t[k].toFixed(2) + " #" + v.row));
    }
  });

  // --- attribute vectors: a strip at fixed alphas, and one frame that follows the slider live ----------
  async function attribute() {
    if (!S.groupA.length || !S.groupB.length || S.selected < 0) { status("lasso group A and group B, then select an item"); return; }
    const run = S.runs[S.active], item = S.selected;
    const r = await api("runs/" + run.id + "/attribute", { group_a: S.groupA, group_b: S.groupB, item: item, alphas: ALPHAS }, $("attr"));
    S.attr = { run: run, z: S.itemZ, v: r.direction, item: item };
    const pick = (a) => () => { $("alpha").value = a; liveAlpha(); };
    const figs = run.has_decoder
      ? r.items.map((it, k) => figure(run, it, "α=" + r.alphas[k], pick(r.alphas[k])))
      : r.views.map((v, k) => viewFigure(v, "α=" + r.alphas[k] + " #" + v.row, pick(r.alphas[k])));
    figs.forEach((f, k) => { f.dataset.alpha = r.alphas[k]; });
    fill($("attr").querySelector(".strip"), figs);
    if (!run.has_decoder) S.attrRows = r.rows;
    const m = S.maps[run.id];
    m.paths = [{ points: r.positions, color: "#17becf" }]; m.drawOverlay();
    liveAlpha();
  }
  let alphaBusy = false, alphaPending = false;
  async function liveAlpha() {
    const a = +$("alpha").value;
    $("alphav").textContent = a.toFixed(2);
    let best = null;
    $("attr").querySelectorAll(".strip figure").forEach((f) => {
      f.classList.remove("current");
      if (!best || Math.abs(+f.dataset.alpha - a) < Math.abs(+best.dataset.alpha - a)) best = f;
    });
    if (best) best.classList.add("current");
    if (!S.attr) return;
    if (alphaBusy) { alphaPending = true; return; }
    alphaBusy = true;
    try {
      const { run, z, v } = S.attr, lo = (j) => run.mean[j] - 5.999 * run.std[j], hi = (j) => run.mean[j] + 5.999 * run.std[j];
      const za = z.map((x, j) => Math.min(hi(j), Math.max(lo(j), x + a * v[j])));
      let r, f;
      if (run.has_decoder) {
        r = await api("runs/" + run.id + "/decode", { z: za, place: true }, $("attr"));
        f = figure(run, r.item, "α = " + a.toFixed(2));
      } else {
        r = await api("runs/" + run.id + "/nearest", { z: za, k: 1, place: true }, $("attr"));
        f = viewFigure(r.views[0], "α = " + a.toFixed(2) + " · #" + r.rows[0]);
      }
      f.dataset.alpha = a;
      fill($("attr").querySelector(".live"), [f]);
      support($("attr").querySelector(".support"), r.data_distance);
      const m = S.maps[run.id];
      m.extra = [{ x: r.position[0], y: r.position[1], color: "#17becf" }]; m.drawOverlay();
      S.alphaFrames++;
    } finally {
      alphaBusy = false;
      if (alphaPending) { alphaPending = false; liveAlpha(); }
    }
  }
  $("ago").addEventListener("click", attribute);
  $("alpha").addEventListener("input", liveAlpha);

  // --- samples ------------------------------------------------------------------------------------
  let seed = 0;
  $("sample").addEventListener("click", async () => {
    const run = S.runs[S.active];
    showTab("samples");
    const r = await api("runs/" + run.id + "/sample", { n: 8, seed: seed++ }, $("samples"));
    const m = S.maps[run.id];
    m.extra = r.positions.map((p) => ({ x: p[0], y: p[1], color: "#ff7f0e" })); m.drawOverlay();
    if (run.has_decoder) {
      fill($("samples").querySelector(".strip"), r.items.map((it, k) => figure(run, it, "sample " + (k + 1))));
    } else {
      fill($("samples").querySelector(".strip"), nearestFigures(r, (k, v) => "draw " + (k + 1) + " #" + v.row));
    }
  });

  // --- modes, view, exports -------------------------------------------------------------------------
  document.querySelectorAll(".modes button").forEach((b) => b.addEventListener("click", () => {
    S.mode = b.dataset.mode;
    document.querySelectorAll(".modes button").forEach((o) => o.classList.toggle("on", o === b));
    for (const m of S.maps) { m.lassoMode = S.mode !== "pan"; m.lassoColor = S.mode === "B" ? [0, 150, 136] : [230, 0, 126]; }
  }));
  $("reset").addEventListener("click", () => S.maps.forEach((m) => m.reset()));
  $("togglefilters").addEventListener("click", () => {
    const off = document.body.classList.toggle("nofilters");
    $("togglefilters").setAttribute("aria-pressed", off ? "false" : "true");
    saveUrl();
  });
  function download(blob, name) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob); a.download = name;
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }
  const fileName = (s) => s.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60) || "run";
  $("exportcsv").addEventListener("click", async () => {
    if (!S.groupA.length && !S.groupB.length) { status("lasso group A or B first: the CSV holds their rows"); return; }
    const run = S.runs[S.active];
    const body = { a: S.groupA.length ? await U.pack(S.groupA) : null, b: S.groupB.length ? await U.pack(S.groupB) : null };
    const r = await call("runs/" + run.id + "/export", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } }, null);
    download(await r.blob(), fileName(run.name) + "-selection.csv");
    status("saved the " + (S.groupA.length + S.groupB.length).toLocaleString() + " rows of groups A and B as CSV");
  });
  $("exportpng").addEventListener("click", () => {
    const shots = S.maps.map((m) => m.snapshot ? m.snapshot() : m.base), gap = 8;
    const c = document.createElement("canvas");
    c.width = shots.reduce((w, s) => w + s.width, 0) + gap * (shots.length - 1);
    c.height = Math.max(...shots.map((s) => s.height));
    const g = c.getContext("2d");
    g.fillStyle = "#fff"; g.fillRect(0, 0, c.width, c.height);
    let x = 0;
    shots.forEach((s, r) => { g.drawImage(s, x, 0); drawLegend(g, r, x + s.width, (S.maps[r].dpr || 1)); x += s.width + gap; });
    c.toBlob((b) => download(b, fileName(S.runs.map((r) => r.name).join("+")) + "-map.png"), "image/png");
  });
  // the legend or colour bar of map r, drawn into the PNG at its top-right corner
  function drawLegend(g, r, right, k) {
    const L = S.legends[r];
    if (!L) return;
    g.save(); g.scale(k, k); right /= k;
    g.font = "12px system-ui, sans-serif"; g.textBaseline = "middle";
    const rows = L.scale ? 2 : Math.min(L.col.names.length, 24), w = 170, h = 22 + rows * 16;
    g.fillStyle = "rgba(255,255,255,0.92)"; g.fillRect(right - w - 8, 8, w, h);
    g.fillStyle = "#1d2330"; g.fillText(L.col.name, right - w, 20);
    if (L.scale) {
      for (let j = 0; j < 140; j++) { g.fillStyle = "rgb(" + C.rampColour(L.scale.stops, j / 139).join(",") + ")"; g.fillRect(right - w + j, 30, 1, 10); }
      g.fillStyle = "#6b7280"; g.fillText(P.fmt(L.scale.lo), right - w, 50); g.fillText(P.fmt(L.scale.hi), right - w + 110, 50);
    } else {
      for (let j = 0; j < rows; j++) {
        g.fillStyle = "rgb(" + L.legend[j].join(",") + ")"; g.beginPath(); g.arc(right - w + 5, 36 + 16 * j, 5, 0, 7); g.fill();
        g.fillStyle = "#1d2330"; g.fillText(String(L.col.names[j]).slice(0, 22), right - w + 16, 36 + 16 * j);
      }
    }
    g.restore();
  }
  $("copylink").addEventListener("click", async () => {
    writeUrl();
    try { await navigator.clipboard.writeText(location.href); status("copied a link to this view (it holds no token)"); }
    catch (e) { status("copy the address bar: it holds this view"); }
  });

  // --- the view in the URL (urlstate.js) ----------------------------------------------------------------
  let urlTimer = 0;
  function saveUrl() { clearTimeout(urlTimer); urlTimer = setTimeout(writeUrl, 250); }
  function writeUrl() {
    if (!S.ready) return;
    const st = { c: S.colour, q: S.query, t: S.tab === "item" ? "" : S.tab, sel: S.selected >= 0 ? S.selected : "",
      a: S.packed.A, b: S.packed.B, ia: S.A === null ? "" : S.A, ib: S.B === null ? "" : S.B,
      fp: document.body.classList.contains("nofilters") === (S.runs.length > 1) ? "" : document.body.classList.contains("nofilters") ? "0" : "1",
      o: S.contours ? 1 : "" };
    const f = [];
    for (const [key, x] of S.cf.filters) {
      if (x.spec.keep) { const h = []; x.spec.keep.forEach((v, k) => { if (!v) h.push(k); }); f.push([key, { h: h }]); }
      else f.push([key, { r: [x.spec.lo, x.spec.hi] }]);
    }
    for (const [key, spec] of S.pendingFilters) f.push([key, spec]);  // a link's, its layer not ready yet
    if (f.length) st.f = JSON.stringify(f);
    S.runs.forEach((run) => {  // the 2-D window (v), the 3-D camera (k), which is shown (d)
      const r = run.id, flat = view3d.flat[r] || S.maps[r], deep = view3d.deep[r];
      if (flat && flat.view && flat.view.x0 !== undefined) st["v" + r] = U.view(flat.view);
      if (deep && deep.cam) st["k" + r] = U.camera(deep.cam);
    });
    if (view3d.on) st.d = "3";
    U.write(st);
  }
  // a filter as a link writes it (see saveUrl): {h: hidden class codes} or {r: [lo, hi]}
  function linkFilter(col, spec) {
    if (!col.bins) return;
    if (spec.h && col.codes) {
      const keep = new Uint8Array(col.names.length).fill(1);
      for (const k of spec.h) if (k >= 0 && k < keep.length) keep[k] = 0;
      S.cf.set(col, { keep: keep });
    } else if (spec.r && col.values) {
      S.cf.set(col, { lo: +spec.r[0], hi: +spec.r[1] });
    }
  }
  async function restoreUrl() {
    const h = U.read(), n = S.runs[0].n;
    const option = (v) => [...$("colorby").options].some((o) => o.value === v);
    if (h.c && option(h.c)) $("colorby").value = h.c;
    else if (h.c && /^(layer:|error$)/.test(h.c)) S.pendingColour = h.c;  // offered once the layers are ready
    if (h.fp === "0") document.body.classList.add("nofilters");
    if (h.fp === "1") document.body.classList.remove("nofilters");
    if (h.f) {
      try {
        for (const [key, spec] of JSON.parse(h.f)) {
          const col = tableColumn(key);
          if (col) linkFilter(col, spec);
          else if (/^(layer3?d?:|error$)/.test(key)) S.pendingFilters.set(key, spec);  // set once the layers are ready
        }
      } catch (e) { status("this link's filters could not be read"); }
    }
    for (const [g, G] of [["a", "A"], ["b", "B"]]) {
      if (!h[g]) continue;
      try {
        const rows = await U.groupFromUrl(h[g], n), bit = G === "A" ? 4 : 8;
        for (const i of rows) S.groupBits[i] |= bit;
        S["group" + G] = rows; S.packed[G] = h[g];
      } catch (e) { status(e.message); }
    }
    $("na").textContent = S.groupA.length.toLocaleString(); $("nb").textContent = S.groupB.length.toLocaleString();
    if (h.q) { $("search").value = h.q; await runSearch(); }
    if (h.t) showTab(h.t);
    const row = (v) => (v !== undefined && /^\d+$/.test(v) && +v < n ? +v : null);
    if (row(h.ia) !== null) { S.A = row(h.ia); $("ia").textContent = "#" + S.A; }
    if (row(h.ib) !== null) { S.B = row(h.ib); $("ib").textContent = "#" + S.B; }
    S.maps.forEach((m, r) => { const v = U.parseView(h["v" + r]); if (v && m.setView) m.setView(v); });
    S.restore3d = h;  // the 3-D view and its cameras: view3d.init
    if (h.o === "1") showContours(true).catch((e) => status("contours: " + e.message));
    return { sel: h.sel !== undefined && /^\d+$/.test(h.sel) ? +h.sel : -1 };
  }

  // --- 3-D view ---
  // A run with a stored 3-D map (`latentspace map RUN --dims 3`) can be seen in 3-D: a header button
  // swaps each such run's LatentScatter for a LatentScatter3D (scatter3d.js, loaded on first use) in
  // the same box, with the same colours, selection, highlights, lasso mode and handlers (wire), so
  // S.maps[run.id] is always the view on screen. The server says which maps exist (run.maps, run.map3d)
  // and which view to open (run.view: `explore RUN --map umap-3d`). Paths and points placed by 2-D map
  // positions stay on the 2-D view; a click on empty space in 3-D names no map position and does nothing.
  const view3d = {
    on: false, flat: [], deep: [], cams: [],
    async init() {
      const runs = S.runs.filter((r) => r.map3d);
      S.view3d = this;
      if (!runs.length) return;
      const b = document.createElement("button");
      b.id = "view3d"; b.textContent = "3-D view";
      b.title = "the run's 3-D " + runs[0].map3d + " map: drag to orbit, shift- or right-drag to pan, wheel to zoom";
      $("reset").insertAdjacentElement("beforebegin", b);
      b.addEventListener("click", () => this.show(!this.on).then(saveUrl).catch((e) => status("3-D view: " + e.message)));
      // a link says whether it was in 3-D (d=3) and each run's camera (k0, k1); else the server's view
      const h = S.restore3d || {}, linked = Object.keys(h).length > 0;
      runs.forEach((r) => { const cam = U.parseCamera(h["k" + r.id]); if (cam) this.cams[r.id] = cam; });
      if (linked ? h.d === "3" : S.runs.some((r) => r.view === "3d")) await this.show(true);
    },
    script() {
      return this.loading || (this.loading = new Promise((ok, bad) => {
        if (window.LatentScatter3D) { ok(); return; }
        const s = document.createElement("script");
        s.src = "/static/scatter3d.js"; s.onload = ok;
        s.onerror = () => bad(new Error("scatter3d.js did not load"));
        document.head.appendChild(s);
      }));
    },
    async show(on) {
      await this.script();
      for (const run of S.runs.filter((r) => r.map3d)) {
        if (!this.flat[run.id]) this.flat[run.id] = S.maps[run.id];
        if (on && !this.deep[run.id]) {
          const d = await api("runs/" + run.id + "/map3d");
          const v = new LatentScatter3D($("map" + run.id), { x: floats(d.x), y: floats(d.y), z: floats(d.z) });
          this.deep[run.id] = v;
          if (this.cams[run.id]) v.setView(this.cams[run.id]);  // the camera of a link
          this.hide(v, true);
        }
        const from = S.maps[run.id], to = on ? this.deep[run.id] : this.flat[run.id];
        if (from === to) continue;
        this.hide(from, true); this.hide(to, false);
        for (const k of ["selected", "highlight", "marks", "lassoMode", "lassoColor", "groupColors"]) if (from[k] !== undefined) to[k] = from[k];
        to.hoverIdx = -1;
        S.maps[run.id] = to;
        wire(run, to);
        to.resize();
        if (from.state && to.setState) to.setState(from.state);
        to.setColors(from.colors);
        this.caption(run, on);
      }
      this.on = on;
      if (S.colour && layers3d.has(S.runs[0], S.colour)) await recolor();  // the layer of the map shown
      const b = $("view3d");
      b.textContent = on ? "2-D view" : "3-D view"; b.setAttribute("aria-pressed", on ? "true" : "false");
      $("maps").setAttribute("data-view", on ? "3d" : "2d");
    },
    hide(v, hidden) { for (const c of [v.base, v.overlay]) c.style.display = hidden ? "none" : ""; },
    // which map is shown, and how to move it, in the 3-D view's lower right corner
    caption(run, on) {
      let c = document.getElementById("view3d-caption" + run.id);
      if (!c) {
        c = document.createElement("div");
        c.id = "view3d-caption" + run.id;
        c.style.cssText = "position:absolute;right:8px;bottom:6px;z-index:2;pointer-events:none;font-size:11px;color:#666;background:#fffc;padding:1px 5px";
        c.textContent = "3-D " + run.map3d + " map · drag: turn · shift- or right-drag: pan · wheel: zoom";
        $("map" + run.id).appendChild(c);
      }
      c.hidden = !on;
    },
  };
  // --- end 3-D view ---

  start().catch((e) => status("could not load: " + e.message +
    (token ? "" : " (no token: open the address `latentspace explore` printed)")));

  /* The launch token arrives once, in the URL that `latentspace explore` prints. It is kept in this
   * tab's sessionStorage (scoped to this origin, port included; never sent by the browser on its own,
   * so the API stays header-only and cannot be driven by another page) and removed from the address
   * bar at once, so it is in no screenshot, shared link or history entry; the server's
   * Referrer-Policy: no-referrer keeps it out of Referer headers. A reload reads it back. The view
   * (urlstate.js) lives in the fragment, which is kept. */
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
