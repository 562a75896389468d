"""Shared column helpers: enums stored as checked strings, UTC timestamps."""
from __future__ import annotations

import enum
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import DateTime, Enum
from sqlalchemy.orm import mapped_column


#: China has one time zone and no daylight saving: every date a user sees is Beijing time.
BEIJING = timezone(timedelta(hours=8))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone-aware columns; they were stored as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def in_beijing(moment: datetime) -> datetime:
    """A stored moment (aware or SQLite-naive UTC) as Beijing time, for display."""
    return as_utc(moment).astimezone(BEIJING)


def beijing_today() -> date:
    return datetime.now(BEIJING).date()


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
