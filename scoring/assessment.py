"""Teacher-training assessment: from attendance and component scores to 结业 / 优秀学员.

The rules are the rubric's (kind `assessment`, scoring/rubric.py `Component`, `Attendance`,
`Eligibility`, `Excellence`, `Rounding`; rubrics/training/assessment.yaml). No published pass
marks exist for these trainings (DOMAIN.md), so nothing here is hard-coded: change the file and
the outcomes change.

total = Σ weight × scaled, every component scaled to 0-100 first:
attendance rate × 100, a direct score / its `max` × 100, a rubric's final score / that
rubric's `max_total` × 100. Arithmetic is exact (a rate of 7/9 stays 7/9 as a Fraction) until
the total is rounded once, by the rubric's `rounding` (at `final`). Decisions use the rounded
total, because that is the number a trainee is shown: 59.995 published as 60.00 passes.

Outcomes:
- `pending` when any component score (or the attendance record) is missing. The trainee is not
  failed even when an attendance rule already fails: the record may still be corrected, and a
  result that flips from failed to pending to failed would confuse more than it helps. The
  failures that can already be seen are listed in the reasons all the same.
- `failed` when an eligibility rule fails or the total is below `pass_mark`; every cause is a
  reason.
- `passed` otherwise; 优秀 is decided among passed trainees only (see `_excellence`).

`summarise_sessions` compares sessions for the national organiser and flags those whose pass
rate, median total or score spread is out of line with the rest.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from scipy import stats

from scoring.aggregate import round_to, to_decimal
from scoring.rubric import Component, Eligibility, Rubric

__all__ = [
    "SLOT_STATUSES",
    "ComponentScore",
    "Outcome",
    "SessionSummary",
    "TraineeInput",
    "attendance_rate",
    "evaluate",
    "summarise_sessions",
]

#: Check-in states of one half-day; "none" (not marked) counts as absent.
SLOT_STATUSES = ("present", "absent", "excused", "none")

_HUNDRED = Fraction(100)


# --------------------------------------------------------------------------- inputs and outputs


@dataclass(frozen=True)
class TraineeInput:
    """What is known of one trainee. `components` holds raw scores of `score` and `rubric`
    components (None or left out = not yet available); attendance comes from `slots` only.
    `rubric_max` gives, for each `rubric` component, the max_total of its rubric."""

    key: Any
    slots: Sequence[str]
    components: Mapping[str, Decimal | None]
    rubric_max: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class ComponentScore:
    id: str
    title_zh: str
    weight: Decimal
    raw: Decimal | None        # as given (attendance: the rate as a fraction)
    scaled: Decimal | None     # 0-100, exact (28 significant digits when it does not terminate)
    weighted: Decimal | None   # weight × scaled


@dataclass(frozen=True)
class Outcome:
    key: Any
    status: Literal["passed", "failed", "pending"]
    total: Decimal | None            # rounded as the rubric says; None when pending
    attendance_rate: Decimal | None  # fraction 0-1; None when no slots
    components: tuple[ComponentScore, ...]
    excellent: bool
    reasons_zh: tuple[str, ...]
    reasons_en: tuple[str, ...]
    rank: int | None                 # by total among non-pending trainees, ties share, 1 best


# --------------------------------------------------------------------------- numbers


def _exact(value: Any, what: str) -> Fraction:
    """An input number as an exact Fraction; floats go through their shortest repr (as the
    rubric loader does), booleans and strings are refused as typos."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError(f"{what}: must be a number, got {value!r}")
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{what}: must be a finite number, got {value}")
    return Fraction(value)


def _as_given(given: Any, exact: Fraction) -> Decimal:
    """The raw score as the caller wrote it (8.50 stays 8.50); the attendance rate exactly."""
    if isinstance(given, Decimal):
        return given
    if isinstance(given, int) and not isinstance(given, bool):
        return Decimal(given)
    return to_decimal(exact)


def _plain(value: Fraction | Decimal) -> str:
    """25, 0.5, 8.25: no exponent, no trailing zeros."""
    d = to_decimal(value) if isinstance(value, Fraction) else value
    return format(d.normalize(), "f")


def _shown(value: Fraction, bound: Fraction, places: int) -> str:
    """`value` to at most `places` decimals, trailing zeros dropped, never rounded across
    `bound`: a rate of 79.96% below 80% reads 79.9, not a contradictory 80."""
    places = max(places, _places(bound))
    shown = round_to(value, places, "half_up")
    if value < bound <= Fraction(shown):
        shown = round_to(value, places, "down")
    return _plain(shown)


def _places(value: Fraction) -> int:
    d = to_decimal(value).normalize()
    return max(0, -d.as_tuple().exponent) if d.is_finite() else 0


def _percent(rate: Fraction, bound: Fraction) -> str:
    return _shown(rate * 100, bound * 100, 1) + "%"


# --------------------------------------------------------------------------- attendance


def _rate(slots: Sequence[str], excused_weight: Fraction) -> Fraction | None:
    counts = dict.fromkeys(SLOT_STATUSES, 0)
    for i, status in enumerate(slots):
        if status not in counts:
            raise ValueError(
                f"slot {i + 1}: unknown attendance status {status!r} (use {', '.join(SLOT_STATUSES)})"
            )
        counts[status] += 1
    if not slots:
        return None
    return (counts["present"] + counts["excused"] * excused_weight) / len(slots)


def attendance_rate(slots: Sequence[str], excused_weight: Decimal) -> Decimal | None:
    """(present + excused × excused_weight) / number of counted half-days, exact; None when no
    half-day is counted yet (a rate of 0 would read as a trainee who never came)."""
    rate = _rate(slots, _exact(excused_weight, "excused_weight"))
    return None if rate is None else to_decimal(rate)


# --------------------------------------------------------------------------- evaluation


@dataclass
class _Work:
    """One trainee while being evaluated (exact Fractions)."""

    trainee: TraineeInput
    rate: Fraction | None
    scaled: dict[str, Fraction | None]
    scores: tuple[ComponentScore, ...]
    failures: list[tuple[str, str]]
    missing: list[tuple[str, str]]
    total: Decimal | None = None
    status: str = "pending"
    rank: int | None = None
    excellent: bool = False
    good: list[tuple[str, str]] = field(default_factory=list)


def _title_en(c: Component) -> str:
    return c.title.en or c.title.zh


def _component(c: Component, t: TraineeInput, rate: Fraction | None) -> tuple[ComponentScore, Fraction | None]:
    weight = Fraction(c.weight)
    if c.source == "attendance":
        raw: Fraction | None = rate
        scaled = None if rate is None else rate * _HUNDRED
    else:
        given = t.components.get(c.id)
        raw = None if given is None else _exact(given, f"trainee {t.key!r}, component {c.id}")
        if c.source == "score":
            top = Fraction(c.max)
        else:
            top_given = t.rubric_max.get(c.id)
            if top_given is None:
                if raw is not None:
                    raise ValueError(
                        f"trainee {t.key!r}, component {c.id}: rubric_max is needed to scale a "
                        f"score on rubric {c.rubric}"
                    )
                top = Fraction(0)
            else:
                top = _exact(top_given, f"trainee {t.key!r}, rubric_max[{c.id}]")
                if top <= 0:
                    raise ValueError(f"trainee {t.key!r}, rubric_max[{c.id}]: must be above 0, got {_plain(top)}")
        if raw is not None and not 0 <= raw <= top:
            raise ValueError(
                f"trainee {t.key!r}, component {c.id}: score {_plain(raw)} is outside 0..{_plain(top)}"
            )
        scaled = None if raw is None else raw / top * _HUNDRED
    score = ComponentScore(
        id=c.id,
        title_zh=c.title.zh,
        weight=c.weight,
        raw=None if raw is None else _as_given(t.components.get(c.id), raw),
        scaled=None if scaled is None else to_decimal(scaled),
        weighted=None if scaled is None else to_decimal(weight * scaled),
    )
    return score, scaled


def _check_ids(rubric: Rubric, t: TraineeInput) -> None:
    by_id = {c.id: c for c in rubric.components}
    for cid in t.components:
        c = by_id.get(cid)
        if c is None:
            known = ", ".join(c.id for c in rubric.components if c.source != "attendance")
            raise ValueError(f"trainee {t.key!r}: unknown component {cid!r} (components: {known})")
        if c.source == "attendance":
            raise ValueError(
                f"trainee {t.key!r}: component {cid!r} is attendance, which comes from the slots"
            )
    for cid in t.rubric_max:
        c = by_id.get(cid)
        if c is None or c.source != "rubric":
            raise ValueError(f"trainee {t.key!r}: rubric_max given for {cid!r}, which is not a rubric component")


def _eligibility(rule: Eligibility, rubric: Rubric, w: _Work) -> None:
    bound = Fraction(rule.at_least)
    if rule.metric == "attendance_rate":
        if w.rate is None:
            w.missing.append(("出勤尚未记录", "attendance not yet recorded"))
        elif w.rate < bound:
            value = _percent(w.rate, bound)
            limit = _percent(bound, bound)
            w.failures.append((
                f"出勤率 {value} < {limit}（{rule.title.zh}）",
                f"attendance {value} < {limit} ({rule.title.en or rule.title.zh})",
            ))
        return
    comp = next(c for c in rubric.components if c.id == rule.component)
    scaled = w.scaled[comp.id]
    if scaled is None:
        return  # reported once as a missing component
    if scaled < bound:
        value, limit = _shown(scaled, bound, 2), _plain(bound)
        w.failures.append((
            f"{comp.title.zh} {value} < {limit}（{rule.title.zh}）",
            f"{_title_en(comp)} {value} < {limit} ({rule.title.en or rule.title.zh})",
        ))


def _competition_ranks(totals: Sequence[Decimal]) -> list[int]:
    """1 + number of strictly better totals: ties share a rank and the next is skipped."""
    ordered = sorted(totals, reverse=True)
    first = {}
    for i, v in enumerate(ordered):
        first.setdefault(v, i + 1)
    return [first[v] for v in totals]


def _excellence(rubric: Rubric, works: list[_Work]) -> None:
    """优秀 among passed trainees: `min_total` and/or the top `top_share`.

    The share is ceil(top_share × N) with N the passed trainees or all trainees given
    (`share_of`; with `all`, pending and failed trainees count in N but are never excellent).
    Trainees are ranked among the passed; those tied across the cut-off are all in
    (`higher`) or all out (`lower`).
    """
    x = rubric.excellence
    passed = [w for w in works if w.status == "passed"]
    if x is None or not passed:
        return
    population = len(passed) if x.share_of == "passed" else len(works)
    cut = math.ceil(Fraction(x.top_share) * population) if x.top_share is not None else 0
    ranks = _competition_ranks([w.total for w in passed])  # type: ignore[misc]
    tied = {r: ranks.count(r) for r in ranks}
    pct = _plain(Fraction(x.top_share) * 100) + "%" if x.top_share is not None else ""
    for w, r in zip(passed, ranks):
        checks: list[bool] = []
        notes: list[tuple[str, str]] = []
        total_text = format(w.total, "f")
        if x.min_total is not None:
            ok = w.total >= x.min_total
            checks.append(ok)
            if ok:
                notes.append((f"总评 {total_text} ≥ {_plain(x.min_total)}", f"total {total_text} ≥ {_plain(x.min_total)}"))
        if x.top_share is not None:
            last = r + tied[r] - 1  # the lowest place the tie group occupies
            ok = r <= cut if x.ties_at_cutoff == "higher" else last <= cut
            checks.append(ok)
            if ok:
                tie_zh = f"，并列 {tied[r]} 人" if tied[r] > 1 else ""
                tie_en = f", tied with {tied[r] - 1} other(s)" if tied[r] > 1 else ""
                if x.share_of == "passed":
                    zh = f"位列前 {pct}（第 {r} 名{tie_zh}，共 {population} 名合格学员中前 {cut} 名）"
                    en = f"in the top {pct} (rank {r}{tie_en}; top {cut} of {population} passed trainees)"
                else:
                    zh = f"位列前 {pct}（合格学员中第 {r} 名{tie_zh}，共 {population} 名学员中前 {cut} 名）"
                    en = f"in the top {pct} (rank {r} among passed trainees{tie_en}; top {cut} of {population} trainees)"
                notes.append((zh, en))
        w.excellent = any(checks) if x.combine == "any" else all(checks)
        if w.excellent:
            w.good.extend(notes)


def evaluate(rubric: Rubric, trainees: Sequence[TraineeInput]) -> list[Outcome]:
    """Outcomes in the order of `trainees`. Raises ValueError for input the rubric cannot
    score (unknown component or slot status, a score outside its range), naming the trainee."""
    if rubric.kind != "assessment":
        raise ValueError(f"rubric {rubric.id} is a {rubric.kind}, not an assessment")
    excused = Fraction(rubric.attendance.excused_weight) if rubric.attendance else Fraction(0)
    works: list[_Work] = []
    for t in trainees:
        _check_ids(rubric, t)
        try:
            rate = _rate(t.slots, excused)
        except ValueError as exc:
            raise ValueError(f"trainee {t.key!r}: {exc}") from None
        scaled: dict[str, Fraction | None] = {}
        scores = []
        for c in rubric.components:
            score, scaled[c.id] = _component(c, t, rate)
            scores.append(score)
        w = _Work(t, rate, scaled, tuple(scores), [], [])
        for c in rubric.components:
            if scaled[c.id] is None and c.source != "attendance":
                w.missing.append((f"{c.title.zh}尚未评分", f"{_title_en(c)} not yet scored"))
        if rate is None and any(c.source == "attendance" for c in rubric.components):
            w.missing.append(("出勤尚未记录", "attendance not yet recorded"))
        for rule in rubric.eligibility:
            _eligibility(rule, rubric, w)
        w.missing = list(dict.fromkeys(w.missing))
        if not w.missing:
            exact = sum((Fraction(c.weight) * scaled[c.id] for c in rubric.components), Fraction(0))  # type: ignore[operator]
            r = rubric.rounding
            w.total = round_to(exact, r.decimals, r.mode) if r else to_decimal(exact)
            assert rubric.pass_mark is not None  # required for an assessment
            total_text, mark = format(w.total, "f"), _plain(rubric.pass_mark)
            if w.total < rubric.pass_mark:
                w.failures.append((f"总评 {total_text} < 合格线 {mark}", f"total {total_text} < pass mark {mark}"))
            elif not w.failures:
                w.good.append((f"总评 {total_text} ≥ 合格线 {mark}", f"total {total_text} ≥ pass mark {mark}"))
            w.status = "failed" if w.failures else "passed"
        works.append(w)

    decided = [w for w in works if w.total is not None]
    for w, r in zip(decided, _competition_ranks([w.total for w in decided])):  # type: ignore[misc]
        w.rank = r
    _excellence(rubric, works)

    out = []
    for w in works:
        reasons = w.failures + w.missing + w.good
        out.append(Outcome(
            key=w.trainee.key,
            status=w.status,  # type: ignore[arg-type]
            total=w.total,
            attendance_rate=None if w.rate is None else to_decimal(w.rate),
            components=w.scores,
            excellent=w.excellent,
            reasons_zh=tuple(zh for zh, _ in reasons),
            reasons_en=tuple(en for _, en in reasons),
            rank=w.rank,
        ))
    return out


# --------------------------------------------------------------------------- sessions compared


@dataclass(frozen=True)
class SessionSummary:
    key: Any
    name: str
    trainees: int
    passed: int
    failed: int
    pending: int
    excellent: int
    pass_rate: float | None          # passed / (passed + failed); None when nobody is decided
    totals: tuple[float, ...]        # totals of non-pending trainees
    median: float | None
    q1: float | None
    q3: float | None
    mean: float | None
    flags_zh: tuple[str, ...]        # why the session looks out of line; empty if it does not
    flags_en: tuple[str, ...]


#: Thresholds of `summarise_sessions`; module constants so a report can quote them.
PASS_RATE_P = 0.01
PASS_RATE_MIN_DECIDED = 10
MEDIAN_Z = 3.5
MEDIAN_MIN_GAP = 5.0          # points: a statistically clear but small gap is not worth a flag
MEDIAN_MIN_SESSIONS = 5
NARROW_IQR = 2.0
NARROW_MIN_TRAINEES = 10


def _pct(x: float) -> str:
    return f"{x * 100:.1f}".rstrip("0").rstrip(".") + "%"


def _p(p: float) -> str:
    return "p < 0.0001" if p < 0.0001 else f"p = {p:.2g}"


def _robust_z(value: float, others: Sequence[float]) -> float | None:
    """Modified z-score (Iglewicz & Hoaglin) of `value` against `others`: 0.6745 (x − median)
    / MAD. When over half the others share one value (MAD 0) the mean absolute deviation ×
    1.2533 stands in; when that is 0 too, no z exists and nothing is flagged."""
    arr = np.asarray(others, dtype=float)
    centre = float(np.median(arr))
    dev = np.abs(arr - centre)
    mad = float(np.median(dev))
    if mad > 0:
        return 0.6745 * (value - centre) / mad
    mean_ad = float(np.mean(dev))
    if mean_ad > 0:
        return (value - centre) / (1.253314 * mean_ad)
    return None


def summarise_sessions(sessions: Sequence[tuple[Any, str, Sequence[Outcome]]]) -> list[SessionSummary]:
    """One summary per session, in order, with flags where a session is out of line.

    Flags (each compares a session with the *other* sessions, so it cannot hide itself):
    - pass rate: two-sided Fisher exact test of its passed/failed against the others pooled,
      p < 0.01, only with at least 10 decided trainees;
    - median total: robust z of its median against the other sessions' medians, |z| > 3.5
      and at least 5 points away from their median (sessions that agree closely would
      otherwise flag a 2-point gap), only with at least 5 sessions that have a median;
    - spread: IQR of totals under 2 points with at least 10 totals (scores that do not
      discriminate between trainees).
    Quartiles are numpy's linear interpolation, as the box plots draw them.
    """
    base = []
    for key, name, outcomes in sessions:
        passed = sum(o.status == "passed" for o in outcomes)
        failed = sum(o.status == "failed" for o in outcomes)
        totals = tuple(float(o.total) for o in outcomes if o.status != "pending" and o.total is not None)
        q1 = med = q3 = mean = None
        if totals:
            q1, med, q3 = (float(v) for v in np.percentile(totals, [25, 50, 75]))
            mean = float(np.mean(totals))
        base.append(dict(
            key=key, name=name, trainees=len(outcomes), passed=passed, failed=failed,
            pending=sum(o.status == "pending" for o in outcomes),
            excellent=sum(o.excellent for o in outcomes),
            pass_rate=passed / (passed + failed) if passed + failed else None,
            totals=totals, median=med, q1=q1, q3=q3, mean=mean,
        ))

    medians = [(i, b["median"]) for i, b in enumerate(base) if b["median"] is not None]
    out = []
    for i, b in enumerate(base):
        zh: list[str] = []
        en: list[str] = []
        decided = b["passed"] + b["failed"]
        other_passed = sum(o["passed"] for j, o in enumerate(base) if j != i)
        other_failed = sum(o["failed"] for j, o in enumerate(base) if j != i)
        if decided >= PASS_RATE_MIN_DECIDED and other_passed + other_failed > 0:
            p = float(stats.fisher_exact([[b["passed"], b["failed"]], [other_passed, other_failed]]).pvalue)
            if p < PASS_RATE_P:
                pooled = other_passed / (other_passed + other_failed)
                lower = b["pass_rate"] < pooled
                zh.append(
                    f"合格率 {_pct(b['pass_rate'])}，明显{'低' if lower else '高'}于其他各期合计的 "
                    f"{_pct(pooled)}（{_p(p)}）"
                )
                en.append(
                    f"pass rate {_pct(b['pass_rate'])}, markedly {'below' if lower else 'above'} "
                    f"the {_pct(pooled)} of the other sessions pooled ({_p(p)})"
                )
        if b["median"] is not None and len(medians) >= MEDIAN_MIN_SESSIONS:
            others = [m for j, m in medians if j != i]
            z = _robust_z(b["median"], others)
            centre = float(np.median(others))
            if z is not None and abs(z) > MEDIAN_Z and abs(b["median"] - centre) >= MEDIAN_MIN_GAP:
                lower = z < 0
                zh.append(
                    f"总评中位数 {b['median']:.1f}，远{'低' if lower else '高'}于其他各期中位数的中位数 "
                    f"{centre:.1f}（稳健 z = {z:.1f}）"
                )
                en.append(
                    f"median total {b['median']:.1f}, far {'below' if lower else 'above'} the "
                    f"{centre:.1f} median of the other sessions' medians (robust z = {z:.1f})"
                )
        if len(b["totals"]) >= NARROW_MIN_TRAINEES and b["q3"] - b["q1"] < NARROW_IQR:
            iqr = b["q3"] - b["q1"]
            zh.append(
                f"总评过于集中：四分位距仅 {iqr:.1f} 分（Q1 {b['q1']:.1f}，Q3 {b['q3']:.1f}，"
                f"共 {len(b['totals'])} 人），评分可能未能区分学员"
            )
            en.append(
                f"totals bunched together: interquartile range only {iqr:.1f} points (Q1 "
                f"{b['q1']:.1f}, Q3 {b['q3']:.1f}, {len(b['totals'])} trainees); the scores may "
                "not discriminate between trainees"
            )
        out.append(SessionSummary(**b, flags_zh=tuple(zh), flags_en=tuple(en)))
    return out
