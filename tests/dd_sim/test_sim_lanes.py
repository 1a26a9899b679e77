"""The simulator's async model dispatches by model lane, as the engine does, at both fidelities."""

from __future__ import annotations

import pytest

from dd_sim import simulate
from dd_sim.workload import SimOptions
from mock_provider import Profile

LATENCY = 1.0
RECORDS = 40


@pytest.fixture
def dual(workload):
    # 3 generator columns then 3 judge columns, 4 permits a model, an LLM-wait pool of 8.
    return (
        workload("dual_model")
        .with_max_parallel_requests(4)
        .with_settings(llm_wait_pool=8, submission_pool=8)
    )


@pytest.mark.parametrize("fidelity", ["full", "lean"])
def test_judges_overlap_generators_when_the_llm_wait_pool_is_small(dual, fidelity):
    options = SimOptions(fidelity=fidelity, tracing=False, request_overhead_seconds=0.0)

    result = simulate(dual, Profile.fixed(LATENCY), RECORDS, engine="async", options=options)

    # Each model has 3 * 40 calls on 4 permits: 30 latencies. One shared frontier sends
    # every generator cell first and fills the pool with them, so the judges run after:
    # about 60 latencies. With lanes both models work at once: about 31.
    assert result.wall_seconds < 34 * LATENCY
    assert result.run.rows_kept == RECORDS


def test_lean_and_full_agree_when_lanes_bind(dual):
    def wall(fidelity: str) -> float:
        options = SimOptions(fidelity=fidelity, tracing=False)
        return simulate(dual, Profile.fixed(0.5), RECORDS, engine="async", options=options)

    assert wall("lean").wall_seconds == pytest.approx(wall("full").wall_seconds, rel=1e-9)
