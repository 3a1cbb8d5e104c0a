"""Bybit v5 bodies, built from the ledger's values, in the shapes of the recorded payloads
(``tests/venues/fixtures/bybit``): every number a decimal string, ``""`` for a figure Bybit does not
have (a cross ``liqPrice`` outside the price band, a flat row's ``side``), ``positionIdx`` 0 (one-way),
1 (hedge buy side) or 2 (hedge sell side). Linear quantities are base units; inverse ones USD contracts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from monitor.model import MarginMode
from monitor.sim.frames import dec, trim
from monitor.sim.ledger import BOTH, LONG, SHORT, AccountRisk, LegRisk, Order
from monitor.sim.specs import SymbolSpec

JSON = dict[str, Any]

POSITION_IDX = {BOTH: 0, LONG: 1, SHORT: 2}
POSITION_SIDE_OF_IDX = {0: BOTH, 1: LONG, 2: SHORT}
ORDER_STATUS = {
    "NEW": "New",
    "FILLED": "Filled",
    "PARTIALLY_FILLED": "PartiallyFilled",
    "CANCELED": "Cancelled",
    "EXPIRED": "Cancelled",
}


def category(spec: SymbolSpec) -> str:
    return "inverse" if spec.inverse else "linear"


def envelope(result: Any, now_ms: int, msg: str = "OK") -> JSON:
    return {"retCode": 0, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now_ms}


def instrument(spec: SymbolSpec) -> JSON:
    max_lev = max(b.initial_leverage for b in spec.brackets)
    return {
        "symbol": spec.symbol,
        "contractType": "InversePerpetual" if spec.inverse else "LinearPerpetual",
        "status": "Trading",
        "baseCoin": spec.base,
        "quoteCoin": "USD" if spec.inverse else spec.quote,
        "launchTime": str(spec.onboard_ms),
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(spec.price_precision),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": f"{max_lev:.2f}", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": spec.tick_size, "maxPrice": "1999999.80", "tickSize": spec.tick_size},
        "lotSizeFilter": {
            "maxOrderQty": spec.max_qty,
            "minOrderQty": spec.min_qty,
            "qtyStep": spec.step_size,
            "postOnlyMaxOrderQty": spec.max_qty,
            "maxMktOrderQty": spec.market_max_qty,
            "minNotionalValue": trim(spec.min_notional),
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "settleCoin": spec.margin_asset,
        "copyTrading": "both",
        "upperFundingRate": "0.00375",
        "lowerFundingRate": "-0.00375",
        "isPreListing": False,
        "preListingInfo": None,
        "symbolType": "",
    }


def ticker(spec: SymbolSpec, mark: float, now_ms: int) -> JSON:
    p = dec(mark, spec.price_precision)
    return {
        "symbol": spec.symbol,
        "lastPrice": p,
        "indexPrice": p,
        "markPrice": p,
        "prevPrice24h": p,
        "price24hPcnt": "0",
        "highPrice24h": p,
        "lowPrice24h": p,
        "prevPrice1h": p,
        "openInterest": "0",
        "openInterestValue": "0",
        "turnover24h": "0",
        "volume24h": "0",
        "fundingRate": "0.0001",
        "nextFundingTime": str((now_ms // 28_800_000 + 1) * 28_800_000),
        "predictedDeliveryPrice": "",
        "basisRate": "",
        "deliveryFeeRate": "",
        "deliveryTime": "0",
        "ask1Size": "1",
        "bid1Price": p,
        "ask1Price": p,
        "bid1Size": "1",
        "basis": "",
    }


def risk_limits(spec: SymbolSpec) -> list[JSON]:
    """The tiers as Bybit lists them: the cap of each (``riskLimitValue``), MMR and IMR as fractions,
    ``mmDeduction`` ``""`` on the lowest tier."""
    rows = []
    for i, b in enumerate(spec.brackets):
        t = b.tier
        rows.append(
            {
                "id": i + 1,
                "symbol": spec.symbol,
                "riskLimitValue": trim(t.cap),
                "maintenanceMargin": trim(t.mmr),
                "initialMargin": trim(1 / b.initial_leverage),
                "isLowestRisk": 1 if i == 0 else 0,
                "maxLeverage": f"{b.initial_leverage:.2f}",
                "mmDeduction": "" if i == 0 else trim(t.cum),
            }
        )
    return rows


def position(row: LegRisk, spec: SymbolSpec, now_ms: int) -> JSON:
    """One ``/v5/position/list`` row (or a ``position`` topic item)."""
    amount = abs(row.amount)
    side = "Buy" if row.amount > 0 else "Sell" if row.amount < 0 else ""
    pp = spec.price_precision
    flat = row.amount == 0
    isolated = row.margin_mode is MarginMode.ISOLATED
    liq = row.liquidation_price
    return {
        "positionIdx": POSITION_IDX[row.position_side],
        "riskId": 1,
        "riskLimitValue": trim(spec.brackets[0].tier.cap),
        "symbol": spec.symbol,
        "side": side,
        "size": dec(amount, spec.quantity_precision),
        "avgPrice": "0" if flat else trim(row.entry_price),
        "positionValue": "" if flat else dec(abs(row.notional), 8),
        "tradeMode": 1 if isolated else 0,
        "autoAddMargin": 0,
        "positionStatus": "Normal",
        "leverage": str(row.leverage),
        "markPrice": dec(row.mark_price, pp),
        "liqPrice": "" if flat or liq is None or liq <= 0 else dec(liq, pp),
        "bustPrice": "",
        # an isolated leg's positionIM is its whole margin, added margin included (add-margin example)
        "positionIM": dec(row.isolated_wallet if isolated else row.initial_margin, 8),
        "positionMM": dec(row.maint_margin, 8),
        "positionBalance": dec(row.isolated_wallet if isolated else row.initial_margin, 8),
        "takeProfit": "",
        "stopLoss": "",
        "trailingStop": "0",
        "unrealisedPnl": "" if flat else dec(row.unrealized, 8),
        "curRealisedPnl": "0",
        "cumRealisedPnl": "0",
        "adlRankIndicator": 2 if not flat else 0,
        "createdTime": str(row.update_time),
        "updatedTime": str(row.update_time),
        "seq": row.update_time,
        "isReduceOnly": False,
        "mmrSysUpdatedTime": "",
        "leverageSysUpdatedTime": "",
        "tpslMode": "Full",
    }


def wallet(risk: AccountRisk, wallets: dict[str, float]) -> JSON:
    """``/v5/account/wallet-balance`` for a UTA: the account-wide figures in USD (the ledger's USDT pool
    at 1 USD), and one row per coin. ``accountMMRate`` = total MM / margin balance, 4 decimals."""
    pool = risk.cross
    iso_im = sum(leg.initial_margin for leg in risk.legs if leg.margin_mode is MarginMode.ISOLATED)
    iso_mm = sum(leg.maint_margin for leg in risk.legs if leg.margin_mode is MarginMode.ISOLATED)
    iso_upnl = sum(leg.unrealized for leg in risk.legs if leg.margin_mode is MarginMode.ISOLATED)
    wallet_balance = pool.wallet + risk.isolated_wallets
    upnl = pool.unrealized + iso_upnl
    margin_balance = wallet_balance + upnl
    total_im = pool.initial_margin + iso_im
    total_mm = pool.maint_margin + iso_mm
    mm_rate = pool.maint_margin / pool.equity if pool.equity > 0 else 0.0
    im_rate = pool.initial_margin / pool.equity if pool.equity > 0 else 0.0
    coins = [
        {
            "coin": coin,
            "equity": dec(amount + (upnl if coin == risk.asset else 0.0), 8),
            "usdValue": dec(amount + (upnl if coin == risk.asset else 0.0), 8),
            "walletBalance": dec(amount + (risk.isolated_wallets if coin == risk.asset else 0.0), 8),
            "free": "",
            "locked": "0",
            "spotHedgingQty": "0",
            "borrowAmount": "0.000000000000000000",
            "availableToWithdraw": "",
            "availableToBorrow": "",
            "accruedInterest": "0",
            "totalOrderIM": "0",
            "totalPositionIM": dec(total_im if coin == risk.asset else 0.0, 8),
            "totalPositionMM": dec(total_mm if coin == risk.asset else 0.0, 8),
            "unrealisedPnl": dec(upnl if coin == risk.asset else 0.0, 8),
            "cumRealisedPnl": "0",
            "bonus": "0",
            "marginCollateral": True,
            "collateralSwitch": True,
            "spotBorrow": "0",
        }
        for coin, amount in sorted(wallets.items())
    ]
    return {
        "list": [
            {
                "accountType": "UNIFIED",
                "accountLTV": "0",
                "accountIMRate": dec(im_rate, 4),
                "accountIMRateByMp": dec(im_rate, 4),
                "accountMMRate": dec(mm_rate, 4),
                "accountMMRateByMp": dec(mm_rate, 4),
                "totalEquity": dec(margin_balance, 8),
                "totalWalletBalance": dec(wallet_balance, 8),
                "totalMarginBalance": dec(margin_balance, 8),
                "totalAvailableBalance": dec(max(0.0, pool.equity - pool.initial_margin), 8),
                "totalPerpUPL": dec(upnl, 8),
                "totalInitialMargin": dec(total_im, 8),
                "totalInitialMarginByMp": dec(total_im, 8),
                "totalMaintenanceMargin": dec(total_mm, 8),
                "totalMaintenanceMarginByMp": dec(total_mm, 8),
                "coin": coins,
            }
        ]
    }


def order(o: Order, spec: SymbolSpec) -> JSON:
    """One order as ``/v5/order/realtime`` and ``/v5/order/history`` list it."""
    qp = spec.quantity_precision
    filled = o.executed_qty
    return {
        "orderId": str(o.order_id),
        "orderLinkId": o.client_order_id,
        "blockTradeId": "",
        "symbol": o.symbol,
        "price": "0",
        "qty": dec(o.orig_qty, qp),
        "side": "Buy" if o.side == "BUY" else "Sell",
        "isLeverage": "",
        "positionIdx": POSITION_IDX.get(o.position_side, 0),
        "orderStatus": ORDER_STATUS.get(o.status, "New"),
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": trim(o.avg_price) if filled else "0",
        "leavesQty": dec(o.orig_qty - filled, qp),
        "leavesValue": "0",
        "cumExecQty": dec(filled, qp),
        "cumExecValue": dec(filled * o.avg_price, 8),
        "cumExecFee": dec(o.commission, 8),
        "timeInForce": "IOC",
        "orderType": "Market",
        # who made it: the user, or the liquidation engine (Bybit's BustTrade orders)
        "createType": "CreateByLiq" if o.order_type == "LIQUIDATION" else "CreateByUser",
        "stopOrderType": "UNKNOWN",
        "orderIv": "",
        "triggerPrice": "0",
        "takeProfit": "",
        "stopLoss": "",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": 0,
        "triggerBy": "",
        "lastPriceOnCreated": "",
        "reduceOnly": o.reduce_only,
        "closeOnTrigger": False,
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "tpslMode": "",
        "tpLimitPrice": "",
        "slLimitPrice": "",
        "placeType": "",
        "createdTime": str(o.time),
        "updatedTime": str(o.update_time),
    }


def account_info(margin_mode: str, now_ms: int) -> JSON:
    return {
        "marginMode": margin_mode,
        "updatedTime": str(now_ms),
        "unifiedMarginStatus": 5,
        "dcpStatus": "OFF",
        "timeWindow": 10,
        "smpGroup": 0,
        "isMasterTrader": False,
        "spotHedgingStatus": "OFF",
    }


def api_key_info(api_key: str) -> JSON:
    return {
        "id": "1",
        "note": "simulator",
        "apiKey": api_key,
        "readOnly": 0,
        "secret": "",
        "permissions": {"ContractTrade": ["Order", "Position"], "Wallet": ["AccountTransfer"]},
        "ips": ["*"],
        "type": 1,
        "deadlineDay": 90,
        "unified": 0,
        "uta": 1,
        "userID": 1,
        "isMaster": True,
    }


def listed(rows: Iterable[JSON], cat: str) -> JSON:
    return {"category": cat, "list": list(rows), "nextPageCursor": ""}
