"""Rules the chief judge's console applies while sheets arrive, before any history exists.

`scoring.monitoring` needs many marks per judge before its tests mean anything; during the
first entries of a round the chief still wants to see a judge who is far off the others on
*this* entry. The rule here needs nothing but the entry's submitted totals:

* **Off the panel** (`off_marks`): a judge whose total is at least ``share`` (default 15%) of
  the rubric's maximum total away from the median of the *other* judges' totals for the same
  entry (15 points on a 100-point sheet). The median, not the mean, so one wild judge does not
  drag the reference and make an honest neighbour look off too. At least ``min_others``
  (default 2) other totals are needed: against a single other judge both would be "off".

`entry_state` says where an entry stands (waiting for N sheets, ready, confirmed) and
`competition_ranks` ranks confirmed final scores with shared ranks (1, 2, 2, 4), comparing
tie-break values in order when the rubric has them, as `scoring.ranking.rank` does.

Pure: Decimal arithmetic only, no Flask, no database.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

DEFAULT_SHARE = Decimal("0.15")


@dataclass(frozen=True)
class OffMark:
    """One judge's total that is far from the other judges' median for the entry."""
    judge: Hashable
    total: Decimal
    others_median: Decimal
    deviation: Decimal        # total - others_median (negative: lower than the others)
    threshold: Decimal        # share x max_total, in points

    @property
    def direction(self) -> str:
        return "high" if self.deviation > 0 else "low"


def median(values: Sequence[Decimal]) -> Decimal:
    """The exact median (mean of the two middle values for an even count)."""
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def off_marks(totals: Mapping[Hashable, Decimal], max_total: Decimal, *, share: Decimal = DEFAULT_SHARE,
              min_others: int = 2) -> dict[Hashable, OffMark]:
    """Judges whose total is ``share`` x ``max_total`` or more away from the median of the
    other judges' totals on the same entry (module doc). Judges without a total are left out
    by the caller; the answer maps only the judges that are off."""
    if max_total <= 0:
        raise ValueError("max_total must be positive")
    threshold = Decimal(share) * Decimal(max_total)
    values = {j: Decimal(v) for j, v in totals.items() if v is not None}
    if len(values) < min_others + 1:
        return {}
    out: dict[Hashable, OffMark] = {}
    for judge, total in values.items():
        others = [v for j, v in values.items() if j != judge]
        ref = median(others)
        deviation = total - ref
        if abs(deviation) >= threshold:
            out[judge] = OffMark(judge, total, ref, deviation, threshold)
    return out


@dataclass(frozen=True)
class EntryState:
    """`waiting` (sheets missing: `missing` of `expected`), `ready` (all in, not confirmed),
    `confirmed`, or `no_judges` (nobody can score it: every judge recused)."""
    code: str
    expected: int
    submitted: int

    @property
    def missing(self) -> int:
        return max(self.expected - self.submitted, 0)


def entry_state(expected: int, submitted: int, confirmed: bool) -> EntryState:
    if confirmed:
        return EntryState("confirmed", expected, submitted)
    if expected == 0:
        return EntryState("no_judges", 0, submitted)
    if submitted >= expected:
        return EntryState("ready", expected, submitted)
    return EntryState("waiting", expected, submitted)


def competition_ranks(items: Sequence[tuple[Hashable, Sequence[Decimal | None]]]) -> list[tuple[Hashable, int]]:
    """Rank ``(key, values)`` pairs, best first: ``values[0]`` is the final score, then the
    tie-break values in the rubric's order, higher wins, a missing value loses. Pairs whose
    values are all equal share a rank (1, 2, 2, 4); within a tie the input order is kept."""
    def sort_key(values: Sequence[Decimal | None]) -> tuple:
        return tuple((1, Decimal(0)) if v is None else (0, -Decimal(v)) for v in values)

    keyed = sorted(((sort_key(v), i, k) for i, (k, v) in enumerate(items)), key=lambda t: (t[0], t[1]))
    out: list[tuple[Hashable, int]] = []
    previous = None
    for position, (key, _i, k) in enumerate(keyed, start=1):
        rank = out[-1][1] if previous is not None and key == previous else position
        out.append((k, rank))
        previous = key
    return out
