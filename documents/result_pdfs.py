"""Result documents as PDF: 获奖名单 (award list), 评分汇总表 (score summary), 评委打分表 (each
judge's own score sheet) and the 成绩排名 ranking list.

The award list, the score summary and the ranking are built from a results snapshot (the
contract shape of services/results.py `snapshot`, which a Publication freezes), so a printed
list always says what was published: pass `Publication.snapshot` for a published version, or
the live `snapshot(...)` for the current computation. The judge sheets come from the ScoreSheet
rows themselves (each judge signs their own marks). Templates get plain values only
(documents/pdf.py); the builders here turn snapshots and rows into those values.

Long tables are laid out in chunks: one fixed-layout `<table>` per `CHUNK` rows with explicit
column widths. WeasyPrint lays out a single huge auto-layout table far more slowly (it measures
every cell of the whole table before placing the first row); bench/ranking_pdf.py measures the
difference side by side.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from documents.pdf import render_pdf

CHUNK = 40                                   # rows per <table> in long lists
PROMOTION_ZH = {"promoted": "晋级", "reserve": "递补"}
STATUS_ZH = {"incomplete": "成绩不完整", "disqualified": "取消资格", "vetoed": "一票否决"}
DROPPED_ZH = {"high": "去掉的最高分", "low": "去掉的最低分"}


def _date_zh(value: str | dt.date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    return f"{value.year}年{value.month}月{value.day}日"


def _chunks(rows: list, size: int = CHUNK) -> list[list]:
    return [rows[i:i + size] for i in range(0, len(rows), size)] or [[]]


def _scope(cat: dict, group: dict) -> str:
    div = group.get("division")
    return cat["name"] + (f" · {div['name']}" if div else "")


def _award_text(row: dict) -> str:
    if row.get("status") not in (None, "ok"):
        return STATUS_ZH.get(row["status"], row["status"])
    text = row["award"]["name"] if row.get("award") else ""
    honours = "、".join(row.get("honours") or [])
    return f"{text}（{honours}）" if text and honours else (text or honours)


def _header(snap: dict, date: str | dt.date | None) -> dict[str, Any]:
    st = snap["stage"]
    return {"programme": st["programme"], "stage": st["name"], "year": st.get("year"),
            "date": _date_zh(date or snap.get("generated_at")), "generated_at": snap.get("generated_at") or ""}


# -- 获奖名单 ----------------------------------------------------------------------------------

def award_list_context(snap: dict, *, date: str | dt.date | None = None, title: str | None = None) -> dict:
    """Per category (× division): award tiers in rank order, each with its winners."""
    sections = []
    for cat in snap["categories"]:
        for group in cat["groups"]:
            tiers: list[dict] = []
            for row in group["rows"]:
                if row.get("status") != "ok" or not row.get("award"):
                    continue
                if not tiers or tiers[-1]["id"] != row["award"]["id"]:
                    tiers.append({"id": row["award"]["id"], "name": row["award"]["name"], "rows": []})
                tiers[-1]["rows"].append({
                    "external_id": row["external_id"], "title": row["title"], "contestant": row["contestant"],
                    "unit": row["unit"], "province": row["province"], "honours": "、".join(row.get("honours") or [])})
            sections.append({"scope": _scope(cat, group), "tiers": tiers,
                             "count": sum(len(t["rows"]) for t in tiers)})
    return {**_header(snap, date), "title": title or "获奖名单", "sections": sections}


def award_list_pdf(snap: dict, **kw) -> bytes:
    return render_pdf("award_list.html", award_list_context(snap, **kw))


# -- 评分汇总表 --------------------------------------------------------------------------------

def score_summary_context(snap: dict, *, date: str | dt.date | None = None) -> dict:
    """One section per category (× division): every entry with every judge's mark (dropped
    marks flagged), penalties, final score, rank and award; signature lines after each."""
    sections = []
    for cat in snap["categories"]:
        for group in cat["groups"]:
            seats: list[str] = []
            for row in group["rows"]:
                for j in row.get("judges") or []:
                    if j["judge"] not in seats:
                        seats.append(j["judge"])
            seats.sort(key=lambda s: (len(s), s))          # 评委2 before 评委10
            rows = []
            for i, row in enumerate(group["rows"], start=1):
                by_seat = {j["judge"]: j for j in row.get("judges") or []}
                marks = [{"raw": by_seat[s]["raw"], "dropped": by_seat[s].get("dropped")} if s in by_seat
                         else {"raw": "", "dropped": None} for s in seats]
                penalties = "；".join(f"{p['title']} −{p['total']}" for p in row.get("penalties") or [])
                rows.append({"no": i, "rank": row["rank"] if row["rank"] is not None else "—",
                             "external_id": row["external_id"], "title": row["title"],
                             "contestant": row["contestant"], "unit": row["unit"], "marks": marks,
                             "penalties": penalties, "score": row["score"] or "—", "award": _award_text(row),
                             "promotion": PROMOTION_ZH.get(row.get("promotion") or "", "")})
            sections.append({"scope": _scope(cat, group), "rubric": cat["rubric"]["title"],
                             "rubric_version": cat["rubric"]["version"], "seats": seats,
                             "chunks": _chunks(rows, 25), "count": len(rows),
                             "any_dropped": any(m["dropped"] for r in rows for m in r["marks"])})
    return {**_header(snap, date), "sections": sections}


def score_summary_pdf(snap: dict, **kw) -> bytes:
    return render_pdf("score_summary.html", score_summary_context(snap, **kw))


# -- 成绩排名 (the long list; the fast path of bench/ranking_pdf.py) ---------------------------
#
# WeasyPrint's cost is per box and per line of text: a 500-row table is ~4,000 cells, each a
# block with its own style, line layout and borders. The ranking is therefore paginated here
# with a fixed line budget per page, and each page's rows are ONE preformatted block set in Noto
# Sans Mono CJK SC: every Chinese character is exactly two half-width cells and every ASCII
# character one, so the columns are aligned by padding with spaces here, and a page is one text
# box of ~50 lines instead of ~400 cells (8 columns of preformatted lines each, as before, took
# ~4,000 line layouts for 500 rows; measured in bench/ranking_pdf.py). The rules under the rows
# are one inline SVG per page. A value too wide for its column is wrapped here and the row takes
# as many lines as its tallest cell. Every page repeats the column header; the page count is
# known before WeasyPrint runs.

# (key, label, width in half-width cells, alignment); with one space between columns the row is
# 104 cells: the page's 175.8 mm of text width at 9.5 pt (a cell is half an em, 1.676 mm).
RANK_COLUMNS = [("rank", "名次", 4, "center"), ("external_id", "编号", 10, "left"), ("title", "作品", 26, "left"),
                ("contestant", "选手", 11, "left"), ("unit", "单位", 17, "left"), ("province", "省份", 8, "left"),
                ("score", "得分", 7, "center"), ("award", "奖项", 14, "left")]
RANK_GAP = 1                                 # cells between two columns
RANK_LINES = {"doc": 44, "section": 48, "page": 50}   # text lines per page: under the title, under a scope, else
RANK_MAX_LINES = 4                           # a value longer than this many lines is cut (…)
RANK_FONT = "Noto Sans Mono CJK SC"
_ADVANCES: dict[str, dict[int, float]] = {}


def _advances() -> dict[int, float]:
    """Code point → advance in half-width cells, read once per process from the monospace font
    (fontconfig finds it): CJK is 2 and ASCII 1 there, but é, α or « are narrower than 2."""
    table = _ADVANCES.get(RANK_FONT)
    if table is None:
        table = {}
        try:
            import subprocess

            from fontTools.ttLib import TTFont
            found = subprocess.run(["fc-match", "-f", "%{file}\t%{index}", RANK_FONT], capture_output=True,
                                   text=True, timeout=10).stdout.split("\t")
            font = TTFont(found[0], fontNumber=int(found[1] or 0), lazy=True)
            if RANK_FONT in font["name"].getDebugName(4):
                cells = font["head"].unitsPerEm / 2
                metrics = font["hmtx"].metrics
                table = {cp: metrics[g][0] / cells for cp, g in font.getBestCmap().items() if g in metrics}
        except Exception:            # no fontconfig or no font: the estimate below
            table = {}
        _ADVANCES[RANK_FONT] = table
    return table


# Measured in the font: the punctuation the lists use, so that the font is read only for rarer letters.
_KNOWN_CELLS = {"·": 2.0, "…": 2.0, "—": 1.788, "“": 2.0, "”": 2.0, "‘": 2.0, "’": 2.0, "×": 2.0, "°": 0.74}


def _cells(ch: str) -> float:
    """Half-width cells `ch` takes in the ranking's monospace font."""
    if " " <= ch <= "~":
        return 1.0
    import unicodedata
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 2.0
    known = _KNOWN_CELLS.get(ch)
    if known is not None:
        return known
    adv = _advances().get(ord(ch))
    if adv is not None:
        return adv
    return 2.0 if unicodedata.east_asian_width(ch) == "A" else 1.2


_NO_LINE_START = set("、，。．：；！？）》」』】〕…·,.:;!?)]}%")
_NO_LINE_END = set("（《「『【〔([{")


def _wrap(text: str, width: int) -> list[str]:
    """`text` as lines of at most `width` cells (CJK breaks anywhere; Latin at a space when
    there is one), at most RANK_MAX_LINES."""
    lines, cur, w = [], "", 0.0
    for ch in text:
        cw = _cells(ch)
        if cur and w + cw > width:
            cut = cur.rfind(" ")
            if ch != " " and cut > len(cur) // 2:
                lines.append(cur[:cut])
                cur = cur[cut + 1:]
                w = sum(map(_cells, cur))
            elif ch in _NO_LINE_START and len(cur) > 1:     # 、。） never open a line: take a character down
                lines.append(cur[:-1])
                cur = cur[-1]
                w = _cells(cur)
            elif cur[-1] in _NO_LINE_END and len(cur) > 1:  # （《 never close one
                lines.append(cur[:-1])
                cur = cur[-1]
                w = _cells(cur)
            else:
                lines.append(cur)
                cur, w = "", 0.0
            if ch == " ":
                continue
        cur += ch
        w += cw
    lines.append(cur)
    if len(lines) > RANK_MAX_LINES:
        lines = lines[:RANK_MAX_LINES]
        last = lines[-1]
        while last and sum(map(_cells, last)) + 2 > width:
            last = last[:-1]
        lines[-1] = last + "…"
    return lines


def _pad(text: str, width: int, align: str) -> str:
    """`text` padded with spaces to `width` cells; a value with narrower letters (é, α) lands
    within half a cell of the column's edge."""
    room = max(0, round(width - sum(map(_cells, text))))
    left = room // 2 if align == "center" else room if align == "right" else 0
    return " " * left + text + " " * (room - left)


def _line(values: list[str], columns: list[tuple] = RANK_COLUMNS) -> str:
    gap = " " * RANK_GAP
    return gap.join(_pad(v, w, a) for v, (_, _, w, a) in zip(values, columns)).rstrip()


RANK_ID_CELLS = (6, 16)                      # the 编号 column's narrowest and widest


def _columns(sections: list[dict]) -> list[tuple]:
    """RANK_COLUMNS with the 编号 column as wide as the longest number (within RANK_ID_CELLS)
    and the 作品 column taking the difference, so an organiser's "2024-12-EX-011" stays on
    one line instead of doubling every row's height."""
    ids = [str(r["external_id"]) for sec in sections for r in sec["rows"]]
    want = max((round(sum(map(_cells, x))) for x in ids), default=RANK_ID_CELLS[0])
    want = min(max(want, RANK_ID_CELLS[0]), RANK_ID_CELLS[1])
    base = {k: w for k, _, w, _ in RANK_COLUMNS}
    widths = {"external_id": want, "title": base["title"] + base["external_id"] - want}
    return [(k, label, widths.get(k, w), a) for k, label, w, a in RANK_COLUMNS]


def ranking_rows(snap: dict) -> list[dict]:
    """The ranking's sections: scope, count and the rows as plain values."""
    sections = []
    for cat in snap["categories"]:
        for group in cat["groups"]:
            award = [_award_text(r) for r in group["rows"]]
            rows = [{"rank": r["rank"] if r["rank"] is not None else "—", "external_id": r["external_id"],
                     "title": r["title"], "contestant": r["contestant"], "unit": r["unit"],
                     "province": r["province"], "score": r["score"] or "—",
                     "award": a + (f" · {PROMOTION_ZH[r['promotion']]}" if r.get("promotion") in PROMOTION_ZH else ""),
                     "entry_id": r.get("entry_id")}
                    for r, a in zip(group["rows"], award)]
            sections.append({"scope": _scope(cat, group), "count": len(rows), "rows": rows})
    return sections


def _rule_offsets(heights: list[int]) -> list[int]:
    """Where the rules under the rows fall, in 0.1 mm from the top of the header row (5.4 mm),
    rows 5 mm a line: drawn as one inline SVG per page, not one block per row."""
    out, y = [], 54
    for h in heights[:-1]:              # the last row sits on the frame's bottom border
        y += h * 50
        out.append(y)
    return out


def ranking_context(snap: dict, *, date: str | dt.date | None = None) -> dict:
    """Pages of the ranking: each with its scope heading (on a section's first page) and its
    rows as aligned preformatted lines (module notes above)."""
    pages: list[dict] = []
    sections = ranking_rows(snap)
    columns = _columns(sections)
    for si, sec in enumerate(sections):
        page = None
        for row in sec["rows"] or [None]:
            cells = [_wrap(str(row[key]), w) for key, _, w, _ in columns] if row else []
            height = max(map(len, cells), default=1)
            if page is None or page["lines"] + height > page["budget"]:
                first = page is None
                budget = RANK_LINES["doc" if first and si == 0 else "section" if first else "page"]
                page = {"scope": sec["scope"], "count": sec["count"], "heading": first, "new_section": first and si > 0,
                        "budget": budget, "lines": 0, "rows": 0, "heights": [], "text": []}
                pages.append(page)
            if row is None:
                continue
            for k in range(height):
                page["text"].append(_line([c[k] if k < len(c) else "" for c in cells], columns))
            page["lines"] += height
            page["rows"] += 1
            page["heights"].append(height)
    from documents.pdf import _gettext
    head = _line([_gettext(label) for _, label, _, _ in columns], columns)
    return {**_header(snap, date), "head": head,
            "pages": [{"scope": p["scope"], "count": p["count"], "heading": p["heading"],
                       "new_section": p["new_section"], "rows": p["rows"], "lines": p["lines"],
                       "rules": _rule_offsets(p["heights"]), "text": "\n".join(p["text"])} for p in pages]}


# The page count is known before WeasyPrint runs, so a long ranking is laid out in chunks of
# consecutive pages, each its own WeasyPrint document (`ranking_chunk_pdf`): the first chunk in
# this process, the others at the same time in worker processes forked from multiprocessing's
# fork server (as the certificates' batch, services/certificates.py), and the chunks' PDFs are
# joined with pypdf. Each chunk numbers its pages from where it starts (`page_start`, the
# footer's total is the whole ranking's `page_total`) and carries the title and meta strings for
# the running header. Each chunk subsets the CJK font for itself, so the joined PDF is larger
# than the single document (bench/ranking_pdf.py prints both sizes).
# `RANKING_PDF_WORKERS` (app config; -1: the CPUs this process may use) is the number of chunks;
# 0 or 1 (the default: on the shared, loaded 2-CPU bench machine the parallel path was no faster,
# bench/ranking_pdf.py) lays the whole ranking out as one document in this process, and so does
# any ranking shorter than RANK_PARALLEL_MIN_PAGES or a pool that cannot be started.

RANK_PARALLEL_MIN_PAGES = 3
_RANK_POOL: dict[str, Any] = {}              # the worker pool, kept for the process: {"pool", "workers"}


def ranking_workers() -> int:
    """Chunks (processes, this one included) for a long ranking: `RANKING_PDF_WORKERS` from the
    app config when there is an app (-1: the CPUs this process may use), else 0 (in-process)."""
    import os
    workers = None
    try:
        from flask import current_app, has_app_context
        if has_app_context():
            workers = current_app.config.get("RANKING_PDF_WORKERS")
    except ImportError:                                  # pragma: no cover
        pass
    if workers is None:
        workers = 0
    elif int(workers) < 0:                               # -1: the CPUs this process may use
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, int(workers))


def _html_pdf(html: str) -> bytes:
    from weasyprint import CSS, HTML

    from documents.pdf import FONT_DIR, TEMPLATE_DIR, url_fetcher
    fetcher = url_fetcher()
    css = CSS(string=(TEMPLATE_DIR / "base.css").read_text(encoding="utf-8"), url_fetcher=fetcher)
    return HTML(string=html, base_url=FONT_DIR.as_uri() + "/", url_fetcher=fetcher).write_pdf(stylesheets=[css])


def ranking_chunk_pdf(html: str) -> bytes:
    """Lay out and write one chunk of the ranking (HTML rendered by the caller, so the request's
    translations apply). Picklable in and out; touches nothing else (worker processes)."""
    return _html_pdf(html)


def _rank_pool(workers: int):
    """A process pool of `workers` processes, started once per application process and reused
    (a fresh pool per document would pay the workers' font loading every time)."""
    pool = _RANK_POOL.get("pool")
    if pool is not None and _RANK_POOL.get("workers") == workers:
        return pool
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["weasyprint", "pypdf", "documents.result_pdfs"])   # no-op if already started
    pool = ProcessPoolExecutor(workers, mp_context=ctx)
    _RANK_POOL.update(pool=pool, workers=workers)
    return pool


def shutdown_ranking_pool() -> None:
    pool = _RANK_POOL.pop("pool", None)
    _RANK_POOL.pop("workers", None)
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def _split_pages(pages: list, n: int) -> list[list]:
    """`pages` as `n` runs of consecutive pages, weighted by their text lines."""
    total = sum(p["lines"] + 4 for p in pages) or 1
    out, cur, acc = [], [], 0.0
    for p in pages:
        cur.append(p)
        acc += p["lines"] + 4
        if len(out) < n - 1 and acc >= total * (len(out) + 1) / n:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def _css_escape(text: str) -> str:
    """`text` for the inside of a double-quoted CSS string in a template: letters and digits as
    they are, everything else as a 6-digit CSS escape (nothing left for HTML escaping to touch)."""
    return "".join(c if c.isalnum() else f"\\{ord(c):06x}" for c in text)


def ranking_pdf(snap: dict, *, workers: int | None = None, **kw) -> bytes:
    """The ranking as one PDF: laid out in `workers` chunks of pages at the same time (default
    `ranking_workers()`), or as one document in this process (see the notes above)."""
    from documents.pdf import render_html
    ctx = ranking_context(snap, **kw)
    pages = ctx["pages"]
    workers = ranking_workers() if workers is None else workers
    if workers <= 1 or len(pages) < RANK_PARALLEL_MIN_PAGES:
        return render_pdf("ranking.html", ctx)
    chunks = _split_pages(pages, min(workers, len(pages)))
    from documents.pdf import _gettext
    header = {"css_title": _css_escape(ctx["programme"] + ctx["stage"] + _gettext("成绩排名")),
              "css_meta": _css_escape(f"{ctx['programme']} · {ctx['stage']} · {ctx['date']}")}
    htmls, start = [], 1
    for chunk in chunks:
        htmls.append(render_html("ranking.html", {**ctx, **header, "pages": chunk, "page_start": start,
                                                  "page_total": len(pages)}))
        start += len(chunk)
    try:
        pool = _rank_pool(len(htmls) - 1)
        futures = [pool.submit(ranking_chunk_pdf, html) for html in htmls[1:]]
    except Exception:                                    # no pool here (e.g. no fork server): one process
        shutdown_ranking_pool()
        return render_pdf("ranking.html", ctx)
    first = ranking_chunk_pdf(htmls[0])
    try:
        rest = [f.result() for f in futures]
    except Exception:                                    # a worker died: the rest in this process
        shutdown_ranking_pool()
        rest = [ranking_chunk_pdf(html) for html in htmls[1:]]
    from documents.certificates import join_pdfs
    return join_pdfs([first, *rest])


# -- 评委打分表 --------------------------------------------------------------------------------

def judge_sheets_data(session, stage, *, category_id: int | None = None) -> dict:
    """Every judge's own sheets of a stage as plain values: one section per judge × category
    (criteria columns from the rubric the sheet was scored on), in running order."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from models import Entry, Judge, ScoreSheet
    from services.sheets import stage_rubric

    q = (select(ScoreSheet).where(ScoreSheet.stage_id == stage.id)
         .options(selectinload(ScoreSheet.entry).selectinload(Entry.category),
                  selectinload(ScoreSheet.judge).selectinload(Judge.person)))
    sheets = list(session.scalars(q))
    if category_id is not None:
        sheets = [s for s in sheets if s.entry.category_id == category_id]
    rubrics: dict[int, Any] = {}
    judges: dict[int, dict] = {}
    for s in sorted(sheets, key=lambda s: (s.judge.external_id, s.entry.category.sort, s.entry.category_id,
                                          s.entry.division_id or 0, s.entry.draw_number or 10**6,
                                          s.entry.external_id)):
        e = s.entry
        if e.category_id not in rubrics:
            rubrics[e.category_id] = stage_rubric(stage, e.category_id)
        rubric = rubrics[e.category_id]
        j = judges.get(s.judge_id)
        if j is None:
            j = judges[s.judge_id] = {"external_id": s.judge.external_id, "name": s.judge.person.name,
                                      "unit": s.judge.unit.name if getattr(s.judge, "unit", None) else "",
                                      "groups": []}
        if not j["groups"] or j["groups"][-1]["category_id"] != e.category_id:
            crit = [{"id": c.id, "title": c.title.zh, "max": _num(c.max)} for c in rubric.judged_criteria]
            j["groups"].append({"category_id": e.category_id, "category": e.category.name,
                                "rubric": rubric.title.zh, "rubric_version": rubric.version,
                                "max_total": _num(rubric.max_total), "criteria": crit, "rows": []})
        g = j["groups"][-1]
        scores = s.scores or {}
        anonymous = bool(stage.anonymous)
        g["rows"].append({
            "draw": e.draw_number or "", "code": (e.anonymous_code or "") if anonymous else e.external_id,
            "title": e.title, "contestant": "" if anonymous else e.contestant_name,
            "marks": [scores.get(c["id"], "") for c in g["criteria"]], "total": s.total or "",
            "comment": s.comment or "", "status": {"draft": "草稿", "submitted": "已提交",
                                                    "locked": "已锁定"}.get(s.status.value, s.status.value),
            "submitted_at": s.submitted_at.strftime("%Y-%m-%d %H:%M") if s.submitted_at else ""})
    prog = stage.programme
    return {"programme": prog.name, "stage": stage.name, "anonymous": bool(stage.anonymous),
            "date": _date_zh(dt.date.today()), "judges": list(judges.values())}


def _num(value) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def judge_sheets_pdf(data: dict) -> bytes:
    return render_pdf("judge_sheets.html", data)


def filename(snap_or_data: dict, kind: str, ext: str, scope: str | None = None) -> str:
    st = snap_or_data.get("stage")
    if isinstance(st, dict):
        parts = [st["programme"], st["name"]]
    else:
        parts = [snap_or_data["programme"], snap_or_data["stage"]]
    parts += ([scope] if scope else []) + [kind]
    return re.sub(r'[\\/:*?"<>|\s]', "", "-".join(parts)) + "." + ext
