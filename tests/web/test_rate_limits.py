"""Guessable lookups are limited per client address in the database (any worker, any machine):
the certificate lookup and the judge PIN. Over the limit the answer is 429 and says nothing
about whether the guess was right."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from extensions import db
from models import RateLimitHit
from tests.conftest import csrf_from
from tests.web.test_certificates import certs, dirs, lookup, publication, world  # noqa: F401  (fixtures)
from tests.web.test_judge_access import build_world


def _age_hits(seconds: int) -> None:
    db.session.execute(update(RateLimitHit).values(at=RateLimitHit.at - timedelta(seconds=seconds)))
    db.session.commit()


def test_certificate_lookups_are_limited_per_address(app, client, certs):  # noqa: F811
    app.config["RATE_LIMIT_CERT_LOOKUP"] = (3, 600)
    for _ in range(3):
        resp = lookup(client, "张冒名", "FDY2024-99999")
        assert resp.status_code == 200 and "未找到匹配的证书" in resp.get_data(as_text=True)
    # the fourth attempt is refused, even with the right name and serial: nothing is revealed
    limited = lookup(client, "王小明", "FDY2024-00001")
    body = limited.get_data(as_text=True)
    assert limited.status_code == 429 and "查询次数过多" in body
    assert "code=" not in body and "已找到" not in body
    # another address is not affected
    page = client.get("/certificates", environ_base={"REMOTE_ADDR": "198.51.100.9"}).get_data(as_text=True)
    other = client.post("/certificates", data={"name": "王小明", "serial": "FDY2024-00001",
                                               "csrf_token": csrf_from(page)},
                        environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert other.status_code == 200 and "已找到" in other.get_data(as_text=True)
    # once the window has passed, the first address may look up again
    _age_hits(601)
    again = lookup(client, "王小明", "FDY2024-00001")
    assert again.status_code == 200 and "已找到" in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(RateLimitHit)) <= 2


def test_judge_pins_are_limited_per_address(app, client, competition):
    from models import JudgeToken
    from services.judge_access import new_pin
    w = build_world(competition)
    pin, w.token.pin_hash = new_pin(db.session, set())
    db.session.commit()
    app.config["RATE_LIMIT_JUDGE_PIN"] = (2, 600)

    def attempt(value):
        page = client.get("/j/pin").get_data(as_text=True)
        return client.post("/j/pin", data={"pin": value, "csrf_token": csrf_from(page)})

    assert attempt("0000 0000").status_code == 401
    assert attempt("1111 1111").status_code == 401
    refused = attempt(pin)                       # the right PIN, but too many tries from here
    assert refused.status_code == 429 and "尝试次数过多" in refused.get_data(as_text=True)
    with client.session_transaction() as s:
        assert "judge_token_id" not in s
    _age_hits(601)
    assert attempt(pin).status_code == 302
    with client.session_transaction() as s:
        assert s["judge_token_id"] == db.session.get(JudgeToken, w.token.id).id
