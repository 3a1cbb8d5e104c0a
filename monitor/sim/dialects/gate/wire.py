"""Gate's USDT-settled futures bodies (API v4), built from the simulator's ledger views.

Shapes follow the captures in ``tests/venues/fixtures/gate/`` (the shared fixture set): on REST, prices,
rates and money are decimal strings, ids, counts and timestamps numbers; on the private WebSocket
channels almost everything is a JSON number. Sizes are in contracts of ``quanto_multiplier`` base
units (the book's lot step here, so every position is a whole number of contracts) and are decimal
strings when the request carried ``X-Gate-Size-Decimal: 1`` (ccxt always sends it), integers
otherwise. Contract ids are ``BASE_USDT``; order ids are above 2^53 (``ORDER_ID_BASE``), as Gate's are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.margin.tiers import tier_index_extended
from monitor.model import MarginMode
from monitor.sim.ledger import LONG, SHORT, AccountRisk, LegRisk, Order
from monitor.sim.specs import SymbolSpec

JSON = dict[str, Any]
SETTLE = "usdt"
# Every simulated contract's default taker rate (``taker_fee_rate``), which Gate's maintenance margin
# and liquidation price include whatever the account pays on its fills.
CONTRACT_TAKER_FEE = 0.00075
# Gate's order ids have 18-19 digits: the simulator's are offset above 2^53, so a client that reads
# them through a float loses the last digits and finds no order.
ORDER_ID_BASE = 299_207_900_263_700_000
# "No liquidation price": Gate sends "0" (a well-collateralised position) and "99999999" (the docs'
# short example); the simulator sends the second for shorts and the first for longs.
NO_LIQ_SHORT = "99999999"


def num(x: float, places: int = 10) -> str:
    """A decimal string without float noise or exponent (``"0"`` for zero)."""
    text = f"{x:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def contract_id(spec: SymbolSpec) -> str:
    return f"{spec.base}_{spec.quote}"


def multiplier(spec: SymbolSpec) -> float:
    """Base units per contract (``quanto_multiplier``)."""
    return spec.step


def to_contracts(spec: SymbolSpec, amount: float) -> float:
    """A ledger amount (base units, signed) in whole contracts."""
    return float(round(amount / spec.step))


def to_base(spec: SymbolSpec, contracts: float) -> float:
    places = len(spec.step_size.split(".")[1]) if "." in spec.step_size else 0
    return round(contracts * spec.step, places)


def size(contracts: float, decimal: bool) -> str | int:
    """A size field: a decimal string with ``X-Gate-Size-Decimal: 1``, else an integer truncated
    toward zero (Gate's reply before the header existed)."""
    return num(contracts) if decimal else int(contracts)


def order_id(ledger_id: int) -> int:
    return ORDER_ID_BASE + ledger_id


def ledger_order_id(wire_id: str) -> int | None:
    return int(wire_id) - ORDER_ID_BASE if wire_id.isdigit() and int(wire_id) > ORDER_ID_BASE else None


def published_rate(spec: SymbolSpec, value: float, taker_fee: float) -> float:
    """The maintenance rate Gate publishes for ``value``: the book's rate less the taker fee that Gate
    adds to it (the book's tiers include it, as Gate's requirement does)."""
    return spec.tiers[tier_index_extended(spec.tiers, abs(value))].mmr - taker_fee


def error_body(label: str, message: str | None) -> JSON:
    """Gate's error reply: ``label`` and, on most endpoints, ``message``."""
    return {"label": label} if message is None else {"label": label, "message": message}


# ---- public ------------------------------------------------------------------------------------


def contract(spec: SymbolSpec, mark: float, taker_fee: float, decimal: bool, now_s: int) -> JSON:
    """One row of GET /futures/usdt/contracts (``rest.contracts.documented.json``)."""
    first = spec.brackets[0]
    last = spec.brackets[-1]
    return {
        "name": contract_id(spec),
        "type": "direct",
        "quanto_multiplier": spec.step_size,
        "ref_discount_rate": "0",
        "order_price_deviate": "0.5",
        "maintenance_rate": num(first.tier.mmr - taker_fee),
        "mark_type": "index",
        "last_price": num(mark),
        "mark_price": num(mark),
        "index_price": num(mark),
        "funding_rate_indicative": "0.0001",
        "mark_price_round": spec.tick_size,
        "funding_offset": 0,
        "in_delisting": False,
        "risk_limit_base": num(first.tier.cap),
        "interest_rate": "0.0003",
        "order_price_round": spec.tick_size,
        "order_size_min": size(1, decimal),
        "ref_rebate_rate": "0.2",
        "funding_interval": 28800,
        "risk_limit_step": num(first.tier.cap),
        "leverage_min": "1",
        "leverage_max": str(spec.max_leverage),
        "risk_limit_max": num(last.tier.cap),
        "maker_fee_rate": "-0.00025",
        "taker_fee_rate": num(taker_fee),
        "funding_rate": "0.0001",
        "order_size_max": size(to_contracts(spec, float(spec.market_max_qty)), decimal),
        "funding_next_apply": now_s - now_s % 28800 + 28800,
        "short_users": 0,
        "config_change_time": 1609899548,
        "trade_size": size(0, decimal),
        "position_size": size(0, decimal),
        "long_users": 0,
        "funding_impact_value": "60000",
        "orders_limit": 50,
        "trade_id": 0,
        "orderbook_id": 0,
        "enable_bonus": True,
        "enable_credit": True,
        "create_time": 1669688556,
        "funding_cap_ratio": "0.75",
        "status": "trading",
        "launch_time": 1609899548,
        "enable_decimal": False,
        "market_order_slip_ratio": "0.05",
        "market_order_size_max": "0",
        "funding_rate_limit": "0.003",
        "contract_type": "",
        "enable_circuit_breaker": False,
    }


def contract_of(symbol: str) -> str:
    """The contract id of a ledger symbol (``BTCUSDT`` -> ``BTC_USDT``; every book symbol is USDT's)."""
    return f"{symbol[: -len('USDT')]}_USDT" if symbol.endswith("USDT") else symbol


def ticker(contract: str, mark: float, decimal: bool) -> JSON:
    """A ticker row (REST /futures/usdt/tickers and the ``futures.tickers`` channel): last, index and
    mark are the simulator's one price; strings throughout."""
    price = num(mark)
    return {
        "contract": contract,
        "last": price,
        "change_percentage": "0",
        "total_size": num(0) if decimal else "0",
        "low_24h": price,
        "high_24h": price,
        "volume_24h": "0",
        "volume_24h_base": "0",
        "volume_24h_quote": "0",
        "volume_24h_settle": "0",
        "mark_price": price,
        "funding_rate": "0.0001",
        "funding_rate_indicative": "0.0001",
        "index_price": price,
        "quanto_base_rate": "",
        "highest_bid": price,
        "highest_size": "1",
        "lowest_ask": price,
        "lowest_size": "1",
    }


def push(channel: str, result: Any, now_ms: int, event: str = "update") -> JSON:
    return {"time": now_ms // 1000, "time_ms": now_ms, "channel": channel, "event": event, "result": result}


def tiers(spec: SymbolSpec, taker_fee: float) -> list[JSON]:
    """GET /futures/usdt/risk_limit_tiers?contract=: each tier's ceiling (``risk_limit``, position
    value), its published rate (without the fee) and the deduction that keeps MM continuous."""
    return [
        {
            "tier": i + 1,
            "risk_limit": num(b.tier.cap),
            "initial_rate": num(1.0 / b.initial_leverage),
            "maintenance_rate": num(b.tier.mmr - taker_fee),
            "leverage_max": str(b.initial_leverage),
            "contract": contract_id(spec),
            "deduction": num(b.tier.cum),
        }
        for i, b in enumerate(spec.brackets)
    ]


# ---- private ------------------------------------------------------------------------------------


def mode_of(position_side: str) -> str:
    if position_side == LONG:
        return "dual_long"
    if position_side == SHORT:
        return "dual_short"
    return "single"


def liq_price(leg: LegRisk, spec: SymbolSpec) -> str:
    """Gate's ``liq_price``: rounded to the price tick; a sentinel when there is none."""
    lp = leg.liquidation_price
    if not lp:
        return NO_LIQ_SHORT if leg.amount < 0 else "0"
    tick = float(spec.tick_size)
    places = len(spec.tick_size.split(".")[1]) if "." in spec.tick_size else 0
    return f"{round(lp / tick) * tick:.{places}f}"


def position(
    leg: LegRisk, spec: SymbolSpec, *, uid: int, taker_fee: float, decimal: bool, update_id: int
) -> JSON:
    """One row of GET /futures/usdt/positions (``rest.positions.documented.json``): the new-classic
    fields ``pos_margin_mode`` and ``lever`` with the classic ``leverage`` ("0" = cross)."""
    isolated = leg.margin_mode is MarginMode.ISOLATED
    value = abs(leg.notional)
    margin = leg.isolated_wallet if isolated else leg.initial_margin
    rate = published_rate(spec, value, taker_fee)
    return {
        "user": uid,
        "contract": contract_id(spec),
        "size": size(to_contracts(spec, leg.amount), decimal),
        "leverage": str(leg.leverage) if isolated else "0",
        "risk_limit": num(spec.tiers[tier_index_extended(spec.tiers, value)].cap),
        "leverage_max": str(spec.max_leverage),
        "maintenance_rate": num(rate),
        "value": num(value),
        "margin": num(margin),
        "entry_price": num(leg.entry_price),
        "liq_price": liq_price(leg, spec),
        "mark_price": num(leg.mark_price),
        "initial_margin": num(leg.initial_margin),
        "maintenance_margin": num(leg.maint_margin),
        "unrealised_pnl": num(leg.unrealized),
        "realised_pnl": "0",
        "pnl_pnl": "0",
        "pnl_fund": "0",
        "pnl_fee": "0",
        "history_pnl": "0",
        "last_close_pnl": "0",
        "realised_point": "0",
        "history_point": "0",
        "adl_ranking": 5,
        "pending_orders": 0,
        "close_order": None,
        "mode": mode_of(leg.position_side),
        "update_time": leg.update_time // 1000,
        "update_id": update_id,
        "cross_leverage_limit": "0" if isolated else str(leg.leverage),
        "risk_limit_table": f"{spec.base}_TIERS",
        "average_maintenance_rate": num(rate),
        "pos_margin_mode": "isolated" if isolated else "cross",
        "lever": str(leg.leverage),
        "open_time": leg.update_time // 1000,
    }


def ws_position(row: JSON, now_ms: int) -> JSON:
    """The ``futures.positions`` row: the REST row's channel fields as JSON numbers, without mark,
    value, unrealised PnL or maintenance margin (the channel has none), ``user`` a string. Sizes stay
    strings (the socket was opened with the size header)."""
    out: JSON = {"contract": row["contract"], "size": row["size"]}
    for key in (
        "entry_price",
        "history_pnl",
        "last_close_pnl",
        "leverage",
        "leverage_max",
        "liq_price",
        "maintenance_rate",
        "margin",
        "realised_pnl",
        "risk_limit",
        "cross_leverage_limit",
    ):
        out[key] = _number(row[key])
    out.update(
        {
            "history_point": 0,
            "realised_point": 0,
            "mode": row["mode"],
            "time": now_ms // 1000,
            "time_ms": now_ms,
            "user": str(row["user"]),
            "update_id": row["update_id"],
        }
    )
    return out


def flat_position(spec: SymbolSpec, position_side: str, uid: int, now_ms: int, update_id: int) -> JSON:
    """A ``futures.positions`` row for a leg just closed: size 0."""
    return {
        "contract": contract_id(spec),
        "size": "0",
        "entry_price": 0,
        "history_pnl": 0,
        "last_close_pnl": 0,
        "leverage": 0,
        "leverage_max": spec.max_leverage,
        "liq_price": 0,
        "maintenance_rate": 0,
        "margin": 0,
        "realised_pnl": 0,
        "risk_limit": spec.tiers[0].cap,
        "cross_leverage_limit": 0,
        "history_point": 0,
        "realised_point": 0,
        "mode": mode_of(position_side),
        "time": now_ms // 1000,
        "time_ms": now_ms,
        "user": str(uid),
        "update_id": update_id,
    }


def _number(text: Any) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


def account(risk: AccountRisk, *, uid: int, hedge: bool) -> JSON:
    """GET /futures/usdt/accounts: a classic account (``margin_mode`` 0) with the new-classic cross
    fields. ``total`` holds the cross wallet and every isolated margin, not unrealised PnL."""
    pool = risk.cross
    cross_pnl = sum(leg.unrealized for leg in risk.legs if leg.margin_mode is MarginMode.CROSS)
    all_pnl = sum(leg.unrealized for leg in risk.legs)
    isolated = sum(leg.isolated_wallet for leg in risk.legs if leg.margin_mode is MarginMode.ISOLATED)
    cross_im = sum(leg.initial_margin for leg in risk.legs if leg.margin_mode is MarginMode.CROSS)
    total = pool.wallet + isolated
    return {
        "user": uid,
        "currency": "USDT",
        "total": num(total),
        "unrealised_pnl": num(all_pnl),
        "position_margin": num(isolated + cross_im),
        "order_margin": "0",
        "available": num(max(pool.available, 0.0)),
        "point": "0",
        "bonus": "0",
        "in_dual_mode": hedge,
        "position_mode": "dual" if hedge else "single",
        "enable_credit": False,
        "enable_dual_plus": False,
        "margin_mode": 0,
        "enable_tiered_mm": True,
        "maintenance_margin": num(sum(leg.maint_margin for leg in risk.legs)),
        "cross_margin_balance": num(pool.wallet + cross_pnl),
        "cross_maintenance_margin": num(pool.maint_margin),
        "cross_initial_margin": num(pool.initial_margin),
        "cross_available": num(max(pool.available, 0.0)),
        "cross_unrealised_pnl": num(cross_pnl),
        "isolated_position_margin": num(isolated),
        "history": {"dnw": num(total), "pnl": "0", "fee": "0", "refr": "0", "fund": "0", "point_dnw": "0"},
    }


def balance_row(total: float, change: float, kind: str, text: str, uid: int, now_ms: int) -> JSON:
    """A ``futures.balances`` row: the account's ``total`` after one change."""
    return {
        "balance": total,
        "change": change,
        "text": text,
        "time": now_ms // 1000,
        "time_ms": now_ms,
        "type": kind,
        "user": str(uid),
        "currency": SETTLE,
    }


def order(o: Order, spec: SymbolSpec, *, uid: int, decimal: bool, text: str, is_close: bool) -> JSON:
    """An order as POST/GET /futures/usdt/orders return it (``rest.orders.market-ioc.2026-01``): a
    market order is ``price`` "0" with ``tif`` "ioc"; ``size`` signed (negative sells). A close (sent
    with size 0) reports the size it executed: no capture shows what Gate reports there."""
    signed = to_contracts(spec, o.orig_qty) * (1 if o.side == "BUY" else -1)
    left = to_contracts(spec, o.orig_qty - o.executed_qty) * (1 if o.side == "BUY" else -1)
    liq = o.order_type == "LIQUIDATION"
    return {
        "id": order_id(o.order_id),
        "user": uid,
        "contract": contract_id(spec),
        "create_time": o.time / 1000,
        "update_time": o.update_time / 1000,
        "finish_time": o.update_time / 1000,
        "finish_as": "liquidated" if liq else ("filled" if o.status == "FILLED" else "ioc"),
        "status": "finished",
        "size": size(signed, decimal),
        "iceberg": size(0, decimal),
        "price": "0",
        "is_close": is_close,
        "is_reduce_only": o.reduce_only,
        "is_liq": liq,
        "tif": "ioc",
        "left": size(left, decimal),
        "fill_price": num(o.avg_price),
        "text": text,
        "tkfr": "0.0005",
        "mkfr": "0.0002",
        "refu": 0,
        "stp_act": "-",
        "stp_id": 0,
        "biz_info": "-",
        "amend_text": "-",
        "pnl": num(o.realized),
        "pnl_margin": "0",
        "market_order_slip_ratio": "0.05",
    }


def liquidate_row(o: Order, spec: SymbolSpec, uid: int, leverage: int, now_ms: int) -> JSON:
    """A ``futures.liquidates`` row: the user's own liquidation (numbers; ``size`` is the position's
    size, negative for a short). The entry follows from the realised PnL the ledger booked."""
    contracts = to_contracts(spec, o.orig_qty)
    signed = contracts if o.side == "SELL" else -contracts  # a sell closes a long
    base = o.orig_qty if o.side == "SELL" else -o.orig_qty
    entry = o.avg_price - o.realized / base if base else o.avg_price
    return {
        "entry_price": entry,
        "fill_price": o.avg_price,
        "left": 0,
        "leverage": float(leverage),
        "liq_price": o.avg_price,
        "margin": 0.0,
        "mark_price": o.avg_price,
        "order_id": order_id(o.order_id),
        "order_price": o.avg_price,
        "size": signed,
        "time": now_ms // 1000,
        "time_ms": now_ms,
        "contract": contract_id(spec),
        "user": str(uid),
    }


def position_close_row(o: Order, spec: SymbolSpec, uid: int, text: str, now_ms: int) -> JSON:
    return {
        "contract": contract_id(spec),
        "pnl": o.realized,
        "side": "long" if o.side == "SELL" else "short",
        "text": text,
        "time": now_ms // 1000,
        "time_ms": now_ms,
        "user": str(uid),
    }


def specs_by_id(specs: Mapping[str, SymbolSpec]) -> dict[str, SymbolSpec]:
    return {contract_id(s): s for s in specs.values()}
