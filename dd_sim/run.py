"""The parts a simulated run of either engine shares, and the result it returns.

Like ``dd_core.executors.common`` for the real engines: the clock, the throttle, the
provider, the client and the engine's CPU are built here once, so a simulated difference
between the engines is the scheduling alone. ``SimResult`` carries the same ``RunResult``
an executor returns (simulated seconds from 0), plus the request log and the per-model
and per-column aggregates the planner reads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import simpy

from dd_core.results import LeakSnapshot, RunResult, TaskRecord
from dd_sim.client import SimClient
from dd_sim.provider import ModelStats, SimProvider
from dd_sim.throttle import SimThrottle
from dd_sim.workload import EngineCpu, SimOptions, SimWorkload

log = logging.getLogger(__name__)

#: The placeholder every cell of a simulated dataset holds.
PLACEHOLDER = "<simulated>"


@dataclass
class ColumnSpan:
    """When a column's first task was dispatched and its last completed, and their count."""

    first: float = float("inf")
    last: float = 0.0
    tasks: int = 0

    def add(self, start: float, end: float) -> None:
        self.first = min(self.first, start)
        self.last = max(self.last, end)
        self.tasks += 1


@dataclass
class SimResult:
    """A simulated run: the executor-shaped result, the request log and aggregates."""

    run: RunResult
    requests: pd.DataFrame | None
    models: dict[str, ModelStats]
    caps: dict[str, int]
    spans: dict[str, ColumnSpan]
    fidelity: str
    #: Model id -> pool key, to relate request aggregates to caps.
    model_pools: dict[str, str] = field(default_factory=dict)

    @property
    def wall_seconds(self) -> float:
        return self.run.wall_seconds

    def utilisation(self) -> dict[str, dict[str, float]]:
        """Per model: mean requests in service, that over the pool's cap, and the 429 rate."""
        wall = self.wall_seconds or 1.0
        out = {}
        for model, stats in sorted(self.models.items()):
            cap = self.caps.get(self.model_pools.get(model, ""), 0)
            concurrency = stats.busy_seconds / wall
            out[model] = {
                "requests": float(stats.requests),
                "mean_concurrency": concurrency,
                "utilisation": concurrency / cap if cap else float("nan"),
                "rate_limited_share": stats.rate_limited / max(stats.requests, 1),
            }
        return out


class SimRun:
    """One simulated run's shared machinery."""

    def __init__(self, workload: SimWorkload, records: int, seed: int, options: SimOptions) -> None:
        if isinstance(records, bool) or not isinstance(records, int) or records < 1:
            raise ValueError(f"records = {records!r}; records is a positive integer")
        settings = workload.pipeline.settings
        self.workload = workload
        self.records = records
        self.seed = seed
        self.options = options
        self.settings = settings
        self.env = simpy.Environment()
        self.throttle = SimThrottle(
            self.env,
            settings.throttle,
            workload.caps,
            history_limit=100_000 if options.tracing else None,
        )
        self.provider = SimProvider(
            self.env,
            workload.profile,
            request_timeout=settings.request_timeout,
            keep_log=options.tracing,
        )
        self.sampler = workload.sampler(seed, options.served)
        self.client = SimClient(
            self.env,
            settings,
            self.throttle,
            self.provider,
            self.sampler,
            options.request_overhead_seconds,
        )
        self.cpu = EngineCpu(options.dispatch_seconds)
        self.tasks: list[TaskRecord] = []
        self.spans = {name: ColumnSpan() for name in workload.order}
        self.dropped: set[int] = set()
        self.done_ranges: list[tuple[int, int]] = []
        self.stop_reason: str | None = None

    def new_record(self, column: str, row: int, group: int, status: str) -> TaskRecord | None:
        """A trace record when tracing, else None (aggregates only)."""
        if not self.options.tracing:
            return None
        record = TaskRecord(column=column, row=row, row_group=group, status=status)
        self.tasks.append(record)
        return record

    def result(
        self,
        engine: str,
        counters: dict[str, int],
        snapshot: LeakSnapshot,
        finished: float,
        fidelity: str = "full",
    ) -> SimResult:
        counters = {**counters, **self.client.counters}
        dataset = placeholder_frame(self.workload, self.kept_rows())
        run = RunResult(
            engine=engine,
            dataset=dataset,
            tasks=self.tasks,
            started=0.0,
            finished=finished,
            cpu_seconds=self.cpu.busy_seconds,
            records_requested=self.records,
            rows_dropped=len(self.dropped),
            stop_reason=self.stop_reason,
            counters=counters,
            snapshot=snapshot,
            throttle=self.throttle.snapshot(),
            throttle_events=self.throttle.history_frame() if self.options.tracing else None,
        )
        requests = self.provider.request_log() if self.options.tracing else None
        return SimResult(
            run=run,
            requests=requests,
            models=self.provider.stats,
            caps=dict(self.workload.caps),
            spans=self.spans,
            fidelity=fidelity,
            model_pools=model_pools(self.workload),
        )

    def kept_rows(self) -> np.ndarray:
        parts = [np.arange(start, stop, dtype=np.int64) for start, stop in sorted(self.done_ranges)]
        rows = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        if self.dropped:
            rows = rows[~np.isin(rows, np.fromiter(self.dropped, dtype=np.int64))]
        return rows


def model_pools(workload: SimWorkload) -> dict[str, str]:
    return {c.model: c.pool for c in workload.columns.values() if c.model and c.pool}


def placeholder_frame(workload: SimWorkload, rows: np.ndarray) -> pd.DataFrame:
    """A dataset of the right shape (rows and declared columns) holding placeholders.

    The simulator produces no values; each column is a one-category ``Categorical``, one
    byte a cell, so a million-row frame stays small.
    """
    names = [out for column in workload.pipeline.columns for out in column.output_columns]
    codes = np.zeros(len(rows), dtype=np.int8)
    data: dict[str, Any] = {
        name: pd.Categorical.from_codes(codes, categories=[PLACEHOLDER]) for name in names
    }
    return pd.DataFrame(data, index=pd.Index(rows, name="row", dtype="int64"))
