/* The big screen (亮分): polls confirmed results only and redraws when they change.
   No inline script (CSP); text via textContent only. */
(function () {
  "use strict";
  var root = document.getElementById("screen");
  if (!root) return;
  var url = root.dataset.url;
  var L = JSON.parse(root.dataset.labels || "{}");
  var stamp = null;
  var POLL_MS = 3000;

  function fmt(text, vars) {
    return String(text || "").replace(/%\((\w+)\)s/g, function (_m, k) { return vars[k]; });
  }
  function el(tag, cls, text, children) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = text;
    (children || []).forEach(function (c) { if (c) n.appendChild(c); });
    return n;
  }
  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); }
  function who(e) { return e.code || [e.contestant, e.unit].filter(Boolean).join(" · "); }

  function renderLatest(x) {
    var box = document.getElementById("latest");
    clear(box);
    if (!x) { box.appendChild(el("p", "s-waiting", L.waiting)); return; }
    box.appendChild(el("div", "s-entry", null, [
      x.draw_number != null ? el("span", "s-draw", fmt(L.draw, {n: x.draw_number})) : null,
      el("span", "s-title", x.title)]));
    box.appendChild(el("div", "s-who", who(x)));
    var marks = el("ol", "s-marks");
    x.marks.forEach(function (m) {
      var li = el("li", "s-mark" + (m.dropped ? " dropped dropped-" + m.dropped : ""), null, [
        el("span", "s-seat", L.judge + m.seat), el("span", "s-value", m.raw)]);
      if (m.dropped) li.setAttribute("data-dropped", m.dropped);
      marks.appendChild(li);
    });
    box.appendChild(marks);
    if (x.penalties.length) {
      box.appendChild(el("div", "s-penalties", L.penalties + "  " + x.penalties.map(function (p) {
        return p.title + " −" + p.total;
      }).join("  ")));
    }
    box.appendChild(el("div", "s-final", null, [el("span", "s-final-label", L.final),
                                               el("span", "s-final-score", x.final_score != null ? x.final_score : "—")]));
    if (x.rank != null) box.appendChild(el("div", "s-rank-now", fmt(L.rank, {n: x.rank})));
  }

  function renderRanking(rows, latestId) {
    var ol = document.getElementById("ranking");
    clear(ol);
    rows.forEach(function (r) {
      ol.appendChild(el("li", "s-rank-row" + (r.id === latestId ? " latest" : ""), null, [
        el("span", "s-rank-no", String(r.rank)), el("span", "s-rank-name", r.title),
        el("span", "s-rank-who", who(r)), el("span", "s-rank-score", r.final_score)]));
    });
  }

  function poll() {
    fetch(url, {credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (d) {
        if (d.stamp !== stamp) {
          stamp = d.stamp;
          renderLatest(d.latest);
          renderRanking(d.ranking, d.latest && d.latest.id);
        }
        document.body.classList.remove("offline");
      })
      .catch(function () { document.body.classList.add("offline"); })
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  poll();
})();
