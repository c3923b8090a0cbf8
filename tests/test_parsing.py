"""Parsers of LLM replies: right, wrong and malformed replies."""

import pytest

from archon.components.parsing import (
    parse_critiques,
    parse_ranking,
    parse_test_results,
    parse_unit_tests,
    parse_verdict,
)


@pytest.mark.parametrize(
    "text, n, expected",
    [
        ("[3] > [1] > [2]", 3, [2, 0, 1]),
        ("Thinking about [1] and [2]...\nFinal ranking: [2] > [1] > [3]", 3, [1, 0, 2]),
        ("Ranking: 2 > 3 > 1", 3, [1, 2, 0]),
        ("[1] > [1] > [2]", 3, None),  # repeated
        ("[1] > [2]", 3, None),  # missing
        ("[1] > [2] > [4]", 3, None),  # out of range
        ("I cannot rank these.", 2, None),
    ],
)
def test_parse_ranking(text, n, expected):
    assert parse_ranking(text, n) == expected


def test_parse_critiques():
    text = "[1]\nStrengths: clear\nWeaknesses: wrong sum\n\n[2]\nStrengths: right\nWeaknesses: terse"
    assert parse_critiques(text, 2) == [
        "Strengths: clear\nWeaknesses: wrong sum",
        "Strengths: right\nWeaknesses: terse",
    ]
    bold = "**Response 1:** good\n**Response 2:** bad"
    assert parse_critiques(bold, 2) == ["good", "bad"]
    assert parse_critiques(text, 3) is None  # wrong length
    assert parse_critiques("[2] x\n[1] y", 2) is None  # out of order
    assert parse_critiques("[1]\n[2] fine", 2) is None  # empty critique


def test_parse_verdict():
    assert parse_verdict("reasoning... [Correct]") is True
    assert parse_verdict("[correct] at first, but on reflection [Incorrect]") is False
    assert parse_verdict("It is correct.") is None


def test_parse_unit_tests_and_results():
    assert parse_unit_tests("Test 1: mentions Paris\nTest 2) is one sentence\n", cap=5) == [
        "mentions Paris",
        "is one sentence",
    ]
    assert parse_unit_tests("assert f(1) == 2\nassert f(0) == 0\n") == ["assert f(1) == 2", "assert f(0) == 0"]
    assert parse_unit_tests("Test 1: a\nTest 2: b\nTest 3: c", cap=2) == ["a", "b"]
    assert parse_unit_tests("no tests here") is None
    assert parse_test_results("Test 1: [Pass]\nTest 2: [Fail]", 2) == [True, False]
    assert parse_test_results("Test 1: [Pass]", 2) is None
