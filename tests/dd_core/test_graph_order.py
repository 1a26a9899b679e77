"""ExecutionGraph: Kahn's order, neighbours, levels, model-call chains, multi-output nodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dd_core.config import CustomColumn, ExpressionColumn, LLMTextColumn, Pipeline, SamplerColumn
from dd_core.errors import ConfigError
from dd_core.graph import ExecutionGraph
from dd_core.loader import load_pipeline

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def generator_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))


@pytest.fixture
def deep() -> ExecutionGraph:
    return ExecutionGraph.from_pipeline(load_pipeline(FIXTURES / "pipelines" / "deep.yaml"))


def test_order_is_topological_with_declaration_tie_break(deep: ExecutionGraph) -> None:
    assert deep.order == (
        "topic", "summary", "analysis", "conclusion", "trivia", "quality", "label", "seeds",
    )  # fmt: skip


def test_ties_follow_declaration_not_alphabet() -> None:
    columns = (
        ExpressionColumn("z", expr="{{ b }}"),
        SamplerColumn("b", params={"values": [1]}),
        SamplerColumn("a", params={"values": [1]}),
        ExpressionColumn("y", expr="{{ a }}"),
    )
    graph = ExecutionGraph.from_pipeline(Pipeline(columns=columns))
    assert graph.order == ("b", "z", "a", "y")


def test_neighbours_and_closures(deep: ExecutionGraph) -> None:
    assert deep.upstream("topic") == frozenset()
    assert deep.upstream("label") == {"topic", "quality"}
    assert deep.downstream("summary") == {"analysis", "quality"}
    assert deep.downstream("topic") == {"summary", "trivia", "label"}
    assert deep.ancestors("conclusion") == {"analysis", "summary", "topic"}
    assert deep.descendants("summary") == {"analysis", "conclusion", "quality", "label"}
    assert deep.descendants("seeds") == frozenset()


def test_levels(deep: ExecutionGraph) -> None:
    assert deep.level("topic") == 0
    assert deep.level("label") == 3
    assert deep.levels() == [
        ["topic", "seeds"],
        ["summary", "trivia"],
        ["analysis", "quality"],
        ["conclusion", "label"],
    ]


def test_llm_chains(deep: ExecutionGraph) -> None:
    chains = {name: deep.llm_chain(name) for name in deep.order}
    assert chains == {
        "topic": 3, "summary": 3, "analysis": 2, "conclusion": 1,
        "trivia": 1, "quality": 1, "label": 0, "seeds": 0,
    }  # fmt: skip
    assert deep.critical_path() == 3
    assert deep.is_llm("quality") and not deep.is_llm("label") and not deep.is_llm("seeds")
    assert deep.model_aliases("quality") == ("judge",)


def test_multi_output_node_is_one_producer(deep: ExecutionGraph) -> None:
    assert deep.producer("q") == deep.producer("a") == "seeds"
    assert deep.producer("quality_accuracy") == "quality"
    assert deep.outputs("seeds") == ("q", "a")
    assert deep.outputs("quality") == ("quality", "quality_accuracy", "quality_clarity")
    assert deep.column("seeds").kind == "custom"
    assert deep.output_columns[:2] == ("topic", "summary")


def test_reading_an_output_column_depends_on_its_producer() -> None:
    columns = (
        CustomColumn("pairs", generator="ddtest_generators:read_seeds", outputs=("q", "a")),
        LLMTextColumn("answer", model="m", prompt="{{ q }}"),
        CustomColumn("check", generator="ddtest_generators:shout", depends_on=("a",)),
    )
    graph = ExecutionGraph.from_pipeline(Pipeline(columns=columns))
    assert graph.upstream("answer") == {"pairs"}
    assert graph.upstream("check") == {"pairs"}
    assert graph.llm_chain("pairs") == 1


def test_attribute_reference_reads_the_base_column() -> None:
    columns = (
        SamplerColumn("topic", params={"values": ["x"]}),
        ExpressionColumn(
            "label", expr="{{ topic.upper() }} {% for c in topic %}{{ c }}{% endfor %}"
        ),
    )
    graph = ExecutionGraph.from_pipeline(Pipeline(columns=columns))
    assert graph.upstream("label") == {"topic"}


def test_cycle_is_refused_with_its_path() -> None:
    columns = (
        ExpressionColumn("a", expr="{{ c }}"),
        ExpressionColumn("b", expr="{{ a }}"),
        ExpressionColumn("c", expr="{{ b }}"),
        ExpressionColumn("d", expr="{{ c }}"),
    )
    with pytest.raises(ConfigError, match=r"^cycle: a -> b -> c -> a$"):
        ExecutionGraph.from_pipeline(Pipeline(columns=columns))


def test_self_reference_is_a_cycle() -> None:
    columns = (ExpressionColumn("a", expr="{{ a }}"),)
    with pytest.raises(ConfigError, match=r"^cycle: a -> a$"):
        ExecutionGraph.from_pipeline(Pipeline(columns=columns))
