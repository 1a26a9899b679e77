"""How an async run ends: early stop, the deadline, cancellation, and its result.

A mixin of ``dd_core.executors.async_run._Run``. ``shutdown`` stops dispatch, cancels what
is in flight and waits for it, so every slot is given back by its holder before ``result``
takes the leak snapshot; row groups already written stay on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pandas as pd

from dd_core.errors import RunError
from dd_core.executors.common import assemble_frame, engine_cpu_seconds, throttle_state
from dd_core.results import LeakSnapshot, RunResult

log = logging.getLogger(__name__)

ENGINE = "async"


class StopMixin:
    """Stopping a run and building its result."""

    def _stop(self, reason: str) -> None:
        log.warning("run stopping: %s", reason)
        self.stop_reason = reason
        self.stopping = True
        self.pools.wake.set()

    def _on_deadline(self) -> None:
        """Give up on rate-limited tasks and on calls waiting out a cooldown.

        After the deadline a 429 drops its row, and a call to a model in cooldown is
        refused at once, so no task waits out another cooldown.
        """
        self.deadline_passed = True
        given_up = 0
        waiting = {task for task, alias in self.calling.items() if self._in_cooldown(alias)}
        for task in sorted(self.rate_limited | waiting, key=lambda t: (t.row_group, t.row)):
            state = self.groups.get(task.row_group)
            if state is None or task not in self.records_by_task:
                continue
            if not task.is_whole_column and not state.tracker.is_live(task.row):
                continue
            reason = RunError(f"deadline_seconds {self.settings.deadline_seconds} passed")
            self._drop_task_rows(task, state, self.records_by_task[task], reason)
            self._check_group(state)
            given_up += 1
        self.rate_limited.clear()
        self.counters["rate_limited_given_up"] += given_up
        log.warning(
            "deadline of %ss passed: gave up %d rate-limited tasks",
            self.settings.deadline_seconds,
            given_up,
        )

    async def shutdown(self, reason: str) -> None:
        """Stop dispatch, cancel what is in flight, release every slot; keep written groups."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stopping = True
        for task in self.frontier.clear():
            self._mark(task, "cancelled")
        for state in self.groups.values():
            for task in state.deferred:
                self._mark(task, "cancelled")
        running = list(self.running.items())
        for task, handle in running:
            handle.cancel()
            self._mark(task, "cancelled")
        if running:
            await asyncio.gather(*(handle for _, handle in running), return_exceptions=True)
        with contextlib.suppress(RunError):
            await self._drain_writes()

    # -- the result -----------------------------------------------------------------------

    def result(self, started: float, cpu_start: float) -> RunResult:
        """The run's result; ``shutdown`` must have run first when the run did not finish."""
        if self.stopping and self.running:
            raise RuntimeError("result() before shutdown(): tasks still running")
        if self.stopping:
            self.counters["row_groups_unfinished"] = len(self.groups)

        dataset = self._dataset()
        counters = dict(self.counters)
        counters.update(self.parts.client.counters)
        throttle = self.parts.throttle
        snapshot = LeakSnapshot(
            active_tasks=len(self.running),
            submission_held=self.pools.submission_held,
            llm_wait_held=self.pools.llm_wait_held,
            lane_held=self.frontier.held,
            throttle_in_flight=throttle.total_in_flight(),
            throttle_waiters=throttle.total_waiters(),
        )
        throttle_snapshot, throttle_events = throttle_state(self.parts)
        stop_reason = self.stop_reason
        if stop_reason is None and self.counters["rate_limited_given_up"]:
            stop_reason = (
                f"deadline: gave up {self.counters['rate_limited_given_up']} rate-limited "
                f"tasks after {self.settings.deadline_seconds}s"
            )
        result = RunResult(
            engine=ENGINE,
            dataset=dataset,
            tasks=self.tasks,
            started=started,
            finished=time.time(),
            cpu_seconds=engine_cpu_seconds() - cpu_start,
            records_requested=self.records,
            rows_dropped=self.counters["rows_dropped"],
            stop_reason=stop_reason,
            counters=counters,
            snapshot=snapshot,
            throttle=throttle_snapshot,
            throttle_events=throttle_events,
            output_dir=self.executor.out_dir,
        )
        if self.store is not None and self.executor.tracing:
            result.traces_frame().to_parquet(self.store.out_dir / "traces.parquet")
        self.observer.on_finish()
        return result

    def _dataset(self) -> pd.DataFrame:
        if self.store is None:
            rows = [row for index in sorted(self.kept_groups) for row in self.kept_groups[index]]
            return assemble_frame(self.executor.pipeline, rows)
        return self.store.read(sorted(set(self.written) | self.skipped))
