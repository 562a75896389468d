"""Accounts, sessions and headers (issue 9, item 4): login limits counted in the database,
cookie flags, staff session expiry, judge token expiry and revocation, security headers with a
CSP that needs no inline script, and no secret in the repository."""
from __future__ import annotations

import re
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

import security
from extensions import db
from models import RateLimitHit
from models.base import utcnow
from tests.conftest import ROOT, IsolatedClient, csrf_from, login, make_user
from tests.web.test_judge_access import build_world, declare_none

LOGIN_REFUSED = "登录失败次数过多"


def _login_from(client, username, password, addr="203.0.113.7"):
    env = {"REMOTE_ADDR": addr}
    page = client.get("/login", environ_base=env).get_data(as_text=True)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_from(page)}, environ_base=env)


def _age_hits(seconds: int) -> None:
    db.session.execute(update(RateLimitHit).values(at=RateLimitHit.at - timedelta(seconds=seconds)))
    db.session.commit()


def _limiter_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(RateLimitHit)
                             .where(RateLimitHit.bucket.like("LIMITER%")))


# -- login rate limits -------------------------------------------------------------------------

def test_failed_logins_are_limited_per_address_and_the_refusal_reveals_nothing(app, client):
    app.config["LOGIN_LIMIT_PER_ADDRESS"] = "3 per minute"
    make_user("organiser", "organiser")
    for name in ("organiser", "nobody", "organiser"):
        resp = _login_from(client, name, "wrong-guess")
        assert resp.status_code == 200 and "用户名或密码不正确" in resp.get_data(as_text=True)
    # the right password is refused now too, and an unknown account gets the very same page
    right = _login_from(client, "organiser", "pass-1234")
    unknown = _login_from(client, "nobody", "pass-1234")
    for resp in (right, unknown):
        assert resp.status_code == 429
        assert LOGIN_REFUSED in resp.get_data(as_text=True)
    assert right.get_data(as_text=True) == unknown.get_data(as_text=True)
    with client.session_transaction() as s:
        assert "_user_id" not in s
    # another address is not affected
    assert _login_from(client, "organiser", "pass-1234", addr="198.51.100.9").status_code == 302
    # once the window has passed, the first address may log in again
    _age_hits(61)
    fresh = IsolatedClient(app)
    assert _login_from(fresh, "organiser", "pass-1234").status_code == 302


def test_successful_logins_and_page_views_do_not_count(app, client):
    app.config["LOGIN_LIMIT_PER_ADDRESS"] = "2 per minute"
    make_user("organiser", "organiser")
    for _ in range(5):
        assert _login_from(client, "organiser", "pass-1234").status_code == 302
        client.post("/logout", data={"csrf_token": csrf_from(client.get("/admin/").get_data(as_text=True))})
    assert _limiter_rows() == 0


def test_one_username_is_limited_across_addresses(app, client):
    """A botnet guessing one judge's password from many addresses."""
    app.config["LOGIN_LIMIT_PER_USERNAME"] = "3 per hour"
    make_user("chief", "chief-zhang")
    make_user("chief", "chief-li")
    for i in range(3):
        assert _login_from(client, "chief-zhang", f"guess-{i}", addr=f"192.0.2.{i + 1}").status_code == 200
    # the fourth address, the right password, a different spelling: refused for this username
    resp = _login_from(client, " Chief-Zhang ", "pass-1234", addr="192.0.2.99")
    assert resp.status_code == 429 and LOGIN_REFUSED in resp.get_data(as_text=True)
    # another account from that same address is fine
    assert _login_from(client, "chief-li", "pass-1234", addr="192.0.2.99").status_code == 302


def test_the_limit_holds_across_workers_sharing_the_database(app, client):
    """Counted in the database: a second app (another gunicorn worker or machine) sees it."""
    from app import create_app
    app.config["LOGIN_LIMIT_PER_ADDRESS"] = "2 per minute"
    make_user("organiser", "organiser")
    for _ in range(2):
        assert _login_from(client, "organiser", "bad").status_code == 200
    assert _limiter_rows() == 4            # two failures, each counted per address and per username
    other = create_app({"TESTING": True, "SECRET_KEY": app.config["SECRET_KEY"],
                        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                        "LOGIN_LIMIT_PER_ADDRESS": "2 per minute"})
    other.test_client_class = IsolatedClient
    try:
        resp = _login_from(other.test_client(), "organiser", "pass-1234")
        assert resp.status_code == 429
    finally:
        with other.app_context():
            db.engine.dispose()


def test_storage_is_configured_as_the_database_not_memory(app):
    from extensions import limiter
    from services.ratelimit_storage import DatabaseStorage
    assert app.config["RATELIMIT_STORAGE_URI"] == "appdb://"
    assert isinstance(limiter.storage, DatabaseStorage)
    assert limiter.storage.check()


def test_long_keys_get_a_digest_bucket_not_a_truncation(app):
    from services.ratelimit_storage import DatabaseStorage, bucket_for
    a, b = "LIMITER/" + "x" * 200 + "a", "LIMITER/" + "x" * 200 + "b"
    assert bucket_for(a) != bucket_for(b) and len(bucket_for(a)) <= 120
    storage = DatabaseStorage("appdb://")
    assert storage.acquire_entry(a, 1, 60) and not storage.acquire_entry(a, 1, 60)
    assert storage.acquire_entry(b, 1, 60)
    assert storage.get_moving_window(a, 1, 60)[1] == 1
    storage.clear(a)
    assert storage.get_moving_window(a, 1, 60)[1] == 0


def test_judge_pin_and_certificate_limits_still_bite(app, client, competition):
    """The older database limits keep working beside Flask-Limiter (full cases in test_rate_limits)."""
    build_world(competition)
    app.config["RATE_LIMIT_JUDGE_PIN"] = (1, 600)

    def attempt():
        page = client.get("/j/pin").get_data(as_text=True)
        return client.post("/j/pin", data={"pin": "0000 0000", "csrf_token": csrf_from(page)})

    assert attempt().status_code == 401
    assert attempt().status_code == 429


# -- cookies ------------------------------------------------------------------------------------

def _set_cookie(resp, name="session") -> str:
    return next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith(name + "="))


def test_cookies_on_plain_http_are_httponly_lax_and_not_secure(app, client):
    make_user("organiser", "organiser")
    cookie = _set_cookie(login(client, "organiser"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert app.config["REMEMBER_COOKIE_HTTPONLY"] and app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"


@pytest.mark.parametrize("config,env,secure", [
    ({"PUBLIC_BASE_URL": "https://pingshen.example.org"}, None, True),
    ({"PUBLIC_BASE_URL": "http://127.0.0.1:5000"}, None, False),
    ({"PUBLIC_BASE_URL": "http://10.0.0.5:8000"}, "1", True),           # TLS ends at a proxy
    ({"PUBLIC_BASE_URL": "https://pingshen.example.org"}, "0", False),
    ({"PUBLIC_BASE_URL": "http://10.0.0.5", "SESSION_COOKIE_SECURE": True}, "0", True),
])
def test_secure_cookie_flags_follow_the_public_address(app, monkeypatch, config, env, secure):
    from app import create_app
    if env is None:
        monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    else:
        monkeypatch.setenv("SESSION_COOKIE_SECURE", env)
    other = create_app({"TESTING": True, "SECRET_KEY": "k", **config,
                        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    assert other.config["SESSION_COOKIE_SECURE"] is secure
    assert other.config["REMEMBER_COOKIE_SECURE"] is secure
    try:
        resp = other.test_client().get("/lang/en", base_url="https://pingshen.example.org")
        assert ("; Secure" in _set_cookie(resp)) is secure
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")   # https request
    finally:
        with other.app_context():
            db.engine.dispose()


# -- session expiry ----------------------------------------------------------------------------

def test_staff_sessions_expire_after_inactivity(org_client, app):
    assert org_client.get("/admin/").status_code == 200
    with org_client.session_transaction() as s:
        s["seen_at"] = time.time() - app.config["SESSION_IDLE_TIMEOUT"].total_seconds() - 5
    resp = org_client.get("/admin/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    page = org_client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "登录已超时，请重新登录。" in page
    with org_client.session_transaction() as s:
        assert "_user_id" not in s and "auth_at" not in s


def test_activity_keeps_a_staff_session_but_not_past_the_absolute_limit(org_client, app, monkeypatch):
    idle = app.config["SESSION_IDLE_TIMEOUT"].total_seconds()
    start = time.time()
    now = [start]
    monkeypatch.setattr(security.time, "time", lambda: now[0])
    # active every (idle - 1 minute): still signed in, until the absolute limit
    while now[0] + idle - 60 < start + app.config["SESSION_ABSOLUTE_TIMEOUT"].total_seconds():
        now[0] += idle - 60
        assert org_client.get("/admin/").status_code == 200
    now[0] += idle - 60
    resp = org_client.get("/admin/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_a_session_without_login_times_is_not_trusted(org_client):
    with org_client.session_transaction() as s:
        del s["auth_at"]
    assert org_client.get("/admin/").status_code == 302


def test_judge_tablet_sessions_are_not_cut_by_the_staff_clock(app, client, competition, monkeypatch):
    w = build_world(competition)
    assert client.get(f"/j/{w.plain}").status_code == 302
    assert declare_none(client).status_code == 302
    later = time.time() + app.config["SESSION_ABSOLUTE_TIMEOUT"].total_seconds() * 2
    monkeypatch.setattr(security.time, "time", lambda: later)
    assert client.get("/judge/").status_code == 200
    assert client.get("/api/v1/me/entries").status_code == 200


def test_logout_clears_the_session_but_keeps_the_language(app, client, competition):
    w = build_world(competition)
    make_user("organiser", "organiser")
    client.get(f"/j/{w.plain}")
    client.get("/lang/en")
    login(client, "organiser")
    token = csrf_from(client.get("/admin/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    with client.session_transaction() as s:
        assert dict(s) == {"lang": "en"}
    assert client.get("/admin/").status_code == 302


# -- judge tokens: expiry and revocation in an existing session --------------------------------

@pytest.mark.parametrize("change,code", [("revoke", "token_revoked"), ("expire", "token_expired")])
def test_revocation_and_expiry_close_the_tablet_session_api_at_once(client, competition, change, code):
    w = build_world(competition)
    assert client.get(f"/j/{w.plain}").status_code == 302
    assert declare_none(client).status_code == 302
    assert client.get("/api/v1/me/entries").status_code == 200
    if change == "revoke":
        w.token.revoked_at = utcnow()
    else:
        w.token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    resp = client.get("/api/v1/me/entries")
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == code
    assert client.get("/judge/").status_code in (401, 403)
    bearer = client.get("/api/v1/me/entries", headers={"Authorization": f"Bearer {w.plain}"})
    assert bearer.status_code == 401 and bearer.get_json()["error"]["code"] == code


# -- headers -----------------------------------------------------------------------------------

def test_security_headers_on_every_kind_of_response(client, competition):
    w = build_world(competition)
    responses = {
        "login page": client.get("/login"),
        "redirect": client.get("/"),
        "404": client.get("/no-such-page"),
        "static": client.get("/static/css/app.css"),
        "api": client.get("/api/v1/me/entries"),
        "judge": client.get(f"/j/{w.plain}"),
    }
    for name, resp in responses.items():
        h = resp.headers
        csp = h.get("Content-Security-Policy", "")
        assert "script-src 'self';" in csp and "'unsafe-inline'" not in csp, name
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, name
        assert "img-src 'self' data:" in csp and "form-action 'self'" in csp, name
        assert h["X-Content-Type-Options"] == "nosniff", name
        assert h["X-Frame-Options"] == "DENY", name
        assert h["Permissions-Policy"].startswith("camera=()"), name
        assert h["Referrer-Policy"] in ("same-origin", "no-referrer"), name
        assert "Strict-Transport-Security" not in h, name      # plain http: no HSTS
    assert responses["judge"].headers["Referrer-Policy"] == "no-referrer"   # judge pages stay stricter


TEMPLATE_RULES = [
    ("inline script", re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)),
    ("event handler attribute", re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)),
    ("javascript: URL", re.compile(r"javascript:", re.I)),
    ("style attribute", re.compile(r"<[^>]*\sstyle\s*=", re.I)),
    ("style element", re.compile(r"<style[\s>]", re.I)),
]


def csp_problems(text: str) -> list[str]:
    return [name for name, rx in TEMPLATE_RULES if rx.search(text)]


@pytest.mark.parametrize("snippet,problem", [
    ("<script>alert(1)</script>", "inline script"),
    ('<button onclick="go()">', "event handler attribute"),
    ('<a href="javascript:go()">', "javascript: URL"),
    ('<progress style="width:100%">', "style attribute"),
    ("<style>.a{}</style>", "style element"),
])
def test_the_template_scan_catches_each_kind(snippet, problem):
    assert csp_problems(snippet) == [problem]
    assert csp_problems('<script src="/static/js/a.js" defer></script>'
                        '<script type="application/json" id="i18n">{}</script>') == []


def test_served_templates_need_nothing_the_csp_forbids():
    """templates/pdf is rendered by WeasyPrint on the server, never served to a browser."""
    bad = {}
    for path in sorted((ROOT / "templates").rglob("*.html")):
        if "pdf" in path.relative_to(ROOT / "templates").parts:
            continue
        problems = csp_problems(path.read_text(encoding="utf-8"))
        if problems:
            bad[str(path.relative_to(ROOT))] = problems
    assert bad == {}


# -- no secret in the repository ---------------------------------------------------------------

# Throwaway credentials for test users and benchmark apps are allowed only under these folders.
THROWAWAY_DIRS = ("tests/", "bench/")
PLACEHOLDERS = {"", "...", "pw", "***", "password", "changeme", "x"}
SECRET_RULES = [
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), False),
    ("cloud access key", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), False),
    ("secret key literal", re.compile(
        r"""(?i)secret[_-]?key["']?\]?\s*[:=]\s*["'](?!\$)[^"'\s]{3,}["']"""), True),
    ("secret key literal", re.compile(r"""(?i)\bSECRET_KEY=(?![$"'`(]|x\b)[^\s"']{4,}"""), True),
    ("password literal", re.compile(
        r"""(?i)(password|passwd|pwd|api[_-]?key|auth[_-]?token)["']?\]?\s*[:=]\s*["'](?!\$)[^"'\s]{6,}["']"""), True),
    ("password in a URL", re.compile(r"[a-z+]+://[^/\s:@\"']+:(?P<pw>[^/\s@\"']+)@"), True),
]
SECRET_FILES = re.compile(r"(^|/)(\.env(\..*)?|instance/.+|.*\.pem|.*\.key|id_rsa.*|.*\.p12|.*\.pfx)$")


def secret_problems(path: str, text: str) -> list[str]:
    found = []
    if SECRET_FILES.search(path) and not path.endswith((".env.example", "instance/.gitkeep")):
        found.append("secret file")
    throwaway = path.startswith(THROWAWAY_DIRS)
    for name, rx, allowed_in_throwaway in SECRET_RULES:
        if throwaway and allowed_in_throwaway:
            continue
        for m in rx.finditer(text):
            if name == "password in a URL" and m.group("pw").strip("<>{}") in PLACEHOLDERS:
                continue
            found.append(name)
            break
    return found


@pytest.mark.parametrize("path,text,problem", [
    ("deploy/key.txt", "-----BEGIN RSA PRIVATE " + "KEY-----\nMIIE", "private key"),   # split: this file is scanned too
    ("config.py", 'SECRET_KEY = "9f86d081884c7d659a2feaa0c55ad015"', "secret key literal"),
    ("app.py", "app.config['SECRET_KEY'] = 'dev'", "secret key literal"),
    ("Makefile", "run:\n\tSECRET_KEY=hunter22 flask run", "secret key literal"),
    ("settings.yaml", "smtp_password: 'Tr0ub4dor&3'", "password literal"),
    ("README.md", "DATABASE_URL=postgresql://scoring:S3cr3t99@db/scoring", "password in a URL"),
    ("ops/aws.sh", "export AWS_ACCESS_KEY_ID=AKIA" + "IOSFODNN7EXAMPLE", "cloud access key"),
    (".env", "FOO=1", "secret file"),
    ("instance/secret_key", "abc", "secret file"),
])
def test_the_secret_scan_catches_each_kind(path, text, problem):
    assert problem in secret_problems(path, text)


@pytest.mark.parametrize("path,text", [
    ("README.md", "`postgresql://user:pw@host/db`, export DATABASE_URL=postgresql://scoring:...@db/scoring"),
    ("README.md", "export SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"),
    ("app.py", 'key = os.environ.get("SECRET_KEY")'),
    ("tests/conftest.py", '"SECRET_KEY": "test-secret-key-not-for-production"'),
])
def test_the_secret_scan_lets_placeholders_and_test_values_pass(path, text):
    assert secret_problems(path, text) == []


def test_no_secret_is_committed():
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
                           ).stdout.decode().split("\0")
    files = [f for f in files if f]
    assert len(files) > 50                      # the scan really ran over the repository
    bad = {}
    for rel in files:
        path = ROOT / rel
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            text = ""                           # binary: only its name is checked
        problems = secret_problems(rel, text)
        if problems:
            bad[rel] = problems
    assert bad == {}


def test_the_app_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    from app import create_app
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
    # and an empty key is no key
    monkeypatch.setenv("SECRET_KEY", "")
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
    assert not Path(tmp_path / "instance" / "secret_key").exists()
