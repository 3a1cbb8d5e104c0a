"""The exchange's own alarms, passed on as critical alerts of their own.

A margin call, a liquidation order (``autoclose-...``) and an auto-deleveraging (``adl_autoclose``) are
facts, not estimates: they bypass levels, confirmation and mutes, and are said once. An order produces a
stream of updates (NEW, PARTIALLY_FILLED, FILLED) under one client order id, so orders are deduplicated
by account, symbol and client order id; margin calls by their event time (a reconnect can replay one).
The ids seen are remembered (and persisted) for ``PolicyConfig.event_dedupe_ttl_ms``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.alerts import Alert, AlertKind, FactValue, Level, Transition
from monitor.events import MarginCall, OrderKind, OrderUpdate, VenueBanned
from monitor.model import PositionSide
from monitor.policy import keys
from monitor.policy.messages import fmt_price, fmt_qty
from monitor.policy.work import Work

ExchangeEvent = MarginCall | OrderUpdate | VenueBanned

FORCED_CLOSE_WINDOW_MS = 15 * 60_000
"""How long after a forced order the leg's disappearance is put down to it: the stream carries the
order and the flat position within milliseconds, a resync finds both at once."""


def forced_close_id(account: str, symbol: str, position_side: str) -> str:
    """The seen-event id that remembers a leg was just liquidated or auto-deleveraged."""
    return f"forced_close:{account}:{symbol}:{position_side}"


def forced_close_kind(w: Work, account: str, symbol: str, position_side: str) -> str | None:
    """``liquidation`` or ``adl`` when a forced order closed this leg within the window, else None."""
    for kind in ("liquidation", "adl"):
        at = w.seen_at(f"{forced_close_id(account, symbol, position_side)}:{kind}")
        if at is not None and w.now_ms - at <= FORCED_CLOSE_WINDOW_MS:
            return kind
    return None


def exchange_event(w: Work, event: ExchangeEvent) -> None:
    if isinstance(event, MarginCall):
        _margin_call(w, event)
    elif isinstance(event, VenueBanned):
        _ban(w, event)
    elif event.kind in (OrderKind.LIQUIDATION, OrderKind.ADL):
        _forced_order(w, event)


def _margin_call(w: Work, ev: MarginCall) -> None:
    event_id = f"margin_call:{ev.venue}:{ev.account}:{ev.event_ms}"
    if w.seen(event_id):
        return
    w.mark_seen(event_id)
    facts: dict[str, FactValue] = {
        "cross_wallet_balance": ev.cross_wallet_balance,
        "positions": len(ev.positions),
        "event_ms": ev.event_ms,
    }
    parts = []
    for i, p in enumerate(ev.positions, start=1):
        side = "long" if p.amount > 0 else "short"
        facts[f"p{i}_symbol"] = p.symbol
        facts[f"p{i}_side"] = side
        facts[f"p{i}_margin_mode"] = p.margin_mode.value
        facts[f"p{i}_contracts"] = abs(p.amount)
        facts[f"p{i}_mark_price"] = p.mark_price
        facts[f"p{i}_maint_margin"] = p.maint_margin
        parts.append(
            f"{p.symbol} {side} {p.margin_mode.value} (mark {fmt_price(p.mark_price)}, "
            f"maint {fmt_price(p.maint_margin)})"
        )
    detail = "; ".join(parts) if parts else "no positions listed"
    w.emit(
        Alert(
            key=keys.margin_call(ev.account),
            kind=AlertKind.MARGIN_CALL,
            level=Level.CRITICAL,
            transition=Transition.EVENT,
            venue=ev.venue,
            account=ev.account,
            message=f"{ev.account}: MARGIN CALL from {ev.venue}: {detail}",
            ts_ms=w.now_ms,
            symbol=ev.positions[0].symbol if len(ev.positions) == 1 else None,
            facts=facts,
        )
    )


def _ban(w: Work, ev: VenueBanned) -> None:
    """Said once per ban: the adapter reports a ban when it starts, and a replay is deduplicated by
    its end time."""
    event_id = f"ban:{ev.venue}:{ev.until_ms}"
    if w.seen(event_id):
        return
    w.mark_seen(event_id)
    until = datetime.fromtimestamp(ev.until_ms / 1000, tz=UTC).strftime("%H:%M:%S")
    what = "an IP ban" if ev.status == 418 else "a rate limit" if ev.status == 429 else f"HTTP {ev.status}"
    w.emit(
        Alert(
            key=keys.ban(ev.venue),
            kind=AlertKind.BAN,
            level=Level.DANGER,
            transition=Transition.EVENT,
            venue=ev.venue,
            account="",
            message=(
                f"{ev.venue}: banned by the exchange until {until} UTC ({what}); REST calls and "
                "resyncs are paused until then, the streams go on"
            ),
            ts_ms=w.now_ms,
            facts={"until_ms": ev.until_ms, "status": ev.status},
        )
    )


def closed_side(order_side: str, position_side: PositionSide) -> str:
    """The side of the position a forced order closes: a sell closes a long (one-way mode); a hedge
    leg names itself."""
    if position_side is not PositionSide.BOTH:
        return position_side.value
    return "long" if order_side.lower() == "sell" else "short"


def _forced_order(w: Work, ev: OrderUpdate) -> None:
    event_id = f"order:{ev.venue}:{ev.account}:{ev.symbol}:{ev.client_order_id}"
    if ev.kind is OrderKind.ADL and ev.order_id is not None:
        # every ADL order is "adl_autoclose": only the exchange's order id tells one from the next
        event_id += f":{ev.order_id}"
    if w.seen(event_id):
        return
    w.mark_seen(event_id)
    liquidation = ev.kind is OrderKind.LIQUIDATION
    kind = "liquidation" if liquidation else "adl"
    w.mark_seen(f"{forced_close_id(ev.account, ev.symbol, ev.position_side.value)}:{kind}")
    side = closed_side(ev.side, ev.position_side)
    qty = ev.filled_qty or ev.last_filled_qty
    price = ev.average_price or ev.last_price
    facts: dict[str, FactValue] = {
        "symbol": ev.symbol,
        "side": side,
        "position_side": ev.position_side.value,
        "client_order_id": ev.client_order_id,
        "order_side": ev.side,
        "status": ev.status,
        "contracts": qty,
        "price": price,
        "realized_pnl": ev.realized_pnl,
        "event_ms": ev.event_ms,
    }
    what = "LIQUIDATED" if liquidation else "AUTO-DELEVERAGED (ADL)"
    fill = f"{fmt_qty(qty)} at {fmt_price(price)}" if qty else "not filled yet"
    make_key = keys.liquidation if liquidation else keys.adl
    w.emit(
        Alert(
            key=make_key(ev.account, ev.symbol, ev.position_side.value),
            kind=AlertKind.LIQUIDATION if liquidation else AlertKind.ADL,
            level=Level.CRITICAL,
            transition=Transition.EVENT,
            venue=ev.venue,
            account=ev.account,
            message=(
                f"{ev.account} {ev.symbol} {side}: {what} by {ev.venue}, {fill} "
                f"({ev.status}, order {ev.client_order_id})"
            ),
            ts_ms=w.now_ms,
            symbol=ev.symbol,
            position_side=ev.position_side.value,
            facts=facts,
        )
    )
