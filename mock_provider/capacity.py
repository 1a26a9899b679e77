"""Capacity: concurrency caps, request and token buckets, and the self-hosted slot queue.

A ``Scope`` holds the limits of one model or of the whole server. Admission checks every
scope a request falls under and commits to none unless all accept, so a 429 leaves no
trace in any bucket and consumes no service time. The bucket arithmetic is exposed as pure
functions (``refill``, ``wait_for``) for the simulator.

Known limit: a request asking for more tokens than a whole token bucket holds is admitted
when the bucket is full and drives it negative, rather than being refused for ever.
"""

from __future__ import annotations

import asyncio
import collections
import math
from collections.abc import Sequence
from dataclasses import dataclass

from mock_provider.profile import CapacityProfile


def refill(level: float, capacity: float, rate: float, elapsed: float) -> float:
    """The bucket's level after ``elapsed`` seconds of refilling at ``rate`` per second."""
    return min(capacity, level + rate * max(0.0, elapsed))


def wait_for(level: float, amount: float, capacity: float, rate: float) -> float:
    """Seconds until a bucket at ``level`` can pay ``amount`` (0 when it can now)."""
    needed = min(amount, capacity)
    if level >= needed:
        return 0.0
    return (needed - level) / rate


class TokenBucket:
    """A bucket of ``capacity`` units refilled at ``capacity / 60`` per second (per minute)."""

    __slots__ = ("capacity", "rate", "level", "stamp")

    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = per_minute
        self.rate = per_minute / 60.0
        self.level = per_minute
        self.stamp = now

    def wait(self, amount: float, now: float) -> float:
        self.level = refill(self.level, self.capacity, self.rate, now - self.stamp)
        self.stamp = now
        return wait_for(self.level, amount, self.capacity, self.rate)

    def take(self, amount: float) -> None:
        self.level -= amount

    def reset_seconds(self) -> float:
        """Seconds until the bucket is full again."""
        return max(0.0, (self.capacity - self.level) / self.rate)


class SlotQueue:
    """``slots`` servers with one FIFO queue: ``acquire`` returns the busy count it starts at."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.busy = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> int:
        if self.busy < self.slots and not self._waiters:
            self.busy += 1
            return self.busy
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            else:
                self._waiters.remove(waiter)
            raise
        return self.busy

    def release(self) -> None:
        # A freed slot passes straight to the oldest waiter, so busy stays the same.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.busy -= 1


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused: which limit, and when to retry."""

    limit: str
    scope: str
    retry_after: float


class Scope:
    """The live state of one ``CapacityProfile`` (a model's, or the server's)."""

    def __init__(self, name: str, profile: CapacityProfile, now: float) -> None:
        self.name = name
        self.profile = profile
        self.in_flight = 0
        self.requests = TokenBucket(profile.rpm, now) if profile.rpm else None
        self.tokens = TokenBucket(profile.tpm, now) if profile.tpm else None
        sh = profile.self_hosted
        self.slots = SlotQueue(sh.slots) if sh else None

    def check(self, tokens: int, now: float) -> Refusal | None:
        cap = self.profile.max_concurrency
        if cap is not None and self.in_flight >= cap:
            return Refusal("concurrency", self.name, self.profile.retry_after)
        if self.requests is not None:
            wait = self.requests.wait(1, now)
            if wait > 0:
                return Refusal("requests", self.name, wait)
        if self.tokens is not None:
            wait = self.tokens.wait(tokens, now)
            if wait > 0:
                return Refusal("tokens", self.name, wait)
        return None

    def commit(self, tokens: int) -> None:
        self.in_flight += 1
        if self.requests is not None:
            self.requests.take(1)
        if self.tokens is not None:
            self.tokens.take(tokens)

    def release(self) -> None:
        self.in_flight -= 1

    def headers(self) -> dict[str, str]:
        """OpenAI-style ``x-ratelimit-*`` headers for this scope's buckets."""
        out: dict[str, str] = {}
        for suffix, bucket in (("requests", self.requests), ("tokens", self.tokens)):
            if bucket is None:
                continue
            out[f"x-ratelimit-limit-{suffix}"] = str(int(bucket.capacity))
            out[f"x-ratelimit-remaining-{suffix}"] = str(max(0, math.floor(bucket.level)))
            out[f"x-ratelimit-reset-{suffix}"] = f"{bucket.reset_seconds():.3f}s"
        return out

    def snapshot(self) -> dict[str, object]:
        out: dict[str, object] = {"in_flight": self.in_flight}
        if self.profile.max_concurrency is not None:
            out["max_concurrency"] = self.profile.max_concurrency
        if self.requests is not None:
            out["requests_remaining"] = round(self.requests.level, 3)
        if self.tokens is not None:
            out["tokens_remaining"] = round(self.tokens.level, 3)
        if self.slots is not None:
            out["slots"] = self.slots.slots
            out["busy"] = self.slots.busy
            out["queued"] = self.slots.queued
        return out


def admit(scopes: Sequence[Scope], tokens: int, now: float) -> Refusal | None:
    """Admit a request into every scope, or refuse it touching none (longest wait wins)."""
    refusals = [r for r in (scope.check(tokens, now) for scope in scopes) if r is not None]
    if refusals:
        return max(refusals, key=lambda r: r.retry_after)
    for scope in scopes:
        scope.commit(tokens)
    return None
