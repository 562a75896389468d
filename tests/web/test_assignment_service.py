"""services.assignment on a small competition built here: panels, reviews, locks,
infeasibility, placement, draws. Every plan is checked pair by pair with the conflict index."""
from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from extensions import db
from models import (Assignment, AssignmentRun, DeclaredRelation, DrawRecord, Entry, Judge, Panel, PanelMember,
                    PanelRole, Person, Province, ReassignmentFlag, RelationKind, Unit)
from scoring.draw import verify_draw
from services import assignment as svc
from services.conflicts import stage_conflict_index

UNITS = [  # external id, name, province code
    ("U01", "贵州省科技馆", "52"), ("U02", "贵阳市科技馆", "52"), ("U03", "云南省科技馆", "53"),
    ("U04", "四川科技馆", "51"), ("U05", "北京科学中心", "11"), ("U06", "中国科学技术馆", "11"),
    ("U07", "四川大学", "51"), ("U08", "云南师范大学", "53"), ("U09", "贵阳市第一中学", "52"),
    ("U10", "昆明市第一中学", "53"), ("U11", "成都市第七中学", "51"),
]
JUDGES = [  # external id, name, unit, teacher, expertise
    ("J01", "黔一", "U01", False, "exhibit"), ("J02", "筑二", "U02", False, "experiment"),
    ("J03", "滇三", "U03", False, "exhibit,experiment"), ("J04", "蜀四", "U04", False, "展品辅导"),
    ("J05", "京五", "U05", False, "exhibit"), ("J06", "京六", "U06", False, "experiment"),
    ("J07", "蜀七", "U07", False, ""), ("J08", "滇八", "U08", False, "exhibit"),
    ("T01", "黔师", "U09", True, "experiment"), ("T02", "滇师", "U10", True, "course"),
    ("T03", "蜀师", "U11", True, "experiment"),
]
REGIONAL = [  # external id, title, category, unit (division = the unit's province)
    ("R01", "会呼吸的岩石", "exhibit", "U01"), ("R02", "天眼之问", "exhibit", "U02"),
    ("R03", "喀斯特的秘密", "exhibit", "U01"), ("R04", "大象鼻子", "experiment", "U02"),
    ("R05", "水的张力", "experiment", "U01"), ("R06", "滇池的鸟", "exhibit", "U03"),
    ("R07", "元谋人的火", "exhibit", "U03"),
]
NATIONAL = [  # the national preliminary review: entries from four provinces
    ("N01", "会呼吸的岩石", "exhibit", "U01"), ("N02", "天眼之问", "exhibit", "U02"),
    ("N03", "滇池的鸟", "exhibit", "U03"), ("N04", "熊猫的竹子", "exhibit", "U04"),
    ("N05", "冰墩墩的冰", "experiment", "U05"), ("N06", "大象鼻子", "experiment", "U02"),
    ("N07", "火锅的热", "experiment", "U04"), ("N08", "元谋人的火", "experiment", "U03"),
]


def _entries(prog, stage, rows, units, by_code):
    cats = {c.code: c for c in prog.categories}
    divs = {d.province_id: d for d in prog.divisions}
    out = {}
    for ext, title, cat, unit in rows:
        u = units[unit]
        person = Person(name=f"选手{ext}", unit_id=u.id)
        db.session.add(person)
        db.session.flush()
        e = Entry(stage_id=stage.id, category_id=cats[cat].id, external_id=ext, title=title, kind="individual",
                  person_id=person.id, unit_id=u.id, province_id=u.province_id, division_id=divs[u.province_id].id)
        db.session.add(e)
        out[ext] = e
    db.session.flush()
    return out


def build(prog):
    provinces = {p.code: p for p in db.session.scalars(select(Province))}
    units = {}
    for ext, name, code in UNITS:
        units[ext] = Unit(external_id=ext, name=name, province_id=provinces[code].id)
        db.session.add(units[ext])
    db.session.flush()
    judges = {}
    for ext, name, unit, teacher, expertise in JUDGES:
        person = Person(name=name, unit_id=units[unit].id)
        judges[ext] = Judge(programme_id=prog.id, external_id=ext, person=person, unit_id=units[unit].id,
                            province_id=units[unit].province_id, is_school_teacher=teacher, expertise=expertise)
        db.session.add(judges[ext])
    db.session.flush()
    regional, prelim, final = prog.stages
    ns = SimpleNamespace(prog=prog, regional=regional, prelim=prelim, final=final, units=units, judges=judges,
                         divisions={d.province.code: d for d in prog.divisions},
                         categories={c.code: c for c in prog.categories})
    ns.r = _entries(prog, regional, REGIONAL, units, ns.categories)
    ns.n = _entries(prog, prelim, NATIONAL, units, ns.categories)
    db.session.commit()
    return ns


@pytest.fixture
def small(competition):
    return build(competition)


def _members(stage):
    return {p.name: sorted((m.judge.external_id, m.role.value, m.locked) for m in p.members)
            for p in db.session.scalars(select(Panel).where(Panel.stage_id == stage.id))}


def _assert_panels_valid(stage, size, teacher_seats=1):
    index = stage_conflict_index(db.session, stage)
    panels = db.session.scalars(select(Panel).where(Panel.stage_id == stage.id)).all()
    assert panels
    for p in panels:
        members = p.members
        assert len(members) == size, p.name
        roles = Counter(m.role for m in members)
        assert roles[PanelRole.chief] == 1, p.name
        chief = next(m for m in members if m.role == PanelRole.chief)
        assert not chief.judge.is_school_teacher
        assert roles[PanelRole.teacher_seat] >= teacher_seats
        assert all(m.judge.is_school_teacher for m in members if m.role == PanelRole.teacher_seat)
        assert len({m.judge.unit_id for m in members}) == size, f"{p.name}: two judges of one unit"
        for m in members:                      # pair by pair, independently of the solver
            for e in svc.panel_scope(db.session, p):
                assert not index.is_hard(m.judge_id, e.id), (p.name, m.judge.external_id, e.external_id)
    return panels


def test_panels_complete_with_chief_and_teacher_and_no_conflict(small):
    run = svc.run_panels(db.session, small.regional, size=4, teacher_seats=1, max_panels=2, seed=7)
    assert run.status == "applied", run.summary
    panels = _assert_panels_valid(small.regional, 4)
    assert sorted(p.name for p in panels) == ["云南赛区·展品辅导", "贵州赛区·展品辅导", "贵州赛区·科学实验"]
    s = run.summary
    assert s["panels"] == 3 and s["violations"] == 0 and s["seats"] == 12 and 1 <= s["load_max"] <= 2
    assert run.seed == "7" and run.parameters["size"] == 4 and run.parameters["by"] == ["division", "category"]
    # the same seed on the same data gives the same panels
    before = _members(small.regional)
    again = svc.run_panels(db.session, small.regional, size=4, teacher_seats=1, max_panels=2, seed=7,
                           keep_previous=False)
    assert again.status == "applied" and _members(small.regional) == before


def test_locks_survive_a_rerun(small):
    svc.run_panels(db.session, small.regional, size=4, max_panels=3, seed=1)
    gz = db.session.scalar(select(Panel).filter_by(stage_id=small.regional.id, name="贵州赛区·展品辅导"))
    yn = db.session.scalar(select(Panel).filter_by(stage_id=small.regional.id, name="云南赛区·展品辅导"))
    # the organiser makes 京五 chief of the Guizhou exhibit panel by hand ...
    for m in list(gz.members):
        if m.judge.external_id == "J05" or m.role == PanelRole.chief:
            svc.remove_placement(db.session, m)
    placed = svc.place_judge(db.session, gz, small.judges["J05"], role="chief")
    assert placed.locked and placed.role == PanelRole.chief
    # ... and locks the Yunnan panel's teacher where the solver put her
    teacher = next(m for m in yn.members if m.role == PanelRole.teacher_seat)
    svc.set_locked(db.session, teacher, True)
    kept_teacher = teacher.judge.external_id
    for seed in (2, 3, 99):
        run = svc.run_panels(db.session, small.regional, size=4, max_panels=3, seed=seed, keep_previous=False)
        assert run.status == "applied", run.summary
        assert run.parameters["locks"] == 2
        members = _members(small.regional)
        assert ("J05", "chief", True) in members["贵州赛区·展品辅导"]
        assert (kept_teacher, "teacher_seat", True) in members["云南赛区·展品辅导"]
        _assert_panels_valid(small.regional, 4)


def test_infeasible_is_explained_and_changes_nothing(small):
    svc.run_panels(db.session, small.regional, size=4, max_panels=2, seed=5)
    before = _members(small.regional)
    run = svc.run_panels(db.session, small.regional, size=10, max_panels=3, seed=5)
    assert run.status == "infeasible"
    reasons = run.summary["reasons"]
    text = "\n".join(r["message"] for r in reasons)
    # the Guizhou panels lose the two Guizhou museums' judges: too few left for 9 seats
    assert "评审组 贵州赛区·展品辅导: 只有 9 名评委可任（需要 10 名）" in text and "2 名同单位" in text
    assert any(r["about"] == "panel" and r["subject"] == "贵州赛区·展品辅导" for r in reasons)
    assert _members(small.regional) == before
    runs = db.session.scalars(select(AssignmentRun).order_by(AssignmentRun.id)).all()
    assert [r.status for r in runs] == ["applied", "infeasible"]


def test_infeasible_names_judges_by_name_not_database_id(small):
    # a lock that conflicts: 黔一 (贵州省科技馆) locked on the Guizhou exhibit panel
    svc.run_panels(db.session, small.regional, size=4, max_panels=2, seed=5)
    gz = db.session.scalar(select(Panel).filter_by(stage_id=small.regional.id, name="贵州赛区·展品辅导"))
    gz.members.append(PanelMember(judge_id=small.judges["J01"].id, role=PanelRole.member, locked=True))
    db.session.commit()
    run = svc.run_panels(db.session, small.regional, size=4, max_panels=2, seed=5)
    assert run.status == "infeasible"
    text = "\n".join(r["message"] for r in run.summary["reasons"])
    assert "黔一（J01）" in text and "贵州省科技馆" in text and "R01《会呼吸的岩石》" in text


def test_other_scope_panels_are_replaced_unless_locked(small):
    old = Panel(stage_id=small.regional.id, name="贵州赛区评委组", division_id=small.divisions["52"].id)
    old.members.append(PanelMember(judge_id=small.judges["J05"].id, role=PanelRole.chief))
    db.session.add(old)
    db.session.commit()
    run = svc.run_panels(db.session, small.regional, size=4, max_panels=2, seed=3)
    assert run.status == "applied" and run.summary["removed_panels"] == ["贵州赛区评委组"]
    assert "贵州赛区评委组" not in _members(small.regional)
    # a locked member on a panel of another scope blocks the run, with the reason
    other = Panel(stage_id=small.regional.id, name="备用组")
    other.members.append(PanelMember(judge_id=small.judges["J06"].id, role=PanelRole.member, locked=True))
    db.session.add(other)
    db.session.commit()
    before = _members(small.regional)
    run = svc.run_panels(db.session, small.regional, size=4, max_panels=2, seed=3)
    assert run.status == "infeasible"
    assert "备用组" in run.summary["reasons"][0]["message"] and "京六（J06）" in run.summary["reasons"][0]["message"]
    assert _members(small.regional) == before


def _assert_reviews_valid(stage, per_entry, lo, hi):
    index = stage_conflict_index(db.session, stage)
    rows = db.session.scalars(select(Assignment).where(Assignment.stage_id == stage.id)).all()
    per = Counter(a.entry_id for a in rows)
    load = Counter(a.judge_id for a in rows)
    entries = db.session.scalars(select(Entry).where(Entry.stage_id == stage.id)).all()
    assert all(per[e.id] == per_entry for e in entries)
    assert all(lo <= n <= hi for n in load.values())
    for a in rows:
        assert not index.is_hard(a.judge_id, a.entry_id), (a.judge.external_id, a.entry.external_id)
    return rows


def test_review_assignment_loads_within_bounds_and_locks_kept(small):
    stage = small.prelim
    assert svc.stage_design(stage) == "reviews" and stage.avoid_province
    run = svc.run_reviews(db.session, stage, per_entry=3, min_load=2, max_load=3, seed=11)
    assert run.status == "applied", run.summary
    rows = _assert_reviews_valid(stage, 3, 2, 3)
    assert len(rows) == 24 and run.summary["violations"] == 0
    assert 2 <= run.summary["load_min"] <= run.summary["load_max"] <= 3
    # an organiser's manual placement is locked and survives re-runs with other seeds
    n04 = small.n["N04"]     # 熊猫的竹子, 四川: 京五 may review it
    j05 = small.judges["J05"]
    existing = db.session.scalar(select(Assignment).filter_by(judge_id=j05.id, entry_id=n04.id))
    if existing is not None:
        svc.remove_placement(db.session, existing)
    placed = svc.place_judge(db.session, n04, j05)
    assert placed.locked and placed.source == "manual"
    for seed in (12, 13):
        run = svc.run_reviews(db.session, stage, per_entry=3, min_load=2, max_load=3, seed=seed, keep_previous=False)
        assert run.status == "applied" and run.parameters["locks"] == 1
        assert db.session.scalar(select(Assignment).filter_by(judge_id=j05.id, entry_id=n04.id, locked=True))
        _assert_reviews_valid(stage, 3, 2, 3)


def test_review_infeasible_names_the_entry_and_why(small):
    stage = small.prelim
    svc.run_reviews(db.session, stage, per_entry=3, seed=1)
    before = sorted(db.session.execute(select(Assignment.judge_id, Assignment.entry_id)).all())
    run = svc.run_reviews(db.session, stage, per_entry=9, seed=1)
    assert run.status == "infeasible"
    text = "\n".join(r["message"] for r in run.summary["reasons"])
    # N01 (贵州): 11 judges, 3 from Guizhou avoided (same province) -> only 8 eligible
    assert "N01《会呼吸的岩石》: 只有 8 名评委可评（需要 9 名）" in text and "同省" in text
    assert sorted(db.session.execute(select(Assignment.judge_id, Assignment.entry_id)).all()) == before


def test_place_judge_refuses_conflicts_with_the_reason(small):
    svc.run_panels(db.session, small.regional, size=4, max_panels=2, seed=5)
    gz = db.session.scalar(select(Panel).filter_by(stage_id=small.regional.id, name="贵州赛区·展品辅导"))
    with pytest.raises(svc.PlacementRefused) as exc:
        svc.place_judge(db.session, gz, small.judges["J02"])
    assert "筑二（J02）须回避" in exc.value.message and "贵阳市科技馆" in exc.value.message
    # a declared relation is a conflict too
    db.session.add(DeclaredRelation(judge_id=small.judges["J07"].id, kind=RelationKind.teacher_student,
                                    entry_id=small.r["R03"].id, note="本科导师"))
    db.session.commit()
    if any(m.judge.external_id == "J07" for m in gz.members):
        svc.remove_placement(db.session, next(m for m in gz.members if m.judge.external_id == "J07"))
    with pytest.raises(svc.PlacementRefused) as exc:
        svc.place_judge(db.session, gz, small.judges["J07"])
    assert "师生关系" in exc.value.message and "本科导师" in exc.value.message
    # review designs: per entry
    with pytest.raises(svc.PlacementRefused) as exc:
        svc.place_judge(db.session, small.n["N03"], small.judges["J08"])   # 云南 judge, 云南 entry
    assert "同属“云南”" in exc.value.message
    with pytest.raises(svc.PlacementRefused):
        svc.place_judge(db.session, small.r["R01"], small.judges["J05"])   # live round: by panel only


def test_placement_resolves_a_reassignment_flag(small):
    stage = small.prelim
    svc.run_reviews(db.session, stage, per_entry=3, seed=2)
    n02 = small.n["N02"]
    a = db.session.scalars(select(Assignment).filter_by(entry_id=n02.id)).first()
    judge = a.judge
    db.session.delete(a)
    flag = ReassignmentFlag(stage_id=stage.id, entry_id=n02.id, judge_id=judge.id, reason="评委申报亲属关系")
    db.session.add(flag)
    db.session.commit()
    taken = set(db.session.scalars(select(Assignment.judge_id).filter_by(entry_id=n02.id))) | {judge.id}
    index = stage_conflict_index(db.session, stage)
    other = next(j for j in small.judges.values() if j.id not in taken and not index.is_hard(j.id, n02.id))
    svc.place_judge(db.session, n02, other)
    assert db.session.get(ReassignmentFlag, flag.id).resolved_at is not None


def test_draw_is_reproducible_from_the_recorded_seeds(small):
    stage = small.regional
    records = svc.draw_stage(db.session, stage)
    orders = [r for r in records if r.kind == "order"]
    assert len(orders) == 3            # (贵州, exhibit), (贵州, experiment), (云南, exhibit)
    for rec in orders:
        order = rec.result["order"]
        assert verify_draw(rec.entry_ids, int(rec.seed), order) and svc.verify_record(rec)
        numbers = [db.session.get(Entry, eid).draw_number for eid in order]
        assert numbers == list(range(1, len(order) + 1))
        assert rec.result["redraw"] is False
    # redrawing needs a reason, which is recorded
    with pytest.raises(svc.DrawRefused) as exc:
        svc.draw_stage(db.session, stage)
    assert "理由" in exc.value.message
    assert db.session.query(DrawRecord).count() == 3
    again = svc.draw_stage(db.session, stage, seed=2024, reason="选手报到后发现名单有误")
    assert all(r.result["redraw"] and r.result["reason"] == "选手报到后发现名单有误" for r in again)
    assert all(svc.verify_record(r) for r in again)
    # a master seed reproduces every group's order
    first = {(r.division_id, r.category_id): r.result["order"] for r in again}
    third = svc.draw_stage(db.session, stage, seed=2024, reason="复核")
    assert {(r.division_id, r.category_id): r.result["order"] for r in third} == first


def test_draw_gives_anonymous_codes_once(small):
    stage = small.prelim
    assert stage.anonymous and not stage.by_division
    records = svc.draw_stage(db.session, stage)
    codes = next(r for r in records if r.kind == "codes")
    entries = db.session.scalars(select(Entry).where(Entry.stage_id == stage.id)).all()
    assert all(e.anonymous_code and len(e.anonymous_code) == 6 for e in entries)
    assert len({e.anonymous_code for e in entries}) == len(entries)
    assert svc.verify_record(codes)
    before = {e.id: e.anonymous_code for e in entries}
    svc.draw_stage(db.session, stage, reason="重新抽签")
    assert {e.id: e.anonymous_code for e in entries} == before     # codes are never redrawn


def test_home_division_uses_local_judges_only(small):
    run = svc.run_panels(db.session, small.regional, size=2, teacher_seats=1, home_division=True, seed=4)
    assert run.status == "infeasible"       # Guizhou's two museum judges both have entries
    text = "\n".join(r["message"] for r in run.summary["reasons"])
    assert "评审组 贵州赛区·展品辅导: 只有 1 名评委可任" in text and "属其他赛区" in text
    gz = db.session.scalar(select(Province).filter_by(code="52"))
    for ext, name in (("U12", "贵州大学"), ("U13", "贵州省科学技术协会")):
        unit = Unit(external_id=ext, name=name, province_id=gz.id)
        db.session.add(unit)
        db.session.flush()
        db.session.add(Judge(programme_id=small.prog.id, external_id=f"J{ext}", person=Person(name=name[:2] + "评委"),
                             unit_id=unit.id, province_id=gz.id))
    db.session.commit()
    run = svc.run_panels(db.session, small.regional, size=2, teacher_seats=1, home_division=True, seed=4)
    assert run.status == "applied", run.summary
    assert run.parameters["max_panels"] == 2      # the number of panels in one division
    for p in db.session.scalars(select(Panel).where(Panel.stage_id == small.regional.id)):
        assert all(m.judge.province_id == p.division.province_id for m in p.members), p.name
    _assert_panels_valid(small.regional, 2)


def test_export_data_hide_contestants_in_anonymous_stages(small):
    svc.run_reviews(db.session, small.prelim, per_entry=3, seed=3)
    svc.draw_stage(db.session, small.prelim)
    data = svc.schedule_data(db.session, small.prelim)
    assert data["anonymous"] and data["judges"]
    for j in data["judges"]:
        for s in j["sessions"]:
            for e in s["entries"]:
                assert e["code"] and e["title"] and e["contestant"] == "" and e["unit"] == "" and e["external_id"] == ""
    assert sum(j["total"] for j in data["judges"]) == 24


@pytest.mark.parametrize("message,expected", [
    ("17: 只有 3 名评委可评（需要 5 名）：共 60 名评委，12 名同单位",
     "E0017《岩石》: 只有 3 名评委可评（需要 5 名）：共 60 名评委，12 名同单位"),
    ("评委 4: 只有 2 件作品可评，低于最低工作量 30", "评委 王芳（J0004）: 只有 2 件作品可评，低于最低工作量 30"),
    ("评审组 贵州赛区·展品辅导: 锁定的评委 4 与选手 17 冲突：评委与选手同属“贵州省科技馆”",
     "评审组 贵州赛区·展品辅导: 锁定的评委 王芳（J0004） 与选手 E0017《岩石》 冲突：评委与选手同属“贵州省科技馆”"),
    ("锁定的评审关系 4→17 不在本次评委或作品名单中", "锁定的评审关系 王芳（J0004）→E0017《岩石》 不在本次评委或作品名单中"),
    ("3 件作品（17、18、99…）只能由同一批 2 名评委评审", "3 件作品（E0017《岩石》、E0018《天眼》、99…）只能由同一批 2 名评委评审"),
    ("评委 999: 工作量 3", "评委 999: 工作量 3"),          # unknown ids stay as they are
])
def test_solver_messages_name_people_not_database_ids(message, expected):
    judges = {4: "王芳（J0004）"}
    entries = {17: "E0017《岩石》", 18: "E0018《天眼》"}
    assert svc.humanise(message, judges, entries) == expected
