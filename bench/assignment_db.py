"""Assignment through the database at national scale: the demo programme, then the organiser's
buttons as `services.assignment` runs them (load the stage, solve, verify, write back, record).

(a) Regional round: 1,556 entries, 250 judges, panels per division × category with local
    judges only (`home_division`), and per division (the demo's own shape).
(b) National preliminary review: the demo's 427 entries × its 60-reviewer group, 5 each.
(c) National final: one panel of 9 per category, same-province recusal inside the panel
    (`min_scoring`), since every panel holds entries from most provinces.
(d) Draw by lot for the regional round (31 × 5 groups) and the exports (Excel, PDF).

Each line: seconds end to end, the run's status, and the figures it recorded (panels, loads,
expertise share, violations — 0 by construction: `verify` runs before anything is written).
A baseline in the same run: loading the stage's conflict index alone, the floor under every
button. Usage: .venv/bin/python bench/assignment_db.py [--db URL]
"""
from __future__ import annotations

import argparse
import time

from _setup import bench_app


def promote(session, source, target, n, prefix) -> None:
    """Copy every (len/n)-th active entry of `source` into `target`, as promotion would."""
    from sqlalchemy import select

    from models import Entry
    pool = session.scalars(select(Entry).where(Entry.stage_id == source.id, Entry.status == "active")
                           .order_by(Entry.id)).all()
    step = len(pool) / n
    for k in range(n):
        e = pool[int(k * step)]
        session.add(Entry(stage_id=target.id, category_id=e.category_id, external_id=f"{prefix}{k + 1:04d}",
                          title=e.title, kind=e.kind, person_id=e.person_id, team_id=e.team_id, unit_id=e.unit_id,
                          province_id=e.province_id, division_id=e.division_id, source_entry_id=e.id))
    session.commit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=None, help="SQLAlchemy URL (default: a temporary SQLite file)")
    args = ap.parse_args()
    with bench_app(args.db) as (_app, tmp):
        from sqlalchemy import select

        from documents.panel_exports import panel_list_workbook, schedule_workbook
        from documents.pdf import render_pdf
        from extensions import db
        from models import Programme, ProgrammeKind
        from services import assignment as svc
        from services.conflicts import stage_conflict_index
        from services.demo import build_demo

        build_demo(db.session, tmp / "out")
        prog = db.session.scalars(select(Programme).filter_by(kind=ProgrammeKind.competition)).first()
        regional, prelim, final = prog.stages
        promote(db.session, regional, prelim, 427, "N")      # the demo stops at the regional round
        promote(db.session, prelim, final, 284, "F")

        def timed(label, fn):
            t0 = time.perf_counter()
            out = fn()
            dt = time.perf_counter() - t0
            return label, dt, out

        rows = []
        for stage in (regional, prelim, final):
            rows.append(timed(f"baseline: conflict index ({stage.name})", lambda s=stage: stage_conflict_index(db.session, s)))
        rows.append(timed("(a) regional: division × category, local judges",
                          lambda: svc.run_panels(db.session, regional, size=7, home_division=True, seed=1)))
        rows.append(timed("(a) regional: division × category, any judge",
                          lambda: svc.run_panels(db.session, regional, size=7, seed=1)))
        rows.append(timed("(a) regional: re-run with another seed, keep previous",
                          lambda: svc.run_panels(db.session, regional, size=7, seed=2)))
        rows.append(timed("(b) national review: 5 per entry",
                          lambda: svc.run_reviews(db.session, prelim, per_entry=5, seed=1)))
        rows.append(timed("(b) national review: re-run, keep previous",
                          lambda: svc.run_reviews(db.session, prelim, per_entry=5, seed=2)))
        rows.append(timed("(c) final: 9 per category, recusal inside",
                          lambda: svc.run_panels(db.session, final, size=9, min_scoring=7, seed=1)))
        rows.append(timed("(d) draw: regional, 155 groups",
                          lambda: svc.draw_stage(db.session, regional, reason="基准测试")))
        rows.append(timed("(d) panel list: Excel", lambda: panel_list_workbook(svc.panel_list_data(db.session, regional))))
        rows.append(timed("(d) panel list: PDF", lambda: render_pdf("panels.html", svc.panel_list_data(db.session, regional))))
        rows.append(timed("(d) schedules: Excel", lambda: schedule_workbook(svc.schedule_data(db.session, regional))))
        rows.append(timed("(d) schedules: PDF (national review)",
                          lambda: render_pdf("judge_schedule.html", svc.schedule_data(db.session, prelim))))

        print(f"database {db.engine.url.get_backend_name()}")
        for label, dt, out in rows:
            extra = ""
            if hasattr(out, "status"):
                s = out.summary
                if out.status == "applied" and out.kind == "panels":
                    extra = (f"applied: {s['panels']} panels, {s['judges_used']} judges, load {s['load_min']}–"
                             f"{s['load_max']}, expertise {s['expertise_share']:.0%}, recusals {s['recusals']}, "
                             f"violations {s['violations']}")
                elif out.status == "applied":
                    extra = (f"applied: {s['entries']} × {s['per_entry']}, {s['judges']} judges, load "
                             f"{s['load_min']}–{s['load_max']}, expertise {s['expertise_share']:.0%}, kept {s['kept']}, "
                             f"components {s['components']}, violations {s['violations']}")
                else:
                    extra = f"infeasible: {len(s['reasons'])} reasons, e.g. {s['reasons'][0]['message'][:90]}"
            elif isinstance(out, list):
                extra = f"{len(out)} records"
            elif isinstance(out, bytes):
                extra = f"{len(out) / 1024:.0f} KiB"
            print(f"{label:52s} {dt:7.2f} s   {extra}")


if __name__ == "__main__":
    main()
