"""From a pipeline to the ``DagSpec`` the ideal replay and the simulator schedule over."""

from __future__ import annotations

from collections.abc import Mapping

from dd_core.config import Pipeline
from dd_core.graph import ExecutionGraph
from dd_core.throttle import ThrottleManager
from dd_sim.ideal import DagSpec


def pool_key(provider: str, model: str) -> str:
    """The name of one (provider, model) concurrency pool, as artifacts show it."""
    return f"{provider}/{model}"


def dag_spec(
    pipeline: Pipeline,
    graph: ExecutionGraph | None = None,
    provider_caps: Mapping[str, int] | None = None,
) -> DagSpec:
    """The pipeline's columns, dependencies, model pools and caps.

    A pool's cap is the throttle's global cap for that (provider, model), so the ideal is
    held to the same limits the engines are, or the provider's own concurrency limit for
    that pool (``provider_caps``, by pool key) where it is lower: no engine can have more
    requests served at once than the provider serves. A column that calls several models
    is put in the pool of the first; its other calls are not capped in the replay (a
    known limit).
    """
    graph = graph or ExecutionGraph.from_pipeline(pipeline)
    caps = {pool_key(*key): cap for key, cap in ThrottleManager.for_pipeline(pipeline).caps.items()}
    for pool, cap in (provider_caps or {}).items():
        if pool in caps:
            caps[pool] = min(caps[pool], cap)

    pools: dict[str, str | None] = {}
    for name in graph.order:
        aliases = graph.model_aliases(name)
        if not aliases:
            pools[name] = None
            continue
        model = pipeline.models[aliases[0]]
        pools[name] = pool_key(model.provider, model.model)

    return DagSpec(
        order=graph.order,
        upstream={name: graph.upstream(name) for name in graph.order},
        pool=pools,
        caps=caps,
    )
