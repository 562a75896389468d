"""获奖名单 and 评分汇总表 as Excel workbooks, laid out as organisers keep them by hand.

Built from the same plain values as the PDFs (documents/result_pdfs.py), so the printed and
the Excel lists always agree. Each sheet: a merged, centred title row and a merged subtitle
(programme · stage · scope · date), a bold header with 序号 first, frozen under the header,
widths sized for Chinese text, print setup (A4 landscape, fit to width, header rows repeated on
every page). The score summary has a column per judge seat (评委1..N) with the dropped marks
in brackets and struck through, and a signature row at the bottom (评委组长 / 监审 / 日期).
The visual style (header fill, thin borders) is that of documents/results_excel.py.
"""
from __future__ import annotations

import io
import re

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from documents.result_pdfs import award_list_context, score_summary_context
from documents.results_excel import _BOX, _FILL, _HEAD, _TITLE

_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_WRAP = Alignment(vertical="center", wrap_text=True)
_STRUCK = Font(strike=True, color="8A1C14")
_SIGN = Font(size=12)


def _sheet_title(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "", name)[:28] or "名单"
    title, n = base, 1
    while title in used:
        n += 1
        title = f"{base[:26]}{n}"
    used.add(title)
    return title


def _frame(ws, title: str, subtitle: str, header: list[str], widths: list[float]) -> int:
    """Rows 1-2 title and subtitle (merged across the header), row 3 the header; returns 4."""
    n = len(header)
    ws.cell(row=1, column=1, value=title).font = _TITLE
    ws.cell(row=1, column=1).alignment = _CENTER
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=n)
    ws.row_dimensions[1].height = 30
    ws.cell(row=2, column=1, value=subtitle).alignment = Alignment(horizontal="center")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=n)
    for c, (name, width) in enumerate(zip(header, widths), start=1):
        cell = ws.cell(row=3, column=c, value=name)
        cell.font, cell.fill, cell.border, cell.alignment = _HEAD, _FILL, _BOX, _CENTER
        ws.column_dimensions[get_column_letter(c)].width = width
    ws.freeze_panes = "A4"
    ws.print_title_rows = "1:3"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    return 4


def _row(ws, r: int, values: list, centred: tuple[int, ...] = ()) -> None:
    for c, value in enumerate(values, start=1):
        cell = ws.cell(row=r, column=c, value=value)
        cell.border = _BOX
        cell.alignment = _CENTER if c in centred else _WRAP


def _save(wb) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def award_list_xlsx(snap: dict, **kw) -> bytes:
    """获奖名单: a sheet per category (× division); rows grouped by award tier in rank order,
    序号 counting within the tier, the tier in its own column (and a merged tier line above)."""
    ctx = award_list_context(snap, **kw)
    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    header = ["序号", "奖项", "编号", "作品", "选手", "单位", "省份", "备注"]
    widths = [6, 10, 12, 32, 20, 30, 10, 18]
    for s in ctx["sections"] or [{"scope": "获奖名单", "tiers": []}]:
        ws = wb.create_sheet(_sheet_title(s["scope"], used))
        r = _frame(ws, f"{ctx['programme']}{ctx['stage']}获奖名单",
                   f"{s['scope']} · {ctx['date']}", header, widths)
        for t in s["tiers"]:
            ws.cell(row=r, column=1, value=f"{t['name']}（{len(t['rows'])} 项）").font = _HEAD
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=len(header))
            r += 1
            for i, row in enumerate(t["rows"], start=1):
                _row(ws, r, [i, t["name"], row["external_id"], row["title"], row["contestant"], row["unit"],
                             row["province"], row["honours"]], centred=(1, 2, 3, 7))
                ws.cell(row=r, column=3).number_format = "@"
                r += 1
        if not s["tiers"]:
            ws.cell(row=r, column=1, value="暂无获奖作品")
    return _save(wb)


def score_summary_xlsx(snap: dict, **kw) -> bytes:
    """评分汇总表: a sheet per category (× division), a column per judge seat, dropped marks
    as "(90.00)" in struck-through red, final scores as numbers, the signature row last."""
    ctx = score_summary_context(snap, **kw)
    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    for s in ctx["sections"] or [{"scope": "评分汇总表", "seats": [], "chunks": [[]], "any_dropped": False,
                                  "rubric": "", "rubric_version": ""}]:
        ws = wb.create_sheet(_sheet_title(s["scope"], used))
        header = ["序号", "名次", "编号", "作品", "选手", "单位"] + s["seats"] + ["扣分", "最后得分", "奖项"]
        widths = [6, 6, 12, 28, 16, 26] + [9] * len(s["seats"]) + [16, 10, 16]
        r = _frame(ws, f"{ctx['programme']}{ctx['stage']}评分汇总表",
                   f"{s['scope']} · {s['rubric']} v{s['rubric_version']} · {ctx['date']}", header, widths)
        first_mark = 7
        for chunk in s["chunks"]:
            for row in chunk:
                marks = [f"({m['raw']})" if m["dropped"] else _number(m["raw"]) for m in row["marks"]]
                score = _number(row["score"])
                award = row["award"] + (f" · {row['promotion']}" if row["promotion"] else "")
                _row(ws, r, [row["no"], row["rank"], row["external_id"], row["title"], row["contestant"], row["unit"],
                             *marks, row["penalties"], score, award],
                     centred=(1, 2, 3, *range(first_mark, first_mark + len(marks) + 2)))
                for k, m in enumerate(row["marks"]):
                    cell = ws.cell(row=r, column=first_mark + k)
                    if m["dropped"]:
                        cell.font = _STRUCK
                    elif isinstance(cell.value, float):
                        cell.number_format = _fmt(m["raw"])
                if isinstance(score, float):
                    ws.cell(row=r, column=len(header) - 1).number_format = _fmt(row["score"])
                    ws.cell(row=r, column=len(header) - 1).font = _HEAD
                r += 1
        if s["any_dropped"]:
            ws.cell(row=r, column=1, value="注：带括号并划线的分数为去掉的最高分、最低分，不计入最后得分。")
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=len(header))
            r += 1
        r += 1
        third = max(1, len(header) // 3)
        for c, text in ((1, "评委组长（签字）："), (1 + third, "监审（签字）："), (1 + 2 * third, "日期：")):
            ws.cell(row=r, column=c, value=text).font = _SIGN
        ws.row_dimensions[r].height = 36
        ws.cell(row=r, column=1).alignment = ws.cell(row=r, column=1 + third).alignment = \
            ws.cell(row=r, column=1 + 2 * third).alignment = Alignment(vertical="bottom")
        ws.print_area = f"A1:{get_column_letter(len(header))}{r}"
    return _save(wb)


def _number(text: str | None):
    if not text or text in ("—", ""):
        return text or ""
    try:
        return float(text)
    except ValueError:
        return text


def _fmt(text: str) -> str:
    decimals = len(text.split(".", 1)[1]) if "." in text else 0
    return "0." + "0" * decimals if decimals else "0"
