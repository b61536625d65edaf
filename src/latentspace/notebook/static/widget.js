/* latentspace notebook widget: the explorer's map (LatentScatter), columns (LatentColumns) and panels
 * (LatentPanels), evaluated into the scope `__ls` ahead of this module (see notebook/widget.py), laid
 * out in a notebook cell: a bar (search, colour, pan / lasso, the selection), filter cards, the map
 * with its legend, and a side panel for the clicked item or the decoded point. Positions and columns
 * come as binary buffers in the model's state; views, decodes, latent dimensions and large texts are
 * asked of Python by custom messages ({type, id, ...}; the answer repeats id). The selection (lasso,
 * click, or set in Python) is the synced list `selection`. Text from the data is set as text, never
 * as HTML. */
const C = __ls.LatentColumns, P = __ls.LatentPanels, Scatter = __ls.LatentScatter;
const MARKED = 200;  // search matches ringed on the map when there are at most this many
const SELECTED = 4;  // the state bit drawn as group A's halo: the selection

function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}
const shownValue = (x) => (x === null || x === undefined ? "–" : typeof x === "number" ? P.fmt(x) : String(x));

function render({ model, el }) {
  const run = model.get("_run"), n = run.n, tag = Math.random().toString(36).slice(2);
  const S = { table: [], cols: {}, match: null, matchRows: [], sel: new Uint8Array(n), legend: null, views: new Map() };
  // --- layout ---------------------------------------------------------------------------------
  const root = h("div", "ls-widget");
  const bar = h("div", "ls-bar");
  const title = h("span", "ls-title", run.name);
  title.title = run.name + " · " + run.model + " · " + run.map_note;
  const searchBox = h("span", "ls-search"), search = h("input"), count = h("span", "ls-count");
  search.type = "search"; search.placeholder = "search ids, labels, metadata";
  searchBox.append(search, count);
  const colourBy = h("select", "ls-colour");
  const seg = h("span", "ls-seg"), pan = h("button", "on", "pan"), lasso = h("button", "", "lasso");
  pan.title = "drag: pan · wheel: zoom · shift-drag: lasso"; lasso.title = "drag: lasso a group (shift: add to it)";
  seg.append(pan, lasso);
  const selInfo = h("span", "ls-selinfo"), clearSel = h("button", "ls-clear", "clear");
  clearSel.title = "clear the selection";
  bar.append(title, searchBox, h("span", "ls-label", "colour"), colourBy, seg, selInfo, clearSel);
  const note = h("div", "ls-note"); note.hidden = !run.note; note.textContent = run.note || "";
  const body = h("div", "ls-body");
  const filters = h("div", "ls-filters"), fhead = h("div", "ls-fhead"), shown = h("span", "ls-shown");
  const clearFilters = h("button", "", "clear filters"), cards = h("div");
  fhead.append(shown, clearFilters); filters.append(fhead, cards);
  const mapBox = h("div", "ls-map"), legendBox = h("div", "legend");
  legendBox.hidden = true;
  mapBox.style.height = model.get("height") + "px";
  mapBox.appendChild(legendBox);
  const side = h("div", "ls-side");
  side.appendChild(h("div", "ls-hint", "Click a point to see it; click empty space to " +
    (run.has_decoder ? "decode what the model makes there." : "see the nearest real items.")));
  body.append(filters, mapBox, side);
  const tip = h("div", "ls-tip"), status = h("div", "ls-status", title.title);
  root.append(bar, note, body, status, tip);
  el.appendChild(root);

  // --- the map --------------------------------------------------------------------------------
  const f32 = (dv) => new Float32Array(C.bytes(dv).buffer);
  const sc = new Scatter(mapBox, { x: f32(model.get("x")), y: f32(model.get("y")) });
  mapBox.lsScatter = sc;  // for tests and the curious: the map component itself
  requestAnimationFrame(() => { mapBox.dataset.ready = "1"; });

  // --- talking to Python --------------------------------------------------------------------------
  let seq = 0;
  const pending = new Map();
  function ask(msg) {
    return new Promise((ok, bad) => {
      const id = tag + ":" + (++seq);
      pending.set(id, [ok, bad]);
      model.send(Object.assign({ id: id }, msg));
    });
  }
  function onMessage(msg, buffers) {
    const p = msg && pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p[1](new Error(msg.error)); else p[0]([msg, buffers || []]);
  }
  model.on("msg:custom", onMessage);
  const say = (text) => { status.textContent = text; };

  // --- columns: colour, filter, search (columns.js, as the explorer holds them) -------------------
  model.get("_columns").forEach((wire, j) => {
    const desc = run.columns[j];
    const col = wire.codes || wire.values ? C.decode(desc, wire, j) : Object.assign({ index: j, serverSearch: wire.server_search }, desc);
    if (wire.lazy) col.lazy = true;
    S.table.push(col); S.cols[desc.key] = col;
  });
  const cf = new C.CrossFilter(n, S.table.filter((c) => c.bins));
  const hooks = {
    toggle: (col, code, solo) => toggleClass(col, code, solo),
    range: (col, lo, hi) => setFilter(col, lo === null ? null : { lo: lo, hi: hi }),
    clear: (col) => setFilter(col, null),
  };
  const panel = new P.FilterPanel(cards, S.table.filter((c) => c.filter && c.bins), hooks);
  if (!panel.cards.length) filters.classList.add("empty");

  async function column(key) {
    if (S.cols[key] && (S.cols[key].codes || S.cols[key].values)) return S.cols[key];
    if (key.startsWith("latent:")) {
      const dim = +key.slice(7), [, bufs] = await ask({ type: "latent", dim: dim });
      S.cols[key] = { key: key, name: "z_" + dim, kind: "number", values: f32(bufs[0]), explain: "latent dimension " + dim };
      return S.cols[key];
    }
    return null;
  }
  function colourOptions() {
    const groups = new Map();
    for (const c of run.columns) {
      if (!c.colour || c.key === "meta:" + run.label_col) continue;  // the label shows it already
      const g = { data: "data", model: "model", layer: "can this map be trusted here?" }[c.group] || c.group;
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push([c.key, c.name, c.explain]);
    }
    groups.set("latent dimensions", (run.slider_dims || []).map((j) => ["latent:" + j, "z_" + j, null]));
    for (const [g, items] of groups) {
      if (!items.length) continue;
      const og = h("optgroup"); og.label = g;
      for (const [key, name, explain] of items) { const o = h("option", "", name); o.value = key; o.title = explain || ""; og.appendChild(o); }
      colourBy.appendChild(og);
    }
    const none = h("option", "", "none"); none.value = "none"; colourBy.appendChild(none);
    const want = model.get("color_by"), keys = [...colourBy.options].map((o) => o.value);
    colourBy.value = keys.includes(want) ? want : keys.includes("label") ? "label" : keys[0];
  }
  async function recolour() {
    const key = colourBy.value;
    let col = null;
    try { col = key === "none" ? null : await column(key); } catch (e) { say(e.message); }
    if (!col) { sc.setColors(new Uint8Array(n * 3).fill(120)); S.legend = null; legend(); return; }
    const c = C.colours(col, key.startsWith("latent:") ? "coolwarm" : "viridis");
    sc.setColors(c.rgb);
    S.legend = { key: key, col: col, legend: c.legend, scale: c.scale };
    legend();
    panel.update(cf, S.legend);
  }
  function legend() {
    const L = S.legend;
    if (!L) { legendBox.hidden = true; return; }
    if (L.scale) { P.colourBar(legendBox, L.col, L.scale); return; }
    const tcol = S.table.find((c) => c.key === L.key && c.bins), spec = tcol && cf.get(tcol.key);
    P.legend(legendBox, L.col, L.legend, tcol ? cf.counts(tcol) : null, spec ? spec.keep : null, {
      toggle: (code, solo) => { if (tcol) toggleClass(tcol, code, solo); },
    });
  }

  function toggleClass(col, code, solo) {
    const cur = cf.get(col.key), keep = cur ? Uint8Array.from(cur.keep) : new Uint8Array(col.names.length).fill(1);
    if (solo) { const only = keep.every((v, k) => !!v === (k === code)); keep.fill(only ? 1 : 0); keep[code] = 1; }
    else keep[code] = keep[code] ? 0 : 1;
    setFilter(col, keep.every(Boolean) ? null : { keep: keep });
  }
  function setFilter(col, spec) { cf.set(col, spec); refresh(); }
  clearFilters.addEventListener("click", () => { for (const key of [...cf.filters.keys()]) cf.set(S.table.find((c) => c.key === key), null); refresh(); });

  // every row's state byte: hidden by a filter (1), not a search match (2), selected (4)
  function refresh(counts) {
    const st = new Uint8Array(n), mask = cf.mask, m = S.match, g = S.sel;
    for (let i = 0; i < n; i++) st[i] = (mask[i] ? 1 : 0) | (m && !m[i] ? 2 : 0) | g[i];
    const nsel = model.get("selection").length;
    sc.marks = S.matchRows;
    sc.setState(st, (cf.shown < n ? 1 : 0) | (m ? 2 : 0) | (nsel ? SELECTED : 0));
    if (counts !== false) { panel.update(cf, S.legend); legend(); }
    shown.textContent = cf.filters.size ? cf.shown.toLocaleString() + " of " + n.toLocaleString() + " shown" : n.toLocaleString() + " items";
    clearFilters.hidden = !cf.filters.size;
    selInfo.textContent = nsel ? nsel.toLocaleString() + " selected" : "";
    clearSel.hidden = !nsel;
  }

  // --- search -----------------------------------------------------------------------------------
  let query = "";
  async function runSearch() {
    const q = search.value;
    query = q;
    if (q.trim()) {
      for (const col of S.table.filter((c) => c.lazy)) {  // free texts: sent on the first search
        delete col.lazy;
        const [, bufs] = await ask({ type: "text", j: col.index });
        Object.assign(col, C.decode(run.columns[col.index], { text: bufs[0] }, col.index));
      }
    }
    if (query !== q) return;
    const r = C.search(n, S.table, q);
    for (const col of r.remote) {  // texts too large to send: searched in Python
      const [a, bufs] = await ask({ type: "search", j: col.index, q: q.trim() });
      if (query !== q) return;
      const b = C.bytes(bufs[0]);
      for (let i = 0; i < n; i++) if (!r.match[i] && (b[i >> 3] >> (i & 7)) & 1) { r.match[i] = 1; r.count++; }
      void a;
    }
    S.match = r.match; S.matchRows = [];
    if (r.match && r.count <= MARKED) for (let i = 0; i < n; i++) if (r.match[i]) S.matchRows.push(i);
    count.textContent = r.match ? (r.count ? r.count.toLocaleString() + (r.count === 1 ? " match" : " matches") : "no match") : "";
    count.className = "ls-count" + (r.match && r.count ? " hit" : "");
    refresh(false);
  }
  let frame = 0;
  search.addEventListener("input", () => { if (!frame) frame = requestAnimationFrame(() => { frame = 0; runSearch().catch((e) => say(e.message)); }); });
  search.addEventListener("keydown", (e) => { e.stopPropagation(); if (e.key === "Escape") { search.value = ""; runSearch(); } });

  // --- the selection, both ways -----------------------------------------------------------------------
  function setSelection(rows) {
    model.set("selection", Array.from(new Set(rows)).sort((a, b) => a - b));
    model.save_changes();
  }
  function onSelection() {
    S.sel.fill(0);
    for (const i of model.get("selection")) if (i >= 0 && i < n) S.sel[i] = SELECTED;
    refresh(false);
  }
  model.on("change:selection", onSelection);
  clearSel.addEventListener("click", () => setSelection([]));
  const setMode = (m) => { sc.lassoMode = m === "lasso"; pan.classList.toggle("on", m !== "lasso"); lasso.classList.toggle("on", m === "lasso"); };
  pan.addEventListener("click", () => setMode("pan"));
  lasso.addEventListener("click", () => setMode("lasso"));

  // --- hover: the item under the pointer ------------------------------------------------------------
  async function hover(i, e) {
    if (i < 0 || !e) { tip.style.display = "none"; return; }
    const r = root.getBoundingClientRect();
    tip.style.left = Math.min(e.clientX - r.left + 14, r.width - 250) + "px";
    tip.style.top = Math.min(e.clientY - r.top + 14, r.height - 150) + "px";
    tip.textContent = ""; tip.appendChild(h("b", "", "#" + i)); tip.style.display = "block";
    if (!S.views.has(i)) {
      try { S.views.set(i, (await ask({ type: "view", row: i }))[0].view); } catch (err) { say(err.message); return; }
    }
    if (sc.hoverIdx !== i || tip.style.display === "none") return;
    tip.textContent = "";
    item(tip, S.views.get(i), 4);
  }
  // an item's view: its name, image, text or values, and (up to `most`) metadata values
  function item(box, v, most) {
    box.appendChild(h("b", "", v.name));
    if (v.image) { const img = h("img"); img.src = "data:image/png;base64," + v.image; box.appendChild(img); }
    if (v.text !== null && v.text !== undefined) box.appendChild(h("div", "ls-text", v.text.length > 300 ? v.text.slice(0, 297) + "…" : v.text));
    if (v.values) box.appendChild(h("div", "ls-values", v.values.slice(0, 8).map(shownValue).join(" ")));
    const skip = new Set([run.label_col, run.items.column]);
    Object.entries(v.meta || {}).filter(([k]) => !skip.has(k)).slice(0, most).forEach(([k, x]) => {
      const s = shownValue(x);
      box.appendChild(h("div", "ls-meta", k + ": " + (s.length > 60 ? s.slice(0, 57) + "…" : s)));
    });
  }

  // --- click: a point (shown, selected) or empty space (decoded, or the nearest real items) -----------
  let blobUrl = null;
  function picture(x, bufs, caption) {
    const fig = h("figure");
    if (x && x.png !== undefined) {
      if (blobUrl) URL.revokeObjectURL(blobUrl);
      blobUrl = URL.createObjectURL(new Blob([C.bytes(bufs[x.png])], { type: "image/png" }));
      const img = h("img"); img.src = blobUrl; fig.appendChild(img);
    } else if (x && x.values) fig.appendChild(h("div", "ls-values", x.values.slice(0, 16).map(shownValue).join(" ")));
    fig.appendChild(h("figcaption", "", caption));
    return fig;
  }
  function thumbs(views, distances, caption) {
    const box = h("div", "ls-thumbs");
    box.appendChild(h("div", "ls-sub", caption));
    views.forEach((v, k) => {
      const t = h("button", "ls-thumb");
      t.title = v.name + (distances ? " · distance " + P.fmt(distances[k]) : "");
      if (v.image) { const img = h("img"); img.src = "data:image/png;base64," + v.image; t.appendChild(img); }
      else t.textContent = v.text ? v.text.slice(0, 40) : v.name;
      t.addEventListener("click", () => select(v.row));
      box.appendChild(t);
    });
    return box;
  }
  async function select(i) {
    sc.selected = i; sc.extra = []; sc.drawOverlay();
    setSelection([i]);
    side.textContent = ""; side.appendChild(h("div", "ls-sub", "#" + i + " …"));
    let a, bufs;
    try { [a, bufs] = await ask({ type: "item", row: i }); } catch (e) { say(e.message); return; }
    if (sc.selected !== i) return;
    side.textContent = "";
    const card = h("div", "ls-item"); item(card, a.view, 12); side.appendChild(card);
    if (a.reconstruction) side.appendChild(picture(a.reconstruction, bufs, "its reconstruction"));
    side.appendChild(thumbs(a.neighbour_views, a.distances, "nearest in latent space"));
  }
  async function decodeAt(x, y) {
    sc.selected = -1; sc.extra = [{ x: x, y: y }]; sc.drawOverlay();
    side.textContent = ""; side.appendChild(h("div", "ls-sub", run.has_decoder ? "decoding…" : "finding the nearest items…"));
    let a, bufs;
    try { [a, bufs] = await ask({ type: "decode", x: x, y: y }); } catch (e) { say(e.message); return; }
    side.textContent = "";
    const d = a.data_distance, far = h("div", "ls-support" + (d.off_data ? " off" : ""));
    far.textContent = "nearest real item #" + d.row + " lies " + P.fmt(d.distance) + " away (" +
      (d.ratio === null ? "–" : P.fmt(d.ratio)) + "× the usual neighbour spacing)" + (d.off_data ? ": off the data, read with care" : "");
    if (a.kind === "decoded") side.appendChild(picture(a.decoded, bufs, "decoded at (" + P.fmt(x) + ", " + P.fmt(y) + ")"));
    else { side.appendChild(h("div", "ls-sub", a.note || "")); side.appendChild(thumbs(a.views, a.distances, "nearest on the map")); }
    side.appendChild(far);
  }
  sc.onHover = (i, e) => { hover(i, e); };
  sc.onClick = (i, x, y) => { tip.style.display = "none"; if (i >= 0) select(i); else decodeAt(x, y); };
  sc.onLasso = (ids, add) => setSelection(add ? model.get("selection").concat(ids) : ids);

  colourOptions();
  colourBy.addEventListener("change", () => { recolour(); });
  onSelection();
  refresh();
  recolour().then(() => { root.dataset.ready = "1"; });
  return () => {
    model.off("msg:custom", onMessage);
    model.off("change:selection", onSelection);
    if (blobUrl) URL.revokeObjectURL(blobUrl);
  };
}

export default { render };
