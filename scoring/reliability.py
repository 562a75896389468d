"""Inter-judge reliability: how far the panel agrees, as one number per design.

Which coefficient fits which design:

* **Complete panel** (every judge scores every entry: a live final). The two-way ANOVA
  intraclass correlations of Shrout & Fleiss (1979), in McGraw & Wong's (1996) terms:
  ICC(1,1) one-way (judges interchangeable), ICC(2,1) two-way random, absolute agreement
  (a harsh judge lowers it), ICC(3,1) two-way mixed, consistency (a constant judge offset does
  not), and the average-measure forms ICC(1,k), ICC(2,k), ICC(3,k): the reliability of the
  panel mean of the k judges, which is what the official result is. Kendall's W (with the
  tie correction) for agreement of the rankings, with its chi-square test.
* **Incomplete design** (each entry sees a different subset of judges: divisions, the national
  preliminary review). The one-way form ICC(1) from the unbalanced one-way ANOVA, with the
  number of judges per entry replaced by k0 = (N - sum(n_i^2) / N) / (a - 1) (Searle 1971,
  Donner 1986); its F-based interval uses k0 and is approximate when the design is unbalanced.
  Krippendorff's alpha with the interval metric, which is built for missing data.

Entries scored by a single judge carry no information about agreement: ICC(1) and alpha both
leave them out ("pairable" values in Krippendorff's term), so the two describe the same data.

Degenerate input (fewer than two entries or judges, no entry scored twice, no variance at all)
never raises: the coefficient is NaN and ``reason`` says why, in Chinese with the English
term, so a report can print it as it is.

Library decision. ``pingouin`` (0.7.0) computes the six Shrout-Fleiss ICCs with the same
F-based intervals as below, but only for complete data (it drops every entry with a missing
judge, so it has no answer for the incomplete designs that matter most here) and it pulls in
pandas, statsmodels, scikit-learn, matplotlib and seaborn: not acceptable in ``scoring/``.
``krippendorff`` (0.9.0) depends on numpy only, but it works through a value-domain
coincidence matrix: an (entries x V x V) array where V is the number of distinct score values.
Totals reported to two decimals on a 100-point scale have hundreds or thousands of distinct
values: measured here, 200 entries x 5 of 60 reviewers (855 distinct totals) took 10.8 s in
the library against 0.4 ms for the closed form below (same alpha to 1e-15), and 500 entries
ran out of 24 GB of memory. The closed form for the interval metric is O(number of scores). Both are therefore not used; the
formulas are short, cited, and checked in tests/scoring/test_reliability.py against the
published worked examples (Shrout & Fleiss Table 2, Krippendorff 2011, Siegel & Castellan
1988) and against a literal coincidence-matrix implementation of alpha.

References: Shrout, P. E. & Fleiss, J. L. (1979) Intraclass correlations: uses in assessing
rater reliability. Psychological Bulletin 86, 420-428. McGraw, K. O. & Wong, S. P. (1996)
Forming inferences about some intraclass correlation coefficients. Psychological Methods 1,
30-46 (and the correction in 1, 390). Krippendorff, K. (2011) Computing Krippendorff's
alpha-reliability. Kendall, M. G. & Babington Smith, B. (1939); Siegel, S. & Castellan, N. J.
(1988) Nonparametric statistics for the behavioral sciences, 2nd ed., section 9.4.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from scoring.table import ScoreMatrix

NAN = float("nan")

# Reasons a coefficient is NaN. Chinese first (the report prints them), English in brackets.
NEED_TWO_ENTRIES = "作品少于 2 个 (fewer than 2 entries)"
NEED_TWO_JUDGES = "评委少于 2 位 (fewer than 2 judges)"
NO_PAIRS = "没有作品被 2 位以上评委评分 (no entry scored by 2 or more judges)"
NO_VARIANCE = "所有分数相同，无法计算 (no variance: every score is the same)"
NOT_COMPLETE = "需要完整评分设计：每位评委给每个作品打分 (needs a complete panel)"
ALL_TIED = "每位评委给所有作品的分数都相同，无法排序 (every judge tied all entries)"
NO_CI = "置信区间无法计算 (interval undefined: no residual variance)"


@dataclass(frozen=True)
class ICC:
    """One intraclass correlation with its F test and confidence interval.

    ``k`` is the number of judges the coefficient refers to: 1 for single-measure forms, the
    panel size for average-measure forms of a complete design, k0 for the incomplete design.
    ``reason`` is empty when every figure is defined; otherwise it says what is NaN and why.
    """

    form: str
    value: float
    ci_low: float
    ci_high: float
    f: float
    df1: float
    df2: float
    p_value: float
    k: float
    confidence: float = 0.95
    reason: str = ""


@dataclass(frozen=True)
class Alpha:
    """Krippendorff's alpha, interval metric. ``n_pairable`` counts the scores of entries with
    at least two judges; ``n_units`` those entries."""

    value: float
    n_units: int
    n_pairable: int
    observed_disagreement: float
    expected_disagreement: float
    reason: str = ""


@dataclass(frozen=True)
class KendallW:
    """Kendall's coefficient of concordance with the tie correction, and the chi-square test
    chi2 = m (n - 1) W on n - 1 degrees of freedom (Friedman's statistic)."""

    value: float
    chi2: float
    df: int
    p_value: float
    n_entries: int
    n_judges: int
    tie_corrected: bool
    reason: str = ""


@dataclass(frozen=True)
class Reliability:
    """Every coefficient that fits the design. ``design`` is "complete" when every judge scored
    every entry (after dropping labels without any score), else "incomplete"."""

    design: str
    n_entries: int
    n_judges: int
    n_scores: int
    icc: tuple[ICC, ...]
    alpha: Alpha
    kendall_w: KendallW | None

    def icc_form(self, form: str) -> ICC:
        for item in self.icc:
            if item.form == form:
                return item
        raise KeyError(form)


# ---------------------------------------------------------------------------------------------
# Input handling


def _dense(data: ScoreMatrix | np.ndarray) -> np.ndarray:
    """entries x judges float array, NaN where absent; rows and columns without any score are
    dropped (a judge label with no score is not part of the design)."""
    x = data.dense() if isinstance(data, ScoreMatrix) else np.asarray(data, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("expected an entries x judges matrix")
    present = ~np.isnan(x)
    return x[present.any(axis=1)][:, present.any(axis=0)]


def _long(data: ScoreMatrix | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(entry index, judge index, value) with compact indices, from either input kind."""
    if isinstance(data, ScoreMatrix):
        e, j, v = data.entry_idx, data.judge_idx, data.values
    else:
        x = np.asarray(data, dtype=np.float64)
        e, j = np.nonzero(~np.isnan(x))
        v = x[e, j]
    keep = ~np.isnan(v)
    e, j, v = e[keep], j[keep], v[keep]
    e = np.unique(e, return_inverse=True)[1].astype(np.int64)
    j = np.unique(j, return_inverse=True)[1].astype(np.int64)
    return e, j, v


def is_complete(data: ScoreMatrix | np.ndarray) -> bool:
    """Every judge (with any score) scored every entry (with any score). Works on the long
    form, so a sparse national review is never expanded to entries x judges."""
    e, j, _v = _long(data)
    if e.size == 0:
        return False
    n_e, n_j = int(e.max()) + 1, int(j.max()) + 1
    return np.unique(e * n_j + j).size == n_e * n_j


def _tiny(ss: float, scale: float, n: int) -> bool:
    """A sum of squares that is zero up to floating-point noise, relative to the data's size."""
    return ss <= 1e-12 * max(scale, 1.0) ** 2 * max(n, 1)


def _nan_icc(form: str, k: float, reason: str, confidence: float) -> ICC:
    return ICC(form, NAN, NAN, NAN, NAN, NAN, NAN, NAN, k, confidence, reason)


# ---------------------------------------------------------------------------------------------
# Complete designs: the six Shrout-Fleiss forms


COMPLETE_FORMS = ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)")


def icc_complete(data: ScoreMatrix | np.ndarray, confidence: float = 0.95) -> tuple[ICC, ...]:
    """The six Shrout-Fleiss ICCs of a complete entries x judges design, in COMPLETE_FORMS
    order, with F tests against ICC = 0 and F-based intervals (McGraw & Wong 1996, cases 1, 2A
    and 3A; the same formulas as R's psych::ICC). An incomplete design gives NaN with a reason:
    use :func:`icc_oneway` for it."""
    x = _dense(data)
    n, k = x.shape

    def all_nan(reason: str) -> tuple[ICC, ...]:
        return tuple(_nan_icc(f, 1 if f.endswith(",1)") else k, reason, confidence)
                     for f in COMPLETE_FORMS)

    if n < 2:
        return all_nan(NEED_TWO_ENTRIES)
    if k < 2:
        return all_nan(NEED_TWO_JUDGES)
    if np.isnan(x).any():
        return all_nan(NOT_COMPLETE)

    grand = x.mean()
    row = x.mean(axis=1)
    col = x.mean(axis=0)
    ss_total = float(((x - grand) ** 2).sum())
    ss_rows = float(k * ((row - grand) ** 2).sum())
    ss_cols = float(n * ((col - grand) ** 2).sum())
    ss_err = max(ss_total - ss_rows - ss_cols, 0.0)
    scale = float(np.abs(x).max())
    if _tiny(ss_total, scale, x.size):
        return all_nan(NO_VARIANCE)

    df_r, df_c, df_e, df_w = n - 1, k - 1, (n - 1) * (k - 1), n * (k - 1)
    # numpy scalars: a zero mean square divides to inf/nan under errstate, not an exception.
    msr, msc, mse = np.float64(ss_rows / df_r), np.float64(ss_cols / df_c), np.float64(ss_err / df_e)
    msw = np.float64((ss_cols + ss_err) / df_w)
    if _tiny(ss_err, scale, x.size):
        mse = np.float64(0.0)
    if _tiny(ss_cols + ss_err, scale, x.size):
        msw = np.float64(0.0)
    q = 1 - (1 - confidence) / 2

    with np.errstate(divide="ignore", invalid="ignore"):
        icc1 = _ratio(msr - msw, msr + (k - 1) * msw)
        icc2 = _ratio(msr - mse, msr + (k - 1) * mse + k * (msc - mse) / n)
        icc3 = _ratio(msr - mse, msr + (k - 1) * mse)
        icc1k = _ratio(msr - msw, msr)
        icc2k = _ratio(msr - mse, msr + (msc - mse) / n)
        icc3k = _ratio(msr - mse, msr)

        f1 = _ratio(msr, msw)
        f3 = _ratio(msr, mse)
        p1 = float(stats.f.sf(f1, df_r, df_w)) if math.isfinite(f1) else 0.0
        p3 = float(stats.f.sf(f3, df_r, df_e)) if math.isfinite(f3) else 0.0

        # Cases 1 and 3: exact F intervals.
        f1l, f1u = f1 / stats.f.ppf(q, df_r, df_w), f1 * stats.f.ppf(q, df_w, df_r)
        f3l, f3u = f3 / stats.f.ppf(q, df_r, df_e), f3 * stats.f.ppf(q, df_e, df_r)
        ci1 = ((f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1))
        ci3 = ((f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1))
        ci1k = (1 - 1 / f1l, 1 - 1 / f1u)
        ci3k = (1 - 1 / f3l, 1 - 1 / f3u)

        # Case 2A: Satterthwaite degrees of freedom (McGraw & Wong 1996, with the errata).
        fj = msc / mse
        vn = df_e * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        vd = df_r * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        v = vn / vd
        if math.isfinite(v) and v > 0:
            f2u = stats.f.ppf(q, df_r, v)
            f2l = stats.f.ppf(q, v, df_r)
            denom = k * msc + (k * n - k - n) * mse
            ci2 = (n * (msr - f2u * mse) / (f2u * denom + n * msr),
                   n * (f2l * msr - mse) / (denom + n * f2l * msr))
        else:
            ci2 = (NAN, NAN)
        ci2k = tuple(b * k / (1 + b * (k - 1)) for b in ci2)

    rows = (
        ("ICC(1,1)", icc1, ci1, f1, df_r, df_w, p1, 1),
        ("ICC(2,1)", icc2, ci2, f3, df_r, df_e, p3, 1),
        ("ICC(3,1)", icc3, ci3, f3, df_r, df_e, p3, 1),
        ("ICC(1,k)", icc1k, ci1k, f1, df_r, df_w, p1, k),
        ("ICC(2,k)", icc2k, ci2k, f3, df_r, df_e, p3, k),
        ("ICC(3,k)", icc3k, ci3k, f3, df_r, df_e, p3, k),
    )
    return tuple(_make_icc(*r, confidence=confidence) for r in rows)


def _ratio(num: float, den: float) -> float:
    if den == 0:
        return NAN if num == 0 else (math.inf if num > 0 else -math.inf)
    return float(num / den)


def _make_icc(form, value, ci, f, df1, df2, p, k, *, confidence) -> ICC:
    lo, hi = (float(c) if np.isfinite(c) else NAN for c in ci)
    value = float(value)
    reason = ""
    if not math.isfinite(value):
        value, reason = NAN, NO_VARIANCE
    elif not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi, reason = NAN, NAN, NO_CI
    return ICC(form, value, lo, hi, float(f), float(df1), float(df2), float(p), float(k),
               confidence, reason)


# ---------------------------------------------------------------------------------------------
# Incomplete designs: one-way ICC(1) with k0


def icc_oneway(data: ScoreMatrix | np.ndarray, confidence: float = 0.95) -> tuple[ICC, ICC]:
    """ICC(1) for any design, complete or not: the unbalanced one-way random-effects ANOVA
    with entries as groups, (MSB - MSW) / (MSB + (k0 - 1) MSW), and the reliability of a mean
    of k0 judges, (MSB - MSW) / MSB, labelled "ICC(1,k0)". Entries with a single score are left
    out. On a complete design both equal ICC(1,1) and ICC(1,k) of :func:`icc_complete`.

    The intervals are the Shrout-Fleiss case-1 intervals with k0 in place of k: exact for a
    balanced design, an approximation otherwise (Donner 1986)."""
    e, _j, v = _long(data)
    n_per = np.bincount(e)
    keep_e = n_per >= 2
    forms = ("ICC(1)", "ICC(1,k0)")
    n_judges = len(np.unique(_j))
    if n_judges < 2:
        return tuple(_nan_icc(f, NAN, NEED_TWO_JUDGES, confidence) for f in forms)
    if keep_e.sum() < 2:
        reason = NO_PAIRS if keep_e.sum() == 0 else NEED_TWO_ENTRIES
        return tuple(_nan_icc(f, NAN, reason, confidence) for f in forms)

    rows = keep_e[e]
    e = np.unique(e[rows], return_inverse=True)[1]
    v = v[rows]
    n_i = np.bincount(e).astype(np.float64)
    a, big_n = len(n_i), float(n_i.sum())
    means = np.bincount(e, weights=v) / n_i
    grand = float(v.mean())
    ss_b = float((n_i * (means - grand) ** 2).sum())
    ss_w = float(((v - means[e]) ** 2).sum())
    df_b, df_w = a - 1, big_n - a
    k0 = (big_n - float((n_i**2).sum()) / big_n) / df_b
    scale = float(np.abs(v).max())
    if _tiny(ss_b + ss_w, scale, len(v)):
        return tuple(_nan_icc(f, k, NO_VARIANCE, confidence) for f, k in zip(forms, (1.0, k0)))
    msb, msw = np.float64(ss_b / df_b), np.float64(ss_w / df_w)
    # Rounding noise of a rescaled zero is not variance: snap it to 0 so the result does not
    # depend on the unit of the scale (a property test found ss_b ~ 1e-28 after scaling).
    if _tiny(ss_b, scale, len(v)):
        msb = np.float64(0.0)
    if _tiny(ss_w, scale, len(v)):
        msw = np.float64(0.0)
    q = 1 - (1 - confidence) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        single = _ratio(msb - msw, msb + (k0 - 1) * msw)
        average = _ratio(msb - msw, msb)
        f = _ratio(msb, msw)
        p = float(stats.f.sf(f, df_b, df_w)) if math.isfinite(f) else 0.0
        fl, fu = f / stats.f.ppf(q, df_b, df_w), f * stats.f.ppf(q, df_w, df_b)
        ci_single = ((fl - 1) / (fl + k0 - 1), (fu - 1) / (fu + k0 - 1))
        ci_average = (1 - 1 / fl, 1 - 1 / fu)
    return (_make_icc("ICC(1)", single, ci_single, f, df_b, df_w, p, 1, confidence=confidence),
            _make_icc("ICC(1,k0)", average, ci_average, f, df_b, df_w, p, k0,
                      confidence=confidence))


# ---------------------------------------------------------------------------------------------
# Krippendorff's alpha, interval metric


def krippendorff_alpha(data: ScoreMatrix | np.ndarray) -> Alpha:
    """Krippendorff's alpha for interval data, any pattern of missing scores.

    alpha = 1 - D_o / D_e with the squared-difference metric. Summing the coincidence matrix
    against (c - k)^2 reduces to sums of squares (Krippendorff 2011, section on the interval
    metric): with n pairable values, m_u scores in entry u and SS_u their sum of squared
    deviations from the entry mean,

        D_o = (2 / n) * sum_u m_u SS_u / (m_u - 1),    D_e = 2 SS_total / (n - 1),

    which is O(number of scores) whatever the number of distinct values."""
    e, j, v = _long(data)
    if len(np.unique(j)) < 2:
        return Alpha(NAN, 0, 0, NAN, NAN, NEED_TWO_JUDGES)
    m = np.bincount(e)
    rows = m[e] >= 2
    if not rows.any():
        return Alpha(NAN, 0, 0, NAN, NAN, NO_PAIRS)
    e, v = e[rows], v[rows]
    m_u = np.bincount(e)
    units = m_u >= 2
    n = len(v)
    unit_mean = np.bincount(e, weights=v)[units] / m_u[units]
    lookup = np.full(len(m_u), np.nan)
    lookup[units] = unit_mean
    ss_u = np.bincount(e, weights=(v - lookup[e]) ** 2, minlength=len(m_u))[units]
    ss_tot = float(((v - v.mean()) ** 2).sum())
    mu = m_u[units].astype(np.float64)
    d_o = 2.0 / n * float((mu * ss_u / (mu - 1)).sum())
    d_e = 2.0 * ss_tot / (n - 1)
    n_units = int(units.sum())
    if n_units < 2:  # one entry: D_o = D_e by construction, alpha = 0 says nothing
        return Alpha(NAN, n_units, n, d_o, d_e, NEED_TWO_ENTRIES)
    if _tiny(ss_tot, float(np.abs(v).max()), n):
        return Alpha(NAN, n_units, n, d_o, 0.0, NO_VARIANCE)
    return Alpha(1.0 - d_o / d_e, n_units, n, d_o, d_e)


# ---------------------------------------------------------------------------------------------
# Kendall's W


def kendall_w(data: ScoreMatrix | np.ndarray, correct_ties: bool = True) -> KendallW:
    """Kendall's W for a complete panel: each judge's scores are ranked (ties get the mean
    rank), W = 12 S / (m^2 (n^3 - n) - m T) with S the sum of squared deviations of the rank
    sums from their mean and T = sum over judges and tie groups of (t^3 - t). The p-value is
    the chi-square approximation, chi2 = m (n - 1) W on n - 1 df (Siegel & Castellan 1988,
    9.4), conservative for very small panels."""
    x = _dense(data)
    n, m = x.shape

    def nan(reason: str) -> KendallW:
        return KendallW(NAN, NAN, max(n - 1, 0), NAN, n, m, correct_ties, reason)

    if n < 2:
        return nan(NEED_TWO_ENTRIES)
    if m < 2:
        return nan(NEED_TWO_JUDGES)
    if np.isnan(x).any():
        return nan(NOT_COMPLETE)
    ranks = stats.rankdata(x, axis=0)
    r = ranks.sum(axis=1)
    s = float(((r - r.mean()) ** 2).sum())
    t = 0.0
    if correct_ties:
        for col in x.T:
            _, counts = np.unique(col, return_counts=True)
            t += float((counts.astype(np.float64) ** 3 - counts).sum())
    denom = m**2 * (n**3 - n) - m * t
    if denom <= 0:
        return nan(ALL_TIED)
    w = 12.0 * s / denom
    chi2 = m * (n - 1) * w
    return KendallW(w, chi2, n - 1, float(stats.chi2.sf(chi2, n - 1)), n, m, correct_ties)


# ---------------------------------------------------------------------------------------------
# The summary a report prints


def assess(data: ScoreMatrix | np.ndarray, confidence: float = 0.95) -> Reliability:
    """Every coefficient that fits: for a complete design the six Shrout-Fleiss ICCs, Kendall's
    W and alpha; for an incomplete one ICC(1), ICC(1,k0) and alpha (W is None)."""
    e, j, _v = _long(data)
    n = int(e.max()) + 1 if e.size else 0
    k = int(j.max()) + 1 if j.size else 0
    alpha = krippendorff_alpha(data)
    if is_complete(data):
        x = _dense(data)
        return Reliability("complete", n, k, e.size, icc_complete(x, confidence), alpha,
                           kendall_w(x))
    return Reliability("incomplete", n, k, e.size, icc_oneway(data, confidence), alpha, None)
