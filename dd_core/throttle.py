"""Adaptive concurrency per model: asyncio permits built on the pure AIMD controller.

``AIMDController`` (``dd_core.aimd``, re-exported here) is a state machine with no clock of
its own; the simulator drives the same object on a SimPy clock. ``ThrottleManager`` keeps
one controller per (provider, model, domain), a global cap per (provider, model) shared by
its domains, and hands out ``Permit`` objects to coroutines in FIFO order. The rules are
spelled out in ``docs/throttle.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from dd_core.aimd import AIMDController, LimitChange
from dd_core.config import ThrottleSettings
from dd_core.errors import ConfigError, RateLimitError

if TYPE_CHECKING:
    from dd_core.config import Pipeline

log = logging.getLogger(__name__)

__all__ = [
    "OUTCOMES",
    "AIMDController",
    "LimitChange",
    "Outcome",
    "Permit",
    "ThrottleEvent",
    "ThrottleManager",
    "ThrottleSnapshot",
]

Outcome = Literal["success", "rate_limited", "error"]
OUTCOMES: tuple[str, ...] = ("success", "rate_limited", "error")


@dataclass(frozen=True)
class ThrottleSnapshot:
    """The state of one (provider, model, domain) pool at one moment."""

    limit: int
    in_flight: int
    waiters: int
    ceiling: int | None
    cooldown_until: float
    max_limit: int
    cuts: int
    increases: int


@dataclass(frozen=True)
class ThrottleEvent:
    """One point of the "AIMD over time" history; ``time`` is on the manager's clock.

    ``event`` is "grant", an outcome ("success", "rate_limited", "error"), "cut" or
    "increase"; ``limit`` and ``in_flight`` are the pool's values just after it.
    """

    time: float
    key: str
    limit: int
    in_flight: int
    event: str


@dataclass
class _Waiter:
    seq: int
    future: asyncio.Future[Permit]


@dataclass
class _Group:
    """The (provider, model) global cap, shared by every domain's pool."""

    cap: int
    in_flight: int = 0
    pools: list[_Pool] = field(default_factory=list)


@dataclass
class _Pool:
    key: str
    group: _Group
    controller: AIMDController
    in_flight: int = 0
    waiters: deque[_Waiter] = field(default_factory=deque)
    timer: asyncio.TimerHandle | None = None
    timer_at: float | None = None


class Permit:
    """The right to send one request; release it exactly once with the request's outcome."""

    def __init__(self, manager: ThrottleManager, pool: _Pool) -> None:
        self._manager = manager
        self._pool = pool
        self.released = False

    @property
    def key(self) -> str:
        return self._pool.key

    def release(self, outcome: Outcome, retry_after: float | None = None) -> None:
        """Give the slot back; "success" and "rate_limited" feed the AIMD controller."""
        if self.released:
            raise RuntimeError(f"permit for {self.key} released twice")
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        self.released = True
        self._manager._release(self._pool, outcome, retry_after)

    async def __aenter__(self) -> Permit:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.released:
            return
        if exc is None:
            self.release("success")
        elif isinstance(exc, RateLimitError):
            self.release("rate_limited", exc.retry_after)
        else:
            self.release("error")


class _PermitContext:
    """``async with manager.permit(...)``: acquire on entry, release by outcome on exit."""

    def __init__(self, manager: ThrottleManager, provider: str, model: str, domain: str):
        self._manager = manager
        self._args = (provider, model, domain)
        self._permit: Permit | None = None

    async def __aenter__(self) -> Permit:
        self._permit = await self._manager.acquire(*self._args)
        return self._permit

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._permit is not None
        await self._permit.__aexit__(exc_type, exc, tb)


class ThrottleManager:
    """FIFO permits per (provider, model, domain) under AIMD limits and a per-model cap.

    A waiter is granted a permit when its pool has fewer requests in flight than the
    controller's limit, the pool is not cooling down, and the (provider, model) group is
    below its cap. Waiters are futures woken by releases and by one timer per pool set at
    the end of a cooldown (or the next ramp step); nothing polls. Within a domain the order
    is strictly FIFO; across the domains of one group, a freed global slot goes to the
    oldest waiter whose own pool can take it.

    ``history`` keeps the last ``history_limit`` ``ThrottleEvent`` objects (one per grant,
    release and limit change); ``on_event`` is called with each one as well.
    """

    def __init__(
        self,
        settings: ThrottleSettings,
        caps: Mapping[tuple[str, str], int],
        *,
        clock: Callable[[], float] = time.monotonic,
        history_limit: int = 100_000,
        on_event: Callable[[ThrottleEvent], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.history: deque[ThrottleEvent] = deque(maxlen=history_limit)
        self._on_event = on_event
        self._groups: dict[tuple[str, str], _Group] = {}
        for (provider, model), cap in caps.items():
            if cap < 1:
                raise ConfigError(f"cap for {provider}/{model} must be >= 1, got {cap!r}")
            self._groups[(provider, model)] = _Group(cap)
        self._pools: dict[tuple[str, str, str], _Pool] = {}
        self._seq = 0

    @classmethod
    def for_pipeline(
        cls, pipeline: Pipeline, *, clock: Callable[[], float] = time.monotonic
    ) -> ThrottleManager:
        """Caps from a pipeline: the least ``max_parallel_requests`` of aliases sharing one."""
        caps: dict[tuple[str, str], int] = {}
        for model in pipeline.models.values():
            key = (model.provider, model.model)
            limit = model.max_parallel_requests
            caps[key] = min(caps.get(key, limit), limit)
        return cls(pipeline.settings.throttle, caps, clock=clock)

    @property
    def caps(self) -> dict[tuple[str, str], int]:
        return {key: group.cap for key, group in self._groups.items()}

    async def acquire(self, provider: str, model: str, domain: str = "chat") -> Permit:
        """Wait for a permit; cancelling the wait leaves nothing behind."""
        pool = self._pool(provider, model, domain)
        if not pool.waiters and self._admits(pool, self.clock()):
            return self._grant(pool)

        future: asyncio.Future[Permit] = asyncio.get_running_loop().create_future()
        self._seq += 1
        waiter = _Waiter(self._seq, future)
        pool.waiters.append(waiter)
        self._arm_timer(pool, self.clock())
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                future.result().release("error")
            else:
                # _dispatch may already have dropped it, seeing the future cancelled.
                with contextlib.suppress(ValueError):
                    pool.waiters.remove(waiter)
                self._dispatch(pool.group)
            raise

    def permit(self, provider: str, model: str, domain: str = "chat") -> _PermitContext:
        """``async with manager.permit(p, m) as permit:``; exit releases by outcome."""
        return _PermitContext(self, provider, model, domain)

    def snapshot(self) -> dict[str, ThrottleSnapshot]:
        """Every pool created so far, keyed "provider/model/domain"."""
        now = self.clock()
        return {
            pool.key: ThrottleSnapshot(
                limit=pool.controller.limit(now),
                in_flight=pool.in_flight,
                waiters=len(pool.waiters),
                ceiling=pool.controller.ceiling,
                cooldown_until=pool.controller.cooldown_until,
                max_limit=pool.controller.max_limit,
                cuts=pool.controller.cuts,
                increases=pool.controller.increases,
            )
            for pool in self._pools.values()
        }

    def total_in_flight(self) -> int:
        return sum(pool.in_flight for pool in self._pools.values())

    def total_waiters(self) -> int:
        return sum(len(pool.waiters) for pool in self._pools.values())

    def wake(self) -> None:
        """Re-check every pool now: for a clock the event loop does not follow (a test's)."""
        for group in self._groups.values():
            self._dispatch(group)

    def controller(self, provider: str, model: str, domain: str = "chat") -> AIMDController:
        """The controller of one pool (created if needed), for inspection."""
        return self._pool(provider, model, domain).controller

    def _pool(self, provider: str, model: str, domain: str) -> _Pool:
        pool = self._pools.get((provider, model, domain))
        if pool is not None:
            return pool
        group = self._groups.get((provider, model))
        if group is None:
            known = ", ".join(f"{p}/{m}" for p, m in self._groups) or "none"
            raise ConfigError(f"no throttle cap for model {provider}/{model}; known: {known}")
        controller = AIMDController(group.cap, self.settings, self.clock())
        pool = _Pool(f"{provider}/{model}/{domain}", group, controller)
        group.pools.append(pool)
        self._pools[(provider, model, domain)] = pool
        return pool

    def _admits(self, pool: _Pool, now: float) -> bool:
        controller = pool.controller
        return (
            pool.group.in_flight < pool.group.cap
            and not controller.in_cooldown(now)
            and pool.in_flight < controller.limit(now)
        )

    def _grant(self, pool: _Pool) -> Permit:
        pool.in_flight += 1
        pool.group.in_flight += 1
        self._record(pool, "grant")
        return Permit(self, pool)

    def _release(self, pool: _Pool, outcome: Outcome, retry_after: float | None) -> None:
        pool.in_flight -= 1
        pool.group.in_flight -= 1
        now = self.clock()
        change = None
        if outcome == "success":
            change = pool.controller.on_success(now)
        elif outcome == "rate_limited":
            change = pool.controller.on_rate_limit(now, retry_after)
        self._record(pool, outcome)

        if change is not None:
            log.info(
                "throttle %s: limit %d -> %d (%s, cooldown %.2fs)",
                pool.key,
                change.old,
                change.new,
                change.reason,
                max(0.0, change.cooldown_until - now),
            )
            self._record(pool, change.reason)
        self._dispatch(pool.group)

    def _dispatch(self, group: _Group) -> None:
        """Grant permits to the oldest admissible waiters of a group until none fits."""
        now = self.clock()
        while group.in_flight < group.cap:
            candidates = [p for p in group.pools if p.waiters and self._admits(p, now)]
            if not candidates:
                break
            pool = min(candidates, key=lambda p: p.waiters[0].seq)
            waiter = pool.waiters.popleft()
            if waiter.future.done():
                continue
            waiter.future.set_result(self._grant(pool))
        for pool in group.pools:
            self._arm_timer(pool, now)

    def _arm_timer(self, pool: _Pool, now: float) -> None:
        """Wake the pool when its cooldown ends (or its ramp steps), if anyone waits."""
        wake = pool.controller.wake_time(now) if pool.waiters else None
        if wake == pool.timer_at:
            return
        if pool.timer is not None:
            pool.timer.cancel()
            pool.timer = pool.timer_at = None
        if wake is None:
            return
        loop = pool.waiters[0].future.get_loop()
        pool.timer = loop.call_later(max(0.0, wake - now), self._on_timer, pool)
        pool.timer_at = wake

    def _on_timer(self, pool: _Pool) -> None:
        pool.timer = pool.timer_at = None
        self._dispatch(pool.group)

    def _record(self, pool: _Pool, event: str) -> None:
        now = self.clock()
        item = ThrottleEvent(now, pool.key, pool.controller.limit(now), pool.in_flight, event)
        self.history.append(item)
        if self._on_event is not None:
            self._on_event(item)
