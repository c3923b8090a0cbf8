"""`archon bench` (run an architecture on a benchmark) and `archon compare` (runs side by side)."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from ..benchmarks.baseline_answers import check_baseline_option
from ..benchmarks.registry import get_benchmark
from ..benchmarks.run_folder import RESULTS_FILE, SUMMARY_FILE
from ..benchmarks.runner import run_benchmark
from ..errors import ArchonError
from ..providers.base import RetryPolicy
from .console import consoles, number, plural, positive_int, say

# --------------------------------------------------------------------------- formatting


def _score(s: Mapping[str, Any]) -> str:
    score, lo, hi = s.get("score"), s.get("ci_low"), s.get("ci_high")
    if score is None:
        return "-"
    if lo is None or hi is None:
        return number(score)
    return f"{number(score)} [{number(lo)}, {number(hi)}]"


def _usd(cost: Any, unpriced: Any) -> str:
    """A cost; with models of unknown price it is "unpriced" (nothing known) or a lower bound marked "*"."""
    if unpriced and not cost:
        return "unpriced"
    return number(cost, "${:.4f}") + ("*" if unpriced else "")


def _cost(s: Mapping[str, Any]) -> str:
    return _usd(s.get("cost_per_query_usd"), s.get("unpriced_models"))


def _tokens(s: Mapping[str, Any]) -> str:
    return (
        f"{number(s.get('input_tokens_per_query'), '{:,.0f}')} / {number(s.get('output_tokens_per_query'), '{:,.0f}')}"
    )


def _latency(s: Mapping[str, Any], p: str = "p50") -> str:
    """A latency percentile over the items answered by calls, with the part of it queued behind concurrency caps."""
    total, queued = (s.get("latency_s") or {}).get(p), (s.get("queue_s") or {}).get(p)
    text = number(total, "{:.2f}s")
    return text + (f" ({queued:.2f}s queued)" if isinstance(queued, (int, float)) and queued >= 0.005 else "")


def _from_cache(s: Mapping[str, Any]) -> str:
    return "-" if s.get("answers_from_cache") is None else str(s["answers_from_cache"])


def comparison_table(rows: Sequence[tuple[str, Mapping[str, Any]]], title: str | None = None) -> Table:
    """One row per run: name, benchmark, n, score [95% CI], calls/query, tokens/query, cost/query, p50 latency
    (of the items answered by calls, with its time queued behind concurrency caps), answers from the cache."""
    t = Table(title=title)
    t.add_column("run")
    t.add_column("benchmark")
    for col in (
        "n",
        "score [95% CI]",
        "errors",
        "calls/query",
        "tokens/query in / out",
        "cost/query",
        "p50 latency",
        "from cache",
    ):
        t.add_column(col, justify="right")
    for label, s in rows:
        t.add_row(
            label,
            str(s.get("benchmark", "-")),
            str(s.get("n", "-")),
            _score(s),
            str(s.get("errors", 0)),
            number(s.get("calls_per_query"), "{:.1f}"),
            _tokens(s),
            _cost(s),
            _latency(s),
            _from_cache(s),
        )
    return t


def _unscored_why(s: Mapping[str, Any]) -> str:
    """Why items have no score: no judge verdict parsed, or their scoring failed (e.g. the judge's calls)."""
    failed = int(s.get("scoring_errors") or 0)
    unparsed = int(s.get("unscored") or 0) - failed
    why = [(unparsed, "no judge verdict parsed"), (failed, "scoring failed (e.g. the judge)")]
    why = [(k, text) for k, text in why if k > 0]
    return why[0][1] if len(why) == 1 else ", ".join(f"{k} {text}" for k, text in why)


def summary_table(s: Mapping[str, Any]) -> Table:
    t = Table(title=f"{s.get('name')} on {s.get('benchmark')}", show_header=False)
    t.add_column("metric", style="bold")
    t.add_column("value")
    fb = s.get("fallbacks") or {}
    cached = s.get("answers_from_cache")
    timed = f"of {s['n'] - cached} answered by calls; " if cached is not None and s.get("n") is not None else ""
    rows = [
        ("score [95% CI]", _score(s)),
        (
            "items",
            f"{s.get('n')} ({s.get('items_run', 0)} run now, {s.get('errors', 0)} errors"
            + (f", {s['unscored']} unscored: {_unscored_why(s)}" if s.get("unscored") else "")
            + ")",
        ),
        (
            "calls / query",
            f"{number(s.get('calls_per_query'), '{:.2f}')} (worst case {s.get('calls_per_query_worst_case', '-')}; "
            f"{number(s.get('cached_calls_per_query'), '{:.2f}')} from cache)",
        ),
        ("new calls this run", str(s.get("new_calls", 0))),
        ("tokens / query in / out", _tokens(s)),
        (
            "cost / query",
            _cost(s)
            + (
                f"  (no price for: {', '.join(s['unpriced_models'])}; see archon.register_price)"
                if s.get("unpriced_models")
                else ""
            ),
        ),
        (
            "latency p50 / p90 / p99",
            " / ".join(_latency(s, k) for k in ("p50", "p90", "p99"))
            + f"  ({timed}queued: waiting for a provider's concurrency cap)",
        ),
        ("answers from cache", _from_cache(s) + "  (not in the latencies)"),
        ("fallbacks", f"{fb.get('architecture', 0)} architecture, {fb.get('judge', 0)} judge"),
    ]
    ju = s.get("judge_usage") or {}
    if ju.get("calls"):
        rows.append(
            (
                "judge calls",
                f"{ju['calls']} ({ju.get('new_calls', 0)} new), {_usd(ju.get('cost_usd'), ju.get('unpriced_models'))}",
            )
        )
    for k, v in (s.get("extra") or {}).items():
        if k in ("n",):
            continue
        rows.append(
            (
                f"  {k}",
                number(v, "{:.4g}")
                if isinstance(v, float)
                else (json.dumps(v) if isinstance(v, (dict, list)) else str(v)),
            )
        )
    for k, v in rows:
        t.add_row(k, v)
    return t


# --------------------------------------------------------------------------- commands


def _check_out_dir(out: str) -> None:
    """--out must be a folder or a path where one can be made (not an existing file, nor under one)."""
    p = Path(out)
    for q in (p, *p.parents):
        if q.exists():
            if not q.is_dir():
                raise ArchonError(
                    f"--out {out}"
                    + (" is a file" if q == p else f": {q} is a file")
                    + "; give a run folder (it is created if missing)"
                )
            return


def cmd_bench(args: argparse.Namespace) -> int:
    out, err = consoles()
    if args.baseline_answers and args.baseline_config:
        raise ArchonError("give either --baseline-answers or --baseline-config, not both")
    _check_out_dir(args.out)
    limits = {"max_attempts": args.max_attempts, "timeout": args.timeout}
    retry = RetryPolicy(**{k: v for k, v in limits.items() if v}) if any(limits.values()) else None
    benchmark = get_benchmark(args.benchmark)
    # Refused before anything is loaded: a baseline that a benchmark without pairwise judging would ignore.
    for given, option in ((args.baseline_answers, "--baseline-answers"), (args.baseline_config, "--baseline-config")):
        if given:
            check_baseline_option(benchmark, option)
    if args.reference_answers:
        if not hasattr(benchmark, "reference_answers"):
            raise ArchonError(f"--reference-answers applies to mt-bench and mt-bench-pairwise, not {args.benchmark!r}")
        benchmark.reference_answers = args.reference_answers
    summary = run_benchmark(
        args.config,
        benchmark,
        out_dir=args.out,
        data=args.data,
        split=args.split,
        limit=args.limit,
        sample=args.sample,
        seed=args.seed,
        dev_fraction=args.dev_fraction,
        judge=args.judge,
        # One file as it is; several (Arena-Hard v2.0: one per category's baseline model) as a list.
        baseline_answers=args.baseline_answers[0] if len(args.baseline_answers or ()) == 1 else args.baseline_answers,
        baseline_config=args.baseline_config,
        baselines=args.baselines,
        cache=False if args.no_cache else (args.cache or None),
        concurrency=args.concurrency,
        progress=not args.no_progress,
        retry=retry,
        keys=args.keys,
        retry_errors=args.retry_errors,
    )
    files = f"results: {Path(args.out) / RESULTS_FILE}, summary: {Path(args.out) / SUMMARY_FILE}"
    all_failed = bool(summary.get("n")) and summary.get("errors") == summary.get("n")
    if args.json:
        out.print_json(json.dumps(summary))
    elif not all_failed:  # with no item answered there is no score to show
        out.print(summary_table(summary))
        for e in summary.get("error_examples") or []:
            say(err, "error", "red", f"item {e['id']}: {e['error']}")
        if summary.get("baselines"):
            rows = [(f"{summary['name']} (architecture)", summary)] + [
                (f"{b['name']}", b) for b in summary["baselines"].values()
            ]
            out.print(comparison_table(rows, title="compute-matched baselines (same items)"))
            if summary.get("baselines_note"):
                out.print(f"note: {summary['baselines_note']}")
        out.print(files)
    if all_failed:
        first = (summary.get("error_examples") or [{}])[0]
        say(
            err,
            "error:",
            "bold red",
            f"every item failed ({summary['n']} of {summary['n']}), so there is no score. "
            f"First error (item {first.get('id', '?')}):",
        )
        err.print(str(first.get("error", "?")))
        if not args.json:
            err.print(files)
    if summary.get("errors") and not args.retry_errors:
        say(
            err,
            "hint:",
            "cyan",
            f"{plural(summary['errors'], 'failed item')} "
            f"{'is kept as it is' if summary['errors'] == 1 else 'are kept as they are'} when the run is resumed; "
            f"add --retry-errors to the same command to run them again",
        )
    return 1 if all_failed else 0


def _load_summary(path: str) -> dict[str, Any]:
    p = Path(path)
    f = p / SUMMARY_FILE if p.is_dir() else p
    if not f.exists():
        raise ArchonError(f"{path}: no {SUMMARY_FILE} (is it a finished `archon bench` run folder?)")
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ArchonError(f"{f}: not valid JSON ({e})") from None


def cmd_compare(args: argparse.Namespace) -> int:
    out, _ = consoles()
    rows: list[tuple[str, dict[str, Any]]] = []
    for d in args.runs:
        s = _load_summary(d)
        rows.append((f"{s.get('name', '?')} ({d})", s))
        if args.baselines:
            for bname, b in (s.get("baselines") or {}).items():
                rows.append((f"{b.get('name', bname)} ({Path(d) / 'baselines' / bname})", b))
    if args.json:
        out.print_json(json.dumps([{"run": label, **s} for label, s in rows]))
    else:
        out.print(comparison_table(rows))
    return 0


def _non_negative(v: str) -> int:
    n = int(v)
    if n < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return n


def _seconds(v: str) -> float:
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not (x > 0 and math.isfinite(x)):
        raise argparse.ArgumentTypeError("must be a number of seconds > 0")
    return x


def add_timeout_option(parser: argparse.ArgumentParser) -> None:
    """``--timeout SECONDS``, shared by the commands that call providers (passed on as RetryPolicy(timeout=...))."""
    parser.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="deadline of each provider call for its whole reply, however slowly it arrives "
        "(default 120); a call past it is retried like other transient failures",
    )


def add_commands(sub) -> None:
    b = sub.add_parser(
        "bench",
        help="run an architecture on a benchmark: archon bench CONFIG --benchmark NAME --out RUN_DIR",
        description="Answer a benchmark's items with an architecture, score them, and write RUN_DIR/results.jsonl "
        "(one line per item, appended as items finish; a rerun resumes), RUN_DIR/summary.json and "
        "RUN_DIR/config.json.",
    )
    b.add_argument("config", help="architecture config (JSON or YAML)")
    b.add_argument(
        "--benchmark",
        "-b",
        required=True,
        help="benchmark name: gsm8k, math, mixeval, mixeval-hard, humaneval, mbpp, codecontests, "
        "mt-bench, mt-bench-pairwise, arena-hard, alpaca-eval, or a registered one",
    )
    b.add_argument(
        "--data",
        help="local data file (JSONL/JSON/Parquet, .jsonl.gz) or a folder in the benchmark's "
        "published layout; default: the benchmark's source",
    )
    b.add_argument(
        "--out",
        "-o",
        required=True,
        metavar="RUN_DIR",
        help="run folder (created; resumed if it exists, one run at a time)",
    )
    b.add_argument(
        "--split",
        choices=("all", "dev", "test"),
        default="all",
        help="seeded random split: dev (20%%, for search) or test (80%%, for reporting); default all",
    )
    b.add_argument("--dev-fraction", type=float, default=0.2, help="share of items in the dev split (default 0.2)")
    b.add_argument("--seed", type=int, default=0, help="seed of the split and of --sample (default 0)")
    b.add_argument("--sample", type=_non_negative, help="a seeded random N items of the split")
    b.add_argument(
        "--limit",
        type=_non_negative,
        help="the first N items (after --split and --sample); unlike the data, split, seed and sample, "
        "it may change when a run is resumed",
    )
    b.add_argument("--judge", metavar="CONFIG", help="judge architecture config (judged benchmarks need one)")
    g = b.add_mutually_exclusive_group()
    g.add_argument(
        "--baseline-answers",
        metavar="FILE",
        action="append",
        help="pairwise baseline answers: JSONL with id and answers (e.g. another run's results.jsonl), an "
        "Arena-Hard/FastChat model_answer file, or AlpacaEval's model_outputs.json (matched by instruction). "
        "Arena-Hard judges each category against its own model: give each model's model_answer/<model>.jsonl "
        "(repeat the option) or the model_answer folder",
    )
    g.add_argument(
        "--baseline-config",
        metavar="CONFIG",
        help="generate the pairwise baseline's answers with this config first (RUN_DIR/baseline/)",
    )
    b.add_argument(
        "--reference-answers",
        metavar="FILE",
        help="MT-Bench: grade math, reasoning and coding questions against these reference answers, as "
        "FastChat does (its llm_judge/data/mt_bench/reference_answer/gpt-4.jsonl)",
    )
    b.add_argument(
        "--baselines",
        action="store_true",
        help="also run compute-matched baselines (single model, best-of-N, majority vote at the same "
        "calls per query) on the same items, under RUN_DIR/baselines/",
    )
    b.add_argument("--concurrency", type=positive_int, default=64, help="items answered at once (default 64)")
    b.add_argument("--max-attempts", type=positive_int, help="attempts per provider call before giving up (default 5)")
    b.add_argument("--retry-errors", action="store_true", help="on resume, redo items recorded with an error")
    add_timeout_option(b)
    b.add_argument("--keys", help="JSON file of API keys (the environment and .env are read too)")
    b.add_argument("--no-cache", action="store_true", help="do not use the call cache")
    b.add_argument("--cache", help="call cache file (default $ARCHON_CACHE or ~/.cache/archon/calls.sqlite)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.add_argument("--json", action="store_true", help="print the summary as JSON")
    b.set_defaults(func=cmd_bench)

    c = sub.add_parser("compare", help="several runs' summaries side by side: archon compare RUN_DIR...")
    c.add_argument(
        "runs", nargs="+", metavar="RUN_DIR", help="run folders (or their summary.json); baselines/<name> too"
    )
    c.add_argument("--baselines", action="store_true", help="add each run's compute-matched baselines as rows")
    c.add_argument("--json", action="store_true", help="print the summaries as JSON")
    c.set_defaults(func=cmd_compare)
