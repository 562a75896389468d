"""The 回避声明 and the scoring door: a declaration is stored, acts at once (assignments removed,
entries flagged for a new judge), and `can_score` refuses a conflicted judge whatever the
assignment table says."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from extensions import db
from models import Assignment, DeclaredRelation, Entry, Judge, ReassignmentFlag, RelationKind
from services.declarations import RelationInput, can_score, declare, judge_entries
from tests.conftest import csrf_from
from tests.web.test_judge_access import _rows, build_world, declare_none, text


@pytest.fixture
def world(app, competition):
    return build_world(competition)


def _signed_in(client, plain):
    assert client.get(f"/j/{plain}").status_code == 302
    return client


def _post(client, data):
    page = client.get("/judge/declaration")
    return client.post("/judge/declaration", data={"csrf_token": csrf_from(text(page)), **data})


def _relations(judge_id):
    return db.session.scalars(select(DeclaredRelation).where(DeclaredRelation.judge_id == judge_id)).all()


def _flags(judge_id):
    return db.session.scalars(select(ReassignmentFlag).where(ReassignmentFlag.judge_id == judge_id)
                              .order_by(ReassignmentFlag.id)).all()


def _judge(world):
    return db.session.get(Judge, world.judge.id)


def _declared_at(world, stage=None):
    """When the world's judge declared for `stage` (default: the judge's token stage)."""
    from services.declarations import declared_at
    return declared_at(db.session, world.judge.id, (stage or world.regional).id)


# -- declaring on a panel (live round) ------------------------------------------------------------

def test_declaring_a_student_on_a_panel_recuses_and_flags_the_entry(client, world):
    _signed_in(client, world.plain)
    resp = _post(client, {"action": "declare", f"kind-{world.e_student.id}": "teacher_student",
                          f"note-{world.e_student.id}": "指导教师"})
    assert resp.status_code == 302 and "/judge/declaration/saved" in resp.headers["Location"]

    rel, = _relations(world.judge.id)
    assert (rel.entry_id, rel.kind, rel.note, rel.source) == (world.e_student.id, RelationKind.teacher_student,
                                                              "指导教师", "judge")
    assert _declared_at(world) is not None
    flag, = _flags(world.judge.id)
    assert flag.entry_id == world.e_student.id and flag.stage_id == world.regional.id
    assert flag.reason.startswith("需要重新安排评委：E0102《磁悬浮的秘密》，原因：")
    assert "师生关系" in flag.reason and "指导教师" in flag.reason and "J0005" in flag.reason
    assert "评委仍在评委组内" in flag.reason

    saved = text(client.get(resp.headers["Location"]))
    assert "已记录，以下作品将由组织方另行安排评委" in saved
    rows = _rows(saved)
    assert list(rows) == [str(world.e_student.id)]
    assert "磁悬浮的秘密" in rows[str(world.e_student.id)]

    # the judge stays on the panel and is recused for that entry only
    home = text(client.get("/judge/"))
    assert "共 4 件，回避 2 件" in home
    row = _rows(home)[str(world.e_student.id)]
    assert "回避" in row and "评委申报与该选手存在师生关系：指导教师" in row
    assert "回避" not in _rows(home)[str(world.e_plain.id)]


def test_no_relation_sets_declared_at_and_opens_home(client, world):
    _signed_in(client, world.plain)
    resp = declare_none(client)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/judge/?declared=none")
    assert _declared_at(world) is not None
    assert _relations(world.judge.id) == [] and _flags(world.judge.id) == []
    assert "您与本阶段选手均无需回避" in text(client.get(resp.headers["Location"]))
    assert client.get("/judge/").status_code == 200


def test_csrf_is_required(client, world):
    _signed_in(client, world.plain)
    resp = client.post("/judge/declaration", data={"action": "declare",
                                                   f"kind-{world.e_student.id}": "relative"})
    assert resp.status_code == 400
    assert "页面已过期" in text(resp) and "您的内容没有保存" in text(resp)
    assert _relations(world.judge.id) == []
    assert _declared_at(world) is None


@pytest.mark.parametrize("data,words", [
    ({"action": "none", "kind-{s}": "relative"}, "您已选择了关系"),
    ({"action": "declare"}, "请至少为一位选手或一个单位选择关系"),
    ({"action": "declare", "kind-{s}": "other"}, "选择“其他”时请写明是什么关系"),
    ({"action": "declare", "kind-{s}": "enemy"}, "请选择关系类型"),
    ({"action": "declare", "kind-{s}": "relative", "note-{s}": "长" * 201}, "说明不能超过 200 个字"),
    ({"action": "declare", "unit_kind": "colleague"}, "请选择单位"),
    ({"action": "declare", "unit_id": "999999", "unit_kind": "colleague"}, "请从列表中选择单位"),
    ({"action": "declare", "unit_id": "{yn_unit}"}, "请选择与该单位的关系类型"),
])
def test_invalid_declarations_store_nothing_and_say_why(client, world, data, words):
    _signed_in(client, world.plain)
    data = {k.format(s=world.e_student.id): v.format(yn_unit=world.units["yn"].id) for k, v in data.items()}
    resp = _post(client, data)
    assert resp.status_code == 200
    assert words in text(resp)
    assert _relations(world.judge.id) == [] and _flags(world.judge.id) == []
    assert _declared_at(world) is None


def test_entries_outside_the_judges_scope_cannot_be_declared_here(client, world):
    """A row name for an entry the page did not offer is ignored (another division's entry)."""
    _signed_in(client, world.plain)
    resp = _post(client, {"action": "declare", f"kind-{world.e_elsewhere.id}": "relative",
                          f"kind-{world.e_plain.id}": "relative"})
    assert resp.status_code == 302
    assert [r.entry_id for r in _relations(world.judge.id)] == [world.e_plain.id]


def test_entry_already_recused_is_shown_not_offered(client, world):
    _signed_in(client, world.plain)
    rows = _rows(text(client.get("/judge/declaration")))
    own = rows[str(world.e_own.id)]
    assert "已回避" in own and "贵州省科技馆" in own and "亲属" not in own
    assert "亲属" in rows[str(world.e_student.id)]


def test_a_later_declaration_acts_at_once(client, world):
    _signed_in(client, world.plain)
    declare_none(client)
    first = _declared_at(world)
    page = text(client.get("/judge/declaration"))
    assert "补充回避声明" in page and 'value="none"' not in page
    resp = _post(client, {"action": "declare", f"kind-{world.e_plain.id}": "relative",
                          f"note-{world.e_plain.id}": "表妹"})
    assert resp.status_code == 302
    flag, = _flags(world.judge.id)
    assert flag.entry_id == world.e_plain.id
    assert _declared_at(world) == first          # the first declaration's time is kept
    saved = text(client.get(resp.headers["Location"]))
    assert "光的折射" in saved and "已记录，以下作品将由组织方另行安排评委" in saved
    assert "表妹" in text(client.get("/judge/declaration"))   # listed among the judge's declarations


def test_declaring_a_unit_recuses_every_entry_of_it(client, world):
    _signed_in(client, world.plain)
    resp = _post(client, {"action": "declare", "unit_id": str(world.units["yn"].id), "unit_kind": "colleague",
                          "unit_note": "2019—2022年曾在该馆工作"})
    assert resp.status_code == 302
    rel, = _relations(world.judge.id)
    assert rel.unit_id == world.units["yn"].id and rel.entry_id is None
    # every entry of the unit, in every stage the judge sits in: the regional panel's entry and
    # both of the judge's review assignments in the national preliminary
    assert {(f.stage_id, f.entry_id) for f in _flags(world.judge.id)} == {
        (world.regional.id, world.e_yn.id), (world.prelim.id, world.p_a.id), (world.prelim.id, world.p_b.id)}
    assert not db.session.scalars(select(Assignment).where(Assignment.judge_id == world.judge.id)).all()
    saved = text(client.get(resp.headers["Location"]))
    assert "水滴旅行记" in saved and "星空下的对话" in saved and "全国初评" in saved
    row = _rows(text(client.get("/judge/")))[str(world.e_yn.id)]
    assert "回避" in row and "云南省科技馆" in row


# -- declaring in a review design (assignments) --------------------------------------------------

def test_declaring_in_a_review_removes_the_assignment_and_flags_the_entry(client, world):
    _signed_in(client, world.prelim_plain)
    resp = _post(client, {"action": "declare", f"kind-{world.p_a.id}": "relative",
                          f"note-{world.p_a.id}": "侄女"})
    assert resp.status_code == 302
    left = db.session.scalars(select(Assignment.entry_id).where(Assignment.judge_id == world.judge.id)).all()
    assert left == [world.p_b.id]
    flag, = _flags(world.judge.id)
    assert flag.entry_id == world.p_a.id and flag.stage_id == world.prelim.id
    assert flag.reason.startswith("需要重新安排评委：N0001《星空下的对话》")
    assert "亲属关系：侄女" in flag.reason and "已撤销该评委的评审分配" in flag.reason
    saved = text(client.get(resp.headers["Location"]))
    assert "已记录，以下作品将由组织方另行安排评委" in saved and "星空下的对话" in saved
    # the entry stays on the judge's list, marked 回避
    home = text(client.get("/judge/"))
    assert "共 2 件，回避 1 件" in home
    assert "回避" in _rows(home)[str(world.p_a.id)]


def test_anonymous_declaration_shows_names_and_titles_not_units(client, world):
    _signed_in(client, world.prelim_plain)
    body = text(client.get("/judge/declaration"))
    rows = _rows(body)
    row = rows[str(world.p_a.id)]
    assert "孙甲" in row and "星空下的对话" in row
    assert "云南省科技馆" not in row and "K7Q2MX" not in row
    # a unit tie can still be declared, from a list not linked to entries
    assert 'name="unit_id"' in body and "云南省科技馆" in body
    assert "本阶段为匿名评审" in body


# -- the service -------------------------------------------------------------------------------

def test_declare_flags_only_what_the_declaration_takes_away(app, world):
    judge = _judge(world)
    out = declare(db.session, judge, world.regional,
                  [RelationInput("relative", entry_id=world.e_own.id),        # already recused (same unit)
                   RelationInput("coach", entry_id=world.e_plain.id, note="赛前辅导")])
    db.session.commit()
    assert out.first_declaration and not out.no_relation
    assert [f.entry_id for f in out.flagged] == [world.e_plain.id]
    # declaring the same thing again stores and flags nothing new
    again = declare(db.session, judge, world.regional, [RelationInput("coach", entry_id=world.e_plain.id)])
    db.session.commit()
    assert again.relations == [] and again.flagged == [] and not again.first_declaration
    assert len(_flags(judge.id)) == 1 and len(_relations(judge.id)) == 2


def test_declare_follows_the_project_into_later_rounds(app, world):
    """A relation with a regional entry binds its successor in the national review: the
    judge's assignment there goes too."""
    successor = db.session.get(Entry, world.p_b.id)
    successor.source_entry_id = world.e_student.id
    db.session.commit()
    out = declare(db.session, _judge(world), world.regional,
                  [RelationInput("teacher_student", entry_id=world.e_student.id)])
    db.session.commit()
    assert {(f.stage_id, f.entry_id, f.assignment_removed) for f in out.flagged} == {
        (world.regional.id, world.e_student.id, False), (world.prelim.id, world.p_b.id, True)}
    assert not db.session.scalar(select(Assignment.id).where(Assignment.judge_id == world.judge.id,
                                                             Assignment.entry_id == world.p_b.id))


@pytest.mark.parametrize("bad", [
    RelationInput("enemy", entry_id=1),
    RelationInput("relative"),
    RelationInput("relative", entry_id=1, unit_id=1),
    RelationInput("relative", entry_id=10 ** 6),
])
def test_declare_rejects_invalid_input(app, world, bad):
    if bad.entry_id == 1:
        bad = RelationInput(bad.kind, entry_id=world.e_plain.id, unit_id=bad.unit_id and world.units["yn"].id)
    with pytest.raises(ValueError):
        declare(db.session, _judge(world), world.regional, [bad])


def test_judge_entries_by_design(app, world):
    regional = [e.external_id for e in judge_entries(db.session, world.judge.id, world.regional)]
    assert regional == ["E0101", "E0102", "E0103", "E0104"]          # exhibit by draw, then drama
    review = [e.external_id for e in judge_entries(db.session, world.judge.id, world.prelim)]
    assert review == ["N0001", "N0002"]
    assert judge_entries(db.session, world.outsider.id, world.regional) == []


# -- the scoring door --------------------------------------------------------------------------

def _setup(world, case):
    """Arrange the case; return (judge, entry, stage)."""
    J, P = world.judge, world.prelim
    if case == "assigned_clean":
        return J, world.p_a, P
    if case == "assigned_same_unit":
        e = Entry(stage_id=P.id, category_id=world.p_a.category_id, external_id="N0009", title="同馆作品",
                  kind="individual", person_id=world.e_own.person_id, unit_id=world.units["gz"].id,
                  province_id=world.units["gz"].province_id, status="active")
        db.session.add(e)
        db.session.flush()
        db.session.add(Assignment(stage_id=P.id, judge_id=J.id, entry_id=e.id, source="manual"))
        return J, e, P
    if case == "assigned_same_province":      # the national stage avoids the judge's province
        db.session.add(Assignment(stage_id=P.id, judge_id=J.id, entry_id=world.p_c.id, source="manual"))
        return J, world.p_c, P
    if case == "declared_after_assignment":   # the Assignment row is still there
        db.session.add(DeclaredRelation(judge_id=J.id, kind=RelationKind.relative, entry_id=world.p_b.id,
                                        note="外甥", source="organiser"))
        return J, world.p_b, P
    if case == "not_assigned":
        return J, world.p_c, P
    if case == "withdrawn":
        world.p_a.status = "withdrawn"
        return J, world.p_a, P
    if case == "other_stage":
        return J, world.e_plain, P
    if case == "panel_clean":
        return J, world.e_plain, world.regional
    if case == "panel_same_unit":
        return J, world.e_own, world.regional
    if case == "panel_other_division":
        return J, world.e_elsewhere, world.regional
    if case == "not_on_panel":
        return world.outsider, world.e_plain, world.regional
    if case == "declared_on_panel":
        db.session.add(DeclaredRelation(judge_id=J.id, kind=RelationKind.teacher_student,
                                        entry_id=world.e_student.id, source="judge"))
        return J, world.e_student, world.regional
    raise AssertionError(case)


@pytest.mark.parametrize("case,ok,words", [
    ("assigned_clean", True, ""),
    ("assigned_same_unit", False, "回避：评委与选手同属“贵州省科技馆”"),
    ("assigned_same_province", False, "回避：评委与选手同属“贵州”（本阶段回避同省）"),
    ("declared_after_assignment", False, "回避：评委申报与该选手存在亲属关系：外甥"),
    ("not_assigned", False, "该作品未分配给您评审"),
    ("withdrawn", False, "该作品已退赛"),
    ("other_stage", False, "该作品不属于本阶段"),
    ("panel_clean", True, ""),
    ("panel_same_unit", False, "回避：评委与选手同属“贵州省科技馆”"),
    ("panel_other_division", False, "该作品不在您所在评委组的评审范围内"),
    ("not_on_panel", False, "您不在本阶段的评委组中"),
    ("declared_on_panel", False, "回避：评委申报与该选手存在师生关系"),
])
def test_can_score(app, world, case, ok, words):
    judge, entry, stage = _setup(world, case)
    db.session.commit()
    allowed, reason = can_score(db.session, judge.id, entry.id, stage)     # a plain (bool, reason) pair
    assert allowed is ok
    if ok:
        assert reason == ""
    else:
        assert words in reason


def test_can_score_with_a_prebuilt_index(app, world):
    from services.conflicts import stage_conflict_index
    index = stage_conflict_index(db.session, world.prelim)
    assert can_score(db.session, world.judge.id, world.p_b.id, world.prelim, index=index).ok
    assert not can_score(db.session, world.judge.id, world.p_c.id, world.prelim, index=index).ok


def test_a_declaration_counts_for_its_stage_only(world):
    """A new round brings new contestants: declaring in the regional round does not excuse the
    judge from the national round's 回避声明."""
    declare(db.session, _judge(world), world.regional, [])
    db.session.commit()
    assert _declared_at(world, world.regional) is not None
    assert _declared_at(world, world.prelim) is None
