"""The server side of the judge's scoring screen: the page at /judge/ (the list in running
order with each sheet's state, the count done, what an anonymous stage hides), the data the
script reads from it, and the service worker's route."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from extensions import db
from services import sheets as svc
from tests.web.test_judge_access import _rows, build_world, declare_none, text

ROOT = Path(__file__).resolve().parents[2]
MARKS = {"kexuexing": "23.5", "neirong_zuzhi": "18", "fudao_fangfa": "22", "yuyan_yitai": "13.5",
         "wenda_yingbian": "9", "shijian_kongzhi": "4.5"}


@pytest.fixture
def world(app, competition):
    return build_world(competition)


def _signed_in(client, plain):
    client.get(f"/j/{plain}")
    declare_none(client)


def _put(world, entry, body):
    actor = svc.Actor(label="评委 J0005 张评委", judge_id=world.judge.id)
    out = svc.put_sheet(db.session, world.judge, world.regional, entry.id, body, actor)
    db.session.commit()
    return out.sheet


def test_service_worker_is_served_from_the_judge_scope(client, world):
    resp = client.get("/judge/sw.js")          # no judge session needed: nothing personal in it
    assert resp.status_code == 200
    assert resp.mimetype in ("text/javascript", "application/javascript")
    assert resp.headers["Service-Worker-Allowed"] == "/judge/"
    assert resp.headers["Cache-Control"] == "no-cache"
    body = text(resp)
    assert "judge-shell-v1" in body and 'addEventListener("fetch"' in body
    # the app shell it pre-caches exists (install would fail on a missing file)
    shell = re.search(r"SHELL_FILES = \[(.*?)\];", body, re.S).group(1)
    files = re.findall(r'"(/static/[^"]+)"', shell)
    assert files and all((ROOT / f.lstrip("/")).is_file() for f in files), files
    # and every script the page loads is in it
    _signed_in(client, world.plain)
    page = text(client.get("/judge/"))
    for src in re.findall(r'<script[^>]+src="([^"]+)"', page):
        assert src in files, src


def test_scoring_page_carries_its_data_and_no_inline_script(client, world):
    _signed_in(client, world.plain)
    resp = client.get("/judge/")
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = text(resp)
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', body)
    app = re.search(r'<div id="judge-app"([^>]*)>', body).group(1)
    assert 'data-entries-url="/api/v1/me/entries"' in app
    assert 'data-sheet-url="/api/v1/me/sheets/"' in app
    assert 'data-sw-url="/judge/sw.js"' in app and 'data-sw-scope="/judge/"' in app
    assert f'data-scope="{world.judge.id}-{world.regional.id}"' in app
    # every script is a file or a JSON block: nothing for a CSP without 'unsafe-inline' to refuse
    for attrs, content in re.findall(r"<script([^>]*)>(.*?)</script>", body, re.S):
        assert "src=" in attrs or 'type="application/json"' in attrs, attrs
        if 'type="application/json"' in attrs:
            strings = json.loads(content)
            assert strings["queued"] == "已保存在本设备（未发送）" and strings["sent"] == "已发送"
            assert strings["done_count"] == "已完成 {done} / {total}"
    assert not re.search(r"<[^>]+\son[a-z]+=", body)          # no inline event handlers
    assert 'id="confirm-dialog"' in body and "确认提交" in body


def test_list_shows_each_sheets_state_and_the_count_done(client, world):
    _put(world, world.e_student, {"scores": MARKS, "status": "submitted", "client_request_id": "a1"})
    _put(world, world.e_plain, {"scores": {"kexuexing": "20"}, "status": "draft", "client_request_id": "a2"})
    _signed_in(client, world.plain)
    body = text(client.get("/judge/"))
    rows = _rows(body)
    assert list(rows) == [str(world.e_own.id), str(world.e_student.id), str(world.e_plain.id), str(world.e_yn.id)]
    assert "已提交" in rows[str(world.e_student.id)]
    assert "草稿" in rows[str(world.e_plain.id)]
    assert "待评" in rows[str(world.e_yn.id)]
    assert "回避" in rows[str(world.e_own.id)] and "评委与选手同属“贵州省科技馆”" in rows[str(world.e_own.id)]
    assert "已完成 1 / 3" in body and "共 4 件，回避 1 件" in body
    # the current entry is the first one not yet submitted, in running order
    assert re.search(rf'<li class="jentry[^"]*\bcurrent\b[^"]*" data-entry="{world.e_plain.id}"', body)


def test_withdrawn_entries_are_greyed_and_not_counted(client, world):
    """In a review design an assigned entry that withdraws stays on the list, greyed (a live
    round's panel list shows active entries only)."""
    world.p_b.status = "withdrawn"
    db.session.commit()
    _signed_in(client, world.prelim_plain)
    body = text(client.get("/judge/"))
    assert re.search(rf'<li class="jentry[^"]*\bwithdrawn\b[^"]*" data-entry="{world.p_b.id}"', body)
    assert "已退赛" in _rows(body)[str(world.p_b.id)]
    assert "已完成 0 / 1" in body


def test_anonymous_stage_shows_code_and_title_without_names_or_unit(client, world):
    _signed_in(client, world.prelim_plain)
    body = text(client.get("/judge/"))
    rows = _rows(body)
    assert list(rows) == [str(world.p_a.id), str(world.p_b.id)]
    assert "K7Q2MX" in rows[str(world.p_a.id)] and "星空下的对话" in rows[str(world.p_a.id)]
    for hidden in ("孙甲", "钱乙", "云南省科技馆"):
        assert hidden not in body
    assert 'data-anonymous="1"' in body and "本阶段为匿名评审" in body
    # the API the script reads hides them too
    data = client.get("/api/v1/me/entries").get_json()
    assert all(e["unit"] is None and e["contestant"] is None for e in data["entries"])


def test_closed_stage_says_so(client, world):
    world.regional.scoring_closed_at = db.func.now()
    db.session.commit()
    _signed_in(client, world.plain)
    body = text(client.get("/judge/"))
    assert "本阶段评分已结束" in body and 'data-closed="1"' in body


def test_the_page_csrf_token_lets_the_script_write_and_nothing_else_does(client, world):
    """The script sends the page's CSRF token in X-CSRFToken; without it the session cannot write."""
    _signed_in(client, world.plain)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', text(client.get("/judge/"))).group(1)
    body = {"scores": MARKS, "status": "submitted", "client_request_id": "page-1", "base_version": 0}
    refused = client.put(f"/api/v1/me/sheets/{world.e_student.id}", json=body)
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "csrf"
    headers = {"X-CSRFToken": token, "X-Device-Id": "tablet-7"}
    first = client.put(f"/api/v1/me/sheets/{world.e_student.id}", json=body, headers=headers)
    assert first.status_code == 201 and first.get_json()["status"] == "submitted"
    again = client.put(f"/api/v1/me/sheets/{world.e_student.id}", json=body, headers=headers)
    assert again.status_code == 200 and again.get_json()["replayed"] is True
    page = text(client.get("/judge/"))
    assert "已提交" in _rows(page)[str(world.e_student.id)] and "已完成 1 / 3" in page


def test_scoring_screen_needs_the_declaration_first(client, world):
    client.get(f"/j/{world.plain}")
    resp = client.get("/judge/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/judge/declaration")
