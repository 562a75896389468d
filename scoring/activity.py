"""The joint action's activity plan and what units report on it: pure, no Flask, no database.

The plan (data/joint-action/<year>.yaml) lists the year's activities, 10 monthly theme
activities and 7 seminars, each with its months; a unit's report on an activity is due (and
its materials on time) `report_days_after_end` days after the activity's last month ends.

The year-end award rubric (rubrics/awards/organising-unit.yaml) has criteria computed from
these reports. `award_inputs` turns a unit's reports into the figures those criteria name, so
the web app and a test table compute them the same way:

- ``activities_joined``: activities with at least one event held;
- ``reports_on_time``: activities whose materials were submitted on or before the deadline;
- ``events_held``, ``participants``, ``media_reports``: the year's sums.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

__all__ = ["Activity", "Plan", "PlanError", "Report", "Totals", "KINDS", "award_inputs", "computed_lines",
           "load_plan", "parse_plan", "totals_by"]

KINDS = {"theme": "主题活动", "seminar": "交流研讨"}
INPUTS = ("activities_joined", "reports_on_time", "events_held", "participants", "media_reports")
INPUT_LABELS = {"activities_joined": "参与", "reports_on_time": "按时报送", "events_held": "活动场次",
                "participants": "参与人数", "media_reports": "媒体报道"}


class PlanError(ValueError):
    """A plan file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Activity:
    code: str
    kind: str            # theme | seminar
    title: str
    months: tuple[int, ...]
    deadline: date       # reports and materials due on or before this day

    @property
    def kind_zh(self) -> str:
        return KINDS[self.kind]

    @property
    def months_zh(self) -> str:
        return "/".join(str(m) for m in self.months) + "月"

    @property
    def label(self) -> str:
        return f"{self.code} {self.title}（{self.months_zh}）"


@dataclass(frozen=True)
class Plan:
    year: int
    title: str
    activities: tuple[Activity, ...]
    source_year: int     # the year of the file it came from (differs when a plan is reused)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(a.code for a in self.activities)

    def get(self, code: str) -> Activity | None:
        for a in self.activities:
            if a.code == code:
                return a
        return None

    def __len__(self) -> int:
        return len(self.activities)


def _deadline(year: int, months: Sequence[int], days_after: int) -> date:
    last = max(months)
    end = date(year, last, calendar.monthrange(year, last)[1])
    return end + timedelta(days=days_after)


def parse_plan(data: Any, year: int, *, where: str = "plan") -> Plan:
    """A Plan for `year` from the parsed YAML mapping; months are re-dated to `year`."""
    if not isinstance(data, Mapping):
        raise PlanError(f"{where}: expected a mapping")
    default_days = data.get("report_days_after_end", 15)
    if not isinstance(default_days, int) or default_days < 0:
        raise PlanError(f"{where}: report_days_after_end must be a whole number ≥ 0")
    raw = data.get("activities")
    if not isinstance(raw, list) or not raw:
        raise PlanError(f"{where}: activities must be a non-empty list")
    out, seen = [], set()
    for i, a in enumerate(raw):
        at = f"{where}: activities[{i}]"
        if not isinstance(a, Mapping):
            raise PlanError(f"{at}: expected a mapping")
        code, kind, title, months = a.get("code"), a.get("kind"), a.get("title"), a.get("months")
        if not isinstance(code, str) or not code or code in seen:
            raise PlanError(f"{at}.code: missing or repeated")
        if kind not in KINDS:
            raise PlanError(f"{at}.kind: expected one of {sorted(KINDS)}")
        if not isinstance(title, str) or not title:
            raise PlanError(f"{at}.title: missing")
        if (not isinstance(months, list) or not months
                or not all(isinstance(m, int) and 1 <= m <= 12 for m in months)):
            raise PlanError(f"{at}.months: expected a list of months 1-12")
        days = a.get("report_days_after_end", default_days)
        if not isinstance(days, int) or days < 0:
            raise PlanError(f"{at}.report_days_after_end: must be a whole number ≥ 0")
        seen.add(code)
        out.append(Activity(code, kind, title, tuple(months), _deadline(year, months, days)))
    source = data.get("year", year)
    title = str(data.get("title") or f"{year}年联合行动")
    if source != year:
        title = title.replace(str(source), str(year))
    return Plan(year, title, tuple(out), int(source))


def load_plan(directory: Path, year: int) -> Plan:
    """The plan of `year`: its own file, else the latest earlier year's re-dated (the action
    repeats every year; an organiser adds a file when a year's plan differs)."""
    files = {int(p.stem): p for p in Path(directory).glob("*.yaml") if p.stem.isdigit()}
    usable = [y for y in files if y <= year]
    if not usable:
        raise PlanError(f"{directory}: no activity plan for {year} or an earlier year")
    path = files[max(usable)]
    return parse_plan(yaml.safe_load(path.read_text(encoding="utf-8")), year, where=path.name)


@dataclass(frozen=True)
class Report:
    """One unit's figures for one activity, as reported."""
    activity: str
    events_held: int = 0
    participants: int = 0
    media_reports: int = 0
    materials_on: date | None = None

    def joined(self) -> bool:
        return self.events_held > 0

    def on_time(self, activity: Activity) -> bool:
        return self.materials_on is not None and self.materials_on <= activity.deadline


def award_inputs(plan: Plan, reports: Iterable[Report]) -> dict[str, int]:
    """One unit's award figures (see the module docstring) from its reports; reports on
    activities not in the plan are ignored (a plan edited after reporting)."""
    out = dict.fromkeys(INPUTS, 0)
    for r in reports:
        act = plan.get(r.activity)
        if act is None:
            continue
        out["activities_joined"] += r.joined()
        out["reports_on_time"] += r.on_time(act)
        out["events_held"] += r.events_held
        out["participants"] += r.participants
        out["media_reports"] += r.media_reports
    return out


@dataclass
class Totals:
    """Sums over a group of reports (an activity, a province, a unit)."""
    units: int = 0          # reports with at least one event
    events_held: int = 0
    participants: int = 0
    media_reports: int = 0
    on_time: int = 0
    reports: int = 0


def totals_by(rows: Iterable[tuple[Any, Report]], plan: Plan) -> dict[Any, Totals]:
    """Totals per key from (key, report) pairs, keys in first-seen order."""
    out: dict[Any, Totals] = {}
    for key, r in rows:
        act = plan.get(r.activity)
        if act is None:
            continue
        t = out.setdefault(key, Totals())
        t.reports += 1
        t.units += r.joined()
        t.events_held += r.events_held
        t.participants += r.participants
        t.media_reports += r.media_reports
        t.on_time += r.on_time(act)
    return out


def computed_lines(rubric, inputs: Mapping[str, Any]) -> list[dict]:
    """Each computed criterion of `rubric` with its input and score, for display:
    {"criterion", "title", "input", "value", "full_at", "score", "max", "text"}, where text
    reads like "参与 14/17 期 → 24.5 分". Missing inputs give score None."""
    from scoring.aggregate import computed_scores
    scores, _ = computed_scores(rubric, {k: Decimal(str(v)) for k, v in inputs.items() if v is not None})
    out = []
    for c in rubric.criteria:
        if c.computed is None:
            continue
        value = inputs.get(c.computed.input)
        score = scores.get(c.id)
        label = INPUT_LABELS.get(c.computed.input, c.computed.input)
        shown = f"{'—' if value is None else value}/{c.computed.full_at}"
        unit = " 期" if c.computed.input in ("activities_joined", "reports_on_time") else ""
        text = f"{label} {shown}{unit} → " + ("—" if score is None else f"{_num(score)} 分")
        out.append({"criterion": c.id, "title": c.title.zh, "input": c.computed.input, "value": value,
                    "full_at": c.computed.full_at, "score": score, "max": c.max, "text": text})
    return out


def _num(d: Decimal) -> str:
    return format(d.normalize(), "f")
