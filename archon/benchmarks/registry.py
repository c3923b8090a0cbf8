"""Benchmarks registered by name, so `archon bench --benchmark NAME` and plugins find them.

Registering a benchmark also registers its vote key (for ``majority_vote`` components that name it),
so components find it by name without importing benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from ..components.majority import default_vote_key, register_vote_key, vote_key_registry
from ..registry import Registry
from .base import Benchmark

benchmark_registry: Registry[Callable[[], Benchmark]] = Registry("benchmark", fold_case=True)


def register_benchmark(name: str, factory: Callable[[], Benchmark] | None = None):
    """Register a benchmark class or factory under ``name``; usable as a decorator."""

    def add(f: Callable[[], Benchmark]):
        benchmark_registry.register(name.lower(), f)
        register_vote_key(name.lower(), _vote_key_of(name.lower()))
        return f

    return add(factory) if factory is not None else add


def unregister_benchmark(name: str) -> None:
    benchmark_registry.unregister(name)
    vote_key_registry.unregister(name, missing_ok=True)


def _vote_key_of(name: str) -> Callable[[str], Hashable | None]:
    """The benchmark's own ``vote_key``, made on the first vote (building a benchmark is left until needed)."""
    key: list[Callable[[str], Hashable | None]] = []

    def vote_key(answer: str) -> Hashable | None:
        if not key:
            own = getattr(get_benchmark(name), "vote_key", None)
            key.append(own if callable(own) else default_vote_key)
        return key[0](answer)

    return vote_key


def get_benchmark(name: str) -> Benchmark:
    return benchmark_registry.get(name)()


def list_benchmarks() -> list[str]:
    return benchmark_registry.names()
