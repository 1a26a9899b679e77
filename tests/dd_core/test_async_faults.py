"""Faults: drops prune their row, retryable errors defer, 429s are kept, early stop."""

from __future__ import annotations

import dataclasses

from dd_core.config import CustomColumn, ThrottleSettings
from dd_core.executors.async_ import AsyncExecutor


def fail_on_row_three(row: dict, ctx) -> str:
    if ctx.row_index == 3:
        raise ValueError("row three is refused")
    return f"ok {ctx.row_index}"


def fail_from_row_ten(row: dict, ctx) -> str:
    if ctx.row_index >= 10:
        raise ValueError("the pipeline broke")
    return "fine"


def ask_sync(row: dict, ctx) -> str:
    return ctx.chat_sync("generator", [{"role": "user", "content": row["topic"]}]).text


def with_gate(pipeline, generator, name="gate"):
    """Insert a custom column after the first one; every later column reads it."""
    gate = CustomColumn(name=name, generator=generator, depends_on=(pipeline.columns[0].name,))
    later = [dataclasses.replace(c, depends_on=(*c.depends_on, name)) for c in pipeline.columns[1:]]
    return dataclasses.replace(pipeline, columns=(pipeline.columns[0], gate, *later))


async def test_a_non_retryable_failure_drops_the_row_and_prunes_downstream(start_mock, workload):
    mock = await start_mock(latency=0.0)
    pipeline = with_gate(workload("deep", mock.base_url), fail_on_row_three)

    result = await AsyncExecutor(pipeline).run(6)

    assert list(result.dataset.index) == [0, 1, 2, 4, 5]
    assert result.rows_dropped == 1
    dropped = [t for t in result.tasks if t.status == "dropped"]
    assert [(t.column, t.row) for t in dropped] == [("gate", 3)]
    assert "row three is refused" in dropped[0].error
    assert not [
        t for t in result.tasks if t.row == 3 and t.column != "gate" and t.column != "topic"
    ]
    tags = {record.tag for record in mock.request_log.records()}
    assert not {tag for tag in tags if tag and tag.endswith(":3")}
    assert result.stop_reason is None
    assert result.snapshot.is_clean


async def test_retryable_errors_never_trigger_early_stop(start_mock, workload):
    mock = await start_mock({"default": {"faults": {"error_503": 0.5}}})
    pipeline = workload("wide", mock.base_url).with_settings(
        max_transport_retries=0, salvage_rounds=30, error_window=4, error_rate_threshold=0.5
    )

    result = await AsyncExecutor(pipeline).run(12)

    assert result.stop_reason is None
    assert result.rows_kept == 12
    assert result.counters["deferred"] > 4
    assert result.counters["salvage_rounds"] > 0
    assert result.snapshot.is_clean


async def test_rate_limited_tasks_are_kept_after_salvage_runs_out(start_mock, workload):
    mock = await start_mock(
        {"default": {"capacity": {"max_concurrency": 1, "retry_after": 0.01}}}, latency=0.002
    )
    pipeline = workload("wide", mock.base_url).with_settings(
        salvage_rounds=0, throttle=ThrottleSettings(cooldown_seconds=0.01)
    )

    result = await AsyncExecutor(pipeline).run(8)

    assert result.counters["rate_limited_deferred"] > 0
    assert result.rows_dropped == 0 and result.rows_kept == 8
    assert result.stop_reason is None
    assert result.snapshot.is_clean


async def test_only_the_deadline_gives_up_on_rate_limited_tasks(start_mock, workload):
    mock = await start_mock(
        {"default": {"capacity": {"max_concurrency": 1, "retry_after": 30}}}, latency=0.3
    )
    pipeline = workload("wide", mock.base_url).with_settings(deadline_seconds=0.5)

    result = await AsyncExecutor(pipeline).run(6)

    assert result.wall_seconds < 10
    assert result.counters["rate_limited_given_up"] > 0
    assert result.stop_reason.startswith("deadline: gave up")
    assert result.rows_dropped == 6 - result.rows_kept
    assert result.snapshot.is_clean


async def test_a_sustained_error_rate_stops_early_with_finished_groups_on_disk(
    start_mock, workload, tmp_path
):
    mock = await start_mock(latency=0.001)
    pipeline = with_gate(workload("narrow", mock.base_url), fail_from_row_ten).with_settings(
        row_group_size=5, max_row_groups_in_flight=1, error_window=4, error_rate_threshold=0.5
    )

    result = await AsyncExecutor(pipeline, out_dir=tmp_path).run(40)

    assert result.stop_reason.startswith("early stop")
    assert sorted(p.name for p in tmp_path.glob("row_group_*.parquet")) == [
        "row_group_00000.parquet",
        "row_group_00001.parquet",
    ]
    assert list(result.dataset.index) == list(range(10))
    assert result.snapshot.is_clean


async def test_a_timeout_in_a_sync_generator_stays_retryable(start_mock, workload):
    mock = await start_mock({"default": {"faults": {"hang": 1.0, "hang_seconds": 2.0}}})
    base = workload("narrow", mock.base_url)
    asker = CustomColumn(
        name="asked", generator=ask_sync, models=("generator",), depends_on=("topic",)
    )
    pipeline = dataclasses.replace(base, columns=(base.columns[0], asker)).with_settings(
        request_timeout=0.2,
        max_transport_retries=0,
        salvage_rounds=1,
        error_window=2,
        error_rate_threshold=0.5,
    )

    result = await AsyncExecutor(pipeline).run(3)

    assert result.stop_reason is None, "a timeout was counted as a non-retryable failure"
    assert result.rows_dropped == 3
    assert result.counters["deferred"] == 6
    errors = [t.error for t in result.tasks if t.status == "dropped"]
    assert errors and all("RequestTimeoutError" in error for error in errors)
    assert result.snapshot.is_clean
