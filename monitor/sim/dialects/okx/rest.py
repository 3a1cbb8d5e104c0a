"""OKX v5 REST over the simulator's ledger: the routes ccxt's ``okx`` and the OKX adapter call to load
the swaps, read the account's mode, positions, balance and position tiers, and to de-risk (reduce-only
market orders by ``trade/order`` or ccxt's ``trade/batch-orders``, the order by ``clOrdId``,
``account/position/margin-balance``).

Signed requests carry ``OK-ACCESS-KEY``, ``OK-ACCESS-PASSPHRASE``, ``OK-ACCESS-TIMESTAMP`` (ISO 8601
with milliseconds, within 30 s) and ``OK-ACCESS-SIGN`` = base64 HMAC-SHA256 of timestamp + method +
path (+ "?" + query) + body. Replies are OKX's envelope (``code``, ``msg``, ``data``); an order refused
is ``code`` "1" with its reason in ``data[].sCode`` (``errors``).

The ledger keeps one margin mode per symbol, so an order's ``tdMode`` must name the mode of the
position it reduces: another mode finds nothing to reduce in that direction (51169), as OKX answers
a reduce-only order sent with ccxt's default ``cross`` against an isolated position.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from monitor.model import MarginMode
from monitor.sim.dialects.okx import wire
from monitor.sim.dialects.okx.errors import (
    NO_POSITION,
    ORDER_NOT_FOUND,
    OkxError,
    from_rejection,
    param,
    passphrase_of,
)
from monitor.sim.ledger import BOTH, BUY, LONG, SELL, SHORT, Account
from monitor.sim.rejections import Reason, Rejected
from monitor.sim.specs import SymbolSpec

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

V5 = "/api/v5"
TIMESTAMP_WINDOW_MS = 30_000
MAX_TIER_FAMILIES = 1
MAX_POSITION_IDS = 10


@dataclass(frozen=True, slots=True)
class Call:
    params: dict[str, str]
    account: Account | None
    now_ms: int
    body: Any = None

    def need(self, name: str) -> str:
        value = self.params.get(name)
        if value is None or value == "":
            raise OkxError("50014", f"Parameter {name} can not be empty")
        return value

    @property
    def acct(self) -> Account:
        assert self.account is not None, "signed endpoint without an account"
        return self.account


Handler = Callable[[Call], Awaitable[Any]]


def sign(prehash: str, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()).decode()


def _gateway_body(status: int, msg: str) -> dict[str, Any]:
    """What OKX's gateway answers for an unknown path or a server failure: a numeric ``code``."""
    return {
        "code": status,
        "data": {},
        "detailMsg": "",
        "error_code": str(status),
        "error_message": msg,
        "msg": msg,
    }


class OkxRestApi:
    """The ``/api/v5`` endpoints; ``requests`` and ``request_times`` as the other dialects keep them."""

    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim
        self.requests: list[tuple[str, str]] = []
        self.request_times: list[int] = []
        r: dict[tuple[str, str], tuple[bool, Handler]] = {}
        r["GET", f"{V5}/public/time"] = (False, self.time)
        r["GET", f"{V5}/public/instruments"] = (False, self.instruments)
        r["GET", f"{V5}/public/mark-price"] = (False, self.mark_price)
        r["GET", f"{V5}/public/position-tiers"] = (False, self.position_tiers)
        r["GET", f"{V5}/asset/currencies"] = (True, self.currencies)
        r["GET", f"{V5}/account/config"] = (True, self.config)
        r["GET", f"{V5}/account/balance"] = (True, self.balance)
        r["GET", f"{V5}/account/positions"] = (True, self.positions)
        r["POST", f"{V5}/trade/order"] = (True, self.place_order)
        r["POST", f"{V5}/trade/batch-orders"] = (True, self.batch_orders)
        r["GET", f"{V5}/trade/order"] = (True, self.get_order)
        r["POST", f"{V5}/account/position/margin-balance"] = (True, self.margin_balance)
        self.routes = r

    # ---- dispatch -----------------------------------------------------------------------------

    async def dispatch(self, request: web.Request) -> web.Response:
        method, path = request.method, request.path
        self.requests.append((method, path))
        now = self.sim.now_ms()
        self.request_times.append(now)
        try:
            failure = self.sim.faults.take_rest_failure(path)
            if self.sim.faults.rest_delay > 0:
                await asyncio.sleep(self.sim.faults.rest_delay)
            if failure is not None:
                headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
                failed: dict[str, Any]
                if failure.status == 200:
                    failed = wire.envelope([], str(failure.code), failure.msg)
                elif failure.status == 429:
                    failed = {"msg": failure.msg, "code": "50011"}
                else:
                    failed = _gateway_body(failure.status, failure.msg)
                return web.json_response(failed, status=failure.status, headers=headers)
            route = self.routes.get((method, path))
            if route is None:
                return web.json_response(_gateway_body(404, "Not Found"), status=404)
            signed, handler = route
            query = request.rel_url.raw_query_string
            body_text = await request.text()
            params = dict(parse_qsl(query, keep_blank_values=True))
            body: Any = None
            if body_text:
                try:
                    body = json.loads(body_text)
                except ValueError:
                    raise OkxError("50002", "JSON syntax error") from None
                if isinstance(body, dict):
                    params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
                elif not isinstance(body, list):
                    raise OkxError("50002", "JSON syntax error")
            account = self._authenticate(request, method, path, query, body_text, now) if signed else None
            data = await handler(Call(params, account, now, body))
            return web.json_response(wire.envelope(data))
        except Rejected as rejected:
            exc = from_rejection(rejected)
            return web.json_response(exc.body(), status=exc.status)
        except OkxError as exc:
            return web.json_response(exc.body(), status=exc.status)

    def _authenticate(
        self, request: web.Request, method: str, path: str, query: str, body: str, now: int
    ) -> Account:
        h = request.headers
        key = h.get("OK-ACCESS-KEY", "")
        acct = self.sim.ledger.account_by_key(key) if key else None
        if acct is None:
            raise OkxError("50111", "Invalid OK-ACCESS-KEY", 401)
        if not hmac.compare_digest(h.get("OK-ACCESS-PASSPHRASE", ""), passphrase_of(acct)):
            raise OkxError("50105", "Invalid OK-ACCESS-PASSPHRASE", 401)
        ts = h.get("OK-ACCESS-TIMESTAMP", "")
        try:
            stamp = int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP", 401) from None
        if abs(now - stamp) > TIMESTAMP_WINDOW_MS:
            raise OkxError("50102", "Timestamp request expired", 401)
        prehash = ts + method + path + ("?" + query if query else "") + body
        if not hmac.compare_digest(h.get("OK-ACCESS-SIGN", ""), sign(prehash, acct.secret)):
            raise OkxError("50113", "Invalid Sign", 401)
        return acct

    # ---- helpers ------------------------------------------------------------------------------

    def _by_inst(self) -> dict[str, SymbolSpec]:
        return {wire.inst_id(s): s for s in self.sim.ledger.specs.values()}

    def _spec(self, inst: str) -> SymbolSpec:
        spec = self._by_inst().get(inst)
        if spec is None:
            raise OkxError("51001", "Instrument ID does not exist")
        return spec

    def _swap(self, call: Call, *, required: bool = True) -> bool:
        kind = call.need("instType") if required else call.params.get("instType") or "SWAP"
        if kind not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "ANY"):
            raise param("instType")
        return kind in ("SWAP", "ANY")

    def _fee(self, acct: Account) -> float:
        return acct.taker_fee

    def _positions(self, acct: Account, specs: list[SymbolSpec], now: int) -> list[wire.JSON]:
        ledger = self.sim.ledger
        risk = ledger.risk(acct)
        cross_ratio = wire.okx_ratio(risk.cross.maint_margin, risk.cross.equity)
        wanted = {s.symbol for s in specs}
        return [
            wire.position(
                leg,
                ledger.specs[leg.symbol],
                taker_fee=self._fee(acct),
                cross_okx_ratio=cross_ratio,
                now_ms=now,
            )
            for leg in risk.legs
            if leg.symbol in wanted and leg.amount != 0
        ]

    # ---- public -------------------------------------------------------------------------------

    async def time(self, call: Call) -> Any:
        return [{"ts": str(call.now_ms)}]

    async def instruments(self, call: Call) -> Any:
        if not self._swap(call):
            return []
        specs = list(self.sim.ledger.specs.values())
        inst = call.params.get("instId")
        if inst:
            specs = [self._spec(inst)]
        return [wire.instrument(s) for s in specs]

    async def mark_price(self, call: Call) -> Any:
        if not self._swap(call):
            return []
        marks = self.sim.ledger.marks
        inst = call.params.get("instId")
        specs = [self._spec(inst)] if inst else list(self.sim.ledger.specs.values())
        return [wire.mark_row(s, marks[s.symbol], self.sim.marks_ms) for s in specs]

    async def position_tiers(self, call: Call) -> Any:
        """Tiers of one instrument family (``instFamily`` or ``uly``, required for swaps), or of one
        ``instId``; ``tdMode`` is required. Several families at once are refused: the documents
        read do not say OKX takes them here, so the adapter must not rely on it."""
        if not self._swap(call):
            return []
        if call.need("tdMode") not in ("cross", "isolated"):
            raise param("tdMode")
        families = (call.params.get("instFamily") or call.params.get("uly") or "").split(",")
        families = [f for f in families if f]
        inst = call.params.get("instId")
        if not families and not inst:
            raise OkxError("50014", "Parameter instFamily can not be empty")
        if len(families) > MAX_TIER_FAMILIES:
            raise param("instFamily")
        specs = [s for s in self.sim.ledger.specs.values() if wire.inst_family(s) in families]
        if inst:
            specs = [self._spec(inst)]
        elif len(specs) != len(families):
            raise OkxError("51001", "Instrument ID does not exist")
        return [row for s in specs for row in wire.tier_rows(s)]

    # ---- account ------------------------------------------------------------------------------

    async def currencies(self, call: Call) -> Any:
        """ccxt's ``fetch_currencies`` with credentials: the simulator moves no coins."""
        return []

    async def config(self, call: Call) -> Any:
        acct = call.acct
        uid = str(int(hashlib.sha256(acct.api_key.encode()).hexdigest()[:15], 16))
        return [wire.config(uid, acct.hedge_mode)]

    async def balance(self, call: Call) -> Any:
        acct = call.acct
        risk = self.sim.ledger.risk(acct)
        ccy = call.params.get("ccy")
        row = wire.balance(risk, self._fee(acct), call.now_ms)
        if ccy and ccy not in {d["ccy"] for d in row["details"]}:
            row["details"] = []
        return [row]

    async def positions(self, call: Call) -> Any:
        """Open positions only (OKX lists no flat one), of up to ten ``instId``s when named."""
        if not self._swap(call, required=False):
            return []
        raw = call.params.get("instId") or ""
        ids = [i for i in raw.split(",") if i]
        if len(ids) > MAX_POSITION_IDS:
            raise param("instId")
        specs = [self._spec(i) for i in ids] if ids else list(self.sim.ledger.specs.values())
        return self._positions(call.acct, specs, call.now_ms)

    # ---- orders and margin --------------------------------------------------------------------

    async def place_order(self, call: Call) -> Any:
        return [await self._order(call.acct, call.params, call.now_ms)]

    async def batch_orders(self, call: Call) -> Any:
        """ccxt's ``create_order`` posts here, a list of one order. All failed is code "1"."""
        items = call.body if isinstance(call.body, list) else None
        if not items or not all(isinstance(i, dict) for i in items):
            raise OkxError("50002", "JSON syntax error")
        rows = []
        for item in items:
            params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in item.items()}
            rows.append(await self._order(call.acct, params, call.now_ms))
        return rows

    async def _order(self, acct: Account, params: dict[str, str], now: int) -> wire.JSON:
        cl = params.get("clOrdId", "")
        try:
            order = await self._execute(acct, params, now)
        except Rejected as rejected:
            exc = from_rejection(rejected, order=True)
            exc.cl_ord_id = cl
            raise exc from None
        except OkxError as exc:
            exc.cl_ord_id = cl
            raise
        return {
            "clOrdId": order.client_order_id,
            "ordId": str(order.order_id),
            "sCode": "0",
            "sMsg": "Order placed",
            "tag": params.get("tag", ""),
            "ts": str(now),
        }

    async def _execute(self, acct: Account, params: dict[str, str], now: int) -> Any:
        """One market order. ``tdMode`` must name the symbol's margin mode. Net mode: ``side`` is the
        direction, ``reduceOnly`` makes it reduce-only, ``posSide`` is absent or ``net``. Long/short
        mode: ``posSide`` names the position (required), sell closes a long, buy a short."""

        def need(name: str) -> str:
            value = params.get(name)
            if not value:
                raise OkxError("50014", f"Parameter {name} can not be empty")
            return value

        spec = self._spec(need("instId"))
        td_mode = need("tdMode")
        if td_mode not in ("cross", "isolated"):
            raise OkxError("51000", "Parameter tdMode error ", order=True)
        side = need("side")
        if side not in ("buy", "sell"):
            raise OkxError("51000", "Parameter side error", order=True)
        if need("ordType") != "market":
            raise OkxError(
                "51000", "Parameter ordType error: the simulator fills market orders only", order=True
            )
        try:
            size = float(need("sz"))
        except ValueError:
            raise OkxError("51000", "Parameter sz error", order=True) from None
        cl = params.get("clOrdId") or None
        if cl is not None and (len(cl) > 32 or not cl.isalnum()):
            raise OkxError("51000", "Parameter clOrdId error", order=True)
        if cl is not None and cl in acct.client_ids:
            raise OkxError("51016", "Duplicated clOrdId", order=True)
        reduce_only = params.get("reduceOnly", "false").lower() == "true"
        pos = params.get("posSide", "")
        mode = acct.config(spec.symbol).margin_mode
        held_mode = MarginMode.ISOLATED if td_mode == "isolated" else MarginMode.CROSS
        ledger_side = BUY if side == "buy" else SELL
        if acct.hedge_mode:
            if pos not in ("long", "short"):
                raise OkxError("51000", "Parameter posSide error", order=True)
            ps = LONG if pos == "long" else SHORT
            closing = (ps == LONG) == (side == "sell")
            leg = acct.legs.get((spec.symbol, ps))
            if closing and (held_mode is not mode or leg is None or leg.amount == 0):
                raise OkxError(*NO_POSITION, order=True)
            position_side: str | None = ps
            flag: bool | None = None
        else:
            if pos not in ("", "net"):
                raise OkxError("51000", "Parameter posSide error", order=True)
            leg = acct.legs.get((spec.symbol, BOTH))
            if reduce_only and (held_mode is not mode or leg is None or leg.amount == 0):
                raise OkxError(*NO_POSITION, order=True)
            position_side = None
            flag = True if reduce_only else None
        if held_mode is not mode:
            raise OkxError("51000", "Parameter tdMode error ", order=True)
        quantity = size * wire.contract_value(spec)
        order, events = self.sim.ledger.place_market_order(
            acct.name,
            spec.symbol,
            ledger_side,
            round(quantity, 12),
            position_side=position_side,
            reduce_only=flag,
            client_order_id=cl,
            now_ms=now,
        )
        await self.sim.emit(events)
        return order

    async def get_order(self, call: Call) -> Any:
        acct = call.acct
        spec = self._spec(call.need("instId"))
        ord_id = call.params.get("ordId")
        cl = call.params.get("clOrdId")
        if not ord_id and not cl:
            raise OkxError("50014", "Parameter ordId can not be empty")
        oid = int(ord_id) if ord_id and ord_id.isdigit() else acct.client_ids.get(cl or "")
        order = acct.orders.get(oid) if oid is not None else None
        if order is None or order.symbol != spec.symbol:
            raise OkxError(*ORDER_NOT_FOUND)
        cfg = acct.config(spec.symbol)
        return [wire.order(order, spec, mode=cfg.margin_mode, leverage=cfg.leverage, hedge=acct.hedge_mode)]

    async def margin_balance(self, call: Call) -> Any:
        """Add to or reduce an isolated position's margin; ``posSide`` names it (``net`` in net mode)."""
        acct = call.acct
        spec = self._spec(call.need("instId"))
        kind = call.need("type")
        if kind not in ("add", "reduce"):
            raise param("type")
        pos = call.need("posSide")
        sides = {"long": LONG, "short": SHORT} if acct.hedge_mode else {"net": BOTH}
        if pos not in sides:
            raise param("posSide")
        try:
            amount = float(call.need("amt"))
        except ValueError:
            raise param("amt") from None
        try:
            events = self.sim.ledger.modify_isolated_margin(
                acct.name,
                spec.symbol,
                amount,
                add=kind == "add",
                position_side=sides[pos],
                now_ms=call.now_ms,
            )
        except Rejected as rejected:
            if rejected.reason is Reason.INVALID_PARAM:
                raise param("amt") from None
            raise
        await self.sim.emit(events)
        return [
            {
                "amt": call.params["amt"],
                "ccy": spec.margin_asset,
                "instId": wire.inst_id(spec),
                "leverage": str(acct.config(spec.symbol).leverage),
                "posSide": pos,
                "type": kind,
            }
        ]
