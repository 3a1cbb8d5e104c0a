"""The Bitunix REST client against a loopback server that checks each signature as Bitunix does:
the code in an HTTP 200 body is the answer, the status only where no code is given."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from monitor.venues import errors
from monitor.venues.base import RestGate, VenueAccount
from monitor.venues.bitunix import signing
from monitor.venues.bitunix.pacing import Pacer
from monitor.venues.bitunix.rest import READ_RETRIES, BitunixRest

ACCOUNT = VenueAccount("main", "k" * 32, "s" * 32)


@dataclass
class Server:
    """Answers every request with ``reply`` (status, body text, headers), after checking the
    signature the way the venue does; remembers what it was sent."""

    url: str = ""
    reply: tuple[int, str, dict[str, str]] = (200, '{"code":0,"data":{"ok":true},"msg":"Success"}', {})
    first: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)  # before ``reply``
    seen: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()

    async def handle(request: web.Request) -> web.Response:
        body = await request.text()
        query = signing.query_text(dict(request.query))
        h = request.headers
        signed_ok = None
        if "sign" in h:
            key, secret = ACCOUNT.api_key, ACCOUNT.secret
            expected = signing.rest_sign(key, secret, h["nonce"], h["timestamp"], query, body)
            signed_ok = h["sign"] == expected
        seen = {"path": request.path, "query": dict(request.query), "body": body, "signed": signed_ok}
        state.seen.append(seen)
        if signed_ok is False:
            return web.Response(text='{"code":10007,"data":null,"msg":"Sign signature error"}')
        status, text, headers = state.first.pop(0) if state.first else state.reply
        return web.Response(status=status, text=text, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


def client(
    server: Server, account: VenueAccount | None = ACCOUNT, gate: RestGate | None = None
) -> BitunixRest:
    return BitunixRest(server.url, account=account, gate=gate or RestGate(), market_pacer=Pacer(1000))


async def test_a_signed_read_carries_a_signature_the_venue_accepts(server: Server) -> None:
    rest = client(server)
    try:
        data = await rest.read("/api/v1/futures/account", {"marginCoin": "USDT"})
    finally:
        await rest.close()
    assert data == {"ok": True}
    assert server.seen == [
        {"path": "/api/v1/futures/account", "query": {"marginCoin": "USDT"}, "body": "", "signed": True}
    ]


async def test_a_signed_post_signs_the_exact_body_it_sends(server: Server) -> None:
    rest = client(server)
    try:
        await rest.order("/api/v1/futures/trade/place_order", {"symbol": "BTCUSDT", "reduceOnly": True})
    finally:
        await rest.close()
    (seen,) = server.seen
    assert seen["signed"] is True
    assert json.loads(seen["body"]) == {"symbol": "BTCUSDT", "reduceOnly": True}


async def test_a_public_read_is_not_signed(server: Server) -> None:
    rest = client(server, account=None)
    try:
        await rest.public("/api/v1/futures/market/tickers")
    finally:
        await rest.close()
    assert server.seen[0]["signed"] is None


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (10007, errors.AuthenticationRefused),
        (30018, errors.OrderRejected),
        (20015, errors.OrderRejected),
        (1, errors.VenueUnavailable),
        (404, errors.Refused),
    ],
)
async def test_a_code_in_an_http_200_body_is_raised_as_its_error(
    server: Server, code: int, kind: type[Exception]
) -> None:
    server.reply = (200, json.dumps({"code": code, "data": None, "msg": "words"}), {})
    rest = client(server)
    try:
        with pytest.raises(kind, match=str(code)):
            await rest.read("/api/v1/futures/position/get_pending_positions")
    finally:
        await rest.close()


TOO_FREQUENT = (200, '{"code":10006,"data":null,"msg":"Request too frequently"}', {})
PLACE = "/api/v1/futures/trade/place_order"


async def test_a_rate_limit_code_closes_the_gate_and_the_next_request_never_leaves(server: Server) -> None:
    server.reply = TOO_FREQUENT
    gate = RestGate()
    rest = client(server, gate=gate)
    try:
        with pytest.raises(errors.RateLimited):
            await rest.order(PLACE, {"symbol": "BTCUSDT"})
        assert gate.closed_until() is not None
        with pytest.raises(errors.RateLimited, match="paused"):
            await rest.order(PLACE, {"symbol": "BTCUSDT"})
    finally:
        await rest.close()
    assert len(server.seen) == 1


async def test_a_read_refused_for_its_rate_is_sent_again_after_the_window(server: Server) -> None:
    """Another client of the key (a daemon just restarted) may have used the venue's second."""
    server.first = [TOO_FREQUENT]
    rest = client(server)
    try:
        assert await rest.read("/api/v1/futures/account", {"marginCoin": "USDT"}) == {"ok": True}
    finally:
        await rest.close()
    assert len(server.seen) == 2


async def test_a_read_still_refused_after_its_retries_raises(server: Server) -> None:
    server.reply = TOO_FREQUENT
    rest = client(server)
    try:
        with pytest.raises(errors.RateLimited, match="10006"):
            await rest.read("/api/v1/futures/account", {"marginCoin": "USDT"})
    finally:
        await rest.close()
    assert len(server.seen) == 1 + READ_RETRIES


async def test_an_http_429_with_retry_after_closes_the_gate_that_long(server: Server) -> None:
    server.reply = (429, "slow down", {"Retry-After": "7"})
    now = 5_000_000
    gate = RestGate(clock=lambda: now)
    rest = BitunixRest(server.url, account=ACCOUNT, gate=gate, market_pacer=Pacer(1000), clock=lambda: now)
    try:
        with pytest.raises(errors.RateLimited):
            await rest.public("/api/v1/futures/market/tickers")
    finally:
        await rest.close()
    assert gate.closed_until() == now + 7_000


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ((502, "bad gateway", {}), errors.VenueUnavailable),
        ((200, "<html>", {}), errors.BadResponse),
        ((200, '{"code":"0","data":{}}', {}), errors.BadResponse),  # a string code
        ((200, "[1,2]", {}), errors.BadResponse),
        ((200, '{"code":0,"msg":"Success"}', {}), errors.BadResponse),  # no data
    ],
)
async def test_what_cannot_be_read_is_unknown_not_refused(
    server: Server, reply: tuple[int, str, dict[str, str]], kind: type[Exception]
) -> None:
    server.reply = reply
    rest = client(server)
    try:
        with pytest.raises(kind):
            await rest.read("/api/v1/futures/account")
    finally:
        await rest.close()


async def test_no_answer_is_venue_unavailable() -> None:
    rest = BitunixRest("http://127.0.0.1:9", account=ACCOUNT, gate=RestGate(), market_pacer=Pacer(1000))
    try:
        with pytest.raises(errors.VenueUnavailable):
            await rest.read("/api/v1/futures/account")
    finally:
        await rest.close()
