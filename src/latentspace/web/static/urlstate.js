/* latentspace URL state: what a view is (map window, colouring, filters, search, selection, lasso
 * groups, the open tab, the 3-D view and its camera) kept in the address bar's fragment (#...; never sent to the server, and the
 * launch token never goes there), so a view can be bookmarked and shared. Written with replaceState
 * (no history entry per pan). Lasso groups are packed: the sorted rows as gaps (row - previous - 1) in
 * LEB128 varints, raw-deflated, URL-safe base64 (the server's export reads the same form; a group of
 * 3,000 rows out of 8,000 packs into about 500 characters). A group whose packed form is over
 * MAX_INLINE characters is kept in this tab's sessionStorage instead and the URL names it "@<digest>":
 * such a link restores the group in the same tab (a reload); elsewhere the page says it is missing. */
(function (global) {
  "use strict";
  const MAX_INLINE = 16000;
  const STORE = "latentspace-group-";

  function b64url(u8) {
    let s = "";
    for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function unb64url(t) {
    const s = atob(t.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((t.length + 3) % 4));
    const a = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
    return a;
  }
  // u8 through a (de)compression stream; more than `most` bytes out is refused (a link is untrusted
  // input: a small deflated text may inflate to gigabytes)
  async function through(stream, u8, most) {
    const reader = new Blob([u8]).stream().pipeThrough(stream).getReader(), parts = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (most !== undefined && total > most) { reader.cancel(); throw new Error("a lasso group of this link is larger than the run"); }
      parts.push(value);
    }
    const out = new Uint8Array(total);
    let k = 0;
    for (const p of parts) { out.set(p, k); k += p.length; }
    return out;
  }

  // rows (any order, repeats allowed) -> packed text
  async function pack(rows) {
    const sorted = Int32Array.from(new Set(rows)).sort(), out = new Uint8Array(sorted.length * 5);
    let k = 0, prev = -1;
    for (let j = 0; j < sorted.length; j++) {
      let g = sorted[j] - prev - 1;
      prev = sorted[j];
      while (g >= 128) { out[k++] = (g & 127) | 128; g = Math.floor(g / 128); }
      out[k++] = g;
    }
    return b64url(await through(new CompressionStream("deflate-raw"), out.subarray(0, k)));
  }
  async function unpack(text, n) {
    const b = await through(new DecompressionStream("deflate-raw"), unb64url(text), 5 * n + 16), rows = [];
    let prev = -1, g = 0, shift = 1;
    for (let i = 0; i < b.length; i++) {
      g += (b[i] & 127) * shift;
      if (b[i] & 128) { shift *= 128; continue; }
      prev = prev + g + 1; g = 0; shift = 1;
      if (prev >= n) throw new Error("a packed group names row " + prev + " of " + n);
      rows.push(prev);
    }
    return rows;
  }

  // a short digest of a text (for sessionStorage keys)
  function digest(text) {
    let h1 = 0x811c9dc5, h2 = 0x1000193;
    for (let i = 0; i < text.length; i++) { const c = text.charCodeAt(i); h1 = Math.imul(h1 ^ c, 16777619); h2 = Math.imul(h2 + c, 2654435761); }
    return (h1 >>> 0).toString(36) + (h2 >>> 0).toString(36);
  }
  // a group in the URL: the packed text, or "@digest" with the text in sessionStorage
  async function groupToUrl(rows) {
    if (!rows.length) return "";
    const text = await pack(rows);
    if (text.length <= MAX_INLINE) return text;
    const key = digest(text);
    try { sessionStorage.setItem(STORE + key, text); } catch (e) { return ""; }
    return "@" + key;
  }
  async function groupFromUrl(value, n) {
    if (!value) return [];
    let text = value;
    if (value[0] === "@") {
      try { text = sessionStorage.getItem(STORE + value.slice(1)); } catch (e) { text = null; }
      if (!text) throw new Error("a lasso group of this link is kept only in the tab that made it");
    }
    return unpack(text, n);
  }

  // the fragment as {key: value} and back
  function read() {
    const h = location.hash.replace(/^#/, ""), out = {};
    if (!h) return out;
    for (const [k, v] of new URLSearchParams(h)) out[k] = v;
    return out;
  }
  function write(state) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(state)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
    const h = p.toString();
    const url = location.pathname + location.search + (h ? "#" + h : "");
    if (url !== location.pathname + location.search + location.hash) history.replaceState(history.state, "", url);
  }
  const num = (x) => (+x.toPrecision(6)).toString();
  const view = (v) => [v.x0, v.y0, v.x1, v.y1].map(num).join(",");
  function parseView(s) {
    const a = (s || "").split(",").map(Number);
    return a.length === 4 && a.every(Number.isFinite) && a[2] > a[0] && a[3] > a[1] ? { x0: a[0], y0: a[1], x1: a[2], y1: a[3] } : null;
  }

  // a 3-D view's camera (scatter3d.js: yaw, pitch, distance, target) as "yaw,pitch,dist,tx,ty,tz"
  const camera = (c) => [c.yaw, c.pitch, c.dist].concat(c.target).map(num).join(",");
  function parseCamera(s) {
    const a = (s || "").split(",").map(Number);
    if (a.length !== 6 || !a.every(Number.isFinite) || !(a[2] > 0) || Math.abs(a[1]) > 1.6) return null;
    return { yaw: a[0], pitch: a[1], dist: a[2], target: a.slice(3) };
  }

  global.LatentUrl = {
    pack: pack, unpack: unpack, groupToUrl: groupToUrl, groupFromUrl: groupFromUrl, read: read, write: write,
    view: view, parseView: parseView, camera: camera, parseCamera: parseCamera, MAX_INLINE: MAX_INLINE,
  };
})(typeof window !== "undefined" ? window : this);
