"""The organiser's assignment screens over HTTP (CSRF on): runs, refused placements with their
reason, moves, locks, draws, exports (Excel opens, PDF is a PDF with the panel names), roles."""
from __future__ import annotations

import io
import re
import subprocess

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from extensions import db
from models import Assignment, AssignmentRun, DrawRecord, Entry, Panel, PanelMember, PanelRole
from services import assignment as svc
from tests.conftest import csrf_from, login, make_user
from tests.web.test_assignment_service import build


@pytest.fixture
def small(competition):
    return build(competition)


def _url(small, stage=None, tail=""):
    stage = stage or small.regional
    return f"/admin/programmes/{small.prog.id}/stages/{stage.id}/assignment{tail}"


def _post(client, page, url, data):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def _page(client, resp):
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return client.get(resp.headers["Location"]).get_data(as_text=True)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_run_panels_from_the_page(org_client, small):
    page = org_client.get(_url(small)).get_data(as_text=True)
    assert "自动组建评委组" in page and "还没有运行过自动分配" in page
    token = csrf_from(page)
    resp = org_client.post(_url(small, tail="/run"), data={
        "csrf_token": token, "p-grouping": "division_category", "p-size": "4", "p-teacher_seats": "1",
        "p-max_panels": "2", "p-seed": "42", "p-distinct_units": "y", "p-keep_previous": "y"})
    page = _page(org_client, resp)
    assert "已自动组建 3 个评委组" in page and "随机种子 42" in page
    for name in ("贵州赛区·展品辅导", "贵州赛区·科学实验", "云南赛区·展品辅导"):
        assert name in page
    run = db.session.scalars(select(AssignmentRun)).one()
    assert run.status == "applied" and run.seed == "42" and run.user_id is not None


def test_infeasible_run_lists_the_reasons(org_client, small):
    page = org_client.get(_url(small)).get_data(as_text=True)
    resp = org_client.post(_url(small, tail="/run"), data={
        "csrf_token": csrf_from(page), "p-grouping": "division_category", "p-size": "10", "p-teacher_seats": "1",
        "p-distinct_units": "y"})
    page = _text(_page(org_client, resp))
    assert "无法完成分配，数据未作任何修改" in page
    assert "评审组 贵州赛区·展品辅导: 只有 9 名评委可任（需要 10 名）" in page
    assert db.session.query(PanelMember).count() == 0


def test_bad_run_parameters_are_refused(org_client, small):
    page = org_client.get(_url(small)).get_data(as_text=True)
    resp = org_client.post(_url(small, tail="/run"), data={
        "csrf_token": csrf_from(page), "p-grouping": "division_category", "p-size": "0", "p-teacher_seats": "1",
        "p-seed": "abc"})
    page = _page(org_client, resp)
    assert "每组人数应在 1 到 25 之间" in page and "随机种子应为不超过 18 位的非负整数" in page
    assert db.session.query(AssignmentRun).count() == 0


def test_manual_placement_refused_with_its_reason(org_client, small):
    svc.run_panels(db.session, small.regional, size=4, max_panels=2, seed=5)
    gz = db.session.scalar(select(Panel).filter_by(stage_id=small.regional.id, name="贵州赛区·展品辅导"))
    url = _url(small, tail=f"/panels/{gz.id}")
    page = org_client.get(url).get_data(as_text=True)
    # the candidate list shows the conflicted judge, disabled, with the reason
    row = re.search(r'<tr class="cand-conflict">(?:(?!</tr>).)*J02(?:(?!</tr>).)*</tr>', page, re.S)
    assert row, "J02 should be listed as conflicted"
    assert "disabled" in row.group(0) and "贵阳市科技馆" in row.group(0)
    assert f'name="judge_id" value="{small.judges["J02"].id}"' not in page
    n = db.session.query(PanelMember).count()
    resp = org_client.post(url, data={"csrf_token": csrf_from(page), "judge_id": small.judges["J02"].id,
                                      "role": "member"})
    page = _text(_page(org_client, resp))
    assert "未能安排：筑二（J02）须回避" in page and "评委与选手同属“贵阳市科技馆”" in page
    assert db.session.query(PanelMember).count() == n
    # an eligible judge not yet on the panel goes in, locked
    present = {m.judge_id for m in gz.members}
    free = next(j for k, j in small.judges.items() if j.id not in present and k in ("J03", "J04", "J05", "J06", "J07", "J08"))
    resp = _post(org_client, url, url, {"judge_id": free.id, "role": "member"})
    assert "已安排" in _page(org_client, resp)
    m = db.session.scalar(select(PanelMember).filter_by(panel_id=gz.id, judge_id=free.id))
    assert m is not None and m.locked


def test_the_panels_page_refuses_a_conflicting_member_too(org_client, small):
    svc.run_panels(db.session, small.regional, size=4, max_panels=2, seed=5)
    gz = db.session.scalar(select(Panel).filter_by(stage_id=small.regional.id, name="贵州赛区·展品辅导"))
    page_url = f"/admin/programmes/{small.prog.id}/panels?stage={small.regional.id}"
    resp = _post(org_client, page_url, f"/admin/programmes/{small.prog.id}/panels/{gz.id}/members",
                 {"judge_ref": "J01", "role": "member"})
    page = _text(_page(org_client, resp))
    assert "不能加入：黔一 须回避本组作品" in page and "贵州省科技馆" in page
    assert db.session.scalar(select(PanelMember).filter_by(panel_id=gz.id, judge_id=small.judges["J01"].id)) is None


def test_move_lock_and_remove(org_client, small):
    svc.run_panels(db.session, small.regional, size=4, max_panels=3, seed=5)
    gz = db.session.scalar(select(Panel).filter_by(stage_id=small.regional.id, name="贵州赛区·展品辅导"))
    yn = db.session.scalar(select(Panel).filter_by(stage_id=small.regional.id, name="云南赛区·展品辅导"))
    url = _url(small, tail=f"/panels/{yn.id}")
    # move a Yunnan panel member who may judge the Guizhou exhibit entries
    index = svc.stage_conflict_index(db.session, small.regional)
    scope = svc.panel_scope(db.session, gz)
    member = next(m for m in yn.members if m.judge_id not in {x.judge_id for x in gz.members}
                  and m.role != PanelRole.chief and not any(index.is_hard(m.judge_id, e.id) for e in scope))
    moving = member.judge_id
    resp = _post(org_client, url, _url(small, tail=f"/members/{member.id}/move"), {"target": gz.id})
    page = _page(org_client, resp)
    assert "已将" in page and "调至“贵州赛区·展品辅导”" in page
    moved = db.session.scalar(select(PanelMember).filter_by(panel_id=gz.id, judge_id=moving))
    assert moved.locked
    # lock / unlock
    resp = _post(org_client, url, _url(small, tail=f"/members/{moved.id}/unlock"), {})
    _page(org_client, resp)
    db.session.refresh(moved)
    assert not moved.locked
    # a conflicted move is refused with the reason: 黔一 cannot go to a Guizhou panel
    j01 = small.judges["J01"]
    yn_member = db.session.scalar(select(PanelMember).filter_by(panel_id=yn.id, judge_id=j01.id))
    if yn_member is None:
        yn.members.append(PanelMember(judge_id=j01.id, role=PanelRole.member, locked=True))
        db.session.commit()
        yn_member = db.session.scalar(select(PanelMember).filter_by(panel_id=yn.id, judge_id=j01.id))
    resp = _post(org_client, url, _url(small, tail=f"/members/{yn_member.id}/move"), {"target": gz.id})
    page = _text(_page(org_client, resp))
    assert "未能调整：黔一（J01）须回避" in page
    assert db.session.scalar(select(PanelMember).filter_by(panel_id=yn.id, judge_id=j01.id)) is not None
    # remove
    resp = _post(org_client, url, _url(small, tail=f"/members/{yn_member.id}/remove"), {})
    assert "移出评委组" in _page(org_client, resp)
    assert db.session.scalar(select(PanelMember).filter_by(panel_id=yn.id, judge_id=j01.id)) is None


def test_review_stage_run_place_and_resolve(org_client, small):
    stage = small.prelim
    page = org_client.get(_url(small, stage)).get_data(as_text=True)
    assert "自动分配评审" in page
    resp = org_client.post(_url(small, stage, "/run"), data={
        "csrf_token": csrf_from(page), "r-per_entry": "3", "r-min_load": "2", "r-max_load": "3", "r-seed": "8",
        "r-keep_previous": "y"})
    page = _page(org_client, resp)
    assert "已为 8 件作品各分配 3 名评审" in page
    n03 = small.n["N03"]
    url = _url(small, stage, f"/entries/{n03.id}")
    page = org_client.get(url).get_data(as_text=True)
    assert "须回避" in page and "同属“云南”" in page      # Yunnan judges for a Yunnan entry
    resp = org_client.post(url, data={"csrf_token": csrf_from(page), "judge_id": small.judges["J08"].id})
    assert "同属“云南”" in _text(_page(org_client, resp))
    assert db.session.scalar(select(Assignment).filter_by(entry_id=n03.id, judge_id=small.judges["J08"].id)) is None


def test_draw_from_the_page_and_redraw_needs_a_reason(org_client, small):
    page = org_client.get(_url(small)).get_data(as_text=True)
    resp = org_client.post(_url(small, tail="/draw"), data={"csrf_token": csrf_from(page), "d-seed": "123"})
    page = _page(org_client, resp)
    assert "已抽签：3 组" in page and "✓ 可复现" in page
    recs = db.session.scalars(select(DrawRecord)).all()
    assert len(recs) == 3 and all(svc.verify_record(r) for r in recs)
    numbers = {e.external_id: e.draw_number for e in db.session.scalars(select(Entry).filter_by(stage_id=small.regional.id))}
    resp = org_client.post(_url(small, tail="/draw"), data={"csrf_token": csrf_from(page), "d-seed": ""})
    assert "重新抽签须填写理由" in _page(org_client, resp)
    assert db.session.query(DrawRecord).count() == 3
    assert numbers == {e.external_id: e.draw_number for e in db.session.scalars(select(Entry).filter_by(stage_id=small.regional.id))}
    resp = org_client.post(_url(small, tail="/draw"), data={"csrf_token": csrf_from(page), "d-reason": "名单更正"})
    assert "重新抽签：名单更正" in _page(org_client, resp)


def test_excel_exports_open_and_list_the_judges(org_client, small):
    svc.run_panels(db.session, small.regional, size=4, max_panels=2, seed=5)
    svc.draw_stage(db.session, small.regional)
    resp = org_client.get(_url(small, tail="/export/panels.xlsx"))
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    ws = load_workbook(io.BytesIO(resp.data)).active
    cells = [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]
    names = {m.judge.person.name for p in db.session.scalars(select(Panel)) for m in p.members}
    assert names and names <= set(cells)
    assert "贵州赛区·展品辅导" in cells and "评委组长" in cells
    resp = org_client.get(_url(small, tail="/export/schedule.xlsx"))
    wb = load_workbook(io.BytesIO(resp.data))
    assert wb.sheetnames == ["评委日程", "汇总"]
    rows = list(wb["评委日程"].iter_rows(min_row=4, values_only=True))
    assert rows and {r[1] for r in rows} == names
    assert all(isinstance(r[4], int) for r in rows)          # draw numbers
    assert "会呼吸的岩石" in {r[6] for r in rows}


def _pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_pdf_exports_are_pdfs_with_the_panel_names(org_client, small, tmp_path):
    svc.run_panels(db.session, small.regional, size=4, max_panels=2, seed=5)
    svc.draw_stage(db.session, small.regional)
    resp = org_client.get(_url(small, tail="/export/panels.pdf"))
    assert resp.status_code == 200 and resp.mimetype == "application/pdf" and resp.data.startswith(b"%PDF")
    text = _pdf_text(resp.data, tmp_path)
    for name in ("评委组名单", "贵州赛区·展品辅导", "云南赛区·展品辅导", "评委组长"):
        assert name in text
    judge = small.judges["J05"]
    resp = org_client.get(_url(small, tail=f"/export/schedule.pdf?judge={judge.id}"))
    assert resp.data.startswith(b"%PDF")
    text = _pdf_text(resp.data, tmp_path)
    assert "评委日程" in text
    if db.session.scalar(select(PanelMember).filter_by(judge_id=judge.id)) is not None:
        assert "京五" in text


def test_anonymous_schedule_pdf_shows_codes_not_contestants(org_client, small, tmp_path):
    svc.run_reviews(db.session, small.prelim, per_entry=3, seed=3)
    svc.draw_stage(db.session, small.prelim)
    resp = org_client.get(_url(small, small.prelim, "/export/schedule.pdf"))
    text = _pdf_text(resp.data, tmp_path)
    codes = [e.anonymous_code for e in db.session.scalars(select(Entry).filter_by(stage_id=small.prelim.id))]
    assert any(c in text for c in codes) and "熊猫的竹子" in text
    assert "选手N0" not in text and "选手" not in text.replace("选手N", "")   # no contestant column or name


def test_documents_get_plain_values_and_fetch_nothing(tmp_path):
    from documents import pdf
    with pytest.raises(TypeError):
        pdf.render_html("panels.html", {"programme": object()})
    fetcher = pdf.url_fetcher(tmp_path)
    (tmp_path / "ok.txt").write_text("x")
    assert fetcher((tmp_path / "ok.txt").as_uri()).read() == b"x"
    for url in ("file:///etc/passwd", "http://example.com/x.css", "https://example.com/font.woff2",
                (tmp_path / ".." / "secret").resolve().as_uri()):
        with pytest.raises(ValueError):
            fetcher(url)


@pytest.mark.parametrize("role,get_status,post_status", [
    ("oversight", 200, 403), ("judge", 403, 403), ("chief", 403, 403),
])
def test_roles(app, small, role, get_status, post_status):
    client = app.test_client()
    make_user(role, role)
    assert login(client, role).status_code == 302
    assert client.get(_url(small)).status_code == get_status
    assert client.get(_url(small, tail="/export/panels.xlsx")).status_code == get_status
    token = csrf_from(client.get("/home", follow_redirects=True).get_data(as_text=True))
    resp = client.post(_url(small, tail="/run"), data={"csrf_token": token, "p-size": "4", "p-teacher_seats": "1",
                                                       "p-grouping": "division_category"})
    assert resp.status_code == post_status
    resp = client.post(_url(small, tail="/draw"), data={"csrf_token": token})
    assert resp.status_code == post_status
    assert db.session.query(AssignmentRun).count() == 0 and db.session.query(DrawRecord).count() == 0


def test_oversight_sees_no_forms(app, small):
    client = app.test_client()
    make_user("oversight", "oversight")
    login(client, "oversight")
    page = client.get(_url(small)).get_data(as_text=True)
    assert "监审可查看，不能修改" in page and "自动组建评委组" not in page


def test_exports_follow_the_filter_and_huge_pdfs_are_refused(org_client, small, monkeypatch):
    from blueprints.admin import assignment as views
    svc.run_panels(db.session, small.regional, size=4, max_panels=2, seed=5)
    yn = small.divisions["53"]
    resp = org_client.get(_url(small, tail=f"/export/panels.xlsx?division={yn.id}"))
    ws = load_workbook(io.BytesIO(resp.data)).active
    panels = {r[0] for r in ws.iter_rows(min_row=4, values_only=True)}
    assert panels == {"云南赛区·展品辅导"} and "云南赛区" in ws["A1"].value
    monkeypatch.setitem(views.PDF_MAX_ROWS, "panels", 5)
    resp = org_client.get(_url(small, tail="/export/panels.pdf"))
    page = _page(org_client, resp)
    assert "共 12 行，整份 PDF 太大" in page
    resp = org_client.get(_url(small, tail=f"/export/panels.pdf?division={yn.id}"))
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF")
