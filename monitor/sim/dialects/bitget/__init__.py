"""Bitget classic USDT-FUTURES: the v2 mix REST (``rest``), the v2 public and private WebSocket
(``ws``), Bitget's envelope and error codes (``wire``, ``errors``), over the simulator's core.

The books are the USD-M books restated on Bitget's terms: a 0.06 % taker fee, a 5 USDT minimum
order value, and tier tables whose rate includes the fee with a continuous deduction, which is how
Bitget charges a position opened after 2025-11-10 08:00 UTC (``value x (keepMarginRate + taker)``
summed over the tier slices). The tier endpoint publishes ``keepMarginRate`` without the fee, as
Bitget does. The accounts need a passphrase as well as a key and secret (``errors.passphrase_of``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from aiohttp import web

from monitor.sim.book import Book, make_book
from monitor.sim.dialects.base import JSON, Dialect
from monitor.sim.dialects.bitget import wire
from monitor.sim.dialects.bitget.errors import passphrase_of
from monitor.sim.dialects.bitget.rest import BitgetRestApi
from monitor.sim.dialects.bitget.ws import marker, serve_private, serve_public
from monitor.sim.ledger import Account, AccountUpdate, LedgerEvent, OrderUpdate
from monitor.sim.specs import SymbolSpec, brackets_from_rows

TAKER_FEE = 0.0006
MIN_ORDER_USDT = 5.0


def bitget_spec(spec: SymbolSpec, taker_fee: float = TAKER_FEE) -> SymbolSpec:
    """``spec`` with Bitget's fee-inclusive tiered maintenance and minimum order value."""
    rows = [(b.tier.floor, b.tier.cap, b.tier.mmr + taker_fee, b.initial_leverage) for b in spec.brackets]
    return replace(spec, brackets=brackets_from_rows(rows), min_notional=MIN_ORDER_USDT)


def bitget_book(name: str) -> Book:
    """The USD-M book ``name`` on Bitget's terms (fee, tiers, minimum order value)."""
    book = make_book(name)
    specs = {s: bitget_spec(spec) for s, spec in book.specs.items()}
    accounts = tuple(replace(a, taker_fee=TAKER_FEE) for a in book.accounts)
    return replace(book, specs=specs, accounts=accounts)


class Bitget(Dialect):
    name = "bitget"
    title = "Bitget USDT-M"
    ccxt_id = "bitget"

    def passphrase(self, account: Account) -> str:
        return passphrase_of(account)

    def make_book(self, name: str) -> Book:
        return bitget_book(name)

    def rest_api(self, sim: Any) -> BitgetRestApi:
        return BitgetRestApi(sim)

    def install(self, app: web.Application, sim: Any) -> None:
        async def public(request: web.Request) -> web.StreamResponse:
            return await serve_public(request, sim)

        async def private(request: web.Request) -> web.StreamResponse:
            return await serve_private(request, sim)

        app.router.add_get("/v2/ws/public", public)
        app.router.add_get("/v2/ws/private", private)
        app.router.add_route("*", "/api/{tail:.*}", sim.rest.dispatch)

    def mark_update(self, symbol: str, mark: float, now_ms: int) -> JSON:
        return wire.ticker_push(symbol, mark, now_ms)

    def user_frame(self, event: LedgerEvent, specs: Mapping[str, SymbolSpec]) -> JSON:
        """A marker the private socket expands into Bitget's pushes (``ws.BitgetSocket``): a fill
        is an ``orders`` and a ``fill`` push, a balance or position change a full ``positions``
        snapshot and an ``account`` push. Bitget has no margin-call push."""
        if isinstance(event, OrderUpdate):
            if event.execution != "TRADE":
                return marker("none")
            return marker("trade", orderId=event.order.order_id, tradeId=event.trade_id)
        if isinstance(event, AccountUpdate):
            return marker("account")
        return marker("none")

    def listen_key_expired(self, listen_key: str, now_ms: int) -> JSON:
        """Bitget has no listen keys; the hub never calls this for a Bitget socket."""
        return marker("none")

    def ccxt_config(self, sim: Any, account: str, **options: Any) -> dict[str, Any]:
        """Key, secret and passphrase, the classic swap markets only, and the URLs on ``sim``
        (``monitor.venues.loopback``)."""
        from monitor.venues.loopback import loopback_urls

        acct = sim.ledger.account(account)
        return {
            "apiKey": acct.api_key,
            "secret": acct.secret,
            "password": passphrase_of(acct),
            "urls": {"api": loopback_urls("bitget", sim.http_url, sim.ws_url)},
            "options": {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}, **options},
        }

    def describe(self, sim: Any) -> list[str]:
        return [
            f"  REST       {sim.http_url}/api/v2/mix/...",
            f"  public WS  {sim.ws_url}/v2/ws/public",
            f"  private WS {sim.ws_url}/v2/ws/private",
            f"  ccxt:      ex = ccxt.pro.{self.ccxt_id}({{'apiKey': KEY, 'secret': SECRET,"
            " 'password': PASSPHRASE}})",
            f"             monitor.venues.loopback.point_at(ex, {sim.http_url!r}, {sim.ws_url!r})",
        ]
