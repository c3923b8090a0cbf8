"""The HTTP test double's asyncio face, for load benchmarks.

:class:`archon.testing.fake_openai.FakeOpenAIServer` runs every call on a thread of its own and
logs it, which is what tests need; under hundreds of calls at once those threads cost more CPU
than the system measured. This server (aiohttp, one event loop) gives the same chat-completions
replies (``default_responder``, word-count usage, one stream event per word after ``latency``,
``token_delay`` apart) and nothing else: no behaviours, keys, dialects or call log.

Command line (prints the base URL on its first stdout line, serves until SIGTERM/SIGINT)::

    python -m archon.testing.load_double --latency 0.5
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import signal
import sys
import time

from aiohttp import web

from .fake_openai import _choice_texts, _dumps, _text_of, _word_count, default_responder

_TOKENS = re.compile(r"\s*\S+\s*|\s+")


def make_app(latency: float = 0.0, token_delay: float = 0.0) -> web.Application:
    ids = itertools.count(1)
    stats = {"requests": 0, "in_flight": 0, "max_in_flight": 0}

    async def chat(request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
            model, messages = body["model"], body["messages"]
        except (ValueError, KeyError, TypeError):
            error = {"message": "bad request", "type": "invalid_request_error", "param": None, "code": None}
            return web.Response(status=400, body=_dumps({"error": error}), content_type="application/json")
        stats["requests"] += 1
        stats["in_flight"] += 1
        stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
        try:
            if latency:
                await asyncio.sleep(latency)
            n = body.get("n") or 1
            texts = _choice_texts(default_responder(body), n)
            prompt = max(1, sum(_word_count(_text_of(m.get("content"))) for m in messages))
            completion = sum(max(1, _word_count(t)) for t in texts)
            usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
            ident, created = f"chatcmpl-load{next(ids)}", int(time.time())
            if not body.get("stream"):
                choices = [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": t},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                    for i, t in enumerate(texts)
                ]
                return web.Response(
                    body=_dumps(
                        {
                            "id": ident,
                            "object": "chat.completion",
                            "created": created,
                            "model": model,
                            "choices": choices,
                            "usage": usage,
                        }
                    ),
                    content_type="application/json",
                )
            return await _stream(request, ident, created, model, texts, usage, body, token_delay)
        finally:
            stats["in_flight"] -= 1

    async def models(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "archon-fake"}],
            }
        )

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response({**stats, "latency": latency})

    app = web.Application()
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/chat/completions", chat)
        app.router.add_get(f"{prefix}/models", models)
    app.router.add_get("/_stats", get_stats)
    return app


async def _stream(
    request: web.Request,
    ident: str,
    created: int,
    model: str,
    texts: list[str],
    usage: dict,
    body: dict,
    token_delay: float,
) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)

    def chunk(choices: list[dict], **extra: object) -> bytes:
        return (
            b"data: "
            + _dumps(
                {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": choices,
                    **extra,
                }
            )
            + b"\n\n"
        )

    for i, text in enumerate(texts):
        await resp.write(chunk([{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]))
        for token in _TOKENS.findall(text):
            if token_delay:
                await asyncio.sleep(token_delay)
            await resp.write(chunk([{"index": i, "delta": {"content": token}, "finish_reason": None}]))
        await resp.write(chunk([{"index": i, "delta": {}, "finish_reason": "stop"}]))
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        await resp.write(chunk([], usage=usage))
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


async def _serve(host: str, port: int, latency: float, token_delay: float) -> None:
    runner = web.AppRunner(make_app(latency, token_delay), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=2048)
    await site.start()
    bound = runner.addresses[0]
    sys.stdout.write(f"http://{bound[0]}:{bound[1]}/v1\n")
    sys.stdout.flush()
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m archon.testing.load_double",
        description="Serve the test double's chat completions on one event loop (for load).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per reply")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between streamed tokens")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port, args.latency, args.token_delay))
    return 0


if __name__ == "__main__":
    sys.exit(main())
