"""Organiser views for assignment: automatic runs, manual placement with conflict reasons,
locks, reassignment flags, draws by lot and the panel/schedule exports (Excel and PDF).
Thin: load, authorise (the blueprint guard: organisers everything, oversight GET only), call
`services.assignment` (which commits), flash, redirect."""
from __future__ import annotations

import io
from collections import defaultdict

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from blueprints.admin import bp
from blueprints.admin.forms import (GROUPING_LABELS, ROLE_LABELS, ConfirmForm, DrawForm, MoveForm, PanelRunForm,
                                    PlaceForm, ReviewRunForm)
from blueprints.admin.views import STAGE_KIND_LABELS, XLSX, _programme, _stage
from extensions import db
from models import (Assignment, AssignmentRun, DrawRecord, Entry, Judge, Panel, PanelMember, PanelRole,
                    ReassignmentFlag, StageKind, User)
from services import assignment as svc

PDF = "application/pdf"


def _user():
    return current_user._get_current_object()


def _back(pid, sid, **kw):
    return redirect(url_for("admin.assignment", pid=pid, sid=sid, **kw))


def _flash_errors(form) -> None:
    for name, errs in form.errors.items():
        label = getattr(form, name).label.text if hasattr(form, name) else name
        for e in errs:
            flash(f"{label}：{e}", "error")


def _panel_of(stage, panel_id: int) -> Panel:
    panel = db.session.get(Panel, panel_id)
    if panel is None or panel.stage_id != stage.id:
        abort(404)
    return panel


def _entry_of(stage, entry_id: int) -> Entry:
    entry = db.session.get(Entry, entry_id)
    if entry is None or entry.stage_id != stage.id:
        abort(404)
    return entry


def _member_of(stage, member_id: int) -> PanelMember:
    member = db.session.get(PanelMember, member_id)
    if member is None or member.panel.stage_id != stage.id:
        abort(404)
    return member


def _review_of(stage, aid: int) -> Assignment:
    a = db.session.get(Assignment, aid)
    if a is None or a.stage_id != stage.id:
        abort(404)
    return a


def _run_forms(stage):
    panel_form = PanelRunForm(prefix="p")
    review_form = ReviewRunForm(prefix="r")
    if request.method == "GET":
        panel_form.grouping.data = svc.default_grouping(stage)
        panel_form.distinct_provinces.data = bool(stage.avoid_province)
        panel_form.size.data = 9 if stage.kind == StageKind.final else 7
    return panel_form, review_form


@bp.get("/programmes/<int:pid>/assignment")
def assignment_home(pid: int):
    prog = _programme(pid)
    if not prog.stages:
        flash(_("请先添加轮次"), "error")
        return redirect(url_for("admin.programme", pid=pid))
    return _back(pid, prog.stages[0].id)


@bp.get("/programmes/<int:pid>/stages/<int:sid>/assignment")
def assignment(pid: int, sid: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    design = svc.stage_design(stage)
    division_id = request.args.get("division", type=int)
    category_id = request.args.get("category", type=int)
    panel_form, review_form = _run_forms(stage)

    runs = db.session.scalars(select(AssignmentRun).where(AssignmentRun.stage_id == stage.id)
                              .order_by(AssignmentRun.id.desc()).limit(10)).all()
    user_ids = {r.user_id for r in runs if r.user_id}
    flags = db.session.scalars(select(ReassignmentFlag).where(ReassignmentFlag.stage_id == stage.id,
                                                              ReassignmentFlag.resolved_at.is_(None))
                               .order_by(ReassignmentFlag.id)
                               .options(selectinload(ReassignmentFlag.entry),
                                        selectinload(ReassignmentFlag.judge).selectinload(Judge.person))).all()

    panels, counts, flag_panel, reviews, review_entries = [], {}, {}, {}, []
    if design == "panels":
        panels = svc.stage_panels(db.session, stage)
        counts = svc.panel_entry_counts(db.session, stage, panels)
        for f in flags:
            flag_panel[f.id] = next((p.id for p in panels if svc.in_scope(p, f.entry)), None)
        panels = svc.filter_panels(panels, division_id, category_id)
    else:
        q = select(Entry).where(Entry.stage_id == stage.id, Entry.status == "active")
        if division_id:
            q = q.where(Entry.division_id == division_id)
        if category_id:
            q = q.where(Entry.category_id == category_id)
        review_entries = db.session.scalars(q.order_by(Entry.category_id, Entry.draw_number, Entry.external_id)
                                            .options(selectinload(Entry.category))).all()
        reviews = defaultdict(list)
        for a in db.session.scalars(select(Assignment).where(Assignment.stage_id == stage.id)
                                    .options(selectinload(Assignment.judge).selectinload(Judge.person))):
            reviews[a.entry_id].append(a)
    last_reviews = next((r for r in runs if r.kind == "reviews" and r.status == "applied"), None)
    per_entry = (last_reviews.parameters or {}).get("per_entry", 5) if last_reviews else 5
    last_panels = next((r for r in runs if r.kind == "panels" and r.status == "applied"), None)
    panel_size = (last_panels.parameters or {}).get("size") if last_panels else None

    divisions = {d.id: d.name for d in prog.divisions}
    categories = {c.id: c.name for c in prog.categories}
    draws = [svc.draw_record_view(r, divisions, categories) for r in db.session.scalars(
        select(DrawRecord).where(DrawRecord.stage_id == stage.id).order_by(DrawRecord.id.desc()).limit(200))]
    entry_names = {}
    if draws:
        entry_names = dict(db.session.execute(select(Entry.id, Entry.external_id)
                                              .where(Entry.stage_id == stage.id)).all())
    user_ids |= {d.user_id for d in draws if d.user_id}
    users = dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids))).all()) \
        if user_ids else {}
    drawn = db.session.scalar(select(Entry.id).where(Entry.stage_id == stage.id, Entry.draw_number.is_not(None))
                              .limit(1)) is not None
    return render_template(
        "admin/assignment.html", prog=prog, stage=stage, design=design, panel_form=panel_form,
        review_form=review_form, draw_form=DrawForm(prefix="d"), confirm=ConfirmForm(), runs=runs, users=users,
        flags=flags, flag_panel=flag_panel, panels=panels, counts=counts, reviews=reviews,
        review_entries=review_entries, per_entry=per_entry, panel_size=panel_size, loads=svc.loads(db.session, stage), draws=draws,
        entry_names=entry_names, drawn=drawn, role_labels=ROLE_LABELS, grouping_labels=GROUPING_LABELS,
        stage_kind_labels=STAGE_KIND_LABELS, division_id=division_id, category_id=category_id)


@bp.post("/programmes/<int:pid>/stages/<int:sid>/assignment/run")
def run_assignment(pid: int, sid: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    if svc.stage_design(stage) == "panels":
        form = PanelRunForm(prefix="p")
        if not form.validate_on_submit():
            _flash_errors(form)
            return _back(pid, sid)
        run = svc.run_panels(
            db.session, stage, seed=form.seed.data or None, size=form.size.data,
            teacher_seats=form.teacher_seats.data, distinct_units=form.distinct_units.data,
            distinct_provinces=form.distinct_provinces.data, by=svc.GROUPINGS[form.grouping.data],
            max_panels=form.max_panels.data, min_scoring=form.min_scoring.data,
            home_division=form.home_division.data, keep_previous=form.keep_previous.data, user=_user())
        if run.status == "applied":
            s = run.summary
            flash(_("已自动组建 %(p)s 个评委组，用到 %(j)s 名评委，无回避冲突（随机种子 %(seed)s）",
                    p=s["panels"], j=s["judges_used"], seed=run.seed), "success")
    else:
        form = ReviewRunForm(prefix="r")
        if not form.validate_on_submit():
            _flash_errors(form)
            return _back(pid, sid)
        run = svc.run_reviews(db.session, stage, per_entry=form.per_entry.data, min_load=form.min_load.data,
                              max_load=form.max_load.data, seed=form.seed.data or None,
                              keep_previous=form.keep_previous.data, user=_user())
        if run.status == "applied":
            s = run.summary
            flash(_("已为 %(e)s 件作品各分配 %(r)s 名评审，每人 %(lo)s–%(hi)s 件，无回避冲突（随机种子 %(seed)s）",
                    e=s["entries"], r=s["per_entry"], lo=s["load_min"], hi=s["load_max"], seed=run.seed), "success")
    if run.status != "applied":
        flash(_("无法完成分配，数据未作任何修改：共 %(n)s 个原因，见“运行记录”", n=len(run.summary.get("reasons", []))),
              "error")
    return _back(pid, sid)


@bp.post("/programmes/<int:pid>/stages/<int:sid>/assignment/draw")
def draw(pid: int, sid: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    form = DrawForm(prefix="d")
    if not form.validate_on_submit():
        _flash_errors(form)
        return _back(pid, sid)
    try:
        records = svc.draw_stage(db.session, stage, seed=form.seed.data or None, reason=form.reason.data,
                                 user=_user())
    except svc.DrawRefused as exc:
        flash(exc.message, "error")
        return _back(pid, sid)
    n = sum(1 for r in records if r.kind == "order")
    flash(_("已抽签：%(n)s 组的出场顺序已确定，可用记录的随机种子复核", n=n), "success")
    return _back(pid, sid)


def _place_result(stage, target, form):
    judge = db.session.get(Judge, form.judge_id.data)
    if judge is None or judge.programme_id != stage.programme_id:
        flash(_("请选择本项目的评委"), "error")
        return False
    try:
        svc.place_judge(db.session, target, judge, role=form.role.data or PanelRole.member.value, user=_user())
    except svc.PlacementRefused as exc:
        flash(_("未能安排：%(reason)s", reason=exc.message), "error")
        return False
    flash(_("已安排 %(name)s（已锁定，重新分配时保留）", name=judge.person.name), "success")
    return True


@bp.route("/programmes/<int:pid>/stages/<int:sid>/assignment/panels/<int:panel_id>", methods=["GET", "POST"])
def assignment_panel(pid: int, sid: int, panel_id: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    panel = _panel_of(stage, panel_id)
    form = PlaceForm()
    if request.method == "POST":
        if form.validate_on_submit():
            _place_result(stage, panel, form)
        else:
            _flash_errors(form)
        return redirect(url_for("admin.assignment_panel", pid=pid, sid=sid, panel_id=panel.id))
    move = MoveForm()
    others = [p for p in svc.stage_panels(db.session, stage) if p.id != panel.id]
    move.target.choices = [(p.id, p.name) for p in others]
    members = sorted(panel.members, key=lambda m: (svc.ROLE_ORDER[m.role], m.judge.external_id))
    return render_template(
        "admin/assignment_panel.html", prog=prog, stage=stage, panel=panel, members=members, form=form,
        move=move, confirm=ConfirmForm(), candidates=svc.candidates(db.session, stage, panel),
        scope=len(svc.panel_scope(db.session, panel)), role_labels=ROLE_LABELS,
        design=svc.stage_design(stage))


@bp.route("/programmes/<int:pid>/stages/<int:sid>/assignment/entries/<int:entry_id>", methods=["GET", "POST"])
def assignment_entry(pid: int, sid: int, entry_id: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    entry = _entry_of(stage, entry_id)
    if svc.stage_design(stage) != "reviews":
        abort(404)
    form = PlaceForm()
    if request.method == "POST":
        if form.validate_on_submit():
            _place_result(stage, entry, form)
        else:
            _flash_errors(form)
        return redirect(url_for("admin.assignment_entry", pid=pid, sid=sid, entry_id=entry.id))
    reviewers = db.session.scalars(select(Assignment).where(Assignment.entry_id == entry.id)
                                   .options(selectinload(Assignment.judge).selectinload(Judge.person))).all()
    flags = db.session.scalars(select(ReassignmentFlag).where(ReassignmentFlag.entry_id == entry.id,
                                                              ReassignmentFlag.resolved_at.is_(None))).all()
    return render_template(
        "admin/assignment_entry.html", prog=prog, stage=stage, entry=entry, reviewers=reviewers, flags=flags,
        form=form, confirm=ConfirmForm(), candidates=svc.candidates(db.session, stage, entry))


@bp.post("/programmes/<int:pid>/stages/<int:sid>/assignment/members/<int:member_id>/<action>")
def panel_member_action(pid: int, sid: int, member_id: int, action: str):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    member = _member_of(stage, member_id)
    panel_id, name = member.panel_id, member.judge.person.name
    back = redirect(url_for("admin.assignment_panel", pid=pid, sid=sid, panel_id=panel_id))
    if action == "move":
        form = MoveForm()
        form.target.choices = [(p.id, p.name) for p in svc.stage_panels(db.session, stage)]
        if not form.validate_on_submit() or not form.target.data:
            flash(_("请选择要调往的评委组"), "error")
            return back
        target = _panel_of(stage, form.target.data)
        try:
            svc.move_member(db.session, member, target, user=_user())
        except svc.PlacementRefused as exc:
            flash(_("未能调整：%(reason)s", reason=exc.message), "error")
            return back
        flash(_("已将 %(name)s 调至“%(panel)s”（已锁定）", name=name, panel=target.name), "success")
        return back
    return _lock_or_remove(member, action, name, _("已将 %(name)s 移出评委组", name=name), back)


@bp.post("/programmes/<int:pid>/stages/<int:sid>/assignment/reviews/<int:aid>/<action>")
def review_action(pid: int, sid: int, aid: int, action: str):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    a = _review_of(stage, aid)
    entry_id, name = a.entry_id, a.judge.person.name
    back = redirect(url_for("admin.assignment_entry", pid=pid, sid=sid, entry_id=entry_id))
    return _lock_or_remove(a, action, name, _("已取消 %(name)s 对该作品的评审", name=name), back)


def _lock_or_remove(placement, action: str, name: str, removed_message: str, back):
    """Lock, unlock or remove a panel seat or a review assignment (the same three buttons)."""
    if action not in ("lock", "unlock", "remove"):
        abort(404)
    if not ConfirmForm().validate_on_submit():
        flash(_("页面已过期或表单无效，请刷新后重试。"), "error")
        return back
    if action == "remove":
        svc.remove_placement(db.session, placement)
        flash(removed_message, "success")
    else:
        svc.set_locked(db.session, placement, action == "lock")
        flash(_("已锁定 %(name)s：重新分配时保留", name=name) if action == "lock"
              else _("已解锁 %(name)s：重新分配时可调整", name=name), "success")
    return back


@bp.post("/programmes/<int:pid>/stages/<int:sid>/assignment/flags/<int:fid>/resolve")
def resolve_flag(pid: int, sid: int, fid: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    flag = db.session.get(ReassignmentFlag, fid)
    if flag is None or flag.stage_id != stage.id:
        abort(404)
    if ConfirmForm().validate_on_submit():
        svc.resolve_flag(db.session, flag)
        flash(_("已标记为已处理"), "success")
    return _back(pid, sid)


EXPORTS = {"panels": "评委组名单", "schedule": "评委日程"}
#: WeasyPrint lays out a dense table row in a few milliseconds: beyond these sizes a PDF
#: would keep a worker busy for half a minute, so it is asked for per division or category
#: (or as Excel, which has no limit).
PDF_MAX_ROWS = {"panels": 1500, "schedule": 4000}


@bp.get("/programmes/<int:pid>/stages/<int:sid>/assignment/export/<kind>.<fmt>")
def assignment_export(pid: int, sid: int, kind: str, fmt: str):
    from documents.panel_exports import panel_list_workbook, schedule_workbook
    from documents.pdf import render_pdf
    prog = _programme(pid)
    stage = _stage(prog, sid)
    if kind not in EXPORTS or fmt not in ("xlsx", "pdf"):
        abort(404)
    division_id = request.args.get("division", type=int)
    category_id = request.args.get("category", type=int)
    names = [stage.name, EXPORTS[kind]]
    if kind == "panels":
        data = svc.panel_list_data(db.session, stage, division_id=division_id, category_id=category_id)
    else:
        judge_id = request.args.get("judge", type=int)
        if judge_id is not None:
            judge = db.session.get(Judge, judge_id)
            if judge is None or judge.programme_id != prog.id:
                abort(404)
            names.append(judge.person.name)
        data = svc.schedule_data(db.session, stage, judge_id=judge_id, division_id=division_id,
                                 category_id=category_id)
    if data["scope"]:
        names.append(data["scope"].replace(" · ", "-"))
    if fmt == "pdf" and data["rows"] > PDF_MAX_ROWS[kind]:
        flash(_("%(doc)s共 %(n)s 行，整份 PDF 太大：请先按分赛区或赛项筛选后导出 PDF，或导出 Excel",
                doc=_(EXPORTS[kind]), n=data["rows"]), "error")
        return _back(pid, sid, division=division_id, category=category_id)
    if fmt == "xlsx":
        body = panel_list_workbook(data) if kind == "panels" else schedule_workbook(data)
    else:
        body = render_pdf("panels.html" if kind == "panels" else "judge_schedule.html", data)
    return send_file(io.BytesIO(body), mimetype=XLSX if fmt == "xlsx" else PDF, as_attachment=True,
                     download_name=f"{prog.name}-{'-'.join(names)}.{fmt}")
