"""A position past its liquidation price, or an account with no equity left, is critical: never OK,
never a level some threshold happens to allow.

The accounts are evaluated by the margin engine (scalar and columns) and judged by the policy, with
its shortcuts (the screen over a batch's sheet) and without them (``policy_reference``): both must
say critical, and say why in words.
"""

from __future__ import annotations

from dataclasses import replace

import policy_reference
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from policy_reference import Evaluate

from monitor.alerts import Alert, AlertKind, Level
from monitor.margin.account import evaluate_account
from monitor.margin.batch import evaluate_accounts
from monitor.model import Account, AccountRisk, MarginMode, Position, Side, Tier, Venue
from monitor.policy import LevelThresholds, PolicyConfig, PolicyInputs, PolicyState, evaluate
from tests.strategies import accounts

TIERS = (Tier(0, 50_000, 0.004, 0), Tier(50_000, 250_000, 0.005, 50), Tier(250_000, 1e18, 0.01, 1_300))
BTC = "BTC/USDT:USDT"
CONFIGS = [PolicyConfig(), PolicyConfig(cross_positions_use_account_ratio=False)]


def bankrupt(wallet: float) -> Account:
    """One BTC long from 60,000 at 58,000 in a cross pool of ``wallet``: equity ``wallet - 2,000``."""
    p = Position(BTC, Side.LONG, MarginMode.CROSS, 1.0, 60_000.0, 58_000.0, TIERS)
    return Account(Venue.BINANCE_USDM, wallet, (p,), "main")


def risk_alerts(risk: AccountRisk, config: PolicyConfig, evaluate: Evaluate = evaluate) -> list[Alert]:
    """The risk alerts of one evaluation from a fresh state."""
    _, alerts = evaluate(PolicyState(), PolicyInputs(risks=[risk]), 1_000, config)
    return [a for a in alerts if a.kind is AlertKind.RISK]


def by_symbol(alerts: list[Alert]) -> dict[str | None, Alert]:
    """One-way accounts: the alerts by symbol (``None``: the cross pool)."""
    return {a.symbol: a for a in alerts}


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("wallet", [1_000.0, -5_000.0])
def test_a_position_in_a_bankrupt_pool_is_critical(config: PolicyConfig, wallet: float) -> None:
    """Equity -1,000 or -7,000: the position is past its liquidation price (the price that restores
    the pool is above the mark), whichever metric the config judges a cross position by."""
    for risk in (evaluate_account(bankrupt(wallet)), evaluate_accounts([bankrupt(wallet)])[0]):
        alerts = by_symbol(risk_alerts(risk, config))
        assert alerts[BTC].level is Level.CRITICAL
        assert "past its liquidation price" in alerts[BTC].message
        assert alerts[None].level is Level.CRITICAL
        assert "equity is negative" in alerts[None].message


def test_a_ratio_at_liquidation_is_critical_whatever_the_thresholds() -> None:
    """Thresholds above 1 are accepted (up to 2), but a ratio of 1 is liquidation: critical."""
    lenient = PolicyConfig(levels=LevelThresholds(ratio_warn=1.2, ratio_danger=1.5, ratio_critical=1.9))
    p = Position(BTC, Side.LONG, MarginMode.CROSS, 1.0, 60_000.0, 59_000.0, TIERS)
    # equity 250 - 1,000 + ... : choose the wallet so that the requirement (236) is 1.05 x equity
    account = Account(Venue.BINANCE_USDM, 1_000.0 + 236.0 / 1.05, (p,), "main")
    risk = evaluate_account(account)
    assert risk.cross is not None and 1.0 <= risk.cross.margin_ratio < 1.2
    alerts = by_symbol(risk_alerts(risk, lenient))
    assert alerts[None].level is Level.CRITICAL
    assert alerts[BTC].level is Level.CRITICAL


@settings(max_examples=150, deadline=None)
@given(accounts(Venue.BINANCE_USDM), st.floats(-1.0, 1.0), st.sampled_from(CONFIGS))
def test_every_position_past_liquidation_is_critical_on_both_paths(
    account: Account, wallet_factor: float, config: PolicyConfig
) -> None:
    scale = sum(p.contracts * p.contract_size * p.mark_price for p in account.positions)
    account = replace(account, name="main", wallet_balance=scale * wallet_factor * 0.1)
    risk = evaluate_accounts([account])[0]
    past = {p.key for p in risk.positions if p.distance_pct is not None and p.distance_pct < 0}
    assume(past)
    fast = risk_alerts(risk, config)
    slow = risk_alerts(evaluate_account(account), config, policy_reference.evaluate)
    for alerts in (fast, slow):
        levels = {(a.symbol, a.position_side): a.level for a in alerts if a.symbol is not None}
        for symbol, position_side in past:
            assert levels.get((symbol, position_side.value)) is Level.CRITICAL
