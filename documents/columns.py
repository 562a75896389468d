"""The columns of the Excel/CSV lists organisers exchange: units, judges and entries.

One definition per kind, used by the importer (services/imports.py), the downloadable
templates and the exports (documents/excel.py), so the three can never drift apart: an
export is a valid import file, and a template's header parses with no header error.

Everything here is pure: no database, no Flask. Values that need a lookup (a unit code, a
category, a division, a province) are checked by the importer; this module checks the cell
itself (required, length, type) and owns the small syntaxes organisers type into one cell:
team members (``张三、李四、王五``) and a judge's declared relations
(``亲属:E0012；师生:E0345；单位:U0123``).
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

KINDS = ("units", "judges", "entries", "trainees", "activity_reports")
KIND_LABELS = {"units": "单位", "judges": "评委", "entries": "参赛作品", "trainees": "培训学员",
               "activity_reports": "活动报送"}
# The sheet a template and an export put the list on; an upload may also use these names.
SHEET_NAMES = {"units": "单位", "judges": "评委", "entries": "作品", "trainees": "学员", "activity_reports": "活动报送"}
SHEET_ALIASES = {
    "units": ("单位", "单位名单", "单位信息", "units"),
    "judges": ("评委", "评委名单", "评委信息", "judges"),
    "entries": ("作品", "参赛作品", "作品名单", "报名表", "entries"),
    "trainees": ("学员", "学员名单", "培训学员", "报名表", "花名册", "trainees"),
    "activity_reports": ("活动报送", "活动情况", "活动统计", "数据统计", "activity_reports"),
}
HELP_SHEET = "说明"
LISTS_SHEET = "选项"

# Column types. The importer resolves the lookup types; convert() handles the rest.
ID, TEXT, INT, BOOL, GENDER, PROVINCE, REF, NAMES, RELATIONS = (
    "id", "text", "int", "bool", "gender", "province", "ref", "names", "relations")


@dataclass(frozen=True)
class Column:
    key: str                 # the field key the importer and exporter use
    header: str              # the Chinese header, exactly as templates and exports write it
    required: bool = False   # the column must be present and every row must fill it
    type: str = TEXT
    max_length: Optional[int] = None
    help: str = ""           # shown on the template's 说明 sheet
    example: str = ""        # the template's example row
    aliases: tuple[str, ...] = ()  # other headers organisers use for the same column
    text_format: bool = False      # template formats the column as text (keeps leading zeros)

    @property
    def label(self) -> str:
        """The header as written in templates and exports: required ones end with *."""
        return self.header + "*" if self.required else self.header


UNIT_COLUMNS: tuple[Column, ...] = (
    Column("external_id", "单位编号", True, ID, 32,
           "单位的唯一编号，由组织方统一分配；再次导入时按此编号更新单位信息。"
           "不能含空格和分隔符（：；，、）。", "U0001",
           aliases=("单位编码", "单位代码"), text_format=True),
    Column("name", "单位名称", True, TEXT, 200, "单位全称，不能与其他单位重名。", "示例市科学技术馆"),
    Column("province", "所在省份", True, PROVINCE, None,
           "省份全称（北京市）、简称（北京）或行政区划代码（11）。", "北京",
           aliases=("省份", "所在省", "省份名称", "省（区、市）")),
    Column("kind", "单位类型", False, TEXT, 32, "如：科技馆、学校、高校、协会。", "科技馆"),
    Column("contact_name", "联系人", False, TEXT, 64, "本单位负责大赛事务的联系人。", "王老师"),
    Column("contact_phone", "联系电话", False, TEXT, 32, "联系人的电话，手机或座机。", "010-12345678",
           aliases=("电话", "手机", "手机号", "联系方式"), text_format=True),
)

JUDGE_COLUMNS: tuple[Column, ...] = (
    Column("external_id", "评委编号", True, ID, 32,
           "评委在本项目中的唯一编号；再次导入时按此编号更新评委信息。", "J0001",
           aliases=("评委编码",), text_format=True),
    Column("name", "姓名", True, TEXT, 64, "评委姓名。", "刘明", aliases=("评委姓名",)),
    Column("unit", "单位编号", True, REF, 32, "评委所在单位的编号，须已在单位名单中。", "U0001",
           aliases=("单位编码", "单位代码"), text_format=True),
    Column("province", "所在省份", False, PROVINCE, None,
           "留空则取所在单位的省份。可填全称、简称或行政区划代码。", "北京",
           aliases=("省份", "所在省", "省份名称")),
    Column("expertise", "专业领域", False, TEXT, 200, "可填赛项或专业方向，多个用“、”分隔。", "展品辅导、科学实验",
           aliases=("专业", "擅长领域", "研究领域")),
    Column("title", "职称", False, TEXT, 64, "如：研究馆员、副研究馆员、高级教师、教授。", "研究馆员"),
    Column("is_school_teacher", "中小学教师", False, BOOL, None,
           "是否为中小学科学教师（评委组中的中小学教师席位），填“是”或“否”，留空为“否”。", "否",
           aliases=("是否中小学教师",)),
    Column("phone", "联系电话", False, TEXT, 32, "评委本人的电话。", "13800000000",
           aliases=("电话", "手机", "手机号", "联系方式"), text_format=True),
    Column("relations", "回避关系", False, RELATIONS, None,
           "评委申报的需回避的作品或单位，格式见下方“回避关系的写法”。再次导入时替换此前导入的回避关系，"
           "组织方录入或评委本人申报的回避关系不受影响。", "亲属:E0001；单位:U0001",
           aliases=("回避", "申报回避", "回避情况")),
)

ENTRY_COLUMNS: tuple[Column, ...] = (
    Column("external_id", "作品编号", True, ID, 32,
           "作品在本阶段的唯一编号；再次导入时按此编号更新作品。", "E0001",
           aliases=("项目编号", "作品编码", "报名编号"), text_format=True),
    Column("title", "作品名称", True, TEXT, 200, "参赛作品（项目）的名称。", "会“跳舞”的磁铁", aliases=("项目名称", "作品题目", "题目")),
    Column("category", "赛项", True, REF, None, "赛项名称或代码，见下方赛项列表。", "展品辅导",
           aliases=("参赛赛项", "赛项名称", "参赛类别", "类别", "组别")),
    Column("division", "分赛区", False, REF, None,
           "分赛区名称（北京赛区）、省份简称（北京）或代码（11）。按分赛区进行的阶段必须填写；"
           "其他阶段留空则取单位所在省份的分赛区。", "北京赛区", aliases=("赛区", "所属赛区")),
    Column("unit", "单位编号", True, REF, 32, "选送单位的编号，须已在单位名单中。", "U0001",
           aliases=("单位编码", "单位代码"), text_format=True),
    Column("names", "选手姓名", True, NAMES, None,
           "个人赛项填一名选手；团队赛项填全体队员，用“、”分隔，第一位为队长。", "张三",
           aliases=("姓名", "参赛选手", "选手", "参赛人员", "队员姓名")),
    Column("team_name", "队伍名称", False, TEXT, 200, "仅团队赛项填写，留空则与作品名称相同。", "",
           aliases=("队名", "团队名称")),
    Column("gender", "性别", False, GENDER, None, "“男”或“女”；团队作品填队长的性别。", "女"),
    Column("phone", "联系电话", False, TEXT, 32, "个人选手或队长的电话。", "13900000000",
           aliases=("电话", "手机", "手机号", "联系方式"), text_format=True),
    Column("draw_number", "抽签号", False, INT, None,
           "正整数，同一阶段、同一赛项、同一分赛区内不能重复；未抽签可留空。", "1",
           aliases=("抽签号码", "出场顺序", "出场序号")),
    Column("anonymous_code", "匿名编号", False, ID, 16, "匿名评审时评委看到的编号，本阶段内不能重复；可留空。", "",
           aliases=("匿名码",), text_format=True),
)

TRAINEE_COLUMNS: tuple[Column, ...] = (
    Column("external_id", "学员编号", True, ID, 16,
           "学员在本期培训中的唯一编号；再次导入时按此编号更新学员信息。", "T001",
           aliases=("学号", "编号", "学员号"), text_format=True),
    Column("name", "姓名", True, TEXT, 64, "学员姓名。", "李红", aliases=("学员姓名",)),
    Column("school", "学校", True, TEXT, 200,
           "学员任教的学校：单位编号或学校全称。名单中没有的学校会作为新单位（学校）加入，"
           "省份取“所在省份”一栏，留空则取承办科技馆所在省份。评委回避按学校判断。", "示例市实验小学",
           aliases=("任教学校", "工作单位", "单位", "所在学校", "学校名称")),
    Column("province", "所在省份", False, PROVINCE, None,
           "仅用于名单中还没有的学校；留空则取承办科技馆所在省份。", "",
           aliases=("省份", "所在省")),
    Column("district", "区县", False, TEXT, 64, "学校所在的区县。", "示例区", aliases=("所在区县", "区（县）")),
    Column("subject", "任教学科", False, TEXT, 32, "如：科学、物理、化学、生物、地理、信息科技。", "科学",
           aliases=("学科", "所教学科")),
    Column("grade", "任教学段", False, TEXT, 32, "如：小学、初中、高中。", "小学", aliases=("学段",)),
    Column("gender", "性别", False, GENDER, None, "“男”或“女”。", "女"),
    Column("phone", "手机号", True, TEXT, 32,
           "学员本人的手机号。扫码签到时学员输入姓名和手机号后四位核对身份。", "13900000000",
           aliases=("电话", "手机", "联系电话", "联系方式"), text_format=True),
)

# Counts and dates are TEXT here: the importer parses them with the report form's rules
# (services.activities.parse_count / parse_date: 0 allowed, negatives named as such).
ACTIVITY_REPORT_COLUMNS: tuple[Column, ...] = (
    Column("unit", "单位编号", True, REF, 32, "报送单位的编号，须已在单位名单中。", "U0001",
           aliases=("单位编码", "单位代码"), text_format=True),
    Column("unit_name", "单位名称", False, TEXT, 200, "仅供核对，导入时以单位编号为准。", "示例市科学技术馆"),
    Column("activity", "活动编号", True, REF, 16,
           "联合行动活动计划中的编号：主题活动 T01–T10，交流研讨 S01–S07，见下方活动列表。", "T01",
           aliases=("活动代码", "期次编号"), text_format=True),
    Column("events_held", "活动场次", False, TEXT, 12, "本单位围绕该期活动开展的活动场次，0 或正整数。", "3",
           aliases=("场次", "活动次数")),
    Column("participants", "参与人数", False, TEXT, 12, "参与活动的公众人数（人次），0 或正整数。", "1200",
           aliases=("参与人次", "人数", "受众人数")),
    Column("media_reports", "媒体报道", False, TEXT, 12, "媒体报道篇数（含新媒体），0 或正整数。", "2",
           aliases=("媒体报道篇数", "报道篇数", "宣传报道")),
    Column("materials_on", "材料报送日期", False, TEXT, 32,
           "方案、照片、新闻稿和总结报送齐全的日期，如 2024-04-10；未报送留空。截止日期前报送的计为按时报送。",
           "2024-04-10", aliases=("报送日期", "材料报送时间")),
)

COLUMNS: dict[str, tuple[Column, ...]] = {
    "units": UNIT_COLUMNS, "judges": JUDGE_COLUMNS, "entries": ENTRY_COLUMNS, "trainees": TRAINEE_COLUMNS,
    "activity_reports": ACTIVITY_REPORT_COLUMNS}

# Headers organisers add that carry nothing to import (the row counter of every Chinese sheet).
IGNORED_HEADERS = frozenset({"序号", "编号序号", "no", "no."})


def columns_for(kind: str, stage=None) -> tuple[Column, ...]:
    """The columns of a kind. For entries of a stage: a stage run per division requires
    分赛区; a stage with resource (or unit) categories does not require the names column."""
    if kind not in COLUMNS:
        raise ValueError(f"unknown import kind {kind!r}; expected one of {KINDS}")
    cols = COLUMNS[kind]
    if kind != "entries" or stage is None:
        return cols
    required = {}
    if getattr(stage, "by_division", False):
        required["division"] = True
    entry_kinds = {sc.category.entry_kind for sc in getattr(stage, "stage_categories", ())}
    if entry_kinds & {"resource", "unit"}:
        # a stage with unit or resource rows (the year-end awards mix units and individuals):
        # the importer still requires names on individual and team rows (check_names)
        required["names"] = False
    return tuple(dataclasses.replace(c, required=required[c.key]) if c.key in required else c for c in cols)


# --- headers -----------------------------------------------------------------------------

_MARKS = re.compile(r"[*＊]|[（(](?:必填|选填|可选|必选)[)）]")


def normalise_header(text: str) -> str:
    """The comparable form of a header cell: no required marks, no whitespace, ASCII lowered."""
    text = _MARKS.sub("", str(text or ""))
    return re.sub(r"\s+", "", text).lower()


def known_headers(columns: Iterable[Column]) -> frozenset[str]:
    out = set(IGNORED_HEADERS)
    for c in columns:
        out.add(normalise_header(c.header))
        out.update(normalise_header(a) for a in c.aliases)
    return frozenset(out)


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA (Excel's column names)."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


@dataclass
class HeaderMatch:
    positions: dict[str, int]   # column key -> index in the row
    errors: list[dict]


def match_header(cells: Sequence[str], columns: Sequence[Column], header_row: int = 1,
                 data_columns: Iterable[int] = ()) -> HeaderMatch:
    """Map the header cells to the columns. Errors (one each): a missing required column, an
    unrecognised column (with the closest expected header as a suggestion), a column given
    twice, a column with data but no header. ``data_columns`` are the indexes holding data."""
    by_name: dict[str, Column] = {}
    for c in columns:
        by_name[normalise_header(c.header)] = c
    for c in columns:
        for a in c.aliases:
            by_name.setdefault(normalise_header(a), c)
    positions: dict[str, int] = {}
    seen_at: dict[str, list[int]] = {}
    unknown: list[tuple[int, str]] = []
    for i, cell in enumerate(cells):
        name = normalise_header(cell)
        if not name or name in IGNORED_HEADERS:
            continue
        col = by_name.get(name)
        if col is None:
            unknown.append((i, str(cell).strip()))
            continue
        seen_at.setdefault(col.key, []).append(i)
        positions.setdefault(col.key, i)

    errors: list[dict] = []
    for c in columns:
        if c.required and c.key not in positions:
            errors.append(_err(header_row, c.header, f"缺少必填列“{c.header}”"))
    missing = [c for c in columns if c.key not in positions]
    for i, text in unknown:
        guess = suggest_header(text, missing)
        if guess:
            msg = f"无法识别的列“{text}”，是否应为“{guess}”？"
        else:
            msg = f"无法识别的列“{text}”，本表的列为：{'、'.join(c.header for c in columns)}"
        errors.append(_err(header_row, text, msg))
    for c in columns:
        where = seen_at.get(c.key, [])
        if len(where) > 1:
            letters = "、".join(column_letter(i) for i in where)
            errors.append(_err(header_row, c.header, f"列“{c.header}”出现了 {len(where)} 次（第 {letters} 列），只能出现一次"))
    for i in sorted(set(data_columns)):
        if i >= len(cells) or not normalise_header(cells[i]):
            letter = column_letter(i)
            errors.append(_err(header_row, f"{letter}列", f"第 {letter} 列有数据但没有列名，请补上列名或删除该列"))
    return HeaderMatch(positions, errors)


def suggest_header(text: str, candidates: Sequence[Column]) -> Optional[str]:
    """The closest header among the columns still missing: required ones first."""
    name = normalise_header(text)
    for tier in ([c for c in candidates if c.required], [c for c in candidates if not c.required]):
        best, best_score = None, 0.0
        for c in tier:
            for spelling in (c.header, *c.aliases):
                target = normalise_header(spelling)
                score = difflib.SequenceMatcher(None, name, target).ratio()
                if name and (name in target or target in name):
                    score += 0.3
                if score > best_score:
                    best, best_score = c.header, score
        if best is not None and best_score >= 0.5:
            return best
    return None


def _err(row: int, column: str, message: str) -> dict:
    return {"row": row, "column": column, "message": message}


# --- cells -------------------------------------------------------------------------------

class CellError(ValueError):
    """A cell that cannot be read; the message is Chinese and says what is expected."""


_SCIENTIFIC = re.compile(r"[0-9](?:\.[0-9]+)?[eE]\+[0-9]+")
_ID_FORBIDDEN = re.compile(r"[\s:：;；,，、]")
_TRUE = {"是", "y", "yes", "true", "1", "√", "✓", "t"}
_FALSE = {"否", "n", "no", "false", "0", "×", "✗", "f"}
_GENDER = {"男": "男", "男性": "男", "m": "男", "male": "男", "女": "女", "女性": "女", "f": "女", "female": "女"}


def convert(column: Column, raw: str):
    """Check one cell and return its value (None when empty and optional).
    Lookup types (province, ref, names, relations) come back as the stripped text."""
    value = (raw or "").strip()
    if not value:
        if column.required:
            raise CellError(f"{column.header}不能为空")
        return None
    if column.type in (ID, INT, REF):
        value = unicodedata.normalize("NFKC", value)   # full-width Ｕ００１ typed with a Chinese IME
    if column.text_format and _SCIENTIFIC.fullmatch(value):
        raise CellError(f"{column.header}“{value}”被 Excel 存成了科学计数法，后几位数字已丢失。"
                        "请把该列设为“文本”格式，重新填写后再导入")
    if column.max_length is not None and len(value) > column.max_length:
        raise CellError(f"{column.header}过长：最多 {column.max_length} 个字符，实际 {len(value)} 个")
    if column.type == ID:
        if _ID_FORBIDDEN.search(value):
            raise CellError(f"{column.header}“{value}”不能包含空格或分隔符（：；，、）")
        return value
    if column.type == INT:
        if not re.fullmatch(r"[0-9]+", value) or int(value) <= 0:
            raise CellError(f"{column.header}应为正整数，实际为“{value}”")
        if int(value) > 2_000_000_000:
            raise CellError(f"{column.header}“{value}”过大")
        return int(value)
    if column.type == BOOL:
        low = value.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise CellError(f"{column.header}应填写“是”或“否”，实际为“{value}”")
    if column.type == GENDER:
        g = _GENDER.get(value.lower())
        if g is None:
            raise CellError(f"{column.header}应填写“男”或“女”，实际为“{value}”")
        return g
    return value


def format_bool(value: Optional[bool]) -> str:
    return "是" if value else "否"


_NAME_SEP = re.compile(r"[、,，;；/／\n]+")


def split_names(text: str) -> list[str]:
    """Team members as organisers type them: 张三、李四，王五；赵六 (the first is the leader)."""
    return [n.strip() for n in _NAME_SEP.split(text or "") if n.strip()]


def join_names(names: Iterable[str]) -> str:
    return "、".join(names)


# --- declared relations ------------------------------------------------------------------
#
# A judge's 回避关系 cell lists items separated by ；(or ; or a line break). An item is
#   类型:作品编号            a relation to a contestant entry, e.g. 亲属:E0012
#   单位:单位编号            a relation to a unit (any tie to it), e.g. 单位:U0123
#   类型:单位:单位编号       a relation of a given kind to a unit, e.g. 同事:单位:U0123
# optionally followed by a note in parentheses, e.g. 亲属:E0012（母子）. Colons may be
# full-width (：). The 作品编号 matches the entry with that number in every stage of the
# programme (a project keeps its number through the rounds).

RELATION_LABELS = {"relative": "亲属", "teacher_student": "师生", "colleague": "同事",
                   "coach": "辅导", "other": "其他"}
RELATION_KINDS = {"亲属": "relative", "亲戚": "relative", "师生": "teacher_student", "同事": "colleague",
                  "辅导": "coach", "教练": "coach", "指导": "coach", "其他": "other", "其它": "other"}
UNIT_TARGET = "单位"
RELATION_SYNTAX_HELP = (
    "多项用“；”分隔。每项写作“类型:作品编号”（如 亲属:E0012），或“单位:单位编号”（如 单位:U0123，"
    "表示与该单位有关联），或“类型:单位:单位编号”（如 同事:单位:U0123）；可在末尾用括号加备注，"
    "如 亲属:E0012（母子）。类型可选：亲属、师生、同事、辅导（或 教练、指导）、其他。"
    "作品编号指本项目任一阶段中该编号的作品。")


@dataclass(frozen=True)
class RelationSpec:
    kind: str                 # a models.RelationKind value
    target: str               # "entry" or "unit"
    code: str                 # the 作品编号 or 单位编号
    note: Optional[str] = None


_ITEM_SEP = set("；;\n")
_NOTE = re.compile(r"^(.*?)\s*[（(]([^()（）]*)[)）]\s*$", re.S)


def _split_items(text: str) -> list[str]:
    items, buf, depth = [], [], 0
    for ch in text:
        if ch in "（(":
            depth += 1
        elif ch in ")）":
            depth = max(0, depth - 1)
        if ch in _ITEM_SEP and depth == 0:
            items.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    items.append("".join(buf))
    return [i.strip() for i in items if i.strip()]


def parse_relations(text: str) -> list[RelationSpec]:
    """Parse a 回避关系 cell; raise CellError naming every bad item."""
    specs: list[RelationSpec] = []
    problems: list[str] = []
    kinds = "、".join(("亲属", "师生", "同事", "辅导", "其他"))
    for item in _split_items(unicodedata.normalize("NFKC", text or "")):
        body, note = item, None
        m = _NOTE.match(item)
        if m:
            body, note = m.group(1), (m.group(2).strip() or None)
        parts = [p.strip() for p in re.split(r"[:：]", body)]
        if len(parts) == 2 and parts[0] == UNIT_TARGET:
            kind, target, code = "other", "unit", parts[1]
        elif len(parts) == 2:
            kind, target, code = RELATION_KINDS.get(parts[0]), "entry", parts[1]
        elif len(parts) == 3 and parts[1] == UNIT_TARGET:
            kind, target, code = RELATION_KINDS.get(parts[0]), "unit", parts[2]
        else:
            problems.append(f"“{item}”格式不正确，应为“类型:作品编号”或“单位:单位编号”，如“亲属:E0012；单位:U0123”")
            continue
        if kind is None:
            problems.append(f"“{item}”的类型“{parts[0]}”无法识别，可选：{kinds}，或“单位”")
            continue
        if not code or _ID_FORBIDDEN.search(code):
            problems.append(f"“{item}”缺少编号或编号含有空格")
            continue
        specs.append(RelationSpec(kind, target, code, note))
    if problems:
        raise CellError("回避关系" + "；".join(problems))
    return list(dict.fromkeys(specs))


def format_relation(spec: RelationSpec) -> str:
    if spec.target == "unit":
        text = f"{UNIT_TARGET}:{spec.code}" if spec.kind == "other" else \
            f"{RELATION_LABELS[spec.kind]}:{UNIT_TARGET}:{spec.code}"
    else:
        text = f"{RELATION_LABELS[spec.kind]}:{spec.code}"
    return f"{text}（{spec.note}）" if spec.note else text


def format_relations(specs: Iterable[RelationSpec]) -> str:
    return "；".join(format_relation(s) for s in dict.fromkeys(specs))
