"""Each benchmark loads and scores the data as its publisher ships it.

Every file here is built by the test in the exact shape of the official one (field names, nesting,
folder layout: GSM8K's grade_school_math/data/, MBPP's mbpp.jsonl and sanitized-mbpp.json, HumanEval's
data/HumanEval.jsonl.gz, the MATH tree and MATH-500, MixEval's mixeval-<version>/, FastChat's mt_bench/,
arena-hard-auto's data/arena-hard-v0.1/ and v2.0/, AlpacaEval's model_outputs.json, CodeContests'
hub Parquet), with a few made-up items.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from pathlib import Path

import pytest

from archon import RetryPolicy
from archon.benchmarks.base import ScoringContext
from archon.benchmarks.code import MBPP, CodeContests, HumanEval
from archon.benchmarks.ground_truth import GSM8K, MATHBenchmark, MixEval, MixEvalHard
from archon.benchmarks.judged import AlpacaEval, ArenaHard, MTBench
from archon.benchmarks.runner import run_benchmark
from archon.cli import main
from archon.errors import ArchonError, DatasetNotFound
from archon.testing.fake_openai import FakeOpenAIServer

FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, timeout=5)


def jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2), encoding="utf-8")
    return path


def score(bench, item, answer: str) -> float:
    return asyncio.run(bench.score(item, [answer], ScoringContext())).value


def config(srv: FakeOpenAIServer, name: str = "m") -> dict:
    return {
        "name": name,
        "layers": [[{"type": "generator", "model": name, "model_type": "OpenAI_API", "base_url": srv.base_url}]],
    }


def judge_prompts(judge: FakeOpenAIServer) -> list[str]:
    return [r.body["messages"][-1]["content"] for r in judge.requests]


def judged_run(arch: FakeOpenAIServer, judge: FakeOpenAIServer, benchmark: str, **kwargs) -> dict:
    """A run of ``benchmark`` answered by ``arch`` and judged by ``judge``."""
    return run_benchmark(config(arch), benchmark, judge=config(judge, "judge"), retry=FAST, **kwargs)


# ---------------------------------------------------------------- GSM8K: grade_school_math/data/


def gsm8k_repo(root: Path) -> Path:
    """openai/grade-school-math: grade_school_math/data/ with train, test, their socratic variants and solutions."""
    data = root / "grade_school_math" / "data"
    q = [("Tom has 3 apples and buys 4 more. How many apples?", 7), ("A box holds 12 eggs. How many in 2 boxes?", 24)]
    jsonl(data / "test.jsonl", [{"question": t, "answer": f"Some reasoning <<{n}={n}>>.\n#### {n}"} for t, n in q])
    jsonl(data / "test_socratic.jsonl", [{"question": t, "answer": f"How many? ** reasoning\n#### {n}"} for t, n in q])
    jsonl(data / "train.jsonl", [{"question": "Train question?", "answer": "#### 1"}] * 3)
    jsonl(data / "train_socratic.jsonl", [{"question": "Train question?", "answer": "#### 1"}] * 3)
    jsonl(data / "example_model_solutions.jsonl", [{"question": q[0][0], "175b_verification": {"solution": "x"}}])
    return data


@pytest.mark.parametrize("level", ["data", "repo"])
def test_gsm8k_official_folder_takes_test_jsonl_only(tmp_path, level):
    data = gsm8k_repo(tmp_path / "grade-school-math")
    items = GSM8K().load(data if level == "data" else tmp_path / "grade-school-math")
    assert [it.reference for it in items] == ["7", "24"]  # not 20 items from test + test_socratic + train
    bench = GSM8K()
    assert score(bench, items[0], "3 + 4 = 7. The answer is 7.") == 1.0
    assert score(bench, items[1], "The answer is 25.") == 0.0


def test_a_folder_in_no_known_layout_lists_its_files_and_merges_nothing(tmp_path):
    d = tmp_path / "mine"
    jsonl(d / "a.jsonl", [{"question": "q", "answer": "#### 1"}])
    jsonl(d / "b.jsonl", [{"question": "q", "answer": "#### 2"}])
    with pytest.raises(DatasetNotFound) as e:
        GSM8K().load(d)
    msg = str(e.value)
    assert "a.jsonl" in msg and "b.jsonl" in msg and "pass the evaluation file itself" in msg
    assert "test.jsonl" in msg  # the layout it expected
    # A folder holding one data file is that file.
    (d / "b.jsonl").unlink()
    assert [it.reference for it in GSM8K().load(d)] == ["1"]


def test_a_record_error_names_its_file(tmp_path):
    test = jsonl(
        tmp_path / "data" / "test.jsonl", [{"question": "ok?", "answer": "#### 1"}, {"question": "no answer here"}]
    )
    with pytest.raises(DatasetNotFound, match=re.escape(f"record 1 of {str(test)!r}")):
        GSM8K().load(tmp_path / "data")
    mt = jsonl(tmp_path / "mt_bench" / "question.jsonl", [{"question_id": 81, "category": "writing"}])
    with pytest.raises(DatasetNotFound, match=re.escape(f"record 0 of {str(mt)!r}")):
        MTBench().load(tmp_path / "mt_bench")


def test_jsonl_gz_is_read_in_folders(tmp_path):
    d = tmp_path / "gz"
    d.mkdir()
    with gzip.open(d / "test.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"question": "1 + 1?", "answer": "#### 2"}) + "\n")
    assert [it.reference for it in GSM8K().load(d)] == ["2"]


# ---------------------------------------------------------------- MATH: the tree, MATH-500, LFS pointers


def math_tree(root: Path) -> Path:
    """hendrycks/math's MATH/: {train,test}/<subject>/<n>.json, one problem per file."""
    problems = {
        "test/algebra/1.json": ("What is $2+3$?", "Level 1", "Algebra", "We add: $\\boxed{5}$."),
        "test/algebra/7.json": ("Solve $x-1=1$.", "Level 2", "Algebra", "So $x=\\boxed{2}$."),
        "test/geometry/3.json": ("A square has side 3. Its area?", "Level 5", "Geometry", "Area is $\\boxed{9}$."),
        "train/algebra/5.json": ("Train problem", "Level 3", "Algebra", "$\\boxed{0}$"),
    }
    for rel, (problem, level, subject, solution) in problems.items():
        write_json(root / "MATH" / rel, {"problem": problem, "level": level, "type": subject, "solution": solution})
    return root / "MATH"


def test_math_tree_loads_as_folder_and_as_file_with_subject_and_level(tmp_path):
    tree = math_tree(tmp_path)
    bench = MATHBenchmark()
    items = {it.id: it for it in bench.load(tree)}
    assert sorted(items) == ["test/algebra/1.json", "test/algebra/7.json", "test/geometry/3.json"]  # no train
    assert {it.id for it in bench.load(tree / "test")} == set(items)
    one = bench.load(tree / "test" / "geometry" / "3.json")
    assert len(one) == 1 and one[0].reference == "9" and one[0].metadata["subject"] == "Geometry"
    assert one[0].metadata["level"] == 5
    scores = [
        asyncio.run(bench.score(items["test/algebra/1.json"], ["The sum is $\\boxed{5}$."], ScoringContext())),
        asyncio.run(bench.score(items["test/algebra/7.json"], ["$\\boxed{3}$"], ScoringContext())),
        asyncio.run(bench.score(items["test/geometry/3.json"], ["$\\boxed{9}$"], ScoringContext())),
    ]
    assert [s.value for s in scores] == [1.0, 0.0, 1.0]
    extra = bench.summary_extra(scores)
    assert extra["by_subject"] == {"Algebra": 0.5, "Geometry": 1.0}
    assert extra["by_level"] == {"1": 1.0, "2": 0.0, "5": 1.0}


def test_math500_jsonl_loads_with_its_ids(tmp_path):
    rec = {
        "problem": "What is $6/3$?",
        "solution": "$\\boxed{2}$",
        "answer": "2",
        "subject": "Prealgebra",
        "level": 1,
        "unique_id": "test/prealgebra/1.json",
    }
    items = MATHBenchmark().load(jsonl(tmp_path / "MATH-500" / "test.jsonl", [rec]).parent)
    assert items[0].id == "test/prealgebra/1.json" and items[0].metadata["subject"] == "Prealgebra"
    assert score(MATHBenchmark(), items[0], "So $\\boxed{2}$.") == 1.0


def test_a_git_lfs_pointer_says_so_and_how_to_get_the_file(tmp_path):
    p = tmp_path / "test.jsonl"
    p.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a21\nsize 446133\n", encoding="utf-8")
    with pytest.raises(DatasetNotFound, match=r"Git LFS pointer.*git lfs pull.*download the file"):
        MATHBenchmark().load(p)
    parquet = tmp_path / "test-00000-of-00001.parquet"
    parquet.write_text(p.read_text(), encoding="utf-8")
    with pytest.raises(DatasetNotFound, match="Git LFS pointer"):
        CodeContests().load(parquet)


# ---------------------------------------------------------------- MixEval: mixeval-<version>/


def test_mixeval_version_folder_gives_each_benchmark_its_own_files(tmp_path):
    root = tmp_path / "mixeval-2024-06-01"
    for sub, n in (("mixeval", 3), ("mixeval-hard", 1)):
        write_json(
            root / sub / "free-form.json",
            {
                str(i): {
                    "problem_type": "free-form",
                    "context": None,
                    "prompt": f"{sub} question {i}?",
                    "target": ["Paris"],
                    "benchmark_name": "TriviaQA",
                }
                for i in range(n)
            },
        )
        write_json(
            root / sub / "multiple-choice.json",
            {
                "0": {
                    "problem_type": "single-choice",
                    "context": None,
                    "prompt": f"{sub} pick",
                    "options": ["A1", "B1"],
                    "target": [1],
                    "benchmark_name": "MMLU",
                }
            },
        )
    full, hard = MixEval().load(root), MixEvalHard().load(root)
    assert len(full) == 4 and len(hard) == 2
    assert all(it.turns[0].startswith("mixeval-hard") for it in hard)
    mc = next(it for it in hard if it.metadata["problem_type"] == "multiple_choice")
    assert score(MixEvalHard(), mc, "The answer is B.") == 1.0


# ---------------------------------------------------------------- code: HumanEval, MBPP, CodeContests

HE = {
    "task_id": "HumanEval/0",
    "prompt": 'def add(a, b):\n    """Sum."""\n',
    "canonical_solution": "    return a + b\n",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
    "entry_point": "add",
}


def test_humaneval_data_folder_takes_the_gz_file(tmp_path):
    data = tmp_path / "human-eval" / "data"
    data.mkdir(parents=True)
    with gzip.open(data / "HumanEval.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(HE) + "\n")
    jsonl(data / "example_problem.jsonl", [dict(HE, task_id="test/0")])
    jsonl(data / "example_samples.jsonl", [{"task_id": "test/0", "completion": "    return 1\n"}])
    items = HumanEval().load(tmp_path / "human-eval")
    assert [it.id for it in items] == ["HumanEval/0"]
    assert score(HumanEval(), items[0], "```python\ndef add(a, b):\n    return a + b\n```") == 1.0


def _mbpp_record(task_id: int, **fields) -> dict:
    return {
        "text": f"Write a function to double x (task {task_id}).",
        "code": "def double(x):\n    return 2 * x",
        "task_id": task_id,
        "test_setup_code": "",
        "test_list": ["assert double(2) == 4"],
        "challenge_test_list": [],
        **fields,
    }


def test_mbpp_folder_and_sanitized_file(tmp_path):
    d = tmp_path / "mbpp"
    # The published files hold every split: 1-10 few-shot prompts, 11-510 test, 511-600
    # validation, 601-974 training.
    jsonl(d / "mbpp.jsonl", [_mbpp_record(t) for t in (1, 10, 11, 12, 510, 511, 600, 601, 974)])
    write_json(
        d / "sanitized-mbpp.json",
        [
            {
                "source_file": "x.py",
                "task_id": t,
                "prompt": "Write a function to negate x.",
                "code": "def neg(x):\n    return -x",
                "test_imports": ["import math"],
                "test_list": ["assert neg(2) == -2"],
            }
            for t in (2, 12, 600)
        ],
    )
    full = MBPP().load(d)
    assert [it.id for it in full] == ["11", "12", "510"]  # the test split, as the hub's
    assert score(MBPP(), full[0], "```python\ndef double(x):\n    return x * 2\n```") == 1.0
    sanitized = MBPP().load(d / "sanitized-mbpp.json")
    assert [it.id for it in sanitized] == ["12"] and "import math" in sanitized[0].reference["test_setup_code"]
    assert score(MBPP(), sanitized[0], "```python\ndef neg(x):\n    return x\n```") == 0.0
    # A file of the user's own (here the same records under another name) is evaluated whole.
    own = tmp_path / "my-mbpp-subset.jsonl"
    own.write_bytes((d / "mbpp.jsonl").read_bytes())
    assert len(MBPP().load(own)) == 9


def test_codecontests_hub_parquet_schema(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    tests = pa.struct([("input", pa.list_(pa.string())), ("output", pa.list_(pa.string()))])
    solutions = pa.struct([("language", pa.list_(pa.int64())), ("solution", pa.list_(pa.string()))])
    schema = pa.schema(
        [
            ("name", pa.string()),
            ("description", pa.string()),
            ("public_tests", tests),
            ("private_tests", tests),
            ("generated_tests", tests),
            ("source", pa.int64()),
            ("difficulty", pa.int64()),
            ("solutions", solutions),
            ("incorrect_solutions", solutions),
            ("cf_contest_id", pa.int64()),
            ("cf_index", pa.string()),
            ("cf_points", pa.float32()),
            ("cf_rating", pa.int32()),
            ("cf_tags", pa.list_(pa.string())),
            ("is_description_translated", pa.bool_()),
            ("untranslated_description", pa.string()),
            ("time_limit", pa.struct([("seconds", pa.int64()), ("nanos", pa.int64())])),
            ("memory_limit_bytes", pa.int64()),
            ("input_file", pa.string()),
            ("output_file", pa.string()),
        ]
    )

    def row(name: str) -> dict:
        return {
            "name": name,
            "description": "Read two integers and print their sum.",
            "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
            "private_tests": {"input": ["5 5\n"], "output": ["10\n"]},
            "generated_tests": {"input": [], "output": []},
            "source": 2,
            "difficulty": 7,
            "solutions": {"language": [3], "solution": ["print(sum(map(int, input().split())))"]},
            "incorrect_solutions": {"language": [], "solution": []},
            "cf_contest_id": 1,
            "cf_index": "A",
            "cf_points": 500.0,
            "cf_rating": 800,
            "cf_tags": ["math"],
            "is_description_translated": False,
            "untranslated_description": "",
            "time_limit": {"seconds": 2, "nanos": 0},
            "memory_limit_bytes": 256000000,
            "input_file": "",
            "output_file": "",
        }

    data = tmp_path / "code_contests" / "data"
    data.mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist([row("1_A. Sum")], schema=schema), data / "test-00000-of-00001-9c49eeff.parquet"
    )
    pq.write_table(
        pa.Table.from_pylist([row("train")] * 2, schema=schema), data / "train-00000-of-00039-e991a271.parquet"
    )
    pq.write_table(
        pa.Table.from_pylist([row("valid")], schema=schema), data / "valid-00000-of-00001-5e672c5751f060d3.parquet"
    )
    items = CodeContests().load(tmp_path / "code_contests")
    assert [it.id for it in items] == ["1_A. Sum"] and items[0].reference["cases"] == [
        ("1 2\n", "3\n"),
        ("5 5\n", "10\n"),
    ]
    assert items[0].metadata["difficulty"] == 7 and items[0].metadata["cf_rating"] == 800
    assert score(CodeContests(), items[0], "```python\nprint(sum(map(int, input().split())))\n```") == 1.0
    assert score(CodeContests(), items[0], "```python\nprint(3)\n```") == 0.0


# ---------------------------------------------------------------- MT-Bench: FastChat's mt_bench/ and reference answers


def mt_bench_folder(root: Path) -> Path:
    d = root / "fastchat" / "llm_judge" / "data" / "mt_bench"
    jsonl(
        d / "question.jsonl",
        [
            {"question_id": 81, "category": "writing", "turns": ["Write a poem.", "Make it shorter."]},
            {"question_id": 111, "category": "math", "turns": ["What is 2+2?", "And 3+3?"], "reference": ["4", "6"]},
        ],
    )
    jsonl(
        d / "reference_answer" / "gpt-4.jsonl",
        [
            {
                "question_id": 111,
                "answer_id": "r1",
                "model_id": "gpt-4",
                "choices": [{"index": 0, "turns": ["Two plus two is FOUR-REF.", "Three plus three is SIX-REF."]}],
                "tstamp": 1.0,
            },
            {
                "question_id": 81,
                "answer_id": "r2",
                "model_id": "gpt-4",
                "choices": [{"index": 0, "turns": ["POEM-REF", "SHORT-REF"]}],
                "tstamp": 1.0,
            },
        ],
    )
    jsonl(
        d / "model_answer" / "vicuna-13b.jsonl", [{"question_id": 81, "choices": [{"index": 0, "turns": ["a", "b"]}]}]
    )
    jsonl(d / "model_judgment" / "gpt-4_single.jsonl", [{"question_id": 81, "score": 5}])
    return d


def test_mt_bench_folder_takes_question_jsonl(tmp_path):
    d = mt_bench_folder(tmp_path)
    items = MTBench().load(d)
    assert [it.id for it in items] == ["81", "111"] and items[1].reference == ["4", "6"]


def test_mt_bench_reference_answers_used_for_math_reasoning_coding_as_fastchat(tmp_path, capsys):
    d = mt_bench_folder(tmp_path)
    refs = d / "reference_answer" / "gpt-4.jsonl"
    items = {it.id: it for it in MTBench(reference_answers=refs).load(d)}
    assert items["111"].reference == ["Two plus two is FOUR-REF.", "Three plus three is SIX-REF."]
    assert items["81"].reference is None  # writing: no reference, even though the file has one
    with FakeOpenAIServer() as arch, FakeOpenAIServer(responder=lambda body: "Good. Rating: [[8]]") as judge:
        rc = main(
            [
                "bench",
                str(write_json(tmp_path / "arch.json", config(arch))),
                "--benchmark",
                "mt-bench",
                "--data",
                str(d),
                "--reference-answers",
                str(refs),
                "--judge",
                str(write_json(tmp_path / "judge.json", config(judge, "judge"))),
                "--out",
                str(tmp_path / "run"),
                "--no-progress",
                "--json",
            ]
        )
        assert rc == 0
        prompts = judge_prompts(judge)
        assert len(prompts) == 4
        assert sum("FOUR-REF" in p for p in prompts) == 2 and not any("POEM-REF" in p for p in prompts)
    with pytest.raises(DatasetNotFound, match="no answer for 1 question"):
        MTBench(
            reference_answers=jsonl(
                tmp_path / "partial.jsonl", [{"question_id": 81, "choices": [{"index": 0, "turns": ["x"]}]}]
            )
        ).load(d)
    capsys.readouterr()
    assert (
        main(
            [
                "bench",
                str(tmp_path / "arch.json"),
                "--benchmark",
                "gsm8k",
                "--reference-answers",
                str(refs),
                "--out",
                str(tmp_path / "x"),
            ]
        )
        != 0
    )
    assert "--reference-answers applies to mt-bench" in capsys.readouterr().err


# ---------------------------------------------------------------- Arena-Hard: v0.1 and v2.0, both answer formats


def arena_v01(root: Path) -> Path:
    d = root / "data" / "arena-hard-v0.1"
    jsonl(
        d / "question.jsonl",
        [
            {
                "question_id": "328c149e",
                "category": "arena-hard-v0.1",
                "cluster": "Python",
                "turns": [{"content": "Prompt one"}],
            },
            {
                "question_id": "7b2e0e5a",
                "category": "arena-hard-v0.1",
                "cluster": "SQL",
                "turns": [{"content": "Prompt two"}],
            },
        ],
    )
    jsonl(
        d / "model_answer" / "gpt-4-0314.jsonl",
        [
            {
                "question_id": q,
                "answer_id": "a",
                "model_id": "gpt-4-0314",
                "choices": [{"index": 0, "turns": [{"content": f"OLD-FORMAT baseline for {q}", "token_len": 5}]}],
                "tstamp": 1.0,
            }
            for q in ("328c149e", "7b2e0e5a")
        ],
    )
    jsonl(d / "model_judgment" / "gpt-4-1106-preview" / "x.jsonl", [{"question_id": "328c149e", "games": []}])
    return d


ARENA_V20_QUESTIONS = (("0001b527ced3428d", "hard_prompt", "coding"), ("00a38edd42744fa0", "creative_writing", None))
HARD_UID, CREATIVE_UID = (uid for uid, _, _ in ARENA_V20_QUESTIONS)


def arena_v20_answers(path: Path, model: str, uids) -> Path:
    """A model_answer/<model>.jsonl of arena-hard-v2.0: uid, ans_id, model, messages (the assistant's content an
    object with the answer), tstamp, metadata. Each answer says whose it is: "NEW-FORMAT <model> baseline <uid>"."""
    return jsonl(
        path,
        [
            {
                "uid": u,
                "ans_id": "x",
                "model": model,
                "messages": [
                    {"role": "user", "content": f"Prompt {u}"},
                    {"role": "assistant", "content": {"answer": f"NEW-FORMAT {model} baseline {u}"}},
                ],
                "tstamp": 1.0,
                "metadata": {"token_len": 4, "header_count": {"h1": 0}, "list_count": {"ordered": 0}},
            }
            for u in uids
        ],
    )


def arena_v20(root: Path) -> Path:
    """data/arena-hard-v2.0/ with one hard prompt and one creative writing prompt, and the model answers of both
    categories' baselines (o3-mini for hard prompts, Gemini 2.0 Flash for creative writing) and of another model;
    as in the repository, every model answers every question."""
    d = root / "data" / "arena-hard-v2.0"
    jsonl(
        d / "question.jsonl",
        [
            {"uid": uid, "category": cat, "subcategory": sub or cat, "prompt": f"Prompt {uid}"}
            for uid, cat, sub in ARENA_V20_QUESTIONS
        ],
    )
    for model in ("o3-mini-2025-01-31", "gemini-2.0-flash-001", "deepseek-r1"):
        arena_v20_answers(d / "model_answer" / f"{model}.jsonl", model, [u for u, _, _ in ARENA_V20_QUESTIONS])
    return d


@pytest.mark.parametrize("version", ["v0.1", "v2.0"])
@pytest.mark.parametrize("answers_format", ["2024", "current"])
def test_arena_hard_questions_and_baselines_in_both_formats(tmp_path, version, answers_format):
    d = arena_v01(tmp_path) if version == "v0.1" else arena_v20(tmp_path)
    items = ArenaHard().load(d)
    assert len(items) == 2
    ids = [it.id for it in items]
    if answers_format == "2024":
        base = jsonl(
            tmp_path / "base.jsonl",
            [
                {"question_id": i, "model_id": "b", "choices": [{"index": 0, "turns": [{"content": f"BASE-{i}"}]}]}
                for i in ids
            ],
        )
    else:
        base = jsonl(
            tmp_path / "base.jsonl",
            [
                {
                    "uid": i,
                    "ans_id": "x",
                    "model": "b",
                    "messages": [
                        {"role": "user", "content": "q"},
                        {"role": "assistant", "content": {"answer": f"BASE-{i}"}},
                    ],
                }
                for i in ids
            ],
        )
    with FakeOpenAIServer() as arch, FakeOpenAIServer(responder=lambda body: "[[A>>B]]") as judge:
        s = judged_run(arch, judge, "arena-hard", data=d, out_dir=tmp_path / "run", baseline_answers=base)
        assert s["n"] == 2 and s["errors"] == 0
        prompts = judge_prompts(judge)
        assert all(any(f"BASE-{i}" in p for p in prompts) for i in ids)


def test_arena_hard_published_baseline_files(tmp_path):
    d = arena_v01(tmp_path)
    with FakeOpenAIServer() as arch, FakeOpenAIServer(responder=lambda body: "[[A=B]]") as judge:
        s = judged_run(
            arch,
            judge,
            "arena-hard",
            data=d,
            out_dir=tmp_path / "run",
            baseline_answers=d / "model_answer" / "gpt-4-0314.jsonl",
        )
        assert s["n"] == 2 and s["score"] == pytest.approx(0.5)
        assert sum("OLD-FORMAT" in p for p in judge_prompts(judge)) == 4
        assert s["extra"]["by_category"] == {
            "arena-hard-v0.1": {
                "baseline": "gpt-4-0314",
                "win_rate": 0.5,
                "ci_low": 0.5,
                "ci_high": 0.5,
                "weighted_win_rate": 0.5,
                "n": 2,
            }
        }
    # The v0.1 answers against the v2.0 questions: no item matches, and nothing is asked.
    with FakeOpenAIServer() as arch, FakeOpenAIServer() as judge:
        with pytest.raises(ArchonError, match="answers none of the 2 item"):
            judged_run(
                arch,
                judge,
                "arena-hard",
                data=arena_v20(tmp_path),
                out_dir=tmp_path / "bad",
                baseline_answers=d / "model_answer" / "gpt-4-0314.jsonl",
            )
        assert not arch.requests and not judge.requests
    # The repository's data/ holds several versions: which one is not guessed.
    with pytest.raises(DatasetNotFound, match="several data files"):
        ArenaHard().load(tmp_path / "data")


def model_wins_against_gemini(body: dict) -> str:
    """A judge that prefers the architecture's answer ("MODEL-ANSWER") to Gemini's, and o3-mini's to it."""
    prompt = body["messages"][-1]["content"]
    baseline_first = prompt.index("NEW-FORMAT") < prompt.index("MODEL-ANSWER")
    model_wins = "NEW-FORMAT gemini" in prompt
    return "[[A>>B]]" if model_wins != baseline_first else "[[B>>A]]"


@pytest.mark.parametrize("given", ["folder", "files"])
def test_arena_hard_v2_judges_each_category_against_its_own_baseline(tmp_path, capsys, given):
    d = arena_v20(tmp_path)
    answers = d / "model_answer"
    if given == "folder":
        baseline_args = ["--baseline-answers", str(answers)]
    else:
        baseline_args = [
            *("--baseline-answers", str(answers / "o3-mini-2025-01-31.jsonl")),
            *("--baseline-answers", str(answers / "gemini-2.0-flash-001.jsonl")),
        ]
    with (
        FakeOpenAIServer(responder=lambda body: "MODEL-ANSWER") as arch,
        FakeOpenAIServer(responder=model_wins_against_gemini) as judge,
    ):
        arch_cfg = write_json(tmp_path / "arch.json", config(arch))
        judge_cfg = write_json(tmp_path / "judge.json", config(judge, "judge"))
        argv = ["bench", str(arch_cfg), "-b", "arena-hard", "--data", str(d), "--judge", str(judge_cfg)]
        rc = main([*argv, *baseline_args, "--out", str(tmp_path / "run"), "--no-cache", "--json"])
        assert rc == 0
        s = json.loads(capsys.readouterr().out)
        prompts = judge_prompts(judge)
    # Both orders of each item, each against its category's baseline: o3-mini for the hard prompt and Gemini for
    # the creative writing prompt, though every file answers both.
    assert len(prompts) == 4
    hard = [p for p in prompts if f"Prompt {HARD_UID}" in p]
    creative = [p for p in prompts if f"Prompt {CREATIVE_UID}" in p]
    assert all(f"NEW-FORMAT o3-mini-2025-01-31 baseline {HARD_UID}" in p for p in hard) and len(hard) == 2
    assert all(f"NEW-FORMAT gemini-2.0-flash-001 baseline {CREATIVE_UID}" in p for p in creative) and len(creative) == 2
    assert not any("deepseek-r1" in p for p in prompts)
    # As arena-hard-auto's creative writing prompt, the judge is not asked for its own answer first there.
    assert all("your own answer" in p for p in hard) and not any("your own answer" in p for p in creative)
    assert s["score"] == pytest.approx(0.5)
    by_category = s["extra"]["by_category"]
    assert {c: (v["baseline"], v["win_rate"], v["weighted_win_rate"], v["n"]) for c, v in by_category.items()} == {
        "creative_writing": ("gemini-2.0-flash-001", 1.0, 1.0, 1),
        "hard_prompt": ("o3-mini-2025-01-31", 0.0, 0.0, 1),
    }
    results = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert {r["id"]: r["details"]["baseline"] for r in results} == {
        HARD_UID: "o3-mini-2025-01-31",
        CREATIVE_UID: "gemini-2.0-flash-001",
    }


def test_arena_hard_v2_category_without_its_baseline_is_an_error_naming_it(tmp_path):
    d = arena_v20(tmp_path)
    answers = d / "model_answer"
    o3, gemini, deepseek = (
        answers / f"{m}.jsonl" for m in ("o3-mini-2025-01-31", "gemini-2.0-flash-001", "deepseek-r1")
    )
    with FakeOpenAIServer() as arch, FakeOpenAIServer(responder=lambda body: "[[A=B]]") as judge:

        def run(out: str, baseline, **kwargs):
            return judged_run(
                arch, judge, "arena-hard", data=d, out_dir=tmp_path / out, baseline_answers=baseline, **kwargs
            )

        # Hard prompts' baseline alone: the creative writing items have none, whatever o3-mini's file holds.
        expected = f"the 1 creative_writing item(s) have no answers of gemini-2.0-flash-001: expected {gemini}"
        with pytest.raises(ArchonError, match=re.escape(expected)):
            run("only-o3", o3)
        # A file of another model, given with the baselines: the baseline of no category.
        for given in ([o3, deepseek], [o3, gemini, deepseek]):
            with pytest.raises(ArchonError, match="answers of deepseek-r1 are the baseline of no category"):
                run("extra", given)
        # Gemini's file without the creative writing answer: named, with its category.
        arena_v20_answers(gemini, "gemini-2.0-flash-001", [HARD_UID])
        expected = (
            f"{str(gemini)!r} (gemini-2.0-flash-001, the baseline of the creative_writing items) has no answer "
            f"for 1 of the 1 creative_writing item(s) (e.g. {CREATIVE_UID})"
        )
        with pytest.raises(ArchonError, match=re.escape(expected)):
            run("folder", answers)
        # A folder without Gemini's file.
        gemini.unlink()
        with pytest.raises(ArchonError, match=re.escape(f"expected {answers / 'gemini-2.0-flash-001.jsonl'}")):
            run("folder", answers)
        assert not arch.requests and not judge.requests
        # Only hard prompts selected: o3-mini's answers are all they need.
        s = run("hard-only", o3, limit=1)
        assert s["n"] == 1 and list(s["extra"]["by_category"]) == ["hard_prompt"]
        assert all(f"NEW-FORMAT o3-mini-2025-01-31 baseline {HARD_UID}" in p for p in judge_prompts(judge))
        # Resuming that run against another baseline is refused.
        custom = arena_v20_answers(tmp_path / "mine.jsonl", "mine", [HARD_UID, CREATIVE_UID])
        with pytest.raises(ArchonError, match="different pairwise baseline"):
            run("hard-only", custom, limit=1)
    # One other baseline for every category (e.g. another run's answers) stays possible, and is recorded.
    with FakeOpenAIServer() as arch, FakeOpenAIServer(responder=lambda body: "[[A=B]]") as judge:
        s = run("custom", custom)
        assert {c: v["baseline"] for c, v in s["extra"]["by_category"].items()} == {
            "creative_writing": "mine",
            "hard_prompt": "mine",
        }


def test_a_baseline_record_in_no_known_form_names_its_file_and_line(tmp_path):
    d = arena_v01(tmp_path)
    bad = jsonl(
        tmp_path / "bad.jsonl",
        [
            {"question_id": "328c149e", "choices": [{"turns": [{"content": "ok"}]}]},
            {"question_id": "7b2e0e5a", "text": "no answer field"},
        ],
    )
    with (
        FakeOpenAIServer() as arch,
        FakeOpenAIServer() as judge,
        pytest.raises(DatasetNotFound, match=re.escape(f"line 2 of {str(bad)!r}")),
    ):
        judged_run(arch, judge, "arena-hard", data=d, out_dir=tmp_path / "run", baseline_answers=bad)


# ---------------------------------------------------------------- AlpacaEval: model_outputs.json matched by instruction


def alpaca_eval_set(root: Path) -> Path:
    """The hub repo tatsu-lab/alpaca_eval's alpaca_eval_gpt4_baseline.json: a JSON list, no ids."""
    return write_json(
        root / "alpaca_eval" / "alpaca_eval_gpt4_baseline.json",
        [
            {
                "dataset": "helpful_base",
                "instruction": f"Instruction {i}",
                "output": f"DATASET-OUTPUT {i}",
                "generator": "gpt4_1106_preview",
            }
            for i in range(3)
        ],
    )


def model_outputs(root: Path, model: str, instructions: list[str]) -> Path:
    """tatsu-lab/alpaca_eval results/<model>/model_outputs.json: a JSON list of instruction/output/generator."""
    return write_json(
        root / "results" / model / "model_outputs.json",
        [
            {
                "dataset": "helpful_base",
                "instruction": ins,
                "output": f"{model.upper()} says {ins}",
                "generator": model,
                "datasplit": "eval",
            }
            for ins in instructions
        ],
    )


def test_alpaca_eval_baseline_model_outputs_are_matched_by_instruction(tmp_path):
    data = alpaca_eval_set(tmp_path)
    assert [it.id for it in AlpacaEval().load(data.parent)] == ["0", "1", "2"]  # the folder's known file
    # In another order than the data set: matched by instruction, not by position.
    base = model_outputs(tmp_path, "claude", ["Instruction 2", "Instruction 0", "Instruction 1"])
    with FakeOpenAIServer() as arch, FakeOpenAIServer(responder=lambda body: "[[A]]") as judge:
        s = judged_run(arch, judge, "alpaca-eval", data=data, out_dir=tmp_path / "run", baseline_answers=base)
        assert s["n"] == 3 and s["errors"] == 0
        prompts = judge_prompts(judge)
        assert not any("DATASET-OUTPUT" in p for p in prompts)
        for i in range(3):
            assert all(
                f"CLAUDE says Instruction {i}" in p for p in prompts if f"<user_request>\nInstruction {i}\n" in p
            )
    recs = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert {r["details"]["baseline_source"] for r in recs} == {"baseline"}
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["args"]["baseline_answers"] == str(base)


def test_alpaca_eval_baseline_that_matches_no_item_or_not_all_is_an_error(tmp_path):
    data = alpaca_eval_set(tmp_path)
    with FakeOpenAIServer() as arch, FakeOpenAIServer() as judge:
        other = model_outputs(tmp_path, "other", ["Something else"])
        with pytest.raises(ArchonError, match="answers none of the 3 item"):
            judged_run(arch, judge, "alpaca-eval", data=data, out_dir=tmp_path / "a", baseline_answers=other)
        partial = model_outputs(tmp_path, "partial", ["Instruction 0"])
        with pytest.raises(ArchonError, match="no answer for 2 of 3 item"):
            judged_run(arch, judge, "alpaca-eval", data=data, out_dir=tmp_path / "b", baseline_answers=partial)
        assert not arch.requests and not judge.requests
