"""Hyperliquid's two REST endpoints over the simulator's ledger: ``POST /info`` (reads, public, by
address: no key, no signature) and ``POST /exchange`` (signed actions), each a dispatcher on the body's
``type`` / ``action.type``.

What it checks as the exchange does: the signature's shape and its signer (an account's agent wallet;
a signature of anything else recovers an unknown address), the signer's nonce window, every order's
price (5 significant figures, at most ``6 - szDecimals`` decimals) and size (``szDecimals``). Orders are
IOC limits: one whose price does not reach the mark (the simulator's book) is refused with
"could not immediately match". Refusals of an order are HTTP 200 with ``"status": "ok"`` and an
``{"error": ...}`` in its slot of ``statuses``; a refused request is ``{"status": "err", "response":
<text>}``; a body that is not the expected JSON is HTTP 422. Actions nobody should send unasked
(``approveBuilderFee``, ``setReferrer``) are answered and recorded in ``unasked``.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from aiohttp import web

from monitor.model import MarginMode
from monitor.sim.dialects.hyperliquid import signing, wire
from monitor.sim.ledger import BOTH, Account
from monitor.sim.rejections import Reason, Rejected
from monitor.sim.specs import SymbolSpec

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

JSON = dict[str, Any]
DESERIALIZE = "Failed to deserialize the JSON body into the target type"
NO_MATCH = "Order could not immediately match against any resting orders."
# how the exchange words the ledger's refusals of an order (docs "Error responses")
ORDER_ERRORS = {
    Reason.REDUCE_ONLY_WOULD_INCREASE: "Reduce only order would increase position.",
    Reason.INSUFFICIENT_MARGIN: "Insufficient margin to place order.",
    Reason.NOTIONAL_BELOW_MIN: "Order must have minimum value of $10.",
    Reason.QTY_PRECISION: "Order has invalid size.",
    Reason.QTY_BELOW_MIN: "Order has invalid size.",
    Reason.QTY_NOT_POSITIVE: "Order has zero size.",
    Reason.QTY_ABOVE_MAX: "Order would cause position to exceed margin tier limit at current leverage",
}


@dataclass(frozen=True, slots=True)
class ActionCall:
    """A signed action, its signer's account and when it arrived."""

    acct: Account
    action: JSON
    now_ms: int


class Refused(Exception):
    """A request the exchange answers with ``{"status": "err", "response": text}``."""


class HyperliquidRestApi:
    """``/info`` and ``/exchange``; ``requests`` and ``request_times`` as the other dialects keep them
    (a request's path is ``/info#<type>`` or ``/exchange#<action type>``, so faults and tests can aim
    at one kind)."""

    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim
        self.requests: list[tuple[str, str]] = []
        self.request_times: list[int] = []
        # the signed actions by ("POST", "/exchange#<type>"), as the other dialects key their routes
        self.routes: dict[tuple[str, str], tuple[str, Callable[[ActionCall], Awaitable[Any]]]] = {
            ("POST", f"/exchange#{kind}"): ("SIGNED", getattr(self, f"action_{kind}"))
            for kind in ("order", "cancel", "updateIsolatedMargin", "updateLeverage")
        }
        self.nonces = signing.Nonces()
        self.unasked: list[JSON] = []  # side-effect actions received (builder fee, referrer)
        self.abstraction: dict[str, str] = {}  # account -> userAbstraction (default "default")
        self.ws_users: dict[int, set[str]] = {}  # socket id -> users it follows (the 10-user limit)
        # builder-deployed (HIP-3) dexes: (account, dex) -> that dex's clearinghouseState body
        self.dex_states: dict[tuple[str, str], JSON] = {}

    # ---- accounts by address ----------------------------------------------------------------------

    def address(self, account: Account) -> str:
        return signing.account_address(account.api_key)

    def agent(self, account: Account) -> str:
        return signing.address_of_key(account.secret)

    def by_address(self, user: object) -> Account | None:
        if not isinstance(user, str):
            return None
        user = user.lower()
        for acct in self.sim.ledger.accounts.values():
            if self.address(acct) == user:
                return acct
        return None

    def by_signer(self, signer: str) -> Account | None:
        for acct in self.sim.ledger.accounts.values():
            if self.agent(acct) == signer:
                return acct
        return None

    def spec_of_coin(self, coin: object) -> SymbolSpec | None:
        for spec in self.sim.ledger.specs.values():
            if spec.base == coin:
                return spec
        return None

    # ---- dispatch ---------------------------------------------------------------------------------

    async def info(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            return web.Response(status=422, text=DESERIALIZE)
        kind = body["type"]
        failure = await self._record(f"/info#{kind}")
        if failure is not None:
            return failure
        handler = getattr(self, f"info_{kind}", None)
        if handler is None:
            return web.Response(status=422, text=f"{DESERIALIZE}: unknown variant `{kind}`")
        try:
            return web.json_response(handler(body))
        except Refused as exc:
            return web.Response(status=422, text=f"{DESERIALIZE}: {exc}")

    async def exchange(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        action = body.get("action") if isinstance(body, dict) else None
        if not isinstance(action, dict) or not isinstance(action.get("type"), str):
            return web.Response(status=422, text=DESERIALIZE)
        kind = action["type"]
        failure = await self._record(f"/exchange#{kind}")
        if failure is not None:
            return failure
        assert isinstance(body, dict)
        now = self.sim.now_ms()
        if kind in ("approveBuilderFee", "setReferrer", "approveAgent"):
            self.unasked.append(action)
            return web.json_response({"status": "ok", "response": {"type": "default"}})
        route = self.routes.get(("POST", f"/exchange#{kind}"))
        if route is None:
            return web.Response(status=422, text=f"{DESERIALIZE}: unknown variant `{kind}`")
        try:
            acct = self._signed_by(body, action, now)
            result = await route[1](ActionCall(acct, action, now))
        except (Refused, signing.SignatureError) as exc:
            return web.json_response({"status": "err", "response": str(exc)})
        return web.json_response({"status": "ok", "response": result})

    async def _record(self, path: str) -> web.Response | None:
        """Note the request; a configured fault delays it or answers it instead."""
        self.requests.append(("POST", path))
        self.request_times.append(self.sim.now_ms())
        faults = self.sim.faults
        failure = faults.take_rest_failure(path)
        if faults.rest_delay > 0:
            await asyncio.sleep(faults.rest_delay)
        if failure is None:
            return None
        return web.Response(status=failure.status, text=failure.msg)

    @staticmethod
    async def _body(request: web.Request) -> Any:
        try:
            return json.loads(await request.text())
        except ValueError:
            return None

    def _signed_by(self, body: JSON, action: JSON, now: int) -> Account:
        nonce = body.get("nonce")
        if not isinstance(nonce, int) or isinstance(nonce, bool):
            raise Refused(f"{DESERIALIZE}: nonce")
        vault = body.get("vaultAddress")
        expires = body.get("expiresAfter")
        if vault is not None and not signing.is_address(vault):
            raise Refused(f"{DESERIALIZE}: vaultAddress")
        signer = signing.recover_l1_signer(action, nonce, body.get("signature"), vault, expires)
        acct = self.by_signer(signer)
        if acct is None:
            raise Refused(f"User or API Wallet {signer} does not exist.")
        if vault is not None and vault.lower() != self.address(acct):
            raise Refused(f"User or API Wallet {signer} is not an agent of vault {vault}.")
        if expires is not None and isinstance(expires, int) and expires < now:
            raise Refused(f"Action expired: expiresAfter {expires} is before {now}")
        self.nonces.use(signer, nonce, now)
        return acct

    # ---- /info --------------------------------------------------------------------------------------

    def _user(self, body: JSON) -> Account | None:
        user = body.get("user")
        if not signing.is_address(user):
            raise Refused("user")
        return self.by_address(user)

    def info_meta(self, body: JSON) -> Any:
        return wire.meta(self.sim.ledger.specs) if body.get("dex", "") == "" else {"universe": []}

    def info_metaAndAssetCtxs(self, body: JSON) -> Any:
        ledger = self.sim.ledger
        ctxs = [wire.asset_ctx(ledger.marks[s.symbol]) for s in wire.universe(ledger.specs)]
        return [wire.meta(ledger.specs), ctxs]

    def info_allMids(self, body: JSON) -> Any:
        return wire.mids(self.sim.ledger.specs, self.sim.ledger.marks)

    def info_spotMeta(self, body: JSON) -> Any:
        return {"universe": [], "tokens": []}

    def info_perpDexs(self, body: JSON) -> Any:
        """The first dex (``null``), then every builder-deployed dex a test gave a state on."""
        names = sorted({dex for _, dex in self.dex_states})
        return [None, *({"name": n, "fullName": n, "deployer": signing.ZERO_ADDRESS} for n in names)]

    def info_clearinghouseState(self, body: JSON) -> Any:
        acct = self._user(body)
        now = self.sim.now_ms()
        dex = body.get("dex", "")
        if acct is not None and dex != "" and (acct.name, dex) in self.dex_states:
            return self.dex_states[acct.name, dex]
        if acct is None or dex != "":
            # an address the exchange has never seen (an agent wallet among them) reads as empty
            return _empty_state(now)
        return wire.clearinghouse_state(self.sim.ledger.risk(acct), self.sim.ledger.specs, now)

    def info_spotClearinghouseState(self, body: JSON) -> Any:
        self._user(body)
        return {"balances": []}

    def info_userAbstraction(self, body: JSON) -> Any:
        acct = self._user(body)
        return "disabled" if acct is None else self.abstraction.get(acct.name, "default")

    def info_userRole(self, body: JSON) -> Any:
        user = body.get("user")
        if not signing.is_address(user):
            raise Refused("user")
        assert isinstance(user, str)
        if self.by_address(user) is not None:
            return {"role": "user"}
        for acct in self.sim.ledger.accounts.values():
            if self.agent(acct) == user.lower():
                return {"role": "agent", "data": {"user": self.address(acct)}}
        return {"role": "missing"}

    def info_userFees(self, body: JSON) -> Any:
        acct = self._user(body)
        taker = acct.taker_fee if acct is not None else 0.00045
        return {"userCrossRate": f"{taker:.6f}", "userAddRate": "0.00015", "activeReferralDiscount": "0.0"}

    def info_openOrders(self, body: JSON) -> Any:
        self._user(body)
        return []  # IOC orders never rest

    info_frontendOpenOrders = info_openOrders

    def fills_of(self, acct: Account, start_ms: int = 0) -> list[JSON]:
        specs = self.sim.ledger.specs
        out = []
        for t in acct.trades:
            if t.time < start_ms:
                continue
            order = acct.orders[t.order_id]
            after = sum(
                x.qty if x.side == "BUY" else -x.qty
                for x in acct.trades
                if x.symbol == t.symbol and x.trade_id <= t.trade_id
            )
            start = after - (t.qty if t.side == "BUY" else -t.qty)
            liquidated = self.address(acct) if order.order_type == "LIQUIDATION" else None
            out.append(
                wire.fill(
                    order,
                    specs[t.symbol],
                    start_position=start,
                    price=t.price,
                    qty=t.qty,
                    fee=t.commission,
                    trade_id=t.trade_id,
                    time_ms=t.time,
                    liquidated_user=liquidated,
                )
            )
        return out[::-1]  # newest first

    def info_userFills(self, body: JSON) -> Any:
        acct = self._user(body)
        return [] if acct is None else self.fills_of(acct)[:2000]

    def info_userFillsByTime(self, body: JSON) -> Any:
        acct = self._user(body)
        start = body.get("startTime", 0)
        return [] if acct is None else self.fills_of(acct, int(start or 0))[:2000]

    def info_orderStatus(self, body: JSON) -> Any:
        acct = self._user(body)
        oid = body.get("oid")
        if acct is None:
            return {"status": "unknownOid"}
        order = None
        if isinstance(oid, int) and not isinstance(oid, bool):
            order = acct.orders.get(oid)
        elif isinstance(oid, str):
            found = acct.client_ids.get(oid.lower())
            order = acct.orders.get(found) if found is not None else None
        if order is None:
            return {"status": "unknownOid"}
        return wire.order_status(order, self.sim.ledger.specs[order.symbol])

    # ---- /exchange ----------------------------------------------------------------------------------

    def _asset(self, index: object) -> SymbolSpec:
        specs = wire.universe(self.sim.ledger.specs)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(specs):
            raise Refused(f"{DESERIALIZE}: asset {index!r}")
        return specs[index]

    async def action_order(self, call: ActionCall) -> Any:
        acct, action, now = call.acct, call.action, call.now_ms
        orders = action.get("orders")
        if not isinstance(orders, list) or not orders or action.get("grouping", "na") != "na":
            raise Refused(f"{DESERIALIZE}: orders")
        statuses: list[Any] = []
        for wire_order in orders:
            statuses.append(await self._order(acct, wire_order, now))
        return {"type": "order", "data": {"statuses": statuses}}

    async def _order(self, acct: Account, o: Any, now: int) -> Any:
        if not isinstance(o, dict) or set(o) - {"a", "b", "p", "s", "r", "t", "c"}:
            raise Refused(f"{DESERIALIZE}: order")
        index = o.get("a")
        spec = self._asset(index)
        tag = f" asset={index}"
        price, size = _decimal(o.get("p")), _decimal(o.get("s"))
        if (
            price is None
            or size is None
            or not isinstance(o.get("b"), bool)
            or not isinstance(o.get("r"), bool)
        ):
            raise Refused(f"{DESERIALIZE}: order fields")
        if o.get("t") != {"limit": {"tif": "Ioc"}}:
            return {"error": "The simulator executes IOC limit orders only." + tag}
        if not _valid_price(price, spec.quantity_precision):
            return {"error": "Price must be divisible by tick size." + tag}
        if max(0, -int(size.as_tuple().exponent)) > spec.quantity_precision:
            return {"error": "Order has invalid size." + tag}
        cloid = o.get("c")
        if cloid is not None and not (isinstance(cloid, str) and len(cloid) == 34 and cloid.startswith("0x")):
            raise Refused(f"{DESERIALIZE}: cloid")
        if cloid is not None and cloid.lower() in acct.client_ids:
            return {"error": "Duplicate cloid." + tag}
        buy: bool = o["b"]
        mark = self.sim.ledger.marks[spec.symbol]
        if (buy and float(price) < mark) or (not buy and float(price) > mark):
            return {"error": NO_MATCH + tag}
        try:
            order, events = self.sim.ledger.place_market_order(
                acct.name,
                spec.symbol,
                "BUY" if buy else "SELL",
                float(size),
                reduce_only=o["r"],
                client_order_id=cloid.lower() if cloid else None,
                now_ms=now,
            )
        except Rejected as rejected:
            return {"error": ORDER_ERRORS.get(rejected.reason, str(rejected)) + tag}
        await self.sim.emit(events)
        avg = wire.num(order.avg_price, spec.price_precision + 2)
        return {
            "filled": {
                "totalSz": wire.num(order.executed_qty, spec.quantity_precision),
                "avgPx": avg,
                "oid": order.order_id,
            }
        }

    async def action_cancel(self, call: ActionCall) -> Any:
        action = call.action
        cancels = action.get("cancels")
        if not isinstance(cancels, list):
            raise Refused(f"{DESERIALIZE}: cancels")
        missing = {"error": "Order was never placed, already canceled, or filled."}
        return {"type": "cancel", "data": {"statuses": [missing for _ in cancels]}}

    async def action_updateIsolatedMargin(self, call: ActionCall) -> Any:
        acct, action, now = call.acct, call.action, call.now_ms
        """``ntli`` is the USD amount x 10^6, a whole number (positive adds, negative removes)."""
        spec = self._asset(action.get("asset"))
        ntli = action.get("ntli")
        if not isinstance(ntli, int) or isinstance(ntli, bool) or not isinstance(action.get("isBuy"), bool):
            raise Refused(f"{DESERIALIZE}: ntli")
        if ntli == 0:
            raise Refused("Margin update amount must be nonzero.")
        leg = acct.legs.get((spec.symbol, BOTH))
        if acct.config(spec.symbol).margin_mode is not MarginMode.ISOLATED or leg is None or not leg.amount:
            raise Refused("Cannot update margin for a position that is not isolated.")
        try:
            events = self.sim.ledger.modify_isolated_margin(
                acct.name, spec.symbol, abs(ntli) / 1e6, add=ntli > 0, now_ms=now
            )
        except Rejected as rejected:
            raise Refused(
                "Insufficient margin to update isolated margin."
                if rejected.reason
                in (Reason.CROSS_BALANCE_INSUFFICIENT, Reason.ISOLATED_BALANCE_INSUFFICIENT)
                else str(rejected)
            ) from None
        await self.sim.emit(events)
        return {"type": "default"}

    async def action_updateLeverage(self, call: ActionCall) -> Any:
        acct, action = call.acct, call.action
        spec = self._asset(action.get("asset"))
        lev, cross = action.get("leverage"), action.get("isCross")
        if not isinstance(lev, int) or not isinstance(cross, bool):
            raise Refused(f"{DESERIALIZE}: leverage")
        try:
            self.sim.ledger.set_leverage(acct.name, spec.symbol, lev)
        except Rejected:
            raise Refused(f"Invalid leverage value: {lev}") from None
        return {"type": "default"}


def _decimal(value: object) -> Decimal | None:
    if not isinstance(value, str):
        return None
    try:
        d = Decimal(value)
    except InvalidOperation:
        return None
    return d if d.is_finite() and d > 0 else None


def _valid_price(price: Decimal, sz_decimals: int) -> bool:
    """At most 5 significant figures (an integer price always passes) and at most ``6 - szDecimals``
    decimals (docs "Tick and lot size")."""
    decimals = max(0, -int(price.as_tuple().exponent))
    if decimals > 6 - sz_decimals:
        return False
    if price == price.to_integral_value():
        return True
    digits = price.normalize().as_tuple().digits
    return len(digits) <= 5 and math.isfinite(float(price))


def _empty_state(now: int) -> JSON:
    zero = {"accountValue": "0.0", "totalNtlPos": "0.0", "totalRawUsd": "0.0", "totalMarginUsed": "0.0"}
    return {
        "marginSummary": dict(zero),
        "crossMarginSummary": dict(zero),
        "crossMaintenanceMarginUsed": "0.0",
        "withdrawable": "0.0",
        "assetPositions": [],
        "time": now,
    }
