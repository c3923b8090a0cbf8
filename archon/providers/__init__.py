"""Providers: one interface (``Provider``), registered by name."""

from .base import ChatRequest, ChatResult, Provider, RetryPolicy, chat_with_retries
from .keys import KeyStore
from .registry import (
    ProviderSettings,
    ProviderSpec,
    generator_spec,
    get_spec,
    provider_registry,
    register_generator,
    register_provider,
    specs,
)

__all__ = [
    "ChatRequest",
    "ChatResult",
    "KeyStore",
    "Provider",
    "ProviderSettings",
    "ProviderSpec",
    "RetryPolicy",
    "chat_with_retries",
    "generator_spec",
    "get_spec",
    "provider_registry",
    "register_generator",
    "register_provider",
    "specs",
]
