"""Bitunix USDT-M futures: the ``/api/v1/futures`` REST (``rest``), the public and private WebSockets
(``ws``), Bitunix's envelope and error codes (``wire``, ``errors``), over the simulator's core.

The books are the USD-M books; the ledger takes Bitunix's published rule for the maintenance margin,
valued at the entry price (``Ledger.maintenance_on_entry``), and liquidates by its definition. No
ccxt class speaks Bitunix: ``ccxt_config`` gives the project's own client what it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from monitor.sim.book import Book, make_book
from monitor.sim.dialects.base import JSON, Dialect
from monitor.sim.dialects.bitunix import wire, ws
from monitor.sim.dialects.bitunix.rest import BitunixRestApi
from monitor.sim.ledger import AccountUpdate, LedgerEvent, OrderUpdate
from monitor.sim.specs import SymbolSpec

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange


class Bitunix(Dialect):
    name = "bitunix"
    title = "Bitunix USDT-M"
    ccxt_id = ""  # ccxt has no Bitunix class

    def make_book(self, name: str) -> Book:
        return make_book(name)

    def rest_api(self, sim: SimExchange) -> BitunixRestApi:
        """The REST side; built once per simulator, with its ledger, which takes Bitunix's rule
        here: maintenance margin on the entry price."""
        sim.ledger.maintenance_on_entry = True
        return BitunixRestApi(sim)

    def install(self, app: web.Application, sim: SimExchange) -> None:
        async def public(request: web.Request) -> web.WebSocketResponse:
            return await ws.serve_public(request, sim)

        async def private(request: web.Request) -> web.WebSocketResponse:
            return await ws.serve_private(request, sim)

        for path in ("/public/", "/public"):
            app.router.add_get(path, public)
        for path in ("/private/", "/private"):
            app.router.add_get(path, private)
        app.router.add_route("*", "/{tail:.*}", sim.rest.dispatch)

    def mark_update(self, symbol: str, mark: float, now_ms: int) -> JSON:
        return wire.price_push(symbol, mark, now_ms)

    def user_frame(self, event: LedgerEvent, specs: Mapping[str, SymbolSpec]) -> JSON:
        """Bitunix's pushes need the ledger's current figures and the legs' position ids:
        ``user_frames`` builds them; alone, an event is only named."""
        return {"ch": "sim", "event": type(event).__name__}

    def user_frames(
        self, event: LedgerEvent, specs: Mapping[str, SymbolSpec], sim: SimExchange
    ) -> list[JSON]:
        """An account update is a ``position`` push per leg (OPEN, UPDATE or CLOSE: no liquidation
        price, margin rate or mark, as Bitunix sends) and a ``balance`` push; a fill an ``order``
        push. Bitunix has no margin-call push."""
        rest = sim.rest
        assert isinstance(rest, BitunixRestApi)
        ledger = sim.ledger
        acct = ledger.account(event.account)
        if isinstance(event, OrderUpdate):
            o = event.order
            cfg = acct.config(o.symbol)
            return [wire.order_push(o, specs[o.symbol], cfg.margin_mode, cfg.leverage, event.time)]
        if not isinstance(event, AccountUpdate):
            return []
        out: list[JSON] = []
        for leg in event.legs:
            risk = ledger.leg_risk(acct, leg.symbol, leg.position_side)
            is_open = risk.amount != 0
            kind = "UPDATE" if rest.known_position(acct.name, leg.symbol, leg.position_side) else "OPEN"
            pid = rest.position_id(acct.name, leg.symbol, leg.position_side, open_=is_open)
            out.append(
                wire.position_push(
                    risk, specs[leg.symbol], pid, acct.hedge_mode, kind if is_open else "CLOSE", event.time
                )
            )
        out.append(wire.balance_push(ledger.risk(acct), acct.hedge_mode, event.time))
        return out

    def listen_key_expired(self, listen_key: str, now_ms: int) -> JSON:
        """Bitunix has no listen keys; the hub never calls this for a Bitunix socket."""
        return {"ch": "sim", "event": "none"}

    def ccxt_config(self, sim: SimExchange, account: str, **options: Any) -> dict[str, Any]:
        """No ccxt class speaks Bitunix: the credentials and where the project's own client reaches
        the simulator (``monitor.venues.bitunix``)."""
        acct = sim.ledger.account(account)
        return {
            "apiKey": acct.api_key,
            "secret": acct.secret,
            "urls": {
                "rest": sim.http_url,
                "public": f"{sim.ws_url}/public/",
                "private": f"{sim.ws_url}/private/",
            },
            **options,
        }

    def describe(self, sim: SimExchange) -> list[str]:
        return [
            f"  REST       {sim.http_url}/api/v1/futures/...",
            f"  public WS  {sim.ws_url}/public/",
            f"  private WS {sim.ws_url}/private/",
            "  client:    monitor.venues.bitunix (ccxt has no Bitunix class)",
        ]
