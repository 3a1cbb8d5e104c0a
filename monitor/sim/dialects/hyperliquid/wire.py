"""Hyperliquid's bodies, in the shapes of the recorded payloads (``tests/venues/fixtures/hyperliquid``).

Prices, sizes and money are decimal strings; ``time``, ``oid``, ``tid``, ``maxLeverage``,
``leverage.value``, ``szDecimals`` and ``marginTableId`` are JSON numbers; ``liquidationPx`` is
``null`` when there is none. A position is a one-way row under ``assetPositions``; a closed one is
not listed at all. The ledger's symbols (``BTCUSDT``) are the venue's coins (``BTC``): a coin is its
spec's base, and its asset index its place in the universe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monitor.model import MarginMode
from monitor.sim.frames import dec
from monitor.sim.ledger import AccountRisk, LegRisk, Order
from monitor.sim.specs import SymbolSpec

JSON = dict[str, Any]

# every margin table the simulator serves is a real one (ids below 50 name single-tier tables)
FIRST_TABLE_ID = 51
DEFAULT_FUNDING = "0.0000125"


def num(x: float, places: int = 6) -> str:
    """A decimal string as Hyperliquid writes money: at most ``places`` decimals, at least one."""
    s = dec(x, max(places, 1)).rstrip("0")
    return s + "0" if s.endswith(".") else s


def px(x: float) -> str:
    """A price: up to 10 decimals (Hyperliquid's ``liquidationPx`` carries about that many)."""
    return num(x, 10)


def max_leverage(spec: SymbolSpec) -> int:
    """The market's ``maxLeverage``: its first tier's."""
    return spec.brackets[0].initial_leverage


def universe(specs: Mapping[str, SymbolSpec]) -> list[SymbolSpec]:
    """The perpetuals in asset-index order."""
    return list(specs.values())


def meta(specs: Mapping[str, SymbolSpec]) -> JSON:
    """``{"type": "meta"}``: the universe and one margin table per market (``lowerBound`` strings,
    ``maxLeverage`` numbers; the maintenance rate of a tier is ``1 / (2 x maxLeverage)``)."""
    coins: list[JSON] = []
    tables: list[Any] = []
    for i, spec in enumerate(universe(specs)):
        table_id = FIRST_TABLE_ID + i
        coins.append(
            {
                "name": spec.base,
                "szDecimals": spec.quantity_precision,
                "maxLeverage": max_leverage(spec),
                "marginTableId": table_id,
            }
        )
        tiers = [
            {"lowerBound": num(b.tier.floor, 1), "maxLeverage": b.initial_leverage} for b in spec.brackets
        ]
        tables.append([table_id, {"description": f"{spec.base} tiers", "marginTiers": tiers}])
    return {"universe": coins, "marginTables": tables}


def asset_ctx(mark: float) -> JSON:
    """One perpetual's context: no coin name (its place in the list says which), strings."""
    p = num(mark, 8)
    return {
        "funding": DEFAULT_FUNDING,
        "openInterest": "1000.0",
        "prevDayPx": p,
        "dayNtlVlm": "1000000.0",
        "premium": "0.0",
        "oraclePx": p,
        "markPx": p,
        "midPx": p,
        "impactPxs": [p, p],
        "dayBaseVlm": "1000.0",
    }


def mids(specs: Mapping[str, SymbolSpec], marks: Mapping[str, float]) -> dict[str, str]:
    """``allMids``: mid prices by coin (the simulator's book has no spread: the mark)."""
    return {s.base: num(marks[s.symbol], s.price_precision + 2) for s in universe(specs)}


def position(leg: LegRisk, spec: SymbolSpec) -> JSON:
    """One ``assetPositions`` row: ``rawUsd`` is an isolated position's margin net of its notional at
    entry, ``marginUsed`` its margin with unrealised PnL (cross: value / leverage)."""
    value = abs(leg.amount) * leg.mark_price
    isolated = leg.margin_mode is MarginMode.ISOLATED
    lev: JSON = {"type": "isolated" if isolated else "cross", "value": leg.leverage}
    if isolated:
        lev["rawUsd"] = num(leg.isolated_wallet - leg.amount * leg.entry_price)
    margin_used = leg.isolated_wallet + leg.unrealized if isolated else value / leg.leverage
    opened_with = abs(leg.amount) * leg.entry_price / leg.leverage
    return {
        "type": "oneWay",
        "position": {
            "coin": spec.base,
            "szi": num(leg.amount, spec.quantity_precision),
            "leverage": lev,
            "entryPx": num(leg.entry_price, spec.price_precision + 2),
            "positionValue": num(value),
            "unrealizedPnl": num(leg.unrealized),
            "returnOnEquity": num(leg.unrealized / opened_with if opened_with else 0.0, 8),
            "liquidationPx": None if leg.liquidation_price is None else px(leg.liquidation_price),
            "marginUsed": num(margin_used),
            "maxLeverage": max_leverage(spec),
            "cumFunding": {"allTime": "0.0", "sinceOpen": "0.0", "sinceChange": "0.0"},
        },
    }


def clearinghouse_state(risk: AccountRisk, specs: Mapping[str, SymbolSpec], now_ms: int) -> JSON:
    """``clearinghouseState``: the full snapshot. ``crossMarginSummary`` counts the cross positions,
    ``marginSummary`` every position; in both ``accountValue = totalRawUsd + Σ szi x mark``."""
    rows = [position(leg, specs[leg.symbol]) for leg in risk.legs]
    cross = [leg for leg in risk.legs if leg.margin_mode is MarginMode.CROSS]
    isolated = [leg for leg in risk.legs if leg.margin_mode is MarginMode.ISOLATED]
    cross_value = risk.cross.equity
    all_value = cross_value + sum(leg.isolated_wallet + leg.unrealized for leg in isolated)

    def summary(legs: Sequence[LegRisk], value: float) -> JSON:
        used = sum(
            leg.isolated_wallet + leg.unrealized
            if leg.margin_mode is MarginMode.ISOLATED
            else abs(leg.amount) * leg.mark_price / leg.leverage
            for leg in legs
        )
        return {
            "accountValue": num(value),
            "totalNtlPos": num(sum(abs(leg.amount) * leg.mark_price for leg in legs)),
            "totalRawUsd": num(value - sum(leg.amount * leg.mark_price for leg in legs)),
            "totalMarginUsed": num(used),
        }

    return {
        "marginSummary": summary(risk.legs, all_value),
        "crossMarginSummary": summary(cross, cross_value),
        "crossMaintenanceMarginUsed": num(risk.cross.maint_margin),
        "withdrawable": num(risk.cross.available),
        "assetPositions": rows,
        "time": now_ms,
    }


def fill(
    order: Order,
    spec: SymbolSpec,
    *,
    start_position: float,
    price: float,
    qty: float,
    fee: float,
    trade_id: int,
    time_ms: int,
    liquidated_user: str | None,
) -> JSON:
    """A ``WsFill``; a liquidation fill carries ``liquidation {liquidatedUser, markPx, method}``."""
    buy = order.side == "BUY"
    closing = (start_position > 0 and not buy) or (start_position < 0 and buy)
    direction = ("Close " if closing else "Open ") + (
        ("Short" if buy else "Long") if closing else ("Long" if buy else "Short")
    )
    body: JSON = {
        "coin": spec.base,
        "px": num(price, spec.price_precision + 2),
        "sz": num(qty, spec.quantity_precision),
        "side": "B" if buy else "A",
        "time": time_ms,
        "startPosition": num(start_position, spec.quantity_precision),
        "dir": direction,
        "closedPnl": num(order.realized),
        "hash": "0x" + f"{order.order_id:064x}",
        "oid": order.order_id,
        "crossed": True,
        "fee": num(fee),
        "tid": trade_id,
        "feeToken": "USDC",
        "twapId": None,
    }
    if order.client_order_id.startswith("0x"):
        body["cloid"] = order.client_order_id
    if liquidated_user is not None:
        body["liquidation"] = {"liquidatedUser": liquidated_user, "markPx": body["px"], "method": "market"}
    return body


ORDER_STATUS = {"FILLED": "filled", "PARTIALLY_FILLED": "open", "NEW": "open", "CANCELED": "canceled"}


def order_status(order: Order, spec: SymbolSpec) -> JSON:
    """``{"type": "orderStatus"}``'s answer for a known order."""
    body: JSON = {
        "coin": spec.base,
        "side": "B" if order.side == "BUY" else "A",
        "limitPx": num(order.avg_price, spec.price_precision + 2),
        "sz": num(order.orig_qty - order.executed_qty, spec.quantity_precision),
        "oid": order.order_id,
        "timestamp": order.time,
        "triggerCondition": "N/A",
        "isTrigger": False,
        "triggerPx": "0.0",
        "children": [],
        "isPositionTpsl": False,
        "reduceOnly": order.reduce_only,
        "orderType": "Limit",
        "origSz": num(order.orig_qty, spec.quantity_precision),
        "tif": "Ioc",
        "cloid": order.client_order_id if order.client_order_id.startswith("0x") else None,
    }
    status = ORDER_STATUS.get(order.status, "canceled")
    if order.order_type == "LIQUIDATION":
        status = "liquidatedCanceled" if order.executed_qty == 0 else "filled"
    return {
        "status": "order",
        "order": {"order": body, "status": status, "statusTimestamp": order.update_time},
    }
