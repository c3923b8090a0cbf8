"""Prometheus metrics of a server (``GET /metrics``), in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..engine.trace import Result

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter(
            "archon_requests", "Chat completion requests, by model and HTTP status", ["model", "status"], registry=r
        )
        self.latency = Histogram(
            "archon_request_latency_seconds",
            "Time to the whole answer",
            ["model", "stream"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.first_token = Histogram(
            "archon_time_to_first_token_seconds",
            "Time to the first streamed token",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.llm_calls = Counter(
            "archon_llm_calls", "LLM calls the architectures made (cached ones included)", ["model"], registry=r
        )
        self.tokens = Counter("archon_tokens", "Tokens of the architectures' LLM calls", ["model", "kind"], registry=r)
        self.cost = Counter("archon_cost_usd", "Estimated cost of the architectures' LLM calls", ["model"], registry=r)
        self.in_flight = Gauge(
            "archon_queries_in_flight", "Architecture runs now (a request with n counts n)", registry=r
        )
        self.queued = Gauge("archon_queries_queued", "Queries waiting for a slot", registry=r)

    def record(self, model: str, results: list[Result]) -> None:
        for res in results:
            u = res.trace.usage
            self.llm_calls.labels(model).inc(u.calls)
            self.tokens.labels(model, "prompt").inc(u.input_tokens)
            self.tokens.labels(model, "completion").inc(u.output_tokens)
            self.cost.labels(model).inc(u.cost_usd)

    def render(self) -> bytes:
        return generate_latest(self.registry)
