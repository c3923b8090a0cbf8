"""``archon serve``: architectures as OpenAI-compatible models over HTTP."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ArchonError
from .bench import add_timeout_option


def add_commands(subparsers: Any) -> None:
    s = subparsers.add_parser(
        "serve",
        help="serve architectures as OpenAI-compatible models: archon serve CONFIG_OR_DIR...",
        description="Serve each config (or search run folder, through its best.json) as a model of an "
        "OpenAI-compatible API: GET /v1/models[/{model}], POST /v1/chat/completions, GET /health, GET /metrics.",
    )
    s.add_argument(
        "configs",
        nargs="+",
        metavar="CONFIG_OR_DIR",
        help="architecture configs (JSON/YAML), each served as a model named by its name (else the file "
        "stem), or search run folders (their best.json)",
    )
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    s.add_argument(
        "--max-concurrent-queries",
        type=int,
        default=64,
        metavar="N",
        help="queries run at once (default 64); more wait in a bounded queue, then get 429",
    )
    s.add_argument("--max-queued", type=int, default=256, metavar="N", help="queries that may wait (default 256)")
    s.add_argument(
        "--api-keys-file",
        metavar="FILE",
        help="bearer keys clients must send, one per line (default: $ARCHON_SERVER_API_KEYS, comma-separated)",
    )
    s.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without keys on a non-loopback address (without keys the server binds only to loopback)",
    )
    s.add_argument("--keys", help="JSON file of provider API keys (the environment and .env are read too)")
    s.add_argument("--cache", metavar="FILE", help="share this SQLite call cache between all queries (default: none)")
    s.add_argument(
        "--concurrency",
        action="append",
        default=[],
        metavar="PROVIDER=N",
        help="cap on concurrent calls to a provider, shared by all queries (repeatable)",
    )
    add_timeout_option(s)
    s.add_argument(
        "--shutdown-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM, how long queries in flight may take to finish before they are cancelled",
    )
    s.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a web page's origin (e.g. http://localhost:3000, or *) whose scripts may call the API from a "
        "browser (CORS; repeatable; default none)",
    )
    s.add_argument("--access-log", action="store_true", help="log one line per request (method, path, status)")
    s.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    try:  # the server's libraries are an optional extra
        from ..server import Limits, load_models, serve
        from ..server.models import read_api_keys
    except ImportError as e:
        raise ArchonError(
            f"archon serve needs the server extra: pip install 'archon[server]' ({e.name} is missing)"
        ) from None
    from ..providers import RetryPolicy

    for flag in ("max_concurrent_queries", "max_queued"):
        if getattr(args, flag) < (1 if flag == "max_concurrent_queries" else 0):
            raise ArchonError(f"--{flag.replace('_', '-')} must be a positive number")
    caps = {}
    for item in args.concurrency:
        name, _, n = item.rpartition("=")
        if not name or not n.isdigit():
            raise ArchonError(f"--concurrency {item}: expected PROVIDER=N, e.g. vLLM=128")
        caps[name] = int(n)
    models = load_models(
        args.configs,
        keys=args.keys,
        cache=args.cache,
        concurrency=caps,
        retry=RetryPolicy(timeout=args.timeout) if args.timeout else None,
    )
    api_keys = read_api_keys(args.api_keys_file)
    limits = Limits(max_concurrent_queries=args.max_concurrent_queries, max_queued=args.max_queued)

    def ready(server: Any) -> None:
        auth = f"{len(api_keys)} key(s)" if api_keys else "no keys"
        sys.stderr.write(f"serving {', '.join(models)} at http://{args.host}:{args.port}/v1 ({auth})\n")
        sys.stderr.flush()

    serve(
        models,
        host=args.host,
        port=args.port,
        api_keys=api_keys,
        no_auth=args.no_auth,
        limits=limits,
        shutdown_timeout=args.shutdown_timeout,
        access_log=args.access_log,
        on_ready=ready,
        allowed_origins=args.allowed_origin,
    )
    return 0
