"""Training attendance pages: the tablet register (form posts and JSON), the room's QR check-in
(issue, scan, identity by name + phone tail, expiry, regeneration, rate limit), leave requests
and who may do what."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from extensions import db
from models import AttendanceMark, CheckinCode, LeaveRequest, LeaveStatus, RateLimitHit
from models.base import utcnow
from services import training
from tests.conftest import csrf_from, login, make_user
from tests.training_world import attend, build_training

YEAR = 2025        # a finished session: every half-day counts for the attendance rate


@pytest.fixture
def w(app):
    return build_training(YEAR)


def text(resp) -> str:
    return resp.get_data(as_text=True)


def register_url(w, slot=None) -> str:
    base = f"/training/{w.prog.id}/attendance"
    return base if slot is None else f"{base}?slot={slot.id}"


def mark_url(w, slot) -> str:
    return f"/training/{w.prog.id}/attendance/{slot.id}/mark"


def marks():
    db.session.rollback()
    return {(m.trainee_id, m.slot_id): m.status.value for m in db.session.scalars(select(AttendanceMark))}


def post_mark(client, w, slot, trainee, status, *, json=False):
    token = csrf_from(text(client.get(register_url(w, slot))))
    headers = {"Accept": "application/json", "X-CSRFToken": token} if json else {}
    data = {"trainee_id": trainee.id, "status": status}
    if not json:
        data["csrf_token"] = token
    return client.post(mark_url(w, slot), data=data, headers=headers)


def row_of(body: str, trainee) -> str:
    m = re.search(rf'<li class="reg-row" id="t-{trainee.id}".*?</li>', body, re.S)
    assert m, f"no row for {trainee.name}"
    return m.group(0)


# -- the register -----------------------------------------------------------------------------------

def test_register_lists_active_trainees_with_buttons_and_counts(org_client, w):
    w.trainees[5].status = "withdrawn"
    db.session.commit()
    body = text(org_client.get(register_url(w)))
    # the session is over, so the register opens on the first half-day
    assert "7月13日上午" in body and 'aria-current="page"' in body
    for t in w.trainees[:5]:
        row = row_of(body, t)
        assert t.name in row and t.unit.name in row and "科学" in row
        assert 'value="present"' in row and 'value="absent"' in row and 'value="excused"' in row
    assert f'id="t-{w.trainees[5].id}"' not in body            # withdrawn: not on the register
    assert re.search(r'出勤 <b id="count-present">0</b> / 应到 <b id="count-expected">5</b>', body)
    # ten half-days in the picker, each with its count
    assert len(re.findall(r'class="slot-link', body)) == 10
    assert body.count("上午") >= 5 and body.count("下午") >= 5
    assert '<script src="/static/js/attendance.js" defer></script>' in body
    assert "<script>" not in body                               # no inline script (CSP)


def test_register_picks_the_slot_from_the_query(org_client, w):
    body = text(org_client.get(register_url(w, w.slots[3])))
    assert re.search(rf'data-slot="{w.slots[3].id}"\s+class="slot-link active', body)
    assert "7月14日下午" in body
    assert org_client.get(f"/training/{w.prog.id}/attendance?slot=999999").status_code == 404
    assert org_client.get(f"/training/{w.prog.id}/attendance?slot=x").status_code == 404
    assert org_client.get("/training/999999/attendance").status_code == 404


def test_mark_by_form_post_redirects_back_and_highlights(org_client, w):
    slot, t = w.slots[0], w.trainees[0]
    resp = post_mark(org_client, w, slot, t, "present")
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"slot={slot.id}#t-{t.id}")
    assert marks() == {(t.id, slot.id): "present"}
    m = db.session.scalar(select(AttendanceMark))
    assert m.source == "tablet" and m.marked_by == "organiser"
    body = text(org_client.get(register_url(w, slot)))
    row = row_of(body, t)
    assert 'data-status="present"' in row
    assert re.search(r'value="present" class="st st-present on"\s+aria-pressed="true"', row)
    assert re.search(r'出勤 <b id="count-present">1</b> / 应到 <b id="count-expected">6</b>', body)
    assert "李红：出勤" in body                                    # the flash


def test_mark_by_json_answers_status_and_counts(org_client, w):
    slot = w.slots[1]
    resp = post_mark(org_client, w, slot, w.trainees[0], "present", json=True)
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["ok"] is True and data["status"] == "present"
    assert data["counts"] == {"present": 1, "absent": 0, "excused": 0, "unmarked": 5, "expected": 6}
    assert data["rate"] == "10%" and data["mark"].startswith("平板 ")
    data = post_mark(org_client, w, slot, w.trainees[1], "absent", json=True).get_json()
    assert data["status"] == "absent" and data["counts"]["absent"] == 1 and data["counts"]["present"] == 1
    # changing a mark in place
    data = post_mark(org_client, w, slot, w.trainees[1], "present", json=True).get_json()
    assert data["counts"]["present"] == 2 and data["counts"]["absent"] == 0
    assert marks() == {(w.trainees[0].id, slot.id): "present", (w.trainees[1].id, slot.id): "present"}


def test_clear_removes_the_mark(org_client, w):
    slot, t = w.slots[0], w.trainees[2]
    post_mark(org_client, w, slot, t, "absent")
    data = post_mark(org_client, w, slot, t, "clear", json=True).get_json()
    assert data["ok"] and data["status"] is None and data["counts"]["unmarked"] == 6
    assert marks() == {}


def test_excused_is_refused_without_an_approved_leave(org_client, w):
    slot, t = w.slots[0], w.trainees[0]
    resp = post_mark(org_client, w, slot, t, "excused", json=True)
    assert resp.status_code == 400
    assert "没有已批准的请假" in resp.get_json()["error"]
    assert marks() == {}
    # a pending leave is not enough either; the form post flashes the same message
    training.request_leave(db.session, w.prog, t.id, slot.id, "病假", actor="test")
    db.session.commit()
    body = text(org_client.get(register_url(w, slot)))
    assert "请假待审批" in row_of(body, t)
    assert re.search(r'value="excused"[^>]*disabled', row_of(body, t))
    resp = post_mark(org_client, w, slot, t, "excused")
    assert resp.status_code == 303
    assert "没有已批准的请假" in text(org_client.get(resp.headers["Location"]))
    assert marks() == {}


def test_bad_status_and_unknown_trainee_are_refused(org_client, w):
    slot = w.slots[0]
    resp = post_mark(org_client, w, slot, w.trainees[0], "late", json=True)
    assert resp.status_code == 400 and "考勤状态无效" in resp.get_json()["error"]
    token = csrf_from(text(org_client.get(register_url(w, slot))))
    resp = org_client.post(mark_url(w, slot), data={"trainee_id": 999999, "status": "present"},
                           headers={"Accept": "application/json", "X-CSRFToken": token})
    assert resp.status_code == 404 and resp.get_json()["error"] == "找不到该学员"
    assert org_client.post(f"/training/{w.prog.id}/attendance/999999/mark",
                           data={"trainee_id": w.trainees[0].id, "status": "present", "csrf_token": token}
                           ).status_code == 404
    assert marks() == {}


def test_withdrawn_trainee_is_refused(org_client, w):
    t = w.trainees[3]
    token = csrf_from(text(org_client.get(register_url(w))))
    t.status = "withdrawn"
    db.session.commit()
    resp = org_client.post(mark_url(w, w.slots[0]), data={"trainee_id": t.id, "status": "present"},
                           headers={"Accept": "application/json", "X-CSRFToken": token})
    assert resp.status_code == 400 and "已退出培训" in resp.get_json()["error"]
    assert marks() == {}


def test_mark_without_csrf_is_refused(org_client, w):
    resp = org_client.post(mark_url(w, w.slots[0]), data={"trainee_id": w.trainees[0].id, "status": "present"},
                           headers={"Accept": "application/json"})
    assert resp.status_code == 400
    assert marks() == {}


def test_all_present_fills_only_unmarked_rows(org_client, w):
    slot = w.slots[2]
    post_mark(org_client, w, slot, w.trainees[0], "absent")
    token = csrf_from(text(org_client.get(register_url(w, slot))))
    resp = org_client.post(f"/training/{w.prog.id}/attendance/{slot.id}/all-present", data={"csrf_token": token})
    assert resp.status_code == 303
    got = marks()
    assert got[(w.trainees[0].id, slot.id)] == "absent"
    assert [got[(t.id, slot.id)] for t in w.trainees[1:]] == ["present"] * 5
    assert "已将 5 名未记考勤的学员标为出勤" in text(org_client.get(resp.headers["Location"]))


def test_register_shows_each_trainees_attendance_rate(org_client, w):
    attend(w, w.trainees[0], present=8, excused=1)     # 8 of 10 (excused weighs 0)
    attend(w, w.trainees[1], present=10)
    attend(w, w.trainees[2], present=2)
    body = text(org_client.get(register_url(w)))

    def rate(t):
        return re.search(r'class="reg-rate">([^<]+)<', row_of(body, t)).group(1)

    assert rate(w.trainees[0]) == "80%" and rate(w.trainees[1]) == "100%" and rate(w.trainees[2]) == "20%"
    assert rate(w.trainees[4]) == "0%"
    try:     # the same figure the assessment gives, once scoring.assessment is in place
        so = training.outcomes(db.session, w.prog, as_of_now=False)
    except ImportError:
        return
    got = {r.trainee.id: r.outcome.attendance_rate for r in so.rows}
    assert float(got[w.trainees[0].id]) == 0.8 and float(got[w.trainees[2].id]) == 0.2


# -- the room's QR code and the trainee's phone ------------------------------------------------------

PUBLIC = "https://kjg.example.cn"       # the deployment's public address, not the request's host


@pytest.fixture(autouse=True)
def _public_base_url(app):
    app.config["PUBLIC_BASE_URL"] = PUBLIC + "/"


def issue(client, w, slot, minutes=None):
    token = csrf_from(text(client.get(register_url(w, slot))))
    data = {"csrf_token": token}
    if minutes is not None:
        data["minutes"] = minutes
    return client.post(f"/training/{w.prog.id}/attendance/{slot.id}/code", data=data)


def plain_of(body: str) -> str:
    base = re.escape(PUBLIC)
    m = re.search(rf'data-checkin-url="{base}/t/([A-Za-z0-9_-]+)"', body) or \
        re.search(rf"{base}/t/([A-Za-z0-9_-]+)", body)
    assert m, "no check-in URL on the screen"
    return m.group(1)


def scan(client, plain, name, tail, addr="203.0.113.7"):
    env = {"REMOTE_ADDR": addr}
    page = client.get(f"/t/{plain}", environ_base=env)
    if page.status_code != 200:
        return page
    return client.post(f"/t/{plain}", data={"name": name, "phone_tail": tail, "csrf_token": csrf_from(text(page))},
                       environ_base=env)


def test_issue_code_shows_a_big_qr_with_expiry_and_no_code_in_the_url(org_client, w):
    resp = issue(org_client, w, w.slots[0])
    assert resp.status_code == 200                      # rendered at once, never redirected to a URL with the code
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Referrer-Policy"] == "no-referrer"
    body = text(resp)
    plain = plain_of(body)
    assert "<svg" in body and "请用手机扫码签到" in body and "7月13日上午" in body and "重新生成" in body
    code = db.session.scalar(select(CheckinCode))
    assert code.code_hash != plain and plain not in code.code_hash           # only the hash is stored
    from models.base import in_beijing
    left = in_beijing(code.expires_at) - in_beijing(utcnow())
    assert timedelta(minutes=29) < left <= timedelta(minutes=30)             # default 30 minutes
    assert f"有效至 北京时间 {in_beijing(code.expires_at).strftime('%H:%M')}" in body


def test_the_qr_decodes_to_the_checkin_url(org_client, w):
    from tests.web.test_judge_cards import matrix_of, svg_matrix
    body = text(issue(org_client, w, w.slots[0], minutes=45))
    plain = plain_of(body)
    svg = re.search(r"<svg.*?</svg>", body, re.S).group(0)
    assert svg_matrix(svg) == matrix_of(f"{PUBLIC}/t/{plain}")
    code = db.session.scalar(select(CheckinCode))
    from models.base import as_utc
    assert timedelta(minutes=44) < as_utc(code.expires_at) - utcnow() <= timedelta(minutes=45)


def test_issue_code_refuses_bad_minutes(org_client, w):
    resp = issue(org_client, w, w.slots[0], minutes=999)
    assert resp.status_code == 303
    assert "签到码有效时间应为 1 到 240 分钟" in text(org_client.get(resp.headers["Location"]))
    assert db.session.scalar(select(func.count()).select_from(CheckinCode)) == 0


def test_checkin_end_to_end(app, org_client, w):
    plain = plain_of(text(issue(org_client, w, w.slots[0])))
    anon = app.test_client()
    page = anon.get(f"/t/{plain}")
    assert page.status_code == 200
    body = text(page)
    assert w.prog.name in body and "7月13日上午" in body and "姓名" in body and "手机号后四位" in body
    assert 'name="csrf_token"' in body and 'name="viewport"' in body
    # full-width digits and spaces are fine
    done = scan(anon, plain, " 李 红 ", "０ ０ ０ １")
    assert done.status_code == 200 and "签到成功：李红，7月13日上午" in text(done)
    m = db.session.scalar(select(AttendanceMark))
    assert (m.trainee_id, m.slot_id, m.status.value, m.source) == (w.trainees[0].id, w.slots[0].id, "present", "qr")
    again = scan(anon, plain, "李红", "0001")
    assert again.status_code == 200 and "已签到：李红，7月13日上午" in text(again)
    assert len(marks()) == 1
    # the organiser's register shows it
    reg = text(org_client.get(register_url(w, w.slots[0])))
    assert 'data-status="present"' in row_of(reg, w.trainees[0]) and "扫码" in row_of(reg, w.trainees[0])


def test_wrong_identity_is_refused_and_nothing_is_stored(app, org_client, w):
    plain = plain_of(text(issue(org_client, w, w.slots[0])))
    anon = app.test_client()
    wrong = scan(anon, plain, "李红", "0002")
    assert wrong.status_code == 422
    body = text(wrong)
    assert "姓名与手机号后四位和报名名单不一致" in body and 'name="phone_tail"' in body
    assert "李红" in body                                  # what was typed is kept
    assert scan(anon, plain, "李红", "12").status_code == 422
    assert "后四位数字" in text(scan(anon, plain, "李红", "12"))
    assert scan(anon, plain, "", "0001").status_code == 422
    assert marks() == {}


def test_withdrawn_trainee_cannot_check_in(app, org_client, w):
    plain = plain_of(text(issue(org_client, w, w.slots[0])))
    w.trainees[0].status = "withdrawn"
    db.session.commit()
    assert scan(app.test_client(), plain, "李红", "0001").status_code == 422
    assert marks() == {}


def test_expired_code_is_410_and_unknown_is_404(app, org_client, w):
    plain = plain_of(text(issue(org_client, w, w.slots[0])))
    anon = app.test_client()
    page = anon.get(f"/t/{plain}")
    db.session.execute(update(CheckinCode).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    gone = anon.get(f"/t/{plain}")
    assert gone.status_code == 410 and "签到二维码已过期" in text(gone)
    # a form opened before the expiry and sent after it is refused too
    late = anon.post(f"/t/{plain}", data={"name": "李红", "phone_tail": "0001", "csrf_token": csrf_from(text(page))})
    assert late.status_code == 410 and "签到二维码已过期" in text(late)
    unknown = anon.get("/t/not-a-real-code")
    assert unknown.status_code == 404 and "签到二维码无效" in text(unknown)
    assert marks() == {}


def test_regenerated_code_revokes_the_old_one(app, org_client, w):
    old = plain_of(text(issue(org_client, w, w.slots[0])))
    new = plain_of(text(issue(org_client, w, w.slots[0], minutes=10)))
    assert old != new
    anon = app.test_client()
    assert anon.get(f"/t/{old}").status_code == 410
    assert scan(anon, new, "王芳", "0002").status_code == 200
    assert marks() == {(w.trainees[1].id, w.slots[0].id): "present"}
    # another slot's code is independent
    other = plain_of(text(issue(org_client, w, w.slots[1])))
    assert anon.get(f"/t/{new}").status_code == 200 and anon.get(f"/t/{other}").status_code == 200


def test_checkin_is_rate_limited_per_address(app, org_client, w):
    app.config["RATE_LIMIT_CHECKIN"] = (3, 600)
    plain = plain_of(text(issue(org_client, w, w.slots[0])))
    anon = app.test_client()
    for _ in range(3):
        assert scan(anon, plain, "李红", "9999").status_code == 422
    refused = scan(anon, plain, "李红", "0001")               # right this time, but too many tries
    assert refused.status_code == 429 and "尝试次数过多" in text(refused)
    assert marks() == {}
    assert db.session.scalar(select(func.count()).select_from(RateLimitHit)) == 4   # the refusal is recorded
    # GETs are not limited, another address is not affected
    assert anon.get(f"/t/{plain}").status_code == 200
    assert scan(anon, plain, "李红", "0001", addr="198.51.100.20").status_code == 200
    assert len(marks()) == 1


def test_checkin_post_needs_csrf(app, org_client, w):
    plain = plain_of(text(issue(org_client, w, w.slots[0])))
    resp = app.test_client().post(f"/t/{plain}", data={"name": "李红", "phone_tail": "0001"})
    assert resp.status_code == 400 and marks() == {}


# -- leave --------------------------------------------------------------------------------------------

def leave_url(w) -> str:
    return f"/training/{w.prog.id}/leave"


def request_leave(client, w, trainee, slot, reason="家中有事"):
    token = csrf_from(text(client.get(leave_url(w))))
    return client.post(leave_url(w), data={"trainee_id": trainee.id, "slot_id": slot.id, "reason": reason,
                                           "csrf_token": token})


def decide(client, w, leave_id, approve):
    token = csrf_from(text(client.get(leave_url(w))))
    return client.post(f"/training/{w.prog.id}/leave/{leave_id}/decide",
                       data={"approve": "1" if approve else "0", "csrf_token": token})


def leaves():
    db.session.rollback()
    return list(db.session.scalars(select(LeaveRequest)))


def test_leave_request_then_approve_marks_excused(org_client, w):
    t, slot = w.trainees[2], w.slots[4]
    resp = request_leave(org_client, w, t, slot)
    assert resp.status_code == 303
    body = text(org_client.get(resp.headers["Location"]))
    assert "已登记 张伟 7月15日上午 的请假" in body
    assert "张伟" in body and "家中有事" in body and "待审批" in body
    [lv] = leaves()
    assert lv.status == LeaveStatus.pending and marks() == {}
    resp = decide(org_client, w, lv.id, True)
    assert resp.status_code == 303
    body = text(org_client.get(leave_url(w)))
    assert "已批准" in body and "organiser" in body
    assert marks() == {(t.id, slot.id): "excused"}
    # the register now offers 请假 for that row, highlighted
    row = row_of(text(org_client.get(register_url(w, slot))), t)
    assert "请假已批准" in row
    assert re.search(r'value="excused" class="st st-excused on"', row)
    assert not re.search(r'value="excused"[^>]*disabled', row)
    # and the organiser may set it again after changing it
    post_mark(org_client, w, slot, t, "absent")
    assert post_mark(org_client, w, slot, t, "excused", json=True).get_json()["status"] == "excused"


def test_rejected_leave_leaves_no_mark(org_client, w):
    t, slot = w.trainees[0], w.slots[0]
    request_leave(org_client, w, t, slot)
    [lv] = leaves()
    decide(org_client, w, lv.id, False)
    [lv] = leaves()
    assert lv.status == LeaveStatus.rejected and lv.decided_by == "organiser"
    assert marks() == {}
    # deciding again is refused with a message
    resp = decide(org_client, w, lv.id, True)
    assert "该请假已处理" in text(org_client.get(resp.headers["Location"]))
    assert leaves()[0].status == LeaveStatus.rejected and marks() == {}


def test_duplicate_and_incomplete_leave_requests_are_refused(org_client, w):
    t, slot = w.trainees[1], w.slots[2]
    request_leave(org_client, w, t, slot)
    resp = request_leave(org_client, w, t, slot, reason="又一次")
    assert resp.status_code == 400
    assert "已有请假记录（待审批）" in text(resp)
    assert "又一次" in text(resp)                       # the form keeps what was typed
    assert request_leave(org_client, w, t, slot, reason="").status_code == 400
    token = csrf_from(text(org_client.get(leave_url(w))))
    resp = org_client.post(leave_url(w), data={"trainee_id": 0, "slot_id": slot.id, "reason": "x",
                                               "csrf_token": token})
    assert resp.status_code == 400 and "请选择学员" in text(resp)
    assert len(leaves()) == 1


def test_unknown_leave_decision_is_refused(org_client, w):
    resp = decide(org_client, w, 999999, True)
    assert resp.status_code == 303
    assert "找不到该请假记录" in text(org_client.get(resp.headers["Location"]))


# -- who may do what ----------------------------------------------------------------------------------

def _client_as(app, role):
    client = app.test_client()
    if role != "anonymous":
        make_user(role, role)
        assert login(client, role).status_code == 302
    return client


def _pages(w):
    return [register_url(w), register_url(w, w.slots[1]), leave_url(w)]


def test_oversight_reads_but_cannot_post(app, w):
    client = _client_as(app, "oversight")
    for url in _pages(w):
        assert client.get(url).status_code == 200, url
    body = text(client.get(register_url(w)))
    assert re.search(r'value="present"[^>]*disabled', body) and "生成签到二维码" not in body
    lv = training.request_leave(db.session, w.prog, w.trainees[0].id, w.slots[0].id, "病假", actor="test")
    db.session.commit()
    page = text(client.get(leave_url(w)))
    assert "病假" in page and 'class="decide-form"' not in page and "登记请假" not in page
    token = csrf_from(text(client.get(register_url(w))))
    base = f"/training/{w.prog.id}"
    for url, data in [(f"{base}/attendance/{w.slots[0].id}/mark", {"trainee_id": w.trainees[0].id, "status": "present"}),
                      (f"{base}/attendance/{w.slots[0].id}/all-present", {}),
                      (f"{base}/attendance/{w.slots[0].id}/code", {"minutes": 30}),
                      (f"{base}/leave", {"trainee_id": w.trainees[1].id, "slot_id": w.slots[0].id, "reason": "x"}),
                      (f"{base}/leave/{lv.id}/decide", {"approve": "1"})]:
        assert client.post(url, data={**data, "csrf_token": token}).status_code == 403, url
    assert marks() == {} and db.session.scalar(select(func.count()).select_from(CheckinCode)) == 0
    assert [x.status for x in leaves()] == [LeaveStatus.pending]


@pytest.mark.parametrize("role,expect", [("judge", 403), ("chief", 403), ("unit_contact", 403), ("anonymous", 302)])
def test_other_roles_are_refused(app, w, role, expect):
    if role == "unit_contact":
        client = app.test_client()
        make_user(role, role, unit_id=w.units["s1"].id)
        assert login(client, role).status_code == 302
    else:
        client = _client_as(app, role)
    for url in _pages(w):
        resp = client.get(url)
        assert resp.status_code == expect, (role, url)
        if role == "anonymous":
            assert "/login" in resp.headers["Location"]
    assert client.post(mark_url(w, w.slots[0]), data={"trainee_id": w.trainees[0].id,
                                                       "status": "present"}).status_code in (400, 302, 403)
    assert marks() == {}


def test_a_judge_token_does_not_open_the_register(app, w):
    client = app.test_client()
    _, plain = w.tokens[0]
    client.get(f"/j/{plain}")
    resp = client.get(register_url(w))
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_pages_of_a_non_training_programme_are_404(org_client, competition):
    assert org_client.get(f"/training/{competition.id}/attendance").status_code == 404
    assert org_client.get(f"/training/{competition.id}/leave").status_code == 404
