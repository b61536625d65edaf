/* The report's map: reads the JSON payload, draws it with LatentScatter. The helpers it shares with
 * the 3-D map (report3d.js) live in window.LatentReport: the payload, colours, the legend and the
 * tooltip, built with DOM text nodes only (labels and texts come from user data and are never
 * parsed as HTML). */
(function () {
  "use strict";
  function bytes(b64) {
    var s = atob(b64), a = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
    return a;
  }
  function line(parent, text, bold, cls) {
    var e = document.createElement(bold ? "b" : "div");
    e.textContent = text;
    if (cls) e.className = cls;
    parent.appendChild(e);
  }
  function legend(el, d) {
    d.legend.forEach(function (l) {
      var row = document.createElement("div"), sw = document.createElement("span");
      sw.style.background = l[1];
      row.appendChild(sw);
      row.appendChild(document.createTextNode(l[0]));
      el.appendChild(row);
    });
  }
  /* Fill ``tip`` with point i of payload d and place it beside the pointer inside ``box``. */
  function showTip(tip, box, d, sprite, i, e) {
    if (i < 0 || !e) { tip.style.display = "none"; return; }
    tip.textContent = "";
    line(tip, "#" + d.rows[i] + (d.labels ? "  label " + d.labels[i] : ""), true);
    if (d.texts) line(tip, d.texts[i], false, "tiptext");
    if (d.error) line(tip, "reconstruction error " + d.error[i].toPrecision(3));
    if (d.sprite) {
      var s = d.sprite, c = document.createElement("canvas"), k = Math.max(2, Math.round(84 / Math.max(s.w, s.h)));
      c.width = s.w * k; c.height = s.h * k;
      var g = c.getContext("2d");
      g.imageSmoothingEnabled = false;
      g.drawImage(sprite, (i % s.cols) * s.w, Math.floor(i / s.cols) * s.h, s.w, s.h, 0, 0, s.w * k, s.h * k);
      tip.appendChild(c);
    } else if (d.features) {
      d.features.names.forEach(function (nm, j) { line(tip, nm + " " + d.features.values[i][j]); });
    }
    if (d.meta) d.meta.names.forEach(function (nm, j) {
      var v = d.meta.values[i][j];
      line(tip, nm + ": " + (v === null ? "–" : v), false, "tipmeta");
    });
    var r = box.getBoundingClientRect();
    tip.style.left = (e.clientX - r.left + 14) + "px";
    tip.style.top = (e.clientY - r.top + 14) + "px";
    tip.style.display = "block";
  }
  function payload() {
    var el = document.getElementById("map-data");
    return el ? JSON.parse(el.textContent) : null;
  }
  function spriteImage(d) {
    if (!d.sprite) return null;
    var im = new Image();
    im.src = d.sprite.src;
    return im;
  }
  window.LatentReport = { bytes: bytes, legend: legend, showTip: showTip, payload: payload, spriteImage: spriteImage };

  var d = payload();
  if (!d || !window.LatentScatter) return;
  var mapEl = document.getElementById("map");
  var sc = new LatentScatter(mapEl, { x: Float32Array.from(d.x), y: Float32Array.from(d.y) });
  var sel = document.getElementById("colorby"), leg = document.getElementById("legend");
  legend(leg, d);
  function recolor() {
    sc.setColors(bytes(d.colors[sel.value]));
    leg.style.display = sel.value === "label" && d.legend.length ? "block" : "none";
  }
  sel.addEventListener("change", recolor);
  recolor();
  document.getElementById("resetview").addEventListener("click", function () { sc.reset(); });
  var tip = document.getElementById("tip"), sprite = spriteImage(d);
  sc.onHover = function (i, e) { showTip(tip, mapEl, d, sprite, i, e); };
  mapEl.setAttribute("data-mode", sc.mode);
  mapEl.setAttribute("data-ready", "1");
  window.latentMap = sc;
})();
