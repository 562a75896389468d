"""Ranking, awards and promotion: the outcome of a stage, with every decision explained.

`rank` orders the entries that can be ranked by their final score and then by the rubric's
tie-breaks in order (rubric.py `TieBreak`: higher wins, fewer penalty points win); entries
still tied share a rank (competition ranking 1, 2, 2, 4). Entries that are incomplete,
disqualified or vetoed are listed after, unranked, with their reasons.

`assign_awards` gives award tiers by count or share of the ranked entries (rubric.py `Awards`:
50 一等奖 / 100 二等奖 / 132 三等奖 of 284 in the 2024 docent final, DOMAIN.md), with the
rubric's share rounding and its rule for entries tied across a cut-off; honours such as the top
10 of 展品辅导 (全国金牌科技辅导员). `promote` applies quotas per group (the top 2 per division
and category, DOMAIN.md) with reserves (递补) and a minimum score. Cut-off rules follow the
rubric: tied entries all go up (`higher`, the next tier shrinks) or all down (`lower`).

`rank_stage` runs a whole stage: entry results, the stage-level method (the rubric's own rule,
or the mean, the trimmed mean, per-judge z-scores or the calibrated model of
scoring.calibrate), ranking, awards and promotion; the result says which method ranked it and,
when the calibrated model could not be used, why.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal
from fractions import Fraction
from typing import Any

from scoring.aggregate import EntryResult, entry_results, restate, round_to
from scoring.rubric import Aggregation, AwardTier, Rubric
from scoring.sheets import Sheet, fast_new, fast_replace, format_number, gc_paused

__all__ = [
    "AwardList",
    "GroupOutcome",
    "METHODS",
    "PromotionList",
    "PromotionRow",
    "Ranked",
    "StageResult",
    "TierOutcome",
    "assign_awards",
    "promote",
    "rank",
    "rank_stage",
]

#: Stage-level methods: `rubric` is the rubric's own rule (DESIGN.md contract 3).
METHODS = ("rubric", "mean", "trimmed", "zscore", "calibrated")

_UNRANKED_ORDER = {"disqualified": 0, "vetoed": 1, "incomplete": 2, "ok": 3}
_ROUNDING_ZH = {"floor": "向下取整", "half_up": "四舍五入", "ceil": "向上取整"}


# --------------------------------------------------------------------------- rank


@dataclass(frozen=True)
class Ranked:
    """One line of a ranking. `rank` is None for entries that are not ranked (see
    `result.status` and `result.reasons`). `decided_by` names what placed the entry below the
    one above it: `score`, a tie-break (`raw_sum`, `criterion:kexuexing`, ...) or None when it
    shares that entry's rank (`tied`) or is first."""

    result: EntryResult
    rank: int | None
    position: int
    tied: bool = False
    decided_by: str | None = None
    award: str | None = None
    award_name: str | None = None
    award_note: str = ""
    honours: tuple[str, ...] = ()

    @property
    def entry(self) -> Any:
        return self.result.entry

    @property
    def score(self) -> Decimal | None:
        return self.result.final_score

    @property
    def status(self) -> str:
        return self.result.status


def _entry_key(entry: Any) -> tuple:
    return (0, entry, "") if isinstance(entry, int) and not isinstance(entry, bool) else (1, 0, str(entry))


def _tie_names(rubric: Rubric) -> list[str]:
    return ["score"] + [t.rule if t.rule != "criterion" else f"criterion:{t.criterion}" for t in rubric.tie_breaks]


_KEY = Context(prec=60)  # tie-break means: distinct exact means never agree to 60 digits
_LAST = Decimal("Infinity")


def _tie_value(result: EntryResult, rule: str, criterion: str | None) -> Decimal | None:
    """The value one tie-break compares, higher wins (penalty points are negated)."""
    if rule == "raw_sum":
        return result.raw_sum
    if rule == "raw_mean":
        return None if result.raw_sum is None else _KEY.divide(result.raw_sum, result.n_judges)
    if rule == "median":
        return result.raw_median
    if rule == "fewer_penalties":
        return -result.penalty_points
    c = result.criteria.get(criterion or "")
    return c.score if c is not None else None


def _sort_key(result: EntryResult, rules: Sequence[tuple[str, str | None]]) -> tuple[Decimal, ...]:
    """Ascending key, best first: negated final score, then each negated tie-break (`rules`:
    the rubric's (rule, criterion) pairs); a missing tie-break value sorts last."""
    key = [-result.final_score]  # type: ignore[operator]
    for rule, criterion in rules:
        value = _tie_value(result, rule, criterion)
        key.append(_LAST if value is None else -value)
    return tuple(key)


def rank(results: Sequence[EntryResult], rubric: Rubric) -> list[Ranked]:
    """Rank the results of one rubric: score, then the rubric's tie-breaks in order; entries
    still tied share a rank (1, 2, 2, 4) and are listed by entry id. Unranked entries
    (incomplete, disqualified, vetoed) follow with rank None."""
    for r in results:
        if (r.rubric_id, r.rubric_version) != (rubric.id, rubric.version):
            raise ValueError(f"entry {r.entry!r} was scored on {r.rubric_id} v{r.rubric_version}, not {rubric.id} v{rubric.version}")
    names = _tie_names(rubric)
    rules = [(t.rule, t.criterion) for t in rubric.tie_breaks]
    ok = [r for r in results if r.ranked and r.final_score is not None]
    keys = [(_sort_key(r, rules), _entry_key(r.entry)) for r in ok]  # each key built once
    order = sorted(range(len(ok)), key=keys.__getitem__)  # stable, as sorting (key, result) pairs by key
    out: list[Ranked] = []
    previous: tuple | None = None
    for position, k in enumerate(order, start=1):
        key, r = keys[k][0], ok[k]
        if previous is not None and key == previous:
            out.append(_ranked(r, out[-1].rank, position, True, None))
            if not out[-2].tied:
                out[-2] = fast_replace(out[-2], tied=True)
        else:
            decided = None if previous is None else names[_first_difference(key, previous)]
            out.append(_ranked(r, position, position, False, decided))
        previous = key
    rest = [r for r in results if not (r.ranked and r.final_score is not None)]
    rest.sort(key=lambda r: (_UNRANKED_ORDER.get(r.status, 9), _entry_key(r.entry)))
    out += [_ranked(r, None, len(out) + i, False, None) for i, r in enumerate(rest, start=1)]
    return out


def _first_difference(key: tuple, previous: tuple) -> int:
    if key[0] != previous[0]:  # the score, nearly always
        return 0
    return next(i for i, (a, b) in enumerate(zip(key, previous)) if a != b)


def _ranked(result: EntryResult, rank_: int | None, position: int, tied: bool, decided_by: str | None) -> Ranked:
    """Ranked(result, rank_, position, tied, decided_by): one per entry, so without the
    dataclass __init__'s per-field __setattr__ (sheets.fast_new)."""
    return fast_new(Ranked, {"result": result, "rank": rank_, "position": position, "tied": tied, "decided_by": decided_by,
                             "award": None, "award_name": None, "award_note": "", "honours": ()})


# --------------------------------------------------------------------------- cut-offs


def _cut(ranks: Sequence[int], boundary: int, rule: str) -> int:
    """How many entries lie above a cut-off planned after `boundary` entries, when entries
    tied across it all go up (`higher`) or all go down (`lower`)."""
    n = len(ranks)
    if boundary <= 0:
        return 0
    if boundary >= n:
        return n
    if ranks[boundary - 1] != ranks[boundary]:
        return boundary
    tied_rank = ranks[boundary]
    if rule == "lower":
        return ranks.index(tied_rank)
    end = boundary
    while end < n and ranks[end] == tied_rank:
        end += 1
    return end


def _local_ranks(items: Sequence[Ranked]) -> list[int]:
    """Competition ranks within a sub-list that keeps the global order (a promotion group)."""
    out: list[int] = []
    for i, item in enumerate(items):
        out.append(out[-1] if i and item.rank == items[i - 1].rank else i + 1)
    return out


def _share_count(share: Decimal, n: int, rounding: str) -> tuple[int, Fraction]:
    exact = Fraction(share) * n
    if rounding == "floor":
        return math.floor(exact), exact
    if rounding == "ceil":
        return math.ceil(exact), exact
    return int(round_to(exact, 0, "half_up")), exact


def _tie_rule_zh(rule: str) -> str:
    if rule == "higher":
        return "跨越分界线的并列者均取较高等级（下一等级相应减少名额）"
    return "跨越分界线的并列者均取较低等级"


# --------------------------------------------------------------------------- awards


@dataclass(frozen=True)
class TierOutcome:
    """What one award tier planned and gave, and why they differ."""

    id: str
    name: str
    planned: int
    given: int
    rule: str
    note: str = ""


@dataclass(frozen=True)
class AwardList:
    """The ranking with awards and honours set, each tier's count, and the stated rules."""

    entries: tuple[Ranked, ...]
    tiers: tuple[TierOutcome, ...]
    honours: tuple[TierOutcome, ...]
    rule: str


def _tier_plan(tier: AwardTier, n: int, rounding: str) -> tuple[int, str]:
    if tier.count is not None:
        return tier.count, f"{tier.count} 名"
    count, exact = _share_count(tier.share, n, rounding)  # type: ignore[arg-type]
    return count, f"排名作品的 {format_number(tier.share * 100)}%：{n} × {format_number(tier.share)} = {format_number(exact)}，{_ROUNDING_ZH[rounding]}为 {count} 名"


def _min_score_stop(items: Sequence[Ranked], start: int, end: int, min_score: Decimal | None) -> int:
    if min_score is None:
        return end
    stop = start
    while stop < end and items[stop].score is not None and items[stop].score >= min_score:  # type: ignore[operator]
        stop += 1
    return stop


def assign_awards(ranked: Sequence[Ranked], rubric: Rubric) -> AwardList:
    """Award tiers, best first, by count or by share of the ranked entries.

    Each tier's cut-off is planned cumulatively (a share is turned into a count with
    `share_rounding`); entries tied across a cut-off all get the higher tier (the next tier
    shrinks by the overflow) or all the lower one, as `ties_at_cutoff` says. A tier's
    `min_score` leaves places empty (空缺) rather than passing them down. Every other ranked
    entry gets the `rest` tier; honours go to the top `top` ranked entries by the same tie rule.
    """
    awards = rubric.awards
    if awards is None:
        raise ValueError(f"rubric {rubric.id!r} has no awards section")
    items = [x for x in ranked if x.rank is not None]
    ranks = [x.rank for x in items]
    given, notes, outcomes = _award_tiers(items, ranks, awards)  # type: ignore[arg-type]
    honours, honour_outcomes = _honours(items, ranks, rubric)
    entries = []
    for i, x in enumerate(items):
        award = given.get(i)
        entries.append(fast_replace(  # one per ranked entry: dataclasses.replace without __init__
            x, award=award[0] if award else None, award_name=award[1] if award else None,
            award_note=notes.get(i, ""), honours=tuple(honours.get(i, ())),
        ))
    entries += [x for x in ranked if x.rank is None]
    rule_text = f"按排名作品 {len(items)} 个计算；份额{_ROUNDING_ZH[awards.share_rounding]}；{_tie_rule_zh(awards.ties_at_cutoff)}"
    return AwardList(tuple(entries), tuple(outcomes), tuple(honour_outcomes), rule_text)


def _award_tiers(items: Sequence[Ranked], ranks: list[int], awards: Any) -> tuple[dict[int, tuple[str, str]], dict[int, str], list[TierOutcome]]:
    """(position → (tier id, name), position → tie note, each tier's outcome)."""
    n, rule = len(items), awards.ties_at_cutoff
    given: dict[int, tuple[str, str]] = {}
    notes: dict[int, str] = {}
    outcomes: list[TierOutcome] = []
    cursor = planned = 0
    for tier in awards.tiers:
        count, how = _tier_plan(tier, n, awards.share_rounding)
        planned += count
        end = max(cursor, _cut(ranks, planned, rule))
        note = ""
        if 0 < planned < n and ranks[planned - 1] == ranks[planned]:
            note = f"第 {planned} 名与第 {planned + 1} 名并列，{_tie_rule_zh(rule)}"
            for i, r in enumerate(ranks):
                if r == ranks[planned]:
                    notes[i] = f"并列跨越{tier.name.zh}分界线，" + ("均获较高奖项" if rule == "higher" else "均获较低奖项")
        stop = _min_score_stop(items, cursor, end, tier.min_score)
        if stop < end:
            note = (note + "；" if note else "") + f"低于最低分 {format_number(tier.min_score)} 的作品不获此奖，空缺 {end - stop} 名"
            planned = stop  # vacancies are not passed down to the next tier
        for i in range(cursor, stop):
            given[i] = (tier.id, tier.name.zh)
        outcomes.append(TierOutcome(tier.id, tier.name.zh, count, stop - cursor, how, note))
        cursor = stop
    if awards.rest is not None:
        for i in range(cursor, n):
            given[i] = (awards.rest.id, awards.rest.name.zh)
        outcomes.append(TierOutcome(awards.rest.id, awards.rest.name.zh, n - cursor, n - cursor, "其余排名作品"))
    return given, notes, outcomes


def _honours(items: Sequence[Ranked], ranks: list, rubric: Rubric) -> tuple[dict[int, list[str]], list[TierOutcome]]:
    awards = rubric.awards
    assert awards is not None
    got: dict[int, list[str]] = {}
    outcomes = []
    for h in awards.honours:
        end = _cut(ranks, h.top, awards.ties_at_cutoff)
        stop = _min_score_stop(items, 0, end, h.min_score)
        for i in range(stop):
            got.setdefault(i, []).append(h.id)
        note = ""
        if end != min(h.top, len(items)):
            note = f"第 {h.top} 名有并列，并列者" + ("均获得" if awards.ties_at_cutoff == "higher" else "均不获得")
        outcomes.append(TierOutcome(h.id, h.name.zh, h.top, stop, f"排名前 {h.top} 名", note))
    return got, outcomes


# --------------------------------------------------------------------------- promotion


@dataclass(frozen=True)
class PromotionRow:
    """One entry's promotion outcome: `promoted`, `reserve` (递补, in `reserve_order`),
    `not_promoted` or `unranked`, with its rank inside its group."""

    entry: Any
    group: tuple[str, ...]
    group_rank: int | None
    outcome: str
    reserve_order: int | None = None
    score: Decimal | None = None
    note: str = ""


@dataclass(frozen=True)
class GroupOutcome:
    group: tuple[str, ...]
    ranked: int
    quota: int | None
    promoted: int
    reserves: int
    note: str = ""


@dataclass(frozen=True)
class PromotionList:
    rows: tuple[PromotionRow, ...]
    groups: tuple[GroupOutcome, ...]
    rule: str

    def outcome(self, entry: Any) -> PromotionRow | None:
        return next((row for row in self.rows if row.entry == entry), None)


def _group_of(entry: Any, attrs: Mapping[str, str] | None, keys: Sequence[str]) -> tuple[str, ...] | str:
    if attrs is None:
        return f"entry {entry!r} has no group attributes"
    missing = [k for k in keys if not str(attrs.get(k, "") or "").strip()]
    if missing:
        return f"entry {entry!r} has no {', '.join(missing)}"
    return tuple(str(attrs[k]).strip() for k in keys)


def promote(ranked: Sequence[Ranked], rubric: Rubric, groups: Mapping[Any, Mapping[str, str]]) -> PromotionList:
    """Who goes on, per group (rubric.py `Promotion`): the top `quota` (or `share` of the
    group's ranked entries, rounded half up, at least 1) with at least `min_score`, then
    `reserves` more in order as 递补 (entries tied at the last reserve place are all listed,
    sharing their order). Entries tied across the cut-off all go on (`higher`) or none of them
    does (`lower`). With only `min_score`, every ranked entry reaching it goes on.
    `groups` maps each entry to its attributes (`division`, `category`, ...)."""
    p = rubric.promotion
    if p is None:
        raise ValueError(f"rubric {rubric.id!r} has no promotion section")
    keys = list(p.group_by)
    members: dict[tuple[str, ...], list[Ranked]] = {}
    problems: list[str] = []
    for x in ranked:
        g = _group_of(x.entry, groups.get(x.entry), keys)
        if isinstance(g, str):
            problems.append(g)
        else:
            members.setdefault(g, []).append(x)
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise ValueError("; ".join(problems[:10]) + more)
    rows: list[PromotionRow] = []
    outcomes: list[GroupOutcome] = []
    for g in sorted(members):
        group_rows, outcome = _promote_group(g, members[g], p)
        rows += group_rows
        outcomes.append(outcome)
    return PromotionList(tuple(rows), tuple(outcomes), _promotion_rule(p))


def _promotion_rule(p: Any) -> str:
    parts = []
    if p.group_by:
        parts.append("按" + "、".join({"division": "赛区", "province": "省份", "category": "赛项", "unit": "单位"}[k] for k in p.group_by) + "分组")
    if p.quota is not None:
        parts.append(f"每组前 {p.quota} 名晋级")
    elif p.share is not None:
        parts.append(f"每组前 {format_number(p.share * 100)}% 晋级（四舍五入，至少 1 名）")
    if p.min_score is not None:
        parts.append(f"须达到 {format_number(p.min_score)} 分")
    if p.reserves:
        parts.append(f"另列递补 {p.reserves} 名")
    if p.quota is not None or p.share is not None:
        parts.append("名额线上同分并列者" + ("均晋级" if p.ties_at_cutoff == "higher" else "均不晋级"))
    return "；".join(parts)


def _promote_group(g: tuple[str, ...], members: list[Ranked], p: Any) -> tuple[list[PromotionRow], GroupOutcome]:
    items = [x for x in members if x.rank is not None]
    ranks = _local_ranks(items)
    eligible = _min_score_stop(items, 0, len(items), p.min_score)
    quota: int | None = p.quota
    if quota is None and p.share is not None:
        quota = max(1, int(round_to(Fraction(p.share) * len(items), 0, "half_up")))
    if quota is None:
        promoted_end, reserve_end = eligible, eligible
    else:
        promoted_end = min(_cut(ranks, quota, p.ties_at_cutoff), eligible)
        reserve_end = promoted_end
        if p.reserves:  # `reserves` more after those promoted; ties at the last place all listed
            reserve_end = min(_cut(ranks, promoted_end + p.reserves, "higher"), eligible)
    rows = []
    for i, x in enumerate(items):
        note = ""
        if i < promoted_end:
            outcome, order = "promoted", None
        elif i < reserve_end:
            outcome, order = "reserve", ranks[i] - promoted_end
        else:
            outcome, order = "not_promoted", None
            if i >= eligible:
                note = f"低于最低分 {format_number(p.min_score)}"
        if quota is not None and 0 < quota < len(items) and ranks[quota - 1] == ranks[quota] == ranks[i]:
            note = "名额线上同分并列，" + ("均晋级" if p.ties_at_cutoff == "higher" else "均不晋级")
        rows.append(PromotionRow(x.entry, g, ranks[i], outcome, order, x.score, note))
    rows += [PromotionRow(x.entry, g, None, "unranked", None, x.score, "；".join(x.result.reasons)) for x in members if x.rank is None]
    note = ""
    if quota is not None and promoted_end > quota:
        note = f"并列使晋级名额增加 {promoted_end - quota} 名"
    elif quota is not None and promoted_end < min(quota, len(items)):
        note = f"晋级 {promoted_end} 名，少于名额 {quota}（并列或最低分所限）"
    return rows, GroupOutcome(g, len(items), quota, promoted_end, reserve_end - promoted_end, note)


# --------------------------------------------------------------------------- a whole stage


@dataclass(frozen=True)
class StageResult:
    """A stage's outcome: the ranking, awards and promotion where the rubric has them, the
    method requested and the one that actually ranked (with the reason when they differ), and
    the calibration diagnostics when the model was fitted."""

    ranked: tuple[Ranked, ...]
    method_requested: str
    method_used: str
    method_reason: str
    results: tuple[EntryResult, ...]
    awards: AwardList | None = None
    promotion: PromotionList | None = None
    calibration: Any = None
    matrix: Any = None


def _with_aggregation(rubric: Rubric, **changes: Any) -> Rubric:
    """The rubric with its aggregation rule replaced (same id and version: the sheets still
    belong to it). Only the stage-level `--method` alternatives use this."""
    agg = rubric.aggregation
    assert agg is not None
    base = dict(drop_highest=0, drop_lowest=0, min_scores=None, fallback=None, model=None)
    new_agg = Aggregation.model_validate({**agg.model_dump(), **base, **changes})
    return rubric.model_copy(update={"aggregation": new_agg})


def _entry_rubric(rubric: Rubric, method: str) -> tuple[Rubric, str | None]:
    """(the rubric entry results are computed with, the stage-level model to apply or None)."""
    agg = rubric.aggregation
    if agg is None:
        raise ValueError(f"rubric {rubric.id!r} ({rubric.kind}) cannot be ranked")
    if method == "rubric":
        return rubric, "calibrated" if agg.method == "calibrated" else None
    if method == "mean":
        return _with_aggregation(rubric, method="mean"), None
    if method == "trimmed":
        if agg.trimmed:
            return rubric, None
        # The Chinese convention (DOMAIN.md): with 5 or more judges drop the single highest
        # and lowest and average the rest; smaller panels take the mean.
        return _with_aggregation(rubric, method="trimmed_mean", drop_highest=1, drop_lowest=1,
                                 min_scores=5, fallback="mean"), None
    if method in ("zscore", "calibrated"):
        return rubric, method
    raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")


def _matrix(results: Sequence[EntryResult]) -> Any:
    """The judges' counted marks as a ScoreMatrix: `ScoreMatrix.from_triples` of (entry, judge,
    mark) as text labels and floats. Built here from index arrays, as from_triples would build
    it, unless two entries (or two judges of one entry) share a label: then by from_triples,
    which pools the entries (or refuses the pair)."""
    from scoring.table import ScoreMatrix

    entries: dict[str, int] = {}
    judges: dict[str, int] = {}
    floats: dict[Decimal, float] = {}  # float(Decimal) goes through text: once per distinct mark
    e_idx: list[int] = []
    j_idx: list[int] = []
    values: list[float] = []
    for r in results:
        if not r.judges:
            continue  # no marks: not in the matrix
        e = len(entries)
        if entries.setdefault(str(r.entry), e) != e:
            break  # two entries share a label: from_triples pools them
        first = len(j_idx)
        for m in r.judges:
            j_idx.append(judges.setdefault(str(m.judge), len(judges)))
            value = floats.get(m.counted)
            if value is None:
                value = float(m.counted)
                if value:  # not -0.0 for a 0 (equal Decimals, unequal floats)
                    floats[m.counted] = value
            values.append(value)
        if len(set(j_idx[first:])) != len(j_idx) - first:
            break  # two judges of one entry share a label: from_triples refuses the pair
        e_idx += [e] * (len(j_idx) - first)
    else:
        return ScoreMatrix.from_arrays(e_idx, j_idx, values, tuple(entries), tuple(judges))
    return ScoreMatrix.from_triples(
        (str(r.entry), str(m.judge), float(m.counted)) for r in results for m in r.judges
    )


def _computed_extra(rubric: Rubric, result: EntryResult) -> Decimal:
    """Σ weight × score of computed criteria: entry figures the model does not see."""
    extra = Decimal(0)
    for cid, c in result.criteria.items():
        if not c.computed:
            continue
        criterion = rubric.find_criterion(cid)
        if c.score is not None and criterion is not None:
            extra += criterion.effective_weight * c.score
    return extra


def _marks_summed(result: EntryResult) -> int:
    """How many judges' marks the rubric adds up for this entry (1 for a mean or median).

    The model estimates what one average judge would give; a rubric that sums marks (diving:
    the middle 3) gets that estimate times the number of marks it sums, so calibrated and
    z-score results stay on the rubric's own scale."""
    if result.method not in ("sum", "trimmed_sum"):
        return 1
    if result.kept:
        return len(result.kept)
    judged = [c for c in result.criteria.values() if not c.computed]
    return len(judged[0].kept) if judged else 1


def _stage_model(rubric: Rubric, results: list[EntryResult], model_name: str,
                 fallback: str) -> tuple[list[EntryResult], str, str, Any, Any]:
    """Re-estimate every panel score with per-judge z-scores or the calibrated model.

    Falls back to the entry-level rule (the rubric's own, or its `fallback` for a calibrated
    rubric) when the design is too small or the judge–entry graph is not connected, because
    then the model cannot compare every entry with every other.
    """
    matrix = _matrix(results)
    if matrix.n_judges < 2 or matrix.n_entries < 2:
        reason = f"评分数据太少（{matrix.n_entries} 个作品、{matrix.n_judges} 位评委），无法拟合 {model_name}，改用 {fallback}"
        return _fell_back(results, reason), fallback, reason, None, matrix
    from scoring import calibrate

    agg = rubric.aggregation
    calibration = None
    try:
        if model_name == "zscore":
            values = calibrate.zscore_means(matrix)
        else:
            calibration = calibrate.fit(matrix, model=(agg.model if agg and agg.model else "bias"))
            if not calibration.calibrated:
                why = "；".join(calibration.notes[:1]) or calibration.method
                reason = f"校准模型不适用于此评分设计（{why}），改用 {fallback}"
                return _fell_back(results, reason), fallback, reason, calibration, matrix
            if not bool(calibration.connected):
                k = len(calibration.components) if calibration.components is not None else "多"
                reason = f"评委与作品的评分关系图不连通（{k} 个分量），分量之间无法比较，改用 {fallback}"
                return _fell_back(results, reason), fallback, reason, calibration, matrix
            values = calibration.quality
    except (ValueError, ArithmeticError) as exc:
        reason = f"{model_name} 无法拟合（{exc}），改用 {fallback}"
        return _fell_back(results, reason), fallback, reason, calibration, matrix
    index = {label: i for i, label in enumerate(matrix.entry_labels)}
    estimates = values.tolist() if hasattr(values, "tolist") else list(values)  # numpy scalars are slow to index
    out = []
    for r in results:
        i = index.get(str(r.entry))
        value = None if i is None else float(estimates[i])
        if value is None or not math.isfinite(value):
            out.append(r)
            continue
        panel = Decimal(repr(value)) * _marks_summed(r) + _computed_extra(rubric, r)
        out.append(restate(rubric, r, panel, method=model_name))
    return out, model_name, "", calibration, matrix


def _fell_back(results: list[EntryResult], reason: str) -> list[EntryResult]:
    return [fast_replace(r, method_note=reason) for r in results]


def rank_stage(
    rubric: Rubric,
    sheets_by_entry: Mapping[Any, Mapping[Any, Sheet]],
    *,
    method: str = "rubric",
    inputs: Mapping[Any, Mapping[str, Any]] | None = None,
    penalties: Mapping[Any, Mapping[str, Any]] | None = None,
    flags: Mapping[Any, Iterable[str]] | None = None,
    groups: Mapping[Any, Mapping[str, str]] | None = None,
) -> StageResult:
    """Rank a whole stage: entry results, the stage method, ranking, awards, promotion.

    `method`: `rubric` (the rubric's own rule; a `calibrated` rubric is ranked by the model),
    `mean`, `trimmed` (the rubric's trimmed rule, or drop 1 + 1 from 5 judges), `zscore`
    (per-judge z-scores on the raw scale) or `calibrated` (score = entry quality + judge bias
    [+ scale], scoring.calibrate). Tie-breaks, penalties, multiplier and rounding always follow
    the rubric. Promotion needs `groups` (entry → {division, category, ...}).
    """
    entry_rubric, model = _entry_rubric(rubric, method)
    inputs, penalties, flags = inputs or {}, penalties or {}, flags or {}
    with gc_paused():  # some 20 objects per entry, no cycles: see sheets.gc_paused
        results = entry_results(entry_rubric, sheets_by_entry, inputs=inputs, penalties=penalties, flags=flags)
        agg = entry_rubric.aggregation
        assert agg is not None
        used = agg.fallback if agg.method == "calibrated" else agg.method
        reason, calibration, matrix = "", None, None
        if model is not None:
            results, used, reason, calibration, matrix = _stage_model(rubric, results, model, str(used))
        ranked = rank(results, rubric)
        awards = assign_awards(ranked, rubric) if rubric.awards else None
        if awards is not None:
            ranked = list(awards.entries)
        promotion = promote(ranked, rubric, groups) if rubric.promotion is not None and groups is not None else None
    return StageResult(tuple(ranked), method, used, reason, tuple(results), awards, promotion, calibration, matrix)
