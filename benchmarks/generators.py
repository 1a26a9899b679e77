"""Custom generators used by the ``custom_generator`` workload.

They exercise the bridge between user code and both engines: a sync function that calls
the model through ``ctx.chat_sync`` from a worker thread, and an async class that awaits
``ctx.chat``. The number of calls a cell makes depends on its row, zero to several, so the
ideal bound and the traces see cells of unequal cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_CALLS = 3


def call_n_times(row: Mapping[str, Any], ctx: Any) -> str:
    """Row r makes r % 3 sequential calls (0, 1 or 2); a sync generator on a worker thread."""
    calls = ctx.row_index % MAX_CALLS
    notes = [f"no model needed for {row['topic']}"] if calls == 0 else []
    for step in range(calls):
        messages = [{"role": "user", "content": f"Note {step + 1} on {row['topic']}."}]
        notes.append(ctx.chat_sync("generator", messages, tag=f"notes:{ctx.row_index}").text)
    return " | ".join(notes)


class AsyncDigest:
    """An async class generator writing two columns; calls the model once or twice."""

    def __init__(self, max_calls: int = 2) -> None:
        self.max_calls = max_calls

    async def agenerate(self, row: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
        calls = 1 + ctx.row_index % self.max_calls
        text = row["notes"]
        for _ in range(calls):
            messages = [{"role": "user", "content": f"Condense: {text}"}]
            text = (await ctx.chat("generator", messages, tag=f"digest:{ctx.row_index}")).text
        return {"digest": text, "digest_calls": calls}
