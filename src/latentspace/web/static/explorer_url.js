/* latentspace explorer, the URL part: the view kept in the address's fragment (urlstate.js encodes it)
 * and read back from a link: the colouring, filters, search, tab, selection, groups A and B, path
 * ends, each map's window or 3-D camera, contours, the filter panel; and the header's link button.
 * Set up by explorer.js (the core, which describes ctx); offers saveUrl, linkFilter and restoreUrl. */
window.LatentExplorerParts = window.LatentExplorerParts || {};
window.LatentExplorerParts.url = function (ctx) {
  "use strict";
  const { S, $, U, status, tableColumn, runSearch, showTab } = ctx;
  const showContours = (on) => ctx.showContours(on);  // (explorer_map.js, as is ctx.view3d)

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
      const r = run.id, flat = ctx.view3d.flat[r] || S.maps[r], deep = ctx.view3d.deep[r];
      if (flat && flat.view && flat.view.x0 !== undefined) st["v" + r] = U.view(flat.view);
      if (deep && deep.cam) st["k" + r] = U.camera(deep.cam);
    });
    if (ctx.view3d.on) st.d = "3";
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
  $("copylink").addEventListener("click", async () => {
    writeUrl();
    try { await navigator.clipboard.writeText(location.href); status("copied a link to this view (it holds no token)"); }
    catch (e) { status("copy the address bar: it holds this view"); }
  });

  Object.assign(ctx, { saveUrl: saveUrl, linkFilter: linkFilter, restoreUrl: restoreUrl });
};
