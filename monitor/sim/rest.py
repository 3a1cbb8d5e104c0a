"""The REST side of the simulator: Binance USD-M endpoints over aiohttp.

A thin layer: it authenticates the request (``auth``), calls the ledger, publishes the events the
ledger returns, and shapes the reply (``frames``). Errors are Binance's ``{"code", "msg"}`` bodies with
Binance's HTTP statuses (the ledger's neutral refusals mapped by ``errors.from_rejection``), so ccxt
raises the same exception classes it raises against Binance.

Only MARKET orders are executed (the simulator keeps no order book); other order types get -1116.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from monitor.model import MarginMode
from monitor.sim import auth, errors, frames
from monitor.sim.errors import BinanceError
from monitor.sim.ledger import BOTH, LONG, SHORT, Account
from monitor.sim.rejections import Rejected
from monitor.sim.specs import decimals_of

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

Security = Literal["NONE", "SIGNED", "USER_STREAM"]
CLIENT_ORDER_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


@dataclass(frozen=True, slots=True)
class Call:
    params: dict[str, str]
    account: Account | None
    now_ms: int

    def need(self, name: str) -> str:
        value = self.params.get(name)
        if value is None or value == "":
            raise errors.mandatory_param(name)
        return value

    @property
    def acct(self) -> Account:
        assert self.account is not None, "signed endpoint without an account"
        return self.account


Handler = Callable[[Call], Awaitable[Any]]


class OrderBodies:
    """How an order is written in replies (USD-M's here; a dialect may substitute its own)."""

    order_result = staticmethod(frames.order_result)
    order_query = staticmethod(frames.order_query)
    force_order = staticmethod(frames.force_order)


class RestApi:
    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim
        self.requests: list[tuple[str, str]] = []
        self.request_times: list[int] = []  # the simulator's clock at each request, in step with it
        r: dict[tuple[str, str], tuple[Security, Handler]] = {}
        fapi = "/fapi/v1"
        r["GET", f"{fapi}/ping"] = ("NONE", self.ping)
        r["GET", f"{fapi}/time"] = ("NONE", self.time)
        r["GET", f"{fapi}/exchangeInfo"] = ("NONE", self.exchange_info)
        r["GET", f"{fapi}/premiumIndex"] = ("NONE", self.premium_index)
        r["POST", f"{fapi}/listenKey"] = ("USER_STREAM", self.listen_key_create)
        r["PUT", f"{fapi}/listenKey"] = ("USER_STREAM", self.listen_key_keepalive)
        r["DELETE", f"{fapi}/listenKey"] = ("USER_STREAM", self.listen_key_close)
        r["GET", f"{fapi}/leverageBracket"] = ("SIGNED", self.leverage_bracket)
        r["GET", "/fapi/v2/positionRisk"] = ("SIGNED", self.position_risk_v2)
        r["GET", "/fapi/v3/positionRisk"] = ("SIGNED", self.position_risk_v3)
        r["GET", "/fapi/v2/account"] = ("SIGNED", self.account_v2)
        r["GET", "/fapi/v3/account"] = ("SIGNED", self.account_v3)
        r["GET", "/fapi/v2/balance"] = ("SIGNED", self.balance)
        r["GET", "/fapi/v3/balance"] = ("SIGNED", self.balance)
        r["POST", f"{fapi}/order"] = ("SIGNED", self.new_order)
        r["GET", f"{fapi}/order"] = ("SIGNED", self.query_order)
        r["DELETE", f"{fapi}/order"] = ("SIGNED", self.cancel_order)
        r["GET", f"{fapi}/openOrders"] = ("SIGNED", self.open_orders)
        r["GET", f"{fapi}/openOrder"] = ("SIGNED", self.open_order)
        r["GET", f"{fapi}/allOrders"] = ("SIGNED", self.all_orders)
        r["GET", f"{fapi}/userTrades"] = ("SIGNED", self.user_trades)
        r["GET", f"{fapi}/forceOrders"] = ("SIGNED", self.force_orders)
        r["POST", f"{fapi}/positionMargin"] = ("SIGNED", self.position_margin)
        r["GET", f"{fapi}/positionSide/dual"] = ("SIGNED", self.position_mode)
        r["POST", f"{fapi}/positionSide/dual"] = ("SIGNED", self.set_position_mode)
        r["GET", f"{fapi}/multiAssetsMargin"] = ("SIGNED", self.multi_assets)
        r["POST", f"{fapi}/multiAssetsMargin"] = ("SIGNED", self.set_multi_assets)
        r["GET", f"{fapi}/assetIndex"] = ("NONE", self.asset_index)
        r["GET", f"{fapi}/symbolConfig"] = ("SIGNED", self.symbol_config)
        r["POST", f"{fapi}/leverage"] = ("SIGNED", self.set_leverage)
        r["POST", f"{fapi}/marginType"] = ("SIGNED", self.set_margin_type)
        r["GET", f"{fapi}/commissionRate"] = ("SIGNED", self.commission_rate)
        r["GET", "/sapi/v1/system/status"] = ("NONE", self.system_status)
        r["GET", "/sapi/v1/capital/config/getall"] = ("SIGNED", self.empty_list)
        self.routes = r
        self.wire = OrderBodies()

    # ---- dispatch -----------------------------------------------------------------------------

    async def dispatch(self, request: web.Request) -> web.Response:
        method, path = request.method, request.path
        self.requests.append((method, path))
        self.request_times.append(self.sim.now_ms())
        headers = {"X-MBX-USED-WEIGHT-1M": "1"}
        try:
            failure = self.sim.faults.take_rest_failure(path)
            if self.sim.faults.rest_delay > 0:
                await asyncio.sleep(self.sim.faults.rest_delay)
            if failure is not None:
                if failure.retry_after is not None:
                    headers["Retry-After"] = str(failure.retry_after)
                raise BinanceError(failure.code, failure.msg, failure.status)
            route = self.routes.get((method, path))
            if route is None:
                raise errors.invalid_path(method, path)
            security, handler = route
            query = request.rel_url.raw_query_string
            body = await request.text()
            now = self.sim.now_ms()
            api_key = request.headers.get("X-MBX-APIKEY")
            ledger = self.sim.ledger
            account: Account | None = None
            if security == "SIGNED":
                params = auth.check_signed(
                    query=query, body=body, api_key=api_key, secret_for=self._secret_for, now_ms=now
                )
                account = ledger.account_by_key(api_key or "")
            elif security == "USER_STREAM":
                auth.require_key(api_key, self._secret_for)
                params = auth.parse_params(query, body)
                account = ledger.account_by_key(api_key or "")
            else:
                params = auth.parse_params(query, body)
            result = await handler(Call(params, account, now))
            return web.json_response(result, headers=headers)
        except Rejected as rejected:
            exc = self.refusal(rejected)
            return web.json_response(exc.body(), status=exc.status, headers=headers)
        except BinanceError as exc:
            return web.json_response(exc.body(), status=exc.status, headers=headers)

    def refusal(self, rejected: Rejected) -> BinanceError:
        """Binance's reply to a refusal of the core."""
        return errors.from_rejection(rejected)

    def _secret_for(self, api_key: str) -> str | None:
        acct = self.sim.ledger.account_by_key(api_key)
        return acct.secret if acct else None

    def _symbol(self, call: Call, *, required: bool = False) -> str | None:
        symbol = call.need("symbol") if required else call.params.get("symbol")
        if symbol is not None:
            self.sim.ledger.spec(symbol)
        return symbol

    # ---- public -------------------------------------------------------------------------------

    async def ping(self, call: Call) -> Any:
        return {}

    async def time(self, call: Call) -> Any:
        return frames.server_time(call.now_ms)

    async def exchange_info(self, call: Call) -> Any:
        return frames.exchange_info(self.sim.ledger.specs.values(), call.now_ms)

    async def premium_index(self, call: Call) -> Any:
        marks, valued = self.sim.ledger.marks, self.sim.marks_ms
        symbol = self._symbol(call)
        if symbol is not None:
            return frames.premium_index(symbol, marks[symbol], valued)
        return [frames.premium_index(s, marks[s], valued) for s in self.sim.ledger.specs]

    async def system_status(self, call: Call) -> Any:
        return {"status": 0, "msg": "normal"}

    async def empty_list(self, call: Call) -> Any:
        return []

    # ---- user stream --------------------------------------------------------------------------

    async def listen_key_create(self, call: Call) -> Any:
        return {"listenKey": self.sim.listen_keys.create(call.acct.name, call.now_ms)}

    async def listen_key_keepalive(self, call: Call) -> Any:
        key = self.sim.listen_keys.keepalive(call.acct.name, call.now_ms, call.params.get("listenKey"))
        return {"listenKey": key}

    async def listen_key_close(self, call: Call) -> Any:
        key = self.sim.listen_keys.close(call.acct.name, call.params.get("listenKey"))
        if key is not None:
            await self.sim.streams.close_user(key)
        return {}

    # ---- account ------------------------------------------------------------------------------

    async def leverage_bracket(self, call: Call) -> Any:
        specs = self.sim.ledger.specs
        symbol = self._symbol(call)
        if symbol is not None:
            return frames.leverage_bracket(specs[symbol])
        return [frames.leverage_bracket(spec) for spec in specs.values()]

    async def position_risk_v3(self, call: Call) -> Any:
        ledger = self.sim.ledger
        return frames.position_risk_v3(ledger.risk(call.acct), ledger.specs, self._symbol(call))

    async def position_risk_v2(self, call: Call) -> Any:
        ledger = self.sim.ledger
        acct = call.acct
        symbol = self._symbol(call)
        symbols = [symbol] if symbol else list(ledger.specs)
        sides = (LONG, SHORT) if acct.hedge_mode else (BOTH,)
        pool = ledger.cross_pool(acct)
        rows = [ledger.leg_risk(acct, s, ps, pool) for s in symbols for ps in sides]
        return frames.position_risk_v2(rows, ledger.specs)

    async def account_v3(self, call: Call) -> Any:
        ledger = self.sim.ledger
        return frames.account_v3(ledger.risk(call.acct), call.acct, ledger.specs)

    async def account_v2(self, call: Call) -> Any:
        ledger = self.sim.ledger
        return frames.account_v2(ledger.risk(call.acct), call.acct, ledger.specs)

    async def balance(self, call: Call) -> Any:
        return frames.balance(self.sim.ledger.risk(call.acct), call.acct)

    async def position_mode(self, call: Call) -> Any:
        return {"dualSidePosition": call.acct.hedge_mode}

    async def set_position_mode(self, call: Call) -> Any:
        self.sim.ledger.set_position_mode(
            call.acct.name, _bool(call, "dualSidePosition", required=True) is True
        )
        return {"code": 200, "msg": "success"}

    async def multi_assets(self, call: Call) -> Any:
        return {"multiAssetsMargin": call.acct.multi_assets}

    async def set_multi_assets(self, call: Call) -> Any:
        self.sim.ledger.set_multi_assets(
            call.acct.name, _bool(call, "multiAssetsMargin", required=True) is True
        )
        return {"code": 200, "msg": "success"}

    async def asset_index(self, call: Call) -> Any:
        ledger = self.sim.ledger
        rows = {
            f"{a}USD": frames.asset_index(a, ledger.asset_price(a), spec.haircut, call.now_ms)
            for a, spec in ledger.margin_assets.items()
        }
        symbol = call.params.get("symbol")
        if symbol is not None:
            if symbol not in rows:
                raise errors.invalid_symbol()
            return rows[symbol]
        return list(rows.values())

    async def symbol_config(self, call: Call) -> Any:
        specs = self.sim.ledger.specs
        symbol = self._symbol(call)
        chosen = [specs[symbol]] if symbol else list(specs.values())
        return frames.symbol_config(call.acct, chosen)

    async def set_leverage(self, call: Call) -> Any:
        symbol = self._symbol(call, required=True)
        assert symbol is not None
        raw = call.need("leverage")
        if not raw.isdigit():
            raise errors.invalid_leverage()
        cfg = self.sim.ledger.set_leverage(call.acct.name, symbol, int(raw))
        spec = self.sim.ledger.specs[symbol]
        return {
            "leverage": cfg.leverage,
            "maxNotionalValue": f"{spec.max_notional_for_leverage(cfg.leverage):.0f}",
            "symbol": symbol,
        }

    async def set_margin_type(self, call: Call) -> Any:
        symbol = self._symbol(call, required=True)
        assert symbol is not None
        raw = call.need("marginType").upper()
        modes = {"ISOLATED": MarginMode.ISOLATED, "CROSSED": MarginMode.CROSS, "CROSS": MarginMode.CROSS}
        if raw not in modes:
            raise errors.invalid_param("marginType")
        self.sim.ledger.set_margin_mode(call.acct.name, symbol, modes[raw])
        return {"code": 200, "msg": "success"}

    async def commission_rate(self, call: Call) -> Any:
        symbol = self._symbol(call, required=True)
        return {
            "symbol": symbol,
            "makerCommissionRate": "0.000200",
            "takerCommissionRate": f"{call.acct.taker_fee:.6f}",
        }

    async def position_margin(self, call: Call) -> Any:
        symbol = self._symbol(call, required=True)
        assert symbol is not None
        raw_amount = call.need("amount")
        kind = call.need("type")
        if kind not in ("1", "2"):
            raise errors.invalid_param("type")
        try:
            amount = float(raw_amount)
        except ValueError:
            raise errors.invalid_param("amount") from None
        events = self.sim.ledger.modify_isolated_margin(
            call.acct.name,
            symbol,
            amount,
            add=kind == "1",
            position_side=call.params.get("positionSide"),
            now_ms=call.now_ms,
        )
        await self.sim.emit(events)
        return frames.position_margin(amount, int(kind))

    # ---- orders -------------------------------------------------------------------------------

    async def new_order(self, call: Call) -> Any:
        ledger = self.sim.ledger
        symbol = self._symbol(call, required=True)
        assert symbol is not None
        spec = ledger.specs[symbol]
        side = call.need("side")
        order_type = call.need("type")
        if order_type != "MARKET":
            raise errors.invalid_order_type()
        raw_qty = call.need("quantity")
        try:
            quantity = float(raw_qty)
        except ValueError:
            raise errors.invalid_param("quantity") from None
        if decimals_of(raw_qty) > decimals_of(spec.step_size):
            raise errors.precision_over()
        cid = call.params.get("newClientOrderId")
        if cid is not None and not CLIENT_ORDER_ID.match(cid):
            raise BinanceError(-4015, "Client order id is not valid.")
        resp_type = call.params.get("newOrderRespType", "ACK")
        if resp_type not in ("ACK", "RESULT"):
            raise errors.invalid_param("newOrderRespType")
        order, events = ledger.place_market_order(
            call.acct.name,
            symbol,
            side,
            quantity,
            position_side=call.params.get("positionSide"),
            reduce_only=_bool(call, "reduceOnly"),
            client_order_id=cid,
            now_ms=call.now_ms,
        )
        await self.sim.emit(events)
        if resp_type == "ACK":
            order = replace(order, status="NEW", executed_qty=0.0, avg_price=0.0)
        return self.wire.order_result(order, spec)

    def _find_order(self, call: Call) -> Any:
        symbol = self._symbol(call, required=True)
        acct = call.acct
        order_id = call.params.get("orderId")
        client_id = call.params.get("origClientOrderId")
        if not order_id and not client_id:
            raise BinanceError(
                -1102, "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!"
            )
        oid = int(order_id) if order_id and order_id.isdigit() else acct.client_ids.get(client_id or "")
        order = acct.orders.get(oid) if oid is not None else None
        if order is None or order.symbol != symbol:
            return None
        return order

    async def query_order(self, call: Call) -> Any:
        order = self._find_order(call)
        if order is None:
            raise errors.order_does_not_exist()
        return self.wire.order_query(order, self.sim.ledger.specs[order.symbol])

    async def cancel_order(self, call: Call) -> Any:
        self._find_order(call)
        raise errors.unknown_order()  # market orders are filled at once: nothing is ever open

    async def open_orders(self, call: Call) -> Any:
        self._symbol(call)
        return []

    async def open_order(self, call: Call) -> Any:
        self._symbol(call, required=True)
        raise errors.order_does_not_exist()

    async def all_orders(self, call: Call) -> Any:
        symbol = self._symbol(call, required=True)
        spec = self.sim.ledger.specs[symbol or ""]
        orders = sorted(
            (o for o in call.acct.orders.values() if o.symbol == symbol), key=lambda o: o.order_id
        )
        limit = int(call.params.get("limit", "500"))
        return [self.wire.order_query(o, spec) for o in orders[-limit:]]

    async def force_orders(self, call: Call) -> Any:
        """Binance's filters: ``symbol``, ``autoCloseType`` (LIQUIDATION / ADL; the simulator
        performs no ADL, so ADL lists nothing), ``startTime``/``endTime`` on the order's time (without
        ``startTime``, the 7 days before ``endTime``), ``limit`` (default 50, at most 100), oldest
        first."""
        symbol = self._symbol(call)
        close_type = call.params.get("autoCloseType")
        if close_type not in (None, "LIQUIDATION", "ADL"):
            raise errors.invalid_param("autoCloseType")
        end = _int(call, "endTime", default=call.now_ms)
        start = _int(call, "startTime", default=end - 7 * 24 * 3600 * 1000)
        limit = _int(call, "limit", default=50)
        if not 1 <= limit <= 100:
            raise errors.invalid_param("limit")
        specs = self.sim.ledger.specs
        orders = [
            o
            for o in call.acct.orders.values()
            if o.order_type == "LIQUIDATION"
            and close_type != "ADL"
            and (symbol is None or o.symbol == symbol)
            and start <= o.time <= end
        ]
        orders = sorted(orders, key=lambda o: o.order_id)[:limit]
        return [self.wire.force_order(o, specs[o.symbol]) for o in orders]

    async def user_trades(self, call: Call) -> Any:
        symbol = self._symbol(call, required=True)
        spec = self.sim.ledger.specs[symbol or ""]
        limit = int(call.params.get("limit", "500"))
        trades = [t for t in call.acct.trades if t.symbol == symbol][-limit:]
        return [
            {
                "buyer": t.side == "BUY",
                "commission": frames.dec(t.commission),
                "commissionAsset": frames.ASSET,
                "id": t.trade_id,
                "maker": False,
                "orderId": t.order_id,
                "price": frames.trim(t.price),
                "qty": frames.qty(t.qty, spec),
                "quoteQty": frames.dec(t.qty * t.price, 5),
                "realizedPnl": frames.dec(t.realized),
                "side": t.side,
                "positionSide": t.position_side,
                "symbol": t.symbol,
                "time": t.time,
            }
            for t in trades
        ]


def _int(call: Call, name: str, *, default: int) -> int:
    raw = call.params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.invalid_param(name) from None


def _bool(call: Call, name: str, *, required: bool = False) -> bool | None:
    raw = call.need(name) if required else call.params.get(name)
    if raw is None:
        return None
    low = raw.lower()
    if low not in ("true", "false"):
        raise errors.invalid_param(name)
    return low == "true"
