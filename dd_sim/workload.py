"""What a simulated run reads: the pipeline's graph and pools, the profile, the options.

A ``SimWorkload`` is built from the same ``Pipeline`` (``dd_core.loader``) and the same
``mock_provider.Profile`` as a measured run, so there is no second way to describe a
pipeline: columns, dependencies, model pools and caps come from ``ExecutionGraph`` and
``dd_sim.dag.dag_spec``; what each call costs comes from the profile's model section for
the column's model id.

Known limits: a cell of a model-calling column makes one model call (a custom generator
that calls several times, or not at all, is modelled as one call); a column that names
several models calls the first; a whole-column task makes no model call and costs one
dispatch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dd_core.config import CustomColumn, LLMJudgeColumn, LLMTextColumn, Pipeline
from dd_core.graph import ExecutionGraph
from dd_sim.dag import dag_spec
from dd_sim.sampling import CallShape, ServiceSampler
from mock_provider.profile import Profile

#: Engine CPU per task (dispatch, template rendering, bookkeeping), serialised on the one
#: event-loop thread. Chosen from measurement: the async engine against the mock with zero
#: latency spends 0.2-0.4 ms of event-loop time per cell on this machine (see
#: docs/simulator.md, "Calibration").
DEFAULT_DISPATCH_SECONDS = 0.0003
#: One HTTP round trip on loopback (client, aiohttp, the mock's handler) per attempt.
DEFAULT_REQUEST_OVERHEAD_SECONDS = 0.002
#: Prompt tokens a template reference is counted as (the value it renders is unknown).
REFERENCE_TOKENS = 16

FIDELITIES: tuple[str, ...] = ("auto", "full", "lean")
_REFERENCE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


@dataclass(frozen=True)
class SimOptions:
    """How the simulator models the engine itself (the provider comes from the profile)."""

    dispatch_seconds: float = DEFAULT_DISPATCH_SECONDS
    request_overhead_seconds: float = DEFAULT_REQUEST_OVERHEAD_SECONDS
    #: Keep per-task records and the request log; off, only aggregates are kept.
    tracing: bool = True
    dispatch_policy: str = "critical_path"
    #: "full" is the SimPy model, "lean" the heap loop (common path only), "auto" picks.
    fidelity: str = "auto"
    #: Replay: served seconds per (column, row, call) in place of the profile's draws, for
    #: validating the scheduling model on the very latencies a measured run was served.
    served: Mapping[tuple[str, int, int], float] | None = field(
        default=None, hash=False, compare=False
    )

    def __post_init__(self) -> None:
        for name in ("dispatch_seconds", "request_overhead_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"SimOptions.{name} = {value!r}; a duration is >= 0 seconds")
        if self.fidelity not in FIDELITIES:
            raise ValueError(
                f"SimOptions.fidelity = {self.fidelity!r}; expected one of {', '.join(FIDELITIES)}"
            )


@dataclass(frozen=True)
class ColumnSpec:
    """One column as the simulator schedules it."""

    name: str
    index: int
    llm: bool
    whole_column: bool
    pool: str | None
    model: str | None
    prompt_tokens: int


class SimWorkload:
    """A pipeline and a profile, compiled for the simulator."""

    def __init__(self, pipeline: Pipeline, profile: Profile) -> None:
        self.pipeline = pipeline
        self.profile = profile
        self.graph = ExecutionGraph.from_pipeline(pipeline)
        spec = dag_spec(pipeline, self.graph)
        self.caps: dict[str, int] = dict(spec.caps)

        columns: dict[str, ColumnSpec] = {}
        shapes: dict[str, CallShape] = {}
        for index, name in enumerate(self.graph.order):
            column = self.graph.column(name)
            aliases = self.graph.model_aliases(name)
            whole = isinstance(column, CustomColumn) and column.whole_column
            llm = bool(aliases) and not whole
            model_id = pipeline.models[aliases[0]].model if aliases else None
            columns[name] = ColumnSpec(
                name=name,
                index=index,
                llm=llm,
                whole_column=whole,
                pool=spec.pool[name] if llm else None,
                model=model_id if llm else None,
                prompt_tokens=_prompt_tokens(column),
            )
            if llm:
                served = profile.model(model_id)
                if served is None:
                    raise ValueError(
                        f"profile.models: model {model_id!r} (column {name!r}) is not served "
                        f"and models_only is set; served: {', '.join(sorted(profile.models))}"
                    )
                inference = pipeline.models[aliases[0]].inference
                shapes[name] = CallShape(served, _max_tokens(inference))
        self.columns = columns
        self.shapes = shapes

    @property
    def order(self) -> tuple[str, ...]:
        return self.graph.order

    def sampler(
        self, seed: int, served: Mapping[tuple[str, int, int], float] | None = None
    ) -> ServiceSampler:
        return ServiceSampler(seed, self.shapes, served)

    @property
    def provider_limited(self) -> bool:
        """Whether the provider can refuse, queue or fail a request of this workload."""
        profiles = [shape.model for shape in self.shapes.values()]
        if self.profile.server.limited:
            return True
        return any(p.capacity.limited or p.faults.any for p in profiles)

    @property
    def ramps(self) -> bool:
        return self.pipeline.settings.throttle.rampup_seconds > 0


def _max_tokens(inference: Mapping[str, Any]) -> int | None:
    value = inference.get("max_tokens")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _prompt_tokens(column: Any) -> int:
    """Words of the column's prompt templates, a reference counted as ``REFERENCE_TOKENS``."""
    if not isinstance(column, LLMTextColumn | LLMJudgeColumn):
        return REFERENCE_TOKENS
    words = 0
    for template in (column.prompt, column.system_prompt or ""):
        references = len(_REFERENCE.findall(template))
        words += len(_REFERENCE.sub(" ", template).split()) + references * REFERENCE_TOKENS
    return words


class EngineCpu:
    """The engine's one event-loop thread: CPU work is serialised, first come first served."""

    def __init__(self, cost: float) -> None:
        self.cost = cost
        self.free_at = 0.0
        self.busy_seconds = 0.0

    def delay(self, now: float, cost: float | None = None) -> float:
        """Seconds from ``now`` until a piece of work of ``cost`` (default: a task) is done."""
        cost = self.cost if cost is None else cost
        self.free_at = max(now, self.free_at) + cost
        self.busy_seconds += cost
        return self.free_at - now
