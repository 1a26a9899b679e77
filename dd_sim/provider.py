"""The modelled provider: the mock's capacity, self-hosted queue and faults on a SimPy clock.

It is built from the same ``mock_provider.Profile`` the mock serves, and reuses the mock's
pure pieces (allowed: ``dd_sim`` may import ``mock_provider``'s pure modules for the
profile): ``capacity.Scope`` and ``capacity.admit`` for concurrency caps and the request
and token buckets (their arithmetic takes ``now``), ``latency.self_hosted_service`` for
the self-hosted service formula and ``faults.choose_fault`` (through ``sampling``) for
fault draws. Only the self-hosted slot queue is rebuilt, on SimPy events, with the same
FIFO hand-over as ``capacity.SlotQueue``.

A request goes as in the mock's handler: admission (a 429 at once, with the refusal's
retry-after, touching no bucket), the self-hosted queue, the fault draw, the service
time. Fault timings follow ``mock_provider.server``: a 5xx or a dropped connection
answers at once, a hang holds the request ``hang_seconds`` (or until the client's
``request_timeout``), ``malformed`` and ``empty`` take the full service time.

Known limit: prompt tokens (which only the token bucket reads) are estimated from the
prompt templates, not counted from rendered prompts.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import simpy

from mock_provider.capacity import Scope, admit
from mock_provider.latency import self_hosted_service
from mock_provider.profile import ModelProfile, Profile
from mock_provider.request_log import COLUMNS as REQUEST_LOG_COLUMNS

log = logging.getLogger(__name__)

OK = 200
RATE_LIMITED = 429
NO_RESPONSE = 0
_ERROR_STATUS = {"error_500": 500, "error_502": 502, "error_503": 503, "error_504": 504}

#: What the client makes of each fault: retried by its transport, or a bad response.
#: ``empty`` is a 200 whose text the generator rejects (a non-retryable failure).
FAULT_OUTCOME: dict[str, str] = {
    "error_500": "transport",
    "error_502": "transport",
    "error_503": "transport",
    "error_504": "transport",
    "hang": "transport",
    "drop": "transport",
    "malformed": "transport",
    "empty": "bad",
}


@dataclass(frozen=True)
class Served:
    """The provider's answer to one attempt, as the client sees it."""

    status: int
    #: "ok", "rate_limited", "transport" (the client may retry) or "bad" (non-retryable).
    outcome: str
    retry_after: float | None = None
    start: float = 0.0
    end: float = 0.0


@dataclass
class ModelStats:
    """Aggregates per model, kept whether or not the request log is."""

    requests: int = 0
    ok: int = 0
    rate_limited: int = 0
    faults: int = 0
    #: Seconds of service summed over requests (start to end), for utilisation.
    busy_seconds: float = 0.0
    tokens: int = 0
    first_arrival: float | None = None
    last_end: float = 0.0


class SlotQueue:
    """``slots`` servers with one FIFO queue on SimPy events; the value is the busy count."""

    def __init__(self, env: simpy.Environment, slots: int) -> None:
        self.env = env
        self.slots = slots
        self.busy = 0
        self._waiters: deque[simpy.Event] = deque()

    def acquire(self) -> simpy.Event:
        event = self.env.event()
        if self.busy < self.slots and not self._waiters:
            self.busy += 1
            return event.succeed(self.busy)
        self._waiters.append(event)
        return event

    def release(self) -> None:
        # A freed slot passes straight to the oldest waiter, so busy stays the same.
        if self._waiters:
            self._waiters.popleft().succeed(self.busy)
            return
        self.busy -= 1


@dataclass
class _ModelState:
    profile: ModelProfile
    scopes: list[Scope]
    slots: list[tuple[SlotQueue, float]] = field(default_factory=list)


class SimProvider:
    """One endpoint serving every model of a workload, as ``mock_provider`` would."""

    def __init__(
        self,
        env: simpy.Environment,
        profile: Profile,
        *,
        request_timeout: float = 60.0,
        keep_log: bool = True,
    ) -> None:
        self.env = env
        self.profile = profile
        self.request_timeout = request_timeout
        self.keep_log = keep_log
        self.log: list[tuple[Any, ...]] = []
        self.stats: dict[str, ModelStats] = {}
        self._server = Scope("server", profile.server, 0.0) if profile.server.limited else None
        self._server_slots = self._slots_of(profile.server)
        self._models: dict[str, _ModelState] = {}
        self._sightings: dict[tuple[str, int, int], int] = {}
        self._ids = itertools.count(1)

    def model_profile(self, model: str) -> ModelProfile:
        profile = self.profile.model(model)
        if profile is None:
            known = ", ".join(sorted(self.profile.models)) or "none"
            raise ValueError(
                f"profile.models: model {model!r} is not served (models_only is set); "
                f"served: {known}"
            )
        return profile

    def serve(
        self,
        model: str,
        tag: str,
        cell: tuple[str, int, int],
        plan: tuple[float, int],
        prompt_tokens: int,
        fault_of: Any,
    ) -> Generator[simpy.Event, Any, Served]:
        """One request, from arrival to its last byte; a SimPy sub-process.

        ``plan`` is the cell's (service seconds, completion tokens); ``fault_of(n)`` the
        fault of its n-th admitted sighting.
        """
        state = self._model(model)
        env = self.env
        arrival = env.now
        stats = self.stats.setdefault(model, ModelStats())
        stats.requests += 1
        if stats.first_arrival is None:
            stats.first_arrival = arrival
        service, completion = plan

        refusal = admit(state.scopes, prompt_tokens + completion, arrival)
        if refusal is not None:
            stats.rate_limited += 1
            self._log(model, tag, arrival, arrival, arrival, RATE_LIMITED, prompt_tokens, 0, None)
            return Served(RATE_LIMITED, "rate_limited", refusal.retry_after, arrival, arrival)

        busy, slowdown = 1, 0.0
        held = []
        for slots, scope_slowdown in state.slots:
            busy = yield slots.acquire()
            held.append(slots)
            slowdown = scope_slowdown
        start = env.now

        sighting = self._sightings.get(cell, 0)
        fault = fault_of(sighting)
        served = self._outcome(state.profile, fault, service, busy, slowdown, start)
        if served.end > start:
            yield env.timeout(served.end - start)
        for slots in reversed(held):
            slots.release()
        for scope in state.scopes:
            scope.release()

        tokens = completion if served.status == OK and fault != "empty" else 0
        if served.outcome == "ok":
            self._sightings.pop(cell, None)
            stats.ok += 1
        else:
            self._sightings[cell] = sighting + 1
        if fault is not None:
            stats.faults += 1
        stats.busy_seconds += served.end - start
        stats.tokens += tokens
        stats.last_end = served.end
        end, status = served.end, served.status
        self._log(model, tag, arrival, start, end, status, prompt_tokens, tokens, fault)
        return served

    def request_log(self) -> pd.DataFrame:
        """The request log in the mock's columns (simulated seconds from the run's start)."""
        return pd.DataFrame(self.log, columns=list(REQUEST_LOG_COLUMNS))

    def _outcome(
        self,
        profile: ModelProfile,
        fault: str | None,
        service: float,
        busy: int,
        slowdown: float,
        start: float,
    ) -> Served:
        full = self_hosted_service(service, busy, slowdown) if slowdown else service
        if fault is None:
            return Served(OK, "ok", None, start, start + full)
        if fault in _ERROR_STATUS:
            return Served(_ERROR_STATUS[fault], "transport", None, start, start)
        if fault == "hang":
            held = min(profile.faults.hang_seconds, self.request_timeout)
            return Served(NO_RESPONSE, "transport", None, start, start + held)
        if fault == "drop":
            return Served(NO_RESPONSE, "transport", None, start, start)
        return Served(OK, FAULT_OUTCOME[fault], None, start, start + full)

    def _model(self, model: str) -> _ModelState:
        state = self._models.get(model)
        if state is not None:
            return state
        profile = self.model_profile(model)
        capacity = profile.capacity
        scope = Scope(model, capacity, 0.0) if capacity.limited else None
        scopes = [s for s in (self._server, scope) if s is not None]
        slots = [*self._server_slots, *self._slots_of(capacity)]
        state = _ModelState(profile, scopes, slots)
        self._models[model] = state
        return state

    def _slots_of(self, capacity: Any) -> list[tuple[SlotQueue, float]]:
        hosted = capacity.self_hosted
        if hosted is None:
            return []
        return [(SlotQueue(self.env, hosted.slots), hosted.slowdown)]

    def _log(self, model: str, tag: str, *fields: Any) -> None:
        if self.keep_log:
            self.log.append((f"sim-{next(self._ids):09d}", model, tag, *fields))
