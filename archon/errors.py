"""Exceptions raised by archon. Every message is safe to show: none carries a secret."""

from __future__ import annotations

from typing import Any


class ArchonError(Exception):
    """Base class of every error archon raises on purpose."""


class ConfigError(ArchonError):
    """An architecture config is malformed or breaks a construction rule."""


class ProviderError(ArchonError):
    """A provider call failed for good (after retries).

    Names the provider and model, never the key.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        model: str,
        status: int | None = None,
        attempts: int = 1,
        retryable: bool = False,
    ):
        super().__init__(f"{provider} model {model!r}: {message}")
        self.provider = provider
        self.model = model
        self.status = status
        self.attempts = attempts
        self.retryable = retryable
        # Set by providers: seconds the server asked us to wait, and "a fresh key is ready, retry at once".
        self.retry_after: float | None = None
        self.retry_now = False


class QueryFailed(ArchonError):
    """No layer output was left to answer a query with.

    ``result`` is the failed query's ``archon.engine.Result`` (its trace and error); typed Any
    because errors come before the engine in the dependency order.
    """

    def __init__(self, message: str, *, result: Any = None):
        super().__init__(message)
        self.result = result


class DatasetNotFound(ArchonError):
    """A benchmark's data set is neither available offline nor reachable."""
