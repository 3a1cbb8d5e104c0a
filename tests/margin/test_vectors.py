"""Every test vector of ``margin-reference.md``, each with where it comes from.

Exchange figures must be matched to 1e-8 relative (the exchanges publish 8 decimals at best).
"""

from __future__ import annotations

import pytest

from monitor.margin.account import evaluate_account
from monitor.margin.rules import RULES, solve_cross, solve_isolated
from monitor.margin.tiers import continuity_warnings, cumulative_amount, maint_amount
from monitor.model import Account, MarginMode, Position, Side, Tier, Venue

REL = 1e-8

BINANCE_BTC_TIERS = (
    Tier(0, 50_000, 0.004, 0),
    Tier(50_000, 250_000, 0.005, 50),
    Tier(250_000, 1_000_000, 0.01, 1_300),
)


def isolated(
    side: str, contracts: float, entry: float, wallet: float, tiers: tuple[Tier, ...], **kw: object
) -> Position:
    return Position(
        "X",
        Side(side),
        MarginMode.ISOLATED,
        contracts,
        entry,
        kw.pop("mark", entry),
        tiers,  # type: ignore[arg-type]
        isolated_wallet=wallet,
        **kw,
    )  # type: ignore[arg-type]


# freqtrade tests/exchange/test_exchange.py::test_get_liquidation_price (Binance, isolated, MMR 0.01,
# cum 0.01, wallet = amount x entry / leverage), via margin-reference 1.6.
FREQTRADE = [
    ("short", 5, 10, 1.0, 11.89108910891089),
    ("short", 3, 10, 1.0, 13.211221122079207),
    ("short", 5, 8, 1.0, 9.514851485148514),
    ("short", 5, 10, 0.6, 11.897689768976898),
    ("long", 5, 10, 1.0, 8.070707070707071),
    ("long", 5, 8, 1.0, 6.454545454545454),
    ("long", 3, 10, 1.0, 6.723905723905723),
    ("long", 5, 10, 0.6, 8.063973063973064),
]


@pytest.mark.parametrize(("side", "lev", "entry", "amount", "expected"), FREQTRADE)
def test_binance_isolated_freqtrade_vectors(
    side: str, lev: float, entry: float, amount: float, expected: float
) -> None:
    p = isolated(side, amount, entry, amount * entry / lev, (Tier(0, 1e12, 0.01, 0.01),))
    rules = RULES[Venue.BINANCE_USDM]
    assert rules.isolated_liquidation_price(p, 0.0) == pytest.approx(expected, rel=REL)
    assert solve_isolated(rules, p, 0.0) == pytest.approx(expected, rel=REL)


def test_binance_tier_reselection_at_liquidation_price() -> None:
    """margin-reference 1.6: isolated long 5 BTC @ 60,000, wallet 30,000 -> 54,282.8282828 in the 1 % tier
    (the mark's notional 300k is in the 1 % tier too, but 5 x 54,282 = 271k must also be: it is)."""
    p = isolated("long", 5, 60_000, 30_000, BINANCE_BTC_TIERS)
    lp = RULES[Venue.BINANCE_USDM].isolated_liquidation_price(p, 0.0)
    assert lp == pytest.approx(54_282.8282828, rel=REL)
    assert 250_000 <= 5 * lp < 1_000_000


def test_binance_tier_reselection_moves_down_a_tier() -> None:
    """At the mark the notional (60k) is in the 0.5 % tier; at the liquidation price it is in the 0.4 %
    tier. Only the lower tier's formula is self-consistent; the solver agrees."""
    p = isolated("long", 1, 60_000, 15_000, BINANCE_BTC_TIERS)
    rules = RULES[Venue.BINANCE_USDM]
    lp = rules.isolated_liquidation_price(p, 0.0)
    assert lp is not None and lp < 50_000
    assert lp == pytest.approx((60_000 - 15_000 - 0) / (1 * (1 - 0.004)), rel=1e-12)
    assert solve_isolated(rules, p, 0.0) == pytest.approx(lp, rel=1e-10)


def test_binance_cum_recurrence_examples() -> None:
    """margin-reference 1.1: USD-M level 3 cum 250,000 x (1 % - 0.5 %) + 50 = 1,300; COIN-M level 5
    50 BTC x (5 % - 2.5 %) + 0.56 = 1.81 BTC."""
    assert cumulative_amount(BINANCE_BTC_TIERS[1], BINANCE_BTC_TIERS[2]) == pytest.approx(1_300)
    assert cumulative_amount(Tier(25, 50, 0.025, 0.56), Tier(50, 100, 0.05, 0)) == pytest.approx(1.81)
    assert continuity_warnings(BINANCE_BTC_TIERS) == []
    broken = (BINANCE_BTC_TIERS[0], Tier(50_000, 250_000, 0.005, 40))
    assert len(continuity_warnings(broken)) == 1


def test_coinm_maintenance_margin_example() -> None:
    """margin-reference 1.6: 100 BTCUSD contracts (CS 100) at mark 25,000 -> 0.4 BTC, MMR 0.4 % ->
    MM 0.0016 BTC."""
    p = Position(
        "BTC/USD:BTC",
        Side.LONG,
        MarginMode.CROSS,
        100,
        25_000,
        25_000,
        (Tier(0, 1e9, 0.004, 0),),
        contract_size=100,
        inverse=True,
    )
    assert RULES[Venue.BINANCE_COINM].requirement(p, 25_000, 0.0) == pytest.approx(0.0016, rel=REL)
    assert maint_amount(p.tiers, 0.4) == pytest.approx(0.0016, rel=REL)


def test_coinm_binance_calculator_example() -> None:
    """margin-reference 1.4 (Binance COIN-M calculator): WB 101 BTC, long 100,000 BTCUSD contracts @
    45,000, MMR 12.5 %, cum 11.605 BTC -> 33,599.4 after truncation to the 0.1 tick."""
    p = Position(
        "BTC/USD:BTC",
        Side.LONG,
        MarginMode.CROSS,
        100_000,
        45_000,
        45_000,
        (Tier(0, 1e9, 0.125, 11.605),),
        contract_size=100,
        inverse=True,
    )
    risk = evaluate_account(Account(Venue.BINANCE_COINM, 101.0, (p,)))
    lp = risk.positions[0].liquidation_price
    assert lp is not None and int(lp * 10) / 10 == pytest.approx(33_599.4, abs=1e-9)
    assert solve_cross(RULES[Venue.BINANCE_COINM], [p], 101.0, 0.0) == pytest.approx(lp, rel=1e-10)


@pytest.mark.parametrize(
    ("side", "entry", "lev", "expected"),
    [
        ("long", 20_000, 50, 19_700),  # Bybit help "Liquidation Price (USDT Contract)": IM 400, MM 100
        ("short", 20_000, 50, 20_300),
        ("long", 10_000, 50, 9_850),  # older revision of the same article
        ("short", 8_000, 40, 8_160),
    ],
)
def test_bybit_isolated_linear_doc_examples(side: str, entry: float, lev: float, expected: float) -> None:
    """The documents' figures evaluate MM at entry (before 2025-09-02). Since then MM follows the mark:
    LP = (EP -/+ IM/q) / (1 -/+ MMR), which moves each example by MM's change between entry and LP."""
    p = isolated(side, 1, entry, entry / lev, (Tier(0, 2_000_000, 0.005, 0),), leverage=lev)
    sign = 1.0 if side == "long" else -1.0
    at_entry = entry - sign * (entry / lev - entry * 0.005)
    assert at_entry == pytest.approx(expected, rel=REL)  # the documents' form, reproduced
    at_mark = (entry - sign * entry / lev) / (1 - sign * 0.005)
    assert RULES[Venue.BYBIT].isolated_liquidation_price(p, 0.0) == pytest.approx(at_mark, rel=REL)


def test_bybit_bankruptcy_relation() -> None:
    """With MMR 0 the Bybit isolated liquidation price is the bankruptcy price EP x (1 -/+ 1/lev)."""
    for side, factor in (("long", 1 - 1 / 25), ("short", 1 + 1 / 25)):
        p = isolated(side, 2, 30_000, 2 * 30_000 / 25, (Tier(0, 1e9, 0.0, 0),), leverage=25)
        assert RULES[Venue.BYBIT].isolated_liquidation_price(p, 0.0) == pytest.approx(
            30_000 * factor, rel=1e-12
        )


def test_bybit_isolated_inverse_2026_form() -> None:
    """margin-reference 2: LP_long = Q (1 + MMR) / (Q/EP + Q/EP/lev + extra/(1 + taker) + MMded)."""
    q, ep, lev, extra, taker, mmr, ded = 10_000.0, 50_000.0, 10.0, 0.01, 0.00055, 0.005, 0.0
    im = q / ep / lev
    p = isolated("long", q, ep, im + extra, (Tier(0, 1e9, mmr, ded),), leverage=lev, inverse=True)
    expected = q * (1 + mmr) / (q / ep + q / ep / lev + extra / (1 + taker) + ded)
    rules = RULES[Venue.BYBIT]
    assert rules.isolated_liquidation_price(p, taker) == pytest.approx(expected, rel=1e-12)
    assert solve_isolated(rules, p, taker) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("side", ["long", "short"])
def test_okx_isolated_closed_forms(side: str, inverse: bool) -> None:
    """margin-reference 3 (OKX "Margin isolated mode"): the requirement includes the taker fee."""
    ct_val, n, ep, m, mmr, taker = (
        (10.0, 300.0, 2_000.0, 0.2, 0.01, 0.0005)
        if inverse
        else (0.01, 50.0, 60_000.0, 3_000.0, 0.004, 0.0005)
    )
    p = isolated(side, n, ep, m, (Tier(0, 1e9, mmr, 0),), contract_size=ct_val, inverse=inverse)
    q = ct_val * n
    if not inverse:
        expected = (
            (q * ep - m) / (q * (1 - mmr - taker))
            if side == "long"
            else (q * ep + m) / (q * (1 + mmr + taker))
        )
    else:
        expected = (
            q * (1 + mmr + taker) / (m + q / ep) if side == "long" else q * (1 - mmr - taker) / (q / ep - m)
        )
    rules = RULES[Venue.OKX]
    assert rules.isolated_liquidation_price(p, taker) == pytest.approx(expected, rel=1e-12)
    assert solve_isolated(rules, p, taker) == pytest.approx(expected, rel=1e-10)


def test_liquidation_price_zero_means_none() -> None:
    """margin-reference 1.2: when no price liquidates the API says "0" and the UI "--"; we say None."""
    p = isolated("long", 1, 100, 1_000, (Tier(0, 1e9, 0.01, 0),))
    risk = evaluate_account(Account(Venue.BINANCE_USDM, 0.0, (p,)))
    assert risk.positions[0].liquidation_price is None
    assert risk.positions[0].distance_pct is None


def test_underwater_at_every_price_is_liquidatable_now() -> None:
    """A cross pool whose equity is already below its requirement and that no move of this symbol can
    restore: the liquidation price is the mark, never "none" (which reads as safe), and it is past it
    without bound (distance minus infinity, never "0 % away")."""
    tiers = (Tier(0, 1e18, 0.015625, 0),)
    losing = Position("S1", Side.LONG, MarginMode.CROSS, 15, 1.125, 1.0, tiers, inverse=True)
    small = Position("S0", Side.LONG, MarginMode.CROSS, 1, 1.0, 1.0, tiers, inverse=True)
    risk = evaluate_account(Account(Venue.BINANCE_COINM, 0.5, (losing, small)))
    assert risk.cross is not None and risk.cross.margin_ratio == float("inf")
    s0 = risk.positions[1]
    assert s0.liquidation_price == 1.0 and s0.distance_pct == float("-inf")


def test_wallet_exactly_covering_the_cost_has_no_liquidation_price() -> None:
    """Found by hypothesis: wallet = q x EP, so the closed form lands on 1.8e-16, a rounding of zero.
    Below PRICE_FLOOR x mark a price is no price: both the closed form and the solver say none."""
    tiers = (Tier(0, 1e18, 0.015625, 0),)
    p = Position("S0", Side.LONG, MarginMode.CROSS, 1.0, 1.201171875, 1.5, tiers, contract_size=0.01)
    risk = evaluate_account(Account(Venue.BINANCE_USDM, 0.012011718749999999, (p,)))
    assert risk.positions[0].liquidation_price is None
    assert solve_cross(RULES[Venue.BINANCE_USDM], [p], 0.012011718749999999, 0.0) is None
