"""Components: the inference-time techniques layers are made of."""

from .base import Component, Output, State
from .registry import build_component, known_types, register_component

__all__ = ["Component", "Output", "State", "build_component", "known_types", "register_component"]
