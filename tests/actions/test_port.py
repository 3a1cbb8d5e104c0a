"""The ActionPort the Telegram buttons use: previews from a fresh read with the margin engine's numbers,
confirmations that refuse when the position changed, and suggest mode."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from monitor.actions.journal import EntryState
from monitor.actions.settings import Caps, DeriskSettings, Mode, Targets
from monitor.alerts import AlertKind
from monitor.margin.account import evaluate_account
from monitor.notify.ports import ActionKind, ActionRequest, ActionStatus
from monitor.sim.book import ISOLATED, AccountSeed, Book
from monitor.sim.ledger import BOTH

from .conftest import BTC, ETH, SOL, RigFactory, make_book, seed


def book(wallet: float = 10_000.0) -> Book:
    return make_book(
        AccountSeed("acct", wallet, (seed("BTCUSDT", 0.5, 60_000.0),)),
        AccountSeed("iso", 5_000.0, (seed("SOLUSDT", 100.0, 150.0, margin_mode=ISOLATED, leverage=10),)),
    )


def suggest(**changes: Any) -> DeriskSettings:
    base: dict[str, Any] = {
        "modes": {"acct": Mode.SUGGEST, "iso": Mode.SUGGEST},
        "dry_run": False,
        "caps": Caps(cooldown_s=0),
    }
    base.update(changes)
    return DeriskSettings(**base)


async def test_reduce_preview_matches_the_margin_engine_and_then_the_exchange(rig: RigFactory) -> None:
    r = await rig(book(), suggest())
    r.sim.set_mark("BTCUSDT", 58_000)
    await r.publish()
    request = ActionRequest("acct", BTC, "both", ActionKind.REDUCE, fraction=0.25)
    preview = await r.derisking.actions.preview(request)
    assert preview.ok, preview.message
    assert (preview.size, preview.amount, preview.dry_run) == (0.5, 0.125, False)

    # by hand, from the daemon's own view: 0.125 closed at the mark, PnL and fee into the wallet
    view = r.daemon.engine.account_view("acct")
    assert view is not None
    (btc,) = view.positions
    fill_pnl, fee = 0.125 * (58_000 - 60_000), 0.125 * 58_000 * 0.0005
    after_view = replace(
        view, wallet_balance=view.wallet_balance + fill_pnl - fee, positions=(replace(btc, contracts=0.375),)
    )
    before, after = evaluate_account(view), evaluate_account(after_view)
    assert before.cross is not None and after.cross is not None
    assert preview.margin_ratio_before == pytest.approx(before.cross.margin_ratio, rel=1e-12)
    assert preview.margin_ratio_after == pytest.approx(after.cross.margin_ratio, rel=1e-12)
    assert preview.liquidation_price_before == pytest.approx(before.positions[0].liquidation_price, rel=1e-12)
    assert preview.liquidation_price_after == pytest.approx(after.positions[0].liquidation_price, rel=1e-12)
    assert preview.liquidation_price_after < preview.liquidation_price_before  # type: ignore[operator]

    result = await r.derisking.actions.execute(request, preview.size, by_user=42)
    assert result.status is ActionStatus.DONE, result.message
    acct = r.sim.ledger.account("acct")
    leg = acct.legs["BTCUSDT", BOTH]
    assert leg.amount == pytest.approx(0.375)
    # the exchange's own figures after the fill agree with what the preview promised
    assert r.sim.ledger.liquidation_price(acct, leg) == pytest.approx(
        preview.liquidation_price_after, rel=1e-6
    )
    assert r.sim.ledger.cross_pool(acct).ratio == pytest.approx(preview.margin_ratio_after, rel=1e-6)
    (row,) = r.gateway.journal.entries("acct")
    assert (row.origin, row.by_user, row.state) == ("manual", 42, EntryState.FILLED)


async def test_add_margin_preview_matches_the_engine_and_the_exchange(rig: RigFactory) -> None:
    r = await rig(book(), suggest())
    r.sim.set_mark("SOLUSDT", 140)
    await r.publish()
    request = ActionRequest("iso", SOL, "both", ActionKind.ADD_MARGIN, fraction=0.5)
    preview = await r.derisking.actions.preview(request)
    assert preview.ok, preview.message
    assert (preview.size, preview.amount) == (100, 750)  # half of the 1,500 isolated wallet
    view = r.daemon.engine.account_view("iso")
    assert view is not None
    (sol,) = view.positions
    moved = replace(
        view, wallet_balance=view.wallet_balance - 750, positions=(replace(sol, isolated_wallet=2_250),)
    )
    before, after = evaluate_account(view).positions[0], evaluate_account(moved).positions[0]
    assert preview.margin_ratio_before == pytest.approx(before.margin_ratio, rel=1e-12)
    assert preview.margin_ratio_after == pytest.approx(after.margin_ratio, rel=1e-12)
    assert preview.liquidation_price_before == pytest.approx(before.liquidation_price, rel=1e-12)
    assert preview.liquidation_price_after == pytest.approx(after.liquidation_price, rel=1e-12)

    result = await r.derisking.actions.execute(request, preview.size, by_user=42)
    assert result.status is ActionStatus.DONE, result.message
    acct = r.sim.ledger.account("iso")
    leg = acct.legs["SOLUSDT", BOTH]
    assert leg.isolated_wallet == pytest.approx(2_250)
    assert r.sim.ledger.liquidation_price(acct, leg) == pytest.approx(
        preview.liquidation_price_after, rel=1e-6
    )


async def test_execute_refuses_when_the_live_size_changed(rig: RigFactory) -> None:
    r = await rig(book(), suggest())
    request = ActionRequest("acct", BTC, "both", ActionKind.CLOSE, fraction=1.0)
    preview = await r.derisking.actions.preview(request)
    assert preview.ok and preview.size == 0.5 and preview.amount == 0.5
    # meanwhile, someone trades the position on the exchange
    r.sim.ledger.place_market_order("acct", "BTCUSDT", "SELL", 0.1, reduce_only=True)
    result = await r.derisking.actions.execute(request, preview.size, by_user=42)
    assert result.status is ActionStatus.REFUSED
    assert "changed from 0.5 to 0.4" in result.message
    assert r.order_requests() == []
    assert r.sim.ledger.account("acct").legs["BTCUSDT", BOTH].amount == pytest.approx(0.4)
    unconfirmed = await r.derisking.actions.execute(request, None, by_user=42)
    assert unconfirmed.status is ActionStatus.REFUSED
    fresh = await r.derisking.actions.preview(request)
    assert fresh.size == pytest.approx(0.4)
    assert (await r.derisking.actions.execute(request, fresh.size, by_user=42)).status is ActionStatus.DONE
    assert r.sim.ledger.account("acct").legs["BTCUSDT", BOTH].amount == 0


async def test_previews_say_why_not(rig: RigFactory) -> None:
    r = await rig(book(), suggest(modes={"acct": Mode.SUGGEST, "iso": Mode.OFF}))
    port = r.derisking.actions
    off = await port.preview(ActionRequest("iso", SOL, "both", ActionKind.ADD_MARGIN, fraction=0.5))
    assert not off.ok and "off" in off.message
    flat = await port.preview(ActionRequest("acct", ETH, "both", ActionKind.REDUCE, fraction=0.5))
    assert not flat.ok and "no open" in flat.message
    cross = await port.preview(ActionRequest("acct", BTC, "both", ActionKind.ADD_MARGIN, fraction=0.5))
    assert not cross.ok and "isolated" in cross.message
    assert r.order_requests() == []


async def test_dry_run_execute_journals_and_sends_nothing(rig: RigFactory) -> None:
    r = await rig(book(), suggest(dry_run=True))
    request = ActionRequest("acct", BTC, "both", ActionKind.REDUCE, fraction=0.5)
    preview = await r.derisking.actions.preview(request)
    assert preview.ok and preview.dry_run
    result = await r.derisking.actions.execute(request, preview.size, by_user=42)
    assert result.status is ActionStatus.DRY_RUN and "would" in result.message
    assert r.order_requests() == []
    (row,) = r.gateway.journal.entries()
    assert (row.state, row.amount, row.by_user) == (EntryState.DRY_RUN, 0.25, 42)


async def test_suggest_mode_announces_the_plan_and_sends_nothing(rig: RigFactory) -> None:
    s = suggest(
        modes={"acct": Mode.SUGGEST},
        caps=Caps(cooldown_s=3_600),
        targets=Targets(cross_trigger_ratio=0.12, cross_target_ratio=0.1),
    )
    r = await rig(book(wallet=1_000), s)  # ratio about 0.15: over the trigger
    await r.publish()
    await r.publish()
    suggestions = [a for a in r.alerts if a.kind is AlertKind.ACTION and a.key == "suggest:acct"]
    assert len(suggestions) == 1  # once per cool-down
    (alert,) = suggestions
    assert "Suggested" in alert.message and "reduce BTC/USDT:USDT" in alert.message
    assert alert.facts["mode"] == "suggest" and alert.facts["action"] == "reduce"
    assert alert.symbol == BTC
    assert r.order_requests() == [] and r.gateway.journal.entries() == []
