"""50 concurrent judges submitting score sheets to gunicorn, beside a bare insert endpoint.

Issue 5, acceptance 9. For SQLite (WAL, the app's own configuration) and then PostgreSQL 15:

1. a fresh database (`flask --app app db upgrade`) and the national-scale demo
   (`flask --app app demo --out DIR`: 1,556 regional entries, 31 regional panels of 7, 250 judges
   in the pool, one token per judge and stage) — the judges are those of the stage with the most
   tokens (the regional round), each taking the first `--entries` + `--rounds` scorable entries of
   their list (the first `--entries` for the saturation run, the next `--rounds` for the burst);
   the demo simulates that round's results, so its sheets, events and confirmations are deleted
   first (`unscore_stage`; the entries, panels and tokens stay);
2. gunicorn (`--workers` × gthread `--threads`) on a free loopback port, serving the real app
   plus `POST /bench/bare-insert` (bench/bench_wsgi.py: one INSERT into a tiny table, one commit,
   no auth or validation) — the baseline goes through the same server, workers and database;
3. two load shapes in the same run, on the same server (`--mode both`, the default; `saturation`
   or `burst` runs one):

   a. SATURATION (closed loop) -> the THROUGHPUT target. Each of `--judges` client threads (one
      keep-alive connection each, stdlib http.client) is a judge sending back to back: per entry
      a draft (all criteria but the last) and a submission (all criteria), each with a fresh
      `client_request_id`, plus ~5 % deliberate retries of a request already answered (same
      body, same id: must answer `replayed: true`); the same number of bare inserts from as
      many threads, half before and half after the sheets (the machine is noisy: the baseline
      brackets the measured run). Reports req/s of sheets vs bare and their RATIO (target
      >= 0.5). Its p99 is printed too, labelled as saturation: with 50 clients back to back,
      mean latency = 50 / throughput by construction, so it is not the latency target's measure.

   b. HALL BURST (open loop) -> the LATENCY target. `--rounds` rounds of `--burst-window`
      seconds (10 × 3 s): in each round every judge sends, at a uniformly random moment inside
      the window, THE SUBMISSION ALONE — one PUT of a fresh entry's sheet with all criteria, as the
      tablet sends when the judge confirms 提交 (static/js/judge.js sends a draft only when the
      judge presses 保存 or leaves a changed sheet); `--burst-pair` sends a draft then the
      submission back to back instead. This mimics nine judges per hall finishing a 5-minute
      performance at about the same time across ~6 halls — and, pessimistically, all halls
      finishing inside the same few seconds. Rounds follow each other with no pause beyond the
      window; no deliberate retries (the saturation run has them). The bare endpoint gets the
      same shape and count (same clients, rounds, window, requests per moment), half its rounds
      before the sheets' burst and half after. Latency is timed from the send; a moment a client
      misses because its previous request is still in flight is counted (`moments missed`), so a
      server falling behind shows. Reports p50/p95/p99/max of sheets and bare, errors, non-2xx,
      and the OFFERED LOAD: judges × requests per moment / window (16.7 req/s at the defaults),
      also as a fraction of the saturation sheet throughput. The p99 target (< 250 ms) is judged
      on the burst's sheet p99.
4. a count in the database after both shapes: every (judge, entry) sheet stored once,
   submitted, at the version its requests make (2 for draft + submit, 1 for a submission alone)
   with exactly the events they make (create + submit, or one submit), every request id once
   (the retries stored nothing), every bare row there.
5. when a target fails (or with `--profile`), a single-process profile of the same saturation
   requests through the Flask test client for a few other judges: cProfile per-call milliseconds
   of the functions on the write path and the SQL statements per request, grouped, with the
   repeats.

Exit status: 1 if any sheet is lost or duplicated, any retry stored something, or any request
failed or answered non-2xx; 0 otherwise (missed *targets* are reported, not fatal).

Server choice: `-w 3 -k gthread --threads 4` (the default; `make run` also uses 3 workers).
Measured with 50 judges × 6 entries on the 2-core machine while other test suites ran:
sync `-w 5` served the bare insert at only 117–139 req/s (no keep-alive: a TCP connection per
request), which flatters the ratio (0.30 SQLite); gthread keeps the tablets' connections
alive and gives the honest baseline (bare 367–630 req/s); `-w 2 --threads 8` was no better for
sheets (46 / 34 req/s vs 37 / 36 with 3 × 4) and has worse SQLite tails (more threads per GIL).
Sheet throughput was within noise across all three: the write path is CPU-bound Python.

Defaults: `--entries` is 10 (was 20 before the burst was added: the saturation run is half as
long, 1,050 sheet PUTs per database, so that both shapes together stay near 4 minutes for both
databases on 2 cores); `--rounds 10 --burst-window 3` adds 30 s of sheets and 30 s of bare per
database. Judges still need 20 scorable entries each, as before, so the same judges are chosen.
With `--mode burst` alone the burst meets workers that have served no sheet yet: in a small
trial (SQLite, 8 judges × 2 rounds × `--burst-pair`, 1 s window) sheet PUTs had p95 2.7 s and
4 missed moments, against a max of 31 ms for a warm burst after a short saturation run; not
investigated further (first-request cost per worker, or SQLite's busy handler). The default
runs the burst after the saturation run, on warm workers — as a hall's server is mid-session.

Usage (≈ 4 minutes for both databases at the defaults on 2 cores):

    cd /work/main && OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/judging_load.py
    .venv/bin/python bench/judging_load.py --db sqlite --entries 20 --rounds 20 --burst-window 5
    .venv/bin/python bench/judging_load.py --db sqlite --burst-pair      (draft + submit per moment)
    .venv/bin/python bench/judging_load.py --db pg --pg-url postgresql+psycopg://postgres@127.0.0.1:54329/x
        (reuses a running cluster: a fresh database `bench_judging_<pid>` is created and dropped)

Without `--pg-url` a throwaway cluster is started with scripts/pg_cluster.sh and stopped
afterwards; gunicorn is always stopped (try/finally).

Recorded output (commit 06cdd01 plus this file's burst mode, 2 cores, other engineers' test
suites possibly running at the same time — load average 5–6 during the run; 244 s in all; the
profile parts are abridged — the run prints them whole):

    === sqlite: SQLite WAL file · stage 分赛区选拔 · 50 judges · gunicorn -w 3 -k gthread --threads 4 · set-up 14 s ===
      GET /me/entries (set-up, 64 judges at once): p50 5838 ms, max 7529 ms, errors 0, non-2xx 0
      -- saturation (closed loop: 50 clients back to back, 10 entries each) -> the THROUGHPUT target
                                   reqs    req/s   p50 ms   p95 ms   p99 ms errors non-2xx
      PUT sheets                   1050     59.5    712.7   1967.3   2528.0      0       0
      POST bare-insert             1050    207.9    146.8    698.6    962.1      0       0
      sheets: 1050 PUTs = 1000 fresh (draft + submit per entry) + 50 retries (4.8%); statuses {200: 550, 201: 500}
      bare: before 160.1 req/s, after 285.4 req/s
      throughput ratio sheets/bare: 0.286  (target >= 0.5: FAILS)
      saturation p99 2528 ms: not the latency target's measure — closed loop, so mean latency = clients / throughput = 50 / 59.5 = 840 ms by construction
      -- hall burst (open loop: 10 rounds; per round each of the 50 judges sends the submission PUT alone for a fresh entry at a uniformly random moment in a 3 s window) -> the LATENCY target
                                   reqs   p50 ms   p95 ms   p99 ms   max ms errors non-2xx
      PUT sheets (burst)            500     17.4     44.9     62.4     86.8      0       0
      POST bare-insert (burst)      500      4.5     11.4     16.5     22.4      0       0
      offered load: 50 × 1 / 3 s = 16.7 req/s averaged over each window = 0.28 × the saturation sheet throughput (59.5 req/s); 500 sheet PUTs and 500 bare inserts in 30 s / 30 s
      moments missed (client's previous request still in flight > 50 ms): sheets 0 (max 0 ms late), bare 0; statuses {201: 500}
      burst p99 of sheet PUTs 62 ms (target < 250 ms: HOLDS); bare p99 in the same shape 17 ms
      database count afterwards (every sheet of both runs):
      sheets expected 1000, stored 1000 (distinct pairs 1000), lost 0, duplicated 0, unexpected 0
      submitted 1000/1000, version as planned (500 at v1, 500 at v2): 1000/1000
      events 1500 (expected 1500): exactly as planned (500 × create + submit; 500 × submit) 1000/1000, one submit 1000/1000
      request ids: 1500 stored of 1500 sent, missing 0, duplicated 0; 50 retries of 49 ids, each stored once: 49/49
      bare rows 1650 (expected 1650)
      integrity: OK
      profile (4 other judges × 10 entries, same database, one process):
      one process, Flask test client, no profiler: PUT p50 16.0 ms (21 PUTs) vs bare insert p50 2.1 ms -> single-process ratio ceiling 0.13
      [… cProfile table, SQL per PUT and top self time: printed whole by the run …]
      (sqlite total 123 s)

    === postgresql: 127.0.0.1:54330/scoring_test · stage 分赛区选拔 · 50 judges · gunicorn -w 3 -k gthread --threads 4 · set-up 18 s ===
      GET /me/entries (set-up, 64 judges at once): p50 5056 ms, max 7005 ms, errors 0, non-2xx 0
      -- saturation (closed loop: 50 clients back to back, 10 entries each) -> the THROUGHPUT target
                                   reqs    req/s   p50 ms   p95 ms   p99 ms errors non-2xx
      PUT sheets                   1050     58.2    707.2   1507.5   4516.0      0       0
      POST bare-insert             1050    591.5     72.4    152.4    180.9      0       0
      sheets: 1050 PUTs = 1000 fresh (draft + submit per entry) + 50 retries (4.8%); statuses {200: 550, 201: 500}
      bare: before 478.8 req/s, after 752.4 req/s
      throughput ratio sheets/bare: 0.098  (target >= 0.5: FAILS)
      saturation p99 4516 ms: not the latency target's measure — closed loop, so mean latency = clients / throughput = 50 / 58.2 = 859 ms by construction
      -- hall burst (open loop: 10 rounds; per round each of the 50 judges sends the submission PUT alone for a fresh entry at a uniformly random moment in a 3 s window) -> the LATENCY target
                                   reqs   p50 ms   p95 ms   p99 ms   max ms errors non-2xx
      PUT sheets (burst)            500     28.6     72.5    113.3    148.2      0       0
      POST bare-insert (burst)      500      3.8      9.5     12.9     18.3      0       0
      offered load: 50 × 1 / 3 s = 16.7 req/s averaged over each window = 0.29 × the saturation sheet throughput (58.2 req/s); 500 sheet PUTs and 500 bare inserts in 30 s / 30 s
      moments missed (client's previous request still in flight > 50 ms): sheets 0 (max 0 ms late), bare 0; statuses {201: 500}
      burst p99 of sheet PUTs 113 ms (target < 250 ms: HOLDS); bare p99 in the same shape 13 ms
      database count afterwards (every sheet of both runs):
      sheets expected 1000, stored 1000 (distinct pairs 1000), lost 0, duplicated 0, unexpected 0
      submitted 1000/1000, version as planned (500 at v1, 500 at v2): 1000/1000
      events 1500 (expected 1500): exactly as planned (500 × create + submit; 500 × submit) 1000/1000, one submit 1000/1000
      request ids: 1500 stored of 1500 sent, missing 0, duplicated 0; 50 retries of 49 ids, each stored once: 49/49
      bare rows 1650 (expected 1650)
      integrity: OK
      profile (4 other judges × 10 entries, same database, one process):
      one process, Flask test client, no profiler: PUT p50 16.0 ms (21 PUTs) vs bare insert p50 1.3 ms -> single-process ratio ceiling 0.08
      [… cProfile table, SQL per PUT and top self time: printed whole by the run …]
      (postgresql total 118 s)

    summary (244 s):
      sqlite     integrity OK; p99 < 250 ms: burst p99 62 ms holds; ratio >= 0.5: saturation ratio 0.286 FAILS
      postgresql integrity OK; p99 < 250 ms: burst p99 113 ms holds; ratio >= 0.5: saturation ratio 0.098 FAILS
"""
from __future__ import annotations

import argparse
import cProfile
import csv
import http.client
import io
import json
import os
import pstats
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = Path(sys.executable).parent
for p in (ROOT, BENCH):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

P99_TARGET_MS = 250.0
RATIO_TARGET = 0.5


# -- small helpers ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_ms:
        return float("nan")
    k = max(0, min(len(sorted_ms) - 1, int(round(q / 100 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[k]


def run(cmd: list[str], env: dict, what: str, timeout: float = 300) -> str:
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"{what} failed (exit {proc.returncode})")
    return proc.stdout


def grid_value(rng: random.Random, crit: dict) -> float | int:
    """A valid mark on the criterion's step grid, biased to the upper half like real marks."""
    lo, hi, step = (Decimal(crit["min"] or "0"), Decimal(crit["max"]), Decimal(crit["step"] or "1"))
    n = int((hi - lo) / step)
    v = lo + step * rng.randint(n // 2, n)
    return int(v) if v == v.to_integral_value() else float(v)


# -- the database and the server -------------------------------------------------------------

def unscore_stage(url: str, stage_name: str) -> int:
    """The demo simulates the whole regional round (every sheet submitted, entries confirmed);
    a load run needs it unscored, so drop that stage's confirmations, events and sheets (the
    entries, panels and tokens stay). Returns the number of sheets removed."""
    from sqlalchemy import create_engine, text
    eng = create_engine(url)
    with eng.begin() as c:
        sid = c.execute(text("SELECT id FROM stage WHERE name = :n ORDER BY id"), {"n": stage_name}).scalars().first()
        for table in ("entry_confirmation", "score_event"):
            c.execute(text(f"DELETE FROM {table} WHERE stage_id = :s"), {"s": sid})
        n = c.execute(text("DELETE FROM score_sheet WHERE stage_id = :s"), {"s": sid}).rowcount
        c.execute(text("UPDATE stage SET scoring_closed_at = NULL WHERE id = :s"), {"s": sid})
    eng.dispose()
    return n


class Database:
    """A fresh database for one run: a SQLite file, a throwaway PostgreSQL cluster, or a fresh
    database inside a cluster that is already running (`--pg-url`)."""

    def __init__(self, kind: str, tmp: Path, pg_url: str | None) -> None:
        self.kind, self.tmp, self.pg_url = kind, tmp, pg_url
        self.cluster_dir: Path | None = None
        self.created_db: tuple[str, str] | None = None     # (admin url, name) to drop
        self.url = ""

    def __enter__(self) -> "Database":
        if self.kind == "sqlite":
            self.url = f"sqlite:///{self.tmp / 'bench.db'}"
        elif self.pg_url:
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url
            base = make_url(self.pg_url)
            name = f"bench_judging_{os.getpid()}"
            admin = base.set(database="postgres").render_as_string(hide_password=False)
            eng = create_engine(admin, isolation_level="AUTOCOMMIT")
            with eng.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                c.execute(text(f'CREATE DATABASE "{name}"'))
            eng.dispose()
            self.created_db = (admin, name)
            self.url = base.set(database=name).render_as_string(hide_password=False)
        else:
            self.cluster_dir = Path(tempfile.mkdtemp(prefix="jl-pg.", dir="/tmp"))
            out = run(["bash", str(ROOT / "scripts/pg_cluster.sh"), "start", str(self.cluster_dir)],
                      dict(os.environ), "pg_cluster.sh start", timeout=120)
            self.url = out.strip().splitlines()[-1]
        return self

    def __exit__(self, *exc) -> None:
        if self.created_db:
            from sqlalchemy import create_engine, text
            admin, name = self.created_db
            eng = create_engine(admin, isolation_level="AUTOCOMMIT")
            with eng.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            eng.dispose()
        if self.cluster_dir is not None:
            subprocess.run(["bash", str(ROOT / "scripts/pg_cluster.sh"), "stop", str(self.cluster_dir)],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)


class Gunicorn:
    def __init__(self, env: dict, workers: int, threads: int, log: Path) -> None:
        self.env, self.workers, self.threads, self.log = env, workers, threads, log
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Gunicorn":
        cmd = [str(VENV_BIN / "gunicorn"), "-w", str(self.workers), "-b", f"127.0.0.1:{self.port}",
               "--pythonpath", f"{ROOT},{BENCH}", "--timeout", "120", "--backlog", "2048",
               "--log-level", "warning"]
        if self.threads > 1:
            cmd += ["-k", "gthread", "--threads", str(self.threads), "--keep-alive", "30"]
        cmd.append("bench_wsgi:make_app()")
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/bench/ping")
                if c.getresponse().status == 200:
                    c.close()
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("gunicorn did not answer within 60 s")

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)     # its own session: the master and its workers
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.logf.close()


# -- the clients ------------------------------------------------------------------------------

@dataclass
class Stats:
    ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)     # transport failures
    problems: list[str] = field(default_factory=list)   # a 2xx that says the wrong thing
    wall: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ms: float, status: int | None, err: str | None = None, problem: str | None = None) -> None:
        with self.lock:
            if err is not None:
                self.errors.append(err)
            else:
                self.ms.append(ms)
                self.statuses[status] += 1
            if problem:
                self.problems.append(problem)

    @property
    def n(self) -> int:
        return len(self.ms) + len(self.errors)

    @property
    def non2xx(self) -> int:
        return sum(v for k, v in self.statuses.items() if not 200 <= k < 300)

    def merge(self, other: "Stats") -> None:
        self.ms += other.ms
        self.statuses.update(other.statuses)
        self.errors += other.errors
        self.problems += other.problems
        self.wall += other.wall


class Client:
    """One keep-alive connection; reconnects once if the server closed it between requests."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json", **(headers or {})} if data else dict(headers or {})
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                resp = self.conn.getresponse()
                raw = resp.read()
                return resp.status, raw
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise

    def close(self) -> None:
        self.conn.close()


@dataclass
class Judge:
    judge_id: int
    token: str
    entries: list[dict] = field(default_factory=list)   # [{"id", "criteria"}]


def fetch_entries(port: int, candidates: list[Judge], want_judges: int, want_entries: int,
                  stats: Stats) -> list[Judge]:
    """GET /api/v1/me/entries for every candidate (concurrently, like judges opening their
    tablets); keep the first `want_judges` with at least `want_entries` scorable entries."""
    out: dict[int, Judge] = {}

    def one(j: Judge) -> None:
        c = Client(port)
        t0 = time.perf_counter()
        try:
            status, raw = c.call("GET", "/api/v1/me/entries", headers={"Authorization": f"Bearer {j.token}"})
        except OSError as e:
            stats.add(0, None, err=f"entries {j.judge_id}: {e!r}")
            return
        finally:
            c.close()
        stats.add((time.perf_counter() - t0) * 1000, status)
        if status != 200:
            return
        data = json.loads(raw)
        ok = [{"id": e["id"], "criteria": e["criteria"]} for e in data["entries"]
              if e["scorable"] and e["status"] == "todo"]
        if len(ok) >= want_entries:
            j.entries = ok[:want_entries]
            out[j.judge_id] = j

    t0 = time.perf_counter()
    threads = [threading.Thread(target=one, args=(j,)) for j in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats.wall = time.perf_counter() - t0
    return [j for j in candidates if j.judge_id in out][:want_judges]


def plan_requests(judge: Judge, retry_share: float, seed: int) -> list[tuple[str, dict, bool]]:
    """(path, body, is_retry) in order: per entry a draft then a submission, fresh ids; after
    any request, with probability `retry_share`, a resend of one already sent (same body)."""
    rng = random.Random(seed * 100003 + judge.judge_id)
    sent: list[tuple[str, dict]] = []
    out: list[tuple[str, dict, bool]] = []
    for e in judge.entries:
        crits = e["criteria"]
        scores = {c["id"]: grid_value(rng, c) for c in crits}
        draft = {k: v for k, v in scores.items() if k != crits[-1]["id"]} if len(crits) > 1 else scores
        path = f"/api/v1/me/sheets/{e['id']}"
        for status, marks in (("draft", draft), ("submitted", scores)):
            body = {"scores": marks, "comment": "" if status == "draft" else "表达清晰，原理讲解到位。",
                    "status": status, "client_request_id": uuid.UUID(int=rng.getrandbits(128)).hex}
            out.append((path, body, False))
            sent.append((path, body))
            if rng.random() < retry_share:
                rp, rb = rng.choice(sent)
                out.append((rp, rb, True))
    return out


def answer_problem(path: str, body: dict, retry: bool, status: int, raw: bytes) -> str | None:
    """What is wrong with the answer to one sheet PUT, or None."""
    if not 200 <= status < 300:
        return f"{path} {body['status']}{' (retry)' if retry else ''} -> {status} {raw[:200]!r}"
    got = json.loads(raw)
    if retry and not got.get("replayed"):
        return f"retry of {body['client_request_id']} not answered as a replay"
    if not retry and got.get("replayed"):
        return f"fresh request {body['client_request_id']} answered as a replay"
    if not retry and got.get("status") != body["status"]:
        return f"{path}: status {got.get('status')} != {body['status']}"
    return None


def run_sheets(port: int, judges: list[Judge], plans: dict[int, list], stats: Stats) -> None:
    barrier = threading.Barrier(len(judges) + 1)

    def one(j: Judge) -> None:
        c = Client(port)
        hdrs = {"Authorization": f"Bearer {j.token}", "X-Device-Id": f"bench-{j.judge_id}",
                "User-Agent": "judging_load"}
        barrier.wait()
        try:
            for path, body, retry in plans[j.judge_id]:
                t0 = time.perf_counter()
                try:
                    status, raw = c.call("PUT", path, body, hdrs)
                except OSError as e:
                    stats.add(0, None, err=f"{path}: {e!r}")
                    continue
                ms = (time.perf_counter() - t0) * 1000
                stats.add(ms, status, problem=answer_problem(path, body, retry, status, raw))
        finally:
            c.close()

    threads = [threading.Thread(target=one, args=(j,)) for j in judges]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    stats.wall = time.perf_counter() - t0


def run_bare(port: int, clients: int, per_client: list[int], stats: Stats, tag: str) -> None:
    barrier = threading.Barrier(clients + 1)

    def one(k: int) -> None:
        c = Client(port)
        barrier.wait()
        try:
            for s in range(per_client[k]):
                t0 = time.perf_counter()
                try:
                    status, raw = c.call("POST", "/bench/bare-insert", {"client": f"{tag}{k}", "seq": s})
                except OSError as e:
                    stats.add(0, None, err=repr(e))
                    continue
                stats.add((time.perf_counter() - t0) * 1000, status,
                          problem=None if 200 <= status < 300 else f"bare -> {status} {raw[:200]!r}")
        finally:
            c.close()

    threads = [threading.Thread(target=one, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    stats.wall = time.perf_counter() - t0


# -- the hall burst ---------------------------------------------------------------------------

def plan_burst(judge: Judge, entries: list[dict], pair: bool, seed: int) -> list[list[tuple[str, dict, bool]]]:
    """Per round, the requests one judge sends when a performance ends: the submission of a
    fresh sheet (all criteria, one PUT, as the tablet sends on 提交) — or, with `pair`, a draft
    then the submission back to back. No deliberate retries here (the saturation run has them)."""
    rng = random.Random(seed * 100019 + judge.judge_id)
    rounds = []
    for e in entries:
        crits = e["criteria"]
        scores = {c["id"]: grid_value(rng, c) for c in crits}
        path = f"/api/v1/me/sheets/{e['id']}"
        reqs = []
        if pair:
            draft = {k: v for k, v in scores.items() if k != crits[-1]["id"]} if len(crits) > 1 else scores
            reqs.append((path, {"scores": draft, "comment": "", "status": "draft",
                                "client_request_id": uuid.UUID(int=rng.getrandbits(128)).hex}, False))
        reqs.append((path, {"scores": scores, "comment": "表达清晰，原理讲解到位。", "status": "submitted",
                            "client_request_id": uuid.UUID(int=rng.getrandbits(128)).hex}, False))
        rounds.append(reqs)
    return rounds


@dataclass
class Lateness:
    """Moments a client could not keep because its previous request was still in flight."""
    late: int = 0
    max_ms: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ms: float) -> None:
        with self.lock:
            if ms > 50:
                self.late += 1
            self.max_ms = max(self.max_ms, ms)


def burst_schedule(clients: int, rounds: range, window: float, seed: int) -> list[list[float]]:
    """[client][round] -> offset in seconds from the start of the run: round r's window is
    [r·window, (r+1)·window) and every client's moment in it is uniform at random."""
    rng = random.Random(seed)
    return [[(i * window) + rng.uniform(0, window) for i, _ in enumerate(rounds)] for _ in range(clients)]


def run_burst(port: int, clients: int, schedule: list[list[float]], send, stats: Stats, late: Lateness) -> None:
    """Open loop: client k sleeps until each of its moments, then sends that round's requests
    (`send(conn, k, round_index)`) back to back on its keep-alive connection. Latency is timed
    from the send; a moment missed because the client's previous request was still in flight is
    counted in `late` (so a server falling behind cannot hide as fewer, slower requests)."""
    barrier = threading.Barrier(clients + 1)
    start = [0.0]

    def one(k: int) -> None:
        c = Client(port)
        barrier.wait()
        try:
            for r, at in enumerate(schedule[k]):
                delay = start[0] + at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                else:
                    late.add(-delay * 1000)
                send(c, k, r)
        finally:
            c.close()

    threads = [threading.Thread(target=one, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    start[0] = time.perf_counter() + 0.2
    barrier.wait()
    for t in threads:
        t.join()
    stats.wall = time.perf_counter() - start[0]


def burst_sheets(port: int, judges: list[Judge], rounds: dict[int, list], schedule, stats: Stats,
                 late: Lateness) -> None:
    hdrs = {j.judge_id: {"Authorization": f"Bearer {j.token}", "X-Device-Id": f"bench-{j.judge_id}",
                         "User-Agent": "judging_load"} for j in judges}

    def send(c: Client, k: int, r: int) -> None:
        j = judges[k]
        for path, body, retry in rounds[j.judge_id][r]:
            t0 = time.perf_counter()
            try:
                status, raw = c.call("PUT", path, body, hdrs[j.judge_id])
            except OSError as e:
                stats.add(0, None, err=f"{path}: {e!r}")
                continue
            stats.add((time.perf_counter() - t0) * 1000, status,
                      problem=answer_problem(path, body, retry, status, raw))

    run_burst(port, len(judges), schedule, send, stats, late)


def burst_bare(port: int, clients: int, per_round: int, schedule, stats: Stats, late: Lateness, tag: str) -> None:
    def send(c: Client, k: int, r: int) -> None:
        for s in range(per_round):
            t0 = time.perf_counter()
            try:
                status, raw = c.call("POST", "/bench/bare-insert", {"client": f"{tag}{k}", "seq": r * per_round + s})
            except OSError as e:
                stats.add(0, None, err=repr(e))
                continue
            stats.add((time.perf_counter() - t0) * 1000, status,
                      problem=None if 200 <= status < 300 else f"bare -> {status} {raw[:200]!r}")

    run_burst(port, clients, schedule, send, stats, late)


# -- the count afterwards ---------------------------------------------------------------------

def planned(plans: dict[int, list]) -> dict[tuple[int, int], list[str]]:
    """(judge, entry) -> the statuses of its fresh requests in order (retries store nothing)."""
    out: dict[tuple[int, int], list[str]] = defaultdict(list)
    for jid, plan in plans.items():
        for path, body, retry in plan:
            if not retry:
                out[(jid, int(path.rsplit("/", 1)[1]))].append(body["status"])
    return out


def expected_events(statuses: list[str]) -> Counter:
    c: Counter = Counter()
    for k, st in enumerate(statuses):
        c["submit" if st == "submitted" else "create" if k == 0 else "update"] += 1
    return c


def verify(url: str, plans: dict[int, list], bare_expected: int) -> tuple[list[str], list[str]]:
    """(lines to print, failures): every planned sheet stored exactly once, submitted, at the
    version its requests make (2 for draft + submit, 1 for a submit alone) with exactly the
    events they make (create + submit, or one submit); every request id stored once; the bare
    rows there. `plans`: judge -> every request sent, in order (saturation then burst)."""
    from sqlalchemy import create_engine, text
    eng = create_engine(url)
    ids = list(plans)
    want = planned(plans)
    pairs = set(want)
    fresh_rids = {(jid, body["client_request_id"]) for jid, plan in plans.items() for _, body, r in plan if not r}
    retried = {(jid, body["client_request_id"]) for jid, plan in plans.items() for _, body, r in plan if r}
    n_retries = sum(1 for plan in plans.values() for _, _, r in plan if r)
    fails: list[str] = []
    with eng.connect() as c:
        in_ids = ",".join(str(i) for i in ids)
        # only the entries the run scored: the demo's judges also hold sheets in other stages
        in_entries = ",".join(str(e) for e in sorted({e for _, e in pairs}))
        sheets = c.execute(text(f"SELECT judge_id, entry_id, status, version FROM score_sheet "
                                f"WHERE judge_id IN ({in_ids}) AND entry_id IN ({in_entries})")).all()
        events = c.execute(text(f"SELECT judge_id, entry_id, action, client_request_id FROM score_event "
                                f"WHERE judge_id IN ({in_ids}) AND entry_id IN ({in_entries})")).all()
        bare = c.execute(text("SELECT count(*) FROM bench_bare")).scalar_one()
    eng.dispose()
    per_pair = Counter((j, e) for j, e, _, _ in sheets)
    dup_sheets = sum(1 for v in per_pair.values() if v > 1)
    lost = pairs - set(per_pair)
    extra = set(per_pair) - pairs
    not_submitted = sum(1 for _, _, s, _ in sheets if str(s).split(".")[-1] != "submitted")
    wrong_version = sum(1 for j, e, _, v in sheets if v != len(want.get((j, e), ())))
    versions = Counter(len(v) for v in want.values())
    actions = defaultdict(Counter)
    for j, e, a, _ in events:
        actions[(j, e)][str(a).split(".")[-1]] += 1
    events_ok = sum(1 for p in pairs if actions[p] == expected_events(want[p]))
    n_expected_events = sum(len(v) for v in want.values())
    shapes = Counter(" + ".join(sorted(expected_events(v).elements())) for v in want.values())
    submit_once = sum(1 for p in pairs if actions[p]["submit"] == 1)
    rid_count = Counter((j, r) for j, _, _, r in events if r is not None)
    rid_dups = sum(1 for v in rid_count.values() if v > 1)
    rid_missing = len(fresh_rids - set(rid_count))
    retried_once = sum(1 for k in retried if rid_count.get(k) == 1)
    lines = [
        f"  sheets expected {len(pairs)}, stored {len(sheets)} (distinct pairs {len(per_pair)}), "
        f"lost {len(lost)}, duplicated {dup_sheets}, unexpected {len(extra)}",
        f"  submitted {len(sheets) - not_submitted}/{len(sheets)}, version as planned "
        f"({', '.join(f'{n} at v{v}' for v, n in sorted(versions.items()))}): "
        f"{len(sheets) - wrong_version}/{len(sheets)}",
        f"  events {len(events)} (expected {n_expected_events}): exactly as planned "
        f"({'; '.join(f'{n} × {k}' for k, n in sorted(shapes.items()))}) {events_ok}/{len(pairs)}, "
        f"one submit {submit_once}/{len(pairs)}",
        f"  request ids: {len(rid_count)} stored of {len(fresh_rids)} sent, missing {rid_missing}, "
        f"duplicated {rid_dups}; {n_retries} retries of {len(retried)} ids, each stored once: "
        f"{retried_once}/{len(retried)}",
        f"  bare rows {bare} (expected {bare_expected})",
    ]
    if lost or dup_sheets or extra:
        fails.append(f"sheets lost {len(lost)} / duplicated {dup_sheets} / unexpected {len(extra)}")
    if not_submitted or wrong_version:
        fails.append(f"{not_submitted} sheets not submitted, {wrong_version} not at their planned version")
    if len(events) != n_expected_events or events_ok != len(pairs) or submit_once != len(pairs):
        fails.append("score events do not match the planned create/submit per sheet")
    if rid_dups or rid_missing or retried_once != len(retried):
        fails.append(f"request ids: {rid_missing} missing, {rid_dups} duplicated")
    if bare != bare_expected:
        fails.append(f"bare rows {bare} != {bare_expected}")
    return lines, fails


# -- the profile --------------------------------------------------------------------------------

PROFILE_FUNCS = [
    # (label, file suffix, function name)
    ("api put_sheet view (whole request body)", "blueprints/api/views.py", "put_sheet"),
    ("  _caller: check_token", "services/judge_access.py", "check_token"),
    ("    judge_access._judge (token.judge/.stage loads)", "services/judge_access.py", "_judge"),
    ("  _actor (judge.person load)", "blueprints/api/views.py", "_actor"),
    ("  sheets.put_sheet", "services/sheets.py", "put_sheet"),
    ("    sheets._replay", "services/sheets.py", "_replay"),
    ("    sheets.check_door", "services/sheets.py", "check_door"),
    ("      declarations.can_score", "services/declarations.py", "can_score"),
    ("        declarations._in_scope", "services/declarations.py", "_in_scope"),
    ("        declarations._panel_scope", "services/declarations.py", "_panel_scope"),
    ("        declarations.stage_uses_assignments", "services/declarations.py", "stage_uses_assignments"),
    ("        conflicts.stage_conflict_index", "services/conflicts.py", "stage_conflict_index"),
    ("          conflicts._lineage", "services/conflicts.py", "_lineage"),
    ("          conflicts._history", "services/conflicts.py", "_history"),
    ("          ConflictIndex.build", "scoring/conflicts.py", "build"),
    ("    sheets.stage_rubric", "services/sheets.py", "stage_rubric"),
    ("      Stage.rubric_ref_for", "models/programme.py", "rubric_ref_for"),
    ("      rubric_registry.rubric_set", "services/rubric_registry.py", "rubric_set"),
    ("        rubric_registry._signature (stat every file)", "services/rubric_registry.py", "_signature"),
    ("    sheets.find_sheet", "services/sheets.py", "find_sheet"),
    ("    sheets.confirmation_of", "services/sheets.py", "confirmation_of"),
    ("    sheets._validated", "services/sheets.py", "_validated"),
    ("    sheets.log_event", "services/sheets.py", "log_event"),
    ("  session.commit", "sqlalchemy/orm/scoping.py", "commit"),
    ("  sheets.sheet_json", "services/sheets.py", "sheet_json"),
]


def profile(env: dict, judges: list[Judge], retry_share: float, seed: int) -> list[str]:
    """The same requests for `judges` through the Flask test client in this process: cProfile
    per-call times of the write path and the SQL per request, grouped by statement."""
    for k in ("DATABASE_URL", "INSTANCE_PATH", "SECRET_KEY"):
        os.environ[k] = env[k]
    from sqlalchemy import event

    from bench_wsgi import make_app
    from extensions import db
    app = make_app()
    client = app.test_client()
    plans = {j.judge_id: plan_requests(j, retry_share, seed + 1) for j in judges}
    sql: Counter = Counter()
    sql_ms: Counter = Counter()
    starts: dict = {}
    with app.app_context():
        engine = db.engine

    def before(conn, cursor, statement, params, context, executemany):
        starts[id(cursor)] = time.perf_counter()

    raw: list[tuple[str, float]] = []       # normalised after the run: keep the listener cheap

    def after(conn, cursor, statement, params, context, executemany):
        raw.append((statement, (time.perf_counter() - starts.pop(id(cursor), time.perf_counter())) * 1000))

    # warm up (rubric registry, first connections) with one judge list each, not profiled
    for j in judges:
        client.get("/api/v1/me/entries", headers={"Authorization": f"Bearer {j.token}"})
    # the first judge's requests unprofiled (wall time per PUT), then the bare inserts likewise,
    # then the other judges under cProfile with the SQL listeners on
    wall, bare_ms = [], []
    first, rest = judges[0], judges[1:]
    hdrs = {"Authorization": f"Bearer {first.token}", "X-Device-Id": "profile"}
    for path, body, _ in plans[first.judge_id]:
        t0 = time.perf_counter()
        client.put(path, json=body, headers=hdrs)
        wall.append((time.perf_counter() - t0) * 1000)
    for k in range(len(wall)):
        t0 = time.perf_counter()
        client.post("/bench/bare-insert", json={"client": "profile", "seq": k})
        bare_ms.append((time.perf_counter() - t0) * 1000)
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    n_req, statuses = 0, Counter()
    prof = cProfile.Profile()
    for j in rest:
        hdrs = {"Authorization": f"Bearer {j.token}", "X-Device-Id": "profile"}
        for path, body, _ in plans[j.judge_id]:
            prof.enable()
            r = client.put(path, json=body, headers=hdrs)
            prof.disable()
            statuses[r.status_code] += 1
            n_req += 1
    event.remove(engine, "before_cursor_execute", before)
    event.remove(engine, "after_cursor_execute", after)
    engine.dispose()
    for statement, ms in raw:
        key = re.sub(r"\s+", " ", statement)
        key = re.sub(r"%\((\w+?)(?:_\d+)?\)s(?:::\w+)?", "?", key)             # psycopg placeholders
        key = re.sub(r"\((?:\?|%\(\w+\)s|\$\d+)(?:, ?(?:\?|%\(\w+\)s|\$\d+))*\)", "(…)", key)
        key = re.sub(r"^SELECT (.{60}).*? FROM ", r"SELECT \1… FROM ", key)        # long column lists
        sql[key[:160]] += 1
        sql_ms[key[:160]] += ms
    st = pstats.Stats(prof, stream=io.StringIO())
    put_p50, bare_p50 = pct(sorted(wall), 50), pct(sorted(bare_ms), 50)
    lines = [f"  one process, Flask test client, no profiler: PUT p50 {put_p50:.1f} ms ({len(wall)} PUTs) vs bare "
             f"insert p50 {bare_p50:.1f} ms -> single-process ratio ceiling {bare_p50 / put_p50:.2f}",
             f"  then {n_req} PUTs of {len(rest)} judges under cProfile (absolute times inflated; compare shares), "
             f"statuses {dict(statuses)}:",
             f"  {'function':52s} {'calls/req':>9s} {'ms/call':>8s} {'ms/req':>8s} {'share':>6s}"]
    total_ms = None
    for label, suffix, name in PROFILE_FUNCS:
        hits = [(k, v) for k, v in st.stats.items() if k[0].endswith(suffix) and k[2] == name]
        if not hits:
            continue
        cc = sum(v[0] for _, v in hits)
        ct = sum(v[3] for _, v in hits) * 1000
        if total_ms is None:
            total_ms = ct
        lines.append(f"  {label:52s} {cc / n_req:9.2f} {ct / max(cc, 1):8.2f} {ct / n_req:8.2f} "
                     f"{ct / total_ms:6.0%}")
    total_q = sum(sql.values())
    lines.append(f"  SQL: {total_q / n_req:.1f} statements per PUT, {sum(sql_ms.values()) / n_req:.1f} ms in the "
                 f"driver per PUT; the most frequent:")
    for stmt, n in sql.most_common(18):
        lines.append(f"    {n / n_req:5.2f}/req {sql_ms[stmt] / n:6.2f} ms  {stmt[:150]}")
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(12)
    lines.append("  top self time (cProfile tottime):")
    for ln in buf.getvalue().splitlines():
        if re.match(r"\s+\d", ln):
            lines.append("   " + ln.rstrip()[:150])
    return lines


# -- one database ---------------------------------------------------------------------------------

def row(label: str, s: Stats) -> str:
    ms = sorted(s.ms)
    rate = s.n / s.wall if s.wall else float("nan")
    return (f"  {label:26s} {s.n:6d} {rate:8.1f} {pct(ms, 50):8.1f} {pct(ms, 95):8.1f} {pct(ms, 99):8.1f} "
            f"{len(s.errors):6d} {s.non2xx:7d}")


def burst_row(label: str, s: Stats) -> str:
    ms = sorted(s.ms)
    return (f"  {label:26s} {s.n:6d} {pct(ms, 50):8.1f} {pct(ms, 95):8.1f} {pct(ms, 99):8.1f} "
            f"{(ms[-1] if ms else float('nan')):8.1f} {len(s.errors):6d} {s.non2xx:7d}")


@dataclass
class Outcome:
    sound: bool
    ratio: float | None           # saturation run: sheets req/s / bare req/s
    p99_burst: float | None       # hall burst: sheet PUT p99
    p99_saturation: float | None  # saturation run: sheet PUT p99 (closed loop; not the target's measure)

    @property
    def p99(self) -> float | None:
        """The figure the p99 target is judged on: the burst's, else (burst not run) saturation's."""
        return self.p99_burst if self.p99_burst is not None else self.p99_saturation

    @property
    def targets(self) -> bool:
        return (self.p99 is not None and self.p99 < P99_TARGET_MS
                and (self.ratio is None or self.ratio >= RATIO_TARGET))


def one_database(kind: str, args) -> Outcome:
    """Run the load on one database; print its tables."""
    tmp = Path(tempfile.mkdtemp(prefix=f"jl-{kind}.", dir="/tmp"))
    t_start = time.perf_counter()
    saturation, burst = args.mode in ("both", "saturation"), args.mode in ("both", "burst")
    n_sat = args.entries if saturation else 0
    n_burst = args.rounds if burst else 0
    try:
        with Database(kind, tmp, args.pg_url) as dbase:
            env, stage, pool = prepare_demo(dbase, tmp)
            rng = random.Random(args.seed)
            rng.shuffle(pool)                      # judges from many panels, not the first few divisions
            need = args.judges + (args.profile_judges if args.profile != "never" else 0)
            candidates = pool[:min(len(pool), need + 10)]
            setup_s = time.perf_counter() - t_start

            with Gunicorn(env, args.workers, args.threads, tmp / "gunicorn.log") as server:
                entries_stats = Stats()
                # each judge's first `entries` scorable entries go to the saturation run, the next
                # `rounds` to the burst (one performance per round)
                chosen = fetch_entries(server.port, candidates, need, n_sat + n_burst, entries_stats)
                judges, spare = chosen[:args.judges], chosen[args.judges:]
                if len(judges) < args.judges:
                    raise SystemExit(f"only {len(judges)} judges of stage {stage} have {n_sat + n_burst} "
                                     f"scorable entries (asked for {args.judges})")
                burst_entries = {j.judge_id: j.entries[n_sat:] for j in judges}
                for j in chosen:
                    j.entries = j.entries[:n_sat] if saturation else j.entries[:args.entries]
                plans = {j.judge_id: plan_requests(j, args.retry_share, args.seed) for j in judges} \
                    if saturation else {j.judge_id: [] for j in judges}
                n_sheet = sum(len(p) for p in plans.values())
                n_retry = sum(1 for p in plans.values() for _, _, r in p if r)
                warm = Stats()
                run_bare(server.port, len(judges), [2] * len(judges), warm, "warm")
                bare_rows = warm.n
                sheets = bare = bare_a = bare_b = None
                if saturation:
                    # the bare baseline: the same number of requests from as many clients, half
                    # before and half after the sheets, so drift on a noisy machine hits both alike
                    per = [n_sheet // len(judges) + (1 if k < n_sheet % len(judges) else 0)
                           for k in range(len(judges))]
                    first = [x // 2 for x in per]
                    second = [x - y for x, y in zip(per, first)]
                    bare_a, bare_b, sheets = Stats(), Stats(), Stats()
                    run_bare(server.port, len(judges), first, bare_a, "a")
                    run_sheets(server.port, judges, plans, sheets)
                    run_bare(server.port, len(judges), second, bare_b, "b")
                    bare = Stats()
                    bare.merge(bare_a)
                    bare.merge(bare_b)
                    bare_rows += bare.n
                b_sheets = b_bare = None
                if burst:
                    per_round = 2 if args.burst_pair else 1
                    rounds = {j.judge_id: plan_burst(j, burst_entries[j.judge_id], args.burst_pair, args.seed)
                              for j in judges}
                    sched_sheets = burst_schedule(len(judges), range(n_burst), args.burst_window, args.seed + 1)
                    # the bare burst: same clients, same rounds, same window, same requests per
                    # moment; half its rounds before the sheets' burst and half after
                    half = n_burst // 2
                    sched_bare = burst_schedule(len(judges), range(n_burst), args.burst_window, args.seed + 2)
                    b_sheets, b_bare_a, b_bare_b = Stats(), Stats(), Stats()
                    late_s, late_b = Lateness(), Lateness()
                    burst_bare(server.port, len(judges), per_round, [r[:half] for r in sched_bare], b_bare_a,
                               late_b, "ba")
                    burst_sheets(server.port, judges, rounds, sched_sheets, b_sheets, late_s)
                    burst_bare(server.port, len(judges), per_round,
                               [[t - half * args.burst_window for t in r[half:]] for r in sched_bare],
                               b_bare_b, late_b, "bb")
                    b_bare = Stats()
                    b_bare.merge(b_bare_a)
                    b_bare.merge(b_bare_b)
                    bare_rows += b_bare.n
                    for jid, rr in rounds.items():
                        plans[jid] = plans[jid] + [q for reqs in rr for q in reqs]
            log_tail = (tmp / "gunicorn.log").read_text()[-2000:]

            checks, fails = verify(dbase.url, plans, bare_rows)
            print(f"\n=== {kind}: {dbase.url.split('@')[-1] if kind != 'sqlite' else 'SQLite WAL file'} · "
                  f"stage {stage} · {len(judges)} judges · gunicorn -w {args.workers}"
                  f"{f' -k gthread --threads {args.threads}' if args.threads > 1 else ' (sync)'} · "
                  f"set-up {setup_s:.0f} s ===")
            ratio = p99_sat = p99_burst = None
            print(f"  GET /me/entries (set-up, {entries_stats.n} judges at once): "
                  f"p50 {pct(sorted(entries_stats.ms), 50):.0f} ms, max {max(entries_stats.ms, default=0):.0f} ms, "
                  f"errors {len(entries_stats.errors)}, non-2xx {entries_stats.non2xx}")
            if saturation:
                sheet_rate = sheets.n / sheets.wall
                bare_rate = bare.n / bare.wall
                ratio = sheet_rate / bare_rate
                p99_sat = pct(sorted(sheets.ms), 99)
                print(f"  -- saturation (closed loop: {len(judges)} clients back to back, {args.entries} entries "
                      f"each) -> the THROUGHPUT target")
                print(f"  {'':26s} {'reqs':>6s} {'req/s':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} "
                      f"{'errors':>6s} {'non-2xx':>7s}")
                print(row("PUT sheets", sheets))
                print(row("POST bare-insert", bare))
                print(f"  sheets: {n_sheet} PUTs = {n_sheet - n_retry} fresh (draft + submit per entry) + {n_retry} "
                      f"retries ({n_retry / n_sheet:.1%}); statuses {dict(sorted(sheets.statuses.items()))}")
                print(f"  bare: before {bare_a.n / bare_a.wall:.1f} req/s, after {bare_b.n / bare_b.wall:.1f} req/s")
                print(f"  throughput ratio sheets/bare: {ratio:.3f}  (target >= {RATIO_TARGET}: "
                      f"{'HOLDS' if ratio >= RATIO_TARGET else 'FAILS'})")
                print(f"  saturation p99 {p99_sat:.0f} ms: not the latency target's measure — closed loop, so mean "
                      f"latency = clients / throughput = {len(judges)} / {sheet_rate:.1f} = "
                      f"{len(judges) / sheet_rate * 1000:.0f} ms by construction")
            if burst:
                p99_burst = pct(sorted(b_sheets.ms), 99)
                n_req = len(judges) * n_burst * per_round
                offered = len(judges) * per_round / args.burst_window
                what = "draft + submit back to back" if args.burst_pair else "the submission PUT alone"
                print(f"  -- hall burst (open loop: {n_burst} rounds; per round each of the {len(judges)} judges "
                      f"sends {what} for a fresh entry at a uniformly random moment in a {args.burst_window:g} s "
                      f"window) -> the LATENCY target")
                print(f"  {'':26s} {'reqs':>6s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} "
                      f"{'errors':>6s} {'non-2xx':>7s}")
                print(burst_row("PUT sheets (burst)", b_sheets))
                print(burst_row("POST bare-insert (burst)", b_bare))
                sat_txt = (f" = {offered / (sheets.n / sheets.wall):.2f} × the saturation sheet throughput "
                           f"({sheets.n / sheets.wall:.1f} req/s)" if saturation else "")
                print(f"  offered load: {len(judges)} × {per_round} / {args.burst_window:g} s = {offered:.1f} req/s "
                      f"averaged over each window{sat_txt}; {n_req} sheet PUTs and {b_bare.n} bare inserts "
                      f"in {b_sheets.wall:.0f} s / {b_bare.wall:.0f} s")
                print(f"  moments missed (client's previous request still in flight > 50 ms): sheets {late_s.late} "
                      f"(max {late_s.max_ms:.0f} ms late), bare {late_b.late}; statuses "
                      f"{dict(sorted(b_sheets.statuses.items()))}")
                print(f"  burst p99 of sheet PUTs {p99_burst:.0f} ms (target < {P99_TARGET_MS:.0f} ms: "
                      f"{'HOLDS' if p99_burst < P99_TARGET_MS else 'FAILS'}); bare p99 in the same shape "
                      f"{pct(sorted(b_bare.ms), 99):.0f} ms")
            print("  database count afterwards (every sheet of both runs):")
            for ln in checks:
                print(ln)
            all_stats = [entries_stats] + [x for x in (sheets, bare, b_sheets, b_bare) if x is not None]
            problems = [m for x in all_stats for m in x.problems]
            errors = [m for x in all_stats for m in x.errors]
            sound = not fails and not problems and not errors and not any(x.non2xx for x in all_stats)
            print(f"  integrity: {'OK' if sound else 'FAILED'}")
            for msg in (fails + errors + problems)[:10]:
                print(f"    ! {msg}")
            if (errors or problems) and "Traceback" in log_tail:
                print("  gunicorn log (tail):\n" + log_tail)
            out = Outcome(sound, ratio, p99_burst, p99_sat)
            if args.profile == "always" or (args.profile == "auto" and not out.targets):
                pj = spare[:args.profile_judges]
                if pj:
                    print(f"  profile ({len(pj)} other judges × {args.entries} entries, same database, one process):")
                    for ln in profile(env, pj, args.retry_share, args.seed):
                        print(ln)
            print(f"  ({kind} total {time.perf_counter() - t_start:.0f} s)")
            sys.stdout.flush()
            return out
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)



def prepare_demo(dbase, tmp: Path) -> tuple[dict, str, list[Judge]]:
    """A fresh migrated database with the demo and the bare table (shared with bench/soak.py):
    the environment for gunicorn, the stage with the most judge cards (the regional round, its
    sheets removed so its judges have work) and that stage's judges in card order."""
    env = dict(os.environ, DATABASE_URL=dbase.url, INSTANCE_PATH=str(tmp),
               SECRET_KEY=f"bench-{uuid.uuid4().hex}", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=f"{ROOT}:{BENCH}")
    flask = [str(VENV_BIN / "flask"), "--app", "app"]
    run(flask + ["db", "upgrade"], env, "flask db upgrade")
    run(flask + ["demo", "--out", str(tmp / "demo")], env, "flask demo")
    from sqlalchemy import create_engine

    from bench_wsgi import create_bare_table
    eng = create_engine(dbase.url)
    create_bare_table(eng)
    eng.dispose()
    rows = list(csv.DictReader(open(tmp / "demo" / "judges.csv", encoding="utf-8")))
    stage = Counter(r["stage"] for r in rows).most_common(1)[0][0]
    unscore_stage(dbase.url, stage)
    return env, stage, [Judge(int(r["judge_id"]), r["token"]) for r in rows if r["stage"] == stage]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=("sqlite", "pg", "both"), default="both")
    ap.add_argument("--mode", choices=("both", "saturation", "burst"), default="both",
                    help="saturation (closed loop, the throughput ratio), burst (hall bursts, the p99) or both")
    ap.add_argument("--judges", type=int, default=50)
    ap.add_argument("--entries", type=int, default=10, help="saturation: entries per judge (draft + submit each)")
    ap.add_argument("--rounds", type=int, default=10, help="burst: rounds (one fresh entry per judge per round)")
    ap.add_argument("--burst-window", type=float, default=3.0,
                    help="burst: seconds in which every judge's moment falls, uniformly at random")
    ap.add_argument("--burst-pair", action="store_true",
                    help="burst: a draft then the submission back to back, instead of the submission alone")
    ap.add_argument("--retry-share", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--threads", type=int, default=4, help="gthread threads per worker (1: sync workers)")
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL"),
                    help="a running PostgreSQL (any database; a fresh one is created in it and dropped)")
    ap.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                    help="single-process profile when a target fails (auto), always or never")
    ap.add_argument("--profile-judges", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else ["sqlite" if args.db == "sqlite" else "postgresql"]
    t0 = time.perf_counter()
    results: dict[str, Outcome] = {}
    for kind in kinds:
        results[kind] = one_database(kind, args)
    print(f"\nsummary ({time.perf_counter() - t0:.0f} s):")
    for kind, o in results.items():
        p99_txt = (f"burst p99 {o.p99_burst:.0f} ms" if o.p99_burst is not None
                   else f"saturation p99 {o.p99_saturation:.0f} ms (no burst run)")
        p99_ok = o.p99 is not None and o.p99 < P99_TARGET_MS
        ratio_txt = (f"saturation ratio {o.ratio:.3f} {'holds' if o.ratio >= RATIO_TARGET else 'FAILS'}"
                     if o.ratio is not None else "ratio not measured (no saturation run)")
        print(f"  {kind:10s} integrity {'OK' if o.sound else 'FAILED'}; p99 < {P99_TARGET_MS:.0f} ms: {p99_txt} "
              f"{'holds' if p99_ok else 'FAILS'}; ratio >= {RATIO_TARGET}: {ratio_txt}")
    return 0 if all(o.sound for o in results.values()) else 1

if __name__ == "__main__":
    sys.exit(main())

