"""Model lanes: one frontier per model pool, so one model's backlog never starves another's.

A lane is the (provider, model) pool a column's cells call, named ``provider/model`` (the
names ``dd_sim.dag.pool_key`` gives pools), plus one lane (``None``) for tasks that call no
model. Each lane keeps its ready tasks in its own ``Frontier`` (same policy), and each model
lane has a cap on its tasks dispatched and not yet finished. ``LaneFrontier.take`` returns
the best head among the lanes with room, so a lane at its cap never blocks the others.

Why: with one shared frontier and one shared LLM-wait pool, the critical-path policy sends
every generator cell (longer chain) before any ready judge cell; on a two-model pipeline
the whole LLM-wait pool then fills with generator tasks queued at the generator's throttle
while the judge's endpoint idles. A lane cap bounds how many tasks of one model can sit at
its throttle, and the frontier's priority still decides which tasks of that model go first.

Lane cap: ``LANE_CAP_FACTOR`` (2) times the lane's throttle cap (the least
``max_parallel_requests`` of the aliases sharing the pool): its permits busy plus as many
queued, enough to keep the throttle fed through a response's turn-around. When the LLM-wait
pool is smaller than the sum of those caps, each lane gets its share of the pool instead
(``llm_wait * cap / sum of caps``, at least 1), so one lane cannot fill the pool either. With
the default pools the sum of the caps is at most the LLM-wait pool, so a dispatched task
never waits for an LLM-wait slot.

Known limits: a column that calls several models (a custom generator) is in the lane of its
first model; its other calls are not counted against their models' lanes. A whole-column
task with models is in its first model's lane too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from dd_core.config import Pipeline
from dd_core.executors.frontier import Frontier, Task
from dd_core.graph import ExecutionGraph
from dd_core.throttle import ThrottleManager

#: A model lane's cap on tasks out, as a multiple of its throttle cap.
LANE_CAP_FACTOR = 2

#: The lane of tasks that call no model (samplers, expressions, custom code without models).
NON_LLM_LANE: str | None = None


def lane_key(provider: str, model: str) -> str:
    """The name of a model lane: its pool's ``provider/model`` (as ``dd_sim.dag.pool_key``)."""
    return f"{provider}/{model}"


def lane_caps(pool_caps: Mapping[str, int], llm_wait_size: int) -> dict[str, int]:
    """Each model lane's cap on tasks out, from its throttle cap and the LLM-wait pool."""
    total = sum(pool_caps.values())
    caps: dict[str, int] = {}
    for lane, cap in pool_caps.items():
        share = max(1, llm_wait_size * cap // total) if total else 1
        caps[lane] = max(1, min(LANE_CAP_FACTOR * cap, share))
    return caps


@dataclass(frozen=True)
class LanePlan:
    """Which lane each column's tasks go in, and each model lane's cap."""

    lane_of: Mapping[str, str | None]
    caps: Mapping[str, int]

    @classmethod
    def for_pipeline(
        cls, pipeline: Pipeline, graph: ExecutionGraph, llm_wait_size: int
    ) -> LanePlan:
        """The lanes of a run: a column's first model's pool, capped by ``lane_caps``."""
        throttle_caps = ThrottleManager.for_pipeline(pipeline).caps
        lane_of: dict[str, str | None] = {}
        used: dict[str, int] = {}
        for name in graph.order:
            aliases = graph.model_aliases(name)
            if not aliases:
                lane_of[name] = NON_LLM_LANE
                continue
            model = pipeline.models[aliases[0]]
            lane = lane_key(model.provider, model.model)
            lane_of[name] = lane
            used[lane] = throttle_caps[(model.provider, model.model)]
        return cls(lane_of, lane_caps(used, llm_wait_size))

    @property
    def lanes(self) -> tuple[str | None, ...]:
        """Every lane a column uses, model lanes sorted by name, the non-LLM lane last."""
        models = sorted({lane for lane in self.lane_of.values() if lane is not None})
        return (*models, NON_LLM_LANE)


class LaneFrontier:
    """Ready tasks in one ``Frontier`` per lane; ``take`` skips lanes at their cap.

    ``take`` costs O(lanes + log n): it compares the heads' priority tuples of the lanes
    with room and pops the best. Every task taken must be given back once with ``finish``.
    """

    def __init__(
        self,
        chain: Mapping[str, int],
        column_index: Mapping[str, int],
        plan: LanePlan,
        policy: str = "critical_path",
    ) -> None:
        self.plan = plan
        self._lane_of = dict(plan.lane_of)
        self._caps: dict[str | None, int | None] = {lane: None for lane in plan.lanes}
        self._caps.update(plan.caps)
        self._frontiers = {lane: Frontier(chain, column_index, policy) for lane in plan.lanes}
        self._out: dict[str | None, int] = dict.fromkeys(plan.lanes, 0)
        self.policy = policy

    def __len__(self) -> int:
        return sum(len(frontier) for frontier in self._frontiers.values())

    def __bool__(self) -> bool:
        return any(self._frontiers.values())

    def __contains__(self, task: object) -> bool:
        return any(task in frontier for frontier in self._frontiers.values())

    def lane(self, task: Task) -> str | None:
        """The lane ``task`` goes in."""
        return self._lane_of[task.column]

    def out(self, lane: str | None) -> int:
        """Tasks of ``lane`` taken and not yet finished."""
        return self._out[lane]

    @property
    def held(self) -> int:
        """Tasks taken and not yet finished, over every lane (zero when a run ends)."""
        return sum(self._out.values())

    def push(self, task: Task) -> None:
        """Add a ready task to its lane; pushing a task already queued is an error."""
        self._frontiers[self._lane_of[task.column]].push(task)

    def take(self) -> Task | None:
        """Remove and return the best task whose lane has room, or None; counts it out."""
        best: Frontier | None = None
        best_key: tuple[int, ...] | None = None
        best_lane: str | None = None
        for lane, frontier in self._frontiers.items():
            cap = self._caps[lane]
            if cap is not None and self._out[lane] >= cap:
                continue
            head = frontier.peek()
            if head is None:
                continue
            key = frontier.priority(head)
            if best_key is None or key < best_key:
                best, best_key, best_lane = frontier, key, lane
        if best is None:
            return None

        self._out[best_lane] += 1
        return best.pop()

    def finish(self, task: Task) -> None:
        """Give back the lane slot ``take`` counted out for ``task``."""
        lane = self._lane_of[task.column]
        if self._out[lane] < 1:
            raise RuntimeError(f"lane {lane!r}: finish({task}) without a task taken")
        self._out[lane] -= 1

    def remove_row(self, row_group: int, row: int) -> list[Task]:
        """Prune every queued task of one row, in every lane; return what was removed."""
        removed: list[Task] = []
        for frontier in self._frontiers.values():
            removed.extend(frontier.remove_row(row_group, row))
        return removed

    def remove_group(self, row_group: int) -> list[Task]:
        """Remove every queued task of one row group, in every lane."""
        removed: list[Task] = []
        for frontier in self._frontiers.values():
            removed.extend(frontier.remove_group(row_group))
        return removed

    def clear(self) -> list[Task]:
        """Remove and return every queued task (tasks out stay counted until finished)."""
        removed: list[Task] = []
        for frontier in self._frontiers.values():
            removed.extend(frontier.clear())
        return removed

    def tasks(self) -> Iterator[Task]:
        """The queued tasks, in no particular order."""
        for frontier in self._frontiers.values():
            yield from frontier.tasks()
