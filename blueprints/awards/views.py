"""Thin views over services.activities and services.awards: load, authorise, call, commit once."""
from __future__ import annotations

import io

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from blueprints.access import require_roles
from blueprints.awards import bp
from documents.charts import bar_chart
from extensions import db
from models import Programme, ProgrammeKind, Role, Unit
from models.base import beijing_today
from services import activities as act
from services import awards as aw
from services.sheets import Actor

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
organiser_only = require_roles(Role.organiser, read_roles=(Role.oversight,))
reporters = require_roles(Role.organiser, Role.unit_contact)


def _programme(pid: int) -> Programme:
    prog = db.session.get(Programme, pid)
    if prog is None or prog.kind != ProgrammeKind.unit_awards:
        abort(404)
    return prog


def _programmes() -> list[Programme]:
    return list(db.session.scalars(select(Programme).where(Programme.kind == ProgrammeKind.unit_awards)
                                   .order_by(Programme.year.desc(), Programme.id.desc())))


@bp.get("/")
@require_roles(Role.organiser, Role.unit_contact, read_roles=(Role.oversight,))
def index():
    progs = _programmes()
    if current_user.role == Role.unit_contact:
        if not progs:
            return render_template("awards/index.html", progs=progs)
        return redirect(url_for("awards.report", pid=progs[0].id))
    return render_template("awards/index.html", progs=progs)


# -- reporting --------------------------------------------------------------------------------

def _report_unit(prog: Programme) -> Unit | None:
    """The unit whose reports are shown: a contact's own; the one an organiser picked."""
    if current_user.role == Role.unit_contact:
        return current_user.unit
    code = (request.values.get("unit") or "").strip()
    return db.session.scalar(select(Unit).where(Unit.external_id == code)) if code else None


def _render_report(prog: Programme, unit: Unit | None, *, errors=None, typed=None, status: int = 200):
    plan = act.plan_for(prog)
    today = beijing_today()
    reports = {r.activity_code: r for r in act.reports_of(db.session, prog, unit.id)} if unit else {}
    hist = act.history(db.session, [r.id for r in reports.values()])
    inputs = act.unit_inputs(db.session, prog, unit.id, plan) if unit else None
    units = [] if current_user.role == Role.unit_contact else list(
        db.session.scalars(select(Unit).order_by(Unit.external_id)))
    rows = [{"activity": a, "report": reports.get(a.code), "locked": act.is_locked(a, today),
             "history": hist.get(reports[a.code].id, []) if a.code in reports else [],
             "errors": (errors or {}).get(a.code, {}), "typed": (typed or {}).get(a.code)}
            for a in plan.activities]
    return render_template("awards/report.html", prog=prog, plan=plan, unit=unit, units=units, rows=rows,
                           inputs=inputs, labels=act.LABELS,
                           organiser=current_user.role == Role.organiser), status


@bp.get("/<int:pid>/report")
@reporters
def report(pid: int):
    prog = _programme(pid)
    if current_user.role == Role.unit_contact and current_user.unit is None:
        abort(403)
    try:
        return _render_report(prog, _report_unit(prog))
    except act.ReportError as err:
        flash(err.message, "error")
        return redirect(url_for("awards.index"))


@bp.post("/<int:pid>/report/<code>")
@reporters
def save_report(pid: int, code: str):
    prog = _programme(pid)
    unit = _report_unit(prog)
    if current_user.role == Role.unit_contact:
        wanted = (request.form.get("unit") or "").strip()
        if unit is None or (wanted and wanted != unit.external_id):
            abort(403)      # a contact reports for their own unit only
    if unit is None:
        flash(_("请选择报送单位"), "error")
        return redirect(url_for("awards.report", pid=pid))
    try:
        saved = act.save_report(db.session, prog, unit, code, request.form, current_user,
                                reason=request.form.get("reason"))
    except IntegrityError:      # the same report created at the same moment from another device
        db.session.rollback()
        flash(_("同一时间有人保存了这期活动的报送，本次未保存。请查看最新内容后重新提交。"), "error")
        return _render_report(prog, unit, status=409)
    except act.ReportError as err:
        db.session.rollback()
        if err.status == 403:
            abort(403)
        flash(err.message, "error")
        if err.status in (404, 409) and not err.fields:
            return _render_report(prog, unit, status=err.status)
        return _render_report(prog, unit, errors={code: err.fields}, typed={code: request.form}, status=err.status)
    db.session.commit()
    if saved.changed:
        flash(_("已保存 %(label)s 的报送", label=act.plan_for(prog).get(code).label), "success")
    else:
        flash(_("内容与已报送的一致，未作修改"), "info")
    args = {"unit": unit.external_id} if current_user.role == Role.organiser else {}
    return redirect(url_for("awards.report", pid=pid, **args) + f"#act-{code}")


# -- the organiser's dashboard ----------------------------------------------------------------

def _charts(d) -> dict[str, str]:
    acts = [(f"{a.code} {a.title}", t.participants) for a, t in d.by_activity]
    events = [(f"{a.code} {a.title}", t.events_held) for a, t in d.by_activity]
    provs = [(p.name, t.participants) for p, t in d.by_province]
    units = [(u.name, inp["activities_joined"]) for u, _t, inp in d.by_unit[:30]]
    top = lambda items: max([v for _, v in items] + [1])  # noqa: E731
    return {
        "participants": bar_chart(acts, title=_("各期活动参与人数"), unit="", max_value=top(acts)),
        "events": bar_chart(events, title=_("各期活动场次"), unit="", max_value=top(events)),
        "provinces": bar_chart(provs, title=_("各省份参与人数"), unit="", max_value=top(provs)),
        "units": bar_chart(units, title=_("各单位参与期数（前 30 名，共 %(n)s 期）", n=len(d.plan)), unit="",
                           max_value=len(d.plan)),
    }


@bp.get("/<int:pid>/activities")
@organiser_only
def dashboard(pid: int):
    prog = _programme(pid)
    try:
        d = act.dashboard(db.session, prog)
    except act.ReportError as err:
        flash(err.message, "error")
        return redirect(url_for("awards.index"))
    return render_template("awards/dashboard.html", prog=prog, d=d, charts=_charts(d))


@bp.get("/<int:pid>/activities.xlsx")
@organiser_only
def dashboard_xlsx(pid: int):
    prog = _programme(pid)
    try:
        d = act.dashboard(db.session, prog)
    except act.ReportError as err:          # no plan for the year: say so, as the page does
        flash(err.message, "error")
        return redirect(url_for("awards.index"))
    data = act.totals_workbook(d, prog)
    return send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True,
                     download_name=f"{prog.name}-活动报送汇总.xlsx")


# -- the awards -------------------------------------------------------------------------------

@bp.get("/<int:pid>/")
@organiser_only
def overview(pid: int):
    prog = _programme(pid)
    try:
        ov = aw.overview(db.session, prog)
    except (act.ReportError, aw.AwardError) as err:
        flash(err.message, "error")
        return redirect(url_for("awards.index"))
    units = list(db.session.scalars(select(Unit).order_by(Unit.external_id)))
    return render_template("awards/overview.html", prog=prog, ov=ov, units=units, form=request.form)


@bp.post("/<int:pid>/nominations")
@organiser_only
def nominate(pid: int):
    prog = _programme(pid)
    try:
        entry = aw.nominate(db.session, prog, kind=request.form.get("kind", ""), unit_code=request.form.get("unit", ""),
                            person_name=request.form.get("person_name", ""), title=request.form.get("title", ""))
    except aw.AwardError as err:
        db.session.rollback()
        flash(err.message, "error")
        ov = aw.overview(db.session, prog)
        units = list(db.session.scalars(select(Unit).order_by(Unit.external_id)))
        return render_template("awards/overview.html", prog=prog, ov=ov, units=units, form=request.form,
                               errors=err.fields), err.status
    db.session.commit()
    flash(_("已添加推荐：%(id)s %(title)s", id=entry.external_id, title=entry.title), "success")
    return redirect(url_for("awards.overview", pid=pid))


@bp.post("/<int:pid>/computed")
@organiser_only
def sync_computed(pid: int):
    prog = _programme(pid)
    out = aw.sync_computed(db.session, prog, Actor(f"组织方 {current_user.username}", user_id=current_user.id))
    db.session.commit()
    flash(_("已按活动报送更新 %(n)s 个单位的计算项，%(m)s 个无变化。", n=out.updated, m=out.unchanged), "success")
    if out.refused:
        flash(_("以下单位未更新：%(list)s", list="；".join(out.refused)), "error")
    return redirect(url_for("awards.overview", pid=pid))
