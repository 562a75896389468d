"""Year-end awards end to end: nominations → committee sheets through the judge API (judged
criteria only) → computed criteria filled from the activity reports → ranked list → 公示 →
final → 优秀组织单位 / 优秀个人 certificates (the PDF text read back with pdftotext)."""
from __future__ import annotations

import subprocess
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from extensions import db
from models import (ActivityReport, EntryScoreRecord, Judge, JudgeToken, Panel, PanelMember, PanelRole, Person,
                    Unit, ensure_provinces)
from services import awards as aw
from services import certificates as certs
from services import publication as pubs
from services.programme_templates import create_from_template
from services.results import stage_results
from services.sheets import Actor
from tests.conftest import csrf_from, login, make_user

YEAR = 2024
MON = date(2026, 11, 23)
ORG = Actor("组织方 organiser")


@pytest.fixture
def world(app):
    prov = ensure_provinces(db.session)
    units = {code: Unit(external_id=code, name=name, kind="科技馆", province_id=prov[p].id)
             for code, name, p in [("U44", "广东科学中心", "44"), ("U32", "江苏省科学技术馆", "32"),
                                   ("U51", "四川科技馆", "51"), ("U11", "中国科学技术馆", "11")]}
    db.session.add_all(units.values())
    db.session.flush()
    prog = create_from_template(db.session, "unit_awards", year=YEAR)
    stage = prog.stages[0]
    judges, tokens = [], []
    for i in range(3):
        j = Judge(programme_id=prog.id, external_id=f"AJ{i}", person=Person(name=f"委员{i}", unit_id=units["U11"].id),
                  unit_id=units["U11"].id, province_id=prov["11"].id)
        db.session.add(j)
        judges.append(j)
    db.session.flush()
    panel = Panel(stage_id=stage.id, name="年度评审委员会")
    panel.members = [PanelMember(judge_id=j.id, role=PanelRole.chief if i == 0 else PanelRole.member)
                     for i, j in enumerate(judges)]
    db.session.add(panel)
    for j in judges:
        row, plain = JudgeToken.issue(j.id, stage.id)
        db.session.add(row)
        tokens.append(plain)
    # 广东: 17 activities held, 17 on time; 江苏: 14 held, 12 on time; 四川 reported nothing
    for k, code in enumerate([f"T{i:02d}" for i in range(1, 11)] + [f"S{i:02d}" for i in range(1, 8)]):
        db.session.add(ActivityReport(programme_id=prog.id, unit_id=units["U44"].id, activity_code=code,
                                      events_held=2, participants=100, media_reports=1, materials_on=date(YEAR, 1, 1)))
        if k < 14:
            db.session.add(ActivityReport(programme_id=prog.id, unit_id=units["U32"].id, activity_code=code,
                                          events_held=1, participants=50, media_reports=0,
                                          materials_on=date(YEAR, 1, 1) if k < 12 else date(YEAR + 1, 6, 1)))
    db.session.commit()
    make_user("organiser", "organiser")
    return prog, stage, units, tokens


def _nominate(client, prog, **form):
    page = client.get(f"/awards/{prog.id}/")
    token = csrf_from(page.get_data(as_text=True))
    return client.post(f"/awards/{prog.id}/nominations", data={"csrf_token": token, **form})


def _score(client, token, entry_id, scores):
    resp = client.put(f"/api/v1/me/sheets/{entry_id}", headers={"Authorization": f"Bearer {token}"},
                      json={"scores": scores, "comment": "", "status": "submitted",
                            "client_request_id": f"r-{entry_id}-{token[:6]}"})
    assert resp.status_code in (200, 201), resp.get_json()
    return resp


def test_nominations_are_validated(client, world):
    prog, stage, units, _ = world
    login(client, "organiser")
    assert _nominate(client, prog, kind="unit", unit="U44").status_code == 302
    resp = _nominate(client, prog, kind="unit", unit="U44")
    assert resp.status_code == 409 and "“广东科学中心”已被推荐为优秀组织单位" in resp.get_data(as_text=True)
    resp = _nominate(client, prog, kind="unit", unit="U99")
    assert resp.status_code == 422 and "单位编号“U99”不存在" in resp.get_data(as_text=True)
    resp = _nominate(client, prog, kind="person", unit="U32", person_name=" ")
    assert resp.status_code == 422 and "推荐优秀个人须填写姓名" in resp.get_data(as_text=True)
    assert len(aw.entries_of(db.session, stage)) == 1


def test_nominations_to_ranking_publication_and_certificates(client, world, tmp_path):
    prog, stage, units, tokens = world
    login(client, "organiser")
    for code in ("U44", "U32", "U51"):
        assert _nominate(client, prog, kind="unit", unit=code).status_code == 302
    assert _nominate(client, prog, kind="person", unit="U32", person_name="陈晓雯",
                     title="馆校合作课程推广").status_code == 302
    entries = {e.unit.external_id if e.kind == "unit" else "P": e for e in aw.entries_of(db.session, stage)}

    # the committee's sheet has only the judged criteria: the computed ones are not on it
    listing = client.get("/api/v1/me/entries", headers={"Authorization": f"Bearer {tokens[0]}"}).get_json()
    unit_row = next(e for e in listing["entries"] if e["id"] == entries["U44"].id)
    assert {c["id"] for c in unit_row["criteria"]} == {"huodong_zhiliang", "huojiang", "xuanchuan"}

    marks = {"U44": (26, 16, 8), "U32": (28, 18, 9), "U51": (20, 12, 6)}
    for token in tokens:
        for code, (q, a, p) in marks.items():
            _score(client, token, entries[code].id, {"huodong_zhiliang": q, "huojiang": a, "xuanchuan": p})
        _score(client, token, entries["P"].id, {"gongzuo_shiji": 36, "chuangxin": 22, "xiezuo": 17,
                                                 "xuanchuan_baosong": 13})

    # before the figures are filled in, the units are incomplete, not scored as zero
    page = client.get(f"/awards/{prog.id}/").get_data(as_text=True)
    assert "3 个单位的计算项与最新的活动报送不一致" in page
    unit_cat = entries["U44"].category_id
    outcome = stage_results(db.session, stage, category_id=unit_cat)
    assert {r.status for r in outcome.rows} == {"incomplete"}

    token = csrf_from(page)
    client.post(f"/awards/{prog.id}/computed", data={"csrf_token": token})
    page = client.get(f"/awards/{prog.id}/").get_data(as_text=True)
    assert "不一致" not in page
    assert "参与覆盖：参与 14/17 期 → 24.5 分" in page
    assert "材料报送：按时报送 12/17 期 → 7 分" in page
    assert "参与覆盖：参与 0/17 期 → 0 分" in page          # 四川 reported nothing: 0, shown as such
    rec = db.session.get(EntryScoreRecord, entries["U32"].id)
    assert rec.inputs == {"activities_joined": "14", "reports_on_time": "12"}

    # combined ranking: committee mean + computed. 江苏 55 + 24.5 + 7 = 86.5; 广东 50 + 30 + 10 = 90
    outcome = stage_results(db.session, stage, category_id=unit_cat)
    ranked = [(r.entry.unit.external_id, r.rank, r.score) for r in outcome.rows]
    assert ranked == [("U44", 1, Decimal("90.00")), ("U32", 2, Decimal("86.50")), ("U51", 3, Decimal("38.00"))]
    awards = {r.entry.unit.external_id: r.ranked.award_name for r in outcome.rows}
    assert awards == {"U44": "优秀组织单位", "U32": "优秀组织单位", "U51": None}    # below min_score 70

    # a late correction makes the stored figures stale again, and the page says so
    r = db.session.scalar(select(ActivityReport).where(ActivityReport.unit_id == units["U51"].id))
    assert r is None
    db.session.add(ActivityReport(programme_id=prog.id, unit_id=units["U51"].id, activity_code="T01",
                                  events_held=1, participants=5, media_reports=0))
    db.session.commit()
    assert "1 个单位的计算项与最新的活动报送不一致" in client.get(f"/awards/{prog.id}/").get_data(as_text=True)

    # 公示 → final → certificates, for the units and for the individual
    issued = []
    for cat_id in (unit_cat, entries["P"].category_id):
        pub = pubs.create_draft(db.session, stage, category_id=cat_id, actor="组织方 organiser")
        pubs.publish(db.session, pub, "组织方 organiser", today=MON)
        pubs.finalise(db.session, pub, "组织方 organiser", today=pub.objection_until + timedelta(days=1))
        issued += certs.issue(db.session, pub, "组织方 organiser").issued
    db.session.commit()
    holders = sorted((c.holder_name, c.award_name) for c in issued)
    assert holders == [("广东科学中心", "优秀组织单位"), ("江苏省科学技术馆", "优秀组织单位"), ("陈晓雯", "优秀个人")]
    for cert in issued:
        pdf = tmp_path / f"{cert.serial}.pdf"
        pdf.write_bytes(certs.render_certificate_pdf(cert, db.session))
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert cert.holder_name in text and cert.award_name in text


def test_nominations_import_mixes_units_and_individuals(app, world):
    """The award stage takes units (no names) and individuals (one name) from one sheet."""
    import io

    from openpyxl import Workbook

    from services.imports import run_import
    prog, stage, units, _ = world
    wb = Workbook()
    ws = wb.active
    ws.append(["作品编号", "作品名称", "赛项", "单位编号", "选手姓名"])
    ws.append(["N1", "广东科学中心年度组织工作", "优秀组织单位", "U44", ""])
    ws.append(["N2", "馆校合作课程推广", "优秀个人", "U32", "陈晓雯"])
    ws.append(["N3", "流动科技馆巡展", "优秀个人", "U51", ""])           # an individual needs a name
    buf = io.BytesIO()
    wb.save(buf)
    batch = run_import(db.session, "entries", "推荐名单.xlsx", buf.getvalue(), prog, stage=stage)
    assert batch.status == "rejected"
    assert [(e["row"], e["column"], e["message"]) for e in batch.errors] == [(4, "选手姓名", "选手姓名不能为空")]
    ws.delete_rows(4)
    buf = io.BytesIO()
    wb.save(buf)
    batch = run_import(db.session, "entries", "推荐名单.xlsx", buf.getvalue(), prog, stage=stage)
    assert batch.status == "applied" and batch.rows_created == 2
    kinds = {e.external_id: (e.kind, e.contestant_name) for e in aw.entries_of(db.session, stage)}
    assert kinds == {"N1": ("unit", ""), "N2": ("individual", "陈晓雯")}
