"""The execution graph: columns as nodes, their dependencies, and a deterministic order.

A node is a pipeline column; a multi-output custom generator or a judge is one node that
writes several dataset columns. Edges come from the names a column's templates read
(prompt, system prompt, expression), mapped to the node that produces each, and from its
explicit ``depends_on``. Everything the schedulers ask in their hot loops (neighbours,
ancestors, levels, model-call chain lengths) is computed once here.
"""

from __future__ import annotations

import difflib
import heapq
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dd_core.config import (
    ColumnConfig,
    CustomColumn,
    ExpressionColumn,
    LLMJudgeColumn,
    LLMTextColumn,
    Pipeline,
)
from dd_core.errors import ConfigError
from dd_core.templates import referenced_names

log = logging.getLogger(__name__)

__all__ = ["ExecutionGraph", "column_templates", "did_you_mean", "is_llm_column", "where"]


def column_templates(column: ColumnConfig) -> dict[str, str]:
    """The Jinja2 templates of a column, by field name (``prompt``, ``system_prompt``, ...)."""
    if isinstance(column, ExpressionColumn):
        return {"expr": column.expr}
    if isinstance(column, LLMTextColumn | LLMJudgeColumn):
        templates = {"prompt": column.prompt}
        if column.system_prompt is not None:
            templates["system_prompt"] = column.system_prompt
        return templates
    return {}


def is_llm_column(column: ColumnConfig) -> bool:
    """Whether a cell of this column makes model calls."""
    if isinstance(column, CustomColumn):
        return bool(column.models)
    return bool(column.model_aliases)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss, or nothing."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def where(index: int, column: ColumnConfig) -> str:
    """The location prefix used in error messages: ``columns[3] (analysis)``."""
    return f"columns[{index}] ({column.name})"


@dataclass(frozen=True, eq=False)
class ExecutionGraph:
    """A validated DAG of a pipeline's columns; build it with ``from_pipeline``."""

    order: tuple[str, ...]
    _columns: Mapping[str, ColumnConfig]
    _upstream: Mapping[str, frozenset[str]]
    _downstream: Mapping[str, frozenset[str]]
    _ancestors: Mapping[str, frozenset[str]]
    _descendants: Mapping[str, frozenset[str]]
    _level: Mapping[str, int]
    _llm_chain: Mapping[str, int]
    _producer: Mapping[str, str]

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> ExecutionGraph:
        """Build the graph; raises ``ConfigError`` on an unknown reference or a cycle."""
        columns = {column.name: column for column in pipeline.columns}
        producer = {out: col.name for col in pipeline.columns for out in col.output_columns}
        upstream = {
            column.name: frozenset(_column_upstream(index, column, producer, columns))
            for index, column in enumerate(pipeline.columns)
        }
        declared = [column.name for column in pipeline.columns]
        order = _kahn(declared, upstream)

        downstream: dict[str, set[str]] = {name: set() for name in declared}
        for name, parents in upstream.items():
            for parent in parents:
                downstream[parent].add(name)

        ancestors: dict[str, frozenset[str]] = {}
        level: dict[str, int] = {}
        for name in order:
            parents = upstream[name]
            ancestors[name] = frozenset(parents).union(*(ancestors[p] for p in parents))
            level[name] = 1 + max((level[p] for p in parents), default=-1)

        descendants: dict[str, frozenset[str]] = {}
        llm_chain: dict[str, int] = {}
        for name in reversed(order):
            children = downstream[name]
            descendants[name] = frozenset(children).union(*(descendants[c] for c in children))
            own = 1 if is_llm_column(columns[name]) else 0
            llm_chain[name] = own + max((llm_chain[c] for c in children), default=0)

        return cls(
            order=order,
            _columns=columns,
            _upstream=upstream,
            _downstream={name: frozenset(children) for name, children in downstream.items()},
            _ancestors=ancestors,
            _descendants=descendants,
            _level=level,
            _llm_chain=llm_chain,
            _producer=producer,
        )

    def upstream(self, name: str) -> frozenset[str]:
        """Nodes ``name`` reads from directly."""
        return self._upstream[name]

    def downstream(self, name: str) -> frozenset[str]:
        """Nodes that read ``name`` directly."""
        return self._downstream[name]

    def ancestors(self, name: str) -> frozenset[str]:
        return self._ancestors[name]

    def descendants(self, name: str) -> frozenset[str]:
        return self._descendants[name]

    def level(self, name: str) -> int:
        """Longest number of edges from a root to ``name`` (0 for roots)."""
        return self._level[name]

    def levels(self) -> list[list[str]]:
        """Nodes grouped by level, each group in topological order."""
        groups: list[list[str]] = [[] for _ in range(1 + max(self._level.values()))]
        for name in self.order:
            groups[self._level[name]].append(name)
        return groups

    def producer(self, output_column: str) -> str:
        """The node that writes dataset column ``output_column``."""
        return self._producer[output_column]

    def outputs(self, name: str) -> tuple[str, ...]:
        """The dataset columns node ``name`` writes."""
        return self._columns[name].output_columns

    @property
    def output_columns(self) -> tuple[str, ...]:
        """Every dataset column, in topological order of their producers."""
        return tuple(out for name in self.order for out in self.outputs(name))

    def column(self, name: str) -> ColumnConfig:
        return self._columns[name]

    def is_llm(self, name: str) -> bool:
        """Whether a cell of node ``name`` makes model calls."""
        return is_llm_column(self._columns[name])

    def model_aliases(self, name: str) -> tuple[str, ...]:
        return self._columns[name].model_aliases

    def llm_chain(self, name: str) -> int:
        """LLM nodes on the longest path from ``name`` (inclusive) to a sink."""
        return self._llm_chain[name]

    def critical_path(self) -> int:
        """LLM nodes on the longest chain of the whole DAG."""
        return max(self._llm_chain.values())

    def __len__(self) -> int:
        return len(self.order)

    def __contains__(self, name: object) -> bool:
        return name in self._columns


def _column_upstream(
    index: int,
    column: ColumnConfig,
    producer: Mapping[str, str],
    columns: Mapping[str, ColumnConfig],
) -> Iterable[str]:
    """The nodes one column depends on; unknown names raise ``ConfigError``."""
    known = ", ".join(producer)
    for field_name, source in column_templates(column).items():
        for name in sorted(referenced_names(source)):
            if name not in producer:
                raise ConfigError(
                    f"{where(index, column)}: unknown column {name!r} in {field_name}"
                    f"{did_you_mean(name, producer)}; known columns: {known}"
                )
            yield producer[name]

    for name in column.depends_on:
        if name in producer:
            yield producer[name]
        elif name in columns:
            yield name
        else:
            raise ConfigError(
                f"{where(index, column)}: unknown column {name!r} in depends_on"
                f"{did_you_mean(name, [*producer, *columns])}; known columns: {known}"
            )


def _kahn(declared: list[str], upstream: Mapping[str, frozenset[str]]) -> tuple[str, ...]:
    """Kahn's algorithm, ties broken by declaration order; raises ``ConfigError`` on a cycle."""
    position = {name: i for i, name in enumerate(declared)}
    waiting = {name: len(upstream[name]) for name in declared}
    children: dict[str, list[str]] = {name: [] for name in declared}
    for name in declared:
        for parent in upstream[name]:
            children[parent].append(name)

    ready = [position[name] for name in declared if waiting[name] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = declared[heapq.heappop(ready)]
        order.append(name)
        for child in children[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, position[child])

    if len(order) < len(declared):
        left = [name for name in declared if waiting[name] > 0]
        raise ConfigError(f"cycle: {' -> '.join(_find_cycle(left, upstream))}")
    return tuple(order)


def _find_cycle(left: list[str], upstream: Mapping[str, frozenset[str]]) -> list[str]:
    """One cycle among the nodes Kahn's algorithm could not order, in data-flow direction.

    Every such node has a parent that is also left, so walking parents must repeat a node.
    """
    remaining = set(left)
    seen: dict[str, int] = {}
    walk: list[str] = []
    node = left[0]
    while node not in seen:
        seen[node] = len(walk)
        walk.append(node)
        node = min((p for p in upstream[node] if p in remaining), key=left.index)
    cycle = walk[seen[node] :]
    cycle.reverse()
    start = cycle.index(min(cycle, key=left.index))
    cycle = cycle[start:] + cycle[:start]
    return [*cycle, cycle[0]]
