"""The OpenAI chat-completions wire format as archon serves it: requests checked, replies and
errors shaped as OpenAI's clients expect.

A request's sampling parameters (temperature, max_tokens, ...) are not applied: every component
of an architecture has its own. They are accepted, and the reply names them
(``archon.ignored_parameters``), rather than refused, so that existing clients work unchanged.
Parameters whose answer archon cannot give (tools, logprobs, non-text output) are refused with
400 instead of being silently misread.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..engine.trace import Result, Usage

#: Accepted and not applied (each component of the architecture has its own settings).
IGNORED_PARAMETERS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "seed",
        "user",
        "metadata",
        "store",
        "service_tier",
        "parallel_tool_calls",
        "reasoning_effort",
        "prediction",
        "safety_identifier",
        "prompt_cache_key",
        "verbosity",
        "top_k",
        "min_p",
        "repetition_penalty",
    }
)


class RequestError(Exception):
    """A request archon refuses, with its HTTP status and OpenAI error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = type or ("invalid_request_error" if status < 500 else "server_error")
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def error_body(message: str, *, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class ChatCompletionRequest(BaseModel):
    """The fields archon reads; any other field is kept (and checked by ``check_unsupported``)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int = Field(default=1, ge=1)
    user: str | None = None


def parse_request(
    raw: bytes, *, max_messages: int, max_n: int
) -> tuple[ChatCompletionRequest, list[dict[str, str]], dict]:
    """The request, its messages as archon takes them, and the ``archon`` options (``extra_body``)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise RequestError(400, "the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise RequestError(400, "the request body must be a JSON object")
    try:
        req = ChatCompletionRequest.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise RequestError(400, f"{param}: {first['msg']}" if param else first["msg"], param=param) from None
    if len(req.messages) > max_messages:
        raise RequestError(400, f"at most {max_messages} messages per request", param="messages")
    if req.n > max_n:
        raise RequestError(400, f"n must be at most {max_n}", param="n")
    check_unsupported(req)
    options = (req.model_extra or {}).get("archon") or {}
    if not isinstance(options, dict):
        raise RequestError(400, 'archon must be an object, e.g. {"trace": true}', param="archon")
    return req, [_message(i, m) for i, m in enumerate(req.messages)], options


def check_unsupported(req: ChatCompletionRequest) -> None:
    extra = req.model_extra or {}
    if (extra.get("tools") or extra.get("functions")) and extra.get("tool_choice", "auto") != "none":
        raise RequestError(400, "archon architectures do not call tools: tools are not supported", param="tools")
    if extra.get("logprobs"):
        raise RequestError(400, "logprobs are not available from an architecture", param="logprobs")
    fmt = extra.get("response_format")
    if fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        raise RequestError(
            400, 'only text responses are supported (response_format {"type": "text"})', param="response_format"
        )
    modalities = extra.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise RequestError(400, "only text output is supported", param="modalities")


def ignored_parameters(req: ChatCompletionRequest) -> list[str]:
    given = set(req.model_fields_set) | set(req.model_extra or {})
    return sorted(given & IGNORED_PARAMETERS)


def _message(i: int, m: dict[str, Any]) -> dict[str, str]:
    role = m.get("role")
    if role == "developer":  # OpenAI's newer name for the system role
        role = "system"
    if role not in ("system", "user", "assistant"):
        raise RequestError(
            400, f"messages[{i}].role must be system, developer, user or assistant", param=f"messages.{i}.role"
        )
    content = m.get("content")
    if isinstance(content, list):
        if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content):
            raise RequestError(
                400, f"messages[{i}].content: only text parts are supported", param=f"messages.{i}.content"
            )
        content = "".join(p["text"] for p in content)
    if not isinstance(content, str):
        raise RequestError(
            400, f"messages[{i}].content must be a string or a list of text parts", param=f"messages.{i}.content"
        )
    return {"role": role, "content": content}


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage_block(results: list[Result]) -> dict[str, int]:
    """OpenAI's usage, counting every LLM call of every run (cached calls included: what the answer cost)."""
    u = total_usage(results)
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
    }


def total_usage(results: list[Result]) -> Usage:
    total = Usage()
    for r in results:
        total.merge(r.trace.usage)
    return total


def archon_block(results: list[Result], ignored: list[str], with_trace: bool) -> dict[str, Any]:
    """What archon adds to a reply: calls, estimated cost, a per-layer breakdown (summed over
    the ``n`` runs), the parameters not applied, and the traces when asked for."""
    u = total_usage(results)
    layers: list[dict[str, Any]] = []
    for r in results:
        for lt in r.trace.layers:
            lu = Usage()
            for c in lt.components:
                for rec in c.calls:
                    lu.add(rec)
            if lt.index >= len(layers):
                layers.append(
                    {
                        "layer": lt.index + 1,
                        "calls": 0,
                        "prompt_tokens": 0,
                        "completion_tokens": 0,
                        "cost_usd": 0.0,
                        "latency_s": 0.0,
                    }
                )
            row = layers[lt.index]
            row["calls"] += lu.calls
            row["prompt_tokens"] += lu.input_tokens
            row["completion_tokens"] += lu.output_tokens
            row["cost_usd"] += lu.cost_usd
            row["latency_s"] = max(row["latency_s"], lt.latency_s)
    block: dict[str, Any] = {
        "calls": u.calls,
        "cached_calls": u.cached_calls,
        "failed_calls": u.failed_calls,
        "cost_usd": u.cost_usd,
        "unpriced_models": u.unpriced_models,
        "layers": layers,
        "ignored_parameters": ignored,
    }
    if with_trace:
        block["traces"] = [r.trace.to_dict() for r in results]
    return block


def completion(cid: str, model: str, results: list[Result], archon: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": r.answer, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
            for i, r in enumerate(results)
        ],
        "usage": usage_block(results),
        "archon": archon,
    }


def chunk(cid: str, created: int, model: str, choices: list[dict[str, Any]], **extra: Any) -> bytes:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": choices,
        **extra,
    }
    return b"data: " + json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def error_event(message: str, code: str) -> bytes:
    body = error_body(message, type="server_error", code=code)
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"
