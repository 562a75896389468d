"""Teacher-training assessment: each case is a rule of rubrics/training/assessment.yaml, or of
a variant of that file, so a changed file visibly changes the outcome.

Rules: scoring/rubric.py `Component`, `Attendance`, `Eligibility`, `Excellence`, `Rounding`;
scoring/assessment.py; DOMAIN.md "Teacher training".
"""
from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from scoring.assessment import (
    Outcome,
    TraineeInput,
    attendance_rate,
    evaluate,
    summarise_sessions,
)
from scoring.rubric import load_rubric, load_rubric_text

ROOT = Path(__file__).resolve().parents[2]
FILE = ROOT / "rubrics/training/assessment.yaml"
REAL = load_rubric(FILE)
TEXT = FILE.read_text("utf-8")
D = Decimal


def variant(*edits: tuple[str, str]):
    """The real rubric file with each `old` text replaced by `new` (each must occur once)."""
    text = TEXT
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return load_rubric_text(text, "variant")


def trainee(key="t", present=10, absent=0, excused=0, none=0, cw="80", cd="85.5", pr="90",
            cd_max="100", pr_max="100") -> TraineeInput:
    """A trainee on the real components; a score of None is not yet available."""
    comps = {"coursework": cw, "course_design": cd, "presentation": pr}
    return TraineeInput(
        key=key,
        slots=["present"] * present + ["absent"] * absent + ["excused"] * excused + ["none"] * none,
        components={k: None if v is None else D(v) for k, v in comps.items()},
        rubric_max={"course_design": D(cd_max), "presentation": D(pr_max)},
    )


# ten trainees with full marks, so the trainee under test is never in the top 15% by rank alone
# (alone, anyone who passes would be: the top 15% of one is one trainee)
BEST = [trainee(f"best{i}", cw="100", cd="100", pr="100") for i in range(10)]


def one(rubric, t: TraineeInput) -> Outcome:
    """`t`'s outcome in a session with the ten best trainees."""
    return evaluate(rubric, [t] + BEST)[0]


# --------------------------------------------------------------------------- attendance rate

RATE_CASES = [
    pytest.param([], "0", None, id="no-slots-no-rate"),
    pytest.param(["present"] * 4, "0", "1", id="all-present"),
    pytest.param(["present"] * 7 + ["absent"] * 2, "0", "0.7777777777777777777777777778", id="seven-of-nine"),
    pytest.param(["present"] * 8 + ["none"] * 2, "0", "0.8", id="unmarked-counts-absent"),
    pytest.param(["present"] * 6 + ["excused"] * 2 + ["absent"] * 2, "0", "0.6", id="excused-weight-0"),
    pytest.param(["present"] * 6 + ["excused"] * 2 + ["absent"] * 2, "0.5", "0.7", id="excused-weight-half"),
    pytest.param(["excused"] * 2, "1", "1", id="excused-weight-1"),
]


@pytest.mark.parametrize("slots, weight, expected", RATE_CASES)
def test_attendance_rate(slots, weight, expected) -> None:
    rate = attendance_rate(slots, D(weight))
    assert rate == (None if expected is None else D(expected))


def test_attendance_rate_refuses_an_unknown_status() -> None:
    with pytest.raises(ValueError, match=r"slot 2: unknown attendance status 'late'"):
        attendance_rate(["present", "late"], D(0))


# --------------------------------------------------------------------------- the real rubric

REAL_CASES = [
    pytest.param(
        trainee(), "passed", "88.20", False, ["总评 88.20 ≥ 合格线 60"],
        id="20+16+34.2+18-passes",
    ),
    pytest.param(
        trainee(present=7, absent=2), "failed", "83.76", False,
        ["出勤率 77.8% < 80%（出勤率不低于 80%）"],
        id="attendance-7-of-9-fails-whatever-the-total",
    ),
    pytest.param(
        trainee(present=8, absent=2), "passed", "84.20", False, ["总评 84.20 ≥ 合格线 60"],
        id="attendance-exactly-80-percent-is-enough",
    ),
    pytest.param(
        trainee(present=7, excused=3), "failed", "82.20", False,
        ["出勤率 70% < 80%（出勤率不低于 80%）"],
        id="excused-counts-nothing-in-the-real-file",
    ),
    pytest.param(
        trainee(present=8, none=2), "passed", "84.20", False, ["总评 84.20 ≥ 合格线 60"],
        id="unmarked-half-days-count-absent",
    ),
    pytest.param(
        trainee(cw="30", cd="40", pr="50"), "failed", "52.00", False, ["总评 52.00 < 合格线 60"],
        id="total-below-pass-mark",
    ),
    pytest.param(
        trainee(present=6, absent=4, cw="30", cd="40", pr="50"), "failed", "44.00", False,
        ["出勤率 60% < 80%（出勤率不低于 80%）", "总评 44.00 < 合格线 60"],
        id="every-failure-is-a-reason",
    ),
    pytest.param(
        trainee(cd=None), "pending", None, False, ["课程/活动设计尚未评分"],
        id="missing-rubric-score-is-pending",
    ),
    pytest.param(
        trainee(present=5, absent=5, pr=None), "pending", None, False,
        ["出勤率 50% < 80%（出勤率不低于 80%）", "成果汇报尚未评分"],
        id="pending-still-lists-attendance-failures",
    ),
    pytest.param(
        trainee(present=0), "pending", None, False, ["出勤尚未记录"],
        id="no-attendance-record-is-pending",
    ),
    pytest.param(
        trainee(cw="0", cd="99.9875", pr="0"), "passed", "60.00", False, ["总评 60.00 ≥ 合格线 60"],
        id="59.995-rounds-half-up-to-60.00-and-passes",
    ),
    pytest.param(
        trainee(cd="45", cd_max="50", pr="27", pr_max="30"), "passed", "90.00", True,
        ["总评 90.00 ≥ 合格线 60", "总评 90.00 ≥ 90"],
        id="rubric-scores-scaled-by-their-max-total",
    ),
    pytest.param(
        trainee(present=79, absent=21, cw="100", cd="100", pr="100"), "failed", "95.80", False,
        ["出勤率 79% < 80%（出勤率不低于 80%）"],
        id="excellent-total-but-attendance-fails",
    ),
    pytest.param(
        trainee(present=7996, absent=2004, cw="100", cd="100", pr="100"), "failed", "95.99", False,
        ["出勤率 79.9% < 80%（出勤率不低于 80%）"],
        id="79.96-percent-is-never-shown-as-80",
    ),
]


@pytest.mark.parametrize("t, status, total, excellent, reasons", REAL_CASES)
def test_real_rubric(t, status, total, excellent, reasons) -> None:
    o = one(REAL, t)
    assert o.status == status
    assert o.total == (None if total is None else D(total))
    if total is not None:
        assert str(o.total) == total  # published places kept
    assert o.excellent is excellent
    assert list(o.reasons_zh) == reasons
    assert len(o.reasons_en) == len(o.reasons_zh)


def test_components_are_reported_exactly() -> None:
    o = one(REAL, trainee(present=7, absent=2, cd="17", cd_max="30"))
    by_id = {c.id: c for c in o.components}
    assert [c.id for c in o.components] == ["attendance", "coursework", "course_design", "presentation"]
    assert by_id["attendance"].raw == o.attendance_rate == D("0.7777777777777777777777777778")
    assert by_id["attendance"].scaled == D("77.77777777777777777777777778")
    assert by_id["course_design"].raw == D("17")
    assert by_id["course_design"].scaled == D("56.66666666666666666666666667")
    assert by_id["coursework"].weighted == D("16.0")
    # the total is rounded once from the exact sum: 15.5556 + 16 + 22.6667 + 18 = 72.2222...
    assert o.total == D("72.22")
    assert by_id["course_design"].title_zh == "课程/活动设计"


def test_english_reasons() -> None:
    o = one(REAL, trainee(present=6, absent=4, cd=None))
    assert o.reasons_en == ("attendance 60% < 80% (Attendance of at least 80%)", "Course or activity design not yet scored")


# --------------------------------------------------------------------------- the file decides

VARIANT_CASES = [
    pytest.param((), trainee(cw="65", cd="55", pr="60"), "passed", "67.00", id="real-file-67-passes"),
    pytest.param((("pass_mark: 60", "pass_mark: 70"),), trainee(cw="65", cd="55", pr="60"), "failed", "67.00",
                 id="pass-mark-70-fails-the-same-trainee"),
    pytest.param((), trainee(present=7, excused=2, absent=1), "failed", "82.20", id="real-excused-weight-0"),
    pytest.param((("excused_weight: 0", "excused_weight: 0.5"),), trainee(present=7, excused=2, absent=1),
                 "passed", "84.20", id="excused-weight-half-reaches-80-percent"),
    pytest.param((("at_least: 0.8", "at_least: 0.7"),), trainee(present=7, absent=3), "passed", "82.20",
                 id="attendance-bound-70-percent"),
    pytest.param((("mode: half_up", "mode: down"),), trainee(cw="0", cd="99.9875", pr="0"), "failed", "59.99",
                 id="rounding-down-59.995-fails"),
    pytest.param((("decimals: 2", "decimals: 0"),), trainee(cw="0", cd="98.75", pr="0"), "passed", "60",
                 id="whole-points-59.5-rounds-to-60-and-passes"),
]


@pytest.mark.parametrize("edits, t, status, total", VARIANT_CASES)
def test_changing_the_file_changes_the_outcome(edits, t, status, total) -> None:
    o = one(variant(*edits), t)
    assert (o.status, str(o.total)) == (status, total)


def test_component_eligibility_rule() -> None:
    rubric = variant((
        "pass_mark: 60",
        "  - id: design_min\n    title: {zh: 课程设计不低于 60 分}\n    component: course_design\n"
        "    at_least: 60\n\npass_mark: 60",
    ))
    failed = one(rubric, trainee(cw="100", cd="55", pr="100"))
    assert failed.status == "failed"
    assert failed.reasons_zh == ("课程/活动设计 55 < 60（课程设计不低于 60 分）",)
    thirds = one(rubric, trainee(cw="100", cd="17.9", cd_max="30", pr="100"))  # 59.666...
    assert thirds.reasons_zh == ("课程/活动设计 59.67 < 60（课程设计不低于 60 分）",)
    assert one(rubric, trainee(cw="100", cd="60", pr="100")).status == "passed"


# --------------------------------------------------------------------------- rank and excellence


def cohort(rubric, totals: list[str | None]) -> list[Outcome]:
    """Trainees whose three scored components all get the given score (see `v`); None is
    pending, "fail:x" fails on attendance (5 of 10 half-days)."""
    people = []
    for i, total in enumerate(totals):
        if total is None:
            people.append(trainee(f"p{i}", cd=None))
        elif total.startswith("fail:"):
            v = total[5:]
            people.append(trainee(f"p{i}", present=5, absent=5, cw=v, cd=v, pr=v))
        else:
            people.append(trainee(f"p{i}", cw=total, cd=total, pr=total))
    return evaluate(rubric, people)


def v(total: float) -> str:
    """The score of every scored component that gives `total` with full attendance:
    total = 20 + 0.2 v + 0.4 v + 0.2 v."""
    return str((D(str(total)) - 20) / D("0.8"))


FIELD20 = [v(t) for t in (95, 89, 87, 87, 86, 85, 84, 83, 82, 81, 80, 79, 78, 77, 76, 75, 74, 73, 72, 71)]

EXCELLENCE_CASES = [
    pytest.param((), FIELD20, [0, 1, 2, 3], id="real-any-90-or-top-3-ties-higher-all-in"),
    pytest.param((("ties_at_cutoff: higher", "ties_at_cutoff: lower"),), FIELD20, [0, 1],
                 id="ties-lower-both-tied-at-cutoff-out"),
    pytest.param((("combine: any", "combine: all"),), FIELD20, [0], id="combine-all-needs-90-and-top-share"),
    pytest.param((("  min_total: 90\n", ""),), FIELD20, [0, 1, 2, 3], id="top-share-only"),
    pytest.param((("  top_share: 0.15\n", ""),), FIELD20, [0], id="min-total-only"),
    pytest.param((("top_share: 0.15", "top_share: 0.1"),), FIELD20, [0, 1], id="top-10-percent-of-20-is-2"),
    # 10 pass, 10 fail on attendance: 15% of passed = ceil(1.5) = 2; of all = 3
    pytest.param(
        (("  min_total: 90\n", ""),),
        [v(t) for t in (88, 87, 86, 85, 84, 83, 82, 81, 80, 79)] + ["fail:" + v(99)] * 10, [0, 1],
        id="share-of-passed",
    ),
    pytest.param(
        (("  min_total: 90\n", ""), ("share_of: passed", "share_of: all")),
        [v(t) for t in (88, 87, 86, 85, 84, 83, 82, 81, 80, 79)] + ["fail:" + v(99)] * 10, [0, 1, 2],
        id="share-of-all-failed-never-excellent",
    ),
    pytest.param((), [v(t) for t in (70, 65)] + [None] * 3, [0], id="pending-never-excellent"),
    pytest.param((), [v(50)], [], id="nobody-passed"),
]


@pytest.mark.parametrize("edits, scores, excellent", EXCELLENCE_CASES)
def test_excellence(edits, scores, excellent) -> None:
    outcomes = cohort(variant(*edits), scores)
    assert [i for i, o in enumerate(outcomes) if o.excellent] == excellent
    assert all(o.status == "passed" for o in outcomes if o.excellent)


def test_excellence_reasons() -> None:
    outcomes = cohort(REAL, FIELD20)
    assert outcomes[0].reasons_zh[1:] == ("总评 95.00 ≥ 90", "位列前 15%（第 1 名，共 20 名合格学员中前 3 名）")
    assert outcomes[2].reasons_zh[1:] == ("位列前 15%（第 3 名，并列 2 人，共 20 名合格学员中前 3 名）",)
    assert outcomes[4].reasons_zh == ("总评 86.00 ≥ 合格线 60",)
    assert outcomes[2].reasons_en[1] == "in the top 15% (rank 3, tied with 1 other(s); top 3 of 20 passed trainees)"


def test_ranks_share_ties_and_skip_pending() -> None:
    # the attendance failure counts too: half the attendance gives 10 + 0.8 × 81.25 = 75
    outcomes = cohort(REAL, [v(80), v(90), None, v(80), "fail:" + v(85), v(70)])
    assert [o.rank for o in outcomes] == [2, 1, None, 2, 4, 5]


def test_order_and_keys_are_kept() -> None:
    people = [trainee("b"), trainee("a", cd=None), trainee("c", present=1, absent=9)]
    assert [o.key for o in evaluate(REAL, people)] == ["b", "a", "c"]
    assert evaluate(REAL, []) == []


# --------------------------------------------------------------------------- bad input

BAD_CASES = [
    pytest.param(trainee(cw="100.5"), r"component coursework: score 100.5 is outside 0..100", id="score-above-max"),
    pytest.param(trainee(cw="-1"), r"score -1 is outside 0..100", id="negative-score"),
    pytest.param(trainee(cd="51", cd_max="50"), r"course_design: score 51 is outside 0..50", id="rubric-score-above-its-max"),
    pytest.param(TraineeInput("x", ["present"], {"homework": D(1)}), r"unknown component 'homework'", id="unknown-component"),
    pytest.param(TraineeInput("x", ["present"], {"attendance": D(1)}), r"comes from the slots", id="attendance-given-as-score"),
    pytest.param(TraineeInput("x", ["present", "late"], {}), r"trainee 'x': slot 2: unknown attendance status 'late'", id="unknown-slot-status"),
    pytest.param(TraineeInput("x", ["present"], {"course_design": D(80)}), r"rubric_max is needed", id="rubric-score-without-max"),
    pytest.param(TraineeInput("x", ["present"], {}, {"coursework": D(100)}), r"not a rubric component", id="rubric-max-for-a-score"),
    pytest.param(TraineeInput("x", ["present"], {}, {"course_design": D(0)}), r"must be above 0", id="rubric-max-zero"),
    pytest.param(TraineeInput("x", ["present"], {"coursework": True}), r"must be a number", id="bool-score"),
    pytest.param(TraineeInput("x", ["present"], {"coursework": "80"}), r"must be a number", id="string-score"),
    pytest.param(TraineeInput("x", ["present"], {"coursework": D("NaN")}), r"finite", id="nan-score"),
]


@pytest.mark.parametrize("t, message", BAD_CASES)
def test_bad_input_is_refused_clearly(t, message) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(REAL, [t])


def test_only_an_assessment_rubric() -> None:
    panel = load_rubric(ROOT / "rubrics/training/course-design.yaml")
    with pytest.raises(ValueError, match="not an assessment"):
        evaluate(panel, [])


def test_floats_and_ints_are_read_exactly() -> None:
    t = TraineeInput("x", ["present"] * 10, {"coursework": 80, "course_design": 85.5, "presentation": D(90)},
                     {"course_design": 100, "presentation": D(100)})
    o = one(REAL, t)
    assert o.total == D("88.20")
    assert [c.raw for c in o.components[1:]] == [D(80), D("85.5"), D(90)]


# --------------------------------------------------------------------------- sessions compared


def outcomes(passed: int = 0, failed: int = 0, pending: int = 0, totals: list[float] | None = None,
             excellent: int = 0) -> list[Outcome]:
    """Outcomes with the given statuses; totals default to 80 for passed, 50 for failed."""
    statuses = ["passed"] * passed + ["failed"] * failed
    values = totals if totals is not None else [80.0] * passed + [50.0] * failed
    assert len(values) == len(statuses)
    out = [
        Outcome(key=i, status=s, total=D(str(t)), attendance_rate=D(1), components=(), excellent=i < excellent,
                reasons_zh=(), reasons_en=(), rank=None)
        for i, (s, t) in enumerate(zip(statuses, values))
    ]
    out += [Outcome(key=f"p{i}", status="pending", total=None, attendance_rate=None, components=(), excellent=False,
                    reasons_zh=(), reasons_en=(), rank=None) for i in range(pending)]
    return out


def spread(centre: float, n: int = 12, step: float = 2.0) -> list[float]:
    """n totals around `centre`, `step` apart (IQR about step × n / 2)."""
    return [centre + step * (i - (n - 1) / 2) for i in range(n)]


# four ordinary sessions: 90% pass, medians 80, 81.5, 83 and 78.5 (the 36 passed totals sit
# 2 points apart around centre, the 4 failed at 50, so the median is centre - 4), wide spread
NORMAL = [
    (f"s{i}", f"第{i}期", outcomes(passed=36, failed=4, totals=spread(centre, 36) + [50.0] * 4))
    for i, centre in enumerate((84, 85.5, 87, 82.5))
]

FLAG_CASES = [
    pytest.param(
        NORMAL + [("x", "第9期", outcomes(passed=9, failed=11, totals=spread(80, 20)))],
        [r"合格率 45%，明显低于其他各期合计的 90%（p < 0\.0001）"],
        id="pass-rate-far-below",
    ),
    pytest.param(
        [(f"s{i}", f"第{i}期", outcomes(passed=20, failed=20, totals=spread(60, 40))) for i in range(4)]
        + [("x", "第9期", outcomes(passed=20, failed=0, totals=spread(60, 20)))],
        [r"合格率 100%，明显高于其他各期合计的 50%（p < 0\.0001）"],
        id="pass-rate-far-above",
    ),
    pytest.param(
        NORMAL + [("x", "第9期", outcomes(passed=2, failed=7, totals=spread(80, 9)))],
        [],
        id="fewer-than-10-decided-not-tested",
    ),
    pytest.param(
        NORMAL + [("x", "第9期", outcomes(passed=14, failed=6, totals=spread(80, 20)))],
        [],
        id="70-vs-90-percent-on-20-is-not-significant-at-1-percent",
    ),
    pytest.param(
        NORMAL + [("x", "第9期", outcomes(passed=36, failed=4, totals=spread(65, 36) + [50.0] * 4))],
        [r"总评中位数 61\.0，远低于其他各期中位数的中位数 80\.8（稳健 z = -[0-9.]+）"],
        id="median-far-below",
    ),
    pytest.param(
        NORMAL[:3] + [("x", "第9期", outcomes(passed=36, failed=4, totals=spread(65, 36) + [50.0] * 4))],
        [],
        id="fewer-than-5-sessions-no-median-flag",
    ),
    pytest.param(
        NORMAL + [("x", "第9期", outcomes(passed=12, totals=spread(80, 12, 0.25)))],
        [r"总评过于集中：四分位距仅 1\.4 分（Q1 79\.3，Q3 80\.7，共 12 人），评分可能未能区分学员"],
        id="narrow-spread",
    ),
    pytest.param(
        NORMAL + [("x", "第9期", outcomes(passed=9, totals=spread(80, 9, 0.25)))],
        [],
        id="narrow-but-fewer-than-10-not-flagged",
    ),
]


@pytest.mark.parametrize("sessions, flags", FLAG_CASES)
def test_out_of_line_sessions_are_flagged(sessions, flags) -> None:
    summaries = summarise_sessions(sessions)
    assert [s.key for s in summaries] == [k for k, _, _ in sessions]
    last = summaries[-1]
    assert len(last.flags_zh) == len(flags) == len(last.flags_en)
    for text, pattern in zip(last.flags_zh, flags):
        assert re.fullmatch(pattern, text), text
    assert all(not s.flags_zh for s in summaries[:-1])


def test_session_counts_and_quartiles() -> None:
    s = summarise_sessions([("k", "第1期", outcomes(passed=3, failed=1, pending=2, excellent=1,
                                                     totals=[90.0, 80.0, 70.0, 55.5]))])[0]
    assert (s.trainees, s.passed, s.failed, s.pending, s.excellent) == (6, 3, 1, 2, 1)
    assert s.pass_rate == 0.75
    assert s.totals == (90.0, 80.0, 70.0, 55.5)
    assert (s.q1, s.median, s.q3) == (66.375, 75.0, 82.5)
    assert s.mean == pytest.approx(73.875)
    assert s.flags_zh == ()


def test_session_with_nobody_decided() -> None:
    s = summarise_sessions([("k", "第1期", outcomes(pending=3))])[0]
    assert (s.pass_rate, s.median, s.q1, s.q3, s.mean, s.totals) == (None, None, None, None, None, ())


def test_p_value_is_written_out() -> None:
    sessions = NORMAL + [("x", "第9期", outcomes(passed=12, failed=8, totals=spread(80, 20)))]
    flag = summarise_sessions(sessions)[-1].flags_zh[0]
    assert re.fullmatch(r"合格率 60%，明显低于其他各期合计的 90%（p = 0\.00[0-9]+）", flag), flag
