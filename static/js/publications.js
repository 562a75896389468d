// Publications page: the hidden expected_version follows the chosen scope, so generating a
// draft over a version someone else just made is refused instead of silently stacked.
(function () {
  "use strict";
  var sel = document.getElementById("pub-scope"), exp = document.getElementById("pub-expected");
  if (!sel || !exp) return;
  var latest = JSON.parse(sel.dataset.latest || "{}");
  function sync() { var key = sel.value ? "category:" + sel.value : "stage"; exp.value = latest[key] || 0; }
  sel.addEventListener("change", sync);
  sync();
})();
