"""Closed-form checks: fixed latency, no overhead, the simulator equals the bounds exactly."""

from __future__ import annotations

import math

import pytest

from dd_sim import CellWork, dag_spec, ideal_async, ideal_sync
from dd_sim.simulate import simulate
from dd_sim.workload import SimOptions
from mock_provider.profile import Profile

EXACT = SimOptions(dispatch_seconds=0.0, request_overhead_seconds=0.0, fidelity="full")


@pytest.mark.parametrize("name", ["narrow", "deep", "wide", "dual_model"])
@pytest.mark.parametrize("engine", ["sync", "async"])
def test_unlimited_concurrency_equals_the_chain_bound(workload, name, engine):
    pipeline = workload(name).with_max_parallel_requests(1000)
    result = simulate(pipeline, Profile.fixed(1.0), 20, engine=engine, options=EXACT)

    graph_levels = {"narrow": 3, "deep": 3, "wide": 1, "dual_model": 2}[name]
    if engine == "sync":
        llm_columns = sum(1 for c in pipeline.columns if c.model_aliases)
        assert result.wall_seconds == pytest.approx(llm_columns, abs=1e-9)
    else:
        assert result.wall_seconds == pytest.approx(graph_levels, abs=1e-9)


@pytest.mark.parametrize("name", ["narrow", "deep", "wide", "dual_model"])
def test_equals_the_ideal_replay_on_the_same_durations(workload, name):
    pipeline = workload(name).with_max_parallel_requests(4)
    rows = 12
    spec = dag_spec(pipeline)
    work = [
        CellWork(row, column, 1.0)
        for row in range(rows)
        for column in spec.order
        if spec.pool[column] is not None
    ]
    for engine, ideal in (
        ("sync", ideal_sync(spec, work, rows, pipeline.settings.buffer_size)),
        ("async", ideal_async(spec, work, rows)),
    ):
        result = simulate(pipeline, Profile.fixed(1.0), rows, engine=engine, options=EXACT)
        assert result.wall_seconds == pytest.approx(ideal, abs=1e-9), engine


@pytest.mark.parametrize("cap", [1, 3, 8])
@pytest.mark.parametrize("engine", ["sync", "async"])
def test_one_model_throughput_is_cap_over_latency(workload, cap, engine):
    pipeline = workload("wide").with_max_parallel_requests(cap)
    rows, latency = 40, 0.5
    result = simulate(pipeline, Profile.fixed(latency), rows, engine=engine, options=EXACT)

    requests = result.run.counters["requests"]
    assert requests == rows * 5
    expected = math.ceil(requests / cap) * latency
    if engine == "sync":
        expected = 5 * math.ceil(rows / cap) * latency
    assert result.wall_seconds == pytest.approx(expected, abs=1e-9)
    assert requests / result.wall_seconds <= cap / latency + 1e-9
