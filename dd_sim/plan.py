"""Capacity planning: predicted wall clock over seeds, and the concurrency a deadline needs.

``predict`` simulates each engine over several seeds (a seed is one draw of the
provider's latencies) and reports the spread, per-model utilisation and the share of
requests answered 429. ``plan_concurrency`` finds the smallest ``max_parallel_requests``
per model whose slowest seed still meets a deadline: one value for every model first
(doubling, then bisection), then each model lowered on its own (bisection) while the
deadline holds. The search assumes a longer wall clock never follows from more
concurrency; a profile where it does (a self-hosted server whose slowdown outgrows its
slots) may make the answer larger than the true smallest.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from dd_core.config import Pipeline
from dd_sim.simulate import simulate
from dd_sim.workload import SimOptions, SimWorkload
from mock_provider.profile import Profile

log = logging.getLogger(__name__)

#: The highest ``max_parallel_requests`` the search tries.
MAX_SEARCH_LIMIT = 4096
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr)?\s*$", re.I)
_UNIT = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}


def parse_duration(text: str) -> float:
    """``"90s"``, ``"15m"``, ``"2h"`` or plain seconds, as seconds; ``ValueError`` else."""
    match = _DURATION.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(
            f"duration {text!r}: expected a positive number with an optional unit "
            "s, m or h (e.g. 90s, 15m, 2h)"
        )
    unit = (match.group(2) or "s").lower()
    return float(match.group(1)) * _UNIT[unit]


@dataclass(frozen=True)
class Prediction:
    """One engine's predicted wall clock over seeds, and its per-model load."""

    engine: str
    walls: tuple[float, ...]
    #: Per model id: mean requests in service, that over the cap, and the 429 share.
    models: dict[str, dict[str, float]]

    @property
    def mean(self) -> float:
        return sum(self.walls) / len(self.walls)

    @property
    def low(self) -> float:
        return min(self.walls)

    @property
    def high(self) -> float:
        return max(self.walls)


@dataclass(frozen=True)
class ConcurrencyPlan:
    """The answer to "what concurrency meets this deadline?" for one engine."""

    engine: str
    deadline: float
    feasible: bool
    #: Model alias -> the smallest ``max_parallel_requests`` found (the tried maximum when
    #: infeasible).
    limits: dict[str, int]
    #: The slowest seed's wall clock at ``limits``.
    predicted: float
    statement: str


def predict(
    pipeline: Pipeline,
    profile: Profile,
    records: int,
    *,
    engines: Sequence[str] = ("sync", "async"),
    seeds: int = 5,
    options: SimOptions | None = None,
) -> dict[str, Prediction]:
    """Each engine simulated with seeds ``seed .. seed + seeds - 1``."""
    if seeds < 1:
        raise ValueError(f"seeds = {seeds!r}; at least one seed is needed")
    options = options or SimOptions(tracing=False)
    workload = SimWorkload(pipeline, profile)
    base = pipeline.settings.seed
    out = {}
    for engine in engines:
        walls = []
        totals: dict[str, dict[str, float]] = {}
        for seed in range(base, base + seeds):
            result = simulate(workload, records=records, engine=engine, seed=seed, options=options)
            walls.append(result.wall_seconds)
            for model, figures in result.utilisation().items():
                into = totals.setdefault(model, dict.fromkeys(figures, 0.0))
                for key, value in figures.items():
                    into[key] += value / seeds
        out[engine] = Prediction(engine, tuple(walls), totals)
    return out


def with_limits(pipeline: Pipeline, limits: dict[str, int]) -> Pipeline:
    """The pipeline with each named model's ``max_parallel_requests`` replaced."""
    models = {
        alias: dataclasses.replace(
            model, max_parallel_requests=limits.get(alias, model.max_parallel_requests)
        )
        for alias, model in pipeline.models.items()
    }
    return dataclasses.replace(pipeline, models=models)


def plan_concurrency(
    pipeline: Pipeline,
    profile: Profile,
    records: int,
    deadline: float,
    *,
    engine: str = "async",
    seeds: int = 3,
    options: SimOptions | None = None,
    max_limit: int = MAX_SEARCH_LIMIT,
) -> ConcurrencyPlan:
    """The smallest per-model ``max_parallel_requests`` meeting ``deadline``, or why not."""
    if not deadline > 0:
        raise ValueError(f"deadline = {deadline!r}; a deadline is > 0 seconds")
    aliases = sorted(pipeline.models)
    cache: dict[tuple[int, ...], float] = {}

    def slowest(limits: dict[str, int]) -> float:
        key = tuple(limits[a] for a in aliases)
        if key not in cache:
            walls = predict(
                with_limits(pipeline, limits),
                profile,
                records,
                engines=(engine,),
                seeds=seeds,
                options=options,
            )[engine].walls
            cache[key] = max(walls)
            log.debug("plan %s at %s: %.3f s", engine, key, cache[key])
        return cache[key]

    def uniform(k: int) -> dict[str, int]:
        return dict.fromkeys(aliases, k)

    k = 1
    while slowest(uniform(k)) > deadline:
        if k >= max_limit:
            return _infeasible(engine, deadline, uniform(k), slowest(uniform(k)), profile)
        k = min(2 * k, max_limit)

    low, high = k // 2 + 1 if k > 1 else 1, k
    while low < high:
        middle = (low + high) // 2
        if slowest(uniform(middle)) <= deadline:
            high = middle
        else:
            low = middle + 1
    limits = uniform(high)

    for alias in aliases:
        low, high = 1, limits[alias]
        while low < high:
            middle = (low + high) // 2
            trial = {**limits, alias: middle}
            if slowest(trial) <= deadline:
                high = middle
            else:
                low = middle + 1
        limits[alias] = high

    predicted = slowest(limits)
    wanted = ", ".join(f"{alias}={limits[alias]}" for alias in aliases)
    statement = (
        f"{engine}: max_parallel_requests {wanted} meets {_clock(deadline)} "
        f"(slowest of {seeds} seeds: {_clock(predicted)})"
    )
    return ConcurrencyPlan(engine, deadline, True, limits, predicted, statement)


def _infeasible(
    engine: str, deadline: float, limits: dict[str, int], predicted: float, profile: Profile
) -> ConcurrencyPlan:
    limits_text = provider_limits(profile) or "the latency alone"
    statement = (
        f"{engine}: impossible: even at max_parallel_requests {max(limits.values())} for every "
        f"model the prediction is {_clock(predicted)}, over the deadline {_clock(deadline)}; "
        f"the provider's limits ({limits_text}) bound the run"
    )
    return ConcurrencyPlan(engine, deadline, False, limits, predicted, statement)


def provider_limits(profile: Profile) -> str:
    """The profile's limits in a phrase: caps, buckets and self-hosted slots per scope."""
    parts = []
    scopes = [("server", profile.server), ("default", profile.default.capacity)]
    scopes += [(name, model.capacity) for name, model in sorted(profile.models.items())]
    for name, capacity in scopes:
        found = []
        if capacity.max_concurrency is not None:
            found.append(f"max_concurrency {capacity.max_concurrency}")
        if capacity.rpm is not None:
            found.append(f"rpm {capacity.rpm:g}")
        if capacity.tpm is not None:
            found.append(f"tpm {capacity.tpm:g}")
        if capacity.self_hosted is not None:
            found.append(f"{capacity.self_hosted.slots} self-hosted slots")
        if found:
            parts.append(f"{name}: {', '.join(found)}")
    return "; ".join(parts)


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "never"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"
