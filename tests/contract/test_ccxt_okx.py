"""What the OKX adapter relies on in ccxt, pinned against the real ccxt / ccxt.pro ``okx`` client and
the simulator's OKX dialect over loopback. Each check names the behaviour and the code that depends
on it, so a ccxt upgrade that changes one fails here, not silently in production.

- ``venues/okx/client.py`` overrides ``Exchange.client(url)`` and ``Exchange.handle_message`` (the raw
  tap) and skips ccxt for the channels it reads; ``venue.py`` finds the private socket in
  ``Exchange.clients`` by ``/ws/v5/private``.
- ``venues/loopback.py`` rebases ``urls['api']``: REST under ``rest``, streams under ``ws`` (ccxt
  appends ``/public`` and ``/private``).
- ``venue.py`` calls raw endpoints through the implicit API and reads OKX's bodies as sent; it passes
  symbols to ``watch_mark_prices`` (without them ccxt subscribes every market); ccxt's positions
  cache keeps a closed position (a net ``pos`` "0" written to both sides), which is why it is not used.
- ``errors.py`` maps 51169/51170 itself: ccxt leaves them a bare ``ExchangeError``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import ccxt.pro
import pytest
from ccxt.base import errors as ccxt_errors

from monitor.sim.dialects.okx import Okx
from monitor.sim.exchange import SimExchange
from monitor.venues import errors
from monitor.venues.loopback import loopback_urls
from monitor.venues.okx.client import TappedOkx
from monitor.venues.okx.errors import to_venue_error

BTC = "BTC/USDT:USDT"
SOL = "SOL/USDT:USDT"

# every raw endpoint venue.py calls
IMPLICIT_CALLS = (
    "public_get_public_time",
    "public_get_public_mark_price",
    "public_get_public_position_tiers",
    "private_get_account_config",
    "private_get_account_positions",
    "private_get_account_balance",
    "private_post_trade_order",
    "private_get_trade_order",
    "private_post_account_position_margin_balance",
)


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect=Okx()) as exchange:
        yield exchange


def test_the_implicit_endpoints_exist() -> None:
    ex = ccxt.pro.okx()
    missing = [name for name in IMPLICIT_CALLS if not callable(getattr(ex, name, None))]
    assert not missing, f"ccxt's okx lost implicit methods venue.py calls: {missing}"


def test_the_url_keys_loopback_rebases() -> None:
    urls = ccxt.pro.okx().urls["api"]
    assert urls["rest"] == "https://{hostname}", "urls['api']['rest'] moved"
    assert urls["ws"].endswith("/ws/v5"), "urls['api']['ws'] moved"
    rebased = loopback_urls("okx", "http://127.0.0.1:9", "ws://127.0.0.1:9")
    assert rebased == {"rest": "http://127.0.0.1:9", "ws": "ws://127.0.0.1:9/ws/v5"}


def test_ccxt_pings_with_text_inside_okx_silence_cut() -> None:
    ex = ccxt.pro.okx()
    assert ex.ping(None) == "ping", "OKX wants the text ping, not a protocol ping"
    assert ex.streaming["keepAlive"] < 30_000, "ccxt's ping must come within OKX's 30 s silence cut"


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("50111", ccxt_errors.AuthenticationError),
        ("50113", ccxt_errors.AuthenticationError),
        ("51008", ccxt_errors.InsufficientFunds),
        ("51603", ccxt_errors.OrderNotFound),
        ("64008", ccxt_errors.NetworkError),
    ],
)
def test_okx_codes_keep_their_classes(code: str, cls: type[Exception]) -> None:
    exact = ccxt.pro.okx().exceptions["exact"]
    assert issubclass(exact.get(code, Exception), cls), f"ccxt no longer maps OKX {code} to {cls.__name__}"


@pytest.mark.parametrize("code", ["51169", "51170"])
def test_reduce_only_refusals_are_left_unmapped_by_ccxt_and_mapped_here(code: str) -> None:
    exact = ccxt.pro.okx().exceptions["exact"]
    assert code not in exact, f"ccxt maps OKX {code} now: errors.py may lean on its class instead"
    body = {"code": "1", "msg": "", "data": [{"sCode": code, "sMsg": "reduce-only refused"}]}
    mapped = to_venue_error(ccxt_errors.ExchangeError("okx " + json.dumps(body)))
    assert isinstance(mapped, errors.OrderRejected)
    assert mapped.reason is errors.RejectReason.REDUCE_ONLY_REJECTED


async def test_ccxt_defaults_tdmode_to_cross_so_an_isolated_close_must_name_it(sim: SimExchange) -> None:
    ex = ccxt.pro.okx({**sim.ccxt_config("main"), "enableRateLimit": False})
    ex.timeout_on_exit = 0
    try:
        await ex.load_markets()
        with pytest.raises(ccxt_errors.ExchangeError, match="51169"):
            await ex.create_order(SOL, "market", "sell", 1, None, {"reduceOnly": True})
    finally:
        await ex.close()


async def test_the_tap_sees_frames_raw_and_ccxt_keeps_closed_positions(sim: SimExchange) -> None:
    frames: list[Any] = []
    ex = ccxt.pro.okx({**sim.ccxt_config("main"), "enableRateLimit": False})
    ex.timeout_on_exit = 0
    tapped = TappedOkx({**sim.ccxt_config("main"), "enableRateLimit": False})
    tapped.timeout_on_exit = 0
    marked = asyncio.Event()

    def tap(url: str, frame: Any) -> None:
        frames.append(frame)
        if isinstance(frame, dict) and "data" in frame and frame["arg"].get("channel") == "mark-price":
            marked.set()

    tapped.on_frame = tap
    try:
        await ex.load_markets()
        await tapped.load_markets()
        # ccxt's own cache: a position closed stays, as a zero row on both sides of a net position
        await asyncio.wait_for(ex.watch_positions(), 10)
        pushed = asyncio.ensure_future(ex.watch_positions())
        await asyncio.sleep(0)
        contracts = abs(sim.ledger.account("main").legs["BTCUSDT", "BOTH"].amount) / 0.01
        await ex.create_order(BTC, "market", "sell", contracts, None, {"reduceOnly": True})
        await asyncio.wait_for(pushed, 10)
        cached = [p for p in ex.positions if p["symbol"] == BTC]
        assert cached, "ccxt dropped the closed position from its cache: the resync may not be needed"
        assert all(p["contracts"] == 0 for p in cached)
        # the tap: frames as sent (strings), the mark-price channel only for the symbols named
        watch = asyncio.ensure_future(tapped.watch_mark_prices([SOL]))
        await asyncio.wait_for(marked.wait(), 5)  # the subscription's first push
        pushes = [f for f in frames if isinstance(f, dict) and "data" in f]
        assert pushes and all(f["arg"]["instId"] == "SOL-USDT-SWAP" for f in pushes)
        assert isinstance(pushes[0]["data"][0]["markPx"], str), "the tap must see the frame's strings"
        watch.cancel()
    finally:
        await ex.close()
        await tapped.close()
