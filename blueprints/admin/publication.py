"""Organiser publication pages: drafts (snapshot preview), 公示 with its end date, objections and
answers, finalising, new versions with a reason; every old version stays viewable.
Oversight may read (the blueprint guard refuses its POSTs)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints.admin import bp
from extensions import db
from models import Objection, Programme, Publication, PublicationStatus, Stage
from scoring.workdays import add_prc_working_days
from services import publication as svc


def _load(pid: int, sid: int) -> tuple[Programme, Stage]:
    stage = db.session.get(Stage, sid)
    if stage is None or stage.programme_id != pid:
        abort(404)
    return stage.programme, stage


def _pub(stage: Stage, pub_id: int) -> Publication:
    pub = db.session.get(Publication, pub_id)
    if pub is None or pub.stage_id != stage.id:
        abort(404)
    return pub


def _actor() -> str:
    return current_user.display_name or current_user.username


def _refused(err: svc.PublicationError, back: str):
    """Nothing was changed: roll back, then say why (409 for a lost race, else flash)."""
    db.session.rollback()
    if err.status == 409:
        return render_template("admin/publication_conflict.html", message=err.message, back=back), 409
    flash(err.message, "error")
    return redirect(back)


def _int(name: str) -> int | None:
    raw = (request.form.get(name) or "").strip()
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def status_labels() -> dict:
    return {PublicationStatus.draft: _("草稿"), PublicationStatus.public: _("公示中"),
            PublicationStatus.final: _("最终结果"), PublicationStatus.superseded: _("已被新版本取代")}


def _scope_label(stage: Stage, scope: str) -> str:
    cid = svc.category_of(scope)
    if cid is None:
        return _("全部赛项")
    sc = next((sc for sc in stage.stage_categories if sc.category_id == cid), None)
    return sc.category.name if sc else scope


@bp.get("/programmes/<int:pid>/stages/<int:sid>/publications")
def publications(pid: int, sid: int):
    prog, stage = _load(pid, sid)
    pubs = svc.versions(db.session, stage.id)
    scopes: dict[str, list[Publication]] = {}
    for p in pubs:
        scopes.setdefault(p.scope, []).append(p)
    latest = {s: v[0].version for s, v in scopes.items()}
    return render_template("admin/publications.html", prog=prog, stage=stage, scopes=scopes, latest=latest,
                           labels=status_labels(), scope_label=lambda s: _scope_label(stage, s))


@bp.post("/programmes/<int:pid>/stages/<int:sid>/publications")
def create_publication(pid: int, sid: int):
    prog, stage = _load(pid, sid)
    back = url_for("admin.publications", pid=pid, sid=sid)
    category_id = _int("category_id")
    if category_id is not None and category_id not in {sc.category_id for sc in stage.stage_categories}:
        flash(_("该赛项不属于本轮次。"), "error")
        return redirect(back)
    try:
        pub = svc.create_draft(db.session, stage, category_id=category_id, actor=_actor(),
                               reason=request.form.get("reason"), title=request.form.get("title"),
                               expected_version=_int("expected_version") or 0)
    except svc.PublicationError as err:
        return _refused(err, back)
    db.session.commit()
    flash(_("已生成第 %(v)s 版草稿，请核对后发布公示。", v=pub.version), "success")
    return redirect(url_for("admin.publication", pid=pid, sid=sid, pub_id=pub.id))


@bp.get("/programmes/<int:pid>/stages/<int:sid>/publications/<int:pub_id>")
def publication(pid: int, sid: int, pub_id: int):
    prog, stage = _load(pid, sid)
    pub = _pub(stage, pub_id)
    others = svc.versions(db.session, stage.id, pub.scope)
    entries = {r["entry_id"]: r for r in svc.snapshot_rows(pub.snapshot)}
    return render_template("admin/publication.html", prog=prog, stage=stage, pub=pub, others=others,
                           labels=status_labels(), scope_label=_scope_label(stage, pub.scope),
                           entries=entries, today=svc.china_today(),
                           preview_until=add_prc_working_days(svc.china_today(), 5),
                           is_latest=others and others[0].id == pub.id, unanswered=svc.unanswered(pub))


def _action(pid, sid, pub_id, fn, ok_message):
    prog, stage = _load(pid, sid)
    pub = _pub(stage, pub_id)
    back = url_for("admin.publication", pid=pid, sid=sid, pub_id=pub.id)
    try:
        result = fn(stage, pub)
    except svc.PublicationError as err:
        return _refused(err, back)
    db.session.commit()
    flash(ok_message(result), "success")
    return redirect(back if result is not None else url_for("admin.publications", pid=pid, sid=sid))


@bp.post("/programmes/<int:pid>/stages/<int:sid>/publications/<int:pub_id>/publish")
def publish_publication(pid: int, sid: int, pub_id: int):
    days = _int("days")
    return _action(pid, sid, pub_id,
                   lambda stage, pub: svc.publish(db.session, pub, _actor(), days=5 if days is None else days),
                   lambda pub: _("已发布公示，公示期至 %(d)s。", d=pub.objection_until.isoformat()))


@bp.post("/programmes/<int:pid>/stages/<int:sid>/publications/<int:pub_id>/discard")
def discard_publication(pid: int, sid: int, pub_id: int):
    return _action(pid, sid, pub_id, lambda stage, pub: svc.discard_draft(db.session, pub, _actor()),
                   lambda _r: _("草稿已删除。"))


@bp.post("/programmes/<int:pid>/stages/<int:sid>/publications/<int:pub_id>/finalise")
def finalise_publication(pid: int, sid: int, pub_id: int):
    return _action(pid, sid, pub_id,
                   lambda stage, pub: svc.finalise(db.session, pub, _actor(),
                                                   force_reason=request.form.get("force_reason")),
                   lambda pub: _("已确认为最终结果。"))


@bp.post("/programmes/<int:pid>/stages/<int:sid>/publications/<int:pub_id>/objections")
def record_objection(pid: int, sid: int, pub_id: int):
    return _action(pid, sid, pub_id,
                   lambda stage, pub: svc.record_objection(
                       db.session, pub, submitted_by=request.form.get("submitted_by", ""),
                       text=request.form.get("text", ""), entry_id=_int("entry_id"), actor=_actor()),
                   lambda obj: _("已登记异议。"))


@bp.post("/programmes/<int:pid>/stages/<int:sid>/publications/<int:pub_id>/objections/<int:oid>/answer")
def answer_objection(pid: int, sid: int, pub_id: int, oid: int):
    def run(stage, pub):
        obj = db.session.get(Objection, oid)
        if obj is None or obj.publication_id != pub.id:
            abort(404)
        upheld = {"yes": True, "no": False}.get(request.form.get("upheld", ""))
        return svc.answer_objection(db.session, obj, outcome=request.form.get("outcome", ""),
                                    upheld=upheld, actor=_actor())
    return _action(pid, sid, pub_id, run, lambda obj: _("已答复异议。"))
