"""Server-side SVG charts (documents/charts.py), read back as a browser would: parsed with
xml.etree, checking what a user sees (rows, labels, values, bar lengths, boxes) and what a
screen reader gets, without the app."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from documents.charts import WARN, bar_chart, box_plot

NS = {"s": "http://www.w3.org/2000/svg"}
SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def texts(root: ET.Element, cls: str) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text") if t.get("class") == cls]


def shapes(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}{tag}") if e.get("class") == cls]


def rows(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if (g.get("class") or "").split()[:1] == ["row"]]


SESSIONS = [("第1期 北京", 92.5), ("第2期 上海", 45.0), ("第3期 广州", None), ("第4期 成都", 88.0)]


# --------------------------------------------------------------------------- both charts

CHARTS = [
    pytest.param(lambda: bar_chart(SESSIONS, title="各期合格率"), "各期合格率", id="bar"),
    pytest.param(lambda: box_plot([("第1期", [70, 80, 90]), ("第2期", [])], title="各期总评分布"), "各期总评分布", id="box"),
    pytest.param(lambda: bar_chart([], title="空图"), "空图", id="empty-bar"),
    pytest.param(lambda: box_plot([], title="空图"), "空图", id="empty-box"),
]


@pytest.mark.parametrize("make, title", CHARTS)
def test_every_chart_is_accessible_self_contained_and_scalable(make, title) -> None:
    markup = make()
    root = parse(markup)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-label") == title
    assert root.find("s:title", NS).text == title
    assert root.find("s:desc", NS).text
    assert re.fullmatch(r"0 0 \d+ [\d.]+", root.get("viewBox"))
    assert root.get("class") == "chart-svg" and root.get("style") is None   # sized by CSS: no inline style under the CSP
    assert root.get("font-family").startswith('"Noto Sans CJK SC"') and "sans-serif" in root.get("font-family")
    # nothing runs, nothing is fetched
    assert not list(root.iter(f"{SVG}script")) and "<script" not in markup
    for el in root.iter():
        for name in el.attrib:
            assert not name.lower().startswith("on"), name
            assert "href" not in name, name
    assert "url(" not in markup and "http://" not in markup.replace('xmlns="http://www.w3.org/2000/svg"', "")


@pytest.mark.parametrize("make", [
    pytest.param(lambda: bar_chart([], title="空图"), id="bar"),
    pytest.param(lambda: box_plot([], title="空图"), id="box"),
])
def test_an_empty_chart_says_so(make) -> None:
    assert texts(parse(make()), "empty") == ["无数据"]


# --------------------------------------------------------------------------- bar chart


def test_bars_labels_and_values() -> None:
    root = parse(bar_chart(SESSIONS, title="各期合格率"))
    assert texts(root, "chart-title") == ["各期合格率"]
    assert texts(root, "label") == ["第1期 北京", "第2期 上海", "第3期 广州", "第4期 成都"]
    assert texts(root, "value") == ["92.5%", "45%", "—", "88%"]
    assert len(rows(root)) == 4
    assert len(shapes(root, "rect", "bar")) == 3  # no bar for a session without a value
    assert texts(root, "tick") == ["0%", "20%", "40%", "60%", "80%", "100%"]
    assert "第3期 广州：无数据" in root.find("s:desc", NS).text


def test_bar_lengths_are_proportional_and_start_at_the_axis() -> None:
    root = parse(bar_chart([("a", 80), ("b", 40), ("c", 10), ("d", 0)], title="t"))
    bars = shapes(root, "rect", "bar")
    widths = [float(b.get("width")) for b in bars]
    assert widths[0] == pytest.approx(2 * widths[1], abs=0.1)
    assert widths[0] == pytest.approx(8 * widths[2], abs=0.2)
    assert widths[3] == 0
    assert len({b.get("x") for b in bars}) == 1


@pytest.mark.parametrize("value, shown", [
    pytest.param(130, "130%", id="beyond-max-fills-the-row"),
    pytest.param(-5, "-5%", id="below-zero-has-no-bar"),
])
def test_values_out_of_range_stay_on_the_chart(value, shown) -> None:
    root = parse(bar_chart([("a", value), ("full", 100)], title="t"))
    bar, full = (float(b.get("width")) for b in shapes(root, "rect", "bar"))
    assert bar == (full if value > 100 else 0)
    assert texts(root, "value")[0] == shown


def test_unit_and_max_value() -> None:
    root = parse(bar_chart([("a", 45), ("b", 90)], title="t", unit=" 分", max_value=90))
    assert texts(root, "value") == ["45 分", "90 分"]
    assert texts(root, "tick")[-1] == "90 分"
    a, b = (float(r.get("width")) for r in shapes(root, "rect", "bar"))
    assert b == pytest.approx(2 * a, abs=0.1)


def test_highlighted_rows_are_marked_in_more_than_colour() -> None:
    root = parse(bar_chart(SESSIONS, title="t", highlight={1}))
    marked = [g for g in rows(root) if "highlight" in g.get("class")]
    assert len(marked) == 1
    assert "".join(next(t for t in marked[0].iter(f"{SVG}text") if t.get("class") == "label").itertext()) == "第2期 上海"
    assert [b.get("fill") for b in shapes(root, "rect", "bar")] == ["#3b6ea5", WARN, "#3b6ea5"]
    label = next(t for t in marked[0].iter(f"{SVG}text") if t.get("class") == "label")
    assert label.get("font-weight") == "bold"
    assert len(shapes(root, "rect", "band")) == 1
    assert texts(root, "legend") == ["需关注"]
    assert texts(parse(bar_chart(SESSIONS, title="t")), "legend") == []


def test_text_is_escaped_and_shown_as_written() -> None:
    nasty = "<b>&\"'"
    markup = bar_chart([(nasty, 50)], title="A & B <script>")
    assert "<b>" not in markup and "<script>" not in markup
    root = parse(markup)
    assert texts(root, "label") == [nasty]
    assert texts(root, "chart-title") == ["A & B <script>"]
    assert root.get("aria-label") == "A & B <script>"


def test_a_long_label_is_cut_but_kept_whole_in_the_tooltip() -> None:
    label = "2025年全国科学教师培训第十二期（中国科学技术馆 · 北京 · 暑期专场）"
    root = parse(bar_chart([(label, 50)], title="t"))
    shown = texts(root, "label")[0]
    assert shown.endswith("…") and label.startswith(shown[:-1])
    assert label in "".join(rows(root)[0].find("s:title", NS).itertext())


def test_rows_fit_a_tablet_page() -> None:
    root = parse(bar_chart([(f"第{i}期", i * 4) for i in range(24)], title="t"))
    _, _, w, h = (float(x) for x in root.get("viewBox").split())
    assert w == 720 and h < 24 * 40
    bars = shapes(root, "rect", "bar")
    assert all(float(b.get("x")) + float(b.get("width")) <= w for b in bars)


# --------------------------------------------------------------------------- box plot


def x_of(el: ET.Element, attr: str = "x1") -> float:
    return float(el.get(attr))


def test_box_per_series_with_median_whiskers_and_outliers() -> None:
    values = [60, 62, 64, 66, 68, 70, 72, 74, 76, 20, 99]  # q1 63, median 68, q3 73 → fences 48..88
    root = parse(box_plot([("第1期", values), ("第2期", [50, 60, 70]), ("第3期", [])], title="t"))
    assert len(shapes(root, "rect", "box")) == 2
    assert len(shapes(root, "line", "median")) == 2
    assert texts(root, "label") == ["第1期", "第2期", "第3期"]
    assert texts(root, "value") == ["中位数 68（11 人）", "中位数 60（3 人）", "无数据"]
    outliers = shapes(root, "circle", "outlier")
    assert len(outliers) == 2  # 20 and 99 lie beyond 1.5 IQR

    # positions on the 0-100 axis: x = x0 + value / 100 × plot width
    ticks = [t for t in root.iter(f"{SVG}text") if t.get("class") == "tick"]
    x0, x100 = float(ticks[0].get("x")), float(ticks[-1].get("x"))
    at = lambda v: x0 + v / 100 * (x100 - x0)  # noqa: E731
    box = shapes(root, "rect", "box")[0]
    assert float(box.get("x")) == pytest.approx(at(63), abs=0.1)
    assert float(box.get("width")) == pytest.approx(at(73) - at(63), abs=0.15)
    assert x_of(shapes(root, "line", "median")[0]) == pytest.approx(at(68), abs=0.1)
    whiskers = shapes(root, "line", "whisker")[:2]
    assert x_of(whiskers[0]) == pytest.approx(at(60), abs=0.1)   # lowest value inside the fence
    assert x_of(whiskers[1], "x2") == pytest.approx(at(76), abs=0.1)
    assert sorted(float(c.get("cx")) for c in outliers) == pytest.approx([at(20), at(99)], abs=0.1)
    assert "离群值 20、99" in root.find("s:desc", NS).text


def test_box_plot_range_and_highlight() -> None:
    root = parse(box_plot([("a", [55, 60, 65]), ("b", [70, 80, 90])], title="t", lo=50, hi=100, highlight={0}))
    assert texts(root, "tick") == ["50", "60", "70", "80", "90", "100"]
    marked = [g for g in rows(root) if "highlight" in g.get("class")]
    assert len(marked) == 1 and "a：" in "".join(marked[0].find("s:title", NS).itertext())
    assert texts(root, "legend") == ["需关注"]


def test_box_plot_escapes_labels() -> None:
    markup = box_plot([("<i>x</i> & y", [1, 2, 3])], title="t")
    assert "<i>" not in markup
    assert texts(parse(markup), "label") == ["<i>x</i> & y"]


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: bar_chart([("a", 1)], title="t", max_value=0), "max_value", id="bar-max-0"),
    pytest.param(lambda: box_plot([("a", [1])], title="t", lo=5, hi=5), "hi must be above lo", id="box-empty-range"),
])
def test_impossible_scales_are_refused(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()
