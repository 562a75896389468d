"""Organiser pages of a training session: overview, roster, marks, outcomes, the outcome list
for publication and certificates, the Excel roster, and the cross-session report."""
from __future__ import annotations

import io

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from blueprints.training import bp
from blueprints.training.common import organiser_only, session_or_404
from extensions import db
from models import (CertificateKind, Judge, Panel, Programme, ProgrammeKind, Publication, ScoreSheet,
                    Trainee)
from models.scores import SheetStatus
from services import training as svc
from services.publication import PublicationError, create_draft, latest

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _actor() -> str:
    return f"组织方 {current_user.username}"


def _scheme_or_message(prog: Programme):
    try:
        sch = svc.ensure_structure(db.session, prog)
    except svc.TrainingError as err:
        return None, err.message
    db.session.commit()
    return sch, None


def _outcome_or_message(prog: Programme, **kw):
    try:
        return svc.outcomes(db.session, prog, **kw), None
    except svc.TrainingError as err:
        return None, err.message


@bp.get("/training/")
@organiser_only
def index():
    progs = db.session.scalars(select(Programme).where(Programme.kind == ProgrammeKind.training)
                               .order_by(Programme.year.desc(), Programme.starts_on, Programme.name)).all()
    counts = dict(db.session.execute(select(Trainee.programme_id, func.count()).where(Trainee.status == "active")
                                     .group_by(Trainee.programme_id)).all())
    return render_template("training/index.html", progs=progs, counts=counts)


@bp.get("/training/<int:pid>/")
@organiser_only
def overview(pid: int):
    prog = session_or_404(pid)
    sch, problem = _scheme_or_message(prog)
    so, problem2 = (None, None) if sch is None else _outcome_or_message(prog)
    slots = svc.slots_of(db.session, prog)
    panels, sheets, instructors = [], 0, 0
    if sch is not None:
        panels = db.session.scalars(select(Panel).where(Panel.stage_id == sch.stage.id)).all()
        sheets = db.session.scalar(select(func.count()).select_from(ScoreSheet).where(
            ScoreSheet.stage_id == sch.stage.id, ScoreSheet.status != SheetStatus.draft))
        instructors = db.session.scalar(select(func.count()).select_from(Judge).where(Judge.programme_id == prog.id))
    pub = latest(db.session, sch.stage.id, _scope(sch)) if sch is not None else None
    return render_template("training/overview.html", prog=prog, sch=sch, so=so, problem=problem or problem2,
                           slots=slots, hours=svc.training_hours(slots), panels=panels, sheets=sheets,
                           instructors=instructors, pub=pub)


@bp.get("/training/<int:pid>/roster")
@organiser_only
def roster(pid: int):
    prog = session_or_404(pid)
    trainees = svc.trainees_of(db.session, prog)
    slots = svc.slots_of(db.session, prog)
    marks = svc.marks_by_slot(db.session, prog)
    present = {}
    for t in trainees:
        present[t.id] = sum(1 for s in slots if (t.id, s.id) in marks and marks[(t.id, s.id)].status == "present")
    return render_template("training/roster.html", prog=prog, trainees=trainees, slots=slots, present=present)


@bp.post("/training/<int:pid>/roster/<int:tid>/status")
@organiser_only
def trainee_status(pid: int, tid: int):
    prog = session_or_404(pid)
    t = db.session.get(Trainee, tid)
    if t is None or t.programme_id != prog.id:
        abort(404)
    status = request.form.get("status")
    if status not in ("active", "withdrawn"):
        flash(_("学员状态无效"), "error")
        return redirect(url_for("training.roster", pid=pid))
    t.status = status
    svc.sync_entries(db.session, prog)
    db.session.commit()
    flash(_("%(name)s 已退出培训，不再参加考核", name=t.name) if status == "withdrawn"
          else _("%(name)s 已恢复为在训学员", name=t.name), "success")
    return redirect(url_for("training.roster", pid=pid))


@bp.route("/training/<int:pid>/marks", methods=["GET", "POST"])
@organiser_only
def marks(pid: int):
    """Marks for the scheme's `source: score` components (e.g. 过程作业), typed as a table:
    the whole table is saved or, on any bad cell, nothing is."""
    prog = session_or_404(pid)
    sch, problem = _scheme_or_message(prog)
    if sch is None:
        return render_template("training/marks.html", prog=prog, problem=problem, comps=[], trainees=[], values={},
                               errors={})
    comps = [c for c in sch.rubric.components if c.source == "score"]
    trainees = svc.trainees_of(db.session, prog, active_only=True)
    stored = svc.component_marks(db.session, prog)
    values = {f"{t.id}:{c.id}": stored.get((t.id, c.id), "") for t in trainees for c in comps}
    errors: dict[str, str] = {}
    if request.method == "POST":
        posted = []
        for t in trainees:
            for c in comps:
                key = f"{t.id}:{c.id}"
                if key not in request.form:
                    continue
                values[key] = request.form[key].strip()
                posted.append((t, c, values[key]))
                if values[key]:
                    try:
                        svc.parse_mark(values[key], c.max)   # every cell checked before anything is written
                    except svc.TrainingError as err:
                        errors[key] = f"{t.name}：{err.message}"
        if not errors:
            for t, c, value in posted:
                svc.set_component_mark(db.session, prog, t.id, c.id, value, actor=_actor())
        if errors:
            flash(_("有 %(n)s 处分数有误，本次未保存任何分数，请修改标红的单元格后重新保存。", n=len(errors)), "error")
            return render_template("training/marks.html", prog=prog, comps=comps, trainees=trainees, values=values,
                                   errors=errors, problem=None), 422
        db.session.commit()
        flash(_("分数已保存"), "success")
        return redirect(url_for("training.marks", pid=pid))
    return render_template("training/marks.html", prog=prog, comps=comps, trainees=trainees, values=values,
                           errors=errors, problem=None)


def _scope(sch: svc.Scheme) -> str:
    return f"category:{sch.roster_category.id}"


@bp.get("/training/<int:pid>/outcomes")
@organiser_only
def outcomes(pid: int):
    prog = session_or_404(pid)
    so, problem = _outcome_or_message(prog)
    pubs = []
    if so is not None:
        pubs = db.session.scalars(select(Publication).where(Publication.stage_id == so.scheme.stage.id,
                                                            Publication.scope == _scope(so.scheme))
                                  .order_by(Publication.version.desc())).all()
    return render_template("training/outcomes.html", prog=prog, so=so, problem=problem, pubs=pubs,
                           kind=CertificateKind.completion)


@bp.post("/training/<int:pid>/outcomes/publication")
@organiser_only
def create_outcome_publication(pid: int):
    """Freeze the outcome list (结业名单 with 优秀学员) as a publication draft; the organiser then
    publishes, finalises and issues 结业证书 through the common publication pages."""
    prog = session_or_404(pid)
    back = url_for("training.outcomes", pid=pid)
    try:
        so = svc.outcomes(db.session, prog)
        snap = svc.outcome_snapshot(db.session, prog, so)
        prev = latest(db.session, so.scheme.stage.id, _scope(so.scheme))
        pub = create_draft(db.session, so.scheme.stage, category_id=so.scheme.roster_category.id, actor=_actor(),
                           reason=request.form.get("reason"), snapshot=snap,
                           title=f"{prog.name} 结业及优秀学员名单",
                           expected_version=prev.version if prev else 0)
    except (svc.TrainingError, PublicationError) as err:
        flash(err.message, "error")
        return redirect(back)
    db.session.commit()
    flash(_("已生成第 %(v)s 版结业名单草稿，请核对后发布公示。", v=pub.version), "success")
    return redirect(url_for("admin.publication", pid=pid, sid=so.scheme.stage.id, pub_id=pub.id))


@bp.get("/training/<int:pid>/roster.xlsx")
@organiser_only
def roster_xlsx(pid: int):
    from documents.training_excel import roster_workbook
    prog = session_or_404(pid)
    so, problem = _outcome_or_message(prog)
    if so is None:
        flash(problem, "error")
        return redirect(url_for("training.overview", pid=pid))
    data = roster_workbook(prog, so)
    return send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True,
                     download_name=f"{prog.name}-学员考核成绩.xlsx")


@bp.get("/training/report")
@organiser_only
def report():
    """Pass rates and score distributions across sessions, with the ones out of line."""
    from documents.charts import bar_chart, box_plot
    years = [y for (y,) in db.session.execute(select(Programme.year).where(Programme.kind == ProgrammeKind.training)
                                              .distinct().order_by(Programme.year.desc()))]
    year = request.args.get("year", type=int) or (years[0] if years else None)
    progs = db.session.scalars(select(Programme).where(Programme.kind == ProgrammeKind.training,
                                                       Programme.year == year)
                               .order_by(Programme.starts_on, Programme.id)).all() if year else []
    summaries = svc.session_summaries(db.session, progs)
    flagged = {i for i, s in enumerate(summaries) if s.flags_zh}
    short = [_short(s.name) for s in summaries]
    charts = {}
    if summaries:
        charts["pass"] = bar_chart([(n, None if s.pass_rate is None else s.pass_rate * 100)
                                    for n, s in zip(short, summaries)],
                                   title=_("各期结业率"), unit="%", max_value=100, highlight=flagged)
        charts["box"] = box_plot([(n, s.totals) for n, s in zip(short, summaries)],
                                 title=_("各期总评分布"), lo=0, hi=100, highlight=flagged)
    totals = {"trainees": sum(s.trainees for s in summaries), "passed": sum(s.passed for s in summaries),
              "failed": sum(s.failed for s in summaries), "pending": sum(s.pending for s in summaries),
              "excellent": sum(s.excellent for s in summaries)}
    decided = totals["passed"] + totals["failed"]
    totals["rate"] = totals["passed"] / decided if decided else None
    return render_template("training/report.html", years=years, year=year, summaries=summaries, charts=charts,
                           totals=totals, progs={p.id: p for p in progs})


def _short(name: str) -> str:
    """A session's name without the year prefix, for chart labels."""
    import re
    m = re.search(r"[（(](.+?)[)）]", name)
    return m.group(1) if m else name
