"""Benchmarks registered by name, so `archon bench --benchmark NAME` and plugins find them."""

from __future__ import annotations

from typing import Callable

from ..errors import ArchonError
from .base import Benchmark

_REGISTRY: dict[str, Callable[[], Benchmark]] = {}


def register_benchmark(name: str, factory: Callable[[], Benchmark] | None = None):
    """Register a benchmark class or factory under ``name``; usable as a decorator."""

    def add(f: Callable[[], Benchmark]):
        _REGISTRY[name.lower()] = f
        return f

    return add(factory) if factory is not None else add


def get_benchmark(name: str) -> Benchmark:
    _load_builtin()
    try:
        return _REGISTRY[name.lower()]()
    except KeyError:
        raise ArchonError(f"unknown benchmark {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def list_benchmarks() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    # Imported lazily so that `import archon` stays fast; each module registers itself.
    from . import builtin  # noqa: F401
