"""The other chat APIs the test double speaks, as translations to and from chat completions.

A request in the Anthropic Messages, Gemini ``generateContent`` or Bedrock Converse format is
turned into the equivalent chat-completions request, so that the same responder, behaviours,
latency and key checks apply; the reply (or error) is turned back into that API's own format,
the one its official SDK parses. Streamed replies too: Anthropic's typed Server-Sent Events,
Gemini's ``streamGenerateContent?alt=sse`` and Bedrock's ``converse-stream`` in the AWS
event-stream binary framing (encoded here; botocore's own decoder checks it, CRCs included).
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

Headers = dict[str, str]


@dataclass
class Stream:
    """A streamed reply, whatever API it is sent in: ``tokens`` yields ``(choice, token)`` as
    each token is due (it sleeps between them, and raises to drop the connection)."""

    ident: str
    model: str
    texts: list[str]
    usage: dict[str, int]
    tokens: Iterable[tuple[int, str]]
    include_usage: bool = False


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Dialect:
    name: str
    #: (body, lower-case headers, path) -> the chat-completions body and headers (key as bearer)
    to_chat: Callable[[Any, Headers, str], tuple[Any, Headers]]
    #: a chat.completion object -> this API's reply
    from_completion: Callable[[dict], dict]
    #: (status, message) -> this API's error body and extra headers
    error: Callable[[int, str], tuple[dict, Headers]]
    #: a streamed reply -> this API's stream, piece by piece
    stream: Callable[[Stream], Iterator[bytes]]
    stream_content_type: str = "text/event-stream"


def _model_in(path_pattern: re.Pattern[str], path: str) -> str:
    """The model a foreign API's path names (``dialect_of`` chose the dialect by this pattern)."""
    match = path_pattern.match(path)
    if match is None:
        raise ValueError(f"{path!r} is not this API's path")
    return unquote(match.group(1))


def _with_key(headers: Headers, key: str | None) -> Headers:
    return {**headers, "authorization": f"Bearer {key}"} if key else headers


def _text(parts: Any) -> str:
    if isinstance(parts, str):
        return parts
    if isinstance(parts, list):
        return "".join(p.get("text", "") for p in parts if isinstance(p, dict))
    return ""


def _chat(model: str, messages: list[dict], config: dict | None, **names: str) -> dict:
    """A chat-completions body; ``names`` maps its fields (temperature, max_tokens, n) to the API's."""
    chat: dict[str, Any] = {"model": model, "messages": messages}
    options = config or {}
    for ours, theirs in names.items():
        if options.get(theirs) is not None:
            chat[ours] = options[theirs]
    return chat


# -- Anthropic Messages: POST /v1/messages ---------------------------------------------------


def _anthropic_request(body: Any, headers: Headers, path: str) -> tuple[Any, Headers]:
    if isinstance(body, dict):
        body = dict(body)
        system = _text(body.pop("system", None))
        if system:
            body["messages"] = [{"role": "system", "content": system}, *(body.get("messages") or [])]
    return body, _with_key(headers, headers.get("x-api-key"))


def _anthropic_reply(data: dict) -> dict:
    usage = data["usage"]
    return {
        "id": data["id"].replace("chatcmpl", "msg"),
        "type": "message",
        "role": "assistant",
        "model": data["model"],
        "content": [{"type": "text", "text": data["choices"][0]["message"]["content"]}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]},
    }


def _anthropic_stream(s: Stream) -> Iterator[bytes]:
    def event(kind: str, data: dict) -> bytes:
        return b"event: " + kind.encode() + b"\ndata: " + _dumps({"type": kind, **data}) + b"\n\n"

    yield event(
        "message_start",
        {
            "message": {
                "id": s.ident.replace("chatcmpl", "msg"),
                "type": "message",
                "role": "assistant",
                "model": s.model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": s.usage["prompt_tokens"], "output_tokens": 1},
            }
        },
    )
    yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    yield b'event: ping\ndata: {"type": "ping"}\n\n'
    for choice, token in s.tokens:
        if choice == 0:  # one answer per message
            yield event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": token}})
    yield event("content_block_stop", {"index": 0})
    yield event(
        "message_delta",
        {
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": s.usage["completion_tokens"]},
        },
    )
    yield event("message_stop", {})


_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _anthropic_error(status: int, message: str) -> tuple[dict, Headers]:
    return {"type": "error", "error": {"type": _ANTHROPIC_TYPES.get(status, "api_error"), "message": message}}, {}


# -- Gemini: POST /v1beta/models/{model}:generateContent -------------------------------------

_GEMINI_PATH = re.compile(r"^/(?:v1|v1beta|v1alpha)/models/([^/:]+):(generateContent|streamGenerateContent)$")


def _gemini_request(body: Any, headers: Headers, path: str) -> tuple[Any, Headers]:
    model = _model_in(_GEMINI_PATH, path)
    if not isinstance(body, dict):
        return body, headers
    messages = []
    system = _text((body.get("systemInstruction") or body.get("system_instruction") or {}).get("parts"))
    if system:
        messages.append({"role": "system", "content": system})
    for c in body.get("contents") or []:
        role = "assistant" if c.get("role") == "model" else "user"
        messages.append({"role": role, "content": _text(c.get("parts"))})
    chat = _chat(
        model,
        messages,
        body.get("generationConfig"),
        temperature="temperature",
        max_tokens="maxOutputTokens",
        n="candidateCount",
    )
    if path.endswith(":streamGenerateContent"):
        chat["stream"] = True
    return chat, _with_key(headers, headers.get("x-goog-api-key"))


def _gemini_reply(data: dict) -> dict:
    usage = data["usage"]
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": c["message"]["content"]}]},
                "finishReason": "STOP",
                "index": c["index"],
            }
            for c in data["choices"]
        ],
        "usageMetadata": _gemini_usage(usage),
        "modelVersion": data["model"],
    }


def _gemini_usage(usage: dict) -> dict:
    return {
        "promptTokenCount": usage["prompt_tokens"],
        "candidatesTokenCount": usage["completion_tokens"],
        "totalTokenCount": usage["total_tokens"],
    }


def _gemini_stream(s: Stream) -> Iterator[bytes]:
    def event(data: dict) -> bytes:
        return b"data: " + _dumps(data) + b"\r\n\r\n"

    for choice, token in s.tokens:
        yield event(
            {
                "candidates": [{"content": {"role": "model", "parts": [{"text": token}]}, "index": choice}],
                "modelVersion": s.model,
            }
        )
    # The last event holds the finish reasons and the usage of the whole reply.
    yield event(
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": i}
                for i in range(len(s.texts))
            ],
            "usageMetadata": _gemini_usage(s.usage),
            "modelVersion": s.model,
        }
    )


_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _gemini_error(status: int, message: str) -> tuple[dict, Headers]:
    return {"error": {"code": status, "message": message, "status": _GOOGLE_STATUS.get(status, "UNKNOWN")}}, {}


# -- Bedrock Converse: POST /model/{modelId}/converse -----------------------------------------

_BEDROCK_PATH = re.compile(r"^/model/([^/]+)/(converse|converse-stream)$")
_SIGV4_KEY = re.compile(r"Credential=([^/,\s]+)/")


def _bedrock_request(body: Any, headers: Headers, path: str) -> tuple[Any, Headers]:
    model = _model_in(_BEDROCK_PATH, path)
    # A SigV4 signature names the access key id; it stands in for the key in the key checks.
    signed = _SIGV4_KEY.search(headers.get("authorization", ""))
    headers = {k: v for k, v in headers.items() if k != "authorization"}
    if not isinstance(body, dict):
        return body, headers
    messages = [{"role": "system", "content": _text(body.get("system"))}] if body.get("system") else []
    messages += [{"role": m.get("role"), "content": _text(m.get("content"))} for m in body.get("messages") or []]
    chat = _chat(model, messages, body.get("inferenceConfig"), temperature="temperature", max_tokens="maxTokens")
    if path.endswith("/converse-stream"):
        chat["stream"] = True
    return chat, _with_key(headers, signed.group(1) if signed else None)


def _bedrock_reply(data: dict) -> dict:
    usage = data["usage"]
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": data["choices"][0]["message"]["content"]}]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": usage["prompt_tokens"],
            "outputTokens": usage["completion_tokens"],
            "totalTokens": usage["total_tokens"],
        },
        "metrics": {"latencyMs": 0},
    }


def event_stream_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One message in the AWS event-stream framing: prelude (total and headers lengths, CRC),
    string-valued headers, payload, CRC of the whole."""
    head = b"".join(
        struct.pack(">B", len(k)) + k.encode() + struct.pack(">BH", 7, len(v)) + v.encode() for k, v in headers.items()
    )
    prelude = struct.pack(">II", 16 + len(head) + len(payload), len(head))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + head + payload
    return message + struct.pack(">I", zlib.crc32(message))


def _bedrock_stream(s: Stream) -> Iterator[bytes]:
    def event(kind: str, data: dict) -> bytes:
        return event_stream_message(
            {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}, _dumps(data)
        )

    yield event("messageStart", {"role": "assistant"})
    for choice, token in s.tokens:
        if choice == 0:
            yield event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": token}})
    yield event("contentBlockStop", {"contentBlockIndex": 0})
    yield event("messageStop", {"stopReason": "end_turn"})
    yield event(
        "metadata",
        {
            "usage": {
                "inputTokens": s.usage["prompt_tokens"],
                "outputTokens": s.usage["completion_tokens"],
                "totalTokens": s.usage["total_tokens"],
            },
            "metrics": {"latencyMs": 0},
        },
    )


_BEDROCK_ERRORS = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    429: "ThrottlingException",
    503: "ServiceUnavailableException",
}


def _bedrock_error(status: int, message: str) -> tuple[dict, Headers]:
    kind = _BEDROCK_ERRORS.get(status, "InternalServerException" if status >= 500 else "ValidationException")
    return {"message": message}, {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}


ANTHROPIC = Dialect("anthropic", _anthropic_request, _anthropic_reply, _anthropic_error, _anthropic_stream)
GEMINI = Dialect("gemini", _gemini_request, _gemini_reply, _gemini_error, _gemini_stream)
BEDROCK = Dialect(
    "bedrock",
    _bedrock_request,
    _bedrock_reply,
    _bedrock_error,
    _bedrock_stream,
    stream_content_type="application/vnd.amazon.eventstream",
)


def dialect_of(path: str) -> Dialect | None:
    """The foreign API a POST path belongs to; None for chat completions (or an unknown path)."""
    if path == "/v1/messages":
        return ANTHROPIC
    if _GEMINI_PATH.match(path):
        return GEMINI
    if _BEDROCK_PATH.match(path):
        return BEDROCK
    return None
