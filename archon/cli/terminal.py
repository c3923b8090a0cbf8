"""Model text made safe to show on a terminal.

A model's reply may hold escape sequences (OSC 52 writes the clipboard, others retitle the
window, move the cursor or hide text). Written to a terminal, every control character but
newline and tab is shown as a visible escape (``\\x1b``) instead of acting; written to a pipe or
a file, the text goes out byte for byte.
"""

from __future__ import annotations

import re

from rich.console import Console

# C0 controls but tab and newline, DEL, and the C1 controls (0x9b is a one-byte CSI).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def neutralise(text: str) -> str:
    """``text`` with its control characters (but newlines and tabs) shown as ``\\xNN`` escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def write_text(console: Console, text: str) -> None:
    """Write ``text`` and a newline to ``console``'s file: neutralised on a terminal, byte for
    byte to a pipe or file (written directly: no markup, wrapping, tab expansion or stripping)."""
    console.file.write((neutralise(text) if console.is_terminal else text) + "\n")
    console.file.flush()
