"""Adaptive concurrency per model: a pure AIMD controller and the asyncio permits built on it.

``AIMDController`` is a state machine with no clock of its own: every method takes ``now``,
so the async engine drives it with ``time.monotonic`` and the simulator (``dd_sim``) drives
the very same object on a SimPy clock. ``ThrottleManager`` keeps one controller per
(provider, model, domain), a global cap per (provider, model) shared by its domains, and
hands out ``Permit`` objects to coroutines in FIFO order. The rules are spelled out in
``docs/throttle.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from dd_core.config import ThrottleSettings
from dd_core.errors import ConfigError, RateLimitError

if TYPE_CHECKING:
    from dd_core.config import Pipeline

log = logging.getLogger(__name__)

Outcome = Literal["success", "rate_limited", "error"]
OUTCOMES: tuple[str, ...] = ("success", "rate_limited", "error")

#: Absorbs float error in ``floor(x * factor)``, so that 10 * 1.1 floors to 11, not 10.
_EPSILON = 1e-9


def _floor(value: float) -> int:
    return math.floor(value + _EPSILON)


@dataclass(frozen=True)
class LimitChange:
    """A move of a controller's limit, returned once so that the caller logs it once."""

    time: float
    old: int
    new: int
    #: "cut" (a 429) or "increase" (a full success window).
    reason: str
    cooldown_until: float


class AIMDController:
    """Additive-increase, multiplicative-decrease concurrency limit for one pool.

    - A 429 that opens a burst cuts the limit to ``floor(limit * reduce_factor)`` (never
      below 1) and starts a cooldown of ``retry_after`` seconds when the provider sent one,
      else ``cooldown_seconds``; the cooldown never shortens one already running.
    - Cascade dampening: a burst is the run of 429s between two successes. Only its first
      429 cuts; later ones (requests that were already in flight) change nothing but the
      success count.
    - Ceiling: the limit before the first cut becomes ``ceiling``; a later cut whose
      pre-cut limit is at or below the ceiling lowers the ceiling to that pre-cut limit.
      Increases stop at ``floor(ceiling * (1 + ceiling_overshoot))`` and at ``max_limit``.
    - After ``success_window`` successes in a row (any 429 breaks the row) the limit grows
      by ``additive_increase`` and the count restarts.
    - Ramp: with ``rampup_seconds > 0`` the limit climbs linearly from 1 at ``now`` (the
      start) to ``max_limit`` at ``now + rampup_seconds``. The ramp owns the limit while it
      lasts (successes do not add to it); the first 429 abandons it, and the ramp's value
      at that moment is what gets cut.
    """

    def __init__(self, max_limit: int, settings: ThrottleSettings, now: float) -> None:
        if max_limit < 1:
            raise ConfigError(f"max_limit must be >= 1, got {max_limit!r}")
        self.max_limit = max_limit
        self.settings = settings
        self.started = now
        self.cooldown_until: float = now
        self.ceiling: int | None = None
        self.cuts = 0
        self.increases = 0
        self._ramping = settings.rampup_seconds > 0 and max_limit > 1
        self._limit = 1 if self._ramping else max_limit
        self._successes = 0
        self._in_burst = False

    def limit(self, now: float) -> int:
        """The number of requests that may be in flight at ``now``."""
        if not self._ramping:
            return self._limit
        return self._ramp_value(now)

    def in_cooldown(self, now: float) -> bool:
        return now < self.cooldown_until

    def ramping(self, now: float) -> bool:
        """Whether the ramp still owns the limit at ``now``."""
        return self._ramping and now < self.started + self.settings.rampup_seconds

    def wake_time(self, now: float) -> float | None:
        """The next time the pool may admit more without a release: cooldown or ramp step."""
        if self.in_cooldown(now):
            return self.cooldown_until
        if not self.ramping(now):
            return None
        step = self.settings.rampup_seconds / (self.max_limit - 1)
        return self.started + self._ramp_value(now) * step

    def on_success(self, now: float) -> LimitChange | None:
        """A request succeeded: ends a burst, and may grow the limit."""
        self._in_burst = False
        if self._ramping:
            if self.ramping(now):
                return None
            self._ramping = False
            self._limit = self.max_limit

        self._successes += 1
        if self._successes < self.settings.success_window:
            return None
        self._successes = 0

        old = self._limit
        new = min(old + self.settings.additive_increase, self.increase_cap())
        if new <= old:
            return None
        self._limit = new
        self.increases += 1
        return LimitChange(now, old, new, "increase", self.cooldown_until)

    def on_rate_limit(self, now: float, retry_after: float | None) -> LimitChange | None:
        """A request got a 429: the first of a burst cuts the limit and starts a cooldown."""
        self._successes = 0
        if self._in_burst:
            return None
        self._in_burst = True

        old = self.limit(now)
        self._ramping = False
        if self.ceiling is None or old <= self.ceiling:
            self.ceiling = old
        new = max(1, _floor(old * self.settings.reduce_factor))
        self._limit = new
        self.cuts += 1
        pause = self.settings.cooldown_seconds if retry_after is None else max(0.0, retry_after)
        self.cooldown_until = max(self.cooldown_until, now + pause)
        if new == old:
            return None
        return LimitChange(now, old, new, "cut", self.cooldown_until)

    def increase_cap(self) -> int:
        """The highest limit additive increases may reach."""
        if self.ceiling is None:
            return self.max_limit
        overshoot = _floor(self.ceiling * (1 + self.settings.ceiling_overshoot))
        return min(self.max_limit, max(1, overshoot))

    def _ramp_value(self, now: float) -> int:
        elapsed = max(0.0, now - self.started)
        fraction = min(1.0, elapsed / self.settings.rampup_seconds)
        return min(self.max_limit, 1 + _floor((self.max_limit - 1) * fraction))


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
