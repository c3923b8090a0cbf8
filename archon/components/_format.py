"""Shared text layout for prompts that show candidates to a model."""

from __future__ import annotations


def numbered(candidates: list[str], critiques: list[str] | None = None) -> str:
    parts = []
    for i, c in enumerate(candidates, 1):
        block = f"[{i}]\n{c.strip()}"
        if critiques is not None and i <= len(critiques):
            block += f"\n\nCritique of [{i}]:\n{critiques[i - 1].strip()}"
        parts.append(block)
    return "\n\n".join(parts)


def conversation_text(messages: list[dict]) -> str:
    """A conversation as plain text, for prompts that judge answers to it."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in messages)
