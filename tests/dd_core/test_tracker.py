"""The completion tracker makes ready exactly the downstream cells whose inputs are done."""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dd_core.executors.frontier import WHOLE_COLUMN, Task
from dd_core.executors.tracker import CompletionTracker


class Dag:
    """A dependency graph given as {column: upstream columns}, in declaration order."""

    def __init__(self, upstream: Mapping[str, tuple[str, ...]]) -> None:
        self._up = {name: frozenset(ups) for name, ups in upstream.items()}
        self.order = tuple(upstream)

    def upstream(self, name: str) -> frozenset[str]:
        return self._up[name]

    def downstream(self, name: str) -> frozenset[str]:
        return frozenset(other for other, ups in self._up.items() if name in ups)


DEEP = Dag(
    {
        "topic": (),
        "summary": ("topic",),
        "analysis": ("summary",),
        "conclusion": ("analysis",),
        "trivia": ("topic",),
    }
)


def test_start_makes_the_roots_of_every_row_ready() -> None:
    tracker = CompletionTracker(DEEP, 2, range(20, 23))

    assert tracker.start() == [Task(2, row, "topic") for row in (20, 21, 22)]
    with pytest.raises(RuntimeError, match="already started"):
        tracker.start()


def test_completing_a_cell_readies_only_that_rows_downstream() -> None:
    tracker = CompletionTracker(DEEP, 0, range(3))
    tracker.start()

    ready = tracker.complete(Task(0, 1, "topic"))

    assert ready == [Task(0, 1, "summary"), Task(0, 1, "trivia")]
    assert tracker.complete(Task(0, 1, "trivia")) == []
    assert tracker.complete(Task(0, 1, "summary")) == [Task(0, 1, "analysis")]
    assert tracker.is_done(1, "summary") and not tracker.is_done(0, "summary")


def test_fan_in_waits_for_every_input() -> None:
    dag = Dag({"a": (), "b": (), "c": ("a", "b")})
    tracker = CompletionTracker(dag, 0, [0])
    assert tracker.start() == [Task(0, 0, "a"), Task(0, 0, "b")]

    assert tracker.complete(Task(0, 0, "a")) == []
    assert tracker.complete(Task(0, 0, "b")) == [Task(0, 0, "c")]


def test_group_completes_when_every_cell_is_done() -> None:
    tracker = CompletionTracker(DEEP, 0, range(2))
    pending = tracker.start()
    while pending:
        pending.extend(tracker.complete(pending.pop(0)))

    assert tracker.is_complete
    assert tracker.outstanding == 0
    assert tracker.live_rows == [0, 1]


def test_completing_twice_is_an_error() -> None:
    tracker = CompletionTracker(DEEP, 0, [0])
    tracker.start()
    tracker.complete(Task(0, 0, "topic"))

    with pytest.raises(RuntimeError, match="completed twice"):
        tracker.complete(Task(0, 0, "topic"))


def test_drop_prunes_the_row_and_completes_the_group_without_it() -> None:
    tracker = CompletionTracker(DEEP, 0, range(2))
    tracker.start()
    tracker.complete(Task(0, 0, "topic"))
    tracker.complete(Task(0, 1, "topic"))

    assert tracker.drop(0) == []
    assert tracker.complete(Task(0, 0, "summary")) == []
    for column in ("summary", "analysis", "conclusion", "trivia"):
        tracker.complete(Task(0, 1, column))

    assert tracker.is_complete
    assert tracker.live_rows == [1]
    assert tracker.dropped_rows == [0]
    assert tracker.drop(0) == []


def test_whole_column_task_waits_for_every_live_row() -> None:
    dag = Dag({"seed": (), "q": ("seed",), "dedupe": ("q",), "answer": ("dedupe",)})
    tracker = CompletionTracker(dag, 1, range(3), whole_column={"seed", "dedupe"})

    assert tracker.start() == [Task(1, WHOLE_COLUMN, "seed")]
    ready = tracker.complete(Task(1, WHOLE_COLUMN, "seed"))
    assert ready == [Task(1, row, "q") for row in range(3)]

    assert tracker.complete(Task(1, 0, "q")) == []
    assert tracker.drop(2) == []
    assert tracker.complete(Task(1, 1, "q")) == [Task(1, WHOLE_COLUMN, "dedupe")]
    assert tracker.complete(Task(1, WHOLE_COLUMN, "dedupe")) == [
        Task(1, 0, "answer"),
        Task(1, 1, "answer"),
    ]


def test_dropping_the_last_blocking_row_readies_the_whole_column_task() -> None:
    dag = Dag({"q": (), "dedupe": ("q",)})
    tracker = CompletionTracker(dag, 0, range(2), whole_column={"dedupe"})
    tracker.start()
    tracker.complete(Task(0, 0, "q"))

    assert tracker.drop(1) == [Task(0, WHOLE_COLUMN, "dedupe")]


def test_a_group_whose_rows_all_drop_is_complete_and_runs_no_whole_column_task() -> None:
    dag = Dag({"q": (), "dedupe": ("q",)})
    tracker = CompletionTracker(dag, 0, range(2), whole_column={"dedupe"})
    tracker.start()

    assert tracker.drop(0) == []
    assert tracker.drop(1) == []
    assert tracker.is_complete


@st.composite
def dags(draw: st.DrawFn) -> Dag:
    size = draw(st.integers(1, 8))
    upstream: dict[str, tuple[str, ...]] = {}
    for position in range(size):
        earlier = [f"c{i}" for i in range(position)]
        picks = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)) if earlier else []
        upstream[f"c{position}"] = tuple(picks)
    return Dag(upstream)


@settings(max_examples=80, deadline=None)
@given(
    dag=dags(),
    rows=st.integers(1, 6),
    seed=st.integers(0, 10_000),
    whole=st.sets(st.integers(0, 7), max_size=2),
    drops=st.sets(st.integers(0, 5), max_size=2),
)
def test_random_dags_ready_each_cell_once_after_its_inputs(dag, rows, seed, whole, drops) -> None:
    whole_column = {f"c{i}" for i in whole if f"c{i}" in dag.order}
    tracker = CompletionTracker(dag, 0, range(rows), whole_column=whole_column)
    rng = random.Random(seed)
    ready = tracker.start()
    seen: set[Task] = set(ready)
    done: set[tuple[int, str]] = set()
    to_drop = sorted(drop for drop in drops if drop < rows)

    while ready:
        if to_drop and rng.random() < 0.2:
            row = to_drop.pop()
            ready = [task for task in ready if task.row != row]
            ready.extend(tracker.drop(row))
            continue
        task = ready.pop(rng.randrange(len(ready)))
        cells = tracker.live_rows if task.row == WHOLE_COLUMN else [task.row]
        for row in cells:
            assert all((row, up) in done for up in dag.upstream(task.column))
            done.add((row, task.column))
        for new in tracker.complete(task):
            assert new not in seen, f"{new} made ready twice"
            seen.add(new)
            ready.append(new)

    assert tracker.is_complete
    for row in tracker.live_rows:
        assert all((row, column) in done for column in dag.order)
