"""Binance USD-M wire shapes: REST bodies and stream frames built from ledger state and events.

Pure functions, one per body or frame, following the payloads in
``/work/shared/fixtures/binance-usdm`` (field names, key order of the observed captures, and JSON types):
prices, quantities, balances and PnL are decimal strings; ids and millisecond times are numbers;
leverage brackets are numbers; ``positionMargin.amount`` is a number. Margin-type spellings differ by
surface and are kept that way (positionRisk/ACCOUNT_UPDATE ``cross``/``isolated``, MARGIN_CALL
``CROSSED``, symbolConfig ``CROSSED``/``ISOLATED``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from monitor.model import MarginMode
from monitor.sim.ledger import (
    Account,
    AccountRisk,
    AccountUpdate,
    LedgerEvent,
    LegRisk,
    LegState,
    MarginCall,
    Order,
    OrderUpdate,
)
from monitor.sim.market import FUNDING_RATE, INTEREST_RATE, Market
from monitor.sim.specs import SymbolSpec

JSON = dict[str, Any]
ASSET = "USDT"
DELIVERY_PLACEHOLDER_MS = 4133404800000


# ---- number formatting --------------------------------------------------------------------------


def dec(x: float, places: int = 8) -> str:
    """Fixed-point decimal string, never ``-0.000``."""
    s = f"{x:.{places}f}"
    return s[1:] if s.startswith("-") and not s.strip("-0.") else s


def trim(x: float, places: int = 8) -> str:
    """Decimal string without trailing zeros, keeping one decimal (Binance ``entryPrice`` style)."""
    s = dec(x, places).rstrip("0")
    return s + "0" if s.endswith(".") else s


def qty(x: float, spec: SymbolSpec) -> str:
    return dec(x, spec.quantity_precision)


def price(x: float, spec: SymbolSpec) -> str:
    return dec(x, spec.price_precision)


def avg_price(x: float, spec: SymbolSpec) -> str:
    return dec(x, max(spec.price_precision, 5))


def margin_type_lower(mode: MarginMode) -> str:
    return "isolated" if mode is MarginMode.ISOLATED else "cross"


def margin_type_upper(mode: MarginMode) -> str:
    return "ISOLATED" if mode is MarginMode.ISOLATED else "CROSSED"


# ---- market data -------------------------------------------------------------------------------


def server_time(now_ms: int) -> JSON:
    return {"serverTime": now_ms}


def exchange_info(specs: Iterable[SymbolSpec], now_ms: int) -> JSON:
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ],
        "exchangeFilters": [],
        "assets": [{"asset": ASSET, "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": [symbol_info(spec) for spec in specs],
    }


def symbol_info(spec: SymbolSpec) -> JSON:
    max_price = spec.start_price * 100
    return {
        "symbol": spec.symbol,
        "pair": spec.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": DELIVERY_PLACEHOLDER_MS,
        "onboardDate": spec.onboard_ms,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": spec.base,
        "quoteAsset": spec.quote,
        "marginAsset": spec.quote,
        "pricePrecision": spec.price_precision,
        "quantityPrecision": spec.quantity_precision,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": dec(spec.liquidation_fee, 6),
        "marketTakeBound": "0.30",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "minPrice": spec.tick_size,
                "maxPrice": dec(max_price, spec.price_precision),
                "filterType": "PRICE_FILTER",
                "tickSize": spec.tick_size,
            },
            {
                "stepSize": spec.step_size,
                "filterType": "LOT_SIZE",
                "maxQty": spec.max_qty,
                "minQty": spec.min_qty,
            },
            {
                "stepSize": spec.step_size,
                "filterType": "MARKET_LOT_SIZE",
                "maxQty": spec.market_max_qty,
                "minQty": spec.min_qty,
            },
            {"limit": 200, "filterType": "MAX_NUM_ORDERS"},
            {"limit": 10, "filterType": "MAX_NUM_ALGO_ORDERS"},
            {"notional": f"{spec.min_notional:g}", "filterType": "MIN_NOTIONAL"},
            {
                "multiplierDown": "0.9500",
                "multiplierUp": "1.0500",
                "multiplierDecimal": "4",
                "filterType": "PERCENT_PRICE",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSets": ["GRID", "COPY"],
    }


def premium_index(symbol: str, mark: float, now_ms: int) -> JSON:
    index = Market.index_price(mark)
    return {
        "symbol": symbol,
        "markPrice": dec(mark),
        "indexPrice": dec(index),
        "estimatedSettlePrice": dec(index),
        "lastFundingRate": dec(FUNDING_RATE),
        "interestRate": dec(INTEREST_RATE),
        "nextFundingTime": Market.next_funding_ms(now_ms),
        "time": now_ms,
    }


def mark_price_update(symbol: str, mark: float, now_ms: int) -> JSON:
    index = Market.index_price(mark)
    return {
        "e": "markPriceUpdate",
        "E": now_ms,
        "s": symbol,
        "p": dec(mark),
        "ap": dec(mark),
        "i": dec(index),
        "P": dec(index),
        "r": dec(FUNDING_RATE),
        "T": Market.next_funding_ms(now_ms),
    }


def leverage_bracket(spec: SymbolSpec) -> JSON:
    return {
        "symbol": spec.symbol,
        "brackets": [
            {
                "bracket": i + 1,
                "initialLeverage": b.initial_leverage,
                "notionalCap": _number(b.tier.cap),
                "notionalFloor": _number(b.tier.floor),
                "maintMarginRatio": b.tier.mmr,
                "cum": b.tier.cum,
            }
            for i, b in enumerate(spec.brackets)
        ],
    }


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


# ---- account views -----------------------------------------------------------------------------


def position_risk_v3(
    risk: AccountRisk, specs: Mapping[str, SymbolSpec], symbol: str | None = None
) -> list[JSON]:
    """GET /fapi/v3/positionRisk: open legs only."""
    return [_risk_v3(leg, specs[leg.symbol]) for leg in risk.legs if symbol is None or leg.symbol == symbol]


def _risk_v3(leg: LegRisk, spec: SymbolSpec) -> JSON:
    isolated = leg.margin_mode is MarginMode.ISOLATED
    return {
        "symbol": leg.symbol,
        "positionSide": leg.position_side,
        "positionAmt": qty(leg.amount, spec),
        "entryPrice": trim(leg.entry_price),
        "breakEvenPrice": trim(leg.breakeven_price, 9),
        "markPrice": dec(leg.mark_price),
        "unRealizedProfit": dec(leg.unrealized),
        "liquidationPrice": dec(leg.liquidation_price) if leg.liquidation_price else "0",
        "isolatedMargin": dec(leg.isolated_margin) if isolated else "0",
        "notional": dec(leg.notional),
        "marginAsset": ASSET,
        "isolatedWallet": dec(leg.isolated_wallet) if isolated else "0",
        "initialMargin": dec(leg.initial_margin),
        "maintMargin": dec(leg.maint_margin),
        "positionInitialMargin": dec(leg.initial_margin),
        "openOrderInitialMargin": "0",
        "adl": 2 if leg.amount else 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": leg.update_time,
    }


def position_risk_v2(rows: Iterable[LegRisk], specs: Mapping[str, SymbolSpec]) -> list[JSON]:
    """GET /fapi/v2/positionRisk: one row per symbol and position side, flat ones included."""
    out: list[JSON] = []
    for leg in rows:
        spec = specs[leg.symbol]
        isolated = leg.margin_mode is MarginMode.ISOLATED
        out.append(
            {
                "symbol": leg.symbol,
                "positionAmt": qty(leg.amount, spec),
                "entryPrice": trim(leg.entry_price),
                "breakEvenPrice": trim(leg.breakeven_price, 9),
                "markPrice": dec(leg.mark_price),
                "unRealizedProfit": dec(leg.unrealized),
                "liquidationPrice": dec(leg.liquidation_price) if leg.liquidation_price else "0",
                "leverage": str(leg.leverage),
                "maxNotionalValue": f"{spec.max_notional_for_leverage(leg.leverage):.0f}",
                "marginType": margin_type_lower(leg.margin_mode),
                "isolatedMargin": dec(leg.isolated_margin if isolated else 0.0),
                "isAutoAddMargin": "false",
                "positionSide": leg.position_side,
                "notional": dec(leg.notional),
                "isolatedWallet": dec(leg.isolated_wallet) if isolated else "0",
                "updateTime": leg.update_time,
            }
        )
    return out


def _amount(x: float) -> str:
    return trim(x, 8) if x else "0"


def _asset_row(risk: AccountRisk, acct: Account, *, v2: bool) -> JSON:
    pool = risk.cross
    row: JSON = {
        "asset": ASSET,
        "walletBalance": dec(risk.wallet_balance),
        "unrealizedProfit": dec(risk.total_unrealized),
        "marginBalance": dec(risk.wallet_balance + risk.total_unrealized),
        "maintMargin": dec(risk.total_maint),
        "initialMargin": dec(risk.total_initial),
        "positionInitialMargin": dec(risk.total_initial),
        "openOrderInitialMargin": dec(0.0),
        "crossWalletBalance": dec(pool.wallet),
        "crossUnPnl": dec(pool.unrealized),
        "availableBalance": dec(pool.available),
        "maxWithdrawAmount": dec(min(pool.available, max(pool.wallet, 0.0))),
    }
    if v2:
        row["marginAvailable"] = True
    row["updateTime"] = acct.update_time
    return row


def _totals(risk: AccountRisk) -> JSON:
    """The account's ``total*`` fields: USDT in single-asset mode; in Multi-Assets mode USD sums over
    every margin asset (balances at their price, without haircut, as the documented example's sums
    are), while ``availableBalance`` is what the haircut pool leaves free."""
    pool = risk.cross
    others = sum(amount * price for _, amount, price in risk.assets)
    wallet = risk.wallet_balance + others
    return {
        "totalInitialMargin": dec(risk.total_initial),
        "totalMaintMargin": dec(risk.total_maint),
        "totalWalletBalance": dec(wallet),
        "totalUnrealizedProfit": dec(risk.total_unrealized),
        "totalMarginBalance": dec(wallet + risk.total_unrealized),
        "totalPositionInitialMargin": dec(risk.total_initial),
        "totalOpenOrderInitialMargin": dec(0.0),
        "totalCrossWalletBalance": dec(pool.wallet + others),
        "totalCrossUnPnl": dec(pool.unrealized),
        "availableBalance": dec(pool.available),
        "maxWithdrawAmount": dec(min(pool.available, max(pool.wallet + others, 0.0))),
    }


def _other_asset_rows(risk: AccountRisk, acct: Account, *, v2: bool) -> list[JSON]:
    """Multi-Assets mode: one row per other margin asset, in that asset's units. ``availableBalance``
    is the account's free margin converted into the asset (the observed body shows it on assets with
    no balance too)."""
    rows: list[JSON] = []
    free = risk.cross.available
    for asset, amount, price in risk.assets:
        row: JSON = {
            "asset": asset,
            "walletBalance": dec(amount),
            "unrealizedProfit": dec(0.0),
            "marginBalance": dec(amount),
            "maintMargin": dec(0.0),
            "initialMargin": dec(0.0),
            "positionInitialMargin": dec(0.0),
            "openOrderInitialMargin": dec(0.0),
            "crossWalletBalance": dec(amount),
            "crossUnPnl": dec(0.0),
            "availableBalance": dec(free / price),
            "maxWithdrawAmount": dec(max(0.0, min(amount, free / price))),
        }
        if v2:
            row["marginAvailable"] = True
        row["updateTime"] = acct.update_time
        rows.append(row)
    return rows


def account_v3(risk: AccountRisk, acct: Account, specs: Mapping[str, SymbolSpec]) -> JSON:
    """GET /fapi/v3/account: positions with a size only, no leverage or prices; in Multi-Assets mode
    a row for each other margin asset and USD totals."""
    body = _totals(risk)
    body["assets"] = [_asset_row(risk, acct, v2=False), *_other_asset_rows(risk, acct, v2=False)]
    body["positions"] = [
        {
            "symbol": leg.symbol,
            "positionSide": leg.position_side,
            "positionAmt": qty(leg.amount, specs[leg.symbol]),
            "unrealizedProfit": dec(leg.unrealized),
            "isolatedMargin": dec(leg.isolated_margin) if leg.margin_mode is MarginMode.ISOLATED else "0",
            "notional": dec(leg.notional),
            "isolatedWallet": dec(leg.isolated_wallet) if leg.margin_mode is MarginMode.ISOLATED else "0",
            "initialMargin": dec(leg.initial_margin),
            "maintMargin": dec(leg.maint_margin),
            "updateTime": leg.update_time,
        }
        for leg in risk.legs
    ]
    return body


def account_v2(risk: AccountRisk, acct: Account, specs: Mapping[str, SymbolSpec]) -> JSON:
    """GET /fapi/v2/account: v3 plus the v2-only account and position fields."""
    body: JSON = {
        "feeTier": 0,
        "feeBurn": True,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "updateTime": 0,
        "multiAssetsMargin": risk.multi_assets,
        "tradeGroupId": -1,
    }
    body.update(_totals(risk))
    body["assets"] = [_asset_row(risk, acct, v2=True), *_other_asset_rows(risk, acct, v2=True)]
    body["positions"] = [
        {
            "symbol": leg.symbol,
            "initialMargin": dec(leg.initial_margin),
            "maintMargin": dec(leg.maint_margin),
            "unrealizedProfit": dec(leg.unrealized),
            "positionInitialMargin": dec(leg.initial_margin),
            "openOrderInitialMargin": "0",
            "leverage": str(leg.leverage),
            "isolated": leg.margin_mode is MarginMode.ISOLATED,
            "entryPrice": trim(leg.entry_price),
            "breakEvenPrice": trim(leg.breakeven_price, 9),
            "maxNotional": f"{specs[leg.symbol].max_notional_for_leverage(leg.leverage):.0f}",
            "bidNotional": "0",
            "askNotional": "0",
            "positionSide": leg.position_side,
            "positionAmt": qty(leg.amount, specs[leg.symbol]),
            "isolatedWallet": dec(leg.isolated_wallet) if leg.margin_mode is MarginMode.ISOLATED else "0",
            "updateTime": leg.update_time,
        }
        for leg in risk.legs
    ]
    return body


def balance(risk: AccountRisk, acct: Account) -> list[JSON]:
    """GET /fapi/v2/balance and /fapi/v3/balance (same body): a row per margin asset held."""
    pool = risk.cross
    alias = "SgsR" + acct.api_key[:4]
    others = [
        {
            "accountAlias": alias,
            "asset": row["asset"],
            "balance": row["walletBalance"],
            "crossWalletBalance": row["crossWalletBalance"],
            "crossUnPnl": row["crossUnPnl"],
            "availableBalance": row["availableBalance"],
            "maxWithdrawAmount": row["maxWithdrawAmount"],
            "marginAvailable": True,
            "updateTime": row["updateTime"],
        }
        for row in _other_asset_rows(risk, acct, v2=False)
    ]
    return [
        {
            "accountAlias": "SgsR" + acct.api_key[:4],
            "asset": ASSET,
            "balance": dec(risk.wallet_balance),
            "crossWalletBalance": dec(pool.wallet),
            "crossUnPnl": dec(pool.unrealized),
            "availableBalance": dec(pool.available),
            "maxWithdrawAmount": dec(min(pool.available, max(pool.wallet, 0.0))),
            "marginAvailable": True,
            "updateTime": acct.update_time,
        },
        *others,
    ]


def asset_index(asset: str, price: float, haircut: float, now_ms: int) -> JSON:
    """GET /fapi/v1/assetIndex element (Multi-Assets mode asset index, docs example shape): a margin
    asset's index against USD and the buffers its value is cut by."""
    return {
        "symbol": f"{asset}USD",
        "time": now_ms,
        "index": dec(price),
        "bidBuffer": dec(haircut),
        "askBuffer": dec(haircut),
        "bidRate": dec(price * (1 - haircut)),
        "askRate": dec(price * (1 + haircut)),
        "autoExchangeBidBuffer": dec(haircut / 2),
        "autoExchangeAskBuffer": dec(haircut / 2),
        "autoExchangeBidRate": dec(price * (1 - haircut / 2)),
        "autoExchangeAskRate": dec(price * (1 + haircut / 2)),
    }


def symbol_config(acct: Account, specs: Iterable[SymbolSpec]) -> list[JSON]:
    out: list[JSON] = []
    for spec in specs:
        cfg = acct.config(spec.symbol)
        out.append(
            {
                "symbol": spec.symbol,
                "marginType": margin_type_upper(cfg.margin_mode),
                "isAutoAddMargin": False,
                "leverage": cfg.leverage,
                "maxNotionalValue": f"{spec.max_notional_for_leverage(cfg.leverage):.0f}",
            }
        )
    return out


# ---- orders ------------------------------------------------------------------------------------


def order_result(order: Order, spec: SymbolSpec) -> JSON:
    """POST /fapi/v1/order reply (RESULT); with ACK the same fields show the order as NEW."""
    return {
        "orderId": order.order_id,
        "symbol": order.symbol,
        "status": order.status,
        "clientOrderId": order.client_order_id,
        "price": price(0.0, spec),
        "avgPrice": avg_price(order.avg_price, spec),
        "origQty": qty(order.orig_qty, spec),
        "executedQty": qty(order.executed_qty, spec),
        "cumQty": qty(order.executed_qty, spec),
        "cumQuote": dec(order.cum_quote, 5),
        "timeInForce": order.time_in_force,
        "type": _rest_type(order),
        "reduceOnly": order.reduce_only,
        "closePosition": False,
        "side": order.side,
        "positionSide": order.position_side,
        "stopPrice": price(0.0, spec),
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": _rest_type(order),
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "updateTime": order.update_time,
    }


def order_query(order: Order, spec: SymbolSpec) -> JSON:
    """GET /fapi/v1/order: like the new-order reply, without ``cumQty`` and with ``time``."""
    body = order_result(order, spec)
    del body["cumQty"]
    body["time"] = order.time
    return body


def force_order(order: Order, spec: SymbolSpec) -> JSON:
    """GET /fapi/v1/forceOrders row: liquidation orders are listed as LIMIT IOC."""
    return {
        "orderId": order.order_id,
        "symbol": order.symbol,
        "status": order.status,
        "clientOrderId": order.client_order_id,
        "price": price(order.avg_price, spec),
        "avgPrice": avg_price(order.avg_price, spec),
        "origQty": qty(order.orig_qty, spec),
        "executedQty": qty(order.executed_qty, spec),
        "cumQuote": dec(order.cum_quote, 5),
        "timeInForce": "IOC",
        "type": "LIMIT",
        "reduceOnly": False,
        "closePosition": False,
        "side": order.side,
        "positionSide": order.position_side,
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "origType": "LIMIT",
        "time": order.time,
        "updateTime": order.update_time,
    }


def _rest_type(order: Order) -> str:
    return "LIMIT" if order.order_type == "LIQUIDATION" else order.order_type


def position_margin(amount: float, kind: int) -> JSON:
    return {"amount": amount, "code": 200, "msg": "Successfully modify position margin.", "type": kind}


# ---- user-stream events ------------------------------------------------------------------------


def user_frame(event: LedgerEvent, specs: Mapping[str, SymbolSpec]) -> JSON:
    if isinstance(event, AccountUpdate):
        return account_update(event)
    if isinstance(event, OrderUpdate):
        return order_trade_update(event, specs[event.order.symbol])
    return margin_call(event)


def account_update(ev: AccountUpdate) -> JSON:
    return {
        "e": "ACCOUNT_UPDATE",
        "T": ev.time,
        "E": ev.time,
        "a": {
            "B": [
                {
                    "a": ASSET,
                    "wb": dec(ev.wallet_balance),
                    "cw": dec(ev.cross_wallet),
                    "bc": dec(ev.balance_change),
                },
                *(
                    {"a": a, "wb": dec(amount), "cw": dec(amount), "bc": dec(change)}
                    for a, amount, change in ev.assets
                ),
            ],
            "P": [_position_entry(leg) for leg in ev.legs],
            "m": ev.reason,
        },
    }


def _position_entry(leg: LegState) -> JSON:
    return {
        "s": leg.symbol,
        "pa": _amount(leg.amount),
        "ep": trim(leg.entry_price),
        "bep": trim(leg.breakeven_price, 9),
        "cr": dec(leg.realized),
        "up": dec(leg.unrealized),
        "mt": margin_type_lower(leg.margin_mode),
        "iw": dec(leg.isolated_wallet) if leg.margin_mode is MarginMode.ISOLATED else "0",
        "ps": leg.position_side,
        "ma": ASSET,
    }


def order_trade_update(ev: OrderUpdate, spec: SymbolSpec) -> JSON:
    o = ev.order
    liquidation = o.order_type == "LIQUIDATION"
    return {
        "e": "ORDER_TRADE_UPDATE",
        "T": ev.time,
        "E": ev.time,
        "o": {
            "s": o.symbol,
            "c": o.client_order_id,
            "S": o.side,
            "o": o.order_type,
            "f": o.time_in_force,
            "q": qty(o.orig_qty, spec),
            "p": price(o.avg_price, spec) if liquidation else "0",
            "ap": avg_price(o.avg_price, spec),
            "sp": "0",
            "x": ev.execution,
            "X": o.status,
            "i": o.order_id,
            "l": qty(ev.last_qty, spec),
            "z": qty(o.executed_qty, spec),
            "L": trim(ev.last_price) if ev.last_qty else "0",
            "n": dec(ev.commission),
            "N": ASSET,
            "T": ev.time,
            "t": ev.trade_id,
            "b": "0",
            "a": "0",
            "m": False,
            "R": o.reduce_only,
            "wt": "CONTRACT_PRICE",
            "ot": o.order_type,
            "ps": o.position_side,
            "cp": False,
            "rp": dec(ev.realized),
            "pP": False,
            "si": 0,
            "ss": 0,
            "V": "EXPIRE_MAKER",
            "pm": "NONE",
            "gtd": 0,
            "er": "0",
        },
    }


def margin_call(ev: MarginCall) -> JSON:
    return {
        "e": "MARGIN_CALL",
        "E": ev.time,
        "cw": dec(ev.cross_wallet),
        "p": [
            {
                "s": leg.symbol,
                "ps": leg.position_side,
                "pa": _amount(leg.amount),
                "mt": margin_type_upper(leg.margin_mode),
                "iw": dec(leg.isolated_wallet) if leg.margin_mode is MarginMode.ISOLATED else "0",
                "mp": dec(leg.mark_price),
                "up": dec(leg.unrealized),
                "mm": dec(leg.maint_margin),
            }
            for leg in ev.legs
        ],
    }


def listen_key_expired(listen_key: str, now_ms: int) -> JSON:
    return {"e": "listenKeyExpired", "E": now_ms, "listenKey": listen_key}
