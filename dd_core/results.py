"""What an executor (or the simulator) returns: the dataset, per-task records and counters.

Both executors and ``dd_sim`` fill the same objects, so the harness writes one artifact
shape for all three. Timestamps are ``time.time()`` seconds (simulated seconds for the
simulator), the clock the mock provider's request log uses too, so a task's trace and the
request it sent can be laid on one axis.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

#: Task statuses. ``dropped`` means its row was dropped because of this task (or an
#: upstream one: then ``error`` names the cause); ``skipped`` tasks never ran because
#: their row group was already on disk (resume) or the run stopped early.
TASK_STATUSES: tuple[str, ...] = ("ok", "dropped", "pruned", "skipped", "cancelled")


@dataclass
class TaskRecord:
    """One task's life: a cell (``row`` >= 0), or a whole-column task (``row`` == -1)."""

    column: str
    row: int
    row_group: int = 0
    status: str = "ok"
    attempts: int = 0
    model_calls: int = 0
    ready: float | None = None
    dispatched: float | None = None
    submission_acquired: float | None = None
    llm_wait_acquired: float | None = None
    throttle_acquired: float | None = None
    request_start: float | None = None
    request_end: float | None = None
    completed: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class LeakSnapshot:
    """Everything that must be zero when a run ends, on every path."""

    active_tasks: int = 0
    submission_held: int = 0
    llm_wait_held: int = 0
    #: Model-lane slots of the async dispatcher (tasks of one model dispatched, unfinished).
    lane_held: int = 0
    throttle_in_flight: int = 0
    throttle_waiters: int = 0

    @property
    def is_clean(self) -> bool:
        return not any(asdict(self).values())


@dataclass
class RunResult:
    """A finished run (complete, stopped early, or cancelled)."""

    engine: str
    dataset: pd.DataFrame
    tasks: list[TaskRecord] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    cpu_seconds: float = 0.0
    records_requested: int = 0
    rows_dropped: int = 0
    #: Why the run ended before every row was attempted; ``None`` for a complete run.
    stop_reason: str | None = None
    #: requests, rate_limited, transport_retries, deferred, salvage_rounds, ...
    counters: dict[str, int] = field(default_factory=dict)
    snapshot: LeakSnapshot = field(default_factory=LeakSnapshot)
    #: Throttle state per "provider/model/domain" at the end: limit, ceiling, ...
    throttle: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The throttle's history (time, key, limit, in_flight, event), for "AIMD over time".
    throttle_events: pd.DataFrame | None = None
    output_dir: Path | None = None

    @property
    def wall_seconds(self) -> float:
        return self.finished - self.started

    @property
    def rows_kept(self) -> int:
        return len(self.dataset)

    def traces_frame(self) -> pd.DataFrame:
        """The task records as a DataFrame, one row a task, in the order they were made."""
        columns = list(TaskRecord.__dataclass_fields__)
        return pd.DataFrame([asdict(task) for task in self.tasks], columns=columns)


def dataset_hash(frame: pd.DataFrame) -> str:
    """A stable digest of a dataset's rows, columns and values, for the correctness oracle.

    Two engines that produced the same dataset cell for cell (same rows in the same order,
    same values, same columns) get the same digest, whatever dtypes pandas inferred.
    """
    canonical = frame.to_json(orient="split", date_format="iso", default_handler=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
