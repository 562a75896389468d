"""Time `flask demo` at national scale against a baseline measured in the same run.

The baseline is a plain bulk insert of the same number of rows (entries + persons) with
SQLAlchemy Core, so the printed ratio says how much the demo costs over raw inserting,
whatever the machine's speed. Usage: .venv/bin/python bench/demo_build.py [--db URL]"""
from __future__ import annotations

import argparse
import time

from _setup import bench_app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=None, help="SQLAlchemy URL (default: a temporary SQLite file)")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    with bench_app(args.db) as (_app, tmp):
        from sqlalchemy import func, insert, select

        from extensions import db
        from models import Entry, Person
        from services.demo import build_demo

        demo_times, base_times = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            build_demo(db.session, tmp / "out")
            demo_times.append(time.perf_counter() - t0)
            n_entries = db.session.scalar(select(func.count(Entry.id)))
            n_people = db.session.scalar(select(func.count(Person.id)))
            t0 = time.perf_counter()
            db.session.execute(insert(Person), [{"name": f"基线{i}"} for i in range(n_entries + n_people)])
            db.session.rollback()
            base_times.append(time.perf_counter() - t0)
        d, b = min(demo_times), min(base_times)
        print(f"database            {db.engine.url.get_backend_name()}")
        print(f"rows (entries+ppl)  {n_entries} + {n_people}")
        print(f"demo build          {d:8.2f} s   (best of {args.repeat})")
        print(f"baseline bulk rows  {b:8.2f} s   (same number of rows, Core insert)")
        print(f"ratio demo/baseline {d / b:8.1f}x")


if __name__ == "__main__":
    main()
