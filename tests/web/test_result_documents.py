"""Result documents (issue 6, acceptance 5, 6 and the ranking part of 9): 获奖名单, 评分汇总表 and
评委打分表 as PDF (checked with pdftotext) and the two lists as Excel, built from the results
snapshot; organisers and oversight may download them, judges and anonymous visitors may not.

Five judges of test_judge_api's `build_hall` submit through the judge API; the chief confirms
every entry with services.sheets.confirm."""
from __future__ import annotations

import io
import subprocess
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook

from extensions import db
from services import publication as pubsvc
from services import results as res
from services import sheets as svc
from tests.conftest import login, make_user
from tests.web.test_judge_api import FULL, auth, build_hall



def marks(judge: int, entry: int) -> dict:
    """87.5 less half a point per judge seat and two points per entry: E001 > E002 > E003 and
    judge 1 the highest, judge 5 the lowest mark of every entry."""
    out = dict(FULL)
    out["kexuexing"] = FULL["kexuexing"] - 0.5 * judge - 2 * entry
    return out


@pytest.fixture
def hall(app, client, competition):
    h = build_hall(competition)
    for j, (_, plain) in enumerate(h.tokens):
        for e, entry in enumerate(h.entries):
            body = {"scores": marks(j, e), "comment": f"评语{j + 1}", "status": "submitted",
                    "client_request_id": f"r-{j}-{e}"}
            resp = client.put(f"/api/v1/me/sheets/{entry.id}", json=body, headers=auth(plain))
            assert resp.status_code == 201, resp.get_data(as_text=True)
    for entry in h.entries:
        svc.confirm(db.session, entry, h.stage, svc.Actor("评委组长 测试"))
    db.session.commit()
    return h


def text(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF")
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def url(h, tail: str, **args) -> str:
    q = "&".join(f"{k}={v}" for k, v in args.items())
    return f"/admin/programmes/{h.prog.id}/stages/{h.stage.id}/documents/{tail}" + (f"?{q}" if q else "")


def test_the_snapshot_has_dropped_marks(hall):
    snap = res.snapshot(db.session, hall.stage, category_id=hall.category.id)
    row = snap["categories"][0]["groups"][0]["rows"][0]
    assert row["external_id"] == "E001" and row["award"] is not None
    assert [j["dropped"] for j in row["judges"]] == ["high", None, None, None, "low"]


def test_award_list_pdf_and_xlsx(org_client, hall):
    resp = org_client.get(url(hall, "awards.pdf", category=hall.category.id))
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    t = text(resp.data)
    snap = res.snapshot(db.session, hall.stage, category_id=hall.category.id)
    rows = snap["categories"][0]["groups"][0]["rows"]
    for word in ("获奖名单", hall.prog.name, hall.stage.name, "展品辅导", hall.division.name, "序号", "编号", "作品",
                 "选手", "单位", "省份", "E001", "作品1", "选手1", "贵州省科技馆", "贵州省"):
        assert word in t, word
    for r in rows:
        if r["award"]:
            assert r["award"]["name"] in t and r["contestant"] in t
    assert t.index(rows[0]["award"]["name"]) < t.index("选手1")

    wb = load_workbook(io.BytesIO(org_client.get(url(hall, "awards.xlsx", category=hall.category.id)).data))
    ws = wb.worksheets[0]
    assert "获奖名单" in ws["A1"].value and hall.stage.name in ws["A1"].value
    assert "A1:H1" in [str(m) for m in ws.merged_cells.ranges]
    assert [c.value for c in ws[3]] == ["序号", "奖项", "编号", "作品", "选手", "单位", "省份", "备注"]
    assert ws.freeze_panes == "A4" and ws.print_title_rows == "$1:$3"
    assert ws["A4"].value.startswith(rows[0]["award"]["name"])
    assert [c.value for c in ws[5]][:7] == [1, rows[0]["award"]["name"], "E001", "作品1", "选手1", "贵州省科技馆", "贵州省"]
    assert ws.page_setup.orientation == "landscape"


def test_score_summary_pdf_has_every_mark_dropped_ones_and_signature_lines(org_client, hall):
    resp = org_client.get(url(hall, "score-summary.pdf"))
    assert resp.status_code == 200
    t = text(resp.data)
    for word in ("评分汇总表", "评委1", "评委5", "扣分", "最后得分", "名次", "奖项", "E001", "作品1", "选手1",
                 "评委组长（签字）", "监审（签字）", "日期", "去掉的最高分、最低分"):
        assert word in t, word
    snap = res.snapshot(db.session, hall.stage, category_id=hall.category.id)
    first = snap["categories"][0]["groups"][0]["rows"][0]
    high = next(j["raw"] for j in first["judges"] if j["dropped"] == "high")
    low = next(j["raw"] for j in first["judges"] if j["dropped"] == "low")
    assert f"({high})" in t and f"({low})" in t and first["score"] in t
    assert first["award"]["name"] in t


def test_score_summary_xlsx(org_client, hall):
    resp = org_client.get(url(hall, "score-summary.xlsx", category=hall.category.id))
    assert resp.status_code == 200
    ws = load_workbook(io.BytesIO(resp.data)).worksheets[0]
    assert "评分汇总表" in ws["A1"].value
    header = [c.value for c in ws[3]]
    assert header == ["序号", "名次", "编号", "作品", "选手", "单位", "评委1", "评委2", "评委3", "评委4", "评委5",
                      "扣分", "最后得分", "奖项"]
    snap = res.snapshot(db.session, hall.stage, category_id=hall.category.id)
    first = snap["categories"][0]["groups"][0]["rows"][0]
    row = [c.value for c in ws[4]]
    assert row[:6] == [1, 1, "E001", "作品1", "选手1", "贵州省科技馆"]
    assert row[6] == f"({first['judges'][0]['raw']})" and ws["G4"].font.strike
    assert row[7] == float(first["judges"][1]["raw"]) and not ws["H4"].font.strike
    assert row[12] == float(first["score"]) and row[13].startswith(first["award"]["name"])
    values = [c.value for r in ws.iter_rows(min_row=ws.max_row - 1) for c in r]
    assert "评委组长（签字）：" in values and "监审（签字）：" in values and "日期：" in values
    assert ws.freeze_panes == "A4" and ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1


def test_judge_sheets_pdf_one_section_per_judge(org_client, hall):
    resp = org_client.get(url(hall, "judge-sheets.pdf"))
    assert resp.status_code == 200
    t = text(resp.data)
    for word in ("评委打分表", "J001", "J005", "评委（签字）", "合计", "作品1", "评语3"):
        assert word in t, word
    assert t.count("评委（签字）") == 5
    assert "21.5" in t and "20.5" in t      # judges 2 and 4 on 科学性 for E001 (22 less half a point per seat)


def test_documents_from_a_publication_snapshot(org_client, hall):
    pub = pubsvc.create_draft(db.session, hall.stage, category_id=hall.category.id, actor="组织方")
    db.session.commit()
    t = text(org_client.get(url(hall, "awards.pdf", publication=pub.id)).data)
    assert "作品1" in t and "获奖名单" in t
    assert org_client.get(url(hall, "awards.pdf", publication=pub.id + 999)).status_code == 404


def test_the_results_page_links_the_documents(org_client, hall):
    html = org_client.get(f"/admin/programmes/{hall.prog.id}/stages/{hall.stage.id}/results").get_data(as_text=True)
    assert "/documents/awards.pdf" in html and "/documents/score-summary.xlsx" in html and "judge-sheets.pdf" in html
    assert "/documents/ranking.pdf" in html


def test_ranking_pdf_download_lists_every_entry_with_its_score(org_client, hall):
    resp = org_client.get(url(hall, "ranking.pdf"))
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    body = text(resp.data)
    for e in hall.entries:
        assert body.count(e.external_id) == 1
    assert "名次" in body.replace(" ", "") and "第1页/共1页" in body.replace(" ", "")


@pytest.fixture
def others(app):
    return SimpleNamespace(oversight=make_user("oversight", "jianshen"), judge=make_user("judge", "pingwei"))


def test_oversight_may_download_judges_and_anonymous_may_not(app, client, hall, others):
    tails = ["awards.pdf", "awards.xlsx", "score-summary.pdf", "score-summary.xlsx", "judge-sheets.pdf"]
    for tail in tails:
        assert client.get(url(hall, tail)).status_code == 302
    assert login(client, "pingwei").status_code == 302
    for tail in tails:
        assert client.get(url(hall, tail)).status_code == 403
    oversight = app.test_client()
    assert login(oversight, "jianshen").status_code == 302
    for tail in tails:
        assert oversight.get(url(hall, tail)).status_code == 200, tail


def _synthetic_snapshot(n: int) -> dict:
    rows = [{"rank": i + 1, "entry_id": i + 1, "external_id": f"R{i + 1:05d}",
             "title": f"作品标题第{i + 1}号" + ("：一个很长很长的标题需要换行排版才能放下 Long Title" if i % 97 == 5 else ""),
             "contestant": f"选手{i + 1:04d}", "members": [], "unit": f"第{i % 37 + 1}科技馆", "unit_id": i % 37,
             "province": "北京市", "score": f"{95 - i * 0.05:.2f}", "status": "ok",
             "award": {"id": "first", "name": "一等奖"} if i < 50 else None, "honours": [],
             "promotion": "promoted" if i < 20 else None, "reasons": [], "notes": [], "decided_by": None,
             "judges": [], "penalties": []} for i in range(n)]
    return {"stage": {"id": 1, "name": "全国初评", "kind": "preliminary", "programme": "2026年全国科技馆辅导员大赛",
                      "programme_id": 1, "year": 2026}, "generated_at": "2026-11-29T16:40:00+00:00", "method": "rubric",
            "categories": [{"id": 1, "code": "exhibit", "name": "展品辅导", "rubric": {"id": "x", "version": 1, "title": "x"},
                            "groups": [{"division": None, "rows": rows}]}]}


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "two-chunks-in-workers"])
def test_500_row_ranking_pdf_has_every_entry_once_and_a_header_on_each_page(workers):
    import re

    from pypdf import PdfReader

    from documents.result_pdfs import ranking_context, ranking_pdf, shutdown_ranking_pool
    snap = _synthetic_snapshot(500)
    try:
        pdf = ranking_pdf(snap, workers=workers)
    finally:
        shutdown_ranking_pool()
    n_pages = len(PdfReader(io.BytesIO(pdf)).pages)
    assert n_pages == len(ranking_context(snap)["pages"])            # no page overflowed its line budget
    ids = re.findall(r"R\d{5}", text(pdf))
    assert sorted(ids) == [f"R{i:05d}" for i in range(1, 501)]       # every row exactly once
    for k in range(1, n_pages + 1):
        page = subprocess.run(["pdftotext", "-layout", "-f", str(k), "-l", str(k), "-", "-"], input=pdf,
                              capture_output=True, check=True).stdout.decode()
        assert re.search(r"名次\s+编号\s+作品\s+选手\s+单位\s+省份\s+得分\s+奖项", page), k
        assert f"第 {k} 页 / 共 {n_pages} 页" in page
        assert "2026年全国科技馆辅导员大赛全国初评成绩排名" in page.splitlines()[0]   # running header, every chunk


@pytest.mark.parametrize("text,width,lines", [
    ("作品标题第1号", 26, ["作品标题第1号"]),
    ("张一、李二、王三", 11, ["张一、李", "二、王三"]),                 # 、 never opens a line
    ("新疆维吾尔自治区科学技术馆（新疆科技馆）", 17, ["新疆维吾尔自治区", "科学技术馆（新疆", "科技馆）"]),
    ("北京科技（总馆）", 10, ["北京科技", "（总馆）"]),                   # （ never closes a line
    ("Bernoulli principle demo", 12, ["Bernoulli", "principle", "demo"]),   # Latin breaks at spaces
    ("一二三四五六七八九十一二三四五六七八九十", 4, ["一二", "三四", "五六", "七…"]),   # cut at 4 lines
])
def test_ranking_values_wrap_to_their_column(text, width, lines):
    from documents.result_pdfs import _cells, _wrap
    got = _wrap(text, width)
    assert got == lines
    assert all(sum(map(_cells, line)) <= width for line in got)


def test_ranking_columns_start_at_the_same_cell_on_every_line():
    from documents.result_pdfs import RANK_COLUMNS, RANK_GAP, _cells, _line
    line = _line(["12", "E00012", "会唱歌的鱼洗", "王小明", "贵州省科技馆", "贵州省", "95.00", "一等奖 · 晋级"])
    starts, x = [], 0
    for _, _, w, _ in RANK_COLUMNS:
        starts.append(x)
        x += w + RANK_GAP

    def col(k):          # the text found at column k's start, measured in cells
        pos, i = 0.0, 0
        while pos < starts[k]:
            pos += _cells(line[i])
            i += 1
        return line[i:].lstrip(" ")[:3]
    assert [col(k) for k in (1, 2, 3, 4, 5, 7)] == ["E00", "会唱歌", "王小明", "贵州省", "贵州省", "一等奖"]
    assert sum(map(_cells, line)) <= x - RANK_GAP                       # never wider than the frame


@pytest.mark.parametrize("ids,id_cells,title_cells", [
    (["R00001", "R00002"], 6, 30),                 # short numbers leave room for the title
    (["2024-12-EX-011"], 14, 22),                  # an organiser's long number stays on one line
    (["X" * 40], 16, 20),                          # but never wider than 16 cells
])
def test_ranking_number_column_fits_the_numbers(ids, id_cells, title_cells):
    from documents.result_pdfs import RANK_COLUMNS, _columns
    cols = {k: w for k, _, w, _ in _columns([{"rows": [{"external_id": x} for x in ids]}])}
    assert (cols["external_id"], cols["title"]) == (id_cells, title_cells)
    assert sum(cols.values()) == sum(w for _, _, w, _ in RANK_COLUMNS)      # the row keeps its width
