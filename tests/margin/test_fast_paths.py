"""The per-tick fast paths of the margin engine give exactly the numbers of the general code.

``TieredClosedForm.requirement`` and ``_single_leg`` compute the notional once instead of going through
``tier_value`` and ``notional``, and ``evaluate_account`` gives a cross symbol of one leg its base
without summing. The references below are that code as it was before (kept verbatim as the slow path);
the fast paths must equal them bit for bit, not within a tolerance, so no figure the monitor reports
moves at all.
"""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st
from test_properties import accounts

from monitor.margin import solver
from monitor.margin.account import evaluate_account as fast_evaluate_account
from monitor.margin.account import margin_ratio, position_risk
from monitor.margin.rules import RULES, Rules, TieredClosedForm, notional, rules_for, upnl
from monitor.margin.tiers import tier_index_extended as tier_index
from monitor.model import Account, AccountRisk, CrossRisk, MarginMode, Position, Venue

TIERED = [v for v, r in RULES.items() if isinstance(r, TieredClosedForm)]
# venues whose requirement is TieredClosedForm's own (Bybit overrides it with its rule at entry)
TIERED_REQUIREMENT = [v for v in TIERED if type(RULES[v]).requirement is TieredClosedForm.requirement]

base_factors = st.one_of(
    st.floats(-3.0, 3.0),
    st.sampled_from([0.0, 1e-12, -1e-12, 1e-6, -1e-6, 1e6, -1e6, 1e13, -1e13]),
)
mark_moves = st.one_of(st.floats(0.2, 5.0), st.sampled_from([1.0, 1e-6, 1e6]))


def reference_balance(rules: TieredClosedForm, p: Position, base: float, price: float) -> float:
    t = p.tiers[tier_index(p.tiers, rules.tier_value(p, price))]
    return base + upnl(p, price) - (notional(p, price) * t.mmr - t.cum)


def reference_single_leg(rules: TieredClosedForm, p: Position, base: float, mark: float) -> float | None:
    tiers = p.tiers
    q = p.contracts * p.contract_size
    s = 1.0 if p.side == "long" else -1.0
    inverse = p.inverse
    i = tier_index(tiers, rules.tier_value(p, mark))
    for _ in range(6):
        t = tiers[i]
        if inverse:
            den = base + t.cum + s * q / p.entry_price
            lp = (q * t.mmr + s * q) / den if den != 0 else 0.0
        else:
            den = q * t.mmr - s * q
            lp = (base + t.cum - s * q * p.entry_price) / den if den != 0 else 0.0
        if lp <= mark * solver.PRICE_FLOOR:
            break
        j = tier_index(tiers, rules.tier_value(p, lp))
        if j == i:
            return lp
        i = j
    lo, hi = mark * solver.PRICE_FLOOR, mark / solver.PRICE_FLOOR
    if (reference_balance(rules, p, base, lo) > 0) == (reference_balance(rules, p, base, hi) > 0):
        return None
    return rules._scan_segments((p,), base, mark)


def reference_evaluate_account(account: Account, marks: Mapping[str, float] | None = None) -> AccountRisk:
    rules = rules_for(account.venue)
    fee = account.taker_fee
    positions = account.positions
    n = len(positions)
    mk = (
        [p.mark_price for p in positions]
        if not marks
        else [marks.get(p.symbol, p.mark_price) for p in positions]
    )
    pnl = [0.0] * n
    req = [0.0] * n
    cross_pnl = 0.0
    cross_req = 0.0
    cross_legs: dict[str, list[int]] = {}
    for i, p in enumerate(positions):
        pnl[i] = upnl(p, mk[i])
        req[i] = rules.requirement(p, mk[i], fee)
        if p.margin_mode is MarginMode.CROSS:
            cross_pnl += pnl[i]
            cross_req += req[i]
            cross_legs.setdefault(p.symbol, []).append(i)
    cross: CrossRisk | None = None
    cross_lp: dict[str, float | None] = {}
    if cross_legs:
        equity = account.wallet_balance + cross_pnl
        cross = CrossRisk(equity, cross_req, margin_ratio(cross_req, equity))
        for symbol, idx in cross_legs.items():
            own_pnl = sum(pnl[i] for i in idx)
            own_req = sum(req[i] for i in idx)
            base = account.wallet_balance + (cross_pnl - own_pnl) - (cross_req - own_req)
            legs = [positions[i] for i in idx]
            cross_lp[symbol] = rules.cross_liquidation_price(legs, base, fee, mk[idx[0]])
    out = []
    for i, p in enumerate(positions):
        if p.margin_mode is MarginMode.CROSS:
            assert cross is not None
            ratio = cross.margin_ratio
            lp = cross_lp[p.symbol]
        else:
            ratio = margin_ratio(req[i], rules.isolated_equity(p, mk[i], fee))
            lp = rules.isolated_liquidation_price(p, fee, mk[i])
        # (``position_risk``, shared with the fast path, puts the mark where no price restores it)
        out.append(position_risk(p, mk[i], pnl[i], req[i], ratio, lp))
    return AccountRisk(account.venue, account.name, cross, tuple(out))


@settings(max_examples=300, deadline=None)
@given(st.data(), st.sampled_from(TIERED_REQUIREMENT), mark_moves)
def test_requirement_equals_the_generic_rule(data: st.DataObject, venue: Venue, move: float) -> None:
    rules = RULES[venue]
    account = data.draw(accounts(venue))
    for p in account.positions:
        price = p.mark_price * move
        fast = rules.requirement(p, price, account.taker_fee)
        assert fast == Rules.requirement(rules, p, price, account.taker_fee)


@settings(max_examples=400, deadline=None)
@given(st.data(), st.sampled_from(TIERED), base_factors, mark_moves)
def test_single_leg_equals_the_reference(
    data: st.DataObject, venue: Venue, factor: float, move: float
) -> None:
    """Over bases from deep underwater to far beyond the position, so that every exit is taken: the
    fixed point, no price at all (both ends of the range), and the segment scan."""
    rules = RULES[venue]
    assert isinstance(rules, TieredClosedForm)
    account = data.draw(accounts(venue))
    for p in account.positions:
        mark = p.mark_price * move
        base = factor * notional(p, mark)
        assert rules._single_leg(p, base, mark) == reference_single_leg(rules, p, base, mark)


@settings(max_examples=300, deadline=None)
@given(accounts(), st.floats(0.7, 1.3))
def test_evaluate_account_equals_the_reference(account: Account, move: float) -> None:
    assert fast_evaluate_account(account) == reference_evaluate_account(account)
    marks = {p.symbol: p.mark_price * move for p in account.positions[::2]}
    assert fast_evaluate_account(account, marks) == reference_evaluate_account(account, marks)
