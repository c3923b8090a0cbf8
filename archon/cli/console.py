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
