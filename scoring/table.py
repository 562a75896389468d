"""Scores as coded arrays: the shared input of calibration, reliability and monitoring.

One row per (entry, judge) pair holding that judge's total for the entry. Labels are kept
once; the rows carry integer indices so the maths runs on numpy arrays (10,000 entries × 5
reviewers is 50,000 rows and must be cheap). Absent and recused judges simply have no row.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np


@dataclass(frozen=True)
class ScoreMatrix:
    entry_labels: tuple[str, ...]
    judge_labels: tuple[str, ...]
    entry_idx: np.ndarray   # int64, shape (n,)
    judge_idx: np.ndarray   # int64, shape (n,)
    values: np.ndarray      # float64, shape (n,)

    @classmethod
    def from_triples(cls, triples: Iterable[tuple[str, str, float]]) -> "ScoreMatrix":
        """Build from (entry, judge, value) triples. A pair seen twice is an error: one judge
        has one total per entry. Labels keep first-seen order."""
        entries: dict[str, int] = {}
        judges: dict[str, int] = {}
        e_idx, j_idx, vals = [], [], []
        seen: set[tuple[int, int]] = set()
        for entry, judge, value in triples:
            e = entries.setdefault(str(entry), len(entries))
            j = judges.setdefault(str(judge), len(judges))
            if (e, j) in seen:
                raise ValueError(f"judge {judge!r} has more than one score for entry {entry!r}")
            seen.add((e, j))
            e_idx.append(e)
            j_idx.append(j)
            vals.append(float(value))
        return cls(tuple(entries), tuple(judges), np.asarray(e_idx, dtype=np.int64),
                   np.asarray(j_idx, dtype=np.int64), np.asarray(vals, dtype=np.float64))

    @classmethod
    def from_arrays(cls, entry_idx, judge_idx, values, entry_labels=None, judge_labels=None) -> "ScoreMatrix":
        """Build from index arrays (simulations, benchmarks). Labels default to the indices."""
        e = np.asarray(entry_idx, dtype=np.int64)
        j = np.asarray(judge_idx, dtype=np.int64)
        v = np.asarray(values, dtype=np.float64)
        ne = int(e.max()) + 1 if e.size else 0
        nj = int(j.max()) + 1 if j.size else 0
        el = tuple(entry_labels) if entry_labels is not None else tuple(str(i) for i in range(ne))
        jl = tuple(judge_labels) if judge_labels is not None else tuple(str(i) for i in range(nj))
        return cls(el, jl, e, j, v)

    @property
    def n_entries(self) -> int:
        return len(self.entry_labels)

    @property
    def n_judges(self) -> int:
        return len(self.judge_labels)

    def dense(self) -> np.ndarray:
        """n_entries × n_judges with NaN where a judge did not score an entry."""
        out = np.full((self.n_entries, self.n_judges), np.nan)
        out[self.entry_idx, self.judge_idx] = self.values
        return out
