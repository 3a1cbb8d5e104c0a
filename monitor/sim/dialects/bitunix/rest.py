"""Bitunix futures REST over the simulator's ledger: the routes the Bitunix adapter calls to load the
markets, read marks, tiers, the account and its positions, and to de-risk (reduce-only market orders,
hedge closes by ``positionId``, ``adjust_position_margin``).

Private requests carry ``api-key``, ``nonce``, ``timestamp`` (ms) and ``sign`` =
``sha256hex(sha256hex(nonce + timestamp + api-key + query + body) + secret)``, the query being every
parameter as key then value, sorted by key. Every reply is HTTP 200 with an integer ``code``, errors
included (``errors``), an unknown path too (code 404). Each key may make 10 requests a second (5 for
margin adjustments) and each client address 10 market reads a second: past that, code 10006.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import itertools
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from monitor.sim.dialects.bitunix import errors, wire
from monitor.sim.dialects.bitunix.errors import BitunixError, error, from_rejection
from monitor.sim.errors import BinanceError
from monitor.sim.ledger import BOTH, BUY, LONG, SELL, SHORT, Account
from monitor.sim.rejections import Reason, Rejected
from monitor.sim.rest import Call, Handler, RestApi, Security

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

BASE = "/api/v1/futures"
LIMITS_PER_S = {"market": 10, "read": 10, "order": 10, "margin": 5}


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def signature(secret: str, *parts: str) -> str:
    """Bitunix's double hash: ``sha256hex(sha256hex(concatenated parts) + secret)``."""
    return sha256_hex(sha256_hex("".join(parts)) + secret)


class BitunixRestApi(RestApi):
    """The ``/api/v1/futures`` endpoints; ``requests`` and ``request_times`` as the base keeps them."""

    def __init__(self, sim: SimExchange) -> None:
        super().__init__(sim)
        r: dict[tuple[str, str], tuple[Security, Handler]] = {}
        kinds: dict[tuple[str, str], str] = {}

        def route(method: str, path: str, kind: str, handler: Handler) -> None:
            key = (method, f"{BASE}/{path}")
            r[key] = ("NONE" if kind == "market" else "SIGNED", handler)
            kinds[key] = kind

        route("GET", "market/trading_pairs", "market", self.trading_pairs)
        route("GET", "market/tickers", "market", self.tickers)
        route("GET", "market/funding_rate/batch", "market", self.funding_batch)
        route("GET", "position/get_position_tiers", "read", self.position_tiers)
        route("GET", "account", "read", self.account)
        route("GET", "position/get_pending_positions", "read", self.pending_positions)
        route("GET", "trade/get_order_detail", "read", self.order_detail)
        route("POST", "trade/place_order", "order", self.place_order)
        route("POST", "account/adjust_position_margin", "margin", self.adjust_margin)
        route("POST", "account/change_position_mode", "read", self.change_position_mode)
        self.routes = r
        self.kinds = kinds
        self._recent: dict[tuple[str, str], collections.deque[float]] = {}
        self._ids = itertools.count(900_000_001)
        self._position_ids: dict[tuple[str, str, str], str] = {}

    # ---- position ids -------------------------------------------------------------------------

    def position_id(self, account: str, symbol: str, position_side: str, *, open_: bool) -> str:
        """A leg's ``positionId``: the same while the leg is open, a new one once it reopens."""
        key = (account, symbol, position_side)
        pid = self._position_ids.get(key)
        if pid is None:
            pid = self._position_ids[key] = str(next(self._ids))
        if not open_:
            self._position_ids.pop(key, None)
        return pid

    def known_position(self, account: str, symbol: str, position_side: str) -> bool:
        return (account, symbol, position_side) in self._position_ids

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
                if failure.status >= 400:
                    # the edge in front of the API: a status, maybe a Retry-After, no envelope
                    headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
                    return web.Response(status=failure.status, text=failure.msg, headers=headers)
                raise BitunixError(failure.code, failure.msg)
            route = self.routes.get((method, path))
            if route is None:
                raise error(errors.NOT_FOUND)
            security, handler = route
            kind = self.kinds[method, path]
            signed = security == "SIGNED"
            query = request.rel_url.raw_query_string
            body = await request.text()
            params = dict(parse_qsl(query, keep_blank_values=True))
            account: Account | None = None
            if signed:
                account = self._authenticate(request, params, body)
            who = account.api_key if account is not None else (request.remote or "")
            self._count(kind, who)
            if method == "POST":
                params = self._body(body)
            result = await handler(Call(params, account, now))
            return web.json_response(wire.envelope(result))
        except Rejected as rejected:
            return web.json_response(from_rejection(rejected).body())
        except BitunixError as exc:
            return web.json_response(exc.body())
        except BinanceError as exc:  # the shared ``Call.need``: a parameter missing
            return web.json_response(BitunixError(errors.PARAM, f"parameter missing: {exc.msg}").body())

    def _count(self, kind: str, who: str) -> None:
        """Bitunix's limits per second: past them, 10006 (and the request is not executed)."""
        now = asyncio.get_running_loop().time()
        recent = self._recent.setdefault((kind, who), collections.deque())
        while recent and now - recent[0] >= 1.0:
            recent.popleft()
        if len(recent) >= LIMITS_PER_S[kind]:
            raise error(errors.TOO_FREQUENT)
        recent.append(now)

    @staticmethod
    def _body(body: str) -> dict[str, Any]:
        if not body:
            return {}
        try:
            decoded = json.loads(body)
        except ValueError:
            raise BitunixError(errors.PARAM, "request body is not JSON") from None
        if not isinstance(decoded, dict):
            raise BitunixError(errors.PARAM, "request body is not an object")
        return {k: v if isinstance(v, str | bool) else json.dumps(v) for k, v in decoded.items()}

    def _authenticate(self, request: web.Request, params: dict[str, str], body: str) -> Account:
        h = request.headers
        api_key = h.get("api-key", "")
        acct = self.sim.ledger.account_by_key(api_key) if api_key else None
        if acct is None:
            raise from_rejection(Rejected(Reason.AUTH_FAILED))
        nonce, stamp, sign = h.get("nonce", ""), h.get("timestamp", ""), h.get("sign", "")
        if not nonce or not stamp.isdigit() or len(stamp) != 13:
            raise error(errors.SIGN_ERROR)
        query = "".join(f"{k}{params[k]}" for k in sorted(params))
        expected = signature(acct.secret, nonce, stamp, api_key, query, body)
        if not hmac.compare_digest(sign.lower(), expected):
            raise error(errors.SIGN_ERROR)
        return acct

    # ---- helpers ------------------------------------------------------------------------------

    def _specs(self, symbols: str | None) -> list[Any]:
        specs = self.sim.ledger.specs
        if not symbols:
            return list(specs.values())
        wanted = [s for s in symbols.split(",") if s]
        unknown = [s for s in wanted if s not in specs]
        if unknown:
            raise from_rejection(Rejected(Reason.BAD_SYMBOL))
        return [specs[s] for s in wanted]

    def _leg_side(self, acct: Account, symbol: str, params: dict[str, Any]) -> str:
        """The leg a margin adjustment names: by ``positionId``, by ``side``, or the one-way leg."""
        if not acct.hedge_mode:
            return BOTH
        pid = params.get("positionId")
        if pid:
            for ps in (LONG, SHORT):
                if self._position_ids.get((acct.name, symbol, ps)) == pid:
                    return ps
            raise error(errors.POSITION_NOT_EXIST)
        side = params.get("side")
        if side in ("LONG", "SHORT"):
            return LONG if side == "LONG" else SHORT
        raise BitunixError(errors.PARAM, "side or positionId is required in hedge mode")

    def rows(self, acct: Account, symbol: str | None = None) -> list[dict[str, Any]]:
        """The account's open positions as ``get_pending_positions`` lists them."""
        ledger = self.sim.ledger
        risk = ledger.risk(acct)
        out = []
        for leg in risk.legs:
            if symbol is not None and leg.symbol != symbol:
                continue
            pid = self.position_id(acct.name, leg.symbol, leg.position_side, open_=True)
            fee = abs(leg.amount) * leg.entry_price * acct.taker_fee
            out.append(wire.position(leg, ledger.specs[leg.symbol], pid, acct.hedge_mode, risk, fee))
        return out

    # ---- public -------------------------------------------------------------------------------

    async def trading_pairs(self, call: Call) -> Any:
        return [wire.trading_pair(s) for s in self._specs(call.params.get("symbols"))]

    async def tickers(self, call: Call) -> Any:
        marks = self.sim.ledger.marks
        return [wire.ticker(s, marks[s.symbol]) for s in self._specs(call.params.get("symbols"))]

    async def funding_batch(self, call: Call) -> Any:
        marks = self.sim.ledger.marks
        return [wire.funding_row(s, marks[s.symbol], call.now_ms) for s in self._specs(None)]

    # ---- account ------------------------------------------------------------------------------

    async def position_tiers(self, call: Call) -> Any:
        return [row for s in self._specs(call.need("symbol")) for row in wire.tiers(s)]

    async def account(self, call: Call) -> Any:
        """An object, as the live API answers (the docs show an array)."""
        if call.need("marginCoin") != "USDT":
            raise BitunixError(errors.PARAM, "marginCoin does not comply with the rule, optional [USDT]")
        acct = call.acct
        return wire.account(self.sim.ledger.risk(acct), acct.hedge_mode)

    async def pending_positions(self, call: Call) -> Any:
        symbol = call.params.get("symbol") or None
        if symbol is not None:
            self._specs(symbol)
        rows = self.rows(call.acct, symbol)
        pid = call.params.get("positionId") or None
        return [r for r in rows if pid is None or r["positionId"] == pid]

    async def change_position_mode(self, call: Call) -> Any:
        """The reply wraps the mode in an array, as the docs show."""
        mode = call.need("positionMode")
        if mode not in ("ONE_WAY", "HEDGE"):
            raise BitunixError(errors.PARAM, "positionMode does not comply with the rule")
        self.sim.ledger.set_position_mode(call.acct.name, mode == "HEDGE")
        return [{"positionMode": mode}]

    # ---- orders and margin --------------------------------------------------------------------

    async def place_order(self, call: Call) -> Any:
        p = call.params
        acct = call.acct
        symbol = call.need("symbol")
        self._specs(symbol)
        side = call.need("side")
        if side not in (BUY, SELL):
            raise from_rejection(Rejected(Reason.BAD_SIDE, "side"))
        if call.need("orderType") != "MARKET":
            raise BitunixError(errors.PARAM, "orderType: the simulator executes MARKET orders only")
        try:
            quantity = float(call.need("qty"))
        except ValueError:
            raise from_rejection(Rejected(Reason.INVALID_PARAM, "qty")) from None
        client_id = p.get("clientId") or None
        if client_id is not None and client_id in acct.client_ids:
            raise error(errors.CLIENT_ID_DUPLICATE)
        reduce_only = p.get("reduceOnly", False)
        if not isinstance(reduce_only, bool):
            raise BitunixError(errors.PARAM, "reduceOnly must be a boolean")
        if acct.hedge_mode:
            if p.get("tradeSide") != "CLOSE":
                # opening is refused by the ledger's reduce-only rule below; only CLOSE reaches a leg
                ps = LONG if side == BUY else SHORT
                order_side, position_side = side, ps
            else:
                # hedge close: the side names the position (BUY closes the long), positionId its leg
                ps = LONG if side == BUY else SHORT
                pid = call.need("positionId")
                if self._position_ids.get((acct.name, symbol, ps)) != pid:
                    raise error(errors.POSITION_NOT_EXIST)
                order_side, position_side = (SELL if side == BUY else BUY), ps
            order, events = self.sim.ledger.place_market_order(
                acct.name,
                symbol,
                order_side,
                quantity,
                position_side=position_side,
                client_order_id=client_id,
                now_ms=call.now_ms,
            )
        else:
            if reduce_only:
                leg = acct.legs.get((symbol, BOTH))
                if leg is None or leg.amount == 0:
                    raise error(errors.NO_POSITION_REDUCE_ONLY)
                if (leg.amount > 0) == (side == BUY):
                    raise error(errors.SAME_DIRECTION_REDUCE_ONLY)
            order, events = self.sim.ledger.place_market_order(
                acct.name,
                symbol,
                side,
                quantity,
                reduce_only=reduce_only,
                client_order_id=client_id,
                now_ms=call.now_ms,
            )
        await self.sim.emit(events)
        return {"orderId": str(order.order_id), "clientId": order.client_order_id}

    async def order_detail(self, call: Call) -> Any:
        """One order by ``orderId`` or ``clientId``; ``data`` null when the venue knows none."""
        acct = call.acct
        order_id = call.params.get("orderId") or None
        client_id = call.params.get("clientId") or None
        if order_id is None and client_id is None:
            raise BitunixError(errors.PARAM, "orderId or clientId is required")
        for o in acct.orders.values():
            if (order_id is None or str(o.order_id) == order_id) and (
                client_id is None or o.client_order_id == client_id
            ):
                cfg = acct.config(o.symbol)
                return wire.order_row(
                    o, self.sim.ledger.specs[o.symbol], acct.hedge_mode, cfg.margin_mode, cfg.leverage
                )
        return None

    async def adjust_margin(self, call: Call) -> Any:
        acct = call.acct
        symbol = call.need("symbol")
        self._specs(symbol)
        if call.need("marginCoin") != "USDT":
            raise BitunixError(errors.PARAM, "marginCoin does not comply with the rule, optional [USDT]")
        try:
            amount = float(call.need("amount"))
        except ValueError:
            raise from_rejection(Rejected(Reason.INVALID_PARAM, "amount")) from None
        if amount == 0:
            raise from_rejection(Rejected(Reason.INVALID_PARAM, "amount"))
        ps = self._leg_side(acct, symbol, call.params)
        leg = acct.legs.get((symbol, ps))
        if leg is None or leg.amount == 0:
            raise error(errors.POSITION_NOT_EXIST)
        events = self.sim.ledger.modify_isolated_margin(
            acct.name,
            symbol,
            abs(amount),
            add=amount > 0,
            position_side=ps if acct.hedge_mode else None,
            now_ms=call.now_ms,
        )
        await self.sim.emit(events)
        return ""
