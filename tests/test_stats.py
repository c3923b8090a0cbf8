"""Tests of archon.benchmarks.stats (plain-Python statistics)."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from archon.benchmarks.stats import (
    arena_hard_score,
    bootstrap_ci,
    fit_length_logistic,
    length_controlled_win_rate,
    percentiles,
    win_rate,
)


def _sample(n: int, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(5.0, 2.0) for _ in range(n)]


def test_bootstrap_ci_contains_mean_and_is_ordered():
    xs = _sample(200)
    lo, hi = bootstrap_ci(xs)
    assert lo < statistics.fmean(xs) < hi


def test_bootstrap_ci_narrows_with_more_data():
    small = bootstrap_ci(_sample(30))
    large = bootstrap_ci(_sample(3000))
    assert (large[1] - large[0]) < (small[1] - small[0]) / 3


def test_bootstrap_ci_deterministic_with_seed():
    xs = _sample(100)
    assert bootstrap_ci(xs, seed=3) == bootstrap_ci(xs, seed=3)
    assert bootstrap_ci(xs, seed=3) != bootstrap_ci(xs, seed=4)


def test_bootstrap_ci_custom_stat_and_confidence():
    xs = _sample(300)
    lo90, hi90 = bootstrap_ci(xs, confidence=0.90)
    lo99, hi99 = bootstrap_ci(xs, confidence=0.99)
    assert hi90 - lo90 < hi99 - lo99
    mlo, mhi = bootstrap_ci(xs, stat=statistics.median)
    assert mlo <= statistics.median(xs) <= mhi


def test_bootstrap_ci_edge_cases():
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    assert bootstrap_ci([4.0]) == (4.0, 4.0)
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], confidence=1.5)


def test_percentiles():
    p = percentiles(range(101))
    assert p == {"p50": 50.0, "p90": 90.0, "p99": 99.0}
    q = percentiles([1.0, 2.0, 3.0, 4.0], ps=(0, 50, 100, 99.9))
    assert q["p0"] == 1.0 and q["p100"] == 4.0 and q["p50"] == 2.5
    assert 3.99 < q["p99.9"] <= 4.0
    assert math.isnan(percentiles([])["p50"])


def test_win_rate():
    assert win_rate([1, 0.5, 0, 1]) == pytest.approx(0.625)
    assert math.isnan(win_rate([]))
    with pytest.raises(ValueError):
        win_rate([2])


def _lengths(n: int, seed: int = 1) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    lb = [rng.uniform(500, 1500) for _ in range(n)]
    # The model is usually (not always) longer than the baseline.
    lm = [b + rng.uniform(-300, 900) for b in lb]
    return lm, lb


def test_lc_win_rate_removes_pure_length_advantage():
    lm, lb = _lengths(400)
    outcomes = [1.0 if m > b else 0.0 for m, b in zip(lm, lb)]  # wins exactly when longer
    raw = win_rate(outcomes)
    lc = length_controlled_win_rate(outcomes, lm, lb)
    assert raw > 0.7
    assert abs(lc - 0.5) < abs(raw - 0.5) / 2
    assert abs(lc - 0.5) < 0.15


def test_lc_win_rate_close_to_raw_when_length_is_irrelevant():
    lm, lb = _lengths(400)
    rng = random.Random(99)
    outcomes = [1.0 if rng.random() < 0.7 else 0.0 for _ in lm]
    raw = win_rate(outcomes)
    lc = length_controlled_win_rate(outcomes, lm, lb)
    assert abs(lc - raw) < 0.05


def test_lc_win_rate_with_ties_and_degenerate_inputs():
    lm, lb = _lengths(50)
    assert length_controlled_win_rate([1.0] * 50, lm, lb) == 1.0
    assert length_controlled_win_rate([0.5] * 50, lm, lb) == 0.5
    mixed = [1.0, 0.5, 0.0, 0.5] * 10
    assert length_controlled_win_rate(mixed, [100] * 40, [100] * 40) == pytest.approx(0.5)
    assert 0.0 < length_controlled_win_rate(mixed, lm[:40], lb[:40]) < 1.0
    assert math.isnan(length_controlled_win_rate([], [], []))
    with pytest.raises(ValueError):
        length_controlled_win_rate([1.0], [1, 2], [1])


def test_fit_length_logistic_recovers_intercept():
    rng = random.Random(5)
    xs = [rng.uniform(-1, 1) for _ in range(2000)]
    true_b0, true_b1 = 0.8, 1.5
    ys = [1.0 if rng.random() < 1 / (1 + math.exp(-(true_b0 + true_b1 * x))) else 0.0 for x in xs]
    b0, b1 = fit_length_logistic(ys, xs, l2=0.0)
    assert b0 == pytest.approx(true_b0, abs=0.2)
    assert b1 == pytest.approx(true_b1, abs=0.3)


def test_arena_hard_score():
    rng = random.Random(2)
    outcomes = [rng.choice([0.0, 0.5, 1.0, 1.0]) for _ in range(300)]
    wr, (lo, hi) = arena_hard_score(outcomes, seed=1)
    assert wr == pytest.approx(statistics.fmean(outcomes))
    assert lo < wr < hi
    assert arena_hard_score(outcomes, seed=1) == (wr, (lo, hi))
