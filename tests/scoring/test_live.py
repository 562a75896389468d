"""The console's live rules: a judge far off the others on one entry, entry states, and
shared ranks of confirmed scores — the warnings and order a chief judge and a hall see."""
from __future__ import annotations

import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

from scoring.live import competition_ranks, entry_state, median, off_marks

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("totals,max_total,off", [
    # 100-point sheet: threshold 15 points from the median of the others
    ({"A": "80", "B": "82", "C": "81", "D": "65"}, "100", {"D": ("-16", "81")}),
    ({"A": "80", "B": "82", "C": "81", "D": "66"}, "100", {"D": ("-15", "81")}),     # exactly 15 below is off
    ({"A": "80", "B": "80", "C": "80", "D": "95"}, "100", {"D": ("15", "80")}),      # exactly 15 is off
    ({"A": "80", "B": "80", "C": "80", "D": "94.99"}, "100", {}),
    # one wild judge does not make the honest ones look off (median, not mean)
    ({"A": "70", "B": "71", "C": "72", "D": "73", "E": "20"}, "100", {"E": ("-51.5", "71.5")}),
    # a 10-point sheet: threshold 1.5
    ({"A": "8", "B": "8.5", "C": "6.5"}, "10", {"C": ("-1.75", "8.25")}),
    # too few others to say who is off
    ({"A": "90", "B": "40"}, "100", {}),
    ({"A": "90"}, "100", {}),
    ({}, "100", {}),
])
def test_off_marks(totals, max_total, off):
    got = off_marks({k: D(v) for k, v in totals.items()}, D(max_total))
    assert {k: (str(m.deviation), str(m.others_median)) for k, m in got.items()} == \
           {k: (str(D(dev)), str(D(med))) for k, (dev, med) in off.items()}
    for m in got.values():
        assert m.threshold == D("0.15") * D(max_total)
        assert m.direction == ("high" if m.deviation > 0 else "low")


def test_off_marks_share_and_min_others_are_settings():
    totals = {"A": D(70), "B": D(90)}
    assert set(off_marks(totals, D(100), min_others=1)) == {"A", "B"}
    assert off_marks({"A": D(80), "B": D(85), "C": D(86)}, D(100), share=D("0.05")).keys() == {"A"}
    with pytest.raises(ValueError):
        off_marks(totals, D(0))


@pytest.mark.parametrize("values,expected", [
    (["1"], "1"), (["3", "1", "2"], "2"), (["4", "1", "2", "3"], "2.5"), (["80", "80.5"], "80.25"),
])
def test_median(values, expected):
    assert median([D(v) for v in values]) == D(expected)


@pytest.mark.parametrize("expected,submitted,confirmed,code,missing", [
    (7, 3, False, "waiting", 4),
    (7, 7, False, "ready", 0),
    (7, 7, True, "confirmed", 0),
    (0, 0, False, "no_judges", 0),
    (5, 6, False, "ready", 0),       # a leftover sheet of a recused judge never goes negative
])
def test_entry_state(expected, submitted, confirmed, code, missing):
    s = entry_state(expected, submitted, confirmed)
    assert (s.code, s.missing) == (code, missing)


@pytest.mark.parametrize("items,expected", [
    ([("a", ["90"]), ("b", ["95"]), ("c", ["90"]), ("d", ["80"])],
     [("b", 1), ("a", 2), ("c", 2), ("d", 4)]),
    # a tie-break separates equal scores; equal everything shares
    ([("a", ["90", "450"]), ("b", ["90", "460"]), ("c", ["90", "450"])],
     [("b", 1), ("a", 2), ("c", 2)]),
    # a missing tie-break value loses
    ([("a", ["90", None]), ("b", ["90", "1"])], [("b", 1), ("a", 2)]),
    ([], []),
])
def test_competition_ranks(items, expected):
    got = competition_ranks([(k, [None if v is None else D(v) for v in vals]) for k, vals in items])
    assert got == expected


def test_live_is_pure():
    code = ("import sys; import scoring.live; "
            "bad = [m for m in ('flask', 'sqlalchemy', 'flask_sqlalchemy') if m in sys.modules]; "
            "sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
