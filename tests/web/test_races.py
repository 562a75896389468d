"""Real races, as two gunicorn workers would run them: two threads, each a request with its own
app context and database connection, held at a `threading.Barrier` right after the "is it
already done?" check, so both pass the check before either writes. The database then decides:
two chiefs confirming one entry yield one result, two organisers creating or publishing one
version yield one version, and the loser is told clearly (409). Runs on the file SQLite of the
test app and, when TEST_DATABASE_URL is set, on PostgreSQL."""
from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select

from extensions import db
from models import EntryConfirmation, Publication, PublicationStatus, ScoreEvent, ScoreSheet, SheetStatus
from services import publication as pub_svc
from services import sheets as sheet_svc
from tests.conftest import csrf_from, login, make_user
from tests.web.test_chief_console import build_hall, csrf_of, signed_in, submit_all
from tests.web.test_publication import build_world, make_snapshot

WAIT = 30   # seconds a thread waits for the other one at the barrier before the test fails


def race(requests):
    """Run each zero-argument callable in its own thread at once; return their results in order.
    An exception in a thread (a broken barrier included) fails the test."""
    results: list = [None] * len(requests)
    errors: list = []

    def run(i, fn):
        try:
            results[i] = fn()
        except BaseException as exc:   # noqa: BLE001 - reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 2)
    assert not any(t.is_alive() for t in threads), "a racing request never finished"
    assert not errors, errors
    return results


def hold_after(monkeypatch, module, name, barrier):
    """Make `module.name` wait for the other request at `barrier` before doing its work."""
    real = getattr(module, name)

    def held(*args, **kwargs):
        barrier.wait(WAIT)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, held)


# -- 统分确认 -----------------------------------------------------------------------------------

@pytest.fixture
def hall(app, competition):
    return build_hall(competition)


def test_two_chiefs_confirming_at_once_yield_one_result(app, hall, monkeypatch):
    entry = hall.entries[0]
    submit_all(hall, entry, [80, 82, 81, 79, 90, 70])
    a, b = signed_in(app, "chief", hall), signed_in(app, "organiser", hall)
    ta, tb = csrf_of(a, hall), csrf_of(b, hall)
    # Both requests have seen "not confirmed yet" when they meet here.
    hold_after(monkeypatch, sheet_svc, "expected_judges", threading.Barrier(2))
    url = f"{hall.base}/entries/{entry.id}/confirm"
    ra, rb = race([lambda: a.post(url, json={}, headers={"X-CSRFToken": ta}),
                   lambda: b.post(url, json={}, headers={"X-CSRFToken": tb})])
    codes = sorted([ra.status_code, rb.status_code])
    assert codes == [200, 409], (ra.get_data(as_text=True), rb.get_data(as_text=True))
    winner, loser = (ra, rb) if ra.status_code == 200 else (rb, ra)
    db.session.expire_all()
    rows = db.session.scalars(select(EntryConfirmation).where(EntryConfirmation.entry_id == entry.id)).all()
    assert len(rows) == 1 and rows[0].final_score == winner.get_json()["final_score"] == "80.50"
    expected = "评委组长 王组长（chief1）" if winner is ra else "组织方 organiser（org）"
    assert rows[0].confirmed_by == expected
    # the second chief learns who confirmed and the result that stands
    error = loser.get_json()["error"]
    assert error["code"] == "already_confirmed"
    assert error["message"] == f"该作品已由{expected}确认统分（最终得分 80.50），本次确认未保存。"
    assert loser.get_json()["confirmed_by"] == expected
    assert db.session.scalar(select(func.count(ScoreEvent.id)).where(
        ScoreEvent.action == "confirm", ScoreEvent.entry_id == entry.id)) == 1
    statuses = set(db.session.scalars(select(ScoreSheet.status).where(ScoreSheet.entry_id == entry.id)))
    assert statuses == {SheetStatus.locked}


# -- publication ----------------------------------------------------------------------------------

@pytest.fixture
def world(app, competition):
    return build_world(competition)


def organisers(app):
    """Two organisers signed in on two clients."""
    out = []
    for name in ("org_a", "org_b"):
        make_user("organiser", name, display_name=name)
        c = app.test_client()
        assert login(c, name).status_code == 302
        out.append(c)
    return out


def test_two_organisers_creating_a_version_at_once_yield_one(app, world, monkeypatch):
    stage, _cat, entries = world
    a, b = organisers(app)
    base = f"/admin/programmes/{stage.programme_id}/stages/{stage.id}/publications"
    ta, tb = (csrf_from(c.get(base).get_data(as_text=True)) for c in (a, b))
    snap = make_snapshot(stage, entries)   # built here: the test's objects stay in the test's session
    monkeypatch.setattr(pub_svc, "_snapshot", lambda session, st, cid: snap)
    # Both have read "no version yet" (latest) when they meet here.
    hold_after(monkeypatch, pub_svc, "_snapshot", threading.Barrier(2))
    form = {"category_id": "", "title": "", "reason": "", "expected_version": "0"}
    ra, rb = race([lambda: a.post(base, data={**form, "csrf_token": ta}),
                   lambda: b.post(base, data={**form, "csrf_token": tb})])
    assert sorted([ra.status_code, rb.status_code]) == [302, 409]
    loser = ra if ra.status_code == 409 else rb
    assert "同时生成了第 1 版" in loser.get_data(as_text=True)
    db.session.expire_all()
    rows = db.session.scalars(select(Publication)).all()
    winner_name = "org_a" if loser is rb else "org_b"
    assert [(p.version, p.status) for p in rows] == [(1, PublicationStatus.draft)]
    assert winner_name in rows[0].created_by


def test_two_organisers_publishing_at_once_yield_one_publication(app, world, monkeypatch):
    stage, _cat, entries = world
    pub = pub_svc.create_draft(db.session, stage, actor="组织方甲", snapshot=make_snapshot(stage, entries))
    db.session.commit()
    a, b = organisers(app)
    page = f"/admin/programmes/{stage.programme_id}/stages/{stage.id}/publications/{pub.id}"
    ta, tb = (csrf_from(c.get(page).get_data(as_text=True)) for c in (a, b))
    # Both have seen the draft as a draft when they meet here; the two 公示 periods differ.
    hold_after(monkeypatch, pub_svc, "add_working_days", threading.Barrier(2))
    monkeypatch.setattr(pub_svc, "china_today", lambda: date(2026, 11, 23))
    ra, rb = race([lambda: a.post(f"{page}/publish", data={"days": "5", "csrf_token": ta}),
                   lambda: b.post(f"{page}/publish", data={"days": "10", "csrf_token": tb})])
    assert sorted([ra.status_code, rb.status_code]) == [302, 409]
    loser = ra if ra.status_code == 409 else rb
    assert "刚刚被其他组织方修改" in loser.get_data(as_text=True)
    db.session.expire_all()
    rows = db.session.scalars(select(Publication)).all()
    assert len(rows) == 1 and rows[0].status == PublicationStatus.public
    won_days = 5 if loser is rb else 10
    assert rows[0].objection_days == won_days
    assert rows[0].objection_until == (date(2026, 11, 30) if won_days == 5 else date(2026, 12, 7))
