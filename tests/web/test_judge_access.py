"""The judge's door: the link on the judge card, the session that re-checks it on every
request, and the wall between judge access and organiser logins.

`build_world` is shared with the declaration and browser tests: a docent competition with a
regional round (a 贵州 panel, open names) and an anonymous national preliminary review (a review
design, with assignments)."""
from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest

from extensions import db
from models import (Assignment, Entry, Judge, JudgeToken, Panel, PanelMember, PanelRole, Person, Unit,
                    ensure_provinces)
from models.base import utcnow
from tests.conftest import csrf_from, login, make_user


def _entry(stage, cat, ext, title, name, unit, *, division=None, draw=None, code=None):
    person = Person(name=name, unit_id=unit.id)
    db.session.add(person)
    db.session.flush()
    e = Entry(stage_id=stage.id, category_id=cat.id, external_id=ext, title=title, kind="individual",
              person_id=person.id, unit_id=unit.id, province_id=unit.province_id,
              division_id=division.id if division else None, draw_number=draw, anonymous_code=code,
              status="active")
    db.session.add(e)
    return e


def _judge(prog, ext, name, unit):
    person = Person(name=name, unit_id=unit.id)
    db.session.add(person)
    db.session.flush()
    j = Judge(programme_id=prog.id, external_id=ext, person_id=person.id, unit_id=unit.id,
              province_id=unit.province_id)
    db.session.add(j)
    return j


def build_world(prog) -> SimpleNamespace:
    """Units in 贵州 and 云南; judge 张评委 (贵州省科技馆) sits on the 贵州 regional panel and
    reviews two entries in the anonymous national preliminary review."""
    provinces = ensure_provinces(db.session)
    gz, yn = provinces["52"], provinces["53"]
    units = {
        "gz": Unit(external_id="U0520", name="贵州省科技馆", province_id=gz.id),
        "zy": Unit(external_id="U0521", name="遵义市科技馆", province_id=gz.id),
        "yn": Unit(external_id="U0530", name="云南省科技馆", province_id=yn.id),
    }
    db.session.add_all(units.values())
    db.session.flush()
    regional, prelim = prog.stages[0], prog.stages[1]
    cats = {c.code: c for c in prog.categories}
    div = next(d for d in prog.divisions if d.province_id == gz.id)
    exhibit, drama = cats["exhibit"], cats["drama"]

    w = SimpleNamespace(prog=prog, regional=regional, prelim=prelim, units=units, division=div)
    w.judge = _judge(prog, "J0005", "张评委", units["gz"])
    w.other_judge = _judge(prog, "J0006", "李评委", units["yn"])
    w.outsider = _judge(prog, "J0007", "赵评委", units["yn"])   # on no panel
    # regional round, 贵州 division, names open
    w.e_own = _entry(regional, exhibit, "E0101", "会呼吸的岩石", "王同馆", units["gz"], division=div, draw=1)
    w.e_student = _entry(regional, exhibit, "E0102", "磁悬浮的秘密", "陈学生", units["zy"], division=div, draw=2)
    w.e_plain = _entry(regional, exhibit, "E0103", "光的折射", "刘选手", units["zy"], division=div, draw=3)
    w.e_yn = _entry(regional, drama, "E0104", "水滴旅行记", "周云南", units["yn"], division=div, draw=1)
    w.e_elsewhere = _entry(regional, exhibit, "E0201", "别处的作品", "吴外省", units["yn"],
                           division=next(d for d in prog.divisions if d.province_id == yn.id), draw=1)
    db.session.flush()
    panel = Panel(stage_id=regional.id, name="贵州赛区评委组", division_id=div.id)
    panel.members.append(PanelMember(judge_id=w.judge.id, role=PanelRole.chief))
    panel.members.append(PanelMember(judge_id=w.other_judge.id, role=PanelRole.member))
    db.session.add(panel)
    # national preliminary review: anonymous, same province avoided, reviewers assigned
    w.p_a = _entry(prelim, exhibit, "N0001", "星空下的对话", "孙甲", units["yn"], draw=1, code="K7Q2MX")
    w.p_b = _entry(prelim, exhibit, "N0002", "声音的形状", "钱乙", units["yn"], draw=2, code="P3R8TW")
    w.p_c = _entry(prelim, exhibit, "N0003", "种子的旅行", "郑丙", units["zy"], draw=3, code="H4J6NB")
    db.session.flush()
    db.session.add_all([Assignment(stage_id=prelim.id, judge_id=w.judge.id, entry_id=w.p_a.id),
                        Assignment(stage_id=prelim.id, judge_id=w.judge.id, entry_id=w.p_b.id),
                        Assignment(stage_id=prelim.id, judge_id=w.other_judge.id, entry_id=w.p_c.id)])
    w.token, w.plain = JudgeToken.issue(w.judge.id, regional.id)
    w.prelim_token, w.prelim_plain = JudgeToken.issue(w.judge.id, prelim.id)
    w.other_token, w.other_plain = JudgeToken.issue(w.other_judge.id, regional.id)
    db.session.add_all([w.token, w.prelim_token, w.other_token])
    db.session.commit()
    return w


@pytest.fixture
def world(app, competition):
    return build_world(competition)


def declare_none(client):
    """Complete the first-login declaration with 无需回避."""
    page = client.get("/judge/declaration")
    return client.post("/judge/declaration", data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                                   "action": "none"})


def text(resp) -> str:
    return resp.get_data(as_text=True)


# -- the link on the judge card ---------------------------------------------------------------

def test_good_token_signs_in_and_leaves_the_address_bar(client, world):
    resp = client.get(f"/j/{world.plain}")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/judge/")
    assert world.plain not in resp.headers["Location"]
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    with client.session_transaction() as s:
        judge_keys = {k for k in s if not k.startswith("_")}
        assert judge_keys == {"judge_token_id"}
        assert s["judge_token_id"] == world.token.id
    # first login: the declaration comes before anything else
    home = client.get("/judge/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/judge/declaration")
    page = client.get("/judge/declaration")
    assert page.status_code == 200
    body = text(page)
    assert "张评委" in body and "回避声明" in body and "陈学生" in body
    assert page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("case,status,words", [
    ("unknown", 401, "无法识别此评委链接"),
    ("expired", 401, "已过期"),
    ("revoked", 403, "已被组织方停用"),
    ("malformed", 401, "无法识别此评委链接"),
])
def test_unusable_tokens_are_refused_with_the_reason(client, world, case, status, words):
    plain = world.plain
    if case == "unknown":
        plain = "x" * 32
    elif case == "malformed":
        plain = "a" * 500
    elif case == "expired":
        world.token.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    elif case == "revoked":
        world.token.revoked_at = utcnow()
        db.session.commit()
    resp = client.get(f"/j/{plain}")
    assert resp.status_code == status
    assert words in text(resp)
    with client.session_transaction() as s:
        assert "judge_token_id" not in s
    assert client.get("/judge/").status_code == 401


@pytest.mark.parametrize("change,status,words", [
    ("revoke", 403, "已被组织方停用"),
    ("expire", 401, "已过期"),
    ("delete", 401, "无法识别此评委链接"),
])
def test_revocation_and_expiry_act_on_the_next_request(client, world, change, status, words):
    assert client.get(f"/j/{world.plain}").status_code == 302
    assert declare_none(client).status_code == 302
    assert client.get("/judge/").status_code == 200
    if change == "revoke":
        world.token.revoked_at = utcnow()
    elif change == "expire":
        world.token.expires_at = utcnow() - timedelta(seconds=1)
    else:
        db.session.delete(world.token)
    db.session.commit()
    for path in ("/judge/", "/judge/declaration"):
        resp = client.get(path)
        assert resp.status_code == status, path
        assert words in text(resp)
        assert "张评委" not in text(resp)


def test_no_session_gets_a_chinese_page(client, world):
    resp = client.get("/judge/")
    assert resp.status_code == 401
    assert "评委卡上的二维码" in text(resp)
    assert client.get("/judge/declaration").status_code == 401


def test_a_bad_card_ends_an_earlier_judge_session(client, world):
    client.get(f"/j/{world.plain}")
    assert client.get(f"/j/{'y' * 32}").status_code == 401
    assert client.get("/judge/declaration").status_code == 401


def test_token_of_another_stage_shows_only_that_stage(client, world):
    client.get(f"/j/{world.prelim_plain}")
    body = text(client.get("/judge/declaration"))
    assert "星空下的对话" in body and "声音的形状" in body      # assigned to this judge
    assert "种子的旅行" not in body                              # assigned to someone else
    assert "磁悬浮的秘密" not in body and "光的折射" not in body  # the regional round's entries
    client.get(f"/j/{world.plain}")
    body = text(client.get("/judge/declaration"))
    assert "磁悬浮的秘密" in body and "星空下的对话" not in body
    assert "别处的作品" not in body                               # another division's panel


def test_organiser_login_does_not_open_judge_pages(client, world):
    make_user("organiser", "organiser")
    assert login(client, "organiser").status_code == 302
    for path in ("/judge/", "/judge/declaration", "/judge/declaration/saved"):
        resp = client.get(path)
        assert resp.status_code == 401, path
        assert "张评委" not in text(resp)


def test_judge_account_login_is_not_judge_access(client, world):
    """A Flask-Login account with role judge linked to the same judge still needs the card."""
    make_user("judge", "judge1", judge_id=world.judge.id)
    assert login(client, "judge1").status_code == 302
    assert client.get("/judge/").status_code == 401


def test_judge_token_does_not_open_organiser_pages(client, world):
    client.get(f"/j/{world.plain}")
    declare_none(client)
    for path in ("/admin/", f"/admin/programmes/{world.prog.id}", "/home"):
        resp = client.get(path)
        assert resp.status_code == 302, path
        assert "/login" in resp.headers["Location"]


def test_both_sessions_side_by_side_stay_separate(client, world):
    """An organiser and a judge in one browser: each keeps their own door, nothing more."""
    make_user("organiser", "organiser")
    login(client, "organiser")
    client.get(f"/j/{world.plain}")
    declare_none(client)
    assert client.get("/admin/").status_code == 200
    assert client.get("/judge/").status_code == 200
    page = client.get("/judge/")
    client.post("/judge/logout", data={"csrf_token": csrf_from(text(page))})
    assert client.get("/judge/").status_code == 401
    assert client.get("/admin/").status_code == 200        # the organiser is still signed in


def test_logout_needs_csrf_and_ends_the_judge_session(client, world):
    client.get(f"/j/{world.plain}")
    declare_none(client)
    assert client.post("/judge/logout").status_code == 400
    assert client.get("/judge/").status_code == 200
    page = client.get("/judge/")
    resp = client.post("/judge/logout", data={"csrf_token": csrf_from(text(page))})
    assert resp.status_code == 200 and "已退出" in text(resp)
    assert client.get("/judge/").status_code == 401


# -- the home page -----------------------------------------------------------------------------

def _rows(body: str) -> dict[str, str]:
    """Entry id -> the text of its row on a judge page."""
    out = {}
    for m in re.finditer(r'<li class="(?:jentry|jdecl)[^"]*"[^>]*data-entry="(\d+)"[^>]*>(.*?)</li>', body, re.S):
        out[m.group(1)] = re.sub(r"<[^>]+>|\s+", " ", m.group(2))
    return out


def test_home_lists_the_panel_entries_in_running_order_with_recusals(client, world):
    client.get(f"/j/{world.plain}")
    declare_none(client)
    resp = client.get("/judge/")
    body = text(resp)
    assert resp.status_code == 200
    assert "张评委" in body and "分赛区选拔" in body
    assert "共 4 件，回避 1 件" in body
    assert "已完成 0 / 3" in body                 # the recused entry is not counted
    rows = _rows(body)
    assert list(rows) == [str(world.e_own.id), str(world.e_student.id), str(world.e_plain.id), str(world.e_yn.id)]
    own = rows[str(world.e_own.id)]
    assert "回避" in own and "评委与选手同属“贵州省科技馆”" in own
    student = rows[str(world.e_student.id)]
    assert "陈学生" in student and "遵义市科技馆" in student and "回避" not in student   # open stage


def test_home_of_an_anonymous_stage_shows_code_and_title_only(client, world):
    client.get(f"/j/{world.prelim_plain}")
    declare_none(client)
    body = text(client.get("/judge/"))
    rows = _rows(body)
    assert list(rows) == [str(world.p_a.id), str(world.p_b.id)]
    row = rows[str(world.p_a.id)]
    assert "K7Q2MX" in row and "星空下的对话" in row
    assert "孙甲" not in row and "云南省科技馆" not in row
    assert "共 2 件，回避 0 件" in body


# -- the service -------------------------------------------------------------------------------

def test_token_from_and_check_token(app, world):
    from services.judge_access import TokenProblem, check_token, check_token_id, token_from
    assert token_from(world.plain).id == world.token.id
    assert token_from("nope") is None and token_from("") is None and token_from(None) is None
    assert check_token(db.session, "nope").problem == TokenProblem.unknown
    world.token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    check = check_token(db.session, world.plain)
    assert check.problem == TokenProblem.expired and check.token.id == world.token.id
    assert token_from(world.plain) is None
    world.token.revoked_at = utcnow()          # revoked wins over expired: it is the organiser's act
    db.session.commit()
    assert check_token(db.session, world.plain).problem == TokenProblem.revoked
    assert check_token_id(db.session, world.prelim_token.id).ok
    assert check_token_id(db.session, "1").problem == TokenProblem.unknown
    assert check_token_id(db.session, 10 ** 6).problem == TokenProblem.unknown
