"""Judge assignment at national scale, side by side with a greedy baseline in the same run.

(a) Regional rounds: 1,556 entries in 31 divisions × 5 categories, 250 judges (1 in 7 a
    school science teacher), a panel of 7 per division and category (155 panels, 1,085 seats).
    250 judges cannot fill 1,085 seats one panel each, so every judge serves the panels of
    their own division (`home_division`) and may sit on several of them (`max_panels` = the
    number of categories), as regional rounds do.
(b) National preliminary review: 427 entries × 60 reviewers × 5 each, same unit and same
    province avoided, loads 35–36.

For each: seconds, hard violations (every rule `verify` checks: conflicts, sizes, teacher and
chief seats, distinct units, loads; must be 0), load spread (max − min) and total expertise
match. Greedy: entries/panels in order, each takes the least-loaded eligible judges with the
best expertise. Synthetic data resembling the demo; no real people.

Usage: .venv/bin/python bench/assignment.py [--seed N]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scoring.assignment import (  # noqa: E402
    Infeasible, Panel, PanelPlan, PanelSpec, ReviewPlan, ReviewSpec,
    assign_panels, assign_reviews, panel_slots, verify,
)
from scoring.conflicts import ConflictIndex, ConflictRules, Entry, Judge, expertise_match  # noqa: E402

CATS = ["展品辅导", "科学实验", "科普短剧", "科学课程", "展品辅导（科技志愿者组）"]
N_DIV = 31


def regional_instance(rng: np.random.Generator):
    """31 provinces = divisions, 413 competing units (museums), 1,556 entries, 250 judges.
    Judges of a division: one school teacher (plus 5 more teachers spread at random, 36 in
    all), experts from universities, associations and other provinces' museums, and in some
    divisions one expert from a local competing museum (who must sit out that museum's
    panels)."""
    units_by_div = {d: [f"M{d:02d}-{u:02d}" for u in range(13 + (d < 10))] for d in range(N_DIV)}
    entries = []
    for k in range(1556):
        d = k % N_DIV
        u = units_by_div[d][int(rng.integers(len(units_by_div[d])))]
        cat = CATS[int(rng.integers(len(CATS)))] if k >= N_DIV * len(CATS) else CATS[(k // N_DIV) % len(CATS)]
        entries.append(Entry(f"E{k:04d}", u, f"P{d:02d}", f"D{d:02d}", cat))
    per_div = [8] * N_DIV
    for d in rng.choice(N_DIV, 250 - 8 * N_DIV, replace=False):
        per_div[d] += 1
    extra_teachers = set(rng.choice(250, 5, replace=False).tolist())
    judges = []
    n = 0
    for d in range(N_DIV):
        local = rng.random() < 0.3
        for s in range(per_div[d]):
            teacher = s == 0 or n in extra_teachers
            if teacher:
                unit = f"S{n:03d}"                                    # a school
            elif local and s == 1:
                unit = units_by_div[d][int(rng.integers(len(units_by_div[d])))]
            else:
                unit = f"X{n:03d}"                                   # university, 科协, other museum
            k = int(rng.integers(1, 3))
            judges.append(Judge(f"J{n:03d}", unit, f"P{d:02d}", f"D{d:02d}",
                                frozenset(rng.choice(CATS, k, replace=False).tolist()),
                                is_school_teacher=teacher, can_chair=not teacher and rng.random() < 0.5))
            n += 1
    return judges, entries


def review_instance(rng: np.random.Generator):
    """427 national-stage entries from 31 provinces; 60 reviewers from all provinces, half of
    them from competing museums."""
    units = [f"M{d:02d}-{u:02d}" for d in range(N_DIV) for u in range(8)]
    entries = []
    for k in range(427):
        u = units[int(rng.integers(len(units)))]
        entries.append(Entry(f"N{k:03d}", u, "P" + u[1:3], "D" + u[1:3], CATS[int(rng.integers(len(CATS)))]))
    judges = []
    for i in range(60):
        if i % 2:
            u = units[int(rng.integers(len(units)))]
            prov = "P" + u[1:3]
        else:
            u, prov = f"X{i:03d}", f"P{int(rng.integers(N_DIV)):02d}"
        judges.append(Judge(f"R{i:02d}", u, prov, None,
                            frozenset(rng.choice(CATS, int(rng.integers(1, 3)), replace=False).tolist())))
    return judges, entries


def greedy_panels(judges, slots, index, *, size, teacher_seats, max_panels, rng) -> PanelPlan:
    load: Counter = Counter()
    tie = {j.id: rng.random() for j in judges}
    panels = []
    for slot in slots:
        cand = [j for j in judges if j.division == slot.division and load[j.id] < max_panels
                and not any(index.is_hard(j.id, e) for e in slot.entries)]
        cand.sort(key=lambda j: (load[j.id], -expertise_match(j, slot.category), tie[j.id]))
        chosen, units = [], set()
        for want in ("teacher", "chair", "any"):       # a teacher seat and a chief first
            for j in cand:
                if len(chosen) >= size:
                    break
                if j in chosen or j.unit in units:
                    continue
                if (want == "teacher" and not j.is_school_teacher) or (want == "chair" and not j.can_chair):
                    continue
                chosen.append(j)
                units.add(j.unit)
                if want != "any":
                    break
        for j in chosen:
            load[j.id] += 1
        head = next((j.id for j in chosen if j.can_chair), None)
        panels.append(Panel(slot, tuple(j.id for j in chosen), head))
    spec = PanelSpec(tuple(j.id for j in judges), tuple(slots), size, teacher_seats, True, True, False,
                     max_panels, True, frozenset())
    return PanelPlan(spec, tuple(panels))


def greedy_reviews(judges, entries, index, *, per_entry, lo, hi, rng) -> ReviewPlan:
    load: Counter = Counter()
    tie = {j.id: rng.random() for j in judges}
    pairs = []
    for e in entries:
        cand = [j for j in judges if load[j.id] < hi and not index.is_hard(j.id, e.id)]
        cand.sort(key=lambda j: (load[j.id], -expertise_match(j, e.category), tie[j.id]))
        for j in cand[:per_entry]:
            load[j.id] += 1
            pairs.append((j.id, e.id))
    spec = ReviewSpec(tuple(j.id for j in judges), tuple(e.id for e in entries), per_entry, lo, hi)
    return ReviewPlan(spec, tuple(pairs))


def _row(name, seconds, problems, loads, expertise, extra=""):
    spread = max(loads) - min(loads) if loads else 0
    print(f"  {name:<8} {seconds:>7.2f} s   violations {len(problems):>4}   load {min(loads)}–{max(loads)} "
          f"(spread {spread})   expertise {expertise:>6.0f}{extra}")


def _div_spread(plan, index) -> int:
    """Worst load spread within a division among judges free of conflicts there (a judge
    from a competing unit must sit out that unit's panels and rightly carries less)."""
    by_div: dict = {}
    for p in plan.panels:
        by_div.setdefault(p.slot.division, []).extend(p.slot.entries)
    loads = plan.loads()
    spread = 0
    for div, entries in by_div.items():
        free = [n for j, n in loads.items() if index.judges[j].division == div
                and not any(index.is_hard(j, e) for e in entries)]
        if free:
            spread = max(spread, max(free) - min(free))
    return spread


def bench_panels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    judges, entries = regional_instance(rng)
    index = ConflictIndex.build(judges, entries, rules=ConflictRules())
    slots = panel_slots(entries, by=("division", "category"))
    seats = 7 * len(slots)
    print(f"(a) regional rounds: {len(entries)} entries, {len(judges)} judges "
          f"({sum(j.is_school_teacher for j in judges)} school teachers), {len(slots)} panels of 7 = {seats} seats")
    print(f"    {len(judges)} judges cannot fill {seats} seats with one panel each: every judge sits on the "
          f"panels of their own division, at most {len(CATS)} (one per category)")
    t = time.perf_counter()
    try:
        plan = assign_panels(judges, slots, index, size=7, teacher_seats=1, chief=True, distinct_units=True,
                             max_panels=len(CATS), home_division=True, seed=seed)
        secs = time.perf_counter() - t
        loads = [n for n in plan.loads().values() if n]
        match = sum(expertise_match(index.judges[j], p.slot.category) for p in plan.panels for j in p.judges)
        _row("milp", secs, verify(plan, index), loads, match,
             f"   judges used {len(loads)}, worst spread in a division {_div_spread(plan, index)}")
    except Infeasible as exc:
        print(f"  milp     infeasible in {time.perf_counter() - t:.2f} s:")
        for r in exc.reasons[:10]:
            print("    " + r.message)
    t = time.perf_counter()
    g = greedy_panels(judges, slots, index, size=7, teacher_seats=1, max_panels=len(CATS),
                      rng=np.random.default_rng(seed))
    secs = time.perf_counter() - t
    problems = verify(g, index)
    loads = [n for n in g.loads().values() if n]
    match = sum(expertise_match(index.judges[j], p.slot.category) for p in g.panels for j in p.judges)
    short = sum(7 - len(p.judges) for p in g.panels)
    _row("greedy", secs, problems, loads, match, f"   judges used {len(loads)}, worst spread in a division "
         f"{_div_spread(g, index)}, empty seats {short}")
    if problems:
        print("           e.g. " + "; ".join(problems[:3]))


def bench_reviews(seed: int) -> None:
    rng = np.random.default_rng(seed + 1)
    judges, entries = review_instance(rng)
    index = ConflictIndex.build(judges, entries, rules=ConflictRules(avoid_province=True))
    print(f"(b) national preliminary review: {len(entries)} entries × {len(judges)} reviewers × 5 each, "
          "same unit and same province avoided")
    t = time.perf_counter()
    plan = assign_reviews(judges, entries, index, per_entry=5, seed=seed)
    secs = time.perf_counter() - t
    s = plan.stats
    _row("milp", secs, verify(plan, index), list(plan.loads().values()), s["expertise"],
         f"   components {s['components']}, max pair overlap {s['max_pair_overlap']}")
    t = time.perf_counter()
    g = greedy_reviews(judges, entries, index, per_entry=5, lo=plan.spec.min_load, hi=plan.spec.max_load,
                       rng=np.random.default_rng(seed))
    secs = time.perf_counter() - t
    problems = verify(g, index)
    gm = sum(expertise_match(index.judges[j], index.entries[e].category) for j, e in g.pairs)
    _row("greedy", secs, problems, list(g.loads().values()), gm)
    if problems:
        print("           e.g. " + "; ".join(problems[:3]))


def bench_final(seed: int) -> None:
    """Not a target of the issue: shows the explanation of an infeasible strict instance and
    the recusal mode that national finals need."""
    rng = np.random.default_rng(seed + 2)
    units = [f"M{d:02d}-{u:02d}" for d in range(N_DIV) for u in range(8)]
    entries = []
    for k in range(284):
        u = units[int(rng.integers(len(units)))]
        entries.append(Entry(f"F{k:03d}", u, "P" + u[1:3], None, CATS[k % len(CATS)]))
    judges = []
    for i in range(60):
        u = units[int(rng.integers(len(units)))] if i % 3 == 0 else f"X{i:03d}"
        judges.append(Judge(f"N{i:02d}", u, f"P{i % N_DIV:02d}", None,
                            frozenset(rng.choice(CATS, 2, replace=False).tolist()),
                            is_school_teacher=i % 7 == 0, can_chair=i % 4 == 1))
    index = ConflictIndex.build(judges, entries, rules=ConflictRules(avoid_province=True))
    slots = panel_slots(entries, by=("category",))
    print(f"(c) national final (extra): {len(entries)} entries, {len(judges)} judges, {len(slots)} panels of 7, "
          "same province avoided, provinces distinct within a panel")
    t = time.perf_counter()
    try:
        assign_panels(judges, slots, index, size=7, distinct_provinces=True, seed=seed)
        print("  strict   solved (unexpected)")
    except Infeasible as exc:
        print(f"  strict   infeasible in {time.perf_counter() - t:.2f} s, explained: {exc.reasons[0].message}")
    t = time.perf_counter()
    plan = assign_panels(judges, slots, index, size=7, distinct_provinces=True, min_scoring=5, seed=seed)
    secs = time.perf_counter() - t
    match = sum(expertise_match(index.judges[j], p.slot.category) for p in plan.panels for j in p.judges)
    _row("recusal", secs, verify(plan, index), [n for n in plan.loads().values() if n], match,
         f"   recusals {plan.stats['recusals']} (each entry keeps ≥ 5 of 7 scorers)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args()
    bench_panels(args.seed)
    bench_reviews(args.seed)
    bench_final(args.seed)


if __name__ == "__main__":
    main()
