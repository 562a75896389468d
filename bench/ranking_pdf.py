"""A 500-row ranking PDF side by side (issue 6, acceptance 9): the fast layout of
documents/result_pdfs.py `ranking_pdf` (paginated in Python with a line budget per page; each
page's rows ONE preformatted block in Noto Sans Mono CJK SC, columns aligned by padding, rules
one inline SVG) against the naive layout (one auto-layout <table> with every row), both
rendered in the same run from the same synthetic snapshot.

    .venv/bin/python bench/ranking_pdf.py [-n 500] [--repeat 2]

Prints pages, seconds (best of --repeat), rows/s, PDF size and the ratio for the naive layout,
the fast layout in one process and in --workers chunks in parallel. Target: fast ≥ 3× naive.
No database is needed: the documents are built from a snapshot (the contract shape).

Results here (2 CPUs, shared and loaded, so seconds vary a lot; the ratio is what counts):
  before, fixed-layout tables of 40 rows:      naive ~7.1 s (13 pages), fast ~5.5 s (12 pages): 1.3–1.4×
  then, each page one table row whose 8 cells held whole columns as preformatted lines:
    naive 6.7–7.8 s, fast 2.35–3.6 s: 2.1–3.1× — not reliably at the 3× target. A profile showed
    why: ~4,100 line boxes (500 rows × 8 columns), each a Pango layout (get_first_line was called
    13,000 times), plus ~500 rule blocks with inline styles to cascade. Rendering in 2 chunks in
    parallel (RANKING_PDF_WORKERS) did not help on this loaded machine.
  now, a page's rows as one block in the CJK monospace font (500 line boxes) and the rules as one
    SVG per page, 2026-11-29, with six other engineers' test runs on the 2 CPUs:
      load 7.9:  naive 21.16 s (13 pages, 439 KiB), fast 2.88 s (11 pages, 491 KiB): 7.4×;
                 2 chunks 4.15 s (878 KiB): 5.1×
      load 10.8: naive 31.66 s, fast 1.86 s: 17.0×; 2 chunks 4.52 s: 7.0×
    The PDF is larger (the monospace regular and bold subsets beside the sans headings).
    Narrower letters (é, α, «) are measured in the font, so a value with them lands within half
    a cell of its column; CJK and ASCII align exactly.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PROVINCES = ["北京市", "上海市", "广东省", "四川省", "云南省", "贵州省", "浙江省", "江苏省", "湖北省", "陕西省"]
TOPICS = ["神奇的气压", "光的折射与彩虹", "会唱歌的鱼洗", "磁悬浮列车的秘密", "走进量子世界", "恐龙化石里的故事",
          "声音是怎样传播的", "看不见的电磁波", "从伯努利原理说起", "地震来了怎么办"]

NAIVE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"></head><body>
<h1>{{ programme }}{{ stage }}成绩排名</h1><p class="meta">{{ programme }} · {{ stage }} · {{ date }}</p>
{% for s in sections %}<h2>{{ s.scope }}</h2>
<table style="table-layout: auto"><thead><tr><th>名次</th><th>编号</th><th>作品</th><th>选手</th><th>单位</th><th>省份</th><th>得分</th><th>奖项</th></tr></thead>
<tbody>{% for r in s.rows %}<tr><td class="num">{{ r.rank }}</td><td>{{ r.external_id }}</td><td>{{ r.title }}</td>
<td>{{ r.contestant }}</td><td>{{ r.unit }}</td><td>{{ r.province }}</td><td class="num">{{ r.score }}</td><td>{{ r.award }}</td></tr>
{% endfor %}</tbody></table>{% endfor %}</body></html>"""


def snapshot(n: int) -> dict:
    rows = []
    for i in range(n):
        award = {"id": "first", "name": "一等奖"} if i < n * .1 else {"id": "second", "name": "二等奖"} \
            if i < n * .3 else {"id": "third", "name": "三等奖"} if i < n * .6 else None
        prov = PROVINCES[i % len(PROVINCES)]
        rows.append({"rank": i + 1, "entry_id": i + 1, "external_id": f"E{i + 1:05d}",
                     "title": f"{TOPICS[i % len(TOPICS)]}（第{i // len(TOPICS) + 1}讲）", "contestant": f"选手{i + 1:04d}",
                     "members": [], "unit": f"{prov[:2]}第{i % 37 + 1}科技馆", "unit_id": i % 37, "province": prov,
                     "score": f"{95 - i * 0.05:.2f}", "status": "ok", "award": award, "honours": [],
                     "promotion": None, "reasons": [], "notes": [], "decided_by": None, "judges": [], "penalties": []})
    return {"stage": {"id": 1, "name": "全国初评", "kind": "preliminary", "programme": "2026年全国科技馆辅导员大赛",
                      "programme_id": 1, "year": 2026},
            "generated_at": "2026-11-29T16:40:00+00:00", "method": "rubric",
            "categories": [{"id": 1, "code": "exhibit", "name": "展品辅导", "rubric": {"id": "x", "version": 1, "title": "x"},
                            "groups": [{"division": None, "rows": rows}]}]}


def pages(pdf: bytes) -> int:
    from pypdf import PdfReader
    return len(PdfReader(io.BytesIO(pdf)).pages)


def naive_pdf(snap: dict) -> bytes:
    from jinja2 import Template
    from weasyprint import CSS, HTML

    from documents.pdf import FONT_DIR, TEMPLATE_DIR, url_fetcher
    from documents.result_pdfs import _header, ranking_rows
    html = Template(NAIVE, autoescape=True).render(**_header(snap, None), sections=ranking_rows(snap))
    fetcher = url_fetcher()
    css = CSS(string=(TEMPLATE_DIR / "base.css").read_text(encoding="utf-8"), url_fetcher=fetcher)
    return HTML(string=html, base_url=FONT_DIR.as_uri() + "/", url_fetcher=fetcher).write_pdf(stylesheets=[css])


def timed(fn, snap, repeat: int) -> tuple[float, bytes]:
    best, out = float("inf"), b""
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(snap)
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    import functools
    import os
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="chunks of the parallel path (this process + workers−1)")
    args = ap.parse_args()
    from documents.result_pdfs import ranking_pdf, shutdown_ranking_pool
    snap = snapshot(args.n)
    ranking_pdf(snapshot(20), workers=0)                    # warm fonts and caches for every path
    ranking_pdf(snapshot(200), workers=args.workers)        # start the pool and warm its workers
    load = os.getloadavg()[0]
    naive_s, naive = timed(naive_pdf, snap, args.repeat)
    fast_s, fast = timed(functools.partial(ranking_pdf, workers=0), snap, args.repeat)
    par_s, par = timed(functools.partial(ranking_pdf, workers=args.workers), snap, args.repeat)
    shutdown_ranking_pool()
    print(f"ranking PDF, {args.n} rows (best of {args.repeat}; {os.cpu_count()} CPUs, "
          f"1-min load average before the run: {load:.1f})")
    for name, s, pdf in (("naive (one auto-layout table)      ", naive_s, naive),
                         ("fast, one process                  ", fast_s, fast),
                         (f"fast, {args.workers} chunks in parallel + pypdf", par_s, par)):
        print(f"  {name}: {pages(pdf):3d} pages  {s:6.2f} s  {args.n / s:7.1f} rows/s  {len(pdf) / 1024:6.0f} KiB"
              f"  {naive_s / s:4.1f}×")
    ratio = naive_s / min(fast_s, par_s)
    print(f"  best ratio: {ratio:.1f}× faster (target ≥ 3×) — {'ok' if ratio >= 3 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
