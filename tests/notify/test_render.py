"""Message text: what an alert says, how long messages split, status and command texts."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alerts import Alert, AlertKind, Level, Transition
from monitor.margin.account import evaluate_account
from monitor.model import Account, MarginMode, Position, Side, Tier, Venue
from monitor.notify.ports import (
    ActionKind,
    ActionRequest,
    ActionResult,
    ActionStatus,
    FeedStatus,
    Preview,
    StatusSummary,
)
from monitor.notify.render import (
    RESENT_PREFIX,
    fmt_num,
    fmt_pct,
    fmt_ratio,
    render_action_result,
    render_alert,
    render_batch,
    render_line,
    render_preview,
    render_status,
    split_text,
    utf16_len,
)
from monitor.policy import PolicyConfig, PolicyInputs, PolicyState, evaluate

from .conftest import make_alert


def test_position_alert_carries_every_number_a_trader_needs() -> None:
    alert = make_alert(
        level=Level.CRITICAL,
        transition=Transition.ESCALATED,
        previous_level=Level.DANGER,
        margin_mode="isolated",
        facts={
            "side": "short",
            "contracts": 12.5,
            "mark_price": 2450.5,
            "liquidation_price": 2520.0,
            "distance_pct": 2.84,
            "margin_ratio": 0.915,
        },
    )
    text = render_alert(alert)
    for expected in (
        "CRITICAL",
        "escalated from danger",
        "main",
        "binanceusdm",
        "BTC/USDT:USDT short",
        "(isolated)",
        "size 12.5",
        "mark 2,450.50",
        "liq 2,520.00 (2.84 % away)",
        "margin ratio 91.50 %",
    ):
        assert expected in text, expected


def test_cross_account_alert_names_the_positions_carrying_the_requirement() -> None:
    alert = make_alert(
        key="risk:main:cross",
        symbol=None,
        level=Level.DANGER,
        facts={
            "margin_ratio": 0.78,
            "equity": 1200.0,
            "maint_margin": 936.0,
            "top1_symbol": "ETH/USDT:USDT",
            "top1_share": 0.62,
            "top2_symbol": "BTC/USDT:USDT short",
            "top2_share": 0.3,
        },
    )
    text = render_alert(alert)
    assert "cross account" in text
    assert "margin ratio 78.00 %" in text and "equity 1,200.00" in text
    assert "carried by: ETH/USDT:USDT 62 %, BTC/USDT:USDT [short] 30 %" in text


def test_missing_or_odd_facts_are_left_out_not_fatal() -> None:
    alert = make_alert(facts={"margin_ratio": "not a number", "liquidation_price": None, "contracts": True})
    text = render_alert(alert)
    assert "no liquidation price" in text
    assert "margin ratio" not in text and "size" not in text
    bare = render_alert(make_alert(symbol=None, margin_mode=None, facts={}))
    assert "WARN" in bare


def test_closing_alert_says_what_it_was() -> None:
    text = render_alert(
        make_alert(level=Level.OK, transition=Transition.CLOSED, previous_level=Level.CRITICAL)
    )
    assert text.startswith("✅ OK · resolved (was critical)")


def test_stale_alert_shows_the_age_and_the_limit() -> None:
    alert = make_alert(
        key="stale:binanceusdm:marks",
        kind=AlertKind.STALE,
        symbol=None,
        margin_mode=None,
        level=Level.DANGER,
        facts={"age_ms": 95_000, "threshold_ms": 30_000},
    )
    assert "last data 95 s ago (limit 30 s)" in render_alert(alert)


def test_a_batch_is_one_message_most_severe_first() -> None:
    warn = make_alert("risk:a", Level.WARN)
    crit = make_alert("risk:b", Level.CRITICAL)
    [text] = render_batch([warn, crit])
    assert text.startswith("2 alerts, highest CRITICAL")
    assert text.index("risk:b") < text.index("risk:a")


def test_a_long_batch_splits_under_the_limit_with_room_for_the_resend_line() -> None:
    alerts = [make_alert(f"risk:k{i}", message=f"risk:k{i} " + "x" * 300) for i in range(40)]
    limit = 4096 - utf16_len(RESENT_PREFIX)
    parts = render_batch(alerts, limit=limit)
    assert len(parts) > 1
    assert all(utf16_len(p) <= limit for p in parts)
    joined = "\n\n".join(parts)
    assert all(f"risk:k{i} " in joined for i in range(40))


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(["a", "b", " ", "\n", "😀", "é"]), min_size=0, max_size=600),
    limit=st.integers(min_value=2, max_value=80),
)
def test_split_text_parts_fit_and_lose_nothing(text: str, limit: int) -> None:
    parts = split_text(text, limit=limit)
    assert all(utf16_len(p) <= limit for p in parts)
    assert all(parts) or parts == [""]
    # Only separators may vanish at the cut points.
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def test_emoji_count_double_toward_the_limit() -> None:
    assert utf16_len("😀") == 2
    parts = split_text("😀" * 5, limit=4)
    assert parts == ["😀😀", "😀😀", "😀"]


def test_number_formatting() -> None:
    assert fmt_num(61000.5) == "61,000.50"
    assert fmt_num(2.5) == "2.5"
    assert fmt_num(0.000012345) == "0.000012345"
    assert fmt_num(None) == "n/a"
    assert fmt_ratio(math.inf) == "∞ (no equity left)"
    assert fmt_ratio(0.5) == "50.00 %"


def test_status_says_all_fresh_or_shouts_stale() -> None:
    now = 1_760_000_000_000
    fresh = StatusSummary(accounts=3, positions=5, feeds=(FeedStatus("binanceusdm:marks", 0.5, False),))
    text = render_status(fresh, now)
    assert "updated 08:53:20 UTC, 3 accounts, 5 positions, all feeds fresh" in text
    assert "STALE" not in text
    stale = StatusSummary(
        accounts=1,
        positions=1,
        feeds=(FeedStatus("binanceusdm:marks", 95, True), FeedStatus("binanceusdm:main:user", None, True)),
    )
    text = render_status(stale, now)
    first = text.splitlines()[0]
    assert first.startswith("🚨 STALE DATA")
    assert "binanceusdm:marks (95 s old)" in first and "binanceusdm:main:user (never received)" in first


def test_preview_shows_before_and_after() -> None:
    req = ActionRequest("main", "BTC/USDT:USDT", "both", ActionKind.REDUCE, 0.25)
    text = render_preview(
        req,
        Preview(
            True,
            size=0.5,
            amount=0.125,
            margin_ratio_before=0.83,
            margin_ratio_after=0.62,
            liquidation_price_before=58000,
            liquidation_price_after=52000,
        ),
    )
    assert "Reduce 25 %" in text and "margin ratio 83.00 % → 62.00 %" in text
    assert "liquidation 58,000.00 → 52,000.00" in text and "DRY-RUN" in text
    assert "Not possible: halted" in render_preview(req, Preview(False, message="halted"))


@pytest.mark.parametrize("status", list(ActionStatus))
def test_action_result_names_its_status(status: ActionStatus) -> None:
    assert status.value.replace("_", "-") in render_action_result(ActionResult(status, "x"))


def test_console_line_is_one_line() -> None:
    line = render_line(make_alert(level=Level.DANGER, message="ratio up"))
    assert "\n" not in line
    assert "DANGER" in line and line.endswith("ratio up")


def test_console_line_without_message_shows_the_numbers() -> None:
    line = render_line(dataclasses.replace(make_alert(level=Level.DANGER), message=""))
    assert "DANGER" in line and "ratio 83.00 %" in line


def _policy_alerts(wallet: float, mark: float) -> list[Alert]:
    """The alerts the real policy sends about a real evaluation: one BTC long from 60,000 in a
    cross pool of ``wallet``, judged as the demo judges it (a cross position by its distance)."""
    tiers = (Tier(0, 50_000, 0.004, 0), Tier(50_000, 250_000, 0.005, 50))
    p = Position("BTC/USDT:USDT", Side.LONG, MarginMode.CROSS, 1.0, 60_000.0, mark, tiers)
    risk = evaluate_account(Account(Venue.BINANCE_USDM, wallet, (p,), "main"))
    config = PolicyConfig(cross_positions_use_account_ratio=False)
    _, alerts = evaluate(PolicyState(), PolicyInputs(risks=[risk]), 1_000, config)
    return [a for a in alerts if a.kind is AlertKind.RISK]


def test_a_position_past_liquidation_is_never_away_in_any_channel() -> None:
    """Equity -1,000: the bubble and the console line say past, the distance is negative in both,
    and nothing reads "N % away"."""
    [position] = [a for a in _policy_alerts(1_000.0, 58_000.0) if a.symbol is not None]
    bubble, line = render_alert(position), render_line(position)
    for text in (bubble, line):
        assert "past its liquidation price" in text and "-2.15 %" in text
        assert "away" not in text
    assert "liq 59,246.23 (past it by -2.15 %)" in bubble


def test_every_channel_writes_a_figure_in_one_rounding() -> None:
    """A warn by distance (wallet 5,000, mark 57,000): the figures the bubble lists are written as
    the policy's message writes them, so the same number never appears in two roundings."""
    alerts = _policy_alerts(5_000.0, 57_000.0)
    for alert in alerts:
        bubble = render_alert(alert)
        facts_lines = bubble.split("\n")[2:-2]  # between the subject and the message
        ratio = fmt_ratio(float(alert.facts["margin_ratio"]))
        assert f"margin ratio {ratio}" in bubble and f"margin ratio {ratio}" in alert.message
        if alert.symbol is not None:
            distance = fmt_pct(float(alert.facts["distance_pct"]))
            assert any(distance in line for line in facts_lines) and distance in alert.message
            liq = fmt_num(float(alert.facts["liquidation_price"]))
            assert f"liq {liq}" in bubble and f"liq {liq}" in alert.message


def test_a_stale_stream_gives_its_limit_and_age_once_each() -> None:
    """The demo at x4 judges the mark stream by 3.75 s: the bubble said "last data 4 s ago (limit 4 s)"
    above the policy's "for 4 s >= its limit 3 s". Each duration is written one way."""
    from monitor.policy import Freshness, check_staleness
    from monitor.policy.settings import StalenessConfig

    config = PolicyConfig(staleness=StalenessConfig(marks_ms=3_750))
    now = 4_600
    state, alerts = check_staleness(PolicyState(), Freshness(streams={"binanceusdm:marks": 0}), now, config)
    [alert] = alerts
    bubble = render_alert(alert)
    assert "its limit 3 s" in alert.message and "for 4 s" in alert.message, alert.message
    assert "(limit 3 s)" in bubble and "last data 4 s ago" in bubble, bubble
    _, [recovered] = check_staleness(
        state,
        Freshness(streams={"binanceusdm:marks": 6_700}),
        6_700,
        config,
    )
    bubble = render_alert(recovered)
    assert "after 6 s without data" in recovered.message, recovered.message
    assert "silent for 6 s" in bubble, bubble


def test_a_position_closed_by_liquidation_is_not_a_green_resolved() -> None:
    """The risk episode of a position the exchange liquidated ends with a CLOSED alert (level OK).
    The bubble said "✅ OK · resolved (was critical)" over the last numbers, past the liquidation
    price: it says the position closed, and no stale figures."""
    [position] = [a for a in _policy_alerts(1_000.0, 58_000.0) if a.symbol is not None]
    closed = dataclasses.replace(
        position,
        level=Level.OK,
        transition=Transition.CLOSED,
        previous_level=Level.CRITICAL,
        message="main BTC/USDT:USDT long cross: position closed, risk episode ends (was critical)",
        facts={**position.facts, "reason": "position_closed"},
    )
    bubble = render_alert(closed)
    headline = bubble.split("\n")[0]
    assert "position closed" in headline and "(was critical)" in headline, bubble
    assert "resolved" not in bubble and "✅" not in bubble and "OK" not in headline, bubble
    assert "past it" not in bubble and "margin ratio" not in bubble, bubble
    assert "position closed, risk episode ends" in bubble
    line = render_line(closed)
    assert line.split()[2] == "ENDED" and "position closed" in line, line
