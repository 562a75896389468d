"""The demo: a realistic, generated data set at national scale (no real people).

`build_demo` wipes every table except `province`, then builds, deterministically for a seed:
the docent competition (31 divisions, ~400 units, ~1,556 regional entries, ~250 judges,
regional / national-preliminary / final panels, declared relations), a teacher-training
session, a resource call and the year-end unit awards, plus a handful of accounts and one
judge token and PIN per judge and stage. `finish_regional_round` then scores, confirms,
publishes (final) and promotes the docent competition's regional round in every division but
the live one heading judges.csv, and issues its certificates. It writes `accounts.csv`,
`judges.csv` and `certificates.csv` and commits once.

Speed: objects are created in memory and inserted in a few large flushes (SQLAlchemy batches
the INSERTs); only the ~15 account passwords are hashed. The data build takes ~5 s on SQLite;
the regional round (~9,400 sheets, ~1,500 confirmations, two ranking passes, ~2,600
certificates) another ~15 s."""
from __future__ import annotations

import csv
import random
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Hashable, Iterable, TypeVar

from extensions import db
from models import (Category, DeclaredRelation, Division, Entry, EntryConfirmation, EventAction, Judge,
                    JudgeToken, Panel, PanelMember, PanelRole, Person, PROVINCES, Programme, Province,
                    RelationKind, Role, ScoreEvent, ScoreSheet, SheetStatus, Stage, Team, TeamMember, Unit,
                    User, ensure_provinces)
from services import demo_names as names
from services.demo_activities import build_activity_reports
from services.judge_access import new_pin
from services.programme_templates import create_from_template

K = TypeVar("K", bound=Hashable)

# Regional entries per docent category (8th edition: 1,556 projects), and the share of each.
REGIONAL_ENTRIES = 1556
CATEGORY_SHARES = {"exhibit": 0.50, "volunteer": 0.08, "experiment": 0.16, "drama": 0.11, "course": 0.15}
CATEGORY_ABBR = {"exhibit": "EX", "volunteer": "VO", "experiment": "SE", "drama": "DR", "course": "CO"}
TEAM_SIZES = {  # members per team: sizes and their weights
    "experiment": ((2, 3, 4), (62, 30, 8)),
    "drama": ((2, 3, 4, 5), (15, 40, 30, 15)),
    "course": ((2, 3, 4), (60, 32, 8)),
}
FEMALE_SHARE = {"exhibit": 0.74, "volunteer": 0.58, "experiment": 0.6, "drama": 0.62, "course": 0.66}
COMPETITION_UNITS = 385      # units taking part in the competition (8th edition: 413 units)
TRAINING_SCHOOLS = 16        # extra schools sending teachers to the training session
TRAINEES = 60
TRAINEE_SUBJECTS = ("科学", "科学", "物理", "生物", "化学", "地理", "信息科技")
RESOURCES = 300
RESOURCE_SHARES = {"graphics": 0.2, "package": 0.18, "poster": 0.27, "course": 0.2, "video": 0.15}
NOMINATED_UNITS = 30
NOMINATED_PEOPLE = 12

# The judge pool is sized by the panels, not by `scale`: 31 regional panels of 7 need 217.
REGIONAL_PANEL_MUSEUM = 6     # + 1 school-teacher seat
NATIONAL_EXPERTS = 18
RESERVE_MUSEUM_JUDGES = 10
RESERVE_TEACHERS = 5          # the teacher seats of the five final panels
PRELIM_REVIEWERS = 60
FINAL_PANEL_SIZE = 9

# Unit roles -> how likely a unit of that role fields an entry in each category.
ENTRY_UNIT_WEIGHTS = {
    "exhibit": {"provincial": 6, "city": 3, "youth": 2, "nature": 2, "mobile": 1.5, "caravan": 1, "rural": 1},
    "volunteer": {"provincial": 6, "city": 3, "youth": 2, "nature": 2, "mobile": 1, "caravan": 1},
    "experiment": {"provincial": 5, "city": 3, "youth": 3, "nature": 1, "mobile": 1, "caravan": 1.5,
                   "rural": 1, "school": 1},
    "drama": {"provincial": 5, "city": 3, "youth": 2, "nature": 1, "mobile": 0.5, "caravan": 0.5,
              "rural": 0.5, "school": 1},
    "course": {"provincial": 4, "city": 2, "youth": 2, "nature": 1, "rural": 1.5, "school": 3,
               "normal_univ": 0.5},
}
UNIT_KIND = {"provincial": "科技馆", "city": "科技馆", "youth": "科技馆", "nature": "自然博物馆",
             "mobile": "流动科技馆", "caravan": "科普大篷车", "rural": "农村中学科技馆", "school": "学校",
             "normal_univ": "高校", "association": "协会", "national": "科技馆", "institute": "科研院所",
             "society": "协会"}
MUSEUM_ROLES = ("provincial", "city", "youth", "nature", "mobile", "caravan", "rural")
# The mix of the non-mandatory units of a province.
UNIT_ROLE_MIX = {"city": 40, "school": 26, "youth": 10, "rural": 8, "caravan": 6, "nature": 5, "mobile": 5}

MUSEUM_TITLES = (("研究馆员", 2), ("副研究馆员", 5), ("高级工程师", 2), ("馆员", 2), ("副教授", 1))
UNIVERSITY_TITLES = (("教授", 3), ("副教授", 4))
TEACHER_TITLES = (("正高级教师", 1), ("高级教师", 4), ("一级教师", 2))
SENIOR_TITLES = ("研究馆员", "教授", "正高级教师")


@dataclass
class DemoUnit:
    unit: Unit
    code: str   # province code
    role: str   # provincial, city, school, normal_univ, ...


@dataclass
class PanelPlan:
    stage: Stage
    name: str
    members: list[tuple[Judge, PanelRole]]
    category: Category | None = None
    division: Division | None = None


def _apportion(total: int, weights: dict[K, float], minimum: int = 0) -> dict[K, int]:
    """Split `total` over the keys in proportion to `weights` (largest remainder), giving
    every key at least `minimum`. Deterministic; the parts sum to max(total, minimum * n)."""
    keys = list(weights)
    rest = total - minimum * len(keys)
    out = {k: minimum for k in keys}
    if rest <= 0:
        return out
    s = sum(weights.values())
    quotas = {k: rest * weights[k] / s for k in keys}
    floors = {k: int(q) for k, q in quotas.items()}
    left = rest - sum(floors.values())
    for k in sorted(keys, key=lambda k: (floors[k] - quotas[k], str(k)))[:left]:
        floors[k] += 1
    return {k: out[k] + floors[k] for k in keys}


def _weighted(rng: random.Random, pairs: Iterable[tuple[str, float]]) -> str:
    items = list(pairs)
    return rng.choices([a for a, _ in items], weights=[w for _, w in items])[0]


def wipe(session) -> None:
    """Delete every row of every table except `province`, children first (portable)."""
    for table in reversed(db.metadata.sorted_tables):
        if table.name != "province":
            session.execute(table.delete())
    session.flush()
    session.expunge_all()


class _Builder:
    def __init__(self, session, rng: random.Random, scale: float, year: int):
        self.s = session
        self.rng = rng
        self.scale = scale
        self.year = year
        self.provinces: dict[str, Province] = {}
        self.units: list[DemoUnit] = []
        self.unit_names: set[str] = set()
        self.by_province: dict[str, list[DemoUnit]] = {}
        self.people = 0
        self.panels: list[PanelPlan] = []
        # the teacher-training session's province (a populous one, drawn by the seed)
        self.training_code = rng.choice(("32", "51", "37", "43", "42", "34"))

    # --- helpers --------------------------------------------------------------------------
    def n(self, count: int, minimum: int = 1) -> int:
        return max(minimum, round(count * self.scale))

    def person(self, gender_female_share: float, unit: Unit) -> Person:
        gender = "女" if self.rng.random() < gender_female_share else "男"
        self.people += 1
        return Person(name=names.person_name(self.rng, gender), gender=gender, unit=unit)

    def weight(self, code: str, power: float) -> float:
        return names.POPULATION[code] ** power

    # --- units ----------------------------------------------------------------------------
    def _unit_name(self, code: str, role: str) -> str | None:
        prov = self.provinces[code]
        rng = self.rng
        for _ in range(60):
            city = rng.choice(names.CITIES[code])
            place = prov.name + city if code in names.MUNICIPALITIES else names.city_label(code, city)
            if role == "provincial":
                name = f"{prov.name}科学技术馆"
            elif role == "normal_univ":
                name = f"{prov.short_name}师范大学"
            elif role == "association":
                name = f"{prov.name}科学技术协会"
            elif role == "city":
                name = f"{place}科技馆"
            elif role == "youth":
                name = f"{place}青少年科技活动中心"
            elif role == "nature":
                name = f"{place}{rng.choice(('自然博物馆', '天文馆', '地质博物馆'))}"
            elif role == "mobile":
                name = f"{prov.short_name}流动科技馆{names.city_label(code, city)}巡展站"
            elif role == "caravan":
                name = f"{place}科普大篷车服务队"
            elif role == "rural":
                name = f"{place}{rng.choice(names.TOWNS)}中学农村中学科技馆"
            elif role == "school":
                form = rng.choice(("{o}中学", "{o}中学", "{o}小学", "实验小学", "实验中学", "外国语学校",
                                   "{o}初级中学"))
                name = place + form.format(o=rng.choice(names.ORDINALS))
            else:
                raise ValueError(role)
            if name not in self.unit_names:
                return name
        return None

    def add_unit(self, code: str, role: str, name: str | None = None) -> DemoUnit | None:
        name = name or self._unit_name(code, role)
        if name is None or name in self.unit_names:
            return None
        self.unit_names.add(name)
        unit = Unit(external_id=f"U{len(self.units) + 1:04d}", name=name, kind=UNIT_KIND[role],
                    province_id=self.provinces[code].id)
        du = DemoUnit(unit, code, role)
        self.units.append(du)
        self.by_province.setdefault(code, []).append(du)
        return du

    def build_units(self, training_code: str) -> None:
        rng = self.rng
        national = [("中国科学技术馆", "national"), ("中国科普研究所", "institute"),
                    ("中国自然科学博物馆学会", "society")]
        for name, role in national:
            self.add_unit("11", role, name)
        counts = _apportion(self.n(COMPETITION_UNITS) - len(national),
                            {c: self.weight(c, 0.6) for c, *_ in PROVINCES}, minimum=3)
        for code, count in counts.items():
            mandatory = ["provincial", "city", "school"]
            if count >= 5:
                mandatory.append("normal_univ")
            if count >= 7:
                mandatory.append("association")
            made = sum(self.add_unit(code, role) is not None for role in mandatory)
            tries = 0
            while made < count and tries < count * 5:
                tries += 1
                role = _weighted(rng, UNIT_ROLE_MIX.items())
                made += self.add_unit(code, role) is not None
        # the training session's host province sends teachers from more schools
        if not any(u.role == "normal_univ" for u in self.by_province[training_code]):
            self.add_unit(training_code, "normal_univ")
        for _ in range(self.n(TRAINING_SCHOOLS, 3)):
            self.add_unit(training_code, "school")
        self.s.add_all(u.unit for u in self.units)
        self.s.flush()

    def pick_unit(self, code: str, weights: dict[str, float]) -> DemoUnit:
        pool = [u for u in self.by_province[code] if u.role in weights]
        return self.rng.choices(pool, weights=[weights[u.role] for u in pool])[0]

    def units_of(self, code: str, *roles: str) -> list[DemoUnit]:
        return [u for u in self.by_province[code] if u.role in roles]

    # --- the docent competition ----------------------------------------------------------
    def build_competition(self) -> None:
        rng, y = self.rng, self.year
        host = self.units_of("15", "provincial")[0].unit.name
        prog = create_from_template(self.s, "docent_competition", year=y, host=host,
                                    starts_on=date(y, 7, 1), ends_on=date(y, 10, 25))
        regional, prelim, final = prog.stages
        regional.starts_on, regional.ends_on = date(y, 7, 1), date(y, 8, 31)
        prelim.starts_on, prelim.ends_on = date(y, 9, 9), date(y, 9, 20)
        final.starts_on, final.ends_on = date(y, 10, 22), date(y, 10, 25)
        cats = {c.code: c for c in prog.categories}
        divisions = {d.province.code: d for d in prog.divisions}
        self.comp, self.cats, self.divisions = prog, cats, divisions
        self.stages = {"regional": regional, "prelim": prelim, "final": final}

        # how many entries each division fields, then which category each entry is in
        total = self.n(REGIONAL_ENTRIES, 31)
        per_div = _apportion(total, {c: self.weight(c, 0.75) for c in divisions},
                             minimum=min(12, max(1, total // 62)))
        total = sum(per_div.values())
        cat_list = [c for c, k in _apportion(total, CATEGORY_SHARES).items() for _ in range(k)]
        rng.shuffle(cat_list)

        entries: list[Entry] = []
        teams: list[Team] = []
        slot = 0
        anon = _codes(rng, total)
        titles_seen: set[str] = set()
        for code in sorted(divisions):
            div = divisions[code]
            by_cat: dict[str, list[Entry]] = {}
            for _ in range(per_div[code]):
                cat_code = cat_list[slot]
                cat = cats[cat_code]
                du = self.pick_unit(code, ENTRY_UNIT_WEIGHTS[cat_code])
                title = _unique_title(rng, titles_seen, lambda: names.project_title(rng, cat_code))
                entry = Entry(stage_id=regional.id, category_id=cat.id, title=title,
                              unit_id=du.unit.id, province_id=div.province_id, division_id=div.id,
                              anonymous_code=anon[slot], status="active")
                if cat.entry_kind == "team":
                    sizes, w = TEAM_SIZES[cat_code]
                    size = rng.choices(sizes, weights=w)[0]
                    team = Team(programme_id=prog.id, unit_id=du.unit.id,
                                name=f"{du.unit.name}{cat.name}队")
                    for i in range(size):
                        team.members.append(TeamMember(person=self.person(FEMALE_SHARE[cat_code], du.unit),
                                                       role="leader" if i == 0 else "member", seq=i))
                    teams.append(team)
                    entry.kind, entry.team = "team", team
                else:
                    entry.kind, entry.person = "individual", self.person(FEMALE_SHARE[cat_code], du.unit)
                by_cat.setdefault(cat_code, []).append(entry)
                entries.append(entry)
                slot += 1
            # 抽签: a running order per (division, category), and readable external ids
            for cat_code, group in by_cat.items():
                order = rng.sample(range(1, len(group) + 1), len(group))
                for i, (entry, draw) in enumerate(zip(group, order), start=1):
                    entry.draw_number = draw
                    entry.external_id = f"{y}-{code}-{CATEGORY_ABBR[cat_code]}{i:03d}"
        _name_teams(teams)
        self.s.add_all(entries)
        self.s.flush()
        self.regional_entries = entries

        code_of = {c.id: k for k, c in cats.items()}
        per_cat = {c: 0 for c in CATEGORY_SHARES}
        for e in entries:
            per_cat[code_of[e.category_id]] += 1
        contestants = sum(1 for e in entries if e.person is not None) + sum(len(t.members) for t in teams)
        self.comp_counts = {"entries": len(entries), "per_cat": per_cat, "teams": len(teams),
                            "contestants": contestants}

    def _judge(self, prog: Programme, ext: str, du: DemoUnit, female: float, *, teacher: bool = False,
               title: str | None = None, expertise: Iterable[str] = ()) -> Judge:
        rng = self.rng
        if title is None:
            if teacher:
                table = TEACHER_TITLES
            elif du.role in ("normal_univ", "institute"):
                table = UNIVERSITY_TITLES
            else:
                table = MUSEUM_TITLES
            title = _weighted(rng, table)
        return Judge(programme_id=prog.id, external_id=ext, person=self.person(female, du.unit),
                     unit_id=du.unit.id, province_id=self.provinces[du.code].id,
                     expertise=",".join(expertise), title=title, is_school_teacher=teacher)

    def _expertise(self, teacher: bool) -> list[str]:
        codes = list(CATEGORY_SHARES)
        if teacher:
            return self.rng.sample(["course", "experiment"], self.rng.choice((1, 2)))
        k = self.rng.choices((1, 2, 3), weights=(3, 4, 2))[0]
        picked = set(self.rng.choices(codes, weights=(5, 2, 3, 2, 3), k=k))
        return [c for c in codes if c in picked]

    def build_judges(self) -> None:
        rng, prog, cats = self.rng, self.comp, self.cats
        judges: list[Judge] = []
        n = 0

        def ext() -> str:
            nonlocal n
            n += 1
            return f"J{n:04d}"

        # national experts (Beijing institutions): final chiefs, preliminary reviewers
        national_units = [u for u in self.by_province["11"] if u.role in ("national", "institute", "society")]
        experts = []
        for i in range(NATIONAL_EXPERTS):
            du = national_units[0] if i < 10 else rng.choice(national_units)
            title = "研究馆员" if i < 7 else None
            experts.append(self._judge(prog, ext(), du, 0.5, title=title, expertise=self._expertise(False)))
        judges += experts

        # local judges: 6 museum experts + 1 school teacher per division, plus a reserve
        museum_weights = {"provincial": 4, "association": 2, "normal_univ": 2, "city": 1.5, "youth": 1,
                          "nature": 1}
        reserve = _apportion(RESERVE_MUSEUM_JUDGES, {c: self.weight(c, 1.0) for c in self.divisions})
        teacher_provinces = set(_weighted_sample(rng, {c: self.weight(c, 1.0) for c in self.divisions},
                                                 RESERVE_TEACHERS))
        regional_panels: dict[str, list[Judge]] = {}
        reserve_teachers: list[Judge] = []
        local_museum: list[Judge] = []
        for code in sorted(self.divisions):
            local = []
            provincial = self.units_of(code, "provincial")[0]
            local.append(self._judge(prog, ext(), provincial, 0.45, title=rng.choice(("研究馆员", "研究馆员", "教授")),
                                     expertise=self._expertise(False)))
            for _ in range(REGIONAL_PANEL_MUSEUM - 1 + reserve[code]):
                du = self.pick_unit(code, museum_weights)
                local.append(self._judge(prog, ext(), du, 0.5, expertise=self._expertise(False)))
            school = rng.choice(self.units_of(code, "school"))
            teacher = self._judge(prog, ext(), school, 0.6, teacher=True, expertise=self._expertise(True))
            regional_panels[code] = local[:REGIONAL_PANEL_MUSEUM] + [teacher]
            local_museum += local
            judges += local + [teacher]
            if code in teacher_provinces:
                du = rng.choice(self.units_of(code, "school"))
                t = self._judge(prog, ext(), du, 0.6, teacher=True, title="正高级教师",
                                expertise=self._expertise(True))
                reserve_teachers.append(t)
                judges.append(t)
        self.s.add_all(judges)
        self.comp_judges = judges

        # regional panels: one per division, judging every category; the first is the chief
        regional = self.stages["regional"]
        for code in sorted(self.divisions):
            div = self.divisions[code]
            members = regional_panels[code]
            roles = [PanelRole.chief] + [PanelRole.member] * (len(members) - 2) + [PanelRole.teacher_seat]
            self.panels.append(PanelPlan(regional, f"{div.name}评委组", list(zip(members, roles)),
                                         division=div))

        # national preliminary (video): 60 reviewers, one group; reviewers see subsets later
        prelim_members = experts[5:]
        prelim_members += rng.sample(local_museum, PRELIM_REVIEWERS - len(prelim_members) - 2)
        prelim_members += rng.sample(reserve_teachers, 2)
        roles = [PanelRole.chief] + [PanelRole.member] * (len(prelim_members) - 1)
        self.panels.append(PanelPlan(self.stages["prelim"], "全国初评专家组", list(zip(prelim_members, roles))))

        # final: one panel of 9 per category (chief + teacher seat + 7), no judge on two panels
        used: set[int] = set()
        others = experts[5:] + rng.sample(local_museum, len(local_museum))
        for i, (code, cat) in enumerate(cats.items()):
            chief, teacher = experts[i], reserve_teachers[i]
            members: list[Judge] = []
            for j in sorted(others, key=lambda j: code not in (j.expertise or "").split(",")):
                if len(members) == FINAL_PANEL_SIZE - 2:
                    break
                if id(j) not in used:
                    members.append(j)
                    used.add(id(j))
            for j in [chief, teacher] + members:
                _add_expertise(j, code)
            plan = [(chief, PanelRole.chief)] + [(m, PanelRole.member) for m in members] + \
                   [(teacher, PanelRole.teacher_seat)]
            self.panels.append(PanelPlan(self.stages["final"], f"全国决赛{cat.name}评委组", plan, category=cat))

        # declared relations: relatives and former students among the local contestants
        relations = []
        by_div: dict[int, list[Entry]] = {}
        for e in self.regional_entries:
            by_div.setdefault(e.division_id, []).append(e)
        for code in rng.sample(sorted(self.divisions), 10):
            judge = rng.choice(regional_panels[code])
            entry = rng.choice(by_div[self.divisions[code].id])
            kind = rng.choice((RelationKind.relative, RelationKind.teacher_student))
            relations.append(DeclaredRelation(judge=judge, kind=kind, entry_id=entry.id, source="organiser",
                                              note=rng.choice(names.RELATION_NOTES[kind.value])))
        for judge in rng.sample(experts, 2):
            code = rng.choice([c for c in self.divisions if c != "11"])
            du = self.units_of(code, "provincial")[0]
            relations.append(DeclaredRelation(judge=judge, kind=RelationKind.colleague, unit_id=du.unit.id,
                                              source="organiser",
                                              note=rng.choice(names.RELATION_NOTES["colleague"])))
        self.s.add_all(relations)
        self.relations = len(relations)
        self.final_chiefs = {code: experts[i] for i, code in enumerate(cats)}
        self.regional_panels = regional_panels
        self.prelim_members = prelim_members

    # --- the other programmes ------------------------------------------------------------
    def build_training(self, code: str) -> None:
        """The teacher-training session the demo runs through (services.demo_training finishes
        it): trainees on the roster, two university experts and four museum docents scoring
        course designs and presentations on one panel per scored component."""
        from models import Trainee
        rng, y = self.rng, self.year
        prov = self.provinces[code]
        host = self.units_of(code, "provincial")[0]
        partner = self.units_of(code, "normal_univ")[0]
        prog = create_from_template(self.s, "teacher_training", year=y,
                                    name=f"{y}年科学教师培训（第1期·{prov.short_name}站）",
                                    host=host.unit.name, partner=partner.unit.name,
                                    starts_on=_monday_in_july(y),
                                    ends_on=_monday_in_july(y) + timedelta(days=4))
        stage = prog.stages[0]
        stage.starts_on, stage.ends_on = prog.starts_on, prog.ends_on
        schools = self.units_of(code, "school")
        count = self.n(TRAINEES, 4)
        rng.sample(range(1, count + 1), count)   # kept: the random stream of the data built after
        trainees = []
        for i in range(count):
            du = rng.choice(schools)
            rng.choice(names.EXHIBITS)
            rng.choice(names.COURSE_TOPICS)
            trainees.append(Trainee(programme_id=prog.id, external_id=f"T{i + 1:03d}", person=self.person(0.62, du.unit),
                                    unit_id=du.unit.id, subject=TRAINEE_SUBJECTS[i % len(TRAINEE_SUBJECTS)],
                                    grade="小学" if i % 3 else "初中"))
        for i, t in enumerate(trainees):
            t.person.phone = f"139{(i * 7919 + 104729) % 100000000:08d}"
        # assessors: two university experts lead, museum docents assist
        assessors = [self._judge(prog, f"TJ{i + 1:02d}", partner, 0.5,
                                 title="教授" if i == 0 else "副教授", expertise=["trainee"]) for i in range(2)]
        assessors += [self._judge(prog, f"TJ{i + 3:02d}", host, 0.6, expertise=["trainee"]) for i in range(4)]
        self.s.add_all(trainees + assessors)
        roles = [PanelRole.chief] + [PanelRole.member] * (len(assessors) - 1)
        cats = {c.code: c for c in prog.categories}
        for sc in stage.stage_categories:
            if sc.rubric_ref != "training/assessment":
                self.panels.append(PanelPlan(stage, f"{sc.category.name}专家组", list(zip(assessors, roles)),
                                             category=cats[sc.category.code]))
        self.training_prog = prog
        self.training = (prog.name, len(trainees), len(assessors), host.unit.name, partner.unit.name)

    def build_resources(self) -> None:
        rng, y = self.rng, self.year
        prog = create_from_template(self.s, "resource_call", year=y, host="中国科学技术馆",
                                    starts_on=date(y, 9, 1), ends_on=date(y, 11, 30))
        check = prog.stages[0]
        check.starts_on, check.ends_on = date(y, 9, 1), date(y, 9, 15)
        cats = {c.code: c for c in prog.categories}
        count = self.n(RESOURCES, len(cats))
        kinds = [k for k, m in _apportion(count, RESOURCE_SHARES).items() for _ in range(m)]
        rng.shuffle(kinds)
        museums = [u for u in self.units if u.role in ("provincial", "city", "youth", "nature", "mobile")]
        weights = [(4 if u.role == "provincial" else 1) * self.weight(u.code, 0.3) for u in museums]
        seen: set[str] = set()
        per_kind = dict.fromkeys(cats, 0)
        entries = []
        for i, kind in enumerate(kinds, start=1):
            du = rng.choices(museums, weights=weights)[0]
            title = _unique_title(rng, seen, lambda: names.resource_title(rng, kind))
            entries.append(Entry(stage_id=check.id, category_id=cats[kind].id, external_id=f"R{y}-{i:04d}",
                                 title=title, kind="resource", unit_id=du.unit.id,
                                 province_id=self.provinces[du.code].id, status="active"))
            per_kind[kind] += 1
        reviewers = []
        for i, code in enumerate(rng.sample(sorted(self.by_province), 5)):
            du = self.units_of(code, "provincial")[0]
            reviewers.append(self._judge(prog, f"RJ{i + 1:02d}", du, 0.5, expertise=list(cats)))
        self.s.add_all(entries + reviewers)
        roles = [PanelRole.chief] + [PanelRole.member] * (len(reviewers) - 1)
        self.panels.append(PanelPlan(check, "形式审查组", list(zip(reviewers, roles))))
        self.resources = (prog.name, len(entries), per_kind, {c.code: c.name for c in cats.values()})

    def build_unit_awards(self) -> None:
        rng, y = self.rng, self.year
        prog = create_from_template(self.s, "unit_awards", year=y, host="中国科学技术馆",
                                    starts_on=date(y, 12, 1), ends_on=date(y, 12, 31))
        stage = prog.stages[0]
        stage.starts_on, stage.ends_on = date(y, 12, 10), date(y, 12, 20)
        cats = {c.code: c for c in prog.categories}
        provincial = [u for u in self.units if u.role == "provincial"]
        others = [u for u in self.units if u.role in ("city", "youth", "mobile", "caravan")]
        count = self.n(NOMINATED_UNITS, 2)
        n_prov = min(len(provincial), round(count * 2 / 3))
        nominated = rng.sample(provincial, n_prov) + rng.sample(others, min(len(others), count - n_prov))
        entries = []
        for i, du in enumerate(nominated, start=1):
            entries.append(Entry(stage_id=stage.id, category_id=cats["unit"].id, external_id=f"A{y}-U{i:03d}",
                                 title=f"{du.unit.name}{y}年度联合行动组织工作", kind="unit",
                                 unit_id=du.unit.id, province_id=self.provinces[du.code].id, status="active"))
        museums = [u for u in self.units if u.role in MUSEUM_ROLES]
        for i in range(self.n(NOMINATED_PEOPLE, 1)):
            du = rng.choice(museums)
            entries.append(Entry(stage_id=stage.id, category_id=cats["person"].id, external_id=f"A{y}-P{i + 1:03d}",
                                 title=rng.choice(("主题科普活动策划与组织", "流动科技馆巡展组织实施",
                                                   "馆校合作课程推广", "科技辅导员队伍培养", "科普大篷车基层服务")),
                                 kind="individual", person=self.person(0.55, du.unit), unit_id=du.unit.id,
                                 province_id=self.provinces[du.code].id, status="active"))
        national = [u for u in self.by_province["11"] if u.role in ("national", "institute", "society")]
        committee = [self._judge(prog, f"AJ{i + 1:02d}", national[i % len(national)], 0.5,
                                 title="研究馆员" if i == 0 else None, expertise=["unit", "person"])
                     for i in range(5)]
        self.s.add_all(entries + committee)
        roles = [PanelRole.chief] + [PanelRole.member] * (len(committee) - 1)
        self.panels.append(PanelPlan(stage, "年度评审委员会", list(zip(committee, roles))))
        self.awards = (prog.name, len(nominated), len(entries) - len(nominated))

    # --- panels, tokens, accounts ----------------------------------------------------------
    def build_panels_and_tokens(self, base_url: str) -> list[dict]:
        self.s.flush()  # judges get their ids
        panels = []
        for plan in self.panels:
            panel = Panel(stage_id=plan.stage.id, name=plan.name,
                          category_id=plan.category.id if plan.category else None,
                          division_id=plan.division.id if plan.division else None)
            for judge, role in plan.members:
                panel.members.append(PanelMember(judge_id=judge.id, role=role))
            panels.append(panel)
        self.s.add_all(panels)
        seats: dict[tuple[int, int], tuple[Judge, Stage]] = {}
        for plan in self.panels:
            for judge, _ in plan.members:
                seats.setdefault((judge.id, plan.stage.id), (judge, plan.stage))
        rows, tokens, pins = [], [], set()
        base = base_url.rstrip("/")
        # Programme by programme, stage by stage: the first rows are the docent competition's
        # regional round, where every judge has entries to score.
        for (judge_id, _), (judge, stage) in sorted(seats.items(),
                                                    key=lambda kv: (kv[1][1].programme_id, kv[1][1].seq, kv[0][0])):
            token, plain = JudgeToken.issue(judge_id, stage.id)
            # the PIN fallback (typed at /j/pin); the tables were wiped, so unique among `pins`
            pin, token.pin_hash = new_pin(None, pins)
            tokens.append(token)
            rows.append({"judge_id": judge_id, "name": judge.person.name, "stage": stage.name,
                         "token": plain, "login_url": f"{base}/j/{plain}", "pin": pin})
        self.s.add_all(tokens)
        self.n_panels = len(panels)
        return rows

    def build_accounts(self) -> list[dict]:
        specs: list[tuple[Role, str, str, int | None, int | None]] = [
            (Role.organiser, "organiser", "大赛组委会办公室", None, None),
            (Role.organiser, "organiser2", "资源遴选工作组", None, None),
            (Role.oversight, "oversight", "监审组", None, None),
        ]
        for code, judge in self.final_chiefs.items():
            specs.append((Role.chief, f"chief-{code}", judge.person.name, None, judge.id))
        regional_judge = self.regional_panels[sorted(self.regional_panels)[0]][1]
        teacher = self.regional_panels[sorted(self.regional_panels)[1]][-1]
        reviewer = self.prelim_members[-3]
        for i, judge in enumerate((regional_judge, teacher, reviewer), start=1):
            specs.append((Role.judge, f"judge{i}", judge.person.name, None, judge.id))
        for code in ("15", self.training_code, "44"):
            du = self.units_of(code, "provincial")[0]
            if any(s[1] == f"unit-{code}" for s in specs):
                continue
            du.unit.contact_name = names.person_name(self.rng, "女")
            specs.append((Role.unit_contact, f"unit-{code}", du.unit.name, du.unit.id, None))
        rows, users = [], []
        for role, username, display, unit_id, judge_id in specs:
            password = secrets.token_urlsafe(9)
            user = User(username=username, role=role, display_name=display[:64], unit_id=unit_id,
                        judge_id=judge_id)
            user.set_password(password)
            users.append(user)
            rows.append({"role": role.value, "username": username, "password": password})
        self.s.add_all(users)
        return rows


def _codes(rng: random.Random, count: int) -> list[str]:
    """Unique anonymous codes such as 'K7Q2MX' (no 0/O/1/I to misread)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < count:
        code = "".join(rng.choice(alphabet) for _ in range(6))
        if code not in seen:
            seen.add(code)
            out.append(code)
    return out


def _unique_title(rng: random.Random, seen: set[str], make) -> str:
    title = make()
    for _ in range(6):
        if title not in seen:
            break
        title = make()
    seen.add(title)
    return title


def _name_teams(teams: list[Team]) -> None:
    """Two teams of one unit in one category get 一队 / 二队 suffixes."""
    groups: dict[str, list[Team]] = {}
    for t in teams:
        groups.setdefault(t.name, []).append(t)
    for group in groups.values():
        if len(group) > 1:
            for i, t in enumerate(group):
                t.name = t.name[:-1] + ("一二三四五六七八九十"[i] if i < 10 else str(i + 1)) + "队"


def _add_expertise(judge: Judge, code: str) -> None:
    codes = [c for c in (judge.expertise or "").split(",") if c]
    if code not in codes:
        judge.expertise = ",".join(codes + [code])


def _weighted_sample(rng: random.Random, weights: dict[K, float], k: int) -> list[K]:
    pool = dict(weights)
    out = []
    for _ in range(min(k, len(pool))):
        key = rng.choices(list(pool), weights=list(pool.values()))[0]
        out.append(key)
        del pool[key]
    return out


def _monday_in_july(year: int) -> date:
    """The third Monday of July: sessions run Monday to Friday."""
    d = date(year, 7, 15)
    while d.weekday() != 0:
        d += timedelta(days=1)
    return d


# --- the regional round, finished ---------------------------------------------------------
DEMO_ACTOR = "演示数据"
OVERTIME_SHARE = 0.03          # entries whose chief recorded a duration over the limit
CERTIFICATES_CSV_COLUMNS = ["serial", "name", "award", "verify_url", "download_url"]


@dataclass
class RegionalRound:
    """What `finish_regional_round` did, for the summary and certificates.csv."""
    live_division: str
    live_entries: int
    live_judges: int
    sheets: int
    overtime: int
    confirmed: int
    published: list[str]
    objection_until: date | None
    promoted: int
    to_stage: str
    certificate_rows: list[dict]
    timings: dict[str, float]

    def summary(self, out_dir: Path) -> str:
        return "\n".join([
            f"· 分赛区选拔评分：已提交评分表 {self.sheets} 份（其中 {self.overtime} 件作品由评委组长记录超时），"
            f"确认统分 {self.confirmed} 件；{self.live_division}的 {self.live_entries} 件作品尚未评分，"
            f"留给演示评委（judges.csv 前 {self.live_judges} 行即该赛区评委组）",
            f"· 已发布并确认最终结果 {len(self.published)} 项：{'；'.join(self.published)}"
            + (f"（公示期至 {self.objection_until.isoformat()}）" if self.objection_until else ""),
            f"· 晋级“{self.to_stage}”作品 {self.promoted} 件",
            f"· 证书 {len(self.certificate_rows)} 张：{out_dir / 'certificates.csv'}",
        ])


def _mark(rng: random.Random, criterion, level: float) -> Decimal:
    """A mark on the criterion's step and within its range, near `level` (0..1) of the range."""
    lo, hi, step = criterion.min, criterion.max, criterion.step
    steps = int((hi - lo) / step)
    k = round(min(1.0, max(0.0, level)) * steps)
    return min(hi, lo + step * k)


def add_submitted_sheets(session, stage: Stage, specs: Iterable[tuple]) -> list[ScoreSheet]:
    """Submitted sheets in bulk, exactly as `services.sheets.put_sheet` stores a submission
    (marks validated by `scoring.sheets.validate_sheet`, version 1), each with its "submit"
    event. `specs` are (entry id, judge id, rubric, marks, submitted at)."""
    from scoring.sheets import format_number, validate_sheet
    sheets = []
    for entry_id, judge_id, rubric, marks, at in specs:
        checked = validate_sheet(rubric, marks, comment="")
        sheets.append(ScoreSheet(
            stage_id=stage.id, entry_id=entry_id, judge_id=judge_id, rubric_id=rubric.id,
            rubric_version=rubric.version, scores={k: format_number(v) for k, v in checked.scores.items()},
            total=format_number(checked.total), comment="", penalties=None, inputs=None, flags=None,
            status=SheetStatus.submitted, version=1, created_at=at, updated_at=at, submitted_at=at))
    session.add_all(sheets)
    session.flush()
    session.add_all([ScoreEvent(
        stage_id=s.stage_id, entry_id=s.entry_id, sheet_id=s.id, judge_id=s.judge_id, action=EventAction.submit,
        actor=DEMO_ACTOR, old=None, at=s.submitted_at,
        new={"status": "submitted", "version": 1, "scores": dict(s.scores), "total": s.total, "comment": "",
             "penalties": {}, "inputs": {}, "flags": []}) for s in sheets])
    session.flush()
    return sheets


def date_certificates(session, prog: Programme, day: date) -> None:
    """Print `day` on the programme's certificates, as an organiser sets the date in the
    certificate template: the demo's rounds end in the past, while issuing would otherwise
    date them the day the demo is built."""
    from services import certificates as certs
    kind = certs.KIND_FOR_PROGRAMME[prog.kind]
    tpl = certs.template_for(session, prog, kind)
    tpl.issued_on = day
    session.add(tpl)
    session.flush()


def finish_regional_round(session, b: _Builder, seed: int, base_url: str) -> RegionalRound:
    """Score, confirm, publish and promote the docent competition's regional round, then issue
    its certificates — all but one division (the *live* one), which stays unscored so the judges
    in the first rows of judges.csv still have entries to score through the API.

    Sheets are built directly (bulk) with exactly what `services.sheets.put_sheet` would store
    for a submission (marks validated by `scoring.sheets.validate_sheet`, version 1, one
    "submit" event each); 统分确认 freezes `services.sheets.compute_result` as `confirm` does
    (in bulk, see below); results, publication, promotion and certificates go through their
    services. Deterministic for the seed (its own random stream, so the data
    built before is unchanged)."""
    from scoring.sheets import format_number
    from services import certificates as certs
    from services import publication as pubs
    from services.results import promote_entries
    from services.sheets import expected_judges_for
    from services.sheets import Actor, compute_result, record_entry, result_json, stage_rubric

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    rng = random.Random(f"demo-regional-{seed}")
    stage, to_stage = b.stages["regional"], b.stages["prelim"]
    actor = Actor(DEMO_ACTOR)

    # the live division: the panel of the first regional judge in judges.csv (lowest judge id)
    first_judge = min((j for members in b.regional_panels.values() for j in members), key=lambda j: j.id)
    live_code = next(code for code, members in b.regional_panels.items() if first_judge in members)
    live = b.divisions[live_code]
    entries = [e for e in b.regional_entries if e.status == "active"]
    scored = [e for e in entries if e.division_id != live.id]
    rubrics = {cat.id: stage_rubric(stage, cat.id) for cat in b.cats.values()}
    expected = expected_judges_for(session, stage, scored)

    # per entry a latent quality, per judge a small bias; noise per mark
    bias = {j.id: rng.gauss(0, 0.035) for members in b.regional_panels.values() for j in members}
    day_of = {b.divisions[code].id: stage.starts_on + timedelta(days=(i * 60) // len(b.divisions))
              for i, code in enumerate(sorted(b.divisions))}
    specs: list[tuple] = []
    per_division: dict[int, int] = {}
    for e in scored:
        rubric = rubrics[e.category_id]
        quality = min(0.97, max(0.45, rng.gauss(0.78, 0.08)))
        slot = per_division.get(e.division_id, 0)
        per_division[e.division_id] = slot + 1
        start = datetime.combine(day_of[e.division_id], dtime(1, 0), tzinfo=timezone.utc) \
            + timedelta(minutes=9 * slot)
        for seat, judge in enumerate(expected[e.id]):
            level = quality + bias.get(judge.id, 0.0)
            marks = {c.id: format_number(_mark(rng, c, level + rng.gauss(0, 0.05))) for c in rubric.judged_criteria}
            at = start + timedelta(minutes=6, seconds=40 * seat + rng.randint(0, 30))
            specs.append((e.id, judge.id, rubric, marks, at))
    sheets = add_submitted_sheets(session, stage, specs)
    timings["sheets"] = time.perf_counter() - t0

    # the chief's record: a few entries ran over time
    t = time.perf_counter()
    overtime = 0
    for e in rng.sample(scored, max(1, round(len(scored) * OVERTIME_SHARE))):
        ot = rubrics[e.category_id].penalties.overtime if rubrics[e.category_id].penalties else None
        if ot is not None:
            record_entry(session, e, stage, actor, inputs={"duration_seconds": ot.limit_seconds + rng.randint(4, 95)})
            overtime += 1
    timings["records"] = time.perf_counter() - t

    # 统分确认: what `services.sheets.confirm` does, entry by entry, without asking again for
    # each entry which judges are expected (`confirm` builds the conflict index per entry:
    # ~11 ms each, 17 s at full scale). The result is `services.sheets.compute_result` on the
    # same expected judges, frozen by `result_json`; the sheets are locked; one "confirm" event.
    t = time.perf_counter()
    sheets_of: dict[int, list[ScoreSheet]] = {}
    for s in sheets:
        sheets_of.setdefault(s.entry_id, []).append(s)
    confirmations, events = [], []
    with session.no_autoflush:
        for e in scored:
            result, rubric = compute_result(session, e, stage, judges=expected[e.id])
            final = None if result.final_score is None else str(result.final_score)
            at = max((s.submitted_at for s in sheets_of.get(e.id, ())), default=None)
            at = (at or datetime.combine(day_of[e.division_id], dtime(9, 0), tzinfo=timezone.utc)) \
                + timedelta(minutes=3)
            confirmations.append(EntryConfirmation(
                entry_id=e.id, stage_id=stage.id, category_id=e.category_id, rubric_id=rubric.id,
                rubric_version=rubric.version, status=result.status, final_score=final,
                result=result_json(result), confirmed_by=DEMO_ACTOR, user_id=None, confirmed_at=at))
            events.append(ScoreEvent(stage_id=stage.id, entry_id=e.id, action=EventAction.confirm, actor=DEMO_ACTOR,
                                     new={"final_score": final, "status": result.status}, at=at))
    for s in sheets:
        s.status = SheetStatus.locked
    session.add_all(confirmations)
    session.add_all(events)
    session.flush()
    timings["confirm"] = time.perf_counter() - t

    # results: drafted, published for 公示 the Monday after the round, final once the period is over
    t = time.perf_counter()
    pub = pubs.create_draft(session, stage, actor=DEMO_ACTOR)
    publish_on = stage.ends_on + timedelta(days=1)
    while publish_on.weekday() != 0:
        publish_on += timedelta(days=1)
    pubs.publish(session, pub, DEMO_ACTOR, days=5, today=publish_on)
    until = pub.objection_until
    pubs.finalise(session, pub, DEMO_ACTOR, today=until + timedelta(days=1))
    published = [pub.title]
    timings["publish"] = time.perf_counter() - t

    t = time.perf_counter()
    promoted = promote_entries(session, stage, to_stage, DEMO_ACTOR,
                               force_reason=f"演示数据：{live.name}仍在评分（留给演示评委），其余分赛区先行晋级")
    timings["promote"] = time.perf_counter() - t

    t = time.perf_counter()
    date_certificates(session, stage.programme, until + timedelta(days=1))
    issued = certs.issue_for_publication(session, pub, DEMO_ACTOR)
    rows = [{"serial": c.serial, "name": c.holder_name, "award": c.award_name,
             "verify_url": certs.verify_url(c, base_url), "download_url": certs.download_url(c, base_url)}
            for c in issued]
    timings["certificates"] = time.perf_counter() - t
    return RegionalRound(live_division=live.name, live_entries=len(entries) - len(scored),
                         live_judges=len(b.regional_panels[live_code]), sheets=len(sheets), overtime=overtime,
                         confirmed=len(scored), published=published, objection_until=until,
                         promoted=len(promoted.created), to_stage=to_stage.name, certificate_rows=rows,
                         timings=timings)


#: judges.csv: the first five in this order (outside checks read them), then the PIN typed at
#: /j/pin when the QR code cannot be scanned.
JUDGES_CSV_COLUMNS = ["judge_id", "name", "stage", "token", "login_url", "pin"]


def _write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def build_demo(session, out_dir: Path, seed: int = 2024, base_url: str = "http://127.0.0.1:5000",
               scale: float = 1.0, year: int = 2024) -> str:
    """Rebuild the demo data in the session's database; write accounts.csv, judges.csv and
    certificates.csv into `out_dir`; commit once; return a short summary (Chinese)."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    try:
        wipe(session)
        b = _Builder(session, rng, scale, year)
        b.provinces = ensure_provinces(session)
        b.build_units(b.training_code)
        b.build_competition()
        b.build_judges()
        b.build_training(b.training_code)
        b.build_resources()
        b.build_unit_awards()
        judge_rows = b.build_panels_and_tokens(base_url)
        account_rows = b.build_accounts()
        session.flush()
        build_activity_reports(session, b, seed)
        summary = _summary(b, seed, len(account_rows), len(judge_rows), out_dir)
        finished = finish_regional_round(session, b, seed, base_url)
        summary += "\n" + finished.summary(out_dir)
        from services.demo_training import finish_training
        trained = finish_training(session, b, seed, base_url)
        summary += "\n" + trained.summary()
        from services.demo_resources import add_submissions
        summary += "\n" + add_submissions(session, b.year, seed)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    _write_csv(out_dir / "accounts.csv", ["role", "username", "password"], account_rows)
    _write_csv(out_dir / "judges.csv", JUDGES_CSV_COLUMNS,
               [{k: r[k] for k in JUDGES_CSV_COLUMNS} for r in judge_rows + trained.judge_rows])
    _write_csv(out_dir / "certificates.csv", CERTIFICATES_CSV_COLUMNS,
               finished.certificate_rows + trained.certificate_rows)
    elapsed = time.perf_counter() - started
    return summary.replace("{elapsed}", f"{elapsed:.1f}")


def _summary(b: _Builder, seed: int, n_accounts: int, n_tokens: int, out_dir: Path) -> str:
    c = b.comp_counts
    cat_names = {code: cat.name for code, cat in b.cats.items()}
    per_cat = "、".join(f"{cat_names[k]} {v}" for k, v in c["per_cat"].items())
    teachers = sum(1 for j in b.comp_judges if j.is_school_teacher)
    res_name, res_n, res_per, res_names = b.resources
    res_detail = "、".join(f"{res_names[k]} {v}" for k, v in res_per.items())
    tr_name, tr_n, tr_assessors, tr_host, tr_partner = b.training
    aw_name, aw_units, aw_people = b.awards
    return "\n".join([
        f"演示数据已重建（seed={seed}，用时 {{elapsed}} 秒；单位 {len(b.units)} 个，人员 {b.people} 人）",
        f"· {b.comp.name}：{len(b.divisions)} 个分赛区；分赛区选拔作品 {c['entries']} 件（{per_cat}），"
        f"团队 {c['teams']} 支，参赛人员 {c['contestants']} 人；评委库 {len(b.comp_judges)} 人"
        f"（其中中小学科学教师 {teachers} 人）；分赛区评委组 {len(b.divisions)} 个 × 7 人，"
        f"全国初评专家 {PRELIM_REVIEWERS} 人，全国决赛评委组 {len(b.cats)} 个 × {FINAL_PANEL_SIZE} 人；"
        f"回避声明 {b.relations} 条",
        f"· {tr_name}：承办 {tr_host}，合作 {tr_partner}；学员 {tr_n} 人，考核专家 {tr_assessors} 人",
        f"· {res_name}：推荐资源 {res_n} 件（{res_detail}）",
        f"· {aw_name}：推荐单位 {aw_units} 个，推荐个人 {aw_people} 人",
        f"· 账号 {n_accounts} 个：{out_dir / 'accounts.csv'}",
        f"· 评委登录链接 {n_tokens} 条：{out_dir / 'judges.csv'}",
    ])
