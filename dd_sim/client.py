"""The model client on a SimPy clock: a throttle permit per attempt, transport retries.

It follows ``dd_core.client.ModelClient``: every attempt takes a permit of the column's
(provider, model) pool and releases it with the outcome; a 429 is handed straight back
(the executor defers the task, the throttle paces the next try); a retryable transport
failure (5xx, a hang, a dropped connection, a malformed body) is retried up to
``max_transport_retries`` times after ``retry_backoff_seconds * 2**k`` of full jitter,
each with a fresh permit; what is left after the last retry is a retryable failure, and a
bad response is a non-retryable one. The jitter comes from a generator seeded by the
run's seed, so a run replays exactly.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any

import simpy

from dd_core.config import RunSettings
from dd_core.results import TaskRecord
from dd_sim.provider import SimProvider
from dd_sim.sampling import ServiceSampler
from dd_sim.throttle import SimThrottle
from dd_sim.workload import ColumnSpec

#: What a call ends with, as the executors see it.
CALL_OK = "ok"
CALL_RATE_LIMITED = "rate_limited"
CALL_RETRYABLE = "transport"
CALL_BAD = "bad"

_THROTTLE_OUTCOME = {"ok": "success", "rate_limited": "rate_limited"}


class SimClient:
    """``call`` is one model call of one cell, as a SimPy sub-process."""

    def __init__(
        self,
        env: simpy.Environment,
        settings: RunSettings,
        throttle: SimThrottle,
        provider: SimProvider,
        sampler: ServiceSampler,
        overhead: float,
    ) -> None:
        self.env = env
        self.settings = settings
        self.throttle = throttle
        self.provider = provider
        self.sampler = sampler
        self.overhead = overhead
        self.jitter = random.Random(settings.seed)
        self.counters = dict.fromkeys(
            ("requests", "rate_limited", "transport_retries", "timeouts", "errors"), 0
        )

    def call(
        self, column: ColumnSpec, row: int, record: TaskRecord | None, call: int = 0
    ) -> Generator[simpy.Event, Any, tuple[str, float | None]]:
        """(outcome, retry_after) of one call; fills the task's trace when given one."""
        env = self.env
        plan = self.sampler.service(column.name, row, call)
        tag = f"{column.name}:{row}"
        cell = (column.name, row, call)

        def fault_of(sighting: int) -> str | None:
            return self.sampler.fault(column.name, row, sighting)

        attempt = 0
        while True:
            yield self.throttle.acquire(column.pool)
            if record is not None:
                record.attempts += 1
                if record.throttle_acquired is None:
                    record.throttle_acquired = env.now
            self.counters["requests"] += 1
            if self.overhead:
                yield env.timeout(self.overhead)
            served = yield from self.provider.serve(
                column.model, tag, cell, plan, column.prompt_tokens, fault_of
            )
            if record is not None:
                if record.request_start is None:
                    record.request_start = served.start
                record.request_end = served.end
            outcome = _THROTTLE_OUTCOME.get(served.outcome, "error")
            self.throttle.release(column.pool, outcome, served.retry_after)

            if served.outcome == "ok":
                return CALL_OK, None
            if served.outcome == "rate_limited":
                self.counters["rate_limited"] += 1
                return CALL_RATE_LIMITED, served.retry_after
            if served.outcome == "bad":
                self.counters["errors"] += 1
                return CALL_BAD, None
            if served.status == 0 and served.end > served.start:
                self.counters["timeouts"] += 1
            if attempt >= self.settings.max_transport_retries:
                self.counters["errors"] += 1
                return CALL_RETRYABLE, None
            backoff = self.settings.retry_backoff_seconds * 2**attempt
            attempt += 1
            self.counters["transport_retries"] += 1
            yield env.timeout(self.jitter.uniform(0.0, backoff))
