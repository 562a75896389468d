"""Judge monitoring: which judges were harsh, lenient, erratic or kind to their own province.

Everything is measured against the *other* judges of the same entry, so it works for complete
panels and for incomplete designs alike, and the quality of the entries a judge happened to
see cancels out. For each mark (entry e, judge j):

    others' mean = mean of the scores of e by every judge except j (leave-one-out)
    deviation    = mark - others' mean

Marks of entries that nobody else scored have no deviation and are left out of everything
below. The rules, each configurable in :func:`monitor`:

* **Flagged mark** (ISU-style): |deviation| > threshold. The threshold is ``deviation_threshold``
  points when given (e.g. 15 on a 100-point scale), else ``deviation_sd`` (default 3) times the
  panel's robust sd of deviations (1.4826 x the median absolute deviation of all deviations,
  so a single wild judge does not widen it for everyone).
* **Bias** (leave-one-judge-out): the judge's mean deviation, its standard error sd / sqrt(n)
  and t = bias / se. The flag compares the judge with the panel's *median* judge, not with
  zero: in a complete panel of k judges one judge b points harsh lowers every other judge's
  reference by b / (k - 1), so against zero the innocent majority would read as lenient.
  vs_median = bias - median over judges of bias, t = vs_median / se, two-sided t test on
  n - 1 df, Holm-adjusted across the judges. Flag ``harsh`` (偏严) or ``lenient`` (偏松) when
  the adjusted p < ``alpha`` (default 0.01).
* **Erratic scoring**: the sd of the judge's deviations after removing their own bias, divided
  by the median of that sd over the judges (the panel). Flag ``erratic`` (不稳定) when the ratio
  is at least ``erratic_ratio`` (default 1.5) and the one-sided chi-square test of
  (n - 1) ratio^2 on n - 1 df, Holm-adjusted, gives p < ``alpha``.
* **High total deviation** (ISU's "total deviation points" idea): the judge's mean absolute
  deviation divided by the median over the judges. Flag ``high_deviation`` (总偏离过大) when the
  ratio is at least ``high_deviation_ratio`` (default 1.5) and the judge has at least
  ``min_marks`` (default 10) compared marks. It fires for bias and for erratic scoring alike.
* **Own-group preference** (FIG's national-bias idea), given entry -> group and judge -> group
  (province or division): statistic = mean deviation on the judge's own-group entries minus
  the mean deviation on their other entries. p-value: the share of random relabellings of
  the judge's scored entries, keeping the number of own-group entries, whose statistic is at
  least the observed one, counting the observed labelling
  ((1 + hits) / (1 + permutations), one-sided: favouring). A judge whose p after the first
  ``n_permutations`` (default 2,000) is at most ``refine_below`` (0.01) gets more
  permutations, up to ``max_permutations`` (50,000) in all, so that a real preference can
  still pass the Holm adjustment among many judges (2,000 permutations cannot give a p below
  1/2,001, which Holm over 60 judges would never accept). Holm-adjusted across the tested
  judges; flag ``own_group_preference`` (偏向本组) when the difference is positive and the
  adjusted p < ``alpha``. A judge with no own-group entry among their compared marks (the
  normal case under 回避), or only own-group entries, or no group, is "not testable" and never
  flagged. The random numbers come
  from a generator seeded by ``seed`` and the judge's label, so a report is reproducible and
  does not change when rows arrive in another order.

Flagged marks are listed, and counted per judge, but are not a judge flag by themselves: at
3 sd a clean panel of 10,000 marks has some 27 by chance. Judge flags come only from the tests
above. With three tested families (bias, erratic, own group), each Holm-controlled at
``alpha`` = 0.01, a clean panel raises a judge flag in about 3% of competitions (measured on
simulated 9-judge finals: 2-5%).

Judges are returned sorted by concern: the weighted count of their flags (own-group
preference, bias and erratic 3 each, high total deviation 2), then the number of flagged
marks, then |t| of the bias against the median judge, then the label.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy import stats

from scoring.table import ScoreMatrix

NAN = float("nan")

# English code -> (Chinese name, weight in the concern order)
FLAG_NAMES = {
    "own_group_preference": ("偏向本组", 3),
    "harsh": ("偏严", 3),
    "lenient": ("偏松", 3),
    "erratic": ("评分不稳定", 3),
    "high_deviation": ("总偏离过大", 2),
}

# own_status values and their wording
OWN_STATUS = {
    "tested": "已检验 (tested)",
    "no_groups": "未提供分组 (no groups given)",
    "no_group": "该评委无分组 (judge has no group)",
    "no_own_entries": "无本组作品，不可检验 (no own-group entries: not testable)",
    "only_own_entries": "只评本组作品，不可检验 (only own-group entries: not testable)",
    "no_comparisons": "无可比较分数 (no compared marks)",
}


@dataclass(frozen=True)
class Flag:
    code: str   # English code, one of FLAG_NAMES
    text: str   # Chinese, with the figures behind it

    @property
    def name_zh(self) -> str:
        return FLAG_NAMES[self.code][0]


@dataclass(frozen=True)
class FlaggedMark:
    entry: str
    judge: str
    mark: float
    others_mean: float
    n_others: int
    deviation: float


@dataclass(frozen=True)
class JudgeStats:
    judge: str
    group: str | None
    n_marks: int               # scores given
    n_compared: int            # scores on entries that at least one other judge also scored
    bias: float                # mean deviation from the other judges (negative: harsh)
    bias_se: float
    bias_t: float              # bias / se
    bias_vs_median: float      # bias minus the panel's median bias (what the flag tests)
    bias_vs_median_t: float    # bias_vs_median / se
    bias_p: float              # two-sided t test of bias_vs_median, raw
    bias_p_adjusted: float     # Holm across judges
    mean_abs_deviation: float
    deviation_ratio: float     # mean_abs_deviation / panel median
    residual_sd: float         # sd of deviations after removing the judge's own bias
    erratic_ratio: float       # residual_sd / panel median
    erratic_p: float
    erratic_p_adjusted: float
    n_flagged_marks: int
    own_status: str            # key of OWN_STATUS
    own_n: int                 # compared marks on own-group entries
    other_n: int
    own_difference: float      # mean deviation on own-group entries minus on the others
    own_p: float               # one-sided permutation p-value, raw
    own_p_adjusted: float      # Holm across tested judges
    flags: tuple[Flag, ...]

    @property
    def concern(self) -> int:
        return sum(FLAG_NAMES[f.code][1] for f in self.flags)

    @property
    def flag_codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.flags)


@dataclass(frozen=True)
class Monitoring:
    judges: tuple[JudgeStats, ...]          # sorted by concern, most concerning first
    flagged_marks: tuple[FlaggedMark, ...]  # largest |deviation| first
    threshold: float                        # points
    threshold_rule: str                     # how the threshold was set, for the report
    panel_sd: float                         # robust sd of all deviations
    n_permutations: int
    alpha: float
    erratic_ratio: float
    high_deviation_ratio: float
    min_marks: int

    def judge(self, label: str) -> JudgeStats:
        for s in self.judges:
            if s.judge == label:
                return s
        raise KeyError(label)


def deviations(matrix: ScoreMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``matrix``: (others' mean, number of other judges, deviation). Rows whose
    entry nobody else scored get NaN mean and deviation and 0 others."""
    e, v = matrix.entry_idx, matrix.values
    n_e = np.bincount(e, minlength=matrix.n_entries)
    # Centre per entry before the leave-one-out sums: no cancellation on 90-point scores.
    sums = np.bincount(e, weights=v, minlength=matrix.n_entries)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.where(n_e > 0, sums / np.maximum(n_e, 1), 0.0)
        c = v - centre[e]
        csum = np.bincount(e, weights=c, minlength=matrix.n_entries)
        n_others = n_e[e] - 1
        others_c = (csum[e] - c) / n_others
    others_c = np.where(n_others > 0, others_c, np.nan)
    others_mean = others_c + centre[e]
    return others_mean, n_others.astype(np.int64), c - others_c


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment; NaN entries are ignored and stay NaN."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adj
    return out


def permutation_p(dev: np.ndarray, own: np.ndarray, n_permutations: int,
                  max_permutations: int, refine_below: float,
                  rng: np.random.Generator) -> tuple[float, float]:
    """(observed own-minus-other mean difference, one-sided p-value) for one judge.

    The statistic is monotone in the sum of deviations over the own-group marks, so each
    permutation only draws a random subset of the same size (argpartition of random keys, a
    block of permutations at once) and sums it. After ``n_permutations``, a p-value at most
    ``refine_below`` is refined with further blocks up to ``max_permutations`` in all."""
    n, n_own = dev.size, int(own.sum())
    n_other = n - n_own
    total = float(dev.sum())
    obs_sum = float(dev[own].sum())
    observed = obs_sum / n_own - (total - obs_sum) / n_other
    tol = 1e-9 * max(1.0, float(np.abs(dev).sum()))
    small, from_total = (n_own, False) if n_own <= n_other else (n_other, True)
    block = max(1, min(n_permutations, 2_000_000 // max(n, 1)))

    def subsets(b: int) -> np.ndarray:
        """b random subsets of size ``small`` of range(n), one per row."""
        if small * small <= n:  # few collisions: draw with replacement, redraw bad rows
            idx = np.sort(rng.integers(0, n, size=(b, small)), axis=1)
            bad = np.flatnonzero((np.diff(idx, axis=1) == 0).any(axis=1))
            while bad.size:
                idx[bad] = np.sort(rng.integers(0, n, size=(bad.size, small)), axis=1)
                bad = bad[(np.diff(idx[bad], axis=1) == 0).any(axis=1)]
            return idx
        return np.argpartition(rng.random((b, n)), small - 1, axis=1)[:, :small]

    def hits_in(count: int) -> int:
        found = 0
        while count > 0:
            b = min(block, count)
            sums = dev[subsets(b)].sum(axis=1)
            if from_total:  # drew the smaller complement
                sums = total - sums
            found += int((sums >= obs_sum - tol).sum())
            count -= b
        return found

    hits, done = hits_in(n_permutations), n_permutations
    if (1 + hits) / (1 + done) <= refine_below and max_permutations > done:
        hits += hits_in(max_permutations - done)
        done = max_permutations
    return observed, (1 + hits) / (1 + done)


def _rng(seed: int, label: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(label.encode("utf-8"))])


def _fmt_p(p: float) -> str:
    return f"{p:.2g}" if p >= 0.001 else f"{p:.1e}"


def monitor(
    matrix: ScoreMatrix,
    entry_groups: Mapping[str, str] | None = None,
    judge_groups: Mapping[str, str] | None = None,
    *,
    deviation_threshold: float | None = None,
    deviation_sd: float = 3.0,
    alpha: float = 0.01,
    erratic_ratio: float = 1.5,
    high_deviation_ratio: float = 1.5,
    min_marks: int = 10,
    n_permutations: int = 2000,
    max_permutations: int = 50_000,
    refine_below: float = 0.01,
    seed: int = 0,
) -> Monitoring:
    """Per-judge deviation, bias, erratic scoring and own-group preference (rules in the module
    docstring). ``entry_groups`` maps entry label -> province/division, ``judge_groups`` judge
    label -> the same; either may be partial or None (then the own-group test is skipped)."""
    if n_permutations < 1:
        raise ValueError("n_permutations must be at least 1")
    others_mean, n_others, dev = deviations(matrix)
    compared = n_others > 0
    j_all = matrix.judge_idx

    # Threshold for single marks.
    d_ok = dev[compared]
    if d_ok.size:
        panel_sd = 1.4826 * float(np.median(np.abs(d_ok - np.median(d_ok))))
        if not panel_sd > 0:
            panel_sd = float(d_ok.std(ddof=1)) if d_ok.size > 1 else 0.0
    else:
        panel_sd = NAN
    if deviation_threshold is not None:
        threshold = float(deviation_threshold)
        rule = f"固定阈值 {threshold:.2f} 分 (fixed threshold)"
    elif panel_sd > 0:
        threshold = deviation_sd * panel_sd
        rule = (f"{deviation_sd:g} × 偏离的稳健标准差 {panel_sd:.2f} 分 = {threshold:.2f} 分 "
                f"({deviation_sd:g} x robust sd of deviations)")
    else:
        threshold = math.inf
        rule = ("无阈值：没有作品被两位以上评委评分，或所有偏离都为 0 "
                "(no threshold: no deviations, or no spread in them)")
    flagged_rows = np.flatnonzero(compared & (np.abs(np.nan_to_num(dev)) > threshold))

    # Per-judge sums, all vectorised over rows.
    nj = matrix.n_judges
    jc = j_all[compared]
    n_marks = np.bincount(j_all, minlength=nj)
    n_cmp = np.bincount(jc, minlength=nj)
    with np.errstate(invalid="ignore", divide="ignore"):
        bias = np.bincount(jc, weights=d_ok, minlength=nj) / n_cmp
        resid = d_ok - bias[jc]
        var = np.bincount(jc, weights=resid**2, minlength=nj) / (n_cmp - 1)
        resid_sd = np.where(n_cmp >= 2, np.sqrt(var), np.nan)
        se = resid_sd / np.sqrt(n_cmp)
        t = np.where(se > 0, bias / se, np.where(bias == 0, np.nan, np.sign(bias) * np.inf))
        t = np.where(n_cmp >= 2, t, np.nan)
        mad = np.bincount(jc, weights=np.abs(d_ok), minlength=nj) / n_cmp
    n_flag = np.bincount(j_all[flagged_rows], minlength=nj)

    usable = n_cmp >= 3
    ref_bias = float(np.median(bias[usable])) if usable.any() else NAN
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = bias - ref_bias
        t_excess = np.where(se > 0, excess / se,
                            np.where(excess == 0, np.nan, np.sign(excess) * np.inf))
        t_excess = np.where(usable, t_excess, np.nan)
        bias_p = np.where(usable, 2 * stats.t.sf(np.abs(t_excess), np.maximum(n_cmp - 1, 1)),
                          np.nan)
    ref_sd = float(np.median(resid_sd[usable])) if usable.any() else NAN
    ref_mad = float(np.median(mad[usable])) if usable.any() else NAN
    with np.errstate(invalid="ignore", divide="ignore"):
        e_ratio = np.where(usable & (ref_sd > 0), resid_sd / ref_sd, np.nan)
        erratic_p = np.where(np.isfinite(e_ratio),
                             stats.chi2.sf((n_cmp - 1) * e_ratio**2, np.maximum(n_cmp - 1, 1)),
                             np.nan)
        d_ratio = np.where(usable & (ref_mad > 0), mad / ref_mad, np.nan)
    bias_p_adj = holm(np.where(usable, bias_p, np.nan))
    erratic_p_adj = holm(erratic_p)

    # Own-group permutation test.
    own = _own_group_tests(matrix, dev, compared, entry_groups, judge_groups,
                           n_permutations, max(max_permutations, n_permutations),
                           refine_below, seed)
    own_p_adj = holm([o[4] for o in own])

    judges = []
    for j, label in enumerate(matrix.judge_labels):
        status, own_n, other_n, own_diff, own_p = own[j]
        flags = []
        if bias_p_adj[j] < alpha:
            code, word = ("harsh", "低") if excess[j] < 0 else ("lenient", "高")
            flags.append(Flag(code, f"{FLAG_NAMES[code][0]}：比同一作品的其他评委平均"
                                    f"{'低' if bias[j] < 0 else '高'} {abs(bias[j]):.2f} 分，"
                                    f"比评委组的中位评委{word} {abs(excess[j]):.2f} 分"
                                    f"（t = {t_excess[j]:.1f}，"
                                    f"校正后 p = {_fmt_p(bias_p_adj[j])}）"))
        if e_ratio[j] >= erratic_ratio and erratic_p_adj[j] < alpha:
            flags.append(Flag("erratic", f"评分不稳定：去除自身偏差后的残差标准差 "
                                         f"{resid_sd[j]:.2f} 分，是评委组中位数的 "
                                         f"{e_ratio[j]:.2f} 倍（校正后 p = "
                                         f"{_fmt_p(erratic_p_adj[j])}）"))
        if n_cmp[j] >= min_marks and d_ratio[j] >= high_deviation_ratio:
            flags.append(Flag("high_deviation", f"总偏离过大：平均绝对偏离 {mad[j]:.2f} 分，"
                                                f"是评委组中位数的 {d_ratio[j]:.2f} 倍"))
        if status == "tested" and own_diff > 0 and own_p_adj[j] < alpha:
            group = judge_groups.get(label) if judge_groups else None
            flags.append(Flag("own_group_preference",
                              f"偏向本组（{group}）作品：本组作品的平均偏离比其他作品高 "
                              f"{own_diff:.2f} 分（置换检验 p = {_fmt_p(own_p)}，"
                              f"校正后 {_fmt_p(own_p_adj[j])}）"))
        flags.sort(key=lambda f: -FLAG_NAMES[f.code][1])
        judges.append(JudgeStats(
            judge=label,
            group=(str(judge_groups[label]) if judge_groups and label in judge_groups
                   else None),
            n_marks=int(n_marks[j]), n_compared=int(n_cmp[j]),
            bias=_f(bias[j]), bias_se=_f(se[j]), bias_t=_f(t[j], keep_inf=True),
            bias_vs_median=_f(excess[j]),
            bias_vs_median_t=_f(t_excess[j], keep_inf=True),
            bias_p=_f(bias_p[j]), bias_p_adjusted=_f(bias_p_adj[j]),
            mean_abs_deviation=_f(mad[j]), deviation_ratio=_f(d_ratio[j]),
            residual_sd=_f(resid_sd[j]), erratic_ratio=_f(e_ratio[j]),
            erratic_p=_f(erratic_p[j]), erratic_p_adjusted=_f(erratic_p_adj[j]),
            n_flagged_marks=int(n_flag[j]),
            own_status=status, own_n=own_n, other_n=other_n,
            own_difference=own_diff, own_p=own_p, own_p_adjusted=_f(own_p_adj[j]),
            flags=tuple(flags),
        ))
    judges.sort(key=_concern_key)

    order = flagged_rows[np.argsort(-np.abs(dev[flagged_rows]), kind="stable")]
    marks = tuple(FlaggedMark(matrix.entry_labels[matrix.entry_idx[r]],
                              matrix.judge_labels[j_all[r]], float(matrix.values[r]),
                              float(others_mean[r]), int(n_others[r]), float(dev[r]))
                  for r in order)
    return Monitoring(tuple(judges), marks, threshold, rule, panel_sd, n_permutations, alpha,
                      erratic_ratio, high_deviation_ratio, min_marks)


def _f(x, keep_inf: bool = False) -> float:
    x = float(x)
    if math.isinf(x) and keep_inf:
        return x
    return x if math.isfinite(x) else NAN


def _concern_key(s: JudgeStats):
    t = abs(s.bias_vs_median_t) if not math.isnan(s.bias_vs_median_t) else 0.0
    return (-s.concern, -s.n_flagged_marks, -t, s.judge)


def _own_group_tests(matrix, dev, compared, entry_groups, judge_groups, n_permutations,
                     max_permutations, refine_below, seed):
    """Per judge: (status, own_n, other_n, difference, p). Rows are grouped by judge once."""
    nj = matrix.n_judges
    empty = [("no_groups", 0, 0, NAN, NAN)] * nj
    if not entry_groups or not judge_groups:
        return empty
    entry_group = np.array([str(entry_groups[e]) if e in entry_groups else "\0none"
                            for e in matrix.entry_labels], dtype=object)
    # Each judge's marks in entry-label order, so the random draws (and so the p-value) do not
    # depend on the order in which rows arrived.
    entry_rank = np.empty(matrix.n_entries, dtype=np.int64)
    entry_rank[np.argsort(np.array(matrix.entry_labels, dtype=object), kind="stable")] = \
        np.arange(matrix.n_entries)
    rows = np.flatnonzero(compared)
    order = rows[np.lexsort((entry_rank[matrix.entry_idx[rows]], matrix.judge_idx[rows]))]
    bounds = np.searchsorted(matrix.judge_idx[order], np.arange(nj + 1))
    out = []
    for j, label in enumerate(matrix.judge_labels):
        mine = order[bounds[j]:bounds[j + 1]]
        if label not in judge_groups:
            out.append(("no_group", 0, 0, NAN, NAN))
            continue
        if mine.size == 0:
            out.append(("no_comparisons", 0, 0, NAN, NAN))
            continue
        own = entry_group[matrix.entry_idx[mine]] == str(judge_groups[label])
        n_own = int(own.sum())
        n_other = int(mine.size - n_own)
        if n_own == 0:
            out.append(("no_own_entries", 0, n_other, NAN, NAN))
            continue
        if n_other == 0:
            out.append(("only_own_entries", n_own, 0, NAN, NAN))
            continue
        diff, p = permutation_p(dev[mine], own, n_permutations, max_permutations,
                                refine_below, _rng(seed, label))
        out.append(("tested", n_own, n_other, diff, p))
    return out
