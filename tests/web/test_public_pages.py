"""Public ranking pages: only the latest public or final version is ever shown; drafts and
superseded versions are 404 and their text appears on no public page."""
from __future__ import annotations

import re
from datetime import date

import pytest

from extensions import db
from models import PublicationStatus
from services import publication as svc
from tests.conftest import login, make_user
from tests.web.test_publication import MON, build_world, draft

S = PublicationStatus
DRAFT_MARK = "【草稿机密标记】"
OLD_MARK = "【旧版本标记】"


@pytest.fixture
def world(app, competition):
    return build_world(competition)


def _publish(pub, today=MON):
    svc.publish(db.session, pub, "甲", today=today)
    db.session.commit()
    return pub


def public_urls(client, extra=()):
    urls = ["/results", *extra]
    html = client.get("/results").get_data(as_text=True)

    urls += sorted(set(re.findall(r'href="(/results/\d+)"', html)))
    return urls


def test_public_ranking_page_shows_ranking_and_banner(world, client):
    stage, cat, entries = world
    pub = _publish(draft(stage, entries, title="2024 辅导员大赛 分赛区 公示名单"))
    html = client.get("/results").get_data(as_text=True)
    assert "2024 辅导员大赛 分赛区 公示名单" in html and "2026-11-30" in html
    r = client.get(f"/results/{pub.id}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for text in ("公示中", "2026-11-30", "异议", cat.name, "磁悬浮的秘密", "王小丽", "贵州省科技馆",
                 "95.00", "一等奖", "二等奖", 'name="viewport"'):
        assert text in html, text
    assert "评委1" not in html          # the reasoning stays with organisers
    svc.finalise(db.session, pub, "甲", today=date(2026, 12, 1))
    db.session.commit()
    html = client.get(f"/results/{pub.id}").get_data(as_text=True)
    assert "最终结果" in html and "公示期至" not in html


def test_drafts_and_superseded_never_public(world, client, app):
    stage, cat, entries = world
    v1 = _publish(draft(stage, entries, marker=OLD_MARK, title="第一版" + OLD_MARK))
    svc.finalise(db.session, v1, "甲", today=date(2026, 12, 1))
    db.session.commit()
    v2 = draft(stage, entries, marker=DRAFT_MARK, title="草稿" + DRAFT_MARK, reason="更正")
    cat_draft = draft(stage, entries, category_id=cat.id, marker=DRAFT_MARK, title="赛项草稿" + DRAFT_MARK)
    db.session.commit()
    # while v2 is a draft the public still sees v1, and nothing of the draft
    assert client.get(f"/results/{v1.id}").status_code == 200
    for pid in (v2.id, cat_draft.id, 999999):
        assert client.get(f"/results/{pid}").status_code == 404
    for url in public_urls(client, [f"/results/{v2.id}", f"/results/{cat_draft.id}"]):
        assert DRAFT_MARK not in client.get(url).get_data(as_text=True), url
    # publish v2: v1 is superseded and disappears from the public side
    _publish(v2, today=date(2026, 12, 2))
    assert client.get(f"/results/{v1.id}").status_code == 404
    html = client.get(f"/results/{v2.id}").get_data(as_text=True)
    assert DRAFT_MARK in html and "更正" in html
    for url in public_urls(client, [f"/results/{v1.id}"]):
        assert OLD_MARK not in client.get(url).get_data(as_text=True), url
    assert client.get(f"/results/{cat_draft.id}").status_code == 404
    # organisers still see the superseded version
    make_user("organiser", "organiser")
    login(client, "organiser")
    r = client.get(f"/admin/programmes/{stage.programme_id}/stages/{stage.id}/publications/{v1.id}")
    assert r.status_code == 200 and OLD_MARK in r.get_data(as_text=True)


def test_public_pages_need_no_login_and_list_nothing_when_empty(world, client):
    stage, _cat, entries = world
    draft(stage, entries, title="只有草稿" + DRAFT_MARK)
    db.session.commit()
    r = client.get("/results")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "暂无公示的结果" in html and DRAFT_MARK not in html


def test_public_page_works_for_logged_in_users_too(world, client):
    stage, _cat, entries = world
    pub = _publish(draft(stage, entries))
    make_user("judge", "judge")
    login(client, "judge")
    assert client.get(f"/results/{pub.id}").status_code == 200


def test_unranked_entries_and_empty_groups_stay_off_the_public_page(world, client):
    """An entry not yet ranked (a division still scoring, a disqualification under review) is
    the organisers' business: the public page lists ranked rows only, and a group with nothing
    ranked is left out instead of showing a list of dashes. Organisers still see every row."""
    from tests.web.test_publication import make_snapshot
    stage, cat, entries = world
    snap = make_snapshot(stage, entries)
    rows = snap["categories"][0]["groups"][0]["rows"]
    rows[2].update(rank=None, score=None, status="incomplete", award=None, title="未评完的作品")
    snap["categories"][0]["groups"].append(
        {"division": {"id": 999, "code": "XX", "name": "尚未评分赛区"},
         "rows": [dict(rows[2], entry_id=99999, external_id="E999", title="另一个未评完的作品")]})
    pub = svc.create_draft(db.session, stage, actor="组织方甲", snapshot=snap)
    _publish(pub)
    html = client.get(f"/results/{pub.id}").get_data(as_text=True)
    assert "磁悬浮的秘密" in html and "会唱歌的水杯" in html
    assert "未评完的作品" not in html and "尚未评分赛区" not in html
    # the organiser's view of the same publication keeps them
    make_user("organiser", "zuzhi")
    login(client, "zuzhi")
    organiser_html = client.get(f"/admin/programmes/{stage.programme_id}/stages/{stage.id}/publications/{pub.id}")
    assert "未评完的作品" in organiser_html.get_data(as_text=True)
