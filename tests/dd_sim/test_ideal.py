"""The ideal replay on hand-made DAGs, where every makespan can be worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from dd_sim.ideal import (
    CellWork,
    DagSpec,
    IdealReport,
    ideal_async,
    ideal_report,
    ideal_sync,
    simple_bound,
    work_from_request_log,
)

L = 1.5  # a latency that is exact in binary floating point, so sums compare with ==


def uniform_work(columns: list[str], rows: int, latency: float = L) -> list[CellWork]:
    return [CellWork(row, column, latency) for row in range(rows) for column in columns]


def wide(cap: int = 16) -> DagSpec:
    columns = [f"c{i}" for i in range(5)]
    return DagSpec(columns, {}, {c: "model" for c in columns}, {"model": cap})


def deep() -> DagSpec:
    return DagSpec(
        order=["topic", "summary", "analysis", "conclusion", "trivia"],
        upstream={
            "summary": ["topic"],
            "analysis": ["summary"],
            "conclusion": ["analysis"],
            "trivia": ["topic"],
        },
        pool={
            "topic": None,
            "summary": "model",
            "analysis": "model",
            "conclusion": "model",
            "trivia": "model",
        },
        caps={"model": 16},
    )


DEEP_LLM = ["summary", "analysis", "conclusion", "trivia"]


def test_wide_shape_is_bounded_by_slots_not_by_total_over_cap() -> None:
    work = uniform_work(list(wide().order), 10)

    report = ideal_report(wide(), work, rows=10, buffer_size=10)

    # 50 cells on 16 slots: four waves of L, not 50/16 L (a cell cannot be split).
    assert report.async_makespan == 4 * L
    assert report.sync_makespan == 5 * L
    assert report.simple_bound == pytest.approx(50 / 16 * L)


def test_deep_shape_with_critical_path_priority() -> None:
    work = uniform_work(DEEP_LLM, 10)

    # Row order would start 8 summaries and 8 trivia cells first and need 4L; the longest
    # remaining chain first starts all 10 summaries, so the chain of 3 sets the pace.
    assert ideal_async(deep(), work, rows=10) == 3 * L
    assert ideal_sync(deep(), work, rows=10, buffer_size=10) == 4 * L
    assert simple_bound(deep(), work, rows=10) == 3 * L


def test_priority_ties_break_by_column_order() -> None:
    # a and b both have a remaining path of 2 on the single slot of m. After a, two cells
    # queue on the single slot of n; after b, one uncapped cell. a first: 3; b first: 4.
    dag = DagSpec(
        order=["a", "b", "c1", "c2", "tail"],
        upstream={"c1": ["a"], "c2": ["a"], "tail": ["b"]},
        pool={"a": "m", "b": "m", "c1": "n", "c2": "n", "tail": None},
        caps={"m": 1, "n": 1},
    )

    assert ideal_async(dag, uniform_work(list(dag.order), 1, latency=1.0), rows=1) == 3.0


def test_priority_ties_break_by_row() -> None:
    # Both rows' a has a remaining path of 2; row 0 then needs two cells on the single slot
    # of n, row 1 one uncapped cell. Row 0 first: 3; row 1 first: 4.
    dag = DagSpec(
        order=["a", "c1", "c2", "tail"],
        upstream={"c1": ["a"], "c2": ["a"], "tail": ["a"]},
        pool={"a": "m", "c1": "n", "c2": "n", "tail": None},
        caps={"m": 1, "n": 1},
    )
    work = [CellWork(0, "a", 1.0), CellWork(0, "c1", 1.0), CellWork(0, "c2", 1.0)]
    work += [CellWork(1, "a", 1.0), CellWork(1, "tail", 1.0)]

    assert ideal_async(dag, work, rows=2) == 3.0


def test_unlimited_caps_give_the_longest_chain() -> None:
    dag = DagSpec(
        order=["topic", "summary", "analysis", "trivia"],
        upstream={"summary": ["topic"], "analysis": ["summary"], "trivia": ["topic"]},
        pool={"topic": None, "summary": None, "analysis": None, "trivia": None},
        caps={},
    )
    work = [CellWork(row, "summary", 1.0 + row) for row in range(4)]
    work += [CellWork(row, "analysis", 2.0) for row in range(4)]
    work += [CellWork(row, "trivia", 7.0) for row in range(4)]

    # Row 3: summary 4 + analysis 2 = 6 < trivia 7; the longest chain anywhere is 7.
    assert ideal_async(dag, work, rows=4) == 7.0
    assert simple_bound(dag, work, rows=4) == 7.0
    # The barrier adds the slowest cell of each column: 0 + 4 + 2 + 7.
    assert ideal_sync(dag, work, rows=4, buffer_size=4) == 13.0


def test_a_cap_larger_than_the_work_is_the_same_as_no_cap() -> None:
    work = uniform_work(DEEP_LLM, 10)
    roomy = DagSpec(deep().order, deep().upstream, deep().pool, {"model": 1000})

    assert ideal_async(roomy, work, rows=10) == 3 * L


def test_chain_across_two_pools() -> None:
    dag = DagSpec(
        order=["draft", "judge"],
        upstream={"judge": ["draft"]},
        pool={"draft": "generator", "judge": "judge"},
        caps={"generator": 2, "judge": 1},
    )
    work = uniform_work(["draft", "judge"], 4, latency=1.0)

    report = ideal_report(dag, work, rows=4, buffer_size=4)

    # Drafts finish at 1, 1, 2, 2; the single judge slot runs 1-2, 2-3, 3-4, 4-5.
    assert report.async_makespan == 5.0
    # Drafts: two waves (2); judges: four in a row (4).
    assert report.sync_makespan == 6.0
    # The judge pool's 4 units on 1 slot beat the chain of 2, but the judge cannot
    # start before the first draft ends, so the bound is not reached.
    assert report.simple_bound == 4.0


def test_buffer_size_smaller_than_rows_adds_a_barrier_per_batch() -> None:
    dag = DagSpec(["answer"], {}, {"answer": "model"}, {"model": 3})
    work = uniform_work(["answer"], 10, latency=1.0)

    # Batches of 4, 4 and 2 rows on 3 slots: 2 + 2 + 1, against ceil(10 / 3) = 4 unbatched.
    assert ideal_sync(dag, work, rows=10, buffer_size=4) == 5.0
    assert ideal_sync(dag, work, rows=10, buffer_size=10) == 4.0
    assert ideal_sync(wide(), uniform_work(list(wide().order), 10), 10, buffer_size=4) == 15 * L


def test_sync_greedy_runs_cells_in_row_order_on_the_first_free_slot() -> None:
    dag = DagSpec(["answer"], {}, {"answer": "model"}, {"model": 2})
    work = [CellWork(row, "answer", d) for row, d in enumerate([3.0, 4.0, 3.0, 4.0, 2.0])]

    # Slots: 3 | 4, then row 2 on the first (3-6), row 3 on the second (4-8), row 4 (6-8).
    assert ideal_sync(dag, work, rows=5, buffer_size=5) == 8.0


def test_the_ideal_takes_the_best_of_its_scheduling_rules() -> None:
    # Longest remaining path first is the LPT rule here, and LPT gets 4 | 4, 3 | 3, then 2
    # alone: 9; row order gets 8. The ideal is the best of its rules, so 8.
    dag = DagSpec(["answer"], {}, {"answer": "model"}, {"model": 2})
    work = [CellWork(row, "answer", d) for row, d in enumerate([3.0, 4.0, 3.0, 4.0, 2.0])]

    assert ideal_async(dag, work, rows=5) == 8.0
    assert ideal_sync(dag, work, rows=5, buffer_size=5) == 8.0


def test_missing_cells_take_no_time_and_repeated_cells_add_up() -> None:
    dag = DagSpec(["a", "b"], {"b": ["a"]}, {"a": "m", "b": "m"}, {"m": 4})
    work = [CellWork(0, "a", 1.0), CellWork(0, "a", 0.5), CellWork(0, "b", 2.0)]

    assert ideal_async(dag, work, rows=3) == 3.5
    assert ideal_async(dag, [], rows=3) == 0.0
    assert ideal_async(dag, [], rows=0) == 0.0
    assert ideal_sync(dag, [], rows=0, buffer_size=1) == 0.0


def test_report_to_dict() -> None:
    report = IdealReport(async_makespan=1.0, sync_makespan=2.0, simple_bound=0.5)

    assert report.to_dict() == {"async_makespan": 1.0, "sync_makespan": 2.0, "simple_bound": 0.5}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"order": ["a", "a"]}, "appears twice"),
        ({"upstream": {"b": ["zzz"]}}, "unknown column 'zzz'"),
        ({"upstream": {"a": ["b"]}}, "does not come before"),
        ({"upstream": {"zzz": []}}, "unknown column 'zzz'"),
        ({"pool": {"a": "m"}}, "column 'b' is missing"),
        ({"pool": {"a": "m", "b": "other"}}, "has no entry in DagSpec.caps"),
        ({"caps": {"m": 0}}, "integer >= 1"),
        ({"caps": {"m": 2.5}}, "integer >= 1"),
    ],
)
def test_bad_spec_is_rejected_with_the_field_named(kwargs: dict, message: str) -> None:
    fields = {"order": ["a", "b"], "upstream": {}, "pool": {"a": "m", "b": None}, "caps": {"m": 1}}
    fields.update(kwargs)

    with pytest.raises(ValueError, match=message):
        DagSpec(**fields)


@pytest.mark.parametrize(
    ("work", "rows", "message"),
    [
        ([CellWork(0, "nope", 1.0)], 1, "'nope' is not in the DagSpec"),
        ([CellWork(5, "a", 1.0)], 2, "outside 0..1"),
        ([CellWork(0, "a", -1.0)], 1, "finite number >= 0"),
        ([CellWork(0, "a", float("nan"))], 1, "finite number >= 0"),
        ([], -1, "rows = -1"),
    ],
)
def test_bad_work_is_rejected(work: list[CellWork], rows: int, message: str) -> None:
    dag = DagSpec(["a"], {}, {"a": "m"}, {"m": 1})

    with pytest.raises(ValueError, match=message):
        ideal_async(dag, work, rows)


def test_bad_buffer_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="buffer_size = 0"):
        ideal_sync(wide(), [], rows=1, buffer_size=0)


def test_work_from_request_log_sums_served_requests_per_cell() -> None:
    frame = pd.DataFrame(
        {
            "tag": ["summary:0", "summary:0", "judge:1", "summary:1", None, "", "bad", "x:y"],
            "start": [0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            "end": [1.0, 2.5, 4.0, 9.0, 5.0, 5.0, 5.0, 5.0],
            "status": [200, 200, 200, 429, 200, 200, 200, 200],
        }
    )

    work = work_from_request_log(frame)

    # The custom cell's two calls add up; the 429 and the untagged or malformed rows do not
    # count, so summary:1 has no work at all.
    assert work == [CellWork(0, "summary", 1.5), CellWork(1, "judge", 3.0)]


def test_work_from_request_log_keeps_colons_in_column_names() -> None:
    frame = pd.DataFrame({"tag": ["ns:col:3"], "start": [1.0], "end": [3.0], "status": [200]})

    assert work_from_request_log(frame) == [CellWork(3, "ns:col", 2.0)]


def test_work_from_request_log_edges() -> None:
    empty = pd.DataFrame({"tag": [], "start": [], "end": [], "status": []})

    assert work_from_request_log(empty) == []
    with pytest.raises(ValueError, match=r"missing columns \['status'\]"):
        work_from_request_log(pd.DataFrame({"tag": [], "start": [], "end": []}))
