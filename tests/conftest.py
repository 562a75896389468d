"""Fresh app and database per test, on SQLite by default or on PostgreSQL when
TEST_DATABASE_URL is set (make test runs the suite both ways). CSRF stays on."""
from __future__ import annotations

import contextvars
import os
import re
import sys
from pathlib import Path

import pytest
from flask import has_app_context
from flask.globals import _cv_app
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class IsolatedClient(FlaskClient):
    """Each request runs in its own app context (its own `g` and database session), as it
    does under gunicorn, even while the test itself holds an app context open. The test's
    session is committed before the request (so the request sees the test's data) and after
    it (so the test reads what the request wrote, not a stale snapshot)."""

    def open(self, *args, **kwargs):
        from extensions import db
        if has_app_context():
            db.session.commit()

        def run():
            _cv_app.set(None)
            return FlaskClient.open(self, *args, **kwargs)

        resp = contextvars.copy_context().run(run)
        if has_app_context():
            db.session.commit()
        return resp


def _database_url(tmp_path: Path) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def app(tmp_path):
    from app import create_app
    from extensions import db

    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": _database_url(tmp_path),
        "RESOURCE_UPLOAD_DIR": str(tmp_path / "uploads"),   # never the developer's instance/uploads
    })
    app.test_client_class = IsolatedClient
    with app.app_context():
        db.drop_all()
        db.create_all()
        from models import ensure_provinces
        ensure_provinces(db.session)
        db.session.commit()
        yield app
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "page has no CSRF token"
    return m.group(1)


def make_user(role: str, username: str | None = None, password: str = "pass-1234", **kw):
    from extensions import db
    from models import Role, User
    u = User(username=username or f"{role}-user", role=Role(role), display_name=kw.pop("display_name", role), **kw)
    u.set_password(password)
    db.session.add(u)
    db.session.commit()
    return u


def login(client, username: str, password: str = "pass-1234"):
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token}, follow_redirects=False)


@pytest.fixture
def organiser(app):
    return make_user("organiser", "organiser")


@pytest.fixture
def org_client(client, organiser):
    resp = login(client, "organiser")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


@pytest.fixture
def competition(app):
    """A 2024 docent competition built from the template, as an organiser would create it."""
    from extensions import db
    from services.programme_templates import create_from_template
    prog = create_from_template(db.session, "docent_competition", year=2024)
    db.session.commit()
    return prog


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print the access matrix of tests/web/test_access_matrix.py (endpoint × role → status)
    whenever that test ran, with or without -s and under xdist."""
    from tests.web.access_policy import render_matrix
    reports = [r for key in ("passed", "failed") for r in terminalreporter.stats.get(key, [])
               if getattr(r, "when", "") == "call"]
    text = render_matrix(reports)
    if text:
        terminalreporter.write_sep("=", "access matrix (tests/web/test_access_matrix.py)")
        terminalreporter.write_line(text)
