"""The planner, pure: no exchange, no event loop. Numbers are checked against the margin engine."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from monitor.actions.planner import (
    Lot,
    StepKind,
    apply_add_margin,
    apply_reduce,
    cross_available,
    margin_allowance,
    plan_account,
    plan_cross,
    plan_isolated,
    reducible,
    step_cap,
    triggered,
)
from monitor.actions.settings import (
    Caps,
    DeriskSettings,
    IsolatedFallback,
    Mode,
    Selection,
    SettingsError,
    Targets,
)
from monitor.figures import fmt_pct, fmt_ratio
from monitor.margin.account import evaluate_account
from monitor.model import Account, MarginMode, Position, PositionSide, Side, Tier, Venue
from monitor.sim.specs import major_specs

SPECS = major_specs()
BTC, ETH, SOL = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"
LOTS = {BTC: Lot(0.001, 0.001), ETH: Lot(0.001, 0.001), SOL: Lot(1.0, 1.0)}
CROSS, ISOLATED = MarginMode.CROSS, MarginMode.ISOLATED


def tiers(symbol: str) -> tuple[Tier, ...]:
    return SPECS[symbol.split("/")[0] + "USDT"].tiers


def pos(
    symbol: str,
    side: Side,
    contracts: float,
    entry: float,
    mark: float,
    mode: MarginMode = CROSS,
    *,
    wallet: float | None = None,
    leverage: float = 20,
    ps: PositionSide = PositionSide.BOTH,
) -> Position:
    return Position(
        symbol,
        side,
        mode,
        contracts,
        entry,
        mark,
        tiers(symbol),
        isolated_wallet=wallet,
        leverage=leverage,
        position_side=ps,
    )


def account(wallet: float, *positions: Position) -> Account:
    return Account(Venue.BINANCE_USDM, wallet, positions, "acct", 0.0005)


def cross_account(btc_mark: float = 58_300.0, eth_mark: float = 2_900.0) -> Account:
    """BTC 1 and ETH 10 long at 20x on 3,000 USDT, marked down: ratio about 1.26 at the defaults."""
    return account(
        3_000,
        pos(BTC, Side.LONG, 1.0, 60_000, btc_mark),
        pos(ETH, Side.LONG, 10.0, 3_000, eth_mark),
    )


S = DeriskSettings(targets=Targets(cross_trigger_ratio=0.5, cross_target_ratio=0.3))


# --- the fill model -----------------------------------------------------------------------------------


def test_apply_reduce_moves_pnl_to_the_wallet_and_keeps_equity_but_the_fee() -> None:
    a = cross_account()
    b = apply_reduce(a, (BTC, PositionSide.BOTH), 0.4)
    ra, rb = evaluate_account(a), evaluate_account(b)
    assert ra.cross is not None and rb.cross is not None
    fee = 0.4 * 58_300 * 0.0005
    assert rb.cross.equity == pytest.approx(ra.cross.equity - fee, rel=1e-12)
    assert b.wallet_balance == pytest.approx(3_000 + 0.4 * (58_300 - 60_000) - fee, rel=1e-12)
    assert b.positions[0].contracts == pytest.approx(0.6)
    assert rb.cross.maint_margin < ra.cross.maint_margin


def test_apply_reduce_never_flips_and_removes_a_closed_leg() -> None:
    a = cross_account()
    b = apply_reduce(a, (BTC, PositionSide.BOTH), 5.0)  # more than held
    assert [p.symbol for p in b.positions] == [ETH]
    assert b.wallet_balance == pytest.approx(3_000 + (58_300 - 60_000) - 58_300 * 0.0005)


def test_reducing_an_isolated_position_barely_moves_its_liquidation_price() -> None:
    """Why the planner adds margin to isolated positions instead of reducing them."""
    p = pos(SOL, Side.LONG, 60, 150, 146, ISOLATED, wallet=450, leverage=20)
    a = account(5_000, p)
    key = (SOL, PositionSide.BOTH)
    before = evaluate_account(a).positions[0]
    halved = evaluate_account(apply_reduce(a, key, 50)).positions[0]
    added = evaluate_account(apply_add_margin(a, key, 300)).positions[0]
    assert before.liquidation_price is not None and halved.liquidation_price is not None
    assert added.liquidation_price is not None
    assert halved.liquidation_price == pytest.approx(before.liquidation_price, rel=1e-3)
    assert halved.margin_ratio == pytest.approx(before.margin_ratio, rel=1e-2)
    assert before.liquidation_price - added.liquidation_price > 4.9  # 300 more on 60 SOL: 5 lower


def test_cross_available_counts_initial_margin_and_unknown_leverage_conservatively() -> None:
    a = account(10_000, pos(BTC, Side.LONG, 1.0, 60_000, 60_000, leverage=10))
    assert cross_available(a) == pytest.approx(10_000 - 6_000)
    unknown = account(10_000, replace(a.positions[0], leverage=None))
    assert cross_available(unknown) == 0.0


# --- cross plans --------------------------------------------------------------------------------------


def test_no_plan_under_the_trigger() -> None:
    a = account(10_000, pos(BTC, Side.LONG, 1.0, 60_000, 60_000))
    assert plan_cross(a, S, LOTS) is None
    assert plan_account(a, S, LOTS) == ()
    assert not triggered(evaluate_account(a), S.targets)


def test_cross_plan_reaches_the_target_in_bounded_steps_with_engine_numbers() -> None:
    a = cross_account()
    plan = plan_cross(a, S, LOTS)
    assert plan is not None and plan.reaches_target
    assert plan.before.cross is not None and plan.after.cross is not None
    assert plan.before.cross.margin_ratio > 1.0
    assert plan.after.cross.margin_ratio <= 0.3
    # every step is at most half of what was left of its position, on the lot grid
    current = a
    for step in plan.steps:
        held = next(p.contracts for p in current.positions if p.key == step.key)
        assert step.contracts_before == pytest.approx(held)
        assert step.quantity <= 0.5 * held + 1e-12
        assert step.quantity / 0.001 == pytest.approx(round(step.quantity / 0.001))
        before = evaluate_account(current)
        current = apply_reduce(current, step.key, step.quantity)
        after = evaluate_account(current)
        assert before.cross is not None and after.cross is not None
        assert step.before.margin_ratio == pytest.approx(before.cross.margin_ratio, rel=1e-12)
        assert step.after.margin_ratio == pytest.approx(after.cross.margin_ratio, rel=1e-12)
        after_pos = next(r for r in after.positions if r.key == step.key)
        assert step.after.liquidation_price == pytest.approx(after_pos.liquidation_price, rel=1e-12)
    assert evaluate_account(current) == plan.after


def test_the_last_step_is_the_smallest_lot_that_reaches_the_target() -> None:
    plan = plan_cross(cross_account(), S, LOTS)
    assert plan is not None
    *first, last = plan.steps
    base = cross_account()
    for step in first:
        base = apply_reduce(base, step.key, step.quantity)
    one_lot_less = apply_reduce(base, last.key, last.quantity - 0.001)
    ratio = evaluate_account(one_lot_less).cross
    assert ratio is not None and ratio.margin_ratio > 0.3


def test_selection_largest_requirement_or_worst_pnl() -> None:
    # BTC carries the larger requirement; ETH the worse loss
    a = account(
        3_000,
        pos(BTC, Side.LONG, 1.0, 58_500, 58_300),
        pos(ETH, Side.LONG, 8.0, 3_300, 2_900),
    )
    largest = plan_cross(a, S, LOTS)
    worst = plan_cross(a, replace(S, selection=Selection.WORST_PNL), LOTS)
    assert largest is not None and worst is not None
    assert largest.steps[0].symbol == BTC
    assert worst.steps[0].symbol == ETH


def test_min_lot_step_lets_the_last_lot_go() -> None:
    """Half of one lot cannot be ordered: one minimum lot is allowed instead of leaving it."""
    a = account(2.8, pos(BTC, Side.LONG, 0.001, 60_000, 57_500))
    plan = plan_cross(a, S, LOTS)
    assert plan is not None
    assert [(s.kind, s.quantity) for s in plan.steps] == [(StepKind.CLOSE, 0.001)]
    assert step_cap(1.0, 0.5, Lot(0.001, 0.001)) == 0.5
    assert step_cap(0.001, 0.0005, Lot(0.001, 0.001)) == 0.001
    assert step_cap(0.0015, 0.0004, Lot(0.001, 0.001), hard=0.0005) == 0.0


def test_hedge_mode_reduces_only_the_larger_leg_by_the_difference() -> None:
    long = pos(BTC, Side.LONG, 0.5, 60_000, 57_000, ps=PositionSide.LONG)
    short = pos(BTC, Side.SHORT, 0.3, 60_000, 57_000, ps=PositionSide.SHORT)
    a = account(600, long, short)
    assert reducible(a, long) == pytest.approx(0.2)
    assert reducible(a, short) == 0.0
    plan = plan_cross(a, replace(S, caps=Caps(max_fraction=1.0)), LOTS)
    assert plan is not None
    assert {s.position_side for s in plan.steps} == {PositionSide.LONG}
    assert sum(s.quantity for s in plan.steps) <= 0.2 + 1e-12


def test_market_move_guard_keeps_the_hedge() -> None:
    """Reducing the profitable short that hedges a long would lower the ratio but leave the account
    closer to the fall that hurts it: the guard skips it."""
    a = account(
        1_000,
        pos(BTC, Side.LONG, 1.0, 60_000, 57_000),
        pos(ETH, Side.SHORT, 20.0, 3_000, 2_850),
    )
    ratio = evaluate_account(a).cross
    assert ratio is not None and ratio.margin_ratio > 0.5
    guarded = plan_cross(a, S, LOTS)
    unguarded = plan_cross(a, replace(S, guard_market_move=False), LOTS)
    assert guarded is not None and unguarded is not None
    assert ETH not in {s.symbol for s in guarded.steps}
    assert unguarded.steps[0].symbol == ETH  # ETH's requirement is the larger one


# --- isolated plans -----------------------------------------------------------------------------------


def iso_account(cross_wallet: float = 5_000, mark: float = 147.5) -> Account:
    """SOL 100 long isolated at 50x (wallet 300), marked down close to its liquidation."""
    return account(cross_wallet, pos(SOL, Side.LONG, 100, 150, mark, ISOLATED, wallet=300, leverage=50))


ISO_KEY = (SOL, PositionSide.BOTH)


def test_isolated_plan_adds_the_margin_that_reaches_the_target_distance() -> None:
    a = iso_account()
    plan = plan_isolated(a, ISO_KEY, S, LOTS)
    assert plan is not None and plan.reaches_target
    (step,) = plan.steps
    assert step.kind is StepKind.ADD_MARGIN and not step.reduce_only
    assert step.after.distance_pct == pytest.approx(S.targets.isolated_target_distance_pct, abs=0.01)
    after = evaluate_account(apply_add_margin(a, ISO_KEY, step.quantity)).positions[0]
    assert step.after.liquidation_price == pytest.approx(after.liquidation_price, rel=1e-12)
    assert plan.account_after.wallet_balance == pytest.approx(5_000 - step.quantity)


def test_isolated_plan_respects_the_caps_then_falls_back() -> None:
    a = iso_account()
    capped = replace(S, caps=Caps(max_margin_add=100))
    plan = plan_isolated(a, ISO_KEY, capped, LOTS)
    assert plan is not None and not plan.reaches_target
    kinds = [(s.kind, s.quantity) for s in plan.steps]
    assert kinds == [(StepKind.ADD_MARGIN, 100.0), (StepKind.REDUCE, 50.0)]
    closing = plan_isolated(a, ISO_KEY, replace(capped, isolated_fallback=IsolatedFallback.CLOSE), LOTS)
    assert closing is not None and [(s.kind, s.quantity) for s in closing.steps] == [(StepKind.CLOSE, 100)]
    nothing = plan_isolated(a, ISO_KEY, replace(capped, isolated_fallback=IsolatedFallback.NONE), LOTS)
    assert nothing is not None and [s.kind for s in nothing.steps] == [StepKind.ADD_MARGIN]
    no_add = plan_isolated(a, ISO_KEY, replace(S, isolated_add_margin=False), LOTS)
    assert no_add is not None and [s.kind for s in no_add.steps] == [StepKind.REDUCE]


def test_on_a_venue_without_margin_transfers_the_plan_reduces_and_says_why() -> None:
    """BloFin's API cannot add isolated margin: its plan goes straight to the fallback, and its note
    names the venue's reason instead of a setting nobody switched off."""
    a = replace(iso_account(), venue=Venue.BLOFIN, taker_fee=0.0006)
    plan = plan_isolated(a, ISO_KEY, S, LOTS)
    assert plan is not None
    assert [s.kind for s in plan.steps] == [StepKind.REDUCE]
    assert "no margin offered" in plan.note and "BloFin's API has no way to add margin" in plan.note
    nothing = plan_isolated(a, ISO_KEY, replace(S, isolated_fallback=IsolatedFallback.NONE), LOTS)
    assert nothing is not None and nothing.steps == () and not nothing.reaches_target


def test_a_transfer_never_takes_the_cross_pool_over_its_target() -> None:
    a = account(
        3_000,
        pos(BTC, Side.LONG, 1.0, 60_000, 59_000, leverage=125),
        pos(SOL, Side.LONG, 200, 150, 147.5, ISOLATED, wallet=600, leverage=50),
    )
    s = replace(S, caps=Caps(max_free_fraction=1.0), isolated_fallback=IsolatedFallback.NONE)
    allowed = margin_allowance(a, s)
    plan = plan_isolated(a, ISO_KEY, s, LOTS)
    assert plan is not None and not plan.reaches_target
    (step,) = plan.steps
    assert step.quantity == allowed < cross_available(a)  # the pool's target binds, not the balance
    cross = plan.after.cross
    assert cross is not None
    assert cross.margin_ratio == pytest.approx(S.targets.cross_target_ratio, abs=1e-4)
    assert cross.margin_ratio <= S.targets.cross_target_ratio


def test_account_plans_share_the_free_balance() -> None:
    a = account(
        700,
        pos(SOL, Side.LONG, 100, 150, 147.5, ISOLATED, wallet=300, leverage=50),
        pos(ETH, Side.LONG, 10, 3_000, 2_950, ISOLATED, wallet=600, leverage=50),
    )
    plans = plan_account(a, replace(S, caps=Caps(max_free_fraction=1.0)), LOTS)
    assert len(plans) == 2
    first = sum(s.quantity for s in plans[0].steps if s.kind is StepKind.ADD_MARGIN)
    second = sum(s.quantity for s in plans[1].steps if s.kind is StepKind.ADD_MARGIN)
    assert first > 0 and second > 0
    # the second transfer is sized on what the first plan left (its reduce released margin back)
    assert second <= cross_available(plans[0].account_after) + 1e-9
    assert all(p.account_after.wallet_balance >= -1e-9 for p in plans)


# --- settings -----------------------------------------------------------------------------------------


def test_settings_defaults_are_safe() -> None:
    s = DeriskSettings()
    assert s.dry_run is True and s.mode_for("anything") is Mode.OFF
    assert DeriskSettings(modes={"main": Mode.AUTO}).mode_for("main") is Mode.AUTO
    from_toml = DeriskSettings(modes={"main": "suggest"}, selection="worst_pnl")  # type: ignore[dict-item, arg-type]
    assert from_toml.mode_for("main") is Mode.SUGGEST and from_toml.selection is Selection.WORST_PNL


@pytest.mark.parametrize(
    ("build", "key"),
    [
        (lambda: DeriskSettings(caps=Caps(max_fraction=0)), "caps.max_fraction"),
        (lambda: DeriskSettings(caps=Caps(max_fraction=1.5)), "caps.max_fraction"),
        (lambda: DeriskSettings(caps=Caps(cooldown_s=-1)), "caps.cooldown_s"),
        (lambda: DeriskSettings(caps=Caps(max_notional=float("nan"))), "caps.max_notional"),
        (lambda: DeriskSettings(targets=Targets(cross_trigger_ratio=0.3, cross_target_ratio=0.5)), "targets"),
        (lambda: DeriskSettings(targets=Targets(isolated_target_distance_pct=2)), "targets"),
        (lambda: DeriskSettings(modes={"x": "sometimes"}), "modes.x"),  # type: ignore[dict-item]
        (lambda: DeriskSettings(selection="biggest"), "selection"),  # type: ignore[arg-type]
        (lambda: DeriskSettings(max_steps=0), "max_steps"),
    ],
)
def test_settings_validation_names_the_key(build: object, key: str) -> None:
    with pytest.raises(SettingsError) as exc:
        build()  # type: ignore[operator]
    assert exc.value.key.startswith(key)
    assert str(exc.value).startswith("derisk.")


# --- properties ---------------------------------------------------------------------------------------


@st.composite
def risky_accounts(draw: st.DrawFn, cross_ratio: bool = False) -> tuple[Account, dict[str, Lot]]:
    """One-way or hedge-mode accounts of cross and isolated legs, marked somewhere between a small
    gain and well past liquidation, on the simulator's real tier tables and lot grids."""
    hedge = draw(st.booleans())
    symbols = draw(st.lists(st.sampled_from([BTC, ETH, SOL]), min_size=1, max_size=3, unique=True))
    positions: list[Position] = []
    lots = dict(LOTS)
    notional_total = 0.0
    for symbol in symbols:
        lot = lots[symbol]
        entry = SPECS[symbol.split("/")[0] + "USDT"].start_price
        mark = entry * draw(st.floats(0.85, 1.15))
        mode = CROSS if cross_ratio else draw(st.sampled_from([CROSS, ISOLATED]))
        lev = draw(st.sampled_from([5.0, 10.0, 20.0, 50.0]))
        if hedge:
            legs = draw(st.sampled_from([[Side.LONG], [Side.SHORT], [Side.LONG, Side.SHORT]]))
        else:
            legs = [draw(st.sampled_from([Side.LONG, Side.SHORT]))]
        for side in legs:
            steps = draw(st.integers(1, 3_000 if lot.step < 1 else 400))
            contracts = round(steps * lot.step, 6)
            value = contracts * entry
            notional_total += value
            ps = (
                (PositionSide.LONG if side is Side.LONG else PositionSide.SHORT)
                if hedge
                else PositionSide.BOTH
            )
            wallet = value / lev * draw(st.floats(0.2, 1.5)) if mode is ISOLATED else None
            positions.append(
                pos(symbol, side, contracts, entry, mark, mode, wallet=wallet, leverage=lev, ps=ps)
            )
    wallet = notional_total * draw(st.floats(0.005, 0.3))
    if cross_ratio:  # a wallet that puts the cross pool at a drawn ratio below liquidation
        probe = evaluate_account(account(0.0, *positions)).cross
        assert probe is not None
        wallet = probe.maint_margin / draw(st.floats(0.05, 0.95)) - probe.equity
    return account(wallet, *positions), lots


plan_settings = st.builds(
    DeriskSettings,
    caps=st.builds(
        Caps,
        max_fraction=st.sampled_from([0.1, 0.25, 0.5, 1.0]),
        max_notional=st.sampled_from([1_000.0, 50_000.0, 1e9]),
        max_margin_add=st.sampled_from([0.0, 100.0, 5_000.0]),
        max_free_fraction=st.sampled_from([0.0, 0.5, 1.0]),
    ),
    targets=st.sampled_from(
        [
            Targets(),
            Targets(cross_trigger_ratio=0.2, cross_target_ratio=0.05),
            Targets(isolated_trigger_ratio=0.2),
        ]
    ),
    selection=st.sampled_from(list(Selection)),
    isolated_add_margin=st.booleans(),
    isolated_fallback=st.sampled_from(list(IsolatedFallback)),
    guard_market_move=st.booleans(),
    max_steps=st.integers(1, 8),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(risky_accounts(), plan_settings)
def test_no_plan_can_increase_exposure(drawn: tuple[Account, dict[str, Lot]], s: DeriskSettings) -> None:
    """Every order step is reduce-only: on the side opposite its position, never larger than what is
    left of it, so no position grows or flips; no symbol's net exposure grows or changes sign; margin
    only ever goes into isolated positions, within the caps and the free balance."""
    acct, lots = drawn
    plans = plan_account(acct, s, lots)
    current = acct
    for plan in plans:
        free = cross_available(current) * s.caps.max_free_fraction
        for step in plan.steps:
            held = {p.key: p for p in current.positions}
            p = held[step.key]
            if step.kind is StepKind.ADD_MARGIN:
                assert p.margin_mode is ISOLATED
                assert 0 < step.quantity <= min(s.caps.max_margin_add, free) + 1e-9
                free -= step.quantity
                nxt = apply_add_margin(current, step.key, step.quantity)
            else:
                assert step.reduce_only
                assert step.side == ("sell" if p.side is Side.LONG else "buy")
                assert 0 < step.quantity <= p.contracts + 1e-12
                nxt = apply_reduce(current, step.key, step.quantity)
            for q in nxt.positions:
                old = held[q.key]
                assert q.side is old.side and q.contracts <= old.contracts + 1e-12
            if p.margin_mode is CROSS:  # an isolated leg at risk is reduced whatever its hedge does
                net_before, net_after = _net(current, step.symbol), _net(nxt, step.symbol)
                assert abs(net_after) <= abs(net_before) + 1e-9
                assert net_after * net_before >= 0  # no change of sign
            current = nxt
        assert evaluate_account(current) == plan.after
    if plans and plans[0].scope is CROSS:
        before, after = plans[0].before.cross, plans[0].after.cross
        assert before is not None
        if after is not None and before.margin_ratio < 1.0:
            assert after.margin_ratio <= before.margin_ratio + 1e-9
        if plans[0].reaches_target:
            assert after is None or after.margin_ratio <= s.targets.cross_target_ratio + 1e-9


def _net(acct: Account, symbol: str) -> float:
    return sum(p.contracts * p.side.sign for p in acct.positions if p.symbol == symbol)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(risky_accounts(cross_ratio=True), st.floats(0.01, 0.99))
def test_cross_steps_never_raise_the_ratio(drawn: tuple[Account, dict[str, Lot]], share: float) -> None:
    acct, lots = drawn
    risk = evaluate_account(acct)
    assert risk.cross is not None and 0.0 < risk.cross.margin_ratio < 1.0
    trigger = risk.cross.margin_ratio
    target = trigger * share
    assume(target > 0)
    s = DeriskSettings(targets=Targets(cross_trigger_ratio=trigger, cross_target_ratio=target))
    plan = plan_cross(acct, s, lots)
    assert plan is not None
    current = acct
    last = risk.cross.margin_ratio
    for step in plan.steps:
        current = apply_reduce(current, step.key, step.quantity)
        cross = evaluate_account(current).cross
        ratio = cross.margin_ratio if cross else 0.0
        assert ratio <= last + 1e-9
        last = ratio


def test_a_plan_writes_its_figures_as_the_alerts_do() -> None:
    """Ratios in percent and distances with two decimals, as every alert writes them: the plan
    says \"cross ratio 126.xx % >= trigger 50 %\", not 1.26 against 0.5."""
    plan = plan_cross(cross_account(), S, LOTS)
    assert plan is not None and plan.before.cross is not None
    text = plan.describe()
    assert f"cross ratio {fmt_ratio(plan.before.cross.margin_ratio)} >= trigger 50 %, target 30 %" in text
    step = plan.steps[0]
    assert f"ratio {fmt_ratio(step.before.margin_ratio)} -> {fmt_ratio(step.after.margin_ratio)}" in text
    assert f"distance {fmt_pct(step.before.distance_pct)} -> {fmt_pct(step.after.distance_pct)}" in text
