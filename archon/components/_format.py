"""Shared text layout for prompts that show candidates, or a conversation, to a model."""

from __future__ import annotations

from ..providers.messages import latest_turn, transcript


def numbered(candidates: list[str], critiques: list[str] | None = None) -> str:
    parts = []
    for i, c in enumerate(candidates, 1):
        block = f"[{i}]\n{c.strip()}"
        if critiques is not None and i <= len(critiques):
            block += f"\n\nCritique of [{i}]:\n{critiques[i - 1].strip()}"
        parts.append(block)
    return "\n\n".join(parts)


def conversation_text(messages: list[dict]) -> str:
    """A conversation as plain text, for prompts that judge answers to it (in a multi-turn one, the latest
    message is marked)."""
    if len(messages) == 1:
        return messages[0]["content"]
    if sum(m["role"] != "system" for m in messages) == 1:
        return transcript(messages)
    *earlier, latest = messages
    return (
        f"{transcript(earlier)}\n\n{latest['role'].upper()} (the latest message, to be answered): {latest['content']}"
    )


__all__ = ["conversation_text", "latest_turn", "numbered"]
