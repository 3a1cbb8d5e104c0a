"""Binance USD-M: ``/fapi`` REST, the 2026 split of market (``/market/ws``) and user
(``/private/ws``) streams, HMAC-SHA256 signing, Binance's error codes.

The wire shapes are ``monitor.sim.frames``, the request checks ``monitor.sim.auth``, the routes
``monitor.sim.rest`` and the stream fan-out ``monitor.sim.streams``: this class puts them on a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from monitor.sim import frames
from monitor.sim.book import Book, make_book
from monitor.sim.dialects.base import JSON, Dialect
from monitor.sim.ledger import LedgerEvent
from monitor.sim.rest import RestApi
from monitor.sim.specs import SymbolSpec

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

# Binance answers subscriptions on these and never delivers mark prices there.
_SILENT_WS = ("/ws", "/ws/{tail:.*}", "/stream", "/public/ws", "/public/ws/{tail:.*}", "/public/stream")
_REST_PREFIXES = ("/fapi", "/sapi", "/api", "/dapi", "/futures", "/papi", "/eapi")


class BinanceUsdm(Dialect):
    name = "binanceusdm"
    title = "Binance USD-M"
    ccxt_id = "binanceusdm"

    def make_book(self, name: str) -> Book:
        return make_book(name)

    def rest_api(self, sim: SimExchange) -> RestApi:
        return RestApi(sim)

    def install(self, app: web.Application, sim: SimExchange) -> None:
        streams = sim.streams

        async def market(request: web.Request) -> web.WebSocketResponse:
            return await streams.serve_market(request, live=True)

        async def combined(request: web.Request) -> web.WebSocketResponse:
            return await streams.serve_market(request, live=True, combined=True)

        async def silent(request: web.Request) -> web.WebSocketResponse:
            return await streams.serve_market(request, live=False)

        async def user(request: web.Request) -> web.WebSocketResponse:
            key = request.match_info.get("key") or request.query.get("listenKey", "")
            return await streams.serve_user(request, sim.listen_keys.account_of(key), key)

        app.router.add_get("/market/ws", market)
        app.router.add_get("/market/ws/{tail:.*}", market)
        app.router.add_get("/market/stream", combined)
        for path in _SILENT_WS:
            app.router.add_get(path, silent)
        app.router.add_get("/private/ws", user)
        app.router.add_get("/private/ws/{key}", user)
        for prefix in _REST_PREFIXES:
            app.router.add_route("*", prefix + "/{tail:.*}", sim.rest.dispatch)

    def mark_update(self, symbol: str, mark: float, now_ms: int) -> JSON:
        return frames.mark_price_update(symbol, mark, now_ms)

    def user_frame(self, event: LedgerEvent, specs: Mapping[str, SymbolSpec]) -> JSON:
        return frames.user_frame(event, specs)

    def listen_key_expired(self, listen_key: str, now_ms: int) -> JSON:
        return frames.listen_key_expired(listen_key, now_ms)

    def ccxt_config(self, sim: SimExchange, account: str, **options: Any) -> dict[str, Any]:
        """Credentials, URLs on ``sim``, and ``fetchCurrencies`` off (it would call sapi). Still call
        ``monitor.venues.binance.urls.point_at`` on the instance for ccxt's exception classes."""
        from monitor.venues.binance.urls import loopback_urls

        acct = sim.ledger.account(account)
        return {
            "apiKey": acct.api_key,
            "secret": acct.secret,
            "urls": {"api": loopback_urls(sim.http_url, sim.ws_url)},
            "options": {"fetchCurrencies": False, "defaultType": "swap", **options},
        }

    def describe(self, sim: SimExchange) -> list[str]:
        return [
            f"  REST       {sim.http_url}/fapi/v1/...",
            f"  market WS  {sim.ws_url}/market/ws",
            f"  user WS    {sim.ws_url}/private/ws?listenKey=...",
            f"  ccxt:      ex = ccxt.pro.{self.ccxt_id}({{'apiKey': KEY, 'secret': SECRET,"
            " 'options': {'fetchCurrencies': False}})",
            f"             monitor.venues.binance.urls.point_at(ex, {sim.http_url!r}, {sim.ws_url!r})",
        ]
