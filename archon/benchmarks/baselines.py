"""Compute-matched baselines: what the same number of calls buys without an architecture.

The paper's reviewers asked for them. For an architecture making N calls per query (when
every reply parses at once, :func:`archon.calls_per_query`) and its "single best model" (the first
generator of layer 1), three configs:

``single``
    One sample from that model (1 call).
``best_of_n``
    N-1 samples, then a list-wise ranker of the same model keeping the top one (N calls;
    the ranker is not re-asked when its reply does not parse, so the count stays N).
``majority``
    N samples, then ``majority_vote`` (no call): the most common answer by a key, ties to
    the earliest. The key is the benchmark's ``vote_key(answer) -> hashable | None`` when it
    has one (e.g. the final number of a math answer), else the answer's whitespace-normalised
    lower-cased text. Answers whose key is None do not vote (unless none has a key).

Best-of-N and majority vote are built only when N >= 3: with N = 2, best-of-2 is one sample
"ranked" alone and majority-of-2 always keeps the first sample (a tie goes to the earliest),
so both are the single model at a higher price. :func:`baselines_note` says so for such an
architecture.
"""

from __future__ import annotations

from typing import Any

from ..components import calls_per_query, register_vote_key
from ..components.majority import MajorityVote, default_vote_key, majority_vote, vote_key_for
from ..config import ArchitectureConfig, ComponentConfig, load_config
from ..errors import ArchonError
from .base import Benchmark

__all__ = [
    "BASELINE_NAMES",
    "MIN_CALLS_TO_CHOOSE",
    "MajorityVote",
    "baselines_note",
    "compute_matched_baselines",
    "default_vote_key",
    "majority_vote",
    "single_best_generator",
    "vote_key_for",
]

BASELINE_NAMES = ("single", "best_of_n", "majority")
# Calls per query that best-of-N and majority vote need to choose between samples at all.
MIN_CALLS_TO_CHOOSE = 3
_GENERATOR_FIELDS = ("model", "model_type", "base_url", "api_key_env", "temperature", "max_tokens")


def _matched_calls(config: ArchitectureConfig, n: int | None = None) -> int:
    return max(1, n if n is not None else calls_per_query(config, with_parse_retries=False))


def single_best_generator(config: ArchitectureConfig) -> ComponentConfig:
    """The first generator of layer 1: the paper's "single best model" stand-in."""
    for c in config.layers[0]:
        if c.type == "generator":
            return c
    raise ArchonError(f"architecture {config.name!r} has no generator in layer 1 to build baselines from")


def compute_matched_baselines(
    config: str | dict | ArchitectureConfig,
    benchmark: str | Benchmark | None = None,
    n: int | None = None,
) -> dict[str, dict[str, Any]]:
    """``{"single": cfg, "best_of_n": cfg, "majority": cfg}`` for ``config`` at ``n`` calls
    (default: its calls per query when every reply parses at once); only ``single`` when
    ``n`` < :data:`MIN_CALLS_TO_CHOOSE` (the others would be the single model again)."""
    config = load_config(config)
    n = _matched_calls(config, n)
    gen = single_best_generator(config)
    base = {k: v for k, v in gen.model_dump(include=set(_GENERATOR_FIELDS)).items() if v is not None}
    model = gen.model or "local"
    bench_name = benchmark if isinstance(benchmark, str) else getattr(benchmark, "name", None)
    if isinstance(benchmark, Benchmark) and callable(getattr(benchmark, "vote_key", None)):
        register_vote_key(benchmark.name, benchmark.vote_key)

    single = {"name": f"single ({model})", "layers": [[{"type": "generator", **base, "samples": 1}]]}
    if n < MIN_CALLS_TO_CHOOSE:
        return {"single": single}
    best = {
        "name": f"best-of-{n} ({model})",
        "layers": [
            [{"type": "generator", **base, "samples": n - 1}],
            [{"type": "ranker", **base, "top_k": 1, "parse_retries": 0}],
        ],
    }
    vote: dict[str, Any] = {"type": "majority_vote"}
    if bench_name:
        vote["benchmark"] = bench_name
    majority = {
        "name": f"majority-of-{n} ({model})",
        "layers": [
            [{"type": "generator", **base, "samples": n}],
            [vote],
        ],
    }
    return {"single": single, "best_of_n": best, "majority": majority}


def baselines_note(config: str | dict | ArchitectureConfig, n: int | None = None) -> str | None:
    """Why best-of-N and majority vote are not among ``config``'s baselines (None when they are)."""
    n = _matched_calls(load_config(config), n)
    if n >= MIN_CALLS_TO_CHOOSE:
        return None
    return (
        f"best-of-N and majority vote are left out: the architecture makes {n} call{'s' if n > 1 else ''} per query, "
        f"and with fewer than {MIN_CALLS_TO_CHOOSE} they are the single model again (best-of-2 ranks one sample, "
        f"majority-of-2 keeps the first)"
    )
