"""What a server serves: configs (or search run folders) loaded as named models, and running it."""

from __future__ import annotations

import gc
import ipaddress
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn

from ..config import load_config
from ..engine import Archon, CallCache
from ..errors import ArchonError, ConfigError
from ..providers.base import RetryPolicy
from .app import Limits, create_app

#: Where ``archon serve`` reads bearer keys from (comma-separated) when no key file is given.
KEYS_ENV = "ARCHON_SERVER_API_KEYS"

#: Allocations between the cyclic garbage collector's youngest passes while serving (Python's
#: default: 700). A query leaves no reference cycles (tests/server/test_no_cycles.py), so reference
#: counting frees it; under load the passes only walk the queries in flight, and with the
#: default they took a third of the server's CPU, in pauses of up to 0.15 s (perf/serve.py).
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> tuple[int, ...]:
    """Set the collector up for serving, and return its thresholds before: what is loaded so far
    (modules, app, configs) lives as long as the server, so it is kept out of every pass
    (``gc.freeze``), and the youngest pass runs every ``GC_YOUNG_THRESHOLD`` allocations."""
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *before[1:])
    return before


def load_models(
    sources: Sequence[str | Path],
    *,
    keys: Any = None,
    cache: str | Path | None = None,
    retry: RetryPolicy | None = None,
    concurrency: dict[str, int] | None = None,
) -> dict[str, Archon]:
    """One Archon per config, named by its ``name`` (else the file's stem); a folder holding a
    ``best.json`` (a search run) serves that. All share one runtime (per-provider caps and
    connections) and, with ``cache``, one call cache."""
    shared_cache = CallCache(cache) if cache else False
    models: dict[str, Archon] = {}
    runtime = None
    for source in sources:
        path = Path(source)
        if path.is_dir():
            if not (path / "best.json").is_file():
                raise ConfigError(f"{path}: a folder to serve must hold a best.json (a search run's best architecture)")
            path = path / "best.json"
        config = load_config(path)
        name = (
            config.name
            if "name" in config.model_fields_set
            else (path.parent.name if path.name == "best.json" else path.stem)
        )
        if name in models:
            raise ConfigError(f'two configs are both named {name!r}: rename one (its "name" field)')
        archon = Archon(config, keys=keys, cache=shared_cache, retry=retry, concurrency=concurrency)
        if runtime is None:
            runtime = archon.runtime
        else:
            archon.runtime = runtime  # one set of per-provider caps for every model served
        models[name] = archon
    return models


def read_api_keys(file: str | Path | None) -> list[str]:
    """Bearer keys from ``file`` (one per line, ``#`` comments) or else ``$ARCHON_SERVER_API_KEYS``."""
    if file:
        try:
            lines = Path(file).read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise ArchonError(f"--api-keys-file {file}: {e.strerror or e}") from None
        keys = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        if not keys:
            raise ArchonError(f"--api-keys-file {file} holds no key")
        return keys
    return [k.strip() for k in os.environ.get(KEYS_ENV, "").split(",") if k.strip()]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    models: dict[str, Archon],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_keys: Sequence[str] = (),
    no_auth: bool = False,
    limits: Limits | None = None,
    shutdown_timeout: float = 30.0,
    access_log: bool = False,
    on_ready: Any = None,
    allowed_origins: Sequence[str] = (),
) -> None:
    """Serve until SIGTERM or SIGINT: then new connections are refused, queries in flight get
    ``shutdown_timeout`` seconds to finish and are cancelled after that (with their LLM calls)."""
    if not api_keys and not no_auth and not is_loopback(host):
        raise ArchonError(
            f"no API keys (set {KEYS_ENV} or --api-keys-file): refusing to listen on {host}, "
            "reachable from other machines; give --no-auth to serve it without keys anyway"
        )
    app = create_app(models, api_keys=list(api_keys), limits=limits, allowed_origins=allowed_origins)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info" if access_log else "warning",
        access_log=access_log,
        # uvicorn annotates int, but hands it to asyncio.wait_for, which takes any seconds
        timeout_graceful_shutdown=shutdown_timeout,  # type: ignore[arg-type]
        lifespan="on",
    )
    server = uvicorn.Server(config)
    startup = server.startup
    gc_before: list[tuple[int, ...]] = []

    async def started(sockets: Any = None) -> None:
        await startup(sockets=sockets)
        gc_before.append(tune_gc())
        if on_ready is not None:
            on_ready(server)

    server.startup = started  # type: ignore[method-assign]
    # uvicorn raises the signal it shut down on again once done, which would end the process
    # as killed by it; a graceful shutdown asked for by SIGTERM or SIGINT is a normal end (exit 0).
    main = threading.current_thread() is threading.main_thread()  # only there can handlers be set
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT) if main}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if gc_before:  # as it was, for a caller that goes on in this process
            gc.unfreeze()
            gc.set_threshold(*gc_before[0])
