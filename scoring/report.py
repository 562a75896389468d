"""The plain-text reliability and judge-monitoring report (`python -m scoring report`).

One function, :func:`render`, turns a ScoreMatrix into text an organiser can read in a
terminal or paste into a summary: the design, the reliability coefficients that fit it, the
judges sorted by concern and the marks that deviate most. Chinese first, English in brackets;
columns are aligned by display width (a Chinese character takes two columns).

The figures come from :mod:`scoring.reliability` and :mod:`scoring.monitoring`. When
:mod:`scoring.calibrate` is available the judge table also shows each judge's bias from the
two-way model (shrunk, corrected for the other judges of the same entries), next to the
leave-one-out bias.
"""
from __future__ import annotations

import math
import unicodedata
from typing import Mapping, Sequence

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from scoring.monitoring import OWN_STATUS, Monitoring, monitor
from scoring.reliability import ICC, Reliability, assess
from scoring.table import ScoreMatrix

DASH = "—"

ICC_LABELS = {
    "ICC(1,1)": "单个评委·单因素 (single judge, one-way)",
    "ICC(2,1)": "单个评委·绝对一致 (single judge, absolute agreement)",
    "ICC(3,1)": "单个评委·相对一致 (single judge, consistency)",
    "ICC(1,k)": "评委组平均·单因素 (panel mean, one-way)",
    "ICC(2,k)": "评委组平均·绝对一致 (panel mean, absolute agreement)",
    "ICC(3,k)": "评委组平均·相对一致 (panel mean, consistency)",
    "ICC(1)": "单个评委·单因素 (single judge, one-way)",
    "ICC(1,k0)": "评委组平均·单因素 (panel mean of k0 judges, one-way)",
}


def render(matrix: ScoreMatrix, entry_groups: Mapping[str, str] | None = None,
           judge_groups: Mapping[str, str] | None = None, *,
           deviation_threshold: float | None = None, max_marks: int = 100,
           seed: int = 0) -> str:
    """The whole report as one string (ends with a newline).

    ``entry_groups`` / ``judge_groups`` map labels to province or division for the own-group
    test; ``deviation_threshold`` fixes the flagged-mark threshold in points (default: 3 x the
    panel's robust sd of deviations); at most ``max_marks`` flagged marks are listed."""
    rel = assess(matrix)
    mon = monitor(matrix, entry_groups, judge_groups,
                  deviation_threshold=deviation_threshold, seed=seed)
    model_bias, model_note = _model_bias(matrix)
    out: list[str] = []
    title = "评委评分质量报告 (Reliability and judge monitoring report)"
    out += [title, "=" * _width(title), ""]
    out += _design(matrix, rel)
    out += _reliability(rel)
    out += _judges(mon, model_bias, model_note, bool(entry_groups and judge_groups))
    out += _marks(mon, max_marks)
    out += _rules(mon, model_bias is not None)
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- sections


def _design(matrix: ScoreMatrix, rel: Reliability) -> list[str]:
    per_entry = np.bincount(matrix.entry_idx, minlength=matrix.n_entries)
    scored = per_entry[per_entry > 0]
    n_comp = _n_components(matrix)
    if rel.design == "complete":
        design = "完整：每位评委为每个作品评分 (complete: every judge scored every entry)"
    else:
        design = "不完整：各作品的评委不同 (incomplete: entries saw different judges)"
    if n_comp <= 1:
        graph = "连通 (connected)"
    else:
        graph = (f"不连通：{n_comp} 个互不相连的部分，各部分之间的分数不能直接比较 "
                 f"(not connected: {n_comp} components)")
    unscored = int((per_entry == 0).sum())
    rows = [
        ("参赛作品 (entries)", str(int(scored.size))
         + (f"（另有 {unscored} 个无评分 / {unscored} without scores）" if unscored else "")),
        ("评委 (judges)", str(int((np.bincount(matrix.judge_idx,
                                                minlength=matrix.n_judges) > 0).sum()))),
        ("评分数 (scores)", str(int(matrix.values.size))),
        ("每个作品的评委数 (judges per entry)",
         (f"最少 {int(scored.min())} / 中位 {float(np.median(scored)):g} / "
          f"最多 {int(scored.max())} (min / median / max)") if scored.size else DASH),
        ("设计 (design)", design),
        ("评委—作品关联 (judge–entry graph)", graph),
    ]
    return ["一、评分设计 (Design)", *_key_values(rows), ""]


def _reliability(rel: Reliability) -> list[str]:
    header = ("指标 (measure)", "值 (value)", "95% 置信区间 (CI)", "检验 (test)",
              "解读 (reading)")
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for icc in rel.icc:
        label = f"{icc.form} {ICC_LABELS.get(icc.form, '')}".strip()
        if icc.form == "ICC(1,k0)" and math.isfinite(icc.k):
            label += f"，k0 = {icc.k:.2f}"
        rows.append((label, _num(icc.value, 3), _ci(icc), _f_test(icc), _reading_icc(icc.value)))
        if icc.reason:
            notes.append(f"{icc.form}: {icc.reason}")
    a = rel.alpha
    rows.append(("Krippendorff α（区间尺度）(interval)", _num(a.value, 3), "",
                 f"{a.n_units} 个作品 / {a.n_pairable} 个分数 (units / values)" if a.n_units
                 else "", _reading_alpha(a.value)))
    if a.reason:
        notes.append(f"Krippendorff α: {a.reason}")
    if rel.kendall_w is not None:
        w = rel.kendall_w
        test = (f"χ²({w.df}) = {w.chi2:.2f}, p = {_p(w.p_value)}"
                if math.isfinite(w.chi2) else "")
        rows.append(("Kendall W（同分校正）(tie-corrected)", _num(w.value, 3), "", test, ""))
        if w.reason:
            notes.append(f"Kendall W: {w.reason}")
    if rel.design == "complete":
        choice = ("完整设计：列出 Shrout–Fleiss 六种 ICC、Kendall W 与 Krippendorff α；"
                  "正式成绩取评委组平均，看“评委组平均”各行 (complete design: the panel-mean "
                  "rows describe the official result)。")
    else:
        choice = ("不完整设计：两因素 ICC 与 Kendall W 需要每位评委给每个作品评分，不适用；"
                  "列出单因素 ICC(1)（k0 为等效每作品评委数）与 Krippendorff α "
                  "(incomplete design: one-way ICC(1) with k0, and Krippendorff α)。")
    lines = ["二、信度 (Reliability)", *_table(header, rows, align="lrlll"), "", "  " + choice]
    lines += [f"  {n}" for n in notes]
    lines.append("  Krippendorff α 与 ICC(1) 一样描述单个评委之间的一致性；评委组平均分的信度更高，"
                 "见“评委组平均”各行 (alpha is a single-judge coefficient; see the panel-mean "
                 "rows)。")
    lines.append("  解读标准 (reading): ICC 按 Koo & Li (2016)：<0.50 差、0.50–0.75 中等、"
                 "0.75–0.90 良好、≥0.90 优秀；α 按 Krippendorff：≥0.800 可靠、"
                 "0.667–0.800 仅可作初步结论、<0.667 不可靠。")
    return lines + [""]


def _judges(mon: Monitoring, model_bias, model_note: str, groups_given: bool) -> list[str]:
    header = ["评委 (judge)", "组别 (group)", "评分 (n)", "偏差±标准误 (bias ± se)",
              "相对中位 (vs median)", "t"]
    align = "llrrrr"
    if model_bias is not None:
        header.append("模型偏差 (model)")
        align += "r"
    header += ["不稳定比 (erratic)", "平均|偏离| (|dev|)", "超限 (flagged)"]
    align += "rrr"
    if groups_given:
        header.append("本组偏好 (own group)")
        align += "l"
    header.append("标记 (flags)")
    align += "l"
    rows = []
    for s in mon.judges:
        row = [s.judge, s.group or DASH, str(s.n_compared) if s.n_compared == s.n_marks
               else f"{s.n_compared}/{s.n_marks}",
               f"{_signed(s.bias)} ± {_num(s.bias_se, 2)}" if math.isfinite(s.bias) else DASH,
               _signed(s.bias_vs_median), _num(s.bias_vs_median_t, 1)]
        if model_bias is not None:
            b, se = model_bias.get(s.judge, (math.nan, math.nan))
            row.append(f"{_signed(b)} ± {_num(se, 2)}" if math.isfinite(b) else DASH)
        row += [_num(s.erratic_ratio, 2), _num(s.mean_abs_deviation, 2),
                str(s.n_flagged_marks) if s.n_flagged_marks else ""]
        if groups_given:
            if s.own_status == "tested":
                row.append(f"{_signed(s.own_difference)}, p = {_p(s.own_p)}")
            else:
                row.append(OWN_STATUS[s.own_status].split(" (")[0])
        row.append("、".join(f.name_zh for f in s.flags))
        rows.append(tuple(row))
    lines = ["三、评委一览（按关注程度排序）(Judges, most concerning first)",
             *_table(tuple(header), rows, align=align), ""]
    flagged = [s for s in mon.judges if s.flags]
    if flagged:
        lines.append("  需要关注的评委 (judges to look at):")
        for s in flagged:
            for f in s.flags:
                lines.append(f"  - {s.judge}：{f.text} [{f.code}]")
    else:
        lines.append("  没有评委被标记 (no judge flagged)。")
    lines.append("  “评分”列为可比较分数数（与其他评委共同评过的作品）/ 全部分数 "
                 "(n: marks compared with at least one other judge / all marks)。")
    if model_note:
        lines.append(f"  {model_note}")
    return lines + [""]


def _marks(mon: Monitoring, max_marks: int) -> list[str]:
    if math.isfinite(mon.threshold):
        lines = [f"四、超限分数 (Flagged marks)：|偏离| > {mon.threshold:.2f} 分；"
                 f"{mon.threshold_rule}"]
    else:
        lines = [f"四、超限分数 (Flagged marks)：{mon.threshold_rule}"]
    if not mon.flagged_marks:
        return lines + ["  没有超限分数 (no flagged marks)。", ""]
    header = ("作品 (entry)", "评委 (judge)", "分数 (mark)", "其他评委平均 (others' mean)",
              "其他评委数 (others)", "偏离 (deviation)")
    rows = [(m.entry, m.judge, _num(m.mark, 2), _num(m.others_mean, 2), str(m.n_others),
             _signed(m.deviation)) for m in mon.flagged_marks[:max_marks]]
    lines += _table(header, rows, align="llrrrr")
    rest = len(mon.flagged_marks) - len(rows)
    if rest > 0:
        lines.append(f"  另有 {rest} 个超限分数未列出 ({rest} more not listed)。")
    return lines + [""]


def _rules(mon: Monitoring, with_model: bool) -> list[str]:
    a = f"{mon.alpha:g}"
    lines = [
        "五、规则说明 (Rules)",
        "  偏离 (deviation) = 该评委的分数 − 同一作品其他评委的平均分（留一法, leave-one-out）。",
        "  偏差 (bias) = 该评委全部偏离的平均；“相对中位”= 偏差 − 全体评委偏差的中位数"
        "（一位评委偏严会使其他评委的参照同时降低，与中位评委比较可避免误判他人偏松）；"
        f"t = 相对中位 / 标准误；Holm 校正后 p < {a} 标记为偏严或偏松。",
        "  不稳定比 (erratic ratio) = 去除自身偏差后偏离的标准差 ÷ 全体评委的中位数；"
        f"≥ {mon.erratic_ratio:g} 且卡方检验 Holm 校正后 p < {a} 标记为评分不稳定。",
        f"  平均|偏离| ≥ 全体评委中位数的 {mon.high_deviation_ratio:g} 倍（至少 "
        f"{mon.min_marks} 个可比较分数）标记为总偏离过大。",
        "  本组偏好 (own-group) = 本省/本赛区作品上的平均偏离 − 其他作品上的平均偏离；p 为单侧置换"
        f"检验（至少 {mon.n_permutations} 次随机重排）；Holm 校正后 p < {a} 标记为偏向本组。"
        "回避规则下没有本组作品的评委无法检验。",
    ]
    if with_model:
        lines.append("  模型偏差 (model bias)：两因素模型（作品水平 + 评委偏差，偏差按随机效应收缩）"
                     "的估计，已扣除同场其他评委的偏差；留一法偏差则相对于同场评委。")
    return lines


# --------------------------------------------------------------------------- model bias


def _model_bias(matrix: ScoreMatrix) -> tuple[dict[str, tuple[float, float]] | None, str]:
    """{judge: (bias, se)} from scoring.calibrate when it is available and the design lets it
    fit, else None and a note saying why."""
    try:
        from scoring.calibrate import fit
    except ImportError:
        return None, ""
    cal = fit(matrix, model="bias")
    if not getattr(cal, "calibrated", True):
        return None, ("模型偏差未计算：此设计不适合两因素模型 (model bias not shown: "
                      + "; ".join(cal.notes) + ")")
    return ({label: (float(b), float(se)) for label, b, se
             in zip(cal.judge_labels, cal.bias, cal.bias_se)}, "")


# --------------------------------------------------------------------------- formatting


def _n_components(matrix: ScoreMatrix) -> int:
    """Connected components of the bipartite judge-entry graph over scored entries and
    judges."""
    if matrix.values.size == 0:
        return 0
    e = np.unique(matrix.entry_idx, return_inverse=True)[1]
    j = np.unique(matrix.judge_idx, return_inverse=True)[1]
    ne = int(e.max()) + 1
    n = ne + int(j.max()) + 1
    graph = sparse.coo_matrix((np.ones(e.size), (e, ne + j)), shape=(n, n))
    return int(csgraph.connected_components(graph, directed=False)[0])


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, align: str) -> str:
    gap = " " * (width - _width(text))
    return gap + text if align == "r" else text + gap


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    widths = [max(_width(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells, head=False):
        return ("  " + "  ".join(_pad(str(c), w, "l" if head else a)
                                 for c, w, a in zip(cells, widths, align))).rstrip()

    return [line(header, True), "  " + "  ".join("-" * w for w in widths),
            *(line(r) for r in rows)]


def _key_values(rows: Sequence[tuple[str, str]]) -> list[str]:
    w = max(_width(k) for k, _ in rows)
    return [f"  {_pad(k, w, 'l')}  {v}" for k, v in rows]


def _num(x: float, digits: int) -> str:
    if x is None or not math.isfinite(x):
        return DASH
    return f"{x:.{digits}f}"


def _signed(x: float) -> str:
    return f"{x:+.2f}" if math.isfinite(x) else DASH


def _p(p: float) -> str:
    if not math.isfinite(p):
        return DASH
    if p < 1e-16:  # below double precision: the exact figure means nothing
        return "< 1e-16"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _ci(icc: ICC) -> str:
    if not (math.isfinite(icc.ci_low) and math.isfinite(icc.ci_high)):
        return DASH
    return f"[{icc.ci_low:.2f}, {icc.ci_high:.2f}]"


def _f_test(icc: ICC) -> str:
    if not math.isfinite(icc.df1):
        return ""
    f = f"{icc.f:.2f}" if math.isfinite(icc.f) else "∞"
    df2 = f"{icc.df2:.0f}" if float(icc.df2).is_integer() else f"{icc.df2:.1f}"
    return f"F({icc.df1:.0f}, {df2}) = {f}, p = {_p(icc.p_value)}"


def _reading_icc(v: float) -> str:
    if not math.isfinite(v):
        return ""
    if v < 0.5:
        return "差 (poor)"
    if v < 0.75:
        return "中等 (moderate)"
    if v < 0.9:
        return "良好 (good)"
    return "优秀 (excellent)"


def _reading_alpha(v: float) -> str:
    if not math.isfinite(v):
        return ""
    if v >= 0.8:
        return "可靠 (reliable)"
    if v >= 0.667:
        return "初步 (tentative)"
    return "不可靠 (unreliable)"
