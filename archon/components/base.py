"""What a component is: it reads the layer's input state and returns its contribution.

Components of one layer all see the same input; the engine merges their outputs (see
``archon.engine.layer``). Components reach LLMs only through ``ComponentContext.complete``,
which adds caching, retries, concurrency limits and tracing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, ClassVar, TypeVar

from ..config import ComponentConfig

if TYPE_CHECKING:
    from ..engine.runtime import ComponentContext

Message = dict[str, str]
T = TypeVar("T")


@dataclass
class State:
    """What flows from layer to layer."""

    messages: list[Message]
    candidates: list[str] = field(default_factory=list)
    # One critique per candidate, in candidate order, when a critic has run.
    critiques: list[str] | None = None
    unit_tests: list[str] | None = None
    # Named values custom components share with later layers.
    named: dict[str, Any] = field(default_factory=dict)

    @property
    def query(self) -> str:
        """The last user message: what the candidates answer."""
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")


@dataclass
class Output:
    """A component's contribution. ``candidates=None`` means "I produce no candidates" (they pass through)."""

    candidates: list[str] | None = None
    critiques: list[str] | None = None
    unit_tests: list[str] | None = None
    named: dict[str, Any] = field(default_factory=dict)


class Component(ABC):
    """Base class of all components; subclass it and register with ``archon.register_component``."""

    type: ClassVar[str]

    def __init__(self, config: ComponentConfig):
        self.config = config

    @abstractmethod
    async def run(self, ctx: "ComponentContext", state: State) -> Output:
        ...

    async def ask_until_parsed(
        self,
        ctx: "ComponentContext",
        messages: list[Message],
        parse: Callable[[str], T | None],
        *,
        what: str,
        fallback: Callable[[], T],
        key: str = "",
    ) -> T:
        """Ask, parse, re-ask up to ``parse_retries`` times; then take ``fallback()`` and record why.

        ``key`` tells apart calls of one component that must not share cache entries (e.g. per candidate).
        """
        last = ""
        for attempt in range(self.config.parse_retries + 1):
            texts = await ctx.complete(messages, n=1, tag=f"{key}#{attempt}" if attempt or key else "")
            last = texts[0] if texts else ""
            parsed = parse(last)
            if parsed is not None:
                return parsed
        ctx.fallback(f"{what} did not parse after {self.config.parse_retries + 1} tries "
                     f"(last reply: {last[:80]!r}); using the default")
        return fallback()


# A custom component can also be a plain (async) function: fn(ctx, state) -> Output | list[str]
ComponentFunction = Callable[["ComponentContext", State], Awaitable[Output | list[str]] | Output | list[str]]
