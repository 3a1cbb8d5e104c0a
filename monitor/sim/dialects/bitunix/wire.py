"""Bitunix bodies, built from the ledger's values, in the shapes of the shared fixtures
(``shared/fixtures/bitunix``): the envelope ``{"code": 0, "data", "msg"}``, numbers as decimal
strings except where Bitunix sends JSON numbers (``leverage``, ``basePrecision``), margin modes
``ISOLATION``/``CROSS``, position modes ``ONE_WAY``/``HEDGE``, sides ``LONG``/``SHORT``.

Shape drift, as the live API has it: the account's ``data`` is an **object** (the docs show an
array); a position push's ``data`` is an object (the docs show a list); ``ctime``/``mtime`` come as
strings on REST (the docs show numbers). ``liqPrice`` "0" means none; ``marginRate`` is written as
the maintenance requirement over the position's (or the cross pool's) equity, a fraction: Bitunix
does not publish its definition, and the adapter reads it as the venue's figure, not into the maths.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from monitor.model import MarginMode
from monitor.sim.frames import dec, trim
from monitor.sim.ledger import LONG, AccountRisk, LegRisk, Order
from monitor.sim.specs import SymbolSpec

JSON = dict[str, Any]

FUNDING_PERCENT = "0.01"
"""The last settled funding rate, in percent as Bitunix writes it (0.01 % = 0.0001)."""
ORDER_STATUS = {
    "NEW": "NEW",
    "FILLED": "FILLED",
    "PARTIALLY_FILLED": "PART_FILLED",
    "CANCELED": "CANCELED",
    "EXPIRED": "CANCELED",
}


def envelope(data: Any) -> JSON:
    return {"code": 0, "data": data, "msg": "result.success"}


def margin_mode(mode: MarginMode) -> str:
    return "ISOLATION" if mode is MarginMode.ISOLATED else "CROSS"


def position_mode(hedge: bool) -> str:
    return "HEDGE" if hedge else "ONE_WAY"


def trading_pair(spec: SymbolSpec) -> JSON:
    return {
        "symbol": spec.symbol,
        "base": spec.base,
        "quote": spec.quote,
        "minTradeVolume": spec.min_qty,
        "minBuyPriceOffset": "-0.95",
        "maxSellPriceOffset": "100",
        "maxLimitOrderVolume": spec.max_qty,
        "maxMarketOrderVolume": spec.market_max_qty,
        "basePrecision": spec.quantity_precision,
        "quotePrecision": spec.price_precision,
        "minLeverage": 1,
        "maxLeverage": max(b.initial_leverage for b in spec.brackets),
        "defaultLeverage": 20,
        "defaultMarginMode": 1,
        "priceProtectScope": "0.02",
        "symbolStatus": "OPEN",
    }


def ticker(spec: SymbolSpec, mark: float) -> JSON:
    p = dec(mark, spec.price_precision)
    return {
        "symbol": spec.symbol,
        "markPrice": p,
        "lastPrice": p,
        "open": p,
        "last": p,
        "quoteVol": "0",
        "baseVol": "0",
        "high": p,
        "low": p,
    }


def funding_row(spec: SymbolSpec, mark: float, now_ms: int) -> JSON:
    p = dec(mark, spec.price_precision)
    next_funding = (now_ms // 28_800_000 + 1) * 28_800_000
    return {
        "symbol": spec.symbol,
        "markPrice": p,
        "lastPrice": p,
        "indexPrice": p,
        "fundingRate": FUNDING_PERCENT,
        "fundingInterval": 8,
        "nextFundingTime": str(next_funding),
    }


def tiers(spec: SymbolSpec) -> list[JSON]:
    """``get_position_tiers`` rows (the Java demo's model: no example was ever published)."""
    rows = []
    for level, b in enumerate(spec.brackets, start=1):
        t = b.tier
        rows.append(
            {
                "symbol": spec.symbol,
                "level": level,
                "startValue": trim(t.floor),
                "endValue": trim(t.cap) if math.isfinite(t.cap) else "",
                "leverage": b.initial_leverage,
                "maintenanceMarginRate": trim(t.mmr),
            }
        )
    return rows


def account(risk: AccountRisk, hedge: bool) -> JSON:
    """The account row: ``margin`` is what the positions hold (isolated wallets, cross initial
    margin), ``available`` the wallet without it (negative when losses ate into it, as observed)."""
    pool = risk.cross
    isolated_upnl = sum(leg.unrealized for leg in risk.legs if leg.margin_mode is MarginMode.ISOLATED)
    margin = risk.isolated_wallets + pool.initial_margin
    available = pool.wallet + risk.isolated_wallets - margin
    return {
        "marginCoin": risk.asset,
        "available": dec(available, 8),
        "frozen": "0",
        "margin": dec(margin, 8),
        "transfer": dec(max(0.0, available + min(0.0, pool.unrealized)), 8),
        "positionMode": position_mode(hedge),
        "crossUnrealizedPNL": dec(pool.unrealized, 8),
        "isolationUnrealizedPNL": dec(isolated_upnl, 8),
        "bonus": "0",
    }


def position(
    leg: LegRisk, spec: SymbolSpec, position_id: str, hedge: bool, risk: AccountRisk, fee: float
) -> JSON:
    """One ``get_pending_positions`` row, with the exchange's ``liqPrice`` and ``marginRate``."""
    qp, pp = spec.quantity_precision, spec.price_precision
    isolated = leg.margin_mode is MarginMode.ISOLATED
    if isolated:
        equity = leg.isolated_wallet + leg.unrealized
        rate = leg.maint_margin / equity if equity > 0 else math.inf
    else:
        rate = risk.cross.ratio
    return {
        "positionId": position_id,
        "symbol": spec.symbol,
        "qty": dec(abs(leg.amount), qp),
        "entryValue": dec(abs(leg.amount) * leg.entry_price, 8),
        "side": "LONG" if leg.amount > 0 else "SHORT",
        "positionMode": position_mode(hedge),
        "marginMode": margin_mode(leg.margin_mode),
        "leverage": leg.leverage,
        "fee": dec(fee, 8),
        "funding": "0",
        "realizedPNL": "0",
        "margin": dec(leg.isolated_wallet if isolated else leg.initial_margin, 8),
        "unrealizedPNL": dec(leg.unrealized, 8),
        "liqPrice": dec(leg.liquidation_price, pp) if leg.liquidation_price else "0",
        "marginRate": dec(rate, 8) if math.isfinite(rate) else "999",
        "avgOpenPrice": trim(leg.entry_price),
        "ctime": str(leg.update_time),
        "mtime": str(leg.update_time),
    }


def position_push(
    leg: LegRisk, spec: SymbolSpec, position_id: str, hedge: bool, event: str, now_ms: int
) -> JSON:
    """A ``position`` channel push: a trigger, without liquidation price, margin rate or mark."""
    isolated = leg.margin_mode is MarginMode.ISOLATED
    side = "LONG" if leg.amount > 0 or (leg.amount == 0 and leg.position_side == LONG) else "SHORT"
    return {
        "ch": "position",
        "ts": now_ms,
        "data": {
            "event": event,
            "positionId": position_id,
            "marginMode": margin_mode(leg.margin_mode),
            "positionMode": position_mode(hedge),
            "side": side,
            "leverage": str(leg.leverage),
            "margin": dec(leg.isolated_wallet if isolated else leg.initial_margin, 8),
            "ctime": _iso(leg.update_time),
            "qty": dec(abs(leg.amount), spec.quantity_precision),
            "entryValue": dec(abs(leg.amount) * leg.entry_price, 8),
            "symbol": spec.symbol,
            "realizedPNL": "0",
            "unrealizedPNL": dec(leg.unrealized, 8),
            "funding": "0",
            "fee": "0",
        },
    }


def balance_push(risk: AccountRisk, hedge: bool, now_ms: int) -> JSON:
    row = account(risk, hedge)
    return {"ch": "balance", "ts": now_ms, "data": {"coin": row["marginCoin"], **row}}


def order_row(o: Order, spec: SymbolSpec, hedge: bool, mode: MarginMode, leverage: int) -> JSON:
    """One ``get_order_detail`` row."""
    qp = spec.quantity_precision
    return {
        "orderId": str(o.order_id),
        "symbol": o.symbol,
        "qty": dec(o.orig_qty, qp),
        "tradeQty": dec(o.executed_qty, qp),
        "positionMode": position_mode(hedge),
        "marginMode": margin_mode(mode),
        "leverage": leverage,
        "price": trim(o.avg_price) if o.executed_qty else "0",
        "side": o.side,
        "orderType": "MARKET",
        "effect": "IOC",
        "clientId": o.client_order_id,
        "reduceOnly": o.reduce_only,
        "status": ORDER_STATUS.get(o.status, "NEW"),
        "fee": dec(o.commission, 8),
        "realizedPNL": dec(o.realized, 8),
        "ctime": str(o.time),
        "mtime": str(o.update_time),
    }


def order_push(o: Order, spec: SymbolSpec, mode: MarginMode, leverage: int, now_ms: int) -> JSON:
    """An ``order`` channel push: "Buy"/"Sell" and "Market" as the live pushes spell them, and the
    margin mode under the Java demo's name ``positionType``."""
    return {
        "ch": "order",
        "ts": now_ms,
        "data": {
            "event": "CLOSE" if o.status in ("FILLED", "CANCELED", "EXPIRED") else "UPDATE",
            "orderId": str(o.order_id),
            "symbol": o.symbol,
            "positionType": margin_mode(mode),
            "side": "Buy" if o.side == "BUY" else "Sell",
            "type": "Liquidation" if o.order_type == "LIQUIDATION" else "Market",
            "qty": dec(o.orig_qty, spec.quantity_precision),
            "reductionOnly": o.reduce_only,
            "price": trim(o.avg_price) if o.executed_qty else "0",
            "ctime": _iso(o.time),
            "mtime": _iso(o.update_time),
            "leverage": str(leverage),
            "orderStatus": ORDER_STATUS.get(o.status, "NEW"),
            "fee": dec(o.commission, 8),
        },
    }


def price_push(symbol: str, mark: float, now_ms: int) -> JSON:
    """A ``price`` channel push: mark, index, the last funding rate in percent, ISO settlement times."""
    p = trim(round(mark, 8))
    last = now_ms // 28_800_000 * 28_800_000
    return {
        "ch": "price",
        "symbol": symbol,
        "ts": now_ms,
        "data": {"ip": p, "mp": p, "fr": FUNDING_PERCENT, "ft": _iso(last), "nft": _iso(last + 28_800_000)},
    }


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
