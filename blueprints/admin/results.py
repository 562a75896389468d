"""Organiser results pages: each ranking of a stage with awards, promotion and the reasoning,
the Excel export, and promotion to the next stage.

The page computes the results afresh (services/results.py): nothing here edits a score or a
rank. Oversight (监审) reads the page and the export; the promotion buttons are organisers' only
(the blueprint guard refuses oversight's POSTs, and `organisers_only` says so explicitly).
"""
from __future__ import annotations

import io

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length, Optional

from blueprints.access import require_roles
from blueprints.admin import bp
from blueprints.admin.forms import ConfirmForm
from blueprints.admin.views import _programme, _stage
from documents.results_excel import ranking_filename, ranking_xlsx
from extensions import db
from models import Role
from services import results as svc

organisers_only = require_roles(Role.organiser)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class PromoteForm(FlaskForm):
    force_reason = StringField(_l("强制晋级原因（成绩尚未全部确认时填写）"), validators=[Optional(), Length(max=500)])


def _category_id(stage) -> int | None:
    """The category asked for, else the stage's first: a national stage is too big for one page."""
    cid = request.args.get("category", type=int)
    ids = [sc.category_id for sc in stage.stage_categories]
    if cid is not None:
        if cid not in ids:
            abort(404)
        return cid
    return ids[0] if ids else None


@bp.get("/programmes/<int:pid>/stages/<int:sid>/results")
def stage_results(pid: int, sid: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    cid = _category_id(stage)
    outcome = svc.stage_results(db.session, stage, category_id=cid) if cid is not None else None
    division = request.args.get("division", type=int)
    groups = [g for g in outcome.groups if division is None or (g.division is not None and g.division.id == division)] \
        if outcome else []
    categories = sorted((sc.category for sc in stage.stage_categories), key=lambda c: (c.sort, c.id))
    return render_template("admin/results.html", prog=prog, stage=stage, outcome=outcome, groups=groups,
                           categories=categories, category_id=cid, division=division,
                           form=PromoteForm(), confirm=ConfirmForm(), history=_history(stage))


def _history(stage) -> list[dict]:
    """Promotions out of this stage for the page: who, when, how many, why when forced."""
    ext = {}
    records = svc.promotion_history(db.session, stage)
    ids = {i for r in records for i in r.source_entry_ids}
    if ids:
        from sqlalchemy import select
        from models import Entry
        ext = dict(db.session.execute(select(Entry.id, Entry.external_id).where(Entry.id.in_(ids))).all())
    from models.base import in_beijing
    return [{"at": in_beijing(r.created_at).strftime("%Y-%m-%d %H:%M"), "kind": r.kind, "actor": r.actor, "forced_reason": r.forced_reason,
             "entries": [ext.get(i, str(i)) for i in r.source_entry_ids], "notes": r.notes} for r in records]


@bp.get("/programmes/<int:pid>/stages/<int:sid>/results.xlsx")
def stage_results_xlsx(pid: int, sid: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    cid = request.args.get("category", type=int)
    if cid is not None and cid not in [sc.category_id for sc in stage.stage_categories]:
        abort(404)
    snap = svc.snapshot(db.session, stage, category_id=cid)
    name = next((c["name"] for c in snap["categories"] if c["id"] == cid), None)
    return send_file(io.BytesIO(ranking_xlsx(snap)), mimetype=XLSX, as_attachment=True,
                     download_name=ranking_filename(snap, name))


@bp.post("/programmes/<int:pid>/stages/<int:sid>/promote")
@organisers_only
def promote_stage(pid: int, sid: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    back = url_for("admin.stage_results", pid=pid, sid=sid, category=request.args.get("category", type=int))
    form = PromoteForm()
    if not form.validate_on_submit():
        flash(_("请求无效，请刷新页面后重试"), "error")
        return redirect(back)
    to_stage = svc.next_stage(db.session, stage)
    if to_stage is None:
        flash(_("这是最后一个轮次，没有可晋级的下一轮次"), "error")
        return redirect(back)
    from flask_login import current_user
    actor = f"组织方 {current_user.username}"
    try:
        out = svc.promote_entries(db.session, stage, to_stage, actor, force_reason=form.force_reason.data,
                                  user=current_user)
    except svc.PromotionRefused as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(back)
    db.session.commit()
    flash(_("已晋级到“%(s)s”：新增 %(n)s 个作品，已在下一轮次 %(e)s 个，递补 %(r)s 个（未进入下一轮次）",
            s=to_stage.name, n=len(out.created), e=out.existing, r=len(out.reserves)), "success")
    for note in out.notes:
        flash(note, "info")
    return redirect(back)


@bp.post("/programmes/<int:pid>/stages/<int:sid>/promote-reserve/<int:entry_id>")
@organisers_only
def promote_reserve(pid: int, sid: int, entry_id: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    back = url_for("admin.stage_results", pid=pid, sid=sid, category=request.args.get("category", type=int))
    if not ConfirmForm().validate_on_submit():
        flash(_("请求无效，请刷新页面后重试"), "error")
        return redirect(back)
    to_stage = svc.next_stage(db.session, stage)
    if to_stage is None:
        abort(404)
    from flask_login import current_user
    try:
        e = svc.promote_reserve(db.session, stage, to_stage, entry_id, f"组织方 {current_user.username}",
                                user=current_user)
    except svc.PromotionRefused as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(back)
    db.session.commit()
    flash(_("递补作品 %(x)s 已进入“%(s)s”", x=e.external_id, s=to_stage.name), "success")
    return redirect(back)
