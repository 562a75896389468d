"""Login, logout, language choice and each role's landing page."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from extensions import db, limiter
from models import Role, User
from security import end_session

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(message=_l("请输入用户名")), Length(max=64)])
    password = PasswordField(_l("密码"), validators=[DataRequired(message=_l("请输入密码")), Length(max=128)])


class LogoutForm(FlaskForm):
    pass


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths: never an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _login_failed(response) -> bool:
    """Only failed attempts count: a successful login answers with a redirect."""
    return response.status_code != 302


def _attempted_username() -> str:
    """The username being guessed, normalised so case and spaces do not open fresh buckets.
    Prefixed so it can never share a bucket with an address."""
    return "user:" + request.form.get("username", "").strip().lower()[:64]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"], methods=["POST"],
               deduct_when=_login_failed)
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_USERNAME"], methods=["POST"],
               key_func=_attempted_username, deduct_when=_login_failed)
def login():
    """Failed logins are limited per client address and per username (a botnet guessing one
    judge's password from many addresses), in the database via Flask-Limiter (`appdb://`).
    A refused attempt gets the same 429 page whether or not the account exists."""
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.query(User).filter_by(username=form.username.data.strip()).first()
        if user is None or not user.check_password(form.password.data) or not user.active:
            flash(_("用户名或密码不正确"), "error")
        else:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or url_for("auth.home"))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    form = LogoutForm()
    if form.validate_on_submit():
        end_session()                # nothing of the signed-in visit survives but the language
    return redirect(url_for("auth.login"))


@bp.get("/lang/<code>")
def set_language(code: str):
    from app import LANGUAGES
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(_safe_next(request.args.get("next")) or url_for("index"))


@bp.get("/home")
@login_required
def home():
    if current_user.role in (Role.organiser, Role.oversight):
        return redirect(url_for("admin.index"))
    if current_user.role == Role.unit_contact:
        return redirect(url_for("resources.unit_home"))
    return render_template("auth/home.html")


@bp.app_context_processor
def _logout_form():
    # formdata=None: rendering any page (an error page for a too-large upload included)
    # must not parse the request body.
    return {"logout_form": LogoutForm(formdata=None)}
