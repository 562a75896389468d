"""Activity reports: what each unit held for each activity of the year's joint action.

One row per (award programme, unit, activity code); the activity codes and their deadlines
are data (data/joint-action/<year>.yaml, read by scoring.activity). Every write appends an
`ActivityReportEvent` with the old and new figures, who wrote them and why (an organiser's
correction after the deadline must give a reason), so nothing changes without a trace.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, CheckConstraint, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import created_column, utcnow


class ActivityReport(db.Model):
    __tablename__ = "activity_report"
    __table_args__ = (
        UniqueConstraint("programme_id", "unit_id", "activity_code"),
        CheckConstraint("events_held >= 0 AND participants >= 0 AND media_reports >= 0", name="counts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    activity_code: Mapped[str] = mapped_column(String(16))
    events_held: Mapped[int] = mapped_column(Integer, default=0)
    participants: Mapped[int] = mapped_column(Integer, default=0)
    media_reports: Mapped[int] = mapped_column(Integer, default=0)
    materials_on: Mapped[Optional[date]] = mapped_column(Date)    # plan, photos, press items, summary filed
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    unit: Mapped["Unit"] = relationship()  # noqa: F821

    def figures(self) -> dict[str, Any]:
        return {"events_held": self.events_held, "participants": self.participants,
                "media_reports": self.media_reports,
                "materials_on": self.materials_on.isoformat() if self.materials_on else None}


class ActivityReportEvent(db.Model):
    """Append-only: inserted, never updated or deleted by the application."""
    __tablename__ = "activity_report_event"
    __table_args__ = (
        CheckConstraint("action IN ('report', 'correct', 'import')", name="action"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("activity_report.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(120))
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    old: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    new: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[Optional[str]] = mapped_column(Text)
    at: Mapped[datetime] = created_column()
