"""Judge views: token login from the judge card, the 回避声明, the scoring screen.

Thin on purpose: every view re-validates the judge's token (revocation and expiry act on the
next request), calls `services.declarations`, commits once and redirects (Post/Redirect/Get).
The only judge state in the session is ``judge_token_id``; Flask-Login is never consulted, so
an organiser's login does not open these pages and a judge's token opens nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import wraps

from flask import current_app, g, redirect, render_template, request, send_from_directory, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from sqlalchemy import select

from blueprints.judge import bp
from extensions import db
from models import DeclaredRelation, Judge, JudgeToken, ReassignmentFlag, RelationKind, Stage
from models.base import in_beijing
from services import declarations as decl
from services import sheets as sheet_svc
from services.conflicts import stage_conflict_index
from services.judge_access import SESSION_KEY, TokenProblem, check_token, check_token_id


KIND_CHOICES = [
    (RelationKind.relative.value, _l("亲属")),
    (RelationKind.teacher_student.value, _l("师生")),
    (RelationKind.colleague.value, _l("同事")),
    (RelationKind.coach.value, _l("辅导")),
    (RelationKind.other.value, _l("其他")),
]


class JudgeForm(FlaskForm):
    """CSRF only: the declaration rows are built from the judge's entries and read by name."""


@dataclass(frozen=True)
class JudgeSession:
    token: JudgeToken
    judge: Judge
    stage: Stage
    declared_at: datetime | None  # this stage's 回避声明, re-read on every request


# -- access ----------------------------------------------------------------------------------

def _denied(problem: TokenProblem | None, token: JudgeToken | None = None):
    """A clear Chinese page: 401 when we do not know who this is, 403 when we do and refuse."""
    if problem is None:
        code, title = 401, _("请使用评委链接进入")
        message = _("评委页面需要评委卡上的二维码或评委链接。请扫描评委卡上的二维码，或联系组织方。")
    elif problem == TokenProblem.unknown:
        code, title = 401, _("无法识别此评委链接")
        message = _("请核对评委卡上的链接是否完整，或联系组织方重新发放。")
    elif problem == TokenProblem.expired:
        code, title = 401, _("评委链接已过期")
        when = in_beijing(token.expires_at)
        message = _("此评委链接已于 %(when)s（北京时间）过期。请联系组织方领取新的评委卡。",
                    when=when.strftime("%Y-%m-%d %H:%M"))
    else:
        code, title = 403, _("评委链接已停用")
        message = _("此评委链接已被组织方停用，不能再用于评审。如有疑问请联系组织方。")
    return render_template("judge/message.html", title=title, message=message, code=code), code


def judge_required(*, declared: bool = True):
    """Load the judge from the session's token, checked again on this request. With
    `declared`, a judge who has not made the 回避声明 is sent there first."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            token_id = session.get(SESSION_KEY)
            if token_id is None:
                return _denied(None)
            check = check_token_id(db.session, token_id)
            if not check.ok:
                return _denied(check.problem, check.token)
            g.judge_session = JudgeSession(check.token, check.judge, check.stage,
                                           decl.declared_at(db.session, check.judge.id, check.stage.id))
            if declared and g.judge_session.declared_at is None:
                return redirect(url_for("judge.declaration"))
            return view(*args, **kwargs)
        return wrapped
    return decorator


@bp.after_request
def _no_store(resp):
    """Judge pages are personal and tablets are shared: never cached by HTTP, never a Referer.
    (The scoring screen's service worker keeps its own offline copy; logout clears it.)"""
    if request.endpoint == "judge.service_worker":
        return resp
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.errorhandler(CSRFError)
def _csrf_expired(e):
    """A judge's stale form gets the judge layout and a way back, not the organiser's page."""
    return render_template("judge/message.html", title=_("页面已过期"), code=400,
                           message=_("页面已过期或表单无效，您的内容没有保存。请返回后重新提交。"),
                           back=url_for("judge.declaration")), 400


@bp.app_context_processor
def _judge_context():
    return {"judge_session": g.get("judge_session")}


@bp.get("/j/<token>")
def token_login(token: str):
    """The link on the judge card. Keeps only the token's id in the signed session and
    redirects, so the token leaves the address bar and the history."""
    check = check_token(db.session, token)
    if not check.ok:
        session.pop(SESSION_KEY, None)    # a bad card never leaves an earlier judge signed in
        return _denied(check.problem, check.token)
    session[SESSION_KEY] = check.token.id
    return redirect(url_for("judge.home"))


@bp.post("/judge/logout")
def logout():
    JudgeForm()  # CSRF is checked by CSRFProtect before we get here
    session.pop(SESSION_KEY, None)
    return render_template("judge/message.html", title=_("已退出评委页面"),
                           message=_("再次进入请扫描评委卡上的二维码。"), code=None)


# -- pages -----------------------------------------------------------------------------------

def _by_category(cards):
    groups: list[tuple[str, list]] = []
    for card in cards:
        if not groups or groups[-1][0] != card.category:
            groups.append((card.category, []))
        groups[-1][1].append(card)
    return groups


@bp.get("/judge/")
@judge_required()
def home():
    """The scoring screen: the judge's entries in running order with their state, rendered
    here so the list reads without JavaScript; static/js/judge.js then loads the same data
    from the JSON API (`/api/v1/me/entries`), builds the rubric forms and keeps the outbox."""
    js = g.judge_session
    overview = sheet_svc.judge_overview(db.session, js.judge, js.stage)
    entries = overview["entries"]
    recused = sum(1 for e in entries if e["recusal"])
    groups: list[tuple[str, list]] = []
    for e in entries:
        if not groups or groups[-1][0] != e["category"]["name"]:
            groups.append((e["category"]["name"], []))
        groups[-1][1].append(e)
    return render_template("judge/home.html", overview=overview, groups=groups, total=len(entries),
                           recused=recused, declared_none=request.args.get("declared") == "none",
                           i18n=_screen_strings(), materials=_materials(entries),
                           scope=f"{js.judge.id}-{js.stage.id}")


def _materials(entries: list[dict]) -> dict[str, list[dict]]:
    """The files and links of the resource entries the judge may score (services.resources)."""
    from services.resources import materials_for
    ids = [e["id"] for e in entries if not e["recusal"] and not e["withdrawn"]]
    return materials_for(db.session, ids)


#: Where the service worker lives: its default scope is /judge/, which covers every judge page.
SW_FILE = "judge-sw.js"


@bp.get("/judge/sw.js")
def service_worker():
    """The scoring screen's service worker (static/judge-sw.js), served from /judge/ so that
    its scope covers the judge pages. Not personal: no session needed. `no-cache` makes the
    browser revalidate it on every update check, so a new version reaches the tablets."""
    resp = send_from_directory(current_app.static_folder, SW_FILE, mimetype="text/javascript",
                               max_age=0, conditional=True)
    resp.headers["Service-Worker-Allowed"] = "/judge/"
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def _screen_strings() -> dict[str, str]:
    """Every text static/js/judge.js shows, translated here (the JS has no catalogue).
    `{name}` marks are filled in by the script."""
    return {
        "status_todo": _("待评"), "status_draft": _("草稿"), "status_submitted": _("已提交"),
        "status_locked": _("已锁定"), "status_recused": _("回避"), "status_withdrawn": _("已退赛"),
        "current": _("当前"), "done_count": _("已完成 %(done)s / %(total)s", done="{done}", total="{total}"),
        "online": _("在线"), "offline": _("离线"), "unsent": _("未发送 %(n)s 份", n="{n}"),
        "all_sent": _("全部已发送"),
        "queued": _("已保存在本设备（未发送）"), "sending": _("正在发送…"), "sent": _("已发送"),
        "pick": _("请在列表中选择作品开始评分。"),
        "draw": _("抽签号"), "code": _("匿名编号"), "max": _("满分 %(n)s", n="{n}"),
        "minus": _("减 %(n)s 分", n="{n}"), "plus": _("加 %(n)s 分", n="{n}"),
        "descriptors": _("评分标准"), "total": _("合计"),
        "comment": _("评语"), "comment_hint": _("可选，最多 2000 字"),
        "save": _("暂存"), "submit": _("提交"),
        "confirm_total": _("本作品合计：%(t)s 分", t="{t}"),
        "missing": _("还有 %(n)s 项未评分：%(names)s", n="{n}", names="{names}"),
        "bad_value": _("请输入 %(min)s～%(max)s 之间、以 %(step)s 为单位的分数", min="{min}", max="{max}",
                       step="{step}"),
        "readonly_submitted": _("评分表已提交，只读。只有评委组长可以退回修改，如需修改请联系评委组长。"),
        "readonly_locked": _("该作品已确认统分，评分表已锁定。"),
        "reopened": _("评委组长已退回此评分表，原因：%(r)s", r="{r}"),
        "recused_note": _("您须回避此作品，不参与评分。"),
        "withdrawn_note": _("该作品已退赛，无需评分。"),
        "rubric_problem": _("本作品暂不能评分：%(r)s", r="{r}"),
        "stage_closed": _("本阶段评分已结束，不能再提交或修改评分。"),
        "penalties": _("扣分与超时（本人记录，供评委组长参考）"),
        "penalties_hint": _("作品的最终扣分以评委组长或计时员的记录为准。"),
        "deduction": _("%(t)s（每次 %(p)s 分）", t="{t}", p="{p}"),
        "duration": _("用时（秒），超过 %(limit)s 秒每 %(per)s 秒扣 %(pts)s 分", limit="{limit}", per="{per}",
                      pts="{pts}"),
        "flags": _("取消资格事项"),
        "stale_title": _("服务器上的评分表已有更新"),
        "stale_text": _("评委组长退回了此评分表，或您在其他设备上修改过。按规则以服务器上的版本为准；"
                        "您在本设备上的评分已保留，可以重新应用或放弃。"),
        "server_total": _("服务器版本合计：%(t)s", t="{t}"), "local_total": _("本设备版本合计：%(t)s", t="{t}"),
        "none_total": _("（未评分）"),
        "reapply": _("重新应用本设备评分"), "discard": _("放弃本设备评分"),
        "reapplied": _("已填入本设备的评分，请核对后暂存或提交。"),
        "rejected_title": _("评分未被接受"),
        "rejected_locked": _("服务器上的评分表已提交或已锁定，本设备的修改未被接受。"),
        "kept_local": _("本设备上的评分已保留，供您核对。"),
        "auth_problem": _("评委身份无法确认（链接可能已过期或被停用）。评分仍保存在本设备，请联系组织方。"),
        "offline_cached": _("当前离线：显示的是本设备上次保存的作品列表。"),
        "load_failed": _("无法读取作品列表，请检查网络后刷新。"),
        "logout_unsent": _("还有 %(n)s 份评分未发送。退出后它们仍保存在本设备，下次用同一评委卡进入时自动发送。确定退出？",
                           n="{n}"),
        "field_error": _("此项有误"),
        "materials": _("作品材料"), "close_material": _("关闭材料"),
    }


def _my_relations(judge: Judge) -> list[DeclaredRelation]:
    return sorted((r for r in judge.relations if r.source == "judge"), key=lambda r: (r.created_at, r.id))


def _parse(cards, units) -> tuple[list[decl.RelationInput], dict, dict]:
    """Read the submitted rows: the relations, errors by row key, and the values to re-show."""
    kinds = {k for k, _label in KIND_CHOICES}
    relations, errors, values = [], {}, {}

    def read(key_kind, key_note, target):
        kind = request.form.get(key_kind, "").strip()
        note = request.form.get(key_note, "").strip()
        values[key_kind], values[key_note] = kind, note
        if not kind:
            return None
        if kind not in kinds:
            return _("请选择关系类型")
        if kind == RelationKind.other.value and not note:
            return _("选择“其他”时请写明是什么关系")
        if len(note) > decl.NOTE_MAX:
            return _("说明不能超过 %(n)s 个字", n=decl.NOTE_MAX)
        relations.append(decl.RelationInput(kind=kind, note=note, **target))
        return None

    for card in cards:
        if card.recusal:
            continue
        problem = read(f"kind-{card.id}", f"note-{card.id}", {"entry_id": card.id})
        if problem:
            errors[card.id] = problem
    unit_raw = request.form.get("unit_id", "").strip()
    values["unit_id"] = unit_raw
    if unit_raw:
        unit_ids = {u.id for u in units}
        if not unit_raw.isdigit() or int(unit_raw) not in unit_ids:
            errors["unit"] = _("请从列表中选择单位")
        else:
            problem = read("unit_kind", "unit_note", {"unit_id": int(unit_raw)})
            if problem:
                errors["unit"] = problem
            elif not values["unit_kind"]:
                errors["unit"] = _("请选择与该单位的关系类型")
    elif request.form.get("unit_kind") or request.form.get("unit_note", "").strip():
        values["unit_kind"] = request.form.get("unit_kind", "")
        values["unit_note"] = request.form.get("unit_note", "").strip()
        errors["unit"] = _("请选择单位")
    return relations, errors, values


@bp.route("/judge/declaration", methods=["GET", "POST"])
@judge_required(declared=False)
def declaration():
    js = g.judge_session
    judge, stage = js.judge, js.stage
    entries = decl.judge_entries(db.session, judge.id, stage)
    index = stage_conflict_index(db.session, stage)
    cards = decl.entry_cards(entries, stage, index, judge.id, purpose="declaration")
    units = decl.participating_units(db.session, entries, exclude=judge.unit_id)
    form = JudgeForm()
    errors, values = {}, {}
    if request.method == "POST" and form.validate_on_submit():
        relations, errors, values = _parse(cards, units)
        action = request.form.get("action")
        if not errors:
            if action == "none" and relations:
                errors["form"] = _("您已选择了关系。请点击“提交声明”，或先把选择改回“无”。")
            elif action == "none" and js.declared_at is not None:
                return redirect(url_for("judge.home"))      # nothing new to record
            elif action == "declare" and not relations:
                errors["form"] = _("请至少为一位选手或一个单位选择关系；都没有关系请点击“无需回避”。")
            elif action not in ("none", "declare"):
                errors["form"] = _("请点击“提交声明”或“无需回避”。")
        if not errors:
            outcome = decl.declare(db.session, judge, stage, relations, index=index)
            db.session.commit()
            if outcome.no_relation:
                return redirect(url_for("judge.home", declared="none"))
            return redirect(url_for("judge.declaration_saved", n=len(outcome.relations),
                                    f=",".join(str(f.flag_id) for f in outcome.flagged)))
    return render_template("judge/declaration.html", form=form, cards=cards, groups=_by_category(cards),
                           units=units, kinds=KIND_CHOICES, errors=errors, values=values,
                           mine=_my_relations(judge), first=js.declared_at is None)


@bp.get("/judge/declaration/saved")
@judge_required()
def declaration_saved():
    """What the last declaration did: the entries that now need another judge."""
    js = g.judge_session
    ids = [int(x) for x in request.args.get("f", "").split(",")[:500] if x.isdigit()]
    flags = []
    if ids:
        flags = db.session.scalars(select(ReassignmentFlag).where(
            ReassignmentFlag.id.in_(ids), ReassignmentFlag.judge_id == js.judge.id)).all()
    entries = [f.entry for f in flags]
    index = stage_conflict_index(db.session, js.stage)
    here = decl.entry_cards([e for e in entries if e.stage_id == js.stage.id], js.stage, index, js.judge.id,
                            purpose="declaration")
    elsewhere = [(f.entry, db.session.get(Stage, f.stage_id)) for f in flags if f.stage_id != js.stage.id]
    order = {e.id: i for i, e in enumerate(decl.judge_entries(db.session, js.judge.id, js.stage))}
    here.sort(key=lambda c: order.get(c.id, len(order)))
    return render_template("judge/saved.html", cards=here, elsewhere=elsewhere,
                           declared=request.args.get("n", type=int) or 0)
