"""The lean loop and the SimPy model agree; runs are seeded and leave nothing behind."""

from __future__ import annotations

import pytest

from dd_sim.simulate import simulate
from dd_sim.workload import SimOptions
from mock_provider.profile import Profile, load_profile

LOGNORMAL = {
    "default": {
        "latency": {"ttft": {"dist": "lognormal", "median": 0.4, "sigma": 0.5}, "per_token": 0.01},
        "output": {"tokens": {"dist": "uniform", "low": 10, "high": 60}},
    }
}


@pytest.mark.parametrize("name", ["narrow", "deep", "wide", "dual_model", "heavy_root"])
@pytest.mark.parametrize("engine", ["sync", "async"])
def test_lean_equals_full_where_both_apply(workload, name, engine):
    pipeline = workload(name).with_settings(row_group_size=40, buffer_size=50)
    profile = load_profile(LOGNORMAL)
    walls = []
    for fidelity in ("full", "lean"):
        options = SimOptions(fidelity=fidelity, tracing=False)
        result = simulate(pipeline, profile, 130, engine=engine, options=options)
        assert result.fidelity == fidelity
        walls.append(result.wall_seconds)
        assert result.run.counters["requests"] > 0
        assert len(result.run.dataset) == 130
    assert walls[0] == pytest.approx(walls[1], rel=1e-9)


def test_same_inputs_same_prediction_and_seeds_differ(workload):
    pipeline = workload("deep")
    profile = load_profile(LOGNORMAL)
    first = simulate(pipeline, profile, 50, engine="async", seed=3).wall_seconds
    again = simulate(pipeline, profile, 50, engine="async", seed=3).wall_seconds
    other = simulate(pipeline, profile, 50, engine="async", seed=4).wall_seconds
    assert first == again
    assert first != other


def test_rate_limited_run_is_leak_free_and_cuts_the_throttle(workload):
    pipeline = workload("rate_limited")
    profile = load_profile(
        {"default": {"latency": {"ttft": 0.2}, "capacity": {"max_concurrency": 4}}}
    )
    for engine in ("sync", "async"):
        result = simulate(pipeline, profile, 60, engine=engine)
        run = result.run
        assert result.fidelity == "full"
        assert run.counters["rate_limited"] > 0
        assert run.snapshot.is_clean
        assert run.rows_kept == 60
        assert any(pool["cuts"] for pool in run.throttle.values())
        assert result.requests is not None
        assert (result.requests["status"] == 429).sum() == run.counters["rate_limited"]


def test_non_retryable_faults_drop_rows_in_both_engines(workload):
    pipeline = workload("narrow").with_settings(error_rate_threshold=1.0)
    profile = load_profile({"default": {"latency": {"ttft": 0.1}, "faults": {"empty": 0.2}}})
    for engine in ("sync", "async"):
        result = simulate(pipeline, profile, 40, engine=engine)
        assert 0 < result.run.rows_dropped < 40
        assert result.run.rows_kept + result.run.rows_dropped == 40
        assert result.run.stop_reason is None


def test_a_sustained_error_rate_stops_the_async_run_early(workload):
    profile = load_profile({"default": {"latency": {"ttft": 0.1}, "faults": {"empty": 0.6}}})
    result = simulate(workload("narrow"), profile, 200, engine="async")
    assert result.run.stop_reason is not None
    assert "early stop" in result.run.stop_reason


def test_transport_faults_are_retried_not_dropped(workload):
    pipeline = workload("wide")
    profile = load_profile({"default": {"latency": {"ttft": 0.1}, "faults": {"error_503": 0.1}}})
    result = simulate(pipeline, profile, 40, engine="async")
    assert result.run.counters["transport_retries"] > 0
    assert result.run.rows_dropped == 0


def test_traces_and_request_log_have_the_harness_columns(workload):
    result = simulate(workload("dual_model"), Profile.fixed(0.3), 10, engine="async")
    assert list(result.requests.columns) == [
        "request_id",
        "model",
        "tag",
        "arrival",
        "start",
        "end",
        "status",
        "prompt_tokens",
        "completion_tokens",
        "fault",
    ]
    traces = result.run.traces_frame()
    assert len(traces) == 10 * 7
    assert (traces["completed"] >= traces["dispatched"]).all()
    assert result.run.throttle_events is not None


def test_self_hosted_slots_bound_throughput(workload):
    pipeline = workload("wide").with_max_parallel_requests(32)
    hosted = {"default": {"latency": {"ttft": 1.0}, "capacity": {"self_hosted": {"slots": 4}}}}
    options = SimOptions(dispatch_seconds=0.0, request_overhead_seconds=0.0)
    result = simulate(pipeline, load_profile(hosted), 8, engine="async", options=options)
    assert result.wall_seconds == pytest.approx(40 / 4 * 1.0, abs=1e-9)
