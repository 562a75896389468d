"""Conflicts of interest (回避) between judges and entries, loaded once and checked in O(1).

The contract
------------
`ConflictIndex.build(judges, entries, declared, declared_units, history, rules)` reads every
source of conflict exactly once and stores it as sets and dicts keyed by ids, so that
`index.conflict(judge_id, entry_id)` is a handful of hash look-ups and never scans a list.
Callers (the assignment solver, the organiser's manual placement, the judge API refusing a
score) ask the index; they never look at the attributes, which are private and may change.

Every judge and entry a caller asks about must have been passed to `build`; asking about
anything else raises `KeyError` (it is a programming error, not "no conflict"). Declarations
and history rows naming judges or entries that are not in the index are ignored, because one
table of declarations serves every stage of a programme.

Sources, in the order a pair's conflicts are reported (`conflict()` returns the first):

1. ``same_unit`` (always hard): the judge's unit is the entry's unit or the unit of any team
   member (`Entry.member_units`). Empty units (``None`` / ``""``) never match.
2. ``declared:<kind>`` (always hard): a relation the organiser entered or the judge declared
   in a 回避声明, either with one entry (`declared`) or with a whole unit (`declared_units`,
   e.g. a second employer). Kinds: relative, teacher_student, colleague, coach, other (and
   ``affiliation`` for unit declarations). A declaration about an earlier round's entry also
   binds its successors, through `Entry.lineage`.
3. ``same_province`` (hard when `rules.avoid_province`): national stages.
4. ``same_division`` (hard when `rules.avoid_division`).
5. ``history`` (per `rules.history`: ``off`` ignores it, ``hard`` forbids the pair, ``soft``
   makes it a cost `rules.history_penalty` that the solver avoids when it can): the judge
   scored the same project in an earlier round. History rows name the earlier round's entry;
   an entry inherits the history of every id in its `lineage`.

Conflicts are constraints, never penalties (unlike Tabbycat's allocator, which can break
them): the only soft source is history, and only when the stage says so. `hard_matrix` is the
vectorised form of `is_hard` for the solver; `verify` in `scoring.assignment` checks every
plan pair by pair through `conflict()`, so the two code paths check each other.

Each `Conflict` carries its reason: `kind`, an English `code` (``same_unit``,
``declared_teacher_student``, ...), a Chinese `message` for organisers and judges
("评委与选手同属“贵州省科技馆”") and an English `message_en`.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = [
    "DECLARED_KINDS",
    "UNIT_DECLARED_KINDS",
    "KIND_LABELS",
    "Conflict",
    "ConflictIndex",
    "ConflictRules",
    "Entry",
    "Judge",
    "expertise_match",
]

SAME_UNIT = "same_unit"
SAME_PROVINCE = "same_province"
SAME_DIVISION = "same_division"
HISTORY = "history"
DECLARED = "declared"

#: Relations a judge declares with one entry (回避声明) or an organiser enters.
DECLARED_KINDS = ("relative", "teacher_student", "colleague", "coach", "other")
#: Relations a judge declares with a whole unit: the same, plus a second affiliation (兼职).
UNIT_DECLARED_KINDS = DECLARED_KINDS + ("affiliation",)

_DECLARED_ZH = {
    "relative": "亲属关系",
    "teacher_student": "师生关系",
    "colleague": "同事关系",
    "coach": "指导（教练）关系",
    "other": "其他利害关系",
    "affiliation": "任职或兼职关系",
}
_DECLARED_EN = {
    "relative": "a relative",
    "teacher_student": "a teacher/student relation",
    "colleague": "a colleague relation",
    "coach": "a coaching relation",
    "other": "another interest",
    "affiliation": "an affiliation",
}

#: Short Chinese labels of each kind, for counts in explanations ("12 名同单位").
KIND_LABELS = {
    SAME_UNIT: "同单位",
    SAME_PROVINCE: "同省",
    SAME_DIVISION: "同赛区",
    HISTORY: "曾评审",
    **{f"{DECLARED}:{k}": f"申报{v}" for k, v in _DECLARED_ZH.items()},
}


@dataclass(frozen=True)
class Judge:
    """A judge or reviewer as the conflict rules and the solver see them.

    `unit`, `province` and `division` are ids (strings in CSV files, database keys in the app);
    `expertise` holds the categories (赛项) or topics the judge is expert in."""

    id: Hashable
    unit: Hashable | None = None
    province: Hashable | None = None
    division: Hashable | None = None
    expertise: frozenset = frozenset()
    is_school_teacher: bool = False
    can_chair: bool = False

    def __post_init__(self):
        if not isinstance(self.expertise, frozenset):
            object.__setattr__(self, "expertise", frozenset(self.expertise or ()))


@dataclass(frozen=True)
class Entry:
    """An entry (contestant, team, resource) in one round.

    `member_units` are the units of a team's other members (a team may span units);
    `lineage` are the ids of the same project in earlier rounds (regional entry → national
    entry), so that history and declarations follow the project."""

    id: Hashable
    unit: Hashable | None = None
    province: Hashable | None = None
    division: Hashable | None = None
    category: Hashable | None = None
    member_units: frozenset = frozenset()
    lineage: frozenset = frozenset()

    def __post_init__(self):
        for name in ("member_units", "lineage"):
            value = getattr(self, name)
            if not isinstance(value, frozenset):
                object.__setattr__(self, name, frozenset(value or ()))


def expertise_match(judge: Judge, category: Hashable | None) -> float:
    """1.0 when the judge is expert in the category, else 0.0 (no category: 0.0)."""
    return 1.0 if category is not None and category in judge.expertise else 0.0


@dataclass(frozen=True)
class ConflictRules:
    """The stage's recusal settings. Same unit is always avoided and is not a setting."""

    avoid_province: bool = False
    avoid_division: bool = False
    history: Literal["off", "soft", "hard"] = "off"
    #: Cost of one soft history pair, in units of one expertise match.
    history_penalty: float = 2.0

    def __post_init__(self):
        if self.history not in ("off", "soft", "hard"):
            raise ValueError(f"history must be off, soft or hard, not {self.history!r}")
        if self.history_penalty < 0:
            raise ValueError("history_penalty must not be negative")


@dataclass(frozen=True)
class Conflict:
    """Why one judge must not (hard) or should not (soft) judge one entry."""

    judge_id: Hashable
    entry_id: Hashable
    kind: str          # same_unit | same_province | same_division | declared:<kind> | history
    hard: bool
    message: str       # Chinese, for organisers and judges
    message_en: str
    note: str = ""

    @property
    def code(self) -> str:
        """Stable English identifier of the kind, e.g. ``declared_teacher_student``."""
        return self.kind.replace(":", "_")

    @property
    def label(self) -> str:
        """Short Chinese label of the kind, e.g. ``同单位``."""
        return KIND_LABELS.get(self.kind, self.kind)


def _present(value) -> bool:
    return value is not None and value != ""


@dataclass(frozen=True, eq=False)
class ConflictIndex:
    """Every conflict of one stage, loaded once. Build with `ConflictIndex.build`."""

    rules: ConflictRules
    judges: Mapping[Hashable, Judge]
    entries: Mapping[Hashable, Entry]
    _names: Mapping[Hashable, str]
    _entry_units: Mapping[Hashable, frozenset]
    _declared: Mapping[tuple, tuple[str, str]]                 # (judge, entry) -> (kind, note)
    _declared_units: Mapping[Hashable, Mapping[Hashable, str]]  # judge -> {unit: kind}
    _history: frozenset                                         # {(judge, entry)}
    _judge_pos: Mapping[Hashable, int] = field(repr=False)
    _entry_pos: Mapping[Hashable, int] = field(repr=False)

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        judges: Iterable[Judge],
        entries: Iterable[Entry],
        declared: Iterable[tuple] = (),
        declared_units: Iterable[tuple] = (),
        history: Iterable[tuple] = (),
        rules: ConflictRules | None = None,
        *,
        names: Mapping[Hashable, str] | None = None,
    ) -> "ConflictIndex":
        """Load every conflict source once.

        `declared` rows are ``(judge_id, entry_id, kind, note)`` (note may be omitted),
        `declared_units` rows ``(judge_id, unit_id, kind)``, `history` rows
        ``(judge_id, earlier_entry_id)``. `names` maps unit/province/division ids to the names
        shown in messages (default: the id itself). Duplicate judge or entry ids and unknown
        declaration kinds raise `ValueError`."""
        rules = rules or ConflictRules()
        judge_map: dict[Hashable, Judge] = {}
        for j in judges:
            if j.id in judge_map:
                raise ValueError(f"duplicate judge id {j.id!r}")
            judge_map[j.id] = j
        entry_map: dict[Hashable, Entry] = {}
        for e in entries:
            if e.id in entry_map:
                raise ValueError(f"duplicate entry id {e.id!r}")
            entry_map[e.id] = e

        # An id named in history or a declaration may be the entry itself or an earlier
        # round's entry that it descends from.
        successors: dict[Hashable, list] = defaultdict(list)
        for e in entry_map.values():
            successors[e.id].append(e.id)
            for old in e.lineage:
                if old != e.id:
                    successors[old].append(e.id)

        entry_units = {
            e.id: frozenset(u for u in ({e.unit} | e.member_units) if _present(u))
            for e in entry_map.values()
        }

        declared_map: dict[tuple, tuple[str, str]] = {}
        for row in declared:
            judge_id, entry_id, kind = row[0], row[1], row[2]
            note = row[3] if len(row) > 3 and row[3] is not None else ""
            if kind not in DECLARED_KINDS:
                raise ValueError(f"unknown declared relation {kind!r} (use one of {', '.join(DECLARED_KINDS)})")
            if judge_id not in judge_map:
                continue
            for eid in successors.get(entry_id, ()):
                declared_map.setdefault((judge_id, eid), (kind, str(note)))

        unit_map: dict[Hashable, dict[Hashable, str]] = defaultdict(dict)
        for judge_id, unit_id, kind in declared_units:
            if kind not in UNIT_DECLARED_KINDS:
                raise ValueError(f"unknown declared relation {kind!r} (use one of {', '.join(UNIT_DECLARED_KINDS)})")
            if judge_id in judge_map and _present(unit_id):
                unit_map[judge_id].setdefault(unit_id, kind)

        history_set = set()
        for judge_id, entry_id in history:
            if judge_id in judge_map:
                for eid in successors.get(entry_id, ()):
                    history_set.add((judge_id, eid))

        return cls(
            rules=rules,
            judges=judge_map,
            entries=entry_map,
            _names=names if names is not None else {},   # may load lazily
            _entry_units=entry_units,
            _declared=declared_map,
            _declared_units={k: dict(v) for k, v in unit_map.items()},
            _history=frozenset(history_set),
            _judge_pos={jid: i for i, jid in enumerate(judge_map)},
            _entry_pos={eid: i for i, eid in enumerate(entry_map)},
        )

    # -- single-pair queries (O(1)) --------------------------------------------------------

    def _name(self, key) -> str:
        return str(self._names.get(key, key))

    def _pair(self, judge_id, entry_id) -> tuple[Judge, Entry]:
        try:
            judge = self.judges[judge_id]
        except KeyError:
            raise KeyError(f"judge {judge_id!r} is not in this conflict index") from None
        try:
            entry = self.entries[entry_id]
        except KeyError:
            raise KeyError(f"entry {entry_id!r} is not in this conflict index") from None
        return judge, entry

    def reasons(self, judge_id, entry_id) -> list[Conflict]:
        """Every conflict between the judge and the entry, hard ones first (see module doc)."""
        judge, entry = self._pair(judge_id, entry_id)
        out: list[Conflict] = []
        units = self._entry_units[entry_id]
        j, e = judge_id, entry_id

        if _present(judge.unit) and judge.unit in units:
            name = self._name(judge.unit)
            if judge.unit == entry.unit:
                zh = f"评委与选手同属“{name}”"
                en = f"judge and contestant are from the same unit ({name})"
            else:
                zh = f"评委与选手的团队成员同属“{name}”"
                en = f"judge and a team member are from the same unit ({name})"
            out.append(Conflict(j, e, SAME_UNIT, True, zh, en))

        declared = self._declared.get((j, e))
        if declared is not None:
            kind, note = declared
            suffix_zh = f"：{note}" if note else ""
            suffix_en = f": {note}" if note else ""
            out.append(Conflict(j, e, f"{DECLARED}:{kind}", True,
                                f"评委申报与该选手存在{_DECLARED_ZH[kind]}{suffix_zh}",
                                f"judge declared {_DECLARED_EN[kind]} with this contestant{suffix_en}",
                                note))
        for unit, kind in self._declared_units.get(j, {}).items():
            if unit in units:
                name = self._name(unit)
                out.append(Conflict(j, e, f"{DECLARED}:{kind}", True,
                                    f"评委申报与“{name}”存在{_DECLARED_ZH[kind]}",
                                    f"judge declared {_DECLARED_EN[kind]} with {name}"))

        if self.rules.avoid_province and _present(judge.province) and judge.province == entry.province:
            name = self._name(judge.province)
            out.append(Conflict(j, e, SAME_PROVINCE, True, f"评委与选手同属“{name}”（本阶段回避同省）",
                                f"judge and contestant are from the same province ({name})"))
        if self.rules.avoid_division and _present(judge.division) and judge.division == entry.division:
            name = self._name(judge.division)
            out.append(Conflict(j, e, SAME_DIVISION, True, f"评委与选手同属“{name}”赛区（本阶段回避同赛区）",
                                f"judge and contestant are from the same division ({name})"))

        if self.rules.history != "off" and (j, e) in self._history:
            hard = self.rules.history == "hard"
            zh = "评委曾在此前轮次评审过该作品" + ("（本阶段回避）" if hard else "（尽量回避）")
            out.append(Conflict(j, e, HISTORY, hard, zh, "judge scored this project in an earlier round"))

        out.sort(key=lambda c: not c.hard)   # stable: hard first, source order kept
        return out

    def conflict(self, judge_id, entry_id) -> Conflict | None:
        """The first conflict between the pair (hard before soft), or None."""
        found = self.reasons(judge_id, entry_id)
        return found[0] if found else None

    def is_hard(self, judge_id, entry_id) -> bool:
        """True when the judge must not judge the entry under this stage's rules."""
        found = self.conflict(judge_id, entry_id)
        return found is not None and found.hard

    def soft_penalty(self, judge_id, entry_id) -> float:
        """The cost of the pair when history is soft (0.0 otherwise, and for clean pairs)."""
        self._pair(judge_id, entry_id)
        if self.rules.history == "soft" and (judge_id, entry_id) in self._history:
            return float(self.rules.history_penalty)
        return 0.0

    # -- bulk queries ------------------------------------------------------------------------

    def violations(self, pairs: Iterable[tuple]) -> list[Conflict]:
        """The hard conflicts among the given (judge_id, entry_id) pairs, e.g. the current
        assignments after a judge declared a relation: each names an entry needing a new judge."""
        out = []
        for judge_id, entry_id in pairs:
            c = self.conflict(judge_id, entry_id)
            if c is not None and c.hard:
                out.append(c)
        return out

    def eligible_judges(self, entry_id, judge_ids: Iterable | None = None) -> list:
        """The judges (of `judge_ids`, default all) with no hard conflict with the entry."""
        ids = self.judges if judge_ids is None else judge_ids
        return [j for j in ids if not self.is_hard(j, entry_id)]

    def _positions(self, ids, pos, what) -> np.ndarray:
        try:
            return np.fromiter((pos[i] for i in ids), dtype=np.int64)
        except KeyError as exc:
            raise KeyError(f"{what} {exc.args[0]!r} is not in this conflict index") from None

    def _full_hard(self) -> np.ndarray:
        """Hard-conflict matrix over all judges × all entries (index order), built by groups."""
        cached = self.__dict__.get("_hard_cache")
        if cached is not None:
            return cached
        nj, ne = len(self.judges), len(self.entries)
        hard = np.zeros((nj, ne), dtype=bool)

        def block(judge_keys: dict, entry_keys: dict):
            for key, rows in judge_keys.items():
                cols = entry_keys.get(key)
                if cols:
                    hard[np.ix_(rows, cols)] = True

        by_unit_e: dict = defaultdict(list)
        for eid, units in self._entry_units.items():
            for u in units:
                by_unit_e[u].append(self._entry_pos[eid])
        by_unit_j: dict = defaultdict(list)
        for jid, judge in self.judges.items():
            if _present(judge.unit):
                by_unit_j[judge.unit].append(self._judge_pos[jid])
            for u in self._declared_units.get(jid, {}):
                by_unit_j[u].append(self._judge_pos[jid])
        block(by_unit_j, by_unit_e)

        for attr, on in (("province", self.rules.avoid_province), ("division", self.rules.avoid_division)):
            if not on:
                continue
            jk: dict = defaultdict(list)
            ek: dict = defaultdict(list)
            for jid, judge in self.judges.items():
                if _present(getattr(judge, attr)):
                    jk[getattr(judge, attr)].append(self._judge_pos[jid])
            for eid, entry in self.entries.items():
                if _present(getattr(entry, attr)):
                    ek[getattr(entry, attr)].append(self._entry_pos[eid])
            block(jk, ek)

        pairs = list(self._declared)
        if self.rules.history == "hard":
            pairs += list(self._history)
        for jid, eid in pairs:
            hard[self._judge_pos[jid], self._entry_pos[eid]] = True
        hard.setflags(write=False)
        object.__setattr__(self, "_hard_cache", hard)
        return hard

    def hard_matrix(self, judge_ids: Sequence, entry_ids: Sequence) -> np.ndarray:
        """Boolean matrix, True where judge_ids[i] must not judge entry_ids[k]. The vectorised
        equivalent of `is_hard` for the solver (built once per index by unit/province groups)."""
        rows = self._positions(judge_ids, self._judge_pos, "judge")
        cols = self._positions(entry_ids, self._entry_pos, "entry")
        return self._full_hard()[np.ix_(rows, cols)]

    def penalty_matrix(self, judge_ids: Sequence, entry_ids: Sequence) -> np.ndarray:
        """Soft costs (history when soft) as a float matrix shaped like `hard_matrix`."""
        rows = {j: i for i, j in enumerate(judge_ids)}
        cols = {e: k for k, e in enumerate(entry_ids)}
        self._positions(judge_ids, self._judge_pos, "judge")
        self._positions(entry_ids, self._entry_pos, "entry")
        out = np.zeros((len(rows), len(cols)))
        if self.rules.history == "soft":
            for jid, eid in self._history:
                if jid in rows and eid in cols:
                    out[rows[jid], cols[eid]] = self.rules.history_penalty
        return out

    def all_conflicts(self) -> list[Conflict]:
        """Every conflicting pair (hard and soft), one `Conflict` per pair (its first reason),
        ordered by judge then entry as given to `build`."""
        mask = self._full_hard().copy()
        if self.rules.history == "soft":
            for jid, eid in self._history:
                mask[self._judge_pos[jid], self._entry_pos[eid]] = True
        judge_ids = list(self.judges)
        entry_ids = list(self.entries)
        out = []
        for r, c in zip(*np.nonzero(mask)):
            found = self.conflict(judge_ids[r], entry_ids[c])
            if found is not None:
                out.append(found)
        return out
