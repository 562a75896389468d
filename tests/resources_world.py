"""A small resource call for tests: four museums in three provinces with a unit contact each,
six reviewers (two in the same province as museums), the 形式审查 deadline in the future, and
helpers to submit, pass, review and score resources."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from extensions import db
from models import Judge, JudgeToken, Panel, PanelMember, PanelRole, Person, Unit, ensure_provinces
from models.base import beijing_today
from services import resources as svc
from services.demo_resources import tiny_pdf
from services import sheets
from services.programme_templates import create_from_template
from tests.conftest import make_user

PDF = tiny_pdf("Light refraction poster")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32

MUSEUMS = [("U11-A", "北京示例科技馆", "11"), ("U31-A", "上海示例科技馆", "31"),
           ("U44-A", "广东示例科技馆", "44"), ("U44-B", "深圳示例科学馆", "44")]
REVIEWERS = [("RJ01", "11"), ("RJ02", "31"), ("RJ03", "32"), ("RJ04", "33"), ("RJ05", "35"), ("RJ06", "42")]


def build_call(app, tmp_path, *, days_left: int = 10) -> SimpleNamespace:
    app.config["RESOURCE_UPLOAD_DIR"] = str(tmp_path / "uploads")
    provinces = ensure_provinces(db.session)
    prog = create_from_template(db.session, "resource_call", year=2026)
    check = svc.stage_of(prog, svc.StageKind.format_check)
    check.ends_on = beijing_today() + timedelta(days=days_left)
    units, contacts = {}, {}
    for ext, name, code in MUSEUMS:
        units[ext] = Unit(external_id=ext, name=name, kind="科技馆", province_id=provinces[code].id)
    for ext, code in REVIEWERS:
        units[ext] = Unit(external_id=f"U-{ext}", name=f"{code}省评审单位{ext}", kind="科技馆",
                          province_id=provinces[code].id)
    db.session.add_all(units.values())
    db.session.commit()
    for ext, _name, _code in MUSEUMS:
        contacts[ext] = make_user("unit_contact", f"unit-{ext}", unit_id=units[ext].id)
    reviewers = []
    for ext, _code in REVIEWERS:
        u = units[ext]
        person = Person(name=f"专家{ext}", unit_id=u.id)
        db.session.add(person)
        db.session.flush()
        j = Judge(programme_id=prog.id, external_id=ext, person_id=person.id, unit_id=u.id,
                  province_id=u.province_id)
        db.session.add(j)
        reviewers.append(j)
    db.session.commit()
    return SimpleNamespace(prog=prog, check=check, units=units, contacts=contacts, reviewers=reviewers,
                           pre=svc.stage_of(prog, svc.StageKind.preliminary_review),
                           fin=svc.stage_of(prog, svc.StageKind.final_review))


def submit(w, unit_ext: str, title: str, category: str = "poster", files=(("海报.pdf", PDF),)):
    cat = next(c for c in w.prog.categories if c.code == category)
    data = svc.SubmissionInput(title=title, category_id=cat.id, description="说明", authors="张三",
                               files=[svc.FileIn(n, d) for n, d in files])
    sub = svc.save(db.session, w.prog, w.contacts[unit_ext], data, submit=True)
    db.session.commit()
    return sub


def pass_all(w, subs):
    for s in subs:
        svc.decide(db.session, w.prog, s, outcome="pass", failed=[], note="", actor="test")
    db.session.commit()


def assign(w, stage, judges, entries):
    """Assignment rows judge × entry, with a 回避声明 so the judge screen opens directly."""
    from models import Assignment
    from services import declarations as decl
    for j in judges:
        for e in entries:
            db.session.add(Assignment(stage_id=stage.id, judge_id=j.id, entry_id=e.id, locked=False, source="manual"))
        decl.declare(db.session, j, stage, [])
    db.session.commit()


def panel(w, stage, judges):
    from services import declarations as decl
    p = Panel(stage_id=stage.id, name="终评专家组")
    for i, j in enumerate(judges):
        p.members.append(PanelMember(judge_id=j.id, role=PanelRole.chief if i == 0 else PanelRole.member))
        db.session.add(p)
    db.session.flush()
    for j in judges:
        decl.declare(db.session, j, stage, [])
    db.session.commit()
    return p


def token(judge, stage) -> str:
    row, plain = JudgeToken.issue(judge.id, stage.id)
    db.session.add(row)
    db.session.commit()
    return plain


def score(stage, entry, judge, fractions: dict[str, float] | float, flags=(), comment=""):
    """Submit a sheet giving each criterion `fraction` of its maximum (rounded down to the step)."""
    rubric = sheets.stage_rubric(stage, entry.category_id)
    scores = {}
    for c in rubric.judged_criteria:
        f = fractions if isinstance(fractions, float) else fractions.get(c.id, 0.8)
        scores[c.id] = float((c.max * __import__("decimal").Decimal(str(f)) // c.step) * c.step)
    payload = {"scores": scores, "status": "submitted", "comment": comment}
    if flags:
        payload["flags"] = list(flags)
    out = sheets.put_sheet(db.session, judge, stage, entry.id, payload,
                           sheets.Actor(label=f"评委 {judge.external_id}", judge_id=judge.id))
    db.session.commit()
    return out


def client_as(app, username):
    """A test client logged in as `username` (every user here has the conftest password)."""
    from tests.conftest import login
    c = app.test_client()
    assert login(c, username).status_code == 302
    return c
