"""Who may open what: every organiser route for every role, and CSRF on every form."""
import pytest

from extensions import db
from models import Programme, User
from tests.conftest import csrf_from, login, make_user

ROLES = ["organiser", "oversight", "chief", "judge", "unit_contact"]


def _unit():
    from models import Province, Unit
    prov = db.session.query(Province).filter_by(code="11").one()
    u = Unit(external_id="U0001", name="北京测试科技馆", province_id=prov.id)
    db.session.add(u)
    db.session.commit()
    return u


def _client_as(app, role):
    client = app.test_client()
    if role == "anonymous":
        return client
    extra = {"unit_id": _unit().id} if role == "unit_contact" else {}
    make_user(role, role, **extra)
    assert login(client, role).status_code == 302
    return client


READ_ROUTES = [
    "/admin/",
    "/admin/programmes/{pid}",
    "/admin/programmes/{pid}/stages/{sid}",
    "/admin/programmes/{pid}/categories",
    "/admin/programmes/{pid}/panels",
    "/admin/programmes/{pid}/entries",
    "/admin/programmes/{pid}/judges",
    "/admin/programmes/{pid}/imports",
    "/admin/programmes/{pid}/template/units.xlsx",
    "/admin/programmes/{pid}/export/entries.xlsx",
    "/admin/programmes/{pid}/export/judges.csv",
]
# role -> expected status for a GET of an organiser page
READ_EXPECT = {"anonymous": 302, "organiser": 200, "oversight": 200, "chief": 403, "judge": 403,
               "unit_contact": 403}


@pytest.mark.parametrize("role", list(READ_EXPECT))
def test_organiser_pages_by_role(app, competition, role):
    client = _client_as(app, role)
    sid = competition.stages[0].id
    for route in READ_ROUTES:
        resp = client.get(route.format(pid=competition.id, sid=sid))
        assert resp.status_code == READ_EXPECT[role], (role, route, resp.status_code)
        if role == "anonymous":
            assert "/login" in resp.headers["Location"]


@pytest.mark.parametrize("role,expect", [("organiser", 302), ("oversight", 403), ("judge", 403),
                                         ("chief", 403), ("unit_contact", 403), ("anonymous", 302)])
def test_only_organisers_create_programmes(app, role, expect):
    client = _client_as(app, role)
    page = client.get("/login") if role == "anonymous" else client.get("/home", follow_redirects=True)
    token = csrf_from(page.get_data(as_text=True))
    resp = client.post("/admin/programmes", data={"template": "teacher_training", "year": "2025",
                                                   "csrf_token": token})
    assert resp.status_code == expect
    created = db.session.query(Programme).count()
    assert created == (1 if role == "organiser" else 0)


def test_form_without_csrf_token_is_refused(org_client):
    resp = org_client.post("/admin/programmes", data={"template": "teacher_training", "year": "2025"})
    assert resp.status_code == 400
    assert "页面已过期或表单无效" in resp.get_data(as_text=True)
    assert db.session.query(Programme).count() == 0


def test_login_without_csrf_is_refused(client):
    make_user("organiser", "organiser")
    resp = client.post("/login", data={"username": "organiser", "password": "pass-1234"})
    assert resp.status_code == 400


@pytest.mark.parametrize("username,password,ok", [
    ("organiser", "pass-1234", True),
    ("organiser", "wrong", False),
    ("nobody", "pass-1234", False),
    ("ORGANISER", "pass-1234", False),
])
def test_login(client, username, password, ok):
    make_user("organiser", "organiser")
    resp = login(client, username, password)
    if ok:
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/home")
    else:
        assert resp.status_code == 200
        assert "用户名或密码不正确" in resp.get_data(as_text=True)


def test_inactive_account_cannot_log_in(client):
    u = make_user("organiser", "organiser")
    u.active = False
    db.session.commit()
    resp = login(client, "organiser")
    assert resp.status_code == 200
    assert "用户名或密码不正确" in resp.get_data(as_text=True)


def test_passwords_are_hashed(app):
    u = make_user("judge", "j1", password="secret-pw-1")
    stored = db.session.get(User, u.id).password_hash
    assert "secret-pw-1" not in stored and stored.startswith(("scrypt:", "pbkdf2:"))


def test_login_next_is_not_an_open_redirect(client):
    make_user("organiser", "organiser")
    page = client.get("/login?next=https://evil.example/")
    token = csrf_from(page.get_data(as_text=True))
    resp = client.post("/login?next=https://evil.example/", data={
        "username": "organiser", "password": "pass-1234", "csrf_token": token})
    assert resp.status_code == 302 and "evil.example" not in resp.headers["Location"]


def test_logout_requires_post_with_csrf(org_client):
    assert org_client.get("/logout").status_code == 405
    page = org_client.get("/admin/").get_data(as_text=True)
    resp = org_client.post("/logout", data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 302
    assert org_client.get("/admin/").status_code == 302  # logged out: back to login


def test_language_switch_to_english_and_back(org_client):
    org_client.get("/lang/en")
    html = org_client.get("/admin/").get_data(as_text=True)
    assert "Programmes" in html and "项目" not in html.split("<main>")[1].split("</table>")[0]
    org_client.get("/lang/zh_CN")
    assert "从模板新建项目" in org_client.get("/admin/").get_data(as_text=True)


def test_no_fallback_secret_key(tmp_path, monkeypatch):
    from app import create_app
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "inst"))
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    (tmp_path / "inst").mkdir(exist_ok=True)
    (tmp_path / "inst" / "secret_key").write_text("from-file\n")
    assert create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["SECRET_KEY"] == "from-file"
