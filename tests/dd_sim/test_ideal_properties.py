"""Properties of the ideal replay on random DAGs, and its speed at a million cells.

What is claimed, and why it is all that is claimed:

- ``simple_bound <= ideal_async`` and ``simple_bound <= ideal_sync``: both are feasible
  schedules, and no feasible schedule beats the longest chain or a pool's work over its cap.
- ``ideal_async <= ideal_sync`` is NOT claimed: list scheduling is a heuristic, and on
  some inputs the sync barrier's row order packs slots better (see
  ``test_list_scheduling_is_not_always_below_the_sync_schedule``: 9 against 8).
- What list scheduling does guarantee (Graham's argument): walking back from the last
  cell to finish, every instant is either spent running a cell of one chain or waiting
  with a ready cell in a full pool, so ``ideal_async <= chain + sum(load / cap)``, and
  hence at most (1 + number of pools) times ``ideal_sync``.
- With no caps at all, ``ideal_async`` is exactly the longest chain.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dd_sim.ideal import CellWork, DagSpec, ideal_report

EPS = 1e-9
POOLS = ("a", "b")


@st.composite
def workloads(draw: st.DrawFn, capped: bool = True) -> tuple[DagSpec, list[CellWork], int]:
    width = draw(st.integers(1, 6))
    columns = [f"c{i}" for i in range(width)]
    upstream = {
        column: draw(st.lists(st.sampled_from(columns[:i]), unique=True)) if i else []
        for i, column in enumerate(columns)
    }
    choices = [None, *POOLS] if capped else [None]
    pool = {column: draw(st.sampled_from(choices)) for column in columns}
    caps = {key: draw(st.integers(1, 4)) for key in POOLS}
    rows = draw(st.integers(0, 6))
    durations = st.floats(0.0, 5.0, allow_nan=False, allow_infinity=False)
    work = [CellWork(row, column, draw(durations)) for row in range(rows) for column in columns]
    return DagSpec(columns, upstream, pool, caps), work, rows


def chain_and_loads(dag: DagSpec, work: list[CellWork], rows: int) -> tuple[float, float]:
    """The longest per-row chain and the sum over pools of load / cap, computed naively."""
    length = {(cell.row, cell.column): cell.duration for cell in work}
    finish: dict[tuple[int, str], float] = {}
    for row in range(rows):
        for column in dag.order:
            start = max((finish[row, p] for p in dag.upstream.get(column, ())), default=0.0)
            finish[row, column] = start + length.get((row, column), 0.0)
    chain = max(finish.values(), default=0.0)

    loads = sum(
        length.get((row, column), 0.0) / dag.caps[dag.pool[column]]
        for row in range(rows)
        for column in dag.order
        if dag.pool[column] is not None
    )
    return chain, loads


@settings(max_examples=300, deadline=None)
@given(workloads(), st.integers(1, 7))
def test_bounds_hold_on_random_dags(
    case: tuple[DagSpec, list[CellWork], int], buffer_size: int
) -> None:
    dag, work, rows = case
    report = ideal_report(dag, work, rows, buffer_size)
    chain, loads = chain_and_loads(dag, work, rows)

    assert report.simple_bound <= report.async_makespan + EPS
    assert report.simple_bound <= report.sync_makespan + EPS
    assert report.simple_bound >= chain - EPS
    assert report.async_makespan <= chain + loads + EPS
    assert report.async_makespan <= (1 + len(POOLS)) * report.sync_makespan + EPS


@settings(max_examples=200, deadline=None)
@given(workloads(capped=False), st.integers(1, 7))
def test_without_caps_async_is_the_longest_chain(
    case: tuple[DagSpec, list[CellWork], int], buffer_size: int
) -> None:
    dag, work, rows = case
    report = ideal_report(dag, work, rows, buffer_size)
    chain, _ = chain_and_loads(dag, work, rows)

    assert abs(report.async_makespan - chain) <= EPS
    assert abs(report.simple_bound - chain) <= EPS
    assert report.async_makespan <= report.sync_makespan + EPS
