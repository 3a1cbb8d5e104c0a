"""Gate's API v4 REST (``/api/v4``) over the simulator's ledger: the routes ccxt's ``gate`` calls for
USDT-settled perpetuals (markets, the key's account detail, positions, the futures account, risk-limit
tiers, tickers, market orders, order lookup by id or ``text``, position margin), the BTC-settled
positions the adapter checks at start, and ``/unified/unified_mode`` (a classic account) for other
clients: the adapter reads the unified mode from the futures account's ``margin_mode``.

Signed requests carry ``KEY``, ``Timestamp`` (seconds, within 60 s) and ``SIGN`` = hex(HMAC-SHA512(secret,
METHOD + "\\n" + "/api/v4" + path + "\\n" + query + "\\n" + hex(SHA512(body)) + "\\n" + timestamp)), the
query as sent (ccxt sorts it) and the body empty for GET and the query-parameter POSTs. Refusals are
4xx with ``{"label", "message"}``, or the label alone on the position-margin routes (``errors.py``).

Orders (``POST /futures/usdt/orders``) are market orders: ``price`` "0", ``tif`` "ioc", ``size`` signed
in contracts. Single mode: ``reduce_only`` reduces; ``close: true`` with ``size`` 0 closes the whole
position (dual mode refuses it: POSITION_DUAL_MODE). Dual mode: ``auto_size`` ``close_long`` /
``close_short`` with ``reduce_only`` and ``size`` 0 closes one side; a reduce-only ``size`` reduces the
side it sells into (negative: the long), REDUCE_EXCEEDED beyond it; anything else opens a side.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from aiohttp import web

from monitor.sim.dialects.gate import wire
from monitor.sim.dialects.gate.errors import GateError, from_rejection, uid_of
from monitor.sim.ledger import BOTH, BUY, LONG, SELL, SHORT, Account
from monitor.sim.rejections import Reason, Rejected
from monitor.sim.specs import SymbolSpec

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

TIMESTAMP_WINDOW_S = 60
# A finished order is found by its ``text`` this long after it finished; after that, by id only
# (Gate's docs, GET /futures/{settle}/orders/{order_id})
TEXT_LOOKUP_MS = 60_000
API = "/api/v4"
FUTURES = f"{API}/futures/usdt"


@dataclass(frozen=True, slots=True)
class Call:
    params: dict[str, Any]
    account: Account | None
    now_ms: int
    decimal: bool  # the request asked for decimal-string sizes (X-Gate-Size-Decimal: 1)
    path: str

    def need(self, name: str) -> Any:
        value = self.params.get(name)
        if value is None or value == "":
            raise GateError("MISSING_REQUIRED_PARAM", f"Missing required parameter: {name}")
        return value

    @property
    def acct(self) -> Account:
        assert self.account is not None, "signed endpoint without an account"
        return self.account


Handler = Callable[[Call], Awaitable[Any]]


def sign(method: str, path: str, query: str, body: str, timestamp: str, secret: str) -> str:
    payload = "\n".join((method, path, query, hashlib.sha512(body.encode()).hexdigest(), timestamp))
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha512).hexdigest()


def _decimal(raw: Any, name: str) -> Decimal:
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise GateError("INVALID_PARAM_VALUE", f"invalid argument: {name}") from None
    if not value.is_finite():
        raise GateError("INVALID_PARAM_VALUE", f"invalid argument: {name}")
    return value


class GateRestApi:
    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim
        self.requests: list[tuple[str, str]] = []
        self.request_times: list[int] = []
        self.specs: dict[str, SymbolSpec] = wire.specs_by_id(sim.ledger.specs)
        self.texts: dict[tuple[str, int], str] = {}  # (account, ledger order id) -> the order's text
        self.closes: set[tuple[str, int]] = set()  # orders sent with close / auto_size
        r: dict[tuple[str, str], tuple[bool, Handler]] = {}
        r["GET", f"{API}/spot/time"] = (False, self.time)
        r["GET", f"{API}/spot/currencies"] = (False, self.currencies)
        r["GET", f"{FUTURES}/contracts"] = (False, self.contracts)
        r["GET", f"{API}/futures/btc/contracts"] = (False, self.no_contracts)
        r["GET", f"{API}/futures/btc/positions"] = (True, self.no_positions)
        r["GET", f"{FUTURES}/tickers"] = (False, self.tickers)
        r["GET", f"{FUTURES}/risk_limit_tiers"] = (False, self.risk_limit_tiers)
        r["GET", f"{API}/account/detail"] = (True, self.account_detail)
        r["GET", f"{API}/unified/unified_mode"] = (True, self.unified_mode)
        r["GET", f"{FUTURES}/accounts"] = (True, self.accounts)
        r["GET", f"{FUTURES}/positions"] = (True, self.positions)
        r["POST", f"{FUTURES}/orders"] = (True, self.place_order)
        r["GET", f"{FUTURES}/orders"] = (True, self.orders)
        for cid in self.specs:
            r["GET", f"{FUTURES}/positions/{cid}"] = (True, self.position)
            r["GET", f"{FUTURES}/dual_comp/positions/{cid}"] = (True, self.dual_positions)
            r["POST", f"{FUTURES}/positions/{cid}/margin"] = (True, self.margin)
            r["POST", f"{FUTURES}/dual_comp/positions/{cid}/margin"] = (True, self.dual_margin)
        self.routes = r

    # ---- dispatch -----------------------------------------------------------------------------

    def _route(self, method: str, path: str) -> tuple[bool, Handler] | None:
        route = self.routes.get((method, path))
        if route is None and method == "GET" and path.startswith(f"{FUTURES}/orders/"):
            return (True, self.order)
        return route

    async def dispatch(self, request: web.Request) -> web.Response:
        method, path = request.method, request.path
        self.requests.append((method, path))
        now = self.sim.now_ms()
        self.request_times.append(now)
        label_only = path.endswith("/margin")
        try:
            failure = self.sim.faults.take_rest_failure(path)
            if self.sim.faults.rest_delay > 0:
                await asyncio.sleep(self.sim.faults.rest_delay)
            if failure is not None:
                headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
                label = "TOO_MANY_REQUESTS" if failure.status == 429 else "SERVER_ERROR"
                return web.json_response(
                    wire.error_body(label, failure.msg), status=failure.status, headers=headers
                )
            route = self._route(method, path)
            if route is None:
                return web.json_response(wire.error_body("NOT_FOUND", "Not found"), status=404)
            signed, handler = route
            query = request.rel_url.raw_query_string
            body_text = await request.text()
            params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
            if body_text:
                try:
                    body = json.loads(body_text)
                except ValueError:
                    raise GateError("INVALID_REQUEST_BODY", "Invalid request body") from None
                if not isinstance(body, dict):
                    raise GateError("INVALID_REQUEST_BODY", "Invalid request body")
                params.update(body)
            account = self._authenticate(request, method, path, query, body_text, now) if signed else None
            decimal = request.headers.get("X-Gate-Size-Decimal") == "1"
            result = await handler(Call(params, account, now, decimal, path))
            return web.json_response(result)
        except Rejected as rejected:
            exc = from_rejection(rejected, label_only=label_only)
            return web.json_response(wire.error_body(exc.label, exc.message), status=exc.status)
        except GateError as exc:
            message = None if label_only and exc.label == "INSUFFICIENT_AVAILABLE" else exc.message
            return web.json_response(wire.error_body(exc.label, message), status=exc.status)

    def _authenticate(
        self, request: web.Request, method: str, path: str, query: str, body: str, now: int
    ) -> Account:
        h = request.headers
        key = h.get("KEY", "")
        acct = self.sim.ledger.account_by_key(key) if key else None
        if acct is None:
            raise GateError("INVALID_KEY", "Invalid key provided", 401)
        ts = h.get("Timestamp", "")
        if not ts.isdigit() or abs(now // 1000 - int(ts)) > TIMESTAMP_WINDOW_S:
            raise GateError("REQUEST_EXPIRED", "Request timestamp expired", 401)
        expected = sign(method, path, unquote(query), body, ts, acct.secret)
        if not hmac.compare_digest(h.get("SIGN", ""), expected):
            raise GateError("INVALID_SIGNATURE", "Signature mismatch", 401)
        return acct

    def _spec(self, cid: Any) -> SymbolSpec:
        spec = self.specs.get(str(cid))
        if spec is None:
            raise GateError("CONTRACT_NOT_FOUND", f"Contract not found: {str(cid)[:40]}")
        return spec

    def _path_spec(self, call: Call) -> SymbolSpec:
        """The contract named in the path (``/positions/{contract}``...)."""
        parts = call.path.split("/")
        cid = parts[-2] if call.path.endswith("/margin") else parts[-1]
        return self._spec(cid)

    def _fee(self) -> float:
        return wire.CONTRACT_TAKER_FEE

    # ---- public -------------------------------------------------------------------------------

    async def time(self, call: Call) -> Any:
        return {"server_time": call.now_ms}

    async def currencies(self, call: Call) -> Any:
        """ccxt's load_markets asks for the spot currencies first; the simulator lists none."""
        return []

    async def contracts(self, call: Call) -> Any:
        marks = self.sim.ledger.marks
        fee = self._fee()
        return [
            wire.contract(spec, marks[spec.symbol], fee, call.decimal, call.now_ms // 1000)
            for spec in self.specs.values()
        ]

    async def no_contracts(self, call: Call) -> Any:
        """BTC-settled contracts: none in the simulator."""
        return []

    async def no_positions(self, call: Call) -> Any:
        """The BTC-settled futures account: flat in the simulator."""
        return []

    async def tickers(self, call: Call) -> Any:
        marks = self.sim.ledger.marks
        wanted = call.params.get("contract")
        specs = [self._spec(wanted)] if wanted else list(self.specs.values())
        return [wire.ticker(wire.contract_id(spec), marks[spec.symbol], call.decimal) for spec in specs]

    async def risk_limit_tiers(self, call: Call) -> Any:
        """One contract's tiers, or every contract's a page at a time (``limit``/``offset`` count
        contracts, 100 by default, as Gate's do)."""
        wanted = call.params.get("contract")
        if wanted:
            specs = [self._spec(wanted)]
        else:
            try:
                limit = int(call.params.get("limit", 100))
                offset = int(call.params.get("offset", 0))
            except ValueError:
                raise GateError("INVALID_PARAM_VALUE", "invalid argument: limit/offset") from None
            specs = list(self.specs.values())[offset : offset + limit]
        return [row for spec in specs for row in wire.tiers(spec, self._fee())]

    # ---- account ------------------------------------------------------------------------------

    async def account_detail(self, call: Call) -> Any:
        """What ccxt's ``load_unified_status`` reads: key mode 1 (a classic key)."""
        return {
            "user_id": uid_of(call.acct),
            "ip_whitelist": [],
            "currency_pairs": [],
            "key": {"mode": 1},
            "tier": 0,
            "tier_expire_time": "0001-01-01T00:00:00Z",
            "copy_trading_role": 0,
        }

    async def unified_mode(self, call: Call) -> Any:
        return {"user_id": uid_of(call.acct), "mode": "classic", "settings": {"usdt_futures": True}}

    async def accounts(self, call: Call) -> Any:
        acct = call.acct
        return wire.account(self.sim.ledger.risk(acct), uid=uid_of(acct), hedge=acct.hedge_mode)

    async def positions(self, call: Call) -> Any:
        return position_rows(self.sim, call.acct, decimal=call.decimal)

    async def position(self, call: Call) -> Any:
        spec = self._path_spec(call)
        acct = call.acct
        if acct.hedge_mode:
            raise GateError("POSITION_DUAL_MODE", "Operation forbidden in dual-mode")
        return self._leg_row(acct, spec, BOTH, call.decimal)

    async def dual_positions(self, call: Call) -> Any:
        spec = self._path_spec(call)
        acct = call.acct
        if not acct.hedge_mode:
            raise GateError("POSITION_NOT_FOUND", "Position not found")
        return [self._leg_row(acct, spec, side, call.decimal) for side in (LONG, SHORT)]

    def _leg_row(self, acct: Account, spec: SymbolSpec, side: str, decimal: bool) -> wire.JSON:
        leg = self.sim.ledger.leg_risk(acct, spec.symbol, side)
        return wire.position(
            leg, spec, uid=uid_of(acct), taker_fee=self._fee(), decimal=decimal, update_id=leg.update_time
        )

    async def margin(self, call: Call) -> Any:
        spec = self._path_spec(call)
        acct = call.acct
        if acct.hedge_mode:
            raise GateError("POSITION_DUAL_MODE", "Operation forbidden in dual-mode")
        await self._change_margin(call, spec, BOTH)
        return self._leg_row(acct, spec, BOTH, call.decimal)

    async def dual_margin(self, call: Call) -> Any:
        spec = self._path_spec(call)
        acct = call.acct
        if not acct.hedge_mode:
            raise GateError("POSITION_NOT_FOUND", "Position not found")
        dual_side = call.need("dual_side")
        if dual_side not in ("dual_long", "dual_short"):
            raise GateError("INVALID_PARAM_VALUE", "invalid argument: dual_side")
        await self._change_margin(call, spec, LONG if dual_side == "dual_long" else SHORT)
        return [self._leg_row(acct, spec, side, call.decimal) for side in (LONG, SHORT)]

    async def _change_margin(self, call: Call, spec: SymbolSpec, side: str) -> None:
        change = _decimal(call.need("change"), "change")
        if change == 0:
            raise GateError("INVALID_PARAM_VALUE", "invalid argument: change")
        leg = call.acct.legs.get((spec.symbol, side))
        if leg is None or leg.amount == 0:
            raise GateError("POSITION_EMPTY", "Position is empty")
        events = self.sim.ledger.modify_isolated_margin(
            call.acct.name,
            spec.symbol,
            float(abs(change)),
            add=change > 0,
            position_side=side,
            now_ms=call.now_ms,
        )
        await self.sim.emit(events)

    # ---- orders -------------------------------------------------------------------------------

    async def place_order(self, call: Call) -> Any:
        acct = call.acct
        spec = self._spec(call.need("contract"))
        if str(call.params.get("price", "")) not in ("0", "0.0") or call.params.get("tif") != "ioc":
            raise Rejected(Reason.BAD_ORDER_TYPE, "price")
        text = str(call.params.get("text") or "api")
        if text != "api" and (not text.startswith("t-") or len(text) > 30):
            raise GateError("INVALID_PARAM_VALUE", f"Invalid parameter `text` with value: {text[:40]}")
        contracts = _decimal(call.params.get("size", 0), "size")
        if contracts != contracts.to_integral_value():
            raise GateError("INVALID_PARAM_VALUE", "invalid argument: size")
        reduce_only = call.params.get("reduce_only") is True
        close = call.params.get("close") is True
        auto_size = str(call.params.get("auto_size") or "")
        side, qty, ps, ro = self._order_shape(acct, spec, int(contracts), reduce_only, close, auto_size)
        cid = text if text != "api" else None
        order, events = self.sim.ledger.place_market_order(
            acct.name,
            spec.symbol,
            side,
            qty,
            position_side=ps,
            reduce_only=ro,
            client_order_id=cid,
            now_ms=call.now_ms,
        )
        self.texts[acct.name, order.order_id] = text
        if close or auto_size:
            self.closes.add((acct.name, order.order_id))
        await self.sim.emit(events)
        return self._order_row(acct, order, call.decimal)

    def _order_shape(
        self, acct: Account, spec: SymbolSpec, contracts: int, reduce_only: bool, close: bool, auto_size: str
    ) -> tuple[str, float, str | None, bool | None]:
        """(ledger side, base quantity, position side, reduce-only flag) of one Gate order."""
        if not acct.hedge_mode:
            if auto_size:
                raise GateError("INVALID_PARAM_VALUE", "auto_size is only for dual mode")
            if close:
                if contracts != 0:
                    raise GateError("INVALID_PARAM_VALUE", "size must be 0 when close is set")
                amount = self._held(acct, spec, BOTH)
                return (SELL if amount > 0 else BUY), abs(amount), None, True
            if contracts == 0:
                raise GateError("SIZE_TOO_SMALL", "Order size too small")
            side = BUY if contracts > 0 else SELL
            return side, wire.to_base(spec, abs(contracts)), None, (True if reduce_only else None)
        if close:
            raise GateError("POSITION_DUAL_MODE", "Operation forbidden in dual-mode")
        if auto_size:
            if auto_size not in ("close_long", "close_short") or contracts != 0 or not reduce_only:
                raise GateError("INVALID_PARAM_VALUE", "invalid argument: auto_size")
            ps = LONG if auto_size == "close_long" else SHORT
            amount = self._held(acct, spec, ps)
            return (SELL if ps == LONG else BUY), abs(amount), ps, None
        if contracts == 0:
            raise GateError("SIZE_TOO_SMALL", "Order size too small")
        qty = wire.to_base(spec, abs(contracts))
        if reduce_only:
            ps = LONG if contracts < 0 else SHORT  # a sell reduces the long side
            if qty > abs(self._held(acct, spec, ps)) + 1e-12:
                raise GateError("REDUCE_EXCEEDED", "Reduce order would exceed position in dual-mode")
            return (SELL if contracts < 0 else BUY), qty, ps, None
        ps = LONG if contracts > 0 else SHORT
        return (BUY if contracts > 0 else SELL), qty, ps, None

    def _held(self, acct: Account, spec: SymbolSpec, side: str) -> float:
        leg = acct.legs.get((spec.symbol, side))
        if leg is None or leg.amount == 0:
            raise GateError("POSITION_EMPTY", "Position is empty")
        return leg.amount

    def _order_row(self, acct: Account, order: Any, decimal: bool) -> wire.JSON:
        key = (acct.name, order.order_id)
        text = self.texts.get(key) or order_text(order)
        spec = self.sim.ledger.specs[order.symbol]
        return wire.order(
            order, spec, uid=uid_of(acct), decimal=decimal, text=text, is_close=key in self.closes
        )

    async def order(self, call: Call) -> Any:
        """GET /futures/usdt/orders/{order_id}: by Gate's id or by the ``text`` it was sent with."""
        acct = call.acct
        wanted = unquote(call.path.rsplit("/", 1)[-1])
        oid = wire.ledger_order_id(wanted)
        by_text = oid is None
        if by_text:
            oid = acct.client_ids.get(wanted)
        order = acct.orders.get(oid) if oid is not None else None
        if order is None or (by_text and call.now_ms - order.update_time > TEXT_LOOKUP_MS):
            raise GateError("ORDER_NOT_FOUND", "Order not found", 404)
        return self._order_row(acct, order, call.decimal)

    async def orders(self, call: Call) -> Any:
        """GET /futures/usdt/orders?status=finished|open: the account's orders, newest first (every
        simulated order is a market IOC, finished at once); ``contract`` and ``limit`` filter."""
        acct = call.acct
        status = call.need("status")
        if status not in ("open", "finished"):
            raise GateError("INVALID_PARAM_VALUE", "invalid argument: status")
        if status == "open":
            return []
        wanted = call.params.get("contract")
        symbol = self._spec(wanted).symbol if wanted else None
        limit = int(call.params.get("limit", 100))
        rows = [o for o in reversed(acct.orders.values()) if symbol is None or o.symbol == symbol]
        return [self._order_row(acct, o, call.decimal) for o in rows[:limit]]


def order_text(order: Any) -> str:
    """The ``text`` of an order the simulator itself made: ``liq-<id>`` for a liquidation, as Gate
    names its liquidation orders."""
    return f"liq-{wire.order_id(order.order_id)}" if order.order_type == "LIQUIDATION" else "api"


def position_rows(sim: SimExchange, acct: Account, *, decimal: bool) -> list[wire.JSON]:
    """Every open leg of ``acct`` as Gate's position rows (GET /futures/usdt/positions?holding=true)."""
    ledger = sim.ledger
    uid = uid_of(acct)
    return [
        wire.position(
            leg,
            ledger.specs[leg.symbol],
            uid=uid,
            taker_fee=wire.CONTRACT_TAKER_FEE,
            decimal=decimal,
            update_id=leg.update_time,
        )
        for leg in ledger.risk(acct).legs
    ]
