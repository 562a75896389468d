"""Issue 9.2, a catalogue of bad inputs across the judge API, the chief console, organiser
forms, imports, rubric choice and uploads. Each case: the request, the status expected, a
fragment of the clear message the user gets, and the database checked unchanged (row counts
of every table and a hash of every row) before and after.

Imports and organiser forms answer Post/Redirect/Get (a flash on the page they land on), so
their "status" is the redirect and the message is on the followed page; a refused import
records one rejected ImportBatch (the organiser's log of what was tried) and nothing else."""
from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import pytest
from sqlalchemy import select

from extensions import db
from models import ImportBatch
from tests.conftest import csrf_from, login, make_user
from tests.web.test_chief_console import DATA_CSRF, build_hall, marks
from tests.web.test_imports import xlsx



def _png() -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGBA", (4, 4), (200, 0, 0, 255)).save(buf, "PNG")
    return buf.getvalue()


PNG_1PX = _png()


def snapshot() -> dict[str, tuple[int, str]]:
    """Every table: (row count, sha256 of its rows in primary-key order)."""
    out = {}
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
        digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
        out[table.name] = (len(rows), digest)
    return out


def changed(before: dict, after: dict) -> set[str]:
    return {t for t in before if before[t] != after[t]}


@dataclass
class World:
    h: object
    org: object           # organiser client
    chief: object         # chief judge's tablet session (token)
    chief_csrf: str
    member_plain: str     # a panel member's bearer token
    app: object

    def api_put(self, body=None, *, raw: bytes | str | None = None, content_type="application/json",
                entry=None, headers=None):
        eid = entry if entry is not None else self.h.entries[0].id
        hdrs = {"Authorization": f"Bearer {self.member_plain}", **(headers or {})}
        if raw is not None:
            return self.org.application.test_client().put(f"/api/v1/me/sheets/{eid}", data=raw, headers=hdrs,
                                                          content_type=content_type)
        return self.org.application.test_client().put(f"/api/v1/me/sheets/{eid}", json=body, headers=hdrs)

    def chief_post(self, path: str, body):
        return self.chief.post(f"{self.h.base}{path}", json=body, headers={"X-CSRFToken": self.chief_csrf})

    def form(self, url: str, data: dict, *, files: dict | None = None, page: str | None = None):
        token = csrf_from(self.org.get(page or url).get_data(as_text=True))
        payload = {"csrf_token": token, **data, **(files or {})}
        return self.org.post(url, data=payload, content_type="multipart/form-data")


@pytest.fixture
def world(app, competition):
    h = build_hall(competition)
    make_user("organiser", "org")
    org = app.test_client()
    assert login(org, "org").status_code == 302
    chief = app.test_client()
    assert chief.get(f"/j/{h.chief_plain}").status_code == 302
    page = chief.get(h.base)
    return World(h=h, org=org, chief=chief, chief_csrf=DATA_CSRF.search(page.get_data(as_text=True)).group(1),
                 member_plain=h.member_plain, app=app)


def body(**over):
    b = {"scores": marks(87.5), "comment": "讲解清楚", "status": "submitted", "client_request_id": "bad-1"}
    b.update(over)
    return b


def scores(**over):
    s = marks(87.5)
    s.update(over)
    return s


def units_import(w: World, data: bytes, filename: str = "units.xlsx"):
    url = f"/admin/programmes/{w.h.prog.id}/import/units"
    return w.form(url, {}, files={"file": (io.BytesIO(data), filename)})


def seal(w: World, data: bytes, filename: str = "seal.png"):
    url = f"/admin/programmes/{w.h.prog.id}/certificates/templates/award"
    return w.form(url, {"title": "获奖证书", "wording": "{name} 同志在 {programme} 中荣获 {award}。",
                        "issuer": "中国科学技术馆"}, files={"seal": (io.BytesIO(data), filename)})


def api_field(field: str) -> Callable:
    """The API refused with a field-level error naming `field`, each with a message."""
    def check(resp, text_):
        err = resp.get_json()["error"]
        assert err["message"]
        names = [f["field"] for f in err.get("fields", [])]
        assert field in names, names
        assert all(f["message"] for f in err["fields"])
    return check


UNIT_HEADER = ["单位编号", "单位名称", "所在省份"]
BIG = 70 * 1024

# (id, request, expected status, message fragment, extra check or None, tables allowed to change)
CASES = [
    # -- the judge API: scores ---------------------------------------------------------------
    ("api-score-above-max", lambda w: w.api_put(body(scores=scores(yuyan_yitai=16))), 422, "15",
     api_field("scores.yuyan_yitai"), ()),
    ("api-score-negative", lambda w: w.api_put(body(scores=scores(kexuexing=-1))), 422, "",
     api_field("scores.kexuexing"), ()),
    ("api-score-off-step", lambda w: w.api_put(body(scores=scores(kexuexing=22.3))), 422, "0.5",
     api_field("scores.kexuexing"), ()),
    ("api-score-not-a-number", lambda w: w.api_put(body(scores=scores(kexuexing="很好"))), 422, "",
     api_field("scores.kexuexing"), ()),
    # Python's JSON parser reads the non-standard NaN / Infinity literals: they must not pass as numbers
    ("api-score-nan", lambda w: w.api_put(raw=json.dumps(body(scores=scores(kexuexing=float("nan"))))), 422, "",
     api_field("scores.kexuexing"), ()),
    ("api-score-infinity", lambda w: w.api_put(raw=json.dumps(body(scores=scores(kexuexing=float("inf"))))), 422,
     "", api_field("scores.kexuexing"), ()),
    ("api-score-huge-exponent", lambda w: w.api_put(body(scores=scores(kexuexing="1e999999"))), 422, "",
     api_field("scores.kexuexing"), ()),
    ("api-score-boolean", lambda w: w.api_put(body(scores=scores(kexuexing=True))), 422, "",
     api_field("scores.kexuexing"), ()),
    ("api-score-object", lambda w: w.api_put(body(scores=scores(kexuexing={"v": 1}))), 422, "",
     api_field("scores.kexuexing"), ()),
    ("api-missing-criterion-on-submit",
     lambda w: w.api_put(body(scores={k: v for k, v in marks(87.5).items() if k != "wenda_yingbian"})), 422, "",
     api_field("scores.wenda_yingbian"), ()),
    ("api-unknown-criterion", lambda w: w.api_put(body(scores=scores(charisma=5))), 422, "",
     api_field("scores.charisma"), ()),
    ("api-scores-not-an-object", lambda w: w.api_put(body(scores=[1, 2])), 422, "", api_field("scores"), ()),
    ("api-bad-status", lambda w: w.api_put(body(status="final")), 422, "", api_field("status"), ()),
    ("api-request-id-not-text", lambda w: w.api_put(body(client_request_id=12)), 422, "",
     api_field("client_request_id"), ()),
    ("api-unknown-field", lambda w: w.api_put(body(bonus=3)), 422, "", api_field("bonus"), ()),
    ("api-comment-too-long", lambda w: w.api_put(body(comment="好" * 2001)), 422, "", api_field("comment"), ()),
    ("api-comment-not-text", lambda w: w.api_put(body(comment=["x"])), 422, "", api_field("comment"), ()),
    # -- the judge API: the request itself -------------------------------------------------------
    ("api-malformed-json", lambda w: w.api_put(raw='{"scores": {'), 400, "JSON", None, ()),
    ("api-body-is-a-list", lambda w: w.api_put([body()]), 400, "", None, ()),
    ("api-body-is-a-string", lambda w: w.api_put("scores"), 400, "", None, ()),
    ("api-wrong-content-type", lambda w: w.api_put(raw="scores=1", content_type="application/x-www-form-urlencoded"),
     415, "JSON", None, ()),
    ("api-text-plain", lambda w: w.api_put(raw=json.dumps(body()), content_type="text/plain"), 415, "JSON", None, ()),
    ("api-huge-payload", lambda w: w.api_put(body(comment="好" * BIG)), 413, "过大", None, ()),
    ("api-not-utf8", lambda w: w.api_put(raw=b'{"comment": "\xff\xfe"}'), 400, "JSON", None, ()),
    ("api-entry-id-not-a-number", lambda w: w.api_put(body(), entry="abc"), 404, "找不到", None, ()),
    ("api-entry-id-path-trick", lambda w: w.api_put(body(), entry="..%2F..%2Fadmin"), 404, "不存在", None, ()),
    ("api-entry-id-over-32-bits", lambda w: w.api_put(body(), entry=str(2**31)), 404, "找不到", None, ()),
    ("url-id-over-32-bits", lambda w: w.org.get(f"/admin/programmes/{2**31}"), 404, "页面不存在", None, ()),
    ("api-entry-id-huge", lambda w: w.api_put(body(), entry="9" * 40), 404, "找不到", None, ()),
    ("api-auth-not-bearer", lambda w: w.api_put(body(), headers={"Authorization": "Basic YWJjOmRlZg=="}),
     401, "Bearer", None, ()),
    ("api-token-with-nul", lambda w: w.api_put(body(), headers={"Authorization": "Bearer abc\x00def"}),
     401, "令牌", None, ()),
    # -- the chief console (JSON) ---------------------------------------------------------------
    ("chief-reopen-without-reason", lambda w: w.chief_post(f"/sheets/{_submitted_sheet(w)}/reopen", {}), 422,
     "", None, ()),
    ("chief-record-negative-overtime",
     lambda w: w.chief_post(f"/entries/{w.h.entries[0].id}/record", {"inputs": {"duration_seconds": -5}}), 422, "",
     None, ()),
    ("chief-record-text-overtime",
     lambda w: w.chief_post(f"/entries/{w.h.entries[0].id}/record", {"inputs": {"duration_seconds": "很久"}}), 422,
     "", None, ()),
    ("chief-record-unknown-penalty",
     lambda w: w.chief_post(f"/entries/{w.h.entries[0].id}/record", {"penalties": {"bribery": 5}}), 422, "",
     None, ()),
    ("chief-record-malformed-json",
     lambda w: w.chief.post(f"{w.h.base}/entries/{w.h.entries[0].id}/record", data='{"inputs": {',
                            content_type="application/json", headers={"X-CSRFToken": w.chief_csrf}), 400, "JSON",
     None, ()),
    ("chief-record-form-encoded",
     lambda w: w.chief.post(f"{w.h.base}/entries/{w.h.entries[0].id}/record",
                            data={"inputs": "duration_seconds=600"}, headers={"X-CSRFToken": w.chief_csrf}), 415,
     "JSON", None, ()),
    ("chief-record-body-is-a-list",
     lambda w: w.chief_post(f"/entries/{w.h.entries[0].id}/record", [{"inputs": {}}]), 400, "JSON", None, ()),
    # -- uploads: the certificate seal ------------------------------------------------------------
    ("seal-not-an-image", lambda w: seal(w, b"just some text, not a picture"), 422, "印章图片无法识别", None, ()),
    ("seal-gif", lambda w: seal(w, b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01"
                                   b"\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
                                "seal.gif"), 422, "PNG 或 JPEG", None, ()),
    ("seal-truncated-png", lambda w: seal(w, PNG_1PX[:40]), 422, "印章图片", None, ()),
    ("seal-path-traversal-name", lambda w: seal(w, b"<?php echo 1; ?>", "../../../static/evil.php"), 422,
     "印章图片", None, ()),
    ("seal-over-2mb", lambda w: seal(w, PNG_1PX + b"\x00" * (2 * 1024 * 1024 + 10)), 422, "2 MB", None, ()),
    ("upload-over-the-request-limit", lambda w: units_import(w, b"x" * (9 * 1024 * 1024)), 413, "太大", None, ()),
    # -- imports (Post/Redirect/Get to the batch page; one rejected batch is logged) ----------------
    ("import-broken-xlsx", lambda w: units_import(w, b"PK\x03\x04" + b"\x00" * 200), 302, "导入未执行", None,
     ("import_batch",)),
    ("import-text-renamed-xlsx", lambda w: units_import(w, "单位编号,单位名称\nU1,某馆\n".encode()), 302,
     "导入未执行", None, ("import_batch",)),
    ("import-missing-columns", lambda w: units_import(w, xlsx([["单位编号"], ["U7001"]])), 302, "单位名称", None,
     ("import_batch",)),
    ("import-duplicate-ids", lambda w: units_import(w, xlsx([UNIT_HEADER, ["U7001", "甲馆", "贵州"],
                                                             ["U7001", "乙馆", "贵州"]])), 302, "U7001", None,
     ("import_batch",)),
    # a formula with no cached value (as openpyxl or a script writes it) reads as an empty cell
    ("import-formula-cell", lambda w: units_import(w, xlsx([UNIT_HEADER, ["U7002",
                                                                         '=HYPERLINK("http://evil.example","点我")',
                                                                         "贵州"]])), 302, "单位名称不能为空", None,
     ("import_batch",)),
    ("import-unknown-province", lambda w: units_import(w, xlsx([UNIT_HEADER, ["U7003", "火星馆", "火星"]])), 302,
     "火星", None, ("import_batch",)),
    ("import-path-and-nul-in-name", lambda w: units_import(w, b"garbage", "../../etc/passwd\x00.xlsx"), 302,
     "导入未执行", None, ("import_batch",)),
    # -- organiser forms (flash and redirect) -----------------------------------------------------
    ("form-programme-year-out-of-range",
     lambda w: w.form("/admin/programmes", {"template": "docent_competition", "year": "1900"}, page="/admin/"),
     302, "年", None, ()),
    ("form-programme-year-not-a-number",
     lambda w: w.form("/admin/programmes", {"template": "docent_competition", "year": "二〇二五"}, page="/admin/"),
     302, "年", None, ()),
    ("form-programme-unknown-template",
     lambda w: w.form("/admin/programmes", {"template": "../../etc/passwd", "year": "2025"}, page="/admin/"),
     302, "", None, ()),
    ("form-rubric-unknown",
     lambda w: w.form(f"/admin/programmes/{w.h.prog.id}/stages/{w.h.stage.id}/rubric",
                      {"rb-category_id": str(w.h.category.id), "rb-rubric_ref": "../../../etc/passwd.yaml"},
                      page=f"/admin/programmes/{w.h.prog.id}/stages/{w.h.stage.id}"), 302, "评分标准", None, ()),
]


def _submitted_sheet(w: World) -> int:
    """A sheet the chief could reopen (a reason is what is missing)."""
    from services import sheets as svc
    judge = w.h.judges[1]
    actor = svc.Actor(label="pytest", judge_id=judge.id, device="pytest")
    out = svc.put_sheet(db.session, judge, w.h.stage, w.h.entries[0].id, {"scores": marks(80), "status": "submitted"},
                        actor)
    db.session.commit()
    return out.sheet.id


def test_the_catalogue_is_large_enough():
    names = [c[0] for c in CASES + TRAINING_CASES]
    assert len(names) >= 30 and len(set(names)) == len(names)


def run_case(world, client, case, send):
    """Send, then check status, message and that only the allowed tables changed."""
    name, _send, status, fragment, check, may_change = case
    before = snapshot()
    resp = send(world)
    after = snapshot()
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    if resp.status_code in (301, 302, 303):
        page = client.get(resp.headers["Location"])
        assert page.status_code == 200
        shown = page.get_data(as_text=True)
    elif resp.is_json:
        err = resp.get_json()["error"]
        assert err["message"] and err["code"]
        shown = json.dumps(resp.get_json(), ensure_ascii=False)
    else:
        shown = resp.get_data(as_text=True)
    assert fragment in shown, shown[:2000]
    if check is not None:
        check(resp, shown)
    diff = changed(before, after)
    assert diff <= set(may_change), f"changed: {diff}"
    if "import_batch" in diff:
        assert after["import_batch"][0] == before["import_batch"][0] + 1
        batch = db.session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc())).first()
        assert batch.status != "applied" and batch.rows_created == 0 and batch.rows_updated == 0


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly_and_changes_nothing(world, case):
    send = case[1]
    if case[0] == "chief-reopen-without-reason":
        sheet_id = _submitted_sheet(world)
        send = lambda w: w.chief_post(f"/sheets/{sheet_id}/reopen", {})      # noqa: E731
    run_case(world, world.org, case, send)


# -- teacher training: the marks table and the QR check-in --------------------------------------

@pytest.fixture
def session_world(app):

    from tests.training_world import build_training
    tw = build_training()
    make_user("organiser", "org-training")
    org = app.test_client()
    assert login(org, "org-training").status_code == 302


    return SimpleNamespace(tw=tw, org=org)


def _marks(sw, cells: dict):
    url = f"/training/{sw.tw.prog.id}/marks"
    page = sw.org.get(url).get_data(as_text=True)
    keys = re.findall(r'name="(\d+:[\w-]+)"', page)
    assert keys, "the marks table has no cells"
    first, second = keys[0], keys[-1]
    data = {"csrf_token": csrf_from(page)}
    data.update({first if k == "first" else second: v for k, v in cells.items()})
    return sw.org.post(url, data=data)


def _checkin(sw, code: str):
    return sw.org.application.test_client().get(f"/t/{code}")


TRAINING_CASES = [
    ("marks-above-max", lambda sw: _marks(sw, {"first": "101"}), 422, "超出范围", None, ()),
    ("marks-negative", lambda sw: _marks(sw, {"first": "-3"}), 422, "超出范围", None, ()),
    ("marks-not-a-number", lambda sw: _marks(sw, {"first": "优秀"}), 422, "不是数字", None, ()),
    ("marks-nan", lambda sw: _marks(sw, {"first": "NaN"}), 422, "不是数字", None, ()),
    ("marks-three-decimals", lambda sw: _marks(sw, {"first": "80.125"}), 422, "两位小数", None, ()),
    ("marks-one-good-one-bad-saves-neither", lambda sw: _marks(sw, {"first": "80", "second": "800"}), 422,
     "本次未保存任何分数", None, ()),
    ("checkin-unknown-code", lambda sw: _checkin(sw, "ZZZZZZ"), 404, "签到二维码无效", None, ()),
    ("checkin-path-trick", lambda sw: _checkin(sw, "..%2F..%2Fadmin"), 404, "页面不存在", None, ()),
]


@pytest.mark.parametrize("case", TRAINING_CASES, ids=[c[0] for c in TRAINING_CASES])
def test_bad_training_input_is_refused_clearly_and_changes_nothing(session_world, case):
    run_case(session_world, session_world.org, case, case[1])


def test_ids_over_32_bits_in_query_strings_are_ignored_not_a_500(world, session_world):
    """PostgreSQL ids are 32-bit: a filter id beyond that is treated as absent (no 500)."""
    big = 2**31 + 7
    p, s = world.h.prog.id, world.h.stage.id
    for url in (f"/admin/programmes/{p}/entries?stage={big}&division={big}&category={big}",
                f"/admin/programmes/{p}/stages/{s}/results?category={big}",
                f"/admin/programmes/{p}/stages/{s}/assignment?division={big}&category={big}"):
        assert world.org.get(url).status_code == 200, url
    sw = session_world
    assert sw.org.get(f"/training/{sw.tw.prog.id}/attendance?slot={big}").status_code == 404


def test_script_in_a_comment_is_stored_as_text_and_shown_escaped(world):
    """A comment is free text: `<script>` is accepted and appears escaped wherever it is shown."""
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    resp = world.api_put(body(comment=attack, status="draft", client_request_id="xss-1"))
    assert resp.status_code == 201 and resp.get_json()["comment"] == attack
    for url in (f"/chief/stages/{world.h.stage.id}/audit", world.h.base):
        html = world.org.get(url).get_data(as_text=True)
        assert "<script>alert(" not in html and "<img src=x" not in html
    shown = [world.org.get(u).get_data(as_text=True) for u in (f"/chief/stages/{world.h.stage.id}/audit", world.h.base)]
    assert any("&lt;script&gt;alert(" in html for html in shown)


def test_a_seal_with_a_path_in_its_name_is_stored_under_a_generated_name(world, app):
    """A real PNG named ../../x.png is accepted, but stored under a name the server chose."""
    resp = seal(world, PNG_1PX, "../../../static/x.png")
    assert resp.status_code == 302
    from models import CertificateTemplate
    tpl = db.session.scalars(select(CertificateTemplate)).first()
    assert tpl.seal_path.startswith("uploads/seals/") and ".." not in tpl.seal_path
    assert "x.png" not in tpl.seal_path
