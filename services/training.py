"""Teacher-training sessions (期): structure, roster, attendance, marks and outcomes.

A session is a `training` programme with one assessment stage. The stage binds a roster
category to the assessment scheme (`rubrics/training/assessment.yaml`, kind `assessment`);
every component of the scheme scored by instructors on a rubric (`source: rubric`) becomes a
category of that stage bound to the component's rubric, and every trainee gets one ordinary
entry in each such category. Instructors therefore score through the competition's judge
flow unchanged — tablets, offline queue, conflicts (an instructor from the trainee's school is
a unit conflict), panels, trimmed means — and this module only reads their results.

Attendance is counted per half-day slot (`TrainingSlot`); a mark is set on a tablet, by a
trainee scanning the room's expiring QR code, or by an approved leave request (excused).
Marks for `source: score` components (e.g. 过程作业) are typed by the organiser.

Outcomes are never stored: `outcomes()` recomputes them from the scheme file and the data,
through `scoring.assessment.evaluate`, so changing the file changes the outcome.

Functions flush and never commit; refusals raise `TrainingError` with a Chinese message
before anything changes.
"""
from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import (AttendanceMark, AttendanceStatus, Category, CheckinCode, ComponentMark, Entry, Half,
                    LeaveRequest, LeaveStatus, Programme, ProgrammeKind, Stage, StageCategory, StageKind,
                    Trainee, TrainingSlot, hash_token)
from models.base import BEIJING, as_utc, utcnow
from scoring.rubric import Rubric

DEFAULT_SLOT_HOURS = 4
CHECKIN_MINUTES = 30
MAX_CHECKIN_MINUTES = 240


class TrainingError(ValueError):
    """A refused action, with a Chinese message for the organiser or trainee."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


# -- structure ---------------------------------------------------------------------------------

@dataclass
class Scheme:
    """Where a session's assessment lives: its stage, the roster category and the scheme."""
    programme: Programme
    stage: Stage
    roster_category: Category
    rubric: Rubric
    ref: str
    scored: dict[str, Category]       # component id -> category of its instructor-scored entries


def _rubrics():
    from services.rubric_registry import rubric_set
    return rubric_set().rubrics


def scheme(session, prog: Programme) -> Scheme:
    """The session's assessment scheme; TrainingError when the programme has none usable."""
    if prog.kind != ProgrammeKind.training:
        raise TrainingError("该项目不是教师培训项目")
    rubrics = _rubrics()
    for stage in prog.stages:
        if stage.kind != StageKind.assessment:
            continue
        for sc in stage.stage_categories:
            r = rubrics.get(sc.rubric_ref)
            if r is not None and r.kind == "assessment":
                by_code = {c.code: c for c in prog.categories}
                scored = {c.id: by_code[c.id] for c in r.components if c.source == "rubric" and c.id in by_code}
                return Scheme(prog, stage, sc.category, r, sc.rubric_ref, scored)
        refs = [sc.rubric_ref for sc in stage.stage_categories]
        raise TrainingError(f"培训考核阶段没有可用的考核方案（现为：{'、'.join(refs) or '未设置'}），"
                            "请在阶段设置中为“培训学员”选择一个 kind: assessment 的考核方案")
    raise TrainingError("该培训项目没有“培训考核”阶段")


def ensure_structure(session, prog: Programme) -> Scheme:
    """Make the stage's categories match the scheme: one category per instructor-scored
    component, bound to that component's rubric (idempotent; a rebinding follows the file)."""
    sch = scheme(session, prog)
    rubrics = _rubrics()
    by_code = {c.code: c for c in prog.categories}
    bound = {sc.category_id: sc for sc in sch.stage.stage_categories}
    for i, comp in enumerate(sch.rubric.components):
        if comp.source != "rubric":
            continue
        if comp.rubric not in rubrics:
            raise TrainingError(f"考核方案的“{comp.title.zh}”引用的评分表 {comp.rubric} 不存在")
        cat = by_code.get(comp.id)
        if cat is None:
            cat = Category(code=comp.id, name=comp.title.zh, name_en=comp.title.en, entry_kind="individual",
                           sort=10 + i)
            prog.categories.append(cat)
            session.flush()
            by_code[comp.id] = cat
        sc = bound.get(cat.id)
        if sc is None:
            sch.stage.stage_categories.append(StageCategory(category=cat, rubric_ref=comp.rubric))
        elif sc.rubric_ref != comp.rubric:
            sc.rubric_ref = comp.rubric
        sch.scored[comp.id] = cat
    session.flush()
    ensure_slots(session, prog)
    return sch


def ensure_slots(session, prog: Programme) -> list[TrainingSlot]:
    """Half-day slots for every day of the session (morning and afternoon), created once
    from the programme's dates; the organiser may then edit titles and hours."""
    slots = slots_of(session, prog)
    if slots or prog.starts_on is None or prog.ends_on is None:
        return slots
    if (prog.ends_on - prog.starts_on).days > 31:
        raise TrainingError("培训日期跨度超过 31 天，请检查开始和结束日期")
    day = prog.starts_on
    while day <= prog.ends_on:
        for half in (Half.am, Half.pm):
            session.add(TrainingSlot(programme_id=prog.id, day=day, half=half, hours=DEFAULT_SLOT_HOURS))
        day += timedelta(days=1)
    session.flush()
    return slots_of(session, prog)


def slots_of(session, prog: Programme) -> list[TrainingSlot]:
    rows = session.scalars(select(TrainingSlot).where(TrainingSlot.programme_id == prog.id))
    return sorted(rows, key=lambda s: (s.day, 0 if s.half == Half.am else 1))


def training_hours(slots: list[TrainingSlot]) -> int:
    return sum(s.hours for s in slots)


def trainees_of(session, prog: Programme, *, active_only: bool = False) -> list[Trainee]:
    q = (select(Trainee).where(Trainee.programme_id == prog.id)
         .options(selectinload(Trainee.person), selectinload(Trainee.unit)).order_by(Trainee.external_id))
    if active_only:
        q = q.where(Trainee.status == "active")
    return list(session.scalars(q))


def entry_external_id(trainee: Trainee, category: Category) -> str:
    return f"{trainee.external_id}-{category.code}"[:32]


def sync_entries(session, prog: Programme, sch: Scheme | None = None) -> int:
    """One entry per trainee per instructor-scored component, following the roster (school,
    withdrawal). Returns how many entries were created."""
    sch = sch or ensure_structure(session, prog)
    trainees = trainees_of(session, prog)
    existing = {(e.category_id, e.person_id): e for e in session.scalars(
        select(Entry).where(Entry.stage_id == sch.stage.id, Entry.category_id.in_([c.id for c in sch.scored.values()])))}
    created = 0
    for cat in sch.scored.values():
        taken = {e.draw_number for (cid, _), e in existing.items() if cid == cat.id and e.draw_number}
        nxt = max(taken, default=0) + 1
        for t in trainees:
            e = existing.get((cat.id, t.person_id))
            status = "active" if t.status == "active" else "withdrawn"
            if e is None:
                e = Entry(stage_id=sch.stage.id, category_id=cat.id, external_id=entry_external_id(t, cat),
                          title=cat.name, kind="individual", person_id=t.person_id, unit_id=t.unit_id,
                          province_id=t.unit.province_id, draw_number=nxt, status=status)
                nxt += 1
                session.add(e)
                created += 1
            else:
                e.unit_id, e.province_id, e.status = t.unit_id, t.unit.province_id, status
    session.flush()
    return created


# -- attendance ----------------------------------------------------------------------------------

def _slot(session, prog: Programme, slot_id: int) -> TrainingSlot:
    slot = session.get(TrainingSlot, slot_id)
    if slot is None or slot.programme_id != prog.id:
        raise TrainingError("找不到该时段", 404)
    return slot


def _trainee(session, prog: Programme, trainee_id: int) -> Trainee:
    t = session.get(Trainee, trainee_id)
    if t is None or t.programme_id != prog.id:
        raise TrainingError("找不到该学员", 404)
    return t


def marks_by_slot(session, prog: Programme) -> dict[tuple[int, int], AttendanceMark]:
    """(trainee id, slot id) -> mark, for the whole session in one query."""
    q = (select(AttendanceMark).join(TrainingSlot, TrainingSlot.id == AttendanceMark.slot_id)
         .where(TrainingSlot.programme_id == prog.id))
    return {(m.trainee_id, m.slot_id): m for m in session.scalars(q)}


def set_mark(session, prog: Programme, trainee_id: int, slot_id: int, status: str | None, *,
             source: str, actor: str) -> AttendanceMark | None:
    """Mark one trainee in one half-day (None clears the mark). An approved leave keeps the
    slot excused unless the trainee is marked present after all."""
    t = _trainee(session, prog, trainee_id)
    slot = _slot(session, prog, slot_id)
    if t.status != "active":
        raise TrainingError(f"{t.name} 已退出培训，不能再记考勤")
    if status is not None and status not in AttendanceStatus.__members__:
        raise TrainingError(f"考勤状态“{status}”无效，应为 出勤 / 缺勤 / 请假")
    mark = session.scalar(select(AttendanceMark).where(AttendanceMark.trainee_id == t.id,
                                                       AttendanceMark.slot_id == slot.id))
    if status is None:
        if mark is not None:
            session.delete(mark)
            session.flush()
        return None
    if status == AttendanceStatus.excused and source != "leave":
        leave = session.scalar(select(LeaveRequest).where(LeaveRequest.trainee_id == t.id,
                                                          LeaveRequest.slot_id == slot.id))
        if leave is None or leave.status != LeaveStatus.approved:
            raise TrainingError(f"{t.name} 在{slot.label}没有已批准的请假，请先登记请假")
    if mark is None:
        mark = AttendanceMark(trainee_id=t.id, slot_id=slot.id, status=AttendanceStatus(status),
                              source=source, marked_by=actor, marked_at=utcnow())
        session.add(mark)
    else:
        mark.status, mark.source, mark.marked_by, mark.marked_at = AttendanceStatus(status), source, actor, utcnow()
    session.flush()
    return mark


def issue_checkin_code(session, prog: Programme, slot_id: int, *, minutes: int = CHECKIN_MINUTES,
                       actor: str) -> tuple[CheckinCode, str]:
    """A fresh QR check-in code for a half-day, valid for `minutes`; earlier codes of the
    slot are revoked so only the code on the screen works."""
    slot = _slot(session, prog, slot_id)
    if not isinstance(minutes, int) or not 1 <= minutes <= MAX_CHECKIN_MINUTES:
        raise TrainingError(f"签到码有效时间应为 1 到 {MAX_CHECKIN_MINUTES} 分钟")
    now = utcnow()
    for old in session.scalars(select(CheckinCode).where(CheckinCode.slot_id == slot.id,
                                                         CheckinCode.revoked_at.is_(None))):
        old.revoked_at = now
    plain = secrets.token_urlsafe(12)
    code = CheckinCode(slot_id=slot.id, code_hash=hash_token(plain), expires_at=now + timedelta(minutes=minutes),
                       created_by=actor)
    session.add(code)
    session.flush()
    return code, plain


def live_code(session, plain: str) -> CheckinCode:
    """The check-in code behind a scanned link; TrainingError 410 when expired or replaced,
    404 when unknown (the same words either way for a guesser)."""
    code = session.scalar(select(CheckinCode).where(CheckinCode.code_hash == hash_token(plain or "")))
    if code is None:
        raise TrainingError("签到二维码无效，请重新扫描会场屏幕上的二维码", 404)
    if code.revoked_at is not None or as_utc(code.expires_at) <= utcnow():
        raise TrainingError("签到二维码已过期，请扫描会场屏幕上最新的二维码", 410)
    return code


def _norm(text: str) -> str:
    return re.sub(r"[\s\-－—]+", "", unicodedata.normalize("NFKC", text or ""))


def checkin(session, plain: str, name: str, phone_tail: str) -> tuple[Trainee, TrainingSlot, bool]:
    """A trainee checks themselves in by the room's code, their name and the last four digits
    of the phone number on the roster. Returns (trainee, slot, newly marked)."""
    code = live_code(session, plain)
    slot = code.slot
    name_n, tail = _norm(name), _norm(phone_tail)
    if not name_n:
        raise TrainingError("请填写姓名")
    if not re.fullmatch(r"\d{4}", tail):
        raise TrainingError("请填写报名时所留手机号的后四位数字")
    matches = [t for t in session.scalars(select(Trainee).where(Trainee.programme_id == slot.programme_id,
                                                                Trainee.status == "active")
                                          .options(selectinload(Trainee.person)))
               if _norm(t.person.name) == name_n and _norm(t.person.phone or "")[-4:] == tail]
    if len(matches) != 1:
        raise TrainingError("姓名与手机号后四位和报名名单不一致，请核对后重试，或请工作人员在平板上签到", 422)
    t = matches[0]
    mark = session.scalar(select(AttendanceMark).where(AttendanceMark.trainee_id == t.id,
                                                       AttendanceMark.slot_id == slot.id))
    if mark is not None and mark.status == AttendanceStatus.present:
        return t, slot, False
    if mark is None:
        session.add(AttendanceMark(trainee_id=t.id, slot_id=slot.id, status=AttendanceStatus.present,
                                   source="qr", marked_by=t.person.name, marked_at=utcnow()))
    else:
        mark.status, mark.source, mark.marked_by, mark.marked_at = AttendanceStatus.present, "qr", t.person.name, utcnow()
    session.flush()
    return t, slot, True


def request_leave(session, prog: Programme, trainee_id: int, slot_id: int, reason: str, *,
                  actor: str) -> LeaveRequest:
    t = _trainee(session, prog, trainee_id)
    slot = _slot(session, prog, slot_id)
    if t.status != "active":
        raise TrainingError(f"{t.name} 已退出培训，不能再登记请假")
    reason = (reason or "").strip()
    if not reason:
        raise TrainingError("请填写请假事由")
    if len(reason) > 500:
        raise TrainingError("请假事由不能超过 500 个字")
    leave = session.scalar(select(LeaveRequest).where(LeaveRequest.trainee_id == t.id,
                                                      LeaveRequest.slot_id == slot.id))
    if leave is not None:
        raise TrainingError(f"{t.name} 在{slot.label}已有请假记录（{LEAVE_LABELS[leave.status]}）")
    leave = LeaveRequest(trainee_id=t.id, slot_id=slot.id, reason=reason, status=LeaveStatus.pending)
    session.add(leave)
    session.flush()
    return leave


LEAVE_LABELS = {LeaveStatus.pending: "待审批", LeaveStatus.approved: "已批准", LeaveStatus.rejected: "未批准"}


def decide_leave(session, prog: Programme, leave_id: int, approve: bool, *, actor: str) -> LeaveRequest:
    """Approve (the slot becomes excused unless already marked present) or reject."""
    leave = session.get(LeaveRequest, leave_id)
    if leave is None or leave.trainee.programme_id != prog.id:
        raise TrainingError("找不到该请假记录", 404)
    if leave.status != LeaveStatus.pending:
        raise TrainingError(f"该请假已处理（{LEAVE_LABELS[leave.status]}）")
    if approve and leave.trainee.status != "active":
        raise TrainingError(f"{leave.trainee.name} 已退出培训，不能再批准请假")
    leave.status = LeaveStatus.approved if approve else LeaveStatus.rejected
    leave.decided_by, leave.decided_at = actor, utcnow()
    session.flush()
    if approve:
        mark = session.scalar(select(AttendanceMark).where(AttendanceMark.trainee_id == leave.trainee_id,
                                                           AttendanceMark.slot_id == leave.slot_id))
        if mark is None or mark.status != AttendanceStatus.present:
            set_mark(session, prog, leave.trainee_id, leave.slot_id, "excused", source="leave", actor=actor)
    return leave


def leaves_of(session, prog: Programme) -> list[LeaveRequest]:
    q = (select(LeaveRequest).join(Trainee).where(Trainee.programme_id == prog.id)
         .options(selectinload(LeaveRequest.trainee).selectinload(Trainee.person), selectinload(LeaveRequest.slot))
         .order_by(LeaveRequest.requested_at.desc()))
    return list(session.scalars(q))


# -- directly entered marks -----------------------------------------------------------------------

def parse_mark(text: Any, maximum: Decimal) -> Decimal:
    """A typed mark: a number 0..maximum with at most two decimals."""
    raw = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text if text is not None else "")))
    if raw == "":
        raise TrainingError("请填写分数")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise TrainingError(f"“{raw}”不是数字") from None
    if not value.is_finite():
        raise TrainingError(f"“{raw}”不是数字")
    if value < 0 or value > maximum:
        raise TrainingError(f"分数 {raw} 超出范围（0–{format(maximum.normalize(), 'f')}）")
    if value != value.quantize(Decimal("0.01")):
        raise TrainingError(f"分数 {raw} 最多保留两位小数")
    return value


def component_marks(session, prog: Programme) -> dict[tuple[int, str], str]:
    """(trainee id, component id) -> the typed mark, for the whole session in one query."""
    return {(m.trainee_id, m.component_id): m.score for m in session.scalars(
        select(ComponentMark).join(Trainee).where(Trainee.programme_id == prog.id))}


def set_component_mark(session, prog: Programme, trainee_id: int, component_id: str, text: Any, *,
                       actor: str) -> ComponentMark | None:
    """Set (or clear, with an empty value) a `source: score` component's mark."""
    sch = scheme(session, prog)
    comp = next((c for c in sch.rubric.components if c.id == component_id), None)
    if comp is None or comp.source != "score":
        raise TrainingError(f"考核方案中没有可直接录入分数的项目“{component_id}”")
    t = _trainee(session, prog, trainee_id)
    mark = session.scalar(select(ComponentMark).where(ComponentMark.trainee_id == t.id,
                                                      ComponentMark.component_id == comp.id))
    if text is None or not str(text).strip():
        if mark is not None:
            session.delete(mark)
            session.flush()
        return None
    value = parse_mark(text, comp.max)
    stored = format(value.normalize(), "f")
    if mark is None:
        mark = ComponentMark(trainee_id=t.id, component_id=comp.id, score=stored, entered_by=actor)
        session.add(mark)
    else:
        mark.score, mark.entered_by = stored, actor
    session.flush()
    return mark


# -- outcomes ------------------------------------------------------------------------------------

@dataclass
class TraineeRow:
    trainee: Trainee
    outcome: Any                   # scoring.assessment.Outcome
    slots: list[str]               # status per counted slot
    scored_entries: dict[str, Entry]
    pending_detail: dict[str, str]  # component id -> why its score is not available yet


@dataclass
class SessionOutcome:
    scheme: Scheme
    slots: list[TrainingSlot]
    counted: list[TrainingSlot]
    rows: list[TraineeRow]

    @property
    def hours(self) -> int:
        return training_hours(self.slots)

    def counts(self) -> dict[str, int]:
        c = {"passed": 0, "failed": 0, "pending": 0, "excellent": 0}
        for r in self.rows:
            c[r.outcome.status] += 1
            c["excellent"] += bool(r.outcome.excellent)
        return c


def counted_slots(slots: list[TrainingSlot], now: datetime | None) -> list[TrainingSlot]:
    """Slots that count at `now` (Beijing time): those that have begun (a morning from its
    day, an afternoon from noon on its day); all of them when `now` is None."""
    if now is None:
        return slots
    return [s for s in slots if s.day < now.date() or (s.day == now.date() and (s.half == Half.am or now.hour >= 12))]


def outcomes(session, prog: Programme, *, as_of_now: bool = False) -> SessionOutcome:
    """Every trainee's outcome, computed from the scheme file and the data.

    `as_of_now` counts only the half-days that have begun (for the live attendance rate
    during the session); otherwise every slot counts, which is what completion is decided on."""
    from scoring.assessment import TraineeInput, evaluate
    from services.results import stage_results
    sch = scheme(session, prog)   # read-only: the structure is made on creation, import and the overview
    slots = slots_of(session, prog)
    counted = counted_slots(slots, datetime.now(BEIJING)) if as_of_now else slots
    trainees = trainees_of(session, prog, active_only=True)
    marks = marks_by_slot(session, prog)
    comp_marks = component_marks(session, prog)
    rubrics = _rubrics()
    # the instructors' results per scored component: person id -> (score or None, why)
    comp_of = {cat.id: comp_id for comp_id, cat in sch.scored.items()}
    scored: dict[str, dict[int, tuple[Optional[Decimal], str, Entry]]] = {c: {} for c in sch.scored}
    for g in stage_results(session, sch.stage).groups:   # one pass over the stage's sheets
        comp_id = comp_of.get(g.category.id)
        if comp_id is None:
            continue
        for row in g.rows:
            x = row.ranked
            ok = x.status == "ok" and x.score is not None
            why = "" if ok else "；".join(row.reasons) or f"{g.category.name}尚未评完"
            scored[comp_id][row.entry.person_id] = (Decimal(str(x.score)) if ok else None, why, row.entry)
    inputs, extra = [], []
    for t in trainees:
        slot_states = [marks[(t.id, s.id)].status.value if (t.id, s.id) in marks else "none" for s in counted]
        comps: dict[str, Optional[Decimal]] = {}
        rubric_max: dict[str, Decimal] = {}
        entries: dict[str, Entry] = {}
        pending: dict[str, str] = {}
        for c in sch.rubric.components:
            if c.source == "score":
                v = comp_marks.get((t.id, c.id))
                comps[c.id] = Decimal(v) if v is not None else None
                if v is None:
                    pending[c.id] = f"{c.title.zh}尚未录入"
            elif c.source == "rubric":
                score, why, entry = scored.get(c.id, {}).get(t.person_id, (None, f"{c.title.zh}尚未评分", None))
                comps[c.id] = score
                rubric_max[c.id] = rubrics[c.rubric].max_total
                if entry is not None:
                    entries[c.id] = entry
                if score is None:
                    pending[c.id] = why or f"{c.title.zh}尚未评分"
        inputs.append(TraineeInput(key=t.id, slots=slot_states, components=comps, rubric_max=rubric_max))
        extra.append((slot_states, entries, pending))
    results = evaluate(sch.rubric, inputs)
    rows = [TraineeRow(t, o, s, e, p) for t, o, (s, e, p) in zip(trainees, results, extra)]
    return SessionOutcome(sch, slots, counted, rows)


# -- publication and certificates ------------------------------------------------------------------

def outcome_snapshot(session, prog: Programme, so: SessionOutcome | None = None) -> dict[str, Any]:
    """The outcome list as a publication snapshot (the shape of services.results.snapshot):
    passed trainees carry the award that their certificate names (结业 or 优秀学员)."""
    so = so or outcomes(session, prog)
    if any(r.outcome.status == "pending" for r in so.rows):
        raise TrainingError("还有学员的考核成绩未完成，不能生成结业名单")
    sch = so.scheme
    excellence = sch.rubric.excellence
    honour = excellence.title.zh if excellence is not None and excellence.title else "优秀学员"
    rows = []
    for r in sorted(so.rows, key=lambda r: (r.outcome.rank or 10**9, r.trainee.external_id)):
        t, o = r.trainee, r.outcome
        award = None
        if o.status == "passed":
            award = {"id": "excellent" if o.excellent else "completed", "name": honour if o.excellent else "结业"}
        first = next(iter(r.scored_entries.values()), None)
        rows.append({
            # the trainee's first scored entry stands for them (objections, certificates)
            "rank": o.rank if o.status == "passed" else None, "entry_id": first.id if first else None,
            "trainee_id": t.id, "external_id": t.external_id,
            "title": sch.rubric.title.zh, "contestant": t.name,
            "members": [{"person_id": t.person_id, "name": t.name, "unit": t.unit.name}],
            "unit": t.unit.name, "unit_id": t.unit_id, "province": t.unit.province.name,
            "score": None if o.total is None else str(o.total), "status": "ok" if o.status == "passed" else "failed",
            "award": award, "honours": [honour] if o.excellent else [], "promotion": None,
            "reasons": list(o.reasons_zh), "notes": [], "decided_by": None, "judges": [], "penalties": [],
            "hours": so.hours,
            "attendance": None if o.attendance_rate is None else str(o.attendance_rate),
        })
    stage = sch.stage
    return {
        "stage": {"id": stage.id, "name": stage.name, "kind": stage.kind.value, "programme": prog.name,
                  "programme_id": prog.id, "year": prog.year},
        "generated_at": utcnow().isoformat(timespec="seconds"),
        "method": "assessment",
        "training": {"hours": so.hours, "host": prog.host, "partner": prog.partner,
                     "starts_on": prog.starts_on.isoformat() if prog.starts_on else None,
                     "ends_on": prog.ends_on.isoformat() if prog.ends_on else None},
        "categories": [{"id": sch.roster_category.id, "code": sch.roster_category.code,
                        "name": sch.roster_category.name,
                        "rubric": {"id": sch.rubric.id, "version": sch.rubric.version, "title": sch.rubric.title.zh},
                        "groups": [{"division": None, "rows": rows}]}],
    }


def session_summaries(session, programmes: list[Programme]):
    """Per-session outcomes summarised for the national organiser (scoring.assessment)."""
    from scoring.assessment import summarise_sessions
    data = []
    for prog in programmes:
        try:
            so = outcomes(session, prog)
        except TrainingError:
            continue
        data.append((prog.id, prog.name, [r.outcome for r in so.rows]))
    return summarise_sessions(data)
