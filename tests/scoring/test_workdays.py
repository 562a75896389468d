"""Working days for 公示 periods: table-driven."""
from datetime import date

import pytest

from scoring.workdays import PRC_HOLIDAYS, add_prc_working_days, add_working_days, is_working_day

D = date.fromisoformat


@pytest.mark.parametrize("start,n,holidays,extra,expected", [
    # plain weeks: Monday + 5 → next Monday; Friday + 1 → Monday
    ("2026-11-23", 5, (), (), "2026-11-30"),
    ("2026-11-27", 1, (), (), "2026-11-30"),
    # starting on a weekend: Saturday + 5 → Friday
    ("2026-11-28", 5, (), (), "2026-12-04"),
    # n = 0 is the start itself
    ("2026-11-28", 0, (), (), "2026-11-28"),
    ("2026-11-25", 0, (), (), "2026-11-25"),
    # a holiday on Wednesday pushes the end by one day
    ("2026-11-23", 5, ("2026-11-25",), (), "2026-12-01"),
    # a 调休 working Saturday counts
    ("2026-11-23", 5, (), ("2026-11-28",), "2026-11-28"),
    # crossing a year, with New Year's Day off
    ("2026-12-29", 5, ("2027-01-01",), (), "2027-01-06"),
    ("2026-12-31", 1, (), (), "2027-01-01"),
])
def test_add_working_days(start, n, holidays, extra, expected):
    got = add_working_days(D(start), n, {D(h) for h in holidays}, {D(e) for e in extra})
    assert got == D(expected)


def test_negative_n_is_refused():
    with pytest.raises(ValueError):
        add_working_days(D("2026-11-23"), -1)


@pytest.mark.parametrize("start,n,expected", [
    # National Day 2024: Sat 28 Sep; Sun 29 Sep is worked (调休); 1–7 Oct off; Sat 12 Oct worked
    ("2024-09-27", 1, "2024-09-29"),
    ("2024-09-27", 5, "2024-10-10"),
    ("2024-10-08", 4, "2024-10-12"),
    ("2024-10-08", 5, "2024-10-14"),
    # Spring Festival 2026: 15–23 Feb off, Sat 14 Feb worked
    ("2026-02-13", 1, "2026-02-14"),
    ("2026-02-13", 2, "2026-02-24"),
])
def test_prc_table_known_cases(start, n, expected):
    assert add_prc_working_days(D(start), n) == D(expected)


def test_prc_table_days():
    assert D("2024-10-01") in PRC_HOLIDAYS
    assert not is_working_day(D("2024-10-01"), PRC_HOLIDAYS)
    assert is_working_day(D("2024-09-29"), PRC_HOLIDAYS, {D("2024-09-29")})
