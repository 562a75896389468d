"""A small teacher-training session for tests: 贵州 host museum and normal university, six
trainees from three schools, five instructors on the two scoring panels (one instructor
teaches at a trainee's school: a conflict), ten half-day slots, instructor tokens."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

from extensions import db
from models import (Judge, JudgeToken, Panel, PanelMember, PanelRole, Person, Trainee, Unit,
                    ensure_provinces)
from services import sheets as svc
from services import training
from services.programme_templates import create_from_template

TRAINEES = [  # external id, name, school key, phone
    ("T001", "李红", "s1", "13900000001"), ("T002", "王芳", "s1", "13900000002"),
    ("T003", "张伟", "s2", "13900000003"), ("T004", "刘洋", "s2", "13900000004"),
    ("T005", "陈静", "s3", "13900000005"), ("T006", "杨帆", "s3", "13900000006"),
]


def build_training(year: int = 2026, name: str | None = None, tag: str = "") -> SimpleNamespace:
    """`tag` tells the units of several sessions apart (units are shared across programmes)."""
    provinces = ensure_provinces(db.session)
    gz = provinces["52"]
    units = {
        "host": Unit(external_id=f"U52-H{tag}", name=f"贵州省科技馆{tag}", kind="科技馆", province_id=gz.id),
        "univ": Unit(external_id=f"U52-N{tag}", name=f"贵州师范大学{tag}", kind="高校", province_id=gz.id),
        "s1": Unit(external_id=f"U52-S1{tag}", name=f"贵阳市实验小学{tag}", kind="学校", province_id=gz.id),
        "s2": Unit(external_id=f"U52-S2{tag}", name=f"遵义市第一中学{tag}", kind="学校", province_id=gz.id),
        "s3": Unit(external_id=f"U52-S3{tag}", name=f"安顺市实验学校{tag}", kind="学校", province_id=gz.id),
    }
    db.session.add_all(units.values())
    db.session.flush()
    prog = create_from_template(db.session, "teacher_training", year=year,
                                name=name or f"{year}年科学教师培训（第7期·贵州站）",
                                host=units["host"].name, partner=units["univ"].name,
                                starts_on=date(year, 7, 13), ends_on=date(year, 7, 17))
    sch = training.ensure_structure(db.session, prog)
    w = SimpleNamespace(prog=prog, stage=sch.stage, scheme=sch, units=units, trainees=[], instructors=[])
    for ext, pname, school, phone in TRAINEES:
        unit = units[school]
        person = Person(name=pname, unit_id=unit.id, phone=phone)
        db.session.add(person)
        db.session.flush()
        t = Trainee(programme_id=prog.id, external_id=ext, person_id=person.id, unit_id=unit.id,
                    subject="科学", district="示例区")
        db.session.add(t)
        w.trainees.append(t)
    db.session.flush()
    training.sync_entries(db.session, prog, sch)
    staff = [("TJ01", "周教授", "univ"), ("TJ02", "吴副教授", "univ"), ("TJ03", "郑馆员", "host"),
             ("TJ04", "孙馆员", "host"), ("TJ05", "钱老师", "s1")]   # 钱老师 teaches at 李红's and 王芳's school
    for ext, pname, unit_key in staff:
        unit = units[unit_key]
        person = Person(name=pname, unit_id=unit.id)
        db.session.add(person)
        db.session.flush()
        j = Judge(programme_id=prog.id, external_id=ext, person_id=person.id, unit_id=unit.id,
                  province_id=unit.province_id)
        db.session.add(j)
        w.instructors.append(j)
    db.session.flush()
    w.panels = {}
    for comp_id, cat in sch.scored.items():
        panel = Panel(stage_id=sch.stage.id, category_id=cat.id, name=f"{cat.name}专家组")
        for i, j in enumerate(w.instructors):
            panel.members.append(PanelMember(judge_id=j.id, role=PanelRole.chief if i == 0 else PanelRole.member))
        db.session.add(panel)
        w.panels[comp_id] = panel
    w.tokens = []
    for j in w.instructors:
        row, plain = JudgeToken.issue(j.id, sch.stage.id)
        db.session.add(row)
        w.tokens.append((j, plain))
    w.slots = training.ensure_slots(db.session, prog)
    db.session.commit()
    return w


def entry_of(w, trainee: Trainee, comp_id: str):
    from sqlalchemy import select

    from models import Entry
    cat = w.scheme.scored[comp_id]
    return db.session.scalar(select(Entry).where(Entry.stage_id == w.stage.id, Entry.category_id == cat.id,
                                                 Entry.person_id == trainee.person_id))


def score(w, trainee: Trainee, comp_id: str, fraction: Decimal | str, judges=None) -> None:
    """Every (non-conflicted) instructor submits a sheet giving each criterion `fraction` of
    its maximum, rounded down to the criterion's step."""
    fraction = Decimal(str(fraction))
    entry = entry_of(w, trainee, comp_id)
    rubric = svc.stage_rubric(w.stage, entry.category_id)
    scores = {}
    for c in rubric.judged_criteria:
        raw = c.max * fraction
        scores[c.id] = float((raw // c.step) * c.step)
    for j in judges or w.instructors:
        if j.unit_id == trainee.unit_id:
            continue
        svc.put_sheet(db.session, j, w.stage, entry.id, {"scores": scores, "status": "submitted"},
                      svc.Actor(label=f"评委 {j.external_id}", judge_id=j.id))
    db.session.commit()


def attend(w, trainee: Trainee, present: int, excused: int = 0) -> None:
    """Mark the first `present` slots present, the next `excused` excused (with approved
    leave), the rest absent."""
    for i, slot in enumerate(w.slots):
        if i < present:
            training.set_mark(db.session, w.prog, trainee.id, slot.id, "present", source="tablet", actor="test")
        elif i < present + excused:
            leave = training.request_leave(db.session, w.prog, trainee.id, slot.id, "病假", actor="test")
            training.decide_leave(db.session, w.prog, leave.id, True, actor="test")
        else:
            training.set_mark(db.session, w.prog, trainee.id, slot.id, "absent", source="tablet", actor="test")
    db.session.commit()
