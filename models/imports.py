"""A log of every import attempt, with the rejected rows, so organisers can fix and retry."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import created_column


class ImportBatch(db.Model):
    __tablename__ = "import_batch"
    __table_args__ = (
        CheckConstraint("status IN ('applied', 'rejected')", name="status"),
        CheckConstraint("kind IN ('units', 'judges', 'entries', 'trainees', 'activity_reports')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), index=True)
    stage_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_created: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    # [{"row": 7, "column": "单位编号", "message": "..."}]; row 0 means the whole file.
    errors: Mapped[list] = mapped_column(JSON, default=list)
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_column()

    user: Mapped[Optional["User"]] = relationship()  # noqa: F821
