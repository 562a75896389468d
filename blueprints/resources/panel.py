"""形式审查 by the format-check panel: a judge with a card for the 形式审查 stage checks the
resources the panel covers (less conflicts) on the judge layout, with the same checklist and
the same service as the organiser (services.resources.decide)."""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from blueprints.judge.views import judge_required
from blueprints.resources import bp
from extensions import db
from models import ResourceSubmission, StageKind
from services import resources as svc


def _panel_queue() -> list[ResourceSubmission]:
    """The submitted resources the judge may check: the stage must be a 形式审查 stage, and the
    judge expected on the resource's entry (its panel, less conflicts)."""
    js = g.judge_session
    if js.stage.kind != StageKind.format_check:
        abort(404)
    prog = js.stage.programme
    return [s for s in svc.queue(db.session, prog) if svc.judge_can_view(db.session, s, js.judge.id, js.stage)]


@bp.get("/resources/check/")
@judge_required(declared=False)
def panel_queue():
    return render_template("resources/panel_queue.html", queue=_panel_queue())


@bp.route("/resources/check/<int:sid>", methods=["GET", "POST"])
@judge_required(declared=False)
def panel_check(sid: int):
    js = g.judge_session
    sub = next((s for s in _panel_queue() if s.id == sid), None)
    if sub is None:
        abort(404)
    prog = js.stage.programme
    if request.method == "POST":
        try:
            svc.decide(db.session, prog, sub, outcome=request.form.get("outcome", ""),
                       failed=request.form.getlist("failed"), note=request.form.get("note", ""),
                       actor=f"评委 {js.judge.external_id} {js.judge.person.name}")
        except svc.ResourceError as err:
            db.session.rollback()
            flash(err.message, "error")
            return redirect(url_for("resources.panel_check", sid=sid))
        db.session.commit()
        flash(_("已通过形式审查。") if sub.status.value == "passed" else _("已退回修改，单位将看到退回原因。"), "success")
        return redirect(url_for("resources.panel_queue"))
    return render_template("resources/panel_check.html", sub=sub, items=svc.checklist(prog))
