"""The early-stop window counts only non-retryable failures."""

from __future__ import annotations

import pytest

from dd_core.errors import (
    BadResponseError,
    GenerationError,
    RateLimitError,
    RequestTimeoutError,
    TransportError,
)
from dd_core.executors.early_stop import ErrorWindow


def test_trips_when_failures_reach_the_threshold_of_a_full_window() -> None:
    window = ErrorWindow(4, 0.5)

    assert not window.record(GenerationError("bad judge output"))
    assert not window.record(None)
    assert not window.record(None)
    assert window.record(BadResponseError("400", status=400))
    assert window.tripped
    assert "2 of the last 4 tasks failed" in window.reason()


def test_successes_slide_old_failures_out() -> None:
    window = ErrorWindow(3, 0.67)
    window.record(GenerationError("x"))
    window.record(None)
    window.record(None)

    assert window.failures == 1
    window.record(None)
    assert window.failures == 0
    assert window.rate == 0.0


@pytest.mark.parametrize(
    "error",
    [
        RateLimitError("429", retry_after=1.0),
        TransportError("503", status=503),
        RequestTimeoutError("timed out"),
    ],
)
def test_retryable_errors_never_count(error: Exception) -> None:
    window = ErrorWindow(2, 0.5)

    for _ in range(100):
        assert not window.record(error)

    assert window.failures == 0
    assert window.rate == 0.0


def test_once_tripped_it_stays_tripped() -> None:
    window = ErrorWindow(1, 1.0)
    assert window.record(GenerationError("x"))
    assert window.record(None)


@pytest.mark.parametrize(("size", "threshold"), [(0, 0.5), (10, 0.0), (10, 1.5)])
def test_bad_settings_are_refused(size: int, threshold: float) -> None:
    with pytest.raises(ValueError, match="error_"):
        ErrorWindow(size, threshold)
