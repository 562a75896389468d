"""Excel templates and exports of the lists organisers import: units, judges, entries.

Both are built from the column definitions in documents/columns.py, so an export is a valid
import file (export, edit in Excel, re-import) and a template's header always parses. Every
workbook has the list on its first sheet (bold frozen header, required columns marked with *,
widths for Chinese text, identifier and phone columns formatted as text so leading zeros
survive) and a 说明 sheet explaining each column and the accepted values.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from typing import Any, Sequence

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from documents.columns import (BOOL, GENDER, HELP_SHEET, KIND_LABELS, LISTS_SHEET, PROVINCE,
                               RELATION_SYNTAX_HELP, SHEET_NAMES, Column, RelationSpec, columns_for,
                               format_bool, format_relations, join_names)

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv; charset=utf-8"
VALIDATION_ROWS = 5000      # rows of the template that get drop-down lists

_HEADER_FONT = Font(bold=True)
_REQUIRED_FONT = Font(bold=True, color="C00000")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_EXAMPLE_FONT = Font(italic=True, color="808080")
_TITLE_FONT = Font(bold=True, size=14)


# --- public API ----------------------------------------------------------------------------

def template_workbook(kind: str, programme=None, stage=None) -> bytes:
    """A blank .xlsx to fill in: the header, one example row (grey, to delete) and a 说明
    sheet; for entries of a given programme the 说明 sheet lists its categories and divisions
    and the template offers them as drop-down lists."""
    columns = columns_for(kind, stage)
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_NAMES[kind]
    example = _example_row(kind, columns, programme)
    _write_list(ws, columns, [example])
    for cell in ws[2]:
        cell.font = _EXAMPLE_FONT
    ws["A2"].comment = Comment("示例行：导入前请删除此行，或改为真实数据。", "模板")
    _help_sheet(wb, kind, columns, programme, stage, template=True)
    _add_choices(wb, ws, kind, columns, programme)
    return _save(wb)


def export_rows(session, kind: str, programme, stage=None) -> list[dict[str, Any]]:
    """The current list as rows of column key -> value, in the import format."""
    if kind == "units":
        return _unit_rows(session)
    if kind == "judges":
        return _judge_rows(session, programme)
    if kind == "entries":
        if stage is None:
            raise ValueError("entries are exported per stage")
        return _entry_rows(session, stage)
    if kind == "trainees":
        return _trainee_rows(session, programme)
    if kind == "activity_reports":
        return _activity_report_rows(session, programme)
    raise ValueError(f"unknown export kind {kind!r}")


def export_table(session, kind: str, programme, stage=None, fmt: str = "xlsx") -> bytes:
    """Export units (all of them: units are shared), a programme's judges or a stage's
    entries as .xlsx or as CSV (UTF-8 with BOM, so Excel shows the Chinese correctly),
    with exactly the import columns."""
    columns = columns_for(kind, stage)
    rows = export_rows(session, kind, programme, stage)
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        writer.writerow([c.label for c in columns])
        for row in rows:
            writer.writerow([_csv_cell(row.get(c.key)) for c in columns])
        return out.getvalue().encode("utf-8-sig")
    if fmt != "xlsx":
        raise ValueError(f"unknown export format {fmt!r}; expected 'xlsx' or 'csv'")
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_NAMES[kind]
    _write_list(ws, columns, rows)
    _help_sheet(wb, kind, columns, programme, stage, template=False)
    _add_choices(wb, ws, kind, columns, programme)
    return _save(wb)


def template_filename(kind: str, programme=None) -> str:
    prefix = f"{programme.name}-" if programme is not None and kind != "units" else ""
    return _safe_filename(f"{prefix}{KIND_LABELS[kind]}导入模板.xlsx")


def export_filename(kind: str, programme=None, stage=None, fmt: str = "xlsx") -> str:
    parts = [programme.name] if programme is not None and kind != "units" else []
    if stage is not None and kind == "entries":
        parts.append(stage.name)
    parts.append(KIND_LABELS[kind] + "名单" if kind != "entries" else KIND_LABELS[kind])
    return _safe_filename("-".join(parts) + "." + fmt)


# --- the list sheet ------------------------------------------------------------------------

def _write_list(ws, columns: Sequence[Column], rows: Sequence[dict]) -> None:
    ws.append([c.label for c in columns])
    for i, col in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=i)
        cell.font = _REQUIRED_FONT if col.required else _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center")
        if col.help:
            cell.comment = Comment(col.help, "说明", width=260, height=120)
    for r, row in enumerate(rows, start=2):
        for i, col in enumerate(columns, start=1):
            value = row.get(col.key)
            if value is None or value == "":
                continue
            cell = ws.cell(row=r, column=i, value=value)
            if isinstance(value, str):
                cell.data_type = "s"    # text that begins with = is text, never a formula
            if col.text_format:
                cell.number_format = "@"
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(1, len(rows) + 1)}"
    for i, col in enumerate(columns, start=1):
        letter = get_column_letter(i)
        values = [col.label, *(str(row.get(col.key) or "") for row in rows[:200])]
        ws.column_dimensions[letter].width = min(50, max(8, max(_display_width(v) for v in values) + 3))
        if col.text_format:
            ws.column_dimensions[letter].number_format = "@"


def _add_choices(wb, ws, kind: str, columns: Sequence[Column], programme) -> None:
    """Drop-down lists (on a hidden 选项 sheet) for provinces, categories, divisions and
    yes/no, gender. They guide input; the importer checks every value anyway."""
    from models.reference import PROVINCES
    lists: dict[str, list[str]] = {}
    for col in columns:
        if col.type == PROVINCE:
            lists[col.key] = [short for _, _, short in PROVINCES]
        elif col.type == BOOL:
            lists[col.key] = ["是", "否"]
        elif col.type == GENDER:
            lists[col.key] = ["男", "女"]
        elif kind == "entries" and programme is not None and col.key == "category":
            lists[col.key] = [c.name for c in programme.categories]
        elif kind == "entries" and programme is not None and col.key == "division":
            lists[col.key] = [d.name for d in programme.divisions]
        elif kind == "activity_reports" and programme is not None and col.key == "activity":
            lists[col.key] = [a.code for a in _plan_activities(programme)]
    lists = {k: v for k, v in lists.items() if v}
    if not lists:
        return
    sheet = wb.create_sheet(LISTS_SHEET)
    sheet.sheet_state = "hidden"
    for n, (key, values) in enumerate(lists.items(), start=1):
        letter = get_column_letter(n)
        sheet.cell(row=1, column=n, value=key)
        for r, value in enumerate(values, start=2):
            sheet.cell(row=r, column=n, value=value).data_type = "s"
        index = next(i for i, c in enumerate(columns, start=1) if c.key == key)
        target = get_column_letter(index)
        dv = DataValidation(type="list", formula1=f"'{LISTS_SHEET}'!${letter}$2:${letter}${len(values) + 1}",
                            allow_blank=True, showErrorMessage=False)
        dv.add(f"{target}2:{target}{VALIDATION_ROWS}")
        ws.add_data_validation(dv)
        dim = ws.column_dimensions[target]
        dim.width = min(50, max(dim.width or 8, max(_display_width(v) for v in values) + 3))


# --- the 说明 sheet ------------------------------------------------------------------------

def _help_sheet(wb, kind: str, columns: Sequence[Column], programme, stage, template: bool) -> None:
    ws = wb.create_sheet(HELP_SHEET)
    label = KIND_LABELS[kind]
    lines: list[list[Any]] = [[f"{label}名单填写说明"], []]
    general = [
        f"1. 请在工作表“{SHEET_NAMES[kind]}”中填写，第 1 行为表头，请勿修改或删除表头；带 * 的列为必填列。",
        "2. 第 2 行起每行一条记录。" + ("第 2 行为示例（灰色斜体），导入前请删除或改为真实数据。" if template else ""),
        "3. 导入时逐行检查，发现任何错误则整个文件都不导入，并列出每个错误所在的行、列和原因；改正后重新导入即可。",
        f"4. 再次导入同一文件会按{columns[0].header}更新已有记录，不会重复新增；文件中没有的列，已有数据保持不变。",
        "5. 可上传 Excel 工作簿（.xlsx）或 CSV 文件（UTF-8 或 GBK 编码）；旧版 .xls 请先另存为 .xlsx。“序号”列可保留，导入时忽略。",
    ]
    if kind == "units":
        general.append("6. 单位名单在所有项目间共用，单位编号和单位名称都不能重复。")
    elif kind == "judges":
        general.append("6. 评委名单属于当前项目；单位编号须已在单位名单中（请先导入单位）。")
    elif kind == "activity_reports":
        general[3] = ("4. 按“单位编号 + 活动编号”更新已有报送，不会重复新增；文件中没有的列，已有数据保持不变。"
                      "组织方导入可以修改已过报送截止日期的数据，每处修改都记录在报送历史中。")
        general.append("6. 每行为一个单位在一期活动中的情况；单位编号须已在单位名单中。活动场次、参与人数、媒体报道填 0 或正整数，"
                       "留空按 0 计。")
    else:
        general.append("6. 作品导入到项目的某一阶段；单位编号须已在单位名单中（请先导入单位）。"
                       "赛项为个人赛项时“选手姓名”只填一人，团队赛项填全体队员（第一位为队长）。")
    lines += [[g] for g in general] + [[]]
    table_at = len(lines) + 1
    lines.append(["列名", "是否必填", "填写说明", "示例"])
    example = _example_row(kind, columns, programme)
    for col in columns:
        lines.append([col.header, "必填" if col.required else "选填", col.help, str(example.get(col.key) or "")])
    sections: list[int] = []
    if kind == "judges":
        lines += [[]]
        sections.append(len(lines) + 1)
        lines += [["回避关系的写法"], [RELATION_SYNTAX_HELP],
                  ["示例：亲属:E0012；师生:E0345（大学导师）；单位:U0123；同事:单位:U0456"]]
    if kind == "entries" and programme is not None:
        lines += [[]]
        sections.append(len(lines) + 1)
        scope = f"（本阶段：{stage.name}）" if stage is not None else ""
        lines.append([f"{programme.name} 的赛项{scope}"])
        lines.append(["赛项名称", "代码", "参赛形式"])
        allowed = {sc.category_id for sc in stage.stage_categories} if stage is not None else set()
        kinds = {"individual": "个人", "team": "团队", "resource": "资源", "unit": "单位"}
        for c in programme.categories:
            if not allowed or c.id in allowed:
                lines.append([c.name, c.code, kinds.get(c.entry_kind, c.entry_kind)])
        if programme.divisions:
            lines += [[]]
            sections.append(len(lines) + 1)
            lines.append([f"{programme.name} 的分赛区（可填名称、省份简称或代码）"])
            lines.append(["分赛区名称", "代码", "省份"])
            for d in programme.divisions:
                lines.append([d.name, d.code, d.province.name if d.province is not None else ""])
    if kind == "activity_reports" and programme is not None:
        acts = _plan_activities(programme)
        if acts:
            lines += [[]]
            sections.append(len(lines) + 1)
            lines.append([f"{programme.year} 年联合行动活动列表"])
            lines.append(["活动编号", "类别", "活动名称", "月份 / 报送截止"])
            for a in acts:
                lines.append([a.code, a.kind_zh, a.title, f"{a.months_zh}，{a.deadline.isoformat()} 前报送"])
    for row in lines:
        ws.append(row)
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    ws["A1"].font = _TITLE_FONT
    for cell in ws[table_at]:
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
    for at in sections:
        ws.cell(row=at, column=1).font = Font(bold=True, size=12)
        if ws.cell(row=at + 1, column=2).value:
            for cell in ws[at + 1]:
                cell.font = _HEADER_FONT
    for letter, width in zip("ABCD", (16, 10, 80, 24)):
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows(min_row=table_at + 1, max_row=table_at + len(columns)):
        row[2].alignment = Alignment(wrap_text=True, vertical="top")


def _example_row(kind: str, columns: Sequence[Column], programme) -> dict[str, Any]:
    row = {c.key: c.example for c in columns}
    if kind == "entries" and programme is not None:
        if programme.categories:
            row["category"] = programme.categories[0].name
        row["division"] = programme.divisions[0].name if programme.divisions else ""
    if "draw_number" in row and row["draw_number"]:
        row["draw_number"] = int(row["draw_number"])
    return row


# --- export rows ---------------------------------------------------------------------------

def _plan_activities(programme) -> tuple:
    """The activities of a unit-awards programme's year, () when it has no plan."""
    from services.activities import ReportError, plan_for
    try:
        return plan_for(programme).activities
    except ReportError:
        return ()


def _activity_report_rows(session, programme) -> list[dict]:
    from services.activities import reports_of
    return [{"unit": r.unit.external_id, "unit_name": r.unit.name, "activity": r.activity_code,
             "events_held": r.events_held, "participants": r.participants, "media_reports": r.media_reports,
             "materials_on": r.materials_on.isoformat() if r.materials_on else ""}
            for r in reports_of(session, programme)]


def _unit_rows(session) -> list[dict]:
    from models import Unit
    units = session.execute(select(Unit).options(selectinload(Unit.province))
                            .order_by(Unit.external_id)).scalars()
    return [{"external_id": u.external_id, "name": u.name, "province": u.province.name, "kind": u.kind,
             "contact_name": u.contact_name, "contact_phone": u.contact_phone} for u in units]


def _judge_rows(session, programme) -> list[dict]:
    from models import DeclaredRelation, Judge
    judges = session.execute(
        select(Judge).where(Judge.programme_id == programme.id).options(
            selectinload(Judge.person), selectinload(Judge.unit), selectinload(Judge.province),
            selectinload(Judge.relations).selectinload(DeclaredRelation.entry),
            selectinload(Judge.relations).selectinload(DeclaredRelation.unit))
        .order_by(Judge.external_id)).scalars()
    rows = []
    for j in judges:
        specs = []
        for r in sorted(j.relations, key=lambda r: (r.entry_id is None, r.id or 0)):
            if r.entry is not None:
                specs.append(RelationSpec(str(r.kind), "entry", r.entry.external_id, r.note))
            elif r.unit is not None:
                specs.append(RelationSpec(str(r.kind), "unit", r.unit.external_id, r.note))
        rows.append({"external_id": j.external_id, "name": j.person.name, "unit": j.unit.external_id,
                     "province": j.province.name, "expertise": j.expertise, "title": j.title,
                     "is_school_teacher": format_bool(j.is_school_teacher), "phone": j.person.phone,
                     "relations": format_relations(specs)})
    return rows


def _trainee_rows(session, programme) -> list[dict]:
    from models import Trainee
    trainees = session.execute(select(Trainee).where(Trainee.programme_id == programme.id)
                               .options(selectinload(Trainee.person), selectinload(Trainee.unit))
                               .order_by(Trainee.external_id)).scalars()
    return [{"external_id": t.external_id, "name": t.person.name, "school": t.unit.name, "province": None,
             "district": t.district, "subject": t.subject, "grade": t.grade, "gender": t.person.gender,
             "phone": t.person.phone} for t in trainees]


def _entry_rows(session, stage) -> list[dict]:
    from models import Entry, Team, TeamMember
    entries = session.execute(
        select(Entry).where(Entry.stage_id == stage.id).options(
            selectinload(Entry.category), selectinload(Entry.unit), selectinload(Entry.division),
            selectinload(Entry.person),
            selectinload(Entry.team).selectinload(Team.members).selectinload(TeamMember.person))).scalars().all()
    entries.sort(key=lambda e: (e.category.sort, e.division.code if e.division else "",
                                e.draw_number if e.draw_number is not None else 1 << 31, e.external_id))
    rows = []
    for e in entries:
        names, lead, team_name = [], None, None
        if e.person is not None:
            names, lead = [e.person.name], e.person
        elif e.team is not None:
            names = [m.person.name for m in e.team.members]
            lead = e.team.members[0].person if e.team.members else None
            team_name = e.team.name if e.team.name != e.title else None
        rows.append({"external_id": e.external_id, "title": e.title, "category": e.category.name,
                     "division": e.division.name if e.division else None, "unit": e.unit.external_id,
                     "names": join_names(names), "team_name": team_name,
                     "gender": lead.gender if lead else None, "phone": lead.phone if lead else None,
                     "draw_number": e.draw_number, "anonymous_code": e.anonymous_code})
    return rows


# --- small helpers -------------------------------------------------------------------------

def _display_width(text: str) -> int:
    """Excel column width units: a CJK character takes two."""
    longest = max((line for line in str(text).split("\n")), key=len, default="")
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in longest)


_NUMBERISH = re.compile(r"[+-]?[\d\s().-]+")


def _csv_cell(value) -> str:
    """CSV text; a cell that Excel would run as a formula gets a protective quote, which the
    importer removes again (phone numbers such as +86 ... are left alone)."""
    if value is None:
        return ""
    text = str(value)
    if text[:1] in ("=", "+", "-", "@") and not _NUMBERISH.fullmatch(text):
        return "'" + text
    return text


def _safe_filename(name: str) -> str:
    return re.sub(r'[\\/:*?"<>|\s]+', "_", name)


def _save(wb) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
