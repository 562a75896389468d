// Judge 回避声明 page: one tap, one declaration; the filter narrows the list of entries.
(function () {
  "use strict";
  var form = document.getElementById("declaration-form");
  if (!form) return;
  form.addEventListener("submit", function () {
    // block a second submit while this one is on its way
    setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    }, 0);
  });
  var filter = document.getElementById("filter");
  if (filter) {
    filter.addEventListener("input", function () {
      var q = filter.value.trim().toLowerCase();
      form.querySelectorAll("li.jdecl").forEach(function (li) {
        li.hidden = q !== "" && li.dataset.search.toLowerCase().indexOf(q) === -1;
      });
    });
  }
})();
