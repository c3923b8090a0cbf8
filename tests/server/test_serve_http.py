"""``archon serve`` over raw HTTP: errors in OpenAI's shape, auth, limits, disconnects, SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import httpx
import pytest

from archon.testing.fake_openai import Behaviour

ASK = {"model": "moa", "messages": [{"role": "user", "content": "hello"}]}


def error_of(resp: httpx.Response) -> dict:
    body = resp.json()
    assert set(body) == {"error"} and {"message", "type", "param", "code"} <= set(body["error"])
    return body["error"]


@pytest.mark.parametrize(
    "body, status, param",
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        (b'{"model": "moa"}', 400, "messages"),
        (b'{"model": "moa", "messages": [{"role": "tool", "content": "x"}]}', 400, "messages.0.role"),
        (b'{"model": "moa", "messages": [{"role": "user", "content": 5}]}', 400, "messages.0.content"),
        (b'{"model": "moa", "messages": [{"role": "user", "content": "x"}], "n": 0}', 400, "n"),
        (
            b'{"model": "moa", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}',
            400,
            "tools",
        ),
        (b'{"model": "moa", "messages": [{"role": "user", "content": "x"}], "logprobs": true}', 400, "logprobs"),
        (b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}', 404, "model"),
    ],
)
def test_bad_requests_get_openai_errors(server, fake, h, body, status, param):
    resp = httpx.post(
        f"{server.base_url}/chat/completions", content=body, headers={**h.headers(), "Content-Type": "application/json"}
    )
    assert resp.status_code == status
    assert error_of(resp)["param"] == param
    assert fake.requests == []


def test_keys_are_required_and_checked(server, fake, h):
    url = f"{server.base_url}/chat/completions"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": h.key}):
        resp = httpx.post(url, json=ASK, headers=headers)
        assert resp.status_code == 401 and error_of(resp)["code"] == "invalid_api_key"
    assert httpx.get(f"{server.base_url}/models").status_code == 401
    assert httpx.post(url, json=ASK, headers=h.headers()).status_code == 200
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"


def test_size_and_message_limits(server, fake, h):
    url = f"{server.base_url}/chat/completions"
    big = {"model": "moa", "messages": [{"role": "user", "content": "x" * (5 * 2**20)}]}
    assert httpx.post(url, json=big, headers=h.headers()).status_code == 413
    many = {"model": "moa", "messages": [{"role": "user", "content": "x"}] * 600}
    assert error_of(httpx.post(url, json=many, headers=h.headers()))["param"] == "messages"
    assert fake.requests == []


def test_metrics_count_requests_calls_and_tokens(server, fake, h):
    httpx.post(f"{server.base_url}/chat/completions", json=ASK, headers=h.headers()).raise_for_status()
    text = httpx.get(f"{server.url}/metrics", headers=h.headers()).text
    assert 'archon_requests_total{model="moa",status="200"}' in text
    for name in (
        "archon_llm_calls_total",
        "archon_tokens_total",
        "archon_cost_usd_total",
        "archon_queries_in_flight",
        "archon_request_latency_seconds_bucket",
    ):
        assert name in text


def test_with_keys_metrics_need_one_and_health_stays_open(server, h):
    # The metrics name the models served and what they spend: behind the keys, like the API.
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    assert httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer guessed"}).status_code == 401
    assert httpx.get(f"{server.url}/metrics", headers=h.headers()).status_code == 200
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"


def test_a_request_with_n_counts_n_queries(upstream, start_server, fake, h):
    srv = start_server([h.config(upstream.base_url)], "--max-concurrent-queries", "3", "--max-queued", "0")
    fake.enqueue(*[Behaviour(model="gen", delay=3)] * 2)
    first = threading.Thread(
        target=httpx.post,
        args=(f"{srv.base_url}/chat/completions",),
        kwargs={"json": {**ASK, "n": 2}, "headers": h.headers(), "timeout": 30},
    )
    first.start()
    h.until(lambda: len(fake.requests) == 2, "both runs of the first query reached the upstream")
    # Two of the three places are taken: a query with n=2 must wait (no queue: 429), one with n=1 runs.
    resp = httpx.post(f"{srv.base_url}/chat/completions", json={**ASK, "n": 2}, headers=h.headers())
    assert resp.status_code == 429 and error_of(resp)["code"] == "rate_limit_exceeded"
    assert httpx.get(f"{srv.url}/health").json()["in_flight"] == 2
    assert httpx.post(f"{srv.base_url}/chat/completions", json=ASK, headers=h.headers(), timeout=30).status_code == 200
    first.join()


def test_past_the_queue_a_query_gets_429_with_retry_after(upstream, start_server, fake, h):
    srv = start_server([h.config(upstream.base_url)], "--max-concurrent-queries", "1", "--max-queued", "0")
    fake.enqueue(Behaviour(model="gen", delay=3))
    first = threading.Thread(
        target=httpx.post,
        args=(f"{srv.base_url}/chat/completions",),
        kwargs={"json": ASK, "headers": h.headers(), "timeout": 30},
    )
    first.start()
    h.until(lambda: len(fake.requests) == 1, "the first query reached the upstream")
    resp = httpx.post(f"{srv.base_url}/chat/completions", json=ASK, headers=h.headers())
    assert resp.status_code == 429 and resp.headers["retry-after"] == "1"
    assert error_of(resp)["code"] == "rate_limit_exceeded"
    first.join()


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_leaves_stops_its_llm_calls(server, fake, h, stream):
    fake.enqueue(Behaviour(model="gen", hang=True))
    with (
        pytest.raises(httpx.ReadTimeout),
        httpx.stream(
            "POST",
            f"{server.base_url}/chat/completions",
            json={**ASK, "stream": stream},
            headers=h.headers(),
            timeout=httpx.Timeout(5, read=1),
        ) as resp,
    ):
        for _ in resp.iter_bytes():
            pass
    # The double's log shows the outstanding call stopped (its connection closed by the server).
    h.until(lambda: fake.requests and fake.requests[0].outcome == "disconnected", "the upstream call was stopped")
    assert [r.body["model"] for r in fake.requests] == ["gen"]


def test_sigterm_finishes_queries_in_flight(upstream, start_server, fake, h):
    srv = start_server([h.config(upstream.base_url)])
    fake.enqueue(Behaviour(model="gen", delay=1.5))
    got = {}
    t = threading.Thread(
        target=lambda: got.setdefault(
            "r", httpx.post(f"{srv.base_url}/chat/completions", json=ASK, headers=h.headers(), timeout=30)
        )
    )
    t.start()
    h.until(lambda: len(fake.requests) == 1, "the query reached the upstream")
    srv.proc.send_signal(signal.SIGTERM)
    t.join()
    assert got["r"].status_code == 200
    assert got["r"].json()["choices"][0]["message"]["content"] == "[fuse] reply 0 to: hello"
    assert srv.proc.wait(timeout=30) == 0  # a graceful shutdown is a normal end
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{srv.url}/health")


def test_keys_and_prompts_are_not_logged(upstream, start_server, fake, h):
    srv = start_server([h.config(upstream.base_url)], "--access-log")
    secret_prompt = "my-secret-prompt-words"
    httpx.post(
        f"{srv.base_url}/chat/completions",
        headers=h.headers(),
        json={"model": "moa", "messages": [{"role": "user", "content": secret_prompt}]},
    ).raise_for_status()
    httpx.post(f"{srv.base_url}/chat/completions", json=ASK, headers={"Authorization": "Bearer guessed-key"})
    logs = srv.stop()
    assert "POST /v1/chat/completions" in logs
    assert h.key not in logs and secret_prompt not in logs and "guessed-key" not in logs


def test_without_keys_only_loopback_unless_no_auth(upstream, tmp_path, h):
    import json

    cfg = tmp_path / "moa.json"
    cfg.write_text(json.dumps(h.config(upstream.base_url)))
    proc = subprocess.run(
        [sys.executable, "-m", "archon.cli", "serve", str(cfg), "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in __import__("os").environ.items() if k != "ARCHON_SERVER_API_KEYS"},
    )
    assert proc.returncode == 2
    assert "refusing to listen on 0.0.0.0" in proc.stderr and "--no-auth" in proc.stderr
