"""Traps engines of this kind fell into: each one run against the async executor.

The generators below are classes (the engine instantiates them); each test makes a fresh
subclass with ``fresh`` so what they record is the test's own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading

from dd_core.config import CustomColumn, LLMTextColumn
from dd_core.executors.async_ import AsyncExecutor
from dd_core.executors.sync import SyncExecutor
from dd_core.results import dataset_hash


def fresh(cls: type, **state) -> type:
    return type(cls.__name__, (cls,), state)


class AskFromAThread:
    """A sync custom generator that calls the model; records the thread it ran on."""

    threads: set[int]

    def generate(self, row, ctx):
        self.threads.add(threading.get_ident())
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise AssertionError("sync generator ran on the event loop thread")
        return ctx.chat_sync("generator", [{"role": "user", "content": row["topic"]}]).text


class CountingPair:
    """A multi-output generator: one call per row writes two columns and an extra one."""

    calls: list[int]

    async def agenerate(self, row, ctx):
        self.calls.append(ctx.row_index)
        await asyncio.sleep(0)
        return {"q": f"q{ctx.row_index}", "a": f"a{ctx.row_index}", "note": "undeclared"}


class OrderedReader:
    """A stateful whole-column generator: must see row groups in order, one at a time."""

    calls: list[tuple[int, ...]]
    active = 0
    overlapped: list

    async def agenerate_batch(self, rows, ctx):
        self.active += 1
        if self.active > 1:
            self.overlapped.append(ctx.row_indices)
        await asyncio.sleep(0.01)
        self.calls.append(tuple(ctx.row_indices))
        self.active -= 1
        return [{"seed": f"seed{index}"} for index in ctx.row_indices]


async def test_a_sync_generator_calls_the_model_off_the_event_loop(start_mock, workload):
    mock = await start_mock(latency=0.005)
    base = workload("narrow", mock.base_url)
    asker = fresh(AskFromAThread, threads=set())
    column = CustomColumn(
        name="asked", generator=asker, models=("generator",), depends_on=("topic",)
    )
    pipeline = dataclasses.replace(base, columns=(base.columns[0], column))

    result = await AsyncExecutor(pipeline).run(6)

    assert result.rows_kept == 6
    assert threading.get_ident() not in asker.threads
    assert result.dataset["asked"].str.len().gt(0).all()
    assert result.snapshot.is_clean


async def test_multi_output_runs_once_per_row_and_extra_columns_are_kept(start_mock, workload):
    mock = await start_mock(latency=0.0)
    base = workload("narrow", mock.base_url)
    pair = fresh(CountingPair, calls=[])
    column = CustomColumn(name="pair", generator=pair, outputs=("q", "a"), depends_on=("topic",))
    reader = LLMTextColumn(name="reply", model="generator", prompt="Answer {{ q }} with {{ a }}")
    pipeline = dataclasses.replace(base, columns=(base.columns[0], column, reader))

    result = await AsyncExecutor(pipeline).run(5)
    expected = await SyncExecutor(pipeline).run(5)

    assert sorted(pair.calls) == sorted([0, 1, 2, 3, 4] * 2)
    assert list(result.dataset.columns) == ["topic", "q", "a", "reply", "note"]
    assert (result.dataset["note"] == "undeclared").all()
    assert dataset_hash(result.dataset) == dataset_hash(expected.dataset)


async def test_stateful_whole_column_generator_sees_groups_in_order(start_mock, workload):
    mock = await start_mock(latency=0.0)
    base = workload("narrow", mock.base_url)
    reader = fresh(OrderedReader, calls=[], overlapped=[])
    seeds = CustomColumn(name="seed", generator=reader, whole_column=True)
    asked = LLMTextColumn(name="asked", model="generator", prompt="Expand {{ seed }}")
    pipeline = dataclasses.replace(base, columns=(seeds, asked)).with_settings(
        row_group_size=3, max_row_groups_in_flight=3
    )

    result = await AsyncExecutor(pipeline).run(10)

    assert reader.calls == [(0, 1, 2), (3, 4, 5), (6, 7, 8), (9,)]
    assert not reader.overlapped
    assert list(result.dataset["seed"]) == [f"seed{i}" for i in range(10)]
    whole = [t for t in result.tasks if t.column == "seed"]
    assert [t.row for t in whole] == [-1] * 4


async def test_tasks_blocked_at_the_throttle_hold_no_dispatch_slot(start_mock, workload):
    mock = await start_mock(latency=0.05)
    # Two dispatch slots, a model cap of 2: more cells than dispatch slots must be in flight
    # at once (waiting at the throttle), up to the model lane's cap of 2 x 2, or the engine
    # would starve the sampler column behind them.
    pipeline = (
        workload("wide", mock.base_url)
        .with_max_parallel_requests(2)
        .with_settings(submission_pool=2, llm_wait_pool=64)
    )

    result = await AsyncExecutor(pipeline).run(4)

    traces = result.traces_frame()
    llm = traces[traces["model_calls"] > 0]
    waiting_at_once = max(
        int(((llm["llm_wait_acquired"] <= moment) & (llm["completed"] > moment)).sum())
        for moment in llm["llm_wait_acquired"]
    )
    assert 2 < waiting_at_once <= 2 * 2
    assert result.rows_kept == 4
    assert result.snapshot.is_clean
