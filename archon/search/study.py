"""The search: an Optuna study over a space, on a benchmark's dev split, under a budget.

One worker runs :func:`asearch`; several (on one machine or many) run it on one study
(``storage``) and share it. Each trial of the study is one of:

``evaluate``
    an architecture within budget and not tried before: scored on the dev split in chunks (the
    running per-item scores are reported, so the pruner can stop hopeless ones), through the shared
    call cache, its config saved under ``DIR/architectures/<key>/architecture.json``;
``over_budget`` / ``duplicate``
    a proposal (of TPE) that is over budget or already tried: not evaluated, nothing spent; the
    nearest untried architecture within budget is queued instead;
``no_slot``
    asked after the trial count or the whole-search budget was used up by other workers.

Trials decide what they are in trial-number order (each waits until the trials before it have
decided), so with any number of workers no architecture is evaluated twice and no more than
``trials`` are evaluated. A worker that dies leaves its trial running; once its heartbeat is older
than the grace period, the trial is failed and its architecture queued again, and the rerun takes
its answers from the call cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..benchmarks.base import Item
from ..benchmarks.splits import split_items
from ..benchmarks.stats import bootstrap_ci
from ..engine.cache import CallCache, open_cache
from ..errors import ArchonError
from ..sandbox import hide_path
from .budget import Budget, QueryCost, TokenStats, over_budget, query_cost, spend_estimate
from .evaluate import Evaluation, Evaluator
from .samplers import ARCH, DECISION, DEFAULT_SAMPLER, SCORE_SO_FAR, Candidates, make_sampler, point_key, tried_points
from .space import PaperSpace, Params, SearchSpace, config_key, load_space

try:
    import fcntl
except ImportError:  # Windows: workers of one folder are not serialised for the final report
    fcntl = None  # type: ignore[assignment]

STUDY_FILE = "study.db"
TRIALS_FILE = "trials.jsonl"
SUMMARY_FILE = "summary.json"
BEST_FILE = "best.json"
DEFAULT_STUDY = "archon-search"
HEARTBEAT_S = 2
GRACE_S = 8
# Proposals in a row that cannot be used before the search gives up on its sampler.
MAX_UNUSABLE = 200
# How Optuna orders an objective: the score is maximised, the cost minimised.
Direction = Literal["maximize", "minimize"]

optuna.logging.set_verbosity(optuna.logging.WARNING)


@contextlib.contextmanager
def _quiet_optuna():
    """Optuna's notes about its experimental features (heartbeats, the Wilcoxon pruner) and about
    heartbeats outside ``Study.optimize`` (the search keeps them itself) are not for the user."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        yield


@dataclass
class SearchResult:
    """What a search found; ``summary`` is ``DIR/summary.json``."""

    best: dict[str, Any] | None
    front: list[dict[str, Any]]
    summary: dict[str, Any]
    out_dir: Path
    trials: list[dict[str, Any]] = field(default_factory=list)

    @property
    def best_config(self) -> dict[str, Any] | None:
        return self.best["config"] if self.best else None


# --------------------------------------------------------------------------- the study


def storage_url(out_dir: Path, storage: str | None) -> str:
    return storage or f"sqlite:///{(out_dir / STUDY_FILE).resolve()}"


def _open_study(url: str, name: str, directions: list[Direction], sampler, pruner, requeue: Callable) -> optuna.Study:
    from optuna.storages import RDBStorage

    for attempt in range(5):
        try:
            storage = RDBStorage(
                url,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                heartbeat_stale_trial_callback=requeue,
                engine_kwargs={"pool_pre_ping": True} if not url.startswith("sqlite") else {},
            )
            break
        except Exception as e:
            # Workers starting together may race to create the tables: the losers try again.
            if attempt < 4 and "already exists" in str(e):
                time.sleep(0.2 + random.random())
                continue
            raise ArchonError(
                f"cannot open the study storage {_redact_url(url)}: {type(e).__name__}: "
                f"{_redact_url(str(e)).splitlines()[0]}"
            ) from None
    return optuna.create_study(
        storage=storage, study_name=name, directions=directions, sampler=sampler, pruner=pruner, load_if_exists=True
    )


def _redact_url(url: str) -> str:
    import re

    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """A trial whose worker died mid-evaluation: queue its architecture again (it reruns from the call cache)."""
    if trial.user_attrs.get(DECISION) == "evaluate":
        study.enqueue_trial(trial.params, user_attrs={"rerun_of": trial.number}, skip_if_exists=False)


class _Heartbeat:
    """Keeps a running trial's heartbeat fresh, so other workers do not take it for dead."""

    def __init__(self, study: optuna.Study, trial_id: int):
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        record = getattr(study._storage, "record_heartbeat", None)  # storages with heartbeats (RDB) only
        if record is None:
            return

        def beat() -> None:
            while not self._stop.wait(HEARTBEAT_S):
                with contextlib.suppress(Exception):
                    record(trial_id)

        record(trial_id)
        self._thread = threading.Thread(target=beat, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


# --------------------------------------------------------------------------- setup


@dataclass
class Plan:
    """The space as the search sees it: the candidates within budget and what they cost."""

    space: SearchSpace
    candidates: Candidates | None
    size: int | None
    in_budget: int | None
    costs: dict[tuple, QueryCost]
    cheapest: QueryCost | None
    cost_unit: str  # "usd" or "calls": what the cost objective counts
    turns: int
    stats: TokenStats

    def cost_of(self, params: Params) -> QueryCost:
        key = point_key(self.space, params)
        if key not in self.costs:
            self.costs[key] = query_cost(self.space.config(params), self.stats)
        return self.costs[key]


def make_plan(space: SearchSpace, budget: Budget, stats: TokenStats, turns: int) -> Plan:
    costs: dict[tuple, QueryCost] = {}
    if not space.finite or (space.raw_size() or 0) > 200_000:
        return Plan(space, None, None, None, costs, None, "calls", turns, stats)
    points, kept = [], []
    cheapest = None
    for p in space.points():
        cost = query_cost(space.config(p), stats)
        costs[point_key(space, p)] = cost
        points.append(p)
        if cheapest is None or cost.calls < cheapest.calls:
            cheapest = cost
        if not over_budget(cost, budget, turns):
            kept.append((p, cost))
    usd = [c.cost_usd for _, c in kept if c.cost_usd is not None]
    priced = len(usd) == len(kept) and any(x > 0 for x in usd)
    unit = "usd" if priced else "calls"
    cand_costs: list[float] = usd if priced else [c.calls for _, c in kept]
    cand = Candidates(space, [p for p, _ in kept], cand_costs)
    return Plan(space, cand, len(points), len(kept), costs, cheapest, unit, turns, stats)


def _rank_models(
    space: PaperSpace, evaluator: Evaluator, dev: Sequence[Item], out_dir: Path, say: Callable[[str], None]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], TokenStats, Evaluation]:
    """Score each model alone (one sample) on the dev split and order them best first (the paper)."""
    rows: list[dict[str, Any]] = []
    spent = Evaluation()
    stats = TokenStats()
    prompt_tokens = []
    for i, m in enumerate(space.models):
        cfg = {
            "name": f"single-{m.get('model') or m.get('model_type')}",
            "layers": [[{"type": "generator", **space.template, **m, "samples": 1}]],
        }
        ev, _ = asyncio.run(evaluator.aevaluate(cfg, dev, out_dir / "models" / f"{i:02d}"))
        spent.add(ev)
        score = evaluator.aggregate(list(ev.item_scores.values()))
        rows.append(
            {
                "model": m.get("model"),
                "model_type": m.get("model_type"),
                "dev_score": score,
                "calls": ev.calls,
                "new_calls": ev.new_calls,
            }
        )
        if ev.calls:
            stats.output_tokens[m.get("model") or ""] = ev.output_tokens / ev.calls
            prompt_tokens.append(ev.input_tokens / ev.calls)
        say(f"  model {m.get('model')}: dev score {score:.3f}")
    if prompt_tokens:
        stats.prompt_tokens = sum(prompt_tokens) / len(prompt_tokens)
    order = sorted(
        range(len(rows)), key=lambda i: (-(rows[i]["dev_score"] if not math.isnan(rows[i]["dev_score"]) else -1), i)
    )
    return [space.models[i] for i in order], [rows[i] for i in order], stats, spent


# --------------------------------------------------------------------------- one worker


class _Worker:
    def __init__(
        self,
        *,
        study: optuna.Study,
        plan: Plan,
        evaluator: Evaluator,
        dev: list[Item],
        out_dir: Path,
        trials: int,
        budget: Budget,
        objectives: list[str],
        chunks: int,
        prune: bool,
        seed: int,
        timeout: float | None,
        say: Callable[[str], None],
        progress: Callable[[str], None],
        spent_before: Evaluation,
    ):
        self.study, self.plan, self.evaluator, self.dev = study, plan, evaluator, dev
        self.out_dir, self.trials, self.budget, self.objectives = out_dir, trials, budget, objectives
        self.chunks, self.prune, self.say, self.progress = chunks, prune, say, progress
        self.rng = random.Random(f"{seed}:{os.getpid()}")
        self.deadline = time.monotonic() + timeout if timeout else None
        self.spent_before = spent_before
        self.stop_reason: str | None = None

    # The study's shared counts.
    def _evaluated(self, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
        return [t for t in trials if t.user_attrs.get(DECISION) == "evaluate" and t.state != TrialState.FAIL]

    def _spent(self, trials: Sequence[FrozenTrial]) -> tuple[int, float]:
        calls = self.spent_before.new_calls + self.spent_before.judge_new_calls
        usd = self.spent_before.new_cost_usd
        for t in trials:
            calls += int(t.user_attrs.get("new_calls", 0)) + int(t.user_attrs.get("judge_new_calls", 0))
            usd += float(t.user_attrs.get("new_cost_usd", 0.0))
        return calls, usd

    def _budget_left(self, trials: Sequence[FrozenTrial]) -> bool:
        calls, usd = self._spent(trials)
        if self.budget.search_budget_calls is not None and calls >= self.budget.search_budget_calls:
            return False
        return not (self.budget.search_budget_usd is not None and usd >= self.budget.search_budget_usd)

    def _why_stop(self, trials: Sequence[FrozenTrial]) -> str | None:
        if len(self._evaluated(trials)) >= self.trials:
            return f"{self.trials} trials evaluated"
        if not self._budget_left(trials):
            return "whole-search budget reached"
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "timeout"
        if self.plan.candidates is not None and len(self._evaluated(trials)) >= len(self.plan.candidates):
            return "every architecture within budget evaluated"
        return None

    def run(self) -> str:
        unusable = 0
        while True:
            optuna.storages.fail_stale_trials(self.study)
            trials = self.study.get_trials(deepcopy=False)
            why = self._why_stop(trials)
            if why is not None:
                running = [t for t in self._evaluated(trials) if t.state == TrialState.RUNNING]
                waiting = [t for t in trials if t.state == TrialState.WAITING]
                if not running and not (waiting and why.startswith("every")):
                    return why
                time.sleep(0.5)  # other workers' trials may still fail and need rerunning
                continue
            trial = self.study.ask()
            beat = _Heartbeat(self.study, trial._trial_id)
            try:
                decision = self._decide(trial)
                if decision == "evaluate":
                    unusable = 0
                    self._evaluate(trial)
                    continue
                self.study.tell(trial, state=TrialState.FAIL)
            finally:
                beat.stop()
            if decision in ("over_budget", "duplicate", "invalid"):
                unusable += 1
                self._queue_instead(trial)
                if unusable >= MAX_UNUSABLE:
                    return f"the sampler proposed {MAX_UNUSABLE} architectures in a row that were over budget or tried"

    def _decide(self, trial: optuna.Trial) -> str:
        try:
            params = self.plan.space.suggest(trial)
            cfg = self.plan.space.config(params)
        except ArchonError:
            trial.set_user_attr(DECISION, "invalid")
            return "invalid"
        key = config_key(cfg)
        trial.set_user_attr(ARCH, key)
        trial.set_user_attr("label", self.plan.space.label(params))
        cost = self.plan.cost_of(params)
        trial.set_user_attr("calls_per_query", cost.calls)
        trial.set_user_attr("estimated_cost_per_query", cost.as_dict())
        if not self.plan.space.valid(params):
            decision = "invalid"
        elif over_budget(cost, self.budget, self.plan.turns):
            decision = "over_budget"
        else:
            lower = self._lower_decided(trial.number)
            evaluated = self._evaluated(lower)
            same = [t for t in evaluated if t.user_attrs.get(ARCH) == key]
            resumable = (
                bool(same)
                and all(t.state == TrialState.PRUNED and not t.user_attrs.get("stopped") for t in same)
                and getattr(self.study.sampler, "resumes_pruned", False)
            )
            if resumable and len(evaluated) < self.trials and self._budget_left(lower):
                decision = "evaluate"
                trial.set_user_attr("resumes", same[-1].number)
            elif same:
                decision = "duplicate"
            elif len(evaluated) >= self.trials or not self._budget_left(lower):
                decision = "no_slot"
            else:
                decision = "evaluate"
        trial.set_user_attr(DECISION, decision)
        return decision

    def _lower_decided(self, number: int, wait_s: float = 30.0) -> list[FrozenTrial]:
        """The trials before ``number``, once each has decided what it is (or waited ``wait_s`` for)."""
        t0 = time.monotonic()
        while True:
            lower = [t for t in self.study.get_trials(deepcopy=False) if t.number < number]
            pending = [t for t in lower if t.state == TrialState.RUNNING and DECISION not in t.user_attrs]
            if not pending or time.monotonic() - t0 > wait_s:
                return lower
            time.sleep(0.05)

    def _queue_instead(self, trial: optuna.Trial) -> None:
        cands = self.plan.candidates
        if cands is None:
            return
        tried = tried_points(self.study, cands)
        alt = cands.nearest_untried(trial.params, tried, self.rng)
        if alt is not None:
            self.study.enqueue_trial(alt, user_attrs={"instead_of": trial.number})

    def _chunks(self) -> list[list[Item]]:
        n = max(1, min(self.chunks, len(self.dev)))
        size = math.ceil(len(self.dev) / n)
        return [self.dev[i : i + size] for i in range(0, len(self.dev), size)]

    def _evaluate(self, trial: optuna.Trial) -> None:
        params = self.plan.space.canonical(trial.params)
        cfg = self.plan.space.config(params)
        key = trial.user_attrs[ARCH]
        folder = self.out_dir / "architectures" / key
        folder.mkdir(parents=True, exist_ok=True)
        cfg_path = folder / "architecture.json"
        cfg_path.write_text(
            json.dumps(cfg.model_dump(mode="json", exclude_none=True), indent=2) + "\n", encoding="utf-8"
        )
        trial.set_user_attr("config_path", str(cfg_path))
        total = Evaluation()
        pruned = stopped = False
        chunks = self._chunks()
        step = 0
        for c, chunk in enumerate(chunks):
            ev, _ = asyncio.run(self.evaluator.aevaluate(cfg, chunk, folder / f"dev-{c}"))
            total.add(ev)
            running = self.evaluator.aggregate(list(total.item_scores.values()))
            for item in chunk:  # per-item scores, for the Wilcoxon pruner (paired on items)
                v = ev.item_scores.get(str(item.id))
                if v is not None and len(self.objectives) == 1:
                    trial.report(v, step)
                step += 1
            for k, v in (
                ("running_score", running),
                ("items", total.items),
                ("calls", total.calls),
                ("new_calls", total.new_calls),
                ("judge_calls", total.judge_calls),
                ("judge_new_calls", total.judge_new_calls),
                ("cost_usd", total.cost_usd),
                ("new_cost_usd", total.new_cost_usd),
                ("errors", total.errors),
            ):
                trial.set_user_attr(k, v)
            last = c == len(chunks) - 1
            if (
                not last
                and self.prune
                and len(self.objectives) == 1
                and "resumes" not in trial.user_attrs
                and trial.should_prune()
            ):
                pruned = True
                # Calls the rest of the dev split would have taken, at this trial's rate.
                trial.set_user_attr("calls_saved", round(total.per_query("calls") * (len(self.dev) - total.items)))
                break
            if not last and not self._budget_left(self.study.get_trials(deepcopy=False)):
                stopped = True
                trial.set_user_attr("stopped", "whole-search budget reached")
                break
        score = self.evaluator.aggregate(list(total.item_scores.values()))
        if pruned or stopped or math.isnan(score):
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            values = [score]
            if "cost" in self.objectives:
                values.append(total.per_query("cost_usd") if self.plan.cost_unit == "usd" else total.per_query("calls"))
            self.study.tell(trial, values)
        self._report_progress()

    def _report_progress(self) -> None:
        trials = self.study.get_trials(deepcopy=False)
        write_trials(trials, self.out_dir, len(self.dev))
        done = [t for t in self._evaluated(trials) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        complete = [t for t in done if t.state == TrialState.COMPLETE and t.values]
        best = max(complete, key=lambda t: t.values[0], default=None)
        calls, usd = self._spent(trials)
        needed = sum(int(t.user_attrs.get("calls", 0)) for t in done) + self.spent_before.calls
        text = f"trial {len(done)}/{self.trials}"
        if best is not None:
            text += f" | best {best.values[0]:.3f} ({best.user_attrs.get('label')})"
        text += f" | {calls:,} calls made ({needed:,} needed without sharing)"
        if usd:
            text += f" | ${usd:.4f}"
        self.progress(text)


def optimize(
    study: optuna.Study,
    plan: Plan,
    evaluator: Any,
    dev: list[Item],
    out_dir: Path,
    *,
    trials: int,
    budget: Budget | None = None,
    objectives: Sequence[str] = ("score",),
    chunks: int = 4,
    prune: bool = True,
    seed: int = 0,
    timeout: float | None = None,
    spent_before: Evaluation | None = None,
    progress: Callable[[str], None] = lambda s: None,
) -> str:
    """Run trials of ``study`` until ``trials`` are evaluated (across all its workers) or a budget or
    the timeout stops it; returns why it stopped. ``evaluator`` has ``aevaluate`` and ``aggregate``
    (an :class:`Evaluator`, or a stand-in such as the simulated pool's)."""
    worker = _Worker(
        study=study,
        plan=plan,
        evaluator=evaluator,
        dev=dev,
        out_dir=Path(out_dir),
        trials=trials,
        budget=budget or Budget(),
        objectives=list(objectives),
        chunks=chunks,
        prune=prune,
        seed=seed,
        timeout=timeout,
        say=lambda s: None,
        progress=progress,
        spent_before=spent_before or Evaluation(),
    )
    with _quiet_optuna():
        return worker.run()


def make_pruner(prune: bool, objectives: Sequence[str], dev_items: int, chunks: int):
    """Wilcoxon's signed-rank test on the per-item scores against the best trial's, on the same items
    (a paired test, since dev splits are small); none for two objectives (Optuna prunes one)."""
    if not prune or len(objectives) != 1:
        return optuna.pruners.NopPruner()
    with _quiet_optuna():
        return optuna.pruners.WilcoxonPruner(p_threshold=0.2, n_startup_steps=max(14, math.ceil(dev_items / chunks)))


# --------------------------------------------------------------------------- reports


def write_trials(trials: Sequence[FrozenTrial], out: Path, dev_items: int) -> list[dict[str, Any]]:
    """``out/trials.jsonl`` rewritten (in one step) from the study's decided ``trials``; returns its rows.
    Written after every trial, so that a running or killed search's folder shows its trials so far."""
    rows = _trial_rows(trials, dev_items)
    tmp = out / (TRIALS_FILE + f".{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(_json_safe(r), ensure_ascii=False) + "\n")
    os.replace(tmp, out / TRIALS_FILE)
    return rows


def _trial_rows(trials: Sequence[FrozenTrial], dev_items: int) -> list[dict[str, Any]]:
    rows = []
    for t in trials:
        decision = t.user_attrs.get(DECISION)
        if decision is None:
            continue
        row = {
            "number": t.number,
            "params": t.params,
            "label": t.user_attrs.get("label"),
            "decision": decision,
            "state": t.state.name.lower(),
            "config_path": t.user_attrs.get("config_path"),
            "score": t.values[0] if t.values else t.user_attrs.get(SCORE_SO_FAR),
            "cost": t.values[1] if t.values and len(t.values) > 1 else None,
            "pruned": t.state == TrialState.PRUNED,
            "items": t.user_attrs.get("items", 0),
            "dev_items": dev_items,
            "calls_per_query": t.user_attrs.get("calls_per_query"),
            "estimated_cost_per_query": t.user_attrs.get("estimated_cost_per_query"),
            "calls": t.user_attrs.get("calls", 0),
            "new_calls": t.user_attrs.get("new_calls", 0),
            "cached_calls": t.user_attrs.get("calls", 0) - t.user_attrs.get("new_calls", 0),
            "judge_calls": t.user_attrs.get("judge_calls", 0),
            "cost_usd": t.user_attrs.get("cost_usd", 0.0),
            "new_cost_usd": t.user_attrs.get("new_cost_usd", 0.0),
            "calls_saved": t.user_attrs.get("calls_saved", 0),
        }
        for k in ("rerun_of", "instead_of", "stopped", "resumes"):
            if k in t.user_attrs:
                row[k] = t.user_attrs[k]
        rows.append(row)
    return rows


def _pareto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    done = [r for r in rows if r["state"] == "complete" and r["cost"] is not None]
    front = [
        r
        for r in done
        if not any(
            (o["score"] >= r["score"] and o["cost"] <= r["cost"]) and (o["score"] > r["score"] or o["cost"] < r["cost"])
            for o in done
        )
    ]
    return sorted(front, key=lambda r: r["cost"])


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, n_resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Mean difference a - b over the same items, its 95% bootstrap interval, and whether it excludes 0."""
    diffs = [x - y for x, y in zip(a, b)]
    if not diffs:
        return {"items": 0, "mean_difference": None, "ci_low": None, "ci_high": None, "beats_beyond_noise": False}
    lo, hi = bootstrap_ci(diffs, n_resamples=n_resamples, seed=seed)
    return {
        "items": len(diffs),
        "mean_difference": sum(diffs) / len(diffs),
        "ci_low": lo,
        "ci_high": hi,
        "beats_beyond_noise": lo > 0,
    }


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_json_safe(obj), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def _folder_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        if fcntl is not None:
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


# --------------------------------------------------------------------------- the search


def search(
    space: str | Path | Mapping[str, Any] | SearchSpace,
    benchmark: str,
    *,
    out_dir: str | Path,
    data: str | Path | None = None,
    judge: Any = None,
    baseline_answers: Any = None,
    sampler: str = DEFAULT_SAMPLER,
    trials: int = 30,
    seed: int = 0,
    budget: Budget | None = None,
    objectives: Sequence[str] = ("score",),
    storage: str | None = None,
    study_name: str | None = None,
    timeout: float | None = None,
    cache: str | Path | CallCache | None = None,
    keys: Any = None,
    dev_fraction: float = 0.2,
    chunks: int = 4,
    prune: bool = True,
    evaluate_test: bool = True,
    baselines: bool = True,
    items: Sequence[Item] | None = None,
    concurrency: int = 64,
    verbose: bool = False,
    stream=None,
) -> SearchResult:
    """Search ``space`` for the best architecture on ``benchmark`` (see the module docstring and the README).

    Returns the same result as ``archon search`` writes: ``DIR/best.json``, ``DIR/trials.jsonl``
    and ``DIR/summary.json`` (``SearchResult.summary``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hide_path(out)  # the study, trials and run folders: out of reach of the programs under test
    stream = stream if stream is not None else sys.stderr
    live = verbose and hasattr(stream, "isatty") and stream.isatty()

    def say(msg: str) -> None:
        if verbose:
            print(msg, file=stream, flush=True)

    def progress(msg: str) -> None:
        if verbose:
            print(("\r\033[K" + msg) if live else msg, end="" if live else "\n", file=stream, flush=True)

    objectives = [o.strip() for o in objectives]
    if objectives not in (["score"], ["score", "cost"]):
        raise ArchonError(f"objectives must be 'score' or 'score,cost', not {','.join(objectives)!r}")
    if trials < 1:
        raise ArchonError("trials must be >= 1")
    budget = budget or Budget()
    space_obj = space if isinstance(space, SearchSpace) else load_space(space)

    cache_obj, owned = (cache, False) if isinstance(cache, CallCache) else (open_cache(cache, storage=storage), True)
    evaluator = Evaluator(
        benchmark, cache=cache_obj, judge=judge, baseline_answers=baseline_answers, keys=keys, concurrency=concurrency
    )
    bench = evaluator.benchmark
    if getattr(bench, "kind", None) == "judge" and judge is None:
        raise ArchonError(
            f"benchmark {bench.name!r} is scored by an LLM judge: give a judge config with --judge CONFIG"
        )
    all_items = list(items) if items is not None else evaluator.load_items(data)
    dev = split_items(all_items, "dev", seed, dev_fraction)
    test = split_items(all_items, "test", seed, dev_fraction)
    if not dev:
        raise ArchonError(
            f"the dev split is empty ({len(all_items)} items, dev fraction {dev_fraction}); use more items"
        )
    turns = max((len(it.turns) for it in all_items), default=1)

    url = storage_url(out, storage)
    name = study_name or DEFAULT_STUDY
    directions: list[Direction] = ["maximize", "minimize"] if "cost" in objectives else ["maximize"]
    setup = {
        "space": space_obj.describe(),
        "benchmark": bench.name,
        "objectives": objectives,
        "budget": budget.as_dict(),
        "seed": seed,
        "dev_fraction": dev_fraction,
        "items": [str(it.id) for it in dev],
    }
    try:
        try:
            # Ranked models and token counts are stored in the study, so every worker and every resume uses the same.
            with _quiet_optuna():
                probe = _open_study(url, name, directions, None, None, _requeue)
        except ValueError as e:
            raise ArchonError(
                f"study {name!r} in {_redact_url(url)} was made for other objectives ({e}); "
                "use another --study or --out"
            ) from None
        saved = probe.user_attrs.get("setup")
        if saved is not None and saved != _json_safe(setup):
            diff = [k for k in setup if _json_safe(setup[k]) != saved.get(k)]
            raise ArchonError(
                f"study {name!r} in {_redact_url(url)} holds a search with a different "
                f"{', '.join(diff)}; refusing to mix them. Use another --study or --out."
            )
        if saved is None:
            probe.set_user_attr("setup", _json_safe(setup))
        # An earlier run's summary no longer describes the study once this run adds trials (trials.jsonl is
        # rewritten as they end); this run writes its own when it ends.
        (out / SUMMARY_FILE).unlink(missing_ok=True)

        spent_before = Evaluation()
        stats = TokenStats()
        ranking = probe.user_attrs.get("model_ranking")
        if isinstance(space_obj, PaperSpace):
            if ranking is None and space_obj.rank_models:
                say(f"ranking {len(space_obj.models)} models alone on {len(dev)} dev items")
                with _folder_lock(out / "models" / ".lock"):
                    ordered, rows, stats, spent_before = _rank_models(space_obj, evaluator, dev, out, say)
                ranking = {
                    "models": ordered,
                    "rows": rows,
                    "prompt_tokens": stats.prompt_tokens,
                    "output_tokens": stats.output_tokens,
                    "spent": {
                        "calls": spent_before.calls,
                        "new_calls": spent_before.new_calls,
                        "new_cost_usd": spent_before.new_cost_usd,
                    },
                }
                probe.set_user_attr("model_ranking", _json_safe(ranking))
            if ranking is not None:
                space_obj = space_obj.with_models(ranking["models"])
                stats = TokenStats(ranking.get("prompt_tokens"), dict(ranking.get("output_tokens") or {}))
                spent_before = Evaluation(
                    calls=int(ranking["spent"]["calls"]),
                    new_calls=int(ranking["spent"]["new_calls"]),
                    new_cost_usd=float(ranking["spent"]["new_cost_usd"] or 0.0),
                )

        plan = make_plan(space_obj, budget, stats, turns)
        if plan.in_budget == 0:
            cheapest = plan.cheapest
            raise ArchonError(
                "no architecture of the space is within the budget"
                + (
                    f"; the cheapest needs {cheapest.calls} calls, ~{cheapest.input_tokens:.0f} input and "
                    f"~{cheapest.output_tokens:.0f} output tokens per query"
                    if cheapest
                    else ""
                )
            )
        if plan.candidates is not None:  # the space was listed (make_plan sets size and candidates together)
            in_costs = [plan.costs[k] for k in plan.candidates.keys]
            estimate = spend_estimate(in_costs, trials, len(dev), turns)
            say(f"space: {plan.size:,} architectures, {plan.in_budget:,} within budget")
            say(f"estimate: {estimate.text()}")
        else:
            estimate = None
            say("space: continuous or too large to list; over-budget proposals are skipped as they come")

        sampler_seed = seed if storage is None else seed + os.getpid()
        sampler_obj = make_sampler(sampler, plan.candidates, seed=sampler_seed, multi_objective=len(objectives) > 1)
        pruner = make_pruner(prune, objectives, len(dev), chunks)
        with _quiet_optuna():
            study = _open_study(url, name, directions, sampler_obj, pruner, _requeue)
        say(f"study {name!r} in {_redact_url(url)}; sampler {sampler}; {trials} trials on {len(dev)} dev items")
        why = optimize(
            study,
            plan,
            evaluator,
            dev,
            out,
            trials=trials,
            budget=budget,
            objectives=objectives,
            chunks=chunks,
            prune=prune,
            seed=seed,
            timeout=timeout,
            spent_before=spent_before,
            progress=progress,
        )
        if live:
            print(file=stream)
        say(f"search stopped: {why}")

        with _folder_lock(out / ".report.lock"):
            result = _report(
                study,
                plan,
                evaluator,
                dev,
                test,
                out,
                objectives=objectives,
                budget=budget,
                estimate=estimate,
                ranking=ranking,
                stop_reason=why,
                sampler=sampler,
                url=url,
                evaluate_test=evaluate_test,
                baselines=baselines,
                spent_before=spent_before,
                say=say,
                shared=storage is not None,
            )
    finally:
        if owned and cache_obj is not None:
            cache_obj.close()
    return result


def _once_per_study(
    study: optuna.Study, key: str, compute: Callable[[], dict[str, Any]], shared: bool
) -> dict[str, Any]:
    """``compute()``, done by one of the workers that share a study and stored in it for the others (workers
    finishing together would otherwise all make the same test-split calls at once)."""
    if not shared:
        return compute()
    import uuid

    done = study.user_attrs.get(key)
    if done is not None:
        return done
    me = uuid.uuid4().hex
    study.set_user_attr(key + ":by", me)
    time.sleep(1.0)  # the last of the workers that claimed it together does it
    if study.user_attrs.get(key + ":by") == me:
        result = compute()
        study.set_user_attr(key, result)
        return result
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        done = study.user_attrs.get(key)
        if done is not None:
            return done
        time.sleep(1.0)
    return compute()  # the worker doing it died: do it here (from the call cache, mostly)


def _report(
    study: optuna.Study,
    plan: Plan,
    evaluator: Evaluator,
    dev: list[Item],
    test: list[Item],
    out: Path,
    *,
    shared: bool = False,
    objectives: list[str],
    budget: Budget,
    estimate,
    ranking,
    stop_reason: str,
    sampler: str,
    url: str,
    evaluate_test: bool,
    baselines: bool,
    spent_before: Evaluation,
    say: Callable[[str], None],
) -> SearchResult:
    rows = write_trials(study.get_trials(deepcopy=False), out, len(dev))

    evaluated = [r for r in rows if r["decision"] == "evaluate" and r["state"] in ("complete", "pruned")]
    complete = sorted(
        (r for r in evaluated if r["state"] == "complete" and r["score"] is not None), key=lambda r: -r["score"]
    )
    front = _pareto(rows) if "cost" in objectives else []
    made = sum(r["new_calls"] for r in evaluated) + spent_before.new_calls
    needed = sum(r["calls"] for r in evaluated) + spent_before.calls
    saved = sum(r["calls_saved"] for r in evaluated)
    summary: dict[str, Any] = {
        "study": {"storage": _redact_url(url), "name": study.study_name, "sampler": sampler, "objectives": objectives},
        "stopped": stop_reason,
        "space": {"axes": plan.space.describe(), "size": plan.size, "within_budget": plan.in_budget},
        "budget": budget.as_dict(),
        "estimate": None if estimate is None else {"calls": estimate.calls, "cost_usd": estimate.cost_usd},
        "dev_items": len(dev),
        "test_items": len(test),
        "trials": {
            "evaluated": len(evaluated),
            "complete": len(complete),
            "pruned": sum(r["state"] == "pruned" for r in evaluated),
            "not_evaluated": {
                d: sum(r["decision"] == d for r in rows) for d in ("over_budget", "duplicate", "invalid", "no_slot")
            },
        },
        "model_ranking": ranking["rows"] if ranking else None,
        "spend": {
            "calls": made,
            "cost_usd": sum(r["new_cost_usd"] for r in evaluated) + spent_before.new_cost_usd,
            "judge_calls": sum(r["judge_calls"] for r in evaluated),
        },
        "sharing": {
            "calls_made": made,
            "calls_without_sharing": needed,
            "saved_by_sharing": needed - made,
            "saved_by_pruning": saved,
            "calls_without_sharing_or_pruning": needed + saved,
        },
        "cost_unit": plan.cost_unit,
    }
    best = complete[0] if complete else None
    result_best = None
    if best is not None:
        config = json.loads(Path(best["config_path"]).read_text(encoding="utf-8"))
        _write_json(out / BEST_FILE, config)
        result_best = {
            "params": best["params"],
            "label": best["label"],
            "dev_score": best["score"],
            "config": config,
            "config_path": str(out / BEST_FILE),
            "trial": best["number"],
        }
        if evaluate_test and test:
            points = [best] + ([complete[1]] if len(complete) > 1 else [])
            points += [r for r in front if r["number"] not in {p["number"] for p in points}]

            def run_tests() -> dict[str, Any]:
                tested = {}
                for i, r in enumerate(points):
                    cfg = json.loads(Path(r["config_path"]).read_text(encoding="utf-8"))
                    say(f"test split: {r['label']} on {len(test)} items")
                    ev, run_summary = asyncio.run(
                        evaluator.aevaluate(
                            cfg, test, out / "test" / Path(r["config_path"]).parent.name, baselines=baselines and i == 0
                        )
                    )
                    scores = [ev.item_scores.get(str(it.id)) for it in test]
                    valid = [s for s in scores if s is not None]
                    lo, hi = bootstrap_ci(valid) if valid else (float("nan"), float("nan"))
                    tested[str(r["number"])] = {
                        "scores": scores,
                        "score": evaluator.aggregate(valid),
                        "ci_low": lo,
                        "ci_high": hi,
                        "calls_per_query": ev.per_query("calls"),
                        "cost_per_query_usd": ev.per_query("cost_usd"),
                        "baselines": {
                            k: {
                                "score": b.get("score"),
                                "ci_low": b.get("ci_low"),
                                "ci_high": b.get("ci_high"),
                                "calls_per_query": b.get("calls_per_query"),
                            }
                            for k, b in (run_summary.get("baselines") or {}).items()
                        },
                    }
                return _json_safe(tested)

            stored = _once_per_study(study, "test:" + ",".join(str(r["number"]) for r in points), run_tests, shared)
            tested = {int(k): v for k, v in stored.items()}  # stored in the study as JSON: str keys
            t_best = tested[best["number"]]
            result_best["test"] = {k: v for k, v in t_best.items() if k != "scores"}
            if len(complete) > 1:
                runner = complete[1]
                pairs = [
                    (a, b)
                    for a, b in zip(t_best["scores"], tested[runner["number"]]["scores"])
                    if a is not None and b is not None
                ]
                summary["winner_vs_runner_up"] = {
                    "runner_up": {
                        "label": runner["label"],
                        "dev_score": runner["score"],
                        "test_score": tested[runner["number"]]["score"],
                    },
                    **paired_bootstrap([a for a, _ in pairs], [b for _, b in pairs]),
                }
            for r in front:
                if r["number"] in tested:
                    r["test"] = {k: v for k, v in tested[r["number"]].items() if k not in ("scores", "baselines")}
    summary["best"] = result_best
    summary["front"] = front
    _write_json(out / SUMMARY_FILE, summary)
    return SearchResult(best=result_best, front=front, summary=summary, out_dir=out, trials=rows)
