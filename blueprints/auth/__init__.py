"""Login, logout, language choice and each role's landing page."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from extensions import db
from models import Role, User

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


@bp.route("/login", methods=["GET", "POST"])
def login():
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
        logout_user()
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
