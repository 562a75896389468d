"""Backup and restore of the configured database (`flask --app app backup` / `restore`).

SQLite is copied with sqlite3's online backup API, page by page inside a read transaction,
so the copy is consistent while gunicorn workers keep writing under WAL (a file copy is not:
it can miss the WAL or tear a page). PostgreSQL goes through `pg_dump --format=custom` and
`pg_restore --clean --if-exists --no-owner --single-transaction`; the password travels in
PGPASSWORD, never on a command line that `ps` shows.

A restore refuses, before touching anything, a file that is not a backup of the database's
kind, and a backup whose migration revision this code does not know (made by newer code);
a backup from older code is restored and the caller is told to run `flask db upgrade`.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
#: Tables whose row counts the commands print: what an organiser recognises.
KEY_TABLES = ("programme", "stage", "entry", "judge", "user_account", "score_sheet", "score_event",
              "entry_confirmation", "publication", "certificate")
#: Tables that mean "this database holds data" (the restore asks for --yes).
DATA_TABLES = ("programme", "entry", "judge", "user_account", "score_sheet", "publication")
PG_TIMEOUT = 3600


class BackupError(Exception):
    """A refused backup or restore; the message says what is wrong and what to do."""


@dataclass
class BackupResult:
    path: Path
    size: int
    counts: dict[str, int]


@dataclass
class RestoreResult:
    kind: str
    backup_revision: str | None
    code_heads: tuple[str, ...]
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)

    @property
    def needs_upgrade(self) -> bool:
        return self.backup_revision not in self.code_heads


def kind_of(url: str | URL) -> str:
    """`sqlite` or `postgresql` for a SQLAlchemy URL; anything else is refused."""
    backend = make_url(url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"不支持备份此类数据库：{backend}（仅支持 SQLite 与 PostgreSQL）")
    return backend


def sqlite_path(url: str | URL) -> Path:
    db = make_url(url).database
    if not db or db == ":memory:":
        raise BackupError("内存中的 SQLite 数据库无法备份或恢复，请配置数据库文件（DATABASE_URL）")
    return Path(db)


def default_path(instance_path: str | Path, kind: str, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    suffix = "sqlite3" if kind == "sqlite" else "pgdump"
    return Path(instance_path) / "backups" / f"scoring-{stamp}.{suffix}"


def file_kind(path: Path) -> str:
    """What a backup file is, by its first bytes: `sqlite`, `postgresql`, or a BackupError."""
    if not path.exists():
        raise BackupError(f"备份文件不存在：{path}")
    if not path.is_file():
        raise BackupError(f"不是文件：{path}")
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    if b"PostgreSQL database dump" in head:
        raise BackupError(f"{path} 是纯文本 SQL 转储，不是 pg_dump --format=custom 备份，请用 psql 手工导入")
    raise BackupError(f"{path} 不是本系统的备份文件（既不是 SQLite 数据库，也不是 pg_dump custom 格式）")


def count_rows(url: str | URL, tables=KEY_TABLES) -> dict[str, int]:
    """Row counts of the key tables that exist (a fresh database has none)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            return {t: conn.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one()
                    for t in tables if t in present}
    finally:
        engine.dispose()


def has_data(url: str | URL) -> bool:
    return any(n > 0 for n in count_rows(url, DATA_TABLES).values())


def code_heads(migrations_dir: str | Path) -> tuple[str, ...]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    return tuple(ScriptDirectory.from_config(cfg).get_heads())


def known_revisions(migrations_dir: str | Path) -> set[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    return {s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()}


# -- backup -----------------------------------------------------------------------------------

def backup(url: str | URL, out: Path) -> BackupResult:
    """Write a consistent backup of the database at `url` to `out` (parents created)."""
    kind = kind_of(url)
    out = Path(out)
    if out.exists() and out.is_dir():
        raise BackupError(f"{out} 是目录，请给出备份文件的路径")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        if kind == "sqlite":
            _sqlite_backup(sqlite_path(url), partial)
            counts = count_rows(f"sqlite:///{partial}")
        else:
            counts = count_rows(url)
            _run_pg("pg_dump", url, ["--format=custom", "--no-password", f"--file={partial}"])
        os.replace(partial, out)
    finally:
        if partial.exists():
            partial.unlink()
    return BackupResult(out, out.stat().st_size, counts)


def _sqlite_backup(src_path: Path, dst_path: Path) -> None:
    if not src_path.exists():
        raise BackupError(f"数据库文件不存在：{src_path}")
    src = sqlite3.connect(src_path, timeout=30)   # read-write open: a read-only one cannot map the WAL index
    dst = sqlite3.connect(dst_path)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")   # one self-contained file, no -wal beside it
    finally:
        dst.close()
        src.close()


# -- restore ----------------------------------------------------------------------------------

def backup_revision(path: Path, kind: str, url: str | URL) -> str | None:
    """The Alembic revision recorded in a backup file (None when it has none)."""
    if kind == "sqlite":
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if "alembic_version" not in names:
                    if not names & set(DATA_TABLES):
                        raise BackupError(f"{path} 是 SQLite 数据库，但不是本系统的备份（没有评审数据表）")
                    return None
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                return row[0] if row else None
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} 无法读取：{exc}") from None
    listing = _run_pg("pg_restore", None, ["--list", "--file=-", str(path)], capture=True)
    if not re.search(r"TABLE public (programme|entry|score_sheet) ", listing):
        raise BackupError(f"{path} 是 pg_dump 备份，但不是本系统的备份（没有评审数据表）")
    if "TABLE DATA public alembic_version" not in listing:
        return None
    dump = _run_pg("pg_restore", None, ["--data-only", "--table=alembic_version", "--file=-", str(path)],
                   capture=True)
    m = re.search(r"COPY public\.alembic_version \(version_num\) FROM stdin;\n([^\n\\]+)\n", dump)
    return m.group(1).strip() if m else None


def restore(url: str | URL, path: Path, migrations_dir: str | Path, *, overwrite: bool) -> RestoreResult:
    """Replace the database at `url` with the backup at `path` (module doc for the checks)."""
    kind = kind_of(url)
    path = Path(path)
    found = file_kind(path)
    if found != kind:
        names = {"sqlite": "SQLite", "postgresql": "PostgreSQL（pg_dump）"}
        raise BackupError(f"{path} 是 {names[found]} 备份，而当前配置的数据库是 {names[kind]}，不能恢复；"
                          "请检查 DATABASE_URL 或换用对应的备份文件")
    revision = backup_revision(path, kind, url)
    heads = code_heads(migrations_dir)
    if revision is not None and revision not in known_revisions(migrations_dir):
        raise BackupError(f"备份的数据库版本 {revision} 比当前程序新（程序不认识这个迁移版本），"
                          "请先更新程序，再恢复")
    if not overwrite and has_data(url):
        raise BackupError("当前数据库已有数据，恢复会覆盖全部数据；确认无误请加 --yes 再运行")
    if kind == "sqlite":
        _sqlite_restore(path, sqlite_path(url))
    else:
        _run_pg("pg_restore", url, ["--clean", "--if-exists", "--no-owner", "--no-privileges",
                                    "--single-transaction", "--exit-on-error", "--no-password", str(path)])
    result = RestoreResult(kind, revision, heads, count_rows(url))
    if revision is None:
        result.notes.append("备份中没有迁移版本记录（数据库不是用 flask db upgrade 建立的），"
                            "请核对表结构，必要时运行 flask --app app db stamp head")
    elif result.needs_upgrade:
        result.notes.append(f"备份的数据库版本 {revision} 比当前程序旧，请运行 flask --app app db upgrade")
    return result


def _sqlite_restore(src_path: Path, dst_path: Path) -> None:
    """Copy the backup into the live file through the backup API: other connections see the
    whole old database or the whole new one, and the file keeps its WAL mode."""
    dst_path.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
    dst = sqlite3.connect(dst_path, timeout=30)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")
    finally:
        dst.close()
        src.close()


# -- PostgreSQL client tools ------------------------------------------------------------------

def pg_tool(name: str) -> str:
    """`pg_dump` / `pg_restore` from PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(re.search(r"/(\d+)/bin/", p).group(1)))
    if candidates:
        return candidates[-1]
    raise BackupError(f"找不到 {name}：请安装 postgresql-client（apt-get install postgresql-client）")


def _pg_args(url: str | URL) -> tuple[list[str], dict[str, str]]:
    u = make_url(url)
    args, env = [], {}
    if u.host:
        args.append(f"--host={u.host}")
    if u.port:
        args.append(f"--port={u.port}")
    if u.username:
        args.append(f"--username={u.username}")
    args.append(f"--dbname={u.database}")
    if u.password:
        env["PGPASSWORD"] = u.password
    return args, env


def _run_pg(tool: str, url: str | URL | None, extra: list[str], *, capture: bool = False) -> str:
    args, env = _pg_args(url) if url is not None else ([], {})
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    cmd = [pg_tool(tool), *args, *extra]
    proc = subprocess.run(cmd, env={**clean, **env}, capture_output=True, text=True, timeout=PG_TIMEOUT)
    if proc.returncode != 0:
        raise BackupError(f"{tool} 失败（退出码 {proc.returncode}）：{proc.stderr.strip()[-2000:]}")
    return proc.stdout
