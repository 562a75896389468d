"""Rubric loading and validation: every shipped rubric loads, every broken one is explained.

The organiser who edits a rubric file sees only the error messages, so the broken-file table
asserts the field path and the reason an author would need to fix the file.
"""

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from scoring.rubric import (
    Overtime,
    Rounding,
    Rubric,
    RubricError,
    check_rubric_dir,
    load_rubric,
    load_rubric_text,
)

ROOT = Path(__file__).resolve().parents[2]
RUBRICS = ROOT / "rubrics"
SHIPPED = sorted(RUBRICS.rglob("*.yaml"))

# A small valid panel rubric; broken cases each change one thing in it.
PANEL = """\
id: test-panel
version: 1
kind: panel
title: {zh: 测试评分表, en: Test sheet}
full_marks: 35
criteria:
  - id: kexuexing
    title: {zh: 科学性, en: Scientific accuracy}
    max: 25
    step: 0.5
    descriptors:
      - {min: 20, max: 25, text: {zh: 准确}}
      - {min: 0, max: 19.5, text: {zh: 有错误}}
  - id: biaoda
    title: {zh: 表达, en: Delivery}
    max: 10
    step: 0.5
penalties:
  overtime: {limit_seconds: 300, per_started_seconds: 30, points: 1, cap: 5}
  flags:
    - {id: safety_breach, title: {zh: 安全事故}, effect: disqualify}
aggregation:
  method: trimmed_mean
  drop_highest: 1
  drop_lowest: 1
  min_scores: 5
  fallback: mean
  min_panel: 3
rounding: {decimals: 2, mode: half_up, at: [panel_score, final]}
tie_breaks:
  - raw_sum
  - criterion: kexuexing
awards:
  tiers:
    - {id: first, name: {zh: 一等奖}, share: 0.2}
    - {id: second, name: {zh: 二等奖}, share: 0.3}
  rest: {id: merit, name: {zh: 优秀奖}}
promotion: {group_by: [division, category], quota: 2, reserves: 1}
"""

ASSESSMENT = """\
id: test-assessment
version: 1
kind: assessment
title: {zh: 考核}
components:
  - {id: attendance, title: {zh: 出勤}, weight: 0.2, source: attendance}
  - {id: coursework, title: {zh: 作业}, weight: 0.3, source: score}
  - {id: design, title: {zh: 设计}, weight: 0.5, source: rubric, rubric: training/course-design}
eligibility:
  - {id: attendance_min, title: {zh: 出勤率}, metric: attendance_rate, at_least: 0.8}
pass_mark: 60
excellence: {min_total: 90, top_share: 0.15}
"""

CHECKLIST = """\
id: test-checklist
version: 1
kind: checklist
title: {zh: 形式审查}
items:
  - {id: complete, title: {zh: 材料齐全}, fail_reason: {zh: 材料不全}}
  - {id: anonymous, title: {zh: 匿名}, fail_reason: {zh: 出现单位名称}}
"""


def errors_of(text: str) -> RubricError:
    with pytest.raises(RubricError) as info:
        load_rubric_text(text, source="case.yaml")
    return info.value


# --------------------------------------------------------------------------- shipped files


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(RUBRICS).as_posix())
def test_every_shipped_rubric_loads(path: Path) -> None:
    rubric = load_rubric(path)
    assert rubric.version >= 1
    assert rubric.title.zh and rubric.title.en


def test_shipped_directory_checks_clean_with_unique_ids() -> None:
    rubrics, errors = check_rubric_dir(RUBRICS)
    assert [str(e) for e in errors] == []
    assert len(rubrics) == len(SHIPPED)
    assert len({(r.id, r.version) for r in rubrics.values()}) == len(rubrics)


@pytest.mark.parametrize(
    "ref, kind, method, max_total",
    [
        ("docent/exhibit-guiding", "panel", "trimmed_mean", 100),
        ("docent/volunteer", "panel", "trimmed_mean", 100),
        ("docent/experiment", "panel", "trimmed_mean", 100),
        ("docent/drama", "panel", "trimmed_mean", 100),
        ("docent/course", "panel", "trimmed_mean", 100),
        ("docent/preliminary-video", "panel", "calibrated", 100),
        ("training/assessment", "assessment", None, 100),
        ("training/course-design", "panel", "trimmed_mean", 100),
        ("training/presentation", "panel", "trimmed_mean", 100),
        ("resources/format-check", "checklist", None, 0),
        ("resources/preliminary", "panel", "calibrated", 100),
        ("resources/final", "panel", "trimmed_mean", 100),
        ("awards/organising-unit", "award", "mean", 100),
        ("awards/individual", "award", "mean", 100),
        ("examples/diving-7", "panel", "trimmed_sum", 10),
        ("examples/diving-5", "panel", "trimmed_sum", 10),
        ("examples/isu-components", "panel", "trimmed_mean", 10),
        ("examples/review-100", "panel", "calibrated", 100),
    ],
)
def test_shipped_rubric_shapes(ref: str, kind: str, method: str | None, max_total: int) -> None:
    rubric = load_rubric(RUBRICS / f"{ref}.yaml")
    assert rubric.kind == kind
    assert (rubric.aggregation.method if rubric.aggregation else None) == method
    assert rubric.max_total == max_total


# The published rules DESIGN.md promises the example rubrics express.
@pytest.mark.parametrize(
    "ref, lo, hi, step, drop_high, drop_low, min_scores, min_panel, multiplier, decimals",
    [
        ("examples/diving-7", "0", "10", "0.5", 2, 2, 7, 7, "difficulty", 2),
        ("examples/diving-5", "0", "10", "0.5", 1, 1, 5, 5, "difficulty", 2),
        ("examples/isu-components", "0.25", "10", "0.25", 1, 1, 5, 5, None, 2),
    ],
)
def test_example_rubrics_state_the_published_rules(
    ref, lo, hi, step, drop_high, drop_low, min_scores, min_panel, multiplier, decimals
) -> None:
    rubric = load_rubric(RUBRICS / f"{ref}.yaml")
    (total,) = rubric.criteria
    assert (total.id, total.min, total.max, total.step) == ("total", Decimal(lo), Decimal(hi), Decimal(step))
    a = rubric.aggregation
    assert (a.drop_highest, a.drop_lowest, a.min_scores, a.min_panel) == (drop_high, drop_low, min_scores, min_panel)
    assert 8 >= a.min_scores or ref != "examples/isu-components"  # 8-judge ISU panels still trim 1+1
    assert (a.multiplier.input if a.multiplier else None) == multiplier
    assert rubric.rounding.decimals == decimals and rubric.rounding.mode == "half_up"


def test_review_100_is_one_total_ranked_by_the_calibrated_model() -> None:
    rubric = load_rubric(RUBRICS / "examples/review-100.yaml")
    assert rubric.criterion_ids == ("total",)
    assert (rubric.criteria[0].max, rubric.criteria[0].step) == (100, Decimal("0.01"))
    assert rubric.aggregation.method == "calibrated" and rubric.aggregation.fallback == "mean"


def test_exhibit_guiding_states_the_competition_rules() -> None:
    rubric = load_rubric(RUBRICS / "docent/exhibit-guiding.yaml")
    assert [(c.title.zh, c.max) for c in rubric.criteria] == [
        ("科学性", 25), ("内容组织", 20), ("辅导方法", 25), ("语言仪态", 15), ("问答应变", 10), ("时间控制", 5),
    ]
    assert rubric.penalties.overtime.limit_seconds == 300
    assert [(t.rule, t.criterion) for t in rubric.tie_breaks] == [("raw_sum", None), ("criterion", "kexuexing")]
    assert (rubric.promotion.quota, rubric.promotion.reserves) == (2, 1)
    assert rubric.awards.honours[0].top == 10
    assert all(3 <= len(c.descriptors) <= 4 for c in rubric.criteria)


def test_experiment_safety_breach_disqualifies() -> None:
    rubric = load_rubric(RUBRICS / "docent/experiment.yaml")
    assert [(f.id, f.effect) for f in rubric.flags] == [("safety_breach", "disqualify")]
    assert rubric.penalties.overtime.limit_seconds == 480


def test_training_assessment_scheme() -> None:
    rubric = load_rubric(RUBRICS / "training/assessment.yaml")
    assert [(c.id, c.weight) for c in rubric.components] == [
        ("attendance", Decimal("0.2")), ("coursework", Decimal("0.2")),
        ("course_design", Decimal("0.4")), ("presentation", Decimal("0.2")),
    ]
    assert rubric.rubric_refs == ("training/course-design", "training/presentation")
    assert rubric.eligibility[0].at_least == Decimal("0.8")
    assert rubric.pass_mark == 60
    assert (rubric.excellence.min_total, rubric.excellence.top_share) == (90, Decimal("0.15"))


def test_resources_veto_on_scientific_accuracy() -> None:
    for ref in ("resources/preliminary", "resources/final"):
        rubric = load_rubric(RUBRICS / f"{ref}.yaml")
        kexuexing = rubric.find_criterion("kexuexing")
        assert kexuexing.max == 30 and kexuexing.veto.below == 18


# --------------------------------------------------------------------------- broken files

# (case id, base text, old fragment, new fragment, expected field path, reason substring)
BROKEN = [
    ("step-not-dividing-max", PANEL, "    max: 25\n    step: 0.5", "    max: 25\n    step: 0.3",
     "criteria[0].step", "max 25 is not a multiple of step 0.3"),
    ("min-not-on-step", PANEL, "    max: 10\n    step: 0.5", "    max: 10\n    min: 0.25\n    step: 0.5",
     "criteria[1].step", "min 0.25 is not a multiple of step 0.5"),
    ("max-not-above-min", PANEL, "    max: 10\n", "    max: 10\n    min: 10\n",
     "criteria[1].max", "must be greater than min 10"),
    ("unknown-key", PANEL, "    max: 10\n", "    max: 10\n    wieght: 2\n",
     "criteria[1].wieght", "unknown key 'wieght'; did you mean 'weight'?"),
    ("unknown-top-level-key", PANEL, "version: 1\n", "version: 1\ntiebreaks: [raw_sum]\n",
     "tiebreaks", "did you mean 'tie_breaks'?"),
    ("duplicate-criterion-id", PANEL, "  - id: biaoda", "  - id: kexuexing",
     "criteria[1].id", "duplicate criterion id 'kexuexing'"),
    ("criterion-id-not-slug", PANEL, "  - id: biaoda", "  - id: Biao Da",
     "criteria[1].id", "is not an id"),
    ("total-reserved", PANEL, "  - id: biaoda", "  - id: total",
     "criteria[1].id", "'total' is reserved"),
    ("tie-break-unknown-criterion", PANEL, "  - criterion: kexuexing", "  - criterion: kexue",
     "tie_breaks[1].criterion", "unknown criterion 'kexue'"),
    ("tie-break-unknown-rule", PANEL, "  - raw_sum\n", "  - coin_toss\n",
     "tie_breaks[0].rule", "got 'coin_toss'"),
    ("drop-counts-too-large", PANEL, "  drop_highest: 1\n  drop_lowest: 1\n  min_scores: 5",
     "  drop_highest: 2\n  drop_lowest: 2\n  min_scores: 4",
     "aggregation.min_scores", "must exceed drop_highest + drop_lowest (2 + 2 = 4)"),
    ("trimmed-without-fallback", PANEL, "  fallback: mean\n", "",
     "aggregation.fallback", "too small to trim"),
    ("drop-with-plain-mean", PANEL, "  method: trimmed_mean", "  method: mean",
     "aggregation.drop_highest", "only used by trimmed_mean and trimmed_sum"),
    ("unknown-method", PANEL, "  method: trimmed_mean", "  method: average",
     "aggregation.method", "got 'average'"),
    ("calibrated-without-fallback",
     PANEL, "  method: trimmed_mean\n  drop_highest: 1\n  drop_lowest: 1\n  min_scores: 5\n  fallback: mean\n",
     "  method: calibrated\n", "aggregation.fallback", "required for calibrated"),
    ("bands-overlap", PANEL, "{min: 0, max: 19.5,", "{min: 0, max: 21,",
     "criteria[0].descriptors[0]", "band 20-25 overlaps band 0-21"),
    ("bands-leave-a-gap", PANEL, "{min: 0, max: 19.5,", "{min: 0, max: 18,",
     "criteria[0].descriptors[0]", "no band covers scores from 18.5 to 19.5"),
    ("bands-miss-one-score", PANEL, "{min: 0, max: 19.5,", "{min: 0.5, max: 19.5,",
     "criteria[0].descriptors", "no band covers score 0"),
    ("band-outside-range", PANEL, "{min: 20, max: 25,", "{min: 20, max: 26,",
     "criteria[0].descriptors[0]", "lies outside the criterion's range 0-25"),
    ("band-off-step", PANEL, "{min: 0, max: 19.5,", "{min: 0, max: 19.7,",
     "criteria[0].descriptors[1].max", "band max 19.7 is not a multiple of step 0.5"),
    ("missing-zh-title", PANEL, "title: {zh: 表达, en: Delivery}", "title: {en: Delivery}",
     "criteria[1].title.zh", "required field is missing"),
    ("blank-zh-title", PANEL, "title: {zh: 测试评分表, en: Test sheet}", "title: {zh: '  ', en: Test sheet}",
     "title.zh", "must not be empty"),
    ("missing-step", PANEL, "    max: 10\n    step: 0.5\n", "    max: 10\n",
     "criteria[1].step", "required field is missing"),
    ("max-as-text", PANEL, "    max: 10\n", "    max: ten\n",
     "criteria[1].max", "must be a number, got 'ten'"),
    ("infinite-max", PANEL, "    max: 10\n", "    max: .inf\n",
     "criteria[1].max", "must be a finite number"),
    ("version-as-text", PANEL, "version: 1", "version: '2024.1'",
     "version", "valid integer"),
    ("version-zero", PANEL, "version: 1", "version: 0",
     "version", "greater than 0"),
    ("full-marks-mismatch", PANEL, "full_marks: 35", "full_marks: 100",
     "full_marks", "criteria add up to 35"),
    ("veto-above-max", PANEL, "    max: 25\n", "    max: 25\n    veto: {below: 26}\n",
     "criteria[0].veto.below", "is above max 25"),
    ("veto-never-applies", PANEL, "    max: 25\n", "    max: 25\n    veto: {below: 0}\n",
     "criteria[0].veto.below", "never applies"),
    ("overtime-cap-below-points", PANEL, "points: 1, cap: 5", "points: 2, cap: 1",
     "penalties.overtime.cap", "smaller than one deduction of 2"),
    ("penalty-id-repeated", PANEL, "  flags:\n",
     "  deductions:\n    - {id: safety_breach, title: {zh: 扣分}, points: 1}\n  flags:\n",
     "penalties.flags[0].id", "duplicate penalty id 'safety_breach'"),
    ("flag-without-effect", PANEL, ", effect: disqualify}", "}",
     "penalties.flags[0].effect", "required field is missing"),
    ("award-shares-above-one", PANEL, "share: 0.3}", "share: 0.9}",
     "awards.tiers", "award shares add up to 1.1, more than 1"),
    ("share-above-one", PANEL, "share: 0.2}", "share: 1.5}",
     "awards.tiers[0].share", "less than or equal to 1"),
    ("tier-count-and-share", PANEL, "share: 0.2}", "share: 0.2, count: 5}",
     "awards.tiers[0]", "exactly one"),
    ("promotion-quota-and-share", PANEL, "quota: 2,", "quota: 2, share: 0.5,",
     "promotion", "not both"),
    ("rounding-at-criterion-over-totals", PANEL, "at: [panel_score, final]", "at: [criterion_score]",
     "rounding.at[0]", "only when aggregation.over is criteria"),
    ("section-missing", PANEL, "aggregation:\n  method: trimmed_mean\n  drop_highest: 1\n  drop_lowest: 1\n"
     "  min_scores: 5\n  fallback: mean\n  min_panel: 3\n", "",
     "aggregation", "required for kind panel"),
    ("weights-not-summing", ASSESSMENT, "weight: 0.5", "weight: 0.4",
     "components", "component weights add up to 0.9; they must add up to 1"),
    ("eligibility-unknown-component", ASSESSMENT, "metric: attendance_rate", "component: homework",
     "eligibility[0].component", "unknown component 'homework'"),
    ("attendance-rate-above-one", ASSESSMENT, "at_least: 0.8", "at_least: 80",
     "eligibility[0].at_least", "fraction 0-1"),
    ("rubric-component-without-ref", ASSESSMENT, ", rubric: training/course-design}", "}",
     "components[2].rubric", "required for source rubric"),
    ("rubric-ref-with-extension", ASSESSMENT, "rubric: training/course-design", "rubric: training/course-design.yaml",
     "components[2].rubric", "without .yaml"),
    ("excellence-below-pass", ASSESSMENT, "min_total: 90", "min_total: 50",
     "excellence.min_total", "below pass_mark 60"),
    ("assessment-with-criteria", ASSESSMENT, "pass_mark: 60\n", "pass_mark: 60\naggregation: {method: mean}\n",
     "aggregation", "not used by kind assessment"),
    ("checklist-duplicate-item", CHECKLIST, "id: anonymous", "id: complete",
     "items[1].id", "duplicate item id 'complete'"),
    ("checklist-missing-reason", CHECKLIST, ", fail_reason: {zh: 出现单位名称}", "",
     "items[1].fail_reason", "required field is missing"),
    ("yaml-syntax-error", PANEL, "  - raw_sum\n", "  - [raw_sum\n",
     "<file>", "YAML syntax error at line"),
    ("yaml-duplicate-key", PANEL, "    max: 10\n", "    max: 10\n    max: 12\n",
     "<file>", "YAML error at line 17, column 5: duplicate key 'max' (first at line 16)"),
    ("top-level-list", "- id: x\n", "- id: x", "- id: x",
     "<file>", "top level must be a mapping"),
    ("empty-file", "# only a comment\n", "#", "#", "<file>", "the file is empty"),
]


@pytest.mark.parametrize("base, old, new, path, reason", [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_rubric_reports_path_and_reason(base, old, new, path, reason) -> None:
    assert old in base, "the case no longer matches its base text"
    err = errors_of(base.replace(old, new, 1))
    assert err.file == "case.yaml"
    assert any(p == path and reason in r for p, r in err.errors), err.errors


def test_bases_of_the_broken_table_are_valid() -> None:
    for text in (PANEL, ASSESSMENT, CHECKLIST):
        load_rubric_text(text)


def test_error_text_names_file_path_reason_and_line() -> None:
    err = errors_of(PANEL.replace("    max: 25\n    step: 0.5", "    max: 25\n    step: 0.3"))
    line = PANEL.splitlines().index("    step: 0.5") + 1
    assert str(err) == f"case.yaml: criteria[0].step: max 25 is not a multiple of step 0.3 (line {line})"


def test_syntax_error_gives_the_line() -> None:
    err = errors_of("id: x\nversion: 1\ntitle: {zh: 甲\nkind: panel\n")
    ((path, reason),) = err.errors
    assert path == "<file>" and "line 4" in reason


def test_every_problem_is_reported_at_once() -> None:
    text = PANEL.replace("    max: 25\n    step: 0.5", "    max: 25\n    step: 0.3").replace(
        "  - criterion: kexuexing", "  - criterion: kexue"
    )
    assert {p for p, _ in errors_of(text).errors} == {"criteria[0].step", "tie_breaks[1].criterion"}


@pytest.mark.parametrize(
    "step, lo, hi",
    [("0.1", "0", "0.3"), ("0.01", "0", "100"), ("0.25", "0.25", "10"), ("0.05", "0", "0.35")],
)
def test_step_check_is_exact_decimal(step: str, lo: str, hi: str) -> None:
    # 0.3 % 0.1 in float is 0.0999…, which would wrongly reject these.
    text = f"""\
id: t
version: 1
kind: panel
title: {{zh: 测试}}
criteria: [{{id: total, title: {{zh: 总分}}, min: {lo}, max: {hi}, step: {step}}}]
aggregation: {{method: mean}}
"""
    assert load_rubric_text(text).criteria[0].step == Decimal(step)


def test_missing_file_is_a_rubric_error(tmp_path: Path) -> None:
    with pytest.raises(RubricError) as info:
        load_rubric(tmp_path / "nope.yaml")
    assert info.value.errors == [("<file>", "file not found")]


def test_non_utf8_file_is_a_rubric_error(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes("id: x\ntitle: {zh: 科学}\n".encode("gbk"))
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    assert "not UTF-8" in info.value.errors[0][1]


# --------------------------------------------------------------------------- directories


def test_check_rubric_dir_keys_errors_and_duplicates(tmp_path: Path) -> None:
    (tmp_path / "docent").mkdir()
    (tmp_path / "training").mkdir()
    (tmp_path / "docent" / "a.yaml").write_text(PANEL, "utf-8")
    (tmp_path / "docent" / "copy.yaml").write_text(PANEL, "utf-8")  # same id and version
    broken = PANEL.replace("test-panel", "other").replace("step: 0.5", "step: 0.3", 1)
    (tmp_path / "docent" / "b.yaml").write_text(broken, "utf-8")
    (tmp_path / "docent" / "c.yml").write_text(PANEL, "utf-8")
    (tmp_path / "checklist.yaml").write_text(CHECKLIST, "utf-8")
    (tmp_path / "training" / "assessment.yaml").write_text(ASSESSMENT, "utf-8")  # refers to a missing rubric
    (tmp_path / ".hidden.yaml").write_text("not: [valid", "utf-8")

    rubrics, errors = check_rubric_dir(tmp_path)

    assert sorted(rubrics) == ["checklist"]
    by_file = {Path(e.file).relative_to(tmp_path).as_posix(): e for e in errors}
    assert sorted(by_file) == [
        "docent/a.yaml", "docent/b.yaml", "docent/c.yml", "docent/copy.yaml", "training/assessment.yaml",
    ]
    assert "also used by" in by_file["docent/a.yaml"].errors[0][1]
    assert by_file["docent/b.yaml"].errors[0][0] == "criteria[0].step"
    assert "must be named *.yaml" in by_file["docent/c.yml"].errors[0][1]
    assert by_file["training/assessment.yaml"].errors == [
        ("components[2].rubric", f"no rubric 'training/course-design' under {tmp_path}")
    ]


def test_check_rubric_dir_resolves_assessment_refs(tmp_path: Path) -> None:
    (tmp_path / "training").mkdir()
    (tmp_path / "training" / "course-design.yaml").write_text(PANEL, "utf-8")
    (tmp_path / "training" / "assessment.yaml").write_text(ASSESSMENT, "utf-8")
    rubrics, errors = check_rubric_dir(tmp_path)
    assert errors == [] and sorted(rubrics) == ["training/assessment", "training/course-design"]


def test_check_rubric_dir_on_missing_dir(tmp_path: Path) -> None:
    rubrics, errors = check_rubric_dir(tmp_path / "absent")
    assert rubrics == {} and errors[0].errors == [("<file>", "not a directory")]


# --------------------------------------------------------------------------- objects


@pytest.fixture(scope="module")
def panel() -> Rubric:
    return load_rubric_text(PANEL)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: setattr(r, "id", "x"),
        lambda r: setattr(r, "version", 2),
        lambda r: setattr(r.criteria[0], "max", Decimal(30)),
        lambda r: setattr(r.aggregation, "method", "mean"),
        lambda r: setattr(r.title, "zh", "改"),
        lambda r: r.criteria.append(r.criteria[0]),
        lambda r: r.tie_breaks.__setitem__(0, r.tie_breaks[1]),
    ],
    ids=["id", "version", "criterion-max", "aggregation-method", "title", "append-criterion", "replace-tie-break"],
)
def test_rubric_objects_are_frozen(panel: Rubric, mutate) -> None:
    with pytest.raises((ValidationError, TypeError, AttributeError)):
        mutate(panel)
    assert load_rubric_text(PANEL) == panel


def test_rubric_is_hashable(panel: Rubric) -> None:
    assert {panel: 1}[load_rubric_text(PANEL)] == 1


def test_helpers(panel: Rubric) -> None:
    assert panel.criterion_ids == ("kexuexing", "biaoda")
    assert panel.max_total == 35
    assert panel.find_criterion("biaoda").max == 10
    assert panel.find_criterion("nope") is None
    assert panel.entry_inputs == ("duration_seconds",)
    assert panel.find_criterion("kexuexing").band_for(Decimal("19.5")).text.zh == "有错误"
    assert panel.title.get("en") == "Test sheet" and panel.awards.tiers[0].name.get("en") == "一等奖"


def test_weighted_max_total() -> None:
    text = PANEL.replace("full_marks: 35", "full_marks: 45").replace("    max: 10\n", "    max: 10\n    weight: 2\n")
    assert load_rubric_text(text).max_total == 45


@pytest.mark.parametrize(
    "seconds, points",
    [(0, 0), (299, 0), (300, 0), (301, 1), (330, 1), (331, 2), (360, 2), (361, 3), (450, 5), (1000, 5)],
)
def test_overtime_costs_a_point_per_started_30_seconds_capped(seconds: int, points: int) -> None:
    rule = Overtime(limit_seconds=300, per_started_seconds=30, points=1, cap=5)
    assert rule.deduction(seconds) == points


@pytest.mark.parametrize(
    "mode, value, expected",
    [
        ("half_up", "7.125", "7.13"),  # ISU 8-judge panel, published as 7.13
        ("half_up", "8.375", "8.38"),
        ("half_up", "6.644999", "6.64"),
        ("half_even", "7.125", "7.12"),
        ("down", "7.129", "7.12"),
    ],
)
def test_rounding_modes(mode: str, value: str, expected: str) -> None:
    rule = Rounding(decimals=2, mode=mode, at=("panel_score",))
    assert str(rule.apply(Decimal(value))) == expected


# --------------------------------------------------------------------------- purity


def test_importing_scoring_loads_no_web_stack() -> None:
    code = (
        "import sys, scoring, scoring.rubric; "
        "bad = [m for m in ('flask', 'flask_sqlalchemy', 'sqlalchemy', 'weasyprint') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_validating_a_dict_directly_raises_a_rubric_error() -> None:
    import yaml

    data = yaml.safe_load(PANEL.replace("  - criterion: kexuexing", "  - criterion: kexue"))
    with pytest.raises(RubricError) as info:
        Rubric.model_validate(data)
    assert info.value.errors == [("tie_breaks[1].criterion", "unknown criterion 'kexue' (criteria: kexuexing, biaoda)")]
