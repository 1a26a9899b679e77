"""The low-level server's dispatcher answers like an aiohttp router: 404, 405, HEAD, queries."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from mp_helpers import body

from mock_provider import MockProvider, Profile, ProviderState, create_app


async def test_unknown_path_and_wrong_method() -> None:
    async with MockProvider() as mock, aiohttp.ClientSession() as session:
        async with session.get(f"{mock.url}/v2/nothing") as r:
            assert r.status == 404
            assert await r.text() == "404: Not Found"
        async with session.post(f"{mock.url}/health", json={}) as r:
            assert r.status == 405
            assert r.headers["Allow"] == "GET,HEAD"
        async with session.get(f"{mock.base_url}/chat/completions") as r:
            assert r.status == 405
            assert r.headers["Allow"] == "POST"
        # Neither reached the chat handler, so nothing was logged.
        assert len(mock.request_log) == 0


async def test_head_query_string_and_escaped_path() -> None:
    async with MockProvider() as mock, aiohttp.ClientSession() as session:
        async with session.head(f"{mock.url}/health") as r:
            assert r.status == 200
        async with session.get(f"{mock.url}/health?probe=1") as r:
            assert await r.json() == {"status": "ok"}
        async with session.post(
            f"{mock.base_url}/chat/completions?trace=1", json=body("query string")
        ) as r:
            assert r.status == 200
        # A percent-escaped path is matched after decoding, as aiohttp's router does.
        async with session.get(f"{mock.url}/%68ealth") as r:
            assert r.status == 200
        assert len(mock.request_log) == 1


async def test_create_app_serves_the_same_routes() -> None:
    state = ProviderState(Profile.fixed(latency=0.0), seed=3)
    runner = web.AppRunner(create_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        mock = MockProvider(Profile.fixed(latency=0.0), seed=3)
        async with mock, aiohttp.ClientSession() as session:
            answers = []
            for base in (f"http://127.0.0.1:{port}/v1", mock.base_url):
                async with session.post(f"{base}/chat/completions", json=body("same")) as r:
                    assert r.status == 200
                    answers.append((await r.json())["choices"][0]["message"]["content"])
            async with session.get(f"http://127.0.0.1:{port}/stats") as r:
                assert (await r.json())["records"] == 1
        assert answers[0] == answers[1]
    finally:
        await runner.cleanup()
