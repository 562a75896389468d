"""Console, big screen and audit views: load, authorise, call the services, commit once.

Access (`_viewer`): organisers and oversight by their login; a chief judge by a `chief` login
linked to their judge, or by their judge token session (the tablet) in the token's stage. Any
other login gets 403, nobody gets 401 (JSON) or the login page (HTML). Oversight reads and
never writes: every POST is refused with 403 before the view runs. Opening and closing a
stage's scoring is for organisers only. The JSON endpoints answer errors as
``{"error": {"code", "message", "fields"?}}`` like the judge API.
"""
from __future__ import annotations

from flask import Response, abort, current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from blueprints.chief import bp
from extensions import db
from models import Category, Entry, EventAction, Judge, Panel, ScoreEvent, ScoreSheet, Stage
from services import console
from services import sheets as svc
from services.judge_access import SESSION_KEY, check_token_id

SAFE = ("GET", "HEAD", "OPTIONS")
SCREEN_LINK_DAYS = 7
PAGE_SIZE = 100

ACTION_LABELS = {
    "create": _l("新建"), "update": _l("修改"), "submit": _l("提交"), "reopen": _l("退回"),
    "record": _l("录入扣分/用时"), "confirm": _l("统分确认"), "unconfirm": _l("撤销确认"),
    "close": _l("结束评分"), "open": _l("开放评分"),
}


class CsrfOnly(FlaskForm):
    """CSRF only: the scoring open/close form."""


# -- access -----------------------------------------------------------------------------------

def _wants_json() -> bool:
    return request.path.endswith(".json") or request.method not in SAFE or request.is_json


def _error(status: int, code: str, message: str, fields=None, **extra):
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    resp = jsonify({"error": body, **extra})
    resp.status_code = status
    return resp


def _viewer_or_response():
    """(Viewer, None) or (None, the response that refuses)."""
    if current_user.is_authenticated:
        viewer = console.viewer_for_user(current_user)
        if viewer is None:
            return None, (_error(403, "forbidden", _("您没有权限访问此页面。")) if _wants_json() else abort(403))
    else:
        viewer = None
        token_id = session.get(SESSION_KEY)
        if token_id is not None:
            check = check_token_id(db.session, token_id)
            if check.ok:
                viewer = console.viewer_for_judge(db.session, check.judge, check.stage)
                if viewer is None:
                    return None, (_error(403, "forbidden", _("只有评委组长可以使用此页面。"))
                                  if _wants_json() else abort(403))
        if viewer is None:
            if _wants_json():
                return None, _error(401, "unauthorized", _("请先登录。"))
            from extensions import login_manager
            return None, login_manager.unauthorized()
    if request.method not in SAFE and not viewer.can_write:
        return None, _error(403, "read_only", _("监审账号只能查看，不能修改。"))
    return viewer, None


@bp.before_request
def _guard():
    if request.endpoint in ("chief.screen", "chief.screen_data") and request.args.get("key"):
        return None            # a signed screen link is checked by the view itself
    viewer, resp = _viewer_or_response()
    if resp is not None:
        return resp
    g.viewer = viewer


@bp.after_request
def _no_store(resp):
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.errorhandler(CSRFError)
def _csrf(e):
    if _wants_json():
        return _error(400, "csrf", _("页面已过期，请刷新页面后重试（缺少或无效的 CSRF 令牌）"))
    return render_template("errors/error.html", code=400, message=_("页面已过期或表单无效，请刷新后重试。")), 400


def _actor() -> svc.Actor:
    v = g.viewer
    return svc.Actor(label=v.label, judge_id=v.judge_id, user_id=v.user_id,
                     device=(request.headers.get("User-Agent") or "")[:200] or None,
                     ip=(request.remote_addr or "")[:64] or None)


def _panel(sid: int, pid: int) -> tuple[Stage, Panel]:
    stage = db.session.get(Stage, sid)
    panel = db.session.get(Panel, pid)
    if stage is None or panel is None or panel.stage_id != stage.id:
        abort(404)
    if not console.may_see_panel(db.session, g.viewer, panel):
        abort(403)
    return stage, panel


def _entry(stage: Stage, panel: Panel, eid: int) -> Entry:
    entry = db.session.get(Entry, eid)
    if (entry is None or entry.stage_id != stage.id
            or (panel.category_id is not None and entry.category_id != panel.category_id)
            or (panel.division_id is not None and entry.division_id != panel.division_id)):
        abort(404)
    return entry


def _category(panel: Panel) -> Category:
    cats = console.panel_categories(db.session, panel)
    wanted = request.args.get("category", type=int)
    for c in cats:
        if wanted is None or c.id == wanted:
            return c
    if panel.category_id is None and wanted is not None:
        cat = db.session.get(Category, wanted)
        if cat is not None and cat.programme_id == panel.stage.programme_id:
            return cat
    abort(404)


def _json_body() -> dict:
    """The JSON object sent, {} when nothing was sent; anything else is refused with 400 so a
    garbled request never records an empty result in its place."""
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        # a form body is consumed by the form parser and would read as empty
        abort(_error(415, "unsupported_media_type", _("请求须为 JSON（Content-Type: application/json）")))
    if not request.get_data(cache=True):
        return {}
    data = request.get_json(silent=True, force=True)
    if not isinstance(data, dict):
        abort(_error(400, "bad_json", _("请求体须为 JSON 对象，例如 {\"reason\": \"...\"}")))
    return data


def _sheet_error(e: svc.SheetError):
    db.session.rollback()
    return _error(e.status, e.code, e.message, e.fields)


# -- pages ------------------------------------------------------------------------------------

@bp.get("/chief/")
def index():
    panels = console.visible_panels(db.session, g.viewer)
    by_stage: dict[int, list[Panel]] = {}
    for p in panels:
        by_stage.setdefault(p.stage_id, []).append(p)
    stages = {s.id: s for s in db.session.scalars(select(Stage).where(Stage.id.in_(list(by_stage))))} if by_stage else {}
    if len(panels) == 1 and not g.viewer.sees_all:
        return redirect(url_for("chief.panel", sid=panels[0].stage_id, pid=panels[0].id))
    groups = [(stages[sid], ps) for sid, ps in sorted(by_stage.items(), key=lambda kv: (stages[kv[0]].programme_id,
                                                                                       stages[kv[0]].seq))]
    return render_template("chief/index.html", groups=groups, viewer=g.viewer)


def screen_key(stage_id: int, category_id: int, division_id: int | None) -> str:
    s = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="screen-link")
    return s.dumps([stage_id, category_id, division_id])


def _screen_key_ok(key: str, stage_id: int, category_id: int, division_id: int | None) -> bool:
    s = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="screen-link")
    try:
        data = s.loads(key, max_age=SCREEN_LINK_DAYS * 86400)
    except BadSignature:
        return False
    return data == [stage_id, category_id, division_id]


def _labels() -> dict[str, str]:
    """UI words for chief.js (the catalogue translates them; JS holds no text of its own)."""
    return {
        "missing": _("未交"), "draft": _("草稿"), "submitted": _("已提交"), "locked": _("已锁定"),
        "recused": _("回避"), "none": "", "waiting": _("待交 %(n)s 份"), "ready": _("可确认"),
        "confirmed": _("已确认"), "no_judges": _("无可评评委"), "confirm": _("统分确认"),
        "details": _("详情"), "reopen": _("退回评分表"), "unconfirm": _("撤销确认"),
        "off": _("偏离其他评委中位数 %(d)s 分"), "final": _("最终得分"), "dropped_high": _("去掉最高分"),
        "dropped_low": _("去掉最低分"), "penalties": _("扣分"), "no_penalties": _("无扣分"),
        "panel_score": _("评委组得分"), "judge": _("评委"), "mark": _("分数"), "counted": _("计入"),
        "reason_required": _("请填写原因"), "error": _("操作失败"), "saved": _("已保存"),
        "network": _("网络中断，正在重试…"), "updated": _("已更新"), "chief": _("组长"),
        "result_status": _("结果状态"), "incomplete": _("结果不完整，不能排名"), "record": _("录入用时与扣分"),
        "duration": _("用时（秒）"), "times": _("次"), "save_record": _("保存录入"),
        "confirm_now": _("确认并锁定评分"), "cancel": _("取消"), "by": _("确认人"),
        "sheets": _("已交 %(a)s / %(b)s"), "flags_title": _("评委提示"), "entries": _("作品"),
    }


@bp.get("/chief/stages/<int:sid>/panels/<int:pid>")
def panel(sid: int, pid: int):
    stage, panel = _panel(sid, pid)
    cats = console.panel_categories(db.session, panel)
    category = _category(panel) if cats else None
    base = url_for("chief.panel", sid=sid, pid=pid)
    screen_url = None
    if category is not None:
        screen_url = url_for("chief.screen", sid=sid, cid=category.id, division=panel.division_id,
                             key=screen_key(sid, category.id, panel.division_id), _external=False)
    return render_template("chief/console.html", stage=stage, panel=panel, categories=cats, category=category,
                           base=base, viewer=g.viewer, labels=_labels(), screen_url=screen_url,
                           form=CsrfOnly(formdata=None))


@bp.get("/chief/stages/<int:sid>/panels/<int:pid>/grid.json")
def grid(sid: int, pid: int):
    stage, panel = _panel(sid, pid)
    category = _category(panel)
    return jsonify(console.build_grid(db.session, stage, panel, category.id, g.viewer))


@bp.get("/chief/stages/<int:sid>/panels/<int:pid>/entries/<int:eid>/result.json")
def result(sid: int, pid: int, eid: int):
    """The frozen result of a confirmed entry, else the result a confirmation would freeze now."""
    stage, panel = _panel(sid, pid)
    entry = _entry(stage, panel, eid)
    row = svc.confirmation_of(db.session, entry.id)
    try:
        body = dict(row.result) if row is not None else console.preview(db.session, stage, entry)
    except svc.SheetError as e:
        return _sheet_error(e)
    if row is not None:
        names = {j.external_id: j.person.name for j in db.session.scalars(
            select(Judge).where(Judge.programme_id == stage.programme_id))}
        body["judges"] = [{**m, "name": names.get(m["judge"], "")} for m in body.get("judges", [])]
    return jsonify({"entry": console.entry_label(entry, stage), "confirmed": row is not None,
                    "confirmed_by": row.confirmed_by if row else None, "result": body})


# -- actions ----------------------------------------------------------------------------------

@bp.post("/chief/stages/<int:sid>/panels/<int:pid>/sheets/<int:sheet_id>/reopen")
def reopen(sid: int, pid: int, sheet_id: int):
    stage, panel = _panel(sid, pid)
    sheet = db.session.get(ScoreSheet, sheet_id)
    if sheet is None:
        abort(404)
    _entry(stage, panel, sheet.entry_id)
    try:
        svc.reopen(db.session, sheet, _actor(), _json_body().get("reason") or "")
        db.session.commit()
    except svc.SheetError as e:
        return _sheet_error(e)
    return jsonify({"ok": True, "sheet": svc.sheet_json(sheet, sheet.entry_id)})


def _already_confirmed(entry_id: int):
    """409 for the chief who came second: who confirmed, and the result that stands."""
    db.session.rollback()
    row = svc.confirmation_of(db.session, entry_id)
    if row is None:        # withdrawn again in the meantime
        return _error(409, "already_confirmed", _("该作品已确认统分"))
    return _error(409, "already_confirmed",
                  _("该作品已由%(who)s确认统分（最终得分 %(score)s），本次确认未保存。",
                    who=row.confirmed_by, score=row.final_score or "—"),
                  confirmed_by=row.confirmed_by, final_score=row.final_score)


@bp.post("/chief/stages/<int:sid>/panels/<int:pid>/entries/<int:eid>/confirm")
def confirm(sid: int, pid: int, eid: int):
    """统分确认. The chief saw a preview; when `final_score` is sent and the result has moved
    since (a sheet reopened meanwhile), nothing is frozen and the chief is told (409)."""
    stage, panel = _panel(sid, pid)
    entry = _entry(stage, panel, eid)
    seen = _json_body().get("final_score")
    try:
        row = svc.confirm(db.session, entry, stage, _actor())
        if seen is not None and str(seen) != str(row.final_score):
            db.session.rollback()
            return _error(409, "changed", _("评分已有变化，请重新核对后再确认。"))
        db.session.commit()
    except svc.SheetError as e:
        if e.code == "already_confirmed":
            return _already_confirmed(eid)
        return _sheet_error(e)
    except IntegrityError:
        # Another chief's confirmation won the unique constraint: one result, theirs.
        return _already_confirmed(eid)
    return jsonify({"ok": True, "final_score": row.final_score, "status": row.status, "result": row.result})


@bp.post("/chief/stages/<int:sid>/panels/<int:pid>/entries/<int:eid>/unconfirm")
def unconfirm(sid: int, pid: int, eid: int):
    stage, panel = _panel(sid, pid)
    entry = _entry(stage, panel, eid)
    try:
        svc.unconfirm(db.session, entry, stage, _actor(), _json_body().get("reason") or "")
        db.session.commit()
    except svc.SheetError as e:
        return _sheet_error(e)
    return jsonify({"ok": True})


@bp.post("/chief/stages/<int:sid>/panels/<int:pid>/entries/<int:eid>/record")
def record(sid: int, pid: int, eid: int):
    stage, panel = _panel(sid, pid)
    entry = _entry(stage, panel, eid)
    body = _json_body()
    inputs = body.get("inputs") if isinstance(body.get("inputs"), dict) else None
    penalties = body.get("penalties") if isinstance(body.get("penalties"), dict) else None
    flags = [f for f in body.get("flags") or [] if isinstance(f, str)]
    inputs = {k: v for k, v in (inputs or {}).items() if v not in (None, "")} or None
    penalties = {k: v for k, v in (penalties or {}).items() if v not in (None, "", 0, "0")} or None
    try:
        row = svc.record_entry(db.session, entry, stage, _actor(), inputs=inputs, penalties=penalties, flags=flags)
        db.session.commit()
    except svc.SheetError as e:
        return _sheet_error(e)
    return jsonify({"ok": True, "record": {"inputs": row.inputs or {}, "penalties": row.penalties or {},
                                           "flags": row.flags or []}})


@bp.post("/chief/stages/<int:sid>/scoring")
def scoring(sid: int):
    """Close or reopen scoring for the whole stage (organisers only): a form, Post/Redirect/Get."""
    if not g.viewer.is_organiser:
        abort(403)
    stage = db.session.get(Stage, sid)
    if stage is None:
        abort(404)
    form = CsrfOnly()
    if not form.validate_on_submit():
        abort(400)
    closed = request.form.get("closed") == "1"
    svc.set_scoring_closed(db.session, stage, closed, _actor())
    db.session.commit()
    from flask import flash
    flash(_("本阶段评分已结束，评委不能再提交或修改。") if closed else _("本阶段评分已重新开放。"), "success")
    target = request.form.get("next") or ""
    if not target.startswith("/chief/"):
        target = url_for("chief.index")
    return redirect(target)


# -- the big screen ---------------------------------------------------------------------------

def _screen_args(sid: int, cid: int):
    stage = db.session.get(Stage, sid)
    category = db.session.get(Category, cid)
    if stage is None or category is None or category.programme_id != stage.programme_id:
        abort(404)
    division = request.args.get("division", type=int)
    key = request.args.get("key")
    if key:
        if not _screen_key_ok(key, sid, cid, division):
            abort(403)
    elif not console.may_see_screen(db.session, g.viewer, stage, cid):
        abort(403)
    return stage, category, division, key


@bp.get("/screen/<int:sid>/<int:cid>")
def screen(sid: int, cid: int):
    stage, category, division, key = _screen_args(sid, cid)
    data_url = url_for("chief.screen_data", sid=sid, cid=cid, division=division, key=key)
    return render_template("chief/screen.html", stage=stage, category=category, data_url=data_url,
                           labels={"final": _("最终得分"), "ranking": _("实时排名"), "judge": pgettext("big screen seat", "评委"),
                                   "penalties": _("扣分"), "waiting": _("等待亮分…"), "rank": _("第 %(n)s 名"),
                                   "score": _("得分"), "draw": _("%(n)s 号"), "dropped": _("去掉"),
                                   "panel_score": _("评委组得分")})


@bp.get("/screen/<int:sid>/<int:cid>/data.json")
def screen_data(sid: int, cid: int):
    stage, category, division, _key = _screen_args(sid, cid)
    return jsonify(console.screen_data(db.session, stage, category, division))


# -- the audit log ----------------------------------------------------------------------------

def _audit_stage(sid: int) -> Stage:
    if not g.viewer.sees_all:
        abort(403)
    stage = db.session.get(Stage, sid)
    if stage is None:
        abort(404)
    return stage


def _audit_filter() -> console.AuditFilter:
    action = request.args.get("action") or None
    if action not in (None, *[a.value for a in EventAction]):
        action = None
    return console.AuditFilter(entry_id=request.args.get("entry", type=int),
                               judge_id=request.args.get("judge", type=int), action=action)


@bp.get("/chief/stages/<int:sid>/audit")
def audit(sid: int):
    stage = _audit_stage(sid)
    flt = _audit_filter()
    page = max(request.args.get("page", 1, type=int), 1)
    labels = {k: str(v) for k, v in ACTION_LABELS.items()}
    rows = console.audit_rows(db.session, stage, flt, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE,
                              action_labels=labels)
    more = len(rows) > PAGE_SIZE
    entries = list(db.session.scalars(select(Entry).where(Entry.stage_id == stage.id)
                                      .order_by(Entry.external_id)))
    judge_ids = select(ScoreEvent.judge_id).where(ScoreEvent.stage_id == stage.id).distinct()
    judges = list(db.session.scalars(select(Judge).where(Judge.id.in_(judge_ids)).order_by(Judge.external_id)))
    args = {k: v for k, v in request.args.items() if k in ("entry", "judge", "action") and v}
    return render_template("chief/audit.html", stage=stage, rows=rows[:PAGE_SIZE], more=more, page=page,
                           flt=flt, entries=entries, judges=judges, actions=labels, args=args)


@bp.get("/chief/stages/<int:sid>/audit.<fmt>")
def audit_export(sid: int, fmt: str):
    if fmt not in ("xlsx", "csv"):
        abort(404)
    stage = _audit_stage(sid)
    rows = console.audit_rows(db.session, stage, _audit_filter(),
                              action_labels={k: str(v) for k, v in ACTION_LABELS.items()})
    data = console.audit_export(rows, fmt)
    mime = ("text/csv; charset=utf-8" if fmt == "csv"
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    from urllib.parse import quote
    name = f"{stage.programme.name}-{stage.name}-评分日志.{fmt}"
    resp = Response(data, mimetype=mime)
    resp.headers["Content-Disposition"] = f"attachment; filename=audit.{fmt}; filename*=UTF-8''{quote(name)}"
    return resp
