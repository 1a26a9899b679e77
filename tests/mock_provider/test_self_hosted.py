"""Self-hosted mode: FIFO queueing behind N slots, no 429s, service time rising with load."""

from __future__ import annotations

import asyncio

import aiohttp
from mp_helpers import body, post

from mock_provider import MockProvider, self_hosted_service

BASE = 0.05
SLOWDOWN = 0.5


def _profile(scope: str) -> dict:
    hosted = {"self_hosted": {"slots": 2, "slowdown": SLOWDOWN}}
    default = {"latency": {"ttft": BASE}, "output": {"tokens": 5}}
    if scope == "model":
        return {"default": {**default, "capacity": hosted}}
    return {"default": default, "server": hosted}


async def _burst(url: str, n: int, gap: float) -> list[int]:
    async with aiohttp.ClientSession() as s:

        async def one(i: int) -> int:
            await asyncio.sleep(i * gap)
            status, _, _ = await post(s, url, body(f"job {i}"), headers={"X-DD-Tag": str(i)})
            return status

        return await asyncio.gather(*(one(i) for i in range(n)))


async def test_alone_runs_at_base_latency() -> None:
    async with MockProvider(_profile("model")) as mock:
        assert await _burst(mock.base_url, 1, 0) == [200]
        (record,) = mock.request_log.records()
    assert BASE - 0.002 <= record.end - record.start < BASE + 0.04


async def test_load_slows_service_and_queue_is_fifo() -> None:
    for scope in ("model", "server"):
        async with MockProvider(_profile(scope)) as mock:
            statuses = await _burst(mock.base_url, 8, 0.004)
            records = sorted(mock.request_log.records(), key=lambda r: int(r.tag))

        assert statuses == [200] * 8  # queued, never refused
        starts = [r.start for r in records]
        assert starts == sorted(starts), "slots must be handed out in arrival order"
        loaded = self_hosted_service(BASE, 2, SLOWDOWN)
        for r in records[2:]:
            assert r.start > r.arrival + 0.01  # waited in the queue
            assert loaded - 0.002 <= r.end - r.start < loaded + 0.04
        # Two slots: at most two requests are ever in service together.
        for r in records:
            overlapping = [o for o in records if o.start < r.end - 1e-3 and o.end > r.end - 1e-3]
            assert len(overlapping) <= 2


def test_formula() -> None:
    assert self_hosted_service(2.0, 1, 0.5) == 2.0
    assert self_hosted_service(2.0, 3, 0.5) == 4.0
