"""The tested ccxt range and the warning built from it (pure; the daemon's use is in tests/ops)."""

from __future__ import annotations

import pytest

from monitor.alerts import AlertKind, Level
from monitor.daemon.versions import TESTED_CCXT, VersionRange, Versions, release, untested_ccxt_alert
from monitor.notify.render import render_alert

RANGE = VersionRange("4.5.0", "4.6")


def versions(ccxt: str | None) -> Versions:
    return Versions(monitor="0.1.0", ccxt=ccxt, python_telegram_bot="22.8", python="3.11.7")


@pytest.mark.parametrize("version", ["4.5.0", "4.5", "4.5.90", "4.5.999", "v4.5.1"])
def test_inside(version: str) -> None:
    assert version in RANGE


@pytest.mark.parametrize("version", ["4.4.99", "4.6", "4.6.0", "4.6.0rc1", "5.0.1", "", "unknown", None])
def test_outside(version: str | None) -> None:
    assert version not in RANGE


def test_release_drops_trailing_zeros_and_suffixes() -> None:
    assert release("4.6.0") == release("4.6") == (4, 6)
    assert release("4.5.90.post1") == (4, 5, 90)
    assert release("nightly") is None


def test_range_reads_as_pip_writes_it() -> None:
    assert str(RANGE) == ">=4.5.0,<4.6"


def test_no_alert_inside_the_tested_range() -> None:
    assert untested_ccxt_alert(versions("4.5.3"), 1, RANGE) is None


@pytest.mark.parametrize("ccxt", ["4.6.2", "4.4.0", None])
def test_an_untested_ccxt_is_one_loud_alert_naming_the_version_and_the_range(ccxt: str | None) -> None:
    alert = untested_ccxt_alert(versions(ccxt), 1_700_000_000_000, RANGE)
    assert alert is not None
    assert alert.kind is AlertKind.UNTESTED_VERSION and alert.level is Level.DANGER
    text = render_alert(alert)
    assert f"ccxt {ccxt} is outside" in text and ">=4.5.0,<4.6" in text
    assert "liquidation alert" in text


def test_the_default_range_is_the_tested_one() -> None:
    assert untested_ccxt_alert(versions(TESTED_CCXT.minimum), 1) is None
    assert untested_ccxt_alert(versions(TESTED_CCXT.below), 1) is not None
