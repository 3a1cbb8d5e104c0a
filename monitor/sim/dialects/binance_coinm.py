"""Binance COIN-M: ``/dapi`` REST, the ``dstream`` WebSocket (market streams on ``/ws``, user data on
``/ws/<listenKey>``), inverse contracts settled in their coin, a cross pool per coin.

Signing, error codes and the stream control messages are Binance's, shared with USD-M; the bodies
that differ are ``coinm_wire``. The books are ``book.COINM_BOOKS`` and the ``demo`` scenario drives
their symbols (``scenarios.COINM_DEMO_DRIVES``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from monitor.model import MarginMode
from monitor.sim import errors, frames
from monitor.sim.book import COINM_BOOKS, Book, make_book
from monitor.sim.dialects import coinm_wire
from monitor.sim.dialects.base import JSON, Dialect
from monitor.sim.ledger import BOTH, LONG, SHORT, AccountRisk, LedgerEvent
from monitor.sim.rejections import Reason, Rejected
from monitor.sim.rest import Call, Handler, OrderBodies, RestApi, Security
from monitor.sim.scenarios import Scenario, make_scenario
from monitor.sim.specs import SymbolSpec

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

_LISTEN_KEY_LEN = 64


class CoinmRestApi(RestApi):
    """The ``/dapi`` endpoints the daemon and ccxt's binancecoinm call, over the same ledger."""

    def __init__(self, sim: SimExchange) -> None:
        super().__init__(sim)
        dapi = "/dapi/v1"
        r: dict[tuple[str, str], tuple[Security, Handler]] = {}
        r["GET", f"{dapi}/ping"] = ("NONE", self.ping)
        r["GET", f"{dapi}/time"] = ("NONE", self.time)
        r["GET", f"{dapi}/exchangeInfo"] = ("NONE", self.exchange_info)
        r["GET", f"{dapi}/premiumIndex"] = ("NONE", self.premium_index)
        r["POST", f"{dapi}/listenKey"] = ("USER_STREAM", self.listen_key_create)
        r["PUT", f"{dapi}/listenKey"] = ("USER_STREAM", self.listen_key_keepalive)
        r["DELETE", f"{dapi}/listenKey"] = ("USER_STREAM", self.listen_key_close)
        r["GET", "/dapi/v2/leverageBracket"] = ("SIGNED", self.leverage_bracket)
        r["GET", f"{dapi}/positionRisk"] = ("SIGNED", self.position_risk)
        r["GET", f"{dapi}/account"] = ("SIGNED", self.account)
        r["GET", f"{dapi}/balance"] = ("SIGNED", self.balance)
        r["POST", f"{dapi}/order"] = ("SIGNED", self.new_order)
        r["GET", f"{dapi}/order"] = ("SIGNED", self.query_order)
        r["DELETE", f"{dapi}/order"] = ("SIGNED", self.cancel_order)
        r["GET", f"{dapi}/openOrders"] = ("SIGNED", self.open_orders)
        r["GET", f"{dapi}/allOrders"] = ("SIGNED", self.all_orders)
        r["GET", f"{dapi}/forceOrders"] = ("SIGNED", self.force_orders)
        r["POST", f"{dapi}/positionMargin"] = ("SIGNED", self.position_margin)
        r["GET", f"{dapi}/positionSide/dual"] = ("SIGNED", self.position_mode)
        r["POST", f"{dapi}/positionSide/dual"] = ("SIGNED", self.set_position_mode)
        r["POST", f"{dapi}/leverage"] = ("SIGNED", self.set_leverage)
        r["POST", f"{dapi}/marginType"] = ("SIGNED", self.set_margin_type)
        r["GET", f"{dapi}/commissionRate"] = ("SIGNED", self.commission_rate)
        self.routes = r
        self.wire = _CoinmBodies()

    def refusal(self, rejected: Rejected) -> errors.BinanceError:
        """As on USD-M, but the listen-key text names COIN-M's endpoint."""
        if rejected.reason is Reason.UNKNOWN_LISTEN_KEY:
            return errors.invalid_listen_key("/dapi/v1/listenKey")
        return super().refusal(rejected)

    def _risks(self, call: Call) -> list[AccountRisk]:
        acct = call.acct
        return [self.sim.ledger.risk(acct, asset) for asset in acct.wallets]

    async def exchange_info(self, call: Call) -> Any:
        return coinm_wire.exchange_info(self.sim.ledger.specs.values(), call.now_ms)

    async def premium_index(self, call: Call) -> Any:
        """An array always, filtered by ``symbol`` or ``pair``."""
        ledger, valued = self.sim.ledger, self.sim.marks_ms
        symbol = self._symbol(call)
        pair = call.params.get("pair")
        return [
            coinm_wire.premium_index(spec, ledger.marks[s], valued)
            for s, spec in ledger.specs.items()
            if (symbol is None or s == symbol) and (pair is None or coinm_wire.pair_of(spec) == pair)
        ]

    async def leverage_bracket(self, call: Call) -> Any:
        specs = self.sim.ledger.specs
        symbol = self._symbol(call)
        return [coinm_wire.leverage_bracket(spec) for s, spec in specs.items() if symbol in (None, s)]

    async def position_risk(self, call: Call) -> Any:
        """Every symbol of the ``pair`` (or all), each position side of the account's mode."""
        ledger = self.sim.ledger
        acct = call.acct
        pair = call.params.get("pair")
        if pair is not None and not any(coinm_wire.pair_of(s) == pair for s in ledger.specs.values()):
            raise errors.invalid_symbol()
        symbols = [s for s, spec in ledger.specs.items() if pair is None or coinm_wire.pair_of(spec) == pair]
        sides = (LONG, SHORT) if acct.hedge_mode else (BOTH,)
        assets = {ledger.specs[s].margin_asset for s in symbols}
        pools = {asset: ledger.cross_pool(acct, asset) for asset in assets}
        rows = [
            ledger.leg_risk(acct, s, ps, pools[ledger.specs[s].margin_asset]) for s in symbols for ps in sides
        ]
        return coinm_wire.position_risk(rows, ledger.specs)

    async def account(self, call: Call) -> Any:
        return coinm_wire.account(self._risks(call), call.acct, self.sim.ledger.specs)

    async def balance(self, call: Call) -> Any:
        return coinm_wire.balance(self._risks(call), call.acct)

    async def set_margin_type(self, call: Call) -> Any:
        symbol = self._symbol(call, required=True)
        assert symbol is not None
        raw = call.need("marginType").upper()
        modes = {"ISOLATED": MarginMode.ISOLATED, "CROSSED": MarginMode.CROSS, "CROSS": MarginMode.CROSS}
        if raw not in modes:
            raise errors.invalid_param("marginType")
        self.sim.ledger.set_margin_mode(call.acct.name, symbol, modes[raw])
        return {"code": 200, "msg": "success"}


class _CoinmBodies(OrderBodies):
    """The order bodies ``RestApi`` builds, in COIN-M's shape."""

    order_result = staticmethod(coinm_wire.order_result)
    order_query = staticmethod(coinm_wire.order_query)
    force_order = staticmethod(coinm_wire.force_order)


class BinanceCoinm(Dialect):
    name = "binancecoinm"
    title = "Binance COIN-M"
    ccxt_id = "binancecoinm"

    def make_book(self, name: str) -> Book:
        return make_book(name, COINM_BOOKS)

    def make_scenario(self, name: str) -> Scenario:
        if name == "demo":
            from monitor.sim.scenarios import COINM_DEMO_DRIVES, COINM_DEMO_EVENTS, Demo

            return Demo(drives=COINM_DEMO_DRIVES, events=COINM_DEMO_EVENTS)
        return make_scenario(name)

    def rest_api(self, sim: SimExchange) -> CoinmRestApi:
        return CoinmRestApi(sim)

    def install(self, app: web.Application, sim: SimExchange) -> None:
        streams = sim.streams

        async def stream(request: web.Request) -> web.WebSocketResponse:
            # /ws/<listenKey> is a user stream; anything else under /ws is a market connection
            # (ccxt appends a connection index: /ws/0)
            tail = request.match_info.get("tail", "")
            account = sim.listen_keys.account_of(tail) if len(tail) == _LISTEN_KEY_LEN else None
            if account is not None or len(tail) == _LISTEN_KEY_LEN:
                return await streams.serve_user(request, account, tail)
            return await streams.serve_market(request, live=True)

        async def combined(request: web.Request) -> web.WebSocketResponse:
            return await streams.serve_market(request, live=True, combined=True)

        app.router.add_get("/ws", stream)
        app.router.add_get("/ws/{tail:.*}", stream)
        app.router.add_get("/stream", combined)
        for prefix in ("/dapi", "/fapi", "/sapi", "/api"):
            app.router.add_route("*", prefix + "/{tail:.*}", sim.rest.dispatch)

    def mark_update(self, symbol: str, mark: float, now_ms: int) -> JSON:
        return coinm_wire.mark_price_update(symbol, mark, now_ms)

    def user_frame(self, event: LedgerEvent, specs: Mapping[str, SymbolSpec]) -> JSON:
        return coinm_wire.user_frame(event, specs)

    def listen_key_expired(self, listen_key: str, now_ms: int) -> JSON:
        return frames.listen_key_expired(listen_key, now_ms)

    def ccxt_config(self, sim: SimExchange, account: str, **options: Any) -> dict[str, Any]:
        """Credentials, URLs on ``sim`` and ``fetchCurrencies`` off, for ``ccxt.pro.binancecoinm``.
        Still call ``monitor.venues.binance.urls.point_at`` on the instance for its exception classes."""
        from monitor.venues.binance.urls import loopback_urls

        acct = sim.ledger.account(account)
        return {
            "apiKey": acct.api_key,
            "secret": acct.secret,
            "urls": {"api": loopback_urls(sim.http_url, sim.ws_url)},
            "options": {"fetchCurrencies": False, "defaultType": "delivery", **options},
        }

    def describe(self, sim: SimExchange) -> list[str]:
        return [
            f"  REST       {sim.http_url}/dapi/v1/...",
            f"  market WS  {sim.ws_url}/ws",
            f"  user WS    {sim.ws_url}/ws/<listenKey>",
            f"  ccxt:      ex = ccxt.pro.{self.ccxt_id}({{'apiKey': KEY, 'secret': SECRET,"
            " 'options': {'fetchCurrencies': False}})",
            f"             monitor.venues.binance.urls.point_at(ex, {sim.http_url!r}, {sim.ws_url!r})",
        ]
