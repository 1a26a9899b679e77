"""Trial statistics: summaries with a Student-t interval, paired speedups, regression checks.

Values are trial wall-clock times in seconds (lower is better), except speedups, which are
ratios sync / async (higher is better for async). Every result is a frozen dataclass with
``to_dict()`` for JSON artifacts; NaN (an interval that cannot be computed) is written as
``None``, since JSON has no NaN, and ``Summary.from_dict`` reads it back.

Known limits: the t-interval assumes the trial means are roughly normal, which four or
five trials cannot check; the bootstrap interval makes no such assumption but, with few
trials, is too narrow (it cannot produce values outside those observed).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

log = logging.getLogger(__name__)

#: How wide an interval may be, relative to its centre, before the report warns.
TOO_WIDE_HALF_WIDTH = 0.25

#: Interval methods for ``paired_speedup``.
METHODS: tuple[str, ...] = ("t", "bootstrap")

DEFAULT_BOOTSTRAP_RESAMPLES = 10_000

VERDICT_FASTER = "faster"
VERDICT_SLOWER = "slower"
VERDICT_UNCLEAR = "no clear difference (interval includes 1.0)"
VERDICT_TOO_FEW = "too few pairs for an interval (n < 2)"


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    return value


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence = {confidence!r}; it must lie strictly between 0 and 1")


def _as_array(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).reshape(-1)
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ValueError(
            f"{name}[{bad[0]}] = {float(array[bad[0]])!r}; every value must be a finite number"
        )
    return array


@dataclass(frozen=True)
class Summary:
    """Descriptive statistics of one set of trials, with a Student-t interval on the mean.

    ``p95`` is the 95th percentile with linear interpolation between order statistics.
    With fewer than two values ``std`` and the interval are NaN (see ``has_interval``);
    with none, every figure is NaN.
    """

    n: int
    mean: float
    median: float
    p95: float
    min: float
    max: float
    std: float
    ci_low: float
    ci_high: float
    confidence: float = 0.95

    @property
    def has_interval(self) -> bool:
        """Whether ``ci_low`` and ``ci_high`` are real numbers (it takes two values)."""
        return self.n >= 2 and not (math.isnan(self.ci_low) or math.isnan(self.ci_high))

    @property
    def relative_half_width(self) -> float:
        """Half the interval's width over the mean; NaN without an interval or a mean."""
        if not self.has_interval or self.mean == 0:
            return math.nan
        return (self.ci_high - self.ci_low) / 2 / abs(self.mean)

    def to_dict(self) -> dict[str, Any]:
        return _json_value(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        """Read back what ``to_dict`` wrote (``None`` becomes NaN)."""
        names = [name for name in cls.__dataclass_fields__ if name not in ("n", "confidence")]
        missing = [name for name in ["n", *names] if name not in data]
        if missing:
            raise ValueError(f"Summary: missing fields {missing} in {dict(data)!r}")
        values = {name: math.nan if data[name] is None else float(data[name]) for name in names}
        return cls(n=int(data["n"]), confidence=float(data.get("confidence", 0.95)), **values)


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Mean, median, p95, min, max, std (ddof=1) and a t-interval on the mean of ``values``."""
    _check_confidence(confidence)
    array = _as_array(values, "values")
    n = int(array.size)
    if n == 0:
        nan = math.nan
        return Summary(0, nan, nan, nan, nan, nan, nan, nan, nan, confidence)

    mean = float(array.mean())
    low = high = std = math.nan
    if n >= 2:
        std = float(array.std(ddof=1))
        half = float(scipy_stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * std / math.sqrt(n)
        low, high = mean - half, mean + half
    return Summary(
        n=n,
        mean=mean,
        median=float(np.median(array)),
        p95=float(np.percentile(array, 95)),
        min=float(array.min()),
        max=float(array.max()),
        std=std,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
    )


@dataclass(frozen=True)
class SpeedupSummary:
    """Per-pair speedups (sync / async), their summary and what they say.

    ``summary`` always carries the t-interval; ``ci_low`` and ``ci_high`` are the
    interval of ``method`` and are the ones the verdict and ``too_wide`` are read from.
    ``too_wide`` is also set when there is no interval at all (fewer than two pairs).
    """

    ratios: tuple[float, ...]
    summary: Summary
    method: str
    ci_low: float
    ci_high: float
    verdict: str
    too_wide: bool

    @property
    def mean(self) -> float:
        return self.summary.mean

    @property
    def n(self) -> int:
        return self.summary.n

    def to_dict(self) -> dict[str, Any]:
        data = _json_value(asdict(self))
        data["summary"] = self.summary.to_dict()
        return data


def _bootstrap_interval(
    ratios: np.ndarray, confidence: float, resamples: int, seed: int
) -> tuple[float, float]:
    """Percentile interval of the mean over ``resamples`` seeded resamples of ``ratios``."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, ratios.size, size=(resamples, ratios.size))
    means = ratios[picks].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def _verdict(low: float, high: float) -> str:
    if math.isnan(low) or math.isnan(high):
        return VERDICT_TOO_FEW
    if low > 1.0:
        return VERDICT_FASTER
    if high < 1.0:
        return VERDICT_SLOWER
    return VERDICT_UNCLEAR


def paired_speedup(
    sync: Sequence[float],
    async_: Sequence[float],
    confidence: float = 0.95,
    *,
    method: str = "t",
    resamples: int = DEFAULT_BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> SpeedupSummary:
    """Speedup of async over sync, pair by pair (``sync[i] / async_[i]``), with a verdict.

    Trials are paired because the runner interleaves them: pair ``i`` ran under the same
    machine load, so the ratio cancels drift that unpaired means would not. ``method``
    is ``"t"`` (Student t on the ratios) or ``"bootstrap"`` (seeded percentile bootstrap
    of their mean, ``resamples`` draws). The verdict is "faster" when the interval lies
    above 1.0, "slower" when below, and no clear difference when it contains 1.0.
    """
    _check_confidence(confidence)
    if method not in METHODS:
        raise ValueError(f"method = {method!r}; valid methods: {list(METHODS)}")
    if resamples < 1:
        raise ValueError(f"resamples = {resamples!r}; it must be at least 1")
    sync_times = _as_array(sync, "sync")
    async_times = _as_array(async_, "async_")
    if sync_times.size != async_times.size:
        raise ValueError(
            f"sync has {sync_times.size} trials and async_ {async_times.size}; "
            "paired trials need the same count"
        )
    for name, times in (("sync", sync_times), ("async_", async_times)):
        bad = np.flatnonzero(times <= 0)
        if bad.size:
            raise ValueError(
                f"{name}[{bad[0]}] = {float(times[bad[0]])!r}; a trial time must be > 0"
            )

    ratios = sync_times / async_times
    summary = summarize(ratios, confidence)
    low, high = summary.ci_low, summary.ci_high
    if method == "bootstrap" and ratios.size >= 2:
        low, high = _bootstrap_interval(ratios, confidence, resamples, seed)

    has_interval = not (math.isnan(low) or math.isnan(high))
    too_wide = not has_interval or (high - low) / 2 / abs(summary.mean) > TOO_WIDE_HALF_WIDTH
    result = SpeedupSummary(
        ratios=tuple(float(r) for r in ratios),
        summary=summary,
        method=method,
        ci_low=low,
        ci_high=high,
        verdict=_verdict(low, high),
        too_wide=too_wide,
    )
    log.debug("speedup over %d pairs: mean %.3f (%s)", summary.n, summary.mean, result.verdict)
    return result


@dataclass(frozen=True)
class Change:
    """A candidate's mean trial time against a baseline's, for the regression gate.

    ``basis`` is ``"interval"`` when both sides had an interval and the decision compared
    them, ``"mean"`` when one side had fewer than two trials and only the means counted.
    ``improved`` is the mirror of ``regressed``: faster beyond tolerance and intervals.
    """

    baseline_mean: float
    candidate_mean: float
    relative_change: float
    tolerance: float
    regressed: bool
    improved: bool
    basis: str

    def to_dict(self) -> dict[str, Any]:
        return _json_value(asdict(self))


def regression_check(baseline: Summary, candidate: Summary, tolerance: float) -> Change:
    """Whether ``candidate`` is slower than ``baseline`` beyond ``tolerance`` and the noise.

    With intervals on both sides, a regression needs the candidate's whole interval above
    the baseline's, stretched by the tolerance: ``candidate.ci_low > baseline.ci_high *
    (1 + tolerance)``. With fewer than two trials on either side, the relative change of
    the means alone must exceed the tolerance.
    """
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance = {tolerance!r}; it is a fraction >= 0 (0.10 is 10%)")
    for name, summary in (("baseline", baseline), ("candidate", candidate)):
        if summary.n < 1 or not math.isfinite(summary.mean):
            raise ValueError(f"{name} has no trials (n = {summary.n}); nothing to compare")
    if baseline.mean <= 0:
        raise ValueError(f"baseline.mean = {baseline.mean!r}; a trial time must be > 0")

    change = (candidate.mean - baseline.mean) / baseline.mean
    if baseline.has_interval and candidate.has_interval:
        basis = "interval"
        regressed = candidate.ci_low > baseline.ci_high * (1 + tolerance)
        improved = candidate.ci_high < baseline.ci_low * (1 - tolerance)
    else:
        basis = "mean"
        regressed = change > tolerance
        improved = change < -tolerance
    return Change(
        baseline_mean=baseline.mean,
        candidate_mean=candidate.mean,
        relative_change=change,
        tolerance=tolerance,
        regressed=regressed,
        improved=improved,
        basis=basis,
    )
