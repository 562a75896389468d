/* Every judge page: on logout, forget this judge's offline copy of pages and API answers
   (tablets are shared). The outbox in IndexedDB is kept: unsent sheets are never dropped, and
   they are sent the next time the same judge signs in (they are keyed by judge and stage). */
(function () {
  "use strict";
  var DATA_CACHE = "judge-data-v1";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("logout-form");
    if (!form) return;
    form.addEventListener("submit", function (ev) {
      if (form.dataset.cleared === "1") return;
      ev.preventDefault();
      var unsent = Number(document.documentElement.dataset.unsent || 0);
      var ask = document.documentElement.dataset.logoutUnsent;
      if (unsent > 0 && ask && !window.confirm(ask.replace("{n}", String(unsent)))) return;
      var done = function () { form.dataset.cleared = "1"; form.submit(); };
      if (window.caches) {
        window.caches.delete(DATA_CACHE).then(done, done);
      } else {
        done();
      }
    });
  });
})();
