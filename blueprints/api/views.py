"""The judge JSON API: thin, every rule lives in `services.sheets`.

Authentication: ``Authorization: Bearer <token>`` (the token on the judge card / judges.csv),
or the judge session of the tablet page (``judge_token_id`` in the signed cookie) — then writes
need the CSRF token in an ``X-CSRFToken`` header, like every form. Bearer requests carry no
ambient credential and are exempt from CSRF. Every error is JSON:
``{"error": {"code", "message", "fields"?}}`` (README lists every status code).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import current_app, g, jsonify, request, session
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from blueprints.api import bp
from extensions import csrf, db
from models import Judge, JudgeToken, Stage
from services import sheets as svc
from services.judge_access import SESSION_KEY, TokenProblem, check_token, check_token_id

csrf.exempt(bp)

MAX_BODY = 64 * 1024
OPENAPI = Path(__file__).with_name("openapi.json")


@dataclass(frozen=True)
class Caller:
    token: JudgeToken
    judge: Judge
    stage: Stage
    by_session: bool


def error(status: int, code: str, message: str, fields: list | None = None, **extra):
    body: dict = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    resp = jsonify({"error": body, **extra})
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="judge"'
    return resp


_PROBLEMS = {
    TokenProblem.unknown: (401, "unauthorized", "评委令牌无效，请使用评委卡上的链接或二维码"),
    TokenProblem.expired: (401, "token_expired", "评委令牌已过期，请联系组织方领取新的评委卡"),
    TokenProblem.revoked: (401, "token_revoked", "评委令牌已被组织方停用"),
}


def _caller():
    """(Caller, None) or (None, error response)."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None, error(401, "unauthorized", "Authorization 须为 “Bearer <评委令牌>”")
        check = check_token(db.session, value.strip())
        by_session = False
    elif session.get(SESSION_KEY) is not None:
        check = check_token_id(db.session, session.get(SESSION_KEY))
        by_session = True
    else:
        return None, error(401, "unauthorized", "需要评委令牌（Authorization: Bearer <token>）")
    if not check.ok:
        return None, error(*_PROBLEMS[check.problem])
    if by_session and request.method not in ("GET", "HEAD", "OPTIONS"):
        try:
            csrf.protect()
        except CSRFError:
            return None, error(400, "csrf", "页面已过期，请刷新页面后重试（缺少或无效的 CSRF 令牌）")
    return Caller(check.token, check.judge, check.stage, by_session), None


def _actor(c: Caller) -> svc.Actor:
    device = request.headers.get("X-Device-Id", "")[:60]
    agent = request.headers.get("User-Agent", "")[:200]
    return svc.Actor(label=f"评委 {c.judge.external_id} {c.judge.person.name}", judge_id=c.judge.id,
                     device=(f"{device} · {agent}" if device else agent) or None,
                     ip=(request.remote_addr or "")[:64] or None)


def authed(view):
    from functools import wraps

    @wraps(view)
    def wrapped(*args, **kwargs):
        c, err = _caller()
        if err is not None:
            return err
        g.api_caller = c
        try:
            return view(c, *args, **kwargs)
        except svc.SheetError as e:
            db.session.rollback()
            extra = {}
            if e.sheet is not None:
                extra["sheet"] = svc.sheet_json(e.sheet, e.sheet.entry_id,
                                                confirmed=svc.confirmation_of(db.session, e.sheet.entry_id) is not None,
                                                reopen_reason=svc.last_reopen_reason(db.session, e.sheet))
            return error(e.status, e.code, e.message, e.fields, **extra)
    return wrapped


@bp.after_request
def _headers(resp):
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.errorhandler(HTTPException)
def _http_error(e: HTTPException):
    codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
             415: "unsupported_media_type"}
    messages = {404: "找不到该资源", 405: "不支持此请求方法", 413: "请求体过大"}
    return error(e.code or 500, codes.get(e.code, "error"), messages.get(e.code, e.description or "请求有误"))


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of this API, a file kept next to the code it describes (the
    fuzz test in tests/web/test_api_fuzz.py holds the two together). Public: it holds no data."""
    return current_app.response_class(OPENAPI.read_bytes(), mimetype="application/json")


@bp.get("/me")
@authed
def me(c: Caller):
    return jsonify({"judge": {"id": c.judge.id, "external_id": c.judge.external_id, "name": c.judge.person.name},
                    "stage": {"id": c.stage.id, "name": c.stage.name},
                    "expires_at": svc.iso(c.token.expires_at)})


@bp.get("/me/entries")
@authed
def my_entries(c: Caller):
    return jsonify(svc.judge_overview(db.session, c.judge, c.stage))


def _entry_id(raw: str) -> int | None:
    """The id, or None when it cannot be an entry's (ids are 32-bit INTEGER columns)."""
    return int(raw) if raw.isdigit() and len(raw) < 12 and int(raw) < 2**31 else None


@bp.get("/me/sheets/<entry_id>")
@authed
def get_sheet(c: Caller, entry_id: str):
    eid = _entry_id(entry_id)
    if eid is None:
        return error(404, "not_found", "找不到该参赛作品")
    svc.check_door(db.session, c.judge, c.stage, eid)
    sheet = svc.find_sheet(db.session, c.judge.id, eid)
    confirmed = svc.confirmation_of(db.session, eid) is not None
    reason = svc.last_reopen_reason(db.session, sheet) if sheet is not None else None
    return jsonify(svc.sheet_json(sheet, eid, confirmed=confirmed, reopen_reason=reason))


def _body():
    """The JSON body or an error response: 415 for another content type, 413 when huge,
    400 when it does not parse."""
    if not request.is_json:
        return None, error(415, "unsupported_media_type", "请求须为 JSON（Content-Type: application/json）")
    if (request.content_length or 0) > MAX_BODY:
        return None, error(413, "too_large", f"请求体过大（上限 {MAX_BODY // 1024} KB）")
    data = request.get_json(silent=True)
    if data is None:
        return None, error(400, "bad_json", "请求体不是有效的 JSON")
    return data, None


@bp.put("/me/sheets/<entry_id>")
@authed
def put_sheet(c: Caller, entry_id: str):
    eid = _entry_id(entry_id)
    if eid is None:
        return error(404, "not_found", "找不到该参赛作品")
    payload, err = _body()
    if err is not None:
        return err
    actor = _actor(c)

    def attempt():
        out = svc.put_sheet(db.session, c.judge, c.stage, eid, payload, actor)
        return out, _answer(out, eid)    # serialised before the commit expires the row

    try:
        out, body = attempt()
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        if not svc.is_race(exc):
            raise
        out = svc.replay_after_race(db.session, c.judge, eid, payload)
        if out is None:      # two first saves of the same sheet raced: retry once, now an update
            out, body = attempt()
            db.session.commit()
        else:
            body = _answer(out, eid)
    return jsonify(body), 201 if out.created else 200


def _answer(out: svc.PutOutcome, eid: int) -> dict:
    confirmed = out.confirmed if out.confirmed is not None else svc.confirmation_of(db.session, eid) is not None
    body = svc.sheet_json(out.sheet, eid, confirmed=confirmed)
    body["replayed"] = out.replay
    return body
