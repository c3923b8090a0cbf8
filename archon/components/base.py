"""What a component is: it reads the layer's input state and returns its contribution.

Components of one layer all see the same input; the engine merges their outputs. Components reach
LLMs only through their context's ``complete`` (the engine's ``ComponentContext``), which adds
caching, retries, concurrency limits and tracing.

A component type also declares its facts, as class attributes and class methods: where it may
stand, what it needs before it, how many LLM calls it makes and how many candidates it leaves. The
construction rules and the cost per query (:mod:`archon.components.rules`) are computed from them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from ..config import ComponentConfig

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


class Context(Protocol):
    """What a component may use while it runs; the engine's ``ComponentContext`` provides it."""

    config: ComponentConfig

    async def complete(
        self,
        messages: list[Message],
        n: int = 1,
        *,
        tag: str = "",
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> list[str]:
        """``n`` samples for ``messages`` from the component's model (through the cache, retries and trace)."""
        ...

    def fallback(self, reason: str) -> None:
        """Record that the component took its stated default instead of a parsed reply."""
        ...


@dataclass(frozen=True)
class Needs:
    """A component type another one needs around it: in an ``earlier`` layer, in the ``previous``
    layer, or in the ``next`` one. ``because`` says why, for the message when it is missing."""

    type: str
    where: Literal["earlier", "previous", "next"]
    because: str = ""


def asks_per_reply(config: ComponentConfig, with_parse_retries: bool) -> int:
    """How many times a reply that must parse is asked for, at most: once, plus ``parse_retries`` re-asks."""
    return 1 + (config.parse_retries if with_parse_retries else 0)


class Component(ABC):
    """Base class of all components; subclass it and register with ``archon.register_component``.

    The class attributes and class methods below declare what the type is. A custom component that
    declares nothing gets these defaults: it may stand in any layer, beside anything; it makes one
    LLM call per sample (``samples``) and passes the candidates it gets on; unknown config fields
    are its own (no warning).
    """

    type: ClassVar[str]

    #: Must be the only component of its layer (it judges or filters all the layer's candidates).
    solo: ClassVar[bool] = False
    #: ``"first"``: only in layer 1 (it starts from the bare conversation); ``"later"``: never in
    #: layer 1 (it needs candidates); ``"any"``: anywhere.
    layer: ClassVar[Literal["first", "later", "any"]] = "any"
    #: Shares its layer only with components of its own type (or with types that do not say this).
    one_type_per_layer: ClassVar[bool] = False
    #: Makes no candidates of its own: the layer's input candidates go on (critic, unit test generator).
    passes_candidates_through: ClassVar[bool] = True
    #: Config fields beyond :class:`ComponentConfig`'s that it reads; None: any field may be its own
    #: (no "unknown field" warning).
    extra_fields: ClassVar[frozenset[str] | None] = None
    #: Fields of the reference code's configs it accepts silently though it does not use them.
    reference_fields: ClassVar[frozenset[str]] = frozenset()
    #: Whether the counts below are exact: the "last layer leaves several candidates" warning rests on them.
    exact_counts: ClassVar[bool] = False

    @classmethod
    def worst_case_calls(cls, config: ComponentConfig, n_candidates: int, *, with_parse_retries: bool = True) -> int:
        """The most LLM calls (samples) one run makes with ``n_candidates`` in; with
        ``with_parse_retries=False``, the count when every reply parses at once."""
        return config.samples

    @classmethod
    def candidates_out(cls, config: ComponentConfig, n_candidates: int) -> int:
        """The most candidates it leaves with ``n_candidates`` in (a pass-through component: ``n_candidates``)."""
        return n_candidates

    @classmethod
    def needs(cls, config: ComponentConfig) -> tuple[Needs, ...]:
        """The component types this one needs around it, for this config."""
        return ()

    def __init__(self, config: ComponentConfig):
        self.config = config

    @abstractmethod
    async def run(self, ctx: Context, state: State) -> Output: ...

    async def ask_until_parsed(
        self,
        ctx: Context,
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
        ctx.fallback(
            f"{what} did not parse after {self.config.parse_retries + 1} tries "
            f"(last reply: {last[:80]!r}); using the default"
        )
        return fallback()


# A custom component can also be a plain (async) function: fn(ctx, state) -> Output | list[str]
ComponentFunction = Callable[[Context, State], Awaitable[Output | list[str]] | Output | list[str]]
