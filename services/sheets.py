"""Score sheets through their life: a judge saves and submits, the chief judge reopens and
confirms, and every step leaves a `ScoreEvent`.

The rules (README "Judge API" states them for clients)
------------------------------------------------------
* **Door.** A write is accepted only when the stage is open for scoring, every rubric of the
  stage loads, and `services.declarations.can_score` says the judge may score the entry *now*
  (assigned or in the panel's scope, and no hard conflict, whatever the assignment rows say).
* **Drafts and submissions.** A draft may leave criteria blank but every mark it has must be
  valid (range, step); a submission must be complete. Both are validated by
  `scoring.sheets.validate_sheet`, so the API, the tablet and the offline CLI agree.
* **Read-only after submission.** A submitted sheet changes only when the chief judge reopens
  it with a reason (back to draft, the judge is told why); a confirmed entry's sheets are locked.
* **Idempotency.** `client_request_id` is unique per judge in the event log. A replay (same
  judge, same id) stores nothing and answers the sheet as it is now; if two copies race on two
  workers the database's unique constraint lets exactly one in and the other becomes a replay.
* **Concurrent change.** A write may carry `base_version`, the version the device last saw.
  If the server's sheet has moved on (the chief reopened it, another device saved), the write
  is refused with 409 ``stale`` and the server's sheet, and the device shows the judge both.
  The stated rule is: **the server copy wins; nothing the judge typed is dropped silently** — the
  device keeps its copy until the judge re-applies or discards it. Without `base_version`
  the last write of an editable sheet wins (the judge is the only writer of their own sheet).
* **Confirmation (统分确认).** The chief judge confirms an entry once every judge expected on
  it has submitted; the result is computed by `scoring.aggregate.entry_result` from the
  submitted sheets and the chief's entry record, frozen in `EntryConfirmation` (unique per
  entry: two chiefs at once yield one result), and the sheets are locked.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from models import (Entry, EntryConfirmation, EntryScoreRecord, EventAction, Judge, Panel, PanelMember,
                    ScoreEvent, ScoreSheet, SheetStatus, Stage)
from models.base import as_utc, utcnow
from scoring.aggregate import EntryResult, entry_result
from scoring.rubric import Rubric
from scoring.sheets import EXACT, FieldError, Sheet, SheetInvalid, format_number, validate_sheet
from services import declarations as decl
from services.conflicts import stage_conflict_index

COMMENT_MAX = 2000
REQUEST_ID_MAX = 64
REASON_MAX = 500


class SheetError(Exception):
    """A refused request: `status` is the HTTP status, `code` a stable identifier, `message`
    Chinese text for people, `fields` per-field problems (422), `sheet` the server's sheet
    when the client should see it (409 stale / locked)."""

    def __init__(self, status: int, code: str, message: str, *, fields: list[dict] | None = None,
                 sheet: ScoreSheet | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields = fields or []
        self.sheet = sheet

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body


@dataclass(frozen=True)
class Actor:
    """Who is acting, as the audit log records it."""
    label: str                       # "评委 J001 张三" / "评委组长 李四" / "组织方 admin"
    judge_id: int | None = None
    user_id: int | None = None
    device: str | None = None
    ip: str | None = None


@dataclass
class PutOutcome:
    sheet: ScoreSheet
    created: bool = False
    replay: bool = False
    confirmed: bool | None = None     # None: not known (a replay), look it up for the answer


# -- rubrics ---------------------------------------------------------------------------------

def stage_rubric(stage: Stage, category_id: int) -> Rubric:
    """The rubric a stage uses for a category; SheetError 409 when it cannot be loaded."""
    from services.rubric_registry import rubric_set
    ref = stage.rubric_ref_for(category_id)
    if ref is None:
        raise SheetError(409, "no_rubric", "本赛项未设置评分表，暂不能评分，请联系组织方")
    rs = rubric_set()
    rubric = rs.rubrics.get(ref)
    if rubric is None:
        raise SheetError(409, "rubric_unavailable", f"评分表 {ref} 无法使用，暂不能评分，请联系组织方")
    return rubric


# An entry in the judge's list names its criteria's ranges only; the descriptor bands and texts
# come once per category in `rubrics` (a regional demo judge's list was 271 KB with them per entry,
# 79 KB without: fifty tablets open it at once on the hall's Wi-Fi).
ENTRY_CRITERION_KEYS = ("id", "title", "min", "max", "step", "weight")


def rubric_json(rubric: Rubric) -> dict[str, Any]:
    """What a tablet needs to build the form: criteria with range, step, weight and the
    descriptor bands; deductions, flags and overtime where the rubric has them."""
    def num(v):
        return format_number(v) if v is not None else None

    crit = []
    for c in rubric.judged_criteria:
        crit.append({
            "id": c.id, "title": c.title.zh, "title_en": c.title.en, "description": c.description.zh if c.description else "",
            "min": num(c.min), "max": num(c.max), "step": num(c.step), "weight": num(c.effective_weight),
            "descriptors": [{"min": num(b.min), "max": num(b.max), "label": b.label.zh,
                             "text": b.text.zh if b.text else ""} for b in c.descriptors],
        })
    out: dict[str, Any] = {"id": rubric.id, "version": rubric.version, "title": rubric.title.zh,
                           "max_total": num(rubric.max_total), "criteria": crit}
    out["deductions"] = [{"id": d.id, "title": d.title.zh, "points": num(d.points),
                          "applies_to": d.applies_to, "max_count": getattr(d, "max_count", None)}
                         for d in rubric.deductions]
    out["flags"] = [{"id": f.id, "title": f.title.zh} for f in rubric.flags]
    ot = rubric.penalties.overtime if rubric.penalties else None
    out["overtime"] = None if ot is None else {
        "limit_seconds": ot.limit_seconds, "per_started_seconds": ot.per_started_seconds,
        "points": num(ot.points), "cap": num(ot.cap) if ot.cap is not None else None}
    return out


# -- reading ---------------------------------------------------------------------------------

def find_sheet(session, judge_id: int, entry_id: int) -> ScoreSheet | None:
    return session.scalar(select(ScoreSheet).where(ScoreSheet.judge_id == judge_id,
                                                   ScoreSheet.entry_id == entry_id))


def confirmation_of(session, entry_id: int) -> EntryConfirmation | None:
    return session.scalar(select(EntryConfirmation).where(EntryConfirmation.entry_id == entry_id))


def sheet_state(sheet: ScoreSheet | None, confirmed: bool = False) -> str:
    """todo / draft / submitted / locked, as the judge's list shows it."""
    if sheet is None:
        return "locked" if confirmed else "todo"
    if confirmed:
        return "locked"
    return sheet.status.value


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with the offset (SQLite hands back naive datetimes stored as UTC)."""
    if moment is None:
        return None
    return as_utc(moment).isoformat()


def sheet_json(sheet: ScoreSheet | None, entry_id: int, *, confirmed: bool = False,
               reopen_reason: str | None = None) -> dict[str, Any]:
    if sheet is None:
        return {"entry_id": entry_id, "status": sheet_state(None, confirmed), "version": 0,
                "scores": {}, "comment": "", "total": None, "penalties": {}, "inputs": {}, "flags": []}
    return {
        "entry_id": entry_id, "id": sheet.id, "status": sheet_state(sheet, confirmed), "version": sheet.version,
        "rubric": {"id": sheet.rubric_id, "version": sheet.rubric_version},
        "scores": dict(sheet.scores or {}), "total": sheet.total, "comment": sheet.comment or "",
        "penalties": dict(sheet.penalties or {}), "inputs": dict(sheet.inputs or {}),
        "flags": list(sheet.flags or []),
        "updated_at": iso(sheet.updated_at), "submitted_at": iso(sheet.submitted_at),
        "reopen_reason": reopen_reason,
    }


def last_reopen_reason(session, sheet: ScoreSheet) -> str | None:
    """Why the chief reopened this sheet, while it is still the open draft the judge must fix."""
    if sheet.status != SheetStatus.draft:
        return None
    ev = session.scalar(select(ScoreEvent).where(ScoreEvent.sheet_id == sheet.id)
                        .order_by(ScoreEvent.id.desc()).limit(1))
    return ev.reason if ev is not None and ev.action == EventAction.reopen else None


def _reopen_reasons(session, drafts: list[ScoreSheet]) -> dict[int, str]:
    """sheet id -> the chief's reason, for drafts whose latest event is a reopen (one query)."""
    if not drafts:
        return {}
    last: dict[int, ScoreEvent] = {}
    for ev in session.scalars(select(ScoreEvent).where(ScoreEvent.sheet_id.in_([s.id for s in drafts]))
                              .order_by(ScoreEvent.id)):
        last[ev.sheet_id] = ev
    return {sid: ev.reason for sid, ev in last.items() if ev.action == EventAction.reopen and ev.reason}


def _snapshot(sheet: ScoreSheet | None) -> dict[str, Any] | None:
    if sheet is None:
        return None
    return {"status": sheet.status.value, "version": sheet.version, "scores": dict(sheet.scores or {}),
            "total": sheet.total, "comment": sheet.comment or "", "penalties": dict(sheet.penalties or {}),
            "inputs": dict(sheet.inputs or {}), "flags": list(sheet.flags or [])}


def log_event(session, *, stage_id: int, action: EventAction, actor: Actor, entry_id: int | None = None,
              sheet: ScoreSheet | None = None, judge_id: int | None = None, old=None, new=None,
              reason: str | None = None, client_request_id: str | None = None) -> ScoreEvent:
    ev = ScoreEvent(stage_id=stage_id, entry_id=entry_id, sheet_id=sheet.id if sheet is not None else None,
                    judge_id=judge_id, action=action, actor=actor.label[:120], user_id=actor.user_id,
                    old=old, new=new, reason=reason, device=(actor.device or None) and actor.device[:300],
                    ip=actor.ip, client_request_id=client_request_id)
    session.add(ev)
    return ev


# -- parsing a PUT ---------------------------------------------------------------------------

@dataclass
class SheetInput:
    scores: dict[str, Any]
    comment: str
    status: str
    client_request_id: str | None
    base_version: int | None
    penalties: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None
    flags: list[str] = field(default_factory=list)


def _field(fields: list[dict], name: str, code: str, message: str) -> None:
    fields.append({"field": name, "code": code, "message": message})


def parse_input(payload: Any) -> SheetInput:
    """The PUT body, shape-checked (types, lengths); marks are checked against the rubric later.
    400 when the body is not a JSON object, 422 with every field problem otherwise."""
    if not isinstance(payload, Mapping):
        raise SheetError(400, "bad_request", "请求体须为 JSON 对象")
    fields: list[dict] = []
    known = {"scores", "comment", "status", "client_request_id", "base_version", "penalties", "inputs", "flags"}
    for key in payload:
        if key not in known:
            _field(fields, str(key)[:64], "unknown", f"未知字段 {str(key)[:64]}")
    scores = payload.get("scores", {})
    if scores is None:
        scores = {}
    if not isinstance(scores, Mapping):
        _field(fields, "scores", "not_a_mapping", "scores 须为“评分项: 分数”的对象")
        scores = {}
    comment = payload.get("comment", "")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        _field(fields, "comment", "not_a_string", "评语须为文字")
        comment = ""
    comment = unicodedata.normalize("NFC", comment).replace("\x00", "").strip()
    if len(comment) > COMMENT_MAX:
        _field(fields, "comment", "too_long", f"评语不能超过 {COMMENT_MAX} 字（现为 {len(comment)} 字）")
    status = payload.get("status", "draft")
    if status not in ("draft", "submitted"):
        _field(fields, "status", "invalid", "status 只能是 draft（暂存）或 submitted（提交）")
    rid = payload.get("client_request_id")
    if rid is not None:
        if not isinstance(rid, str) or not rid.strip():
            _field(fields, "client_request_id", "invalid", "client_request_id 须为非空文字")
            rid = None
        elif len(rid) > REQUEST_ID_MAX:
            _field(fields, "client_request_id", "too_long", f"client_request_id 不能超过 {REQUEST_ID_MAX} 个字符")
            rid = None
        else:
            rid = rid.strip()
    base = payload.get("base_version")
    if base is not None and (isinstance(base, bool) or not isinstance(base, int) or base < 0):
        _field(fields, "base_version", "invalid", "base_version 须为非负整数")
        base = None
    penalties = payload.get("penalties")
    if penalties is not None and not isinstance(penalties, Mapping):
        _field(fields, "penalties", "not_a_mapping", "penalties 须为“扣分项: 次数”的对象")
        penalties = None
    inputs = payload.get("inputs")
    if inputs is not None and not isinstance(inputs, Mapping):
        _field(fields, "inputs", "not_a_mapping", "inputs 须为对象")
        inputs = None
    flags = payload.get("flags") or []
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        _field(fields, "flags", "invalid", "flags 须为文字列表")
        flags = []
    if fields:
        raise SheetError(422, "invalid", "评分表有误，请按提示修改", fields=fields)
    return SheetInput(dict(scores), comment, status, rid, base, dict(penalties) if penalties else None,
                      dict(inputs) if inputs else None, list(flags))


def _validated(rubric: Rubric, data: SheetInput) -> tuple[dict[str, str], str | None, dict, dict, list]:
    """Marks as exact strings and the total so far. A draft may leave criteria out (every
    `missing` problem is dropped); any other problem refuses the sheet with 422."""
    scores = {k: v for k, v in data.scores.items() if not (data.status == "draft" and (v is None or v == ""))}
    try:
        sheet = validate_sheet(rubric, scores, penalties=data.penalties, inputs=data.inputs, flags=data.flags,
                               comment=data.comment)
    except SheetInvalid as exc:
        errors = [e for e in exc.errors if not (data.status == "draft" and e.code == "missing")]
        if errors:
            raise SheetError(422, "invalid", _summary(errors),
                             fields=[{"field": e.field, "code": e.code, "message": e.message} for e in errors])
        return _partial(rubric, scores, data)
    marks = {cid: format_number(v) for cid, v in sheet.scores.items()}
    return (marks, format_number(sheet.total), {k: int(v) for k, v in sheet.deductions.items()},
            {k: format_number(v) for k, v in sheet.inputs.items()}, sorted(sheet.flags))


def _summary(errors: list[FieldError]) -> str:
    first = errors[0].message
    return first if len(errors) == 1 else f"{first}（共 {len(errors)} 处问题）"


def _partial(rubric: Rubric, scores: Mapping[str, Any], data: SheetInput):
    """A valid but incomplete draft: keep the valid marks, the total of what is there."""
    from scoring.sheets import parse_number
    marks: dict[str, str] = {}
    total = Decimal(0)
    for c in rubric.judged_criteria:
        if c.id in scores:
            v = parse_number(scores[c.id])
            assert isinstance(v, Decimal)   # validated above: only `missing` problems remained
            marks[c.id] = format_number(v)
            total = EXACT.add(total, EXACT.multiply(c.effective_weight, v))
    pen = {k: int(v) for k, v in (data.penalties or {}).items() if v not in (None, "", 0, "0")}
    inp = {k: format_number(Decimal(str(v))) for k, v in (data.inputs or {}).items() if v not in (None, "")}
    return marks, (format_number(total) if marks else None), pen, inp, sorted(set(data.flags))


# -- the door --------------------------------------------------------------------------------

def check_door(session, judge: Judge, stage: Stage, entry_id: int, *, index=None) -> Entry:
    """404 for an entry that is not in the stage, 409 when the stage is closed or its rubric
    broken, 403 when the judge may not score it (not theirs, or a conflict)."""
    entry = session.get(Entry, entry_id)
    if entry is None or entry.stage_id != stage.id:
        raise SheetError(404, "not_found", "找不到该参赛作品")
    check = decl.can_score(session, judge.id, entry.id, stage, index=index)
    if not check.ok:
        code = "conflicted" if check.reason.startswith("回避") else "not_assigned"
        raise SheetError(403, code, check.reason)
    return entry


def _replay(session, judge_id: int, rid: str | None, entry_id: int) -> PutOutcome | None:
    if rid is None:
        return None
    ev = session.scalar(select(ScoreEvent).where(ScoreEvent.judge_id == judge_id,
                                                 ScoreEvent.client_request_id == rid))
    if ev is None:
        return None
    if ev.entry_id != entry_id:
        raise SheetError(409, "request_id_reused", "该 client_request_id 已用于另一份评分表")
    sheet = find_sheet(session, judge_id, entry_id)
    return PutOutcome(sheet, created=False, replay=True)


def put_sheet(session, judge: Judge, stage: Stage, entry_id: int, payload: Any, actor: Actor) -> PutOutcome:
    """Save or submit the judge's sheet (module doc). Flushes, never commits; on an
    `IntegrityError` from a racing replay the caller rolls back and calls `replay_after_race`."""
    data = parse_input(payload)
    try:
        return _put(session, judge, stage, entry_id, data, actor)
    except SheetError as refusal:
        # A replay is answered with the stored sheet even when a fresh write would now be
        # refused (submitted since, stage closed, conflict declared since): the device only
        # needs to learn that its request went through. A replay that was accepted is caught
        # by the unique (judge, client_request_id) constraint instead (`replay_after_race`),
        # which spares every first write a look-up.
        if refusal.code != "request_id_reused":
            done = _replay(session, judge.id, data.client_request_id, entry_id)
            if done is not None:
                return done
        raise


def _put(session, judge: Judge, stage: Stage, entry_id: int, data: SheetInput, actor: Actor) -> PutOutcome:
    if stage.scoring_closed_at is not None:
        raise SheetError(409, "stage_closed", "本阶段评分已结束，不能再提交或修改评分")
    entry = check_door(session, judge, stage, entry_id)
    rubric = stage_rubric(stage, entry.category_id)
    sheet = find_sheet(session, judge.id, entry.id)
    refusal = None
    current = sheet.version if sheet is not None else 0
    if confirmation_of(session, entry.id) is not None:
        refusal = SheetError(409, "locked", "该作品已确认统分，评分表已锁定", sheet=sheet)
    elif sheet is not None and sheet.status != SheetStatus.draft:
        refusal = SheetError(409, "locked", "评分表已提交，如需修改请联系评委组长退回", sheet=sheet)
    elif data.base_version is not None and data.base_version != current:
        refusal = SheetError(409, "stale", "服务器上的评分表已有更新（可能被评委组长退回或在其他设备修改），"
                                           "请核对后再保存", sheet=sheet)
    if refusal is not None:
        raise refusal     # put_sheet answers a replay instead, when this is one
    marks, total, pen, inp, flags = _validated(rubric, data)
    now = utcnow()
    old = _snapshot(sheet)
    created = sheet is None
    if created:
        sheet = ScoreSheet(stage_id=stage.id, entry_id=entry.id, judge_id=judge.id, version=0)
        session.add(sheet)
    sheet.rubric_id, sheet.rubric_version = rubric.id, rubric.version
    sheet.scores, sheet.total, sheet.comment = marks, total, data.comment
    sheet.penalties, sheet.inputs, sheet.flags = pen or None, inp or None, flags or None
    sheet.status = SheetStatus(data.status)
    sheet.version = current + 1
    sheet.updated_at = now
    sheet.device = actor.device[:300] if actor.device else None
    if data.status == "submitted":
        sheet.submitted_at = now
    session.flush()
    action = (EventAction.submit if data.status == "submitted"
              else EventAction.create if created else EventAction.update)
    log_event(session, stage_id=stage.id, action=action, actor=actor, entry_id=entry.id, sheet=sheet,
              judge_id=judge.id, old=old, new=_snapshot(sheet), client_request_id=data.client_request_id)
    session.flush()
    return PutOutcome(sheet, created=created, confirmed=False)


def replay_after_race(session, judge: Judge, entry_id: int, payload: Any) -> PutOutcome | None:
    """After an IntegrityError and a rollback: the other copy of the request won; answer it."""
    rid = payload.get("client_request_id") if isinstance(payload, Mapping) else None
    return _replay(session, judge.id, rid if isinstance(rid, str) else None, entry_id)


def is_race(exc: IntegrityError) -> bool:
    text = str(exc.orig).lower()
    return "client_request_id" in text or "uq_score_event" in text or "uq_score_sheet" in text \
        or "score_sheet.judge_id" in text


# -- the judge's list ------------------------------------------------------------------------

def judge_overview(session, judge: Judge, stage: Stage) -> dict[str, Any]:
    """The judge's entries in running order with rubric, state and recusal; the count done.
    Entries the judge may not score (回避, withdrawn) are listed with the reason and not counted."""
    entries = decl.judge_entries(session, judge.id, stage)
    index = stage_conflict_index(session, stage, judge_ids=[judge.id], entry_ids=[e.id for e in entries])
    cards = {c.id: c for c in decl.entry_cards(entries, stage, index, judge.id, purpose="home")}
    ids = [e.id for e in entries]
    sheets = {s.entry_id: s for s in session.scalars(
        select(ScoreSheet).where(ScoreSheet.judge_id == judge.id, ScoreSheet.entry_id.in_(ids)))} if ids else {}
    confirmed = set(session.scalars(select(EntryConfirmation.entry_id)
                                    .where(EntryConfirmation.entry_id.in_(ids)))) if ids else set()
    reopened = _reopen_reasons(session, [s for s in sheets.values() if s.status == SheetStatus.draft and s.version > 1])
    rubrics: dict[int, dict] = {}
    rubric_errors: dict[int, str] = {}
    out, done, todo = [], 0, 0
    for e in entries:
        card = cards[e.id]
        if e.category_id not in rubrics and e.category_id not in rubric_errors:
            try:
                rubrics[e.category_id] = rubric_json(stage_rubric(stage, e.category_id))
            except SheetError as err:
                rubric_errors[e.category_id] = err.message
        sheet = sheets.get(e.id)
        state = sheet_state(sheet, e.id in confirmed)
        scorable = card.recusal is None and not card.withdrawn and e.category_id in rubrics
        if scorable:
            todo += 1
            done += state in ("submitted", "locked")
        rub = rubrics.get(e.category_id)
        out.append({
            "id": e.id, "external_id": None if stage.anonymous else e.external_id,
            "draw_number": e.draw_number, "code": card.code, "title": e.title,
            "category": {"id": e.category_id, "name": e.category.name},
            "contestant": card.contestant, "unit": card.unit,
            "status": state, "scorable": scorable,
            "recusal": card.recusal, "withdrawn": card.withdrawn,
            "rubric_problem": rubric_errors.get(e.category_id),
            "rubric": rub and {"id": rub["id"], "version": rub["version"]},
            "criteria": [{k: c[k] for k in ENTRY_CRITERION_KEYS} for c in rub["criteria"]] if rub else [],
            "sheet_version": sheet.version if sheet is not None else 0,
            "reopen_reason": reopened.get(sheet.id) if sheet is not None else None,
            "total": sheet.total if sheet is not None else None,
        })
    # The current entry goes on top: the first scorable one not yet submitted, in running order.
    current = next((x["id"] for x in out if x["scorable"] and x["status"] in ("todo", "draft")), None)
    return {
        "judge": {"id": judge.id, "external_id": judge.external_id, "name": judge.person.name},
        "stage": {"id": stage.id, "name": stage.name, "anonymous": stage.anonymous,
                  "closed": stage.scoring_closed_at is not None,
                  "programme": stage.programme.name},
        "rubrics": {str(k): v for k, v in rubrics.items()},
        "entries": out, "current": current, "done": done, "total": todo,
    }


# -- the chief judge -------------------------------------------------------------------------

def reopen(session, sheet: ScoreSheet, actor: Actor, reason: str) -> ScoreSheet:
    """Send a submitted sheet back to its judge as a draft, with the reason they will see."""
    reason = (reason or "").strip()
    if not reason:
        raise SheetError(422, "invalid", "退回评分表必须填写原因",
                         fields=[{"field": "reason", "code": "missing", "message": "请填写退回原因"}])
    if len(reason) > REASON_MAX:
        raise SheetError(422, "invalid", f"原因不能超过 {REASON_MAX} 字",
                         fields=[{"field": "reason", "code": "too_long", "message": f"原因不能超过 {REASON_MAX} 字"}])
    if confirmation_of(session, sheet.entry_id) is not None:
        raise SheetError(409, "locked", "该作品已确认统分，须先撤销确认才能退回评分表")
    stage = session.get(Stage, sheet.stage_id)
    if stage is not None and stage.scoring_closed_at is not None:
        # the judge could not save the reopened sheet and the entry could not be confirmed
        raise SheetError(409, "stage_closed", "本阶段评分已结束，请组织方先重新开放评分，再退回评分表")
    if sheet.status != SheetStatus.submitted:
        raise SheetError(409, "not_submitted", "只有已提交的评分表才能退回")
    old = _snapshot(sheet)
    sheet.status = SheetStatus.draft
    sheet.version += 1
    sheet.updated_at = utcnow()
    session.flush()
    log_event(session, stage_id=sheet.stage_id, action=EventAction.reopen, actor=actor, entry_id=sheet.entry_id,
              sheet=sheet, judge_id=sheet.judge_id, old=old, new=_snapshot(sheet), reason=reason)
    session.flush()
    return sheet


def judges_in_scope(session, stage: Stage, entries: list[Entry]) -> dict[int, set[int]]:
    """entry id -> the judges who meet it before conflicts: assigned reviewers (review design)
    or the members of the panels covering it (live round). One query for any number of entries."""
    out: dict[int, set[int]] = {e.id: set() for e in entries}
    if not entries:
        return out
    if decl.stage_uses_assignments(session, stage):
        from models import Assignment
        for judge_id, entry_id in session.execute(select(Assignment.judge_id, Assignment.entry_id)
                                                  .where(Assignment.entry_id.in_(list(out)))):
            out[entry_id].add(judge_id)
    else:
        rows = session.execute(select(PanelMember.judge_id, Panel.category_id, Panel.division_id)
                               .join(Panel, Panel.id == PanelMember.panel_id)
                               .where(Panel.stage_id == stage.id)).all()
        for e in entries:
            out[e.id] = {j for j, c, d in rows if (c is None or c == e.category_id)
                         and (d is None or d == e.division_id)}
    return out


def drop_conflicts(scope: dict[int, set[int]], index) -> dict[int, set[int]]:
    """`judges_in_scope` less the hard conflicts: whose sheets each entry's result waits for."""
    return {eid: {j for j in js if not (eid in index.entries and index.is_hard(j, eid))}
            for eid, js in scope.items()}


def expected_judges_for(session, stage: Stage, entries: list[Entry], *, index=None) -> dict[int, list[Judge]]:
    """entry id -> the judges whose sheets its result waits for, by judge number: the rule of
    `expected_judges` for many entries at once (the results page, the console, the demo)."""
    scope = judges_in_scope(session, stage, entries)
    all_ids = set().union(*scope.values()) if scope else set()
    judges = {j.id: j for j in session.scalars(select(Judge).where(Judge.id.in_(all_ids)))} if all_ids else {}
    if index is None:
        index = stage_conflict_index(session, stage, judges=list(judges.values()), entry_ids=list(scope))
    return {eid: sorted((judges[j] for j in js if j in judges), key=lambda j: j.external_id)
            for eid, js in drop_conflicts(scope, index).items()}


def expected_judges(session, entry: Entry, stage: Stage, index=None) -> list[Judge]:
    """The judges whose sheets the entry's result waits for: assigned reviewers (review design)
    or the members of the panels covering the entry (live round), less hard conflicts."""
    return expected_judges_for(session, stage, [entry], index=index)[entry.id]


def entry_record(session, entry_id: int) -> EntryScoreRecord | None:
    return session.get(EntryScoreRecord, entry_id)


def _as_sheet(rubric: Rubric, s: ScoreSheet) -> Sheet:
    return validate_sheet(rubric, s.scores or {}, penalties=s.penalties, inputs=s.inputs,
                          flags=s.flags or (), comment=s.comment)


def compute_result(session, entry: Entry, stage: Stage, *, statuses=(SheetStatus.submitted, SheetStatus.locked),
                   judges: list[Judge] | None = None) -> tuple[EntryResult, Rubric]:
    """The entry's result by the rubric from the submitted sheets of the judges expected on it
    (a sheet left over from a judge now recused does not count) and the chief's record."""
    rubric = stage_rubric(stage, entry.category_id)
    if judges is None:
        judges = expected_judges(session, entry, stage)
    allowed = {j.id: j for j in judges}
    rows = session.scalars(select(ScoreSheet).where(ScoreSheet.entry_id == entry.id,
                                                    ScoreSheet.status.in_(list(statuses)))).all()
    sheets = {}
    for s in rows:
        if s.judge_id not in allowed or s.rubric_id != rubric.id or s.rubric_version != rubric.version:
            continue
        sheets[allowed[s.judge_id].external_id] = _as_sheet(rubric, s)
    rec = entry_record(session, entry.id)
    result = entry_result(rubric, sheets, entry=entry.id,
                          inputs=(rec.inputs or None) if rec else None,
                          penalties=(rec.penalties or None) if rec else None,
                          flags=(rec.flags or ()) if rec else ())
    return result, rubric


def _dec(v) -> str | None:
    return None if v is None else str(v)


def result_json(result: EntryResult) -> dict[str, Any]:
    """A frozen, JSON-safe copy of an entry's result: what the big screen and the 评分汇总表
    show (every judge's mark, the dropped ones, penalties, the final score)."""
    return {
        "status": result.status, "reasons": list(result.reasons), "notes": list(result.notes),
        "method": result.method, "method_note": result.method_note, "n_judges": result.n_judges,
        "judges": [{"judge": m.judge, "raw": _dec(m.raw), "counted": _dec(m.counted), "kept": m.kept,
                    "dropped": m.dropped} for m in result.judges],
        "criteria": {cid: {"score": _dec(c.score), "method": c.method} for cid, c in result.criteria.items()},
        "panel_score": _dec(result.panel_score), "multiplier": _dec(result.multiplier),
        "penalties": [{"id": p.id, "title": p.title, "points": _dec(p.points), "count": p.count,
                       "applies_to": p.applies_to, "detail": p.detail, "total": _dec(p.total)}
                      for p in result.penalties],
        "final_deduction": _dec(result.final_deduction), "final_score": _dec(result.final_score),
        "raw_sum": _dec(result.raw_sum), "raw_mean": _dec(result.raw_mean), "flags": list(result.flags),
    }


def confirm(session, entry: Entry, stage: Stage, actor: Actor) -> EntryConfirmation:
    """统分确认: every expected judge has submitted; the result is computed and frozen, the
    sheets locked. 409 when a sheet is missing or the entry is already confirmed."""
    if confirmation_of(session, entry.id) is not None:
        raise SheetError(409, "already_confirmed", "该作品已确认统分")
    judges = expected_judges(session, entry, stage)
    if not judges:
        raise SheetError(409, "no_judges", "该作品没有可评分的评委，不能确认")
    sheets = {s.judge_id: s for s in session.scalars(select(ScoreSheet).where(ScoreSheet.entry_id == entry.id))}
    missing = [j for j in judges if sheets.get(j.id) is None or sheets[j.id].status != SheetStatus.submitted]
    if missing:
        names = "、".join(f"{j.external_id} {j.person.name}" for j in missing)
        raise SheetError(409, "sheets_missing", f"尚有 {len(missing)} 名评委未提交评分：{names}")
    result, rubric = compute_result(session, entry, stage, judges=judges)
    row = EntryConfirmation(entry_id=entry.id, stage_id=stage.id, category_id=entry.category_id,
                            rubric_id=rubric.id, rubric_version=rubric.version, status=result.status,
                            final_score=_dec(result.final_score), result=result_json(result),
                            confirmed_by=actor.label[:120], user_id=actor.user_id)
    session.add(row)
    session.flush()            # the unique constraint decides a race between two chiefs here
    for j in judges:
        sheets[j.id].status = SheetStatus.locked
    log_event(session, stage_id=stage.id, action=EventAction.confirm, actor=actor, entry_id=entry.id,
              new={"final_score": row.final_score, "status": row.status})
    session.flush()
    return row


def unconfirm(session, entry: Entry, stage: Stage, actor: Actor, reason: str) -> None:
    """Withdraw a confirmation (with a reason): sheets go back to submitted, the result is gone."""
    reason = (reason or "").strip()
    if not reason:
        raise SheetError(422, "invalid", "撤销确认必须填写原因",
                         fields=[{"field": "reason", "code": "missing", "message": "请填写撤销原因"}])
    row = confirmation_of(session, entry.id)
    if row is None:
        raise SheetError(409, "not_confirmed", "该作品尚未确认统分")
    old = {"final_score": row.final_score, "status": row.status}
    session.delete(row)
    for s in session.scalars(select(ScoreSheet).where(ScoreSheet.entry_id == entry.id,
                                                      ScoreSheet.status == SheetStatus.locked)):
        s.status = SheetStatus.submitted
    log_event(session, stage_id=stage.id, action=EventAction.unconfirm, actor=actor, entry_id=entry.id,
              old=old, reason=reason[:REASON_MAX])
    session.flush()


def set_scoring_closed(session, stage: Stage, closed: bool, actor: Actor) -> None:
    if closed == (stage.scoring_closed_at is not None):
        return
    stage.scoring_closed_at = utcnow() if closed else None
    log_event(session, stage_id=stage.id, action=EventAction.close if closed else EventAction.open, actor=actor)
    session.flush()


def record_entry(session, entry: Entry, stage: Stage, actor: Actor, *, inputs: Mapping[str, Any] | None = None,
                 penalties: Mapping[str, Any] | None = None, flags=()) -> EntryScoreRecord:
    """The chief's (or timekeeper's) record for the entry: duration, deductions, decided flags,
    validated by the rubric's rules (`check_entry_record`); refused once the entry is confirmed."""
    from scoring.sheets import check_entry_record
    if confirmation_of(session, entry.id) is not None:
        raise SheetError(409, "locked", "该作品已确认统分，须先撤销确认才能修改")
    rubric = stage_rubric(stage, entry.category_id)
    try:
        rec = check_entry_record(rubric, inputs=inputs or None, penalties=penalties or None, flags=flags or ())
    except SheetInvalid as exc:
        raise SheetError(422, "invalid", _summary(exc.errors),
                         fields=[{"field": e.field, "code": e.code, "message": e.message} for e in exc.errors])
    row = session.get(EntryScoreRecord, entry.id)
    old = None if row is None else {"inputs": row.inputs, "penalties": row.penalties, "flags": row.flags}
    if row is None:
        row = EntryScoreRecord(entry_id=entry.id)
        session.add(row)
    row.inputs = {k: format_number(v) for k, v in rec.inputs.items()} or None
    row.penalties = {k: int(v) for k, v in rec.deductions.items() if v} or None
    row.flags = sorted(rec.flags) or None
    row.updated_by = actor.label[:120]
    row.updated_at = utcnow()
    session.flush()
    log_event(session, stage_id=stage.id, action=EventAction.record, actor=actor, entry_id=entry.id,
              old=old, new={"inputs": row.inputs, "penalties": row.penalties, "flags": row.flags})
    session.flush()
    return row
