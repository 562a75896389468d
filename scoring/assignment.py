"""Automatic judge assignment: complete panels for live rounds, reviewers for incomplete designs.

Two problems, one approach: binary variables x[judge, target] exist only for pairs with no
hard conflict (conflicts are never costs, so no weight can buy one), the composition rules are
linear constraints, and `scipy.optimize.milp` (HiGHS) maximises expertise match plus a small
seeded noise that breaks ties reproducibly and mixes the design. Soft history conflicts are
costs. Locked pairs are fixed to 1 and survive every re-run; `previous` pairs get a keep bonus
so that a re-run after a declaration changes as little as possible.

* `assign_panels` -- live rounds: every panel (one per division × category, or per category in
  the final) gets exactly `size` judges, at least `teacher_seats` school science teachers, a
  chief judge (组长) who `can_chair`, no two judges of one unit (or province, if asked), no
  judge conflicted with ANY entry the panel judges, each judge on at most `max_panels` panels.
* `assign_reviews` -- national preliminary review, resource review: every entry gets exactly
  `per_entry` reviewers, each reviewer's load within [min_load, max_load] (default floor/ceil
  of the average: a spread of at most 1), expertise match maximised. This is a bipartite
  b-matching (a transportation problem, totally unimodular), so the LP optimum is integral and
  427 × 60 × 5 solves in well under a second. The judge–entry graph is then checked with
  `scipy.sparse.csgraph` and, if it falls apart (e.g. expertise clusters), repaired by the
  cheapest load-preserving swaps, so that calibration (`score = quality + judge bias`) is
  identified across the whole design.

Infeasibility is explained, not just reported: pre-checks name each entry or panel lacking
eligible judges and why the others are excluded ("E0123: 只有 3 名评委可评（需要 5 名）：共 60
名评委，12 名同单位，40 名同省"), teacher/chair/unit shortages, capacity totals and broken locks;
when only the interplay of constraints is infeasible, the solver runs an elastic model (costly
shortfall variables) and the entries or panels left short are named, with the group of entries
that competes for too few judges (a Hall violator). All of them arrive in one `Infeasible`.

`verify(plan, index)` is an independent checker (pair by pair through `index.conflict`, not the
solver's matrices); tests and the CLI run it on every plan.
"""
from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse.csgraph import connected_components

from scoring.conflicts import KIND_LABELS, ConflictIndex, Entry, Judge, expertise_match

__all__ = [
    "Infeasible",
    "Panel",
    "PanelPlan",
    "PanelSlot",
    "PanelSpec",
    "Reason",
    "ReviewPlan",
    "ReviewSpec",
    "assign_panels",
    "assign_reviews",
    "panel_slots",
    "replan_panels",
    "replan_reviews",
    "verify",
]

ROLES = ("member", "chief")
_OTHER_DIVISION = "other_division"
_UNAVAILABLE = "unavailable"
_LABELS = {**KIND_LABELS, _OTHER_DIVISION: "属其他赛区", _UNAVAILABLE: "工作量上限为 0"}


# ----------------------------------------------------------------------------------------
# Infeasibility
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reason:
    """One explained cause of infeasibility.

    `about` is what the reason names: ``entry``, ``panel``, ``judge``, ``lock`` or
    ``capacity``; `subject` is that entry / panel / judge id (None for totals); `counts` holds
    the numbers behind the message (e.g. excluded judges per conflict kind)."""

    code: str
    about: str
    subject: Hashable | None
    message: str
    message_en: str
    counts: Mapping[str, int] = field(default_factory=dict)


class Infeasible(Exception):
    """The instance has no valid plan; `reasons` say which entries, panels or judges and why."""

    def __init__(self, reasons: Sequence[Reason]):
        self.reasons = list(reasons)
        super().__init__("\n".join(r.message for r in self.reasons))

    def _about(self, what: str) -> list:
        seen: dict = {}
        for r in self.reasons:
            if r.about == what and r.subject is not None:
                seen.setdefault(r.subject, None)
        return list(seen)

    @property
    def entries(self) -> list:
        """Entries that cannot be covered, in the order the reasons name them."""
        return self._about("entry")

    @property
    def panels(self) -> list:
        return self._about("panel")

    @property
    def judges(self) -> list:
        return self._about("judge")


def _breakdown(counts: Counter) -> tuple[str, str]:
    order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    zh = "，".join(f"{n} 名{_LABELS.get(k, k)}" for k, n in order)
    en = ", ".join(f"{n} {k}" for k, n in order)
    return zh, en


def _exclusion_counts(index: ConflictIndex, judge_ids: Iterable, entry_ids: Sequence) -> Counter:
    """For judges excluded from a set of entries: how many per (first) conflict kind."""
    counts: Counter = Counter()
    for j in judge_ids:
        for e in entry_ids:
            c = index.conflict(j, e)
            if c is not None and c.hard:
                counts[c.kind] += 1
                break
    return counts


# ----------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------

def _ids(items: Iterable, what: str, known: Mapping) -> tuple:
    out = []
    seen = set()
    for item in items:
        key = item.id if isinstance(item, (Judge, Entry)) else item
        if key not in known:
            raise ValueError(f"{what} {key!r} is not in the conflict index")
        if key in seen:
            raise ValueError(f"{what} {key!r} is listed twice")
        seen.add(key)
        out.append(key)
    return tuple(out)


def _solve(c, A, lo, hi, lb, ub, integrality, time_limit):
    res = milp(
        c,
        integrality=integrality,
        bounds=Bounds(lb, ub),
        constraints=[LinearConstraint(A, lo, hi)] if A.shape[0] else None,
        options={"time_limit": time_limit, "mip_rel_gap": 1e-6, "disp": False},
    )
    if res.x is None:
        raise RuntimeError(f"the solver found no solution ({res.message})")
    return res


def _overlap_stats(X: np.ndarray) -> tuple[int, float]:
    """Largest and mean number of entries two judges share (over pairs that share any)."""
    if X.shape[0] < 2:
        return 0, 0.0
    co = X.astype(np.int64) @ X.T.astype(np.int64)
    iu = np.triu_indices(X.shape[0], 1)
    vals = co[iu]
    shared = vals[vals > 0]
    return int(vals.max(initial=0)), float(shared.mean()) if shared.size else 0.0


def _components(X: np.ndarray) -> tuple[int, np.ndarray]:
    """Connected components of the judge–entry graph among judges with load > 0."""
    nj, ne = X.shape
    r, k = np.nonzero(X)
    n = nj + ne
    g = sparse.coo_matrix((np.ones(len(r)), (r, nj + k)), shape=(n, n))
    _, labels = connected_components(g, directed=False)
    active = np.concatenate([X.any(axis=1), np.ones(ne, dtype=bool)])
    return len(np.unique(labels[active])), labels


# ----------------------------------------------------------------------------------------
# Reviews (incomplete designs)
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReviewSpec:
    """What a review plan must satisfy; `verify` checks plans against it."""

    judges: tuple
    entries: tuple
    per_entry: int
    min_load: int
    max_load: int
    locks: frozenset = frozenset()


@dataclass(frozen=True)
class ReviewPlan:
    """Reviewers per entry. `pairs` are (judge_id, entry_id), in entry then judge order."""

    spec: ReviewSpec
    pairs: tuple
    seed: int = 0
    stats: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple = ()

    def by_entry(self) -> dict:
        out = {e: [] for e in self.spec.entries}
        for j, e in self.pairs:
            out.setdefault(e, []).append(j)
        return out

    def loads(self) -> dict:
        out = {j: 0 for j in self.spec.judges}
        for j, _ in self.pairs:
            out[j] = out.get(j, 0) + 1
        return out


def assign_reviews(
    judges: Iterable,
    entries: Iterable,
    index: ConflictIndex,
    *,
    per_entry: int = 5,
    min_load: int | None = None,
    max_load: int | None = None,
    locks: Iterable[tuple] = (),
    previous: Iterable[tuple] = (),
    seed: int = 0,
    expertise_weight: float = 1.0,
    noise: float = 0.05,
    keep_weight: float | None = None,
    connect: bool = True,
    mix: int | None = None,
    time_limit: float = 60.0,
) -> ReviewPlan:
    """Give every entry exactly `per_entry` non-conflicted reviewers, loads in bounds.

    `judges`/`entries` are ids or `Judge`/`Entry` objects known to `index`. Loads default to
    floor/ceil of the average (spread ≤ 1). `locks` are (judge, entry) pairs that must stay;
    `previous` pairs are kept where possible (bonus `keep_weight`, default 10 × the expertise
    weight). The objective per pair is ``expertise_weight × match − soft penalty + U[0, noise)``
    with the noise drawn from ``numpy.random.default_rng(seed)``: the same inputs and seed give
    the same plan.

    Mixing: after the solve, `mix` random load-preserving swaps (default 20 per review) are
    tried and kept when they lower the sum of squared co-review counts of reviewer pairs
    without losing expertise or adding soft conflicts (locked and `previous` pairs never
    move), so that no two reviewers share most of their entries. Then, with `connect`, the
    judge–entry graph is made connected by the cheapest swaps. Raises `Infeasible` with every
    reason found."""
    t0 = time.perf_counter()
    jids = _ids(judges, "judge", index.judges)
    eids = _ids(entries, "entry", index.entries)
    nj, ne = len(jids), len(eids)
    if per_entry < 1:
        raise ValueError("per_entry must be at least 1")
    if nj == 0:
        raise Infeasible([Reason("no_judges", "capacity", None, "没有评委：无法分配评审",
                                 "no judges: nothing can be assigned")])
    total = ne * per_entry
    avg = total / nj
    if min_load is not None:
        lo = int(min_load)
    else:
        lo = math.floor(avg) if max_load is None else min(math.floor(avg), int(max_load))
    hi = int(max_load) if max_load is not None else max(math.ceil(avg), lo)
    lo = max(lo, 0)
    jpos = {j: i for i, j in enumerate(jids)}
    epos = {e: k for k, e in enumerate(eids)}

    reasons: list[Reason] = []
    if lo > hi:
        reasons.append(Reason("load_bounds", "capacity", None,
                              f"最低工作量 {lo} 大于最高工作量 {hi}",
                              f"min load {lo} exceeds max load {hi}"))

    H = index.hard_matrix(jids, eids)
    usable = np.full(nj, hi > 0)
    E = ~H & usable[:, None]

    # Locks.
    lock_set = set()
    for row in locks:
        j, e = row[0], row[1]
        if j not in jpos or e not in epos:
            reasons.append(Reason("lock_unknown", "lock", (j, e),
                                  f"锁定的评审关系 {j}→{e} 不在本次评委或作品名单中",
                                  f"locked pair {j}->{e} names a judge or entry not in this run"))
            continue
        c = index.conflict(j, e)
        if c is not None and c.hard:
            reasons.append(Reason("lock_conflict", "entry", e,
                                  f"{e}: 锁定的评委 {j} 与其冲突：{c.message}",
                                  f"{e}: locked judge {j} conflicts: {c.message_en}", {c.kind: 1}))
            continue
        lock_set.add((j, e))
    for e, n in Counter(e for _, e in lock_set).items():
        if n > per_entry:
            reasons.append(Reason("lock_overfull", "entry", e, f"{e}: 锁定了 {n} 名评委，超过每件 {per_entry} 名",
                                  f"{e}: {n} judges locked, more than {per_entry} per entry"))
    for j, n in Counter(j for j, _ in lock_set).items():
        if n > hi:
            reasons.append(Reason("lock_overfull", "judge", j, f"评委 {j}: 锁定了 {n} 件作品，超过最高工作量 {hi}",
                                  f"judge {j}: {n} entries locked, more than max load {hi}"))

    # Capacity totals.
    if total > nj * hi:
        reasons.append(Reason("capacity_over", "capacity", None,
                              f"需要 {ne}×{per_entry}={total} 次评审，但 {nj} 名评委最多承担 {nj}×{hi}={nj * hi} 次：请提高最高工作量或增加评委",
                              f"{total} reviews needed but {nj} judges × max load {hi} = {nj * hi}"))
    if total < nj * lo:
        reasons.append(Reason("capacity_under", "capacity", None,
                              f"只有 {ne}×{per_entry}={total} 次评审，不够 {nj} 名评委每人至少 {lo} 件（{nj * lo}）：请降低最低工作量",
                              f"only {total} reviews for {nj} judges × min load {lo} = {nj * lo}"))

    # Per entry: enough eligible judges?
    n_eligible = E.sum(axis=0)
    for k in np.nonzero(n_eligible < per_entry)[0]:
        e = eids[k]
        counts = _exclusion_counts(index, jids, [e])
        if hi <= 0:
            counts[_UNAVAILABLE] = nj
        zh, en = _breakdown(counts)
        reasons.append(Reason(
            "entry_too_few_judges", "entry", e,
            f"{e}: 只有 {int(n_eligible[k])} 名评委可评（需要 {per_entry} 名）：共 {nj} 名评委" + (f"，{zh}" if zh else ""),
            f"{e}: only {int(n_eligible[k])} eligible judges (needs {per_entry}) of {nj}" + (f": {en}" if en else ""),
            dict(counts)))
    # Per judge: enough eligible entries for the minimum load?
    per_judge = E.sum(axis=1)
    for i in np.nonzero(per_judge < lo)[0]:
        j = jids[i]
        counts = Counter()
        for e in eids:
            c = index.conflict(j, e)
            if c is not None and c.hard:
                counts[c.kind] += 1
        zh = "，".join(f"{n} 件{_LABELS.get(k, k)}" for k, n in counts.most_common())
        reasons.append(Reason(
            "judge_below_min", "judge", j,
            f"评委 {j}: 只有 {int(per_judge[i])} 件作品可评，低于最低工作量 {lo}" + (f"（回避 {zh}）" if zh else "") + "：请降低最低工作量",
            f"judge {j}: only {int(per_judge[i])} eligible entries, below min load {lo}", dict(counts)))
    if reasons:
        raise Infeasible(reasons)

    # Objective.
    rng = np.random.default_rng(seed)
    match = np.array([[expertise_match(index.judges[j], index.entries[e].category) for e in eids] for j in jids])
    score = expertise_weight * match - index.penalty_matrix(jids, eids) + noise * rng.random((nj, ne))
    prev = np.zeros((nj, ne), dtype=bool)
    for j, e in previous:
        if j in jpos and e in epos:
            prev[jpos[j], epos[e]] = True
    if prev.any():
        score = score + (10.0 * max(expertise_weight, 1.0) if keep_weight is None else keep_weight) * prev

    ri, rk = np.nonzero(E)
    nv = len(ri)
    big = 1.0 + 2.0 * total * float(np.abs(score).max(initial=1.0))
    # Columns: x (nv) | entry shortfall (ne) | judge min-load shortfall (nj).
    c = np.concatenate([-score[ri, rk], np.full(ne, big), np.full(nj, big)])
    A_entry = sparse.hstack([sparse.csr_matrix((np.ones(nv), (rk, np.arange(nv))), shape=(ne, nv)),
                             sparse.identity(ne), sparse.csr_matrix((ne, nj))])
    A_judge = sparse.hstack([sparse.csr_matrix((np.ones(nv), (ri, np.arange(nv))), shape=(nj, nv)),
                             sparse.csr_matrix((nj, ne)), sparse.identity(nj)])
    A = sparse.vstack([A_entry, A_judge]).tocsr()
    row_lo = np.concatenate([np.full(ne, per_entry), np.full(nj, lo)])
    row_hi = np.concatenate([np.full(ne, per_entry), np.full(nj, hi)])
    lb = np.zeros(nv + ne + nj)
    ub = np.concatenate([np.ones(nv), np.full(ne, per_entry), np.full(nj, lo)])
    if lock_set:
        var_of = {(int(a), int(b)): v for v, (a, b) in enumerate(zip(ri, rk))}
        for j, e in lock_set:
            lb[var_of[(jpos[j], epos[e])]] = 1.0
    integrality = np.concatenate([np.ones(nv), np.zeros(ne + nj)])
    res = _solve(c, A, row_lo, row_hi, lb, ub, integrality, time_limit)
    x = res.x
    X = np.zeros((nj, ne), dtype=bool)
    X[ri, rk] = x[:nv] > 0.5
    short_e = x[nv:nv + ne]
    short_j = x[nv + ne:]

    if (short_e > 0.5).any() or (short_j > 0.5).any():
        raise Infeasible(_explain_review_shortfall(index, jids, eids, E, X, short_e, short_j,
                                                   per_entry, lo, hi))

    warnings: list[str] = [] if res.status == 0 else [f"求解器未证明最优：{res.message}"]
    locked = np.zeros((nj, ne), dtype=bool)
    for j, e in lock_set:
        locked[jpos[j], epos[e]] = True
    overlap_before, _ = _overlap_stats(X)
    base = expertise_weight * match - index.penalty_matrix(jids, eids)
    mixed = _mix(X, E, locked | prev, base, seed, 20 * total if mix is None else mix)
    n_comp_before, _ = _components(X)
    swaps = 0
    if connect and n_comp_before > 1:
        swaps, ok = _connect(X, E, locked, score)
        if not ok:
            warnings.append("评审关系图不连通：无法在不违反回避和工作量约束的情况下连通，跨组校准不可用")
    n_comp, _ = _components(X)
    pairs = tuple((jids[i], eids[k]) for k in range(ne) for i in np.nonzero(X[:, k])[0])
    loads = X.sum(axis=1)
    max_ov, mean_ov = _overlap_stats(X)
    stats = {
        "seconds": time.perf_counter() - t0,
        "variables": nv,
        "expertise": float(match[X].sum()),
        "soft_cost": float(index.penalty_matrix(jids, eids)[X].sum()),
        "load_min": int(loads.min()),
        "load_max": int(loads.max()),
        "mixing_swaps": int(mixed),
        "max_pair_overlap_before_mixing": overlap_before,
        "components_before_repair": int(n_comp_before),
        "components": int(n_comp),
        "swaps": int(swaps),
        "max_pair_overlap": max_ov,
        "mean_pair_overlap": mean_ov,
    }
    spec = ReviewSpec(jids, eids, per_entry, lo, hi, frozenset(lock_set))
    return ReviewPlan(spec, pairs, seed, stats, tuple(warnings))


def _explain_review_shortfall(index, jids, eids, E, X, short_e, short_j, r, lo, hi) -> list[Reason]:
    reasons: list[Reason] = []
    loads = X.sum(axis=1)
    short_entries = [k for k in range(len(eids)) if short_e[k] > 0.5]
    if short_entries:
        # Alternating search from the short entries: entries → eligible judges → the entries
        # those judges already review. If every judge reached is full, the entries reached
        # can only be served by those judges and need more than they can give (Hall).
        seen_e = set(short_entries)
        seen_j: set[int] = set()
        frontier = list(short_entries)
        while frontier:
            nxt = []
            for k in frontier:
                for i in np.nonzero(E[:, k])[0]:
                    if i not in seen_j:
                        seen_j.add(int(i))
                        for k2 in np.nonzero(X[i])[0]:
                            if k2 not in seen_e:
                                seen_e.add(int(k2))
                                nxt.append(int(k2))
            frontier = nxt
        hall = bool(seen_j) and all(loads[i] >= hi for i in seen_j)
        for k in short_entries:
            e = eids[k]
            miss = int(round(short_e[k]))
            n = int(E[:, k].sum())
            reasons.append(Reason(
                "entry_uncovered", "entry", e,
                f"{e}: 缺 {miss} 名评委：可评的 {n} 名评委都已达到最高工作量 {hi}",
                f"{e}: {miss} judge(s) short: its {n} eligible judges are all at max load {hi}",
                {"eligible": n, "missing": miss}))
        if hall:
            names = [eids[k] for k in sorted(seen_e)]
            shown = "、".join(map(str, names[:10])) + ("…" if len(names) > 10 else "")
            reasons.append(Reason(
                "entries_compete", "capacity", None,
                f"{len(names)} 件作品（{shown}）只能由同一批 {len(seen_j)} 名评委评审，"
                f"他们最多承担 {len(seen_j)}×{hi}={len(seen_j) * hi} 次，而需要 {len(names)}×{r}={len(names) * r} 次",
                f"{len(names)} entries can only be reviewed by the same {len(seen_j)} judges: "
                f"capacity {len(seen_j) * hi} < {len(names) * r} needed",
                {"entries": len(names), "judges": len(seen_j)}))
    for i in np.nonzero(short_j > 0.5)[0]:
        j = jids[i]
        reasons.append(Reason(
            "judge_below_min", "judge", j,
            f"评委 {j}: 只能分到 {int(loads[i])} 件，低于最低工作量 {lo}：其可评的 {int(E[i].sum())} 件作品已由其他评委评满",
            f"judge {j}: only {int(loads[i])} entries, below min load {lo}: its eligible entries are full",
            {"eligible": int(E[i].sum())}))
    return reasons


def _mix(X: np.ndarray, E: np.ndarray, fixed: np.ndarray, base: np.ndarray, seed: int, tries: int) -> int:
    """Spread co-review evenly, in place: try `tries` random swaps (j1,e1),(j2,e2) →
    (j1,e2),(j2,e1) and keep those that lower Σ co(j,j')² over reviewer pairs while the
    base objective (expertise − soft cost, no noise) does not drop. Entry counts and loads
    never change; conflicts and `fixed` pairs are respected. Returns the swaps kept."""
    import random

    if tries <= 0:
        return 0
    nj, ne = X.shape
    members = [list(map(int, np.nonzero(X[:, k])[0])) for k in range(ne)]
    co = (X.astype(np.int64) @ X.T.astype(np.int64)).tolist()
    edges = [(int(i), int(k)) for i, k in zip(*np.nonzero(X & ~fixed))]
    if len(edges) < 2:
        return 0
    Xl = X.tolist()
    El = E.tolist()
    bl = base.tolist()
    rnd = random.Random(seed)
    kept = 0
    n = len(edges)
    for _ in range(tries):
        a, b = rnd.randrange(n), rnd.randrange(n)
        j1, e1 = edges[a]
        j2, e2 = edges[b]
        if j1 == j2 or e1 == e2 or not El[j1][e2] or not El[j2][e1] or Xl[j1][e2] or Xl[j2][e1]:
            continue
        if bl[j1][e2] + bl[j2][e1] < bl[j1][e1] + bl[j2][e2] - 1e-9:
            continue
        change: dict = {}
        for m in members[e1]:
            if m != j1:
                change[(j1, m)] = change.get((j1, m), 0) - 1
                change[(j2, m)] = change.get((j2, m), 0) + 1
        for m in members[e2]:
            if m != j2:
                change[(j2, m)] = change.get((j2, m), 0) - 1
                change[(j1, m)] = change.get((j1, m), 0) + 1
        delta = sum(2 * co[x][y] * d + d * d for (x, y), d in change.items() if d)
        if delta >= 0:
            continue
        for (x, y), d in change.items():
            co[x][y] += d
            co[y][x] += d
        members[e1].remove(j1)
        members[e1].append(j2)
        members[e2].remove(j2)
        members[e2].append(j1)
        Xl[j1][e1] = Xl[j2][e2] = False
        Xl[j1][e2] = Xl[j2][e1] = True
        edges[a] = (j1, e2)
        edges[b] = (j2, e1)
        kept += 1
    X[:] = np.array(Xl, dtype=bool)
    return kept


def _connect(X: np.ndarray, E: np.ndarray, locked: np.ndarray, score: np.ndarray,
             max_swaps: int = 200, sample: int = 4000) -> tuple[int, bool]:
    """Join the components of the judge–entry graph by load-preserving swaps, in place.

    A swap replaces (j1, e1) in component A and (j2, e2) in component B by (j1, e2) and
    (j2, e1): every entry keeps its reviewer count and every judge its load. The cheapest
    swap (in objective) that respects conflicts and locks is taken, then components are
    recomputed. Returns (swaps made, connected?)."""
    nj, _ = X.shape
    swaps = 0
    while swaps < max_swaps:
        n, labels = _components(X)
        if n <= 1:
            return swaps, True
        ri, rk = np.nonzero(X & ~locked)
        comp = labels[nj + rk]
        sizes = Counter(labels[nj:].tolist())
        a = max(sizes, key=lambda c: (sizes[c], -c))
        others = sorted((c for c in sizes if c != a), key=lambda c: (sizes[c], c))
        done = False
        for b in others:
            ia, ka = ri[comp == a][:sample], rk[comp == a][:sample]
            ib, kb = ri[comp == b][:sample], rk[comp == b][:sample]
            if not len(ia) or not len(ib):
                continue
            ok = (E[ia[:, None], kb[None, :]] & E[ib[None, :], ka[:, None]]
                  & ~X[ia[:, None], kb[None, :]] & ~X[ib[None, :], ka[:, None]])
            if not ok.any():
                continue
            loss = (score[ia, ka][:, None] + score[ib, kb][None, :]
                    - score[ia[:, None], kb[None, :]] - score[ib[None, :], ka[:, None]])
            loss = np.where(ok, loss, np.inf)
            p, q = np.unravel_index(int(np.argmin(loss)), loss.shape)
            X[ia[p], ka[p]] = False
            X[ib[q], kb[q]] = False
            X[ia[p], kb[q]] = True
            X[ib[q], ka[p]] = True
            swaps += 1
            done = True
            break
        if not done:
            return swaps, False
    return swaps, _components(X)[0] <= 1


def replan_reviews(plan: ReviewPlan, index: ConflictIndex, *, seed: int | None = None, **kwargs) -> ReviewPlan:
    """Re-run after conflicts changed (e.g. a judge's 回避声明): keeps the locks and every
    still-valid pair it can, replaces the conflicted ones. `index` is the rebuilt index."""
    keep = [(j, e) for j, e in plan.pairs if not index.is_hard(j, e)]
    s = plan.spec
    return assign_reviews(s.judges, s.entries, index, per_entry=s.per_entry, min_load=s.min_load,
                          max_load=s.max_load, locks=s.locks, previous=keep,
                          seed=plan.seed if seed is None else seed, **kwargs)


# ----------------------------------------------------------------------------------------
# Panels (live rounds)
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PanelSlot:
    """A panel to fill: its id, the category (for expertise), the division (for
    `home_division`) and the entries it judges (all of them, for conflicts)."""

    id: Hashable
    category: Hashable | None = None
    division: Hashable | None = None
    entries: tuple = ()
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or str(self.id)


def panel_slots(entries: Iterable[Entry], by: Sequence[str] = ("division", "category")) -> list[PanelSlot]:
    """One slot per distinct value of the `by` attributes (in first-seen order), e.g. one panel
    per division × category for regional rounds or `by=("category",)` for the final."""
    groups: dict[tuple, list] = {}
    for e in entries:
        groups.setdefault(tuple(getattr(e, a) for a in by), []).append(e.id)
    out = []
    for key, ids in groups.items():
        attrs = dict(zip(by, key))
        out.append(PanelSlot(id=key if len(key) > 1 else key[0], category=attrs.get("category"),
                             division=attrs.get("division"), entries=tuple(ids),
                             label="·".join(str(k) for k in key)))
    return out


@dataclass(frozen=True)
class PanelSpec:
    """What a panel plan must satisfy; `verify` checks plans against it."""

    judges: tuple
    slots: tuple
    size: int
    teacher_seats: int
    chief: bool
    distinct_units: bool
    distinct_provinces: bool
    max_panels: int
    home_division: bool
    locks: frozenset = frozenset()    # {(judge, slot_id, role)}
    #: None: no judge may sit on a panel with any entry they conflict with. A number m: a
    #: judge may sit and is recused (回避) from those entries, each entry keeping ≥ m scorers.
    min_scoring: int | None = None


@dataclass(frozen=True)
class Panel:
    slot: PanelSlot
    judges: tuple
    chief: Hashable | None = None
    #: (judge, entry) pairs where a panel judge sits out an entry (only with `min_scoring`).
    recusals: tuple = ()


@dataclass(frozen=True)
class PanelPlan:
    spec: PanelSpec
    panels: tuple
    seed: int = 0
    stats: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple = ()

    def panel(self, slot_id) -> Panel:
        for p in self.panels:
            if p.slot.id == slot_id:
                return p
        raise KeyError(slot_id)

    def pairs(self) -> list[tuple]:
        """Every (judge, entry) pair the plan implies: each judge scores the panel's entries,
        except those they are recused from."""
        out = []
        for p in self.panels:
            recused = set(p.recusals)
            out.extend((j, e) for j in p.judges for e in p.slot.entries if (j, e) not in recused)
        return out

    def loads(self) -> dict:
        out = {j: 0 for j in self.spec.judges}
        for p in self.panels:
            for j in p.judges:
                out[j] = out.get(j, 0) + 1
        return out

    @property
    def locks(self) -> frozenset:
        return self.spec.locks


def _normalise_slots(slots, entries_by_slot, index) -> tuple:
    out = []
    seen = set()
    for s in slots:
        slot = s if isinstance(s, PanelSlot) else PanelSlot(id=s, category=s)
        if entries_by_slot is not None and slot.id in entries_by_slot:
            slot = PanelSlot(slot.id, slot.category, slot.division, tuple(entries_by_slot[slot.id]), slot.label)
        for e in slot.entries:
            if e not in index.entries:
                raise ValueError(f"panel {slot.name}: entry {e!r} is not in the conflict index")
        if slot.id in seen:
            raise ValueError(f"panel {slot.name} is listed twice")
        seen.add(slot.id)
        out.append(slot)
    return tuple(out)


def assign_panels(
    judges: Iterable,
    slots: Iterable,
    index: ConflictIndex,
    *,
    entries_by_slot: Mapping[Hashable, Iterable] | None = None,
    size: int = 7,
    teacher_seats: int = 1,
    chief: bool = True,
    distinct_units: bool = True,
    distinct_provinces: bool = False,
    max_panels: int = 1,
    home_division: bool = False,
    locks: Iterable[tuple] = (),
    previous: Iterable[tuple] = (),
    seed: int = 0,
    expertise_weight: float = 1.0,
    noise: float = 0.05,
    keep_weight: float | None = None,
    balance_weight: float | None = None,
    min_scoring: int | None = None,
    recusal_weight: float | None = None,
    time_limit: float = 60.0,
) -> PanelPlan:
    """Fill every panel with exactly `size` judges under the composition rules.

    `slots` are `PanelSlot`s (see `panel_slots`) or bare ids (taken as category names, with
    entries from `entries_by_slot`). A judge may sit on a panel only if no hard conflict
    links them to any entry of the panel, and (with `home_division`) only on panels of their
    own division. `locks` are (judge, slot) or (judge, slot, "chief") and are kept; `previous`
    (judge, slot) pairs are kept where possible. The chief is chosen among the panel's
    `can_chair` judges (a locked chief first), spreading chief duties, then by expertise.
    When judges may sit on several panels, loads are evened out by a convex cost: a judge's
    t-th panel costs ``balance_weight × t`` (default 1.5 × expertise weight + noise, so an even
    spread beats one expertise match but never a soft conflict).

    `min_scoring=m` relaxes "no conflict with ANY entry" to recusal (回避, scores absent, not
    replaced): a judge may sit on a panel with entries they conflict with and is recused from
    those, provided every entry keeps at least m judges who may score it; each recusal costs
    `recusal_weight` (default: one expertise match). This is what a national final with
    same-province recusal needs, where every panel holds entries from most provinces.
    Raises `Infeasible` naming each panel (or, with `min_scoring`, entry) that cannot be
    covered and why."""
    t0 = time.perf_counter()
    jids = _ids(judges, "judge", index.judges)
    slot_list = _normalise_slots(slots, entries_by_slot, index)
    nj, ns = len(jids), len(slot_list)
    if size < 1 or teacher_seats < 0 or max_panels < 1:
        raise ValueError("size and max_panels must be at least 1, teacher_seats at least 0")
    if min_scoring is not None and not 1 <= min_scoring <= size:
        raise ValueError("min_scoring must be between 1 and the panel size")
    jpos = {j: i for i, j in enumerate(jids)}
    spos = {s.id: k for k, s in enumerate(slot_list)}
    J = [index.judges[j] for j in jids]
    teacher = np.array([j.is_school_teacher for j in J], dtype=bool)
    chair = np.array([j.can_chair for j in J], dtype=bool)

    # Eligibility: no hard conflict with any entry of the panel; own division if asked.
    all_entries = list(dict.fromkeys(e for s in slot_list for e in s.entries))
    col = {e: k for k, e in enumerate(all_entries)}
    H = index.hard_matrix(jids, all_entries) if all_entries else np.zeros((nj, 0), dtype=bool)
    conflicted = np.zeros((nj, ns), dtype=bool)      # with some entry of the panel
    recusals = np.zeros((nj, ns), dtype=np.int64)     # how many of its entries
    other_div = np.zeros((nj, ns), dtype=bool)
    for k, s in enumerate(slot_list):
        if s.entries:
            recusals[:, k] = H[:, [col[e] for e in s.entries]].sum(axis=1)
            conflicted[:, k] = recusals[:, k] > 0
        if home_division and s.division is not None:
            other_div[:, k] = np.array([j.division != s.division for j in J])
    if min_scoring is None:
        blocked = conflicted
    else:   # recusal: blocked only when the judge could score none of the panel's entries
        n_entries = np.array([len(s.entries) for s in slot_list], dtype=np.int64)
        blocked = (recusals == n_entries[None, :]) & (n_entries[None, :] > 0)
    E = ~blocked & ~other_div

    reasons: list[Reason] = []
    if ns == 0:
        spec = PanelSpec(jids, (), size, teacher_seats, chief, distinct_units, distinct_provinces,
                         max_panels, home_division, frozenset(), min_scoring)
        return PanelPlan(spec, (), seed, {"seconds": time.perf_counter() - t0}, ())
    if nj == 0:
        raise Infeasible([Reason("no_judges", "capacity", None, "没有评委：无法组建评审组", "no judges")])

    # Locks.
    lock_set: set[tuple] = set()
    for row in locks:
        j, sid = row[0], row[1]
        role = row[2] if len(row) > 2 else "member"
        if role not in ROLES:
            raise ValueError(f"lock role must be member or chief, not {role!r}")
        if j not in jpos or sid not in spos:
            reasons.append(Reason("lock_unknown", "lock", (j, sid),
                                  f"锁定的 {j}→{sid} 不在本次评委或评审组名单中",
                                  f"locked {j}->{sid} names a judge or panel not in this run"))
            continue
        i, k = jpos[j], spos[sid]
        slot = slot_list[k]
        if blocked[i, k]:
            c = next(c for c in (index.conflict(j, e) for e in slot.entries) if c is not None and c.hard)
            reasons.append(Reason("lock_conflict", "panel", sid,
                                  f"评审组 {slot.name}: 锁定的评委 {j} 与选手 {c.entry_id} 冲突：{c.message}",
                                  f"panel {slot.name}: locked judge {j} conflicts with {c.entry_id}: {c.message_en}",
                                  {c.kind: 1}))
            continue
        if other_div[i, k]:
            reasons.append(Reason("lock_division", "panel", sid,
                                  f"评审组 {slot.name}: 锁定的评委 {j} 属其他赛区",
                                  f"panel {slot.name}: locked judge {j} belongs to another division"))
            continue
        if role == "chief" and not chair[i]:
            reasons.append(Reason("lock_chief", "panel", sid,
                                  f"评审组 {slot.name}: 锁定为组长的评委 {j} 未标记为可任组长",
                                  f"panel {slot.name}: judge {j} locked as chief cannot chair"))
            continue
        lock_set.discard((j, sid, "member" if role == "chief" else "chief"))
        if role == "member" and (j, sid, "chief") in lock_set:
            continue
        lock_set.add((j, sid, role))
    by_slot_locks: dict = defaultdict(list)
    for j, sid, role in lock_set:
        by_slot_locks[sid].append((j, role))
    for sid, rows in by_slot_locks.items():
        slot = slot_list[spos[sid]]
        if len(rows) > size:
            reasons.append(Reason("lock_overfull", "panel", sid, f"评审组 {slot.name}: 锁定了 {len(rows)} 名评委，超过 {size} 名",
                                  f"panel {slot.name}: {len(rows)} judges locked, more than {size}"))
        if sum(role == "chief" for _, role in rows) > 1:
            reasons.append(Reason("lock_chief", "panel", sid, f"评审组 {slot.name}: 锁定了多名组长",
                                  f"panel {slot.name}: more than one chief locked"))
        for attr, on, zh in (("unit", distinct_units, "单位"), ("province", distinct_provinces, "省份")):
            if on:
                vals = Counter(getattr(index.judges[j], attr) for j, _ in rows if getattr(index.judges[j], attr) not in (None, ""))
                for v, n in vals.items():
                    if n > 1:
                        reasons.append(Reason("lock_same_" + attr, "panel", sid,
                                              f"评审组 {slot.name}: 锁定的 {n} 名评委同属“{v}”，本组要求{zh}互不相同",
                                              f"panel {slot.name}: {n} locked judges share {attr} {v}"))
    for j, n in Counter(j for j, _, _ in lock_set).items():
        if n > max_panels:
            reasons.append(Reason("lock_overfull", "judge", j, f"评委 {j}: 锁定在 {n} 个评审组，超过每人 {max_panels} 个",
                                  f"judge {j}: locked on {n} panels, more than {max_panels}"))

    # Per panel: enough eligible judges, units, teachers, chairs?
    for k, slot in enumerate(slot_list):
        elig = np.nonzero(E[:, k])[0]
        n = len(elig)
        excluded = [jids[i] for i in range(nj) if not E[i, k]]
        if n < size:
            counts = _exclusion_counts(index, [j for j in excluded if blocked[jpos[j], k]], slot.entries)
            n_div = int((other_div[:, k] & ~blocked[:, k]).sum())
            if n_div:
                counts[_OTHER_DIVISION] = n_div
            zh, en = _breakdown(counts)
            reasons.append(Reason(
                "panel_too_few_judges", "panel", slot.id,
                f"评审组 {slot.name}: 只有 {n} 名评委可任（需要 {size} 名）：共 {nj} 名评委" + (f"，{zh}" if zh else ""),
                f"panel {slot.name}: only {n} eligible judges (needs {size}) of {nj}" + (f": {en}" if en else ""),
                dict(counts)))
            continue
        if distinct_units:
            units = {J[i].unit if J[i].unit not in (None, "") else ("__none__", i) for i in elig}
            if len(units) < size:
                reasons.append(Reason(
                    "panel_too_few_units", "panel", slot.id,
                    f"评审组 {slot.name}: 可任的 {n} 名评委只来自 {len(units)} 个单位（同组评委须来自 {size} 个不同单位）",
                    f"panel {slot.name}: its {n} eligible judges come from only {len(units)} units (needs {size})",
                    {"eligible": n, "units": len(units)}))
        if distinct_provinces:
            provs = {J[i].province if J[i].province not in (None, "") else ("__none__", i) for i in elig}
            if len(provs) < size:
                reasons.append(Reason(
                    "panel_too_few_provinces", "panel", slot.id,
                    f"评审组 {slot.name}: 可任的 {n} 名评委只来自 {len(provs)} 个省份（需要 {size} 个）",
                    f"panel {slot.name}: its {n} eligible judges come from only {len(provs)} provinces (needs {size})",
                    {"eligible": n, "provinces": len(provs)}))
        n_t = int(teacher[elig].sum())
        if n_t < teacher_seats:
            n_t_all = int(teacher.sum())
            reasons.append(Reason(
                "panel_no_teacher", "panel", slot.id,
                f"评审组 {slot.name}: 只有 {n_t} 名学校科学教师可任（需要 {teacher_seats} 名；共 {n_t_all} 名教师，其余回避或属其他赛区）",
                f"panel {slot.name}: only {n_t} eligible school teachers (needs {teacher_seats}; {n_t_all} in all)",
                {"eligible_teachers": n_t, "teachers": n_t_all}))
        if chief and not chair[elig].any():
            reasons.append(Reason(
                "panel_no_chair", "panel", slot.id,
                f"评审组 {slot.name}: 没有可任组长的评委（共 {int(chair.sum())} 名可任组长，均回避或属其他赛区）",
                f"panel {slot.name}: no eligible judge can chair ({int(chair.sum())} chairs in all)",
                {"chairs": int(chair.sum())}))

    # With recusal: can every entry keep min_scoring judges who may score it?
    entry_rows: list[tuple[int, Hashable]] = []     # (slot index, entry id)
    if min_scoring is not None:
        for k, slot in enumerate(slot_list):
            for e in slot.entries:
                entry_rows.append((k, e))
                n = int((E[:, k] & ~H[:, col[e]]).sum())
                if n < min_scoring:
                    cands = [jids[i] for i in range(nj) if E[i, k] and H[i, col[e]]]
                    counts = _exclusion_counts(index, cands, [e])
                    zh, en = _breakdown(counts)
                    reasons.append(Reason(
                        "entry_too_few_judges", "entry", e,
                        f"{e}: 评审组 {slot.name} 只有 {n} 名评委可为其评分（至少需要 {min_scoring} 名）"
                        + (f"：{zh}" if zh else ""),
                        f"{e}: only {n} judges of panel {slot.name} may score it (needs {min_scoring})"
                        + (f": {en}" if en else ""), dict(counts)))

    # Totals.
    seats = size * ns
    capacity = int(np.minimum(E.sum(axis=1), max_panels).sum())
    if seats > capacity:
        reasons.append(Reason("capacity_over", "capacity", None,
                              f"{ns} 个评审组共需 {seats} 个席位，但评委最多能坐 {capacity} 个（每人最多 {max_panels} 个组，且须无冲突）",
                              f"{ns} panels need {seats} seats but judges can fill at most {capacity} (max {max_panels} each)"))
    t_cap = int(np.minimum(E[teacher].sum(axis=1), max_panels).sum()) if teacher.any() else 0
    if teacher_seats * ns > t_cap:
        reasons.append(Reason("capacity_teachers", "capacity", None,
                              f"需要 {teacher_seats * ns} 个学校教师席位，但 {int(teacher.sum())} 名教师最多能坐 {t_cap} 个",
                              f"{teacher_seats * ns} teacher seats needed, teachers can fill {t_cap}"))
    c_cap = int(np.minimum(E[chair].sum(axis=1), max_panels).sum()) if chair.any() else 0
    if chief and ns > c_cap:
        reasons.append(Reason("capacity_chairs", "capacity", None,
                              f"需要 {ns} 名组长，但 {int(chair.sum())} 名可任组长的评委最多能任 {c_cap} 个组",
                              f"{ns} chiefs needed, chairs can sit on {c_cap} panels"))
    if reasons:
        raise Infeasible(reasons)

    # Objective.
    rng = np.random.default_rng(seed)
    match = np.array([[expertise_match(j, s.category) for s in slot_list] for j in J])
    P = index.penalty_matrix(jids, all_entries) if all_entries else np.zeros((nj, 0))
    soft = np.zeros((nj, ns))
    for k, s in enumerate(slot_list):
        if s.entries:
            soft[:, k] = P[:, [col[e] for e in s.entries]].sum(axis=1)
    score = expertise_weight * match - soft + noise * rng.random((nj, ns))
    if min_scoring is not None:
        score = score - (expertise_weight if recusal_weight is None else recusal_weight) * recusals
    prev = np.zeros((nj, ns), dtype=bool)
    for row in previous:
        j, sid = row[0], row[1]
        if j in jpos and sid in spos:
            prev[jpos[j], spos[sid]] = True
    if prev.any():
        score = score + (10.0 * max(expertise_weight, 1.0) if keep_weight is None else keep_weight) * prev

    ri, rk = np.nonzero(E)
    nv = len(ri)
    big = 1.0 + 2.0 * seats * (float(np.abs(score).max(initial=1.0)) + 1.5 * expertise_weight + noise) * max_panels
    if balance_weight is not None:
        big += 2.0 * seats * balance_weight * max_panels
    # Slack columns: size shortfall | teacher shortfall | chair shortfall (per panel) |
    # scorer shortfall (per entry, with recusal).
    n_slack = 3 * ns + len(entry_rows)
    rows, cols, vals, lo_b, hi_b = [], [], [], [], []
    r = 0

    def add_row(var_idx, lo, hi, slack=None):
        nonlocal r
        rows.extend([r] * len(var_idx))
        cols.extend(var_idx)
        vals.extend([1.0] * len(var_idx))
        if slack is not None:
            rows.append(r)
            cols.append(slack)
            vals.append(1.0)
        lo_b.append(lo)
        hi_b.append(hi)
        r += 1

    vars_by_slot: dict[int, list[int]] = defaultdict(list)
    vars_by_judge: dict[int, list[int]] = defaultdict(list)
    for v, (i, k) in enumerate(zip(ri.tolist(), rk.tolist())):
        vars_by_slot[k].append(v)
        vars_by_judge[i].append(v)
    for k in range(ns):
        vs = vars_by_slot[k]
        add_row(vs, size, size, nv + k)
        if teacher_seats:
            add_row([v for v in vs if teacher[ri[v]]], teacher_seats, np.inf, nv + ns + k)
        if chief:
            add_row([v for v in vs if chair[ri[v]]], 1, np.inf, nv + 2 * ns + k)
        for attr, on in (("unit", distinct_units), ("province", distinct_provinces)):
            if not on:
                continue
            groups: dict = defaultdict(list)
            for v in vs:
                val = getattr(J[ri[v]], attr)
                if val not in (None, ""):
                    groups[val].append(v)
            for g in groups.values():
                if len(g) > 1:
                    add_row(g, 0, 1)
    for t, (k, e) in enumerate(entry_rows):
        add_row([v for v in vars_by_slot[k] if not H[ri[v], col[e]]], min_scoring, np.inf, nv + 3 * ns + t)
    for i in range(nj):
        if len(vars_by_judge[i]) > max_panels:
            add_row(vars_by_judge[i], 0, max_panels)
    # Load balance: judge i's load = Σ_t y[i,t] with y[i,t] ∈ [0,1] costing bw × t; the costs
    # rise with t, so the LP fills y[i,1], y[i,2], ... in order: a convex (≈ quadratic) cost.
    bw = 1.5 * expertise_weight + noise if balance_weight is None else balance_weight
    y_cost: list[float] = []
    if max_panels > 1 and bw > 0:
        for i in range(nj):
            vs = vars_by_judge[i]
            if len(vs) < 2:
                continue
            steps = min(max_panels, len(vs))
            first = nv + n_slack + len(y_cost)
            rows.extend([r] * (len(vs) + steps))
            cols.extend(list(vs) + list(range(first, first + steps)))
            vals.extend([1.0] * len(vs) + [-1.0] * steps)
            lo_b.append(0.0)
            hi_b.append(0.0)
            r += 1
            y_cost.extend(bw * t for t in range(1, steps + 1))
    ny = len(y_cost)
    A = sparse.csr_matrix((vals, (rows, cols)), shape=(r, nv + n_slack + ny))
    c = np.concatenate([-score[ri, rk], np.full(n_slack, big), np.array(y_cost)])
    lb = np.zeros(nv + n_slack + ny)
    ub = np.concatenate([np.ones(nv), np.full(ns, size), np.full(ns, max(teacher_seats, 0)), np.ones(ns),
                         np.full(len(entry_rows), min_scoring or 0), np.ones(ny)])
    var_of = {(int(a), int(b)): v for v, (a, b) in enumerate(zip(ri, rk))}
    for j, sid, _ in lock_set:
        lb[var_of[(jpos[j], spos[sid])]] = 1.0
    integrality = np.concatenate([np.ones(nv), np.zeros(n_slack + ny)])
    res = _solve(c, A, np.array(lo_b, dtype=float), np.array(hi_b, dtype=float), lb, ub, integrality, time_limit)
    x = res.x
    X = np.zeros((nj, ns), dtype=bool)
    X[ri, rk] = x[:nv] > 0.5
    slack = x[nv:nv + n_slack]
    if (slack > 0.5).any():
        raise Infeasible(_explain_panel_shortfall(slot_list, E, teacher, chair, slack, size, teacher_seats,
                                                  max_panels, entry_rows, min_scoring))

    # Chiefs: a locked chief, else the panel's chair with the fewest chief duties so far,
    # then the best expertise, then the seeded noise.
    chief_lock = {sid: j for j, sid, role in lock_set if role == "chief"}
    tie = rng.random((nj, ns))
    duties: Counter = Counter(chief_lock.values())
    panels = []
    for k, slot in enumerate(slot_list):
        members = [jids[i] for i in range(nj) if X[i, k]]
        head = None
        if chief:
            head = chief_lock.get(slot.id)
            if head is None:
                cands = [i for i in range(nj) if X[i, k] and chair[i]]
                if cands:
                    best = min(cands, key=lambda i: (duties[jids[i]], -match[i, k], tie[i, k]))
                    head = jids[best]
                    duties[head] += 1
        rec = tuple((j, e) for j in members for e in slot.entries
                    if min_scoring is not None and H[jpos[j], col[e]])
        panels.append(Panel(slot, tuple(members), head, rec))
    loads = X.sum(axis=1)
    stats = {
        "seconds": time.perf_counter() - t0,
        "variables": nv,
        "expertise": float(match[X].sum()),
        "soft_cost": float(soft[X].sum()),
        "load_min": int(loads.min()),
        "load_max": int(loads.max()),
        "judges_used": int((loads > 0).sum()),
        "recusals": int(recusals[X].sum()) if min_scoring is not None else 0,
        "objective": float(-res.fun),
    }
    spec = PanelSpec(jids, slot_list, size, teacher_seats, chief, distinct_units, distinct_provinces,
                     max_panels, home_division, frozenset(lock_set), min_scoring)
    warnings = () if res.status == 0 else (f"求解器未证明最优：{res.message}",)
    return PanelPlan(spec, tuple(panels), seed, stats, warnings)


def _explain_panel_shortfall(slots, E, teacher, chair, slack, size, teacher_seats, max_panels,
                             entry_rows=(), min_scoring=None) -> list[Reason]:
    ns = len(slots)
    out = []
    for t, (k, e) in enumerate(entry_rows):
        miss = int(round(slack[3 * ns + t]))
        if miss:
            out.append(Reason(
                "entry_uncovered", "entry", e,
                f"{e}: 评审组 {slots[k].name} 中可为其评分的评委缺 {miss} 名（至少需要 {min_scoring} 名）：可评的评委已安排到其他评审组",
                f"{e}: {miss} scorer(s) short on panel {slots[k].name} (needs {min_scoring}): "
                "the judges who may score it sit on other panels", {"missing": miss}))
    for k, slot in enumerate(slots):
        n = int(E[:, k].sum())
        miss = int(round(slack[k]))
        if miss:
            out.append(Reason(
                "panel_unfilled", "panel", slot.id,
                f"评审组 {slot.name}: 缺 {miss} 名评委：可任的 {n} 名评委中，其余已安排到其他评审组（每人最多 {max_panels} 个）或与组内评委同单位",
                f"panel {slot.name}: {miss} judge(s) short: of its {n} eligible judges the rest sit on other "
                f"panels (max {max_panels} each) or share a unit with the panel",
                {"eligible": n, "missing": miss}))
        if slack[ns + k] > 0.5:
            out.append(Reason(
                "panel_no_teacher", "panel", slot.id,
                f"评审组 {slot.name}: 缺学校科学教师：可任的 {int(teacher[E[:, k]].sum())} 名教师已安排到其他评审组",
                f"panel {slot.name}: no school teacher left: its eligible teachers sit on other panels",
                {"eligible_teachers": int(teacher[E[:, k]].sum())}))
        if slack[2 * ns + k] > 0.5:
            out.append(Reason(
                "panel_no_chair", "panel", slot.id,
                f"评审组 {slot.name}: 缺组长：可任组长的 {int(chair[E[:, k]].sum())} 名评委已安排到其他评审组",
                f"panel {slot.name}: no chair left: its eligible chairs sit on other panels",
                {"eligible_chairs": int(chair[E[:, k]].sum())}))
    return out


def replan_panels(plan: PanelPlan, index: ConflictIndex, *, seed: int | None = None, **kwargs) -> PanelPlan:
    """Re-run after conflicts changed: keeps the locks and every still-valid seat it can."""
    s = plan.spec
    keep = [(j, p.slot.id) for p in plan.panels for j in p.judges
            if s.min_scoring is not None or not any(index.is_hard(j, e) for e in p.slot.entries)]
    return assign_panels(s.judges, s.slots, index, size=s.size, teacher_seats=s.teacher_seats,
                         chief=s.chief, distinct_units=s.distinct_units,
                         distinct_provinces=s.distinct_provinces, max_panels=s.max_panels,
                         home_division=s.home_division, min_scoring=s.min_scoring, locks=s.locks, previous=keep,
                         seed=plan.seed if seed is None else seed, **kwargs)


# ----------------------------------------------------------------------------------------
# Independent checker
# ----------------------------------------------------------------------------------------

def verify(plan: PanelPlan | ReviewPlan, index: ConflictIndex, spec: PanelSpec | ReviewSpec | None = None) -> list[str]:
    """Every rule the plan breaks, as Chinese messages naming ids (empty list: the plan is
    valid). Checks pair by pair through `index.conflict`, independently of the solver."""
    spec = spec or plan.spec
    if isinstance(spec, ReviewSpec):
        return _verify_reviews(plan, index, spec)
    return _verify_panels(plan, index, spec)


def _verify_reviews(plan: ReviewPlan, index: ConflictIndex, spec: ReviewSpec) -> list[str]:
    out = []
    judges, entries = set(spec.judges), set(spec.entries)
    by_entry: dict = defaultdict(list)
    load: Counter = Counter()
    for j, e in plan.pairs:
        if j not in judges:
            out.append(f"{e}: 评委 {j} 不在本次评委名单中")
        if e not in entries:
            out.append(f"作品 {e} 不在本次作品名单中")
        by_entry[e].append(j)
        load[j] += 1
        c = index.conflict(j, e)
        if c is not None and c.hard:
            out.append(f"{e}: 评委 {j} 回避冲突：{c.message}")
    for e in spec.entries:
        got = by_entry.get(e, [])
        if len(set(got)) != len(got):
            out.append(f"{e}: 同一评委被分配了两次")
        if len(got) != spec.per_entry:
            out.append(f"{e}: 分到 {len(got)} 名评委，应为 {spec.per_entry} 名")
    for j in spec.judges:
        if not spec.min_load <= load[j] <= spec.max_load:
            out.append(f"评委 {j}: 工作量 {load[j]} 不在 [{spec.min_load}, {spec.max_load}] 内")
    pairs = set(plan.pairs)
    for j, e in spec.locks:
        if (j, e) not in pairs:
            out.append(f"{e}: 锁定的评委 {j} 未保留")
    return out


def _verify_panels(plan: PanelPlan, index: ConflictIndex, spec: PanelSpec) -> list[str]:
    out = []
    judges = set(spec.judges)
    panels = {p.slot.id: p for p in plan.panels}
    load: Counter = Counter()
    for slot in spec.slots:
        p = panels.get(slot.id)
        if p is None:
            out.append(f"评审组 {slot.name}: 未组建")
            continue
        members = list(p.judges)
        recused = set(p.recusals)
        if len(set(members)) != len(members):
            out.append(f"评审组 {slot.name}: 同一评委出现两次")
        if len(set(members)) != spec.size:
            out.append(f"评审组 {slot.name}: {len(set(members))} 名评委，应为 {spec.size} 名")
        J = []
        for j in dict.fromkeys(members):
            load[j] += 1
            if j not in judges:
                out.append(f"评审组 {slot.name}: 评委 {j} 不在本次评委名单中")
            J.append(index.judges[j])
            for e in slot.entries:
                c = index.conflict(j, e)
                if c is not None and c.hard:
                    if spec.min_scoring is None:
                        out.append(f"评审组 {slot.name}: 评委 {j} 与选手 {e} 回避冲突：{c.message}")
                    elif (j, e) not in recused:
                        out.append(f"评审组 {slot.name}: 评委 {j} 未回避选手 {e}：{c.message}")
        if spec.min_scoring is not None:
            for e in slot.entries:
                n = sum(1 for j in dict.fromkeys(members) if (j, e) not in recused and not index.is_hard(j, e))
                if n < spec.min_scoring:
                    out.append(f"{e}: 评审组 {slot.name} 只有 {n} 名评委可为其评分，至少应有 {spec.min_scoring} 名")
            if spec.home_division and slot.division is not None and index.judges[j].division != slot.division:
                out.append(f"评审组 {slot.name}: 评委 {j} 属其他赛区")
        n_t = sum(j.is_school_teacher for j in J)
        if n_t < spec.teacher_seats:
            out.append(f"评审组 {slot.name}: 学校科学教师 {n_t} 名，至少应有 {spec.teacher_seats} 名")
        for attr, on in (("unit", spec.distinct_units), ("province", spec.distinct_provinces)):
            if on:
                vals = Counter(getattr(j, attr) for j in J if getattr(j, attr) not in (None, ""))
                for v, n in vals.items():
                    if n > 1:
                        out.append(f"评审组 {slot.name}: {n} 名评委同属“{v}”")
        if spec.chief:
            if p.chief is None:
                out.append(f"评审组 {slot.name}: 没有组长")
            elif p.chief not in members:
                out.append(f"评审组 {slot.name}: 组长 {p.chief} 不是本组评委")
            elif not index.judges[p.chief].can_chair:
                out.append(f"评审组 {slot.name}: 组长 {p.chief} 未标记为可任组长")
    for j, n in load.items():
        if n > spec.max_panels:
            out.append(f"评委 {j}: 在 {n} 个评审组，每人最多 {spec.max_panels} 个")
    for j, sid, role in spec.locks:
        p = panels.get(sid)
        if p is None or j not in p.judges:
            out.append(f"评审组 {sid}: 锁定的评委 {j} 未保留")
        elif role == "chief" and p.chief != j:
            out.append(f"评审组 {sid}: 锁定的组长 {j} 未保留")
    return out
