"""Levels from numbers: thresholds, hysteresis bands, the worse-of-two rule, deviation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.alerts import Level
from monitor.policy import DeviationConfig, LevelThresholds
from monitor.policy.levels import deviation_level, distance_level, ratio_level, risk_level

T = LevelThresholds()  # warn 0.50 / danger 0.70 / critical 0.85, band 0.05; distance 15 / 8 / 4, band 10 %
OK, WARN, DANGER, CRIT = Level.OK, Level.WARN, Level.DANGER, Level.CRITICAL


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [(0.0, OK), (0.4999, OK), (0.50, WARN), (0.6999, WARN), (0.70, DANGER), (0.8499, DANGER), (0.85, CRIT)],
)
def test_ratio_enters_a_level_at_its_threshold(ratio: float, expected: Level) -> None:
    assert ratio_level(ratio, OK, T) == expected


@pytest.mark.parametrize(
    ("ratio", "current", "expected"),
    [
        (0.46, WARN, WARN),  # inside warn's band: held
        (0.45, WARN, WARN),  # exactly at the release point: still held
        (0.4499, WARN, OK),  # below warn - band: closes
        (0.66, DANGER, DANGER),
        (0.6499, DANGER, WARN),
        (0.81, CRIT, CRIT),
        (0.79, CRIT, DANGER),  # out of critical's band, inside danger
        (0.66, CRIT, DANGER),  # out of danger's threshold but inside its band
        (0.60, CRIT, WARN),
        (0.44, CRIT, OK),  # straight to ok from critical
    ],
)
def test_ratio_hysteresis_holds_within_the_band(ratio: float, current: Level, expected: Level) -> None:
    assert ratio_level(ratio, current, T) == expected


def test_ratio_band_does_not_enter_a_level() -> None:
    assert ratio_level(0.47, OK, T) == OK
    assert ratio_level(0.67, WARN, T) == WARN


def test_infinite_ratio_is_critical_and_nan_holds() -> None:
    assert ratio_level(math.inf, OK, T) == CRIT
    assert ratio_level(math.nan, DANGER, T) == DANGER
    assert ratio_level(math.nan, OK, T) == OK
    assert ratio_level(None, DANGER, T) == OK


@pytest.mark.parametrize(
    ("distance", "current", "expected"),
    [
        (20.0, OK, OK),
        (15.0, OK, WARN),
        (8.0, OK, DANGER),
        (4.0, OK, CRIT),
        (0.0, OK, CRIT),
        (16.4, WARN, WARN),  # 15 * 1.1 = 16.5 releases warn
        (16.6, WARN, OK),
        (8.7, DANGER, DANGER),  # 8 * 1.1 = 8.8
        (8.9, DANGER, WARN),
        (4.3, CRIT, CRIT),  # 4 * 1.1 = 4.4
        (4.5, CRIT, DANGER),
        (None, CRIT, OK),  # no liquidation price: nothing to fear from distance
    ],
)
def test_distance_levels_and_relative_band(distance: float | None, current: Level, expected: Level) -> None:
    assert distance_level(distance, current, T) == expected


def test_worse_of_ratio_and_distance_wins() -> None:
    assert risk_level(0.55, 5.0, OK, T) == DANGER  # distance worse
    assert risk_level(0.86, 50.0, OK, T) == CRIT  # ratio worse
    # a level held by one metric's band survives the other metric being calm
    assert risk_level(0.10, 8.5, DANGER, T) == DANGER
    assert risk_level(0.10, 9.0, DANGER, T) == WARN


def test_deviation_opens_beyond_tolerance_and_closes_below_the_band() -> None:
    cfg = DeviationConfig(tolerance_pct=0.5, band_pct=0.1)
    assert deviation_level(0.5, OK, cfg) == OK
    assert deviation_level(0.51, OK, cfg) == WARN
    assert deviation_level(-0.6, OK, cfg) == WARN  # sign does not matter
    assert deviation_level(0.45, WARN, cfg) == WARN
    assert deviation_level(0.39, WARN, cfg) == OK
    assert deviation_level(None, WARN, cfg) == WARN  # no exchange figure: no evidence


levels = st.sampled_from([OK, WARN, DANGER, CRIT])
ratios = st.floats(min_value=0, max_value=2, allow_nan=False)


@given(ratio=ratios, current=levels)
def test_ratio_level_is_between_raw_level_and_raw_level_plus_band(ratio: float, current: Level) -> None:
    level = ratio_level(ratio, current, T)
    assert ratio_level(ratio, OK, T) <= level <= ratio_level(ratio + T.ratio_band, OK, T)
    # hysteresis never raises a level above where it already was, unless the value itself is there
    assert level <= max(current, ratio_level(ratio, OK, T))


@given(distance=st.floats(min_value=0, max_value=100, allow_nan=False), current=levels)
def test_distance_level_is_between_raw_level_and_raw_level_within_band(
    distance: float, current: Level
) -> None:
    level = distance_level(distance, current, T)
    assert distance_level(distance, OK, T) <= level
    # (a hair under the exact release point, so float rounding of the product cannot decide the test)
    assert level <= distance_level(distance / (1 + T.distance_band) * (1 - 1e-12), OK, T)
    assert level <= max(current, distance_level(distance, OK, T))
