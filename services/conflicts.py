"""Load a stage's conflicts from the database into the pure `scoring.conflicts` index.

One query per source (judges, entries, declarations, history), then every check is an O(1)
lookup. The same index serves the assignment solver, the organiser's manual placement and
the doors where scores come in, so a conflict is judged the same way everywhere."""
from __future__ import annotations

import re
from collections.abc import Mapping

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


def _lineage(session, stage: Stage, entry_ids=None) -> dict[int, frozenset[int]]:
    """entry id -> ids of the same project in earlier rounds (following source_entry_id).
    With `entry_ids`, only those entries' chains are walked (one query per round back)."""
    if entry_ids is None:
        rows = session.execute(select(Entry.id, Entry.source_entry_id).join(Stage)
                               .where(Stage.programme_id == stage.programme_id)).all()
        parent = dict(rows)
        wanted = [eid for eid, _ in rows]
    else:
        parent, frontier, wanted = {}, set(entry_ids), list(entry_ids)
        while frontier:
            rows = session.execute(select(Entry.id, Entry.source_entry_id).where(Entry.id.in_(frontier))).all()
            parent.update(rows)
            frontier = {src for _, src in rows if src is not None and src not in parent}
    out: dict[int, frozenset[int]] = {}
    for eid in wanted:
        chain, cur, seen = [], parent.get(eid), set()
        while cur is not None and cur not in seen:
            seen.add(cur)
            chain.append(cur)
            cur = parent.get(cur)
        out[eid] = frozenset(chain)
    return out


def _history(session, stage: Stage, judge_ids=None, earlier_entries=None) -> list[tuple[int, int]]:
    """(judge, entry) pairs judged in earlier stages: explicit assignments and the entries in
    the scope of every panel the judge sat on. `judge_ids` / `earlier_entries` narrow it to
    some judges and to the earlier-round entries that matter (a pair check at the score door)."""
    earlier = [s.id for s in stage.programme.stages if s.seq < stage.seq]
    if not earlier or (earlier_entries is not None and not earlier_entries):
        return []
    a_query = select(Assignment.judge_id, Assignment.entry_id).where(Assignment.stage_id.in_(earlier))
    p_query = (select(PanelMember.judge_id, Panel.stage_id, Panel.category_id, Panel.division_id)
               .join(Panel, PanelMember.panel_id == Panel.id).where(Panel.stage_id.in_(earlier)))
    e_query = (select(Entry.id, Entry.stage_id, Entry.category_id, Entry.division_id)
               .where(Entry.stage_id.in_(earlier)))
    if judge_ids is not None:
        a_query = a_query.where(Assignment.judge_id.in_(judge_ids))
        p_query = p_query.where(PanelMember.judge_id.in_(judge_ids))
    if earlier_entries is not None:
        a_query = a_query.where(Assignment.entry_id.in_(earlier_entries))
        e_query = e_query.where(Entry.id.in_(earlier_entries))
    pairs = set(session.execute(a_query).all())
    panels = session.execute(p_query).all()
    if panels:
        entries = session.execute(e_query).all()
        for judge_id, st, cat, div in panels:
            for eid, est, ecat, ediv in entries:
                if est == st and (cat is None or cat == ecat) and (div is None or div == ediv):
                    pairs.add((judge_id, eid))
    return sorted(pairs)


class _Names(Mapping):
    """Unit, province and division names for conflict messages, loaded on first use: a pair
    check at the score door usually finds no conflict and never needs a name."""

    def __init__(self, session, programme_id: int, unit_ids=None, province_ids=None):
        self._args = (session, programme_id, unit_ids, province_ids)
        self._data: dict | None = None

    def _load(self) -> dict:
        if self._data is None:
            session, programme_id, unit_ids, province_ids = self._args
            unit_q, prov_q = select(Unit.id, Unit.name), select(Province.id, Province.short_name)
            if unit_ids is not None:
                unit_q = unit_q.where(Unit.id.in_(unit_ids))
                prov_q = prov_q.where(Province.id.in_(province_ids))
            data: dict = {("unit", i): n for i, n in session.execute(unit_q)}
            data.update({("province", i): n for i, n in session.execute(prov_q)})
            data.update({("division", i): n for i, n in session.execute(
                select(Division.id, Division.name).where(Division.programme_id == programme_id))})
            self._data = data
        return self._data

    def __getitem__(self, key):
        return self._load()[key]

    def __iter__(self):
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def stage_conflict_index(session, stage: Stage, *, judge_ids=None, entry_ids=None,
                         judges: list[Judge] | None = None) -> ConflictIndex:
    """Every judge of the programme against every active entry of the stage, or only the given
    judges and entries: the score door checks one pair per request and must not load a
    national stage's thousands of pairs to do it. Both forms judge a pair identically
    (tests/web/test_conflict_scope.py compares them pair by pair)."""
    if judges is not None:         # already loaded by the caller (the judge at the score door)
        judge_ids = [j.id for j in judges]
        judge_rows = [j for j in judges if j.programme_id == stage.programme_id]
    else:
        judge_q = select(Judge).where(Judge.programme_id == stage.programme_id)
        if judge_ids is not None:
            judge_q = judge_q.where(Judge.id.in_(list(judge_ids)))
        judge_rows = list(session.scalars(judge_q))
    entry_q = (select(Entry.id, Entry.unit_id, Entry.province_id, Entry.division_id, Category.code, Entry.team_id,
                      Entry.source_entry_id)
               .join(Category, Category.id == Entry.category_id)
               .where(Entry.stage_id == stage.id, Entry.status == "active"))
    if entry_ids is not None:
        entry_q = entry_q.where(Entry.id.in_(list(entry_ids)))
    entry_rows = session.execute(entry_q).all()
    if entry_ids is None:
        lineage = _lineage(session, stage)
    else:   # walk back only from entries that have an earlier round
        sourced = [r[0] for r in entry_rows if r[6] is not None]
        lineage = _lineage(session, stage, sourced) if sourced else {}
    team_ids = [r[5] for r in entry_rows if r[5] is not None]
    team_units: dict[int, set] = {}
    if team_ids:
        team_q = (select(TeamMember.team_id, Person.unit_id).join(Person, TeamMember.person_id == Person.id)
                  .where(TeamMember.team_id.in_(team_ids) if entry_ids is not None else
                         TeamMember.team_id.in_(select(Entry.team_id).where(Entry.stage_id == stage.id))))
        for team_id, unit_id in session.execute(team_q):
            if unit_id is not None:
                team_units.setdefault(team_id, set()).add(("unit", unit_id))
    rel_q = select(DeclaredRelation).join(Judge).where(Judge.programme_id == stage.programme_id)
    if judge_ids is not None:
        rel_q = rel_q.where(DeclaredRelation.judge_id.in_(list(judge_ids)))
    rels = session.scalars(rel_q).all()

    if judge_ids is None and entry_ids is None:
        names = _Names(session, stage.programme_id)
    else:
        unit_ids = {j.unit_id for j in judge_rows} | {r[1] for r in entry_rows} \
            | {u for units in team_units.values() for _, u in units} | {r.unit_id for r in rels if r.unit_id}
        province_ids = {j.province_id for j in judge_rows} | {r[2] for r in entry_rows}
        names = _Names(session, stage.programme_id, unit_ids, province_ids)
    cjudges = [
        CJudge(id=j.id, unit=("unit", j.unit_id), province=("province", j.province_id),
               division=None, expertise=expertise_set(j.expertise), is_school_teacher=j.is_school_teacher,
               can_chair=not j.is_school_teacher)
        for j in judge_rows
    ]
    entries = [
        CEntry(id=eid, unit=("unit", unit_id), province=("province", province_id),
               division=("division", division_id) if division_id else None, category=code,
               member_units=frozenset(team_units.get(team_id, ())), lineage=lineage.get(eid, frozenset()))
        for eid, unit_id, province_id, division_id, code, team_id, _ in entry_rows
    ]
    declared = [(r.judge_id, r.entry_id, r.kind.value, r.note or "") for r in rels if r.entry_id is not None]
    declared_units = [(r.judge_id, ("unit", r.unit_id), r.kind.value)
                      for r in rels if r.unit_id is not None]
    rules = ConflictRules(avoid_province=stage.avoid_province, avoid_division=False,
                          history=stage.history_conflict.value)
    if rules.history == "off":
        history = []                   # ignored by the index anyway: spare the queries
    elif entry_ids is None:
        history = _history(session, stage, judge_ids)
    else:
        earlier = set().union(*lineage.values()) if lineage else set()
        history = _history(session, stage, judge_ids, earlier)
    return ConflictIndex.build(cjudges, entries, declared, declared_units, history, rules, names=names)
