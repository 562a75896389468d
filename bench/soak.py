"""Soak: sustained judging load on gunicorn over loopback, 30 minutes compressed into a few.

Issue 9, item 7. For SQLite (WAL) and then PostgreSQL 15 (`--db`), on the national demo (the
set-up of bench/judging_load.py, whose Database, Gunicorn, Client, fetch_entries and verify are
imported): `--judges` judges of the regional round each work through `--minutes-simulated`
minutes of a hall session. One performance slot is `--slot-minutes` (5: a 5-minute
performance and the change-over); per slot each judge, at moments drawn at random inside the
slot, opens the entry's sheet (GET /api/v1/me/sheets/<id>), saves `--drafts` drafts while
watching (PUT, status draft, the later ones with more criteria) and submits at the end of the
slot (PUT, status submitted, every criterion); the entry list (GET /api/v1/me/entries) is
loaded once, when the tablet opens, as static/js/judge.js does. Time is compressed `--compress` times: a 5-minute slot
lasts 30 s at ×10, so 30 simulated minutes run in 3 minutes at ten times a real hall's rate.
Open loop: every request is sent at its moment, whatever the server does (a moment a client
misses because its previous request is still in flight is counted as `late`).

Printed per interval (`--interval-minutes` simulated) and overall: throughput (answered
req/s), latency p50/p95/p99/max from the send, errors by kind (transport errors by exception,
non-2xx by status, wrong answers), late moments, and the RSS of the gunicorn master and each
worker (from /proc) at start, middle and end with the growth per worker in MB and %. Beside it,
the bare-insert baseline of bench/bench_wsgi.py (one INSERT, one commit, same server, workers
and database) in the same open-loop shape and rate, one slot before and one slot after the soak.
Afterwards the database is counted as in judging_load.py: every (judge, entry) sheet once,
submitted, at version drafts + 1, one event per request, every request id once.

Exit status 1 if any sheet is lost or duplicated or any request failed; 0 otherwise.

Usage (≈ 4 minutes per database at the defaults):

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/soak.py                       (SQLite, then PG)
    .venv/bin/python bench/soak.py --db sqlite --minutes-simulated 30 --compress 10
    .venv/bin/python bench/soak.py --db pg --pg-url postgresql+psycopg://postgres@127.0.0.1:54329/x

Measured on the shared 2-core machine (commit 50585b0 plus this file's final plan, defaults:
50 judges, 30 simulated minutes ×10 = 180 s, 3 gthread workers × 4 threads), 2026-11-29,
while other engineers' test suites ran (load average 7–12); 821 s for both databases:

                        SQLite WAL                          PostgreSQL 15
                        reqs  req/s  p50  p95   p99   max   reqs  req/s  p50  p95   p99   max (ms)
    min 0-5              250   8.3   61  6884  7214  7232    250   8.3  176  8980 10470 10801
    min 5-10             200   6.7   44   130   202   220    200   6.7  103   450   808   884
    min 10-15            200   6.7   35   144   222   286    200   6.7   69   364   540   612
    min 15-20            200   6.7   21    56    84    95    200   6.7   50   145   192   228
    min 20-25            199   6.6   28    75   136   143    199   6.6   70   158   378   382
    min 25-30            201   6.7   29    71   148   153    201   6.7   71   188   236   261
    overall             1250   6.9   34   646  6884  7232   1250   6.9   74  2353  8980 10801
      PUT sheet          900   5.0   36    98   200   286    900   5.0   71   279   612   884
      GET sheet          300   1.7   17   791  1639  1699    300   1.7   77  4108  5843  5966
      GET entries         50   0.3 6010  7214  7232  7232     50   0.3 5274 10470 10801 10801
    bare insert, same    400   6.7    7    22    30    45    400   6.7    4    16    37    90
    errors / non-2xx       0 / 0                               0 / 0
    late moments          32 (max 6.7 s, all in the first slot)  42 (max 9.8 s, first slot)
    RSS master          26.2 -> 26.2 MB                      26.1 -> 26.1 MB
    RSS per worker      +14.7 MB mean (+8.5 %), max +21.4;   +11.5 MB mean (+6.4 %), max +16.9;
                        second half +0.0 MB (all growth      second half +0.0 MB
                        in the first slot: warm-up)
    database count      300 sheets, 0 lost, 0 duplicated, 900 events, every request id once (both)

Reading: no error, no lost or duplicated sheet, no memory growth after the first slot (the first
slot's +11–21 MB per worker is warm-up: imports, rubric and conflict caches, SQLAlchemy
compiled statements). The first slot's tail is the 50 tablets opening at once:
GET /api/v1/me/entries (the judge's whole overview on a 1,556-entry stage) takes 5–6 s at the
median with 50 concurrent, and requests queued behind it are late; once open, a sheet PUT has a
p99 of 0.1–0.3 s on SQLite and 0.2–0.6 s on PostgreSQL at ten times a real hall's rate.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
for p in (ROOT, BENCH):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from judging_load import (Client, Database, Gunicorn, Judge, Stats, fetch_entries,  # noqa: E402
                          grid_value, pct, prepare_demo, verify)


# -- what is sent, and when ----------------------------------------------------------------------

@dataclass
class Action:
    at: float                  # seconds after the start of the run
    method: str
    path: str
    body: dict | None = None
    kind: str = ""             # "PUT sheet" / "GET entries" / "POST bare"


def hall_plan(judge: Judge, slots: int, slot_s: float, drafts: int, seed: int) -> list[Action]:
    """One judge's session: the entry list when the tablet opens; per slot, open the entry's
    sheet early, save drafts in the middle, submit in the last 15 % of the slot (when the
    performance ends)."""
    rng = random.Random(seed * 100043 + judge.judge_id)
    out: list[Action] = []
    for k, e in enumerate(judge.entries[:slots]):
        t0 = k * slot_s
        crits = e["criteria"]
        path = f"/api/v1/me/sheets/{e['id']}"
        if k == 0:     # the tablet loads the list once, when the judge opens it (static/js/judge.js)
            out.append(Action(rng.uniform(0, 0.05) * slot_s, "GET", "/api/v1/me/entries", kind="GET entries"))
        out.append(Action(t0 + rng.uniform(0.05, 0.15) * slot_s, "GET", path, kind="GET sheet"))
        moments = sorted(rng.uniform(0.3, 0.8) * slot_s for _ in range(drafts))
        for d, at in enumerate(moments):
            upto = max(1, len(crits) * (d + 1) // (drafts + 1))
            marks = {c["id"]: grid_value(rng, c) for c in crits[:upto]}
            out.append(Action(t0 + at, "PUT", path, {"scores": marks, "comment": "", "status": "draft",
                                                     "client_request_id": uuid.uuid4().hex}, "PUT sheet"))
        marks = {c["id"]: grid_value(rng, c) for c in crits}
        out.append(Action(t0 + rng.uniform(0.85, 1.0) * slot_s, "PUT", path,
                          {"scores": marks, "comment": "表达清晰，原理讲解到位。", "status": "submitted",
                           "client_request_id": uuid.uuid4().hex}, "PUT sheet"))
    return out


def bare_plan(client: int, shape: list[Action], tag: str) -> list[Action]:
    """The same moments as one slot of a judge's session, each a bare insert."""
    return [Action(a.at, "POST", "/bench/bare-insert", {"client": f"{tag}{client}", "seq": i}, "POST bare")
            for i, a in enumerate(shape)]


# -- recording -----------------------------------------------------------------------------------

@dataclass
class Rec:
    at: float                  # send moment, seconds after the start
    ms: float
    kind: str
    status: int | None
    error: str | None = None   # transport failure (exception name)
    wrong: str | None = None   # a 2xx saying the wrong thing


@dataclass
class Recorder:
    recs: list[Rec] = field(default_factory=list)
    late: int = 0
    late_max_ms: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, rec: Rec) -> None:
        with self.lock:
            self.recs.append(rec)

    def lateness(self, ms: float) -> None:
        with self.lock:
            if ms > 50:
                self.late += 1
            self.late_max_ms = max(self.late_max_ms, ms)


def play(port: int, plans: list[tuple[dict, list[Action]]], rec: Recorder) -> float:
    """Open loop: one thread and keep-alive connection per client, each request sent at its
    moment. Returns the wall time from the common start to the last answer."""
    barrier = threading.Barrier(len(plans) + 1)
    start = [0.0]

    def one(headers: dict, actions: list[Action]) -> None:
        c = Client(port)
        barrier.wait()
        try:
            for a in actions:
                delay = start[0] + a.at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                else:
                    rec.lateness(-delay * 1000)
                t0 = time.perf_counter()
                try:
                    status, raw = c.call(a.method, a.path, a.body, headers)
                except OSError as e:
                    rec.add(Rec(t0 - start[0], (time.perf_counter() - t0) * 1000, a.kind, None, type(e).__name__))
                    continue
                ms = (time.perf_counter() - t0) * 1000
                wrong = None
                if a.kind == "PUT sheet" and 200 <= status < 300:
                    got = json.loads(raw)
                    if got.get("status") != a.body["status"] or got.get("replayed"):
                        wrong = f"{a.path}: answered {got.get('status')} replayed={got.get('replayed')}"
                rec.add(Rec(t0 - start[0], ms, a.kind, status, None, wrong))
        finally:
            c.close()

    threads = [threading.Thread(target=one, args=p) for p in plans]
    for t in threads:
        t.start()
    start[0] = time.perf_counter() + 0.2
    barrier.wait()
    for t in threads:
        t.join()
    return time.perf_counter() - start[0]


# -- memory --------------------------------------------------------------------------------------

def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d))
    return sorted(out)


def memory(master: int) -> dict[str, float]:
    """RSS in MB of the master and each worker, keyed 'master' / 'worker <pid>'."""
    snap = {"master": rss_mb(master) or 0.0}
    for w in children(master):
        v = rss_mb(w)
        if v is not None:
            snap[f"worker {w}"] = v
    return snap


class Sampler(threading.Thread):
    """RSS every `every` seconds during the soak (interval boundaries), plus on demand."""

    def __init__(self, master: int, every: float, until: float) -> None:
        super().__init__(daemon=True)
        self.master, self.every, self.until = master, every, until
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.t0 = time.perf_counter()
        self.stop = threading.Event()

    def take(self) -> None:
        self.samples.append((time.perf_counter() - self.t0, memory(self.master)))

    def run(self) -> None:
        k = 1
        while not self.stop.wait(max(0.0, self.t0 + k * self.every - time.perf_counter())):
            self.take()
            k += 1
            if k * self.every > self.until + self.every:
                return


# -- the report ----------------------------------------------------------------------------------

HEAD = (f"  {'':24s} {'reqs':>6s} {'req/s':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} "
        f"{'errors':>6s} {'non-2xx':>7s}")


def line(label: str, recs: list[Rec], wall: float, extra: str = "") -> str:
    ms = sorted(r.ms for r in recs if r.error is None)
    errors = sum(1 for r in recs if r.error)
    non2xx = sum(1 for r in recs if r.status is not None and not 200 <= r.status < 300)
    rate = len(recs) / wall if wall else float("nan")
    return (f"  {label:24s} {len(recs):6d} {rate:7.1f} {pct(ms, 50):8.1f} {pct(ms, 95):8.1f} {pct(ms, 99):8.1f} "
            f"{(ms[-1] if ms else float('nan')):8.1f} {errors:6d} {non2xx:7d}{extra}")


def error_kinds(recs: list[Rec]) -> Counter:
    c: Counter = Counter()
    for r in recs:
        if r.error:
            c[f"{r.kind}: {r.error}"] += 1
        elif r.status is not None and not 200 <= r.status < 300:
            c[f"{r.kind}: HTTP {r.status}"] += 1
        elif r.wrong:
            c[f"{r.kind}: wrong answer"] += 1
    return c


def memory_report(samples: list[tuple[float, dict[str, float]]]) -> list[str]:
    """Start, middle and end RSS per process, growth in MB and %."""
    if len(samples) < 2:
        return ["  memory: not enough samples"]
    half = min(samples, key=lambda s: abs(s[0] - samples[-1][0] / 2))
    start, mid, end = samples[0][1], half[1], samples[-1][1]
    out = [f"  memory (RSS, MB; samples at {samples[0][0]:.0f} s, {half[0]:.0f} s, "
           f"{samples[-1][0]:.0f} s of the soak):"]
    for name in start:
        if name not in end:
            out.append(f"    {name:14s} {start[name]:7.1f} -> gone (restarted by the master?)")
            continue
        g = end[name] - start[name]
        h = end[name] - mid.get(name, float("nan"))
        out.append(f"    {name:14s} start {start[name]:7.1f}  middle {mid.get(name, float('nan')):7.1f}  "
                   f"end {end[name]:7.1f}  growth {g:+6.1f} MB ({g / start[name]:+.1%}); "
                   f"second half {h:+6.1f} MB")
    new = [n for n in end if n not in start]
    if new:
        out.append(f"    new processes at the end (a worker restarted): {', '.join(new)}")
    workers = [n for n in start if n.startswith("worker") and n in end]
    if workers:
        g = [end[n] - start[n] for n in workers]
        h = [end[n] - mid[n] for n in workers if n in mid]
        out.append(f"    per worker: mean growth {sum(g) / len(g):+.1f} MB "
                   f"({sum(g) / sum(start[n] for n in workers):+.1%}), max {max(g):+.1f} MB; second half "
                   f"(after warm-up) mean {sum(h) / max(1, len(h)):+.1f} MB; "
                   f"total master + workers {sum(start.values()):.1f} -> {sum(end.values()):.1f} MB")
    return out


# -- one database --------------------------------------------------------------------------------

def one_database(kind: str, args) -> bool:
    tmp = Path(tempfile.mkdtemp(prefix=f"soak-{kind}.", dir="/tmp"))
    t_start = time.perf_counter()
    slot_s = args.slot_minutes * 60 / args.compress
    slots = max(1, round(args.minutes_simulated / args.slot_minutes))
    duration = slots * slot_s
    interval_s = args.interval_minutes * 60 / args.compress
    try:
        with Database(kind, tmp, args.pg_url) as dbase:
            env, stage, pool = prepare_demo(dbase, tmp)
            random.Random(args.seed).shuffle(pool)
            setup_s = time.perf_counter() - t_start

            with Gunicorn(env, args.workers, args.threads, tmp / "gunicorn.log") as server:
                warm = Stats()
                judges = fetch_entries(server.port, pool[:args.judges + 20], args.judges, slots, warm)
                if len(judges) < args.judges:
                    raise SystemExit(f"only {len(judges)} judges have {slots} scorable entries "
                                     f"(GET /me/entries: {dict(warm.statuses)}, errors {warm.errors[:3]})")
                plans = {j.judge_id: hall_plan(j, slots, slot_s, args.drafts, args.seed) for j in judges}
                headers = {j.judge_id: {"Authorization": f"Bearer {j.token}", "X-Device-Id": f"soak-{j.judge_id}",
                                        "User-Agent": "soak"} for j in judges}
                # the bare baseline's moments: each judge's second slot (the steady state), as bare inserts
                k0 = 1 if slots > 1 else 0
                shape = {jid: [Action(a.at - k0 * slot_s, a.method, a.path) for a in p
                               if k0 * slot_s <= a.at < (k0 + 1) * slot_s] for jid, p in plans.items()}

                bare_before = Recorder()
                wall_b1 = play(server.port, [({}, bare_plan(k, shape[j.judge_id], "b"))
                                             for k, j in enumerate(judges)], bare_before)
                sampler = Sampler(server.proc.pid, interval_s, duration)
                sampler.take()
                sampler.start()
                soak = Recorder()
                wall = play(server.port, [(headers[j.judge_id], plans[j.judge_id]) for j in judges], soak)
                sampler.stop.set()
                sampler.join()
                sampler.take()
                bare_after = Recorder()
                wall_b2 = play(server.port, [({}, bare_plan(k, shape[j.judge_id], "a"))
                                             for k, j in enumerate(judges)], bare_after)
                log_tail = (tmp / "gunicorn.log").read_text()[-2000:]

            sheet_plans = {jid: [(a.path, a.body, False) for a in p if a.kind == "PUT sheet"]
                           for jid, p in plans.items()}
            n_bare = len(bare_before.recs) + len(bare_after.recs)
            checks, fails = verify(dbase.url, sheet_plans, n_bare)

            per_slot = 1 + args.drafts + 1
            offered = len(soak.recs) / duration
            print(f"\n=== {kind}: {dbase.url.split('@')[-1] if kind != 'sqlite' else 'SQLite WAL file'} · stage "
                  f"{stage} · {len(judges)} judges · gunicorn -w {args.workers}"
                  f"{f' -k gthread --threads {args.threads}' if args.threads > 1 else ' (sync)'} · "
                  f"set-up {setup_s:.0f} s ===")
            print(f"  {args.minutes_simulated:g} simulated minutes in {duration:.0f} s (×{args.compress:g}): "
                  f"{slots} slots of {args.slot_minutes:g} min ({slot_s:.0f} s); per judge GET /me/entries once, then "
                  f"per slot GET the sheet + {args.drafts} draft PUTs + 1 submission PUT ({per_slot}) -> offered "
                  f"{offered:.1f} req/s ({offered / args.compress:.2f} req/s at a real hall's pace)")
            print(HEAD)
            recs = soak.recs
            n_int = max(1, round(duration / interval_s))
            mem_at = {round(t / interval_s): m for t, m in sampler.samples}
            for k in range(n_int):
                lo, hi = k * interval_s, (k + 1) * interval_s
                sel = [r for r in recs if lo <= r.at < hi or (k == n_int - 1 and r.at >= hi)]
                m = mem_at.get(k + 1)
                mem = f"   RSS {sum(m.values()):6.1f} MB" if m else ""
                label = (f"min {k * args.interval_minutes:g}-{(k + 1) * args.interval_minutes:g} "
                         f"({lo:.0f}-{hi:.0f} s)")
                print(line(label, sel, interval_s, mem))
            print(line("overall", recs, wall))
            for kind_ in ("PUT sheet", "GET sheet", "GET entries"):
                print(line(f"  {kind_}", [r for r in recs if r.kind == kind_], wall))
            b_all = bare_before.recs + bare_after.recs
            print(line("bare insert (baseline)", b_all, wall_b1 + wall_b2,
                       f"   same shape, {len(bare_before.recs)} before + {len(bare_after.recs)} after"))
            print(line("  bare before", bare_before.recs, wall_b1))
            print(line("  bare after", bare_after.recs, wall_b2))
            sheets_ms = sorted(r.ms for r in recs if r.kind == "PUT sheet" and r.error is None)
            bare_ms = sorted(r.ms for r in b_all if r.error is None)
            if sheets_ms and bare_ms:
                print(f"  sheet PUT / bare insert at the same rate: p50 ×{pct(sheets_ms, 50) / pct(bare_ms, 50):.1f}, "
                      f"p99 ×{pct(sheets_ms, 99) / pct(bare_ms, 99):.1f}")
            kinds = error_kinds(recs + b_all)
            print(f"  errors by kind: {dict(kinds) if kinds else 'none'}; late moments (> 50 ms behind) "
                  f"{soak.late} (max {soak.late_max_ms:.0f} ms); statuses "
                  f"{dict(sorted(Counter(r.status for r in recs).items(), key=str))}")
            for ln in memory_report(sampler.samples):
                print(ln)
            print("  database count afterwards:")
            for ln in checks:
                print(ln)
            sound = not fails and not kinds
            print(f"  integrity: {'OK' if sound else 'FAILED'}")
            for msg in fails[:10]:
                print(f"    ! {msg}")
            if not sound and "Traceback" in log_tail:
                print("  gunicorn log (tail):\n" + log_tail)
            print(f"  ({kind} total {time.perf_counter() - t_start:.0f} s)")
            sys.stdout.flush()
            return sound
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=("sqlite", "pg", "both"), default="both")
    ap.add_argument("--minutes-simulated", type=float, default=30.0)
    ap.add_argument("--compress", type=float, default=10.0, help="time compression (10: a minute in 6 s)")
    ap.add_argument("--slot-minutes", type=float, default=5.0, help="one performance and its scoring")
    ap.add_argument("--drafts", type=int, default=2, help="draft saves per judge and slot")
    ap.add_argument("--interval-minutes", type=float, default=5.0, help="simulated minutes per printed interval")
    ap.add_argument("--judges", type=int, default=50)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--threads", type=int, default=4, help="gthread threads per worker (1: sync workers)")
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL"),
                    help="a running PostgreSQL (a fresh database is created in it and dropped)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else ["sqlite" if args.db == "sqlite" else "postgresql"]
    t0 = time.perf_counter()
    ok = {kind: one_database(kind, args) for kind in kinds}
    print(f"\nsummary ({time.perf_counter() - t0:.0f} s): "
          + "; ".join(f"{k} integrity {'OK' if v else 'FAILED'}" for k, v in ok.items()))
    return 0 if all(ok.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
