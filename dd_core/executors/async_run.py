"""One async run: the dispatch loop, its tasks, and what their outcomes make ready.

``_Run`` holds a run's state; ``GroupsMixin`` (row groups, salvage, writing) and
``StopMixin`` (stopping, the result) add the rest. The loop admits row groups, then takes
tasks from the ``LaneFrontier`` while a submission slot is free and some lane with room has
one ready; otherwise it awaits ``Pools.wake``, set when a slot frees or a task becomes
ready. It never polls and never blocks on one task's admission: a lane at its cap is
skipped, not waited on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dd_core.chat import ChatFn, ChatResponse, Message
from dd_core.errors import RateLimitError, RunError, is_retryable
from dd_core.executors.async_groups import GroupsMixin, GroupState
from dd_core.executors.async_stop import ENGINE, StopMixin
from dd_core.executors.common import (
    RunParts,
    batch_context,
    cell_context,
    cell_inputs,
    traced_chat,
)
from dd_core.executors.early_stop import ErrorWindow
from dd_core.executors.frontier import Task
from dd_core.executors.lanes import LaneFrontier, LanePlan
from dd_core.executors.pools import Pools, Slots, pool_sizes
from dd_core.executors.row_groups import (
    ASYNC_COUNTERS,
    Admission,
    RowGroupStore,
    RunManifest,
    plan_row_groups,
)
from dd_core.executors.tracker import CompletionTracker
from dd_core.results import TaskRecord

if TYPE_CHECKING:
    from dd_core.executors.async_ import AsyncExecutor

log = logging.getLogger(__name__)


class _Run(GroupsMixin, StopMixin):
    """The state of one run of an ``AsyncExecutor``."""

    def __init__(self, executor: AsyncExecutor, parts: RunParts, records: int) -> None:
        settings = executor.pipeline.settings
        graph = parts.graph
        self.executor = executor
        self.parts = parts
        self.settings = settings
        self.graph = graph
        self.observer = executor.observer
        self.records = records

        self.pools = Pools(*pool_sizes(executor.pipeline))
        self.frontier = LaneFrontier(
            {name: graph.llm_chain(name) for name in graph.order},
            {name: position for position, name in enumerate(graph.order)},
            LanePlan.for_pipeline(executor.pipeline, graph, self.pools.llm_wait_size),
            executor.dispatch_policy,
        )
        self.whole_columns = frozenset(
            name for name in graph.order if parts.generators[name].whole_column
        )

        self.plan = plan_row_groups(records, settings.row_group_size)
        self.admission = Admission(settings.max_row_groups_in_flight)
        self.next_group = 0
        self.groups: dict[int, GroupState] = {}
        self.running: dict[Task, asyncio.Task[None]] = {}
        # Bookkeeping of tasks not yet final, so memory follows the groups in flight.
        self.ready_at: dict[Task, float] = {}
        self.records_by_task: dict[Task, TaskRecord] = {}
        self.tasks: list[TaskRecord] = []
        self.window = ErrorWindow(settings.error_window, settings.error_rate_threshold)
        self.stop_reason: str | None = None
        self.stopping = False

        # Whole-column tasks of one column run in row-group order (stateful generators).
        self.whole_turn = dict.fromkeys(self.whole_columns, 0)
        self.whole_done: dict[str, set[int]] = {name: set() for name in self.whole_columns}
        self.whole_parked: dict[str, dict[int, Task]] = {name: {} for name in self.whole_columns}

        self.store = RowGroupStore(executor.out_dir) if executor.out_dir is not None else None
        self.skipped: set[int] = set()
        self.written: list[int] = []
        # out_dir=None: finished groups' rows by group index (groups finish out of order).
        self.kept_groups: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        self.writes: set[asyncio.Task[None]] = set()
        self.deadline_passed = False
        self.rate_limited: set[Task] = set()
        # Tasks inside a model call, and the alias they called (for the deadline).
        self.calling: dict[Task, str] = {}
        self.counters: dict[str, int] = dict.fromkeys(ASYNC_COUNTERS, 0)

    async def execute(self) -> None:
        """Admit row groups and dispatch ready tasks until every group is done."""
        if self.store is not None:
            manifest = RunManifest(
                pipeline=self.executor.pipeline.name,
                seed=self.settings.seed,
                records=self.records,
                row_group_size=self.settings.row_group_size,
            )
            self.skipped = self.store.prepare(manifest, resume=self.executor.resume)
            self.skipped &= {group.index for group in self.plan}
            self.counters["row_groups_skipped"] = len(self.skipped)
            for name in self.whole_columns:
                for index in self.skipped:
                    self._whole_finished(name, index)

        self.observer.on_start(ENGINE, self.records, self.graph.order, self.parts.throttle)
        deadline = self.settings.deadline_seconds
        timer = None
        if deadline is not None:
            timer = asyncio.get_running_loop().call_later(deadline, self._on_deadline)
        try:
            await self._dispatch_loop()
            if self.stopping:
                await self.shutdown(self.stop_reason or "stopped")
            await self._drain_writes()
        finally:
            if timer is not None:
                timer.cancel()

    async def _dispatch_loop(self) -> None:
        while not self.stopping:
            self._admit_groups()
            while self.pools.submission_free > 0:
                task = self.frontier.take()
                if task is None:
                    break
                self._spawn(task)
            if not self.groups and self.next_group >= len(self.plan):
                return
            self.pools.wake.clear()
            await self.pools.wake.wait()

    def _admit_groups(self) -> None:
        while self.next_group < len(self.plan):
            group = self.plan[self.next_group]
            if group.index in self.skipped:
                self.next_group += 1
                continue
            if not self.admission.try_admit():
                return
            self.next_group += 1
            tracker = CompletionTracker(self.graph, group.index, group.rows, self.whole_columns)
            state = GroupState(group, tracker, {row: {} for row in group.rows})
            self.groups[group.index] = state
            log.debug("row group %d admitted (%d rows)", group.index, len(group))
            self._push_all(tracker.start())

    def _push_all(self, tasks: Sequence[Task]) -> None:
        for task in tasks:
            self._push(task)

    def _push(self, task: Task, *, gated: bool = True) -> None:
        if gated and task.is_whole_column and task.row_group != self.whole_turn[task.column]:
            self.whole_parked[task.column][task.row_group] = task
            return
        self.ready_at.setdefault(task, time.time())
        self.frontier.push(task)
        self.groups[task.row_group].queued += 1
        self.pools.wake.set()

    def _spawn(self, task: Task) -> None:
        state = self.groups[task.row_group]
        state.queued -= 1
        state.in_flight += 1
        slots = self.pools.take_submission()
        slots.on_lane_release = lambda: self.frontier.finish(task)

        now = time.time()
        ready = self.ready_at.pop(task, now)
        record = self.records_by_task.get(task)
        if record is None:
            # A task's status stays "cancelled" unless an outcome arrives.
            record = TaskRecord(task.column, task.row, task.row_group, status="cancelled")
            record.ready = ready
            self.records_by_task[task] = record
            if self.executor.tracing:
                self.tasks.append(record)
            self.counters["tasks"] += 1
        record.dispatched = now
        record.submission_acquired = now

        handle = asyncio.create_task(self._run_task(task, state, record, slots))
        handle.add_done_callback(lambda _: self._if_never_started(task, state, slots))
        self.running[task] = handle

    def _if_never_started(self, task: Task, state: GroupState, slots: Slots) -> None:
        """Give back what a task cancelled before its first step held (its finally never ran)."""
        if slots.started:
            return
        slots.release_all()
        self.running.pop(task, None)
        state.in_flight -= 1
        self._check_group(state)

    async def _run_task(
        self, task: Task, state: GroupState, record: TaskRecord, slots: Slots
    ) -> None:
        rows: list[int] = []
        produced: Any = None
        error: Exception | None = None
        cancelled = False
        slots.started = True
        try:
            chat = self._chat_for(task, record, slots)
            generator = self.parts.generators[task.column]
            if task.is_whole_column:
                rows = state.tracker.live_rows
                inputs = [cell_inputs(self.graph, task.column, state.values[row]) for row in rows]
                ctx = batch_context(self.parts, task.column, rows, chat)
                produced = await generator.agenerate_batch(inputs, ctx)
                if len(produced) != len(rows):
                    raise RunError(
                        f"column {task.column}: whole-column generator returned "
                        f"{len(produced)} rows for {len(rows)}"
                    )
            else:
                inputs = cell_inputs(self.graph, task.column, state.values[task.row])
                ctx = cell_context(self.parts, task.column, task.row, chat)
                produced = await generator.agenerate(inputs, ctx)
        except asyncio.CancelledError:
            cancelled = True
            raise
        except Exception as exc:
            error = exc
        finally:
            slots.release_all()
            self.running.pop(task, None)
            state.in_flight -= 1
            self.pools.wake.set()
            if cancelled:
                self._check_group(state)

        record.completed = time.time()
        if error is None:
            self._on_success(task, state, record, rows, produced)
        else:
            self._on_failure(task, state, record, error)
        self._check_group(state)

    def _chat_for(self, task: Task, record: TaskRecord, slots: Slots) -> ChatFn:
        """The task's ``ctx.chat``: the shared traced call, plus the deadline's refusal."""
        traced = traced_chat(self.parts, record, lambda: self.pools.llm_wait_slot(slots))

        async def chat(
            alias: str,
            messages: Sequence[Message],
            *,
            response_format: Mapping[str, Any] | None = None,
            tag: str | None = None,
        ) -> ChatResponse:
            if self.deadline_passed and self._in_cooldown(alias):
                raise RateLimitError(f"deadline passed while model {alias!r} is rate-limited")
            self.calling[task] = alias
            try:
                return await traced(alias, messages, response_format=response_format, tag=tag)
            finally:
                self.calling.pop(task, None)

        return chat

    def _in_cooldown(self, alias: str) -> bool:
        model = self.executor.pipeline.models[alias]
        controller = self.parts.throttle.controller(model.provider, model.model)
        # ThrottleManager.for_pipeline runs on time.monotonic.
        return controller.in_cooldown(time.monotonic())

    def _on_success(
        self,
        task: Task,
        state: GroupState,
        record: TaskRecord,
        rows: list[int],
        produced: Any,
    ) -> None:
        record.status = "ok"
        record.error = None
        self.rate_limited.discard(task)
        self.records_by_task.pop(task, None)
        if task.is_whole_column:
            for row, values in zip(rows, produced, strict=True):
                if state.tracker.is_live(row):
                    state.values[row].update(values)
            self._whole_finished(task.column, task.row_group)
        elif state.tracker.is_live(task.row):
            state.values[task.row].update(produced)

        self.window.record(None)
        self._push_all(state.tracker.complete(task))
        self.observer.on_task_done(task.column, len(rows) if rows else 1, True)

    def _on_failure(
        self, task: Task, state: GroupState, record: TaskRecord, error: Exception
    ) -> None:
        record.error = f"{type(error).__name__}: {error}"
        orphaned = not state.tracker.live_rows if task.is_whole_column else False
        if orphaned or not (task.is_whole_column or state.tracker.is_live(task.row)):
            record.status = "pruned"
            return

        if isinstance(error, RateLimitError):
            if self.deadline_passed:
                self.counters["rate_limited_given_up"] += 1
                self._drop_task_rows(task, state, record, error)
                return
            self.counters["rate_limited_deferred"] += 1
            record.status = "deferred"
            self.rate_limited.add(task)
            self._push(task, gated=False)
            return

        if is_retryable(error):
            self.counters["deferred"] += 1
            record.status = "deferred"
            log.debug("task %s deferred: %s", task, error)
            state.deferred.append(task)
            return

        self._drop_task_rows(task, state, record, error)
        if self.window.record(error) and not self.stopping:
            self._stop(self.window.reason())
