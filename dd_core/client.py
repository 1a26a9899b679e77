"""OpenAI-compatible chat over one shared aiohttp session, behind the adaptive throttle.

Every attempt takes a throttle permit for (provider, model id, "chat") and gives it back
with its outcome, so the AIMD controller sees every 429. What each answer becomes:

- 2xx with a chat completion: a ``ChatResponse``. An empty content string is returned as
  it is; whether that is a usable cell is the generator's call.
- 429: ``RateLimitError`` at once, never retried here: the throttle has already cooled
  down and the executor defers the task.
- 500, 502, 503, 504, timeouts, connection errors (a connection dropped without an answer
  included): retried up to ``max_transport_retries`` times with full-jitter exponential
  back-off, each retry with a fresh permit; then ``TransportError`` or
  ``RequestTimeoutError`` (both retryable, so the executor defers the task). A 500 is
  treated as transient like the others: providers answer 500 under overload as well.
- A 2xx whose body is not a chat completion (truncated JSON, no ``choices``): a provider
  fault that a retry usually cures, so it is retried like a 503; if the last retry is
  still malformed, ``BadResponseError`` (non-retryable): a body that stays malformed is
  more likely a wrong endpoint than bad luck.
- Any other 4xx (or an unexpected status): ``BadResponseError``, non-retryable.

Cancellation at any point gives the permit back (outcome "error") and propagates.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from dd_core.chat import ChatResponse, Message
from dd_core.config import ModelConfig, Pipeline, ProviderConfig
from dd_core.errors import (
    BadResponseError,
    ConfigError,
    ModelCallError,
    RateLimitError,
    RequestTimeoutError,
    TransportError,
)
from dd_core.throttle import Outcome, ThrottleManager

log = logging.getLogger(__name__)

#: Statuses retried as transport errors.
RETRYABLE_STATUSES: frozenset[int] = frozenset({500, 502, 503, 504})


@dataclass
class CallTrace:
    """Timestamps (``time.time()``) of one ``chat`` call's last attempt, filled as it goes."""

    throttle_acquired: float | None = None
    request_start: float | None = None
    request_end: float | None = None
    attempts: int = 0
    rate_limited: bool = False


class _MalformedBody(Exception):
    """A 2xx body that is not a chat completion; retried, then ``BadResponseError``."""


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (preferred) or ``Retry-After`` (secs or date)."""
    precise = headers.get("retry-after-ms")
    if precise is not None:
        try:
            return max(0.0, float(precise) / 1000.0)
        except ValueError:
            pass

    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_completion(raw: bytes, fallback_model: str) -> tuple[str, str, int, int]:
    """(text, model, prompt tokens, completion tokens) of a chat-completion body."""
    try:
        body = json.loads(raw)
        message = body["choices"][0]["message"]
        text = message["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise _MalformedBody(f"not a chat completion ({type(exc).__name__}: {exc})") from exc
    if not isinstance(text, str):
        raise _MalformedBody(f"message content is {type(text).__name__}, expected a string")

    usage = body.get("usage") or {}
    return (
        text,
        str(body.get("model") or fallback_model),
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
    )


def _error_message(raw: bytes) -> str:
    try:
        return str(json.loads(raw)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return raw[:200].decode("utf-8", "replace")


class ModelClient:
    """Sends chat requests for a pipeline's model aliases; ``async with`` opens its session."""

    def __init__(
        self,
        pipeline: Pipeline,
        throttle: ThrottleManager,
        *,
        session: aiohttp.ClientSession | None = None,
        seed: int | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.throttle = throttle
        self.settings = pipeline.settings
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=self.settings.request_timeout)
        self._rng = random.Random(self.settings.seed if seed is None else seed)
        self._counters = dict.fromkeys(
            ("requests", "rate_limited", "transport_retries", "timeouts", "errors"), 0
        )

    @property
    def counters(self) -> dict[str, int]:
        """requests (HTTP attempts), rate_limited (429s), transport_retries, timeouts
        (attempts that timed out), errors (calls that failed for good, 429s aside)."""
        return dict(self._counters)

    async def __aenter__(self) -> ModelClient:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=max(1, sum(self.throttle.caps.values())), keepalive_timeout=30.0
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
            self._owns_session = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def chat(
        self,
        alias: str,
        messages: Sequence[Message],
        *,
        response_format: Mapping[str, Any] | None = None,
        tag: str | None = None,
        trace: CallTrace | None = None,
    ) -> ChatResponse:
        """One chat completion for ``alias``; raises a ``ModelCallError`` on failure."""
        model, provider = self._resolve(alias)
        url = provider.endpoint.rstrip("/") + "/chat/completions"
        body: dict[str, Any] = {"model": model.model, "messages": [dict(m) for m in messages]}
        body.update(model.inference)
        if response_format is not None:
            body["response_format"] = dict(response_format)
        headers = self._headers(provider, tag)
        trace = trace if trace is not None else CallTrace()
        retries = self.settings.max_transport_retries

        for attempt in range(retries + 1):
            try:
                return await self._attempt(model, provider, url, body, headers, trace)
            except RateLimitError:
                raise
            except (_MalformedBody, TransportError, RequestTimeoutError) as exc:
                if attempt >= retries:
                    self._counters["errors"] += 1
                    log.warning("giving up on %s after %d attempts: %s", alias, attempt + 1, exc)
                    if isinstance(exc, _MalformedBody):
                        raise BadResponseError(
                            f"model {alias!r} sent a malformed body: {exc}"
                        ) from exc
                    raise
                delay = self._rng.uniform(0.0, self.settings.retry_backoff_seconds * 2**attempt)
                self._counters["transport_retries"] += 1
                log.debug(
                    "retry %d/%d of %s (tag %s) in %.3fs: %s",
                    attempt + 1,
                    retries,
                    alias,
                    tag,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)
            except ModelCallError:
                self._counters["errors"] += 1
                raise
        raise AssertionError("unreachable: the loop returns or raises")

    async def _attempt(
        self,
        model: ModelConfig,
        provider: ProviderConfig,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
        trace: CallTrace,
    ) -> ChatResponse:
        """One HTTP attempt under one permit, released with the attempt's outcome."""
        session = self._open_session()
        permit = await self.throttle.acquire(provider.name, model.model, "chat")
        outcome: Outcome = "error"
        retry_after: float | None = None
        try:
            trace.throttle_acquired = time.time()
            trace.request_end = None
            trace.attempts += 1
            self._counters["requests"] += 1
            trace.request_start = time.time()
            started = time.perf_counter()
            status, resp_headers, raw = await self._post(session, url, body, headers)
            latency = time.perf_counter() - started
            trace.request_end = time.time()

            if status == 429:
                retry_after = parse_retry_after(resp_headers)
                outcome = "rate_limited"
                trace.rate_limited = True
                self._counters["rate_limited"] += 1
                raise RateLimitError(
                    f"model {model.alias!r} rate limited (429, retry after {retry_after}s): "
                    f"{_error_message(raw)}",
                    retry_after=retry_after,
                )
            if status in RETRYABLE_STATUSES:
                raise TransportError(
                    f"model {model.alias!r} answered {status}: {_error_message(raw)}",
                    status=status,
                )
            if not 200 <= status < 300:
                raise BadResponseError(
                    f"model {model.alias!r} answered {status}: {_error_message(raw)}",
                    status=status,
                )
            text, served_model, prompt_tokens, completion_tokens = parse_completion(
                raw, model.model
            )
            outcome = "success"
            return ChatResponse(
                text=text,
                model=served_model,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                attempts=trace.attempts,
                latency=latency,
            )
        finally:
            if trace.request_end is None and trace.request_start is not None:
                trace.request_end = time.time()
            permit.release(outcome, retry_after)

    async def _post(
        self,
        session: aiohttp.ClientSession,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
    ) -> tuple[int, Mapping[str, str], bytes]:
        """Status, headers and body of one POST, with transport failures made ours."""
        try:
            async with session.post(
                url, json=body, headers=headers, timeout=self._timeout
            ) as response:
                return response.status, response.headers, await response.read()
        except TimeoutError as exc:
            self._counters["timeouts"] += 1
            raise RequestTimeoutError(
                f"no answer from {url} within {self.settings.request_timeout}s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise TransportError(f"{url}: {type(exc).__name__}: {exc}") from exc

    def _resolve(self, alias: str) -> tuple[ModelConfig, ProviderConfig]:
        model = self.pipeline.models.get(alias)
        if model is None:
            known = ", ".join(sorted(self.pipeline.models)) or "none"
            raise ConfigError(f"unknown model alias {alias!r}; known aliases: {known}")
        provider = self.pipeline.providers.get(model.provider)
        if provider is None:
            known = ", ".join(sorted(self.pipeline.providers)) or "none"
            raise ConfigError(
                f"model {alias!r} names unknown provider {model.provider!r}; known: {known}"
            )
        return model, provider

    def _headers(self, provider: ProviderConfig, tag: str | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        key = os.environ.get(provider.api_key_env) if provider.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if tag is not None:
            headers["X-DD-Tag"] = tag
        return headers

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise RuntimeError("ModelClient is not open: use `async with ModelClient(...)`")
        return self._session
