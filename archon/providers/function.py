"""Custom generator functions registered by name (the reference code's ``add_generator``)."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import types
from collections.abc import Callable
from typing import Any

from ..errors import ProviderError
from .base import ChatRequest, ChatResult, Provider


class FunctionProvider(Provider):
    """Wraps ``fn(messages, model=..., temperature=..., max_tokens=...) -> str`` (sync or async).

    The function may also return a list of strings (one per sample) or a dict with
    ``texts``/``text``, ``input_tokens`` and ``output_tokens``.
    """

    supports_n = False
    default_concurrency = 64

    def __init__(self, name: str, fn: Callable[..., Any]):
        self.name = name
        self.fn = fn
        self._identity = f"{name}:{_fingerprint(fn)}"

    def identity(self) -> str:
        # Cached calls are keyed by the function's code (and closure values), not just its name,
        # so a changed or re-registered function is asked again instead of answered from the cache.
        return self._identity

    async def chat(self, request: ChatRequest) -> ChatResult:
        kwargs = {"model": request.model, "temperature": request.temperature, "max_tokens": request.max_tokens}
        try:
            if inspect.iscoroutinefunction(self.fn):
                out = await self.fn(request.messages, **kwargs)
            else:
                out = await asyncio.to_thread(self.fn, request.messages, **kwargs)
        except ProviderError:
            raise
        except Exception as e:
            raise ProviderError(
                f"generator function raised {type(e).__name__}: {str(e)[:200]}", provider=self.name, model=request.model
            ) from None
        if isinstance(out, dict):
            texts = out.get("texts") or [out.get("text", "")]
            return ChatResult(
                texts=[str(t) for t in texts],
                input_tokens=int(out.get("input_tokens", 0)),
                output_tokens=int(out.get("output_tokens", 0)),
            )
        texts = [str(t) for t in out] if isinstance(out, (list, tuple)) else [str(out)]
        return ChatResult(texts=texts, output_tokens=sum(len(t.split()) for t in texts))


def _fingerprint(fn: Callable[..., Any]) -> str:
    """A digest of what a function does: its code (nested code included) and closure values."""
    # A callable object's code is its __call__ method's (fetched, not a test of callability).
    target = fn if hasattr(fn, "__code__") else getattr(fn, "__call__", fn)  # noqa: B004
    parts = [getattr(fn, "__module__", "") or "", getattr(fn, "__qualname__", type(fn).__qualname__)]

    def add_code(code: types.CodeType) -> None:
        parts.append(code.co_code.hex())
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                add_code(const)
            else:
                parts.append(repr(const))

    code = getattr(target, "__code__", None)
    if code is not None:
        add_code(code)
    for cell in getattr(target, "__closure__", None) or ():
        try:
            parts.append(repr(cell.cell_contents))
        except ValueError:  # an empty cell
            parts.append("<empty>")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
