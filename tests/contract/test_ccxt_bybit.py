"""What the Bybit adapter relies on in ccxt, pinned against the real ccxt / ccxt.pro ``bybit`` client
and the simulator's Bybit dialect over loopback. Each check names the behaviour and the code that
depends on it, so a ccxt upgrade that changes one fails here, not silently in production.

- ``venues/bybit/client.py`` overrides ``Exchange.client(url)`` (per-frame isolation) and
  ``Exchange.handle_message`` (the raw tap); ``venue.py`` finds the private socket in
  ``Exchange.clients`` by ``/v5/private``.
- ``venues/loopback.py`` rebases ``urls['api']``: REST under ``public``/``private``, streams under
  ``ws.public.linear`` and ``ws.private.contract``.
- ``venue.py`` calls raw endpoints through the implicit API (their ``retCode``/``result`` bodies as
  Bybit sent them) and relies on ccxt's error classes for Bybit's codes.
- ccxt signs v5 requests with ``X-BAPI-*`` headers (checked by the dialect).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import ccxt.pro
import pytest
from ccxt.async_support.base.ws.client import Client
from ccxt.base import errors as ccxt_errors

from monitor.sim.dialects.bybit import Bybit
from monitor.sim.exchange import SimExchange
from monitor.venues.bybit.client import TappedBybit
from monitor.venues.loopback import loopback_urls

# every raw endpoint venue.py calls, and the urls['api'] key it is sent to
IMPLICIT_CALLS = {
    "public_get_v5_market_time": "public",
    "public_get_v5_market_tickers": "public",
    "public_get_v5_market_risk_limit": "public",
    "private_get_v5_account_info": "private",
    "private_get_v5_account_wallet_balance": "private",
    "private_get_v5_position_list": "private",
    "private_get_v5_order_realtime": "private",
    "private_get_v5_order_history": "private",
    "private_post_v5_position_add_margin": "private",
}


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect=Bybit()) as exchange:
        yield exchange


def test_the_implicit_endpoints_exist() -> None:
    ex = ccxt.pro.bybit()
    missing = [name for name in IMPLICIT_CALLS if not callable(getattr(ex, name, None))]
    assert not missing, f"ccxt's bybit lost implicit methods venue.py calls: {missing}"


def test_the_url_keys_urls_py_rebases() -> None:
    urls = ccxt.pro.bybit().urls["api"]
    for key in set(IMPLICIT_CALLS.values()):
        assert isinstance(urls.get(key), str), f"urls['api'][{key!r}] is not a URL any more"
    assert urls["ws"]["public"]["linear"].endswith("/v5/public/linear"), "ws.public.linear moved"
    assert urls["ws"]["private"]["contract"].endswith("/v5/private"), "ws.private.contract moved"
    rebased = loopback_urls("bybit", "http://127.0.0.1:9", "ws://127.0.0.1:9")
    assert rebased["ws"]["public"]["linear"] == "ws://127.0.0.1:9/v5/public/linear"


def test_the_hooks_the_tap_overrides_exist() -> None:
    assert callable(getattr(ccxt.pro.bybit, "handle_message", None)), "Exchange.handle_message is gone"
    assert callable(getattr(ccxt.pro.bybit, "client", None)), "Exchange.client(url) is gone"
    assert callable(getattr(Client, "handle_text_or_binary_message", None)), (
        "Client.handle_text_or_binary_message is gone: per-frame isolation in client.py wraps it"
    )


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("10003", ccxt_errors.AuthenticationError),
        ("10004", ccxt_errors.AuthenticationError),
        ("10002", ccxt_errors.InvalidNonce),
        ("10006", ccxt_errors.RateLimitExceeded),
        ("110001", ccxt_errors.OrderNotFound),
        ("110007", ccxt_errors.InsufficientFunds),
        ("110017", ccxt_errors.InvalidOrder),
    ],
)
def test_bybit_codes_keep_their_classes(code: str, cls: type[Exception]) -> None:
    exact = ccxt.pro.bybit().exceptions["exact"]
    assert issubclass(exact.get(code, Exception), cls), f"ccxt no longer maps Bybit {code} to {cls.__name__}"


async def test_the_tap_sees_every_frame_raw_and_marks_come_as_sent(sim: SimExchange) -> None:
    frames: list[Any] = []
    ex = TappedBybit(
        {
            "enableRateLimit": False,
            "urls": {"api": loopback_urls("bybit", sim.http_url, sim.ws_url)},
            "options": {"fetchMarkets": {"types": ["linear"]}, "defaultType": "swap"},
        }
    )
    ex.timeout_on_exit = 0
    seen_delta = asyncio.Event()

    def tap(url: str, frame: Any) -> None:
        frames.append(frame)
        if isinstance(frame, dict) and frame.get("type") == "delta":
            seen_delta.set()

    ex.on_frame = tap
    try:
        await ex.load_markets()
        watch = asyncio.ensure_future(ex.watch_tickers(["BTC/USDT:USDT"]))
        await asyncio.wait_for(sim.wait_market_subscribers(), 5)
        sim.set_mark("BTCUSDT", 61_000.0)
        await sim.publish_marks()
        await asyncio.wait_for(seen_delta.wait(), 5)
        delta = next(f for f in frames if isinstance(f, dict) and f.get("type") == "delta")
        assert delta["data"]["markPrice"] == "61000.0", "the tap must see the frame's strings, not floats"
        assert any(isinstance(f, dict) and f.get("op") == "subscribe" for f in frames), "acks reach the tap"
        watch.cancel()
    finally:
        await ex.close()


async def test_v5_requests_are_signed_with_x_bapi_headers(sim: SimExchange) -> None:
    keys = sim.accounts["main"]
    ex = ccxt.pro.bybit({**sim.ccxt_config("main"), "enableRateLimit": False})
    ex.timeout_on_exit = 0
    try:
        body = await ex.private_get_v5_position_list({"category": "linear", "settleCoin": "USDT"})
        assert body["retCode"] == 0 and body["result"]["list"], "a signed v5 request was refused"
        wrong = ccxt.pro.bybit(
            {**sim.ccxt_config("main"), "secret": keys.secret + "x", "enableRateLimit": False}
        )
        wrong.timeout_on_exit = 0
        with pytest.raises(ccxt_errors.AuthenticationError):
            await wrong.private_get_v5_position_list({"category": "linear", "settleCoin": "USDT"})
        await wrong.close()
    finally:
        await ex.close()
