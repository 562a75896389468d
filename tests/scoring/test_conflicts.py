"""Conflict checks (回避): every source, every stage setting, and the reason a user sees.

The table is the contract: a row per source and setting, with the kind, whether it is hard,
and the words of the message an organiser or judge reads.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scoring.conflicts import (
    DECLARED_KINDS,
    ConflictIndex,
    ConflictRules,
    Entry,
    Judge,
)

ROOT = Path(__file__).resolve().parents[2]
NAMES = {"U-GZ": "贵州省科技馆", "U-YN": "云南省科技馆", "P-GZ": "贵州省", "P-YN": "云南省", "D-GZ": "贵州"}

JUDGE = dict(id="J1", unit="U-GZ", province="P-GZ", division="D-GZ")
OTHER = dict(id="E1", unit="U-YN", province="P-YN", division="D-YN")

HARD_NATIONAL = ConflictRules(avoid_province=True, avoid_division=True, history="hard")

# (case, judge overrides, entry overrides, rules, declared, declared_units, history,
#  expected kind or None, hard, words in the Chinese message)
CASES = [
    ("same unit, always", {}, dict(unit="U-GZ"), ConflictRules(), (), (), (),
     "same_unit", True, "评委与选手同属“贵州省科技馆”"),
    ("team member's unit", {}, dict(member_units={"U-GZ"}), ConflictRules(), (), (), (),
     "same_unit", True, "团队成员同属“贵州省科技馆”"),
    ("no unit on either side never matches", dict(unit=None), dict(unit=None), ConflictRules(), (), (), (),
     None, False, ""),
    ("empty unit never matches", dict(unit=""), dict(unit=""), ConflictRules(), (), (), (),
     None, False, ""),
    ("clean pair", {}, {}, HARD_NATIONAL, (), (), (), None, False, ""),
    ("same province, regional stage: allowed", {}, dict(province="P-GZ"), ConflictRules(), (), (), (),
     None, False, ""),
    ("same province, national stage", {}, dict(province="P-GZ"), ConflictRules(avoid_province=True), (), (), (),
     "same_province", True, "同属“贵州省”"),
    ("same division, setting off", {}, dict(division="D-GZ"), ConflictRules(), (), (), (),
     None, False, ""),
    ("same division, setting on", {}, dict(division="D-GZ"), ConflictRules(avoid_division=True), (), (), (),
     "same_division", True, "“贵州”赛区"),
    *[(f"declared {kind}", {}, {}, ConflictRules(), [("J1", "E1", kind, "张三")], (), (),
       f"declared:{kind}", True, "张三") for kind in DECLARED_KINDS],
    ("declared teacher/student words", {}, {}, ConflictRules(), [("J1", "E1", "teacher_student", "曾为其学生")], (), (),
     "declared:teacher_student", True, "评委申报与该选手存在师生关系：曾为其学生"),
    ("declared on the regional entry binds the national one", {}, dict(lineage={"R-77"}), ConflictRules(),
     [("J1", "R-77", "relative", "")], (), (), "declared:relative", True, "亲属关系"),
    ("declared unit (second employer)", {}, {}, ConflictRules(), (), [("J1", "U-YN", "affiliation")], (),
     "declared:affiliation", True, "评委申报与“云南省科技馆”存在任职或兼职关系"),
    ("history off", {}, {}, ConflictRules(history="off"), (), (), [("J1", "E1")], None, False, ""),
    ("history soft", {}, {}, ConflictRules(history="soft"), (), (), [("J1", "E1")],
     "history", False, "尽量回避"),
    ("history hard", {}, {}, ConflictRules(history="hard"), (), (), [("J1", "E1")],
     "history", True, "评委曾在此前轮次评审过该作品"),
    ("history through lineage", {}, dict(lineage={"R-9"}), ConflictRules(history="hard"), (), (), [("J1", "R-9")],
     "history", True, "此前轮次"),
    ("history of another judge", {}, {}, ConflictRules(history="hard"), (), (), [("J2", "E1")], None, False, ""),
    ("same unit reported before province", {}, dict(unit="U-GZ", province="P-GZ"), HARD_NATIONAL, (), (), (),
     "same_unit", True, "贵州省科技馆"),
    ("hard province before soft history", {}, dict(province="P-GZ"),
     ConflictRules(avoid_province=True, history="soft"), (), (), [("J1", "E1")], "same_province", True, "贵州省"),
]


def build(judge_kw, entry_kw, rules, declared=(), declared_units=(), history=(), extra_judges=()):
    judge = Judge(**{**JUDGE, **judge_kw})
    entry = Entry(**{**OTHER, **entry_kw})
    return ConflictIndex.build([judge, Judge("J2"), *extra_judges], [entry], declared, declared_units, history,
                               rules, names=NAMES)


@pytest.mark.parametrize("case,judge_kw,entry_kw,rules,declared,declared_units,history,kind,hard,words",
                         CASES, ids=[c[0] for c in CASES])
def test_conflict_table(case, judge_kw, entry_kw, rules, declared, declared_units, history, kind, hard, words):
    index = build(judge_kw, entry_kw, rules, declared, declared_units, history)
    c = index.conflict("J1", "E1")
    if kind is None:
        assert c is None
        assert not index.is_hard("J1", "E1")
        assert index.soft_penalty("J1", "E1") == 0.0
        return
    assert c.kind == kind
    assert c.hard is hard
    assert index.is_hard("J1", "E1") is hard
    assert words in c.message
    assert c.code == kind.replace(":", "_")
    assert c.message_en
    assert (c.judge_id, c.entry_id) == ("J1", "E1")


def test_soft_history_costs_the_configured_penalty_and_is_not_hard():
    index = build({}, {}, ConflictRules(history="soft", history_penalty=3.5), history=[("J1", "E1")])
    assert index.soft_penalty("J1", "E1") == 3.5
    assert not index.is_hard("J1", "E1")
    assert index.penalty_matrix(["J1", "J2"], ["E1"]).tolist() == [[3.5], [0.0]]


def test_reasons_lists_every_source_hard_first():
    index = build({}, dict(unit="U-GZ", province="P-GZ"),
                  ConflictRules(avoid_province=True, history="soft"),
                  declared=[("J1", "E1", "relative", "")], history=[("J1", "E1")])
    kinds = [c.kind for c in index.reasons("J1", "E1")]
    assert kinds == ["same_unit", "declared:relative", "same_province", "history"]


def test_labels_and_english_codes():
    index = build({}, dict(unit="U-GZ"), ConflictRules())
    c = index.conflict("J1", "E1")
    assert c.label == "同单位"
    assert c.code == "same_unit"
    assert "same unit" in c.message_en


def test_unknown_declared_kind_is_refused():
    with pytest.raises(ValueError, match="unknown declared relation 'friend'"):
        build({}, {}, ConflictRules(), declared=[("J1", "E1", "friend", "")])
    with pytest.raises(ValueError, match="unknown declared relation"):
        build({}, {}, ConflictRules(), declared_units=[("J1", "U-YN", "friend")])


def test_bad_history_setting_is_refused():
    with pytest.raises(ValueError, match="off, soft or hard"):
        ConflictRules(history="sometimes")


def test_duplicate_ids_are_refused():
    with pytest.raises(ValueError, match="duplicate judge"):
        ConflictIndex.build([Judge("J1"), Judge("J1")], [])
    with pytest.raises(ValueError, match="duplicate entry"):
        ConflictIndex.build([], [Entry("E1"), Entry("E1")])


def test_asking_about_an_unknown_judge_or_entry_is_an_error_not_a_clean_pair():
    index = build({}, {}, ConflictRules())
    with pytest.raises(KeyError, match="judge 'J9'"):
        index.conflict("J9", "E1")
    with pytest.raises(KeyError, match="entry 'E9'"):
        index.is_hard("J1", "E9")


def test_declarations_about_people_outside_the_stage_are_ignored():
    index = build({}, {}, ConflictRules(history="hard"),
                  declared=[("J9", "E1", "relative", ""), ("J1", "E9", "coach", "")],
                  declared_units=[("J9", "U-YN", "colleague")], history=[("J9", "E1")])
    assert index.all_conflicts() == []


def random_index(seed, n_judges=40, n_entries=120, rules=None):
    rng = np.random.default_rng(seed)
    units = [f"U{i}" for i in range(25)]
    judges = [Judge(f"J{i}", units[rng.integers(25)] if rng.random() < 0.7 else None, f"P{rng.integers(6)}",
                    f"D{rng.integers(4)}") for i in range(n_judges)]
    entries = [Entry(f"E{k}", units[rng.integers(25)], f"P{rng.integers(6)}", f"D{rng.integers(4)}",
                     member_units={units[rng.integers(25)]} if rng.random() < 0.2 else (),
                     lineage={f"R{k}"}) for k in range(n_entries)]
    declared = [(f"J{rng.integers(n_judges)}", f"E{rng.integers(n_entries)}", DECLARED_KINDS[rng.integers(5)], "")
                for _ in range(30)]
    declared_units = [(f"J{rng.integers(n_judges)}", units[rng.integers(25)], "affiliation") for _ in range(5)]
    history = [(f"J{rng.integers(n_judges)}", f"R{rng.integers(n_entries)}") for _ in range(60)]
    rules = rules or ConflictRules(avoid_province=bool(seed % 2), avoid_division=bool(seed % 3 == 0),
                                   history=("off", "soft", "hard")[seed % 3])
    return ConflictIndex.build(judges, entries, declared, declared_units, history, rules)


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_matrix_agrees_with_pairwise_checks(seed):
    index = random_index(seed)
    jids, eids = list(index.judges), list(index.entries)
    H = index.hard_matrix(jids, eids)
    expected = np.array([[index.is_hard(j, e) for e in eids] for j in jids])
    assert (H == expected).all()
    # Any sub-selection, in any order.
    sub_j, sub_e = jids[::-3], eids[5:50:2]
    assert (index.hard_matrix(sub_j, sub_e) == np.array([[index.is_hard(j, e) for e in sub_e] for j in sub_j])).all()


@pytest.mark.parametrize("seed", range(3))
def test_all_conflicts_lists_exactly_the_conflicting_pairs(seed):
    index = random_index(seed)
    listed = {(c.judge_id, c.entry_id): c for c in index.all_conflicts()}
    expected = {(j, e) for j in index.judges for e in index.entries if index.conflict(j, e) is not None}
    assert set(listed) == expected
    for (j, e), c in listed.items():
        assert c == index.conflict(j, e)


def test_violations_name_the_entries_needing_a_new_judge():
    index = build({}, {}, ConflictRules(), declared=[("J1", "E1", "teacher_student", "former student")])
    found = index.violations([("J1", "E1"), ("J2", "E1")])
    assert [(c.judge_id, c.entry_id, c.kind) for c in found] == [("J1", "E1", "declared:teacher_student")]
    assert index.eligible_judges("E1") == ["J2"]


def test_importing_the_assignment_modules_loads_no_web_stack():
    code = ("import sys, scoring.conflicts, scoring.assignment, scoring.draw, scoring.assign_cli; "
            "bad = [m for m in ('flask', 'sqlalchemy', 'flask_sqlalchemy', 'weasyprint') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
