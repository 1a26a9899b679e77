"""The cell-level engine: a frontier of ready cells per model lane, two pools, row groups.

It shares everything but scheduling with the sync executor (``common.open_run``: graph,
generators, throttle, client; ``common.traced_chat``, ``cell_inputs``, ``assemble_frame``),
so a measured speedup is the scheduling alone. The run itself is ``async_run._Run``, with
its row groups in ``async_groups`` and its ending in ``async_stop``.

Dispatch. A task is one cell, or one whole-column task per row group. A
``CompletionTracker`` per row group makes ready exactly the downstream cells whose inputs
are done. They wait in a ``LaneFrontier`` (``lanes``): one ``Frontier`` per model lane (the
(provider, model) pool a column calls) plus one for tasks that call no model, each ordered
by the dispatch policy (``critical_path`` by default, ``row_major`` for comparison). While a
submission slot is free, the loop takes the best head among the lanes below their cap
(default: twice the model's throttle cap); otherwise it awaits an event set when a slot
frees or a task becomes ready. It never polls and never blocks on one task's admission, and
one model's backlog never fills the LLM-wait pool while another model's cells are ready.

Pools (``pools``). ``submission_pool`` (default 256) caps dispatched tasks; ``llm_wait_pool``
(default ``max(256, 2 * sum of max_parallel_requests)``) holds tasks waiting on a model
call. Inside ``ctx.chat`` a task acquires an LLM-wait slot while still holding its
submission slot, then hands the submission slot back, so a task blocked in the throttle's
queue or cooldown never holds a dispatch slot. After the call the task keeps neither. Non-LLM
tasks keep their submission slot for their short run. Every slot, and every lane slot, is
given back exactly once, on every path, by its holder.

Faults. A 429 goes back to the frontier at once; its next throttle acquire waits out the
cooldown, and only ``deadline_seconds`` gives up on it. Other retryable errors (transport
errors after the client's retries, timeouts) are parked on their row group; when the group
stalls (nothing ready, nothing in flight) a salvage round puts them back, up to
``salvage_rounds`` rounds, and what still fails is dropped. A non-retryable error drops the
row and prunes its cells (queued ones leave the frontier, running ones are cancelled).
Only non-retryable outcomes feed the early-stop ``ErrorWindow``.

Known limits: once dispatched, a lane's tasks queue FIFO at the throttle, so up to a lane
cap's worth of early low-priority tasks can sit ahead of a later high-priority one; a
column calling several models is in its first model's lane; cancelling a sync custom
generator cancels its await, not its worker thread, which runs to its end; traces (one
``TaskRecord`` per task) grow with the run, so pass ``tracing=False`` for very large runs.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from dd_core.config import Pipeline
from dd_core.executors.async_run import _Run
from dd_core.executors.async_stop import ENGINE
from dd_core.executors.common import NullObserver, RunObserver, engine_cpu_seconds, open_run
from dd_core.executors.frontier import DISPATCH_POLICIES
from dd_core.executors.pools import DEFAULT_LLM_WAIT_FLOOR, DEFAULT_SUBMISSION_POOL, pool_sizes
from dd_core.results import RunResult

__all__ = [
    "DEFAULT_LLM_WAIT_FLOOR",
    "DEFAULT_SUBMISSION_POOL",
    "ENGINE",
    "AsyncExecutor",
    "pool_sizes",
    "run_async_pipeline",
]


class AsyncExecutor:
    """Run a pipeline cell by cell, with row groups written as they finish.

    ``out_dir=None`` keeps the rows in memory; otherwise each finished row group goes to
    ``out_dir/row_group_NNNNN.parquet`` (plus ``manifest.json`` and, with tracing,
    ``traces.parquet``) and the dataset is read back at the end. ``resume=True`` skips the
    groups already there. ``dispatch_policy`` overrides the frontier's order.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        out_dir: str | Path | None = None,
        tracing: bool = True,
        observer: RunObserver | None = None,
        dispatch_policy: str = "critical_path",
        resume: bool = False,
    ) -> None:
        if dispatch_policy not in DISPATCH_POLICIES:
            raise ValueError(
                f"dispatch_policy: unknown policy {dispatch_policy!r}; expected one of "
                f"{', '.join(DISPATCH_POLICIES)}"
            )
        if resume and out_dir is None:
            raise ValueError("resume=True needs an out_dir to resume from")
        pool_sizes(pipeline)
        self.pipeline = pipeline
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.tracing = tracing
        self.observer: RunObserver = observer or NullObserver()
        self.dispatch_policy = dispatch_policy
        self.resume = resume
        #: The latest run's result, set on every path (also when the run was cancelled).
        self.last_result: RunResult | None = None

    async def run(self, records: int) -> RunResult:
        """Generate ``records`` rows; cancelling this coroutine keeps finished row groups."""
        if records < 1:
            raise ValueError(f"records must be a positive integer, got {records}")

        started = time.time()
        cpu_start = engine_cpu_seconds()
        async with open_run(self.pipeline) as parts:
            run = _Run(self, parts, records)
            try:
                await run.execute()
            except asyncio.CancelledError:
                await run.shutdown("cancelled")
                self.last_result = run.result(started, cpu_start)
                raise
            except BaseException:
                await run.shutdown("failed")
                raise
            result = run.result(started, cpu_start)

        self.last_result = result
        return result


def run_async_pipeline(pipeline: Pipeline, records: int, **options: Any) -> RunResult:
    """Run the async executor from synchronous code; Ctrl-C returns the partial result."""
    executor = AsyncExecutor(pipeline, **options)
    try:
        return asyncio.run(executor.run(records))
    except KeyboardInterrupt:
        if executor.last_result is None:
            raise
        executor.last_result.stop_reason = "interrupted"
        return executor.last_result
