"""CSV in and out for `python -m scoring`: long-format scores, rankings, groups.

Organisers live in Excel (DOMAIN.md), so files may carry Excel's UTF-8 BOM or be saved as GBK,
cells may have stray spaces and numbers may be typed full-width. Every problem is reported with
the file and the line number as a text editor or Excel shows it (the header is line 1), and
reading goes on to report as many problems as it can at once, so a file is fixed in one pass.

Scores (DESIGN.md contract 3), one row per judge × entry × criterion:

    entry,judge,criterion,score[,optional columns]

`criterion` is a criterion id of the rubric, or `total`: the single criterion of a
single-criterion rubric, or the judge's whole total on a multi-criterion rubric (a sheet keyed
in as totals; then veto and criterion tie-breaks cannot be checked). Optional columns:

    <input> or input:<input>      an entry figure the rubric uses: the multiplier input
                                  (difficulty), duration_seconds (overtime), computed-criterion
                                  data; one value per entry (blank cells allowed, values that
                                  disagree are refused)
    <deduction> or deduction:<id> how many times a deduction applies to the entry
    flags                         flag ids this judge marked on this entry (; separated)
    chief                         1/yes/是 on the chief judge's rows: their flags are decided
    comment                       free text, ignored
"""
from __future__ import annotations

import csv
import io
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from scoring.ranking import StageResult
from scoring.rubric import Rubric
from scoring.sheets import (
    Sheet, SheetInvalid, check_entry_record, gc_paused, parse_number, sheets_from_totals, validate_sheet, validate_total,
)

__all__ = [
    "CsvError",
    "OUTPUT_COLUMNS",
    "ScoresFile",
    "read_entry_groups",
    "read_report_groups",
    "read_scores",
    "ranking_rows",
    "write_ranking",
]

REQUIRED = ("entry", "judge", "criterion", "score")
#: Optional columns beside the entry figures and deductions. `entry_flags` carries flags decided
#: for the whole entry (the web app's chief record) without putting them on any judge's sheet.
EXTRA_COLUMNS = ("flags", "chief", "comment", "entry_flags")
OUTPUT_COLUMNS = (
    "rank", "entry", "score", "status", "award", "award_name", "honours", "promotion", "method",
    "n_judges", "kept", "dropped", "panel_score", "multiplier", "penalties", "raw_sum", "raw_mean",
    "decided_by", "reason", "notes",
)
MAX_ERRORS = 50
_TRUE = {"1", "true", "yes", "y", "是", "√", "x"}
_FALSE = {"", "0", "false", "no", "n", "否"}
_SPLIT = re.compile(r"[;；,，、|\s]+")


class CsvError(Exception):
    """A CSV file that cannot be used; `problems` holds (line or None, message) pairs."""

    def __init__(self, path: str, problems: Sequence[tuple[int | None, str]]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(path, self.problems)

    def __str__(self) -> str:
        return "\n".join(f"{self.path}: line {line}: {msg}" if line else f"{self.path}: {msg}"
                         for line, msg in self.problems)


# --------------------------------------------------------------------------- reading


def _text(source: str | os.PathLike[str] | IO[str]) -> tuple[str, str]:
    """(the file's text, its name for messages); UTF-8 (with or without BOM) or GBK."""
    if hasattr(source, "read"):
        return source.read(), getattr(source, "name", "<stdin>")  # type: ignore[union-attr]
    name = os.fspath(source)  # type: ignore[arg-type]
    try:
        raw = open(name, "rb").read()
    except OSError as exc:
        raise CsvError(name, [(None, f"cannot read the file: {exc.strerror or exc}")]) from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding), name
        except UnicodeDecodeError:
            continue
    raise CsvError(name, [(None, "not UTF-8 or GBK text")])


def _rows(text: str) -> Iterable[tuple[int, list[str]]]:
    """(line number, cells) for each non-blank record; cells stripped, full-width folded."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    for row in reader:
        cells = [unicodedata.normalize("NFKC", c).strip() for c in row]
        if any(cells):
            yield reader.line_num, cells


def _header(name: str, rows: Iterable[tuple[int, list[str]]], what: str) -> tuple[list[str], Iterable]:
    it = iter(rows)
    first = next(it, None)
    if first is None:
        raise CsvError(name, [(1, f"the file is empty: expected a header {what}")])
    line, cells = first
    columns = [c.lower() for c in cells]
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            raise CsvError(name, [(line, f"column {c!r} appears twice in the header")])
        seen.add(c)
    return columns, it


def _truthy(value: str) -> bool | None:
    v = value.strip().lower()
    return True if v in _TRUE else False if v in _FALSE else None


@dataclass
class ScoresFile:
    """Validated scores: sheets per entry and judge, and each entry's record."""

    path: str
    sheets: dict[str, dict[str, Sheet]] = field(default_factory=dict)
    inputs: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    penalties: dict[str, dict[str, int]] = field(default_factory=dict)
    flags: dict[str, frozenset[str]] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)


@dataclass
class _Columns:
    """Where each kind of column is, after checking the header against the rubric."""

    index: dict[str, int]
    inputs: dict[str, int]
    deductions: dict[str, int]


def _columns(name: str, line: int, header: list[str], rubric: Rubric) -> _Columns:
    missing = [c for c in REQUIRED if c not in header]
    problems: list[tuple[int | None, str]] = []
    if missing:
        problems.append((line, f"missing column(s) {', '.join(missing)}; the header must have {','.join(REQUIRED)} (found: {','.join(header)})"))
    index = {c: i for i, c in enumerate(header)}
    inputs, deductions = {}, {}
    known_inputs = set(rubric.entry_inputs)
    known_deductions = {d.id for d in rubric.deductions}
    for i, c in enumerate(header):
        if c in REQUIRED or c in EXTRA_COLUMNS:
            continue
        bare = c.split(":", 1)[1] if ":" in c else c
        if (c.startswith("input:") or ":" not in c) and bare in known_inputs:
            inputs[bare] = i
        elif (c.startswith("deduction:") or ":" not in c) and bare in known_deductions:
            deductions[bare] = i
        else:
            allowed = [*REQUIRED, *EXTRA_COLUMNS, *sorted(known_inputs), *sorted(known_deductions)]
            problems.append((line, f"unknown column {c!r} for rubric {rubric.id} (allowed: {', '.join(allowed)})"))
    if problems:
        raise CsvError(name, problems)
    return _Columns(index, inputs, deductions)


def read_scores(source: str | os.PathLike[str] | IO[str], rubric: Rubric) -> ScoresFile:
    """Read and validate a long-format scores file against `rubric`.

    Raises CsvError naming each bad line: missing columns, an empty file, a score that is not a
    number or breaks the rubric (range, step), an unknown criterion, a judge scoring the same
    criterion of an entry twice, entry figures that disagree between rows.
    """
    if rubric.kind not in ("panel", "award") or not rubric.criteria:
        raise CsvError(str(source), [(None, f"rubric {rubric.id!r} is a {rubric.kind}: it has no scores to rank")])
    text, name = _text(source)
    header, rows = _header(name, _rows(text), ",".join(REQUIRED))
    cols = _columns(name, 1, header, rubric)
    reader = _ScoreReader(name, rubric, cols, len(header))
    with gc_paused():  # a few objects per row, no cycles: see sheets.gc_paused
        for line, cells in rows:
            reader.row(line, cells)
            if len(reader.problems) >= MAX_ERRORS:
                break
        return reader.finish()


class _ScoreReader:
    """Collects rows into sheets and entry records, remembering each value's line."""

    def __init__(self, name: str, rubric: Rubric, cols: _Columns, width: int) -> None:
        self.name, self.rubric, self.cols, self.width = name, rubric, cols, width
        self.problems: list[tuple[int | None, str]] = []
        self.cells: dict[tuple[str, str], dict[str, tuple[str, int]]] = {}
        self.flags: dict[tuple[str, str], tuple[set[str], int]] = {}
        self.chief: set[tuple[str, str]] = set()
        self.entry_values: dict[str, dict[str, tuple[str, Decimal | str, int]]] = {}
        self.entry_flags: dict[str, tuple[frozenset[str], str, int]] = {}
        self.first_line: dict[str, int] = {}
        self.known = set(rubric.criterion_ids) | {"total"}
        self.computed = {c.id for c in rubric.criteria if not c.judged}
        self.judged = rubric.judged_criteria
        self.required = [cols.index[c] for c in REQUIRED]  # entry, judge, criterion, score

    def fail(self, line: int | None, message: str) -> None:
        self.problems.append((line, message))

    def row(self, line: int, cells: list[str]) -> None:
        if len(cells) != self.width:
            self.fail(line, f"{len(cells)} fields, but the header has {self.width}")
            return
        entry, judge, criterion, score = (cells[i] for i in self.required)
        criterion = criterion.lower()
        for column, value in (("entry", entry), ("judge", judge), ("criterion", criterion)):
            if not value:
                self.fail(line, f"{column} is empty")
                return
        self.first_line.setdefault(entry, line)
        if criterion not in self.known:
            ids = [c for c in self.rubric.criterion_ids if c not in self.computed]
            also = "" if "total" in ids else ", or total"
            self.fail(line, f"unknown criterion {criterion!r} (criteria of {self.rubric.id}: {', '.join(ids)}{also})")
        elif criterion in self.computed:
            self.fail(line, f"criterion {criterion!r} is computed from entry data, not scored by judges")
        elif self._score_ok(line, score):
            sheet = self.cells.setdefault((entry, judge), {})
            if criterion in sheet:
                self.fail(line, f"judge {judge} scored criterion {criterion} of entry {entry} twice (first on line {sheet[criterion][1]})")
            else:
                sheet[criterion] = (score, line)
        self._extras(line, entry, judge, cells)

    def _score_ok(self, line: int, score: str) -> bool:
        value = parse_number(score)
        if value == "missing":
            self.fail(line, "score is empty")
        elif isinstance(value, str):
            self.fail(line, f"score {score!r} is not a number")
        else:
            return True
        return False

    def _extras(self, line: int, entry: str, judge: str, cells: list[str]) -> None:
        index = self.cols.index
        if "flags" in index and cells[index["flags"]]:
            marked, _ = self.flags.setdefault((entry, judge), (set(), line))
            marked.update(f for f in _SPLIT.split(cells[index["flags"]].lower()) if f)
        if "chief" in index:
            flag = _truthy(cells[index["chief"]])
            if flag is None:
                self.fail(line, f"chief {cells[index['chief']]!r} is not yes or no (1/0, yes/no, 是/否)")
            elif flag:
                self.chief.add((entry, judge))
        if "entry_flags" in index and cells[index["entry_flags"]]:
            raw = cells[index["entry_flags"]]
            marked = frozenset(f for f in _SPLIT.split(raw.lower()) if f)
            first = self.entry_flags.setdefault(entry, (marked, raw, line))
            if first[0] != marked:
                self.fail(line, f"entry_flags of entry {entry} is {raw}, but line {first[2]} says {first[1]}")
        for name, i in [*self.cols.inputs.items(), *self.cols.deductions.items()]:
            raw = cells[i]
            if not raw:
                continue
            value = parse_number(raw)
            values = self.entry_values.setdefault(entry, {})
            if name in values and values[name][1] != value:
                first_raw, _, first_line = values[name]
                self.fail(line, f"{name} of entry {entry} is {raw}, but line {first_line} says {first_raw}")
            elif name not in values:
                values[name] = (raw, value, line)

    # -- building sheets

    def finish(self) -> ScoresFile:
        out = ScoresFile(self.name)
        if not self.cells and not self.problems:
            self.fail(2, "no scores: the file has a header but no score rows")
        self._records(out)
        bare = self._bare_totals()
        for (entry, judge), cells in self.cells.items():
            sheet = bare[(entry, judge)] if (entry, judge) in bare else self._sheet(entry, judge, cells)
            if sheet is not None:
                out.sheets.setdefault(entry, {})[judge] = sheet
        if self.problems:
            self.problems.sort(key=lambda p: (p[0] or 0))
            raise CsvError(self.name, self.problems[:MAX_ERRORS])
        out.lines = dict(self.first_line)
        for entry in self.first_line:
            out.sheets.setdefault(entry, {})
        return out

    def _records(self, out: ScoresFile) -> None:
        """Validate each entry's figures and decided flags (the chief judge's marks)."""
        decided: dict[str, set[str]] = {}
        for entry, judge in self.chief:
            decided.setdefault(entry, set()).update(self.flags.get((entry, judge), (set(), 0))[0])
        for entry, (marked, _raw, _line) in self.entry_flags.items():
            decided.setdefault(entry, set()).update(marked)
        for entry in self.first_line:
            values = self.entry_values.get(entry, {})
            inputs = {k: v[0] for k, v in values.items() if k in self.cols.inputs}
            deductions = {k: v[0] for k, v in values.items() if k in self.cols.deductions}
            try:  # nothing recorded (inputs and deductions empty) is the empty record, found at once
                record = check_entry_record(self.rubric, inputs=inputs or None, penalties=deductions or None,
                                            flags=decided.get(entry, ()))
            except SheetInvalid as exc:
                for err in exc.errors:
                    key = err.field.split(".", 1)[-1]
                    line = values[key][2] if key in values else self.first_line[entry]
                    self.fail(line, f"entry {entry}: {err.field}: {err.message} [{err.code}]")
                continue
            out.inputs[entry] = dict(record.inputs)
            out.penalties[entry] = dict(record.deductions)
            out.flags[entry] = record.flags

    def _bare_totals(self) -> dict[tuple[str, str], Sheet | None]:
        """The sheets that are one judge's total and nothing else (no flags), validated as one
        column (sheets.sheets_from_totals): what `_sheet` gives each, and the same problems."""
        judged = self.judged
        one = {"total"} if len(judged) > 1 else {"total", judged[0].id}  # _sheet: validate_total, or validate_sheet of one mark
        pairs = [pair for pair, cells in self.cells.items()
                 if len(cells) == 1 and not cells.keys().isdisjoint(one) and not self.flags.get(pair, ((), 0))[0]]
        cells = [next(iter(self.cells[pair].values())) for pair in pairs]
        sheets, errors = sheets_from_totals(self.rubric, [raw for raw, _ in cells])
        for i, errs in errors.items():  # each on its cell's line, as _sheet reports a score's error
            (entry, judge), line = pairs[i], cells[i][1]
            for err in errs:
                self.fail(line, f"judge {judge} on entry {entry}: {err.field}: {err.message} [{err.code}]")
        return dict(zip(pairs, sheets))

    def _sheet(self, entry: str, judge: str, cells: dict[str, tuple[str, int]]) -> Sheet | None:
        marked, flag_line = self.flags.get((entry, judge), (set(), 0))
        first = min(line for _, line in cells.values())
        judged = self.judged
        scores = {c: v for c, (v, _) in cells.items()}
        lines = {c: line for c, (_, line) in cells.items()}
        try:
            if "total" in cells and len(judged) > 1:
                if len(cells) > 1:
                    self.fail(first, f"judge {judge} on entry {entry}: give either criterion scores or a total, not both")
                    return None
                return validate_total(self.rubric, scores["total"], flags=marked)
            if "total" in cells and judged[0].id != "total":
                if judged[0].id in cells:
                    self.fail(lines["total"], f"judge {judge} scored criterion {judged[0].id} of entry {entry} twice (as total and as {judged[0].id})")
                    return None
                scores = {judged[0].id: scores.pop("total")}
                lines = {judged[0].id: lines["total"]}
            return validate_sheet(self.rubric, scores, flags=marked)
        except SheetInvalid as exc:
            for err in exc.errors:
                kind, _, key = err.field.partition(".")
                line = lines.get(key, lines.get("total", first)) if kind == "scores" else flag_line or first
                self.fail(line, f"judge {judge} on entry {entry}: {err.field}: {err.message} [{err.code}]")
            return None


def _read_table(source: str | os.PathLike[str] | IO[str], required: Sequence[str], what: str) -> tuple[str, list[str], list[tuple[int, list[str]]]]:
    text, name = _text(source)
    header, rows = _header(name, _rows(text), what)
    missing = [c for c in required if c not in header]
    if missing:
        raise CsvError(name, [(1, f"missing column(s) {', '.join(missing)} (found: {','.join(header)})")])
    body = list(rows)
    bad = [(line, f"{len(cells)} fields, but the header has {len(header)}") for line, cells in body if len(cells) != len(header)]
    if bad:
        raise CsvError(name, bad[:MAX_ERRORS])
    return name, header, body


def read_entry_groups(source: str | os.PathLike[str] | IO[str]) -> dict[str, dict[str, str]]:
    """Entry attributes for promotion: `entry` plus any of division, province, category, unit."""
    name, header, body = _read_table(source, ("entry",), "entry,division,category")
    out: dict[str, dict[str, str]] = {}
    problems = []
    for line, cells in body:
        row = dict(zip(header, cells))
        entry = row.pop("entry")
        if entry in out:
            problems.append((line, f"entry {entry} is listed twice"))
        out[entry] = row
    if problems:
        raise CsvError(name, problems)
    return out


def read_report_groups(source: str | os.PathLike[str] | IO[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Provinces or divisions for the own-group test of the report: header `kind,id,group`,
    kind `entry` (作品) or `judge` (评委). Returns (entry → group, judge → group)."""
    name, header, body = _read_table(source, ("kind", "id", "group"), "kind,id,group")
    entries: dict[str, str] = {}
    judges: dict[str, str] = {}
    problems = []
    for line, cells in body:
        row = dict(zip(header, cells))
        kind = {"作品": "entry", "评委": "judge"}.get(row["kind"], row["kind"].lower())
        target = entries if kind == "entry" else judges if kind == "judge" else None
        if target is None:
            problems.append((line, f"kind {row['kind']!r} must be entry or judge"))
        elif not row["id"] or not row["group"]:
            problems.append((line, "id and group must not be empty"))
        elif row["id"] in target:
            problems.append((line, f"{kind} {row['id']} is listed twice"))
        else:
            target[row["id"]] = row["group"]
    if problems:
        raise CsvError(name, problems)
    return entries, judges


# --------------------------------------------------------------------------- writing


def _num(value: Decimal | None) -> str:
    """A score as the rubric computed it: its places kept (91.80), never an exponent."""
    return "" if value is None else format(value, "f")


def _dropped(r: Any) -> str:
    """Dropped marks as judge:mark:high|low (per criterion, criterion:judge:side, when the
    rubric trims each criterion on its own)."""
    marks = [f"{m.judge}:{_num(m.raw)}:{m.dropped}" for m in r.judges if m.dropped]
    if marks:
        return ";".join(marks)
    parts = []
    for c in r.criteria.values():
        parts += [f"{c.criterion}:{j}:high" for j in c.dropped_high]
        parts += [f"{c.criterion}:{j}:low" for j in c.dropped_low]
    return ";".join(parts)


def ranking_rows(stage: StageResult) -> list[dict[str, str]]:
    """The ranking as rows of OUTPUT_COLUMNS, best first, unranked entries last."""
    promo = {row.entry: row for row in stage.promotion.rows} if stage.promotion else {}
    rows = []
    for x in stage.ranked:
        r = x.result
        p = promo.get(x.entry)
        promotion = "" if p is None else p.outcome + (f" {p.reserve_order}" if p.reserve_order else "")
        rows.append({
            "rank": "" if x.rank is None else str(x.rank),
            "entry": str(x.entry),
            "score": _num(r.final_score),
            "status": r.status,
            "award": x.award or "",
            "award_name": x.award_name or "",
            "honours": ";".join(x.honours),
            "promotion": promotion,
            "method": r.method,
            "n_judges": str(r.n_judges),
            "kept": ";".join(str(j) for j in r.kept),
            "dropped": _dropped(r),
            "panel_score": _num(r.panel_score),
            "multiplier": _num(r.multiplier),
            "penalties": ";".join(f"{p.id}:{_num(p.total)}" for p in r.penalties),
            "raw_sum": _num(r.raw_sum),
            "raw_mean": _num(r.raw_mean),
            "decided_by": ("tie" if x.tied else x.decided_by or ""),
            "reason": "；".join(r.reasons),
            "notes": "；".join(r.notes),
        })
    return rows


def write_ranking(stage: StageResult, out: IO[str]) -> None:
    """Write the ranking CSV (header OUTPUT_COLUMNS, at least rank,entry,score)."""
    writer = csv.DictWriter(out, fieldnames=list(OUTPUT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(ranking_rows(stage))
