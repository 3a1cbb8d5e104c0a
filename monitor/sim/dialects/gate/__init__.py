"""Gate USDT-settled perpetual futures (API v4): ``/api/v4`` REST with Gate's signing and error labels
(``rest``, ``errors``), the futures WebSocket with per-subscribe signing and user ids (``ws``), and the
bodies in the shapes of the recorded payloads (``wire``), over the simulator's core.

The books are the USD-M books restated on Gate's terms: a contract is one lot step of the base coin
(``quanto_multiplier``), so sizes are whole contracts; no minimum order value; and tier tables whose
rate includes the contracts' default taker rate (``wire.CONTRACT_TAKER_FEE``, 0.075 %) with the
published deduction, which is how Gate charges maintenance margin and places ``liq_price``. The tier
endpoint publishes the rate without the fee, as Gate does. Accounts pay 0.05 % on their fills, less
than the contract's default rate, like the account behind the real captures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from monitor.sim.book import Book, make_book
from monitor.sim.dialects.base import JSON, Dialect
from monitor.sim.dialects.gate import wire
from monitor.sim.dialects.gate.errors import uid_of
from monitor.sim.dialects.gate.rest import GateRestApi
from monitor.sim.dialects.gate.ws import PATH, marker, serve
from monitor.sim.ledger import Account, AccountUpdate, LedgerEvent, OrderUpdate
from monitor.sim.specs import SymbolSpec, brackets_from_rows

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

ACCOUNT_TAKER_FEE = 0.0005


def gate_spec(spec: SymbolSpec, taker_fee: float = wire.CONTRACT_TAKER_FEE) -> SymbolSpec:
    """``spec`` with Gate's fee-inclusive maintenance tiers and no minimum order value."""
    rows = [(b.tier.floor, b.tier.cap, b.tier.mmr + taker_fee, b.initial_leverage) for b in spec.brackets]
    return replace(spec, brackets=brackets_from_rows(rows), min_notional=0.0)


def gate_book(name: str) -> Book:
    """The USD-M book ``name`` on Gate's terms (tiers with the fee, accounts' own fee)."""
    book = make_book(name)
    specs = {s: gate_spec(spec) for s, spec in book.specs.items()}
    accounts = tuple(replace(a, taker_fee=ACCOUNT_TAKER_FEE) for a in book.accounts)
    return replace(book, specs=specs, accounts=accounts)


_BALANCE_TYPE = {"ORDER": "pnl", "FUNDING_FEE": "fund", "DEPOSIT": "dnw", "WITHDRAW": "dnw"}


class Gate(Dialect):
    name = "gate"
    title = "Gate USDT-M"
    ccxt_id = "gate"

    def market_id(self, spec: SymbolSpec) -> str:
        return wire.contract_id(spec)

    def make_book(self, name: str) -> Book:
        return gate_book(name)

    def rest_api(self, sim: SimExchange) -> GateRestApi:
        return GateRestApi(sim)

    def install(self, app: web.Application, sim: SimExchange) -> None:
        async def socket(request: web.Request) -> web.StreamResponse:
            return await serve(request, sim)

        app.router.add_get(PATH, socket)
        app.router.add_route("*", "/api/v4/{tail:.*}", sim.rest.dispatch)

    def mark_update(self, symbol: str, mark: float, now_ms: int) -> JSON:
        """One contract's ``futures.tickers`` push (sizes as integers: the mark is all it is for)."""
        return wire.push(
            "futures.tickers", [wire.ticker(wire.contract_of(symbol), mark, decimal=False)], now_ms
        )

    def user_frame(self, event: LedgerEvent, specs: Mapping[str, SymbolSpec]) -> JSON:
        """A marker the socket expands into Gate's pushes (``ws.GateSocket``)."""
        if isinstance(event, OrderUpdate):
            if event.order.order_type == "LIQUIDATION":
                return marker("liquidation", orderId=event.order.order_id)
            if event.execution == "TRADE":
                return marker("order", orderId=event.order.order_id)
            return marker("none")
        if isinstance(event, AccountUpdate):
            legs = [(leg.symbol, leg.position_side) for leg in event.legs]
            kind = _BALANCE_TYPE.get(event.reason, "dnw")
            text = ""
            if event.legs:
                spec = specs[event.legs[0].symbol]
                text = f"{wire.contract_id(spec)}:{event.time}"
            return marker("account", legs=legs, change=event.balance_change, type=kind, text=text)
        return marker("none")

    def listen_key_expired(self, listen_key: str, now_ms: int) -> JSON:
        """Gate has no listen keys; the hub never calls this for a Gate socket."""
        return marker("none")

    def ccxt_config(self, sim: SimExchange, account: str, **options: Any) -> dict[str, Any]:
        """Key, secret and numeric uid, the USDT swaps only, and the URLs on ``sim``
        (``monitor.venues.gate.urls``)."""
        from monitor.venues.gate.urls import loopback_urls

        acct: Account = sim.ledger.account(account)
        return {
            "apiKey": acct.api_key,
            "secret": acct.secret,
            "uid": str(uid_of(acct)),
            "urls": {"api": loopback_urls(sim.http_url, sim.ws_url)},
            "options": {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}, **options},
        }

    def describe(self, sim: SimExchange) -> list[str]:
        return [
            f"  REST       {sim.http_url}/api/v4/futures/usdt/...",
            f"  WebSocket  {sim.ws_url}{PATH}",
            f"  ccxt:      ex = ccxt.pro.{self.ccxt_id}({{'apiKey': KEY, 'secret': SECRET, 'uid': UID}})",
            f"             monitor.venues.gate.urls.point_at(ex, {sim.http_url!r}, {sim.ws_url!r})",
        ]
