"""What a model call returns, and the signature executors give generators to make one."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Message = Mapping[str, str]


@dataclass(frozen=True)
class ChatResponse:
    """One successful chat completion."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Transport attempts it took (1 when the first try succeeded).
    attempts: int = 1
    #: Seconds from the request leaving to the response being read, last attempt only.
    latency: float = 0.0


class ChatFn(Protocol):
    """``await chat(alias, messages, response_format=..., tag=...)``: one model call."""

    def __call__(
        self,
        alias: str,
        messages: Sequence[Message],
        *,
        response_format: Mapping[str, Any] | None = None,
        tag: str | None = None,
    ) -> Awaitable[ChatResponse]: ...
