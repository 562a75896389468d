"""Working days as Chinese offices count them (pure: no Flask, no database).

A working day is Monday–Friday, minus public holidays, plus the weekend days that are worked
in exchange (调休). 公示 periods ("5 working days") are counted with `add_working_days`.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Iterable


def _days(*spans: tuple[str, str] | str) -> frozenset[date]:
    out: set[date] = set()
    for s in spans:
        a, b = (s, s) if isinstance(s, str) else s
        d, end = date.fromisoformat(a), date.fromisoformat(b)
        while d <= end:
            out.add(d)
            d += timedelta(days=1)
    return frozenset(out)


# Data, not logic: PRC public holidays and 调休 working weekend days as announced by the
# General Office of the State Council (国务院办公厅关于…部分节假日安排的通知):
# 2024 国办发明电〔2023〕7号, 2025 国办发明电〔2024〕12号, 2026 国办发明电〔2025〕7号.
# Later years are not known in advance; callers may pass their own sets.
PRC_HOLIDAYS: frozenset[date] = _days(
    # 2024
    "2024-01-01", ("2024-02-10", "2024-02-17"), ("2024-04-04", "2024-04-06"),
    ("2024-05-01", "2024-05-05"), "2024-06-10", ("2024-09-15", "2024-09-17"),
    ("2024-10-01", "2024-10-07"),
    # 2025
    "2025-01-01", ("2025-01-28", "2025-02-04"), ("2025-04-04", "2025-04-06"),
    ("2025-05-01", "2025-05-05"), ("2025-05-31", "2025-06-02"), ("2025-10-01", "2025-10-08"),
    # 2026
    ("2026-01-01", "2026-01-03"), ("2026-02-15", "2026-02-23"), ("2026-04-04", "2026-04-06"),
    ("2026-05-01", "2026-05-05"), ("2026-06-19", "2026-06-21"), ("2026-09-25", "2026-09-27"),
    ("2026-10-01", "2026-10-07"),
)
PRC_WORKDAYS_EXTRA: frozenset[date] = _days(
    # 2024
    "2024-02-04", "2024-02-18", "2024-04-07", "2024-04-28", "2024-05-11", "2024-09-14",
    "2024-09-29", "2024-10-12",
    # 2025
    "2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11",
    # 2026
    "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10",
)


def is_working_day(d: date, holidays: Iterable[date] = frozenset(),
                   workdays_extra: Iterable[date] = frozenset()) -> bool:
    """Mon–Fri and not a holiday, or a 调休 working weekend day."""
    if d in workdays_extra:
        return True
    return d.weekday() < 5 and d not in holidays


def add_working_days(start: date, n: int, holidays: Iterable[date] = frozenset(),
                     workdays_extra: Iterable[date] = frozenset()) -> date:
    """The date `n` working days after `start` (start itself is not counted; n=0 → start)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    holidays, workdays_extra = frozenset(holidays), frozenset(workdays_extra)
    d = start
    left = n
    while left:
        d += timedelta(days=1)
        if is_working_day(d, holidays, workdays_extra):
            left -= 1
    return d


def add_prc_working_days(start: date, n: int) -> date:
    """`add_working_days` with the built-in PRC holiday table."""
    return add_working_days(start, n, PRC_HOLIDAYS, PRC_WORKDAYS_EXTRA)
