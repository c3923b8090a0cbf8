"""Traces as OpenTelemetry spans, so that archon shows up in the tracing tools people already run.

Each query becomes one span (``archon.query``) with a child per layer (``archon.layer N``) and,
under its layer, one span per LLM call (``chat MODEL``) carrying the GenAI semantic-convention
attributes (``gen_ai.operation.name``, ``gen_ai.system``, ``gen_ai.request.model``,
``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``). Spans are made when the query has
finished, from its :class:`~archon.engine.trace.Trace`, with the times the trace recorded; they go to
the globally configured ``TracerProvider`` (or the one given) under the caller's current span.

Keys never leave in spans (errors are redacted). Prompt and answer text leave only when asked for
(``capture_content=True`` or ``ARCHON_OTEL_CAPTURE_CONTENT=1``), as OpenTelemetry's own GenAI
instrumentations do.

Turn it on with ``Archon(config, otel=True)`` or ``ARCHON_OTEL=1`` (any command); install the API with
``pip install 'archon[otel]'``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ..providers.keys import redact
from .trace import Trace

try:  # the optional `otel` extra
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError:  # pragma: no cover - exercised where the extra is missing
    otel_trace = None  # type: ignore[assignment]

__all__ = ["CAPTURE_CONTENT_ENV", "ENABLE_ENV", "export_trace", "otel_enabled", "require_otel"]

ENABLE_ENV = "ARCHON_OTEL"
CAPTURE_CONTENT_ENV = "ARCHON_OTEL_CAPTURE_CONTENT"
_TRUE = ("1", "true", "yes", "on")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def otel_enabled(setting: bool | None) -> bool:
    """``Archon(otel=...)``: True/False as given; None follows ``$ARCHON_OTEL``."""
    return _env_flag(ENABLE_ENV) if setting is None else bool(setting)


def require_otel() -> None:
    """Fail at construction, not at the first query, when spans are asked for without the API installed."""
    if otel_trace is None:
        raise ConfigError(
            "OpenTelemetry export is on (otel=True or $ARCHON_OTEL) but the OpenTelemetry API is not "
            "installed: pip install 'archon[otel]'"
        )


def _ns(started_at: float, offset_s: float) -> int:
    return int((started_at + max(0.0, offset_s)) * 1e9)


def export_trace(
    trace: Trace,
    *,
    messages: Sequence[dict[str, str]] | None = None,
    answer: str | None = None,
    error: str | None = None,
    tracer_provider: Any = None,
    capture_content: bool | None = None,
) -> None:
    """Emit ``trace`` as spans: a query span, a span per layer, a span per LLM call.

    Args:
        messages, answer: the query's conversation and answer, recorded only with ``capture_content``.
        error: why the query failed (the query span's status is then ERROR).
        tracer_provider: where spans go (default: the global one, ``opentelemetry.trace.set_tracer_provider``).
        capture_content: record prompt and answer text (default: ``$ARCHON_OTEL_CAPTURE_CONTENT``, off).
    """
    require_otel()
    capture = _env_flag(CAPTURE_CONTENT_ENV) if capture_content is None else capture_content
    tracer = otel_trace.get_tracer("archon", tracer_provider=tracer_provider)
    t0 = trace.started_at if trace.started_at is not None else time.time() - trace.latency_s
    u = trace.usage
    attrs: dict[str, Any] = {
        "archon.architecture": trace.architecture,
        "archon.calls": u.calls,
        "archon.cached_calls": u.cached_calls,
        "archon.failed_calls": u.failed_calls,
        "archon.cost_usd": u.cost_usd,
        "gen_ai.usage.input_tokens": u.input_tokens,
        "gen_ai.usage.output_tokens": u.output_tokens,
        "archon.fallbacks": len(trace.fallbacks),
    }
    if capture and messages is not None:
        attrs["archon.prompt"] = json.dumps(list(messages), ensure_ascii=False)
    if capture and answer is not None:
        attrs["archon.answer"] = answer
    query = tracer.start_span("archon.query", start_time=_ns(t0, 0.0), attributes=attrs)
    if error:
        query.set_status(Status(StatusCode.ERROR, redact(error)))
    q_ctx = otel_trace.set_span_in_context(query)
    for layer in trace.layers:
        layer_span = tracer.start_span(
            f"archon.layer {layer.index + 1}",
            context=q_ctx,
            start_time=_ns(t0, layer.start_s),
            attributes={
                "archon.layer.index": layer.index,
                "archon.layer.components": [c.type for c in layer.components],
            },
        )
        l_ctx = otel_trace.set_span_in_context(layer_span)
        for comp in layer.components:
            for rec in comp.calls:
                call_attrs: dict[str, Any] = {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": rec.provider,
                    "gen_ai.request.model": rec.model,
                    "gen_ai.usage.input_tokens": rec.input_tokens,
                    "gen_ai.usage.output_tokens": rec.output_tokens,
                    "gen_ai.request.choice.count": rec.samples,
                    "archon.component": comp.type,
                    "archon.cached": rec.cached,
                    "archon.attempts": rec.attempts,
                }
                span = tracer.start_span(
                    f"chat {rec.model}",
                    context=l_ctx,
                    kind=SpanKind.CLIENT,
                    start_time=_ns(t0, rec.start_s),
                    attributes=call_attrs,
                )
                if rec.error:
                    span.set_attribute("error.type", "ProviderError")
                    span.set_status(Status(StatusCode.ERROR, redact(rec.error)))
                span.end(end_time=_ns(t0, rec.start_s + rec.latency_s))
            if comp.error:
                layer_span.add_event("component error", {"archon.component": comp.type, "error": redact(comp.error)})
            for f in comp.fallbacks:
                layer_span.add_event("fallback", {"archon.component": comp.type, "reason": redact(f)})
        layer_span.end(end_time=_ns(t0, layer.start_s + layer.latency_s))
    query.end(end_time=_ns(t0, trace.latency_s))
