"""The parts both executors share: run set-up, cell contexts, traced model calls, rows.

The sync and the async executor differ only in the order they run cells. Everything a cell
touches, the generators, the model client, the throttle, the way a row's inputs are put
together and the way a finished dataset is assembled, is built here once, so a measured
difference between them is the scheduling alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import pandas as pd

from dd_core.chat import ChatFn, ChatResponse, Message
from dd_core.client import CallTrace, ModelClient
from dd_core.config import Pipeline
from dd_core.generators import BatchContext, CellContext, ColumnGenerator, build_generators
from dd_core.graph import ExecutionGraph
from dd_core.results import TaskRecord
from dd_core.throttle import ThrottleManager

log = logging.getLogger(__name__)


class RunObserver(Protocol):
    """What an executor reports while it runs; the command line draws progress from it.

    An observer implements all four methods (``NullObserver`` is the one that does nothing)
    and returns quickly: it is called on the event loop, once per task.
    """

    def on_start(
        self, engine: str, records: int, columns: Sequence[str], throttle: ThrottleManager
    ) -> None:
        """The run begins; ``throttle`` may be read (``snapshot()``) while it runs."""

    def on_task_done(self, column: str, rows: int, ok: bool) -> None: ...

    def on_rows_written(self, rows: int) -> None: ...

    def on_finish(self) -> None: ...


class NullObserver:
    """The observer used when nobody is watching."""

    def on_start(
        self, engine: str, records: int, columns: Sequence[str], throttle: ThrottleManager
    ) -> None:
        return None

    def on_task_done(self, column: str, rows: int, ok: bool) -> None:
        return None

    def on_rows_written(self, rows: int) -> None:
        return None

    def on_finish(self) -> None:
        return None


@dataclass
class RunParts:
    """One run's shared machinery, open for the length of the run."""

    pipeline: Pipeline
    graph: ExecutionGraph
    generators: dict[str, ColumnGenerator]
    throttle: ThrottleManager
    client: ModelClient

    @property
    def seed(self) -> int:
        return self.pipeline.settings.seed


@asynccontextmanager
async def open_run(pipeline: Pipeline) -> AsyncIterator[RunParts]:
    """Build the graph, generators, throttle and client; close the client's session after."""
    graph = ExecutionGraph.from_pipeline(pipeline)
    generators = build_generators(pipeline, graph)
    throttle = ThrottleManager.for_pipeline(pipeline)
    async with ModelClient(pipeline, throttle) as client:
        yield RunParts(pipeline, graph, generators, throttle, client)


def traced_chat(
    parts: RunParts,
    record: TaskRecord | None,
    around_call: Callable[[], Any] | None = None,
) -> ChatFn:
    """A ``chat`` for one task: calls the shared client and fills the task's trace.

    ``around_call``, when given, returns an async context manager entered around each model
    call; the async executor uses it to move the task from its submission pool to its
    LLM-wait pool while the call waits on the throttle and the network.
    """

    async def chat(
        alias: str,
        messages: Sequence[Message],
        *,
        response_format: Mapping[str, Any] | None = None,
        tag: str | None = None,
    ) -> ChatResponse:
        trace = CallTrace()
        try:
            if around_call is None:
                return await parts.client.chat(
                    alias, messages, response_format=response_format, tag=tag, trace=trace
                )
            async with around_call():
                if record is not None:
                    record.llm_wait_acquired = time.time()
                return await parts.client.chat(
                    alias, messages, response_format=response_format, tag=tag, trace=trace
                )
        finally:
            if record is not None:
                _copy_call_trace(trace, record)

    return chat


def _copy_call_trace(trace: CallTrace, record: TaskRecord) -> None:
    """Fold one call's timings into its task; a task with several calls keeps the span."""
    record.model_calls += 1
    record.attempts += max(trace.attempts, 1)
    if trace.throttle_acquired is not None and record.throttle_acquired is None:
        record.throttle_acquired = trace.throttle_acquired
    if trace.request_start is not None and record.request_start is None:
        record.request_start = trace.request_start
    if trace.request_end is not None:
        record.request_end = trace.request_end


def cell_context(parts: RunParts, column: str, row: int, chat: ChatFn) -> CellContext:
    """The context one cell's generator runs with."""
    return CellContext(
        column=column,
        row_index=row,
        seed=parts.seed,
        chat=chat,
        request_timeout=parts.pipeline.settings.request_timeout,
    )


def batch_context(parts: RunParts, column: str, rows: Sequence[int], chat: ChatFn) -> BatchContext:
    """The context a whole-column generator runs with, over ``rows`` in order."""
    return BatchContext(
        column=column,
        row_indices=list(rows),
        seed=parts.seed,
        chat=chat,
        request_timeout=parts.pipeline.settings.request_timeout,
    )


def cell_inputs(graph: ExecutionGraph, column: str, row_values: Mapping[str, Any]) -> dict:
    """The values a cell may read: everything its ancestors wrote for that row.

    Both executors pass exactly this, whatever else the row already holds, so a generator
    cannot see a value in one engine that it would not see in the other.
    """
    wanted = graph.ancestors(column)
    return {
        name: value
        for name, value in row_values.items()
        if name in wanted or _producer_or_none(graph, name) in wanted
    }


def _producer_or_none(graph: ExecutionGraph, output: str) -> str | None:
    try:
        return graph.producer(output)
    except KeyError:
        return None


def declared_output_order(pipeline: Pipeline) -> list[str]:
    """Dataset column order: declared outputs in pipeline order."""
    return [name for column in pipeline.columns for name in column.output_columns]


def assemble_frame(
    pipeline: Pipeline, rows: Iterable[tuple[int, Mapping[str, Any]]]
) -> pd.DataFrame:
    """Rows (index, values) into a DataFrame: declared columns first, extra ones after.

    Extra columns (a generator that wrote more than it declared) are kept, in the order
    they first appear, so the output is the same whichever engine produced it.
    """
    index: list[int] = []
    records: list[Mapping[str, Any]] = []
    for row_index, values in rows:
        index.append(row_index)
        records.append(values)

    columns = declared_output_order(pipeline)
    known = set(columns)
    for values in records:
        for name in values:
            if name not in known:
                known.add(name)
                columns.append(name)

    frame = pd.DataFrame.from_records(records, columns=columns) if records else None
    if frame is None:
        frame = pd.DataFrame(columns=columns)
    frame.index = pd.Index(index, name="row", dtype="int64")
    return frame


def throttle_state(parts: RunParts) -> tuple[dict[str, dict[str, Any]], pd.DataFrame]:
    """The throttle's final snapshot per pool, and its history on the ``time.time()`` clock."""
    snapshot = {key: asdict(snap) for key, snap in parts.throttle.snapshot().items()}
    offset = time.time() - parts.throttle.clock()
    events = pd.DataFrame(
        [asdict(event) for event in parts.throttle.history],
        columns=["time", "key", "limit", "in_flight", "event"],
    )
    events["time"] = events["time"] + offset
    return snapshot, events


def engine_cpu_seconds() -> float:
    """CPU time of the event-loop thread: the engine's own cost.

    Thread time rather than process time, so an embedded mock provider serving from
    another thread is not billed to the engine. Known limit: sync custom generators run on
    worker threads and their CPU is not counted.
    """
    return time.thread_time()
