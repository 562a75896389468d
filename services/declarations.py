"""The judge's 回避声明 (declaration of relations) and the one check at the scoring door.

Whom a judge can meet in a stage (`judge_entries`)
-------------------------------------------------
A stage is judged in one of two designs, told apart by the data:

* a **review design** (national preliminary review, resource review: each reviewer sees a
  subset) is a stage that has `Assignment` rows. A judge meets exactly the entries assigned to
  them; an entry taken from them by a declaration stays on their list, marked 回避, so they
  can see what happened to it.
* a **live round** (regional round, final) has no `Assignment` rows: a judge meets every active
  entry in the scope of the panels they sit on in the stage (a panel's category and division,
  when set, narrow its scope; a panel with neither covers the whole stage).

Before a review design's assignment has run, the stage has no `Assignment` rows and a reviewer
declares against everything their group might be given, which is what lets the solver avoid
the pair in the first place. (The rule is inferred from the data; an explicit design field on
`Stage` would make it unambiguous.)

What the judge sees of a contestant (`EntryCard`)
-------------------------------------------------
On the **declaration page** the judge must recognise people: a relative, a former student, a
colleague, someone they coached. So every stage shows the draw number, the title and the
contestants' names (every member of a team). In an **anonymous** stage the contestant's
**unit is not shown**, because the unit (and with it the province) is what anonymity hides in
these competitions — the judges watch the performance and see the person anyway, so names add
nothing a judge will not see on stage, while units would reopen regional favouritism. Nothing
is lost for recusal: a conflict with the judge's own unit (and province, where the stage says
so) is found automatically from the judge's registration and shown as already recused, and a
tie to another unit (a former employer, a second post) is declared against the unit itself,
chosen from a list of the participating units that is not linked to any entry.

On the **home page** an anonymous stage shows what judges see while scoring: the draw number,
the anonymous code and the title; other stages show the contestant and the unit.

Declaring (`declare`)
---------------------
One call stores the judge's relations (source ``judge``), records the stage's `JudgeStageDeclaration` the first
time, and acts at once, in the same transaction (the caller commits):

* every `Assignment` of the judge that now has a hard conflict is deleted and the entry is
  flagged (`ReassignmentFlag`) as needing a new judge, with the reason;
* on a panel, every entry in its scope that the judge could score before and cannot now is
  flagged: the judge stays on the panel and is recused for that entry (their score is absent,
  not zero).

A relation binds the same project in later rounds (`Entry.source_entry_id`), and a unit relation
binds every entry of the unit, so every stage of the programme the judge sits in is checked.

The scoring door (`can_score`)
------------------------------
`can_score(session, judge_id, entry_id, stage)` is the single check the score API and the
scoring UI call before accepting a sheet: the entry is an active entry of the stage, it is the
judge's (assigned in a review design, in a panel's scope in a live round), and the conflict
index finds no hard conflict — whatever the `Assignment` table says, so a conflict declared after
assignment is refused even if an assignment row survived.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, or_, select, true
from sqlalchemy.orm import selectinload

from models import (Assignment, DeclaredRelation, Entry, Judge, JudgeStageDeclaration, Panel, PanelMember,
                    Person, ReassignmentFlag, RelationKind, Stage, Team, TeamMember, Unit)
from models.base import utcnow
from scoring.conflicts import ConflictIndex
from services.conflicts import stage_conflict_index

NOTE_MAX = 200


# -- scope -----------------------------------------------------------------------------------

def stage_uses_assignments(session, stage: Stage) -> bool:
    """True for a review design: the stage has at least one `Assignment` row (module doc)."""
    return session.scalar(select(Assignment.id).where(Assignment.stage_id == stage.id).limit(1)) is not None


def _panel_scope(session, judge_id: int, stage: Stage):
    """A WHERE clause for the entries in the scope of the judge's panels in the stage, or None."""
    rows = session.execute(
        select(Panel.category_id, Panel.division_id).join(PanelMember, PanelMember.panel_id == Panel.id)
        .where(PanelMember.judge_id == judge_id, Panel.stage_id == stage.id)).all()
    if not rows:
        return None
    clauses = []
    for category_id, division_id in rows:
        parts = [true()]
        if category_id is not None:
            parts.append(Entry.category_id == category_id)
        if division_id is not None:
            parts.append(Entry.division_id == division_id)
        clauses.append(and_(*parts))
    return or_(*clauses)


def _running_order(entries: Iterable[Entry]) -> list[Entry]:
    """Category by category (as the programme sorts them), then by draw number (undrawn last)."""
    return sorted(entries, key=lambda e: (e.category.sort, e.category_id, e.division.code if e.division else "",
                                          e.draw_number is None, e.draw_number or 0, e.external_id))


def _load(session, where) -> list[Entry]:
    stmt = select(Entry).where(where).options(
        selectinload(Entry.category), selectinload(Entry.division), selectinload(Entry.unit),
        selectinload(Entry.person),
        selectinload(Entry.team).selectinload(Team.members).selectinload(TeamMember.person))
    return list(session.scalars(stmt))


def judge_entries(session, judge_id: int, stage: Stage) -> list[Entry]:
    """The entries the judge can meet in the stage, in running order (see the module doc):
    assigned ones (and those a declaration took away) in a review design, the active entries of
    their panels' scope in a live round."""
    if stage_uses_assignments(session, stage):
        assigned = select(Assignment.entry_id).where(Assignment.stage_id == stage.id,
                                                     Assignment.judge_id == judge_id)
        taken = select(ReassignmentFlag.entry_id).where(ReassignmentFlag.stage_id == stage.id,
                                                        ReassignmentFlag.judge_id == judge_id)
        where = and_(Entry.stage_id == stage.id, or_(Entry.id.in_(assigned), Entry.id.in_(taken)))
    else:
        scope = _panel_scope(session, judge_id, stage)
        if scope is None:
            return []
        where = and_(Entry.stage_id == stage.id, Entry.status == "active", scope)
    return _running_order(_load(session, where))


def _in_scope(session, judge_id: int, entry: Entry, stage: Stage) -> tuple[bool, str]:
    """One statement: is the stage a review design, is the pair assigned, does the judge sit on
    a panel of the stage, does one of those panels cover the entry (what `_panel_scope` says)."""
    any_assignment = select(Assignment.id).where(Assignment.stage_id == stage.id).exists()
    assigned = select(Assignment.id).where(Assignment.stage_id == stage.id, Assignment.judge_id == judge_id,
                                           Assignment.entry_id == entry.id).exists()
    seats = (select(Panel.id).join(PanelMember, PanelMember.panel_id == Panel.id)
             .where(PanelMember.judge_id == judge_id, Panel.stage_id == stage.id))
    covering = seats.where(or_(Panel.category_id.is_(None), Panel.category_id == entry.category_id),
                           or_(Panel.division_id.is_(None), Panel.division_id == entry.division_id))
    uses_assignments, is_assigned, has_seat, covered = session.execute(
        select(any_assignment, assigned, seats.exists(), covering.exists())).one()
    if uses_assignments:
        return bool(is_assigned), "该作品未分配给您评审"
    if not has_seat:
        return False, "您不在本阶段的评委组中"
    return bool(covered), "该作品不在您所在评委组的评审范围内"


# -- the scoring door ------------------------------------------------------------------------

class ScoreCheck(NamedTuple):
    """`(ok, reason)`: reason is empty when ok, else a Chinese sentence for the judge."""
    ok: bool
    reason: str


def can_score(session, judge_id: int, entry_id: int, stage: Stage, *,
              index: ConflictIndex | None = None) -> ScoreCheck:
    """May this judge score this entry in this stage right now? The single check at every door
    where a score comes in (module doc). Pass `index` (from `stage_conflict_index`) when
    checking many pairs in one request; it is built from the database otherwise.

    Scope is checked before conflicts, so a judge probing entries that are not theirs learns
    nothing about them (a conflict reason names units or provinces)."""
    entry = session.get(Entry, entry_id)
    if entry is None or entry.stage_id != stage.id:
        return ScoreCheck(False, "该作品不属于本阶段")
    if entry.status != "active":
        return ScoreCheck(False, "该作品已退赛")
    judge = session.get(Judge, judge_id)
    if judge is None or judge.programme_id != stage.programme_id:
        return ScoreCheck(False, "您不是本项目的评委")
    ok, why = _in_scope(session, judge_id, entry, stage)
    if not ok:
        return ScoreCheck(False, why)
    if index is None:
        index = stage_conflict_index(session, stage, judges=[judge], entry_ids=[entry_id])
    conflict = index.conflict(judge_id, entry_id)
    if conflict is not None and conflict.hard:
        return ScoreCheck(False, f"回避：{conflict.message}")
    return ScoreCheck(True, "")


# -- what a judge sees -----------------------------------------------------------------------

@dataclass(frozen=True)
class EntryCard:
    """One contestant as a judge page shows it; fields a page must not show are None."""
    id: int
    external_id: str
    category: str
    draw_number: int | None
    title: str
    code: str | None           # anonymous code (home page of an anonymous stage)
    contestant: str | None     # names; None where hidden
    unit: str | None           # None where hidden (anonymous stages)
    recusal: str | None        # why the judge may not score it, or None
    withdrawn: bool = False


def entry_cards(entries: Iterable[Entry], stage: Stage, index: ConflictIndex, judge_id: int, *,
                purpose: str) -> list[EntryCard]:
    """Cards for the ``declaration`` page or the ``home`` page (the module doc says what each
    shows in anonymous and open stages). Recusals come from the conflict index."""
    cards = []
    for e in entries:
        conflict = index.conflict(judge_id, e.id) if e.id in index.entries else None
        recusal = conflict.message if conflict is not None and conflict.hard else None
        withdrawn = e.status != "active"
        if purpose == "declaration":
            contestant, unit, code = e.contestant_name, (None if stage.anonymous else e.unit.name), None
        elif stage.anonymous:
            contestant, unit, code = None, None, e.anonymous_code
        else:
            contestant, unit, code = e.contestant_name, e.unit.name, None
        cards.append(EntryCard(id=e.id, external_id=e.external_id, category=e.category.name,
                               draw_number=e.draw_number, title=e.title, code=code, contestant=contestant,
                               unit=unit, recusal=recusal, withdrawn=withdrawn))
    return cards


def participating_units(session, entries: Iterable[Entry], exclude: int | None = None) -> list[Unit]:
    """The units behind the entries (team members' units too), by name, unlinked from entries:
    what a judge picks from to declare a tie with a whole unit."""
    entries = list(entries)
    ids = {e.unit_id for e in entries}
    team_ids = [e.team_id for e in entries if e.team_id is not None]
    if team_ids:
        ids |= set(session.scalars(select(Person.unit_id).join(TeamMember, TeamMember.person_id == Person.id)
                                   .where(TeamMember.team_id.in_(team_ids), Person.unit_id.is_not(None))))
    ids.discard(exclude)
    if not ids:
        return []
    return list(session.scalars(select(Unit).where(Unit.id.in_(ids)).order_by(Unit.name)))


# -- declaring -------------------------------------------------------------------------------

@dataclass(frozen=True)
class RelationInput:
    """One relation the judge declares: with an entry or with a whole unit."""
    kind: RelationKind | str
    entry_id: int | None = None
    unit_id: int | None = None
    note: str = ""


@dataclass(frozen=True)
class FlaggedEntry:
    flag_id: int
    stage_id: int
    entry_id: int
    external_id: str
    title: str
    reason: str
    assignment_removed: bool    # a review assignment was deleted (else: recused on a panel)


@dataclass
class DeclarationOutcome:
    relations: list[DeclaredRelation] = field(default_factory=list)
    flagged: list[FlaggedEntry] = field(default_factory=list)
    first_declaration: bool = False

    @property
    def no_relation(self) -> bool:
        """The judge confirmed 无需回避 (nothing declared this time)."""
        return not self.relations


def _stages_to_check(session, judge: Judge, stage: Stage) -> list[Stage]:
    """The given stage first, then every other stage of the programme where the judge sits on a
    panel or has assignments (a relation binds later rounds of the same project, a unit
    relation every entry of the unit)."""
    ids = set(session.scalars(select(Panel.stage_id).join(PanelMember, PanelMember.panel_id == Panel.id)
                              .where(PanelMember.judge_id == judge.id)))
    ids |= set(session.scalars(select(Assignment.stage_id).where(Assignment.judge_id == judge.id)))
    ids.discard(stage.id)
    others = list(session.scalars(select(Stage).where(Stage.id.in_(ids), Stage.programme_id == judge.programme_id)
                                  .order_by(Stage.seq))) if ids else []
    return [stage] + others


def _validate(session, judge: Judge, relations: list[RelationInput]) -> list[RelationInput]:
    out = []
    for r in relations:
        kind = RelationKind(r.kind)          # ValueError on an unknown kind
        if (r.entry_id is None) == (r.unit_id is None):
            raise ValueError("a relation names exactly one entry or one unit")
        if r.entry_id is not None:
            entry = session.get(Entry, r.entry_id)
            if entry is None or entry.stage.programme_id != judge.programme_id:
                raise ValueError(f"entry {r.entry_id} is not in the judge's programme")
        elif session.get(Unit, r.unit_id) is None:
            raise ValueError(f"unit {r.unit_id} does not exist")
        note = (r.note or "").strip()
        if len(note) > NOTE_MAX:
            raise ValueError(f"note longer than {NOTE_MAX} characters")
        out.append(RelationInput(kind=kind, entry_id=r.entry_id, unit_id=r.unit_id, note=note))
    return out


def _flag_reason(entry: Entry, judge: Judge, message: str, removed: bool) -> str:
    how = "（已撤销该评委的评审分配）" if removed else "（评委仍在评委组内，对该作品回避，其评分缺席）"
    return (f"需要重新安排评委：{entry.external_id}《{entry.title}》，原因：{message}"
            f"（评委：{judge.person.name}，{judge.external_id}）{how}")


def declared_at(session, judge_id: int, stage_id: int) -> datetime | None:
    """When the judge completed the 回避声明 for this stage (None: not yet)."""
    return session.scalar(select(JudgeStageDeclaration.declared_at)
                          .filter_by(judge_id=judge_id, stage_id=stage_id))


def declare(session, judge: Judge, stage: Stage, relations: Iterable[RelationInput], *,
            now: datetime | None = None, index: ConflictIndex | None = None) -> DeclarationOutcome:
    """Store the judge's declaration and act on it at once (module doc). An empty `relations`
    is the judge's confirmation that no relation needs declaring (无需回避). Raises ValueError
    on invalid input (unknown kind, an entry of another programme, an over-long note); flushes,
    never commits. `index`, when given, is `stage`'s conflict index as it stood before this
    declaration (the page that collected it has one) and saves building it again."""
    if judge.programme_id != stage.programme_id:
        raise ValueError("the judge does not belong to this stage's programme")
    relations = _validate(session, judge, list(relations))
    first = declared_at(session, judge.id, stage.id) is None
    outcome = DeclarationOutcome(first_declaration=first)
    if first:
        session.add(JudgeStageDeclaration(judge_id=judge.id, stage_id=stage.id, declared_at=now or utcnow()))
    if not relations:
        session.flush()
        return outcome

    # What the judge could not score before, on each panel they sit on: only entries that the
    # declaration takes away are flagged, not the recusals everyone already knew about.
    stages = _stages_to_check(session, judge, stage)
    plan = []
    for st in stages:
        review = stage_uses_assignments(session, st)
        before: set[int] = set()
        if not review:
            earlier = index if (index is not None and st.id == stage.id) else stage_conflict_index(session, st)
            before = {e.id for e in judge_entries(session, judge.id, st)
                      if e.id in earlier.entries and earlier.is_hard(judge.id, e.id)}
        plan.append((st, review, before))

    existing = {(r.entry_id, r.unit_id, r.kind) for r in judge.relations if r.source == "judge"}
    for r in relations:
        if (r.entry_id, r.unit_id, r.kind) in existing:
            continue
        existing.add((r.entry_id, r.unit_id, r.kind))
        row = DeclaredRelation(judge_id=judge.id, kind=r.kind, entry_id=r.entry_id, unit_id=r.unit_id,
                               note=r.note or None, source="judge")
        session.add(row)
        outcome.relations.append(row)
    session.flush()
    session.expire(judge, ["relations"])

    for st, review, before in plan:
        index = stage_conflict_index(session, st)     # now with the new relations
        open_flags = set(session.scalars(
            select(ReassignmentFlag.entry_id).where(ReassignmentFlag.stage_id == st.id,
                                                    ReassignmentFlag.judge_id == judge.id,
                                                    ReassignmentFlag.resolved_at.is_(None))))
        hits: list[tuple[Entry, str, bool]] = []
        if review:
            rows = session.scalars(select(Assignment).where(Assignment.stage_id == st.id,
                                                            Assignment.judge_id == judge.id)).all()
            for a in rows:
                if a.entry_id not in index.entries:
                    continue     # a withdrawn entry: nothing to score, nothing to reassign
                c = index.conflict(judge.id, a.entry_id)
                if c is not None and c.hard:
                    hits.append((a.entry, c.message, True))
                    session.delete(a)
        else:
            for e in judge_entries(session, judge.id, st):
                if e.id in before or e.id not in index.entries:
                    continue
                c = index.conflict(judge.id, e.id)
                if c is not None and c.hard:
                    hits.append((e, c.message, False))
        for entry, message, removed in hits:
            if entry.id in open_flags:
                continue
            open_flags.add(entry.id)
            flag = ReassignmentFlag(stage_id=st.id, entry_id=entry.id, judge_id=judge.id,
                                    reason=_flag_reason(entry, judge, message, removed))
            session.add(flag)
            session.flush()
            outcome.flagged.append(FlaggedEntry(flag_id=flag.id, stage_id=st.id, entry_id=entry.id,
                                                external_id=entry.external_id, title=entry.title,
                                                reason=flag.reason, assignment_removed=removed))
    session.flush()
    return outcome
