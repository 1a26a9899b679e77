"""The engine's exception tree.

    DDCoreError
    +-- ConfigError              a pipeline file or object is invalid (caught before any request)
    +-- ModelCallError           a model call failed; ``retryable`` says what the executors do
    |   +-- RateLimitError       429: never retried by the transport, handed to the throttle
    |   +-- TransportError       5xx / connection failure, after the transport's own retries
    |   +-- RequestTimeoutError  no answer within the request timeout
    |   +-- BadResponseError     4xx other than 429, or a body that is not a chat completion
    +-- GenerationError          a cell could not be produced (unparseable judge output,
    |                            a failed validation, an exception in a custom generator)
    +-- RunError                 the run as a whole could not go on

The retryable classification travels with the exception through every layer: a wrapper
that catches a ``ModelCallError`` must re-raise it (or one carrying the same
``retryable`` flag), never a plain ``Exception``, or a timeout would be mistaken for a
permanent failure.
"""

from __future__ import annotations


class DDCoreError(Exception):
    """Base of every error the engine raises on purpose."""

    retryable: bool = False


class ConfigError(DDCoreError):
    """A pipeline is invalid; the message names the field, the value and what is valid."""


class ModelCallError(DDCoreError):
    """A call to a model endpoint failed."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RateLimitError(ModelCallError):
    """The provider answered 429; ``retry_after`` is its ``Retry-After`` in seconds."""

    retryable = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = 429
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class TransportError(ModelCallError):
    """A 502/503/504 or connection failure that outlived the transport's retries."""

    retryable = True


class RequestTimeoutError(ModelCallError):
    """The provider did not answer within the request timeout."""

    retryable = True


class BadResponseError(ModelCallError):
    """A 4xx other than 429, or a response body that is not a chat completion."""

    retryable = False


class GenerationError(DDCoreError):
    """A cell could not be produced from a valid response; the row is dropped."""

    retryable = False


class RunError(DDCoreError):
    """The run could not go on (for example, it was stopped by a sustained error rate)."""


def is_retryable(exc: BaseException) -> bool:
    """Whether an executor should defer the task rather than drop its row."""
    return bool(getattr(exc, "retryable", False))
