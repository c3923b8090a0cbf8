"""Tests for the OpenAI-compatible test double in archon.testing.fake_openai."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from archon.testing.fake_openai import Behaviour, FakeOpenAIServer, RecordedRequest

REPO_ROOT = Path(__file__).resolve().parents[1]


def chat_body(content: str = "What is two plus two?", model: str = "gpt-test", **extra):
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


@pytest.fixture
def server():
    srv = FakeOpenAIServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.base_url, timeout=5.0) as c:
        yield c


def test_completion_with_n_choices_and_usage(server, client):
    body = {
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is two plus two?"},
        ],
        "n": 3,
        "temperature": 0.7,
        "max_tokens": 50,
    }
    r = client.post("/chat/completions", json=body)
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "gpt-test"
    contents = [c["message"]["content"] for c in data["choices"]]
    assert len(contents) == 3 and len(set(contents)) == 3
    assert [c["index"] for c in data["choices"]] == [0, 1, 2]
    assert all(c["message"]["role"] == "assistant" for c in data["choices"])
    assert all(c["finish_reason"] == "stop" for c in data["choices"])
    assert contents[0] == "[gpt-test] reply 0 to: What is two plus two?"
    usage = data["usage"]
    assert usage["prompt_tokens"] == 2 + 5
    assert usage["completion_tokens"] == sum(len(c.split()) for c in contents)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    # Recorded.
    assert len(server.requests) == 1
    rec = server.requests[0]
    assert isinstance(rec, RecordedRequest)
    assert rec.path == "/v1/chat/completions"
    assert rec.body == body
    assert rec.headers["content-type"] == "application/json"
    assert rec.received_at <= time.monotonic()


def test_default_reply_is_deterministic_and_truncated(client):
    long = "x" * 100
    a = client.post("/chat/completions", json=chat_body(long)).json()
    b = client.post("/chat/completions", json=chat_body(long)).json()
    assert a["choices"][0]["message"]["content"] == b["choices"][0]["message"]["content"]
    assert a["choices"][0]["message"]["content"] == "[gpt-test] reply 0 to: " + "x" * 60
    assert a["id"] != b["id"]


def test_latency_delays_reply(server, client):
    server.latency = 0.2
    t0 = time.monotonic()
    r = client.post("/chat/completions", json=chat_body())
    assert r.status_code == 200
    assert time.monotonic() - t0 >= 0.2


def test_behaviour_delay_overrides_latency(server):
    server.latency = 600.0  # a reply after the server's latency would time the client out
    server.enqueue(Behaviour(delay=0.05))
    with httpx.Client(base_url=server.base_url, timeout=60) as c:
        assert c.post("/chat/completions", json=chat_body()).status_code == 200
    assert server.requests[0].replied_at - server.requests[0].received_at >= 0.05


def test_enqueued_429_with_retry_after_then_success(server, client):
    server.enqueue(Behaviour(status=429, retry_after=1.5))
    r = client.post("/chat/completions", json=chat_body())
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1.5"
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "code"}
    assert err["code"] == "rate_limit_exceeded"
    r = client.post("/chat/completions", json=chat_body())
    assert r.status_code == 200
    assert len(server.requests) == 2


def test_integer_retry_after_header(server, client):
    server.enqueue(Behaviour(status=503, retry_after=2))
    r = client.post("/chat/completions", json=chat_body())
    assert r.status_code == 503
    assert r.headers["retry-after"] == "2"


def test_enqueued_500(server, client):
    server.enqueue(Behaviour(status=500))
    r = client.post("/chat/completions", json=chat_body())
    assert r.status_code == 500
    assert r.json()["error"]["type"] == "server_error"
    assert "retry-after" not in r.headers


def test_behaviours_are_fifo(server, client):
    server.enqueue(Behaviour(status=500), Behaviour(status=503), Behaviour(text="third"))
    codes = [client.post("/chat/completions", json=chat_body()) for _ in range(4)]
    assert [r.status_code for r in codes] == [500, 503, 200, 200]
    assert codes[2].json()["choices"][0]["message"]["content"] == "third"
    assert codes[3].json()["choices"][0]["message"]["content"].startswith("[gpt-test] reply 0")


def test_behaviour_for_a_model(server, client):
    server.enqueue(Behaviour(status=500, model="model-b"), Behaviour(text="any"))
    r = client.post("/chat/completions", json=chat_body(model="model-a"))
    assert r.json()["choices"][0]["message"]["content"] == "any"
    r = client.post("/chat/completions", json=chat_body(model="model-a"))
    assert r.status_code == 200
    r = client.post("/chat/completions", json=chat_body(model="model-b"))
    assert r.status_code == 500


def test_behaviour_text_list_per_choice(server, client):
    server.enqueue(Behaviour(text=["a", "b"]))
    r = client.post("/chat/completions", json=chat_body(n=3))
    assert [c["message"]["content"] for c in r.json()["choices"]] == ["a", "b", "a"]


def test_bad_json(server, client):
    server.enqueue(Behaviour(bad_json=True))
    r = client.post("/chat/completions", json=chat_body())
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    # The connection stays usable afterwards.
    assert client.post("/chat/completions", json=chat_body()).status_code == 200


def test_hang_times_out_and_stop_is_quick():
    srv = FakeOpenAIServer().start()
    try:
        srv.enqueue(Behaviour(hang=True))
        with httpx.Client(base_url=srv.base_url, timeout=0.3) as c, pytest.raises(httpx.TimeoutException):
            c.post("/chat/completions", json=chat_body())
        assert srv.in_flight == 1
    finally:
        _stop_in_time(srv)  # does not wait for the hung request


def _stop_in_time(srv, patience=60):
    """srv.stop(), which must return without waiting for the requests it holds (the bound is only a guard)."""
    stopper = threading.Thread(target=srv.stop)
    stopper.start()
    stopper.join(timeout=patience)
    assert not stopper.is_alive() and not srv.running


def test_stop_closes_hung_connection_without_reply():
    srv = FakeOpenAIServer().start()
    srv.enqueue(Behaviour(hang=True))
    outcome: dict = {}

    def call():
        try:
            with httpx.Client(base_url=srv.base_url, timeout=10.0) as c:
                outcome["response"] = c.post("/chat/completions", json=chat_body())
        except Exception as exc:
            outcome["error"] = exc

    t = threading.Thread(target=call)
    t.start()
    _wait_until(lambda: srv.in_flight == 1)
    _stop_in_time(srv)
    t.join(timeout=60)
    assert not t.is_alive()
    assert "response" not in outcome
    assert isinstance(outcome["error"], httpx.TransportError)


def _wait_until(condition, patience=60):
    deadline = time.monotonic() + patience  # generous: reached only when something is wrong
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert condition()


def test_stop_with_idle_keepalive_connections_and_sleeping_requests():
    srv = FakeOpenAIServer(latency=600.0).start()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.request("GET", "/v1/models")
    assert conn.getresponse().read()
    errors = []

    def sleeping_call():
        try:
            httpx.post(srv.base_url + "/chat/completions", json=chat_body(), timeout=60)
        except httpx.TransportError as exc:  # the server closes it on stop
            errors.append(exc)

    caller = threading.Thread(target=sleeping_call, daemon=True)
    caller.start()
    _wait_until(lambda: srv.in_flight == 1)
    _stop_in_time(srv)  # does not sleep out the request's 600 s
    caller.join(timeout=60)
    assert not caller.is_alive() and len(errors) == 1  # closed without a reply, not served after the stop
    assert not isinstance(errors[0], httpx.TimeoutException)
    conn.close()


def test_keep_alive_serves_several_requests_on_one_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        for i in range(3):
            conn.request(
                "POST",
                "/v1/chat/completions",
                body=json.dumps(chat_body(f"q{i}")),
                headers={"Content-Type": "application/json"},
            )
            resp = conn.getresponse()
            assert resp.status == 200
            assert resp.getheader("Connection") == "keep-alive"
            data = json.loads(resp.read())
            assert data["choices"][0]["message"]["content"].endswith(f"q{i}")
        sock = conn.sock
        assert sock is not None  # the same socket stayed open
    finally:
        conn.close()


def test_rate_limited_keys():
    with FakeOpenAIServer(rate_limited_keys=["sk-slow"]) as srv:
        bad = {"Authorization": "Bearer sk-slow"}
        good = {"Authorization": "Bearer sk-ok"}
        with httpx.Client(base_url=srv.base_url, timeout=5) as c:
            for _ in range(3):
                r = c.post("/chat/completions", json=chat_body(), headers=bad)
                assert r.status_code == 429
                assert r.json()["error"]["code"] == "rate_limit_exceeded"
            assert c.post("/chat/completions", json=chat_body(), headers=good).status_code == 200
            srv.rate_limited_keys.add("sk-ok")
            assert c.post("/chat/completions", json=chat_body(), headers=good).status_code == 429
        assert len(srv.requests) == 5


def test_rate_limited_key_does_not_consume_behaviours():
    with FakeOpenAIServer(rate_limited_keys={"sk-slow"}) as srv:
        srv.enqueue(Behaviour(text="kept"))
        r = httpx.post(
            srv.base_url + "/chat/completions", json=chat_body(), headers={"Authorization": "Bearer sk-slow"}
        )
        assert r.status_code == 429
        r = httpx.post(srv.base_url + "/chat/completions", json=chat_body())
        assert r.json()["choices"][0]["message"]["content"] == "kept"


def test_required_key():
    with FakeOpenAIServer(required_key="sk-right") as srv:
        url = srv.base_url + "/chat/completions"
        r = httpx.post(url, json=chat_body(), headers={"Authorization": "Bearer sk-wrong"})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_api_key"
        assert httpx.post(url, json=chat_body()).status_code == 401
        r = httpx.post(url, json=chat_body(), headers={"Authorization": "Bearer sk-right"})
        assert r.status_code == 200
        assert srv.requests[-1].headers["authorization"] == "Bearer sk-right"
        assert httpx.get(srv.base_url + "/models").status_code == 401


def test_responder_str_and_list(server, client):
    seen = []

    def responder(body):
        seen.append(body)
        return "fixed answer"

    server.responder = responder
    r = client.post("/chat/completions", json=chat_body(n=2))
    assert [c["message"]["content"] for c in r.json()["choices"]] == ["fixed answer"] * 2
    assert r.json()["usage"]["completion_tokens"] == 4
    assert seen[0]["n"] == 2

    server.responder = lambda body: [f"s{i}" for i in range(body.get("n", 1))]
    r = client.post("/chat/completions", json=chat_body(n=3))
    assert [c["message"]["content"] for c in r.json()["choices"]] == ["s0", "s1", "s2"]

    server.responder = lambda body: ""
    r = client.post("/chat/completions", json=chat_body())
    assert r.json()["usage"]["completion_tokens"] == 1  # at least one


def test_responder_passed_to_constructor_and_errors():
    def boom(body):
        raise RuntimeError("kaput")

    with FakeOpenAIServer(responder=lambda b: "ctor") as srv:
        r = httpx.post(srv.base_url + "/chat/completions", json=chat_body())
        assert r.json()["choices"][0]["message"]["content"] == "ctor"
        srv.responder = boom
        r = httpx.post(srv.base_url + "/chat/completions", json=chat_body())
        assert r.status_code == 500
        assert "kaput" in r.json()["error"]["message"]


def test_invalid_requests(server, client):
    assert client.post("/chat/completions", content=b"{not json").status_code == 400
    assert client.post("/chat/completions", json={"messages": []}).status_code == 400
    assert client.post("/chat/completions", json={"model": "m"}).status_code == 400
    assert client.post("/chat/completions", json=chat_body(n=0)).status_code == 400
    assert client.get("/nope").status_code == 404
    assert client.post("/nope", json={}).status_code == 404
    assert client.post("/chat/completions", json=chat_body()).status_code == 200


def test_models_endpoint(server, client):
    client.post("/chat/completions", json=chat_body(model="zeta"))
    data = client.get("/models").json()
    assert data["object"] == "list"
    assert [m["id"] for m in data["data"]] == ["fake-model", "zeta"]


def test_streaming(server, client):
    body = chat_body(n=2, stream=True, stream_options={"include_usage": True})
    r = client.post("/chat/completions", json=body)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = {}
    for ch in chunks:
        for choice in ch["choices"]:
            text[choice["index"]] = text.get(choice["index"], "") + choice["delta"].get("content", "")
    assert text[0].startswith("[gpt-test] reply 0") and text[1].startswith("[gpt-test] reply 1")
    assert chunks[-1]["usage"]["total_tokens"] > 0


def test_control_and_stats_over_http(server, client):
    root = server.url
    r = httpx.post(root + "/_control", json={"latency": 0.15, "enqueue": [{"status": 503}]})
    assert r.status_code == 200 and r.json()["ok"] is True
    assert server.latency == 0.15
    t0 = time.monotonic()
    assert client.post("/chat/completions", json=chat_body()).status_code == 503
    assert time.monotonic() - t0 >= 0.15
    stats = httpx.get(root + "/_stats").json()
    assert stats["requests"] == 1 and stats["max_in_flight"] == 1

    r = httpx.post(root + "/_control", json={"reset": True, "latency": 0, "enqueue": [{"text": "steered"}]})
    assert r.json()["requests"] == 0 and r.json()["queued"] == 1
    r = client.post("/chat/completions", json=chat_body())
    assert r.json()["choices"][0]["message"]["content"] == "steered"
    assert httpx.get(root + "/_stats").json() == {
        "requests": 1,
        "max_in_flight": 1,
        "in_flight": 0,
        "queued": 0,
        "latency": 0.0,
    }

    httpx.post(root + "/_control", json={"rate_limited_keys": ["k1"], "required_key": "k1"})
    assert server.rate_limited_keys == {"k1"} and server.required_key == "k1"
    httpx.post(root + "/_control", json={"rate_limited_keys": [], "required_key": None})
    assert server.required_key is None

    # Bad control requests are rejected and change nothing.
    assert httpx.post(root + "/_control", json={"enqueue": [{"stauts": 500}]}).status_code == 400
    assert httpx.post(root + "/_control", json={"latency": -1}).status_code == 400
    assert server.queued == 0 and server.latency == 0.0


def test_reset(server, client):
    server.enqueue(Behaviour(status=500))
    client.post("/chat/completions", json=chat_body())
    server.enqueue(Behaviour(status=500))
    server.reset()
    assert server.requests == [] and server.max_in_flight == 0 and server.queued == 0
    assert client.post("/chat/completions", json=chat_body()).status_code == 200


def test_max_in_flight_with_concurrent_threads(server):
    server.hold(8)  # no reply until all eight are in: served in parallel, not one after another
    codes = []

    def call():
        with httpx.Client(base_url=server.base_url, timeout=60) as c:
            codes.append(c.post("/chat/completions", json=chat_body()).status_code)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 8
    assert server.max_in_flight == 8
    first_reply = min(q.replied_at for q in server.requests)
    assert all(q.received_at <= first_reply for q in server.requests)


def test_release_lets_held_requests_go_on(server, client):
    server.hold(2)
    done = []
    patient = httpx.Client(base_url=server.base_url, timeout=60)
    caller = threading.Thread(target=lambda: done.append(patient.post("/chat/completions", json=chat_body())))
    caller.start()
    _wait_until(lambda: server.in_flight == 1)
    assert not done  # held: the second party never comes
    server.release()
    caller.join(timeout=60)
    patient.close()
    assert done[0].status_code == 200
    assert client.post("/chat/completions", json=chat_body()).status_code == 200  # no longer holding


def test_128_concurrent_connections(server):
    n = 128
    server.hold(n)  # every reply waits until all 128 requests are in
    codes = []

    def call():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            conn.request(
                "POST",
                "/v1/chat/completions",
                body=json.dumps(chat_body()),
                headers={"Content-Type": "application/json"},
            )
            resp = conn.getresponse()
            resp.read()
            codes.append(resp.status)
        finally:
            conn.close()

    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * n
    assert server.max_in_flight == n


def test_restart_after_stop_keeps_port():
    srv = FakeOpenAIServer().start()
    url = srv.base_url
    srv.stop()
    srv.start()
    try:
        assert srv.base_url == url
        assert httpx.post(url + "/chat/completions", json=chat_body()).status_code == 200
    finally:
        srv.stop()


def test_cli_subprocess_prints_url_and_serves():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "archon.testing.fake_openai", "--port", "0", "--latency", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("http://127.0.0.1:") and line.endswith("/v1"), line
        t0 = time.monotonic()
        r = httpx.post(line + "/chat/completions", json=chat_body(n=2), timeout=5)
        assert r.status_code == 200
        assert time.monotonic() - t0 >= 0.2
        assert len(r.json()["choices"]) == 2
        stats = httpx.get(line.removesuffix("/v1") + "/_stats").json()
        assert stats["requests"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=3)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert rc == 0
