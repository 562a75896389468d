"""Import 2,000 entries (1,200 of them teams of 3) from .xlsx, then re-import the same file,
side by side with a baseline measured in the same run: reading the same workbook with
openpyxl alone (the floor any import pays). Ratios, not absolute times, are the figure to
watch. Usage: .venv/bin/python bench/import_entries.py [--db URL] [--entries N]"""
from __future__ import annotations

import argparse
import io
import time

from _setup import bench_app

HEADER = ["作品编号", "作品名称", "赛项", "分赛区", "单位编号", "选手姓名", "队伍名称", "性别", "联系电话",
          "抽签号", "匿名编号"]
CATS = ["展品辅导", "科学实验", "科普短剧", "科学课程", "展品辅导（科技志愿者组）"]


def workbook(rows) -> bytes:
    from openpyxl import Workbook
    wb = Workbook()
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=None)
    ap.add_argument("--entries", type=int, default=2000)
    args = ap.parse_args()
    with bench_app(args.db) as _:
        from openpyxl import load_workbook

        from extensions import db
        from services.imports import run_import
        from services.programme_templates import create_from_template

        prog = create_from_template(db.session, "docent_competition", 2024)
        db.session.commit()
        codes = ["11", "12", "13", "14", "15", "21", "22", "23", "31", "32"]
        units = [["单位编号", "单位名称", "所在省份"]] + [[f"U{i:04d}", f"第{i}科技馆", codes[i % 10]] for i in range(200)]
        assert run_import(db.session, "units", "u.xlsx", workbook(units), prog).status == "applied"
        rows = [HEADER]
        for i in range(args.entries):
            cat = CATS[i % 5]
            names = "甲、乙、丙" if cat in CATS[1:4] else "甲"
            rows.append([f"E{i:05d}", f"作品{i}", cat, None, f"U{i % 200:04d}", names, None, None, None,
                         None, f"A{i:05d}"])
        data = workbook(rows)
        stage = prog.stages[2]

        t0 = time.perf_counter()
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        n_read = sum(1 for _ in wb.active.iter_rows(values_only=True))
        base = time.perf_counter() - t0
        t0 = time.perf_counter()
        first = run_import(db.session, "entries", "e.xlsx", data, prog, stage=stage)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = run_import(db.session, "entries", "e.xlsx", data, prog, stage=stage)
        t_again = time.perf_counter() - t0
        assert first.status == again.status == "applied", first.errors[:3]
        print(f"database                 {db.engine.url.get_backend_name()}")
        print(f"rows                     {n_read - 1} entries")
        print(f"baseline: openpyxl read  {base:7.2f} s")
        print(f"first import (create)    {t_first:7.2f} s   {t_first / base:6.1f}x baseline")
        print(f"re-import (no change)    {t_again:7.2f} s   {t_again / base:6.1f}x baseline")


if __name__ == "__main__":
    main()
