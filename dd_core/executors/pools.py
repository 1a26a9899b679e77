"""The async executor's two pools and the hand-over between them.

``submission_pool`` (default 256) caps the tasks dispatched and not yet in a model call;
``llm_wait_pool`` (default ``max(256, 2 * sum of max_parallel_requests)``) holds tasks
waiting on a model call. A model-calling task acquires an LLM-wait slot while still holding
its submission slot, then hands the submission slot back, so a task blocked in the
throttle's queue or cooldown never holds a dispatch slot. After the call the task keeps
neither; a second call of the same task takes a fresh LLM-wait slot. Every slot, and the
task's lane slot (``dd_core.executors.lanes``), is given back exactly once by its holder.

The simulator (``dd_sim.async_engine``, ``dd_sim.lean``) sizes its pools with the same
``pool_sizes``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from dd_core.config import Pipeline

DEFAULT_SUBMISSION_POOL = 256
DEFAULT_LLM_WAIT_FLOOR = 256


def pool_sizes(pipeline: Pipeline) -> tuple[int, int]:
    """The (submission, LLM-wait) pool sizes of a run: the settings, or their defaults."""
    settings = pipeline.settings
    total = sum(model.max_parallel_requests for model in pipeline.models.values())
    submission = settings.submission_pool or DEFAULT_SUBMISSION_POOL
    llm_wait = settings.llm_wait_pool or max(DEFAULT_LLM_WAIT_FLOOR, 2 * total)
    for name, value in (("submission_pool", submission), ("llm_wait_pool", llm_wait)):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer or None, got {value}")
    return submission, llm_wait


class Pools:
    """A run's submission and LLM-wait pools; ``wake`` is set whenever a slot frees."""

    def __init__(self, submission_size: int, llm_wait_size: int) -> None:
        self.submission_size = submission_size
        self.submission_free = submission_size
        self.llm_wait_size = llm_wait_size
        self.llm_wait = asyncio.Semaphore(llm_wait_size)
        self.llm_wait_held = 0
        self.wake = asyncio.Event()

    @property
    def submission_held(self) -> int:
        return self.submission_size - self.submission_free

    def take_submission(self) -> Slots:
        """Count one submission slot out for a task being dispatched; the loop checked room."""
        if self.submission_free < 1:
            raise RuntimeError("take_submission() with no submission slot free")
        self.submission_free -= 1
        return Slots(self)

    @contextlib.asynccontextmanager
    async def llm_wait_slot(self, slots: Slots) -> AsyncIterator[None]:
        """Move a task from its submission slot to an LLM-wait slot for one model call."""
        await self.llm_wait.acquire()
        slots.llm_wait = True
        self.llm_wait_held += 1
        slots.release_submission()
        try:
            yield
        finally:
            slots.release_llm_wait()


class Slots:
    """The slots one task holds; each is given back exactly once.

    ``on_lane_release``, when set, gives back the task's lane slot (once, with the rest).
    """

    def __init__(self, pools: Pools) -> None:
        self._pools = pools
        self.submission = True
        self.llm_wait = False
        self.on_lane_release: Callable[[], None] | None = None
        #: Set by the task's first step: a task cancelled before it never runs its own
        #: clean-up, so the executor gives its slots back from a done callback instead.
        self.started = False

    def release_submission(self) -> None:
        if self.submission:
            self.submission = False
            self._pools.submission_free += 1
            self._pools.wake.set()

    def release_llm_wait(self) -> None:
        if self.llm_wait:
            self.llm_wait = False
            self._pools.llm_wait_held -= 1
            self._pools.llm_wait.release()

    def release_lane(self) -> None:
        release, self.on_lane_release = self.on_lane_release, None
        if release is not None:
            release()
            self._pools.wake.set()

    def release_all(self) -> None:
        self.release_llm_wait()
        self.release_submission()
        self.release_lane()
