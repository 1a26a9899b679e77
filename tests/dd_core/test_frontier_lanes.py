"""Model lanes: the best head among lanes with room leaves first; a full lane is skipped."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dd_core.executors.frontier import Frontier, Task
from dd_core.executors.lanes import (
    LANE_CAP_FACTOR,
    NON_LLM_LANE,
    LaneFrontier,
    LanePlan,
    lane_caps,
)
from dd_core.graph import ExecutionGraph
from dd_sim.dag import pool_key

# The dual_model shape: topic -> 3 generators (chain 2) -> 3 judges (chain 1).
GENERATORS = ("explanation", "example", "quiz")
JUDGES = ("explanation_score", "example_score", "quiz_score")
COLUMNS = ("topic", *GENERATORS, *JUDGES)
CHAIN = {"topic": 2} | dict.fromkeys(GENERATORS, 2) | dict.fromkeys(JUDGES, 1)
INDEX = {name: position for position, name in enumerate(COLUMNS)}
LANES = (
    {"topic": NON_LLM_LANE} | dict.fromkeys(GENERATORS, "p/gen") | dict.fromkeys(JUDGES, "p/judge")
)


def lanes(gen_cap: int = 100, judge_cap: int = 100) -> LaneFrontier:
    plan = LanePlan(LANES, {"p/gen": gen_cap, "p/judge": judge_cap})
    return LaneFrontier(CHAIN, INDEX, plan)


def test_a_lane_at_its_cap_lets_another_lanes_lower_priority_task_through() -> None:
    frontier = lanes(gen_cap=2)
    for row in range(3):
        frontier.push(Task(0, row, "explanation"))
    frontier.push(Task(0, 0, "quiz_score"))

    taken = [frontier.take(), frontier.take(), frontier.take()]

    assert taken == [Task(0, 0, "explanation"), Task(0, 1, "explanation"), Task(0, 0, "quiz_score")]
    assert frontier.take() is None
    assert frontier.out("p/gen") == 2 and len(frontier) == 1

    frontier.finish(taken[0])
    assert frontier.take() == Task(0, 2, "explanation")


def test_the_non_llm_lane_has_no_cap() -> None:
    frontier = lanes(gen_cap=1, judge_cap=1)
    for row in range(50):
        frontier.push(Task(0, row, "topic"))

    assert [frontier.take() for _ in range(50)] == [Task(0, row, "topic") for row in range(50)]
    assert frontier.held == 50


def test_finish_without_take_is_an_error() -> None:
    frontier = lanes()
    with pytest.raises(RuntimeError, match="p/judge"):
        frontier.finish(Task(0, 0, "quiz_score"))


def test_pruning_reaches_every_lane() -> None:
    frontier = lanes()
    for column in ("topic", "quiz", "quiz_score"):
        frontier.push(Task(0, 3, column))
    frontier.push(Task(0, 4, "quiz"))

    removed = frontier.remove_row(0, 3)

    assert sorted(task.column for task in removed) == ["quiz", "quiz_score", "topic"]
    assert Task(0, 3, "quiz") not in frontier and Task(0, 4, "quiz") in frontier
    assert frontier.remove_group(0) == [Task(0, 4, "quiz")]
    assert not frontier


tasks = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 20), st.sampled_from(COLUMNS)),
    unique=True,
    max_size=60,
).map(lambda items: [Task(*item) for item in items])


@settings(max_examples=60, deadline=None)
@given(tasks, st.sampled_from(["critical_path", "row_major"]))
def test_with_room_in_every_lane_take_order_is_the_single_frontiers_order(items, policy) -> None:
    single = Frontier(CHAIN, INDEX, policy)
    plan = LanePlan(LANES, {"p/gen": len(items) + 1, "p/judge": len(items) + 1})
    frontier = LaneFrontier(CHAIN, INDEX, plan, policy)
    for task in items:
        single.push(task)
        frontier.push(task)

    assert [frontier.take() for _ in items] == [single.pop() for _ in items]
    assert frontier.take() is None


@settings(max_examples=60, deadline=None)
@given(tasks, st.integers(1, 4), st.integers(1, 4))
def test_no_lane_ever_has_more_than_its_cap_out(items, gen_cap, judge_cap) -> None:
    frontier = lanes(gen_cap, judge_cap)
    for task in items:
        frontier.push(task)

    out: list[Task] = []
    while frontier or out:
        task = frontier.take()
        if task is None:
            frontier.finish(out.pop(0))
            continue
        out.append(task)
        assert frontier.out("p/gen") <= gen_cap and frontier.out("p/judge") <= judge_cap
    assert frontier.held == 0


def test_lane_caps_are_twice_the_throttle_cap_or_a_share_of_a_small_pool() -> None:
    assert lane_caps({"a": 16, "b": 16}, 256) == {"a": 2 * 16, "b": 2 * 16}
    assert LANE_CAP_FACTOR == 2
    # An LLM-wait pool of 8 for two lanes of 4: each lane gets its half.
    assert lane_caps({"a": 4, "b": 4}, 8) == {"a": 4, "b": 4}
    assert lane_caps({"a": 6, "b": 2}, 8) == {"a": 6, "b": 2}
    assert lane_caps({"a": 1, "b": 1, "c": 1}, 2) == {"a": 1, "b": 1, "c": 1}


def test_the_plan_of_a_pipeline_names_lanes_as_the_simulator_names_pools(workload) -> None:
    pipeline = workload("dual_model").with_max_parallel_requests(4)
    graph = ExecutionGraph.from_pipeline(pipeline)

    plan = LanePlan.for_pipeline(pipeline, graph, llm_wait_size=256)

    gen, judge = pipeline.models["generator"], pipeline.models["judge"]
    assert plan.lane_of["topic"] is NON_LLM_LANE
    assert {plan.lane_of[name] for name in GENERATORS} == {pool_key(gen.provider, gen.model)}
    assert {plan.lane_of[name] for name in JUDGES} == {pool_key(judge.provider, judge.model)}
    assert sorted(plan.caps.values()) == [8, 8]
    assert plan.lanes[-1] is NON_LLM_LANE
