"""`archon search`: find the best architecture for a benchmark under a budget."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.table import Table

from ..errors import ArchonError
from .console import consoles, number, positive_int


def _positive_float(v: str) -> float:
    x = float(v)
    if not x > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return x


def trials_table(result) -> Table:
    rows = [r for r in result.trials if r["decision"] == "evaluate" and r["state"] in ("complete", "pruned")]
    rows.sort(key=lambda r: (r["state"] != "complete", -(r["score"] if r["score"] is not None else -1e9)))
    t = Table(title=f"best trials (of {len(rows)} evaluated)")
    for col in ("#", "architecture", "dev score", "calls/query (worst)", "calls made", "cached", "state"):
        t.add_column(col, justify="left" if col == "architecture" else "right")
    for r in rows[:10]:
        t.add_row(
            str(r["number"]),
            r["label"] or "",
            number(r["score"]),
            str(r["calls_per_query"]),
            f"{r['new_calls']:,}",
            f"{r['cached_calls']:,}",
            r["state"] + ("" if r["items"] == r["dev_items"] else f" ({r['items']}/{r['dev_items']} items)"),
        )
    return t


def cmd_search(args: argparse.Namespace) -> int:
    try:  # Optuna and the GP's libraries are an optional extra
        from ..search import Budget, search
    except ImportError as e:
        raise ArchonError(
            f"archon search needs the search extra: pip install 'archon[search]' ({e.name} is missing)"
        ) from None

    out, err = consoles()
    objectives = [o.strip() for o in args.objectives.split(",") if o.strip()]
    budget = Budget(
        max_calls_per_query=args.max_calls_per_query,
        max_input_tokens=args.max_input_tokens,
        max_output_tokens=args.max_output_tokens,
        max_cost_per_query=args.max_cost_per_query,
        search_budget_calls=args.search_budget_calls,
        search_budget_usd=args.search_budget_usd,
    )
    p = Path(args.out)
    if p.exists() and not p.is_dir():
        raise ArchonError(f"--out {args.out} is a file; give a search folder (it is created if missing)")
    result = search(
        args.space,
        args.benchmark,
        out_dir=args.out,
        data=args.data,
        judge=args.judge,
        baseline_answers=args.baseline_answers,
        sampler=args.sampler,
        trials=args.trials,
        seed=args.seed,
        budget=budget,
        objectives=objectives,
        storage=args.storage,
        study_name=args.study,
        timeout=args.timeout,
        cache=args.cache,
        keys=args.keys,
        dev_fraction=args.dev_fraction,
        chunks=args.chunks,
        prune=not args.no_pruning,
        baselines=not args.no_baselines,
        concurrency=args.concurrency,
        verbose=True,
        stream=err.file,
    )
    s = result.summary
    if args.json:
        out.print_json(json.dumps(s))
        return 0 if result.best else 1
    out.print(trials_table(result))
    if result.front:
        f = Table(title=f"Pareto front (score vs {s['cost_unit']} per query)")
        for col in ("#", "architecture", "dev score", f"{s['cost_unit']}/query", "test score"):
            f.add_column(col, justify="left" if col == "architecture" else "right")
        for r in result.front:
            f.add_row(
                str(r["number"]),
                r["label"] or "",
                number(r["score"]),
                number(r["cost"], "{:.4g}"),
                number((r.get("test") or {}).get("score")),
            )
        out.print(f)
    sh = s["sharing"]
    out.print(
        f"LLM calls: {sh['calls_made']:,} made; {sh['calls_without_sharing']:,} without sharing generations, "
        f"{sh['calls_without_sharing_or_pruning']:,} without sharing or pruning"
        + (f"; ${s['spend']['cost_usd']:.4f} spent" if s["spend"]["cost_usd"] else "")
    )
    best = result.best
    if best is None:
        err.print("no trial finished: no best architecture (see trials.jsonl)")
        return 1
    line = f"best: {best['label']} (dev {number(best['dev_score'])}"
    test = best.get("test")
    if test:
        line += f", test {number(test['score'])} [{number(test['ci_low'])}, {number(test['ci_high'])}]"
    out.print(line + ")")
    for name, b in (test or {}).get("baselines", {}).items():
        out.print(
            f"  compute-matched baseline {name}: test {number(b.get('score'))} "
            f"[{number(b.get('ci_low'))}, {number(b.get('ci_high'))}]"
        )
    vs = s.get("winner_vs_runner_up")
    if vs and vs.get("mean_difference") is not None:
        verdict = "beats it beyond noise" if vs["beats_beyond_noise"] else "does not beat it beyond noise"
        out.print(
            f"against the runner-up ({vs['runner_up']['label']}): {number(vs['mean_difference'], '{:+.3f}')} "
            f"[{number(vs['ci_low'], '{:+.3f}')}, {number(vs['ci_high'], '{:+.3f}')}] "
            f"on {vs['items']} test items: {verdict}"
        )
    out.print(f"wrote {Path(args.out) / 'best.json'} (archon run / archon serve), trials.jsonl, summary.json")
    return 0


def add_commands(sub) -> None:
    s = sub.add_parser(
        "search",
        help="find the best architecture for a benchmark under a budget: "
        "archon search SPACE --benchmark NAME --out DIR",
        description="Search a space of architectures (YAML/JSON: the paper's axes over candidate models, or a config "
        "with {choice|int|float} values) on the benchmark's seeded dev split, under per-query and whole-search "
        "budgets; evaluate the best on the test split; write DIR/best.json, DIR/trials.jsonl, "
        "DIR/summary.json. Rerun the same command to resume; run it on several machines with one --storage "
        "to share the work.",
    )
    s.add_argument("space", help="search space file (YAML or JSON)")
    s.add_argument("--benchmark", "-b", required=True, help="benchmark name (as for archon bench)")
    s.add_argument("--data", help="local data file or folder; default: the benchmark's source")
    s.add_argument("--judge", metavar="CONFIG", help="judge architecture config (judged benchmarks need one)")
    s.add_argument("--baseline-answers", metavar="FILE", help="pairwise baseline answers (pairwise judged benchmarks)")
    s.add_argument("--out", "-o", required=True, metavar="DIR", help="search folder (created; resumed if it exists)")
    s.add_argument(
        "--sampler",
        default="bo",
        metavar="NAME",
        help="how trials are chosen: bo, tpe, random, grid, greedy, or a sampler a plugin registered "
        "(default bo: Gaussian-process Bayesian optimisation)",
    )
    s.add_argument(
        "--trials", type=positive_int, default=30, help="architectures to evaluate, across all workers (default 30)"
    )
    s.add_argument("--seed", type=int, default=0, help="seed of the dev/test split and of the sampler (default 0)")
    s.add_argument("--dev-fraction", type=float, default=0.2, help="share of items searched on (default 0.2)")
    s.add_argument("--max-calls-per-query", type=positive_int, metavar="C", help="worst-case LLM calls per query")
    s.add_argument("--max-input-tokens", type=positive_int, metavar="T", help="estimated input tokens per query")
    s.add_argument("--max-output-tokens", type=positive_int, metavar="T", help="estimated output tokens per query")
    s.add_argument("--max-cost-per-query", type=_positive_float, metavar="USD", help="estimated dollars per query")
    g = s.add_mutually_exclusive_group()
    g.add_argument(
        "--search-budget-calls", type=positive_int, metavar="N", help="stop the search after N LLM calls made"
    )
    g.add_argument("--search-budget-usd", type=_positive_float, metavar="X", help="stop the search after $X spent")
    s.add_argument("--objectives", default="score", help="score (default) or score,cost (the Pareto front)")
    s.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage URL shared by workers (postgresql+psycopg://..., mysql://...); "
        "default sqlite DIR/study.db. A PostgreSQL storage also holds the call cache unless --cache is given",
    )
    s.add_argument("--study", metavar="NAME", help="study name in the storage (default archon-search)")
    s.add_argument("--timeout", type=_positive_float, metavar="SECONDS", help="start no trial after this long")
    s.add_argument(
        "--chunks", type=positive_int, default=4, help="dev split chunks; a trial may be pruned after each (default 4)"
    )
    s.add_argument("--no-pruning", action="store_true", help="score every trial on the whole dev split")
    s.add_argument("--no-baselines", action="store_true", help="skip the compute-matched baselines on the test split")
    s.add_argument(
        "--cache",
        metavar="FILE_OR_URL",
        help="call cache: a SQLite file or a postgresql:// URL (default $ARCHON_CACHE or ~/.cache/archon/calls.sqlite)",
    )
    s.add_argument("--keys", help="JSON file of API keys (the environment and .env are read too)")
    s.add_argument("--concurrency", type=positive_int, default=64, help="items answered at once (default 64)")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=cmd_search)
