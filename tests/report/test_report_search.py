"""Reports on real searches: `archon.search.search` on the simulated pool, finished, compared, killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archon.cli import main
from archon.errors import ArchonError
from archon.report import build_report, write_report
from archon.testing.fake_openai import FakeOpenAIServer
from archon.testing.simulated import SimulatedPool, register

optuna = pytest.importorskip("optuna")
from archon.search import search  # noqa: E402  (needs optuna)

AXES = {
    "generators": [1, 3],
    "samples": [1, 2],
    "fusion_layers": [0, 1],
    "critic_ranker": [False, True],
    "evaluation": ["none", "verifier"],
}


@pytest.fixture
def pool():
    """The simulated pool as ``model_type: simulated`` (for this test only: the suite's conftest undoes it)."""
    return register(SimulatedPool(n_models=3, n_items=30))


def run_search(pool, out: Path, **kw) -> tuple[list[dict], dict]:
    search(
        {"models": pool.model_entries(), "axes": AXES},
        "gsm8k",
        items=pool.items(),
        out_dir=out,
        cache=out.parent / f"{out.name}-calls.sqlite",
        trials=kw.pop("trials", 6),
        **kw,
    )
    trials = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]
    return trials, json.loads((out / "summary.json").read_text())


def values(rows, column):
    return [r[column].value for r in rows]


def test_search_report_numbers_are_those_of_summary_and_trials(pool, tmp_path, read_page):
    trials, summary = run_search(pool, tmp_path / "s", objectives=["score", "cost"], trials=8)
    page = read_page(write_report([tmp_path / "s"], tmp_path / "r.html"))

    # Every trial, as trials.jsonl has it; its cost per query is what it spent per dev item (here: calls).
    rows = page.table_with("trial", "architecture", "decision", "state", "dev score", "dev calls/query")
    assert values(rows, "trial") == [t["number"] for t in trials]
    assert [r["architecture"].text for r in rows] == [t["label"] for t in trials]
    assert [r["state"].text for r in rows] == [t["state"] for t in trials]
    assert values(rows, "dev score") == [t["score"] for t in trials]
    assert values(rows, "dev calls/query") == [t["calls"] / t["items"] for t in trials]
    for column, key in (
        ("worst-case calls/query", "calls_per_query"),
        ("items", "items"),
        ("new calls", "new_calls"),
        ("cached calls", "cached_calls"),
        ("calls saved", "calls_saved"),
    ):
        assert values(rows, column) == [t[key] for t in trials], column

    # The overview, spend and sharing blocks: summary.json's numbers.
    assert page.row("sampler").text == summary["study"]["sampler"] == "bo"
    assert page.row("objectives").text == "score, cost"
    assert page.row("architectures in the space").value == summary["space"]["size"]
    assert page.row("within the budget").value == summary["space"]["within_budget"]
    for label in ("evaluated", "complete", "pruned"):
        assert page.row(label if label != "evaluated" else "trials evaluated").value == summary["trials"][label]
    for why, count in summary["trials"]["not_evaluated"].items():
        assert page.row(f"not evaluated: {why.replace('_', ' ')}").value == count
    sharing = summary["sharing"]
    for label, key in (
        ("calls made", "calls_made"),
        ("calls without sharing", "calls_without_sharing"),
        ("saved by sharing", "saved_by_sharing"),
        ("saved by pruning", "saved_by_pruning"),
        ("calls without sharing or pruning", "calls_without_sharing_or_pruning"),
    ):
        assert page.row(label).value == sharing[key], label
    assert page.row("spent: LLM calls").value == summary["spend"]["calls"]
    assert sharing["calls_made"] < sharing["calls_without_sharing"]  # the trials shared generations

    # The best, its test score beside the compute-matched baselines, and the verdict on the runner-up.
    best, test = summary["best"], summary["best"]["test"]
    assert page.row("best trial").value == best["trial"]
    assert page.row("best architecture").text == best["label"]
    assert page.row("best dev score").value == best["dev_score"]
    assert (page.row("test score").value, page.row("test 95% low").value, page.row("test 95% high").value) == (
        test["score"],
        test["ci_low"],
        test["ci_high"],
    )
    assert page.row("test calls/query").value == test["calls_per_query"]
    side = {r["architecture"].text: r for r in page.table_with("architecture", "score", "95% low", "calls/query")}
    assert set(side) == {"best: " + best["label"], *test["baselines"]}
    for name, b in test["baselines"].items():
        assert (side[name]["score"].value, side[name]["95% low"].value, side[name]["95% high"].value) == (
            b["score"],
            b["ci_low"],
            b["ci_high"],
        )
        assert side[name]["calls/query"].value == b["calls_per_query"]
    verdict = summary["winner_vs_runner_up"]
    assert page.row("runner-up").text == verdict["runner_up"]["label"]
    assert page.row("runner-up test score").value == verdict["runner_up"]["test_score"]
    assert page.row("mean difference").value == verdict["mean_difference"]
    assert (page.row("difference 95% low").value, page.row("difference 95% high").value) == (
        verdict["ci_low"],
        verdict["ci_high"],
    )
    assert page.row("beats beyond noise").text == ("yes" if verdict["beats_beyond_noise"] else "no")

    # The models ranked alone first.
    ranking = page.table_with("model", "model type", "dev score", "new calls")
    assert [(r["model"].text, r["dev score"].value) for r in ranking] == [
        (m["model"], m["dev_score"]) for m in summary["model_ranking"]
    ]

    # The Pareto front: the summary's, each point with its test score.
    front = page.table_with("trial", "dev score", "dev cost/query", "test score")
    assert values(front, "trial") == [f["number"] for f in summary["front"]]
    assert values(front, "dev cost/query") == [f["cost"] for f in summary["front"]]
    assert values(front, "test score") == [f["test"]["score"] for f in summary["front"]]

    # The charts: progress, the cost/score plane, importances from study.db (bars labelled by axis).
    assert any(c.startswith("Best dev score so far vs trials evaluated") for c in page.captions)
    assert any(c.startswith("Best dev score so far vs LLM calls") for c in page.captions)
    assert any(c == "Every trial: dev score vs LLM calls per query, with the Pareto front" for c in page.captions)
    assert any(c.startswith("Parameter importances") for c in page.captions)
    assert any(c.startswith("LLM calls: made vs without sharing") for c in page.captions)
    varied = [axis for axis in AXES if len({t["params"][axis] for t in trials}) > 1]
    assert varied and all(f">{axis}<" in page.text for axis in varied)

    # The top architectures as layer diagrams: the best first, its boxes and its test score.
    assert f"#1: trial {best['trial']}</b> · {best['label']}" in page.text
    card = page.text.split(f"#1: trial {best['trial']}")[1].split("archcard")[0]
    assert f'data-value="{test["score"]}"' in card
    components = [c for layer in best["config"]["layers"] for c in layer]
    assert card.count('class="comp"') == len(components)
    assert all(f">{c['type']}<" in card for c in components)

    assert page.resources == [] and page.scripts == 0


def test_two_searches_with_different_samplers_are_compared(pool, tmp_path, read_page):
    run_search(pool, tmp_path / "a", sampler="random", evaluate_test=False)
    run_search(pool, tmp_path / "b", sampler="tpe", evaluate_test=False)
    page = read_page(write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "r.html"))
    compared = page.text.split('id="compare"')[1].split("</section>")[0]
    assert "Best dev score so far vs trials evaluated" in compared
    assert ">random<" in compared and ">tpe<" in compared  # the legend names each sampler
    assert "<h2>Search: random</h2>" in page.text and "<h2>Search: tpe</h2>" in page.text


def test_a_search_cut_off_before_its_summary_shows_its_trials(pool, tmp_path, read_page):
    """The search writes trials.jsonl, then tests its best, then writes summary.json: cut off in between."""
    trials, _ = run_search(pool, tmp_path / "s", baselines=False)
    (tmp_path / "s" / "summary.json").unlink()
    page = read_page(write_report([tmp_path / "s"], tmp_path / "r.html"))
    assert "Search running or cut off (no summary.json yet)" in page.text
    rows = page.table_with("trial", "decision", "dev score")
    assert values(rows, "dev score") == [t["score"] for t in trials]
    assert page.row("trials evaluated").value == sum(t["decision"] == "evaluate" for t in trials)
    assert page.row("calls made").value == sum(t["new_calls"] for t in trials)  # so far: the trials' own calls
    assert page.row("sampler").text == "n/a"
    assert any(c.startswith("Best dev score so far vs trials evaluated") for c in page.captions)


def _complete_rows(trials_file: Path) -> list[dict]:
    try:
        rows = [json.loads(line) for line in trials_file.read_text().splitlines()]
    except (OSError, ValueError):  # not written yet
        return []
    return [r for r in rows if r["state"] == "complete"]


def test_a_killed_search_shows_the_trials_it_ended(tmp_path, read_page):
    """`archon search` rewrites trials.jsonl as each trial ends: killed mid-way (no summary.json), its
    folder still shows the trials so far, as its study holds them."""
    pool = SimulatedPool(n_models=3, n_items=30)
    with FakeOpenAIServer(responder=pool.responder, latency=0.05) as srv:
        models = [{"model": m.name, "model_type": "OpenAI_API", "base_url": srv.base_url} for m in pool.models]
        space = tmp_path / "space.json"
        space.write_text(json.dumps({"models": models, "axes": AXES, "rank_models": False}))
        out = tmp_path / "out"
        cmd = [sys.executable, "-m", "archon.cli", "search", str(space), "--benchmark", "gsm8k"]
        cmd += ["--data", str(pool.write_data(tmp_path / "items.jsonl")), "--out", str(out), "--trials", "6"]
        cmd += ["--sampler", "random", "--no-pruning", "--no-baselines", "--cache", str(tmp_path / "c.sqlite")]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while len(_complete_rows(out / "trials.jsonl")) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    written = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]
    assert len([r for r in written if r["state"] == "complete"]) >= 2, "the search did not complete two trials"
    assert not (out / "summary.json").exists()
    study = optuna.load_study(study_name="archon-search", storage=f"sqlite:///{out / 'study.db'}")
    in_study = {t.number: t for t in study.get_trials()}
    for r in written:  # the file says what the study says of each trial that had ended
        if r["state"] == "complete":
            assert in_study[r["number"]].values[0] == r["score"]

    page = read_page(write_report([out], tmp_path / "r.html"))
    assert "Search running or cut off (no summary.json yet)" in page.text
    rows = page.table_with("trial", "state", "dev score", "new calls")
    assert values(rows, "trial") == [r["number"] for r in written]
    assert [r["state"].text for r in rows] == [r["state"] for r in written]
    done = [r for r in written if r["state"] == "complete"]
    assert [r["dev score"].value for r in rows if r["state"].text == "complete"] == [r["score"] for r in done]
    assert values(rows, "new calls") == [r["new_calls"] for r in written]
    assert page.row("complete").value == len(done)
    assert any(c.startswith("Best dev score so far vs trials evaluated") for c in page.captions)
    assert any(c.startswith("Parameter importances") for c in page.captions) or "importances: unavailable" in page.text


def test_an_empty_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArchonError, match="holds nothing to report on"):
        build_report([tmp_path / "empty"])
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'empty'} holds nothing to report on" in err
    assert not (tmp_path / "r.html").exists()
    assert main(["report", str(tmp_path / "nothing-here"), "--out", str(tmp_path / "r.html")]) == 2
    assert "does not exist" in capsys.readouterr().err
