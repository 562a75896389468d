"""The database refuses states the domain forbids, on SQLite and PostgreSQL alike."""
import pytest
from sqlalchemy.exc import IntegrityError, StatementError

from extensions import db
from models import (Category, DeclaredRelation, Entry, Judge, Panel, PanelMember, PanelRole, Person,
                    Programme, ProgrammeKind, Province, RelationKind, Role, Team, TeamMember, Unit, User)


@pytest.fixture
def world(competition):
    prov = db.session.query(Province).filter_by(code="52").one()
    unit = Unit(external_id="U1", name="贵州省科技馆", province_id=prov.id)
    p1, p2 = Person(name="张一"), Person(name="李二")
    db.session.add_all([unit, p1, p2])
    db.session.flush()
    team = Team(programme_id=competition.id, name="实验队", unit_id=unit.id)
    db.session.add(team)
    judge = Judge(programme_id=competition.id, external_id="J1", person_id=p2.id, unit_id=unit.id,
                  province_id=prov.id)
    db.session.add(judge)
    db.session.flush()
    stage = competition.stages[0]
    div = next(d for d in competition.divisions if d.province_id == prov.id)
    panel = Panel(stage_id=stage.id, name="贵州组", division_id=div.id)
    db.session.add(panel)
    db.session.commit()
    cats = {c.code: c for c in competition.categories}
    return dict(prog=competition, stage=stage, unit=unit, p1=p1, p2=p2, team=team, judge=judge,
                div=div, panel=panel, cats=cats, prov=prov)


def entry(w, **kw):
    base = dict(stage_id=w["stage"].id, category_id=w["cats"]["exhibit"].id, external_id="E1", title="磁悬浮",
                kind="individual", person_id=w["p1"].id, unit_id=w["unit"].id, province_id=w["prov"].id,
                division_id=w["div"].id, draw_number=1)
    base.update(kw)
    return Entry(**base)


CASES = {
    "individual entry without a person": lambda w: [entry(w, person_id=None)],
    "team entry naming a person": lambda w: [entry(w, kind="team", team_id=w["team"].id)],
    "team entry without a team": lambda w: [entry(w, kind="team", person_id=None)],
    "unknown entry kind": lambda w: [entry(w, kind="duo")],
    "same external id twice in a stage": lambda w: [entry(w), entry(w, draw_number=2)],
    "same draw number in a division and category": lambda w: [entry(w), entry(w, external_id="E2")],
    "same anonymous code in a stage": lambda w: [entry(w, anonymous_code="A1"),
                                                 entry(w, external_id="E2", draw_number=2, anonymous_code="A1")],
    "draw number zero": lambda w: [entry(w, draw_number=0)],
    "two chief judges on one panel": lambda w: [
        PanelMember(panel_id=w["panel"].id, judge_id=w["judge"].id, role=PanelRole.chief),
        PanelMember(panel_id=w["panel"].id, judge_id=_second_judge(w).id, role=PanelRole.chief)],
    "a judge twice on one panel": lambda w: [
        PanelMember(panel_id=w["panel"].id, judge_id=w["judge"].id),
        PanelMember(panel_id=w["panel"].id, judge_id=w["judge"].id)],
    "unit contact without a unit": lambda w: [User(username="c", password_hash="x", role=Role.unit_contact,
                                                   display_name="c")],
    "duplicate username": lambda w: [User(username="a", password_hash="x", role=Role.judge, display_name="a"),
                                     User(username="a", password_hash="x", role=Role.judge, display_name="b")],
    "relation with no target": lambda w: [DeclaredRelation(judge_id=w["judge"].id, kind=RelationKind.relative)],
    "relation with an unknown source": lambda w: [DeclaredRelation(judge_id=w["judge"].id, kind=RelationKind.coach,
                                                                   unit_id=w["unit"].id, source="rumour")],
    "programme year out of range": lambda w: [Programme(kind=ProgrammeKind.training, year=1899, name="x")],
    "category with an unknown entry kind": lambda w: [Category(programme_id=w["prog"].id, code="x", name="x",
                                                               entry_kind="pair")],
    "duplicate category code": lambda w: [Category(programme_id=w["prog"].id, code="exhibit", name="再来")],
    "duplicate unit external id": lambda w: [Unit(external_id="U1", name="别的馆", province_id=w["prov"].id)],
    "duplicate judge external id in a programme": lambda w: [
        Judge(programme_id=w["prog"].id, external_id="J1", person_id=w["p1"].id, unit_id=w["unit"].id,
              province_id=w["prov"].id)],
    "team member twice": lambda w: [TeamMember(team_id=w["team"].id, person_id=w["p1"].id),
                                    TeamMember(team_id=w["team"].id, person_id=w["p1"].id)],
}


def _second_judge(w):
    p = Person(name="王三")
    db.session.add(p)
    db.session.flush()
    j = Judge(programme_id=w["prog"].id, external_id="J2", person_id=p.id, unit_id=w["unit"].id,
              province_id=w["prov"].id)
    db.session.add(j)
    db.session.flush()
    return j


@pytest.mark.parametrize("case", list(CASES))
def test_database_refuses(world, case):
    objs = CASES[case](world)
    with pytest.raises((IntegrityError, StatementError)):
        for o in objs:
            db.session.add(o)
            db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize("desc,make", [
    ("individual entry", lambda w: [entry(w)]),
    ("team entry", lambda w: [entry(w, kind="team", person_id=None, team_id=w["team"].id,
                                    category_id=w["cats"]["experiment"].id)]),
    ("same external id in another stage", lambda w: [entry(w), entry(w, stage_id=w["prog"].stages[1].id,
                                                                      division_id=None, draw_number=None)]),
    ("same draw number in another category", lambda w: [entry(w), entry(w, external_id="E2",
                                                                         category_id=w["cats"]["volunteer"].id)]),
    ("chief and teacher seat", lambda w: [
        PanelMember(panel_id=w["panel"].id, judge_id=w["judge"].id, role=PanelRole.chief),
        PanelMember(panel_id=w["panel"].id, judge_id=_second_judge(w).id, role=PanelRole.teacher_seat)]),
    ("resource entry", lambda w: [entry(w, kind="resource", person_id=None)]),
])
def test_database_accepts(world, desc, make):
    for o in make(world):
        db.session.add(o)
        db.session.flush()
    db.session.commit()


def test_team_members_keep_order(world):
    team = world["team"]
    team.members.append(TeamMember(person_id=world["p2"].id, role="member", seq=2))
    team.members.append(TeamMember(person_id=world["p1"].id, role="leader", seq=1))
    db.session.commit()
    db.session.expire_all()
    e = entry(world, kind="team", person_id=None, team_id=team.id, category_id=world["cats"]["drama"].id)
    db.session.add(e)
    db.session.commit()
    assert e.contestant_name == "张一、李二"
