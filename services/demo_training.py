"""The demo's teacher-training year: the session built by the demo builder plus further
sessions in other provinces, each run to the end — half-day attendance (tablet and QR
check-ins, approved leave), coursework marks, the instructors' sheets on course designs and
presentations, outcomes, the 结业名单 published and finalised, 结业证书 issued — so the national
organiser's cross-session report has something to compare.

Two sessions are deliberately out of line: one whose instructors marked everyone alike (a
narrow, high distribution), one with poor attendance (a low completion rate). Deterministic
for the seed, on its own random stream (the data built before is unchanged)."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time as dtime, timedelta, timezone

from sqlalchemy import select

from models import (AttendanceMark, AttendanceStatus, ComponentMark, Entry, Half, LeaveRequest, LeaveStatus, Panel,
                    PanelMember, PanelRole, Trainee)
from services import training as svc

DEMO_ACTOR = "演示数据"
EXTRA_SESSIONS = 11        # 2024 ran 24 sessions; the demo runs 12
SESSION_SIZE = (28, 46)
INSTRUCTORS = 5
LEAVE_REASONS = ("学校教学任务", "病假", "家中有事", "参加区教研活动", "学校监考安排")


@dataclass
class TrainingYear:
    sessions: int
    trainees: int
    passed: int
    excellent: int
    sheets: int
    certificate_rows: list[dict]
    main_name: str
    judge_rows: list[dict]

    def summary(self) -> str:
        return (f"· 教师培训：{self.sessions} 期，学员 {self.trainees} 人，结业 {self.passed} 人（优秀学员 "
                f"{self.excellent} 人），专家评分表 {self.sheets} 份；{self.main_name}已颁发结业证书 "
                f"{len(self.certificate_rows)} 张；各期对比见 /training/report")


def _levels(rng: random.Random, kind: str) -> tuple[float, float, float]:
    """(trainee quality, its spread, judge noise) for a session's kind."""
    if kind == "lenient":
        return 0.93, 0.015, 0.01
    if kind == "harsh":
        return 0.66, 0.08, 0.05
    return rng.uniform(0.76, 0.82), 0.08, 0.05


def _attendance(session, rng: random.Random, trainees: list[Trainee], slots, kind: str) -> None:
    marks, leaves = [], []
    for t in trainees:
        if kind == "absent":
            p = rng.choice((0.55, 0.65, 0.7, 0.75, 0.95))
        else:
            p = 1.0 if rng.random() < 0.7 else rng.choice((0.9, 0.85, 0.7))
        for s in slots:
            at = datetime.combine(s.day, dtime(0 if s.half == Half.am else 5, 50), tzinfo=timezone.utc) \
                + timedelta(minutes=rng.randint(0, 15))
            r = rng.random()
            if r < p:
                marks.append(AttendanceMark(trainee_id=t.id, slot_id=s.id, status=AttendanceStatus.present,
                                            source="qr" if rng.random() < 0.8 else "tablet",
                                            marked_by=t.person.name, marked_at=at))
            elif rng.random() < 0.4:
                leaves.append(LeaveRequest(trainee_id=t.id, slot_id=s.id, reason=rng.choice(LEAVE_REASONS),
                                           status=LeaveStatus.approved, requested_at=at - timedelta(days=1),
                                           decided_by=DEMO_ACTOR, decided_at=at - timedelta(hours=20)))
                marks.append(AttendanceMark(trainee_id=t.id, slot_id=s.id, status=AttendanceStatus.excused,
                                            source="leave", marked_by=DEMO_ACTOR, marked_at=at))
            else:
                marks.append(AttendanceMark(trainee_id=t.id, slot_id=s.id, status=AttendanceStatus.absent,
                                            source="tablet", marked_by=DEMO_ACTOR, marked_at=at))
    session.add_all(marks + leaves)


def _sheets(session, rng: random.Random, prog, sch, quality: dict[int, float], noise: float) -> int:
    """Every expected instructor's submitted sheet for every scored entry."""
    from scoring.sheets import format_number
    from services.demo import _mark, add_submitted_sheets
    from services.sheets import expected_judges_for, stage_rubric
    stage = sch.stage
    entries = list(session.scalars(select(Entry).where(Entry.stage_id == stage.id, Entry.status == "active")))
    expected = expected_judges_for(session, stage, entries)
    bias = {j.id: rng.gauss(0, noise * 0.6) for js in expected.values() for j in js}
    rubrics = {cid: stage_rubric(stage, cid) for cid in {e.category_id for e in entries}}
    specs = []
    for e in entries:
        rubric = rubrics[e.category_id]
        at = datetime.combine(prog.ends_on - timedelta(days=1 if e.category.code == "course_design" else 0),
                              dtime(6, 0), tzinfo=timezone.utc) + timedelta(minutes=rng.randint(0, 180))
        for judge in expected[e.id]:
            level = quality[e.person_id] + bias[judge.id]
            marks = {c.id: format_number(_mark(rng, c, level + rng.gauss(0, noise))) for c in rubric.judged_criteria}
            specs.append((e.id, judge.id, rubric, marks, at))
    return len(add_submitted_sheets(session, stage, specs))


def _run(session, rng: random.Random, prog, kind: str) -> tuple[svc.SessionOutcome, int]:
    sch = svc.ensure_structure(session, prog)
    svc.sync_entries(session, prog, sch)
    trainees = svc.trainees_of(session, prog, active_only=True)
    slots = svc.ensure_slots(session, prog)
    _attendance(session, rng, trainees, slots, kind)
    mean, spread, noise = _levels(rng, kind)
    quality = {t.person_id: min(0.99, max(0.35, rng.gauss(mean, spread))) for t in trainees}
    work = [c for c in sch.rubric.components if c.source == "score"]
    session.add_all([ComponentMark(trainee_id=t.id, component_id=c.id, entered_by=DEMO_ACTOR,
                                   score=str(max(0, min(int(c.max), round(float(c.max) * (quality[t.person_id]
                                                                                           + rng.gauss(0, 0.05)))))))
                     for t in trainees for c in work])
    session.flush()
    n = _sheets(session, rng, prog, sch, quality, noise)
    session.flush()
    return svc.outcomes(session, prog), n


def _publish(session, prog, so) -> object:
    from services import publication as pubs
    snap = svc.outcome_snapshot(session, prog, so)
    pub = pubs.create_draft(session, so.scheme.stage, category_id=so.scheme.roster_category.id, actor=DEMO_ACTOR,
                            snapshot=snap, title=f"{prog.name} 结业及优秀学员名单")
    publish_on = prog.ends_on + timedelta(days=3)
    while publish_on.weekday() != 0:
        publish_on += timedelta(days=1)
    pubs.publish(session, pub, DEMO_ACTOR, days=5, today=publish_on)
    pubs.finalise(session, pub, DEMO_ACTOR, today=pub.objection_until + timedelta(days=1))
    return pub


def _tokens(session, prog, instructors, stage, base_url: str) -> list[dict]:
    """judges.csv rows for a session's instructors (their sheets stay readable on the tablet)."""
    from models import JudgeToken
    from services.judge_access import new_pin
    rows, base = [], base_url.rstrip("/")
    for j in instructors:
        token, plain = JudgeToken.issue(j.id, stage.id)
        pin, token.pin_hash = new_pin(session)
        session.add(token)
        session.flush()
        rows.append({"judge_id": j.id, "name": j.person.name, "stage": stage.name, "token": plain,
                     "login_url": f"{base}/j/{plain}", "pin": pin})
    return rows


def _extra_session(session, b, rng: random.Random, k: int, code: str, base_url: str, judge_rows: list[dict]):
    """Another session: host museum and normal university of `code`, trainees from its schools."""
    from services.demo import _monday_in_july
    from services.programme_templates import create_from_template
    prov = b.provinces[code]
    host = b.units_of(code, "provincial")[0]
    partner = (b.units_of(code, "normal_univ") or [None])[0] or b.add_unit(code, "normal_univ")
    schools = b.units_of(code, "school")
    while len(schools) < 6:
        du = b.add_unit(code, "school")
        if du is None:
            break
        schools.append(du)
    session.add_all(u.unit for u in b.units if u.unit.id is None)
    session.flush()
    start = _monday_in_july(b.year) + timedelta(weeks=(k - 1) // 2)   # two sessions a week, July-August
    prog = create_from_template(session, "teacher_training", year=b.year,
                                name=f"{b.year}年科学教师培训（第{k}期·{prov.short_name}站）",
                                host=host.unit.name, partner=partner.unit.name,
                                starts_on=start, ends_on=start + timedelta(days=4))
    stage = prog.stages[0]
    stage.starts_on, stage.ends_on = prog.starts_on, prog.ends_on
    from services.demo import TRAINEE_SUBJECTS
    trainees = []
    for i in range(max(10, round(rng.randint(*SESSION_SIZE) * min(1.0, b.scale * 3)))):
        du = rng.choice(schools)
        person = b.person(0.62, du.unit)
        person.phone = f"138{(k * 100003 + i * 7919) % 100000000:08d}"
        trainees.append(Trainee(programme_id=prog.id, external_id=f"T{i + 1:03d}", person=person, unit_id=du.unit.id,
                                subject=TRAINEE_SUBJECTS[i % len(TRAINEE_SUBJECTS)], grade="小学" if i % 3 else "初中"))
    instructors = [b._judge(prog, f"TJ{i + 1:02d}", partner if i < 2 else host, 0.55,
                            title=("教授", "副教授")[i] if i < 2 else None, expertise=["trainee"])
                   for i in range(INSTRUCTORS)]
    session.add_all(trainees + instructors)
    session.flush()
    sch = svc.ensure_structure(session, prog)
    for cat in sch.scored.values():
        panel = Panel(stage_id=stage.id, category_id=cat.id, name=f"{cat.name}专家组")
        for i, j in enumerate(instructors):
            panel.members.append(PanelMember(judge_id=j.id, role=PanelRole.chief if i == 0 else PanelRole.member))
        session.add(panel)
    session.flush()
    judge_rows += _tokens(session, prog, instructors, stage, base_url)
    return prog


def finish_training(session, b, seed: int, base_url: str) -> TrainingYear:
    from services import certificates as certs
    rng = random.Random(f"demo-training-{seed}")
    saved_rng, b.rng = b.rng, rng            # unit and person names for the extra sessions
    try:
        main = b.training_prog
        so, sheets = _run(session, rng, main, "normal")
        pub = _publish(session, main, so)
        from services.demo import date_certificates
        date_certificates(session, main, pub.objection_until + timedelta(days=1))
        issued = certs.issue_for_publication(session, pub, DEMO_ACTOR)
        rows = [{"serial": c.serial, "name": c.holder_name, "award": c.award_name,
                 "verify_url": certs.verify_url(c, base_url), "download_url": certs.download_url(c, base_url)}
                for c in issued]
        outcomes = [so]
        extra = max(2, round(EXTRA_SESSIONS * b.scale))
        codes = [c for c in sorted(b.by_province, key=lambda c: -b.weight(c, 1.0)) if c != b.training_code][:extra]
        odd = {3: "lenient", 8: "absent"}
        judge_rows: list[dict] = []
        for k, code in enumerate(codes, start=2):
            prog = _extra_session(session, b, rng, k, code, base_url, judge_rows)
            so_k, n = _run(session, rng, prog, odd.get(k, "normal"))
            _publish(session, prog, so_k)
            sheets += n
            outcomes.append(so_k)
    finally:
        b.rng = saved_rng
    counts = [o.counts() for o in outcomes]
    return TrainingYear(sessions=len(outcomes), trainees=sum(len(o.rows) for o in outcomes),
                        passed=sum(c["passed"] for c in counts), excellent=sum(c["excellent"] for c in counts),
                        sheets=sheets, certificate_rows=rows, main_name=main.name, judge_rows=judge_rows)
