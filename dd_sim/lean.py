"""The lean loop: both engines' common path on one heap, for million-record what-ifs.

When the provider never refuses, queues or fails a request (no caps, buckets, self-hosted
slots or faults in the profile), the throttle never leaves its cap and a permit is a FIFO
slot; the SimPy model's processes then reduce to a few counters and queues. This module
keeps exactly those, with tasks as integers (``row * width + column``) and one event heap:

- async: the frontier is one heap of integer keys per lane (``LanePlan``: a model pool, or
  no model) in the ``Frontier`` policy's order (critical path: longer ``llm_chain`` first,
  then row, then column; row-major: row, column), each model lane capped on tasks out as
  ``LaneFrontier`` is; row groups are admitted up to ``max_row_groups_in_flight``; the
  loop pops the best head among the lanes with room; a popped task takes a submission
  slot and its CPU turn, an LLM task then an LLM-wait slot (handing
  the submission slot back), then a FIFO permit of its pool, then the request; the
  dispatch loop runs at its next CPU turn after a change, as in ``async_engine``;
- sync: per batch and column, cells take the column's slots in row order, each its CPU
  turn and a permit, and the column ends with its last cell (the barrier).

It keeps aggregates only (no per-task records, no request log), so its memory is the
in-flight row groups plus the output frame.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import replace

from dd_core.executors.lanes import LanePlan
from dd_core.executors.pools import pool_sizes
from dd_core.executors.row_groups import plan_row_groups
from dd_core.results import LeakSnapshot
from dd_sim.provider import ModelStats
from dd_sim.run import SimResult, SimRun
from dd_sim.workload import SimOptions, SimWorkload

_CPU_DONE, _REQ_DONE, _PUMP = 0, 1, 2


def simulate_lean(
    workload: SimWorkload, records: int, seed: int, options: SimOptions, engine: str
) -> SimResult:
    """One run of ``engine`` on the lean loop; aggregates only, whatever ``tracing`` says."""
    run = SimRun(workload, records, seed, replace(options, tracing=False))
    loop = _Lean(run)
    finished = loop.run_sync() if engine == "sync" else loop.run_async()
    run.client.counters["requests"] = loop.requests
    counters = {"batches": loop.batches} if engine == "sync" else {"tasks": loop.tasks}
    return run.result(engine, counters, LeakSnapshot(), finished, fidelity="lean")


class _Lean:
    def __init__(self, run: SimRun) -> None:
        workload = run.workload
        graph = workload.graph
        self.run = run
        self.order = list(workload.order)
        self.width = len(self.order)
        index = {name: i for i, name in enumerate(self.order)}
        self.specs = [workload.columns[name] for name in self.order]
        self.downstream = [sorted(index[d] for d in graph.downstream(n)) for n in self.order]
        self.up_count = [len(graph.upstream(n)) for n in self.order]
        self.chain = [graph.llm_chain(n) for n in self.order]
        pools = sorted({spec.pool for spec in self.specs if spec.pool is not None})
        self.pool_index = {key: i for i, key in enumerate(pools)}
        self.pool_of = [self.pool_index[s.pool] if s.pool else -1 for s in self.specs]
        self.caps = [workload.caps[key] for key in pools]
        self.cost = run.options.dispatch_seconds
        self.overhead = run.options.request_overhead_seconds
        self.stats = run.provider.stats
        self.requests = 0
        self.tasks = 0
        self.batches = 0

    def _model_stats(self, column: int) -> ModelStats:
        model = self.specs[column].model
        stats = self.stats.get(model)
        if stats is None:
            stats = self.stats[model] = ModelStats(first_arrival=0.0)
        return stats

    # -- sync -------------------------------------------------------------------------

    def run_sync(self) -> float:
        run = self.run
        pipeline = run.workload.pipeline
        graph = run.workload.graph
        cost, overhead = self.cost, self.overhead
        now = cpu_free = 0.0
        size = run.settings.buffer_size
        for first in range(0, run.records, size):
            stop = min(first + size, run.records)
            count = stop - first
            for column, spec in enumerate(self.specs):
                span = run.spans[spec.name]
                if not spec.llm:
                    cpu_free = max(now, cpu_free) + cost * count
                    span.first = min(span.first, now)
                    span.last = cpu_free
                    span.tasks += count
                    now = cpu_free
                    continue
                aliases = graph.model_aliases(spec.name)
                limit = max(pipeline.models[a].max_parallel_requests for a in aliases)
                cap = self.caps[self.pool_of[column]]
                service, tokens = run.sampler.services(spec.name, first, stop)
                slots = [now] * min(limit, count)
                permits = [now] * cap if cap < min(limit, count) else None
                last = now
                pop, push = heapq.heappop, heapq.heappush
                for seconds in service:
                    cpu_free = max(pop(slots), cpu_free) + cost
                    start = cpu_free if permits is None else max(cpu_free, pop(permits))
                    end = start + overhead + seconds
                    push(slots, end)
                    if permits is not None:
                        push(permits, end)
                    if end > last:
                        last = end
                stats = self._model_stats(column)
                stats.requests += count
                stats.ok += count
                stats.busy_seconds += sum(service)
                stats.tokens += sum(tokens)
                stats.last_end = max(stats.last_end, last)
                self.requests += count
                span.first = min(span.first, now)
                span.last = last
                span.tasks += count
                now = last
            run.done_ranges.append((first, stop))
            self.batches += 1
        return now

    # -- async ------------------------------------------------------------------------

    def run_async(self) -> float:
        run = self.run
        settings = run.settings
        width = self.width
        specs, downstream, pool_of = self.specs, self.downstream, self.pool_of
        llm = [spec.llm for spec in specs]
        roots = [c for c in range(width) if self.up_count[c] == 0]
        cost, overhead = self.cost, self.overhead
        plan = plan_row_groups(run.records, settings.row_group_size)
        group_size = settings.row_group_size
        group_limit = settings.max_row_groups_in_flight

        big = run.records * width
        top = max(self.chain)
        if run.options.dispatch_policy == "row_major":
            rank = [0] * width
        else:
            rank = [(top - chain) * big for chain in self.chain]

        submission_free, llm_free = pool_sizes(run.workload.pipeline)
        # Lanes as ``LaneFrontier``: one heap per lane, model lanes capped on tasks out.
        lanes = LanePlan.for_pipeline(run.workload.pipeline, run.workload.graph, llm_free)
        lane_names = sorted({lane for lane in lanes.lane_of.values() if lane is not None})
        lane_of = [
            lane_names.index(lane) if lane is not None else len(lane_names)
            for lane in (lanes.lane_of[spec.name] for spec in specs)
        ]
        lane_room = [lanes.caps[lane] for lane in lane_names] + [big + 1]
        lane_heaps: list[list[int]] = [[] for _ in lane_room]
        llm_waiters: deque[int] = deque()
        pool_free = list(self.caps)
        pool_waiters: list[deque[int]] = [deque() for _ in self.caps]
        events: list[tuple[float, int, int, int]] = []
        waiting: dict[int, list[int]] = {}
        remaining: dict[int, int] = {}
        service: dict[int, list[list[float] | None]] = {}
        stats = [self._model_stats(c) if llm[c] else None for c in range(width)]
        spans = [run.spans[spec.name] for spec in specs]
        dispatched: dict[int, float] = {}

        seq = 0
        now = cpu_free = 0.0
        pending = False
        next_group = 0
        in_flight_groups = 0
        push, pop = heapq.heappush, heapq.heappop

        def schedule(at: float, kind: int, cell: int) -> None:
            nonlocal seq
            seq += 1
            push(events, (at, seq, kind, cell))

        def wake() -> None:
            nonlocal pending
            if not pending:
                pending = True
                schedule(max(now, cpu_free), _PUMP, -1)

        def start_request(cell: int) -> None:
            row, column = divmod(cell, width)
            group = row // group_size
            seconds = service[group][column][row - group * group_size]
            model = stats[column]
            model.requests += 1
            model.busy_seconds += seconds
            schedule(now + overhead + seconds, _REQ_DONE, cell)

        def take_permit(cell: int) -> None:
            pool = pool_of[cell % width]
            if pool_free[pool] > 0 and not pool_waiters[pool]:
                pool_free[pool] -= 1
                start_request(cell)
            else:
                pool_waiters[pool].append(cell)

        def got_llm_wait(cell: int) -> None:
            nonlocal submission_free
            submission_free += 1
            wake()
            take_permit(cell)

        def complete(cell: int) -> None:
            nonlocal in_flight_groups
            row, column = divmod(cell, width)
            group = row // group_size
            span = spans[column]
            span.tasks += 1
            span.last = now
            first = dispatched.pop(cell)
            if first < span.first:
                span.first = first
            counts = waiting[group]
            base = (row - group * group_size) * width
            cell_base = row * width
            for child in downstream[column]:
                counts[base + child] -= 1
                if not counts[base + child]:
                    push(lane_heaps[lane_of[child]], rank[child] + cell_base + child)
            lane_room[lane_of[column]] += 1
            remaining[group] -= 1
            if not remaining[group]:
                del waiting[group], remaining[group], service[group]
                in_flight_groups -= 1
                run.done_ranges.append((plan[group].start, plan[group].stop))
            wake()

        def pump() -> bool:
            nonlocal pending, next_group, in_flight_groups, submission_free, cpu_free
            pending = False
            while next_group < len(plan) and in_flight_groups < group_limit:
                group = plan[next_group]
                next_group += 1
                in_flight_groups += 1
                rows = len(group)
                waiting[group.index] = self.up_count * rows
                remaining[group.index] = rows * width
                service[group.index] = [
                    run.sampler.services(spec.name, group.start, group.stop)[0]
                    if spec.llm
                    else None
                    for spec in specs
                ]
                for row in group.rows:
                    for column in roots:
                        push(lane_heaps[lane_of[column]], rank[column] + row * width + column)
            while submission_free > 0:
                best = -1
                for lane, heap in enumerate(lane_heaps):
                    if heap and lane_room[lane] > 0 and (best < 0 or heap[0] < lane_heaps[best][0]):
                        best = lane
                if best < 0:
                    break
                cell = pop(lane_heaps[best]) % big if big else 0
                lane_room[best] -= 1
                submission_free -= 1
                self.tasks += 1
                dispatched[cell] = now
                cpu_free = max(now, cpu_free) + cost
                schedule(cpu_free, _CPU_DONE, cell)
            return not waiting and next_group >= len(plan)

        pump()
        while events:
            now, _, kind, cell = pop(events)
            if kind == _PUMP:
                if pump():
                    return now
            elif kind == _CPU_DONE:
                if llm[cell % width]:
                    if llm_free > 0 and not llm_waiters:
                        llm_free -= 1
                        got_llm_wait(cell)
                    else:
                        llm_waiters.append(cell)
                else:
                    submission_free += 1
                    complete(cell)
            else:
                self.requests += 1
                column = cell % width
                pool = pool_of[column]
                if pool_waiters[pool]:
                    start_request(pool_waiters[pool].popleft())
                else:
                    pool_free[pool] += 1
                if llm_waiters:
                    got_llm_wait(llm_waiters.popleft())
                else:
                    llm_free += 1
                model = stats[column]
                model.ok += 1
                model.last_end = now
                complete(cell)
        return now
