"""The async executor's row groups: dropped rows, salvage rounds, finished groups on disk.

A mixin of ``dd_core.executors.async_run._Run`` (it reads the run's state): a dropped row
prunes its queued and running cells; a stalled group (only deferred tasks left) gets up to
``salvage_rounds`` salvage rounds, and what still fails is dropped; a finished group is
written to Parquet at once (or kept in memory with ``out_dir=None``) and releases its
admission slot; whole-column tasks of one column run in row-group order.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from dd_core.errors import RunError
from dd_core.executors.common import assemble_frame
from dd_core.executors.frontier import Task
from dd_core.executors.row_groups import GroupStep, RowGroup, next_group_step
from dd_core.executors.tracker import CompletionTracker
from dd_core.results import TaskRecord

log = logging.getLogger(__name__)


@dataclass
class GroupState:
    """A row group in flight: its tracker, its rows' values and its task counts."""

    group: RowGroup
    tracker: CompletionTracker
    values: dict[int, dict[str, Any]]
    queued: int = 0
    in_flight: int = 0
    deferred: list[Task] = field(default_factory=list)
    salvage_used: int = 0
    finished: bool = False


class GroupsMixin:
    """Rows and row groups of a run: drop, salvage, finish, write."""

    def _drop_task_rows(
        self, task: Task, state: GroupState, record: TaskRecord, error: BaseException
    ) -> None:
        record.status = "dropped"
        self.records_by_task.pop(task, None)
        rows = state.tracker.live_rows if task.is_whole_column else [task.row]
        log.info(
            "task %s:%d failed, %d row(s) dropped: %s", task.column, task.row, len(rows), error
        )
        if task.is_whole_column:
            self._whole_finished(task.column, task.row_group)
        for row in rows:
            self._drop_row(state, row)
        self.observer.on_task_done(task.column, len(rows), False)

    def _drop_row(self, state: GroupState, row: int) -> None:
        """Drop one row: prune its queued and running cells, forget its values."""
        if not state.tracker.is_live(row):
            return
        self.counters["rows_dropped"] += 1
        group = state.group.index
        for pruned in self.frontier.remove_row(group, row):
            state.queued -= 1
            self.ready_at.pop(pruned, None)
            self._mark(pruned, "pruned")
        state.deferred = [task for task in state.deferred if task.row != row]
        for column in self.graph.order:
            running = self.running.get(Task(group, row, column))
            if running is not None:
                running.cancel()
                self._mark(Task(group, row, column), "pruned")
        state.values.pop(row, None)
        self._push_all(state.tracker.drop(row))

    def _mark(self, task: Task, status: str) -> None:
        """Give a task that will get no outcome of its own its final status."""
        self.rate_limited.discard(task)
        record = self.records_by_task.get(task)
        if record is not None and record.status in ("cancelled", "deferred"):
            record.status = status
            self.counters[status] = self.counters.get(status, 0) + 1
        if status == "pruned":
            self.records_by_task.pop(task, None)

    def _check_group(self, state: GroupState) -> None:
        """Finish a done group, or give a stalled one a salvage round (or give up)."""
        while not state.finished and not self.stopping:
            step = next_group_step(
                state.tracker.is_complete,
                state.in_flight,
                state.queued,
                len(state.deferred),
                state.salvage_used,
                self.settings.salvage_rounds,
            )
            if step is GroupStep.FINISH:
                self._finish_group(state)
                return
            if step is GroupStep.WAIT:
                return
            if step is GroupStep.DROP_LIVE:
                log.error("row group %d stalled with nothing deferred", state.group.index)
                for row in state.tracker.live_rows:
                    self._drop_row(state, row)
                continue

            deferred, state.deferred = state.deferred, []
            if step is GroupStep.SALVAGE:
                state.salvage_used += 1
                self.counters["salvage_rounds"] += 1
                log.info(
                    "row group %d stalled: salvage round %d for %d deferred tasks",
                    state.group.index,
                    state.salvage_used,
                    len(deferred),
                )
                self._push_all(deferred)
                return
            for task in deferred:
                self.counters["salvage_dropped"] += 1
                record = self.records_by_task[task]
                last = record.error
                self._drop_task_rows(task, state, record, RunError(f"salvage spent; {last}"))

    def _finish_group(self, state: GroupState) -> None:
        state.finished = True
        index = state.group.index
        del self.groups[index]
        self.frontier.remove_group(index)
        self.admission.release()
        for name in self.whole_columns:
            self._whole_finished(name, index)

        rows = [(row, state.values[row]) for row in state.tracker.live_rows]
        self.observer.on_rows_written(len(rows))
        self.pools.wake.set()
        if self.store is None:
            self.kept_groups[index] = rows
            return
        frame = assemble_frame(self.executor.pipeline, rows)
        write = asyncio.create_task(self._write_group(index, frame))
        self.writes.add(write)
        write.add_done_callback(self.writes.discard)

    async def _write_group(self, index: int, frame: pd.DataFrame) -> None:
        assert self.store is not None
        await asyncio.to_thread(self.store.write, index, frame)
        self.written.append(index)
        self.counters["row_groups_written"] += 1

    async def _drain_writes(self) -> None:
        """Wait for every group write; a write that failed fails the run."""
        while self.writes:
            results = await asyncio.gather(*list(self.writes), return_exceptions=True)
            for outcome in results:
                if isinstance(outcome, BaseException):
                    raise RunError(f"writing a row group failed: {outcome}") from outcome

    def _whole_finished(self, column: str, group: int) -> None:
        """Record that ``column``'s whole-column task of ``group`` is over; unpark the next."""
        self.whole_done[column].add(group)
        while self.whole_turn[column] in self.whole_done[column]:
            self.whole_turn[column] += 1
        parked = self.whole_parked[column].pop(self.whole_turn[column], None)
        if parked is not None and parked.row_group in self.groups:
            self._push(parked, gated=False)
