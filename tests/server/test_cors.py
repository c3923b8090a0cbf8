"""Browsers: a web page may call the API from its scripts only when its origin is allowed
(``archon serve --allowed-origin``); the preflight needs no key, the request itself does."""

from __future__ import annotations

import httpx

from archon.engine import Archon
from archon.server.app import create_app

from .conftest import KEY, moa_config

PAGE = "http://localhost:3000"


def _client(upstream, **options) -> httpx.AsyncClient:
    app = create_app({"moa": Archon(moa_config(upstream.base_url), cache=False)}, api_keys=[KEY], **options)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://archon")


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }


async def test_an_allowed_page_may_call_the_api_and_others_may_not(upstream):
    async with _client(upstream, allowed_origins=[PAGE]) as client:
        ok = await client.options("/v1/chat/completions", headers=_preflight(PAGE))
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == PAGE
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        other = await client.options("/v1/chat/completions", headers=_preflight("http://evil.example"))
        assert other.status_code == 400 and "access-control-allow-origin" not in other.headers

        body = {"model": "moa", "messages": [{"role": "user", "content": "hi"}]}
        keyed = {"Origin": PAGE, "Authorization": f"Bearer {KEY}"}
        r = await client.post("/v1/chat/completions", json=body, headers=keyed)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == PAGE
        # The key is still needed: an allowed page without one is refused.
        assert (await client.post("/v1/chat/completions", json=body, headers={"Origin": PAGE})).status_code == 401


async def test_without_allowed_origins_no_page_is_let_in(upstream):
    async with _client(upstream) as client:
        r = await client.options("/v1/chat/completions", headers=_preflight(PAGE))
        assert "access-control-allow-origin" not in r.headers
        r = await client.get("/v1/models", headers={"Origin": PAGE, "Authorization": f"Bearer {KEY}"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
