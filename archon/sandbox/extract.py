"""The Python program in an LLM answer: :func:`extract_code` picks it out of the answer's fenced blocks."""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

__all__ = ["defines", "extract_code"]

# A fenced block: what precedes the fence on its line, the language tag, the body.
_FENCE_RE = re.compile(r"^([^\n`]*?)```[ \t]*([\w+.#-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL | re.MULTILINE)
# A fence's own indentation: spaces, or a markdown list marker ("1. ", "- ") with the spaces around it.
_INDENT_RE = re.compile(r"[ \t]*(?:(?:[-*+]|\d+[.)])[ \t]+)?")
_PYTHON_TAGS = {"python", "py", "python3", "py3"}


def _dedent(body: str, width: int) -> str:
    """Remove up to ``width`` leading spaces or tabs from each line (the fence's own indentation)."""
    if not width:
        return body
    return "".join(re.sub(rf"^[ \t]{{0,{width}}}", "", line) for line in body.splitlines(True))


def defines(code: str, name: str) -> bool:
    """Whether ``code`` defines a function or class named ``name`` (at any indentation)."""
    return bool(re.search(rf"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+{re.escape(name)}\b", code, re.MULTILINE))


def compiles(code: str) -> bool:
    """Whether ``code`` parses as Python."""
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def extract_code(answer: str, names: Sequence[str] = ()) -> str:
    """The Python program in an LLM answer.

    Among the fenced blocks (```python ones, else blocks of any language):

    1. the last block that defines one of ``names`` (the function the tests call), if any;
    2. else all ```python blocks joined in order (a helper in one block, the function in the next),
       when together they are valid Python;
    3. else the longest block (the last one on a tie).

    No fence at all: the raw text. An unclosed fence at the end of the answer (a cut-off reply)
    counts as a block. A fence indented inside a markdown list is dedented by its own indentation;
    otherwise indentation is kept, so an answer that only continues a function body still works.
    """
    text = answer or ""
    blocks = [
        (m.group(2).lower(), _dedent(m.group(3), len(m.group(1)) if _INDENT_RE.fullmatch(m.group(1)) else 0))
        for m in _FENCE_RE.finditer(text)
    ]
    blocks = [(tag, body) for tag, body in blocks if body.strip()]
    python = [body for tag, body in blocks if tag in _PYTHON_TAGS]
    chosen = python or [body for _, body in blocks]
    defining = [body for body in chosen if any(defines(body, n) for n in names)]
    if defining:
        code = defining[-1]
    elif len(python) > 1 and compiles(joined := "\n\n".join(b.strip("\r\n") for b in python)):
        code = joined
    elif chosen:
        code = chosen[max(range(len(chosen)), key=lambda i: (len(chosen[i].strip()), i))]
    else:
        code = text
    # Drop leading blank lines and trailing whitespace, keep the first line's indentation.
    return code.lstrip("\r\n").rstrip() + "\n"
