"""Organiser screens as an organiser uses them."""
import re

import pytest
from sqlalchemy import select

from extensions import db
from models import (Category, Division, Entry, Judge, Panel, PanelMember, Person, Programme, Province,
                    Stage, Unit)
from tests.conftest import csrf_from


def _post(client, page_url, url, data):
    token = csrf_from(client.get(page_url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


@pytest.mark.parametrize("template,stages,categories,divisions", [
    ("docent_competition", ["分赛区选拔", "全国初评（视频）", "全国决赛"], 5, 31),
    ("teacher_training", ["培训考核"], 3, 0),   # 培训学员 + one per instructor-scored component
    ("resource_call", ["形式审查", "初评", "终评"], 5, 0),
    ("unit_awards", ["年度评审"], 2, 0),
])
def test_create_programme_from_template(org_client, template, stages, categories, divisions):
    resp = _post(org_client, "/admin/", "/admin/programmes",
                 {"template": template, "year": "2026", "host": "某省科技馆"})
    assert resp.status_code == 302
    prog = db.session.scalars(select(Programme)).one()
    assert prog.year == 2026 and "2026" in prog.name and prog.host == "某省科技馆"
    assert [s.name for s in prog.stages] == stages
    assert len(prog.categories) == categories and len(prog.divisions) == divisions
    page = org_client.get(resp.headers["Location"]).get_data(as_text=True)
    assert prog.name in page
    for s in stages:
        assert s in page


@pytest.mark.parametrize("data,message", [
    ({"template": "docent_competition", "year": "1999"}, "年度应在 2000 到 2100 之间"),
    ({"template": "docent_competition", "year": "abc"}, "年度"),
    ({"template": "nope", "year": "2025"}, "模板"),
    ({"template": "docent_competition", "year": "2025", "starts_on": "2025-08-01",
      "ends_on": "2025-07-01"}, "结束日期不能早于开始日期"),
])
def test_create_programme_rejects_bad_input(org_client, data, message):
    resp = _post(org_client, "/admin/", "/admin/programmes", data)
    page = org_client.get(resp.headers["Location"]).get_data(as_text=True)
    assert message in page
    assert db.session.query(Programme).count() == 0


def test_duplicate_programme_is_refused(org_client):
    for _ in range(2):
        resp = _post(org_client, "/admin/", "/admin/programmes", {"template": "unit_awards", "year": "2025"})
    assert "已存在" in org_client.get(resp.headers["Location"]).get_data(as_text=True)
    assert db.session.query(Programme).count() == 1


def _add_entries(prog, stage, spec):
    """spec: list of (province code, category code, n)."""
    provs = {p.code: p for p in db.session.scalars(select(Province))}
    divs = {d.province_id: d for d in prog.divisions}
    cats = {c.code: c for c in prog.categories}
    k = 0
    for code, cat, n in spec:
        unit = db.session.scalar(select(Unit).filter_by(external_id=f"U{code}"))
        if unit is None:
            unit = Unit(external_id=f"U{code}", name=f"{provs[code].short_name}科技馆", province_id=provs[code].id)
            db.session.add(unit)
            db.session.flush()
        for i in range(n):
            k += 1
            person = Person(name=f"选手{k}", unit_id=unit.id)
            db.session.add(person)
            db.session.flush()
            db.session.add(Entry(stage_id=stage.id, category_id=cats[cat].id, external_id=f"E{k:04d}",
                                 title=f"作品{k}", kind="individual", person_id=person.id, unit_id=unit.id,
                                 province_id=unit.province_id, division_id=divs[unit.province_id].id,
                                 draw_number=i + 1))
    db.session.commit()


def test_counts_per_division_and_category(org_client, competition):
    stage = competition.stages[0]
    _add_entries(competition, stage, [("11", "exhibit", 3), ("11", "volunteer", 1), ("52", "exhibit", 2)])
    html = org_client.get(f"/admin/programmes/{competition.id}?stage={stage.id}").get_data(as_text=True)
    table = html.split('class="grid counts"')[1].split("</table>")[0]
    rows = {re.sub(r"<[^>]+>", "", r.split("</th>")[0]).strip(): re.findall(r'class="num[^"]*">(?:<strong>)?(\d+)', r)
            for r in table.split("<tr>")[1:]}
    # columns: exhibit, volunteer, experiment, drama, course, total
    assert rows["北京赛区"] == ["3", "1", "0", "0", "0", "4"]
    assert rows["贵州赛区"] == ["2", "0", "0", "0", "0", "2"]
    assert rows["天津赛区"] == ["0", "0", "0", "0", "0", "0"]
    assert rows["合计"] == ["5", "1", "0", "0", "0", "6"]
    # the division link filters the entry list
    beijing = next(d for d in competition.divisions if d.name == "北京赛区")
    listing = org_client.get(f"/admin/programmes/{competition.id}/entries?stage={stage.id}&division={beijing.id}")
    text = listing.get_data(as_text=True)
    assert text.count("北京科技馆") == 4 and "贵州科技馆" not in text


def test_add_stage_and_edit_settings(org_client, competition):
    url = f"/admin/programmes/{competition.id}/stages/new"
    resp = _post(org_client, url, url, {"kind": "final", "name": "复赛", "avoid_province": "y",
                                        "history_conflict": "hard"})
    assert resp.status_code == 302
    stage = db.session.scalar(select(Stage).filter_by(name="复赛"))
    assert stage.seq == 4 and stage.avoid_province and stage.history_conflict.value == "hard"
    edit = f"/admin/programmes/{competition.id}/stages/{stage.id}"
    _post(org_client, edit, edit, {"kind": "final", "name": "复赛（现场）", "anonymous": "y",
                                   "history_conflict": "off"})
    db.session.refresh(stage)
    assert stage.name == "复赛（现场）" and stage.anonymous and not stage.avoid_province


def test_stage_with_broken_rubric_is_flagged(org_client, competition, app, tmp_path):
    import shutil
    rubric_dir = tmp_path / "rubrics"
    shutil.copytree(app.config["RUBRIC_DIR"], rubric_dir)
    (rubric_dir / "docent" / "drama.yaml").write_text("id: drama\nversion: [\n", encoding="utf-8")
    app.config["RUBRIC_DIR"] = str(rubric_dir)
    stage = competition.stages[0]
    html = org_client.get(f"/admin/programmes/{competition.id}/stages/{stage.id}").get_data(as_text=True)
    assert "无效" in html and "drama" in html
    from services.rubric_registry import stage_rubric_problems
    problems = stage_rubric_problems(stage)
    assert len(problems) == 1 and problems[0].startswith("科普短剧")
    assert stage_rubric_problems(competition.stages[1]) == []


def test_add_category_validates(org_client, competition):
    url = f"/admin/programmes/{competition.id}/categories"
    bad = _post(org_client, url, url, {"code": "Quiz!", "name": "知识问答", "entry_kind": "individual"})
    assert "代码只能包含小写字母" in bad.get_data(as_text=True)
    dup = _post(org_client, url, url, {"code": "exhibit", "name": "重复", "entry_kind": "individual"})
    assert "已被使用" in dup.get_data(as_text=True)
    ok = _post(org_client, url, url, {"code": "quiz", "name": "知识问答", "entry_kind": "individual",
                                      "time_limit_minutes": "3"})
    assert ok.status_code == 302
    cat = db.session.scalar(select(Category).filter_by(programme_id=competition.id, code="quiz"))
    assert cat.time_limit_seconds == 180


def _judge(prog, ext, name, teacher=False):
    prov = db.session.scalar(select(Province).filter_by(code="11"))
    unit = Unit(external_id=f"U-{ext}", name=f"{name}的单位", province_id=prov.id)
    person = Person(name=name)
    db.session.add_all([unit, person])
    db.session.flush()
    j = Judge(programme_id=prog.id, external_id=ext, person_id=person.id, unit_id=unit.id,
              province_id=prov.id, is_school_teacher=teacher)
    db.session.add(j)
    db.session.commit()
    return j


def test_panels_roles_and_messages(org_client, competition):
    stage = competition.stages[2]
    page = f"/admin/programmes/{competition.id}/panels?stage={stage.id}"
    resp = _post(org_client, page, page, {"name": "展品辅导组", "category_id": competition.categories[0].id,
                                          "division_id": 0})
    assert resp.status_code == 302
    panel = db.session.scalar(select(Panel).filter_by(stage_id=stage.id))
    _judge(competition, "J001", "甲评委")
    _judge(competition, "J002", "乙评委")
    _judge(competition, "J003", "丙老师", teacher=True)
    add = f"/admin/programmes/{competition.id}/panels/{panel.id}/members"

    def add_member(ref, role):
        r = _post(org_client, page, add, {"judge_ref": ref, "role": role})
        return org_client.get(r.headers["Location"]).get_data(as_text=True)

    assert "已将 甲评委 加入" in add_member("J001", "chief")
    assert "每个评委组只能有一名评委组长" in add_member("J002", "chief")
    assert "不是中小学教师" in add_member("J002", "teacher_seat")
    assert "已将 丙老师 加入" in add_member("J003", "teacher_seat")
    assert "已在本评委组中" in add_member("J001", "member")
    assert "不存在" in add_member("J999", "member")
    roles = sorted(m.role.value for m in db.session.scalars(select(PanelMember).filter_by(panel_id=panel.id)))
    assert roles == ["chief", "teacher_seat"]


def test_oversight_sees_pages_without_edit_controls(app, competition):
    from tests.conftest import login, make_user
    make_user("oversight", "oversight")
    client = app.test_client()
    login(client, "oversight")
    html = client.get("/admin/").get_data(as_text=True)
    assert competition.name in html and "从模板新建项目" not in html


def test_unknown_objects_are_404(org_client, competition):
    assert org_client.get("/admin/programmes/9999").status_code == 404
    other = Programme(kind=competition.kind, year=2030, name="另一个")
    db.session.add(other)
    db.session.commit()
    stage_of_competition = competition.stages[0].id
    assert org_client.get(f"/admin/programmes/{other.id}/stages/{stage_of_competition}").status_code == 404
    assert org_client.get(f"/admin/programmes/{competition.id}/import/people").status_code == 404


def test_upload_over_the_limit_is_refused_in_chinese(org_client, competition, app):
    import io
    from models import ImportBatch
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    url = f"/admin/programmes/{competition.id}/import/units"
    token = csrf_from(org_client.get(url).get_data(as_text=True))
    resp = org_client.post(url, data={"csrf_token": token,
                                      "file": (io.BytesIO(b"x" * (200 * 1024)), "units.xlsx")},
                           content_type="multipart/form-data")
    assert resp.status_code == 413
    assert "上传的文件太大" in resp.get_data(as_text=True)
    assert db.session.query(ImportBatch).count() == 0 and db.session.query(Unit).count() == 0


def test_import_without_a_file_says_so(org_client, competition):
    url = f"/admin/programmes/{competition.id}/import/units"
    resp = _post(org_client, url, url, {})
    assert resp.status_code == 200 and "请选择要导入的文件" in resp.get_data(as_text=True)
