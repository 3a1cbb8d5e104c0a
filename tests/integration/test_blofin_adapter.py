"""The BloFin adapter against the simulator's BloFin dialect, over loopback, real ccxt / ccxt.pro:
what the contract suite does not reach (the broker id, nonces under load, the refused transfer,
sizes in contracts, the polled marks)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest

from monitor.events import (
    AccountSnapshotEvent,
    Event,
    MarkPrices,
    Rejected,
    StreamHealth,
    StreamState,
    TierTable,
)
from monitor.model import PositionSide, Venue
from monitor.sim.dialects.blofin import Blofin
from monitor.sim.exchange import SimExchange
from monitor.venues import errors
from monitor.venues.base import Endpoints, VenueAccount
from monitor.venues.blofin.venue import BlofinVenue

BTC = "BTC/USDT:USDT"


async def until(predicate: Callable[[], object], seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect=Blofin()) as exchange:
        yield exchange


def accounts(sim: SimExchange, **changes: object) -> tuple[VenueAccount, ...]:
    return tuple(
        replace(VenueAccount(n, k.api_key, k.secret, 0.0006, k.passphrase), **changes)  # type: ignore[arg-type]
        for n, k in sim.accounts.items()
    )


async def started(sim: SimExchange, events: list[Event], accts: tuple[VenueAccount, ...]) -> BlofinVenue:
    venue = BlofinVenue(
        Venue.BLOFIN,
        accts,
        events.append,
        endpoints=Endpoints(sim.http_url, sim.ws_url),
        rate_limit=False,
        close_wait_ms=0,
    )
    await venue.start()
    return venue


@pytest.fixture
async def running(sim: SimExchange) -> AsyncIterator[tuple[BlofinVenue, list[Event]]]:
    events: list[Event] = []
    venue = await started(sim, events, accounts(sim, mark_poll_s=0.02))
    yield venue, events
    await venue.stop()


async def test_start_reads_contracts_tiers_and_the_pool(
    sim: SimExchange, running: tuple[BlofinVenue, list[Event]]
) -> None:
    venue, events = running
    (main,) = [e for e in events if isinstance(e, AccountSnapshotEvent) and e.account == "main"]
    btc = next(p for p in main.positions if p.symbol == BTC)
    assert btc.amount == 500.0  # contracts: the ledger's 0.5 BTC at 0.001 a contract
    assert next(m for m in venue.markets if m.symbol == BTC).contract_size == 0.001
    assert main.cross_wallet_balance == pytest.approx(sim.ledger.cross_pool("main").wallet, abs=1e-6)
    assert not main.hedge_mode
    (hedge,) = [e for e in events if isinstance(e, AccountSnapshotEvent) and e.account == "hedge"]
    assert hedge.hedge_mode and {p.position_side for p in hedge.positions} == {
        PositionSide.LONG,
        PositionSide.SHORT,
    }
    tiers = next(e for e in events if isinstance(e, TierTable) and e.symbol == BTC)
    assert tiers.tiers[0].mmr == pytest.approx(sim.ledger.specs["BTCUSDT"].tiers[0].mmr - 0.0006)


async def test_polled_marks_pass_on_only_what_moved(
    sim: SimExchange, running: tuple[BlofinVenue, list[Event]]
) -> None:
    _, events = running
    await until(lambda: any(isinstance(e, MarkPrices) for e in events))
    await asyncio.sleep(0.1)  # several polls of unchanged marks
    seen = len([e for e in events if isinstance(e, MarkPrices)])
    await asyncio.sleep(0.1)
    assert len([e for e in events if isinstance(e, MarkPrices)]) == seen
    sim.set_mark("BTCUSDT", 61_000.0)
    await sim.publish_marks()
    await until(lambda: len([e for e in events if isinstance(e, MarkPrices)]) > seen)
    moved = [e for e in events if isinstance(e, MarkPrices)][seen:]
    assert moved[0].prices[BTC] == 61_000.0


async def test_a_close_is_sent_without_a_broker_id_by_default(
    sim: SimExchange, running: tuple[BlofinVenue, list[Event]]
) -> None:
    """ccxt puts its own broker id on every order, which a plain key refuses (152011): the adapter
    sends none unless told."""
    venue, _ = running
    result = await venue.create_reduce_only_market("main", BTC, "sell", 100, PositionSide.BOTH, "close-1")
    assert (result.status, result.filled) == ("filled", 100.0)
    assert sim.ledger.account("main").leg("BTCUSDT", "BOTH").amount == pytest.approx(0.4)


async def test_a_configured_broker_id_goes_with_the_order(sim: SimExchange) -> None:
    sim.rest.broker_keys[sim.ledger.account("main").api_key] = "bound-broker"
    events: list[Event] = []
    venue = await started(sim, events, accounts(sim, broker_id="bound-broker", mark_poll_s=0.02))
    try:
        result = await venue.create_reduce_only_market("main", BTC, "sell", 100, PositionSide.BOTH, "c-2")
        assert result.status == "filled"
        other = await started(sim, [], accounts(sim, broker_id="someone-else", mark_poll_s=0.02))
        try:
            with pytest.raises(errors.OrderRejected, match="broker id"):
                await other.create_reduce_only_market("main", BTC, "sell", 100, PositionSide.BOTH, "c-3")
        finally:
            await other.stop()
    finally:
        await venue.stop()


async def test_a_hedge_close_names_the_leg(
    sim: SimExchange, running: tuple[BlofinVenue, list[Event]]
) -> None:
    venue, _ = running
    result = await venue.create_reduce_only_market("hedge", BTC, "buy", 100, PositionSide.SHORT, "h-1")
    assert result.status == "filled"
    assert sim.ledger.account("hedge").leg("BTCUSDT", "SHORT").amount == 0
    assert sim.ledger.account("hedge").leg("BTCUSDT", "LONG").amount == pytest.approx(0.2)


async def test_adding_isolated_margin_is_refused_with_the_reason(
    sim: SimExchange, running: tuple[BlofinVenue, list[Event]]
) -> None:
    venue, _ = running
    with pytest.raises(errors.Refused, match="BloFin's API has no way to add or remove isolated margin"):
        await venue.add_isolated_margin("main", "SOL/USDT:USDT", 10.0, PositionSide.BOTH)
    assert not [r for r in sim.rest.requests if r[0] == "POST"]


async def test_requests_in_one_millisecond_never_reuse_a_nonce(
    sim: SimExchange, running: tuple[BlofinVenue, list[Event]]
) -> None:
    """BloFin refuses a nonce its key used within 60 s; ccxt's nonce is the millisecond. Twenty reads
    of one account signed in the same millisecond all pass."""
    venue, _ = running
    client = venue.client_for("main")
    frozen = sim.now_ms()
    client.milliseconds = lambda: frozen
    found = await asyncio.gather(*(venue.fetch_position("main", BTC, PositionSide.BOTH) for _ in range(20)))
    assert all(p is not None and p.amount == 500.0 for p in found)


async def test_an_error_frame_on_the_private_socket_is_reported_and_the_stream_resubscribes(
    sim: SimExchange, running: tuple[BlofinVenue, list[Event]]
) -> None:
    """ccxt raises BloFin's error frames (a failed login, a refused subscription) from its socket
    loop instead of failing the pending watch, which would wait on a socket that is not logged in
    or not subscribed. The adapter says what BloFin answered and subscribes again."""
    venue, events = running
    stream = venue.user_stream("main")
    health = [e for e in events if isinstance(e, StreamHealth) and e.stream == stream]
    await until(
        lambda: any(
            e.state is StreamState.CONNECTED
            for e in events
            if isinstance(e, StreamHealth) and e.stream == stream
        )
    )
    seen = len(events)
    await sim.send_raw_user("main", '{"event":"error","code":"60012","msg":"Invalid request: {}"}')
    await until(
        lambda: (
            any(isinstance(e, Rejected) and "60012" in e.reason for e in events[seen:])
            and any(
                isinstance(e, StreamHealth) and e.stream == stream and e.state is StreamState.CONNECTED
                for e in events[seen:]
            )
        )
    )
    states = [e.state for e in events[seen:] if isinstance(e, StreamHealth) and e.stream == stream]
    assert states == [StreamState.DISCONNECTED, StreamState.CONNECTED], (states, health)
    assert not [e for e in events[seen:] if isinstance(e, Rejected) and "undecodable" in e.reason]
