"""Application factory. No global app: tests and the CLI build their own."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from flask import Flask, Request, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter

import security
from extensions import babel, csrf, db, limiter, login_manager, migrate

ROOT = Path(__file__).resolve().parent
LANGUAGES = ("zh_CN", "en")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_conn, _record):
    """WAL and a busy timeout let several gunicorn workers share one SQLite file."""
    if isinstance(dbapi_conn, sqlite3.Connection):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()


def _database_url(instance_path: str) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return "sqlite:///" + os.path.join(instance_path, "scoring.db")
    # Accept the common postgres:// spellings; we ship the psycopg 3 driver.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _secret_key(instance_path: str) -> str:
    """No fallback: a missing key is an error, never a guessable default."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    raise RuntimeError(
        "SECRET_KEY is not set and instance/secret_key does not exist. "
        "Run `make run` (which creates one) or set SECRET_KEY in the environment.")


class Int32Converter(IntegerConverter):
    """`<int:...>` ids are 32-bit INTEGER columns: a larger number in a URL is a 404, not a
    PostgreSQL "integer out of range" (500)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", INT32 - 1)
        super().__init__(map, *args, **kwargs)


INT32 = 2**31


class _Params(ImmutableMultiDict):
    """Query and form values: `get(key, type=int)` beyond 32 bits is treated as absent, like
    any other value that is not an id (PostgreSQL would fail the query with a 500)."""

    def get(self, key, default=None, type=None):
        value = super().get(key, default, type)
        if type is int and isinstance(value, int) and not -INT32 <= value < INT32:
            return default
        return value


class AppRequest(Request):
    parameter_storage_class = _Params


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=os.environ.get("INSTANCE_PATH") or str(ROOT / "instance"),
                template_folder="templates", static_folder="static")
    app.url_map.converters["int"] = Int32Converter
    app.request_class = AppRequest
    os.makedirs(app.instance_path, exist_ok=True)
    config = dict(config or {})
    app.config.update(security.defaults())
    app.config.update(
        SQLALCHEMY_DATABASE_URI=_database_url(app.instance_path),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,          # uploads: Excel sheets of a few MB at most
        IMPORT_MAX_ROWS=20000,
        RUBRIC_DIR=str(ROOT / "rubrics"),
        BABEL_DEFAULT_LOCALE="zh_CN",
        BABEL_TRANSLATION_DIRECTORIES=str(ROOT / "translations"),
        WTF_CSRF_TIME_LIMIT=None,                    # a long day of judging must not expire forms
        PUBLIC_BASE_URL=os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
    )
    app.config.update(config)
    security.configure_cookies(app, config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app.instance_path)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    babel.init_app(app, locale_selector=_select_locale)
    import services.ratelimit_storage  # noqa: F401  (registers the appdb:// limits storage)
    limiter.init_app(app)
    security.init_app(app)

    import models  # noqa: F401  (register every table on the metadata)

    @login_manager.user_loader
    def _load_user(user_id: str):
        return db.session.get(models.User, int(user_id))

    from blueprints.admin import bp as admin_bp
    from blueprints.auth import bp as auth_bp
    from blueprints.api import bp as api_bp
    from blueprints.judge import bp as judge_bp
    from blueprints.certificates import bp as certificates_bp
    from blueprints.chief import bp as chief_bp
    from blueprints.public import bp as public_bp
    from blueprints.training import bp as training_bp
    from blueprints.awards import bp as awards_bp
    from blueprints.resources import bp as resources_bp
    app.register_blueprint(auth_bp)
    app.register_blueprint(judge_bp)
    app.register_blueprint(chief_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(certificates_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(training_bp)
    app.register_blueprint(awards_bp)
    app.register_blueprint(resources_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")

    @app.get("/")
    def index():
        if current_user.is_authenticated:
            return redirect(url_for("auth.home"))
        return redirect(url_for("auth.login"))

    @app.context_processor
    def _inject():
        from flask_babel import get_locale
        loc = get_locale()
        current = "en" if loc is not None and loc.language == "en" else "zh_CN"
        return {"current_locale": current, "languages": LANGUAGES, "role_label": role_label}

    _register_error_pages(app)

    from cli import register_cli
    register_cli(app)
    return app


def _select_locale() -> str:
    lang = request.args.get("lang") or session.get("lang")
    if lang in LANGUAGES:
        return lang
    return "zh_CN"


def role_label(role) -> str:
    from flask_babel import gettext as _
    labels = {"organiser": _("组织方"), "chief": _("评委组长"), "judge": _("评委"),
              "oversight": _("监审"), "unit_contact": _("单位联系人")}
    return labels.get(str(role), str(role))


API_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
             405: "method_not_allowed", 413: "too_large", 429: "too_many_requests", 500: "server_error"}


def _register_error_pages(app: Flask) -> None:
    """Every error a user can cause gets a page in their language, never a stack trace."""
    from flask import jsonify, render_template
    from flask_babel import gettext as _
    from flask_wtf.csrf import CSRFError

    def page(code: int, message: str):
        if request.path.startswith("/api/"):
            return jsonify({"error": {"code": API_CODES.get(code, "error"), "message": message}}), code
        return render_template("errors/error.html", code=code, message=message), code

    @app.errorhandler(CSRFError)
    def _csrf(e):
        return page(400, _("页面已过期或表单无效，请刷新后重试。"))

    @app.errorhandler(403)
    def _forbidden(e):
        return page(403, _("您没有权限访问此页面。"))

    @app.errorhandler(404)
    def _not_found(e):
        return page(404, _("页面不存在。"))

    @app.errorhandler(429)
    def _too_many(e):
        """Flask-Limiter's refusals. The login's says nothing about whether the account exists."""
        if request.endpoint == "auth.login":
            return page(429, _("登录失败次数过多，请稍后再试。如忘记密码，请联系组织方。"))
        return page(429, _("请求过于频繁，请稍后再试。"))

    @app.errorhandler(413)
    def _too_large(e):
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        return page(413, _("上传的文件太大，上限为 %(mb)s MB。", mb=limit))
