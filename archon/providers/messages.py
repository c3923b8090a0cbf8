"""Message lists reshaped for models that cannot follow a multi-turn chat as alternating turns."""

from __future__ import annotations

from .base import Message

EARLIER_TURNS = "The conversation so far (for context; do not repeat earlier replies, answer the new message):"


def transcript(messages: list[Message]) -> str:
    """Messages as plain text, one ``ROLE: content`` paragraph each."""
    return "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in messages)


def latest_turn(messages: list[Message], instructions: str = "") -> list[Message]:
    """The conversation as one system message, then the latest message alone.

    Earlier turns go into the system message as context rather than as chat turns: a small model
    given its earlier replies as its own turns copies the last one instead of answering the new
    message (the embedded SmolLM2 does so on every multi-turn conversation, so its provider sends
    every conversation this way; hosted models get the turns as they are). The fuser's prompt is
    built the same way, for every model: the candidates answer the latest message. The user's own
    system prompt comes first, then the earlier turns, then ``instructions``. Idempotent.
    """
    system = [m["content"] for m in messages if m["role"] == "system"]
    turns = [m for m in messages if m["role"] != "system"]
    if not turns:
        return list(messages)
    *earlier, latest = turns
    if earlier:
        system.append(f"{EARLIER_TURNS}\n\n{transcript(earlier)}")
    if instructions:
        system.append(instructions)
    return ([{"role": "system", "content": "\n\n".join(system)}] if system else []) + [latest]
