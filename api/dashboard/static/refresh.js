// Reloads a page that shows live state every data-refresh seconds, unless the user is
// typing in it or the tab is hidden.
(function () {
  "use strict";
  var el = document.querySelector("[data-refresh]");
  if (!el) return;
  var seconds = parseInt(el.getAttribute("data-refresh"), 10) || 15;
  setInterval(function () {
    if (document.hidden) return;
    var a = document.activeElement;
    if (a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA" || a.tagName === "SELECT")) return;
    location.reload();
  }, seconds * 1000);
})();
