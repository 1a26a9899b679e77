"""The AIMD controller: one pool's concurrency limit as a pure state machine.

It has no clock of its own: every method takes ``now``, so the async engine drives it with
``time.monotonic`` (through ``dd_core.throttle.ThrottleManager``) and the simulator drives
the very same object on a SimPy clock. The rules are spelled out in ``docs/throttle.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dd_core.config import ThrottleSettings
from dd_core.errors import ConfigError

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
