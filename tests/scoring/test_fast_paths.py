"""The quick paths give exactly what the per-entry, per-mark paths give.

A national review validates 50,000 marks and ranks 10,000 entries, so validation, aggregation
and ranking have quick paths (scoring/sheets.py, aggregate.py, ranking.py, csvio.py). Each is
held here to its reference on tables of cases and on random inputs:

- `validate_sheet` / `validate_total` on a bare mark against the full checks (which run when
  a record is given: `penalties={}` records nothing);
- `validate_totals` (vectorised) and `sheets_from_totals` (one pass) against one
  `validate_total` per value;
- `entry_result` and `entry_results` against `aggregate._full_result`, which walks every
  rule of the rubric;
- `rank_stage` against the per-entry composition: `_full_result` of every entry, the stage
  model, and ranking as it was written before the quick paths (`reference_rank` below);
- `csvio.read_scores`, which validates bare totals as one column, against reading sheet by
  sheet;
- the exact-number helpers against their earlier code, and `fast_new` / `fast_replace`
  against the dataclass constructor and `dataclasses.replace`.

"Exactly" means equal and with the same repr: Decimal('91.80') == Decimal('91.8'), but only
the first is the published score.
"""
from __future__ import annotations

import dataclasses
import gc
import io
import threading
from decimal import Decimal, Inexact, localcontext
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import aggregate, csvio, ranking
from scoring.aggregate import (
    AppliedPenalty, Aggregated, CriterionResult, EntryResult, JudgeMark, _full_result, entry_result, entry_results,
    round_to, to_decimal,
)
from scoring.ranking import Ranked, rank, rank_stage
from scoring.rubric import load_rubric, load_rubric_text
from scoring.sheets import (
    EXACT, Sheet, SheetInvalid, fast_new, fast_replace, gc_paused, sheets_from_totals, validate_sheet, validate_total,
    validate_totals,
)
from scoring.table import ScoreMatrix

ROOT = Path(__file__).resolve().parents[2]
REVIEW = load_rubric(ROOT / "rubrics/examples/review-100.yaml")
EXHIBIT = load_rubric(ROOT / "rubrics/docent/exhibit-guiding.yaml")
EXPERIMENT = load_rubric(ROOT / "rubrics/docent/experiment.yaml")  # flags decided by the chief
ISU = load_rubric(ROOT / "rubrics/examples/isu-components.yaml")
DIVING_7 = load_rubric(ROOT / "rubrics/examples/diving-7.yaml")
DIVING_5 = load_rubric(ROOT / "rubrics/examples/diving-5.yaml")
PRELIMINARY = load_rubric(ROOT / "rubrics/resources/preliminary.yaml")  # veto: never the quick path
MEDIAN = load_rubric_text(  # one criterion of weight 2, median, rounding half even at the panel score
    "id: fp-median\nversion: 2\nkind: panel\ntitle: {zh: 中位数}\n"
    "criteria:\n  - {id: total, title: {zh: 分}, min: 1, max: 10, step: 0.25, weight: 2}\n"
    "penalties:\n  overtime: {limit_seconds: 60, per_started_seconds: 10, points: 0.5, cap: 2}\n"
    "  deductions:\n    - {id: late, title: {zh: 迟到}, points: 0.5, max_count: 3}\n"
    "aggregation: {method: median, min_panel: 2}\n"
    "rounding: {decimals: 1, mode: half_even, at: [panel_score]}\n"
    "tie_breaks: [fewer_penalties, raw_mean]\n"
)
TRIMMED = load_rubric_text(  # two weighted criteria, drop 2 low and 1 high from 6, else the median
    "id: fp-trimmed\nversion: 1\nkind: panel\ntitle: {zh: 去分}\n"
    "criteria:\n  - {id: a, title: {zh: 甲}, max: 10, step: 0.5}\n"
    "  - {id: b, title: {zh: 乙}, min: 2, max: 20, step: 0.25, weight: 1.5}\n"
    "aggregation: {method: trimmed_sum, drop_highest: 1, drop_lowest: 2, min_scores: 6, fallback: median, min_panel: 2}\n"
    "rounding: {decimals: 3, mode: down, at: [final]}\n"
    "tie_breaks: [median, {criterion: b}, raw_sum]\n"
    "awards:\n  tiers:\n    - {id: gold, name: {zh: 金}, count: 2}\n    - {id: silver, name: {zh: 银}, share: 0.3}\n"
    "  ties_at_cutoff: lower\n"
)
TENS = load_rubric_text(  # marks on a step of 10: "1E+1" is a mark, and 0 + 1E+1 is 10
    "id: fp-tens\nversion: 1\nkind: panel\ntitle: {zh: 十分制}\n"
    "criteria:\n  - {id: total, title: {zh: 分}, max: 100, step: 10}\n"
    "aggregation: {method: mean}\nrounding: {decimals: 0, mode: half_up, at: [final]}\n"
)
RUBRICS = [REVIEW, EXHIBIT, EXPERIMENT, ISU, DIVING_7, DIVING_5, PRELIMINARY, MEDIAN, TRIMMED, TENS]
JUDGE_POOL = [f"R{i}" for i in range(1, 13)] + ["甲", "乙", "b", "B"] + list(range(1, 7)) + ["1", "2"]
SLOW = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def same(a, b) -> None:
    """Equal, and with the same repr (the same places: 91.80 is not 91.8)."""
    assert a == b
    assert repr(a) == repr(b)


def outcome(fn, *args, **kwargs):
    """fn's result, or the error it raises (type and message), to compare both paths' outcomes."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the same error either way is the point
        return ("raised", type(exc).__name__, str(exc))


# --------------------------------------------------------------------------- marks as text


def grid_text(criterion_min: Decimal, step: Decimal, top: int):
    """A mark on the grid, written as people and files write it: 8.5, 8.50, ８.５, 1E+1."""
    def text(k_and_style):
        k, style = k_and_style
        value = criterion_min + k * step
        return {
            0: str(value), 1: format(value, "f"), 2: f"{value:.3f}", 3: f" {value} ",
            4: str(value).translate(str.maketrans("0123456789.", "０１２３４５６７８９．")),
            5: format(value.normalize(), "E") if value else "0", 6: str(value.normalize()),
        }[style]
    return st.tuples(st.integers(0, top), st.integers(0, 6)).map(text)


ODD_VALUES = st.sampled_from([
    None, "", "  ", "abc", "8,5", "NaN", "-Infinity", "sNaN", "1e400", "-0", "-0.00", "0E-3", "1E+1", "1e1",
    True, False, 0, 1, 10, -1, 0.1, 0.30000000000000004, -0.0, float("nan"), float("inf"), 1e16, 5e-324,
    Decimal("8.5"), Decimal("8.50"), Decimal("-0"), Decimal("NaN"), [8], "20.5000000000000000000000000000000000000000000000000000000000001",
])


def mark_values(rubric):
    c = rubric.judged_criteria[0]
    top = int((c.max - c.min) / c.step)
    return st.one_of(grid_text(c.min, c.step, top + 2), ODD_VALUES,
                     st.decimals(min_value=-1, max_value=c.max + 1, places=3).map(str),
                     st.floats(min_value=-1, max_value=float(c.max) + 1, allow_nan=False))


def total_values(rubric):
    grain = Decimal(rubric.judged_criteria[0].step) if len(rubric.judged_criteria) == 1 else Decimal("0.25")
    top = int(rubric.max_total / grain)
    return st.one_of(grid_text(Decimal(0), grain, top + 4), ODD_VALUES,
                     st.floats(min_value=-1, max_value=float(rubric.max_total) + 1, allow_nan=False))


# --------------------------------------------------------------------------- validation


SHEET_RUBRICS = [REVIEW, EXHIBIT, ISU, DIVING_7, MEDIAN, TRIMMED, TENS, PRELIMINARY]


@pytest.mark.parametrize("rubric", SHEET_RUBRICS, ids=lambda r: r.id)
@pytest.mark.parametrize("value", ["8.5", "8.50", "0", "-0", "1E+1", "10.00", "０.２５", " 7 ", "7.3", "abc", None, 8, 8.25, -0.0, 1e16])
def test_a_bare_total_is_the_sheet_the_full_checks_give(rubric, value) -> None:
    same(outcome(validate_total, rubric, value), outcome(validate_total, rubric, value, penalties={}))


@SLOW
@given(data=st.data())
def test_bare_totals_and_sheets_match_the_full_checks(data) -> None:
    rubric = data.draw(st.sampled_from(SHEET_RUBRICS))
    value = data.draw(total_values(rubric))
    comment = data.draw(st.sampled_from([None, "", "好"]))
    same(outcome(validate_total, rubric, value, comment=comment),
         outcome(validate_total, rubric, value, comment=comment, penalties={}))
    scores = {c.id: data.draw(mark_values(rubric)) for c in rubric.judged_criteria}
    if data.draw(st.booleans()):
        scores[data.draw(st.sampled_from(["extra", rubric.criteria[0].id]))] = "1"
    same(outcome(validate_sheet, rubric, scores), outcome(validate_sheet, rubric, scores, penalties={}))


def per_value(rubric, values):
    """(ok, errors, sheets) from one validate_total per value."""
    ok, errors, out = [], {}, []
    for i, v in enumerate(values):
        try:
            out.append(validate_total(rubric, v))
            ok.append(True)
        except SheetInvalid as exc:
            errors[i] = exc.errors
            ok.append(False)
            out.append(None)
    return ok, errors, out


@pytest.mark.parametrize("rubric", SHEET_RUBRICS, ids=lambda r: r.id)
def test_a_column_of_totals_is_checked_as_one_call_per_value(rubric) -> None:
    values = ["8.5", "8.5", "8.50", "7.3", "abc", None, "", 8, True, 1, "1", 8.25, -0.0, 0.0, "1E+1", "１０", "100.00", "101",
              [8], Decimal("8.5"), Decimal("-0")]
    ok, errors = validate_totals(rubric, values)
    want_ok, want_errors, want_sheets = per_value(rubric, values)
    assert ok.tolist() == want_ok and errors == want_errors
    got_sheets, got_errors = sheets_from_totals(rubric, values)
    same(got_sheets, want_sheets)
    assert got_errors == want_errors


FLOATS = [0.0, -0.0, 0.1, 0.25, 0.3, 0.1 + 0.2, 8.5, 8.51, 8.505, 91.8, 91.80000000000001, 99.99, 100.0, 100.01,
          1e-7, 5e-324, 1e15, 1e16, 2.0**52, -1.0, float("nan"), float("inf"), -float("inf")]


@pytest.mark.parametrize("rubric", SHEET_RUBRICS, ids=lambda r: r.id)
def test_floats_are_checked_on_scaled_integers_as_their_shortest_repr(rubric) -> None:
    array = np.array(FLOATS)
    ok, errors = validate_totals(rubric, array)
    want_ok, want_errors, want_sheets = per_value(rubric, FLOATS)
    assert ok.tolist() == want_ok and errors == want_errors
    same(sheets_from_totals(rubric, array)[0], want_sheets)
    ints = np.array([0, 8, 10, 100, 101, -3])  # an int64 array is read as Python ints
    assert validate_totals(rubric, ints)[0].tolist() == per_value(rubric, ints.tolist())[0]


@SLOW
@given(data=st.data())
def test_random_columns_are_checked_as_one_call_per_value(data) -> None:
    rubric = data.draw(st.sampled_from(SHEET_RUBRICS))
    floats = data.draw(st.lists(st.one_of(
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        st.integers(-400, 40_000).map(lambda k: k / 100), st.integers(-40, 400).map(lambda k: k / 4),
    ), max_size=40))
    ok, errors = validate_totals(rubric, np.array(floats, dtype=np.float64))
    want_ok, want_errors, _ = per_value(rubric, floats)
    assert ok.tolist() == want_ok and errors == want_errors
    texts = data.draw(st.lists(total_values(rubric), max_size=40))
    ok, errors = validate_totals(rubric, texts)
    want_ok, want_errors, want_sheets = per_value(rubric, texts)
    assert ok.tolist() == want_ok and errors == want_errors
    got_sheets, got_errors = sheets_from_totals(rubric, texts)
    same(got_sheets, want_sheets)
    assert got_errors == want_errors


def test_sheets_of_the_same_text_are_one_frozen_value() -> None:
    got, _ = sheets_from_totals(REVIEW, ["91.80", "91.80", "91.8"])
    assert got[0] is got[1] and got[0] == got[2] and str(got[2].total) == "91.8"
    with pytest.raises(dataclasses.FrozenInstanceError):
        got[0].total = Decimal(1)  # type: ignore[misc]


# --------------------------------------------------------------------------- building frozen objects

SAMPLES = {
    Sheet: dict(rubric_id="r", rubric_version=1, scores=MappingProxyType({"a": Decimal("1.50")}), total=Decimal("3.0"),
                itemised=True, deductions=MappingProxyType({}), flags=frozenset({"f"}), inputs=MappingProxyType({}), comment="c"),
    JudgeMark: dict(judge="J1", raw=Decimal("8.5"), counted=Decimal("6.5"), kept=False, dropped="high", flags=frozenset()),
    CriterionResult: dict(criterion="a", score=None, method="none", kept=("J1",), dropped_high=(), dropped_low=(), computed=False),
    Aggregated: dict(value=Fraction(1, 3), method="mean", note="", kept=("J1", 2), dropped_high=(), dropped_low=()),
    AppliedPenalty: dict(id="late", title="迟到", points=Decimal("0.5"), count=2, applies_to="final", detail=""),
}


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda c: c.__name__)
def test_fast_new_and_fast_replace_build_what_the_dataclass_builds(cls) -> None:
    fields = SAMPLES[cls]
    assert not hasattr(cls, "__post_init__") and "__slots__" not in cls.__dict__  # what fast_new relies on
    assert [f.name for f in dataclasses.fields(cls)] == list(fields)
    same(fast_new(cls, dict(fields)), cls(**fields))
    name, value = next(iter(fields.items()))
    same(fast_replace(cls(**fields), **{name: value}), dataclasses.replace(cls(**fields), **{name: value}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(fast_new(cls, dict(fields)), name, value)


def test_entry_results_and_ranked_lines_have_every_field() -> None:
    stage = rank_stage(EXHIBIT, stage_sheets(EXHIBIT, {f"E{i}": [80 + i, 81, 82, 90, 70] for i in range(6)}))
    for r in stage.results:
        same(r, EntryResult(**{f.name: getattr(r, f.name) for f in dataclasses.fields(EntryResult)}))
        for m in r.judges:
            same(m, JudgeMark(**{f.name: getattr(m, f.name) for f in dataclasses.fields(JudgeMark)}))
    for x in stage.ranked:
        same(x, Ranked(**{f.name: getattr(x, f.name) for f in dataclasses.fields(Ranked)}))


def test_gc_paused_nests_and_restores_the_collector() -> None:
    was = gc.isenabled()
    try:
        gc.enable()
        with gc_paused():
            assert not gc.isenabled()
            with gc_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled()
        gc.disable()  # a caller that turned it off keeps it off
        with gc_paused():
            pass
        assert not gc.isenabled()
        gc.enable()
        started, release = threading.Event(), threading.Event()

        def other() -> None:
            with gc_paused():
                started.set()
                release.wait(5)

        thread = threading.Thread(target=other)
        thread.start()
        started.wait(5)
        with gc_paused():  # overlapping pauses in two threads: the collector resumes after both
            pass
        assert not gc.isenabled()
        release.set()
        thread.join()
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


# --------------------------------------------------------------------------- exact numbers as they were


def reference_round_to(value, decimals, mode="half_up"):
    """round_to as written before the quick paths."""
    from scoring.aggregate import _MODES, _QUANTIZE

    if mode not in _MODES:
        raise ValueError(f"unknown rounding mode {mode!r}")
    if isinstance(value, (Decimal, int)):
        rounded = Decimal(value).quantize(Decimal(1).scaleb(-decimals), _MODES[mode], _QUANTIZE)
        return rounded.copy_abs() if rounded.is_zero() else rounded
    scaled = Fraction(value) * 10**decimals
    sign = -1 if scaled < 0 else 1
    whole, rest = divmod(abs(scaled.numerator), scaled.denominator)
    remainder = Fraction(rest, scaled.denominator)
    if mode == "half_up":
        whole += remainder >= Fraction(1, 2)
    elif mode == "half_even":
        whole += remainder > Fraction(1, 2) or (remainder == Fraction(1, 2) and whole % 2 == 1)
    return Decimal(sign * whole).scaleb(-decimals)


def reference_divide(total, n, exact_only=True):
    try:
        return EXACT.divide(total, n)
    except Inexact:
        return Fraction(total) / n if exact_only else total / Decimal(n)


def reference_to_decimal(value):
    if isinstance(value, Decimal):
        return value
    value = Fraction(value)
    return reference_divide(Decimal(value.numerator), value.denominator, exact_only=False)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.fractions(max_denominator=10**6).filter(lambda f: abs(f) < 10**9),
              st.decimals(allow_nan=False, allow_infinity=False, places=7, min_value=-10**9, max_value=10**9),
              st.integers(-10**9, 10**9)),
    st.integers(0, 24), st.sampled_from(["half_up", "half_even", "down"]),
)
def test_rounding_and_division_agree_with_their_earlier_code(value, decimals, mode) -> None:
    same(round_to(value, decimals, mode), reference_round_to(value, decimals, mode))
    same(to_decimal(value), reference_to_decimal(value))
    if isinstance(value, Decimal):
        for n in (1, 2, 3, 5, 6, 7, 9, 12, 40, 81):
            same(aggregate._divide(value, n), reference_divide(value, n))
            same(aggregate._divide(value, n, exact_only=False), reference_divide(value, n, exact_only=False))
        with localcontext() as ctx:  # the record's 28 digits come from the caller's context, as before
            ctx.prec = 9
            same(to_decimal(Fraction(value) / 7), reference_to_decimal(Fraction(value) / 7))


@pytest.mark.parametrize("value", [Fraction(1, 8), Fraction(3, 8), Fraction(-5, 8), Fraction(5, 2), Fraction(-1, 2), Fraction(1, 3),
                                   Fraction(2, 3), Fraction(-2, 3), Fraction(1, 200), Fraction(-1, 200), Decimal("0.125"),
                                   Decimal("-0.125"), Decimal("2.5"), Decimal("-0.004"), 7, -7, Fraction(0)])
@pytest.mark.parametrize("decimals", [0, 1, 2])
@pytest.mark.parametrize("mode", ["half_up", "half_even", "down"])
def test_rounding_ties_and_signs_as_before(value, decimals, mode) -> None:
    same(round_to(value, decimals, mode), reference_round_to(value, decimals, mode))
    same(to_decimal(value), reference_to_decimal(value))


@pytest.mark.parametrize("values", [[], [Decimal("1.10"), Decimal("2.2")], [Decimal("1E+2"), Decimal("-0")], [Decimal(10**59), Decimal("0.1")]])
def test_sums_are_exact_as_before(values) -> None:
    def reference(values):
        total = Decimal(0)
        for v in values:
            total = EXACT.add(total, v)
        return total

    same(outcome(aggregate._sum, values), outcome(reference, values))


# --------------------------------------------------------------------------- entry results


def judge_ids(draw, n: int) -> list:
    kind = draw(st.sampled_from(["text", "numbers", "mixed"]))
    pool = {"text": [j for j in JUDGE_POOL if isinstance(j, str)], "numbers": list(range(1, 13)), "mixed": JUDGE_POOL}[kind]
    return draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n, unique=True))


def written(draw, value: Decimal) -> str:
    """A value as a form or file may write it: 80.5, 80.50, 8.05E+1, 80.500."""
    return draw(st.sampled_from([str(value), f"{value:.2f}", format(value.normalize(), "E"), f"{value:.3f}"]))


def a_sheet(draw, rubric, coarse: bool):
    """A validated sheet: itemised or a total, marks on the grid (coarse: few values, many ties)."""
    judged = rubric.judged_criteria
    flags = ()
    if rubric.flags and draw(st.integers(0, 9)) == 0:
        flags = (rubric.flags[0].id,)
    if len(judged) > 1 and draw(st.booleans()):
        grain, low = Decimal("0.5"), sum(c.effective_weight * c.min for c in judged)
        top = int((rubric.max_total - low) / grain)
        value = low + draw(st.integers(0, 4 if coarse else top)) * grain
        return validate_total(rubric, written(draw, value), flags=flags, comment="x")
    scores = {}
    for c in judged:
        top = int((c.max - c.min) / c.step)
        value = c.min + draw(st.integers(max(0, top - 3) if coarse else 0, top)) * c.step
        scores[c.id] = written(draw, value)
    return validate_sheet(rubric, scores, flags=flags, comment="x")


@st.composite
def stage(draw, rubrics=RUBRICS, max_entries: int = 12):
    """A rubric and a stage: entries (text or numbers) → judges → sheets, with entry records."""
    rubric = draw(st.sampled_from(rubrics))
    coarse = draw(st.booleans())
    entries = draw(st.lists(st.sampled_from([f"E{i}" for i in range(40)] + list(range(100, 110))),
                            min_size=1, max_size=max_entries, unique=True))
    by_entry, inputs, penalties, flags = {}, {}, {}, {}
    for e in entries:
        n = draw(st.integers(0, 9))
        by_entry[e] = {j: a_sheet(draw, rubric, coarse) for j in judge_ids(draw, n)}
        record = {}
        if "difficulty" in rubric.entry_inputs and draw(st.integers(0, 5)):
            record["difficulty"] = draw(st.sampled_from(["2.0", "3.4", "1.6"]))
        if "duration_seconds" in rubric.entry_inputs and draw(st.booleans()):
            record["duration_seconds"] = draw(st.sampled_from(["50", "61", "300", "333", "420"]))
        if record:
            inputs[e] = record
        if rubric.deductions and draw(st.integers(0, 3)) == 0:
            d = draw(st.sampled_from(rubric.deductions))
            penalties[e] = {d.id: draw(st.integers(1, d.max_count))}
        if rubric.flags and draw(st.integers(0, 6)) == 0:
            flags[e] = [rubric.flags[0].id]
    return rubric, by_entry, inputs, penalties, flags


@SLOW
@given(stage())
def test_entry_results_are_the_full_path_results(case) -> None:
    rubric, by_entry, inputs, penalties, flags = case
    batch = outcome(entry_results, rubric, by_entry, inputs=inputs, penalties=penalties, flags=flags)
    one_by_one = []
    for e, entry_sheets in by_entry.items():
        kwargs = dict(entry=e, inputs=inputs.get(e), penalties=penalties.get(e), flags=flags.get(e, ()))
        got = outcome(entry_result, rubric, entry_sheets, **kwargs)
        same(got, outcome(_full_result, rubric, entry_sheets, **kwargs))
        one_by_one.append(got)
    if isinstance(batch, list):
        same(batch, one_by_one)
    else:
        assert batch in one_by_one  # the batch raises the first entry's error


def stage_sheets(rubric, marks: dict) -> dict:
    """entry → {J1: sheet, ...} from lists of totals."""
    return {e: {f"J{i}": validate_total(rubric, str(v)) for i, v in enumerate(values, start=1)} for e, values in marks.items()}


@pytest.mark.parametrize(
    "rubric, marks",
    [
        (REVIEW, {"A": [91.8, "91.80", 70], "B": [], "C": ["1E+1"]}),
        (EXHIBIT, {"A": [80, 80, 80, 80, 80], "B": [70, 90, 85.5], "C": [70, 90], "D": [99.5, 0, 100, 50, 50, 50.5]}),
        (ISU, {"A": [7.25, 7.5, 7.5, 7.75, 8, 8.25, 8.25, 8.5, 9], "B": [5, 5, 5, 5], "C": [0.25, 10, 5, 5, 5]}),
        (DIVING_7, {"A": [7, 7.5, 7, 8, 6.5, 7, 7.5]}),
        (MEDIAN, {"A": [2, 9.75, 3.5, 3.5], "B": [1], "C": [10, 10]}),
        (TRIMMED, {"A": [10, 10, 10, 10, 10, 10], "B": [4, 8, 15.5, 30, 3.5]}),
        (TENS, {"A": ["1E+1", "10", "100"], "B": ["0", "0E+1"]}),
        (TRIMMED, {"A": ["3E+1", "1E+1", "4E+1"], "B": ["3E+1", "2E+1"]}),  # a median of 3E+1 is published as 30
        (EXHIBIT, {"A": ["8E+1", "8E+1", "8E+1"], "B": ["8E+1"] * 5}),
    ],
)
def test_tables_of_entries_take_the_quick_path_to_the_same_result(rubric, marks) -> None:
    by_entry = stage_sheets(rubric, marks)
    inputs = {e: {"difficulty": "2.8"} for e in by_entry} if rubric.aggregation.multiplier else {}
    for e, entry_sheets in by_entry.items():
        if aggregate._plan(rubric) is not None:
            assert aggregate._quick_result(aggregate._plan(rubric), rubric, entry_sheets, e, inputs.get(e), None, (), {}) is not None
        same(entry_result(rubric, entry_sheets, entry=e, inputs=inputs.get(e)),
             _full_result(rubric, entry_sheets, entry=e, inputs=inputs.get(e)))


# --------------------------------------------------------------------------- ranking as it was


def reference_rank(results, rubric):
    """ranking.rank as written before the quick paths."""
    for r in results:
        if (r.rubric_id, r.rubric_version) != (rubric.id, rubric.version):
            raise ValueError(f"entry {r.entry!r} was scored on {r.rubric_id} v{r.rubric_version}, not {rubric.id} v{rubric.version}")

    def sort_key(result):
        key = [-result.final_score]
        for t in rubric.tie_breaks:
            value = ranking._tie_value(result, t.rule, t.criterion)
            key.append(ranking._LAST if value is None else -value)
        return tuple(key)

    names = ranking._tie_names(rubric)
    ok = [r for r in results if r.ranked and r.final_score is not None]
    keyed = sorted(((sort_key(r), r) for r in ok), key=lambda kr: (kr[0], ranking._entry_key(kr[1].entry)))
    out, previous = [], None
    for position, (key, r) in enumerate(keyed, start=1):
        if previous is not None and key == previous:
            out.append(Ranked(r, out[-1].rank, position, tied=True))
            if not out[-2].tied:
                out[-2] = dataclasses.replace(out[-2], tied=True)
        else:
            decided = None if previous is None else names[next(i for i, (a, b) in enumerate(zip(key, previous)) if a != b)]
            out.append(Ranked(r, position, position, decided_by=decided))
        previous = key
    rest = [r for r in results if not (r.ranked and r.final_score is not None)]
    rest.sort(key=lambda r: (ranking._UNRANKED_ORDER.get(r.status, 9), ranking._entry_key(r.entry)))
    return out + [Ranked(r, None, len(out) + i) for i, r in enumerate(rest, start=1)]


def reference_restate(rubric, result, panel, *, method, note=""):
    """aggregate.restate as written before the quick paths (dataclasses.replace)."""
    notes = tuple(n for n in result.notes if n != result.method_note) + ((note,) if note else ())
    if panel is None or result.panel_score is None:
        return dataclasses.replace(result, method=method, method_note=note, notes=notes)
    exact = aggregate._exact(panel)
    shown, final = aggregate._finish(rubric, exact, result.multiplier, result.final_deduction,
                                     with_final=result.status != "incomplete")
    return dataclasses.replace(result, method=method, method_note=note, notes=notes,
                               panel_score_exact=to_decimal(exact), panel_score=shown, final_score=final)


def same_stage(got, want) -> None:
    same(got.ranked, want.ranked)
    same(got.results, want.results)
    assert (got.method_requested, got.method_used, got.method_reason) == (want.method_requested, want.method_used, want.method_reason)
    same(got.awards, want.awards)
    same(got.promotion, want.promotion)
    for a, b in ((got.matrix, want.matrix), (got.calibration, want.calibration)):
        assert (a is None) == (b is None)
    if got.matrix is not None:
        assert (got.matrix.entry_labels, got.matrix.judge_labels) == (want.matrix.entry_labels, want.matrix.judge_labels)
        for name in ("entry_idx", "judge_idx", "values"):
            assert np.array_equal(getattr(got.matrix, name), getattr(want.matrix, name))
    if got.calibration is not None:
        assert np.array_equal(got.calibration.quality, want.calibration.quality, equal_nan=True)


def reference_stage(rubric, by_entry, method, inputs, penalties, flags, groups):
    """rank_stage composed of the per-entry path: _full_result for every entry, the stage model
    on ScoreMatrix.from_triples with the earlier restate, then the earlier ranking."""
    entry_rubric, model = ranking._entry_rubric(rubric, method)
    results = [_full_result(entry_rubric, s, entry=e, inputs=inputs.get(e), penalties=penalties.get(e), flags=flags.get(e, ()))
               for e, s in by_entry.items()]
    agg = entry_rubric.aggregation
    used = agg.fallback if agg.method == "calibrated" else agg.method
    reason, calibration, matrix = "", None, None
    if model is not None:
        original = (ranking._matrix, ranking.restate)
        ranking._matrix = lambda rs: ScoreMatrix.from_triples(
            (str(r.entry), str(m.judge), float(m.counted)) for r in rs for m in r.judges)
        ranking.restate = reference_restate
        try:
            results, used, reason, calibration, matrix = ranking._stage_model(rubric, results, model, str(used))
        finally:
            ranking._matrix, ranking.restate = original
    ranked = reference_rank(results, rubric)
    awards = ranking.assign_awards(ranked, rubric) if rubric.awards else None
    if awards is not None:
        ranked = list(awards.entries)
    promotion = ranking.promote(ranked, rubric, groups) if rubric.promotion is not None and groups is not None else None
    return ranking.StageResult(tuple(ranked), method, used, reason, tuple(results), awards, promotion, calibration, matrix)


@SLOW
@given(stage(max_entries=25), st.sampled_from(ranking.METHODS), st.booleans())
def test_a_stage_ranks_as_the_per_entry_composition(case, method, with_groups) -> None:
    rubric, by_entry, inputs, penalties, flags = case
    groups = {e: {"division": "甲乙"[hash(str(e)) % 2], "category": "c"} for e in by_entry} if with_groups else None
    got = outcome(rank_stage, rubric, by_entry, method=method, inputs=inputs, penalties=penalties, flags=flags, groups=groups)
    want = outcome(reference_stage, rubric, by_entry, method, inputs, penalties, flags, groups)
    if isinstance(want, tuple):
        assert got == want
    else:
        same_stage(got, want)


def connected_review(seed: int, n_entries: int = 40, n_judges: int = 8):
    rng = np.random.default_rng(seed)
    by_entry = {}
    for e in range(n_entries):
        judges = rng.choice(n_judges, size=4, replace=False)
        by_entry[f"V{e}"] = {f"R{j}": validate_total(REVIEW, f"{min(max(rng.normal(75, 8), 0), 100):.2f}") for j in judges}
    return by_entry


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", ["rubric", "zscore", "mean", "trimmed"])
def test_a_calibrated_review_ranks_as_the_per_entry_composition(seed, method) -> None:
    by_entry = connected_review(seed)
    got = rank_stage(REVIEW, by_entry, method=method)
    if method == "rubric":
        assert got.method_used == "calibrated"
    same_stage(got, reference_stage(REVIEW, by_entry, method, {}, {}, {}, None))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 2), st.sampled_from(["ok", "ok", "incomplete", "vetoed"])),
                max_size=30))
def test_ranks_and_tie_breaks_are_those_of_the_earlier_ranking(rows) -> None:
    base = entry_result(TRIMMED, {f"J{i}": validate_total(TRIMMED, "20") for i in range(6)}, entry="x")
    results = []
    for i, (score, raw, b, status) in enumerate(rows):
        criteria = MappingProxyType({"a": base.criteria["a"], "b": dataclasses.replace(base.criteria["b"], score=Decimal(b) / 2)})
        results.append(dataclasses.replace(
            base, entry=i if i % 3 else f"E{i}", status=status, final_score=Decimal(score) / 4,
            raw_sum=Decimal(raw), raw_median=Decimal(raw), criteria=criteria,
        ))
    same(rank(results, TRIMMED), reference_rank(results, TRIMMED))


@pytest.mark.parametrize(
    "triples",
    [
        [("E1", "J1", "8.5"), ("E1", "J2", "9"), ("E2", "J1", "7.25")],
        [(1, "J1", "8"), ("1", "J2", "9")],        # two entries, one label: pooled as from_triples pools them
        [("E1", 1, "8"), ("E1", "1", "9")],        # two judges of one entry, one label: refused
        [("E1", 1, "8"), ("E2", "1", "9")],        # the same label across entries: one judge
        [],
    ],
)
def test_the_stage_matrix_is_the_one_from_triples(triples) -> None:
    results = {}
    for e, j, v in triples:
        results.setdefault(e, {})[j] = validate_total(REVIEW, v)
    entries = [entry_result(REVIEW, s, entry=e) for e, s in results.items()]
    want = outcome(ScoreMatrix.from_triples, ((str(r.entry), str(m.judge), float(m.counted)) for r in entries for m in r.judges))
    got = outcome(ranking._matrix, entries)
    if isinstance(want, tuple):
        assert got == want
        return
    assert (got.entry_labels, got.judge_labels) == (want.entry_labels, want.judge_labels)
    for name in ("entry_idx", "judge_idx", "values"):
        assert np.array_equal(getattr(got, name), getattr(want, name))
        assert getattr(got, name).dtype == getattr(want, name).dtype


# --------------------------------------------------------------------------- the CSV reader


def read_both(monkeypatch, rubric, text: str):
    """read_scores as it is, and with every sheet validated on its own (no column of totals)."""
    got = outcome(csvio.read_scores, io.StringIO(text), rubric)
    with monkeypatch.context() as m:
        m.setattr(csvio._ScoreReader, "_bare_totals", lambda self: {})
        want = outcome(csvio.read_scores, io.StringIO(text), rubric)
    return got, want


@pytest.mark.parametrize(
    "rubric, text",
    [
        (REVIEW, "entry,judge,criterion,score\nE1,R1,total,91.80\nE1,R2,total,91.8\nE2,R1,total,101\nE2,R2,total,7.123\nE3,R1,total,abc\n"),
        (REVIEW, "entry,judge,criterion,score\nE1,R1,total,91.80\nE2,R1,total,88\nE1,R2,total,60.5\n"),
        (EXHIBIT, "entry,judge,criterion,score\nE1,J1,total,80.5\nE1,J2,total,80.25\nE1,J3,kexuexing,20\nE1,J4,total,101\n"
                  "E2,J1,total,70\nE2,J1,kexuexing,20\n"),
        (EXPERIMENT, "entry,judge,criterion,score,flags,chief\nE1,J1,total,80,,\nE1,J2,total,81,safety_breach,yes\n"
                     "E1,J3,total,80.3,,\nE2,J1,total,70,;,\n"),
        (DIVING_7, "entry,judge,criterion,score,difficulty\nD1,1,total,7.5,3.0\nD1,2,total,7.25,\nD1,3,total,11,\n"),
        (EXPERIMENT, "entry,judge,criterion,score,flags,chief\nE1,J1,total,80,,\nE1,J2,total,81,safety_breach,yes\n"
                     "E1,J3,total,8.05E+1,,\nE2,J1,total,70,;,\nE2,J2,total,70.50,safety_breach,\n"),
        (REVIEW, "entry,judge,criterion,score\nE1,R1,total,91.80\nE1,R2,total,１０\nE2,R1,total,1E+1\n"),
    ],
)
def test_the_csv_reader_validates_a_column_of_totals_as_sheet_by_sheet(monkeypatch, rubric, text) -> None:
    got, want = read_both(monkeypatch, rubric, text)
    if isinstance(want, tuple):
        assert got == want
    else:
        same(got.sheets, want.sheets)
        assert (got.inputs, got.penalties, got.flags, got.lines) == (want.inputs, want.penalties, want.flags, want.lines)


@SLOW
@given(stage(rubrics=[REVIEW, EXHIBIT, ISU, MEDIAN], max_entries=8), st.lists(st.sampled_from(["", "abc", "999", "7.3", "-1"]), max_size=4))
def test_random_files_read_as_sheet_by_sheet(case, bad) -> None:
    rubric, by_entry, _, _, _ = case
    lines = ["entry,judge,criterion,score"]
    for e, entry_sheets in by_entry.items():
        for j, sheet in entry_sheets.items():
            lines.append(f"{e},{j},total,{sheet.total}")
    lines += [f"X{i},J1,total,{v}" for i, v in enumerate(bad)]
    with pytest.MonkeyPatch.context() as mp:
        got = outcome(csvio.read_scores, io.StringIO("\n".join(lines) + "\n"), rubric)
        mp.setattr(csvio._ScoreReader, "_bare_totals", lambda self: {})
        want = outcome(csvio.read_scores, io.StringIO("\n".join(lines) + "\n"), rubric)
    if isinstance(want, tuple):
        assert got == want
    else:
        same(got.sheets, want.sheets)
