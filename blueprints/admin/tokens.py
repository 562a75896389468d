"""Judge cards and tokens per stage (organisers only): who holds a live card, issue or re-issue
cards (one judge or every judge of the stage), revoke one.

A plain token and its PIN exist only in the request that issues them, so issuing *is*
downloading: the POST revokes the judge's old token, issues a new one, renders the 评委卡 PDF
and commits only once the PDF is made (a failed render leaves the old cards working). The
page lists states, never secrets.

Oversight (监审) may read the other organiser pages; not this one, which hands out access.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from flask import abort, current_app, flash, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange

from blueprints.access import require_roles
from blueprints.admin import bp
from blueprints.admin.forms import ConfirmForm
from blueprints.admin.views import _programme, _stage
from documents.judge_cards import beijing, card_for, judge_cards_pdf
from extensions import db
from models import Assignment, Judge, JudgeToken, Panel, PanelMember, Role, Stage
from models.base import utcnow
from services.judge_access import default_days, issue_card, revoke, token_state

organisers_only = require_roles(Role.organiser)
PDF = "application/pdf"
#: WeasyPrint lays out a card in about 60 ms (half of it the QR code's SVG): 300 cards keep a
#: request under 20 s, inside gunicorn's 30 s timeout; bigger stages are issued judge by judge.
MAX_CARDS = 300


class CardForm(FlaskForm):
    days = IntegerField(_l("有效天数"), validators=[
        InputRequired(message=_l("请填写有效天数")),
        NumberRange(min=1, max=366, message=_l("有效天数应在 1 到 366 之间"))])


@dataclass(frozen=True)
class JudgeRow:
    judge: Judge
    panels: list[str]
    state: str                   # active / expired / revoked / none
    token: JudgeToken | None     # the live token, else the latest one
    issued: int                  # how many cards were ever issued for this stage


def stage_judges(session, stage: Stage) -> list[Judge]:
    """The judges who work in the stage: its panels' members, its reviewers, and anyone who
    already holds a card for it."""
    ids = set(session.scalars(select(PanelMember.judge_id).join(Panel, PanelMember.panel_id == Panel.id)
                              .where(Panel.stage_id == stage.id)))
    ids |= set(session.scalars(select(Assignment.judge_id).where(Assignment.stage_id == stage.id)))
    ids |= set(session.scalars(select(JudgeToken.judge_id).where(JudgeToken.stage_id == stage.id)))
    if not ids:
        return []
    judges = session.scalars(select(Judge).where(Judge.id.in_(ids), Judge.programme_id == stage.programme_id)
                             .options(selectinload(Judge.person), selectinload(Judge.unit)))
    return sorted(judges, key=lambda j: (j.external_id, j.id))


def _state(tokens: list[JudgeToken], now: datetime) -> tuple[str, JudgeToken | None]:
    """The judge's live token if any, else the state of their latest one."""
    live = [t for t in tokens if token_state(t, now) == "active"]
    if live:
        return "active", max(live, key=lambda t: t.id)
    if not tokens:
        return "none", None
    latest = max(tokens, key=lambda t: t.id)
    return token_state(latest, now), latest


def _rows(stage: Stage) -> list[JudgeRow]:
    now = utcnow()
    judges = stage_judges(db.session, stage)
    tokens: dict[int, list[JudgeToken]] = {}
    for t in db.session.scalars(select(JudgeToken).where(JudgeToken.stage_id == stage.id)):
        tokens.setdefault(t.judge_id, []).append(t)
    panels: dict[int, list[str]] = {}
    for judge_id, name in db.session.execute(
            select(PanelMember.judge_id, Panel.name).join(Panel, PanelMember.panel_id == Panel.id)
            .where(Panel.stage_id == stage.id).order_by(Panel.name)):
        panels.setdefault(judge_id, []).append(name)
    rows = []
    for j in judges:
        state, token = _state(tokens.get(j.id, []), now)
        rows.append(JudgeRow(j, panels.get(j.id, []), state, token, len(tokens.get(j.id, []))))
    return rows


def _cards_response(prog, stage, judges: list[Judge], days: int, name: str):
    """Issue a card for each judge (revoking their old ones), render the PDF, then commit."""
    taken: set[str] = set()
    issued = [issue_card(db.session, j.id, stage.id, days=days, taken=taken) for j in judges]
    db.session.flush()
    base = current_app.config["PUBLIC_BASE_URL"]
    cards = [card_for(i, base) for i in issued]
    try:
        body = judge_cards_pdf(cards, title=f"{prog.name} · {stage.name} · {_('评委卡')}")
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return send_file(io.BytesIO(body), mimetype=PDF, as_attachment=True,
                     download_name=f"{prog.name}-{stage.name}-{name}.pdf")


def _back(prog, stage):
    return redirect(url_for("admin.stage_tokens", pid=prog.id, sid=stage.id))


def _stage_judge(stage: Stage, judge_id: int) -> Judge:
    judge = next((j for j in stage_judges(db.session, stage) if j.id == judge_id), None)
    if judge is None:
        abort(404)
    return judge


@bp.get("/programmes/<int:pid>/stages/<int:sid>/tokens")
@organisers_only
def stage_tokens(pid: int, sid: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    form = CardForm()
    form.days.data = default_days(stage)
    rows = _rows(stage)
    counts = {s: sum(1 for r in rows if r.state == s) for s in ("active", "expired", "revoked", "none")}
    return render_template("admin/tokens.html", prog=prog, stage=stage, rows=rows, counts=counts, form=form,
                           confirm=ConfirmForm(), beijing=beijing, max_cards=MAX_CARDS)


@bp.post("/programmes/<int:pid>/stages/<int:sid>/tokens/cards")
@organisers_only
def issue_stage_cards(pid: int, sid: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    form = CardForm()
    if not form.validate():
        for e in form.days.errors:
            flash(e, "error")
        return _back(prog, stage)
    judges = stage_judges(db.session, stage)
    if not judges:
        flash(_("本轮次还没有评委：请先组建评委组或分配评审。"), "error")
        return _back(prog, stage)
    if len(judges) > MAX_CARDS:
        flash(_("本轮次有 %(n)s 位评委，一次最多生成 %(m)s 张评委卡：请在下表中逐位发放。", n=len(judges),
                m=MAX_CARDS), "error")
        return _back(prog, stage)
    return _cards_response(prog, stage, judges, form.days.data, _("评委卡"))


@bp.post("/programmes/<int:pid>/stages/<int:sid>/tokens/judges/<int:judge_id>/card")
@organisers_only
def issue_judge_card(pid: int, sid: int, judge_id: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    judge = _stage_judge(stage, judge_id)
    form = CardForm()
    if not form.validate():
        for e in form.days.errors:
            flash(e, "error")
        return _back(prog, stage)
    return _cards_response(prog, stage, [judge], form.days.data, f"{_('评委卡')}-{judge.person.name}")


@bp.post("/programmes/<int:pid>/stages/<int:sid>/tokens/<int:token_id>/revoke")
@organisers_only
def revoke_token(pid: int, sid: int, token_id: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    ConfirmForm()  # CSRF is checked by CSRFProtect before we get here
    token = db.session.get(JudgeToken, token_id)
    if token is None or token.stage_id != stage.id:
        abort(404)
    name = token.judge.person.name
    if revoke(token):
        db.session.commit()
        flash(_("已停用 %(name)s 的评委卡（链接和PIN码同时失效）。", name=name), "success")
    else:
        flash(_("%(name)s 的评委卡已经停用。", name=name), "success")
    return _back(prog, stage)
