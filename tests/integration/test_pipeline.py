"""The live pipeline end to end: simulator -> ccxt.pro -> adapter -> engine -> policy -> alerts.

Part of the contract suite: every test runs once per simulator dialect (``conftest.CASES``), the
daemon reaching each through its real ccxt.pro client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from monitor.alerts import AlertKind, Level, Transition
from monitor.model import MarginMode
from monitor.policy import keys
from monitor.sim.exchange import SimExchange
from tests.dialect_cases import VenueCase, wait_marks_source

from .conftest import StartDaemon, fast_policy


@pytest.fixture
async def sim(venue_sim: SimExchange) -> AsyncIterator[SimExchange]:
    yield venue_sim


def liq(daemon_risks: dict, account: str, symbol: str, side: str = "both") -> float | None:  # type: ignore[type-arg]
    for p in daemon_risks[account].positions:
        if p.symbol == symbol and p.position_side.value == side:
            return p.liquidation_price  # type: ignore[no-any-return]
    raise KeyError(symbol)


async def test_daemon_matches_the_simulators_own_numbers(
    sim: SimExchange, start_daemon: StartDaemon, dialect: VenueCase
) -> None:
    """After the start-up resync the daemon's ratio for every account equals the exchange's ledger."""
    run = await start_daemon(sim)
    await run.tick()
    for name in (dialect.cross.account, dialect.hedge.account):
        ours = run.daemon.engine.risks[name]
        theirs = sim.ledger.risk(name)
        assert ours.cross is not None
        assert abs(ours.cross.margin_ratio - theirs.cross.ratio) <= 1e-9 * max(1.0, theirs.cross.ratio), name


async def test_the_first_snapshots_are_judged_with_the_venues_contract_sizes(
    sim: SimExchange, start_daemon: StartDaemon, dialect: VenueCase
) -> None:
    """The snapshots an adapter hands over while it starts are evaluated before ``start`` returns:
    a venue whose contracts are not one unit (BloFin's 0.001 BTC) must not have them read as one
    coin each, which puts a cross liquidation price next to the mark and raises deviation alerts
    against the exchange's correct figures. Prices do not move here: every evaluation so far must
    give the exchange's liquidation price."""
    run = await start_daemon(sim)
    cross = dialect.cross
    theirs = next(
        leg.liquidation_price for leg in sim.ledger.risk(cross.account).legs if leg.symbol == cross.symbol
    )
    seen = [s.liquidation_price for s in run.log.history[(cross.account, cross.unified, "both")]]
    assert theirs is not None and seen
    assert all(lp is not None and abs(lp - theirs) <= 1e-8 * theirs for lp in seen), (seen, theirs)
    deviations = [a.message for a in run.alerts.alerts if a.kind is AlertKind.DEVIATION]
    assert deviations == []


async def test_isolated_alert_fires_on_the_tick_that_crosses_and_not_before(
    sim: SimExchange, start_daemon: StartDaemon, dialect: VenueCase
) -> None:
    iso = dialect.isolated
    run = await start_daemon(sim)
    key = keys.position_risk(iso.account, iso.unified, "both")
    lp = liq(run.daemon.engine.risks, iso.account, iso.unified)
    assert lp is not None
    # distance thresholds are 15 / 8 / 4 % (warn released above 16.5 %): 25 % away is calm
    await run.tick({iso.symbol: lp * 1.25})
    track = run.daemon.policy_state.tracks.get(key)
    assert track is None or not track.is_open
    seen = len(run.alerts.of(key))
    await run.tick({iso.symbol: lp * 1.12})  # 10.7 % away: warn
    assert [(a.level, a.transition) for a in run.alerts.of(key)[seen:]] == [(Level.WARN, Transition.OPENED)]
    await run.tick({iso.symbol: lp * 1.11})  # still warn: nothing new
    assert len(run.alerts.of(key)) == seen + 1
    await run.tick({iso.symbol: lp * 1.03})  # 2.9 % away: critical at once, on this very tick
    assert [(a.level, a.transition) for a in run.alerts.of(key)[seen + 1 :]] == [
        (Level.CRITICAL, Transition.ESCALATED)
    ]


async def test_cross_loss_moves_the_other_cross_prices_but_not_the_isolated_one(
    sim: SimExchange, start_daemon: StartDaemon, dialect: VenueCase
) -> None:
    cross, iso, other = dialect.cross, dialect.isolated, dialect.cross_other
    if other is None:
        pytest.skip(f"the {dialect.venue} book holds one symbol per cross pool")
    run = await start_daemon(sim)
    await run.tick()
    risks = run.daemon.engine.risks
    before_cross = liq(risks, cross.account, cross.unified)
    before_iso = liq(risks, iso.account, iso.unified)
    other_mark = next(p.mark_price for p in risks[other.account].positions if p.symbol == other.unified)
    await run.tick({other.symbol: other_mark * 1.08})  # the other symbol's short loses: the pool shrinks
    after_cross = liq(run.daemon.engine.risks, cross.account, cross.unified)
    after_iso = liq(run.daemon.engine.risks, iso.account, iso.unified)
    assert before_cross is not None and after_cross is not None and after_cross > before_cross  # long: closer
    assert after_iso == before_iso
    # and the daemon agrees with the exchange's ledger on the new cross liquidation price
    theirs = next(
        leg.liquidation_price for leg in sim.ledger.risk(cross.account).legs if leg.symbol == cross.symbol
    )
    assert theirs is not None and abs(after_cross - theirs) <= 1e-8 * theirs


async def test_dropped_sockets_resubscribe_and_resync_without_duplicate_episodes(
    sim: SimExchange, start_daemon: StartDaemon, dialect: VenueCase
) -> None:
    iso = dialect.isolated
    run = await start_daemon(sim)
    iso_lp = liq(run.daemon.engine.risks, iso.account, iso.unified)
    assert iso_lp is not None
    await run.tick({iso.symbol: iso_lp * 1.03})
    key = keys.position_risk(iso.account, iso.unified, "both")
    before = list(run.alerts.of(key))
    assert before and before[-1].level is Level.CRITICAL
    episode = before[-1].episode_id
    snapshots = run.daemon.stats.events["AccountSnapshotEvent"]
    await sim.drop_connections()
    users = len(sim.accounts)
    await run.until(
        lambda: run.daemon.stats.events["AccountSnapshotEvent"] >= snapshots + users, what="resync"
    )
    await wait_marks_source(sim, lambda: run.daemon.connected)
    await run.until(
        lambda: sum(s.endswith(":user") for s in run.daemon.connected) == users, what="user streams back"
    )
    for _ in range(3):
        await run.tick({iso.symbol: iso_lp * 1.03})
    assert run.alerts.of(key) == before  # no new episode, no repeat of the opening
    assert run.daemon.policy_state.tracks[key].episode_id == episode
    assert run.daemon.stats.events["MarkPrices"] > 0


async def test_stalled_feed_raises_stale_then_recovered(
    sim: SimExchange, start_daemon: StartDaemon, dialect: VenueCase
) -> None:
    run = await start_daemon(
        sim, policy=fast_policy(marks_ms=600, symbol_mark_ms=600), staleness_check_seconds=0.1
    )
    await run.tick()
    key = keys.stream_stale(f"{dialect.venue}:marks")
    await run.until(lambda: bool(run.alerts.of(key)), within=5, what="stale alert")
    stale = run.alerts.of(key)[0]
    assert stale.kind is AlertKind.STALE and stale.level is Level.DANGER
    await run.tick()
    await run.until(
        lambda: any(a.kind is AlertKind.RECOVERED for a in run.alerts.of(key)), within=5, what="recovery"
    )


async def test_listen_key_expiry_is_renewed_and_resynced(
    sim: SimExchange, start_daemon: StartDaemon, dialect: VenueCase
) -> None:
    """ccxt has no handler for listenKeyExpired; the daemon reads the raw event, takes a new key,
    resubscribes and resyncs over REST."""
    if not dialect.listen_keys:
        pytest.skip(f"{dialect.venue}'s private stream has no listen key (a signed login instead)")
    run = await start_daemon(sim)
    old_key = sim.listen_key("main")
    snapshots = run.daemon.stats.events["AccountSnapshotEvent"]
    await sim.expire_listen_key("main")
    await run.until(lambda: sim.listen_key("main") not in (None, old_key), within=10, what="new listen key")
    await run.until(lambda: run.daemon.stats.events["AccountSnapshotEvent"] > snapshots, what="resync")
    await run.until(lambda: f"{dialect.venue}:main:user" in run.daemon.connected, what="resubscribed")


async def test_silent_user_stream_raises_stale_within_the_threshold(
    sim: SimExchange, start_daemon: StartDaemon, dialect: VenueCase
) -> None:
    """When the key cannot be renewed the user stream stays silent: staleness must say so within its
    threshold, and recovery must follow once the exchange answers again."""
    if not dialect.listen_keys:
        pytest.skip(f"{dialect.venue}'s private stream has no listen key (a signed login instead)")
    run = await start_daemon(sim, policy=fast_policy(user_ms=1_000), staleness_check_seconds=0.1)
    sim.faults.fail_rest(times=10_000, path_prefix=f"{dialect.rest}/listenKey")
    await sim.expire_listen_key("main")
    key = keys.stream_stale(f"{dialect.venue}:main:user")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await run.until(lambda: bool(run.alerts.of(key)), within=5, what="user stream stale alert")
    assert loop.time() - t0 <= 1.0 + 0.5  # threshold plus one check interval and scheduling slack
    assert run.alerts.of(key)[0].kind is AlertKind.STALE
    assert f"{dialect.venue}:main:user" not in run.daemon.connected
    sim.faults.clear()
    await run.until(
        lambda: any(a.kind is AlertKind.RECOVERED for a in run.alerts.of(key)),
        within=40,
        what="user stream recovered",
    )


async def test_hostile_frames_are_rejected_and_never_fresh(
    sim: SimExchange, start_daemon: StartDaemon, dialect: VenueCase
) -> None:
    from monitor.sim.scenarios import hostile_frames

    venue, cross = dialect.venue, dialect.cross
    if dialect.marks_polled:
        pytest.skip(f"{venue}'s marks are polled over REST: no market socket to send frames on")
    run = await start_daemon(sim)
    await run.tick()
    fresh_before = run.daemon.freshness[f"{venue}:marks"]
    marks_before = dict(run.daemon.engine.marks[venue])
    frames = hostile_frames(sim.ledger.marks, 0)
    for text in frames:
        await sim.send_raw_market(text)
    # every frame refused (control-like frames may be ignored), and nothing of them applied. The
    # frames are Binance-shaped: ccxt's bitget ignores JSON of no Bitget channel without error, and
    # only the undecodable ones reach the adapter's rejection count
    refused = 1 if venue == "bitget" else len(frames) - 2
    await run.until(lambda: sum(run.daemon.stats.rejected.values()) >= refused, what="the frames refused")
    await run.settle()
    assert run.daemon.freshness[f"{venue}:marks"] == fresh_before
    assert run.daemon.engine.marks[venue] == marks_before
    # the client is still reading: a valid tick after all of that is applied
    btc = marks_before[cross.unified]
    await run.tick({cross.symbol: btc * 1.01})
    assert abs(run.daemon.engine.marks[venue][cross.unified] - btc * 1.01) <= 1e-9 * btc
    assert run.daemon.freshness[f"{venue}:marks"] > fresh_before


async def test_restart_neither_forgets_nor_repeats(
    sim: SimExchange, start_daemon: StartDaemon, dialect: VenueCase, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    iso = dialect.isolated
    state = tmp_path / "restart.sqlite3"
    run = await start_daemon(sim, state_file=state)
    lp = liq(run.daemon.engine.risks, iso.account, iso.unified)
    assert lp is not None
    await run.tick({iso.symbol: lp * 1.03})
    key = keys.position_risk(iso.account, iso.unified, "both")
    episode = run.alerts.of(key)[-1].episode_id
    await run.daemon.stop()
    again = await start_daemon(sim, state_file=state)
    await again.tick({iso.symbol: lp * 1.03})
    assert not [a for a in again.alerts.of(key) if a.transition is Transition.OPENED]
    assert again.daemon.policy_state.tracks[key].episode_id == episode
    assert again.daemon.policy_state.tracks[key].subject.margin_mode in (
        None,
        MarginMode.ISOLATED.value,
        "isolated",
    )


async def test_a_fill_reaches_the_daemons_pool_from_the_stream_alone(
    sim: SimExchange,
    start_daemon: StartDaemon,
    dialect: VenueCase,
    make_ccxt_for: Any,
) -> None:
    """An order placed elsewhere (another client of the account) changes the wallet by its fee and the
    position by its size: the user stream alone must bring the daemon's pool to the exchange's."""
    if not dialect.pushes_carry_positions:
        pytest.skip(f"{dialect.venue}'s pushes are triggers: a REST read of the account follows each one")
    cross = dialect.cross
    run = await start_daemon(sim)
    await run.tick()
    snapshots = run.daemon.stats.events["AccountSnapshotEvent"]
    client = make_ccxt_for(sim, "trader")
    await client.load_markets()
    price = sim.ledger.marks[cross.symbol] if dialect.market_needs_price else None
    await client.create_order(
        cross.unified, "market", "buy", dialect.lot, price, {"newOrderRespType": "RESULT"}
    )
    theirs = sim.ledger.cross_pool("trader")
    await run.until(
        lambda: any(p.symbol == cross.unified for p in run.daemon.engine.risks["trader"].positions),
        what="the new position",
    )
    await run.tick()
    assert run.daemon.stats.events["AccountSnapshotEvent"] == snapshots  # no resync helped
    ours = run.daemon.engine.risks["trader"].cross
    assert ours is not None
    # the wire carries the wallet to 8 decimals (half a unit off at most: a coin's pool is near 1)
    assert abs(ours.equity - theirs.equity) <= max(5e-9, 1e-9 * abs(theirs.equity)), (ours, theirs)


async def test_an_account_without_positions_is_resynced_like_any_other(
    sim: SimExchange,
    start_daemon: StartDaemon,
    dialect: VenueCase,
    make_ccxt_for: Any,
) -> None:
    """Once ``trader`` holds nothing (closed by another client of the account), a reconnect must
    still resync it and declare its stream live."""
    run = await start_daemon(sim)
    legs = sim.ledger.account("trader").open_legs()
    if legs:  # closed through another client of the account (``small``'s trader starts flat)
        client = make_ccxt_for(sim, "trader")
        await client.load_markets()
        adapter = run.daemon.adapters[next(iter(run.daemon.adapters))]
        for leg in legs:
            symbol = adapter.symbols[sim.dialect.market_id(sim.ledger.specs[leg.symbol])]  # type: ignore[attr-defined]
            side = "sell" if leg.amount > 0 else "buy"
            price = sim.ledger.marks[leg.symbol] if dialect.market_needs_price else None
            await client.create_order(symbol, "market", side, abs(leg.amount), price, {"reduceOnly": True})
    assert not sim.ledger.account("trader").open_legs()
    await sim.drop_connections()
    stream = f"{dialect.venue}:trader:user"
    await run.until(lambda: stream not in run.daemon.connected, what="the drop seen")
    await run.until(lambda: stream in run.daemon.connected, within=5, what="trader's stream resynced")


async def test_the_first_snapshot_is_judged_at_the_venues_contract_sizes(
    sim: SimExchange, start_daemon: StartDaemon, dialect: VenueCase
) -> None:
    """The adapter's first snapshot arrives while it starts, before the daemon holds its market list.
    Judged then, a position counted in contracts (Gate: 0.001 BTC each) reads as that many coins.
    The marks do not move here: every evaluation of the cross leg, the first included, gives the
    liquidation price the exchange gives."""
    run = await start_daemon(sim)
    await run.settle()
    cross = dialect.cross
    seen = run.log.history[cross.account, cross.unified, "both"]
    theirs = next(
        leg.liquidation_price for leg in sim.ledger.risk(cross.account).legs if leg.symbol == cross.symbol
    )
    assert theirs is not None
    assert [s.liquidation_price for s in seen] == pytest.approx([theirs] * len(seen), rel=1e-6)
