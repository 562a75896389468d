"""User accounts with one role each, and stage-scoped judge access tokens."""
from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Optional

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from extensions import db
from models.base import created_column, enum_column, utcnow


class Role(enum.StrEnum):
    organiser = "organiser"        # 组织方
    chief = "chief"                # 评委组长 / chief judge
    judge = "judge"                # 评委
    oversight = "oversight"        # 监审
    unit_contact = "unit_contact"  # 单位联系人


class User(UserMixin, db.Model):
    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint("role <> 'unit_contact' OR unit_id IS NOT NULL", name="contact_has_unit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = enum_column(Role)
    display_name: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[Optional[int]] = mapped_column(ForeignKey("unit.id"))
    judge_id: Mapped[Optional[int]] = mapped_column(ForeignKey("judge.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_column()

    unit: Mapped[Optional["Unit"]] = relationship()  # noqa: F821

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


def hash_token(token: str) -> str:
    """Tokens are stored hashed: a leaked database does not hand out judge access."""
    return hashlib.sha256(token.encode()).hexdigest()


class JudgeToken(db.Model):
    """A judge's access to one stage (link / QR code on the judge card), expiring, revocable."""
    __tablename__ = "judge_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    judge_id: Mapped[int] = mapped_column(ForeignKey("judge.id", ondelete="CASCADE"), index=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))
    # The short PIN fallback (typed when the QR code cannot be scanned), stored hashed.
    pin_hash: Mapped[Optional[str]] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_column()

    judge: Mapped["Judge"] = relationship()  # noqa: F821
    stage: Mapped["Stage"] = relationship()  # noqa: F821

    @classmethod
    def issue(cls, judge_id: int, stage_id: int, days: int = 30) -> tuple["JudgeToken", str]:
        """Return the row and the plain token (shown once, never stored)."""
        plain = secrets.token_urlsafe(24)
        row = cls(judge_id=judge_id, stage_id=stage_id, token_hash=hash_token(plain),
                  expires_at=utcnow() + timedelta(days=days))
        return row, plain
