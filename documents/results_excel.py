"""The ranking as an Excel workbook, laid out as organisers keep award lists (成绩排名表).

Built from a results snapshot (services/results.py `snapshot`, the shape publications
freeze), so the organiser's export and a published list can never disagree. One sheet per
ranking (a category, or a division of a category in a regional round): a merged title row
with programme, stage, category and division, the header 名次 / 编号 / 作品 / 选手 / 单位 /
省份 / 得分 / 奖项 / 晋级 frozen under it, widths sized for Chinese text, scores as numbers
with the rubric's decimals (so Excel sorts them) and unranked entries last with the reason.
"""
from __future__ import annotations

import io
import re
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

HEADERS = ("名次", "编号", "作品", "选手", "单位", "省份", "得分", "奖项", "晋级")
WIDTHS = (7, 12, 30, 22, 28, 10, 10, 22, 8)
PROMOTION_ZH = {"promoted": "晋级", "reserve": "递补"}
STATUS_ZH = {"incomplete": "成绩不完整", "disqualified": "取消资格", "vetoed": "一票否决"}

_TITLE = Font(bold=True, size=14)
_HEAD = Font(bold=True)
_FILL = PatternFill("solid", fgColor="DDEBF7")
_THIN = Side(style="thin", color="999999")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


def _sheet_title(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "", name)[:28] or "排名"
    title, n = base, 1
    while title in used:
        n += 1
        title = f"{base[:26]}{n}"
    used.add(title)
    return title


def _award(row: dict[str, Any]) -> str:
    if row.get("status") != "ok":
        return STATUS_ZH.get(row.get("status"), "")
    text = row["award"]["name"] if row.get("award") else ""
    if row.get("honours"):
        text += ("（" + "、".join(row["honours"]) + "）") if text else "、".join(row["honours"])
    return text


def _score(value: str | None) -> tuple[Any, str | None]:
    """A score as a number with its own decimals (91.80 stays 91.80), or a dash."""
    if value is None:
        return "—", None
    decimals = len(value.split(".", 1)[1]) if "." in value else 0
    return float(value), "0." + "0" * decimals if decimals else "0"


def ranking_title(snap: dict[str, Any], category: dict[str, Any], division: dict[str, Any] | None) -> str:
    parts = [snap["stage"]["programme"], snap["stage"]["name"], category["name"]]
    if division:
        parts.append(division["name"])
    return " · ".join(parts) + " 成绩排名"


def ranking_xlsx(snap: dict[str, Any]) -> bytes:
    """The snapshot's rankings, one sheet each (module doc)."""
    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    for cat in snap["categories"]:
        for group in cat["groups"]:
            div = group["division"]
            ws = wb.create_sheet(_sheet_title(f"{cat['name']}-{div['name']}" if div else cat["name"], used))
            _write(ws, ranking_title(snap, cat, div), group["rows"])
    if not wb.worksheets:
        ws = wb.create_sheet("排名")
        ws.append([f"{snap['stage']['programme']} · {snap['stage']['name']} 成绩排名"])
        ws.append(["暂无成绩"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _write(ws, title: str, rows: list[dict[str, Any]]) -> None:
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADERS))
    ws["A1"].font = _TITLE
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 28
    ws.append(list(HEADERS))
    for i, width in enumerate(WIDTHS, start=1):
        cell = ws.cell(row=2, column=i)
        cell.font, cell.fill, cell.border = _HEAD, _FILL, _BOX
        cell.alignment = Alignment(horizontal="center", vertical="center")
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A3"
    for r in rows:
        score, fmt = _score(r.get("score"))
        ws.append([r["rank"] if r["rank"] is not None else "", r["external_id"], r["title"], r["contestant"],
                   r["unit"], r["province"], score, _award(r), PROMOTION_ZH.get(r.get("promotion") or "", "")])
        n = ws.max_row
        for c in range(1, len(HEADERS) + 1):
            ws.cell(row=n, column=c).border = _BOX
        ws.cell(row=n, column=2).number_format = "@"
        if fmt:
            ws.cell(row=n, column=7).number_format = fmt
        for c in (1, 6, 7, 9):
            ws.cell(row=n, column=c).alignment = Alignment(horizontal="center")
    ws.print_title_rows = "1:2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1


def ranking_filename(snap: dict[str, Any], category: str | None = None) -> str:
    parts = [snap["stage"]["programme"], snap["stage"]["name"]] + ([category] if category else []) + ["成绩排名"]
    return re.sub(r'[\\/:*?"<>|]', "", "-".join(parts)) + ".xlsx"
