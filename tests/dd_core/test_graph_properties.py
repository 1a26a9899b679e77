"""Property tests: random DAGs are ordered after their upstream; random cycles are refused."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from dd_core.config import ExpressionColumn, LLMTextColumn, Pipeline, SamplerColumn
from dd_core.errors import ConfigError
from dd_core.graph import ExecutionGraph

NAMES = [f"c{i}" for i in range(40)]


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[str], dict[str, set[str]]]:
    """Columns in a random declaration order, each reading from earlier ones in a hidden
    topological order (random width, depth and fan-in)."""
    count = draw(st.integers(1, 25))
    topo = NAMES[:count]
    parents: dict[str, set[str]] = {}
    for i, name in enumerate(topo):
        fan_in = draw(st.integers(0, min(i, 4)))
        parents[name] = set(draw(st.permutations(topo[:i]))[:fan_in]) if fan_in else set()
    declared = draw(st.permutations(topo))
    return list(declared), parents


def column(name: str, parents: set[str], llm: bool):
    if not parents:
        return SamplerColumn(name, params={"values": [1]})
    template = " ".join(f"{{{{ {p} }}}}" for p in sorted(parents))
    if llm:
        return LLMTextColumn(name, model="m", prompt=template)
    return ExpressionColumn(name, expr=template)


@settings(max_examples=150, deadline=None)
@given(dags(), st.randoms(use_true_random=False))
def test_random_dag_orders_every_column_after_its_upstream(dag, rnd) -> None:
    declared, parents = dag
    columns = tuple(column(n, parents[n], llm=rnd.random() < 0.5) for n in declared)
    graph = ExecutionGraph.from_pipeline(Pipeline(columns=columns))

    position = {name: i for i, name in enumerate(graph.order)}
    assert sorted(graph.order) == sorted(declared)
    for name in declared:
        assert graph.upstream(name) == parents[name]
        assert all(position[p] < position[name] for p in parents[name])
        assert graph.level(name) == 1 + max((graph.level(p) for p in parents[name]), default=-1)
        for child in graph.downstream(name):
            assert graph.llm_chain(name) >= graph.llm_chain(child)
        assert graph.llm_chain(name) >= int(graph.is_llm(name))
    assert graph.order == ExecutionGraph.from_pipeline(Pipeline(columns=columns)).order


@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_random_cycle_is_refused_with_a_real_cycle(dag, data) -> None:
    declared, parents = dag
    topo = sorted(declared, key=lambda n: int(n[1:]))
    # An edge from a later column back to an earlier one (or to itself) closes a cycle.
    low = data.draw(st.integers(0, len(topo) - 1))
    high = data.draw(st.integers(low, len(topo) - 1))
    back = {name: set(p) for name, p in parents.items()}
    back[topo[low]].add(topo[high])
    # Keep a path from topo[low] to topo[high]: make each step on the way read the previous.
    for i in range(low + 1, high + 1):
        back[topo[i]].add(topo[i - 1])

    columns = tuple(column(n, back[n], llm=False) for n in declared)
    try:
        ExecutionGraph.from_pipeline(Pipeline(columns=columns))
    except ConfigError as exc:
        match = re.fullmatch(r"cycle: (.+)", str(exc))
        assert match, str(exc)
        path = match.group(1).split(" -> ")
    else:
        raise AssertionError("a pipeline with a cycle was accepted")

    assert path[0] == path[-1] and len(path) >= 2
    assert len(set(path[:-1])) == len(path) - 1
    for source, target in zip(path, path[1:], strict=False):
        assert source in back[target], f"{source} -> {target} is not an edge"
