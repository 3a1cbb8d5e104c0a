"""BloFin USDT swaps: the v1 REST (``rest``), the public and private WebSockets (``ws``), BloFin's
envelope, codes and contract sizes (``wire``, ``errors``), over the simulator's core.

The books are the USD-M books restated on BloFin's terms, so that the ledger charges what the
derived identities say (venues note 2.4): a 0.06 % taker fee, and one maintenance tier per symbol
(BloFin tiers by size in contracts with no deduction, which a tier table by value can only match
with one tier) whose rate includes the fee to close: ``value x (MMR + taker)``, liquidation where
BloFin's ``marginRatio`` (equity / that) falls to 1. The tier endpoint publishes the rate without
the fee, as BloFin does. Sizes on the wire are contracts of ``contractValue`` base units (the book's
lot). The accounts need a passphrase as well as a key and secret (``errors.passphrase_of``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from monitor.sim.book import Book, make_book
from monitor.sim.dialects.base import JSON, Dialect
from monitor.sim.dialects.blofin import wire
from monitor.sim.dialects.blofin.errors import passphrase_of
from monitor.sim.dialects.blofin.rest import BlofinRestApi
from monitor.sim.dialects.blofin.ws import marker, serve_private, serve_public
from monitor.sim.ledger import Account, AccountUpdate, LedgerEvent, OrderUpdate
from monitor.sim.specs import SymbolSpec, brackets_from_rows

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

TAKER_FEE = 0.0006


def blofin_spec(spec: SymbolSpec, taker_fee: float = TAKER_FEE) -> SymbolSpec:
    """``spec`` with one tier, the first one's rate plus the fee to close, up to the last cap."""
    first = spec.brackets[0]
    row = (0.0, spec.brackets[-1].tier.cap, first.tier.mmr + taker_fee, first.initial_leverage)
    return replace(spec, brackets=brackets_from_rows([row]))


def blofin_book(name: str) -> Book:
    """The USD-M book ``name`` on BloFin's terms (fee, one tier per symbol)."""
    book = make_book(name)
    specs = {s: blofin_spec(spec) for s, spec in book.specs.items()}
    accounts = tuple(replace(a, taker_fee=TAKER_FEE) for a in book.accounts)
    return replace(book, specs=specs, accounts=accounts)


class Blofin(Dialect):
    name = "blofin"
    title = "BloFin USDT swaps"
    ccxt_id = "blofin"

    def market_id(self, spec: SymbolSpec) -> str:
        """BloFin's instruments are ``BASE-USDT``."""
        return wire.inst_id(spec)

    def passphrase(self, account: Account) -> str:
        return passphrase_of(account)

    def make_book(self, name: str) -> Book:
        return blofin_book(name)

    def rest_api(self, sim: SimExchange) -> BlofinRestApi:
        return BlofinRestApi(sim)

    def install(self, app: web.Application, sim: SimExchange) -> None:
        async def public(request: web.Request) -> web.StreamResponse:
            return await serve_public(request, sim)

        async def private(request: web.Request) -> web.StreamResponse:
            return await serve_private(request, sim)

        app.router.add_get("/ws/public", public)
        app.router.add_get("/ws/private", private)
        app.router.add_route("*", "/api/{tail:.*}", sim.rest.dispatch)

    def mark_update(self, symbol: str, mark: float, now_ms: int) -> JSON:
        """A ``mark-price-candle1m`` push (the books quote every symbol in USDT)."""
        return wire.mark_candle_push(symbol, mark, now_ms)

    def marks_published(self, sim: SimExchange, now_ms: int) -> None:
        sim.rest.publish_marks(dict(sim.ledger.marks), now_ms)

    def user_frame(self, event: LedgerEvent, specs: Mapping[str, SymbolSpec]) -> JSON:
        """A marker the private socket expands into BloFin's pushes (``ws.BlofinSocket``): a fill is
        an ``orders`` push; a balance or position change the ``positions`` and ``account`` pushes.
        BloFin has no margin-call push."""
        if isinstance(event, OrderUpdate):
            if event.execution not in ("TRADE", "CALCULATED"):  # a fill, or the liquidation engine's
                return marker("none")
            return marker("order", orderId=event.order.order_id)
        if isinstance(event, AccountUpdate):
            return marker("account")
        return marker("none")

    def listen_key_expired(self, listen_key: str, now_ms: int) -> JSON:
        """BloFin has no listen keys; the hub never calls this for a BloFin socket."""
        return marker("none")

    def ccxt_config(self, sim: SimExchange, account: str, **options: Any) -> dict[str, Any]:
        """Key, secret and passphrase, and every URL on ``sim`` (``monitor.venues.loopback``)."""
        from monitor.venues.loopback import loopback_urls

        acct = sim.ledger.account(account)
        return {
            "apiKey": acct.api_key,
            "secret": acct.secret,
            "password": passphrase_of(acct),
            "urls": {"api": loopback_urls("blofin", sim.http_url, sim.ws_url)},
            "options": {"defaultType": "swap", **options},
        }

    def describe(self, sim: SimExchange) -> list[str]:
        return [
            f"  REST       {sim.http_url}/api/v1/...",
            f"  public WS  {sim.ws_url}/ws/public",
            f"  private WS {sim.ws_url}/ws/private",
            f"  ccxt:      ex = ccxt.pro.{self.ccxt_id}({{'apiKey': KEY, 'secret': SECRET,"
            " 'password': PASSPHRASE}})",
            f"             monitor.venues.loopback.point_at(ex, {sim.http_url!r}, {sim.ws_url!r})",
        ]


__all__ = ["TAKER_FEE", "Blofin", "blofin_book", "blofin_spec", "wire"]
