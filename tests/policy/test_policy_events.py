"""The exchange's own alarms: critical, once per order, never muted."""

from __future__ import annotations

from policy_helpers import BTC, ETH

from monitor.alerts import Alert, AlertKind, Level, Transition
from monitor.events import MarginCall, MarginCallPosition, OrderKind, OrderUpdate
from monitor.model import MarginMode, PositionSide
from monitor.policy import PolicyConfig, PolicyInputs, PolicyState, due_repeats, evaluate, mute

CFG = PolicyConfig()


def order(
    status: str,
    *,
    kind: OrderKind = OrderKind.LIQUIDATION,
    cid: str = "autoclose-1",
    symbol: str = BTC,
    order_id: int | None = None,
) -> OrderUpdate:
    filled = 0.0 if status == "NEW" else 0.5
    return OrderUpdate(
        venue="binanceusdm",
        account="main",
        symbol=symbol,
        client_order_id=cid,
        kind=kind,
        side="sell",
        position_side=PositionSide.BOTH,
        order_type="LIMIT",
        execution_type="TRADE" if filled else "NEW",
        status=status,
        reduce_only=True,
        last_filled_qty=filled,
        filled_qty=filled,
        last_price=58_000.0 if filled else 0.0,
        average_price=58_000.0 if filled else 0.0,
        realized_pnl=-120.0 if filled else 0.0,
        commission=0.0,
        event_ms=1,
        received_ms=1,
        order_id=order_id,
    )


def margin_call(event_ms: int = 5) -> MarginCall:
    p = MarginCallPosition(
        symbol=BTC,
        position_side=PositionSide.BOTH,
        margin_mode=MarginMode.CROSS,
        amount=-0.5,
        mark_price=62_000.0,
        unrealized_pnl=-900.0,
        maint_margin=124.0,
        isolated_wallet=None,
    )
    return MarginCall(
        venue="binanceusdm",
        account="main",
        cross_wallet_balance=100.0,
        positions=(p,),
        event_ms=event_ms,
        received_ms=6,
    )


def run(
    state: PolicyState, *events: OrderUpdate | MarginCall, now: int = 10
) -> tuple[PolicyState, list[Alert]]:
    return evaluate(state, PolicyInputs(events=list(events)), now, CFG)


def test_one_alert_per_liquidation_order() -> None:
    state, alerts = run(PolicyState(), order("NEW"), order("PARTIALLY_FILLED"))
    state, more = run(state, order("FILLED"), now=20)
    assert more == []
    [alert] = alerts
    assert (alert.kind, alert.level, alert.transition) == (
        AlertKind.LIQUIDATION,
        Level.CRITICAL,
        Transition.EVENT,
    )
    assert alert.key == f"liquidation:main:{BTC}:both"
    assert alert.facts["client_order_id"] == "autoclose-1" and alert.facts["side"] == "long"
    assert "LIQUIDATED" in alert.message


def test_same_client_id_on_another_symbol_is_another_order() -> None:
    _, alerts = run(PolicyState(), order("NEW"), order("NEW", symbol=ETH))
    assert [a.symbol for a in alerts] == [BTC, ETH]


def test_adl_and_normal_orders() -> None:
    _, alerts = run(
        PolicyState(),
        order("FILLED", kind=OrderKind.ADL, cid="adl_autoclose"),
        order("FILLED", kind=OrderKind.NORMAL, cid="mine-1"),
        order("FILLED", kind=OrderKind.SETTLEMENT, cid="settlement_autoclose-1"),
    )
    [adl] = alerts
    assert adl.kind is AlertKind.ADL and adl.level is Level.CRITICAL
    assert "0.5 at 58,000.0" in adl.message


def test_margin_call_once_per_event_and_never_muted() -> None:
    state = mute(PolicyState(), None, None, 10**15)
    state, alerts = run(state, margin_call())
    state, replay = run(state, margin_call(), now=11)
    _, later = run(state, margin_call(event_ms=99), now=12)
    assert replay == []
    assert [a.kind for a in alerts + later] == [AlertKind.MARGIN_CALL, AlertKind.MARGIN_CALL]
    alert = alerts[0]
    assert alert.level is Level.CRITICAL and alert.key == "margin_call:main"
    assert alert.facts["p1_symbol"] == BTC and alert.facts["p1_side"] == "short"
    assert alert.message.startswith("main: MARGIN CALL from binanceusdm: BTC/USDT:USDT short cross")


def test_seen_ids_expire_after_the_ttl() -> None:
    state, _ = run(PolicyState(), order("NEW"))
    assert state.seen_events  # the order's id, and that its leg was just force-closed
    kept, _ = due_repeats(state, CFG.event_dedupe_ttl_ms, CFG)
    assert kept.seen_events == state.seen_events
    pruned, _ = due_repeats(state, 11 + CFG.event_dedupe_ttl_ms, CFG)
    assert pruned.seen_events == {}


def test_a_ban_is_said_once_with_its_end_time() -> None:
    from monitor.events import VenueBanned

    ban = VenueBanned("binanceusdm", until_ms=3_600_000 + 61_000, status=418, detail="HTTP 418")
    state, alerts = run(PolicyState(), ban)
    assert [(a.kind, a.level, a.key) for a in alerts] == [(AlertKind.BAN, Level.DANGER, "ban:binanceusdm")]
    assert "banned by the exchange until 01:01:01 UTC" in alerts[0].message
    _, again = run(state, ban)
    assert again == []


def test_every_adl_order_is_said_once_though_all_share_one_client_id() -> None:
    adl = OrderKind.ADL
    state, first = run(PolicyState(), order("NEW", kind=adl, cid="adl_autoclose", order_id=1))
    state, same = run(state, order("FILLED", kind=adl, cid="adl_autoclose", order_id=1))
    state, second = run(state, order("FILLED", kind=adl, cid="adl_autoclose", order_id=2))
    assert [a.kind for a in first] == [AlertKind.ADL] and same == []
    assert [a.kind for a in second] == [AlertKind.ADL]
