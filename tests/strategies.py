"""Hypothesis strategies and builders the property tests share: random accounts over every venue
rule set (the margin engine's, the batch evaluation's and the policy's properties draw from them)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from monitor.model import Account, MarginMode, Position, PositionSide, Side, Tier, Venue

BY_CONTRACTS = (Venue.OKX, Venue.BLOFIN)  # tiers by size in contracts, no deduction


@st.composite
def tier_tables(draw: st.DrawFn, venue: Venue, unit: float) -> tuple[Tier, ...]:
    """Continuous tables (Binance's cum recurrence); OKX and BloFin take no deduction and are tiered by
    contracts."""
    n = draw(st.integers(1, 5))
    mmr = draw(st.floats(0.002, 0.02))
    floor = 0.0
    cum = 0.0
    tiers = []
    for i in range(n):
        cap = 1e18 if i == n - 1 else floor + unit * draw(st.floats(0.2, 5.0))
        if i:
            new_mmr = mmr * draw(st.floats(1.1, 2.0))
            cum = floor * (new_mmr - mmr) + cum
            mmr = new_mmr
        tiers.append(Tier(floor, cap, min(mmr, 0.3), 0.0 if venue in BY_CONTRACTS else cum))
        floor = cap
    if venue not in BY_CONTRACTS:  # keep the recurrence exact after the clamp
        fixed = [tiers[0]]
        for t in tiers[1:]:
            fixed.append(replace(t, cum=t.floor * (t.mmr - fixed[-1].mmr) + fixed[-1].cum))
        tiers = fixed
    return tuple(tiers)


@st.composite
def accounts(draw: st.DrawFn, venue: Venue | None = None) -> Account:
    venue = venue or draw(st.sampled_from(list(Venue)))
    inverse = {Venue.BINANCE_USDM: False, Venue.BINANCE_COINM: True, Venue.BLOFIN: False}.get(
        venue, draw(st.booleans())
    )
    hedge = draw(st.booleans())
    n_symbols = draw(st.integers(1, 4))
    positions: list[Position] = []
    for k in range(n_symbols):
        symbol = f"S{k}"
        price = draw(st.floats(0.5, 80_000))
        contract_size = (
            draw(st.sampled_from([1.0, 10.0, 100.0])) if inverse else draw(st.sampled_from([1.0, 0.01, 0.1]))
        )
        legs = (
            [Side.LONG, Side.SHORT] if hedge and draw(st.booleans()) else [draw(st.sampled_from(list(Side)))]
        )
        for side in legs:
            if len(positions) >= 6:
                break
            contracts = draw(st.floats(0.5, 500.0))
            q = contracts * contract_size
            value = q / price if inverse else q * price
            unit = contracts if venue in BY_CONTRACTS else value
            tiers = draw(tier_tables(venue, unit))
            mode = draw(st.sampled_from(list(MarginMode)))
            entry = price * draw(st.floats(0.8, 1.25))
            lev = draw(st.floats(2, 50))
            wallet = (q / entry if inverse else q * entry) / lev * draw(st.floats(0.7, 2.0))
            ps = (
                (PositionSide.LONG if side is Side.LONG else PositionSide.SHORT)
                if hedge
                else PositionSide.BOTH
            )
            positions.append(
                Position(
                    symbol,
                    side,
                    mode,
                    contracts,
                    entry,
                    price,
                    tiers,
                    contract_size,
                    inverse,
                    ps,
                    wallet if mode is MarginMode.ISOLATED else None,
                    lev,
                )
            )
    value_scale = sum(
        (p.contracts * p.contract_size / p.mark_price)
        if inverse
        else p.contracts * p.contract_size * p.mark_price
        for p in positions
    )
    cross_wallet = value_scale * draw(st.floats(0.02, 1.0))
    fee = draw(st.sampled_from([0.0, 0.0005]))
    return Account(venue, cross_wallet, tuple(positions), "prop", fee)


def named(accts: list[Account]) -> list[Account]:
    """Distinct names, and the exchange's liquidation price on every other position (as after a REST
    snapshot), so that the deviation column is exercised too."""
    return [
        replace(
            a,
            name=f"a{i}",
            positions=tuple(
                replace(p, exchange_liquidation_price=p.mark_price * 0.9) if j % 2 else p
                for j, p in enumerate(a.positions)
            ),
        )
        for i, a in enumerate(accts)
    ]
