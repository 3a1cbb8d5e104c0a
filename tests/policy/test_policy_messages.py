"""What an alert says: the one-line message and the facts a notifier needs."""

from __future__ import annotations

import math

from policy_helpers import BTC, account

from monitor.alerts import AlertKind, Level, Transition
from monitor.model import MarginMode, PositionRisk, PositionSide, Side
from monitor.policy import PolicyConfig, PolicyInputs, PolicyState, RepeatSchedule, evaluate
from monitor.policy.messages import fmt_duration, fmt_price

CFG = PolicyConfig(repeat=RepeatSchedule(warn_ms=0, danger_ms=0, critical_ms=0))


def cross_btc(ratio: float, liq: float | None = 58_123.4, mark: float = 61_000.0) -> PositionRisk:
    return PositionRisk(
        symbol=BTC,
        side=Side.LONG,
        position_side=PositionSide.BOTH,
        margin_mode=MarginMode.CROSS,
        notional=610.0,
        unrealized_pnl=-1.5,
        maint_margin=2.44,
        margin_ratio=ratio,
        liquidation_price=liq,
        distance_pct=None if liq is None else abs(mark - liq) / mark * 100,
        mark_price=mark,
    )


def test_escalation_message_and_facts() -> None:
    state, _ = evaluate(PolicyState(), PolicyInputs(risks=[account(cross_btc(0.55, liq=30_000.0))]), 0, CFG)
    _, alerts = evaluate(state, PolicyInputs(risks=[account(cross_btc(0.72))]), 1000, CFG)
    [alert] = alerts
    assert (
        alert.message
        == "main BTC/USDT:USDT long cross: margin ratio 0.72 (danger, was warn), liq 58,123.4 (4.7 % away)"
    )
    assert alert.transition is Transition.ESCALATED
    assert (alert.venue, alert.account, alert.symbol) == ("binanceusdm", "main", BTC)
    assert (alert.position_side, alert.margin_mode) == ("both", "cross")
    f = alert.facts
    assert f["margin_ratio"] == 0.72
    assert f["mark_price"] == 61_000.0 and f["liquidation_price"] == 58_123.4
    assert math.isclose(float(f["distance_pct"] or 0), 4.716, rel_tol=1e-3)
    assert f["ratio_level"] == "danger" and f["ratio_threshold"] == 0.70
    assert f["distance_level"] == "danger" and f["distance_threshold_pct"] == 8.0
    assert f["trigger"] == "margin_ratio+distance"
    assert f["notional"] == 610.0 and "contracts" in f


def test_distance_led_message_puts_the_level_on_the_distance() -> None:
    _, [alert] = evaluate(PolicyState(), PolicyInputs(risks=[account(cross_btc(0.10, liq=59_000.0))]), 0, CFG)
    assert (
        alert.message
        == "main BTC/USDT:USDT long cross: margin ratio 0.10, liq 59,000.0 (3.3 % away) (critical)"
    )


def test_equity_gone_and_no_liquidation_price() -> None:
    _, [alert] = evaluate(PolicyState(), PolicyInputs(risks=[account(cross_btc(math.inf, liq=None))]), 0, CFG)
    assert alert.level is Level.CRITICAL
    assert alert.message == (
        "main BTC/USDT:USDT long cross: margin ratio inf (equity <= 0) (critical), no liquidation price"
    )


def test_closed_message() -> None:
    state, _ = evaluate(PolicyState(), PolicyInputs(risks=[account(cross_btc(0.55, liq=30_000.0))]), 0, CFG)
    _, [alert] = evaluate(state, PolicyInputs(risks=[account(cross_btc(0.30, liq=30_000.0))]), 1, CFG)
    assert alert.kind is AlertKind.RISK and alert.transition is Transition.CLOSED
    assert alert.level is Level.OK and alert.previous_level is Level.WARN
    assert alert.message.startswith("main BTC/USDT:USDT long cross: margin ratio 0.30 (ok, was warn)")


def test_number_formats() -> None:
    assert fmt_price(58_123.42) == "58,123.4"
    assert fmt_price(3_012.551) == "3,012.55"
    assert fmt_price(1.23456) == "1.23456"
    assert fmt_price(0.0123456789) == "0.0123457"
    assert fmt_price(None) == "n/a"
    assert fmt_duration(15_400) == "15 s"
    assert fmt_duration(600_000) == "10 min"
    assert fmt_duration(3 * 3_600_000 + 5 * 60_000) == "3 h 5 min"
