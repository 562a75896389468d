"""Attendance: the tablet register per half-day, the room's QR check-in and leave requests.

Organisers (oversight reads):
  `/training/<pid>/attendance?slot=<id>` — the register of one half-day, one row per active
    trainee with 出勤 / 缺勤 / 请假 buttons. Each button is a plain form post to
    `/training/<pid>/attendance/<slot>/mark`, so the page works without script; with
    static/js/attendance.js the same post goes through fetch and answers JSON.
  `/training/<pid>/attendance/<slot>/all-present` — fill the unmarked rows with 出勤.
  `/training/<pid>/attendance/<slot>/code` (POST) — a fresh QR check-in code, rendered at once on
    a projector page. The plain code is never in an organiser URL: only the QR carries it.
  `/training/<pid>/leave` — leave requests, recording one, approving or rejecting it.

Public: `/t/<code>` — the page the QR opens on a trainee's phone: name and the last four digits
of the phone number, rate-limited per client address.

Views stay thin: `services.training` does the work and refuses with a Chinese message; a view
commits once per request and rolls back on a refusal.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Optional

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange
from wtforms.validators import Optional as OptionalValue

from blueprints.training import bp
from blueprints.training.common import organiser_only, session_or_404
from extensions import db
from models import Half, LeaveStatus, Programme, Role, TrainingSlot
from models.base import BEIJING, in_beijing
from documents.judge_cards import qr_svg
from scoring.assessment import attendance_rate
from services import ratelimit
from services import training as svc

CHECKIN_LIMIT = (300, 600)          # POSTs per client address and window: a whole class shares the venue Wi-Fi address


# -- forms ------------------------------------------------------------------------------------------

class MarkForm(FlaskForm):
    """One tap on the register: the trainee and the state (present/absent/excused/clear)."""
    trainee_id = IntegerField(validators=[DataRequired(message=_l("请选择学员"))])
    status = StringField(validators=[DataRequired(message=_l("请选择考勤状态"))])


class PlainForm(FlaskForm):
    """CSRF only: the bulk 全部标为出勤."""


class CodeForm(FlaskForm):
    minutes = IntegerField(_l("有效时间（分钟）"), default=svc.CHECKIN_MINUTES,
                           validators=[OptionalValue(),
                                       NumberRange(min=1, max=svc.MAX_CHECKIN_MINUTES,
                                                   message=_l("签到码有效时间应为 1 到 %(max)s 分钟",
                                                              max=svc.MAX_CHECKIN_MINUTES))])


class CheckinForm(FlaskForm):
    name = StringField(_l("姓名"), validators=[DataRequired(message=_l("请填写姓名")), Length(max=64)])
    phone_tail = StringField(_l("手机号后四位"),
                             validators=[DataRequired(message=_l("请填写手机号后四位")), Length(max=16)])


class LeaveForm(FlaskForm):
    trainee_id = SelectField(_l("学员"), coerce=int, validate_choice=False)
    slot_id = SelectField(_l("请假时段"), coerce=int, validate_choice=False)
    reason = TextAreaField(_l("请假事由"), validators=[DataRequired(message=_l("请填写请假事由")),
                                                       Length(max=500, message=_l("请假事由不能超过 500 个字"))])


class DecideForm(FlaskForm):
    approve = StringField(validators=[DataRequired()])


# -- helpers ----------------------------------------------------------------------------------------

def _actor() -> str:
    return current_user.display_name or current_user.username


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _first_error(form: FlaskForm) -> str:
    for errors in form.errors.values():
        for e in errors:
            return str(e)
    return _("表单无效，请刷新后重试。")


def _slot_of(prog: Programme, slot_id: int) -> TrainingSlot:
    slot = db.session.get(TrainingSlot, slot_id) if 0 < slot_id < 2**31 else None
    if slot is None or slot.programme_id != prog.id:
        abort(404)
    return slot


def half_label(slot: TrainingSlot) -> str:
    return _("上午") if slot.half == Half.am else _("下午")


def day_label(slot: TrainingSlot) -> str:
    return _("%(m)s月%(d)s日", m=slot.day.month, d=slot.day.day)


def _default_slot(slots: list[TrainingSlot]) -> Optional[TrainingSlot]:
    """Today's current half-day while the session runs, else the first half-day."""
    if not slots:
        return None
    now = datetime.now(BEIJING)
    half = Half.am if now.hour < 12 else Half.pm
    for s in slots:
        if s.day == now.date() and s.half == half:
            return s
    return slots[0]


def _excused_weight(prog: Programme) -> Decimal:
    try:
        att = svc.scheme(db.session, prog).rubric.attendance
    except svc.TrainingError:
        return Decimal(0)
    return Decimal(str(att.excused_weight)) if att is not None else Decimal(0)


@dataclass
class Register:
    """Everything the register page and a JSON answer need, from one read of the marks."""
    prog: Programme
    slots: list[TrainingSlot]
    counted: list[TrainingSlot]
    trainees: list
    marks: dict
    leaves: dict
    excused_weight: Decimal

    def status(self, trainee_id: int, slot_id: int) -> Optional[str]:
        m = self.marks.get((trainee_id, slot_id))
        return m.status.value if m is not None else None

    def counts(self, slot_id: int) -> dict[str, int]:
        c = {"present": 0, "absent": 0, "excused": 0, "unmarked": 0, "expected": len(self.trainees)}
        for t in self.trainees:
            c[self.status(t.id, slot_id) or "unmarked"] += 1
        return c

    def rate(self, trainee_id: int) -> Optional[Decimal]:
        """The assessment's own rate over the half-days begun so far; None before the first."""
        return attendance_rate([self.status(trainee_id, s.id) or "none" for s in self.counted], self.excused_weight)

    def rate_text(self, trainee_id: int) -> str:
        r = self.rate(trainee_id)
        if r is None:
            return "—"
        pct = (r * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP).normalize()
        return f"{format(pct, 'f')}%"

    def leave(self, trainee_id: int, slot_id: int):
        return self.leaves.get((trainee_id, slot_id))


def _register(prog: Programme) -> Register:
    slots = svc.slots_of(db.session, prog)
    return Register(prog=prog, slots=slots, counted=svc.counted_slots(slots, datetime.now(BEIJING)),
                    trainees=svc.trainees_of(db.session, prog, active_only=True),
                    marks=svc.marks_by_slot(db.session, prog),
                    leaves={(lv.trainee_id, lv.slot_id): lv for lv in svc.leaves_of(db.session, prog)},
                    excused_weight=_excused_weight(prog))


def status_labels() -> dict[str, str]:
    return {"present": _("出勤"), "absent": _("缺勤"), "excused": _("请假"), "clear": _("清除")}


def source_labels() -> dict[str, str]:
    return {"tablet": _("平板"), "qr": _("扫码"), "leave": _("请假审批"), "import": _("导入")}


# -- the register -------------------------------------------------------------------------------------

@bp.get("/training/<int:pid>/attendance")
@organiser_only
def attendance(pid: int):
    prog = session_or_404(pid)
    reg = _register(prog)
    slot = None
    if request.args.get("slot"):
        try:
            slot = _slot_of(prog, int(request.args["slot"]))
        except ValueError:
            abort(404)
    else:
        slot = _default_slot(reg.slots)
    days: dict = {}
    for s in reg.slots:
        days.setdefault(s.day, []).append(s)
    return render_template("training/attendance.html", prog=prog, reg=reg, slot=slot, days=days,
                           form=MarkForm(), plain_form=PlainForm(), code_form=CodeForm(),
                           labels=status_labels(), sources=source_labels(), half_label=half_label,
                           day_label=day_label, in_beijing=in_beijing,
                           can_edit=current_user.role == Role.organiser,
                           max_minutes=svc.MAX_CHECKIN_MINUTES)


@bp.post("/training/<int:pid>/attendance/<int:slot_id>/mark")
@organiser_only
def mark(pid: int, slot_id: int):
    prog = session_or_404(pid)
    slot = _slot_of(prog, slot_id)
    form = MarkForm()
    back = url_for("training.attendance", pid=prog.id, slot=slot.id)
    trainee_id = None
    try:
        if not form.validate_on_submit():
            raise svc.TrainingError(_first_error(form))
        trainee_id = form.trainee_id.data
        status = (form.status.data or "").strip()
        if status not in ("present", "absent", "excused", "clear"):
            raise svc.TrainingError(_("考勤状态无效，应为 出勤 / 缺勤 / 请假 或 清除"))
        svc.set_mark(db.session, prog, trainee_id, slot.id, None if status == "clear" else status,
                     source="tablet", actor=_actor())
    except svc.TrainingError as e:
        db.session.rollback()
        if _wants_json():
            return jsonify({"error": e.message}), e.status
        flash(e.message, "error")
        return redirect(f"{back}#t-{trainee_id}" if trainee_id else back, 303)
    db.session.commit()
    reg = _register(prog)
    now_status = reg.status(trainee_id, slot.id)
    if _wants_json():
        m = reg.marks.get((trainee_id, slot.id))
        return jsonify({"ok": True, "trainee_id": trainee_id, "status": now_status, "counts": reg.counts(slot.id),
                        "rate": reg.rate_text(trainee_id),
                        "mark": _mark_note(m)})
    t = next((t for t in reg.trainees if t.id == trainee_id), None)
    if t is not None:
        flash(_("%(name)s：%(state)s", name=t.name,
                state=status_labels()[now_status] if now_status else _("已清除")), "success")
    return redirect(f"{back}#t-{trainee_id}", 303)


def _mark_note(m) -> str:
    """How and when a mark was set, e.g. 扫码 09:02."""
    if m is None:
        return ""
    return f"{source_labels().get(m.source, m.source)} {in_beijing(m.marked_at).strftime('%H:%M')}"


@bp.post("/training/<int:pid>/attendance/<int:slot_id>/all-present")
@organiser_only
def all_present(pid: int, slot_id: int):
    prog = session_or_404(pid)
    slot = _slot_of(prog, slot_id)
    back = url_for("training.attendance", pid=prog.id, slot=slot.id)
    if not PlainForm().validate_on_submit():
        flash(_("页面已过期或表单无效，请刷新后重试。"), "error")
        return redirect(back, 303)
    reg = _register(prog)
    done = 0
    try:
        for t in reg.trainees:
            if reg.status(t.id, slot.id) is None:
                svc.set_mark(db.session, prog, t.id, slot.id, "present", source="tablet", actor=_actor())
                done += 1
    except svc.TrainingError as e:
        db.session.rollback()
        flash(e.message, "error")
        return redirect(back, 303)
    db.session.commit()
    if done:
        flash(_("已将 %(n)s 名未记考勤的学员标为出勤（%(slot)s）", n=done, slot=slot.label), "success")
    else:
        flash(_("%(slot)s 所有学员都已记考勤，没有改动", slot=slot.label), "success")
    return redirect(back, 303)


# -- the room's QR code -------------------------------------------------------------------------------

@bp.post("/training/<int:pid>/attendance/<int:slot_id>/code")
@organiser_only
def issue_code(pid: int, slot_id: int):
    prog = session_or_404(pid)
    slot = _slot_of(prog, slot_id)
    form = CodeForm()
    back = url_for("training.attendance", pid=prog.id, slot=slot.id)
    try:
        if not form.validate_on_submit():
            raise svc.TrainingError(_first_error(form))
        minutes = form.minutes.data if form.minutes.data is not None else svc.CHECKIN_MINUTES
        code, plain = svc.issue_checkin_code(db.session, prog, slot.id, minutes=minutes, actor=_actor())
    except svc.TrainingError as e:
        db.session.rollback()
        flash(e.message, "error")
        return redirect(back, 303)
    db.session.commit()
    # the public address, as on judge cards and certificates: the projector's host may be an
    # internal name that trainees' phones cannot reach
    url = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for("training.checkin", code=plain)
    resp = current_app.make_response(render_template(
        "training/checkin_screen.html", prog=prog, slot=slot, qr=qr_svg(url), url=url, minutes=minutes,
        expires=in_beijing(code.expires_at).strftime("%H:%M"),
        expires_full=in_beijing(code.expires_at).strftime("%Y-%m-%d %H:%M"),
        form=CodeForm(formdata=None, minutes=minutes), back=back, max_minutes=svc.MAX_CHECKIN_MINUTES))
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


# -- the trainee's phone ------------------------------------------------------------------------------

def _checkin_page(template_args: dict, status: int = 200):
    resp = current_app.make_response((render_template("training/checkin.html", **template_args), status))
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.route("/t/<code>", methods=["GET", "POST"])
def checkin(code: str):
    form = CheckinForm()
    if request.method == "POST":
        limit, window = current_app.config.get("RATE_LIMIT_CHECKIN", CHECKIN_LIMIT)
        allowed = ratelimit.allow(db.session, f"checkin:{ratelimit.client_key()}", int(limit), int(window))
        db.session.commit()             # the attempt is recorded either way
        if not allowed:
            return _checkin_page({"state": "limited", "form": form,
                                  "message": _("尝试次数过多，请稍后再试，或请工作人员在平板上签到。")}, 429)
    try:
        live = svc.live_code(db.session, code)
    except svc.TrainingError as e:
        return _checkin_page({"state": "dead", "form": None, "message": e.message}, e.status)
    slot = live.slot
    prog = db.session.get(Programme, slot.programme_id)
    args = {"state": "form", "form": form, "prog": prog, "slot": slot, "message": None}
    if request.method == "GET":
        return _checkin_page(args)
    if not form.validate_on_submit():
        return _checkin_page({**args, "message": _first_error(form)}, 422)
    try:
        trainee, slot, new = svc.checkin(db.session, code, form.name.data, form.phone_tail.data)
    except svc.TrainingError as e:
        db.session.rollback()
        if e.status in (404, 410):     # the code died between the page and the post
            return _checkin_page({"state": "dead", "form": None, "message": e.message}, e.status)
        return _checkin_page({**args, "message": e.message}, 422)
    db.session.commit()
    return _checkin_page({"state": "done" if new else "already", "form": None, "prog": prog, "slot": slot,
                          "name": trainee.name, "message": None})


# -- leave --------------------------------------------------------------------------------------------

def _leave_form(prog: Programme, reg: Register, formdata=True) -> LeaveForm:
    form = LeaveForm() if formdata else LeaveForm(formdata=None)
    form.trainee_id.choices = [(0, _("请选择学员"))] + [
        (t.id, f"{t.external_id} {t.name} · {t.unit.name}") for t in reg.trainees]
    form.slot_id.choices = [(0, _("请选择时段"))] + [
        (s.id, f"{s.label}{' · ' + s.title if s.title else ''}") for s in reg.slots]
    return form


def _leave_page(prog: Programme, reg: Register, form: LeaveForm, status: int = 200):
    return render_template("training/leave.html", prog=prog, leaves=svc.leaves_of(db.session, prog), form=form,
                           decide_form=DecideForm(formdata=None), labels=svc.LEAVE_LABELS, in_beijing=in_beijing,
                           LeaveStatus=LeaveStatus,
                           can_edit=current_user.role == Role.organiser), status


@bp.route("/training/<int:pid>/leave", methods=["GET", "POST"])
@organiser_only
def leave(pid: int):
    prog = session_or_404(pid)
    reg = _register(prog)
    form = _leave_form(prog, reg)
    if request.method == "GET":
        if request.args.get("trainee", "").isdigit():
            form.trainee_id.data = int(request.args["trainee"])
        if request.args.get("slot", "").isdigit():
            form.slot_id.data = int(request.args["slot"])
        return _leave_page(prog, reg, form)
    try:
        if not form.validate_on_submit():
            raise svc.TrainingError(_first_error(form))
        if not form.trainee_id.data:
            raise svc.TrainingError(_("请选择学员"))
        if not form.slot_id.data:
            raise svc.TrainingError(_("请选择请假时段"))
        lv = svc.request_leave(db.session, prog, form.trainee_id.data, form.slot_id.data, form.reason.data,
                               actor=_actor())
    except svc.TrainingError as e:
        db.session.rollback()
        flash(e.message, "error")
        return _leave_page(prog, reg, form, 400 if e.status != 404 else 404)
    db.session.commit()
    flash(_("已登记 %(name)s %(slot)s 的请假，待审批", name=lv.trainee.name, slot=lv.slot.label), "success")
    return redirect(url_for("training.leave", pid=prog.id), 303)


@bp.post("/training/<int:pid>/leave/<int:leave_id>/decide")
@organiser_only
def decide(pid: int, leave_id: int):
    prog = session_or_404(pid)
    form = DecideForm()
    back = url_for("training.leave", pid=prog.id)
    try:
        if not form.validate_on_submit() or form.approve.data not in ("0", "1"):
            raise svc.TrainingError(_("请选择批准或不批准"))
        approve = form.approve.data == "1"
        lv = svc.decide_leave(db.session, prog, leave_id, approve, actor=_actor())
        name, label = lv.trainee.name, lv.slot.label
    except svc.TrainingError as e:
        db.session.rollback()
        flash(e.message, "error")
        return redirect(back, 303)
    db.session.commit()
    if approve:
        flash(_("已批准 %(name)s %(slot)s 的请假，该半天记为请假", name=name, slot=label), "success")
    else:
        flash(_("未批准 %(name)s %(slot)s 的请假", name=name, slot=label), "success")
    return redirect(back, 303)
