"""GSM8K, MATH, MixEval and MixEval-Hard: loading local data, prompts and rule-based scoring (no network)."""

from __future__ import annotations

import json
import sys
from fractions import Fraction

import pytest

from archon.benchmarks.base import Item, ScoringContext
from archon.benchmarks.ground_truth import (
    GSM8K,
    MATHBenchmark,
    MixEval,
    MixEvalHard,
    extract_gsm8k_number,
    extract_option_letter,
    normalize_text,
)
from archon.errors import DatasetNotFound

CTX = ScoringContext()


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- GSM8K

GSM8K_RECORDS = [
    {"question": "Tom has 1000 apples and buys 234 more. How many apples?", "answer": "1000+234=1234\n#### 1234"},
    {"question": "What is 6 * 7?", "answer": "6*7=<<6*7=42>>42\n#### 42"},
    {"question": "A debt of 5 dollars is written as?", "answer": "#### -5"},
]


@pytest.fixture
def gsm8k_items(tmp_path):
    return GSM8K().load(write_jsonl(tmp_path / "gsm8k.jsonl", GSM8K_RECORDS))


def test_gsm8k_load_and_prompt(gsm8k_items):
    assert [i.id for i in gsm8k_items] == ["0", "1", "2"]
    assert [i.reference for i in gsm8k_items] == ["1234", "42", "-5"]
    assert gsm8k_items[0].turns == [GSM8K_RECORDS[0]["question"]]
    prompt = GSM8K().prompt(gsm8k_items[0], 0)
    assert prompt.startswith(GSM8K_RECORDS[0]["question"]) and "The answer is" in prompt
    conv = GSM8K().conversation(gsm8k_items[0], 0, [])
    assert conv == [{"role": "user", "content": prompt}]


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("First 1000 + 234. The answer is 1,234.", 1.0),
        ("The answer is $1,234.00", 1.0),
        ("The final answer is: **1234**", 1.0),
        ("so we get 1234.0", 1.0),
        ("#### 1234", 1.0),
        ("Total \\boxed{1234}", 1.0),
        ("He had 1234 apples at first, then 5 more.", 0.0),  # last number wins
        ("The answer is 1235. (1234 was a typo)", 0.0),  # "The answer is" wins over the last number
        ("The answer is 1,235.", 0.0),
    ],
)
async def test_gsm8k_score(gsm8k_items, answer, expected):
    s = await GSM8K().score(gsm8k_items[0], [answer], CTX)
    assert s.value == expected, s.details


async def test_gsm8k_malformed_and_negative(gsm8k_items):
    s = await GSM8K().score(gsm8k_items[0], ["I don't know."], CTX)
    assert s.value == 0.0 and "parse_error" in s.details
    s = await GSM8K().score(gsm8k_items[0], [""], CTX)
    assert s.value == 0.0
    s = await GSM8K().score(gsm8k_items[2], ["He owes money: x = -5. The answer is -5"], CTX)
    assert s.value == 1.0


def test_extract_gsm8k_number():
    assert extract_gsm8k_number("3-4 gives 8") == ("8", "last_number")
    assert extract_gsm8k_number("x=-4") == ("-4", "last_number")
    assert extract_gsm8k_number("The answer is 1,234.") == ("1,234", "answer_is")
    assert extract_gsm8k_number("nothing") == (None, "none")


@pytest.mark.parametrize(
    "text, number",
    [
        ("Final answer: 10 + 8 = 18", "18"),  # a calculation after the marker: its result, not its first number
        ("**Answer:** She makes 16 - 3 - 4 = 9 eggs into 9 * $2 = $18.", "18"),
        ("The answer is: The total cost is $25.", "25"),
        ("The answer is: **$1,080**", "1,080"),
        ("The answer is 0.5 hours, i.e. 30 minutes", "0.5"),
        ("Answer: 3 boxes of 12 eggs is 36 eggs.\nThe answer is 36.", "36"),
        ("Let's find the answer:\n1. She has 16 eggs.\n2. 16 - 7 = 9 left, 9 * 2 = 18.\n\nSo $18.", "18"),
        ("The answer is 60 dollars.\n\nNote: an answer is rounding needed? No.", "60"),
        ("The answer is 18.\n\n#### 18", "18"),
    ],
)
def test_extract_gsm8k_number_reads_the_final_answer_after_the_marker(text, number):
    assert extract_gsm8k_number(text)[0] == number
    assert GSM8K().vote_key(text) == Fraction(number.replace(",", ""))


def test_gsm8k_without_datasets_asks_for_data(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(DatasetNotFound) as e:
        GSM8K().load(None)
    assert "--data" in str(e.value) and "openai/gsm8k" in str(e.value)


def test_gsm8k_missing_answer_field(tmp_path):
    with pytest.raises(DatasetNotFound, match="answer"):
        GSM8K().load(write_jsonl(tmp_path / "bad.jsonl", [{"question": "q"}]))


def test_gsm8k_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "gsm8k.parquet"
    pq.write_table(pa.Table.from_pylist(GSM8K_RECORDS), path)
    items = GSM8K().load(path)
    assert [i.reference for i in items] == ["1234", "42", "-5"]


def test_json_file_holding_json_lines_loads(tmp_path):
    # datasets.Dataset.to_json("gsm8k.json") writes JSON Lines under a .json name.
    path = tmp_path / "gsm8k.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in GSM8K_RECORDS), encoding="utf-8")
    assert [i.reference for i in GSM8K().load(path)] == ["1234", "42", "-5"]


@pytest.mark.parametrize(
    "name, content, where",
    [
        ("bad.jsonl", '{"question": "q", "answer": "#### 1"}\n{"question": "q2", "answer": \n', "line 2"),
        ("bad.json", '{"question": "q", "answer": "#### 1"}\n\n{"question": oops}\n', "line 3"),
        ("broken.json", '[{"question": "q",\n  "answer": "#### 1"\n', "line 3"),
        ("list.jsonl", "[1, 2]\n", "line 1"),
        ("bad.parquet", "this is not parquet", "Parquet"),
    ],
)
def test_unreadable_data_files_raise_a_clear_error(tmp_path, name, content, where):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetNotFound) as e:
        GSM8K().load(path)
    assert name in str(e.value) and where in str(e.value)


# --------------------------------------------------------------------------- MATH

MATH_RECORDS = [
    {
        "problem": "What is 1/2 as a decimal?",
        "answer": "0.5",
        "unique_id": "test/algebra/1.json",
        "subject": "Algebra",
        "level": 1,
    },
    {
        "problem": "Simplify $\\frac{2}{4}$.",
        "solution": "Divide: $\\frac{2}{4} = \\boxed{\\frac{1}{2}}$.",
        "unique_id": "test/algebra/2.json",
    },
    {"problem": "Find $x$ with $x^2=2$, $x>0$.", "answer": "\\sqrt{2}", "unique_id": "test/algebra/3.json"},
]


@pytest.fixture
def math_items(tmp_path):
    path = tmp_path / "math.json"
    path.write_text(json.dumps(MATH_RECORDS), encoding="utf-8")
    return MATHBenchmark().load(path)


def test_math_load_and_prompt(math_items):
    assert [i.id for i in math_items] == ["test/algebra/1.json", "test/algebra/2.json", "test/algebra/3.json"]
    assert math_items[1].reference == "\\frac{1}{2}"  # taken from the solution's \boxed{}
    assert math_items[0].metadata["subject"] == "Algebra"
    assert "\\boxed{}" in MATHBenchmark().prompt(math_items[0], 0)


@pytest.mark.parametrize(
    "index, answer, expected",
    [
        (0, "So it is $\\boxed{\\frac{1}{2}}$.", 1.0),
        (0, "\\boxed{0.5}", 1.0),
        (0, "\\boxed{\\frac{1}{3}}", 0.0),
        (1, "The answer is \\boxed{0.5}", 1.0),
        (1, "\\boxed{2}", 0.0),
        (2, "$x = \\boxed{\\sqrt 2}$", 1.0),
        (2, "\\boxed{2^{1/2}}", 1.0),
        (2, "\\boxed{-\\sqrt{2}}", 0.0),
    ],
)
async def test_math_score(math_items, index, answer, expected):
    s = await MATHBenchmark().score(math_items[index], [answer], CTX)
    assert s.value == expected, s.details


@pytest.mark.parametrize("garbage", ["\\boxed{", "", "I cannot solve this.", "\\frac{{{", "$$$"])
async def test_math_malformed_never_raises(math_items, garbage):
    s = await MATHBenchmark().score(math_items[0], [garbage], CTX)
    assert s.value == 0.0
    assert "parse_error" in s.details


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("I am not sure what 1/2+1/2 is.", 0.0),  # no box, no final-answer marker
        ("The answer is 1 or maybe 3", 0.0),  # a marker, but not a single expression
        ("Perhaps 1. The answer is 3 apples or 1.", 0.0),
        ("The answer is 1.", 1.0),
        ("Final Answer: The final answer is $1$. I hope it is correct.", 1.0),
        ("First 2, then $\\boxed{3}$, finally \\boxed{1}", 1.0),  # the last box
        ("\\boxed{1} is what I first thought, but it is \\boxed{2}", 0.0),
    ],
)
async def test_math_scores_only_a_clear_final_answer(answer, expected):
    s = await MATHBenchmark().score(Item("x", ["What is 1/2 + 1/2?"], "1"), [answer], CTX)
    assert s.value == expected, s.details
    if expected == 0.0 and "\\boxed" not in answer:
        assert "parse_error" in s.details


def test_math_vote_key_groups_equivalent_answers():
    key = MATHBenchmark().vote_key
    assert (
        key("So $x=\\boxed{\\frac{1}{2}}$")
        == key("\\boxed{0.5}")
        == key("\\boxed{\\dfrac12}")
        == key("The answer is 1/2.")
    )
    assert key("\\boxed{\\sqrt{18}}") == key("\\boxed{3\\sqrt{2}}")
    assert key("\\boxed{3}") != key("\\boxed{0.5}")
    assert key("no final answer here") is None


async def test_math_broken_reference_scores_zero():
    s = await MATHBenchmark().score(Item("x", ["q"], "\\frac{"), ["\\boxed{1}"], CTX)
    assert s.value == 0.0  # and no exception


def test_math_record_without_answer(tmp_path):
    with pytest.raises(DatasetNotFound, match="answer"):
        MATHBenchmark().load(write_jsonl(tmp_path / "m.jsonl", [{"problem": "p", "solution": "no box"}]))


# --------------------------------------------------------------------------- MixEval

MC = {
    "0": {
        "problem_type": "multiple-choice",
        "context": None,
        "prompt": "What is the capital of Italy?",
        "options": ["Paris", "London", "Rome", "Madrid"],
        "target": [2],
        "benchmark_name": "MMLU",
    },
    "1": {
        "problem_type": "multiple-choice",
        "context": "The Raiders moved to Las Vegas in 2020.",
        "prompt": "did the raiders move to las vegas",
        "options": ["No", "Yes"],
        "target": [1],
        "benchmark_name": "BoolQ",
    },
}
FF = {
    "0": {
        "problem_type": "free-form",
        "context": None,
        "prompt": "Who wrote Hamlet?",
        "target": ["William Shakespeare", "Shakespeare"],
        "benchmark_name": "TriviaQA",
    },
    "1": {
        "problem_type": "free-form",
        "context": "Kris Brown kicked field goals of 26 and 34 yards.",
        "prompt": "How many yards was the longest field goal?",
        "target": ["34"],
        "benchmark_name": "DROP",
    },
    "2": {
        "problem_type": "free-form",
        "context": None,
        "prompt": "Natalia sold 48 clips in April and half as many in May. How many in total?",
        "target": ["72"],
        "benchmark_name": "GSM8k",
    },
}


@pytest.fixture
def mixeval_dir(tmp_path):
    d = tmp_path / "mixeval"
    d.mkdir()
    (d / "multiple-choice.json").write_text(json.dumps(MC), encoding="utf-8")
    (d / "free-form.json").write_text(json.dumps(FF), encoding="utf-8")
    return d


@pytest.fixture
def mix_items(mixeval_dir):
    return {i.id: i for i in MixEval().load(mixeval_dir)}


def test_mixeval_load_native_files(mix_items):
    assert sorted(mix_items) == ["free_form-0", "free_form-1", "free_form-2", "multiple_choice-0", "multiple_choice-1"]
    mc = mix_items["multiple_choice-0"]
    assert mc.reference == {"type": "multiple_choice", "options": ["Paris", "London", "Rome", "Madrid"], "target": [2]}
    assert mix_items["free_form-0"].reference == {"type": "free_form", "target": ["William Shakespeare", "Shakespeare"]}


def test_mixeval_load_json_lines_in_a_json_file(tmp_path):
    recs = [{"problem_type": "free_form", "prompt": "Capital of France?", "options": [], "target": ["Paris"]}] * 2
    path = tmp_path / "mixeval.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    assert [i.id for i in MixEval().load(path)] == ["free_form-0", "free_form-1"]
    path.write_text(json.dumps(recs[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DatasetNotFound, match=r"mixeval.json.*line 2"):
        MixEval().load(path)


def test_mixeval_load_jsonl_hub_style(tmp_path):
    # The hub's rows: problem_type with an underscore, the target as strings, no ids.
    recs = [
        {"problem_type": "multiple_choice", "prompt": "2+2?", "options": ["3", "4"], "target": ["1"], "context": ""},
        {
            "problem_type": "free_form",
            "prompt": "Capital of France?",
            "options": [],
            "target": ["Paris"],
            "context": "",
        },
    ]
    items = MixEval().load(write_jsonl(tmp_path / "m.jsonl", recs))
    assert [i.id for i in items] == ["multiple_choice-0", "free_form-1"]
    assert items[0].reference["target"] == [1]
    assert items[1].reference["type"] == "free_form"


def test_mixeval_prompts(mix_items):
    b = MixEval()
    p = b.prompt(mix_items["multiple_choice-0"], 0)
    assert p == (
        "What is the capital of Italy?\nA. Paris\nB. London\nC. Rome\nD. Madrid\n"
        "Answer with the option letter from the given choices directly."
    )
    p = b.prompt(mix_items["multiple_choice-1"], 0)
    assert p.startswith("The Raiders moved to Las Vegas in 2020.\ndid the raiders")
    assert b.prompt(mix_items["free_form-0"], 0) == "Question: Who wrote Hamlet?\nAnswer the question shortly."
    assert b.prompt(mix_items["free_form-1"], 0).startswith("Question: Kris Brown kicked")
    assert "step by step" in b.prompt(mix_items["free_form-2"], 0)


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("C", 1.0),
        ("(C)", 1.0),
        ("C. Rome", 1.0),
        ("The answer is C.", 1.0),
        ("**Answer: C**", 1.0),
        ("Rome", 1.0),
        ("The capital of Italy is Rome.", 1.0),
        ("A", 0.0),
        ("Paris", 0.0),
        ("The answer is (B)", 0.0),
    ],
)
async def test_mixeval_mc_rules(mix_items, answer, expected):
    s = await MixEval().score(mix_items["multiple_choice-0"], [answer], CTX)
    assert s.value == expected, s.details
    assert s.fallbacks == 0 and s.details["parsed_by"] == "rules"


async def test_mixeval_mc_nonsense_without_judge(mix_items):
    s = await MixEval().score(mix_items["multiple_choice-0"], ["I like turtles."], CTX)
    assert s.value == 0.0 and "parse_error" in s.details and s.fallbacks == 0
    s = await MixEval().score(mix_items["multiple_choice-0"], ["Z"], CTX)  # not an option letter
    assert s.value == 0.0


async def test_mixeval_mc_judge_parser(mix_items):
    seen = []

    async def judge(messages):
        seen.append(messages)
        return "The response picks Rome. [[C]]"

    s = await MixEval().score(
        mix_items["multiple_choice-0"], ["I'd go with the city of the Colosseum."], ScoringContext(judge=judge)
    )
    assert s.value == 1.0 and s.fallbacks == 0 and s.details["parsed_by"] == "judge"
    assert len(seen) == 1 and "A. Paris" in seen[0][0]["content"] and "Colosseum" in seen[0][0]["content"]

    async def none_judge(messages):
        return "[[none]]"

    s = await MixEval().score(mix_items["multiple_choice-0"], ["hmm"], ScoringContext(judge=none_judge))
    assert s.value == 0.0 and s.fallbacks == 0

    calls = []

    async def bad_judge(messages):
        calls.append(1)
        return "I am not sure."

    s = await MixEval().score(mix_items["multiple_choice-0"], ["hmm"], ScoringContext(judge=bad_judge, judge_retries=2))
    assert s.value == 0.0 and s.fallbacks == 1 and len(calls) == 3

    async def failing_judge(messages):
        raise RuntimeError("boom")

    # A judge that fails is not the architecture's wrong answer: the error reaches the runner,
    # which leaves the item unscored.
    with pytest.raises(RuntimeError, match="boom"):
        await MixEval().score(
            mix_items["multiple_choice-0"], ["hmm"], ScoringContext(judge=failing_judge, judge_retries=0)
        )


async def test_mixeval_judge_not_called_when_rules_parse(mix_items):
    async def judge(messages):  # pragma: no cover - must not run
        raise AssertionError("judge called")

    s = await MixEval().score(mix_items["multiple_choice-0"], ["C"], ScoringContext(judge=judge))
    assert s.value == 1.0


@pytest.mark.parametrize(
    "item, answer, expected",
    [
        ("free_form-0", "William Shakespeare", 1.0),
        ("free_form-0", "It was written by Shakespeare.", 1.0),
        ("free_form-0", "shakespeare!", 1.0),
        ("free_form-0", "Christopher Marlowe", 0.0),
        ("free_form-0", "", 0.0),
        ("free_form-1", "34", 1.0),
        ("free_form-1", "34 yards", 1.0),
        ("free_form-1", "26", 0.0),
        ("free_form-1", "134", 0.0),
        ("free_form-2", "48 + 24 = 72. So the final answer is: 72.", 1.0),
        ("free_form-2", "April 48, May 24. The answer is 72.0", 1.0),
        ("free_form-2", "72 is wrong... So the final answer is: 70.", 0.0),
    ],
)
async def test_mixeval_free_form_rules(mix_items, item, answer, expected):
    s = await MixEval().score(mix_items[item], [answer], CTX)
    assert s.value == expected, s.details


@pytest.mark.parametrize(
    "answer, targets, expected",
    [
        ("She starts with 5 apples and buys 3 packs of 4, so 5 + 12 = 17 apples.", ["5"], 0.0),
        ("5 + 12 = 17", ["5"], 0.0),
        ("The answer is 5 + 12 = 17.", ["5"], 0.0),
        ("The answer is 5 + 12 = 17.", ["17"], 1.0),
        ("The capital of Australia is not Sydney; it is Canberra.", ["Sydney"], 0.0),
        ("Not Sydney.", ["Sydney"], 0.0),
        ("The answer is not Sydney.", ["Sydney"], 0.0),
        ("Sydney is the largest city, but the capital of Australia is Canberra.", ["Sydney"], 0.0),
        ("The answer is Canberra, not Sydney.", ["Canberra"], 1.0),
        ("Canberra.", ["Canberra"], 1.0),
        ("\\boxed{Canberra}", ["Canberra"], 1.0),
        ("The answer is 12", ["2"], 0.0),
        ("No", ["yes"], 0.0),
        ("It ended in 1945.", ["1945"], 1.0),
    ],
)
async def test_mixeval_free_form_matches_only_the_final_answer(answer, targets, expected):
    item = Item("ff", ["q"], {"type": "free_form", "target": targets})
    s = await MixEval().score(item, [answer], CTX)
    assert s.value == expected, s.details


async def test_mixeval_judge_retry_is_a_new_request(mix_items):
    # A cache in front of the judge answers identical requests identically: a retry must differ.
    replies: dict[str, str] = {}
    seen = []

    async def cached_judge(messages):
        key = json.dumps(messages)
        seen.append(messages)
        return replies.setdefault(key, "[[B]]" if len(replies) else "The response picks the second option.")

    item = mix_items["multiple_choice-0"]
    s = await MixEval().score(
        item, ["I'd go with the second one."], ScoringContext(judge=cached_judge, judge_retries=2)
    )
    assert s.value == 0.0 and s.fallbacks == 0 and s.details["choice"] == 1 and s.details["judge_attempts"] == 2
    assert (
        len(seen) == 2
        and seen[1][:1] == seen[0]
        and seen[1][1]["role"] == "assistant"
        and "[[" in seen[1][2]["content"]
    )


def test_mixeval_vote_key():
    key = MixEval().vote_key
    assert key("B") == key("The answer is (B).") == key("B. London") == key("**Answer: B**") != key("A")
    assert key("The answer is 17.") == key("\\boxed{17}") == key("17 apples") != key("The answer is 5 + 12 = 18.")
    assert key("Canberra.") == key("The answer is Canberra.")
    assert key("Let's think step by step about the many cities of Australia and their roles.") is None


async def test_mixeval_free_form_judge(mix_items):
    async def yes(messages):
        assert "William Shakespeare" in messages[0]["content"]
        return "Same person. [[1]]"

    s = await MixEval().score(mix_items["free_form-0"], ["The Bard of Avon"], ScoringContext(judge=yes))
    assert s.value == 1.0 and s.details["parsed_by"] == "judge"

    async def garbled(messages):
        return "maybe"

    s = await MixEval().score(
        mix_items["free_form-0"], ["The Bard of Avon"], ScoringContext(judge=garbled, judge_retries=1)
    )
    assert s.value == 0.0 and s.fallbacks == 1


def test_mixeval_aggregate_is_accuracy():
    from archon.benchmarks.base import ItemScore

    assert MixEval().aggregate([ItemScore(1.0), ItemScore(0.0), ItemScore(1.0), ItemScore(1.0)]) == 0.75


def test_mixeval_hard_and_missing_datasets(monkeypatch):
    assert MixEvalHard.hf_name == "MixEval_Hard" and MixEval.hf_name == "MixEval"
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(DatasetNotFound, match="--data"):
        MixEvalHard().load(None)


def test_mixeval_bad_target(tmp_path):
    recs = [{"problem_type": "multiple-choice", "prompt": "q", "options": ["a", "b"], "target": [5]}]
    with pytest.raises(DatasetNotFound, match="target"):
        MixEval().load(write_jsonl(tmp_path / "m.jsonl", recs))


def test_extract_option_letter_and_normalize():
    opts = ["No", "Yes"]
    assert extract_option_letter("Yes", opts) == 1
    assert extract_option_letter("No, they did not.", opts) == 0
    assert extract_option_letter("\\boxed{B}", opts) == 1
    assert extract_option_letter("Option B", opts) == 1
    assert extract_option_letter("B\n\nBecause the context says they moved.", opts) == 1
    assert extract_option_letter("C", opts) is None
    assert extract_option_letter("", opts) is None
    assert normalize_text("The  Quick, brown fox!") == "quick brown fox"


# --------------------------------------------------------------------------- registry


def test_registered_names():
    from archon.benchmarks.registry import get_benchmark, list_benchmarks

    names = set(list_benchmarks())
    assert {"gsm8k", "math", "mixeval", "mixeval-hard"} <= names
    for name, cls in [("gsm8k", GSM8K), ("math", MATHBenchmark), ("mixeval", MixEval), ("mixeval-hard", MixEvalHard)]:
        b = get_benchmark(name)
        assert type(b) is cls and b.name == name and b.kind == "ground_truth" and b.source


def test_vote_keys_compare_final_answers():
    from archon.benchmarks.registry import get_benchmark
    from archon.components.majority import majority_vote, vote_key_for

    gsm = vote_key_for("gsm8k")
    assert gsm("so 3 + 4 = 7. The answer is 7.") == gsm("The answer is 7.00") != gsm("The answer is 8")
    answers = ["Adding gives 8. The answer is 8", "The answer is 7", "We get 7, so the answer is 7", "no idea"]
    assert majority_vote(answers, gsm)[0] == 1
    math_key = get_benchmark("math").vote_key
    assert math_key("thus \\boxed{\\frac{1}{2}}") == math_key("\\boxed{\\frac{1}{ 2}}") and math_key("none") is None
