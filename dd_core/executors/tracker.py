"""The completion tracker: which cells of a row group are done, and what that makes ready.

One tracker per row group. It counts, for every (row, column), the upstream columns not yet
done; when a cell completes it decrements the counts of that row's downstream columns only,
and a count reaching zero makes exactly that cell ready. A whole-column task (one per row
group) becomes ready when every live row of the group has all its inputs. Dropping a row
forgets its cells (they are never made ready) and may make a whole-column task ready, since
it no longer waits for that row.

Known limit: the per-row state is one small list per row, so a tracker's memory grows with
``row_group_size`` times the number of columns; row-group admission is what bounds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from typing import Protocol

from dd_core.executors.frontier import WHOLE_COLUMN, Task


class DependencyGraph(Protocol):
    """What the tracker reads of ``dd_core.graph.ExecutionGraph``."""

    @property
    def order(self) -> tuple[str, ...]: ...

    def upstream(self, name: str) -> Set[str]: ...

    def downstream(self, name: str) -> Set[str]: ...


class CompletionTracker:
    """Per-row-group completion state; every method returns the tasks it made ready.

    Ready tasks come back in row order, then in the graph's column order, so a caller that
    pushes them as they come gets a deterministic frontier.
    """

    def __init__(
        self,
        graph: DependencyGraph,
        row_group: int,
        rows: Iterable[int],
        whole_column: Set[str] = frozenset(),
    ) -> None:
        self.row_group = row_group
        self._nodes = tuple(graph.order)
        index = {name: position for position, name in enumerate(self._nodes)}
        unknown = set(whole_column) - set(index)
        if unknown:
            raise ValueError(f"whole_column: unknown columns {sorted(unknown)}")

        self._index = index
        self._up_count = [len(graph.upstream(name)) for name in self._nodes]
        self._down = [sorted(index[d] for d in graph.downstream(name)) for name in self._nodes]
        self._whole = [name in whole_column for name in self._nodes]

        self._rows: list[int] = list(rows)
        # Per live row: upstream columns not yet done, per column; None marks a done cell.
        self._waiting: dict[int, list[int | None]] = {
            row: list(self._up_count) for row in self._rows
        }
        self._remaining = {row: len(self._nodes) for row in self._rows}
        self._dropped: set[int] = set()
        # Whole-column columns: live rows not yet ready for it, and its state.
        self._blocking = [len(self._rows) if whole else 0 for whole in self._whole]
        self._whole_state = ["pending" if whole else "" for whole in self._whole]
        self._outstanding = len(self._rows) * len(self._nodes)
        self._started = False

    @property
    def rows(self) -> list[int]:
        """Every row of the group, in order, live or dropped."""
        return list(self._rows)

    @property
    def live_rows(self) -> list[int]:
        """Rows not dropped, in order."""
        return [row for row in self._rows if row not in self._dropped]

    @property
    def dropped_rows(self) -> list[int]:
        return [row for row in self._rows if row in self._dropped]

    @property
    def outstanding(self) -> int:
        """Cells of live rows not yet done."""
        return self._outstanding

    @property
    def is_complete(self) -> bool:
        """Every cell of every live row is done (a group whose rows all dropped is too)."""
        return self._outstanding == 0

    def is_live(self, row: int) -> bool:
        return row in self._waiting

    def is_done(self, row: int, column: str) -> bool:
        """Whether the cell is done; False for a dropped row."""
        waiting = self._waiting.get(row)
        if waiting is None:
            return False
        return waiting[self._index[column]] is None

    def start(self) -> list[Task]:
        """The group's first ready tasks: its root columns (called once)."""
        if self._started:
            raise RuntimeError(f"row group {self.row_group}: tracker already started")
        self._started = True

        ready: list[Task] = []
        for position in range(len(self._nodes)):
            if self._up_count[position] == 0 and self._whole[position]:
                ready.extend(self._whole_ready(position))
        for row in self._rows:
            for position, name in enumerate(self._nodes):
                if self._up_count[position] == 0 and not self._whole[position]:
                    ready.append(Task(self.row_group, row, name))
        return ready

    def complete(self, task: Task) -> list[Task]:
        """Mark a task done; return the downstream tasks it made ready.

        A completed cell of a dropped row changes nothing. A whole-column task marks its
        column done for every row still live.
        """
        position = self._index[task.column]
        if task.row != WHOLE_COLUMN:
            if task.row not in self._waiting:
                return []
            return self._mark_done(task.row, position)

        if self._whole_state[position] == "done":
            raise RuntimeError(f"row group {self.row_group}: {task.column} completed twice")
        self._whole_state[position] = "done"
        ready: list[Task] = []
        for row in self.live_rows:
            ready.extend(self._mark_done(row, position))
        return _ordered(ready, self._index)

    def drop(self, row: int) -> list[Task]:
        """Drop a row: forget its cells; return whole-column tasks that no longer wait on it."""
        waiting = self._waiting.pop(row, None)
        if waiting is None:
            return []
        self._dropped.add(row)
        self._outstanding -= self._remaining.pop(row)

        ready: list[Task] = []
        for position, count in enumerate(waiting):
            if self._whole[position] and count is not None and count > 0:
                self._blocking[position] -= 1
                if self._blocking[position] == 0:
                    ready.extend(self._whole_ready(position))
        return ready

    def _mark_done(self, row: int, position: int) -> list[Task]:
        waiting = self._waiting[row]
        if waiting[position] is None:
            raise RuntimeError(
                f"row group {self.row_group}: cell ({row}, {self._nodes[position]}) completed twice"
            )
        waiting[position] = None
        self._remaining[row] -= 1
        self._outstanding -= 1

        ready: list[Task] = []
        for down in self._down[position]:
            count = waiting[down]
            if count is None:
                continue
            count -= 1
            waiting[down] = count
            if count:
                continue
            if not self._whole[down]:
                ready.append(Task(self.row_group, row, self._nodes[down]))
                continue
            self._blocking[down] -= 1
            if self._blocking[down] == 0:
                ready.extend(self._whole_ready(down))
        return ready

    def _whole_ready(self, position: int) -> list[Task]:
        """The whole-column task of ``position``, once, if any row is left to run it on."""
        if self._whole_state[position] != "pending" or not self._waiting:
            return []
        self._whole_state[position] = "queued"
        return [Task(self.row_group, WHOLE_COLUMN, self._nodes[position])]


def _ordered(tasks: Sequence[Task], index: dict[str, int]) -> list[Task]:
    return sorted(tasks, key=lambda task: (task.row, index[task.column]))
