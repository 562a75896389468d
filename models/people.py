"""Units, people, teams, judges, panels and declared relations."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

from sqlalchemy import (Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import created_column, enum_column


class Unit(db.Model):
    """A 单位: museum, school, association. Shared across programmes and years."""
    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[Optional[str]] = mapped_column(String(32))  # 科技馆 / 学校 / 高校 / 协会 ...
    province_id: Mapped[int] = mapped_column(ForeignKey("province.id"), index=True)
    contact_name: Mapped[Optional[str]] = mapped_column(String(64))
    contact_phone: Mapped[Optional[str]] = mapped_column(String(32))

    province: Mapped["Province"] = relationship()  # noqa: F821


class Person(db.Model):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    gender: Mapped[Optional[str]] = mapped_column(String(4))
    phone: Mapped[Optional[str]] = mapped_column(String(32))
    email: Mapped[Optional[str]] = mapped_column(String(120))
    unit_id: Mapped[Optional[int]] = mapped_column(ForeignKey("unit.id"), index=True)

    unit: Mapped[Optional[Unit]] = relationship()


class Team(db.Model):
    __tablename__ = "team"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[Optional[int]] = mapped_column(ForeignKey("unit.id"))

    members: Mapped[list["TeamMember"]] = relationship(
        back_populates="team", order_by="TeamMember.seq", cascade="all, delete-orphan")


class TeamMember(db.Model):
    __tablename__ = "team_member"
    __table_args__ = (
        UniqueConstraint("team_id", "person_id"),
        CheckConstraint("role IN ('leader', 'member')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    role: Mapped[str] = mapped_column(String(16), default="member")
    seq: Mapped[int] = mapped_column(Integer, default=0)

    team: Mapped[Team] = relationship(back_populates="members")
    person: Mapped[Person] = relationship()


class PanelRole(enum.StrEnum):
    member = "member"
    chief = "chief"                # 组长 / chief judge
    teacher_seat = "teacher_seat"  # the school science teacher's seat


class Judge(db.Model):
    """A judge in a programme's pool: a person with a unit, province and expertise."""
    __tablename__ = "judge"
    __table_args__ = (UniqueConstraint("programme_id", "external_id"),
                      UniqueConstraint("programme_id", "person_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    province_id: Mapped[int] = mapped_column(ForeignKey("province.id"))
    expertise: Mapped[Optional[str]] = mapped_column(String(200))  # comma-separated category codes / fields
    title: Mapped[Optional[str]] = mapped_column(String(64))        # 职称
    is_school_teacher: Mapped[bool] = mapped_column(Boolean, default=False)

    person: Mapped[Person] = relationship()
    unit: Mapped[Unit] = relationship()
    province: Mapped["Province"] = relationship()  # noqa: F821
    relations: Mapped[list["DeclaredRelation"]] = relationship(
        back_populates="judge", cascade="all, delete-orphan")


class Panel(db.Model):
    """The judges of one category in one stage (and division, for regional rounds)."""
    __tablename__ = "panel"
    __table_args__ = (UniqueConstraint("stage_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[Optional[int]] = mapped_column(ForeignKey("category.id"))
    division_id: Mapped[Optional[int]] = mapped_column(ForeignKey("division.id"))
    name: Mapped[str] = mapped_column(String(100))

    stage: Mapped["Stage"] = relationship()  # noqa: F821
    category: Mapped[Optional["Category"]] = relationship()  # noqa: F821
    division: Mapped[Optional["Division"]] = relationship()  # noqa: F821
    members: Mapped[list["PanelMember"]] = relationship(
        back_populates="panel", cascade="all, delete-orphan")


class PanelMember(db.Model):
    __tablename__ = "panel_member"
    __table_args__ = (
        UniqueConstraint("panel_id", "judge_id"),
        # At most one chief judge per panel, enforced by the database on both backends.
        Index("uq_panel_member_one_chief", "panel_id", unique=True,
              sqlite_where=text("role = 'chief'"), postgresql_where=text("role = 'chief'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    panel_id: Mapped[int] = mapped_column(ForeignKey("panel.id", ondelete="CASCADE"), index=True)
    judge_id: Mapped[int] = mapped_column(ForeignKey("judge.id", ondelete="CASCADE"), index=True)
    role: Mapped[PanelRole] = enum_column(PanelRole, default=PanelRole.member)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)  # placed by hand; kept on re-run

    panel: Mapped[Panel] = relationship(back_populates="members")
    judge: Mapped[Judge] = relationship()


class RelationKind(enum.StrEnum):
    relative = "relative"              # 亲属
    teacher_student = "teacher_student"  # 师生
    colleague = "colleague"            # 同事
    coach = "coach"                    # 指导/辅导
    other = "other"


class DeclaredRelation(db.Model):
    """A relation a judge has to a contestant entry or a unit: a conflict with its reason."""
    __tablename__ = "declared_relation"
    __table_args__ = (
        CheckConstraint("entry_id IS NOT NULL OR unit_id IS NOT NULL", name="has_target"),
        CheckConstraint("source IN ('organiser', 'judge', 'import')", name="source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    judge_id: Mapped[int] = mapped_column(ForeignKey("judge.id", ondelete="CASCADE"), index=True)
    kind: Mapped[RelationKind] = enum_column(RelationKind)
    entry_id: Mapped[Optional[int]] = mapped_column(ForeignKey("entry.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[Optional[int]] = mapped_column(ForeignKey("unit.id"))
    note: Mapped[Optional[str]] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="organiser")
    created_at: Mapped[datetime] = created_column()

    judge: Mapped[Judge] = relationship(back_populates="relations")
    entry: Mapped[Optional["Entry"]] = relationship()  # noqa: F821
    unit: Mapped[Optional[Unit]] = relationship()


class JudgeStageDeclaration(db.Model):
    """When a judge completed the 回避声明 for one stage. Per stage, because each round brings
    new contestants: a judge who declared in the regional round is asked again in the final."""
    __tablename__ = "judge_stage_declaration"
    __table_args__ = (UniqueConstraint("judge_id", "stage_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    judge_id: Mapped[int] = mapped_column(ForeignKey("judge.id", ondelete="CASCADE"), index=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"))
    declared_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
