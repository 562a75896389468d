"""Score sheets: one judge's marks for one entry, checked against the rubric before they count.

A sheet is refused at the door rather than repaired later: a mark off the rubric's step, out of
range or for a criterion the rubric does not have would silently change a published result.
Validation collects *every* problem, each as a `FieldError(field, code, message)`: `field` is a
path such as `scores.kexuexing`, `code` a stable identifier for API clients (`missing`,
`unknown`, `not_a_number`, `out_of_range`, `off_step`, ...), `message` Chinese text for the
tablet. Numbers become exact `Decimal`s (never floats), because step checks and published
rounding must be exact (rubric.py, "Numbers are Decimal").

Entry-level records — the measured duration, the degree of difficulty, deductions the chief
judge records, flags — are checked by the same rules (`check_entry_record`), so a sheet and an
entry's record cannot disagree about what is valid.
"""
from __future__ import annotations

import gc
import math
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow
from fractions import Fraction
from math import gcd
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from scoring.rubric import Criterion, Rubric

if TYPE_CHECKING:
    import numpy as np  # validate_totals only; imported when used, sheets stay light for the web app

__all__ = [
    "EntryRecord",
    "FieldError",
    "Sheet",
    "SheetInvalid",
    "check_entry_record",
    "format_number",
    "parse_number",
    "validate_sheet",
    "validate_total",
    "validate_totals",
    "sheets_from_totals",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})

# Marks are added, subtracted and multiplied exactly: any operation that would round raises
# `Inexact` instead of silently changing a published score.
EXACT = Context(prec=60, traps=[InvalidOperation, Inexact, Overflow, DivisionByZero])


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: `code` is for programs, `message` (Chinese) for people."""

    field: str
    code: str
    message: str


class SheetInvalid(ValueError):
    """A sheet or entry record that cannot be used, with every problem found in it."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__(self.errors)

    def __str__(self) -> str:
        return "; ".join(f"{e.field}: {e.message}" for e in self.errors)

    def as_json(self) -> list[dict[str, str]]:
        """The errors as plain dicts, the body of an HTTP 422 answer."""
        return [{"field": e.field, "code": e.code, "message": e.message} for e in self.errors]


@dataclass(frozen=True)
class Sheet:
    """A validated score sheet: exact scores and the judge's total (Σ weight × score).

    `itemised` is False for a sheet that gives only the judge's total (a multi-criterion rubric
    scored on paper and keyed in as totals, see `validate_total`); `scores` is then empty and
    whatever needs per-criterion scores (veto, criterion tie-breaks) cannot use it. Computed
    criteria are never on a sheet: they are entry-level figures (rubric `Computed`).
    `deductions`, `flags` and `inputs` are what this sheet's author recorded; flags decided by
    `any_judge` or `majority` are counted from the judges' sheets.
    """

    rubric_id: str
    rubric_version: int
    scores: Mapping[str, Decimal]
    total: Decimal
    itemised: bool = True
    deductions: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    flags: frozenset[str] = frozenset()
    inputs: Mapping[str, Decimal] = field(default_factory=lambda: _EMPTY)
    comment: str = ""


_GC_LOCK = threading.Lock()
_gc_pauses = 0
_gc_resume = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Build many objects without the cyclic garbage collector's passes in between.

    Ranking 10,000 entries (or reading 50,000 CSV rows) allocates some 200,000 small objects
    that form no reference cycles (reference counting frees the garbage). With the collector
    on, the growing heap sets off pass after pass over every object alive, the stage's sheets
    included: a third of rank_stage's time at a national review's size, measured. Collection
    resumes, if it was on, when the last pause ends (pauses nest and may overlap in threads);
    the objects built are then looked at once, as the young generation.
    """
    global _gc_pauses, _gc_resume
    with _GC_LOCK:
        if _gc_pauses == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_resume:
                gc.enable()


def fast_new(cls: type, fields: dict[str, Any]) -> Any:
    """`cls(**fields)` for a frozen dataclass, every field given by name, without the generated
    __init__'s object.__setattr__ per field (4× slower; sheets and results come by the 10,000).
    Only for the plain frozen dataclasses of the scoring engine (no __post_init__, no slots);
    tests/scoring/test_fast_paths.py checks the results equal the constructor's."""
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


def fast_replace(obj: Any, **changes: Any) -> Any:
    """`dataclasses.replace(obj, **changes)` as `fast_new` builds: the fields copied, some changed."""
    new = object.__new__(type(obj))
    fields = new.__dict__
    fields.update(obj.__dict__)
    fields.update(changes)
    return new


@dataclass(frozen=True)
class EntryRecord:
    """Validated entry-level figures: inputs (difficulty, duration_seconds, computed-criterion
    data), deduction counts and decided flags."""

    inputs: Mapping[str, Decimal] = field(default_factory=lambda: _EMPTY)
    deductions: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    flags: frozenset[str] = frozenset()


# --------------------------------------------------------------------------- numbers


def parse_number(value: Any) -> Decimal | str:
    """`value` as an exact finite Decimal, or the error code `missing` / `not_a_number`.

    Strings are accepted ("8.5", full-width "８.５" from a Chinese keyboard) because forms and
    CSV files carry text; booleans, NaN and infinities are refused because they are never marks.
    Floats go through their shortest repr so 8.1 is 8.1, not its binary neighbour.
    """
    if isinstance(value, str):  # first: forms and CSV files carry text
        text = unicodedata.normalize("NFKC", value).strip()
        if not text:
            return "missing"
        try:
            number = Decimal(text)
        except InvalidOperation:
            return "not_a_number"
        return number if number.is_finite() else "not_a_number"
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "not_a_number"
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else "not_a_number"
    if isinstance(value, Decimal):
        return value if value.is_finite() else "not_a_number"
    return "not_a_number"


def format_number(value: Decimal | Fraction | int) -> str:
    """A number as people write it in a message: 25, 0.5, 8.25 (no exponent, no trailing
    zeros). Not for scores as published: those keep their places (91.80)."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 30 else text[:27] + "..."


# --------------------------------------------------------------------------- rubric digest


@dataclass(frozen=True)
class _Spec:
    judged: tuple[Criterion, ...]
    judged_ids: frozenset[str]
    computed_ids: frozenset[str]
    min_total: Decimal
    max_total: Decimal
    total_grain: Fraction  # every reachable total is min_total + k × grain
    # For the quick checks of a bare sheet (no pydantic attribute access per mark):
    marks: tuple[tuple[str, Decimal, Decimal, Decimal, Decimal], ...]  # (id, min, max, step, weight)
    grain: Decimal | None  # total_grain as an exact Decimal (None when it has no short expansion)
    seen: dict[str, tuple[Mapping[str, Decimal], Decimal, bool]]  # _bare_parts of texts met before


_SPECS: dict[int, tuple[Rubric, _Spec]] = {}


def _spec(rubric: Rubric) -> _Spec:
    """The per-rubric facts validation needs, computed once per rubric object (sheets are
    validated by the tens of thousands in a national review)."""
    hit = _SPECS.get(id(rubric))
    if hit is not None and hit[0] is rubric:
        return hit[1]
    if rubric.kind not in ("panel", "award") or not rubric.criteria:
        raise ValueError(f"rubric {rubric.id!r} is a {rubric.kind}: it has no score sheet")
    judged = rubric.judged_criteria
    steps = [Fraction(c.effective_weight * c.step) for c in judged]
    grain = _fraction_gcd(steps) if steps else Fraction(1)
    try:
        grain_decimal: Decimal | None = EXACT.divide(Decimal(grain.numerator), Decimal(grain.denominator))
    except ArithmeticError:
        grain_decimal = None
    spec = _Spec(
        judged=judged,
        judged_ids=frozenset(c.id for c in judged),
        computed_ids=frozenset(c.id for c in rubric.criteria if not c.judged),
        min_total=sum((c.effective_weight * c.min for c in judged), Decimal(0)),
        max_total=sum((c.effective_weight * c.max for c in judged), Decimal(0)),
        total_grain=grain,
        marks=tuple((c.id, c.min, c.max, c.step, c.effective_weight) for c in judged),
        grain=grain_decimal,
        seen={},
    )
    if len(_SPECS) > 256:
        _SPECS.clear()
    _SPECS[id(rubric)] = (rubric, spec)
    return spec


def _fraction_gcd(values: list[Fraction]) -> Fraction:
    """The largest g with every value an integer multiple of g."""
    denominator = math.lcm(*(v.denominator for v in values))
    numerator = 0
    for v in values:
        numerator = gcd(numerator, int(v * denominator))
    return Fraction(numerator, denominator)


# --------------------------------------------------------------------------- checks


def _check_mark(c: Criterion, raw: Any, at: str, errors: list[FieldError]) -> Decimal | None:
    title = c.title.zh
    value = parse_number(raw)
    if value == "missing":
        errors.append(FieldError(at, "missing", f"缺少评分项「{title}」的分数"))
        return None
    if isinstance(value, str):
        errors.append(FieldError(at, "not_a_number", f"「{title}」的分数必须是数字（收到 {_show(raw)}）"))
        return None
    if not c.min <= value <= c.max:
        errors.append(FieldError(
            at, "out_of_range", f"「{title}」的分数应在 {format_number(c.min)} 至 {format_number(c.max)} 之间（收到 {format_number(value)}）"
        ))
        return None
    if not _on_step(value, c.step, c.min):
        errors.append(FieldError(
            at, "off_step", f"「{title}」的分数须以 {format_number(c.step)} 分为单位（收到 {format_number(value)}）"
        ))
        return None
    return value


def _on_step(value: Decimal, step: Decimal, start: Decimal = Decimal(0)) -> bool:
    """Whether `value` lies on the grid start + k × step, exactly (a mark with more than 60
    significant digits is not on any step)."""
    try:
        return EXACT.remainder(EXACT.subtract(value, start), step).is_zero()
    except ArithmeticError:
        return False


def _check_scores(rubric: Rubric, spec: _Spec, scores: Mapping[str, Any], errors: list[FieldError]) -> dict[str, Decimal]:
    if not isinstance(scores, Mapping):
        errors.append(FieldError("scores", "not_a_mapping", "评分须为“评分项: 分数”的对应表"))
        return {}
    marks: dict[str, Decimal] = {}
    for c in spec.judged:
        value = _check_mark(c, scores.get(c.id), f"scores.{c.id}", errors)
        if value is not None:
            marks[c.id] = value
    for key in scores:
        if key in spec.judged_ids:
            continue
        if key in spec.computed_ids:
            title = rubric.find_criterion(key).title.zh  # type: ignore[union-attr]
            errors.append(FieldError(f"scores.{key}", "not_judged", f"「{title}」由系统根据填报数据计算，评委不打分"))
        else:
            known = "、".join(c.id for c in spec.judged)
            errors.append(FieldError(f"scores.{key}", "unknown", f"评分表中没有评分项 {_show(key)}（评分项：{known}）"))
    return marks


def _check_deductions(rubric: Rubric, penalties: Mapping[str, Any] | None, errors: list[FieldError]) -> dict[str, int]:
    """Deduction counts by id, each a whole number from 0 to the deduction's `max_count`."""
    if penalties is None:
        return {}
    if not isinstance(penalties, Mapping):
        errors.append(FieldError("penalties", "not_a_mapping", "扣分须为“扣分项: 次数”的对应表"))
        return {}
    known = {d.id: d for d in rubric.deductions}
    counts: dict[str, int] = {}
    for key, raw in penalties.items():
        at = f"penalties.{key}"
        d = known.get(key)
        if d is None:
            hint = "；用时请填写在 inputs.duration_seconds" if key in ("duration_seconds", "overtime", "overtime_seconds") else ""
            allowed = "、".join(known) or "无"
            errors.append(FieldError(at, "unknown", f"评分表中没有扣分项 {_show(key)}（扣分项：{allowed}）{hint}"))
            continue
        value = parse_number(raw)
        if value == "missing":
            continue
        if isinstance(value, str) or value != value.to_integral_value():
            errors.append(FieldError(at, "not_an_integer", f"「{d.title.zh}」的次数必须是整数（收到 {_show(raw)}）"))
        elif not 0 <= value <= d.max_count:
            errors.append(FieldError(at, "out_of_range", f"「{d.title.zh}」最多记 {d.max_count} 次（收到 {format_number(value)}）"))
        elif value:
            counts[key] = int(value)
    return counts


def _check_flags(rubric: Rubric, flags: Iterable[str], comment: str | None, errors: list[FieldError]) -> frozenset[str]:
    """Known flag ids; a flag whose rubric entry `requires_comment` needs a non-blank comment
    (when `comment` is None the caller records comments elsewhere and this is not checked)."""
    if isinstance(flags, str):
        flags = (flags,)
    known = {f.id: f for f in rubric.flags}
    marked: set[str] = set()
    for key in flags:
        flag = known.get(key)
        if flag is None:
            allowed = "、".join(known) or "无"
            errors.append(FieldError(f"flags.{key}", "unknown", f"评分表中没有标记项 {_show(key)}（标记项：{allowed}）"))
            continue
        marked.add(key)
        if flag.requires_comment and comment is not None and not comment.strip():
            errors.append(FieldError("comment", "comment_required", f"标记「{flag.title.zh}」时必须在评语中说明情况"))
    return frozenset(marked)


def _check_inputs(rubric: Rubric, inputs: Mapping[str, Any] | None, errors: list[FieldError]) -> dict[str, Decimal]:
    """Entry-level figures: the multiplier within its range and step, a duration or a
    computed criterion's figure not negative. Unknown names are refused (a typo would
    otherwise leave an entry without its difficulty)."""
    if inputs is None:
        return {}
    if not isinstance(inputs, Mapping):
        errors.append(FieldError("inputs", "not_a_mapping", "录入项须为“名称: 数值”的对应表"))
        return {}
    agg = rubric.aggregation
    multiplier = agg.multiplier if agg else None
    allowed = rubric.entry_inputs
    values: dict[str, Decimal] = {}
    for key, raw in inputs.items():
        at = f"inputs.{key}"
        if key not in allowed:
            names = "、".join(allowed) or "无"
            errors.append(FieldError(at, "unknown", f"本评分表不需要录入项 {_show(key)}（录入项：{names}）"))
            continue
        value = parse_number(raw)
        if value == "missing":
            continue
        if isinstance(value, str):
            errors.append(FieldError(at, "not_a_number", f"录入项 {key} 必须是数字（收到 {_show(raw)}）"))
        elif multiplier is not None and key == multiplier.input:
            if _check_multiplier(multiplier, value, at, errors):
                values[key] = value
        elif value < 0:
            errors.append(FieldError(at, "out_of_range", f"录入项 {key} 不能为负数（收到 {format_number(value)}）"))
        else:
            values[key] = value
    return values


def _check_multiplier(m: Any, value: Decimal, at: str, errors: list[FieldError]) -> bool:
    title = m.title.zh
    if not m.min <= value <= m.max:
        errors.append(FieldError(at, "out_of_range", f"{title}应在 {format_number(m.min)} 至 {format_number(m.max)} 之间（收到 {format_number(value)}）"))
        return False
    if m.step is not None and not _on_step(value, m.step):
        errors.append(FieldError(at, "off_step", f"{title}须以 {format_number(m.step)} 为单位（收到 {format_number(value)}）"))
        return False
    return True


# --------------------------------------------------------------------------- public API


def validate_sheet(
    rubric: Rubric,
    scores: Mapping[str, Any],
    *,
    penalties: Mapping[str, Any] | None = None,
    flags: Iterable[str] = (),
    inputs: Mapping[str, Any] | None = None,
    comment: str | None = None,
) -> Sheet:
    """Check one judge's sheet against `rubric` and return it with exact scores and total.

    Every judged criterion must be present, numeric, within min..max and on the step (exact
    Decimal check); unknown or computed criteria are refused. `penalties` maps deduction ids to
    counts, `flags` lists flag ids, `inputs` entry figures such as `difficulty` or
    `duration_seconds`. Raises `SheetInvalid` listing every problem.
    """
    spec = _spec(rubric)
    if penalties is None and inputs is None and not flags:  # a bare sheet, as nearly all are
        marks = _quick_marks(spec, scores)
        if marks is not None:
            total = Decimal(0)
            for cid, _, _, _, weight in spec.marks:
                total = EXACT.add(total, EXACT.multiply(weight, marks[cid]))
            return _bare_sheet(rubric, MappingProxyType(marks), total, True, comment)
    errors: list[FieldError] = []
    marks = _check_scores(rubric, spec, scores, errors)
    record = _record(rubric, penalties, flags, inputs, comment, errors)
    if errors:
        raise SheetInvalid(errors)
    total = Decimal(0)
    for c in spec.judged:
        total = EXACT.add(total, EXACT.multiply(c.effective_weight, marks[c.id]))
    return Sheet(
        rubric.id, rubric.version, MappingProxyType(marks), total, True,
        record.deductions, record.flags, record.inputs, comment or "",
    )


def validate_total(
    rubric: Rubric,
    total: Any,
    *,
    penalties: Mapping[str, Any] | None = None,
    flags: Iterable[str] = (),
    inputs: Mapping[str, Any] | None = None,
    comment: str | None = None,
) -> Sheet:
    """A sheet that gives only the judge's total, for paper sheets keyed in as totals.

    The total must lie between the lowest and highest possible totals and be reachable on the
    criteria's steps (a multiple of the gcd of weight × step above the lowest total). With one
    judged criterion this is exactly `validate_sheet` of that criterion.
    """
    spec = _spec(rubric)
    if penalties is None and inputs is None and not flags:  # a bare total, as nearly all are
        parts = _bare_parts(spec, total)
        if parts is not None:
            return _bare_sheet(rubric, *parts, comment)
    if len(spec.marks) == 1:
        return validate_sheet(rubric, {spec.marks[0][0]: total}, penalties=penalties,
                              flags=flags, inputs=inputs, comment=comment)
    errors: list[FieldError] = []
    value = _check_total(spec, total, errors)
    record = _record(rubric, penalties, flags, inputs, comment, errors)
    if errors:
        raise SheetInvalid(errors)
    assert value is not None
    return Sheet(
        rubric.id, rubric.version, _EMPTY, value, False,
        record.deductions, record.flags, record.inputs, comment or "",
    )


def validate_totals(rubric: Rubric, values: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, dict[int, list[FieldError]]]:
    """Check a whole column of judges' totals at once, before any sheet is built (an import of
    50,000 keyed-in totals, a preview): `ok[i]` is whether `validate_total(rubric, values[i])`
    accepts the value, and `errors[i]` lists the errors it reports when it does not.

    A numpy array is read as Python numbers (`tolist()`). Floats are checked on scaled integers,
    vectorised: with the rubric's grid on d decimal places, v is on it exactly when
    k = round(v × 10^d) gives v back as k / 10^d (then its shortest repr, the Decimal that
    `validate_total` checks, is k × 10^-d) and k is in range and on the step. Text is checked
    once per distinct string. Every value the quick checks do not accept goes through
    `validate_total` itself, which decides and words the errors.
    """
    import numpy as np

    spec = _spec(rubric)
    array = values if isinstance(values, np.ndarray) else None
    items = values.tolist() if array is not None else list(values)
    if array is not None and array.ndim == 1 and array.dtype.kind == "f":
        ok = _grid_mask(spec, array)
    else:
        seen: dict[Any, bool] = {}
        verdicts: list[bool] = []
        for raw in items:
            if type(raw) is str or type(raw) is int:  # exact types only: True == 1 must not share a verdict
                hit = seen.get(raw)
                if hit is None:
                    hit = seen[raw] = _quick_value(spec, raw) is not None
                verdicts.append(hit)
            else:
                verdicts.append(_quick_value(spec, raw) is not None)
        ok = np.array(verdicts, dtype=bool)
    errors: dict[int, list[FieldError]] = {}
    for i in np.flatnonzero(~ok).tolist():
        try:
            validate_total(rubric, items[i])
        except SheetInvalid as exc:
            errors[i] = exc.errors
        else:
            ok[i] = True
    return ok, errors


def sheets_from_totals(rubric: Rubric, values: Sequence[Any] | np.ndarray) -> tuple[list[Sheet | None], dict[int, list[FieldError]]]:
    """`validate_total(rubric, v)` for each value of a column, in one pass: the sheets (None
    where a value is refused) and each refused value's errors, as one call per value gives them.

    For a stage's totals (50,000 in a national review, some 10,000 distinct): each distinct
    text is parsed and checked once, and the values that are the same text get the same sheet.
    A sheet is a frozen value (scores and total; no judge, no entry), so one object serves
    them all as well as equal copies would. A numpy array is read as Python numbers (`tolist()`).
    """
    spec = _spec(rubric)
    items = values.tolist() if hasattr(values, "tolist") else list(values)
    sheets: list[Sheet | None] = []
    errors: dict[int, list[FieldError]] = {}
    memo: dict[str, Sheet] = {}
    for i, raw in enumerate(items):
        sheet = memo.get(raw) if type(raw) is str else None
        if sheet is None:
            parts = _bare_parts(spec, raw)
            if parts is not None:
                sheet = _bare_sheet(rubric, *parts, None)
                if type(raw) is str:
                    memo[raw] = sheet
            else:  # not plainly valid: validate_total decides, and words the errors
                try:
                    sheet = validate_total(rubric, raw)
                except SheetInvalid as exc:
                    errors[i] = exc.errors
        sheets.append(sheet)
    return sheets, errors


def _quick_marks(spec: _Spec, scores: Any) -> dict[str, Decimal] | None:
    """The exact marks of a sheet that is plainly valid (a dict with every judged criterion and
    nothing else, each mark in range and on its step), else None: then `_check_scores` finds
    and words the problems. The same checks as `_check_mark`, without building messages."""
    if type(scores) is not dict or len(scores) != len(spec.marks):
        return None
    marks: dict[str, Decimal] = {}
    for cid, lo, hi, step, _ in spec.marks:
        value = parse_number(scores.get(cid))
        if isinstance(value, str) or not lo <= value <= hi or not _on_step(value, step, lo):
            return None
        marks[cid] = value
    return marks


_SEEN_MAX = 16_384  # texts remembered per rubric: every mark from 0 to 100 on a 0.01 step, and more


def _bare_parts(spec: _Spec, raw: Any) -> tuple[Mapping[str, Decimal], Decimal, bool] | None:
    """(scores, total, itemised) of the sheet `validate_total` gives for a plainly valid total
    and no penalties, flags or inputs; None when not plainly valid.

    A one-criterion rubric's answer for a text depends on the text alone (exact parsing and
    the EXACT context), so it is remembered: a stage's 50,000 marks are some 10,000 texts.
    (A total's reach above the lowest total is checked in the caller's decimal context, as
    `_check_total` checks it, so those are not remembered.) The scores mapping is read-only
    and the total a Decimal: sheets may share them."""
    if type(raw) is str:
        hit = spec.seen.get(raw)
        if hit is not None:
            return hit
    value = _quick_value(spec, raw)
    if value is None:
        return None
    if len(spec.marks) > 1:
        return _EMPTY, value, False
    cid, _, _, _, weight = spec.marks[0]  # validate_sheet of {criterion: total}
    parts = MappingProxyType({cid: value}), EXACT.add(Decimal(0), EXACT.multiply(weight, value)), True
    if type(raw) is str and len(spec.seen) < _SEEN_MAX:
        spec.seen[raw] = parts
    return parts


def _bare_sheet(rubric: Rubric, scores: Mapping[str, Decimal], total: Decimal, itemised: bool, comment: str | None) -> Sheet:
    """The sheet validation gives for valid marks and no penalties, flags or inputs."""
    return fast_new(Sheet, {"rubric_id": rubric.id, "rubric_version": rubric.version, "scores": scores, "total": total,
                            "itemised": itemised, "deductions": _EMPTY, "flags": frozenset(), "inputs": _EMPTY,
                            "comment": comment or ""})


def _quick_total(spec: _Spec, raw: Any) -> Decimal | None:
    """A plainly valid total of a multi-criterion sheet, else None (`_check_total` words the
    problem). The on-grain test is `_check_total`'s, as an exact Decimal remainder instead of
    a Fraction division."""
    value = parse_number(raw)
    if isinstance(value, str) or not spec.min_total <= value <= spec.max_total or spec.grain is None:
        return None
    try:
        on_grain = EXACT.remainder(value - spec.min_total, spec.grain).is_zero()
    except ArithmeticError:
        return None
    return value if on_grain else None


def _quick_value(spec: _Spec, raw: Any) -> Decimal | None:
    """What `validate_total` checks, without building a sheet: the one criterion's mark, or the
    total of a multi-criterion sheet. None when not plainly valid."""
    if len(spec.marks) == 1:
        _, lo, hi, step, _ = spec.marks[0]
        value = parse_number(raw)
        if isinstance(value, str) or not lo <= value <= hi or not _on_step(value, step, lo):
            return None
        return value
    return _quick_total(spec, raw)


_MAX_SCALED = 2**50  # |k| below this: k is exact in a double and doubles near k/10^d are closer than 10^-d


def _grid_mask(spec: _Spec, values: np.ndarray) -> np.ndarray:
    """Which floats are plainly valid totals, vectorised (see `validate_totals`); all False when
    the rubric's grid does not fit exact scaled integers (then every value is checked one by one)."""
    import numpy as np

    if len(spec.marks) == 1:
        _, lo, hi, step, _ = spec.marks[0]
    elif spec.grain is not None:
        lo, hi, step = spec.min_total, spec.max_total, spec.grain
    else:
        return np.zeros(values.shape, dtype=bool)
    places = max(0, *(-int(x.as_tuple().exponent) for x in (lo, hi, step)))
    scaled = [x.scaleb(places, EXACT) for x in (lo, hi, step)]
    if places > 15 or any(abs(x) >= _MAX_SCALED for x in scaled):
        return np.zeros(values.shape, dtype=bool)
    lo_k, hi_k, step_k = (int(x) for x in scaled)
    scale = float(10**places)
    with np.errstate(invalid="ignore", over="ignore"):
        k = np.rint(values * scale)
        ok = np.isfinite(values) & (np.abs(k) < _MAX_SCALED) & (k / scale == values)
    whole = np.where(ok, k, 0).astype(np.int64)
    return ok & (whole >= lo_k) & (whole <= hi_k) & ((whole - lo_k) % step_k == 0)


def _check_total(spec: _Spec, raw: Any, errors: list[FieldError]) -> Decimal | None:
    at = "scores.total"
    value = parse_number(raw)
    if value == "missing":
        errors.append(FieldError(at, "missing", "缺少总分"))
    elif isinstance(value, str):
        errors.append(FieldError(at, "not_a_number", f"总分必须是数字（收到 {_show(raw)}）"))
    elif not spec.min_total <= value <= spec.max_total:
        errors.append(FieldError(
            at, "out_of_range", f"总分应在 {format_number(spec.min_total)} 至 {format_number(spec.max_total)} 之间（收到 {format_number(value)}）"
        ))
    elif (Fraction(value - spec.min_total) / spec.total_grain).denominator != 1:
        errors.append(FieldError(
            at, "off_step", f"总分须以 {format_number(spec.total_grain)} 分为单位（收到 {format_number(value)}）"
        ))
    else:
        return value
    return None


_NO_RECORD = EntryRecord()


def _record(rubric: Rubric, penalties: Any, flags: Iterable[str], inputs: Any,
            comment: str | None, errors: list[FieldError]) -> EntryRecord:
    if penalties is None and inputs is None and not flags:
        return _NO_RECORD
    deductions = _check_deductions(rubric, penalties, errors)
    marked = _check_flags(rubric, flags, comment, errors)
    values = _check_inputs(rubric, inputs, errors)
    return EntryRecord(MappingProxyType(values), MappingProxyType(deductions), marked)


def check_entry_record(
    rubric: Rubric,
    *,
    inputs: Mapping[str, Any] | None = None,
    penalties: Mapping[str, Any] | None = None,
    flags: Iterable[str] = (),
) -> EntryRecord:
    """Validate an entry's own figures (recorded once, by the timekeeper or chief judge) by the
    same rules as a sheet's. Raises `SheetInvalid`."""
    _spec(rubric)
    errors: list[FieldError] = []
    record = _record(rubric, penalties, flags, inputs, None, errors)
    if errors:
        raise SheetInvalid(errors)
    return record
