"""The client and the throttle together against a mock with a hard concurrency cap."""

from __future__ import annotations

import asyncio

from dd_core.client import ModelClient
from dd_core.config import ModelConfig, Pipeline, ProviderConfig, RunSettings
from dd_core.errors import RateLimitError
from dd_core.throttle import ThrottleManager
from mock_provider import MockProvider

CAP = 4
REQUESTS = 200


async def test_aimd_settles_near_the_providers_cap_and_leaves_nothing_behind() -> None:
    capped = {
        "default": {
            "latency": {"ttft": 0.02, "per_token": 0.0},
            "capacity": {"max_concurrency": CAP, "retry_after": 0.05},
        }
    }
    async with MockProvider(capped, seed=0) as mock:
        pipeline = Pipeline(
            columns=(),
            providers={"mock": ProviderConfig("mock", mock.base_url)},
            models={"writer": ModelConfig("writer", "mock", "m1", max_parallel_requests=16)},
            settings=RunSettings(retry_backoff_seconds=0.001),
        )
        throttle = ThrottleManager.for_pipeline(pipeline)
        deferrals = 0

        async def cell(index: int, client: ModelClient) -> str:
            nonlocal deferrals
            messages = [{"role": "user", "content": f"cell {index}"}]
            while True:
                try:
                    return (await client.chat("writer", messages, tag=f"c:{index}")).text
                except RateLimitError:
                    # The executor's deferral: call again; the throttle holds the call
                    # until its cooldown (the mock's Retry-After) is over.
                    deferrals += 1

        async with ModelClient(pipeline, throttle) as client:
            texts = await asyncio.wait_for(
                asyncio.gather(*(cell(i, client) for i in range(REQUESTS))), timeout=60
            )
        statuses = [r.status for r in mock.request_log.records()]

    snap = throttle.snapshot()["mock/m1/chat"]
    assert len(texts) == REQUESTS and all(texts)
    assert statuses.count(200) == REQUESTS
    assert statuses.count(429) == deferrals == client.counters["rate_limited"]
    # Cut from 16 to near the cap, then held there by the ceiling: 429s are a small share.
    assert CAP - 2 <= snap.limit <= CAP + 2
    assert snap.ceiling is not None and snap.ceiling <= CAP + 2
    assert snap.cuts >= 4
    assert deferrals < REQUESTS // 2
    assert (snap.in_flight, snap.waiters) == (0, 0)
    assert throttle.total_in_flight() == 0 and throttle.total_waiters() == 0
    limits = [e.limit for e in throttle.history if e.event == "cut"]
    assert limits[:4] == [12, 9, 6, 4]
