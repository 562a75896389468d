"""Aggregation: from the judges' sheets of one entry to its result, exactly as the rubric says.

The rules are the rubric's (scoring/rubric.py `Aggregation`, `Rounding`, `Penalties`, `Veto`,
`Flag`; rubrics/README.md). Two published rule sets are reproduced mark for mark (see
../shared/data/judging/SOURCES.md and tests/scoring/test_official_data.py):
FINA/World Aquatics diving (7 judges: drop the 2 highest and 2 lowest, sum the middle 3,
× degree of difficulty; 5 judges: drop 1 and 1) and ISU programme components (drop the single
highest and lowest mark, mean of the rest, 2 decimals half up).

Arithmetic is exact from the marks to the final score: marks are Decimals added and multiplied
in a context that raises rather than rounds (`sheets.EXACT`); a mean that does not terminate
(k/7) becomes a `Fraction`. Rounding happens only at the points the rubric lists
(`criterion_score`, `panel_score`, `final`), once, in the rubric's mode. Absent and recused
judges are simply not in `sheets`: never zero. The result records the reasoning an organiser
must be able to show: which judge's mark was dropped (and which copy when marks tie), the
method actually used (a fallback says why), the multiplier, each penalty, and every reason an
entry is not ranked.

final = panel score × multiplier − final-level deductions − overtime   (rubric.py `Aggregation`)
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, Inexact, getcontext, setcontext
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Union

from scoring.rubric import Aggregation, Rubric
from scoring.sheets import _NO_RECORD, EXACT, EntryRecord, Sheet, check_entry_record, fast_new, fast_replace, format_number

__all__ = [
    "Aggregated",
    "AppliedPenalty",
    "CriterionResult",
    "EntryResult",
    "JudgeMark",
    "STATUSES",
    "aggregate_marks",
    "computed_scores",
    "entry_result",
    "entry_results",
    "restate",
    "round_to",
    "to_decimal",
]

#: Result statuses; only `ok` is ranked.
STATUSES = ("ok", "disqualified", "vetoed", "incomplete")

Num = Union[Decimal, Fraction]  # an exact value: Decimal while it terminates, else Fraction

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_HALF = Fraction(1, 2)
_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}
_QUANTIZE = Context(prec=80)


# --------------------------------------------------------------------------- exact numbers


def round_to(value: Num | int, decimals: int, mode: str = "half_up") -> Decimal:
    """`value` rounded to `decimals` places, exactly, keeping trailing zeros (91.80).

    Modes as rubric.py `Rounding`: `half_up` (ties away from zero as Decimal's ROUND_HALF_UP:
    7.125 → 7.13, the ISU rule, SOURCES.md §1), `half_even`, `down` (towards zero). A Fraction
    (a mean such as 57/7) is rounded from its exact value, never from a truncated expansion.
    Zero has no sign: −0.004 rounds to 0.00, never to a published −0.00.
    """
    if mode not in _MODES:
        raise ValueError(f"unknown rounding mode {mode!r}")
    if isinstance(value, (Decimal, int)):
        quantum = _QUANTA[decimals] if 0 <= decimals < len(_QUANTA) else Decimal(1).scaleb(-decimals)
        rounded = Decimal(value).quantize(quantum, _MODES[mode], _QUANTIZE)
        return rounded.copy_abs() if rounded.is_zero() else rounded  # never a published "-0.00"
    if decimals < 0:  # as before: the Fraction times the float 10**decimals, which has no numerator
        scaled = Fraction(value) * 10**decimals
        p, q = scaled.numerator, scaled.denominator
    else:  # exact integers: |value| × 10^decimals = whole + rest / q
        exact = value if isinstance(value, Fraction) else Fraction(value)
        p, q = exact.numerator, exact.denominator
    whole, rest = divmod(abs(p) * 10**max(decimals, 0), q)
    if mode == "half_up":
        whole += 2 * rest >= q
    elif mode == "half_even":
        whole += 2 * rest > q or (2 * rest == q and whole % 2 == 1)
    return Decimal(-whole if p < 0 else whole).scaleb(-decimals)


_QUANTA = tuple(Decimal(1).scaleb(-d) for d in range(21))  # 1, 0.1, 0.01, ... for round_to


def to_decimal(value: Num | int) -> Decimal:
    """An exact value for the record: a Decimal as is; a Fraction exactly when it terminates
    (5/8 → 0.625), otherwise to 28 significant digits (1/3). Rounding never uses this."""
    if isinstance(value, Decimal):
        return value
    if type(value) is not Fraction:
        value = Fraction(value)
    if _repeating_part(value.denominator) != 1:  # 1/3: what _divide gives once the exact try fails
        return Decimal(value.numerator) / Decimal(value.denominator)
    return _divide(Decimal(value.numerator), value.denominator, exact_only=False)  # type: ignore[return-value]


def _divide(total: Decimal, n: int, exact_only: bool = True) -> Num:
    """total / n as a Decimal when it terminates within 60 digits, else as a Fraction (or, for
    the record only, a 28-digit Decimal)."""
    if n > 1:
        m = _repeating_part(n)
        if m != 1:
            p, q = total.as_integer_ratio()
            if p % m:  # it repeats (k/3): skip the exact try, whose Inexact costs more than the division
                return Fraction(p, q * n) if exact_only else total / Decimal(n)
    try:
        return EXACT.divide(total, n)
    except Inexact:
        return Fraction(total) / n if exact_only else total / Decimal(n)


_REPEATING: dict[int, int] = {}


def _repeating_part(n: int) -> int:
    """n without its factors 2 and 5 (n > 0): k / n terminates exactly when this divides k."""
    m = _REPEATING.get(n)
    if m is None:
        m = n
        while m % 2 == 0:
            m //= 2
        while m % 5 == 0:
            m //= 5
        if len(_REPEATING) < 4096:
            _REPEATING[n] = m
    return m


def _exact(value: Num | float | int) -> Num:
    """Any number as an exact value; floats (model output) through their shortest repr."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value) if isinstance(value, int) else value


def _add(a: Num, b: Num) -> Num:
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return EXACT.add(a, b)
    return Fraction(a) + Fraction(b)


def _mul(a: Num, b: Num) -> Num:
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return EXACT.multiply(a, b)
    return Fraction(a) * Fraction(b)


# --------------------------------------------------------------------------- aggregating marks


@dataclass(frozen=True)
class Aggregated:
    """Marks combined by one method: the exact value, the method actually used and why, and
    which judges' marks were kept or dropped (highest first, lowest first)."""

    value: Num | None
    method: str
    note: str
    kept: tuple[Any, ...]
    dropped_high: tuple[Any, ...] = ()
    dropped_low: tuple[Any, ...] = ()


def _judge_key(judge: Any) -> tuple:
    """Judge ids sort numerically when they are numbers and as text otherwise, so which tied
    copy is dropped never depends on the order the sheets arrived in."""
    if isinstance(judge, int) and not isinstance(judge, bool):
        return (0, judge, "")
    return (1, 0, str(judge))


def _combine(method: str, values: list[Decimal]) -> Num:
    """sum / mean / median of exact marks (the trimmed methods after trimming)."""
    if method in ("sum", "trimmed_sum"):
        return _sum(values)
    if method in ("mean", "trimmed_mean"):
        return _divide(_sum(values), len(values))
    if method == "median":
        return _median(sorted(values))
    raise ValueError(f"unknown aggregation method {method!r}")


def _median(ordered: list[Decimal]) -> Num:
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return _divide(EXACT.add(ordered[mid - 1], ordered[mid]), 2)


def _sum(values: Iterable[Decimal]) -> Decimal:
    """Σ values exactly: `+` under sheets.EXACT, which raises rather than rounds."""
    values = list(values)  # any work producing them runs in the caller's context
    saved = getcontext()
    setcontext(EXACT)  # `a + b` under EXACT is EXACT.add(a, b) at a fifth of the method's cost
    try:
        return sum(values, Decimal(0))
    finally:
        setcontext(saved)


def aggregate_marks(marks: Mapping[Any, Decimal | int], aggregation: Aggregation) -> Aggregated:
    """Combine one set of marks (judge → exact mark) by the rubric's method.

    Trimmed methods drop `drop_lowest` and `drop_highest` marks, one copy each even when marks
    tie (ISU, FINA), once at least `min_scores` marks are present; with fewer, `fallback`
    applies and the note says so. Among tied marks the copy dropped is the judge who sorts first
    (low end) or last (high end) by id: which copy never changes the value, only the record.
    `calibrated` needs the whole stage (ranking.rank_stage), so one entry alone uses `fallback`.
    """
    return _aggregate_ordered(sorted((Decimal(v), _judge_key(j), j) for j, v in marks.items()), aggregation)


def _aggregate_ordered(ordered: list[tuple], aggregation: Aggregation) -> Aggregated:
    """`aggregate_marks` of (mark, judge key, judge) triples already sorted (or (mark, judge)
    pairs, when every judge id is text and so its own key)."""
    n = len(ordered)
    method, note = aggregation.method, ""
    if method == "calibrated":
        method = aggregation.fallback or "mean"
        note = f"校准模型须按整个赛段拟合，单个作品按 {method} 计算"
    elif aggregation.trimmed and n < (aggregation.min_scores or 0):
        if aggregation.fallback is None:
            note = f"有效评分 {n} 个，少于去分所需的 {aggregation.min_scores} 个，评分表未规定替代方法"
            return Aggregated(None, method, note, tuple(t[-1] for t in ordered))
        method = aggregation.fallback
        note = f"有效评分 {n} 个，少于去分所需的 {aggregation.min_scores} 个，按 {method} 计算"
    if n == 0:
        return Aggregated(None, method, note or "没有评分", ())
    low: list[tuple[Decimal, tuple, Any]] = []
    high: list[tuple[Decimal, tuple, Any]] = []
    kept = ordered
    if method in ("trimmed_mean", "trimmed_sum"):
        lo, hi = aggregation.drop_lowest, aggregation.drop_highest
        low, kept, high = ordered[:lo], ordered[lo : n - hi], ordered[n - hi :] if hi else []
    value = _combine(method, [t[0] for t in kept])
    return fast_new(Aggregated, {  # once or more per entry: Aggregated(...) without its __init__
        "value": value, "method": method, "note": note, "kept": tuple([t[-1] for t in kept]),
        "dropped_high": tuple([t[-1] for t in reversed(high)]), "dropped_low": tuple([t[-1] for t in low]),
    })


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class JudgeMark:
    """One judge's line in an entry's result (评分汇总表, the big screen's crossed-out marks).

    `raw` is the judge's total as scored; `counted` after deductions from each judge's mark (a
    restarted dive). `dropped` is `high` or `low` when the mark was trimmed (`over: totals`;
    with `over: criteria` trimming is per criterion, in `CriterionResult`).
    """

    judge: Any
    raw: Decimal
    counted: Decimal
    kept: bool
    dropped: str | None = None
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CriterionResult:
    """A criterion's panel score, aggregated by the rubric's rule (rounded at `criterion_score`
    when the rubric aggregates `over: criteria` and says so) or computed from entry data."""

    criterion: str
    score: Decimal | None
    method: str
    kept: tuple[Any, ...] = ()
    dropped_high: tuple[Any, ...] = ()
    dropped_low: tuple[Any, ...] = ()
    computed: bool = False


@dataclass(frozen=True)
class AppliedPenalty:
    """A penalty that changed the score; `applies_to` is `final`, `each_judge` or `overtime`."""

    id: str
    title: str
    points: Decimal
    count: int
    applies_to: str
    detail: str = ""

    @property
    def total(self) -> Decimal:
        return self.points * self.count


@dataclass(frozen=True)
class EntryResult:
    """Everything an organiser needs to defend one entry's score.

    `status`: `ok` (ranked), `disqualified` (a flag), `vetoed` (一票否决), `incomplete` (too
    few judges, a missing input, missing criterion scores); `reasons` say why, in Chinese;
    `notes` record remarks that do not stop ranking (a fallback, no duration recorded).
    `final_score` is the score that is ranked (None when incomplete). `raw_sum`, `raw_mean`
    and `raw_median` are over every judge's raw total, dropped marks included (tie-breaks).
    `penalty_points` counts every penalty point (the `fewer_penalties` tie-break);
    `final_deduction` what was subtracted from the final score.
    """

    entry: Any
    rubric_id: str
    rubric_version: int
    status: str
    reasons: tuple[str, ...]
    notes: tuple[str, ...]
    method: str
    method_note: str
    n_judges: int
    judges: tuple[JudgeMark, ...]
    criteria: Mapping[str, CriterionResult]
    panel_score_exact: Decimal | None
    panel_score: Decimal | None
    multiplier: Decimal | None
    penalties: tuple[AppliedPenalty, ...]
    penalty_points: Decimal
    final_deduction: Decimal
    final_score: Decimal | None
    raw_sum: Decimal | None
    raw_mean: Decimal | None
    raw_median: Decimal | None
    flags: tuple[str, ...] = ()
    flag_marks: Mapping[str, tuple[Any, ...]] = field(default_factory=lambda: _EMPTY)

    @property
    def ranked(self) -> bool:
        """Whether the entry takes part in the ranking (complete, not disqualified or vetoed)."""
        return self.status == "ok"

    @property
    def kept(self) -> tuple[Any, ...]:
        return tuple(m.judge for m in self.judges if m.kept)

    @property
    def dropped(self) -> tuple[JudgeMark, ...]:
        return tuple(m for m in self.judges if m.dropped)


# --------------------------------------------------------------------------- building blocks


def _aggregation(rubric: Rubric) -> Aggregation:
    if rubric.aggregation is None or not rubric.criteria:
        raise ValueError(f"rubric {rubric.id!r} ({rubric.kind}) has no aggregation rule")
    return rubric.aggregation


def _judges(rubric: Rubric, sheets: Mapping[Any, Sheet]) -> list[Any]:
    """The judges in a fixed order, after checking each sheet was scored on this rubric."""
    for judge, sheet in sheets.items():
        if not isinstance(sheet, Sheet):
            raise TypeError(f"sheet of judge {judge!r} is a {type(sheet).__name__}, not a validated Sheet")
        if sheet.rubric_id != rubric.id or sheet.rubric_version != rubric.version:
            raise ValueError(
                f"sheet of judge {judge!r} was scored on rubric {sheet.rubric_id} v{sheet.rubric_version}, "
                f"not {rubric.id} v{rubric.version}"
            )
    return sorted(sheets, key=_judge_key)


def _computed(rubric: Rubric, inputs: Mapping[str, Decimal]) -> tuple[dict[str, Decimal], list[str]]:
    """Computed criteria (rubric.py `Computed`): min + (max − min) × min(value, full_at) /
    full_at, rounded half up to the step. Returns the scores and the missing inputs."""
    scores: dict[str, Decimal] = {}
    missing: list[str] = []
    for c in rubric.criteria:
        if c.computed is None:
            continue
        value = inputs.get(c.computed.input)
        if value is None:
            missing.append(c.computed.input)
            continue
        raw = Fraction(c.min) + Fraction(c.max - c.min) * Fraction(min(value, c.computed.full_at)) / Fraction(c.computed.full_at)
        steps = round_to(raw / Fraction(c.step), 0, "half_up")
        scores[c.id] = EXACT.multiply(steps, c.step)
    return scores, missing


def computed_scores(rubric: Rubric, inputs: Mapping[str, Decimal]) -> tuple[dict[str, Decimal], list[str]]:
    """The rubric's computed criteria from entry-level figures, exactly as results compute
    them (for pages that show a computed score next to its input)."""
    return _computed(rubric, inputs)


def _each_judge(rubric: Rubric, record: EntryRecord) -> tuple[Decimal, list[AppliedPenalty]]:
    """Deductions off every judge's mark before aggregation (rubric.py `Deduction`)."""
    points = Decimal(0)
    applied = []
    for d in rubric.deductions:
        count = record.deductions.get(d.id, 0)
        if d.applies_to == "each_judge" and count:
            points = EXACT.add(points, EXACT.multiply(d.points, count))
            applied.append(AppliedPenalty(d.id, d.title.zh, d.points, count, "each_judge", "每名评委的打分各扣除"))
    return points, applied


def _deducted(value: Decimal, points: Decimal, floor: Decimal) -> Decimal:
    """A mark less each-judge deductions, never below the lowest possible mark."""
    return value if not points else max(EXACT.subtract(value, points), floor)


def _criteria_results(
    rubric: Rubric, agg: Aggregation, sheets: Mapping[Any, Sheet], judges: list[Any],
    computed: Mapping[str, Decimal], deduct: Decimal, main: Aggregated | None = None,
) -> tuple[dict[str, CriterionResult], dict[str, Num | None]]:
    """Per-criterion panel scores: the parts of an `over: criteria` score, and what veto and
    criterion tie-breaks compare. Without itemised sheets only computed criteria have one.
    `main` is the totals' aggregation when it is the same thing (one criterion of weight 1,
    nothing deducted), so it is not computed twice."""
    itemised = all(sheets[j].itemised for j in judges)
    by_criteria = agg.over == "criteria"
    r = rubric.rounding
    round_here = by_criteria and r is not None and "criterion_score" in r.at
    results: dict[str, CriterionResult] = {}
    exact: dict[str, Num | None] = {}
    for c in rubric.criteria:
        if c.computed is not None:
            value = computed.get(c.id)
            exact[c.id] = value
            results[c.id] = CriterionResult(c.id, value, "computed", computed=True)
            continue
        if not itemised or not judges:
            exact[c.id] = None
            results[c.id] = CriterionResult(c.id, None, "none")
            continue
        marks = {j: _deducted(sheets[j].scores[c.id], deduct if by_criteria else Decimal(0), c.min) for j in judges}
        a = aggregate_marks(marks, agg) if main is None else main
        value, shown = a.value, None if a.value is None else to_decimal(a.value)
        if value is not None and round_here:
            value = shown = round_to(value, r.decimals, r.mode)  # type: ignore[union-attr]
        exact[c.id] = value
        results[c.id] = CriterionResult(c.id, shown, a.method, a.kept, a.dropped_high, a.dropped_low)
    return results, exact


def _panel(
    rubric: Rubric, agg: Aggregation, sheets: Mapping[Any, Sheet], judges: list[Any], deduct: Decimal,
    computed: Mapping[str, Decimal], crit_exact: Mapping[str, Num | None], incomplete: list[str],
) -> tuple[Aggregated, Num | None, tuple[JudgeMark, ...]]:
    """The panel score before multiplier and penalties, and each judge's line.

    Computed criteria are entry-level figures: they add weight × score once, after the judges'
    totals are aggregated (or as their own criterion with `over: criteria`).
    """
    extra: Decimal = Decimal(0)
    for c in rubric.criteria:
        if c.id in computed:
            extra = EXACT.add(extra, EXACT.multiply(c.effective_weight, computed[c.id]))
    if agg.over == "totals":
        floor = _sum(EXACT.multiply(c.effective_weight, c.min) for c in rubric.judged_criteria)
        counted = {j: _deducted(sheets[j].total, deduct, floor) for j in judges}
        main = aggregate_marks(counted, agg)
        value = None if main.value is None else _add(main.value, extra)
        high, low = set(main.dropped_high), set(main.dropped_low)
        marks = tuple(
            JudgeMark(j, sheets[j].total, counted[j], j in main.kept,
                      "high" if j in high else "low" if j in low else None, sheets[j].flags)
            for j in judges
        )
        return main, value, marks
    # over: criteria — each criterion aggregated on its own (ISU style), then Σ weight × score
    probe = aggregate_marks({j: 0 for j in judges}, agg)  # the method and note every criterion used
    parts = [crit_exact.get(c.id) for c in rubric.judged_criteria]
    value: Num | None = None
    if judges and any(p is None for p in parts):
        incomplete.append("评分表按分项汇总，须提供每个评分项的分数")
    elif judges:
        value = extra
        for c, part in zip(rubric.judged_criteria, parts):
            value = _add(value, _mul(c.effective_weight, part))  # type: ignore[arg-type]
    floor = _sum(EXACT.multiply(c.effective_weight, c.min) for c in rubric.judged_criteria)
    marks = tuple(JudgeMark(j, sheets[j].total, _deducted(sheets[j].total, deduct, floor), True, None, sheets[j].flags)
                  for j in judges)
    return Aggregated(value, probe.method, probe.note, tuple(judges)), value, marks


def _short(value: Num) -> str:
    """A value for a message: exact when short (17.5), else to 2 places (约 16.83)."""
    text = format_number(to_decimal(value))
    return text if len(text.partition(".")[2]) <= 4 else f"约 {round_to(value, 2)}"


def _veto_reasons(rubric: Rubric, sheets: Mapping[Any, Sheet], judges: list[Any],
                  exact: Mapping[str, Num | None], complete: bool) -> tuple[list[str], list[str]]:
    """一票否决 (rubric.py `Veto`): (veto reasons, reasons the veto could not be checked).

    A panel or majority veto is judged only on a complete panel; one judge's mark below the
    line (`any_judge`) vetoes whatever the panel size."""
    vetoes: list[str] = []
    unknown: list[str] = []
    n = len(judges)
    for c in rubric.criteria:
        if c.veto is None:
            continue
        below, title = c.veto.below, c.title.zh
        if c.judged and not all(sheets[j].itemised for j in judges):
            unknown.append(f"缺少「{title}」的分项评分，无法判断一票否决")
        elif c.veto.scope == "panel":
            value = exact.get(c.id)
            if value is None and c.computed is not None:
                continue  # its input is missing: already incomplete
            if complete and value is not None and Fraction(value) < Fraction(below):
                vetoes.append(f"「{title}」评审组得分 {_short(value)} 低于 {format_number(below)}（一票否决）")
        else:
            low = [j for j in judges if sheets[j].scores[c.id] < below]
            if c.veto.scope == "any_judge" and low:
                who = "、".join(map(str, low))
                vetoes.append(f"评委 {who} 的「{title}」评分低于 {format_number(below)}（一票否决）")
            elif c.veto.scope == "majority" and complete and 2 * len(low) > n:
                vetoes.append(f"过半数评委（{len(low)}/{n}）的「{title}」评分低于 {format_number(below)}（一票否决）")
    return vetoes, unknown


def _flag_decisions(rubric: Rubric, sheets: Mapping[Any, Sheet], judges: list[Any],
                    record: EntryRecord) -> tuple[list[str], list[str], dict[str, tuple[Any, ...]]]:
    """Disqualifying flags (rubric.py `Flag`). A flag in the entry's record is decided (the
    chief judge's or organiser's decision); judges' marks decide `any_judge` and `majority`
    flags. A `chief` flag marked only on judges' sheets is reported in `flag_marks` and decides
    nothing until the chief judge records it."""
    decided: list[str] = []
    reasons: list[str] = []
    marks: dict[str, tuple[Any, ...]] = {}
    for f in rubric.flags:
        by = tuple(j for j in judges if f.id in sheets[j].flags)
        if by:
            marks[f.id] = by
        if f.id in record.flags:
            who = "组长判定"
        elif f.decided_by == "any_judge" and by:
            who = f"评委 {'、'.join(map(str, by))} 标记"
        elif f.decided_by == "majority" and 2 * len(by) > len(judges):
            who = f"过半数评委（{len(by)}/{len(judges)}）标记"
        else:
            continue
        decided.append(f.id)
        reasons.append(f"{f.title.zh}（{who}），取消资格")
    return decided, reasons, marks


def _overtime(rubric: Rubric, record: EntryRecord, notes: list[str]) -> list[AppliedPenalty]:
    """Overtime points from the recorded duration (rubric.py `Overtime`). With no duration
    recorded nothing is deducted and the note says so."""
    ot = rubric.penalties.overtime if rubric.penalties else None
    if ot is None:
        return []
    seconds = record.inputs.get("duration_seconds")
    if seconds is None:
        notes.append("未录入用时（duration_seconds），未计超时扣分")
        return []
    points = ot.deduction(seconds)
    if not points:
        return []
    detail = f"用时 {format_number(seconds)} 秒，限时 {ot.limit_seconds} 秒"
    return [AppliedPenalty("overtime", "超时", points, 1, "overtime", detail)]


def _final_deductions(rubric: Rubric, record: EntryRecord) -> list[AppliedPenalty]:
    return [
        AppliedPenalty(d.id, d.title.zh, d.points, record.deductions[d.id], "final")
        for d in rubric.deductions
        if d.applies_to == "final" and record.deductions.get(d.id)
    ]


def _multiplier(rubric: Rubric, record: EntryRecord, incomplete: list[str]) -> tuple[Decimal | None, bool]:
    """(the multiplier, or None when the rubric has none; whether a required value is missing)."""
    m = rubric.aggregation.multiplier if rubric.aggregation else None
    if m is None:
        return None, False
    value = record.inputs.get(m.input)
    if value is None:
        incomplete.append(f"缺少{m.title.zh}（{m.input}）")
        return None, True
    return value, False


def _at(rubric: Rubric, point: str, value: Num) -> Num:
    """`value` rounded if `point` is one of the rubric's rounding points, else unchanged."""
    r = rubric.rounding
    if r is None or point not in r.at:
        return value
    return round_to(value, r.decimals, r.mode)


def _finish(rubric: Rubric, panel_exact: Num | None, multiplier: Decimal | None,
            deduction: Decimal, with_final: bool) -> tuple[Decimal | None, Decimal | None]:
    """(panel score, final score) as shown: final = panel × multiplier − deductions.

    A Decimal panel score keeps its places through the Decimal arithmetic, so an ISU panel
    score rounded to 9.50 is published as 9.50 even though the rubric rounds only there.
    """
    if panel_exact is None:
        return None, None
    panel = _at(rubric, "panel_score", panel_exact)
    if not with_final:
        return to_decimal(panel), None
    final = panel if multiplier is None else _mul(panel, multiplier)
    final = _add(final, -deduction) if deduction else final
    return to_decimal(panel), to_decimal(_at(rubric, "final", final))


def _raw_stats(sheets: Mapping[Any, Sheet], judges: list[Any]) -> tuple[Decimal | None, ...]:
    totals = [sheets[j].total for j in judges]
    if not totals:
        return None, None, None
    return (_sum(totals), to_decimal(_combine("mean", totals)), to_decimal(_combine("median", totals)))


def _aggregate(
    rubric: Rubric, agg: Aggregation, sheets: Mapping[Any, Sheet], judges: list[Any], deduct: Decimal,
    computed: Mapping[str, Decimal], incomplete: list[str],
) -> tuple[Aggregated, Num | None, tuple[JudgeMark, ...], dict[str, CriterionResult], dict[str, Num | None]]:
    """The panel score and the per-criterion panel scores. With one criterion of weight 1 and
    nothing deducted they are the same aggregation, computed once."""
    if agg.over == "totals" and not deduct and len(rubric.criteria) == 1 and rubric.criteria[0].effective_weight == 1:
        main, panel, marks = _panel(rubric, agg, sheets, judges, deduct, computed, {}, incomplete)
        criteria, crit_exact = _criteria_results(rubric, agg, sheets, judges, computed, deduct, main)
    else:
        criteria, crit_exact = _criteria_results(rubric, agg, sheets, judges, computed, deduct)
        main, panel, marks = _panel(rubric, agg, sheets, judges, deduct, computed, crit_exact, incomplete)
    return main, panel, marks, criteria, crit_exact


# --------------------------------------------------------------------------- public API


def entry_result(
    rubric: Rubric,
    sheets: Mapping[Any, Sheet],
    *,
    entry: Any = "",
    inputs: Mapping[str, Any] | None = None,
    penalties: Mapping[str, Any] | None = None,
    flags: Iterable[str] = (),
) -> EntryResult:
    """One entry's result from its judges' sheets, exactly as `rubric` says.

    `sheets` maps judge id → validated `Sheet`; absent or recused judges are simply not there.
    `inputs` (difficulty, duration_seconds, computed-criterion data), `penalties` (deduction id
    → count) and `flags` (decided flag ids) are the entry's own record, recorded once by the
    timekeeper or chief judge and validated by the sheet rules (`SheetInvalid`). The order of
    the judges never matters.
    """
    plan = _plan(rubric)
    if plan is not None:
        result = _quick_result(plan, rubric, sheets, entry, inputs, penalties, flags, {})
        if result is not None:
            return result
    return _full_result(rubric, sheets, entry=entry, inputs=inputs, penalties=penalties, flags=flags)


def _full_result(
    rubric: Rubric,
    sheets: Mapping[Any, Sheet],
    *,
    entry: Any = "",
    inputs: Mapping[str, Any] | None = None,
    penalties: Mapping[str, Any] | None = None,
    flags: Iterable[str] = (),
) -> EntryResult:
    """`entry_result` by every rule of the rubric, one step after another: the reference the
    quick path (`_quick_result`) must agree with, and the path for everything it leaves out."""
    agg = _aggregation(rubric)
    record = check_entry_record(rubric, inputs=inputs, penalties=penalties, flags=flags)
    judges = _judges(rubric, sheets)
    n = len(judges)
    complete = n >= agg.min_panel
    notes: list[str] = []
    incomplete: list[str] = [] if complete else [f"有效评分 {n} 份，少于评分表要求的 {agg.min_panel} 份"]

    deduct, applied = _each_judge(rubric, record)
    if deduct and agg.over == "criteria" and len(rubric.judged_criteria) > 1:
        raise ValueError(
            f"rubric {rubric.id!r}: a deduction from each judge's mark is ambiguous when several "
            "criteria are aggregated separately (over: criteria)"
        )
    computed, missing_inputs = _computed(rubric, record.inputs)
    incomplete += [f"缺少录入项 {name}" for name in missing_inputs]
    main, panel_exact, marks, criteria, crit_exact = _aggregate(rubric, agg, sheets, judges, deduct, computed, incomplete)
    if main.note:
        notes.append(main.note)

    multiplier, no_multiplier = _multiplier(rubric, record, incomplete)
    applied += _overtime(rubric, record, notes)
    applied += _final_deductions(rubric, record)
    final_deduction = sum((p.total for p in applied if p.applies_to != "each_judge"), Decimal(0))

    decided, dq_reasons, flag_marks = _flag_decisions(rubric, sheets, judges, record)
    vetoes, unknown = _veto_reasons(rubric, sheets, judges, crit_exact, complete)
    incomplete += unknown
    status = "disqualified" if decided else "vetoed" if vetoes else "incomplete" if incomplete else "ok"

    panel_exact = panel_exact if complete else None
    panel, final = _finish(rubric, panel_exact, multiplier, final_deduction,
                           with_final=status != "incomplete" and not no_multiplier)
    raw_sum, raw_mean, raw_median = _raw_stats(sheets, judges)
    return EntryResult(
        entry=entry,
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        status=status,
        reasons=tuple(dq_reasons + vetoes + incomplete),
        notes=tuple(notes),
        method=main.method,
        method_note=main.note,
        n_judges=n,
        judges=marks,
        criteria=MappingProxyType(criteria),
        panel_score_exact=None if panel_exact is None else to_decimal(panel_exact),
        panel_score=panel,
        multiplier=multiplier,
        penalties=tuple(applied),
        penalty_points=sum((p.total for p in applied), Decimal(0)),
        final_deduction=final_deduction,
        final_score=final,
        raw_sum=raw_sum,
        raw_mean=raw_mean,
        raw_median=raw_median,
        flags=tuple(decided),
        flag_marks=MappingProxyType(flag_marks),
    )


# --------------------------------------------------------------------------- the quick path
#
# A national review ranks 10,000 entries; `_full_result` walks every rule of the rubric for each.
# Most entries need few of them: `_quick_result` takes the same steps for entries whose judges'
# totals are aggregated as they are (no computed criterion, veto, deduction from each judge's
# mark, or flag), with the rubric's facts read once (`_plan`) and, in `entry_results`, each
# judge's sort key computed once per stage. Anything else returns None and takes the full
# path; tests/scoring/test_fast_paths.py holds the two equal on random stages.


@dataclass(frozen=True)
class _Plan:
    agg: Aggregation
    criteria: tuple[str, ...]   # criterion ids, all judged
    single: bool                # one criterion of weight 1: its result is the totals' aggregation
    each_judge: frozenset[str]  # deductions taken off every judge's mark (those entries take the full path)
    unscored: Mapping[str, CriterionResult]  # each criterion's result without itemised sheets (frozen: shared)
    # what _multiplier, _overtime and _final_deductions give an entry with no record:
    bare_multiplier: tuple[Decimal | None, bool]
    bare_incomplete: tuple[str, ...]
    bare_notes: tuple[str, ...]
    notes: dict[tuple[str, ...], tuple[str, ...]]  # the notes tuples given so far (equal tuples shared)


_PLANS: dict[int, tuple[Rubric, _Plan | None]] = {}


def _plan(rubric: Rubric) -> _Plan | None:
    """The rubric's facts for `_quick_result`, once per rubric object; None when no entry of
    this rubric can take the quick path (criteria aggregated one by one, a computed criterion
    or a veto; a rubric without sheets, which the full path reports)."""
    hit = _PLANS.get(id(rubric))
    if hit is not None and hit[0] is rubric:
        return hit[1]
    agg = rubric.aggregation
    plan = None
    if (agg is not None and agg.over == "totals" and rubric.kind in ("panel", "award") and rubric.criteria
            and all(c.judged and c.veto is None for c in rubric.criteria)):
        incomplete: list[str] = []
        notes: list[str] = []
        multiplier = _multiplier(rubric, _NO_RECORD, incomplete)
        applied = _overtime(rubric, _NO_RECORD, notes) + _final_deductions(rubric, _NO_RECORD)
        assert not applied  # nothing is deducted without a record
        plan = _Plan(
            agg=agg,
            criteria=tuple(c.id for c in rubric.criteria),
            single=len(rubric.criteria) == 1 and rubric.criteria[0].effective_weight == 1,
            each_judge=frozenset(d.id for d in rubric.deductions if d.applies_to == "each_judge"),
            unscored=MappingProxyType({c.id: CriterionResult(c.id, None, "none") for c in rubric.criteria}),
            bare_multiplier=multiplier,
            bare_incomplete=tuple(incomplete),
            bare_notes=tuple(notes),
            notes={},
        )
    if len(_PLANS) > 256:
        _PLANS.clear()
    _PLANS[id(rubric)] = (rubric, plan)
    return plan


def entry_results(
    rubric: Rubric,
    sheets_by_entry: Mapping[Any, Mapping[Any, Sheet]],
    *,
    inputs: Mapping[Any, Mapping[str, Any]] | None = None,
    penalties: Mapping[Any, Mapping[str, Any]] | None = None,
    flags: Mapping[Any, Iterable[str]] | None = None,
) -> list[EntryResult]:
    """`entry_result` of every entry of a stage, in the order of `sheets_by_entry`: the same
    results, built faster (each judge's sort key once per stage, not once per sheet)."""
    inputs, penalties, flags = inputs or {}, penalties or {}, flags or {}
    plan = _plan(rubric)
    keys: dict[Any, tuple] = {}
    out = []
    for e, sheets in sheets_by_entry.items():
        i, p, f = inputs.get(e), penalties.get(e), flags.get(e, ())
        result = None if plan is None else _quick_result(plan, rubric, sheets, e, i, p, f, keys)
        out.append(result if result is not None else _full_result(rubric, sheets, entry=e, inputs=i, penalties=p, flags=f))
    return out


_NO_FLAGS: Mapping[str, tuple[Any, ...]] = MappingProxyType({})


def _quick_result(plan: _Plan, rubric: Rubric, sheets: Mapping[Any, Sheet], entry: Any, inputs: Any,
                  penalties: Any, flags: Any, keys: dict[Any, tuple]) -> EntryResult | None:
    """`_full_result` for an entry the quick path covers (see above), else None. `keys`
    remembers `_judge_key` of the judges seen (string ids are their own key)."""
    if inputs is None and penalties is None and not flags:
        record = None  # check_entry_record would give sheets._NO_RECORD: the plan has its outcome
    else:
        record = check_entry_record(rubric, inputs=inputs, penalties=penalties, flags=flags)
        if record.flags or not plan.each_judge.isdisjoint(record.deductions):
            return None
    rubric_id, version = rubric.id, rubric.version
    itemised = by_text = True
    for judge, sheet in sheets.items():
        if (not isinstance(sheet, Sheet) or sheet.rubric_id != rubric_id or sheet.rubric_version != version
                or sheet.flags or type(sheet.total) is not Decimal):
            return None  # the full path raises, or decides the flags
        if not sheet.itemised:
            itemised = False
        if type(judge) is not str:
            by_text = False
    # aggregate_marks sorts (mark, _judge_key(judge), judge); text ids are their own key
    # ((1, 0, id)) and compared directly, others' keys are computed once per stage
    if by_text:
        judges = sorted(sheets)
        by_key = None
    else:
        for judge in sheets:
            if judge not in keys:
                keys[judge] = _judge_key(judge)
        judges = sorted(sheets, key=keys.__getitem__)  # as _judges
        by_key = list(map(keys.__getitem__, judges))
    picked = list(map(sheets.__getitem__, judges))
    totals = [s.total for s in picked]
    agg = plan.agg
    n = len(judges)
    complete = n >= agg.min_panel
    incomplete: list[str] = [] if complete else [f"有效评分 {n} 份，少于评分表要求的 {agg.min_panel} 份"]

    # _aggregate: per-criterion results (each aggregated on its own unless `single`), the panel
    scored = itemised and bool(judges)
    criteria: dict[str, CriterionResult] = {}
    if scored and not plan.single:
        for cid in plan.criteria:
            marks_c = list(map(Decimal, [s.scores[cid] for s in picked]))
            a = _aggregate_ordered(sorted(zip(marks_c, judges) if by_key is None else zip(marks_c, by_key, judges)), agg)
            criteria[cid] = _criterion(cid, a)
    ordered = sorted(zip(totals, judges) if by_key is None else zip(totals, by_key, judges))  # Decimal(total) is total
    main = _aggregate_ordered(ordered, agg)
    panel_exact = main.value  # + the computed criteria's Decimal(0), as _panel adds it:
    if isinstance(panel_exact, Decimal):  # a Decimal may change its exponent (1E+1 + 0 = 10),
        panel_exact = _add(panel_exact, Decimal(0))  # a Fraction (k/3) stays the same value
    if main.dropped_high or main.dropped_low:
        kept, high, low = set(main.kept), set(main.dropped_high), set(main.dropped_low)
        marks = tuple([
            fast_new(JudgeMark, {"judge": j, "raw": s.total, "counted": s.total, "kept": j in kept,
                                 "dropped": "high" if j in high else "low" if j in low else None, "flags": s.flags})
            for j, s in zip(judges, picked)
        ])
    else:  # nothing dropped: every judge's mark is kept (aggregate_marks keeps all it does not drop)
        marks = tuple([
            fast_new(JudgeMark, {"judge": j, "raw": s.total, "counted": s.total, "kept": True, "dropped": None,
                                 "flags": s.flags})
            for j, s in zip(judges, picked)
        ])
    if scored and plan.single:
        criteria[plan.criteria[0]] = _criterion(plan.criteria[0], main)

    if record is None:
        notes = [main.note, *plan.bare_notes] if main.note else list(plan.bare_notes)
        multiplier, no_multiplier = plan.bare_multiplier
        incomplete += plan.bare_incomplete
        applied: list[AppliedPenalty] = []
        final_deduction = penalty_points = Decimal(0)
    else:
        notes = [main.note] if main.note else []
        multiplier, no_multiplier = _multiplier(rubric, record, incomplete)
        applied = _overtime(rubric, record, notes) + _final_deductions(rubric, record)
        final_deduction = sum((p.total for p in applied if p.applies_to != "each_judge"), Decimal(0))
        penalty_points = sum((p.total for p in applied), Decimal(0))
    status = "incomplete" if incomplete else "ok"
    panel_exact = panel_exact if complete else None
    panel, final = _finish(rubric, panel_exact, multiplier, final_deduction,
                           with_final=status != "incomplete" and not no_multiplier)
    raw_sum = raw_mean = raw_median = None
    if totals:  # as _raw_stats; sorted(totals) is `ordered`'s marks (ties in the judges' order)
        raw_sum = _sum(totals)
        raw_mean = to_decimal(_divide(raw_sum, n))
        raw_median = to_decimal(_median([t[0] for t in ordered]))
    return fast_new(EntryResult, {
        "entry": entry,
        "rubric_id": rubric_id,
        "rubric_version": version,
        "status": status,
        "reasons": tuple(incomplete),
        "notes": _shared(plan.notes, tuple(notes)),
        "method": main.method,
        "method_note": main.note,
        "n_judges": n,
        "judges": marks,
        "criteria": MappingProxyType(criteria) if scored else plan.unscored,  # frozen: one for all unscored
        "panel_score_exact": None if panel_exact is None else to_decimal(panel_exact),
        "panel_score": panel,
        "multiplier": multiplier,
        "penalties": tuple(applied),
        "penalty_points": penalty_points,
        "final_deduction": final_deduction,
        "final_score": final,
        "raw_sum": raw_sum,
        "raw_mean": raw_mean,
        "raw_median": raw_median,
        "flags": (),
        "flag_marks": _NO_FLAGS,
    })


def _shared(held: dict[tuple, tuple], key: tuple, value: tuple | None = None) -> tuple:
    """What `held` has for `key`, else `value` (default: the key itself), now held: a stage
    has a few distinct notes, and 10,000 equal copies would only give the garbage collector
    more to walk."""
    hit = held.get(key)
    if hit is None:
        hit = key if value is None else value
        if len(held) < 256:
            held[key] = hit
    return hit


_RESTATED: dict[tuple, tuple[str, ...]] = {}  # restate: (notes, method note, new note) → the notes


def _criterion(cid: str, a: Aggregated) -> CriterionResult:
    """A judged criterion's result from its aggregation (over: totals, so never rounded here)."""
    return fast_new(CriterionResult, {
        "criterion": cid, "score": None if a.value is None else to_decimal(a.value), "method": a.method,
        "kept": a.kept, "dropped_high": a.dropped_high, "dropped_low": a.dropped_low, "computed": False,
    })


def restate(rubric: Rubric, result: EntryResult, panel: Num | float | None, *,
            method: str, note: str = "") -> EntryResult:
    """The same entry with its panel score replaced by a stage-level estimate (the calibrated
    model or z-scores, `ranking.rank_stage`); multiplier, penalties and rounding applied as the
    rubric says. Status and reasons are kept: a stage method never revives an entry that is
    incomplete, vetoed or disqualified."""
    key = (result.notes, result.method_note, note)
    notes = _RESTATED.get(key)
    if notes is None:  # the same few notes for every entry of a stage: worked out once, held once
        notes = tuple(n for n in result.notes if n != result.method_note) + ((note,) if note else ())
        notes = _shared(_RESTATED, key, notes)
    if panel is None or result.panel_score is None:
        return fast_replace(result, method=method, method_note=note, notes=notes)
    exact = _exact(panel)
    panel_shown, final = _finish(rubric, exact, result.multiplier, result.final_deduction,
                                 with_final=result.status != "incomplete")
    return fast_replace(result, method=method, method_note=note, notes=notes, panel_score_exact=to_decimal(exact),
                        panel_score=panel_shown, final_score=final)
