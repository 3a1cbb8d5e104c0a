"""The order gateway against the simulator: journal before send, look-ups instead of resends, restarts,
caps, halts, reduce-only. Faults are the simulator's own (failed or slow REST calls) or a process that
stops at a chosen point, as a crash would stop it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
import pytest

from monitor.actions.gateway import Intent, IntentKind, Origin, Outcome
from monitor.actions.journal import EntryState, Journal, TradingState
from monitor.actions.settings import Anomalies, Caps, DeriskSettings, Mode, Targets
from monitor.alerts import AlertKind, Level
from monitor.daemon.store import open_db
from monitor.model import PositionSide
from monitor.notify.ports import ActionKind, ActionRequest, ActionStatus
from monitor.policy.settings import PolicyConfig, StalenessConfig
from monitor.sim.book import ISOLATED, AccountSeed, Book
from monitor.sim.exchange import SimExchange
from monitor.sim.ledger import BOTH, LONG, SHORT

from .conftest import BTC, SOL, USDM, Rig, RigFactory, make_book, seed, wait_until

ORDER = ("POST", "/fapi/v1/order")


def one_btc_book(wallet: float = 10_000.0) -> Book:
    return make_book(
        AccountSeed("acct", wallet, (seed("BTCUSDT", 0.5, 60_000.0),)),
        AccountSeed(
            "hedged",
            5_000.0,
            (
                seed("BTCUSDT", 0.2, 60_000.0, position_side=LONG),
                seed("BTCUSDT", -0.1, 60_000.0, position_side=SHORT),
            ),
            hedge_mode=True,
        ),
        AccountSeed("iso", 5_000.0, (seed("SOLUSDT", 100.0, 150.0, margin_mode=ISOLATED, leverage=10),)),
    )


FAST = Anomalies(lookup_delay_s=0.02, order_settle_s=0.3, lookup_attempts=3)


def live(modes: dict[str, Mode] | None = None, **changes: Any) -> DeriskSettings:
    base: dict[str, Any] = {
        "modes": modes or {"acct": Mode.AUTO, "hedged": Mode.AUTO, "iso": Mode.AUTO},
        "dry_run": False,
        "caps": Caps(cooldown_s=0, max_actions_per_hour=100, max_fraction=1.0),
        "anomalies": FAST,
    }
    base.update(changes)
    return DeriskSettings(**base)


def reduce(amount: float, account: str = "acct", **kw: Any) -> Intent:
    return Intent(account, BTC, PositionSide.BOTH, IntentKind.REDUCE, amount=amount, **kw)


def sent(r: Rig) -> int:
    return r.sim.rest.requests.count(ORDER)


class Proxy:
    """The real venue adapter, with one method replaced: how a test stops the process at a chosen
    point, as a crash would (the exchange itself is untouched)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class DiesBeforeSend(Proxy):
    async def create_reduce_only_market(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.Event().wait()  # the row is journaled; the process never gets further


class DiesAfterSend(Proxy):
    async def create_reduce_only_market(self, *args: Any, **kwargs: Any) -> Any:
        await self._inner.create_reduce_only_market(*args, **kwargs)
        await asyncio.Event().wait()  # sent and filled; the answer is never recorded


def late_order_replies(
    sim: SimExchange, delay: float, then_stall: bool = False, path: str = "/fapi/v1/order"
) -> None:
    """The exchange executes orders (or transfers, by ``path``) at once but its reply arrives ``delay``
    s later, after the client gave up; with ``then_stall`` every later request is that slow too."""
    route = ("POST", path)
    security, handler = sim.rest.routes[route]

    async def executed_then_late(call: Any) -> Any:
        result = await handler(call)
        if then_stall:
            sim.faults.rest_delay = delay
        await asyncio.sleep(delay)
        return result

    sim.rest.routes[route] = (security, executed_then_late)


# --- crash and restart ----------------------------------------------------------------------------


def triggered_settings() -> DeriskSettings:
    """0.5 BTC at 60k on 1,000: ratio about 0.15 at the start; one order brings it under 0.1."""
    return live(
        {"acct": Mode.AUTO},
        caps=Caps(cooldown_s=3_600, max_fraction=0.5),
        targets=Targets(cross_trigger_ratio=0.12, cross_target_ratio=0.1),
    )


async def test_crash_between_journal_and_send_then_restart_sends_exactly_one_order(
    rig: RigFactory, tmp_path: Path
) -> None:
    sim = SimExchange(one_btc_book(wallet=1_000), clock=False)
    await sim.start()
    try:
        state = tmp_path / "state.sqlite3"
        first = await rig(sim, triggered_settings(), state_file=state)
        first.gateway.venues[USDM] = DiesBeforeSend(first.gateway.venues[USDM])
        await sim.publish_marks()
        await wait_until(lambda: first.gateway.journal.pending())
        (row,) = first.gateway.journal.pending()
        await first.stop()  # the crash: the row says "sending", nothing was sent
        assert row.state is EntryState.SENDING and sent(first) == 0

        second = await rig(sim, triggered_settings(), state_file=state)
        resolved = second.gateway.journal.get(row.id)
        assert resolved.state is EntryState.ABANDONED  # looked up, not found, position unchanged
        assert row.client_id not in sim.ledger.account("acct").client_ids
        await second.publish()  # still over its trigger: the de-risker acts again, once
        orders = second.orders("acct")
        assert len(orders) == 1 and sent(second) == 1
        filled = [e for e in second.gateway.journal.entries("acct") if e.state is EntryState.FILLED]
        assert [e.client_id for e in filled] == [orders[0].client_order_id]
        assert orders[0].reduce_only and orders[0].side == "SELL"
    finally:
        await sim.stop()


async def test_crash_after_send_is_resolved_by_lookup_never_resent(rig: RigFactory, tmp_path: Path) -> None:
    sim = SimExchange(one_btc_book(wallet=1_000), clock=False)
    await sim.start()
    try:
        state = tmp_path / "state.sqlite3"
        first = await rig(sim, triggered_settings(), state_file=state)
        first.gateway.venues[USDM] = DiesAfterSend(first.gateway.venues[USDM])
        await sim.publish_marks()
        await wait_until(lambda: len(first.orders("acct")) == 1)
        await first.stop()
        (row,) = Journal(open_db(state)).pending()

        second = await rig(sim, triggered_settings(), state_file=state)
        resolved = second.gateway.journal.get(row.id)
        assert resolved.state is EntryState.FILLED and resolved.detail == "found by client id"
        assert resolved.filled == pytest.approx(second.orders("acct")[0].executed_qty)
        recovered = [a for a in second.alerts if a.kind is AlertKind.ACTION]
        assert recovered and "recovered at start" in recovered[0].message
        await second.publish()
        assert len(second.orders("acct")) == 1 and sent(second) == 1
    finally:
        await sim.stop()


# --- timeouts and errors --------------------------------------------------------------------------


async def test_a_timed_out_order_is_looked_up_by_client_id(rig: RigFactory) -> None:
    r = await rig(one_btc_book(), live(anomalies=Anomalies(lookup_delay_s=0.05, order_settle_s=1.0)))
    r.daemon.adapters[USDM].client_for("acct").timeout = 150  # type: ignore[attr-defined]
    late_order_replies(r.sim, 0.35)
    result = await r.gateway.submit(reduce(0.1))
    assert result.outcome is Outcome.FILLED, result.message
    assert result.filled == pytest.approx(0.1)
    (order,) = r.orders("acct")
    assert order.client_order_id == result.client_id
    assert sent(r) == 1  # looked up, never sent again
    assert r.sim.ledger.account("acct").legs["BTCUSDT", BOTH].amount == pytest.approx(0.4)
    assert r.gateway.state is TradingState.ACTIVE


async def test_an_error_then_not_found_is_not_sent_and_not_resent(rig: RigFactory) -> None:
    r = await rig(one_btc_book(), live())
    r.sim.faults.fail_rest(times=1, status=503, code=-1000, path_prefix="/fapi/v1/order")
    result = await r.gateway.submit(reduce(0.1))
    assert result.outcome is Outcome.NOT_SENT, result.message
    assert sent(r) == 1 and r.orders("acct") == []
    (row,) = r.gateway.journal.entries()
    assert row.state is EntryState.NOT_SENT and "position unchanged" in row.detail


async def test_an_order_whose_outcome_stays_unknown_halts(rig: RigFactory) -> None:
    r = await rig(one_btc_book(), live())
    r.daemon.adapters[USDM].client_for("acct").timeout = 100  # type: ignore[attr-defined]
    late_order_replies(r.sim, 0.3, then_stall=True)  # executed; then no answer to anything
    try:
        result = await r.gateway.submit(reduce(0.1))
    finally:
        r.sim.faults.rest_delay = 0.0
    assert result.outcome is Outcome.UNKNOWN
    assert r.gateway.state is TradingState.HALTED
    assert any(a.level is Level.CRITICAL and a.key == "action:halt" for a in r.alerts)
    (row,) = r.gateway.journal.entries()
    assert row.state is EntryState.UNKNOWN
    again = await r.gateway.submit(reduce(0.1))
    assert again.outcome is Outcome.REFUSED and "halted" in again.message
    assert len(r.orders("acct")) == 1  # it had executed: assuming "not sent" would have been wrong


async def test_repeated_rejects_halt(rig: RigFactory) -> None:
    r = await rig(one_btc_book(), live(anomalies=Anomalies(max_rejects=3)))
    r.sim.faults.fail_rest(
        times=3, status=400, code=-2022, msg="ReduceOnly Order is rejected.", path_prefix="/fapi/v1/order"
    )
    outcomes = [(await r.gateway.submit(reduce(0.01))).outcome for _ in range(3)]
    assert outcomes == [Outcome.REJECTED] * 3
    assert r.gateway.state is TradingState.HALTED and "3 rejected" in r.gateway.state_record.reason
    assert r.orders("acct") == []
    r.gateway.resume(by="test")
    assert (
        await r.gateway.submit(reduce(0.01))
    ).outcome is Outcome.FILLED  # failures before resume are forgiven


async def test_stale_data_halts(rig: RigFactory) -> None:
    policy = PolicyConfig(staleness=StalenessConfig(marks_ms=300, symbol_mark_ms=300))
    r = await rig(one_btc_book(), live(), policy=policy)
    await r.publish()
    assert (await r.gateway.submit(reduce(0.01))).outcome is Outcome.FILLED
    await asyncio.sleep(0.4)  # no mark for longer than the threshold
    result = await r.gateway.submit(reduce(0.01))
    assert result.outcome is Outcome.REFUSED and "stale" in result.message
    assert r.gateway.state is TradingState.HALTED
    assert len(r.orders("acct")) == 1


# --- trading state, modes, caps -------------------------------------------------------------------


async def test_halted_refuses_everything_and_survives_a_restart(rig: RigFactory, tmp_path: Path) -> None:
    r = await rig(one_btc_book(), live({"acct": Mode.AUTO, "iso": Mode.SUGGEST}))
    r.gateway.halt("test", by="user 1")
    port = r.derisking.actions
    assert (await r.gateway.submit(reduce(0.1))).outcome is Outcome.REFUSED
    manual = Intent("iso", SOL, PositionSide.BOTH, IntentKind.CLOSE, origin=Origin.MANUAL, expected_size=100)
    assert (await r.gateway.submit(manual)).outcome is Outcome.REFUSED
    request = ActionRequest("iso", SOL, "both", ActionKind.ADD_MARGIN, fraction=0.5)
    preview = await port.preview(request)
    assert not preview.ok and "halted" in preview.message
    assert (await port.execute(request, 100.0, by_user=1)).status is ActionStatus.REFUSED
    assert r.order_requests() == []

    again = Journal(open_db(tmp_path / "state.sqlite3")).load_state()
    assert again.state is TradingState.HALTED and again.changed_by == "user 1"
    r.gateway.resume(by="user 1")
    assert Journal(open_db(tmp_path / "state.sqlite3")).load_state().state is TradingState.ACTIVE
    assert (await r.gateway.submit(reduce(0.1))).outcome is Outcome.FILLED


async def test_reducing_state_allows_orders_but_no_transfers(rig: RigFactory) -> None:
    r = await rig(one_btc_book(), live())
    r.gateway.set_reducing("drill", by="test")
    margin = Intent("iso", SOL, PositionSide.BOTH, IntentKind.ADD_MARGIN, amount=10)
    assert (await r.gateway.submit(margin)).outcome is Outcome.REFUSED
    assert (await r.gateway.submit(reduce(0.1))).outcome is Outcome.FILLED


async def test_modes_gate_who_may_act(rig: RigFactory) -> None:
    r = await rig(one_btc_book(), live({"acct": Mode.SUGGEST, "iso": Mode.OFF}))
    auto = await r.gateway.submit(reduce(0.1))
    assert auto.outcome is Outcome.REFUSED and "suggest mode" in auto.message
    manual = await r.gateway.submit(reduce(0.1, origin=Origin.MANUAL, expected_size=0.5))
    assert manual.outcome is Outcome.FILLED
    off = Intent("iso", SOL, PositionSide.BOTH, IntentKind.CLOSE, origin=Origin.MANUAL, expected_size=100)
    result = await r.gateway.submit(off)
    assert result.outcome is Outcome.REFUSED and "off" in result.message
    assert len(r.orders("acct")) == 1 and r.orders("iso") == []


async def test_the_cooldown_is_per_leg(rig: RigFactory) -> None:
    r = await rig(one_btc_book(), live(caps=Caps(cooldown_s=3_600, max_fraction=1.0)))
    long = Intent("hedged", BTC, PositionSide.LONG, IntentKind.REDUCE, amount=0.01)
    short = Intent("hedged", BTC, PositionSide.SHORT, IntentKind.REDUCE, amount=0.01)
    assert (await r.gateway.submit(long)).outcome is Outcome.FILLED
    assert (await r.gateway.submit(short)).outcome is Outcome.FILLED  # the other leg
    again = await r.gateway.submit(long)
    assert again.outcome is Outcome.REFUSED and "cool-down" in again.message
    margin = Intent("iso", SOL, PositionSide.BOTH, IntentKind.ADD_MARGIN, amount=10)
    assert (await r.gateway.submit(margin)).outcome is Outcome.DONE
    reduce_after = Intent("iso", SOL, PositionSide.BOTH, IntentKind.REDUCE, amount=1)
    assert (await r.gateway.submit(reduce_after)).outcome is Outcome.REFUSED  # any action on the leg counts
    assert len(r.orders("hedged")) == 2 and r.orders("iso") == []


async def test_the_hourly_cap_is_per_account(rig: RigFactory) -> None:
    r = await rig(one_btc_book(), live(caps=Caps(cooldown_s=0, max_actions_per_hour=2, max_fraction=1.0)))
    assert (await r.gateway.submit(reduce(0.01))).outcome is Outcome.FILLED
    assert (await r.gateway.submit(reduce(0.01))).outcome is Outcome.FILLED
    third = await r.gateway.submit(reduce(0.01))
    assert third.outcome is Outcome.REFUSED and "2 actions in the last hour" in third.message
    other = Intent("hedged", BTC, PositionSide.LONG, IntentKind.REDUCE, amount=0.01)
    assert (await r.gateway.submit(other)).outcome is Outcome.FILLED
    assert len(r.orders("acct")) == 2


async def test_one_action_per_leg_at_a_time(rig: RigFactory) -> None:
    r = await rig(one_btc_book(), live())
    first, second = await asyncio.gather(r.gateway.submit(reduce(0.1)), r.gateway.submit(reduce(0.1)))
    assert sorted([first.outcome, second.outcome]) == sorted([Outcome.FILLED, Outcome.REFUSED])
    assert "in progress" in (first if first.outcome is Outcome.REFUSED else second).message
    assert len(r.orders("acct")) == 1


# --- reduce-only, sizing --------------------------------------------------------------------------


async def test_size_is_clamped_to_the_position_and_the_grid(rig: RigFactory) -> None:
    r = await rig(one_btc_book(), live())
    truncated = await r.gateway.submit(reduce(0.12345))
    assert truncated.outcome is Outcome.FILLED and truncated.filled == pytest.approx(0.123)
    whole = await r.gateway.submit(reduce(10.0))  # far more than held: closes, never flips
    assert whole.outcome is Outcome.FILLED and whole.filled == pytest.approx(0.377)
    assert whole.sized is not None and whole.sized.kind is IntentKind.CLOSE
    assert r.sim.ledger.account("acct").legs["BTCUSDT", BOTH].amount == 0
    nothing = await r.gateway.submit(reduce(0.1))
    assert nothing.outcome is Outcome.REFUSED and "no open" in nothing.message
    assert [o.side for o in r.orders("acct")] == ["SELL", "SELL"]


async def test_fraction_and_notional_caps_clamp_automatic_orders(rig: RigFactory) -> None:
    r = await rig(one_btc_book(), live(caps=Caps(cooldown_s=0, max_fraction=0.5, max_notional=6_000)))
    result = await r.gateway.submit(reduce(0.5))
    assert result.outcome is Outcome.FILLED
    assert result.filled == pytest.approx(0.1)  # 6,000 of notional at 60,000, under half of 0.5
    assert result.sized is not None and any("notional" in n for n in result.sized.notes)


async def test_hedge_mode_orders_name_the_leg_and_only_reduce_it(rig: RigFactory) -> None:
    r = await rig(one_btc_book(), live())
    short = Intent("hedged", BTC, PositionSide.SHORT, IntentKind.REDUCE, fraction=0.5)
    result = await r.gateway.submit(short)
    assert result.outcome is Outcome.FILLED, result.message
    legs = r.sim.ledger.account("hedged").legs
    assert legs["BTCUSDT", SHORT].amount == pytest.approx(-0.05)
    assert legs["BTCUSDT", LONG].amount == pytest.approx(0.2)
    close = Intent("hedged", BTC, PositionSide.LONG, IntentKind.CLOSE)
    assert (await r.gateway.submit(close)).outcome is Outcome.FILLED
    assert legs["BTCUSDT", LONG].amount == 0 and legs["BTCUSDT", SHORT].amount == pytest.approx(-0.05)
    orders = r.orders("hedged")
    assert [(o.side, o.position_side, o.reduce_only) for o in orders] == [
        ("BUY", "SHORT", True),
        ("SELL", "LONG", True),
    ]


async def test_the_exchange_refuses_any_order_that_is_not_reduce_only(rig: RigFactory) -> None:
    """The simulator's daemon accounts accept reduce-only orders only (the belt to the gateway's
    braces): through the daemon's own ccxt client, an order that would open or grow is -2022."""
    r = await rig(one_btc_book(), live())
    client = r.daemon.adapters[USDM].client_for("acct")  # type: ignore[attr-defined]
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):
        await client.create_order(BTC, "market", "buy", 0.1, None, {"reduceOnly": True})
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):
        await client.create_order(BTC, "market", "sell", 0.1)  # reduces, but is not flagged
    assert r.sim.ledger.account("acct").legs["BTCUSDT", BOTH].amount == 0.5


async def test_margin_transfer_with_exact_amount_and_proof(rig: RigFactory) -> None:
    r = await rig(one_btc_book(), live())
    before = r.sim.ledger.account("iso").legs["SOLUSDT", BOTH].isolated_wallet
    result = await r.gateway.submit(
        Intent("iso", SOL, PositionSide.BOTH, IntentKind.ADD_MARGIN, amount=123.45)
    )
    assert result.outcome is Outcome.DONE, result.message
    assert r.sim.ledger.account("iso").legs["SOLUSDT", BOTH].isolated_wallet == pytest.approx(before + 123.45)
    assert result.impact is not None
    assert (
        result.impact.after.liquidation_price is not None
        and result.impact.before.liquidation_price is not None
    )
    assert result.impact.after.liquidation_price < result.impact.before.liquidation_price
    cross = Intent("acct", BTC, PositionSide.BOTH, IntentKind.ADD_MARGIN, amount=10)
    refused = await r.gateway.submit(cross)
    assert refused.outcome is Outcome.REFUSED and "isolated" in refused.message


async def test_a_timed_out_transfer_is_proved_from_the_wallet_not_repeated(rig: RigFactory) -> None:
    r = await rig(one_btc_book(), live())
    r.daemon.adapters[USDM].client_for("iso").timeout = 150  # type: ignore[attr-defined]
    late_order_replies(r.sim, 0.35, path="/fapi/v1/positionMargin")
    leg = r.sim.ledger.account("iso").legs["SOLUSDT", BOTH]
    before = leg.isolated_wallet
    result = await r.gateway.submit(Intent("iso", SOL, PositionSide.BOTH, IntentKind.ADD_MARGIN, amount=50))
    assert result.outcome is Outcome.DONE, result.message
    assert result.entry_id is not None
    detail = r.gateway.journal.get(result.entry_id).detail
    assert "RequestTimeout" in detail and "isolated wallet shows the transfer" in detail
    assert leg.isolated_wallet == pytest.approx(before + 50)  # once
    assert r.sim.rest.requests.count(("POST", "/fapi/v1/positionMargin")) == 1


async def test_journal_and_alerts_hold_no_secrets(rig: RigFactory, tmp_path: Path) -> None:
    r = await rig(one_btc_book(), live())
    r.sim.faults.fail_rest(
        times=1, status=400, code=-2022, msg="ReduceOnly Order is rejected.", path_prefix="/fapi/v1/order"
    )
    await r.gateway.submit(reduce(0.1))
    await r.gateway.submit(reduce(0.1))
    keys = r.sim.accounts["acct"]
    rows = open_db(tmp_path / "state.sqlite3").execute("SELECT * FROM derisk_journal").fetchall()
    dump = "\n".join(str(tuple(row)) for row in rows)
    text = dump + "\n".join(a.message + str(dict(a.facts)) for a in r.alerts)
    assert re.search(r"signature=[0-9a-f]{16}", text) is None
    assert keys.api_key not in text and keys.secret not in text
    assert "-2022" in dump  # the reason is kept
