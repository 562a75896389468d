"""Speed of the scoring pipeline at 10,000 entries × 5 reviewers, against a plain numpy mean.

The data are a simulated national review (scoring/simulate.py) scaled up: 10,000 entries,
2,000 reviewers, 5 reviewers per entry, 50,000 marks on the 0-100 / 0.01 grid of
rubrics/examples/review-100.yaml (ranked by the calibrated model). Each step is timed as the
best of `--repeat` runs, and printed with its ratio to the baseline: the per-entry mean of the
same 50,000 values by np.bincount, which is the least any method must do.

Two pipelines are timed, because they answer different questions:

* array core: ScoreMatrix.from_triples (string labels, as a CSV gives them) → calibrate.fit →
  ranking by np.argsort of the calibrated quality → reliability.assess. The cost of the maths.
* product path: every mark validated (sheets.validate_total against the rubric, exact
  Decimals) → ranking.rank_stage (entry results, the calibrated model, tie-breaks, ranks;
  it builds its own matrix and fits the model itself) → reliability.assess. What
  `python -m scoring rank` and the web app do.

Modules of the other parts (sheets, ranking, reliability) are used when present; a step whose
module is missing or fails is reported as skipped, with the reason. Benchmarks print; tests
never time things.

Usage: .venv/bin/python bench/scoring_speed.py [--entries 10000] [--judges 2000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Small dense linear algebra is fastest single-threaded, and threaded OpenBLAS crawls on a busy
# machine; pass --threads 0 to leave the library default.
_threads = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--threads=")), "1")
if _threads != "0":
    os.environ["OPENBLAS_NUM_THREADS"] = _threads

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from scoring import calibrate  # noqa: E402
from scoring.simulate import national_review  # noqa: E402
from scoring.table import ScoreMatrix  # noqa: E402

BUDGET = 1.0   # seconds, issue 3 acceptance 8


def best_of(repeat: int, fn):
    """(best wall time, last result) over `repeat` runs."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def optional(name: str):
    try:
        return __import__(f"scoring.{name}", fromlist=[name])
    except Exception as exc:  # noqa: BLE001 - report any import failure as a skip
        print(f"  (scoring.{name} unavailable: {type(exc).__name__}: {exc})")
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--judges", type=int, default=2_000)
    ap.add_argument("--per-entry", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", default="1", help="OPENBLAS_NUM_THREADS (0: library default)")
    args = ap.parse_args()

    sim = national_review(args.seed, args.entries, args.judges, args.per_entry)
    m = sim.matrix
    triples = [(m.entry_labels[e], m.judge_labels[j], float(v))
               for e, j, v in zip(m.entry_idx.tolist(), m.judge_idx.tolist(), m.values)]
    print(f"{m.n_entries} entries × {args.per_entry} reviewers = {m.values.size} marks, "
          f"{m.n_judges} reviewers; best of {args.repeat}; OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'default')}")

    rows: list[tuple[str, float | None, str]] = []

    def baseline():
        n = np.bincount(m.entry_idx, minlength=m.n_entries)
        return np.bincount(m.entry_idx, weights=m.values, minlength=m.n_entries) / n

    t_base, _ = best_of(args.repeat, baseline)
    rows.append(("baseline: per-entry mean (np.bincount)", t_base, ""))

    t_build, built = best_of(args.repeat, lambda: ScoreMatrix.from_triples(triples))
    rows.append(("ScoreMatrix.from_triples (string labels)", t_build, ""))
    t_arrays, _ = best_of(args.repeat, lambda: ScoreMatrix.from_arrays(m.entry_idx, m.judge_idx, m.values))
    rows.append(("ScoreMatrix.from_arrays", t_arrays, "not in totals"))

    t_fit, cal = best_of(args.repeat, lambda: calibrate.fit(built))
    short = (" · " + cal.notes[0].split(";")[0]) if cal.notes else ""
    rows.append(("calibrate.fit (bias)", t_fit, cal.method + short))
    t_scale, cal_s = best_of(1, lambda: calibrate.fit(built, "bias_scale"))
    rows.append(("calibrate.fit (bias_scale)", t_scale, "not in totals"))
    t_sort, _ = best_of(args.repeat, lambda: np.argsort(-cal.quality, kind="stable"))
    rows.append(("ranking: np.argsort of quality", t_sort, ""))

    reliability = optional("reliability")
    t_rel = None
    if reliability is not None:
        try:
            t_rel, rel = best_of(args.repeat, lambda: reliability.assess(built))
            rows.append(("reliability.assess", t_rel, f"{rel.design}"))
        except Exception as exc:  # noqa: BLE001
            rows.append(("reliability.assess", None, f"skipped: {type(exc).__name__}: {exc}"))

    # The product path: validation and the stage ranking of the other parts.
    sheets, ranking, rubric_mod = optional("sheets"), optional("ranking"), optional("rubric")
    t_valid = t_stage = None
    if sheets is not None and rubric_mod is not None:
        try:
            rubric = rubric_mod.load_rubric(ROOT / "rubrics" / "examples" / "review-100.yaml")
            marks = [f"{v:.2f}" for v in m.values]
            t_valid, validated = best_of(args.repeat, lambda: [sheets.validate_total(rubric, x) for x in marks])
            rows.append(("validation: sheets.validate_total × marks", t_valid, "exact Decimal checks"))
            if ranking is not None:
                by_entry: dict[str, dict[str, object]] = {}
                for (e, j, _), sheet in zip(triples, validated):
                    by_entry.setdefault(e, {})[j] = sheet
                t_stage, stage = best_of(args.repeat, lambda: ranking.rank_stage(rubric, by_entry))
                rows.append(("ranking.rank_stage (aggregate + fit + rank)", t_stage,
                             f"method used: {stage.method_used}"))
        except Exception as exc:  # noqa: BLE001
            rows.append(("product path", None, f"skipped: {type(exc).__name__}: {exc}"))

    width = max(len(r[0]) for r in rows)
    print(f"\n  {'step':<{width}}  {'seconds':>9}  {'× baseline':>11}")
    for name, secs, note in rows:
        if secs is None:
            print(f"  {name:<{width}}  {'—':>9}  {'':>11}  {note}")
        else:
            print(f"  {name:<{width}}  {secs:9.4f}  {secs / t_base:11.0f}  {note}")

    core = [t_build, t_fit, t_sort] + ([t_rel] if t_rel is not None else [])
    total_core = sum(core)
    print(f"\n  array core (build + fit + argsort{' + reliability' if t_rel is not None else ''}): "
          f"{total_core:.3f} s = {total_core / t_base:.0f} × baseline -> under {BUDGET:g} s: "
          f"{'YES' if total_core < BUDGET else 'NO'}")
    if t_valid is not None and t_stage is not None:
        total = t_valid + t_stage + (t_rel or 0.0)
        print(f"  product path (validate + rank_stage{' + reliability' if t_rel is not None else ''}): "
              f"{total:.3f} s = {total / t_base:.0f} × baseline -> under {BUDGET:g} s: "
              f"{'YES' if total < BUDGET else 'NO'}")
        print(f"    of which calibrate.fit inside rank_stage ≈ {t_fit:.3f} s; the rest is per-sheet "
              "validation and per-entry Decimal aggregation")


if __name__ == "__main__":
    main()
