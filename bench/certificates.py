"""Certificates side by side: the batch path (chunks of certificates laid out as one WeasyPrint
document, pages written out for the ZIP without a second layout) against the naive loop (one
WeasyPrint document per certificate), and a cached single download through the app.

    .venv/bin/python bench/certificates.py [-n 500] [--naive 60] [--database-url URL]

The naive loop runs on `--naive` certificates (it is slow) and reports pages/s; the batch runs
on all `-n`. Targets (issue 6): batch ≥ 25 pages/s; a cached download < 100 ms.
"""
from __future__ import annotations

import argparse
import statistics
import time

from _setup import bench_app


def build(session, n: int):
    from datetime import datetime, timezone

    from models import Entry, Person, Publication, PublicationStatus, Unit, ensure_provinces
    from services.programme_templates import create_from_template
    prog = create_from_template(session, "docent_competition", year=2024)
    session.flush()
    gz = ensure_provinces(session)["52"]
    unit = Unit(external_id="U0001", name="贵州省科技馆", province_id=gz.id)
    session.add(unit)
    session.flush()
    stage, cat = prog.stages[0], prog.categories[0]
    rows = []
    for i in range(n):
        p = Person(name=f"选手{i:04d}", unit_id=unit.id)
        session.add(p)
        session.flush()
        e = Entry(stage_id=stage.id, category_id=cat.id, external_id=f"E{i:05d}", title=f"作品{i}", kind="individual",
                  person_id=p.id, unit_id=unit.id, province_id=gz.id, status="active")
        session.add(e)
        session.flush()
        award = ("一等奖", "二等奖", "三等奖")[i % 3]
        rows.append({"rank": i + 1, "entry_id": e.id, "external_id": e.external_id, "title": e.title,
                     "contestant": p.name, "members": [{"person_id": p.id, "name": p.name, "unit": unit.name}],
                     "unit": unit.name, "unit_id": unit.id, "province": "贵州省", "score": "90.00", "status": "ok",
                     "award": {"id": "x", "name": award}, "honours": [], "promotion": None})
    snap = {"stage": {"id": stage.id, "name": stage.name}, "categories": [
        {"id": cat.id, "code": cat.code, "name": cat.name, "groups": [{"division": None, "rows": rows}]}]}
    pub = Publication(stage_id=stage.id, scope="stage", version=1, status=PublicationStatus.final, title="bench",
                      snapshot=snap, created_by="bench", finalised_at=datetime.now(timezone.utc))
    session.add(pub)
    session.commit()
    return prog, pub


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("--naive", type=int, default=60)
    ap.add_argument("--database-url")
    args = ap.parse_args()
    with bench_app(args.database_url) as (app, tmp):
        from extensions import db
        from services import certificates as svc
        app.config["CERTIFICATE_BATCH_DIR"] = str(tmp / "batches")
        prog, pub = build(db.session, args.n)
        certs = svc.issue_for_publication(db.session, pub, "bench")
        db.session.commit()
        print(f"{len(certs)} certificates issued")

        with app.test_request_context():
            sample = certs[:args.naive]
            t = time.perf_counter()
            for c in sample:
                svc.render_certificate_pdf(c, db.session)
            naive = len(sample) / (time.perf_counter() - t)
            print(f"naive loop (one document per certificate, {len(sample)}): {naive:6.1f} pages/s")

            job, _ = svc.start_batch(db.session, prog.id, "bench")
            db.session.commit()
            t = time.perf_counter()
            job = svc.run_batch(db.session, job.id)
            dt = time.perf_counter() - t
            batch = job.total / dt
            print(f"batch path (one PDF + one ZIP, {job.total}): {dt:6.1f} s, {batch:6.1f} pages/s "
                  f"({batch / naive:.1f}x naive; target >= 25 pages/s: {'met' if batch >= 25 else 'NOT met'})")

        client = app.test_client()
        url = f"/certificates/{certs[0].serial}.pdf?code={certs[0].verify_code}"
        t = time.perf_counter()
        first = client.get(url)
        cold = (time.perf_counter() - t) * 1000
        times = []
        for _ in range(20):
            t = time.perf_counter()
            resp = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 200 and resp.data == first.data
        med = statistics.median(times)
        print(f"single download: first {cold:.0f} ms, cached median {med:.1f} ms, max {max(times):.1f} ms "
              f"(target < 100 ms: {'met' if med < 100 else 'NOT met'})")


if __name__ == "__main__":
    main()
