"""Printing for the `archon` commands: labelled messages, taken literally."""

from __future__ import annotations

import argparse
import math
from typing import Any

from rich.console import Console
from rich.text import Text


def consoles() -> tuple[Console, Console]:
    """stdout and stderr consoles for one command."""
    # Made per command so that output goes to the sys.stdout/sys.stderr of the moment (tests capture them).
    # Not a terminal (a pipe, a file): wide enough that table cells are not wrapped.
    # Names, paths and errors are printed literally: no rich markup, no :emoji: codes.
    out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
    err = Console(stderr=True, soft_wrap=True, highlight=False, markup=False, emoji=False)
    for c in (out, err):
        if not c.is_terminal:
            c.width = max(c.width, 200)
    return out, err


def number(x: Any, fmt: str = "{:.3f}") -> str:
    """``x`` formatted, or "-" where there is none (None or NaN)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return fmt.format(x)


def positive_int(v: str) -> int:
    """argparse type: a whole number >= 1."""
    n = int(v)
    if n < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return n


def say(console: Console, label: str, style: str, message: Any = "") -> None:
    """Print a coloured label followed by a message, both taken literally."""
    text = Text(label, style=style)
    if message != "":
        text.append(f" {message}")
    console.print(text)


def plural(n: int, word: str, words: str | None = None) -> str:
    """``n`` and the word in the right number: "1 layer", "2 layers", "1 reply", "0 replies"."""
    return f"{n} {word if n == 1 else (words or word + 's')}"
