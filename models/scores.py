"""Score sheets, the append-only score event log, the chief's entry record and 统分确认.

A sheet is one judge's marks for one entry (unique per judge × entry). Marks are stored as
exact decimal strings ("8.5"), never floats, because published results must be reproducible to
the cent. `version` rises on every change: a client that sends the version it last saw learns
when the server copy moved on (HTTP 409, "stale"). Nothing is overwritten without a trace: every
create, update, submit, reopen, record, confirm and unconfirm appends a `ScoreEvent` with the
old and the new state, who did it and from which device.
"""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import created_column, enum_column, utcnow


class SheetStatus(enum.StrEnum):
    draft = "draft"            # saved, still editable by the judge
    submitted = "submitted"    # final from the judge; read-only until the chief reopens it
    locked = "locked"          # the entry's result is confirmed (统分确认)


class ScoreSheet(db.Model):
    __tablename__ = "score_sheet"
    __table_args__ = (UniqueConstraint("judge_id", "entry_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entry.id", ondelete="CASCADE"), index=True)
    judge_id: Mapped[int] = mapped_column(ForeignKey("judge.id", ondelete="CASCADE"), index=True)
    rubric_id: Mapped[str] = mapped_column(String(64))
    rubric_version: Mapped[int] = mapped_column(Integer)
    scores: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)       # criterion -> "8.5"
    penalties: Mapped[Optional[dict[str, int]]] = mapped_column(JSON)        # deduction id -> count
    inputs: Mapped[Optional[dict[str, str]]] = mapped_column(JSON)           # e.g. duration_seconds
    flags: Mapped[Optional[list[str]]] = mapped_column(JSON)
    total: Mapped[Optional[str]] = mapped_column(String(32))                 # Σ weight × score so far
    comment: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[SheetStatus] = enum_column(SheetStatus, default=SheetStatus.draft)
    version: Mapped[int] = mapped_column(Integer, default=1)
    device: Mapped[Optional[str]] = mapped_column(String(300))
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))

    entry: Mapped["Entry"] = relationship()  # noqa: F821
    judge: Mapped["Judge"] = relationship()  # noqa: F821


class EventAction(enum.StrEnum):
    create = "create"
    update = "update"
    submit = "submit"
    reopen = "reopen"
    record = "record"          # the chief's entry record (duration, deductions)
    confirm = "confirm"
    unconfirm = "unconfirm"
    close = "close"            # scoring closed for a stage
    open = "open"


class ScoreEvent(db.Model):
    """Append-only: rows are inserted, never updated or deleted by the application.
    `client_request_id` is unique per judge, which is what makes a retried PUT idempotent even
    when two copies of it race on two workers."""
    __tablename__ = "score_event"
    __table_args__ = (UniqueConstraint("judge_id", "client_request_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[Optional[int]] = mapped_column(ForeignKey("entry.id", ondelete="CASCADE"), index=True)
    sheet_id: Mapped[Optional[int]] = mapped_column(ForeignKey("score_sheet.id", ondelete="SET NULL"))
    judge_id: Mapped[Optional[int]] = mapped_column(ForeignKey("judge.id", ondelete="CASCADE"), index=True)
    action: Mapped[EventAction] = enum_column(EventAction)
    actor: Mapped[str] = mapped_column(String(120))          # "评委 J001 张三" / "organiser admin"
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    old: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    new: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    reason: Mapped[Optional[str]] = mapped_column(Text)
    device: Mapped[Optional[str]] = mapped_column(String(300))
    ip: Mapped[Optional[str]] = mapped_column(String(64))
    client_request_id: Mapped[Optional[str]] = mapped_column(String(64))
    at: Mapped[datetime] = created_column()


class EntryScoreRecord(db.Model):
    """What the chief judge (or timekeeper) records for the whole entry: the measured duration
    (overtime), deductions applied once, decided flags. Judges' own notes stay on their sheets."""
    __tablename__ = "entry_score_record"

    entry_id: Mapped[int] = mapped_column(ForeignKey("entry.id", ondelete="CASCADE"), primary_key=True)
    inputs: Mapped[Optional[dict[str, str]]] = mapped_column(JSON)
    penalties: Mapped[Optional[dict[str, int]]] = mapped_column(JSON)
    flags: Mapped[Optional[list[str]]] = mapped_column(JSON)
    updated_by: Mapped[Optional[str]] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EntryConfirmation(db.Model):
    """统分确认: the entry's result computed by `scoring/` and frozen. One per entry (a unique
    constraint, so two chief judges confirming at once yield exactly one result)."""
    __tablename__ = "entry_confirmation"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entry.id", ondelete="CASCADE"), unique=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"), index=True)
    rubric_id: Mapped[str] = mapped_column(String(64))
    rubric_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))                 # EntryResult.status
    final_score: Mapped[Optional[str]] = mapped_column(String(32))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    confirmed_by: Mapped[str] = mapped_column(String(120))
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime] = created_column()

    entry: Mapped["Entry"] = relationship()  # noqa: F821
