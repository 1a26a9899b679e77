"""A model of both executors: the ideal-schedule replay now, a SimPy simulator around it.

``ideal_report`` replays the latencies a provider actually served through a zero-overhead
schedule under the same caps, for async (cell-level list scheduling, critical path first)
and sync (column barrier, batch by batch); ``dag_spec`` builds its input from a pipeline.
"""

from __future__ import annotations

from dd_sim.dag import dag_spec, pool_key
from dd_sim.ideal import (
    CellWork,
    DagSpec,
    IdealReport,
    ideal_async,
    ideal_report,
    ideal_sync,
    simple_bound,
    work_from_request_log,
)

__all__ = [
    "CellWork",
    "DagSpec",
    "IdealReport",
    "dag_spec",
    "ideal_async",
    "ideal_report",
    "ideal_sync",
    "pool_key",
    "simple_bound",
    "work_from_request_log",
]
