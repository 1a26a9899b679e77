"""ModelClient against the real mock provider on loopback: answers, errors, retries, tags."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from dd_core.client import CallTrace, ModelClient, parse_retry_after
from dd_core.config import ModelConfig, Pipeline, ProviderConfig, RunSettings
from dd_core.errors import (
    BadResponseError,
    RateLimitError,
    RequestTimeoutError,
    TransportError,
)
from dd_core.throttle import ThrottleManager
from mock_provider import MockProvider

HELLO = [{"role": "user", "content": "Say something about owls."}]


def pipeline_for(
    base_url: str,
    *,
    max_parallel_requests: int = 4,
    api_key_env: str | None = None,
    inference: Mapping[str, Any] | None = None,
    **settings: Any,
) -> Pipeline:
    settings.setdefault("retry_backoff_seconds", 0.001)
    return Pipeline(
        columns=(),
        providers={"mock": ProviderConfig("mock", base_url, api_key_env)},
        models={
            "writer": ModelConfig(
                "writer", "mock", "m1", max_parallel_requests, inference=inference or {}
            )
        },
        settings=RunSettings(**settings),
    )


def profile(**model: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"latency": {"ttft": 0.0, "per_token": 0.0}}
    base.update(model)
    return {"default": base}


def assert_clean(throttle: ThrottleManager) -> None:
    assert throttle.total_in_flight() == 0
    assert throttle.total_waiters() == 0


async def test_success_returns_a_chat_response_and_fills_the_trace() -> None:
    async with MockProvider(profile(), seed=0) as mock:
        pipeline = pipeline_for(mock.base_url, inference={"max_tokens": 7})
        throttle = ThrottleManager.for_pipeline(pipeline)
        trace = CallTrace()
        async with ModelClient(pipeline, throttle) as client:
            response = await client.chat("writer", HELLO, tag="summary:3", trace=trace)

        records = mock.request_log.records()

    assert response.text and response.model == "m1"
    assert response.attempts == 1
    assert response.completion_tokens == 7  # max_tokens from the alias's inference
    assert response.prompt_tokens > 0 and response.latency >= 0
    assert trace.attempts == 1 and not trace.rate_limited
    times = (trace.throttle_acquired, trace.request_start, trace.request_end)
    assert None not in times and list(times) == sorted(times)
    assert client.counters == {
        "requests": 1,
        "rate_limited": 0,
        "transport_retries": 0,
        "timeouts": 0,
        "errors": 0,
    }
    assert [(r.tag, r.status, r.model) for r in records] == [("summary:3", 200, "m1")]
    assert_clean(throttle)


async def test_bearer_key_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_TEST_KEY", "sesame")
    async with MockProvider({**profile(), "api_key": "sesame"}, seed=0) as mock:
        keyed = pipeline_for(mock.base_url, api_key_env="DD_TEST_KEY")
        unkeyed = pipeline_for(mock.base_url, api_key_env="DD_TEST_KEY_UNSET")
        throttle = ThrottleManager.for_pipeline(keyed)
        async with ModelClient(keyed, throttle) as client:
            assert (await client.chat("writer", HELLO)).text
        async with ModelClient(unkeyed, throttle) as client:
            with pytest.raises(BadResponseError) as caught:
                await client.chat("writer", HELLO)
    assert caught.value.status == 401


async def test_429_raises_at_once_with_retry_after_and_releases_the_permit() -> None:
    capped = profile(
        latency={"ttft": 0.5, "per_token": 0.0},
        capacity={"max_concurrency": 1, "retry_after": 0.25},
    )
    async with MockProvider(capped, seed=0) as mock:
        pipeline = pipeline_for(mock.base_url)
        throttle = ThrottleManager.for_pipeline(pipeline)
        async with ModelClient(pipeline, throttle) as client:
            first = asyncio.create_task(client.chat("writer", HELLO, tag="a"))
            while mock.state.metrics.in_flight == 0:
                await asyncio.sleep(0.01)
            trace = CallTrace()
            with pytest.raises(RateLimitError) as caught:
                await client.chat("writer", [{"role": "user", "content": "x"}], trace=trace)
            assert throttle.total_in_flight() == 1  # only the first request holds a permit
            await first

    assert caught.value.retry_after == pytest.approx(0.25)
    assert caught.value.retryable
    assert trace.rate_limited and trace.attempts == 1
    assert client.counters["rate_limited"] == 1 and client.counters["transport_retries"] == 0
    snap = throttle.snapshot()["mock/m1/chat"]
    assert (snap.limit, snap.cuts) == (3, 1)
    assert_clean(throttle)


async def test_503_faults_are_retried_until_success() -> None:
    async with MockProvider(profile(faults={"error_503": 0.5}), seed=0) as mock:
        pipeline = pipeline_for(mock.base_url, max_transport_retries=8)
        throttle = ThrottleManager.for_pipeline(pipeline)
        async with ModelClient(pipeline, throttle) as client:
            responses = await asyncio.gather(
                *(
                    client.chat("writer", [{"role": "user", "content": f"fact {i}"}])
                    for i in range(20)
                )
            )
        statuses = [r.status for r in mock.request_log.records()]

    assert all(r.text for r in responses)
    retried = sum(r.attempts - 1 for r in responses)
    assert retried == statuses.count(503) == client.counters["transport_retries"] > 0
    assert client.counters["requests"] == len(statuses) == 20 + retried
    assert client.counters["errors"] == 0
    # A transport error is no rate-limit signal: the limit is untouched.
    assert throttle.snapshot()["mock/m1/chat"].cuts == 0
    assert_clean(throttle)


async def test_retries_give_up_with_transport_error() -> None:
    async with MockProvider(profile(faults={"error_502": 1.0}), seed=0) as mock:
        pipeline = pipeline_for(mock.base_url, max_transport_retries=2)
        throttle = ThrottleManager.for_pipeline(pipeline)
        async with ModelClient(pipeline, throttle) as client:
            with pytest.raises(TransportError) as caught:
                await client.chat("writer", HELLO)

        assert len(mock.request_log.records()) == 3
    assert caught.value.status == 502 and caught.value.retryable
    assert client.counters["errors"] == 1 and client.counters["transport_retries"] == 2
    assert_clean(throttle)


async def test_dropped_connection_is_a_retryable_transport_error() -> None:
    async with MockProvider(profile(faults={"drop": 1.0}), seed=0) as mock:
        pipeline = pipeline_for(mock.base_url, max_transport_retries=1)
        throttle = ThrottleManager.for_pipeline(pipeline)
        async with ModelClient(pipeline, throttle) as client:
            with pytest.raises(TransportError) as caught:
                await client.chat("writer", HELLO)
    assert caught.value.retryable and caught.value.status is None
    assert client.counters["requests"] == 2
    assert_clean(throttle)


async def test_hang_becomes_request_timeout_error() -> None:
    hanging = profile(faults={"hang": 1.0, "hang_seconds": 5.0})
    async with MockProvider(hanging, seed=0) as mock:
        pipeline = pipeline_for(mock.base_url, request_timeout=0.2, max_transport_retries=1)
        throttle = ThrottleManager.for_pipeline(pipeline)
        async with ModelClient(pipeline, throttle) as client:
            with pytest.raises(RequestTimeoutError) as caught:
                await client.chat("writer", HELLO)
    assert caught.value.retryable
    assert client.counters["timeouts"] == 2 and client.counters["requests"] == 2
    assert_clean(throttle)


async def test_400_is_a_non_retryable_bad_response() -> None:
    async with MockProvider(profile(), seed=0) as mock:
        pipeline = pipeline_for(mock.base_url)
        throttle = ThrottleManager.for_pipeline(pipeline)
        async with ModelClient(pipeline, throttle) as client:
            with pytest.raises(BadResponseError) as caught:
                await client.chat("writer", HELLO, response_format={"type": "bogus"})
    assert caught.value.status == 400 and not caught.value.retryable
    assert "response_format" in str(caught.value)
    assert client.counters["requests"] == 1 and client.counters["errors"] == 1
    assert_clean(throttle)


async def test_malformed_bodies_are_retried_then_bad_response() -> None:
    async with MockProvider(profile(faults={"malformed": 1.0}), seed=0) as mock:
        pipeline = pipeline_for(mock.base_url, max_transport_retries=2)
        throttle = ThrottleManager.for_pipeline(pipeline)
        async with ModelClient(pipeline, throttle) as client:
            with pytest.raises(BadResponseError) as caught:
                await client.chat("writer", HELLO)
    assert not caught.value.retryable and "malformed" in str(caught.value)
    assert client.counters["requests"] == 3
    assert_clean(throttle)


async def test_empty_content_is_returned_as_is() -> None:
    async with MockProvider(profile(faults={"empty": 1.0}), seed=0) as mock:
        pipeline = pipeline_for(mock.base_url)
        throttle = ThrottleManager.for_pipeline(pipeline)
        async with ModelClient(pipeline, throttle) as client:
            response = await client.chat("writer", HELLO)
    assert response.text == "" and response.attempts == 1


async def test_cancellation_mid_request_releases_the_permit() -> None:
    slow = profile(latency={"ttft": 5.0, "per_token": 0.0})
    async with MockProvider(slow, seed=0) as mock:
        pipeline = pipeline_for(mock.base_url)
        throttle = ThrottleManager.for_pipeline(pipeline)
        async with ModelClient(pipeline, throttle) as client:
            task = asyncio.create_task(client.chat("writer", HELLO))
            while throttle.total_in_flight() == 0:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert_clean(throttle)
            assert throttle.snapshot()["mock/m1/chat"].cuts == 0


def test_parse_retry_after_prefers_milliseconds_and_reads_dates() -> None:
    assert parse_retry_after({"Retry-After": "2", "retry-after-ms": "1250"}) == 1.25
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "soon"}) is None
    date = "Wed, 21 Oct 2015 07:28:10 GMT"
    assert parse_retry_after({"Retry-After": date}, now=1445412480.0) == pytest.approx(10.0)
    assert parse_retry_after({"Retry-After": date}, now=1445412500.0) == 0.0
