"""Simulated designs: the benchmark is only as honest as the designs it runs on.

Each generator must produce the design the docstring promises (who scores what), on the
rubric's grid, deterministically by seed, with a truth that looks like a real competition.
"""
from __future__ import annotations

import numpy as np
import pytest

from scoring.calibrate import components
from scoring.simulate import DESIGNS, complete_panel, divisional, national_review

GENERATORS = [
    ("complete", lambda seed: complete_panel(seed)),
    ("divisional neighbour", lambda seed: divisional(seed)),
    ("divisional national", lambda seed: divisional(seed, bridge="national")),
    ("national review", lambda seed: national_review(seed)),
]
IDS = [g[0] for g in GENERATORS]


@pytest.mark.parametrize("name, make", GENERATORS, ids=IDS)
def test_same_seed_same_design_other_seed_other_design(name, make):
    a, b, c = make(7), make(7), make(8)
    for field in ("quality", "group", "bias", "scale"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    for field in ("entry_idx", "judge_idx", "values"):
        np.testing.assert_array_equal(getattr(a.matrix, field), getattr(b.matrix, field))
    assert a.matrix.entry_labels == b.matrix.entry_labels
    assert not np.array_equal(a.quality, c.quality)


@pytest.mark.parametrize("name, make", GENERATORS, ids=IDS)
def test_scores_are_marks_a_judge_could_give(name, make):
    sim = make(0)
    m = sim.matrix
    step = 0.01 if name == "national review" else 0.5
    assert ((m.values >= 0) & (m.values <= 100)).all()
    np.testing.assert_allclose(np.round(m.values / step), m.values / step, atol=1e-6)
    pairs = set(zip(m.entry_idx.tolist(), m.judge_idx.tolist()))
    assert len(pairs) == m.values.size                  # one mark per judge and entry
    assert sim.quality.shape == (m.n_entries,) and sim.bias.shape == sim.scale.shape == (m.n_judges,)
    assert len(components(m)) == 1                      # every design is connected


@pytest.mark.parametrize("name, make", GENERATORS, ids=IDS)
def test_truth_looks_like_a_competition(name, make):
    quality = np.concatenate([make(s).quality for s in range(5)])
    bias = np.concatenate([make(s).bias for s in range(5)])
    scale = np.concatenate([make(s).scale for s in range(5)])
    assert 72 < quality.mean() < 78 and 6 < quality.std() < 10
    assert 2 < bias.std() < 4
    assert 0.05 < np.mean(scale != 1.0) < 0.3 and (scale > 0.4).all() and (scale < 2.5).all()


def test_complete_panel_every_judge_scores_every_entry():
    m = complete_panel(0).matrix
    assert (m.n_entries, m.n_judges) == (30, 9)
    assert not np.isnan(m.dense()).any()


@pytest.mark.parametrize("bridge", ["neighbour", "national"])
def test_divisional_round_local_panels_and_thin_bridges(bridge):
    sim = divisional(3, bridge=bridge)
    m, group = sim.matrix, sim.group
    assert group.max() + 1 == 31
    sizes = np.bincount(group)
    assert 35 <= sizes.min() and sizes.max() <= 65
    # Local panel d (judges 7d .. 7d+6) scores every entry of division d.
    dense = ~np.isnan(m.dense())
    for d in range(31):
        assert dense[group == d][:, 7 * d:7 * d + 7].all()
    # Cross-division scores are few: the thin bridges of the design.
    local = np.arange(m.n_judges) // 7
    crossing = group[m.entry_idx] != np.where(m.judge_idx < 31 * 7, local[m.judge_idx], -1)
    assert 0 < crossing.sum() <= 31 * 2 * 10
    # Divisions really differ in quality (this is what breaks z-scores).
    division_means = np.bincount(group, weights=sim.quality) / sizes
    assert division_means.std() > 2


def test_national_review_five_reviewers_per_entry_even_loads():
    sim = national_review(11)
    m = sim.matrix
    assert (m.n_entries, m.n_judges, m.values.size) == (427, 60, 427 * 5)
    per_entry = np.bincount(m.entry_idx)
    assert (per_entry == 5).all()
    loads = np.bincount(m.judge_idx, minlength=60)
    assert loads.max() - loads.min() <= 1
    # Well mixed: each reviewer shares entries with most others, no pair with many.
    dense = ~np.isnan(m.dense())
    overlap = dense.T.astype(int) @ dense.astype(int)
    np.fill_diagonal(overlap, 0)
    assert overlap.max() <= 10
    assert ((overlap > 0).sum(axis=1) >= 40).all()


def test_national_review_scales_to_the_speed_benchmark():
    m = national_review(0, n_entries=10_000, n_judges=2_000).matrix
    assert m.values.size == 50_000
    loads = np.bincount(m.judge_idx)
    assert loads.max() - loads.min() <= 1


def test_bad_design_arguments_are_refused():
    with pytest.raises(ValueError, match="bridge"):
        divisional(0, bridge="ferry")
    with pytest.raises(ValueError, match="per_entry"):
        national_review(0, n_judges=3, per_entry=5)


def test_designs_registry_names_every_generator():
    assert set(DESIGNS) == {"complete", "divisional", "national_review"}
