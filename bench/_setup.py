"""Shared set-up for benchmarks that need the app: a throwaway database with provinces."""
from __future__ import annotations

import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@contextmanager
def bench_app(url: str | None):
    """Yield (app, tmpdir) inside an app context on a fresh schema; drop it afterwards."""
    from app import create_app
    from extensions import db
    from models import ensure_provinces

    tmp = Path(tempfile.mkdtemp())
    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url or f"sqlite:///{tmp}/bench.db"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        ensure_provinces(db.session)
        db.session.commit()
        try:
            yield app, tmp
        finally:
            db.session.remove()
            db.drop_all()
