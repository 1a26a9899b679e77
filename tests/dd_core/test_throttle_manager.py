"""ThrottleManager: FIFO permits, global caps, cooldown wake-ups, cancellation, leak checks."""

from __future__ import annotations

import asyncio
import logging

import pytest

from dd_core.config import ModelConfig, Pipeline, ProviderConfig, ThrottleSettings
from dd_core.errors import ConfigError, RateLimitError
from dd_core.throttle import ThrottleEvent, ThrottleManager


class ManualClock:
    """A clock that only moves when a test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def settle() -> None:
    """Let every ready task run until it blocks again."""
    for _ in range(5):
        await asyncio.sleep(0)


def manager(cap: int = 4, clock: ManualClock | None = None, **settings: float) -> ThrottleManager:
    return ThrottleManager(
        ThrottleSettings(**settings), {("p", "m"): cap}, clock=clock or ManualClock()
    )


def assert_clean(throttle: ThrottleManager) -> None:
    assert throttle.total_in_flight() == 0
    assert throttle.total_waiters() == 0
    for snap in throttle.snapshot().values():
        assert snap.in_flight == 0 and snap.waiters == 0


async def test_grants_up_to_the_limit_then_waits() -> None:
    throttle = manager(cap=3)
    permits = [await throttle.acquire("p", "m") for _ in range(3)]
    waiter = asyncio.create_task(throttle.acquire("p", "m"))
    await settle()

    assert not waiter.done()
    assert throttle.snapshot()["p/m/chat"].waiters == 1

    permits[0].release("success")
    await settle()
    assert waiter.done()
    waiter.result().release("success")
    for permit in permits[1:]:
        permit.release("success")
    assert_clean(throttle)


async def test_waiters_are_served_in_fifo_order() -> None:
    throttle = manager(cap=1)
    first = await throttle.acquire("p", "m")
    order: list[int] = []

    async def wait(index: int) -> None:
        permit = await throttle.acquire("p", "m")
        order.append(index)
        await asyncio.sleep(0)
        permit.release("success")

    tasks = []
    for index in range(6):
        tasks.append(asyncio.create_task(wait(index)))
        await asyncio.sleep(0)
    first.release("success")
    await asyncio.gather(*tasks)

    assert order == [0, 1, 2, 3, 4, 5]
    assert_clean(throttle)


async def test_a_new_caller_does_not_jump_the_queue() -> None:
    throttle = manager(cap=1)
    held = await throttle.acquire("p", "m")
    queued = asyncio.create_task(throttle.acquire("p", "m"))
    await settle()

    held.release("success")
    # The slot now belongs to the queued waiter, even before it runs.
    late = asyncio.create_task(throttle.acquire("p", "m"))
    await settle()
    assert queued.done() and not late.done()

    queued.result().release("success")
    await settle()
    late.result().release("success")
    assert_clean(throttle)


async def test_a_new_caller_waits_behind_a_waiter_whose_cooldown_just_ended() -> None:
    clock = ManualClock()
    throttle = manager(cap=4, clock=clock)
    (await throttle.acquire("p", "m")).release("rate_limited")
    queued = asyncio.create_task(throttle.acquire("p", "m"))
    await settle()

    clock.advance(2.5)  # the cooldown is over, but no timer has fired yet
    late = asyncio.create_task(throttle.acquire("p", "m"))
    await settle()
    assert not queued.done() and not late.done()

    throttle.wake()
    await settle()
    assert queued.done() and late.done()
    grants = [e for e in throttle.history if e.event == "grant"]
    assert grants[-2].in_flight == 1 and grants[-1].in_flight == 2
    queued.result().release("success")
    late.result().release("success")
    assert_clean(throttle)


async def test_global_cap_is_shared_across_domains() -> None:
    throttle = manager(cap=2)
    chat = await throttle.acquire("p", "m", "chat")
    embedding = await throttle.acquire("p", "m", "embedding")
    blocked = asyncio.create_task(throttle.acquire("p", "m", "chat"))
    blocked_too = asyncio.create_task(throttle.acquire("p", "m", "embedding"))
    await settle()
    assert not blocked.done() and not blocked_too.done()

    # The freed global slot goes to the oldest waiter, whatever its domain.
    embedding.release("success")
    await settle()
    assert blocked.done() and not blocked_too.done()

    chat.release("success")
    await settle()
    assert blocked_too.done()
    blocked.result().release("success")
    blocked_too.result().release("success")
    assert set(throttle.snapshot()) == {"p/m/chat", "p/m/embedding"}
    assert_clean(throttle)


async def test_a_cut_holds_new_permits_until_in_flight_drops_below_it() -> None:
    clock = ManualClock()
    throttle = manager(cap=8, clock=clock, cooldown_seconds=0.0)
    permits = [await throttle.acquire("p", "m") for _ in range(8)]

    permits.pop().release("rate_limited")  # limit 8 -> 6, 7 in flight
    assert throttle.snapshot()["p/m/chat"].limit == 6
    waiter = asyncio.create_task(throttle.acquire("p", "m"))
    await settle()

    permits.pop().release("success")  # 6 in flight: still not below 6
    await settle()
    assert not waiter.done()
    permits.pop().release("success")  # 5 in flight
    await settle()
    assert waiter.done()

    waiter.result().release("success")
    for permit in permits:
        permit.release("success")
    assert_clean(throttle)


async def test_cooldown_blocks_until_its_end_default_vs_retry_after() -> None:
    clock = ManualClock()
    throttle = manager(cap=4, clock=clock)

    (await throttle.acquire("p", "m")).release("rate_limited")  # default: 2 s
    assert throttle.snapshot()["p/m/chat"].cooldown_until == pytest.approx(clock.now + 2.0)
    waiter = asyncio.create_task(throttle.acquire("p", "m"))
    clock.advance(1.9)
    throttle.wake()
    await settle()
    assert not waiter.done()
    clock.advance(0.2)
    throttle.wake()
    await settle()
    assert waiter.done()
    waiter.result().release("success")

    (await throttle.acquire("p", "m")).release("rate_limited", retry_after=7.0)
    waiter = asyncio.create_task(throttle.acquire("p", "m"))
    clock.advance(6.5)
    throttle.wake()
    await settle()
    assert not waiter.done()
    clock.advance(1.0)
    throttle.wake()
    await settle()
    waiter.result().release("success")
    assert_clean(throttle)


async def test_cooldown_end_wakes_waiters_by_itself() -> None:
    # Real clock: the manager must arm a timer; nobody calls wake().
    throttle = ThrottleManager(ThrottleSettings(cooldown_seconds=0.05), {("p", "m"): 2})
    (await throttle.acquire("p", "m")).release("rate_limited")

    permit = await asyncio.wait_for(throttle.acquire("p", "m"), timeout=5.0)

    assert not throttle.controller("p", "m").in_cooldown(throttle.clock())
    permit.release("success")
    assert_clean(throttle)


async def test_ramp_steps_wake_waiters_by_themselves() -> None:
    throttle = ThrottleManager(ThrottleSettings(rampup_seconds=0.2), {("p", "m"): 3})
    permits = [await throttle.acquire("p", "m")]
    assert throttle.snapshot()["p/m/chat"].limit == 1

    for _ in range(2):
        permits.append(await asyncio.wait_for(throttle.acquire("p", "m"), timeout=5.0))

    assert throttle.snapshot()["p/m/chat"].in_flight == 3
    for permit in permits:
        permit.release("success")
    assert_clean(throttle)


async def test_cancelled_waiter_leaves_no_entry() -> None:
    throttle = manager(cap=1)
    held = await throttle.acquire("p", "m")
    waiters = [asyncio.create_task(throttle.acquire("p", "m")) for _ in range(3)]
    await settle()

    waiters[1].cancel()
    await settle()
    assert throttle.total_waiters() == 2

    held.release("success")
    await settle()
    assert waiters[0].done() and not waiters[2].done()
    waiters[0].result().release("success")
    await settle()
    waiters[2].result().release("success")
    assert waiters[1].cancelled()
    assert_clean(throttle)


async def test_granted_then_cancelled_waiter_gives_the_permit_back() -> None:
    throttle = manager(cap=1)
    held = await throttle.acquire("p", "m")
    waiter = asyncio.create_task(throttle.acquire("p", "m"))
    await settle()

    held.release("success")  # grants the waiter's future...
    waiter.cancel()  # ...but the task is cancelled before it can resume
    with pytest.raises(asyncio.CancelledError):
        await waiter

    assert_clean(throttle)
    again = await asyncio.wait_for(throttle.acquire("p", "m"), timeout=1.0)
    again.release("success")


async def test_cancelled_then_dispatched_waiter_is_skipped() -> None:
    throttle = manager(cap=1)
    held = await throttle.acquire("p", "m")
    cancelled = asyncio.create_task(throttle.acquire("p", "m"))
    after = asyncio.create_task(throttle.acquire("p", "m"))
    await settle()

    cancelled.cancel()  # its future is cancelled now, its task has not run yet
    held.release("success")
    await settle()

    assert cancelled.cancelled()
    assert after.done()
    after.result().release("success")
    assert_clean(throttle)


async def test_double_release_raises() -> None:
    throttle = manager()
    permit = await throttle.acquire("p", "m")
    permit.release("success")
    with pytest.raises(RuntimeError, match="released twice"):
        permit.release("error")
    assert_clean(throttle)


async def test_unknown_outcome_and_unknown_model_are_errors() -> None:
    throttle = manager()
    permit = await throttle.acquire("p", "m")
    with pytest.raises(ValueError, match="outcome"):
        permit.release("ok")  # type: ignore[arg-type]
    permit.release("success")
    with pytest.raises(ConfigError, match="p/other"):
        await throttle.acquire("p", "other")


async def test_context_manager_releases_by_outcome() -> None:
    clock = ManualClock()
    throttle = manager(cap=8, clock=clock)
    async with throttle.permit("p", "m"):
        pass
    with pytest.raises(RateLimitError):
        async with throttle.permit("p", "m"):
            raise RateLimitError("slow down", retry_after=3.0)
    snap = throttle.snapshot()["p/m/chat"]
    assert (snap.limit, snap.cuts) == (6, 1)
    assert snap.cooldown_until == pytest.approx(clock.now + 3.0)

    clock.advance(3.0)
    with pytest.raises(KeyError):
        async with await throttle.acquire("p", "m"):
            raise KeyError("other failure")

    events = [event.event for event in throttle.history]
    assert events.count("cut") == 1 and events.count("error") == 1
    assert_clean(throttle)


async def test_error_outcome_changes_nothing() -> None:
    throttle = manager(cap=4, success_window=1)
    for _ in range(10):
        (await throttle.acquire("p", "m")).release("error")
    snap = throttle.snapshot()["p/m/chat"]
    assert (snap.limit, snap.cuts, snap.increases, snap.ceiling) == (4, 0, 0, None)


async def test_limit_changes_are_logged_once_and_recorded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[ThrottleEvent] = []
    throttle = ThrottleManager(
        ThrottleSettings(), {("p", "m"): 16}, clock=ManualClock(), on_event=seen.append
    )
    permits = [await throttle.acquire("p", "m") for _ in range(16)]

    with caplog.at_level(logging.INFO, logger="dd_core.throttle"):
        for permit in permits:
            permit.release("rate_limited")

    changes = [r for r in caplog.records if "limit" in r.getMessage()]
    assert len(changes) == 1
    assert "p/m/chat" in changes[0].getMessage() and "16 -> 12" in changes[0].getMessage()
    assert list(throttle.history) == seen
    assert [e.event for e in seen].count("grant") == 16
    assert [e.event for e in seen].count("cut") == 1


def test_history_is_bounded() -> None:
    throttle = ThrottleManager(ThrottleSettings(), {("p", "m"): 1}, history_limit=10)

    async def churn() -> None:
        for _ in range(50):
            (await throttle.acquire("p", "m")).release("success")

    asyncio.run(churn())
    assert len(throttle.history) == 10


def test_for_pipeline_takes_the_least_cap_of_shared_models() -> None:
    pipeline = Pipeline(
        columns=(),
        providers={"a": ProviderConfig("a", "http://x"), "b": ProviderConfig("b", "http://y")},
        models={
            "big": ModelConfig("big", "a", "m1", max_parallel_requests=16),
            "big-judge": ModelConfig("big-judge", "a", "m1", max_parallel_requests=6),
            "small": ModelConfig("small", "b", "m2", max_parallel_requests=9),
        },
    )
    throttle = ThrottleManager.for_pipeline(pipeline)
    assert throttle.caps == {("a", "m1"): 6, ("b", "m2"): 9}


async def test_many_concurrent_callers_leave_nothing_behind() -> None:
    throttle = manager(cap=5, success_window=3, cooldown_seconds=0.0)

    async def call(index: int) -> None:
        async with throttle.permit("p", "m", "chat" if index % 3 else "embedding"):
            await asyncio.sleep(0)
            if index % 7 == 0:
                raise RateLimitError("busy", retry_after=0.0)

    results = await asyncio.gather(*(call(i) for i in range(300)), return_exceptions=True)

    assert sum(isinstance(r, RateLimitError) for r in results) == 43
    assert_clean(throttle)
