"""Providers registered by name (like plugins), and the Archon ``model_type`` names they answer to."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..registry import Registry
from .base import Provider
from .keys import KeyStore


@dataclass(frozen=True)
class ProviderSettings:
    """What a component says about its provider connection."""

    base_url: str | None = None
    api_key_env: str | None = None
    keys: KeyStore = field(default_factory=KeyStore)


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    factory: Callable[[ProviderSettings], Provider]
    aliases: tuple[str, ...] = ()
    key_env: str | None = None
    base_url_env: str | None = None
    default_base_url: str | None = None
    extra: str | None = None  # pip extra that provides its SDK
    description: str = ""


# Providers by name and alias, case-insensitively (Archon configs write "OpenAI_API", people "openai").
provider_registry: Registry[ProviderSpec] = Registry("model_type", error=ConfigError, fold_case=True)


def register_provider(spec: ProviderSpec, *, registry: Registry[ProviderSpec] | None = None) -> ProviderSpec:
    """Make ``spec`` usable as ``model_type`` (by its name or an alias), for every Archon or for ``registry``'s."""
    return (registry or provider_registry).register(spec.name, spec, aliases=spec.aliases)


def generator_spec(name: str, fn: Callable[..., Any]) -> ProviderSpec:
    """A provider answering with a function ``fn(messages, model, temperature, max_tokens)``."""
    from .function import FunctionProvider

    provider = FunctionProvider(name, fn)
    return ProviderSpec(name=name, factory=lambda s: provider, description="custom generator function")


def register_generator(name: str, fn: Callable[..., Any]) -> None:
    """Register a function as a provider usable as ``model_type: NAME`` in every Archon
    (the reference code's ``add_generator``; ``Archon.add_generator`` registers for one Archon only)."""
    register_provider(generator_spec(name, fn))


def get_spec(model_type: str | None, *, registry: Registry[ProviderSpec] | None = None) -> ProviderSpec:
    """The provider a component's ``model_type`` names (none: the embedded local model)."""
    return (registry or provider_registry).get(model_type or "local")


def specs() -> list[ProviderSpec]:
    return provider_registry.values()


def _openai_compatible(
    name: str,
    *,
    aliases: tuple[str, ...] = (),
    base_url: str,
    base_url_env: str | None,
    key_env: str | None,
    supports_n: bool = True,
    key_required: bool = True,
    concurrency: int = 32,
    description: str = "",
) -> ProviderSpec:
    from .openai_compat import OpenAICompatibleProvider

    def factory(s: ProviderSettings) -> Provider:
        env = s.api_key_env or key_env
        url = s.base_url or (os.environ.get(base_url_env) if base_url_env else None) or base_url
        # A key is required by the hosted service itself; a server elsewhere gets one only if it is set.
        return OpenAICompatibleProvider(
            name=name,
            base_url=url,
            api_keys=s.keys.ring(env) if env else [],
            supports_n=supports_n,
            key_required=key_required and url == base_url,
            concurrency=concurrency,
            key_env=env,
        )

    return register_provider(
        ProviderSpec(
            name=name,
            factory=factory,
            aliases=tuple(aliases),
            key_env=key_env,
            base_url_env=base_url_env,
            default_base_url=base_url,
            description=description,
        )
    )


def _register_builtin() -> None:
    from . import sdk
    from .local import LocalProvider

    # OPENAI_BASE_URL is honoured as the OpenAI SDK does, so any compatible server can stand in for OpenAI_API.
    _openai_compatible(
        "OpenAI_API",
        aliases=("openai",),
        base_url="https://api.openai.com/v1",
        base_url_env="OPENAI_BASE_URL",
        key_env="OPENAI_API_KEY",
        concurrency=64,
        description="OpenAI, or any OpenAI-compatible server via OPENAI_BASE_URL",
    )
    _openai_compatible(
        "Together_API",
        aliases=("together",),
        base_url="https://api.together.xyz/v1",
        base_url_env="TOGETHER_BASE_URL",
        key_env="TOGETHER_API_KEY",
        concurrency=32,
    )
    _openai_compatible(
        "Groq_API",
        aliases=("groq",),
        base_url="https://api.groq.com/openai/v1",
        base_url_env="GROQ_BASE_URL",
        key_env="GROQ_API_KEY",
        supports_n=False,
        concurrency=16,
    )
    # Self-hosted servers: no key needed unless the server was started with one.
    for name, aliases, server_url, supports_n in (
        ("vLLM", ("vllm",), "http://localhost:8000/v1", True),
        ("SGLang", ("sglang",), "http://localhost:30000/v1", True),
        ("tgi", ("TGI",), "http://localhost:8080/v1", False),
        ("Ollama", ("ollama",), "http://localhost:11434/v1", False),
        ("llamacpp_server", ("llama.cpp", "llamacpp"), "http://localhost:8080/v1", False),
    ):
        _openai_compatible(
            name,
            aliases=aliases,
            base_url=server_url,
            base_url_env=f"{name.upper().replace('.', '')}_BASE_URL",
            key_env=f"{name.upper()}_API_KEY",
            supports_n=supports_n,
            key_required=False,
            concurrency=64,
            description="self-hosted OpenAI-compatible server",
        )

    # SDK providers take the base URL variable their own SDK reads, so a proxy or test server can stand in.
    def url(s: ProviderSettings, env: str) -> str | None:
        return s.base_url or os.environ.get(env)

    register_provider(
        ProviderSpec(
            "Anthropic_API",
            aliases=("anthropic",),
            key_env="ANTHROPIC_API_KEY",
            base_url_env="ANTHROPIC_BASE_URL",
            extra="anthropic",
            factory=lambda s: sdk.AnthropicProvider(
                s.keys.ring(s.api_key_env or "ANTHROPIC_API_KEY"), url(s, "ANTHROPIC_BASE_URL"), s.api_key_env
            ),
        )
    )
    register_provider(
        ProviderSpec(
            "Google_API",
            aliases=("google", "gemini"),
            key_env="GOOGLE_API_KEY",
            base_url_env="GOOGLE_GEMINI_BASE_URL",
            extra="google",
            factory=lambda s: sdk.GoogleProvider(
                s.keys.ring(s.api_key_env or "GOOGLE_API_KEY"), url(s, "GOOGLE_GEMINI_BASE_URL"), s.api_key_env
            ),
        )
    )
    register_provider(
        ProviderSpec(
            "Bedrock_API",
            aliases=("bedrock",),
            key_env="AWS_ACCESS_KEY_ID",
            base_url_env="AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            extra="bedrock",
            factory=lambda s: sdk.BedrockProvider(s.keys, url(s, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME")),
        )
    )
    register_provider(
        ProviderSpec(
            "local",
            lambda s: LocalProvider(),
            aliases=("embedded", "llama_cpp"),
            description="embedded SmolLM2-135M-Instruct on llama.cpp (no key)",
        )
    )


_register_builtin()
