// Compare: per shared task, each experiment's seeds and mean ± interval per condition, and
// the experiments' mean curves overlaid (colour: condition, dash: experiment).
(function () {
  "use strict";
  var C = window.CortexCharts, data = C.pageData();
  var finalsBox = document.getElementById("compare-finals"), curvesBox = document.getElementById("compare-curves");
  var conditions = data.conditions, index = {};
  conditions.forEach(function (c, i) { index[c] = i; });

  data.tasks.forEach(function (taskName) {
    var groups = [], chance = null, metric = null;
    data.finals.forEach(function (payload, ei) {
      if (!payload) return;
      metric = payload.metric;
      var task = payload.tasks.filter(function (t) { return t.task === taskName; })[0];
      if (!task) return;
      chance = task.chance;
      var points = [], summary = [];
      task.points.forEach(function (p) {
        var name = task.conditions[p[0]];
        if (name in index) points.push([index[name], p[1], p[2], p[3]]);
      });
      task.summary.forEach(function (s) {
        if (s.condition in index) summary.push({ category: index[s.condition], mean: s.mean, low: s.low, high: s.high, n: s.n });
      });
      groups.push({ label: "#" + data.experiments[ei].id + " " + data.experiments[ei].name, points: points, summary: summary });
    });
    if (groups.length) C.dots(finalsBox, taskName + " · " + metric, conditions, groups, chance, metric);
  });

  data.tasks.forEach(function (taskName) {
    var series = [{ label: "epoch" }], cols = [], all = [], chance = null, metric = null;
    var frames = [];
    data.curves.forEach(function (payload, ei) {
      if (!payload) return;
      metric = payload.metric;
      var task = payload.tasks.filter(function (t) { return t.task === taskName; })[0];
      if (task) { frames.push({ ei: ei, task: task }); chance = task.chance; }
    });
    if (!frames.length) return;
    // One x axis for all: the union of every experiment's positions.
    var xs = {};
    frames.forEach(function (f) { f.task.x.forEach(function (v) { xs[v] = true; }); });
    var x = Object.keys(xs).map(Number).sort(function (a, b) { return a - b; });
    frames.forEach(function (f) {
      var pos = {};
      f.task.x.forEach(function (v, i) { pos[v] = i; });
      f.task.conditions.forEach(function (c) {
        if (!(c.name in index)) return;
        var y = x.map(function (v) { return v in pos ? c.mean[pos[v]] : null; });
        series.push({ label: "#" + data.experiments[f.ei].id + " " + c.name, stroke: C.colour(index[c.name]),
                      dash: C.dashes[f.ei % C.dashes.length], width: 2, points: { show: false }, spanGaps: true });
        cols.push(y); all.push(y);
      });
    });
    var box = C.el("div", { "class": "chart" });
    box.appendChild(C.el("h3", {}, taskName + " · " + metric + " (mean over seeds)"));
    curvesBox.appendChild(box);
    var lo = Infinity, hi = -Infinity;
    all.forEach(function (a) { a.forEach(function (v) { if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }); });
    if (chance !== null) { lo = Math.min(lo, chance); hi = Math.max(hi, chance); }
    var pad = (hi - lo) * 0.05 || 0.05;
    new uPlot({
      width: Math.min(760, Math.max(320, curvesBox.clientWidth - 20)), height: 300,
      scales: { x: { time: false }, y: { range: [lo - pad, hi + pad] } },
      axes: [{ label: "epoch" }, { label: metric }], series: series, legend: { show: false },
      cursor: { points: { show: false } }
    }, [x].concat(cols), box);
    var legend = C.el("div", { "class": "legend" });
    conditions.forEach(function (c, i) {
      var l = C.el("span"), sw = C.el("span", { "class": "swatch" });
      sw.style.background = C.colour(i); l.appendChild(sw); l.appendChild(document.createTextNode(c)); legend.appendChild(l);
    });
    data.experiments.forEach(function (e, ei) {
      legend.appendChild(C.el("span", {}, ["solid", "dashed", "dotted", "dash-dot", "short dash", "fine dots"][ei % 6] + ": #" + e.id));
    });
    box.appendChild(legend);
  });
  finalsBox.setAttribute("data-drawn", String(finalsBox.children.length));
  curvesBox.setAttribute("data-drawn", String(curvesBox.children.length));
})();
