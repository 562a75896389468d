"""A training session's roster with every assessment component, as organisers keep it.

Sheet 学员考核成绩: 序号, the trainee's particulars, the attendance (present / excused / absent
half-days and the rate), each component on its own 0-100 scale and weighted, the total, the
rank, the outcome (结业 / 不合格 / 待定), 优秀学员 and the reasons in words. Sheet 考勤明细: one
column per half-day. Numbers are stored as numbers (Excel can sort and sum them). The frame
(title, subtitle, frozen header, A4 landscape) is the one of the other result lists.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from documents.result_lists_excel import _frame, _row, _save

STATUS_ZH = {"passed": "结业", "failed": "不合格", "pending": "待定"}
MARK_ZH = {"present": "√", "excused": "假", "absent": "×", "none": ""}
_FAIL = Font(color="8A1C14")
_GOOD = PatternFill("solid", fgColor="FFF4CC")


def _num(value) -> float | None:
    return None if value is None else float(value)


def _pct(rate: Decimal | None) -> str:
    if rate is None:
        return "—"
    text = format((rate * 100).quantize(Decimal("0.1")).normalize(), "f")
    return f"{text}%"


def roster_workbook(prog, so, today: date | None = None) -> bytes:
    """The roster of `so` (services.training.SessionOutcome) as an .xlsx file."""
    from models.base import beijing_today
    today = today or beijing_today()
    comps = list(so.scheme.rubric.components)
    wb = Workbook()
    ws = wb.active
    ws.title = "学员考核成绩"
    header = ["序号", "学员编号", "姓名", "学校", "区县", "任教学科", "出勤(半天)", "请假(半天)", "缺勤(半天)", "出勤率"]
    widths = [6, 10, 10, 24, 10, 10, 9, 9, 9, 9]
    for c in comps:
        header += [f"{c.title.zh}（百分制）", f"{c.title.zh}×{format(c.weight.normalize(), 'f')}"]
        widths += [12, 11]
    header += ["总评", "名次", "考核结果", "优秀学员", "说明"]
    widths += [9, 7, 9, 9, 44]
    subtitle = " · ".join(x for x in (prog.host, prog.partner, f"培训 {so.hours} 学时",
                                     f"导出日期 {today.isoformat()}") if x)
    r = _frame(ws, f"{prog.name} 学员考核成绩", subtitle, header, widths)
    for i, row in enumerate(sorted(so.rows, key=lambda x: x.trainee.external_id), start=1):
        t, o = row.trainee, row.outcome
        values = [i, t.external_id, t.name, t.unit.name, t.district or "", t.subject or "",
                  row.slots.count("present"), row.slots.count("excused"),
                  len(row.slots) - row.slots.count("present") - row.slots.count("excused"), _pct(o.attendance_rate)]
        by_id = {c.id: c for c in o.components}
        for c in comps:
            cs = by_id.get(c.id)
            values += [_num(cs.scaled) if cs else None, _num(cs.weighted) if cs else None]
        values += [_num(o.total), o.rank if o.status != "pending" else None, STATUS_ZH[o.status],
                   "是" if o.excellent else "", "；".join(o.reasons_zh)]
        _row(ws, r, values, centred=(1, 2, 7, 8, 9, 10, len(values) - 3, len(values) - 2, len(values) - 1))
        if o.status == "failed":
            ws.cell(row=r, column=len(values) - 2).font = _FAIL
        if o.excellent:
            ws.cell(row=r, column=len(values) - 1).fill = _GOOD
        for c in range(11, 11 + 2 * len(comps) + 1):
            ws.cell(row=r, column=c).number_format = "0.00"
        r += 1
    counts = so.counts()
    ws.cell(row=r + 1, column=2, value=(f"共 {len(so.rows)} 人：结业 {counts['passed']} 人（其中优秀学员 "
                                         f"{counts['excellent']} 人），不合格 {counts['failed']} 人，待定 {counts['pending']} 人。"))

    att = wb.create_sheet("考勤明细")
    head = ["序号", "学员编号", "姓名"] + [s.label for s in so.counted] + ["出勤率"]
    r = _frame(att, f"{prog.name} 考勤明细", "√ 出勤　假 请假（已批准）　× 缺勤", head,
               [6, 10, 10] + [9] * len(so.counted) + [9])
    for i, row in enumerate(sorted(so.rows, key=lambda x: x.trainee.external_id), start=1):
        _row(att, r, [i, row.trainee.external_id, row.trainee.name] + [MARK_ZH[m] for m in row.slots]
             + [_pct(row.outcome.attendance_rate)], centred=tuple(range(1, len(head) + 1)))
        r += 1
    return _save(wb)
