"""Teacher-training assessment (issue 7): the roster imported all-or-nothing, instructors
scoring through the judge flow with the school conflict, outcomes with their reasons, the
marks table, the 结业名单 published and its 结业证书 with training hours, the Excel roster and the
cross-session report. Attendance and the QR check-in are in test_training_attendance.py."""
from __future__ import annotations

import io
import shutil
import subprocess
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from extensions import db
from models import ComponentMark, Entry, Person, Publication, ScoreSheet, Trainee, Unit
from services import certificates as certs
from services import publication as pubs
from services import training
from services.imports import run_import
from tests.conftest import csrf_from, login, make_user
from tests.training_world import attend, build_training, entry_of, score


def _xlsx(rows: list[list], header=("学员编号", "姓名", "学校", "区县", "任教学科", "手机号")) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "学员"
    ws.append(list(header))
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _counts() -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Trainee, Person, Unit, Entry))


@pytest.fixture
def w(app):
    return build_training()


def _finish(w, fractions=None, attendance=None):
    """Every trainee attends (fully, or (present, excused) half-days from `attendance`), has
    coursework 80 and is scored by every instructor at `fractions` of each maximum (0.8)."""
    fractions, attendance = fractions or {}, attendance or {}
    for t in w.trainees:
        attend(w, t, *attendance.get(t.external_id, (10,)))
        training.set_component_mark(db.session, w.prog, t.id, "coursework", "80", actor="test")
        db.session.commit()
        f = fractions.get(t.external_id, "0.8")
        score(w, t, "course_design", f)
        score(w, t, "presentation", f)


# -- the roster ---------------------------------------------------------------------------------

def test_trainee_import_creates_the_roster_new_schools_and_the_scored_entries(w):
    data = _xlsx([["T101", "赵敏", "贵阳市实验小学", "南明区", "科学", "139 0000 0101"],
                  ["T102", "钱多", "黔东南州凯里市第三中学", "凯里市", "物理", "13900000102"]])
    batch = run_import(db.session, "trainees", "学员.xlsx", data, w.prog)
    assert batch.status == "applied", batch.errors
    assert (batch.rows_created, batch.rows_updated) == (2, 0)
    t = db.session.scalar(select(Trainee).where(Trainee.programme_id == w.prog.id, Trainee.external_id == "T102"))
    school = t.unit
    assert school.name == "黔东南州凯里市第三中学" and school.kind == "学校" and school.province.code == "52"
    # one entry per instructor-scored component, at the trainee's school (the conflict rule's input)
    entries = db.session.scalars(select(Entry).where(Entry.person_id == t.person_id)).all()
    assert sorted(e.category.code for e in entries) == ["course_design", "presentation"]
    assert all(e.unit_id == school.id and e.status == "active" for e in entries)
    # re-importing the same file updates, never duplicates
    before = _counts()
    again = run_import(db.session, "trainees", "学员.xlsx", data, w.prog)
    assert again.status == "applied" and again.rows_created == 0 and _counts() == before


@pytest.mark.parametrize("rows, column, words", [
    ([["T101", "赵敏", "贵阳市实验小学", "", "科学", "12"]], "手机号", "7–15 位数字"),
    ([["T101", "赵敏", "贵阳市实验小学", "", "科学", "13900000101"],
      ["T101", "孙丽", "贵阳市实验小学", "", "科学", "13900000102"]], "学员编号", "重复"),
    ([["T101", "赵敏", "贵阳市实验小学", "", "科学", "13900000101"],
      ["T102", "赵 敏", "遵义市第一中学", "", "科学", "13811110101"]], "手机号", "扫码签到无法区分"),
    ([["T101", "", "贵阳市实验小学", "", "科学", "13900000101"]], "姓名", ""),
    ([["T101", "赵敏", "", "", "科学", "13900000101"]], "学校", ""),
], ids=["short-phone", "duplicate-id", "same-name-and-tail", "no-name", "no-school"])
def test_a_bad_roster_changes_nothing(w, rows, column, words):
    before = _counts()
    batch = run_import(db.session, "trainees", "学员.xlsx", _xlsx(rows), w.prog)
    assert batch.status == "rejected"
    assert any(e["column"] == column and words in e["message"] for e in batch.errors), batch.errors
    assert _counts() == before


def test_a_new_school_needs_a_province_when_the_host_is_unknown(app):
    w = build_training()
    w.prog.host = "不在单位名单中的科技馆"
    db.session.commit()
    data = _xlsx([["T101", "赵敏", "某县第一小学", "", "科学", "13900000101"]])
    batch = run_import(db.session, "trainees", "学员.xlsx", data, w.prog)
    assert batch.status == "rejected" and "所在省份" in batch.errors[0]["message"]
    data = _xlsx([["T101", "赵敏", "某县第一小学", "云南", "", "13900000101"]],
                 header=("学员编号", "姓名", "学校", "所在省份", "任教学科", "手机号"))
    assert run_import(db.session, "trainees", "学员.xlsx", data, w.prog).status == "applied"
    assert db.session.scalar(select(Unit).where(Unit.name == "某县第一小学")).province.short_name == "云南"


def test_trainees_import_only_into_a_training_session(w, competition, org_client):
    batch = run_import(db.session, "trainees", "学员.xlsx", _xlsx([["T1", "赵敏", "x", "", "", "13900000101"]]),
                       competition)
    assert batch.status == "rejected" and "教师培训" in batch.errors[0]["message"]
    assert org_client.get(f"/admin/programmes/{competition.id}/import/trainees").status_code == 404
    assert org_client.get(f"/admin/programmes/{w.prog.id}/import/trainees").status_code == 200
    template = org_client.get(f"/admin/programmes/{w.prog.id}/template/trainees.xlsx")
    header = [c.value for c in load_workbook(io.BytesIO(template.data)).active[1]]
    assert header[:3] == ["学员编号*", "姓名*", "学校*"] and "手机号*" in header


# -- instructors score through the judge flow ----------------------------------------------------

def test_instructors_score_through_the_judge_api_and_the_school_conflict_holds(w, client):
    li = w.trainees[0]                         # 李红, 贵阳市实验小学 — where 钱老师 (TJ05) teaches
    qian_token = w.tokens[4][1]
    entry = entry_of(w, li, "course_design")
    listing = client.get("/api/v1/me/entries", headers={"Authorization": f"Bearer {qian_token}"}).get_json()
    mine = {e["id"]: e for e in listing["entries"]}
    assert entry.id in mine and not mine[entry.id]["scorable"]   # listed, greyed out with the reason
    assert "贵阳市实验小学" in mine[entry.id]["recusal"]
    body = {"scores": {"jiaoxue_mubiao": 12}, "status": "draft", "client_request_id": "r1"}
    resp = client.put(f"/api/v1/me/sheets/{entry.id}", json=body, headers={"Authorization": f"Bearer {qian_token}"})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "conflicted"
    # another instructor scores it; the rubric's criteria come with the entry
    zhou_token = w.tokens[0][1]
    listing = client.get("/api/v1/me/entries", headers={"Authorization": f"Bearer {zhou_token}"}).get_json()
    criteria = {c["id"]: c for c in next(e for e in listing["entries"] if e["id"] == entry.id)["criteria"]}
    assert set(criteria) == {"jiaoxue_mubiao", "kebiao_gainian", "zhanpin_liyong", "jiaoxue_guocheng",
                             "xuesheng_tanjiu", "pingjia_sheji"}
    body = {"scores": {k: float(c["max"]) for k, c in criteria.items()}, "status": "submitted",
            "client_request_id": "z1"}
    resp = client.put(f"/api/v1/me/sheets/{entry.id}", json=body, headers={"Authorization": f"Bearer {zhou_token}"})
    assert resp.status_code in (200, 201), resp.get_json()
    assert db.session.scalar(select(func.count()).select_from(ScoreSheet).where(ScoreSheet.entry_id == entry.id)) == 1


# -- outcomes --------------------------------------------------------------------------------------

def test_outcomes_follow_the_scheme_with_reasons(w):
    so = training.outcomes(db.session, w.prog)
    assert all(r.outcome.status == "pending" for r in so.rows)
    assert "课程/活动设计" in "；".join(so.rows[0].outcome.reasons_zh)

    # 王芳: 7 of 10 half-days; 张伟: 7 present + 1 approved leave (which counts 0 in this scheme)
    _finish(w, {"T003": "0.95", "T006": "0.2"}, {"T002": (7,), "T003": (7, 1)})
    so = training.outcomes(db.session, w.prog)
    by = {r.trainee.external_id: r.outcome for r in so.rows}
    assert by["T001"].status == "passed" and by["T001"].attendance_rate == 1
    assert by["T002"].status == "failed"
    assert any("70%" in x and "80%" in x for x in by["T002"].reasons_zh), by["T002"].reasons_zh
    assert by["T003"].status == "failed"        # excused counts 0 here: 70% < 80%, whatever the marks
    assert by["T006"].status == "failed" and any("合格线" in x for x in by["T006"].reasons_zh)
    # the course design's score is the rubric's trimmed mean of the instructors, brought to 0-100
    comp = {c.id: c for c in by["T001"].components}
    assert comp["course_design"].scaled is not None and comp["coursework"].scaled == 80
    assert by["T001"].total == Decimal("0.2") * 100 + Decimal("0.2") * 80 \
        + Decimal("0.4") * comp["course_design"].scaled + Decimal("0.2") * comp["presentation"].scaled
    # excellence: the top 15% of those who passed (ceil(0.15 × 3) = 1) — 陈静 at 0.8 ties others…
    passed = [o for o in by.values() if o.status == "passed"]
    assert sum(o.excellent for o in passed) >= 1


def test_a_withdrawn_trainee_leaves_the_outcomes_and_the_judges_lists(w, org_client):
    yang = w.trainees[5]
    page = org_client.get(f"/training/{w.prog.id}/roster")
    resp = org_client.post(f"/training/{w.prog.id}/roster/{yang.id}/status",
                           data={"status": "withdrawn", "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 302
    assert yang.external_id not in {r.trainee.external_id for r in training.outcomes(db.session, w.prog).rows}
    assert {e.status for e in db.session.scalars(select(Entry).where(Entry.person_id == yang.person_id))} == {"withdrawn"}


def test_the_marks_table_saves_everything_or_nothing(w, org_client):
    url = f"/training/{w.prog.id}/marks"
    page = org_client.get(url)
    assert page.status_code == 200 and "过程作业" in page.get_data(as_text=True)
    token = csrf_from(page.get_data(as_text=True))
    a, b = w.trainees[0], w.trainees[1]
    resp = org_client.post(url, data={"csrf_token": token, f"{a.id}:coursework": "85.5",
                                      f"{b.id}:coursework": "101"})
    assert resp.status_code == 422 and "超出范围" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ComponentMark)) == 0
    resp = org_client.post(url, data={"csrf_token": token, f"{a.id}:coursework": "85.5",
                                      f"{b.id}:coursework": "９０"})   # full-width digits are fine
    assert resp.status_code == 302
    assert {m.trainee_id: m.score for m in db.session.scalars(select(ComponentMark))} == {a.id: "85.5", b.id: "90"}
    for bad, words in [("abc", "不是数字"), ("80.123", "两位小数"), ("-1", "超出范围")]:
        resp = org_client.post(url, data={"csrf_token": token, f"{a.id}:coursework": bad})
        assert resp.status_code == 422 and words in resp.get_data(as_text=True)
    assert {m.trainee_id: m.score for m in db.session.scalars(select(ComponentMark))} == {a.id: "85.5", b.id: "90"}


def test_outcomes_page_and_excel_roster(w, org_client):
    _finish(w, attendance={"T002": (7,)})
    page = org_client.get(f"/training/{w.prog.id}/outcomes").get_data(as_text=True)
    assert "不合格" in page and "出勤率" in page and "王芳" in page
    resp = org_client.get(f"/training/{w.prog.id}/roster.xlsx")
    assert resp.status_code == 200
    wb = load_workbook(io.BytesIO(resp.data))
    ws = wb["学员考核成绩"]
    header = [c.value for c in ws[3]]
    for col in ("学员编号", "姓名", "学校", "出勤率", "过程作业（百分制）", "课程/活动设计（百分制）", "成果汇报（百分制）",
                "总评", "考核结果", "优秀学员", "说明"):
        assert col in header, col
    rows = {r[1]: dict(zip(header, r)) for r in ws.iter_rows(min_row=4, values_only=True) if r[1]}
    assert rows["T002"]["考核结果"] == "不合格" and "70%" in rows["T002"]["说明"]
    assert rows["T001"]["考核结果"] == "结业" and isinstance(rows["T001"]["总评"], (int, float))   # a number, not text
    assert "考勤明细" in wb.sheetnames


def test_completion_list_published_and_certificates_carry_the_hours(w, org_client, client):
    _finish(w, attendance={"T002": (7,)})      # 王芳 fails on attendance: no certificate
    page = org_client.get(f"/training/{w.prog.id}/outcomes")
    resp = org_client.post(f"/training/{w.prog.id}/outcomes/publication",
                           data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 302
    pub = db.session.scalar(select(Publication).where(Publication.stage_id == w.stage.id))
    assert pub.status == "draft"
    names = {r["contestant"]: r for r in pub.snapshot["categories"][0]["groups"][0]["rows"]}
    assert names["王芳"]["rank"] is None and names["王芳"]["award"] is None
    pubs.publish(db.session, pub, "test")
    # the public sees the passed trainees only
    public = client.get(f"/results/{pub.id}")
    assert public.status_code == 200
    text = public.get_data(as_text=True)
    assert "李红" in text and "王芳" not in text
    pubs.finalise(db.session, pub, "test", today=pub.objection_until + __import__("datetime").timedelta(days=1))
    issued = certs.issue_for_publication(db.session, pub, "test")
    db.session.commit()
    holders = {c.holder_name: c for c in issued}
    assert "王芳" not in holders and "李红" in holders and holders["李红"].serial.startswith("PX2026-")
    assert {c.award_name for c in issued} <= {"结业", "优秀学员"}
    cert = holders["李红"]
    pdf = client.get(f"/certificates/{cert.serial}.pdf?code={cert.verify_code}")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert shutil.which("pdftotext"), "make test installs poppler-utils"
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.data, capture_output=True, check=True).stdout.decode()
    flat = "".join(text.split())
    assert "结业证书" in flat and "李红" in flat and "40学时" in flat and w.prog.name in flat
    # a second draft is a new version and needs a reason
    page = org_client.get(f"/training/{w.prog.id}/outcomes")
    resp = org_client.post(f"/training/{w.prog.id}/outcomes/publication",
                           data={"csrf_token": csrf_from(page.get_data(as_text=True))}, follow_redirects=True)
    assert "变更原因" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Publication).where(Publication.stage_id == w.stage.id)) == 1


def test_no_completion_list_while_outcomes_are_pending(w, org_client):
    page = org_client.get(f"/training/{w.prog.id}/outcomes")
    resp = org_client.post(f"/training/{w.prog.id}/outcomes/publication",
                           data={"csrf_token": csrf_from(page.get_data(as_text=True))}, follow_redirects=True)
    assert "未完成" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Publication)) == 0


# -- across sessions --------------------------------------------------------------------------------

def test_the_cross_session_report_compares_sessions_and_flags_the_odd_one(app, org_client):
    sessions = [build_training(name=f"2026年科学教师培训（第{k}期·贵州站）", tag=str(k)) for k in range(1, 7)]
    level = ["0.78", "0.8", "0.82", "0.79", "0.81", "0.5"]    # session 6: its instructors marked far lower
    for s, f in zip(sessions, level):
        for t in s.trainees:
            attend(s, t, 10)
            training.set_component_mark(db.session, s.prog, t.id, "coursework", "80", actor="t")
            db.session.commit()
            score(s, t, "course_design", f)
            score(s, t, "presentation", f)
    resp = org_client.get("/training/report?year=2026")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert html.count("<svg") == 2 and "各期结业率" in html and "各期总评分布" in html
    flagged = html.split("需要关注的期次", 1)[1].split("</section>", 1)[0]
    assert "第6期" in flagged and "第1期" not in flagged


def test_training_pages_are_for_organisers(w, client, app):
    for url in (f"/training/{w.prog.id}/", f"/training/{w.prog.id}/outcomes", "/training/report"):
        resp = client.get(url)
        assert resp.status_code in (302, 401), url
    make_user("oversight", "oversight")
    login(client, "oversight")
    assert client.get(f"/training/{w.prog.id}/outcomes").status_code == 200
    page = client.get(f"/training/{w.prog.id}/marks")
    resp = client.post(f"/training/{w.prog.id}/marks", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 403
    make_user("judge", "judge1")
    judge = app.test_client()
    login(judge, "judge1")
    assert judge.get(f"/training/{w.prog.id}/outcomes").status_code == 403
    # an unknown id, or a competition, is not a training session
    assert client.get("/training/999999/").status_code == 404
