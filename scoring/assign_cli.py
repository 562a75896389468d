"""`python -m scoring assign`: reviewers for an incomplete design, from CSV files (Contract 4).

    python -m scoring assign --judges J.csv --entries E.csv --per-entry R
        [--min-load A] [--max-load B] [--avoid unit,province] [--conflicts C.csv]
        [--seed S] --out A.csv

J.csv  ``judge,unit,province`` and optionally ``expertise`` (categories separated by ``;``,
       ``|`` or ``、``), ``division``, ``teacher`` (1/0, yes/no, 是/否; informational here).
E.csv  ``entry,unit,province`` and optionally ``category``, ``division``.
C.csv  ``judge,entry`` and optionally ``kind`` (relative, teacher_student, colleague, coach,
       other; default other) and ``note``: declared conflicts.
A.csv  ``judge,entry``, one row per review, in entry order (``-`` writes to stdout).

Same unit is always avoided; ``--avoid`` adds ``province`` and/or ``division`` (``unit`` may
be listed and changes nothing). Loads default to floor/ceil of the average. ``--seed``
(default 0) makes the plan reproducible. Files are UTF-8 (Excel's BOM is fine) or GBK, read
as scoring/csvio.py reads them (cells stripped, full-width characters folded).

Exit status (as the rest of `python -m scoring`): 0 written; 1 bad input (every problem in
the file, each with its line); 2 usage error; 3 infeasible (each entry that cannot be covered
is named, with why; nothing is written). `main(argv)` runs standalone;
`register(subparsers)` adds the ``assign`` subcommand to `python -m scoring` (its handler is
``args.func(args) -> int``).
"""
from __future__ import annotations

import argparse
import csv
import io
import re
import sys
import unicodedata
from pathlib import Path

from scoring.assignment import Infeasible, assign_reviews, verify
from scoring.conflicts import DECLARED_KINDS, ConflictIndex, ConflictRules, Entry, Judge

__all__ = ["main", "register", "run"]

AVOIDABLE = ("unit", "province", "division")
_TRUE = {"1", "true", "yes", "y", "t", "是", "√", "x"}
_FALSE = {"", "0", "false", "no", "n", "f", "否"}
_SPLIT = re.compile(r"[;|、,]+")


MAX_PROBLEMS = 50


class InputError(Exception):
    """Bad input: every problem found in one file, each naming the file and line."""

    def __init__(self, path: str, problems: list[tuple[int | None, str]]):
        self.path = path
        self.problems = problems[:MAX_PROBLEMS]
        super().__init__("\n".join(f"{path}: line {line}: {msg}" if line else f"{path}: {msg}"
                                   for line, msg in self.problems))


def _read(path: str, required: tuple[str, ...], what: str) -> list[tuple[int, dict]]:
    """Rows of a CSV file as (line number, {column: stripped cell}); UTF-8 (BOM or not) or GBK,
    full-width characters folded, blank lines skipped (as scoring/csvio.py reads files)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(path, [(None, f"{what} file not found")]) from None
    except OSError as exc:
        raise InputError(path, [(None, f"cannot read the {what} file: {exc.strerror or exc}")]) from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError(path, [(None, "not UTF-8 or GBK text; save it as CSV UTF-8")])
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    try:
        for fields in reader:
            cells = [unicodedata.normalize("NFKC", f).strip() for f in fields]
            if any(cells):
                rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise InputError(path, [(reader.line_num, str(exc))]) from None
    if not rows:
        raise InputError(path, [(1, f"empty file, expected header {','.join(required)}")])
    line, header = rows[0]
    header = [h.lower() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(path, [(line, f"missing column(s) {', '.join(missing)} (header is {','.join(header)})")])
    if len(set(header)) != len(header):
        raise InputError(path, [(line, "a column is named twice")])
    out, problems = [], []
    for line, cells in rows[1:]:
        if len(cells) != len(header):
            problems.append((line, f"{len(cells)} fields, the header has {len(header)}"))
            continue
        out.append((line, dict(zip(header, cells))))
    if problems:
        raise InputError(path, problems)
    return out


def _flag(value: str) -> bool | None:
    v = value.strip().lower()
    return True if v in _TRUE else False if v in _FALSE else None


def _load(args) -> tuple[list[Judge], list[Entry], list[tuple]]:
    judges: list[Judge] = []
    problems: list[tuple[int | None, str]] = []
    seen: dict[str, int] = {}
    for line, row in _read(args.judges, ("judge", "unit", "province"), "judges"):
        jid = row["judge"]
        teacher = _flag(row.get("teacher", ""))
        if not jid:
            problems.append((line, "empty judge id"))
        elif jid in seen:
            problems.append((line, f"judge {jid} already on line {seen[jid]}"))
        elif teacher is None:
            problems.append((line, f"teacher must be 1/0, yes/no or 是/否, not {row['teacher']!r}"))
        else:
            seen[jid] = line
            judges.append(Judge(
                id=jid, unit=row["unit"] or None, province=row["province"] or None,
                division=row.get("division") or None,
                expertise=frozenset(x.strip() for x in _SPLIT.split(row.get("expertise", "")) if x.strip()),
                is_school_teacher=teacher,
            ))
    if problems:
        raise InputError(args.judges, problems)
    if not judges:
        raise InputError(args.judges, [(None, "no judges")])

    entries: list[Entry] = []
    seen = {}
    for line, row in _read(args.entries, ("entry", "unit", "province"), "entries"):
        eid = row["entry"]
        if not eid:
            problems.append((line, "empty entry id"))
        elif eid in seen:
            problems.append((line, f"entry {eid} already on line {seen[eid]}"))
        else:
            seen[eid] = line
            entries.append(Entry(id=eid, unit=row["unit"] or None, province=row["province"] or None,
                                 division=row.get("division") or None, category=row.get("category") or None))
    if problems:
        raise InputError(args.entries, problems)
    if not entries:
        raise InputError(args.entries, [(None, "no entries")])

    declared: list[tuple] = []
    if args.conflicts:
        judge_ids = {j.id for j in judges}
        for line, row in _read(args.conflicts, ("judge", "entry"), "conflicts"):
            j, e = row["judge"], row["entry"]
            kind = row.get("kind") or "other"
            if j not in judge_ids:
                problems.append((line, f"judge {j!r} is not in {args.judges}"))
            elif e not in seen:
                problems.append((line, f"entry {e!r} is not in {args.entries}"))
            elif kind not in DECLARED_KINDS:
                problems.append((line, f"kind must be one of {', '.join(DECLARED_KINDS)}, not {kind!r}"))
            else:
                declared.append((j, e, kind, row.get("note", "")))
        if problems:
            raise InputError(args.conflicts, problems)
    return judges, entries, declared


def _avoid(value: str) -> frozenset:
    items = {v.strip().lower() for v in value.split(",") if v.strip()}
    bad = items - set(AVOIDABLE)
    if bad:
        raise argparse.ArgumentTypeError(f"--avoid takes {', '.join(AVOIDABLE)}, not {', '.join(sorted(bad))}")
    return frozenset(items)


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _nonnegative(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return n


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--judges", required=True, metavar="J.csv", help="judge,unit,province[,expertise,division,teacher]")
    p.add_argument("--entries", required=True, metavar="E.csv", help="entry,unit,province[,category,division]")
    p.add_argument("--per-entry", required=True, type=_positive, metavar="R", help="reviewers per entry")
    p.add_argument("--min-load", type=_nonnegative, metavar="A", help="least entries per judge (default floor of the average)")
    p.add_argument("--max-load", type=_nonnegative, metavar="B", help="most entries per judge (default ceiling of the average)")
    p.add_argument("--avoid", type=_avoid, default=frozenset(), metavar="unit,province",
                   help="also avoid the same province and/or division (same unit is always avoided)")
    p.add_argument("--conflicts", metavar="C.csv", help="declared conflicts judge,entry[,kind,note]")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="tie-break seed (default 0)")
    p.add_argument("--out", required=True, metavar="A.csv", help="output judge,entry ('-' for stdout)")


def run(args: argparse.Namespace) -> int:
    err = sys.stderr
    try:
        judges, entries, declared = _load(args)
    except InputError as exc:
        print(exc, file=err)
        return 1
    rules = ConflictRules(avoid_province="province" in args.avoid, avoid_division="division" in args.avoid)
    index = ConflictIndex.build(judges, entries, declared=declared, rules=rules)
    try:
        plan = assign_reviews(judges, entries, index, per_entry=args.per_entry, min_load=args.min_load,
                              max_load=args.max_load, seed=args.seed)
    except Infeasible as exc:
        names = exc.entries
        head = "error: infeasible"
        if names:
            head += (f": {len(names)} {'entry' if len(names) == 1 else 'entries'} cannot be covered"
                     f" ({', '.join(map(str, names))})")
        print(head, file=err)
        for r in exc.reasons:
            print(f"  {r.message}", file=err)
            print(f"    {r.message_en}", file=err)
        return 3
    problems = verify(plan, index)
    if problems:   # never expected: the solver and the checker disagree
        print("error: internal check failed:", *problems, sep="\n  ", file=err)
        return 4
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8", newline="")
    try:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["judge", "entry"])
        w.writerows(plan.pairs)
    finally:
        if out is not sys.stdout:
            out.close()
    s = plan.stats
    graph = "连通" if s["components"] == 1 else f"有 {s['components']} 个连通分量"
    print(f"{len(entries)} 件作品 × {args.per_entry} 名评委 = {len(plan.pairs)} 次评审；{len(judges)} 名评委，"
          f"工作量 {s['load_min']}–{s['load_max']}；专长匹配 {s['expertise']:.0f}；"
          f"评审关系图{graph}；种子 {plan.seed}", file=err)
    for w_ in plan.warnings:
        print(f"warning: {w_}", file=err)
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``assign`` to a `python -m scoring` subparsers object; the handler is `args.func`."""
    p = subparsers.add_parser("assign", help="assign reviewers to entries (incomplete designs)",
                              description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scoring assign", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:   # argparse has printed the usage error
        return int(exc.code or 0)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
