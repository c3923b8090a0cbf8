"""archon: build LLM systems from inference-time techniques, run them fast, evaluate them, search for the best."""

from .components import Component, Output, State, calls_per_query, check_rules, register_component
from .config import ArchitectureConfig, ComponentConfig, Finding, load_config
from .engine import Archon, CallCache, Result, Trace, register_price
from .errors import ArchonError, ConfigError, ProviderError, QueryFailed
from .providers import RetryPolicy, register_generator, register_provider

# The reference code's names for the registration functions (for every Archon; ``Archon.add_component``
# and ``Archon.add_generator`` register for one Archon only).
add_component = register_component
add_generator = register_generator

__version__ = "0.1.0"

__all__ = [
    "ArchitectureConfig",
    "Archon",
    "ArchonError",
    "CallCache",
    "Component",
    "ComponentConfig",
    "ConfigError",
    "Finding",
    "Output",
    "ProviderError",
    "QueryFailed",
    "Result",
    "RetryPolicy",
    "State",
    "Trace",
    "add_component",
    "add_generator",
    "calls_per_query",
    "check_rules",
    "load_config",
    "register_component",
    "register_generator",
    "register_price",
    "register_provider",
]
