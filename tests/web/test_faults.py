"""Faults under load (issue 9, item 3): 50 judges submit through a real gunicorn while one
worker is SIGKILLed, then the whole server is killed (master and workers at once, as the OOM
killer or a crashed container would) and started again on the same port and database, then
stopped gracefully (SIGTERM) and started once more. The clients behave like the tablet's outbox
(static/js/judge-outbox.js): on a refused or reset connection, a 502/503/504 or a timeout they
resend THE SAME request (same body, same `client_request_id`) after a bounded backoff.

Afterwards, from the database: every judge × entry has exactly one sheet, submitted, with
exactly the marks of the last request sent; the event log holds exactly one event per request
sent (create, update, submit, in order, each request id once) — zero lost, zero duplicated —
and every request was eventually answered 2xx with the sheet it wrote.

Runs on SQLite (a fresh file migrated by `flask db upgrade`) and, when TEST_DATABASE_URL is set
(`make test`'s second run), on a fresh PostgreSQL database created in that cluster and dropped.
No timing is asserted; the summary line is printed (`pytest -s` shows it).
"""
from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

N_JUDGES = 50
N_ENTRIES = 3                  # per judge: draft, draft, submission for each -> 450 PUTs
REQUEST_TIMEOUT = 10.0         # seconds before a client gives up on an answer and resends
RUN_LIMIT = 300.0              # seconds: a request still unanswered by then is reported as lost
# (criterion, max) of the exhibit-guiding rubric; every step is 0.5
CRITERIA = [("kexuexing", 25), ("neirong_zuzhi", 20), ("fudao_fangfa", 25), ("yuyan_yitai", 15),
            ("wenda_yingbian", 10), ("shijian_kongzhi", 5)]
JUDGE_PROVINCES = ["11", "12", "13", "14", "15", "21", "22", "23", "31", "32"]   # none is 贵州 (52)


# -- the database --------------------------------------------------------------------------------

@pytest.fixture
def fresh_url(tmp_path):
    """A database no other test uses: a new SQLite file, or a new database in the PostgreSQL
    cluster of TEST_DATABASE_URL (dropped afterwards, with FORCE: a killed worker's backend
    may still be on its way out)."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'faults.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    url = make_url(base)
    name = f"faults_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def server_env(url: str, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL",)}
    env.update(DATABASE_URL=url, SECRET_KEY=f"faults-{uuid.uuid4().hex}", INSTANCE_PATH=str(tmp_path / "instance"),
               OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return env


def migrate(env: dict) -> None:
    proc = subprocess.run([str(VENV_BIN / "flask"), "--app", "app", "db", "upgrade"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


@dataclass
class World:
    tokens: dict[int, str]          # judge id -> bearer token
    entry_ids: list[int]
    stage_id: int


def build_world(url: str) -> World:
    """One regional stage (贵州 division, exhibit guiding), N_ENTRIES entries from a 贵州 unit,
    one panel of N_JUDGES judges from ten other provinces, a token per judge."""
    from app import create_app
    from extensions import db
    from models import JudgeToken, Panel, PanelMember, PanelRole, Unit, ensure_provinces
    from services.programme_templates import create_from_template
    from tests.web.test_judge_access import _entry, _judge

    app = create_app({"SECRET_KEY": "faults-world", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        provinces = ensure_provinces(db.session)
        prog = create_from_template(db.session, "docent_competition", year=2024)
        db.session.flush()
        stage = prog.stages[0]
        exhibit = next(c for c in prog.categories if c.code == "exhibit")
        div = next(d for d in prog.divisions if d.province_id == provinces["52"].id)
        gz = Unit(external_id="U0520", name="贵州省科技馆", province_id=provinces["52"].id)
        units = [Unit(external_id=f"U{code}0", name=f"{code} 科技馆", province_id=provinces[code].id)
                 for code in JUDGE_PROVINCES]
        db.session.add_all([gz, *units])
        db.session.flush()
        entries = [_entry(stage, exhibit, f"E{i + 1:03d}", f"作品{i + 1}", f"选手{i + 1}", gz, division=div,
                          draw=i + 1) for i in range(N_ENTRIES)]
        judges = [_judge(prog, f"J{i + 1:03d}", f"评委{i + 1}", units[i % len(units)]) for i in range(N_JUDGES)]
        db.session.flush()
        panel = Panel(stage_id=stage.id, name="贵州赛区展品辅导组", category_id=exhibit.id, division_id=div.id)
        for i, j in enumerate(judges):
            panel.members.append(PanelMember(judge_id=j.id, role=PanelRole.chief if i == 0 else PanelRole.member))
        db.session.add(panel)
        tokens = {}
        for j in judges:
            row, plain = JudgeToken.issue(j.id, stage.id)
            db.session.add(row)
            tokens[j.id] = plain
        db.session.commit()
        world = World(tokens, [e.id for e in entries], stage.id)
        db.session.remove()
        db.engine.dispose()
    return world


# -- the server ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes() -> list[tuple[int, str, int, int]]:
    """(pid, state, parent pid, process group) of every process, from /proc."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        state, ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        out.append((int(d), state, int(ppid), int(pgrp)))
    return out


def children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (gunicorn's workers)."""
    return [p for p, state, ppid, _ in processes() if ppid == pid and state != "Z"]


def group_alive(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    return [p for p, state, _, pgrp in processes() if pgrp == pgid and state != "Z"]


class Server:
    """gunicorn in its own session (process group = the master's pid), so the master and every
    worker can be killed at once, and nothing survives `stop()`."""

    def __init__(self, env: dict, port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.proc: subprocess.Popen | None = None
        self.groups: list[int] = []        # every process group started, for the final clean-up

    def start(self) -> None:
        cmd = [str(VENV_BIN / "gunicorn"), "-w", "3", "-k", "gthread", "--threads", "4", "--keep-alive", "30",
               "-b", f"127.0.0.1:{self.port}", "--timeout", "60", "--graceful-timeout", "10",
               "--backlog", "2048", "--log-level", "warning", "app:create_app()"]
        with open(self.log, "a") as logf:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=logf, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.groups.append(self.proc.pid)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"gunicorn exited ({self.proc.returncode}):\n{self.tail()}"
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/api/v1/me")
                status = c.getresponse().status
                c.close()
                if status == 401 and len(self.workers()) == 3:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"gunicorn did not answer within 90 s:\n{self.tail()}")

    def workers(self) -> list[int]:
        return children(self.proc.pid) if self.proc is not None else []

    def kill_worker(self) -> int:
        pid = self.workers()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def crash(self) -> None:
        """SIGKILL the master and its workers together; in-flight transactions die with them."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._wait_group_gone(self.proc.pid)

    def graceful_stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self._wait_group_gone(self.proc.pid)

    @staticmethod
    def _wait_group_gone(pgid: int, timeout: float = 30) -> None:
        """Until the old server's processes are gone (the port is free again)."""
        deadline = time.monotonic() + timeout
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)

    def cleanup(self) -> list[int]:
        """Kill whatever is left of every server this test started (its own process groups
        only); return the processes that still survive (there should be none)."""
        for pgid in self.groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(group_alive(g) for g in self.groups):
            time.sleep(0.05)
        return [p for g in self.groups for p in group_alive(g)]

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@pytest.fixture
def server_factory(tmp_path):
    made: list[Server] = []

    def make(env: dict) -> Server:
        s = Server(env, free_port(), tmp_path / "gunicorn.log")
        made.append(s)
        return s
    yield make
    survivors = [p for s in made for p in s.cleanup()]
    assert not survivors, f"gunicorn processes survived the test: {survivors}"


# -- the judges ----------------------------------------------------------------------------------

@dataclass
class Sent:
    judge_id: int
    entry_id: int
    body: dict
    attempts: int = 0
    status: int | None = None
    answer: dict | None = None
    problem: str | None = None


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: int = 0
    attempts: int = 0
    retries: int = 0
    seen: Counter = field(default_factory=Counter)      # what made a client retry
    deadline: float = field(default_factory=lambda: time.monotonic() + RUN_LIMIT)
    abort: threading.Event = field(default_factory=threading.Event)    # fault injection failed

    def note(self, kind: str) -> None:
        with self.lock:
            self.retries += 1
            self.seen[kind] += 1


def marks(rng: random.Random, upto: int) -> dict[str, float]:
    """Valid marks on the 0.5 grid for the first `upto` criteria, in the upper half."""
    return {cid: rng.randint(hi, 2 * hi) / 2 for cid, hi in CRITERIA[:upto]}


def plan(judge_id: int, entry_ids: list[int], seed: int) -> list[Sent]:
    """Per entry: a first draft (with base_version 0, as the tablet sends its first save), a
    second draft with other marks (chained: no base_version), then the submission with all
    marks changed again — the sheet must end with exactly those."""
    rng = random.Random(seed * 7919 + judge_id)
    out = []
    for eid in entry_ids:
        bodies = [
            {"scores": marks(rng, 3), "status": "draft", "comment": "", "base_version": 0},
            {"scores": marks(rng, 5), "status": "draft", "comment": "草稿"},
            {"scores": marks(rng, 6), "status": "submitted", "comment": f"评委{judge_id}的评语"},
        ]
        for b in bodies:
            b["client_request_id"] = uuid.uuid4().hex
            out.append(Sent(judge_id, eid, b))
    return out


def send_until_answered(port: int, token: str, req: Sent, tally: Tally, conn_box: list) -> None:
    """Resend the same request until the server answers something other than a transport
    failure or a 502/503/504; backoff 50 ms doubling to 1 s, with jitter."""
    data = json.dumps(req.body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    backoff = 0.05
    while True:
        req.attempts += 1
        with tally.lock:
            tally.attempts += 1
        kind = None
        try:
            if conn_box[0] is None:
                conn_box[0] = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
            conn = conn_box[0]
            conn.request("PUT", f"/api/v1/me/sheets/{req.entry_id}", body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            if resp.status in (502, 503, 504):
                kind = f"HTTP {resp.status}"
            else:
                req.status = resp.status
                try:
                    req.answer = json.loads(raw)
                except ValueError:
                    req.problem = f"not JSON: {raw[:200]!r}"
                return
        except socket.timeout:
            kind = "timeout"
        except (http.client.HTTPException, OSError) as exc:
            kind = type(exc).__name__
        if conn_box[0] is not None:
            conn_box[0].close()
            conn_box[0] = None
        tally.note(kind)
        if time.monotonic() > tally.deadline or tally.abort.is_set():
            req.problem = f"no answer after {req.attempts} attempts (last: {kind})"
            return
        time.sleep(backoff * (0.5 + random.random()))
        backoff = min(1.0, backoff * 2)


def judge_thread(port: int, token: str, reqs: list[Sent], tally: Tally) -> None:
    conn_box: list = [None]
    try:
        for req in reqs:
            send_until_answered(port, token, req, tally, conn_box)
            with tally.lock:
                tally.done += 1
    finally:
        if conn_box[0] is not None:
            conn_box[0].close()


# -- the test ------------------------------------------------------------------------------------

def wait_progress(tally: Tally, share: float, total: int, stop: threading.Event) -> int:
    """Block until `share` of the requests are answered; return how many were still to go."""
    while not stop.is_set():
        with tally.lock:
            if tally.done >= share * total:
                return total - tally.done
        time.sleep(0.01)
    return 0


def test_no_sheet_is_lost_or_duplicated_when_workers_and_the_server_die(tmp_path, fresh_url, server_factory):
    t0 = time.monotonic()
    env = server_env(fresh_url, tmp_path)
    migrate(env)
    world = build_world(fresh_url)
    server = server_factory(env)
    server.start()
    plans = {jid: plan(jid, world.entry_ids, seed=11) for jid in world.tokens}
    total = sum(len(p) for p in plans.values())
    tally = Tally()
    faults: list[tuple[str, int]] = []       # (what, requests still to go when injected)
    stop = threading.Event()
    fault_error: list[BaseException] = []

    def inject():
        try:
            left = wait_progress(tally, 0.15, total, stop)
            pid = server.kill_worker()
            faults.append((f"SIGKILL worker {pid}", left))
            left = wait_progress(tally, 0.40, total, stop)
            server.crash()
            faults.append(("SIGKILL master + workers", left))
            server.start()
            left = wait_progress(tally, 0.65, total, stop)
            server.graceful_stop()
            faults.append(("SIGTERM master (graceful)", left))
            server.start()
        except BaseException as exc:      # reported by the main thread
            fault_error.append(exc)
            tally.abort.set()

    clients = [threading.Thread(target=judge_thread, args=(server.port, world.tokens[jid], reqs, tally))
               for jid, reqs in plans.items()]
    faulter = threading.Thread(target=inject)
    t_run = time.monotonic()
    faulter.start()
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    stop.set()
    faulter.join()
    t_end = time.monotonic()
    assert not fault_error, f"fault injection failed: {fault_error[0]!r}\n{server.tail()}"

    sent = [r for reqs in plans.values() for r in reqs]
    statuses = Counter(r.status for r in sent)
    replayed = sum(1 for r in sent if r.answer and r.answer.get("replayed"))
    print(f"\nfaults test ({'PostgreSQL' if fresh_url.startswith('postgresql') else 'SQLite'}): "
          f"{total} PUTs by {len(plans)} judges, {tally.attempts} attempts, {tally.retries} retries; "
          f"errors seen by clients {dict(tally.seen)}; statuses {dict(statuses)}; answered as replays "
          f"{replayed} (stored earlier; the first answer was lost or overtaken); faults injected (requests still to go) {faults}; "
          f"set-up {t_run - t0:.0f} s, run {t_end - t_run:.0f} s")

    # every fault happened while judges were still sending, and the clients felt them
    assert len(faults) == 3 and all(left > 0 for _, left in faults), faults
    assert tally.retries > 0, "no client noticed the faults"

    # every request eventually answered 2xx with the sheet it wrote
    problems = [f"{r.judge_id}/{r.entry_id} {r.body['client_request_id']}: {r.problem or r.status} "
                f"{json.dumps(r.answer, ensure_ascii=False)[:300] if r.answer else ''}"
                for r in sent if r.problem or r.status is None or not 200 <= r.status < 300]
    assert not problems, f"{len(problems)} requests not answered 2xx:\n" + "\n".join(problems[:10]) + \
        "\n" + server.tail()
    wrong = [f"{r.judge_id}/{r.entry_id}: sent {r.body['status']} {r.body['scores']}, answered "
             f"{r.answer['status']} {r.answer['scores']}" for r in sent
             if r.answer["status"] != r.body["status"] or as_marks(r.answer["scores"]) != as_marks(r.body["scores"])]
    assert not wrong, "\n".join(wrong[:10])

    check_database(fresh_url, world, plans)


def as_marks(scores: dict) -> dict[str, Decimal]:
    return {k: Decimal(str(v)) for k, v in scores.items()}


def check_database(url: str, world: World, plans: dict[int, list[Sent]]) -> None:
    """The database after the storm: one sheet per judge × entry with the last marks sent, and
    exactly one event per request sent (so nothing lost, nothing stored twice)."""
    from sqlalchemy import create_engine, select

    from models import EventAction, ScoreEvent, ScoreSheet, SheetStatus

    eng = create_engine(url)
    try:
        with eng.connect() as c:
            sheets = c.execute(select(ScoreSheet.__table__).where(ScoreSheet.stage_id == world.stage_id)).all()
            events = c.execute(select(ScoreEvent.__table__).where(ScoreEvent.stage_id == world.stage_id)
                               .order_by(ScoreEvent.id)).all()
    finally:
        eng.dispose()

    pairs = Counter((s.judge_id, s.entry_id) for s in sheets)
    expected_pairs = {(jid, eid) for jid in plans for eid in world.entry_ids}
    lost = expected_pairs - set(pairs)
    duplicated = {p: n for p, n in pairs.items() if n > 1}
    unexpected = set(pairs) - expected_pairs
    assert (len(lost), len(duplicated), len(unexpected)) == (0, 0, 0), \
        f"lost {sorted(lost)[:5]}, duplicated {duplicated}, unexpected {sorted(unexpected)[:5]}"

    by_pair = {(s.judge_id, s.entry_id): s for s in sheets}
    sent_ids = Counter(r.body["client_request_id"] for reqs in plans.values() for r in reqs)
    stored_ids = Counter(e.client_request_id for e in events)
    assert stored_ids == sent_ids, (
        f"request ids: missing {len(set(sent_ids) - set(stored_ids))}, stored twice "
        f"{sum(1 for n in stored_ids.values() if n > 1)}, unknown {len(set(stored_ids) - set(sent_ids))}")

    events_of: dict[tuple[int, int], list] = {}
    for e in events:
        events_of.setdefault((e.judge_id, e.entry_id), []).append(e)
    bad = []
    for jid, reqs in plans.items():
        for eid in world.entry_ids:
            mine = [r for r in reqs if r.entry_id == eid]
            last = mine[-1].body
            s = by_pair[(jid, eid)]
            if s.status != SheetStatus.submitted or as_marks(s.scores) != as_marks(last["scores"]) \
                    or s.comment != last["comment"] or s.version != len(mine):
                bad.append(f"sheet {jid}/{eid}: {s.status} v{s.version} {s.scores} (sent {last['scores']})")
            evs = events_of.get((jid, eid), [])
            actions = [str(e.action) for e in evs]
            if actions != [EventAction.create, EventAction.update, EventAction.submit] \
                    or [e.client_request_id for e in evs] != [r.body["client_request_id"] for r in mine] \
                    or any(e.sheet_id != s.id for e in evs):
                bad.append(f"events {jid}/{eid}: {actions}")
    assert not bad, f"{len(bad)} sheets wrong:\n" + "\n".join(bad[:10])
