"""Trial statistics against values worked out by hand or read from t tables."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.stats import (
    VERDICT_FASTER,
    VERDICT_SLOWER,
    VERDICT_TOO_FEW,
    VERDICT_UNCLEAR,
    Summary,
    paired_speedup,
    regression_check,
    summarize,
)

T_DF3_95 = 3.182  # two-sided 95% Student t quantile with 3 degrees of freedom (tables)


def test_summary_of_four_known_values() -> None:
    summary = summarize([1.0, 2.0, 3.0, 4.0])

    std = math.sqrt(5 / 3)  # squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, over n - 1
    half = T_DF3_95 * std / 2
    assert summary.n == 4
    assert summary.mean == 2.5
    assert summary.median == 2.5
    assert summary.p95 == pytest.approx(3.85)  # 3 + 0.85 * (4 - 3), linear interpolation
    assert (summary.min, summary.max) == (1.0, 4.0)
    assert summary.std == pytest.approx(std)
    assert summary.ci_low == pytest.approx(2.5 - half, abs=1e-3)
    assert summary.ci_high == pytest.approx(2.5 + half, abs=1e-3)
    assert summary.has_interval


def test_a_higher_confidence_widens_the_interval() -> None:
    narrow = summarize([1.0, 2.0, 3.0, 4.0], confidence=0.90)
    wide = summarize([1.0, 2.0, 3.0, 4.0], confidence=0.99)

    # t(0.995, df=3) = 5.841 in the tables.
    assert wide.ci_high - wide.mean == pytest.approx(5.841 * math.sqrt(5 / 3) / 2, abs=1e-3)
    assert narrow.ci_high - narrow.ci_low < wide.ci_high - wide.ci_low


def test_one_value_has_no_interval() -> None:
    summary = summarize([7.0])

    assert (summary.n, summary.mean, summary.median, summary.p95) == (1, 7.0, 7.0, 7.0)
    assert (summary.min, summary.max) == (7.0, 7.0)
    assert math.isnan(summary.std)
    assert math.isnan(summary.ci_low) and math.isnan(summary.ci_high)
    assert not summary.has_interval
    assert math.isnan(summary.relative_half_width)


def test_no_values_are_all_nan() -> None:
    summary = summarize([])

    assert summary.n == 0
    assert not summary.has_interval
    for name in ("mean", "median", "p95", "min", "max", "std", "ci_low", "ci_high"):
        assert math.isnan(getattr(summary, name))
        assert summary.to_dict()[name] is None


def test_identical_values_have_a_zero_width_interval() -> None:
    summary = summarize([3.0, 3.0, 3.0])

    assert summary.std == 0.0
    assert (summary.ci_low, summary.ci_high) == (3.0, 3.0)
    assert summary.has_interval
    assert summary.relative_half_width == 0.0


def test_summary_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"values\[1\] = nan"):
        summarize([1.0, float("nan")])
    with pytest.raises(ValueError, match="confidence = 1.0"):
        summarize([1.0, 2.0], confidence=1.0)


def test_summary_round_trips_through_json() -> None:
    for values in ([1.0, 2.0, 3.0, 4.0], [5.0], []):
        summary = summarize(values)
        text = json.dumps(summary.to_dict(), allow_nan=False)

        back = Summary.from_dict(json.loads(text))

        assert back.n == summary.n
        for name in ("mean", "std", "ci_low", "ci_high", "p95"):
            a, b = getattr(back, name), getattr(summary, name)
            assert (math.isnan(a) and math.isnan(b)) or a == b


def test_from_dict_names_missing_fields() -> None:
    with pytest.raises(ValueError, match="missing fields"):
        Summary.from_dict({"n": 3, "mean": 1.0})


def test_paired_speedup_is_per_pair_ratio() -> None:
    result = paired_speedup([8.4, 8.6, 8.5, 8.5], [6.6, 6.5, 6.7, 6.6])

    assert result.ratios == pytest.approx((8.4 / 6.6, 8.6 / 6.5, 8.5 / 6.7, 8.5 / 6.6))
    assert result.mean == pytest.approx(sum(result.ratios) / 4)
    assert result.verdict == VERDICT_FASTER
    assert not result.too_wide
    assert (result.ci_low, result.ci_high) == (result.summary.ci_low, result.summary.ci_high)
    assert result.method == "t"


def test_paired_speedup_slower() -> None:
    result = paired_speedup([4.0, 4.1, 3.9], [5.0, 5.1, 4.9])

    assert result.verdict == VERDICT_SLOWER


def test_identical_engines_show_no_clear_difference() -> None:
    result = paired_speedup([5.0, 5.2, 4.8, 5.1], [5.1, 5.0, 4.9, 5.2])

    assert result.verdict == VERDICT_UNCLEAR
    assert result.ci_low <= 1.0 <= result.ci_high


def test_identical_inputs_give_exactly_one() -> None:
    result = paired_speedup([5.0, 6.0], [5.0, 6.0])

    assert result.ratios == (1.0, 1.0)
    assert (result.ci_low, result.ci_high) == (1.0, 1.0)
    assert result.verdict == VERDICT_UNCLEAR


def test_noisy_pairs_are_flagged_too_wide() -> None:
    result = paired_speedup([10.0, 5.0, 12.0], [5.0, 5.0, 4.0])

    # Ratios 2, 1, 3: mean 2, std 1, t(df=2) = 4.303, half-width 2.48, 124% of the mean.
    assert result.ci_high - result.mean == pytest.approx(4.303 / math.sqrt(3), abs=1e-3)
    assert result.too_wide


def test_one_pair_has_no_verdict() -> None:
    result = paired_speedup([10.0], [5.0])

    assert result.ratios == (2.0,)
    assert result.verdict == VERDICT_TOO_FEW
    assert result.too_wide
    assert result.to_dict()["ci_low"] is None


def test_bootstrap_interval_is_seeded_and_within_the_observed_range() -> None:
    sync, async_ = [8.4, 8.6, 8.5, 8.5, 8.9], [6.6, 6.5, 6.7, 6.6, 6.4]

    first = paired_speedup(sync, async_, method="bootstrap", seed=3)
    again = paired_speedup(sync, async_, method="bootstrap", seed=3)
    other = paired_speedup(sync, async_, method="bootstrap", seed=4)

    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)
    assert min(first.ratios) <= first.ci_low < first.mean < first.ci_high <= max(first.ratios)
    assert first.verdict == VERDICT_FASTER
    assert first.method == "bootstrap"
    assert first.summary.ci_low != first.ci_low  # the summary keeps the t-interval


def test_paired_speedup_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="same count"):
        paired_speedup([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match=r"async_\[1\] = 0.0"):
        paired_speedup([1.0, 2.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="method = 'z'"):
        paired_speedup([1.0, 2.0], [1.0, 2.0], method="z")


def test_speedup_to_dict_is_json() -> None:
    result = paired_speedup([8.0, 9.0], [6.0, 6.5])

    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))

    assert data["verdict"] == result.verdict
    assert data["summary"]["n"] == 2
    assert data["ratios"] == list(result.ratios)


def test_regression_beyond_tolerance_and_intervals() -> None:
    baseline = summarize([10.0, 10.2, 9.8, 10.0])
    candidate = summarize([12.0, 12.2, 11.8, 12.0])

    change = regression_check(baseline, candidate, tolerance=0.10)

    assert change.relative_change == pytest.approx(0.2)
    assert change.regressed and not change.improved
    assert change.basis == "interval"


def test_faster_candidate_is_no_regression() -> None:
    baseline = summarize([12.0, 12.2, 11.8, 12.0])
    candidate = summarize([10.0, 10.2, 9.8, 10.0])

    change = regression_check(baseline, candidate, tolerance=0.10)

    assert not change.regressed and change.improved
    assert change.relative_change == pytest.approx(-1 / 6)


def test_slower_mean_inside_the_noise_is_no_regression() -> None:
    baseline = summarize([10.0, 13.0, 8.0, 11.0])
    candidate = summarize([12.0, 15.0, 10.0, 13.0])

    change = regression_check(baseline, candidate, tolerance=0.10)

    # The means differ by 19%, beyond the tolerance, but the intervals overlap.
    assert change.relative_change > 0.10
    assert not change.regressed


def test_slower_within_tolerance_is_no_regression() -> None:
    baseline = summarize([10.0, 10.0, 10.0])
    candidate = summarize([10.5, 10.5, 10.5])

    assert not regression_check(baseline, candidate, tolerance=0.10).regressed
    assert regression_check(baseline, candidate, tolerance=0.01).regressed


def test_single_trials_compare_the_means() -> None:
    baseline = summarize([10.0])

    slower = regression_check(baseline, summarize([11.5]), tolerance=0.10)
    close = regression_check(baseline, summarize([10.5, 10.6]), tolerance=0.10)

    assert slower.basis == "mean" and slower.regressed
    assert close.basis == "mean" and not close.regressed
    assert json.dumps(slower.to_dict(), allow_nan=False)


def test_regression_check_rejects_what_cannot_be_compared() -> None:
    with pytest.raises(ValueError, match="candidate has no trials"):
        regression_check(summarize([1.0]), summarize([]), tolerance=0.1)
    with pytest.raises(ValueError, match="tolerance = -0.1"):
        regression_check(summarize([1.0]), summarize([1.0]), tolerance=-0.1)
