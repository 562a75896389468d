"""Score-sheet validation: every bad field is named, with a stable code and a Chinese message.

A judge on a tablet sees only the message; an API client acts on the code. Each case states the
field path and code the client would receive.
"""
from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from scoring.rubric import load_rubric, load_rubric_text
from scoring.sheets import FieldError, SheetInvalid, check_entry_record, parse_number, validate_sheet, validate_total

ROOT = Path(__file__).resolve().parents[2]

PANEL = """\
id: test-sheet
version: 3
kind: panel
title: {zh: 测试评分表}
criteria:
  - {id: kexuexing, title: {zh: 科学性}, max: 25, step: 0.5}
  - {id: biaoda, title: {zh: 表达}, min: 2, max: 10, step: 0.25, weight: 2}
  - {id: canyu, title: {zh: 参与覆盖}, max: 5, step: 0.5, computed: {input: activities, full_at: 10}}
penalties:
  overtime: {limit_seconds: 300, per_started_seconds: 30, points: 1, cap: 5}
  deductions:
    - {id: identity_disclosed, title: {zh: 透露身份}, points: 2, max_count: 2}
  flags:
    - {id: safety_breach, title: {zh: 安全事故}, effect: disqualify, requires_comment: true}
    - {id: scientific_error, title: {zh: 科学性错误}, effect: disqualify, decided_by: majority}
aggregation: {method: mean}
"""
RUBRIC = load_rubric_text(PANEL)
DIVING = load_rubric(ROOT / "rubrics/examples/diving-7.yaml")
GOOD = {"kexuexing": 20, "biaoda": 8}


def codes(exc: SheetInvalid) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in exc.errors]


@pytest.mark.parametrize(
    "scores, expected",
    [
        ({"kexuexing": 20}, [("scores.biaoda", "missing")]),
        ({"kexuexing": None, "biaoda": 8}, [("scores.kexuexing", "missing")]),
        ({"kexuexing": "  ", "biaoda": 8}, [("scores.kexuexing", "missing")]),
        ({**GOOD, "kexue": 3}, [("scores.kexue", "unknown")]),
        ({**GOOD, "canyu": 3}, [("scores.canyu", "not_judged")]),  # computed from entry data
        ({"kexuexing": "abc", "biaoda": 8}, [("scores.kexuexing", "not_a_number")]),
        ({"kexuexing": "8,5", "biaoda": 8}, [("scores.kexuexing", "not_a_number")]),
        ({"kexuexing": float("nan"), "biaoda": 8}, [("scores.kexuexing", "not_a_number")]),
        ({"kexuexing": float("inf"), "biaoda": 8}, [("scores.kexuexing", "not_a_number")]),
        ({"kexuexing": "NaN", "biaoda": 8}, [("scores.kexuexing", "not_a_number")]),
        ({"kexuexing": "-Infinity", "biaoda": 8}, [("scores.kexuexing", "not_a_number")]),
        ({"kexuexing": Decimal("sNaN"), "biaoda": 8}, [("scores.kexuexing", "not_a_number")]),
        ({"kexuexing": True, "biaoda": 8}, [("scores.kexuexing", "not_a_number")]),
        ({"kexuexing": [20], "biaoda": 8}, [("scores.kexuexing", "not_a_number")]),
        ({"kexuexing": 25.5, "biaoda": 8}, [("scores.kexuexing", "out_of_range")]),
        ({"kexuexing": -0.5, "biaoda": 8}, [("scores.kexuexing", "out_of_range")]),
        ({"kexuexing": 20, "biaoda": 1.75}, [("scores.biaoda", "out_of_range")]),  # below min 2
        ({"kexuexing": 20.3, "biaoda": 8}, [("scores.kexuexing", "off_step")]),
        ({"kexuexing": "20.25", "biaoda": 8}, [("scores.kexuexing", "off_step")]),
        ({"kexuexing": 20, "biaoda": 2.1}, [("scores.biaoda", "off_step")]),  # the grid starts at min
        ({"kexuexing": "20.5000000000000000000000000000000000000000000000000000000000001", "biaoda": 8},
         [("scores.kexuexing", "off_step")]),
        (
            {"kexuexing": 20.3, "biaoda": "x", "extra": 1},
            [("scores.kexuexing", "off_step"), ("scores.biaoda", "not_a_number"), ("scores.extra", "unknown")],
        ),
        ({}, [("scores.kexuexing", "missing"), ("scores.biaoda", "missing")]),
        ("20", [("scores", "not_a_mapping")]),
    ],
)
def test_bad_scores_are_refused_field_by_field(scores, expected) -> None:
    with pytest.raises(SheetInvalid) as info:
        validate_sheet(RUBRIC, scores)
    assert codes(info.value) == expected


@pytest.mark.parametrize(
    "scores, total",
    [
        ({"kexuexing": 20, "biaoda": 8}, "36"),
        ({"kexuexing": "20.5", "biaoda": "8.25"}, "37.00"),  # strings from a form or CSV
        ({"kexuexing": "２０.５", "biaoda": " 8.25 "}, "37.00"),  # full-width digits, spaces
        ({"kexuexing": 20.5, "biaoda": 8.75}, "38.00"),  # floats through their shortest repr
        ({"kexuexing": Decimal("25.0"), "biaoda": 10}, "45.0"),
        ({"kexuexing": 0, "biaoda": 2}, "4"),
    ],
)
def test_valid_sheets_hold_exact_scores_and_the_weighted_total(scores, total) -> None:
    sheet = validate_sheet(RUBRIC, scores)
    assert sheet.total == Decimal(total)
    assert all(isinstance(v, Decimal) for v in sheet.scores.values())
    assert set(sheet.scores) == {"kexuexing", "biaoda"}  # the computed criterion is not judged
    assert (sheet.rubric_id, sheet.rubric_version) == ("test-sheet", 3)


def test_a_sheet_cannot_be_changed_after_validation() -> None:
    sheet = validate_sheet(RUBRIC, GOOD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sheet.total = Decimal(99)  # type: ignore[misc]
    with pytest.raises(TypeError):
        sheet.scores["kexuexing"] = Decimal(25)  # type: ignore[index]


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(penalties={"late": 1}), [("penalties.late", "unknown")]),
        (dict(penalties={"identity_disclosed": 3}), [("penalties.identity_disclosed", "out_of_range")]),
        (dict(penalties={"identity_disclosed": -1}), [("penalties.identity_disclosed", "out_of_range")]),
        (dict(penalties={"identity_disclosed": 1.5}), [("penalties.identity_disclosed", "not_an_integer")]),
        (dict(penalties={"identity_disclosed": "two"}), [("penalties.identity_disclosed", "not_an_integer")]),
        (dict(penalties={"duration_seconds": 320}), [("penalties.duration_seconds", "unknown")]),
        (dict(flags=["fire"]), [("flags.fire", "unknown")]),
        (dict(flags=["safety_breach"], comment=" "), [("comment", "comment_required")]),
        (dict(inputs={"difficulty": 2}), [("inputs.difficulty", "unknown")]),
        (dict(inputs={"duration_seconds": -5}), [("inputs.duration_seconds", "out_of_range")]),
        (dict(inputs={"duration_seconds": "5 min"}), [("inputs.duration_seconds", "not_a_number")]),
        (dict(inputs={"activities": float("nan")}), [("inputs.activities", "not_a_number")]),
        (
            dict(penalties={"late": 1}, flags=["fire"], inputs={"duration_seconds": -1}),
            [("penalties.late", "unknown"), ("flags.fire", "unknown"), ("inputs.duration_seconds", "out_of_range")],
        ),
    ],
)
def test_penalties_flags_and_inputs_are_validated(kwargs, expected) -> None:
    with pytest.raises(SheetInvalid) as info:
        validate_sheet(RUBRIC, GOOD, **kwargs)
    assert codes(info.value) == expected


def test_valid_penalties_flags_and_inputs_are_kept_on_the_sheet() -> None:
    sheet = validate_sheet(
        RUBRIC, GOOD, penalties={"identity_disclosed": "1"}, flags=["safety_breach", "scientific_error"],
        inputs={"duration_seconds": "312", "activities": 7}, comment="实验中酒精灯倾倒",
    )
    assert sheet.deductions == {"identity_disclosed": 1}
    assert sheet.flags == {"safety_breach", "scientific_error"}
    assert sheet.inputs == {"duration_seconds": Decimal(312), "activities": Decimal(7)}
    # a flag needing a comment is only checked when the caller records comments here
    assert validate_sheet(RUBRIC, GOOD, flags="safety_breach").flags == {"safety_breach"}


@pytest.mark.parametrize(
    "difficulty, code",
    [("3.4", None), (3.4, None), ("5.0", None), ("5.5", "out_of_range"), ("0.9", "out_of_range"), ("2.05", "off_step")],
)
def test_the_multiplier_is_checked_against_its_range_and_step(difficulty, code) -> None:
    if code is None:
        record = check_entry_record(DIVING, inputs={"difficulty": difficulty})
        assert record.inputs["difficulty"] == Decimal(str(difficulty))
    else:
        with pytest.raises(SheetInvalid) as info:
            check_entry_record(DIVING, inputs={"difficulty": difficulty})
        assert codes(info.value) == [("inputs.difficulty", code)]


def test_messages_are_chinese_and_name_the_criterion() -> None:
    with pytest.raises(SheetInvalid) as info:
        validate_sheet(RUBRIC, {"kexuexing": 26, "biaoda": 8.1})
    first, second = info.value.errors
    assert first == FieldError("scores.kexuexing", "out_of_range", "「科学性」的分数应在 0 至 25 之间（收到 26）")
    assert second.message == "「表达」的分数须以 0.25 分为单位（收到 8.1）"
    assert info.value.as_json()[0] == {"field": "scores.kexuexing", "code": "out_of_range", "message": first.message}
    assert "scores.kexuexing" in str(info.value)


@pytest.mark.parametrize(
    "total, code",
    [("44.5", None), ("4", None), ("45", None), ("3.5", "out_of_range"), ("45.5", "out_of_range"),
     ("10.25", "off_step"), ("abc", "not_a_number"), (None, "missing")],
)
def test_a_total_only_sheet_is_checked_against_reachable_totals(total, code) -> None:
    # Totals run from 0 + 2×2 = 4 to 25 + 2×10 = 45 on a grain of gcd(0.5, 2×0.25) = 0.5.
    if code is None:
        sheet = validate_total(RUBRIC, total)
        assert sheet.total == Decimal(total) and not sheet.itemised and sheet.scores == {}
    else:
        with pytest.raises(SheetInvalid) as info:
            validate_total(RUBRIC, total)
        assert codes(info.value) == [("scores.total", code)]


def test_a_total_on_a_single_criterion_rubric_is_that_criterion() -> None:
    assert validate_total(DIVING, "8.5") == validate_sheet(DIVING, {"total": "8.5"})


@pytest.mark.parametrize(
    "value, expected",
    [(8, Decimal(8)), ("8.50", Decimal("8.50")), (0.1, Decimal("0.1")), ("１０", Decimal(10)),
     (None, "missing"), ("", "missing"), (False, "not_a_number"), ("1e400x", "not_a_number"), (object(), "not_a_number")],
)
def test_parse_number(value, expected) -> None:
    assert parse_number(value) == expected


def test_rubrics_without_score_sheets_are_refused() -> None:
    checklist = load_rubric(ROOT / "rubrics/resources/format-check.yaml")
    with pytest.raises(ValueError, match="checklist"):
        validate_sheet(checklist, {})
