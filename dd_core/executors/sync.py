"""The classic engine: column by column, batch by batch.

Rows are taken in batches of ``buffer_size``. Inside a batch the columns run one after
another in the graph's order; the cells of one column run concurrently, up to the column's
model's ``max_parallel_requests``, through the same client and throttle as the async
engine; a column finishes before the next one starts. That barrier is what the async
engine removes, and this executor keeps it on purpose: it is the baseline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dd_core.chat import ChatFn
from dd_core.config import Pipeline
from dd_core.errors import RateLimitError, is_retryable
from dd_core.executors.common import (
    NullObserver,
    RunObserver,
    RunParts,
    assemble_frame,
    batch_context,
    cell_context,
    cell_inputs,
    engine_cpu_seconds,
    open_run,
    throttle_state,
    traced_chat,
)
from dd_core.results import LeakSnapshot, RunResult, TaskRecord

log = logging.getLogger(__name__)

ENGINE = "sync"


class SyncExecutor:
    """Run a pipeline column by column; the baseline of every comparison."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        out_dir: str | Path | None = None,
        tracing: bool = True,
        observer: RunObserver | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.tracing = tracing
        self.observer: RunObserver = observer or NullObserver()

    async def run(self, records: int) -> RunResult:
        """Generate ``records`` rows; return the dataset, traces and counters."""
        if records < 1:
            raise ValueError(f"records must be a positive integer, got {records}")
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)

        started = time.time()
        cpu_start = engine_cpu_seconds()
        deadline = self.pipeline.settings.deadline_seconds
        self._deadline_at = None if deadline is None else started + deadline
        tasks: list[TaskRecord] = []
        kept: list[tuple[int, dict[str, Any]]] = []
        counters = {"deferred": 0, "batches": 0}

        async with open_run(self.pipeline) as parts:
            self.observer.on_start(ENGINE, records, parts.graph.order, parts.throttle)
            batch_size = self.pipeline.settings.buffer_size
            for batch_index, first in enumerate(range(0, records, batch_size)):
                rows = range(first, min(first + batch_size, records))
                batch = await self._run_batch(parts, batch_index, rows, tasks, counters)
                self._write_batch(parts, batch_index, batch)
                kept.extend(batch)
                counters["batches"] += 1
                self.observer.on_rows_written(len(batch))

            counters.update(parts.client.counters)
            snapshot = LeakSnapshot(
                throttle_in_flight=parts.throttle.total_in_flight(),
                throttle_waiters=parts.throttle.total_waiters(),
            )
            throttle, throttle_events = throttle_state(parts)

        self.observer.on_finish()
        dataset = assemble_frame(self.pipeline, kept)
        return RunResult(
            engine=ENGINE,
            dataset=dataset,
            tasks=tasks if self.tracing else [],
            started=started,
            finished=time.time(),
            cpu_seconds=engine_cpu_seconds() - cpu_start,
            records_requested=records,
            rows_dropped=records - len(dataset),
            counters=counters,
            snapshot=snapshot,
            throttle=throttle,
            throttle_events=throttle_events,
            output_dir=self.out_dir,
        )

    async def _run_batch(
        self,
        parts: RunParts,
        batch_index: int,
        rows: range,
        tasks: list[TaskRecord],
        counters: dict[str, int],
    ) -> list[tuple[int, dict[str, Any]]]:
        """One batch: every column over the batch's live rows, with a barrier between."""
        values: dict[int, dict[str, Any]] = {row: {} for row in rows}

        for column in parts.graph.order:
            live = [row for row in rows if row in values]
            if not live:
                break
            column_started = time.time()
            generator = parts.generators[column]
            if generator.whole_column:
                records = [await self._run_whole_column(parts, column, live, values, counters)]
            else:
                records = await self._run_column_cells(parts, column, live, values, counters)
            for record in records:
                record.ready = column_started
                record.row_group = batch_index
            tasks.extend(records)

        return [(row, values[row]) for row in rows if row in values]

    async def _run_column_cells(
        self,
        parts: RunParts,
        column: str,
        live: list[int],
        values: dict[int, dict[str, Any]],
        counters: dict[str, int],
    ) -> list[TaskRecord]:
        """All cells of one column, concurrently up to the column's model cap."""
        limit = _column_concurrency(parts, column)
        slots = asyncio.Semaphore(limit) if limit else None
        records = [TaskRecord(column=column, row=row, row_group=0) for row in live]

        async def run_cell(record: TaskRecord) -> None:
            record.dispatched = time.time()
            if slots is None:
                await self._run_cell(parts, record, values, counters)
                return
            async with slots:
                record.submission_acquired = time.time()
                await self._run_cell(parts, record, values, counters)

        async with asyncio.TaskGroup() as group:
            for record in records:
                group.create_task(run_cell(record))
        return records

    async def _retrying(
        self,
        parts: RunParts,
        record: TaskRecord,
        counters: dict[str, int],
        produce: Callable[[ChatFn], Awaitable[Any]],
    ) -> Any:
        """``produce(chat)`` until it succeeds; its last error is raised when it gives up.

        A 429 is retried for as long as it takes (the throttle's cooldown paces it) unless
        the run has a deadline; other retryable failures get ``salvage_rounds`` more tries;
        a non-retryable failure is raised at once.
        """
        other_failures = 0
        while True:
            try:
                return await produce(traced_chat(parts, record))
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                counters["deferred"] += 1
                if not isinstance(exc, RateLimitError):
                    other_failures += 1
                if other_failures > self.pipeline.settings.salvage_rounds:
                    raise
                if self._past_deadline():
                    raise
                log.debug("task %s:%d deferred: %s", record.column, record.row, exc)

    async def _run_cell(
        self,
        parts: RunParts,
        record: TaskRecord,
        values: dict[int, dict[str, Any]],
        counters: dict[str, int],
    ) -> None:
        """One cell, retried within the column while its failure is retryable."""
        generator = parts.generators[record.column]
        inputs = cell_inputs(parts.graph, record.column, values[record.row])

        def produce(chat: ChatFn) -> Awaitable[dict[str, Any]]:
            ctx = cell_context(parts, record.column, record.row, chat)
            return generator.agenerate(inputs, ctx)

        try:
            produced = await self._retrying(parts, record, counters, produce)
        except Exception as exc:
            self._drop(record, values, exc)
            return

        values[record.row].update(produced)
        record.status = "ok"
        record.completed = time.time()
        self.observer.on_task_done(record.column, 1, True)

    async def _run_whole_column(
        self,
        parts: RunParts,
        column: str,
        live: list[int],
        values: dict[int, dict[str, Any]],
        counters: dict[str, int],
    ) -> TaskRecord:
        """A whole-column generator, once over the batch's live rows in order."""
        record = TaskRecord(column=column, row=-1, row_group=0, dispatched=time.time())
        generator = parts.generators[column]
        inputs = [cell_inputs(parts.graph, column, values[row]) for row in live]

        def produce(chat: ChatFn) -> Awaitable[list[dict[str, Any]]]:
            return generator.agenerate_batch(inputs, batch_context(parts, column, live, chat))

        try:
            produced = await self._retrying(parts, record, counters, produce)
        except Exception as exc:
            record.status = "dropped"
            record.error = f"{type(exc).__name__}: {exc}"
            record.completed = time.time()
            log.warning("whole-column task %s failed, batch dropped: %s", column, exc)
            for row in live:
                values.pop(row, None)
            self.observer.on_task_done(column, len(live), False)
            return record

        for row, row_produced in zip(live, produced, strict=True):
            values[row].update(row_produced)
        record.status = "ok"
        record.completed = time.time()
        self.observer.on_task_done(column, len(live), True)
        return record

    def _past_deadline(self) -> bool:
        return self._deadline_at is not None and time.time() > self._deadline_at

    def _drop(
        self, record: TaskRecord, values: dict[int, dict[str, Any]], exc: BaseException
    ) -> None:
        record.status = "dropped"
        record.error = f"{type(exc).__name__}: {exc}"
        record.completed = time.time()
        values.pop(record.row, None)
        log.info("row %d dropped at column %s: %s", record.row, record.column, exc)
        self.observer.on_task_done(record.column, 1, False)

    def _write_batch(
        self, parts: RunParts, batch_index: int, batch: list[tuple[int, dict[str, Any]]]
    ) -> None:
        if self.out_dir is None:
            return
        frame = assemble_frame(parts.pipeline, batch)
        path = self.out_dir / f"batch_{batch_index:05d}.parquet"
        frame.to_parquet(path)
        log.info("batch %d written: %d rows to %s", batch_index, len(frame), path)


def _column_concurrency(parts: RunParts, column: str) -> int | None:
    """The cap on a column's concurrent cells: its model's ``max_parallel_requests``.

    A column that calls several models takes the largest of their caps (the throttle still
    holds each model to its own); a column that calls none runs its cells unbounded.
    """
    aliases = parts.graph.model_aliases(column)
    if not aliases:
        return None
    return max(parts.pipeline.models[alias].max_parallel_requests for alias in aliases)


def run_sync(pipeline: Pipeline, records: int, **options: Any) -> RunResult:
    """Run the sync executor from synchronous code."""
    return asyncio.run(SyncExecutor(pipeline, **options).run(records))
