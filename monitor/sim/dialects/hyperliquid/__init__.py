"""Hyperliquid perpetuals: ``POST /info`` and ``POST /exchange`` (``rest``), the ``/ws`` socket
(``ws``), the L1-action signature and nonce window (``signing``) and the bodies in the shapes of the
recorded payloads (``wire``).

The books are the USD-M books on Hyperliquid's terms (``hyperliquid_book``): each market's tiers are a
Hyperliquid margin table (maintenance rate ``1 / (2 x maxLeverage)`` per tier, the deduction
continuous), there is no hedge mode (a hedge-mode account's legs are netted into one position), and
an isolated position above its market's maximum leverage takes the maximum with the margin that keeps
its liquidation price. Accounts are known by address: a simulated account's master address derives
from its simulator key, its agent (API) wallet is the key ``secret`` signs with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from monitor.model import MarginMode
from monitor.sim.book import AccountSeed, Book, SeedPosition, make_book
from monitor.sim.dialects.base import JSON, Dialect
from monitor.sim.dialects.hyperliquid import signing, wire, ws
from monitor.sim.dialects.hyperliquid.rest import HyperliquidRestApi
from monitor.sim.ledger import Account, AccountUpdate, LedgerEvent, OrderUpdate
from monitor.sim.specs import SymbolSpec, brackets_from_rows

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

# Hyperliquid's mainnet margin tables by coin (docs "Margin tiers"): (lowerBound, maxLeverage)
MARGIN_TABLES: dict[str, tuple[tuple[float, int], ...]] = {
    "BTC": ((0.0, 40), (150_000_000.0, 20)),
    "ETH": ((0.0, 25), (100_000_000.0, 15)),
    "SOL": ((0.0, 20), (70_000_000.0, 10)),
    "XRP": ((0.0, 20), (40_000_000.0, 10)),
}
OTHER_TABLE: tuple[tuple[float, int], ...] = ((0.0, 20), (20_000_000.0, 10))
TOP_CAP = 1e15


def hyperliquid_spec(spec: SymbolSpec) -> SymbolSpec:
    """``spec`` with its coin's margin table as brackets (mmr ``1 / (2 x maxLeverage)``)."""
    table = MARGIN_TABLES.get(spec.base, OTHER_TABLE)
    rows = [
        (floor, table[i + 1][0] if i + 1 < len(table) else TOP_CAP, 1.0 / (2 * lev), lev)
        for i, (floor, lev) in enumerate(table)
    ]
    return replace(spec, brackets=brackets_from_rows(rows))


def hyperliquid_book(book: Book) -> Book:
    """``book`` on Hyperliquid's terms (see the module's docstring)."""
    specs = {s: hyperliquid_spec(spec) for s, spec in book.specs.items()}
    accounts = tuple(_one_way(a, book.specs, specs) for a in book.accounts)
    return replace(book, specs=specs, accounts=accounts)


def _one_way(
    seed: AccountSeed, before: Mapping[str, SymbolSpec], after: Mapping[str, SymbolSpec]
) -> AccountSeed:
    net: dict[str, SeedPosition] = {}
    for p in seed.positions:
        p = replace(p, position_side=None)
        held = net.get(p.symbol)
        if held is not None:
            amount = held.amount + p.amount
            p = replace(
                held,
                amount=amount,
                entry_price=p.entry_price if abs(p.amount) > abs(held.amount) else held.entry_price,
            )
        net[p.symbol] = _within_max_leverage(p, before[p.symbol], after[p.symbol])
    positions = tuple(p for p in net.values() if p.amount != 0)
    return replace(seed, positions=positions, hedge_mode=False)


def _within_max_leverage(p: SeedPosition, before: SymbolSpec, after: SymbolSpec) -> SeedPosition:
    """An isolated seed above the market's maximum leverage: the maximum, and the wallet that keeps its
    liquidation price (``LP = (W + cum - s q E) / (q mmr - s q)`` under either table's first tier)."""
    top = after.brackets[0].initial_leverage
    if p.margin_mode is not MarginMode.ISOLATED or p.leverage <= top:
        return p
    q, s, e = abs(p.amount), (1.0 if p.amount > 0 else -1.0), p.entry_price
    wallet = p.isolated_wallet if p.isolated_wallet is not None else q * e / p.leverage
    t0, h0 = before.brackets[0].tier, after.brackets[0].tier
    lp = (wallet + t0.cum - s * q * e) / (q * t0.mmr - s * q)
    return replace(p, leverage=top, isolated_wallet=round(lp * (q * h0.mmr - s * q) - h0.cum + s * q * e, 6))


class Hyperliquid(Dialect):
    name = "hyperliquid"
    title = "Hyperliquid"
    ccxt_id = "hyperliquid"

    def make_book(self, name: str) -> Book:
        return hyperliquid_book(make_book(name))

    def market_id(self, spec: SymbolSpec) -> str:
        """Hyperliquid names a market by its coin (``BTC``)."""
        return spec.base

    def address(self, account: Account) -> str:
        """The account's master address: what a watch-only user configures."""
        return signing.account_address(account.api_key)

    def rest_api(self, sim: SimExchange) -> HyperliquidRestApi:
        return HyperliquidRestApi(sim)

    def install(self, app: web.Application, sim: SimExchange) -> None:
        async def socket(request: web.Request) -> web.WebSocketResponse:
            return await ws.serve(request, sim)

        app.router.add_post("/info", sim.rest.info)
        app.router.add_post("/exchange", sim.rest.exchange)
        app.router.add_get("/ws", socket)

    def mark_update(self, symbol: str, mark: float, now_ms: int) -> JSON:
        """An ``activeAssetCtx`` push: the coin's context, its mark in ``markPx`` (``allMids`` are
        mids, never marks)."""
        return {
            "channel": "activeAssetCtx",
            "data": {"coin": symbol.removesuffix("USDT"), "ctx": wire.asset_ctx(mark)},
        }

    def user_frame(self, event: LedgerEvent, specs: Mapping[str, SymbolSpec]) -> JSON:
        """Every Hyperliquid frame of an event needs the ledger (a full snapshot, the user's
        address): ``user_frames`` writes them."""
        raise NotImplementedError("Hyperliquid's user frames are written by user_frames, with the ledger")

    def user_frames(
        self, event: LedgerEvent, specs: Mapping[str, SymbolSpec], sim: SimExchange
    ) -> list[JSON]:
        """An account update is a ``clearinghouseState`` snapshot (a closed position is simply not
        in it); a fill is a ``userFills`` push, a ``user`` push (userEvents) and, for the
        exchange's liquidation of a cross account, a ``user`` push with ``liquidation``; every order
        change an ``orderUpdates`` push. Margin calls have no Hyperliquid counterpart."""
        ledger = sim.ledger
        acct = ledger.account(event.account)
        user = self.address(acct)
        now = event.time
        if isinstance(event, AccountUpdate):
            state = wire.clearinghouse_state(ledger.risk(acct), ledger.specs, now)
            return [
                {
                    "channel": "clearinghouseState",
                    "data": {"dex": "", "user": user, "clearinghouseState": state},
                }
            ]
        if not isinstance(event, OrderUpdate):
            return []
        o = event.order
        spec = specs[o.symbol]
        frames: list[JSON] = []
        if event.last_qty > 0:
            leg = acct.legs.get((o.symbol, "BOTH"))
            after = leg.amount if leg is not None else 0.0
            start = after - (event.last_qty if o.side == "BUY" else -event.last_qty)
            liquidation = o.order_type == "LIQUIDATION"
            fill = wire.fill(
                replace(o, realized=event.realized),
                spec,
                start_position=start,
                price=event.last_price,
                qty=event.last_qty,
                fee=event.commission,
                trade_id=event.trade_id,
                time_ms=now,
                liquidated_user=user if liquidation else None,
            )
            frames.append({"channel": "userFills", "data": {"user": user, "fills": [fill]}})
            frames.append({"channel": "user", "data": {"fills": [fill]}})
            if liquidation:
                risk = ledger.risk(acct)
                frames.append(
                    {
                        "channel": "user",
                        "data": {
                            "liquidation": {
                                "lid": event.trade_id,
                                "liquidator": signing.ZERO_ADDRESS,
                                "liquidated_user": user,
                                "liquidated_ntl_pos": wire.num(event.last_qty * event.last_price),
                                "liquidated_account_value": wire.num(risk.cross.equity),
                            }
                        },
                    }
                )
        status = "filled" if o.status == "FILLED" else "open"
        frames.append(
            {
                "channel": "orderUpdates",
                "data": [
                    {
                        "order": wire.order_status(o, spec)["order"]["order"],
                        "status": status,
                        "statusTimestamp": now,
                    }
                ],
            }
        )
        return frames

    def listen_key_expired(self, listen_key: str, now_ms: int) -> JSON:
        """Hyperliquid has no listen keys: user data is public by address."""
        return {"channel": "error", "data": "listen keys are not a Hyperliquid notion"}

    def ccxt_config(self, sim: SimExchange, account: str, **options: Any) -> dict[str, Any]:
        """The master address and the agent's key, every URL on ``sim``, swap markets only, and
        ccxt's unasked actions (builder-fee approval, referrer) switched off."""
        from monitor.venues.loopback import loopback_urls

        acct = sim.ledger.account(account)
        return {
            "walletAddress": self.address(acct),
            "privateKey": "0x" + acct.secret,
            "urls": {"api": loopback_urls("hyperliquid", sim.http_url, sim.ws_url)},
            "options": {
                "defaultType": "swap",
                "fetchMarkets": {"types": ["swap"]},
                "builderFee": False,
                "approvedBuilderFee": True,
                "refSet": True,
                **options,
            },
        }

    def describe(self, sim: SimExchange) -> list[str]:
        addresses: Sequence[str] = [
            f"  {name:10s} {self.address(a)}" for name, a in sim.ledger.accounts.items()
        ]
        return [
            f"  REST       {sim.http_url}/info, {sim.http_url}/exchange",
            f"  WebSocket  {sim.ws_url}/ws",
            "  accounts (watch-only by address):",
            *addresses,
        ]
