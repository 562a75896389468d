"""Importing units, judges and entries from the sheets provinces send in (services/imports.py).

Every bad file must be rejected as a whole with the row, column and reason the organiser sees,
and leave every table exactly as it was; good files create, and re-imports update in place."""
from __future__ import annotations

import io

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from extensions import db
from models import (DeclaredRelation, Entry, ImportBatch, Judge, Person, RelationKind, Team, TeamMember,
                    Unit)
from services.imports import batch_summary, run_import

# --- helpers -----------------------------------------------------------------------------------

UNIT_HEADER = ["单位编号", "单位名称", "所在省份", "单位类型", "联系人", "联系电话"]
UNIT_ROWS = [
    ["U0001", "北京科学中心", "北京", "科技馆", "王老师", "010-62345678"],
    ["U0002", "上海科技馆", "上海市", "科技馆", "李老师", 13800000002],   # a phone typed as a number
    ["U0003", "广东科学中心", 44, "科技馆", None, None],                  # a GB code typed as a number
]
ENTRY_HEADER = ["作品编号", "作品名称", "赛项", "分赛区", "单位编号", "选手姓名", "队伍名称", "性别", "联系电话",
                "抽签号", "匿名编号"]
ENTRY_ROWS = [
    ["E0001", "会跳舞的磁铁", "展品辅导", "北京赛区", "U0001", "张小明", None, "男", "13900000001", 1, None],
    ["E0002", "神奇的伯努利", "exhibit", "上海", "U0002", "李小红", None, "女", None, 2, None],
    ["E0003", "大气压的力量", "科学实验", "44", "U0003", "王一、赵二，钱三", "广科实验队", None, None, 1, None],
    ["E0004", "光的旅行", "科普短剧", "北京赛区", "U0001", "孙四", None, None, None, None, None],
]
JUDGE_HEADER = ["评委编号", "姓名", "单位编号", "所在省份", "专业领域", "职称", "中小学教师", "联系电话", "回避关系"]


def xlsx(rows, title: str = "Sheet") -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_bytes(rows, encoding: str = "utf-8-sig") -> bytes:
    text = "\r\n".join(",".join("" if c is None else str(c) for c in row) for row in rows) + "\r\n"
    return text.encode(encoding)


def counts() -> dict[str, int]:
    """Row counts of every table except the import log itself."""
    return {t.name: db.session.execute(select(func.count()).select_from(t)).scalar_one()
            for t in db.metadata.sorted_tables if t.name != "import_batch"}


def regional(prog):
    return prog.stages[0]


def final(prog):
    return prog.stages[2]


def imp(kind, prog, rows=None, *, data=None, filename="名单.xlsx", stage=None):
    if data is None:
        data = xlsx(rows)
    return run_import(db.session, kind, filename, data, prog, stage)


def applied(batch) -> ImportBatch:
    assert batch.status == "applied", batch.errors
    return batch


def n(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def units(competition):
    applied(imp("units", competition, [UNIT_HEADER, *UNIT_ROWS]))
    return competition


@pytest.fixture
def entries(units):
    applied(imp("entries", units, [ENTRY_HEADER, *ENTRY_ROWS], stage=regional(units)))
    return units


def entry(prog, external_id, stage=None) -> Entry:
    stage = stage or regional(prog)
    return db.session.execute(select(Entry).where(Entry.stage_id == stage.id,
                                                  Entry.external_id == external_id)).scalar_one()


# --- good imports ------------------------------------------------------------------------------

def test_units_import_creates_units_with_provinces_by_any_spelling(competition):
    batch = applied(imp("units", competition, [UNIT_HEADER, *UNIT_ROWS]))
    assert (batch.rows_total, batch.rows_created, batch.rows_updated) == (3, 3, 0)
    assert batch.errors == [] and batch.kind == "units" and batch.programme_id == competition.id
    got = {u.external_id: (u.name, u.province.short_name, u.kind, u.contact_name, u.contact_phone)
           for u in db.session.execute(select(Unit)).scalars()}
    assert got == {
        "U0001": ("北京科学中心", "北京", "科技馆", "王老师", "010-62345678"),
        "U0002": ("上海科技馆", "上海", "科技馆", "李老师", "13800000002"),
        "U0003": ("广东科学中心", "广东", "科技馆", None, None),
    }
    assert batch_summary(batch).startswith("导入成功：共 3 行，新增 3 条")


def test_reimport_of_units_updates_by_id_and_never_duplicates(units):
    before = counts()
    again = applied(imp("units", units, [UNIT_HEADER, *UNIT_ROWS]))
    assert (again.rows_created, again.rows_updated) == (0, 0)
    assert counts() == before

    edited = [list(r) for r in UNIT_ROWS]
    edited[1][1] = "上海科技馆（浦东）"
    edited[2][4] = "陈老师"
    batch = applied(imp("units", units, [UNIT_HEADER, *edited]))
    assert (batch.rows_created, batch.rows_updated) == (0, 2)
    assert counts() == before
    u2 = db.session.execute(select(Unit).filter_by(external_id="U0002")).scalar_one()
    assert u2.name == "上海科技馆（浦东）"


def test_a_column_left_out_keeps_existing_values_and_an_empty_cell_clears(units):
    applied(imp("units", units, [["单位编号", "单位名称", "所在省份"], ["U0001", "北京科学中心", "北京"]]))
    u1 = db.session.execute(select(Unit).filter_by(external_id="U0001")).scalar_one()
    assert u1.contact_phone == "010-62345678"
    applied(imp("units", units, [["单位编号", "单位名称", "所在省份", "联系电话"], ["U0001", "北京科学中心", "北京", None]]))
    db.session.refresh(u1)
    assert u1.contact_phone is None


def test_two_units_may_swap_names_in_one_import(units):
    rows = [["U0001", "上海科技馆", "北京"], ["U0002", "北京科学中心", "上海"]]
    applied(imp("units", units, [UNIT_HEADER[:3], *rows]))
    names = {k: v for k, v in db.session.execute(select(Unit.external_id, Unit.name))}
    assert names["U0001"] == "上海科技馆" and names["U0002"] == "北京科学中心"


def test_entries_import_individuals_and_teams_with_members(units):
    stage = regional(units)
    batch = applied(imp("entries", units, [ENTRY_HEADER, *ENTRY_ROWS], stage=stage))
    assert (batch.rows_total, batch.rows_created, batch.stage_id) == (4, 4, stage.id)

    e1 = entry(units, "E0001")
    assert (e1.kind, e1.person.name, e1.person.gender, e1.person.phone, e1.team) == \
        ("individual", "张小明", "男", "13900000001", None)
    assert (e1.category.code, e1.division.name, e1.unit.external_id, e1.province.short_name, e1.draw_number) == \
        ("exhibit", "北京赛区", "U0001", "北京", 1)
    assert e1.person.unit_id == e1.unit_id
    e2 = entry(units, "E0002")
    assert (e2.category.code, e2.division.name) == ("exhibit", "上海赛区")   # code, short province

    e3 = entry(units, "E0003")
    assert (e3.kind, e3.person, e3.team.name, e3.division.name) == ("team", None, "广科实验队", "广东赛区")
    assert [(m.person.name, m.role, m.seq) for m in e3.team.members] == \
        [("王一", "leader", 0), ("赵二", "member", 1), ("钱三", "member", 2)]
    assert e3.contestant_name == "王一、赵二、钱三"

    e4 = entry(units, "E0004")   # a team category with a single name is a team of one
    assert (e4.kind, e4.team.name, [m.person.name for m in e4.team.members]) == ("team", "光的旅行", ["孙四"])
    assert (n(Entry), n(Team), n(TeamMember), n(Person)) == (4, 2, 4, 6)


def test_division_defaults_to_the_units_province_outside_division_rounds(units):
    header = ["作品编号", "作品名称", "赛项", "单位编号", "选手姓名"]
    applied(imp("entries", units, [header, ["F01", "展品甲", "展品辅导", "U0003", "周五"]], stage=final(units)))
    assert entry(units, "F01", final(units)).division.name == "广东赛区"


def test_resources_are_entries_without_contestants(units):
    from services.programme_templates import create_from_template
    call = create_from_template(db.session, "resource_call", year=2024)
    db.session.commit()
    header = ["作品编号", "作品名称", "赛项", "单位编号"]
    batch = applied(imp("entries", call, [header, ["R001", "磁与电展板", "展览图文", "U0001"],
                                          ["R002", "声音的秘密", "video", "U0002"]], stage=call.stages[0]))
    assert batch.rows_created == 2
    r = entry(call, "R001", call.stages[0])
    assert (r.kind, r.person_id, r.team_id, r.division_id) == ("resource", None, None, None)


def test_reimport_of_entries_updates_in_place_and_replaces_members(entries):
    before = counts()
    again = applied(imp("entries", entries, [ENTRY_HEADER, *ENTRY_ROWS], stage=regional(entries)))
    assert (again.rows_created, again.rows_updated) == (0, 0)
    assert counts() == before

    rows = [list(r) for r in ENTRY_ROWS]
    rows[0][1] = "会跳舞的磁铁（修订）"
    rows[0][5] = "张晓明"                 # a typo fixed: the same person, renamed
    rows[2][5] = "赵二、王一、钱叁"         # leader changed, one name corrected
    team_id = entry(entries, "E0003").team_id
    person_id = entry(entries, "E0001").person_id
    batch = applied(imp("entries", entries, [ENTRY_HEADER, *rows], stage=regional(entries)))
    assert (batch.rows_created, batch.rows_updated) == (0, 2)
    assert counts() == before
    e1, e3 = entry(entries, "E0001"), entry(entries, "E0003")
    assert (e1.title, e1.person_id, e1.person.name) == ("会跳舞的磁铁（修订）", person_id, "张晓明")
    assert e3.team_id == team_id
    assert [(m.person.name, m.role) for m in e3.team.members] == \
        [("赵二", "leader"), ("王一", "member"), ("钱叁", "member")]

    rows[2][5] = "赵二"                    # a member leaves: removed, not left behind
    applied(imp("entries", entries, [ENTRY_HEADER, *rows], stage=regional(entries)))
    assert [m.person.name for m in entry(entries, "E0003").team.members] == ["赵二"]
    assert (n(TeamMember), n(Person)) == (before["team_member"] - 2, before["person"] - 2)


def test_draw_numbers_can_be_swapped_between_entries(entries):
    rows = [list(r) for r in ENTRY_ROWS]
    rows[1][3] = "北京赛区"          # E0001 and E0002: both 展品辅导 in 北京赛区, draws 1 and 2
    applied(imp("entries", entries, [ENTRY_HEADER, *rows], stage=regional(entries)))
    rows[0][9], rows[1][9] = 2, 1   # swapped in one import: no moment with two equal numbers
    batch = applied(imp("entries", entries, [ENTRY_HEADER, *rows], stage=regional(entries)))
    assert batch.rows_updated == 2
    assert (entry(entries, "E0001").draw_number, entry(entries, "E0002").draw_number) == (2, 1)


def test_judges_import_with_declared_relations(entries):
    # E0001 is also in the final: a relation to it covers both rounds
    applied(imp("entries", entries, [ENTRY_HEADER, ENTRY_ROWS[0]], stage=final(entries)))
    rows = [
        ["J001", "刘明", "U0001", None, "展品辅导、科学实验", "研究馆员", "否", 13700000001,
         "亲属:E0001（母子）；单位:U0002；同事:单位:U0003"],
        ["J002", "陈静", "U0002", "江苏", None, None, "是", None, "师生：E0003; 教练:E0004"],
        ["J003", "黄河", "U0003", None, None, None, None, None, None],
    ]
    batch = applied(imp("judges", entries, [JUDGE_HEADER, *rows]))
    assert (batch.rows_created, batch.kind) == (3, "judges")
    judges = {j.external_id: j for j in db.session.execute(select(Judge)).scalars()}
    j1, j2, j3 = judges["J001"], judges["J002"], judges["J003"]
    assert (j1.person.name, j1.person.phone, j1.unit.external_id, j1.province.short_name, j1.title,
            j1.expertise, j1.is_school_teacher) == ("刘明", "13700000001", "U0001", "北京", "研究馆员",
                                                     "展品辅导、科学实验", False)
    assert (j2.province.short_name, j2.is_school_teacher, j3.is_school_teacher) == ("江苏", True, False)

    def relations(judge):
        return sorted((str(r.kind), r.entry.external_id if r.entry else None,
                       r.entry.stage.seq if r.entry else None, r.unit.external_id if r.unit else None,
                       r.note, r.source) for r in judge.relations)

    assert relations(j1) == [
        ("colleague", None, None, "U0003", None, "import"),
        ("other", None, None, "U0002", None, "import"),
        ("relative", "E0001", 1, None, "母子", "import"),
        ("relative", "E0001", 3, None, "母子", "import"),
    ]
    assert relations(j2) == [("coach", "E0004", 1, None, None, "import"),
                             ("teacher_student", "E0003", 1, None, None, "import")]
    assert relations(j3) == []


def test_reimport_of_judges_replaces_only_imported_relations(entries):
    rows = [["J001", "刘明", "U0001", None, None, None, None, None, "亲属:E0001；单位:U0002"]]
    applied(imp("judges", entries, [JUDGE_HEADER, *rows]))
    judge = db.session.execute(select(Judge)).scalar_one()
    judge.relations.append(DeclaredRelation(kind=RelationKind.colleague, unit_id=entry(entries, "E0004").unit_id,
                                            source="organiser"))
    judge.relations.append(DeclaredRelation(kind=RelationKind.relative, entry_id=entry(entries, "E0001").id,
                                            source="judge"))
    db.session.commit()
    before = counts()

    again = applied(imp("judges", entries, [JUDGE_HEADER, *rows]))
    assert (again.rows_created, again.rows_updated) == (0, 0)
    assert counts() == before

    rows[0][1], rows[0][8] = "刘明明", "师生:E0002"
    batch = applied(imp("judges", entries, [JUDGE_HEADER, *rows]))
    assert (batch.rows_created, batch.rows_updated) == (0, 1)
    db.session.refresh(judge)
    assert judge.person.name == "刘明明"
    assert sorted((r.source, str(r.kind)) for r in judge.relations) == \
        [("import", "teacher_student"), ("judge", "relative"), ("organiser", "colleague")]
    assert n(Judge) == 1 and n(Person) == before["person"]


# --- bad files: rejected as a whole, row / column / reason, nothing changed -------------------

OK_UNIT = ["U0101", "天津科技馆", "天津"]
OK_ENTRY = ["E0101", "电磁秋千", "展品辅导", "天津赛区", "U0001", "吴六", None, None, None, 5, None]
E_HEAD = ENTRY_HEADER
CATEGORY_CHOICES = "展品辅导、展品辅导（科技志愿者组）、科学实验、科普短剧、科学课程"


def _entry(**changes):
    row = list(OK_ENTRY)
    for key, value in changes.items():
        row[E_HEAD.index(key)] = value
    return row


BAD_FILES = [
    # header problems
    ("missing column", "units", [["单位编号", "单位名称"], ["U0101", "天津科技馆"]],
     [(1, "所在省份", "缺少必填列“所在省份”")]),
    ("renamed column", "units", [["单位编号", "单位", "所在省份"], OK_UNIT],
     [(1, "单位名称", "缺少必填列“单位名称”"), (1, "单位", "无法识别的列“单位”，是否应为“单位名称”？")]),
    ("unknown column", "units", [["单位编号", "单位名称", "所在省份", "邮编"], OK_UNIT + ["300000"]],
     [(1, "邮编", "无法识别的列“邮编”，本表的列为：单位编号、单位名称、所在省份、单位类型、联系人、联系电话")]),
    ("column given twice", "units", [["单位编号", "单位名称", "所在省份", "单位名称"], OK_UNIT + ["天津馆"]],
     [(1, "单位名称", "列“单位名称”出现了 2 次（第 B、D 列），只能出现一次")]),
    ("data without a header", "units", [["单位编号", "单位名称", "所在省份", None], OK_UNIT + ["多余"]],
     [(1, "D列", "第 D 列有数据但没有列名，请补上列名或删除该列")]),
    ("division required in division rounds", "entries", [[h for h in E_HEAD if h != "分赛区"],
                                                        [c for h, c in zip(E_HEAD, OK_ENTRY) if h != "分赛区"]],
     [(1, "分赛区", "缺少必填列“分赛区”")]),
    # wrong values
    ("unknown province", "units", [UNIT_HEADER[:3], ["U0101", "火星科技馆", "火星"]],
     [(2, "所在省份", "所在省份“火星”无法识别，请填写省份全称（如“北京市”）、简称（如“北京”）或行政区划代码（如“11”）")]),
    ("required cell empty", "units", [UNIT_HEADER[:3], ["U0101", None, "天津"]],
     [(2, "单位名称", "单位名称不能为空")]),
    ("too long", "units", [UNIT_HEADER[:3], ["U0101", "馆" * 201, "天津"]],
     [(2, "单位名称", "单位名称过长：最多 200 个字符，实际 201 个")]),
    ("id with a space", "units", [UNIT_HEADER[:3], ["U 0101", "天津科技馆", "天津"]],
     [(2, "单位编号", "单位编号“U 0101”不能包含空格或分隔符（：；，、）")]),
    ("phone saved in scientific notation", "units", [UNIT_HEADER, ["U0101", "天津科技馆", "天津", None, None, "1.38E+10"]],
     [(2, "联系电话", "联系电话“1.38E+10”被 Excel 存成了科学计数法，后几位数字已丢失。请把该列设为“文本”格式，重新填写后再导入")]),
    ("duplicate unit ids", "units", [UNIT_HEADER[:3], OK_UNIT, ["U0101", "天津科学中心", "天津"]],
     [(3, "单位编号", "单位编号“U0101”在文件中重复（第 2、3 行）")]),
    ("duplicate unit names in the file", "units", [UNIT_HEADER[:3], OK_UNIT, ["U0102", "天津科技馆", "天津"]],
     [(3, "单位名称", "单位名称“天津科技馆”在文件中重复（第 2、3 行）")]),
    ("unit name of another unit", "units", [UNIT_HEADER[:3], ["U0101", "北京科学中心", "北京"]],
     [(2, "单位名称", "单位名称“北京科学中心”已被单位“U0001”使用，单位名称不能重复")]),
    ("draw number not a number", "entries", [E_HEAD, _entry(抽签号="三")],
     [(2, "抽签号", "抽签号应为正整数，实际为“三”")]),
    ("draw number zero", "entries", [E_HEAD, _entry(抽签号=0)], [(2, "抽签号", "抽签号应为正整数，实际为“0”")]),
    ("draw number a fraction", "entries", [E_HEAD, _entry(抽签号=2.5)], [(2, "抽签号", "抽签号应为正整数，实际为“2.5”")]),
    ("gender", "entries", [E_HEAD, _entry(性别="未知")], [(2, "性别", "性别应填写“男”或“女”，实际为“未知”")]),
    ("unknown unit", "entries", [E_HEAD, _entry(单位编号="U9999")], [(2, "单位编号", "单位编号“U9999”不存在，请先导入单位")]),
    ("unit code in the wrong case", "entries", [E_HEAD, _entry(单位编号="u0001")],
     [(2, "单位编号", "单位编号“u0001”不存在（是否为“U0001”？）")]),
    ("unknown category", "entries", [E_HEAD, _entry(赛项="舞蹈")],
     [(2, "赛项", f"赛项“舞蹈”不存在，可选：{CATEGORY_CHOICES}")]),
    ("unknown division", "entries", [E_HEAD, _entry(分赛区="火星赛区")],
     [(2, "分赛区", "分赛区“火星赛区”不存在，请填写分赛区名称（如“北京赛区”）、省份简称（如“北京”）或代码（如“11”）")]),
    ("empty division in a division round", "entries", [E_HEAD, _entry(分赛区=None)],
     [(2, "分赛区", "分赛区不能为空：本阶段（分赛区选拔）按分赛区进行，请填写分赛区，如“北京赛区”")]),
    ("several names in an individual category", "entries", [E_HEAD, _entry(选手姓名="吴六、郑七")],
     [(2, "选手姓名", "赛项“展品辅导”为个人赛项，只能填写一名选手，实际填写了 2 名（吴六、郑七）；团队作品请选择团队赛项")]),
    ("no name", "entries", [E_HEAD, _entry(选手姓名=None)], [(2, "选手姓名", "选手姓名不能为空")]),
    ("team name on an individual", "entries", [E_HEAD, _entry(队伍名称="天津队")],
     [(2, "队伍名称", "赛项“展品辅导”不是团队赛项，请不要填写队伍名称")]),
    ("member twice", "entries", [E_HEAD, _entry(赛项="科学实验", 选手姓名="吴六、郑七、吴六")],
     [(2, "选手姓名", "队员“吴六”重复填写")]),
    ("duplicate entry ids", "entries", [E_HEAD, OK_ENTRY, _entry(抽签号=6), _entry(抽签号=7)],
     [(3, "作品编号", "作品编号“E0101”在文件中重复（第 2、3、4 行）"),
      (4, "作品编号", "作品编号“E0101”在文件中重复（第 2、3、4 行）")]),
    ("draw numbers clash in the file", "entries", [E_HEAD, OK_ENTRY, _entry(作品编号="E0102", 选手姓名="郑七")],
     [(3, "抽签号", "抽签号 5 在同一赛项、同一分赛区中重复（第 2、3 行）")]),
    ("draw number taken by an entry not in the file", "entries",
     [E_HEAD, _entry(分赛区="北京赛区", 抽签号=1)],
     [(2, "抽签号", "抽签号 1 已被作品“E0001”使用（同一赛项、同一分赛区内抽签号不能重复）")]),
    ("anonymous codes clash", "entries",
     [E_HEAD, _entry(匿名编号="A01"), _entry(作品编号="E0102", 抽签号=6, 匿名编号="A01")],
     [(3, "匿名编号", "匿名编号“A01”在文件中重复（第 2、3 行）")]),
    ("many errors in many rows, all reported", "entries",
     [E_HEAD, _entry(作品编号="E0103", 赛项="舞蹈", 抽签号="三"), OK_ENTRY[:], _entry(作品编号="E0102", 单位编号="U7")],
     [(2, "赛项", f"赛项“舞蹈”不存在，可选：{CATEGORY_CHOICES}"), (2, "抽签号", "抽签号应为正整数，实际为“三”"),
      (4, "单位编号", "单位编号“U7”不存在，请先导入单位")]),
    ("judge's unit unknown", "judges", [JUDGE_HEADER[:3], ["J001", "刘明", "U9999"]],
     [(2, "单位编号", "单位编号“U9999”不存在，请先导入单位")]),
    ("yes/no", "judges", [["评委编号", "姓名", "单位编号", "中小学教师"], ["J001", "刘明", "U0001", "也许"]],
     [(2, "中小学教师", "中小学教师应填写“是”或“否”，实际为“也许”")]),
    ("relation kind unknown", "judges", [["评委编号", "姓名", "单位编号", "回避关系"], ["J001", "刘明", "U0001", "朋友:E0001"]],
     [(2, "回避关系", "回避关系“朋友:E0001”的类型“朋友”无法识别，可选：亲属、师生、同事、辅导、其他，或“单位”")]),
    ("relation without a kind", "judges", [["评委编号", "姓名", "单位编号", "回避关系"], ["J001", "刘明", "U0001", "E0001"]],
     [(2, "回避关系", "回避关系“E0001”格式不正确，应为“类型:作品编号”或“单位:单位编号”，如“亲属:E0012；单位:U0123”")]),
    ("relation to an unknown entry and unit", "judges",
     [["评委编号", "姓名", "单位编号", "回避关系"], ["J001", "刘明", "U0001", "亲属:E0999；单位:U0999"]],
     [(2, "回避关系", "回避关系中的作品编号“E0999”在本项目中不存在，请先导入作品"),
      (2, "回避关系", "回避关系中的单位编号“U0999”不存在，请先导入单位")]),
]


@pytest.mark.parametrize("kind,rows,expected", [pytest.param(k, r, e, id=name) for name, k, r, e in BAD_FILES])
def test_bad_rows_are_reported_and_nothing_changes(entries, kind, rows, expected):
    stage = regional(entries) if kind == "entries" else None
    before = counts()
    batch = imp(kind, entries, rows, stage=stage)
    assert batch.status == "rejected"
    assert [(e["row"], e["column"], e["message"]) for e in batch.errors] == expected
    assert (batch.rows_created, batch.rows_updated) == (0, 0)
    assert counts() == before
    assert db.session.get(ImportBatch, batch.id).errors == batch.errors   # stored and committed


def _ole2() -> bytes:
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504


BAD_WHOLE_FILES = [
    ("empty sheet", "名单.xlsx", xlsx([]), "工作表“Sheet”是空的：没有表头，也没有数据。请使用下载的模板填写后再上传。"),
    ("header only", "名单.xlsx", xlsx([UNIT_HEADER, [None, None], []]),
     "工作表“Sheet”只有表头，没有数据行。请从表头下一行开始填写数据。"),
    ("text file named .xlsx", "名单.xlsx", "单位编号,单位名称\nU1,甲\n".encode(),
     "文件“名单.xlsx”不是有效的 Excel 工作簿（.xlsx）：它可能已损坏，或是其他类型的文件改了扩展名。"
     "请在 Excel 或 WPS 中打开数据表，“另存为”Excel 工作簿（.xlsx）后再上传。"),
    ("pdf named .xlsx", "名单.xlsx", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
     "文件“名单.xlsx”不是有效的 Excel 工作簿（.xlsx）：它实际上是一个 PDF 文件。"
     "请在 Excel 或 WPS 中打开数据表，“另存为”Excel 工作簿（.xlsx）后再上传。"),
    ("zip that is no workbook", "名单.xlsx", None, "文件“名单.xlsx”不是有效的 Excel 工作簿（.xlsx）：它是一个压缩包或 "
     "Word/PowerPoint 文件，而不是 Excel 工作簿。请在 Excel 或 WPS 中打开数据表，“另存为”Excel 工作簿（.xlsx）后再上传。"),
    ("old .xls", "名单.xls", _ole2(),
     "不支持旧版 Excel 97-2003 工作簿（.xls）。请在 Excel 或 WPS 中打开，“另存为”Excel 工作簿（.xlsx）后再上传。"),
    (".xls renamed .xlsx", "名单.xlsx", _ole2(),
     "文件“名单.xlsx”实际上是旧版 .xls 格式或已加密的工作簿。请在 Excel 或 WPS 中打开，取消密码后“另存为”Excel 工作簿（.xlsx）再上传。"),
    ("unknown extension", "名单.pdf", b"%PDF-1.7", "不支持的文件类型“.pdf”，请上传 Excel 工作簿（.xlsx）或 CSV 文件（.csv）。"),
    ("no extension", "名单", b"abc", "不支持的文件类型“（无扩展名）”，请上传 Excel 工作簿（.xlsx）或 CSV 文件（.csv）。"),
    ("zero bytes", "名单.xlsx", b"", "文件“名单.xlsx”是空的（0 字节），请检查后重新上传。"),
    ("empty csv", "名单.csv", "\ufeff\r\n\r\n".encode(), "文件是空的：没有表头，也没有数据。请使用下载的模板填写后再上传。"),
]


def _zip_without_workbook() -> bytes:
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


@pytest.mark.parametrize("filename,data,message",
                         [pytest.param(f, d, m, id=name) for name, f, d, m in BAD_WHOLE_FILES])
def test_bad_files_get_one_clear_message_and_change_nothing(units, filename, data, message):
    if data is None:
        data = _zip_without_workbook()
    before = counts()
    batch = imp("units", units, data=data, filename=filename)
    assert batch.status == "rejected"
    assert batch.errors == [{"row": 0, "column": "", "message": message}]
    assert counts() == before


def test_too_many_rows_and_too_large_files_are_refused(app, units):
    before = counts()
    app.config["IMPORT_MAX_ROWS"] = 2
    rows = [UNIT_HEADER[:3], ["U0101", "甲", "天津"], ["U0102", "乙", "天津"], ["U0103", "丙", "天津"]]
    batch = imp("units", units, rows)
    assert batch.errors == [{"row": 0, "column": "", "message":
                             "工作表“Sheet”的数据超过 2 行，单次导入上限为 2 行，请拆分后分批导入。"}]
    app.config["IMPORT_MAX_ROWS"] = 20000
    app.config["MAX_CONTENT_LENGTH"] = 1024
    data = xlsx(rows)
    assert len(data) > 1024
    batch = imp("units", units, data=data)
    assert batch.status == "rejected"
    assert batch.errors[0]["message"].startswith("文件太大") and "上传上限为" in batch.errors[0]["message"]
    assert counts() == before


def test_all_or_nothing_a_good_row_is_not_stored_when_a_later_row_is_bad(entries):
    before = counts()
    rows = [E_HEAD,
            _entry(作品编号="E0201", 赛项="科学实验", 选手姓名="甲一、乙二"),    # fine: a new team, two persons
            _entry(作品编号="E0202", 单位编号="U9999")]                         # bad
    batch = imp("entries", entries, rows, stage=regional(entries))
    assert batch.status == "rejected"
    assert [(e["row"], e["column"]) for e in batch.errors] == [(3, "单位编号")]
    assert counts() == before
    assert db.session.execute(select(Entry).filter_by(external_id="E0201")).first() is None

    before = counts()
    batch = imp("units", entries, [UNIT_HEADER[:3], OK_UNIT, ["U0102", "", "天津"]])
    assert [(e["row"], e["column"]) for e in batch.errors] == [(3, "单位名称")]
    assert counts() == before
    assert db.session.execute(select(Unit).filter_by(external_id="U0101")).first() is None


# --- file formats that must work ---------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_csv_in_the_encodings_chinese_excel_writes(competition, encoding):
    rows = [UNIT_HEADER, ["U0001", "北京科学中心", "北京市", "科技馆", "王老师", "010-62345678"],
            ["U0002", "内蒙古科学技术馆", "内蒙古", "科技馆", "", ""]]
    batch = applied(imp("units", competition, data=csv_bytes(rows, encoding), filename="单位.CSV"))
    assert batch.rows_created == 2
    names = {k: v for k, v in db.session.execute(select(Unit.external_id, Unit.name))}
    assert names == {"U0001": "北京科学中心", "U0002": "内蒙古科学技术馆"}


def test_row_numbers_are_excel_rows_despite_a_title_row_and_blank_rows(competition):
    rows = [["2024年全国科技馆辅导员大赛 参赛单位名单"], [],
            ["序号", "单位编号*", "单位名称（必填）", "省份"],          # marks, an ignored 序号 column, an alias
            [1, "U0001", "北京科学中心", "北京"], [None], [2, "U0002", "火星馆", "火星"]]
    batch = imp("units", competition, rows)
    assert [(e["row"], e["column"]) for e in batch.errors] == [(6, "所在省份")]
    rows[5][3] = "天津"
    assert applied(imp("units", competition, rows)).rows_created == 2


def test_full_width_input_from_a_chinese_ime_is_understood(units):
    row = _entry(作品编号="Ｅ０１０１", 单位编号="Ｕ０００１", 抽签号="３", 赛项="展品辅导(科技志愿者组)", 分赛区="天津")
    applied(imp("entries", units, [E_HEAD, row], stage=regional(units)))
    e = entry(units, "E0101")
    assert (e.unit.external_id, e.draw_number, e.category.code, e.division.name) == ("U0001", 3, "volunteer", "天津赛区")


def test_the_sheet_named_like_the_list_is_read(competition):
    wb = Workbook()
    wb.active.title = "说明"
    wb.active.append(["这里是说明"])
    ws = wb.create_sheet("单位")
    for row in [UNIT_HEADER[:3], ["U0001", "北京科学中心", "北京"]]:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    assert applied(imp("units", competition, data=buf.getvalue())).rows_created == 1


def test_2000_entries_import_and_reimport_without_duplicates(competition):
    unit_rows = [[f"U{i:04d}", f"第{i}科技馆", code] for i, code in
                 enumerate(["11", "12", "13", "14", "15", "21", "22", "23", "31", "32"] * 20)]
    applied(imp("units", competition, [UNIT_HEADER[:3], *unit_rows]))
    cats = ["展品辅导", "科学实验", "科普短剧", "科学课程", "展品辅导（科技志愿者组）"]
    rows = [ENTRY_HEADER]
    for i in range(2000):
        cat = cats[i % 5]
        names = "甲、乙、丙" if cat in ("科学实验", "科普短剧", "科学课程") else "甲"
        rows.append([f"E{i:05d}", f"作品{i}", cat, None, f"U{i % 200:04d}", names, None, None, None, None, f"A{i:05d}"])
    stage = final(competition)
    data = xlsx(rows)
    batch = applied(imp("entries", competition, data=data, stage=stage))
    again = applied(imp("entries", competition, data=data, stage=stage))
    assert (batch.rows_created, again.rows_created, again.rows_updated) == (2000, 0, 0)
    assert (n(Entry), n(Team), n(TeamMember), n(Person)) == (2000, 1200, 3600, 800 + 3600)
