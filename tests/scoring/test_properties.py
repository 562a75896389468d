"""Properties that must hold for any marks, not just the cases in the tables.

- The order in which judges' sheets arrive never changes a result (nor which copy of a tied
  mark is recorded as dropped).
- A trimmed mean lies between the extremes it kept, and keeps exactly the middle marks.
- Exact rounding of a Fraction agrees with Decimal's own rounding (ROUND_HALF_UP etc.).
- Ranks are competition ranks: 1 + the number of entries strictly ahead.
"""
from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.aggregate import aggregate_marks, entry_result, round_to
from scoring.ranking import rank
from scoring.rubric import Aggregation, load_rubric, load_rubric_text
from scoring.sheets import validate_sheet

ROOT = Path(__file__).resolve().parents[2]
RUBRICS = [
    load_rubric(ROOT / "rubrics/examples/diving-7.yaml"),
    load_rubric(ROOT / "rubrics/examples/isu-components.yaml"),
    load_rubric(ROOT / "rubrics/examples/review-100.yaml"),
    load_rubric_text(
        "id: p\nversion: 1\nkind: panel\ntitle: {zh: 性质}\n"
        "criteria:\n  - {id: a, title: {zh: 甲}, max: 10, step: 0.5, veto: {below: 2, scope: majority}}\n"
        "  - {id: b, title: {zh: 乙}, max: 10, step: 0.5, weight: 3}\n"
        "aggregation: {over: criteria, method: trimmed_mean, drop_highest: 1, drop_lowest: 1, min_scores: 4, fallback: median}\n"
        "rounding: {decimals: 2, mode: half_up, at: [criterion_score, final]}\n"
    ),
]
MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}


def mark(criterion) -> st.SearchStrategy[Decimal]:
    steps = int((criterion.max - criterion.min) / criterion.step)
    return st.integers(0, steps).map(lambda k: criterion.min + k * criterion.step)


@st.composite
def panel(draw):
    """A rubric, a panel of 5-9 judges with marks on the rubric's steps, and a permutation."""
    rubric = draw(st.sampled_from(RUBRICS))
    judges = draw(st.lists(st.sampled_from([f"J{i}" for i in range(1, 13)] + ["甲", "乙", "A", "b"]),
                           min_size=5, max_size=9, unique=True))
    if rubric.id == "example-diving-7":
        judges = (judges + [f"X{i}" for i in range(7)])[:7]
    marks = {j: {c.id: draw(mark(c)) for c in rubric.judged_criteria} for j in judges}
    order = draw(st.permutations(judges))
    return rubric, marks, order


@settings(max_examples=150, deadline=None)
@given(panel())
def test_judge_order_never_matters(case) -> None:
    rubric, marks, order = case
    inputs = {"difficulty": "2.7"} if rubric.aggregation.multiplier else None
    first = {j: validate_sheet(rubric, marks[j]) for j in marks}
    again = {j: validate_sheet(rubric, marks[j]) for j in order}
    assert list(first) != list(again) or len(order) < 2 or list(order) == list(marks)
    assert entry_result(rubric, first, inputs=inputs) == entry_result(rubric, again, inputs=inputs)


@st.composite
def trimmed_case(draw):
    high = draw(st.integers(0, 3))
    low = draw(st.integers(0 if high else 1, 3))
    n = draw(st.integers(high + low + 1, 15))
    marks = draw(st.lists(st.integers(0, 40).map(lambda k: Decimal(k) / 4), min_size=n, max_size=n))
    return high, low, marks


@settings(max_examples=300, deadline=None)
@given(trimmed_case())
def test_a_trimmed_mean_lies_between_the_kept_extremes(case) -> None:
    high, low, marks = case
    agg = Aggregation(method="trimmed_mean", drop_highest=high, drop_lowest=low, min_scores=high + low + 1)
    by_judge = {f"J{i}": m for i, m in enumerate(marks)}
    result = aggregate_marks(by_judge, agg)
    kept = sorted(by_judge[j] for j in result.kept)
    assert kept == sorted(marks)[low : len(marks) - high]  # exactly the middle marks
    assert len(result.dropped_high) == high and len(result.dropped_low) == low
    assert kept[0] <= result.value <= kept[-1]
    assert Fraction(result.value) == Fraction(sum(kept)) / len(kept)


@settings(max_examples=500, deadline=None)
@given(
    st.decimals(min_value=-10**6, max_value=10**6, allow_nan=False, allow_infinity=False, places=6),
    st.integers(0, 4),
    st.sampled_from(sorted(MODES)),
)
def test_rounding_matches_decimal_rounding(value, decimals, mode) -> None:
    quantum = Decimal(1).scaleb(-decimals)
    with localcontext() as ctx:
        ctx.prec = 50
        expected = value.quantize(quantum, MODES[mode])
    if expected.is_zero():
        expected = expected.copy_abs()  # a score is never published as -0.00
    assert round_to(Fraction(value), decimals, mode) == expected  # the exact Fraction path
    assert round_to(value, decimals, mode) == expected  # the Decimal path
    assert str(round_to(Fraction(value), decimals, mode)) == str(expected)  # same places


@settings(max_examples=300, deadline=None)
@given(st.integers(-10**9, 10**9), st.integers(1, 10**6), st.integers(0, 4))
def test_rounding_a_fraction_half_up_matches_its_exact_decimal_expansion(p, q, decimals) -> None:
    with localcontext() as ctx:
        ctx.prec = 200
        expected = (Decimal(p) / Decimal(q)).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)
    assert round_to(Fraction(p, q), decimals, "half_up") == expected


RANKING = load_rubric_text(
    "id: rk\nversion: 1\nkind: panel\ntitle: {zh: 排名}\n"
    "criteria:\n  - {id: total, title: {zh: 分}, max: 10, step: 0.5}\naggregation: {method: mean}\n"
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=1, max_size=30))
def test_ranks_are_one_plus_the_entries_strictly_ahead(halves) -> None:
    results = [
        entry_result(RANKING, {"J1": validate_sheet(RANKING, {"total": Decimal(h) / 2})}, entry=f"E{i}")
        for i, h in enumerate(halves)
    ]
    ranked = rank(results, RANKING)
    for x in ranked:
        assert x.rank == 1 + sum(1 for y in ranked if y.score > x.score)
    assert [x.score for x in ranked] == sorted((x.score for x in ranked), reverse=True)
