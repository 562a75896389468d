"""Aggregation: each case is a rule an organiser or a published rule book states.

Rules: rubric.py `Aggregation`, `Rounding`, `Penalties`, `Veto`, `Flag`; FINA diving and ISU
components as ../shared/data/judging/SOURCES.md gives them.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from scoring.aggregate import aggregate_marks, entry_result, round_to
from scoring.rubric import load_rubric, load_rubric_text
from scoring.sheets import SheetInvalid, validate_sheet, validate_total

ROOT = Path(__file__).resolve().parents[2]
DIVING_7 = load_rubric(ROOT / "rubrics/examples/diving-7.yaml")
DIVING_5 = load_rubric(ROOT / "rubrics/examples/diving-5.yaml")
ISU = load_rubric(ROOT / "rubrics/examples/isu-components.yaml")
EXHIBIT = load_rubric(ROOT / "rubrics/docent/exhibit-guiding.yaml")
EXPERIMENT = load_rubric(ROOT / "rubrics/docent/experiment.yaml")
RESOURCES_FINAL = load_rubric(ROOT / "rubrics/resources/final.yaml")
RESOURCES_PRELIM = load_rubric(ROOT / "rubrics/resources/preliminary.yaml")
REVIEW = load_rubric(ROOT / "rubrics/examples/review-100.yaml")


def single(aggregation: str, rounding: str = "", extra: str = "") -> object:
    """A one-criterion rubric (0-10 in steps of 0.25) with the given aggregation block."""
    return load_rubric_text(
        "id: t\nversion: 1\nkind: panel\ntitle: {zh: 测试}\n"
        "criteria:\n  - {id: total, title: {zh: 分数}, max: 10, step: 0.25}\n"
        f"aggregation: {aggregation}\n{rounding}\n{extra}"
    )


def sheets(rubric, marks: list | dict) -> dict:
    """Judge → validated sheet; a list gives judges J1, J2, ... in order."""
    if isinstance(marks, list):
        marks = {f"J{i}": m for i, m in enumerate(marks, start=1)}
    return {j: validate_sheet(rubric, m if isinstance(m, dict) else {"total": m}) for j, m in marks.items()}


def result(rubric, marks, **kwargs):
    return entry_result(rubric, sheets(rubric, marks), entry="E1", **kwargs)


# --------------------------------------------------------------------------- methods


@pytest.mark.parametrize(
    "aggregation, marks, panel, method",
    [
        ("{method: mean}", [7, 8, 9], "8", "mean"),
        ("{method: mean}", [7, 8, 8.5], "7.833333333333333333333333333", "mean"),
        ("{method: sum}", [7, 8, 9], "24", "sum"),
        ("{method: median}", [7, 9, 8], "8", "median"),
        ("{method: median}", [7, 8, 9, 10], "8.5", "median"),
        ("{method: trimmed_mean, drop_highest: 1, drop_lowest: 1, min_scores: 5, min_panel: 5}", [5, 6, 7, 8, 9], "7", "trimmed_mean"),
        ("{method: trimmed_sum, drop_highest: 2, drop_lowest: 2, min_scores: 7, min_panel: 7}", [1, 2, 3, 4, 5, 6, 7], "12", "trimmed_sum"),
        ("{method: trimmed_mean, drop_highest: 2, min_scores: 3, min_panel: 3}", [1, 2, 3, 4, 5], "2", "trimmed_mean"),
        # below min_scores the fallback applies, and the method says so
        ("{method: trimmed_mean, drop_highest: 1, drop_lowest: 1, min_scores: 5, fallback: mean}", [6, 7, 8, 10], "7.75", "mean"),
        ("{method: trimmed_mean, drop_highest: 1, drop_lowest: 1, min_scores: 5, fallback: median}", [6, 7, 8, 10], "7.5", "median"),
        ("{method: trimmed_sum, drop_highest: 1, drop_lowest: 1, min_scores: 5, fallback: sum}", [6, 7, 8], "21", "sum"),
        # ties among the extremes: one copy of each extreme is dropped
        ("{method: trimmed_mean, drop_highest: 1, drop_lowest: 1, min_scores: 5, min_panel: 5}", [8, 8, 8, 6, 6], "7.333333333333333333333333333", "trimmed_mean"),
        ("{method: trimmed_mean, drop_highest: 1, drop_lowest: 1, min_scores: 5, min_panel: 5}", [7, 7, 7, 7, 7], "7", "trimmed_mean"),
        # calibrated: one entry alone gets the fallback (the stage ranking fits the model)
        ("{method: calibrated, model: bias, fallback: mean}", [6, 7, 8.5], "7.166666666666666666666666667", "mean"),
    ],
)
def test_each_method_aggregates_as_the_rubric_says(aggregation, marks, panel, method) -> None:
    r = result(single(aggregation), marks)
    assert r.panel_score_exact == Decimal(panel)
    assert r.method == method
    assert r.status == "ok"


def test_a_fallback_is_explained() -> None:
    rubric = single("{method: trimmed_mean, drop_highest: 1, drop_lowest: 1, min_scores: 5, fallback: mean, min_panel: 3}")
    r = result(rubric, [6, 7, 8, 10])
    assert r.method_note == "有效评分 4 个，少于去分所需的 5 个，按 mean 计算"
    assert r.notes == (r.method_note,) and r.dropped == ()


@pytest.mark.parametrize(
    "marks, high, low",
    [
        ([8, 8, 8, 6, 6], ["J3"], ["J4"]),  # among tied marks: last id at the top, first id at the bottom
        ({"J9": 7, "J2": 7, "J5": 7, "J1": 7, "J3": 7}, ["J9"], ["J1"]),
        ({"B": 9, "A": 9, "C": 5, "D": 5, "E": 7}, ["B"], ["C"]),
    ],
)
def test_which_tied_copy_is_dropped_is_recorded_and_stable(marks, high, low) -> None:
    rubric = single("{method: trimmed_mean, drop_highest: 1, drop_lowest: 1, min_scores: 5, min_panel: 5}")
    r = result(rubric, marks)
    assert [m.judge for m in r.judges if m.dropped == "high"] == high
    assert [m.judge for m in r.judges if m.dropped == "low"] == low
    assert len(r.kept) == len(marks) - 2


def test_aggregate_marks_lists_dropped_judges_highest_first() -> None:
    agg = DIVING_7.aggregation
    a = aggregate_marks({"J1": Decimal(1), "J2": Decimal(9), "J3": Decimal(5), "J4": Decimal(8),
                         "J5": Decimal(2), "J6": Decimal(5), "J7": Decimal(5)}, agg)
    assert a.value == 15 and a.dropped_high == ("J2", "J4") and a.dropped_low == ("J1", "J5")


# --------------------------------------------------------------------------- published rules


def test_diving_7_first_dive_of_the_data_set() -> None:
    # 2015 World Series Beijing, men's 10 m final, diver 1, dive 3: DD 3.4, published 91.80
    r = result(DIVING_7, [9.5, 9.5, 9.0, 9.0, 9.0, 9.0, 9.0], inputs={"difficulty": "3.4"})
    assert str(r.final_score) == "91.80"
    assert r.panel_score == Decimal(27) and r.multiplier == Decimal("3.4")
    assert [m.dropped for m in r.judges] == ["high", "high", "low", "low", None, None, None]


@pytest.mark.parametrize(
    "marks, difficulty, expected",
    [
        ([6.5, 7.0, 7.0, 7.5, 8.0], "2.0", "43.00"),  # drop 6.5 and 8.0: (7 + 7 + 7.5) × 2
        ([0, 0, 0.5, 10, 10], "3.0", "31.50"),
        ([9, 9, 9, 9, 9], "1.6", "43.20"),
    ],
)
def test_diving_5_drops_one_and_one_and_sums_three(marks, difficulty, expected) -> None:
    r = result(DIVING_5, marks, inputs={"difficulty": difficulty})
    assert str(r.final_score) == expected
    assert len(r.kept) == 3


def test_isu_eight_judge_panel_rounds_7125_half_up() -> None:
    # aspect 1c61ef162f (ISU GP 2016 Skate America, pairs SP): mean of 6 = 7.125, published 7.13
    marks = {"J1": 6.75, "J2": 6.75, "J3": 7.0, "J4": 7.25, "J5": 7.25, "J7": 7.5, "J8": 7.0, "J9": 7.5}
    r = result(ISU, marks)
    assert r.panel_score_exact == Decimal("7.125")
    assert str(r.final_score) == "7.13" and str(r.panel_score) == "7.13"
    assert r.n_judges == 8 and len(r.kept) == 6


# --------------------------------------------------------------------------- rounding points


@pytest.mark.parametrize(
    "rounding, expected",
    [
        ("rounding: {decimals: 2, mode: half_up, at: [panel_score]}", "21.39"),  # 7.13 × 3
        ("rounding: {decimals: 2, mode: half_up, at: [final]}", "21.38"),  # 21.375 → 21.38
        ("rounding: {decimals: 2, mode: half_up, at: [panel_score, final]}", "21.39"),
        ("rounding: {decimals: 2, mode: half_even, at: [panel_score]}", "21.36"),  # 7.12 × 3
        ("rounding: {decimals: 2, mode: down, at: [final]}", "21.37"),
        ("rounding: {decimals: 1, mode: half_up, at: [final]}", "21.4"),
        ("", "21.375"),  # no rounding point: the exact value
    ],
)
def test_rounding_happens_only_at_the_listed_points(rounding, expected) -> None:
    rubric = single(
        "{method: mean, multiplier: {input: difficulty, title: {zh: 难度}, min: 1, max: 5}}", rounding
    )
    r = result(rubric, [7, 7.25, 7.25, 7, 7, 7.25, 7.25, 7], inputs={"difficulty": 3})  # mean 7.125
    assert str(r.final_score) == expected


@pytest.mark.parametrize(
    "value, decimals, mode, expected",
    [
        ("7.125", 2, "half_up", "7.13"), ("8.375", 2, "half_up", "8.38"), ("7.125", 2, "half_even", "7.12"),
        ("7.135", 2, "half_even", "7.14"), ("-7.125", 2, "half_up", "-7.13"), ("91.8", 2, "half_up", "91.80"),
        ("7.129", 2, "down", "7.12"), ("2.5", 0, "half_up", "3"), ("0.005", 2, "half_up", "0.01"),
    ],
)
def test_round_to_matches_published_examples(value, decimals, mode, expected) -> None:
    from fractions import Fraction

    assert str(round_to(Decimal(value), decimals, mode)) == expected
    assert str(round_to(Fraction(Decimal(value)), decimals, mode)) == expected


# --------------------------------------------------------------------------- panels


def test_absent_judges_are_absent_not_zero() -> None:
    rubric = single("{method: mean, min_panel: 2}")
    r = result(rubric, {"J1": 8, "J3": 9})  # J2 recused: no sheet
    assert r.panel_score_exact == Decimal("8.5") and r.n_judges == 2


@pytest.mark.parametrize(
    "rubric, marks, reason",
    [
        (single("{method: mean, min_panel: 3}"), [8, 9], "有效评分 2 份，少于评分表要求的 3 份"),
        (DIVING_7, [8, 8, 8, 8, 8, 8], "有效评分 6 份，少于评分表要求的 7 份"),
        (single("{method: mean}"), [], "有效评分 0 份，少于评分表要求的 1 份"),
    ],
)
def test_too_small_a_panel_is_incomplete_and_unscored(rubric, marks, reason) -> None:
    r = result(rubric, marks, inputs={"difficulty": 2} if rubric is DIVING_7 else None)
    assert r.status == "incomplete" and not r.ranked
    assert reason in r.reasons
    assert r.final_score is None and r.panel_score is None


def test_a_missing_multiplier_makes_the_result_incomplete() -> None:
    r = result(DIVING_7, [8] * 7)
    assert r.status == "incomplete" and r.final_score is None
    assert r.reasons == ("缺少难度系数（difficulty）",)
    assert r.panel_score == Decimal(24)  # the panel itself is complete


# --------------------------------------------------------------------------- criteria and weights


def exhibit_sheet(k=20, n=16, f=20, y=12, w=8, s=4) -> dict:
    return {"kexuexing": k, "neirong_zuzhi": n, "fudao_fangfa": f, "yuyan_yitai": y, "wenda_yingbian": w, "shijian_kongzhi": s}


def test_weighted_criteria_make_each_judge_total() -> None:
    rubric = load_rubric_text(
        "id: w\nversion: 1\nkind: panel\ntitle: {zh: 加权}\n"
        "criteria:\n  - {id: a, title: {zh: 甲}, max: 10, step: 0.5, weight: 3}\n"
        "  - {id: b, title: {zh: 乙}, max: 10, step: 0.5, weight: 0.5}\n"
        "aggregation: {method: mean}\n"
    )
    r = result(rubric, {"J1": {"a": 8, "b": 6}, "J2": {"a": 9, "b": 10}})
    assert [m.raw for m in r.judges] == [Decimal(27), Decimal(32)]
    assert r.panel_score_exact == Decimal("29.5")
    assert r.criteria["a"].score == Decimal("8.5") and r.criteria["b"].score == Decimal(8)


def test_over_criteria_rounds_each_criterion_then_adds_the_weighted_scores() -> None:
    rubric = load_rubric_text(
        "id: c\nversion: 1\nkind: panel\ntitle: {zh: 分项}\n"
        "criteria:\n  - {id: a, title: {zh: 甲}, max: 10, step: 0.25}\n"
        "  - {id: b, title: {zh: 乙}, max: 10, step: 0.25, weight: 2}\n"
        "aggregation: {over: criteria, method: trimmed_mean, drop_highest: 1, drop_lowest: 1, min_scores: 3, min_panel: 3}\n"
        "rounding: {decimals: 2, mode: half_up, at: [criterion_score]}\n"
    )
    marks = {"J1": {"a": 7, "b": 6}, "J2": {"a": 7.25, "b": 6.25}, "J3": {"a": 7.25, "b": 6.5}, "J4": {"a": 7.5, "b": 9}}
    r = result(rubric, marks)
    assert r.criteria["b"].score == Decimal("6.38")  # 6.375 rounded at the criterion
    assert r.criteria["b"].dropped_high == ("J4",) and r.criteria["b"].dropped_low == ("J1",)
    assert r.final_score == Decimal("20.01")  # 7.25 + 2 × 6.38, not 7.25 + 2 × 6.375 = 20.00


def test_a_computed_criterion_is_added_once() -> None:
    rubric = load_rubric(ROOT / "rubrics/awards/organising-unit.yaml")
    judged = {c.id: c.max - 5 for c in rubric.judged_criteria}
    r = result(rubric, [judged] * 3, inputs={"activities_joined": 17, "reports_on_time": 8})  # 8/17 of 10 → 4.5
    computed = {cid: c.score for cid, c in r.criteria.items() if c.computed}
    judged_total = sum(judged.values())
    assert computed == {"canyu_fugai": Decimal(30), "cailiao_baosong": Decimal("4.5")}
    assert r.final_score == judged_total + sum(computed.values())
    assert all(c.computed for cid, c in r.criteria.items() if cid in ("canyu_fugai", "cailiao_baosong"))
    missing = result(rubric, [judged] * 3, inputs={"activities_joined": 17})
    assert missing.status == "incomplete" and "缺少录入项 reports_on_time" in missing.reasons


def test_total_only_sheets_aggregate_but_cannot_check_a_veto() -> None:
    totals = {f"J{i}": validate_total(EXHIBIT, t) for i, t in enumerate([80, 82.5, 85, 90, 95], start=1)}
    assert entry_result(EXHIBIT, totals).final_score == Decimal("85.83")
    vetoing = {f"J{i}": validate_total(RESOURCES_FINAL, 80) for i in range(5)}
    r = entry_result(RESOURCES_FINAL, vetoing)
    assert r.status == "incomplete" and "缺少「科学性」的分项评分，无法判断一票否决" in r.reasons


# --------------------------------------------------------------------------- penalties


@pytest.mark.parametrize(
    "inputs, penalties, final, points",
    [
        ({}, None, "80.00", "0"),
        ({"duration_seconds": 300}, None, "80.00", "0"),
        ({"duration_seconds": 301}, None, "79.00", "1"),
        ({"duration_seconds": 330}, None, "79.00", "1"),
        ({"duration_seconds": 331}, None, "78.00", "2"),
        ({"duration_seconds": 900}, None, "75.00", "5"),  # capped at 5
        ({}, {"identity_disclosed": 1}, "78.00", "2"),
        ({"duration_seconds": 335}, {"identity_disclosed": 1}, "76.00", "4"),
    ],
)
def test_penalties_apply_after_aggregation(inputs, penalties, final, points) -> None:
    marks = [exhibit_sheet()] * 5  # each judge 80
    r = result(EXHIBIT, marks, inputs=inputs, penalties=penalties)
    assert str(r.panel_score) == "80.00"
    assert str(r.final_score) == final
    assert r.penalty_points == Decimal(points)


def test_overtime_without_a_recorded_duration_is_noted() -> None:
    r = result(EXHIBIT, [exhibit_sheet()] * 5)
    assert "未录入用时（duration_seconds），未计超时扣分" in r.notes


def test_a_restarted_dive_loses_two_points_from_each_judge_never_below_zero() -> None:
    # SOURCES.md §2: a penalised dive equals (middle-3 sum − 3 × 2) × DD
    r = result(DIVING_7, [7, 7, 7, 7, 7, 7, 7], inputs={"difficulty": 2}, penalties={"restarted": 1})
    assert str(r.final_score) == "30.00"
    assert [m.counted for m in r.judges] == [Decimal(5)] * 7 and r.judges[0].raw == Decimal(7)
    low = result(DIVING_7, [1, 1.5, 1, 1, 6, 1, 1], inputs={"difficulty": 2}, penalties={"restarted": 1})
    assert low.final_score == Decimal("0.00")  # every kept mark floored at 0


def test_invalid_entry_records_are_refused() -> None:
    with pytest.raises(SheetInvalid) as info:
        result(EXHIBIT, [exhibit_sheet()] * 5, penalties={"late": 1}, inputs={"duration_seconds": -1})
    assert [e.field for e in info.value.errors] == ["penalties.late", "inputs.duration_seconds"]


# --------------------------------------------------------------------------- disqualification and veto


@pytest.mark.parametrize(
    "rubric, judge_flags, entry_flags, status",
    [
        (EXPERIMENT, {}, ["safety_breach"], "disqualified"),  # decided by the chief judge
        (EXPERIMENT, {"J1": ["safety_breach"], "J2": ["safety_breach"]}, [], "ok"),  # judges' marks decide nothing
        (RESOURCES_FINAL, {"J1": ["scientific_error"], "J2": ["scientific_error"], "J3": ["scientific_error"]}, [], "disqualified"),
        (RESOURCES_FINAL, {"J1": ["scientific_error"], "J2": ["scientific_error"]}, [], "ok"),  # 2 of 5 is no majority
        (RESOURCES_PRELIM, {"J2": ["scientific_error"]}, [], "disqualified"),  # any judge
    ],
)
def test_disqualifying_flags_by_who_decides(rubric, judge_flags, entry_flags, status) -> None:
    scores = {c.id: c.max - 2 for c in rubric.judged_criteria}
    judges = {f"J{i}": validate_sheet(rubric, scores, flags=judge_flags.get(f"J{i}", ())) for i in range(1, 6)}
    r = entry_result(rubric, judges, flags=entry_flags)
    assert r.status == status
    if judge_flags:
        assert set(r.flag_marks[next(iter(r.flag_marks))]) == set(judge_flags)
    if status == "disqualified":
        assert r.final_score is not None and r.reasons[0].endswith("取消资格")


def veto_rubric(scope: str):
    return load_rubric_text(
        "id: v\nversion: 1\nkind: panel\ntitle: {zh: 否决}\n"
        f"criteria:\n  - {{id: kexuexing, title: {{zh: 科学性}}, max: 30, step: 0.5, veto: {{below: 18, scope: {scope}}}}}\n"
        "  - {id: other, title: {zh: 其他}, max: 70, step: 0.5}\n"
        "aggregation: {method: trimmed_mean, drop_highest: 1, drop_lowest: 1, min_scores: 5, min_panel: 5}\n"
    )


@pytest.mark.parametrize(
    "scope, kexuexing, status",
    [
        ("panel", [17, 17.5, 17.5, 25, 30], "ok"),  # the kept marks average (17.5 + 17.5 + 25) / 3 = 20
        ("panel", [10, 17, 17.5, 17.5, 30], "vetoed"),  # (17 + 17.5 + 17.5) / 3 = 17.33 < 18
        ("panel", [18, 18, 18, 18, 18], "ok"),  # exactly 18 is not below
        ("any_judge", [17.5, 25, 25, 25, 25], "vetoed"),
        ("any_judge", [18, 25, 25, 25, 25], "ok"),
        ("majority", [17, 17, 17, 25, 25], "vetoed"),
        ("majority", [17, 17, 25, 25, 25], "ok"),
    ],
)
def test_veto_by_scope(scope, kexuexing, status) -> None:
    rubric = veto_rubric(scope)
    r = result(rubric, [{"kexuexing": k, "other": 60} for k in kexuexing])
    assert r.status == status
    if status == "vetoed":
        assert "一票否决" in r.reasons[0] and not r.ranked


def test_resources_final_vetoes_a_low_panel_scientific_score() -> None:
    base = {c.id: c.max - 2 for c in RESOURCES_FINAL.judged_criteria}
    marks = [{**base, "kexuexing": k} for k in (15, 16, 17, 17.5, 28)]
    r = result(RESOURCES_FINAL, marks)
    assert r.status == "vetoed"
    assert r.reasons == ("「科学性」评审组得分 约 16.83 低于 18（一票否决）",)  # (16 + 17 + 17.5) / 3


# --------------------------------------------------------------------------- the record


def test_sheets_scored_on_another_rubric_are_refused() -> None:
    other = sheets(DIVING_5, [8] * 7)
    with pytest.raises(ValueError, match="example-diving-5 v1, not example-diving-7 v1"):
        entry_result(DIVING_7, other, inputs={"difficulty": 2})


def test_the_result_records_tie_break_figures() -> None:
    r = result(single("{method: trimmed_mean, drop_highest: 1, drop_lowest: 1, min_scores: 5, min_panel: 5}"), [5, 6, 7, 8, 10])
    assert (r.raw_sum, r.raw_mean, r.raw_median) == (Decimal(36), Decimal("7.2"), Decimal(7))
    assert r.criteria["total"].score == Decimal(7)
