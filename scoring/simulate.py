"""Simulated judging designs with a known truth, for tests and the accuracy benchmark.

Every generator is deterministic given its seed and returns a `Simulated`: the scores as a
`ScoreMatrix` plus what produced them (true qualities, judge biases and scales, groups).
The score model is the one the calibration assumes, made realistic:

    score = clip(round_to_step(75 + bias_j + scale_j × (quality_i − 75) + noise), 0, 100)

* true quality: mean 75 and sd 8 on the 100-point scale. Where entries come from divisions
  (provinces) the divisions differ: a division offset with sd 4 plus within-division sd √48,
  so the total sd stays 8. A strong province really does send stronger docents.
* judge bias (harsh or lenient): sd 3 points.
* judge scale: most judges use the scale like the average judge (scale 1); a few (15% by
  default) stretch or compress it, scale = exp(N(0, 0.25²)) (roughly 0.6–1.6).
* noise (a judge's disagreement with the panel about one entry): sd 4.
* scores are clipped to [0, 100] and rounded to the rubric's step: 0.5 for live panels and
  divisional rounds (criteria in half points), 0.01 for the video review (one 0–100 mark).

The truth of entry i is `quality_i`: the mark an average judge (bias 0, scale 1) would give
without noise, which is what `scoring.calibrate.fit(...).quality` estimates.

Designs (DOMAIN.md, "The docent competition in numbers"):

* `complete_panel`: a live final panel, 9 judges score all of ~30 entries.
* `divisional`: 31 divisions, each with a local panel of 7 that scores every entry of its
  division (~50 entries, as 1,556 projects / 31). Assumption, documented because the real
  bridging is not published: panels are not disjoint. `bridge="neighbour"` (default): in each
  division 2 panel members also score a sample of 10 entries of a neighbouring division
  (divisions in a random ring, so neighbours are not alike in quality), as happens when a
  province invites judges from the next province. `bridge="national"`: instead a pool of 8
  national judges (全国评委) visits the divisions, each division visited by 2 of them, each
  scoring the same sample of 10 of its entries. Either way the judge–entry graph is connected,
  but only thinly: most comparisons across divisions rest on a few judges.
* `national_review`: the national preliminary review, 427 entries, 60 reviewers, 5 reviewers
  per entry, loads even (35 or 36 each), a random well-mixed assignment (consecutive windows of
  a sequence of random permutations of the reviewers). Also used at 10,000 × 5 for speed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scoring.table import ScoreMatrix

__all__ = [
    "Simulated",
    "complete_panel",
    "divisional",
    "national_review",
    "DESIGNS",
]

CENTRE = 75.0           # mean true quality on the 100-point scale
QUALITY_SD = 8.0        # sd of true quality over all entries
DIVISION_SD = 4.0       # sd of division (province) offsets, part of QUALITY_SD
BIAS_SD = 3.0           # sd of judge bias (harsh / lenient), points
NOISE_SD = 4.0          # sd of one judge's disagreement on one entry, points
SCALE_SHARE = 0.15      # share of judges whose scale differs from 1
SCALE_LOG_SD = 0.25     # sd of log(scale) for those judges


@dataclass(frozen=True, eq=False)
class Simulated:
    """A simulated design: scores plus the truth that produced them.

    `quality` is aligned with `matrix.entry_labels`, `bias` and `scale` with
    `matrix.judge_labels`; `group` gives each entry's division / province index (all 0 when
    the design has none)."""

    design: str
    matrix: ScoreMatrix
    quality: np.ndarray
    group: np.ndarray
    bias: np.ndarray
    scale: np.ndarray


def _qualities(rng: np.random.Generator, group: np.ndarray, n_groups: int) -> np.ndarray:
    if n_groups <= 1:
        return CENTRE + QUALITY_SD * rng.standard_normal(group.size)
    offsets = DIVISION_SD * rng.standard_normal(n_groups)
    within = np.sqrt(QUALITY_SD**2 - DIVISION_SD**2)
    return CENTRE + offsets[group] + within * rng.standard_normal(group.size)


def _judges(rng: np.random.Generator, n: int, scale_share: float) -> tuple[np.ndarray, np.ndarray]:
    bias = BIAS_SD * rng.standard_normal(n)
    scale = np.ones(n)
    odd = rng.random(n) < scale_share
    scale[odd] = np.exp(SCALE_LOG_SD * rng.standard_normal(int(odd.sum())))
    return bias, scale


def _score(rng, quality, bias, scale, e, j, step, noise_sd) -> np.ndarray:
    raw = CENTRE + bias[j] + scale[j] * (quality[e] - CENTRE) + noise_sd * rng.standard_normal(e.size)
    # Round half away from zero on the step grid (np.round would round half to even).
    snapped = np.floor(raw / step + 0.5) * step
    return np.clip(np.round(snapped, 2), 0.0, 100.0)


def _build(design, rng, quality, group, bias, scale, e, j, step, noise_sd, prefix_e, prefix_j):
    values = _score(rng, quality, bias, scale, e, j, step, noise_sd)
    order = np.lexsort((j, e))        # rows grouped by entry, as score sheets usually arrive
    matrix = ScoreMatrix.from_arrays(
        e[order], j[order], values[order],
        entry_labels=[f"{prefix_e}{i + 1:04d}" for i in range(quality.size)],
        judge_labels=[f"{prefix_j}{k + 1:03d}" for k in range(bias.size)],
    )
    return Simulated(design, matrix, quality, group, bias, scale)


def complete_panel(seed: int, n_entries: int = 30, n_judges: int = 9, *, step: float = 0.5,
                   bias_sd: float = BIAS_SD, scale_share: float = SCALE_SHARE,
                   noise_sd: float = NOISE_SD) -> Simulated:
    """A live panel: every judge scores every entry (the official trimmed mean applies)."""
    rng = np.random.default_rng([seed, 1])
    group = np.zeros(n_entries, dtype=np.int64)
    quality = _qualities(rng, group, 1)
    bias, scale = _judges(rng, n_judges, scale_share)
    bias = bias * (bias_sd / BIAS_SD)
    e, j = (a.ravel() for a in np.meshgrid(np.arange(n_entries), np.arange(n_judges), indexing="ij"))
    return _build("complete", rng, quality, group, bias, scale, e, j, step, noise_sd, "E", "J")


def divisional(seed: int, n_divisions: int = 31, panel: int = 7, *, entries: tuple[int, int] = (35, 65),
               bridge: str = "neighbour", cross_judges: int = 2, cross_sample: int = 10,
               n_national: int = 8, national_per_division: int = 2, step: float = 0.5,
               scale_share: float = SCALE_SHARE, noise_sd: float = NOISE_SD) -> Simulated:
    """Regional rounds: local panels of `panel` judges score all entries of their division;
    divisions differ in true quality; thin bridges connect them (see the module docstring).

    `entries` is the inclusive range of entries per division (uniform)."""
    if bridge not in ("neighbour", "national"):
        raise ValueError(f"bridge must be 'neighbour' or 'national', not {bridge!r}")
    rng = np.random.default_rng([seed, 2])
    sizes = rng.integers(entries[0], entries[1] + 1, size=n_divisions)
    group = np.repeat(np.arange(n_divisions), sizes)
    starts = np.concatenate(([0], np.cumsum(sizes)))
    quality = _qualities(rng, group, n_divisions)
    n_local = n_divisions * panel
    n_extra = n_national if bridge == "national" else 0
    bias, scale = _judges(rng, n_local + n_extra, scale_share)

    es, js = [], []
    for d in range(n_divisions):                      # the local panels: complete blocks
        ent = np.arange(starts[d], starts[d + 1])
        for k in range(panel):
            es.append(ent)
            js.append(np.full(ent.size, d * panel + k))
    if bridge == "neighbour":
        ring = rng.permutation(n_divisions)           # neighbours are not alike in quality
        for pos, d in enumerate(ring):
            nxt = ring[(pos + 1) % n_divisions]
            crossers = d * panel + rng.choice(panel, size=cross_judges, replace=False)
            sample = starts[nxt] + rng.choice(sizes[nxt], size=min(cross_sample, sizes[nxt]), replace=False)
            for judge in crossers:
                es.append(sample)
                js.append(np.full(sample.size, judge))
    else:
        # Each division is visited by `national_per_division` distinct national judges with
        # even loads (the same windows as the national review), redrawn until connected.
        for _ in range(1000):
            who = _even_windows(rng, n_divisions, n_national, national_per_division)
            who = who.reshape(n_divisions, national_per_division)
            if _national_connected(who, n_national):
                break
        else:  # pragma: no cover - succeeds within a few draws for any sensible sizes
            raise RuntimeError("could not connect the divisions through the national judges")
        for d in range(n_divisions):
            sample = starts[d] + rng.choice(sizes[d], size=min(cross_sample, sizes[d]), replace=False)
            for k in who[d]:
                es.append(sample)
                js.append(np.full(sample.size, n_local + k))
    e = np.concatenate(es)
    j = np.concatenate(js)
    return _build(f"divisional:{bridge}", rng, quality, group, bias, scale, e, j, step, noise_sd, "E", "J")


def _national_connected(who: np.ndarray, n_national: int) -> bool:
    """Whether divisions linked by shared national judges form one connected graph."""
    parent = list(range(n_national))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for row in who:
        for k in row[1:]:
            parent[find(int(k))] = find(int(row[0]))
    return len({find(k) for k in range(n_national)}) == 1


def national_review(seed: int, n_entries: int = 427, n_judges: int = 60, per_entry: int = 5, *,
                    n_provinces: int = 31, step: float = 0.01, scale_share: float = SCALE_SHARE,
                    noise_sd: float = NOISE_SD) -> Simulated:
    """The national preliminary review: each entry is scored by `per_entry` distinct reviewers,
    every reviewer's load is within one of every other's, and the assignment is random."""
    if per_entry > n_judges:
        raise ValueError("per_entry cannot exceed n_judges")
    rng = np.random.default_rng([seed, 3])
    group = rng.integers(0, n_provinces, size=n_entries)
    quality = _qualities(rng, group, n_provinces)
    bias, scale = _judges(rng, n_judges, scale_share)
    j = _even_windows(rng, n_entries, n_judges, per_entry)
    e = np.repeat(np.arange(n_entries), per_entry)
    return _build("national_review", rng, quality, group, bias, scale, e, j, step, noise_sd, "V", "R")


def _even_windows(rng: np.random.Generator, n_entries: int, n_judges: int, per_entry: int) -> np.ndarray:
    """Reviewers for each entry: consecutive windows of `per_entry` over a sequence of random
    permutations of all reviewers. Each permutation is redrawn until its first `per_entry - 1`
    reviewers differ from the previous one's last `per_entry - 1`, so no window repeats a
    reviewer; loads differ by at most one because the sequence is whole permutations plus a
    prefix of one more."""
    need = n_entries * per_entry
    blocks = []
    tail = np.empty(0, dtype=np.int64)
    total = 0
    overlap = per_entry - 1
    while total < need:
        for _ in range(10_000):
            perm = rng.permutation(n_judges)
            if overlap == 0 or not np.intersect1d(perm[:overlap], tail).size:
                break
        blocks.append(perm)
        tail = perm[-overlap:] if overlap else tail
        total += n_judges
    return np.concatenate(blocks)[:need]


DESIGNS = {
    "complete": complete_panel,
    "divisional": divisional,
    "national_review": national_review,
}
