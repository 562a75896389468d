"""Programmes, their stages, divisions and categories."""
from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Optional

from sqlalchemy import Boolean, CheckConstraint, Date, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import created_column, enum_column


class ProgrammeKind(enum.StrEnum):
    competition = "competition"          # 全国科技馆辅导员大赛
    training = "training"                # 科学教师培训
    resource_selection = "resource_selection"  # 优质科学教育资源遴选
    unit_awards = "unit_awards"          # 优秀组织单位和个人


class StageKind(enum.StrEnum):
    regional = "regional"                          # 分赛区选拔
    national_preliminary = "national_preliminary"  # 全国初评 (video review)
    final = "final"                                # 全国终评 / 决赛 (live)
    format_check = "format_check"                  # 形式审查
    preliminary_review = "preliminary_review"      # 初评
    final_review = "final_review"                  # 终评
    assessment = "assessment"                      # 培训考核
    award_review = "award_review"                  # 年度评审


class HistoryConflict(enum.StrEnum):
    """Whether having judged the same entry in an earlier round is a conflict."""
    off = "off"
    soft = "soft"
    hard = "hard"


class Programme(db.Model):
    __tablename__ = "programme"
    __table_args__ = (
        UniqueConstraint("kind", "year", "name"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ProgrammeKind] = enum_column(ProgrammeKind)
    year: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    template: Mapped[Optional[str]] = mapped_column(String(64))
    host: Mapped[Optional[str]] = mapped_column(String(200))      # 承办单位 / host museum
    partner: Mapped[Optional[str]] = mapped_column(String(200))   # e.g. the normal university
    starts_on: Mapped[Optional[date]] = mapped_column(Date)
    ends_on: Mapped[Optional[date]] = mapped_column(Date)
    created_at: Mapped[datetime] = created_column()

    stages: Mapped[list["Stage"]] = relationship(
        back_populates="programme", order_by="Stage.seq", cascade="all, delete-orphan")
    categories: Mapped[list["Category"]] = relationship(
        back_populates="programme", order_by="Category.sort", cascade="all, delete-orphan")
    divisions: Mapped[list["Division"]] = relationship(
        back_populates="programme", order_by="Division.code", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<Programme {self.year} {self.name}>"


class Stage(db.Model):
    """A round of a programme. Conflict scope and anonymity are per stage."""
    __tablename__ = "stage"
    __table_args__ = (UniqueConstraint("programme_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[StageKind] = enum_column(StageKind)
    name: Mapped[str] = mapped_column(String(100))
    avoid_province: Mapped[bool] = mapped_column(Boolean, default=False)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    history_conflict: Mapped[HistoryConflict] = enum_column(HistoryConflict, default=HistoryConflict.off)
    by_division: Mapped[bool] = mapped_column(Boolean, default=False)  # run per 分赛区
    starts_on: Mapped[Optional[date]] = mapped_column(Date)
    ends_on: Mapped[Optional[date]] = mapped_column(Date)
    # Scoring closed by the organiser: every sheet write is refused (HTTP 409) until reopened.
    scoring_closed_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))

    programme: Mapped[Programme] = relationship(back_populates="stages")
    stage_categories: Mapped[list["StageCategory"]] = relationship(
        back_populates="stage", cascade="all, delete-orphan")

    def rubric_ref_for(self, category_id: int) -> Optional[str]:
        for sc in self.stage_categories:
            if sc.category_id == category_id:
                return sc.rubric_ref
        return None


class Division(db.Model):
    """A regional division (分赛区) of a programme, usually one per province."""
    __tablename__ = "division"
    __table_args__ = (UniqueConstraint("programme_id", "code"), UniqueConstraint("programme_id", "name"))

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), index=True)
    province_id: Mapped[Optional[int]] = mapped_column(ForeignKey("province.id"))
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))

    programme: Mapped[Programme] = relationship(back_populates="divisions")
    province: Mapped[Optional["Province"]] = relationship()  # noqa: F821


class Category(db.Model):
    """A 赛项 (or resource type, or assessment track) of a programme."""
    __tablename__ = "category"
    __table_args__ = (
        UniqueConstraint("programme_id", "code"),
        CheckConstraint("entry_kind IN ('individual', 'team', 'resource', 'unit')", name="entry_kind"),
        CheckConstraint("time_limit_seconds IS NULL OR time_limit_seconds > 0", name="time_limit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[Optional[str]] = mapped_column(String(100))
    entry_kind: Mapped[str] = mapped_column(String(16), default="individual")
    group: Mapped[Optional[str]] = mapped_column(String(32))  # e.g. 科技志愿者组
    time_limit_seconds: Mapped[Optional[int]] = mapped_column(Integer)
    sort: Mapped[int] = mapped_column(Integer, default=0)

    programme: Mapped[Programme] = relationship(back_populates="categories")


class StageCategory(db.Model):
    """Which rubric a category is judged on in a stage (the file ref under rubrics/)."""
    __tablename__ = "stage_category"

    stage_id: Mapped[int] = mapped_column(ForeignKey("stage.id", ondelete="CASCADE"), primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id", ondelete="CASCADE"), primary_key=True)
    rubric_ref: Mapped[str] = mapped_column(String(120))

    stage: Mapped[Stage] = relationship(back_populates="stage_categories")
    category: Mapped[Category] = relationship()
