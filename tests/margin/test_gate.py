"""Gate USDT-margined perpetual margin rules against Gate's own figures.

Sources (venues note 3.5; fixtures copied from the shared set, see tests/venues/fixtures/gate/README.md):
- G-1/G-2 ``rest.positions.isolated-long.2024-01.observed.json``: a real isolated LTC_USDT long whose
  ``liq_price`` (60.07) and ``margin`` (1.49257625) both reproduce only with the contract's default
  taker rate, 0.075 %, while the same account's fill ten days later paid 0.05 %
  (``rest.my_trades.taker.2024-01.observed.json``).
- G-3: ccxt 4.5.90 ``gate.py``, the ``update_position_margin`` reply quoted in
  ``parse_margin_modification`` (ETH_USDT isolated long, liq_price 665.69).
- G-5: ccxt PR #13130 (2022), an ADA_USDT isolated long, liquidationPrice 0.77237.
- G-6: ccxt PR #15622 (2023 testnet), a classic-cross BTC_USDT long alone in its pool, liq_price 15655.7.
- G-4 ``rest.risk_limit_tiers.documented.json``: the documented tiers, whose deductions make the
  tiered requirement continuous.
Gate rounds ``liq_price`` to the price tick (nearest), so the comparison allows half a tick.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from monitor.margin.account import evaluate_account
from monitor.margin.rules import RULES, solve_cross, solve_isolated, with_fee
from monitor.model import Account, MarginMode, Position, Side, Tier, Venue

FIXTURES = Path(__file__).parents[1] / "venues" / "fixtures" / "gate"
DEFAULT_TAKER = 0.00075  # the contracts' default taker_fee_rate (rest.contracts.documented.json)
ACCOUNT_TAKER = 0.0005  # what the G-1 account paid on its fills
RULE = RULES[Venue.GATE]


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def one_tier(mmr: float, taker: float = DEFAULT_TAKER) -> tuple[Tier, ...]:
    return with_fee((Tier(0.0, 1e12, mmr),), taker)


def isolated_long(
    contracts: float, multiplier: float, entry: float, margin: float, tiers: tuple[Tier, ...]
) -> Position:
    return Position(
        "X/USDT:USDT",
        Side.LONG,
        MarginMode.ISOLATED,
        contracts,
        entry,
        entry,
        tiers,
        contract_size=multiplier,
        isolated_wallet=margin,
    )


def g1() -> tuple[Position, float, float]:
    row = load("rest.positions.isolated-long.2024-01.observed.json")[0]
    p = Position(
        row["contract"],
        Side.LONG,
        MarginMode.ISOLATED,
        float(row["size"]),
        float(row["entry_price"]),
        float(row["mark_price"]),
        one_tier(float(row["maintenance_rate"])),
        contract_size=0.1,  # LTC_USDT quanto_multiplier
        isolated_wallet=float(row["margin"]),
        leverage=float(row["leverage"]),
    )
    return p, float(row["liq_price"]), 0.01


def test_isolated_liquidation_price_reproduces_a_real_position() -> None:
    """G-1, evaluated as the engine does, with an account whose own taker rate is lower."""
    p, theirs, tick = g1()
    account = Account(Venue.GATE, 0.0, (p,), name="a", taker_fee=ACCOUNT_TAKER)
    risk = evaluate_account(account).positions[0]
    assert risk.liquidation_price is not None
    assert abs(risk.liquidation_price - theirs) <= tick / 2


def test_the_liquidation_price_needs_the_contracts_default_taker_rate() -> None:
    """With the account's 0.05 % instead, G-1 misses the exchange's figure by more than a tick."""
    p, theirs, tick = g1()
    row = load("rest.positions.isolated-long.2024-01.observed.json")[0]
    wrong = Position(**{**_fields(p), "tiers": one_tier(float(row["maintenance_rate"]), ACCOUNT_TAKER)})
    lp = RULE.isolated_liquidation_price(wrong, ACCOUNT_TAKER)
    assert lp is not None
    assert abs(lp - theirs) > tick


def test_the_isolated_margin_holds_the_fee_reserve() -> None:
    """G-2: margin = value / leverage + value x default taker, exactly."""
    row = load("rest.positions.isolated-long.2024-01.observed.json")[0]
    value = float(row["size"]) * 0.1 * float(row["entry_price"])
    assert value / float(row["leverage"]) + value * DEFAULT_TAKER == pytest.approx(
        float(row["margin"]), rel=1e-12
    )


@pytest.mark.parametrize(
    ("contracts", "multiplier", "entry", "margin", "mmr", "theirs", "tick"),
    [
        (1, 0.01, 1203.45, 5.415925875, 0.005, 665.69, 0.01),  # G-3
        (2, 10, 0.79271, 0.80460065, 0.025, 0.77237, 0.00001),  # G-5
    ],
)
def test_isolated_liquidation_price_reproduces_gates_other_vectors(
    contracts: float, multiplier: float, entry: float, margin: float, mmr: float, theirs: float, tick: float
) -> None:
    p = isolated_long(contracts, multiplier, entry, margin, one_tier(mmr))
    lp = RULE.isolated_liquidation_price(p, ACCOUNT_TAKER)
    assert lp is not None
    assert abs(lp - theirs) <= tick / 2


def test_a_lone_cross_position_reproduces_the_classic_cross_vector() -> None:
    """G-6: a cross long alone in a pool of its own margin liquidates where Gate said."""
    p = Position(
        "BTC/USDT:USDT",
        Side.LONG,
        MarginMode.CROSS,
        6,
        22322.0,
        22322.0,
        one_tier(0.005),
        contract_size=0.0001,
    )
    account = Account(Venue.GATE, 4.053794242903, (p,), name="a", taker_fee=ACCOUNT_TAKER)
    lp = evaluate_account(account).positions[0].liquidation_price
    assert lp is not None
    assert abs(lp - 15655.7) <= 0.05


def test_cross_is_ours_and_the_exchanges_figure_is_compared() -> None:
    """Two cross positions share a pool: the liquidation price is recomputed (the solver's root),
    the exchange's figure is kept beside it with the deviation."""
    btc = Position(
        "BTC/USDT:USDT",
        Side.LONG,
        MarginMode.CROSS,
        100,
        60_000.0,
        60_000.0,
        one_tier(0.004),
        contract_size=0.0001,
        exchange_liquidation_price=50_000.0,
    )
    eth = Position(
        "ETH/USDT:USDT",
        Side.SHORT,
        MarginMode.CROSS,
        50,
        3_000.0,
        3_100.0,
        one_tier(0.005),
        contract_size=0.01,
    )
    account = Account(Venue.GATE, 150.0, (btc, eth), name="a", taker_fee=ACCOUNT_TAKER)
    risk = evaluate_account(account)
    ours = risk.positions[0].liquidation_price
    other_pnl = -50 * 0.01 * 100.0
    other_mm = 50 * 0.01 * 3_100.0 * (0.005 + DEFAULT_TAKER)
    oracle = solve_cross(RULE, (btc,), 150.0 + other_pnl - other_mm, ACCOUNT_TAKER)
    assert ours is not None and oracle is not None
    assert ours == pytest.approx(oracle, rel=1e-9)
    assert risk.positions[0].exchange_liquidation_price == 50_000.0
    assert risk.positions[0].deviation_pct == pytest.approx((ours - 50_000.0) / 50_000.0 * 100.0)


def documented_tiers() -> tuple[Tier, ...]:
    rows = load("rest.risk_limit_tiers.documented.json")
    tiers = []
    floor = 0.0
    for r in sorted(rows, key=lambda r: int(r["tier"])):
        cap = float(r["risk_limit"])
        tiers.append(Tier(floor, cap, float(r["maintenance_rate"]), float(r["deduction"])))
        floor = cap
    return tuple(tiers)


def test_documented_deductions_make_the_requirement_continuous() -> None:
    """G-4: at every tier ceiling both neighbouring tiers ask the same, the fee included."""
    tiers = with_fee(documented_tiers(), DEFAULT_TAKER)
    for lower, upper in pairwise(tiers):
        at = lower.cap
        assert at * lower.mmr - lower.cum == pytest.approx(at * upper.mmr - upper.cum, rel=1e-12)


@pytest.mark.parametrize(("side", "margin"), [(Side.LONG, 4_000.0), (Side.SHORT, 6_000.0)])
def test_closed_form_agrees_with_the_solver_across_tiers(side: Side, margin: float) -> None:
    tiers = with_fee(documented_tiers(), DEFAULT_TAKER)
    p = Position(
        "ZTX/USDT:USDT",
        side,
        MarginMode.ISOLATED,
        60_000,
        1.0,
        1.0,
        tiers,
        contract_size=1.0,
        isolated_wallet=margin,
    )
    ours = RULE.isolated_liquidation_price(p, ACCOUNT_TAKER)
    oracle = solve_isolated(RULE, p, ACCOUNT_TAKER)
    assert ours is not None and oracle is not None
    assert ours == pytest.approx(oracle, rel=1e-9)


def _fields(p: Position) -> dict[str, Any]:
    return {name: getattr(p, name) for name in Position.__dataclass_fields__}
