"""Certificates: issued from a publication's frozen snapshot (per member or per team,
idempotent, re-issued when an award changes), rendered as PDF (Chinese text checked with
pdftotext, the QR code read back module by module), verified and looked up publicly (revealing
nothing more than name, award, programme and date; identical failures), downloaded with the
personal code, configured by organisers (seal images checked by content), batch-rendered."""
from __future__ import annotations

import io
import re
import subprocess
import zipfile
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from PIL import Image
from sqlalchemy import func, select

from extensions import db
from models import (BatchJob, Certificate, CertificateKind, CertificateTemplate, Entry, JobStatus, Person,
                    Publication, PublicationStatus, Team, TeamMember, Unit, ensure_provinces)
from services import certificates as svc
from tests.conftest import csrf_from, login, make_user
from tests.web.test_judge_cards import DPI, MM, _runs, matrix_of, page_image, pdf_text

PROGRAMME = "2024年全国科技馆辅导员大赛"


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture(autouse=True)
def dirs(app, tmp_path):
    app.config["CERTIFICATE_SEAL_DIR"] = str(tmp_path / "seals")
    app.config["CERTIFICATE_BATCH_DIR"] = str(tmp_path / "batches")
    app.config["PUBLIC_BASE_URL"] = "https://pingshen.example.cn"
    return tmp_path


# -- a world with a final publication -----------------------------------------------------------

def row(entry, members, *, rank, award, score, unit, province="贵州省", contestant=None, status="ok"):
    return {"rank": rank, "entry_id": entry.id, "external_id": entry.external_id, "title": entry.title,
            "contestant": contestant or "、".join(m.name for m in members),
            "members": [{"person_id": m.id, "name": m.name, "unit": unit.name} for m in members],
            "unit": unit.name, "unit_id": unit.id, "province": province, "score": score, "status": status,
            "award": award, "honours": [], "promotion": None, "reasons": [], "notes": [], "decided_by": None,
            "judges": [{"judge": "评委1", "raw": score, "dropped": None}], "penalties": []}


FIRST = {"id": "first", "name": "一等奖"}
SECOND = {"id": "second", "name": "二等奖"}


def snapshot(w, *, solo_award=FIRST, team_award=SECOND) -> dict:
    stage = w.stage
    return {"stage": {"id": stage.id, "name": stage.name, "kind": str(stage.kind), "programme": w.prog.name,
                      "programme_id": w.prog.id, "year": w.prog.year},
            "generated_at": "2026-11-29T16:40:00+00:00", "method": "rubric",
            "categories": [
                {"id": w.exhibit.id, "code": "exhibit", "name": "展品辅导",
                 "rubric": {"id": "docent-exhibit", "version": 1, "title": "展品辅导"},
                 "groups": [{"division": None, "rows": [
                     row(w.solo, [w.wang], rank=1, award=solo_award, score="95.20", unit=w.unit),
                     row(w.loser, [w.nobody], rank=None, award=None, score=None, unit=w.unit, status="incomplete"),
                 ]}]},
                {"id": w.experiment.id, "code": "experiment", "name": "科学实验",
                 "rubric": {"id": "docent-experiment", "version": 1, "title": "科学实验"},
                 "groups": [{"division": None, "rows": [
                     row(w.team_entry, w.members, rank=1, award=team_award, score="91.80", unit=w.unit),
                 ]}]},
            ]}


def publication(w, *, version=1, status=PublicationStatus.final, **kw) -> Publication:
    pub = Publication(stage_id=w.stage.id, scope="stage", version=version, status=status,
                      title=f"{w.stage.name} 结果", snapshot=snapshot(w, **kw), created_by="organiser",
                      finalised_at=datetime(2024, 10, 25, 8, tzinfo=timezone.utc)
                      if status == PublicationStatus.final else None)
    db.session.add(pub)
    db.session.commit()
    return pub


@pytest.fixture
def world(app, competition):
    gz = ensure_provinces(db.session)["52"]
    unit = Unit(external_id="U0520", name="贵州省科技馆", province_id=gz.id)
    db.session.add(unit)
    db.session.flush()
    prog = competition
    prog.name, prog.host = PROGRAMME, None
    cats = {c.code: c for c in prog.categories}
    stage = prog.stages[0]
    people = [Person(name=n, unit_id=unit.id) for n in ("王小明", "刘落选", "张明", "李华", "赵小红")]
    db.session.add_all(people)
    db.session.flush()
    team = Team(programme_id=prog.id, name="实验队", unit_id=unit.id)
    db.session.add(team)
    db.session.flush()
    db.session.add_all([TeamMember(team_id=team.id, person_id=p.id, seq=i) for i, p in enumerate(people[2:])])

    def entry(ext, title, cat, **kw):
        e = Entry(stage_id=stage.id, category_id=cat.id, external_id=ext, title=title, unit_id=unit.id,
                  province_id=gz.id, status="active", **kw)
        db.session.add(e)
        return e

    w = SimpleNamespace(prog=prog, stage=stage, unit=unit, exhibit=cats["exhibit"], experiment=cats["experiment"],
                        wang=people[0], nobody=people[1], members=people[2:])
    w.solo = entry("E0101", "会呼吸的岩石", w.exhibit, kind="individual", person_id=w.wang.id)
    w.loser = entry("E0102", "未完成的作品", w.exhibit, kind="individual", person_id=w.nobody.id)
    w.team_entry = entry("E0201", "神奇的静电", w.experiment, kind="team", team_id=team.id)
    db.session.commit()
    return w


def issued(w) -> list[Certificate]:
    return list(db.session.scalars(select(Certificate).where(Certificate.programme_id == w.prog.id)
                                   .order_by(Certificate.serial)))


# -- issuing ----------------------------------------------------------------------------------------

def test_issue_per_member_is_idempotent(world):
    pub = publication(world)
    certs = svc.issue_for_publication(db.session, pub, "organiser")
    db.session.commit()
    assert [(c.holder_name, c.award_name) for c in certs] == [
        ("王小明", "一等奖"), ("张明", "二等奖"), ("李华", "二等奖"), ("赵小红", "二等奖")]
    assert [c.serial for c in certs] == [f"FDY2024-{i:05d}" for i in range(1, 5)]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{24}", c.verify_code) for c in certs)
    assert len({c.verify_code for c in certs}) == 4
    assert {c.person_id for c in certs} == {world.wang.id, *(m.id for m in world.members)}
    assert all(c.programme_name == PROGRAMME and c.kind == CertificateKind.award for c in certs)
    assert certs[0].issued_on.isoformat() == "2024-10-25"

    assert svc.issue_for_publication(db.session, pub, "organiser") == []      # again: nothing new
    db.session.commit()
    assert len(issued(world)) == 4


def test_issue_per_team_names_every_member(world):
    db.session.add(CertificateTemplate(programme_id=world.prog.id, kind=CertificateKind.award, title="荣誉证书",
                                       wording="{name}：荣获{award}。", issuer="贵州省科技馆", per_member=False))
    pub = publication(world)
    certs = svc.issue_for_publication(db.session, pub, "organiser")
    db.session.commit()
    assert [(c.holder_name, c.person_id) for c in certs] == [("王小明", world.wang.id), ("张明、李华、赵小红", None)]
    # any member finds the team certificate
    assert svc.find_by_name_serial(db.session, "李华", certs[1].serial) == certs[1]
    assert svc.find_by_name_serial(db.session, "李华", certs[0].serial) is None


def test_new_version_revokes_changed_awards_and_keeps_the_rest(world):
    v1 = publication(world)
    first = {c.holder_name: c for c in svc.issue_for_publication(db.session, v1, "organiser")}
    v1.status = PublicationStatus.superseded
    v2 = publication(world, version=2, solo_award=SECOND)
    out = svc.issue(db.session, v2, "organiser")
    db.session.commit()
    assert [(c.holder_name, c.award_name, c.serial) for c in out.issued] == [("王小明", "二等奖", "FDY2024-00005")]
    assert (out.kept, out.revoked) == (3, 1)
    assert first["王小明"].revoked_at is not None and first["张明"].revoked_at is None
    assert svc.issue(db.session, v2, "organiser").issued == []


def test_only_final_publications_unless_public_is_chosen(world):
    pub = publication(world, status=PublicationStatus.public)
    with pytest.raises(svc.CertificateError):
        svc.issue_for_publication(db.session, pub, "organiser")
    assert len(svc.issue_for_publication(db.session, pub, "organiser", allow_public=True)) == 4
    draft = publication(world, version=2, status=PublicationStatus.draft)
    with pytest.raises(svc.CertificateError):
        svc.issue_for_publication(db.session, draft, "organiser", allow_public=True)


def test_wording_placeholders_are_plain_substitution():
    assert svc.fill("{name}获{award}{name.__class__}{unknown}", {"name": "王", "award": "一等奖"}) == \
        "王获一等奖{name.__class__}{unknown}"


# -- the PDF ----------------------------------------------------------------------------------------------

@pytest.fixture
def certs(world):
    pub = publication(world)
    out = svc.issue_for_publication(db.session, pub, "organiser")
    db.session.commit()
    return out


def test_pdf_has_the_chinese_text(app, certs):
    with app.test_request_context():
        body = svc.render_certificate_pdf(certs[0])
    txt = re.sub(r"\s+", "", pdf_text(body))
    for s in ("获奖证书", "王小明", "一等奖", PROGRAMME, "展品辅导", "中国科学技术馆", "二〇二四年十月二十五日",
              "FDY2024-00001", "扫码验证"):
        assert s in txt, s
    info = subprocess.run(["pdfinfo", "-"], input=body, capture_output=True, check=True).stdout.decode()
    assert re.search(r"Pages:\s+1\n", info) and re.search(r"Page size:\s+841.89 x 595.2", info)   # A4 landscape


def read_certificate_qr(img: Image.Image, size: int) -> tuple[list[list[int]], float]:
    """The module matrix of the QR code printed bottom left (24 mm square, 27.5 mm from the
    left edge and 25.5 mm from the bottom: searched in a box clear of the frame and text)."""
    x0, x1 = int(26 * MM), int(53 * MM)
    y0, y1 = int((210 - 52) * MM), int((210 - 22) * MM)
    px = img.load()
    dark_rows = [any(px[x, y] < 128 for x in range(x0, x1)) for y in range(y0, y1)]
    top, bottom = max(_runs(dark_rows, 3), key=lambda r: r[1] - r[0])
    top, bottom = top + y0, bottom + y0
    dark_cols = [any(px[x, y] < 128 for y in range(top, bottom + 1)) for x in range(x0, x1)]
    left, right = max(_runs(dark_cols, 3), key=lambda r: r[1] - r[0])
    left, right = left + x0, right + x0
    step_x, step_y = (right - left + 1) / size, (bottom - top + 1) / size
    assert abs(step_x - step_y) < 0.05 * MM
    cells = [[int(px[int(left + (c + .5) * step_x), int(top + (r + .5) * step_y)] < 128) for c in range(size)]
             for r in range(size)]
    return cells, (right - left + 1) / MM


def test_qr_code_decodes_to_the_verification_url(app, certs):
    cert = certs[1]
    url = f"https://pingshen.example.cn/verify/{cert.verify_code}"
    with app.test_request_context():
        assert svc.verify_url(cert) == url
        body = svc.render_certificate_pdf(cert)
    expected = matrix_of(url)
    cells, width = read_certificate_qr(page_image(body), len(expected))
    assert cells == expected
    assert 15 < width < 24          # the code without its quiet zone, inside the 24 mm box


def test_seal_is_drawn_when_uploaded(app, certs, dirs):
    (dirs / "seals").mkdir()
    png = io.BytesIO()
    Image.new("RGB", (200, 200), (200, 20, 20)).save(png, "PNG")
    (dirs / "seals" / "abc.png").write_bytes(png.getvalue())
    db.session.add(CertificateTemplate(programme_id=certs[0].programme_id, kind=CertificateKind.award,
                                       title="获奖证书", wording="{name}荣获{award}", issuer="中国科学技术馆",
                                       seal_path="uploads/seals/abc.png"))
    db.session.commit()
    with app.test_request_context():
        body = svc.render_certificate_pdf(certs[0])
    images = subprocess.run(["pdfimages", "-list", "-"], input=body, capture_output=True).stdout.decode()
    if not images:   # pdfimages cannot read stdin everywhere
        path = dirs / "seal.pdf"
        path.write_bytes(body)
        images = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, check=True).stdout.decode()
    assert re.search(r"\b200\s+200\b", images)


# -- public pages ------------------------------------------------------------------------------------------

def test_verification_shows_name_award_programme_and_date_only(client, certs, world):
    body = text(client.get(f"/verify/{certs[0].verify_code}"))
    for s in ("王小明", "一等奖", PROGRAMME, "2024-10-25", "真实有效"):
        assert s in body
    for s in ("贵州省科技馆", "贵州省", "95.20", "会呼吸的岩石", "E0101", "展品辅导"):
        assert s not in body, s


def test_verification_of_revoked_and_unknown_codes(client, certs):
    certs[0].revoked_at = datetime.now(timezone.utc)
    db.session.commit()
    body = text(client.get(f"/verify/{certs[0].verify_code}"))
    assert "已被撤销" in body and "王小明" not in body
    resp = client.get("/verify/no-such-code")
    assert resp.status_code == 404 and "未找到该证书" in text(resp)


def lookup(client, name, serial, *, csrf=True):
    page = text(client.get("/certificates"))
    data = {"name": name, "serial": serial}
    if csrf:
        data["csrf_token"] = csrf_from(page)
    return client.post("/certificates", data=data)


def test_lookup_finds_the_certificate_and_links_the_download(client, certs):
    resp = lookup(client, " 王小明 ", "fdy2024-00001")      # spaces and case forgiven
    body = text(resp)
    assert resp.status_code == 200 and "已找到" in body
    link = re.search(r'href="(/certificates/FDY2024-00001\.pdf\?code=[^"]+)"', body).group(1)
    pdf = client.get(link.replace("&amp;", "&"))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "王小明" in pdf_text(pdf.data)


def test_failed_lookups_are_identical(client, certs):
    def outcome(name, serial):
        body = text(lookup(client, name, serial))
        return re.sub(r'value="[^"]*"', "", body)        # the CSRF token and echoed fields differ

    wrong_name = outcome("李四", "FDY2024-00001")
    unknown = outcome("王小明", "FDY2024-99999")
    assert wrong_name == unknown and "未找到匹配的证书" in unknown and "下载" not in unknown


def test_lookup_needs_the_csrf_token(client, certs):
    body = text(lookup(client, "王小明", "FDY2024-00001", csrf=False))
    assert "已找到" not in body and "code=" not in body


def test_download_needs_the_code(client, certs):
    serial, code = certs[0].serial, certs[0].verify_code
    assert client.get(f"/certificates/{serial}.pdf").status_code == 404
    assert client.get(f"/certificates/{serial}.pdf?code={certs[1].verify_code}").status_code == 404
    ok = client.get(f"/certificates/{serial}.pdf?code={code}")
    assert ok.status_code == 200 and ok.data.startswith(b"%PDF")
    again = client.get(f"/certificates/{serial}.pdf?code={code}")          # from the cache
    assert again.data == ok.data
    certs[0].revoked_at = datetime.now(timezone.utc)
    db.session.commit()
    assert client.get(f"/certificates/{serial}.pdf?code={code}").status_code == 404


# -- organiser pages -----------------------------------------------------------------------------------------

def admin_url(w, tail=""):
    return f"/admin/programmes/{w.prog.id}/certificates{tail}"


def png_bytes(size=(120, 120)) -> bytes:
    b = io.BytesIO()
    Image.new("RGBA", size, (200, 20, 20, 200)).save(b, "PNG")
    return b.getvalue()


def post_template(client, w, seal: bytes | None, filename="seal.png", **over):
    page = text(client.get(admin_url(w, "/templates/award")))
    data = {"csrf_token": csrf_from(page), "title": "获奖证书", "wording": "{name} 同志：\n荣获{award}。",
            "issuer": "贵州省科学技术协会", "issued_on": "2024-10-28", "per_member": "y", **over}
    if seal is not None:
        data["seal"] = (io.BytesIO(seal), filename)
    return client.post(admin_url(w, "/templates/award"), data=data, content_type="multipart/form-data")


def test_template_with_seal_is_saved_outside_static(org_client, world, dirs):
    resp = post_template(org_client, world, png_bytes())
    assert resp.status_code == 302
    tpl = db.session.scalar(select(CertificateTemplate).where(CertificateTemplate.programme_id == world.prog.id))
    assert tpl.issuer == "贵州省科学技术协会" and tpl.issued_on.isoformat() == "2024-10-28" and tpl.per_member
    name = tpl.seal_path.rsplit("/", 1)[1]
    assert tpl.seal_path.startswith("uploads/seals/") and re.fullmatch(r"[0-9a-f]{32}\.png", name)
    assert (dirs / "seals" / name).read_bytes() == png_bytes()
    preview = org_client.get(admin_url(world, "/templates/award/preview.pdf"))
    assert preview.status_code == 200 and "贵州省科学技术协会" in pdf_text(preview.data)


def test_seal_upload_refuses_fakes_and_big_files(org_client, world, dirs):
    fake = post_template(org_client, world, b"\x89PNG\r\n\x1a\n" + b"not really an image" * 10)
    assert fake.status_code == 422 and "无法识别" in text(fake)
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    assert "PNG 或 JPEG" in text(post_template(org_client, world, gif.getvalue(), filename="seal.png"))
    big = io.BytesIO()
    Image.frombytes("RGB", (1000, 1000), __import__("os").urandom(3_000_000)).save(big, "PNG")
    assert big.tell() > 2 * 1024 * 1024
    resp = post_template(org_client, world, big.getvalue())
    assert resp.status_code == 422 and "2 MB" in text(resp)
    assert db.session.scalar(select(func.count()).select_from(CertificateTemplate)) == 0
    assert not (dirs / "seals").exists() or not list((dirs / "seals").iterdir())


def test_organiser_issues_and_lists_certificates(org_client, world):
    pub = publication(world)
    page = text(org_client.get(admin_url(world)))
    resp = org_client.post(admin_url(world, "/issue"), data={"csrf_token": csrf_from(page), "publication": pub.id})
    assert resp.status_code == 302
    listing = text(org_client.get(admin_url(world)))
    assert "新颁发 4 张证书" in listing
    certs = issued(world)
    assert len(certs) == 4
    for c in certs:
        assert f"https://pingshen.example.cn/verify/{c.verify_code}" in listing
    again = org_client.post(admin_url(world, "/issue"), data={"csrf_token": csrf_from(listing), "publication": pub.id})
    assert again.status_code == 302 and len(issued(world)) == 4


def test_public_publication_needs_the_organisers_choice(org_client, world):
    pub = publication(world, status=PublicationStatus.public)
    page = text(org_client.get(admin_url(world)))
    org_client.post(admin_url(world, "/issue"), data={"csrf_token": csrf_from(page), "publication": pub.id})
    assert issued(world) == []
    org_client.post(admin_url(world, "/issue"), data={"csrf_token": csrf_from(page), "publication": pub.id,
                                                      "allow_public": "y"})
    assert len(issued(world)) == 4


@pytest.mark.parametrize("role, get_status, post_status", [
    ("organiser", 200, 302), ("oversight", 200, 403), ("judge", 403, 403), ("chief", 403, 403), (None, 302, 302)])
def test_access(client, world, role, get_status, post_status):
    pub = publication(world)
    if role:
        make_user(role, f"{role}-x")
        login(client, f"{role}-x")
    resp = client.get(admin_url(world))
    assert resp.status_code == get_status
    if role is None:
        assert "/login" in resp.headers["Location"]
    token = csrf_from(text(client.get("/certificates")))
    resp = client.post(admin_url(world, "/issue"), data={"csrf_token": token, "publication": pub.id})
    assert resp.status_code == post_status
    assert len(issued(world)) == (4 if role == "organiser" else 0)
    assert client.get(admin_url(world, "/templates/award")).status_code == get_status


# -- batch -------------------------------------------------------------------------------------------------------

def test_batch_renders_one_pdf_and_one_zip_and_is_cached(app, certs, world):
    job, created = svc.start_batch(db.session, world.prog.id, "test")
    db.session.commit()
    assert created and job.total == 4
    with app.test_request_context():
        job = svc.run_batch(db.session, job.id)
    assert job.status == JobStatus.done and job.done == job.total == 4
    info = subprocess.run(["pdfinfo", job.output["pdf"]], capture_output=True, check=True).stdout.decode()
    assert re.search(r"Pages:\s+4\b", info)
    with zipfile.ZipFile(job.output["zip"]) as zf:
        names = sorted(zf.namelist())
        assert names == [f"{c.serial}-{c.holder_name}.pdf" for c in certs]
        assert "赵小红" in pdf_text(zf.read(names[3]))
    assert "张明" in pdf_text(open(job.output["pdf"], "rb").read())
    assert_batch_pages(job, certs)
    again, created = svc.start_batch(db.session, world.prog.id, "test")
    assert (again.id, created) == (job.id, False)                 # cached
    certs[0].revoked_at = datetime.now(timezone.utc)               # a result changed: regenerated
    db.session.commit()
    fresh, created = svc.start_batch(db.session, world.prog.id, "test")
    assert created and fresh.id != job.id and fresh.total == 3


def assert_batch_pages(job, certs):
    """ZIP member k (in order) is one page naming holder k and serial k, carrying only its own
    QR code, which reads back as holder k's verification URL; page k of the combined PDF is
    holder k's too."""
    combined = open(job.output["pdf"], "rb").read()
    with zipfile.ZipFile(job.output["zip"]) as zf:
        members = zf.infolist()
        assert [m.filename for m in members] == [f"{c.serial}-{c.holder_name}.pdf" for c in certs]
        for k, (member, cert) in enumerate(zip(members, certs)):
            body = zf.read(member)
            info = subprocess.run(["pdfinfo", "-"], input=body, capture_output=True, check=True).stdout.decode()
            assert re.search(r"Pages:\s+1\n", info)
            txt = re.sub(r"\s+", "", pdf_text(body))
            assert cert.holder_name in txt and cert.serial in txt, (k, cert.serial)
            others = [c for c in certs if c.serial != cert.serial]
            assert not any(c.serial in txt for c in others)
            expected = matrix_of(svc.verify_url(cert))
            assert read_certificate_qr(page_image(body), len(expected))[0] == expected, (k, cert.serial)
            page = subprocess.run(["pdftotext", "-f", str(k + 1), "-l", str(k + 1), "-", "-"], input=combined,
                                  capture_output=True, check=True).stdout.decode()
            assert cert.serial in re.sub(r"\s+", "", page)


def test_batch_in_worker_processes_keeps_every_page_with_its_holder(app, certs, world, monkeypatch):
    monkeypatch.setattr(svc, "CHUNK", 3)                   # 4 certificates: chunks of 3 and 1 ...
    app.config["CERTIFICATE_BATCH_WORKERS"] = 2            # ... laid out in two spawned processes
    job, _ = svc.start_batch(db.session, world.prog.id, "test")
    db.session.commit()
    seen = []
    monkeypatch.setattr(svc, "CHUNK_CALLBACK", lambda j: seen.append(j.done))
    with app.test_request_context():
        assert svc.batch_workers(2) == 2
        job = svc.run_batch(db.session, job.id)
        assert job.status == JobStatus.done and job.done == job.total == 4 and seen == [3, 4]
        info = subprocess.run(["pdfinfo", job.output["pdf"]], capture_output=True, check=True).stdout.decode()
        assert re.search(r"Pages:\s+4\b", info)
        assert_batch_pages(job, sorted(certs, key=lambda c: c.serial))


def test_batch_from_the_ui_runs_in_the_background(org_client, certs, world, monkeypatch):
    threads = []
    real = svc.run_batch_in_thread
    monkeypatch.setattr(svc, "run_batch_in_thread", lambda app, job_id: threads.append(real(app, job_id)))
    page = text(org_client.get(admin_url(world)))
    resp = org_client.post(admin_url(world, "/batch"), data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 302 and "/batch/" in resp.headers["Location"]
    progress = text(org_client.get(resp.headers["Location"]))
    assert "<progress" in progress
    threads[0].join(60)
    job = db.session.scalar(select(BatchJob))
    status = org_client.get(admin_url(world, f"/batch/{job.id}/status")).get_json()
    assert status["status"] == "done" and status["done"] == status["total"] == 4 and status["ready"]
    z = org_client.get(admin_url(world, f"/batch/{job.id}/zip"))
    assert z.status_code == 200 and len(zipfile.ZipFile(io.BytesIO(z.data)).namelist()) == 4


def test_cli_batch(app, certs, world):
    import cli_certificates
    cli_certificates.register(app)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["certificates", "batch", "--programme", str(world.prog.id)])
    assert result.exit_code == 0, result.output
    assert ".zip (4 certificates)" in result.output
    result = runner.invoke(args=["certificates", "batch", "--programme", str(world.prog.id)])
    assert result.exit_code == 0 and "cached" in result.output
