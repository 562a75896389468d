/* The tablet register: a tap on 出勤 / 缺勤 / 请假 / 清除 posts the row's form through fetch
 * (the same form works without script) and updates the row and the counts in place.
 * The server answers {ok, status, counts, rate, mark} or {error: message}. */
(function () {
  "use strict";
  var root = document.getElementById("register");
  if (!root) return;
  var slotId = root.dataset.slot;

  function setText(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = String(value);
  }

  function showError(row, message) {
    var box = row.querySelector(".row-error");
    if (!box) return;
    if (message) {
      box.textContent = message;
      box.hidden = false;
    } else {
      box.textContent = "";
      box.hidden = true;
    }
  }

  function applyRow(row, data) {
    var status = data.status || "";
    row.dataset.status = status;
    row.querySelectorAll("button.st").forEach(function (b) {
      if (b.value === "clear") {
        b.disabled = !status;
        return;
      }
      var on = b.value === status;
      b.classList.toggle("on", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
    var rate = row.querySelector(".reg-rate");
    if (rate && data.rate) rate.textContent = data.rate;
    var note = row.querySelector(".reg-note");
    if (note) note.textContent = data.mark || "";
  }

  function applyCounts(counts) {
    if (!counts) return;
    ["present", "expected", "absent", "excused", "unmarked"].forEach(function (k) {
      setText("count-" + k, counts[k]);
    });
    var link = document.querySelector(".slot-link[data-slot='" + slotId + "']");
    if (link) {
      var c = link.querySelector(".slot-count");
      if (c) c.textContent = counts.present + "/" + counts.expected;
      link.classList.toggle("complete", counts.unmarked === 0);
      link.classList.toggle("partial", counts.unmarked > 0 && counts.unmarked < counts.expected);
    }
  }

  root.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("reg-form")) return;
    var button = ev.submitter;
    if (!button || !button.name) return;          // let the browser post it the plain way
    ev.preventDefault();
    var row = form.closest(".reg-row");
    if (row.classList.contains("busy")) return;
    var body = new URLSearchParams(new FormData(form));
    body.set(button.name, button.value);
    var token = form.querySelector("input[name=csrf_token]");
    row.classList.add("busy");
    row.setAttribute("aria-busy", "true");
    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: {"Accept": "application/json", "X-CSRFToken": token ? token.value : ""}
    }).then(function (resp) {
      var type = resp.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === -1) {
        throw {message: root.dataset.msgFailed};
      }
      return resp.json().then(function (data) {
        if (!resp.ok || !data.ok) {
          throw {message: (data && data.error) || root.dataset.msgFailed};
        }
        return data;
      });
    }).then(function (data) {
      showError(row, "");
      applyRow(row, data);
      applyCounts(data.counts);
    }).catch(function (err) {
      showError(row, (err && err.message && typeof err.message === "string" && !(err instanceof TypeError))
        ? err.message : root.dataset.msgNetwork);
    }).finally(function () {
      row.classList.remove("busy");
      row.removeAttribute("aria-busy");
    });
  });
})();
