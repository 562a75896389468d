"""Programme templates: the shape of each kind of programme, as data.

An organiser creates "the 2025 docent competition" from a template instead of typing
31 divisions, three stages and five categories by hand. Nothing here assumes 2024."""
from __future__ import annotations

from dataclasses import dataclass, field

from models import (Category, Division, HistoryConflict, Programme, ProgrammeKind, Stage,
                    StageCategory, StageKind, ensure_provinces)


@dataclass(frozen=True)
class CategorySpec:
    code: str
    name: str
    name_en: str
    entry_kind: str
    time_limit_seconds: int | None = None
    group: str | None = None


@dataclass(frozen=True)
class StageSpec:
    kind: StageKind
    name: str
    rubrics: dict[str, str]  # category code -> rubric ref; "*" for every category
    by_division: bool = False
    avoid_province: bool = False
    anonymous: bool = False
    history_conflict: HistoryConflict = HistoryConflict.off


@dataclass(frozen=True)
class ProgrammeTemplate:
    key: str
    kind: ProgrammeKind
    name: str           # "{year}" is replaced by the year
    label: str          # shown in the template picker
    categories: tuple[CategorySpec, ...]
    stages: tuple[StageSpec, ...]
    divisions: bool = False
    extra: dict = field(default_factory=dict)


DOCENT_CATEGORIES = (
    CategorySpec("exhibit", "展品辅导", "Exhibit guiding", "individual", 300),
    CategorySpec("volunteer", "展品辅导（科技志愿者组）", "Exhibit guiding (volunteers)", "individual", 300,
                 group="科技志愿者组"),
    CategorySpec("experiment", "科学实验", "Science experiment show", "team", 480),
    CategorySpec("drama", "科普短剧", "Science drama", "team", 600),
    CategorySpec("course", "科学课程", "Science course", "team", 900),
)
DOCENT_RUBRICS = {"exhibit": "docent/exhibit-guiding", "volunteer": "docent/volunteer",
                  "experiment": "docent/experiment", "drama": "docent/drama", "course": "docent/course"}

TEMPLATES: dict[str, ProgrammeTemplate] = {t.key: t for t in (
    ProgrammeTemplate(
        key="docent_competition", kind=ProgrammeKind.competition,
        name="{year}年全国科技馆辅导员大赛", label="全国科技馆辅导员大赛（31个分赛区、全国初评、全国决赛）",
        categories=DOCENT_CATEGORIES, divisions=True,
        stages=(
            StageSpec(StageKind.regional, "分赛区选拔", DOCENT_RUBRICS, by_division=True),
            StageSpec(StageKind.national_preliminary, "全国初评（视频）", {"*": "docent/preliminary-video"},
                      avoid_province=True, anonymous=True, history_conflict=HistoryConflict.soft),
            StageSpec(StageKind.final, "全国决赛", DOCENT_RUBRICS, avoid_province=True, anonymous=True,
                      history_conflict=HistoryConflict.soft),
        )),
    ProgrammeTemplate(
        key="teacher_training", kind=ProgrammeKind.training,
        name="{year}年科学教师培训", label="科学教师培训（一期）",
        categories=(CategorySpec("trainee", "培训学员", "Trainees", "individual"),),
        stages=(StageSpec(StageKind.assessment, "培训考核", {"*": "training/assessment"}),)),
    ProgrammeTemplate(
        key="resource_call", kind=ProgrammeKind.resource_selection,
        name="{year}年优质科学教育资源遴选", label="优质科学教育资源遴选（形式审查、初评、终评）",
        categories=(
            CategorySpec("graphics", "展览图文", "Exhibition graphics", "resource"),
            CategorySpec("package", "资源包", "Resource package", "resource"),
            CategorySpec("poster", "科普海报", "Poster", "resource"),
            CategorySpec("course", "科学课程", "Course", "resource"),
            CategorySpec("video", "科普视频", "Video", "resource"),
        ),
        stages=(
            StageSpec(StageKind.format_check, "形式审查", {"*": "resources/format-check"}),
            StageSpec(StageKind.preliminary_review, "初评", {"*": "resources/preliminary"},
                      avoid_province=True),
            StageSpec(StageKind.final_review, "终评", {"*": "resources/final"}, avoid_province=True,
                      history_conflict=HistoryConflict.soft),
        )),
    ProgrammeTemplate(
        key="unit_awards", kind=ProgrammeKind.unit_awards,
        name="{year}年度优秀组织单位和个人", label="年度优秀组织单位和个人评选",
        categories=(
            CategorySpec("unit", "优秀组织单位", "Outstanding organising unit", "unit"),
            CategorySpec("person", "优秀个人", "Outstanding individual", "individual"),
        ),
        stages=(StageSpec(StageKind.award_review, "年度评审", {"unit": "awards/organising-unit", "person": "awards/individual"},
                          avoid_province=True),)),
)}


def create_from_template(session, key: str, year: int, name: str | None = None, **fields) -> Programme:
    """Build a programme with its stages, categories, rubric bindings and divisions.
    The caller commits."""
    tpl = TEMPLATES[key]
    prog = Programme(kind=tpl.kind, year=year, name=name or tpl.name.format(year=year),
                     template=key, **fields)
    session.add(prog)
    cats = {}
    for i, spec in enumerate(tpl.categories):
        cat = Category(code=spec.code, name=spec.name, name_en=spec.name_en, entry_kind=spec.entry_kind,
                       time_limit_seconds=spec.time_limit_seconds, group=spec.group, sort=i)
        prog.categories.append(cat)
        cats[spec.code] = cat
    for seq, spec in enumerate(tpl.stages, start=1):
        stage = Stage(seq=seq, kind=spec.kind, name=spec.name, by_division=spec.by_division,
                      avoid_province=spec.avoid_province, anonymous=spec.anonymous,
                      history_conflict=spec.history_conflict)
        prog.stages.append(stage)
        for code, cat in cats.items():
            ref = spec.rubrics.get(code) or spec.rubrics.get("*")
            if ref:
                stage.stage_categories.append(StageCategory(category=cat, rubric_ref=ref))
    if tpl.divisions:
        provinces = ensure_provinces(session)
        for code, prov in sorted(provinces.items()):
            prog.divisions.append(Division(code=code, name=f"{prov.short_name}赛区", province=prov))
    session.flush()
    if tpl.kind == ProgrammeKind.training:
        from services.training import ensure_structure
        ensure_structure(session, prog)   # one category per instructor-scored component
    return prog
