"""`python -m scoring assign` (Contract 4): CSV in, `judge,entry` out, failures named."""
import argparse
import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from scoring import assign_cli

ROOT = Path(__file__).resolve().parents[2]
CATS = ["展品辅导", "科学实验", "科普短剧", "科学课程"]


def write(path: Path, text: str, bom=False) -> str:
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return str(path)


def judges_csv(n=12, extra_cols=True):
    head = "judge,unit,province" + (",expertise,teacher" if extra_cols else "")
    rows = []
    for i in range(n):
        row = f"J{i:02d},单位{i % 5},省{i % 4}"
        if extra_cols:
            row += f",{CATS[i % 4]};{CATS[(i + 1) % 4]},{'是' if i % 6 == 0 else '否'}"
        rows.append(row)
    return "\n".join([head, *rows]) + "\n"


def entries_csv(n=20):
    rows = [f"E{k:03d},单位{k % 7},省{k % 6},{CATS[k % 4]}" for k in range(n)]
    return "\n".join(["entry,unit,province,category", *rows]) + "\n"


@pytest.fixture
def files(tmp_path):
    return {
        "judges": write(tmp_path / "J.csv", judges_csv(), bom=True),
        "entries": write(tmp_path / "E.csv", entries_csv()),
        "out": str(tmp_path / "A.csv"),
    }


def run(files, *extra):
    argv = ["--judges", files["judges"], "--entries", files["entries"], "--out", files["out"], *extra]
    return assign_cli.main(argv)


def read_out(path):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["judge", "entry"]
    return [tuple(r) for r in rows[1:]]


def lookup(text):
    rows = list(csv.DictReader(text.splitlines()))
    key = "judge" if "judge" in rows[0] else "entry"
    return {r[key]: r for r in rows}


def test_assigns_every_entry_its_reviewers_avoiding_unit_and_province(files, capsys):
    assert run(files, "--per-entry", "3", "--avoid", "unit,province", "--seed", "5") == 0
    pairs = read_out(files["out"])
    judges, entries = lookup(judges_csv()), lookup(entries_csv())
    assert Counter(e for _, e in pairs) == {e: 3 for e in entries}
    for j, e in pairs:
        assert judges[j]["unit"] != entries[e]["unit"]
        assert judges[j]["province"] != entries[e]["province"]
    loads = Counter(j for j, _ in pairs)
    assert max(loads.values()) - min(loads.values()) <= 1
    assert "20 件作品 × 3 名评委 = 60 次评审" in capsys.readouterr().err


def test_same_unit_is_avoided_even_when_not_listed_and_province_only_when_asked(files):
    assert run(files, "--per-entry", "4") == 0
    pairs = read_out(files["out"])
    judges, entries = lookup(judges_csv()), lookup(entries_csv())
    assert all(judges[j]["unit"] != entries[e]["unit"] for j, e in pairs)
    assert any(judges[j]["province"] == entries[e]["province"] for j, e in pairs)


def test_same_seed_same_file(files, tmp_path):
    assert run(files, "--per-entry", "3", "--seed", "9") == 0
    first = Path(files["out"]).read_bytes()
    assert run(files, "--per-entry", "3", "--seed", "9") == 0
    assert Path(files["out"]).read_bytes() == first


def test_load_bounds_and_declared_conflicts(files, tmp_path):
    files["conflicts"] = write(tmp_path / "C.csv", "judge,entry,kind,note\nJ00,E001,relative,兄弟\nJ01,E002,,\n")
    assert run(files, "--per-entry", "3", "--min-load", "4", "--max-load", "6", "--conflicts", files["conflicts"]) == 0
    pairs = read_out(files["out"])
    assert ("J00", "E001") not in pairs and ("J01", "E002") not in pairs
    loads = Counter(j for j, _ in pairs)
    assert all(4 <= n <= 6 for n in loads.values()) and len(loads) == 12


def test_minimal_columns_are_enough(tmp_path):
    files = {"judges": write(tmp_path / "J.csv", judges_csv(extra_cols=False)),
             "entries": write(tmp_path / "E.csv", "entry,unit,province\nE1,单位9,省9\nE2,单位8,省8\n"),
             "out": str(tmp_path / "A.csv")}
    assert run(files, "--per-entry", "2") == 0
    assert len(read_out(files["out"])) == 4


def test_infeasible_instance_exits_non_zero_and_names_the_entry(tmp_path, capsys):
    files = {"judges": write(tmp_path / "J.csv", "judge,unit,province\nJ1,贵州省科技馆,贵州\nJ2,贵州省科技馆,贵州\n"
                                                   "J3,云南省科技馆,云南\nJ4,四川科技馆,贵州\n"),
             "entries": write(tmp_path / "E.csv", "entry,unit,province\nE0123,贵州省科技馆,贵州\nE0200,湖南省科技馆,湖南\n"),
             "out": str(tmp_path / "A.csv")}
    assert run(files, "--per-entry", "2", "--avoid", "province", "--min-load", "0") == 3
    err = capsys.readouterr().err
    assert "E0123" in err
    assert "E0123: 只有 1 名评委可评（需要 2 名）：共 4 名评委，2 名同单位，1 名同省" in err
    assert "E0200" not in err.split("\n")[0]
    assert not Path(files["out"]).exists()


def test_capacity_infeasible_is_explained(files, capsys):
    assert run(files, "--per-entry", "3", "--max-load", "2") == 3
    assert "最多承担" in capsys.readouterr().err


@pytest.mark.parametrize("which,text,words", [
    ("judges", "judge,unit\nJ1,U1\n", "J.csv: line 1: missing column(s) province"),
    ("judges", "judge,unit,province\nJ1,U1,P1\nJ1,U2,P2\n", "J.csv: line 3: judge J1 already on line 2"),
    ("judges", "judge,unit,province\nJ1,U1,P1\n,U2,P2\n", "J.csv: line 3: empty judge id"),
    ("judges", "judge,unit,province,teacher\nJ1,U1,P1,maybe\n", "J.csv: line 2: teacher must be"),
    ("judges", "judge,unit,province\nJ1,U1,P1,extra\n", "J.csv: line 2: 4 fields, the header has 3"),
    ("judges", "", "J.csv: line 1: empty file"),
    ("entries", "entry,unit,province\nE1,U1,P1\nE1,U1,P1\n", "E.csv: line 3: entry E1 already on line 2"),
    ("entries", "entry,province\nE1,P1\n", "E.csv: line 1: missing column(s) unit"),
    ("conflicts", "judge,entry\nJ00,E999\n", "C.csv: line 2: entry 'E999' is not in"),
    ("conflicts", "judge,entry\nJ00,E001\nJX,E001\n", "C.csv: line 3: judge 'JX' is not in"),
    ("conflicts", "judge,entry,kind\nJ00,E001,friend\n", "C.csv: line 2: kind must be one of"),
])
def test_bad_csv_exits_non_zero_naming_the_line(files, tmp_path, capsys, which, text, words):
    name = {"judges": "J.csv", "entries": "E.csv", "conflicts": "C.csv"}[which]
    files[which] = write(tmp_path / name, text)
    extra = ["--conflicts", files["conflicts"]] if which == "conflicts" else []
    assert run(files, "--per-entry", "2", *extra) == 1
    assert words in capsys.readouterr().err


def test_every_problem_in_a_file_is_reported_at_once(files, tmp_path, capsys):
    files["judges"] = write(tmp_path / "J.csv", "judge,unit,province,teacher\nJ1,U,P,1\nJ1,U,P,0\nJ2,U,P,?\n")
    assert run(files, "--per-entry", "2") == 1
    err = capsys.readouterr().err
    assert "J.csv: line 3: judge J1 already on line 2" in err
    assert "J.csv: line 4: teacher must be" in err


def test_missing_file_and_unreadable_text_are_named(files, tmp_path, capsys):
    files["entries"] = str(tmp_path / "nope.csv")
    assert run(files, "--per-entry", "2") == 1
    assert "nope.csv: entries file not found" in capsys.readouterr().err
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"entry,unit,province\nE1,\xff\xfe,\x80\n")
    files["entries"] = str(junk)
    assert run(files, "--per-entry", "2") == 1
    assert "not UTF-8 or GBK" in capsys.readouterr().err


def test_gbk_files_from_excel_are_read(files, tmp_path):
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("entry,unit,province,category\nE1,贵州省科技馆,贵州,展品辅导\nE2,单位0,省0,科学实验\n".encode("gbk"))
    files["entries"] = str(gbk)
    assert run(files, "--per-entry", "2") == 0
    pairs = read_out(files["out"])
    assert {e for _, e in pairs} == {"E1", "E2"}
    judges = lookup(judges_csv())
    assert all(judges[j]["unit"] != "单位0" for j, e in pairs if e == "E2")


@pytest.mark.parametrize("args", [["--per-entry", "0"], ["--per-entry", "x"], ["--per-entry", "2", "--avoid", "city"],
                                  ["--per-entry", "2", "--min-load", "-1"], []])
def test_bad_arguments_exit_2(files, capsys, args):
    assert run(files, *args) == 2


def test_register_adds_the_assign_subcommand(files):
    parser = argparse.ArgumentParser(prog="python -m scoring")
    sub = parser.add_subparsers(dest="command", required=True)
    assign_cli.register(sub)
    args = parser.parse_args(["assign", "--judges", files["judges"], "--entries", files["entries"],
                              "--per-entry", "2", "--out", files["out"]])
    assert args.func(args) == 0
    assert len(read_out(files["out"])) == 40


def test_runs_as_a_module_and_writes_to_stdout(files):
    out = subprocess.run([sys.executable, "-m", "scoring.assign_cli", "--judges", files["judges"],
                          "--entries", files["entries"], "--per-entry", "2", "--out", "-"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "judge,entry"
    assert len(out.stdout.splitlines()) == 41
