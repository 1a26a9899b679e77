"""``simulate``: one simulated run of one engine on one workload, at either fidelity.

``fidelity="full"`` runs the SimPy model of the engine (``sync_engine``, ``async_engine``)
against the modelled provider, throttle and client: every rule, 429s, faults, self-hosted
queues, AIMD. ``fidelity="lean"`` runs ``dd_sim.lean``, a heap-based loop for the common
path only (a provider that never refuses, queues or fails, no throttle ramp, no
whole-column tasks, no deadline): there the throttle never moves off its cap and a
permit is a FIFO slot, which the loop models directly, tens of times faster, keeping
aggregates only. ``"auto"`` takes the lean loop whenever the workload allows it and no
traces are asked for. Both give the same answer where both
apply (``tests/dd_sim/test_sim_lean.py``).
"""

from __future__ import annotations

import logging

from dd_core.config import Pipeline
from dd_sim.async_engine import simulate_async
from dd_sim.run import SimResult, SimRun
from dd_sim.sync_engine import simulate_sync
from dd_sim.workload import SimOptions, SimWorkload
from mock_provider.profile import Profile, load_profile

log = logging.getLogger(__name__)

ENGINES: tuple[str, ...] = ("sync", "async")


def lean_applies(workload: SimWorkload) -> bool:
    """Whether the lean loop models this workload exactly (see the module docstring)."""
    settings = workload.pipeline.settings
    return not (
        workload.provider_limited
        or workload.ramps
        or any(c.whole_column for c in workload.columns.values())
        or settings.deadline_seconds is not None
    )


def simulate(
    pipeline: Pipeline | SimWorkload,
    profile: Profile | str | None = None,
    records: int = 10,
    *,
    engine: str = "async",
    seed: int | None = None,
    options: SimOptions | None = None,
) -> SimResult:
    """Simulate ``records`` rows of ``pipeline`` on ``engine`` against ``profile``.

    ``seed`` (default: the pipeline's) seeds every draw; the same arguments give the same
    result. ``pipeline`` may be a ``SimWorkload`` already compiled, for sweeps.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine = {engine!r}; expected one of {', '.join(ENGINES)}")
    options = options or SimOptions()
    if isinstance(pipeline, SimWorkload):
        workload = pipeline
    else:
        workload = SimWorkload(pipeline, load_profile(profile))
    seed = workload.pipeline.settings.seed if seed is None else seed

    fidelity = options.fidelity
    if fidelity == "auto":
        fidelity = "lean" if lean_applies(workload) and not options.tracing else "full"
    if fidelity == "lean":
        if not lean_applies(workload):
            raise ValueError(
                "fidelity = 'lean' needs a provider that never refuses, queues or fails, no "
                "throttle ramp, no whole-column task and no deadline; use 'full' or 'auto'"
            )
        from dd_sim.lean import simulate_lean

        return simulate_lean(workload, records, seed, options, engine)

    run = SimRun(workload, records, seed, options)
    result = simulate_sync(run) if engine == "sync" else simulate_async(run)
    log.debug(
        "simulated %s on %s: %d records in %.3f s (full)",
        engine,
        workload.pipeline.name,
        records,
        result.wall_seconds,
    )
    return result
