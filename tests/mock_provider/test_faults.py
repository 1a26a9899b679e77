"""Faults occur at their configured rates, reproducibly, and never doom a retried request."""

from __future__ import annotations

import asyncio
import collections
import json
import math

import aiohttp
from mp_helpers import body

from mock_provider import FAULT_KINDS, MockProvider

N = 400
RATE = 0.1


def _profile(rate: float = RATE) -> dict:
    faults = {kind: rate for kind in FAULT_KINDS} | {"hang_seconds": 3.0}
    return {"default": {"faults": faults}}


async def _observe(session: aiohttp.ClientSession, url: str, i: int) -> str:
    """What a client sees for request i: a status, or how the exchange broke."""
    timeout = aiohttp.ClientTimeout(total=1.0)
    try:
        async with session.post(
            f"{url}/chat/completions", json=body(f"question {i}"), timeout=timeout
        ) as r:
            raw = await r.read()
            if r.status != 200:
                return str(r.status)
            if r.headers["Content-Type"].startswith("application/json"):
                try:
                    reply = json.loads(raw)
                except ValueError:
                    return "malformed"
                return "empty" if reply["choices"][0]["message"]["content"] == "" else "ok"
            return "other"
    except TimeoutError:
        return "hang"
    except aiohttp.ClientError:
        return "drop"


async def _run(url: str, n: int = N) -> list[str]:
    limit = asyncio.Semaphore(64)
    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> str:
            async with limit:
                return await _observe(session, url, i)

        return await asyncio.gather(*(one(i) for i in range(n)))


async def test_each_fault_at_its_rate() -> None:
    async with MockProvider(_profile()) as mock:
        seen = await _run(mock.base_url)
    # Stopping the server cut the hangs short; each was still recorded.
    records = mock.request_log.records()

    by_fault = collections.Counter(r.fault for r in records)
    bound = 4 * math.sqrt(N * RATE * (1 - RATE))
    for kind in FAULT_KINDS:
        assert abs(by_fault[kind] - N * RATE) <= bound, (kind, by_fault)

    expected = {
        "error_500": "500",
        "error_502": "502",
        "error_503": "503",
        "error_504": "504",
        "hang": "hang",
        "drop": "drop",
        "malformed": "malformed",
        "empty": "empty",
        None: "ok",
    }
    observed = collections.Counter(seen)
    for kind, outcome in expected.items():
        assert observed[outcome] == by_fault[kind], (kind, observed, by_fault)
    assert all(r.status == 0 for r in records if r.fault in ("hang", "drop"))


async def test_faults_are_reproducible_and_off_by_default() -> None:
    async with MockProvider(_profile(0.05)) as one:
        first = await _run(one.base_url, 200)
    async with MockProvider(_profile(0.05)) as two:
        second = await _run(two.base_url, 200)
    assert first == second
    assert any(outcome != "ok" for outcome in first)

    async with MockProvider() as clean:
        assert set(await _run(clean.base_url, 200)) == {"ok"}


async def test_retries_get_fresh_draws() -> None:
    profile = {"default": {"faults": {"error_503": 0.5}}}
    async with MockProvider(profile) as mock, aiohttp.ClientSession() as s:
        for i in range(20):
            for _attempt in range(30):
                async with s.post(f"{mock.base_url}/chat/completions", json=body(f"r{i}")) as r:
                    if r.status == 200:
                        break
            else:
                raise AssertionError(f"request r{i} failed 30 times in a row")
        statuses = [r.status for r in mock.request_log.records()]
    assert 503 in statuses and statuses.count(200) == 20
