"""The frontier: the async executor's ready tasks, ordered by a dispatch policy.

A task is one cell (row group, row, column) or, for a whole-column generator, one task per
row group (``row == WHOLE_COLUMN``). The frontier is a binary heap keyed by a priority tuple,
so ``push`` and ``pop`` cost O(log n) in the number of ready tasks; removing every task of a
dropped row (pruning) or of a row group is lazy: the entries are marked dead and skipped
when they reach the top, which keeps removal at O(k) for the k entries removed.

Policies:

- ``critical_path`` (default): the task whose column heads the longest remaining chain of
  model calls (``ExecutionGraph.llm_chain``) first, then older row groups, then row order,
  then column order. Row order alone leaves the critical path waiting behind independent
  work (on the deep workload, 4 latencies instead of 3).
- ``row_major``: row group, then row, then column order; kept for comparison.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

#: ``Task.row`` of a whole-column task (one per row group).
WHOLE_COLUMN = -1

#: The dispatch policies ``Frontier`` accepts.
DISPATCH_POLICIES: tuple[str, ...] = ("critical_path", "row_major")


@dataclass(frozen=True, slots=True)
class Task:
    """The unit the scheduler dispatches: a cell, or a whole-column task of one row group."""

    row_group: int
    row: int
    column: str

    @property
    def is_whole_column(self) -> bool:
        return self.row == WHOLE_COLUMN


class Frontier:
    """Ready tasks in policy order; O(log n) push and pop, lazy removal of pruned rows.

    ``chain`` maps each column to its ``llm_chain`` length and ``column_index`` to its
    position in the graph's order; both are read once per push, never per pop.
    """

    def __init__(
        self,
        chain: Mapping[str, int],
        column_index: Mapping[str, int],
        policy: str = "critical_path",
    ) -> None:
        if policy not in DISPATCH_POLICIES:
            raise ValueError(
                f"dispatch_policy: unknown policy {policy!r}; expected one of "
                f"{', '.join(DISPATCH_POLICIES)}"
            )
        self.policy = policy
        self._chain = dict(chain)
        self._column_index = dict(column_index)
        self._heap: list[list] = []
        # Live entries per (row group, row): what ``remove_row`` marks dead.
        self._by_row: dict[tuple[int, int], list[list]] = {}
        self._queued: set[Task] = set()
        self._sequence = itertools.count()

    def __len__(self) -> int:
        return len(self._queued)

    def __bool__(self) -> bool:
        return bool(self._queued)

    def __contains__(self, task: object) -> bool:
        return task in self._queued

    def priority(self, task: Task) -> tuple[int, ...]:
        """The sort key of ``task`` under this frontier's policy (smaller leaves first)."""
        column = self._column_index[task.column]
        if self.policy == "row_major":
            return (task.row_group, task.row, column)
        return (-self._chain[task.column], task.row_group, task.row, column)

    def push(self, task: Task) -> None:
        """Add a ready task; pushing a task that is already queued is an error."""
        if task in self._queued:
            raise ValueError(f"task {task} is already in the frontier")

        entry = [self.priority(task), next(self._sequence), task, True]
        heapq.heappush(self._heap, entry)
        self._by_row.setdefault((task.row_group, task.row), []).append(entry)
        self._queued.add(task)

    def pop(self) -> Task:
        """Remove and return the first task under the policy; IndexError when empty."""
        while self._heap:
            _, _, task, alive = heapq.heappop(self._heap)
            if not alive:
                continue
            self._forget(task)
            return task
        raise IndexError("pop from an empty frontier")

    def peek(self) -> Task | None:
        """The task ``pop`` would return, or None when the frontier is empty."""
        while self._heap and not self._heap[0][3]:
            heapq.heappop(self._heap)
        return self._heap[0][2] if self._heap else None

    def remove_row(self, row_group: int, row: int) -> list[Task]:
        """Prune every queued task of one row (a dropped row); return what was removed."""
        entries = self._by_row.pop((row_group, row), [])
        removed = []
        for entry in entries:
            if entry[3]:
                entry[3] = False
                self._queued.discard(entry[2])
                removed.append(entry[2])
        return removed

    def remove_group(self, row_group: int) -> list[Task]:
        """Remove every queued task of one row group (cancellation, early stop)."""
        keys = [key for key in self._by_row if key[0] == row_group]
        removed: list[Task] = []
        for key in keys:
            removed.extend(self.remove_row(*key))
        return removed

    def clear(self) -> list[Task]:
        """Remove and return every queued task."""
        removed = [entry[2] for entry in self._heap if entry[3]]
        self._heap.clear()
        self._by_row.clear()
        self._queued.clear()
        return removed

    def tasks(self) -> Iterator[Task]:
        """The queued tasks, in no particular order."""
        return iter(set(self._queued))

    def _forget(self, task: Task) -> None:
        self._queued.discard(task)
        key = (task.row_group, task.row)
        entries = self._by_row.get(key)
        if entries is None:
            return
        entries[:] = [entry for entry in entries if entry[2] != task]
        if not entries:
            del self._by_row[key]
