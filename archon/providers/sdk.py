"""Providers behind optional SDKs: Anthropic, Google (Gemini) and Bedrock.

Each SDK is imported only when its provider is first used, with an install hint if missing.
The SDKs' own retries are turned off: archon's retry loop (backoff, jitter, bounded attempts) applies.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from ..errors import ProviderError
from .base import ChatRequest, ChatResult, Provider


def _split_system(messages: list[dict]) -> tuple[str, list[dict]]:
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    return system, [m for m in messages if m["role"] != "system"]


def _status_error(provider: str, model: str, e: Exception) -> ProviderError:
    status = getattr(e, "status_code", None) or getattr(getattr(e, "response", None), "status_code", None)
    retryable = status is None or status in (408, 429, 500, 502, 503, 504, 529)
    return ProviderError(f"{type(e).__name__}" + (f" (HTTP {status})" if status else ""), provider=provider,
                         model=model, status=status, retryable=retryable)


class AnthropicProvider(Provider):
    name = "Anthropic_API"
    default_concurrency = 16

    def __init__(self, api_keys: list[str], base_url: str | None = None):
        try:
            import anthropic
        except ImportError:
            raise ProviderError("install the extra: pip install 'archon[anthropic]'", provider=self.name, model="-") from None
        self._sdk = anthropic
        self._keys = api_keys
        self._base_url = base_url
        self._clients: dict[int, Any] = {}

    async def chat(self, request: ChatRequest) -> ChatResult:
        if not self._keys:
            raise ProviderError("no API key: set ANTHROPIC_API_KEY", provider=self.name, model=request.model)
        loop = id(asyncio.get_running_loop())
        if loop not in self._clients:
            self._clients[loop] = self._sdk.AsyncAnthropic(api_key=self._keys[0], base_url=self._base_url, max_retries=0)
        system, msgs = _split_system(request.messages)
        create = self._clients[loop].messages.create
        kwargs: dict[str, Any] = dict(model=request.model, messages=msgs, max_tokens=request.max_tokens)
        # Recent SDKs dropped the `temperature` argument; the API still takes it for the models that use it.
        temperature = min(request.temperature, 1.0)
        if "temperature" in inspect.signature(create).parameters:
            kwargs["temperature"] = temperature
        else:
            kwargs["extra_body"] = {"temperature": temperature}
        if system:
            kwargs["system"] = system
        try:
            r = await create(**kwargs)
        except Exception as e:
            raise _status_error(self.name, request.model, e) from None
        text = "".join(getattr(b, "text", "") for b in r.content)
        return ChatResult([text], r.usage.input_tokens, r.usage.output_tokens)


class GoogleProvider(Provider):
    name = "Google_API"
    default_concurrency = 16

    def __init__(self, api_keys: list[str]):
        try:
            from google import genai
        except ImportError:
            raise ProviderError("install the extra: pip install 'archon[google]'", provider=self.name, model="-") from None
        self._genai = genai
        self._keys = api_keys
        self._client = None

    async def chat(self, request: ChatRequest) -> ChatResult:
        if not self._keys:
            raise ProviderError("no API key: set GOOGLE_API_KEY", provider=self.name, model=request.model)
        if self._client is None:
            self._client = self._genai.Client(api_key=self._keys[0])
        system, msgs = _split_system(request.messages)
        contents = [{"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]} for m in msgs]
        config: dict[str, Any] = {"temperature": request.temperature, "max_output_tokens": request.max_tokens}
        if system:
            config["system_instruction"] = system
        try:
            r = await self._client.aio.models.generate_content(model=request.model, contents=contents, config=config)
        except Exception as e:
            raise _status_error(self.name, request.model, e) from None
        u = getattr(r, "usage_metadata", None)
        return ChatResult([r.text or ""], getattr(u, "prompt_token_count", 0) or 0, getattr(u, "candidates_token_count", 0) or 0)


class BedrockProvider(Provider):
    name = "Bedrock_API"
    default_concurrency = 16

    def __init__(self, region: str | None = None):
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise ProviderError("install the extra: pip install 'archon[bedrock]'", provider=self.name, model="-") from None
        self._client = boto3.client("bedrock-runtime", region_name=region, config=Config(retries={"max_attempts": 1}))

    async def chat(self, request: ChatRequest) -> ChatResult:
        system, msgs = _split_system(request.messages)
        kwargs: dict[str, Any] = dict(
            modelId=request.model,
            messages=[{"role": m["role"], "content": [{"text": m["content"]}]} for m in msgs],
            inferenceConfig={"temperature": request.temperature, "maxTokens": request.max_tokens},
        )
        if system:
            kwargs["system"] = [{"text": system}]
        try:
            r = await asyncio.to_thread(self._client.converse, **kwargs)
        except Exception as e:
            raise _status_error(self.name, request.model, e) from None
        text = "".join(c.get("text", "") for c in r["output"]["message"]["content"])
        u = r.get("usage", {})
        return ChatResult([text], u.get("inputTokens", 0), u.get("outputTokens", 0))
