"""Providers: one interface (``Provider``), registered by name."""

from .base import ChatRequest, ChatResult, Provider, RetryPolicy, chat_with_retries
from .keys import KeyStore
from .registry import ProviderSettings, ProviderSpec, get_spec, register_generator, register_provider, specs

__all__ = [
    "ChatRequest", "ChatResult", "KeyStore", "Provider", "ProviderSettings", "ProviderSpec", "RetryPolicy",
    "chat_with_retries", "get_spec", "register_generator", "register_provider", "specs",
]
