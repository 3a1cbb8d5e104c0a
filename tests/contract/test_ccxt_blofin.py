"""What the BloFin adapter relies on in ccxt's ``blofin``, pinned against the real ccxt / ccxt.pro
client, the simulator over loopback, and BloFin's captured bodies. Each check names the behaviour
and the code that depends on it, so a ccxt upgrade that changes one fails here.

- ``venues/blofin/client.TappedBlofin.sign``: ccxt signs with the millisecond timestamp as the nonce,
  which BloFin refuses to see twice within 60 s; the client re-signs with a nonce of its own.
- ``TappedBlofin.create_order_request``: ccxt puts its broker id on every order and an empty
  ``options['brokerId']`` does not remove it; the client sends the configured one or none.
- ``venues/blofin/parse``: ccxt's unified ``marginRatio`` is a figure of its own, not BloFin's; the
  adapter reads the raw rows.
- ``venues/blofin/venue.user_loop``: ccxt.pro's ``watch_positions()`` without symbols never resolves
  (it waits on a hash no push resolves); the adapter reads the positions pushes raw.
- ``venues/blofin/errors``: an order refused inside ``data[0]`` raises by its code (102022
  ``InvalidOrder``), 152011 is ``PermissionDenied``, 152407 ``InvalidNonce``.
- ``venues/registry``: ccxt's blofin has no margin transfer (``addMargin`` False).
- ``venues/loopback.py``: ccxt's blofin URL table is one ``rest`` base plus ``ws.swap`` public/private.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import ccxt
import ccxt.pro
import pytest

from monitor.sim.dialects.blofin import Blofin
from monitor.sim.exchange import SimExchange
from monitor.venues.blofin.client import TappedBlofin

FIXTURES = Path(__file__).parents[1] / "venues" / "fixtures" / "blofin"
BTC = "BTC/USDT:USDT"
CCXT_BROKER = "ec6dd3a7dd982d0b"


def fixture(name: str) -> dict[str, Any]:
    body = json.loads((FIXTURES / name).read_text())
    assert isinstance(body, dict)
    return body


def credentials() -> dict[str, str]:
    return {"apiKey": "key", "secret": "secret", "password": "phrase"}


def test_ccxt_signs_with_the_timestamp_as_the_nonce() -> None:
    ex = ccxt.blofin(credentials())
    signed = ex.sign("account/positions", ["private"], "GET", {})
    headers = signed["headers"]
    assert headers["ACCESS-NONCE"] == headers["ACCESS-TIMESTAMP"], "ccxt changed its nonce: client.sign"


def test_the_tapped_client_never_repeats_a_nonce_in_one_millisecond() -> None:
    ex = TappedBlofin(credentials())
    ex.milliseconds = lambda: 1_767_225_600_000
    nonces = {
        ex.sign("account/positions", ["private"], "GET", {})["headers"]["ACCESS-NONCE"] for _ in range(5)
    }
    assert len(nonces) == 5


def test_ccxt_puts_its_broker_id_on_every_order_even_with_an_empty_option() -> None:
    for options in ({}, {"brokerId": ""}):
        ex = ccxt.blofin({"options": options})
        ex.set_markets([_market()])
        request = ex.create_order_request(BTC, "market", "sell", 1, None, {})
        assert request["brokerId"] == CCXT_BROKER, f"ccxt no longer injects its broker id with {options}"
    plain = TappedBlofin({})
    plain.set_markets([_market()])
    assert "brokerId" not in plain.create_order_request(BTC, "market", "sell", 1, None, {})
    bound = TappedBlofin({})
    bound.broker_id = "mine"
    bound.set_markets([_market()])
    assert bound.create_order_request(BTC, "market", "sell", 1, None, {})["brokerId"] == "mine"


def _market() -> dict[str, Any]:
    row = fixture("rest.instruments.documented.json")["data"][0]
    market: dict[str, Any] = ccxt.blofin().parse_market(row)
    return market


def test_ccxts_margin_ratio_is_not_blofins() -> None:
    ex = ccxt.blofin()
    row = fixture("rest.positions.cross-long.observed.json")["data"][0]
    position = ex.parse_position(row, None)
    assert position["marginRatio"] != pytest.approx(float(row["marginRatio"])), "ccxt now maps BloFin's ratio"
    assert position["info"]["marginRatio"] == row["marginRatio"]


@pytest.mark.parametrize(
    ("body", "error", "code"),
    [
        (
            {"code": "0", "msg": "", "data": [{"orderId": None, "code": "102022", "msg": "no position"}]},
            ccxt.InvalidOrder,
            "102022",
        ),
        ("rest.error.152011.observed.json", ccxt.PermissionDenied, "152011"),
        ({"code": "152407", "msg": "Repeated nonce"}, ccxt.InvalidNonce, "152407"),
    ],
)
def test_refusals_raise_by_their_code(body: Any, error: type[Exception], code: str) -> None:
    reply = fixture(body) if isinstance(body, str) else body
    text = json.dumps(reply)
    with pytest.raises(error) as info:
        ccxt.blofin().handle_errors(200, "", "", "POST", {}, text, reply, {}, None)
    assert f'"{code}"' in str(info.value)


def test_no_margin_transfer_and_the_url_table() -> None:
    ex = ccxt.pro.blofin()
    assert ex.has["addMargin"] is False and ex.has["reduceMargin"] is False
    api = ex.urls["api"]
    assert set(api) == {"rest", "ws"} and set(api["ws"]["swap"]) == {"public", "private"}
    assert ex.ping(None) == "ping"


@pytest.fixture
async def client() -> AsyncIterator[tuple[SimExchange, Any, list[Any]]]:
    async with SimExchange("small", clock=False, dialect=Blofin()) as sim:
        ex = ccxt.pro.blofin({**sim.ccxt_config("main"), "enableRateLimit": False})
        ex.timeout_on_exit = 0
        frames: list[Any] = []
        arrived = asyncio.Event()
        handle = ex.handle_message

        def tap(conn: Any, message: Any) -> Any:
            frames.append(message)
            arrived.set()
            return handle(conn, message)

        ex.arrived = arrived

        ex.handle_message = tap
        try:
            await ex.load_markets()
            yield sim, ex, frames
        finally:
            await ex.close()


async def test_watch_positions_without_symbols_never_resolves(
    client: tuple[SimExchange, Any, list[Any]],
) -> None:
    sim, ex, frames = client
    watch = asyncio.ensure_future(ex.watch_positions())
    await asyncio.wait_for(sim.wait_user_connections("main"), 10)

    def pushed() -> bool:
        return any(
            isinstance(f, dict) and f.get("arg", {}).get("channel") == "positions" and "data" in f
            for f in frames
        )

    async def until_pushed() -> None:
        while not pushed():
            ex.arrived.clear()
            await ex.arrived.wait()

    await asyncio.wait_for(until_pushed(), 10)
    await asyncio.sleep(0)  # ccxt has handled the push
    assert not watch.done(), "ccxt now resolves watch_positions(): the adapter could use it"
    watch.cancel()
