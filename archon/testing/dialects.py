"""The other chat APIs the test double speaks, as translations to and from chat completions.

A request in the Anthropic Messages, Gemini ``generateContent`` or Bedrock Converse format is
turned into the equivalent chat-completions request, so that the same responder, behaviours,
latency and key checks apply; the reply (or error) is turned back into that API's own format,
the one its official SDK parses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import unquote

Headers = dict[str, str]


@dataclass(frozen=True)
class Dialect:
    name: str
    #: (body, lower-case headers, path) -> the chat-completions body and headers (key as bearer)
    to_chat: Callable[[Any, Headers, str], tuple[Any, Headers]]
    #: a chat.completion object -> this API's reply
    from_completion: Callable[[dict], dict]
    #: (status, message) -> this API's error body and extra headers
    error: Callable[[int, str], tuple[dict, Headers]]


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
    for ours, theirs in names.items():
        if (config or {}).get(theirs) is not None:
            chat[ours] = config[theirs]
    return chat


# -- Anthropic Messages: POST /v1/messages ---------------------------------------------------


def _anthropic_request(body: Any, headers: Headers, path: str) -> tuple[Any, Headers]:
    if isinstance(body, dict):
        body = dict(body)
        system = _text(body.pop("system", None))
        if system:
            body["messages"] = [{"role": "system", "content": system}] + list(body.get("messages") or [])
    return body, _with_key(headers, headers.get("x-api-key"))


def _anthropic_reply(data: dict) -> dict:
    usage = data["usage"]
    return {
        "id": data["id"].replace("chatcmpl", "msg"), "type": "message", "role": "assistant",
        "model": data["model"],
        "content": [{"type": "text", "text": data["choices"][0]["message"]["content"]}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]},
    }


_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 429: "rate_limit_error", 529: "overloaded_error"}


def _anthropic_error(status: int, message: str) -> tuple[dict, Headers]:
    return {"type": "error", "error": {"type": _ANTHROPIC_TYPES.get(status, "api_error"), "message": message}}, {}


# -- Gemini: POST /v1beta/models/{model}:generateContent -------------------------------------

_GEMINI_PATH = re.compile(r"^/(?:v1|v1beta|v1alpha)/models/([^/:]+):generateContent$")


def _gemini_request(body: Any, headers: Headers, path: str) -> tuple[Any, Headers]:
    model = unquote(_GEMINI_PATH.match(path).group(1))
    if not isinstance(body, dict):
        return body, headers
    messages = []
    system = _text((body.get("systemInstruction") or body.get("system_instruction") or {}).get("parts"))
    if system:
        messages.append({"role": "system", "content": system})
    for c in body.get("contents") or []:
        role = "assistant" if c.get("role") == "model" else "user"
        messages.append({"role": role, "content": _text(c.get("parts"))})
    chat = _chat(model, messages, body.get("generationConfig"),
                 temperature="temperature", max_tokens="maxOutputTokens", n="candidateCount")
    return chat, _with_key(headers, headers.get("x-goog-api-key"))


def _gemini_reply(data: dict) -> dict:
    usage = data["usage"]
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": c["message"]["content"]}]},
                        "finishReason": "STOP", "index": c["index"]} for c in data["choices"]],
        "usageMetadata": {"promptTokenCount": usage["prompt_tokens"],
                          "candidatesTokenCount": usage["completion_tokens"],
                          "totalTokenCount": usage["total_tokens"]},
        "modelVersion": data["model"],
    }


_GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                  429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def _gemini_error(status: int, message: str) -> tuple[dict, Headers]:
    return {"error": {"code": status, "message": message, "status": _GOOGLE_STATUS.get(status, "UNKNOWN")}}, {}


# -- Bedrock Converse: POST /model/{modelId}/converse -----------------------------------------

_BEDROCK_PATH = re.compile(r"^/model/([^/]+)/converse$")
_SIGV4_KEY = re.compile(r"Credential=([^/,\s]+)/")


def _bedrock_request(body: Any, headers: Headers, path: str) -> tuple[Any, Headers]:
    model = unquote(_BEDROCK_PATH.match(path).group(1))
    # A SigV4 signature names the access key id; it stands in for the key in the key checks.
    signed = _SIGV4_KEY.search(headers.get("authorization", ""))
    headers = {k: v for k, v in headers.items() if k != "authorization"}
    if not isinstance(body, dict):
        return body, headers
    messages = [{"role": "system", "content": _text(body.get("system"))}] if body.get("system") else []
    messages += [{"role": m.get("role"), "content": _text(m.get("content"))} for m in body.get("messages") or []]
    chat = _chat(model, messages, body.get("inferenceConfig"), temperature="temperature", max_tokens="maxTokens")
    return chat, _with_key(headers, signed.group(1) if signed else None)


def _bedrock_reply(data: dict) -> dict:
    usage = data["usage"]
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": data["choices"][0]["message"]["content"]}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": usage["prompt_tokens"], "outputTokens": usage["completion_tokens"],
                  "totalTokens": usage["total_tokens"]},
        "metrics": {"latencyMs": 0},
    }


_BEDROCK_ERRORS = {400: "ValidationException", 401: "UnrecognizedClientException", 403: "AccessDeniedException",
                   404: "ResourceNotFoundException", 408: "ModelTimeoutException", 429: "ThrottlingException",
                   503: "ServiceUnavailableException"}


def _bedrock_error(status: int, message: str) -> tuple[dict, Headers]:
    kind = _BEDROCK_ERRORS.get(status, "InternalServerException" if status >= 500 else "ValidationException")
    return {"message": message}, {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}


ANTHROPIC = Dialect("anthropic", _anthropic_request, _anthropic_reply, _anthropic_error)
GEMINI = Dialect("gemini", _gemini_request, _gemini_reply, _gemini_error)
BEDROCK = Dialect("bedrock", _bedrock_request, _bedrock_reply, _bedrock_error)


def dialect_of(path: str) -> Dialect | None:
    """The foreign API a POST path belongs to; None for chat completions (or an unknown path)."""
    if path == "/v1/messages":
        return ANTHROPIC
    if _GEMINI_PATH.match(path):
        return GEMINI
    if _BEDROCK_PATH.match(path):
        return BEDROCK
    return None
