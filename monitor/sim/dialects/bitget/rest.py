"""Bitget's v2 mix REST over the simulator's ledger: the routes ccxt's ``bitget`` calls for markets,
positions, balance, tiers, market orders, order lookup and isolated margin.

Signed requests carry ``ACCESS-KEY``, ``ACCESS-SIGN`` = base64(HMAC-SHA256(secret, timestamp + METHOD +
path + ["?" + query] + body)), ``ACCESS-TIMESTAMP`` (ms) and ``ACCESS-PASSPHRASE``. Replies are
Bitget's envelope; refusals are HTTP 400 with Bitget's string ``code`` (``errors.py``), so ccxt raises
the classes it raises against Bitget. The UTA probe ccxt makes (GET /api/v3/account/settings) gets
40084, the answer to a classic key: ccxt then stays on the classic API by itself.
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
from urllib.parse import parse_qsl, unquote

from aiohttp import web

from monitor.sim.dialects.bitget import wire
from monitor.sim.dialects.bitget.errors import ORDER_NOT_FOUND, BitgetError, from_rejection, passphrase_of
from monitor.sim.ledger import BOTH, BUY, LONG, SELL, SHORT, Account
from monitor.sim.rejections import Reason, Rejected

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

TIMESTAMP_WINDOW_MS = 30_000
MIX = "/api/v2/mix"


@dataclass(frozen=True, slots=True)
class Call:
    params: dict[str, str]
    account: Account | None
    now_ms: int

    def need(self, name: str) -> str:
        value = self.params.get(name)
        if value is None or value == "":
            raise BitgetError("40019", f"Parameter {name} cannot be empty")
        return value

    @property
    def acct(self) -> Account:
        assert self.account is not None, "signed endpoint without an account"
        return self.account


Handler = Callable[[Call], Awaitable[Any]]


def sign(prehash: str, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()).decode()


class BitgetRestApi:
    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim
        self.requests: list[tuple[str, str]] = []
        self.request_times: list[int] = []
        r: dict[tuple[str, str], tuple[bool, Handler]] = {}
        r["GET", "/api/v2/public/time"] = (False, self.time)
        r["GET", "/api/v2/spot/public/coins"] = (False, self.coins)
        r["GET", f"{MIX}/market/contracts"] = (False, self.contracts)
        r["GET", f"{MIX}/market/tickers"] = (False, self.tickers)
        r["GET", f"{MIX}/market/ticker"] = (False, self.ticker)
        r["GET", f"{MIX}/market/symbol-price"] = (False, self.symbol_price)
        r["GET", f"{MIX}/market/query-position-lever"] = (False, self.position_lever)
        r["GET", "/api/v3/account/settings"] = (True, self.uta_settings)
        r["GET", f"{MIX}/position/all-position"] = (True, self.all_positions)
        r["GET", f"{MIX}/position/single-position"] = (True, self.single_position)
        r["GET", f"{MIX}/account/accounts"] = (True, self.accounts)
        r["GET", f"{MIX}/account/account"] = (True, self.account)
        r["POST", f"{MIX}/order/place-order"] = (True, self.place_order)
        r["GET", f"{MIX}/order/detail"] = (True, self.order_detail)
        r["GET", f"{MIX}/order/orders-pending"] = (True, self.orders_pending)
        r["GET", f"{MIX}/order/fills"] = (True, self.fills)
        r["POST", f"{MIX}/account/set-margin"] = (True, self.set_margin)
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
                body = wire.error_body(str(failure.code), failure.msg, now)
                return web.json_response(body, status=failure.status, headers=headers)
            route = self.routes.get((method, path))
            if route is None:
                return web.json_response(wire.error_body("40404", "Request URL NOT FOUND", now), status=404)
            signed, handler = route
            query = request.rel_url.raw_query_string
            body_text = await request.text()
            params = dict(parse_qsl(query, keep_blank_values=True))
            if body_text:
                try:
                    body = json.loads(body_text)
                except ValueError:
                    raise BitgetError("40017", "Parameter verification failed") from None
                if not isinstance(body, dict):
                    raise BitgetError("40017", "Parameter verification failed")
                params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
            account = self._authenticate(request, method, path, query, body_text, now) if signed else None
            result = await handler(Call(params, account, now))
            return web.json_response(wire.envelope(result, now))
        except Rejected as rejected:
            exc = from_rejection(rejected)
            return web.json_response(wire.error_body(exc.code, exc.msg, now), status=exc.status)
        except BitgetError as exc:
            return web.json_response(wire.error_body(exc.code, exc.msg, now), status=exc.status)

    def _authenticate(
        self, request: web.Request, method: str, path: str, query: str, body: str, now: int
    ) -> Account:
        h = request.headers
        key = h.get("ACCESS-KEY", "")
        if not key:
            raise BitgetError("40006", "Invalid ACCESS_KEY")
        acct = self.sim.ledger.account_by_key(key)
        if acct is None:
            raise BitgetError("40037", "Apikey does not exist")
        if not hmac.compare_digest(h.get("ACCESS-PASSPHRASE", ""), passphrase_of(acct)):
            raise BitgetError("40012", "apikey/password is incorrect")
        ts = h.get("ACCESS-TIMESTAMP", "")
        if not ts.isdigit():
            raise BitgetError("40005", "Invalid ACCESS_TIMESTAMP")
        if abs(now - int(ts)) > TIMESTAMP_WINDOW_MS:
            raise BitgetError("40008", "Request timestamp expired")
        prehash = ts + method + path + ("?" + unquote(query) if query else "") + body
        if not hmac.compare_digest(h.get("ACCESS-SIGN", ""), sign(prehash, acct.secret)):
            raise BitgetError("40009", "sign signature error")
        return acct

    def _product(self, call: Call, *, required: bool = True) -> bool:
        """Whether the request is for USDT-FUTURES, the only product the simulator lists."""
        product = call.need("productType") if required else call.params.get("productType", "USDT-FUTURES")
        return product.upper() == wire.PRODUCT

    def _symbol(self, call: Call) -> str:
        symbol = call.need("symbol").upper()
        if not self._product(call) or symbol not in self.sim.ledger.specs:
            raise BitgetError("40034", f"Parameter {symbol} does not exist")
        return symbol

    def _fee(self) -> float:
        accounts = self.sim.ledger.accounts
        return next(iter(accounts.values())).taker_fee if accounts else 0.0006

    # ---- public -------------------------------------------------------------------------------

    async def time(self, call: Call) -> Any:
        return {"serverTime": str(call.now_ms)}

    async def coins(self, call: Call) -> Any:
        """ccxt's load_markets asks for the spot coin list first; the simulator lists no spot coins."""
        return []

    async def contracts(self, call: Call) -> Any:
        if not self._product(call):
            return []
        fee = self._fee()
        return [wire.contract(spec, fee) for spec in self.sim.ledger.specs.values()]

    async def tickers(self, call: Call) -> Any:
        if not self._product(call):
            return []
        marks = self.sim.ledger.marks
        return [wire.ticker(s, marks[s], self.sim.marks_ms) for s in self.sim.ledger.specs]

    async def ticker(self, call: Call) -> Any:
        symbol = self._symbol(call)
        return [wire.ticker(symbol, self.sim.ledger.marks[symbol], self.sim.marks_ms)]

    async def symbol_price(self, call: Call) -> Any:
        symbol = self._symbol(call)
        price = wire.num(self.sim.ledger.marks[symbol])
        row = {"symbol": symbol, "price": price, "indexPrice": price, "markPrice": price}
        return [{**row, "ts": str(call.now_ms)}]

    async def position_lever(self, call: Call) -> Any:
        symbol = self._symbol(call)
        return wire.tiers(self.sim.ledger.specs[symbol], self._fee())

    # ---- account ------------------------------------------------------------------------------

    async def uta_settings(self, call: Call) -> Any:
        raise BitgetError(
            "40084", "You are in Classic Account mode, and the Unified Account API is not supported"
        )

    def _position_rows(self, acct: Account, symbol: str | None = None) -> list[wire.JSON]:
        return position_rows(self.sim, acct, symbol)

    async def all_positions(self, call: Call) -> Any:
        if not self._product(call):
            return []
        return self._position_rows(call.acct)

    async def single_position(self, call: Call) -> Any:
        return self._position_rows(call.acct, self._symbol(call))

    async def accounts(self, call: Call) -> Any:
        if not self._product(call):
            return []
        acct = call.acct
        return [wire.account(self.sim.ledger.risk(acct), hedge=acct.hedge_mode)]

    async def account(self, call: Call) -> Any:
        self._symbol(call)
        acct = call.acct
        return wire.account(self.sim.ledger.risk(acct), hedge=acct.hedge_mode)

    async def set_margin(self, call: Call) -> Any:
        symbol = self._symbol(call)
        acct = call.acct
        raw = call.need("amount")
        try:
            amount = float(raw)
        except ValueError:
            raise BitgetError("40017", "Parameter verification failed: amount") from None
        hold = call.params.get("holdSide", "").lower()
        if acct.hedge_mode:
            if hold not in ("long", "short"):
                raise BitgetError("40019", "Parameter holdSide cannot be empty")
            ps = LONG if hold == "long" else SHORT
        else:
            ps = BOTH
        events = self.sim.ledger.modify_isolated_margin(
            acct.name, symbol, abs(amount), add=amount > 0, position_side=ps, now_ms=call.now_ms
        )
        await self.sim.emit(events)
        return ""

    # ---- orders -------------------------------------------------------------------------------

    async def place_order(self, call: Call) -> Any:
        """A market order. One-way: ``side`` is the trade direction, ``reduceOnly`` "YES" makes it
        reduce-only and ``tradeSide`` is refused (40774). Hedge: ``side`` names the position (buy =
        long) and ``tradeSide`` says open or close; closing a leg that is flat is 22002."""
        symbol = self._symbol(call)
        acct = call.acct
        call.need("marginMode")
        call.need("marginCoin")
        side = call.need("side").lower()
        if side not in ("buy", "sell"):
            raise BitgetError("40017", "Parameter verification failed: side")
        if call.need("orderType").lower() != "market":
            raise Rejected(Reason.BAD_ORDER_TYPE, "orderType")
        raw_size = call.need("size")
        try:
            size = float(raw_size)
        except ValueError:
            raise BitgetError("40017", "Parameter verification failed: size") from None
        cid = call.params.get("clientOid") or None
        if cid is not None and cid in acct.client_ids:
            raise BitgetError("40757", "Duplicate clientOid")
        trade_side = call.params.get("tradeSide", "").lower()
        reduce_only: bool | None = None
        if acct.hedge_mode:
            if trade_side not in ("open", "close"):
                raise Rejected(Reason.POSITION_SIDE_MISMATCH, "tradeSide")
            ps = LONG if side == "buy" else SHORT
            opening = trade_side == "open"
            ledger_side = (BUY if ps == LONG else SELL) if opening else (SELL if ps == LONG else BUY)
        else:
            if trade_side:
                raise Rejected(Reason.POSITION_SIDE_MISMATCH, "tradeSide")
            ps = None
            ledger_side = BUY if side == "buy" else SELL
            reduce_only = True if call.params.get("reduceOnly", "NO").upper() == "YES" else None
        order, events = self.sim.ledger.place_market_order(
            acct.name,
            symbol,
            ledger_side,
            size,
            position_side=ps,
            reduce_only=reduce_only,
            client_order_id=cid,
            now_ms=call.now_ms,
        )
        await self.sim.emit(events)
        return {"clientOid": order.client_order_id, "orderId": str(order.order_id)}

    async def order_detail(self, call: Call) -> Any:
        symbol = self._symbol(call)
        acct = call.acct
        order_id = call.params.get("orderId")
        client_id = call.params.get("clientOid")
        if not order_id and not client_id:
            raise BitgetError("40019", "Parameter orderId cannot be empty")
        oid = int(order_id) if order_id and order_id.isdigit() else acct.client_ids.get(client_id or "")
        order = acct.orders.get(oid) if oid is not None else None
        if order is None or order.symbol != symbol:
            raise BitgetError("40109", ORDER_NOT_FOUND)
        cfg = acct.config(symbol)
        spec = self.sim.ledger.specs[symbol]
        hedge = acct.hedge_mode
        return wire.order_detail(order, spec, hedge=hedge, mode=cfg.margin_mode, leverage=cfg.leverage)

    async def orders_pending(self, call: Call) -> Any:
        return {"entrustedList": None, "endId": None}

    async def fills(self, call: Call) -> Any:
        acct = call.acct
        symbol = call.params.get("symbol")
        trades = [t for t in acct.trades if symbol is None or t.symbol == symbol.upper()]
        rows = [wire.ws_fill(t, acct.orders[t.order_id], hedge=acct.hedge_mode) for t in trades[-100:]]
        return {"fillList": rows, "endId": rows[-1]["tradeId"] if rows else None}


def position_rows(sim: SimExchange, acct: Account, symbol: str | None = None) -> list[wire.JSON]:
    """Every open leg of ``acct`` (of ``symbol`` only when given) as Bitget's position rows.

    ``cTime``: the simulator keeps no open time, so the leg's last update stands in for it. Every
    simulated position postdates Bitget's 2025-11-10 switch to tiered maintenance margin, which is
    all the daemon reads the open time for, and the book's tiers charge that way."""
    ledger = sim.ledger
    risk = ledger.risk(acct)
    ratio = risk.cross.ratio
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
                cross_ratio=ratio,
                opened_ms=leg.update_time or acct.update_time,
            )
        )
    return rows
