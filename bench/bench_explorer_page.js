/* The page side of bench_explorer_page.py, added to the explorer before its own scripts run: every
 * draw of a LatentScatter is logged ({t0, t1: its start and end, next: the start of the frame after
 * it, when the drawn canvas has been handed to the compositor; kind: "full" or "bitmap"; state: the
 * state bytes it drew}), inputs are stamped as they arrive, and a recorder keeps the start time of
 * every animation frame. All times are performance.now(): ms from navigation start. */
(() => {
  const log = (window.__draws = []);
  let Scatter;
  Object.defineProperty(window, "LatentScatter", {
    configurable: true,
    get() { return Scatter; },
    set(S) {
      Scatter = S;
      const draw = S.prototype.draw;
      S.prototype.draw = function () {
        const t0 = performance.now(), out = draw.apply(this, arguments);
        if (!this.w) return out;
        const e = { t0: t0, t1: performance.now(), kind: this.frameKind || "full", state: this.state, n: this.n, next: null };
        log.push(e);
        requestAnimationFrame(() => { e.next = performance.now(); });
        return out;
      };
    },
  });
  window.__inputs = [];  // [type, event.timeStamp]: when the browser received the input
  for (const type of ["change", "input", "mousedown", "wheel"]) {
    addEventListener(type, (e) => { window.__inputs.push([type, e.timeStamp]); }, { capture: true, passive: true });
  }
  window.__frames = null;
  window.__record = (on) => {
    if (!on) { const f = window.__frames; window.__frames = null; return f; }
    const f = (window.__frames = []);
    const tick = (t) => { if (window.__frames === f) { f.push(t); requestAnimationFrame(tick); } };
    requestAnimationFrame(tick);
    return true;
  };
  // the first full draw after time t of the state bytes the explorer holds now: [its end, the next
  // frame's start, its duration]
  window.__updated = (t) => {
    const want = window.explorer && window.explorer.stateBytes;
    const e = log.find((d) => d.kind === "full" && d.t0 >= t && d.state === want && d.next !== null);
    return e ? [e.t1, e.next, e.t1 - e.t0] : null;
  };
  window.__renderer = () => {
    const gl = document.createElement("canvas").getContext("webgl");
    if (!gl) return "no WebGL";
    const d = gl.getExtension("WEBGL_debug_renderer_info");
    return String(gl.getParameter(d ? d.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  };
})();
