"""Bad requests get a 4xx with an OpenAI-style error naming the problem, never a 500."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from mp_helpers import body

from mock_provider import MockProvider

CASES = [
    (b"{not json", 400, "not valid JSON"),
    (b"\xff\xfe", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b"[" * 4000, 400, "not valid JSON"),
    (json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(), 400, "'model'"),
    (json.dumps({"model": 5, "messages": []}).encode(), 400, "'model'"),
    (json.dumps({"model": "m"}).encode(), 400, "'messages'"),
    (json.dumps({"model": "m", "messages": "hi"}).encode(), 400, "'messages'"),
    (json.dumps({"model": "m", "messages": ["hi"]}).encode(), 400, "messages[0]"),
    (json.dumps({"model": "m", "messages": [{"content": "x"}]}).encode(), 400, "messages[0].role"),
    (
        json.dumps({"model": "m", "messages": [{"role": "user", "content": 3}]}).encode(),
        400,
        "messages[0].content",
    ),
    (json.dumps({**body("x"), "stream": "yes"}).encode(), 400, "'stream'"),
    (json.dumps({**body("x"), "max_tokens": 0}).encode(), 400, "'max_tokens'"),
    (
        json.dumps({**body("x"), "response_format": {"type": "xml"}}).encode(),
        400,
        "response_format",
    ),
    (
        json.dumps(
            {**body("x"), "response_format": {"type": "json_schema", "json_schema": 3}}
        ).encode(),
        400,
        "json_schema",
    ),
    (
        json.dumps(
            {
                **body("x"),
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"schema": {"type": "object", "properties": 7}},
                },
            }
        ).encode(),
        400,
        "schema",
    ),
    (json.dumps(body("x", model="unknown")).encode(), 404, "'unknown'"),
    (json.dumps(body("x" * 5000)).encode(), 413, "exceeds the limit"),
]

PROFILE = {"models_only": True, "models": {"m": {}}, "max_body_bytes": 4096}


@pytest.mark.parametrize(("raw", "status", "words"), CASES, ids=[c[2] for c in CASES])
async def test_bad_request(raw: bytes, status: int, words: str) -> None:
    async with MockProvider(PROFILE) as mock, aiohttp.ClientSession() as s:
        async with s.post(
            f"{mock.base_url}/chat/completions",
            data=raw,
            headers={"Content-Type": "application/json"},
        ) as r:
            assert r.status == status
            error = (await r.json())["error"]
        assert words in error["message"]
        assert set(error) == {"message", "type", "param", "code"}
        assert [rec.status for rec in mock.request_log.records()] == [status]


async def test_chunked_body_over_the_limit() -> None:
    async def chunks():
        for _ in range(10):
            yield b"x" * 1024

    async with (
        MockProvider(PROFILE) as mock,
        aiohttp.ClientSession() as s,
        s.post(f"{mock.base_url}/chat/completions", data=chunks()) as r,
    ):
        assert r.status == 413


async def test_bad_requests_do_not_disturb_others() -> None:
    profile = {**PROFILE, "default": {"latency": {"ttft": 0.1}}, "models": {"m": {}}}
    async with MockProvider(profile) as mock, aiohttp.ClientSession() as s:
        url = f"{mock.base_url}/chat/completions"

        async def good() -> int:
            async with s.post(url, json=body("fine")) as r:
                await r.read()
                return r.status

        async def bad(raw: bytes) -> int:
            async with s.post(url, data=raw) as r:
                await r.read()
                return r.status

        results = await asyncio.gather(
            *(good() for _ in range(10)), *(bad(raw) for raw, _, _ in CASES)
        )
    assert results[:10] == [200] * 10
    assert all(400 <= status < 500 for status in results[10:])


async def test_api_key() -> None:
    async with MockProvider({"api_key": "sekrit"}) as mock, aiohttp.ClientSession() as s:
        url = f"{mock.base_url}/chat/completions"
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            async with s.post(url, json=body("x"), headers=headers) as r:
                assert r.status == 401
                assert (await r.json())["error"]["code"] == "invalid_api_key"
        async with s.get(f"{mock.base_url}/models") as r:
            assert r.status == 401
        ok = {"Authorization": "Bearer sekrit"}
        async with s.post(url, json=body("x"), headers=ok) as r:
            assert r.status == 200
        async with s.get(f"{mock.url}/health") as r:
            assert r.status == 200
