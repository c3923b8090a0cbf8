"""`archon search` end to end against the HTTP test double: budgets counted at the server, best.json
runs, a killed search resumes, judged benchmarks as objectives."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import yaml

from archon.engine.cache import CallCache
from archon.search import Budget, search
from archon.testing.fake_openai import FakeOpenAIServer
from archon.testing.simulated import SimulatedPool

from .search_helpers import http_models, samples_served, search_command

AXES = {
    "generators": [1, 3],
    "samples": [1, 2],
    "fusion_layers": [0, 2],
    "fusers_per_layer": [2, 4, 2],
    "critic_ranker": [False, True],
    "evaluation": ["none", "verifier"],
}


def write_space(path: Path, srv, pool, **extra) -> Path:
    path.write_text(yaml.safe_dump({"models": http_models(srv, pool), "axes": AXES, **extra}))
    return path


def item_calls(out: Path) -> list[int]:
    """Calls per item of every evaluated trial, from their run folders."""
    calls = []
    for f in out.glob("architectures/*/dev-*/results.jsonl"):
        calls += [json.loads(line)["usage"]["calls"] for line in f.read_text().splitlines()]
    return calls


def test_budgets_are_never_exceeded_counted_at_the_server(pool_server, tmp_path):
    pool = pool_server.pool
    out = tmp_path / "out"
    result = search(
        {"models": http_models(pool_server, pool), "axes": AXES},
        "gsm8k",
        items=pool.items(),
        out_dir=out,
        trials=6,
        budget=Budget(max_calls_per_query=12),
        cache=tmp_path / "calls.sqlite",
        evaluate_test=False,
        sampler="tpe",
    )
    summary = result.summary
    # Every call the search made reached the server, and the search accounts for each.
    assert samples_served(pool_server) == summary["sharing"]["calls_made"]
    # No query of any trial took more than the limit (counted per item from the trials' own runs).
    per_item = item_calls(out)
    assert per_item and max(per_item) <= 12
    assert all(r["calls_per_query"] <= 12 for r in result.trials if r["decision"] == "evaluate")


def test_whole_search_budget_in_calls_at_the_server(pool_server, tmp_path):
    pool = pool_server.pool
    result = search(
        {"models": http_models(pool_server, pool), "axes": AXES, "rank_models": False},
        "gsm8k",
        items=pool.items(),
        out_dir=tmp_path / "out",
        trials=40,
        chunks=4,
        budget=Budget(max_calls_per_query=12, search_budget_calls=250),
        cache=tmp_path / "calls.sqlite",
        evaluate_test=False,
    )
    assert result.summary["stopped"] == "whole-search budget reached"
    # It stops at the first chunk past the budget: at most one chunk (2 dev items here) of one trial over.
    assert 250 <= samples_served(pool_server) <= 250 + 12 * 2


def test_best_json_runs_with_archon_run(pool_server, tmp_path):
    pool = pool_server.pool
    space = write_space(tmp_path / "space.yaml", pool_server, pool)
    data = pool.write_data(tmp_path / "items.jsonl")
    done = subprocess.run(
        [
            *search_command(space, data, tmp_path / "out"),
            "--trials",
            "3",
            "--max-calls-per-query",
            "10",
            "--cache",
            str(tmp_path / "calls.sqlite"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "within budget" in done.stderr and "estimate" in done.stderr  # said before spending
    assert "best:" in done.stdout and "best trials" in done.stdout
    best = tmp_path / "out" / "best.json"
    for cmd in (["validate", str(best)], ["run", str(best), pool.question(next(iter(pool.answers)))]):
        ran = subprocess.run([sys.executable, "-m", "archon.cli", *cmd], capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    assert re.search(r"The answer is \d+\.", ran.stdout)


def _study(out: Path) -> optuna.Study:
    return optuna.load_study(study_name="archon-search", storage=f"sqlite:///{out / 'study.db'}")


def test_a_killed_search_resumes_and_reruns_the_cut_off_trial_from_the_cache(tmp_path):
    pool = SimulatedPool(n_models=4, n_items=40)
    with FakeOpenAIServer(responder=pool.responder, latency=0.15) as srv:
        space = write_space(tmp_path / "space.yaml", srv, pool, rank_models=False)
        data = pool.write_data(tmp_path / "items.jsonl")
        out = tmp_path / "out"
        cmd = [
            *search_command(space, data, out),
            "--trials",
            "4",
            "--chunks",
            "4",
            "--no-pruning",
            "--sampler",
            "random",
            "--cache",
            str(tmp_path / "calls.sqlite"),
            "--no-baselines",
        ]
        log = open(tmp_path / "search.err", "w")  # noqa: SIM115 - closed below, after the kill
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        # Kill it hard in the middle of a trial: one that has scored some of its dev items, not all.
        # Watched often and cheaply (one study handle): a trial of a one-layer architecture is in its
        # middle for well under a second.
        deadline = time.monotonic() + 120
        cut = study = None
        trials = []
        while cut is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            if not (out / "study.db").exists():  # (opening it first would create it)
                continue
            try:
                study = study or _study(out)
                trials = study.get_trials()
            except Exception:  # not created yet
                continue
            cut = next(
                (
                    t.number
                    for t in trials
                    if t.state == optuna.trial.TrialState.RUNNING
                    and 0 < t.user_attrs.get("items", 0) < 8
                    and len(trials) >= 2
                ),
                None,
            )
        exited = proc.poll()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()
        seen = [(t.number, t.state.name, t.user_attrs.get("items")) for t in trials]
        assert cut is not None, (
            f"the search never reached the middle of a second trial (exit status {exited}; trials seen {seen}): "
            + (tmp_path / "search.err").read_text()[-2000:]
        )
        before = samples_served(srv)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        trials = _study(out).get_trials()
        evaluated = [
            t
            for t in trials
            if t.user_attrs.get("decision") == "evaluate" and t.state == optuna.trial.TrialState.COMPLETE
        ]
        assert len(evaluated) == 4 and len({t.user_attrs["arch"] for t in evaluated}) == 4
        rerun = [t for t in evaluated if t.user_attrs.get("rerun_of") == cut]
        assert rerun, "the cut-off trial was not rerun"
        # Nothing was asked twice: every call the server answered is one row of the cache (a call in
        # flight at the kill may be asked again).
        rows = len(CallCache(tmp_path / "calls.sqlite"))
        assert rows <= samples_served(srv) <= rows + 8
        assert samples_served(srv) > before  # the rest of the search ran after the restart


def test_judged_benchmark_as_objective(tmp_path):
    pool = SimulatedPool(n_models=3, n_items=30)

    def respond(body):
        if body.get("model") == "judge":  # rates an answer 9 when it is right, 3 when not
            text = "\n".join(str(m.get("content")) for m in body["messages"])
            item = re.search(r"\[item ([\w-]+)\]", text).group(1)
            answers = re.findall(r"The answer is (\d+)\.", text)
            right = bool(answers) and int(answers[-1]) == pool.answers[item]
            return [f"Rating: [[{9 if right else 3}]]"]
        return pool.responder(body)

    with FakeOpenAIServer(responder=respond) as srv:
        data = tmp_path / "mt.jsonl"
        data.write_text(
            "".join(
                json.dumps({"question_id": i, "category": "sim", "turns": [pool.question(i)]}) + "\n"
                for i in pool.answers
            )
        )
        judge = {
            "name": "judge",
            "layers": [
                [
                    {
                        "type": "generator",
                        "model": "judge",
                        "model_type": "OpenAI_API",
                        "base_url": srv.base_url,
                        "temperature": 0,
                    }
                ]
            ],
        }
        result = search(
            {
                "models": http_models(srv, pool),
                "axes": {"generators": [1, 2], "samples": [1, 2], "fusion_layers": [0, 1]},
            },
            "mt-bench",
            data=data,
            judge=judge,
            out_dir=tmp_path / "out",
            trials=3,
            cache=tmp_path / "calls.sqlite",
            baselines=False,
        )
    assert result.best is not None
    assert 3 <= result.best["dev_score"] <= 9  # on the judge's 1..10 scale
    assert all(r["judge_calls"] > 0 for r in result.trials if r["decision"] == "evaluate")
    assert 3 <= result.best["test"]["score"] <= 9


def test_without_the_search_extra_the_error_says_how_to_install_it(tmp_path):
    # optuna made unimportable in a fresh interpreter, as on an install without the extra
    code = (
        "import sys; sys.modules['optuna'] = None\n"
        "from archon.cli import main\n"
        f"sys.exit(main(['search', 'space.yaml', '--benchmark', 'gsm8k', '--out', {str(tmp_path / 'o')!r}]))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "pip install 'archon[search]'" in run.stderr and "Traceback" not in run.stderr
