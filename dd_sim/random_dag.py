"""Seeded random pipelines for what-if sweeps, built through the engine's own loader.

A random DAG has one sampler root and ``depth`` levels of ``width`` LLM columns. A column
of level 0 reads the root; a column of a later level reads one column of the level just
above (so the DAG is exactly ``depth`` calls deep) and up to ``fan_in - 1`` more from any
level above. Columns are spread over ``models`` models round-robin, and model ``i`` is
served by endpoint ``i % endpoints``. The pipeline is written as a mapping and passed to
``dd_core.loader.load_pipeline``, so it meets the same validation as a file.
"""

from __future__ import annotations

import random
from typing import Any

from dd_core.config import Pipeline
from dd_core.loader import load_pipeline


def random_pipeline(
    *,
    width: int,
    depth: int,
    fan_in: int = 1,
    models: int = 1,
    endpoints: int = 1,
    seed: int = 0,
    max_parallel_requests: int = 16,
    max_tokens: int = 64,
) -> Pipeline:
    """A validated random pipeline; the same arguments give the same pipeline."""
    for name, value in (
        ("width", width),
        ("depth", depth),
        ("fan_in", fan_in),
        ("models", models),
        ("endpoints", endpoints),
        ("max_parallel_requests", max_parallel_requests),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"random DAG: {name} = {value!r}; it is an integer >= 1")
    if endpoints > models:
        raise ValueError(
            f"random DAG: endpoints = {endpoints} exceeds models = {models}; every endpoint "
            "serves at least one model"
        )

    rng = random.Random(seed)
    providers = [
        {"name": f"endpoint{e}", "endpoint": f"http://127.0.0.1:{8000 + e}/v1"}
        for e in range(endpoints)
    ]
    model_list = [
        {
            "alias": f"m{m}",
            "provider": f"endpoint{m % endpoints}",
            "model": f"model-{m}",
            "max_parallel_requests": max_parallel_requests,
            "inference": {"max_tokens": max_tokens},
        }
        for m in range(models)
    ]
    columns: list[dict[str, Any]] = [
        {"name": "topic", "kind": "sampler", "sampler": "category", "params": {"values": ["a"]}}
    ]
    levels: list[list[str]] = []
    count = 0
    for level in range(depth):
        names = []
        for slot in range(width):
            name = f"c{level}_{slot}"
            if level == 0:
                parents = ["topic"]
            else:
                parents = [rng.choice(levels[-1])]
                earlier = [c for lv in levels for c in lv if c not in parents]
                extra = min(fan_in - 1, len(earlier))
                parents += rng.sample(earlier, extra)
            prompt = " ".join(f"{{{{ {parent} }}}}" for parent in parents)
            columns.append(
                {
                    "name": name,
                    "kind": "llm_text",
                    "model": f"m{count % models}",
                    "prompt": f"Continue: {prompt}",
                }
            )
            names.append(name)
            count += 1
        levels.append(names)

    return load_pipeline(
        {
            "name": f"random_w{width}_d{depth}_f{fan_in}_m{models}_e{endpoints}_s{seed}",
            "description": f"random DAG: width {width}, depth {depth}, fan-in {fan_in}",
            "providers": providers,
            "models": model_list,
            "settings": {"seed": seed},
            "columns": columns,
        }
    )
