"""The cell-level engine: a frontier of ready cells, two pools, and row groups on disk.

It shares everything but scheduling with the sync executor (``common.open_run``: graph,
generators, throttle, client; ``common.traced_chat``, ``cell_inputs``, ``assemble_frame``),
so a measured speedup is the scheduling alone.

Dispatch. A task is one cell, or one whole-column task per row group. A
``CompletionTracker`` per row group makes ready exactly the downstream cells whose inputs
are done; they wait in a ``Frontier`` ordered by the dispatch policy (``critical_path`` by
default, ``row_major`` for comparison). The dispatch loop pops while a submission slot is
free and otherwise awaits an event set when a slot frees or a task becomes ready; it never
polls and never blocks on one task's admission.

Pools. ``submission_pool`` (default 256) caps dispatched tasks; ``llm_wait_pool`` (default
``max(256, 2 * sum of max_parallel_requests)``) holds tasks waiting on a model call. Inside
``ctx.chat`` a task acquires an LLM-wait slot while still holding its submission slot, then
hands the submission slot back, so a task blocked in the throttle's queue or cooldown never
holds a dispatch slot, and live tasks stay bounded by the sum of both pools. After the call
the task keeps neither: what is left is a moment of CPU. A second call of the same task
takes a fresh LLM-wait slot. Non-LLM tasks keep their submission slot for their short run.
Every slot is released exactly once, on every path, by its holder.

Faults. A 429 goes back to the frontier at once; its next throttle acquire waits out the
cooldown, and only ``deadline_seconds`` gives up on it. Other retryable errors (transport
errors after the client's retries, timeouts) are parked on their row group; when the group
stalls (nothing ready, nothing in flight) a salvage round puts them back, up to
``salvage_rounds`` rounds, and what still fails is dropped. A non-retryable error drops the
row and prunes its cells (queued ones leave the frontier, running ones are cancelled).
Only non-retryable outcomes feed the early-stop ``ErrorWindow``.

Known limits: the frontier's order decides dispatch, but once dispatched, tasks queue FIFO
at the throttle, so a large submission pool lets early low-priority tasks hold the
throttle's queue; cancelling a sync custom generator cancels its await, not its worker
thread, which runs to its end; traces (one ``TaskRecord`` per task) grow with the run, so
pass ``tracing=False`` for very large runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dd_core.chat import ChatFn, ChatResponse, Message
from dd_core.config import Pipeline
from dd_core.errors import RateLimitError, RunError, is_retryable
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
from dd_core.executors.early_stop import ErrorWindow
from dd_core.executors.frontier import DISPATCH_POLICIES, Frontier, Task
from dd_core.executors.row_groups import (
    Admission,
    RowGroup,
    RowGroupStore,
    RunManifest,
    plan_row_groups,
)
from dd_core.executors.tracker import CompletionTracker
from dd_core.results import LeakSnapshot, RunResult, TaskRecord

log = logging.getLogger(__name__)

ENGINE = "async"
DEFAULT_SUBMISSION_POOL = 256
DEFAULT_LLM_WAIT_FLOOR = 256


def pool_sizes(pipeline: Pipeline) -> tuple[int, int]:
    """The (submission, LLM-wait) pool sizes of a run: the settings, or their defaults."""
    settings = pipeline.settings
    total = sum(model.max_parallel_requests for model in pipeline.models.values())
    submission = settings.submission_pool or DEFAULT_SUBMISSION_POOL
    llm_wait = settings.llm_wait_pool or max(DEFAULT_LLM_WAIT_FLOOR, 2 * total)
    for name, value in (("submission_pool", submission), ("llm_wait_pool", llm_wait)):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer or None, got {value}")
    return submission, llm_wait


@dataclass
class _GroupState:
    """A row group in flight: its tracker, its rows' values and its task counts."""

    group: RowGroup
    tracker: CompletionTracker
    values: dict[int, dict[str, Any]]
    queued: int = 0
    in_flight: int = 0
    deferred: list[Task] = field(default_factory=list)
    salvage_used: int = 0
    finished: bool = False


class _Slots:
    """The pool slots one task holds; each is given back exactly once."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self.submission = True
        self.llm_wait = False

    def release_submission(self) -> None:
        if self.submission:
            self.submission = False
            self._run.submission_free += 1
            self._run.wake.set()

    def release_llm_wait(self) -> None:
        if self.llm_wait:
            self.llm_wait = False
            self._run.llm_wait_held -= 1
            self._run.llm_wait.release()

    def release_all(self) -> None:
        self.release_llm_wait()
        self.release_submission()


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


class _Run:
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

        self.frontier = Frontier(
            {name: graph.llm_chain(name) for name in graph.order},
            {name: position for position, name in enumerate(graph.order)},
            executor.dispatch_policy,
        )
        self.whole_columns = frozenset(
            name for name in graph.order if parts.generators[name].whole_column
        )
        self.submission_size, llm_wait_size = pool_sizes(executor.pipeline)
        self.submission_free = self.submission_size
        self.llm_wait = asyncio.Semaphore(llm_wait_size)
        self.llm_wait_held = 0
        self.wake = asyncio.Event()

        self.plan = plan_row_groups(records, settings.row_group_size)
        self.admission = Admission(settings.max_row_groups_in_flight)
        self.next_group = 0
        self.groups: dict[int, _GroupState] = {}
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
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "tasks",
                "deferred",
                "rate_limited_deferred",
                "salvage_rounds",
                "salvage_dropped",
                "rate_limited_given_up",
                "rows_dropped",
                "pruned",
                "cancelled",
                "row_groups_written",
                "row_groups_skipped",
            ),
            0,
        )

    # -- the loop -------------------------------------------------------------------------

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

        self.observer.on_start(ENGINE, self.records, self.graph.order)
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
            while self.submission_free > 0 and self.frontier:
                self._spawn(self.frontier.pop())
            if not self.groups and self.next_group >= len(self.plan):
                return
            self.wake.clear()
            await self.wake.wait()

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
            state = _GroupState(group, tracker, {row: {} for row in group.rows})
            self.groups[group.index] = state
            log.debug("row group %d admitted (%d rows)", group.index, len(group))
            self._push_all(tracker.start())

    # -- tasks ----------------------------------------------------------------------------

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
        self.wake.set()

    def _spawn(self, task: Task) -> None:
        state = self.groups[task.row_group]
        state.queued -= 1
        state.in_flight += 1
        self.submission_free -= 1

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

        slots = _Slots(self)
        self.running[task] = asyncio.create_task(self._run_task(task, state, record, slots))

    async def _run_task(
        self, task: Task, state: _GroupState, record: TaskRecord, slots: _Slots
    ) -> None:
        rows: list[int] = []
        produced: Any = None
        error: Exception | None = None
        cancelled = False
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
            self.wake.set()
            if cancelled:
                self._check_group(state)

        record.completed = time.time()
        if error is None:
            self._on_success(task, state, record, rows, produced)
        else:
            self._on_failure(task, state, record, error)
        self._check_group(state)

    def _chat_for(self, task: Task, record: TaskRecord, slots: _Slots) -> ChatFn:
        """The task's ``ctx.chat``: the shared traced call, plus the deadline's refusal."""
        traced = traced_chat(self.parts, record, lambda: self._llm_wait_slot(slots))

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

    @contextlib.asynccontextmanager
    async def _llm_wait_slot(self, slots: _Slots) -> AsyncIterator[None]:
        """Move a task from its submission slot to an LLM-wait slot for one model call."""
        await self.llm_wait.acquire()
        slots.llm_wait = True
        self.llm_wait_held += 1
        slots.release_submission()
        try:
            yield
        finally:
            slots.release_llm_wait()

    def _on_success(
        self,
        task: Task,
        state: _GroupState,
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
        self, task: Task, state: _GroupState, record: TaskRecord, error: Exception
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

    # -- rows and groups ------------------------------------------------------------------

    def _drop_task_rows(
        self, task: Task, state: _GroupState, record: TaskRecord, error: BaseException
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

    def _drop_row(self, state: _GroupState, row: int) -> None:
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

    def _check_group(self, state: _GroupState) -> None:
        """Finish a done group, or give a stalled one a salvage round (or give up)."""
        while not state.finished and not self.stopping:
            if state.tracker.is_complete and state.in_flight == 0:
                self._finish_group(state)
                return
            if state.in_flight or state.queued:
                return
            if not state.deferred:
                log.error("row group %d stalled with nothing deferred", state.group.index)
                for row in state.tracker.live_rows:
                    self._drop_row(state, row)
                continue

            deferred, state.deferred = state.deferred, []
            if state.salvage_used < self.settings.salvage_rounds:
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

    def _finish_group(self, state: _GroupState) -> None:
        state.finished = True
        index = state.group.index
        del self.groups[index]
        self.frontier.remove_group(index)
        self.admission.release()
        for name in self.whole_columns:
            self._whole_finished(name, index)

        rows = [(row, state.values[row]) for row in state.tracker.live_rows]
        self.observer.on_rows_written(len(rows))
        self.wake.set()
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

    # -- stopping -------------------------------------------------------------------------

    def _stop(self, reason: str) -> None:
        log.warning("run stopping: %s", reason)
        self.stop_reason = reason
        self.stopping = True
        self.wake.set()

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
            submission_held=self.submission_size - self.submission_free,
            llm_wait_held=self.llm_wait_held,
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
