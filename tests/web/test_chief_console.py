"""The chief judge's console, the big screen and the audit log, as their users meet them:
who may open what, reopening with a reason, 统分确认 that freezes one result even when two
chiefs press at once, withdrawal, read-only oversight, and a screen that shows nothing the
chief has not confirmed."""
from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook

from extensions import db
from models import (Entry, EntryConfirmation, JudgeToken, Panel, PanelMember, PanelRole, Role, ScoreEvent, ScoreSheet,
                    SheetStatus, Unit, ensure_provinces)
from services import sheets as svc
from tests.conftest import login, make_user
from tests.web.test_judge_access import _entry, _judge

CRITERIA = [("kexuexing", 25), ("neirong_zuzhi", 20), ("fudao_fangfa", 25), ("yuyan_yitai", 15),
            ("wenda_yingbian", 10), ("shijian_kongzhi", 5)]


def marks(total) -> dict[str, str]:
    """Exhibit-guiding marks adding up to `total` (steps of 0.5): full marks less the deficit."""
    deficit = Decimal(100) - Decimal(str(total))
    out = {}
    for cid, top in CRITERIA:
        take = min(deficit, Decimal(top))
        out[cid] = str(Decimal(top) - take)
        deficit -= take
    return out


def build_hall(prog) -> SimpleNamespace:
    """The 贵州 division of the regional round, 展品辅导: a panel of six (chief 王组长), three
    entries in running order; judge J0106 shares a unit with entry 3 (回避)."""
    provinces = ensure_provinces(db.session)
    gz = provinces["52"]
    units = [Unit(external_id=f"U09{i:02d}", name=f"测试单位{i}", province_id=gz.id) for i in range(1, 10)]
    db.session.add_all(units)
    db.session.flush()
    regional = prog.stages[0]
    cats = {c.code: c for c in prog.categories}
    exhibit = cats["exhibit"]
    div = next(d for d in prog.divisions if d.province_id == gz.id)
    h = SimpleNamespace(prog=prog, stage=regional, category=exhibit, division=div)
    names = ["王组长", "李评委", "赵评委", "钱评委", "孙评委", "周评委"]
    h.judges = [_judge(prog, f"J01{i + 1:02d}", n, units[i]) for i, n in enumerate(names)]
    h.chief = h.judges[0]
    h.entries = [
        _entry(regional, exhibit, "E0901", "会呼吸的岩石", "选手甲", units[6], division=div, draw=1),
        _entry(regional, exhibit, "E0902", "磁悬浮的秘密", "选手乙", units[7], division=div, draw=2),
        _entry(regional, exhibit, "E0903", "光的折射", "选手丙", units[5], division=div, draw=3),  # J0106's unit
    ]
    db.session.flush()
    h.panel = Panel(stage_id=regional.id, name="贵州赛区展品辅导组", category_id=exhibit.id, division_id=div.id)
    for i, j in enumerate(h.judges):
        h.panel.members.append(PanelMember(judge_id=j.id, role=PanelRole.chief if i == 0 else PanelRole.member))
    db.session.add(h.panel)
    h.chief_token, h.chief_plain = JudgeToken.issue(h.chief.id, regional.id)
    h.member_token, h.member_plain = JudgeToken.issue(h.judges[1].id, regional.id)
    db.session.add_all([h.chief_token, h.member_token])
    db.session.commit()
    h.base = f"/chief/stages/{regional.id}/panels/{h.panel.id}"
    return h


@pytest.fixture
def hall(app, competition):
    return build_hall(competition)


def submit(h, judge, entry, total, status="submitted"):
    actor = svc.Actor(label=f"评委 {judge.external_id}", judge_id=judge.id, device="pytest")
    out = svc.put_sheet(db.session, judge, h.stage, entry.id, {"scores": marks(total), "status": status}, actor)
    db.session.commit()
    return out.sheet


def submit_all(h, entry, totals):
    """Every expected judge of `entry` submits, in panel order, the next total."""
    judges = svc.expected_judges(db.session, entry, h.stage)
    return [submit(h, j, entry, t) for j, t in zip(judges, totals)]


DATA_CSRF = re.compile(r'data-csrf="([^"]+)"')


def csrf_of(client, h) -> str:
    page = client.get(h.base)
    assert page.status_code == 200, page.status_code
    return DATA_CSRF.search(page.get_data(as_text=True)).group(1)


def post(client, url, body, token):
    return client.post(url, json=body, headers={"X-CSRFToken": token})


def signed_in(app, who: str, h):
    """A fresh client signed in as `who`."""
    c = app.test_client()
    if who == "organiser":
        make_user("organiser", "org")
        assert login(c, "org").status_code == 302
    elif who == "oversight":
        make_user("oversight", "watch")
        assert login(c, "watch").status_code == 302
    elif who == "chief":
        make_user("chief", "chief1", judge_id=h.chief.id, display_name="王组长")
        assert login(c, "chief1").status_code == 302
    elif who == "other_chief":       # a chief account whose judge chairs no panel here
        make_user("chief", "chief2", judge_id=h.judges[2].id)
        assert login(c, "chief2").status_code == 302
    elif who == "judge_user":
        make_user("judge", "judge1", judge_id=h.judges[1].id)
        assert login(c, "judge1").status_code == 302
    elif who == "chief_token":
        assert c.get(f"/j/{h.chief_plain}").status_code == 302
    elif who == "member_token":
        assert c.get(f"/j/{h.member_plain}").status_code == 302
    return c


# -- access -----------------------------------------------------------------------------------

ROUTES = ["panel", "grid", "result", "screen", "screen_data", "audit"]
EXPECT = {
    #                panel grid result screen screen_data audit
    "organiser":    (200, 200, 200, 200, 200, 200),
    "oversight":    (200, 200, 200, 200, 200, 200),
    "chief":        (200, 200, 200, 200, 200, 403),
    "chief_token":  (200, 200, 200, 200, 200, 403),
    "other_chief":  (403, 403, 403, 403, 403, 403),
    "judge_user":   (403, 403, 403, 403, 403, 403),
    "member_token": (403, 403, 403, 403, 403, 403),
    "anonymous":    (302, 401, 401, 302, 401, 302),
}


@pytest.mark.parametrize("who", list(EXPECT))
def test_access_matrix(app, hall, who):
    c = signed_in(app, who, hall)
    s, cat = hall.stage.id, hall.category.id
    urls = {"panel": hall.base, "grid": f"{hall.base}/grid.json",
            "result": f"{hall.base}/entries/{hall.entries[0].id}/result.json",
            "screen": f"/screen/{s}/{cat}", "screen_data": f"/screen/{s}/{cat}/data.json",
            "audit": f"/chief/stages/{s}/audit"}
    got = tuple(c.get(urls[r]).status_code for r in ROUTES)
    assert got == EXPECT[who]
    if who == "anonymous":
        assert "/login" in c.get(hall.base).headers["Location"]


def test_index_lists_the_chiefs_panel_and_token_chief_lands_on_it(app, hall):
    c = signed_in(app, "chief_token", hall)
    resp = c.get("/chief/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(hall.base)
    org = signed_in(app, "organiser", hall)
    assert "贵州赛区展品辅导组" in org.get("/chief/").get_data(as_text=True)


def test_posts_refused_for_oversight_judges_and_anonymous(app, hall):
    sheet = submit(hall, hall.judges[1], hall.entries[0], 80)
    watch = signed_in(app, "oversight", hall)
    token = csrf_of(watch, hall)
    page = watch.get(hall.base).get_data(as_text=True)
    assert 'data-can-write="0"' in page and "只读" in page
    assert watch.get(f"{hall.base}/grid.json").get_json()["can_write"] is False
    for url, body in [(f"{hall.base}/sheets/{sheet.id}/reopen", {"reason": "x"}),
                      (f"{hall.base}/entries/{hall.entries[0].id}/confirm", {}),
                      (f"{hall.base}/entries/{hall.entries[0].id}/record", {"inputs": {"duration_seconds": 300}})]:
        resp = post(watch, url, body, token)
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "read_only"
    member = signed_in(app, "member_token", hall)
    assert post(member, f"{hall.base}/sheets/{sheet.id}/reopen", {"reason": "x"}, token).status_code in (400, 403)
    anon = app.test_client()
    assert anon.post(f"{hall.base}/sheets/{sheet.id}/reopen", json={"reason": "x"}).status_code in (400, 401)
    assert db.session.get(ScoreSheet, sheet.id).status == SheetStatus.submitted
    assert db.session.query(ScoreEvent).filter_by(action="reopen").count() == 0


# -- the grid ---------------------------------------------------------------------------------

def test_grid_shows_states_totals_recusal_and_the_off_judge(app, hall):
    e1, e2, e3 = hall.entries
    submit_all(hall, e1, [80, 82, 81, 79, 80, 60])          # J0106 is 21 below the others' median
    submit(hall, hall.judges[1], e2, 70, status="draft")
    c = signed_in(app, "chief", hall)
    g = c.get(f"{hall.base}/grid.json").get_json()
    assert [j["external_id"] for j in g["judges"]] == ["J0101", "J0102", "J0103", "J0104", "J0105", "J0106"]
    assert g["judges"][0]["role"] == "chief"
    rows = {r["id"]: r for r in g["entries"]}
    assert [r["draw_number"] for r in g["entries"]] == [1, 2, 3]
    r1 = rows[e1.id]
    assert r1["state"] == "ready" and r1["expected"] == 6 and r1["missing"] == 0
    assert [c["total"] for c in r1["cells"]] == ["80", "82", "81", "79", "80", "60"]
    warned = [c for c in r1["cells"] if "warning" in c]
    assert len(warned) == 1 and warned[0]["judge_id"] == hall.judges[5].id
    assert warned[0]["warning"]["deviation"] == "-20" and warned[0]["warning"]["direction"] == "low"
    r2 = rows[e2.id]
    assert r2["state"] == "waiting" and r2["missing"] == 6
    assert r2["cells"][1]["state"] == "draft" and "total" not in r2["cells"][1]   # a draft's total stays hidden
    assert r2["cells"][0]["state"] == "missing"
    r3 = rows[e3.id]
    assert r3["expected"] == 5 and r3["cells"][5]["state"] == "recused"
    assert g["counts"]["ready"] == 1 and g["counts"]["sheets_in"] == 6
    for e in hall.entries:       # the bulk grid waits for exactly the judges confirm() will
        want = {j.id for j in svc.expected_judges(db.session, e, hall.stage)}
        got = {c["judge_id"] for c in rows[e.id]["cells"] if c["state"] not in ("none", "recused")}
        assert got == want


# -- reopen -----------------------------------------------------------------------------------

def test_reopen_needs_a_reason_refuses_drafts_and_the_judge_can_edit_again(app, hall):
    e1 = hall.entries[0]
    sheet = submit(hall, hall.judges[1], e1, 80)
    draft = submit(hall, hall.judges[2], e1, 70, status="draft")
    c = signed_in(app, "chief_token", hall)
    token = csrf_of(c, hall)
    resp = post(c, f"{hall.base}/sheets/{sheet.id}/reopen", {"reason": "  "}, token)
    assert resp.status_code == 422 and resp.get_json()["error"]["fields"][0]["field"] == "reason"
    resp = post(c, f"{hall.base}/sheets/{draft.id}/reopen", {"reason": "看错了"}, token)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_submitted"
    resp = post(c, f"{hall.base}/sheets/{sheet.id}/reopen", {"reason": "科学性分数请复核"}, token)
    assert resp.status_code == 200 and resp.get_json()["sheet"]["status"] == "draft"
    ev = db.session.query(ScoreEvent).filter_by(action="reopen").one()
    assert ev.reason == "科学性分数请复核" and ev.actor.startswith("评委组长 J0101") and ev.judge_id == hall.judges[1].id
    # the judge edits and submits again
    again = submit(hall, hall.judges[1], e1, 85)
    assert again.status == SheetStatus.submitted and again.total == "85"
    # a sheet of another panel's entry is not reachable through this panel
    assert post(c, f"/chief/stages/{hall.stage.id}/panels/{hall.panel.id}/sheets/999999/reopen",
                {"reason": "x"}, token).status_code == 404


# -- confirm ----------------------------------------------------------------------------------

def test_confirm_refused_while_sheets_missing_then_freezes_and_locks(app, hall):
    e1 = hall.entries[0]
    submit_all(hall, e1, [80, 82, 81, 79, 90])             # the sixth judge has not submitted
    c = signed_in(app, "chief", hall)
    token = csrf_of(c, hall)
    resp = post(c, f"{hall.base}/entries/{e1.id}/confirm", {}, token)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "sheets_missing"
    assert "J0106" in resp.get_json()["error"]["message"]
    submit(hall, hall.judges[5], e1, 70)
    preview = c.get(f"{hall.base}/entries/{e1.id}/result.json").get_json()
    assert preview["confirmed"] is False
    dropped = {m["judge"]: m["dropped"] for m in preview["result"]["judges"]}
    assert dropped == {"J0101": None, "J0102": None, "J0103": None, "J0104": None, "J0105": "high", "J0106": "low"}
    assert preview["result"]["final_score"] == "80.50"            # mean of 80, 82, 81, 79
    assert preview["result"]["judges"][0]["name"] == "王组长"
    # a stale preview is refused: the chief must look again
    resp = post(c, f"{hall.base}/entries/{e1.id}/confirm", {"final_score": "99.00"}, token)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "changed"
    assert db.session.query(EntryConfirmation).count() == 0
    resp = post(c, f"{hall.base}/entries/{e1.id}/confirm", {"final_score": "80.50"}, token)
    assert resp.status_code == 200 and resp.get_json()["final_score"] == "80.50"
    row = db.session.query(EntryConfirmation).one()
    assert row.result["final_score"] == "80.50" and row.confirmed_by.startswith("评委组长")
    assert {s.status for s in db.session.query(ScoreSheet).filter_by(entry_id=e1.id)} == {SheetStatus.locked}
    # the judge cannot change a locked sheet
    with pytest.raises(svc.SheetError) as err:
        submit(hall, hall.judges[1], e1, 60)
    assert err.value.code == "locked"
    db.session.rollback()
    g = c.get(f"{hall.base}/grid.json").get_json()
    r1 = next(r for r in g["entries"] if r["id"] == e1.id)
    assert r1["state"] == "confirmed" and r1["final_score"] == "80.50"
    assert {cell["state"] for cell in r1["cells"]} == {"locked"}


def test_two_confirmations_yield_one_result(app, hall, monkeypatch):
    e1, e2 = hall.entries[:2]
    submit_all(hall, e1, [80, 82, 81, 79, 90, 70])
    submit_all(hall, e2, [70, 72, 71, 69, 75, 65])
    a, b = signed_in(app, "chief", hall), signed_in(app, "organiser", hall)
    ta, tb = csrf_of(a, hall), csrf_of(b, hall)
    # one after the other: the second chief is told it is already done
    assert post(a, f"{hall.base}/entries/{e1.id}/confirm", {}, ta).status_code == 200
    resp = post(b, f"{hall.base}/entries/{e1.id}/confirm", {}, tb)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "already_confirmed"
    # truly at once: the other worker's row lands after our check; the unique constraint decides
    import services.sheets as sheets_module
    other = EntryConfirmation(entry_id=e2.id, stage_id=hall.stage.id, category_id=e2.category_id,
                              rubric_id="docent-exhibit-guiding", rubric_version=1, status="ok", final_score="70.50",
                              result={"final_score": "70.50"}, confirmed_by="组织方 other")
    db.session.add(other)
    db.session.commit()
    monkeypatch.setattr(sheets_module, "confirmation_of", lambda session, entry_id: None)
    resp = post(a, f"{hall.base}/entries/{e2.id}/confirm", {}, ta)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "already_confirmed"
    assert db.session.query(EntryConfirmation).filter_by(entry_id=e2.id).count() == 1
    assert db.session.query(EntryConfirmation).filter_by(entry_id=e2.id).one().confirmed_by == "组织方 other"
    assert db.session.query(ScoreEvent).filter_by(action="confirm", entry_id=e2.id).count() == 0


def test_unconfirm_needs_a_reason_and_unlocks(app, hall):
    e1 = hall.entries[0]
    submit_all(hall, e1, [80, 82, 81, 79, 90, 70])
    c = signed_in(app, "chief", hall)
    token = csrf_of(c, hall)
    assert post(c, f"{hall.base}/entries/{e1.id}/confirm", {}, token).status_code == 200
    resp = post(c, f"{hall.base}/entries/{e1.id}/unconfirm", {"reason": ""}, token)
    assert resp.status_code == 422
    resp = post(c, f"{hall.base}/entries/{e1.id}/unconfirm", {"reason": "用时录入有误"}, token)
    assert resp.status_code == 200
    assert db.session.query(EntryConfirmation).count() == 0
    assert {s.status for s in db.session.query(ScoreSheet).filter_by(entry_id=e1.id)} == {SheetStatus.submitted}
    assert db.session.query(ScoreEvent).filter_by(action="unconfirm").one().reason == "用时录入有误"
    assert post(c, f"{hall.base}/entries/{e1.id}/unconfirm", {"reason": "再来"}, token).status_code == 409


def test_recorded_overtime_lowers_the_final_score(app, hall):
    e1 = hall.entries[0]
    submit_all(hall, e1, [80, 82, 81, 79, 90, 70])
    c = signed_in(app, "chief", hall)
    token = csrf_of(c, hall)
    g = c.get(f"{hall.base}/grid.json").get_json()
    assert g["rubric"]["inputs"] == ["duration_seconds"]
    resp = post(c, f"{hall.base}/entries/{e1.id}/record",
                {"inputs": {"duration_seconds": "331"}, "penalties": {"identity_disclosed": 1}}, token)
    assert resp.status_code == 200, resp.get_json()
    res = c.get(f"{hall.base}/entries/{e1.id}/result.json").get_json()["result"]
    assert res["final_score"] == "76.50"        # 80.50 - 2 (31 s over: two started half-minutes) - 2
    bad = post(c, f"{hall.base}/entries/{e1.id}/record", {"inputs": {"duration_seconds": "-5"}}, token)
    assert bad.status_code == 422


def test_only_organisers_close_scoring(app, hall):
    chief = signed_in(app, "chief", hall)
    token = csrf_of(chief, hall)
    assert chief.post(f"/chief/stages/{hall.stage.id}/scoring",
                      data={"csrf_token": token, "closed": "1"}).status_code == 403
    org = signed_in(app, "organiser", hall)
    page = org.get(hall.base).get_data(as_text=True)
    assert "结束本阶段评分" in page
    form_token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    resp = org.post(f"/chief/stages/{hall.stage.id}/scoring",
                    data={"csrf_token": form_token, "closed": "1", "next": hall.base})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(hall.base)
    db.session.expire_all()
    assert hall.stage.scoring_closed_at is not None
    with pytest.raises(svc.SheetError) as err:
        submit(hall, hall.judges[1], hall.entries[0], 80)
    assert err.value.code == "stage_closed"
    db.session.rollback()
    assert "重新开放评分" in org.get(hall.base).get_data(as_text=True)


# -- the big screen ---------------------------------------------------------------------------

def test_screen_shows_only_confirmed_results(app, hall):
    e1, e2, e3 = hall.entries
    submit_all(hall, e1, [80, 82, 81, 79, 90, 70])
    submit_all(hall, e2, [91, 92, 93, 94, 95])             # not all in: never on screen
    org = signed_in(app, "organiser", hall)
    url = f"/screen/{hall.stage.id}/{hall.category.id}/data.json"
    before = org.get(url).get_json()
    assert before["latest"] is None and before["ranking"] == []
    text = org.get(url).get_data(as_text=True)
    assert "80.5" not in text and "91" not in text and "磁悬浮" not in text
    token = csrf_of(org, hall)
    assert post(org, f"{hall.base}/entries/{e1.id}/confirm", {}, token).status_code == 200
    d = org.get(url).get_json()
    assert d["latest"]["title"] == "会呼吸的岩石" and d["latest"]["final_score"] == "80.50"
    assert [m["raw"] for m in d["latest"]["marks"]] == ["80", "82", "81", "79", "90", "70"]
    assert [m["dropped"] for m in d["latest"]["marks"]] == [None, None, None, None, "high", "low"]
    assert "judge" not in d["latest"]["marks"][0]          # seats, not names or judge ids
    assert [(r["rank"], r["title"]) for r in d["ranking"]] == [(1, "会呼吸的岩石")]
    assert "磁悬浮" not in org.get(url).get_data(as_text=True)
    # ties share a rank
    submit(hall, hall.judges[5], e2, 93)
    submit_all(hall, e3, [80, 82, 81, 79, 90])
    assert post(org, f"{hall.base}/entries/{e2.id}/confirm", {}, token).status_code == 200
    assert post(org, f"{hall.base}/entries/{e3.id}/confirm", {}, token).status_code == 200
    d = org.get(url).get_json()
    assert [(r["rank"], r["title"]) for r in d["ranking"]][0] == (1, "磁悬浮的秘密")
    assert {r["title"]: r["rank"] for r in d["ranking"]}["光的折射"] == 2
    assert d["latest"]["title"] == "光的折射"
    page = org.get(f"/screen/{hall.stage.id}/{hall.category.id}").get_data(as_text=True)
    assert "<script>" not in page and "js/screen.js" in page


def test_signed_screen_link_opens_without_login(app, hall):
    org = signed_in(app, "organiser", hall)
    page = org.get(hall.base).get_data(as_text=True)
    link = re.search(r'id="screen-link"|href="(/screen/[^"]+)"[^>]*id="screen-link"', page)
    href = re.search(r'href="(/screen/[^"]+)"', page).group(1).replace("&amp;", "&")
    anon = app.test_client()
    assert link is not None
    assert anon.get(href).status_code == 200
    data_url = re.search(r'data-url="([^"]+)"', anon.get(href).get_data(as_text=True)).group(1).replace("&amp;", "&")
    assert anon.get(data_url).status_code == 200
    assert anon.get(href.replace("key=", "key=x")).status_code == 403
    assert anon.get(f"/screen/{hall.stage.id}/{hall.category.id}/data.json?key=forged").status_code == 403


# -- the audit log ----------------------------------------------------------------------------

def test_audit_page_and_exports_contain_every_event(app, hall):
    e1 = hall.entries[0]
    sheet = submit(hall, hall.judges[1], e1, 80)
    chief = signed_in(app, "chief", hall)
    post(chief, f"{hall.base}/sheets/{sheet.id}/reopen", {"reason": "请复核科学性"}, csrf_of(chief, hall))
    submit(hall, hall.judges[1], e1, 84)
    watch = signed_in(app, "oversight", hall)
    page = watch.get(f"/chief/stages/{hall.stage.id}/audit").get_data(as_text=True)
    assert "请复核科学性" in page and "退回" in page and "评委组长 王组长" in page
    assert "科学性 5 → 9" in page and "总分 80 → 84" in page
    assert "状态 已提交 → 草稿" in page
    filtered = watch.get(f"/chief/stages/{hall.stage.id}/audit?action=reopen").get_data(as_text=True)
    assert filtered.count("<tr class=\"a-") == 1
    csv_resp = watch.get(f"/chief/stages/{hall.stage.id}/audit.csv")
    assert csv_resp.status_code == 200 and csv_resp.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(csv_resp.get_data().decode("utf-8-sig"))))
    assert rows[0][:3] == ["序号", "时间（北京时间）", "操作"]
    assert [r[2] for r in rows[1:]] == ["提交", "退回", "提交"]
    assert any("请复核科学性" in r for r in rows[1:])
    x = watch.get(f"/chief/stages/{hall.stage.id}/audit.xlsx")
    ws = load_workbook(io.BytesIO(x.get_data())).active
    values = [[c.value for c in r] for r in ws.iter_rows()]
    assert len(values) == 4 and values[2][2] == "退回" and values[2][7] == "请复核科学性"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", values[1][1])


def test_describe_change_reads_like_a_sentence():
    from services.console import describe_change
    lines = describe_change({"status": "submitted", "scores": {"kexuexing": "20"}, "total": "80", "comment": ""},
                            {"status": "draft", "scores": {"kexuexing": "22"}, "total": "82", "comment": "好"},
                            {"kexuexing": "科学性"})
    assert lines == ["状态 已提交 → 草稿", "科学性 20 → 22", "总分 80 → 82", "评语 — → 好"]
    assert describe_change(None, {"final_score": "80.50", "status": "ok"}) == ["最终得分 — → 80.50"]
