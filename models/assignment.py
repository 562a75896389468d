"""Who judges what, and the audit trail of how it was decided.

Live rounds assign judges to panels (`PanelMember`); review designs (a national preliminary
review, resource review) assign judges to entries one by one (`Assignment`). Every automatic
run and every draw by lot is recorded with its seed so it can be reproduced and audited."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import created_column


class Assignment(db.Model):
    __tablename__ = "assignment"
    __table_args__ = (
        UniqueConstraint("judge_id", "entry_id"),
        CheckConstraint("source IN ('auto', 'manual')", name="source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"), index=True)
    judge_id: Mapped[int] = mapped_column(ForeignKey("judge.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entry.id", ondelete="CASCADE"), index=True)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)  # placed by hand; kept on re-run
    source: Mapped[str] = mapped_column(String(16), default="auto")
    created_at: Mapped[datetime] = created_column()

    judge: Mapped["Judge"] = relationship()  # noqa: F821
    entry: Mapped["Entry"] = relationship()  # noqa: F821


class AssignmentRun(db.Model):
    """One press of the button: what was solved, with which seed, and what came out."""
    __tablename__ = "assignment_run"
    __table_args__ = (
        CheckConstraint("kind IN ('panels', 'reviews')", name="kind"),
        CheckConstraint("status IN ('applied', 'infeasible')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    seed: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)
    summary: Mapped[dict] = mapped_column(JSON, default=dict)   # loads, spread, match, reasons
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_column()


class DrawRecord(db.Model):
    """A draw by lot (抽签) of running order or anonymous codes, reproducible from its seed."""
    __tablename__ = "draw_record"
    __table_args__ = (CheckConstraint("kind IN ('order', 'codes')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[Optional[int]] = mapped_column(ForeignKey("category.id"))
    division_id: Mapped[Optional[int]] = mapped_column(ForeignKey("division.id"))
    kind: Mapped[str] = mapped_column(String(16))
    seed: Mapped[str] = mapped_column(String(32))
    entry_ids: Mapped[list] = mapped_column(JSON, default=list)  # the input set, for verification
    result: Mapped[list] = mapped_column(JSON, default=list)     # the order (or codes) drawn
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_column()


class ReassignmentFlag(db.Model):
    """An entry that lost a judge (a conflict declared after assignment) and needs another."""
    __tablename__ = "reassignment_flag"

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entry.id", ondelete="CASCADE"), index=True)
    judge_id: Mapped[Optional[int]] = mapped_column(ForeignKey("judge.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[Optional[datetime]] = mapped_column(db.DateTime(timezone=True))
    created_at: Mapped[datetime] = created_column()

    entry: Mapped["Entry"] = relationship()  # noqa: F821
    judge: Mapped[Optional["Judge"]] = relationship()  # noqa: F821
