"""Attempts counted in the database, so a limit holds across gunicorn workers and machines."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import utcnow


class RateLimitHit(db.Model):
    __tablename__ = "rate_limit_hit"
    __table_args__ = (Index("ix_rate_limit_hit_bucket_at", "bucket", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bucket: Mapped[str] = mapped_column(String(120))     # "cert-lookup:203.0.113.7"
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
