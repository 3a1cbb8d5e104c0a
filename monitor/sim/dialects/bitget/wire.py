"""Bitget's classic (v2 mix) bodies, built from the simulator's ledger views.

Shapes follow the captures in ``tests/venues/fixtures/bitget/`` (and the shared fixture set they come
from): every number is a decimal string except where Bitget sends a number (the WS ``leverage`` and
``marginRate`` of the ``positions`` channel, the login ``code``). Sizes are in base coin. A leg of a
one-way account is reported with ``holdSide`` long/short by its sign, as Bitget does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from monitor.margin.tiers import tier_index_extended
from monitor.model import MarginMode
from monitor.sim.ledger import LONG, SHORT, AccountRisk, LegRisk, Order, Trade
from monitor.sim.specs import SymbolSpec, decimals_of

JSON = dict[str, Any]
PRODUCT = "USDT-FUTURES"
COIN = "USDT"
OK = "00000"


def num(x: float, places: int = 10) -> str:
    """A decimal string without float noise or exponent (``"0"`` for zero)."""
    text = f"{x:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def envelope(data: Any, now_ms: int) -> JSON:
    return {"code": OK, "msg": "success", "requestTime": now_ms, "data": data}


def error_body(code: str, msg: str, now_ms: int) -> JSON:
    return {"code": code, "msg": msg, "requestTime": now_ms, "data": None}


def margin_mode(mode: MarginMode) -> str:
    return "isolated" if mode is MarginMode.ISOLATED else "crossed"


def pos_mode(hedge: bool) -> str:
    return "hedge_mode" if hedge else "one_way_mode"


def hold_side(position_side: str, amount: float) -> str:
    if position_side == LONG:
        return "long"
    if position_side == SHORT:
        return "short"
    return "long" if amount >= 0 else "short"


def keep_margin_rate(spec: SymbolSpec, value: float, taker_fee: float) -> float:
    """The published rate of the tier ``value`` falls in: the simulator's rate less the fee, which
    Bitget adds on top of ``keepMarginRate`` (the book's tiers include it)."""
    return spec.tiers[tier_index_extended(spec.tiers, value)].mmr - taker_fee


# ---- public ------------------------------------------------------------------------------------


def contract(spec: SymbolSpec, taker_fee: float) -> JSON:
    """One row of GET /api/v2/mix/market/contracts."""
    tick_places = decimals_of(spec.tick_size)
    end_step = round(float(spec.tick_size) * 10**tick_places)
    return {
        "symbol": spec.symbol,
        "baseCoin": spec.base,
        "quoteCoin": spec.quote,
        "buyLimitPriceRatio": "0.05",
        "sellLimitPriceRatio": "0.05",
        "feeRateUpRatio": "0.005",
        "makerFeeRate": "0.0002",
        "takerFeeRate": num(taker_fee),
        "openCostUpRatio": "0.01",
        "supportMarginCoins": [spec.quote],
        "minTradeNum": spec.min_qty,
        "priceEndStep": str(end_step),
        "volumePlace": str(decimals_of(spec.step_size)),
        "pricePlace": str(tick_places),
        "sizeMultiplier": spec.step_size,
        "symbolType": "perpetual",
        "minTradeUSDT": num(spec.min_notional),
        "maxSymbolOrderNum": "200",
        "maxProductOrderNum": "400",
        "maxPositionNum": "150",
        "symbolStatus": "normal",
        "offTime": "-1",
        "limitOpenTime": "-1",
        "deliveryTime": "",
        "deliveryStartTime": "",
        "launchTime": "",
        "fundInterval": "8",
        "minLever": "1",
        "maxLever": str(spec.max_leverage),
        "posLimit": "0.05",
        "maintainTime": "",
    }


def ticker(symbol: str, mark: float, now_ms: int) -> JSON:
    """A ticker row (REST /market/tickers and the WS ``ticker`` channel share it): last, index and
    mark are the simulator's one price."""
    price = num(mark)
    return {
        "instId": symbol,
        "symbol": symbol,
        "lastPr": price,
        "bidPr": price,
        "askPr": price,
        "bidSz": "1",
        "askSz": "1",
        "open24h": price,
        "high24h": price,
        "low24h": price,
        "change24h": "0",
        "fundingRate": "0.0001",
        "nextFundingTime": str(now_ms - now_ms % 28_800_000 + 28_800_000),
        "markPrice": price,
        "indexPrice": price,
        "holdingAmount": "0",
        "baseVolume": "0",
        "quoteVolume": "0",
        "openUtc": price,
        "symbolType": "1",
        "deliveryPrice": "0",
        "ts": str(now_ms),
    }


def ticker_push(symbol: str, mark: float, now_ms: int) -> JSON:
    return {
        "action": "snapshot",
        "arg": {"instType": PRODUCT, "channel": "ticker", "instId": symbol},
        "data": [ticker(symbol, mark, now_ms)],
        "ts": now_ms,
    }


def tiers(spec: SymbolSpec, taker_fee: float) -> list[JSON]:
    """GET /api/v2/mix/market/query-position-lever: bounds in USDT value, rates without the fee."""
    return [
        {
            "symbol": spec.symbol,
            "level": str(i + 1),
            "startUnit": num(b.tier.floor),
            "endUnit": num(b.tier.cap),
            "leverage": str(b.initial_leverage),
            "keepMarginRate": num(b.tier.mmr - taker_fee),
        }
        for i, b in enumerate(spec.brackets)
    ]


# ---- private ------------------------------------------------------------------------------------


def position(
    leg: LegRisk, spec: SymbolSpec, *, hedge: bool, taker_fee: float, cross_ratio: float, opened_ms: int
) -> JSON:
    """One row of GET /api/v2/mix/position/all-position (``marginRatio``: the leg's own ratio when
    isolated, the account's cross figure when cross; ``liquidationPrice`` "0" when there is none)."""
    size = abs(leg.amount)
    isolated = leg.margin_mode is MarginMode.ISOLATED
    margin = leg.isolated_wallet if isolated else size * leg.mark_price / leg.leverage
    if isolated:
        equity = leg.isolated_wallet + leg.unrealized
        ratio = leg.maint_margin / equity if equity > 0 else 1.0
    else:
        ratio = cross_ratio
    lp = leg.liquidation_price
    return {
        "marginCoin": COIN,
        "symbol": leg.symbol,
        "holdSide": hold_side(leg.position_side, leg.amount),
        "openDelegateSize": "0",
        "marginSize": num(margin),
        "available": num(size),
        "locked": "0",
        "total": num(size),
        "leverage": str(leg.leverage),
        "achievedProfits": "0",
        "openPriceAvg": num(leg.entry_price),
        "marginMode": margin_mode(leg.margin_mode),
        "posMode": pos_mode(hedge),
        "unrealizedPL": num(leg.unrealized),
        "liquidationPrice": num(lp) if lp else "0",
        "keepMarginRate": num(keep_margin_rate(spec, abs(leg.notional), taker_fee)),
        "markPrice": num(leg.mark_price),
        "breakEvenPrice": num(leg.breakeven_price),
        "totalFee": "0",
        "deductedFee": "0",
        "marginRatio": num(min(ratio, 1e9)),
        "assetMode": "single",
        "autoMargin": "off",
        "cTime": str(opened_ms),
        "uTime": str(leg.update_time),
    }


def ws_position(row: JSON) -> JSON:
    """The ``positions`` channel's row: the REST row with the WS names and number types."""
    out = {k: v for k, v in row.items() if k not in ("symbol", "marginRatio", "locked")}
    out["instId"] = row["symbol"]
    out["posId"] = f"{row['symbol']}-{row['holdSide']}"
    out["frozen"] = row["locked"]
    out["leverage"] = int(row["leverage"])
    out["marginRate"] = row["marginRatio"]
    return out


def account(risk: AccountRisk, *, hedge: bool) -> JSON:
    """One row of GET /api/v2/mix/account/accounts (and /account)."""
    pool = risk.cross
    cross_pnl = sum(leg.unrealized for leg in risk.legs if leg.margin_mode is MarginMode.CROSS)
    iso_pnl = sum(leg.unrealized for leg in risk.legs if leg.margin_mode is MarginMode.ISOLATED)
    equity = risk.wallet_balance + cross_pnl + iso_pnl
    available = pool.available
    return {
        "marginCoin": COIN,
        "locked": "0",
        "available": num(pool.wallet),
        "crossedMaxAvailable": num(available),
        "isolatedMaxAvailable": num(available),
        "maxTransferOut": num(available),
        "accountEquity": num(equity),
        "usdtEquity": num(equity),
        "btcEquity": "0",
        "crossedRiskRate": num(min(pool.ratio, 1e9)),
        "crossedMarginLeverage": 20,
        "isolatedLongLever": 20,
        "isolatedShortLever": 20,
        "marginMode": "crossed",
        "posMode": pos_mode(hedge),
        "unrealizedPL": num(cross_pnl + iso_pnl),
        "coupon": "0",
        "crossedUnrealizedPL": num(cross_pnl),
        "isolatedUnrealizedPL": num(iso_pnl),
        "assetMode": "single",
    }


def ws_account(row: JSON) -> JSON:
    """The ``account`` channel's row (``equity``, ``maxTransferOut``, ``frozen``...)."""
    return {
        "marginCoin": COIN,
        "frozen": row["locked"],
        "available": row["available"],
        "maxOpenPosAvailable": row["crossedMaxAvailable"],
        "maxTransferOut": row["maxTransferOut"],
        "equity": row["accountEquity"],
        "usdtEquity": row["usdtEquity"],
        "crossedRiskRate": row["crossedRiskRate"],
        "unrealizedPL": row["unrealizedPL"],
    }


def _trade_side(order: Order, hedge: bool) -> tuple[str, str]:
    """(side, tradeSide) as Bitget reports them: in hedge mode the side names the position and
    ``tradeSide`` says open or close; in one-way mode side is the trade direction, ``buy_single``."""
    if not hedge:
        return order.side.lower(), "buy_single" if order.side == "BUY" else "sell_single"
    long_leg = order.position_side == LONG
    side = "buy" if long_leg else "sell"
    return side, "close" if order.reduce_only else "open"


def order_detail(order: Order, spec: SymbolSpec, *, hedge: bool, mode: MarginMode, leverage: int) -> JSON:
    """GET /api/v2/mix/order/detail ``data`` (the status field is ``state`` there)."""
    side, trade_side = _trade_side(order, hedge)
    return {
        "symbol": order.symbol,
        "size": num(order.orig_qty),
        "orderId": str(order.order_id),
        "clientOid": order.client_order_id,
        "baseVolume": num(order.executed_qty),
        "fee": num(-order.commission),
        "price": "",
        "priceAvg": num(order.avg_price),
        "state": "filled" if order.status == "FILLED" else "live",
        "side": side,
        "force": "gtc",
        "totalProfits": num(order.realized),
        "posSide": hold_side(order.position_side, 1.0 if order.side == "BUY" else -1.0) if hedge else "net",
        "marginCoin": COIN,
        "presetStopSurplusPrice": "",
        "presetStopLossPrice": "",
        "quoteVolume": num(order.cum_quote),
        "orderType": "market",
        "leverage": str(leverage),
        "marginMode": margin_mode(mode),
        "reduceOnly": "YES" if order.reduce_only else "NO",
        "enterPointSource": "API",
        "tradeSide": trade_side,
        "posMode": pos_mode(hedge),
        "orderSource": "market",
        "cTime": str(order.time),
        "uTime": str(order.update_time),
    }


def ws_order(order: Order, spec: SymbolSpec, *, hedge: bool, mode: MarginMode, leverage: int) -> JSON:
    """The ``orders`` channel's row of a filled market order."""
    side, trade_side = _trade_side(order, hedge)
    return {
        "instId": order.symbol,
        "orderId": str(order.order_id),
        "clientOid": order.client_order_id,
        "size": num(order.orig_qty),
        "newSize": num(order.orig_qty),
        "notional": num(order.cum_quote),
        "orderType": "market",
        "force": "gtc",
        "side": side,
        "posSide": hold_side(order.position_side, 1.0 if order.side == "BUY" else -1.0) if hedge else "net",
        "tradeSide": trade_side,
        "posMode": pos_mode(hedge),
        "marginMode": margin_mode(mode),
        "marginCoin": COIN,
        "leverage": str(leverage),
        "reduceOnly": "yes" if order.reduce_only else "no",
        "status": "filled" if order.status == "FILLED" else "live",
        "accBaseVolume": num(order.executed_qty),
        "baseVolume": num(order.executed_qty),
        "fillPrice": num(order.avg_price),
        "priceAvg": num(order.avg_price),
        "fillNotionalUsd": num(order.cum_quote),
        "fillFee": num(-order.commission),
        "fillFeeCoin": COIN,
        "pnl": num(order.realized),
        "feeDetail": [{"feeCoin": COIN, "fee": num(-order.commission)}],
        "enterPointSource": "API",
        "orderSource": "market",
        "cTime": str(order.time),
        "uTime": str(order.update_time),
        "fillTime": str(order.update_time),
    }


def ws_fill(trade: Trade, order: Order, *, hedge: bool) -> JSON:
    """The ``fill`` channel's row."""
    side, trade_side = _trade_side(order, hedge)
    return {
        "orderId": str(trade.order_id),
        "clientOid": order.client_order_id,
        "tradeId": str(trade.trade_id),
        "symbol": trade.symbol,
        "side": side,
        "orderType": "market",
        "posMode": pos_mode(hedge),
        "price": num(trade.price),
        "baseVolume": num(trade.qty),
        "quoteVolume": num(trade.qty * trade.price),
        "profit": num(trade.realized),
        "tradeSide": trade_side,
        "tradeScope": "taker",
        "feeDetail": [
            {"feeCoin": COIN, "deduction": "no", "totalDeductionFee": "0", "totalFee": num(-trade.commission)}
        ],
        "cTime": str(trade.time),
        "uTime": str(trade.time),
    }


def push(channel: str, rows: Iterable[JSON], now_ms: int, *, inst: str = "default") -> JSON:
    key = "coin" if channel == "account" else "instId"
    return {
        "action": "snapshot",
        "arg": {"instType": PRODUCT, "channel": channel, key: inst},
        "data": list(rows),
        "ts": now_ms,
    }
