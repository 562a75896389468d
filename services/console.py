"""What the chief judge's console, the big screen (亮分) and the audit log read.

Everything is built from the database on every request (no worker memory), so the 3-second
polling of several chiefs and a hall screen works behind any number of gunicorn workers.

Who sees what
-------------
* Organisers see every panel and may act; oversight (监审) sees every panel and the audit log
  and may not act; a chief judge (a `chief` account linked to a judge, or the judge's own token
  session on a tablet) sees the panels they chair, in the token's stage for a token.
* The console shows the chief every judge's total (submitted sheets only). The big screen reads
  **only** `EntryConfirmation` rows, i.e. results the chief has confirmed and frozen; nothing
  unconfirmed can leak to the hall. Judges appear there by seat number, not by name.

Grid rules
----------
The judges an entry waits for are those of `services.sheets.expected_judges` (panel members
whose panel covers the entry, or assigned reviewers; hard conflicts removed); the grid computes
the same sets for all entries at once. A cell is ``none`` (not this judge's entry), ``recused``
(回避: a hard conflict), ``missing``, ``draft``, ``submitted`` or ``locked``. Warnings: the live
rule of `scoring.live.off_marks` per entry, and the judge flags of `scoring.monitoring.monitor`
once the panel has at least `MONITOR_MIN_ENTRIES` entries with two or more submitted totals.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable

from sqlalchemy import and_, select
from sqlalchemy.orm import selectinload

from models import (Category, Entry, EntryConfirmation, EntryScoreRecord, EventAction, Judge, Panel,
                    PanelMember, PanelRole, Role, ScoreEvent, ScoreSheet, SheetStatus, Stage, Team, TeamMember)
from models.base import in_beijing
from scoring.live import competition_ranks, entry_state, median, off_marks
from services import sheets as svc
from services.conflicts import stage_conflict_index

MONITOR_MIN_ENTRIES = 3
ROLE_ORDER = {PanelRole.chief: 0, PanelRole.member: 1, PanelRole.teacher_seat: 2}


# -- who is looking ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Viewer:
    """The person at the console: `kind` is organiser, oversight or chief; a chief has a
    `judge_id` and, when signed in by a judge token, the token's `stage_id`."""
    kind: str
    label: str
    user_id: int | None = None
    judge_id: int | None = None
    stage_id: int | None = None

    @property
    def can_write(self) -> bool:
        return self.kind in ("organiser", "chief")

    @property
    def is_organiser(self) -> bool:
        return self.kind == "organiser"

    @property
    def sees_all(self) -> bool:
        return self.kind in ("organiser", "oversight")


def viewer_for_user(user) -> Viewer | None:
    """A Flask-Login user as a console viewer, or None when their role has no console."""
    if user.role == Role.organiser:
        return Viewer("organiser", f"组织方 {user.display_name}（{user.username}）", user_id=user.id)
    if user.role == Role.oversight:
        return Viewer("oversight", f"监审 {user.display_name}（{user.username}）", user_id=user.id)
    if user.role == Role.chief and user.judge_id is not None:
        return Viewer("chief", f"评委组长 {user.display_name}（{user.username}）", user_id=user.id,
                      judge_id=user.judge_id)
    return None


def viewer_for_judge(session, judge: Judge, stage: Stage) -> Viewer | None:
    """A judge token session reaches the console only where the judge chairs a panel."""
    if not chaired_panels(session, judge.id, stage.id):
        return None
    return Viewer("chief", f"评委组长 {judge.external_id} {judge.person.name}", judge_id=judge.id, stage_id=stage.id)


def chaired_panels(session, judge_id: int, stage_id: int | None = None) -> list[Panel]:
    stmt = (select(Panel).join(PanelMember, PanelMember.panel_id == Panel.id)
            .where(PanelMember.judge_id == judge_id, PanelMember.role == PanelRole.chief))
    if stage_id is not None:
        stmt = stmt.where(Panel.stage_id == stage_id)
    return list(session.scalars(stmt.order_by(Panel.stage_id, Panel.name)))


def visible_panels(session, viewer: Viewer) -> list[Panel]:
    if viewer.sees_all:
        return list(session.scalars(select(Panel).options(selectinload(Panel.stage))
                                    .order_by(Panel.stage_id, Panel.name)))
    return chaired_panels(session, viewer.judge_id, viewer.stage_id)


def may_see_panel(session, viewer: Viewer, panel: Panel) -> bool:
    if viewer.sees_all:
        return True
    return any(p.id == panel.id for p in chaired_panels(session, viewer.judge_id, viewer.stage_id))


def may_see_screen(session, viewer: Viewer, stage: Stage, category_id: int) -> bool:
    """Organisers, oversight, and a chief of a panel of the stage covering the category."""
    if viewer.sees_all:
        return True
    if viewer.stage_id is not None and viewer.stage_id != stage.id:
        return False
    return any(p.category_id in (None, category_id) for p in chaired_panels(session, viewer.judge_id, stage.id))


# -- the panel's scope ------------------------------------------------------------------------

def _scope(panel: Panel):
    parts = [Entry.stage_id == panel.stage_id, Entry.status == "active"]
    if panel.category_id is not None:
        parts.append(Entry.category_id == panel.category_id)
    if panel.division_id is not None:
        parts.append(Entry.division_id == panel.division_id)
    return and_(*parts)


def panel_categories(session, panel: Panel) -> list[Category]:
    """The categories the panel judges: its own, or those of the stage with entries in scope."""
    if panel.category_id is not None:
        return [panel.category]
    ids = set(session.scalars(select(Entry.category_id).where(_scope(panel)).distinct()))
    return sorted((c for c in session.scalars(select(Category).where(Category.id.in_(ids)))),
                  key=lambda c: (c.sort, c.id)) if ids else []


def panel_entries(session, panel: Panel, category_id: int) -> list[Entry]:
    """The panel's active entries of one category in running order (draw number, undrawn last)."""
    stmt = (select(Entry).where(_scope(panel), Entry.category_id == category_id)
            .options(selectinload(Entry.unit), selectinload(Entry.person),
                     selectinload(Entry.team).selectinload(Team.members).selectinload(TeamMember.person)))
    return sorted(session.scalars(stmt), key=lambda e: (e.draw_number is None, e.draw_number or 0, e.external_id))


def entry_label(entry: Entry, stage: Stage) -> dict[str, Any]:
    """How an entry is named on the console and the screen: names and unit in an open stage,
    the anonymous code only in an anonymous one."""
    anonymous = stage.anonymous
    return {"id": entry.id, "external_id": None if anonymous else entry.external_id,
            "draw_number": entry.draw_number, "title": entry.title,
            "code": entry.anonymous_code if anonymous else None,
            "contestant": None if anonymous else entry.contestant_name,
            "unit": None if anonymous else entry.unit.name}


def _dec(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


# -- the grid ---------------------------------------------------------------------------------

def build_grid(session, stage: Stage, panel: Panel, category_id: int, viewer: Viewer) -> dict[str, Any]:
    """The console's JSON: judges (columns), entries (rows) with their cells, per-entry state,
    warnings and counters (module doc)."""
    base = {"stage": {"id": stage.id, "name": stage.name, "closed": stage.scoring_closed_at is not None},
            "panel": {"id": panel.id, "name": panel.name}, "category_id": category_id,
            "can_write": viewer.can_write,
            "is_organiser": viewer.is_organiser}
    try:
        rubric = svc.stage_rubric(stage, category_id)
    except svc.SheetError as err:
        return {**base, "rubric_problem": err.message, "judges": [], "entries": [], "counts": {}}
    entries = panel_entries(session, panel, category_id)
    ids = [e.id for e in entries]
    members = {m.judge_id: m.role for m in panel.members}
    scope = svc.judges_in_scope(session, stage, entries)
    judge_ids = set(members).union(*scope.values())
    # Only this panel's judges and entries: a poll every 3 s must not load a national stage.
    index = stage_conflict_index(session, stage, judge_ids=judge_ids, entry_ids=ids)
    expected = svc.drop_conflicts(scope, index)
    judges = {j.id: j for j in session.scalars(select(Judge).where(Judge.id.in_(judge_ids))
                                               .options(selectinload(Judge.person)))} if judge_ids else {}
    columns = sorted(judges.values(), key=lambda j: (ROLE_ORDER.get(members.get(j.id), 3), j.external_id))

    sheets = {(s.entry_id, s.judge_id): s for s in session.scalars(
        select(ScoreSheet).where(ScoreSheet.entry_id.in_(ids)))} if ids else {}
    confirmations = {c.entry_id: c for c in session.scalars(
        select(EntryConfirmation).where(EntryConfirmation.entry_id.in_(ids)))} if ids else {}
    records = {r.entry_id: r for r in session.scalars(
        select(EntryScoreRecord).where(EntryScoreRecord.entry_id.in_(ids)))} if ids else {}

    max_total = rubric.max_total
    rows, triples = [], []
    counts = {"entries": len(entries), "confirmed": 0, "ready": 0, "waiting": 0, "sheets_in": 0, "sheets_expected": 0}
    for e in entries:
        want = expected[e.id]
        totals = {}
        for jid in want:
            s = sheets.get((e.id, jid))
            if s is not None and s.status in (SheetStatus.submitted, SheetStatus.locked) and s.total is not None:
                totals[jid] = Decimal(s.total)
        off = off_marks(totals, max_total) if max_total and max_total > 0 else {}
        cells = []
        for j in columns:
            s = sheets.get((e.id, j.id))
            if j.id not in want:
                hard = e.id in index.entries and index.is_hard(j.id, e.id)
                cells.append({"judge_id": j.id, "state": "recused" if hard else "none"})
                continue
            cell: dict[str, Any] = {"judge_id": j.id, "state": "missing" if s is None else s.status.value}
            if s is not None:
                cell.update(sheet_id=s.id, version=s.version)
                if s.status != SheetStatus.draft:
                    cell["total"] = s.total
            if j.id in off:
                m = off[j.id]
                cell["warning"] = {"deviation": _fmt(m.deviation), "others_median": _fmt(m.others_median),
                                   "threshold": _fmt(m.threshold), "direction": m.direction}
            cells.append(cell)
        for jid, total in totals.items():
            triples.append((e.external_id, judges[jid].external_id, float(total)))
        confirmed = confirmations.get(e.id)
        state = entry_state(len(want), len(totals) if confirmed is None else len(want), confirmed is not None)
        counts[state.code] = counts.get(state.code, 0) + 1
        counts["sheets_in"] += len(totals)
        counts["sheets_expected"] += len(want)
        rec = records.get(e.id)
        rows.append({**entry_label(e, stage), "state": state.code, "expected": state.expected,
                     "submitted": min(len(totals), state.expected), "missing": state.missing,
                     "final_score": confirmed.final_score if confirmed else None,
                     "result_status": confirmed.status if confirmed else None,
                     "confirmed_by": confirmed.confirmed_by if confirmed else None,
                     "record": {"inputs": (rec.inputs or {}) if rec else {},
                                "penalties": (rec.penalties or {}) if rec else {},
                                "flags": (rec.flags or []) if rec else []},
                     "cells": cells, "warnings": len(off)})
    return {**base, "rubric": _rubric_brief(rubric), "counts": counts,
            "judges": _judge_flags(columns, members, triples, max_total),
            "entries": rows}


def _judge_flags(columns: list[Judge], members: dict, triples: list, max_total) -> list[dict]:
    """Column headers with the monitoring flags once there are enough compared marks."""
    flags: dict[str, list[dict]] = {}
    per_entry: dict[str, int] = {}
    for entry, _j, _v in triples:
        per_entry[entry] = per_entry.get(entry, 0) + 1
    if sum(1 for n in per_entry.values() if n >= 2) >= MONITOR_MIN_ENTRIES:
        from scoring.monitoring import monitor
        from scoring.table import ScoreMatrix
        threshold = float(max_total) * 0.15 if max_total else None
        result = monitor(ScoreMatrix.from_triples(triples), deviation_threshold=threshold, n_permutations=200)
        for s in result.judges:
            flags[s.judge] = [{"code": f.code, "name": f.name_zh, "text": f.text} for f in s.flags]
    return [{"id": j.id, "external_id": j.external_id, "name": j.person.name,
             "role": (members.get(j.id) or PanelRole.member).value,
             "flags": flags.get(j.external_id, [])} for j in columns]


def _rubric_brief(rubric) -> dict[str, Any]:
    """What the record form needs: entry inputs (duration), deductions, chief-decided flags."""
    return {"id": rubric.id, "version": rubric.version, "title": rubric.title.zh,
            "max_total": _fmt(rubric.max_total) if rubric.max_total is not None else None,
            "inputs": list(rubric.entry_inputs),
            "overtime": None if not (rubric.penalties and rubric.penalties.overtime) else {
                "limit_seconds": rubric.penalties.overtime.limit_seconds},
            "deductions": [{"id": d.id, "title": d.title.zh, "points": _fmt(d.points), "max_count": d.max_count,
                            "applies_to": d.applies_to} for d in rubric.deductions],
            "flags": [{"id": f.id, "title": f.title.zh} for f in rubric.flags if f.decided_by == "chief"]}


def _fmt(value) -> str | None:
    from scoring.sheets import format_number
    return None if value is None else format_number(Decimal(value))


def preview(session, stage: Stage, entry: Entry) -> dict[str, Any]:
    """The result the confirmation would freeze, computed now, with judges' names for the chief."""
    result, _rubric = svc.compute_result(session, entry, stage)
    body = svc.result_json(result)
    names = dict(session.execute(select(Judge.external_id, Judge.id).where(
        Judge.programme_id == stage.programme_id)).all())
    people = {j.id: j.person.name for j in session.scalars(select(Judge).where(Judge.id.in_(list(names.values())))
                                                           .options(selectinload(Judge.person)))} if names else {}
    for m in body["judges"]:
        m["name"] = people.get(names.get(m["judge"]), "")
    return body


# -- the big screen ---------------------------------------------------------------------------

def _tie_values(result: dict, rubric) -> list[Decimal | None]:
    """The frozen result's values for the rubric's tie-breaks, as `scoring.ranking` compares."""
    out: list[Decimal | None] = []
    raws = [Decimal(m["raw"]) for m in result.get("judges", []) if m.get("raw") is not None]
    for t in rubric.tie_breaks if rubric is not None else ():
        if t.rule == "raw_sum":
            out.append(_dec(result.get("raw_sum")))
        elif t.rule == "raw_mean":
            out.append(_dec(result.get("raw_sum")) / len(raws) if raws and result.get("raw_sum") else None)
        elif t.rule == "median":
            out.append(median(raws) if raws else None)
        elif t.rule == "fewer_penalties":
            out.append(-sum((Decimal(p["points"]) * p["count"] for p in result.get("penalties", [])), Decimal(0)))
        else:
            c = (result.get("criteria") or {}).get(t.criterion or "")
            out.append(_dec(c.get("score")) if c else None)
    return out


def screen_data(session, stage: Stage, category: Category, division_id: int | None = None) -> dict[str, Any]:
    """Confirmed results only: the latest confirmed entry (marks by seat, dropped ones marked,
    penalties, final score) and the category's ranking of confirmed entries."""
    stmt = (select(EntryConfirmation, Entry).join(Entry, Entry.id == EntryConfirmation.entry_id)
            .where(EntryConfirmation.stage_id == stage.id, EntryConfirmation.category_id == category.id)
            .options(selectinload(Entry.unit), selectinload(Entry.person),
                     selectinload(Entry.team).selectinload(Team.members).selectinload(TeamMember.person)))
    if division_id is not None:
        stmt = stmt.where(Entry.division_id == division_id)
    rows = list(session.execute(stmt).all())
    try:
        rubric = svc.stage_rubric(stage, category.id)
    except svc.SheetError:
        rubric = None
    latest = max(rows, key=lambda r: (r[0].confirmed_at, r[0].id), default=None)
    ranked_rows = [(c, e) for c, e in rows if c.status == "ok" and c.final_score is not None]
    order = competition_ranks([((c.id), [Decimal(c.final_score)] + _tie_values(c.result, rubric))
                               for c, e in sorted(ranked_rows, key=lambda r: (r[1].draw_number or 0, r[1].id))])
    by_id = {c.id: (c, e) for c, e in ranked_rows}
    ranking = [{"rank": rank, **entry_label(by_id[cid][1], stage), "final_score": by_id[cid][0].final_score}
               for cid, rank in order]
    unranked = [{**entry_label(e, stage), "status": c.status} for c, e in rows if (c, e) not in ranked_rows]
    out: dict[str, Any] = {"stage": stage.name, "category": category.name, "ranking": ranking,
                           "unranked": unranked, "latest": None,
                           "stamp": f"{len(rows)}:{max((c.id for c, _e in rows), default=0)}"}
    if latest is not None:
        c, e = latest
        res = c.result or {}
        out["latest"] = {
            **entry_label(e, stage), "final_score": c.final_score, "status": c.status,
            "reasons": res.get("reasons", []),
            "marks": [{"seat": i, "raw": m.get("raw"), "counted": m.get("counted"), "dropped": m.get("dropped")}
                      for i, m in enumerate(res.get("judges", []), start=1)],
            "penalties": [{"title": p.get("title"), "total": p.get("total"), "detail": p.get("detail")}
                          for p in res.get("penalties", [])],
            "panel_score": res.get("panel_score"),
            "rank": next((r["rank"] for r in ranking if r["id"] == e.id), None),
        }
    return out


# -- the audit log ----------------------------------------------------------------------------

def beijing(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return in_beijing(moment).strftime("%Y-%m-%d %H:%M:%S")


STATUS_ZH = {"draft": "草稿", "submitted": "已提交", "locked": "已锁定"}


def describe_change(old: dict | None, new: dict | None, titles: dict[str, str] | None = None) -> list[str]:
    """A readable old → new diff of a sheet snapshot or an entry record: one line per change
    (status, each criterion by its title, total, comment, deductions, durations, scores)."""
    titles = titles or {}
    old, new = old or {}, new or {}
    lines: list[str] = []

    def show(v) -> str:
        if v is None or v == "" or v == {} or v == []:
            return "—"
        if isinstance(v, dict):
            return "，".join(f"{titles.get(k, k)} {w}" for k, w in v.items())
        if isinstance(v, list):
            return "、".join(str(x) for x in v)
        return str(v)

    if old.get("status") != new.get("status") and (old.get("status") in STATUS_ZH or new.get("status") in STATUS_ZH):
        lines.append(f"状态 {STATUS_ZH.get(old.get('status'), show(old.get('status')))} → "
                     f"{STATUS_ZH.get(new.get('status'), show(new.get('status')))}")
    old_s, new_s = old.get("scores") or {}, new.get("scores") or {}
    for cid in list(dict.fromkeys([*old_s, *new_s])):
        if old_s.get(cid) != new_s.get(cid):
            lines.append(f"{titles.get(cid, cid)} {show(old_s.get(cid))} → {show(new_s.get(cid))}")
    for key, label in (("total", "总分"), ("final_score", "最终得分"), ("penalties", "扣分"),
                       ("inputs", "录入"), ("flags", "标记"), ("comment", "评语")):
        if key in old or key in new:
            a, b = old.get(key), new.get(key)
            if (a or None) != (b or None):
                lines.append(f"{label} {show(a)} → {show(b)}")
    return lines


@dataclass(frozen=True)
class AuditFilter:
    entry_id: int | None = None
    judge_id: int | None = None
    action: str | None = None


def audit_query(stage: Stage, flt: AuditFilter):
    stmt = select(ScoreEvent).where(ScoreEvent.stage_id == stage.id)
    if flt.entry_id is not None:
        stmt = stmt.where(ScoreEvent.entry_id == flt.entry_id)
    if flt.judge_id is not None:
        stmt = stmt.where(ScoreEvent.judge_id == flt.judge_id)
    if flt.action:
        stmt = stmt.where(ScoreEvent.action == EventAction(flt.action))
    return stmt.order_by(ScoreEvent.at.desc(), ScoreEvent.id.desc())


def criterion_titles(stage: Stage) -> dict[str, str]:
    """Criterion id -> Chinese title over every rubric of the stage (for readable diffs)."""
    titles: dict[str, str] = {}
    for sc in stage.stage_categories:
        try:
            rubric = svc.stage_rubric(stage, sc.category_id)
        except svc.SheetError:
            continue
        for c in rubric.criteria:
            titles.setdefault(c.id, c.title.zh)
        for d in rubric.deductions:
            titles.setdefault(d.id, d.title.zh)
    titles.setdefault("duration_seconds", "用时（秒）")
    return titles


def audit_rows(session, stage: Stage, flt: AuditFilter, *, limit: int | None = None, offset: int = 0,
               action_labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Plain rows of the audit log, newest first (the page and the exports use the same)."""
    stmt = audit_query(stage, flt)
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    events = list(session.scalars(stmt))
    entry_ids = {e.entry_id for e in events if e.entry_id}
    judge_ids = {e.judge_id for e in events if e.judge_id}
    entries = {e.id: e for e in session.scalars(select(Entry).where(Entry.id.in_(entry_ids)))} if entry_ids else {}
    judges = {j.id: j for j in session.scalars(select(Judge).where(Judge.id.in_(judge_ids))
                                               .options(selectinload(Judge.person)))} if judge_ids else {}
    titles = criterion_titles(stage)
    labels = action_labels or {}
    out = []
    for ev in events:
        entry = entries.get(ev.entry_id)
        judge = judges.get(ev.judge_id)
        out.append({
            "id": ev.id, "at": beijing(ev.at), "action": ev.action.value,
            "action_label": labels.get(ev.action.value, ev.action.value), "actor": ev.actor,
            "entry": (f"{entry.external_id} {entry.title}" if entry else ""),
            "judge": (f"{judge.external_id} {judge.person.name}" if judge else ""),
            "changes": describe_change(ev.old, ev.new, titles), "reason": ev.reason or "",
            "device": ev.device or "", "ip": ev.ip or "", "client_request_id": ev.client_request_id or "",
        })
    return out


AUDIT_COLUMNS = [("id", "序号"), ("at", "时间（北京时间）"), ("action_label", "操作"), ("actor", "操作人"),
                 ("entry", "作品"), ("judge", "评委"), ("changes", "变更（原 → 新）"), ("reason", "原因"),
                 ("device", "设备"), ("ip", "IP"), ("client_request_id", "请求编号")]


def _cell(value) -> str:
    """CSV text; a cell Excel would run as a formula gets a protective quote."""
    text = "；".join(value) if isinstance(value, list) else ("" if value is None else str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def audit_export(rows: Iterable[dict[str, Any]], fmt: str, title: str = "评分日志") -> bytes:
    """The audit rows as .xlsx (one sheet) or CSV (UTF-8 with BOM, for Excel)."""
    rows = list(rows)
    if fmt == "csv":
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        w.writerow([label for _k, label in AUDIT_COLUMNS])
        for r in rows:
            w.writerow([_cell(r.get(k)) for k, _l in AUDIT_COLUMNS])
        return buf.getvalue().encode("utf-8-sig")
    if fmt != "xlsx":
        raise ValueError(f"unknown export format {fmt!r}")
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    ws.append([label for _k, label in AUDIT_COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="EEF2F6")
    for r in rows:
        ws.append([("\n".join(r[k]) if isinstance(r.get(k), list) else r.get(k)) for k, _l in AUDIT_COLUMNS])
    widths = {"id": 8, "at": 20, "action_label": 10, "actor": 26, "entry": 28, "judge": 16, "changes": 48,
              "reason": 30, "device": 30, "ip": 14, "client_request_id": 20}
    for i, (k, _l) in enumerate(AUDIT_COLUMNS, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = widths.get(k, 14)
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            if isinstance(cell.value, str) and cell.value[:1] == "=":
                cell.value = "'" + cell.value
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
