"""评委卡 and token management: organisers issue (and re-issue) cards per judge or for the whole
stage as a PDF made in the same request, revoke one; the PDF carries names, PINs and a QR code
that encodes the login link (checked on the rasterised page, module by module)."""
from __future__ import annotations

import io
import re
import subprocess
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from documents import judge_cards as jc
from extensions import db
from models import JudgeToken, Stage
from models.base import as_utc, utcnow
from services import judge_access as ja
from tests.conftest import csrf_from, login, make_user
from tests.web.test_judge_access import build_world, text


@pytest.fixture
def world(app, competition):
    return build_world(competition)


def tokens_url(w, stage=None) -> str:
    return f"/admin/programmes/{w.prog.id}/stages/{(stage or w.regional).id}/tokens"


def csrf(client) -> str:
    return csrf_from(text(client.get("/", follow_redirects=True)))


@pytest.fixture
def fixed_tokens(monkeypatch):
    """Plain tokens in issue order, so the test knows the login URLs the QR codes must carry."""
    issued: list[str] = []

    def token_urlsafe(n=None):
        issued.append(f"card-token-{len(issued) + 1:04d}-" + "x" * 16)
        return issued[-1]

    import models.accounts
    monkeypatch.setattr(models.accounts.secrets, "token_urlsafe", token_urlsafe)
    return issued


def pdf_text(body: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=body, capture_output=True, check=True).stdout.decode()


PIN_RE = re.compile(r"(?<![\d:])(\d{4}) (\d{4})(?!\d)")


# -- reading the QR code back off the printed page ----------------------------------------------

DPI = 254          # 10 pixels per millimetre
MM = DPI / 25.4


def page_image(body: bytes, page: int = 1) -> Image.Image:
    png = subprocess.run(["pdftoppm", "-r", str(DPI), "-gray", "-png", "-f", str(page), "-l", str(page), "-"],
                         input=body, capture_output=True, check=True).stdout
    return Image.open(io.BytesIO(png)).convert("L")


def _runs(flags: list[bool], max_gap: int) -> list[tuple[int, int]]:
    runs: list[list[int]] = []
    for i, dark in enumerate(flags):
        if dark:
            if runs and i - runs[-1][1] <= max_gap:
                runs[-1][1] = i
            else:
                runs.append([i, i])
    return [(a, b) for a, b in runs]


def read_qr(img: Image.Image, col: int, row: int, size: int) -> list[list[int]]:
    """The module matrix of the `size` × `size` QR code on card (col, row), sampled at each
    module's centre. The code is the tallest block of dark rows in the card's left 40 mm (page
    margin 10 mm, cards 95 × 69.25 mm, the code 4 mm in, the text column from 43 mm)."""
    return qr_box(img, col, row, size)[0]


def qr_box(img: Image.Image, col: int, row: int, size: int) -> tuple[list[list[int]], float]:
    """`read_qr` and the code's printed width in millimetres."""
    x0, x1 = int((10 + 95 * col + 2) * MM), int((10 + 95 * col + 42) * MM)
    y0, y1 = int((10 + 69.25 * row + 1) * MM), int((10 + 69.25 * (row + 1) - 1) * MM)
    px = img.load()
    dark_rows = [any(px[x, y] < 128 for x in range(x0, x1, 2)) for y in range(y0, y1)]
    top, bottom = max(_runs(dark_rows, 3), key=lambda r: r[1] - r[0])
    top, bottom = top + y0, bottom + y0
    dark_cols = [any(px[x, y] < 128 for y in range(top, bottom + 1, 2)) for x in range(x0, x1)]
    left, right = max(_runs(dark_cols, 3), key=lambda r: r[1] - r[0])
    left, right = left + x0, right + x0
    step_x, step_y = (right - left + 1) / size, (bottom - top + 1) / size
    assert 0.8 * MM < step_x < 1.2 * MM and abs(step_x - step_y) < 0.05 * MM   # square, ~1 mm modules
    cells = [[int(px[int(left + (c + .5) * step_x), int(top + (r + .5) * step_y)] < 128) for c in range(size)]
             for r in range(size)]
    return cells, (right - left + 1) / MM


def matrix_of(url: str) -> list[list[int]]:
    return [[int(bool(v)) for v in row] for row in jc.qr_code(url).matrix]


def svg_matrix(svg: str) -> list[list[int]]:
    """Decode segno's run-length SVG path (``M x y h n m dx dy ...``, one stroke per dark run,
    y at the module's centre line) back into modules, inside the quiet zone."""
    size = int(re.search(r'viewBox="0 0 (\d+) ', svg).group(1)) - 2 * jc.QR_BORDER
    cells = [[0] * size for _ in range(size)]
    x = y = 0.0
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", re.search(r' d="([^"]+)"', svg).group(1)):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            for i in range(int(float(a))):
                cells[int(y - .5) - jc.QR_BORDER][int(x) + i - jc.QR_BORDER] = 1
            x += float(a)
    return cells


# -- the organiser's page ---------------------------------------------------------------------

def test_stage_page_links_to_the_cards(org_client, world):
    body = text(org_client.get(f"/admin/programmes/{world.prog.id}/stages/{world.regional.id}"))
    assert tokens_url(world) in body and "评委卡" in body


def test_token_page_lists_the_stage_judges_and_their_states(org_client, world):
    world.other_token.expires_at = utcnow() - timedelta(days=1)
    db.session.commit()
    body = text(org_client.get(tokens_url(world)))
    states = dict(re.findall(r'data-judge="(\d+)" data-state="(\w+)"', body))
    assert states == {str(world.judge.id): "active", str(world.other_judge.id): "expired"}
    assert "张评委" in body and "李评委" in body and "赵评委" not in body     # 赵评委 sits on no panel here
    assert "有效至" in body and "已于" in body and "贵州赛区评委组" in body
    assert world.plain not in body                                         # secrets never listed

    world.other_token.revoked_at = utcnow()
    db.session.commit()
    prelim = text(org_client.get(tokens_url(world, world.prelim)))
    states = dict(re.findall(r'data-judge="(\d+)" data-state="(\w+)"', prelim))
    # the review design: reviewers with assignments; 李评委 never had a card for it
    assert states == {str(world.judge.id): "active", str(world.other_judge.id): "none"}
    assert "未发放" in prelim
    body = text(org_client.get(tokens_url(world)))
    assert f'data-judge="{world.other_judge.id}" data-state="revoked"' in body and "已停用" in body


ENDPOINTS = [
    ("get", "{base}"),
    ("post", "{base}/cards"),
    ("post", "{base}/judges/{judge}/card"),
    ("post", "{base}/{token}/revoke"),
]


@pytest.mark.parametrize("role", ["oversight", "chief", "judge", "unit_contact"])
@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_only_organisers_reach_the_token_pages(client, world, role, method, path):
    make_user(role, f"{role}-1", **({"unit_id": world.units["gz"].id} if role == "unit_contact" else {}))
    assert login(client, f"{role}-1").status_code == 302
    url = path.format(base=tokens_url(world), judge=world.judge.id, token=world.token.id)
    data = {"csrf_token": csrf(client), "days": "5"}
    resp = client.get(url) if method == "get" else client.post(url, data=data)
    assert resp.status_code == 403
    assert db.session.get(JudgeToken, world.token.id).revoked_at is None
    assert db.session.scalar(select(db.func.count(JudgeToken.id))) == 3


@pytest.mark.parametrize("who", ["judge token", "anonymous"])
@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_judges_and_strangers_are_sent_to_the_login(client, world, who, method, path):
    if who == "judge token":
        client.get(f"/j/{world.plain}")          # a judge's token session is not an organiser login
    url = path.format(base=tokens_url(world), judge=world.judge.id, token=world.token.id)
    token = csrf_from(text(client.get("/j/pin")))
    resp = client.get(url) if method == "get" else client.post(url, data={"csrf_token": token, "days": "5"})
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert db.session.get(JudgeToken, world.token.id).revoked_at is None


# -- issuing cards ----------------------------------------------------------------------------

def test_cards_for_the_whole_stage(org_client, app, world, fixed_tokens):
    old = {world.token.id, world.other_token.id}
    resp = org_client.post(f"{tokens_url(world)}/cards", data={"csrf_token": csrf(org_client), "days": "10"})
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert "attachment" in resp.headers["Content-Disposition"]
    body = resp.get_data()
    assert body.startswith(b"%PDF-")

    # the text: who, where, the PIN page, the expiry; the PINs in large digits
    words = pdf_text(body)
    for expected in ("张评委", "李评委", "J0005", "贵州省科技馆", world.prog.name, world.regional.name, "评委卡",
                     "http://127.0.0.1:5000/j/pin", "有效期至", "北京时间", "扫描二维码"):
        assert expected in words, expected
    assert "赵评委" not in words
    pins = ["".join(m) for m in PIN_RE.findall(words)]
    assert len(pins) == 2

    # old cards are revoked, the new ones hold exactly the printed PINs
    db.session.expire_all()
    assert all(db.session.get(JudgeToken, i).revoked_at is not None for i in old)
    new = db.session.scalars(select(JudgeToken).where(JudgeToken.stage_id == world.regional.id,
                                                      JudgeToken.revoked_at.is_(None))
                             .order_by(JudgeToken.id)).all()
    assert [t.judge_id for t in new] == [world.judge.id, world.other_judge.id]   # card order: external id
    assert {t.pin_hash for t in new} == {ja.hash_pin(p) for p in pins}
    assert all(timedelta(days=9) < as_utc(t.expires_at) - utcnow() <= timedelta(days=10) for t in new)
    assert db.session.get(JudgeToken, world.prelim_token.id).revoked_at is None  # other stage untouched

    # the QR codes on the page are the login links of the new tokens
    base = app.config["PUBLIC_BASE_URL"]
    urls = [f"{base}/j/{plain}" for plain in fixed_tokens]
    img = page_image(body)
    for col, url in enumerate(urls):
        size = jc.qr_code(url).symbol_size(border=0)[0]
        assert read_qr(img, col, 0, size) == matrix_of(url)
    assert read_qr(img, 1, 0, size) != matrix_of(urls[0])                 # the check can tell them apart

    # both ways in work for the new cards, and the old ones are refused
    judge = app.test_client()
    assert judge.get(f"/j/{world.plain}").status_code == 403
    assert judge.get(urls[0].removeprefix(base)).status_code == 302
    for pin, token in zip(pins, new):
        page = judge.get("/j/pin")
        resp = judge.post("/j/pin", data={"csrf_token": csrf_from(text(page)), "pin": f"{pin[:4]} {pin[4:]}"})
        assert resp.status_code == 302
        with judge.session_transaction() as s:
            assert s["judge_token_id"] == token.id


def test_card_for_one_judge_reissues_only_theirs(org_client, world, fixed_tokens):
    resp = org_client.post(f"{tokens_url(world)}/judges/{world.other_judge.id}/card",
                           data={"csrf_token": csrf(org_client), "days": "3"})
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert "李评委" in resp.headers["Content-Disposition"] or "filename*" in resp.headers["Content-Disposition"]
    words = pdf_text(resp.get_data())
    assert "李评委" in words and "张评委" not in words
    assert len(PIN_RE.findall(words)) == 1
    db.session.expire_all()
    assert db.session.get(JudgeToken, world.other_token.id).revoked_at is not None
    assert db.session.get(JudgeToken, world.token.id).revoked_at is None
    body = text(org_client.get(tokens_url(world)))
    assert f'data-judge="{world.other_judge.id}" data-state="active"' in body and "已发放 2 次" in body


@pytest.mark.parametrize("case", ["outsider", "unknown judge"])
def test_cards_only_for_the_stage_judges(org_client, world, case):
    judge_id = world.outsider.id if case == "outsider" else 999999
    resp = org_client.post(f"{tokens_url(world)}/judges/{judge_id}/card",
                           data={"csrf_token": csrf(org_client), "days": "3"})
    assert resp.status_code == 404


@pytest.mark.parametrize("days", ["0", "367", "", "abc"])
def test_bad_validity_issues_nothing(org_client, world, days):
    resp = org_client.post(f"{tokens_url(world)}/cards", data={"csrf_token": csrf(org_client), "days": days})
    assert resp.status_code == 302
    assert db.session.scalar(select(db.func.count(JudgeToken.id))) == 3
    assert db.session.get(JudgeToken, world.token.id).revoked_at is None
    assert "有效天数" in text(org_client.get(resp.headers["Location"]))


def test_a_stage_without_judges_gets_a_message(org_client, world):
    final = db.session.scalars(select(Stage).where(Stage.programme_id == world.prog.id)
                               .order_by(Stage.seq)).all()[-1]
    resp = org_client.post(f"{tokens_url(world, final)}/cards", data={"csrf_token": csrf(org_client), "days": "3"})
    assert resp.status_code == 302
    assert "还没有评委" in text(org_client.get(resp.headers["Location"]))


def test_a_failed_pdf_leaves_the_old_cards_working(org_client, world, monkeypatch):
    import blueprints.admin.tokens as tokens

    def broken(cards, *, title):
        raise RuntimeError("no fonts")
    monkeypatch.setattr(tokens, "judge_cards_pdf", broken)
    token = csrf(org_client)
    with pytest.raises(RuntimeError):
        org_client.post(f"{tokens_url(world)}/cards", data={"csrf_token": token, "days": "3"})
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count(JudgeToken.id))) == 3
    assert db.session.get(JudgeToken, world.token.id).revoked_at is None


def test_too_many_cards_for_one_request(org_client, world, monkeypatch):
    import blueprints.admin.tokens as tokens
    monkeypatch.setattr(tokens, "MAX_CARDS", 1)
    assert "逐位发放" in text(org_client.get(tokens_url(world)))
    resp = org_client.post(f"{tokens_url(world)}/cards", data={"csrf_token": csrf(org_client), "days": "3"})
    assert resp.status_code == 302
    assert "一次最多生成 1 张" in text(org_client.get(resp.headers["Location"]))
    assert db.session.scalar(select(db.func.count(JudgeToken.id))) == 3


def test_revoke_one(org_client, app, world):
    resp = org_client.post(f"{tokens_url(world)}/{world.other_token.id}/revoke", data={"csrf_token": csrf(org_client)})
    assert resp.status_code == 302
    assert "已停用" in text(org_client.get(resp.headers["Location"]))
    db.session.expire_all()
    assert db.session.get(JudgeToken, world.other_token.id).revoked_at is not None
    assert db.session.get(JudgeToken, world.token.id).revoked_at is None
    assert app.test_client().get(f"/j/{world.other_plain}").status_code == 403
    # a token of another stage is not this page's to revoke
    resp = org_client.post(f"{tokens_url(world)}/{world.prelim_token.id}/revoke", data={"csrf_token": csrf(org_client)})
    assert resp.status_code == 404


# -- the document itself ----------------------------------------------------------------------

def _cards(n: int) -> list[dict]:
    return [jc.card(programme="2024年全国科技馆辅导员大赛", stage="全国初评", name=f"评委{i:02d}",
                    external_id=f"J{i:04d}", unit="内蒙古自治区科学技术馆", plain=f"tok{i:04d}" + "y" * 28,
                    pin=f"{i:08d}", expires_at=utcnow(), base_url="https://pingshen.example.cn/")
            for i in range(n)]


def test_the_card_embeds_the_qr_of_its_login_url():
    card = _cards(1)[0]
    assert card["url"] == "https://pingshen.example.cn/j/tok0000" + "y" * 28
    assert card["pin_url"] == "https://pingshen.example.cn/j/pin" and card["pin"] == "0000 0000"
    assert svg_matrix(card["qr"]) == matrix_of(card["url"])
    assert svg_matrix(card["qr"]) != matrix_of(card["url"] + "z")


@pytest.mark.parametrize("n,pages", [(0, 0), (1, 1), (8, 1), (9, 2), (17, 3)])
def test_eight_cards_to_an_a4_page_in_cjk_fonts(n, pages):
    body = jc.judge_cards_pdf(_cards(n), title="评委卡")
    info = subprocess.run(["pdfinfo", "-"], input=body, capture_output=True, check=True).stdout.decode()
    assert re.search(r"Page size:\s+595\.\d* x 841\.\d* pts \(A4\)", info)
    assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) == max(pages, 1)
    if n:
        fonts = subprocess.run(["pdffonts", "-"], input=body, capture_output=True, check=True).stdout.decode()
        assert "Noto-Sans-CJK-SC" in fonts
        words = pdf_text(body)
        assert all(f"评委{i:02d}" in words for i in range(n))
        img = page_image(body)
        url = _cards(1)[0]["url"]
        assert read_qr(img, 0, 0, jc.qr_code(url).symbol_size(border=0)[0]) == matrix_of(url)


def test_the_qr_code_is_at_least_25_mm():
    url = _cards(1)[0]["url"]
    img = page_image(jc.judge_cards_pdf(_cards(1), title="评委卡"))
    cells, width = qr_box(img, 0, 0, jc.qr_code(url).symbol_size(border=0)[0])
    assert cells == matrix_of(url)
    assert 28 <= width <= 33          # the symbol without its quiet zone, in millimetres


# -- the demo ----------------------------------------------------------------------------------

def test_demo_tokens_carry_distinct_pins(app, tmp_path):
    from services.demo import build_demo
    build_demo(db.session, tmp_path / "out", seed=7, scale=0.1)
    hashes = db.session.scalars(select(JudgeToken.pin_hash)).all()
    assert hashes and None not in hashes and len(set(hashes)) == len(hashes)
