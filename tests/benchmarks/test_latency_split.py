"""Bench latencies tell time queued behind a provider's concurrency cap from time in calls, and leave out
cached answers."""

import json

from archon import Archon
from archon.benchmarks.runner import run_benchmark
from archon.cli import main
from archon.testing.fake_openai import FakeOpenAIServer


def test_queued_time_and_cached_answers_are_told_apart(tmp_path, capsys):
    data = tmp_path / "gsm8k.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "question": f"What is {i} + 1?", "answer": f"#### {i + 1}"}) + "\n"
            for i in range(4)
        )
    )
    with FakeOpenAIServer(latency=0.1) as srv:
        cfg = {
            "name": "one-at-a-time",
            "layers": [[{"type": "generator", "model": "m", "model_type": "OpenAI_API", "base_url": srv.base_url}]],
        }
        cache = tmp_path / "calls.sqlite"
        # Four items at once, one request at a time: three of them wait for the one in flight.
        with Archon(cfg, concurrency={"OpenAI_API": 1}, cache=cache) as a:
            first = run_benchmark(a, "gsm8k", data=data, out_dir=tmp_path / "first", concurrency=4)
        with Archon(cfg, cache=cache) as a:
            second = run_benchmark(a, "gsm8k", data=data, out_dir=tmp_path / "second")
    assert first["answers_from_cache"] == 0
    assert first["queue_s"]["p90"] > 0 and first["queue_s"]["p50"] <= first["latency_s"]["p50"]
    records = [json.loads(line) for line in (tmp_path / "first" / "results.jsonl").read_text().splitlines()]
    assert sum(r["queue_s"] > 0 for r in records) >= 3
    for r in records:  # what is not queued is time in the call (plus the engine's own, tiny)
        assert 0 <= r["queue_s"] <= r["latency_s"]
    for p in ("p50", "p90"):
        assert first["call_latency_s"][p] <= first["latency_s"][p]

    # The second run took every answer from the cache: no latency to put beside the first run's.
    assert second["answers_from_cache"] == 4 and second["latency_s"]["p50"] is None

    assert main(["compare", str(tmp_path / "first"), str(tmp_path / "second")]) == 0
    out = capsys.readouterr().out
    assert "from cache" in out and "queued)" in out
    first_row, second_row = [line for line in out.splitlines() if "one-at-a-time" in line]
    assert "queued)" in first_row and first_row.rstrip(" │").endswith(" 0")
    assert "0.00s" not in second_row and second_row.rstrip(" │").endswith(" 4")
