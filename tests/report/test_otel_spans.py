"""Traces exported as OpenTelemetry spans, read back with the SDK's in-memory exporter."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from archon import Archon, QueryFailed, RetryPolicy
from archon.cli import main
from archon.testing.fake_openai import Behaviour

FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, timeout=2.0)
KEY = "sk-archon-test-0123456789abcdefghijklmnop"
PROMPT = "my private question about the quarterly numbers"


@pytest.fixture(scope="module")
def global_exporter():
    """The process-wide TracerProvider (set once per process, as applications do), exporting to memory."""
    exporter = InMemorySpanExporter()
    provider = otel_trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        otel_trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def spans(global_exporter, monkeypatch):
    global_exporter.clear()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    yield global_exporter
    global_exporter.clear()


def _by_name(finished, prefix):
    return [s for s in finished if s.name.startswith(prefix)]


def test_one_span_per_query_layer_and_call_with_genai_attributes(spans, comp, server):
    cfg = {
        "name": "otel-arch",
        "layers": [[comp(model="gen-a", samples=2), comp(model="gen-b")], [comp("fuser", model="fuse-f")]],
    }
    with Archon(cfg, otel=True) as a:
        result = a.run(PROMPT)
    finished = spans.get_finished_spans()
    (query,) = _by_name(finished, "archon.query")
    layers = _by_name(finished, "archon.layer")
    calls = _by_name(finished, "chat ")
    assert [span.name for span in sorted(layers, key=lambda s: s.start_time)] == ["archon.layer 1", "archon.layer 2"]
    records = [r for layer in result.trace.layers for c in layer.components for r in c.calls]
    assert len(calls) == len(records) == len(server.requests)
    assert query.attributes["archon.architecture"] == "otel-arch"
    assert query.attributes["archon.calls"] == result.trace.usage.calls == 4
    assert query.attributes["gen_ai.usage.input_tokens"] == result.trace.usage.input_tokens

    # Parents: calls under their layer, layers under the query, all in one trace.
    layer_of = {span.context.span_id: span for span in layers}
    for span in layers:
        assert span.parent.span_id == query.context.span_id
    by_model = {}
    for c in calls:
        assert c.context.trace_id == query.context.trace_id
        by_model.setdefault(c.attributes["gen_ai.request.model"], []).append(c)
        assert c.attributes["gen_ai.operation.name"] == "chat"
        assert c.attributes["gen_ai.system"] == "OpenAI_API"
        layer = layer_of[c.parent.span_id]
        assert layer.start_time <= c.start_time <= c.end_time <= layer.end_time
    assert layer_of[by_model["fuse-f"][0].parent.span_id].name == "archon.layer 2"
    assert layer_of[by_model["gen-b"][0].parent.span_id].name == "archon.layer 1"
    # Tokens as the trace recorded them, call by call.
    want = sorted((r.model, r.input_tokens, r.output_tokens) for r in records)
    got = sorted(
        (
            c.attributes["gen_ai.request.model"],
            c.attributes["gen_ai.usage.input_tokens"],
            c.attributes["gen_ai.usage.output_tokens"],
        )
        for c in calls
    )
    assert got == want and all(t[1] > 0 and t[2] > 0 for t in got)
    # The query span lasts the query.
    assert (query.end_time - query.start_time) / 1e9 == pytest.approx(result.trace.latency_s, abs=1e-3)


def _everything(finished) -> str:
    """All that leaves in the spans: names, attributes, events, statuses."""
    out = []
    for s in finished:
        out += [s.name, json.dumps(dict(s.attributes), default=str), str(s.status.description)]
        out += [json.dumps(dict(e.attributes), default=str) for e in s.events]
    return "\n".join(out)


def test_keys_and_prompt_text_never_leave_by_default(spans, comp, server):
    server.enqueue(*[Behaviour(status=500, model="broken")] * 2)
    cfg = {"layers": [[comp(model="broken"), comp(model="fine")], [comp("fuser", model="f")]]}
    with Archon(cfg, otel=True, retry=FAST) as a:
        result = a.run(PROMPT)
    finished = spans.get_finished_spans()
    text = _everything(finished)
    assert PROMPT not in text and "quarterly" not in text
    assert result.answer not in text
    assert KEY not in text
    failed = [s for s in finished if s.attributes.get("gen_ai.request.model") == "broken"]
    assert failed and failed[0].status.status_code == StatusCode.ERROR and "500" in failed[0].status.description
    assert failed[0].attributes["archon.attempts"] == 2


def test_prompt_text_leaves_only_when_asked(spans, comp, monkeypatch):
    monkeypatch.setenv("ARCHON_OTEL_CAPTURE_CONTENT", "1")
    with Archon({"layers": [[comp(model="g")]]}, otel=True) as a:
        result = a.run(PROMPT)
    (query,) = _by_name(spans.get_finished_spans(), "archon.query")
    assert PROMPT in query.attributes["archon.prompt"] and query.attributes["archon.answer"] == result.answer
    assert KEY not in _everything(spans.get_finished_spans())


def test_a_failed_query_is_an_error_span(spans, comp, server):
    server.enqueue(*[Behaviour(status=500)] * 2)
    with Archon({"layers": [[comp(model="g")]]}, otel=True, retry=FAST) as a, pytest.raises(QueryFailed):
        a.run("q")
    (query,) = _by_name(spans.get_finished_spans(), "archon.query")
    assert query.status.status_code == StatusCode.ERROR and "layer 1" in query.status.description


def test_env_var_turns_it_on_for_the_command_line(spans, comp, tmp_path, monkeypatch):
    p = tmp_path / "a.json"
    p.write_text(json.dumps({"layers": [[comp(model="g")]]}))
    assert main(["run", str(p), "Hi"]) == 0
    assert not spans.get_finished_spans()  # off unless asked for
    monkeypatch.setenv("ARCHON_OTEL", "1")
    assert main(["run", str(p), "Hi"]) == 0
    finished = spans.get_finished_spans()
    assert len(_by_name(finished, "archon.query")) == 1 and len(_by_name(finished, "chat g")) == 1
