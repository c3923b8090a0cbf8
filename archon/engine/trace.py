"""What happened in a query: per layer and component, inputs, outputs, calls, tokens, latency, fallbacks."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .pricing import estimate_cost


@dataclass
class CallRecord:
    provider: str
    model: str
    samples: int  # samples this record stands for (one request with n, or one per request)
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    cached: bool = False
    attempts: int = 0
    error: str | None = None
    # The server reported no usable token counts: these are estimates.
    usage_estimated: bool = False
    # When the call started, in seconds from the start of its query (for timelines); it had
    # waited ``queue_s`` before that for a free slot under the provider's concurrency cap.
    start_s: float = 0.0
    queue_s: float = 0.0
    # Prompt tokens the provider cut to fit the model's context (the local model does).
    prompt_tokens_dropped: int = 0


@dataclass
class ComponentTrace:
    type: str
    model: str | None
    provider: str | None
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    # What else the component produced: critiques, unit tests, named state (verdicts, test passes, ...).
    critiques: list[str] | None = None
    unit_tests: list[str] | None = None
    named: dict[str, Any] = field(default_factory=dict)
    calls: list[CallRecord] = field(default_factory=list)
    latency_s: float = 0.0
    fallbacks: list[str] = field(default_factory=list)
    error: str | None = None

    def fallback(self, reason: str) -> None:
        self.fallbacks.append(reason)


@dataclass
class LayerTrace:
    index: int
    components: list[ComponentTrace] = field(default_factory=list)
    latency_s: float = 0.0
    note: str | None = None
    start_s: float = 0.0  # seconds from the start of the query


@dataclass
class Usage:
    """What queries used. ``calls``, tokens and cost count every sample the architecture used,
    requested now or answered from the call cache (what running it costs); the ``new_*`` figures
    count only requests actually sent; ``failed_calls`` samples that failed for good."""

    calls: int = 0
    cached_calls: int = 0
    failed_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    new_input_tokens: int = 0
    new_output_tokens: int = 0
    new_cost_usd: float = 0.0
    unpriced_models: list[str] = field(default_factory=list)

    @property
    def new_calls(self) -> int:
        return self.calls - self.cached_calls

    def add(self, rec: CallRecord) -> None:
        if rec.error:
            self.failed_calls += rec.samples
            return
        cost = estimate_cost(rec.provider, rec.model, rec.input_tokens, rec.output_tokens)
        if cost is None and rec.model not in self.unpriced_models:
            self.unpriced_models.append(rec.model)
        self.calls += rec.samples
        self.input_tokens += rec.input_tokens
        self.output_tokens += rec.output_tokens
        self.cost_usd += cost or 0.0
        if rec.cached:
            self.cached_calls += rec.samples
        else:
            self.new_input_tokens += rec.input_tokens
            self.new_output_tokens += rec.output_tokens
            self.new_cost_usd += cost or 0.0

    def merge(self, other: Usage) -> Usage:
        for f in fields(self):
            if f.name == "unpriced_models":
                self.unpriced_models.extend(m for m in other.unpriced_models if m not in self.unpriced_models)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "new_calls": self.new_calls}


@dataclass
class Trace:
    architecture: str
    layers: list[LayerTrace] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    # Wall-clock start (Unix seconds), so that the relative ``start_s`` times can be placed in time.
    started_at: float | None = None

    @property
    def fallbacks(self) -> list[str]:
        return [
            f"layer {layer.index + 1} {c.type}: {f}"
            for layer in self.layers
            for c in layer.components
            for f in c.fallbacks
        ]

    @property
    def errors(self) -> list[str]:
        return [
            f"layer {layer.index + 1} {c.type}: {c.error}" for layer in self.layers for c in layer.components if c.error
        ]

    @property
    def truncations(self) -> list[str]:
        """Calls whose prompt was cut to fit the model's context, and how much of it was dropped."""
        return [
            f"layer {layer.index + 1} {c.type}: the prompt was cut to fit {r.model}'s context "
            f"({r.prompt_tokens_dropped} token{'' if r.prompt_tokens_dropped == 1 else 's'} dropped)"
            for layer in self.layers
            for c in layer.components
            for r in c.calls
            if r.prompt_tokens_dropped
        ]

    @property
    def queued_s(self) -> float:
        """Seconds of the query spent with calls waiting for the provider's concurrency cap and none in a call."""
        calls = [r for layer in self.layers for c in layer.components for r in c.calls if not r.cached]
        waiting = _union([(r.start_s - r.queue_s, r.start_s) for r in calls if r.queue_s > 0])
        running = _union([(r.start_s, r.start_s + r.latency_s) for r in calls])
        return sum(_length_outside(span, running) for span in waiting)

    def finish(self) -> None:
        self.usage = Usage()
        for layer in self.layers:
            for comp in layer.components:
                for rec in comp.calls:
                    self.usage.add(rec)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "usage": self.usage.to_dict()}


@dataclass
class Result:
    """An answer with its trace. ``candidates`` is what the last layer left (the answer is the first)."""

    answer: str | None
    candidates: list[str]
    trace: Trace
    messages: list[dict[str, str]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "candidates": self.candidates,
            "error": self.error,
            "messages": self.messages,
            "state": json_data(self.state),
            "trace": self.trace.to_dict(),
        }


def json_data(value: Any) -> Any:
    """``value`` as plain JSON data (what is not JSON becomes its repr)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=repr))


def write_jsonl(results: Iterable[Result], path: str | Path, *, append: bool = True) -> None:
    with open(path, "a" if append else "w", encoding="utf-8") as fh:
        for r in results:
            fh.write(json.dumps(r.to_dict(), ensure_ascii=False, default=str) + "\n")


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Intervals merged where they overlap, in order."""
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        elif b > a:
            out.append((a, b))
    return out


def _length_outside(span: tuple[float, float], covered: list[tuple[float, float]]) -> float:
    """How much of ``span`` no interval of ``covered`` (merged, in order) overlaps."""
    a, b = span
    inside = sum(max(0.0, min(b, y) - max(a, x)) for x, y in covered)
    return max(0.0, (b - a) - inside)
