/* The judge's outbox: every save and submit is written to IndexedDB first, then sent.

   Rules (services/sheets.py states the server's side):
   - An item keeps its client_request_id (a uuid) across retries and page reloads, so the
     server stores it once: a retry of a request that did arrive is answered as a replay.
   - Items of one sheet are sent one after the other, oldest first. An item carries
     `base_version`, the sheet version the judge last saw; an item saved while an earlier one
     of the same sheet was still waiting is "chained": its base is the version the earlier one
     produced, known only once that one is answered.
   - A network error, a 5xx, 401 (the card may work again), 429 or an expired CSRF token keep
     the item queued; it is retried on `online` events and on a timer with backoff.
   - Any other answer is final. 409 stale / locked, 403, 404 and 422 remove the sheet's items
     and keep the newest local copy as a "problem" with the server's copy, for the judge to
     re-apply or discard: nothing the judge typed is dropped silently. */

import * as idb from "./idb.js";

const RETRYABLE = new Set([401, 408, 425, 429]);
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class Outbox {
  /** opts: scope, sheetUrl (prefix, entry id appended), csrf, deviceId, and callbacks
      onChange(), onSent(entryId, sheet), onProblem(entryId, problem), onNetwork(ok). */
  constructor(opts) {
    Object.assign(this, opts);
    this.items = [];          // in memory, mirrors the "outbox" store for this scope
    this.problems = new Map();
    this.sending = null;      // the rid on the wire
    this.flushing = null;
    this.timer = null;
    this.seq = 0;
  }

  async load() {
    this.items = (await idb.allInScope("outbox", this.scope)).sort((a, b) => a.seq - b.seq);
    this.seq = this.items.reduce((m, it) => Math.max(m, it.seq), Date.now());
    for (const p of await idb.allInScope("problems", this.scope)) this.problems.set(p.entry_id, p);
  }

  start() {
    window.addEventListener("online", () => this.flush({ force: true }));
    // a safety net in case an `online` event is missed: look again every few seconds
    setInterval(() => { if (this.items.length) this.flush(); }, 5000);
    return this.flush({ force: true });
  }

  count() { return this.items.length; }

  pendingFor(entryId) { return this.items.filter((it) => it.entry_id === entryId); }

  latestFor(entryId) {
    const mine = this.pendingFor(entryId);
    return mine.length ? mine[mine.length - 1] : null;
  }

  /** Write the sheet to IndexedDB (the moment it is safe), then try to send it. */
  async enqueue(entryId, body, seenVersion) {
    const chained = this.pendingFor(entryId).length > 0;
    const item = {
      rid: uuid(), scope: this.scope, entry_id: entryId, seq: ++this.seq, body,
      base_version: chained ? null : seenVersion, chained, attempts: 0, next_at: 0,
      created_at: new Date().toISOString(),
    };
    await idb.put("outbox", item);
    this.items.push(item);
    this.onChange();
    this.flush({ force: true });
    return item;
  }

  async dropProblem(entryId) {
    this.problems.delete(entryId);
    await idb.remove("problems", `${this.scope}:${entryId}`);
    this.onChange();
  }

  /** Send what is due, oldest first, one sheet's items in order. Concurrent calls share one run. */
  flush({ force = false } = {}) {
    if (this.flushing) {
      if (force) this.again = true;
      return this.flushing;
    }
    this.flushing = this._flush(force).finally(() => {
      this.flushing = null;
      const again = this.again;
      this.again = false;
      if (again) this.flush({ force: true });
      else this._schedule();
    });
    return this.flushing;
  }

  async _flush(force) {
    for (;;) {
      const now = Date.now();
      const seen = new Set();
      let next = null;
      for (const it of this.items) {
        if (seen.has(it.entry_id)) continue;      // only the head of each sheet's queue
        seen.add(it.entry_id);
        if (it.chained) continue;                 // waits for the answer to its predecessor
        if (force || it.next_at <= now) { next = it; break; }
      }
      if (!next) return;
      const result = await this._send(next);
      if (result === "retry") return;             // the network is down: stop this run
    }
  }

  _schedule() {
    clearTimeout(this.timer);
    const due = this.items.filter((it) => !it.chained).map((it) => it.next_at);
    if (!due.length) return;
    const wait = Math.max(250, Math.min(...due) - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  async _send(item) {
    const payload = { ...item.body, client_request_id: item.rid };
    if (item.base_version !== null && item.base_version !== undefined) payload.base_version = item.base_version;
    this.sending = item.rid;
    this.onChange();
    let resp, data = null;
    try {
      resp = await fetch(this.sheetUrl + item.entry_id, {
        method: "PUT", credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "application/json", "Accept": "application/json",
                   "X-CSRFToken": this.csrf, "X-Device-Id": this.deviceId },
        body: JSON.stringify(payload),
      });
      try { data = await resp.json(); } catch (e) { data = null; }
    } catch (err) {
      resp = null;
    }
    this.sending = null;
    const code = data && data.error ? data.error.code : null;
    if (!resp || resp.status >= 500 || RETRYABLE.has(resp.status) || code === "csrf" || !data) {
      item.attempts += 1;
      item.next_at = Date.now() + BACKOFF_MS[Math.min(item.attempts, BACKOFF_MS.length) - 1];
      item.last_error = resp ? `${resp.status}${code ? " " + code : ""}` : "network";
      await idb.put("outbox", item);
      this.onNetwork(!!resp, resp ? resp.status : 0, code);
      this.onChange();
      return "retry";
    }
    this.onNetwork(true, resp.status, code);
    if (resp.ok) {
      await this._remove([item]);
      const successor = this.items.find((it) => it.entry_id === item.entry_id);
      if (successor && successor.chained) {
        successor.chained = false;
        successor.base_version = data.version;
        await idb.put("outbox", successor);
      }
      this.onSent(item.entry_id, data);
      this.onChange();
      return "sent";
    }
    // A final answer: the sheet's queued items leave the outbox; the newest copy is kept.
    const mine = this.pendingFor(item.entry_id);
    const newest = mine[mine.length - 1] || item;
    const problem = {
      key: `${this.scope}:${item.entry_id}`, scope: this.scope, entry_id: item.entry_id,
      status: resp.status, code: code || String(resp.status),
      message: data && data.error ? data.error.message : "",
      fields: data && data.error && data.error.fields ? data.error.fields : [],
      local: newest.body, server: data ? data.sheet || null : null, at: new Date().toISOString(),
    };
    await idb.put("problems", problem);
    await this._remove(mine);
    this.problems.set(item.entry_id, problem);
    this.onProblem(item.entry_id, problem);
    this.onChange();
    return "final";
  }

  async _remove(items) {
    const rids = new Set(items.map((it) => it.rid));
    await idb.tx("outbox", "readwrite", (s) => { for (const rid of rids) s.delete(rid); });
    this.items = this.items.filter((it) => !rids.has(it.rid));
  }
}
