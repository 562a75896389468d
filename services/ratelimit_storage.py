"""A `limits` storage kept in the application's own database (table `rate_limit_hit`), so a
Flask-Limiter limit holds whichever gunicorn worker or machine answers: no worker memory, no
extra server to run. Configure with ``RATELIMIT_STORAGE_URI = "appdb://"`` and
``RATELIMIT_STRATEGY = "moving-window"`` (the only strategy it supports).

Each accepted hit is one row (bucket = the limit's key, at = when). Every call runs in its own
short transaction on the app's engine, committed at once, so a hit counts even when the
request's own transaction later rolls back, and the request's session is never touched.
Rows older than the window are deleted for the bucket as it is used.

Known limit, accepted: two workers checking the same bucket at the same instant may both see
room for the last attempt, so a burst can overshoot a limit by the number of concurrent
requests (a few), never by an order of magnitude.
"""
from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import current_app, has_app_context
from limits.storage import MovingWindowSupport, Storage
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from extensions import db
from models import RateLimitHit
from models.base import as_utc, utcnow

BUCKET_MAX = 120          # RateLimitHit.bucket is String(120)


def bucket_for(key: str) -> str:
    """The key itself when it fits; a stable digest otherwise (never a truncation that could
    merge two users' buckets)."""
    if len(key) <= BUCKET_MAX:
        return key
    return "LIMITER-sha256:" + hashlib.sha256(key.encode()).hexdigest()


class DatabaseStorage(Storage, MovingWindowSupport):
    STORAGE_SCHEME = ["appdb"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    @staticmethod
    def _table():
        return RateLimitHit.__table__

    # -- moving window: the strategy we use ---------------------------------------------------

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        t, bucket, now = self._table(), bucket_for(key), utcnow()
        with db.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.bucket == bucket, t.c.at < now - timedelta(seconds=expiry)))
            used = conn.scalar(select(func.count()).select_from(t).where(t.c.bucket == bucket))
            if used + amount > limit:
                return False
            conn.execute(insert(t), [{"bucket": bucket, "at": now} for _ in range(amount)])
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        t, bucket, now = self._table(), bucket_for(key), utcnow()
        since = now - timedelta(seconds=expiry)
        with db.engine.connect() as conn:
            oldest, count = conn.execute(select(func.min(t.c.at), func.count())
                                         .where(t.c.bucket == bucket, t.c.at >= since)).one()
        start = as_utc(oldest).timestamp() if oldest is not None else now.timestamp()
        return start, int(count)

    # -- the rest of the Storage contract -----------------------------------------------------

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError("appdb:// supports only RATELIMIT_STRATEGY = 'moving-window'")

    def get(self, key: str) -> int:
        raise NotImplementedError("appdb:// supports only RATELIMIT_STRATEGY = 'moving-window'")

    def get_expiry(self, key: str) -> float:
        raise NotImplementedError("appdb:// supports only RATELIMIT_STRATEGY = 'moving-window'")

    def check(self) -> bool:
        if not has_app_context():
            return False
        try:
            with db.engine.connect() as conn:
                conn.scalar(select(func.count()).select_from(self._table()))
            return True
        except SQLAlchemyError:
            current_app.logger.exception("rate limit storage check failed")
            return False

    def reset(self) -> int | None:
        t = self._table()
        with db.engine.begin() as conn:
            return conn.execute(delete(t).where(t.c.bucket.like("LIMITER%"))).rowcount

    def clear(self, key: str) -> None:
        t = self._table()
        with db.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.bucket == bucket_for(key)))
