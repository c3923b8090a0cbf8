"""Shared text layout for prompts: candidates shown to a model, and conversations as context."""

from __future__ import annotations

EARLIER_TURNS = "The conversation so far (for context; do not repeat earlier replies, answer the new message):"


def numbered(candidates: list[str], critiques: list[str] | None = None) -> str:
    parts = []
    for i, c in enumerate(candidates, 1):
        block = f"[{i}]\n{c.strip()}"
        if critiques is not None and i <= len(critiques):
            block += f"\n\nCritique of [{i}]:\n{critiques[i - 1].strip()}"
        parts.append(block)
    return "\n\n".join(parts)


def _turns(messages: list[dict]) -> str:
    return "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in messages)


def conversation_text(messages: list[dict]) -> str:
    """A conversation as plain text, for prompts that judge answers to it; in a multi-turn one the latest message is marked."""
    if len(messages) == 1:
        return messages[0]["content"]
    if sum(m["role"] != "system" for m in messages) == 1:
        return _turns(messages)
    *earlier, latest = messages
    return f"{_turns(earlier)}\n\n{latest['role'].upper()} (the latest message, to be answered): {latest['content']}"


def latest_turn(messages: list[dict], instructions: str = "") -> list[dict]:
    """The conversation as a model answering it is sent: one system message, then the latest message alone.

    Earlier turns go into the system message as context rather than as chat turns: a small model
    given its earlier replies as its own turns copies the last one instead of answering the new
    message (SmolLM2 does so on every multi-turn conversation). The user's own system prompt comes
    first, then the earlier turns, then ``instructions`` (what this component must do).
    """
    system = [m["content"] for m in messages if m["role"] == "system"]
    turns = [m for m in messages if m["role"] != "system"]
    if not turns:
        return list(messages)
    *earlier, latest = turns
    if earlier:
        system.append(f"{EARLIER_TURNS}\n\n{_turns(earlier)}")
    if instructions:
        system.append(instructions)
    return ([{"role": "system", "content": "\n\n".join(system)}] if system else []) + [latest]
