"""Who judges what in a stage: automatic runs, manual placement, locks, draws by lot.

The database side of the assignment issue. The maths lives in `scoring.assignment` (the
solver and its independent checker `verify`), `scoring.conflicts` (the conflict index) and
`scoring.draw` (抽签 and anonymous codes); this module loads a stage into them, writes the
result back and records what was done.

Every function that changes something commits exactly once, at its end, and records enough
to reproduce and audit the change:

* `run_panels` (live rounds) and `run_reviews` (review designs: 全国初评, 初评) record an
  `AssignmentRun` with the seed, the parameters and a summary. When the problem has no valid
  plan (`scoring.assignment.Infeasible`), nothing else changes and the run is recorded as
  ``infeasible`` with every reason, in Chinese, naming entries, panels and judges by their
  numbers and names.
* `place_judge`, `move_member`, `set_locked`, `remove_placement` are the organiser's hands:
  a placement that conflicts (回避) is refused with its reason (`PlacementRefused`); what is
  placed by hand is locked and survives every re-run.
* `draw_stage` draws the running order per (division, category) or per category and gives
  anonymous codes where the stage is anonymous, one `DrawRecord` per group with its seed, so
  `verify_record` can re-run the draw. A stage that already has draw numbers is only redrawn
  with a stated reason, which is recorded (`DrawRefused` otherwise).

Layout of the JSON columns written here:

* ``AssignmentRun.summary`` (applied): counts, loads, expertise, ``violations`` (0: the plan
  passed `verify`), ``warnings``; (infeasible): ``reasons``: list of ``{code, about, subject,
  message, counts}``.
* ``DrawRecord.result``: ``{"order": [entry ids], "redraw": bool, "reason": str | None,
  "master_seed": str | None}`` for the running order and ``{"codes": [[entry id, code]]}``
  for anonymous codes. The redraw reason lives here because DrawRecord has no column for it
  yet; ``result`` is read only through `draw_record_view`.

A panel's *scope* is the stage's active entries of the panel's category (if set) and
division (if set): a panel member judges every entry in it, so a judge may sit on a panel
only when no entry in its scope conflicts with them. In review designs, panels are reviewer
pools: conflicts are checked per `Assignment`, not per panel.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import (Assignment, AssignmentRun, Category, Division, DrawRecord, Entry, Judge, Panel,
                    PanelMember, PanelRole, ReassignmentFlag, Stage, StageKind)
from models.base import utcnow
from scoring.assignment import Infeasible, PanelSlot, Reason, assign_panels, assign_reviews, verify
from scoring.conflicts import Conflict, ConflictIndex
from scoring.draw import anonymous_codes, draw_order, new_seed, verify_draw
from services.conflicts import expertise_set, stage_conflict_index  # noqa: F401 (re-exported)

__all__ = [
    "GROUPINGS", "REVIEW_STAGE_KINDS", "ROLE_ORDER", "DrawRefused", "PlacementRefused",
    "candidates", "default_grouping", "draw_record_view", "draw_stage", "filter_panels", "humanise", "in_scope",
    "loads", "move_member", "panel_conflict", "panel_entry_counts", "panel_list_data", "panel_scope",
    "place_judge", "remove_placement", "resolve_flag", "reviewer_pool", "run_panels", "run_reviews",
    "schedule_data", "set_locked", "stage_design", "stage_panels", "verify_record",
]

#: Stages judged as an incomplete design: each entry gets its own reviewers (`Assignment`).
REVIEW_STAGE_KINDS = frozenset({StageKind.national_preliminary, StageKind.preliminary_review})

#: How a live round is cut into panels: one panel per value of these entry attributes.
GROUPINGS: dict[str, tuple[str, ...]] = {
    "division_category": ("division", "category"),
    "division": ("division",),
    "category": ("category",),
    "stage": (),
}

MAX_SEED = 2 ** 63 - 1


class PlacementRefused(Exception):
    """A manual placement the rules forbid; `message` (Chinese) says why."""

    def __init__(self, message: str, conflict: Conflict | None = None):
        super().__init__(message)
        self.message = message
        self.conflict = conflict


class DrawRefused(Exception):
    """A draw that may not happen as asked (e.g. a redraw without a reason)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# ----------------------------------------------------------------------------------------
# Stage shape
# ----------------------------------------------------------------------------------------

def stage_design(stage: Stage) -> str:
    """``"reviews"`` for review designs (judge × entry), ``"panels"`` for live rounds."""
    return "reviews" if stage.kind in REVIEW_STAGE_KINDS else "panels"


def default_grouping(stage: Stage) -> str:
    return "division_category" if stage.by_division else "category"


def _active_entries(session, stage: Stage) -> list[Entry]:
    return list(session.scalars(select(Entry).where(Entry.stage_id == stage.id, Entry.status == "active")
                                .order_by(Entry.id)))


def in_scope(panel: Panel, entry: Entry) -> bool:
    return ((panel.category_id is None or panel.category_id == entry.category_id)
            and (panel.division_id is None or panel.division_id == entry.division_id))


def panel_scope(session, panel: Panel, entries: Sequence[Entry] | None = None) -> list[Entry]:
    """The active entries a panel judges: its stage's, of its category and division if set."""
    pool = entries if entries is not None else _active_entries(session, panel.stage)
    return [e for e in pool if e.stage_id == panel.stage_id and in_scope(panel, e)]


def _index(session, stage: Stage, *, home_division: bool = False) -> ConflictIndex:
    """The stage's conflict index, with two refinements the solver needs from the database:
    judges' expertise also understood when written as category names (专业领域 “展品辅导”, not
    only the code ``exhibit``), and, with `home_division`, each judge's division (the
    programme's division of their province) for panels restricted to local judges."""
    index = stage_conflict_index(session, stage)
    prog = stage.programme
    by_name = {}
    for c in prog.categories:
        by_name[c.name] = c.code
        by_name[c.code] = c.code
    div_of_province = {d.province_id: d.id for d in prog.divisions if d.province_id is not None}
    judges = {}
    for jid, j in index.judges.items():
        extra = {by_name[t] for t in j.expertise if t in by_name}
        changes: dict[str, Any] = {}
        if not extra <= j.expertise:
            changes["expertise"] = frozenset(j.expertise | extra)
        if home_division and isinstance(j.province, tuple):
            did = div_of_province.get(j.province[1])
            changes["division"] = ("division", did) if did is not None else None
        judges[jid] = dataclasses.replace(j, **changes) if changes else j
    return dataclasses.replace(index, judges=judges)


def _labels(session, stage: Stage) -> tuple[dict, dict]:
    """Human labels for messages: judge id → “姓名（J0001）”, entry id → “E0001《作品》”."""
    judges = {j.id: f"{j.person.name}（{j.external_id}）" for j in session.scalars(
        select(Judge).where(Judge.programme_id == stage.programme_id).options(selectinload(Judge.person)))}
    entries = {eid: f"{ext}《{title}》" for eid, ext, title in session.execute(
        select(Entry.id, Entry.external_id, Entry.title).where(Entry.stage_id == stage.id))}
    return judges, entries


_ID_PATTERNS = (
    (re.compile(r"^(\d+)(?=[:：] )"), "entry"),
    (re.compile(r"(?<=评委 )(\d+)"), "judge"),
    (re.compile(r"(?<=组长 )(\d+)"), "judge"),
    (re.compile(r"(?<=选手 )(\d+)"), "entry"),
    (re.compile(r"(?<=作品 )(\d+)"), "entry"),
    (re.compile(r"(?<=锁定的 )(\d+)(?=→)"), "judge"),
    (re.compile(r"(?<=评审关系 )(\d+)(?=→)"), "judge"),
    (re.compile(r"(?<=→)(\d+)"), "entry"),
)
_ID_LIST = re.compile(r"(?<=件作品（)([\d、]+)(…?)(?=）)")


def humanise(message: str, judges: dict, entries: dict) -> str:
    """Replace the database ids the solver's messages name by the numbers and names
    organisers know (“评委 17” → “评委 王芳（J0017）”). Numbers that are not a known id of the
    expected kind (counts, loads) are left alone."""
    def sub(pattern, table):
        return pattern.sub(lambda m: table.get(int(m.group(1)), m.group(1)), message)

    for pattern, kind in _ID_PATTERNS:
        message = sub(pattern, judges if kind == "judge" else entries)
    return _ID_LIST.sub(lambda m: "、".join(entries.get(int(x), x) if x.isdigit() else x
                                             for x in m.group(1).split("、")) + m.group(2), message)


def _reason_rows(reasons: Iterable[Reason], judges: dict, entries: dict) -> list[dict]:
    out = []
    for r in reasons:
        subject = r.subject
        if r.about == "entry" and subject in entries:
            subject = entries[subject]
        elif r.about == "judge" and subject in judges:
            subject = judges[subject]
        out.append({"code": r.code, "about": r.about, "subject": None if subject is None else str(subject),
                    "message": humanise(r.message, judges, entries),
                    "counts": {str(k): int(v) for k, v in dict(r.counts).items()}})
    return out


def _seed(seed) -> int:
    if seed is None or seed == "":
        return new_seed() >> 1
    value = int(seed)
    if not 0 <= value <= MAX_SEED:
        raise ValueError("seed out of range")
    return value


def _record(session, stage: Stage, kind: str, seed: int, status: str, parameters: dict, summary: dict,
            user) -> AssignmentRun:
    run = AssignmentRun(stage_id=stage.id, kind=kind, seed=str(seed), status=status,
                        parameters=parameters, summary=summary,
                        user_id=getattr(user, "id", None))
    session.add(run)
    return run


def _record_infeasible(session, stage: Stage, kind: str, seed: int, parameters: dict, user, t0: float,
                       reasons, judge_labels, entry_labels, **counts) -> AssignmentRun:
    """Record a run that could not be solved (nothing else changes) with its reasons, and commit."""
    summary = {**counts, "reasons": _reason_rows(reasons, judge_labels, entry_labels),
               "seconds": round(time.perf_counter() - t0, 2)}
    run = _record(session, stage, kind, seed, "infeasible", parameters, summary, user)
    session.commit()
    return run


def _resolve_flags(session, stage: Stage, entry_ids: Iterable[int]) -> int:
    ids = set(entry_ids)
    n = 0
    for flag in session.scalars(select(ReassignmentFlag).where(ReassignmentFlag.stage_id == stage.id,
                                                               ReassignmentFlag.resolved_at.is_(None))):
        if flag.entry_id in ids:
            flag.resolved_at = utcnow()
            n += 1
    return n


# ----------------------------------------------------------------------------------------
# Live rounds: panels
# ----------------------------------------------------------------------------------------

def _panel_name(stage: Stage, division: Division | None, category: Category | None) -> str:
    if division is not None and category is not None:
        return f"{division.name}·{category.name}"
    if division is not None:
        return f"{division.name}评委组"
    if category is not None:
        return f"{category.name}评委组"
    return f"{stage.name}评委组"


def _default_max_panels(n_slots: int, size: int, n_judges: int, slots_per_division: int | None) -> int:
    if slots_per_division:
        return max(1, slots_per_division)
    if n_judges == 0:
        return 1
    return max(1, math.ceil(n_slots * size / n_judges))


def run_panels(session, stage: Stage, *, seed: int | None = None, size: int = 7, teacher_seats: int = 1,
               distinct_units: bool = True, distinct_provinces: bool | None = None,
               by: Sequence[str] | None = None, max_panels: int | None = None,
               min_scoring: int | None = None, home_division: bool = False, keep_previous: bool = True,
               user=None, time_limit: float = 60.0) -> AssignmentRun:
    """Fill every panel of a live round automatically and record the run (commits once).

    Slots: one panel per distinct (division, category) of the stage's active entries, or per
    the attributes in `by` (default: division and category for a per-division stage, else
    category). Existing panels of the same scope are reused (their name kept), others are
    created (“贵州赛区·展品辅导”); panels of another scope are removed with their unlocked
    members. Locked members stay where they are (a locked chief stays chief); with
    `keep_previous` the current unlocked members are kept where they still fit. Each judge
    sits on at most `max_panels` panels (default: just enough seats for everyone, or, with
    `home_division`, the number of panels of a division). `min_scoring` switches to recusal
    (a judge may sit on a panel holding entries they conflict with and sits those out, each
    entry keeping `min_scoring` judges who may score it). Roles: the solver's chief, then
    `teacher_seats` school teachers in the teacher seat, everyone else member."""
    t0 = time.perf_counter()
    by = tuple(GROUPINGS[default_grouping(stage)] if by is None else by)
    if any(a not in ("division", "category") for a in by):
        raise ValueError(f"panels are grouped by division and/or category, not {by!r}")
    if distinct_provinces is None:
        distinct_provinces = bool(stage.avoid_province)
    seed = _seed(seed)
    prog = stage.programme
    categories = {c.id: c for c in prog.categories}
    divisions = {d.id: d for d in prog.divisions}
    index = _index(session, stage, home_division=home_division)
    judge_labels, entry_labels = _labels(session, stage)

    entries = _active_entries(session, stage)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for e in entries:
        groups[(e.division_id if "division" in by else None, e.category_id if "category" in by else None)].append(e.id)

    def key_order(key):
        d, c = key
        return (divisions[d].code if d in divisions else "", categories[c].sort if c in categories else -1,
                d or 0, c or 0)

    keys = sorted(groups, key=key_order)
    panels = list(session.scalars(select(Panel).where(Panel.stage_id == stage.id).order_by(Panel.id)
                                  .options(selectinload(Panel.members))))
    by_key: dict[tuple, Panel] = {}
    orphans: list[Panel] = []
    for p in panels:
        k = (p.division_id, p.category_id)
        if k in groups and k not in by_key:
            by_key[k] = p
        else:
            orphans.append(p)
    taken = {p.name for p in by_key.values()}     # orphans are deleted before new panels arrive
    names: dict[tuple, str] = {}
    for k in keys:
        if k in by_key:
            names[k] = by_key[k].name
            continue
        base = _panel_name(stage, divisions.get(k[0]), categories.get(k[1]))
        name, n = base, 2
        while name in taken:
            name, n = f"{base}（{n}）", n + 1
        taken.add(name)
        names[k] = name

    slots = [PanelSlot(id=names[k], category=categories[k[1]].code if k[1] in categories else None,
                       division=("division", k[0]) if k[0] is not None else None,
                       entries=tuple(groups[k]), label=names[k]) for k in keys]
    slot_of_key = {k: names[k] for k in keys}
    judge_ids = sorted(index.judges)
    per_division = Counter(k[0] for k in keys)
    auto_max = max_panels is None
    if auto_max:
        max_panels = _default_max_panels(len(slots), size, len(judge_ids),
                                         max(per_division.values()) if home_division and keys else None)

    locks, previous, extra_reasons = [], [], []
    for k, p in by_key.items():
        for m in p.members:
            if m.locked:
                locks.append((m.judge_id, slot_of_key[k], "chief" if m.role == PanelRole.chief else "member"))
            elif keep_previous:
                previous.append((m.judge_id, slot_of_key[k]))
    for p in orphans:
        held = [m for m in p.members if m.locked]
        if held:
            who = "、".join(judge_labels.get(m.judge_id, str(m.judge_id)) for m in held)
            extra_reasons.append(Reason(
                "lock_other_scope", "panel", p.name,
                f"评审组 {p.name}: 与本次分组方式不一致（{_scope_text(p)}），但有锁定的评委 {who}：请先解锁，或选择与之相同的分组方式",
                f"panel {p.name} does not match this grouping but has locked judges"))

    parameters = {"size": size, "teacher_seats": teacher_seats, "distinct_units": distinct_units,
                  "distinct_provinces": distinct_provinces, "by": list(by), "max_panels": max_panels,
                  "max_panels_auto": auto_max, "min_scoring": min_scoring, "home_division": home_division,
                  "keep_previous": keep_previous, "judges": len(judge_ids), "entries": len(entries),
                  "locks": len(locks)}

    def infeasible(reasons):
        return _record_infeasible(session, stage, "panels", seed, parameters, user, t0, reasons,
                                  judge_labels, entry_labels, panels=len(slots), entries=len(entries))

    if not entries:
        return infeasible([Reason("no_entries", "capacity", None, "本轮次没有有效的参赛作品：无法组建评审组",
                                  "the stage has no active entries")])
    try:
        plan = assign_panels(judge_ids, slots, index, size=size, teacher_seats=teacher_seats, chief=True,
                             distinct_units=distinct_units, distinct_provinces=distinct_provinces,
                             max_panels=max_panels, home_division=home_division, locks=locks,
                             previous=previous, seed=seed, min_scoring=min_scoring, time_limit=time_limit)
    except Infeasible as exc:
        return infeasible(extra_reasons + exc.reasons)
    if extra_reasons:
        return infeasible(extra_reasons)
    problems = verify(plan, index)
    if problems:   # the solver and the checker disagree: never apply such a plan
        return infeasible([Reason("verify_failed", "capacity", None, p, p) for p in problems])

    # Apply: reuse or create a panel per slot, drop panels of another scope.
    removed = [p.name for p in orphans]
    for p in orphans:
        session.delete(p)
    session.flush()
    created = []
    target: dict[str, Panel] = {}
    for k in keys:
        p = by_key.get(k)
        if p is None:
            p = Panel(stage_id=stage.id, category_id=k[1], division_id=k[0], name=names[k])
            session.add(p)
            created.append(p.name)
        target[names[k]] = p
    session.flush()

    teacher = {jid: j.is_school_teacher for jid, j in index.judges.items()}
    kept = 0
    # Phase 1: members who leave go, a chief who is no longer chief steps down (the database
    # allows one chief per panel at every moment, so demotions are flushed first).
    for pp in plan.panels:
        panel = target[pp.slot.id]
        want = set(pp.judges)
        for m in list(panel.members):
            if m.judge_id not in want:
                panel.members.remove(m)
            else:
                kept += 1
                if m.role == PanelRole.chief and m.judge_id != pp.chief:
                    m.role = PanelRole.member
    session.flush()
    # Phase 2: final roles, newcomers.
    for pp in plan.panels:
        panel = target[pp.slot.id]
        current = {m.judge_id: m for m in panel.members}
        roles = _panel_roles(pp.judges, pp.chief, current, teacher, teacher_seats)
        for jid in pp.judges:
            m = current.get(jid)
            if m is None:
                panel.members.append(PanelMember(judge_id=jid, role=roles[jid], locked=False))
            else:
                m.role = roles[jid]
    session.flush()

    flags = _resolve_flags(session, stage, (e.id for e in entries))
    loads = Counter(j for pp in plan.panels for j in pp.judges)
    seats = size * len(slots)
    expertise = int(round(plan.stats.get("expertise", 0)))
    summary = {
        "panels": len(slots), "seats": seats, "entries": len(entries), "judges": len(judge_ids),
        "judges_used": len(loads), "load_min": min(loads.values(), default=0),
        "load_max": max(loads.values(), default=0), "expertise": expertise,
        "expertise_share": round(expertise / seats, 3) if seats else 0.0,
        "recusals": int(plan.stats.get("recusals", 0)), "violations": 0, "kept": kept, "locks": len(locks),
        "created_panels": created, "removed_panels": removed, "flags_resolved": flags,
        "warnings": list(plan.warnings), "seconds": round(time.perf_counter() - t0, 2),
    }
    run = _record(session, stage, "panels", seed, "applied", parameters, summary, user)
    session.commit()
    return run


def _scope_text(panel: Panel) -> str:
    parts = []
    if panel.division is not None:
        parts.append(panel.division.name)
    if panel.category is not None:
        parts.append(panel.category.name)
    return "·".join(parts) or "全部作品"


def _panel_roles(members: Sequence, chief, current: dict, teacher: dict, teacher_seats: int) -> dict:
    """chief → 组长; then teachers fill the teacher seats (locked and sitting teacher seats
    first); everyone else is a member."""
    roles = {j: PanelRole.member for j in members}
    if chief is not None:
        roles[chief] = PanelRole.chief
    seated = [j for j in members if j != chief and teacher.get(j)
              and j in current and current[j].role == PanelRole.teacher_seat]
    locked_seats = [j for j in seated if current[j].locked]
    order = locked_seats + [j for j in seated if j not in locked_seats] + \
        [j for j in members if j != chief and teacher.get(j) and j not in seated]
    for n, j in enumerate(order):
        if n < teacher_seats or (j in current and current[j].locked and current[j].role == PanelRole.teacher_seat):
            roles[j] = PanelRole.teacher_seat
    return roles


# ----------------------------------------------------------------------------------------
# Review designs
# ----------------------------------------------------------------------------------------

def reviewer_pool(session, stage: Stage) -> list[int]:
    """The stage's reviewers: the members of its panels (e.g. 全国初评专家组) if it has any,
    else every judge of the programme."""
    ids = set(session.scalars(select(PanelMember.judge_id).join(Panel, PanelMember.panel_id == Panel.id)
                              .where(Panel.stage_id == stage.id)))
    if not ids:
        ids = set(session.scalars(select(Judge.id).where(Judge.programme_id == stage.programme_id)))
    return sorted(ids)


def run_reviews(session, stage: Stage, *, per_entry: int = 5, min_load: int | None = None,
                max_load: int | None = None, seed: int | None = None, keep_previous: bool = True,
                judge_ids: Iterable[int] | None = None, user=None, time_limit: float = 60.0) -> AssignmentRun:
    """Give every active entry `per_entry` reviewers, loads within [min_load, max_load]
    (default: as even as possible), and record the run (commits once). Reviewers: `judge_ids`,
    else `reviewer_pool`, plus anyone locked to an entry. Locked assignments stay; with
    `keep_previous` the other current assignments are kept where they still fit."""
    t0 = time.perf_counter()
    seed = _seed(seed)
    index = _index(session, stage)
    judge_labels, entry_labels = _labels(session, stage)
    entries = _active_entries(session, stage)
    entry_ids = [e.id for e in entries]
    existing = list(session.scalars(select(Assignment).where(Assignment.stage_id == stage.id)))
    active = set(entry_ids)
    locks = [(a.judge_id, a.entry_id) for a in existing if a.locked and a.entry_id in active]
    pool = set(reviewer_pool(session, stage) if judge_ids is None else judge_ids) | {j for j, _ in locks}
    pool = sorted(j for j in pool if j in index.judges)
    in_pool = set(pool)
    previous = [(a.judge_id, a.entry_id) for a in existing
                if keep_previous and not a.locked and a.entry_id in active and a.judge_id in in_pool]
    parameters = {"per_entry": per_entry, "min_load": min_load, "max_load": max_load,
                  "keep_previous": keep_previous, "judges": len(pool), "entries": len(entry_ids),
                  "locks": len(locks), "pool": "given" if judge_ids is not None else "stage"}

    def infeasible(reasons):
        return _record_infeasible(session, stage, "reviews", seed, parameters, user, t0, reasons,
                                  judge_labels, entry_labels, entries=len(entry_ids), judges=len(pool))

    if not entry_ids:
        return infeasible([Reason("no_entries", "capacity", None, "本轮次没有有效的参赛作品：无法分配评审",
                                  "the stage has no active entries")])
    try:
        plan = assign_reviews(pool, entry_ids, index, per_entry=per_entry, min_load=min_load,
                              max_load=max_load, locks=locks, previous=previous, seed=seed,
                              time_limit=time_limit)
    except Infeasible as exc:
        return infeasible(exc.reasons)
    problems = verify(plan, index)
    if problems:
        return infeasible([Reason("verify_failed", "capacity", None, p, p) for p in problems])

    want = set(plan.pairs)
    have = {(a.judge_id, a.entry_id): a for a in existing}
    kept = removed = 0
    for pair, a in have.items():
        if pair in want:
            kept += 1
        elif not a.locked:
            session.delete(a)
            removed += 1
    session.flush()
    added = 0
    for j, e in plan.pairs:
        if (j, e) not in have:
            session.add(Assignment(stage_id=stage.id, judge_id=j, entry_id=e, locked=False, source="auto"))
            added += 1
    session.flush()

    flags = _resolve_flags(session, stage, entry_ids)
    stats = plan.stats
    total = len(plan.pairs)
    expertise = int(round(stats.get("expertise", 0)))
    summary = {
        "entries": len(entry_ids), "judges": len(pool), "per_entry": per_entry,
        "min_load": plan.spec.min_load, "max_load": plan.spec.max_load,
        "load_min": stats.get("load_min", 0), "load_max": stats.get("load_max", 0),
        "expertise": expertise, "expertise_share": round(expertise / total, 3) if total else 0.0,
        "components": stats.get("components", 1), "max_pair_overlap": stats.get("max_pair_overlap", 0),
        "violations": 0, "kept": kept, "added": added, "removed": removed, "locks": len(locks),
        "flags_resolved": flags, "warnings": list(plan.warnings),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    run = _record(session, stage, "reviews", seed, "applied", parameters, summary, user)
    session.commit()
    return run


# ----------------------------------------------------------------------------------------
# The organiser's hands: placement, moves, locks
# ----------------------------------------------------------------------------------------

def panel_conflict(session, panel: Panel, judge: Judge, index: ConflictIndex | None = None) -> Conflict | None:
    """The first hard conflict between the judge and any entry in the panel's scope, or None.
    Review designs' panels are reviewer pools: conflicts are checked per assignment there, so
    this returns None for them."""
    if stage_design(panel.stage) == "reviews":
        return None
    index = index or stage_conflict_index(session, panel.stage)
    for e in panel_scope(session, panel):
        c = index.conflict(judge.id, e.id)
        if c is not None and c.hard:
            return c
    return None


def _entry_text(entry: Entry) -> str:
    return f"{entry.external_id}《{entry.title}》"


def _refuse_conflict(session, judge: Judge, conflict: Conflict) -> PlacementRefused:
    entry = session.get(Entry, conflict.entry_id)
    return PlacementRefused(f"{judge.person.name}（{judge.external_id}）须回避 {_entry_text(entry)}：{conflict.message}",
                            conflict)


def _check_panel_seat(session, panel: Panel, judge: Judge, role: PanelRole, index: ConflictIndex | None,
                      ignore_member: PanelMember | None = None) -> None:
    if judge.programme_id != panel.stage.programme_id:
        raise PlacementRefused("该评委不属于本项目")
    others = [m for m in panel.members if m is not ignore_member]
    if any(m.judge_id == judge.id for m in others):
        raise PlacementRefused(f"{judge.person.name} 已在“{panel.name}”中")
    if role == PanelRole.chief:
        if judge.is_school_teacher:
            raise PlacementRefused(f"{judge.person.name} 是中小学教师，按规则不担任评委组长")
        if any(m.role == PanelRole.chief for m in others):
            raise PlacementRefused("每个评委组只能有一名评委组长，请先移除现任组长或将其设为评委")
    if role == PanelRole.teacher_seat and not judge.is_school_teacher:
        raise PlacementRefused(f"{judge.person.name} 不是中小学教师，不能占用教师席位")
    c = panel_conflict(session, panel, judge, index)
    if c is not None:
        raise _refuse_conflict(session, judge, c)


def place_judge(session, target: Panel | Entry, judge: Judge, *, role: PanelRole | str = PanelRole.member,
                index: ConflictIndex | None = None, user=None) -> PanelMember | Assignment:
    """Place a judge by hand, locked, or raise `PlacementRefused` with the reason (commits
    once on success). `target` is a panel (live rounds; any role) or an entry (review
    designs: a manual, locked `Assignment`). A placement resolves the oldest open
    reassignment flag it answers (the entry's, or one in the panel's scope)."""
    if isinstance(target, Panel):
        role = PanelRole(role)
        _check_panel_seat(session, target, judge, role, index)
        member = PanelMember(panel_id=target.id, judge_id=judge.id, role=role, locked=True)
        target.members.append(member)
        scope = {e.id for e in panel_scope(session, target)}
        _resolve_one_flag(session, target.stage_id, scope)
        session.commit()
        return member
    entry = target
    stage = entry.stage
    if stage_design(stage) != "reviews":
        raise PlacementRefused("本轮次按评委组评审：请把评委安排到评委组中")
    if entry.status != "active":
        raise PlacementRefused(f"{_entry_text(entry)} 已退出，不能分配评委")
    if judge.programme_id != stage.programme_id:
        raise PlacementRefused("该评委不属于本项目")
    if session.scalar(select(Assignment.id).where(Assignment.judge_id == judge.id, Assignment.entry_id == entry.id)):
        raise PlacementRefused(f"{judge.person.name} 已是 {_entry_text(entry)} 的评委")
    index = index or stage_conflict_index(session, stage)
    c = index.conflict(judge.id, entry.id)
    if c is not None and c.hard:
        raise _refuse_conflict(session, judge, c)
    a = Assignment(stage_id=stage.id, judge_id=judge.id, entry_id=entry.id, locked=True, source="manual")
    session.add(a)
    _resolve_one_flag(session, stage.id, {entry.id})
    session.commit()
    return a


def _resolve_one_flag(session, stage_id: int, entry_ids: set) -> None:
    flag = session.scalars(select(ReassignmentFlag).where(
        ReassignmentFlag.stage_id == stage_id, ReassignmentFlag.resolved_at.is_(None),
        ReassignmentFlag.entry_id.in_(entry_ids or {-1})).order_by(ReassignmentFlag.id)).first()
    if flag is not None:
        flag.resolved_at = utcnow()


def move_member(session, member: PanelMember, target: Panel, *, index: ConflictIndex | None = None,
                user=None) -> PanelMember:
    """Move a panel member to another panel of the same stage, locked, keeping their role
    where the target allows it (a chief becomes a member if the target has a chief).
    Refused, with the reason, if the judge conflicts with the target's scope (commits once)."""
    source = member.panel
    if target.stage_id != source.stage_id:
        raise PlacementRefused("只能在同一轮次的评委组之间调整")
    if target.id == source.id:
        raise PlacementRefused("评委已在该评委组中")
    role = member.role
    if role == PanelRole.chief and any(m.role == PanelRole.chief for m in target.members):
        role = PanelRole.member
    judge = member.judge
    _check_panel_seat(session, target, judge, role, index)
    source.members.remove(member)
    session.flush()
    moved = PanelMember(panel_id=target.id, judge_id=judge.id, role=role, locked=True)
    target.members.append(moved)
    _resolve_one_flag(session, target.stage_id, {e.id for e in panel_scope(session, target)})
    session.commit()
    return moved


def set_locked(session, placement: PanelMember | Assignment, locked: bool) -> None:
    """Lock (kept by every re-run) or unlock (free for the solver) a placement (commits once)."""
    placement.locked = bool(locked)
    session.commit()


def remove_placement(session, placement: PanelMember | Assignment) -> None:
    """Take a judge off a panel or an entry (commits once)."""
    if isinstance(placement, PanelMember):
        placement.panel.members.remove(placement)
    else:
        session.delete(placement)
    session.commit()


def resolve_flag(session, flag: ReassignmentFlag) -> None:
    """Mark a reassignment flag as dealt with (commits once)."""
    if flag.resolved_at is None:
        flag.resolved_at = utcnow()
    session.commit()


# ----------------------------------------------------------------------------------------
# Draw by lot (抽签) and anonymous codes
# ----------------------------------------------------------------------------------------

def _group_seed(master: int, division_id, category_id) -> int:
    digest = hashlib.sha256(f"{master}:{division_id or 0}:{category_id or 0}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def draw_stage(session, stage: Stage, *, seed: int | None = None, reason: str | None = None,
               user=None) -> list[DrawRecord]:
    """Draw the running order (抽签号 1..n) of the stage's active entries per (division,
    category) for a per-division stage, else per category, and give anonymous codes to
    entries without one when the stage is anonymous. One `DrawRecord` per group with its
    seed: with `seed` given, each group's seed is derived from it (SHA-256 of seed, division,
    category), else each group gets a fresh random seed. A stage whose entries already have
    draw numbers (drawn here or imported) is only redrawn with a `reason`, recorded with the
    new draw; otherwise `DrawRefused`. Codes are never redrawn. Commits once."""
    reason = (reason or "").strip() or None
    entries = _active_entries(session, stage)
    if not entries:
        raise DrawRefused("本轮次没有有效的参赛作品，无法抽签")
    all_entries = list(session.scalars(select(Entry).where(Entry.stage_id == stage.id)))
    drawn_before = any(e.draw_number is not None for e in all_entries) or session.scalar(
        select(DrawRecord.id).where(DrawRecord.stage_id == stage.id, DrawRecord.kind == "order").limit(1)) is not None
    if drawn_before and reason is None:
        raise DrawRefused("本轮次已有抽签号（已抽签或已导入）。重新抽签须填写理由，理由和新的抽签结果都会被记录。")
    master = None if seed is None else _seed(seed)
    prog = stage.programme
    div_code = {d.id: d.code for d in prog.divisions}
    cat_sort = {c.id: c.sort for c in prog.categories}

    for e in all_entries:          # clear first: (stage, category, division, number) is unique
        e.draw_number = None
    session.flush()

    groups: dict[tuple, list[Entry]] = defaultdict(list)
    for e in entries:
        groups[(e.division_id if stage.by_division else None, e.category_id)].append(e)
    records = []
    for key in sorted(groups, key=lambda k: (div_code.get(k[0], ""), cat_sort.get(k[1], 0), k[0] or 0, k[1] or 0)):
        members = {e.id: e for e in groups[key]}
        gseed = new_seed() >> 1 if master is None else _group_seed(master, *key)
        ids = sorted(members)
        d = draw_order(ids, gseed)
        for n, eid in enumerate(d.order, start=1):
            members[eid].draw_number = n
        rec = DrawRecord(stage_id=stage.id, division_id=key[0], category_id=key[1], kind="order",
                         seed=str(gseed), entry_ids=ids,
                         result={"order": d.order, "redraw": drawn_before, "reason": reason,
                                 "master_seed": None if master is None else str(master)},
                         user_id=getattr(user, "id", None))
        session.add(rec)
        records.append(rec)
    if stage.anonymous:
        rec = _fill_codes(session, stage, entries, all_entries, user)
        if rec is not None:
            records.append(rec)
    session.flush()
    session.commit()
    return records


def _fill_codes(session, stage: Stage, entries: list[Entry], all_entries: list[Entry], user) -> DrawRecord | None:
    missing = [e for e in entries if not e.anonymous_code]
    if not missing:
        return None
    last = session.scalars(select(DrawRecord).where(DrawRecord.stage_id == stage.id, DrawRecord.kind == "codes")
                           .order_by(DrawRecord.id.desc())).first()
    code_seed = last.seed if last is not None else secrets.token_hex(16)
    ids = sorted(e.id for e in entries)
    codes = anonymous_codes(ids, code_seed)
    used = {e.anonymous_code for e in all_entries if e.anonymous_code}
    out = []
    for e in sorted(missing, key=lambda e: e.id):
        code, attempt = codes[e.id], 1
        while code in used:          # only against codes from elsewhere (imports): ~never
            code = anonymous_codes([e.id], f"{code_seed}:{attempt}")[e.id]
            attempt += 1
        used.add(code)
        e.anonymous_code = code
        out.append([e.id, code])
    rec = DrawRecord(stage_id=stage.id, kind="codes", seed=code_seed, entry_ids=ids, result={"codes": out},
                     user_id=getattr(user, "id", None))
    session.add(rec)
    return rec


def verify_record(rec: DrawRecord) -> bool:
    """Re-run a recorded draw from its seed: True when it reproduces what was recorded."""
    result = rec.result or {}
    if rec.kind == "order":
        order = result.get("order", result) if isinstance(result, dict) else result
        try:
            return verify_draw(rec.entry_ids, int(rec.seed), order)
        except (TypeError, ValueError):
            return False
    codes = anonymous_codes(rec.entry_ids, rec.seed) if rec.entry_ids else {}
    return all(codes.get(eid) == code for eid, code in result.get("codes", []))


@dataclass
class DrawView:
    id: int
    kind: str
    created_at: Any
    division: str | None
    category: str | None
    seed: str
    entries: int
    order: list = field(default_factory=list)     # entry ids
    redraw: bool = False
    reason: str | None = None
    verified: bool = False
    user_id: int | None = None


def draw_record_view(rec: DrawRecord, divisions: dict, categories: dict) -> DrawView:
    result = rec.result if isinstance(rec.result, dict) else {"order": rec.result or []}
    order = result.get("order") or [eid for eid, _ in result.get("codes", [])]
    return DrawView(rec.id, rec.kind, rec.created_at, divisions.get(rec.division_id), categories.get(rec.category_id),
                    rec.seed, len(rec.entry_ids or []), list(order), bool(result.get("redraw")), result.get("reason"),
                    verify_record(rec), rec.user_id)


# ----------------------------------------------------------------------------------------
# What the organiser screens and the documents show
# ----------------------------------------------------------------------------------------

def _judge_row(j: Judge) -> dict:
    return {"id": j.id, "external_id": j.external_id, "name": j.person.name, "unit": j.unit.name,
            "province": j.province.short_name, "title": j.title or "", "expertise": j.expertise or "",
            "teacher": bool(j.is_school_teacher)}


def _expertise_names(j: Judge, names: dict) -> str:
    """专业领域 with category codes spelled as names: “exhibit,drama” → “展品辅导、科普短剧”."""
    tokens = [t for t in re.split(r"[,，、;；\s]+", j.expertise or "") if t]
    return "、".join(dict.fromkeys(names.get(t, t) for t in tokens))


def _expert(j: Judge, category: Category | None) -> bool:
    if category is None:
        return False
    tokens = expertise_set(j.expertise)
    return category.code in tokens or category.name in tokens


def _load_judges(session, stage: Stage) -> dict[int, Judge]:
    return {j.id: j for j in session.scalars(
        select(Judge).where(Judge.programme_id == stage.programme_id)
        .options(selectinload(Judge.person), selectinload(Judge.unit), selectinload(Judge.province)))}


def stage_panels(session, stage: Stage) -> list[Panel]:
    """The stage's panels by name, members and their judges loaded in a few queries."""
    member_judge = selectinload(Panel.members).selectinload(PanelMember.judge)
    return list(session.scalars(
        select(Panel).where(Panel.stage_id == stage.id).order_by(Panel.name)
        .options(member_judge.selectinload(Judge.person), member_judge.selectinload(Judge.unit),
                 member_judge.selectinload(Judge.province), selectinload(Panel.category),
                 selectinload(Panel.division))))


def panel_entry_counts(session, stage: Stage, panels: Sequence[Panel]) -> dict[int, int]:
    """panel id → number of active entries in its scope (one GROUP BY query)."""
    from sqlalchemy import func
    cells = session.execute(select(Entry.division_id, Entry.category_id, func.count(Entry.id))
                            .where(Entry.stage_id == stage.id, Entry.status == "active")
                            .group_by(Entry.division_id, Entry.category_id)).all()
    return {p.id: sum(n for d, c, n in cells if (p.division_id is None or p.division_id == d)
                      and (p.category_id is None or p.category_id == c)) for p in panels}


def loads(session, stage: Stage) -> list[dict]:
    """One row per judge with work in the stage: panels or entries, entries judged, expertise
    matches, locked placements; most loaded first."""
    judges = _load_judges(session, stage)
    rows: dict[int, dict] = {}

    def row(jid):
        if jid not in rows:
            rows[jid] = {**_judge_row(judges[jid]), "panels": 0, "entries": 0, "expert": 0, "locked": 0,
                         "chief": 0}
        return rows[jid]

    if stage_design(stage) == "panels":
        entries = _active_entries(session, stage)
        for p in stage_panels(session, stage):
            n = len(panel_scope(session, p, entries))
            for m in p.members:
                r = row(m.judge_id)
                r["panels"] += 1
                r["entries"] += n
                r["expert"] += _expert(judges[m.judge_id], p.category)
                r["locked"] += m.locked
                r["chief"] += m.role == PanelRole.chief
    else:
        cats = {c.id: c for c in stage.programme.categories}
        for a in session.scalars(select(Assignment).where(Assignment.stage_id == stage.id)
                                 .options(selectinload(Assignment.entry))):
            r = row(a.judge_id)
            r["entries"] += 1
            r["expert"] += _expert(judges[a.judge_id], cats.get(a.entry.category_id))
            r["locked"] += a.locked
    return sorted(rows.values(), key=lambda r: (-r["entries"], -r["panels"], r["external_id"]))


def candidates(session, stage: Stage, target: Panel | Entry, index: ConflictIndex | None = None) -> list[dict]:
    """Every judge of the programme as a candidate for a panel or an entry: eligible ones
    first (fewest placements, then expertise), then those already placed, then the
    conflicted ones with their reason (to be shown and disabled)."""
    index = index or stage_conflict_index(session, stage)
    judges = _load_judges(session, stage)
    is_panel = isinstance(target, Panel)
    if is_panel:
        scope = panel_scope(session, target)
        category = target.category
        present = {m.judge_id for m in target.members}
        member_units = {judges[m.judge_id].unit_id for m in target.members if m.judge_id in judges}
        load = Counter(session.scalars(select(PanelMember.judge_id).join(Panel, PanelMember.panel_id == Panel.id)
                                       .where(Panel.stage_id == stage.id)))
    else:
        scope = [target]
        category = target.category
        present = set(session.scalars(select(Assignment.judge_id).where(Assignment.entry_id == target.id)))
        member_units = set()
        load = Counter(session.scalars(select(Assignment.judge_id).where(Assignment.stage_id == stage.id)))
    review_pool = set(reviewer_pool(session, stage)) if not is_panel else set()
    check = not is_panel or stage_design(stage) == "panels"
    entry_text = {e.id: _entry_text(e) for e in scope}
    out = []
    for jid, j in judges.items():
        conflict = soft = None
        if check:
            for e in scope:
                c = index.conflict(jid, e.id)
                if c is None:
                    continue
                if c.hard:
                    conflict = (entry_text[e.id], c.message)
                    break
                soft = soft or (entry_text[e.id], c.message)
        status = "present" if jid in present else ("conflict" if conflict else "eligible")
        notes = []
        if status == "eligible" and j.unit_id in member_units:
            notes.append("与组内评委同单位")
        if soft and status != "conflict":
            notes.append(f"{soft[0]}：{soft[1]}")
        out.append({**_judge_row(j), "status": status, "conflict_entry": conflict[0] if conflict else None,
                    "conflict": conflict[1] if conflict else None, "notes": notes, "load": load.get(jid, 0),
                    "expert": _expert(j, category), "in_pool": jid in review_pool})
    rank = {"eligible": 0, "present": 1, "conflict": 2}
    out.sort(key=lambda r: (rank[r["status"]], bool(r["notes"]), not r["in_pool"], r["load"], not r["expert"],
                            r["external_id"]))
    return out


ROLE_ORDER = {PanelRole.chief: 0, PanelRole.member: 1, PanelRole.teacher_seat: 2}


def filter_panels(panels: Iterable[Panel], division_id: int | None, category_id: int | None) -> list[Panel]:
    """Panels that judge entries of the division / category (stage-wide panels included)."""
    return [p for p in panels if (not division_id or p.division_id in (None, division_id))
            and (not category_id or p.category_id in (None, category_id))]


def _scope_label(stage: Stage, division_id: int | None, category_id: int | None) -> str:
    parts = [d.name for d in stage.programme.divisions if d.id == division_id]
    parts += [c.name for c in stage.programme.categories if c.id == category_id]
    return " · ".join(parts)


def panel_list_data(session, stage: Stage, *, division_id: int | None = None,
                    category_id: int | None = None) -> dict:
    """Plain values for the 评委组名单 (Excel and PDF): every panel with its members (of the
    division / category, if given), or, for review designs, the reviewers with their loads."""
    judges = _load_judges(session, stage)
    prog = stage.programme
    names = {c.code: c.name for c in prog.categories}

    def member(j: Judge, **extra) -> dict:
        return {**_judge_row(j), "expertise_names": _expertise_names(j, names), **extra}

    groups = []
    if stage_design(stage) == "panels":
        entries = _active_entries(session, stage)
        for p in filter_panels(stage_panels(session, stage), division_id, category_id):
            members = sorted(p.members, key=lambda m: (ROLE_ORDER[m.role], judges[m.judge_id].external_id))
            groups.append({
                "name": p.name, "category": p.category.name if p.category else "",
                "division": p.division.name if p.division else "", "entries": len(panel_scope(session, p, entries)),
                "members": [member(judges[m.judge_id], role=m.role.value, locked=bool(m.locked),
                                   expert=_expert(judges[m.judge_id], p.category), load=None) for m in members]})
    else:
        load = Counter(session.scalars(select(Assignment.judge_id).where(Assignment.stage_id == stage.id)))
        ids = sorted(set(reviewer_pool(session, stage)) | set(load), key=lambda j: judges[j].external_id)
        groups.append({"name": f"{stage.name}评审专家", "category": "", "division": "",
                       "entries": len(_active_entries(session, stage)),
                       "members": [member(judges[j], role="reviewer", locked=False, expert=False,
                                          load=load.get(j, 0)) for j in ids]})
    return {"programme": prog.name, "stage": stage.name, "design": stage_design(stage),
            "scope": _scope_label(stage, division_id, category_id) if stage_design(stage) == "panels" else "",
            "anonymous": bool(stage.anonymous), "generated": utcnow().astimezone().strftime("%Y-%m-%d %H:%M"),
            "groups": groups, "rows": sum(len(g["members"]) for g in groups)}


def _entry_base(e: Entry, anonymous: bool) -> dict:
    item = {"id": e.id, "draw_number": e.draw_number, "code": e.anonymous_code or "", "title": e.title,
            "category": e.category.name, "division": e.division.name if e.division else "",
            "recused": False, "recusal_reason": ""}
    if anonymous:   # judges of an anonymous stage see the code and the title, nothing else
        item.update(external_id="", contestant="", unit="")
    else:
        item.update(external_id=e.external_id, contestant=e.contestant_name, unit=e.unit.name)
    return item


def _entry_item(base: dict, anonymous: bool, recused: Conflict | None) -> dict:
    if recused is None:
        return dict(base)
    # the reason names units or relations: not shown where the stage is anonymous
    return {**base, "recused": True, "recusal_reason": "" if anonymous else recused.message}


def _running_order(by_division: bool):
    """Sort key: draw number (undrawn last), within each division when the stage runs per division."""
    def key(e: Entry):
        return (e.division.code if by_division and e.division else "", e.draw_number is None, e.draw_number or 0,
                e.anonymous_code or "", e.external_id)
    return key


def schedule_data(session, stage: Stage, judge_id: int | None = None, *, division_id: int | None = None,
                  category_id: int | None = None) -> dict:
    """Plain values for the 评委日程 (Excel and PDF): for each judge with work in the stage
    (or just `judge_id`), their panels or categories and the entries in running order with
    draw numbers; for anonymous stages only codes and titles. Entries a judge must sit out
    (回避) are marked. `division_id` / `category_id` narrow it to those panels or entries."""
    judges = _load_judges(session, stage)
    index = stage_conflict_index(session, stage)
    anonymous = bool(stage.anonymous)
    from models import Team, TeamMember
    q = select(Entry).where(Entry.stage_id == stage.id, Entry.status == "active")
    if division_id:
        q = q.where(Entry.division_id == division_id)
    if category_id:
        q = q.where(Entry.category_id == category_id)
    entries = list(session.scalars(
        q.options(selectinload(Entry.category), selectinload(Entry.division), selectinload(Entry.unit),
                 selectinload(Entry.person),
                 selectinload(Entry.team).selectinload(Team.members).selectinload(TeamMember.person))))
    base = {e.id: _entry_base(e, anonymous) for e in entries}
    sessions: dict[int, list[dict]] = defaultdict(list)

    def recusal(jid, e):
        c = index.conflict(jid, e.id)
        return c if c is not None and c.hard else None

    if stage_design(stage) == "panels":
        for p in filter_panels(stage_panels(session, stage), division_id, category_id):
            scope = sorted(panel_scope(session, p, entries), key=_running_order(stage.by_division))
            for m in p.members:
                if judge_id is not None and m.judge_id != judge_id:
                    continue
                sessions[m.judge_id].append({
                    "name": p.name, "role": m.role.value,
                    "entries": [_entry_item(base[e.id], anonymous, recusal(m.judge_id, e)) for e in scope]})
    else:
        by_id = {e.id: e for e in entries}
        mine: dict[int, list[Entry]] = defaultdict(list)
        q = select(Assignment.judge_id, Assignment.entry_id).where(Assignment.stage_id == stage.id)
        if judge_id is not None:
            q = q.where(Assignment.judge_id == judge_id)
        for jid, eid in session.execute(q):
            if eid in by_id:
                mine[jid].append(by_id[eid])
        for jid, es in mine.items():
            by_cat: dict[int, list[Entry]] = defaultdict(list)
            for e in es:
                by_cat[e.category_id].append(e)
            for cid in sorted(by_cat, key=lambda c: by_cat[c][0].category.sort):
                group = sorted(by_cat[cid], key=_running_order(stage.by_division))
                sessions[jid].append({"name": group[0].category.name, "role": "reviewer",
                                      "entries": [_entry_item(base[e.id], anonymous, recusal(jid, e)) for e in group]})
    rows = []
    for jid in sorted(sessions, key=lambda j: judges[j].external_id):
        rows.append({**_judge_row(judges[jid]), "sessions": sessions[jid],
                     "total": sum(len(s["entries"]) for s in sessions[jid])})
    return {"programme": stage.programme.name, "stage": stage.name, "design": stage_design(stage),
            "scope": _scope_label(stage, division_id, category_id),
            "anonymous": anonymous, "generated": utcnow().astimezone().strftime("%Y-%m-%d %H:%M"),
            "judges": rows, "rows": sum(r["total"] for r in rows)}
