"""Shared column helpers: enums stored as checked strings, UTC timestamps."""
from __future__ import annotations

import enum
from datetime import datetime, timezone

from sqlalchemy import DateTime, Enum
from sqlalchemy.orm import mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def enum_column(enum_cls: type[enum.Enum], **kw):
    """A portable enum: VARCHAR + CHECK constraint, storing the value (not the name),
    so the same migration works on SQLite and PostgreSQL."""
    return mapped_column(
        Enum(
            enum_cls,
            native_enum=False,
            create_constraint=True,
            length=32,
            values_callable=lambda e: [m.value for m in e],
            name=enum_cls.__name__.lower(),
        ),
        **kw,
    )


def created_column():
    return mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
