"""Import units, judges and entries from the Excel/CSV sheets provinces send in.

``run_import`` is the one entry point. It is all-or-nothing: the file is read, its header
checked, then every row validated against lookups loaded once (dicts, no query per row) and
every problem collected with the row number the organiser sees in Excel, the column's Chinese
header and a message saying what is wrong and what is expected. Any problem: the session is
rolled back and a 'rejected' ImportBatch carrying the errors is committed. No problem: every
row is applied, an 'applied' ImportBatch with the counts is recorded, and the session is
committed. Re-importing updates by external id (units by 单位编号 globally, judges by
(programme, 评委编号), entries by (stage, 作品编号)) and never duplicates.

A column missing from the file leaves that field of existing records as it is; a column
present with an empty cell clears it (or applies the documented default).
"""
from __future__ import annotations

import re
import secrets
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import selectinload

from documents.columns import (KINDS, SHEET_ALIASES, CellError, Column, columns_for, convert,
                               known_headers, match_header, parse_relations, split_names)
from documents.tables import TableError, read_table
from models import (Category, DeclaredRelation, Division, Entry, ImportBatch, Judge, Person, Programme,
                    Province, RelationKind, Stage, StageCategory, Team, TeamMember, Unit, province_lookup)

MAX_STORED_ERRORS = 1000
DEFAULT_MAX_ROWS = 20000


@dataclass
class Record:
    row: int                      # the Excel row number
    raw: dict[str, str]           # column key -> cell text, for the columns the file has
    values: dict[str, Any] = field(default_factory=dict)  # converted values
    ok: bool = True


class Problems:
    """Every error found, as {"row", "column", "message"}."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def add(self, row: int, column: str, message: str) -> None:
        self.items.append({"row": row, "column": column, "message": message})

    def __bool__(self) -> bool:
        return bool(self.items)


# --- entry point -------------------------------------------------------------------------

def run_import(session, kind: str, filename: str, data: bytes, programme: Programme,
               stage: Optional[Stage] = None, user=None, *, max_rows: Optional[int] = None,
               max_bytes: Optional[int] = None) -> ImportBatch:
    """Import one file of ``kind`` ('units', 'judges' or 'entries'; entries need a stage of
    the programme) and commit. Returns the recorded ImportBatch ('applied' or 'rejected').
    ``max_rows`` and ``max_bytes`` default to the app's IMPORT_MAX_ROWS and
    MAX_CONTENT_LENGTH. Units are shared by every programme; the batch is logged on
    ``programme``."""
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}; expected one of {KINDS}")
    filename = (filename or "").replace("\x00", "")     # PostgreSQL text cannot hold NUL
    if kind == "entries" and stage is None:
        raise ValueError("entries are imported into a stage")
    if stage is not None and stage.programme_id != programme.id:
        raise ValueError("the stage does not belong to the programme")
    max_rows, max_bytes = _limits(max_rows, max_bytes)
    log = {"programme_id": programme.id, "stage_id": stage.id if stage is not None else None,
           "kind": kind, "filename": (filename or "")[:255], "user_id": getattr(user, "id", None)}
    columns = columns_for(kind, stage)

    if max_bytes and len(data) > max_bytes:
        return _reject(session, log, 0, [{"row": 0, "column": "", "message":
                       f"文件太大（{_size(len(data))}），上传上限为 {_size(max_bytes)}。请删除无关的工作表或拆分后再导入。"}])
    try:
        table = read_table(filename, data, max_rows=max_rows, known_headers=known_headers(columns),
                           sheet_names=SHEET_ALIASES[kind])
    except TableError as exc:
        return _reject(session, log, 0, [{"row": 0, "column": "", "message": exc.message}])

    header = match_header(table.header, columns, table.header_row, table.data_columns)
    if header.errors:
        return _reject(session, log, len(table.rows), header.errors)

    records = [Record(number, {key: cells[i] for key, i in header.positions.items()})
               for number, cells in table.rows]
    problems = Problems()
    importer = IMPORTERS[kind](session, programme, stage, columns, problems)
    importer.user, importer.filename = user, log["filename"]
    plan = importer.validate(records)
    if problems:
        return _reject(session, log, len(records), _sorted(problems.items, columns))
    try:
        with session.no_autoflush:
            created, updated = importer.apply(plan)
        session.flush()
    except (IntegrityError, DataError) as exc:
        session.rollback()
        detail = str(getattr(exc, "orig", exc)).splitlines()[0][:300]
        return _reject(session, log, len(records), [{"row": 0, "column": "", "message":
                       "数据库拒绝了本次导入（可能有人同时修改了相同的数据），数据未作任何修改，请重新导入。"
                       f"详细信息：{detail}"}])
    batch = ImportBatch(status="applied", rows_total=len(records), rows_created=created,
                        rows_updated=updated, errors=[], **log)
    session.add(batch)
    session.commit()
    return batch


def batch_summary(batch: ImportBatch) -> str:
    """One Chinese sentence for a flash message."""
    if batch.status == "applied":
        unchanged = batch.rows_total - batch.rows_created - batch.rows_updated
        return (f"导入成功：共 {batch.rows_total} 行，新增 {batch.rows_created} 条，"
                f"更新 {batch.rows_updated} 条，{unchanged} 条无变化。")
    return f"导入失败：发现 {len(batch.errors)} 处问题，数据未作任何修改。请按错误清单修改文件后重新导入。"


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f}".rstrip("0").rstrip(".") + " MB"
    return f"{max(1, round(n / 1024))} KB"


def _limits(max_rows, max_bytes):
    try:
        from flask import current_app, has_app_context
        if has_app_context():
            max_rows = max_rows or current_app.config.get("IMPORT_MAX_ROWS")
            max_bytes = max_bytes or current_app.config.get("MAX_CONTENT_LENGTH")
    except ImportError:  # pragma: no cover
        pass
    return max_rows or DEFAULT_MAX_ROWS, max_bytes


def _reject(session, log: dict, rows_total: int, errors: list[dict]) -> ImportBatch:
    session.rollback()
    if len(errors) > MAX_STORED_ERRORS:
        more = len(errors) - MAX_STORED_ERRORS
        errors = errors[:MAX_STORED_ERRORS] + [{"row": 0, "column": "", "message":
                                                 f"另有 {more} 处问题未列出，请先修改以上问题后重新导入。"}]
    batch = ImportBatch(status="rejected", rows_total=rows_total, rows_created=0, rows_updated=0,
                        errors=errors, **log)
    session.add(batch)
    session.commit()
    return batch


def _sorted(errors: list[dict], columns: Sequence[Column]) -> list[dict]:
    order = {c.header: i for i, c in enumerate(columns)}
    return sorted(errors, key=lambda e: (e["row"], order.get(e["column"], len(order))))


# --- shared helpers ----------------------------------------------------------------------

def _key(text: str) -> str:
    """Lookup form of a name or code: case, spaces and full-width brackets do not matter."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()


def _rows_text(rows: Sequence[int]) -> str:
    return "、".join(str(r) for r in rows)


def _set(obj, attr: str, value) -> bool:
    """Assign only when different; True when something changed."""
    if getattr(obj, attr) != value:
        setattr(obj, attr, value)
        return True
    return False


def _province_keys(session) -> dict[str, Province]:
    out = {}
    for spelling, prov in province_lookup(session).items():
        out[_key(spelling)] = prov
        if spelling.isdigit() and len(spelling) == 2:
            out[spelling + "0000"] = prov      # the 6-digit GB/T 2260 code
    return out


def _referenced(session, table, ids: set[int], skip: tuple = ()) -> set[int]:
    """Which of ``ids`` (primary keys of ``table``) some other row still points at, found
    through every foreign key in the metadata (so later models are respected too)."""
    found: set[int] = set()
    if not ids:
        return found
    for other in table.metadata.sorted_tables:
        if other.name in skip:
            continue
        for fk in other.foreign_keys:
            if fk.column.table is table:
                col = fk.parent
                found.update(session.execute(select(col).where(col.in_(list(ids)))).scalars())
    return found


class _Importer:
    kind = ""

    def __init__(self, session, programme: Programme, stage: Optional[Stage],
                 columns: Sequence[Column], problems: Problems):
        self.session = session
        self.programme = programme
        self.stage = stage
        self.columns = {c.key: c for c in columns}
        self.problems = problems

    def error(self, rec: Record, key: str, message: str) -> None:
        self.problems.add(rec.row, self.columns[key].header if key in self.columns else key, message)
        rec.ok = False

    def convert_cells(self, records: list[Record], lenient: Sequence[str] = ()) -> None:
        """Required, length and type checks for every present cell; ``lenient`` columns
        are converted as optional (the importer decides when they are required)."""
        for rec in records:
            for key, raw in rec.raw.items():
                col = self.columns[key]
                if key in lenient:
                    col = Column(col.key, col.header, False, col.type, col.max_length)
                try:
                    rec.values[key] = convert(col, raw)
                except CellError as exc:
                    self.error(rec, key, str(exc))

    def duplicates(self, records: list[Record], key: str, what: Optional[str] = None) -> None:
        """Report a value given on several rows, at every repeat, naming all the rows."""
        rows_by_value: dict[Any, list[Record]] = defaultdict(list)
        for rec in records:
            value = rec.values.get(key)
            if value is not None:
                rows_by_value[value].append(rec)
        header = what or self.columns[key].header
        for value, recs in rows_by_value.items():
            if len(recs) > 1:
                rows = _rows_text([r.row for r in recs])
                for rec in recs[1:]:
                    self.error(rec, key, f"{header}“{value}”在文件中重复（第 {rows} 行）")

    def load_units(self) -> None:
        units = self.session.execute(select(Unit)).scalars().all()
        self.units = {u.external_id: u for u in units}
        self.units_folded = {u.external_id.casefold(): u.external_id for u in units}

    def resolve_unit(self, rec: Record, key: str = "unit") -> Optional[Unit]:
        code = rec.values.get(key)
        if code is None:
            return None
        unit = self.units.get(code)
        if unit is None:
            hint = self.units_folded.get(code.casefold())
            extra = f"（是否为“{hint}”？）" if hint else "，请先导入单位"
            self.error(rec, key, f"单位编号“{code}”不存在{extra}")
        return unit

    def resolve_province(self, rec: Record, key: str = "province") -> Optional[Province]:
        text = rec.values.get(key)
        if text is None:
            return None
        prov = self.provinces.get(_key(text))
        if prov is None:
            self.error(rec, key, f"{self.columns[key].header}“{text}”无法识别，请填写省份全称（如“北京市”）、"
                                 "简称（如“北京”）或行政区划代码（如“11”）")
        return prov

    def validate(self, records: list[Record]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply(self, plan) -> tuple[int, int]:  # pragma: no cover - abstract
        raise NotImplementedError


# --- units -------------------------------------------------------------------------------

class UnitImporter(_Importer):
    kind = "units"

    def validate(self, records: list[Record]):
        self.load_units()
        self.provinces = _province_keys(self.session)
        by_name = {u.name: u for u in self.units.values()}
        self.convert_cells(records)
        self.duplicates(records, "external_id")
        self.duplicates(records, "name")
        in_file = {r.values.get("external_id") for r in records}
        plan = []
        for rec in records:
            prov = self.resolve_province(rec)
            name = rec.values.get("name")
            owner = by_name.get(name) if name else None
            if owner is not None and owner.external_id != rec.values.get("external_id") \
                    and owner.external_id not in in_file:
                self.error(rec, "name", f"单位名称“{name}”已被单位“{owner.external_id}”使用，单位名称不能重复")
            if rec.ok:
                plan.append((rec, prov))
        return plan

    def apply(self, plan) -> tuple[int, int]:
        created = updated = 0
        taken = {u.name: u for u in self.units.values()}
        renamed = [self.units[rec.values["external_id"]] for rec, _ in plan
                   if rec.values["external_id"] in self.units
                   and self.units[rec.values["external_id"]].name != rec.values["name"]]
        if any(taken[rec.values["name"]].external_id != rec.values["external_id"]
               for rec, _ in plan if rec.values["name"] in taken):
            # names swapped between units: park them first so no moment has two equal names
            token = secrets.token_hex(8)
            for unit in renamed:
                unit.name = f"（导入中）{unit.id}-{token}"
            self.session.flush()
        for rec, prov in plan:
            v = rec.values
            unit = self.units.get(v["external_id"])
            if unit is None:
                unit = Unit(external_id=v["external_id"], name=v["name"], province_id=prov.id)
                for key in ("kind", "contact_name", "contact_phone"):
                    if key in v:
                        setattr(unit, key, v[key])
                self.session.add(unit)
                created += 1
                continue
            changed = _set(unit, "name", v["name"]) | _set(unit, "province_id", prov.id)
            for key in ("kind", "contact_name", "contact_phone"):
                if key in v:
                    changed |= _set(unit, key, v[key])
            updated += changed
        return created, updated


# --- judges ------------------------------------------------------------------------------

class JudgeImporter(_Importer):
    kind = "judges"

    def validate(self, records: list[Record]):
        s, pid = self.session, self.programme.id
        self.load_units()
        self.provinces = _province_keys(s)
        self.judges = {j.external_id: j for j in s.execute(
            select(Judge).where(Judge.programme_id == pid)
            .options(selectinload(Judge.person), selectinload(Judge.relations))).scalars()}
        self.entries: dict[str, list[int]] = defaultdict(list)
        for ext, eid in s.execute(select(Entry.external_id, Entry.id).join(Stage, Entry.stage_id == Stage.id)
                                  .where(Stage.programme_id == pid).order_by(Stage.seq)):
            self.entries[ext].append(eid)
        self.convert_cells(records)
        self.duplicates(records, "external_id")
        plan = []
        for rec in records:
            unit = self.resolve_unit(rec)
            prov = self.resolve_province(rec)
            relations = None
            if "relations" in rec.raw:
                relations = self.resolve_relations(rec)
            if rec.ok:
                plan.append((rec, unit, prov, relations))
        return plan

    def resolve_relations(self, rec: Record) -> Optional[set[tuple]]:
        text = rec.values.get("relations")
        if text is None:
            return set()
        try:
            specs = parse_relations(text)
        except CellError as exc:
            self.error(rec, "relations", str(exc))
            return None
        out: set[tuple] = set()
        for spec in specs:
            if spec.target == "unit":
                unit = self.units.get(spec.code)
                if unit is None:
                    self.error(rec, "relations", f"回避关系中的单位编号“{spec.code}”不存在，请先导入单位")
                    continue
                out.add((spec.kind, None, unit.id, spec.note))
            else:
                ids = self.entries.get(spec.code)
                if not ids:
                    self.error(rec, "relations", f"回避关系中的作品编号“{spec.code}”在本项目中不存在，请先导入作品")
                    continue
                out.update((spec.kind, eid, None, spec.note) for eid in ids)
        return out

    def apply(self, plan) -> tuple[int, int]:
        created = updated = 0
        for rec, unit, prov, relations in plan:
            v = rec.values
            judge = self.judges.get(v["external_id"])
            if judge is None:
                person = Person(name=v["name"], phone=v.get("phone"), unit_id=unit.id)
                judge = Judge(programme_id=self.programme.id, external_id=v["external_id"], person=person,
                              unit_id=unit.id, province_id=prov.id if prov is not None else unit.province_id,
                              expertise=v.get("expertise"), title=v.get("title"),
                              is_school_teacher=bool(v.get("is_school_teacher")))
                self.session.add(judge)
                self._relations(judge, relations or set())
                created += 1
                continue
            person = judge.person
            unit_changed = judge.unit_id != unit.id
            changed = _set(person, "name", v["name"]) | _set(person, "unit_id", unit.id)
            changed |= _set(judge, "unit_id", unit.id)
            if prov is not None:
                changed |= _set(judge, "province_id", prov.id)
            elif "province" in rec.raw or unit_changed:
                changed |= _set(judge, "province_id", unit.province_id)
            if "phone" in v:
                changed |= _set(person, "phone", v["phone"])
            for key in ("expertise", "title"):
                if key in v:
                    changed |= _set(judge, key, v[key])
            if "is_school_teacher" in v:
                changed |= _set(judge, "is_school_teacher", bool(v["is_school_teacher"]))
            if relations is not None:
                changed |= self._relations(judge, relations)
            updated += changed
        return created, updated

    @staticmethod
    def _relations(judge: Judge, wanted: set[tuple]) -> bool:
        """Replace the judge's import-sourced relations by ``wanted``; relations the organiser
        or the judge declared stay, and are not repeated as imported ones."""
        declared = {(str(r.kind), r.entry_id, r.unit_id) for r in judge.relations if r.source != "import"}
        current = [r for r in judge.relations if r.source == "import"]
        have = {(str(r.kind), r.entry_id, r.unit_id, r.note) for r in current}
        wanted = {w for w in wanted if w in have or w[:3] not in declared}
        if have == wanted:
            return False
        for r in current:
            judge.relations.remove(r)
        for kind, entry_id, unit_id, note in sorted(wanted, key=lambda w: (w[1] or 0, w[2] or 0, w[0])):
            judge.relations.append(DeclaredRelation(kind=RelationKind(kind), entry_id=entry_id, unit_id=unit_id,
                                                    note=note, source="import"))
        return True


# --- entries -----------------------------------------------------------------------------

@dataclass
class _EntryRow:
    rec: Record
    category: Category
    unit: Unit
    division_id: Optional[int]
    names: list[str]


class EntryImporter(_Importer):
    kind = "entries"

    def validate(self, records: list[Record]):
        s, stage, prog = self.session, self.stage, self.programme
        self.load_units()
        categories = s.execute(select(Category).where(Category.programme_id == prog.id)
                               .order_by(Category.sort, Category.id)).scalars().all()
        allowed = set(s.execute(select(StageCategory.category_id)
                                .where(StageCategory.stage_id == stage.id)).scalars())
        self.allowed_categories = [c for c in categories if not allowed or c.id in allowed]
        self.category_keys: dict[str, Category] = {}
        for c in categories:
            for spelling in (c.code, c.name, c.name_en, c.group):
                if spelling:
                    self.category_keys.setdefault(_key(spelling), c)
        divisions = s.execute(select(Division).where(Division.programme_id == prog.id)
                              .options(selectinload(Division.province)).order_by(Division.code)).scalars().all()
        self.divisions = divisions
        self.division_keys: dict[str, Division] = {}
        self.division_by_province: dict[int, Division] = {}
        for d in divisions:
            spellings = [d.code, d.name]
            if d.province is not None:
                spellings += [d.province.code, d.province.name, d.province.short_name]
                self.division_by_province.setdefault(d.province_id, d)
            for spelling in spellings:
                self.division_keys.setdefault(_key(spelling), d)
        self.existing = {e.external_id: e for e in s.execute(
            select(Entry).where(Entry.stage_id == stage.id).options(
                selectinload(Entry.person),
                selectinload(Entry.team).selectinload(Team.members).selectinload(TeamMember.person))).scalars()}

        self.convert_cells(records, lenient=("names", "division"))
        self.duplicates(records, "external_id")
        plan: list[_EntryRow] = []
        for rec in records:
            row = self.validate_row(rec)
            if row is not None:
                plan.append(row)
        self.check_clashes(records, plan)
        return [row for row in plan if row.rec.ok]

    def validate_row(self, rec: Record) -> Optional[_EntryRow]:
        v = rec.values
        category = self.resolve_category(rec)
        unit = self.resolve_unit(rec)
        division_id = self.resolve_division(rec, unit)
        names: list[str] = []
        if category is not None and "names" in rec.raw:
            names = self.check_names(rec, category)
        if category is not None and v.get("team_name") and category.entry_kind != "team":
            self.error(rec, "team_name", f"赛项“{category.name}”不是团队赛项，请不要填写队伍名称")
        if not rec.ok:
            return None
        return _EntryRow(rec, category, unit, division_id, names)

    def resolve_category(self, rec: Record) -> Optional[Category]:
        text = rec.values.get("category")
        if text is None:
            return None
        options = "、".join(c.name for c in self.allowed_categories)
        cat = self.category_keys.get(_key(text))
        if cat is None:
            self.error(rec, "category", f"赛项“{text}”不存在，可选：{options}")
        elif cat not in self.allowed_categories:
            self.error(rec, "category", f"赛项“{cat.name}”不在本阶段（{self.stage.name}）中，可选：{options}")
            return None
        return cat

    def resolve_division(self, rec: Record, unit: Optional[Unit]) -> Optional[int]:
        """The division id; None when there is none. An unfilled cell defaults to the unit's
        province's division, except in stages run per division, where it is required."""
        text = rec.values.get("division")
        if text is not None:
            if not self.divisions:
                self.error(rec, "division", f"本项目没有设置分赛区，分赛区请留空（实际为“{text}”）")
                return None
            div = self.division_keys.get(_key(text))
            if div is None:
                example = self.divisions[0]
                self.error(rec, "division", f"分赛区“{text}”不存在，请填写分赛区名称（如“{example.name}”）、"
                                            f"省份简称（如“{example.province.short_name if example.province else example.code}”）"
                                            f"或代码（如“{example.code}”）")
                return None
            return div.id
        if self.stage.by_division:
            if "division" in rec.raw:   # the column exists, the cell is empty
                example = self.divisions[0].name if self.divisions else "北京赛区"
                self.error(rec, "division", f"分赛区不能为空：本阶段（{self.stage.name}）按分赛区进行，"
                                            f"请填写分赛区，如“{example}”")
            return None
        if "division" not in rec.raw and rec.values.get("external_id") in self.existing:
            return self.existing[rec.values["external_id"]].division_id   # column absent: keep
        if unit is not None:
            div = self.division_by_province.get(unit.province_id)
            return div.id if div is not None else None
        return None

    def check_names(self, rec: Record, category: Category) -> list[str]:
        header = self.columns["names"].header
        names = split_names(rec.values.get("names") or "")
        kind = category.entry_kind
        if kind in ("resource", "unit"):
            if names:
                self.error(rec, "names", f"赛项“{category.name}”的作品不需要填写{header}")
            return []
        if not names:
            self.error(rec, "names", f"{header}不能为空")
        elif kind == "individual" and len(names) > 1:
            self.error(rec, "names", f"赛项“{category.name}”为个人赛项，只能填写一名选手，实际填写了 "
                                     f"{len(names)} 名（{'、'.join(names)}）；团队作品请选择团队赛项")
        for name in names:
            if len(name) > 64:
                self.error(rec, "names", f"{header}“{name[:20]}…”过长：最多 64 个字符")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            self.error(rec, "names", f"队员“{'、'.join(repeated)}”重复填写")
        return names

    def check_clashes(self, records: list[Record], plan: list[_EntryRow]) -> None:
        """Draw numbers per (category, division) and anonymous codes per stage, within the
        file and against the stage's entries the file does not touch."""
        in_file = {r.values.get("external_id") for r in records}
        others = [e for ext, e in self.existing.items() if ext not in in_file]
        draws_db = {(e.category_id, e.division_id, e.draw_number): e.external_id
                    for e in others if e.draw_number is not None}
        codes_db = {e.anonymous_code: e.external_id for e in others if e.anonymous_code}
        draws: dict[tuple, list[_EntryRow]] = defaultdict(list)
        codes: dict[str, list[_EntryRow]] = defaultdict(list)
        for row in plan:
            v = row.rec.values
            kept = self.existing.get(v["external_id"])   # a column the file lacks keeps its value
            draw = v["draw_number"] if "draw_number" in v else getattr(kept, "draw_number", None)
            code = v["anonymous_code"] if "anonymous_code" in v else getattr(kept, "anonymous_code", None)
            if draw is not None:
                draws[(row.category.id, row.division_id, draw)].append(row)
            if code:
                codes[code].append(row)
        for (cat_id, div_id, number), rows in draws.items():
            owner = draws_db.get((cat_id, div_id, number))
            if owner is not None:
                for row in rows:
                    self.error(row.rec, "draw_number",
                               f"抽签号 {number} 已被作品“{owner}”使用（同一赛项、同一分赛区内抽签号不能重复）")
            if len(rows) > 1:
                where = _rows_text([r.rec.row for r in rows])
                for row in rows[1:]:
                    self.error(row.rec, "draw_number",
                               f"抽签号 {number} 在同一赛项、同一分赛区中重复（第 {where} 行）")
        for code, rows in codes.items():
            owner = codes_db.get(code)
            if owner is not None:
                for row in rows:
                    self.error(row.rec, "anonymous_code", f"匿名编号“{code}”已被本阶段作品“{owner}”使用")
            if len(rows) > 1:
                where = _rows_text([r.rec.row for r in rows])
                for row in rows[1:]:
                    self.error(row.rec, "anonymous_code", f"匿名编号“{code}”在文件中重复（第 {where} 行）")

    # -- apply --

    def apply(self, plan: list[_EntryRow]) -> tuple[int, int]:
        created = updated = 0
        self.orphan_persons: set[int] = set()
        self.orphan_teams: set[int] = set()
        # Free the draw numbers and codes that move, so swapping two never trips the
        # unique constraints halfway through the flush.
        moving = False
        for row in plan:
            entry, v = self.existing.get(row.rec.values["external_id"]), row.rec.values
            if entry is None:
                continue
            if "draw_number" in v and entry.draw_number is not None and entry.draw_number != v["draw_number"]:
                entry.draw_number, moving = None, True
            if "anonymous_code" in v and entry.anonymous_code and entry.anonymous_code != v["anonymous_code"]:
                entry.anonymous_code, moving = None, True
        if moving:
            self.session.flush()
        for row in plan:
            v = row.rec.values
            entry = self.existing.get(v["external_id"])
            if entry is None:
                entry = Entry(stage_id=self.stage.id, external_id=v["external_id"], kind=row.category.entry_kind,
                              title=v["title"], category_id=row.category.id)
                self.session.add(entry)
                self.fill(entry, row)
                created += 1
            else:
                updated += self.fill(entry, row)
        if self.orphan_persons or self.orphan_teams:
            self.session.flush()
            self.drop_orphans()
        return created, updated

    def fill(self, entry: Entry, row: _EntryRow) -> bool:
        v, unit = row.rec.values, row.unit
        changed = _set(entry, "title", v["title"]) | _set(entry, "category_id", row.category.id)
        changed |= _set(entry, "unit_id", unit.id) | _set(entry, "province_id", unit.province_id)
        changed |= _set(entry, "division_id", row.division_id)
        for key in ("draw_number", "anonymous_code"):
            if key in v:
                changed |= _set(entry, key, v[key])
        changed |= self.contestant(entry, row)
        return changed

    def contestant(self, entry: Entry, row: _EntryRow) -> bool:
        """The person or team behind the entry, updated in place when it exists."""
        kind, v, names = row.category.entry_kind, row.rec.values, row.names
        changed = _set(entry, "kind", kind)
        if kind == "individual":
            if entry.team is not None:
                self.orphan_teams.add(entry.team.id)
                entry.team = None
                changed = True
            person = entry.person
            if person is None:
                person = Person(name=names[0], unit_id=row.unit.id)
                entry.person = person
                changed = True
            elif "names" in v:
                changed |= _set(person, "name", names[0])
            changed |= self.person_details(person, row)
            return changed
        if entry.person is not None:
            if entry.person.id is not None:
                self.orphan_persons.add(entry.person.id)
            entry.person = None
            changed = True
        if kind != "team":
            if entry.team is not None:
                self.orphan_teams.add(entry.team.id)
                entry.team = None
                changed = True
            return changed
        team = entry.team
        team_name = v.get("team_name") or v["title"]
        if team is None:
            team = Team(programme_id=self.programme.id, name=team_name, unit_id=row.unit.id)
            entry.team = team
            changed = True
        else:
            if "team_name" in v:   # an empty cell means "the title"; no column keeps the name
                changed |= _set(team, "name", team_name)
            changed |= _set(team, "unit_id", row.unit.id)
        if "names" in v:
            changed |= self.members(team, names, row)
        elif team.members:
            changed |= self.person_details(team.members[0].person, row)
        return changed

    def members(self, team: Team, names: list[str], row: _EntryRow) -> bool:
        """Make the team's members exactly ``names`` (the first the leader). A member whose
        name is still listed keeps their person; a renamed slot reuses the person left over
        (a typo fixed, not a new person); members no longer listed leave the team."""
        current = list(team.members)
        changed = False
        free = list(current)
        slots: list[Optional[TeamMember]] = []
        for name in names:
            match = next((m for m in free if m.person.name == name), None)
            if match is not None:
                free.remove(match)
            slots.append(match)
        for i, name in enumerate(names):
            if slots[i] is None:
                if free:
                    slots[i] = free.pop(0)
                    slots[i].person.name = name
                else:
                    slots[i] = TeamMember(person=Person(name=name, unit_id=row.unit.id))
                changed = True
        for m in free:
            self.orphan_persons.add(m.person_id)
            changed = True
        for i, m in enumerate(slots):
            role = "leader" if i == 0 else "member"
            if m.id is not None:
                changed |= _set(m, "seq", i) | _set(m, "role", role)
                changed |= _set(m.person, "unit_id", row.unit.id)
            else:
                m.seq, m.role = i, role
        if [m for m in current] != slots:
            team.members = slots
            changed = True
        changed |= self.person_details(slots[0].person, row)
        return changed

    @staticmethod
    def person_details(person: Person, row: _EntryRow) -> bool:
        """Unit, gender and phone of an individual contestant or a team's leader."""
        v = row.rec.values
        changed = _set(person, "unit_id", row.unit.id)
        if "gender" in v:
            changed |= _set(person, "gender", v["gender"])
        if "phone" in v:
            changed |= _set(person, "phone", v["phone"])
        return changed

    def drop_orphans(self) -> None:
        """Delete the teams and persons this import detached, unless anything still uses them."""
        s = self.session
        teams = self.orphan_teams - _referenced(s, Team.__table__, self.orphan_teams, skip=("team_member",))
        for team in s.execute(select(Team).where(Team.id.in_(teams))).scalars() if teams else ():
            self.orphan_persons.update(m.person_id for m in team.members)
            s.delete(team)
        s.flush()
        persons = self.orphan_persons - _referenced(s, Person.__table__, self.orphan_persons)
        if persons:
            for person in s.execute(select(Person).where(Person.id.in_(persons))).scalars():
                s.delete(person)


# --- trainees (teacher-training sessions) ------------------------------------------------------

_PHONE_DIGITS = re.compile(r"\d")


class TraineeImporter(_Importer):
    """A training session's roster. Schools are matched to units by code or full name; a
    school not yet known is created as a unit of kind 学校 (its province from the row, else the
    host museum's). After the rows are applied every trainee gets the entries the instructors
    score (services.training.sync_entries), in the same transaction."""
    kind = "trainees"

    def validate(self, records: list[Record]):
        from models import ProgrammeKind, Trainee
        s, prog = self.session, self.programme
        if prog.kind != ProgrammeKind.training:
            self.problems.add(0, "", "学员名单只能导入教师培训项目")
            return []
        from services.training import TrainingError, scheme
        try:
            scheme(s, prog)    # apply() gives every trainee the entries the scheme's components need
        except TrainingError as err:
            self.problems.add(0, "", err.message)
            return []
        self.load_units()
        self.units_by_name = {_key(u.name): u for u in self.units.values()}
        self.provinces = _province_keys(s)
        host = self.units_by_name.get(_key(prog.host or ""))
        self.default_province = host.province if host is not None else None
        self.existing = {t.external_id: t for t in s.execute(
            select(Trainee).where(Trainee.programme_id == prog.id).options(selectinload(Trainee.person))).scalars()}
        self.convert_cells(records)
        self.duplicates(records, "external_id")
        seen: dict[tuple[str, str], int] = {}
        plan = []
        for rec in records:
            v = rec.values
            phone = v.get("phone")
            if phone is not None:
                digits = "".join(_PHONE_DIGITS.findall(unicodedata.normalize("NFKC", phone)))
                if not 7 <= len(digits) <= 15:
                    self.error(rec, "phone", f"手机号“{phone}”应为 7–15 位数字（扫码签到要用后四位核对身份）")
                elif v.get("name"):
                    key = (_key(v["name"]), digits[-4:])
                    if key in seen:
                        self.error(rec, "phone", f"与第 {seen[key]} 行的学员姓名相同且手机号后四位相同，扫码签到无法区分，"
                                                 "请核对是否重复报名")
                    else:
                        seen[key] = rec.row
            school = self.resolve_school(rec)
            if rec.ok:
                plan.append((rec, school))
        return plan

    def resolve_school(self, rec: Record):
        text = rec.values.get("school")
        if text is None:
            return None
        unit = self.units.get(text) or self.units_by_name.get(_key(text))
        if unit is not None:
            return unit
        prov = self.resolve_province(rec) if rec.values.get("province") else self.default_province
        if prov is None and rec.values.get("province") is None:
            self.error(rec, "school", f"学校“{text}”不在单位名单中，且无法确定其所在省份：请填写“所在省份”一栏，"
                                      "或先导入单位名单")
        return ("new", text, prov)

    def apply(self, plan) -> tuple[int, int]:
        import hashlib

        from models import Trainee
        from services.training import sync_entries
        s = self.session
        created = updated = 0
        new_units: dict[str, Unit] = {}
        for rec, school in plan:
            v = rec.values
            if isinstance(school, tuple):
                _, name, prov = school
                unit = new_units.get(_key(name))
                if unit is None:
                    code = "SCH-" + hashlib.sha1(name.encode()).hexdigest()[:10].upper()
                    unit = Unit(external_id=code, name=name, kind="学校", province_id=prov.id)
                    s.add(unit)
                    new_units[_key(name)] = unit
                school = unit
            t = self.existing.get(v["external_id"])
            if t is None:
                person = Person(name=v["name"], unit=school, phone=v["phone"], gender=v.get("gender"))
                s.add(person)
                t = Trainee(programme_id=self.programme.id, external_id=v["external_id"], person=person, unit=school,
                            district=v.get("district"), subject=v.get("subject"), grade=v.get("grade"))
                s.add(t)
                self.existing[t.external_id] = t
                created += 1
                continue
            changed = _set(t.person, "name", v["name"]) | _set(t.person, "phone", v["phone"])
            if "gender" in v:
                changed |= _set(t.person, "gender", v["gender"])
            if t.unit is not school:
                t.unit = school
                t.person.unit = school
                changed = True
            for key in ("district", "subject", "grade"):
                if key in v:
                    changed |= _set(t, key, v[key])
            updated += changed
        s.flush()
        sync_entries(s, self.programme)
        return created, updated


# --- activity reports (the year's joint action) --------------------------------------------------

class ActivityReportImporter(_Importer):
    """Many units' activity figures at once, into the year's award programme. Keyed by
    (单位编号, 活动编号): a re-import updates, never duplicates. An organiser's import may
    change reports past their deadline; each change is logged as an 'import' event naming the
    file. Figures are checked with the report form's rules (services.activities)."""
    kind = "activity_reports"

    def validate(self, records: list[Record]):
        from models import ActivityReport, ProgrammeKind
        from services.activities import LABELS, ReportError, parse_count, parse_date, plan_for
        s, prog = self.session, self.programme
        if prog.kind != ProgrammeKind.unit_awards:
            self.problems.add(0, "", "活动报送只能导入年度优秀组织单位和个人评选项目")
            return []
        try:
            self.plan = plan_for(prog)
        except ReportError as err:
            self.problems.add(0, "", err.message)
            return []
        self.load_units()
        codes = {c.casefold(): c for c in self.plan.codes}
        self.existing = {(r.unit_id, r.activity_code): r for r in s.scalars(
            select(ActivityReport).where(ActivityReport.programme_id == prog.id))}
        self.convert_cells(records)
        seen: dict[tuple[str, str], int] = {}
        plan = []
        for rec in records:
            v = rec.values
            unit = self.resolve_unit(rec)
            code = v.get("activity")
            if code is not None:
                known = codes.get(code.casefold())
                if known is None:
                    self.error(rec, "activity", f"活动编号“{code}”不在 {prog.year} 年的活动计划中"
                                                f"（应为 {self.plan.codes[0]}–{self.plan.codes[-1]} 之一，见“说明”工作表）")
                else:
                    v["activity"] = code = known
            figures = {}   # only the columns the file has: a missing column leaves the figure as it is
            for key in ("events_held", "participants", "media_reports"):
                if key in rec.raw:
                    try:
                        figures[key] = parse_count(rec.raw[key], LABELS[key].split("（")[0])
                    except ValueError as exc:
                        self.error(rec, key, str(exc))
            if "materials_on" in rec.raw:
                try:
                    figures["materials_on"] = parse_date(rec.raw["materials_on"], LABELS["materials_on"])
                except ValueError as exc:
                    self.error(rec, "materials_on", str(exc))
            if figures.get("events_held") == 0 and (figures.get("participants") or 0) > 0:
                self.error(rec, "participants", "活动场次为 0 时参与人数应为 0")
            if v.get("unit") and code:
                key = (v["unit"], code)
                if key in seen:
                    self.error(rec, "activity", f"单位“{v['unit']}”的活动“{code}”在文件中重复（第 {seen[key]} 行）")
                else:
                    seen[key] = rec.row
            if rec.ok:
                plan.append((rec, unit, code, figures))
        return plan

    def apply(self, plan) -> tuple[int, int]:
        from models import ActivityReport, ActivityReportEvent
        from models.base import utcnow
        s, user = self.session, getattr(self, "user", None)
        actor = f"组织方 {user.username}" if user is not None else "组织方"
        created = updated = 0
        for rec, unit, code, figures in plan:
            report = self.existing.get((unit.id, code))
            if report is None:
                report = ActivityReport(programme_id=self.programme.id, unit_id=unit.id, activity_code=code, version=1,
                                        events_held=0, participants=0, media_reports=0)
                s.add(report)
                old = None
            else:
                old = report.figures()
            for key, value in figures.items():
                setattr(report, key, value)
            new = report.figures()
            if old == new:
                continue
            if old is None:
                created += 1
            else:
                report.version += 1
                updated += 1
            report.updated_at = utcnow()
            report.updated_by_id = getattr(user, "id", None)
            s.flush()
            s.add(ActivityReportEvent(report_id=report.id, action="import", actor=actor, user_id=getattr(user, "id", None),
                                      old=old, new=new, reason=f"Excel 导入：{getattr(self, 'filename', '')}"[:500]))
        return created, updated


IMPORTERS: dict[str, type[_Importer]] = {
    "units": UnitImporter, "judges": JudgeImporter, "entries": EntryImporter, "trainees": TraineeImporter,
    "activity_reports": ActivityReportImporter}
