/* The report's 3-D map: the same rows as the 2-D map (the payload's xyz3), drawn by LatentScatter3D
 * (scatter3d.js), coloured by the same "colour by" choice, with its own tooltip (DOM text nodes
 * only: labels and texts come from user data) and a click that marks a point. */
(function () {
  "use strict";
  var el = document.getElementById("map-data"), box = document.getElementById("map3d");
  if (!el || !box || !window.LatentScatter3D) return;
  var d = JSON.parse(el.textContent);
  if (!d.xyz3) return;
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
  var n = d.xyz3.length, x = new Float32Array(n), y = new Float32Array(n), z = new Float32Array(n);
  for (var i = 0; i < n; i++) { x[i] = d.xyz3[i][0]; y[i] = d.xyz3[i][1]; z[i] = d.xyz3[i][2]; }
  var sc = new LatentScatter3D(box, { x: x, y: y, z: z });
  var sel = document.getElementById("colorby"), legend = document.getElementById("legend3d");
  d.legend.forEach(function (l) {
    var row = document.createElement("div"), sw = document.createElement("span");
    sw.style.background = l[1];
    row.appendChild(sw);
    row.appendChild(document.createTextNode(l[0]));
    legend.appendChild(row);
  });
  function recolor() {
    if (!sel || !d.colors[sel.value]) return;
    sc.setColors(bytes(d.colors[sel.value]));
    legend.style.display = sel.value === "label" && d.legend.length ? "block" : "none";
  }
  if (sel) sel.addEventListener("change", recolor);
  recolor();
  var reset = document.getElementById("resetview3d");
  if (reset) reset.addEventListener("click", function () { sc.reset(); });
  var tip = document.getElementById("tip3d"), sprite = null;
  if (d.sprite) { sprite = new Image(); sprite.src = d.sprite.src; }
  sc.onHover = function (i, e) {
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
  };
  sc.onClick = function (i) {
    sc.selected = sc.selected === i ? -1 : i;
    sc.drawOverlay();
    box.setAttribute("data-selected", sc.selected >= 0 ? String(d.rows[sc.selected]) : "");
  };
  box.setAttribute("data-mode", sc.mode);
  box.setAttribute("data-ready", "1");
  window.latentMap3d = sc;
})();
