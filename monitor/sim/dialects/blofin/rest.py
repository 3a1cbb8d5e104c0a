"""BloFin's REST over the simulator's ledger: the routes ccxt's ``blofin`` calls for instruments,
marks, tiers, positions, the balance, market orders and order lookup.

Signed requests carry ``ACCESS-KEY``, ``ACCESS-PASSPHRASE``, ``ACCESS-TIMESTAMP`` (ms, within 60 s:
152405), ``ACCESS-NONCE`` (not reused by the key within 60 s: 152407) and ``ACCESS-SIGN`` =
base64 of the **hex** HMAC-SHA256(secret, path [+ "?" + query] + METHOD + timestamp + nonce + body).
Replies are BloFin's envelope with HTTP 200 even when refused (429 for a rate limit); an order's
refusal sits in ``data[0].code`` under a top-level "0".

There is no route to add or remove isolated margin: BloFin has none (a request gets 404).
Every simulated key is a plain transaction key, which refuses a ``brokerId`` (152011), unless
``broker_keys`` binds it to a broker, whose id alone it then accepts (152013 for another).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from monitor.sim.dialects.blofin import errors, wire
from monitor.sim.dialects.blofin.errors import BlofinError, from_rejection, passphrase_of
from monitor.sim.ledger import BOTH, BUY, LONG, SELL, SHORT, Account
from monitor.sim.rejections import Rejected

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

WINDOW_MS = 60_000
V1 = "/api/v1"


@dataclass(frozen=True, slots=True)
class Call:
    params: dict[str, str]
    account: Account | None
    now_ms: int

    def need(self, name: str) -> str:
        value = self.params.get(name)
        if value is None or value == "":
            raise BlofinError(errors.PARAM[0], f"Parameter {name} error")
        return value

    @property
    def acct(self) -> Account:
        assert self.account is not None, "signed endpoint without an account"
        return self.account


Handler = Callable[[Call], Awaitable[Any]]


def sign(prehash: str, secret: str) -> str:
    """BloFin's signature: base64 of the hex digest's text, not of the digest's bytes."""
    digest = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()


class Nonces:
    """The nonces each key used in the last 60 s."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, int]] = {}

    def fresh(self, key: str, nonce: str, now_ms: int) -> bool:
        seen = self._seen.setdefault(key, {})
        if len(seen) > 512:
            for old in [n for n, t in seen.items() if now_ms - t > WINDOW_MS]:
                del seen[old]
        used = seen.get(nonce)
        if used is not None and now_ms - used <= WINDOW_MS:
            return False
        seen[nonce] = now_ms
        return True


class BlofinRestApi:
    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim
        self.requests: list[tuple[str, str]] = []
        self.request_times: list[int] = []
        self.nonces = Nonces()
        # how long a WebSocket client may stay silent before the server closes it (``ws.IDLE_S``)
        self.idle_s = 30.0
        # api key -> the broker id it was created for (absent: a plain transaction key)
        self.broker_keys: dict[str, str] = {}
        # the marks REST serves and when they were published (``publish_marks``): as a stream would
        # have pushed them, so a stalled feed serves what it last published
        self.published: tuple[dict[str, float], int] = (dict(sim.ledger.marks), sim.marks_ms)
        r: dict[tuple[str, str], tuple[bool, Handler]] = {}
        r["GET", f"{V1}/market/instruments"] = (False, self.instruments)
        r["GET", f"{V1}/market/mark-price"] = (False, self.mark_price)
        r["GET", f"{V1}/market/position-tiers"] = (False, self.position_tiers)
        r["GET", f"{V1}/asset/currencies"] = (True, self.currencies)
        r["GET", f"{V1}/account/balance"] = (True, self.balance)
        r["GET", f"{V1}/account/positions"] = (True, self.positions)
        r["GET", f"{V1}/account/position-mode"] = (True, self.position_mode)
        r["GET", f"{V1}/account/margin-mode"] = (True, self.margin_mode)
        r["POST", f"{V1}/trade/order"] = (True, self.place_order)
        r["GET", f"{V1}/trade/order-detail"] = (True, self.order_detail)
        r["GET", f"{V1}/trade/orders-history"] = (True, self.orders_history)
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
                body = wire.error_body(str(failure.code), failure.msg)
                return web.json_response(body, status=failure.status, headers=headers)
            route = self.routes.get((method, path))
            if route is None:
                return web.json_response(wire.error_body("404", "Not Found"), status=404)
            signed, handler = route
            query = request.rel_url.raw_query_string
            body_text = await request.text()
            params = dict(parse_qsl(query, keep_blank_values=True))
            if body_text:
                try:
                    body = json.loads(body_text)
                except ValueError:
                    raise BlofinError(*errors.PARAM) from None
                if not isinstance(body, dict):
                    raise BlofinError(*errors.PARAM)
                params.update(
                    {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items() if v is not None}
                )
            account = self._authenticate(request, method, path, query, body_text, now) if signed else None
            result = await handler(Call(params, account, now))
            return web.json_response(wire.envelope(result))
        except Rejected as rejected:
            exc = from_rejection(rejected)
            return web.json_response(wire.error_body(exc.code, exc.msg), status=exc.status)
        except BlofinError as exc:
            return web.json_response(wire.error_body(exc.code, exc.msg), status=exc.status)

    def _authenticate(
        self, request: web.Request, method: str, path: str, query: str, body: str, now: int
    ) -> Account:
        h = request.headers
        acct = self.sim.ledger.account_by_key(h.get("ACCESS-KEY", ""))
        if acct is None:
            raise BlofinError(*errors.NO_KEY)
        if not hmac.compare_digest(h.get("ACCESS-PASSPHRASE", ""), passphrase_of(acct)):
            raise BlofinError(*errors.PASSPHRASE)
        ts = h.get("ACCESS-TIMESTAMP", "")
        if not ts.isdigit() or len(ts) != 13:
            raise BlofinError(*errors.TIMESTAMP_UNIT)
        if abs(now - int(ts)) > WINDOW_MS:
            raise BlofinError(*errors.EXPIRED)
        nonce = h.get("ACCESS-NONCE", "")
        prehash = path + ("?" + query if query else "") + method + ts + nonce + body
        if not nonce or not hmac.compare_digest(h.get("ACCESS-SIGN", ""), sign(prehash, acct.secret)):
            raise BlofinError(*errors.SIGNATURE)
        if not self.nonces.fresh(acct.api_key, nonce, now):
            raise BlofinError(*errors.REPEATED_NONCE)
        return acct

    def _spec(self, call: Call, name: str = "instId") -> str:
        """The ledger's symbol of the request's ``instId`` (``BTC-USDT`` -> ``BTCUSDT``)."""
        inst = call.need(name).upper()
        symbol = inst.replace("-", "")
        if symbol not in self.sim.ledger.specs or wire.inst_id(self.sim.ledger.specs[symbol]) != inst:
            raise BlofinError(*errors.NO_INSTRUMENT)
        return symbol

    def _fee(self) -> float:
        accounts = self.sim.ledger.accounts
        return next(iter(accounts.values())).taker_fee if accounts else 0.0006

    # ---- public -------------------------------------------------------------------------------

    async def instruments(self, call: Call) -> Any:
        return [wire.instrument(spec) for spec in self.sim.ledger.specs.values()]

    def publish_marks(self, marks: dict[str, float], now_ms: int) -> None:
        self.published = (marks, now_ms)

    async def mark_price(self, call: Call) -> Any:
        """Every instrument's mark as last published, in one reply (one instrument's with ``instId``),
        each stamped when it was published."""
        marks, ts = self.published
        specs = self.sim.ledger.specs
        if call.params.get("instId"):
            symbol = self._spec(call)
            return [wire.mark_row(specs[symbol], marks[symbol], ts)]
        return [wire.mark_row(specs[s], marks[s], ts) for s in specs]

    async def position_tiers(self, call: Call) -> Any:
        symbol = self._spec(call)
        mode = call.need("marginMode")
        if mode not in ("cross", "isolated"):
            raise BlofinError(errors.PARAM[0], "Parameter marginMode error")
        return wire.tiers(self.sim.ledger.specs[symbol], self._fee(), mode)

    # ---- account ------------------------------------------------------------------------------

    async def currencies(self, call: Call) -> Any:
        """ccxt's load_markets reads the currencies (a private route) when it holds keys."""
        return [wire.currency(wire.COIN)]

    async def balance(self, call: Call) -> Any:
        return wire.balance(self.sim.ledger.risk(call.acct), call.now_ms)

    async def positions(self, call: Call) -> Any:
        symbol = self._spec(call) if call.params.get("instId") else None
        return position_rows(self.sim, call.acct, symbol)

    async def position_mode(self, call: Call) -> Any:
        return {"positionMode": wire.position_mode(call.acct.hedge_mode)}

    async def margin_mode(self, call: Call) -> Any:
        return {"marginMode": "cross"}

    # ---- orders -------------------------------------------------------------------------------

    def _check_broker(self, call: Call) -> None:
        broker = call.params.get("brokerId") or ""
        if not broker:
            return
        bound = self.broker_keys.get(call.acct.api_key)
        if bound is None:
            raise BlofinError(*errors.BROKER_REFUSED)
        if broker != bound:
            raise BlofinError(*errors.BROKER_UNMATCHED)

    async def place_order(self, call: Call) -> Any:
        """A market order; a refusal of the order itself answers in ``data[0]``.

        Net mode: ``positionSide`` "net" (or absent), ``side`` the trade direction, ``reduceOnly``
        "true" makes it reduce-only (an oversized one closes the position without flipping it).
        Long/short mode: ``positionSide`` long or short names the leg, ``side`` the trade direction
        (sell closes a long). A ``positionSide`` of the other mode is 102089."""
        symbol = self._spec(call)
        acct = call.acct
        self._check_broker(call)
        mode = call.need("marginMode")
        if mode not in ("cross", "isolated"):
            raise BlofinError(errors.PARAM[0], "Parameter marginMode error")
        side = call.need("side").lower()
        if side not in ("buy", "sell"):
            raise BlofinError(errors.PARAM[0], "Parameter side error")
        order_type = call.need("orderType").lower()
        raw_size = call.need("size")
        try:
            size = float(raw_size)
        except ValueError:
            raise BlofinError(errors.PARAM[0], "Parameter size error") from None
        cid = call.params.get("clientOrderId") or None
        try:
            if order_type != "market":
                raise BlofinError("152001", "Parameter error: the simulator fills market orders only")
            if cid is not None and cid in acct.client_ids:
                raise BlofinError("102002", "Duplicate customized order ID")
            leg_side = call.params.get("positionSide", "net").lower()
            reduce_only = call.params.get("reduceOnly", "false").lower() == "true"
            if acct.hedge_mode:
                if leg_side not in ("long", "short"):
                    raise BlofinError(*errors.MODE_MISMATCH)
                ps: str | None = LONG if leg_side == "long" else SHORT
                only: bool | None = None
            else:
                if leg_side != "net":
                    raise BlofinError(*errors.MODE_MISMATCH)
                ps = None
                only = True if reduce_only else None
            spec = self.sim.ledger.specs[symbol]
            order, events = self.sim.ledger.place_market_order(
                acct.name,
                symbol,
                BUY if side == "buy" else SELL,
                round(size * wire.contract_value(spec), 12),
                position_side=ps,
                reduce_only=only,
                client_order_id=cid,
                now_ms=call.now_ms,
            )
        except Rejected as rejected:
            refused = from_rejection(rejected)
            return [_order_reply(None, cid, refused.code, refused.msg)]
        except BlofinError as refused:
            return [_order_reply(None, cid, refused.code, refused.msg)]
        await self.sim.emit(events)
        return [_order_reply(str(order.order_id), order.client_order_id, "0", "")]

    def _find(self, call: Call) -> Any:
        acct = call.acct
        order_id = call.params.get("orderId")
        client_id = call.params.get("clientOrderId")
        if not order_id and not client_id:
            raise BlofinError(errors.PARAM[0], "Parameter orderId error")
        oid = int(order_id) if order_id and order_id.isdigit() else acct.client_ids.get(client_id or "")
        return acct.orders.get(oid) if oid is not None else None

    async def order_detail(self, call: Call) -> Any:
        symbol = self._spec(call)
        order = self._find(call)
        if order is None or order.symbol != symbol:
            raise BlofinError(*errors.NOT_FOUND)
        return self._order_row(call.acct, order)

    async def orders_history(self, call: Call) -> Any:
        acct = call.acct
        symbol = self._spec(call) if call.params.get("instId") else None
        orders = [o for o in acct.orders.values() if symbol is None or o.symbol == symbol]
        return [self._order_row(acct, o) for o in orders[-100:]][::-1]

    def _order_row(self, acct: Account, order: Any) -> wire.JSON:
        cfg = acct.config(order.symbol)
        spec = self.sim.ledger.specs[order.symbol]
        return wire.order(order, spec, hedge=acct.hedge_mode, mode=cfg.margin_mode, leverage=cfg.leverage)


def _order_reply(order_id: str | None, cid: str | None, code: str, msg: str) -> wire.JSON:
    return {"orderId": order_id, "clientOrderId": cid or "", "msg": msg, "code": code}


def position_rows(sim: SimExchange, acct: Account, symbol: str | None = None) -> list[wire.JSON]:
    """Every open leg of ``acct`` (of ``symbol`` only when given) as BloFin's position rows. The
    simulator keeps no open time: the leg's last update stands in for it."""
    ledger = sim.ledger
    risk = ledger.risk(acct)
    pool = risk.cross
    cross_ratio = pool.equity / pool.maint_margin if pool.maint_margin > 0 else 0.0
    rows = []
    for leg in risk.legs:
        if symbol is not None and leg.symbol != symbol:
            continue
        rows.append(
            wire.position(
                leg,
                ledger.specs[leg.symbol],
                hedge=acct.hedge_mode,
                taker_fee=acct.taker_fee,
                cross_ratio=cross_ratio,
                open_ms=leg.update_time or acct.update_time,
            )
        )
    return rows


__all__ = ["BOTH", "BlofinRestApi", "position_rows", "sign"]
