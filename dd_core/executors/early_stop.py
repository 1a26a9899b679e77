"""The early-stop rule: a sustained rate of non-retryable failures ends the run.

Only outcomes that mean the pipeline itself is failing count: a cell that succeeded, or a
cell whose row was dropped for a non-retryable reason (unparseable judge output, a failed
validation, a generator exception, a 4xx). A retryable error (429, a transport error that
outlived its retries, a timeout) is no outcome at all: the task is deferred and tried again,
so a degraded provider slows a run down but never empties it.
"""

from __future__ import annotations

from collections import deque

from dd_core.errors import is_retryable


class ErrorWindow:
    """The last ``window`` outcomes; trips when failures reach ``threshold`` of a full window."""

    def __init__(self, window: int, threshold: float) -> None:
        if window < 1:
            raise ValueError(f"error_window must be a positive integer, got {window}")
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"error_rate_threshold must be in (0, 1], got {threshold}")
        self.window = window
        self.threshold = threshold
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._failures = 0
        self.tripped = False

    @property
    def failures(self) -> int:
        """Non-retryable failures among the outcomes in the window."""
        return self._failures

    @property
    def rate(self) -> float:
        return self._failures / len(self._outcomes) if self._outcomes else 0.0

    def record(self, error: BaseException | None) -> bool:
        """Count one task outcome (``None`` for success); return whether the window tripped.

        A retryable ``error`` is ignored. Once tripped, the window stays tripped.
        """
        if error is not None and is_retryable(error):
            return self.tripped

        failed = error is not None
        if len(self._outcomes) == self.window:
            self._failures -= self._outcomes[0]
        self._outcomes.append(failed)
        self._failures += failed

        if len(self._outcomes) == self.window and self._failures >= self.threshold * self.window:
            self.tripped = True
        return self.tripped

    def reason(self) -> str:
        """The stop reason a run reports when the window tripped."""
        return (
            f"early stop: {self._failures} of the last {len(self._outcomes)} tasks failed "
            f"with non-retryable errors (error_rate_threshold {self.threshold:g}, "
            f"error_window {self.window})"
        )
