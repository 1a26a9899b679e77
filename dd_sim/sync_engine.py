"""The sync executor as SimPy processes: batches, a barrier after each column.

Semantics of ``dd_core.executors.sync``: rows in batches of ``buffer_size``; inside a batch
the columns one after another in the graph's order; a column's cells all start at once and
run concurrently up to the column's model's ``max_parallel_requests`` (FIFO, row order);
a cell retries a 429 for as long as it takes (the throttle paces it) unless the deadline
has passed, other retryable failures ``salvage_rounds`` more times; a non-retryable
failure drops the row, which later columns of the batch skip.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from dd_core.results import LeakSnapshot, TaskRecord
from dd_sim.client import CALL_BAD, CALL_OK, CALL_RATE_LIMITED
from dd_sim.run import SimResult, SimRun
from dd_sim.workload import ColumnSpec

ENGINE = "sync"


def simulate_sync(run: SimRun) -> SimResult:
    """Run the sync engine's model to the end; return its result."""
    engine = _SyncModel(run)
    run.env.process(engine.main())
    run.env.run()
    snapshot = LeakSnapshot(
        throttle_in_flight=run.throttle.in_flight(), throttle_waiters=run.throttle.waiters()
    )
    return run.result(ENGINE, engine.counters, snapshot, run.env.now)


class _SyncModel:
    def __init__(self, run: SimRun) -> None:
        self.run = run
        self.env = run.env
        self.counters = {"deferred": 0, "batches": 0}
        deadline = run.settings.deadline_seconds
        self.deadline_at = None if deadline is None else deadline
        pipeline = run.workload.pipeline
        self.limits: dict[str, int | None] = {}
        for name in run.workload.order:
            aliases = run.workload.graph.model_aliases(name)
            self.limits[name] = (
                max(pipeline.models[a].max_parallel_requests for a in aliases) if aliases else None
            )

    def main(self) -> Generator[simpy.Event, Any, None]:
        run = self.run
        size = run.settings.buffer_size
        for batch, first in enumerate(range(0, run.records, size)):
            stop = min(first + size, run.records)
            for name in run.workload.order:
                live = [row for row in range(first, stop) if row not in run.dropped]
                if not live:
                    break
                column = run.workload.columns[name]
                if column.whole_column:
                    yield from self._whole_column(column, batch)
                    continue
                limit = self.limits[name]
                slots = simpy.Resource(self.env, limit) if limit else None
                started = self.env.now
                cells = [
                    self.env.process(self._cell(column, row, batch, started, slots)) for row in live
                ]
                yield self.env.all_of(cells)
            run.done_ranges.append((first, stop))
            self.counters["batches"] += 1

    def _whole_column(self, column: ColumnSpec, batch: int) -> Generator[simpy.Event, Any, None]:
        record = self.run.new_record(column.name, -1, batch, "ok")
        started = self.env.now
        yield self.env.timeout(self.run.cpu.delay(started))
        if record is not None:
            record.ready = record.dispatched = started
            record.completed = self.env.now
        self.run.spans[column.name].add(started, self.env.now)

    def _cell(
        self,
        column: ColumnSpec,
        row: int,
        batch: int,
        started: float,
        slots: simpy.Resource | None,
    ) -> Generator[simpy.Event, Any, None]:
        env = self.env
        run = self.run
        record = run.new_record(column.name, row, batch, "ok")
        if record is not None:
            record.ready = started
            record.dispatched = env.now
        request = None
        if slots is not None:
            request = slots.request()
            yield request
            if record is not None:
                record.submission_acquired = env.now
        try:
            yield from self._attempts(column, row, record)
        finally:
            if request is not None:
                slots.release(request)
        run.spans[column.name].add(started, env.now)

    def _attempts(
        self, column: ColumnSpec, row: int, record: TaskRecord | None
    ) -> Generator[simpy.Event, Any, None]:
        env = self.env
        run = self.run
        other_failures = 0
        while True:
            yield env.timeout(run.cpu.delay(env.now))
            outcome = CALL_OK
            if column.llm:
                if record is not None:
                    record.model_calls += 1
                outcome, _ = yield from run.client.call(column, row, record)
            if outcome == CALL_OK:
                if record is not None:
                    record.completed = env.now
                return
            if outcome == CALL_BAD:
                self._drop(row, record, "BadResponseError")
                return
            self.counters["deferred"] += 1
            if outcome != CALL_RATE_LIMITED:
                other_failures += 1
            past = self.deadline_at is not None and env.now > self.deadline_at
            if other_failures > run.settings.salvage_rounds or past:
                self._drop(row, record, "RateLimitError" if past else "TransportError")
                return

    def _drop(self, row: int, record: TaskRecord | None, error: str) -> None:
        self.run.dropped.add(row)
        if record is not None:
            record.status = "dropped"
            record.error = f"{error} (simulated)"
            record.completed = self.env.now
