"""OKX v5 bodies built from the simulator's ledger views.

Shapes follow the captures in ``tests/venues/fixtures/okx/`` (the shared fixture set): every number is
a decimal string, ``""`` means "not applicable" (``liqPx`` without a liquidation price, ``margin`` of
a cross position, ``imr`` of an isolated one). Instruments are named ``BASE-QUOTE-SWAP``; sizes are
contracts of ``ctVal`` base units (``contract_value``), signed in net mode and positive in long/short
mode. A position's ``mmr`` is the maintenance *amount* without the fee to close, and its
``mgnRatio`` is equity / (``mmr`` + fee to close), liquidation at <= 1, as OKX reports them.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from monitor.model import MarginMode, Tier
from monitor.sim.ledger import BOTH, LONG, SHORT, AccountRisk, LegRisk, Order
from monitor.sim.specs import SymbolSpec, decimals_of

JSON = dict[str, Any]

# Contract values of OKX's own swaps where the book holds the same coin (instruments of 2025: BTC 0.01,
# ETH 0.1, XRP 100, DOGE 1000, ADA 100); one base unit for the rest.
CONTRACT_VALUES: Mapping[str, float] = {"BTC": 0.01, "ETH": 0.1, "XRP": 100.0, "DOGE": 1000.0, "ADA": 100.0}


def num(x: float, places: int = 10) -> str:
    """A decimal string without float noise or exponent (``"0"`` for zero)."""
    text = f"{x:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def contract_value(spec: SymbolSpec) -> float:
    return CONTRACT_VALUES.get(spec.base, 1.0)


def inst_id(spec: SymbolSpec) -> str:
    return f"{spec.base}-{spec.quote}-SWAP"


def inst_family(spec: SymbolSpec) -> str:
    return f"{spec.base}-{spec.quote}"


def contracts(spec: SymbolSpec, amount: float) -> float:
    """Base units as contracts (rounded to the lot's decimals, so no float noise reaches the wire)."""
    return round(amount / contract_value(spec), decimals_of(lot_size(spec)) + 2)


def lot_size(spec: SymbolSpec) -> str:
    """The book's step in base units, as contracts."""
    return num(float(spec.step_size) / contract_value(spec))


def envelope(data: Any, code: str = "0", msg: str = "") -> JSON:
    return {"code": code, "msg": msg, "data": data}


def contract_tiers(spec: SymbolSpec) -> tuple[Tier, ...]:
    """The book's notional tiers restated in contracts at the start price, as OKX counts them: whole
    contracts, each cap above the last; the published rate without the fee."""
    unit = spec.start_price * contract_value(spec)
    out: list[Tier] = []
    for b in spec.brackets:
        floor = out[-1].cap if out else 0.0
        cap = max(floor + 1.0, float(round(b.tier.cap / unit)))
        out.append(Tier(floor, cap, b.tier.mmr, 0.0))
    return tuple(out)


def leverage_of(spec: SymbolSpec, tier_index: int) -> int:
    return spec.brackets[tier_index].initial_leverage


# ---- public ------------------------------------------------------------------------------------


def instrument(spec: SymbolSpec) -> JSON:
    """One row of GET /api/v5/public/instruments?instType=SWAP (the observed BTC-USDT-SWAP row's
    fields)."""
    lot = lot_size(spec)
    return {
        "alias": "",
        "baseCcy": "",
        "category": "1",
        "ctMult": "1",
        "ctType": "inverse" if spec.inverse else "linear",
        "ctVal": num(contract_value(spec)),
        "ctValCcy": spec.base,
        "expTime": "",
        "instFamily": inst_family(spec),
        "instId": inst_id(spec),
        "instIdCode": 10_000 + sum(map(ord, spec.symbol)),
        "instType": "SWAP",
        "lever": str(spec.max_leverage),
        "listTime": str(spec.onboard_ms),
        "lotSz": lot,
        "maxLmtSz": "100000000",
        "maxMktSz": num(float(spec.market_max_qty) / contract_value(spec)),
        "minSz": num(float(spec.min_qty) / contract_value(spec)),
        "quoteCcy": "",
        "ruleType": "normal",
        "settleCcy": spec.margin_asset,
        "state": "live",
        "tickSz": spec.tick_size,
        "uly": inst_family(spec),
    }


def mark_row(spec: SymbolSpec, mark: float, ts: int) -> JSON:
    return {"instType": "SWAP", "instId": inst_id(spec), "markPx": num(mark), "ts": str(ts)}


def tier_rows(spec: SymbolSpec) -> list[JSON]:
    """GET /api/v5/public/position-tiers rows: sizes in contracts, each tier starting one contract
    above the last one's maximum (as OKX publishes them), the rate a rate, no deduction."""
    rows = []
    for i, t in enumerate(contract_tiers(spec)):
        rows.append(
            {
                "baseMaxLoan": "",
                "imr": num(1.0 / leverage_of(spec, i)),
                "instFamily": inst_family(spec),
                "instId": "",
                "maxLever": str(leverage_of(spec, i)),
                "maxSz": num(t.cap),
                "minSz": num(t.floor + 1 if i else 0.0),
                "mmr": num(t.mmr),
                "optMgnFactor": "0",
                "quoteMaxLoan": "",
                "tier": str(i + 1),
                "uly": inst_family(spec),
            }
        )
    return rows


# ---- account -----------------------------------------------------------------------------------


def pos_side(position_side: str) -> str:
    return {BOTH: "net", LONG: "long", SHORT: "short"}[position_side]


def fee_to_close(leg: LegRisk, taker_fee: float) -> float:
    return abs(leg.notional) * taker_fee


def position(
    leg: LegRisk, spec: SymbolSpec, *, taker_fee: float, cross_okx_ratio: float, now_ms: int
) -> JSON:
    """One row of GET /api/v5/account/positions (and of the ``positions`` channel).

    The ledger's maintenance includes the fee to close; OKX's ``mmr`` leaves it out and its
    ``mgnRatio`` puts it in the denominator. ``cross_okx_ratio`` is the currency's cross ratio in
    OKX's direction (a cross position reports its pool's)."""
    isolated = leg.margin_mode is MarginMode.ISOLATED
    fee = fee_to_close(leg, taker_fee)
    mmr = leg.maint_margin - fee
    n = contracts(spec, leg.amount)
    if leg.position_side != BOTH:
        n = abs(n)
    if isolated:
        equity = leg.isolated_wallet + leg.unrealized
        ratio = equity / leg.maint_margin if leg.maint_margin > 0 else 0.0
    else:
        ratio = cross_okx_ratio
    stamp = str(leg.update_time or now_ms)
    margin = leg.isolated_wallet if isolated else None
    return {
        "adl": "1",
        "availPos": num(abs(n)) if leg.amount else "",
        "avgPx": num(leg.entry_price) if leg.amount else "",
        "bePx": num(leg.breakeven_price) if leg.amount else "",
        "cTime": stamp,
        "ccy": spec.margin_asset,
        "fee": "0",
        "fundingFee": "0",
        "idxPx": num(leg.mark_price),
        "imr": "" if isolated else num(leg.initial_margin),
        "instId": inst_id(spec),
        "instType": "SWAP",
        "last": num(leg.mark_price),
        "lever": str(leg.leverage),
        "liqPenalty": "0",
        "liqPx": num(leg.liquidation_price) if leg.liquidation_price else "",
        "margin": num(margin) if margin is not None else "",
        "markPx": num(leg.mark_price),
        "mgnMode": "isolated" if isolated else "cross",
        "mgnRatio": num(ratio) if leg.amount else "",
        "mmr": num(mmr),
        "notionalUsd": num(abs(leg.notional)),
        "pTime": str(now_ms),
        "pos": num(n),
        "posCcy": "",
        "posId": str(zlib.crc32(f"{spec.symbol}/{leg.position_side}".encode())),
        "posSide": pos_side(leg.position_side),
        "realizedPnl": "0",
        "uTime": stamp,
        "upl": num(leg.unrealized),
        "uplRatio": num(leg.unrealized / leg.initial_margin) if leg.initial_margin else "0",
    }


def okx_ratio(requirement: float, equity: float) -> float:
    """Equity over requirement, OKX's direction (0 without equity; a large number without any
    requirement, as OKX never divides by zero on the wire)."""
    if equity <= 0:
        return 0.0
    return equity / requirement if requirement > 0 else 0.0


def balance(risk: AccountRisk, taker_fee: float, now_ms: int) -> JSON:
    """GET /api/v5/account/balance in Futures mode (``acctLv`` 2): the account-level ``adjEq``,
    ``imr``, ``mmr`` and ``mgnRatio`` are empty and the cross risk is the currency's, in
    ``details[]``. ``cashBal`` is the cross wallet: an isolated position's margin leaves it
    (``isoEq`` holds it, with its unrealised PnL)."""
    cross = risk.cross
    iso_upl = sum(leg.unrealized for leg in risk.legs if leg.margin_mode is MarginMode.ISOLATED)
    iso_eq = risk.isolated_wallets + iso_upl
    cross_fee = sum(fee_to_close(leg, taker_fee) for leg in risk.legs if leg.margin_mode is MarginMode.CROSS)
    upl = cross.unrealized + iso_upl
    eq = cross.wallet + cross.unrealized + iso_eq
    has_cross = cross.has_positions
    detail = {
        "availBal": num(cross.available),
        "availEq": num(cross.available),
        "cashBal": num(cross.wallet),
        "ccy": risk.asset,
        "disEq": num(eq),
        "eq": num(eq),
        "eqUsd": num(eq),
        "frozenBal": num(cross.initial_margin + risk.isolated_wallets),
        "imr": num(cross.initial_margin) if has_cross else "",
        "isoEq": num(iso_eq),
        "isoUpl": num(iso_upl),
        "mgnRatio": num(okx_ratio(cross.maint_margin, cross.equity)) if has_cross else "",
        "mmr": num(cross.maint_margin - cross_fee) if has_cross else "",
        "notionalLever": "",
        "ordFrozen": "0",
        "uTime": str(now_ms),
        "upl": num(upl),
    }
    return {
        "adjEq": "",
        "imr": "",
        "isoEq": num(iso_eq),
        "mgnRatio": "",
        "mmr": "",
        "notionalUsd": "",
        "ordFroz": "",
        "totalEq": num(eq),
        "uTime": str(now_ms),
        "upl": num(upl),
        "details": [detail],
    }


def config(uid: str, hedge: bool, level: str = "2") -> JSON:
    """GET /api/v5/account/config (the documented row's fields)."""
    return {
        "acctLv": level,
        "acctStpMode": "cancel_maker",
        "autoLoan": False,
        "ctIsoMode": "automatic",
        "enableSpotBorrow": False,
        "greeksType": "PA",
        "ip": "",
        "type": "0",
        "kycLv": "3",
        "label": "monitor-sim",
        "level": "Lv1",
        "levelTmp": "",
        "liquidationGear": "-1",
        "mainUid": uid,
        "mgnIsoMode": "automatic",
        "opAuth": "1",
        "perm": "read_only,trade",
        "posMode": "long_short_mode" if hedge else "net_mode",
        "roleType": "0",
        "spotBorrowAutoRepay": False,
        "spotOffsetType": "",
        "spotRoleType": "0",
        "spotTraderInsts": [],
        "traderInsts": [],
        "uid": uid,
    }


# ---- orders ------------------------------------------------------------------------------------

_STATE = {"NEW": "live", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled", "CANCELED": "canceled"}


def order(o: Order, spec: SymbolSpec, *, mode: MarginMode, leverage: int, hedge: bool) -> JSON:
    """One order as GET /api/v5/trade/order and the ``orders`` channel write it (``reduceOnly`` the
    string "true"/"false"; a liquidation's ``category`` ``full_liquidation``)."""
    liquidation = o.order_type == "LIQUIDATION"
    filled = contracts(spec, o.executed_qty)
    return {
        "accFillSz": num(filled),
        "algoClOrdId": "",
        "algoId": "",
        "avgPx": num(o.avg_price) if o.executed_qty else "",
        "cTime": str(o.time),
        "cancelSource": "",
        "category": "full_liquidation" if liquidation else "normal",
        "ccy": "",
        "clOrdId": "" if liquidation else o.client_order_id,
        "fee": num(-o.commission),
        "feeCcy": spec.margin_asset,
        "fillPx": num(o.avg_price) if o.executed_qty else "",
        "fillSz": num(filled) if o.executed_qty else "0",
        "fillTime": str(o.update_time) if o.executed_qty else "",
        "instId": inst_id(spec),
        "instType": "SWAP",
        "lever": str(leverage),
        "ordId": str(o.order_id),
        "ordType": "market",
        "pnl": num(o.realized),
        "posSide": pos_side(o.position_side) if hedge else "net",
        "px": "",
        "reduceOnly": "true" if o.reduce_only else "false",
        "side": o.side.lower(),
        "source": "",
        "state": _STATE.get(o.status, "filled"),
        "sz": num(contracts(spec, o.orig_qty)),
        "tag": "",
        "tdMode": "isolated" if mode is MarginMode.ISOLATED else "cross",
        "tgtCcy": "",
        "tradeId": "",
        "uTime": str(o.update_time),
    }
