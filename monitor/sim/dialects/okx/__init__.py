"""OKX v5: the ``/api/v5`` REST (``rest``), the public and private WebSockets (``ws``), OKX's envelope
and error codes (``wire``, ``errors``), over the simulator's core.

USDT-margined swaps on the USD-M books restated on OKX's terms: instruments ``BASE-USDT-SWAP`` whose
sizes are contracts of ``ctVal`` base units (``wire.CONTRACT_VALUES``), a 0.05 % taker fee, and tier
tables counted in contracts (the book's notional tiers at the start price, ``wire.contract_tiers``)
charged OKX's way: the whole position value at the rate of the tier its contracts fall in, plus the
fee to close at the taker rate, with no deduction (the ledger's ``contract_tiers``). Margin modes
are per position (one per symbol in the ledger), net or long/short per account. The accounts need a
passphrase as well as a key and secret (``errors.passphrase_of``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from monitor.model import Tier
from monitor.sim.book import Book, make_book
from monitor.sim.dialects.base import JSON, Dialect
from monitor.sim.dialects.okx import wire
from monitor.sim.dialects.okx.errors import passphrase_of
from monitor.sim.dialects.okx.rest import OkxRestApi
from monitor.sim.dialects.okx.ws import mark_push, marker, serve_private, serve_public
from monitor.sim.ledger import Account, AccountUpdate, LedgerEvent, OrderUpdate
from monitor.sim.specs import SymbolSpec

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

TAKER_FEE = 0.0005


def okx_book(name: str) -> Book:
    """The USD-M book ``name`` on OKX's terms (the taker fee of its accounts)."""
    book = make_book(name)
    return replace(book, accounts=tuple(replace(a, taker_fee=TAKER_FEE) for a in book.accounts))


def ledger_tiers(spec: SymbolSpec, taker_fee: float = TAKER_FEE) -> tuple[float, tuple[Tier, ...]]:
    """What the ledger charges a symbol: its contract value and its contract tiers with the fee to
    close in every rate (OKX's requirement is value x (MMR + taker))."""
    tiers = tuple(Tier(t.floor, t.cap, t.mmr + taker_fee, 0.0) for t in wire.contract_tiers(spec))
    return wire.contract_value(spec), tiers


class Okx(Dialect):
    """``idle_cut_s``: OKX's silence cut (30 s); ``snapshot_s``: the period of the private channels'
    snapshots (5 s by default on OKX). Tests make them shorter with a dialect of their own."""

    name = "okx"
    title = "OKX"
    ccxt_id = "okx"

    def __init__(self, idle_cut_s: float = 30.0, snapshot_s: float = 5.0) -> None:
        self.idle_cut_s = idle_cut_s
        self.snapshot_s = snapshot_s

    def symbol_id(self, symbol: str) -> str:
        """The books' symbols are ``BASEUSDT``; OKX's instruments ``BASE-USDT-SWAP``."""
        base = symbol[: -len("USDT")] if symbol.endswith("USDT") else symbol
        return f"{base}-USDT-SWAP"

    def market_id(self, spec: SymbolSpec) -> str:
        return self.symbol_id(spec.symbol)

    def passphrase(self, account: Account) -> str:
        return passphrase_of(account)

    def make_book(self, name: str) -> Book:
        return okx_book(name)

    def rest_api(self, sim: SimExchange) -> OkxRestApi:
        """The REST side; built once per simulator, with its ledger, which takes OKX's rule here:
        tiers in contracts, the whole value at the tier's rate plus the fee to close."""
        ledger = sim.ledger
        ledger.contract_tiers = {s: ledger_tiers(spec) for s, spec in ledger.specs.items()}
        return OkxRestApi(sim)

    def install(self, app: web.Application, sim: SimExchange) -> None:
        async def public(request: web.Request) -> web.StreamResponse:
            return await serve_public(request, sim, self.idle_cut_s)

        async def private(request: web.Request) -> web.StreamResponse:
            return await serve_private(request, sim, self.idle_cut_s, self.snapshot_s)

        app.router.add_get("/ws/v5/public", public)
        app.router.add_get("/ws/v5/business", public)
        app.router.add_get("/ws/v5/private", private)
        app.router.add_route("*", "/api/v5/{tail:.*}", sim.rest.dispatch)

    def mark_update(self, symbol: str, mark: float, now_ms: int) -> JSON:
        """A ``mark-price`` push of the symbol's instrument."""
        return mark_push(self.symbol_id(symbol), mark, now_ms)

    def user_frame(self, event: LedgerEvent, specs: Mapping[str, SymbolSpec]) -> JSON:
        """A marker the private socket expands into OKX's pushes (``ws.OkxSocket``): an order's
        update is an ``orders`` push, a balance or position change a ``positions`` and an
        ``account`` ``event_update``. OKX's liquidation warnings are not simulated."""
        if isinstance(event, OrderUpdate):
            return marker(
                "order",
                orderId=event.order.order_id,
                execution=event.execution,
                lastQty=event.last_qty,
                lastPrice=event.last_price,
                realized=event.realized,
                commission=event.commission,
                tradeId=event.trade_id,
            )
        if isinstance(event, AccountUpdate):
            return marker("account", symbols=[[leg.symbol, leg.position_side] for leg in event.legs])
        return marker("none")

    def listen_key_expired(self, listen_key: str, now_ms: int) -> JSON:
        """OKX has no listen keys; the hub never calls this for an OKX socket."""
        return marker("none")

    def ccxt_config(self, sim: SimExchange, account: str, **options: Any) -> dict[str, Any]:
        """Key, secret and passphrase, the swap markets only, and the URLs on ``sim``."""
        from monitor.venues.loopback import loopback_urls

        acct = sim.ledger.account(account)
        return {
            "apiKey": acct.api_key,
            "secret": acct.secret,
            "password": passphrase_of(acct),
            "urls": {"api": loopback_urls(self.ccxt_id, sim.http_url, sim.ws_url)},
            "options": {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}, **options},
        }

    def describe(self, sim: SimExchange) -> list[str]:
        return [
            f"  REST       {sim.http_url}/api/v5/...",
            f"  public WS  {sim.ws_url}/ws/v5/public",
            f"  private WS {sim.ws_url}/ws/v5/private",
            f"  ccxt:      ex = ccxt.pro.{self.ccxt_id}({{'apiKey': KEY, 'secret': SECRET,"
            " 'password': PASSPHRASE}})",
            f"             monitor.venues.loopback.point_at(ex, {sim.http_url!r}, {sim.ws_url!r})",
        ]
