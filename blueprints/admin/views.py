"""Thin views: load, authorise (blueprint guard), call a service, commit once, redirect."""
from __future__ import annotations

import io
from collections import defaultdict

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from blueprints.admin import bp
from blueprints.admin.forms import (HISTORY_LABELS, ROLE_LABELS, STAGE_KIND_LABELS, CategoryForm,
                                    ConfirmForm, ImportForm, PanelForm, PanelMemberForm,
                                    ProgrammeForm, RubricBindingForm, StageForm)
from extensions import db
from models import (Category, Division, Entry, HistoryConflict, ImportBatch, Judge, Panel, ProgrammeKind,
                    PanelMember, PanelRole, Programme, Stage, StageCategory, StageKind)
from services.programme_templates import TEMPLATES, create_from_template
from services.rubric_registry import rubric_set

IMPORT_KINDS = {"units": "单位", "judges": "评委", "entries": "参赛作品", "trainees": "培训学员",
                "activity_reports": "活动报送"}
_KIND_ONLY_FOR = {"trainees": ProgrammeKind.training, "activity_reports": ProgrammeKind.unit_awards}


def import_kinds_for(prog: Programme) -> dict[str, str]:
    """The lists a programme imports: trainees only for a training session, activity reports
    only for the year's unit awards."""
    return {k: v for k, v in IMPORT_KINDS.items() if _KIND_ONLY_FOR.get(k, prog.kind) == prog.kind}


def _programme(pid: int) -> Programme:
    prog = db.session.get(Programme, pid)
    if prog is None:
        abort(404)
    return prog


def _stage(prog: Programme, sid: int) -> Stage:
    stage = db.session.get(Stage, sid)
    if stage is None or stage.programme_id != prog.id:
        abort(404)
    return stage


def _kind_labels():
    return {"competition": _("辅导员大赛"), "training": _("教师培训"),
            "resource_selection": _("资源遴选"), "unit_awards": _("优秀组织单位")}


@bp.get("/")
def index():
    form = ProgrammeForm()
    form.template.choices = [(k, t.label) for k, t in TEMPLATES.items()]
    programmes = db.session.scalars(select(Programme).order_by(Programme.year.desc(), Programme.id)).all()
    entry_counts = dict(db.session.execute(
        select(Stage.programme_id, func.count(Entry.id)).join(Entry, Entry.stage_id == Stage.id)
        .group_by(Stage.programme_id)).all())
    judge_counts = dict(db.session.execute(
        select(Judge.programme_id, func.count(Judge.id)).group_by(Judge.programme_id)).all())
    return render_template("admin/index.html", form=form, programmes=programmes,
                           entry_counts=entry_counts, judge_counts=judge_counts,
                           kind_labels=_kind_labels())


@bp.post("/programmes")
def create_programme():
    form = ProgrammeForm()
    form.template.choices = [(k, t.label) for k, t in TEMPLATES.items()]
    if not form.validate_on_submit():
        for field, errs in form.errors.items():
            for e in errs:
                flash(f"{getattr(form, field).label.text}：{e}", "error")
        return redirect(url_for("admin.index"))
    tpl = TEMPLATES[form.template.data]
    name = (form.name.data or "").strip() or tpl.name.format(year=form.year.data)
    if db.session.scalar(select(Programme.id).filter_by(kind=tpl.kind, year=form.year.data, name=name)):
        flash(_("项目“%(name)s”已存在", name=name), "error")
        return redirect(url_for("admin.index"))
    prog = create_from_template(db.session, form.template.data, form.year.data, name=name,
                                host=form.host.data or None, partner=form.partner.data or None,
                                starts_on=form.starts_on.data, ends_on=form.ends_on.data)
    db.session.commit()
    flash(_("已创建项目“%(name)s”", name=prog.name), "success")
    return redirect(url_for("admin.programme", pid=prog.id))


def division_category_counts(stage: Stage) -> tuple[list, list, dict, dict, dict, int]:
    """Entries per (division, category) for one stage, in one GROUP BY query."""
    rows = db.session.execute(
        select(Entry.division_id, Entry.category_id, func.count(Entry.id))
        .where(Entry.stage_id == stage.id, Entry.status == "active")
        .group_by(Entry.division_id, Entry.category_id)).all()
    cells = {(d, c): n for d, c, n in rows}
    by_div: dict = defaultdict(int)
    by_cat: dict = defaultdict(int)
    for (d, c), n in cells.items():
        by_div[d] += n
        by_cat[c] += n
    divisions = list(stage.programme.divisions)
    if None in by_div:
        divisions = divisions + [None]
    return divisions, list(stage.programme.categories), cells, by_div, by_cat, sum(cells.values())


@bp.get("/programmes/<int:pid>")
def programme(pid: int):
    prog = _programme(pid)
    stage_id = request.args.get("stage", type=int)
    stage = next((s for s in prog.stages if s.id == stage_id), prog.stages[0] if prog.stages else None)
    counts = division_category_counts(stage) if stage else None
    rs = rubric_set()
    batches = db.session.scalars(select(ImportBatch).filter_by(programme_id=prog.id)
                                 .order_by(ImportBatch.id.desc()).limit(5)).all()
    stage_counts = dict(db.session.execute(
        select(Entry.stage_id, func.count(Entry.id)).join(Stage).where(Stage.programme_id == prog.id)
        .group_by(Entry.stage_id)).all())
    judge_count = db.session.scalar(select(func.count(Judge.id)).filter_by(programme_id=prog.id))
    return render_template("admin/programme.html", prog=prog, stage=stage, counts=counts, rs=rs,
                           batches=batches, stage_counts=stage_counts, judge_count=judge_count,
                           kind_labels=_kind_labels(), stage_kind_labels=STAGE_KIND_LABELS,
                           history_labels=HISTORY_LABELS, import_kinds=import_kinds_for(prog))



@bp.route("/programmes/<int:pid>/stages/new", methods=["GET", "POST"])
def new_stage(pid: int):
    prog = _programme(pid)
    form = StageForm()
    if form.validate_on_submit():
        seq = max((s.seq for s in prog.stages), default=0) + 1
        stage = Stage(programme=prog, seq=seq, kind=StageKind(form.kind.data), name=form.name.data.strip(),
                      by_division=form.by_division.data, avoid_province=form.avoid_province.data,
                      anonymous=form.anonymous.data,
                      history_conflict=HistoryConflict(form.history_conflict.data),
                      starts_on=form.starts_on.data, ends_on=form.ends_on.data)
        db.session.add(stage)
        db.session.commit()
        flash(_("已添加轮次“%(name)s”", name=stage.name), "success")
        return redirect(url_for("admin.edit_stage", pid=prog.id, sid=stage.id))
    return render_template("admin/stage.html", prog=prog, stage=None, form=form)


@bp.route("/programmes/<int:pid>/stages/<int:sid>", methods=["GET", "POST"])
def edit_stage(pid: int, sid: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    form = StageForm(obj=stage) if request.method == "GET" else StageForm()
    if request.method == "GET":
        form.kind.data = stage.kind.value
        form.history_conflict.data = stage.history_conflict.value
    if form.validate_on_submit():
        stage.kind = StageKind(form.kind.data)
        stage.name = form.name.data.strip()
        stage.by_division = form.by_division.data
        stage.avoid_province = form.avoid_province.data
        stage.anonymous = form.anonymous.data
        stage.history_conflict = HistoryConflict(form.history_conflict.data)
        stage.starts_on, stage.ends_on = form.starts_on.data, form.ends_on.data
        db.session.commit()
        flash(_("已保存轮次设置"), "success")
        return redirect(url_for("admin.edit_stage", pid=prog.id, sid=stage.id))
    rs = rubric_set()
    binding = RubricBindingForm(prefix="rb")
    binding.category_id.choices = [(c.id, c.name) for c in prog.categories]
    binding.rubric_ref.choices = sorted((ref, f"{ref}（{r.title.zh}）") for ref, r in rs.rubrics.items())
    return render_template("admin/stage.html", prog=prog, stage=stage, form=form, binding=binding, rs=rs)


@bp.post("/programmes/<int:pid>/stages/<int:sid>/rubric")
def bind_rubric(pid: int, sid: int):
    prog = _programme(pid)
    stage = _stage(prog, sid)
    rs = rubric_set()
    form = RubricBindingForm(prefix="rb")
    form.category_id.choices = [(c.id, c.name) for c in prog.categories]
    form.rubric_ref.choices = [(ref, ref) for ref in rs.rubrics]
    if not form.validate_on_submit():
        flash(_("请选择赛项和有效的评分标准"), "error")
        return redirect(url_for("admin.edit_stage", pid=pid, sid=sid))
    sc = db.session.get(StageCategory, (stage.id, form.category_id.data))
    if sc is None:
        sc = StageCategory(stage_id=stage.id, category_id=form.category_id.data, rubric_ref=form.rubric_ref.data)
        db.session.add(sc)
    else:
        sc.rubric_ref = form.rubric_ref.data
    db.session.commit()
    flash(_("已设置评分标准"), "success")
    return redirect(url_for("admin.edit_stage", pid=pid, sid=sid))


@bp.route("/programmes/<int:pid>/categories", methods=["GET", "POST"])
def categories(pid: int):
    prog = _programme(pid)
    form = CategoryForm()
    if form.validate_on_submit():
        if any(c.code == form.code.data for c in prog.categories):
            form.code.errors.append(_("代码“%(code)s”已被使用", code=form.code.data))
        else:
            minutes = form.time_limit_minutes.data
            prog.categories.append(Category(
                code=form.code.data, name=form.name.data.strip(), name_en=form.name_en.data or None,
                entry_kind=form.entry_kind.data, group=form.group.data or None,
                time_limit_seconds=minutes * 60 if minutes else None,
                sort=max((c.sort for c in prog.categories), default=-1) + 1))
            db.session.commit()
            flash(_("已添加赛项“%(name)s”", name=form.name.data), "success")
            return redirect(url_for("admin.categories", pid=pid))
    return render_template("admin/categories.html", prog=prog, form=form)


@bp.route("/programmes/<int:pid>/panels", methods=["GET", "POST"])
def panels(pid: int):
    prog = _programme(pid)
    stage = next((s for s in prog.stages if s.id == request.args.get("stage", type=int)),
                 prog.stages[0] if prog.stages else None)
    if stage is None:
        flash(_("请先添加轮次"), "error")
        return redirect(url_for("admin.programme", pid=pid))
    form = PanelForm()
    form.category_id.choices = [(0, _("全部赛项"))] + [(c.id, c.name) for c in prog.categories]
    form.division_id.choices = [(0, _("不分赛区"))] + [(d.id, d.name) for d in prog.divisions]
    if form.validate_on_submit():
        name = form.name.data.strip()
        if db.session.scalar(select(Panel.id).filter_by(stage_id=stage.id, name=name)):
            form.name.errors.append(_("本轮次已有同名评委组"))
        else:
            db.session.add(Panel(stage_id=stage.id, name=name, category_id=form.category_id.data or None,
                                 division_id=form.division_id.data or None))
            db.session.commit()
            flash(_("已创建评委组“%(name)s”", name=name), "success")
            return redirect(url_for("admin.panels", pid=pid, stage=stage.id))
    panel_list = db.session.scalars(select(Panel).filter_by(stage_id=stage.id).order_by(Panel.name)).all()
    return render_template("admin/panels.html", prog=prog, stage=stage, form=form, panels=panel_list,
                           member_form=PanelMemberForm(), confirm=ConfirmForm(), role_labels=ROLE_LABELS)


def _panel(prog: Programme, panel_id: int) -> Panel:
    panel = db.session.get(Panel, panel_id)
    if panel is None or panel.stage.programme_id != prog.id:
        abort(404)
    return panel


@bp.post("/programmes/<int:pid>/panels/<int:panel_id>/members")
def add_panel_member(pid: int, panel_id: int):
    prog = _programme(pid)
    panel = _panel(prog, panel_id)
    form = PanelMemberForm()
    back = redirect(url_for("admin.panels", pid=pid, stage=panel.stage_id))
    if not form.validate_on_submit():
        for errs in form.errors.values():
            for e in errs:
                flash(e, "error")
        return back
    ref = form.judge_ref.data.strip()
    judge = db.session.scalar(select(Judge).filter_by(programme_id=prog.id, external_id=ref))
    if judge is None:
        flash(_("评委编号“%(ref)s”不存在", ref=ref), "error")
        return back
    if any(m.judge_id == judge.id for m in panel.members):
        flash(_("%(name)s 已在本评委组中", name=judge.person.name), "error")
        return back
    role = PanelRole(form.role.data)
    if role == PanelRole.chief and any(m.role == PanelRole.chief for m in panel.members):
        flash(_("每个评委组只能有一名评委组长，请先移除现任组长"), "error")
        return back
    if role == PanelRole.teacher_seat and not judge.is_school_teacher:
        flash(_("%(name)s 不是中小学教师，不能占用教师席位", name=judge.person.name), "error")
        return back
    from services.assignment import panel_conflict
    conflict = panel_conflict(db.session, panel, judge)
    if conflict is not None:   # a panel judges every entry in its scope: one conflict bars the seat
        entry = db.session.get(Entry, conflict.entry_id)
        flash(_("不能加入：%(name)s 须回避本组作品 %(entry)s——%(reason)s", name=judge.person.name,
                entry=f"{entry.external_id}《{entry.title}》", reason=conflict.message), "error")
        return back
    db.session.add(PanelMember(panel_id=panel.id, judge_id=judge.id, role=role, locked=True))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        flash(_("无法添加：评委组已变化，请刷新后重试"), "error")
        return back
    flash(_("已将 %(name)s 加入“%(panel)s”", name=judge.person.name, panel=panel.name), "success")
    return back


@bp.post("/programmes/<int:pid>/panels/<int:panel_id>/members/<int:member_id>/remove")
def remove_panel_member(pid: int, panel_id: int, member_id: int):
    prog = _programme(pid)
    panel = _panel(prog, panel_id)
    form = ConfirmForm()
    member = db.session.get(PanelMember, member_id)
    if member is None or member.panel_id != panel.id:
        abort(404)
    if form.validate_on_submit():
        db.session.delete(member)
        db.session.commit()
        flash(_("已移除"), "success")
    return redirect(url_for("admin.panels", pid=pid, stage=panel.stage_id))


@bp.get("/programmes/<int:pid>/entries")
def entries(pid: int):
    prog = _programme(pid)
    stage = next((s for s in prog.stages if s.id == request.args.get("stage", type=int)),
                 prog.stages[0] if prog.stages else None)
    if stage is None:
        abort(404)
    q = select(Entry).filter_by(stage_id=stage.id)
    division_id = request.args.get("division", type=int)
    category_id = request.args.get("category", type=int)
    if division_id:
        q = q.filter_by(division_id=division_id)
    if category_id:
        q = q.filter_by(category_id=category_id)
    page = db.paginate(q.order_by(Entry.division_id, Entry.category_id, Entry.draw_number, Entry.id),
                       per_page=100, error_out=False)
    return render_template("admin/entries.html", prog=prog, stage=stage, page=page,
                           division_id=division_id, category_id=category_id)


@bp.get("/programmes/<int:pid>/judges")
def judges(pid: int):
    prog = _programme(pid)
    page = db.paginate(select(Judge).filter_by(programme_id=prog.id).order_by(Judge.external_id),
                       per_page=100, error_out=False)
    return render_template("admin/judges.html", prog=prog, page=page)


@bp.route("/programmes/<int:pid>/import/<kind>", methods=["GET", "POST"])
def import_file(pid: int, kind: str):
    from services.imports import run_import
    prog = _programme(pid)
    if kind not in import_kinds_for(prog):
        abort(404)
    form = ImportForm()
    form.stage_id.choices = [(s.id, s.name) for s in prog.stages]
    if form.validate_on_submit():
        stage = None
        if kind == "entries":
            stage = next((s for s in prog.stages if s.id == form.stage_id.data), None)
            if stage is None:
                form.stage_id.errors.append(_("请选择轮次"))
                return render_template("admin/import.html", prog=prog, kind=kind, form=form,
                                       kind_label=IMPORT_KINDS[kind])
        upload = form.file.data
        batch = run_import(db.session, kind, upload.filename or "upload", upload.read(), prog,
                           stage=stage, user=current_user)
        if batch.status == "applied":
            flash(_("导入成功：新增 %(c)s 条，更新 %(u)s 条", c=batch.rows_created, u=batch.rows_updated), "success")
        else:
            flash(_("导入未执行：发现 %(n)s 处错误，数据未作任何修改。请修改后重新导入。",
                    n=len(batch.errors)), "error")
        return redirect(url_for("admin.import_batch", pid=pid, bid=batch.id))
    return render_template("admin/import.html", prog=prog, kind=kind, form=form, kind_label=IMPORT_KINDS[kind])


@bp.get("/programmes/<int:pid>/imports")
def imports(pid: int):
    prog = _programme(pid)
    batches = db.session.scalars(select(ImportBatch).filter_by(programme_id=prog.id)
                                 .order_by(ImportBatch.id.desc())).all()
    return render_template("admin/imports.html", prog=prog, batches=batches, import_kinds=IMPORT_KINDS)


@bp.get("/programmes/<int:pid>/imports/<int:bid>")
def import_batch(pid: int, bid: int):
    prog = _programme(pid)
    batch = db.session.get(ImportBatch, bid)
    if batch is None or batch.programme_id != prog.id:
        abort(404)
    return render_template("admin/import_batch.html", prog=prog, batch=batch, import_kinds=IMPORT_KINDS)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/programmes/<int:pid>/template/<kind>.xlsx")
def download_template(pid: int, kind: str):
    from documents.excel import template_workbook
    prog = _programme(pid)
    if kind not in import_kinds_for(prog):
        abort(404)
    data = template_workbook(kind, programme=prog)
    return send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True,
                     download_name=f"{IMPORT_KINDS[kind]}导入模板.xlsx")


@bp.get("/programmes/<int:pid>/export/<kind>.<fmt>")
def export(pid: int, kind: str, fmt: str):
    from documents.excel import export_table
    prog = _programme(pid)
    if kind not in import_kinds_for(prog) or fmt not in ("xlsx", "csv"):
        abort(404)
    stage = None
    if kind == "entries":
        sid = request.args.get("stage", type=int)
        stage = _stage(prog, sid) if sid else (prog.stages[0] if prog.stages else None)
    data = export_table(db.session, kind, prog, stage=stage, fmt=fmt)
    mimetype = XLSX if fmt == "xlsx" else "text/csv; charset=utf-8"
    suffix = f"-{stage.name}" if stage else ""
    return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True,
                     download_name=f"{prog.name}-{IMPORT_KINDS[kind]}{suffix}.{fmt}")
