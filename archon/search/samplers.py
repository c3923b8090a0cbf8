"""Samplers by name, as Optuna samplers.

``random``, ``grid``, ``greedy`` and ``bo`` choose among the architectures of the space that are
within budget and not tried yet (the search lists them before it starts), so none of them ever
proposes one over budget or one already evaluated:

* ``random``: uniformly, without replacement.
* ``grid``: in the order of the axes (the last axis fastest), from the cheapest corner.
* ``greedy``: the paper's, one axis at a time, in passes: from the cheapest architecture, try every
  value of the first axis with the others fixed, keep the best (of equal scores, the cheaper), go
  on to the next axis. The next pass starts from the best the pass found; a pass that improves
  nothing ends that climb, and a new one starts from the architecture no pass has reached that is
  nearest the best one found (ties in a seeded order), so the search goes on until the trials or
  the candidates run out.
* ``bo``: Bayesian optimisation with a Gaussian process (the paper's method): a GP with a Matern
  kernel (scikit-learn) fitted to the scores so far, and the expected improvement computed over
  every untried architecture; the largest wins. With ``score,cost`` the improvement is over the
  best score at or below each architecture's cost (the Pareto front).

``tpe`` is Optuna's TPE sampler over the axes; its proposals that are over budget or already tried
are answered with the nearest untried architecture within budget (see :mod:`archon.search.study`).

The default, ``bo``, was chosen by measurement (``perf/search.py``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from numpy.typing import NDArray
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from ..errors import ArchonError
from ..registry import Registry
from .space import Params, SearchSpace, _freeze

DEFAULT_SAMPLER = "bo"

# Trial user attributes the search sets (read back by the samplers).
DECISION, ARCH, SCORE_SO_FAR = "decision", "arch", "running_score"


def point_key(space: SearchSpace, params: Params) -> tuple:
    return tuple(_freeze(params.get(a.name)) for a in space.axes)


class Candidates:
    """The architectures a search may evaluate, with what tells apart the tried ones."""

    def __init__(self, space: SearchSpace, points: Sequence[Params], costs: Sequence[float] | None = None):
        self.space = space
        self.points = [dict(p) for p in points]
        self.keys = [point_key(space, p) for p in self.points]
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.costs = list(costs) if costs is not None else [0.0] * len(self.points)
        self._features: NDArray[np.float64] | None = None  # features(), computed on first use

    def __len__(self) -> int:
        return len(self.points)

    def features(self) -> NDArray[np.float64]:
        """Every point as numbers in [0, 1] (numeric axes scaled, others one-hot), for distances and the GP."""
        if self._features is None:
            cols = []
            for a in self.space.axes:
                vals = [p[a.name] for p in self.points]
                if a.numeric:
                    x = np.array(vals, dtype=float)
                    lo, hi = x.min(), x.max()
                    cols.append(((x - lo) / (hi - lo) if hi > lo else x * 0)[:, None])
                else:
                    choices = list(a.choices)
                    onehot = np.zeros((len(vals), len(choices)))
                    for i, v in enumerate(vals):
                        onehot[i, choices.index(v)] = 1.0
                    cols.append(onehot)
            self._features = np.hstack(cols) if cols else np.zeros((len(self.points), 0))
        return self._features

    def nearest_untried(self, params: Params, tried: set[tuple], rng: random.Random) -> Params | None:
        """The untried point closest to ``params`` (ties broken at random), for proposals that cannot be used."""
        free = [i for i, k in enumerate(self.keys) if k not in tried]
        if not free:
            return None
        feats = self.features()
        target = self._encode(params)
        if target is None:
            return self.points[rng.choice(free)]
        d = ((feats[free] - target) ** 2).sum(axis=1)
        best = np.flatnonzero(d <= d.min() + 1e-12)
        return self.points[free[int(best[rng.randrange(len(best))])]]

    def _encode(self, params: Params) -> NDArray[np.float64] | None:
        row = []
        for a in self.space.axes:
            v = params.get(a.name)
            if a.numeric:
                vals = [float(p[a.name]) for p in self.points]
                lo, hi = min(vals), max(vals)
                if v is None:  # the axis is not in params
                    return None
                try:
                    row.append((float(v) - lo) / (hi - lo) if hi > lo else 0.0)
                except (TypeError, ValueError):
                    return None
            else:
                row += [1.0 if v == c else 0.0 for c in a.choices]
        return np.array(row)


def tried_points(
    study: Study, candidates: Candidates, *, exclude: int | None = None, finished_only: bool = False
) -> set[tuple]:
    """Points evaluated, or being evaluated, in ``study`` (failed attempts do not count: they are retried).
    ``finished_only``: leave out the points whose only evaluations were pruned (they may be resumed)."""
    out, pruned = set(), set()
    for t in study.get_trials(deepcopy=False):
        if t.number == exclude or t.state == TrialState.FAIL:
            continue
        if t.user_attrs.get(DECISION) == "evaluate" or t.state == TrialState.WAITING:
            key = point_key(candidates.space, t.params)
            if finished_only and t.state == TrialState.PRUNED and not t.user_attrs.get("stopped"):
                pruned.add(key)
            else:
                out.add(key)
    return out


def observations(study: Study, candidates: Candidates) -> list[tuple[int, float]]:
    """(candidate index, score) of the evaluated trials; a pruned one counts with its running score."""
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if t.user_attrs.get(DECISION) != "evaluate":
            continue
        i = candidates.index.get(point_key(candidates.space, t.params))
        if i is None:
            continue
        value = t.values[0] if t.state == TrialState.COMPLETE and t.values else t.user_attrs.get(SCORE_SO_FAR)
        if value is not None and not math.isnan(value):
            out.append((i, float(value)))
    return out


class CandidateSampler(BaseSampler):
    """An Optuna sampler that picks a whole untried point of the candidate list at a time."""

    def __init__(self, candidates: Candidates, seed: int | None = None):
        self.candidates = candidates
        self.seed = seed

    def _rng(self, trial: FrozenTrial) -> random.Random:
        # Seeded per trial number, so that workers sharing a study draw different points.
        return random.Random(f"{self.seed}:{trial.number}")

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.candidates.space.distributions()

    # Whether a pruned point may be proposed again (to be resumed where it stopped).
    resumes_pruned = False

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        tried = tried_points(study, self.candidates, exclude=trial.number, finished_only=self.resumes_pruned)
        free = [i for i, k in enumerate(self.candidates.keys) if k not in tried]
        if not free:
            return {}
        i = self.choose(study, trial, free, tried)
        return dict(self.candidates.points[i])

    def choose(self, study: Study, trial: FrozenTrial, free: list[int], tried: set[tuple]) -> int:
        raise NotImplementedError

    def sample_independent(self, study, trial, param_name, param_distribution):
        # Only reached when every point was tried: the search stops on its own then.
        return optuna.samplers.RandomSampler(seed=self.seed).sample_independent(
            study, trial, param_name, param_distribution
        )


class RandomCandidateSampler(CandidateSampler):
    def choose(self, study, trial, free, tried):
        return self._rng(trial).choice(free)


class GridCandidateSampler(CandidateSampler):
    def choose(self, study, trial, free, tried):
        return free[0]


class GreedySampler(CandidateSampler):
    """The paper's greedy search: one axis at a time, in passes, climbs restarted (see the module docstring).

    It keeps no state between proposals: each one replays the passes from the study (the scores of the
    finished trials, the points evaluated or being evaluated), so workers sharing a study and a resumed
    search follow the same passes. A point still being evaluated is tried but has no score yet: the pass
    goes on with the scores known, and is replayed with that score once there is one.
    """

    def __init__(self, candidates: Candidates, seed: int | None = None):
        super().__init__(candidates, seed)
        n = len(candidates)
        self._first = min(range(n), key=lambda i: (candidates.costs[i], i), default=None)
        # Ties between restart points go by a seeded order of the candidates.
        order = list(range(n))
        random.Random(f"{self.seed}:greedy restarts").shuffle(order)
        self._tie_order = order
        self._lines: dict[tuple[int, int], list[int]] = {}

    def _line(self, axis: int, point: int) -> list[int]:
        """The candidates that differ from ``point`` on ``axis`` only (itself included), cheapest first."""
        line = self._lines.get((axis, point))
        if line is None:
            cands = self.candidates
            name = cands.space.axes[axis].name
            found = set()
            for value in cands.space.axes[axis].choices:
                params = cands.space.canonical({**cands.points[point], name: value})
                i = cands.index.get(point_key(cands.space, params))
                if i is not None:
                    found.add(i)
            line = self._lines[(axis, point)] = sorted(found, key=lambda i: (cands.costs[i], i))
        return line

    def choose(self, study, trial, free, tried):
        obs = dict(observations(study, self.candidates))
        costs = self.candidates.costs

        def rank(i: int) -> tuple[float, float]:  # a better score; of equal scores, the cheaper
            return obs.get(i, -math.inf), -costs[i]

        free_set = set(free)
        reached: set[int] = set()  # the points on the lines the passes went along
        start = self._first
        while start is not None:
            best = start
            reached.add(start)
            for axis in range(len(self.candidates.space.axes)):
                line = self._line(axis, best)
                untried = [i for i in line if i in free_set]
                if untried:
                    return untried[0]
                reached.update(line)
                # Keep the axis' best value. Of equal scores the cheaper is kept: under a budget it has
                # more neighbours within it.
                best = max(line, key=lambda i: (rank(i), i == best))
            # A pass that improved on its start: the next one starts from its best; else a new climb.
            start = best if best != start else self._restart(reached, obs, rank)
        # Only reached if every candidate lies on a pass and yet one is untried (it cannot): any untried one.
        return self._rng(trial).choice(free)

    def _restart(self, reached: set[int], obs: dict[int, float], rank: Callable[[int], Any]) -> int | None:
        """Where a new climb starts: the point no pass has reached nearest the best one reached (a
        random restart, measured in ``perf/search.py``, found the optimum less often)."""
        left = [i for i in self._tie_order if i not in reached]
        if not left:
            return None
        scored = [i for i in reached if i in obs]
        if not scored:
            return left[0]
        feats = self.candidates.features()
        best = max(scored, key=lambda i: (rank(i), -i))
        dist = ((feats[left] - feats[best]) ** 2).sum(axis=1)
        return left[int(np.argmin(dist))]


class GPSampler(CandidateSampler):
    """GP-based Bayesian optimisation over the candidate list (expected improvement).

    A pruned architecture stays a candidate, observed at its running score: the expected improvement
    proposes it again only when that score is close to the best, and the search then resumes it
    (no pruning) from where it stopped, so a pruner's mistake on the best is undone cheaply.
    """

    resumes_pruned = True

    def __init__(
        self, candidates: Candidates, seed: int | None = None, n_startup: int = 5, multi_objective: bool = False
    ):
        super().__init__(candidates, seed)
        self.n_startup = n_startup
        self.multi_objective = multi_objective
        self._kernel = None
        self._fitted_at = 0

    def choose(self, study, trial, free, tried):
        obs = observations(study, self.candidates)
        rng = self._rng(trial)
        if len(obs) < self.n_startup:
            return self._spread(free, obs, rng)
        feats = self.candidates.features()
        idx = np.array([i for i, _ in obs])
        y = np.array([v for _, v in obs])
        if np.ptp(y) == 0:
            return self._spread(free, obs, rng)
        # The kernel's hyperparameters are fitted afresh every few observations, and reused between.
        refit = self._kernel is None or len(obs) - self._fitted_at >= 4
        mu, sigma, kernel = _gp_predict(
            feats[idx], y, feats[free], seed=self.seed, kernel=None if refit else self._kernel
        )
        if refit:
            self._kernel, self._fitted_at = kernel, len(obs)
        if self.multi_objective:
            costs = np.array(self.candidates.costs)
            best = np.array([max([v for i, v in obs if costs[i] <= costs[j]], default=-np.inf) for j in free])
            best = np.where(np.isfinite(best), best, y.min())
        else:
            best = y.max()
        ei = _expected_improvement(mu, sigma, best)
        top = np.flatnonzero(ei >= ei.max() - 1e-12)
        return free[int(top[rng.randrange(len(top))])]

    def _spread(self, free: list[int], obs, rng: random.Random) -> int:
        """Start-up points: random, each as far as possible from those tried (a cheap space-filling design)."""
        if not obs:
            return rng.choice(free)
        feats = self.candidates.features()
        seen = feats[[i for i, _ in obs]]
        pool = rng.sample(free, min(len(free), 256))
        d = np.array([((seen - feats[j]) ** 2).sum(axis=1).min() for j in pool])
        return pool[int(d.argmax())]


def _gp_predict(x, y, x_new, seed: int | None, kernel=None):
    """Posterior mean and standard deviation at ``x_new`` of a GP (Matern 5/2, per-axis length scales, noise),
    and its fitted kernel; a ``kernel`` given is used as it is (no hyperparameter fit)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    fixed = kernel is not None
    if kernel is None:
        kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(
            length_scale=np.full(x.shape[1], 0.5), length_scale_bounds=(5e-2, 2e1), nu=2.5
        ) + WhiteKernel(1e-3, (1e-6, 1e-1))
    gp = GaussianProcessRegressor(
        kernel=kernel,
        normalize_y=True,
        n_restarts_optimizer=0,
        optimizer=None if fixed else "fmin_l_bfgs_b",
        random_state=None if seed is None else seed % (2**32),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(x, y)
    mu, sigma = gp.predict(x_new, return_std=True)
    return mu, np.maximum(sigma, 1e-9), gp.kernel_


def _expected_improvement(mu, sigma, best):
    from scipy.stats import norm

    z = (mu - best) / sigma
    return (mu - best) * norm.cdf(z) + sigma * norm.pdf(z)


@dataclass(frozen=True)
class SamplerOptions:
    """What a sampler factory is given besides the candidates."""

    seed: int | None = None
    multi_objective: bool = False
    # Optuna's constraints function (values <= 0 are feasible), for samplers that take one.
    constraints: Callable[[FrozenTrial], Sequence[float]] | None = None


#: Builds a sampler from the in-budget candidates (None for a space too large or continuous to list).
SamplerFactory = Callable[[Candidates | None, SamplerOptions], BaseSampler]
sampler_registry: Registry[SamplerFactory] = Registry("sampler", fold_case=True)


def register_sampler(name: str, factory: SamplerFactory) -> SamplerFactory:
    """Make ``--sampler NAME`` build its sampler with ``factory(candidates, options)``."""
    return sampler_registry.register(name, factory)


def _listed(name: str, candidates: Candidates | None) -> Candidates:
    if candidates is None:
        raise ArchonError(
            f"the {name} sampler needs a space it can list (no float axis, at most "
            f"a few hundred thousand points); use tpe or random"
        )
    return candidates


_BUILTIN: tuple[tuple[str, SamplerFactory], ...] = (
    ("bo", lambda c, o: GPSampler(_listed("bo", c), o.seed, multi_objective=o.multi_objective)),
    (
        "tpe",
        lambda c, o: optuna.samplers.TPESampler(
            seed=o.seed, multivariate=True, n_startup_trials=5, constraints_func=o.constraints
        ),
    ),
    (
        "random",
        lambda c, o: optuna.samplers.RandomSampler(seed=o.seed) if c is None else RandomCandidateSampler(c, o.seed),
    ),
    ("grid", lambda c, o: GridCandidateSampler(_listed("grid", c), o.seed)),
    ("greedy", lambda c, o: GreedySampler(_listed("greedy", c), o.seed)),
)
for _name, _factory in _BUILTIN:
    register_sampler(_name, _factory)
#: The built-in samplers' names.
SAMPLERS = tuple(name for name, _ in _BUILTIN)


def make_sampler(
    name: str,
    candidates: Candidates | None,
    *,
    seed: int | None = None,
    multi_objective: bool = False,
    constraints: Callable[[FrozenTrial], Sequence[float]] | None = None,
) -> BaseSampler:
    """The sampler registered as ``name`` (see the module docstring). ``candidates`` is the list of in-budget
    points (None for a space too large or continuous to list: only ``tpe`` and ``random`` work then)."""
    factory = sampler_registry.get(name)
    return factory(candidates, SamplerOptions(seed=seed, multi_objective=multi_objective, constraints=constraints))
