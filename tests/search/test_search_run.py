"""Searches on the simulated pool through the real engine, components and scorer."""

from __future__ import annotations

import json
import random

import pytest

from archon import Archon, CallCache
from archon.benchmarks.registry import get_benchmark
from archon.errors import ArchonError
from archon.search import SAMPLERS, Budget, load_space, search

SMALL_AXES = {
    "generators": [1, 3],
    "samples": [1, 3],
    "fusion_layers": [0, 2],
    "fusers_per_layer": [2, 4, 2],
    "evaluation": ["none", "verifier"],
}


def small_space(pool, **kw):
    return {"models": pool.model_entries()[:3], "axes": SMALL_AXES, **kw}


def read_trials(out):
    return [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]


def test_simulation_agrees_with_the_engine(pool):
    """The pool's exact simulation (used to know the true optimum) gives what the engine gives, call for call."""
    space = load_space({"models": pool.model_entries()})
    bench = get_benchmark("gsm8k")
    items = pool.items()[:8]
    points = random.Random(0).sample(list(space.points()), 12)
    cache = CallCache("sim.sqlite")
    keys = set()
    for p in points:
        cfg = space.config(p)
        with Archon(cfg, cache=cache) as archon:
            results = archon.run_batch([bench.conversation(it, 0, []) for it in items])
        for it, r in zip(items, results):
            answer, calls = pool.simulate(cfg, it.id)
            assert r.answer == f"The answer is {answer}.", (p, it.id)
            keys.update(calls)
    assert len(cache) == len(keys)  # the same calls, shared the same way


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_finds_a_best_within_budget(pool, tmp_path, sampler):
    out = tmp_path / "out"
    result = search(
        small_space(pool),
        "gsm8k",
        items=pool.items(),
        out_dir=out,
        sampler=sampler,
        trials=5,
        budget=Budget(max_calls_per_query=14),
        cache=tmp_path / "calls.sqlite",
        baselines=False,
    )
    rows = [r for r in read_trials(out) if r["decision"] == "evaluate"]
    assert len(rows) == 5
    assert len({r["config_path"] for r in rows}) == 5  # no architecture evaluated twice
    assert all(r["calls_per_query"] <= 14 for r in rows)
    assert result.best is not None and result.best["dev_score"] == max(r["score"] for r in rows if not r["pruned"])
    best = json.loads((out / "best.json").read_text())
    assert best == result.best["config"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["space"]["within_budget"] < summary["space"]["size"]
    assert summary["best"]["test"]["ci_low"] <= summary["best"]["test"]["score"] <= summary["best"]["test"]["ci_high"]
    sharing = summary["sharing"]
    assert sharing["calls_made"] <= sharing["calls_without_sharing"] <= sharing["calls_without_sharing_or_pruning"]


def test_models_are_ranked_on_the_dev_split_first(pool, tmp_path):
    result = search(
        small_space(pool),
        "gsm8k",
        items=pool.items(),
        out_dir=tmp_path / "out",
        trials=2,
        cache=tmp_path / "calls.sqlite",
        evaluate_test=False,
    )
    ranking = result.summary["model_ranking"]
    assert [r["dev_score"] for r in ranking] == sorted((r["dev_score"] for r in ranking), reverse=True)
    # the top-ranked model is the first generator and the fuser
    cfg = result.best["config"]
    assert cfg["layers"][0][0]["model"] == ranking[0]["model"]


def test_score_and_cost_give_the_pareto_front(pool, tmp_path):
    result = search(
        small_space(pool),
        "gsm8k",
        items=pool.items(),
        out_dir=tmp_path / "out",
        trials=8,
        objectives=("score", "cost"),
        cache=tmp_path / "calls.sqlite",
        baselines=False,
    )
    front = result.front
    assert front and result.summary["cost_unit"] == "calls"
    done = [r for r in result.trials if r["state"] == "complete"]
    for r in front:  # nothing evaluated is at least as good and cheaper
        assert not any(o["score"] >= r["score"] and o["cost"] < r["cost"] for o in done)
    assert [r["cost"] for r in front] == sorted(r["cost"] for r in front)
    assert [r["score"] for r in front] == sorted(r["score"] for r in front)
    assert all("test" in r for r in front)


def test_a_second_run_continues_the_study(pool, tmp_path):
    out = tmp_path / "out"
    kw = {
        "items": pool.items(),
        "out_dir": out,
        "cache": tmp_path / "calls.sqlite",
        "evaluate_test": False,
        "sampler": "random",
    }
    search(small_space(pool), "gsm8k", trials=3, **kw)
    first = {r["number"]: r for r in read_trials(out) if r["decision"] == "evaluate"}
    search(small_space(pool), "gsm8k", trials=5, **kw)
    rows = [r for r in read_trials(out) if r["decision"] == "evaluate"]
    assert len(rows) == 5 and len({r["config_path"] for r in rows}) == 5
    for r in rows:  # the first three were not redone
        if r["number"] in first:
            assert r["new_calls"] == first[r["number"]]["new_calls"]
    with pytest.raises(ArchonError, match="different"):
        search(small_space(pool), "gsm8k", trials=5, budget=Budget(max_calls_per_query=5), **kw)


def test_whole_search_budget_stops_the_search(pool, tmp_path):
    result = search(
        small_space(pool),
        "gsm8k",
        items=pool.items(),
        out_dir=tmp_path / "out",
        trials=50,
        budget=Budget(search_budget_calls=300),
        cache=tmp_path / "calls.sqlite",
        evaluate_test=False,
        sampler="grid",
    )
    assert result.summary["stopped"] == "whole-search budget reached"
    assert result.summary["trials"]["evaluated"] < 50


def test_no_architecture_within_budget_is_an_error(pool, tmp_path):
    with pytest.raises(ArchonError, match="no architecture of the space is within the budget"):
        search(
            small_space(pool, rank_models=False),
            "gsm8k",
            items=pool.items(),
            out_dir=tmp_path / "out",
            budget=Budget(max_output_tokens=100),
            cache=tmp_path / "calls.sqlite",
        )


def test_a_registered_sampler_is_chosen_by_name_and_a_typo_is_named(pool, tmp_path):
    from archon.errors import ArchonError
    from archon.search import register_sampler
    from archon.search.samplers import RandomCandidateSampler

    seeds = []

    def mine(candidates, options):
        seeds.append(options.seed)
        return RandomCandidateSampler(candidates, options.seed)

    register_sampler("mine", mine)
    kw = {"items": pool.items(), "cache": tmp_path / "calls.sqlite", "evaluate_test": False, "seed": 3}
    search(small_space(pool), "gsm8k", trials=2, out_dir=tmp_path / "a", sampler="mine", **kw)
    assert seeds and set(seeds) == {3}
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["study"]["sampler"] == "mine"
    with pytest.raises(ArchonError, match="did you mean 'mine'"):
        search(small_space(pool), "gsm8k", trials=2, out_dir=tmp_path / "b", sampler="mien", **kw)
