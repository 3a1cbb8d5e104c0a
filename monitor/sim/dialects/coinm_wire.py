"""Binance COIN-M wire shapes: the ``/dapi`` bodies and ``dstream`` frames that differ from USD-M's.

Following ``/work/shared/fixtures/binance-usdm/coinm.*.json`` and the COIN-M API pages: quantities are
whole contracts; balances, PnL, margin and ``notionalValue`` are in the contract's coin (``marginAsset``);
leverage brackets are ``qtyFloor``/``qtyCap`` in coin; order bodies carry ``pair`` and ``cumBase`` (coin)
where USD-M has ``cumQuote``; positionRisk keeps ``leverage``, ``maxQty`` and ``marginType``. What is the
same on both (mark-price updates, ORDER_TRADE_UPDATE, number formatting) comes from ``frames``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from monitor.model import MarginMode
from monitor.sim import frames
from monitor.sim.frames import dec, qty, trim
from monitor.sim.ledger import (
    Account,
    AccountRisk,
    AccountUpdate,
    LedgerEvent,
    LegRisk,
    MarginCall,
    Order,
    OrderUpdate,
)
from monitor.sim.market import FUNDING_RATE, INTEREST_RATE, Market
from monitor.sim.specs import SymbolSpec

JSON = dict[str, Any]


def pair_of(spec: SymbolSpec) -> str:
    """``BTCUSD`` for ``BTCUSD_PERP``: COIN-M groups a coin's contracts by pair."""
    return spec.base + spec.quote


def exchange_info(specs: Iterable[SymbolSpec], now_ms: int) -> JSON:
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        ],
        "exchangeFilters": [],
        "symbols": [symbol_info(spec) for spec in specs],
    }


def symbol_info(spec: SymbolSpec) -> JSON:
    usdm = frames.symbol_info(spec)
    filters = [f for f in usdm["filters"] if f["filterType"] != "MIN_NOTIONAL"]
    return {
        "symbol": spec.symbol,
        "pair": pair_of(spec),
        "contractType": "PERPETUAL",
        "deliveryDate": frames.DELIVERY_PLACEHOLDER_MS,
        "onboardDate": spec.onboard_ms,
        "contractStatus": "TRADING",
        "contractSize": int(spec.contract_size),
        "marginAsset": spec.margin_asset,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": spec.base,
        "quoteAsset": spec.quote,
        "pricePrecision": spec.price_precision,
        "quantityPrecision": spec.quantity_precision,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "equalQtyPrecision": 4,
        "maxMoveOrderLimit": 10000,
        "triggerProtect": "0.0500",
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "filters": filters,
        "orderTypes": usdm["orderTypes"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        "liquidationFee": dec(spec.liquidation_fee, 6),
        "marketTakeBound": "0.05",
    }


def premium_index(spec: SymbolSpec, mark: float, now_ms: int) -> JSON:
    index = Market.index_price(mark)
    return {
        "symbol": spec.symbol,
        "pair": pair_of(spec),
        "markPrice": dec(mark),
        "indexPrice": dec(index),
        "estimatedSettlePrice": dec(index),
        "lastFundingRate": dec(FUNDING_RATE),
        "interestRate": dec(INTEREST_RATE),
        "nextFundingTime": Market.next_funding_ms(now_ms),
        "time": now_ms,
    }


def mark_price_update(symbol: str, mark: float, now_ms: int) -> JSON:
    """dstream ``markPriceUpdate``: USD-M's without the moving average ``ap``."""
    body = frames.mark_price_update(symbol, mark, now_ms)
    del body["ap"]
    return body


def leverage_bracket(spec: SymbolSpec) -> JSON:
    """GET /dapi/v2/leverageBracket element: tiers by ``qtyFloor``/``qtyCap`` in coin."""
    return {
        "symbol": spec.symbol,
        "notionalCoef": 1.0,
        "brackets": [
            {
                "bracket": i + 1,
                "initialLeverage": b.initial_leverage,
                "qtyCap": _number(b.tier.cap),
                "qtyFloor": _number(b.tier.floor),
                "maintMarginRatio": b.tier.mmr,
                "cum": b.tier.cum,
            }
            for i, b in enumerate(spec.brackets)
        ],
    }


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def max_qty(spec: SymbolSpec, leverage: int, mark: float) -> str:
    """``maxQty``: the largest position at ``leverage``, in contracts at ``mark`` (caps are in coin)."""
    return f"{spec.max_notional_for_leverage(leverage) * mark / spec.contract_size:.0f}"


def position_risk(rows: Iterable[LegRisk], specs: Mapping[str, SymbolSpec]) -> list[JSON]:
    """GET /dapi/v1/positionRisk: one row per symbol and position side, flat ones included (with a
    mark of "0.00000000", as Binance sends them)."""
    out: list[JSON] = []
    for leg in rows:
        spec = specs[leg.symbol]
        isolated = leg.margin_mode is MarginMode.ISOLATED
        out.append(
            {
                "symbol": leg.symbol,
                "positionAmt": qty(leg.amount, spec),
                "entryPrice": trim(leg.entry_price),
                "markPrice": dec(leg.mark_price if leg.amount else 0.0),
                "unRealizedProfit": dec(leg.unrealized),
                "liquidationPrice": dec(leg.liquidation_price) if leg.liquidation_price else "0",
                "leverage": str(leg.leverage),
                "maxQty": max_qty(spec, leg.leverage, leg.mark_price),
                "marginType": frames.margin_type_lower(leg.margin_mode),
                "isolatedMargin": dec(leg.isolated_margin if isolated else 0.0),
                "isAutoAddMargin": "false",
                "positionSide": leg.position_side,
                "notionalValue": dec(leg.notional),
                "isolatedWallet": dec(leg.isolated_wallet) if isolated else "0",
                "updateTime": leg.update_time,
                "breakEvenPrice": trim(leg.breakeven_price, 9),
            }
        )
    return out


def _asset_row(risk: AccountRisk, acct: Account) -> JSON:
    pool = risk.cross
    return {
        "asset": risk.asset,
        "walletBalance": dec(risk.wallet_balance),
        "unrealizedProfit": dec(risk.total_unrealized),
        "marginBalance": dec(risk.wallet_balance + risk.total_unrealized),
        "maintMargin": dec(risk.total_maint),
        "initialMargin": dec(risk.total_initial),
        "positionInitialMargin": dec(risk.total_initial),
        "openOrderInitialMargin": dec(0.0),
        "maxWithdrawAmount": dec(min(pool.available, max(pool.wallet, 0.0))),
        "crossWalletBalance": dec(pool.wallet),
        "crossUnPnl": dec(pool.unrealized),
        "availableBalance": dec(pool.available),
        "updateTime": acct.update_time,
    }


def account(risks: Iterable[AccountRisk], acct: Account, specs: Mapping[str, SymbolSpec]) -> JSON:
    """GET /dapi/v1/account: a row per coin the account holds and its open positions; no totals
    (each coin is its own pool)."""
    risks = list(risks)
    return {
        "assets": [_asset_row(risk, acct) for risk in risks],
        "positions": [
            {
                "symbol": leg.symbol,
                "positionAmt": qty(leg.amount, specs[leg.symbol]),
                "initialMargin": dec(leg.initial_margin),
                "maintMargin": dec(leg.maint_margin),
                "unrealizedProfit": dec(leg.unrealized),
                "positionInitialMargin": dec(leg.initial_margin),
                "openOrderInitialMargin": "0",
                "leverage": str(leg.leverage),
                "isolated": leg.margin_mode is MarginMode.ISOLATED,
                "positionSide": leg.position_side,
                "entryPrice": trim(leg.entry_price),
                "maxQty": max_qty(specs[leg.symbol], leg.leverage, leg.mark_price),
                "notionalValue": dec(leg.notional),
                "isolatedWallet": dec(leg.isolated_wallet) if leg.margin_mode is MarginMode.ISOLATED else "0",
                "updateTime": leg.update_time,
                "breakEvenPrice": trim(leg.breakeven_price, 9),
            }
            for risk in risks
            for leg in risk.legs
        ],
        "canDeposit": True,
        "canTrade": True,
        "canWithdraw": True,
        "feeTier": 0,
        "updateTime": 0,
    }


def balance(risks: Iterable[AccountRisk], acct: Account) -> list[JSON]:
    """GET /dapi/v1/balance: a row per coin."""
    return [
        {
            "accountAlias": "SgsR" + acct.api_key[:4],
            "asset": risk.asset,
            "balance": dec(risk.wallet_balance),
            "withdrawAvailable": dec(min(risk.cross.available, max(risk.cross.wallet, 0.0))),
            "crossWalletBalance": dec(risk.cross.wallet),
            "crossUnPnl": dec(risk.cross.unrealized),
            "availableBalance": dec(risk.cross.available),
            "updateTime": acct.update_time,
        }
        for risk in risks
    ]


def order_result(order: Order, spec: SymbolSpec) -> JSON:
    """POST /dapi/v1/order reply: USD-M's with ``pair`` and ``cumBase`` (coin) for ``cumQuote``."""
    body = frames.order_result(order, spec)
    del body["cumQuote"]
    body["cumBase"] = dec(abs(spec.value(order.executed_qty, order.avg_price)) if order.avg_price else 0.0)
    body["pair"] = pair_of(spec)
    for usdm_only in ("priceMatch", "selfTradePreventionMode", "goodTillDate"):
        del body[usdm_only]
    return body


def order_query(order: Order, spec: SymbolSpec) -> JSON:
    body = order_result(order, spec)
    del body["cumQty"]
    body["time"] = order.time
    return body


def force_order(order: Order, spec: SymbolSpec) -> JSON:
    body = frames.force_order(order, spec)
    del body["cumQuote"]
    body["cumBase"] = dec(abs(spec.value(order.executed_qty, order.avg_price)))
    body["pair"] = pair_of(spec)
    return body


def user_frame(event: LedgerEvent, specs: Mapping[str, SymbolSpec]) -> JSON:
    if isinstance(event, AccountUpdate):
        body = frames.account_update(event)
        body["a"]["B"][0]["a"] = event.asset
        for entry in body["a"]["P"]:
            del entry["ma"]
        return body
    if isinstance(event, OrderUpdate):
        spec = specs[event.order.symbol]
        body = frames.order_trade_update(event, spec)
        body["o"]["N"] = spec.margin_asset
        body["o"]["ma"] = spec.margin_asset
        return body
    return margin_call(event)


def margin_call(ev: MarginCall) -> JSON:
    return frames.margin_call(ev)
