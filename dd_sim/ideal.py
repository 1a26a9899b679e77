"""The ideal: what a zero-overhead engine would have done with the latencies actually served.

A benchmark trial records how long each cell's model requests took. Replaying those
durations through a schedule with no overhead at all (no dispatch cost, no throttle, no
retries, no 429s), under the same per-pool concurrency caps, says how close each engine
came to the limit. Three figures come out of one replay:

- ``ideal_async``: cell-level list scheduling with critical-path priority, the schedule
  a perfect async engine would follow;
- ``ideal_sync``: column by column with the barrier, batch by batch, the schedule a
  perfect sync engine would follow;
- ``simple_bound``: the longest per-row chain, or the busiest pool's total work over its
  cap, whichever is larger; no schedule can beat it.

Known limits: list scheduling is a heuristic, not an optimum, so ``ideal_async`` is an
upper estimate of the true optimum (it is always at least ``simple_bound``). A cell's
duration is the sum of its requests, which assumes a custom cell's calls were sequential;
parallel calls inside one cell are overstated. A cell holds one slot of its pool for its
whole duration, whatever number of requests it made.

The module is pure (numpy and pandas only) and takes plain mappings, so the harness can
build a ``DagSpec`` from an ``ExecutionGraph`` and the simulator from its own model.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: The request-log status whose durations count towards the ideal.
OK_STATUS = 200


@dataclass(frozen=True)
class CellWork:
    """The model time one cell (``row``, ``column``) consumed: the sum of its requests."""

    row: int
    column: str
    duration: float


@dataclass(frozen=True)
class DagSpec:
    """The shape an ideal schedule needs: order, dependencies, pools and their caps.

    ``order`` lists the columns in topological order; ``upstream`` maps a column to its
    direct upstream columns (roots may be left out); ``pool`` maps every column to the
    model key its cells draw slots from, or ``None`` for a column that calls no model and
    is not capped; ``caps`` maps each pool to its ``max_parallel_requests``.
    """

    order: Sequence[str]
    upstream: Mapping[str, Collection[str]]
    pool: Mapping[str, str | None]
    caps: Mapping[str, int]

    def __post_init__(self) -> None:
        _validate(self)


@dataclass(frozen=True)
class IdealReport:
    """The three ideal figures of one trial, in seconds."""

    async_makespan: float
    sync_makespan: float
    simple_bound: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class _Graph:
    """A ``DagSpec`` compiled to column indices for the replay loops."""

    columns: tuple[str, ...]
    index: dict[str, int]
    upstream: tuple[tuple[int, ...], ...]
    downstream: tuple[tuple[int, ...], ...]
    pool_of: tuple[int, ...]  # pool index per column, -1 for no cap
    caps: tuple[int, ...]  # cap per pool index


def _validate(dag: DagSpec) -> None:
    """Reject a spec the replay could not honour, naming the field and the value."""
    seen: dict[str, int] = {}
    for position, column in enumerate(dag.order):
        if column in seen:
            raise ValueError(f"DagSpec.order: column {column!r} appears twice; names are unique")
        seen[column] = position

    for column, parents in dag.upstream.items():
        if column not in seen:
            raise ValueError(f"DagSpec.upstream: unknown column {column!r}; known: {list(seen)}")
        for parent in parents:
            if parent not in seen:
                raise ValueError(
                    f"DagSpec.upstream[{column!r}]: unknown column {parent!r}; known: {list(seen)}"
                )
            if seen[parent] >= seen[column]:
                raise ValueError(
                    f"DagSpec.upstream[{column!r}]: {parent!r} does not come before it in "
                    "DagSpec.order; order must be topological"
                )

    for column in dag.order:
        if column not in dag.pool:
            raise ValueError(
                f"DagSpec.pool: column {column!r} is missing; give its model key, or None "
                "for a column that calls no model"
            )
        key = dag.pool[column]
        if key is not None and key not in dag.caps:
            raise ValueError(
                f"DagSpec.pool[{column!r}] = {key!r} has no entry in DagSpec.caps; "
                f"known pools: {sorted(dag.caps)}"
            )

    for key, cap in dag.caps.items():
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValueError(f"DagSpec.caps[{key!r}] = {cap!r}; a cap is an integer >= 1")


def _compile(dag: DagSpec) -> _Graph:
    columns = tuple(dag.order)
    index = {column: i for i, column in enumerate(columns)}
    upstream = tuple(
        tuple(sorted({index[p] for p in dag.upstream.get(column, ())})) for column in columns
    )
    downstream_lists: list[list[int]] = [[] for _ in columns]
    for child, parents in enumerate(upstream):
        for parent in parents:
            downstream_lists[parent].append(child)

    pool_keys = sorted({key for key in dag.pool.values() if key is not None})
    pool_index = {key: i for i, key in enumerate(pool_keys)}
    pool_of = tuple(
        -1 if dag.pool[column] is None else pool_index[dag.pool[column]] for column in columns
    )
    caps = tuple(int(dag.caps[key]) for key in pool_keys)
    return _Graph(columns, index, upstream, tuple(map(tuple, downstream_lists)), pool_of, caps)


def _durations(graph: _Graph, work: Iterable[CellWork], rows: int) -> np.ndarray:
    """The (rows, columns) matrix of cell durations; missing cells take no time."""
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise ValueError(f"rows = {rows!r}; rows is an integer >= 0")

    matrix = np.zeros((rows, len(graph.columns)), dtype=float)
    for cell in work:
        column = graph.index.get(cell.column)
        if column is None:
            raise ValueError(
                f"CellWork.column = {cell.column!r} is not in the DagSpec; "
                f"known: {list(graph.columns)}"
            )
        if not 0 <= cell.row < rows:
            raise ValueError(f"CellWork.row = {cell.row!r} is outside 0..{rows - 1}")
        if not math.isfinite(cell.duration) or cell.duration < 0:
            raise ValueError(
                f"CellWork.duration = {cell.duration!r} for {cell.column}:{cell.row}; "
                "a duration is a finite number >= 0"
            )
        # Several entries for one cell are several sequential calls of a custom cell.
        matrix[cell.row, column] += cell.duration
    return matrix


def _remaining_path(graph: _Graph, durations: np.ndarray) -> np.ndarray:
    """Per cell, its duration plus the longest chain of durations downstream in its row."""
    remaining = durations.copy()
    for column in reversed(range(len(graph.columns))):
        children = graph.downstream[column]
        if children:
            remaining[:, column] += remaining[:, list(children)].max(axis=1)
    return remaining


def _priorities(graph: _Graph, durations: np.ndarray) -> list[list[float]]:
    """The list-scheduling rules the ideal tries; each is a key per cell, lowest first.

    Longest remaining path in seconds (the classic critical-path rule), longest remaining
    chain of model calls (the engines' own rule, which counts calls, not seconds), and
    plain row order. No single rule is optimal; the ideal is the best of the three, so an
    engine following any of them cannot beat it.
    """
    by_seconds = -_remaining_path(graph, durations)
    calls = np.zeros_like(durations)
    calls[:, [pool >= 0 for pool in graph.pool_of]] = 1.0
    by_calls = -_remaining_path(graph, calls)
    row_order = np.zeros_like(durations)
    return [key.ravel().tolist() for key in (by_seconds, by_calls, row_order)]


def _best_async(graph: _Graph, durations: np.ndarray) -> float:
    return min(_replay_async(graph, durations, key) for key in _priorities(graph, durations))


def _replay_async(graph: _Graph, durations: np.ndarray, remaining: list[float]) -> float:
    """Event-driven list scheduling by ``remaining`` (lowest first); ties by cell number.

    Cells are numbered ``row * columns + column``.
    """
    rows, width = durations.shape
    if rows == 0 or width == 0:
        return 0.0

    duration = durations.ravel().tolist()
    downstream = graph.downstream
    pool_of = graph.pool_of
    free = list(graph.caps)
    ready: list[list[tuple[float, int]]] = [[] for _ in free]
    events: list[tuple[float, int]] = []
    waiting = [len(parents) for parents in graph.upstream] * rows

    # The cell number orders ties by row, then column order, as the priority rule asks.
    for cell in range(rows * width):
        if waiting[cell]:
            continue
        pool = pool_of[cell % width]
        if pool < 0:
            events.append((duration[cell], cell))
        else:
            ready[pool].append((remaining[cell], cell))
    heapq.heapify(events)
    for queue in ready:
        heapq.heapify(queue)

    push, pop = heapq.heappush, heapq.heappop
    now = 0.0
    while True:
        for pool, queue in enumerate(ready):
            while queue and free[pool]:
                _, cell = pop(queue)
                free[pool] -= 1
                push(events, (now + duration[cell], cell))
        if not events:
            break

        # Finish every cell due now (uncapped zero-length ones included) before choosing
        # what starts next, so a cell made ready at this instant competes for the slot.
        now = events[0][0]
        while events and events[0][0] == now:
            _, cell = pop(events)
            column = cell % width
            if pool_of[column] >= 0:
                free[pool_of[column]] += 1
            base = cell - column
            for child in downstream[column]:
                nxt = base + child
                waiting[nxt] -= 1
                if waiting[nxt]:
                    continue
                pool = pool_of[child]
                if pool < 0:
                    push(events, (now + duration[nxt], nxt))
                else:
                    push(ready[pool], (remaining[nxt], nxt))
    return now


def _greedy_makespan(durations: np.ndarray, cap: int | None) -> float:
    """Cells started in order, each on the first free slot of ``cap``; when the last ends."""
    if durations.size == 0:
        return 0.0
    if cap is None or cap >= durations.size:
        return float(durations.max())
    if durations.min() == durations.max():
        return math.ceil(durations.size / cap) * float(durations[0])

    slots = [0.0] * cap
    for length in durations.tolist():
        heapq.heappush(slots, heapq.heappop(slots) + length)
    return max(slots)


def _replay_sync(graph: _Graph, durations: np.ndarray, buffer_size: int) -> float:
    if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
        raise ValueError(f"buffer_size = {buffer_size!r}; buffer_size is an integer >= 1")

    caps = [None if pool < 0 else graph.caps[pool] for pool in graph.pool_of]
    total = 0.0
    for start in range(0, durations.shape[0], buffer_size):
        batch = durations[start : start + buffer_size]
        for column, cap in enumerate(caps):
            total += _greedy_makespan(batch[:, column], cap)
    return total


def _bound(graph: _Graph, durations: np.ndarray) -> float:
    if durations.size == 0:
        return 0.0
    chain = float(_remaining_path(graph, durations).max())
    loads = [0.0] * len(graph.caps)
    for column, pool in enumerate(graph.pool_of):
        if pool >= 0:
            loads[pool] += float(durations[:, column].sum())
    return max([chain, *(load / cap for load, cap in zip(loads, graph.caps, strict=True))])


def ideal_async(dag: DagSpec, work: Iterable[CellWork], rows: int) -> float:
    """Makespan of a zero-overhead cell-level engine: the best of three list schedules.

    A cell is ready when its row's upstream cells have finished; whenever a slot of a
    pool is free, the ready cell of that pool that comes first by the rule starts (ties:
    lower row, then column order). Uncapped cells start as soon as they are ready. The
    rules are in ``_priorities``: longest remaining path in seconds, longest remaining
    chain of model calls, row order.
    """
    graph = _compile(dag)
    return _best_async(graph, _durations(graph, work, rows))


def ideal_sync(dag: DagSpec, work: Iterable[CellWork], rows: int, buffer_size: int) -> float:
    """Makespan of a zero-overhead sync engine: batches of rows, columns with a barrier.

    Inside a batch each column's cells start in row order on the first free slot of
    their pool; the next column starts when the last cell of this one ends.
    """
    graph = _compile(dag)
    return _replay_sync(graph, _durations(graph, work, rows), buffer_size)


def simple_bound(dag: DagSpec, work: Iterable[CellWork], rows: int) -> float:
    """The larger of the longest per-row chain and the busiest pool's work over its cap."""
    graph = _compile(dag)
    return _bound(graph, _durations(graph, work, rows))


def ideal_report(
    dag: DagSpec, work: Iterable[CellWork], rows: int, buffer_size: int
) -> IdealReport:
    """All three ideal figures from one pass over ``work``."""
    graph = _compile(dag)
    durations = _durations(graph, work, rows)
    report = IdealReport(
        async_makespan=_best_async(graph, durations),
        sync_makespan=_replay_sync(graph, durations, buffer_size),
        simple_bound=_bound(graph, durations),
    )
    log.debug("ideal for %d rows x %d columns: %s", rows, len(graph.columns), report)
    return report


def _parse_tag(tag: object) -> tuple[str, int] | None:
    """``"summary:7"`` -> ``("summary", 7)``; anything else -> None."""
    if not isinstance(tag, str):
        return None
    column, sep, row = tag.rpartition(":")
    if not sep or not column or not row.isdigit():
        return None
    return column, int(row)


def _served_requests(frame: pd.DataFrame) -> pd.DataFrame:
    """The log's tagged requests answered 200, as ``row, column, start, duration``.

    Only requests answered 200 count: a 429 or a fault is time the provider spent refusing
    or failing, which an ideal engine, never throttled and never retrying, would not have
    spent; the successful retry that followed is what the cell needed. Requests without a
    tag, or with a tag that is not ``column:row``, belong to no cell and are left out.
    """
    missing = [name for name in ("tag", "start", "end", "status") if name not in frame.columns]
    if missing:
        raise ValueError(
            f"request log: missing columns {missing}; needs tag, start, end and status"
        )
    empty = pd.DataFrame({"row": [], "column": [], "start": [], "duration": []})
    if frame.empty:
        return empty

    served = frame[pd.to_numeric(frame["status"], errors="coerce") == OK_STATUS]
    cells = [_parse_tag(tag) for tag in served["tag"].tolist()]
    keep = [cell is not None for cell in cells]
    untagged = len(cells) - sum(keep)
    if untagged:
        log.debug("request log: %d served requests without a column:row tag ignored", untagged)
    if not any(keep):
        return empty

    tagged = served[keep]
    parsed = [cell for cell in cells if cell is not None]
    starts = tagged["start"].astype(float).to_numpy()
    return pd.DataFrame(
        {
            "row": [row for _, row in parsed],
            "column": [column for column, _ in parsed],
            "start": starts,
            "duration": tagged["end"].astype(float).to_numpy() - starts,
        }
    )


def work_from_request_log(frame: pd.DataFrame) -> list[CellWork]:
    """Cell durations from a provider request log (columns ``tag``, ``start``, ``end``,
    ``status``), sorted by row, then column name; see ``_served_requests`` for what counts.
    """
    table = _served_requests(frame)
    totals = table.groupby(["row", "column"], sort=True)["duration"].sum()
    return [
        CellWork(row=int(row), column=str(column), duration=float(duration))
        for (row, column), duration in totals.items()
    ]


def served_from_request_log(frame: pd.DataFrame) -> dict[tuple[str, int, int], float]:
    """Seconds served per (column, row, call), calls numbered in the order they started.

    The simulator's replay takes these in place of its draws, so a validation compares the
    scheduling model with a measured run on the very latencies that run was served.
    """
    table = _served_requests(frame).sort_values("start", kind="stable")
    calls: dict[tuple[str, int], int] = {}
    served: dict[tuple[str, int, int], float] = {}
    for column, row, duration in zip(
        table["column"].tolist(), table["row"].tolist(), table["duration"].tolist(), strict=True
    ):
        call = calls.get((column, row), 0)
        calls[(column, row)] = call + 1
        served[(str(column), int(row), call)] = float(duration)
    return served
