"""Bybit v5 (Unified Trading Account): ``/v5`` REST with Bybit's envelope, signing and ``retCode``s
(``rest``, ``errors``), the public (``/v5/public/<category>``) and private (``/v5/private``) WebSockets
with their ops (``ws``), and the bodies in the shapes of the recorded payloads (``wire``).

Linear USDT perpetuals on the simulator's USD-M books (the same ``small``/``demo`` books: one-way and
hedge accounts, cross and isolated legs). The ledger's maintenance requirement includes Bybit's fee to
close; tiers, the cross pool and liquidation are the core's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from monitor.sim.book import Book, make_book
from monitor.sim.dialects.base import JSON, Dialect
from monitor.sim.dialects.bybit import wire, ws
from monitor.sim.dialects.bybit.rest import BybitRestApi
from monitor.sim.frames import dec
from monitor.sim.ledger import AccountUpdate, LedgerEvent, MarginCall, OrderUpdate
from monitor.sim.specs import SymbolSpec

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange


class Bybit(Dialect):
    name = "bybit"
    title = "Bybit"
    ccxt_id = "bybit"

    def make_book(self, name: str) -> Book:
        return make_book(name)

    def rest_api(self, sim: SimExchange) -> BybitRestApi:
        """The REST side; built once per simulator, with its ledger, which takes Bybit's rule here:
        the maintenance requirement includes the fee to close."""
        sim.ledger.close_fee_in_maintenance = True
        return BybitRestApi(sim)

    def install(self, app: web.Application, sim: SimExchange) -> None:
        async def public(request: web.Request) -> web.WebSocketResponse:
            return await ws.serve_public(request, sim)

        async def private(request: web.Request) -> web.WebSocketResponse:
            return await ws.serve_private(request, sim)

        app.router.add_get("/v5/public/linear", public)
        app.router.add_get("/v5/public/inverse", public)
        app.router.add_get("/v5/private", private)
        app.router.add_route("*", "/v5/{tail:.*}", sim.rest.dispatch)

    def mark_update(self, symbol: str, mark: float, now_ms: int) -> JSON:
        """A ticker ``delta``: Bybit sends only what changed, and the mark with it here (a delta
        without ``markPrice`` carries no mark and is never published by the simulator)."""
        data = {"symbol": symbol, "markPrice": repr(round(mark, 8)), "indexPrice": repr(round(mark, 8))}
        return ws.ticker_frame(symbol, data, "delta", now_ms)

    def user_frame(self, event: LedgerEvent, specs: Mapping[str, SymbolSpec]) -> JSON:
        """The first frame of ``user_frames`` without the ledger's current figures: an order, or
        the wallet change of an account update."""
        if isinstance(event, OrderUpdate):
            return _order_frame(event, specs)
        return _wallet_frame(event)

    def user_frames(
        self, event: LedgerEvent, specs: Mapping[str, SymbolSpec], sim: SimExchange
    ) -> list[JSON]:
        """An account update is a ``position`` frame (its legs, valued now) and a ``wallet`` frame;
        a fill is an ``execution`` and an ``order`` frame. Bybit has no margin-call topic."""
        if isinstance(event, MarginCall):
            return []
        if isinstance(event, OrderUpdate):
            frames = []
            if event.last_qty > 0:
                frames.append(_execution_frame(event, specs))
            frames.append(_order_frame(event, specs))
            return frames
        ledger = sim.ledger
        acct = ledger.account(event.account)
        rows = [
            wire.position(ledger.leg_risk(acct, leg.symbol, leg.position_side), specs[leg.symbol], event.time)
            for leg in event.legs
        ]
        for row in rows:
            row["category"] = "linear"
        out: list[JSON] = []
        if rows:
            out.append(
                {"id": f"pos-{event.time}", "topic": "position", "creationTime": event.time, "data": rows}
            )
        risk = ledger.risk(acct)
        wallet = wire.wallet(risk, acct.wallets)["list"]
        out.append(
            {"id": f"wallet-{event.time}", "topic": "wallet", "creationTime": event.time, "data": wallet}
        )
        return out

    def listen_key_expired(self, listen_key: str, now_ms: int) -> JSON:
        """Bybit has no listen keys; its private socket is authenticated by key and signature."""
        return {"op": "auth", "success": False, "ret_msg": "Request not authorized"}

    def ccxt_config(self, sim: SimExchange, account: str, **options: Any) -> dict[str, Any]:
        """Credentials, every URL on ``sim``, markets of the linear category only, and the account
        type known in advance (ccxt would otherwise ask ``query-api`` and ``account/info`` first)."""
        from monitor.venues.loopback import loopback_urls

        acct = sim.ledger.account(account)
        return {
            "apiKey": acct.api_key,
            "secret": acct.secret,
            "urls": {"api": loopback_urls("bybit", sim.http_url, sim.ws_url)},
            "options": {
                "defaultType": "swap",
                "defaultSubType": "linear",
                "fetchMarkets": {"types": ["linear"]},
                "loadAllOptions": False,
                **options,
            },
        }

    def describe(self, sim: SimExchange) -> list[str]:
        return [
            f"  REST       {sim.http_url}/v5/...",
            f"  public WS  {sim.ws_url}/v5/public/linear",
            f"  private WS {sim.ws_url}/v5/private",
            f"  ccxt:      ex = ccxt.pro.{self.ccxt_id}({{'apiKey': KEY, 'secret': SECRET}})",
            f"             monitor.venues.loopback.point_at(ex, {sim.http_url!r}, {sim.ws_url!r})",
        ]


def _wallet_frame(event: AccountUpdate | MarginCall) -> JSON:
    return {"id": f"wallet-{event.time}", "topic": "wallet", "creationTime": event.time, "data": []}


def _order_frame(event: OrderUpdate, specs: Mapping[str, SymbolSpec]) -> JSON:
    o = event.order
    row = wire.order(o, specs[o.symbol])
    row["category"] = "linear"
    return {
        "id": f"order-{o.order_id}-{event.time}",
        "topic": "order",
        "creationTime": event.time,
        "data": [row],
    }


def _execution_frame(event: OrderUpdate, specs: Mapping[str, SymbolSpec]) -> JSON:
    o = event.order
    spec = specs[o.symbol]
    return {
        "id": f"exec-{event.trade_id}",
        "topic": "execution",
        "creationTime": event.time,
        "data": [
            {
                "category": "linear",
                "symbol": o.symbol,
                "isLeverage": "",
                "orderId": str(o.order_id),
                "orderLinkId": o.client_order_id,
                "side": "Buy" if o.side == "BUY" else "Sell",
                "orderPrice": "0",
                "orderQty": dec(o.orig_qty, spec.quantity_precision),
                "leavesQty": dec(o.orig_qty - o.executed_qty, spec.quantity_precision),
                "orderType": "Market",
                "stopOrderType": "",
                "execFee": dec(event.commission, 8),
                "execId": str(event.trade_id),
                "execPrice": dec(event.last_price, spec.price_precision),
                "execQty": dec(event.last_qty, spec.quantity_precision),
                "execType": "BustTrade" if o.order_type == "LIQUIDATION" else "Trade",
                "execValue": dec(event.last_qty * event.last_price, 8),
                "execTime": str(event.time),
                "isMaker": False,
                "feeRate": "0.00055",
                "tradeIv": "",
                "markIv": "",
                "markPrice": dec(event.last_price, spec.price_precision),
                "indexPrice": "",
                "underlyingPrice": "",
                "blockTradeId": "",
                "closedSize": "0",
                "seq": event.trade_id,
            }
        ],
    }
