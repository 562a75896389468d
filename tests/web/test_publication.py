"""Publication workflow: draft → 公示 → final, versions with reasons, objections, finalise rules,
the version race, and who may reach each organiser route."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from extensions import db
from models import Entry, Objection, Person, Province, Publication, PublicationStatus, Unit
from services import publication as svc
from services.publication import PublicationError
from tests.conftest import csrf_from, login, make_user

S = PublicationStatus
MON = date(2026, 11, 23)   # a Monday with no holiday around it


def make_snapshot(stage, entries, *, marker: str = "", scores=None) -> dict:
    """A snapshot in the contract's format, built by hand (independent of services.results)."""
    by_cat: dict[int, list[Entry]] = {}
    for e in entries:
        by_cat.setdefault(e.category_id, []).append(e)
    awards = [{"id": "first", "name": "一等奖"}, {"id": "second", "name": "二等奖"}, None]
    cats = []
    for cid, es in by_cat.items():
        rows = []
        for i, e in enumerate(es):
            score = (scores or {}).get(e.id, f"{95 - i * 3:.2f}")
            rows.append({
                "rank": i + 1, "entry_id": e.id, "external_id": e.external_id, "title": e.title + marker,
                "contestant": e.person.name, "members": [{"person_id": e.person_id, "name": e.person.name,
                                                          "unit": e.unit.name}],
                "unit": e.unit.name, "unit_id": e.unit_id, "province": e.province.name, "score": score,
                "status": "ok", "award": awards[min(i, 2)], "honours": [], "promotion": None,
                "reasons": [], "notes": [], "decided_by": None,
                "judges": [{"judge": "评委1", "raw": score, "dropped": None}], "penalties": []})
        cat = es[0].category
        cats.append({"id": cid, "code": cat.code, "name": cat.name,
                     "rubric": {"id": "x", "version": 1, "title": "评分标准"},
                     "groups": [{"division": None, "rows": rows}]})
    return {"stage": {"id": stage.id, "name": stage.name, "kind": str(stage.kind),
                      "programme": stage.programme.name, "programme_id": stage.programme_id,
                      "year": stage.programme.year},
            "generated_at": "2026-11-23T08:00:00+00:00", "method": "rubric", "categories": cats}


def build_world(prog):
    """One stage, one category, three entries from two units."""
    stage = prog.stages[0]
    cat = stage.stage_categories[0].category
    div = sorted(prog.divisions, key=lambda d: d.code)[0]
    prov = db.session.get(Province, div.province_id) if div.province_id else \
        db.session.scalars(select(Province).order_by(Province.id)).first()
    units = [Unit(external_id=f"U{i}", name=name, province_id=prov.id)
             for i, name in enumerate(["贵州省科技馆", "遵义市科技馆"])]
    db.session.add_all(units)
    db.session.flush()
    entries = []
    for i, (title, name) in enumerate([("磁悬浮的秘密", "王小丽"), ("会唱歌的水杯", "李明"), ("光的旅行", "张华")]):
        u = units[i % 2]
        p = Person(name=name, unit_id=u.id)
        db.session.add(p)
        db.session.flush()
        e = Entry(stage_id=stage.id, category_id=cat.id, external_id=f"E{i + 1:03d}", title=title,
                  kind="individual", person_id=p.id, unit_id=u.id, province_id=prov.id, division_id=div.id,
                  status="active")
        db.session.add(e)
        entries.append(e)
    db.session.commit()
    return stage, cat, entries


@pytest.fixture
def world(app, competition):
    return build_world(competition)


def draft(stage, entries, *, marker="", reason=None, category_id=None, **kw):
    return svc.create_draft(db.session, stage, category_id=category_id, actor="组织方甲", reason=reason,
                            snapshot=make_snapshot(stage, entries, marker=marker), **kw)


def public_pub(stage, entries, **kw):
    pub = draft(stage, entries, **kw)
    svc.publish(db.session, pub, "组织方甲", today=MON)
    db.session.commit()
    return pub


def count_pubs() -> int:
    return db.session.scalar(select(func.count(Publication.id)))


# --- working days and the 公示 end date ------------------------------------------------------

@pytest.mark.parametrize("today,days,expected", [
    (MON, 5, date(2026, 11, 30)),                 # Monday + 5 working days → next Monday
    (date(2026, 11, 27), 5, date(2026, 12, 4)),   # Friday → next Friday
    (date(2026, 11, 28), 1, date(2026, 11, 30)),  # Saturday + 1 → Monday
    (date(2024, 9, 27), 5, date(2024, 10, 10)),   # National Day 2024 and its 调休 Sunday
])
def test_publish_sets_end_date_in_working_days(world, today, days, expected):
    stage, _cat, entries = world
    pub = draft(stage, entries)
    svc.publish(db.session, pub, "组织方甲", days=days, today=today)
    db.session.commit()
    assert (pub.status, pub.objection_until, pub.objection_days) == (S.public, expected, days)
    assert pub.published_at is not None


# --- transitions and refusals -----------------------------------------------------------------

def _to(pub, status):
    if status in (S.public, S.final):
        svc.publish(db.session, pub, "甲", today=MON)
    if status == S.final:
        svc.finalise(db.session, pub, "甲", today=date(2026, 12, 1))
    db.session.commit()
    return pub


@pytest.mark.parametrize("start,action,message", [
    (S.public, lambda p: svc.publish(db.session, p, "甲", today=MON), "只有草稿可以发布公示"),
    (S.final, lambda p: svc.publish(db.session, p, "甲", today=MON), "只有草稿可以发布公示"),
    (S.draft, lambda p: svc.publish(db.session, p, "甲", days=0, today=MON), "公示期应为"),
    (S.draft, lambda p: svc.publish(db.session, p, "甲", days=31, today=MON), "公示期应为"),
    (S.draft, lambda p: svc.finalise(db.session, p, "甲", today=date(2027, 1, 1)), "只有公示中的结果"),
    (S.final, lambda p: svc.finalise(db.session, p, "甲", today=date(2027, 1, 1)), "只有公示中的结果"),
    (S.public, lambda p: svc.finalise(db.session, p, "甲", today=MON), "公示期至 2026-11-30"),
    (S.public, lambda p: svc.finalise(db.session, p, "甲", today=date(2026, 11, 30)), "公示期至 2026-11-30"),
    (S.draft, lambda p: svc.record_objection(db.session, p, submitted_by="某", text="x"), "只能在公示期间"),
    (S.final, lambda p: svc.record_objection(db.session, p, submitted_by="某", text="x"), "只能在公示期间"),
    (S.public, lambda p: svc.record_objection(db.session, p, submitted_by=" ", text="x"), "请填写异议提出人"),
    (S.public, lambda p: svc.record_objection(db.session, p, submitted_by="某", text=""), "请填写异议内容"),
    (S.public, lambda p: svc.record_objection(db.session, p, submitted_by="某", text="x", entry_id=999999),
     "不在本次公示的名单中"),
    (S.public, lambda p: svc.discard_draft(db.session, p, "甲"), "只能删除草稿"),
])
def test_refusals_are_clear_and_change_nothing(world, start, action, message):
    stage, _cat, entries = world
    pub = _to(draft(stage, entries), start)
    before = (pub.status, pub.objection_until, pub.finalised_at, len(pub.objections), count_pubs())
    with pytest.raises(PublicationError) as exc:
        action(pub)
    assert message in exc.value.message
    db.session.rollback()
    db.session.refresh(pub)
    assert (pub.status, pub.objection_until, pub.finalised_at, len(pub.objections), count_pubs()) == before


def test_full_journey(world):
    stage, _cat, entries = world
    pub = draft(stage, entries)
    db.session.commit()
    assert (pub.version, pub.status, pub.scope) == (1, S.draft, "stage")
    svc.publish(db.session, pub, "甲", today=MON)
    obj = svc.record_objection(db.session, pub, submitted_by="李老师 138xxxx", text="分数有误",
                               entry_id=entries[1].id)
    db.session.commit()
    with pytest.raises(PublicationError, match="1 条异议未答复"):
        svc.finalise(db.session, pub, "甲", today=date(2026, 12, 1))
    with pytest.raises(PublicationError, match="请选择异议是否成立"):
        svc.answer_objection(db.session, obj, outcome="复核无误", upheld=None, actor="甲")
    svc.answer_objection(db.session, obj, outcome="复核无误", upheld=False, actor="甲")
    db.session.commit()
    with pytest.raises(PublicationError, match="已经答复"):
        svc.answer_objection(db.session, obj, outcome="again", upheld=True, actor="甲")
    svc.finalise(db.session, pub, "甲", today=date(2026, 12, 1))
    db.session.commit()
    assert pub.status == S.final and pub.finalised_at is not None
    assert (obj.entry_id, obj.upheld, obj.outcome, obj.answered_by) == (entries[1].id, False, "复核无误", "甲")
    assert svc.latest_final(db.session, stage, "stage").id == pub.id


@pytest.mark.parametrize("unanswered,today", [(True, MON), (False, MON), (True, date(2026, 12, 1))])
def test_finalise_forced_with_reason(world, unanswered, today):
    stage, _cat, entries = world
    pub = public_pub(stage, entries)
    if unanswered:
        svc.record_objection(db.session, pub, submitted_by="某", text="异议")
        db.session.commit()
    with pytest.raises(PublicationError):
        svc.finalise(db.session, pub, "甲", force_reason="   ", today=today)
    svc.finalise(db.session, pub, "组织方甲", force_reason="上级通知提前确认", today=today)
    db.session.commit()
    assert pub.status == S.final and "上级通知提前确认" in pub.reason and "组织方甲" in pub.reason


def test_new_version_needs_reason_and_supersedes_on_publish(world):
    stage, _cat, entries = world
    v1 = public_pub(stage, entries)
    svc.finalise(db.session, v1, "甲", today=date(2026, 12, 1))
    db.session.commit()
    with pytest.raises(PublicationError, match="必须填写变更原因"):
        draft(stage, entries, marker="（二）")
    with pytest.raises(PublicationError, match="必须填写变更原因"):
        draft(stage, entries, marker="（二）", reason="  ")
    v2 = draft(stage, entries, marker="（二）", reason="复核后更正 E002 的得分")
    db.session.commit()
    assert (v2.version, v2.status, v2.reason) == (2, S.draft, "复核后更正 E002 的得分")
    db.session.refresh(v1)
    assert v1.status == S.final                     # stays public until v2 is published
    with pytest.raises(PublicationError, match="已有未发布的草稿"):
        draft(stage, entries, reason="again")
    svc.publish(db.session, v2, "甲", today=date(2026, 12, 2))
    db.session.commit()
    db.session.refresh(v1)
    assert v1.status == S.superseded and v2.status == S.public
    assert v1.snapshot["categories"][0]["groups"][0]["rows"][0]["title"] == "磁悬浮的秘密"   # frozen
    assert [p.id for p in svc.public_publications(db.session)] == [v2.id]
    assert svc.latest_final(db.session, stage, "stage") is None


def test_scopes_are_versioned_separately(world):
    stage, cat, entries = world
    a = draft(stage, entries)
    b = draft(stage, entries, category_id=cat.id)
    db.session.commit()
    assert (a.scope, a.version, b.scope, b.version) == ("stage", 1, f"category:{cat.id}", 1)


def test_discard_draft(world):
    stage, _cat, entries = world
    pub = draft(stage, entries)
    db.session.commit()
    svc.discard_draft(db.session, pub, "甲")
    db.session.commit()
    assert count_pubs() == 0


def test_empty_snapshot_refused(world):
    stage, _cat, _entries = world
    with pytest.raises(PublicationError, match="没有可发布的结果"):
        svc.create_draft(db.session, stage, actor="甲", snapshot={"stage": {}, "categories": []})


def test_stale_expected_version_refused(world):
    stage, _cat, entries = world
    public_pub(stage, entries)
    with pytest.raises(PublicationError) as exc:
        draft(stage, entries, reason="r", expected_version=0)
    assert exc.value.status == 409 and "刷新" in exc.value.message
    assert count_pubs() == 1


def test_race_two_organisers_yield_one_version(world, monkeypatch):
    """Both organisers read 'no version yet'; the second insert hits the unique key."""
    stage, _cat, entries = world
    snap = make_snapshot(stage, entries)
    stale = svc.latest
    monkeypatch.setattr(svc, "latest", lambda session, sid, scope: None)   # both saw nothing
    other = Session(db.engine)
    try:
        other_stage = other.get(type(stage), stage.id)
        svc.create_draft(other, other_stage, actor="组织方乙", snapshot=snap)
        other.commit()
    finally:
        other.close()
    with pytest.raises(PublicationError) as exc:
        svc.create_draft(db.session, stage, actor="组织方甲", snapshot=snap)
    assert exc.value.status == 409 and "同时生成了第 1 版" in exc.value.message
    db.session.rollback()
    monkeypatch.setattr(svc, "latest", stale)
    rows = db.session.scalars(select(Publication)).all()
    assert [(p.version, p.created_by) for p in rows] == [(1, "组织方乙")]


def test_publish_race_second_is_refused(world):
    """Two organisers press 发布公示 on the same draft: the second finds it already public."""
    stage, _cat, entries = world
    pub = draft(stage, entries)
    db.session.commit()
    other = Session(db.engine)
    try:
        other_pub = other.get(Publication, pub.id)
        svc.publish(other, other_pub, "乙", today=MON)
        other.commit()
    finally:
        other.close()
    stale = S.draft   # our copy still says draft
    pub.__dict__["status"] = stale
    with pytest.raises(PublicationError) as exc:
        svc.publish(db.session, pub, "甲", today=date(2026, 11, 24))
    assert exc.value.status == 409
    db.session.rollback()
    db.session.refresh(pub)
    assert pub.objection_until == date(2026, 11, 30)


# --- organiser pages ---------------------------------------------------------------------------

def _post(client, page_url, url, data):
    token = csrf_from(client.get(page_url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def test_organiser_pages_journey(world, org_client, monkeypatch):
    stage, _cat, entries = world
    pid, sid = stage.programme_id, stage.id
    monkeypatch.setattr(svc, "_snapshot", lambda session, st, cid: make_snapshot(st, entries, marker="·页面"))
    base = f"/admin/programmes/{pid}/stages/{sid}/publications"
    assert "结果发布" in org_client.get(f"/admin/programmes/{pid}/stages/{sid}").get_data(as_text=True)
    r = _post(org_client, base, base, {"category_id": "", "title": "", "reason": "", "expected_version": "0"})
    assert r.status_code == 302
    pub = db.session.scalars(select(Publication)).one()
    page = f"{base}/{pub.id}"
    html = org_client.get(page).get_data(as_text=True)
    assert "草稿" in html and "磁悬浮的秘密·页面" in html and "发布公示" in html
    r = _post(org_client, page, f"{page}/publish", {"days": "5"})
    assert r.status_code == 302
    db.session.refresh(pub)
    assert pub.status == S.public and pub.objection_until is not None
    html = org_client.get(page, follow_redirects=True).get_data(as_text=True)
    assert pub.objection_until.isoformat() in html
    _post(org_client, page, f"{page}/objections", {"submitted_by": "张老师", "text": "名次有误",
                                                    "entry_id": str(entries[0].id)})
    obj = db.session.scalars(select(Objection)).one()
    r = _post(org_client, page, f"{page}/finalise", {})
    assert r.status_code == 302
    html = org_client.get(page).get_data(as_text=True)
    assert "未答复" in html
    db.session.refresh(pub)
    assert pub.status == S.public
    _post(org_client, page, f"{page}/objections/{obj.id}/answer", {"outcome": "复核无误", "upheld": "no"})
    _post(org_client, page, f"{page}/finalise", {"force_reason": "评审委员会决定提前确认"})
    db.session.refresh(pub)
    assert pub.status == S.final
    # a new version needs a reason
    r = _post(org_client, page, base, {"category_id": "", "reason": "", "expected_version": "1"})
    assert "必须填写变更原因" in org_client.get(page).get_data(as_text=True)
    assert count_pubs() == 1
    _post(org_client, page, base, {"category_id": "", "reason": "更正得分", "expected_version": "1"})
    v2 = db.session.scalars(select(Publication).where(Publication.version == 2)).one()
    # a stale form (still saying version 1) is a clear 409 that creates nothing
    _post(org_client, f"{base}/{v2.id}", f"{base}/{v2.id}/discard", {})
    _post(org_client, page, base, {"category_id": "", "reason": "更正得分", "expected_version": "1"})
    v2 = db.session.scalars(select(Publication).where(Publication.version == 2)).one()
    r = _post(org_client, page, base, {"category_id": "", "reason": "另一人", "expected_version": "1"})
    assert r.status_code == 409 and "刷新" in r.get_data(as_text=True)
    assert count_pubs() == 2
    _post(org_client, f"{base}/{v2.id}", f"{base}/{v2.id}/publish", {"days": "5"})
    html = org_client.get(page).get_data(as_text=True)
    assert "已被新版本取代" in html and "磁悬浮的秘密·页面" in html   # old version viewable


def test_oversight_reads_but_cannot_act(world, client):
    stage, _cat, entries = world
    pub = public_pub(stage, entries)
    make_user("oversight", "oversight")
    login(client, "oversight")
    base = f"/admin/programmes/{stage.programme_id}/stages/{stage.id}/publications"
    html = client.get(f"{base}/{pub.id}").get_data(as_text=True)
    assert client.get(base).status_code == 200
    assert "公示中" in html and "确认为最终结果" not in html and "登记异议" not in html
    token = csrf_from(html) if 'name="csrf_token"' in html else csrf_from(client.get("/login").get_data(as_text=True))
    r = client.post(f"{base}/{pub.id}/finalise", data={"csrf_token": token, "force_reason": "x"})
    assert r.status_code == 403
    db.session.refresh(pub)
    assert pub.status == S.public


ROUTES = [("GET", ""), ("POST", ""), ("GET", "/{pub}"), ("POST", "/{pub}/publish"), ("POST", "/{pub}/discard"),
          ("POST", "/{pub}/finalise"), ("POST", "/{pub}/objections"), ("POST", "/{pub}/objections/{obj}/answer")]


@pytest.mark.parametrize("role,expect_get,expect_post", [
    ("organiser", {200}, {302, 409}),
    ("oversight", {200}, {403}),
    ("judge", {403}, {403}),
    ("chief", {403}, {403}),
    (None, {302}, {302}),
])
def test_access_to_every_organiser_route(world, app, role, expect_get, expect_post):
    stage, _cat, entries = world
    pub = public_pub(stage, entries)
    obj = svc.record_objection(db.session, pub, submitted_by="某", text="异议")
    db.session.commit()
    client = app.test_client()
    if role:
        make_user(role, role)
        assert login(client, role).status_code == 302
    app.config["WTF_CSRF_ENABLED"] = False    # access, not CSRF, is under test here
    base = f"/admin/programmes/{stage.programme_id}/stages/{stage.id}/publications"
    for method, tail in ROUTES:
        url = base + tail.format(pub=pub.id, obj=obj.id)
        r = client.get(url) if method == "GET" else client.post(url, data={})
        expected = expect_get if method == "GET" else expect_post
        assert r.status_code in expected, (role, method, url, r.status_code)
        if role is None:
            assert "/login" in r.headers.get("Location", "")


def test_draft_from_the_real_results_snapshot(world):
    """Without a snapshot argument the draft freezes services.results.snapshot (the contract)."""
    stage, _cat, entries = world
    pub = svc.create_draft(db.session, stage, actor="甲")
    db.session.commit()
    ids = svc.snapshot_entry_ids(pub.snapshot)
    assert {e.id for e in entries} <= ids and pub.snapshot["stage"]["id"] == stage.id
