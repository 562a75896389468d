"""Templates and exports (documents/excel.py): they speak exactly the import format, so a
template's header parses cleanly and export → edit → re-import round-trips."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from documents.columns import COLUMNS, columns_for, match_header
from documents.excel import export_filename, export_rows, export_table, template_filename, template_workbook
from documents.tables import read_table
from extensions import db
from models import DeclaredRelation, Judge, RelationKind, Unit
from tests.web.test_imports import (ENTRY_HEADER, ENTRY_ROWS, JUDGE_HEADER, UNIT_HEADER, UNIT_ROWS, applied,
                                    counts, entry, final, imp, regional)

KINDS = ("units", "judges", "entries")


@pytest.fixture
def populated(competition):
    """Units, entries in the regional round and the final, judges with relations of every
    source: what an organiser has after a season of imports and edits."""
    applied(imp("units", competition, [UNIT_HEADER, *UNIT_ROWS]))
    applied(imp("entries", competition, [ENTRY_HEADER, *ENTRY_ROWS], stage=regional(competition)))
    applied(imp("entries", competition, [ENTRY_HEADER, ENTRY_ROWS[0], ENTRY_ROWS[2]], stage=final(competition)))
    judges = [
        ["J001", "刘明", "U0001", None, "展品辅导", "研究馆员", "否", "13700000001",
         "亲属:E0001（母子）；单位:U0002；同事:单位:U0003"],
        ["J002", "陈静", "U0002", "江苏", None, None, "是", None, "师生:E0003"],
        ["J003", "黄河", "U0003", None, None, None, None, None, None],
    ]
    applied(imp("judges", competition, [JUDGE_HEADER, *judges]))
    j3 = db.session.execute(select(Judge).filter_by(external_id="J003")).scalar_one()
    j3.relations.append(DeclaredRelation(kind=RelationKind.coach, entry_id=entry(competition, "E0004").id,
                                         source="organiser"))
    db.session.commit()
    return competition


def stage_for(kind, prog):
    return regional(prog) if kind == "entries" else None


def sheet(data: bytes, name=None):
    wb = load_workbook(io.BytesIO(data))
    return wb, (wb[name] if name else wb.worksheets[0])


# --- templates ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_programme", [False, True])
def test_template_header_parses_with_no_header_error(competition, kind, with_programme):
    prog = competition if with_programme else None
    stage = regional(competition) if with_programme and kind == "entries" else None
    data = template_workbook(kind, prog, stage)
    columns = columns_for(kind, stage)
    table = read_table("模板.xlsx", data)
    assert match_header(table.header, columns, table.header_row, table.data_columns).errors == []
    assert table.header == [c.label for c in columns]
    assert [c.label for c in columns if c.required] == [c.header + "*" for c in columns if c.required]
    assert [n for n, _ in table.rows] == [2]   # one example row

    wb, ws = sheet(data)
    assert wb.sheetnames[:2] == [{"units": "单位", "judges": "评委", "entries": "作品"}[kind], "说明"]
    assert ws.freeze_panes == "A2"
    assert all(cell.font.b for cell in ws[1])
    assert all(ws.column_dimensions[c.column_letter].width >= 8 for c in ws[1])
    help_text = "\n".join(str(c.value) for row in wb["说明"].iter_rows() for c in row if c.value)
    for col in columns:
        assert col.header in help_text and (not col.help or col.help in help_text)


def test_entry_template_lists_the_programmes_categories_and_divisions(competition):
    wb, ws = sheet(template_workbook("entries", competition, regional(competition)))
    help_rows = [[c.value for c in row] for row in wb["说明"].iter_rows()]
    categories = [r[:3] for r in help_rows if r[1] in {c.code for c in competition.categories}]
    assert categories == [["展品辅导", "exhibit", "个人"], ["展品辅导（科技志愿者组）", "volunteer", "个人"],
                          ["科学实验", "experiment", "团队"], ["科普短剧", "drama", "团队"], ["科学课程", "course", "团队"]]
    divisions = [r[0] for r in help_rows if str(r[1] or "").isdigit()]
    assert len(divisions) == 31 and divisions[0] == "北京赛区"
    header = [c.value for c in ws[1]]
    assert "分赛区*" in header   # required in a round run per division
    lists = {r.min_col for dv in ws.data_validations.dataValidation for r in dv.sqref.ranges}
    assert {3, 4, 8} <= lists   # 赛项, 分赛区, 性别 drop-downs


def test_judge_template_explains_the_relation_syntax(competition):
    wb, _ = sheet(template_workbook("judges", competition))
    text = "\n".join(str(c.value) for row in wb["说明"].iter_rows() for c in row if c.value)
    assert "回避关系的写法" in text and "亲属:E0012；师生:E0345（大学导师）；单位:U0123" in text


def test_the_templates_example_rows_are_valid_imports(competition):
    for kind in ("units", "entries", "judges"):   # each example refers to the one before
        stage = stage_for(kind, competition)
        batch = imp(kind, competition, data=template_workbook(kind, competition, stage), stage=stage)
        assert (batch.status, batch.rows_created) == ("applied", 1), batch.errors


def test_template_and_export_filenames(competition):
    assert template_filename("units") == "单位导入模板.xlsx"
    assert template_filename("entries", competition) == "2024年全国科技馆辅导员大赛-参赛作品导入模板.xlsx"
    assert export_filename("entries", competition, final(competition), "csv") == \
        "2024年全国科技馆辅导员大赛-全国决赛-参赛作品.csv"
    assert export_filename("units", competition) == "单位名单.xlsx"


# --- exports -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
@pytest.mark.parametrize("kind", KINDS)
def test_export_then_reimport_changes_nothing(populated, kind, fmt):
    stage = stage_for(kind, populated)
    data = export_table(db.session, kind, populated, stage, fmt=fmt)
    before = counts()
    batch = imp(kind, populated, data=data, filename=f"导出.{fmt}", stage=stage)
    assert batch.status == "applied", batch.errors
    assert (batch.rows_created, batch.rows_updated) == (0, 0)
    assert batch.rows_total == len(export_rows(db.session, kind, populated, stage))
    assert counts() == before


def test_entries_export_in_the_import_format(populated):
    data = export_table(db.session, "entries", populated, regional(populated))
    table = read_table("导出.xlsx", data)
    assert table.header == [c.label for c in columns_for("entries", regional(populated))]
    rows = {cells[0]: dict(zip(ENTRY_HEADER, cells)) for _, cells in table.rows}
    assert rows["E0001"] == {"作品编号": "E0001", "作品名称": "会跳舞的磁铁", "赛项": "展品辅导", "分赛区": "北京赛区",
                             "单位编号": "U0001", "选手姓名": "张小明", "队伍名称": "", "性别": "男",
                             "联系电话": "13900000001", "抽签号": "1", "匿名编号": ""}
    assert (rows["E0003"]["选手姓名"], rows["E0003"]["队伍名称"], rows["E0003"]["分赛区"]) == \
        ("王一、赵二、钱三", "广科实验队", "广东赛区")
    assert rows["E0004"]["队伍名称"] == ""   # the team is named after its project
    _, ws = sheet(data)
    assert ws.cell(row=2, column=10).value == 1 and ws.cell(row=2, column=1).number_format == "@"


def test_judges_export_writes_relations_in_the_import_syntax(populated):
    rows = {r["external_id"]: r for r in export_rows(db.session, "judges", populated)}
    # E0001 is in two rounds: one relation item, not two
    assert rows["J001"]["relations"] == "亲属:E0001（母子）；单位:U0002；同事:单位:U0003"
    assert (rows["J002"]["province"], rows["J002"]["is_school_teacher"]) == ("江苏省", "是")
    assert rows["J003"]["relations"] == "辅导:E0004"   # organiser-declared relations are listed too


def test_csv_export_is_utf8_with_bom_so_excel_shows_chinese(populated):
    data = export_table(db.session, "units", populated, fmt="csv")
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(c.label for c in COLUMNS["units"])
    assert lines[1] == "U0001,北京科学中心,北京市,科技馆,王老师,010-62345678"


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_export_edit_reimport_updates(populated, fmt):
    data = export_table(db.session, "units", populated, fmt=fmt)
    if fmt == "xlsx":
        wb, ws = sheet(data)
        ws["B3"] = "上海科技馆（新馆）"
        buf = io.BytesIO()
        wb.save(buf)
        data = buf.getvalue()
    else:
        data = data.decode("utf-8-sig").replace("上海科技馆", "上海科技馆（新馆）").encode("gbk")  # saved by WPS
    before = counts()
    batch = applied(imp("units", populated, data=data, filename=f"单位.{fmt}"))
    assert (batch.rows_created, batch.rows_updated) == (0, 1)
    assert counts() == before
    assert db.session.execute(select(Unit.name).filter_by(external_id="U0002")).scalar_one() == "上海科技馆（新馆）"


def test_text_that_looks_like_a_formula_stays_text(populated):
    db.session.add(Unit(external_id="U0900", name="=HYPERLINK(\"http://x\")", province_id=populated.divisions[0].province_id,
                        contact_phone="+86 10 1234 5678"))
    db.session.commit()
    wb = load_workbook(io.BytesIO(export_table(db.session, "units", populated)), data_only=True)
    values = [row[1] for row in wb.worksheets[0].iter_rows(values_only=True)]
    assert '=HYPERLINK("http://x")' in values   # a string cell, not a formula without a value
    data = export_table(db.session, "units", populated, fmt="csv")
    text = data.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "+86 10 1234 5678" in text and "'+86" not in text
    batch = applied(imp("units", populated, data=data, filename="单位.csv"))
    assert (batch.rows_created, batch.rows_updated) == (0, 0)


def test_export_of_an_empty_list_is_a_header_that_imports_as_empty(competition):
    table_data = export_table(db.session, "judges", competition)
    _, ws = sheet(table_data)
    assert [c.value for c in ws[1]] == [c.label for c in COLUMNS["judges"]] and ws.max_row == 1
    batch = imp("judges", competition, data=table_data)
    assert batch.status == "rejected" and "只有表头，没有数据行" in batch.errors[0]["message"]


def test_entries_export_needs_a_stage(competition):
    with pytest.raises(ValueError):
        export_table(db.session, "entries", competition)
    with pytest.raises(ValueError):
        export_table(db.session, "units", competition, fmt="pdf")
