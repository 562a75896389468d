"""Organiser pages of a resource call: the overview per type and status, the format-check
queue and decisions, the start of 初评, the shortlist into 终评, the selection, its publication
and the Excel list. Assignment, judging and stage results use the common admin pages."""
from __future__ import annotations

import io

from flask import flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from blueprints.resources import bp
from blueprints.resources.common import actor, call_or_404, organiser_only
from extensions import db
from models import ResourceSubmission, StageKind
from services import resources as svc
from services.publication import PublicationError, create_draft, latest, versions

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/resources/calls/")
@organiser_only
def calls():
    return render_template("resources/calls.html", calls=svc.calls(db.session), last_day=svc.last_day)


@bp.get("/resources/<int:pid>/")
@organiser_only
def call(pid: int):
    prog = call_or_404(pid)
    ov = svc.overview(db.session, prog)
    stages = {k: svc.stage_of(prog, k) for k in StageKind}
    return render_template("resources/call.html", prog=prog, ov=ov, status_zh=svc.STATUS_ZH, stages=stages,
                           deadline=svc.last_day(prog), SK=StageKind)


@bp.get("/resources/<int:pid>/check")
@organiser_only
def check_queue(pid: int):
    prog = call_or_404(pid)
    return render_template("resources/queue.html", prog=prog, queue=svc.queue(db.session, prog))


@bp.post("/resources/<int:pid>/r/<int:sid>/decide")
@organiser_only
def decide(pid: int, sid: int):
    prog = call_or_404(pid)
    sub = db.session.get(ResourceSubmission, sid)
    if sub is None or sub.programme_id != prog.id:
        return redirect(url_for("resources.check_queue", pid=pid))
    try:
        svc.decide(db.session, prog, sub, outcome=request.form.get("outcome", ""),
                   failed=request.form.getlist("failed"), note=request.form.get("note", ""), actor=actor())
    except svc.ResourceError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("resources.detail", pid=pid, sid=sid))
    db.session.commit()
    flash(_("已通过形式审查。") if sub.status.value == "passed" else _("已退回修改，单位将看到退回原因。"), "success")
    nxt = svc.queue(db.session, prog)
    return redirect(url_for("resources.detail", pid=pid, sid=nxt[0].id) if nxt
                    else url_for("resources.check_queue", pid=pid))


@bp.post("/resources/<int:pid>/preliminary")
@organiser_only
def start_preliminary(pid: int):
    prog = call_or_404(pid)
    try:
        created = svc.start_preliminary(db.session, prog)
    except svc.ResourceError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("resources.call", pid=pid))
    db.session.commit()
    flash(_("已将 %(n)s 件通过形式审查的资源列入初评，请分配评审专家。", n=len(created)), "success")
    st = svc.stage_of(prog, StageKind.preliminary_review)
    return redirect(url_for("admin.assignment", pid=pid, sid=st.id))


def _stage_picks(prog, kind, per_type, min_score):
    st = svc.stage_of(prog, kind)
    if st is None:
        return None, [], []
    try:
        groups, warnings = svc.picks(db.session, st, per_type, min_score)
    except svc.ResourceError as err:
        return st, [], [err.message]
    return st, groups, warnings


@bp.get("/resources/<int:pid>/results")
@organiser_only
def results(pid: int):
    prog = call_or_404(pid)
    s = svc.settings_of(db.session, prog)
    pre = _stage_picks(prog, StageKind.preliminary_review, s.shortlist_per_type, s.shortlist_min_score)
    fin = _stage_picks(prog, StageKind.final_review, s.select_per_type, s.select_min_score)
    pubs = versions(db.session, fin[0].id, "stage") if fin[0] is not None else []
    return render_template("resources/results.html", prog=prog, s=s, pre=pre, fin=fin, pubs=pubs)


@bp.post("/resources/<int:pid>/rule")
@organiser_only
def set_rule(pid: int):
    prog = call_or_404(pid)
    f = request.form
    try:
        svc.set_rule(db.session, prog, shortlist_per_type=f.get("shortlist_per_type"),
                     shortlist_min_score=f.get("shortlist_min_score"), select_per_type=f.get("select_per_type"),
                     select_min_score=f.get("select_min_score"))
    except svc.ResourceError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("resources.results", pid=pid))
    db.session.commit()
    flash(_("入围和入选规则已保存。"), "success")
    return redirect(url_for("resources.results", pid=pid))


@bp.post("/resources/<int:pid>/shortlist")
@organiser_only
def shortlist(pid: int):
    prog = call_or_404(pid)
    try:
        created = svc.shortlist(db.session, prog, force_reason=request.form.get("force_reason"))
    except svc.ResourceError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("resources.results", pid=pid))
    db.session.commit()
    flash(_("已将 %(n)s 件资源列入终评，请为终评组建专家组。", n=len(created)), "success")
    return redirect(url_for("resources.results", pid=pid))


@bp.post("/resources/<int:pid>/selection/publication")
@organiser_only
def create_selection_publication(pid: int):
    """Freeze the selected list as a publication draft; the common publication pages publish
    it (公示), finalise it and issue the 入选证书."""
    prog = call_or_404(pid)
    fin = svc.stage_of(prog, StageKind.final_review)
    try:
        snap = svc.selection_snapshot(db.session, prog)
        prev = latest(db.session, fin.id, "stage")
        pub = create_draft(db.session, fin, actor=actor(), reason=request.form.get("reason"), snapshot=snap,
                           title=f"{prog.name} 入选名单", expected_version=prev.version if prev else 0)
    except (svc.ResourceError, PublicationError) as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("resources.results", pid=pid))
    db.session.commit()
    flash(_("已生成第 %(v)s 版入选名单草稿，请核对后发布公示。", v=pub.version), "success")
    return redirect(url_for("admin.publication", pid=pid, sid=fin.id, pub_id=pub.id))


@bp.get("/resources/<int:pid>/selection.xlsx")
@organiser_only
def selection_xlsx(pid: int):
    from documents.resource_excel import selection_xlsx as build
    prog = call_or_404(pid)
    try:
        snap = svc.selection_snapshot(db.session, prog, only_selected=False)
    except svc.ResourceError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("resources.results", pid=pid))
    return send_file(io.BytesIO(build(snap)), mimetype=XLSX, as_attachment=True,
                     download_name=f"{prog.name}-入选名单.xlsx")
