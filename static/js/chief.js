/* The chief judge's console: polls the grid JSON every 3 s (no server state, any worker
   answers), renders judges x entries, reopens sheets with a reason, records durations and
   deductions, confirms (统分确认) after showing the computed result, withdraws a confirmation.
   No inline script (CSP): everything comes from data- attributes; text is set with
   textContent only, never parsed as HTML. */
(function () {
  "use strict";
  var root = document.getElementById("console");
  if (!root) return;
  var L = JSON.parse(root.dataset.labels || "{}");
  var gridUrl = root.dataset.gridUrl;
  var base = root.dataset.base;
  var csrf = root.dataset.csrf;
  var canWrite = root.dataset.canWrite === "1";
  var table = document.getElementById("cgrid");
  var data = null;
  var timer = null;
  var POLL_MS = 3000;

  function fmt(text, vars) {
    return String(text || "").replace(/%\((\w+)\)s/g, function (_m, k) { return vars[k]; });
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else if (k.slice(0, 5) === "data-") node.setAttribute(k, attrs[k]);
      else node[k] = attrs[k];
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function postJSON(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json"},
      body: JSON.stringify(body || {})
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (d) {
        return {ok: resp.ok, status: resp.status, data: d};
      });
    });
  }
  function errorText(res) {
    var e = res.data && res.data.error;
    if (!e) return L.error + " (" + res.status + ")";
    var extra = (e.fields || []).map(function (f) { return f.message; }).join("；");
    return e.message + (extra && extra !== e.message ? "：" + extra : "");
  }

  // -- polling ------------------------------------------------------------------------------
  function poll() {
    clearTimeout(timer);
    fetch(gridUrl, {credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (d) {
        data = d;
        render(d);
        setLive(L.updated + " " + new Date().toLocaleTimeString("zh-CN", {hour12: false}), false);
      })
      .catch(function () { setLive(L.network, true); })
      .then(function () { timer = setTimeout(poll, POLL_MS); });
  }
  function setLive(text, bad) {
    var live = document.getElementById("live");
    if (!live) return;
    live.textContent = text;
    live.classList.toggle("bad", !!bad);
  }

  // -- the grid -------------------------------------------------------------------------------
  function stateText(row) {
    if (row.state === "waiting") return fmt(L.waiting, {n: row.missing});
    return L[row.state] || row.state;
  }
  function entryName(e) {
    var who = e.code || [e.contestant, e.unit].filter(Boolean).join(" · ");
    return who;
  }

  function render(d) {
    var counts = document.getElementById("counts");
    if (counts && d.counts) {
      var c = d.counts;
      counts.textContent = [
        L.entries + " " + c.entries, L.confirmed + " " + (c.confirmed || 0), L.ready + " " + (c.ready || 0),
        fmt(L.sheets, {a: c.sheets_in, b: c.sheets_expected})
      ].join(" · ");
    }
    if (!table) return;
    clear(table);
    if (d.rubric_problem) {
      table.appendChild(el("tbody", {}, [el("tr", {}, [el("td", {className: "empty bad", text: d.rubric_problem})])]));
      return;
    }
    var head = el("tr", {}, [el("th", {className: "c-draw", text: "#"}), el("th", {className: "c-entry", text: ""})]);
    d.judges.forEach(function (j) {
      var th = el("th", {className: "c-judge" + (j.flags.length ? " flagged" : ""), title: j.external_id + " " + j.name},
        [el("span", {className: "jcode", text: j.external_id}), el("span", {className: "jname", text: j.name})]);
      if (j.role === "chief") th.appendChild(el("span", {className: "jrole", text: L.chief}));
      if (j.flags.length) {
        th.appendChild(el("span", {className: "jflag", text: "⚑ " + j.flags.map(function (f) { return f.name; }).join("、")}));
        th.title += "\n" + j.flags.map(function (f) { return f.text; }).join("\n");
      }
      head.appendChild(th);
    });
    head.appendChild(el("th", {className: "c-state", text: ""}));
    table.appendChild(el("thead", {}, [head]));
    var body = el("tbody");
    d.entries.forEach(function (row) {
      var tr = el("tr", {className: "r-" + row.state, "data-entry": row.id});
      tr.appendChild(el("td", {className: "c-draw", text: row.draw_number != null ? row.draw_number : ""}));
      var open = el("button", {type: "button", className: "entry-btn"}, [
        el("span", {className: "etitle", text: row.title}), el("span", {className: "ewho", text: entryName(row)})]);
      open.addEventListener("click", function () { openEntry(row.id); });
      tr.appendChild(el("td", {className: "c-entry"}, [open]));
      row.cells.forEach(function (cell, i) {
        tr.appendChild(renderCell(row, cell, d.judges[i]));
      });
      var st = el("td", {className: "c-state"});
      var stateBtn = el("button", {type: "button", className: "state-btn st-" + row.state, "data-state": row.state}, [
        el("span", {className: "stext", text: stateText(row)})]);
      if (row.state === "confirmed") stateBtn.appendChild(el("strong", {className: "final", text: row.final_score || "—"}));
      else if (row.state === "ready" && canWrite) stateBtn.appendChild(el("strong", {className: "go", text: L.confirm}));
      stateBtn.addEventListener("click", function () { openEntry(row.id); });
      st.appendChild(stateBtn);
      tr.appendChild(st);
      body.appendChild(tr);
    });
    table.appendChild(body);
    renderFlags(d.judges);
  }

  function renderCell(row, cell, judge) {
    var td = el("td", {className: "cell s-" + cell.state + (cell.warning ? " s-warn" : ""),
                       "data-judge": cell.judge_id, "data-state": cell.state});
    if (cell.state === "none") return td;
    var text = cell.total != null ? cell.total : (L[cell.state] || "");
    var content = [el("span", {className: "cval", text: text})];
    if (cell.warning) {
      content.push(el("span", {className: "cwarn", text: "⚠"}));
      td.title = fmt(L.off, {d: cell.warning.deviation});
    }
    if (cell.state === "submitted" && canWrite && row.state !== "confirmed") {
      var b = el("button", {type: "button", className: "cell-btn", title: L.reopen + (td.title ? "\n" + td.title : "")}, content);
      b.addEventListener("click", function () { openReopen(row, cell, judge); });
      td.appendChild(b);
    } else {
      content.forEach(function (n) { td.appendChild(n); });
    }
    return td;
  }

  function renderFlags(judges) {
    var box = document.getElementById("judge-flags");
    if (!box) return;
    clear(box);
    var flagged = judges.filter(function (j) { return j.flags.length; });
    if (!flagged.length) return;
    box.appendChild(el("h3", {text: L.flags_title}));
    var ul = el("ul");
    flagged.forEach(function (j) {
      j.flags.forEach(function (f) { ul.appendChild(el("li", {text: j.external_id + " " + j.name + "：" + f.text})); });
    });
    box.appendChild(ul);
  }

  // -- dialogs ----------------------------------------------------------------------------------
  document.querySelectorAll(".cdialog .js-close").forEach(function (b) {
    b.addEventListener("click", function () { b.closest("dialog").close(); });
  });

  var reopenDialog = document.getElementById("reopen-dialog");
  var reopenTarget = null;
  function openReopen(row, cell, judge) {
    reopenTarget = cell;
    document.getElementById("reopen-what").textContent =
      judge.external_id + " " + judge.name + " · " + row.title + " · " + cell.total;
    document.getElementById("reopen-reason").value = "";
    document.getElementById("reopen-error").textContent = "";
    reopenDialog.showModal();
  }
  var reopenForm = document.getElementById("reopen-form");
  if (reopenForm) reopenForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var reason = document.getElementById("reopen-reason").value.trim();
    var err = document.getElementById("reopen-error");
    if (!reason) { err.textContent = L.reason_required; return; }
    postJSON(base + "/sheets/" + reopenTarget.sheet_id + "/reopen", {reason: reason}).then(function (res) {
      if (!res.ok) { err.textContent = errorText(res); return; }
      reopenDialog.close();
      poll();
    });
  });

  var entryDialog = document.getElementById("entry-dialog");
  var current = null;      // {row, result}
  function rowOf(id) {
    return (data && data.entries || []).filter(function (r) { return r.id === id; })[0];
  }
  function openEntry(id) {
    var row = rowOf(id);
    if (!row) return;
    current = {row: row, result: null};
    document.getElementById("entry-title").textContent = (row.draw_number != null ? row.draw_number + ". " : "") + row.title;
    document.getElementById("entry-sub").textContent = [entryName(row), stateText(row)].filter(Boolean).join(" · ");
    document.getElementById("entry-error").textContent = "";
    document.getElementById("unconfirm-reason").value = "";
    clear(document.getElementById("entry-result"));
    document.getElementById("confirm-submit").hidden = true;
    document.getElementById("unconfirm-submit").hidden = true;
    document.getElementById("unconfirm-box").hidden = true;
    renderRecord(row);
    if (!entryDialog.open) entryDialog.showModal();
    loadResult(row);
  }

  function loadResult(row) {
    fetch(base + "/entries/" + row.id + "/result.json", {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.json().then(function (d) { return {ok: r.ok, status: r.status, data: d}; }); })
      .then(function (res) {
        if (!res.ok) { document.getElementById("entry-error").textContent = errorText(res); return; }
        current.result = res.data;
        renderResult(row, res.data);
      });
  }

  function renderResult(row, body) {
    var box = document.getElementById("entry-result");
    clear(box);
    var r = body.result;
    var t = el("table", {className: "grid compact result-table"});
    t.appendChild(el("thead", {}, [el("tr", {}, [el("th", {text: L.judge}), el("th", {className: "num", text: L.mark}),
                                                 el("th", {className: "num", text: L.counted}), el("th", {text: ""})])]));
    var tb = el("tbody");
    (r.judges || []).forEach(function (m) {
      var dropped = m.dropped === "high" ? L.dropped_high : m.dropped === "low" ? L.dropped_low : "";
      tb.appendChild(el("tr", {className: m.dropped ? "dropped" : ""}, [
        el("td", {text: m.judge + " " + (m.name || "")}),
        el("td", {className: "num mark", text: m.raw}),
        el("td", {className: "num", text: m.kept ? m.counted : "—"}),
        el("td", {className: "meta", text: dropped})]));
    });
    t.appendChild(tb);
    box.appendChild(t);
    var pens = (r.penalties || []);
    box.appendChild(el("p", {className: "penalties", text: L.penalties + "：" + (pens.length ? pens.map(function (p) {
      return p.title + (p.detail ? "（" + p.detail + "）" : "") + " −" + p.total;
    }).join("；") : L.no_penalties)}));
    if (r.panel_score != null) box.appendChild(el("p", {text: L.panel_score + "：" + r.panel_score}));
    box.appendChild(el("p", {className: "final-line"}, [el("span", {text: L.final + " "}),
      el("strong", {className: "final-score", text: r.final_score != null ? r.final_score : "—"})]));
    if (r.status && r.status !== "ok") {
      box.appendChild(el("p", {className: "bad", text: L.incomplete + "：" + (r.reasons || []).join("；")}));
    }
    (r.notes || []).forEach(function (n) { box.appendChild(el("p", {className: "meta", text: n})); });
    if (body.confirmed) {
      box.appendChild(el("p", {className: "ok", text: L.confirmed + " · " + L.by + "：" + body.confirmed_by}));
    }
    var confirmBtn = document.getElementById("confirm-submit");
    var unBtn = document.getElementById("unconfirm-submit");
    confirmBtn.hidden = !(canWrite && !body.confirmed && row.state === "ready");
    unBtn.hidden = !(canWrite && body.confirmed);
    document.getElementById("unconfirm-box").hidden = unBtn.hidden;
  }

  function renderRecord(row) {
    var form = document.getElementById("record-form");
    var fields = document.getElementById("record-fields");
    clear(fields);
    var rub = data && data.rubric;
    var has = rub && (rub.inputs.length || rub.deductions.length || rub.flags.length);
    form.hidden = !(has && canWrite && row.state !== "confirmed");
    if (form.hidden) return;
    var rec = row.record || {};
    rub.inputs.forEach(function (name) {
      var input = el("input", {type: "number", min: "0", step: "1", name: "input:" + name,
                               value: (rec.inputs || {})[name] || ""});
      fields.appendChild(el("label", {}, [el("span", {text: name === "duration_seconds" ? L.duration : name}), input]));
    });
    rub.deductions.forEach(function (dd) {
      var input = el("input", {type: "number", min: "0", max: String(dd.max_count), step: "1", name: "pen:" + dd.id,
                               value: (rec.penalties || {})[dd.id] || 0});
      fields.appendChild(el("label", {}, [el("span", {text: dd.title + "（−" + dd.points + "/" + L.times + "）"}), input]));
    });
    rub.flags.forEach(function (f) {
      var box = el("input", {type: "checkbox", name: "flag:" + f.id, checked: (rec.flags || []).indexOf(f.id) >= 0});
      fields.appendChild(el("label", {className: "check"}, [box, el("span", {text: f.title})]));
    });
  }

  var recordForm = document.getElementById("record-form");
  if (recordForm) recordForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = {inputs: {}, penalties: {}, flags: []};
    recordForm.querySelectorAll("input").forEach(function (i) {
      var parts = i.name.split(":");
      if (parts[0] === "input" && i.value !== "") body.inputs[parts[1]] = i.value;
      if (parts[0] === "pen" && i.value !== "" && i.value !== "0") body.penalties[parts[1]] = parseInt(i.value, 10);
      if (parts[0] === "flag" && i.checked) body.flags.push(parts[1]);
    });
    var err = document.getElementById("record-error");
    err.textContent = "";
    postJSON(base + "/entries/" + current.row.id + "/record", body).then(function (res) {
      if (!res.ok) { err.textContent = errorText(res); return; }
      current.row.record = res.data.record;
      err.textContent = "";
      setLive(L.saved, false);
      loadResult(current.row);
      poll();
    });
  });

  var confirmBtn = document.getElementById("confirm-submit");
  if (confirmBtn) confirmBtn.addEventListener("click", function () {
    if (!current || !current.result) return;
    confirmBtn.disabled = true;
    postJSON(base + "/entries/" + current.row.id + "/confirm",
             {final_score: current.result.result.final_score}).then(function (res) {
      confirmBtn.disabled = false;
      if (!res.ok) {
        document.getElementById("entry-error").textContent = errorText(res);
        loadResult(current.row);
        poll();
        return;
      }
      current.row.state = "confirmed";
      loadResult(current.row);
      poll();
    });
  });

  var unBtn = document.getElementById("unconfirm-submit");
  if (unBtn) unBtn.addEventListener("click", function () {
    var reason = document.getElementById("unconfirm-reason").value.trim();
    var err = document.getElementById("entry-error");
    if (!reason) { err.textContent = L.reason_required; return; }
    postJSON(base + "/entries/" + current.row.id + "/unconfirm", {reason: reason}).then(function (res) {
      if (!res.ok) { err.textContent = errorText(res); return; }
      entryDialog.close();
      poll();
    });
  });

  poll();
})();
