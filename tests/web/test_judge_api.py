"""The judge JSON API (DESIGN contract 6) and the rules of `services.sheets` behind it: every
status code a client can meet, idempotent retries, the conflict door, reopen, stale versions,
统分确认 and the audit trail."""
from __future__ import annotations

import json
import threading
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from extensions import db
from models import (EntryConfirmation, EventAction, JudgeToken, Panel, PanelMember, PanelRole, RelationKind,
                    ScoreEvent, ScoreSheet, SheetStatus, Unit, ensure_provinces)
from models.base import utcnow
from scoring.aggregate import entry_result
from scoring.sheets import validate_sheet
from services import sheets as svc
from services.declarations import RelationInput, declare
from tests.web.test_judge_access import _entry, _judge, build_world

FULL = {"kexuexing": 22, "neirong_zuzhi": 18, "fudao_fangfa": 21.5, "yuyan_yitai": 13, "wenda_yingbian": 8.5,
        "shijian_kongzhi": 4.5}                       # 87.5 on the exhibit-guiding rubric


def build_hall(prog) -> SimpleNamespace:
    """A 贵州 regional panel of five judges from five other provinces, three entries, tokens."""
    provinces = ensure_provinces(db.session)
    regional = prog.stages[0]
    exhibit = next(c for c in prog.categories if c.code == "exhibit")
    div = next(d for d in prog.divisions if d.province_id == provinces["52"].id)
    gz = Unit(external_id="U1", name="贵州省科技馆", province_id=provinces["52"].id)
    db.session.add(gz)
    judge_units = [Unit(external_id=f"U{10 + i}", name=f"{n}科技馆", province_id=provinces[code].id)
                   for i, (n, code) in enumerate([("北京", "11"), ("上海", "31"), ("广东", "44"),
                                                  ("四川", "51"), ("云南", "53")])]
    db.session.add_all(judge_units)
    db.session.flush()
    h = SimpleNamespace(prog=prog, stage=regional, category=exhibit, division=div, unit=gz)
    h.judges = [_judge(prog, f"J{i + 1:03d}", f"评委{i + 1}", u) for i, u in enumerate(judge_units)]
    h.entries = [_entry(regional, exhibit, f"E{i + 1:03d}", f"作品{i + 1}", f"选手{i + 1}", gz, division=div, draw=i + 1)
                 for i in range(3)]
    db.session.flush()
    panel = Panel(stage_id=regional.id, name="贵州赛区展品辅导组", category_id=exhibit.id, division_id=div.id)
    for i, j in enumerate(h.judges):
        panel.members.append(PanelMember(judge_id=j.id, role=PanelRole.chief if i == 0 else PanelRole.member))
    db.session.add(panel)
    h.tokens = []
    for j in h.judges:
        row, plain = JudgeToken.issue(j.id, regional.id)
        db.session.add(row)
        h.tokens.append((row, plain))
    db.session.commit()
    return h


@pytest.fixture
def hall(app, competition):
    return build_hall(competition)


def auth(plain: str) -> dict:
    return {"Authorization": f"Bearer {plain}"}


def put(client, plain, entry_id, body, **kw):
    return client.put(f"/api/v1/me/sheets/{entry_id}", json=body, headers=auth(plain), **kw)


def sheet_body(status="submitted", rid="r-1", **extra):
    return {"scores": dict(FULL), "comment": "讲解清楚", "status": status, "client_request_id": rid, **extra}


def events(entry_id=None, action=None) -> int:
    q = select(func.count()).select_from(ScoreEvent)
    if entry_id is not None:
        q = q.where(ScoreEvent.entry_id == entry_id)
    if action is not None:
        q = q.where(ScoreEvent.action == action)
    return db.session.scalar(q)


def sheets_count() -> int:
    return db.session.scalar(select(func.count()).select_from(ScoreSheet))


# -- listing --------------------------------------------------------------------------------------

def test_my_entries_lists_running_order_with_the_rubric(client, hall):
    resp = client.get("/api/v1/me/entries", headers=auth(hall.tokens[1][1]))
    assert resp.status_code == 200
    body = resp.get_json()
    assert [e["id"] for e in body["entries"]] == [e.id for e in hall.entries]
    assert [e["draw_number"] for e in body["entries"]] == [1, 2, 3]
    first = body["entries"][0]
    crit = {c["id"]: (c["max"], c["step"]) for c in first["criteria"]}
    assert crit == {"kexuexing": ("25", "0.5"), "neirong_zuzhi": ("20", "0.5"), "fudao_fangfa": ("25", "0.5"),
                    "yuyan_yitai": ("15", "0.5"), "wenda_yingbian": ("10", "0.5"), "shijian_kongzhi": ("5", "0.5")}
    assert first["status"] == "todo" and first["unit"] == "贵州省科技馆" and first["title"] == "作品1"
    assert (body["done"], body["total"], body["current"]) == (0, 3, hall.entries[0].id)
    rubric = body["rubrics"][str(hall.category.id)]
    assert rubric["overtime"]["limit_seconds"] == 300 and rubric["deductions"][0]["id"] == "identity_disclosed"
    assert resp.headers["Cache-Control"] == "no-store"
    # the descriptor bands come once per category, not again with every entry of the list
    assert all(c["descriptors"] for c in rubric["criteria"])
    assert all(set(c) == {"id", "title", "min", "max", "step", "weight"} for e in body["entries"] for c in e["criteria"])


def test_the_count_and_current_entry_follow_submissions(client, hall):
    plain = hall.tokens[1][1]
    assert put(client, plain, hall.entries[0].id, sheet_body()).status_code == 201
    assert put(client, plain, hall.entries[1].id, sheet_body("draft", "r-2")).status_code == 201
    body = client.get("/api/v1/me/entries", headers=auth(plain)).get_json()
    assert [e["status"] for e in body["entries"]] == ["submitted", "draft", "todo"]
    assert (body["done"], body["total"], body["current"]) == (1, 3, hall.entries[1].id)


def test_anonymous_stage_shows_code_not_unit(client, app, competition):
    w = build_world(competition)
    body = client.get("/api/v1/me/entries", headers=auth(w.prelim_plain)).get_json()
    assert [(e["code"], e["unit"], e["contestant"], e["external_id"]) for e in body["entries"]] == \
        [("K7Q2MX", None, None, None), ("P3R8TW", None, None, None)]
    assert "云南" not in json.dumps(body, ensure_ascii=False)


# -- writing: the status codes --------------------------------------------------------------------

def test_first_put_creates_then_updates_then_submits(client, hall):
    plain, eid = hall.tokens[1][1], hall.entries[0].id
    r1 = put(client, plain, eid, {"scores": {"kexuexing": "22"}, "status": "draft", "client_request_id": "a"})
    assert r1.status_code == 201
    assert (r1.get_json()["status"], r1.get_json()["total"], r1.get_json()["version"]) == ("draft", "22", 1)
    r2 = put(client, plain, eid, {"scores": {"kexuexing": 22, "yuyan_yitai": "１３"}, "status": "draft",
                                  "client_request_id": "b"})
    assert r2.status_code == 200 and r2.get_json()["total"] == "35" and r2.get_json()["version"] == 2
    r3 = put(client, plain, eid, sheet_body(rid="c"))
    assert r3.status_code == 200
    got = r3.get_json()
    assert (got["status"], got["total"], got["version"], got["comment"]) == ("submitted", "87.5", 3, "讲解清楚")
    assert got["scores"]["fudao_fangfa"] == "21.5"
    actions = db.session.scalars(select(ScoreEvent.action).where(ScoreEvent.entry_id == eid)
                                 .order_by(ScoreEvent.id)).all()
    assert actions == [EventAction.create, EventAction.update, EventAction.submit]
    row = db.session.scalar(select(ScoreSheet))
    assert (row.rubric_id, row.rubric_version) == ("docent-exhibit-guiding", 1)


def test_a_replayed_request_id_stores_nothing_new(client, hall):
    plain, eid = hall.tokens[1][1], hall.entries[0].id
    first = put(client, plain, eid, sheet_body(rid="same"))
    assert first.status_code == 201
    before = events()
    again = put(client, plain, eid, sheet_body(rid="same"))
    assert again.status_code == 200 and again.get_json()["replayed"] is True
    assert again.get_json()["version"] == first.get_json()["version"]
    # a replay of an old draft after the sheet was submitted answers the sheet as it is now
    assert events() == before and sheets_count() == 1


def test_a_request_id_cannot_be_reused_for_another_entry(client, hall):
    plain = hall.tokens[1][1]
    assert put(client, plain, hall.entries[0].id, sheet_body(rid="x")).status_code == 201
    resp = put(client, plain, hall.entries[1].id, sheet_body(rid="x"))
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "request_id_reused"
    assert sheets_count() == 1


def test_racing_copies_of_one_request_store_one_sheet(app, client, hall):
    """Eight copies of the same PUT at once (a flaky network retrying): one sheet, one event."""
    plain, eid = hall.tokens[2][1], hall.entries[0].id
    statuses, errors = [], []

    def send():
        try:
            c = app.test_client()
            statuses.append(c.put(f"/api/v1/me/sheets/{eid}", json=sheet_body(rid="race"),
                                  headers=auth(plain)).status_code)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(statuses) == [200] * 7 + [201], statuses
    assert sorted(statuses) == [200] * 7 + [201]
    db.session.expire_all()
    assert sheets_count() == 1 and events(eid) == 1


BAD = [
    # (case, status, code, field)
    ("off_step", 422, "invalid", "scores.kexuexing"),
    ("out_of_range", 422, "invalid", "scores.yuyan_yitai"),
    ("negative", 422, "invalid", "scores.kexuexing"),
    ("not_a_number", 422, "invalid", "scores.kexuexing"),
    ("unknown_criterion", 422, "invalid", "scores.charisma"),
    ("missing_on_submit", 422, "invalid", "scores.wenda_yingbian"),
    ("bad_status", 422, "invalid", "status"),
    ("scores_not_object", 422, "invalid", "scores"),
    ("comment_too_long", 422, "invalid", "comment"),
    ("comment_not_text", 422, "invalid", "comment"),
    ("unknown_field", 422, "invalid", "bonus"),
    ("bad_base_version", 422, "invalid", "base_version"),
    ("boolean_score", 422, "invalid", "scores.kexuexing"),
    ("body_is_list", 400, "bad_request", None),
    ("malformed_json", 400, "bad_json", None),
    ("wrong_content_type", 415, "unsupported_media_type", None),
]


def _bad_request(client, plain, eid, case):
    body = sheet_body()
    if case == "off_step":
        body["scores"]["kexuexing"] = 22.3
    elif case == "out_of_range":
        body["scores"]["yuyan_yitai"] = 16
    elif case == "negative":
        body["scores"]["kexuexing"] = -1
    elif case == "not_a_number":
        body["scores"]["kexuexing"] = "很好"
    elif case == "unknown_criterion":
        body["scores"]["charisma"] = 5
    elif case == "missing_on_submit":
        del body["scores"]["wenda_yingbian"]
    elif case == "bad_status":
        body["status"] = "final"
    elif case == "scores_not_object":
        body["scores"] = [1, 2]
    elif case == "comment_too_long":
        body["comment"] = "好" * 2001
    elif case == "comment_not_text":
        body["comment"] = 5
    elif case == "unknown_field":
        body["bonus"] = 3
    elif case == "bad_base_version":
        body["base_version"] = "two"
    elif case == "boolean_score":
        body["scores"]["kexuexing"] = True
    elif case == "body_is_list":
        return put(client, plain, eid, [body])
    elif case == "malformed_json":
        return client.put(f"/api/v1/me/sheets/{eid}", data='{"scores": {', headers=auth(plain),
                          content_type="application/json")
    elif case == "wrong_content_type":
        return client.put(f"/api/v1/me/sheets/{eid}", data="scores=1", headers=auth(plain),
                          content_type="application/x-www-form-urlencoded")
    return put(client, plain, eid, body)


@pytest.mark.parametrize("case,status,code,field", BAD, ids=[b[0] for b in BAD])
def test_bad_sheets_are_refused_with_field_errors_and_change_nothing(client, hall, case, status, code, field):
    resp = _bad_request(client, hall.tokens[1][1], hall.entries[0].id, case)
    assert resp.status_code == status
    err = resp.get_json()["error"]
    assert err["code"] == code and err["message"]
    if field is not None:
        assert field in [f["field"] for f in err["fields"]]
        assert all(f["message"] for f in err["fields"])
    assert sheets_count() == 0 and events() == 0


def test_a_draft_may_be_incomplete_but_not_wrong(client, hall):
    plain, eid = hall.tokens[1][1], hall.entries[0].id
    ok = put(client, plain, eid, {"scores": {"kexuexing": 20, "neirong_zuzhi": ""}, "status": "draft"})
    assert ok.status_code == 201 and ok.get_json()["scores"] == {"kexuexing": "20"}
    bad = put(client, plain, eid, {"scores": {"kexuexing": 20.2}, "status": "draft"})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["fields"][0]["field"] == "scores.kexuexing"
    assert "0.5" in bad.get_json()["error"]["fields"][0]["message"]


AUTH = [
    ("no_header", 401, "unauthorized"),
    ("wrong_scheme", 401, "unauthorized"),
    ("unknown_token", 401, "unauthorized"),
    ("expired", 401, "token_expired"),
    ("revoked", 401, "token_revoked"),
]


@pytest.mark.parametrize("case,status,code", AUTH)
def test_tokens_are_checked_on_every_request(client, hall, case, status, code):
    row, plain = hall.tokens[1]
    headers = auth(plain)
    if case == "no_header":
        headers = {}
    elif case == "wrong_scheme":
        headers = {"Authorization": f"Basic {plain}"}
    elif case == "unknown_token":
        headers = auth("x" * 32)
    elif case == "expired":
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    elif case == "revoked":
        row.revoked_at = utcnow()
        db.session.commit()
    for resp in (client.get("/api/v1/me/entries", headers=headers),
                 client.put(f"/api/v1/me/sheets/{hall.entries[0].id}", json=sheet_body(), headers=headers)):
        assert resp.status_code == status
        assert resp.get_json()["error"]["code"] == code
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert sheets_count() == 0


def test_doors_for_entries_that_are_not_the_judges(client, app, competition):
    w = build_world(competition)
    # unknown entry, and an entry of another stage: 404
    assert put(client, w.plain, 999999, sheet_body()).status_code == 404
    assert put(client, w.plain, w.p_a.id, sheet_body()).status_code == 404
    assert client.get("/api/v1/me/sheets/abc", headers=auth(w.plain)).status_code == 404
    # another division's entry: 403 not assigned
    resp = put(client, w.plain, w.e_elsewhere.id, sheet_body())
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "not_assigned"
    # the judge's own unit: 403 conflicted, with the reason
    resp = put(client, w.plain, w.e_own.id, sheet_body())
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "conflicted"
    assert "回避" in resp.get_json()["error"]["message"]
    # review design: not assigned
    resp = put(client, w.prelim_plain, w.p_c.id, sheet_body())
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "not_assigned"
    assert client.get(f"/api/v1/me/sheets/{w.p_c.id}", headers=auth(w.prelim_plain)).status_code == 403
    assert sheets_count() == 0


def test_a_conflict_declared_after_a_draft_refuses_the_score(client, app, competition):
    """Issue 4: the assignment predates the conflict; the score is refused at the API."""
    w = build_world(competition)
    body = {"scores": {"kexuexing": 20}, "status": "draft"}
    assert put(client, w.plain, w.e_student.id, body).status_code == 201
    declare(db.session, db.session.get(type(w.judge), w.judge.id), w.regional,
            [RelationInput(kind=RelationKind.teacher_student, entry_id=w.e_student.id, note="指导教师")])
    db.session.commit()
    resp = put(client, w.plain, w.e_student.id, {**body, "status": "submitted", "scores": dict(FULL)})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "conflicted"
    assert "师生" in resp.get_json()["error"]["message"]
    assert db.session.scalar(select(ScoreSheet.status)) == SheetStatus.draft
    # review design: the declaration deletes the assignment; the sheet is refused too
    assert put(client, w.prelim_plain, w.p_a.id, {"scores": {}, "status": "draft"}).status_code == 201
    declare(db.session, db.session.get(type(w.judge), w.judge.id), w.prelim,
            [RelationInput(kind=RelationKind.relative, entry_id=w.p_a.id)])
    db.session.commit()
    resp = put(client, w.prelim_plain, w.p_a.id, {"scores": {}, "status": "draft"})
    assert resp.status_code == 403


def test_a_judge_never_sees_another_judges_sheet(client, hall):
    eid = hall.entries[0].id
    assert put(client, hall.tokens[1][1], eid, sheet_body()).status_code == 201
    other = client.get(f"/api/v1/me/sheets/{eid}", headers=auth(hall.tokens[2][1])).get_json()
    assert other["status"] == "todo" and other["scores"] == {} and other["total"] is None
    listing = client.get("/api/v1/me/entries", headers=auth(hall.tokens[2][1])).get_json()
    assert "87.5" not in json.dumps(listing)


# -- locked, closed, stale ------------------------------------------------------------------------

def test_a_submitted_sheet_is_read_only_until_the_chief_reopens_it(client, hall):
    plain, eid = hall.tokens[1][1], hall.entries[0].id
    assert put(client, plain, eid, sheet_body(rid="1")).status_code == 201
    resp = put(client, plain, eid, sheet_body(rid="2", status="draft"))
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "locked"
    assert resp.get_json()["sheet"]["status"] == "submitted"

    chief = svc.Actor(label="评委组长 评委1", judge_id=hall.judges[0].id)
    sheet = db.session.scalar(select(ScoreSheet))
    with pytest.raises(svc.SheetError) as blank:
        svc.reopen(db.session, sheet, chief, "  ")
    assert blank.value.status == 422
    svc.reopen(db.session, sheet, chief, "科学性分数与评语不符，请核对")
    db.session.commit()

    got = client.get(f"/api/v1/me/sheets/{eid}", headers=auth(plain)).get_json()
    assert (got["status"], got["version"], got["reopen_reason"]) == ("draft", 2, "科学性分数与评语不符，请核对")
    listed = client.get("/api/v1/me/entries", headers=auth(plain)).get_json()["entries"][0]
    assert (listed["status"], listed["reopen_reason"]) == ("draft", "科学性分数与评语不符，请核对")
    # a device that still holds version 1 is told the server copy moved on
    stale = put(client, plain, eid, sheet_body(rid="3", base_version=1))
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale"
    assert stale.get_json()["sheet"]["version"] == 2
    fixed = dict(FULL, kexuexing=20)
    ok = put(client, plain, eid, {"scores": fixed, "status": "submitted", "client_request_id": "4", "base_version": 2})
    assert ok.status_code == 200 and ok.get_json()["total"] == "85.5"
    reopen_event = db.session.scalar(select(ScoreEvent).where(ScoreEvent.action == EventAction.reopen))
    assert reopen_event.old["status"] == "submitted" and reopen_event.new["status"] == "draft"
    assert reopen_event.actor == "评委组长 评委1"


def test_a_closed_stage_refuses_every_write(client, hall):
    svc.set_scoring_closed(db.session, hall.stage, True, svc.Actor(label="组织方 organiser"))
    db.session.commit()
    resp = put(client, hall.tokens[1][1], hall.entries[0].id, sheet_body())
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "stage_closed"
    assert client.get("/api/v1/me/entries", headers=auth(hall.tokens[1][1])).get_json()["stage"]["closed"] is True
    svc.set_scoring_closed(db.session, hall.stage, False, svc.Actor(label="组织方 organiser"))
    db.session.commit()
    assert put(client, hall.tokens[1][1], hall.entries[0].id, sheet_body()).status_code == 201
    # the chief cannot send a sheet back into a closed stage: the judge could not fix it
    svc.set_scoring_closed(db.session, hall.stage, True, svc.Actor(label="组织方 organiser"))
    db.session.commit()
    with pytest.raises(svc.SheetError) as closed:
        svc.reopen(db.session, db.session.scalar(select(ScoreSheet)), svc.Actor(label="评委组长"), "请核对")
    assert (closed.value.status, closed.value.code) == (409, "stage_closed")
    db.session.rollback()
    assert db.session.scalar(select(ScoreSheet.status)) == SheetStatus.submitted


def test_a_broken_rubric_stops_scoring_with_a_reason(client, hall, app, tmp_path):
    (tmp_path / "rubrics" / "docent").mkdir(parents=True)
    (tmp_path / "rubrics" / "docent" / "exhibit-guiding.yaml").write_text("id: [broken\n", encoding="utf-8")
    app.config["RUBRIC_DIR"] = str(tmp_path / "rubrics")
    resp = put(client, hall.tokens[1][1], hall.entries[0].id, sheet_body())
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "rubric_unavailable"
    listing = client.get("/api/v1/me/entries", headers=auth(hall.tokens[1][1])).get_json()
    assert listing["entries"][0]["scorable"] is False and listing["entries"][0]["rubric_problem"]
    assert sheets_count() == 0


# -- browser session ------------------------------------------------------------------------------

def test_the_tablet_session_needs_the_csrf_header_for_writes(client, hall):
    plain, eid = hall.tokens[1][1], hall.entries[0].id
    assert client.get(f"/j/{plain}").status_code == 302
    assert client.get("/api/v1/me/entries").status_code == 200
    refused = client.put(f"/api/v1/me/sheets/{eid}", json=sheet_body())
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "csrf"
    assert sheets_count() == 0
    from tests.web.test_judge_access import declare_none
    declare_none(client)
    page = client.get("/judge/").get_data(as_text=True)
    import re
    token = re.search(r'name="csrf[-_]token"[^>]*(?:content|value)="([^"]+)"', page)
    assert token, "the judge page carries a CSRF token for the API"
    ok = client.put(f"/api/v1/me/sheets/{eid}", json=sheet_body(), headers={"X-CSRFToken": token.group(1),
                                                                            "X-Device-Id": "tablet-07"})
    assert ok.status_code == 201
    assert "tablet-07" in db.session.scalar(select(ScoreEvent.device))


# -- confirmation ---------------------------------------------------------------------------------

def _all_submit(client, hall, eid, marks=(87.5, 80, 90, 60, 85)):
    """Each judge submits a sheet whose total is the given mark (scaled from FULL)."""
    for (row, plain), total in zip(hall.tokens, marks):
        scores = {"kexuexing": 25, "neirong_zuzhi": 20, "fudao_fangfa": 25, "yuyan_yitai": 15, "wenda_yingbian": 10,
                  "shijian_kongzhi": 5}
        cut = Decimal(100) - Decimal(str(total))
        for cid in list(scores):
            take = min(Decimal(scores[cid]), cut)
            scores[cid] = str(Decimal(scores[cid]) - take)
            cut -= take
        assert put(client, plain, eid, {"scores": scores, "status": "submitted",
                                        "client_request_id": f"{row.id}-{eid}"}).status_code == 201


def test_confirm_freezes_the_rubric_result_and_locks_the_sheets(client, hall):
    e = hall.entries[0]
    chief = svc.Actor(label="评委组长 评委1", judge_id=hall.judges[0].id)
    _all_submit(client, hall, e.id, marks=(87.5, 80, 90, 60, 85)[:4] + (0,))
    sheet = db.session.scalars(select(ScoreSheet).where(ScoreSheet.judge_id == hall.judges[4].id)).one()
    db.session.delete(sheet)            # one judge has not submitted yet
    db.session.commit()
    with pytest.raises(svc.SheetError) as missing:
        svc.confirm(db.session, e, hall.stage, chief)
    assert missing.value.status == 409 and "评委5" in missing.value.message
    db.session.rollback()
    put(client, hall.tokens[4][1], e.id, {"scores": {"kexuexing": 25, "neirong_zuzhi": 20, "fudao_fangfa": 20,
                                                     "yuyan_yitai": 10, "wenda_yingbian": 10, "shijian_kongzhi": 0},
                                          "status": "submitted"})
    row = svc.confirm(db.session, e, hall.stage, chief)
    db.session.commit()
    # the frozen result is exactly the scoring engine's (trimmed mean of 87.5 80 90 60 85: drop 90 and 60)
    assert row.final_score == "84.17" and row.status == "ok"
    dropped = {m["raw"]: m["dropped"] for m in row.result["judges"]}
    assert dropped == {"87.5": None, "80": None, "90": "high", "60": "low", "85": None}
    rubric = svc.stage_rubric(hall.stage, hall.category.id)
    engine = entry_result(rubric, {s.judge_id: validate_sheet(rubric, s.scores)
                                   for s in db.session.scalars(select(ScoreSheet))})
    assert str(engine.final_score) == row.final_score
    assert set(db.session.scalars(select(ScoreSheet.status))) == {SheetStatus.locked}
    # locked for the judges, listed as locked, and only one result however often it is confirmed
    resp = put(client, hall.tokens[1][1], e.id, sheet_body(rid="late"))
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "locked"
    listing = client.get("/api/v1/me/entries", headers=auth(hall.tokens[1][1])).get_json()
    assert listing["entries"][0]["status"] == "locked"
    with pytest.raises(svc.SheetError) as twice:
        svc.confirm(db.session, e, hall.stage, chief)
    assert twice.value.code == "already_confirmed"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(EntryConfirmation)) == 1
    # withdrawing the confirmation needs a reason and unlocks the sheets for the chief
    with pytest.raises(svc.SheetError):
        svc.unconfirm(db.session, e, hall.stage, chief, "")
    db.session.rollback()
    svc.unconfirm(db.session, e, hall.stage, chief, "计时有误，重新录入用时")
    db.session.commit()
    assert set(db.session.scalars(select(ScoreSheet.status))) == {SheetStatus.submitted}
    assert events(e.id, EventAction.unconfirm) == 1 and events(e.id, EventAction.confirm) == 1


def test_the_chiefs_record_applies_overtime_and_is_validated(client, hall):
    e = hall.entries[1]
    chief = svc.Actor(label="评委组长 评委1", judge_id=hall.judges[0].id)
    _all_submit(client, hall, e.id, marks=(90, 90, 90, 90, 90))
    with pytest.raises(svc.SheetError) as bad:
        svc.record_entry(db.session, e, hall.stage, chief, inputs={"duration_seconds": "abc"})
    assert bad.value.status == 422
    db.session.rollback()
    svc.record_entry(db.session, e, hall.stage, chief, inputs={"duration_seconds": 340})   # 40 s over: 2 points
    row = svc.confirm(db.session, e, hall.stage, chief)
    db.session.commit()
    assert row.final_score == "88.00"
    assert [p["id"] for p in row.result["penalties"]] == ["overtime"]


def test_a_recused_judges_leftover_sheet_does_not_count(client, app, competition):
    w = build_world(competition)
    # the other judge (云南) scores 磁悬浮 too; 张评委 drafts, then declares a relation
    assert put(client, w.plain, w.e_student.id, sheet_body("draft", "z")).status_code == 201
    declare(db.session, db.session.get(type(w.judge), w.judge.id), w.regional,
            [RelationInput(kind=RelationKind.relative, entry_id=w.e_student.id)])
    db.session.commit()
    entry = db.session.get(type(w.e_student), w.e_student.id)
    expected = svc.expected_judges(db.session, entry, w.regional)
    assert [j.external_id for j in expected] == ["J0006"]
