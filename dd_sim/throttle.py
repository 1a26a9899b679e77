"""The engine's adaptive throttle on a SimPy clock: ``AIMDController`` driven by ``env.now``.

The controller is dd_core's own object, not a copy, so every AIMD rule (cut, cooldown,
Retry-After, cascade dampening, ceiling, overshoot, success window, ramp) is the engine's.
What is rebuilt here is ``ThrottleManager``'s admission around it: FIFO waiters per pool,
a grant while the pool has fewer in flight than the controller's limit, is not cooling
down and its (provider, model) cap is not reached, and a timer at the end of a cooldown
(or the next ramp step) when anyone waits. The engines use one domain ("chat"), so a
pool and its (provider, model) group are one and the same here.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd
import simpy

from dd_core.config import ThrottleSettings
from dd_core.throttle import AIMDController

log = logging.getLogger(__name__)

DOMAIN = "chat"
HISTORY_COLUMNS = ["time", "key", "limit", "in_flight", "event"]


@dataclass
class _Pool:
    key: str
    cap: int
    controller: AIMDController
    in_flight: int = 0
    waiters: deque[simpy.Event] = field(default_factory=deque)
    timer_at: float | None = None


class SimThrottle:
    """Permits per pool under AIMD limits; ``acquire`` returns an event, ``release`` frees."""

    def __init__(
        self,
        env: simpy.Environment,
        settings: ThrottleSettings,
        caps: Mapping[str, int],
        *,
        history_limit: int | None = 100_000,
    ) -> None:
        self.env = env
        self.settings = settings
        self.pools = {
            key: _Pool(f"{key}/{DOMAIN}", cap, AIMDController(cap, settings, env.now))
            for key, cap in caps.items()
        }
        self.keep_history = bool(history_limit)
        self.history: deque[tuple[float, str, int, int, str]] = deque(maxlen=history_limit or 1)
        self.cuts = 0

    def acquire(self, key: str) -> simpy.Event:
        """An event that fires when a permit of pool ``key`` is granted."""
        pool = self.pools[key]
        event = self.env.event()
        if not pool.waiters and self._admits(pool):
            self._grant(pool)
            return event.succeed()
        pool.waiters.append(event)
        self._arm(pool)
        return event

    def release(self, key: str, outcome: str, retry_after: float | None = None) -> None:
        """Give a permit back with its outcome ("success", "rate_limited" or "error")."""
        pool = self.pools[key]
        pool.in_flight -= 1
        now = self.env.now
        change = None
        if outcome == "success":
            change = pool.controller.on_success(now)
        elif outcome == "rate_limited":
            change = pool.controller.on_rate_limit(now, retry_after)
        self._record(pool, outcome)
        if change is not None:
            if change.reason == "cut":
                self.cuts += 1
            old, new = change.old, change.new
            log.debug("sim throttle %s: %d -> %d (%s)", pool.key, old, new, change.reason)
            self._record(pool, change.reason)
        self._dispatch(pool)

    def in_flight(self) -> int:
        return sum(pool.in_flight for pool in self.pools.values())

    def waiters(self) -> int:
        return sum(len(pool.waiters) for pool in self.pools.values())

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Per pool, the fields of ``dd_core.throttle.ThrottleSnapshot``."""
        now = self.env.now
        return {
            pool.key: {
                "limit": pool.controller.limit(now),
                "in_flight": pool.in_flight,
                "waiters": len(pool.waiters),
                "ceiling": pool.controller.ceiling,
                "cooldown_until": pool.controller.cooldown_until,
                "max_limit": pool.controller.max_limit,
                "cuts": pool.controller.cuts,
                "increases": pool.controller.increases,
            }
            for pool in self.pools.values()
        }

    def history_frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.history), columns=HISTORY_COLUMNS)

    def _admits(self, pool: _Pool) -> bool:
        now = self.env.now
        controller = pool.controller
        return (
            pool.in_flight < pool.cap
            and not controller.in_cooldown(now)
            and pool.in_flight < controller.limit(now)
        )

    def _grant(self, pool: _Pool) -> None:
        pool.in_flight += 1
        self._record(pool, "grant")

    def _dispatch(self, pool: _Pool) -> None:
        while pool.waiters and self._admits(pool):
            self._grant(pool)
            pool.waiters.popleft().succeed()
        self._arm(pool)

    def _arm(self, pool: _Pool) -> None:
        """Wake the pool when its cooldown ends or its ramp steps, if anyone waits."""
        if not pool.waiters:
            return
        wake = pool.controller.wake_time(self.env.now)
        if wake is None or wake == pool.timer_at:
            return
        pool.timer_at = wake
        timer = self.env.timeout(max(0.0, wake - self.env.now))
        timer.callbacks.append(lambda _event, p=pool, at=wake: self._on_timer(p, at))

    def _on_timer(self, pool: _Pool, at: float) -> None:
        if pool.timer_at != at:
            return
        pool.timer_at = None
        self._dispatch(pool)

    def _record(self, pool: _Pool, event: str) -> None:
        if self.keep_history:
            now = self.env.now
            limit = pool.controller.limit(now)
            self.history.append((now, pool.key, limit, pool.in_flight, event))
