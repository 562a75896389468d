"""The demo's activity reports: what the demo's museums held for each of the year's 17
activities (10 theme months, 7 seminars), so the organiser's dashboard and the year-end
award's computed criteria show something plausible.

Provincial museums take part in most activities and file on time; city museums, youth
centres and mobile units in fewer; seminars draw fewer units than theme months; a few
materials arrive late or never. Nominated units are among the more active ones, as real
nominations are. Deterministic for the seed, on its own random stream (data built before is
unchanged). Rows go in by bulk insert: a few thousand reports must not slow the demo down.
"""
from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import insert, select

from models import ActivityReport, ActivityReportEvent, Entry, Programme, ProgrammeKind
from models.base import utcnow
from services import activities as act
from services.awards import sync_computed
from services.sheets import Actor

DEMO_ACTOR = "演示数据"
# role -> (chance of taking part in a theme month, in a seminar, of filing materials on time)
PARTICIPATION = {
    "provincial": (0.92, 0.8, 0.88), "city": (0.6, 0.35, 0.75), "youth": (0.45, 0.2, 0.7),
    "nature": (0.4, 0.25, 0.7), "mobile": (0.5, 0.3, 0.7), "caravan": (0.45, 0.2, 0.65),
    "rural": (0.3, 0.1, 0.6), "national": (1.0, 1.0, 1.0),
}
NOMINATED_BOOST = 0.08
PEOPLE_PER_EVENT = {"theme": (40, 900), "seminar": (20, 160)}


def build_activity_reports(session, b, seed: int) -> int:
    """Reports for the demo builder `b`'s units in its award programme; returns how many.
    Fills the nominated units' computed criteria from them (logged as the demo's record)."""
    prog = session.scalar(select(Programme).where(Programme.kind == ProgrammeKind.unit_awards,
                                                  Programme.year == b.year))
    if prog is None:
        return 0
    plan = act.plan_for(prog)
    rng = random.Random(seed * 7919 + 8)
    nominated = set(session.scalars(select(Entry.unit_id).where(Entry.stage_id == prog.stages[0].id,
                                                                Entry.kind == "unit")))
    now = utcnow()
    rows = []
    for du in b.units:
        odds = PARTICIPATION.get(du.role)
        if odds is None:
            continue
        boost = NOMINATED_BOOST if du.unit.id in nominated else 0.0
        engagement = rng.uniform(0.65, 1.05)     # units differ: some join nearly everything, some half
        diligence = rng.uniform(0.75, 1.05)
        for a in plan.activities:
            p_join = min(1.0, (odds[0] if a.kind == "theme" else odds[1]) * engagement + boost)
            if rng.random() >= p_join:
                continue
            events = max(1, round(rng.lognormvariate(0.8, 0.6))) if a.kind == "theme" else 1
            lo, hi = PEOPLE_PER_EVENT[a.kind]
            people = sum(rng.randint(lo, hi) for _ in range(events))
            media = rng.choice((0, 0, 1, 1, 2, 3, 5)) if a.kind == "theme" else rng.choice((0, 1))
            roll = rng.random()
            on_time = min(1.0, odds[2] * diligence + boost)
            if roll < on_time:
                filed = a.deadline - timedelta(days=rng.randint(0, 14))
            elif roll < on_time + (1 - on_time) * 0.7:
                filed = a.deadline + timedelta(days=rng.randint(1, 30))
            else:
                filed = None
            rows.append({"programme_id": prog.id, "unit_id": du.unit.id, "activity_code": a.code,
                         "events_held": events, "participants": people, "media_reports": media,
                         "materials_on": filed, "version": 1, "updated_at": now, "updated_by_id": None})
    if not rows:
        return 0
    session.execute(insert(ActivityReport), rows)
    ids = session.execute(select(ActivityReport.id, ActivityReport.unit_id, ActivityReport.activity_code)
                          .where(ActivityReport.programme_id == prog.id)).all()
    by_key = {(r["unit_id"], r["activity_code"]): r for r in rows}
    session.execute(insert(ActivityReportEvent), [
        {"report_id": rid, "action": "report", "actor": DEMO_ACTOR, "user_id": None, "old": None, "reason": None,
         "at": now, "new": {"events_held": by_key[(uid, code)]["events_held"],
                            "participants": by_key[(uid, code)]["participants"],
                            "media_reports": by_key[(uid, code)]["media_reports"],
                            "materials_on": by_key[(uid, code)]["materials_on"].isoformat()
                            if by_key[(uid, code)]["materials_on"] else None}}
        for rid, uid, code in ids])
    sync_computed(session, prog, Actor(DEMO_ACTOR))
    score_committee(session, prog, rng)
    return len(rows)


def score_committee(session, prog: Programme, rng: random.Random) -> int:
    """The committee's submitted sheets for every nominee (the judged criteria; the computed
    ones come from the reports), so the demo's award ranking is complete and an organiser can
    publish it. Units that joined more activities tend to be judged better, as the evidence
    they hand in is richer; each member has a mild bias of their own."""
    from datetime import datetime, time, timezone

    from scoring.sheets import format_number
    from services.demo import _mark, add_submitted_sheets
    from services.sheets import expected_judges_for, stage_rubric
    stage = prog.stages[0]
    entries = list(session.scalars(select(Entry).where(Entry.stage_id == stage.id, Entry.status == "active")
                                   .order_by(Entry.id)))
    expected = expected_judges_for(session, stage, entries)
    reports = session.execute(select(ActivityReport.unit_id, ActivityReport.activity_code)
                              .where(ActivityReport.programme_id == prog.id)).all()
    joined: dict[int, set[str]] = {}
    for unit_id, code in reports:
        joined.setdefault(unit_id, set()).add(code)
    total = len(act.plan_for(prog).activities) or 17
    bias = {j.id: rng.gauss(0, 0.03) for js in expected.values() for j in js}
    day = stage.ends_on or stage.starts_on
    specs = []
    for e in entries:
        rubric = stage_rubric(stage, e.category_id)
        share = len(joined.get(e.unit_id, ())) / total if e.kind == "unit" else rng.uniform(0.5, 1.0)
        quality = 0.55 + 0.35 * share + rng.gauss(0, 0.05)
        at = datetime.combine(day, time(2, 0), tzinfo=timezone.utc) + timedelta(minutes=rng.randint(0, 300))
        for judge in expected.get(e.id, []):
            marks = {c.id: format_number(_mark(rng, c, quality + bias[judge.id] + rng.gauss(0, 0.04)))
                     for c in rubric.judged_criteria}
            specs.append((e.id, judge.id, rubric, marks, at))
    return len(add_submitted_sheets(session, stage, specs))
