// Chart helpers on the vendored uPlot: learning curves with bands over seeds, seed points with
// mean and interval per category, scatter by category, and matrices as images. The server
// sends aggregated data (api/dashboard/curves.py, finals.py, images.py); nothing is computed
// here beyond drawing.
(function () {
  "use strict";

  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3], [4, 4], [1, 2]];

  function colour(i) { return PALETTE[i % PALETTE.length]; }

  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function panel(container, title) {
    var box = el("div", { "class": "chart" });
    box.appendChild(el("h3", {}, title));
    container.appendChild(box);
    return box;
  }

  function width(container) {
    var w = container.clientWidth || 900;
    return Math.max(320, Math.min(760, w - 20));
  }

  // A dashed horizontal line at `value` across the plot (chance level).
  function hline(value) {
    return function (u) {
      if (value === null || value === undefined) return;
      var y = u.valToPos(value, "y", true);
      if (!isFinite(y)) return;
      var ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = "#888";
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
      ctx.restore();
    };
  }

  function legend(box, items, onToggle) {
    var div = el("div", { "class": "legend" });
    items.forEach(function (item, i) {
      var label = el("label");
      if (onToggle) {
        var box2 = el("input", { type: "checkbox" });
        box2.checked = true;
        box2.addEventListener("change", function () { onToggle(i, box2.checked); });
        label.appendChild(box2);
      }
      var sw = el("span", { "class": "swatch" });
      sw.style.background = item.colour;
      if (item.dash) sw.style.background = "repeating-linear-gradient(90deg," + item.colour + " 0 5px, transparent 5px 8px)";
      label.appendChild(sw);
      label.appendChild(document.createTextNode(item.label));
      div.appendChild(label);
    });
    box.appendChild(div);
  }

  function yRange(values, chance) {
    var lo = Infinity, hi = -Infinity;
    values.forEach(function (arr) {
      for (var i = 0; i < arr.length; i++) {
        var v = arr[i];
        if (v !== null && isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
      }
    });
    if (chance !== null && chance !== undefined) { lo = Math.min(lo, chance); hi = Math.max(hi, chance); }
    if (!isFinite(lo)) return [0, 1];
    var pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 0.05;
    return [lo - pad, hi + pad];
  }

  // One chart per task: per condition the mean (bold), its band, and each seed (faint).
  // opts.seeds: draw seed lines; opts.dashOf(conditionIndex) for compare overlays.
  function curves(container, payload, opts) {
    opts = opts || {};
    var charts = [];
    (payload.tasks || []).forEach(function (task) {
      var box = panel(container, (opts.titlePrefix || "") + task.task + " · " + payload.metric +
        (task.binned ? " (averaged in bins)" : ""));
      var series = [{ label: "epoch" }], data = [task.x], bands = [], groups = [], all = [];
      task.conditions.forEach(function (c, ci) {
        var col = colour(ci), group = { seeds: [], main: [] };
        if (opts.seeds !== false) {
          c.seeds.forEach(function (s) {
            series.push({ label: c.name + " seed " + s.seed, stroke: alpha(col, 0.22), width: 1,
                          points: { show: false }, spanGaps: true });
            data.push(s.y);
            group.seeds.push(series.length - 1);
          });
        }
        series.push({ label: c.name + " high", stroke: "transparent", width: 0, points: { show: false } });
        data.push(c.high); var hi = series.length - 1;
        series.push({ label: c.name + " low", stroke: "transparent", width: 0, points: { show: false } });
        data.push(c.low); var lo = series.length - 1;
        bands.push({ series: [hi, lo], fill: alpha(col, 0.18) });
        series.push({ label: c.name, stroke: col, width: 2.2, points: { show: false }, spanGaps: true });
        data.push(c.mean);
        group.main = [hi, lo, series.length - 1];
        groups.push(group);
        all.push(c.mean, c.low, c.high);
      });
      var u = new uPlot({
        width: width(container), height: 300,
        scales: { x: { time: false }, y: { range: yRange(all, task.chance) } },
        axes: [{ label: "epoch" }, { label: payload.metric }],
        series: series, bands: bands, legend: { show: false },
        cursor: { points: { show: false }, drag: { x: true, y: false } },
        hooks: { draw: [hline(task.chance)] }
      }, data, box);
      legend(box, task.conditions.map(function (c, ci) {
        return { label: c.name + " (n=" + c.n + ")", colour: colour(ci) };
      }).concat(task.chance !== null && task.chance !== undefined ?
        [{ label: "chance " + task.chance, colour: "#888", dash: true }] : []),
      function (ci, on) {
        if (ci >= groups.length) return;
        u.batch(function () {
          groups[ci].main.concat(groups[ci].seeds).forEach(function (i) { u.setSeries(i, { show: on }); });
        });
      });
      charts.push({ plot: u, groups: groups });
    });
    return charts;
  }

  function showSeeds(charts, on) {
    charts.forEach(function (c) {
      c.plot.batch(function () {
        c.groups.forEach(function (g) { g.seeds.forEach(function (i) { c.plot.setSeries(i, { show: on }); }); });
      });
    });
  }

  // Categories on x; per group (experiment) its seeds as jittered points, and per category
  // its mean (tick) with the interval (whisker), drawn in a hook.
  // groups: [{label, points: [[catIndex, seed, run, value]], summary: [{category, mean, low, high, n}]}]
  function dots(container, title, categories, groups, chance, yLabel) {
    var box = panel(container, title);
    var k = groups.length, spread = k > 1 ? 0.7 / k : 0;
    var xs = [], rows = [];
    groups.forEach(function (g, gi) {
      var off = k > 1 ? -0.35 + spread * (gi + 0.5) : 0;
      g.points.forEach(function (p, pi) {
        // Deterministic jitter: the same seed lands in the same place on every load.
        var jitter = (((p[1] * 7919 + pi * 104729) % 1000) / 1000 - 0.5) * Math.max(spread, 0.3) * 0.6;
        xs.push({ x: p[0] + off + jitter, g: gi, v: p[3] });
      });
    });
    xs.sort(function (a, b) { return a.x - b.x; });
    var data = [xs.map(function (p) { return p.x; })];
    var series = [{ label: "category" }];
    groups.forEach(function (g, gi) {
      data.push(xs.map(function (p) { return p.g === gi ? p.v : null; }));
      series.push({ label: g.label, stroke: colour(gi), paths: function () { return null; },
                    points: { show: true, size: 5, width: 1, stroke: alpha(colour(gi), 0.75), fill: alpha(colour(gi), 0.35) } });
      rows.push(data[data.length - 1]);
    });
    var summaries = [];
    groups.forEach(function (g, gi) {
      var off = k > 1 ? -0.35 + spread * (gi + 0.5) : 0;
      (g.summary || []).forEach(function (s) {
        summaries.push({ x: s.category + off, s: s, col: colour(gi) });
        rows.push([s.low, s.high, s.mean]);
      });
    });
    function whiskers(u) {
      var ctx = u.ctx, d = devicePixelRatio;
      ctx.save();
      summaries.forEach(function (w) {
        if (w.s.mean === null) return;
        var x = u.valToPos(w.x, "x", true), half = 9 * d;
        ctx.strokeStyle = "#111"; ctx.lineWidth = 2 * d;
        if (w.s.low !== null && w.s.high !== null) {
          ctx.beginPath();
          ctx.moveTo(x, u.valToPos(w.s.low, "y", true));
          ctx.lineTo(x, u.valToPos(w.s.high, "y", true));
          ctx.stroke();
        }
        ctx.beginPath();
        var y = u.valToPos(w.s.mean, "y", true);
        ctx.moveTo(x - half, y); ctx.lineTo(x + half, y);
        ctx.stroke();
      });
      ctx.restore();
    }
    var u = new uPlot({
      width: width(container), height: 300,
      scales: { x: { time: false, range: [-0.6, categories.length - 0.4] }, y: { range: yRange(rows, chance) } },
      axes: [{
        splits: function () { return categories.map(function (_, i) { return i; }); },
        values: function (u, splits) { return splits.map(function (i) { return categories[i] || ""; }); },
        rotate: categories.length > 5 ? -30 : 0, size: categories.length > 5 ? 80 : 40
      }, { label: yLabel }],
      series: series, legend: { show: false }, cursor: { points: { show: false } },
      hooks: { draw: [hline(chance), whiskers] }
    }, data, box);
    legend(box, groups.map(function (g, gi) { return { label: g.label, colour: colour(gi) }; })
      .concat(chance !== null && chance !== undefined ? [{ label: "chance " + chance, colour: "#888", dash: true }] : []));
    return u;
  }

  // Scatter of points coloured by a category code.
  function scatter(container, title, x, y, codes, names, labels, invertY) {
    var box = panel(container, title);
    var order = x.map(function (_, i) { return i; }).sort(function (a, b) { return x[a] - x[b]; });
    var data = [order.map(function (i) { return x[i]; })], series = [{ label: labels[0] }];
    names.forEach(function (name, ci) {
      data.push(order.map(function (i) { return codes[i] === ci ? y[i] : null; }));
      series.push({ label: name, stroke: colour(ci), paths: function () { return null; },
                    points: { show: true, size: 3, width: 0, fill: alpha(colour(ci), 0.6), stroke: alpha(colour(ci), 0.6) } });
    });
    var u = new uPlot({
      width: width(container), height: 460,
      scales: { x: { time: false }, y: { dir: invertY ? -1 : 1 } },
      axes: [{ label: labels[0] }, { label: labels[1] }],
      series: series, legend: { show: false }, cursor: { points: { show: false } }
    }, data, box);
    legend(box, names.map(function (n, ci) { return { label: n, colour: colour(ci) }; }),
      function (ci, on) { u.setSeries(ci + 1, { show: on }); });
    return u;
  }

  // Colour maps as 255-entry tables from a few anchors (viridis; blue-white-red).
  function lut(anchors) {
    var out = [];
    for (var i = 0; i < 255; i++) {
      var t = i / 254 * (anchors.length - 1), j = Math.min(Math.floor(t), anchors.length - 2), f = t - j;
      out.push([0, 1, 2].map(function (c) { return Math.round(anchors[j][c] + f * (anchors[j + 1][c] - anchors[j][c])); }));
    }
    return out;
  }
  var SEQUENTIAL = lut([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]]);
  var DIVERGING = lut([[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]]);

  function label(payload, v) {
    var x = payload.log ? Math.pow(10, v) - 1 : v;
    return (Math.abs(x) >= 1000 || (Math.abs(x) < 0.01 && x !== 0)) ? x.toExponential(1) : (+x.toPrecision(3)).toString();
  }

  function matrix(container, payload, side) {
    var box = panel(container, payload.title + " — " + payload.n + " × " + payload.n +
      (payload.rows < payload.n ? " (block means)" : ""));
    var map = payload.diverging ? DIVERGING : SEQUENTIAL;
    var codes = atob(payload.data), canvas = el("canvas", { "class": "matrix", width: payload.cols, height: payload.rows });
    canvas.style.width = (side || 300) + "px";
    canvas.style.height = Math.round((side || 300) * payload.rows / payload.cols) + "px";
    var ctx = canvas.getContext("2d"), img = ctx.createImageData(payload.cols, payload.rows);
    for (var i = 0; i < codes.length; i++) {
      var c = codes.charCodeAt(i), rgb = c === 255 ? [210, 210, 210] : map[c];
      img.data[4 * i] = rgb[0]; img.data[4 * i + 1] = rgb[1]; img.data[4 * i + 2] = rgb[2]; img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    box.appendChild(canvas);
    var bar = el("div", { "class": "colourbar" }), scale = el("canvas", { width: 255, height: 1 });
    var sctx = scale.getContext("2d"), simg = sctx.createImageData(255, 1);
    for (var j = 0; j < 255; j++) { simg.data[4 * j] = map[j][0]; simg.data[4 * j + 1] = map[j][1]; simg.data[4 * j + 2] = map[j][2]; simg.data[4 * j + 3] = 255; }
    sctx.putImageData(simg, 0, 0);
    bar.appendChild(el("span", {}, label(payload, payload.min)));
    bar.appendChild(scale);
    bar.appendChild(el("span", {}, label(payload, payload.max) + (payload.unit ? " " + payload.unit : "") + (payload.log ? " (log scale)" : "")));
    box.appendChild(bar);
    return canvas;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) return r.json().then(function (b) { throw new Error((b.error && b.error.message) || r.statusText); });
        return r.json();
      });
  }

  function pageData() {
    var node = document.getElementById("page-data");
    return node ? JSON.parse(node.textContent) : {};
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  window.CortexCharts = {
    curves: curves, showSeeds: showSeeds, dots: dots, scatter: scatter, matrix: matrix,
    colour: colour, dashes: DASHES, getJSON: getJSON, pageData: pageData, clear: clear, el: el
  };
})();
