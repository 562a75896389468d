"""The year-end awards (优秀组织单位和个人): nominations, the computed criteria filled from
activity reports, and the overview the organiser works from.

Scoring, ranking, 公示 and certificates are the shared machinery: the committee scores judged
criteria through the judge flow, `services.results.stage_results` ranks, `services.publication`
publishes and `services.certificates` issues. What this module adds is the bridge from the
activity reports to the rubric's computed criteria: `sync_computed` writes each nominated
unit's figures (scoring.activity.award_inputs) into the entry's record through
`services.sheets.record_entry`, so the change is logged like any chief's record and results
stay a pure function of what is stored. The overview says when the stored figures no longer
match the reports (a late correction) so the organiser refreshes them before publishing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import Category, Entry, EntryConfirmation, EntryScoreRecord, Person, Programme, Stage, Unit
from scoring.activity import computed_lines
from services import activities
from services.sheets import Actor, SheetError, record_entry, stage_rubric


class AwardError(Exception):
    def __init__(self, message: str, fields: dict[str, str] | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.status = status


def award_stage(prog: Programme) -> Stage:
    if not prog.stages:
        raise AwardError("该评选项目还没有评审阶段", status=409)
    return prog.stages[-1]


def _category(prog: Programme, entry_kind: str) -> Category:
    for c in prog.categories:
        if c.entry_kind == entry_kind:
            return c
    raise AwardError("该评选项目没有对应的评选类别（优秀组织单位 / 优秀个人）", status=409)


def entries_of(session, stage: Stage) -> list[Entry]:
    return list(session.scalars(
        select(Entry).where(Entry.stage_id == stage.id)
        .options(selectinload(Entry.unit).selectinload(Unit.province), selectinload(Entry.person),
                 selectinload(Entry.category))
        .order_by(Entry.category_id, Entry.external_id)))


def _next_external_id(session, stage: Stage, prefix: str) -> str:
    existing = set(session.scalars(select(Entry.external_id).where(Entry.stage_id == stage.id)))
    n = sum(1 for e in existing if e.startswith(prefix)) + 1
    while f"{prefix}{n:03d}" in existing:
        n += 1
    return f"{prefix}{n:03d}"


def nominate(session, prog: Programme, *, kind: str, unit_code: str, person_name: str = "",
             title: str = "") -> Entry:
    """Add a nominated unit (kind 'unit') or individual ('person') to the award stage.
    Refuses an unknown unit, a unit nominated twice, an individual without a name or nominated
    twice for the same unit. Flushes, never commits."""
    stage = award_stage(prog)
    errors: dict[str, str] = {}
    if kind not in ("unit", "person"):
        raise AwardError("请选择推荐类别：优秀组织单位或优秀个人", {"kind": "未知的推荐类别"})
    code = (unit_code or "").strip()
    unit = session.scalar(select(Unit).where(Unit.external_id == code)) if code else None
    if unit is None:
        errors["unit"] = f"单位编号“{code}”不存在" if code else "请选择推荐单位"
    name = (person_name or "").strip()
    title = (title or "").strip()
    if kind == "person" and not name:
        errors["person_name"] = "推荐优秀个人须填写姓名"
    if len(name) > 64:
        errors["person_name"] = "姓名过长：最多 64 个字符"
    if len(title) > 200:
        errors["title"] = "推荐事由过长：最多 200 个字符"
    if errors:
        raise AwardError("推荐未保存：" + "；".join(errors.values()), errors)
    cat = _category(prog, "unit" if kind == "unit" else "individual")
    same = [e for e in entries_of(session, stage) if e.category_id == cat.id and e.unit_id == unit.id]
    if kind == "unit" and same:
        raise AwardError(f"“{unit.name}”已被推荐为{cat.name}（{same[0].external_id}）", {"unit": "该单位已被推荐"}, 409)
    if kind == "person" and any(e.person is not None and e.person.name == name for e in same):
        raise AwardError(f"“{unit.name}”的“{name}”已被推荐", {"person_name": "已被推荐"}, 409)
    prefix = f"A{prog.year}-{'U' if kind == 'unit' else 'P'}"
    entry = Entry(stage_id=stage.id, category_id=cat.id, external_id=_next_external_id(session, stage, prefix),
                  kind="unit" if kind == "unit" else "individual", unit_id=unit.id, province_id=unit.province_id,
                  status="active",
                  title=title or (f"{unit.name}{prog.year}年度联合行动组织工作" if kind == "unit"
                                  else f"{name}{prog.year}年度联合行动工作"))
    if kind == "person":
        entry.person = Person(name=name, unit_id=unit.id)
    session.add(entry)
    session.flush()
    return entry


# -- computed criteria from the reports --------------------------------------------------------

def _wanted(rubric, figures: dict[str, int]) -> dict[str, str]:
    """The entry inputs a rubric's computed criteria take, as stored strings."""
    names = [c.computed.input for c in rubric.criteria if c.computed is not None]
    return {n: str(figures.get(n, 0)) for n in names}


@dataclass
class ComputedRow:
    entry: Entry
    figures: dict[str, int]             # from the reports now
    stored: dict[str, str]              # what the entry's record holds (what results use)
    lines: list[dict]                   # computed criteria with inputs and scores (from `stored`)
    stale: bool
    confirmed: bool


@dataclass
class Overview:
    stage: Stage
    plan: Any
    units: list[ComputedRow]
    people: list[Entry]
    computed_criteria: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def stale(self) -> list[ComputedRow]:
        return [r for r in self.units if r.stale]


def overview(session, prog: Programme) -> Overview:
    stage = award_stage(prog)
    plan = activities.plan_for(prog)
    figures = activities.inputs_by_unit(session, prog, plan)
    entries = entries_of(session, stage)
    records = {r.entry_id: r for r in session.scalars(
        select(EntryScoreRecord).where(EntryScoreRecord.entry_id.in_([e.id for e in entries])))} if entries else {}
    confirmed = set(session.scalars(select(EntryConfirmation.entry_id).where(
        EntryConfirmation.entry_id.in_([e.id for e in entries])))) if entries else set()
    rows, people, has_computed = [], [], False
    for e in entries:
        if e.kind != "unit":
            people.append(e)
            continue
        rubric = stage_rubric(stage, e.category_id)
        rec = records.get(e.id)
        stored = dict((rec.inputs or {}) if rec else {})
        wanted = _wanted(rubric, figures.get(e.unit_id, {}))
        has_computed |= bool(wanted)
        mine = {k: stored.get(k) for k in wanted}
        lines = computed_lines(rubric, {k: (Decimal(v) if v is not None else None) for k, v in mine.items()})
        rows.append(ComputedRow(e, dict(figures.get(e.unit_id, {})), mine, lines,
                                stale=any(mine[k] != wanted[k] for k in wanted), confirmed=e.id in confirmed))
    return Overview(stage, plan, rows, people, has_computed)


@dataclass
class SyncOutcome:
    updated: int
    unchanged: int
    refused: list[str]


def sync_computed(session, prog: Programme, actor: Actor) -> SyncOutcome:
    """Write every nominated unit's current report figures into its entry record (the inputs of
    the rubric's computed criteria). Confirmed entries are left alone and named: the chief must
    unconfirm them first. Flushes, never commits."""
    ov = overview(session, prog)
    updated = unchanged = 0
    refused = []
    for row in ov.units:
        if not row.stale:
            unchanged += 1
            continue
        if row.confirmed:
            refused.append(f"{row.entry.unit.name}（已确认统分，须先撤销确认）")
            continue
        rubric = stage_rubric(ov.stage, row.entry.category_id)
        rec = session.get(EntryScoreRecord, row.entry.id)
        inputs = dict((rec.inputs or {}) if rec else {})
        inputs.update(_wanted(rubric, row.figures))
        try:
            record_entry(session, row.entry, ov.stage, actor, inputs=inputs,
                         penalties=(rec.penalties or None) if rec else None, flags=(rec.flags or ()) if rec else ())
        except SheetError as err:
            refused.append(f"{row.entry.unit.name}（{err.message}）")
            continue
        updated += 1
    return SyncOutcome(updated, unchanged, refused)
