"""Entries: what is judged in a stage (a contestant, a team, a resource, a trainee, a unit)."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db


class Entry(db.Model):
    """One entry in one stage. Promotion creates a new entry in the next stage pointing back
    at its source, so every round keeps its own draw numbers, codes and score sheets."""
    __tablename__ = "entry"
    __table_args__ = (
        UniqueConstraint("stage_id", "external_id"),
        UniqueConstraint("stage_id", "anonymous_code"),
        UniqueConstraint("stage_id", "category_id", "division_id", "draw_number"),
        CheckConstraint(
            "(kind = 'individual' AND person_id IS NOT NULL AND team_id IS NULL)"
            " OR (kind = 'team' AND team_id IS NOT NULL AND person_id IS NULL)"
            " OR (kind IN ('resource', 'unit') AND person_id IS NULL AND team_id IS NULL)",
            name="contestant"),
        CheckConstraint("draw_number IS NULL OR draw_number > 0", name="draw_positive"),
        CheckConstraint("status IN ('active', 'withdrawn')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    person_id: Mapped[Optional[int]] = mapped_column(ForeignKey("person.id"))
    team_id: Mapped[Optional[int]] = mapped_column(ForeignKey("team.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    province_id: Mapped[int] = mapped_column(ForeignKey("province.id"), index=True)
    division_id: Mapped[Optional[int]] = mapped_column(ForeignKey("division.id"), index=True)
    draw_number: Mapped[Optional[int]] = mapped_column(Integer)
    anonymous_code: Mapped[Optional[str]] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    source_entry_id: Mapped[Optional[int]] = mapped_column(ForeignKey("entry.id"))

    stage: Mapped["Stage"] = relationship()  # noqa: F821
    category: Mapped["Category"] = relationship()  # noqa: F821
    person: Mapped[Optional["Person"]] = relationship()  # noqa: F821
    team: Mapped[Optional["Team"]] = relationship()  # noqa: F821
    unit: Mapped["Unit"] = relationship()  # noqa: F821
    province: Mapped["Province"] = relationship()  # noqa: F821
    division: Mapped[Optional["Division"]] = relationship()  # noqa: F821

    @property
    def contestant_name(self) -> str:
        if self.person is not None:
            return self.person.name
        if self.team is not None:
            return "、".join(m.person.name for m in self.team.members) or self.team.name
        return ""
