"""Fixtures shared by every test package: real mock providers on loopback, bundled workloads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from benchmarks.workloads import resolve_workload
from dd_core.config import Pipeline
from dd_core.loader import load_pipeline
from mock_provider import MockProvider, Profile, load_profile


@pytest_asyncio.fixture
async def start_mock() -> AsyncIterator[Callable[..., Any]]:
    """Start embedded mock providers on ephemeral loopback ports; all stopped at the end.

    ``mock = await start_mock(profile_or_dict, seed=0)`` or ``await start_mock(latency=0.05)``.
    """
    started: list[MockProvider] = []

    async def start(
        profile: Profile | dict | None = None,
        *,
        seed: int = 0,
        latency: float | None = None,
        max_concurrency: int | None = None,
    ) -> MockProvider:
        loaded = load_profile(profile).with_overrides(
            latency=latency, max_concurrency=max_concurrency
        )
        mock = await MockProvider(loaded, seed=seed).start()
        started.append(mock)
        return mock

    yield start
    for mock in started:
        await mock.stop()


@pytest.fixture
def workload() -> Callable[..., Pipeline]:
    """A bundled workload by name, optionally pointed at a mock's base URL."""

    def load(name: str, endpoint: str | None = None) -> Pipeline:
        pipeline = load_pipeline(resolve_workload(name))
        return pipeline.with_endpoint(endpoint) if endpoint else pipeline

    return load
