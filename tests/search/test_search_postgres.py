"""Three workers on one study in a real PostgreSQL server (started here with the pgserver wheel)."""

from __future__ import annotations

import subprocess

import optuna
import pytest
import yaml

from archon.engine.cache import CallCache
from archon.testing.fake_openai import FakeOpenAIServer
from archon.testing.simulated import SimulatedPool

from .search_helpers import http_models, samples_served, search_command

pgserver = pytest.importorskip("pgserver")


@pytest.fixture
def postgres(tmp_path):
    srv = pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    try:
        yield srv.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        srv.cleanup()


def test_three_workers_share_one_study_and_its_call_cache(postgres, tmp_path):
    pool = SimulatedPool(n_models=4, n_items=40)
    with FakeOpenAIServer(responder=pool.responder, latency=0.02) as srv:
        space = tmp_path / "space.yaml"
        space.write_text(
            yaml.safe_dump(
                {
                    "models": http_models(srv, pool),
                    "rank_models": False,
                    "axes": {
                        "generators": [1, 4],
                        "samples": [1, 2],
                        "fusion_layers": [0, 2],
                        "fusers_per_layer": [2, 4, 2],
                    },
                }
            )
        )
        data = pool.write_data(tmp_path / "items.jsonl")
        workers = [
            subprocess.Popen(
                [
                    *search_command(space, data, tmp_path / f"worker{i}"),
                    "--trials",
                    "7",
                    "--storage",
                    postgres,
                    "--sampler",
                    "random",
                    "--no-baselines",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(3)
        ]
        results = [w.communicate(timeout=300) for w in workers]
        for w, (_, err) in zip(workers, results):
            assert w.returncode == 0, err
        trials = optuna.load_study(study_name="archon-search", storage=postgres).get_trials()
        evaluated = [
            t
            for t in trials
            if t.user_attrs.get("decision") == "evaluate"
            and t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        ]
        assert len(evaluated) == 7  # the trial count held across the workers
        assert len({t.user_attrs["arch"] for t in evaluated}) == 7  # no architecture evaluated twice
        assert len({t.user_attrs["config_path"].split("/worker")[1][0] for t in evaluated}) > 1  # shared out
        # The call cache lives in the same database: each answer the server gave is one row there
        # (two workers asking the very same call at the same moment may both ask it).
        cache = CallCache(postgres)
        try:
            rows = len(cache)
        finally:
            cache.close()
        assert 0 < rows <= samples_served(srv) <= rows * 1.2
