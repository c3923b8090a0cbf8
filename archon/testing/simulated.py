"""A simulated model pool, so that search quality can be measured in seconds.

Models with known per-item skill answer items with known answers; fusers, rankers, critics,
verifiers and unit-test writers have skills of their own. Everything is deterministic: each
decision is a hash of what the call is about (model, item, the candidates shown, sample index).

The pool answers through the real engine, components and scorers as a registered provider
(``model_type: simulated``; :func:`register`), or over HTTP as the responder of the test double
(:meth:`SimulatedPool.responder`). Its items are GSM8K-format records (:meth:`SimulatedPool.write_data`),
scored by the ``gsm8k`` benchmark.

:meth:`SimulatedPool.simulate` computes what the engine would do for a config on an item without
running it (the answer, and the key of every LLM call the call cache would hold), so the true optimum
of a space under a budget is known by exhaustive evaluation, and a search's calls with and without
sharing can be counted. A test checks that it agrees with the engine.

Structure, as the paper found it: more samples and more fusion help with diminishing returns
(a candidate set holds the right answer more often, at a falling rate); weak models fuse and
critique poorly (adding weak generators dilutes the candidates a weak fuser picks from); rankers,
critics and verifiers raise the share of right candidates by their skill; cost grows with calls.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..benchmarks.base import Item
from ..components.ranker import DEFAULT_RANKER_TOP_K
from ..config import ArchitectureConfig
from ..providers.base import ChatRequest, ChatResult, Provider
from ..providers.registry import ProviderSpec, register_provider

PROVIDER = "simulated"
_ANSWER = re.compile(r"The answer is (\d+)\.")
_ITEM = re.compile(r"\[item ([\w-]+)\]")
_FLAG = re.compile(r"Verdict: looks (right|wrong)")


def _u(*parts: Any) -> float:
    """A deterministic uniform number in [0, 1) for ``parts``."""
    h = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return struct.unpack("<Q", h)[0] / 2**64


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@dataclass(frozen=True)
class SimModel:
    name: str
    skill: float  # logit of answering an item of difficulty 0 right
    fuse: float  # chance a fuser finds the right answer among its candidates
    rank: float  # how reliably a ranker puts right candidates first
    critique: float  # chance a critique flags a candidate right or wrong correctly
    verify: float  # chance a verdict (or a unit-test verdict) is right


# Strong to weak; weak models fuse and critique poorly, rank fairly well (the paper's findings).
_SKILLS = [
    (1.4, 0.85, 0.70, 0.75, 0.80),
    (1.1, 0.80, 0.68, 0.70, 0.76),
    (0.9, 0.70, 0.66, 0.66, 0.72),
    (0.6, 0.60, 0.64, 0.62, 0.68),
    (0.4, 0.50, 0.62, 0.58, 0.64),
    (0.2, 0.40, 0.60, 0.55, 0.62),
    (0.0, 0.30, 0.58, 0.52, 0.60),
    (-0.3, 0.22, 0.56, 0.50, 0.56),
    (-0.7, 0.15, 0.54, 0.48, 0.53),
    (-1.1, 0.10, 0.52, 0.45, 0.50),
]


@dataclass
class SimulatedPool:
    """``n_models`` models (listed in a shuffled order, so ranking them matters) and ``n_items`` items."""

    n_models: int = 10
    n_items: int = 200
    seed: int = 0
    models: list[SimModel] = field(init=False)
    difficulty: dict[str, float] = field(init=False)
    answers: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        skills = [_SKILLS[round(i * (len(_SKILLS) - 1) / max(1, self.n_models - 1))] for i in range(self.n_models)]
        names = [f"sim-{chr(ord('a') + i)}" for i in range(self.n_models)]
        rng.shuffle(skills)
        self.models = [SimModel(n, *s) for n, s in zip(names, skills)]
        self.difficulty, self.answers = {}, {}
        for i in range(self.n_items):
            item_id = f"s{self.seed}-{i}"
            self.difficulty[item_id] = rng.gauss(1.0, 1.5)
            self.answers[item_id] = rng.randrange(100, 1000)
        self._by_name = {m.name: m for m in self.models}

    # --- data ------------------------------------------------------------------------

    def question(self, item_id: str) -> str:
        return f"[item {item_id}] What is the secret number of this item?"

    def records(self) -> list[dict[str, Any]]:
        return [
            {"id": i, "question": self.question(i), "answer": f"The secret number. #### {a}"}
            for i, a in self.answers.items()
        ]

    def write_data(self, path: str | Path) -> Path:
        """The items as a GSM8K JSONL file (``--benchmark gsm8k --data PATH``)."""
        p = Path(path)
        p.write_text("".join(json.dumps(r) + "\n" for r in self.records()), encoding="utf-8")
        return p

    def items(self) -> list[Item]:
        return [Item(id=i, turns=[self.question(i)], reference=str(a)) for i, a in self.answers.items()]

    def model_entries(self) -> list[dict[str, Any]]:
        """The models as a search space lists them."""
        return [{"model": m.name, "model_type": PROVIDER} for m in self.models]

    def model(self, name: str | None) -> SimModel:
        try:
            return self._by_name[name or ""]
        except KeyError:
            raise ValueError(f"the simulated pool has no model {name!r}; it has {', '.join(self._by_name)}") from None

    # --- decisions (shared by the provider and the simulation) -------------------------------

    def p_right(self, model: str, item: str) -> float:
        return _sigmoid(self.model(model).skill - self.difficulty[item])

    def _wrong(self, item: str, *parts: Any) -> int:
        # A few distractors per item, so that wrong answers can agree with each other.
        return self.answers[item] + 1 + int(_u("wrong", item, *parts) * 3)

    def generate(self, model: str, item: str, sample: int) -> int:
        if _u("gen", model, item, sample) < self.p_right(model, item):
            return self.answers[item]
        return self._wrong(item, model, sample)

    def fuse(self, model: str, item: str, cands: Sequence[int], flags: Sequence[bool] | None, sample: int) -> int:
        right = self.answers[item]
        pool = list(cands)
        if flags is not None:  # candidates a critique called wrong are set aside, if any is left
            kept = [c for c, ok in zip(cands, flags) if ok]
            pool = kept or pool
        s = self.model(model).fuse
        if right in pool:
            # A soft majority vote that a skilled fuser tilts towards the right answer.
            share = pool.count(right) / len(pool)
            p = share + s * share * (1 - share)
        else:
            p = 0.3 * self.p_right(model, item)
        if _u("fuse", model, item, tuple(cands), None if flags is None else tuple(flags), sample) < p:
            return right
        wrong = [c for c in pool if c != right]
        return max(wrong, key=wrong.count) if wrong else self._wrong(item, model, "fuse", sample)

    def rank(self, model: str, item: str, cands: Sequence[int], flags: Sequence[bool] | None) -> list[int]:
        r = self.model(model).rank
        right = self.answers[item]
        sig = (tuple(cands), None if flags is None else tuple(flags))

        def key(j: int) -> float:
            k = r * (cands[j] == right) + (1 - r) * _u("rank", model, item, sig, j)
            if flags is not None:
                k += 0.1 * flags[j]
            return k

        return sorted(range(len(cands)), key=lambda j: -key(j))

    def critique(self, model: str, item: str, cands: Sequence[int]) -> list[bool]:
        c = self.model(model).critique
        right = self.answers[item]
        return [(a == right) == (_u("crit", model, item, tuple(cands), j) < c) for j, a in enumerate(cands)]

    def verdict(self, model: str, item: str, cand: int) -> bool:
        v = self.model(model).verify
        return (cand == self.answers[item]) == (_u("verdict", model, item, cand) < v)

    def test_passes(self, model: str, item: str, cand: int, n_tests: int) -> list[bool]:
        v = self.model(model).verify
        ok = cand == self.answers[item]
        return [_u("test", model, item, cand, t) < (0.55 + 0.45 * v if ok else 0.45 - 0.4 * v) for t in range(n_tests)]

    # --- the provider ------------------------------------------------------------------

    def reply(self, messages: list[dict[str, str]], model: str, n: int = 1, first_sample: int = 0) -> list[str]:
        """What ``model`` answers to ``messages`` (``n`` samples from ``first_sample`` on)."""
        text = "\n".join(str(m.get("content", "")) for m in messages)
        found = _ITEM.search(text)
        if not found or found.group(1) not in self.answers:
            return ["I cannot tell. The answer is 0."] * n
        item = found.group(1)
        last = str(messages[-1].get("content", ""))
        cands = [int(a) for a in _ANSWER.findall(text)]
        flags_found = [f == "right" for f in _FLAG.findall(text)]
        flags = flags_found if cands and len(flags_found) == len(cands) else None
        samples = range(first_sample, first_sample + n)
        if "[Correct] or [Incorrect]" in last:
            return ["[Correct]" if self.verdict(model, item, cands[0]) else "[Incorrect]" for _ in samples]
        if "Check whether the response" in last:
            return [f"I checked the response's final number {cands[0]} against the question." for _ in samples]
        if "[Pass] or [Fail]" in last:
            n_tests = len(re.findall(r"(?m)^Test \d+:", last.split("Unit tests:", 1)[-1]))
            passes = self.test_passes(model, item, cands[0], n_tests)
            return [
                "\n".join(f"Test {t + 1}: [{'Pass' if p else 'Fail'}]" for t, p in enumerate(passes)) for _ in samples
            ]
        if "unit tests" in last and "Test 1:" in last:
            k = int(m.group(1)) if (m := re.search(r"Write (\d+)", last)) else 5
            return [
                "\n".join(f"Test {t + 1}: the secret number is checked ({t + 1})" for t in range(k)) for _ in samples
            ]
        if last.startswith("Critique each"):
            out = self.critique(model, item, cands)
            return [
                "\n".join(
                    f"[{j + 1}]\nStrengths: clear.\nWeaknesses: {'none' if ok else 'a wrong number'}. "
                    f"Verdict: looks {'right' if ok else 'wrong'}."
                    for j, ok in enumerate(out)
                )
                for _ in samples
            ]
        if last.startswith("Rank the"):
            use = flags if "critique" in last.split("Query:", 1)[0] else None
            order = self.rank(model, item, cands, use)
            return [" > ".join(f"[{j + 1}]" for j in order) for _ in samples]
        if "Candidate responses:" in text and cands:
            system = next((m["content"] for m in messages if m.get("role") == "system"), text)
            shown = [int(a) for a in _ANSWER.findall(system)]
            shown_flags = [f == "right" for f in _FLAG.findall(system)]
            use = shown_flags if shown_flags and len(shown_flags) == len(shown) else None
            # Answers read the same whoever wrote them, so the simulation can tell calls apart by the numbers alone.
            return [f"The answer is {self.fuse(model, item, shown, use, k)}." for k in samples]
        return [f"The answer is {self.generate(model, item, k)}." for k in samples]

    def responder(self, body: dict) -> list[str]:
        """For ``FakeOpenAIServer(responder=...)``: the pool over HTTP (samples counted from 0 per request)."""
        return self.reply(body.get("messages") or [], body.get("model", ""), int(body.get("n") or 1))

    # --- the simulation --------------------------------------------------------------

    def simulate(self, config: ArchitectureConfig, item: str) -> tuple[int | None, list[tuple]]:
        """The answer ``config`` gives on ``item`` and the keys of the LLM calls it makes, as the engine would.

        Covers the built-in components as the engine runs them (sample offsets of identical components,
        candidates and critiques merged per layer); a key stands for one cached sample.
        """
        cands: list[int] = []
        flags: list[bool] | None = None
        tests: int | None = None
        calls: list[tuple] = []
        for layer in config.layers:
            offsets: dict[tuple, int] = {}
            produced: list[tuple[list[int], list[bool] | None]] = []
            new_flags: list[bool] | None = None
            new_tests = tests
            for c in layer:
                m = c.model or ""
                same = (c.model_type, c.base_url, c.model, c.temperature, c.max_tokens)
                first = offsets.get(same, 0)
                offsets[same] = first + c.samples
                if c.type == "generator":
                    out = []
                    for k in range(first, first + c.samples):
                        calls.append(("gen", m, item, k))
                        out.append(self.generate(m, item, k))
                    produced.append((out, None))
                elif c.type == "fuser":
                    shown = cands[: c.first_k] if c.first_k else cands
                    crit = flags[: len(shown)] if c.use_critiques and flags else None
                    out = []
                    for k in range(first, first + c.samples):
                        calls.append(("fuse", m, item, tuple(shown), crit and tuple(crit), k))
                        out.append(self.fuse(m, item, shown, crit, k))
                    produced.append((out, None))
                elif c.type == "critic":
                    if cands:
                        calls.append(("critic", m, item, tuple(cands), first))
                        new_flags = self.critique(m, item, cands)
                    else:
                        new_flags = []
                elif c.type == "ranker":
                    k = c.top_k or DEFAULT_RANKER_TOP_K
                    if len(cands) <= 1:
                        produced.append((list(cands), flags))
                        continue
                    crit = flags if c.use_critiques else None
                    calls.append(("rank", m, item, tuple(cands), crit and tuple(crit), first))
                    order = self.rank(m, item, cands, crit)[:k]
                    kept_flags = [flags[j] for j in order] if flags and len(flags) == len(cands) else None
                    produced.append(([cands[j] for j in order], kept_flags))
                elif c.type == "verifier":
                    ok = []
                    for j, a in enumerate(cands):
                        calls.append(("reason", m, item, a, j, first))
                        calls.append(("verdict", m, item, a, j, first))
                        ok.append(self.verdict(m, item, a))
                    keep = [j for j, v in enumerate(ok) if v] or list(range(len(cands)))
                    kept_flags = [flags[j] for j in keep] if flags and len(flags) == len(cands) else None
                    produced.append(([cands[j] for j in keep], kept_flags))
                elif c.type == "unit_test_generator":
                    cap = c.unit_test_cap or 5
                    calls.append(("tests", m, item, cap, first))
                    new_tests = cap
                elif c.type == "unit_test_evaluator":
                    n = len(cands)
                    if not tests or n == 0:
                        k = c.top_k or n
                        produced.append((cands[:k], flags[:k] if flags else None))
                        continue
                    passes = []
                    for j, a in enumerate(cands):
                        calls.append(("evaluate", m, item, a, j, tests, first))
                        passes.append(sum(self.test_passes(m, item, a, tests)))
                    order = sorted(range(n), key=lambda j: -passes[j])
                    keep = order[: c.top_k] if c.top_k else ([j for j in order if passes[j] == tests] or order)
                    kept_flags = [flags[j] for j in keep] if flags and len(flags) == n else None
                    produced.append(([cands[j] for j in keep], kept_flags))
                else:
                    raise ValueError(f"the simulation knows only the built-in components, not {c.type!r}")
            if produced:
                cands = [a for out, _ in produced for a in out]
                flags = (
                    [f for _, fl in produced for f in fl]  # type: ignore[union-attr]
                    if all(fl is not None for _, fl in produced)
                    else None
                )
            elif new_flags is not None:
                flags = new_flags
            tests = new_tests
        return (cands[0] if cands else None), calls

    def score(self, config: ArchitectureConfig, items: Sequence[str]) -> float:
        """Accuracy of ``config`` on ``items`` (simulated)."""
        right = sum(self.simulate(config, i)[0] == self.answers[i] for i in items)
        return right / len(items) if items else float("nan")


class SimulatedProvider(Provider):
    """The pool as a provider: takes ``n`` and numbers samples from the request's seed, as the engine asks."""

    name = PROVIDER
    supports_n = True
    default_concurrency = 256

    def __init__(self, pool: SimulatedPool):
        self.pool = pool

    def identity(self) -> str:
        return f"{PROVIDER}:{self.pool.seed}:{self.pool.n_models}:{self.pool.n_items}"

    async def chat(self, request: ChatRequest) -> ChatResult:
        texts = self.pool.reply(request.messages, request.model, request.n, request.seed or 0)
        prompt = sum(len(str(m.get("content", "")).split()) for m in request.messages)
        return ChatResult(
            texts=texts, input_tokens=prompt * len(texts), output_tokens=sum(len(t.split()) for t in texts)
        )


def register(pool: SimulatedPool) -> SimulatedPool:
    """Make ``model_type: simulated`` answer from ``pool`` (the last registered pool answers)."""
    provider = SimulatedProvider(pool)
    register_provider(
        ProviderSpec(name=PROVIDER, factory=lambda s: provider, description="simulated model pool (tests)")
    )
    return pool


class SimulatedEvaluator:
    """Scores architectures on the pool's items by :meth:`SimulatedPool.simulate`, in place of
    :class:`archon.search.evaluate.Evaluator`, counting calls as one shared call cache would.

    ``memo`` (config key -> item -> (right?, call keys)) may be shared by many evaluators, so that a
    space is simulated once for many searches; the calls made (``seen``) are each evaluator's own.
    """

    def __init__(self, pool: SimulatedPool, memo: dict | None = None):
        self.pool = pool
        self.memo = memo if memo is not None else {}
        self.seen: set[int] = set()

    def outcome(self, config: ArchitectureConfig, item: str) -> tuple[bool, list[int]]:
        from ..search.space import config_key

        per = self.memo.setdefault(config_key(config), {})
        if item not in per:
            answer, keys = self.pool.simulate(config, item)
            per[item] = (answer == self.pool.answers[item], [hash(k) for k in keys])
        return per[item]

    def aggregate(self, scores: Sequence[float | None]) -> float:
        vals = [s for s in scores if s is not None]
        return sum(vals) / len(vals) if vals else float("nan")

    async def aevaluate(self, config: Any, items: Sequence[Item], out_dir: Any = None, *, baselines: bool = False):
        from ..config import parse_config
        from ..search.evaluate import Evaluation

        cfg = parse_config(config)
        ev = Evaluation()
        for it in items:
            right, keys = self.outcome(cfg, str(it.id))
            ev.item_scores[str(it.id)] = float(right)
            new = [k for k in keys if k not in self.seen]
            self.seen.update(new)
            ev.calls += len(keys)
            ev.new_calls += len(set(new))
        return ev, {}
