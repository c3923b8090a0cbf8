"""Parsing LLM replies. Every parser returns None for a reply it cannot trust, never raises."""

from __future__ import annotations

import re

_INDEX = re.compile(r"\[(\d+)\]")


def parse_ranking(text: str, n: int) -> list[int] | None:
    """``"[3] > [1] > [2]"`` -> [2, 0, 1] (0-based). None unless every index 1..n appears exactly once."""
    # Use the last line that mentions indices: models often think aloud first.
    lines = [line for line in text.splitlines() if _INDEX.search(line)]
    for line in reversed(lines or [text]):
        idx = [int(m) - 1 for m in _INDEX.findall(line)]
        if sorted(idx) == list(range(n)):
            return idx
    idx = [int(m) - 1 for m in _INDEX.findall(text)]
    if sorted(idx) == list(range(n)):
        return idx
    # Bare numbers are accepted on a line that reads as a ranking: "3 > 1 > 2".
    for line in reversed(text.splitlines()):
        if ">" in line:
            idx = [int(m) - 1 for m in re.findall(r"\d+", line)]
            if sorted(idx) == list(range(n)):
                return idx
    return None


def parse_critiques(text: str, n: int) -> list[str] | None:
    """Split a critique reply into exactly ``n`` parts, one per heading ``[k]`` (or ``Response k``) in order 1..n."""
    heads = list(re.finditer(r"(?mi)^\W*(?:\[(\d+)\]|(?:response|candidate)\s*\[?(\d+)\]?)\W*", text))
    if [int(m.group(1) or m.group(2)) for m in heads] != list(range(1, n + 1)):
        return None
    parts = []
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        body = text[m.end() : end].strip(" :\n*-")
        if not body:
            return None
        parts.append(body)
    return parts


def parse_verdict(text: str) -> bool | None:
    """[Correct] -> True, [Incorrect] -> False; the last verdict wins; None if there is none."""
    found = re.findall(r"\[\s*(correct|incorrect)\s*\]", text, flags=re.IGNORECASE)
    if not found:
        return None
    return found[-1].lower() == "correct"


def parse_unit_tests(text: str, cap: int | None = None) -> list[str] | None:
    """Tests written one per line as ``Test k: ...`` (or python ``assert ...`` lines, or a numbered list)."""
    tests = [m.strip() for m in re.findall(r"(?im)^\W*test\s*\d+\s*[:.)-]\s*(.+)$", text)]
    if not tests:
        tests = [line.strip() for line in text.splitlines() if line.strip().startswith("assert ")]
    if not tests:  # a plain numbered list: "1. ...", "2) ..."
        tests = [m.strip() for m in re.findall(r"(?m)^\s*\d+\s*[.)]\s+(.+)$", text)]
    tests = [t for t in tests if t]
    if not tests:
        return None
    return tests[:cap] if cap else tests


def parse_test_results(text: str, n: int) -> list[bool] | None:
    """Exactly ``n`` verdicts ``[Pass]``/``[Fail]`` in order."""
    found = re.findall(r"\[\s*(pass|passed|fail|failed)\s*\]", text, flags=re.IGNORECASE)
    if len(found) != n:
        return None
    return [f.lower().startswith("pass") for f in found]
