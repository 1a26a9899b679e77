"""Row groups on disk as they finish, cancellation, SIGINT, resume, traces, no leaks."""

from __future__ import annotations

import asyncio
import signal

import pandas as pd
import pytest

from dd_core.config import ThrottleSettings
from dd_core.errors import RunError
from dd_core.executors.async_ import AsyncExecutor, run_async_pipeline
from dd_core.executors.common import NullObserver
from dd_core.results import dataset_hash
from mock_provider import MockProviderThread, load_profile


class GroupWatcher(NullObserver):
    """Sets an event when the first row group is done; counts rows written."""

    def __init__(self, then=None) -> None:
        self.first_group = asyncio.Event()
        self.rows = 0
        self.then = then

    def on_rows_written(self, rows: int) -> None:
        self.rows += rows
        self.first_group.set()
        if self.then is not None:
            self.then()
            self.then = None


def group_spans(traces: pd.DataFrame) -> list[tuple[float, float]]:
    spans = traces.groupby("row_group").agg(start=("dispatched", "min"), end=("completed", "max"))
    return list(zip(spans["start"], spans["end"], strict=True))


async def test_groups_are_written_while_the_run_goes_on(start_mock, workload, tmp_path):
    mock = await start_mock(latency=0.02)
    pipeline = workload("deep", mock.base_url).with_settings(
        row_group_size=4, max_row_groups_in_flight=2
    )

    result = await AsyncExecutor(pipeline, out_dir=tmp_path).run(14)

    files = sorted(tmp_path.glob("row_group_*.parquet"))
    assert [len(pd.read_parquet(f)) for f in files] == [4, 4, 4, 2]
    traces = result.traces_frame()
    last_completion = traces["completed"].max()
    assert files[0].stat().st_mtime < last_completion
    spans = group_spans(traces)
    for moment, _ in spans:
        assert sum(start <= moment < end for start, end in spans) <= 2
    assert list(result.dataset.index) == list(range(14))
    assert (tmp_path / "traces.parquet").exists()
    assert (tmp_path / "manifest.json").exists()
    assert result.snapshot.is_clean


async def test_traces_carry_every_timestamp_in_order(start_mock, workload):
    mock = await start_mock(latency=0.005)
    result = await AsyncExecutor(workload("dual_model", mock.base_url)).run(5)

    traces = result.traces_frame()
    llm = traces[traces["model_calls"] > 0]
    assert len(llm) == 5 * 6
    steps = [
        "ready",
        "dispatched",
        "submission_acquired",
        "llm_wait_acquired",
        "throttle_acquired",
        "request_start",
        "request_end",
        "completed",
    ]
    for earlier, later in zip(steps, steps[1:], strict=False):
        assert (llm[earlier] <= llm[later]).all(), f"{earlier} after {later}"
    assert (traces["status"] == "ok").all()
    assert (llm["attempts"] >= 1).all()


async def test_cancelling_keeps_finished_groups_and_leaks_nothing(start_mock, workload, tmp_path):
    mock = await start_mock(
        {"default": {"capacity": {"max_concurrency": 3, "retry_after": 0.02}}}, latency=0.05
    )
    pipeline = workload("deep", mock.base_url).with_settings(
        row_group_size=3,
        max_row_groups_in_flight=2,
        throttle=ThrottleSettings(cooldown_seconds=0.02),
    )
    watcher = GroupWatcher()
    executor = AsyncExecutor(pipeline, out_dir=tmp_path, observer=watcher)

    running = asyncio.create_task(executor.run(30))
    await asyncio.wait_for(watcher.first_group.wait(), timeout=30)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    partial = executor.last_result
    assert partial is not None and partial.stop_reason == "cancelled"
    assert partial.snapshot.is_clean, partial.snapshot
    assert all(snap["in_flight"] == 0 for snap in partial.throttle.values())
    on_disk = sorted(tmp_path.glob("row_group_*.parquet"))
    assert on_disk and len(on_disk) < 10
    assert partial.rows_kept == sum(len(pd.read_parquet(f)) for f in on_disk)
    assert any(t.status == "cancelled" for t in partial.tasks)

    before = len(mock.request_log.records())
    resumed = await AsyncExecutor(pipeline, out_dir=tmp_path, resume=True).run(30)
    served = [r for r in mock.request_log.records()[before:] if r.status == 200]
    requests_resumed = len(served)

    assert resumed.counters["row_groups_skipped"] == len(on_disk)
    assert requests_resumed < 30 * 4
    fresh = await AsyncExecutor(pipeline).run(30)
    assert dataset_hash(resumed.dataset) == dataset_hash(fresh.dataset)
    assert resumed.snapshot.is_clean


async def test_resume_refuses_another_runs_folder(start_mock, workload, tmp_path):
    mock = await start_mock(latency=0.0)
    pipeline = workload("narrow", mock.base_url).with_settings(row_group_size=2)
    await AsyncExecutor(pipeline, out_dir=tmp_path).run(4)

    with pytest.raises(RunError, match="seed: on disk 42, now 3"):
        await AsyncExecutor(pipeline.with_settings(seed=3), out_dir=tmp_path, resume=True).run(4)


def test_sigint_stops_the_run_and_returns_what_finished(workload, tmp_path):
    profile = load_profile({"default": {"capacity": {"max_concurrency": 2}}}).with_overrides(
        latency=0.05
    )
    with MockProviderThread(profile) as mock:
        pipeline = workload("deep", mock.base_url).with_settings(
            row_group_size=2, max_row_groups_in_flight=1
        )
        watcher = GroupWatcher(then=lambda: signal.raise_signal(signal.SIGINT))

        result = run_async_pipeline(pipeline, 40, out_dir=tmp_path, observer=watcher)

    assert result.stop_reason == "interrupted"
    assert result.snapshot.is_clean
    assert 2 <= result.rows_kept < 40
    assert len(list(tmp_path.glob("row_group_*.parquet"))) == result.rows_kept // 2
