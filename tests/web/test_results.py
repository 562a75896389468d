"""Results (issue 6, acceptance 1, 2 and the ranking's Excel export): rankings computed by
`scoring/` from the submitted sheets, recomputed when a score changes, awards by share, shared
ranks, promotion per division × category with reserves into the next stage, the organiser page,
the Excel file and who may see or do what.

The hall is test_judge_api's `build_hall` (贵州, five judges, exhibit guiding) grown to four
贵州 entries, a 云南 division judged by the same five, and a 贵州 experiment team."""
from __future__ import annotations

import io
from decimal import Decimal
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from extensions import db
from models import (DrawRecord, Entry, EntryConfirmation, Panel, PanelMember, PanelRole, Person, PromotionRecord,
                    ScoreSheet, Team, TeamMember, Unit, User, ensure_provinces)
from scoring.ranking import rank
from services import results as res
from services.assignment import draw_stage, verify_record
from services import sheets as svc
from tests.conftest import csrf_from, login, make_user
from tests.web.test_judge_access import _entry
from tests.web.test_judge_api import build_hall

ACTOR = svc.Actor("评委组长 测试")


def _marks(rubric, total: Decimal) -> dict[str, str]:
    """A complete sheet adding up to `total`: every criterion at its maximum, the rest taken
    off the criteria in order (weights are 1 on the docent rubrics)."""
    marks = {c.id: c.max for c in rubric.judged_criteria}
    short = sum(marks.values()) - Decimal(str(total))
    for c in rubric.judged_criteria:
        take = min(short, marks[c.id] - c.min)
        marks[c.id] -= take
        short -= take
    assert short == 0
    return {k: str(v) for k, v in marks.items()}


def score(w, entry, totals, status="submitted"):
    """Each judge of the panel submits one sheet for `entry` with the given totals."""
    rubric = svc.stage_rubric(w.stage, entry.category_id)
    for judge, total in zip(w.judges, totals):
        sheet = svc.find_sheet(db.session, judge.id, entry.id)
        if sheet is not None and sheet.status.value == "submitted":
            svc.reopen(db.session, sheet, ACTOR, "改分")
        body = {"scores": _marks(rubric, total), "status": status,
                "client_request_id": f"{judge.id}-{entry.id}-{total}-{sheet.version if sheet else 0}"}
        svc.put_sheet(db.session, judge, w.stage, entry.id, body, svc.Actor(f"评委 {judge.external_id}"))
    db.session.commit()


def confirm_all(w):
    for e in w.all_entries:
        if svc.confirmation_of(db.session, e.id) is None:
            svc.confirm(db.session, e, w.stage, ACTOR)
    db.session.commit()


@pytest.fixture
def w(app, competition):
    h = build_hall(competition)
    provinces = ensure_provinces(db.session)
    h.entries.append(_entry(h.stage, h.category, "E004", "作品4", "选手4", h.unit, division=h.division, draw=4))
    yn_div = next(d for d in competition.divisions if d.province_id == provinces["53"].id)
    km = Unit(external_id="U2", name="昆明市科技馆", province_id=provinces["53"].id)
    db.session.add(km)
    db.session.flush()
    h.yn = [_entry(h.stage, h.category, f"Y{i + 1:03d}", f"云南作品{i + 1}", f"云南选手{i + 1}", km,
                   division=yn_div, draw=i + 1) for i in range(3)]
    experiment = next(c for c in competition.categories if c.code == "experiment")
    members = [Person(name=n, unit_id=h.unit.id) for n in ("张一", "李二", "王三")]
    db.session.add_all(members)
    db.session.flush()
    team = Team(programme_id=competition.id, name="贵州实验队", unit_id=h.unit.id)
    team.members = [TeamMember(person_id=p.id, seq=i) for i, p in enumerate(members)]
    db.session.add(team)
    db.session.flush()
    h.team_entry = Entry(stage_id=h.stage.id, category_id=experiment.id, external_id="T001", title="神奇的气压",
                         kind="team", team_id=team.id, unit_id=h.unit.id, province_id=h.unit.province_id,
                         division_id=h.division.id, draw_number=1, status="active")
    db.session.add(h.team_entry)
    for cat, div, name in ((h.category, yn_div, "云南赛区展品辅导组"), (experiment, h.division, "贵州赛区科学实验组")):
        panel = Panel(stage_id=h.stage.id, name=name, category_id=cat.id, division_id=div.id)
        panel.members = [PanelMember(judge_id=j.id, role=PanelRole.chief if i == 0 else PanelRole.member)
                         for i, j in enumerate(h.judges)]
        db.session.add(panel)
    db.session.commit()
    h.yn_div, h.experiment, h.team = yn_div, experiment, team
    h.all_entries = h.entries + h.yn + [h.team_entry]
    h.next = competition.stages[1]
    return h


def scored(w):
    """Every entry scored: 贵州 E001 > E002 > E003 > E004, 云南 Y002 > Y001 > Y003, the team."""
    for e, totals in zip(w.entries, ([90, 88, 86, 84, 80], [85, 84, 83, 82, 81], [80, 80, 79, 78, 70],
                                     [75, 74, 73, 72, 71])):
        score(w, e, totals)
    for e, totals in zip(w.yn, ([80, 80, 80, 80, 80], [88, 87, 86, 85, 84], [70, 71, 72, 73, 74])):
        score(w, e, totals)
    score(w, w.team_entry, [90, 90, 90, 90, 90])


def ranking(outcome, division=None, category=None):
    g = next(g for g in outcome.groups if (division is None or g.division.id == division.id)
             and (category is None or g.category.id == category.id))
    return [(r.entry.external_id, r.rank, str(r.score) if r.score is not None else None) for r in g.rows]


# -- acceptance 1: computed by scoring/, recomputed on change ---------------------------------

def test_rankings_equal_scoring_on_the_same_sheets(w):
    scored(w)
    out = res.stage_results(db.session, w.stage)
    assert [(g.category.code, g.division.name) for g in out.groups] == \
        [("exhibit", w.division.name), ("exhibit", w.yn_div.name), ("experiment", w.division.name)]
    for g in out.groups:
        expected = [svc.compute_result(db.session, r.entry, w.stage)[0] for r in g.rows]
        assert [r.result for r in g.rows] == expected          # the same sheets, the same rule
        again = rank(expected, g.rubric)
        assert [(x.entry, x.rank, x.score) for x in again] == [(r.entry.id, r.rank, r.score) for r in g.rows]
    # trimmed mean of 5: drop 90 and 80, mean of 88, 86, 84
    assert ranking(out, w.division, w.category) == [("E001", 1, "86.00"), ("E002", 2, "83.00"),
                                                     ("E003", 3, "79.00"), ("E004", 4, "73.00")]
    assert ranking(out, w.yn_div) == [("Y002", 1, "86.00"), ("Y001", 2, "80.00"), ("Y003", 3, "72.00")]
    first = out.groups[0].rows[0]
    assert {m.dropped for m in first.result.judges} == {"high", "low", None}


def test_a_score_changed_before_confirmation_changes_the_ranking(w):
    scored(w)
    assert ranking(res.stage_results(db.session, w.stage), w.division, w.category)[:2] == \
        [("E001", 1, "86.00"), ("E002", 2, "83.00")]
    score(w, w.entries[1], [95, 94, 93, 92, 91])               # reopened and resubmitted
    assert ranking(res.stage_results(db.session, w.stage), w.division, w.category)[:2] == \
        [("E002", 1, "93.00"), ("E001", 2, "86.00")]
    # a draft does not count: the entry drops out of the ranking as incomplete
    score(w, w.entries[3], [99, 99, 99], status="draft")
    rows = {r.entry.external_id: r for r in res.stage_results(db.session, w.stage).rows}
    assert rows["E004"].status == "incomplete" and rows["E004"].rank is None and rows["E004"].reasons


def test_a_confirmation_that_differs_from_the_recomputation_is_reported(w):
    scored(w)
    confirm_all(w)
    conf = db.session.scalar(select(EntryConfirmation).where(EntryConfirmation.entry_id == w.entries[0].id))
    assert conf.final_score == "86.00"
    assert all(not r.warnings for r in res.stage_results(db.session, w.stage).rows)
    conf.final_score = "99.00"
    db.session.commit()
    row = next(r for r in res.stage_results(db.session, w.stage).rows if r.entry.id == w.entries[0].id)
    assert row.rank == 1 and str(row.score) == "86.00"
    assert any("99.00" in x and "86.00" in x and "请核查" in x for x in row.reasons)


@pytest.mark.parametrize("totals, awards", [
    # 4 ranked entries, shares .17/.35/.46 half up, cumulative: 1 first, 1 second, 2 third
    ({"E001": 90, "E002": 85, "E003": 80, "E004": 75}, ["一等奖", "二等奖", "三等奖", "三等奖"]),
    # E002 and E003 tied across the 二等奖 cut-off: both get it (ties_at_cutoff: higher)
    ({"E001": 90, "E002": 85, "E003": 85, "E004": 75}, ["一等奖", "二等奖", "二等奖", "三等奖"]),
])
def test_awards_by_share_and_ties_share_a_rank(w, totals, awards):
    for e in w.entries:
        score(w, e, [totals[e.external_id]] * 5)
    out = res.stage_results(db.session, w.stage, category_id=w.category.id)
    g = next(g for g in out.groups if g.division.id == w.division.id)
    assert [r.ranked.award_name for r in g.rows] == awards
    ranks = [r.rank for r in g.rows]
    if len(set(totals.values())) < 4:
        assert ranks == [1, 2, 2, 4] and g.rows[1].ranked.tied and g.rows[2].ranked.tied
    else:
        assert ranks == [1, 2, 3, 4]
        assert g.rows[1].decided_by is None                        # the score decided
    assert all(not r.ranked.honours for r in g.rows)                # honours are the final's


def test_a_tie_broken_by_raw_sum_says_so(w):
    score(w, w.entries[0], [90, 80, 80, 80, 70])    # trimmed 80.00, raw sum 400
    score(w, w.entries[1], [90, 80, 80, 80, 60])    # trimmed 80.00, raw sum 390
    g = res.stage_results(db.session, w.stage, category_id=w.category.id).groups[0]
    assert [(r.entry.external_id, r.rank) for r in g.rows[:2]] == [("E001", 1), ("E002", 2)]
    assert "原始总分" in g.rows[1].decided_by


# -- acceptance 2: promotion ------------------------------------------------------------------

def test_promotion_top_two_per_division_and_category_with_one_reserve(w):
    scored(w)
    out = res.stage_results(db.session, w.stage)
    assert out.next_stage.id == w.next.id
    got = {g.key: [(r.entry.external_id, r.promotion_state) for r in g.rows] for g in out.groups}
    assert list(got.values()) == [
        [("E001", "promoted"), ("E002", "promoted"), ("E003", "reserve"), ("E004", None)],
        [("Y002", "promoted"), ("Y001", "promoted"), ("Y003", "reserve")],
        [("T001", "promoted")],
    ]


def test_promoted_entries_appear_in_the_next_stage_with_team_and_unit_idempotent(w):
    scored(w)
    confirm_all(w)
    out = res.promote_entries(db.session, w.stage, w.next, "组织方 test")
    db.session.commit()
    assert (len(out.created), out.existing) == (5, 0)
    assert [r.entry.external_id for r in out.reserves] == ["E003", "Y003"]
    carried = db.session.scalars(select(Entry).where(Entry.stage_id == w.next.id).order_by(Entry.id)).all()
    assert sorted(e.external_id for e in carried) == ["E001", "E002", "T001", "Y001", "Y002"]
    team = next(e for e in carried if e.external_id == "T001")
    src = w.team_entry
    assert (team.source_entry_id, team.kind, team.team_id, team.unit_id, team.province_id, team.division_id,
            team.category_id, team.title, team.status) == \
        (src.id, "team", w.team.id, src.unit_id, src.province_id, src.division_id, src.category_id, src.title, "active")
    assert team.contestant_name == "张一、李二、王三" and team.unit.name == "贵州省科技馆"
    again = res.promote_entries(db.session, w.stage, w.next, "组织方 test")
    db.session.commit()
    assert (len(again.created), again.existing) == (0, 5)
    assert db.session.scalar(select(db.func.count()).select_from(Entry).where(Entry.stage_id == w.next.id)) == 5
    # 递补: a reserve is carried over on request, once; a non-reserve is refused
    e3 = res.promote_reserve(db.session, w.stage, w.next, w.entries[2].id, "组织方 test")
    assert res.promote_reserve(db.session, w.stage, w.next, w.entries[2].id, "组织方 test").id == e3.id
    with pytest.raises(res.PromotionRefused):
        res.promote_reserve(db.session, w.stage, w.next, w.entries[3].id, "组织方 test")


def test_promotion_is_refused_while_entries_are_unconfirmed_unless_forced(w):
    scored(w)
    with pytest.raises(res.PromotionRefused, match="未确认统分"):
        res.promote_entries(db.session, w.stage, w.next, "组织方 test")
    assert db.session.scalar(select(Entry.id).where(Entry.stage_id == w.next.id)) is None
    out = res.promote_entries(db.session, w.stage, w.next, "组织方 test", force_reason="决赛日程提前")
    assert len(out.created) == 5 and any("决赛日程提前" in n for n in out.notes)
    with pytest.raises(res.PromotionRefused):
        res.promote_entries(db.session, w.next, w.stage, "组织方 test")      # backwards


def test_promotion_is_recorded_with_actor_time_and_forced_reason(org_client, w):
    scored(w)
    page = org_client.get(_url(w)).get_data(as_text=True)
    url = f"/admin/programmes/{w.prog.id}/stages/{w.stage.id}/promote"
    org_client.post(url, data={"csrf_token": csrf_from(page), "force_reason": "决赛日程提前"})
    rec = db.session.scalars(select(PromotionRecord)).one()
    organiser = db.session.scalars(select(User).where(User.role == "organiser")).first()
    carried = db.session.scalars(select(Entry).where(Entry.stage_id == w.next.id)).all()
    assert (rec.kind, rec.forced_reason, rec.user_id, rec.from_stage_id, rec.to_stage_id) == \
        ("promote", "决赛日程提前", organiser.id, w.stage.id, w.next.id)
    assert rec.actor == f"组织方 {organiser.username}"
    assert sorted(rec.created_entry_ids) == sorted(e.id for e in carried)
    assert sorted(rec.source_entry_ids) == sorted(e.source_entry_id for e in carried)
    # a second run carries nothing new and records nothing
    org_client.post(url, data={"csrf_token": csrf_from(page), "force_reason": "再次"})
    assert db.session.scalar(select(db.func.count()).select_from(PromotionRecord)) == 1
    html = org_client.get(_url(w)).get_data(as_text=True)
    section = html[html.index('id="promotion-history"'):]
    for text in ("晋级记录", "强制晋级", "原因：决赛日程提前", f"组织方 {organiser.username}", "5 个", "E001"):
        assert text in section, text


def test_entries_promoted_into_an_anonymous_stage_get_codes_and_a_reserve_one_too(w):
    w.next.anonymous = True
    scored(w)
    confirm_all(w)
    res.promote_entries(db.session, w.stage, w.next, "组织方 test")
    db.session.commit()
    carried = db.session.scalars(select(Entry).where(Entry.stage_id == w.next.id)).all()
    codes = [e.anonymous_code for e in carried]
    assert all(codes) and len(set(codes)) == 5
    assert all(e.external_id not in e.anonymous_code for e in carried)
    rec = db.session.scalars(select(DrawRecord).where(DrawRecord.stage_id == w.next.id)).one()
    assert rec.kind == "codes" and verify_record(rec)      # reproducible from its seed
    e3 = res.promote_reserve(db.session, w.stage, w.next, w.entries[2].id, "组织方 test")
    db.session.commit()
    assert e3.anonymous_code and e3.anonymous_code not in codes
    assert [e.anonymous_code for e in carried] == codes      # nobody else's code changed


def test_a_reserve_called_up_after_the_draw_takes_the_withdrawn_entrys_number(w):
    scored(w)
    confirm_all(w)
    res.promote_entries(db.session, w.stage, w.next, "组织方 test")
    db.session.commit()
    draw_stage(db.session, w.next, seed=7)
    carried = {e.source_entry_id: e for e in db.session.scalars(select(Entry).where(Entry.stage_id == w.next.id))}
    gone = carried[w.entries[0].id]                  # E001 withdraws from the next stage
    number = gone.draw_number
    assert number is not None
    gone.status = "withdrawn"
    db.session.commit()
    e3 = res.promote_reserve(db.session, w.stage, w.next, w.entries[2].id, "组织方 test")
    db.session.commit()
    assert (e3.draw_number, gone.draw_number) == (number, None)
    rec = db.session.scalars(select(PromotionRecord).where(PromotionRecord.kind == "reserve")).one()
    assert rec.source_entry_ids == [w.entries[2].id] and rec.created_entry_ids == [e3.id]
    assert any("沿用退出作品" in n and str(number) in n for n in rec.notes)
    # a second reserve (云南 Y003) with no withdrawal in its group goes last
    y3 = res.promote_reserve(db.session, w.stage, w.next, w.yn[2].id, "组织方 test")
    db.session.commit()
    others = [e.draw_number for e in carried.values() if e.division_id == w.yn_div.id
              and e.category_id == w.category.id]
    assert y3.draw_number == max(others) + 1


def test_snapshot_follows_the_contract(w):
    scored(w)
    snap = res.snapshot(db.session, w.stage, category_id=w.category.id)
    assert snap["stage"]["id"] == w.stage.id and snap["method"] == "rubric" and snap["stage"]["year"] == 2024
    cat = snap["categories"][0]
    assert cat["code"] == "exhibit" and cat["rubric"]["id"] == "docent-exhibit-guiding"
    assert [g["division"]["name"] for g in cat["groups"]] == [w.division.name, w.yn_div.name]
    row = cat["groups"][0]["rows"][0]
    assert {k: row[k] for k in ("rank", "external_id", "contestant", "unit", "province", "score", "status",
                                "promotion")} == {"rank": 1, "external_id": "E001", "contestant": "选手1",
                                                  "unit": "贵州省科技馆", "province": "贵州省", "score": "86.00",
                                                  "status": "ok", "promotion": "promoted"}
    assert row["award"] == {"id": "first", "name": "一等奖"}
    assert row["members"] == [{"person_id": w.entries[0].person_id, "name": "选手1", "unit": "贵州省科技馆"}]
    assert [j["judge"] for j in row["judges"]] == ["评委1", "评委2", "评委3", "评委4", "评委5"]
    assert [j["dropped"] for j in row["judges"]] == ["high", None, None, None, "low"]
    assert "评委1\"" not in str(snap) and "J001" not in str(snap)       # no judge numbers or names
    import json
    json.dumps(snap)                                                     # JSON-safe


# -- pages, export, roles ---------------------------------------------------------------------

def _url(w, tail=""):
    return f"/admin/programmes/{w.prog.id}/stages/{w.stage.id}/results{tail}"


def test_organiser_page_shows_ranks_awards_promotion_and_reasoning(org_client, w):
    scored(w)
    html = org_client.get(_url(w) + f"?category={w.category.id}").get_data(as_text=True)
    for text in ("成绩与排名", "作品1", "选手1", "贵州省科技馆", "86.00", "一等奖", "晋级", "递补 1", "执行晋级",
                 "云南选手2", "<s title=", "计分说明", "晋级规则"):
        assert text in html, text
    assert f'data-entry="{w.entries[0].id}" data-rank="1" data-promotion="promoted"' in html
    stage_page = org_client.get(f"/admin/programmes/{w.prog.id}/stages/{w.stage.id}").get_data(as_text=True)
    assert "/results" in stage_page


def test_promote_button_flashes_counts_and_creates_entries(org_client, w):
    scored(w)
    page = org_client.get(_url(w)).get_data(as_text=True)
    url = f"/admin/programmes/{w.prog.id}/stages/{w.stage.id}/promote"
    refused = org_client.post(url, data={"csrf_token": csrf_from(page)}, follow_redirects=True).get_data(as_text=True)
    assert "未确认统分" in refused
    confirm_all(w)
    done = org_client.post(url, data={"csrf_token": csrf_from(page)}, follow_redirects=True).get_data(as_text=True)
    assert "新增 5 个作品" in done and "递补 2 个" in done
    assert db.session.scalar(select(db.func.count()).select_from(Entry).where(Entry.stage_id == w.next.id)) == 5
    no_csrf = org_client.post(url, data={})
    assert no_csrf.status_code in (302, 400)
    assert db.session.scalar(select(db.func.count()).select_from(Entry).where(Entry.stage_id == w.next.id)) == 5


def test_excel_export_of_the_ranking(org_client, w):
    scored(w)
    resp = org_client.get(_url(w, ".xlsx") + f"?category={w.category.id}")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(resp.data))
    assert len(wb.sheetnames) == 2 and "展品辅导" in wb.sheetnames[0]
    ws = wb.worksheets[0]
    assert "分赛区选拔" in ws["A1"].value and "展品辅导" in ws["A1"].value and w.division.name in ws["A1"].value
    assert [c.value for c in ws[2]] == ["名次", "编号", "作品", "选手", "单位", "省份", "得分", "奖项", "晋级"]
    assert ws.freeze_panes == "A3"
    assert [c.value for c in ws[3]] == [1, "E001", "作品1", "选手1", "贵州省科技馆", "贵州省", 86.0, "一等奖", "晋级"]
    assert ws["G3"].number_format == "0.00"
    assert [ws.cell(row=r, column=9).value for r in range(3, 7)] == ["晋级", "晋级", "递补", None]
    assert ws.column_dimensions["C"].width >= 20
    whole = load_workbook(io.BytesIO(org_client.get(_url(w, ".xlsx")).data))
    assert len(whole.sheetnames) == 3


@pytest.fixture
def other_users(app):
    return SimpleNamespace(oversight=make_user("oversight", "jianshen"), judge=make_user("judge", "pingwei"))


def test_oversight_reads_but_cannot_promote(client, w, other_users):
    scored(w)
    assert login(client, "jianshen").status_code == 302
    page = client.get(_url(w))
    assert page.status_code == 200 and "执行晋级" not in page.get_data(as_text=True)
    assert client.get(_url(w, ".xlsx")).status_code == 200
    token = csrf_from(page.get_data(as_text=True)) if 'name="csrf_token"' in page.get_data(as_text=True) else "x"
    resp = client.post(f"/admin/programmes/{w.prog.id}/stages/{w.stage.id}/promote",
                       data={"csrf_token": token, "force_reason": "试试"})
    assert resp.status_code in (400, 403)
    assert db.session.scalar(select(Entry.id).where(Entry.stage_id == w.next.id)) is None


def test_judges_and_anonymous_are_refused(client, w, other_users):
    resp = client.get(_url(w))
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert client.get(_url(w, ".xlsx")).status_code == 302
    assert login(client, "pingwei").status_code == 302
    assert client.get(_url(w)).status_code == 403
    assert client.get(_url(w, ".xlsx")).status_code == 403
