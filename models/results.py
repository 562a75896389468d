"""Publication of results (draft → 公示 → final, frozen snapshots in versions), objections,
certificates with an unguessable verification code, and background batch jobs.

Results themselves are never stored by hand: a publication freezes what `scoring/` computed
(`snapshot`), and a change after publication is a new version with a stated reason; older
versions stay for organisers. Nothing but a publication in `public` or `final` status is ever
shown on a public page.
"""
from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import created_column, enum_column


class PublicationStatus(enum.StrEnum):
    draft = "draft"          # visible to organisers only
    public = "public"        # 公示: on the public page until `objection_until`
    final = "final"          # 最终结果
    superseded = "superseded"  # replaced by a later version (kept for organisers)


class Publication(db.Model):
    """One frozen version of a stage's results (all categories, or one)."""
    __tablename__ = "publication"
    __table_args__ = (UniqueConstraint("stage_id", "scope", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"), index=True)
    # "stage" for the whole stage, or "category:<id>" (a string so the unique key has no NULLs)
    scope: Mapped[str] = mapped_column(String(40), default="stage")
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[PublicationStatus] = enum_column(PublicationStatus, default=PublicationStatus.draft)
    title: Mapped[str] = mapped_column(String(200))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)      # the computed ranking, frozen
    reason: Mapped[Optional[str]] = mapped_column(Text)        # why this version replaces the last
    objection_days: Mapped[int] = mapped_column(Integer, default=5)   # working days of 公示
    objection_until: Mapped[Optional[date]] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = created_column()
    published_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    finalised_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))

    stage: Mapped["Stage"] = relationship()  # noqa: F821
    objections: Mapped[list["Objection"]] = relationship(back_populates="publication",
                                                         cascade="all, delete-orphan")


class PromotionRecord(db.Model):
    """Who carried which entries into the next stage, when, and why when forced: promotion
    changes who competes next, so it leaves a trace like every score does."""
    __tablename__ = "promotion_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    from_stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"), index=True)
    to_stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))                 # "promote" | "reserve" (递补)
    actor: Mapped[str] = mapped_column(String(120))               # "组织方 alice", as shown
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    forced_reason: Mapped[Optional[str]] = mapped_column(Text)    # set when results were not all final
    source_entry_ids: Mapped[list] = mapped_column(JSON, default=list)   # carried now (not before)
    created_entry_ids: Mapped[list] = mapped_column(JSON, default=list)  # their entries in the next stage
    notes: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = created_column()


class Objection(db.Model):
    """An objection received during 公示, and how it was answered."""
    __tablename__ = "objection"

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publication.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[Optional[int]] = mapped_column(ForeignKey("entry.id", ondelete="SET NULL"))
    submitted_by: Mapped[str] = mapped_column(String(120))      # name and contact as received
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = created_column()
    outcome: Mapped[Optional[str]] = mapped_column(Text)
    upheld: Mapped[Optional[bool]] = mapped_column()
    answered_by: Mapped[Optional[str]] = mapped_column(String(120))
    answered_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))

    publication: Mapped[Publication] = relationship(back_populates="objections")


class CertificateKind(enum.StrEnum):
    award = "award"            # 获奖证书
    selection = "selection"    # 入选证书
    completion = "completion"  # 结业证书
    unit = "unit"              # 优秀组织单位


class CertificateTemplate(db.Model):
    """What the organiser configures per programme and kind: wording, issuer, date, seal."""
    __tablename__ = "certificate_template"
    __table_args__ = (UniqueConstraint("programme_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), index=True)
    kind: Mapped[CertificateKind] = enum_column(CertificateKind)
    title: Mapped[str] = mapped_column(String(60))                 # 获奖证书
    wording: Mapped[str] = mapped_column(Text)                     # with {name} {award} {programme} ...
    issuer: Mapped[str] = mapped_column(String(200))
    issued_on: Mapped[Optional[date]] = mapped_column(Date)
    per_member: Mapped[bool] = mapped_column(default=True)        # team entries: one per member
    seal_path: Mapped[Optional[str]] = mapped_column(String(300))  # uploaded image, under instance/
    updated_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))


class Certificate(db.Model):
    """One certificate: a public serial number and an unguessable verification code."""
    __tablename__ = "certificate"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), index=True)
    publication_id: Mapped[Optional[int]] = mapped_column(ForeignKey("publication.id", ondelete="SET NULL"))
    kind: Mapped[CertificateKind] = enum_column(CertificateKind)
    serial: Mapped[str] = mapped_column(String(40), unique=True)          # e.g. FDY2024-0001
    verify_code: Mapped[str] = mapped_column(String(64), unique=True)     # secrets.token_urlsafe
    entry_id: Mapped[Optional[int]] = mapped_column(ForeignKey("entry.id", ondelete="SET NULL"), index=True)
    person_id: Mapped[Optional[int]] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    unit_id: Mapped[Optional[int]] = mapped_column(ForeignKey("unit.id", ondelete="SET NULL"))
    holder_name: Mapped[str] = mapped_column(String(200))
    award_name: Mapped[str] = mapped_column(String(100))
    programme_name: Mapped[str] = mapped_column(String(200))
    detail: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)       # title, category, hours ...
    issued_on: Mapped[date] = mapped_column(Date)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_column()


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class BatchJob(db.Model):
    """A background job (all certificates of a programme as one ZIP and one PDF): progress is
    in the database, so any worker or machine can report it and a restart can resume it."""
    __tablename__ = "batch_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    programme_id: Mapped[Optional[int]] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), index=True)
    status: Mapped[JobStatus] = enum_column(JobStatus, default=JobStatus.queued)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    fingerprint: Mapped[Optional[str]] = mapped_column(String(64))   # inputs' hash: cached output reused
    output: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)   # file paths under instance/
    error: Mapped[Optional[str]] = mapped_column(Text)
    created_by: Mapped[Optional[str]] = mapped_column(String(120))
    created_at: Mapped[datetime] = created_column()
    started_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
