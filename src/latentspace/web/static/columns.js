/* latentspace columns: the per-row columns of a run as the page holds them (categories as codes and
 * names, numbers as float32, texts as one lower-cased string), and the work done on every row here,
 * in typed arrays, with no per-row objects: colours (palettes, colour ramps), a cross-filter (each
 * filter is one bit of a per-row mask; a column's counts are taken over the rows that pass every
 * other filter, as Embedding Atlas does) and search (exact for categories, a substring for texts,
 * equality for numbers, the row number for "#12" or "12"). Sizes: 1,000,000 rows cost 1 byte a
 * row per category, 4 per number, 4 per filter mask. */
(function (global) {
  "use strict";
  const BINS = 40;  // bars of a number column's histogram (plus one for missing values)

  // base64 text, or bytes already (a notebook widget's buffer: an ArrayBuffer, a typed array or a
  // DataView), copied to a buffer of their own so typed arrays of any width can view it
  function bytes(b64) {
    if (typeof b64 !== "string") {
      const v = ArrayBuffer.isView(b64) ? b64 : new Uint8Array(b64);
      return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
    }
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(b64);
    const s = atob(b64), a = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
    return a;
  }
  const TYPED = { u1: Uint8Array, u2: Uint16Array, u4: Uint32Array };

  // a column from its description (in /api/runs) and its values (/columns/{j})
  function decode(desc, wire, index) {
    const col = Object.assign({ index: index }, desc);
    if (wire.codes) {
      col.codes = new TYPED[wire.dtype](bytes(wire.codes).buffer);
      col.names = wire.names;
      col.nbins = wire.names.length; col.bins = col.codes;
    } else if (wire.values) {
      col.values = new Float32Array(bytes(wire.values).buffer);
      histogramBins(col);
    } else if (wire.text) {
      col.text = textIndex(bytes(wire.text));
    }
    col.serverSearch = !!wire.server_search;
    return col;
  }

  // a number column's histogram: BINS bars between its smallest and largest finite value; bar BINS
  // holds the missing values
  function histogramBins(col) {
    const v = col.values, n = v.length;
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) { const x = v[i]; if (x < lo) lo = x; if (x > hi) hi = x; }
    if (!(hi >= lo)) { lo = 0; hi = 1; }
    const w = (hi - lo) / BINS || 1, bins = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const x = v[i];
      bins[i] = x === x ? Math.min(BINS - 1, Math.floor((x - lo) / w)) : BINS;
    }
    col.lo = lo; col.hi = hi; col.binWidth = w; col.bins = bins; col.nbins = BINS + 1;
  }

  // every text lower-cased in one string, separated by NUL, and where each row starts in it
  function textIndex(u8) {
    const s = new TextDecoder().decode(u8).toLowerCase(), starts = [0];
    for (let k = s.indexOf("\0"); k >= 0; k = s.indexOf("\0", k + 1)) starts.push(k + 1);
    starts.push(s.length + 1);
    return { s: s, starts: Uint32Array.from(starts) };
  }
  // the same, in slices of about 2 MB cut at a NUL (so at a character's edge), giving the page back
  // between slices: 18 MB of texts (1M rows) cost ~50 ms of work, none of it one long task that a
  // click or a search answer would wait behind
  async function textIndexSliced(u8, slice) {
    const dec = new TextDecoder(), parts = [], starts = [0], step = slice || 1 << 21;
    let at = 0, off = 0;
    while (at < u8.length) {
      let end = Math.min(u8.length, at + step);
      if (end < u8.length) { const k = u8.indexOf(0, end); end = k < 0 ? u8.length : k + 1; }
      const s = dec.decode(u8.subarray(at, end)).toLowerCase();
      for (let k = s.indexOf("\0"); k >= 0; k = s.indexOf("\0", k + 1)) starts.push(off + k + 1);
      parts.push(s); off += s.length; at = end;
      await new Promise((ok) => setTimeout(ok, 0));
    }
    starts.push(off + 1);
    return { s: parts.join(""), starts: Uint32Array.from(starts) };
  }

  // --- colours ------------------------------------------------------------------------------------
  const TAB10 = [[31,119,180],[255,127,14],[44,160,44],[214,39,40],[148,103,189],[140,86,75],[227,119,194],[127,127,127],[188,189,34],[23,190,207]];
  const TAB20 = TAB10.concat([[174,199,232],[255,187,120],[152,223,138],[255,152,150],[197,176,213],[196,156,148],[247,182,210],[199,199,199],[219,219,141],[158,218,229]]);
  const RAMPS = {
    viridis: [[68,1,84],[59,82,139],[33,145,140],[94,201,98],[253,231,37]],
    coolwarm: [[59,76,192],[141,176,254],[221,221,221],[244,154,123],[180,4,38]],
  };
  const MISSING = [200, 200, 200];
  function hsl(h, s, l) {
    const a = s * Math.min(l, 1 - l), f = (k) => { const m = (k + h / 30) % 12; return l - a * Math.max(-1, Math.min(m - 3, 9 - m, 1)); };
    return [Math.round(255 * f(0)), Math.round(255 * f(8)), Math.round(255 * f(4))];
  }
  // k distinct colours: Tableau's 10 or 20, else hues a golden angle apart
  function palette(k) {
    if (k <= 10) return TAB10.slice(0, k);
    if (k <= 20) return TAB20.slice(0, k);
    const out = [];
    for (let j = 0; j < k; j++) out.push(hsl((j * 137.508) % 360, 0.62, j % 2 ? 0.42 : 0.56));
    return out;
  }
  function rampColour(stops, t) {
    const x = Math.max(0, Math.min(1, t)) * (stops.length - 1), k = Math.min(stops.length - 2, Math.floor(x)), f = x - k;
    return stops[k].map((v, j) => Math.round(v + f * (stops[k + 1][j] - v)));
  }
  // the 1st and 99th percentiles of the finite values (a colour scale not stretched by outliers)
  function robustRange(v) {
    const step = Math.max(1, Math.floor(v.length / 200000)), s = [];
    for (let i = 0; i < v.length; i += step) if (v[i] === v[i]) s.push(v[i]);
    if (!s.length) return [0, 1];
    s.sort((a, b) => a - b);
    const lo = s[Math.floor(0.01 * (s.length - 1))], hi = s[Math.floor(0.99 * (s.length - 1))];
    return hi > lo ? [lo, hi] : [lo - 0.5, hi + 0.5];
  }
  // per-row RGB of a colouring: {codes, names} or {values}; returns {rgb, legend | scale}
  function colours(col, ramp, range) {  // range: [lo, hi] shared with another map (else the column's own)
    if (col.codes) {
      const pal = palette(col.names.length), rgb = new Uint8Array(col.codes.length * 3), c = col.codes;
      const flat = new Uint8Array(pal.length * 3);
      pal.forEach((p, k) => flat.set(p, 3 * k));
      for (let i = 0; i < c.length; i++) { const k = 3 * c[i], o = 3 * i; rgb[o] = flat[k]; rgb[o + 1] = flat[k + 1]; rgb[o + 2] = flat[k + 2]; }
      return { rgb: rgb, legend: pal };
    }
    const v = col.values, stops = RAMPS[ramp || "viridis"], [lo, hi] = range || col.range || (col.range = robustRange(v));
    const lut = new Uint8Array(256 * 3);
    for (let k = 0; k < 256; k++) lut.set(rampColour(stops, k / 255), 3 * k);
    const rgb = new Uint8Array(v.length * 3), scale = 255 / (hi - lo);
    for (let i = 0; i < v.length; i++) {
      const x = v[i], o = 3 * i;
      if (x !== x) { rgb[o] = MISSING[0]; rgb[o + 1] = MISSING[1]; rgb[o + 2] = MISSING[2]; continue; }
      const k = 3 * Math.max(0, Math.min(255, Math.round((x - lo) * scale)));
      rgb[o] = lut[k]; rgb[o + 1] = lut[k + 1]; rgb[o + 2] = lut[k + 2];
    }
    return { rgb: rgb, scale: { lo: lo, hi: hi, stops: stops } };
  }

  // --- the cross-filter ---------------------------------------------------------------------------
  // filters: key -> {bit, spec}; spec {keep: Uint8Array over codes} for a category, {lo, hi} for a
  // number (NaN fails a range). A row is shown when its mask is 0.
  function CrossFilter(n, columns) {
    this.n = n; this.columns = columns; this.mask = new Uint32Array(n); this.filters = new Map();
    this.shown = n;
  }
  CrossFilter.prototype.set = function (col, spec) {
    const key = col.key, old = this.filters.get(key), mask = this.mask, n = this.n;
    if (!spec) {
      if (!old) return;
      const off = ~old.bit;
      for (let i = 0; i < n; i++) mask[i] &= off;
      this.filters.delete(key);
    } else {
      let bit = old ? old.bit : 0;
      if (!bit) {
        const used = [...this.filters.values()].reduce((a, f) => a | f.bit, 0);
        for (let b = 0; b < 31 && !bit; b++) if (!(used & (1 << b))) bit = 1 << b;
        if (!bit) throw new Error("at most 31 filters at once");
      }
      this.filters.set(key, { bit: bit, spec: spec, col: col });
      const off = ~bit;
      if (spec.keep) {
        const keep = spec.keep, c = col.codes;
        for (let i = 0; i < n; i++) mask[i] = keep[c[i]] ? mask[i] & off : mask[i] | bit;
      } else {
        const v = col.values, lo = spec.lo, hi = spec.hi;
        for (let i = 0; i < n; i++) { const x = v[i]; mask[i] = x >= lo && x <= hi ? mask[i] & off : mask[i] | bit; }
      }
    }
    let shown = 0;
    for (let i = 0; i < n; i++) if (mask[i] === 0) shown++;
    this.shown = shown;
  };
  CrossFilter.prototype.get = function (key) { const f = this.filters.get(key); return f ? f.spec : null; };
  // counts of a column's classes or bars over the rows every other filter lets through
  CrossFilter.prototype.counts = function (col) {
    const f = this.filters.get(col.key), other = ~(f ? f.bit : 0), mask = this.mask, b = col.bins;
    const out = new Int32Array(col.nbins);
    for (let i = 0; i < this.n; i++) if ((mask[i] & other) === 0) out[b[i]]++;
    return out;
  };
  // counts over every row (computed once per column)
  CrossFilter.prototype.totals = function (col) {
    if (!col.totals) {
      const out = new Int32Array(col.nbins), b = col.bins;
      for (let i = 0; i < this.n; i++) out[b[i]]++;
      col.totals = out;
    }
    return col.totals;
  };

  // --- search -------------------------------------------------------------------------------------
  // rows matching `q` in the row numbers and in every searchable column held here; columns searched
  // on the server are given back in `remote` for the caller to ask about
  function search(n, columns, q) {
    const match = new Uint8Array(n), remote = [];
    const needle = q.trim().toLowerCase();
    if (!needle) return { match: null, count: 0, remote: remote };
    let count = 0;
    const row = /^#?(\d+)$/.exec(needle);
    if (row && +row[1] < n) { match[+row[1]] = 1; count++; }
    const num = Number(needle), f32 = Math.fround(num), isNum = Number.isFinite(num);
    for (const col of columns) {
      if (!col.search) continue;
      if (col.codes) {
        const hit = new Uint8Array(col.names.length);
        let any = false;
        col.names.forEach((name, k) => {
          const s = String(name).toLowerCase();
          if (col.match === "exact" ? s === needle : s.indexOf(needle) >= 0) { hit[k] = 1; any = true; }
        });
        if (!any) continue;
        const c = col.codes;
        for (let i = 0; i < n; i++) if (hit[c[i]] && !match[i]) { match[i] = 1; count++; }
      } else if (col.values) {
        if (!isNum) continue;
        const v = col.values;
        for (let i = 0; i < n; i++) if (v[i] === f32 && !match[i]) { match[i] = 1; count++; }
      } else if (col.text) {
        // hits come in order: walk the row starts along with them (starts[r] <= at < starts[r + 1])
        const s = col.text.s, starts = col.text.starts;
        let r = 0, at = s.indexOf(needle);
        while (at >= 0) {
          while (starts[r + 1] <= at) r++;
          if (!match[r]) { match[r] = 1; count++; }
          at = s.indexOf(needle, starts[r + 1]);
        }
      } else if (col.serverSearch) {
        remote.push(col);
      }
    }
    return { match: match, count: count, remote: remote };
  }
  // OR the bits of a server answer (bit i of byte i >> 3, least significant first) into `match`
  function orBits(match, b64) {
    const b = bytes(b64);
    let added = 0;
    for (let i = 0; i < match.length; i++) if (!match[i] && (b[i >> 3] >> (i & 7)) & 1) { match[i] = 1; added++; }
    return added;
  }
  function count(a) { let k = 0; for (let i = 0; i < a.length; i++) k += a[i]; return k; }

  global.LatentColumns = {
    BINS: BINS, bytes: bytes, decode: decode, robustRange: robustRange, textIndex: textIndex, textIndexSliced: textIndexSliced, palette: palette, colours: colours, RAMPS: RAMPS,
    rampColour: rampColour, CrossFilter: CrossFilter, search: search, orBits: orBits, count: count,
  };
})(typeof window !== "undefined" ? window : this);
