"""Execution: running architectures, the call cache, traces and cost."""

from .archon import Archon, normalize_messages
from .cache import CallCache
from .pricing import register_price
from .trace import Result, Trace, Usage, write_jsonl

__all__ = ["Archon", "CallCache", "Result", "Trace", "Usage", "normalize_messages", "register_price", "write_jsonl"]
