"""What the Binance adapter relies on in ccxt, pinned against the real ccxt.pro client and the simulator
over loopback. Each check fails with a message naming the behaviour and the code that depends on it,
so a ccxt upgrade that changes one is a red ``make test`` (or ``make upgrade-check``), not a silent
daemon in production.

- ``venues/binance/client.py`` overrides ``Exchange.client(url)`` to wrap each connection's
  ``Client.handle_text_or_binary_message`` (per-frame isolation), and ``Exchange.handle_message`` to
  hand every decoded frame to its raw tap; ``forget_listen_key`` clears ccxt's
  ``options[...]['lastAuthenticatedTime']``; ``venue.py`` finds the private socket in ``Exchange.clients``.
- ``venues/binance/urls.py`` rebases every URL of ``urls['api']`` onto the simulator (or a testnet) and
  patches ``get_exceptions_by_url``.
- The adapter reads Binance's raw fields, never ccxt's unified numbers: REST bodies through ccxt's
  implicit API (the ``info`` of what it reads is the body itself) and stream frames through the tap.
  Those must arrive as Binance sent them.
- The order gateway reads ``status``, ``filled`` and ``average`` of ccxt's unified order, finds an order
  by ``origClientOrderId`` and tells a missing one by ``OrderNotFound``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import ccxt.pro
import pytest
from ccxt.async_support.base.ws.client import Client

from monitor.events import AccountSnapshotEvent, Event, MarkPrices, TierTable
from monitor.model import MarginMode, Venue
from monitor.sim.exchange import SimExchange
from monitor.venues.base import Endpoints, VenueAccount
from monitor.venues.binance.client import TappedBinanceUsdm
from monitor.venues.binance.urls import point_at
from monitor.venues.binance.venue import BinanceVenue

SOL = "SOL/USDT:USDT"
ALL_MARKS = "!markPrice@arr@1s"

# every raw endpoint the USD-M adapter calls through ccxt's implicit API (venue.py), and the
# urls['api'] key each one is sent to
IMPLICIT_CALLS = {
    "fapiPublicGetPremiumIndex": "fapiPublic",
    "fapiPrivateV3GetPositionRisk": "fapiPrivateV3",
    "fapiPrivateV3GetAccount": "fapiPrivateV3",
    "fapiPrivateGetPositionSideDual": "fapiPrivate",
    "fapiPrivateGetSymbolConfig": "fapiPrivate",
    "fapiPrivateGetLeverageBracket": "fapiPrivate",
    "fapiPrivatePostPositionMargin": "fapiPrivate",
}
WS_KEY = "linear"  # urls['api']['ws'][...]: where ccxt.pro binanceusdm opens its streams


async def within(awaitable: Any, seconds: float = 5.0) -> Any:
    async with asyncio.timeout(seconds):
        return await awaitable


@dataclass
class Tap:
    """What the tapped client handed to the monitor."""

    frames: list[tuple[str, Any]] = field(default_factory=list)
    bad: list[tuple[str, Any, BaseException]] = field(default_factory=list)
    news: asyncio.Event = field(default_factory=asyncio.Event)

    def on_frame(self, url: str, frame: Any) -> None:
        self.frames.append((url, frame))
        self.news.set()

    def on_bad_frame(self, url: str, data: Any, exc: BaseException) -> None:
        self.bad.append((url, data, exc))
        self.news.set()

    async def until(self, found: Callable[[], Any], what: str, seconds: float = 5.0) -> Any:
        """Wait for new frames until ``found()`` is truthy; fail naming ``what`` when it never is."""
        try:
            async with asyncio.timeout(seconds):
                while not (result := found()):
                    self.news.clear()
                    await self.news.wait()
        except TimeoutError:
            pytest.fail(what)
        return result

    def user_events(self, name: str) -> list[dict[str, Any]]:
        return [f for _, f in self.frames if isinstance(f, dict) and f.get("e") == name]


TappedFactory = Callable[[SimExchange, str], tuple[Any, Tap]]


@pytest.fixture
async def tapped() -> AsyncIterator[TappedFactory]:
    clients: list[Any] = []

    def factory(sim: SimExchange, account: str) -> tuple[Any, Tap]:
        client = TappedBinanceUsdm({**sim.ccxt_config(account), "enableRateLimit": False})
        client.timeout_on_exit = 0
        point_at(client, sim.http_url, sim.ws_url)
        tap = Tap()
        client.on_frame = tap.on_frame
        client.on_bad_frame = tap.on_bad_frame
        clients.append(client)
        return client, tap

    yield factory
    for client in clients:
        await client.close()


def private_sockets(client: Any) -> list[Any]:
    return [ws for url, ws in client.clients.items() if "/private" in url or "listenKey" in url]


# --- the hooks exist ------------------------------------------------------------------------------------


def test_the_hooks_the_tapped_client_overrides_exist() -> None:
    exchange = ccxt.pro.binanceusdm
    assert callable(getattr(exchange, "client", None)), (
        "ccxt.pro Exchange.client(url) is gone: the per-frame isolation in venues/binance/client.py wraps "
        "every connection it returns"
    )
    assert list(inspect.signature(exchange.client).parameters)[1:] == ["url"], (
        "ccxt.pro Exchange.client no longer takes (url): venues/binance/client.py overrides it"
    )
    assert callable(getattr(exchange, "handle_message", None)), (
        "ccxt.pro Exchange.handle_message(client, message) is gone: the raw tap overrides it"
    )
    assert callable(getattr(Client, "handle_text_or_binary_message", None)), (
        "ccxt.pro Client.handle_text_or_binary_message is gone: the per-frame isolation wraps it"
    )
    for name in ("set_markets_from_exchange", "watch_mark_prices", "watch_balance", "get_exceptions_by_url"):
        assert callable(getattr(exchange, name, None)), f"ccxt.pro binanceusdm.{name} is gone (venue.py)"
    assert isinstance(exchange().timeout_on_exit, int), "ccxt.pro Exchange.timeout_on_exit is gone (venue.py)"
    defaults = exchange().options
    assert "fetchPositionsSnapshot" in defaults.get("watchPositions", {}), (
        "ccxt.pro no longer reads options['watchPositions']['fetchPositionsSnapshot']: venue.py turns it off "
        "so that a user frame does not load every symbol's brackets into each account's client"
    )


# --- the hooks are called -------------------------------------------------------------------------------


async def test_every_decoded_frame_reaches_the_raw_tap(sim: SimExchange, tapped: TappedFactory) -> None:
    client, tap = tapped(sim, "main")
    watch = asyncio.ensure_future(client.watch_mark_prices())
    try:
        await within(sim.wait_market_subscribers(ALL_MARKS))
        sim.set_mark("SOLUSDT", 151.25)
        await sim.publish_marks()

        def mark_frame() -> dict[str, Any] | None:
            for _, frame in tap.frames:
                if isinstance(frame, list):
                    return next((e for e in frame if e.get("s") == "SOLUSDT"), None)
            return None

        element = await tap.until(
            mark_frame,
            "no mark frame reached on_frame: ccxt.pro no longer routes decoded frames through "
            "Exchange.handle_message(client, message), so the monitor gets no marks and no user events",
        )
        assert element["e"] == "markPriceUpdate" and float(element["p"]) == 151.25, (
            f"the tapped frame is not Binance's raw element: {element}"
        )
        assert isinstance(element["p"], str), "ccxt converted the raw frame's decimal strings before the tap"
    finally:
        watch.cancel()


async def test_an_undecodable_frame_is_isolated_and_the_stream_goes_on(
    sim: SimExchange, tapped: TappedFactory
) -> None:
    client, tap = tapped(sim, "main")
    watch = asyncio.ensure_future(client.watch_mark_prices())
    try:
        await within(sim.wait_market_subscribers(ALL_MARKS))
        await sim.send_raw_market('{"e": "markPriceUpdate", "s": "BTCUS')
        url, data, exc = await tap.until(
            lambda: tap.bad[0] if tap.bad else None,
            "a truncated frame never reached on_bad_frame: ccxt.pro no longer opens connections through "
            "Exchange.client(url) or decodes frames in Client.handle_text_or_binary_message, which "
            "venues/binance/client.py wraps; one hostile frame would stop the stream",
        )
        assert data.startswith('{"e": "markPriceUpdate"') and isinstance(exc, ValueError)
        assert url.startswith(sim.ws_url)
        sim.set_mark("BTCUSDT", 61_000)
        await sim.publish_marks()
        await tap.until(
            lambda: any(isinstance(f, list) for _, f in tap.frames),
            "the stream stopped after an undecodable frame: the isolation hook no longer takes effect",
        )
        assert not watch.done(), "the pending watch_mark_prices ended after an undecodable frame"
    finally:
        watch.cancel()


async def test_a_dropped_connection_still_fails_the_pending_mark_watch(
    sim: SimExchange, tapped: TappedFactory
) -> None:
    """The tap swallows mark frames, so ``watch_mark_prices`` never resolves; the marks loop relies on it
    raising when the connection fails, to reconnect and resync."""
    client, tap = tapped(sim, "main")
    watch = asyncio.ensure_future(client.watch_mark_prices())
    await within(sim.wait_market_subscribers(ALL_MARKS))
    await sim.publish_marks()
    await tap.until(lambda: tap.frames, "no mark frame reached the tap")
    assert await sim.drop_connections() == 1
    try:
        async with asyncio.timeout(5):
            with pytest.raises(ccxt.NetworkError):
                await watch
    except TimeoutError:
        pytest.fail(
            "watch_mark_prices did not raise when its connection dropped: the marks loop in "
            "venues/binance/venue.py would never reconnect"
        )


async def test_user_frames_reach_the_tap_raw_with_the_fields_ccxt_drops(
    sim: SimExchange, tapped: TappedFactory
) -> None:
    client, tap = tapped(sim, "main")
    watch = asyncio.ensure_future(client.watch_balance())
    try:
        await within(sim.wait_user_connections("main"))
        sockets = private_sockets(client)
        assert sockets, (
            "Exchange.clients has no socket whose URL holds the listenKey: venue.py finds the user "
            "stream's socket there to declare it live and to close it when the key must be renewed"
        )
        try:
            await within(asyncio.gather(*(ws.connected for ws in sockets)))
        except TimeoutError:
            pytest.fail("the user stream's Client.connected future never resolved: venue.py waits on it")
        await client.create_order(SOL, "market", "sell", 10, None, {"reduceOnly": True})
        (update,) = await tap.until(
            lambda: tap.user_events("ACCOUNT_UPDATE"),
            "no ACCOUNT_UPDATE reached the raw tap: the user stream's frames no longer pass through "
            "Exchange.handle_message, so fills and liquidations would go unseen",
        )
        (sol,) = [p for p in update["a"]["P"] if p["s"] == "SOLUSDT"]
        assert sol["mt"] == "isolated" and float(sol["iw"]) > 0, (
            f"the raw ACCOUNT_UPDATE lost isolatedWallet ('iw'), which ccxt's parsed positions drop: {sol}"
        )
        await sim.expire_listen_key("main")
        await tap.until(
            lambda: tap.user_events("listenKeyExpired"),
            "listenKeyExpired, which ccxt has no handler for, no longer reaches the raw tap: the monitor "
            "would not renew the key and the user stream would go silent",
        )
    finally:
        watch.cancel()


async def test_forget_listen_key_makes_the_next_subscription_create_a_key(
    sim: SimExchange, tapped: TappedFactory
) -> None:
    client, _ = tapped(sim, "main")
    watch = asyncio.ensure_future(client.watch_balance())
    await within(sim.wait_user_connections("main"))
    remembered = [v for v in client.options.values() if isinstance(v, dict) and "lastAuthenticatedTime" in v]
    assert remembered, (
        "ccxt.pro no longer keeps options[...]['lastAuthenticatedTime'] after creating a listenKey: "
        "forget_listen_key cannot make it create a new one after listenKeyExpired"
    )
    old = sim.listen_key("main")
    await sim.expire_listen_key("main")
    watch.cancel()
    client.forget_listen_key()
    for url, ws in list(client.clients.items()):
        if ws in private_sockets(client):
            await ws.close()
            client.clients.pop(url, None)
    again = asyncio.ensure_future(client.watch_balance())
    try:
        await within(sim.wait_user_connections("main"))
    except TimeoutError:
        pytest.fail("after forget_listen_key ccxt.pro did not subscribe again with a new listenKey")
    finally:
        again.cancel()
    assert sim.listen_key("main") not in (None, old), "ccxt.pro reused the expired listenKey"


# --- URLs ------------------------------------------------------------------------------------------------


def leaves(tree: Any, path: str = "urls['api']") -> list[tuple[str, Any]]:
    if isinstance(tree, dict):
        return [leaf for key, value in tree.items() for leaf in leaves(value, f"{path}[{key!r}]")]
    return [(path, tree)]


def test_the_url_keys_the_adapter_is_sent_to_exist() -> None:
    api = ccxt.pro.binanceusdm().urls["api"]
    for method, key in IMPLICIT_CALLS.items():
        assert callable(getattr(ccxt.pro.binanceusdm, method, None)), (
            f"ccxt's implicit API has no {method}: venues/binance/venue.py reads Binance's raw fields "
            "through it"
        )
        assert isinstance(api.get(key), str), f"ccxt's binanceusdm urls['api'] has no {key!r} ({method})"
    assert isinstance(api.get("ws", {}).get(WS_KEY), str), (
        f"ccxt.pro's binanceusdm urls['api']['ws'] has no {WS_KEY!r}: its streams would not be rebased"
    )


def test_point_at_leaves_no_url_off_the_given_hosts() -> None:
    client = ccxt.pro.binanceusdm()
    point_at(client, "http://127.0.0.1:1", "ws://127.0.0.1:1")
    elsewhere = [
        f"{path} = {value!r}"
        for path, value in leaves(client.urls["api"])
        if not (isinstance(value, str) and value.startswith(("http://127.0.0.1:1/", "ws://127.0.0.1:1/")))
    ]
    assert not elsewhere, (
        "venues/binance/urls.point_at left these URLs on their public hosts (ccxt changed the shape of "
        f"urls['api']): {elsewhere}"
    )


# --- the raw fields, end to end through the adapter -------------------------------------------------------


async def test_raw_rest_fields_pass_through_to_the_adapter(sim: SimExchange) -> None:
    """The adapter's start-up: markets, marks, tiers and the account snapshot, all read raw through
    ccxt's implicit API and parsed by the monitor's own validating parsers."""
    events: list[Event] = []
    keys = sim.accounts["main"]
    venue = BinanceVenue(
        Venue.BINANCE_USDM,
        [VenueAccount("main", keys.api_key, keys.secret)],
        events.append,
        endpoints=Endpoints(sim.http_url, sim.ws_url),
        rate_limit=False,
        close_wait_ms=0,
    )
    try:
        await venue.start()
    finally:
        await venue.stop()
    assert venue.symbols == {"BTCUSDT": "BTC/USDT:USDT", "ETHUSDT": "ETH/USDT:USDT", "SOLUSDT": SOL}, (
        "ccxt's markets lost `id`, `contract` or `inverse`, which venue.py indexes them by"
    )
    marks = [e for e in events if isinstance(e, MarkPrices)]
    assert marks and marks[0].prices[SOL] == pytest.approx(sim.ledger.marks["SOLUSDT"]), (
        "fapiPublicGetPremiumIndex's raw body did not give the marks"
    )
    assert {e.symbol for e in events if isinstance(e, TierTable)} >= {SOL}, (
        "fapiPrivateGetLeverageBracket's raw body did not give the tier tables"
    )
    (snapshot,) = [e for e in events if isinstance(e, AccountSnapshotEvent)]
    (sol,) = [p for p in snapshot.positions if p.symbol == SOL]
    leg = sim.ledger.account("main").legs["SOLUSDT", "BOTH"]
    assert sol.margin_mode is MarginMode.ISOLATED and sol.isolated_wallet == pytest.approx(
        leg.isolated_wallet
    ), "the raw isolatedWallet of fapiPrivateV3GetPositionRisk did not reach the snapshot"
    assert snapshot.total_maint_margin is not None and snapshot.total_maint_margin > 0, (
        "fapiPrivateV3GetAccount's raw totalMaintMargin did not reach the snapshot"
    )


# --- what the order gateway reads of ccxt's unified structures --------------------------------------------


async def test_an_order_reply_carries_the_unified_fields_the_gateway_reads(
    sim: SimExchange, tapped: TappedFactory
) -> None:
    client, _ = tapped(sim, "main")
    params = {"reduceOnly": True, "newClientOrderId": "contract-1", "newOrderRespType": "RESULT"}
    order = await client.create_order(SOL, "market", "sell", 10, None, params)
    read = {key: order.get(key) for key in ("status", "filled", "average")}
    assert read["status"] == "closed" and read["filled"] == 10 and read["average"], (
        f"ccxt's unified order lost what venues/binance/venue.py reads of an order: {read}"
    )
    fetched = await client.fetch_order(None, SOL, {"origClientOrderId": "contract-1"})
    assert (fetched["status"], fetched["filled"]) == ("closed", 10), (
        "fetch_order by origClientOrderId no longer finds the order: the gateway's reconciliation uses it"
    )
    with pytest.raises(ccxt.BaseError) as unknown:
        await client.fetch_order(None, SOL, {"origClientOrderId": "never-sent"})
    assert type(unknown.value).__name__ == "OrderNotFound", (
        f"an unknown client order id raised {type(unknown.value).__name__}, not OrderNotFound: "
        "venue.fetch_order_by_client_id tells 'never arrived' from a failure by that name"
    )


async def test_error_codes_keep_their_classes_after_rebasing(sim: SimExchange, tapped: TappedFactory) -> None:
    client, _ = tapped(sim, "trader")
    with pytest.raises(ccxt.BaseError) as refused:
        await client.create_order("BTC/USDT:USDT", "market", "buy", 8.0)  # 480k at 20x on a 20k wallet
    assert isinstance(refused.value, ccxt.InsufficientFunds), (
        f"-2019 raised {type(refused.value).__name__}: ccxt no longer looks its error codes up through "
        "get_exceptions_by_url(url, 'exact'|'broad') in exceptions[market type], which "
        "venues/binance/urls.point_at patches for a rebased host"
    )
