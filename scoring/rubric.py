"""Rubrics: the rules of a judged programme, kept as YAML data and loaded into frozen objects.

Every programme (docent competition, teacher-training assessment, resource selection, year-end
unit awards) differs only in its rules, so the rules live in versioned YAML files under
`rubrics/` and every score sheet records the rubric `id` and `version` it was scored on. An
organiser who edits a file must learn exactly what is wrong with it, so loading reports every
problem as a `(field path, reason)` pair, e.g. `criteria[2].step: max 25 is not a multiple of
step 0.3`, with the line number in the file.

Loading runs in two passes. pydantic checks the shape (types, ranges, unknown keys); then
`_problems` checks the rules that span fields (steps divide maxima, tie-break criteria exist,
trimming leaves a score, weights add up). Numbers are `Decimal` read straight from the YAML
text (never through float), because step checks and published rounding must be exact.

The file format and the meaning of each field are described in `rubrics/README.md`; the
semantics the scoring engine implements are summarised on each model below.
"""

import difflib
import os
import re
from collections.abc import Iterator
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

__all__ = [
    "Aggregation",
    "Attendance",
    "AwardTier",
    "Awards",
    "Band",
    "ChecklistItem",
    "Component",
    "Computed",
    "Criterion",
    "Deduction",
    "Eligibility",
    "Excellence",
    "Flag",
    "Honour",
    "Multiplier",
    "Overtime",
    "Penalties",
    "Promotion",
    "RestTier",
    "Rounding",
    "Rubric",
    "RubricError",
    "Text",
    "TieBreak",
    "Veto",
    "check_rubric_dir",
    "load_rubric",
    "load_rubric_text",
]

Path_ = tuple[Union[str, int], ...]


class RubricError(Exception):
    """A rubric file that cannot be used, with every problem found in it.

    `errors` holds `(field path, reason)` pairs; the path is `<file>` for problems with the
    file itself (missing, unreadable, YAML syntax). `lines` gives the line of each problem in
    the file where known (None otherwise), so `str()` can point the author at it.
    """

    def __init__(
        self, file: str, errors: list[tuple[str, str]], lines: list[int | None] | None = None
    ) -> None:
        super().__init__(file, errors)
        self.file = file
        self.errors = list(errors)
        self.lines = list(lines) if lines is not None else [None] * len(self.errors)

    def __str__(self) -> str:
        out = []
        for (path, reason), line in zip(self.errors, self.lines):
            where = f" (line {line})" if line else ""
            out.append(f"{self.file}: {path}: {reason}{where}")
        return "\n".join(out)


class _Problems(RubricError):
    """Cross-field problems raised out of pydantic validation (pydantic lets non-ValueErrors
    through). A RubricError, so code that validates a dict with `Rubric.model_validate` gets a
    readable error; the loaders re-raise it with the file name and line numbers."""

    def __init__(self, problems: list[tuple[Path_, str]]) -> None:
        super().__init__("<data>", [(_path_text(p), reason) for p, reason in problems])
        self.problems = problems


# --------------------------------------------------------------------------- value types


def _number(value: Any) -> Any:
    """Accept int, Decimal or float (converted through its shortest repr), refuse the rest.

    Booleans and strings are refused: `max: "25"` or `max: yes` in a rubric is a typo.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError(f"must be a number, got {_show(value)}")
    if isinstance(value, float):
        value = Decimal(repr(value))
    value = Decimal(value)
    if not value.is_finite():
        raise ValueError("must be a finite number")
    return value


def _slug(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", value):
        raise ValueError(
            f"{value!r} is not an id: use 1-40 lowercase ASCII letters, digits or _, "
            "starting with a letter (e.g. kexuexing)"
        )
    return value


def _rubric_id(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_.-]{0,79}", value):
        raise ValueError(
            f"{value!r} is not a rubric id: use lowercase ASCII letters, digits, '.', '-' "
            "or '_', starting with a letter (e.g. docent-exhibit-guiding)"
        )
    return value


def _rubric_ref(value: str) -> str:
    if value.endswith((".yaml", ".yml")):
        raise ValueError(f"{value!r}: name the rubric by its path under rubrics/ without .yaml")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)*", value):
        raise ValueError(f"{value!r} is not a rubric path such as training/course-design")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


Num = Annotated[Decimal, BeforeValidator(_number)]
NonNeg = Annotated[Decimal, BeforeValidator(_number), Field(ge=0)]
Pos = Annotated[Decimal, BeforeValidator(_number), Field(gt=0)]
Share = Annotated[Decimal, BeforeValidator(_number), Field(gt=0, le=1)]
PosInt = Annotated[int, Field(strict=True, gt=0)]
Count = Annotated[int, Field(strict=True, ge=0)]
Slug = Annotated[str, Field(strict=True), AfterValidator(_slug)]
RubricId = Annotated[str, Field(strict=True), AfterValidator(_rubric_id)]
RubricRef = Annotated[str, Field(strict=True), AfterValidator(_rubric_ref)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class Text(_Frozen):
    """User-facing text, Chinese first: `zh` is required, `en` optional."""

    zh: Annotated[str, Field(strict=True), AfterValidator(_not_blank)]
    en: Annotated[str, Field(strict=True)] | None = None

    def get(self, lang: str = "zh") -> str:
        """The text in `lang`, falling back to Chinese when no translation exists."""
        return self.en if lang.startswith("en") and self.en else self.zh


# --------------------------------------------------------------------------- criteria


class Band(_Frozen):
    """A score band of a criterion, inclusive at both ends, with what earns it.

    The bands of a criterion must not overlap and must cover every reachable score from the
    criterion's `min` to `max` on its step, so a tablet can always show the matching text.
    """

    min: Num
    max: Num
    label: Text | None = None
    text: Text


class Veto(_Frozen):
    """一票否决: the entry is rejected when the criterion's score is strictly below `below`.

    `scope` says which score: `panel` the criterion's aggregated panel score (aggregated by the
    rubric's own rule); `any_judge` any single judge's score; `majority` more than half of the
    judges' scores. A vetoed entry is shown, with the reason, but never ranked or awarded.
    """

    below: Num
    scope: Literal["panel", "any_judge", "majority"] = "panel"


class Computed(_Frozen):
    """A criterion computed from an entry-level figure instead of being scored by judges.

    score = min + (max - min) × min(value, full_at) / full_at, rounded half-up to the
    criterion's step. Used where reported activity data feeds an evaluation (unit awards).
    """

    input: Slug
    full_at: Pos


class Criterion(_Frozen):
    """One line of a score sheet: a judge gives `min`..`max` in multiples of `step`.

    `weight` (default 1) multiplies the score in the judge's total; `veto` rejects an entry
    (see `Veto`); `computed` makes the criterion a formula instead of a judged score.
    """

    id: Slug
    title: Text
    description: Text | None = None
    max: Num
    min: Num = Decimal(0)
    step: Pos
    weight: Pos | None = None
    descriptors: tuple[Band, ...] = ()
    veto: Veto | None = None
    computed: Computed | None = None

    @property
    def effective_weight(self) -> Decimal:
        return self.weight if self.weight is not None else Decimal(1)

    @property
    def judged(self) -> bool:
        """Whether judges score this criterion (False for computed criteria)."""
        return self.computed is None

    def band_for(self, score: Decimal) -> Band | None:
        """The descriptor band a score falls in, or None if the criterion has no bands."""
        for band in self.descriptors:
            if band.min <= score <= band.max:
                return band
        return None


# --------------------------------------------------------------------------- penalties


class Overtime(_Frozen):
    """Time penalty: `points` per started `per_started_seconds` over `limit_seconds`, capped.

    With limit 300, per 30, points 1, cap 5: 300 s costs nothing, 301-330 s cost 1 point,
    331 s cost 2, and nothing costs more than 5. The measured duration is an entry input
    (`duration_seconds`), recorded once by the timekeeper, not by each judge.
    """

    limit_seconds: PosInt
    per_started_seconds: PosInt = 30
    points: Pos = Decimal(1)
    cap: Pos | None = None

    def deduction(self, seconds: int | Decimal) -> Decimal:
        """Points deducted for a performance that lasted `seconds`."""
        over = Decimal(seconds) - self.limit_seconds
        if over <= 0:
            return Decimal(0)
        started = (over / self.per_started_seconds).to_integral_value(rounding=ROUND_CEILING)
        points = started * self.points
        return min(points, self.cap) if self.cap is not None else points


class Deduction(_Frozen):
    """A fixed deduction the chief judge records, up to `max_count` times per entry.

    `applies_to: final` subtracts from the final score after aggregation; `each_judge`
    subtracts from every judge's score before aggregation (diving: a restarted dive loses 2
    points from each judge's award), never below the criterion's min.
    """

    id: Slug
    title: Text
    points: Pos
    max_count: PosInt = 1
    applies_to: Literal["final", "each_judge"] = "final"


class Flag(_Frozen):
    """A yes/no finding that disqualifies the entry (e.g. a safety breach in 科学实验).

    `decided_by` says whose mark counts: the chief judge (组长), any single judge, or more than
    half of the judges. A disqualified entry keeps its scores but is not ranked or awarded.
    """

    id: Slug
    title: Text
    effect: Literal["disqualify"]
    decided_by: Literal["chief", "any_judge", "majority"] = "chief"
    requires_comment: bool = False


class Penalties(_Frozen):
    overtime: Overtime | None = None
    deductions: tuple[Deduction, ...] = ()
    flags: tuple[Flag, ...] = ()


# --------------------------------------------------------------------------- aggregation

Method = Literal["mean", "sum", "median", "trimmed_mean", "trimmed_sum", "calibrated"]
TRIMMED_METHODS = ("trimmed_mean", "trimmed_sum")


class Multiplier(_Frozen):
    """An entry-level factor applied to the panel score (diving: degree of difficulty)."""

    input: Slug
    title: Text
    min: Pos
    max: Pos
    step: Pos | None = None


class Aggregation(_Frozen):
    """How the judges' scores of one entry become its panel score.

    `over: totals` (the default) aggregates each judge's total (Σ weight × score of that
    judge's sheet); `over: criteria` aggregates every criterion across judges and then adds the
    weighted criterion scores (ISU-style). Trimmed methods sort the scores and drop
    `drop_highest` and `drop_lowest` of them (one copy each, even when tied) when at least
    `min_scores` are present, otherwise `fallback` is used. `calibrated` fits score = entry
    quality + judge bias (`model: bias_scale` adds a judge scale) for panels where judges see
    different entries; `fallback` ranks when the model cannot be fitted. Absent and recused
    judges are absent, never zero; fewer than `min_panel` scores make the result incomplete.

    final = panel score × multiplier input − final-level penalties.
    """

    over: Literal["totals", "criteria"] = "totals"
    method: Method
    drop_highest: Count = 0
    drop_lowest: Count = 0
    min_scores: PosInt | None = None
    fallback: Literal["mean", "sum", "median"] | None = None
    model: Literal["bias", "bias_scale"] | None = None
    multiplier: Multiplier | None = None
    min_panel: PosInt = 1

    @property
    def trimmed(self) -> bool:
        return self.method in TRIMMED_METHODS


_ROUNDING_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}


class Rounding(_Frozen):
    """Rounding to `decimals` places, applied only at the named points.

    `criterion_score`: each criterion's panel score (only with `over: criteria`);
    `panel_score`: the aggregated score before multiplier and penalties; `final`: the score
    that is ranked. Between those points arithmetic is exact (Decimal).
    """

    decimals: Annotated[int, Field(strict=True, ge=0, le=6)]
    mode: Literal["half_up", "half_even", "down"] = "half_up"
    at: tuple[Literal["criterion_score", "panel_score", "final"], ...] = Field(min_length=1)

    def apply(self, value: Decimal) -> Decimal:
        """`value` rounded as this rule says (use it only at the points listed in `at`)."""
        return Decimal(value).quantize(Decimal(1).scaleb(-self.decimals), _ROUNDING_MODES[self.mode])


class TieBreak(_Frozen):
    """One step of the tie-break order; higher wins unless stated.

    `raw_sum`: sum of every judge's raw total, dropped scores included; `raw_mean`: their mean
    (fair when panels differ in size); `median`: the median judge total; `fewer_penalties`:
    fewer penalty points win; `criterion`: the named criterion's panel score (aggregated by the
    rubric's rule). In YAML a step is a bare name (`raw_sum`) or `{criterion: kexuexing}`.
    """

    rule: Literal["raw_sum", "raw_mean", "median", "fewer_penalties", "criterion"]
    criterion: Slug | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"rule": value}
        if isinstance(value, dict) and "criterion" in value and "rule" not in value:
            return {"rule": "criterion", **value}
        return value


# --------------------------------------------------------------------------- outcomes


class AwardTier(_Frozen):
    """An award level given to the next `count` ranked entries, or to a `share` of them.

    Shares are of the ranked entries (complete, not disqualified or vetoed) and are turned into
    counts with `Awards.share_rounding`. `min_score` optionally bars low scores from the tier.
    """

    id: Slug
    name: Text
    count: PosInt | None = None
    share: Share | None = None
    min_score: NonNeg | None = None


class RestTier(_Frozen):
    """The tier every remaining ranked entry receives (e.g. 优秀奖)."""

    id: Slug
    name: Text


class Honour(_Frozen):
    """A title for the top `top` ranked entries, on top of their tier (全国金牌科技辅导员)."""

    id: Slug
    name: Text
    top: PosInt
    min_score: NonNeg | None = None


class Awards(_Frozen):
    """Award tiers from best to worst.

    `ties_at_cutoff`: entries still tied (after every tie-break) across a tier boundary all get
    the `higher` tier (the next tier shrinks by the overflow) or all the `lower` one.
    """

    tiers: tuple[AwardTier, ...] = Field(min_length=1)
    rest: RestTier | None = None
    share_rounding: Literal["floor", "half_up", "ceil"] = "half_up"
    ties_at_cutoff: Literal["higher", "lower"] = "higher"
    honours: tuple[Honour, ...] = ()


class Promotion(_Frozen):
    """Who goes on to the next round (or is selected): per group, the top `quota` or `share`.

    `group_by` names the entry attributes that form the groups (e.g. division and category:
    the top 2 of each division in each category). `reserves` more are listed as 递补 in order.
    `min_score` alone selects by threshold; with a quota it is an extra condition. A share
    becomes a count per group rounded half up, at least 1.
    """

    title: Text | None = None
    group_by: tuple[Literal["division", "province", "category", "unit"], ...] = ()
    quota: PosInt | None = None
    share: Share | None = None
    reserves: Count = 0
    min_score: NonNeg | None = None
    ties_at_cutoff: Literal["higher", "lower"] = "higher"


# --------------------------------------------------------------------------- assessment


class Component(_Frozen):
    """A weighted part of an assessment, always brought to 0-100 before weighting.

    `source: attendance` is the attendance rate × 100 from check-ins; `score` a mark entered
    directly on 0..`max`; `rubric` the final score of the instructors' sheets on the named rubric
    (its ref, e.g. `training/course-design`), scaled by that rubric's `max_total`.
    """

    id: Slug
    title: Text
    weight: Share
    source: Literal["attendance", "score", "rubric"]
    rubric: RubricRef | None = None
    max: Pos = Decimal(100)


class Attendance(_Frozen):
    """How check-ins become a rate: each session slot (half-day) counts 1 when present and
    `excused_weight` when an approved leave request (请假) covers it; absence counts 0."""

    excused_weight: Annotated[Decimal, BeforeValidator(_number), Field(ge=0, le=1)] = Decimal(0)


class Eligibility(_Frozen):
    """A condition a trainee must meet to pass at all, whatever the total.

    Exactly one of `metric` (`attendance_rate`, a fraction 0-1) or `component` (a component's
    0-100 score) is compared with `at_least`; a failure is reported with the value and bound,
    e.g. 出勤率 72% < 80%.
    """

    id: Slug
    title: Text
    metric: Literal["attendance_rate"] | None = None
    component: Slug | None = None
    at_least: NonNeg


class Excellence(_Frozen):
    """The 优秀 rule among passing trainees: `min_total` and/or the top `top_share`.

    `combine: any` gives it when either condition holds, `all` when both do. The top share is
    counted among `share_of` (passed trainees or all) and rounded up; trainees tied at the
    cut-off are all in (`higher`) or all out (`lower`).
    """

    title: Text | None = None
    min_total: NonNeg | None = None
    top_share: Share | None = None
    combine: Literal["any", "all"] = "any"
    share_of: Literal["passed", "all"] = "passed"
    ties_at_cutoff: Literal["higher", "lower"] = "higher"


class ChecklistItem(_Frozen):
    """A pass/fail check (形式审查); `fail_reason` is the text sent back with a returned entry.

    A failed `blocking` item returns the submission; a non-blocking one is only a remark.
    """

    id: Slug
    title: Text
    description: Text | None = None
    fail_reason: Text
    blocking: bool = True


# --------------------------------------------------------------------------- the rubric

Kind = Literal["panel", "assessment", "checklist", "award"]

# Which top-level sections each kind needs and may use; the rest are refused so a misplaced
# section is reported rather than silently ignored.
_COMMON = {"id", "version", "kind", "title", "description"}
_SCORED = {"full_marks", "penalties", "rounding", "tie_breaks", "awards", "promotion"}
_SECTIONS: dict[str, tuple[set[str], set[str]]] = {
    "panel": ({"criteria", "aggregation"}, _SCORED),
    "award": ({"criteria", "aggregation"}, _SCORED),
    "assessment": ({"components", "pass_mark"}, {"attendance", "eligibility", "excellence", "rounding"}),
    "checklist": ({"items"}, set()),
}


class Rubric(_Frozen):
    """A validated, immutable rubric. Build it with `load_rubric` or `load_rubric_text`.

    Kinds: `panel` (judged score sheets), `award` (the same for units and individuals, often
    with computed criteria), `assessment` (weighted components with eligibility, pass mark and
    excellence rule), `checklist` (形式审查 pass/fail items). Sections that a kind does not use
    are refused. `version` is a positive integer, raised whenever a rule changes, because score
    sheets record (id, version) and old results must stay reproducible.
    """

    id: RubricId
    version: PosInt
    kind: Kind
    title: Text
    description: Text | None = None
    full_marks: Pos | None = None
    criteria: tuple[Criterion, ...] = ()
    penalties: Penalties | None = None
    aggregation: Aggregation | None = None
    rounding: Rounding | None = None
    tie_breaks: tuple[TieBreak, ...] = ()
    awards: Awards | None = None
    promotion: Promotion | None = None
    components: tuple[Component, ...] = ()
    attendance: Attendance | None = None
    eligibility: tuple[Eligibility, ...] = ()
    pass_mark: NonNeg | None = None
    excellence: Excellence | None = None
    items: tuple[ChecklistItem, ...] = ()

    @model_validator(mode="after")
    def _cross_field(self) -> "Rubric":
        problems = list(_problems(self))
        if problems:
            raise _Problems(problems)
        return self

    # -- helpers used by the app and the scoring engine

    @property
    def criterion_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.criteria)

    @property
    def judged_criteria(self) -> tuple[Criterion, ...]:
        """The criteria that appear on a judge's score sheet (computed ones do not)."""
        return tuple(c for c in self.criteria if c.judged)

    def find_criterion(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)

    @property
    def max_total(self) -> Decimal:
        """The best possible sheet total: Σ weight × max for scored kinds, 100 for an
        assessment (components are 0-100 and weights add up to 1), 0 for a checklist."""
        if self.kind == "assessment":
            return Decimal(100)
        return sum((c.effective_weight * c.max for c in self.criteria), Decimal(0))

    @property
    def flags(self) -> tuple[Flag, ...]:
        return self.penalties.flags if self.penalties else ()

    @property
    def deductions(self) -> tuple[Deduction, ...]:
        return self.penalties.deductions if self.penalties else ()

    @property
    def entry_inputs(self) -> tuple[str, ...]:
        """Names of the per-entry figures the result needs besides judges' scores, such as
        `difficulty` (a multiplier), `duration_seconds` (overtime) or reported activity data."""
        names: list[str] = []
        if self.aggregation and self.aggregation.multiplier:
            names.append(self.aggregation.multiplier.input)
        if self.penalties and self.penalties.overtime:
            names.append("duration_seconds")
        names += [c.computed.input for c in self.criteria if c.computed]
        return tuple(dict.fromkeys(names))

    @property
    def rubric_refs(self) -> tuple[str, ...]:
        """Refs of the rubrics this one builds on (assessment components scored on them)."""
        return tuple(c.rubric for c in self.components if c.rubric)


# --------------------------------------------------------------------------- cross-field checks


def _fmt(value: Decimal | int) -> str:
    """A number as an author would write it: 25, 0.5, 0.01 (no exponent, no trailing zeros)."""
    return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)


def _multiple(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


def _duplicates(ids: list[str]) -> Iterator[tuple[int, int]]:
    """(index, index of first occurrence) for each repeated id."""
    first: dict[str, int] = {}
    for i, ident in enumerate(ids):
        if ident in first:
            yield i, first[ident]
        else:
            first[ident] = i


def _problems(r: Rubric) -> Iterator[tuple[Path_, str]]:
    yield from _check_sections(r)
    yield from _check_criteria(r)
    yield from _check_penalties(r)
    if r.aggregation:
        yield from _check_aggregation(r, r.aggregation)
    if r.rounding:
        yield from _check_rounding(r, r.rounding)
    yield from _check_tie_breaks(r)
    if r.awards:
        yield from _check_awards(r.awards)
    if r.promotion:
        yield from _check_promotion(r.promotion)
    yield from _check_assessment(r)
    for i, j in _duplicates([item.id for item in r.items]):
        yield ("items", i, "id"), f"duplicate item id {r.items[i].id!r} (also items[{j}])"


def _check_sections(r: Rubric) -> Iterator[tuple[Path_, str]]:
    required, optional = _SECTIONS[r.kind]
    given = {name for name in r.model_fields_set if getattr(r, name) not in (None, ())}
    for name in sorted(required - given):
        yield (name,), f"required for kind {r.kind}"
    for name in sorted(r.model_fields_set - required - optional - _COMMON):
        allowed = ", ".join(sorted(required | optional))
        yield (name,), f"not used by kind {r.kind} (its sections: {allowed})"


def _check_criteria(r: Rubric) -> Iterator[tuple[Path_, str]]:
    for i, j in _duplicates([c.id for c in r.criteria]):
        yield ("criteria", i, "id"), f"duplicate criterion id {r.criteria[i].id!r} (also criteria[{j}])"
    if len(r.criteria) > 1:
        for i, c in enumerate(r.criteria):
            if c.id == "total":
                yield ("criteria", i, "id"), "'total' is reserved for rubrics with a single criterion"
    for i, c in enumerate(r.criteria):
        at: Path_ = ("criteria", i)
        if c.min >= c.max:
            yield at + ("max",), f"max {_fmt(c.max)} must be greater than min {_fmt(c.min)}"
            continue
        if c.min < 0:
            yield at + ("min",), f"min {_fmt(c.min)} must not be negative"
        on_step = True
        for name, value in (("max", c.max), ("min", c.min)):
            if not _multiple(value, c.step):
                on_step = False
                yield at + ("step",), f"{name} {_fmt(value)} is not a multiple of step {_fmt(c.step)}"
        if on_step and c.descriptors:
            yield from _check_bands(c, at)
        if c.veto:
            below = c.veto.below
            if below <= c.min:
                yield at + ("veto", "below"), (
                    f"veto threshold {_fmt(below)} is not above min {_fmt(c.min)}, so it never applies"
                )
            elif below > c.max:
                yield at + ("veto", "below"), (
                    f"veto threshold {_fmt(below)} is above max {_fmt(c.max)}, so every entry is vetoed"
                )
            if c.computed and c.veto.scope != "panel":
                yield at + ("veto", "scope"), "a computed criterion has no judges' scores: use scope panel"
    if r.full_marks is not None and r.criteria and r.max_total != r.full_marks:
        yield ("full_marks",), (
            f"criteria add up to {_fmt(r.max_total)} (sum of weight × max), "
            f"not full_marks {_fmt(r.full_marks)}"
        )


def _check_bands(c: Criterion, at: Path_) -> Iterator[tuple[Path_, str]]:
    def show(b: Band) -> str:
        return f"{_fmt(b.min)}-{_fmt(b.max)}"

    good: list[tuple[int, Band]] = []
    for k, b in enumerate(c.descriptors):
        here = at + ("descriptors", k)
        if b.min > b.max:
            yield here + ("max",), f"band max {_fmt(b.max)} is below its min {_fmt(b.min)}"
        elif b.min < c.min or b.max > c.max:
            yield here, f"band {show(b)} lies outside the criterion's range {_fmt(c.min)}-{_fmt(c.max)}"
        elif not (_multiple(b.min, c.step) and _multiple(b.max, c.step)):
            name, value = ("min", b.min) if not _multiple(b.min, c.step) else ("max", b.max)
            yield here + (name,), f"band {name} {_fmt(value)} is not a multiple of step {_fmt(c.step)}"
        else:
            good.append((k, b))
    if len(good) != len(c.descriptors):
        return
    def uncovered(lo: Decimal, hi: Decimal) -> str:
        if lo == hi:
            return f"no band covers score {_fmt(lo)}"
        return f"no band covers scores from {_fmt(lo)} to {_fmt(hi)}"

    ordered = sorted(good, key=lambda kb: kb[1].min)
    if ordered[0][1].min != c.min:
        yield at + ("descriptors",), uncovered(c.min, ordered[0][1].min - c.step)
    if ordered[-1][1].max != c.max:
        yield at + ("descriptors",), uncovered(ordered[-1][1].max + c.step, c.max)
    for (k0, b0), (k1, b1) in zip(ordered, ordered[1:]):
        if b1.min <= b0.max:
            yield at + ("descriptors", k1), f"band {show(b1)} overlaps band {show(b0)} (descriptors[{k0}])"
        elif b1.min != b0.max + c.step:
            yield at + ("descriptors", k1), (
                f"{uncovered(b0.max + c.step, b1.min - c.step)} (between bands {show(b0)} and {show(b1)})"
            )


def _check_penalties(r: Rubric) -> Iterator[tuple[Path_, str]]:
    p = r.penalties
    if p is None:
        return
    named = [(("penalties", "deductions", i, "id"), d.id) for i, d in enumerate(p.deductions)]
    named += [(("penalties", "flags", i, "id"), f.id) for i, f in enumerate(p.flags)]
    criterion_ids = set(r.criterion_ids)
    for i, j in _duplicates([ident for _, ident in named]):
        yield named[i][0], f"duplicate penalty id {named[i][1]!r} (also {_path_text(named[j][0][:-1])})"
    for path, ident in named:
        if ident in criterion_ids:
            yield path, f"penalty id {ident!r} is also a criterion id"
    if p.overtime and p.overtime.cap is not None and p.overtime.cap < p.overtime.points:
        yield ("penalties", "overtime", "cap"), (
            f"cap {_fmt(p.overtime.cap)} is smaller than one deduction of {_fmt(p.overtime.points)}"
        )


def _check_aggregation(r: Rubric, a: Aggregation) -> Iterator[tuple[Path_, str]]:
    at: Path_ = ("aggregation",)
    given = a.model_fields_set
    if a.trimmed:
        if a.drop_highest + a.drop_lowest == 0:
            yield at + ("drop_highest",), f"{a.method} needs drop_highest or drop_lowest above 0"
        if a.min_scores is None:
            yield at + ("min_scores",), (
                f"required for {a.method}: trimming applies from this many scores on"
            )
        else:
            dropped = a.drop_highest + a.drop_lowest
            if dropped >= a.min_scores:
                yield at + ("min_scores",), (
                    f"min_scores {a.min_scores} must exceed drop_highest + drop_lowest "
                    f"({a.drop_highest} + {a.drop_lowest} = {dropped}), or no score would be left"
                )
            if a.fallback is None and a.min_panel < a.min_scores:
                yield at + ("fallback",), (
                    f"required: a panel of {a.min_panel} to {a.min_scores - 1} scores is complete "
                    f"(min_panel {a.min_panel}) but too small to trim (min_scores {a.min_scores})"
                )
    else:
        for name in ("drop_highest", "drop_lowest", "min_scores"):
            if name in given:
                yield at + (name,), f"only used by trimmed_mean and trimmed_sum, not {a.method}"
    if a.method == "calibrated":
        if a.fallback is None:
            yield at + ("fallback",), (
                "required for calibrated: the method used when the model cannot be fitted"
            )
        if a.over != "totals":
            yield at + ("over",), "calibrated aggregates judges' totals: use over: totals"
    else:
        if a.model is not None:
            yield at + ("model",), f"only used by calibrated, not {a.method}"
        if a.fallback is not None and not a.trimmed:
            yield at + ("fallback",), f"only used by trimmed methods and calibrated, not {a.method}"
    m = a.multiplier
    if m is not None:
        mat = at + ("multiplier",)
        if m.min > m.max:
            yield mat + ("max",), f"max {_fmt(m.max)} is below min {_fmt(m.min)}"
        if m.step is not None:
            for name, value in (("min", m.min), ("max", m.max)):
                if not _multiple(value, m.step):
                    yield mat + ("step",), f"{name} {_fmt(value)} is not a multiple of step {_fmt(m.step)}"
        if m.input in {c.computed.input for c in r.criteria if c.computed}:
            yield mat + ("input",), f"{m.input!r} is also the input of a computed criterion"


def _check_rounding(r: Rubric, rounding: Rounding) -> Iterator[tuple[Path_, str]]:
    for i, j in _duplicates(list(rounding.at)):
        yield ("rounding", "at", i), f"{rounding.at[i]} is listed twice"
    for i, point in enumerate(rounding.at):
        if r.kind == "assessment" and point != "final":
            yield ("rounding", "at", i), "an assessment is rounded only at final"
        elif point == "criterion_score" and (r.aggregation is None or r.aggregation.over != "criteria"):
            yield ("rounding", "at", i), "criterion_score exists only when aggregation.over is criteria"


def _check_tie_breaks(r: Rubric) -> Iterator[tuple[Path_, str]]:
    ids = set(r.criterion_ids)
    keys = [f"{t.rule}:{t.criterion}" for t in r.tie_breaks]
    for i, j in _duplicates(keys):
        yield ("tie_breaks", i), f"repeats tie_breaks[{j}]"
    for i, t in enumerate(r.tie_breaks):
        if t.rule == "criterion":
            if t.criterion is None:
                yield ("tie_breaks", i, "criterion"), "name the criterion, e.g. {criterion: kexuexing}"
            elif t.criterion not in ids:
                known = ", ".join(r.criterion_ids) or "none"
                yield ("tie_breaks", i, "criterion"), (
                    f"unknown criterion {t.criterion!r} (criteria: {known})"
                )
        elif t.criterion is not None:
            yield ("tie_breaks", i, "criterion"), f"only used with rule criterion, not {t.rule}"
        has_points = r.penalties is not None and bool(r.penalties.overtime or r.penalties.deductions)
        if t.rule == "fewer_penalties" and not has_points:
            yield ("tie_breaks", i), "fewer_penalties needs penalties.overtime or penalties.deductions"


def _check_awards(a: Awards) -> Iterator[tuple[Path_, str]]:
    ids = [t.id for t in a.tiers] + ([a.rest.id] if a.rest else [])
    for i, j in _duplicates(ids):
        where = ("awards", "tiers", i, "id") if i < len(a.tiers) else ("awards", "rest", "id")
        yield where, f"duplicate award id {ids[i]!r}"
    for i, t in enumerate(a.tiers):
        if (t.count is None) == (t.share is None):
            yield ("awards", "tiers", i), "give either count or share (exactly one)"
    total_share = sum((t.share for t in a.tiers if t.share is not None), Decimal(0))
    if total_share > 1:
        yield ("awards", "tiers"), f"award shares add up to {_fmt(total_share)}, more than 1"
    for i, j in _duplicates([h.id for h in a.honours]):
        yield ("awards", "honours", i, "id"), f"duplicate honour id {a.honours[i].id!r}"


def _check_promotion(p: Promotion) -> Iterator[tuple[Path_, str]]:
    if p.quota is not None and p.share is not None:
        yield ("promotion",), "give quota or share, not both"
    if p.quota is None and p.share is None and p.min_score is None:
        yield ("promotion",), "give quota, share or min_score"
    for i, j in _duplicates(list(p.group_by)):
        yield ("promotion", "group_by", i), f"{p.group_by[i]} is listed twice"


def _check_assessment(r: Rubric) -> Iterator[tuple[Path_, str]]:
    comps = r.components
    for i, j in _duplicates([c.id for c in comps]):
        yield ("components", i, "id"), f"duplicate component id {comps[i].id!r} (also components[{j}])"
    if comps:
        total = sum((c.weight for c in comps), Decimal(0))
        if total != 1:
            yield ("components",), f"component weights add up to {_fmt(total)}; they must add up to 1"
    attendance = [i for i, c in enumerate(comps) if c.source == "attendance"]
    for i in attendance[1:]:
        yield ("components", i, "source"), (
            f"only one attendance component is allowed (also components[{attendance[0]}])"
        )
    for i, c in enumerate(comps):
        if c.source == "rubric" and c.rubric is None:
            yield ("components", i, "rubric"), (
                "required for source rubric: the ref of the instructors' rubric"
            )
        if c.source != "rubric" and c.rubric is not None:
            yield ("components", i, "rubric"), f"only used with source rubric, not {c.source}"
        if c.source != "score" and "max" in c.model_fields_set:
            yield ("components", i, "max"), f"only used with source score, not {c.source}"
    comp_ids = {c.id for c in comps}
    for i, e in enumerate(r.eligibility):
        at: Path_ = ("eligibility", i)
        if (e.metric is None) == (e.component is None):
            yield at, "give either metric or component (exactly one)"
        elif e.metric == "attendance_rate" and e.at_least > 1:
            yield at + ("at_least",), f"attendance_rate is a fraction 0-1; {_fmt(e.at_least)} is above 1"
        elif e.component is not None and e.component not in comp_ids:
            yield at + ("component",), f"unknown component {e.component!r}"
        elif e.component is not None and e.at_least > 100:
            yield at + ("at_least",), f"components are scored 0-100; {_fmt(e.at_least)} is above 100"
    for i, j in _duplicates([e.id for e in r.eligibility]):
        yield ("eligibility", i, "id"), f"duplicate eligibility id {r.eligibility[i].id!r}"
    if r.pass_mark is not None and r.pass_mark > 100:
        yield ("pass_mark",), f"pass_mark {_fmt(r.pass_mark)} is above 100, the best possible total"
    x = r.excellence
    if x is not None:
        if x.min_total is None and x.top_share is None:
            yield ("excellence",), "give min_total, top_share or both"
        if x.min_total is not None:
            if x.min_total > 100:
                yield ("excellence", "min_total"), f"min_total {_fmt(x.min_total)} is above 100"
            elif r.pass_mark is not None and x.min_total < r.pass_mark:
                yield ("excellence", "min_total"), (
                    f"min_total {_fmt(x.min_total)} is below pass_mark {_fmt(r.pass_mark)}"
                )


# --------------------------------------------------------------------------- YAML with positions


class _Loader(yaml.SafeLoader):
    """Safe YAML loader that reads floats as exact Decimals and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # unhashable key: the base constructor reports it
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "").lower()
    if text.lstrip("+-") in (".inf", ".nan"):
        return Decimal("NaN")  # refused later as "must be a finite number"
    try:
        return Decimal(text)
    except InvalidOperation:
        raise yaml.constructor.ConstructorError(
            None, None, f"cannot read {text!r} as a number", node.start_mark
        ) from None


_Loader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def _line_map(node: yaml.Node) -> dict[Path_, int]:
    """Field path → 1-based line in the file, for pointing errors at the right place."""
    lines: dict[Path_, int] = {}

    def walk(n: yaml.Node, path: Path_, line: int) -> None:
        lines[path] = line
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode):
                    walk(v, path + (k.value,), k.start_mark.line + 1)
        elif isinstance(n, yaml.SequenceNode):
            for i, child in enumerate(n.value):
                walk(child, path + (i,), child.start_mark.line + 1)

    walk(node, (), node.start_mark.line + 1)
    return lines


def _parse_yaml(text: str, source: str) -> tuple[Any, dict[Path_, int]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise RubricError(source, [("<file>", "the file is empty")])
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        what = "YAML error" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error"
        raise RubricError(source, [("<file>", f"{what}{where}: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise RubricError(source, [("<file>", f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    return data, _line_map(node)


# --------------------------------------------------------------------------- error reporting


def _path_text(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<file>"


def _show(value: Any) -> str:
    if isinstance(value, Decimal):
        return _fmt(value)
    if isinstance(value, (dict, list, tuple)):
        return type(value).__name__
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _model_at(path: Path_) -> type[BaseModel] | None:
    """The model class that validates the mapping at `path`, to list its allowed keys."""
    model: type[BaseModel] = Rubric
    for part in path:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        inner = _inner_model(field.annotation) if field else None
        if inner is None:
            return None
        model = inner
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _pydantic_problems(exc: ValidationError) -> list[tuple[Path_, str]]:
    out: list[tuple[Path_, str]] = []
    for err in exc.errors(include_url=False):
        loc: Path_ = tuple(err["loc"])
        kind, msg = err["type"], err["msg"]
        if kind == "missing":
            msg = "required field is missing"
        elif kind == "extra_forbidden":
            model = _model_at(loc[:-1])
            allowed = list(model.model_fields) if model else []
            msg = f"unknown key {loc[-1]!r}"
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            if close:
                msg += f"; did you mean {close[0]!r}?"
            if allowed:
                msg += f" (allowed: {', '.join(allowed)})"
        elif kind == "value_error":
            msg = msg.removeprefix("Value error, ")
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            msg = f"should be a mapping of keys (got {_show(err['input'])})"
        elif kind in ("tuple_type", "list_type"):
            msg = f"should be a list (got {_show(err['input'])})"
        elif kind == "literal_error":
            msg = f"{msg.replace('Input should be', 'should be')}, got {_show(err['input'])}"
        else:
            msg = f"{msg.replace('Input should be', 'should be')} (got {_show(err['input'])})"
        out.append((loc, msg))
    return out


def _error(source: str, problems: list[tuple[Path_, str]], lines: dict[Path_, int]) -> RubricError:
    def line_of(path: Path_) -> int | None:
        while path not in lines and path:
            path = path[:-1]
        return lines.get(path)

    return RubricError(
        source,
        [(_path_text(p), reason) for p, reason in problems],
        [line_of(p) for p, _ in problems],
    )


# --------------------------------------------------------------------------- public API


def load_rubric_text(text: str, source: str = "<text>") -> Rubric:
    """Parse and validate rubric YAML; `source` names it in errors. Raises RubricError."""
    data, lines = _parse_yaml(text, source)
    if not isinstance(data, dict):
        raise RubricError(
            source, [("<file>", f"the top level must be a mapping of keys, not a {type(data).__name__}")]
        )
    try:
        return Rubric.model_validate(data)
    except ValidationError as exc:
        raise _error(source, _pydantic_problems(exc), lines) from None
    except _Problems as exc:
        raise _error(source, exc.problems, lines) from None


def load_rubric(path: str | os.PathLike[str]) -> Rubric:
    """Load one rubric file. Missing, unreadable or non-UTF-8 files raise RubricError too."""
    name = os.fspath(path)
    try:
        raw = Path(name).read_bytes()
    except FileNotFoundError:
        raise RubricError(name, [("<file>", "file not found")]) from None
    except OSError as exc:
        raise RubricError(name, [("<file>", f"cannot read the file: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RubricError(name, [("<file>", f"not UTF-8 text (first bad byte at line {line})")]) from None
    return load_rubric_text(text, source=name)


def check_rubric_dir(root: str | os.PathLike[str]) -> tuple[dict[str, Rubric], list[RubricError]]:
    """Load every `*.yaml` under `root`; return the valid rubrics by ref and the errors.

    The ref is the path relative to `root` without `.yaml` (`docent/exhibit-guiding`), the
    name stages use to pick their rubric. A rubric is left out of the dict, and reported, when
    it is invalid, when another file has the same (id, version) (a score sheet could not tell
    them apart), or when it builds on a rubric that is missing or invalid. Files named `*.yml`
    are reported rather than silently skipped; hidden files and folders are ignored.
    """
    base = Path(root)
    if not base.is_dir():
        return {}, [RubricError(os.fspath(root), [("<file>", "not a directory")])]
    rubrics: dict[str, Rubric] = {}
    files: dict[str, str] = {}
    errors: list[RubricError] = []
    failed: set[str] = set()
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix == ".yml":
            reason = "rubric files must be named *.yaml; this one is not loaded"
            errors.append(RubricError(str(path), [("<file>", reason)]))
            continue
        if path.suffix != ".yaml":
            continue
        ref = rel.with_suffix("").as_posix()
        try:
            rubrics[ref] = load_rubric(path)
            files[ref] = str(path)
        except RubricError as exc:
            errors.append(exc)
            failed.add(ref)

    by_key: dict[tuple[str, int], list[str]] = {}
    for ref, rubric in rubrics.items():
        by_key.setdefault((rubric.id, rubric.version), []).append(ref)
    for (ident, version), refs in sorted(by_key.items()):
        if len(refs) > 1:
            for ref in refs:
                others = ", ".join(files[o] for o in refs if o != ref)
                reason = f"id {ident!r} version {version} is also used by {others}"
                errors.append(RubricError(files[ref], [("id", reason)]))
                del rubrics[ref]
                failed.add(ref)

    for ref, rubric in list(rubrics.items()):
        problems: list[tuple[Path_, str]] = []
        for i, comp in enumerate(rubric.components):
            if comp.rubric is None:
                continue
            target = rubrics.get(comp.rubric)
            if comp.rubric in failed:
                problems.append((("components", i, "rubric"), f"rubric {comp.rubric!r} has errors"))
            elif target is None:
                problems.append((("components", i, "rubric"), f"no rubric {comp.rubric!r} under {root}"))
            elif target.kind not in ("panel", "award"):
                problems.append(
                    (("components", i, "rubric"), f"rubric {comp.rubric!r} is a {target.kind}, not a score sheet")
                )
        if problems:
            _, lines = _parse_yaml(Path(files[ref]).read_text("utf-8-sig"), files[ref])
            errors.append(_error(files[ref], problems, lines))
            del rubrics[ref]
    return rubrics, errors
