"""Excel exports of who judges what: 评委组名单 (panel lists) and 评委日程 (judge schedules).

Both take the plain values built by `services.assignment.panel_list_data` /
`schedule_data`, like the PDFs, so the two formats always say the same thing. The sheets look
like the tables organisers keep by hand: a title row, a bold frozen header with a filter, one
row per judge (panel lists) or per judge × entry in running order (schedules), widths fitted
to Chinese text. For anonymous stages the schedule carries codes and titles only.
"""
from __future__ import annotations

import io
import unicodedata
from typing import Sequence

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter

SEATS = {"chief": "评委组长", "member": "评委", "teacher_seat": "中小学教师席位", "reviewer": "评审专家"}

_TITLE = Font(bold=True, size=14)
_HEADER = Font(bold=True)
_FILL = PatternFill("solid", fgColor="DDEBF7")
_BAND = PatternFill("solid", fgColor="F3F6F9")
_GREY = Font(color="808080")
_THIN = Side(style="thin", color="B7C0CA")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_TOP = Alignment(vertical="top")
_TOP_WRAP = Alignment(vertical="top", wrap_text=True)


def _width(text) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in str(text or ""))


def _styles(wb) -> None:
    """Named cell styles, registered once per workbook: assigning a name is far cheaper than
    assigning border, fill and alignment objects cell by cell (a schedule has 100k cells)."""
    for wrap in (False, True):
        for band in (False, True):
            style = NamedStyle(name=f"cell{'_wrap' if wrap else ''}{'_band' if band else ''}", border=_BORDER,
                               alignment=_TOP_WRAP if wrap else _TOP)
            if band:
                style.fill = _BAND
            wb.add_named_style(style)
    wb.add_named_style(NamedStyle(name="head", font=_HEADER, fill=_FILL, border=_BORDER,
                                  alignment=Alignment(vertical="center")))


def _sheet(ws, title: str, subtitle: str, header: Sequence[str], rows: Sequence[Sequence],
           band_key: int | None = None) -> None:
    """Title in row 1, subtitle in row 2, header in row 3, data from row 4."""
    if "head" not in ws.parent.named_styles:
        _styles(ws.parent)
    ws["A1"] = title
    ws["A1"].font = _TITLE
    ws["A2"] = subtitle
    ws["A2"].font = _GREY
    for c, name in enumerate(header, start=1):
        ws.cell(row=3, column=c, value=name).style = "head"
    band, last = False, object()
    for r, values in enumerate(rows, start=4):
        if band_key is not None and values[band_key] != last:
            band, last = not band, values[band_key]
        suffix = "_band" if band else ""
        for c, value in enumerate(values, start=1):
            cell = ws.cell(row=r, column=c, value=value)
            wrap = isinstance(value, str) and len(value) > 20 and _width(value) > 40
            cell.style = ("cell_wrap" if wrap else "cell") + suffix
    ws.freeze_panes = "A4"
    if rows:
        ws.auto_filter.ref = f"A3:{get_column_letter(len(header))}{len(rows) + 3}"
    for c, name in enumerate(header, start=1):
        widest = max([_width(name)] + [_width(r[c - 1]) for r in rows[:2000]])
        ws.column_dimensions[get_column_letter(c)].width = min(45, max(6, widest + 2))
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "3:3"


def _title(data: dict) -> str:
    return " · ".join(x for x in (data["programme"], data["stage"], data.get("scope")) if x)


def _save(wb) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def panel_list_workbook(data: dict) -> bytes:
    """评委组名单: one row per panel member (or reviewer, with their number of entries)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "评委组名单"
    reviews = data["design"] == "reviews"
    header = ["评委组", "赛项", "分赛区", "席位", "评委编号", "姓名", "单位", "省份", "职称", "专业领域",
              "中小学教师", "评审件数" if reviews else "评审作品数", "锁定"]
    rows = []
    for g in data["groups"]:
        for m in g["members"]:
            rows.append([g["name"], g["category"], g["division"], SEATS.get(m["role"], m["role"]), m["external_id"],
                         m["name"], m["unit"], m["province"], m["title"], m.get("expertise_names", m["expertise"]),
                         "是" if m["teacher"] else "否", m["load"] if reviews else g["entries"],
                         "是" if m["locked"] else ""])
    _sheet(ws, f"{_title(data)} · 评委组名单", f"生成于 {data['generated']}", header, rows,
           band_key=0)
    return _save(wb)


def schedule_workbook(data: dict) -> bytes:
    """评委日程: one row per judge × entry in running order; a 汇总 sheet counts each judge's
    work. Anonymous stages: codes and titles only."""
    wb = Workbook()
    ws = wb.active
    ws.title = "评委日程"
    anonymous = data["anonymous"]
    header = ["评委编号", "评委姓名", "评委组/类别", "席位", "抽签号"]
    header += ["匿名编号", "作品名称"] if anonymous else ["作品编号", "作品名称", "选手", "单位"]
    header += ["赛项", "分赛区", "备注"]
    rows = []
    totals = []
    for j in data["judges"]:
        totals.append([j["external_id"], j["name"], j["unit"], j["province"], len(j["sessions"]), j["total"]])
        for s in j["sessions"]:
            for e in s["entries"]:
                row = [j["external_id"], j["name"], s["name"], SEATS.get(s["role"], s["role"]), e["draw_number"]]
                row += [e["code"], e["title"]] if anonymous else [e["external_id"], e["title"], e["contestant"], e["unit"]]
                note = ""
                if e["recused"]:
                    note = "回避" + (f"：{e['recusal_reason']}" if e["recusal_reason"] else "")
                row += [e["category"], e["division"], note]
                rows.append(row)
    subtitle = f"生成于 {data['generated']}" + ("（匿名评审：只列匿名编号和作品名称）" if anonymous else "")
    _sheet(ws, f"{_title(data)} · 评委日程", subtitle, header, rows, band_key=0)
    summary = wb.create_sheet("汇总")
    _sheet(summary, f"{_title(data)} · 评委工作量", subtitle,
           ["评委编号", "姓名", "单位", "省份", "评委组/类别数", "作品数"], totals)
    return _save(wb)
