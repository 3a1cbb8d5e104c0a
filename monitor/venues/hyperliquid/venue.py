"""Hyperliquid perpetuals (the first dex, USDC collateral) through ccxt and ccxt.pro.

- **Watch-only by address.** Every read (``POST /info``) and every subscription takes the account's
  address and no key: an account configured with its address alone is monitored without any signing
  power. Orders and margin transfers need an agent (API) wallet's key, configured separately; without
  one they are refused before anything is sent. At start an address that is itself an agent wallet
  (``userRole``), whose state always reads empty, is refused, and so are unified and portfolio-margin
  accounts (``userAbstraction``) and accounts holding positions on a builder-deployed (HIP-3) dex
  (``perpDexs``, then each dex's ``clearinghouseState``), naming the dex.
- **One socket.** Marks (``activeAssetCtx`` of every held coin) and every account's
  ``clearinghouseState`` and ``userFills`` share the public client's one connection; the frames are
  read raw (``client.TappedHyperliquid``). Hyperliquid follows at most 10 users per IP on user
  subscriptions: the first 10 addresses are streamed, the others polled over REST every ``poll_s``
  seconds (said once at start, naming them), their fills unseen between polls.
- **Snapshots.** A ``clearinghouseState`` push or reply is the whole account (a closed position is
  just not listed): a REST reply replaces the account's positions, a push is passed on as the
  difference from the last one (a position no longer listed is closed, size 0). The equity is then
  recomputed from the marks (``accountValue = totalRawUsd + Σ szi x mark``) and the liquidation
  prices by the rules, the exchange's ``liquidationPx`` kept for the parity check.
- **Actions without ccxt's extras.** The order and the margin transfer are built here, signed by
  ccxt's ``sign_l1_action`` and posted with ``private_post_exchange``: ccxt's own ``create_order``
  would approve a builder fee and set a referrer first (actions nobody asked for). A reduce-only
  close is an IOC limit at the mark moved by ``slippage`` (Hyperliquid has no market order); an
  isolated margin transfer is a whole number of USDC (``ntli`` = USD x 10^6). A refused order comes
  back as HTTP 200 with an error in its status: ccxt raises on it and it is mapped like any refusal.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from monitor.events import (
    AccountSnapshotEvent,
    AccountUpdate,
    MarkPrices,
    PositionState,
    Rejected,
    TierTable,
)
from monitor.logs import get_logger
from monitor.model import MarginMode, PositionSide, Venue
from monitor.venues import errors
from monitor.venues.base import Backoff, OrderResult, Sink, VenueAccount
from monitor.venues.ccxt_venue import CcxtVenue
from monitor.venues.hyperliquid import parse
from monitor.venues.hyperliquid.client import BANNER, CCXT_CHANNELS, TappedHyperliquid
from monitor.venues.hyperliquid.errors import MAPPING, raises_venue_errors
from monitor.venues.reconnect import keep_subscribed
from monitor.venues.wire import excerpt

log = get_logger(__name__)

MAX_STREAMED_USERS = 10
"""Hyperliquid's limit of distinct users across user-specific subscriptions, per IP."""
DEFAULT_POLL_S = 5.0
DEFAULT_SLIPPAGE = 0.05


class HyperliquidVenue(CcxtVenue):
    """Marks, snapshots, fills and actions of Hyperliquid's perpetuals for any number of addresses."""

    VENUE = Venue.HYPERLIQUID
    ERRORS = MAPPING
    SETTLE = "USDC"
    PRIVATE_URL = "/ws"

    def __init__(
        self,
        venue: Venue,
        accounts: Sequence[VenueAccount],
        sink: Sink,
        *,
        poll_s: float = DEFAULT_POLL_S,
        slippage: float = DEFAULT_SLIPPAGE,
        **options: Any,
    ) -> None:
        super().__init__(venue, accounts, sink, **options)
        missing = [a.name for a in accounts if not a.address]
        if missing:
            raise ValueError(f"Hyperliquid accounts need an address: {', '.join(missing)}")
        self.poll_s = poll_s
        self.slippage = slippage
        self._address = {a.name: a.address.lower() for a in accounts}
        streamed: list[str] = []
        for a in accounts:
            if a.address.lower() not in streamed and len(streamed) < MAX_STREAMED_USERS:
                streamed.append(a.address.lower())
        self._streamed = set(streamed)
        self.polled = [a.name for a in accounts if a.address.lower() not in self._streamed]
        self._coins: dict[str, parse.Coin] = {}  # unified symbol -> its coin
        self._by_coin: dict[str, str] = {}  # coin -> unified symbol
        self._marks: dict[str, float] = {}
        self._held: dict[str, set[str]] = {}  # account -> symbols held
        self._held_changed = asyncio.Event()
        self._modes: dict[tuple[str, str], MarginMode] = {}  # (account, symbol) -> last margin mode

    # --- what the base asks -------------------------------------------------------------------------
    def new_client(self, config: dict[str, Any]) -> Any:
        return TappedHyperliquid(config)

    def client_options(self) -> dict[str, Any]:
        """Swaps of the first dex only (no spot, no HIP-3 listing calls), and ccxt's unasked actions
        off: no builder-fee approval, no referrer (``approvedBuilderFee``/``refSet`` say they are
        done), no builder fee on orders."""
        return {
            "defaultType": "swap",
            "fetchMarkets": {"types": ["swap"]},
            "builderFee": False,
            "approvedBuilderFee": True,
            "refSet": True,
            # what ccxt's set_markets_from_exchange copies, and fills only when it lists HIP-3 markets
            "hip3TokensByName": {},
            "cachedCurrenciesById": {},
        }

    def credentials(self, acct: VenueAccount) -> dict[str, Any]:
        """The address; the agent wallet's key only when one is configured (watch-only otherwise)."""
        fields: dict[str, Any] = {"walletAddress": acct.address}
        if acct.secret:
            fields["privateKey"] = acct.secret
        return fields

    def frame_handler(self, account: str | None) -> Callable[[str, Any], None] | None:
        """Only the public client opens a socket: every stream is read from its frames."""
        return self._on_frame if account is None else None

    def watches(self, market: Mapping[str, Any]) -> bool:
        info = market.get("info") or {}
        return bool(
            market.get("swap")
            and market.get("settle") == self.SETTLE
            and ":" not in str(info.get("name", ":"))
        )

    def index_markets(self, markets: Mapping[str, Any]) -> None:
        super().index_markets(markets)
        self._by_coin = {str(markets[s]["info"]["name"]): s for s in self.symbols.values()}
        # Hyperliquid names a market by its coin everywhere but in an order's asset index
        self.symbols = dict(self._by_coin)
        # a margin transfer is a whole number of USDC (ntli = USD x 10^6, sent exactly)
        self.rules = {symbol: replace(rules, margin_step=1.0) for symbol, rules in self.rules.items()}

    async def prepare_account(self, account: str) -> None:
        """Refuse an agent wallet or a unified / portfolio-margin account, then tiers and snapshot."""
        address = self._address[account]
        with MAPPING.venue_errors(self.rest_gate):
            role = await self.public.public_post_info({"type": "userRole", "user": address})
            abstraction = await self.public.public_post_info({"type": "userAbstraction", "user": address})
        name, master = parse.role_of(role)
        parse.refuse_unsupported(account, address, name, master, abstraction)
        await self._refuse_hip3(account, address)
        if account in self.polled and account == self.polled[0]:
            log.warning(
                "more Hyperliquid addresses than the 10 one IP may stream: polling the rest over REST",
                accounts=",".join(self.polled),
                every_s=self.poll_s,
            )
        await super().prepare_account(account)

    async def _refuse_hip3(self, account: str, address: str) -> None:
        """Positions on a builder-deployed (HIP-3) dex refuse the account, naming the dex."""
        with MAPPING.venue_errors(self.rest_gate):
            dexes = parse.dex_names(await self.public.public_post_info({"type": "perpDexs"}))
            for dex in dexes:
                request = {"type": "clearinghouseState", "user": address, "dex": dex}
                parse.refuse_dex_positions(account, dex, await self.public.public_post_info(request))

    async def ping(self) -> None:
        await self.public.public_post_info({"type": "allMids"})

    # --- frames -------------------------------------------------------------------------------------
    def _on_frame(self, url: str, frame: Any) -> None:
        if frame == BANNER:
            return  # the connect banner, a plain-text frame
        received = self.clock()
        if not isinstance(frame, dict):
            self.sink(Rejected("ws", "not a JSON object", excerpt(frame), received))
            return
        channel = frame.get("channel")
        if channel in CCXT_CHANNELS:
            return
        try:
            if channel == "activeAssetCtx":
                self._on_mark(frame, received)
            elif channel == "clearinghouseState":
                user, state = parse.parse_ws_clearinghouse_state(frame, self._by_coin)
                for account in self._accounts_of(user):
                    self._pushed(account, state, received)
            elif channel == "userFills":
                self._on_fills(frame, received)
            elif channel == "error":
                refusal = str(frame.get("data"))[:80]
                self.sink(Rejected("ws", "the venue refused a request", refusal, received))
            else:
                self.sink(Rejected("ws", "channel: not one the monitor reads", excerpt(channel), received))
        except parse.FrameError as exc:
            self.sink(exc.to_rejected(received))
        except parse.UnsupportedAccount as exc:
            self.sink(Rejected(str(channel), str(exc)[:200], "", received))

    def _on_mark(self, frame: Any, received: int) -> None:
        found = parse.parse_active_asset_ctx(frame, self._by_coin)
        if found is None:
            return
        symbol, mark = found
        self._marks[symbol] = mark
        self.marks_received(received)
        self.sink(MarkPrices(self.venue.value, {symbol: mark}, received, received))

    def _on_fills(self, frame: Any, received: int) -> None:
        """A ``userFills`` push: each fill as an order update of every account watching its user. The
        snapshot sent on (re)subscribing is history, already in the REST snapshot: not replayed."""
        user, fills = parse.parse_fills_push(frame)
        if fills is None:
            return
        for account in self._accounts_of(user):
            for update in parse.parse_user_fills(
                fills,
                user=user,
                venue=self.venue.value,
                account=account,
                symbols_by_coin=self._by_coin,
                received_ms=received,
            ):
                self.sink(update)

    def _accounts_of(self, user: str) -> list[str]:
        return [name for name, address in self._address.items() if address == user]

    def _note_held(self, account: str, state: parse.Snapshot) -> set[str]:
        """Remember what the account holds (the marks follow it); returns what it held before."""
        was = self._held.get(account, set())
        before = self._all_held()
        self._held[account] = {p.symbol for p in state.positions}
        if self._all_held() != before:
            self._held_changed.set()
        return was

    def _pushed(self, account: str, state: parse.Snapshot, received: int) -> None:
        """A pushed snapshot as the difference it makes: every position it lists, and each one the
        last snapshot listed and this one does not, closed (Hyperliquid never sends a size of 0)."""
        was = self._note_held(account, state)
        gone = tuple(
            PositionState(
                symbol, PositionSide.BOTH, self._modes.get((account, symbol), MarginMode.CROSS), 0.0, 0.0
            )
            for symbol in sorted(was - self._held[account])
        )
        self._remember_modes(account, state)
        self.sink(
            AccountUpdate(
                self.venue.value,
                account,
                "clearinghouseState",
                state.cross_wallet,
                (*state.positions, *gone),
                state.time_ms or received,
                received,
            )
        )

    def _remember_modes(self, account: str, state: parse.Snapshot) -> None:
        for p in state.positions:
            self._modes[account, p.symbol] = p.margin_mode

    def _snapshot(self, account: str, state: parse.Snapshot, received: int, requested: int) -> None:
        self._note_held(account, state)
        self._remember_modes(account, state)
        self.sink(
            AccountSnapshotEvent(
                self.venue.value,
                account,
                state.cross_wallet,
                state.positions,
                received,
                hedge_mode=False,
                total_maint_margin=state.cross_maint,
                total_margin_balance=state.account_value,
                requested_ms=requested,
            )
        )

    def _all_held(self) -> set[str]:
        return set().union(*self._held.values()) if self._held else set()

    # --- streams ------------------------------------------------------------------------------------
    def _watch(self, subscription: dict[str, Any]) -> Any:
        """Subscribe on the shared socket; the future ends only when the socket fails (the tap reads
        the pushes, ccxt resolves nothing)."""
        url = self.public.urls["api"]["ws"]["public"]
        key = "monitor:" + json.dumps(subscription, sort_keys=True)
        return self.public.watch(url, key, {"method": "subscribe", "subscription": subscription}, key)

    async def marks_loop(self) -> None:
        """Keeps every held coin's ``activeAssetCtx`` subscribed; subscribes the new ones when the set
        grows (a subscription already made is not sent again)."""
        stream = self.marks_stream
        while True:
            symbols = sorted(self._all_held())
            self._held_changed.clear()
            if not symbols:
                await self._held_changed.wait()
                continue
            coins = [self._coin_name(s) for s in symbols]
            watches = [
                asyncio.ensure_future(self._watch({"type": "activeAssetCtx", "coin": c})) for c in coins
            ]
            changed = asyncio.ensure_future(self._held_changed.wait())
            await asyncio.wait({*watches, changed}, return_when=asyncio.FIRST_COMPLETED)
            changed.cancel()
            failed = [w for w in watches if w.done()]
            if not failed:
                continue  # the set changed: the live subscriptions stay, the new ones are added
            # one socket: when it fails every subscription on it fails; every outcome is retrieved
            for w in watches:
                w.add_done_callback(_retrieve)
            errors_seen = [w.exception() for w in failed if not w.cancelled() and w.exception()]
            if errors_seen:
                await self.streams.down(stream, errors_seen[0], self.marks_backoff, needs_rest=False)
                if self.rest_gate.closed_until() is None:
                    await self.safely(self.resync_marks(), stream)

    async def user_loop(self, account: str) -> None:
        if account in self.polled:
            await self._poll_loop(account)
            return
        address = self._address[account]

        async def subscribe() -> None:
            watches = [
                asyncio.ensure_future(self._watch({"type": "clearinghouseState", "user": address})),
                asyncio.ensure_future(self._watch({"type": "userFills", "user": address})),
            ]
            try:
                await asyncio.wait(watches, return_when=asyncio.FIRST_COMPLETED)
            finally:
                outcomes = await asyncio.shield(asyncio.gather(*watches, return_exceptions=True))
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    raise outcome

        await keep_subscribed(
            self.streams,
            self.user_stream(account),
            subscribe,
            opened=lambda watch: self.wait_private_connected(self.public, watch),
            resync=lambda: self.resync(account),
        )

    async def _poll_loop(self, account: str) -> None:
        """An address beyond the streaming limit: a REST snapshot every ``poll_s`` seconds, each one
        the stream's proof of life."""
        stream = self.user_stream(account)
        backoff = Backoff()
        while True:
            try:
                await self.resync(account)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self.streams.down(stream, exc, backoff)
                continue
            self.streams.live(stream, self.clock())
            backoff.reset()
            await asyncio.sleep(self.poll_s)

    def _coin_name(self, symbol: str) -> str:
        coin = self._coins.get(symbol)
        if coin is not None:
            return coin.name
        return next(c for c, s in self._by_coin.items() if s == symbol)

    # --- REST ---------------------------------------------------------------------------------------
    @raises_venue_errors
    async def resync_marks(self) -> None:
        """Marks over REST (``metaAndAssetCtxs``): at start and after the socket dropped."""
        body = await self.public.public_post_info({"type": "metaAndAssetCtxs"})
        received = self.clock()
        prices = parse.parse_asset_ctxs(body, self._by_coin)
        if prices:
            self._marks.update(prices)
            self.sink(MarkPrices(self.venue.value, prices, received, received))

    async def _state(self, account: str) -> Any:
        return await self.public.public_post_info(
            {"type": "clearinghouseState", "user": self._address[account]}
        )

    @raises_venue_errors
    async def resync(self, account: str) -> None:
        requested = self.clock()
        body = await self.public.public_post_info(
            {"type": "clearinghouseState", "user": self._address[account]}
        )
        state = parse.parse_clearinghouse_state(body, self._by_coin)
        self._snapshot(account, state, self.clock(), requested)

    @raises_venue_errors
    async def refresh_tiers(self, account: str | None = None) -> None:
        """Margin tables are public and the same for every account (``meta``); handed to each."""
        body = await self.public.public_post_info({"type": "meta"})
        received = self.clock()
        coins = parse.parse_meta(body)
        self._coins = {self._by_coin[c.name]: c for c in coins if c.name in self._by_coin}
        for name in [account] if account else list(self.accounts):
            for symbol, coin in self._coins.items():
                self.sink(TierTable(self.venue.value, name, symbol, coin.tiers, received))

    def expect_positions(self, account: str, legs: Mapping[tuple[str, PositionSide], bool]) -> None:
        """A closed position is explained by its fills on ``userFills`` (a liquidation's carry
        ``liquidation``)."""

    @raises_venue_errors
    async def fetch_position(
        self, account: str, symbol: str, position_side: PositionSide
    ) -> PositionState | None:
        body = await self.public.public_post_info(
            {"type": "clearinghouseState", "user": self._address[account]}
        )
        for p in parse.parse_clearinghouse_state(body, self._by_coin).positions:
            if p.symbol == symbol:
                return p
        return None

    def _signer(self, account: str) -> Any:
        """The account's client, refusing when no agent wallet key is configured (watch-only)."""
        acct = self.accounts[account]
        if not acct.secret:
            raise errors.AuthenticationRefused(
                f"account {account} is watch-only (an address without an agent wallet key): "
                "configure an agent (API) wallet's key to let the monitor act"
            )
        return self.clients[account]

    async def _post_action(self, client: Any, action: dict[str, Any]) -> Any:
        nonce = client.incrementing_nonce()
        signature = client.sign_l1_action(action, nonce)
        return await client.private_post_exchange({"action": action, "nonce": nonce, "signature": signature})

    @raises_venue_errors
    async def create_reduce_only_market(
        self,
        account: str,
        symbol: str,
        side: str,
        amount: float,
        position_side: PositionSide,
        client_order_id: str,
    ) -> OrderResult:
        """An IOC limit at the mark moved by ``slippage`` against us, reduce-only, with a client id
        derived from ``client_order_id`` (``parse.cloid_of``)."""
        client = self._signer(account)
        coin = self._coins[symbol]
        mark = self._marks.get(symbol)
        if mark is None:
            await self.resync_marks()
            mark = self._marks[symbol]
        buy = side == "buy"
        order = {
            "a": coin.index,
            "b": buy,
            "p": parse.ioc_price(mark, buy, self.slippage, coin.sz_decimals),
            "s": parse.size_text(amount, coin.sz_decimals),
            "r": True,
            "t": {"limit": {"tif": "Ioc"}},
            "c": parse.cloid_of(client_order_id),
        }
        body = await self._post_action(client, {"type": "order", "orders": [order], "grouping": "na"})
        return parse.order_result(body, client_order_id)

    async def fetch_order_by_client_id(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        request = {
            "type": "orderStatus",
            "user": self._address[account],
            "oid": parse.cloid_of(client_order_id),
        }
        try:
            with MAPPING.venue_errors(self.rest_gate):
                body = await self.public.public_post_info(request)
        except errors.OrderNotFound:
            return None
        return parse.order_status_result(body, client_order_id)

    @raises_venue_errors
    async def add_isolated_margin(
        self, account: str, symbol: str, amount: float, position_side: PositionSide
    ) -> None:
        """``updateIsolatedMargin`` in whole USDC: ``ntli`` = dollars x 10^6 (ccxt's ``add_margin``
        would round the dollars with the coin's size decimals)."""
        client = self._signer(account)
        dollars = math.floor(amount)
        if dollars < 1:
            raise errors.OrderRejected(
                f"a Hyperliquid margin transfer is a whole number of USDC, not {amount}",
                errors.RejectReason.INVALID,
            )
        action = {
            "type": "updateIsolatedMargin",
            "asset": self._coins[symbol].index,
            "isBuy": True,
            "ntli": dollars * 1_000_000,
        }
        await self._post_action(client, action)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a shared subscription future's outcome as seen (asyncio warns about one never read)."""
    if not future.cancelled():
        future.exception()


__all__ = ["HyperliquidVenue"]
