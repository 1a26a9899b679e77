"""Column generators under sync and async callers, with a fake chat coroutine.

The fake chat stands in for the model client (which these tests do not test); everything
else is the real code.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from dd_core.chat import ChatResponse
from dd_core.config import CustomColumn, ExpressionColumn, JudgeScore, LLMJudgeColumn
from dd_core.errors import (
    BadResponseError,
    GenerationError,
    RateLimitError,
    RequestTimeoutError,
)
from dd_core.generators import (
    BatchContext,
    CellContext,
    build_generators,
    judge_response_format,
    make_generator,
    parse_judge_scores,
)
from dd_core.graph import ExecutionGraph
from dd_core.loader import load_pipeline

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def generator_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))


class FakeChat:
    """Answers every call with a function of its messages; records the calls."""

    def __init__(self, reply=None, delay: float = 0.0) -> None:
        self.calls: list[dict] = []
        self.reply = reply or (lambda messages: f"re: {messages[-1]['content']}")
        self.delay = delay
        self.threads: set[int] = set()

    async def __call__(self, alias, messages, *, response_format=None, tag=None):
        self.threads.add(threading.get_ident())
        self.calls.append(
            {"alias": alias, "messages": list(messages), "format": response_format, "tag": tag}
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        reply = self.reply(messages)
        if isinstance(reply, BaseException):
            raise reply
        return ChatResponse(text=reply, model=alias)


def cell(column: str, row: int = 0, chat=None, **kw) -> CellContext:
    return CellContext(column=column, row_index=row, seed=42, chat=chat or FakeChat(), **kw)


@pytest.fixture
def deep():
    pipeline = load_pipeline(FIXTURES / "pipelines" / "deep.yaml")
    graph = ExecutionGraph.from_pipeline(pipeline)
    return pipeline, graph, build_generators(pipeline, graph)


def judge_reply(messages) -> str:
    return json.dumps({"accuracy": 4, "clarity": 2})


async def run_row(generators, graph, row_index: int, chat) -> dict:
    row: dict = {}
    for name in graph.order:
        ctx = cell(name, row_index, chat)
        row.update(await generators[name].agenerate(row, ctx))
    return row


async def test_deep_row_async(deep) -> None:
    _, graph, generators = deep
    chat = FakeChat(lambda m: judge_reply(m) if "Judge" in m[-1]["content"] else "text")
    row = await run_row(generators, graph, 1, chat)

    assert row["topic"] in {"a", "b", "c"}
    assert row["summary"] == "text"
    assert row["quality"] == {"accuracy": 4, "clarity": 2}
    assert row["quality_accuracy"] == 4 and row["quality_clarity"] == 2
    assert row["label"] == f"{row['topic']}-4"
    assert (row["q"], row["a"]) == ("Capital of France?", "Paris")

    summary_call = next(c for c in chat.calls if c["tag"] == "summary:1")
    assert summary_call["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": f"Summarise {row['topic']}"},
    ]
    assert summary_call["alias"] == "generator" and summary_call["format"] is None
    judge_call = next(c for c in chat.calls if c["tag"] == "quality:1")
    assert judge_call["alias"] == "judge"
    assert judge_call["format"]["json_schema"]["strict"] is True


def test_every_generator_runs_under_a_sync_caller(deep) -> None:
    _, graph, generators = deep
    chat = FakeChat(lambda m: judge_reply(m) if "Judge" in m[-1]["content"] else "text")
    sync_row: dict = {}
    for name in graph.order:
        sync_row.update(generators[name].generate(sync_row, cell(name, 1, chat)))

    async_row = asyncio.run(run_row(generators, graph, 1, FakeChat(chat.reply)))
    assert sync_row == async_row


async def test_sync_bridge_refuses_to_block_a_running_loop(deep) -> None:
    _, _, generators = deep
    with pytest.raises(Exception, match="await agenerate"):
        generators["topic"].generate({}, cell("topic"))


async def test_sampler_batch_equals_cells(deep) -> None:
    _, _, generators = deep
    rows = list(range(50))
    ctx = BatchContext(column="topic", row_indices=tuple(rows), seed=42, chat=FakeChat())
    batch = await generators["topic"].agenerate_batch([{}] * 50, ctx)
    cells = [await generators["topic"].agenerate({}, cell("topic", r)) for r in reversed(rows)]
    assert batch == cells[::-1]


async def test_expression_missing_value_is_a_generation_error() -> None:
    gen = make_generator(ExpressionColumn("label", expr="{{ topic }}-{{ score }}"))
    assert await gen.agenerate({"topic": "t", "score": 3}, cell("label")) == {"label": "t-3"}
    with pytest.raises(GenerationError, match=r"column 'label' row 0: expr failed to render"):
        await gen.agenerate({"topic": "t"}, cell("label"))


async def test_empty_completion_is_a_generation_error(deep) -> None:
    _, _, generators = deep
    ctx = cell("summary", 3, FakeChat(lambda m: "  "))
    with pytest.raises(GenerationError, match=r"column 'summary' row 3: empty completion"):
        await generators["summary"].agenerate({"topic": "a"}, ctx)


async def test_model_errors_keep_their_class(deep) -> None:
    _, _, generators = deep
    ctx = cell("summary", 0, FakeChat(lambda m: RateLimitError("slow down", retry_after=1)))
    with pytest.raises(RateLimitError) as info:
        await generators["summary"].agenerate({"topic": "a"}, ctx)
    assert info.value.retryable


# --- judge -------------------------------------------------------------------------------

JUDGE = LLMJudgeColumn(
    "quality",
    model="judge",
    prompt="Judge {{ x }}",
    scores=(JudgeScore("accuracy", "right?", 1, 5), JudgeScore("style", "", 0, 2)),
)


def test_judge_response_format_is_a_strict_schema() -> None:
    fmt = judge_response_format(JUDGE)
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "quality" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["required"] == ["accuracy", "style"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["accuracy"] == {
        "type": "integer", "minimum": 1, "maximum": 5, "description": "right?",
    }  # fmt: skip


@pytest.mark.parametrize(
    "text",
    ['{"accuracy": 5, "style": 0}', '```json\n{"accuracy": 5, "style": 0}\n```'],
)
def test_judge_parses_valid_replies(text: str) -> None:
    assert parse_judge_scores(text, JUDGE, 0) == {"accuracy": 5, "style": 0}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("the answer is 5", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"accuracy": 5}', "no score 'style'"),
        ('{"accuracy": 6, "style": 0}', "'accuracy' = 6 is outside [1, 5]"),
        ('{"accuracy": 3, "style": -1}', "'style' = -1 is outside [0, 2]"),
        ('{"accuracy": 2.5, "style": 0}', "'accuracy' must be an integer, got 2.5"),
        ('{"accuracy": true, "style": 0}', "'accuracy' must be an integer, got True"),
    ],
)
async def test_judge_refuses_bad_replies(text: str, why: str) -> None:
    gen = make_generator(JUDGE)
    ctx = cell("quality", 7, FakeChat(lambda m: text))
    with pytest.raises(GenerationError) as info:
        await gen.agenerate({"x": 1}, ctx)
    assert "column 'quality' row 7" in str(info.value) and why in str(info.value)
    assert not info.value.retryable


# --- custom ------------------------------------------------------------------------------


def custom(name: str, generator, **kw) -> CustomColumn:
    return CustomColumn(name, generator=generator, **kw)


@pytest.mark.parametrize("spec", ["ddtest_generators:shout", "ddtest_generators:ashout"])
async def test_custom_function_sync_and_async(spec: str) -> None:
    gen = make_generator(custom("shouted", spec))
    assert await gen.agenerate({"topic": "hi"}, cell("shouted")) == {"shouted": "HI!"}
    assert await asyncio.to_thread(gen.generate, {"topic": "hi"}, cell("shouted")) == {
        "shouted": "HI!"
    }


async def test_sync_user_code_runs_off_the_loop_thread() -> None:
    seen: list[int] = []
    gen = make_generator(custom("t", lambda row, ctx: seen.append(threading.get_ident()) or 1))
    await gen.agenerate({}, cell("t"))
    assert seen and seen[0] != threading.get_ident()


async def test_custom_extra_columns_are_kept() -> None:
    gen = make_generator(custom("shouted", "ddtest_generators:with_extra"))
    assert await gen.agenerate({"topic": "abc"}, cell("shouted")) == {
        "shouted": "ABC",
        "length": 3,
    }


async def test_custom_class_with_params_and_multi_output() -> None:
    column = custom(
        "scaled", "ddtest_generators:Scaler", outputs=("double", "triple"), params={"factor": 5}
    )
    gen = make_generator(column)
    assert await gen.agenerate({"n": 2}, cell("scaled")) == {"double": 10, "triple": 6}


async def test_custom_callable_given_directly() -> None:
    async def direct(row, ctx, bonus):
        return row["n"] + bonus

    gen = make_generator(custom("plus", direct, params={"bonus": 10}))
    assert await gen.agenerate({"n": 1}, cell("plus")) == {"plus": 11}


async def test_custom_per_cell_rng_is_order_independent() -> None:
    gen = make_generator(custom("noise", "ddtest_generators:noisy", params={"scale": 2.0}))
    forward = [await gen.agenerate({}, cell("noise", r)) for r in range(5)]
    backward = [await gen.agenerate({}, cell("noise", r)) for r in reversed(range(5))]
    assert forward == backward[::-1]
    assert len({v["noise"] for v in forward}) == 5


@pytest.mark.parametrize(
    "spec",
    [
        "ddtest_generators:read_seeds",
        "ddtest_generators:aread_seeds",
        "ddtest_generators:SeedBatch",
    ],
)
async def test_whole_column_generators(spec: str) -> None:
    gen = make_generator(custom("seeds", spec, outputs=("q", "a"), whole_column=True))
    assert gen.whole_column
    ctx = BatchContext(column="seeds", row_indices=(4, 5), seed=0, chat=FakeChat())
    batch = await gen.agenerate_batch([{}, {}], ctx)
    assert [sorted(values) for values in batch] == [["a", "q"], ["a", "q"]]
    single = await gen.agenerate({}, cell("seeds", 5))
    assert single == batch[1]


async def test_whole_column_row_count_mismatch_is_an_error() -> None:
    gen = make_generator(custom("seeds", lambda rows, ctx: [], whole_column=True))
    ctx = BatchContext(column="seeds", row_indices=(0, 1), seed=0, chat=FakeChat())
    with pytest.raises(GenerationError, match=r"rows 0-1: .* returned 0 rows for 2"):
        await gen.agenerate_batch([{}, {}], ctx)


@pytest.mark.parametrize(
    ("spec", "outputs", "why"),
    [
        ("ddtest_generators:boom", (), "boom raised ValueError: user code failed"),
        ("ddtest_generators:bare_for_two", ("q", "a"), "returned int, expected a dict"),
        ("ddtest_generators:missing_output", ("q", "a"), "did not return output(s) ['a']"),
    ],
)
async def test_custom_failures_are_generation_errors(spec, outputs, why) -> None:
    gen = make_generator(custom("c", spec, outputs=outputs))
    with pytest.raises(GenerationError) as info:
        await gen.agenerate({}, cell("c", 2))
    assert "column 'c' row 2" in str(info.value) and why in str(info.value)
    if "boom" in spec:
        assert isinstance(info.value.__cause__, ValueError)


async def test_custom_model_errors_pass_through_unwrapped() -> None:
    def raises(row, ctx):
        raise BadResponseError("400 from provider", status=400)

    gen = make_generator(custom("c", raises))
    with pytest.raises(BadResponseError):
        await gen.agenerate({}, cell("c"))


async def test_async_class_calls_the_model() -> None:
    chat = FakeChat()
    gen = make_generator(custom("ans", "ddtest_generators:AsyncAsker", models=("generator",)))
    assert gen.is_llm
    assert await gen.agenerate({"topic": "x"}, cell("ans", chat=chat)) == {"ans": "re: x"}
    assert chat.calls[0]["alias"] == "generator"


# --- chat_sync ---------------------------------------------------------------------------


async def test_chat_sync_from_a_worker_thread_runs_on_the_loop() -> None:
    chat = FakeChat()
    gen = make_generator(custom("ans", "ddtest_generators:ask_sync", models=("generator",)))
    assert await gen.agenerate({"topic": "x"}, cell("ans", chat=chat)) == {"ans": "re: x"}
    assert chat.threads == {threading.get_ident()}


def test_chat_sync_under_a_sync_caller() -> None:
    gen = make_generator(custom("ans", "ddtest_generators:ask_sync", models=("generator",)))
    assert gen.generate({"topic": "y"}, cell("ans")) == {"ans": "re: y"}


async def test_chat_sync_timeout_is_a_retryable_request_timeout() -> None:
    chat = FakeChat(delay=30.0)
    ctx = cell("ans", chat=chat, request_timeout=0.05, retries=0)
    gen = make_generator(custom("ans", "ddtest_generators:ask_sync", models=("generator",)))
    with pytest.raises(RequestTimeoutError) as info:
        await gen.agenerate({"topic": "x"}, ctx)
    assert info.value.retryable
    assert "within 0.1 s" in str(info.value)


async def test_chat_sync_keeps_model_error_classes() -> None:
    chat = FakeChat(lambda m: RateLimitError("429", retry_after=2.0))
    gen = make_generator(custom("ans", "ddtest_generators:ask_sync", models=("generator",)))
    with pytest.raises(RateLimitError) as info:
        await gen.agenerate({"topic": "x"}, cell("ans", chat=chat))
    assert info.value.retry_after == 2.0


async def test_chat_sync_on_the_loop_thread_is_refused() -> None:
    ctx = cell("ans")
    with pytest.raises(Exception, match="would deadlock"):
        ctx.chat_sync("generator", [{"role": "user", "content": "x"}])
