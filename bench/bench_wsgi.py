"""The real app plus one bare endpoint, for `bench/judging_load.py` only (never in production).

``POST /bench/bare-insert`` inserts one row into the tiny table ``bench_bare`` and commits once:
no authentication, no validation, no reads — the floor under any write through the same
gunicorn workers, Flask, SQLAlchemy session and database. ``GET /bench/ping`` answers ``ok``
(readiness probe). `create_bare_table(url)` makes the table before the server starts.

    gunicorn --pythonpath ROOT,ROOT/bench 'bench_wsgi:make_app()'   (DATABASE_URL, SECRET_KEY from env)
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BARE_TABLE_SQL = {
    "sqlite": "CREATE TABLE IF NOT EXISTS bench_bare (id INTEGER PRIMARY KEY AUTOINCREMENT, "
              "client VARCHAR(64) NOT NULL, seq INTEGER NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
    "postgresql": "CREATE TABLE IF NOT EXISTS bench_bare (id SERIAL PRIMARY KEY, client VARCHAR(64) NOT NULL, "
                  "seq INTEGER NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
}


def create_bare_table(engine) -> None:
    from sqlalchemy import text
    with engine.begin() as conn:
        conn.execute(text(BARE_TABLE_SQL[engine.dialect.name]))


def make_app():
    from flask import jsonify, request
    from sqlalchemy import text

    from app import create_app
    from extensions import csrf, db

    app = create_app()

    @app.post("/bench/bare-insert")
    @csrf.exempt
    def bare_insert():
        data = request.get_json(silent=True) or {}
        db.session.execute(text("INSERT INTO bench_bare (client, seq) VALUES (:c, :s)"),
                           {"c": str(data.get("client", ""))[:64], "s": int(data.get("seq", 0))})
        db.session.commit()
        return jsonify({"ok": True}), 201

    @app.get("/bench/ping")
    def ping():
        return "ok"

    return app

