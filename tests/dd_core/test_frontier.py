"""The frontier pops tasks in policy order and prunes rows lazily."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dd_core.executors.frontier import WHOLE_COLUMN, Frontier, Task

# The deep workload: topic -> summary -> analysis -> conclusion, topic -> trivia.
CHAIN = {"topic": 3, "summary": 3, "analysis": 2, "conclusion": 1, "trivia": 1}
INDEX = {"topic": 0, "summary": 1, "analysis": 2, "conclusion": 3, "trivia": 4}


def drain(frontier: Frontier) -> list[Task]:
    return [frontier.pop() for _ in range(len(frontier))]


def test_critical_path_puts_the_longest_chain_first() -> None:
    frontier = Frontier(CHAIN, INDEX)
    for row in range(3):
        frontier.push(Task(0, row, "trivia"))
        frontier.push(Task(0, row, "summary"))

    order = drain(frontier)

    assert [task.column for task in order] == ["summary"] * 3 + ["trivia"] * 3
    assert [task.row for task in order] == [0, 1, 2, 0, 1, 2]


def test_critical_path_prefers_older_row_groups_at_equal_chain() -> None:
    frontier = Frontier(CHAIN, INDEX)
    frontier.push(Task(1, 0, "analysis"))
    frontier.push(Task(0, 5, "analysis"))
    frontier.push(Task(1, 1, "summary"))

    expected = [Task(1, 1, "summary"), Task(0, 5, "analysis"), Task(1, 0, "analysis")]
    assert drain(frontier) == expected


def test_row_major_is_row_then_column_order() -> None:
    frontier = Frontier(CHAIN, INDEX, policy="row_major")
    frontier.push(Task(0, 1, "summary"))
    frontier.push(Task(0, 0, "trivia"))
    frontier.push(Task(0, 0, "summary"))
    frontier.push(Task(1, 0, "summary"))

    assert drain(frontier) == [
        Task(0, 0, "summary"),
        Task(0, 0, "trivia"),
        Task(0, 1, "summary"),
        Task(1, 0, "summary"),
    ]


def test_remove_row_prunes_only_that_row() -> None:
    frontier = Frontier(CHAIN, INDEX)
    for row in range(3):
        frontier.push(Task(0, row, "summary"))
        frontier.push(Task(0, row, "trivia"))

    removed = frontier.remove_row(0, 1)

    assert set(removed) == {Task(0, 1, "summary"), Task(0, 1, "trivia")}
    assert len(frontier) == 4
    assert Task(0, 1, "summary") not in frontier
    assert all(task.row != 1 for task in drain(frontier))
    assert not frontier


def test_remove_group_and_whole_column_tasks() -> None:
    frontier = Frontier(CHAIN, INDEX)
    frontier.push(Task(0, WHOLE_COLUMN, "topic"))
    frontier.push(Task(1, WHOLE_COLUMN, "topic"))
    frontier.push(Task(1, 3, "summary"))

    removed = frontier.remove_group(1)

    assert set(removed) == {Task(1, WHOLE_COLUMN, "topic"), Task(1, 3, "summary")}
    assert frontier.peek() == Task(0, WHOLE_COLUMN, "topic")
    assert Task(0, WHOLE_COLUMN, "topic").is_whole_column
    assert drain(frontier) == [Task(0, WHOLE_COLUMN, "topic")]


def test_a_popped_task_can_be_pushed_again() -> None:
    frontier = Frontier(CHAIN, INDEX)
    task = Task(0, 0, "summary")
    frontier.push(task)
    assert frontier.pop() == task

    frontier.push(task)

    assert frontier.pop() == task


def test_duplicate_push_and_empty_pop_raise() -> None:
    frontier = Frontier(CHAIN, INDEX)
    frontier.push(Task(0, 0, "summary"))

    with pytest.raises(ValueError, match="already in the frontier"):
        frontier.push(Task(0, 0, "summary"))
    frontier.pop()
    with pytest.raises(IndexError):
        frontier.pop()


def test_unknown_policy_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="critical_path, row_major"):
        Frontier(CHAIN, INDEX, policy="fifo")


tasks_strategy = st.lists(
    st.tuples(st.integers(0, 3), st.integers(-1, 20), st.sampled_from(sorted(CHAIN))),
    unique=True,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(
    entries=tasks_strategy,
    policy=st.sampled_from(["critical_path", "row_major"]),
    pruned=st.lists(st.tuples(st.integers(0, 3), st.integers(-1, 20)), max_size=5),
)
def test_pop_order_matches_a_sorted_reference(entries, policy, pruned) -> None:
    frontier = Frontier(CHAIN, INDEX, policy=policy)
    tasks = [Task(*entry) for entry in entries]
    for task in tasks:
        frontier.push(task)
    for group, row in pruned:
        frontier.remove_row(group, row)

    def key(task: Task) -> tuple:
        if policy == "row_major":
            return (task.row_group, task.row, INDEX[task.column])
        return (-CHAIN[task.column], task.row_group, task.row, INDEX[task.column])

    kept = [task for task in tasks if (task.row_group, task.row) not in set(pruned)]
    assert len(frontier) == len(kept)
    assert drain(frontier) == sorted(kept, key=key)
