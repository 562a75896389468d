"""Resource selection (优质科学教育资源遴选): what a unit submits, its files, and the format check.

A `ResourceSubmission` is the unit's own record (editable until the deadline). On first submission
it gets an `Entry` in the call's 形式审查 stage; passing the format check carries that entry into
初评 through the usual promotion copy (`Entry.source_entry_id`), so reviewing, results and
publication work on entries exactly as in every other programme.
"""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import created_column, enum_column, utcnow


class ResourceStatus(enum.StrEnum):
    draft = "draft"            # 草稿
    submitted = "submitted"    # 已提交 (waiting for the format check)
    returned = "returned"      # 退回修改 (with reasons)
    passed = "passed"          # 通过形式审查
    withdrawn = "withdrawn"    # 已撤回


class ResourceSubmission(db.Model):
    __tablename__ = "resource_submission"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    authors: Mapped[str] = mapped_column(String(400), default="")
    status: Mapped[ResourceStatus] = enum_column(ResourceStatus, default=ResourceStatus.draft)
    # The reasons of the latest return, as the unit sees them (Chinese); the log is FormatCheckDecision.
    return_reasons: Mapped[Optional[list]] = mapped_column(JSON)
    entry_id: Mapped[Optional[int]] = mapped_column(ForeignKey("entry.id", ondelete="SET NULL"))
    created_by: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_column()
    submitted_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    programme: Mapped["Programme"] = relationship()  # noqa: F821
    unit: Mapped["Unit"] = relationship()  # noqa: F821
    category: Mapped["Category"] = relationship()  # noqa: F821
    entry: Mapped[Optional["Entry"]] = relationship()  # noqa: F821
    attachments: Mapped[list["ResourceAttachment"]] = relationship(
        back_populates="submission", order_by="ResourceAttachment.id", cascade="all, delete-orphan")


class ResourceAttachment(db.Model):
    """A file kept under instance/uploads (never static/) under a random name, or a video link."""
    __tablename__ = "resource_attachment"
    __table_args__ = (
        CheckConstraint("kind IN ('file', 'link')", name="kind"),
        CheckConstraint("(kind = 'file' AND stored_name IS NOT NULL) OR (kind = 'link' AND url IS NOT NULL)",
                        name="file_or_link"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("resource_submission.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200))           # the sanitised name shown and downloaded
    stored_name: Mapped[Optional[str]] = mapped_column(String(64), unique=True)
    mime: Mapped[Optional[str]] = mapped_column(String(64))
    size: Mapped[Optional[int]] = mapped_column(Integer)
    url: Mapped[Optional[str]] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_column()

    submission: Mapped[ResourceSubmission] = relationship(back_populates="attachments")


class FormatCheckDecision(db.Model):
    """Append-only log of 形式审查 decisions: who passed or returned what, and why."""
    __tablename__ = "format_check_decision"
    __table_args__ = (CheckConstraint("outcome IN ('pass', 'return')", name="outcome"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("resource_submission.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(8))
    failed_items: Mapped[list] = mapped_column(JSON, default=list)
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_column()


class ResourceCallSettings(db.Model):
    """The organiser's shortlist and selection rule for one call (defaults: the rubrics' promotion)."""
    __tablename__ = "resource_call_settings"

    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), primary_key=True)
    shortlist_per_type: Mapped[Optional[int]] = mapped_column(Integer)
    shortlist_min_score: Mapped[Optional[str]] = mapped_column(String(16))
    select_per_type: Mapped[Optional[int]] = mapped_column(Integer)
    select_min_score: Mapped[Optional[str]] = mapped_column(String(16))
