"""Bybit v5 REST over the simulator's ledger: the routes ccxt's ``bybit`` calls to load markets, read
positions, the wallet, the account's settings and the risk-limit tiers, and to de-risk (reduce-only
market orders, ``POST /v5/position/add-margin``).

Private requests carry ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP``, ``X-BAPI-RECV-WINDOW`` and
``X-BAPI-SIGN`` = hex HMAC-SHA256 of timestamp + key + recv window + payload (the raw query string
of a GET, the JSON body of a POST). Every reply is Bybit's envelope; refusals are HTTP 200 with a
non-zero ``retCode`` (``errors``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from monitor.model import MarginMode
from monitor.sim.dialects.bybit import wire
from monitor.sim.dialects.bybit.errors import BybitError, from_rejection, params_error
from monitor.sim.errors import BinanceError
from monitor.sim.ledger import BOTH, LONG, SHORT, Account
from monitor.sim.rejections import Reason, Rejected
from monitor.sim.rest import Call, Handler, RestApi, Security
from monitor.sim.specs import SymbolSpec, decimals_of

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

V5 = "/v5"
RISK_LIMIT_PAGE = 15  # symbols per page of market/risk-limit (linear)
DEFAULT_RECV_WINDOW_MS = 5000
MAX_AHEAD_MS = 1000


def signature(payload: str, secret: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class BybitRestApi(RestApi):
    """The ``/v5`` endpoints; ``requests`` and ``request_times`` as the base class keeps them."""

    def __init__(self, sim: SimExchange) -> None:
        super().__init__(sim)
        r: dict[tuple[str, str], tuple[Security, Handler]] = {}
        r["GET", f"{V5}/market/time"] = ("NONE", self.server_time)
        r["GET", f"{V5}/market/instruments-info"] = ("NONE", self.instruments)
        r["GET", f"{V5}/market/tickers"] = ("NONE", self.tickers)
        r["GET", f"{V5}/market/risk-limit"] = ("NONE", self.risk_limit)
        r["GET", f"{V5}/asset/coin/query-info"] = ("SIGNED", self.coin_info)
        r["GET", f"{V5}/user/query-api"] = ("SIGNED", self.query_api)
        r["GET", f"{V5}/account/info"] = ("SIGNED", self.account_info)
        r["GET", f"{V5}/account/wallet-balance"] = ("SIGNED", self.wallet_balance)
        r["GET", f"{V5}/account/fee-rate"] = ("SIGNED", self.fee_rate)
        r["GET", f"{V5}/position/list"] = ("SIGNED", self.position_list)
        r["POST", f"{V5}/order/create"] = ("SIGNED", self.create_order)
        r["GET", f"{V5}/order/realtime"] = ("SIGNED", self.orders_realtime)
        r["GET", f"{V5}/order/history"] = ("SIGNED", self.orders_history)
        r["POST", f"{V5}/position/add-margin"] = ("SIGNED", self.add_margin)
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
                if failure.status >= 400 and failure.status != 429:
                    # a gateway or server failure: no envelope, as Bybit's edge answers it
                    return web.Response(status=failure.status, text=failure.msg)
                raise BybitError(failure.code, failure.msg, failure.status)
            route = self.routes.get((method, path))
            if route is None:
                return web.Response(status=404, text="Not Found")
            security, handler = route
            query = request.rel_url.raw_query_string
            body = await request.text()
            params = self._params(method, query, body)
            account: Account | None = None
            if security == "SIGNED":
                account = self._authenticate(request, query if method == "GET" else body, now)
            result = await handler(Call(params, account, now))
            return web.json_response(wire.envelope(result, now))
        except Rejected as rejected:
            exc = self.refusal(rejected)
            return web.json_response(exc.body(now), status=exc.status)
        except BybitError as exc:
            return web.json_response(exc.body(now), status=exc.status)
        except BinanceError as exc:  # the shared ``Call.need``: a parameter missing
            return web.json_response(BybitError(10001, f"params error: {exc.msg}").body(now))

    def refusal(self, rejected: Rejected) -> BybitError:  # type: ignore[override]
        return from_rejection(rejected)

    @staticmethod
    def _params(method: str, query: str, body: str) -> dict[str, str]:
        if method == "GET" or not body:
            return dict(parse_qsl(query, keep_blank_values=True))
        try:
            decoded = json.loads(body)
        except ValueError:
            raise BybitError(10001, "params error: request body is not JSON") from None
        if not isinstance(decoded, dict):
            raise BybitError(10001, "params error: request body is not an object")
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in decoded.items()}

    def _authenticate(self, request: web.Request, payload: str, now_ms: int) -> Account:
        h = request.headers
        api_key = h.get("X-BAPI-API-KEY", "")
        acct = self.sim.ledger.account_by_key(api_key) if api_key else None
        if acct is None:
            raise from_rejection(Rejected(Reason.AUTH_FAILED))
        ts, window, sign = (
            h.get("X-BAPI-TIMESTAMP", ""),
            h.get("X-BAPI-RECV-WINDOW", ""),
            h.get("X-BAPI-SIGN", ""),
        )
        if not ts.isdigit():
            raise BybitError(10001, "params error: X-BAPI-TIMESTAMP missing")
        recv = int(window) if window.isdigit() else DEFAULT_RECV_WINDOW_MS
        expected = signature(ts + api_key + (window if window else "") + payload, acct.secret)
        if not hmac.compare_digest(sign.lower(), expected):
            raise from_rejection(Rejected(Reason.BAD_SIGNATURE))
        if not (now_ms - recv <= int(ts) < now_ms + MAX_AHEAD_MS):
            raise from_rejection(Rejected(Reason.BAD_TIMESTAMP))
        return acct

    # ---- helpers ------------------------------------------------------------------------------

    def _category(self, call: Call, *, required: bool = True) -> str | None:
        cat = call.params.get("category")
        if cat is None or cat == "":
            if required:
                raise BybitError(10001, "params error: Category is null")
            return None
        if cat not in ("linear", "inverse", "spot", "option"):
            raise BybitError(10001, "params error: Category is invalid")
        return cat

    def _specs(self, cat: str | None, symbol: str | None = None) -> list[SymbolSpec]:
        specs = self.sim.ledger.specs
        if symbol:
            spec = specs.get(symbol)
            if spec is None or (cat is not None and wire.category(spec) != cat):
                raise BybitError(10001, "params error: symbol invalid")
            return [spec]
        return [s for s in specs.values() if cat is None or wire.category(s) == cat]

    def _position_side(self, acct: Account, raw: str | None) -> str:
        if raw in (None, ""):
            idx = 0
        elif raw in ("0", "1", "2"):
            idx = int(raw)
        else:
            raise params_error("positionIdx")
        if (idx == 0) == acct.hedge_mode:
            raise from_rejection(Rejected(Reason.POSITION_SIDE_MISMATCH))
        return wire.POSITION_SIDE_OF_IDX[idx]

    # ---- public -------------------------------------------------------------------------------

    async def server_time(self, call: Call) -> Any:
        return {"timeSecond": str(call.now_ms // 1000), "timeNano": str(call.now_ms * 1_000_000)}

    async def instruments(self, call: Call) -> Any:
        cat = self._category(call)
        if call.params.get("status") == "PreLaunch":
            return wire.listed([], cat or "")
        specs = [] if cat in ("spot", "option") else self._specs(cat, call.params.get("symbol"))
        return wire.listed((wire.instrument(s) for s in specs), cat or "")

    async def tickers(self, call: Call) -> Any:
        cat = self._category(call)
        marks = self.sim.ledger.marks
        specs = [] if cat in ("spot", "option") else self._specs(cat, call.params.get("symbol"))
        return {"category": cat, "list": [wire.ticker(s, marks[s.symbol], call.now_ms) for s in specs]}

    async def risk_limit(self, call: Call) -> Any:
        """Linear risk limits come in pages of ``RISK_LIMIT_PAGE`` symbols, the next page named by
        ``nextPageCursor`` ("" on the last), as Bybit pages them."""
        cat = self._category(call)
        specs = self._specs(cat, call.params.get("symbol"))
        try:
            start = int(call.params.get("cursor") or 0)
        except ValueError:
            raise BybitError(10001, "params error: cursor invalid") from None
        page = specs[start : start + RISK_LIMIT_PAGE]
        more = start + RISK_LIMIT_PAGE < len(specs)
        return {
            "category": cat,
            "list": [row for s in page for row in wire.risk_limits(s)],
            "nextPageCursor": str(start + RISK_LIMIT_PAGE) if more else "",
        }

    # ---- account ------------------------------------------------------------------------------

    async def coin_info(self, call: Call) -> Any:
        """ccxt's ``fetch_currencies`` (called by ``load_markets`` with credentials): no chains, the
        simulator moves no coins."""
        return {"rows": []}

    async def query_api(self, call: Call) -> Any:
        return wire.api_key_info(call.acct.api_key)

    async def account_info(self, call: Call) -> Any:
        acct = call.acct
        modes = {acct.config(s).margin_mode for s in self.sim.ledger.specs}
        mode = "ISOLATED_MARGIN" if modes == {MarginMode.ISOLATED} else "REGULAR_MARGIN"
        return wire.account_info(mode, call.now_ms)

    async def wallet_balance(self, call: Call) -> Any:
        if call.params.get("accountType", "UNIFIED") != "UNIFIED":
            raise BybitError(10001, "accountType only support UNIFIED.")
        acct = call.acct
        return wire.wallet(self.sim.ledger.risk(acct), acct.wallets)

    async def fee_rate(self, call: Call) -> Any:
        cat = self._category(call)
        specs = self._specs(cat, call.params.get("symbol"))
        taker = f"{call.acct.taker_fee:.6f}"
        return {
            "list": [{"symbol": s.symbol, "takerFeeRate": taker, "makerFeeRate": "0.0002"} for s in specs]
        }

    async def position_list(self, call: Call) -> Any:
        cat = self._category(call)
        symbol = call.params.get("symbol") or None
        settle = call.params.get("settleCoin") or None
        base = call.params.get("baseCoin") or None
        if symbol is None and settle is None and base is None:
            raise BybitError(10001, "params error: symbol or settleCoin is required")
        acct = call.acct
        ledger = self.sim.ledger
        specs = [
            s
            for s in self._specs(cat, symbol)
            if (settle is None or s.margin_asset == settle) and (base is None or s.base == base)
        ]
        sides = (LONG, SHORT) if acct.hedge_mode else (BOTH,)
        rows = []
        for spec in specs:
            pool = ledger.cross_pool(acct, spec.margin_asset)
            for ps in sides:
                leg = ledger.leg_risk(acct, spec.symbol, ps, pool)
                if leg.amount != 0 or symbol is not None:  # a flat row only when asked by symbol
                    rows.append(wire.position(leg, spec, call.now_ms))
        return wire.listed(rows, cat or "")

    # ---- orders and margin --------------------------------------------------------------------

    async def create_order(self, call: Call) -> Any:
        cat = self._category(call)
        symbol = call.need("symbol")
        spec = self._specs(cat, symbol)[0]
        side = call.need("side")
        if side not in ("Buy", "Sell"):
            raise params_error("side")
        if call.need("orderType") != "Market":
            raise BybitError(10001, "params error: the simulator executes Market orders only")
        raw_qty = call.need("qty")
        try:
            quantity = float(raw_qty)
        except ValueError:
            raise params_error("qty") from None
        if decimals_of(raw_qty) > decimals_of(spec.step_size):
            raise BybitError(10001, "Qty invalid")
        link = call.params.get("orderLinkId") or None
        if link is not None and (len(link) > 36 or link in call.acct.client_ids):
            raise BybitError(
                110072, "OrderLinkedID is duplicate" if len(link) <= 36 else "orderLinkId invalid"
            )
        reduce_only = call.params.get("reduceOnly", "false").lower() == "true"
        acct = call.acct
        position_side = self._position_side(acct, call.params.get("positionIdx"))
        # Bybit: a reduce-only order on a hedge leg must be on the side that closes it; the
        # ledger's hedge legs (Binance's) close by naming the leg, without the flag
        if acct.hedge_mode and reduce_only and (side == "Buy") == (position_side == LONG):
            raise from_rejection(Rejected(Reason.REDUCE_ONLY_WOULD_INCREASE))
        order, events = self.sim.ledger.place_market_order(
            acct.name,
            symbol,
            side.upper(),
            quantity,
            position_side=position_side if acct.hedge_mode else None,
            reduce_only=None if acct.hedge_mode else reduce_only,
            client_order_id=link,
            now_ms=call.now_ms,
        )
        await self.sim.emit(events)
        return {"orderId": str(order.order_id), "orderLinkId": order.client_order_id}

    def _orders(self, call: Call) -> list[Any]:
        cat = self._category(call)
        acct = call.acct
        symbol = call.params.get("symbol") or None
        order_id = call.params.get("orderId") or None
        link = call.params.get("orderLinkId") or None
        specs = self.sim.ledger.specs
        found = [
            o
            for o in acct.orders.values()
            if (symbol is None or o.symbol == symbol)
            and wire.category(specs[o.symbol]) == cat
            and (order_id is None or str(o.order_id) == order_id)
            and (link is None or o.client_order_id == link)
        ]
        found.sort(key=lambda o: o.order_id, reverse=True)
        limit = int(call.params.get("limit", "20") or "20")
        return [wire.order(o, specs[o.symbol]) for o in found[:limit]]

    async def orders_realtime(self, call: Call) -> Any:
        """Open orders, and (as Bybit does for ``orderId``/``orderLinkId``) recent closed ones."""
        rows = self._orders(call)
        if not (call.params.get("orderId") or call.params.get("orderLinkId")):
            rows = [r for r in rows if r["orderStatus"] in ("New", "PartiallyFilled")]
        return {"category": call.params.get("category"), "list": rows, "nextPageCursor": ""}

    async def orders_history(self, call: Call) -> Any:
        return {"category": call.params.get("category"), "list": self._orders(call), "nextPageCursor": ""}

    async def add_margin(self, call: Call) -> Any:
        cat = self._category(call)
        symbol = call.need("symbol")
        spec = self._specs(cat, symbol)[0]
        try:
            amount = float(call.need("margin"))
        except ValueError:
            raise params_error("margin") from None
        if amount == 0:
            raise params_error("margin")
        acct = call.acct
        ps = self._position_side(acct, call.params.get("positionIdx"))
        events = self.sim.ledger.modify_isolated_margin(
            acct.name,
            symbol,
            abs(amount),
            add=amount > 0,
            position_side=ps if acct.hedge_mode else None,
            now_ms=call.now_ms,
        )
        await self.sim.emit(events)
        ledger = self.sim.ledger
        leg = ledger.leg_risk(acct, symbol, ps)
        row = wire.position(leg, spec, call.now_ms)
        return {"category": cat, **row}
