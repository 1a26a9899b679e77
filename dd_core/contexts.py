"""What a generator is given: the cell's (or batch's) context, and its way to the model.

``CellContext`` carries the row index, the seed and a per-cell RNG (seeded by seed, column
and row, so a value never depends on the order cells ran in), and ``chat``, the model call
the executor provides. ``chat_sync`` is the bridge for sync user code on a worker thread:
it schedules ``chat`` on the event loop the context was made on and waits with a timeout
derived from the request timeout; a timeout there is a retryable ``RequestTimeoutError``,
and model errors come through with their class intact.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dd_core.chat import ChatFn, ChatResponse, Message
from dd_core.errors import RequestTimeoutError, RunError
from dd_core.sampling import cell_rng

# --- contexts --------------------------------------------------------------------------


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _ContextHelpers:
    """What cell and batch contexts share: the captured loop and the sync model call."""

    column: str
    seed: int
    chat: ChatFn
    request_timeout: float
    retries: int
    loop: asyncio.AbstractEventLoop | None

    def __post_init__(self) -> None:
        if self.loop is None:
            object.__setattr__(self, "loop", running_loop())

    @property
    def chat_timeout(self) -> float:
        """How long ``chat_sync`` waits: every transport attempt plus slack for queueing.

        Known limit: a call queued behind a throttle for longer than this times out even
        though the provider is healthy; the timeout is retryable, so the task is deferred.
        """
        return self.request_timeout * (self.retries + 2)

    def bind(self) -> Any:
        """This context bound to the running loop (so worker threads can reach it)."""
        loop = running_loop()
        if loop is None or loop is self.loop:
            return self
        return dataclasses.replace(self, loop=loop)

    def chat_sync(self, alias: str, messages: Sequence[Message], **kwargs: Any) -> ChatResponse:
        """Call ``chat`` from a worker thread and wait for it; for sync custom generators."""
        loop = self.loop
        if loop is None or loop.is_closed():
            raise RunError(f"column {self.column!r}: chat_sync needs a running event loop")
        if running_loop() is loop:
            raise RunError(
                f"column {self.column!r}: chat_sync called on the event loop's own thread "
                "would deadlock; use 'await ctx.chat(...)' there"
            )

        async def call() -> ChatResponse:
            return await self.chat(alias, messages, **kwargs)

        future = asyncio.run_coroutine_threadsafe(call(), loop)
        try:
            return future.result(timeout=self.chat_timeout)
        except concurrent.futures.TimeoutError:
            if future.done():
                raise
            future.cancel()
            raise RequestTimeoutError(
                f"column {self.column!r}: no answer from model {alias!r} "
                f"within {self.chat_timeout:g} s (chat_sync)"
            ) from None


@dataclass(frozen=True)
class CellContext(_ContextHelpers):
    """Everything one cell's generator needs besides the row's values.

    ``chat`` is the executor's model call; ``retries`` the transport retries behind one
    call; ``loop`` is captured when the context is made inside a running event loop.
    """

    column: str
    row_index: int
    seed: int
    chat: ChatFn
    request_timeout: float = 60.0
    retries: int = 3
    loop: asyncio.AbstractEventLoop | None = None

    def rng(self) -> np.random.Generator:
        """The cell's own RNG: the same whatever order cells run in."""
        return cell_rng(self.seed, self.column, self.row_index)

    def as_batch(self) -> BatchContext:
        """A one-row batch context, for calling a whole-column generator on one cell."""
        return BatchContext(
            self.column,
            (self.row_index,),
            self.seed,
            self.chat,
            self.request_timeout,
            self.retries,
            self.loop,
        )


@dataclass(frozen=True)
class BatchContext(_ContextHelpers):
    """Context of a whole-column task over ``row_indices`` (a batch or a row group).

    Batch boundaries differ between executors, so per-row values must depend on the row
    index (``rng(row_index)``), never on the position inside the batch.
    """

    column: str
    row_indices: tuple[int, ...]
    seed: int
    chat: ChatFn
    request_timeout: float = 60.0
    retries: int = 3
    loop: asyncio.AbstractEventLoop | None = None

    def rng(self, row_index: int) -> np.random.Generator:
        return cell_rng(self.seed, self.column, row_index)

    def cell(self, row_index: int) -> CellContext:
        return CellContext(
            self.column,
            row_index,
            self.seed,
            self.chat,
            self.request_timeout,
            self.retries,
            self.loop,
        )

    @property
    def rows_label(self) -> str:
        if not self.row_indices:
            return "rows (none)"
        return f"rows {min(self.row_indices)}-{max(self.row_indices)}"
