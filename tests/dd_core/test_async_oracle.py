"""The correctness oracle: the async dataset equals the sync one, cell for cell."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dd_core.config import (
    ExpressionColumn,
    JudgeScore,
    LLMJudgeColumn,
    LLMTextColumn,
    ModelConfig,
    Pipeline,
    ProviderConfig,
    RunSettings,
    SamplerColumn,
    ThrottleSettings,
)
from dd_core.executors.async_ import AsyncExecutor
from dd_core.executors.sync import SyncExecutor
from dd_core.results import dataset_hash
from mock_provider import MockProvider, load_profile

DEVNOTE = ("narrow", "deep", "wide", "dual_model")


@pytest.mark.parametrize("name", DEVNOTE)
async def test_devnote_workloads_match_the_sync_engine(name, start_mock, workload):
    mock = await start_mock(latency=0.0)
    pipeline = workload(name, mock.base_url).with_settings(row_group_size=4, buffer_size=4)

    expected = await SyncExecutor(pipeline).run(10)
    got = await AsyncExecutor(pipeline).run(10)

    assert got.rows_kept == 10
    assert list(got.dataset.columns) == list(expected.dataset.columns)
    assert dataset_hash(got.dataset) == dataset_hash(expected.dataset)
    assert got.snapshot.is_clean


async def test_the_dataset_read_back_from_parquet_matches_too(start_mock, workload, tmp_path):
    mock = await start_mock(latency=0.0)
    pipeline = workload("dual_model", mock.base_url).with_settings(row_group_size=3)

    expected = await SyncExecutor(pipeline).run(10)
    got = await AsyncExecutor(pipeline, out_dir=tmp_path).run(10)

    assert sorted(p.name for p in tmp_path.glob("row_group_*.parquet")) == [
        f"row_group_{i:05d}.parquet" for i in range(4)
    ]
    assert dataset_hash(got.dataset) == dataset_hash(expected.dataset)


async def test_retryable_faults_change_the_time_not_the_dataset(start_mock, workload):
    clean = await start_mock(latency=0.0)
    faulty = await start_mock(
        {
            "default": {
                "faults": {"error_503": 0.2, "error_502": 0.1},
                "capacity": {"max_concurrency": 4, "retry_after": 0.02},
            }
        },
        latency=0.01,
    )
    base = workload("deep", clean.base_url).with_settings(row_group_size=5)

    expected = await SyncExecutor(base).run(15)
    pipeline = base.with_endpoint(faulty.base_url).with_settings(
        retry_backoff_seconds=0.001,
        salvage_rounds=20,
        throttle=ThrottleSettings(cooldown_seconds=0.02),
    )
    got = await AsyncExecutor(pipeline).run(15)

    assert got.counters["transport_retries"] > 0
    assert got.counters["rate_limited"] > 0
    assert got.rows_dropped == 0
    assert dataset_hash(got.dataset) == dataset_hash(expected.dataset)
    assert got.snapshot.is_clean


@st.composite
def random_pipelines(draw: st.DrawFn) -> Pipeline:
    """Acyclic pipelines: random widths, depths and fan-in over two models."""
    columns: list = [
        SamplerColumn(name="root", sampler="category", params={"values": ["a", "b", "c"]})
    ]
    names = ["root"]
    for position in range(draw(st.integers(1, 7))):
        name = f"c{position}"
        inputs = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
        refs = " ".join(f"{{{{ {ref} }}}}" for ref in inputs)
        kind = draw(st.sampled_from(["llm_text", "llm_text", "judge", "expression"]))
        if kind == "expression":
            columns.append(ExpressionColumn(name=name, expr=f"{name}: {refs}"))
        elif kind == "judge":
            score = JudgeScore(name="quality", minimum=1, maximum=9)
            columns.append(
                LLMJudgeColumn(name=name, model="judge", prompt=f"Judge {refs}", scores=(score,))
            )
        else:
            model = draw(st.sampled_from(["generator", "judge"]))
            columns.append(LLMTextColumn(name=name, model=model, prompt=f"Write on {refs}"))
        names.append(name)

    provider = ProviderConfig(name="local", endpoint="http://127.0.0.1:1/v1")
    models = {
        "generator": ModelConfig("generator", "local", "gpt-mock", draw(st.integers(1, 8))),
        "judge": ModelConfig("judge", "local", "judge-mock", draw(st.integers(1, 8))),
    }
    group = draw(st.integers(1, 6))
    run_settings = RunSettings(
        seed=draw(st.integers(0, 99)), row_group_size=group, buffer_size=group
    )
    return Pipeline(tuple(columns), {"local": provider}, models, run_settings, name="random")


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pipeline=random_pipelines(), records=st.integers(1, 9))
def test_random_pipelines_match_the_sync_engine(pipeline: Pipeline, records: int) -> None:
    async def both() -> tuple[str, str, bool]:
        async with MockProvider(load_profile(None), seed=0) as mock:
            pointed = pipeline.with_endpoint(mock.base_url)
            expected = await SyncExecutor(pointed).run(records)
            got = await AsyncExecutor(pointed).run(records)
        return dataset_hash(expected.dataset), dataset_hash(got.dataset), got.snapshot.is_clean

    expected, got, clean = asyncio.run(both())

    assert got == expected
    assert clean
