"""A sliding-window limit on guessable lookups (certificate lookup, judge PIN), kept in the
database: no worker memory, so the limit is the same whichever worker or machine answers.

`allow(session, bucket, limit, window)` records the attempt and says whether it is within the
limit; refused attempts are recorded too, so hammering does not open the door sooner. Rows
older than the window are deleted for the bucket as it is used. Commits nothing itself: the
caller's transaction carries the attempt (views commit even when they refuse).
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app, request
from sqlalchemy import delete, func, select

from models import RateLimitHit
from models.base import utcnow


def client_key() -> str:
    """The client's address as the last proxy saw it (`X-Forwarded-For` is trusted only when
    the deployment says so: RATE_LIMIT_TRUST_PROXY)."""
    if current_app.config.get("RATE_LIMIT_TRUST_PROXY"):
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return (request.remote_addr or "unknown")[:64]


def allow(session, bucket: str, limit: int, window_seconds: int) -> bool:
    now = utcnow()
    since = now - timedelta(seconds=window_seconds)
    session.execute(delete(RateLimitHit).where(RateLimitHit.bucket == bucket, RateLimitHit.at < since))
    used = session.scalar(select(func.count()).select_from(RateLimitHit)
                          .where(RateLimitHit.bucket == bucket, RateLimitHit.at >= since))
    session.add(RateLimitHit(bucket=bucket[:120], at=now))
    session.flush()
    return used < limit


def limit_for(name: str) -> tuple[int, int]:
    """(attempts, seconds) from config, e.g. RATE_LIMIT_CERT_LOOKUP = (20, 600)."""
    defaults = {"cert_lookup": (20, 600), "judge_pin": (10, 600)}
    return tuple(current_app.config.get(f"RATE_LIMIT_{name.upper()}", defaults[name]))  # type: ignore[return-value]
