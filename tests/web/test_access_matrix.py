"""Issue 9.1, the access matrix: every route of `app.url_map` × every role, against the demo
world, compared with the declarations in `tests/web/access_policy.py`. A route without a
declaration fails the test, so a new module must say who may use it. The observed matrix
(endpoint × role → status) is printed at the end of the run by the terminal-summary hook in
tests/conftest.py. Then the object-level doors: other people's sheets, another stage's
entries, another panel's entries, other people's certificates."""
from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from extensions import db
from models import (CertificateTemplate, Entry, Judge, JudgeToken, LeaveRequest, Panel,
                    PanelMember, PanelRole, Programme, ProgrammeKind, Publication, ResourceStatus,
                    ResourceSubmission, Role, ScoreEvent, ScoreSheet, StageKind, Trainee, TrainingSlot, Unit, User)
from tests.conftest import csrf_from, login
from tests.web.access_policy import MISSING_ID, POLICY, ROLES, allowed_outcome, outcome_of, record

PARAM_VALUES = ("pid", "sid", "panel_id", "entry_id", "member_id", "pub_id", "oid", "bid", "fid", "aid",
                "token_id", "judge_id", "slot_id", "leave_id", "tid", "job_id", "eid", "sheet_id", "cid",
                "publication_id")


def _csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def build_demo_world(tmp_path: Path) -> SimpleNamespace:
    """The demo at a tenth of national scale, and the ids every route's URL needs."""
    from services.demo import build_demo
    out = tmp_path / "demo"
    build_demo(db.session, out, seed=7, scale=0.1)
    w = SimpleNamespace(accounts={r["username"]: r for r in _csv(out / "accounts.csv")},
                        judge_rows=_csv(out / "judges.csv"), certificates=_csv(out / "certificates.csv"))
    s = db.session
    w.comp = s.scalars(select(Programme).where(Programme.kind == ProgrammeKind.competition)).first()
    w.regional = next(st for st in w.comp.stages if st.kind == StageKind.regional)
    w.prelim = next(st for st in w.comp.stages if st.kind == StageKind.national_preliminary)
    w.final = next(st for st in w.comp.stages if st.kind == StageKind.final)
    w.pub = s.scalars(select(Publication).where(Publication.stage_id == w.regional.id)).first()
    # the regional panel of judge1 (a plain member with a demo account)
    judge1 = s.scalar(select(User).where(User.username == "judge1"))
    w.judge = s.get(Judge, judge1.judge_id)
    w.panel = s.scalars(select(Panel).join(PanelMember).where(Panel.stage_id == w.regional.id,
                                                             PanelMember.judge_id == w.judge.id)).first()
    w.chief_member = next(m for m in w.panel.members if m.role == PanelRole.chief)
    w.members = [m for m in w.panel.members if m.role != PanelRole.chief]
    q = select(Entry).where(Entry.stage_id == w.regional.id, Entry.division_id == w.panel.division_id)
    if w.panel.category_id is not None:
        q = q.where(Entry.category_id == w.panel.category_id)
    w.panel_entries = list(s.scalars(q.order_by(Entry.draw_number, Entry.id)))
    w.entry = next(e for e in w.panel_entries if e.unit_id != w.judge.unit_id)   # not a recusal
    # the demo leaves judge1's panel unscored: a submitted sheet of another regional panel
    w.sheet = s.scalars(select(ScoreSheet).join(Entry).where(Entry.stage_id == w.regional.id)
                        .order_by(ScoreSheet.id)).first()
    w.category_id = w.entry.category_id
    plain = {int(r["judge_id"]): r["token"] for r in w.judge_rows if r["stage"] == w.regional.name}
    w.judge_plain = plain[w.judge.id]
    w.chief_plain = plain[w.chief_member.judge_id]
    w.token = s.scalars(select(JudgeToken).where(JudgeToken.judge_id == w.judge.id,
                                                 JudgeToken.stage_id == w.regional.id)).first()
    w.training = s.scalars(select(Programme).where(Programme.kind == ProgrammeKind.training)
                           .order_by(Programme.id)).first()
    w.slot = s.scalars(select(TrainingSlot).where(TrainingSlot.programme_id == w.training.id)).first()
    w.trainee = s.scalars(select(Trainee).where(Trainee.programme_id == w.training.id)).first()
    w.leave = s.scalars(select(LeaveRequest)).first()
    w.cert = w.certificates[0]
    w.template_kind = s.scalars(select(CertificateTemplate.kind).where(
        CertificateTemplate.programme_id == w.comp.id)).first() or "award"
    # the year-end awards and the resource call: a real activity code, and unit-15's own
    # submitted resource with its PDF (the unit_contact role's unit)
    from services.activities import plan_for
    w.awards = s.scalars(select(Programme).where(Programme.kind == ProgrammeKind.unit_awards)).first()
    w.activity_code = plan_for(w.awards).activities[0].code
    w.resource_call = s.scalars(select(Programme).where(Programme.kind == ProgrammeKind.resource_selection)).first()
    w.contact = s.scalar(select(User).where(User.username == "unit-15"))
    w.submission = s.scalars(select(ResourceSubmission).where(
        ResourceSubmission.programme_id == w.resource_call.id, ResourceSubmission.unit_id == w.contact.unit_id,
        ResourceSubmission.status == ResourceStatus.submitted).order_by(ResourceSubmission.id)).first()
    w.attachment = next(a for a in w.submission.attachments if a.kind == "file")
    w.values = _url_values(w)
    return w


def _url_values(w: SimpleNamespace) -> dict:
    """Plain ids, read once: the organiser's POSTs delete some of these objects."""
    return {
        "sid": w.regional.id, "panel_id": w.panel.id, "entry_id": w.entry.id, "member_id": w.members[-1].id,
        "pub_id": w.pub.id if w.pub else MISSING_ID, "publication_id": w.pub.id if w.pub else MISSING_ID,
        "oid": MISSING_ID, "bid": MISSING_ID, "fid": MISSING_ID, "aid": MISSING_ID, "job_id": MISSING_ID,
        "token_id": w.token.id, "judge_id": w.judge.id, "eid": w.entry.id,
        "sheet_id": w.sheet.id if w.sheet else MISSING_ID, "cid": w.category_id,
        "slot_id": w.slot.id, "leave_id": w.leave.id if w.leave else MISSING_ID, "tid": w.trainee.id,
        "kind": "entries", "fmt": "xlsx", "ext": "xlsx", "action": "lock", "code": "en",
        "serial": w.cert["serial"], "token": w.judge_plain, "filename": "css/app.css",
        "comp_id": w.comp.id, "training_id": w.training.id, "final_id": w.final.id,
        "template_kind": str(w.template_kind), "verify_code": w.cert["verify_url"].rsplit("/", 1)[1],
        "download_code": w.cert["download_url"].rsplit("code=", 1)[1],
        "awards_id": w.awards.id, "activity_code": w.activity_code, "resource_call_id": w.resource_call.id,
        "submission_id": w.submission.id, "attachment_id": w.attachment.id,
    }


def url_for_rule(rule, w: SimpleNamespace) -> str:
    """The rule's URL with every parameter taken from the world (a missing object gets an id
    that does not exist: the allowed roles then meet the view's own 404). The stage-wide PDFs
    use the empty final stage: the regional round's 156 entries take minutes to typeset."""
    ep = rule.endpoint
    blueprint = ep.split(".")[0] if "." in ep else ""
    values = dict(w.values)
    values["pid"] = {"chief": values["panel_id"], "training": values["training_id"], "awards": values["awards_id"],
                     "resources": values["resource_call_id"]}.get(blueprint, values["comp_id"])
    if blueprint == "resources":      # sid: the contact's own submission; aid: its PDF
        values.update(sid=values["submission_id"], aid=values["attachment_id"])
    overrides = {
        "admin.judge_sheets_document": {"sid": values["final_id"]},
        "admin.ranking_document": {"sid": values["final_id"]},
        "admin.result_document": {"sid": values["final_id"], "kind": "awards"},
        "admin.assignment_export": {"kind": "panels"},
        "certificates.edit_template": {"kind": values["template_kind"]},
        "certificates.preview_template": {"kind": values["template_kind"]},
        "certificates.batch_file": {"fmt": "pdf"},
        "training.checkin": {"code": "NOPE42"},
        "certificates.verify": {"code": values["verify_code"]},
        "awards.save_report": {"code": values["activity_code"]},
    }
    values.update(overrides.get(ep, {}))
    from flask import current_app, url_for
    with current_app.test_request_context():
        url = url_for(ep, **{a: values[a] for a in rule.arguments})
    if ep == "certificates.download":
        url += "?code=" + values["download_code"]
    return url


def csrf_pair(app, client) -> str:
    """Put a CSRF secret in the client's session and return its signed token, so POSTs meet
    the role check rather than the CSRF check."""
    raw = hashlib.sha1(os.urandom(32)).hexdigest()
    with client.session_transaction() as sess:
        sess["csrf_token"] = raw
    return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(raw)


def session_cookie(app, role: str, w: SimpleNamespace) -> str | None:
    """Sign `role` in once and return the session cookie; every request then starts from it, so
    one route (logout, a token link) cannot change who the next request is."""
    c = app.test_client()
    users = {"judge_user": "judge1", "chief": "chief-exhibit", "oversight": "oversight", "organiser": "organiser",
             "unit_contact": "unit-15"}
    if role in users:
        name = users[role]
        assert login(c, name, w.accounts[name]["password"]).status_code == 302
    elif role in ("judge_token", "chief_token"):
        plain = w.judge_plain if role == "judge_token" else w.chief_plain
        assert c.get(f"/j/{plain}").status_code == 302
        page = c.get("/judge/declaration")
        assert c.post("/judge/declaration", data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                                  "action": "none"}).status_code == 302
    w.csrf = csrf_pair(app, c)
    cookie = c.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    return cookie.value if cookie else None


def request_as(app, cookie: str | None, csrf: str, method: str, url: str):
    c = app.test_client()
    if cookie:
        c.set_cookie(app.config.get("SESSION_COOKIE_NAME", "session"), cookie)
    headers = {"X-CSRFToken": csrf}
    if method == "GET":
        return c.get(url, headers=headers)
    if method == "PUT":
        return c.put(url, json={}, headers=headers)
    return c.open(url, method=method, data={"csrf_token": csrf}, headers=headers)


def routes(app) -> list[tuple[str, str, object]]:
    """(endpoint, method, rule) for every route and method the app answers, GETs first and the
    session-changing routes last."""
    out = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, rule))
    return sorted(out, key=lambda t: (t[1] != "GET", t[0]))


def _join_certificate_batches() -> None:
    """The organiser's 批量生成 POST starts a worker thread: let it finish before the tables go."""
    import threading
    for t in threading.enumerate():
        if t.name.startswith("certificate-batch-"):
            t.join(timeout=300)


def test_every_route_has_a_declared_expectation(app):
    """A new route (or a new method on a route) must be declared in access_policy.POLICY."""
    missing = sorted(f"{ep} {m}" for ep, m, _ in routes(app) if f"{ep} {m}" not in POLICY)
    stale = sorted(set(POLICY) - {f"{ep} {m}" for ep, m, _ in routes(app)})
    assert not missing, "routes with no declared access policy (add them to tests/web/access_policy.py): " + \
        ", ".join(missing)
    assert not stale, "access_policy declares routes that no longer exist: " + ", ".join(stale)


# The organiser's POSTs change the world (revoke a token, discard a publication): they run last.
ROLE_ORDER = ("anonymous", "unit_contact", "judge_user", "judge_token", "chief", "oversight", "chief_token",
              "organiser")


def test_access_matrix(app, tmp_path, record_property):
    """One demo world, every role in turn; all disagreements are listed at once."""
    assert sorted(ROLE_ORDER) == sorted(ROLES)
    w = build_demo_world(tmp_path)
    wrong = []
    for role in ROLE_ORDER:
        cookie = session_cookie(app, role, w)
        seen = {}
        for ep, method, rule in routes(app):
            key = f"{ep} {method}"
            if key not in POLICY:
                continue          # reported by test_every_route_has_a_declared_expectation
            url = url_for_rule(rule, w)
            resp = request_as(app, cookie, w.csrf, method, url)
            got = outcome_of(resp)
            seen[key] = resp.status_code
            want = POLICY[key][role]
            if not allowed_outcome(want, got, resp.status_code):
                wrong.append(f"{role}: {key} {url}: expected {want}, got {resp.status_code} ({got})")
        record(record_property, role, seen)
    _join_certificate_batches()
    assert not wrong, "\n".join(wrong)


# -- object-level doors ------------------------------------------------------------------------

def _bearer(plain: str) -> dict:
    return {"Authorization": f"Bearer {plain}"}


@pytest.fixture
def world(app, tmp_path):
    return build_demo_world(tmp_path)


def test_judge_a_cannot_read_or_write_judge_bs_sheet(app, client, world):
    """A judge's own sheets only: an entry assigned to someone else answers 403/404, reading it
    shows nothing of the other judge's marks and writing stores nothing."""
    w = world
    other_panel = db.session.scalars(select(Panel).where(Panel.stage_id == w.regional.id, Panel.id != w.panel.id,
                                                         Panel.division_id != w.panel.division_id)).first()
    foreign = db.session.scalars(select(Entry).where(Entry.stage_id == w.regional.id,
                                                     Entry.division_id == other_panel.division_id)).first()
    foreign_sheet = db.session.scalars(select(ScoreSheet).where(ScoreSheet.entry_id == foreign.id)).first()
    assert foreign_sheet is not None and foreign_sheet.judge_id != w.judge.id
    before = db.session.scalar(select(ScoreSheet.updated_at).where(ScoreSheet.id == foreign_sheet.id))
    r = client.get(f"/api/v1/me/sheets/{foreign.id}", headers=_bearer(w.judge_plain))
    assert r.status_code in (403, 404) and "scores" not in (r.get_json() or {})
    body = {"scores": {}, "comment": "改分", "status": "draft", "client_request_id": "steal-1"}
    r = client.put(f"/api/v1/me/sheets/{foreign.id}", json=body, headers=_bearer(w.judge_plain))
    assert r.status_code in (403, 404), r.get_json()
    assert db.session.scalar(select(ScoreSheet.updated_at).where(ScoreSheet.id == foreign_sheet.id)) == before
    # the judge's own panel entry opens
    assert client.get(f"/api/v1/me/sheets/{w.entry.id}", headers=_bearer(w.judge_plain)).status_code == 200


def test_a_stage_one_token_does_not_open_stage_two_entries(app, client, world):
    """A national preliminary reviewer's own entries open with their prelim card and are refused
    with a regional card issued to the same judge."""
    w = world
    prelim_rows = [r for r in w.judge_rows if r["stage"] == w.prelim.name]
    row = prelim_rows[0]
    listed = client.get("/api/v1/me/entries", headers=_bearer(row["token"])).get_json()["entries"]
    mine = next(e for e in listed if e["scorable"])
    assert client.get(f"/api/v1/me/sheets/{mine['id']}", headers=_bearer(row["token"])).status_code == 200
    regional_row, regional_plain = JudgeToken.issue(int(row["judge_id"]), w.regional.id)
    db.session.add(regional_row)
    db.session.commit()
    r = client.get(f"/api/v1/me/sheets/{mine['id']}", headers=_bearer(regional_plain))
    assert r.status_code in (403, 404), r.get_json()
    n = db.session.scalar(select(db.func.count()).select_from(ScoreSheet))
    r = client.put(f"/api/v1/me/sheets/{mine['id']}", headers=_bearer(regional_plain),
                   json={"scores": {}, "status": "draft", "client_request_id": "x-stage"})
    assert r.status_code in (403, 404), r.get_json()
    assert db.session.scalar(select(db.func.count()).select_from(ScoreSheet)) == n
    listed = client.get("/api/v1/me/entries", headers=_bearer(regional_plain)).get_json()
    assert mine["id"] not in [e["id"] for e in listed["entries"]]


def test_a_chief_of_one_panel_cannot_confirm_in_another(app, world):
    """chief-exhibit chairs a final panel: a regional panel's grid, confirm and reopen are
    refused and its sheets stay as they were; that panel's own chief opens its grid."""
    w = world
    sheet = w.sheet
    entry = db.session.get(Entry, sheet.entry_id)
    panel = db.session.scalars(select(Panel).join(PanelMember).where(
        Panel.stage_id == w.regional.id, PanelMember.judge_id == sheet.judge_id)).first()
    c = app.test_client()
    assert login(c, "chief-exhibit", w.accounts["chief-exhibit"]["password"]).status_code == 302
    csrf = csrf_pair(app, c)
    base = f"/chief/stages/{w.regional.id}/panels/{panel.id}"
    before = (sheet.status, sheet.version)
    n_events = db.session.scalar(select(db.func.count()).select_from(ScoreEvent))
    assert c.get(f"{base}/grid.json").status_code == 403
    r = c.post(f"{base}/entries/{entry.id}/unconfirm", json={"reason": "越权撤销"}, headers={"X-CSRFToken": csrf})
    assert r.status_code == 403
    r = c.post(f"{base}/sheets/{sheet.id}/reopen", json={"reason": "越权退回"}, headers={"X-CSRFToken": csrf})
    assert r.status_code == 403
    db.session.refresh(sheet)
    assert (sheet.status, sheet.version) == before
    assert db.session.scalar(select(db.func.count()).select_from(ScoreEvent)) == n_events
    chief = next(m for m in panel.members if m.role == PanelRole.chief)
    chief_plain = next(r["token"] for r in w.judge_rows
                       if int(r["judge_id"]) == chief.judge_id and r["stage"] == w.regional.name)
    c2 = app.test_client()
    assert c2.get(f"/j/{chief_plain}").status_code == 302
    assert c2.get(f"{base}/grid.json").status_code == 200


def test_a_certificate_needs_its_code(app, client, world):
    """Someone else's certificate: the serial alone, a wrong code or another certificate's code
    answers 404; the right code downloads the PDF."""
    w = world
    first, second = w.certificates[0], w.certificates[1]
    code1 = first["download_url"].rsplit("code=", 1)[1]
    code2 = second["download_url"].rsplit("code=", 1)[1]
    assert client.get(f"/certificates/{first['serial']}.pdf").status_code == 404
    assert client.get(f"/certificates/{first['serial']}.pdf?code=wrong").status_code == 404
    assert client.get(f"/certificates/{first['serial']}.pdf?code={code2}").status_code == 404
    ok = client.get(f"/certificates/{first['serial']}.pdf?code={code1}")
    assert ok.status_code == 200 and ok.data.startswith(b"%PDF")


def _signed_in(app, w: SimpleNamespace, username: str):
    c = app.test_client()
    assert login(c, username, w.accounts[username]["password"]).status_code == 302
    return c, {"X-CSRFToken": csrf_pair(app, c)}


def _other_contact(w: SimpleNamespace) -> User:
    return db.session.scalars(select(User).where(User.role == Role.unit_contact, User.id != w.contact.id,
                                                 User.unit_id != w.contact.unit_id).order_by(User.username)).first()


def test_a_unit_cannot_read_another_units_resource(app, world):
    """Unit contact A meets 404 on unit B's resource page and file, and cannot edit, submit,
    withdraw or delete it (nothing changes); B's own contact opens both. A judge not expected
    on the resource (judge1's login, the regional card) meets 404 on the file."""
    w = world
    other = _other_contact(w)
    subs = {s.status: s for s in db.session.scalars(select(ResourceSubmission).where(
        ResourceSubmission.programme_id == w.resource_call.id, ResourceSubmission.unit_id == other.unit_id))}
    theirs, draft = subs[ResourceStatus.submitted], subs[ResourceStatus.draft]
    att = next(a for a in theirs.attachments if a.kind == "file")
    base = f"/resources/{w.resource_call.id}/r"
    before = {s.id: (s.status, s.title, len(s.attachments)) for s in (theirs, draft)}
    c, h = _signed_in(app, w, "unit-15")
    assert c.get(f"{base}/{theirs.id}").status_code == 404
    assert c.get(f"/resources/files/{att.id}").status_code == 404
    assert c.get(f"{base}/{theirs.id}/edit").status_code == 404
    assert c.post(f"{base}/{theirs.id}/edit", data={"title": "改名", "action": "save"}, headers=h).status_code == 404
    assert c.post(f"{base}/{theirs.id}/withdraw", headers=h).status_code == 404
    assert c.post(f"{base}/{draft.id}/submit", headers=h).status_code == 404
    assert c.post(f"{base}/{draft.id}/delete", headers=h).status_code == 404
    db.session.expire_all()
    assert {s.id: (s.status, s.title, len(s.attachments))
            for s in db.session.scalars(select(ResourceSubmission).where(
                ResourceSubmission.id.in_(list(before))))} == before
    # the unit's own contact, and the organiser, open them
    c2, _ = _signed_in(app, w, other.username)
    assert c2.get(f"{base}/{theirs.id}").status_code == 200
    assert c2.get(f"/resources/files/{att.id}").status_code == 200
    # judges not expected on it: judge1's login and judge1's regional card
    j, _ = _signed_in(app, w, "judge1")
    assert j.get(f"/resources/files/{att.id}").status_code == 404
    assert j.get(f"{base}/{theirs.id}").status_code == 404
    card = app.test_client()
    assert card.get(f"/j/{w.judge_plain}").status_code == 302
    assert card.get(f"/resources/files/{att.id}").status_code == 404
    assert card.get(f"/resources/check/{theirs.id}").status_code == 404


def test_the_format_check_card_opens_only_its_queue(app, world):
    """A 形式审查 reviewer's card lists the submitted resources it is expected on and opens
    their files; a resource it is not expected on (a conflict of unit) answers 404 on both."""
    from services import resources as svc
    w = world
    check = next(st for st in w.resource_call.stages if st.kind == StageKind.format_check)
    rows = [r for r in w.judge_rows if r["stage"] == check.name]
    assert rows
    submitted = svc.queue(db.session, w.resource_call)
    opened = 0
    for row in rows:
        c = app.test_client()
        assert c.get(f"/j/{row['token']}").status_code == 302
        assert c.get("/resources/check/").status_code == 200
        for sub in submitted:
            mine = svc.judge_can_view(db.session, sub, int(row["judge_id"]), check)
            att = next(a for a in sub.attachments if a.kind == "file")
            want = 200 if mine else 404
            assert c.get(f"/resources/check/{sub.id}").status_code == want
            assert c.get(f"/resources/files/{att.id}").status_code == want
            opened += mine
    assert opened


def test_a_unit_reports_activities_only_for_itself(app, world):
    """A contact's report page is its own unit's whatever `unit` says, and saving a report
    for another unit is refused without writing anything."""
    from models import ActivityReport
    w = world
    other = _other_contact(w)
    other_unit = db.session.get(Unit, other.unit_id)
    count = lambda: db.session.scalar(select(db.func.count()).select_from(ActivityReport).where(  # noqa: E731
        ActivityReport.unit_id == other_unit.id))
    n = count()
    c, h = _signed_in(app, w, "unit-15")
    page = c.get(f"/awards/{w.awards.id}/report?unit={other_unit.external_id}")
    assert page.status_code == 200 and other_unit.name not in page.get_data(as_text=True)
    r = c.post(f"/awards/{w.awards.id}/report/{w.activity_code}", data={"unit": other_unit.external_id,
                                                                       "participants": "999"}, headers=h)
    assert r.status_code == 403
    assert count() == n
