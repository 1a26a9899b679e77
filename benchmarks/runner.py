"""Paired trials: each workload run by each engine, alternated, against one provider.

A benchmark runs every workload with every engine ``trials`` times after ``warmup``
unmeasured runs. Engines alternate trial by trial (sync, async, then async, sync, ...) so
that drift, a warming cache or a noisy neighbour, hits both alike; trial *i* of each engine
makes the *i*-th pair of the speedup. Each trial keeps its wall clock, the engine's CPU
time, its counters, its dataset hash, its traces, the provider's request log for that trial,
and the ideal computed from the latencies the provider actually served.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.workloads import profile_for
from dd_core.config import Pipeline
from dd_core.graph import ExecutionGraph
from dd_core.results import RunResult, dataset_hash
from dd_sim.dag import dag_spec, pool_key
from dd_sim.ideal import IdealReport, ideal_report, work_from_request_log

log = logging.getLogger(__name__)

ENGINES: tuple[str, ...] = ("sync", "async")
#: How long a trial waits for the mock's request log to hold every request it sent.
LOG_SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class BenchmarkConfig:
    """What to run; the defaults are the dev note's set-up."""

    workloads: tuple[str, ...]
    engines: tuple[str, ...] = ENGINES
    records: int = 10
    trials: int = 4
    warmup: int = 1
    #: Every model's cap, or None to keep each workload's own.
    max_parallel_requests: int | None = None
    #: A profile for every workload instead of each workload's own.
    profile: Path | None = None
    #: A fixed latency forced on every model of the mock (the quick mode's short runs).
    latency: float | None = None
    #: Run against this endpoint instead of an embedded mock (no request log, no ideal).
    endpoint: str | None = None
    seed: int | None = None


@dataclass
class TrialRecord:
    """One timed run of one engine on one workload."""

    workload: str
    engine: str
    trial: int
    warmup: bool
    status: str = "ok"
    error: str | None = None
    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    rows_kept: int = 0
    rows_dropped: int = 0
    dataset_hash: str | None = None
    leak_free: bool | None = None
    stop_reason: str | None = None
    ideal_async: float | None = None
    ideal_sync: float | None = None
    simple_bound: float | None = None
    started: float | None = None
    finished: float | None = None

    @property
    def ideal(self) -> float | None:
        """The ideal of this trial's own engine."""
        return self.ideal_async if self.engine == "async" else self.ideal_sync

    @property
    def efficiency(self) -> float | None:
        """Ideal over measured: 1.0 is an engine with no overhead at all."""
        if self.ideal is None or not self.wall_seconds:
            return None
        return self.ideal / self.wall_seconds

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ideal": self.ideal, "efficiency": self.efficiency}


@dataclass
class TrialOutput:
    """A trial's record plus the bulky parts that go to Parquet, not to JSON."""

    record: TrialRecord
    traces: pd.DataFrame | None = None
    requests: pd.DataFrame | None = None
    throttle_events: pd.DataFrame | None = None


@dataclass
class WorkloadRun:
    """Every trial of one workload."""

    name: str
    pipeline: Pipeline
    profile_path: Path | None
    outputs: list[TrialOutput] = field(default_factory=list)

    def measured(self, engine: str) -> list[TrialRecord]:
        return [
            out.record
            for out in self.outputs
            if out.record.engine == engine and not out.record.warmup and out.record.status == "ok"
        ]


def trial_order(
    engines: tuple[str, ...], trials: int, warmup: int
) -> Iterator[tuple[str, int, bool]]:
    """(engine, trial index, is warm-up), warm-ups first, then engines alternated.

    With two engines and four trials: S A, A S, S A, A S (after one warm-up of each).
    """
    for index in range(warmup):
        for engine in engines:
            yield engine, index, True
    for index in range(trials):
        ordered = engines if index % 2 == 0 else tuple(reversed(engines))
        for engine in ordered:
            yield engine, index, False


ProgressFn = Callable[[TrialRecord], None]


def run_workload(
    name: str,
    pipeline: Pipeline,
    config: BenchmarkConfig,
    provider: Any | None,
    profile_path: Path | None,
    on_trial: ProgressFn | None = None,
) -> WorkloadRun:
    """Every trial of one workload against ``provider`` (an embedded mock) or an endpoint."""
    run = WorkloadRun(name=name, pipeline=pipeline, profile_path=profile_path)
    graph = ExecutionGraph.from_pipeline(pipeline)
    limits = provider_caps(pipeline, provider.provider.profile) if provider is not None else None
    spec = dag_spec(pipeline, graph, limits)

    for engine, index, warmup in trial_order(config.engines, config.trials, config.warmup):
        output = run_trial(name, pipeline, engine, index, warmup, config.records, provider)
        if provider is not None and output.requests is not None and output.record.status == "ok":
            attach_ideal(output, spec, config.records, pipeline.settings.buffer_size)
        run.outputs.append(output)
        if on_trial is not None:
            on_trial(output.record)
    return run


def provider_caps(pipeline: Pipeline, profile: Any) -> dict[str, int]:
    """Each model pool's concurrency limit at the provider, where its profile sets one.

    A concurrency cap answering 429 and a self-hosted server's slots both bound how many
    requests are served at once. Known limit: request and token buckets, and limits of the
    whole server shared by several models, are not turned into caps; where they bind, the
    ideal is optimistic and efficiency reads low.
    """
    caps: dict[str, int] = {}
    for model in pipeline.models.values():
        served = profile.model(model.model)
        if served is None:
            continue
        limits = [served.capacity.max_concurrency]
        if served.capacity.self_hosted is not None:
            limits.append(served.capacity.self_hosted.slots)
        known = [limit for limit in limits if limit is not None]
        if known:
            caps[pool_key(model.provider, model.model)] = min(known)
    return caps


def run_trial(
    workload: str,
    pipeline: Pipeline,
    engine: str,
    index: int,
    warmup: bool,
    records: int,
    provider: Any | None,
) -> TrialOutput:
    """One timed run; a failure is recorded with its error, not raised."""
    from benchmarks.generate_cmd import make_executor

    record = TrialRecord(workload=workload, engine=engine, trial=index, warmup=warmup)
    settle_garbage()
    mark = provider.request_log.mark() if provider is not None else 0
    record.started = time.time()
    try:
        result: RunResult = asyncio.run(make_executor(engine, pipeline).run(records))
    except Exception as exc:  # a failed trial is data: record it, the others go on
        record.status = "failed"
        record.error = f"{type(exc).__name__}: {exc}"
        record.finished = time.time()
        log.warning("trial %s/%s/%d failed: %s", workload, engine, index, record.error)
        return TrialOutput(record)

    fill_record(record, result)
    requests = None
    if provider is not None:
        requests = provider.request_log.to_frame(settled_requests(provider, mark, record.requests))
    return TrialOutput(
        record,
        traces=result.traces_frame(),
        requests=requests,
        throttle_events=result.throttle_events,
    )


def settle_garbage() -> None:
    """Collect now and freeze what survives, so no full collection lands inside a trial.

    A full collection walks every live object, and this process holds pandas, pyarrow,
    rich and the previous trials' results: over 100 ms, which fell, deterministically, in
    the same trial of every run. Frozen objects are never scanned again.
    """
    gc.collect()
    gc.freeze()


def settled_requests(
    provider: Any, mark: int, expected: int, timeout: float = LOG_SETTLE_SECONDS
) -> list:
    """The trial's request-log records, once all ``expected`` of them are in.

    The mock logs a request after its last byte is written, so the engine may hold the
    response before the record lands; wait (briefly, bounded) for the log to catch up.
    """
    deadline = time.monotonic() + timeout
    records = provider.request_log.since(mark)
    while len(records) < expected and time.monotonic() < deadline:
        time.sleep(0.005)
        records = provider.request_log.since(mark)
    if len(records) < expected:
        log.warning("request log has %d of %d requests of the trial", len(records), expected)
    return records


def fill_record(record: TrialRecord, result: RunResult) -> None:
    """Copy a run's figures into its trial record."""
    record.wall_seconds = result.wall_seconds
    record.cpu_seconds = result.cpu_seconds
    record.started = result.started
    record.finished = result.finished
    record.requests = result.counters.get("requests", 0)
    record.rate_limited = result.counters.get("rate_limited", 0)
    record.retries = result.counters.get("transport_retries", 0)
    record.rows_kept = result.rows_kept
    record.rows_dropped = result.rows_dropped
    record.dataset_hash = dataset_hash(result.dataset)
    record.leak_free = result.snapshot.is_clean
    record.stop_reason = result.stop_reason
    if result.stop_reason is not None:
        record.status = "stopped"


def attach_ideal(output: TrialOutput, spec: Any, records: int, buffer_size: int) -> None:
    """The ideal of both engines on the latencies this trial was served."""
    work = work_from_request_log(output.requests)
    report: IdealReport = ideal_report(spec, work, records, buffer_size)
    output.record.ideal_async = report.async_makespan
    output.record.ideal_sync = report.sync_makespan
    output.record.simple_bound = report.simple_bound


def describe_trial(record: TrialRecord) -> str:
    """One line a trial, for logs and non-terminal output."""
    phase = "warm-up" if record.warmup else f"trial {record.trial + 1}"
    if record.status == "failed":
        return f"{record.workload:<16} {record.engine:<5} {phase:<8} FAILED {record.error}"
    efficiency = f"{record.efficiency:.0%}" if record.efficiency is not None else "n/a"
    return (
        f"{record.workload:<16} {record.engine:<5} {phase:<8} "
        f"{record.wall_seconds:7.3f} s  eff {efficiency:>4}  "
        f"req {record.requests:<4} 429 {record.rate_limited:<3} hash {record.dataset_hash}"
    )


def resolve_profile(name: str, config: BenchmarkConfig) -> Path | None:
    """The profile file a workload runs with: the override, else the workload's own."""
    if config.profile is not None:
        return config.profile
    return profile_for(name)
