"""The staged flow of a resource call (issue 8): 形式审查 returns a resource with the checklist's
reasons, the unit fixes and resubmits it and it is back in the queue; passed resources go to 初评
with 3 reviewers each avoiding their unit and province; a scientific error (一票否决) rejects a
resource whatever its other marks; the shortlist and the selection follow the quota per type
or the threshold; the selected list is published, gets 入选证书 and an Excel export."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from extensions import db
from models import Assignment, Entry, Judge
from services import certificates as certs
from services import publication as pubs
from services import resources as svc
from services.assignment import run_reviews
from tests.conftest import csrf_from
from tests.resources_world import assign, build_call, client_as, panel, pass_all, score, submit, token


@pytest.fixture
def w(app, tmp_path):
    return build_call(app, tmp_path)


# -- 形式审查 --------------------------------------------------------------------------------------

def test_returned_with_reasons_fixed_and_resubmitted_goes_back_to_the_queue(app, w, organiser):
    sub = submit(w, "U11-A", "带单位标识的海报")
    org = client_as(app, "organiser")
    page = org.get(f"/resources/{w.prog.id}/r/{sub.id}").get_data(as_text=True)
    assert "作品内不含单位及作者信息" in page                      # the checklist from format-check.yaml
    resp = org.post(f"/resources/{w.prog.id}/r/{sub.id}/decide",
                    data={"csrf_token": csrf_from(page), "outcome": "return", "failed": ["anonymous"],
                          "note": "第2页右下角有馆徽"})
    assert resp.status_code == 302
    assert "带单位标识的海报" not in org.get(f"/resources/{w.prog.id}/check").get_data(as_text=True)
    unit = client_as(app, "unit-U11-A")
    home = unit.get("/resources/").get_data(as_text=True)
    assert "退回修改" in home and "不符合匿名评审要求" in home and "第2页右下角有馆徽" in home
    detail = unit.get(f"/resources/{w.prog.id}/r/{sub.id}").get_data(as_text=True)
    resp = unit.post(f"/resources/{w.prog.id}/r/{sub.id}/submit", data={"csrf_token": csrf_from(detail)})
    assert resp.status_code == 302
    assert "已提交" in unit.get("/resources/").get_data(as_text=True)
    assert "带单位标识的海报" in org.get(f"/resources/{w.prog.id}/check").get_data(as_text=True)


@pytest.mark.parametrize("outcome, failed, note, message", [
    ("pass", ["anonymous"], "", "存在未通过的必查项"),
    ("return", [], "", "至少勾选一项"),
    ("return", ["no_such_item"], "", "未知的审查项"),
    ("maybe", [], "", "请选择通过或退回修改"),
])
def test_inconsistent_format_decisions_are_refused_and_change_nothing(app, w, organiser, outcome, failed, note,
                                                                     message):
    sub = submit(w, "U11-A", "海报")
    org = client_as(app, "organiser")
    page = org.get(f"/resources/{w.prog.id}/r/{sub.id}").get_data(as_text=True)
    resp = org.post(f"/resources/{w.prog.id}/r/{sub.id}/decide", follow_redirects=True,
                    data={"csrf_token": csrf_from(page), "outcome": outcome, "failed": failed, "note": note})
    assert message in resp.get_data(as_text=True)
    db.session.refresh(sub)
    assert sub.status.value == "submitted" and svc.decisions_of(db.session, sub) == []


def test_a_non_blocking_remark_passes_and_the_unit_sees_it(w):
    sub = submit(w, "U11-A", "海报")
    svc.decide(db.session, w.prog, sub, outcome="pass", failed=["unit_seal"], note="", actor="test")
    db.session.commit()
    assert sub.status.value == "passed" and "盖章" in sub.return_reasons[0]


def test_a_unit_contact_cannot_decide(app, w):
    sub = submit(w, "U11-A", "海报")
    unit = client_as(app, "unit-U11-A")
    detail = unit.get(f"/resources/{w.prog.id}/r/{sub.id}").get_data(as_text=True)
    assert unit.post(f"/resources/{w.prog.id}/r/{sub.id}/decide",
                     data={"csrf_token": csrf_from(detail), "outcome": "pass"}).status_code == 403


# -- 初评 ------------------------------------------------------------------------------------------

def _four(w):
    subs = [submit(w, "U11-A", "北京海报"), submit(w, "U31-A", "上海海报"), submit(w, "U44-A", "广东海报"),
            submit(w, "U44-B", "深圳海报")]
    pass_all(w, subs)
    entries = svc.start_preliminary(db.session, w.prog)
    db.session.commit()
    return subs, entries


def test_preliminary_assigns_three_reviewers_each_avoiding_unit_and_province(app, w, organiser):
    subs, entries = _four(w)
    assert len(entries) == 4 and {e.stage_id for e in entries} == {w.pre.id}
    assert svc.start_preliminary(db.session, w.prog) == []          # idempotent
    run = run_reviews(db.session, w.pre, per_entry=3, seed=7)
    assert run.status == "applied", run.summary
    rows = db.session.execute(select(Assignment.entry_id, Judge.province_id, Judge.unit_id)
                              .join(Judge, Judge.id == Assignment.judge_id)
                              .where(Assignment.stage_id == w.pre.id)).all()
    by_entry = {e.id: e for e in entries}
    assert len(rows) == 12
    for entry_id, province_id, unit_id in rows:
        assert province_id != by_entry[entry_id].province_id and unit_id != by_entry[entry_id].unit_id
    unit = client_as(app, "unit-U11-A")
    assert "初评中" in unit.get("/resources/").get_data(as_text=True)


def _scored_preliminary(w):
    """Four posters, three reviewers each (RJ03-RJ05, none from 11/31/44); 北京 best, 深圳 worst.
    上海 is marked high but one reviewer finds a scientific error."""
    subs, entries = _four(w)
    judges = w.reviewers[2:5]
    assign(w, w.pre, judges, entries)
    marks = {"北京海报": 0.9, "上海海报": 0.95, "广东海报": 0.8, "深圳海报": 0.7}
    for e in entries:
        for j in judges:
            flags = ["scientific_error"] if e.title == "上海海报" and j is judges[0] else ()
            score(w.pre, e, j, marks[e.title], flags=flags, comment="第3页把光年当作时间单位" if flags else "")
    return subs, entries


def test_a_scientific_error_rejects_whatever_the_other_marks(app, w, organiser):
    _scored_preliminary(w)
    groups, warnings = svc.picks(db.session, w.pre, None, None)
    assert not warnings
    rows = {p.row.entry.title: p for p in groups[0].rows}
    assert rows["上海海报"].row.status == "disqualified" and rows["上海海报"].row.rank is None
    assert not rows["上海海报"].picked
    page = client_as(app, "organiser").get(f"/resources/{w.prog.id}/results").get_data(as_text=True)
    assert "一票否决" in page


def test_shortlist_by_quota_per_type_then_selection_published_with_certificates_and_excel(app, w, organiser):
    subs, _ = _scored_preliminary(w)
    org = client_as(app, "organiser")
    page = org.get(f"/resources/{w.prog.id}/results").get_data(as_text=True)
    org.post(f"/resources/{w.prog.id}/rule", data={"csrf_token": csrf_from(page), "shortlist_per_type": "2",
                                                   "select_per_type": "1", "select_min_score": "60"})
    resp = org.post(f"/resources/{w.prog.id}/shortlist", data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 302
    finals = list(db.session.scalars(select(Entry).where(Entry.stage_id == w.fin.id).order_by(Entry.id)))
    assert [e.title for e in finals] == ["北京海报", "广东海报"]          # 上海 vetoed, 深圳 third
    home = client_as(app, "unit-U11-A").get("/resources/").get_data(as_text=True)
    assert "入围终评" in home
    assert "未入选" in client_as(app, "unit-U44-B").get("/resources/").get_data(as_text=True)   # 深圳: not shortlisted
    judges = [w.reviewers[i] for i in (2, 3, 4)]
    panel(w, w.fin, judges)
    for e in finals:
        for j in judges:
            score(w.fin, e, j, 0.85 if e.title == "广东海报" else 0.8)
    resp = org.post(f"/resources/{w.prog.id}/selection/publication", data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    draft_page = org.get(resp.headers["Location"])
    assert draft_page.status_code == 200 and "广东海报" in draft_page.get_data(as_text=True)
    pub = pubs.latest(db.session, w.fin.id, "stage")
    listed = [(r["title"], r["award"]["name"]) for r in pubs.snapshot_rows(pub.snapshot)]
    assert listed == [("广东海报", "入选")]              # the 入选名单 lists the selected resources only
    xlsx = org.get(f"/resources/{w.prog.id}/selection.xlsx")
    ws = load_workbook(io.BytesIO(xlsx.data)).active
    values = [[c.value for c in row] for row in ws.iter_rows(min_row=4)]
    assert values[0][1:5] == ["入选", 1, values[0][3], "广东海报"] and values[1][1] == "未入选"
    pubs.publish(db.session, pub, "组织方", days=1)
    pubs.finalise(db.session, pub, "组织方", force_reason="测试")
    issued = certs.issue_for_publication(db.session, pub, "组织方")
    db.session.commit()
    assert [(c.holder_name, c.award_name, c.kind.value) for c in issued] == [("广东示例科技馆", "入选", "selection")]
    pdf = certs.render_certificate_pdf(issued[0], db.session)
    assert pdf.startswith(b"%PDF")
    assert "入选" in client_as(app, "unit-U44-A").get("/resources/").get_data(as_text=True)
    assert "未入选" in client_as(app, "unit-U11-A").get("/resources/").get_data(as_text=True)


def test_shortlist_is_refused_while_reviews_are_missing_unless_a_reason_is_given(w):
    subs, entries = _four(w)
    judges = w.reviewers[2:5]
    assign(w, w.pre, judges, entries)
    score(w.pre, entries[0], judges[0], 0.9)
    svc.set_rule(db.session, w.prog, shortlist_per_type="2")
    with pytest.raises(svc.ResourceError, match="评审未完成"):
        svc.shortlist(db.session, w.prog)
    assert db.session.scalars(select(Entry).where(Entry.stage_id == w.fin.id)).all() == []


def test_shortlist_by_threshold(w):
    _scored_preliminary(w)
    svc.set_rule(db.session, w.prog, shortlist_min_score="75")
    created = svc.shortlist(db.session, w.prog)
    assert sorted(e.title for e in created) == ["北京海报", "广东海报"]


@pytest.mark.parametrize("field, value", [("shortlist_per_type", "0"), ("shortlist_per_type", "two"),
                                          ("select_min_score", "101"), ("select_min_score", "x")])
def test_bad_rules_are_refused(w, field, value):
    with pytest.raises(svc.ResourceError) as err:
        svc.set_rule(db.session, w.prog, **{field: value})
    assert field in err.value.fields


def test_demo_builds_resource_submissions_with_pdfs(app, tmp_path):
    from services.demo import build_demo
    from services.demo_resources import tiny_pdf
    summary = build_demo(db.session, tmp_path / "out", seed=5, scale=0.1)
    assert "资源申报演示" in summary
    from models import ResourceSubmission
    subs = db.session.scalars(select(ResourceSubmission)).all()
    assert {s.status.value for s in subs} == {"submitted", "returned", "draft"}
    returned = next(s for s in subs if s.status.value == "returned")
    assert returned.return_reasons and returned.entry is not None
    for s in subs:
        [att] = s.attachments
        assert svc.file_path(att).read_bytes().startswith(b"%PDF-")
    assert svc.sniff(tiny_pdf("x")) == "pdf"


def test_organiser_overview_counts_per_type_and_status_and_oversight_reads_only(app, w, organiser):
    from tests.conftest import make_user
    submit(w, "U11-A", "北京海报")
    sub = submit(w, "U31-A", "上海课程", category="course")
    svc.decide(db.session, w.prog, sub, outcome="return", failed=["originality"], note="", actor="test")
    db.session.commit()
    org = client_as(app, "organiser")
    assert w.prog.name in org.get("/resources/calls/").get_data(as_text=True)
    page = org.get(f"/resources/{w.prog.id}/").get_data(as_text=True)
    table = page.split('id="overview"')[1].split("</table>")[0]
    poster = table.split("科普海报")[1].split("</tr>")[0]
    course = table.split("科学课程")[1].split("</tr>")[0]
    assert poster.count('class="num">1<') == 1 and course.count('class="num">1<') == 1
    assert "北京海报" in page and "上海课程" in page and "退回修改" in page
    make_user("oversight", "oversight")
    ov = client_as(app, "oversight")
    ov_page = ov.get(f"/resources/{w.prog.id}/results")
    assert ov_page.status_code == 200 and "保存规则" not in ov_page.get_data(as_text=True)
    token = csrf_from(ov_page.get_data(as_text=True))
    assert ov.post(f"/resources/{w.prog.id}/rule", data={"csrf_token": token, "select_per_type": "3"}).status_code == 403
    assert db.session.get(svc.ResourceCallSettings, w.prog.id) is None
    unit = client_as(app, "unit-U11-A")
    assert unit.get(f"/resources/{w.prog.id}/").status_code == 403


def test_final_panel_majority_scientific_error_rejects_the_best_marked_resource(w):
    _scored_preliminary(w)
    svc.set_rule(db.session, w.prog, shortlist_per_type="3", select_per_type="1")
    finals = svc.shortlist(db.session, w.prog)
    db.session.commit()
    assert sorted(e.title for e in finals) == ["北京海报", "广东海报", "深圳海报"]
    judges = [w.reviewers[i] for i in (2, 3, 4)]
    panel(w, w.fin, judges)
    for e in finals:
        for k, j in enumerate(judges):
            flagged = e.title == "北京海报" and k < 2            # two of three: the panel's majority
            score(w.fin, e, j, 0.95 if e.title == "北京海报" else 0.8 if e.title == "广东海报" else 0.7,
                  flags=["scientific_error"] if flagged else (), comment="图中地球公转方向画反" if flagged else "")
    snap = svc.selection_snapshot(db.session, w.prog, only_selected=False)
    rows = {r["title"]: r for r in pubs.snapshot_rows(snap)}
    assert rows["北京海报"]["status"] == "disqualified" and not rows["北京海报"]["selected"]
    assert rows["北京海报"]["reasons"]                          # the veto is shown with its reason
    assert [t for t, r in rows.items() if r["selected"]] == ["广东海报"]


def test_a_decision_on_a_resource_someone_else_just_decided_is_refused(w):
    from sqlalchemy import update as sa_update
    from models import ResourceStatus, ResourceSubmission
    sub = submit(w, "U11-A", "海报")
    stale = db.session.get(ResourceSubmission, sub.id)
    db.session.execute(sa_update(ResourceSubmission).where(ResourceSubmission.id == sub.id)
                       .values(status=ResourceStatus.returned).execution_options(synchronize_session=False))
    with pytest.raises(svc.ResourceError, match="其他审查人"):
        svc.decide(db.session, w.prog, stale, outcome="pass", failed=[], note="", actor="test")
    assert svc.decisions_of(db.session, sub) == []


def test_the_format_check_panel_returns_a_resource_with_reasons_and_others_cannot(app, w):
    sub = submit(w, "U11-A", "带馆徽的海报")
    member, outsider = w.reviewers[2], w.reviewers[3]
    panel(w, w.check, [member])
    j = app.test_client()
    j.get(f"/j/{token(member, w.check)}")
    assert "带馆徽的海报" in j.get("/resources/check/").get_data(as_text=True)
    page = j.get(f"/resources/check/{sub.id}").get_data(as_text=True)
    assert f"/resources/files/{sub.attachments[0].id}" in page
    resp = j.post(f"/resources/check/{sub.id}", data={"csrf_token": csrf_from(page), "outcome": "return",
                                                     "failed": ["anonymous"], "note": ""})
    assert resp.status_code == 302
    db.session.refresh(sub)
    assert sub.status.value == "returned" and "匿名评审" in sub.return_reasons[0]
    assert svc.decisions_of(db.session, sub)[0].decided_by.startswith(f"评委 {member.external_id}")
    sub2 = submit(w, "U31-A", "上海海报")
    k = app.test_client()                                   # not on the format-check panel
    k.get(f"/j/{token(outsider, w.check)}")
    assert "上海海报" not in k.get("/resources/check/").get_data(as_text=True)
    assert k.get(f"/resources/check/{sub2.id}").status_code == 404
    m = app.test_client()                                   # a card for another stage
    m.get(f"/j/{token(member, w.pre)}")
    assert m.get("/resources/check/").status_code == 404
    assert app.test_client().get("/resources/check/").status_code == 401
