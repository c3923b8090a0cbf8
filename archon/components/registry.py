"""Component types by name: the built-in ones, plus the user's (``register_component``).

Every entry is a :class:`Component` subclass, so its declarations (where it may stand, its calls
and candidates) can be read without building it. A function registered as a component becomes a
subclass of :class:`FunctionComponent`; keyword arguments of ``register_component`` declare its facts.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..config import ComponentConfig
from ..errors import ConfigError
from ..registry import Registry
from .base import Component, ComponentFunction, Output, State
from .critic import Critic
from .fuser import Fuser
from .generator import Generator
from .majority import MajorityVote
from .ranker import Ranker
from .unit_tests import UnitTestEvaluator, UnitTestGenerator
from .verifier import Verifier

BUILTIN_COMPONENTS: tuple[type[Component], ...] = (
    Generator,
    Fuser,
    Ranker,
    Critic,
    Verifier,
    UnitTestGenerator,
    UnitTestEvaluator,
    MajorityVote,
)

component_registry: Registry[type[Component]] = Registry("component type", error=ConfigError)
for _cls in BUILTIN_COMPONENTS:
    component_registry.register(_cls.type, _cls)

# What register_component's keyword arguments may declare: attributes, and class methods given as functions.
_DECLARED_ATTRIBUTES = (
    "solo",
    "layer",
    "one_type_per_layer",
    "passes_candidates_through",
    "extra_fields",
    "reference_fields",
    "exact_counts",
)
_DECLARED_METHODS = ("worst_case_calls", "candidates_out", "needs")


class FunctionComponent(Component):
    """A plain function registered as a component: ``fn(ctx, state) -> Output | list[str]``."""

    function: Any  # set on each registered function's own subclass

    async def run(self, ctx, state: State) -> Output:
        out = type(self).function(ctx, state)
        if inspect.isawaitable(out):
            out = await out
        if isinstance(out, Output):
            return out
        if isinstance(out, list):
            return Output(candidates=[str(x) for x in out])
        raise TypeError(f"component {self.config.type!r} returned {type(out).__name__}; expected Output or list[str]")


def component_class(name: str, component: type[Component] | ComponentFunction, **declarations: Any) -> type[Component]:
    """The Component subclass to register under ``name``: ``component`` itself, or a class around a function.

    ``declarations`` (for a function, or to override a class's) are the :class:`Component` class
    attributes (``solo``, ``layer``, ``passes_candidates_through``, ...) and class methods
    (``worst_case_calls``, ``candidates_out``, ``needs``, given as plain functions of ``(config, n, ...)``).
    """
    unknown = set(declarations) - set(_DECLARED_ATTRIBUTES) - set(_DECLARED_METHODS)
    if unknown:
        raise TypeError(
            f"unknown component declaration(s) {sorted(unknown)}; "
            f"known: {', '.join(_DECLARED_ATTRIBUTES + _DECLARED_METHODS)}"
        )
    attrs: dict[str, Any] = {"type": name}
    for k, v in declarations.items():
        attrs[k] = classmethod(lambda cls, *a, _f=v, **kw: _f(*a, **kw)) if k in _DECLARED_METHODS else v
    if inspect.isclass(component) and issubclass(component, Component):
        return type(component.__name__, (component,), attrs) if declarations else component
    if callable(component):
        attrs["function"] = staticmethod(component)
        return type(f"FunctionComponent[{name}]", (FunctionComponent,), attrs)
    raise TypeError("register a Component subclass or a function fn(ctx, state)")


def register_component(name: str, component: type[Component] | ComponentFunction, **declarations: Any) -> None:
    """Register a Component subclass or a function under ``name`` (usable as ``type`` in configs), for
    every Archon (``Archon.add_component`` registers for one Archon only). See :func:`component_class`."""
    component_registry.register(name, component_class(name, component, **declarations))


def unregister_component(name: str) -> None:
    component_registry.unregister(name)


def build_component(config: ComponentConfig, registry: Registry[type[Component]] | None = None) -> Component:
    """The component a config describes, from ``registry`` (default: the global one)."""
    return (registry or component_registry).get(config.type)(config)


def known_types() -> list[str]:
    return component_registry.names()
