"""Model lanes: one model's backlog never starves another model's ready cells."""

from __future__ import annotations

from dd_core.executors.async_ import AsyncExecutor

LATENCY = 0.05
RECORDS = 40


async def test_judges_run_while_generators_still_have_a_backlog(start_mock, workload):
    # Generator cells (chain 2) outrank judge cells (chain 1); with one shared frontier and
    # a small LLM-wait pool, every slot held a generator task queued at its throttle and no
    # judge could start until the generators' backlog was gone.
    mock = await start_mock(latency=LATENCY)
    pipeline = (
        workload("dual_model", mock.base_url)
        .with_max_parallel_requests(4)
        .with_settings(llm_wait_pool=8, submission_pool=8)
    )

    result = await AsyncExecutor(pipeline).run(RECORDS)

    assert result.rows_kept == RECORDS
    assert result.snapshot.is_clean
    assert result.snapshot.lane_held == 0
    served = [r for r in mock.request_log.records() if r.status == 200]
    generators = [r for r in served if r.model == "dual-gen"]
    judges = [r for r in served if r.model == "dual-judge"]
    assert len(generators) == len(judges) == 3 * RECORDS
    last_generator = max(r.end for r in generators)
    overlapping = [r for r in judges if r.start < last_generator]
    # 120 judge calls on 4 permits fill the generators' whole run; without lanes only the
    # judges of the last few generator calls could start before it ended.
    assert len(overlapping) > len(judges) // 2, f"{len(overlapping)} of {len(judges)} overlap"


async def test_a_lane_never_holds_more_than_its_cap(start_mock, workload):
    mock = await start_mock(latency=0.02)
    pipeline = (
        workload("dual_model", mock.base_url)
        .with_max_parallel_requests(2)
        .with_settings(llm_wait_pool=64, submission_pool=64)
    )

    result = await AsyncExecutor(pipeline).run(30)

    def most_at_once(column_names):
        events = []
        for task in result.tasks:
            if task.column in column_names and task.dispatched is not None:
                events += [(task.dispatched, 1), (task.completed, -1)]
        level = peak = 0
        for _, step in sorted(events, key=lambda e: (e[0], e[1])):
            level += step
            peak = max(peak, level)
        return peak

    assert result.rows_kept == 30
    assert most_at_once({"explanation", "example", "quiz"}) <= 4
    assert most_at_once({"explanation_score", "example_score", "quiz_score"}) <= 4
    assert result.snapshot.is_clean
