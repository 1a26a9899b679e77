"""The sync executor end to end against the real mock provider on loopback."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from dd_core.config import CustomColumn, ThrottleSettings
from dd_core.executors.sync import SyncExecutor
from dd_core.results import dataset_hash

DEVNOTE = ("narrow", "deep", "wide", "dual_model")


def fail_on_row_three(row: dict, ctx) -> str:
    """A generator that fails, non-retryably, on one row."""
    if ctx.row_index == 3:
        raise ValueError("row three is refused")
    return f"ok {ctx.row_index}"


def max_overlap(requests: pd.DataFrame) -> int:
    """The largest number of requests being served at once, from the request log."""
    events = sorted([(t, 1) for t in requests["start"]] + [(t, -1) for t in requests["end"]])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


@pytest.mark.parametrize("name", DEVNOTE)
async def test_devnote_workload_runs_end_to_end(name, start_mock, workload):
    mock = await start_mock(latency=0.005)
    pipeline = workload(name, mock.base_url)

    result = await SyncExecutor(pipeline).run(10)

    assert result.rows_kept == 10 and result.rows_dropped == 0
    expected = [c for column in pipeline.columns for c in column.output_columns]
    assert list(result.dataset.columns) == expected
    assert result.dataset.notna().all().all()
    assert result.snapshot.is_clean
    assert result.counters["requests"] == len(mock.request_log.records())


async def test_judge_scores_are_parsed_into_columns(start_mock, workload):
    mock = await start_mock(latency=0.0)
    result = await SyncExecutor(workload("dual_model", mock.base_url)).run(5)

    scores = result.dataset["explanation_score_clarity"]
    assert scores.between(1, 5).all()
    assert result.dataset["explanation_score"].iloc[0]["clarity"] == scores.iloc[0]


async def test_columns_are_separated_by_a_barrier(start_mock, workload):
    mock = await start_mock(latency=0.01)
    pipeline = workload("deep", mock.base_url)

    result = await SyncExecutor(pipeline).run(8)

    traces = result.traces_frame()
    order = list(pipeline.columns)
    for before, after in zip(order, order[1:], strict=False):
        ended = traces.loc[traces.column == before.name, "completed"].max()
        began = traces.loc[traces.column == after.name, "dispatched"].min()
        assert began >= ended, f"{after.name} started before {before.name} finished"


async def test_cells_of_a_column_run_concurrently_up_to_the_model_cap(start_mock, workload):
    mock = await start_mock(latency=0.05)
    pipeline = workload("wide", mock.base_url).with_max_parallel_requests(4)

    result = await SyncExecutor(pipeline).run(12)

    requests = mock.request_log.to_frame()
    assert result.rows_kept == 12
    assert max_overlap(requests) == 4


async def test_batches_are_written_to_parquet(start_mock, workload, tmp_path):
    mock = await start_mock(latency=0.0)
    pipeline = workload("narrow", mock.base_url).with_settings(buffer_size=4)

    result = await SyncExecutor(pipeline, out_dir=tmp_path).run(10)

    files = sorted(tmp_path.glob("batch_*.parquet"))
    assert [len(pd.read_parquet(f)) for f in files] == [4, 4, 2]
    on_disk = pd.concat(pd.read_parquet(f) for f in files)
    assert list(on_disk.index) == list(result.dataset.index) == list(range(10))


async def test_a_non_retryable_failure_drops_only_its_row(start_mock, workload):
    mock = await start_mock(latency=0.0)
    base = workload("narrow", mock.base_url)
    failing = CustomColumn(name="gate", generator=fail_on_row_three, depends_on=("topic",))
    columns = (base.columns[0], failing, *base.columns[1:])
    pipeline = dataclasses.replace(base, columns=columns)

    result = await SyncExecutor(pipeline).run(6)

    assert list(result.dataset.index) == [0, 1, 2, 4, 5]
    assert result.rows_dropped == 1
    dropped = [t for t in result.tasks if t.status == "dropped"]
    assert [(t.column, t.row) for t in dropped] == [("gate", 3)]
    assert "row three is refused" in dropped[0].error
    assert result.snapshot.is_clean


async def test_retryable_faults_change_the_time_not_the_dataset(start_mock, workload):
    clean = await start_mock(latency=0.0)
    faulty = await start_mock({"default": {"faults": {"error_503": 0.2, "error_502": 0.1}}})

    expected = await SyncExecutor(workload("deep", clean.base_url)).run(10)
    pipeline = workload("deep", faulty.base_url).with_settings(retry_backoff_seconds=0.001)
    got = await SyncExecutor(pipeline).run(10)

    assert got.counters["transport_retries"] > 0
    assert dataset_hash(got.dataset) == dataset_hash(expected.dataset)
    assert got.snapshot.is_clean


async def test_rate_limited_cells_are_retried_until_they_succeed(start_mock, workload):
    capped = {
        "latency": {"ttft": {"dist": "fixed", "value": 0.02}},
        "capacity": {"max_concurrency": 2, "retry_after": 0.05},
    }
    mock = await start_mock({"default": capped})
    pipeline = workload("wide", mock.base_url).with_settings(
        throttle=ThrottleSettings(cooldown_seconds=0.05)
    )

    result = await SyncExecutor(pipeline).run(10)

    assert result.rows_kept == 10
    assert result.counters["rate_limited"] > 0
    assert result.snapshot.is_clean
    assert all(snapshot["in_flight"] == 0 for snapshot in result.throttle.values())


async def test_same_seed_gives_the_same_dataset(start_mock, workload):
    mock = await start_mock(latency=0.0)
    pipeline = workload("dual_model", mock.base_url)

    first = await SyncExecutor(pipeline).run(6)
    second = await SyncExecutor(pipeline).run(6)
    other_seed = await SyncExecutor(pipeline.with_settings(seed=7)).run(6)

    assert dataset_hash(first.dataset) == dataset_hash(second.dataset)
    assert dataset_hash(first.dataset) != dataset_hash(other_seed.dataset)
