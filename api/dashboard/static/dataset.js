// A dataset's neurons in space (three projections, coloured by field or cell type) and its
// derived matrices, fetched on demand.
(function () {
  "use strict";
  var C = window.CortexCharts, data = C.pageData(), nn = data.neurons;
  var box = document.getElementById("neurons"), matrices = document.getElementById("matrices");
  var AXES = { xy: ["x", "y", true], xz: ["x", "z", false], yz: ["z", "y", true] };

  function draw() {
    var view = AXES[document.getElementById("projection").value];
    var by = document.getElementById("colour-by").value;
    C.clear(box);
    C.scatter(box, nn.shown + " neurons", nn[view[0]], nn[view[1]], nn[by], nn[by + "s"],
      [view[0] + " (µm)", view[1] + " (µm)" + (view[2] ? ", depth downward" : "")], view[2]);
    box.setAttribute("data-drawn", "1");
  }
  document.getElementById("neurons-note").textContent =
    nn.shown < nn.n ? "a fixed sample of " + nn.shown + " of " + nn.n + " neurons" : "";
  document.getElementById("projection").addEventListener("change", draw);
  document.getElementById("colour-by").addEventListener("change", draw);
  draw();

  var shown = {};
  document.querySelectorAll(".matrix-button").forEach(function (b) {
    b.addEventListener("click", function () {
      var kind = b.getAttribute("data-kind");
      if (shown[kind]) return;
      shown[kind] = true;
      b.disabled = true;
      C.getJSON("/ui/datasets/" + encodeURIComponent(data.name) + "/matrix/" + kind)
        .then(function (m) { C.matrix(matrices, m, 360); })
        .catch(function (e) { shown[kind] = false; b.disabled = false; alert(e.message); });
    });
  });
  var first = document.querySelector(".matrix-button");
  if (first) first.click();
})();
