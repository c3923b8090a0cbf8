"""``archon serve`` started as a real process on 127.0.0.1, upstream the HTTP test double."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from archon.testing.fake_openai import FakeOpenAIServer

KEY = "test-server-key-123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def moa_config(base_url: str, name: str = "moa") -> dict:
    """Two generators' samples fused: the usual ending, a fuser drawing one sample."""
    return {
        "name": name,
        "layers": [
            [{"type": "generator", "model_type": "vLLM", "model": "gen", "base_url": base_url, "samples": 2}],
            [{"type": "fuser", "model_type": "vLLM", "model": "fuse", "base_url": base_url}],
        ],
    }


class ServerProcess:
    def __init__(self, proc: subprocess.Popen, port: int):
        self.proc, self.port = proc, port
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.url}/v1"

    def stop(self) -> str:
        """Stop the server; what it wrote (stdout and stderr)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return out + err


@pytest.fixture(scope="module")
def upstream():
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def fake(upstream):
    upstream.reset()
    upstream.latency = upstream.token_delay = 0.0
    return upstream


@pytest.fixture(scope="module")
def start_server(tmp_path_factory):
    started: list[ServerProcess] = []

    def start(
        configs: list[dict], *args: str, keys: str | None = KEY, host: str = "127.0.0.1", wait: bool = True
    ) -> ServerProcess:
        folder = tmp_path_factory.mktemp("configs")
        paths = []
        for cfg in configs:
            path = folder / f"{cfg.get('name', 'config')}.json"
            path.write_text(json.dumps(cfg))
            paths.append(str(path))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "ARCHON_SERVER_API_KEYS"}
        if keys is not None:
            env["ARCHON_SERVER_API_KEYS"] = keys
        proc = subprocess.Popen(
            [sys.executable, "-m", "archon.cli", "serve", *paths, "--host", host, "--port", str(port), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        server = ServerProcess(proc, port)
        started.append(server)
        if wait:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"archon serve exited: {proc.stderr.read()}")
                try:
                    if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("archon serve did not start")
                time.sleep(0.05)
        return server

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def server(upstream, start_server):
    return start_server([moa_config(upstream.base_url)])


def wait_until(predicate, what: str, timeout: float = 20.0) -> None:
    """Poll until ``predicate()`` holds (a bound on waiting, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def h():
    """Helpers for the tests (test modules are imported by path: they cannot import this one)."""

    class Helpers:
        key = KEY
        config = staticmethod(moa_config)
        until = staticmethod(wait_until)
        headers = staticmethod(auth)

    return Helpers
