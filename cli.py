"""Flask CLI commands: rubric checks, the demo, accounts (backup, restore and the score export in cli_backup)."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app


def register_cli(app: Flask) -> None:
    import cli_certificates
    cli_certificates.register(app)
    import cli_backup
    cli_backup.register(app)

    @app.cli.group("rubrics")
    def rubrics_group():
        """Rubric files under rubrics/."""

    @rubrics_group.command("check")
    def rubrics_check():
        """Validate every rubric file; exit 1 and name file, field and reason on failure."""
        from scoring.rubric import check_rubric_dir
        root = Path(current_app.config["RUBRIC_DIR"])
        rubrics, errors = check_rubric_dir(root)
        for ref in sorted(rubrics):
            r = rubrics[ref]
            click.echo(f"ok     {ref}  ({r.id} v{r.version})")
        for err in errors:
            click.echo(f"ERROR  {err}", err=True)
        click.echo(f"{len(rubrics)} valid, {len(errors)} invalid")
        if errors:
            sys.exit(1)

    @app.cli.command("demo")
    @click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
                  help="Directory for accounts.csv and judges.csv")
    @click.option("--if-empty", is_flag=True, help="Do nothing if the database already has programmes")
    @click.option("--seed", default=2024, show_default=True, help="Random seed for generated data")
    def demo(out_dir: str, if_empty: bool, seed: int):
        """Rebuild the demo data (generated, no real people) in the configured database."""
        from extensions import db
        from models import Programme
        from services.demo import build_demo
        if if_empty and db.session.query(Programme.id).first() is not None:
            click.echo("database already has programmes; demo not loaded")
            return
        summary = build_demo(db.session, Path(out_dir), seed=seed,
                             base_url=current_app.config["PUBLIC_BASE_URL"])
        click.echo(summary)

    @app.cli.command("create-user")
    @click.argument("username")
    @click.argument("role", type=click.Choice(["organiser", "chief", "judge", "oversight", "unit_contact"]))
    @click.option("--name", "display_name", default=None)
    @click.password_option()
    def create_user(username: str, role: str, display_name: str | None, password: str):
        """Create an account (organisers create the first one this way in production)."""
        from extensions import db
        from models import Role, User
        if db.session.query(User).filter_by(username=username).first():
            click.echo(f"user {username} already exists", err=True)
            sys.exit(1)
        user = User(username=username, role=Role(role), display_name=display_name or username)
        user.set_password(password)
        db.session.add(user)
        db.session.commit()
        click.echo(f"created {role} {username}")
