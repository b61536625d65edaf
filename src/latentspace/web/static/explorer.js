/* latentspace explorer: the map (LatentScatter), the columns it is coloured, filtered and searched by
 * (columns.js, panels.js), the view kept in the URL (urlstate.js), and the tabs that steer the model
 * through the local API. Every API call carries the launch token; a call that takes over 200 ms shows
 * the busy indicator; user-provided text goes in as text nodes.
 *
 * This file is the core: the page's state S (window.explorer), the calls, start-up, the columns,
 * filters, search and lasso groups, the tabs. The rest comes in three parts, loaded before it, each a
 * function in window.LatentExplorerParts that the core calls once with `ctx`, before start:
 *   model (explorer_model.js): figures, the tooltip, the selected item, sliders, a click on empty
 *     space, interpolation, attribute vectors, samples; offers select, decodeAt, hover, hideTip;
 *   map (explorer_map.js): colouring and legends, the map's layers, contours, the 3-D view, the
 *     header's modes and exports; offers colourOptions, recolor, legends, watchLayers, showContours,
 *     view3d;
 *   url (explorer_url.js): the view in the URL; offers saveUrl, linkFilter, restoreUrl.
 * ctx holds S and the core's helpers when a part is called; each part adds what it offers, and the
 * others look those up on ctx when they call them (so the order the parts are set up in is free). */
(function () {
  "use strict";
  const token = launchToken();
  const $ = (id) => document.getElementById(id);
  const C = window.LatentColumns, P = window.LatentPanels, U = window.LatentUrl;
  const MARKED = 300;  // search matches ringed on the map when there are at most this many
  const S = {
    runs: [], maps: [], data: [], active: 0, selected: -1, A: null, B: null, groupA: [], groupB: [],
    z: null, mode: "pan", tab: "item", table: [], colour: null, legends: [], query: "", match: null,
    matchCount: 0, packed: { A: "", B: "" }, decodes: 0, alphaFrames: 0, busyShown: 0, pendingFilters: new Map(),
    timings: { firstPaint: null, filter: null, search: null, call: null },
  };
  window.explorer = S;
  const ctx = { S: S };  // filled at the end of this file, then by the parts
  // the parts' functions, looked up when called
  const select = (i) => ctx.select(i), saveUrl = () => ctx.saveUrl(), legends = () => ctx.legends();

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
    if (S.match) parts.push(S.matchCount.toLocaleString() + (S.matchCount === 1 ? " match" : " matches"));
    if (S.groupA.length || S.groupB.length) parts.push("A " + S.groupA.length.toLocaleString() + ", B " + S.groupB.length.toLocaleString());
    parts.push("frame " + ms(m.frameMs ? m.frameMs() : m.lastDrawMs || 0) + " (" + m.mode + ")");
    if (t.filter !== null) parts.push("filter " + ms(t.filter));
    if (t.search !== null) parts.push("search " + ms(t.search));
    if (t.call) parts.push("last call (" + t.call.name + ") " + ms(t.call.ms));
    if (t.firstPaint !== null) parts.push("first paint " + Math.round(t.firstPaint) + " ms" + (t.ready ? ", ready " + Math.round(t.ready) + " ms" : ""));
    $("stats").textContent = parts.join(" · ");
  }

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
    ctx.colourOptions();
    S.groupBits = new Uint8Array(S.runs[0].n);
    S.cf = new C.CrossFilter(S.runs[0].n, S.table.filter((c) => c.bins));
    S.filterPanel = new P.FilterPanel($("filtercols"), S.table.filter((c) => c.filter && c.bins), filterHooks);
    const restored = await ctx.restoreUrl();
    await ctx.recolor();
    await ctx.view3d.init();  // 3-D view
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
    ctx.watchLayers();
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
        const j = run.columns.findIndex((c) => c && c.key === key), desc = run.columns[j];
        if (j < 0) return null;
        if (desc.kind === "text" && desc.classes === null) {  // a free text: raw UTF-8, indexed in slices
          const col = Object.assign({ index: j, rid: run.id }, desc, { serverSearch: !!desc.server_search });
          if (!col.serverSearch) {  // (else too large to send: searched on the server)
            const r = await call("runs/" + run.id + "/columns/" + j + "/text", {}, null);
            col.text = await C.textIndexSliced(new Uint8Array(await r.arrayBuffer()));
          }
          return col;
        }
        return Object.assign(C.decode(desc, await api("runs/" + run.id + "/columns/" + j), j), { rid: run.id });
      })();
    }
    return have[key];
  }
  const tableColumn = (key) => S.table.find((c) => c.key === key);

  // dimension j -> {name, title, inactive} from interpret.json (run.dimensions), when the run has one;
  // for the colour list and the sliders
  function dimensionNames(run) {
    const out = {};
    (run.dimensions || []).forEach((d, k) => {
      out[d.dim] = { name: d.name, title: (run.dimension_titles && run.dimension_titles[k]) || "z_" + d.dim + ": " + d.name, inactive: !!d.inactive };
    });
    return out;
  }

  // --- filters, search, groups: one state byte per row -----------------------------------------------
  const filterHooks = {
    toggle: (col, code, solo) => toggleClass(col, code, solo),
    range: (col, lo, hi) => setFilter(col, lo === null ? null : { lo: lo, hi: hi }),
    clear: (col) => setFilter(col, null),
  };
  // a double-click arrives after the clicks it is made of, and each click has toggled the class:
  // "show only it" (or, when it was already alone, "show all") is judged on the classes as they were
  // before the first of those clicks
  let toggled = null;  // {key, code, keep (before), t}
  function toggleClass(col, code, solo) {
    const cur = S.cf.get(col.key), keep = cur ? Uint8Array.from(cur.keep) : new Uint8Array(col.names.length).fill(1);
    const now = performance.now(), recent = toggled && toggled.key === col.key && toggled.code === code && now - toggled.t < 700;
    if (!solo && !recent) toggled = { key: col.key, code: code, keep: Uint8Array.from(keep), t: now };
    if (solo) {
      const before = recent ? toggled.keep : keep;
      toggled = null;
      const only = before.every((v, k) => !!v === (k === code));
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

  // a map's handlers (the 3-D view's map gets the same when it is swapped in)
  function wire(run, sc) {
    sc.onHover = (i, e) => ctx.hover(run, i, e);
    sc.onClick = (i, x, y) => {
      ctx.hideTip(); S.active = run.id; adapt();
      if (i >= 0) select(i);
      else if (x === null) status("a click on empty space decodes a position of the 2-D map: switch to the 2-D view for it");
      else ctx.decodeAt(run, x, y);
    };
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

  // the core's share of ctx; quietGet: a GET without the busy indicator, status message or timing
  // that `call` adds (the tooltip's)
  Object.assign(ctx, {
    $: $, C: C, P: P, U: U, status: status, call: call, api: api, floats: floats, stats: stats, statsSoon: statsSoon,
    quietGet: (path) => fetch("/api/" + path, { headers: { "X-Token": token } }),
    column: column, tableColumn: tableColumn, dimensionNames: dimensionNames, toggleClass: toggleClass,
    refresh: refresh, runSearch: runSearch, wire: wire, showTab: showTab,
  });
  const parts = window.LatentExplorerParts || {};
  for (const name of ["model", "map", "url"]) {
    if (!parts[name]) { status("could not load: explorer_" + name + ".js is missing"); return; }
    parts[name](ctx);
  }

  start().catch((e) => {
    status("could not load: " + e.message);
    if (!/^403/.test(e.message)) return;
    // a link opened where this launch's token is not known (another browser, an old launch)
    const box = $("maps"), note = document.createElement("div");
    note.className = "notoken";
    note.textContent = "This explorer needs the address `latentspace explore` printed (it holds a one-time token; links to " +
      "a view do not). Open that address once in this browser, then this link again" +
      (location.hash ? ": the view it holds is kept." : ".");
    box.appendChild(note);
  });

  /* The launch token arrives once, in the URL that `latentspace explore` prints. It is kept in this
   * tab's sessionStorage and in localStorage (both scoped to this origin, port included; never sent
   * by the browser on its own, so the API stays header-only and cannot be driven by another page)
   * and removed from the address bar at once, so it is in no screenshot, shared link or history
   * entry; the server's Referrer-Policy: no-referrer keeps it out of Referer headers. A reload reads
   * it back, and a link to a view (the "link" button: no token) opened in another tab of the same
   * browser finds it in localStorage; elsewhere the page says how to open it. The view (urlstate.js)
   * lives in the fragment, which is kept. */
  function launchToken() {
    const KEY = "latentspace-token", params = new URLSearchParams(location.search), given = params.get("token");
    let kept = null;
    try {
      if (given) { sessionStorage.setItem(KEY, given); localStorage.setItem(KEY, given); }
      kept = sessionStorage.getItem(KEY) || localStorage.getItem(KEY);
    } catch (e) { /* storage disabled: the token lives in this page only */ }
    if (given !== null) {
      params.delete("token");
      const rest = params.toString();
      history.replaceState(history.state, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
    }
    return given || kept || "";
  }
})();
