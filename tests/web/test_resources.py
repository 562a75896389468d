"""Resource submission (issue 8): a unit contact drafts, submits, withdraws and resubmits
before the deadline and is refused after it; files are checked by their content and size and
stored outside static/; another unit, a stranger and an unassigned reviewer cannot see a
resource or its files (404), the organiser and the assigned reviewer can."""
from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from extensions import db
from models import Entry, PanelMember, ResourceAttachment, ResourceSubmission
from models.base import BEIJING
from services import resources as svc
from tests.conftest import csrf_from, make_user
from tests.resources_world import JPEG, PDF, PNG, assign, build_call, client_as, panel, submit, token


@pytest.fixture
def w(app, tmp_path):
    return build_call(app, tmp_path)


def _post_form(c, url, data, files=()):
    token = csrf_from(c.get(url).get_data(as_text=True))
    body = dict(data, csrf_token=token)
    body["files"] = [(io.BytesIO(d), n) for n, d in files]
    return c.post(url, data=body, content_type="multipart/form-data")


def _poster(w):
    return next(c for c in w.prog.categories if c.code == "poster")


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# -- the form ------------------------------------------------------------------------------------

def test_contact_submits_with_a_pdf_and_sees_it_listed_as_submitted(app, w):
    c = client_as(app, "unit-U11-A")
    resp = _post_form(c, f"/resources/{w.prog.id}/new",
                      {"title": "光的折射海报", "category_id": _poster(w).id, "description": "面向小学生",
                       "authors": "张三、李四", "links": "https://video.example.cn/v/1", "action": "submit"},
                      files=[("../../光的折射 海报.PDF", PDF)])
    assert resp.status_code == 302, resp.get_data(as_text=True)
    sub = db.session.scalar(select(ResourceSubmission))
    assert sub.status.value == "submitted" and sub.entry.stage_id == w.check.id
    files = [a for a in sub.attachments if a.kind == "file"]
    assert [a.name for a in files] == ["光的折射 海报.pdf"]
    path = svc.file_path(files[0])
    assert path.read_bytes() == PDF and "static" not in path.parts and "光的折射" not in path.name
    home = c.get("/resources/").get_data(as_text=True)
    assert "光的折射海报" in home and "已提交" in home
    dl = c.get(f"/resources/files/{files[0].id}")
    assert dl.status_code == 200 and dl.data == PDF and dl.mimetype == "application/pdf"
    assert dl.headers["Content-Disposition"].startswith("inline")


@pytest.mark.parametrize("name, data, message", [
    ("fake.pdf", b"<html>not a pdf</html>", "不是 PDF、JPG 或 PNG 文件"),
    ("photo.pdf", PNG, "扩展名与内容不符"),
    ("photo.png", JPEG, "扩展名与内容不符"),
    ("empty.pdf", b"", "空文件"),
    ("script.exe", b"MZ\x90\x00", "不是 PDF、JPG 或 PNG 文件"),
])
def test_a_bad_file_is_refused_with_its_name_and_nothing_is_stored(app, w, tmp_path, name, data, message):
    c = client_as(app, "unit-U11-A")
    resp = _post_form(c, f"/resources/{w.prog.id}/new",
                      {"title": "标题", "category_id": _poster(w).id, "description": "d", "authors": "a",
                       "action": "submit"}, files=[("good.pdf", PDF), (name, data)])
    text = resp.get_data(as_text=True)
    assert resp.status_code == 400 and message in text
    assert _count(ResourceSubmission) == 0 and _count(ResourceAttachment) == 0 and _count(Entry) == 0
    assert not (tmp_path / "uploads").exists() or not any((tmp_path / "uploads").rglob("*.*"))


def test_a_file_over_the_size_limit_is_refused(app, w):
    app.config["RESOURCE_MAX_FILE_MB"] = 1
    c = client_as(app, "unit-U11-A")
    big = PDF + b"0" * (1024 * 1024)
    resp = _post_form(c, f"/resources/{w.prog.id}/new",
                      {"title": "大文件", "category_id": _poster(w).id, "description": "d", "authors": "a",
                       "action": "submit"}, files=[("big.pdf", big)])
    assert resp.status_code == 400 and "超过 1 MB 的上限" in resp.get_data(as_text=True)
    assert _count(ResourceSubmission) == 0


@pytest.mark.parametrize("link", ["http://video.example.cn/v/1", "javascript:alert(1)", "https://", "ftp://x.cn/a"])
def test_video_links_must_be_https(app, w, link):
    c = client_as(app, "unit-U11-A")
    resp = _post_form(c, f"/resources/{w.prog.id}/new",
                      {"title": "视频", "category_id": _poster(w).id, "description": "d", "authors": "a",
                       "links": link, "action": "submit"})
    assert resp.status_code == 400 and "https://" in resp.get_data(as_text=True)
    assert _count(ResourceSubmission) == 0


def test_submission_needs_description_authors_and_an_attachment_but_a_draft_does_not(app, w):
    c = client_as(app, "unit-U11-A")
    resp = _post_form(c, f"/resources/{w.prog.id}/new",
                      {"title": "半成品", "category_id": _poster(w).id, "action": "submit"})
    text = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "提交前请填写资源说明" in text and "提交前请填写作者" in text and "至少上传一个作品文件" in text
    resp = _post_form(c, f"/resources/{w.prog.id}/new",
                      {"title": "半成品", "category_id": _poster(w).id, "action": "draft"})
    assert resp.status_code == 302
    sub = db.session.scalar(select(ResourceSubmission))
    assert sub.status.value == "draft" and sub.entry_id is None
    assert "草稿" in c.get("/resources/").get_data(as_text=True)


def test_type_must_be_one_of_the_calls_categories(app, w):
    c = client_as(app, "unit-U11-A")
    resp = _post_form(c, f"/resources/{w.prog.id}/new",
                      {"title": "x", "category_id": "99999", "action": "draft"})
    assert resp.status_code == 400 and "资源类型" in resp.get_data(as_text=True)


# -- the deadline --------------------------------------------------------------------------------

def test_deadline_is_the_end_of_the_format_check_day_in_beijing(w):
    day = w.check.ends_on
    last = datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=BEIJING)
    assert svc.is_open(w.prog, last)
    assert not svc.is_open(w.prog, last + timedelta(seconds=1))


def test_after_the_deadline_submitting_editing_and_withdrawing_are_refused(app, w):
    sub = submit(w, "U11-A", "早交的海报")
    w.check.ends_on = w.check.ends_on - timedelta(days=30)
    db.session.commit()
    c = client_as(app, "unit-U11-A")
    page = c.get(f"/resources/{w.prog.id}/new").get_data(as_text=True)
    assert "申报已截止" in page
    resp = c.post(f"/resources/{w.prog.id}/new", data={"csrf_token": csrf_from(page), "title": "迟交",
                                                      "category_id": _poster(w).id, "action": "draft"})
    assert resp.status_code == 409 and "截止" in resp.get_data(as_text=True)
    detail = c.get(f"/resources/{w.prog.id}/r/{sub.id}").get_data(as_text=True)
    resp = c.post(f"/resources/{w.prog.id}/r/{sub.id}/withdraw", data={"csrf_token": csrf_from(detail)},
                  follow_redirects=True)
    assert "截止" in resp.get_data(as_text=True)
    db.session.refresh(sub)
    assert sub.status.value == "submitted" and _count(ResourceSubmission) == 1


def test_withdraw_and_resubmit_before_the_deadline(app, w):
    sub = submit(w, "U11-A", "可撤回的海报")
    c = client_as(app, "unit-U11-A")
    detail = c.get(f"/resources/{w.prog.id}/r/{sub.id}").get_data(as_text=True)
    c.post(f"/resources/{w.prog.id}/r/{sub.id}/withdraw", data={"csrf_token": csrf_from(detail)})
    db.session.refresh(sub)
    assert sub.status.value == "withdrawn" and sub.entry.status == "withdrawn"
    c.post(f"/resources/{w.prog.id}/r/{sub.id}/submit", data={"csrf_token": csrf_from(detail)})
    db.session.refresh(sub)
    assert sub.status.value == "submitted" and sub.entry.status == "active"
    assert _count(Entry) == 1


# -- who sees what -------------------------------------------------------------------------------

def test_another_unit_cannot_see_edit_or_download_a_resource(app, w):
    sub = submit(w, "U11-A", "北京的海报")
    att = sub.attachments[0]
    other = client_as(app, "unit-U31-A")
    assert other.get(f"/resources/{w.prog.id}/r/{sub.id}").status_code == 404
    assert other.get(f"/resources/{w.prog.id}/r/{sub.id}/edit").status_code == 404
    assert other.get(f"/resources/files/{att.id}").status_code == 404
    assert "北京的海报" not in other.get("/resources/").get_data(as_text=True)
    token_page = other.get("/resources/").get_data(as_text=True)
    resp = other.post(f"/resources/{w.prog.id}/r/{sub.id}/withdraw", data={"csrf_token": csrf_from(token_page)})
    assert resp.status_code == 404
    db.session.refresh(sub)
    assert sub.status.value == "submitted"
    assert app.test_client().get(f"/resources/files/{att.id}").status_code == 404      # anonymous
    assert app.test_client().get(f"/resources/files/{att.id + 1000}").status_code == 404


def test_organiser_sees_the_file_and_an_unassigned_judge_or_judge_account_does_not(app, w, organiser):
    sub = submit(w, "U11-A", "北京的海报")
    att = sub.attachments[0]
    assert client_as(app, "organiser").get(f"/resources/files/{att.id}").status_code == 200
    make_user("judge", "judge-acct", judge_id=w.reviewers[2].id)
    assert client_as(app, "judge-acct").get(f"/resources/files/{att.id}").status_code == 404
    j = app.test_client()
    j.get(f"/j/{token(w.reviewers[2], w.check)}")
    assert j.get(f"/resources/files/{att.id}").status_code == 404


def test_the_reviewer_assigned_in_the_current_stage_sees_the_file(app, w):
    sub = submit(w, "U11-A", "北京的海报")
    svc.decide(db.session, w.prog, sub, outcome="pass", failed=[], note="", actor="test")
    [entry] = svc.start_preliminary(db.session, w.prog)
    db.session.commit()
    assigned, other = w.reviewers[2], w.reviewers[3]
    assign(w, w.pre, [assigned], [entry])
    att = sub.attachments[0]
    j = app.test_client()
    j.get(f"/j/{token(assigned, w.pre)}")
    assert j.get(f"/resources/files/{att.id}").data == PDF
    home = j.get("/judge/").get_data(as_text=True)
    assert f"/resources/files/{att.id}" in home          # listed beside the rubric
    k = app.test_client()
    k.get(f"/j/{token(other, w.pre)}")
    assert k.get(f"/resources/files/{att.id}").status_code == 404
    # a token for another stage does not open it either
    m = app.test_client()
    m.get(f"/j/{token(assigned, w.check)}")
    assert m.get(f"/resources/files/{att.id}").status_code == 404


def test_safe_name_keeps_chinese_and_drops_paths_and_specials():
    assert svc.safe_name("../../etc/passwd") == "passwd"
    assert svc.safe_name("C:\\Users\\a\\海报<1>.PDF") == "海报_1_.pdf"
    assert svc.safe_name("...") == "附件"
    assert svc.safe_name("a\r\nb.pdf") == "a__b.pdf"
    assert len(svc.safe_name("长" * 300 + ".pdf")) == 100


def test_editing_replaces_an_attachment_and_its_file_is_deleted(app, w):
    sub = submit(w, "U11-A", "海报")
    old = sub.attachments[0]
    old_path = svc.file_path(old)
    c = client_as(app, "unit-U11-A")
    resp = _post_form(c, f"/resources/{w.prog.id}/r/{sub.id}/edit",
                      {"title": "海报（修改）", "category_id": _poster(w).id, "description": "d", "authors": "a",
                       "remove": str(old.id), "action": "submit"}, files=[("新版.png", PNG)])
    assert resp.status_code == 302
    db.session.refresh(sub)
    assert [a.name for a in sub.attachments] == ["新版.png"] and sub.entry.title == "海报（修改）"
    assert not old_path.exists() and svc.file_path(sub.attachments[0]).read_bytes() == PNG


def test_a_passed_resource_can_no_longer_be_edited(app, w):
    sub = submit(w, "U11-A", "海报")
    svc.decide(db.session, w.prog, sub, outcome="pass", failed=[], note="", actor="test")
    db.session.commit()
    c = client_as(app, "unit-U11-A")
    resp = _post_form(c, f"/resources/{w.prog.id}/r/{sub.id}/edit",
                      {"title": "偷偷改", "category_id": _poster(w).id, "action": "draft"})
    assert resp.status_code == 409 and "已通过形式审查" in resp.get_data(as_text=True)
    db.session.refresh(sub)
    assert sub.title == "海报"


def test_a_file_above_the_apps_8_mb_body_limit_but_within_20_mb_is_accepted(app, w):
    c = client_as(app, "unit-U11-A")
    big = PDF + b"0" * (9 * 1024 * 1024)
    resp = _post_form(c, f"/resources/{w.prog.id}/new",
                      {"title": "高清海报", "category_id": _poster(w).id, "description": "d", "authors": "a",
                       "action": "submit"}, files=[("高清.pdf", big)])
    assert resp.status_code == 302, resp.status_code
    sub = db.session.scalar(select(ResourceSubmission))
    assert sub.attachments[0].size == len(big)


def test_the_final_panel_sees_the_files_of_a_shortlisted_resource(app, w):
    sub = submit(w, "U11-A", "北京的海报")
    svc.decide(db.session, w.prog, sub, outcome="pass", failed=[], note="", actor="test")
    [pre] = svc.start_preliminary(db.session, w.prog)
    [fin] = svc._carry(db.session, [pre], w.fin)           # as the shortlist does
    db.session.commit()
    panel(w, w.fin, w.reviewers[2:5])
    att = sub.attachments[0]
    j = app.test_client()
    j.get(f"/j/{token(w.reviewers[3], w.fin)}")
    assert f"/resources/files/{att.id}" in j.get("/judge/").get_data(as_text=True)
    assert j.get(f"/resources/files/{att.id}").data == PDF
    beijing = w.reviewers[0]                                # on the panel, but 北京 like the resource
    db.session.add(PanelMember(panel_id=db.session.scalar(select(PanelMember.panel_id)), judge_id=beijing.id))
    db.session.commit()
    same_province = app.test_client()
    same_province.get(f"/j/{token(beijing, w.fin)}")
    assert same_province.get(f"/resources/files/{att.id}").status_code == 404


def test_a_form_over_the_whole_upload_limit_gets_the_per_file_rule(app, w):
    app.config["RESOURCE_MAX_FILE_MB"] = 1                     # the form may carry 10 × 1 MB + 1 MB
    c = client_as(app, "unit-U11-A")
    resp = _post_form(c, f"/resources/{w.prog.id}/new",
                      {"title": "太大", "category_id": _poster(w).id, "action": "draft"},
                      files=[("big.pdf", PDF + b"0" * (12 * 1024 * 1024))])
    text = resp.get_data(as_text=True)
    assert resp.status_code == 413 and "每个文件不超过 1 MB" in text and "8 MB" not in text
    assert _count(ResourceSubmission) == 0


def test_a_judge_account_assigned_to_the_resource_sees_the_file(app, w):
    sub = submit(w, "U11-A", "北京的海报")
    svc.decide(db.session, w.prog, sub, outcome="pass", failed=[], note="", actor="test")
    [entry] = svc.start_preliminary(db.session, w.prog)
    db.session.commit()
    assign(w, w.pre, [w.reviewers[2]], [entry])
    make_user("judge", "judge-acct", judge_id=w.reviewers[2].id)
    assert client_as(app, "judge-acct").get(f"/resources/files/{sub.attachments[0].id}").data == PDF
