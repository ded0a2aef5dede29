// The experiment page: charts from the embedded data, live progress from the API's event
// stream (through the cookie-authenticated /ui route), statistics and weights on demand.
(function () {
  "use strict";
  var C = window.CortexCharts, data = C.pageData(), id = data.experiment;
  var curveCharts = [], refreshTimer = null;
  var curvesBox = document.getElementById("curves"), finalsBox = document.getElementById("finals");
  var seedsBox = document.getElementById("show-seeds");

  function drawCurves(payload) {
    C.clear(curvesBox);
    curveCharts = payload ? C.curves(curvesBox, payload, { seeds: true }) : [];
    if (!seedsBox.checked) C.showSeeds(curveCharts, false);
    curvesBox.setAttribute("data-drawn", String(curveCharts.length));
  }

  function drawFinals(payload) {
    C.clear(finalsBox);
    if (!payload) return;
    payload.tasks.forEach(function (task) {
      var summary = task.summary.map(function (s, i) {
        return { category: i, mean: s.mean, low: s.low, high: s.high, n: s.n };
      });
      C.dots(finalsBox, task.task + " · " + payload.metric +
        (task.undefined ? " (" + task.undefined + " runs undefined)" : ""),
        task.conditions, [{ label: "seeds", points: task.points, summary: summary }], task.chance, payload.metric);
    });
  }

  // Keeps a selector's options in step with the names the server has (they appear as the
  // first runs finish) and reveals its controls once there is something to choose.
  function syncSelect(selectId, controlsId, emptyId, payload) {
    var select = document.getElementById(selectId);
    if (!payload.metric) return false;
    var have = Array.prototype.map.call(select.options, function (o) { return o.value; });
    if (have.join("|") !== payload.names.join("|")) {
      C.clear(select);
      payload.names.forEach(function (n) { select.appendChild(C.el("option", { value: n }, n)); });
    }
    select.value = payload.metric;
    document.getElementById(controlsId).hidden = false;
    var empty = document.getElementById(emptyId);
    if (empty) empty.remove();
    return true;
  }

  function reloadCurves() {
    var m = document.getElementById("curve-metric").value || "";
    C.getJSON("/ui/experiments/" + id + "/curves?metric=" + encodeURIComponent(m)).then(function (p) {
      if (syncSelect("curve-metric", "curve-controls", "curves-empty", p)) drawCurves(p);
    });
  }

  function reloadFinals() {
    var m = document.getElementById("final-metric").value || "";
    C.getJSON("/ui/experiments/" + id + "/finals?metric=" + encodeURIComponent(m)).then(function (p) {
      if (syncSelect("final-metric", "final-controls", "finals-empty", p)) drawFinals(p);
    });
  }

  function loadStats() {
    var box = document.getElementById("stats");
    fetch(box.getAttribute("data-src"), { credentials: "same-origin" })
      .then(function (r) { return r.text().then(function (t) { return { ok: r.ok, text: t }; }); })
      .then(function (r) {
        // Same-origin HTML rendered by our own template (escaped by Jinja2).
        if (r.ok) box.innerHTML = r.text;
        else box.textContent = "Statistics could not be computed: " + r.text;
      });
  }

  function refreshResults() {
    // Several runs finishing together cause one reload, not one each.
    if (refreshTimer) return;
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      reloadCurves(); reloadFinals(); loadStats();
    }, 1500);
  }

  function badge(state, n) {
    var b = C.el("span", { "class": "badge s-" + state }, n + " " + state);
    return b;
  }

  // As the server's `duration` filter (templating.py), so that the ETA reads the same.
  function duration(seconds) {
    var s = Math.round(seconds);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + " min";
    return Math.floor(s / 86400) + " d " + Math.floor(s % 86400 / 3600) + " h";
  }

  function onProgress(p) {
    document.getElementById("progress").value = p.percent;
    document.getElementById("percent").textContent = p.percent.toFixed(1) + " %";
    var counts = document.getElementById("counts");
    C.clear(counts);
    ["running", "queued", "pending", "succeeded", "failed", "cancelled", "lost"].forEach(function (s) {
      if (p.counts[s]) { counts.appendChild(badge(s, p.counts[s])); counts.appendChild(document.createTextNode(" ")); }
    });
    var eta = document.getElementById("eta");
    eta.textContent = p.eta_seconds ? "ETA " + duration(p.eta_seconds) : "";
    var phrase = p.status !== "active" ? p.status : p.counts.running ? "running" : p.counts.queued ? "queued" : p.counts.pending ? "waiting" : "finishing";
    showState(phrase);
  }

  function showState(phrase) {
    var state = document.getElementById("state");
    state.textContent = phrase;
    state.className = "badge s-" + phrase;
  }

  function onRun(r) {
    var cell = document.getElementById("run-" + r.id);
    // The stream opens with every run's state: only a change of state means new results.
    var changed = !cell || !cell.classList.contains("s-" + r.state);
    if (cell) {
      cell.className = "cell s-" + r.state + (cell.classList.contains("selected") ? " selected" : "");
      cell.title = "run " + r.id + " · seed " + r.seed + " · " + r.state +
        (r.state === "running" ? " " + Math.round(100 * r.progress) + " %" : "") + (r.error ? " · " + r.error : "");
    }
    if (changed && r.state === "succeeded") refreshResults();
  }

  function listen() {
    var source = new EventSource("/ui/experiments/" + id + "/events");
    var seen = 0;
    function count() { document.body.setAttribute("data-events", String(++seen)); }
    source.addEventListener("progress", function (e) { count(); onProgress(JSON.parse(e.data)); });
    source.addEventListener("run", function (e) { count(); onRun(JSON.parse(e.data)); });
    source.addEventListener("done", function (e) { count(); source.close(); showState(JSON.parse(e.data).status); refreshResults(); });
  }

  function showWeights(runId) {
    var box = document.getElementById("heatmaps"), hint = document.getElementById("weights-hint");
    document.querySelectorAll(".cell.selected").forEach(function (c) { c.classList.remove("selected"); });
    var cell = document.getElementById("run-" + runId);
    if (cell) cell.classList.add("selected");
    C.getJSON("/ui/runs/" + runId + "/heatmaps").then(function (w) {
      C.clear(box);
      hint.textContent = "Run " + w.run + ": " + w.task + " · " + w.condition + " · seed " + w.seed +
        " (blue negative, red positive; ";
      var link = C.el("a", { href: "/ui/runs/" + w.run + "/weights.npz" }, "download .npz");
      hint.appendChild(link); hint.appendChild(document.createTextNode(")"));
      w.images.forEach(function (img) { C.matrix(box, img, 320); });
    }).catch(function (err) { C.clear(box); hint.textContent = err.message; });
  }

  document.getElementById("grid").addEventListener("click", function (e) {
    var run = e.target.getAttribute && e.target.getAttribute("data-run");
    if (!run) return;
    e.preventDefault();
    showWeights(run);
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) { if (!confirm(f.getAttribute("data-confirm"))) e.preventDefault(); });
  });
  document.getElementById("curve-metric").addEventListener("change", reloadCurves);
  document.getElementById("final-metric").addEventListener("change", reloadFinals);
  seedsBox.addEventListener("change", function () { C.showSeeds(curveCharts, seedsBox.checked); });

  drawCurves(data.curves);
  drawFinals(data.finals);
  if (document.querySelector("#stats .muted")) loadStats();
  if (data.status === "active") listen();
})();
