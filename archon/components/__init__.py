"""Components: the inference-time techniques layers are made of, and the rules and cost computed from them."""

from ..config import Finding
from .base import Component, Context, Needs, Output, State, asks_per_reply
from .majority import default_vote_key, register_vote_key, vote_key_for, vote_key_registry
from .registry import (
    BUILTIN_COMPONENTS,
    FunctionComponent,
    build_component,
    component_class,
    component_registry,
    known_types,
    register_component,
    unregister_component,
)
from .rules import LayerCount, calls_per_query, check_rules, declarations_of, layer_counts

__all__ = [
    "BUILTIN_COMPONENTS",
    "Component",
    "Context",
    "Finding",
    "FunctionComponent",
    "LayerCount",
    "Needs",
    "Output",
    "State",
    "asks_per_reply",
    "build_component",
    "calls_per_query",
    "check_rules",
    "component_class",
    "component_registry",
    "declarations_of",
    "default_vote_key",
    "known_types",
    "layer_counts",
    "register_component",
    "register_vote_key",
    "unregister_component",
    "vote_key_for",
    "vote_key_registry",
]
