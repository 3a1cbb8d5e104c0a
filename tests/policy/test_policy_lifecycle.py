"""Positions that appear, flip or go away, and what a restart or a first start announces."""

from __future__ import annotations

from dataclasses import replace

from policy_helpers import BTC, ETH, account, position

from monitor.alerts import Alert, AlertKind, Level, Transition
from monitor.events import OrderKind, OrderUpdate
from monitor.model import MarginMode, PositionRisk, PositionSide, Side
from monitor.policy import PolicyConfig, PolicyInputs, PolicyState, evaluate
from monitor.policy.exchange_alarms import FORCED_CLOSE_WINDOW_MS

CFG = PolicyConfig()


def step(
    state: PolicyState, *positions: PositionRisk, now: int = 0, cfg: PolicyConfig = CFG
) -> tuple[PolicyState, list[Alert]]:
    return evaluate(state, PolicyInputs(risks=[account(*positions)]), now, cfg)


def kinds(alerts: list[Alert]) -> list[tuple[str, str | None]]:
    return [(a.kind.value, a.symbol) for a in alerts]


def test_first_sight_of_an_account_is_a_baseline() -> None:
    state, alerts = step(PolicyState(), position(BTC))
    assert alerts == []
    assert state.positions["main"] == {
        (BTC, PositionSide.BOTH): state.positions["main"][(BTC, PositionSide.BOTH)]
    }


def test_first_sight_can_be_announced() -> None:
    _, alerts = step(PolicyState(), position(BTC), cfg=replace(CFG, announce_initial_positions=True))
    assert kinds(alerts) == [("position_opened", BTC)]


def test_open_flip_and_close() -> None:
    state, _ = step(PolicyState())  # the account, with nothing open
    state, opened = step(state, position(BTC), now=1)
    assert kinds(opened) == [("position_opened", BTC)]
    assert opened[0].level is Level.INFO and opened[0].transition is Transition.EVENT
    assert opened[0].key == f"position:main:{BTC}:both"
    assert opened[0].message.startswith("main BTC/USDT:USDT long isolated: position opened")

    state, flipped = step(state, position(BTC, side=Side.SHORT), now=2)
    assert kinds(flipped) == [("position_flipped", BTC)]
    assert flipped[0].level is Level.WARN
    assert flipped[0].facts["previous_side"] == "long" and flipped[0].facts["side"] == "short"

    state, same = step(state, position(BTC, side=Side.SHORT, mark=61_000), now=3)
    assert same == []

    state, closed = step(state, now=4)
    assert kinds(closed) == [("position_closed", BTC)]
    assert closed[0].level is Level.INFO
    assert state.positions["main"] == {}


def test_hedge_legs_are_positions_of_their_own() -> None:
    long_leg = position(BTC, position_side=PositionSide.LONG)
    short_leg = position(BTC, side=Side.SHORT, position_side=PositionSide.SHORT)
    state, _ = step(PolicyState(), long_leg)
    state, alerts = step(state, long_leg, short_leg, now=1)
    assert [(a.kind.value, a.position_side) for a in alerts] == [("position_opened", "short")]


def test_a_closed_position_ends_its_episodes_with_a_closed_alert() -> None:
    state, _ = step(PolicyState(), position(ETH))
    state, alerts = step(state, position(ETH), position(BTC, ratio=0.75, deviation=1.0), now=1)
    assert kinds(alerts) == [("position_opened", BTC), ("risk", BTC), ("deviation", BTC)]
    episode = alerts[1].episode_id

    state, alerts = step(state, position(ETH), now=2)
    assert [(a.kind.value, a.transition.value, a.level.label) for a in alerts] == [
        ("position_closed", "event", "info"),
        ("risk", "closed", "ok"),
        ("deviation", "closed", "ok"),
    ]
    risk_closed = alerts[1]
    assert risk_closed.episode_id == episode and risk_closed.previous_level is Level.DANGER
    assert risk_closed.facts["reason"] == "position_closed"
    assert (
        risk_closed.message
        == "main BTC/USDT:USDT long isolated: position closed, risk episode ends (was danger)"
    )
    assert set(state.tracks) == set()


def test_losing_the_cross_pool_closes_the_account_episode() -> None:
    cross = MarginMode.CROSS
    state, _ = evaluate(
        PolicyState(),
        PolicyInputs(risks=[account(position(BTC, mode=cross, ratio=0.6), cross_ratio=0.6)]),
        0,
        CFG,
    )
    assert "risk:main:cross" in state.tracks
    state, alerts = evaluate(state, PolicyInputs(risks=[account()]), 1, CFG)
    assert [(a.key, a.transition) for a in alerts if a.kind is AlertKind.RISK] == [
        (f"risk:main:{BTC}:both", Transition.CLOSED),
        ("risk:main:cross", Transition.CLOSED),
    ]
    assert alerts[-1].message == "main cross account: no cross positions left (was warn)"
    assert state.tracks == {}


def _forced(kind: OrderKind, now: int, side: str = "sell") -> PolicyInputs:
    cid = "autoclose-7" if kind is OrderKind.LIQUIDATION else "adl_autoclose"
    return PolicyInputs(
        risks=[],
        events=[
            OrderUpdate(
                venue="binanceusdm",
                account="main",
                symbol=BTC,
                client_order_id=cid,
                kind=kind,
                side=side,
                position_side=PositionSide.BOTH,
                order_type="LIMIT",
                execution_type="TRADE",
                status="FILLED",
                reduce_only=False,
                last_filled_qty=0.5,
                filled_qty=0.5,
                last_price=58_000.0,
                average_price=58_000.0,
                realized_pnl=0.0,
                commission=0.0,
                event_ms=now,
                received_ms=now,
            )
        ],
    )


def test_a_close_right_after_a_forced_order_says_what_closed_it() -> None:
    for kind, words in ((OrderKind.LIQUIDATION, "by liquidation"), (OrderKind.ADL, "by auto-deleveraging")):
        state, _ = step(PolicyState(), position(BTC))
        state, said = evaluate(state, _forced(kind, 10), 10, CFG)
        assert [(a.kind.value, a.level) for a in said] == [(kind.value, Level.CRITICAL)]
        state, closed = step(state, now=20)
        assert kinds(closed) == [("position_closed", BTC)]
        assert words in closed[0].message and closed[0].facts["closed_by"] == kind.value


def test_a_close_long_after_a_forced_order_is_a_plain_close() -> None:
    state, _ = step(PolicyState(), position(BTC))
    state, _ = evaluate(state, _forced(OrderKind.LIQUIDATION, 10), 10, CFG)
    state, _ = step(state, position(BTC), now=11)  # re-opened
    state, closed = step(state, now=10 + FORCED_CLOSE_WINDOW_MS + 1)
    assert closed[0].message.endswith("position closed") and "closed_by" not in closed[0].facts
