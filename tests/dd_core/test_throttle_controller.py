"""The pure AIMD controller, driven by hand-picked times (no clock, no asyncio)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dd_core.config import ThrottleSettings
from dd_core.errors import ConfigError
from dd_core.throttle import AIMDController

DEFAULTS = ThrottleSettings()


def succeed(controller: AIMDController, count: int, now: float = 100.0) -> None:
    for _ in range(count):
        controller.on_success(now)


def test_starts_at_max_without_ramp() -> None:
    controller = AIMDController(16, DEFAULTS, now=0.0)
    assert controller.limit(0.0) == 16
    assert controller.ceiling is None
    assert not controller.in_cooldown(0.0)


def test_rejects_a_zero_max() -> None:
    with pytest.raises(ConfigError, match="max_limit"):
        AIMDController(0, DEFAULTS, now=0.0)


def test_429_cuts_by_reduce_factor_and_cools_down_by_default() -> None:
    controller = AIMDController(16, DEFAULTS, now=0.0)

    change = controller.on_rate_limit(10.0, retry_after=None)

    assert change is not None
    assert (change.old, change.new, change.reason) == (16, 12, "cut")
    assert controller.limit(10.0) == 12
    assert controller.cooldown_until == pytest.approx(12.0)
    assert controller.in_cooldown(11.9)
    assert not controller.in_cooldown(12.0)
    assert controller.ceiling == 16


def test_retry_after_sets_the_cooldown() -> None:
    controller = AIMDController(16, DEFAULTS, now=0.0)
    controller.on_rate_limit(10.0, retry_after=5.5)
    assert controller.cooldown_until == pytest.approx(15.5)

    zero = AIMDController(16, DEFAULTS, now=0.0)
    zero.on_rate_limit(10.0, retry_after=0.0)
    assert not zero.in_cooldown(10.0)


def test_cut_floors_and_never_goes_below_one() -> None:
    controller = AIMDController(5, DEFAULTS, now=0.0)
    limits = []
    for step in range(5):
        controller.on_rate_limit(float(step * 10), None)
        controller.on_success(float(step * 10 + 1))
        limits.append(controller.limit(float(step * 10 + 1)))
    assert limits == [3, 2, 1, 1, 1]


def test_only_the_first_429_of_a_burst_cuts() -> None:
    controller = AIMDController(16, DEFAULTS, now=0.0)

    assert controller.on_rate_limit(1.0, None) is not None
    for _ in range(10):
        assert controller.on_rate_limit(1.1, retry_after=30.0) is None
    assert controller.limit(2.0) == 12
    assert controller.cuts == 1
    assert controller.cooldown_until == pytest.approx(3.0)

    controller.on_success(4.0)
    assert controller.on_rate_limit(5.0, None) is not None
    assert controller.limit(5.0) == 9
    assert controller.cuts == 2


def test_recovers_one_step_per_success_window() -> None:
    controller = AIMDController(16, DEFAULTS, now=0.0)
    controller.on_rate_limit(0.0, None)
    assert controller.limit(10.0) == 12

    succeed(controller, 24)
    assert controller.limit(10.0) == 12
    change = controller.on_success(10.0)
    assert change is not None and (change.old, change.new, change.reason) == (12, 13, "increase")

    succeed(controller, 25)
    assert controller.limit(10.0) == 14
    assert controller.increases == 2


def test_a_429_restarts_the_success_count() -> None:
    controller = AIMDController(16, DEFAULTS, now=0.0)
    controller.on_rate_limit(0.0, None)
    succeed(controller, 20)

    controller.on_rate_limit(50.0, None)
    limit_after_cut = controller.limit(60.0)
    succeed(controller, 24)
    assert controller.limit(60.0) == limit_after_cut


def test_ceiling_caps_increases_at_overshoot() -> None:
    controller = AIMDController(100, DEFAULTS, now=0.0)
    succeed(controller, 1)
    controller.on_rate_limit(0.0, None)
    # The first cut makes the pre-cut limit (100) the ceiling; limit 75.
    assert controller.ceiling == 100
    controller.on_success(1.0)
    controller.on_rate_limit(2.0, None)
    # Pre-cut 75 <= 100: ceiling lowered to 75, limit 56; cap floor(75 * 1.1) = 82.
    assert controller.ceiling == 75
    assert controller.limit(2.0) == 56
    assert controller.increase_cap() == 82

    succeed(controller, 25 * 40)
    assert controller.limit(100.0) == 82


def test_ceiling_is_not_raised_by_a_cut_above_it() -> None:
    controller = AIMDController(100, DEFAULTS, now=0.0)
    controller.on_rate_limit(0.0, None)  # ceiling 100, limit 75
    controller.on_success(1.0)
    controller.on_rate_limit(2.0, None)  # ceiling 75, limit 56
    succeed(controller, 25 * 40)  # climbs to the cap 82, above the ceiling
    assert controller.limit(3.0) == 82

    controller.on_rate_limit(4.0, None)
    assert controller.ceiling == 75
    assert controller.limit(4.0) == 61


def test_overshoot_floor_is_exact_for_round_products() -> None:
    # 10 * 1.1 is 11.000000000000002 in floats, 20 * 1.1 too high as well: both must floor
    # to the exact product, and 30 * 1.1 (33.0000...04) to 33.
    for ceiling, cap in [(10, 11), (20, 22), (30, 33), (5, 5), (9, 9)]:
        controller = AIMDController(1000, DEFAULTS, now=0.0)
        controller.ceiling = ceiling
        assert controller.increase_cap() == cap


def test_increases_never_pass_max_limit() -> None:
    controller = AIMDController(4, DEFAULTS, now=0.0)
    succeed(controller, 500)
    assert controller.limit(0.0) == 4
    assert controller.increases == 0


def test_ramp_climbs_linearly_from_one_to_max() -> None:
    settings = ThrottleSettings(rampup_seconds=10.0)
    controller = AIMDController(11, settings, now=100.0)

    assert controller.limit(100.0) == 1
    assert controller.limit(105.0) == 6
    assert controller.limit(109.99) == 10
    assert controller.limit(110.0) == 11
    assert controller.limit(500.0) == 11
    assert controller.wake_time(105.0) == pytest.approx(106.0)


def test_successes_do_not_raise_a_ramping_limit() -> None:
    settings = ThrottleSettings(rampup_seconds=10.0, success_window=1)
    controller = AIMDController(11, settings, now=0.0)
    for _ in range(5):
        assert controller.on_success(2.0) is None
    assert controller.limit(2.0) == 3


def test_first_429_abandons_the_ramp_and_cuts_its_value() -> None:
    settings = ThrottleSettings(rampup_seconds=10.0)
    controller = AIMDController(11, settings, now=0.0)

    change = controller.on_rate_limit(8.0, None)  # ramp value 9

    assert change is not None and (change.old, change.new) == (9, 6)
    assert controller.ceiling == 9
    assert controller.limit(50.0) == 6
    assert not controller.ramping(9.0)


def test_wake_time_is_cooldown_end_then_none() -> None:
    controller = AIMDController(8, DEFAULTS, now=0.0)
    assert controller.wake_time(0.0) is None
    controller.on_rate_limit(1.0, retry_after=3.0)
    assert controller.wake_time(2.0) == pytest.approx(4.0)
    assert controller.wake_time(4.0) is None


@settings(max_examples=200, deadline=None)
@given(
    max_limit=st.integers(1, 64),
    events=st.lists(st.sampled_from(["ok", "429", "429-ra", "tick"]), max_size=400),
    rampup=st.sampled_from([0.0, 5.0]),
)
def test_limit_stays_between_one_and_the_increase_cap(
    max_limit: int, events: list[str], rampup: float
) -> None:
    controller = AIMDController(max_limit, ThrottleSettings(rampup_seconds=rampup), now=0.0)
    now = 0.0
    for event in events:
        now += 0.1
        if event == "ok":
            controller.on_success(now)
        elif event == "429":
            controller.on_rate_limit(now, None)
        elif event == "429-ra":
            controller.on_rate_limit(now, 0.5)
        limit = controller.limit(now)
        assert 1 <= limit <= max_limit
        assert limit <= controller.increase_cap()
        if controller.ceiling is not None:
            assert 1 <= controller.ceiling <= max_limit
