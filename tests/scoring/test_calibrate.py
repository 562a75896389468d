"""Calibration for incomplete designs: what an organiser relies on when panels differ.

Tables cover the designs an organiser meets (simulated rounds with a known truth, tiny and
broken designs); hypothesis properties cover what must hold for every design (the order of
judges and rows never matters, a uniform shift or stretch of the scale carries through, a
judge's constant offset is absorbed where the model can absorb it exactly).
"""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from scoring import calibrate
from scoring.calibrate import components, fit, raw_means, zscore_means
from scoring.simulate import complete_panel, divisional, national_review
from scoring.table import ScoreMatrix

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def triples(m: ScoreMatrix) -> list[tuple[str, str, float]]:
    return [(m.entry_labels[e], m.judge_labels[j], float(v))
            for e, j, v in zip(m.entry_idx, m.judge_idx, m.values)]


def by_label(labels, values) -> dict[str, float]:
    return dict(zip(labels, np.asarray(values, dtype=float).tolist()))


# --------------------------------------------------------------------------- designs for properties


@st.composite
def designs(draw, connected: bool = True, complete: bool = False) -> ScoreMatrix:
    """Small designs on the 0.5-point grid. Connected ones link judge k to judge k+1 through
    entry k (a chain), then add random extra scores."""
    nq = draw(st.integers(2, 6))
    ne = draw(st.integers(max(3, nq), 12))
    if complete:
        member = np.ones((ne, nq), dtype=bool)
    else:
        extra = draw(st.lists(st.booleans(), min_size=ne * nq, max_size=ne * nq))
        member = np.array(extra, dtype=bool).reshape(ne, nq)
        for i in range(ne):
            if connected:
                member[i, i % nq] = member[i, (i + 1) % nq] = True
            elif not member[i].any():
                member[i, i % nq] = True
    e, j = np.nonzero(member)
    halves = draw(st.lists(st.integers(80, 200), min_size=e.size, max_size=e.size))
    return ScoreMatrix.from_arrays(e, j, np.array(halves) / 2.0,
                                   entry_labels=[f"e{i}" for i in range(ne)],
                                   judge_labels=[f"j{k}" for k in range(nq)])


def fit_or_skip(m: ScoreMatrix, model: str = "bias", **kw):
    c = fit(m, model, **kw)
    assume(c.calibrated)            # designs too thin to calibrate are covered by tables
    return c


# --------------------------------------------------------------------------- accuracy on simulated rounds


@pytest.mark.parametrize("design, seed", [
    ("national_review", 0), ("national_review", 1), ("national_review", 2),
    ("divisional", 0), ("divisional_national", 0),
])
def test_recovers_known_judge_biases(design, seed):
    sim = {"national_review": national_review, "divisional": divisional,
           "divisional_national": lambda s: divisional(s, bridge="national")}[design](seed)
    c = fit(sim.matrix)
    assert c.method == "calibrated:bias" and c.connected
    assert np.corrcoef(c.bias, sim.bias)[0, 1] > 0.9
    # The reported uncertainty is honest: about 95% of 1.96-se intervals cover the truth
    # (biases are relative to the average judge).
    inside = np.abs(c.bias - (sim.bias - sim.bias.mean())) < 1.96 * c.bias_se
    assert inside.mean() > 0.85


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_known_judge_scales(seed):
    sim = national_review(seed, scale_share=1.0)
    c = fit(sim.matrix, "bias_scale")
    assert c.method == "calibrated:bias_scale"
    assert np.corrcoef(c.scale, sim.scale)[0, 1] > 0.85
    assert np.corrcoef(c.bias, sim.bias)[0, 1] > 0.9
    assert c.scale_variance > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_divisional_round_calibrated_beats_raw_mean_and_zscores(seed):
    # Divisions differ in true quality and each has its own panel: z-scores erase the
    # difference between divisions, the raw mean keeps each panel's harshness.
    sim = divisional(seed)
    tau = {name: kendalltau(v, sim.quality)[0] for name, v in {
        "raw": raw_means(sim.matrix), "z": zscore_means(sim.matrix),
        "calibrated": fit(sim.matrix).quality}.items()}
    assert tau["calibrated"] > tau["raw"] > tau["z"]


@pytest.mark.parametrize("model", ["bias", "bias_scale"])
def test_complete_panel_without_judge_bias_ranks_like_the_raw_mean(model):
    sim = complete_panel(0, bias_sd=0.0, scale_share=0.0)
    c = fit(sim.matrix, model)
    raw = raw_means(sim.matrix)
    assert list(np.argsort(-c.quality, kind="stable")) == list(np.argsort(-raw, kind="stable"))


def test_complete_panel_bias_model_is_the_raw_mean_whatever_the_biases():
    sim = complete_panel(3)                    # biased judges, but each judged everything
    np.testing.assert_allclose(fit(sim.matrix).quality, raw_means(sim.matrix), atol=1e-9)


def test_noise_free_scores_are_recovered_exactly():
    # Judges differ only by a constant: the fit must find the qualities themselves.
    quality = np.array([70.0, 82.5, 91.0, 64.0, 77.5, 88.0])
    bias = np.array([-3.0, 0.5, 4.0, -1.5])
    e = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 0, 3])
    j = np.array([0, 1, 1, 2, 2, 3, 3, 0, 0, 2, 1, 3, 3, 1])
    m = ScoreMatrix.from_arrays(e, j, quality[e] + bias[j])
    for judge_variance in (None, math.inf):
        c = fit(m, judge_variance=judge_variance)
        np.testing.assert_allclose(c.quality, quality, atol=1e-4)
        np.testing.assert_allclose(c.bias, bias, atol=1e-4)


def test_reml_and_predictions_match_the_textbook_formulas():
    # Brute force on a small review: the REML likelihood of V = σ²I + σ_b²ZZᵀ with dense
    # matrices must be highest at the fitted variances (against nearby and far-off values),
    # and Henderson's mixed-model equations, solved and inverted densely, must give the same
    # qualities, biases and prediction-error variances as the sparse eigen-decomposed fit.
    m = national_review(3, n_entries=24, n_judges=8, per_entry=3).matrix
    n, y = m.values.size, m.values
    X = np.zeros((n, m.n_entries))
    X[np.arange(n), m.entry_idx] = 1
    Z = np.zeros((n, m.n_judges))
    Z[np.arange(n), m.judge_idx] = 1

    def minus_two_reml(s2, sb2):
        Vi = np.linalg.inv(s2 * np.eye(n) + sb2 * Z @ Z.T)
        XtViX = X.T @ Vi @ X
        P = Vi - Vi @ X @ np.linalg.solve(XtViX, X.T @ Vi)
        return -np.linalg.slogdet(Vi)[1] + np.linalg.slogdet(XtViX)[1] + y @ P @ y

    c = fit(m)
    at_fit = minus_two_reml(c.residual_variance, c.judge_variance)
    assert c.judge_variance > 0
    for f_s2, f_sb2 in [(1.01, 1), (0.99, 1), (1, 1.01), (1, 0.99), (1.01, 1.01), (0.99, 0.99),
                        (2, 1), (0.5, 1), (1, 3), (1, 0.3), (0.5, 3), (2, 0.3)]:
        assert at_fit < minus_two_reml(f_s2 * c.residual_variance, f_sb2 * c.judge_variance)

    s2, sb2 = c.residual_variance, c.judge_variance
    C = np.block([[X.T @ X, X.T @ Z], [Z.T @ X, Z.T @ Z + s2 / sb2 * np.eye(m.n_judges)]])
    solution = np.linalg.solve(C, np.concatenate([X.T @ y, Z.T @ y]))
    pev = np.diag(np.linalg.inv(C)) * s2
    np.testing.assert_allclose(c.quality, solution[:m.n_entries], atol=1e-9)
    np.testing.assert_allclose(c.bias, solution[m.n_entries:], atol=1e-9)
    np.testing.assert_allclose(c.quality_se, np.sqrt(pev[:m.n_entries]), atol=1e-9)
    np.testing.assert_allclose(c.bias_se, np.sqrt(pev[m.n_entries:]), atol=1e-9)


def test_large_panels_use_moments_and_agree_with_reml(monkeypatch):
    sim = national_review(4)
    reml = fit(sim.matrix)
    monkeypatch.setattr(calibrate, "DENSE_JUDGES", 10)
    moments = fit(sim.matrix)
    assert any("method III" in n for n in moments.notes)
    assert np.max(np.abs(moments.quality - reml.quality)) < 0.1
    assert moments.residual_variance == pytest.approx(reml.residual_variance, rel=0.05)
    assert moments.judge_variance == pytest.approx(reml.judge_variance, rel=0.25)
    assert np.corrcoef(moments.bias_se, reml.bias_se)[0, 1] > 0.8


def test_one_judge_shifted_moves_the_shrunk_ranking_far_less_than_the_raw_mean():
    # Adding 10 points to one reviewer of the national review. The shrunk model attributes a
    # small share of the shift to that reviewer's entries (see the module docstring); the raw
    # mean passes a fifth of it straight to each of them.
    sim = national_review(5)
    m = sim.matrix
    shifted = ScoreMatrix(m.entry_labels, m.judge_labels, m.entry_idx, m.judge_idx,
                          m.values + 10.0 * (m.judge_idx == 7))
    raw_tau = kendalltau(raw_means(m), raw_means(shifted))[0]
    cal_tau = kendalltau(fit(m).quality, fit(shifted).quality)[0]
    assert cal_tau > 0.995 > raw_tau


# --------------------------------------------------------------------------- properties


@PROPS
@given(designs(connected=False), st.randoms(use_true_random=False), st.sampled_from(["bias", "bias_scale"]))
def test_row_and_judge_order_never_matter(m, rnd, model):
    rows = triples(m)
    rnd.shuffle(rows)                   # shuffles rows and so the first-seen judge order
    shuffled = ScoreMatrix.from_triples(rows)
    a, b = fit(m, model), fit(shuffled, model)
    assert a.method == b.method and a.connected == b.connected
    assert sorted(map(sorted, a.components)) == sorted(map(sorted, b.components))
    for field, labels in (("quality", "entry_labels"), ("quality_se", "entry_labels"),
                          ("bias", "judge_labels"), ("bias_se", "judge_labels")):
        x = by_label(getattr(a, labels), getattr(a, field))
        y = by_label(getattr(b, labels), getattr(b, field))   # judges with no scores vanish
        np.testing.assert_allclose([x[k] for k in sorted(y)], [y[k] for k in sorted(y)],
                                   atol=1e-6, rtol=1e-6, err_msg=field)
    for f in (raw_means, zscore_means):
        x, y = by_label(m.entry_labels, f(m)), by_label(shuffled.entry_labels, f(shuffled))
        np.testing.assert_allclose([x[k] for k in sorted(x)], [y[k] for k in sorted(x)], atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10**6), st.randoms(use_true_random=False))
def test_row_and_judge_order_never_matter_for_the_scale_model(seed, rnd):
    # Judge scales need realistic designs (tiny ones fall back to the bias model): a 9-judge
    # panel with about a fifth of its scores missing.
    full = complete_panel(seed, n_entries=20, scale_share=0.5).matrix
    keep = np.random.default_rng(seed).random(full.values.size) > 0.2
    rows = [t for t, k in zip(triples(full), keep) if k]
    m = ScoreMatrix.from_triples(rows)
    rnd.shuffle(rows)
    shuffled = ScoreMatrix.from_triples(rows)
    a, b = fit(m, "bias_scale"), fit(shuffled, "bias_scale")
    assert a.method == b.method == "calibrated:bias_scale"
    for field, labels in (("quality", "entry_labels"), ("bias", "judge_labels"), ("scale", "judge_labels")):
        x = by_label(getattr(a, labels), getattr(a, field))
        y = by_label(getattr(b, labels), getattr(b, field))
        np.testing.assert_allclose([x[k] for k in sorted(y)], [y[k] for k in sorted(y)],
                                   atol=1e-5, err_msg=field)


@PROPS
@given(designs(), st.integers(0, 5), st.floats(-30, 30))
def test_fixed_effects_fit_absorbs_a_constant_added_to_one_judge(m, who, c):
    # On a connected design a judge's constant offset is absorbed completely: every entry
    # moves by the same amount (c / judges), so the ranking cannot change.
    who = who % m.n_judges
    shifted = ScoreMatrix(m.entry_labels, m.judge_labels, m.entry_idx, m.judge_idx,
                          m.values + c * (m.judge_idx == who))
    before = fit_or_skip(m, judge_variance=math.inf)
    after = fit(shifted, judge_variance=math.inf)
    move = after.quality - before.quality
    np.testing.assert_allclose(move, c / m.n_judges, atol=1e-6)


@PROPS
@given(designs(complete=True), st.integers(0, 5), st.floats(-30, 30), st.sampled_from([None, math.inf]))
def test_on_complete_panels_a_judges_constant_never_changes_the_calibrated_ranking(m, who, c, jv):
    who = who % m.n_judges
    shifted = ScoreMatrix(m.entry_labels, m.judge_labels, m.entry_idx, m.judge_idx,
                          m.values + c * (m.judge_idx == who))
    before = fit_or_skip(m, judge_variance=jv)
    after = fit(shifted, judge_variance=jv)
    np.testing.assert_allclose(after.quality - before.quality, c / m.n_judges, atol=1e-6)


@PROPS
@given(designs(), st.floats(0.2, 5), st.floats(-50, 50), st.sampled_from(["bias", "bias_scale"]))
def test_a_change_of_units_carries_through(m, k, c, model):
    # Marking out of 10 instead of 100, or adding a constant to every score, changes nothing
    # but the units: qualities are stretched and shifted alike, biases only stretched.
    before = fit_or_skip(m, model)
    after = fit(ScoreMatrix(m.entry_labels, m.judge_labels, m.entry_idx, m.judge_idx,
                            k * m.values + c), model)
    np.testing.assert_allclose(after.quality, k * before.quality + c, atol=1e-5 * (1 + abs(c)), rtol=1e-5)
    np.testing.assert_allclose(after.bias, k * before.bias, atol=1e-5, rtol=1e-5)
    assert after.judge_variance == pytest.approx(k * k * before.judge_variance, rel=1e-4, abs=1e-8)


@PROPS
@given(designs(connected=False))
def test_every_design_gets_a_finite_quality_for_every_scored_entry(m):
    scored = np.bincount(m.judge_idx, minlength=m.n_judges) > 0
    for model in ("bias", "bias_scale"):
        c = fit(m, model)
        assert np.isfinite(c.quality).all()
        assert c.quality.shape == (m.n_entries,) and c.bias.shape == (m.n_judges,)
        assert (c.scale is None) == (c.method != "calibrated:bias_scale")
        assert np.isnan(c.bias[~scored]).all()          # a judge with no scores has no bias
        if c.calibrated:
            assert np.isfinite(c.bias[scored]).all()
            assert (c.bias_se[scored] >= 0).all() and (c.quality_se >= 0).all()


# --------------------------------------------------------------------------- connectivity


DISCONNECTED = [
    # (name, triples, expected components)
    ("two panels", [("a", "j", 80), ("b", "j", 70), ("a", "k", 84), ("b", "k", 72),
                    ("c", "l", 60), ("d", "l", 65), ("c", "m", 62), ("d", "m", 69),
                    ("e", "m", 75), ("e", "l", 71)],
     [("c", "d", "e"), ("a", "b")]),
    ("three panels", [("a", "j", 80), ("a", "k", 81), ("b", "l", 70), ("b", "m", 72),
                      ("c", "n", 60), ("c", "o", 66), ("d", "n", 62), ("d", "o", 64)],
     [("c", "d"), ("a",), ("b",)]),
    ("bridged", [("a", "j", 80), ("b", "j", 70), ("b", "k", 72), ("c", "k", 60)],
     [("a", "b", "c")]),
]


@pytest.mark.parametrize("name, rows, expected", DISCONNECTED, ids=[d[0] for d in DISCONNECTED])
def test_components_are_listed(name, rows, expected):
    m = ScoreMatrix.from_triples(rows)
    assert components(m) == tuple(expected)
    c = fit(m)
    assert c.components == tuple(expected)
    assert c.connected == (len(expected) == 1)
    if len(expected) > 1:
        assert any(f"{len(expected)} components" in n and "comparable only within" in n for n in c.notes)


def test_disconnected_panels_are_still_fitted_within_each_component():
    rows = DISCONNECTED[0][1]
    c = fit(ScoreMatrix.from_triples(rows))
    assert c.calibrated and not c.connected
    q = by_label(c.entry_labels, c.quality)
    assert q["a"] > q["b"] and q["d"] > q["c"]
    # Each component's judges are unbiased on average: the only link across components.
    b = by_label(c.judge_labels, c.bias)
    assert b["j"] + b["k"] == pytest.approx(0, abs=1e-9)
    assert b["l"] + b["m"] == pytest.approx(0, abs=1e-9)


def test_an_entry_nobody_scored_gets_no_quality():
    m = ScoreMatrix.from_arrays([0, 1, 0, 1, 2, 2], [0, 0, 1, 1, 0, 1], [80, 70, 82, 75, 90, 86],
                                entry_labels=["a", "b", "c", "d"], judge_labels=["j", "k", "x"])
    c = fit(m)
    assert math.isnan(c.quality[3]) and math.isnan(c.bias[2])
    assert np.isfinite(c.quality[:3]).all()
    assert not c.connected and ("d",) in c.components
    assert any("no scores" in n for n in c.notes)
    assert math.isnan(raw_means(m)[3]) and math.isnan(zscore_means(m)[3])


# --------------------------------------------------------------------------- designs too thin to calibrate


TINY = [
    # (name, triples, method, why (a phrase of the first note))
    ("no scores", [], "raw_mean", "no scores"),
    ("one judge", [("a", "j", 80), ("b", "j", 70), ("c", "j", 75)], "raw_mean", "only one judge"),
    ("one entry", [("a", "j", 80), ("a", "k", 70), ("a", "l", 75)], "raw_mean", "only one entry"),
    ("one score each", [("a", "j", 80), ("b", "k", 70), ("c", "l", 75)], "raw_mean",
     "no entry was scored by two or more judges"),
    ("one score", [("a", "j", 80)], "raw_mean", "only one judge"),
    ("no noise left", [("a", "j", 80), ("a", "k", 70), ("b", "k", 75)], "raw_mean", "too few overlapping"),
    ("smallest that works", [("a", "j", 80), ("b", "j", 70), ("a", "k", 84), ("b", "k", 72)],
     "calibrated:bias", "only 1 residual degrees of freedom"),
]


@pytest.mark.parametrize("name, rows, method, why", TINY, ids=[t[0] for t in TINY])
@pytest.mark.parametrize("model", ["bias", "bias_scale"])
def test_tiny_designs_do_not_crash_and_say_why(name, rows, method, why, model):
    m = ScoreMatrix.from_triples(rows)
    c = fit(m, model)
    assert c.method == method                  # tiny designs never support judge scales
    assert why in c.notes[0] if method == "raw_mean" else any(why in n for n in c.notes)
    if model == "bias_scale" and c.calibrated:
        assert any("too few scores per judge to estimate scales" in n for n in c.notes)
    assert c.scale is None
    np.testing.assert_allclose(c.quality, raw_means(m))      # tiny designs: raw mean order
    assert c.quality.shape == (m.n_entries,) and c.bias.shape == (m.n_judges,)


def test_judges_who_agree_exactly_leave_the_raw_mean():
    m = ScoreMatrix.from_triples([("a", "j", 80), ("b", "j", 70), ("a", "k", 80), ("b", "k", 70),
                                  ("c", "k", 90), ("c", "l", 90)])
    c = fit(m)
    assert c.calibrated and c.judge_variance == 0
    np.testing.assert_allclose(c.quality, [80, 70, 90])
    assert any("do not differ detectably" in n for n in c.notes)


def test_bad_arguments_are_refused():
    m = complete_panel(0).matrix
    with pytest.raises(ValueError, match="unknown calibration model"):
        fit(m, "scale")
    with pytest.raises(ValueError, match="judge_variance"):
        fit(m, judge_variance=-1.0)


def test_judge_variance_zero_is_the_raw_mean():
    m = national_review(0).matrix
    c = fit(m, judge_variance=0.0)
    assert c.method == "raw_mean"
    np.testing.assert_allclose(c.quality, raw_means(m))


# --------------------------------------------------------------------------- raw and z-score means


RAW_AND_Z = [
    # (name, triples, raw means, z-score means) by entry label. Raw: plain means. Z: each
    # judge's scores as standard scores, averaged, then overall mean + overall sd × that.
    ("plain means", [("a", "j", 80), ("a", "k", 70), ("b", "j", 60)],
     {"a": 75.0, "b": 60.0}, None),
    # j: 80, 60 -> z +0.7071, -0.7071; k: 70, 90 -> -0.7071, +0.7071: a harsh and a kind
    # judge who disagree exactly cancel out, and both entries sit at the overall mean 75.
    ("two judges cross", [("a", "j", 80), ("b", "j", 60), ("a", "k", 70), ("b", "k", 90)],
     {"a": 75.0, "b": 75.0}, {"a": 75.0, "b": 75.0}),
    # A judge who gives everyone 85 and a judge with a single score express no preference
    # (z = 0): mean 81.8, sd 12.6079 over all five scores; a = 81.8 + sd × (0.7071 + 0) / 2.
    ("constant and single judges", [("a", "j", 80), ("b", "j", 60), ("a", "k", 85), ("b", "k", 85),
                                    ("c", "l", 99)],
     {"a": 82.5, "b": 72.5, "c": 99.0},
     {"a": 81.8 + 12.6079 * 0.35355, "b": 81.8 - 12.6079 * 0.35355, "c": 81.8}),
    ("one constant judge", [("a", "j", 85), ("b", "j", 85)], {"a": 85.0, "b": 85.0}, {"a": 85.0, "b": 85.0}),
]


@pytest.mark.parametrize("name, rows, raw, z", RAW_AND_Z, ids=[c[0] for c in RAW_AND_Z])
def test_raw_and_zscore_means(name, rows, raw, z):
    m = ScoreMatrix.from_triples(rows)
    assert by_label(m.entry_labels, raw_means(m)) == pytest.approx(raw)
    if z is not None:
        assert by_label(m.entry_labels, zscore_means(m)) == pytest.approx(z, abs=1e-3)


def test_calibration_modules_import_no_web_stack():
    code = ("import sys, scoring.calibrate, scoring.simulate; "
            "bad = [m for m in ('flask', 'sqlalchemy', 'flask_sqlalchemy') if m in sys.modules]; "
            "sys.exit(1 if bad else 0)")
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0
