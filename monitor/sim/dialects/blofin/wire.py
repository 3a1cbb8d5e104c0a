"""BloFin's bodies, built from the simulator's ledger views.

Shapes follow the captures in ``tests/venues/fixtures/blofin/``: every number is a decimal string,
instruments are ``BTC-USDT``, and **sizes are contracts** (``contractValue`` base units each; the
ledger keeps base units, converted here both ways). ``marginRatio`` is BloFin's: equity over the
requirement (larger is safer, liquidation at 1), the inverse of the ledger's ratio; the ledger's
maintenance margin includes the fee to close (the book's tiers carry it), ``maintenanceMargin`` is
reported without it, as BloFin does. ``liquidationPrice`` is "" when there is none.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from monitor.model import MarginMode
from monitor.sim.ledger import LONG, SHORT, AccountRisk, LegRisk, Order
from monitor.sim.specs import SymbolSpec

JSON = dict[str, Any]
OK = "0"
COIN = "USDT"


def num(x: float, places: int = 12) -> str:
    """A decimal string without float noise or exponent (``"0"`` for zero)."""
    text = f"{x:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def envelope(data: Any) -> JSON:
    return {"code": OK, "msg": "success", "data": data}


def error_body(code: str, msg: str) -> JSON:
    return {"code": code, "msg": msg}


def inst_id(spec: SymbolSpec) -> str:
    return f"{spec.base}-{spec.quote}"


def contract_value(spec: SymbolSpec) -> float:
    """Base units per contract: the book's lot, so one contract is the smallest order."""
    return float(spec.step_size)


def contracts(spec: SymbolSpec, amount: float) -> float:
    return round(amount / contract_value(spec), 8)


def margin_mode(mode: MarginMode) -> str:
    return "isolated" if mode is MarginMode.ISOLATED else "cross"


def position_mode(hedge: bool) -> str:
    return "long_short_mode" if hedge else "net_mode"


def position_side(leg_side: str) -> str:
    return "long" if leg_side == LONG else "short" if leg_side == SHORT else "net"


# ---- public ------------------------------------------------------------------------------------


def instrument(spec: SymbolSpec) -> JSON:
    """One row of GET /api/v1/market/instruments."""
    cv = contract_value(spec)
    return {
        "instId": inst_id(spec),
        "baseCurrency": spec.base,
        "quoteCurrency": spec.quote,
        "contractValue": spec.step_size,
        "listTime": str(spec.onboard_ms),
        "expireTime": "4102444800000",
        "maxLeverage": str(spec.max_leverage),
        "minSize": num(float(spec.min_qty) / cv),
        "lotSize": "1",
        "tickSize": spec.tick_size,
        "instType": "SWAP",
        "contractType": "linear",
        "maxLimitSize": num(float(spec.max_qty) / cv),
        "maxMarketSize": num(float(spec.market_max_qty) / cv),
        "state": "live",
        "settleCurrency": spec.quote,
    }


def mark_row(spec: SymbolSpec, mark: float, ts: int) -> JSON:
    """One row of GET /api/v1/market/mark-price: index and mark are the simulator's one price."""
    price = num(mark, 8)
    return {"instId": inst_id(spec), "indexPrice": price, "markPrice": price, "ts": str(ts)}


def mark_candle_push(symbol: str, mark: float, ts: int) -> JSON:
    """A ``mark-price-candle1m`` push of a USDT symbol: the forming bar, its close the current mark."""
    price = num(mark, 8)
    bar = str(ts - ts % 60_000)
    inst = f"{symbol[: -len(COIN)]}-{COIN}" if symbol.endswith(COIN) else symbol
    return {
        "arg": {"channel": "mark-price-candle1m", "instId": inst},
        "data": [[bar, price, price, price, price, "0"]],
    }


def tiers(spec: SymbolSpec, taker_fee: float, mode: str) -> list[JSON]:
    """GET /api/v1/market/position-tiers: bounds in contracts, the rate without the fee to close."""
    cv = contract_value(spec)
    rows = []
    for b in spec.brackets:
        cap = b.tier.cap / spec.start_price / cv
        rows.append(
            {
                "symbol": inst_id(spec),
                "marginMode": mode,
                "minSize": num(b.tier.floor / spec.start_price / cv, 4),
                "maxSize": num(min(cap, 1e15), 4),
                "maintenanceMarginRate": num(b.tier.mmr - taker_fee),
                "maxLeverage": str(b.initial_leverage),
            }
        )
    return rows


def currency(code: str) -> JSON:
    """One row of GET /api/v1/asset/currencies (one per currency and chain)."""
    return {
        "currency": code,
        "chain": "TRC20",
        "depositMinAmount": "1",
        "depositUnsafeConfirmation": 1,
        "depositConfirmation": 20,
        "withdrawMinAmount": "10",
        "withdrawFee": "1",
        "withdrawPrecision": 8,
        "supportMemo": 0,
        "isDepositAvailable": 1,
        "isWithdrawAvailable": 1,
        "recoveryEtaDeposit": 0,
        "recoveryEtaWithdraw": 0,
    }


# ---- private ------------------------------------------------------------------------------------


def position(
    leg: LegRisk, spec: SymbolSpec, *, hedge: bool, taker_fee: float, cross_ratio: float, open_ms: int
) -> JSON:
    """One row of GET /api/v1/account/positions (and of the ``positions`` channel).

    ``positions`` is signed in net mode and positive on a long/short leg; ``marginRatio`` is the
    leg's own when isolated, the pool's when cross (BloFin's direction: equity / requirement)."""
    isolated = leg.margin_mode is MarginMode.ISOLATED
    size = contracts(spec, abs(leg.amount))
    signed = size if hedge or leg.amount >= 0 else -size
    fee_to_close = abs(leg.notional) * taker_fee
    if isolated:
        equity = leg.isolated_wallet + leg.unrealized
        ratio = equity / leg.maint_margin if leg.maint_margin > 0 else 0.0
    else:
        ratio = cross_ratio
    lp = leg.liquidation_price
    row: JSON = {
        "positionId": f"{inst_id(spec)}-{position_side(leg.position_side)}",
        "instId": inst_id(spec),
        "instType": "SWAP",
        "marginMode": margin_mode(leg.margin_mode),
        "positionSide": position_side(leg.position_side),
        "adl": "1",
        "positions": num(signed),
        "availablePositions": num(signed),
        "averagePrice": num(leg.entry_price),
        "markPrice": num(leg.mark_price),
        "marginRatio": num(max(ratio, 0.0)),
        "liquidationPrice": num(lp) if lp and lp > 0 else "",
        "unrealizedPnl": num(leg.unrealized),
        "unrealizedPnlRatio": num(leg.unrealized / leg.initial_margin if leg.initial_margin else 0.0),
        "maintenanceMargin": num(leg.maint_margin - fee_to_close),
        "createTime": str(open_ms),
        "updateTime": str(leg.update_time or open_ms),
        "leverage": str(leg.leverage),
    }
    if isolated:
        row["margin"] = num(leg.isolated_wallet)
    else:
        row["initialMargin"] = num(leg.initial_margin)
    return row


def flat_position(spec: SymbolSpec, leg_side: str, mode: MarginMode, now_ms: int) -> JSON:
    """A closed leg as the ``positions`` channel reports it: ``positions`` "0"."""
    return {
        "positionId": f"{inst_id(spec)}-{position_side(leg_side)}",
        "instId": inst_id(spec),
        "instType": "SWAP",
        "marginMode": margin_mode(mode),
        "positionSide": position_side(leg_side),
        "positions": "0",
        "availablePositions": "0",
        "averagePrice": "0",
        "markPrice": "0",
        "marginRatio": "0",
        "liquidationPrice": "",
        "unrealizedPnl": "0",
        "maintenanceMargin": "0",
        "updateTime": str(now_ms),
        "leverage": "0",
    }


def balance(risk: AccountRisk, now_ms: int, *, with_pnl: bool = False) -> JSON:
    """GET /api/v1/account/balance ``data`` (the ``account`` channel adds ``unrealizedPnl``).

    ``balance`` is the cash of the whole futures account (the cross wallet and the isolated
    margins), ``equity`` that plus every unrealised PnL, ``isolatedEquity`` the isolated margins and
    their PnL: the cross pool's equity is ``equity - isolatedEquity``."""
    iso_legs = [leg for leg in risk.legs if leg.margin_mode is MarginMode.ISOLATED]
    iso_pnl = sum(leg.unrealized for leg in iso_legs)
    iso_equity = sum(leg.isolated_wallet for leg in iso_legs) + iso_pnl
    pnl = sum(leg.unrealized for leg in risk.legs)
    cash = risk.wallet_balance
    equity = cash + pnl
    available = risk.cross.available
    detail: JSON = {
        "currency": COIN,
        "equity": num(equity),
        "balance": num(cash),
        "ts": str(now_ms),
        "isolatedEquity": num(iso_equity),
        "available": num(available),
        "availableEquity": num(available),
        "frozen": num(risk.cross.initial_margin),
        "orderFrozen": "0",
        "equityUsd": num(equity),
        "isolatedUnrealizedPnl": num(iso_pnl),
        "bonus": "0",
    }
    if with_pnl:
        detail["unrealizedPnl"] = num(pnl)
    return {
        "ts": str(now_ms),
        "totalEquity": num(equity),
        "isolatedEquity": num(iso_equity),
        "details": [detail],
    }


def order(o: Order, spec: SymbolSpec, *, hedge: bool, mode: MarginMode, leverage: int) -> JSON:
    """An order as the order endpoints and the ``orders`` channel report it: sizes in contracts,
    ``reduceOnly`` a string, ``fee`` positive when charged. The liquidation engine's order is a
    ``full_liquidation`` with no client id (the ledger's ``autoclose-`` id is Binance's)."""
    side = o.side.lower()
    leg_side = position_side(o.position_side) if hedge else "net"
    filled = o.status == "FILLED"
    return {
        "instType": "SWAP",
        "instId": inst_id(spec),
        "orderId": str(o.order_id),
        "clientOrderId": None if o.order_type == "LIQUIDATION" else o.client_order_id,
        "price": "0",
        "size": num(contracts(spec, o.orig_qty)),
        "orderType": "market",
        "side": side,
        "positionSide": leg_side,
        "marginMode": margin_mode(mode),
        "filledSize": num(contracts(spec, o.executed_qty)),
        "filledAmount": num(o.cum_quote),
        "averagePrice": num(o.avg_price),
        "state": "filled" if filled else "canceled" if o.status in ("CANCELED", "EXPIRED") else "live",
        "leverage": str(leverage),
        "fee": num(o.commission),
        "pnl": num(o.realized),
        "cancelSource": "not_canceled" if filled else "",
        "orderCategory": "full_liquidation" if o.order_type == "LIQUIDATION" else "normal",
        "createTime": str(o.time),
        "updateTime": str(o.update_time),
        "reduceOnly": "true" if o.reduce_only else "false",
        "brokerId": "",
    }


def push(channel: str, data: Any, *, action: str | None = None) -> JSON:
    body: JSON = {"arg": {"channel": channel}, "data": data}
    if action is not None:
        body["action"] = action
    return body


def positions_push(rows: Iterable[JSON]) -> JSON:
    return push("positions", list(rows))
