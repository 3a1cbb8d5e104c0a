"""The gateway's reduce-only orders and margin transfers on every simulator dialect (the contract
suite's order part): through the daemon's real adapter and ccxt client for that venue, on the
dialect's ``small`` book (``tests/dialect_cases``)."""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.async_support as ccxt
import pytest

from monitor.actions.gateway import Intent, IntentKind, Outcome
from monitor.actions.settings import Anomalies, Caps, DeriskSettings, Mode
from monitor.model import PositionSide, Venue
from monitor.sim.exchange import SimExchange
from monitor.sim.ledger import BOTH, LONG, SHORT
from monitor.venues.registry import margin_transfers_refused
from tests.dialect_cases import CASES, VenueCase

from .conftest import Rig, RigFactory


def live(sim: SimExchange) -> DeriskSettings:
    return DeriskSettings(
        modes=dict.fromkeys(sim.accounts, Mode.AUTO),
        dry_run=False,
        caps=Caps(cooldown_s=0, max_actions_per_hour=100, max_fraction=1.0),
        anomalies=Anomalies(lookup_delay_s=0.02, order_settle_s=0.3, lookup_attempts=3),
    )


def amount(r: Rig, account: str, symbol: str, side: str = BOTH) -> float:
    """The leg's amount in the venue's unit (the adapter's and the gateway's)."""
    unit = CASES[r.sim.dialect.name].ledger_units.get(symbol, 1.0)
    return r.sim.ledger.account(account).legs[symbol, side].amount / unit


async def test_a_reduce_only_order_reduces_and_never_flips(
    rig: RigFactory, venue_sim: SimExchange, dialect: VenueCase
) -> None:
    r = await rig(venue_sim, live(venue_sim))
    cross = dialect.cross
    held = amount(r, cross.account, cross.symbol)
    half = Intent(cross.account, cross.unified, PositionSide.BOTH, IntentKind.REDUCE, fraction=0.5)
    result = await r.gateway.submit(half)
    assert result.outcome is Outcome.FILLED, result.message
    assert amount(r, cross.account, cross.symbol) == pytest.approx(held - result.filled)
    assert 0 < result.filled <= held / 2
    close = Intent(cross.account, cross.unified, PositionSide.BOTH, IntentKind.CLOSE)
    assert (await r.gateway.submit(close)).outcome is Outcome.FILLED
    assert amount(r, cross.account, cross.symbol) == 0
    orders = [o for o in r.orders(cross.account) if o.symbol == cross.symbol]
    assert [(o.side, o.reduce_only) for o in orders] == [("SELL", True), ("SELL", True)]


async def test_hedge_mode_orders_name_the_leg_and_only_reduce_it(
    rig: RigFactory, venue_sim: SimExchange, dialect: VenueCase
) -> None:
    if not dialect.hedge_mode:
        pytest.skip(f"{dialect.venue} has no hedge mode")
    r = await rig(venue_sim, live(venue_sim))
    hedge = dialect.hedge
    long_before = amount(r, hedge.account, hedge.symbol, LONG)
    short = Intent(hedge.account, hedge.unified, PositionSide.SHORT, IntentKind.CLOSE)
    result = await r.gateway.submit(short)
    assert result.outcome is Outcome.FILLED, result.message
    assert amount(r, hedge.account, hedge.symbol, SHORT) == 0
    assert amount(r, hedge.account, hedge.symbol, LONG) == long_before
    orders = r.orders(hedge.account)
    assert [(o.side, o.position_side, o.reduce_only) for o in orders] == [("BUY", "SHORT", True)]


async def test_the_exchange_refuses_any_order_that_is_not_reduce_only(
    rig: RigFactory, venue_sim: SimExchange, dialect: VenueCase
) -> None:
    if not dialect.ccxt:
        pytest.skip(f"no ccxt client speaks {dialect.venue}: its adapter's own tests send these orders")
    r = await rig(venue_sim, live(venue_sim))
    cross = dialect.cross
    client = r.daemon.adapters[Venue(dialect.venue)].client_for(cross.account)  # type: ignore[attr-defined]
    held = amount(r, cross.account, cross.symbol)
    refusal, code = getattr(ccxt, dialect.not_reduce_only[0]), dialect.not_reduce_only[1]
    price = r.sim.ledger.marks[cross.symbol] if dialect.market_needs_price else None
    with pytest.raises(refusal, match=code):
        await client.create_order(cross.unified, "market", "buy", dialect.lot, price, {"reduceOnly": True})
    with pytest.raises(refusal, match=code):
        await client.create_order(cross.unified, "market", "sell", dialect.lot, price)  # reduces, not flagged
    assert amount(r, cross.account, cross.symbol) == held


async def test_margin_transfer_with_exact_amount_and_proof(
    rig: RigFactory, venue_sim: SimExchange, dialect: VenueCase
) -> None:
    r = await rig(venue_sim, live(venue_sim))
    iso, cross = dialect.isolated, dialect.cross
    leg = r.sim.ledger.account(iso.account).legs[iso.symbol, BOTH]
    before = leg.isolated_wallet
    add = Intent(iso.account, iso.unified, PositionSide.BOTH, IntentKind.ADD_MARGIN, amount=dialect.transfer)
    result = await r.gateway.submit(add)
    refused = margin_transfers_refused(dialect.venue)
    if refused:  # BloFin: no API for it; refused before anything is sent, saying why
        assert result.outcome is Outcome.REFUSED and refused in result.message
        assert leg.isolated_wallet == before
        assert not [req for req in r.sim.rest.requests if req[0] == "POST"]
        return
    assert result.outcome is Outcome.DONE, result.message
    assert leg.isolated_wallet == pytest.approx(before + dialect.transfer, rel=1e-12)
    assert result.impact is not None
    after_lp, before_lp = result.impact.after.liquidation_price, result.impact.before.liquidation_price
    assert after_lp is not None and before_lp is not None and after_lp < before_lp  # a long: further
    refused = await r.gateway.submit(
        Intent(
            cross.account, cross.unified, PositionSide.BOTH, IntentKind.ADD_MARGIN, amount=dialect.transfer
        )
    )
    assert refused.outcome is Outcome.REFUSED and "isolated" in refused.message


async def test_a_timed_out_transfer_is_proved_from_the_wallet_not_repeated(
    rig: RigFactory, venue_sim: SimExchange, dialect: VenueCase
) -> None:
    if margin_transfers_refused(dialect.venue):
        pytest.skip(f"{dialect.venue} has no margin-transfer route to time out")
    r = await rig(venue_sim, live(venue_sim))
    iso = dialect.isolated
    r.daemon.adapters[Venue(dialect.venue)].client_for(iso.account).timeout = 150  # type: ignore[attr-defined]
    route = ("POST", f"{dialect.rest}{dialect.margin_path}")
    security, handler = r.sim.rest.routes[route]

    async def executed_then_late(call: Any) -> Any:
        result = await handler(call)
        await asyncio.sleep(0.35)
        return result

    r.sim.rest.routes[route] = (security, executed_then_late)
    leg = r.sim.ledger.account(iso.account).legs[iso.symbol, BOTH]
    before = leg.isolated_wallet
    add = Intent(iso.account, iso.unified, PositionSide.BOTH, IntentKind.ADD_MARGIN, amount=dialect.transfer)
    result = await r.gateway.submit(add)
    assert result.outcome is Outcome.DONE, result.message
    assert result.entry_id is not None
    detail = r.gateway.journal.get(result.entry_id).detail
    assert "RequestTimeout" in detail and "isolated wallet shows the transfer" in detail
    assert leg.isolated_wallet == pytest.approx(before + dialect.transfer, rel=1e-12)  # once
    assert r.sim.rest.requests.count(route) == 1
