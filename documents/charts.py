"""Server-side SVG charts for the organiser's pages and their printouts.

Drawn on the server so a chart needs no JavaScript, prints exactly as shown and can be put in
a PDF; pure functions from data to SVG markup (no Flask, no database). Each chart:

- has `role="img"`, an `aria-label` and a `<title>` naming it, and a `<desc>` listing the
  numbers, so a screen reader gets the data and not only a picture;
- scales with its container (viewBox, width 100% up to its natural size), fits a 1024-wide
  tablet page at the default 720 units and stays readable in grey-scale print: highlighted
  rows differ by a tinted band and a bold label as well as by colour;
- escapes every text (labels come from organisers) and refers to nothing outside itself.

One row per session, label left, value right, so the bar chart and the box plot of the same
sessions line up when shown one above the other.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

import numpy as np

__all__ = ["bar_chart", "box_plot"]

FONT = '"Noto Sans CJK SC", sans-serif'
INK = "#222222"
MUTED = "#666666"
GRID = "#d9d9d9"
BAR = "#3b6ea5"
WARN = "#c2410c"        # warning colour: dark enough to read as text on white
WARN_BAND = "#fdebd9"   # tint behind a highlighted row, visible in grey-scale print
BOX_FILL = "#dbe6f3"

PAD = 12
TITLE_SIZE = 16
FONT_SIZE = 13
ROW = 28
AXIS = 30
EMPTY_TEXT = "无数据"


# --------------------------------------------------------------------------- helpers


def _text_width(text: str, size: float = FONT_SIZE) -> float:
    """Rough rendered width: CJK and full-width characters one em, others about 0.6 em."""
    return sum(size if ord(ch) >= 0x2E80 else size * 0.6 for ch in text)


def _fit(text: str, width: float) -> str:
    """`text`, cut with an ellipsis when it would overflow `width` (the full text stays in
    the row's tooltip and in the chart description)."""
    if _text_width(text) <= width:
        return text
    while text and _text_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _num(value: float, places: int = 2) -> str:
    """72, 72.5, 0.25: at most `places` decimals, no trailing zeros, for labels."""
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _coord(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 × 10^k apart) covering lo..hi; a step that lands on
    both ends is preferred, so the end of the scale (90, 100) is labelled."""
    span = hi - lo
    if span <= 0:
        return [lo]
    power = 10 ** math.floor(math.log10(span / target))
    candidates = [m * power * f for f in (0.1, 1, 10) for m in (1, 2, 2.5, 5)]

    def fits(step: float) -> bool:
        n = span / step
        return 3 <= round(n) <= 10 and abs(n - round(n)) < 1e-9 and abs(lo / step - round(lo / step)) < 1e-9

    exact = [st for st in candidates if fits(st)]
    if exact:
        step = min(exact, key=lambda st: (abs(span / st - target), -st))
    else:
        step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= span / target)
    first = math.ceil(lo / step - 1e-9) * step
    out = []
    v = first
    while v <= hi + step * 1e-9:
        out.append(round(v, 10))
        v += step
    return out


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = FONT_SIZE,
          fill: str = INK, weight: str | None = None, cls: str | None = None) -> str:
    attrs = f'x="{_coord(x)}" y="{_coord(y)}" font-size="{size}" fill="{fill}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if weight:
        attrs += f' font-weight="{weight}"'
    if cls:
        attrs += f' class="{cls}"'
    return f"<text {attrs}>{escape(text)}</text>"


def _frame(title: str, desc: str, width: int, height: float, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {_coord(height)}" '
        f'width="{width}" height="{_coord(height)}" class="chart-svg" '
        f'role="img" aria-label={quoteattr(title)} font-family={quoteattr(FONT)}>'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>"
        f'<rect x="0" y="0" width="{width}" height="{_coord(height)}" fill="#ffffff"/>'
        + "".join(body)
        + "</svg>"
    )


class _Layout:
    """Rows of `label | plot | value` under a title, with an x axis below the rows."""

    def __init__(self, labels: Sequence[str], values: Sequence[str], width: int, legend: bool) -> None:
        self.width = width
        label_w = max([_text_width(s) for s in labels] + [40.0])
        self.label_w = min(label_w, width * 0.3)
        value_w = max([_text_width(s) for s in values] + [40.0])
        self.value_w = min(value_w, width * 0.25)
        self.x0 = PAD + self.label_w + 10
        self.x1 = width - PAD - self.value_w - 10
        self.top = PAD + TITLE_SIZE + 14
        self.rows = len(labels)
        self.bottom = self.top + max(self.rows, 1) * ROW
        self.height = self.bottom + AXIS + (22 if legend else 0) + PAD

    def row_y(self, i: int) -> float:
        """The vertical centre of row i."""
        return self.top + i * ROW + ROW / 2

    def axis(self, lo: float, hi: float, unit: str) -> list[str]:
        out = []
        for t in _ticks(lo, hi):
            x = self.x(t, lo, hi)
            out.append(
                f'<line x1="{_coord(x)}" y1="{_coord(self.top)}" x2="{_coord(x)}" y2="{_coord(self.bottom)}" '
                f'stroke="{GRID}" stroke-width="1"/>'
            )
            out.append(_text(x, self.bottom + 16, _num(t) + unit, anchor="middle", size=11, fill=MUTED, cls="tick"))
        out.append(
            f'<line x1="{_coord(self.x0)}" y1="{_coord(self.bottom)}" x2="{_coord(self.x1)}" '
            f'y2="{_coord(self.bottom)}" stroke="{MUTED}" stroke-width="1"/>'
        )
        return out

    def x(self, value: float, lo: float, hi: float) -> float:
        """The x of `value`, clamped to the plot so an out-of-range value stays on the chart."""
        share = 0.0 if hi <= lo else (min(max(value, lo), hi) - lo) / (hi - lo)
        return self.x0 + share * (self.x1 - self.x0)

    def heading(self, title: str) -> str:
        return _text(PAD, PAD + TITLE_SIZE, _fit(title, self.width - 2 * PAD), size=TITLE_SIZE, weight="bold", cls="chart-title")

    def legend(self, text: str) -> list[str]:
        y = self.bottom + AXIS + 6
        return [
            f'<rect x="{PAD}" y="{_coord(y)}" width="12" height="12" fill="{WARN}"/>',
            _text(PAD + 18, y + 11, text, size=12, fill=INK, cls="legend"),
        ]

    def row(self, i: int, label: str, value: str, tooltip: str, highlighted: bool, shapes: list[str]) -> str:
        y = self.row_y(i)
        parts = [f'<g class="row{" highlight" if highlighted else ""}">', f"<title>{escape(tooltip)}</title>"]
        if highlighted:
            parts.append(
                f'<rect class="band" x="{PAD / 2}" y="{_coord(y - ROW / 2 + 1)}" width="{_coord(self.width - PAD)}" '
                f'height="{ROW - 2}" fill="{WARN_BAND}"/>'
            )
        colour = WARN if highlighted else INK
        weight = "bold" if highlighted else None
        parts.append(_text(self.x0 - 10, y + 4.5, _fit(label, self.label_w), anchor="end", fill=colour, weight=weight, cls="label"))
        parts += shapes
        parts.append(_text(self.x1 + 10, y + 4.5, _fit(value, self.value_w), fill=colour if value != "—" else MUTED, weight=weight, cls="value"))
        parts.append("</g>")
        return "".join(parts)


def _empty(title: str, width: int) -> str:
    height = PAD * 2 + TITLE_SIZE + 40
    body = [
        _text(PAD, PAD + TITLE_SIZE, title, size=TITLE_SIZE, weight="bold", cls="chart-title"),
        _text(width / 2, PAD + TITLE_SIZE + 32, EMPTY_TEXT, anchor="middle", fill=MUTED, cls="empty"),
    ]
    return _frame(title, EMPTY_TEXT, width, height, body)


# --------------------------------------------------------------------------- charts


def bar_chart(
    items: Sequence[tuple[str, float | None]],
    *,
    title: str,
    unit: str = "%",
    max_value: float = 100,
    width: int = 720,
    highlight: set[int] | frozenset[int] = frozenset(),
    highlight_label: str = "需关注",
) -> str:
    """Horizontal bars, one row per item (label, value); a None value shows "—" and no bar.

    Bars run from 0 to `max_value` (a value beyond it fills the row, its number still shown).
    Rows whose index is in `highlight` are drawn in the warning colour, with a legend naming
    them `highlight_label`.
    """
    if not items:
        return _empty(title, width)
    if max_value <= 0:
        raise ValueError(f"max_value must be above 0, got {max_value}")
    values = ["—" if v is None else _num(v) + unit for _, v in items]
    legend = any(0 <= i < len(items) for i in highlight)
    lay = _Layout([label for label, _ in items], values, width, legend)
    body = [lay.heading(title)] + lay.axis(0, max_value, unit)
    for i, ((label, value), shown) in enumerate(zip(items, values)):
        hl = i in highlight
        shapes = []
        if value is not None:
            x = lay.x(value, 0, max_value)
            shapes.append(
                f'<rect class="bar" x="{_coord(lay.x0)}" y="{_coord(lay.row_y(i) - 8)}" '
                f'width="{_coord(max(x - lay.x0, 0))}" height="16" fill="{WARN if hl else BAR}"/>'
            )
        body.append(lay.row(i, label, shown, f"{label}：{shown}", hl, shapes))
    if legend:
        body += lay.legend(highlight_label)
    desc = "；".join(f"{label}：{'无数据' if v is None else s}" for (label, v), s in zip(items, values))
    return _frame(title, desc, width, lay.height, body)


def _box_stats(values: Sequence[float]) -> tuple[float, float, float, float, float, list[float]]:
    """q1, median, q3 (numpy linear, as scoring.assessment.summarise_sessions), the whisker
    ends (the furthest values within 1.5 IQR of the box) and the values beyond them."""
    arr = np.asarray(values, dtype=float)
    q1, med, q3 = (float(v) for v in np.percentile(arr, [25, 50, 75]))
    reach = 1.5 * (q3 - q1)
    inside = arr[(arr >= q1 - reach) & (arr <= q3 + reach)]
    low, high = float(inside.min()), float(inside.max())
    outliers = sorted(float(v) for v in arr if v < q1 - reach or v > q3 + reach)
    return q1, med, q3, low, high, outliers


def box_plot(
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    lo: float = 0,
    hi: float = 100,
    width: int = 720,
    highlight: set[int] | frozenset[int] = frozenset(),
    highlight_label: str = "需关注",
) -> str:
    """Horizontal box plots, one row per (label, values): box Q1-Q3, median line, whiskers to
    the furthest values within 1.5 IQR, values beyond them as dots. Right: median and count.
    A series without values shows "无数据"."""
    if not series:
        return _empty(title, width)
    if hi <= lo:
        raise ValueError(f"hi must be above lo, got lo={lo}, hi={hi}")
    prepared = []
    for label, values in series:
        vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        stats = _box_stats(vals) if vals else None
        shown = EMPTY_TEXT if stats is None else f"中位数 {_num(stats[1], 1)}（{len(vals)} 人）"
        prepared.append((label, vals, stats, shown))
    legend = any(0 <= i < len(series) for i in highlight)
    lay = _Layout([p[0] for p in prepared], [p[3] for p in prepared], width, legend)
    body = [lay.heading(title)] + lay.axis(lo, hi, "")
    descs = []
    for i, (label, vals, st, shown) in enumerate(prepared):
        hl = i in highlight
        y = lay.row_y(i)
        shapes: list[str] = []
        if st is None:
            descs.append(f"{label}：{EMPTY_TEXT}")
            body.append(lay.row(i, label, shown, f"{label}：{EMPTY_TEXT}", hl, shapes))
            continue
        q1, med, q3, low, high, outliers = st
        colour = WARN if hl else BAR
        X = lambda v: _coord(lay.x(v, lo, hi))  # noqa: E731
        shapes.append(
            f'<line class="whisker" x1="{X(low)}" y1="{_coord(y)}" x2="{X(q1)}" y2="{_coord(y)}" stroke="{colour}" stroke-width="1.5"/>'
            f'<line class="whisker" x1="{X(q3)}" y1="{_coord(y)}" x2="{X(high)}" y2="{_coord(y)}" stroke="{colour}" stroke-width="1.5"/>'
            f'<line class="cap" x1="{X(low)}" y1="{_coord(y - 5)}" x2="{X(low)}" y2="{_coord(y + 5)}" stroke="{colour}" stroke-width="1.5"/>'
            f'<line class="cap" x1="{X(high)}" y1="{_coord(y - 5)}" x2="{X(high)}" y2="{_coord(y + 5)}" stroke="{colour}" stroke-width="1.5"/>'
        )
        box_w = max(lay.x(q3, lo, hi) - lay.x(q1, lo, hi), 1)
        shapes.append(
            f'<rect class="box" x="{X(q1)}" y="{_coord(y - 8)}" width="{_coord(box_w)}" height="16" '
            f'fill="{WARN_BAND if hl else BOX_FILL}" stroke="{colour}" stroke-width="1.5"/>'
        )
        shapes.append(
            f'<line class="median" x1="{X(med)}" y1="{_coord(y - 8)}" x2="{X(med)}" y2="{_coord(y + 8)}" stroke="{INK}" stroke-width="2.5"/>'
        )
        for v in outliers:
            shapes.append(f'<circle class="outlier" cx="{X(v)}" cy="{_coord(y)}" r="3" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        summary = (
            f"{label}：{len(vals)} 人，中位数 {_num(med)}，四分位 {_num(q1)}–{_num(q3)}，"
            f"须线 {_num(low)}–{_num(high)}" + (f"，离群值 {'、'.join(_num(v) for v in outliers)}" if outliers else "")
        )
        descs.append(summary)
        body.append(lay.row(i, label, shown, summary, hl, shapes))
    if legend:
        body += lay.legend(highlight_label)
    return _frame(title, "；".join(descs), width, lay.height, body)
