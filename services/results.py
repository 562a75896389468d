"""Results of a stage: rankings, awards and promotion, computed on every call by `scoring/`.

Nothing here is stored by hand. `stage_results` reads the submitted or locked sheets of the
judges expected on each entry (as `services.sheets.expected_judges` decides, loaded once per
stage) and the chief's entry record, and hands them to `scoring.ranking.rank_stage` with the
rubric's awards and promotion. A sheet submitted, reopened or changed before confirmation
therefore changes the ranking at the next call. A confirmed entry uses the same (locked)
sheets, so its recomputed result must equal the frozen `EntryConfirmation`; when it does not
(a rubric file edited in place, a record changed behind the chief's back) the row says so in
its reasons rather than choosing one silently.

Withdrawn entries (`Entry.status == "withdrawn"`) take no part: they are neither ranked nor
listed, so they never hold a promotion place.

Groups. A per-division stage (`Stage.by_division`, the regional rounds) is ranked per division
within each category; other stages per category. Promotion is computed only when the programme
has a later stage (the next `Stage.seq`), with the rubric's `promotion.group_by` attributes
(division, category, province, unit codes). Honours such as 全国金牌科技辅导员 belong to the
last stage and are not given in rounds that promote.

Promotion (`promote_entries`) creates, for each promoted entry, a new `Entry` in the next stage
pointing back through `source_entry_id`, with the same person or team, unit, province, division,
category, title and kind. It is idempotent (an entry already carried over is never copied
again) and refuses while the source stage has entries not yet confirmed or not complete, unless
the organiser forces it with a reason.

Reserves (递补) are *not* copied into the next stage: `Entry.status` is constrained to
`active`/`withdrawn`, and a reserve entry sitting in the next stage would be drawn, assigned and
scored. They are the computed `promotion == "reserve"` rows of the source stage (always in
order, shown on the results page); `promote_reserve` carries one over when an organiser calls
it up, after a promoted entry withdrew.

Arrival in the next stage. When that stage is anonymous (the national preliminary video
review), every carried entry gets its anonymous code at once, recorded and reproducible like
the draw's codes (`services.assignment`), so no judge ever sees a promoted entry without one.
The running order is left to the next stage's own draw (a public ceremony, once everyone has
arrived); a reserve called up after that draw takes the draw number of the withdrawn entry it
replaces in its group, or the next free number. Every promotion leaves a `PromotionRecord`:
who, when, which entries, and the reason when forced.

Judges are labelled 评委1..N in seat order (judge number order, as `expected_judges` sorts)
in snapshots, never by name: snapshots become public.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import (Category, Entry, PromotionRecord, EntryConfirmation, EntryScoreRecord, Person, ScoreSheet, SheetStatus, Stage,
                    Team, TeamMember)
from scoring.ranking import PromotionRow, Ranked, StageResult, rank_stage
from scoring.rubric import Rubric
from scoring.sheets import SheetInvalid, format_number, validate_sheet
from services.sheets import SheetError, expected_judges_for, stage_rubric

__all__ = ["PromotionOutcome", "PromotionRefused", "ResultGroup", "ResultRow", "StageOutcome",
           "decided_by_zh", "next_stage", "promote_entries", "promote_reserve", "promotion_history", "snapshot",
           "stage_results"]

COUNTED = (SheetStatus.submitted, SheetStatus.locked)
_TIE_ZH = {"raw_sum": "原始总分", "raw_mean": "原始平均分", "median": "中位分", "fewer_penalties": "扣分较少者优先"}


class PromotionRefused(Exception):
    """Promotion was refused; `message` is Chinese text for the organiser."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- shapes ----------------------------------------------------------------------------------

@dataclass
class ResultRow:
    """One entry's line: the scoring outcome and what the database adds (confirmation, seats)."""
    entry: Entry
    ranked: Ranked
    promotion: PromotionRow | None
    confirmation: EntryConfirmation | None
    seats: dict[str, str]                 # judge number -> 评委k
    warnings: list[str] = field(default_factory=list)
    decided_by: str | None = None         # Chinese

    @property
    def result(self):
        return self.ranked.result

    @property
    def rank(self) -> int | None:
        return self.ranked.rank

    @property
    def score(self) -> Decimal | None:
        return self.ranked.score

    @property
    def status(self) -> str:
        return self.ranked.status

    @property
    def confirmed(self) -> bool:
        return self.confirmation is not None

    @property
    def promotion_state(self) -> str | None:
        if self.promotion is None or self.promotion.outcome not in ("promoted", "reserve"):
            return None
        return self.promotion.outcome

    @property
    def reasons(self) -> list[str]:
        return list(self.result.reasons) + self.warnings


@dataclass
class ResultGroup:
    """One ranking: a category (and a division in a per-division stage)."""
    category: Category
    division: Any
    rubric: Rubric
    outcome: StageResult
    rows: list[ResultRow]
    # What the engine was given (entry id keys), so an export can hand `python -m scoring rank`
    # exactly the same: validated sheets by judge number, the chief's records.
    sheets: dict[int, dict[str, Any]] = field(default_factory=dict)
    inputs: dict[int, Any] = field(default_factory=dict)
    penalties: dict[int, Any] = field(default_factory=dict)
    flags: dict[int, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.category.id}-{self.division.id if self.division is not None else 0}"


@dataclass
class StageOutcome:
    stage: Stage
    next_stage: Stage | None
    groups: list[ResultGroup]
    warnings: list[str]
    generated_at: datetime

    @property
    def rows(self) -> list[ResultRow]:
        return [r for g in self.groups for r in g.rows]

    @property
    def pending(self) -> list[ResultRow]:
        """Entries that stop promotion: not confirmed, or not complete."""
        return [r for r in self.rows if not r.confirmed or r.status == "incomplete"]

    @property
    def complete(self) -> bool:
        return not self.pending and not self.warnings


@dataclass
class PromotionOutcome:
    created: list[Entry]
    existing: int
    reserves: list[ResultRow]
    notes: list[str]
    forced_reason: str | None = None


# -- computing -------------------------------------------------------------------------------

def next_stage(session, stage: Stage) -> Stage | None:
    return session.scalar(select(Stage).where(Stage.programme_id == stage.programme_id, Stage.seq > stage.seq)
                          .order_by(Stage.seq).limit(1))


def _entries(session, stage: Stage, category_id: int | None) -> list[Entry]:
    q = (select(Entry).where(Entry.stage_id == stage.id, Entry.status == "active")
         .options(selectinload(Entry.person), selectinload(Entry.unit), selectinload(Entry.province),
                  selectinload(Entry.division), selectinload(Entry.category),
                  selectinload(Entry.team).selectinload(Team.members).selectinload(TeamMember.person)
                  .selectinload(Person.unit))
         .order_by(Entry.id))
    if category_id is not None:
        q = q.where(Entry.category_id == category_id)
    return list(session.scalars(q))


def decided_by_zh(name: str | None, rubric: Rubric) -> str | None:
    """What placed an entry below the one above it, in Chinese; None when the score did."""
    if name is None or name == "score":
        return None
    if name.startswith("criterion:"):
        c = rubric.find_criterion(name.split(":", 1)[1])
        title = c.title.zh if c is not None else name.split(":", 1)[1]
        return f"同分，按单项“{title}”得分决定名次"
    return f"同分，按{_TIE_ZH.get(name, name)}决定名次"


def _group_attrs(e: Entry) -> dict[str, str]:
    return {"division": e.division.code if e.division is not None else "", "category": e.category.code,
            "province": e.province.code if e.province is not None else "", "unit": e.unit.external_id}


def stage_results(session, stage: Stage, *, category_id: int | None = None) -> StageOutcome:
    """Every ranking of the stage (or of one category), freshly computed (module doc)."""
    nxt = next_stage(session, stage)
    entries = _entries(session, stage, category_id)
    ids = [e.id for e in entries]
    expected = expected_judges_for(session, stage, entries)
    sheets: dict[int, list[ScoreSheet]] = defaultdict(list)
    records: dict[int, EntryScoreRecord] = {}
    confirmations: dict[int, EntryConfirmation] = {}
    if ids:
        for s in session.scalars(select(ScoreSheet).where(ScoreSheet.stage_id == stage.id,
                                                          ScoreSheet.status.in_(list(COUNTED)))):
            sheets[s.entry_id].append(s)
        records = {r.entry_id: r for r in session.scalars(select(EntryScoreRecord)
                                                          .where(EntryScoreRecord.entry_id.in_(ids)))}
        confirmations = {c.entry_id: c for c in session.scalars(select(EntryConfirmation)
                                                                .where(EntryConfirmation.stage_id == stage.id))}
    buckets: dict[tuple, list[Entry]] = defaultdict(list)
    for e in entries:
        buckets[(e.category_id, e.division_id if stage.by_division else None)].append(e)

    def order(key):
        cat = buckets[key][0].category
        div = buckets[key][0].division if key[1] is not None else None
        return (cat.sort, cat.id, div.code if div is not None else "")

    warnings: list[str] = []
    groups: list[ResultGroup] = []
    for key in sorted(buckets, key=order):
        members = buckets[key]
        cat = members[0].category
        division = members[0].division if key[1] is not None else None
        try:
            rubric = stage_rubric(stage, cat.id)
        except SheetError as exc:
            warnings.append(f"{cat.name}：{exc.message}")
            continue
        row_warnings: dict[int, list[str]] = defaultdict(list)
        by_entry: dict[int, dict[str, Any]] = {}
        seats: dict[int, dict[str, str]] = {}
        for e in members:
            allowed = {j.id: j for j in expected[e.id]}
            seats[e.id] = {j.external_id: f"评委{i}" for i, j in enumerate(expected[e.id], start=1)}
            marks = {}
            for s in sheets.get(e.id, ()):
                if s.judge_id not in allowed or (s.rubric_id, s.rubric_version) != (rubric.id, rubric.version):
                    continue
                try:
                    marks[allowed[s.judge_id].external_id] = validate_sheet(
                        rubric, s.scores or {}, penalties=s.penalties, inputs=s.inputs,
                        flags=s.flags or (), comment=s.comment)
                except SheetInvalid as exc:
                    row_warnings[e.id].append(f"评委 {allowed[s.judge_id].external_id} 的评分表不符合当前评分标准："
                                              f"{exc.errors[0].message}，未计入")
            by_entry[e.id] = marks
        rec_of = {e.id: records.get(e.id) for e in members}
        inputs = {k: (r.inputs or None) for k, r in rec_of.items() if r is not None}
        penalties = {k: (r.penalties or None) for k, r in rec_of.items() if r is not None}
        flags = {k: (r.flags or ()) for k, r in rec_of.items() if r is not None}
        groups_arg = None
        if nxt is not None and rubric.promotion is not None:
            groups_arg = {e.id: _group_attrs(e) for e in members}
        try:
            outcome = rank_stage(rubric, by_entry, inputs=inputs, penalties=penalties, flags=flags, groups=groups_arg)
        except ValueError as exc:
            warnings.append(f"{cat.name}{'（' + division.name + '）' if division is not None else ''}：无法排名（{exc}）")
            continue
        if nxt is not None and outcome.ranked and any(x.honours for x in outcome.ranked):
            from scoring.sheets import fast_replace
            outcome = StageResult(tuple(fast_replace(x, honours=()) for x in outcome.ranked), outcome.method_requested,
                                  outcome.method_used, outcome.method_reason, outcome.results, outcome.awards,
                                  outcome.promotion, outcome.calibration, outcome.matrix)
        entry_of = {e.id: e for e in members}
        rows = []
        for x in outcome.ranked:
            e = entry_of[x.entry]
            conf = confirmations.get(e.id)
            w = list(row_warnings.get(e.id, ()))
            if conf is not None:
                now = None if x.score is None else str(x.score)
                if (conf.final_score, conf.status) != (now, x.status):
                    w.append(f"确认统分时的成绩为 {conf.final_score or '—'}（{conf.status}），"
                             f"按现有评分表重新计算为 {now or '—'}（{x.status}），请核查")
            prow = outcome.promotion.outcome(e.id) if outcome.promotion is not None else None
            rows.append(ResultRow(e, x, prow, conf, seats[e.id], w, decided_by_zh(x.decided_by, rubric)))
        groups.append(ResultGroup(cat, division, rubric, outcome, rows, by_entry, inputs, penalties, flags))
    return StageOutcome(stage, nxt, groups, warnings, datetime.now(timezone.utc))


# -- the snapshot (shared contract, /tmp/issue6_contract.md) ---------------------------------

def _members(e: Entry) -> list[dict[str, Any]]:
    if e.person is not None:
        return [{"person_id": e.person.id, "name": e.person.name, "unit": e.unit.name}]
    if e.team is not None:
        return [{"person_id": m.person.id, "name": m.person.name,
                 "unit": m.person.unit.name if m.person.unit is not None else e.unit.name} for m in e.team.members]
    return []


def row_json(row: ResultRow, rubric: Rubric) -> dict[str, Any]:
    e, x = row.entry, row.ranked
    award = {"id": x.award, "name": x.award_name} if x.award else None
    honours = []
    if rubric.awards is not None:
        names = {h.id: h.name.zh for h in rubric.awards.honours}
        honours = [names.get(h, h) for h in x.honours]
    notes = list(row.result.notes)
    if row.result.method_note:
        notes.append(row.result.method_note)
    if x.award_note:
        notes.append(x.award_note)
    if row.promotion is not None and row.promotion.note:
        notes.append(row.promotion.note)
    if x.tied:
        notes.append("与相邻作品并列同一名次")
    return {
        "rank": x.rank, "entry_id": e.id, "external_id": e.external_id, "title": e.title,
        "contestant": e.contestant_name, "members": _members(e),
        "unit": e.unit.name, "unit_id": e.unit_id, "province": e.province.name if e.province else "",
        "score": None if x.score is None else str(x.score), "status": x.status,
        "award": award, "honours": honours, "promotion": row.promotion_state,
        "reasons": row.reasons, "notes": notes, "decided_by": row.decided_by,
        "judges": [{"judge": row.seats.get(str(m.judge), str(m.judge)), "raw": format_number(m.raw),
                    "dropped": m.dropped} for m in row.result.judges],
        "penalties": [{"title": p.title, "total": format_number(p.total)} for p in row.result.penalties],
    }


def snapshot(session, stage: Stage, *, category_id: int | None = None) -> dict[str, Any]:
    """The JSON a publication freezes: the shape is the shared contract; judges as 评委k."""
    out = stage_results(session, stage, category_id=category_id)
    prog = stage.programme
    cats: dict[int, dict[str, Any]] = {}
    for g in out.groups:
        c = cats.get(g.category.id)
        if c is None:
            c = cats[g.category.id] = {
                "id": g.category.id, "code": g.category.code, "name": g.category.name,
                "rubric": {"id": g.rubric.id, "version": g.rubric.version, "title": g.rubric.title.zh},
                "groups": []}
        d = g.division
        c["groups"].append({"division": None if d is None else {"id": d.id, "code": d.code, "name": d.name},
                            "rows": [row_json(r, g.rubric) for r in g.rows]})
    return {
        "stage": {"id": stage.id, "name": stage.name, "kind": stage.kind.value, "programme": prog.name,
                  "programme_id": prog.id, "year": prog.year},
        "generated_at": out.generated_at.isoformat(timespec="seconds"),
        "method": "rubric",
        "categories": list(cats.values()),
    }


# -- promotion -------------------------------------------------------------------------------

def _carried(session, to_stage: Stage, source_ids: list[int]) -> dict[int, Entry]:
    if not source_ids:
        return {}
    return {e.source_entry_id: e for e in session.scalars(
        select(Entry).where(Entry.stage_id == to_stage.id, Entry.source_entry_id.in_(source_ids)))}


def _copy(session, src: Entry, to_stage: Stage) -> Entry:
    taken = set(session.scalars(select(Entry.external_id).where(Entry.stage_id == to_stage.id)))
    ext, n = src.external_id, 1
    while ext in taken:           # another entry of the next stage already uses the number
        n += 1
        ext = f"{src.external_id[:28]}-{n}"
    e = Entry(stage_id=to_stage.id, category_id=src.category_id, external_id=ext, title=src.title, kind=src.kind,
              person_id=src.person_id, team_id=src.team_id, unit_id=src.unit_id, province_id=src.province_id,
              division_id=src.division_id, status="active", source_entry_id=src.id)
    session.add(e)
    return e


def _check_stages(from_stage: Stage, to_stage: Stage) -> None:
    if to_stage.programme_id != from_stage.programme_id or to_stage.seq <= from_stage.seq:
        raise PromotionRefused("只能晋级到同一项目中靠后的轮次")


def promote_entries(session, from_stage: Stage, to_stage: Stage, actor_label: str, *,
                    force_reason: str | None = None, user=None) -> PromotionOutcome:
    """Carry the promoted entries of every group into `to_stage` (module doc). Flushes only."""
    _check_stages(from_stage, to_stage)
    out = stage_results(session, from_stage)
    force_reason = (force_reason or "").strip() or None
    if out.pending and force_reason is None:
        n = len(out.pending)
        names = "、".join(r.entry.external_id for r in out.pending[:10]) + ("等" if n > 10 else "")
        raise PromotionRefused(f"本轮次尚有 {n} 个作品未确认统分或成绩不完整（{names}），不能晋级；"
                               "如确需晋级，请填写原因后强制执行")
    if out.warnings and force_reason is None:
        raise PromotionRefused("本轮次成绩有问题，不能晋级：" + "；".join(out.warnings))
    notes: list[str] = []
    promoted = [r for r in out.rows if r.promotion_state == "promoted"]
    if not any(g.outcome.promotion is not None for g in out.groups):
        raise PromotionRefused("本轮次的评分标准没有晋级规则，或没有下一轮次")
    carried = _carried(session, to_stage, [r.entry.id for r in promoted])
    created = []
    for r in promoted:
        if r.entry.id in carried:
            continue
        if to_stage.rubric_ref_for(r.entry.category_id) is None:
            notes.append(f"{r.entry.category.name} 在“{to_stage.name}”未设置评分标准，请补充")
        created.append(_copy(session, r.entry, to_stage))
    session.flush()
    if force_reason:
        notes.append(f"{actor_label} 强制晋级，原因：{force_reason}")
    if created:
        _arrive(session, to_stage, created, user)
        _record(session, from_stage, to_stage, "promote", actor_label, user, created, force_reason, notes)
    reserves = [r for r in out.rows if r.promotion_state == "reserve"]
    return PromotionOutcome(created, len(promoted) - len(created), reserves, sorted(set(notes)), force_reason)


def _arrive(session, to_stage: Stage, created: list[Entry], user) -> None:
    """Anonymous codes for entries carried into an anonymous stage (module doc)."""
    if not to_stage.anonymous:
        return
    from services.assignment import _fill_codes
    all_entries = list(session.scalars(select(Entry).where(Entry.stage_id == to_stage.id)))
    active = [e for e in all_entries if e.status == "active"]
    _fill_codes(session, to_stage, active, all_entries, user)
    session.flush()


def _take_draw_slot(session, to_stage: Stage, e: Entry) -> str | None:
    """A reserve called up after the next stage's draw: the withdrawn entry's number in its
    group, else the next free one. Returns a note, or None when the stage is not drawn yet."""
    group = [x for x in session.scalars(select(Entry).where(Entry.stage_id == to_stage.id,
                                                            Entry.category_id == e.category_id))
             if x.id != e.id and (not to_stage.by_division or x.division_id == e.division_id)]
    if not any(x.draw_number is not None for x in group):
        return None
    vacated = sorted((x for x in group if x.status == "withdrawn" and x.draw_number is not None),
                     key=lambda x: x.draw_number)
    if vacated:
        number, x = vacated[0].draw_number, vacated[0]
        x.draw_number = None          # (stage, category, division, number) is unique
        session.flush()
        e.draw_number = number
        return f"递补作品 {e.external_id} 沿用退出作品 {x.external_id} 的抽签号 {number}"
    e.draw_number = max(x.draw_number for x in group if x.draw_number is not None) + 1
    return f"递补作品 {e.external_id} 排在本组最后，抽签号 {e.draw_number}"


def _record(session, from_stage: Stage, to_stage: Stage, kind: str, actor_label: str, user,
            created: list[Entry], force_reason: str | None, notes: list[str]) -> PromotionRecord:
    rec = PromotionRecord(from_stage_id=from_stage.id, to_stage_id=to_stage.id, kind=kind,
                          actor=actor_label[:120], user_id=getattr(user, "id", None), forced_reason=force_reason,
                          source_entry_ids=[e.source_entry_id for e in created],
                          created_entry_ids=[e.id for e in created], notes=sorted(set(notes)))
    session.add(rec)
    session.flush()
    return rec


def promotion_history(session, stage: Stage) -> list[PromotionRecord]:
    """The promotions out of `stage`, newest first (the results page shows them)."""
    return list(session.scalars(select(PromotionRecord).where(PromotionRecord.from_stage_id == stage.id)
                                .order_by(PromotionRecord.id.desc())))


def promote_reserve(session, from_stage: Stage, to_stage: Stage, entry_id: int, actor_label: str,
                    *, user=None) -> Entry:
    """递补: carry one reserve entry over (an organiser's call once a promoted entry withdrew)."""
    _check_stages(from_stage, to_stage)
    out = stage_results(session, from_stage)
    row = next((r for r in out.rows if r.entry.id == entry_id), None)
    if row is None or row.promotion_state != "reserve":
        raise PromotionRefused("该作品不是本轮次的递补作品")
    existing = _carried(session, to_stage, [entry_id]).get(entry_id)
    if existing is not None:
        return existing
    e = _copy(session, row.entry, to_stage)
    session.flush()
    notes = [f"{actor_label} 递补 {row.entry.external_id}（递补第 {row.promotion.reserve_order} 位）"]
    slot = _take_draw_slot(session, to_stage, e)
    if slot:
        notes.append(slot)
    session.flush()
    _arrive(session, to_stage, [e], user)
    _record(session, from_stage, to_stage, "reserve", actor_label, user, [e], None, notes)
    return e
