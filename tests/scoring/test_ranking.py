"""Ranking, awards and promotion: the decisions a category's results page has to defend.

The counts come from the 2024 docent final (DOMAIN.md: 284 on site, 50 一等奖 / 100 二等奖 /
132 三等奖, the top 10 of 展品辅导 titled 全国金牌科技辅导员; divisions sent 2 per category).
"""
from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from scoring.aggregate import CriterionResult, entry_result
from scoring.ranking import assign_awards, promote, rank, rank_stage
from scoring.rubric import load_rubric, load_rubric_text
from scoring.sheets import validate_sheet

ROOT = Path(__file__).resolve().parents[2]
EXHIBIT = load_rubric(ROOT / "rubrics/docent/exhibit-guiding.yaml")
REVIEW = load_rubric(ROOT / "rubrics/examples/review-100.yaml")
VIDEO = load_rubric(ROOT / "rubrics/docent/preliminary-video.yaml")


def rubric_with(extra: str, tie_breaks: str = "[raw_sum, {criterion: kexuexing}]"):
    return load_rubric_text(
        "id: r\nversion: 1\nkind: panel\ntitle: {zh: 排名}\n"
        "criteria:\n  - {id: kexuexing, title: {zh: 科学性}, max: 50, step: 0.5}\n"
        "  - {id: other, title: {zh: 其他}, max: 50, step: 0.5}\n"
        "penalties: {overtime: {limit_seconds: 300}}\n"
        "aggregation: {method: mean}\n"
        "rounding: {decimals: 2, mode: half_up, at: [final]}\n"
        f"tie_breaks: {tie_breaks}\n{extra}"
    )


RANKING = rubric_with("")
_BASE = entry_result(RANKING, {"J1": validate_sheet(RANKING, {"kexuexing": 40, "other": 40})})


def fake(entry, score, raw_sum=None, kexuexing=None, status="ok", penalty_points=0, rubric=RANKING):
    """A result with the figures ranking looks at (the rest as in a real result)."""
    criteria = {"kexuexing": CriterionResult("kexuexing", None if kexuexing is None else Decimal(str(kexuexing)), "mean")}
    return dataclasses.replace(
        _BASE, entry=entry, rubric_id=rubric.id, rubric_version=rubric.version, status=status,
        reasons=() if status == "ok" else (f"{status} 原因",),
        final_score=None if score is None else Decimal(str(score)),
        raw_sum=Decimal(str(raw_sum if raw_sum is not None else score or 0)),
        criteria=MappingProxyType(criteria), penalty_points=Decimal(penalty_points),
    )


# --------------------------------------------------------------------------- rank


@pytest.mark.parametrize(
    "rows, expected",
    [
        # entry, score, raw_sum, kexuexing → (entry, rank, decided_by)
        (
            [("A", 90, 450, 22), ("B", 89, 440, 20), ("C", 89, 430, 23), ("D", 89, 430, 22), ("E", 89, 430, 22), ("F", 88, 500, 25)],
            [("A", 1, None), ("B", 2, "score"), ("C", 3, "raw_sum"), ("D", 4, "criterion:kexuexing"), ("E", 4, None), ("F", 6, "score")],
        ),
        (
            [("W", 80, 400, 20), ("X", 85, 400, 20), ("Y", 85, 400, 20), ("Z", 90, 400, 20)],
            [("Z", 1, None), ("X", 2, "score"), ("Y", 2, None), ("W", 4, "score")],
        ),
        (
            [("P", 70, 350, None), ("Q", 70, 350, 30)],  # a missing tie-break value loses
            [("Q", 1, None), ("P", 2, "criterion:kexuexing")],
        ),
        ([("S", 70, 350, 20), ("T", 70, 350, 20), ("U", 70, 350, 20)], [("S", 1, None), ("T", 1, None), ("U", 1, None)]),
    ],
)
def test_ties_are_broken_in_the_rubric_order_and_shared_when_still_tied(rows, expected) -> None:
    ranked = rank([fake(*row) for row in rows], RANKING)
    assert [(x.entry, x.rank, x.decided_by) for x in ranked] == expected


def test_shared_ranks_are_marked_tied() -> None:
    ranked = rank([fake("A", 90), fake("B", 85), fake("C", 85), fake("D", 80)], rubric_with("", "[]"))
    assert [(x.rank, x.tied) for x in ranked] == [(1, False), (2, True), (2, True), (4, False)]


def test_fewer_penalty_points_win_a_tie() -> None:
    rubric = rubric_with("", "[fewer_penalties, raw_sum]")
    ranked = rank([fake("A", 80, 400, rubric=rubric, penalty_points=2), fake("B", 80, 390, rubric=rubric, penalty_points=1)], rubric)
    assert [(x.entry, x.rank, x.decided_by) for x in ranked] == [("B", 1, None), ("A", 2, "fewer_penalties")]


def test_unranked_entries_follow_with_their_reasons() -> None:
    results = [fake("A", 80), fake("B", None, status="incomplete"), fake("C", 95, status="disqualified"),
               fake("D", 90, status="vetoed"), fake("E", 85)]
    ranked = rank(results, RANKING)
    assert [(x.entry, x.rank, x.status) for x in ranked] == [
        ("E", 1, "ok"), ("A", 2, "ok"), ("C", None, "disqualified"), ("D", None, "vetoed"), ("B", None, "incomplete"),
    ]
    assert ranked[2].result.reasons == ("disqualified 原因",)


def test_results_of_another_rubric_are_refused() -> None:
    with pytest.raises(ValueError, match="scored on r v1"):
        rank([fake("A", 80)], EXHIBIT)


# --------------------------------------------------------------------------- awards


def award_rubric(tiers: str, rest: bool = True, rounding: str = "half_up", ties: str = "higher", honours: str = "[]"):
    rest_yaml = "\n  rest: {id: merit, name: {zh: 优秀奖}}" if rest else ""
    return rubric_with(
        f"awards:\n  tiers: {tiers}{rest_yaml}\n  share_rounding: {rounding}\n  ties_at_cutoff: {ties}\n  honours: {honours}\n",
        "[]",
    )


COUNTS = "[{id: first, name: {zh: 一等奖}, count: 50}, {id: second, name: {zh: 二等奖}, count: 100}, {id: third, name: {zh: 三等奖}, count: 132}]"
SHARES = "[{id: first, name: {zh: 一等奖}, share: 0.17}, {id: second, name: {zh: 二等奖}, share: 0.35}, {id: third, name: {zh: 三等奖}, share: 0.46}]"


def stage(rubric, n: int = 284, ties: tuple[int, ...] = ()):
    """n ranked entries E001.. with distinct scores, except that entry k and k+1 tie for each k
    in `ties` (1-based positions)."""
    scores = [Decimal(1000 - i) for i in range(n)]
    for k in ties:
        scores[k] = scores[k - 1]
    return rank([fake(f"E{i + 1:03d}", s, rubric=rubric) for i, s in enumerate(scores)], rubric)


def tally(awards) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in awards.entries:
        out[x.award] = out.get(x.award, 0) + 1
    return out


@pytest.mark.parametrize(
    "tiers, rounding, ties, tied_at, expected",
    [
        (COUNTS, "half_up", "higher", (), {"first": 50, "second": 100, "third": 132, "merit": 2}),
        (SHARES, "half_up", "higher", (), {"first": 48, "second": 99, "third": 131, "merit": 6}),  # 48.28, 99.4, 130.64
        (SHARES, "floor", "higher", (), {"first": 48, "second": 99, "third": 130, "merit": 7}),
        (SHARES, "ceil", "higher", (), {"first": 49, "second": 100, "third": 131, "merit": 4}),
        (COUNTS, "half_up", "higher", (50,), {"first": 51, "second": 99, "third": 132, "merit": 2}),  # 50th and 51st tie
        (COUNTS, "half_up", "lower", (50,), {"first": 49, "second": 101, "third": 132, "merit": 2}),
        (COUNTS, "half_up", "higher", (49, 50), {"first": 51, "second": 99, "third": 132, "merit": 2}),  # 49-51 tie
        (COUNTS, "half_up", "lower", (49, 50), {"first": 48, "second": 102, "third": 132, "merit": 2}),
        (COUNTS, "half_up", "higher", (150,), {"first": 50, "second": 101, "third": 131, "merit": 2}),
    ],
)
def test_award_tiers_by_count_or_share_with_the_tie_rule(tiers, rounding, ties, tied_at, expected) -> None:
    rubric = award_rubric(tiers, rounding=rounding, ties=ties)
    awards = assign_awards(stage(rubric, ties=tied_at), rubric)
    assert tally(awards) == expected
    assert [t.given for t in awards.tiers] == list(expected.values())


def test_tied_entries_at_a_cut_off_get_the_same_award_and_a_note() -> None:
    rubric = award_rubric(COUNTS)
    awards = assign_awards(stage(rubric, ties=(50,)), rubric)
    e50, e51 = awards.entries[49], awards.entries[50]
    assert (e50.rank, e51.rank) == (50, 50)
    assert e50.award == e51.award == "first" and e50.award_name == "一等奖"
    assert "并列" in e50.award_note and awards.entries[0].award_note == ""
    assert "下一等级相应减少名额" in awards.rule


def test_the_share_arithmetic_is_stated() -> None:
    rubric = award_rubric(SHARES)
    awards = assign_awards(stage(rubric), rubric)
    assert awards.tiers[0].rule == "排名作品的 17%：284 × 0.17 = 48.28，四舍五入为 48 名"
    assert awards.rule.startswith("按排名作品 284 个计算；份额四舍五入")


def test_a_minimum_score_leaves_places_empty_instead_of_passing_them_down() -> None:
    tiers = "[{id: first, name: {zh: 一等奖}, count: 3, min_score: 998}, {id: second, name: {zh: 二等奖}, count: 2}]"
    rubric = award_rubric(tiers)
    awards = assign_awards(stage(rubric, n=10), rubric)  # scores 1000, 999, 998, 997, ...
    assert [x.award for x in awards.entries[:6]] == ["first", "first", "first", "second", "second", "merit"]
    strict = award_rubric(tiers.replace("998", "999"))
    awards = assign_awards(stage(strict, n=10), strict)
    assert [x.award for x in awards.entries[:5]] == ["first", "first", "second", "second", "merit"]
    assert "空缺 1 名" in awards.tiers[0].note


def test_unranked_entries_get_no_award() -> None:
    rubric = award_rubric(COUNTS)
    ranked = rank([fake("A", 90, rubric=rubric), fake("B", None, status="incomplete", rubric=rubric)], rubric)
    awards = assign_awards(ranked, rubric)
    assert [(x.entry, x.award) for x in awards.entries] == [("A", "first"), ("B", None)]


@pytest.mark.parametrize(
    "ties, tied_at, honoured",
    [("higher", (), 10), ("higher", (10,), 11), ("lower", (10,), 9), ("higher", (9, 10), 11), ("lower", (9, 10), 8)],
)
def test_honours_go_to_the_top_ten_with_the_tie_rule(ties, tied_at, honoured) -> None:
    rubric = award_rubric(COUNTS, ties=ties, honours="[{id: gold_docent, name: {zh: 全国金牌科技辅导员}, top: 10}]")
    awards = assign_awards(stage(rubric, ties=tied_at), rubric)
    gold = [x.entry for x in awards.entries if "gold_docent" in x.honours]
    assert len(gold) == honoured and gold[0] == "E001"
    assert awards.honours[0].given == honoured


def test_the_exhibit_guiding_rubric_gives_shares_and_the_gold_docent_title() -> None:
    awards = assign_awards(stage(EXHIBIT), EXHIBIT)
    assert tally(awards) == {"first": 48, "second": 99, "third": 131, "merit": 6}
    assert sum("gold_docent" in x.honours for x in awards.entries) == 10


# --------------------------------------------------------------------------- promotion


def division_stage(rubric, scores: dict[tuple[str, str], list[float]]):
    """Entries per (division, category) with the given scores, and their group attributes."""
    results, groups = [], {}
    for (division, category), values in scores.items():
        for i, s in enumerate(values, start=1):
            entry = f"{division}-{category}-{i}"
            results.append(fake(entry, s, rubric=rubric))
            groups[entry] = {"division": division, "category": category}
    return rank(results, rubric), groups


def outcomes(plist) -> dict[str, tuple]:
    return {row.entry: (row.outcome, row.reserve_order) for row in plist.rows}


def test_the_top_two_per_division_and_category_go_on_with_one_reserve() -> None:
    ranked, groups = division_stage(EXHIBIT, {
        ("北京", "展品辅导"): [91, 95, 88, 80], ("北京", "科学实验"): [70, 85, 90],
        ("内蒙古", "展品辅导"): [60, 99], ("内蒙古", "科学实验"): [77],
    })
    p = promote(ranked, EXHIBIT, groups)
    assert outcomes(p) == {
        "北京-展品辅导-2": ("promoted", None), "北京-展品辅导-1": ("promoted", None),
        "北京-展品辅导-3": ("reserve", 1), "北京-展品辅导-4": ("not_promoted", None),
        "北京-科学实验-3": ("promoted", None), "北京-科学实验-2": ("promoted", None), "北京-科学实验-1": ("reserve", 1),
        "内蒙古-展品辅导-2": ("promoted", None), "内蒙古-展品辅导-1": ("promoted", None),
        "内蒙古-科学实验-1": ("promoted", None),
    }
    assert [(g.group, g.promoted, g.reserves) for g in p.groups][:2] == [(("内蒙古", "展品辅导"), 2, 0), (("内蒙古", "科学实验"), 1, 0)]
    assert p.rule == "按赛区、赛项分组；每组前 2 名晋级；另列递补 1 名；名额线上同分并列者均晋级"


@pytest.mark.parametrize(
    "ties, expected",
    [
        ("higher", {"1": ("promoted", None), "2": ("promoted", None), "3": ("promoted", None), "4": ("reserve", 1), "5": ("not_promoted", None)}),
        ("lower", {"1": ("promoted", None), "2": ("reserve", 1), "3": ("reserve", 1), "4": ("not_promoted", None), "5": ("not_promoted", None)}),
    ],
)
def test_ties_at_the_promotion_cut_off_follow_the_rule(ties, expected) -> None:
    rubric = rubric_with(f"promotion: {{group_by: [division], quota: 2, reserves: 1, ties_at_cutoff: {ties}}}", "[]")
    ranked, groups = division_stage(rubric, {("北京", "x"): [95, 90, 90, 85, 80]})
    p = promote(ranked, rubric, groups)
    got = {entry.rsplit("-", 1)[1]: v for entry, v in outcomes(p).items()}
    assert got == expected
    assert [row.note for row in p.rows][1:3] == ["名额线上同分并列，" + ("均晋级" if ties == "higher" else "均不晋级")] * 2


def test_promotion_by_share_and_minimum_score() -> None:
    # preliminary-video: per category the top 66% (half up, at least 1) with 2 reserves
    ranked, groups = division_stage(VIDEO, {("-", "展品辅导"): [90, 80, 70, 60, 50, 40], ("-", "科学实验"): [75]})
    p = promote(ranked, VIDEO, {e: {"category": g["category"]} for e, g in groups.items()})
    quotas = {g.group: (g.quota, g.promoted, g.reserves) for g in p.groups}
    assert quotas == {("展品辅导",): (4, 4, 2), ("科学实验",): (1, 1, 0)}  # 6 × 0.66 = 3.96 → 4
    threshold = rubric_with("promotion: {group_by: [category], min_score: 75}", "[]")
    ranked, groups = division_stage(threshold, {("-", "c"): [90, 80, 75, 74.99]})
    assert [row.outcome for row in promote(ranked, threshold, groups).rows] == ["promoted"] * 3 + ["not_promoted"]


def test_unranked_entries_are_listed_but_never_promoted() -> None:
    ranked = rank([fake("A", 90, rubric=EXHIBIT), fake("B", 95, status="disqualified", rubric=EXHIBIT)], EXHIBIT)
    p = promote(ranked, EXHIBIT, {"A": {"division": "甲", "category": "c"}, "B": {"division": "甲", "category": "c"}})
    assert outcomes(p) == {"A": ("promoted", None), "B": ("unranked", None)}


def test_promotion_needs_every_entry_group() -> None:
    ranked = rank([fake("A", 90, rubric=EXHIBIT), fake("B", 80, rubric=EXHIBIT)], EXHIBIT)
    with pytest.raises(ValueError, match="entry 'B' has no category"):
        promote(ranked, EXHIBIT, {"A": {"division": "甲", "category": "c"}, "B": {"division": "甲"}})


# --------------------------------------------------------------------------- whole stages


def review_sheets(design: dict[str, dict[str, float]], rubric=REVIEW):
    return {e: {j: validate_sheet(rubric, {"total": v}) for j, v in marks.items()} for e, marks in design.items()}


CONNECTED = {  # 6 entries, 4 reviewers, every entry seen by 2, one connected design
    "E1": {"A": 90, "B": 88}, "E2": {"B": 80, "C": 70}, "E3": {"C": 65, "D": 78},
    "E4": {"D": 85, "A": 86}, "E5": {"A": 70, "C": 58}, "E6": {"B": 75, "D": 77},
}


def test_a_calibrated_rubric_is_ranked_by_the_model_and_says_so() -> None:
    from scoring.calibrate import fit

    s = rank_stage(REVIEW, review_sheets(CONNECTED))
    assert (s.method_requested, s.method_used, s.method_reason) == ("rubric", "calibrated", "")
    assert all(x.result.method == "calibrated" for x in s.ranked)
    quality = fit(s.matrix, model="bias").quality
    by_model = [s.matrix.entry_labels[i] for i in np.argsort(-quality, kind="stable")]
    assert [x.entry for x in s.ranked] == by_model
    assert s.calibration is not None and s.calibration.connected


@pytest.mark.parametrize(
    "design, reason",
    [
        ({"E1": {"A": 90, "B": 80}, "E2": {"A": 70, "B": 75}, "E3": {"C": 60, "D": 65}, "E4": {"C": 85, "D": 82}}, "不连通"),
        ({"E1": {"A": 90}, "E2": {"B": 70}}, "校准模型不适用"),  # no entry seen by two judges
        ({"E1": {"A": 90}, "E2": {"A": 70}}, "评分数据太少"),  # one judge
        ({"E1": {"A": 90, "B": 80}}, "评分数据太少"),
    ],
)
def test_calibration_falls_back_to_the_rubric_fallback_with_a_reason(design, reason) -> None:
    s = rank_stage(REVIEW, review_sheets(design))
    assert s.method_used == "mean" and reason in s.method_reason
    assert all(x.result.method == "mean" and x.result.method_note == s.method_reason for x in s.ranked)
    mean_of_e1 = sum(design["E1"].values()) / len(design["E1"])
    assert next(x for x in s.ranked if x.entry == "E1").score == Decimal(str(mean_of_e1)).quantize(Decimal("0.01"))


def exhibit_design() -> dict:
    marks = {"E1": [80, 82, 84, 86, 99], "E2": [85, 85, 85, 85, 60], "E3": [70, 75, 80, 85, 90]}
    def sheet(total):  # spread a total over the six criteria (all within range and step)
        k = min(25, total * 0.25)
        return validate_sheet(EXHIBIT, {"kexuexing": k, "neirong_zuzhi": 20, "fudao_fangfa": 25, "yuyan_yitai": 15,
                                        "wenda_yingbian": 10, "shijian_kongzhi": 5}) if total == 100 else \
            validate_total(EXHIBIT, total)
    from scoring.sheets import validate_total
    return {e: {f"J{i}": sheet(t) for i, t in enumerate(ts, start=1)} for e, ts in marks.items()}


@pytest.mark.parametrize(
    "method, used, scores",
    [
        ("rubric", "trimmed_mean", {"E1": "84.00", "E2": "85.00", "E3": "80.00"}),
        ("trimmed", "trimmed_mean", {"E1": "84.00", "E2": "85.00", "E3": "80.00"}),
        ("mean", "mean", {"E1": "86.20", "E2": "80.00", "E3": "80.00"}),
    ],
)
def test_stage_methods_on_a_complete_panel(method, used, scores) -> None:
    s = rank_stage(EXHIBIT, exhibit_design(), method=method)
    assert s.method_used == used
    assert {x.entry: str(x.score) for x in s.ranked} == scores


def test_a_stage_with_awards_and_promotion() -> None:
    groups = {"E1": {"division": "甲", "category": "c"}, "E2": {"division": "甲", "category": "c"}, "E3": {"division": "乙", "category": "c"}}
    s = rank_stage(EXHIBIT, exhibit_design(), groups=groups, inputs={"E2": {"duration_seconds": 340}})
    assert [(x.entry, str(x.score), x.award) for x in s.ranked] == [
        ("E1", "84.00", "first"), ("E2", "83.00", "second"), ("E3", "80.00", "third"),  # E2: 2 overtime points
    ]
    assert s.awards is not None and s.promotion is not None
    assert {row.entry: row.outcome for row in s.promotion.rows} == {"E1": "promoted", "E2": "promoted", "E3": "promoted"}


def test_zscore_ranks_on_the_raw_scale() -> None:
    s = rank_stage(REVIEW, review_sheets(CONNECTED), method="zscore")
    assert s.method_used == "zscore" and all(x.result.method == "zscore" for x in s.ranked)
    assert all(Decimal(40) < x.score < Decimal(100) for x in s.ranked)


def test_unknown_methods_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown method 'best'"):
        rank_stage(REVIEW, review_sheets(CONNECTED), method="best")
