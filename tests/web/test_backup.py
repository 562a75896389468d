"""`flask backup` / `flask restore` as an operator uses them: a round trip brings back every
score sheet, score event, confirmation and publication exactly, on the test's SQLite file and,
when TEST_DATABASE_URL is set, on PostgreSQL (pg_dump / pg_restore); bad files and a database
that already holds data are refused with a message that says why, and nothing changes."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text

from extensions import db
from models import (EntryConfirmation, EntryScoreRecord, Programme, Publication, ScoreEvent, ScoreSheet,
                    SheetStatus)
from services import publication as pub_svc
from services import sheets as svc
from services.backup import code_heads, known_revisions
from tests.web.test_chief_console import build_hall, submit_all

TABLES = [ScoreSheet, ScoreEvent, EntryConfirmation, EntryScoreRecord, Publication, Programme]


@pytest.fixture
def hall(app, competition):
    """Two entries scored by the panel, one with the chief's overtime record, one confirmed,
    the stage published (公示); the database carries the migration revision as `db upgrade`
    leaves it."""
    h = build_hall(competition)
    e1, e2 = h.entries[:2]
    submit_all(h, e1, [80, 82, 81, 79, 90, 70])
    submit_all(h, e2, [70, 72, 71, 69, 75, 65])
    chief = svc.Actor(label="评委组长 王组长", judge_id=h.chief.id)
    svc.record_entry(db.session, e2, h.stage, chief, inputs={"duration_seconds": "331"})
    svc.confirm(db.session, e1, h.stage, chief)
    pub = pub_svc.create_draft(db.session, h.stage, actor="组织方甲")
    pub_svc.publish(db.session, pub, "组织方甲")
    stamp(head(app))
    db.session.commit()
    return h


def head(app) -> str:
    return code_heads(app.extensions["migrate"].directory)[0]


def stamp(revision: str) -> None:
    db.session.execute(text("CREATE TABLE IF NOT EXISTS alembic_version "
                            "(version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
    db.session.execute(text("DELETE FROM alembic_version"))
    db.session.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": revision})


def state() -> dict[str, list[tuple]]:
    """Every row of the tables that matter, column by column, in id order."""
    db.session.expire_all()
    out = {}
    for model in TABLES:
        cols = list(model.__table__.columns)
        rows = db.session.execute(select(*cols).order_by(*model.__table__.primary_key.columns)).all()
        out[model.__tablename__] = [tuple(r) for r in rows]
    out["alembic_version"] = [tuple(r) for r in db.session.execute(text("SELECT version_num FROM alembic_version"))]
    return out


def cli(app, *args):
    db.session.commit()
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.remove()
    return result


def is_pg(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def test_round_trip_brings_everything_back(app, hall, tmp_path):
    before = state()
    assert len(before["score_sheet"]) == 12 and len(before["publication"]) == 1
    assert len(before["entry_confirmation"]) == 1 and len(before["entry_score_record"]) == 1
    out = tmp_path / "nightly" / "scoring.bak"
    result = cli(app, "backup", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"backup written: {out.resolve()}" in result.output
    assert f"({out.stat().st_size} bytes)" in result.output
    assert "score_sheet 12" in result.output and "publication 1" in result.output
    assert out.read_bytes()[:5] == (b"PGDMP" if is_pg(app) else b"SQLit")

    # After the backup: a sheet changed, events and the publication deleted, a programme added.
    sheet = db.session.scalars(select(ScoreSheet).where(ScoreSheet.status == SheetStatus.submitted)).first()
    sheet.comment, sheet.scores = "改过", {**sheet.scores, "kexuexing": "1"}
    db.session.execute(delete(ScoreEvent).where(ScoreEvent.action == "submit"))
    db.session.execute(delete(Publication))
    db.session.execute(delete(EntryConfirmation))
    db.session.add(Programme(name="备份之后新建的项目", kind="competition", year=2025))
    db.session.commit()
    assert state() != before

    refused = cli(app, "restore", str(out))
    assert refused.exit_code == 1 and "已有数据" in refused.output and "--yes" in refused.output
    assert db.session.scalar(select(func.count(Publication.id))) == 0

    result = cli(app, "restore", str(out), "--yes")
    assert result.exit_code == 0, result.output
    assert "score_sheet 12" in result.output and f"code head: {head(app)}" in result.output
    assert "db upgrade" not in result.output
    assert state() == before
    # The restored database is the live one: the app reads and writes it again.
    assert db.session.scalars(select(Publication)).one().status == pub_svc.S.public
    db.session.add(Programme(name="恢复之后新建的项目", kind="competition", year=2026))
    db.session.commit()


def test_restore_into_an_empty_database_needs_no_yes(app, hall, tmp_path):
    before = state()
    out = tmp_path / "b.bak"
    assert cli(app, "backup", "--out", str(out)).exit_code == 0
    db.session.remove()
    db.drop_all()
    db.session.remove()
    result = cli(app, "restore", str(out))
    assert result.exit_code == 0, result.output
    assert state() == before


def test_backup_from_older_code_is_restored_with_an_upgrade_hint(app, hall, tmp_path):
    previous = next(r for r in known_revisions(app.extensions["migrate"].directory) if r != head(app))
    stamp(previous)
    db.session.commit()
    out = tmp_path / "old.bak"
    assert cli(app, "backup", "--out", str(out)).exit_code == 0
    result = cli(app, "restore", str(out), "--yes")
    assert result.exit_code == 0, result.output
    assert f"备份的数据库版本 {previous} 比当前程序旧" in result.output
    assert "flask --app app db upgrade" in result.output


def test_backup_from_newer_code_is_refused_before_anything_changes(app, hall, tmp_path):
    stamp("ffffffffffff")
    db.session.commit()
    out = tmp_path / "new.bak"
    assert cli(app, "backup", "--out", str(out)).exit_code == 0
    stamp(head(app))
    db.session.execute(delete(Publication))
    db.session.commit()
    result = cli(app, "restore", str(out), "--yes")
    assert result.exit_code == 1
    assert "备份的数据库版本 ffffffffffff 比当前程序新" in result.output and "先更新程序" in result.output
    assert db.session.scalar(select(func.count(Publication.id))) == 0


def _foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.commit()
    conn.close()


def _bad_file(kind: str, tmp_path: Path, app) -> tuple[Path, str]:
    path = tmp_path / f"{kind}.bak"
    if kind == "missing":
        return path, f"备份文件不存在：{path}"
    if kind == "text":
        path.write_text("这不是备份\n", encoding="utf-8")
        return path, "不是本系统的备份文件（既不是 SQLite 数据库，也不是 pg_dump custom 格式）"
    if kind == "plain_sql":
        path.write_text("--\n-- PostgreSQL database dump\n--\n", encoding="utf-8")
        return path, "是纯文本 SQL 转储，不是 pg_dump --format=custom 备份"
    if kind == "wrong_kind":
        if is_pg(app):
            _foreign_sqlite(path)
            return path, "是 SQLite 备份，而当前配置的数据库是 PostgreSQL（pg_dump），不能恢复"
        path.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 64)
        return path, "是 PostgreSQL（pg_dump） 备份，而当前配置的数据库是 SQLite，不能恢复"
    if kind == "other_sqlite":
        _foreign_sqlite(path)
        if is_pg(app):   # any SQLite file is the wrong kind here
            return path, "是 SQLite 备份，而当前配置的数据库是 PostgreSQL（pg_dump），不能恢复"
        return path, "是 SQLite 数据库，但不是本系统的备份（没有评审数据表）"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing", "text", "plain_sql", "wrong_kind", "other_sqlite"])
def test_bad_backup_files_are_refused_and_change_nothing(app, hall, tmp_path, kind):
    before = state()
    path, message = _bad_file(kind, tmp_path, app)
    result = cli(app, "restore", str(path), "--yes")
    assert result.exit_code == 1
    assert "恢复失败：" in result.output and message in result.output
    assert state() == before


def test_backup_to_a_directory_is_refused(app, hall, tmp_path):
    result = cli(app, "backup", "--out", str(tmp_path))
    assert result.exit_code != 0
    assert not list(tmp_path.glob("*.partial"))


def test_default_backup_path_is_timestamped_under_instance(app, hall, tmp_path, monkeypatch):
    monkeypatch.setattr(app, "instance_path", str(tmp_path / "instance"))
    result = cli(app, "backup")
    assert result.exit_code == 0, result.output
    files = list((tmp_path / "instance" / "backups").iterdir())
    assert len(files) == 1 and files[0].name.startswith("scoring-")
    assert files[0].suffix == (".pgdump" if is_pg(app) else ".sqlite3")
    assert str(files[0].resolve()) in result.output


def test_sqlite_backup_includes_commits_still_in_the_wal(tmp_path):
    """A running app's last commits sit in scoring.db-wal until a checkpoint: a file copy of
    scoring.db loses them, the online backup does not, and gives one self-contained file."""
    from services.backup import backup
    live = tmp_path / "live.db"
    writer = sqlite3.connect(live)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE programme (id INTEGER PRIMARY KEY, name TEXT)")
    writer.executemany("INSERT INTO programme (name) VALUES (?)", [(f"项目{i}",) for i in range(50)])
    writer.commit()                    # the writer stays open, as a gunicorn worker would
    try:
        assert (tmp_path / "live.db-wal").stat().st_size > 0
        copied = tmp_path / "copy.db"
        copied.write_bytes(live.read_bytes())
        conn = sqlite3.connect(copied)
        assert "programme" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        conn.close()
        result = backup(f"sqlite:///{live}", tmp_path / "b.sqlite3")
        assert result.counts == {"programme": 50}
        assert not (tmp_path / "b.sqlite3-wal").exists()
        conn = sqlite3.connect(tmp_path / "b.sqlite3")
        assert conn.execute("SELECT COUNT(*), MAX(name) FROM programme").fetchone() == (50, "项目9")
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
    finally:
        writer.close()


def test_pg_password_goes_in_the_environment_not_the_command_line(tmp_path, monkeypatch):
    """`ps` shows every argument: the password must only be in PGPASSWORD, and the caller's
    own PG* variables must not redirect pg_dump to another server."""
    import services.backup as backup_svc
    calls = []

    def fake_run(cmd, env, **kw):
        calls.append((cmd, env))
        Path(next(a for a in cmd if a.startswith("--file=")).split("=", 1)[1]).write_bytes(b"PGDMP...")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    import subprocess
    monkeypatch.setattr(backup_svc.subprocess, "run", fake_run)
    monkeypatch.setattr(backup_svc, "count_rows", lambda url, tables=None: {"programme": 1})
    monkeypatch.setenv("PGHOST", "elsewhere.example")
    result = backup_svc.backup("postgresql+psycopg://scoring:s3cret-pw@db.internal:5433/scoring", tmp_path / "x.pgdump")
    cmd, env = calls[0]
    assert cmd[0].endswith("pg_dump") and "--format=custom" in cmd
    assert {"--host=db.internal", "--port=5433", "--username=scoring", "--dbname=scoring"} <= set(cmd)
    assert not any("s3cret" in part for part in cmd)
    assert env["PGPASSWORD"] == "s3cret-pw" and "PGHOST" not in env
    assert result.path.read_bytes().startswith(b"PGDMP")
