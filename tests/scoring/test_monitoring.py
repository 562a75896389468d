"""Judge monitoring finds the harsh, the erratic and the partial judge, and leaves a clean panel
alone.

Panels are simulated here with numpy: each entry has a true quality, each mark is that quality
plus the judge's noise, and one judge at a time is given a known fault.
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.monitoring import (
    FLAG_NAMES,
    deviations,
    holm,
    monitor,
    permutation_p,
)
from scoring.table import ScoreMatrix

PROVINCES = [f"省{i:02d}" for i in range(8)]


def complete_panel(seed, n_entries=40, n_judges=9, noise=3.0, harsh=None, erratic=None,
                   favour=None, harsh_by=8.0, erratic_sd=9.0, favour_by=6.0):
    """A live-final panel: every judge scores every entry. Entries and judges come from
    PROVINCES in turn (entry i from province i % 8, judge j from j % 8). The named judges get
    a fault: harsh (marks harsh_by lower), erratic (noise erratic_sd), favour (+favour_by on
    entries of their own province)."""
    rng = np.random.default_rng(seed)
    entry_groups = {f"E{i:02d}": PROVINCES[i % 8] for i in range(n_entries)}
    judge_groups = {f"J{j}": PROVINCES[j % 8] for j in range(n_judges)}
    quality = rng.normal(75, 8, n_entries)
    triples = []
    for i in range(n_entries):
        for j in range(n_judges):
            e, jl = f"E{i:02d}", f"J{j}"
            mark = quality[i] + rng.normal(0, erratic_sd if jl == erratic else noise)
            if jl == harsh:
                mark -= harsh_by
            if jl == favour and entry_groups[e] == judge_groups[jl]:
                mark += favour_by
            triples.append((e, jl, round(float(mark), 2)))
    return ScoreMatrix.from_triples(triples), entry_groups, judge_groups


def review(seed, n_entries=150, n_judges=30, per_entry=5, noise=3.0, harsh=None,
           recusal=False, n_groups=6, bias=None):
    """A national preliminary review: each entry is seen by per_entry of n_judges reviewers.
    With recusal no reviewer sees an entry of their own province (回避)."""
    rng = np.random.default_rng(seed)
    groups = [f"省{g}" for g in range(n_groups)]
    entry_groups = {f"E{i:03d}": groups[i % n_groups] for i in range(n_entries)}
    judge_groups = {f"R{j:02d}": groups[j % n_groups] for j in range(n_judges)}
    quality = rng.normal(70, 8, n_entries)
    triples = []
    for i in range(n_entries):
        e = f"E{i:03d}"
        allowed = [j for j in range(n_judges)
                   if not (recusal and judge_groups[f"R{j:02d}"] == entry_groups[e])]
        for j in rng.choice(allowed, per_entry, replace=False):
            jl = f"R{j:02d}"
            mark = quality[i] + rng.normal(0, noise)
            if jl == harsh:
                mark -= 6
            if bias is not None:
                mark += bias.get(jl, 0.0)
            triples.append((e, jl, round(float(mark), 2)))
    return ScoreMatrix.from_triples(triples), entry_groups, judge_groups


# --------------------------------------------------------------------------- deviations by hand

HAND = ScoreMatrix.from_triples([
    ("A", "x", 80.0), ("A", "y", 70.0), ("A", "z", 90.0),
    ("B", "x", 60.0), ("B", "y", 62.0),
    ("C", "x", 75.0),
])


@pytest.mark.parametrize("row,others_mean,n_others,deviation", [
    (0, 80.0, 2, 0.0),      # A/x: others y, z average 80
    (1, 85.0, 2, -15.0),    # A/y
    (2, 75.0, 2, 15.0),     # A/z
    (3, 62.0, 1, -2.0),     # B/x: the only other judge is y
    (4, 60.0, 1, 2.0),      # B/y
    (5, float("nan"), 0, float("nan")),  # C/x: nobody else scored C
])
def test_leave_one_out_deviation(row, others_mean, n_others, deviation):
    mean, n, dev = deviations(HAND)
    assert mean[row] == pytest.approx(others_mean, nan_ok=True)
    assert n[row] == n_others
    assert dev[row] == pytest.approx(deviation, nan_ok=True)


@pytest.mark.parametrize("threshold,flagged", [
    (14.0, {("A", "y"), ("A", "z")}),
    (15.0, set()),           # "beyond" the threshold: exactly 15 is not flagged
    (1.5, {("A", "y"), ("A", "z"), ("B", "x"), ("B", "y")}),
])
def test_fixed_threshold_flags_marks_beyond_it(threshold, flagged):
    mon = monitor(HAND, deviation_threshold=threshold)
    assert {(m.entry, m.judge) for m in mon.flagged_marks} == flagged
    assert mon.threshold == threshold
    assert "固定阈值" in mon.threshold_rule
    # Largest deviation first, with the figures an organiser checks.
    for m in mon.flagged_marks:
        assert m.deviation == pytest.approx(m.mark - m.others_mean)
    assert [abs(m.deviation) for m in mon.flagged_marks] == sorted(
        (abs(m.deviation) for m in mon.flagged_marks), reverse=True)


def test_default_threshold_is_a_multiple_of_the_robust_spread():
    m, eg, jg = complete_panel(1, erratic="J2")
    mon = monitor(m, deviation_sd=3.0)
    _, n, dev = deviations(m)
    d = dev[n > 0]
    robust_sd = 1.4826 * np.median(np.abs(d - np.median(d)))
    assert mon.panel_sd == pytest.approx(robust_sd)
    assert mon.threshold == pytest.approx(3.0 * robust_sd)
    # The erratic judge does not widen the threshold much: it stays near 3 x the clean
    # judges' deviation sd (3 * sqrt(9 + 9/8) ~ 9.5, plus a little from J2's share).
    assert 9 < mon.threshold < 13
    assert all(abs(x.deviation) > mon.threshold for x in mon.flagged_marks)


# --------------------------------------------------------------------------- planted faults

PLANTED = [
    # name, fault kwargs, judge, expected flag code
    ("harsh judge", {"harsh": "J1"}, "J1", "harsh"),
    ("erratic judge", {"erratic": "J2"}, "J2", "erratic"),
    ("judge favouring own province", {"favour": "J3", "favour_by": 8.0}, "J3",
     "own_group_preference"),
]


@pytest.mark.parametrize("name,fault,judge,code", PLANTED, ids=[p[0] for p in PLANTED])
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_one_planted_fault_is_found_and_nobody_else_is_flagged(name, fault, judge, code, seed):
    m, eg, jg = complete_panel(seed, **fault)
    mon = monitor(m, eg, jg)
    assert mon.judges[0].judge == judge
    assert code in mon.judges[0].flag_codes
    for s in mon.judges[1:]:
        assert s.flags == (), (s.judge, s.flags)


@pytest.mark.parametrize("seed", [21, 22])
def test_three_planted_faults_in_one_panel_are_each_found(seed):
    m, eg, jg = complete_panel(seed, harsh="J1", erratic="J2", favour="J3", favour_by=8.0)
    mon = monitor(m, eg, jg)
    assert {s.judge for s in mon.judges[:3]} == {"J1", "J2", "J3"}
    assert "harsh" in mon.judge("J1").flag_codes
    assert "erratic" in mon.judge("J2").flag_codes
    assert "own_group_preference" in mon.judge("J3").flag_codes
    # The harsh judge pulls every other judge's leave-one-out reference down by 8/8 = 1
    # point; judged against the median judge, nobody innocent is called lenient for it.
    for s in mon.judges[3:]:
        assert s.flags == (), (s.judge, s.flags)
        assert s.bias == pytest.approx(1.0, abs=1.5)
    harsh = mon.judge("J1")
    # The others' mean leaves J1 out, so J1's deviation is -8 on average.
    assert harsh.bias == pytest.approx(-8, abs=1.5)
    assert harsh.bias_t < -5
    assert harsh.erratic_ratio < 1.5
    erratic = mon.judge("J2")
    assert erratic.erratic_ratio > 2
    assert abs(erratic.bias) < 3


def test_the_harsh_judges_figures_are_explained_in_chinese():
    m, eg, jg = complete_panel(11, harsh="J1")
    flag = next(f for f in monitor(m).judge("J1").flags if f.code == "harsh")
    assert flag.name_zh == "偏严"
    assert flag.text.startswith("偏严：比同一作品的其他评委平均低 ")
    assert "t = -" in flag.text


def test_harsh_reviewer_is_found_in_an_incomplete_review():
    m, eg, jg = review(5, harsh="R07")
    mon = monitor(m, eg, jg)
    top = mon.judges[0]
    assert top.judge == "R07" and "harsh" in top.flag_codes
    assert top.bias == pytest.approx(-6, abs=1.5)
    assert [s.judge for s in mon.judges if s.flags] == ["R07"]


def test_own_province_preference_is_untestable_under_recusal():
    m, eg, jg = review(6, recusal=True)
    mon = monitor(m, eg, jg)
    assert {s.own_status for s in mon.judges} == {"no_own_entries"}
    for s in mon.judges:
        assert math.isnan(s.own_p) and s.own_n == 0 and s.other_n == s.n_compared
        assert "own_group_preference" not in s.flag_codes


# --------------------------------------------------------------------------- clean panels


def test_clean_live_finals_raise_no_flags():
    """40 clean finals (9 judges, 40 entries, noise sd 3 on a 100-point scale) with a 15-point
    mark threshold: no mark is flagged, and a judge flag is a rare false alarm (each tested
    family is Holm-controlled at 1%, so about 3% of clean panels; at most 10% allowed)."""
    with_flags = 0
    for seed in range(40):
        m, eg, jg = complete_panel(100 + seed)
        mon = monitor(m, eg, jg, deviation_threshold=15)
        assert mon.flagged_marks == ()
        assert all(s.n_flagged_marks == 0 for s in mon.judges)
        with_flags += any(s.flags for s in mon.judges)
    assert with_flags <= 4


@pytest.mark.parametrize("seed", range(3))
def test_clean_review_raises_no_judge_flags_at_the_default_threshold(seed):
    m, eg, jg = review(200 + seed)
    mon = monitor(m, eg, jg)
    assert [s.judge for s in mon.judges if s.flags] == []


def test_permutation_p_values_are_uniform_under_no_preference():
    """120 reviewers with no preference, groups drawn at random: about 5% of the testable
    reviewers have p < 0.05, and the p-values centre on 0.5."""
    rng = np.random.default_rng(42)
    n_entries, n_judges = 600, 120
    quality = rng.normal(70, 8, n_entries)
    e = np.repeat(np.arange(n_entries), 4)
    j = np.concatenate([rng.choice(n_judges, 4, replace=False) for _ in range(n_entries)])
    v = quality[e] + rng.normal(0, 3, e.size)
    m = ScoreMatrix.from_arrays(e, j, v, [f"E{i}" for i in range(n_entries)],
                                [f"R{i}" for i in range(n_judges)])
    eg = {label: f"G{rng.integers(4)}" for label in m.entry_labels}
    jg = {label: f"G{rng.integers(4)}" for label in m.judge_labels}
    start = time.perf_counter()
    mon = monitor(m, eg, jg, n_permutations=2000)
    elapsed = time.perf_counter() - start
    p = np.array([s.own_p for s in mon.judges if s.own_status == "tested"])
    assert p.size >= 100
    assert (p < 0.05).mean() < 0.10
    assert 0.35 < np.median(p) < 0.65
    assert not any("own_group_preference" in s.flag_codes for s in mon.judges)
    assert elapsed < 2.0


# --------------------------------------------------------------------------- the permutation test


def test_permutation_p_counts_the_observed_labelling():
    rng = np.random.default_rng(0)
    dev = np.array([5.0, 4.0, 0.0, 0.0, -1.0, 1.0, 0.0, -2.0])
    own = np.array([True, True, False, False, False, False, False, False])
    diff, p = permutation_p(dev, own, 2000, 2000, 0.0, rng)
    assert diff == pytest.approx(4.5 - (-2.0 / 6))
    # The own pair holds the two largest deviations: only 1 of C(8,2) = 28 labellings is as
    # extreme, so p is about 1/28, and never below 1/2001.
    assert p == pytest.approx(1 / 28, abs=0.015)
    assert p >= 1 / 2001


def test_a_strong_preference_is_refined_below_the_first_round_resolution():
    m, eg, jg = complete_panel(3, n_entries=80, favour="J3", favour_by=10.0)
    s = monitor(m, eg, jg, n_permutations=2000, max_permutations=20_000).judge("J3")
    assert s.own_p < 1 / 2001
    assert s.own_p == pytest.approx(1 / 20_001)
    plain = monitor(m, eg, jg, n_permutations=2000, max_permutations=2000).judge("J3")
    assert plain.own_p == pytest.approx(1 / 2001)


def test_same_seed_same_p_and_another_seed_close():
    m, eg, jg = complete_panel(4)
    a = monitor(m, eg, jg, seed=1)
    b = monitor(m, eg, jg, seed=1)
    c = monitor(m, eg, jg, seed=2)
    assert a == b
    for x in a.judges:
        y = c.judge(x.judge)
        assert y.own_p == pytest.approx(x.own_p, abs=0.05)


OWN_STATUS_CASES = [
    # name, entry groups, judge groups, judge, expected status
    ("no groups given", None, None, "x", "no_groups"),
    ("judge without a group", {"A": "P1", "B": "P2"}, {"y": "P1"}, "x", "no_group"),
    ("no own-group entry", {"A": "P1", "B": "P1"}, {"x": "P9", "y": "P1", "z": "P1"}, "x",
     "no_own_entries"),
    ("only own-group entries", {"A": "P1", "B": "P1"}, {"x": "P1", "y": "P1", "z": "P1"}, "y",
     "only_own_entries"),
    ("tested", {"A": "P1", "B": "P2"}, {"x": "P1", "y": "P1", "z": "P1"}, "x", "tested"),
]


@pytest.mark.parametrize("name,entry_groups,judge_groups,judge,status", OWN_STATUS_CASES,
                         ids=[c[0] for c in OWN_STATUS_CASES])
def test_own_group_test_says_when_it_cannot_be_done(name, entry_groups, judge_groups, judge,
                                                    status):
    s = monitor(HAND, entry_groups, judge_groups).judge(judge)
    assert s.own_status == status
    if status != "tested":
        assert math.isnan(s.own_p) and math.isnan(s.own_difference)
    else:
        assert (s.own_n, s.other_n) == (1, 1)  # A is own, B is other; C has no comparison


def test_a_judge_with_no_comparable_mark():
    m = ScoreMatrix.from_triples([("A", "x", 70.0), ("A", "y", 72.0), ("B", "z", 90.0)])
    s = monitor(m, {"A": "P", "B": "P"}, {"x": "P", "y": "P", "z": "P"}).judge("z")
    assert (s.n_marks, s.n_compared) == (1, 0)
    assert s.own_status == "no_comparisons"
    assert math.isnan(s.bias) and math.isnan(s.bias_t) and s.flags == ()


# --------------------------------------------------------------------------- degenerate input

DEGENERATE = [
    ("no scores", []),
    ("one judge", [("A", "x", 70.0), ("B", "x", 80.0)]),
    ("one entry, two judges", [("A", "x", 70.0), ("A", "y", 80.0)]),
    ("everyone agrees", [(e, j, 80.0) for e in "ABC" for j in "xyz"]),
]


@pytest.mark.parametrize("name,triples", DEGENERATE, ids=[d[0] for d in DEGENERATE])
def test_degenerate_panels_never_crash_and_flag_nothing(name, triples):
    m = ScoreMatrix.from_triples(triples)
    mon = monitor(m, {t[0]: "P" for t in triples}, {t[1]: "P" for t in triples})
    assert all(s.flags == () for s in mon.judges)
    assert mon.flagged_marks == ()


def test_judge_stats_are_frozen_and_sorted_by_concern():
    m, eg, jg = complete_panel(21, harsh="J1", erratic="J2", favour="J3")
    mon = monitor(m, eg, jg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        mon.judges[0].bias = 0.0  # type: ignore[misc]
    concern = [s.concern for s in mon.judges]
    assert concern == sorted(concern, reverse=True)
    assert all(f.code in FLAG_NAMES for s in mon.judges for f in s.flags)


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False))
def test_row_order_never_changes_a_judges_figures(rnd):
    m, eg, jg = complete_panel(8, n_entries=16, n_judges=5, favour="J3", harsh="J1")
    perm = np.array(rnd.sample(range(m.values.size), m.values.size), dtype=np.int64)
    jperm = list(range(m.n_judges))
    rnd.shuffle(jperm)
    inverse = np.argsort(jperm)
    shuffled = ScoreMatrix(m.entry_labels, tuple(m.judge_labels[k] for k in jperm),
                           m.entry_idx[perm], inverse[m.judge_idx[perm]], m.values[perm])
    a, b = monitor(m, eg, jg, n_permutations=500), monitor(shuffled, eg, jg, n_permutations=500)
    assert [s.judge for s in a.judges] == [s.judge for s in b.judges]
    for x in a.judges:
        y = b.judge(x.judge)
        for field in ("bias", "bias_se", "erratic_ratio", "mean_abs_deviation", "own_p"):
            assert getattr(y, field) == pytest.approx(getattr(x, field), nan_ok=True)
        assert y.flag_codes == x.flag_codes


@pytest.mark.parametrize("p,adjusted", [
    ([0.01, 0.04, 0.03], [0.03, 0.06, 0.06]),
    ([0.5, float("nan"), 0.01], [0.5, float("nan"), 0.02]),
    ([], []),
    ([0.9, 0.8], [1.0, 1.0]),   # 2 x 0.8 caps at 1; the larger p cannot come out smaller
    ([0.04, 0.3], [0.08, 0.3]),
])
def test_holm_adjustment(p, adjusted):
    assert holm(p) == pytest.approx(np.array(adjusted), nan_ok=True)


def test_monitoring_a_national_review_of_10000_entries_is_fast():
    rng = np.random.default_rng(1)
    e = np.repeat(np.arange(10_000), 5)
    j = np.concatenate([rng.choice(200, 5, replace=False) for _ in range(10_000)])
    v = np.round(70 + rng.normal(0, 8, 10_000)[e] + rng.normal(0, 3, e.size), 2)
    m = ScoreMatrix.from_arrays(e, j, v)
    eg = {label: f"P{int(label) % 31}" for label in m.entry_labels}
    jg = {label: f"P{int(label) % 31}" for label in m.judge_labels}
    start = time.perf_counter()
    mon = monitor(m, eg, jg)
    assert time.perf_counter() - start < 2.0
    assert sum(s.own_status == "tested" for s in mon.judges) == 200
    assert [s.judge for s in mon.judges if s.flags] == []
