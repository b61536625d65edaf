/* The report's 3-D map: the same rows as the 2-D map (the payload's xyz3), drawn by LatentScatter3D
 * (scatter3d.js), coloured by the same "colour by" choice, with the tooltip of report.js
 * (window.LatentReport) and a click that marks a point. */
(function () {
  "use strict";
  var R = window.LatentReport, box = document.getElementById("map3d");
  if (!R || !box || !window.LatentScatter3D) return;
  var d = R.payload();
  if (!d || !d.xyz3) return;
  var n = d.xyz3.length, x = new Float32Array(n), y = new Float32Array(n), z = new Float32Array(n);
  for (var i = 0; i < n; i++) { x[i] = d.xyz3[i][0]; y[i] = d.xyz3[i][1]; z[i] = d.xyz3[i][2]; }
  var sc = new LatentScatter3D(box, { x: x, y: y, z: z });
  var sel = document.getElementById("colorby"), legend = document.getElementById("legend3d");
  R.legend(legend, d);
  function recolor() {
    if (!sel || !d.colors[sel.value]) return;
    sc.setColors(R.bytes(d.colors[sel.value]));
    legend.style.display = sel.value === "label" && d.legend.length ? "block" : "none";
  }
  if (sel) sel.addEventListener("change", recolor);
  recolor();
  var reset = document.getElementById("resetview3d");
  if (reset) reset.addEventListener("click", function () { sc.reset(); });
  var tip = document.getElementById("tip3d"), sprite = R.spriteImage(d);
  sc.onHover = function (i, e) { R.showTip(tip, box, d, sprite, i, e); };
  sc.onClick = function (i) {
    sc.selected = sc.selected === i ? -1 : i;
    sc.drawOverlay();
    box.setAttribute("data-selected", sc.selected >= 0 ? String(d.rows[sc.selected]) : "");
  };
  box.setAttribute("data-mode", sc.mode);
  box.setAttribute("data-ready", "1");
  window.latentMap3d = sc;
})();
