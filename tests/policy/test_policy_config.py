"""Configuration: per-account and per-symbol overrides, and refusing bad settings by name."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from policy_helpers import BTC, ETH, account, position

from monitor.alerts import Level
from monitor.policy import (
    DeviationConfig,
    LevelThresholds,
    PolicyConfig,
    PolicyInputs,
    PolicyState,
    StalenessConfig,
    ThresholdOverride,
    evaluate,
)

CFG = PolicyConfig(
    accounts={"main": ThresholdOverride(ratio_warn=0.30, confirm_ticks=2)},
    symbols={ETH: ThresholdOverride(ratio_warn=0.60, distance_warn_pct=10.0)},
)


def test_overrides_merge_symbol_over_account_over_defaults() -> None:
    assert CFG.thresholds_for("other", BTC) == LevelThresholds()
    assert CFG.thresholds_for("main", BTC).ratio_warn == 0.30
    assert CFG.thresholds_for("main", None).ratio_warn == 0.30  # the cross account subject
    main_eth = CFG.thresholds_for("main", ETH)
    assert main_eth.ratio_warn == 0.60  # symbol wins
    assert main_eth.confirm_ticks == 2  # account still applies where the symbol is silent
    assert main_eth.ratio_danger == 0.70  # defaults where both are silent
    assert CFG.thresholds_for("other", ETH).distance_warn_pct == 10.0


def test_overrides_decide_levels() -> None:
    risk = account(position(BTC, ratio=0.35, distance=None), position(ETH, ratio=0.55, distance=None))
    state, first = evaluate(PolicyState(), PolicyInputs(risks=[risk]), 0, CFG)
    assert first == []  # main asks for two ticks
    _, second = evaluate(state, PolicyInputs(risks=[risk]), 1, CFG)
    assert [(a.symbol, a.level) for a in second] == [(BTC, Level.WARN)]  # ETH's 0.55 is under its 0.60


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: PolicyConfig(levels=LevelThresholds(ratio_warn=0.8)), "levels: need 0 < ratio_warn"),
        (lambda: PolicyConfig(levels=LevelThresholds(ratio_band=0.6)), "levels: ratio_band"),
        (
            lambda: PolicyConfig(levels=LevelThresholds(distance_critical_pct=20)),
            "levels: need distance_warn",
        ),
        (lambda: PolicyConfig(levels=LevelThresholds(confirm_ticks=0)), "confirm_ticks"),
        (
            lambda: PolicyConfig(accounts={"main": ThresholdOverride(ratio_danger=0.9)}),
            "accounts.main: need 0 < ratio_warn",
        ),
        (
            lambda: PolicyConfig(
                accounts={"main": ThresholdOverride(ratio_danger=0.55)},
                symbols={ETH: ThresholdOverride(ratio_warn=0.6)},
            ),
            f"accounts.main with symbols.{ETH}",
        ),
        (lambda: PolicyConfig(staleness=StalenessConfig(user_ms=0)), "staleness"),
        (lambda: PolicyConfig(deviation=DeviationConfig(band_pct=0.5)), "deviation"),
        (lambda: PolicyConfig(staleness=StalenessConfig(level=Level.OK)), "staleness.level"),
    ],
)
def test_bad_settings_are_refused_by_name(make: Callable[[], PolicyConfig], needle: str) -> None:
    with pytest.raises(ValueError) as err:
        make()
    assert needle in str(err.value)


def test_stream_thresholds_by_name_then_by_kind() -> None:
    s = StalenessConfig(streams={"bybit:marks": 30_000})
    assert s.threshold_ms("binanceusdm:marks") == 15_000
    assert s.threshold_ms("binanceusdm:main:user") == 90_000
    assert s.threshold_ms("bybit:marks") == 30_000
    assert s.threshold_ms("binanceusdm:tiers") == 60_000
