"""Activity reporting for the year's joint action: units' figures per activity, the
organiser's corrections, totals for the dashboard and the figures the award rubric computes.

Reports belong to the year's award programme (ProgrammeKind.unit_awards): the activities and
their deadlines come from the plan of that programme's year (scoring.activity.load_plan).
A unit contact reports for their own unit only, until the activity's deadline; after it the
report is locked and only an organiser may change it, with a reason. Every write appends an
ActivityReportEvent. Nothing here commits: views (and the importer) own the transaction.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import (ActivityReport, ActivityReportEvent, Programme, ProgrammeKind, Province, Role, Unit,
                    User)
from models.base import beijing_today, utcnow
from scoring.activity import Plan, PlanError, Report, award_inputs, load_plan, totals_by

PLAN_DIR = Path(__file__).resolve().parent.parent / "data" / "joint-action"
FIELDS = ("events_held", "participants", "media_reports", "materials_on")
LABELS = {"events_held": "活动场次", "participants": "参与人数", "media_reports": "媒体报道（篇）",
          "materials_on": "材料报送日期"}
MAX_COUNT = 100_000_000


class ReportError(Exception):
    """A refused report. `message` is Chinese for the page; `fields` maps a field to its error."""

    def __init__(self, message: str, fields: Mapping[str, str] | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.fields = dict(fields or {})
        self.status = status


def plan_for(prog: Programme) -> Plan:
    try:
        return load_plan(PLAN_DIR, prog.year)
    except PlanError as err:
        raise ReportError(f"没有找到 {prog.year} 年联合行动的活动计划（{err}）", status=409) from err


def award_programme_or_none(prog: Programme | None) -> Programme | None:
    return prog if prog is not None and prog.kind == ProgrammeKind.unit_awards else None


# -- parsing the figures -----------------------------------------------------------------------

_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")


def parse_count(raw: Any, label: str) -> int:
    """A whole number ≥ 0 from a form or a cell ("" is 0)."""
    text = str(raw if raw is not None else "").strip()
    if text == "":
        return 0
    if re.fullmatch(r"-\s*\d+(\.0+)?", text):
        raise ValueError(f"{label}不能为负数，实际为“{text}”")
    m = re.fullmatch(r"(\d+)(\.0+)?", text.replace(",", ""))
    if not m:
        raise ValueError(f"{label}应为 0 或正整数，实际为“{text}”")
    value = int(m.group(1))
    if value > MAX_COUNT:
        raise ValueError(f"{label}“{text}”过大")
    return value


def parse_date(raw: Any, label: str) -> date | None:
    """A date typed as 2024-04-10, 2024/4/10 or 2024年4月10日 (Excel may add 00:00:00); "" is none."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw if raw is not None else "").strip()
    if text == "":
        return None
    m = _DATE_RE.match(text)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    raise ValueError(f"{label}应为日期，如 2024-04-10，实际为“{text}”")


def parse_figures(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The four figures from raw values, and field errors (Chinese)."""
    out: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key in ("events_held", "participants", "media_reports"):
        try:
            out[key] = parse_count(values.get(key), LABELS[key])
        except ValueError as exc:
            errors[key] = str(exc)
    try:
        out["materials_on"] = parse_date(values.get("materials_on"), LABELS["materials_on"])
    except ValueError as exc:
        errors["materials_on"] = str(exc)
    if not errors and out["events_held"] == 0 and out["participants"] > 0:
        errors["participants"] = "活动场次为 0 时参与人数应为 0：请先填写活动场次"
    return out, errors


# -- writing ---------------------------------------------------------------------------------

@dataclass
class Saved:
    report: ActivityReport
    changed: bool


def actor_of(user: User) -> str:
    if user.role == Role.unit_contact:
        return f"单位联系人 {user.username}"
    return f"组织方 {user.username}"


def is_locked(activity, today: date | None = None) -> bool:
    return (today or beijing_today()) > activity.deadline


def save_report(session, prog: Programme, unit: Unit, code: str, values: Mapping[str, Any], user: User, *,
                reason: str | None = None, today: date | None = None, action: str | None = None,
                plan: Plan | None = None) -> Saved:
    """Validate and write one unit's report on one activity. Refuses (ReportError, nothing
    written): a unit contact writing for another unit (403), a contact after the deadline
    (409), an organiser changing a locked report without a reason, bad figures (422)."""
    plan = plan or plan_for(prog)
    activity = plan.get(code)
    if activity is None:
        raise ReportError(f"活动编号“{code}”不在 {prog.year} 年的活动计划中", {"activity": "未知的活动编号"}, 404)
    if user.role == Role.unit_contact:
        if user.unit_id != unit.id:
            raise ReportError("单位联系人只能报送本单位的活动情况", status=403)
    elif user.role != Role.organiser:
        raise ReportError("只有单位联系人和组织方可以报送活动情况", status=403)
    locked = is_locked(activity, today)
    if locked and user.role == Role.unit_contact:
        raise ReportError(f"{activity.label}的报送截止日期 {activity.deadline.isoformat()} 已过，报送已锁定。"
                          "如需更正，请联系组织方。", status=409)
    figures, errors = parse_figures(values)
    reason = (reason or "").strip() or None
    if locked and reason is None and action != "import":
        errors["reason"] = f"报送截止日期 {activity.deadline.isoformat()} 已过：组织方更正须填写原因"
    if errors:
        raise ReportError("报送内容有误，未保存：" + "；".join(errors.values()), errors)
    report = session.scalar(select(ActivityReport).where(ActivityReport.programme_id == prog.id,
                                                         ActivityReport.unit_id == unit.id,
                                                         ActivityReport.activity_code == code))
    new = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in figures.items()}
    if report is None:
        report = ActivityReport(programme_id=prog.id, unit_id=unit.id, activity_code=code, version=1)
        session.add(report)
        old = None
    else:
        old = report.figures()
        if old == new:
            return Saved(report, False)
        report.version += 1
    for key, value in figures.items():
        setattr(report, key, value)
    report.updated_at = utcnow()
    report.updated_by_id = user.id
    session.flush()
    kind = action or ("correct" if user.role == Role.organiser and (locked or old is not None) else "report")
    session.add(ActivityReportEvent(report_id=report.id, action=kind, actor=actor_of(user), user_id=user.id,
                                    old=old, new=new, reason=reason))
    return Saved(report, True)


# -- reading ---------------------------------------------------------------------------------

def reports_of(session, prog: Programme, unit_id: int | None = None) -> list[ActivityReport]:
    q = select(ActivityReport).where(ActivityReport.programme_id == prog.id).options(
        selectinload(ActivityReport.unit).selectinload(Unit.province))
    if unit_id is not None:
        q = q.where(ActivityReport.unit_id == unit_id)
    return list(session.scalars(q.order_by(ActivityReport.unit_id, ActivityReport.activity_code)))


def history(session, report_ids: list[int]) -> dict[int, list[ActivityReportEvent]]:
    out: dict[int, list[ActivityReportEvent]] = {}
    if not report_ids:
        return out
    for ev in session.scalars(select(ActivityReportEvent).where(ActivityReportEvent.report_id.in_(report_ids))
                              .order_by(ActivityReportEvent.id)):
        out.setdefault(ev.report_id, []).append(ev)
    return out


def as_report(r: ActivityReport) -> Report:
    return Report(r.activity_code, r.events_held, r.participants, r.media_reports, r.materials_on)


def inputs_by_unit(session, prog: Programme, plan: Plan | None = None) -> dict[int, dict[str, int]]:
    """The award figures (scoring.activity.award_inputs) of every unit that reported."""
    plan = plan or plan_for(prog)
    grouped: dict[int, list[Report]] = {}
    for r in reports_of(session, prog):
        grouped.setdefault(r.unit_id, []).append(as_report(r))
    return {uid: award_inputs(plan, reps) for uid, reps in grouped.items()}


def unit_inputs(session, prog: Programme, unit_id: int, plan: Plan | None = None) -> dict[str, int]:
    plan = plan or plan_for(prog)
    return award_inputs(plan, [as_report(r) for r in reports_of(session, prog, unit_id)])


@dataclass
class Dashboard:
    plan: Plan
    by_activity: list[tuple[Any, Any]]     # (Activity, Totals)
    by_province: list[tuple[Province, Any]]
    by_unit: list[tuple[Unit, Any, dict]]  # (Unit, Totals, award inputs)
    overall: Any


def dashboard(session, prog: Programme) -> Dashboard:
    """Totals per activity (plan order), per province (most participants first) and per unit."""
    plan = plan_for(prog)
    reports = reports_of(session, prog)
    pairs = [(r, as_report(r)) for r in reports]
    per_act = totals_by(((p.activity, p) for _, p in pairs), plan)
    per_prov = totals_by(((r.unit.province_id, p) for r, p in pairs), plan)
    per_unit = totals_by(((r.unit_id, p) for r, p in pairs), plan)
    overall = totals_by((("all", p) for _, p in pairs), plan).get("all")
    units = {r.unit_id: r.unit for r in reports}
    provinces = {r.unit.province_id: r.unit.province for r in reports}
    inputs = inputs_by_unit(session, prog, plan)
    from scoring.activity import Totals
    return Dashboard(
        plan=plan,
        by_activity=[(a, per_act.get(a.code, Totals())) for a in plan.activities],
        by_province=sorted(((provinces[k], t) for k, t in per_prov.items()),
                           key=lambda x: (-x[1].participants, x[0].code)),
        by_unit=sorted(((units[k], t, inputs[k]) for k, t in per_unit.items()),
                       key=lambda x: (-x[2]["activities_joined"], -x[1].participants, x[0].external_id)),
        overall=overall or Totals())


def totals_workbook(d: Dashboard, prog: Programme) -> bytes:
    """The dashboard's three tables as one .xlsx (one sheet each), as organisers file them."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    wb = Workbook()
    head = ["活动场次", "参与人数", "媒体报道", "按时报送", "报送单位数", "参与单位数"]

    def nums(t):
        return [t.events_held, t.participants, t.media_reports, t.on_time, t.reports, t.units]

    ws = wb.active
    ws.title = "按活动"
    ws.append(["活动编号", "类别", "活动名称", "月份", "报送截止"] + head)
    for a, t in d.by_activity:
        ws.append([a.code, a.kind_zh, a.title, a.months_zh, a.deadline.isoformat()] + nums(t))
    ws2 = wb.create_sheet("按省份")
    ws2.append(["省份"] + head)
    for p, t in d.by_province:
        ws2.append([p.name] + nums(t))
    ws3 = wb.create_sheet("按单位")
    ws3.append(["单位编号", "单位名称", "省份", f"参与期数（共{len(d.plan)}期）", "按时报送期数"] + head[:3])
    for u, t, inp in d.by_unit:
        ws3.append([u.external_id, u.name, u.province.name, inp["activities_joined"], inp["reports_on_time"],
                    t.events_held, t.participants, t.media_reports])
    for sheet in wb.worksheets:
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
        for col in sheet.columns:
            width = max(len(str(c.value or "")) for c in col)
            sheet.column_dimensions[col[0].column_letter].width = min(40, max(8, width * 2))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
