/* The judge's scoring screen (templates/judge/home.html): the entries in running order, the
   rubric form of the selected entry built from the rubric data, and the outbox that keeps
   every save on the device until the server has it (judge-outbox.js).

   Data comes from the JSON API (/api/v1/me/entries, /api/v1/me/sheets/<id>) and from data-
   attributes; every text comes translated from the page (<script type="application/json"
   id="i18n">). No inline script: a Content-Security-Policy without 'unsafe-inline' applies.
   Blind scoring: the API gives a judge only their own sheets, and nothing else is shown. */

import { Outbox, uuid } from "./judge-outbox.js";

const root = document.getElementById("judge-app");
const T = JSON.parse(document.getElementById("i18n").textContent);
// Resource entries: the files and links of the resource, shown beside the rubric (entry id -> list).
const MATERIALS = JSON.parse((document.getElementById("materials") || {}).textContent || "{}");
const cfg = {
  scope: root.dataset.scope,
  entriesUrl: root.dataset.entriesUrl,
  sheetUrl: root.dataset.sheetUrl,
  swUrl: root.dataset.swUrl,
  swScope: root.dataset.swScope,
  closed: root.dataset.closed === "1",
  csrf: document.querySelector('meta[name="csrf-token"]').content,
};

function t(key, vars = {}) {
  let s = T[key] || key;
  for (const [k, v] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(v));
  return s;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// -- exact decimal arithmetic on the rubric's steps (marks like "17.5", weights like "0.3") --

function decimals(s) {
  const str = String(s);
  const i = str.indexOf(".");
  return i < 0 ? 0 : str.length - i - 1;
}

/** "17.5" -> {n: 175, d: 1}; null when it is not a plain decimal number. */
function parseDec(raw) {
  if (raw === null || raw === undefined) return null;
  let s = String(raw).trim().replace(/[０-９．]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0));
  if (!/^\d+(\.\d+)?$/.test(s)) return null;
  const d = decimals(s);
  return { n: Math.round(Number(s) * 10 ** d), d };
}

function scaled(x, d) { return x.n * 10 ** (d - x.d); }

function fmt(n, d) {
  let s = (n / 10 ** d).toFixed(d);
  if (s.includes(".")) s = s.replace(/0+$/, "").replace(/\.$/, "");
  return s;
}

/** A mark's problem against its criterion, or null when it is on the scale. */
function markProblem(c, raw) {
  const v = parseDec(raw);
  if (!v) return t("bad_value", { min: c.min, max: c.max, step: c.step });
  const d = Math.max(v.d, decimals(c.step), decimals(c.min), decimals(c.max));
  const x = scaled(v, d), lo = scaled(parseDec(c.min), d), hi = scaled(parseDec(c.max), d);
  const st = scaled(parseDec(c.step), d);
  if (x < lo || x > hi || (x - lo) % st !== 0) return t("bad_value", { min: c.min, max: c.max, step: c.step });
  return null;
}

function stepMark(c, raw, dir) {
  const d = Math.max(decimals(c.step), decimals(c.min), decimals(c.max));
  const lo = scaled(parseDec(c.min), d), hi = scaled(parseDec(c.max), d), st = scaled(parseDec(c.step), d);
  const v = parseDec(raw);
  let x;
  if (!v || markProblem(c, raw)) {
    x = dir < 0 ? hi : lo;                 // from blank, − starts at the top and + at the bottom
  } else {
    x = Math.min(hi, Math.max(lo, scaled(v, d) + dir * st));
  }
  return fmt(x, d);
}

/** Weighted total of the valid marks in `scores`, as a string; null when none. */
function totalOf(criteria, scores) {
  const terms = [];
  for (const c of criteria) {
    const raw = scores[c.id];
    if (raw === undefined || raw === null || raw === "" || markProblem(c, raw)) continue;
    terms.push([parseDec(raw), parseDec(c.weight || "1")]);
  }
  if (!terms.length) return null;
  const d = Math.max(...terms.map(([v, w]) => v.d + w.d));
  let sum = 0;
  for (const [v, w] of terms) sum += v.n * w.n * 10 ** (d - v.d - w.d);
  return fmt(sum, d);
}

// -- state ----------------------------------------------------------------------------------

const state = {
  overview: null,
  entries: new Map(),
  rubrics: {},
  selected: null,
  sheets: new Map(),        // entry id -> the server's sheet as last read
  sent: new Set(),          // entries whose last local save has reached the server
  form: null,               // {entryId, base, scores, comment, penalties, inputs, flags, dirty}
  online: navigator.onLine,
  message: null,
};

const deviceId = (() => {
  try {
    let id = localStorage.getItem("judge-device-id");
    if (!id) { id = uuid(); localStorage.setItem("judge-device-id", id); }
    return id;
  } catch (e) { return "no-storage"; }
})();

const outbox = new Outbox({
  scope: cfg.scope, sheetUrl: cfg.sheetUrl, csrf: cfg.csrf, deviceId,
  onChange: () => { renderHeader(); renderList(); renderSheetState(); },
  onSent: (entryId, sheet) => {
    applyServerSheet(entryId, sheet);
    state.sent.add(entryId);
    if (state.form && state.form.entryId === entryId) {
      state.form.base = sheet.version;
      if (sheet.status !== "draft" && !outbox.latestFor(entryId)) renderSheet();
    }
  },
  onProblem: (entryId, problem) => {
    state.sent.delete(entryId);
    if (problem.server) applyServerSheet(entryId, problem.server);
    if (state.selected === entryId) {
      state.form = null;
      renderSheet();
    }
  },
  onNetwork: (reached, status) => {
    setOnline(reached && navigator.onLine);
    showAppMessage(status === 401 ? t("auth_problem") : null);
  },
});

function applyServerSheet(entryId, sheet) {
  state.sheets.set(entryId, sheet);
  const e = state.entries.get(entryId);
  if (!e) return;
  e.status = sheet.status;
  e.sheet_version = sheet.version;
  e.total = sheet.total;
}

/** The state the judge sees: their newest local save first, then the server's. */
function effectiveStatus(e) {
  const local = outbox.latestFor(e.id);
  if (local && e.status !== "locked") return local.body.status === "submitted" ? "submitted" : "draft";
  return e.status;
}

function editable(e) {
  const s = effectiveStatus(e);
  return e.scorable && !cfg.closed && (s === "todo" || s === "draft");
}

function setOnline(on) {
  if (state.online !== on) {
    state.online = on;
    renderHeader();
  }
}

// -- header and list ------------------------------------------------------------------------

function renderHeader() {
  const net = document.getElementById("net");
  net.hidden = false;
  net.classList.toggle("off", !state.online);
  document.getElementById("net-state").textContent = state.online ? t("online") : t("offline");
  const n = outbox.count();
  document.getElementById("net-unsent").textContent = n ? t("unsent", { n }) : t("all_sent");
  net.classList.toggle("pending", n > 0);
  document.documentElement.dataset.unsent = String(n);
  document.documentElement.dataset.logoutUnsent = t("logout_unsent");
  if (state.overview) {
    const scorable = [...state.entries.values()].filter((e) => e.scorable);
    const done = scorable.filter((e) => ["submitted", "locked"].includes(effectiveStatus(e))).length;
    document.getElementById("done-count").textContent = t("done_count", { done, total: scorable.length });
  }
}

function localState(e) {
  const local = outbox.latestFor(e.id);
  if (local) return { cls: "queued", text: outbox.sending === local.rid ? t("sending") : t("queued") };
  if (outbox.problems.has(e.id)) return { cls: "problem", text: t("rejected_title") };
  if (state.sent.has(e.id)) return { cls: "sent", text: t("sent") };
  return null;
}

function badge(e) {
  if (e.withdrawn) return el("span", { class: "badge muted", text: t("status_withdrawn") });
  if (e.recusal) return el("span", { class: "badge recuse", text: t("status_recused") });
  const s = effectiveStatus(e);
  return el("span", { class: `badge ${s}`, text: t(`status_${s}`) });
}

/** The entry to score next: the first scorable one not yet submitted, in running order. */
function currentId() {
  for (const e of state.entries.values()) {
    if (e.scorable && ["todo", "draft"].includes(effectiveStatus(e))) return e.id;
  }
  return null;
}

function renderList() {
  if (!state.overview) return;
  const current = currentId();
  const list = document.getElementById("entry-list");
  const groups = [];
  for (const e of state.entries.values()) {
    if (!groups.length || groups[groups.length - 1].name !== e.category.name) groups.push({ name: e.category.name, items: [] });
    groups[groups.length - 1].items.push(e);
  }
  list.replaceChildren(...groups.map((g) => el("section", { class: "jgroup" },
    el("h2", {}, g.name, " ", el("small", { text: "" + g.items.length })),
    el("ol", { class: "jlist" }, g.items.map((e) => {
      const ls = localState(e);
      const cls = ["jentry", e.recusal ? "recused" : "", e.withdrawn ? "withdrawn" : "",
                   e.id === current ? "current" : "", e.id === state.selected ? "selected" : ""]
        .filter(Boolean).join(" ");
      return el("li", { class: cls, "data-entry": e.id, "data-status": effectiveStatus(e) },
        el("button", { type: "button", class: "jpick", "aria-current": e.id === state.selected ? "true" : null,
                       onclick: () => select(e.id, { scroll: true }) },
          el("span", { class: "draw", title: t("draw"), text: e.draw_number ?? "—" }),
          el("span", { class: "jentry-body" },
            e.code ? el("span", { class: "code", text: e.code }) : null,
            el("span", { class: "title", text: e.title }),
            e.contestant || e.unit ? el("span", { class: "meta", text: [e.contestant, e.unit].filter(Boolean).join(" · ") }) : null,
            e.recusal ? el("span", { class: "reason", text: e.recusal }) : null,
            e.rubric_problem ? el("span", { class: "reason", text: e.rubric_problem }) : null,
            ls ? el("span", { class: `jlocal ${ls.cls}`, text: ls.text }) : null),
          el("span", { class: "jentry-side" },
            badge(e),
            e.id === current ? el("span", { class: "jcurrent", text: t("current") }) : null)));
    })))));
}

// -- the sheet ------------------------------------------------------------------------------

function rubricOf(e) { return state.rubrics[String(e.category.id)] || null; }

function formFrom(e, source, base) {
  const s = source || {};
  return {
    entryId: e.id, base, dirty: false,
    scores: { ...(s.scores || {}) }, comment: s.comment || "",
    penalties: { ...(s.penalties || {}) }, inputs: { ...(s.inputs || {}) }, flags: [...(s.flags || [])],
  };
}

async function loadSheet(entryId) {
  try {
    const resp = await fetch(cfg.sheetUrl + entryId, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!resp.ok) return state.sheets.get(entryId) || null;
    const sheet = await resp.json();
    applyServerSheet(entryId, sheet);
    return sheet;
  } catch (err) {
    return state.sheets.get(entryId) || null;
  }
}

async function select(entryId, { scroll = false } = {}) {
  // Tapping the entry that is already open keeps its form as it is: reloading it would drop
  // marks not yet saved and re-render under the judge's finger.
  if (state.selected === entryId && state.form && state.form.entryId === entryId) return;
  if (state.form && state.form.entryId !== entryId) await autosave();
  if (state.selected !== entryId) closeMaterial();
  state.selected = entryId;
  state.form = null;
  state.message = null;
  renderList();
  const e = state.entries.get(entryId);
  if (e && e.scorable) await loadSheet(entryId);
  if (state.selected !== entryId) return;
  renderSheet();
  renderList();
  const pane = document.getElementById("pane");
  if (scroll && window.matchMedia("(max-width: 820px)").matches) pane.scrollIntoView({ block: "start" });
}

/** Leaving a sheet with unsaved, valid changes keeps them as a draft. */
async function autosave() {
  const f = state.form;
  if (!f || !f.dirty) return;
  const e = state.entries.get(f.entryId);
  if (!e || !editable(e)) return;
  const body = collect(e, "draft", false);
  if (body) await save(e, body);
}

function ensureForm(e) {
  if (state.form && state.form.entryId === e.id) return state.form;
  const local = outbox.latestFor(e.id);
  const server = state.sheets.get(e.id);
  state.form = formFrom(e, local ? local.body : server, server ? server.version : e.sheet_version);
  return state.form;
}

function renderSheet() {
  const pane = document.getElementById("pane");
  const e = state.entries.get(state.selected);
  if (!e) {
    pane.replaceChildren(el("p", { class: "jpane-empty", id: "pane-empty", text: t("pick") }));
    return;
  }
  const rub = rubricOf(e);
  const head = el("header", { class: "jsheet-head" },
    el("span", { class: "draw big", title: t("draw"), text: e.draw_number ?? "—" }),
    el("div", { class: "jsheet-id" },
      e.code ? el("span", { class: "code", title: t("code"), text: e.code }) : null,
      el("h2", { class: "title", text: e.title }),
      el("span", { class: "meta", text: [e.category.name, e.contestant, e.unit].filter(Boolean).join(" · ") })),
    badge(e));
  const parts = [head, el("p", { class: "jsheet-state", id: "sheet-state", role: "status" }), materialsBlock(e)];
  if (e.withdrawn || e.recusal || !rub) {
    parts.push(el("p", { class: "jnotice warn", text: e.withdrawn ? t("withdrawn_note") : e.recusal
      ? `${t("recused_note")} ${e.recusal}` : t("rubric_problem", { r: e.rubric_problem || "" }) }));
    pane.replaceChildren(el("article", { class: "jsheet", "data-entry": e.id }, parts));
    renderSheetState();
    return;
  }
  const f = ensureForm(e);
  const canEdit = editable(e);
  const server = state.sheets.get(e.id);
  const problem = outbox.problems.get(e.id);
  if (problem) parts.push(problemPanel(e, rub, problem));
  if (state.message) parts.push(el("p", { class: `jnotice ${state.message.cls || ""}`, role: "alert", id: "sheet-message", text: state.message.text }));
  if (server && server.reopen_reason && effectiveStatus(e) === "draft") {
    parts.push(el("p", { class: "jnotice reopened", id: "reopen-reason", text: t("reopened", { r: server.reopen_reason }) }));
  }
  const st = effectiveStatus(e);
  if (cfg.closed) parts.push(el("p", { class: "jnotice warn", text: t("stage_closed") }));
  else if (st === "submitted") parts.push(el("p", { class: "jnotice readonly", id: "readonly-note", text: t("readonly_submitted") }));
  else if (st === "locked") parts.push(el("p", { class: "jnotice readonly", id: "readonly-note", text: t("readonly_locked") }));

  parts.push(el("ol", { class: "jcriteria" }, rub.criteria.map((c) => criterionRow(c, f, canEdit))));
  const extras = penaltyBlock(rub, f, canEdit);
  if (extras) parts.push(extras);
  parts.push(el("label", { class: "jcomment" }, t("comment"),
    el("textarea", { id: "comment", rows: 3, maxlength: 2000, placeholder: t("comment_hint"), disabled: !canEdit,
                     oninput: (ev) => { f.comment = ev.target.value; f.dirty = true; } }, f.comment)));
  parts.push(el("div", { class: "jsubmit jsheet-bar" },
    el("div", { class: "jtotal" }, el("span", { text: t("total") }), " ",
      el("strong", { id: "total" }, totalOf(rub.criteria, f.scores) ?? "—"),
      el("span", { class: "jtotal-max", text: ` / ${rub.max_total}` })),
    canEdit ? el("button", { type: "button", class: "jbutton", id: "save-draft", onclick: () => onSave(e, "draft") }, t("save")) : null,
    canEdit ? el("button", { type: "button", class: "jbutton primary", id: "submit-sheet", onclick: () => onSave(e, "submitted") }, t("submit")) : null));
  const article = el("article", { class: `jsheet${canEdit ? "" : " readonly"}`, "data-entry": e.id }, parts);
  pane.replaceChildren(article);
  renderSheetState();
}

/** The resource's files and video links. A file opens in a viewer that takes the place of the
    entry list, so the PDF or image sits beside the rubric (one column on narrow screens). */
function materialsBlock(e) {
  const items = MATERIALS[String(e.id)];
  if (!items || !items.length) return null;
  return el("details", { class: "jmaterials", id: "materials-panel", open: true },
    el("summary", { text: t("materials") }),
    el("ul", { class: "jmaterial-list" }, items.map((m) => el("li", {},
      m.kind === "file"
        ? el("a", { href: m.url, class: "jmaterial", "data-material": m.id,
                    onclick: (ev) => { ev.preventDefault(); openMaterial(m); } }, m.name)
        : el("a", { href: m.url, target: "_blank", rel: "noopener noreferrer", class: "jmaterial-link" }, m.name)))));
}

function openMaterial(m) {
  let side = document.getElementById("material-side");
  if (!side) {
    side = el("aside", { class: "jmaterial-side", id: "material-side", "aria-label": t("materials") },
      el("div", { class: "jmaterial-bar" },
        el("strong", { class: "jmaterial-name", id: "material-name" }),
        el("button", { type: "button", class: "jbutton", id: "material-close", onclick: closeMaterial }, t("close_material"))),
      el("iframe", { class: "jviewer", id: "material-viewer", title: t("materials") }));
    document.querySelector(".jsplit").prepend(side);
  }
  document.getElementById("material-name").textContent = m.name;
  document.getElementById("material-viewer").src = m.url;
  root.classList.add("viewing");
}

function closeMaterial() {
  const side = document.getElementById("material-side");
  if (side) side.remove();
  root.classList.remove("viewing");
}

function criterionRow(c, f, canEdit) {
  const value = f.scores[c.id] ?? "";
  const input = el("input", { class: "jscore", type: "text", inputmode: "decimal", autocomplete: "off",
                              "aria-label": c.title, value, disabled: !canEdit, "data-criterion": c.id });
  const error = el("p", { class: "jfield-error", hidden: true });
  const band = el("span", { class: "jband" });
  const descs = el("ul", { class: "jdescs", hidden: true },
    c.descriptors.map((b) => el("li", { "data-min": b.min, "data-max": b.max },
      el("b", { text: `${b.label} ${b.min}–${b.max}` }), b.text ? el("span", { text: b.text }) : null)));
  const toggle = el("button", { type: "button", class: "jdesc-toggle", "aria-expanded": "false",
    onclick: () => { descs.hidden = !descs.hidden; toggle.setAttribute("aria-expanded", String(!descs.hidden)); } },
  t("descriptors"));
  const update = (raw, fromTyping) => {
    const v = String(raw).trim();
    if (v === "") delete f.scores[c.id]; else f.scores[c.id] = v;
    if (!fromTyping) input.value = v;
    const problem = v === "" ? null : markProblem(c, v);
    error.hidden = !problem;
    error.textContent = problem || "";
    row.classList.toggle("has-error", !!problem);
    const num = problem || v === "" ? null : Number(parseDec(v).n / 10 ** parseDec(v).d);
    let label = "";
    for (const li of descs.children) {
      const on = num !== null && num >= Number(li.dataset.min) && num <= Number(li.dataset.max);
      li.classList.toggle("on", on);
      if (on) label = li.querySelector("b").textContent.split(" ")[0];
    }
    band.textContent = label;
    updateTotal();
  };
  const stepBtn = (dir) => el("button", {
    type: "button", class: `jstep ${dir < 0 ? "minus" : "plus"}`, disabled: !canEdit,
    "aria-label": `${c.title} ${t(dir < 0 ? "minus" : "plus", { n: c.step })}`,
    onclick: () => { f.dirty = true; update(stepMark(c, input.value, dir), false); },
  }, dir < 0 ? "−" : "+");
  input.addEventListener("input", () => { f.dirty = true; update(input.value, true); });
  const weight = c.weight && c.weight !== "1" ? ` ×${c.weight}` : "";
  const row = el("li", { class: "jcrit", "data-criterion": c.id },
    el("div", { class: "jcrit-head" },
      el("span", { class: "jcrit-title", text: c.title }),
      el("span", { class: "jcrit-max", text: `${t("max", { n: c.max })}${weight}` }),
      c.descriptors.length ? toggle : null),
    c.description ? el("p", { class: "jcrit-desc", text: c.description }) : null,
    el("div", { class: "jstepper" }, stepBtn(-1), input, stepBtn(1), band),
    error, descs);
  queueMicrotask(() => update(value, true));
  return row;
}

function penaltyBlock(rub, f, canEdit) {
  const rows = [];
  for (const d of rub.deductions || []) {
    const max = d.max_count || 1;
    const out = el("output", { class: "jcount-value", text: String(f.penalties[d.id] || 0) });
    const change = (dir) => {
      const n = Math.min(max, Math.max(0, (Number(f.penalties[d.id]) || 0) + dir));
      if (n) f.penalties[d.id] = n; else delete f.penalties[d.id];
      out.textContent = String(n);
      f.dirty = true;
    };
    rows.push(el("div", { class: "jpenalty", "data-deduction": d.id },
      el("span", { class: "jpenalty-title", text: t("deduction", { t: d.title, p: d.points }) }),
      el("span", { class: "jstepper small" },
        el("button", { type: "button", class: "jstep minus", disabled: !canEdit, "aria-label": `${d.title} −1`, onclick: () => change(-1) }, "−"),
        out,
        el("button", { type: "button", class: "jstep plus", disabled: !canEdit, "aria-label": `${d.title} +1`, onclick: () => change(1) }, "+"))));
  }
  if (rub.overtime) {
    const o = rub.overtime;
    rows.push(el("label", { class: "jpenalty jduration" },
      el("span", { class: "jpenalty-title", text: t("duration", { limit: o.limit_seconds, per: o.per_started_seconds, pts: o.points }) }),
      el("input", { type: "text", inputmode: "numeric", id: "duration", value: f.inputs.duration_seconds ?? "",
                    disabled: !canEdit, autocomplete: "off",
                    oninput: (ev) => {
                      const v = ev.target.value.trim();
                      if (v) f.inputs.duration_seconds = v; else delete f.inputs.duration_seconds;
                      f.dirty = true;
                    } })));
  }
  for (const fl of rub.flags || []) {
    rows.push(el("label", { class: "check jflag" },
      el("input", { type: "checkbox", checked: f.flags.includes(fl.id), disabled: !canEdit,
                    onchange: (ev) => {
                      f.flags = f.flags.filter((x) => x !== fl.id);
                      if (ev.target.checked) f.flags.push(fl.id);
                      f.dirty = true;
                    } }),
      el("span", { text: `${t("flags")}：${fl.title}` })));
  }
  if (!rows.length) return null;
  return el("fieldset", { class: "jpenalties" }, el("legend", { text: t("penalties") }),
    el("p", { class: "hint", text: t("penalties_hint") }), rows);
}

function updateTotal() {
  const e = state.entries.get(state.selected);
  const node = document.getElementById("total");
  if (!e || !node || !state.form) return;
  node.textContent = totalOf(rubricOf(e).criteria, state.form.scores) ?? "—";
}

function renderSheetState() {
  const node = document.getElementById("sheet-state");
  const e = state.entries.get(state.selected);
  if (!node || !e) return;
  const ls = localState(e);
  node.className = `jsheet-state${ls ? " " + ls.cls : ""}`;
  node.textContent = ls ? ls.text : "";
}

function problemPanel(e, rub, p) {
  const serverEditable = !cfg.closed && e.scorable && ["todo", "draft"].includes(e.status);
  const stale = p.code === "stale";
  const title = stale ? t("stale_title") : t("rejected_title");
  let text = stale ? t("stale_text") : p.message || "";
  if (p.code === "locked") text = `${p.message || t("rejected_locked")} ${t("kept_local")}`;
  else if (!stale) text = `${text} ${t("kept_local")}`;
  const serverTotal = p.server ? (p.server.total ?? t("none_total")) : t("none_total");
  const localTotal = totalOf(rub.criteria, p.local.scores || {}) ?? t("none_total");
  return el("section", { class: "jproblem", id: "problem", role: "alert", "data-code": p.code },
    el("h3", { text: title }),
    el("p", { text }),
    p.fields && p.fields.length ? el("ul", { class: "jproblem-fields" }, p.fields.map((x) => el("li", { text: x.message }))) : null,
    el("p", { class: "jproblem-totals" },
      el("span", { class: "server-total", text: t("server_total", { t: serverTotal }) }),
      el("span", { class: "local-total", text: t("local_total", { t: localTotal }) })),
    el("div", { class: "jactions" },
      serverEditable ? el("button", { type: "button", class: "jbutton primary", id: "reapply", onclick: () => reapply(e, p) }, t("reapply")) : null,
      el("button", { type: "button", class: "jbutton", id: "discard", onclick: () => discard(e) }, t("discard"))));
}

async function reapply(e, p) {
  const server = state.sheets.get(e.id);
  await outbox.dropProblem(e.id);
  state.form = formFrom(e, p.local, server ? server.version : e.sheet_version);
  state.form.dirty = true;
  state.message = { cls: "info", text: t("reapplied") };
  renderSheet();
}

async function discard(e) {
  await outbox.dropProblem(e.id);
  state.form = null;
  state.message = null;
  renderSheet();
}

/** The body to queue, or null after showing why it cannot be saved. */
function collect(e, status, show = true) {
  const rub = rubricOf(e);
  const f = state.form;
  const scores = {};
  const missing = [];
  let invalid = false;
  for (const c of rub.criteria) {
    const v = f.scores[c.id];
    if (v === undefined || v === "") { missing.push(c.title); continue; }
    if (markProblem(c, v)) invalid = true;
    scores[c.id] = v;
  }
  if (invalid) {
    if (show) flash("warn", t("field_error"));
    return null;
  }
  if (status === "submitted" && missing.length) {
    if (show) flash("warn", t("missing", { n: missing.length, names: missing.join("、") }));
    return null;
  }
  if (status === "draft" && !Object.keys(scores).length && !f.comment.trim() && !Object.keys(f.penalties).length
      && !Object.keys(f.inputs).length && !f.flags.length) {
    return null;
  }
  const body = { scores, comment: f.comment.trim(), status };
  if (rub.deductions && rub.deductions.length) body.penalties = { ...f.penalties };
  if (rub.overtime && f.inputs.duration_seconds) body.inputs = { duration_seconds: f.inputs.duration_seconds };
  if (rub.flags && rub.flags.length) body.flags = [...f.flags];
  return body;
}

function flash(cls, text) {
  state.message = { cls, text };
  const old = document.getElementById("sheet-message");
  const node = el("p", { class: `jnotice ${cls}`, role: "alert", id: "sheet-message", text });
  if (old) old.replaceWith(node);
  else document.getElementById("sheet-state").after(node);
}

async function save(e, body) {
  state.sent.delete(e.id);
  const f = state.form;
  await outbox.enqueue(e.id, body, f ? f.base : e.sheet_version);
  if (f) f.dirty = false;
}

async function onSave(e, status) {
  const body = collect(e, status);
  if (!body) return;
  if (status === "submitted") {
    const ok = await confirmSubmit(e, totalOf(rubricOf(e).criteria, body.scores));
    if (!ok) return;
  }
  // what happened to the save is shown live by the sheet's state line (queued / sending / sent)
  state.message = null;
  const old = document.getElementById("sheet-message");
  if (old) old.remove();
  await save(e, body);
  if (state.selected === e.id && status === "submitted") renderSheet();
}

function confirmSubmit(e, total) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-entry").textContent =
    [e.draw_number ? `${t("draw")} ${e.draw_number}` : null, e.code, e.title].filter(Boolean).join(" · ");
  document.getElementById("confirm-total").textContent = t("confirm_total", { t: total });
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

// -- loading --------------------------------------------------------------------------------

function showAppMessage(text) {
  const node = document.getElementById("app-message");
  node.hidden = !text;
  node.textContent = text || "";
}

async function loadOverview() {
  let resp;
  try {
    resp = await fetch(cfg.entriesUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
  } catch (err) {
    return false;
  }
  if (!resp.ok) return false;
  const data = await resp.json();
  state.overview = data;
  state.rubrics = data.rubrics;
  state.entries = new Map(data.entries.map((e) => [e.id, e]));
  // keep what this page learnt from a fresher sheet answer than the list
  for (const [id, e] of state.entries) {
    const s = state.sheets.get(id);
    if (s && s.version > e.sheet_version) applyServerSheet(id, s);
    else if (s && s.version < e.sheet_version) state.sheets.delete(id);
  }
  return true;
}

async function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  try {
    await navigator.serviceWorker.register(cfg.swUrl, { scope: cfg.swScope });
    const reg = await navigator.serviceWorker.ready;
    const warm = () => reg.active && reg.active.postMessage({ type: "warm", urls: [cfg.swScope, cfg.entriesUrl] });
    if (navigator.serviceWorker.controller) warm();
    else navigator.serviceWorker.addEventListener("controllerchange", warm, { once: true });
  } catch (err) {
    /* no offline copy of the page; the outbox still works */
  }
}

async function main() {
  renderHeader();
  window.addEventListener("online", () => { setOnline(true); });
  window.addEventListener("offline", () => setOnline(false));
  await outbox.load();
  const loaded = await loadOverview();
  if (!loaded) {
    showAppMessage(t("load_failed"));
    renderHeader();
    return;
  }
  if (!navigator.onLine) showAppMessage(t("offline_cached"));
  renderHeader();
  renderList();
  const first = state.overview.current ?? (state.overview.entries.find((e) => e.scorable) || {}).id ?? null;
  if (first !== null) await select(first);
  else renderSheet();
  root.dataset.ready = "1";
  registerWorker();
  outbox.start();
}

main();
