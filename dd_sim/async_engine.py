"""The async executor as SimPy processes: frontier, tracker, two pools, row groups, salvage.

Semantics of ``dd_core.executors.async_``, with its pure pieces reused as they are, so the
model cannot drift from the engine: ``LaneFrontier`` and ``LanePlan`` (one frontier per
model lane, the dispatch policy, each lane's cap on tasks out), ``pool_sizes``,
``CompletionTracker`` (what a completion makes ready), ``plan_row_groups`` and
``Admission`` (row groups in flight), ``ErrorWindow`` (early stop). The dispatch loop takes
the best head among the lanes with room while a submission slot is free; a taken task
takes a submission slot and its CPU turn; a model-calling task then takes an LLM-wait slot
(FIFO), hands its submission slot back, and makes its call through the simulated client
and throttle; its lane slot is given back when it ends. A 429 sends the task back to the
frontier; other retryable failures park it on its row group until the group
stalls and a salvage round (of ``salvage_rounds``) puts it back; a non-retryable failure
drops the row and prunes its cells. A finished row group is released at once.

Known limits: a task of a row dropped while its call is in flight finishes that call
before it is marked pruned (the engine cancels it at once); writing a row group to disk
costs no simulated time.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from dd_core.executors.early_stop import ErrorWindow
from dd_core.executors.frontier import Task
from dd_core.executors.lanes import LaneFrontier, LanePlan
from dd_core.executors.pools import pool_sizes
from dd_core.executors.row_groups import (
    ASYNC_COUNTERS,
    Admission,
    GroupStep,
    RowGroup,
    next_group_step,
    plan_row_groups,
)
from dd_core.executors.tracker import CompletionTracker
from dd_core.results import LeakSnapshot, TaskRecord
from dd_sim.client import CALL_BAD, CALL_OK, CALL_RATE_LIMITED
from dd_sim.run import SimResult, SimRun
from dd_sim.workload import ColumnSpec

ENGINE = "async"


def simulate_async(run: SimRun) -> SimResult:
    """Run the async engine's model to the end (or its early stop); return its result."""
    model = _AsyncModel(run)
    model.start()
    run.env.run(until=model.done)
    snapshot = LeakSnapshot(
        active_tasks=model.running,
        submission_held=model.submission_size - model.submission_free,
        llm_wait_held=model.llm_wait.count,
        throttle_in_flight=run.throttle.in_flight(),
        throttle_waiters=run.throttle.waiters(),
    )
    return run.result(ENGINE, model.counters, snapshot, run.env.now)


@dataclass
class _Group:
    group: RowGroup
    tracker: CompletionTracker
    queued: int = 0
    in_flight: int = 0
    deferred: list[Task] = field(default_factory=list)
    salvage_used: int = 0
    finished: bool = False


class _AsyncModel:
    def __init__(self, run: SimRun) -> None:
        self.run = run
        self.env = run.env
        graph = run.workload.graph
        self.columns = run.workload.columns
        self.whole = frozenset(n for n, c in self.columns.items() if c.whole_column)
        pipeline = run.workload.pipeline
        self.submission_size, llm_wait = pool_sizes(pipeline)
        self.frontier = LaneFrontier(
            {name: graph.llm_chain(name) for name in graph.order},
            {name: position for position, name in enumerate(graph.order)},
            LanePlan.for_pipeline(pipeline, graph, llm_wait),
            run.options.dispatch_policy,
        )
        self.submission_free = self.submission_size
        self.llm_wait = simpy.Resource(self.env, llm_wait)
        self.plan = plan_row_groups(run.records, run.settings.row_group_size)
        self.admission = Admission(run.settings.max_row_groups_in_flight)
        self.next_group = 0
        self.groups: dict[int, _Group] = {}
        self.records: dict[Task, TaskRecord] = {}
        self.retrying: set[Task] = set()
        self.rate_limited: set[Task] = set()
        self.running = 0
        self.window = ErrorWindow(run.settings.error_window, run.settings.error_rate_threshold)
        self.whole_turn = dict.fromkeys(self.whole, 0)
        self.whole_done: dict[str, set[int]] = {name: set() for name in self.whole}
        self.whole_parked: dict[str, dict[int, Task]] = {name: {} for name in self.whole}
        self.stopping = False
        self.pump_pending = False
        self.deadline_passed = False
        self.done = self.env.event()
        self.counters = dict.fromkeys(
            (name for name in ASYNC_COUNTERS if name != "row_groups_skipped"), 0
        )

    def start(self) -> None:
        deadline = self.run.settings.deadline_seconds
        if deadline is not None:
            self.env.timeout(deadline).callbacks.append(lambda _e: self._on_deadline())
        self._pump()

    # -- dispatch ---------------------------------------------------------------------

    def _wake(self) -> None:
        """Run the dispatch loop at its next turn of the event loop's CPU.

        The engine's dispatch loop wakes after the callbacks already due, so tasks that
        become ready together reach the frontier together and leave it in policy order;
        the model does the same by queueing the loop behind the CPU work already queued.
        """
        if self.pump_pending:
            return
        self.pump_pending = True
        delay = max(0.0, self.run.cpu.free_at - self.env.now)
        self.env.timeout(delay).callbacks.append(self._pump)

    def _pump(self, _event: object = None) -> None:
        self.pump_pending = False
        if self.stopping:
            return
        self._admit_groups()
        while self.submission_free > 0:
            task = self.frontier.take()
            if task is None:
                break
            self._spawn(task)
        if not self.groups and self.next_group >= len(self.plan) and not self.done.triggered:
            self.done.succeed()

    def _admit_groups(self) -> None:
        while self.next_group < len(self.plan) and self.admission.try_admit():
            group = self.plan[self.next_group]
            self.next_group += 1
            graph = self.run.workload.graph
            tracker = CompletionTracker(graph, group.index, group.rows, self.whole)
            self.groups[group.index] = _Group(group, tracker)
            self._push_all(tracker.start())

    def _push_all(self, tasks: Sequence[Task]) -> None:
        for task in tasks:
            self._push(task)

    def _push(self, task: Task, *, gated: bool = True) -> None:
        if gated and task.is_whole_column and task.row_group != self.whole_turn[task.column]:
            self.whole_parked[task.column][task.row_group] = task
            return
        record = self.records.get(task)
        if record is None and self.run.options.tracing:
            record = TaskRecord(task.column, task.row, task.row_group, status="cancelled")
            record.ready = self.env.now
            self.records[task] = record
            self.run.tasks.append(record)
        self.frontier.push(task)
        self.groups[task.row_group].queued += 1

    def _spawn(self, task: Task) -> None:
        state = self.groups[task.row_group]
        state.queued -= 1
        state.in_flight += 1
        self.submission_free -= 1
        self.running += 1
        if task in self.retrying:
            self.retrying.discard(task)
        else:
            self.counters["tasks"] += 1
        record = self.records.get(task)
        if record is not None:
            record.dispatched = record.submission_acquired = self.env.now
        self.env.process(self._task(task, state, record))

    def _task(
        self, task: Task, state: _Group, record: TaskRecord | None
    ) -> Generator[simpy.Event, Any, None]:
        env = self.env
        column = self.columns[task.column]
        dispatched = env.now
        yield env.timeout(self.run.cpu.delay(env.now))

        outcome = CALL_OK
        holds_submission = True
        if column.llm:
            slot = self.llm_wait.request()
            yield slot
            if record is not None:
                record.llm_wait_acquired = env.now
                record.model_calls += 1
            self.submission_free += 1
            holds_submission = False
            self._wake()
            outcome, _ = yield from self.run.client.call(column, task.row, record)
            self.llm_wait.release(slot)

        if holds_submission:
            self.submission_free += 1
        self.frontier.finish(task)
        state.in_flight -= 1
        self.running -= 1
        self.run.spans[task.column].add(dispatched, env.now)
        if record is not None:
            record.completed = env.now
        if self.stopping:
            return
        if outcome == CALL_OK:
            self._on_success(task, state, record)
        else:
            self._on_failure(task, state, record, column, outcome)
        self._check_group(state)
        self._wake()

    # -- outcomes ---------------------------------------------------------------------

    def _live(self, task: Task, state: _Group) -> bool:
        if task.is_whole_column:
            return bool(state.tracker.live_rows)
        return state.tracker.is_live(task.row)

    def _on_success(self, task: Task, state: _Group, record: TaskRecord | None) -> None:
        if record is not None:
            record.status = "ok"
            record.error = None
        self.rate_limited.discard(task)
        if task.is_whole_column:
            self._whole_finished(task.column, task.row_group)
        elif not state.tracker.is_live(task.row):
            if record is not None:
                record.status = "pruned"
            return
        self.window.record(None)
        self._push_all(state.tracker.complete(task))

    def _on_failure(
        self,
        task: Task,
        state: _Group,
        record: TaskRecord | None,
        column: ColumnSpec,
        outcome: str,
    ) -> None:
        error = {CALL_RATE_LIMITED: "RateLimitError", CALL_BAD: "BadResponseError"}.get(
            outcome, "TransportError"
        )
        if record is not None:
            record.error = f"{error} (simulated)"
        if not self._live(task, state):
            if record is not None:
                record.status = "pruned"
            return

        if outcome == CALL_RATE_LIMITED:
            if self.deadline_passed:
                self.counters["rate_limited_given_up"] += 1
                self._drop_task_rows(task, state, record)
                return
            self.counters["rate_limited_deferred"] += 1
            self._defer(task, record)
            self.rate_limited.add(task)
            self._push(task, gated=False)
            return

        if outcome != CALL_BAD:
            self.counters["deferred"] += 1
            self._defer(task, record)
            state.deferred.append(task)
            return

        self._drop_task_rows(task, state, record)
        if self.window.record(_NonRetryable()) and not self.stopping:
            self._stop(self.window.reason())

    def _defer(self, task: Task, record: TaskRecord | None) -> None:
        self.retrying.add(task)
        if record is not None:
            record.status = "deferred"

    # -- rows and groups --------------------------------------------------------------

    def _drop_task_rows(self, task: Task, state: _Group, record: TaskRecord | None) -> None:
        if record is not None:
            record.status = "dropped"
        rows = state.tracker.live_rows if task.is_whole_column else [task.row]
        if task.is_whole_column:
            self._whole_finished(task.column, task.row_group)
        for row in rows:
            self._drop_row(state, row)

    def _drop_row(self, state: _Group, row: int) -> None:
        if not state.tracker.is_live(row):
            return
        self.counters["rows_dropped"] += 1
        self.run.dropped.add(row)
        for pruned in self.frontier.remove_row(state.group.index, row):
            state.queued -= 1
            self._mark(pruned, "pruned")
        state.deferred = [task for task in state.deferred if task.row != row]
        self._push_all(state.tracker.drop(row))

    def _mark(self, task: Task, status: str) -> None:
        self.rate_limited.discard(task)
        self.retrying.discard(task)
        record = self.records.get(task)
        if record is not None and record.status in ("cancelled", "deferred"):
            record.status = status
        self.counters[status] = self.counters.get(status, 0) + 1

    def _check_group(self, state: _Group) -> None:
        """Finish a done group, or give a stalled one a salvage round (or give up)."""
        while not state.finished and not self.stopping:
            step = next_group_step(
                state.tracker.is_complete,
                state.in_flight,
                state.queued,
                len(state.deferred),
                state.salvage_used,
                self.run.settings.salvage_rounds,
            )
            if step is GroupStep.FINISH:
                self._finish_group(state)
                return
            if step is GroupStep.WAIT:
                return
            if step is GroupStep.DROP_LIVE:
                for row in state.tracker.live_rows:
                    self._drop_row(state, row)
                continue
            deferred, state.deferred = state.deferred, []
            if step is GroupStep.SALVAGE:
                state.salvage_used += 1
                self.counters["salvage_rounds"] += 1
                self._push_all(deferred)
                return
            for task in deferred:
                self.counters["salvage_dropped"] += 1
                self.retrying.discard(task)
                self._drop_task_rows(task, state, self.records.get(task))

    def _finish_group(self, state: _Group) -> None:
        state.finished = True
        index = state.group.index
        del self.groups[index]
        self.frontier.remove_group(index)
        self.admission.release()
        for name in self.whole:
            self._whole_finished(name, index)
        self.run.done_ranges.append((state.group.start, state.group.stop))
        self.counters["row_groups_written"] += 1

    def _whole_finished(self, column: str, group: int) -> None:
        self.whole_done[column].add(group)
        while self.whole_turn[column] in self.whole_done[column]:
            self.whole_turn[column] += 1
        parked = self.whole_parked[column].pop(self.whole_turn[column], None)
        if parked is not None and parked.row_group in self.groups:
            self._push(parked, gated=False)

    # -- stopping ---------------------------------------------------------------------

    def _stop(self, reason: str) -> None:
        self.run.stop_reason = reason
        self.stopping = True
        for task in self.frontier.clear():
            self._mark(task, "cancelled")
        self.counters["row_groups_unfinished"] = len(self.groups)
        if not self.done.triggered:
            self.done.succeed()

    def _on_deadline(self) -> None:
        """Give up on every rate-limited task queued; later 429s drop their rows too."""
        self.deadline_passed = True
        given_up = 0
        for task in sorted(self.rate_limited, key=lambda t: (t.row_group, t.row)):
            state = self.groups.get(task.row_group)
            if state is None or task not in self.frontier:
                continue
            self._drop_task_rows(task, state, self.records.get(task))
            self._check_group(state)
            given_up += 1
        self.rate_limited.clear()
        self.counters["rate_limited_given_up"] += given_up
        if given_up:
            self.run.stop_reason = (
                f"deadline: gave up {given_up} rate-limited tasks after "
                f"{self.run.settings.deadline_seconds}s"
            )
        self._wake()


class _NonRetryable(Exception):
    """What the error window is told of a simulated non-retryable failure."""

    retryable = False
