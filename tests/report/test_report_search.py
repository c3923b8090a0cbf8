"""Reports on search folders (trials.jsonl, summary.json, study.db and the trials' configs),
written here as a search writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archon.cli import main
from archon.errors import ArchonError
from archon.report import build_report, write_report

optuna = pytest.importorskip("optuna")


def _config(generators: int, samples: int, fusion_layers: int) -> dict:
    gens = [
        {"type": "generator", "model": f"model-{g}", "model_type": "OpenAI_API", "samples": samples}
        for g in range(generators)
    ]
    fusers = [[{"type": "fuser", "model": "model-0", "model_type": "OpenAI_API"}] for _ in range(fusion_layers)]
    return {"name": f"g{generators}-s{samples}-f{fusion_layers}", "layers": [gens, *fusers]}


def make_search(out: Path, *, sampler: str = "tpe", n_trials: int = 12, seed: int = 0, finished: bool = True) -> dict:
    """A search folder with a real Optuna study: the score grows with generators and samples, cost with calls."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "trials").mkdir(exist_ok=True)
    study = optuna.create_study(
        study_name="search",
        storage=f"sqlite:///{out / 'study.db'}",
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=seed),
    )
    lines = []
    for _ in range(n_trials):
        t = study.ask()
        g, s = t.suggest_int("generators", 1, 5), t.suggest_int("samples", 1, 5)
        f = t.suggest_int("fusion_layers", 1, 3)
        calls = g * s + f
        cfg_path = f"trials/{t.number:04d}.json"
        (out / cfg_path).write_text(json.dumps(_config(g, s, f)))
        pruned = t.number % 5 == 4
        score = round(0.4 + 0.08 * g + 0.02 * s - 0.01 * f, 4)
        if pruned:
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(t, score)
        lines.append(
            {
                "number": t.number,
                "params": t.params,
                "config": cfg_path,
                "score": score,
                "pruned": pruned,
                "state": "PRUNED" if pruned else "COMPLETE",
                "calls_per_query": calls,
                "new_calls": calls * 3 - t.number % 3,
                "cached_calls": t.number % 3,
                "cost_per_query_usd": calls * 0.001,
                "cost_usd": calls * 0.003,
            }
        )
    (out / "trials.jsonl").write_text("".join(json.dumps(trial) + "\n" for trial in lines))
    done = [trial for trial in lines if not trial["pruned"]]
    best = max(done, key=lambda trial: trial["score"])
    summary = {
        "sampler": sampler,
        "best": {
            "number": best["number"],
            "score": best["score"],
            "config": best["config"],
            "test": {"score": 0.8125, "ci_low": 0.75, "ci_high": 0.875, "n": 64},
        },
        "front": [{"number": best["number"], "score": best["score"], "cost": best["cost_per_query_usd"]}],
        "spend": {
            "calls": sum(trial["new_calls"] for trial in lines),
            "cost_usd": round(sum(trial["cost_usd"] for trial in lines), 6),
        },
        "sharing": {"calls_made": 101, "calls_without_sharing": 517},
        "pruning": {"trials_pruned": len(lines) - len(done), "calls_saved": 42},
    }
    if finished:
        (out / "summary.json").write_text(json.dumps(summary))
    return {"lines": lines, "summary": summary}


def test_search_report_shows_its_numbers_figures_and_architectures(tmp_path, read_page):
    made = make_search(tmp_path / "search")
    page = read_page(write_report([tmp_path / "search"], tmp_path / "r.html"))
    lines, summary = made["lines"], made["summary"]

    # Every trial, with its numbers exactly as trials.jsonl has them.
    rows = page.table_with("trial", "state", "score", "calls/query", "new calls")
    assert [r["trial"].value for r in rows] == [trial["number"] for trial in lines]
    assert [r["score"].value for r in rows] == [trial["score"] for trial in lines]
    assert [r["new calls"].value for r in rows] == [trial["new_calls"] for trial in lines]
    assert [r["cost/query"].value for r in rows] == [trial["cost_per_query_usd"] for trial in lines]
    assert [r["state"].text for r in rows].count("pruned") == summary["pruning"]["trials_pruned"]

    # The summary's best, spend, sharing and pruning figures.
    assert page.row("best dev score").value == summary["best"]["score"]
    assert page.row("best trial").value == summary["best"]["number"]
    assert page.row("sharing.calls_made").value == 101 and page.row("sharing.calls_without_sharing").value == 517
    assert page.row("pruning.calls_saved").value == 42
    assert page.row("spend.cost_usd").value == summary["spend"]["cost_usd"]

    # The charts: progress against trials, calls and $, the cost/score plane, importances from study.db.
    assert any(c.startswith("Best score so far vs trials") for c in page.captions)
    assert any(c.startswith("Best score so far vs LLM calls") for c in page.captions)
    assert any(c.startswith("Best score so far vs $") for c in page.captions)
    assert any("Pareto front" in c and "cost per query ($)" in c for c in page.captions)
    assert any(c.startswith("Parameter importances") for c in page.captions)
    assert page.svgs >= 5
    for axis in ("generators", "samples", "fusion_layers"):  # the importance bars are labelled by axis
        assert f">{axis}<" in page.text

    # The top architectures as layer diagrams, the best one with its test score and interval.
    best_cfg = json.loads((tmp_path / "search" / summary["best"]["config"]).read_text())
    assert "#1: trial " + str(summary["best"]["number"]) in page.text
    assert 0.8125 in page.values and 0.75 in page.values and 0.875 in page.values
    n_gens = len(best_cfg["layers"][0])
    assert page.text.count('class="comp"') >= len(best_cfg["layers"][0]) + len(best_cfg["layers"]) - 1
    assert all(f">model-{g}<" in page.text or f">model-{g} ×" in page.text for g in range(n_gens))

    # Self-contained: nothing fetched, no scripts.
    assert page.resources == [] and page.scripts == 0


def test_a_running_search_shows_what_is_done_so_far(tmp_path, read_page):
    made = make_search(tmp_path / "s", finished=False)
    with open(tmp_path / "s" / "trials.jsonl", "a") as fh:
        fh.write('{"number": 12, "params": {"generators": 3')  # the writer is mid-line
    page = read_page(write_report([tmp_path / "s"], tmp_path / "r.html"))
    assert "Search in progress (no summary.json yet): 12 trial(s) recorded so far" in page.text
    assert len(page.table_with("trial", "score")) == 12
    done = [trial["score"] for trial in made["lines"] if not trial["pruned"]]
    assert page.row("best dev score").value == max(done)
    assert page.row("complete").value == len(done)
    assert any(c.startswith("Best score so far vs trials") for c in page.captions)


def test_several_searches_get_one_line_per_sampler(tmp_path, read_page):
    make_search(tmp_path / "a", sampler="tpe", seed=1)
    make_search(tmp_path / "b", sampler="random", seed=2)
    page = read_page(write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "r.html"))
    assert "Searches compared" in page.text
    compared = page.text.split('id="compare"')[1].split("</section>")[0]
    assert ">tpe<" in compared and ">random<" in compared  # the legend names each sampler


def test_missing_fields_and_study_show_as_not_available(tmp_path, read_page):
    out = tmp_path / "bare"
    out.mkdir()
    (out / "trials.jsonl").write_text(
        json.dumps({"number": 0, "score": 0.5})
        + "\n"
        + json.dumps({"number": 1, "score": 0.7, "calls_per_query": 3})
        + "\n"
    )
    page = read_page(write_report([out], tmp_path / "r.html"))
    rows = page.table_with("trial", "score", "calls/query", "new calls")
    assert [r["score"].value for r in rows] == [0.5, 0.7]
    assert rows[0]["calls/query"].text == "n/a" and rows[1]["new calls"].text == "n/a"
    assert "Parameter importances: unavailable (no study.db in this folder)" in page.text


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
