"""Column generators: how one cell (or one whole-column batch) of each column kind is made.

Both executors call the same interface, ``await generator.agenerate(row, ctx)`` per cell or
``await generator.agenerate_batch(rows, ctx)`` per batch or row group; they differ only in
when they call it. Sync callers use ``generate``/``generate_batch``, which run the
coroutine on a fresh event loop. User code written sync runs on a worker thread, so it
never blocks the loop, and reaches the model through ``ctx.chat_sync``.

Errors keep their class through every layer: a ``ModelCallError`` (retryable or not) or
any other ``DDCoreError`` from user code is re-raised as is; anything else becomes a
``GenerationError`` (non-retryable: the row is dropped) chained to the original.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from dd_core.config import (
    ColumnConfig,
    CustomColumn,
    ExpressionColumn,
    LLMJudgeColumn,
    LLMTextColumn,
    Pipeline,
    SamplerColumn,
)
from dd_core.contexts import BatchContext, CellContext, running_loop
from dd_core.errors import ConfigError, DDCoreError, GenerationError, RunError
from dd_core.graph import ExecutionGraph, is_llm_column
from dd_core.sampling import make_sampler
from dd_core.templates import render

log = logging.getLogger(__name__)

__all__ = [
    "BatchContext",
    "CellContext",
    "ColumnGenerator",
    "CustomGenerator",
    "ExpressionGenerator",
    "LLMJudgeGenerator",
    "LLMTextGenerator",
    "SamplerGenerator",
    "build_generators",
    "judge_response_format",
    "make_generator",
    "parse_judge_scores",
    "resolve_generator",
]


# --- the interface -----------------------------------------------------------------------


def _run_sync(coroutine: Coroutine[Any, Any, Any]) -> Any:
    if running_loop() is not None:
        coroutine.close()
        raise RunError("generate() called inside a running event loop; await agenerate()")
    return asyncio.run(coroutine)


class ColumnGenerator(ABC):
    """Makes the values of one column; one instance serves every cell of a run."""

    #: True: runs once per batch or row group through ``agenerate_batch``.
    whole_column: bool = False

    def __init__(self, column: ColumnConfig) -> None:
        self.column = column
        self.is_llm = is_llm_column(column)

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.column.output_columns

    @abstractmethod
    async def agenerate(self, row: Mapping[str, Any], ctx: CellContext) -> dict[str, Any]:
        """The values of one cell, by dataset column."""

    async def agenerate_batch(
        self, rows: Sequence[Mapping[str, Any]], ctx: BatchContext
    ) -> list[dict[str, Any]]:
        """The values of many cells; by default each row on its own, concurrently."""
        cells = [
            self.agenerate(row, ctx.cell(i)) for row, i in zip(rows, ctx.row_indices, strict=True)
        ]
        return list(await asyncio.gather(*cells))

    def generate(self, row: Mapping[str, Any], ctx: CellContext) -> dict[str, Any]:
        """Sync bridge: ``agenerate`` on a fresh event loop (not from inside a loop)."""
        return _run_sync(self.agenerate(row, ctx))

    def generate_batch(
        self, rows: Sequence[Mapping[str, Any]], ctx: BatchContext
    ) -> list[dict[str, Any]]:
        return _run_sync(self.agenerate_batch(rows, ctx))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.column.name!r})"


def _render(column: str, field_name: str, source: str, row: Mapping[str, Any], at: str) -> str:
    try:
        return render(source, row)
    except Exception as exc:
        raise GenerationError(
            f"column {column!r} {at}: {field_name} failed to render: {type(exc).__name__}: {exc}"
        ) from exc


# --- built-in kinds ----------------------------------------------------------------------


class SamplerGenerator(ColumnGenerator):
    """Seeded sampler values; the batch path is vectorised and gives the same values."""

    def __init__(self, column: SamplerColumn) -> None:
        super().__init__(column)
        self.sampler = make_sampler(column.sampler, column.params)

    async def agenerate(self, row: Mapping[str, Any], ctx: CellContext) -> dict[str, Any]:
        return {self.column.name: self.sampler.sample_cell(ctx.seed, ctx.column, ctx.row_index)}

    async def agenerate_batch(
        self, rows: Sequence[Mapping[str, Any]], ctx: BatchContext
    ) -> list[dict[str, Any]]:
        values = self.sampler.sample_rows(ctx.seed, ctx.column, ctx.row_indices)
        return [{self.column.name: value} for value in values]


class ExpressionGenerator(ColumnGenerator):
    """A Jinja2 template over the row, no model call."""

    column: ExpressionColumn

    async def agenerate(self, row: Mapping[str, Any], ctx: CellContext) -> dict[str, Any]:
        at = f"row {ctx.row_index}"
        return {self.column.name: _render(self.column.name, "expr", self.column.expr, row, at)}


class _PromptedGenerator(ColumnGenerator):
    column: LLMTextColumn | LLMJudgeColumn

    def messages(self, row: Mapping[str, Any], row_index: int) -> list[dict[str, str]]:
        """The chat messages for one cell: an optional system prompt, then the prompt."""
        at, name = f"row {row_index}", self.column.name
        messages = []
        if self.column.system_prompt:
            system = _render(name, "system_prompt", self.column.system_prompt, row, at)
            messages.append({"role": "system", "content": system})
        messages.append(
            {"role": "user", "content": _render(name, "prompt", self.column.prompt, row, at)}
        )
        return messages


class LLMTextGenerator(_PromptedGenerator):
    """Free text from the column's model."""

    async def agenerate(self, row: Mapping[str, Any], ctx: CellContext) -> dict[str, Any]:
        name = self.column.name
        messages = self.messages(row, ctx.row_index)
        response = await ctx.chat(self.column.model, messages, tag=f"{name}:{ctx.row_index}")
        if not response.text.strip():
            raise GenerationError(f"column {name!r} row {ctx.row_index}: empty completion")
        return {name: response.text}


def judge_response_format(column: LLMJudgeColumn) -> dict[str, Any]:
    """The strict JSON-schema ``response_format`` asking for the judge's integer scores."""
    properties = {
        score.name: {
            "type": "integer",
            "minimum": score.minimum,
            "maximum": score.maximum,
            "description": score.description,
        }
        for score in column.scores
    }
    schema = {
        "type": "object",
        "properties": properties,
        "required": [score.name for score in column.scores],
        "additionalProperties": False,
    }
    name = re.sub(r"[^A-Za-z0-9_-]", "_", column.name)[:64]
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


_FENCE = re.compile(r"^```[A-Za-z]*\s*\n?(.*?)\n?```$", re.DOTALL)


def parse_judge_scores(text: str, column: LLMJudgeColumn, row_index: int) -> dict[str, int]:
    """The judge's scores from its reply; raises ``GenerationError`` saying why not."""
    at = f"column {column.name!r} row {row_index}"
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as exc:
        raise GenerationError(
            f"{at}: judge reply is not valid JSON ({exc.msg}): {text[:80]!r}"
        ) from exc
    if not isinstance(parsed, dict):
        raise GenerationError(f"{at}: judge reply must be a JSON object, got {text[:80]!r}")

    scores: dict[str, int] = {}
    for score in column.scores:
        if score.name not in parsed:
            raise GenerationError(f"{at}: judge reply has no score {score.name!r}")
        value = parsed[score.name]
        if not isinstance(value, int) or isinstance(value, bool):
            raise GenerationError(f"{at}: score {score.name!r} must be an integer, got {value!r}")
        if not score.minimum <= value <= score.maximum:
            raise GenerationError(
                f"{at}: score {score.name!r} = {value} is outside "
                f"[{score.minimum}, {score.maximum}]"
            )
        scores[score.name] = value
    return scores


class LLMJudgeGenerator(_PromptedGenerator):
    """Integer scores from the column's model, asked for as strict JSON."""

    column: LLMJudgeColumn

    def __init__(self, column: LLMJudgeColumn) -> None:
        super().__init__(column)
        self.response_format = judge_response_format(column)

    async def agenerate(self, row: Mapping[str, Any], ctx: CellContext) -> dict[str, Any]:
        name = self.column.name
        response = await ctx.chat(
            self.column.model,
            self.messages(row, ctx.row_index),
            response_format=self.response_format,
            tag=f"{name}:{ctx.row_index}",
        )
        scores = parse_judge_scores(response.text, self.column, ctx.row_index)
        return {name: scores, **{f"{name}_{score}": value for score, value in scores.items()}}


# --- custom generators -------------------------------------------------------------------


def resolve_generator(spec: str | Callable[..., Any]) -> Callable[..., Any]:
    """The function or class a custom column names (``module:attribute``), or ``spec`` itself."""
    if callable(spec):
        return spec
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ConfigError(f"generator must be 'module:attribute' or a callable, got {spec!r}")

    module_name, attribute = spec.split(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            f"cannot import generator module {module_name!r} for {spec!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"generator {spec!r}: {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"generator {spec!r} is a {type(target).__name__}, not a callable")
    return target


def _is_async(fn: Callable[..., Any]) -> bool:
    # A callable instance whose __call__ is async is awaited like an async function.
    call_method = None if inspect.isroutine(fn) or inspect.isclass(fn) else type(fn).__call__
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call_method)


class CustomGenerator(ColumnGenerator):
    """User code: a function ``f(row, ctx, **params)`` or a class built with ``**params``.

    A class provides ``agenerate``/``generate`` (per cell) or, for ``whole_column``,
    ``agenerate_batch``/``generate_batch``; async methods are awaited on the loop, sync ones
    run on a worker thread. Instances are shared by all cells of a run, and sync methods may
    run on several threads at once.
    """

    column: CustomColumn

    def __init__(self, column: CustomColumn) -> None:
        super().__init__(column)
        self.whole_column = column.whole_column
        target = resolve_generator(column.generator)
        self.label = getattr(target, "__qualname__", repr(target))
        self.kwargs: dict[str, Any] = {}

        if not inspect.isclass(target):
            self.call, self.kwargs = target, dict(column.params)
            self.call_is_async = _is_async(target)
            return
        try:
            instance = target(**column.params)
        except Exception as exc:
            raise ConfigError(
                f"column {column.name!r}: cannot create {self.label} with params "
                f"{dict(column.params)!r}: {type(exc).__name__}: {exc}"
            ) from exc
        names = (
            ("agenerate_batch", "generate_batch")
            if self.whole_column
            else ("agenerate", "generate")
        )
        method = next((getattr(instance, n) for n in names if hasattr(instance, n)), None)
        if method is None:
            raise ConfigError(
                f"column {column.name!r}: {self.label} has no {' or '.join(names)} method"
            )
        self.call, self.call_is_async = method, _is_async(method)

    async def agenerate(self, row: Mapping[str, Any], ctx: CellContext) -> dict[str, Any]:
        if self.whole_column:
            return (await self.agenerate_batch([row], ctx.as_batch()))[0]
        at = f"row {ctx.row_index}"
        return self._values(await self._invoke(dict(row), ctx.bind(), at), at)

    async def agenerate_batch(
        self, rows: Sequence[Mapping[str, Any]], ctx: BatchContext
    ) -> list[dict[str, Any]]:
        if not self.whole_column:
            return await super().agenerate_batch(rows, ctx)
        at = ctx.rows_label
        result = await self._invoke([dict(row) for row in rows], ctx.bind(), at)
        if not isinstance(result, Sequence) or isinstance(result, str | bytes | Mapping):
            raise self._error(at, f"returned {type(result).__name__}, expected a list of rows")
        if len(result) != len(rows):
            raise self._error(at, f"returned {len(result)} rows for {len(rows)}")
        return [
            self._values(item, f"row {i}") for item, i in zip(result, ctx.row_indices, strict=True)
        ]

    async def _invoke(self, arg: Any, ctx: CellContext | BatchContext, at: str) -> Any:
        try:
            if self.call_is_async:
                return await self.call(arg, ctx, **self.kwargs)
            result = await asyncio.to_thread(self.call, arg, ctx, **self.kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result
        except DDCoreError:
            raise
        except Exception as exc:
            raise self._error(at, f"raised {type(exc).__name__}: {exc}") from exc

    def _values(self, result: Any, at: str) -> dict[str, Any]:
        """A returned dict (extra keys kept) or a bare value of the only output."""
        outputs = self.outputs
        if isinstance(result, Mapping):
            values = dict(result)
        elif len(outputs) == 1:
            values = {outputs[0]: result}
        else:
            kind = type(result).__name__
            raise self._error(at, f"returned {kind}, expected a dict with keys {list(outputs)}")
        missing = [name for name in outputs if name not in values]
        if missing:
            raise self._error(at, f"did not return output(s) {missing}; got keys {list(values)}")
        return values

    def _error(self, at: str, why: str) -> GenerationError:
        return GenerationError(f"column {self.column.name!r} {at}: {self.label} {why}")


# --- assembly ----------------------------------------------------------------------------

_GENERATOR_BY_TYPE: dict[type, type[ColumnGenerator]] = {
    SamplerColumn: SamplerGenerator,
    ExpressionColumn: ExpressionGenerator,
    LLMTextColumn: LLMTextGenerator,
    LLMJudgeColumn: LLMJudgeGenerator,
    CustomColumn: CustomGenerator,
}


def make_generator(column: ColumnConfig) -> ColumnGenerator:
    """The generator for one column config."""
    return _GENERATOR_BY_TYPE[type(column)](column)


def build_generators(pipeline: Pipeline, graph: ExecutionGraph) -> dict[str, ColumnGenerator]:
    """One generator per node, in the graph's order; custom classes are instantiated here."""
    generators = {name: make_generator(graph.column(name)) for name in graph.order}
    log.debug("built %d generators for pipeline %s", len(generators), pipeline.name)
    return generators
