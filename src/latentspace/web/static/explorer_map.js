/* latentspace explorer, the map part: what the maps show and the header's buttons for them (the colour
 * list, legends and colour bars; the map's trust layers as the server computes them; density contours
 * with captions; the 3-D view; the lasso modes, reset, the filter panel's toggle, CSV and PNG exports).
 * Set up by explorer.js (the core, which describes ctx); offers colourOptions, recolor, legends,
 * watchLayers, showContours and view3d. */
window.LatentExplorerParts = window.LatentExplorerParts || {};
window.LatentExplorerParts.map = function (ctx) {
  "use strict";
  const { S, $, C, P, U, status, call, api, floats, stats, column, tableColumn, dimensionNames, toggleClass, refresh, wire } = ctx;
  // (explorer_url.js)
  const saveUrl = () => ctx.saveUrl(), linkFilter = (col, spec) => ctx.linkFilter(col, spec);

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
    const cols = [];
    for (const run of S.runs) {
      const deep = view3d.on && view3d.deep[run.id] === S.maps[run.id] && layers3d.has(run, key);
      cols[run.id] = key === "none" ? null : deep ? await layers3d.column(run, key) : await column(run, key);
    }
    // side by side, a number has one scale on both maps: the same colour is the same value
    const ranges = cols.filter((c) => c && c.values).map((c) => c.range || (c.range = C.robustRange(c.values)));
    const shared = ranges.length > 1 ? [Math.min(...ranges.map((r) => r[0])), Math.max(...ranges.map((r) => r[1]))] : null;
    for (const run of S.runs) {
      const col = cols[run.id], m = S.maps[run.id];
      if (!col || (!col.codes && !col.values)) {
        m.setColors(new Uint8Array(run.n * 3).fill(120)); S.legends[run.id] = null; continue;
      }
      const c = C.colours(col, key.startsWith("latent:") ? "coolwarm" : "viridis", shared);
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
    has(run, key) {  // a layer that differs between maps (distortion; not the decoder's sensitivity)
      const L = S.layerInfo[run.id], x = L && (L.layers || []).find((e) => e.key === key);
      return key.startsWith("layer:") && !!run.map3d && !!x && !!x.per_map;
    },
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
    const rows = L.scale ? 2 : Math.min(L.col.names.length, 24), h = 22 + rows * 16;
    const w = Math.max(170, Math.ceil(g.measureText(L.col.name).width) + 16);  // the whole title
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

  // --- 3-D view ------------------------------------------------------------------------------------
  // A run with a stored 3-D map (`latentspace map RUN --dims 3`) can be seen in 3-D: a header button
  // swaps each such run's LatentScatter for a LatentScatter3D (scatter3d.js and scatter3d_screen.js,
  // loaded on first use) in the same box, with the same colours, selection, highlights, lasso mode
  // and handlers (wire), so S.maps[run.id] is always the view on screen. The server says which maps
  // exist (run.maps, run.map3d) and which view to open (run.view: `explore RUN --map umap-3d`). Paths
  // and points placed by 2-D map positions (and the contours) stay on the 2-D view; a click on
  // empty space in 3-D names no map position and says so. Side by side, the 3-D view is offered only
  // when every run has a 3-D map of one method (else the button says what is missing).
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
      const methods = new Set(S.runs.map((r) => r.map3d || null));
      if (methods.size > 1 || methods.has(null)) {  // side by side, the runs' 3-D maps do not match
        const m = runs[0].map3d, miss = S.runs.filter((r) => r.map3d !== m).map((r) => r.name);
        b.disabled = true;
        b.title = "3-D view: side by side needs a 3-D " + m + " map of every run; " + miss.join(", ") +
          " has none (make one with `latentspace map RUN --method " + m + " --dims 3`)";
        return;
      }
      b.addEventListener("click", () => this.show(!this.on).then(saveUrl).catch((e) => status("3-D view: " + e.message)));
      // a link says whether it was in 3-D (d=3) and each run's camera (k0, k1); else the server's view
      const h = S.restore3d || {}, linked = Object.keys(h).length > 0;
      runs.forEach((r) => { const cam = U.parseCamera(h["k" + r.id]); if (cam) this.cams[r.id] = cam; });
      if (linked ? h.d === "3" : S.runs.some((r) => r.view === "3d")) await this.show(true);
    },
    script() {
      return this.loading || (this.loading = new Promise((ok, bad) => {
        if (window.LatentScatter3D) { ok(); return; }
        // one after the other: scatter3d_screen.js adds to the prototype scatter3d.js defines
        const files = ["scatter3d.js", "scatter3d_screen.js"];
        const next = (k) => {
          if (k === files.length) { ok(); return; }
          const s = document.createElement("script");
          s.src = "/static/" + files[k]; s.onload = () => next(k + 1);
          s.onerror = () => bad(new Error(files[k] + " did not load"));
          document.head.appendChild(s);
        };
        next(0);
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
      const c = $("contours");  // drawn on the 2-D map only
      if (c.dataset.title === undefined) c.dataset.title = c.title;
      c.disabled = on; c.title = on ? "contours and captions are drawn on the 2-D view" : c.dataset.title;
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

  Object.assign(ctx, {
    colourOptions: colourOptions, recolor: recolor, legends: legends, watchLayers: watchLayers,
    showContours: showContours, view3d: view3d,
  });
};
