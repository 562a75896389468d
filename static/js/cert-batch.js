// Certificate batch page: poll the job's status until its files are ready (no inline script: CSP).
(function () {
  "use strict";
  var box = document.getElementById("batch");
  if (!box) return;
  function poll() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (s) {
      var bar = document.getElementById("bar");
      bar.max = s.total || 1; bar.value = s.done;
      document.getElementById("done").textContent = s.done;
      document.getElementById("total").textContent = s.total;
      document.getElementById("state").textContent = s.status;
      document.getElementById("error").textContent = s.error || "";
      if (s.ready) { document.getElementById("files").hidden = false; return; }
      if (s.status !== "failed") setTimeout(poll, 1000);
    }).catch(function () { setTimeout(poll, 3000); });
  }
  if (document.getElementById("files").hidden) poll();
})();
