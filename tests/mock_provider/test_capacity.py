"""429s with Retry-After and rate-limit headers when a cap or a bucket is exceeded."""

from __future__ import annotations

import asyncio

import aiohttp
from mp_helpers import body, post

from mock_provider import MockProvider

OUTPUT = {"tokens": 10}


def _profile(capacity=None, server=None, latency=0.0):
    default = {"latency": {"ttft": latency}, "output": OUTPUT, "capacity": capacity or {}}
    return {"default": default, "server": server or {}}


def _assert_rate_limited(status: int, headers: dict[str, str], reply: dict) -> float:
    assert status == 429
    assert int(headers["Retry-After"]) >= 1
    assert reply["error"]["code"] == "rate_limit_exceeded"
    assert reply["error"]["type"] == "rate_limit_exceeded"
    assert set(reply["error"]) == {"message", "type", "param", "code"}
    return float(headers["retry-after-ms"]) / 1000


async def test_concurrency_cap() -> None:
    profile = _profile({"max_concurrency": 2, "retry_after": 0.25}, latency=0.2)
    async with MockProvider(profile) as mock, aiohttp.ClientSession() as s:
        results = await asyncio.gather(*(post(s, mock.base_url, body(f"q{i}")) for i in range(5)))
        statuses = sorted(status for status, _, _ in results)
        assert statuses == [200, 200, 429, 429, 429]
        for status, headers, reply in results:
            if status == 429:
                assert _assert_rate_limited(status, headers, reply) == 0.25

        status, _, _ = await post(s, mock.base_url, body("after"))
        assert status == 200
        log = mock.request_log.records()
        limited = [r for r in log if r.status == 429]
        assert all(r.start == r.arrival and r.end - r.arrival < 0.1 for r in limited)


async def _drain(s, url, n, model="m", prefix="q"):
    return [await post(s, url, body(f"{prefix} {i}", model=model)) for i in range(n)]


async def test_request_bucket_per_model_and_recovery() -> None:
    profile = _profile({"rpm": 120})  # a burst of 120, then 2 a second
    async with MockProvider(profile) as mock, aiohttp.ClientSession() as s:
        results = await _drain(s, mock.base_url, 120)
        assert all(status == 200 for status, _, _ in results)
        assert results[-1][1]["x-ratelimit-limit-requests"] == "120"

        status, headers, reply = await post(s, mock.base_url, body("one more"))
        wait = _assert_rate_limited(status, headers, reply)
        assert 0 < wait <= 0.5
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-reset-requests"].endswith("s")

        other, _, _ = await post(s, mock.base_url, body("other model", model="other"))
        assert other == 200  # the bucket is per model

        await asyncio.sleep(wait + 0.05)
        status, _, _ = await post(s, mock.base_url, body("recovered"))
        assert status == 200


async def test_token_bucket_per_model() -> None:
    # Each request costs 2 prompt words + 10 completion tokens = 12 tokens.
    profile = _profile({"tpm": 1200})  # 100 requests' worth, refilled at 20 tokens a second
    async with MockProvider(profile) as mock, aiohttp.ClientSession() as s:
        results = await _drain(s, mock.base_url, 100)
        assert all(status == 200 for status, _, _ in results)
        status, headers, reply = await post(s, mock.base_url, body("q x"))
        wait = _assert_rate_limited(status, headers, reply)
        assert 0 < wait <= 0.6
        assert headers["x-ratelimit-limit-tokens"] == "1200"
        await asyncio.sleep(wait + 0.05)
        status, _, _ = await post(s, mock.base_url, body("q y"))
        assert status == 200


async def test_server_scope_is_shared_by_models() -> None:
    async with MockProvider(_profile(server={"rpm": 120})) as mock, aiohttp.ClientSession() as s:
        await _drain(s, mock.base_url, 60, model="a")
        await _drain(s, mock.base_url, 60, model="b")
        for model in ("a", "b", "c"):
            status, headers, reply = await post(s, mock.base_url, body("x", model=model))
            _assert_rate_limited(status, headers, reply)


async def test_server_token_bucket_and_concurrency() -> None:
    profile = _profile(server={"tpm": 600, "max_concurrency": 1, "retry_after": 0.1})
    async with MockProvider(profile) as mock, aiohttp.ClientSession() as s:
        results = await _drain(s, mock.base_url, 50, model="a")  # 50 x 12 = 600 tokens
        assert all(status == 200 for status, _, _ in results)
        status, headers, reply = await post(s, mock.base_url, body("q z", model="b"))
        _assert_rate_limited(status, headers, reply)

        async with mock.__class__(
            {"default": {"latency": {"ttft": 0.2}}, "server": {"max_concurrency": 1}}
        ) as capped:
            both = await asyncio.gather(
                post(s, capped.base_url, body("x", model="a")),
                post(s, capped.base_url, body("y", model="b")),
            )
            assert sorted(status for status, _, _ in both) == [200, 429]
        stats = mock.state.stats()
        assert stats["rate_limited"] == {"b": 1}
        assert stats["capacity"]["server"]["tokens_remaining"] < 12
