"""Reliability coefficients reproduce the published worked examples, and behave as the
definitions say when judges or entries are reordered or one judge is shifted.

Published values, with their sources:
* Shrout & Fleiss (1979), Table 2 data (6 targets x 4 judges) and the ICCs of their Table 4;
  the intervals, F tests and p-values as printed by R psych::ICC for the same data (psych's
  documentation example, the formulas of McGraw & Wong 1996).
* Krippendorff (2011) "Computing Krippendorff's Alpha-Reliability", the 4 observers x 12 units
  example with missing values: interval alpha = 0.849.
* Kendall's W: Siegel & Castellan (1988), 3 judges ranking 8 items (no ties), W = 0.656,
  chi2(7) = 13.778, p = 0.0553; and the irr package's `anxiety` data (20 subjects x 3 raters,
  many ties), tie-corrected W = 0.5397, chi2(19) = 30.76, p = 0.0429 — both as printed in the
  documentation of R DescTools::KendallW.
"""
from __future__ import annotations

import itertools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from scoring.reliability import (
    ALL_TIED,
    NEED_TWO_ENTRIES,
    NEED_TWO_JUDGES,
    NO_PAIRS,
    NO_VARIANCE,
    NOT_COMPLETE,
    assess,
    icc_complete,
    icc_oneway,
    is_complete,
    kendall_w,
    krippendorff_alpha,
)
from scoring.table import ScoreMatrix

NAN = np.nan

# Shrout & Fleiss (1979) Table 2: rows are targets, columns judges 1-4.
SHROUT_FLEISS = np.array([
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
], dtype=float)

# Krippendorff (2011), reliability data matrix: rows observers A-D, columns units 1-12.
KRIPPENDORFF_2011 = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]).T  # entries x judges

# Siegel & Castellan (1988): three judges (columns) rank eight items (rows).
SIEGEL_CASTELLAN = np.array([
    [5, 1, 4], [6, 7, 5], [7, 6, 1], [1, 2, 3], [2, 3, 2], [4, 5, 7], [3, 4, 6], [8, 8, 8],
], dtype=float)

# irr::anxiety (Gamer et al.), 20 subjects x 3 raters, scores 1-6 with many ties.
ANXIETY = np.array([
    [3, 3, 3, 4, 5, 5, 2, 3, 5, 2, 2, 6, 1, 5, 2, 2, 1, 2, 4, 3],
    [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4],
    [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2],
], dtype=float).T


def as_matrix(dense: np.ndarray) -> ScoreMatrix:
    """entries x judges array (NaN = absent) as a ScoreMatrix with E*/J* labels."""
    return ScoreMatrix.from_triples(
        (f"E{i}", f"J{j}", dense[i, j])
        for i, j in itertools.product(range(dense.shape[0]), range(dense.shape[1]))
        if not np.isnan(dense[i, j]))


# --------------------------------------------------------------------------- published values

# form, paper value (2 decimals, Shrout & Fleiss Table 4), psych value (3 decimals),
# psych 95% interval, F, df1, df2, p
SF_CASES = [
    ("ICC(1,1)", 0.17, 0.166, (-0.133, 0.723), 1.79, 5, 18, 0.164769),
    ("ICC(2,1)", 0.29, 0.290, (0.019, 0.761), 11.03, 5, 15, 0.000135),
    ("ICC(3,1)", 0.71, 0.715, (0.342, 0.946), 11.03, 5, 15, 0.000135),
    ("ICC(1,k)", 0.44, 0.443, (-0.884, 0.912), 1.79, 5, 18, 0.164769),
    ("ICC(2,k)", 0.62, 0.620, (0.071, 0.927), 11.03, 5, 15, 0.000135),
    ("ICC(3,k)", 0.91, 0.909, (0.676, 0.986), 11.03, 5, 15, 0.000135),
]


@pytest.mark.parametrize("form,paper,psych,ci,f,df1,df2,p", SF_CASES, ids=[c[0] for c in SF_CASES])
def test_shrout_fleiss_table_2(form, paper, psych, ci, f, df1, df2, p):
    icc = {i.form: i for i in icc_complete(SHROUT_FLEISS)}[form]
    assert round(icc.value, 2) == paper
    assert icc.value == pytest.approx(psych, abs=5e-4)
    assert (icc.ci_low, icc.ci_high) == pytest.approx(ci, abs=5e-4)
    assert icc.f == pytest.approx(f, abs=5e-3)
    assert (icc.df1, icc.df2) == (df1, df2)
    assert icc.p_value == pytest.approx(p, abs=5e-7)  # printed to 6 decimals
    assert icc.reason == ""


def test_shrout_fleiss_through_score_matrix_and_assess():
    rel = assess(as_matrix(SHROUT_FLEISS))
    assert rel.design == "complete"
    assert (rel.n_entries, rel.n_judges, rel.n_scores) == (6, 4, 24)
    assert [i.form for i in rel.icc] == [c[0] for c in SF_CASES]
    assert rel.icc_form("ICC(3,1)").value == pytest.approx(0.7148, abs=1e-4)
    assert rel.kendall_w is not None and rel.kendall_w.n_judges == 4


@pytest.mark.parametrize("source,data,expected", [
    # Krippendorff (2011), interval metric, 4 observers x 12 units, missing values.
    ("Krippendorff 2011", KRIPPENDORFF_2011, 0.849),
    # The same data as printed by the krippendorff package (PyPI 0.9.0) docstring for its
    # 3 coders x 15 units example, interval metric: 0.810845 (cross-check of an independent
    # implementation, not a paper).
    ("krippendorff 0.9.0 docstring", np.array([
        [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
        [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
        [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4]]).T, 0.810845),
])
def test_krippendorff_alpha_published(source, data, expected):
    digits = len(str(expected).split(".")[1])
    assert round(krippendorff_alpha(data).value, digits) == expected
    assert round(krippendorff_alpha(as_matrix(data)).value, digits) == expected


def test_krippendorff_2011_counts_only_pairable_values():
    a = krippendorff_alpha(KRIPPENDORFF_2011)
    # Unit 12 has a single value and is not pairable: 11 units, 40 of the 41 values.
    assert (a.n_units, a.n_pairable) == (11, 40)


@pytest.mark.parametrize("source,data,w,chi2,df,p", [
    ("Siegel & Castellan 1988", SIEGEL_CASTELLAN, 0.6560847, 13.778, 7, 0.05528),
    ("irr anxiety, tie-corrected", ANXIETY, 0.5396569, 30.76, 19, 0.04288),
])
def test_kendall_w_published(source, data, w, chi2, df, p):
    res = kendall_w(data)
    assert res.value == pytest.approx(w, abs=1e-7)
    assert res.chi2 == pytest.approx(chi2, abs=5e-3)
    assert res.df == df
    assert res.p_value == pytest.approx(p, abs=5e-5)


def test_kendall_w_tie_correction_raises_w_when_judges_tie():
    assert kendall_w(ANXIETY, correct_ties=False).value < kendall_w(ANXIETY).value
    # No ties: the correction changes nothing.
    assert kendall_w(SIEGEL_CASTELLAN, correct_ties=False).value == pytest.approx(
        kendall_w(SIEGEL_CASTELLAN).value)


# --------------------------------------------------------------------------- incomplete designs


def test_oneway_icc_on_a_complete_design_equals_shrout_fleiss_case_1():
    single, average = icc_oneway(SHROUT_FLEISS)
    full = {i.form: i for i in icc_complete(SHROUT_FLEISS)}
    assert single.value == pytest.approx(full["ICC(1,1)"].value)
    assert average.value == pytest.approx(full["ICC(1,k)"].value)
    assert (single.ci_low, single.ci_high) == pytest.approx(
        (full["ICC(1,1)"].ci_low, full["ICC(1,1)"].ci_high))
    assert average.k == 4


def test_oneway_icc_unbalanced_by_hand():
    # Entries scored by 2, 3 and 4 judges; the single-score entry is left out.
    data = np.array([
        [1, 3, NAN, NAN],
        [4, 5, 6, NAN],
        [8, 9, 7, 8],
        [5, NAN, NAN, NAN],
    ])
    single, average = icc_oneway(data)
    # By hand: N = 9, a = 3, group means 2, 5, 8, grand mean 51/9;
    # SSB = 2(2 - 51/9)^2 + 3(5 - 51/9)^2 + 4(8 - 51/9)^2; SSW = 2 + 2 + 2 = 6 on 6 df;
    # k0 = (9 - (4 + 9 + 16)/9) / 2 = 26/9.
    grand = 51 / 9
    ssb = 2 * (2 - grand) ** 2 + 3 * (5 - grand) ** 2 + 4 * (8 - grand) ** 2
    msb, msw, k0 = ssb / 2, 6 / 6, 26 / 9
    assert single.value == pytest.approx((msb - msw) / (msb + (k0 - 1) * msw))
    assert average.value == pytest.approx((msb - msw) / msb)
    assert average.k == pytest.approx(k0)
    # The F statistic is the ordinary one-way ANOVA F (scipy's, independently).
    f = stats.f_oneway([1, 3], [4, 5, 6], [8, 9, 7, 8]).statistic
    assert single.f == pytest.approx(f)
    assert (single.df1, single.df2) == (2, 6)


def test_assess_chooses_the_forms_that_fit_the_design():
    complete = assess(SHROUT_FLEISS)
    assert complete.design == "complete"
    assert {i.form for i in complete.icc} == {c[0] for c in SF_CASES}
    sparse = assess(KRIPPENDORFF_2011)
    assert sparse.design == "incomplete"
    assert [i.form for i in sparse.icc] == ["ICC(1)", "ICC(1,k0)"]
    assert sparse.kendall_w is None
    assert sparse.alpha.value == pytest.approx(0.849, abs=5e-4)


def test_assess_ignores_labels_without_scores():
    # A judge label that never scored anything does not make a complete panel incomplete.
    m = as_matrix(SHROUT_FLEISS)
    padded = ScoreMatrix(m.entry_labels, m.judge_labels + ("idle",), m.entry_idx, m.judge_idx,
                         m.values)
    assert is_complete(padded)
    assert assess(padded).icc_form("ICC(2,1)").value == pytest.approx(0.2898, abs=1e-4)


# --------------------------------------------------------------------------- degenerate input

DEGENERATE = [
    ("one judge", np.array([[70.0], [80.0], [90.0]]), NEED_TWO_JUDGES, NEED_TWO_JUDGES,
     NEED_TWO_JUDGES, NEED_TWO_JUDGES),
    ("one entry", np.array([[70.0, 72.0, 75.0]]), NEED_TWO_ENTRIES, NEED_TWO_ENTRIES,
     NEED_TWO_ENTRIES, NEED_TWO_ENTRIES),
    ("all scores equal", np.full((4, 3), 85.5), NO_VARIANCE, NO_VARIANCE, NO_VARIANCE,
     ALL_TIED),
    ("nobody shares an entry", np.array([[70.0, NAN], [NAN, 80.0], [75.0, NAN]]), NOT_COMPLETE,
     NO_PAIRS, NO_PAIRS, NOT_COMPLETE),
    ("no scores at all", np.full((2, 2), NAN), NEED_TWO_ENTRIES, NEED_TWO_JUDGES,
     NEED_TWO_JUDGES, NEED_TWO_ENTRIES),
]


@pytest.mark.parametrize("name,data,complete_reason,oneway_reason,alpha_reason,w_reason",
                         DEGENERATE, ids=[d[0] for d in DEGENERATE])
def test_degenerate_input_gives_nan_with_a_reason(name, data, complete_reason, oneway_reason,
                                                  alpha_reason, w_reason):
    for icc in icc_complete(data):
        assert math.isnan(icc.value) and icc.reason == complete_reason
    for icc in icc_oneway(data):
        assert math.isnan(icc.value) and icc.reason == oneway_reason
    alpha = krippendorff_alpha(data)
    assert math.isnan(alpha.value) and alpha.reason == alpha_reason
    w = kendall_w(data)
    assert math.isnan(w.value) and w.reason == w_reason
    assess(data)  # never raises


def test_perfect_agreement_is_one_with_no_interval():
    data = np.array([[60.0, 60.0], [70.0, 70.0], [90.0, 90.0]])
    icc = {i.form: i for i in icc_complete(data)}
    assert icc["ICC(3,1)"].value == 1.0 and icc["ICC(2,1)"].value == 1.0
    assert math.isnan(icc["ICC(3,1)"].ci_low) and icc["ICC(3,1)"].reason
    assert krippendorff_alpha(data).value == 1.0
    assert kendall_w(data).value == pytest.approx(1.0)


# --------------------------------------------------------------------------- properties


def reference_alpha(data: np.ndarray) -> float:
    """Krippendorff's alpha (interval) straight from the definition: the coincidence matrix
    over the distinct values, D_o and D_e with the squared difference (Krippendorff 2011)."""
    units = [row[~np.isnan(row)] for row in data]
    units = [u for u in units if u.size >= 2]
    values = np.unique(np.concatenate(units))
    index = {v: i for i, v in enumerate(values)}
    o = np.zeros((values.size, values.size))
    for u in units:
        for a, b in itertools.permutations(range(u.size), 2):
            o[index[u[a]], index[u[b]]] += 1 / (u.size - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    delta = (values[:, None] - values[None, :]) ** 2
    d_o = (o * delta).sum() / n
    d_e = (np.outer(n_c, n_c) * delta).sum() / (n * (n - 1))
    return 1 - d_o / d_e


score = st.integers(min_value=0, max_value=20).map(float)


@st.composite
def complete_panels(draw, min_entries=3, max_entries=8, min_judges=2, max_judges=6):
    n = draw(st.integers(min_entries, max_entries))
    k = draw(st.integers(min_judges, max_judges))
    data = np.array(draw(st.lists(score, min_size=n * k, max_size=n * k))).reshape(n, k)
    return data


@st.composite
def sparse_panels(draw):
    data = draw(complete_panels(min_judges=3))
    mask = np.array(draw(st.lists(st.booleans(), min_size=data.size, max_size=data.size)))
    data = data.copy()
    data[mask.reshape(data.shape)] = np.nan
    return data


@settings(max_examples=60, deadline=None)
@given(sparse_panels())
def test_alpha_closed_form_equals_the_coincidence_matrix_definition(data):
    alpha = krippendorff_alpha(data)
    pairable = [row[~np.isnan(row)] for row in data if (~np.isnan(row)).sum() >= 2]
    assume(len(pairable) >= 2 and np.ptp(np.concatenate(pairable)) > 0)
    assert alpha.value == pytest.approx(reference_alpha(data), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(sparse_panels(), st.randoms(use_true_random=False))
def test_order_of_judges_and_entries_never_matters(data, rnd):
    rows = list(range(data.shape[0]))
    cols = list(range(data.shape[1]))
    rnd.shuffle(rows)
    rnd.shuffle(cols)
    shuffled = data[rows][:, cols]
    before, after = assess(data), assess(shuffled)
    assert before.design == after.design
    for a, b in zip(before.icc, after.icc):
        assert a.form == b.form
        assert a.value == pytest.approx(b.value, nan_ok=True, abs=1e-9)
        assert a.ci_low == pytest.approx(b.ci_low, nan_ok=True, abs=1e-9)
    assert before.alpha.value == pytest.approx(after.alpha.value, nan_ok=True, abs=1e-9)
    if before.kendall_w is not None:
        assert before.kendall_w.value == pytest.approx(after.kendall_w.value, nan_ok=True)
    # ... and neither does the order in which the rows of a ScoreMatrix arrive.
    m = as_matrix(data)
    perm = np.array(rnd.sample(range(m.values.size), m.values.size), dtype=np.int64)
    reordered = ScoreMatrix(m.entry_labels, m.judge_labels, m.entry_idx[perm],
                            m.judge_idx[perm], m.values[perm])
    assert krippendorff_alpha(reordered).value == pytest.approx(
        krippendorff_alpha(m).value, nan_ok=True, abs=1e-9)
    for a, b in zip(icc_oneway(reordered), icc_oneway(m)):
        assert a.value == pytest.approx(b.value, nan_ok=True, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(complete_panels(), st.integers(0, 5), st.floats(0.5, 30).map(lambda c: round(c, 2)))
def test_a_constant_added_to_one_judge_moves_agreement_but_not_consistency(data, which, c):
    """ICC(3,1) measures consistency: one judge scoring everyone c points higher changes
    nothing. ICC(2,1) (absolute agreement) and ICC(1) (one-way) count that offset as
    disagreement. Start from judges whose means are equal so the offset always adds spread."""
    data = data - data.mean(axis=0) + 50
    j = which % data.shape[1]
    before = {i.form: i.value for i in icc_complete(data)}
    assume(all(math.isfinite(v) for v in before.values()))
    assume(before["ICC(3,1)"] > 1e-6)  # MSR > MSE: entries differ beyond noise
    shifted = data.copy()
    shifted[:, j] += c
    after = {i.form: i.value for i in icc_complete(shifted)}
    assert after["ICC(3,1)"] == pytest.approx(before["ICC(3,1)"], abs=1e-9)
    assert after["ICC(3,k)"] == pytest.approx(before["ICC(3,k)"], abs=1e-9)
    assert after["ICC(2,1)"] < before["ICC(2,1)"] - 1e-9
    assert after["ICC(1,1)"] < before["ICC(1,1)"] - 1e-9
    assert icc_oneway(shifted)[0].value < icc_oneway(data)[0].value - 1e-9
    assert krippendorff_alpha(shifted).value < krippendorff_alpha(data).value - 1e-9
    assert kendall_w(shifted).value == pytest.approx(kendall_w(data).value)


@settings(max_examples=40, deadline=None)
@given(sparse_panels(), st.floats(0.1, 10), st.floats(-50, 50))
def test_alpha_and_icc1_ignore_the_unit_of_the_scale(data, a, b):
    """Marking out of 10 or out of 100 (a x + b for every score) changes no coefficient."""
    before, after = assess(data), assess(a * data + b)
    assert after.alpha.value == pytest.approx(before.alpha.value, nan_ok=True, abs=1e-7)
    for x, y in zip(before.icc, after.icc):
        assert y.value == pytest.approx(x.value, nan_ok=True, abs=1e-7)


def test_incomplete_one_way_icc_penalises_a_shifted_judge():
    """In an incomplete design the one-way ICC(1) is the only ICC; a judge who scores every
    entry 10 points higher lowers it."""
    rng = np.random.default_rng(3)
    quality = rng.normal(70, 8, 60)
    data = np.full((60, 12), np.nan)
    for i in range(60):
        judges = rng.choice(12, 4, replace=False)
        data[i, judges] = quality[i] + rng.normal(0, 3, 4)
    shifted = data.copy()
    shifted[:, 0] += 10
    assert icc_oneway(shifted)[0].value < icc_oneway(data)[0].value - 0.02


def test_fast_on_a_national_review_of_10000_entries():
    """10,000 entries x 5 of 200 reviewers: assess() works on the long form (no dense
    10,000 x 200 matrix is needed) and stays well inside the engine's 1 s budget."""
    import time

    rng = np.random.default_rng(1)
    e = np.repeat(np.arange(10_000), 5)
    j = np.concatenate([rng.choice(200, 5, replace=False) for _ in range(10_000)])
    v = np.round(70 + rng.normal(0, 8, 10_000)[e] + rng.normal(0, 3, e.size), 2)
    m = ScoreMatrix.from_arrays(e, j, v)
    start = time.perf_counter()
    rel = assess(m)
    elapsed = time.perf_counter() - start
    assert rel.design == "incomplete"
    assert 0.8 < rel.alpha.value < 0.95
    assert elapsed < 0.5


def test_reliability_module_loads_no_web_stack():
    code = ("import sys, scoring.reliability, scoring.monitoring, scoring.report; "
            "bad = [m for m in ('flask', 'sqlalchemy', 'pandas', 'weasyprint') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert res.returncode == 0, res.stdout + res.stderr
