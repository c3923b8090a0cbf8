"""Printing for the `archon` commands: labelled messages, taken literally."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text


def say(console: Console, label: str, style: str, message: Any = "") -> None:
    """Print a coloured label followed by a message, both taken literally."""
    text = Text(label, style=style)
    if message != "":
        text.append(f" {message}")
    console.print(text)


def plural(n: int, word: str, words: str | None = None) -> str:
    """``n`` and the word in the right number: "1 layer", "2 layers", "1 reply", "0 replies"."""
    return f"{n} {word if n == 1 else (words or word + 's')}"
