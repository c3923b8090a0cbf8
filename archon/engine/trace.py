"""What happened in a query: per layer and component, inputs, outputs, calls, tokens, latency, fallbacks."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

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


@dataclass
class ComponentTrace:
    type: str
    model: str | None
    provider: str | None
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
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


@dataclass
class Usage:
    calls: int = 0  # LLM samples actually requested from providers (not answered from the cache)
    cached_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_models: list[str] = field(default_factory=list)

    def add(self, rec: CallRecord) -> None:
        if rec.cached:
            self.cached_calls += rec.samples
            return
        if rec.error:
            return
        self.calls += rec.samples
        self.input_tokens += rec.input_tokens
        self.output_tokens += rec.output_tokens
        cost = estimate_cost(rec.provider, rec.model, rec.input_tokens, rec.output_tokens)
        if cost is None:
            if rec.model not in self.unpriced_models:
                self.unpriced_models.append(rec.model)
        else:
            self.cost_usd += cost

    def merge(self, other: "Usage") -> None:
        self.calls += other.calls
        self.cached_calls += other.cached_calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd
        for m in other.unpriced_models:
            if m not in self.unpriced_models:
                self.unpriced_models.append(m)


@dataclass
class Trace:
    architecture: str
    layers: list[LayerTrace] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0

    @property
    def fallbacks(self) -> list[str]:
        return [f"layer {l.index + 1} {c.type}: {f}" for l in self.layers for c in l.components for f in c.fallbacks]

    @property
    def errors(self) -> list[str]:
        return [f"layer {l.index + 1} {c.type}: {c.error}" for l in self.layers for c in l.components if c.error]

    def finish(self) -> None:
        self.usage = Usage()
        for layer in self.layers:
            for comp in layer.components:
                for rec in comp.calls:
                    self.usage.add(rec)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
            "trace": self.trace.to_dict(),
        }


def write_jsonl(results: Iterable[Result], path: str | Path, *, append: bool = True) -> None:
    with open(path, "a" if append else "w", encoding="utf-8") as fh:
        for r in results:
            fh.write(json.dumps(r.to_dict(), ensure_ascii=False, default=str) + "\n")
