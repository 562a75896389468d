"""`flask --app app certificates ...`: certificate commands (register with `register(app)`).

`certificates batch --programme ID` renders every valid certificate of a programme into one
PDF and one ZIP under the instance folder, printing progress; an unchanged programme reuses the
cached output (`--force` renders again).
"""
from __future__ import annotations

import click
from flask import Flask


def register(app: Flask) -> None:
    @app.cli.group("certificates")
    def certificates():
        """Certificates: batch generation."""

    @certificates.command("batch")
    @click.option("--programme", "programme_id", type=int, required=True, help="programme id")
    @click.option("--force", is_flag=True, help="render again even if the cached output is current")
    def batch(programme_id: int, force: bool):
        """Render all certificates of a programme as one PDF and one ZIP."""
        from extensions import db
        from models import JobStatus, Programme
        from services import certificates as svc
        if db.session.get(Programme, programme_id) is None:
            raise click.ClickException(f"no programme {programme_id}")
        job, created = svc.start_batch(db.session, programme_id, "cli")
        if force and not created and job.status == JobStatus.done:
            job.fingerprint = None          # retire the cached one
            db.session.flush()
            job, created = svc.start_batch(db.session, programme_id, "cli")
        db.session.commit()
        if not created and job.status == JobStatus.done:
            click.echo(f"cached: {job.output['pdf']}\ncached: {job.output['zip']} ({job.total} certificates)")
            return
        if not created:
            raise click.ClickException(f"job {job.id} is already {job.status} ({job.done}/{job.total})")
        svc.CHUNK_CALLBACK = lambda j: click.echo(f"{j.done}/{j.total}", err=True)
        try:
            job = svc.run_batch(db.session, job.id)
        except Exception as exc:
            raise click.ClickException(f"batch failed: {exc}") from exc
        finally:
            svc.CHUNK_CALLBACK = None
        click.echo(f"{job.output['pdf']}\n{job.output['zip']} ({job.total} certificates)")
