"""Accounts, sessions and headers: cookie flags, staff session expiry and the security headers
every response carries. Wired by `create_app` through `init_app`; the login limits live on the
login view (blueprints/auth) and count in the database (services/ratelimit_storage.py).

Staff (organiser, chief, oversight, unit contact) sessions expire after SESSION_IDLE_TIMEOUT of
inactivity and SESSION_ABSOLUTE_TIMEOUT after login, both checked on the server from times kept
in the signed cookie. Judge tablet sessions are not Flask-Login sessions and are not cut by
these timers: their limit is the judge token's own expiry and revocation, checked on every
request (services/judge_access.py), so a judge is never logged out mid-round by a clock here.
"""
from __future__ import annotations

import os
import time
from datetime import timedelta

from flask import Flask, flash, request, session
from flask_login import logout_user, user_logged_in

# No inline script anywhere (static/js only), no inline style, no plugins, no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
       "base-uri 'self'; frame-ancestors 'none'; form-action 'self'; img-src 'self' data:")
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
HSTS = "max-age=31536000; includeSubDomains"
SEEN_RESOLUTION = 60      # seconds: refresh the idle clock at most once a minute (fewer cookies)


def _env_flag(name: str) -> bool | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def _hours(name: str, default: float) -> timedelta:
    return timedelta(hours=float(os.environ.get(name) or default))


def defaults() -> dict:
    """Config defaults, each overridable by the environment and then by create_app(config)."""
    return {
        # Flask-Limiter: our database as storage (any worker, any machine), moving window.
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "appdb://"),
        "RATELIMIT_STRATEGY": "moving-window",
        "RATELIMIT_ENABLED": _env_flag("RATELIMIT_ENABLED") is not False,
        "LOGIN_LIMIT_PER_ADDRESS": os.environ.get("LOGIN_LIMIT_PER_ADDRESS", "10 per minute;50 per hour"),
        "LOGIN_LIMIT_PER_USERNAME": os.environ.get("LOGIN_LIMIT_PER_USERNAME", "20 per hour"),
        "SESSION_IDLE_TIMEOUT": _hours("SESSION_IDLE_HOURS", 8),
        "SESSION_ABSOLUTE_TIMEOUT": _hours("SESSION_MAX_HOURS", 12),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
    }


def configure_cookies(app: Flask, explicit: dict) -> None:
    """Secure cookies when the site is served over https (PUBLIC_BASE_URL), unless the config
    or SESSION_COOKIE_SECURE in the environment says otherwise; plain http://127.0.0.1:5000
    from `make run` keeps working because its cookies are not marked Secure."""
    if "SESSION_COOKIE_SECURE" in explicit:
        secure = bool(explicit["SESSION_COOKIE_SECURE"])
    else:
        env = _env_flag("SESSION_COOKIE_SECURE")
        secure = env if env is not None else str(app.config.get("PUBLIC_BASE_URL", "")).startswith("https://")
    app.config["SESSION_COOKIE_SECURE"] = secure
    if "REMEMBER_COOKIE_SECURE" not in explicit:
        app.config["REMEMBER_COOKIE_SECURE"] = secure


def end_session() -> None:
    """Log out and forget everything of the visit except the language choice."""
    lang = session.get("lang")
    logout_user()
    session.clear()
    if lang:
        session["lang"] = lang


def init_app(app: Flask) -> None:
    @user_logged_in.connect_via(app)
    def _stamp_login(sender, user, **extra):
        now = time.time()
        session["auth_at"] = now
        session["seen_at"] = now

    @app.before_request
    def _expire_staff_session():
        """Server-side expiry from the signed times; no database query on this path."""
        if "_user_id" not in session:
            return None
        now = time.time()
        auth_at, seen_at = session.get("auth_at"), session.get("seen_at")
        idle = app.config["SESSION_IDLE_TIMEOUT"].total_seconds()
        absolute = app.config["SESSION_ABSOLUTE_TIMEOUT"].total_seconds()
        if (not isinstance(auth_at, (int, float)) or not isinstance(seen_at, (int, float))
                or now - seen_at > idle or now - auth_at > absolute):
            from flask_babel import gettext as _
            end_session()
            flash(_("登录已超时，请重新登录。"), "error")
            return None          # login_required sends the visitor to the login page
        if now - seen_at >= SEEN_RESOLUTION:
            session["seen_at"] = now
        return None

    @app.after_request
    def _security_headers(resp):
        """On every response; a blueprint's stricter choice (judge pages: no-referrer) stays."""
        h = resp.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if request.is_secure or str(app.config.get("PUBLIC_BASE_URL", "")).startswith("https://"):
            h.setdefault("Strict-Transport-Security", HSTS)
        return resp
