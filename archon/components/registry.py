"""Components registered by type name: the seven built in, plus the user's (``add_component``)."""

from __future__ import annotations

import inspect
from typing import Callable

from ..config import ComponentConfig
from ..errors import ConfigError
from .base import Component, ComponentFunction, Output, State
from .critic import Critic
from .fuser import Fuser
from .generator import Generator
from .majority import MajorityVote
from .ranker import Ranker
from .unit_tests import UnitTestEvaluator, UnitTestGenerator
from .verifier import Verifier

_REGISTRY: dict[str, Callable[[ComponentConfig], Component]] = {
    c.type: c for c in (Generator, Fuser, Ranker, Critic, Verifier, UnitTestGenerator, UnitTestEvaluator, MajorityVote)
}


class FunctionComponent(Component):
    """A plain function registered as a component: ``fn(ctx, state) -> Output | list[str]``."""

    def __init__(self, config: ComponentConfig, fn: ComponentFunction):
        super().__init__(config)
        self.type = config.type
        self.fn = fn

    async def run(self, ctx, state: State) -> Output:
        out = self.fn(ctx, state)
        if inspect.isawaitable(out):
            out = await out
        if isinstance(out, Output):
            return out
        if isinstance(out, list):
            return Output(candidates=[str(x) for x in out])
        raise TypeError(f"component {self.type!r} returned {type(out).__name__}; expected Output or list[str]")


def register_component(name: str, component: type[Component] | ComponentFunction) -> None:
    """Register a Component subclass or a function under ``name`` (usable as ``type`` in configs)."""
    if inspect.isclass(component) and issubclass(component, Component):
        _REGISTRY[name] = component
    elif callable(component):
        _REGISTRY[name] = lambda cfg, fn=component: FunctionComponent(cfg, fn)
    else:
        raise TypeError("register a Component subclass or a function fn(ctx, state)")


def build_component(config: ComponentConfig) -> Component:
    try:
        factory = _REGISTRY[config.type]
    except KeyError:
        raise ConfigError(f"unknown component type {config.type!r}; known: {', '.join(sorted(_REGISTRY))}") from None
    return factory(config)


def known_types() -> list[str]:
    return sorted(_REGISTRY)
