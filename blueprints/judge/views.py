"""Judge views: token login from the judge card, the 回避声明, the judge's entries.

Thin on purpose: every view re-validates the judge's token (revocation and expiry act on the
next request), calls `services.declarations`, commits once and redirects (Post/Redirect/Get).
The only judge state in the session is ``judge_token_id``; Flask-Login is never consulted, so
an organiser's login does not open these pages and a judge's token opens nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import wraps

from flask import g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from sqlalchemy import select

from blueprints.judge import bp
from extensions import db
from models import DeclaredRelation, Judge, JudgeToken, ReassignmentFlag, RelationKind, Stage
from services import declarations as decl
from services.conflicts import stage_conflict_index
from services.judge_access import SESSION_KEY, TokenProblem, check_token, check_token_id

BEIJING = timezone(timedelta(hours=8))

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
        when = token.expires_at
        when = (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(BEIJING)
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
    """Judge pages are personal and tablets are shared: never cached, never a Referer."""
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
    js = g.judge_session
    entries = decl.judge_entries(db.session, js.judge.id, js.stage)
    index = stage_conflict_index(db.session, js.stage)
    cards = decl.entry_cards(entries, js.stage, index, js.judge.id, purpose="home")
    recused = sum(1 for c in cards if c.recusal)
    return render_template("judge/home.html", groups=_by_category(cards), total=len(cards), recused=recused,
                           declared_none=request.args.get("declared") == "none")


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
