"""Teacher-training sessions (期): the roster, half-day attendance, leave, check-in codes and
directly entered marks. The instructors' scored components (course design, presentation) are
ordinary entries judged through the competition's judge flow; see services/training.py."""
from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Optional

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import created_column, enum_column, utcnow


class Half(enum.StrEnum):
    am = "am"   # 上午
    pm = "pm"   # 下午


class TrainingSlot(db.Model):
    """One half-day of a session; attendance is counted per slot and hours add up to the
    training hours (学时) printed on the completion certificate."""
    __tablename__ = "training_slot"
    __table_args__ = (UniqueConstraint("programme_id", "day", "half"),
                      CheckConstraint("hours > 0 AND hours <= 8", name="hours_range"))

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    half: Mapped[Half] = enum_column(Half)
    title: Mapped[Optional[str]] = mapped_column(String(120))   # e.g. 专题讲座：跨学科概念
    hours: Mapped[int] = mapped_column(Integer, default=4)

    @property
    def label(self) -> str:
        return f"{self.day.month}月{self.day.day}日{'上午' if self.half == Half.am else '下午'}"


class Trainee(db.Model):
    """A teacher on a session's roster. `person_id` ties the trainee to the entries the
    instructors score (one per scored component, in the session's assessment stage)."""
    __tablename__ = "trainee"
    __table_args__ = (UniqueConstraint("programme_id", "external_id"),
                      UniqueConstraint("programme_id", "person_id"),
                      CheckConstraint("status IN ('active', 'withdrawn')", name="status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(16))        # 学员编号
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)   # the school
    district: Mapped[Optional[str]] = mapped_column(String(64))  # 区县
    subject: Mapped[Optional[str]] = mapped_column(String(32))   # 任教学科
    grade: Mapped[Optional[str]] = mapped_column(String(32))     # 任教学段
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = created_column()

    person: Mapped["Person"] = relationship()  # noqa: F821
    unit: Mapped["Unit"] = relationship()  # noqa: F821

    @property
    def name(self) -> str:
        return self.person.name


class AttendanceStatus(enum.StrEnum):
    present = "present"   # 出勤
    absent = "absent"     # 缺勤
    excused = "excused"   # 请假（已批准）


class AttendanceMark(db.Model):
    """A trainee's attendance in one half-day; one row per pair, changed in place with who
    and how (tablet, QR scan, approved leave)."""
    __tablename__ = "attendance_mark"
    __table_args__ = (UniqueConstraint("trainee_id", "slot_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trainee_id: Mapped[int] = mapped_column(ForeignKey("trainee.id", ondelete="CASCADE"), index=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("training_slot.id", ondelete="CASCADE"), index=True)
    status: Mapped[AttendanceStatus] = enum_column(AttendanceStatus)
    source: Mapped[str] = mapped_column(String(16))      # tablet / qr / leave / import
    marked_by: Mapped[Optional[str]] = mapped_column(String(120))
    marked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LeaveStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class LeaveRequest(db.Model):
    """A request for leave (请假) from one half-day; approval marks the slot excused."""
    __tablename__ = "leave_request"
    __table_args__ = (UniqueConstraint("trainee_id", "slot_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trainee_id: Mapped[int] = mapped_column(ForeignKey("trainee.id", ondelete="CASCADE"), index=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("training_slot.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[LeaveStatus] = enum_column(LeaveStatus, default=LeaveStatus.pending)
    requested_at: Mapped[datetime] = created_column()
    decided_by: Mapped[Optional[str]] = mapped_column(String(120))
    decided_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))

    trainee: Mapped[Trainee] = relationship()
    slot: Mapped[TrainingSlot] = relationship()


class CheckinCode(db.Model):
    """The QR code shown in the room for one half-day: trainees scan it to check in until it
    expires. Only its hash is stored; the plain code is in the QR image."""
    __tablename__ = "checkin_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("training_slot.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[Optional[str]] = mapped_column(String(120))
    created_at: Mapped[datetime] = created_column()

    slot: Mapped[TrainingSlot] = relationship()


class ComponentMark(db.Model):
    """A mark entered directly for a `source: score` component (e.g. 过程作业), kept as the
    exact decimal string typed."""
    __tablename__ = "component_mark"
    __table_args__ = (UniqueConstraint("trainee_id", "component_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trainee_id: Mapped[int] = mapped_column(ForeignKey("trainee.id", ondelete="CASCADE"), index=True)
    component_id: Mapped[str] = mapped_column(String(64))
    score: Mapped[str] = mapped_column(String(16))
    entered_by: Mapped[Optional[str]] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
