"""The demo: `build_demo` and `flask demo --out DIR` (DESIGN.md contract 2, issue 2 item 7)."""
from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from extensions import db
from models import (Category, DeclaredRelation, Division, Entry, Judge, JudgeToken, Panel, PanelMember,
                    PanelRole, Person, Programme, ProgrammeKind, Stage, StageKind, Team, Trainee, Unit, User,
                    hash_token)
from services.demo import build_demo, wipe

BASE = "http://demo.example:5000"


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def programme(template: str) -> Programme:
    """The programme built from `template` (for training, the demo's first session)."""
    progs = db.session.scalars(select(Programme).where(Programme.template == template).order_by(Programme.id)).all()
    assert len(progs) == 1 or template == "teacher_training", template
    return progs[0]


def stage_of(template: str, kind: StageKind) -> Stage:
    prog = programme(template)
    return db.session.scalars(select(Stage).where(Stage.programme_id == prog.id, Stage.kind == kind)).one()


def table_counts() -> dict[str, int]:
    return {t.name: db.session.execute(select(func.count()).select_from(t)).scalar_one()
            for t in db.metadata.sorted_tables}


@pytest.fixture
def small_demo(app, tmp_path):
    out = tmp_path / "out"
    summary = build_demo(db.session, out, seed=7, base_url=BASE, scale=0.1)
    return out, summary


def test_small_demo_competition_structure(small_demo):
    out, summary = small_demo
    assert "全国科技馆辅导员大赛" in summary and str(out / "judges.csv") in summary
    comp = programme("docent_competition")
    assert comp.kind == ProgrammeKind.competition
    assert len(comp.divisions) == 31
    regional = stage_of("docent_competition", StageKind.regional)
    entries = db.session.scalars(select(Entry).where(Entry.stage_id == regional.id)).all()
    cats = {c.id: c for c in comp.categories}

    # entries in every category; individuals and teams as the category says
    assert {e.category_id for e in entries} == set(cats)
    for e in entries:
        cat = cats[e.category_id]
        assert e.kind == cat.entry_kind
        if e.kind == "team":
            assert 2 <= len(e.team.members) <= 5, e.external_id
            assert sum(m.role == "leader" for m in e.team.members) == 1
            assert all(m.person.unit_id == e.unit_id for m in e.team.members)
        else:
            assert e.person is not None and e.person.unit_id == e.unit_id
        # the division is the unit's province
        assert e.division is not None
        assert e.division.province_id == e.unit.province_id == e.province_id
        assert e.title and e.anonymous_code

    # 抽签: draw numbers 1..n per (division, category); codes unique in the stage
    draws = defaultdict(list)
    for e in entries:
        draws[(e.division_id, e.category_id)].append(e.draw_number)
    for key, numbers in draws.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), key
    codes = [e.anonymous_code for e in entries]
    assert len(set(codes)) == len(codes)
    assert len({e.external_id for e in entries}) == len(entries)

    # every team has members (also teams not reachable from an entry)
    for team in db.session.scalars(select(Team)).all():
        assert team.members, team.name

    # the other programmes
    training = programme("teacher_training")
    assert training.host and training.partner and training.starts_on.month == 7
    trainees = db.session.scalars(select(Trainee).where(Trainee.programme_id == training.id)).all()
    assert trainees and all(t.unit.kind == "学校" and t.person.phone for t in trainees)
    # one entry per trainee and instructor-scored component (课程/活动设计, 成果汇报)
    scored = db.session.scalars(select(Entry).where(Entry.stage_id == training.stages[0].id)).all()
    assert len(scored) == 2 * len(trainees)
    assert {e.person_id for e in scored} == {t.person_id for t in trainees}
    assert all(e.kind == "individual" and e.unit.province_id == e.province_id for e in scored)

    calls = stage_of("resource_call", StageKind.format_check)
    resources = db.session.scalars(select(Entry).where(Entry.stage_id == calls.id)).all()
    assert resources and all(e.kind == "resource" and e.unit.kind != "学校" for e in resources)
    assert len({e.category_id for e in resources}) == 5

    awards = stage_of("unit_awards", StageKind.award_review)
    nominated = db.session.scalars(select(Entry).where(Entry.stage_id == awards.id, Entry.kind == "unit")).all()
    assert len(nominated) >= 2


def test_small_demo_panels(small_demo):
    comp = programme("docent_competition")
    regional = stage_of("docent_competition", StageKind.regional)
    prelim = stage_of("docent_competition", StageKind.national_preliminary)
    final = stage_of("docent_competition", StageKind.final)

    # nobody sits twice on one panel
    dupes = db.session.execute(
        select(PanelMember.panel_id, PanelMember.judge_id, func.count())
        .group_by(PanelMember.panel_id, PanelMember.judge_id).having(func.count() > 1)).all()
    assert dupes == []

    pool = db.session.scalars(select(Judge).where(Judge.programme_id == comp.id)).all()
    assert sum(j.is_school_teacher for j in pool) >= 31

    # one panel per division: 7 local judges, all categories, one chief, one teacher seat
    panels = db.session.scalars(select(Panel).where(Panel.stage_id == regional.id)).all()
    assert len(panels) == 31
    assert {p.division_id for p in panels} == {d.id for d in comp.divisions}
    for panel in panels:
        assert panel.category_id is None
        roles = Counter(m.role for m in panel.members)
        assert len(panel.members) == 7
        assert roles[PanelRole.chief] == 1 and roles[PanelRole.teacher_seat] == 1
        for m in panel.members:
            assert m.judge.programme_id == comp.id
            assert m.judge.province_id == panel.division.province_id
            assert m.judge.is_school_teacher == (m.role == PanelRole.teacher_seat)

    # national preliminary: one group of 60 reviewers with a chief
    (group,) = db.session.scalars(select(Panel).where(Panel.stage_id == prelim.id)).all()
    assert group.name == "全国初评专家组" and len(group.members) == 60
    assert sum(m.role == PanelRole.chief for m in group.members) == 1

    # final: a panel of 9 per category, chief + teacher seat, nobody on two final panels
    finals = db.session.scalars(select(Panel).where(Panel.stage_id == final.id)).all()
    assert {p.category_id for p in finals} == {c.id for c in comp.categories}
    seen: set[int] = set()
    for panel in finals:
        assert len(panel.members) == 9
        roles = Counter(m.role for m in panel.members)
        assert roles[PanelRole.chief] == 1 and roles[PanelRole.teacher_seat] == 1
        teacher = next(m for m in panel.members if m.role == PanelRole.teacher_seat)
        assert teacher.judge.is_school_teacher
        ids = {m.judge_id for m in panel.members}
        assert not ids & seen
        seen |= ids
        code = panel.category.code
        assert all(code in m.judge.expertise.split(",") for m in panel.members)

    # declared relations, by the organiser
    relations = db.session.scalars(select(DeclaredRelation)).all()
    assert sum(r.entry_id is not None for r in relations) >= 10
    assert all(r.source == "organiser" for r in relations)
    assert {r.kind.value for r in relations} >= {"relative", "teacher_student"}


def test_small_demo_csv_files_work(small_demo, app):
    out, _ = small_demo
    header, judges = read_csv(out / "judges.csv")
    assert header == ["judge_id", "name", "stage", "token", "login_url", "pin"]
    assert judges[0]["stage"] == "分赛区选拔"          # the first rows have entries to score
    tokens = db.session.scalars(select(JudgeToken)).all()
    assert len(judges) == len(tokens) > 217
    by_hash = {t.token_hash: t for t in tokens}
    seats = {(m.judge_id, m.panel.stage_id) for m in db.session.scalars(select(PanelMember)).all()}
    assert len(seats) == len(judges)  # one token per judge and stage they sit on
    for row in judges:
        token = by_hash[hash_token(row["token"])]
        assert token.judge_id == int(row["judge_id"])
        assert token.stage.name == row["stage"]
        assert token.judge.person.name == row["name"]
        assert token.revoked_at is None
        assert (token.judge_id, token.stage_id) in seats
        assert row["login_url"] == f"{BASE}/j/{row['token']}"

    header, accounts = read_csv(out / "accounts.csv")
    assert header == ["role", "username", "password"]
    assert 8 <= len(accounts) <= 20
    users = {u.username: u for u in db.session.scalars(select(User)).all()}
    assert set(users) == {a["username"] for a in accounts}
    roles = Counter(a["role"] for a in accounts)
    assert roles["organiser"] >= 1 and roles["oversight"] == 1 and roles["chief"] == 5
    assert roles["unit_contact"] >= 1 and roles["judge"] >= 1
    for a in accounts:
        user = users[a["username"]]
        assert user.role.value == a["role"]
        assert user.check_password(a["password"])
        if a["role"] in ("chief", "judge"):
            assert user.judge_id is not None
        if a["role"] == "unit_contact":
            assert user.unit_id is not None

    # the chief accounts belong to the chiefs of the final panels
    final = stage_of("docent_competition", StageKind.final)
    chiefs = set(db.session.scalars(
        select(PanelMember.judge_id).join(Panel).where(Panel.stage_id == final.id,
                                                       PanelMember.role == PanelRole.chief)).all())
    assert {u.judge_id for u in users.values() if u.role.value == "chief"} == chiefs

    # the accounts log in through the real login form
    from tests.conftest import login
    organiser = next(a for a in accounts if a["username"] == "organiser")
    resp = login(app.test_client(), "organiser", organiser["password"])
    assert resp.status_code == 302


def test_rebuild_is_deterministic_and_does_not_duplicate(app, tmp_path):
    build_demo(db.session, tmp_path / "a", seed=11, scale=0.1)
    first = table_counts()
    names = db.session.scalars(select(Person.name).order_by(Person.id)).all()
    titles = db.session.scalars(select(Entry.title).order_by(Entry.id)).all()
    units = db.session.scalars(select(Unit.name).order_by(Unit.id)).all()
    users_before = db.session.scalars(select(User.username).order_by(User.username)).all()

    build_demo(db.session, tmp_path / "b", seed=11, scale=0.1)
    assert table_counts() == first
    assert first["province"] == 31 and first["programme"] == 3 + 3   # + three training sessions at this scale
    assert db.session.scalars(select(Person.name).order_by(Person.id)).all() == names
    assert db.session.scalars(select(Entry.title).order_by(Entry.id)).all() == titles
    assert db.session.scalars(select(Unit.name).order_by(Unit.id)).all() == units
    assert db.session.scalars(select(User.username).order_by(User.username)).all() == users_before
    # only the new tokens work
    _, rows = read_csv(tmp_path / "b" / "judges.csv")
    hashes = set(db.session.scalars(select(JudgeToken.token_hash)).all())
    assert all(hash_token(r["token"]) in hashes for r in rows)
    _, old = read_csv(tmp_path / "a" / "judges.csv")
    assert not any(hash_token(r["token"]) in hashes for r in old)

    # wiping keeps only the provinces
    wipe(db.session)
    db.session.commit()
    counts = table_counts()
    assert counts.pop("province") == 31
    assert set(counts.values()) == {0}


def test_cli_demo_at_national_scale(app, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "accounts.csv" in result.output and "judges.csv" in result.output

    comp = programme("docent_competition")
    assert comp.year == 2024 and len(comp.divisions) == 31
    assert 360 <= db.session.scalar(select(func.count()).select_from(Unit)) <= 440

    regional = stage_of("docent_competition", StageKind.regional)
    per_cat = dict(db.session.execute(
        select(Category.code, func.count(Entry.id)).join(Entry, Entry.category_id == Category.id)
        .where(Entry.stage_id == regional.id).group_by(Category.code)).all())
    total = sum(per_cat.values())
    assert 1500 <= total <= 1600
    assert max(per_cat, key=per_cat.get) == "exhibit"
    assert 0.40 <= per_cat["exhibit"] / total <= 0.55
    assert 0.05 <= per_cat["volunteer"] / total <= 0.11
    for code in ("experiment", "drama", "course"):
        assert 0.08 <= per_cat[code] / total <= 0.25
    # more entries in populous provinces
    per_div = dict(db.session.execute(
        select(Division.code, func.count(Entry.id)).join(Entry, Entry.division_id == Division.id)
        .where(Entry.stage_id == regional.id).group_by(Division.code)).all())
    assert len(per_div) == 31 and per_div["44"] > 3 * per_div["54"]  # 广东 vs 西藏

    judges = db.session.scalar(select(func.count()).select_from(Judge).where(Judge.programme_id == comp.id))
    assert 230 <= judges <= 270
    teachers = db.session.scalar(select(func.count()).select_from(Judge).where(
        Judge.programme_id == comp.id, Judge.is_school_teacher.is_(True)))
    assert 0.10 <= teachers / judges <= 0.20

    trainees = db.session.scalar(select(func.count()).select_from(Trainee).where(
        Trainee.programme_id == programme("teacher_training").id))
    assert 55 <= trainees <= 65
    resources = db.session.scalar(select(func.count()).select_from(Entry).where(
        Entry.stage_id == stage_of("resource_call", StageKind.format_check).id))
    assert 280 <= resources <= 320
    nominated = db.session.scalar(select(func.count()).select_from(Entry).where(
        Entry.stage_id == stage_of("unit_awards", StageKind.award_review).id, Entry.kind == "unit"))
    assert 25 <= nominated <= 35

    _, accounts = read_csv(tmp_path / "accounts.csv")
    _, tokens = read_csv(tmp_path / "judges.csv")
    assert len(accounts) <= 20 and len(tokens) >= 31 * 7 + 60 + 45
    assert all(r["login_url"].startswith(app.config["PUBLIC_BASE_URL"] + "/j/") for r in tokens)

    # --if-empty leaves a loaded database (and its files) alone
    before = table_counts()
    accounts_text = (tmp_path / "accounts.csv").read_text(encoding="utf-8")
    result = runner.invoke(args=["demo", "--out", str(tmp_path), "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "not loaded" in result.output
    assert table_counts() == before
    assert (tmp_path / "accounts.csv").read_text(encoding="utf-8") == accounts_text
    user = db.session.scalars(select(User).where(User.username == "organiser")).one()
    password = next(a["password"] for a in accounts if a["username"] == "organiser")
    assert user.check_password(password) and not user.check_password(password + "x")



def test_the_first_demo_judge_can_score_through_the_api(small_demo, client):
    """What an outside check does with judges.csv: take the first row, list, score, replay."""
    out, _ = small_demo
    _, judges = read_csv(out / "judges.csv")
    headers = {"Authorization": f"Bearer {judges[0]['token']}"}
    listing = client.get("/api/v1/me/entries", headers=headers)
    assert listing.status_code == 200
    entry = next(e for e in listing.get_json()["entries"] if e["scorable"])
    body = {"scores": {c["id"]: c["max"] for c in entry["criteria"]}, "comment": "", "status": "submitted",
            "client_request_id": "demo-1"}
    first = client.put(f"/api/v1/me/sheets/{entry['id']}", json=body, headers=headers)
    assert first.status_code == 201 and first.get_json()["status"] == "submitted"
    again = client.put(f"/api/v1/me/sheets/{entry['id']}", json=body, headers=headers)
    assert again.status_code == 200 and again.get_json()["replayed"] is True
    # and the printed PIN opens the same judge's session
    from tests.conftest import csrf_from
    form = client.get("/j/pin").get_data(as_text=True)
    signed = client.post("/j/pin", data={"pin": judges[0]["pin"], "csrf_token": csrf_from(form)})
    assert signed.status_code == 302
    with client.session_transaction() as s:
        assert s["judge_token_id"] is not None


# -- the regional round, finished (issue 6: results, publication, promotion, certificates) ----------

def _regional_publication():
    from models import Publication
    regional = stage_of("docent_competition", StageKind.regional)
    return regional, db.session.scalars(select(Publication).where(Publication.stage_id == regional.id)).all()


def _live_division(out: Path) -> int:
    """The division left unscored: the one whose panel the first judges.csv row sits on."""
    _, judges = read_csv(out / "judges.csv")
    regional = stage_of("docent_competition", StageKind.regional)
    panel = db.session.scalars(select(Panel).join(PanelMember).where(
        Panel.stage_id == regional.id, PanelMember.judge_id == int(judges[0]["judge_id"]))).one()
    return panel.division_id


def test_demo_scores_confirms_all_but_the_live_division(small_demo):
    from models import EntryConfirmation, EntryScoreRecord, ScoreEvent, ScoreSheet, SheetStatus
    from services.sheets import compute_result, expected_judges, result_json
    out, summary = small_demo
    assert "评分表" in summary and "确认统分" in summary and "晋级" in summary and "certificates.csv" in summary
    regional = stage_of("docent_competition", StageKind.regional)
    live = _live_division(out)
    entries = db.session.scalars(select(Entry).where(Entry.stage_id == regional.id, Entry.status == "active")).all()
    scored = [e for e in entries if e.division_id != live]
    assert scored and len(scored) < len(entries)
    sheets = db.session.scalars(select(ScoreSheet).where(ScoreSheet.stage_id == regional.id)).all()
    by_entry = defaultdict(list)
    for s in sheets:
        by_entry[s.entry_id].append(s)
    assert not any(by_entry[e.id] for e in entries if e.division_id == live)
    confirmations = {c.entry_id: c for c in db.session.scalars(select(EntryConfirmation)).all()}
    assert set(confirmations) == {e.id for e in scored}
    events = Counter((ev.sheet_id, ev.action.value) for ev in db.session.scalars(select(ScoreEvent)).all())
    assert db.session.scalar(select(func.count()).select_from(EntryScoreRecord)) >= 1   # overtime recorded
    for e in scored:
        judges = expected_judges(db.session, e, regional)
        assert sorted(s.judge_id for s in by_entry[e.id]) == sorted(j.id for j in judges), e.external_id
        for s in by_entry[e.id]:
            assert s.status == SheetStatus.locked and s.version == 1 and s.submitted_at is not None
            assert events[(s.id, "submit")] == 1
        result, rubric = compute_result(db.session, e, regional)
        conf = confirmations[e.id]
        assert (conf.rubric_id, conf.rubric_version) == (rubric.id, rubric.version)
        assert conf.final_score == (None if result.final_score is None else str(result.final_score))
        assert conf.status == result.status and conf.result == result_json(result)
    assert sum(a == "confirm" for (_, a) in events.elements()) == len(scored)


def test_demo_marks_are_what_the_api_would_store(small_demo):
    """Every sheet passes the rubric's validation and stores exactly its formatted marks and total;
    re-confirming an entry through services.sheets.confirm freezes the same result."""
    from models import EntryConfirmation, ScoreSheet
    from scoring.sheets import format_number, validate_sheet
    from services.sheets import Actor, confirm, stage_rubric, unconfirm
    regional = stage_of("docent_competition", StageKind.regional)
    sheets = db.session.scalars(select(ScoreSheet).where(ScoreSheet.stage_id == regional.id)).all()
    rubrics = {}
    for s in sheets:
        cat = s.entry.category_id
        rubric = rubrics.setdefault(cat, stage_rubric(regional, cat))
        assert (s.rubric_id, s.rubric_version) == (rubric.id, rubric.version)
        checked = validate_sheet(rubric, s.scores, comment=s.comment)
        assert s.scores == {k: format_number(v) for k, v in checked.scores.items()}
        assert s.total == format_number(checked.total)
    totals = {s.total for s in sheets}
    assert len(totals) > 10                        # marks vary between entries and judges
    conf = db.session.scalars(select(EntryConfirmation).order_by(EntryConfirmation.id)).first()
    entry, frozen = conf.entry, dict(conf.result)
    actor = Actor("测试")
    unconfirm(db.session, entry, regional, actor, "复核")
    again = confirm(db.session, entry, regional, actor)
    assert again.result == frozen


def test_demo_publishes_the_regional_round_and_promotes(small_demo, client):
    from models import PublicationStatus
    from services.publication import snapshot_rows
    out, _ = small_demo
    regional, pubs = _regional_publication()
    assert len(pubs) == 1
    pub = pubs[0]
    assert pub.scope == "stage" and pub.status == PublicationStatus.final and pub.version == 1
    assert pub.objection_until is not None and pub.finalised_at is not None
    html = client.get("/results").get_data(as_text=True)
    assert f"/results/{pub.id}" in html
    assert client.get(f"/results/{pub.id}").status_code == 200

    prelim = stage_of("docent_competition", StageKind.national_preliminary)
    carried = db.session.scalars(select(Entry).where(Entry.stage_id == prelim.id)).all()
    assert carried
    promoted = {r["entry_id"] for r in snapshot_rows(pub.snapshot) if r["promotion"] == "promoted"}
    assert {e.source_entry_id for e in carried} == promoted
    per_group = Counter((e.division_id, e.category_id) for e in carried)
    assert max(per_group.values()) <= 2
    assert _live_division(out) not in {d for d, _ in per_group}   # the live division is still scoring


def test_demo_certificates_csv_matches_the_certificates(small_demo, client):
    from models import Certificate
    out, _ = small_demo
    header, rows = read_csv(out / "certificates.csv")
    assert header == ["serial", "name", "award", "verify_url", "download_url"]
    certs = {c.serial: c for c in db.session.scalars(select(Certificate)).all()}
    assert rows and len(rows) == len(certs)
    _, pubs = _regional_publication()
    training = programme("teacher_training")
    completion = [r for r in rows if r["serial"].startswith("PX")]
    assert completion and {r["award"] for r in completion} <= {"结业", "优秀学员"}
    for row in rows:
        cert = certs[row["serial"]]
        assert cert.revoked_at is None
        if row in completion:   # 结业证书 of the demo's first training session, with its hours
            from models import Publication
            assert cert.programme_id == training.id
            assert db.session.get(Publication, cert.publication_id).status == "final"
            assert cert.detail["hours"] == 40
        else:
            assert cert.publication_id == pubs[0].id
        assert (row["name"], row["award"]) == (cert.holder_name, cert.award_name)
        assert row["verify_url"] == f"{BASE}/verify/{cert.verify_code}"
        assert row["download_url"] == f"{BASE}/certificates/{cert.serial}.pdf?code={cert.verify_code}"
    row = rows[0]
    page = client.get(row["verify_url"][len(BASE):])
    assert page.status_code == 200 and row["name"] in page.get_data(as_text=True)
    pdf = client.get(row["download_url"][len(BASE):])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")


def test_the_first_demo_judge_still_has_entries_to_score(small_demo, client):
    """The regional round is scored and confirmed except the live division, whose panel is the
    first rows of judges.csv: the first judge sees entries to do and a PUT is accepted (201)."""
    out, _ = small_demo
    _, judges = read_csv(out / "judges.csv")
    live = _live_division(out)
    assert db.session.get(Division, live) is not None
    headers = {"Authorization": f"Bearer {judges[0]['token']}"}
    listing = client.get("/api/v1/me/entries", headers=headers).get_json()
    todo = [e for e in listing["entries"] if e["scorable"] and e["status"] == "todo"]
    assert todo and listing["done"] == 0
    entry = todo[0]
    body = {"scores": {c["id"]: c["max"] for c in entry["criteria"]}, "status": "submitted",
            "client_request_id": "demo-live-1"}
    assert client.put(f"/api/v1/me/sheets/{entry['id']}", json=body, headers=headers).status_code == 201
    # the rows of that division's panel come first in judges.csv
    panel_judges = set(db.session.scalars(select(PanelMember.judge_id).join(Panel).where(
        Panel.division_id == live, Panel.stage_id == stage_of("docent_competition", StageKind.regional).id)))
    assert {int(r["judge_id"]) for r in judges[:len(panel_judges)]} == panel_judges
