"""`python -m scoring`: what an organiser sees on the command line (DESIGN.md contract 3).

Good files give a ranking CSV; every bad file gives a non-zero exit and a message naming the
file and the line, so it can be fixed in Excel without guessing.
"""
from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from scoring.cli import main

ROOT = Path(__file__).resolve().parents[2]
ISU = str(ROOT / "rubrics/examples/isu-components.yaml")
DIVING = str(ROOT / "rubrics/examples/diving-7.yaml")
EXHIBIT = str(ROOT / "rubrics/docent/exhibit-guiding.yaml")
EXPERIMENT = str(ROOT / "rubrics/docent/experiment.yaml")
REVIEW = str(ROOT / "rubrics/examples/review-100.yaml")


def write(tmp_path: Path, text: str, name: str = "scores.csv", encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def long_csv(marks: dict[str, list], extra: str = "", extra_values: dict[str, str] | None = None) -> str:
    """entry,judge,criterion,score rows for single-criterion rubrics (judges J1, J2, ...)."""
    lines = ["entry,judge,criterion,score" + (f",{extra}" if extra else "")]
    for entry, values in marks.items():
        for i, v in enumerate(values, start=1):
            lines.append(f"{entry},J{i},total,{v}" + (f",{extra_values[entry]}" if extra else ""))
    return "\n".join(lines) + "\n"


def ranking(capsys) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))


ISU_MARKS = {  # trimmed means 7.13 (7.125, the 8-judge aspect), 7.50, 7.50, 6.00
    "A": [6.75, 6.75, 7.0, 7.25, 7.25, 7.5, 7.0, 7.5],
    "B": [7.5] * 9,
    "C": [7.25, 7.75, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5],
    "D": [6, 6, 6, 6, 6],
}


# --------------------------------------------------------------------------- rank


def test_rank_writes_rank_entry_score_with_shared_ranks(tmp_path, capsys) -> None:
    assert main(["rank", write(tmp_path, long_csv(ISU_MARKS)), "--rubric", ISU]) == 0
    rows = ranking(capsys)
    assert [(r["rank"], r["entry"], r["score"]) for r in rows] == [("1", "B", "7.50"), ("1", "C", "7.50"), ("3", "A", "7.13"), ("4", "D", "6.00")]
    assert rows[0]["method"] == "trimmed_mean" and rows[0]["n_judges"] == "9" and rows[2]["n_judges"] == "8"
    assert rows[2]["dropped"] == "J6:7.5:high;J1:6.75:low" or rows[2]["dropped"].count(":") == 4
    assert list(rows[0])[:3] == ["rank", "entry", "score"]


def test_rank_out_writes_a_file_and_a_summary_on_stderr(tmp_path, capsys) -> None:
    out = tmp_path / "out.csv"
    assert main(["rank", write(tmp_path, long_csv(ISU_MARKS)), "--rubric", ISU, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "ranked 4 of 4 entries by trimmed_mean" in captured.err
    assert out.read_text(encoding="utf-8").startswith("rank,entry,score,status")


def test_dives_keep_two_decimals_and_unranked_entries_come_last(tmp_path, capsys) -> None:
    marks = {"D1": [9.5, 9.5, 9, 9, 9, 9, 9], "D2": [8] * 7, "D3": [7] * 6}
    dd = {"D1": "3.4", "D2": "2.0", "D3": "2.0"}
    assert main(["rank", write(tmp_path, long_csv(marks, "difficulty", dd)), "--rubric", DIVING]) == 0
    rows = ranking(capsys)
    assert [(r["rank"], r["entry"], r["score"], r["status"]) for r in rows] == [
        ("1", "D1", "91.80", "ok"), ("2", "D2", "48.00", "ok"), ("", "D3", "", "incomplete"),
    ]
    assert rows[0]["multiplier"] == "3.4" and "6 份，少于评分表要求的 7 份" in rows[2]["reason"]


def test_entry_columns_penalties_flags_and_chief(tmp_path, capsys) -> None:
    criteria = ["kexuexing", "sheji_chuangxin", "yanshi_xiaoguo", "guifan_anquan", "jiangjie_hudong", "tuandui_chengxian", "shijian_kongzhi"]
    lines = ["entry,judge,criterion,score,duration_seconds,identity_disclosed,flags,chief"]
    for entry, duration, deduction in (("E1", "480", ""), ("E2", "545", "1"), ("E3", "400", "")):
        for j in range(1, 6):
            flags = "safety_breach" if entry == "E3" and j == 1 else ""
            chief = "是" if j == 1 else ""
            for c in criteria:
                lines.append(f"{entry},J{j},{c},{4 if c != 'kexuexing' else 20},{duration},{deduction},{flags},{chief}")
    assert main(["rank", write(tmp_path, "\n".join(lines) + "\n"), "--rubric", EXPERIMENT]) == 0
    rows = {r["entry"]: r for r in ranking(capsys)}
    assert rows["E1"]["score"] == "44.00" and rows["E1"]["rank"] == "1"
    assert rows["E2"]["score"] == "39.00" and rows["E2"]["penalties"] == "overtime:3;identity_disclosed:2"
    assert rows["E3"]["status"] == "disqualified" and rows["E3"]["rank"] == ""


def test_entry_flags_decide_for_the_entry_without_a_judges_sheet(tmp_path, capsys) -> None:
    """`entry_flags` (the web app's chief record, as `flask export-scores` writes it): the flag
    disqualifies E2 though no judge's row carries it; blank cells on other rows are fine."""
    lines = ["entry,judge,criterion,score,entry_flags"]
    for entry, total in (("E1", "40"), ("E2", "45")):
        for j in range(1, 6):
            mark = "safety_breach" if entry == "E2" and j in (1, 3) else ""
            lines.append(f"{entry},J{j},total,{total},{mark}")
    assert main(["rank", write(tmp_path, "\n".join(lines) + "\n"), "--rubric", EXPERIMENT]) == 0
    rows = {r["entry"]: r for r in ranking(capsys)}
    assert (rows["E1"]["rank"], rows["E1"]["score"]) == ("1", "40.00")
    assert (rows["E2"]["status"], rows["E2"]["rank"]) == ("disqualified", "")


def test_rank_by_the_calibrated_model_and_with_promotion(tmp_path, capsys) -> None:
    text = "entry,judge,criterion,score\n" + "".join(
        f"{e},{j},total,{v}\n" for e, marks in {
            "E1": {"A": 90, "B": 88}, "E2": {"B": 80, "C": 70}, "E3": {"C": 65, "D": 78},
            "E4": {"D": 85, "A": 86}, "E5": {"A": 70, "C": 58}, "E6": {"B": 75, "D": 77},
        }.items() for j, v in marks.items()
    )
    entries = write(tmp_path, "entry,category\n" + "".join(f"E{i},展品辅导\n" for i in range(1, 7)), "entries.csv")
    video = str(ROOT / "rubrics/docent/preliminary-video.yaml")
    assert main(["rank", write(tmp_path, text), "--rubric", REVIEW]) == 0
    rows = ranking(capsys)
    assert {r["method"] for r in rows} == {"calibrated"} and len({r["rank"] for r in rows}) == 6
    assert main(["rank", write(tmp_path, text), "--rubric", REVIEW, "--method", "mean"]) == 0
    assert {r["method"] for r in ranking(capsys)} == {"mean"}
    # preliminary-video has several criteria (keyed in here as totals) and needs 3 reviewers
    reviewers = {i: [("ABCD" * 2)[i % 4 + k] for k in range(3)] for i in range(1, 7)}  # 3 of 4, rotating
    three = "entry,judge,criterion,score\n" + "".join(
        f"E{i},{j},total,{60 + 5 * i + k}\n" for i, judges in reviewers.items() for k, j in enumerate(judges)
    )
    assert main(["rank", write(tmp_path, three), "--rubric", video, "--entries", entries]) == 0
    promotions = [r["promotion"] for r in ranking(capsys)]
    assert promotions == ["promoted"] * 4 + ["reserve 1", "reserve 2"]  # 6 × 0.66 → 4, 2 reserves


def test_excel_files_in_gbk_or_with_a_bom_are_read(tmp_path, capsys) -> None:
    text = long_csv({"甲": [7.5] * 5, "乙": [7] * 5})
    for encoding in ("gb18030", "utf-8-sig"):
        assert main(["rank", write(tmp_path, text, encoding=encoding), "--rubric", ISU]) == 0
        assert [r["entry"] for r in ranking(capsys)] == ["甲", "乙"]


# --------------------------------------------------------------------------- bad input

BAD = [
    # (file text, rubric, line, message fragment)
    ("", ISU, 1, "the file is empty"),
    ("\n\n", ISU, 1, "the file is empty"),
    ("entry,judge,score\nA,J1,7\n", ISU, 1, "missing column(s) criterion"),
    ("entry,judge,criterion,score\n", ISU, 2, "no scores"),
    ("entry,judge,criterion,score\nA,J1,total,7\nA,J2,total,abc\n", ISU, 3, "score 'abc' is not a number"),
    ("entry,judge,criterion,score\nA,J1,total,7\nA,J2,total,\n", ISU, 3, "score is empty"),
    ("entry,judge,criterion,score\nA,J1,total,7\nB,J1,total,7\nA,J1,total,7.5\n", ISU, 4, "judge J1 scored criterion total of entry A twice (first on line 2)"),
    ("entry,judge,criterion,score\nA,J1,kexue,7\n", ISU, 2, "unknown criterion 'kexue'"),
    ("entry,judge,criterion,score\nA,J1,total,7.1\n", ISU, 2, "须以 0.25 分为单位"),
    ("entry,judge,criterion,score\nA,J1,total,11\n", ISU, 2, "应在 0.25 至 10 之间"),
    ("entry,judge,criterion,score\nA,J1,total\n", ISU, 2, "3 fields, but the header has 4"),
    ("entry,judge,criterion,score\n,J1,total,7\n", ISU, 2, "entry is empty"),
    ("entry,judge,criterion,score,dificulty\nA,J1,total,7,2\n", DIVING, 1, "unknown column 'dificulty'"),
    ("entry,judge,criterion,score,difficulty\nA,J1,total,7,2.0\nA,J2,total,7,2.5\n", DIVING, 3, "difficulty of entry A is 2.5, but line 2 says 2.0"),
    ("entry,judge,criterion,score,difficulty\nA,J1,total,7,9.9\n", DIVING, 2, "inputs.difficulty"),
    ("entry,judge,criterion,score\nA,J1,kexuexing,20\n", EXHIBIT, 2, "缺少评分项「内容组织」的分数"),
    ("entry,judge,criterion,score\nA,J1,total,80\nA,J1,kexuexing,20\n", EXHIBIT, 2, "give either criterion scores or a total"),
    ("entry,judge,criterion,score,flags\nA,J1,total,7,fire\n", ISU, 2, "flags.fire"),
    ("entry,judge,criterion,score,chief\nA,J1,total,7,maybe\n", ISU, 2, "chief 'maybe' is not yes or no"),
    ("entry,judge,criterion,score,entry_flags\nA,J1,total,80,safety_breach\nA,J2,total,80,\nA,J3,total,80,x\n",
     EXPERIMENT, 4, "entry_flags of entry A is x, but line 2 says safety_breach"),
]


@pytest.mark.parametrize("text, rubric, line, message", BAD)
def test_bad_csv_names_the_line(tmp_path, capsys, text, rubric, line, message) -> None:
    path = write(tmp_path, text)
    assert main(["rank", path, "--rubric", rubric]) == 1
    err = capsys.readouterr().err
    assert f"{path}: line {line}: " in err and message in err, err


def test_many_problems_are_reported_at_once(tmp_path, capsys) -> None:
    path = write(tmp_path, "entry,judge,criterion,score\nA,J1,total,x\nA,J2,total,7.1\nA,J2,total,7\nB,J1,nope,7\n")
    assert main(["rank", path, "--rubric", ISU]) == 1
    err = capsys.readouterr().err.splitlines()
    assert [e.split(": ")[1] for e in err] == ["line 2", "line 3", "line 4", "line 5"]


def test_a_missing_file_or_a_bad_rubric_exits_1(tmp_path, capsys) -> None:
    assert main(["rank", str(tmp_path / "none.csv"), "--rubric", ISU]) == 1
    assert "none.csv: cannot read the file" in capsys.readouterr().err
    scores = write(tmp_path, long_csv({"A": [7] * 5}))
    assert main(["rank", scores, "--rubric", str(tmp_path / "none.yaml")]) == 1
    assert "none.yaml: <file>: file not found" in capsys.readouterr().err
    checklist = str(ROOT / "rubrics/resources/format-check.yaml")
    assert main(["rank", scores, "--rubric", checklist]) == 1
    assert "is a checklist: it has no scores to rank" in capsys.readouterr().err


def test_promotion_groups_must_cover_every_entry(tmp_path, capsys) -> None:
    scores = write(tmp_path, "entry,judge,criterion,score\n" + "".join(f"{e},J{j},total,80\n" for e in "AB" for j in range(1, 4)))
    entries = write(tmp_path, "entry,category\nA,展品辅导\n", "entries.csv")
    video = str(ROOT / "rubrics/docent/preliminary-video.yaml")
    assert main(["rank", scores, "--rubric", video, "--entries", entries]) == 1
    assert "entry 'B' has no group attributes" in capsys.readouterr().err


# --------------------------------------------------------------------------- report, check, assign


def test_report_prints_reliability_and_judge_flags(tmp_path, capsys) -> None:
    marks = {f"E{i}": [5 + i * 0.5 + (j % 3) * 0.25 for j in range(5)] for i in range(8)}
    groups = write(tmp_path, "kind,id,group\n" + "".join(f"entry,E{i},{'甲乙'[i % 2]}\n" for i in range(8))
                   + "".join(f"judge,J{j},{'甲乙'[j % 2]}\n" for j in range(1, 6)), "groups.csv")
    assert main(["report", write(tmp_path, long_csv(marks)), "--rubric", ISU, "--groups", groups]) == 0
    out = capsys.readouterr().out
    assert "Reliability" in out and "ICC" in out and "E" not in out.splitlines()[0]


def test_report_groups_file_is_checked(tmp_path, capsys) -> None:
    groups = write(tmp_path, "kind,id,group\nunit,U1,甲\n", "groups.csv")
    assert main(["report", write(tmp_path, long_csv({"A": [7] * 5})), "--rubric", ISU, "--groups", groups]) == 1
    assert "groups.csv: line 2: kind 'unit' must be entry or judge" in capsys.readouterr().err


def test_check_validates_rubric_files_and_folders(tmp_path, capsys) -> None:
    assert main(["check", ISU, str(ROOT / "rubrics")]) == 0
    assert f"{ISU}: ok (example-isu-components v1, panel)" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nversion: 1\nkind: panel\ntitle: {zh: 坏}\ncriteria: []\naggregation: {method: mean}\n", encoding="utf-8")
    assert main(["check", str(bad)]) == 1
    assert f"{bad}: criteria: required for kind panel" in capsys.readouterr().err


def test_assign_is_wired_and_reports_missing_files(capsys) -> None:
    assert main(["assign", "--judges", "no-such-J.csv", "--entries", "no-such-E.csv", "--per-entry", "3",
                 "--out", "-"]) != 0
    assert "no-such-J.csv" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys) -> None:
    assert main([]) == 2
    with pytest.raises(SystemExit) as info:
        main(["rank", "x.csv"])  # --rubric is required
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["rank", "x.csv", "--rubric", ISU, "--method", "best"])
    capsys.readouterr()


def test_help_documents_the_csv_format(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["rank", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("entry,judge,criterion,score", "difficulty", "duration_seconds", "chief", "rank 1 is best", "calibrated"):
        assert word in out


def test_python_m_scoring_runs(tmp_path) -> None:
    scores = write(tmp_path, long_csv(ISU_MARKS))
    run = subprocess.run([sys.executable, "-m", "scoring", "rank", scores, "--rubric", ISU],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[1].startswith("1,B,7.50,ok")


def test_the_command_line_loads_no_web_stack() -> None:
    code = (
        "import sys, scoring.cli, scoring.csvio, scoring.ranking, scoring.aggregate, scoring.sheets; "
        "bad = [m for m in ('flask', 'flask_sqlalchemy', 'sqlalchemy', 'weasyprint') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
