"""Activity reporting: unit contacts' form (own unit only, locked after the deadline),
organisers' corrections with a reason, the all-or-nothing Excel import, totals and export.

Deadlines are real dates: a programme for next year has every report open, one for two
years ago has every report locked, whatever day the suite runs."""
from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from extensions import db
from models import ActivityReport, ActivityReportEvent, ImportBatch, Unit, ensure_provinces
from models.base import beijing_today
from services.programme_templates import create_from_template
from tests.conftest import csrf_from, login, make_user
from tests.web.test_imports import xlsx

OPEN_YEAR = beijing_today().year + 1
LOCKED_YEAR = beijing_today().year - 2


def _units():
    prov = ensure_provinces(db.session)
    units = [Unit(external_id="U11-01", name="北京科学中心", kind="科技馆", province_id=prov["11"].id),
             Unit(external_id="U44-01", name="广东科学中心", kind="科技馆", province_id=prov["44"].id),
             Unit(external_id="U44-02", name="广州市少年宫", kind="青少年宫", province_id=prov["44"].id)]
    db.session.add_all(units)
    db.session.commit()
    return units


@pytest.fixture
def world(app):
    units = _units()
    open_prog = create_from_template(db.session, "unit_awards", year=OPEN_YEAR)
    locked_prog = create_from_template(db.session, "unit_awards", year=LOCKED_YEAR)
    db.session.commit()
    make_user("organiser", "organiser")
    make_user("unit_contact", "unit-bj", unit_id=units[0].id)
    return open_prog, locked_prog, units


def _post_report(client, prog, code, data, unit="U11-01"):
    page = client.get(f"/awards/{prog.id}/report?unit={unit}")
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    token = csrf_from(page.get_data(as_text=True))
    return client.post(f"/awards/{prog.id}/report/{code}", data={"csrf_token": token, "unit": unit, **data})


def _report(prog, unit, code):
    return db.session.scalar(select(ActivityReport).where(ActivityReport.programme_id == prog.id,
                                                          ActivityReport.unit_id == unit.id,
                                                          ActivityReport.activity_code == code))


def test_contact_reports_for_own_unit_and_sees_it_counted(client, world):
    prog, _, units = world
    login(client, "unit-bj")
    resp = _post_report(client, prog, "T02", {"events_held": "3", "participants": "1200", "media_reports": "2",
                                               "materials_on": f"{OPEN_YEAR}-05-10"})
    assert resp.status_code == 302
    r = _report(prog, units[0], "T02")
    assert (r.events_held, r.participants, r.media_reports, r.materials_on) == (3, 1200, 2, date(OPEN_YEAR, 5, 10))
    page = client.get(f"/awards/{prog.id}/report").get_data(as_text=True)
    assert "参与 1/17 期，按时报送材料 1/17 期" in page
    assert "北京科学中心" in page and "广东科学中心" not in page     # a contact sees no other unit


def test_contact_cannot_report_for_another_unit(client, world):
    prog, _, units = world
    login(client, "unit-bj")
    resp = _post_report(client, prog, "T01", {"events_held": "5", "participants": "9"}, unit="U44-01")
    assert resp.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(ActivityReport)) == 0
    # and the page ignores a ?unit= pointing elsewhere: it shows the contact's own unit
    page = client.get(f"/awards/{prog.id}/report?unit=U44-01").get_data(as_text=True)
    assert "北京科学中心" in page and "广东科学中心" not in page


@pytest.mark.parametrize("data, field_message", [
    ({"events_held": "-2"}, "活动场次不能为负数"),
    ({"events_held": "2", "participants": "很多"}, "参与人数应为 0 或正整数"),
    ({"events_held": "1", "materials_on": "下周"}, "材料报送日期应为日期"),
    ({"events_held": "0", "participants": "30"}, "活动场次为 0 时参与人数应为 0"),
])
def test_bad_figures_are_named_and_nothing_is_saved(client, world, data, field_message):
    prog, _, units = world
    login(client, "unit-bj")
    resp = _post_report(client, prog, "T03", data)
    assert resp.status_code == 422
    assert field_message in resp.get_data(as_text=True)
    assert _report(prog, units[0], "T03") is None


def test_after_the_deadline_the_contact_is_locked_out(client, world):
    _, prog, units = world
    login(client, "unit-bj")
    page = client.get(f"/awards/{prog.id}/report").get_data(as_text=True)
    assert "报送截止日期已过，报送已锁定" in page
    token = csrf_from(page)
    resp = client.post(f"/awards/{prog.id}/report/T01", data={"csrf_token": token, "unit": "U11-01",
                                                              "events_held": "4"})
    assert resp.status_code == 409
    assert f"{LOCKED_YEAR}-04-15 已过，报送已锁定" in resp.get_data(as_text=True)
    assert _report(prog, units[0], "T01") is None


def test_organiser_corrects_a_locked_report_only_with_a_reason(client, world):
    _, prog, units = world
    login(client, "organiser")
    resp = _post_report(client, prog, "S05", {"events_held": "2", "participants": "60"})
    assert resp.status_code == 422 and "组织方更正须填写原因" in resp.get_data(as_text=True)
    assert _report(prog, units[0], "S05") is None
    resp = _post_report(client, prog, "S05", {"events_held": "2", "participants": "60",
                                              "reason": "省馆来函补报"})
    assert resp.status_code == 302
    r = _report(prog, units[0], "S05")
    assert (r.events_held, r.participants) == (2, 60)
    ev = db.session.scalar(select(ActivityReportEvent).where(ActivityReportEvent.report_id == r.id))
    assert ev.action == "correct" and ev.reason == "省馆来函补报" and ev.actor == "组织方 organiser"
    page = client.get(f"/awards/{prog.id}/report?unit=U11-01").get_data(as_text=True)
    assert "省馆来函补报" in page       # the history shows who changed what and why


def _xlsx(rows) -> bytes:
    return xlsx(rows, title="活动报送")


HEADER = ["单位编号", "活动编号", "活动场次", "参与人数", "媒体报道", "材料报送日期"]


def _upload(client, prog, data: bytes):
    url = f"/admin/programmes/{prog.id}/import/activity_reports"
    token = csrf_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, "file": (io.BytesIO(data), "活动报送.xlsx")},
                       content_type="multipart/form-data", follow_redirects=True)


def test_import_rejects_the_whole_file_and_names_each_problem(client, world):
    prog, _, units = world
    login(client, "organiser")
    resp = _upload(client, prog, _xlsx([
        HEADER,
        ["U11-01", "T01", 3, 100, 1, f"{OPEN_YEAR}-04-01"],      # fine, but not applied
        ["U99-99", "T01", 1, 10, 0, ""],                         # unknown unit
        ["U44-01", "T11", 1, 10, 0, ""],                         # unknown activity
        ["U44-01", "T02", -3, 10, 0, ""],                        # negative
        ["U11-01", "T01", 1, 10, 0, ""],                         # duplicate of row 2
    ]))
    page = resp.get_data(as_text=True)
    assert "数据未作任何修改" in page
    for text in ("单位编号“U99-99”不存在", "活动编号“T11”不在", "活动场次不能为负数", "在文件中重复（第 2 行）"):
        assert text in page, text
    batch = db.session.scalar(select(ImportBatch).order_by(ImportBatch.id.desc()))
    assert batch.status == "rejected"
    assert sorted((e["row"], e["column"]) for e in batch.errors) == [
        (3, "单位编号"), (4, "活动编号"), (5, "活动场次"), (6, "活动编号")]
    assert db.session.scalar(select(func.count()).select_from(ActivityReport)) == 0


def test_import_applies_reimport_updates_and_locked_reports_are_imported(client, world):
    _, prog, units = world
    login(client, "organiser")
    rows = [HEADER, ["U11-01", "T01", 3, 100, 1, f"{LOCKED_YEAR}-04-10"],
            ["U44-01", "t02", 2, 50, 0, f"{LOCKED_YEAR}/5/20"],     # code in lower case, date with slashes
            ["U44-02", "S05", 1, 30, 2, ""]]
    _upload(client, prog, _xlsx(rows))
    assert db.session.scalar(select(func.count()).select_from(ActivityReport)) == 3
    assert _report(prog, units[1], "T02").materials_on == date(LOCKED_YEAR, 5, 20)
    rows[1][3] = 150
    resp = _upload(client, prog, _xlsx(rows))
    assert "更新 1 条" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ActivityReport)) == 3
    assert _report(prog, units[0], "T01").participants == 150
    assert db.session.scalar(select(func.count()).select_from(ActivityReportEvent)
                             .where(ActivityReportEvent.action == "import")) == 4


def test_template_lists_the_years_activities(client, world):
    prog, _, _ = world
    login(client, "organiser")
    resp = client.get(f"/admin/programmes/{prog.id}/template/activity_reports.xlsx")
    assert resp.status_code == 200
    wb = load_workbook(io.BytesIO(resp.data))
    assert [c.value for c in wb["活动报送"][1]][:3] == ["单位编号*", "单位名称", "活动编号*"]
    help_text = " ".join(str(c.value) for row in wb["说明"].iter_rows() for c in row if c.value)
    assert "全民的科学中心" in help_text and f"{OPEN_YEAR + 1}-01-15 前报送" in help_text


def test_activity_import_only_for_award_programmes(client, world, competition):
    login(client, "organiser")
    assert client.get(f"/admin/programmes/{competition.id}/import/activity_reports").status_code == 404


def test_totals_per_activity_province_and_unit_with_charts_and_export(client, world):
    _, prog, units = world
    login(client, "organiser")
    _upload(client, prog, _xlsx([
        HEADER,
        ["U11-01", "T01", 3, 100, 1, f"{LOCKED_YEAR}-04-10"],
        ["U11-01", "T02", 1, 20, 0, f"{LOCKED_YEAR}-06-01"],     # late
        ["U44-01", "T01", 2, 50, 2, f"{LOCKED_YEAR}-04-15"],
        ["U44-02", "T01", 4, 400, 0, ""],
    ]))
    page = client.get(f"/awards/{prog.id}/activities").get_data(as_text=True)
    assert page.count("<svg") == 4
    assert "共 3 个单位报送 4 条；活动 10 场，参与 570 人次，媒体报道 3 篇，按时报送 2 条。" in page
    resp = client.get(f"/awards/{prog.id}/activities.xlsx")
    wb = load_workbook(io.BytesIO(resp.data))
    by_act = {r[0]: r for r in wb["按活动"].iter_rows(min_row=2, values_only=True)}
    assert by_act["T01"][5:] == (9, 550, 3, 2, 3, 3)     # events, people, media, on time, reports, units
    by_prov = {r[0]: r for r in wb["按省份"].iter_rows(min_row=2, values_only=True)}
    assert by_prov["广东省"][1:3] == (6, 450) and by_prov["北京市"][1:3] == (4, 120)
    by_unit = {r[0]: r for r in wb["按单位"].iter_rows(min_row=2, values_only=True)}
    assert by_unit["U11-01"][3:5] == (2, 1)              # joined 2, on time 1


def test_contacts_and_judges_cannot_see_the_dashboard(client, world):
    prog, _, _ = world
    login(client, "unit-bj")
    assert client.get(f"/awards/{prog.id}/activities").status_code == 403
    assert client.get(f"/awards/{prog.id}/").status_code == 403


def test_export_is_a_valid_import_that_changes_nothing(client, world):
    _, prog, _ = world
    login(client, "organiser")
    _upload(client, prog, _xlsx([HEADER, ["U11-01", "T01", 3, 100, 1, f"{LOCKED_YEAR}-04-10"],
                                 ["U44-01", "S07", 1, 20, 0, ""]]))
    exported = client.get(f"/admin/programmes/{prog.id}/export/activity_reports.xlsx")
    assert exported.status_code == 200
    rows = list(load_workbook(io.BytesIO(exported.data))["活动报送"].iter_rows(values_only=True))
    assert rows[1][:3] == ("U11-01", "北京科学中心", "T01")
    resp = _upload(client, prog, exported.data)
    assert "新增 0 条，更新 0 条" in resp.get_data(as_text=True)


def test_a_year_without_a_plan_is_explained_on_the_dashboard_and_its_export(client, world):
    early = create_from_template(db.session, "unit_awards", year=2019)    # before the first plan file
    db.session.commit()
    login(client, "organiser")
    for path in ("activities", "activities.xlsx"):
        resp = client.get(f"/awards/{early.id}/{path}")
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/awards/"), path
        page = client.get("/awards/").get_data(as_text=True)
        assert "没有找到 2019 年联合行动的活动计划" in page, path
