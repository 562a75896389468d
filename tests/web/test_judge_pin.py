"""The PIN fallback (`/j/pin`): the same judge session as the card's link, refused for the same
reasons, typed the way people type (spaces, dashes, full-width digits), never stored plain."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from extensions import db
from models import JudgeToken, hash_token
from models.base import as_utc, utcnow
from services import judge_access as ja
from tests.conftest import ROOT, csrf_from
from tests.web.test_judge_access import build_world, declare_none, text


@pytest.fixture
def world(app, competition):
    w = build_world(competition)
    w.pin, w.token.pin_hash = ja.new_pin(db.session)
    w.other_pin, w.other_token.pin_hash = ja.new_pin(db.session)
    db.session.commit()
    return w


def post_pin(client, pin, *, csrf=True):
    page = client.get("/j/pin")
    data = {"pin": pin}
    if csrf:
        data["csrf_token"] = csrf_from(text(page))
    return client.post("/j/pin", data=data)


def judge_keys(client) -> dict:
    with client.session_transaction() as s:
        return {k: s[k] for k in s if not k.startswith("_") and k != "csrf_token"}


def spaced(pin: str) -> str:
    return f"{pin[:4]} {pin[4:]}"


def fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in s)


# -- the page ---------------------------------------------------------------------------------

def test_pin_page_is_a_big_numeric_field_in_chinese(client, world):
    resp = client.get("/j/pin")
    assert resp.status_code == 200
    body = text(resp)
    assert "输入PIN码" in body and 'inputmode="numeric"' in body and 'name="pin"' in body
    assert 'name="csrf_token"' in body
    assert "css/judge.css" in body                          # the page's styles: no inline style (CSP)
    css = (ROOT / "static" / "css" / "judge.css").read_text(encoding="utf-8")
    assert "min-height: 72px" in css.split(".jpin input.pin {")[1].split("}")[0]   # well above 44 px
    assert resp.headers["Cache-Control"] == "no-store"


def test_pin_signs_in_like_the_link_and_lands_on_the_declaration(client, world):
    resp = post_pin(client, spaced(world.pin))
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/judge/")
    assert judge_keys(client) == {"judge_token_id": world.token.id}
    home = client.get("/judge/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/judge/declaration")
    page = client.get("/judge/declaration")
    assert page.status_code == 200 and "张评委" in text(page)
    declare_none(client)
    assert client.get("/judge/").status_code == 200
    # the same session the card's link gives
    client.post("/judge/logout", data={"csrf_token": csrf_from(text(client.get("/judge/")))})
    client.get(f"/j/{world.plain}")
    assert judge_keys(client) == {"judge_token_id": world.token.id}


@pytest.mark.parametrize("typed", [
    lambda p: p,
    lambda p: f"{p[:4]} {p[4:]}",
    lambda p: f"{p[:4]}-{p[4:]}",
    lambda p: f"  {p[:2]} {p[2:4]} - {p[4:6]}\t{p[6:]} ",
    lambda p: fullwidth(p),
    lambda p: fullwidth(f"{p[:4]}\u3000{p[4:]}"),      # full-width digits and space (Chinese IME)
    lambda p: fullwidth(f"{p[:4]}－{p[4:]}"),           # full-width dash
    lambda p: f"{p[:4]}—{p[4:]}",                       # em dash
], ids=["plain", "space", "dash", "noise", "fullwidth", "fullwidth-space", "fullwidth-dash", "em-dash"])
def test_pin_normalisation(client, world, typed):
    resp = post_pin(client, typed(world.pin))
    assert resp.status_code == 302, text(resp)
    assert judge_keys(client) == {"judge_token_id": world.token.id}


@pytest.mark.parametrize("raw,expected", [
    ("1234 5678", "12345678"), ("1234-5678", "12345678"), ("１２３４５６７８", "12345678"),
    ("00000000", "00000000"), ("1234567", None), ("123456789", None), ("1234 567a", None),
    ("١٢٣٤٥٦٧٨", None), ("", None), (None, None), ("1" * 41, None),
])
def test_normalise_pin_table(raw, expected):
    assert ja.normalise_pin(raw) == expected


# -- refusals ---------------------------------------------------------------------------------

def _unused_pin(world) -> str:
    return next(p for p in (f"{(int(world.pin) + k) % 10 ** 8:08d}" for k in (1, 2, 3))
                if p not in (world.pin, world.other_pin))


@pytest.mark.parametrize("case,words", [
    ("unknown", "PIN码不正确"),
    ("short", "8 位数字"),
    ("letters", "8 位数字"),
])
def test_wrong_pin_is_401_with_the_form_again_and_no_session(client, world, case, words):
    client.get(f"/j/{world.other_plain}")                 # someone else was signed in on this tablet
    assert judge_keys(client) == {"judge_token_id": world.other_token.id}
    pin = {"unknown": _unused_pin(world), "short": world.pin[:7], "letters": "abcd efgh"}[case]
    resp = post_pin(client, pin)
    assert resp.status_code == 401
    body = text(resp)
    assert words in body and 'name="pin"' in body and 'inputmode="numeric"' in body
    assert 'role="alert"' in body
    assert judge_keys(client) == {}
    assert client.get("/judge/").status_code == 401


@pytest.mark.parametrize("case,status,words", [
    ("expired", 401, "已过期"),
    ("revoked", 403, "已被组织方停用"),
])
def test_expired_or_revoked_tokens_pin_is_refused_with_the_reason(client, world, case, status, words):
    if case == "expired":
        world.token.expires_at = utcnow() - timedelta(minutes=1)
    else:
        world.token.revoked_at = utcnow()
    db.session.commit()
    resp = post_pin(client, world.pin)
    assert resp.status_code == status
    assert words in text(resp)
    assert judge_keys(client) == {}


def test_revoking_after_a_pin_login_ends_the_session(client, world):
    post_pin(client, world.pin)
    declare_none(client)
    assert client.get("/judge/").status_code == 200
    world.token.revoked_at = utcnow()
    db.session.commit()
    assert client.get("/judge/").status_code == 403


def test_pin_form_without_csrf_is_refused_and_shown_again(client, world):
    resp = post_pin(client, world.pin, csrf=False)
    assert resp.status_code == 400
    body = text(resp)
    assert "页面已过期" in body and 'name="pin"' in body and 'name="csrf_token"' in body
    assert judge_keys(client) == {}


@pytest.mark.parametrize("path,status,link", [
    ("/judge/", 401, True),                # no session
    ("/j/" + "x" * 32, 401, True),         # unknown link
])
def test_refusal_pages_offer_the_pin(client, world, path, status, link):
    resp = client.get(path)
    assert resp.status_code == status
    assert ("无法扫码？输入PIN码" in text(resp)) is link
    assert ('href="/j/pin"' in text(resp)) is link


def test_revoked_page_does_not_offer_the_pin(client, world):
    world.token.revoked_at = utcnow()
    db.session.commit()
    resp = client.get(f"/j/{world.plain}")
    assert resp.status_code == 403 and "无法扫码" not in text(resp)


# -- storage and issuing ----------------------------------------------------------------------

def test_only_a_prefixed_hash_of_the_pin_is_stored(world):
    row = db.session.get(JudgeToken, world.token.id)
    assert row.pin_hash == hashlib.sha256(("judge-pin:" + world.pin).encode()).hexdigest()
    assert row.pin_hash != hash_token(world.pin)        # a PIN hash is never a token hash
    assert world.pin not in (row.pin_hash, row.token_hash)
    assert ja.format_pin(world.pin) == f"{world.pin[:4]} {world.pin[4:]}"


def test_new_pin_retries_until_unique(world, monkeypatch):
    taken_pin = int(world.pin)
    pending = ja.hash_pin("00000001")
    draws = iter([taken_pin, 1, 2])                     # in the database, then pending, then free
    monkeypatch.setattr(ja.secrets, "randbelow", lambda n: next(draws))
    assert ja.new_pin(db.session, {pending}) == ("00000002", ja.hash_pin("00000002"))


def test_issue_card_revokes_the_old_token_and_its_pin(client, world):
    card = ja.issue_card(db.session, world.judge.id, world.regional.id, days=3)
    db.session.commit()
    assert len(card.pin) == 8 and card.pin.isdigit() and card.pin_display == spaced(card.pin)
    assert world.token.revoked_at is not None and world.prelim_token.revoked_at is None   # other stage untouched
    assert card.token.revoked_at is None
    assert timedelta(days=2, hours=23) < as_utc(card.token.expires_at) - utcnow() <= timedelta(days=3)
    assert post_pin(client, world.pin).status_code == 403           # the old PIN: revoked
    assert client.get(f"/j/{world.plain}").status_code == 403        # the old link: revoked
    assert post_pin(client, card.pin).status_code == 302
    assert judge_keys(client) == {"judge_token_id": card.token.id}


def test_check_pin_answers_like_check_token(world):
    by_pin, by_token = ja.check_pin(db.session, world.pin), ja.check_token(db.session, world.plain)
    assert by_pin.ok and by_pin.token.id == by_token.token.id == world.token.id
    assert ja.check_pin(db.session, "").problem == ja.TokenProblem.unknown
    later = utcnow() + timedelta(days=400)
    assert ja.check_pin(db.session, world.pin, now=later).problem == ja.TokenProblem.expired
