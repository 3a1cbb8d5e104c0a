"""What an alert says: the one-line message and the facts a notifier needs."""

from __future__ import annotations

import math

from policy_helpers import BTC, account

from monitor.alerts import AlertKind, Level, Transition
from monitor.model import MarginMode, PositionRisk, PositionSide, Side
from monitor.policy import PolicyConfig, PolicyInputs, PolicyState, RepeatSchedule, due_repeats, evaluate
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
        alert.message == "main BTC/USDT:USDT long cross: margin ratio 72.00 % >= danger 70 % and "
        "distance 4.72 % <= danger 8 % (danger, was warn); liq 58,123.40"
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
        alert.message == "main BTC/USDT:USDT long cross: distance 3.28 % <= critical 4 % (critical); "
        "margin ratio 10.00 %, liq 59,000.00"
    )


def test_equity_gone_and_no_liquidation_price() -> None:
    _, [alert] = evaluate(PolicyState(), PolicyInputs(risks=[account(cross_btc(math.inf, liq=None))]), 0, CFG)
    assert alert.level is Level.CRITICAL
    assert alert.message == (
        "main BTC/USDT:USDT long cross: margin ratio ∞ (no equity left) >= critical 85 % (critical); "
        "no liquidation price"
    )


def test_closed_message() -> None:
    state, _ = evaluate(PolicyState(), PolicyInputs(risks=[account(cross_btc(0.55, liq=30_000.0))]), 0, CFG)
    _, [alert] = evaluate(state, PolicyInputs(risks=[account(cross_btc(0.30, liq=30_000.0))]), 1, CFG)
    assert alert.kind is AlertKind.RISK and alert.transition is Transition.CLOSED
    assert alert.level is Level.OK and alert.previous_level is Level.WARN
    assert alert.message == (
        "main BTC/USDT:USDT long cross: margin ratio 30.00 % < warn 50 % and distance 50.82 % > warn 15 % "
        "(ok, was warn); liq 30,000.00"
    )


def test_number_formats() -> None:
    assert fmt_price(58_123.42) == "58,123.42"
    assert fmt_price(3_012.551) == "3,012.55"
    assert fmt_price(1.23456) == "1.2346"
    assert fmt_price(0.0123456789) == "0.012346"
    assert fmt_price(None) == "n/a"
    assert fmt_duration(15_400) == "15 s"
    assert fmt_duration(600_000) == "10 min"
    assert fmt_duration(3 * 3_600_000 + 5 * 60_000) == "3 h 5 min"


def test_a_level_held_in_its_band_says_so() -> None:
    """0.86 enters critical (>= 0.85); 0.82 is below the threshold but within its band (0.80): the
    message must not claim 0.82 >= 0.85, it names the release point that holds the level."""
    cfg = PolicyConfig(repeat=RepeatSchedule(critical_ms=1000))
    state, _ = evaluate(PolicyState(), PolicyInputs(risks=[account(cross_btc(0.86, liq=30_000.0))]), 0, cfg)
    state, alerts = evaluate(state, PolicyInputs(risks=[account(cross_btc(0.821, liq=30_000.0))]), 500, cfg)
    assert alerts == []
    _, [alert] = due_repeats(state, 1000, cfg)
    assert alert.transition is Transition.REPEATED and alert.level is Level.CRITICAL
    assert alert.message.startswith(
        "main BTC/USDT:USDT long cross: margin ratio 82.10 % >= 80 % (critical 85 % less its band) "
        "(critical, still); liq 30,000.00"
    )


def test_a_position_past_its_liquidation_price_says_so() -> None:
    """Mark 58,000 under a long's liquidation price 59,246.23: the distance is negative and the
    message says past, never "away"."""
    past = cross_btc(math.inf, liq=59_246.23, mark=58_000.0)._replace(distance_pct=-2.1486)
    _, [alert] = evaluate(PolicyState(), PolicyInputs(risks=[account(past)]), 0, CFG)
    assert alert.level is Level.CRITICAL
    assert alert.message == (
        "main BTC/USDT:USDT long cross: past its liquidation price, distance -2.15 % "
        "(mark 58,000.00, liq 59,246.23) (critical); margin ratio ∞ (no equity left)"
    )
    assert "away" not in alert.message


def test_a_hedge_leg_names_its_symbols_net_direction() -> None:
    """The long leg of a net-short symbol: its liquidation price is above the mark, and it is not
    past it; the message says which way the symbol goes and that both legs close there."""
    leg = cross_btc(0.2, liq=0.72381, mark=0.46)._replace(
        position_side=PositionSide.LONG, distance_pct=(0.72381 - 0.46) / 0.46 * 100 - 55.0
    )
    _, [alert] = evaluate(PolicyState(), PolicyInputs(risks=[account(leg)]), 0, CFG)
    assert alert.message.endswith("symbol is net short: both legs close at 0.72381")
    # the short leg sits on its own side of the price: nothing to explain; nor for an isolated leg
    short = leg._replace(side=Side.SHORT, position_side=PositionSide.SHORT)
    isolated = leg._replace(margin_mode=MarginMode.ISOLATED)
    for other in (short, isolated):
        _, [alert] = evaluate(PolicyState(), PolicyInputs(risks=[account(other)]), 0, CFG)
        assert "net" not in alert.message


def test_a_cross_account_with_negative_equity_says_so() -> None:
    risk = account(cross_btc(math.inf), cross_ratio=math.inf, equity=-1_000.0)
    _, alerts = evaluate(PolicyState(), PolicyInputs(risks=[risk]), 0, CFG)
    [pool] = [a for a in alerts if a.symbol is None]
    assert pool.level is Level.CRITICAL
    assert pool.message.startswith("main cross account: equity is negative, past liquidation (critical); ")
    assert "equity -1,000.00" in pool.message
