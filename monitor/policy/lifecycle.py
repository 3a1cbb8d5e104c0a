"""Position lifecycle: a position appears, flips side, or goes away.

The state remembers, per account, each position's side and margin mode (not its numbers), which is all
it takes to tell news from a tick. An account seen for the first time records its positions as a
baseline without announcing them: on a first start the user knows what they hold. After a restart the
persisted positions are the baseline, so what opened while the daemon was down is still announced.

A position that goes away ends its risk and deviation episodes with a CLOSED alert (level OK,
``facts["reason"] == "position_closed"``) right after POSITION_CLOSED. Closing loudly rather than
silently keeps one rule for every consumer: every episode that opened ends in exactly one CLOSED, so
the outbox can drop queued repeats of that subject and a notifier can fold the pair into one line.
"""

from __future__ import annotations

from monitor.alerts import Alert, AlertKind, FactValue, Level, Transition
from monitor.model import AccountRisk, MarginMode, PositionRisk, Side
from monitor.policy import keys
from monitor.policy.exchange_alarms import forced_close_kind
from monitor.policy.facts import position_basics
from monitor.policy.messages import fmt_price, fmt_qty
from monitor.policy.state import KnownPosition, PositionKey
from monitor.policy.work import Work

# Every value a ``KnownPosition`` can take, built once: the comparison below runs for every account on
# every tick, and building (then comparing field by field) a fresh value per position was most of it.
_KNOWN = {(side, mode): KnownPosition(side, mode) for side in Side for mode in MarginMode}


def track_positions(w: Work, risk: AccountRisk) -> None:
    known = w.known_positions(risk.account)
    current = {(p.symbol, p.position_side): _KNOWN[p.side, p.margin_mode] for p in risk.positions}
    if known is not None and known == current:
        return
    w.set_positions(risk.account, current)
    if known is None:
        if w.config.announce_initial_positions:
            for p in risk.positions:
                w.emit(position_opened(w, risk, p))
        return
    for p in risk.positions:
        was = known.get(p.key)
        if was is None:
            w.emit(position_opened(w, risk, p))
        elif was.side is not p.side:
            w.emit(position_flipped(w, risk, p, was))
    for k, was in known.items():
        if k not in current:
            position_closed(w, risk, k, was)


def _alert(
    w: Work,
    risk: AccountRisk,
    kind: AlertKind,
    level: Level,
    symbol: str,
    position_side: str,
    margin_mode: str,
    message: str,
    facts: dict[str, FactValue],
) -> Alert:
    return Alert(
        key=keys.position(risk.account, symbol, position_side),
        kind=kind,
        level=level,
        transition=Transition.EVENT,
        venue=risk.venue.value,
        account=risk.account,
        message=message,
        ts_ms=w.now_ms,
        symbol=symbol,
        position_side=position_side,
        margin_mode=margin_mode,
        facts=facts,
    )


def position_opened(w: Work, risk: AccountRisk, p: PositionRisk) -> Alert:
    facts = position_basics(p)
    size = (
        f"{fmt_qty(facts['contracts'])} contracts"
        if facts["contracts"] is not None
        else f"notional {fmt_price(p.notional)}"
    )
    liq = "no liquidation price" if p.liquidation_price is None else f"liq {fmt_price(p.liquidation_price)}"
    message = (
        f"{risk.account} {p.symbol} {p.side.value} {p.margin_mode.value}: position opened, {size} "
        f"at mark {fmt_price(p.mark_price)}, {liq}"
    )
    return _alert(
        w,
        risk,
        AlertKind.POSITION_OPENED,
        Level.INFO,
        p.symbol,
        p.position_side.value,
        p.margin_mode.value,
        message,
        facts,
    )


def position_flipped(w: Work, risk: AccountRisk, p: PositionRisk, was: KnownPosition) -> Alert:
    facts = position_basics(p)
    facts["previous_side"] = was.side.value
    message = (
        f"{risk.account} {p.symbol} {p.margin_mode.value}: position flipped from {was.side.value} to "
        f"{p.side.value}, mark {fmt_price(p.mark_price)}"
    )
    return _alert(
        w,
        risk,
        AlertKind.POSITION_FLIPPED,
        Level.WARN,
        p.symbol,
        p.position_side.value,
        p.margin_mode.value,
        message,
        facts,
    )


def position_closed(w: Work, risk: AccountRisk, key: PositionKey, was: KnownPosition) -> None:
    symbol, position_side = key[0], key[1].value
    facts: dict[str, FactValue] = {
        "symbol": symbol,
        "side": was.side.value,
        "position_side": position_side,
        "margin_mode": was.margin_mode.value,
    }
    message = f"{risk.account} {symbol} {was.side.value} {was.margin_mode.value}: position closed"
    forced = forced_close_kind(w, risk.account, symbol, position_side)
    if forced is not None:
        # the critical alert of the forced order was said; this close must not read as a plain one
        facts["closed_by"] = forced
        message += " by liquidation" if forced == "liquidation" else " by auto-deleveraging (ADL)"
    w.emit(
        _alert(
            w,
            risk,
            AlertKind.POSITION_CLOSED,
            Level.INFO,
            symbol,
            position_side,
            was.margin_mode.value,
            message,
            facts,
        )
    )
    reason: dict[str, FactValue] = {"reason": "position_closed"}
    w.close(keys.position_risk(risk.account, symbol, position_side), AlertKind.RISK, reason)
    w.close(keys.deviation(risk.account, symbol, position_side), AlertKind.DEVIATION, reason)
