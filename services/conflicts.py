"""Load a stage's conflicts from the database into the pure `scoring.conflicts` index.

One query per source (judges, entries, declarations, history), then every check is an O(1)
lookup. The same index serves the assignment solver, the organiser's manual placement and
the doors where scores come in, so a conflict is judged the same way everywhere."""
from __future__ import annotations

import re

from sqlalchemy import select

from models import (Assignment, Category, DeclaredRelation, Division, Entry, Judge, Panel, PanelMember,
                    Person, Stage, TeamMember, Unit)
from models.reference import Province
from scoring.conflicts import ConflictIndex, ConflictRules
from scoring.conflicts import Entry as CEntry
from scoring.conflicts import Judge as CJudge

_SPLIT = re.compile(r"[,，、;；\s]+")


def expertise_set(text: str | None) -> frozenset[str]:
    return frozenset(t for t in _SPLIT.split(text or "") if t)


def _lineage(session, stage: Stage) -> dict[int, frozenset[int]]:
    """entry id -> ids of the same project in earlier rounds (following source_entry_id)."""
    rows = session.execute(select(Entry.id, Entry.source_entry_id).join(Stage)
                           .where(Stage.programme_id == stage.programme_id)).all()
    parent = dict(rows)
    out: dict[int, frozenset[int]] = {}
    for eid, _ in rows:
        chain, cur, seen = [], parent.get(eid), set()
        while cur is not None and cur not in seen:
            seen.add(cur)
            chain.append(cur)
            cur = parent.get(cur)
        out[eid] = frozenset(chain)
    return out


def _history(session, stage: Stage) -> list[tuple[int, int]]:
    """(judge, entry) pairs judged in earlier stages: explicit assignments and the entries in
    the scope of every panel the judge sat on."""
    earlier = [s.id for s in stage.programme.stages if s.seq < stage.seq]
    if not earlier:
        return []
    pairs = set(session.execute(select(Assignment.judge_id, Assignment.entry_id)
                                .where(Assignment.stage_id.in_(earlier))).all())
    panels = session.execute(
        select(PanelMember.judge_id, Panel.stage_id, Panel.category_id, Panel.division_id)
        .join(Panel, PanelMember.panel_id == Panel.id).where(Panel.stage_id.in_(earlier))).all()
    if panels:
        entries = session.execute(select(Entry.id, Entry.stage_id, Entry.category_id, Entry.division_id)
                                  .where(Entry.stage_id.in_(earlier))).all()
        for judge_id, st, cat, div in panels:
            for eid, est, ecat, ediv in entries:
                if est == st and (cat is None or cat == ecat) and (div is None or div == ediv):
                    pairs.add((judge_id, eid))
    return sorted(pairs)


def stage_conflict_index(session, stage: Stage) -> ConflictIndex:
    """Every judge of the programme against every active entry of the stage."""
    names: dict = {}
    names.update({("unit", i): n for i, n in session.execute(select(Unit.id, Unit.name))})
    names.update({("province", i): n for i, n in session.execute(select(Province.id, Province.short_name))})
    names.update({("division", i): n for i, n in session.execute(
        select(Division.id, Division.name).where(Division.programme_id == stage.programme_id))})
    judges = [
        CJudge(id=j.id, unit=("unit", j.unit_id), province=("province", j.province_id),
               division=None, expertise=expertise_set(j.expertise), is_school_teacher=j.is_school_teacher,
               can_chair=not j.is_school_teacher)
        for j in session.scalars(select(Judge).where(Judge.programme_id == stage.programme_id))
    ]
    lineage = _lineage(session, stage)
    codes = dict(session.execute(select(Category.id, Category.code)
                                 .where(Category.programme_id == stage.programme_id)).all())
    team_units: dict[int, set] = {}
    for team_id, unit_id in session.execute(
            select(TeamMember.team_id, Person.unit_id).join(Person, TeamMember.person_id == Person.id)
            .join(Entry, Entry.team_id == TeamMember.team_id).where(Entry.stage_id == stage.id)):
        if unit_id is not None:
            team_units.setdefault(team_id, set()).add(("unit", unit_id))
    entries = [
        CEntry(id=eid, unit=("unit", unit_id), province=("province", province_id),
               division=("division", division_id) if division_id else None, category=codes[category_id],
               member_units=frozenset(team_units.get(team_id, ())), lineage=lineage.get(eid, frozenset()))
        for eid, unit_id, province_id, division_id, category_id, team_id in session.execute(
            select(Entry.id, Entry.unit_id, Entry.province_id, Entry.division_id, Entry.category_id, Entry.team_id)
            .where(Entry.stage_id == stage.id, Entry.status == "active"))
    ]
    rels = session.scalars(select(DeclaredRelation).join(Judge)
                           .where(Judge.programme_id == stage.programme_id)).all()
    declared = [(r.judge_id, r.entry_id, r.kind.value, r.note or "") for r in rels if r.entry_id is not None]
    declared_units = [(r.judge_id, ("unit", r.unit_id), r.kind.value)
                      for r in rels if r.unit_id is not None]
    rules = ConflictRules(avoid_province=stage.avoid_province, avoid_division=False,
                          history=stage.history_conflict.value)
    return ConflictIndex.build(judges, entries, declared, declared_units, _history(session, stage), rules,
                               names=names)
