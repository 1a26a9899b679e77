"""A model of both executors: the ideal-schedule replay, and a SimPy simulator around it.

``ideal_report`` replays the latencies a provider actually served through a zero-overhead
schedule under the same caps, for async (cell-level list scheduling, critical path first)
and sync (column barrier, batch by batch); ``dag_spec`` builds its input from a pipeline.
``simulate`` runs either engine's model against a modelled provider (docs/simulator.md);
``predict`` and ``plan_concurrency`` plan capacity; ``load_sweep`` and ``run_sweep`` run
what-if grids; ``random_pipeline`` makes seeded random DAGs.
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
from dd_sim.plan import ConcurrencyPlan, Prediction, parse_duration, plan_concurrency, predict
from dd_sim.random_dag import random_pipeline
from dd_sim.run import SimResult
from dd_sim.simulate import simulate
from dd_sim.sweep import Sweep, SweepError, load_sweep, run_sweep, summarise_sweep
from dd_sim.workload import SimOptions, SimWorkload

__all__ = [
    "CellWork",
    "ConcurrencyPlan",
    "Prediction",
    "SimOptions",
    "SimResult",
    "SimWorkload",
    "Sweep",
    "SweepError",
    "load_sweep",
    "parse_duration",
    "plan_concurrency",
    "predict",
    "random_pipeline",
    "run_sweep",
    "simulate",
    "summarise_sweep",
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
