"""Small statistics for benchmark summaries, in plain Python (no numpy).

Every rate here is on the 0..1 scale (not percent): win rates, length-controlled
win rates and their confidence bounds. Multiply by 100 when printing percentages.

* :func:`bootstrap_ci` - percentile bootstrap confidence interval of any statistic.
* :func:`percentiles` - latency-style percentiles (linear interpolation, like numpy's default).
* :func:`win_rate` - mean of pairwise outcomes (1 win, 0.5 tie, 0 loss).
* :func:`length_controlled_win_rate` - AlpacaEval 2.0's idea: regress the outcome on the
  length difference and report the win rate the model would have at equal length.
* :func:`arena_hard_score` - Arena-Hard's headline: win rate against the baseline with a
  bootstrap confidence interval.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "arena_hard_score",
    "bootstrap_ci",
    "fit_length_logistic",
    "length_controlled_win_rate",
    "percentiles",
    "win_rate",
]


def bootstrap_ci(
    values: Sequence[float],
    *,
    stat: Callable[[Sequence[float]], float] = statistics.fmean,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval ``(low, high)`` of ``stat(values)``.

    Resamples ``values`` with replacement ``n_resamples`` times using a private
    ``random.Random(seed)``, so the same inputs and seed give the same interval.
    Empty input gives ``(nan, nan)``; a single value gives ``(v, v)``.
    """
    vals = [float(v) for v in values]
    if not vals:
        return (math.nan, math.nan)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if len(vals) == 1:
        v = float(stat(vals))
        return (v, v)
    rng = random.Random(seed)
    n = len(vals)
    stats = sorted(float(stat(rng.choices(vals, k=n))) for _ in range(n_resamples))
    alpha = (1.0 - confidence) / 2.0
    return (_quantile(stats, alpha), _quantile(stats, 1.0 - alpha))


def _quantile(sorted_vals: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default 'linear' method) of sorted values, q in [0, 1]."""
    n = len(sorted_vals)
    if n == 0:
        return math.nan
    pos = q * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * frac


def percentiles(values: Iterable[float], ps: Sequence[float] = (50, 90, 99)) -> dict[str, float]:
    """Percentiles of ``values`` keyed ``"p50"``, ``"p90"``, ``"p99.9"``...

    ``ps`` are on the 0..100 scale; interpolation is linear between order
    statistics (numpy's default). Empty input gives NaN for every key.
    """
    vals = sorted(float(v) for v in values)
    out: dict[str, float] = {}
    for p in ps:
        if not 0 <= p <= 100:
            raise ValueError(f"percentile must be in [0, 100], got {p}")
        out[f"p{p:g}"] = _quantile(vals, p / 100.0)
    return out


def win_rate(outcomes: Iterable[float]) -> float:
    """Mean outcome, where each outcome is 1 (win), 0.5 (tie) or 0 (loss); NaN when empty."""
    vals = [float(o) for o in outcomes]
    for o in vals:
        if not 0.0 <= o <= 1.0:
            raise ValueError(f"outcomes must lie in [0, 1] (1 win, 0.5 tie, 0 loss), got {o}")
    return statistics.fmean(vals) if vals else math.nan


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _log1pexp(z: float) -> float:
    """log(1 + e^z) without overflow."""
    return z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))


def fit_length_logistic(
    outcomes: Sequence[float],
    features: Sequence[float],
    *,
    l2: float = 1e-2,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> tuple[float, float]:
    """Fit ``P(win) = sigmoid(b0 + b1 * x)`` by penalised maximum likelihood; returns ``(b0, b1)``.

    ``outcomes`` may be fractional (0.5 for a tie: a soft label). An L2 penalty
    ``l2 * n / 2 * b1**2`` on the slope only keeps the fit finite when the outcome
    is perfectly separated by ``x``; the intercept is unpenalised. Solved by
    damped Newton steps on the 2x2 system with a backtracking line search.
    """
    n = len(outcomes)
    if n != len(features):
        raise ValueError("outcomes and features must have the same length")
    ys = [float(y) for y in outcomes]
    xs = [float(x) for x in features]
    lam = l2 * n

    def loss(b0: float, b1: float) -> float:
        total = 0.0
        for x, y in zip(xs, ys):
            z = b0 + b1 * x
            total += _log1pexp(z) - y * z
        return total + 0.5 * lam * b1 * b1

    b0, b1 = 0.0, 0.0
    cur = loss(b0, b1)
    for _ in range(max_iter):
        g0 = g1 = 0.0
        h00 = h01 = h11 = 0.0
        for x, y in zip(xs, ys):
            p = _sigmoid(b0 + b1 * x)
            r = p - y
            w = p * (1.0 - p)
            g0 += r
            g1 += r * x
            h00 += w
            h01 += w * x
            h11 += w * x * x
        g1 += lam * b1
        h11 += lam
        # Tiny ridge on the diagonal keeps the solve defined when all p are ~0 or ~1.
        h00 += 1e-12
        h11 += 1e-12
        det = h00 * h11 - h01 * h01
        if det <= 0:
            d0, d1 = g0, g1  # fall back to a gradient step
        else:
            d0 = (h11 * g0 - h01 * g1) / det
            d1 = (h00 * g1 - h01 * g0) / det
        step = 1.0
        while step > 1e-8:
            nb0, nb1 = b0 - step * d0, b1 - step * d1
            new = loss(nb0, nb1)
            if new <= cur:
                break
            step /= 2.0
        else:
            break
        b0, b1 = nb0, nb1
        improvement = cur - new
        cur = new
        if improvement < tol and abs(step * d0) + abs(step * d1) < 1e-9:
            break
    return b0, b1


def length_controlled_win_rate(
    outcomes: Sequence[float],
    len_model: Sequence[float],
    len_baseline: Sequence[float],
    *,
    l2: float = 1e-2,
) -> float:
    """Length-controlled win rate on the 0..1 scale (AlpacaEval 2.0's idea, simplified).

    Fits a logistic regression of each outcome (1 win, 0.5 tie, 0 loss) on one
    length feature, ``tanh((len_model - len_baseline) / std(len_model - len_baseline))``,
    plus an intercept. The length differences are scaled by their standard
    deviation but not centred, so a feature of zero still means "equal length".
    The reported rate is the model's predicted win probability with the length
    term set to zero: ``sigmoid(intercept)``. (AlpacaEval also has a per-instruction
    difficulty term, which averages out here; we have only the intercept.)

    When the outcomes do not depend on length the result is close to the raw win
    rate; when the model wins only because it is longer, it moves towards 0.5.
    Degenerate inputs: empty gives NaN; all outcomes equal gives that value.
    """
    n = len(outcomes)
    if not (n == len(len_model) == len(len_baseline)):
        raise ValueError("outcomes, len_model and len_baseline must have the same length")
    if n == 0:
        return math.nan
    ys = [float(o) for o in outcomes]
    for y in ys:
        if not 0.0 <= y <= 1.0:
            raise ValueError(f"outcomes must lie in [0, 1], got {y}")
    if max(ys) == min(ys):
        return ys[0]
    diffs = [float(a) - float(b) for a, b in zip(len_model, len_baseline)]
    sd = statistics.pstdev(diffs) if n > 1 else 0.0
    if sd == 0:  # every pair has the same length difference: nothing to control for
        return statistics.fmean(ys)
    xs = [math.tanh(d / sd) for d in diffs]
    b0, _ = fit_length_logistic(ys, xs, l2=l2)
    return _sigmoid(b0)


def arena_hard_score(
    outcomes: Sequence[float],
    seed: int = 0,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
) -> tuple[float, tuple[float, float]]:
    """Arena-Hard's headline: ``(win_rate, (ci_low, ci_high))`` against the baseline, all 0..1.

    With one model against one fixed baseline, the Bradley-Terry maximum-likelihood
    win probability (ties counted as half a win) equals the mean outcome, so the
    score is the win rate and the interval a percentile bootstrap over questions.
    """
    return win_rate(outcomes), bootstrap_ci(
        list(outcomes), stat=win_rate, n_resamples=n_resamples, confidence=confidence, seed=seed
    )
