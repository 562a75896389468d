"""The score door builds a conflict index for one judge and one entry instead of the whole
stage. Both must judge every pair identically, or a conflict could slip through one door."""
from __future__ import annotations

import pytest

from extensions import db
from models import (Assignment, DeclaredRelation, Entry, HistoryConflict, Panel, PanelMember, PanelRole,
                    RelationKind, Stage)
from services.conflicts import stage_conflict_index
from tests.web.test_judge_access import _entry, build_world


def _verdict(index, judge_id, entry_id):
    c = index.conflict(judge_id, entry_id)
    return None if c is None else (c.code, c.hard, c.message)


def _final_round(w, history: HistoryConflict):
    """A national final whose entry descends from 磁悬浮 (regional) and the review entry, with
    张评委 and 李评委 on its panel; declarations by entry and by unit."""
    final = w.prog.stages[2]
    final.history_conflict = history
    exhibit = next(c for c in w.prog.categories if c.code == "exhibit")
    mid = _entry(w.prelim, exhibit, "N0101", "磁悬浮的秘密（初评）", "陈学生", w.units["zy"], draw=9, code="Z9Z9Z9")
    db.session.flush()
    mid.source_entry_id = w.e_student.id
    top = _entry(final, exhibit, "F0001", "磁悬浮的秘密（决赛）", "陈学生", w.units["zy"], draw=1, code="Q1Q1Q1")
    other = _entry(final, exhibit, "F0002", "光的折射（决赛）", "刘选手", w.units["yn"], draw=2, code="Q2Q2Q2")
    db.session.flush()
    top.source_entry_id = mid.id
    db.session.add(Assignment(stage_id=w.prelim.id, judge_id=w.other_judge.id, entry_id=mid.id))
    panel = Panel(stage_id=final.id, name="决赛展品辅导组", category_id=exhibit.id)
    panel.members.append(PanelMember(judge_id=w.judge.id, role=PanelRole.chief))
    panel.members.append(PanelMember(judge_id=w.other_judge.id, role=PanelRole.member))
    panel.members.append(PanelMember(judge_id=w.outsider.id, role=PanelRole.member))
    db.session.add(panel)
    db.session.add_all([
        DeclaredRelation(judge_id=w.outsider.id, kind=RelationKind.coach, entry_id=w.e_plain.id, source="judge"),
        DeclaredRelation(judge_id=w.outsider.id, kind=RelationKind.colleague, unit_id=w.units["zy"].id,
                         source="organiser"),
        DeclaredRelation(judge_id=w.judge.id, kind=RelationKind.relative, entry_id=w.e_student.id, source="judge"),
    ])
    db.session.commit()
    return final


@pytest.mark.parametrize("history", [HistoryConflict.off, HistoryConflict.soft, HistoryConflict.hard])
def test_pair_index_agrees_with_the_stage_index(app, competition, history):
    w = build_world(competition)
    _final_round(w, history)
    checked = 0
    for stage in db.session.query(Stage).filter(Stage.programme_id == competition.id):
        full = stage_conflict_index(db.session, stage)
        for judge_id in full.judges:
            for entry_id in full.entries:
                pair = stage_conflict_index(db.session, stage, judge_ids=[judge_id], entry_ids=[entry_id])
                assert _verdict(pair, judge_id, entry_id) == _verdict(full, judge_id, entry_id), (stage.name, judge_id, entry_id)
                checked += 1
    assert checked > 30
    # the cases this world was built for are really there
    final = competition.stages[2]
    full = stage_conflict_index(db.session, final)
    f1 = db.session.query(Entry).filter_by(external_id="F0001").one()
    assert _verdict(full, w.judge.id, f1.id)[0] == "declared_relative"   # follows the project two rounds on
    assert _verdict(full, w.outsider.id, f1.id)[0].startswith("declared")  # a declared unit
    history_verdict = _verdict(full, w.other_judge.id, f1.id)
    if history == HistoryConflict.off:
        assert history_verdict is None
    else:
        assert history_verdict[0].startswith("history") and history_verdict[1] == (history == HistoryConflict.hard)
