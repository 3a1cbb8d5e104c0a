"""Hyperliquid margin rules against Hyperliquid's own figures.

Sources (venues note 2.5; fixtures copied from the shared set, see
tests/venues/fixtures/hyperliquid/SOURCES.md): real ``clearinghouseState`` replies whose printed
``liquidationPx`` and ``crossMaintenanceMarginUsed`` follow from the documented formula
(docs "Liquidations": ``liq = mark - side x margin_available / |szi| / (1 - l x side)``,
``l = 1 / (2 x maxLeverage)``) to every printed digit; the margin-tier deduction from docs "Margin tiers".

A position is built here from the reply as the adapter reads one: the mark is ``positionValue / |szi|``,
an isolated wallet is ``rawUsd + szi x entryPx`` (``rawUsd`` holds the margin net of the entry's
notional), the cross wallet is the cross account value less the cross positions' unrealised PnL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.margin.account import evaluate_account
from monitor.margin.rules import RULES, hyperliquid_tiers, solve_cross, solve_isolated, upnl
from monitor.margin.tiers import continuity_warnings
from monitor.model import Account, MarginMode, Position, Side, Tier, Venue

FIXTURES = Path(__file__).parents[1] / "venues" / "fixtures" / "hyperliquid"
RULE = RULES[Venue.HYPERLIQUID]


def state(name: str) -> dict[str, Any]:
    body = json.loads((FIXTURES / f"info.clearinghouseState.{name}.json").read_text())
    assert isinstance(body, dict)
    return body


def position(entry: dict[str, Any]) -> Position:
    p = entry["position"]
    szi = float(p["szi"])
    lev = p["leverage"]
    isolated = lev["type"] == "isolated"
    return Position(
        p["coin"],
        Side.LONG if szi > 0 else Side.SHORT,
        MarginMode.ISOLATED if isolated else MarginMode.CROSS,
        abs(szi),
        float(p["entryPx"]),
        float(p["positionValue"]) / abs(szi),
        hyperliquid_tiers([(0.0, float(p["maxLeverage"]))]),
        isolated_wallet=float(lev["rawUsd"]) + szi * float(p["entryPx"]) if isolated else None,
        leverage=float(lev["value"]),
    )


def account(body: dict[str, Any]) -> Account:
    positions = tuple(position(e) for e in body["assetPositions"])
    cross_pnl = sum(upnl(p, p.mark_price) for p in positions if p.margin_mode is MarginMode.CROSS)
    wallet = float(body["crossMarginSummary"]["accountValue"]) - cross_pnl
    return Account(Venue.HYPERLIQUID, wallet, positions, name="hl")


def printed(value: float | None, like: str) -> str | None:
    """``value`` written with as many decimals as Hyperliquid printed ``like`` with."""
    if value is None:
        return None
    return f"{value:.{len(like.split('.')[1])}f}"


@pytest.mark.parametrize(
    "name",
    ["isolated-short.2025-10.observed", "hip3-isolated.2025-11.observed", "cross-short.2024-10.observed"],
)
def test_liquidation_price_reproduces_hyperliquid_to_the_last_digit(name: str) -> None:
    """H-2 (isolated short), H-3 (isolated long on a 3x market), H-4 (cross short beside a cross long)."""
    body = state(name)
    risk = evaluate_account(account(body))
    for entry, row in zip(body["assetPositions"], risk.positions, strict=True):
        theirs = entry["position"]["liquidationPx"]
        assert printed(row.liquidation_price, theirs or "0.0") == theirs or (
            theirs is None and row.liquidation_price is None
        ), (entry["position"]["coin"], row.liquidation_price, theirs)


def test_isolated_docs_example_within_its_rounded_raw_usd() -> None:
    """H-1: the docs' example prints ``rawUsd`` to 6 decimals; the liquidation price it was computed
    from differs from ours by 1.5e-5, what a rawUsd 4.5e-7 away moves it (0.0335 x 0.99 per dollar)."""
    body = state("isolated.documented")
    p = position(body["assetPositions"][0])
    ours = RULE.isolated_liquidation_price(p, 0.0)
    assert ours == pytest.approx(float(body["assetPositions"][0]["position"]["liquidationPx"]), abs=2e-5)
    assert ours == pytest.approx(95.059824 / (0.0335 * 0.99), rel=1e-12)


@pytest.mark.parametrize("name", ["cross-short.2024-10.observed", "cross-long.2024-03.observed"])
def test_cross_maintenance_and_account_value_match_the_reply(name: str) -> None:
    """H-4 and H-6: Σ |szi| x mark / (2 x maxLeverage) is ``crossMaintenanceMarginUsed`` and the equity
    is ``crossMarginSummary.accountValue``, to the printed digit."""
    body = state(name)
    risk = evaluate_account(account(body))
    assert risk.cross is not None
    assert f"{risk.cross.maint_margin:.6f}" == f"{float(body['crossMaintenanceMarginUsed']):.6f}"
    assert f"{risk.cross.equity:.6f}" == body["crossMarginSummary"]["accountValue"]


def test_no_liquidation_price_where_hyperliquid_prints_null() -> None:
    """H-5 and H-6: the formula's root is negative, Hyperliquid sends ``null``."""
    for name in ("cross-long.2024-03.observed", "cross-short.2024-10.observed"):
        body = state(name)
        risk = evaluate_account(account(body))
        for entry, row in zip(body["assetPositions"], risk.positions, strict=True):
            if entry["position"]["liquidationPx"] is None:
                assert row.liquidation_price is None, entry["position"]["coin"]


def test_fee_free() -> None:
    """A taker rate changes nothing: Hyperliquid's requirement and liquidation carry no fee."""
    p = position(state("isolated-short.2025-10.observed")["assetPositions"][0])
    assert RULE.requirement(p, 50.0, 0.0) == RULE.requirement(p, 50.0, 0.00045)
    assert RULE.isolated_liquidation_price(p, 0.0) == RULE.isolated_liquidation_price(p, 0.00045)


def test_margin_tiers_follow_the_documented_deduction() -> None:
    """H-7 (docs "Margin tiers", BTC table: 40x to 150M, 20x above): deduction(1) = 150M x (2.5 % -
    1.25 %) = 1,875,000, so 200M of notional requires 5,000,000 - 1,875,000."""
    tiers = hyperliquid_tiers([(0.0, 40.0), (150_000_000.0, 20.0)])
    assert tiers == (
        Tier(0.0, 150_000_000.0, 0.0125, 0.0),
        Tier(150_000_000.0, float("inf"), 0.025, 1_875_000.0),
    )
    p = Position("BTC", Side.LONG, MarginMode.CROSS, 2_000.0, 100_000.0, 100_000.0, tiers)
    assert RULE.requirement(p, 100_000.0, 0.0) == pytest.approx(3_125_000.0, rel=1e-15)
    assert continuity_warnings(tiers) == []


def test_docs_tiered_table_reads_as_tiers() -> None:
    """``meta``'s table 51 ("tiered 10x": 10x, then 5x above 3,000,000)."""
    meta = json.loads((FIXTURES / "info.meta.documented.json").read_text())
    table = dict(meta["marginTables"])[51]["marginTiers"]
    tiers = hyperliquid_tiers([(float(t["lowerBound"]), float(t["maxLeverage"])) for t in table])
    assert [(t.floor, t.mmr) for t in tiers] == [(0.0, 0.05), (3_000_000.0, 0.1)]
    assert tiers[1].cum == pytest.approx(150_000.0, rel=1e-15)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([], "no tiers"),
        ([(10.0, 50.0)], "first lowerBound"),
        ([(0.0, 50.0), (0.0, 20.0)], "does not rise"),
        ([(0.0, 0.0)], "not positive"),
    ],
)
def test_bad_margin_table_is_refused_naming_the_fault(table: list[tuple[float, float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hyperliquid_tiers(table)


@pytest.mark.parametrize(("side", "wallet"), [(Side.LONG, 300_000.0), (Side.SHORT, 500_000.0)])
def test_closed_form_agrees_with_the_solver_across_tiers(side: Side, wallet: float) -> None:
    """Across a tier boundary the closed form re-selects the tier at the liquidation price: it is the
    numeric root of equity = requirement, isolated and cross."""
    tiers = hyperliquid_tiers([(0.0, 10.0), (3_000_000.0, 5.0)])
    p = Position("ETH", side, MarginMode.ISOLATED, 1_000.0, 3_500.0, 3_500.0, tiers, isolated_wallet=wallet)
    ours = RULE.isolated_liquidation_price(p, 0.0)
    oracle = solve_isolated(RULE, p, 0.0)
    assert ours is not None and oracle is not None
    assert ours == pytest.approx(oracle, rel=1e-9)
    c = Position("ETH", side, MarginMode.CROSS, 1_000.0, 3_500.0, 3_500.0, tiers)
    ours_cross = RULE.cross_liquidation_price((c,), wallet, 0.0)
    oracle_cross = solve_cross(RULE, (c,), wallet, 0.0)
    assert ours_cross is not None and oracle_cross is not None
    assert ours_cross == pytest.approx(oracle_cross, rel=1e-9)
