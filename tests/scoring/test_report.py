"""The plain-text report: an organiser reads the design, the reliability that fits it, the
judges to look at first and the marks that deviate, in aligned columns."""
from __future__ import annotations

import sys
import unicodedata

import numpy as np
import pytest

from scoring.monitoring import monitor
from scoring.report import render
from scoring.table import ScoreMatrix
from tests.scoring.test_monitoring import complete_panel, review
from tests.scoring.test_reliability import SHROUT_FLEISS, as_matrix

SECTIONS = ["一、评分设计 (Design)", "二、信度 (Reliability)", "三、评委一览", "四、超限分数",
            "五、规则说明 (Rules)"]


def section(text: str, title: str) -> list[str]:
    """The lines of one numbered section (title line excluded)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start + 1, len(lines))
                if any(lines[i].startswith(t) for t in SECTIONS)), len(lines))
    return lines[start + 1:end]


def cells(line: str) -> list[str]:
    """The line as display cells: a Chinese character fills two."""
    out = []
    for ch in line:
        out.append(ch)
        if unicodedata.east_asian_width(ch) in "WF":
            out.append("")
    return out


def tables(lines: list[str]) -> list[tuple[list[str], list[str]]]:
    """([header, dash row], data rows) for every table: the line above a row of dashes, the
    dashes, and the lines below up to a blank line or the "more not listed" note."""
    found = []
    for i, line in enumerate(lines):
        if line.strip() and set(line.strip()) <= {"-", " "} and "--" in line:
            rows = []
            for row in lines[i + 1:]:
                if not row.strip() or row.startswith("  另有"):
                    break
                rows.append(row)
            found.append(([lines[i - 1], line], rows))
    return found


def assert_aligned(text: str) -> None:
    """In every table each column starts at the same display position on every line: the
    two-space gaps of the dash row are blank on the header and on each data row."""
    for (header, rule), rows in tables(text.splitlines()):
        rule_cells = cells(rule)
        gaps = [i for i in range(2, len(rule_cells) - 1)
                if rule_cells[i] == " " and rule_cells[i - 1] == "-"]
        for row in [header, *rows]:
            rc = cells(row)
            for g in gaps:
                assert g >= len(rc) or rc[g] in (" ", ""), f"misaligned at {g}:\n{rule}\n{row}"
                assert g + 1 >= len(rc) or rc[g + 1] in (" ", ""), \
                    f"misaligned at {g + 1}:\n{rule}\n{row}"


# --------------------------------------------------------------------------- complete panel


def test_shrout_fleiss_report_lists_the_six_forms_with_intervals():
    text = render(as_matrix(SHROUT_FLEISS))
    for title in SECTIONS:
        assert any(line.startswith(title) for line in text.splitlines()), title
    design = "\n".join(section(text, "一、评分设计"))
    assert "参赛作品 (entries)                   6" in design
    assert "最少 4 / 中位 4 / 最多 4" in design
    assert "完整" in design and "连通 (connected)" in design
    rel = section(text, "二、信度")
    expected = {  # form: (value, interval) as printed; Shrout & Fleiss / psych values
        "ICC(1,1)": ("0.166", "[-0.13, 0.72]"),
        "ICC(2,1)": ("0.290", "[0.02, 0.76]"),
        "ICC(3,1)": ("0.715", "[0.34, 0.95]"),
        "ICC(1,k)": ("0.443", "[-0.88, 0.91]"),
        "ICC(2,k)": ("0.620", "[0.07, 0.93]"),
        "ICC(3,k)": ("0.909", "[0.68, 0.99]"),
    }
    for form, (value, ci) in expected.items():
        line = next(row for row in rel if row.strip().startswith(form))
        assert value in line and ci in line, line
    assert any("Kendall W" in row for row in rel)
    assert any("Krippendorff α" in row for row in rel)
    assert_aligned(text)


@pytest.mark.parametrize("seed", [21, 22])
def test_planted_judges_come_first_with_their_reasons(seed):
    m, eg, jg = complete_panel(seed, harsh="J1", erratic="J2", favour="J3", favour_by=8.0)
    text = render(m, eg, jg)
    judges = section(text, "三、评委一览")
    header = judges[0]
    assert "本组偏好 (own group)" in header
    data = [row for row in judges[2:] if row.startswith("  J")]
    assert len(data) == 9
    assert {row.split()[0] for row in data[:3]} == {"J1", "J2", "J3"}
    j1 = next(row for row in data if row.startswith("  J1 "))
    assert "偏严" in j1
    assert "[harsh]" in text and "[erratic]" in text and "[own_group_preference]" in text
    assert "- J3：偏向本组（省03）作品" in text
    assert_aligned(text)


def test_flagged_marks_are_listed_with_the_panel_figures():
    m, eg, jg = complete_panel(21, harsh="J1", erratic="J2")
    mon = monitor(m, deviation_threshold=12)
    text = render(m, deviation_threshold=12)
    marks = section(text, "四、超限分数")
    title = next(line for line in text.splitlines() if line.startswith("四、超限分数"))
    assert "|偏离| > 12.00 分" in title and "固定阈值" in title
    rows = marks[2:2 + len(mon.flagged_marks)]
    assert len(rows) == len(mon.flagged_marks) > 0
    for row, fm in zip(rows, mon.flagged_marks):
        entry, judge, mark, others, n_others, dev = row.split()
        assert (entry, judge) == (fm.entry, fm.judge)
        assert float(mark) == pytest.approx(fm.mark, abs=0.005)
        assert float(others) == pytest.approx(fm.others_mean, abs=0.005)
        assert int(n_others) == 8
        assert float(dev) == pytest.approx(fm.deviation, abs=0.005)
        assert abs(float(dev)) > 12
    assert_aligned(text)


def test_long_lists_of_marks_are_cut_with_a_count():
    m, eg, jg = complete_panel(21, erratic="J2")
    text = render(m, deviation_threshold=1.0, max_marks=5)
    marks = section(text, "四、超限分数")
    assert len([r for r in marks[2:] if r.startswith("  E")]) == 5
    assert any(r.startswith("  另有 ") and "more not listed" in r for r in marks)


# --------------------------------------------------------------------------- incomplete designs


def test_incomplete_review_uses_the_one_way_forms_and_says_why():
    m, eg, jg = review(5, harsh="R07", recusal=True)
    text = render(m, eg, jg)
    design = "\n".join(section(text, "一、评分设计"))
    assert "不完整" in design
    assert "最少 5 / 中位 5 / 最多 5" in design
    rel = section(text, "二、信度")
    measures = [row.split()[0] for row in rel[2:] if row.startswith("  ") and row.split()]
    measures = measures[:measures.index("Krippendorff") + 1]
    assert measures == ["ICC(1)", "ICC(1,k0)", "Krippendorff"]
    assert any("k0 = 5.00" in row for row in rel)
    assert any("不完整设计：两因素 ICC 与 Kendall W" in row and "不适用" in row for row in rel)
    judges = section(text, "三、评委一览")
    first = next(row for row in judges[2:] if row.startswith("  R"))
    assert first.split()[0] == "R07" and "偏严" in first
    # Under recusal nobody has own-province entries: the column says the test cannot be done.
    assert "无本组作品，不可检验" in first
    assert_aligned(text)


def test_disconnected_design_is_reported():
    # Two divisions with their own panels and no judge in common.
    triples = [(f"A{i}", f"a{j}", 70 + i + j) for i in range(4) for j in range(3)]
    triples += [(f"B{i}", f"b{j}", 80 + i - j) for i in range(4) for j in range(3)]
    text = render(ScoreMatrix.from_triples(triples))
    assert "不连通：2 个互不相连的部分" in text
    assert "not connected: 2 components" in text


def test_no_groups_no_own_group_column():
    m, _, _ = complete_panel(4)
    text = render(m)
    assert "本组偏好 (own group)" not in section(text, "三、评委一览")[0]


# --------------------------------------------------------------------------- degenerate input

DEGENERATE = [
    ("one judge", [("A", "x", 70.0), ("B", "x", 80.0)], "评委少于 2 位"),
    ("one entry", [("A", "x", 70.0), ("A", "y", 80.0), ("A", "z", 75.0)], "作品少于 2 个"),
    ("everyone agrees", [(e, j, 88.0) for e in "ABC" for j in "xyz"], "所有分数相同"),
    ("no shared entries", [("A", "x", 70.0), ("B", "y", 80.0)],
     "没有作品被 2 位以上评委评分"),
]


@pytest.mark.parametrize("name,triples,reason", DEGENERATE, ids=[d[0] for d in DEGENERATE])
def test_degenerate_input_renders_with_the_reason(name, triples, reason):
    text = render(ScoreMatrix.from_triples(triples))
    assert reason in text
    assert "没有评委被标记 (no judge flagged)" in text
    assert "nan" not in text.lower()
    assert text.endswith("\n")
    assert_aligned(text)


def test_report_without_the_calibration_module(monkeypatch):
    """The model-bias column is an extra: without scoring.calibrate the report still renders."""
    monkeypatch.setitem(sys.modules, "scoring.calibrate", None)  # import now raises
    m, eg, jg = complete_panel(11, harsh="J1")
    text = render(m, eg, jg)
    assert "模型偏差 (model)" not in text
    assert "偏严" in text
    assert_aligned(text)


def test_report_with_the_calibration_module_shows_model_bias():
    m, eg, jg = complete_panel(11, harsh="J1")
    text = render(m, eg, jg)
    header = section(text, "三、评委一览")[0]
    assert "模型偏差 (model)" in header
    j1 = next(r for r in section(text, "三、评委一览") if r.startswith("  J1 "))
    # Model bias for the harsh judge is clearly negative, like the leave-one-out bias.
    model = [c for c in j1.split("  ") if "±" in c][1]
    assert float(model.split("±")[0]) < -4


def test_same_input_same_report():
    m, eg, jg = complete_panel(7, favour="J3")
    assert render(m, eg, jg) == render(m, eg, jg)
    rng = np.random.default_rng(0)
    perm = rng.permutation(m.values.size)
    shuffled = ScoreMatrix(m.entry_labels, m.judge_labels, m.entry_idx[perm],
                           m.judge_idx[perm], m.values[perm])
    assert render(shuffled, eg, jg) == render(m, eg, jg)
