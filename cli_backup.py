"""Flask CLI: `backup`, `restore` and `export-scores` (services/backup.py, services/score_export.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app


def _url() -> str:
    return current_app.config["SQLALCHEMY_DATABASE_URI"]


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{t} {n}" for t, n in counts.items()) or "(no tables)"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if size < 1024 or unit == "TiB":
            break
    return f"{size:.1f} {unit}"


def register(app: Flask) -> None:
    @app.cli.command("backup")
    @click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
                  help="Backup file (default: instance/backups/scoring-<UTC time>.sqlite3 or .pgdump)")
    def backup_cmd(out: str | None):
        """Back up the configured database (SQLite online backup, or pg_dump --format=custom)."""
        from services.backup import BackupError, backup, default_path, kind_of
        url = _url()
        try:
            path = Path(out) if out else default_path(current_app.instance_path, kind_of(url))
            result = backup(url, path)
        except BackupError as exc:
            click.echo(f"备份失败：{exc}", err=True)
            sys.exit(1)
        click.echo(f"backup written: {result.path.resolve()}")
        click.echo(f"size: {_size(result.size)} ({result.size} bytes)")
        click.echo(f"rows: {_counts_line(result.counts)}")

    @app.cli.command("restore")
    @click.argument("path", type=click.Path(dir_okay=False))
    @click.option("--yes", is_flag=True, help="Overwrite a database that already holds data")
    def restore_cmd(path: str, yes: bool):
        """Replace the configured database with a backup made by `backup`."""
        from extensions import db
        from services.backup import BackupError, restore
        # No pooled connection of ours may hold the old database open while it is replaced.
        db.session.remove()
        db.engine.dispose()
        try:
            result = restore(_url(), Path(path), current_app.extensions["migrate"].directory, overwrite=yes)
        except BackupError as exc:
            click.echo(f"恢复失败：{exc}", err=True)
            sys.exit(1)
        finally:
            db.engine.dispose()
        click.echo(f"restored {result.kind} backup {Path(path).resolve()}")
        click.echo(f"rows: {_counts_line(result.counts)}")
        click.echo(f"migration revision: {result.backup_revision or '(none)'}; "
                   f"code head: {', '.join(result.code_heads)}")
        for note in result.notes:
            click.echo(note)

    @app.cli.command("export-scores")
    @click.option("--out", "out", required=True, type=click.Path(file_okay=False),
                  help="Directory for one folder per stage and category (and division)")
    def export_scores_cmd(out: str):
        """Export every raw score with its rubric and the published ranking, for
        `python -m scoring rank` to reproduce the published results offline."""
        from extensions import db
        from services.score_export import export_scores
        manifest = export_scores(db.session, Path(out), Path(current_app.config["RUBRIC_DIR"]))
        for item in manifest["rankings"]:
            pub = item["published"]
            state = f"published v{pub['version']} ({pub['status']})" if pub else "not published"
            click.echo(f"{item['directory']}: {item['entries']} entries, {item['sheets']} sheets, {state}")
        click.echo(f"{len(manifest['rankings'])} rankings written to {Path(out).resolve()}")
