"""`python -m scoring`: the scoring engine on CSV files, offline (DESIGN.md contract 3).

Each subcommand is one `register_*` function that adds its parser and sets `func`, a handler
`func(args) -> int` (the exit status). To add a subcommand, write `register(subparsers)` in its
own module and list it in `SUBCOMMANDS` (scoring/assign_cli.py follows the same convention).

Exit status: 0 done; 1 bad input (a CSV line, a rubric file) or nothing could be ranked;
2 usage errors and subcommands not implemented yet.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from scoring import assign_cli
from scoring.csvio import CsvError, read_entry_groups, read_report_groups, read_scores, write_ranking
from scoring.ranking import METHODS, rank_stage
from scoring.rubric import RubricError, check_rubric_dir, load_rubric

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

RANK_HELP = """\
SCORES.csv is long format, one row per judge x entry x criterion (UTF-8 or GBK; Excel's BOM
is fine). Header, in any order:

  entry,judge,criterion,score          required
  criterion                            a criterion id of the rubric, or `total`: the only
                                       criterion of a single-criterion rubric, or a judge's whole
                                       total on a multi-criterion rubric (veto and criterion
                                       tie-breaks then cannot be checked)
  difficulty  (or input:difficulty)    an entry figure the rubric needs: its multiplier input
                                       (diving: degree of difficulty), duration_seconds (the
                                       overtime penalty is computed from it), computed-criterion
                                       data. One value per entry; blank cells are allowed,
                                       disagreeing values are refused
  <deduction id> (or deduction:<id>)   how many times that deduction applies to the entry
  flags                                flag ids this judge marked (; separated)
  chief                                1 / yes / 是 on the chief judge's rows: their flags are
                                       decided for the entry (flags decided_by chief)
  entry_flags                          flag ids decided for the whole entry (; separated; one
                                       value per entry, blank cells allowed): the web app's chief
                                       record, which is on no judge's sheet (`flask export-scores`)
  comment                              ignored

A judge who did not score an entry simply has no rows (absent, never zero).

Output columns: rank,entry,score,status,award,award_name,honours,promotion,method,n_judges,
kept,dropped,panel_score,multiplier,penalties,raw_sum,raw_mean,decided_by,reason,notes.
rank 1 is best; ties share a rank (1,2,2,4); entries that are incomplete, disqualified or
vetoed have no rank and come last. score is the final score as the rubric computes it (its
rounding and places: a dive of 91.80 stays 91.80). method is the method that produced each
score; a calibrated ranking that had to fall back says why on stderr and in notes.

Methods: rubric (default: the rubric's own rule; a calibrated rubric is ranked by the model),
mean, trimmed (the rubric's trimmed rule, else drop 1 highest + 1 lowest from 5 judges),
zscore (per-judge standard scores on the raw scale), calibrated (entry quality + judge bias).

--entries E.csv (header entry plus any of division,province,category,unit) adds the rubric's
promotion (e.g. top 2 per division and category, with reserves).

Bad input exits 1 with `SCORES.csv: line N: reason` for each problem.
"""

REPORT_HELP = """\
Prints reliability (ICC, Krippendorff's alpha, Kendall's W as the design allows) and judge
flags for the judges' totals in SCORES.csv (same format as `rank`).

--groups G.csv has the header kind,id,group with kind `entry` or `judge` and group a province
or division; with it the report tests each judge for preference toward their own group.
"""


# --------------------------------------------------------------------------- rank


def register_rank(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "rank", help="rank long-format scores by a rubric", description="Rank entries from long-format scores.",
        epilog=RANK_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scores", metavar="SCORES.csv")
    p.add_argument("--rubric", required=True, metavar="RUBRIC.yaml")
    p.add_argument("--method", choices=METHODS, default="rubric", help="ranking method (default: rubric)")
    p.add_argument("--out", metavar="OUT.csv", help="write the ranking here (default: stdout)")
    p.add_argument("--entries", metavar="E.csv", help="entry attributes for promotion (entry,division,category,...)")
    p.set_defaults(func=run_rank)
    return p


def run_rank(args: argparse.Namespace) -> int:
    rubric = load_rubric(args.rubric)
    scores = read_scores(args.scores, rubric)
    groups = read_entry_groups(args.entries) if args.entries else None
    try:
        stage = rank_stage(rubric, scores.sheets, method=args.method, inputs=scores.inputs,
                           penalties=scores.penalties, flags=scores.flags, groups=groups)
    except ValueError as exc:
        print(f"{args.entries or args.scores}: {exc}", file=sys.stderr)
        return 1
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as out:
            write_ranking(stage, out)
    else:
        write_ranking(stage, sys.stdout)
    _summary(stage)
    return 0


def _summary(stage) -> None:
    ranked = sum(1 for x in stage.ranked if x.rank is not None)
    line = f"ranked {ranked} of {len(stage.ranked)} entries by {stage.method_used}"
    if stage.method_reason:
        line += f" ({stage.method_reason})"
    print(line, file=sys.stderr)


# --------------------------------------------------------------------------- report


def register_report(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report", help="reliability and judge flags for long-format scores",
        description="Print reliability and judge-monitoring flags.",
        epilog=REPORT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scores", metavar="SCORES.csv")
    p.add_argument("--rubric", required=True, metavar="RUBRIC.yaml")
    p.add_argument("--groups", metavar="G.csv", help="kind,id,group: province or division of entries and judges")
    p.set_defaults(func=run_report)
    return p


def run_report(args: argparse.Namespace) -> int:
    from scoring.report import render  # numpy/scipy-heavy: loaded only for this command
    from scoring.table import ScoreMatrix

    rubric = load_rubric(args.rubric)
    scores = read_scores(args.scores, rubric)
    entry_groups, judge_groups = read_report_groups(args.groups) if args.groups else (None, None)
    matrix = ScoreMatrix.from_triples(
        (entry, judge, float(sheet.total)) for entry, sheets in scores.sheets.items() for judge, sheet in sheets.items()
    )
    sys.stdout.write(render(matrix, entry_groups, judge_groups))
    return 0


# --------------------------------------------------------------------------- check


def register_check(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "check", help="validate rubric files", description="Validate rubric YAML files (or every file under a folder).",
    )
    p.add_argument("rubrics", nargs="+", metavar="RUBRIC.yaml")
    p.set_defaults(func=run_check)
    return p


def run_check(args: argparse.Namespace) -> int:
    failed = False
    for name in args.rubrics:
        if Path(name).is_dir():
            valid, errors = check_rubric_dir(name)
            for ref, rubric in sorted(valid.items()):
                print(f"{Path(name) / ref}.yaml: ok ({rubric.id} v{rubric.version}, {rubric.kind})")
        else:
            try:
                rubric = load_rubric(name)
                print(f"{name}: ok ({rubric.id} v{rubric.version}, {rubric.kind})")
                errors = []
            except RubricError as exc:
                errors = [exc]
        for exc in errors:
            print(exc, file=sys.stderr)
        failed |= bool(errors)
    return 1 if failed else 0


# --------------------------------------------------------------------------- main

SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], argparse.ArgumentParser], ...] = (
    register_rank,
    register_report,
    register_check,
    assign_cli.register,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scoring",
        description="Scoring engine on CSV files: rank entries, report on judges, check rubrics, assign reviewers.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in SUBCOMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the exit status (bad input: 1, with file and line)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except (CsvError, RubricError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except BrokenPipeError:  # `... | head`: the reader has gone, which is not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
