/* latentspace explorer, the model part: what the panel's tabs show and ask of the model through the
 * local API (the selected item and its neighbours, latent sliders with live decode, a click on empty
 * space decoded, interpolation, attribute vectors, samples from the prior), the figures they show, and
 * the tooltip of the item under the pointer. Without a decoder the panels show the nearest real items.
 * Set up by explorer.js (the core, which describes ctx); offers select, decodeAt, hover and hideTip. */
window.LatentExplorerParts = window.LatentExplorerParts || {};
window.LatentExplorerParts.model = function (ctx) {
  "use strict";
  const { S, $, status, call, api, showTab, dimensionNames } = ctx;
  const saveUrl = () => ctx.saveUrl();  // (explorer_url.js)
  const ALPHAS = [-3, -2, -1, 0, 1, 2, 3];  // the attribute strip

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
      const r = await ctx.quietGet("runs/" + run.id + "/items/" + i + "/view");
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

  // --- the selected item ------------------------------------------------------------------------------
  async function select(i) {
    S.selected = i; S.clickMark = null;
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
      // the slider's point where it lands, beside the clicked spot it started from (when it did)
      const mark = S.clickMark && S.clickMark.rid === run.id ? [S.clickMark] : [];
      m.extra = mark.concat([{ x: r.position[0], y: r.position[1], color: "#ff7f0e" }]);
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
  function support(el, d, onMap) {
    el.classList.remove("off");
    if (onMap && onMap.off_map) {  // a click far from every item: the inverse blends the nearest ones
      el.textContent = "Off the map's data: the nearest item on the map, #" + onMap.row + ", is " +
        (onMap.ratio === null ? "∞" : onMap.ratio.toFixed(1) + "×") + " the typical spacing between neighbours there away (over " +
        onMap.limit + "×). The map has no items here to go back to: what is decoded blends the latents of the nearest items, it does not show what lies here.";
      el.classList.add("off");
      return;
    }
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

  // --- click on empty space: the map position back to a latent, decoded; without a decoder, the
  // real items nearest that map position ----------------------------------------------------------
  async function decodeAt(run, x, y) {
    [x, y] = onMap(run, x, y);
    if (S.tab !== "sliders") showTab("item");
    const r = await api("runs/" + run.id + "/inverse", { point: [x, y] }, $("space"));
    const at = "(" + x.toFixed(2) + ", " + y.toFixed(2) + ")";
    const m = S.maps[run.id];
    S.spaceDistance = r.data_distance || null; S.spaceMapDistance = r.map_distance || null; S.spaceAt = [x, y];
    support($("space").querySelector(".support"), r.data_distance, r.map_distance);
    if (run.has_decoder) {
      fill($("space").querySelector(".decoded"), [figure(run, r.item, "at " + at)]);
      $("space").querySelector(".hint").textContent = "";
    } else {
      fill($("space").querySelector(".decoded"), nearestFigures(r, (k, v) => "#" + v.row + " d=" + short(r.distances[k])));
      $("space").querySelector(".hint").textContent = "The " + r.rows.length + " real items nearest " + at + " on the map.";
      m.highlight = r.rows;
      S.spaceRows = r.rows; S.spacePoint = r.point;
    }
    S.clickMark = { rid: run.id, x: x, y: y, color: "#2ca02c" };
    m.paths = []; m.extra = [S.clickMark]; m.drawOverlay();
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
    m.paths = []; S.clickMark = null;  // (an earlier path, line or click is not these draws')
    m.extra = r.positions.map((p, k) => ({ x: p[0], y: p[1], color: "#ff7f0e", label: String(k + 1) })); m.drawOverlay();
    if (run.has_decoder) {
      fill($("samples").querySelector(".strip"), r.items.map((it, k) => figure(run, it, "sample " + (k + 1))));
    } else {
      fill($("samples").querySelector(".strip"), nearestFigures(r, (k, v) => "draw " + (k + 1) + " #" + v.row));
    }
  });

  Object.assign(ctx, { select: select, decodeAt: decodeAt, hover: hover, hideTip: hideTip });
};
