"""What the Hyperliquid adapter relies on in ccxt, pinned against the real ccxt / ccxt.pro
``hyperliquid`` client and the simulator's Hyperliquid dialect over loopback. Each check names the
behaviour and the code that depends on it, so a ccxt upgrade that changes one fails here, not silently
in production.

- ``venues/hyperliquid/venue.py`` reads through ``public_post_info`` (raw bodies) with the address
  alone, and acts through ``sign_l1_action`` + ``private_post_exchange`` (never ``create_order``,
  whose builder-fee approval and referrer it must not send); ``incrementing_nonce`` gives its nonces.
- ``client.py`` taps ``handle_message``; the venue subscribes with ``Exchange.watch`` on the public
  socket and keeps ``error`` frames from ccxt, which would reject every pending watch of the socket.
- ``venue.py`` sets ``hip3TokensByName``/``cachedCurrenciesById`` because ``set_markets_from_exchange``
  reads them; ``index_markets`` reads a swap's ``info.name`` (the coin) and ``settle`` USDC.
- ``venues/loopback.py`` rebases ``urls['api']``: REST under ``public``/``private``, the socket under
  ``ws.public``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import ccxt.pro
import pytest
from ccxt.base import errors as ccxt_errors

from monitor.sim.dialects.hyperliquid import signing
from monitor.sim.exchange import SimExchange
from monitor.venues.hyperliquid.client import TappedHyperliquid

IMPLICIT_CALLS = {"public_post_info": "public", "private_post_exchange": "private"}
SAFE_OPTIONS = {
    "fetchMarkets": {"types": ["swap"]},
    "builderFee": False,
    "approvedBuilderFee": True,
    "refSet": True,
    "hip3TokensByName": {},
    "cachedCurrenciesById": {},
}


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect="hyperliquid") as exchange:
        yield exchange


@pytest.fixture
async def clients() -> AsyncIterator[list[Any]]:
    made: list[Any] = []
    yield made
    for client in made:
        await client.close()


def client_for(sim: SimExchange, clients: list[Any], cls: Any = ccxt.pro.hyperliquid, **config: Any) -> Any:
    base = sim.ccxt_config("main")
    ex = cls({**base, "enableRateLimit": False, **config})
    ex.timeout_on_exit = 0
    clients.append(ex)
    return ex


def test_the_implicit_endpoints_and_url_keys_exist() -> None:
    ex = ccxt.pro.hyperliquid()
    assert all(callable(getattr(ex, name, None)) for name in IMPLICIT_CALLS)
    urls = ex.urls["api"]
    for key in set(IMPLICIT_CALLS.values()):
        assert isinstance(urls.get(key), str), f"urls['api'][{key!r}] is not a URL any more"
    assert isinstance(urls["ws"]["public"], str) and urls["ws"]["public"].endswith("/ws")


async def test_reads_take_the_address_alone_and_sign_nothing(sim: SimExchange, clients: list[Any]) -> None:
    address = sim.accounts["main"].address
    ex = client_for(sim, clients, walletAddress=address, privateKey=None, options=SAFE_OPTIONS)
    await ex.load_markets()
    btc = ex.markets["BTC/USDC:USDC"]
    assert btc["swap"] and btc["settle"] == "USDC" and btc["info"]["name"] == "BTC" and btc["id"] == "0"
    body = await ex.public_post_info({"type": "clearinghouseState", "user": address})
    assert len(body["assetPositions"]) == 3  # the raw body, as the exchange sent it
    assert not any(path.startswith("/exchange") for _, path in sim.rest.requests)


async def test_a_json_string_reply_keeps_its_quotes(sim: SimExchange, clients: list[Any]) -> None:
    """``userAbstraction`` answers a JSON string; ccxt hands it over unparsed (parse.refuse_unsupported
    strips the quotes)."""
    ex = client_for(sim, clients, options=SAFE_OPTIONS)
    reply = await ex.public_post_info({"type": "userAbstraction", "user": sim.accounts["main"].address})
    assert reply in ('"default"', "default")


async def test_set_markets_from_exchange_needs_the_hip3_helpers(sim: SimExchange, clients: list[Any]) -> None:
    source = client_for(sim, clients, options={"fetchMarkets": {"types": ["swap"]}})
    await source.load_markets()
    with pytest.raises(KeyError, match="hip3TokensByName"):
        client_for(sim, clients).set_markets_from_exchange(source)
    safe = client_for(sim, clients, options=SAFE_OPTIONS)
    await safe.load_markets()
    client_for(sim, clients, options=SAFE_OPTIONS).set_markets_from_exchange(safe)


async def test_sign_l1_action_is_recovered_to_the_agent_and_posted_raw(
    sim: SimExchange, clients: list[Any]
) -> None:
    ex = client_for(sim, clients, options=SAFE_OPTIONS)
    action = {"type": "updateIsolatedMargin", "asset": 2, "isBuy": True, "ntli": 2_000_000}
    first, second = ex.incrementing_nonce(), ex.incrementing_nonce()
    assert second > first
    signature = ex.sign_l1_action(action, second)
    agent = signing.address_of_key(sim.accounts["main"].secret)
    assert signing.recover_l1_signer(json.loads(json.dumps(action)), second, signature, None, None) == agent
    reply = await ex.private_post_exchange({"action": action, "nonce": second, "signature": signature})
    assert reply == {"status": "ok", "response": {"type": "default"}}


async def test_order_refusals_with_http_200_raise_by_their_text(sim: SimExchange, clients: list[Any]) -> None:
    """ccxt raises on the first ``statuses[i].error`` (errors.py maps the reduce-only text), on a
    ``status: err`` reply, and ``OrderNotFound`` on ``unknownOid``."""
    ex = client_for(sim, clients, options=SAFE_OPTIONS)
    order = {"a": 0, "b": True, "p": "63000", "s": "0.002", "r": True, "t": {"limit": {"tif": "Ioc"}}}
    action = {"type": "order", "orders": [order], "grouping": "na"}
    nonce = ex.incrementing_nonce()
    body = {"action": action, "nonce": nonce, "signature": ex.sign_l1_action(action, nonce)}
    with pytest.raises(ccxt_errors.InvalidOrder, match="Reduce only order would increase position"):
        await ex.private_post_exchange(body)
    stranger = client_for(sim, clients, privateKey="0x" + "22" * 32, options=SAFE_OPTIONS)
    nonce = stranger.incrementing_nonce()
    body = {"action": action, "nonce": nonce, "signature": stranger.sign_l1_action(action, nonce)}
    with pytest.raises(ccxt_errors.ExchangeError, match="does not exist"):
        await stranger.private_post_exchange(body)
    with pytest.raises(ccxt_errors.OrderNotFound):
        await ex.public_post_info(
            {"type": "orderStatus", "user": sim.accounts["main"].address, "oid": "0x" + "0" * 32}
        )


async def test_create_order_signs_unasked_actions_unless_told_they_are_done(
    sim: SimExchange, clients: list[Any]
) -> None:
    """Why the adapter builds its own actions: a stock client approves a builder fee and sets a
    referrer before its first order; ``approvedBuilderFee`` + ``refSet`` stop both."""
    stock = client_for(sim, clients, options={"fetchMarkets": {"types": ["swap"]}})
    await stock.load_markets()
    await stock.create_order("BTC/USDC:USDC", "market", "sell", 0.002, 60_000, {"reduceOnly": True})
    assert {a["type"] for a in sim.rest.unasked} == {"approveBuilderFee", "setReferrer"}
    sim.rest.unasked.clear()
    safe = client_for(sim, clients, options=SAFE_OPTIONS)
    await safe.load_markets()
    await safe.create_order("BTC/USDC:USDC", "market", "sell", 0.002, 60_000, {"reduceOnly": True})
    assert sim.rest.unasked == []
    with pytest.raises(ccxt_errors.ArgumentsRequired):  # no market order without a reference price
        await safe.create_order("BTC/USDC:USDC", "market", "sell", 0.002, None, {"reduceOnly": True})


def subscribe(client: Any, url: str, key: str, subscription: dict[str, Any]) -> Any:
    return asyncio.ensure_future(
        client.watch(url, key, {"method": "subscribe", "subscription": subscription}, key)
    )


async def test_one_error_frame_rejects_every_watch_of_a_stock_socket(
    sim: SimExchange, clients: list[Any]
) -> None:
    """Why ``client.py`` keeps ``error`` frames from ccxt: one refused subscription (here an unknown
    type) fails every pending watch of the socket, the good one too."""
    ex = client_for(sim, clients, options=SAFE_OPTIONS)
    url = ex.urls["api"]["ws"]["public"]
    good = subscribe(ex, url, "t:btc", {"type": "activeAssetCtx", "coin": "BTC"})
    bad = subscribe(ex, url, "t:bad", {"type": "nope"})
    done, _ = await asyncio.wait({good, bad}, timeout=5)
    assert good in done and bad in done
    with pytest.raises(ccxt_errors.ExchangeError, match="Invalid subscription"):
        good.result()


async def test_the_tapped_socket_reads_every_frame_and_survives_an_error_frame(
    sim: SimExchange, clients: list[Any]
) -> None:
    """``venue._watch``: ``Exchange.watch`` subscribes and resolves nothing it does not know (the
    future ends only with the socket); the tap sees the banner as text and every data frame."""
    frames: list[Any] = []
    tapped = client_for(sim, clients, TappedHyperliquid, options=SAFE_OPTIONS)
    tapped.on_frame = lambda url, frame: frames.append(frame)
    url = tapped.urls["api"]["ws"]["public"]
    good = subscribe(tapped, url, "t:btc", {"type": "activeAssetCtx", "coin": "BTC"})
    bad = subscribe(tapped, url, "t:bad", {"type": "nope"})

    def seen(channel: str) -> bool:
        return any(isinstance(f, dict) and f.get("channel") == channel for f in frames)

    for _ in range(500):
        if seen("error") and seen("activeAssetCtx"):
            break
        await asyncio.sleep(0.01)
    assert seen("error") and seen("activeAssetCtx") and seen("subscriptionResponse")
    assert frames[0] == "Websocket connection established."
    assert not good.done() and not bad.done()  # the error frame cost nothing
    good.cancel()
    bad.cancel()


def test_the_keepalive_is_hyperliquid_s_ping() -> None:
    ex = ccxt.pro.hyperliquid()
    assert ex.ping(None) == {"method": "ping"}
    assert 0 < ex.streaming["keepAlive"] < 60_000  # the server drops a socket silent for 60 s
