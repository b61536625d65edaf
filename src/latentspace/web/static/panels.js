/* latentspace panels: the filter cards (a category: checkboxes with counts; a number: a small
 * histogram with a range brush), the legend of a category colouring (click: hide or show a class;
 * double-click: show only that class) and the colour bar of a number colouring. Counts come from the
 * cross-filter (columns.js); what a click means is up to the caller (hooks). Text from the data is
 * always set as text, never parsed as HTML. */
(function (global) {
  "use strict";
  const fmt = (x) => (x === null || x === undefined || x !== x ? "–" : Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(2) : (+x.toPrecision(4)).toString());
  // numbers on an axis from lo to hi: enough digits to tell them apart
  function axisFormat(lo, hi) {
    const span = Math.abs(hi - lo), big = Math.max(Math.abs(lo), Math.abs(hi));
    if (!(span > 0) || big >= 1e5 || big < 1e-3) return fmt;
    const whole = Number.isInteger(lo) && Number.isInteger(hi) && span >= 20;  // (0 to 1 needs decimals)
    const digits = whole ? 0 : Math.max(0, Math.min(8, Math.floor(-Math.log10(span)) + 3));
    return (x) => (x === null || x !== x ? "–" : x.toFixed(digits));
  }
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
  const css = (rgb) => "rgb(" + rgb.join(",") + ")";
  const SHOW = 12;  // classes listed before "show all"

  // --- filter cards -------------------------------------------------------------------------------
  // hooks: toggle(col, code, solo), range(col, lo, hi) (null: clear), clear(col)
  function FilterPanel(box, cols, hooks) {
    this.box = box; this.cards = []; this.hooks = hooks;
    box.textContent = "";
    for (const col of cols) this.add(col);
  }
  // a card for one more column (the map's layers arrive once the server has computed them)
  FilterPanel.prototype.add = function (col) {
    const card = col.codes ? new ClassCard(col, this.hooks) : new RangeCard(col, this.hooks);
    this.cards.push(card); this.box.appendChild(card.el);
  };
  FilterPanel.prototype.update = function (cf, colouring) {
    for (const c of this.cards) c.update(cf, colouring);
  };

  function cardHead(col, hooks) {
    const el0 = el("div", "card"), head = el("div", "cardhead"), name = el("span", "cardname", col.name);
    const info = el("span", "cardinfo"), clear = el("button", "cardclear", "×");
    el0.dataset.key = col.key;
    name.title = col.explain ? col.name + ": " + col.explain : col.name;
    clear.title = "clear this filter"; clear.hidden = true;
    clear.addEventListener("click", () => hooks.clear(col));
    head.append(name, info, clear); el0.appendChild(head);
    return { el: el0, info: info, clear: clear };
  }

  function ClassCard(col, hooks) {
    const h = cardHead(col, hooks);
    this.col = col; this.el = h.el; this.info = h.info; this.clear = h.clear; this.all = false;
    this.list = el("div", "classes"); this.el.appendChild(this.list);
    this.more = el("button", "more"); this.more.hidden = true;
    this.more.addEventListener("click", () => { this.all = !this.all; this.render(); });
    this.el.appendChild(this.more);
    this.hooks = hooks; this.rows = [];
  }
  ClassCard.prototype.update = function (cf, colouring) {
    this.counts = cf.counts(this.col); this.totals = cf.totals(this.col);
    this.spec = cf.get(this.col.key); this.pal = colouring && colouring.key === this.col.key ? colouring.legend : null;
    this.render();
  };
  ClassCard.prototype.render = function () {
    const col = this.col, counts = this.counts, keep = this.spec ? this.spec.keep : null;
    // few classes: in their own order (the legend's); many: the most frequent first
    const order = col.names.map((_, k) => k);
    if (order.length > SHOW) order.sort((a, b) => this.totals[b] - this.totals[a] || a - b);
    const list = this.all ? order : order.slice(0, SHOW);
    const max = Math.max(1, ...list.map((k) => this.totals[k]));
    this.list.textContent = "";
    for (const k of list) {
      const row = el("label", "classrow"), box = el("input"), name = el("span", "classname", col.names[k]);
      const bar = el("span", "bar"), fillBar = el("span", "fill"), n = el("span", "count", counts[k].toLocaleString());
      box.type = "checkbox"; box.checked = !keep || !!keep[k]; box.dataset.code = k;
      box.addEventListener("change", () => this.hooks.toggle(col, k, false));
      row.addEventListener("dblclick", (e) => { e.preventDefault(); this.hooks.toggle(col, k, true); });
      name.title = col.names[k];
      fillBar.style.width = (100 * counts[k] / max).toFixed(1) + "%";
      bar.appendChild(fillBar);
      if (this.pal) { const sw = el("span", "swatch"); sw.style.background = css(this.pal[k]); row.append(box, sw, name, bar, n); }
      else row.append(box, name, bar, n);
      if (keep && !keep[k]) row.classList.add("off");
      this.list.appendChild(row);
    }
    this.more.hidden = col.names.length <= SHOW;
    this.more.textContent = this.all ? "show fewer" : "show all " + col.names.length.toLocaleString();
    let shown = 0;
    for (let k = 0; k < counts.length; k++) if (!keep || keep[k]) shown += counts[k];
    this.info.textContent = keep ? shown.toLocaleString() + " kept" : col.names.length.toLocaleString() + " classes";
    this.clear.hidden = !keep;
    this.el.classList.toggle("active", !!keep);
  };

  function RangeCard(col, hooks) {
    const h = cardHead(col, hooks);
    this.col = col; this.el = h.el; this.info = h.info; this.clear = h.clear; this.hooks = hooks;
    this.canvas = el("canvas", "hist"); this.canvas.width = 220; this.canvas.height = 48;
    this.axis = el("div", "axis");
    this.fmt = axisFormat(col.lo, col.hi);
    this.lo = el("span", "", this.fmt(col.lo)); this.hi = el("span", "", this.fmt(col.hi));
    this.axis.append(this.lo, this.hi);
    this.el.append(this.canvas, this.axis);
    this._brush();
  }
  RangeCard.prototype._brush = function () {
    const c = this.canvas, col = this.col;
    const at = (e) => { const r = c.getBoundingClientRect(); return Math.max(0, Math.min(1, (e.clientX - r.left) / r.width)); };
    const value = (t) => col.lo + t * (col.hi - col.lo);
    let start = null, last = 0;
    c.addEventListener("mousedown", (e) => { start = at(e); e.preventDefault(); });
    global.addEventListener("mousemove", (e) => {
      if (start === null) return;
      const t = at(e), now = performance.now();
      this.drag = [Math.min(start, t), Math.max(start, t)];
      this.draw();
      if (now - last > 60 && Math.abs(t - start) > 0.005) { last = now; this.hooks.range(col, value(this.drag[0]), value(this.drag[1])); }
    });
    global.addEventListener("mouseup", (e) => {
      if (start === null) return;
      const t = at(e), a = Math.min(start, t), b = Math.max(start, t);
      start = null; this.drag = null;
      if (b - a < 0.005) this.hooks.range(col, null); else this.hooks.range(col, value(a), value(b));
    });
  };
  RangeCard.prototype.update = function (cf) {
    this.counts = cf.counts(this.col); this.totals = cf.totals(this.col); this.spec = cf.get(this.col.key);
    this.draw();
    const missing = this.totals[this.col.nbins - 1];
    const s = this.spec;
    this.info.textContent = s ? this.fmt(s.lo) + " – " + this.fmt(s.hi) : missing ? missing.toLocaleString() + " missing" : "";
    this.clear.hidden = !s;
    this.el.classList.toggle("active", !!s);
  };
  RangeCard.prototype.draw = function () {
    const c = this.canvas, g = c.getContext("2d"), col = this.col, B = col.nbins - 1, W = c.width, H = c.height;
    const tot = this.totals, cnt = this.counts, max = Math.max(1, ...Array.from(tot).slice(0, B)), w = W / B;
    const sel = this.drag ? this.drag.map((t) => col.lo + t * (col.hi - col.lo)) : this.spec ? [this.spec.lo, this.spec.hi] : null;
    g.clearRect(0, 0, W, H);
    for (let k = 0; k < B; k++) {
      const x = k * w, a = col.lo + k * col.binWidth, b = a + col.binWidth, inside = !sel || (b >= sel[0] && a <= sel[1]);
      const ht = (H - 2) * Math.sqrt(tot[k] / max), hc = (H - 2) * Math.sqrt(cnt[k] / max);
      g.fillStyle = "#e3e6ea"; g.fillRect(x + 0.5, H - ht, w - 1, ht);
      g.fillStyle = inside ? "#3b6fb6" : "#a9b8cc"; g.fillRect(x + 0.5, H - hc, w - 1, hc);
    }
    if (sel) {
      const x0 = (sel[0] - col.lo) / (col.hi - col.lo || 1) * W, x1 = (sel[1] - col.lo) / (col.hi - col.lo || 1) * W;
      g.fillStyle = "rgba(59,111,182,0.12)"; g.fillRect(x0, 0, Math.max(1, x1 - x0), H);
      g.strokeStyle = "#3b6fb6"; g.lineWidth = 1; g.strokeRect(x0 + 0.5, 0.5, Math.max(1, x1 - x0 - 1), H - 1);
    }
  };

  // --- legend and colour bar ----------------------------------------------------------------------
  // the legend of a category colouring: hooks.toggle(code, solo); counts: shown rows per class
  function legend(box, col, pal, counts, keep, hooks) {
    box.textContent = ""; box.hidden = false; box.className = "legend";
    const head = el("div", "legendhead", col.name);
    box.appendChild(head);
    const list = el("div", "legendlist");
    col.names.forEach((name, k) => {
      const row = el("div", "legendrow"), sw = el("span", "swatch"), t = el("span", "legendname", name);
      const n = el("span", "count", counts ? counts[k].toLocaleString() : "");
      sw.style.background = css(pal[k]);
      row.dataset.code = k; row.title = "click: hide or show " + name + "; double-click: show only it";
      if (keep && !keep[k]) row.classList.add("off");
      row.append(sw, t, n);
      row.addEventListener("click", (e) => hooks.toggle(k, e.detail > 1));
      list.appendChild(row);
    });
    box.appendChild(list);
    if (col.explain) box.appendChild(el("div", "explain", col.explain));
  }
  function colourBar(box, col, scale) {
    box.textContent = ""; box.hidden = false; box.className = "legend colourbar";
    box.appendChild(el("div", "legendhead", col.name));
    const c = el("canvas", "ramp"); c.width = 160; c.height = 10;
    const g = c.getContext("2d");
    for (let x = 0; x < c.width; x++) { g.fillStyle = css(global.LatentColumns.rampColour(scale.stops, x / (c.width - 1))); g.fillRect(x, 0, 1, c.height); }
    const ticks = el("div", "axis"), f = axisFormat(scale.lo, scale.hi);
    ticks.append(el("span", "", f(scale.lo)), el("span", "", f((scale.lo + scale.hi) / 2)), el("span", "", f(scale.hi)));
    box.append(c, ticks);
    box.appendChild(el("div", "explain", (col.explain ? col.explain + " " : "") + "(1st–99th percentile; grey: missing)"));
  }

  global.LatentPanels = { FilterPanel: FilterPanel, legend: legend, colourBar: colourBar, fmt: fmt };
})(typeof window !== "undefined" ? window : this);
