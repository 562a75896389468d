"""The activity plan and the award figures computed from units' reports, as tables."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from scoring.activity import PlanError, Report, award_inputs, computed_lines, load_plan, parse_plan, totals_by
from scoring.aggregate import entry_result
from scoring.rubric import load_rubric
from scoring.sheets import validate_sheet

ROOT = Path(__file__).resolve().parents[2]
PLANS = ROOT / "data" / "joint-action"
UNIT_RUBRIC = load_rubric(ROOT / "rubrics/awards/organising-unit.yaml")


@pytest.fixture(scope="module")
def plan():
    return load_plan(PLANS, 2024)


def test_2024_plan_has_the_seed_documents_17_activities(plan) -> None:
    assert len(plan) == 17
    assert [a.kind for a in plan.activities].count("theme") == 10
    assert [a.kind for a in plan.activities].count("seminar") == 7
    assert plan.get("T01").title == "珍爱资源" and plan.get("T01").months == (3,)
    assert plan.get("T10").title == "全民的科学中心" and plan.get("T10").months == (12,)
    assert plan.get("S05").months == (7, 8) and plan.get("S07").months == (10, 11)


@pytest.mark.parametrize("code, deadline", [
    ("T01", date(2024, 4, 15)),    # March ends 31st, + 15 days
    ("T02", date(2024, 5, 15)),    # April has 30 days
    ("S05", date(2024, 9, 15)),    # 7/8月: from the end of August
    ("S07", date(2024, 12, 15)),   # 10/11月
    ("T10", date(2025, 1, 15)),    # December's report is due in the next year
])
def test_report_deadline_is_15_days_after_the_last_month(plan, code, deadline) -> None:
    assert plan.get(code).deadline == deadline


def test_a_later_year_reuses_the_latest_plan_re_dated() -> None:
    later = load_plan(PLANS, 2031)
    assert later.year == 2031 and later.source_year == 2024
    assert later.get("T01").deadline == date(2031, 4, 15)
    assert "2031" in later.title and "2024" not in later.title


def test_no_plan_before_the_first_file() -> None:
    with pytest.raises(PlanError, match="no activity plan"):
        load_plan(PLANS, 2001)


@pytest.mark.parametrize("data, problem", [
    ({"activities": []}, "non-empty"),
    ({"activities": [{"code": "A", "kind": "party", "title": "x", "months": [3]}]}, "kind"),
    ({"activities": [{"code": "A", "kind": "theme", "title": "x", "months": [13]}]}, "months"),
    ({"activities": [{"code": "A", "kind": "theme", "title": "x", "months": [3]},
                     {"code": "A", "kind": "seminar", "title": "y", "months": [4]}]}, "repeated"),
    ({"report_days_after_end": -1, "activities": [{"code": "A", "kind": "theme", "title": "x", "months": [3]}]},
     "report_days_after_end"),
])
def test_broken_plans_are_refused_with_the_field(data, problem) -> None:
    with pytest.raises(PlanError, match=problem):
        parse_plan(data, 2024)


def test_an_activity_may_set_its_own_deadline() -> None:
    p = parse_plan({"report_days_after_end": 15, "activities": [
        {"code": "A", "kind": "theme", "title": "x", "months": [2], "report_days_after_end": 0}]}, 2024)
    assert p.get("A").deadline == date(2024, 2, 29)


R = Report
# (reports, activities_joined, reports_on_time, events, participants, media)
INPUT_CASES = [
    ([], 0, 0, 0, 0, 0),
    ([R("T01", 3, 500, 2, date(2024, 4, 15))], 1, 1, 3, 500, 2),              # on the deadline day: on time
    ([R("T01", 3, 500, 2, date(2024, 4, 16))], 1, 0, 3, 500, 2),              # a day late
    ([R("T01", 0, 0, 0, date(2024, 4, 1))], 0, 1, 0, 0, 0),                   # materials but no event: not joined
    ([R("T01", 2, 10, 0, None)], 1, 0, 2, 10, 0),                             # never submitted
    ([R("S05", 1, 80, 1, date(2024, 9, 15))], 1, 1, 1, 80, 1),                # two-month seminar
    ([R("XX9", 9, 900, 9, date(2024, 1, 1))], 0, 0, 0, 0, 0),                 # not in the plan: ignored
    ([R("T01", 1, 1, 0, date(2024, 4, 1)), R("T02", 1, 1, 0, date(2024, 6, 1)),
      R("S01", 4, 300, 3, date(2024, 4, 1))], 3, 2, 6, 302, 3),
]


@pytest.mark.parametrize("reports, joined, on_time, events, people, media", INPUT_CASES)
def test_award_inputs_from_reports(plan, reports, joined, on_time, events, people, media) -> None:
    assert award_inputs(plan, reports) == {"activities_joined": joined, "reports_on_time": on_time,
                                           "events_held": events, "participants": people, "media_reports": media}


# activities_joined, reports_on_time -> 参与覆盖 (max 30, step 0.5), 材料报送 (max 10, step 0.5)
SCORE_CASES = [
    (17, 17, "30", "10", "参与 17/17 期 → 30 分"),
    (14, 12, "24.5", "7", "参与 14/17 期 → 24.5 分"),     # 30×14/17 = 24.705… → 24.5; 10×12/17 = 7.058… → 7
    (0, 0, "0", "0", "参与 0/17 期 → 0 分"),
    (20, 17, "30", "10", "参与 20/17 期 → 30 分"),          # capped at full_at
    (1, 1, "2", "0.5", "参与 1/17 期 → 2 分"),              # 1.764… → 2 (half up on the 0.5 step); 0.588… → 0.5
    (9, 15, "16", "9", "参与 9/17 期 → 16 分"),             # 15.882… → 16; 8.823… → 9
]


@pytest.mark.parametrize("joined, on_time, coverage, timely, text", SCORE_CASES)
def test_computed_criteria_shown_with_their_inputs(joined, on_time, coverage, timely, text) -> None:
    lines = {ln["criterion"]: ln for ln in computed_lines(UNIT_RUBRIC, {"activities_joined": joined,
                                                                         "reports_on_time": on_time})}
    assert lines["canyu_fugai"]["score"] == Decimal(coverage)
    assert lines["cailiao_baosong"]["score"] == Decimal(timely)
    assert lines["canyu_fugai"]["text"] == text


def test_missing_figures_show_no_score() -> None:
    lines = computed_lines(UNIT_RUBRIC, {})
    assert [ln["score"] for ln in lines] == [None, None]
    assert lines[0]["text"] == "参与 —/17 期 → —"


def _sheet(quality, awards, publicity):
    return validate_sheet(UNIT_RUBRIC, {"huodong_zhiliang": quality, "huojiang": awards, "xuanchuan": publicity},
                          )


@pytest.mark.parametrize("joined, on_time, sheets, final", [
    # committee means: quality (25+27+26)/3 = 26, awards 15, publicity 8 → 49; + 24.5 + 7 = 80.5
    (14, 12, [(25, 15, 8), (27, 15, 8), (26, 15, 8)], "80.50"),
    (17, 17, [(30, 20, 10)] * 3, "100.00"),
    (0, 0, [(10, 5, 2)] * 3, "17.00"),
])
def test_award_score_is_committee_mean_plus_computed(joined, on_time, sheets, final) -> None:
    marks = {f"J{i}": _sheet(*s) for i, s in enumerate(sheets)}
    result = entry_result(UNIT_RUBRIC, marks, inputs={"activities_joined": joined, "reports_on_time": on_time})
    assert result.status == "ok"
    assert result.final_score == Decimal(final)


def test_award_without_reported_figures_is_incomplete_not_zero() -> None:
    marks = {f"J{i}": _sheet(25, 15, 8) for i in range(3)}
    result = entry_result(UNIT_RUBRIC, marks)
    assert result.status == "incomplete"


def test_totals_group_reports(plan) -> None:
    rows = [("北京", R("T01", 2, 100, 1, date(2024, 4, 1))), ("北京", R("T02", 0, 0, 0, None)),
            ("天津", R("T01", 1, 50, 0, date(2024, 5, 1)))]
    t = totals_by(rows, plan)
    assert list(t) == ["北京", "天津"]
    assert (t["北京"].units, t["北京"].events_held, t["北京"].participants, t["北京"].on_time, t["北京"].reports) == \
        (1, 2, 100, 1, 2)
    assert (t["天津"].units, t["天津"].on_time) == (1, 0)
