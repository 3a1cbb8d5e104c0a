"""A Multi-Assets account end to end: the daemon's pool is the exchange's pool.

Binance counts every margin asset of a Multi-Assets account in the cross pool, at its price less a
haircut. The daemon must reach the same ratio and the same liquidation prices as the exchange (here
the simulator's own liquidation engine) and as ``monitor calc`` given the same account, and keep
them equal as the collateral's prices move and its balances change.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import Level
from monitor.model import AccountRisk
from monitor.sim.book import AccountSeed, Book, SeedPosition
from monitor.sim.exchange import SimExchange
from monitor.sim.ledger import Ledger
from monitor.sim.specs import major_specs

from .conftest import Running, StartDaemon

ROOT = Path(__file__).resolve().parents[2]
REL = 1e-6
UNIFIED = {"BTCUSDT": "BTC/USDT:USDT", "ETHUSDT": "ETH/USDT:USDT", "BNBUSDT": "BNB/USDT:USDT"}


def book() -> Book:
    """``ma`` holds 1,000 USDT and trades BTC and ETH; its real margin is in BTC (priced by BTCUSDT,
    which it trades), BNB (priced by BNBUSDT, which it does not) and USDC. ``plain`` is a
    single-asset account with the same positions."""
    specs = {s: spec for s, spec in major_specs().items() if s in UNIFIED}
    positions = (SeedPosition("BTCUSDT", 1.0, 61_000.0), SeedPosition("ETHUSDT", -10.0, 2_900.0))
    assets = {"BTC": 0.3, "BNB": 20.0, "USDC": 5_000.0}
    return Book(
        "multi-assets",
        specs,
        (
            AccountSeed("ma", 1_000.0, positions, multi_assets=True, assets=assets),
            AccountSeed("plain", 20_000.0, positions),
        ),
    )


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(book(), clock=False) as exchange:
        yield exchange


def calc_snapshot(ledger: Ledger, account: str) -> dict[str, Any]:
    """The account as a user writes it for ``monitor calc``: USDT wallet, positions at the current
    marks, and the other margin assets at their price and haircut."""
    acct = ledger.account(account)
    positions = [
        {
            "symbol": UNIFIED[leg.symbol],
            "side": "long" if leg.amount > 0 else "short",
            "margin_mode": "cross",
            "contracts": str(abs(leg.amount)),
            "entry_price": str(leg.entry_price),
            "mark_price": repr(ledger.marks[leg.symbol]),
            "tiers": [
                {"floor": t.floor, "cap": t.cap, "mmr": t.mmr, "cum": t.cum}
                for t in ledger.specs[leg.symbol].tiers
            ],
        }
        for leg in acct.open_legs()
    ]
    held = {leg.symbol for leg in acct.open_legs()}
    collateral = []
    for asset, amount in acct.assets.items():
        spec = ledger.margin_assets[asset]
        entry: dict[str, Any] = {
            "asset": asset,
            "amount": repr(amount),
            "price": repr(ledger.asset_price(asset)),
            "haircut": repr(spec.haircut),
        }
        if spec.symbol in held:
            entry["symbol"] = UNIFIED[spec.symbol]
        collateral.append(entry)
    return {
        "venue": "binanceusdm",
        "account": account,
        "wallet_balance": repr(acct.cross_wallet),
        "positions": positions,
        "collateral": collateral,
    }


def monitor_calc(snapshot: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(snapshot), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "monitor.commands.cli", "calc", str(path), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def close(ours: float | None, theirs: float | None) -> bool:
    return ours is not None and theirs is not None and abs(ours - theirs) <= REL * abs(theirs)


def assert_agree(run: Running, account: str, tmp_path: Path) -> AccountRisk:
    """The daemon's ratio and liquidation prices equal the exchange's and the calculator's."""
    ours = run.daemon.engine.risks[account]
    exchange = run.sim.ledger.risk(account)
    calc = monitor_calc(calc_snapshot(run.sim.ledger, account), tmp_path)
    assert ours.cross is not None
    assert close(ours.cross.margin_ratio, exchange.cross.ratio), (ours.cross, exchange.cross)
    assert close(ours.cross.margin_ratio, calc["account"]["cross"]["margin_ratio"])
    assert close(ours.cross.equity, calc["account"]["cross"]["equity"])
    by_symbol = {p["symbol"]: p for p in calc["positions"]}
    for leg in exchange.legs:
        symbol = UNIFIED[leg.symbol]
        mine = next(p for p in ours.positions if p.symbol == symbol)
        assert close(mine.liquidation_price, leg.liquidation_price), (symbol, mine, leg)
        assert close(mine.liquidation_price, by_symbol[symbol]["liquidation_price"]), symbol
        assert close(mine.distance_pct, by_symbol[symbol]["distance_pct"]), symbol
    return ours


def criticals(run: Running, account: str) -> list[str]:
    return [
        a.key for a in run.alerts.alerts if a.level is Level.CRITICAL and a.key.startswith(f"risk:{account}:")
    ]


async def test_multi_assets_pool_matches_the_exchange_and_the_calculator(
    sim: SimExchange, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    run = await start_daemon(sim)
    # the resync's own comparison: ours against the positionRisk liquidationPrice of the same moment
    resynced = run.daemon.engine.risks["ma"].positions
    assert {p.symbol for p in resynced} == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    for p in resynced:
        assert close(p.liquidation_price, p.exchange_liquidation_price), p
    await run.tick()
    risk = assert_agree(run, "ma", tmp_path)
    assert risk.cross is not None and risk.cross.margin_ratio < 0.2  # far from liquidation, as Binance says
    assert not criticals(run, "ma")
    assert_agree(run, "plain", tmp_path)


async def test_collateral_revalues_on_its_own_ticks(
    sim: SimExchange, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    run = await start_daemon(sim)
    await run.tick()
    before = assert_agree(run, "ma", tmp_path)
    await run.tick({"BNBUSDT": sim.ledger.marks["BNBUSDT"] * 0.6})  # a symbol no position is in
    after = assert_agree(run, "ma", tmp_path)
    assert before.cross is not None and after.cross is not None
    assert after.cross.equity < before.cross.equity
    # BTC: the long loses and the BTC collateral with it
    await run.tick({"BTCUSDT": sim.ledger.marks["BTCUSDT"] * 0.93})
    assert_agree(run, "ma", tmp_path)


async def test_balance_updates_and_mode_changes_reach_the_pool(
    sim: SimExchange, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    run = await start_daemon(sim)
    await run.tick()
    await run.deliver(sim.set_asset_balance("ma", "USDC", 9_000.0))  # a deposit: ACCOUNT_UPDATE, USDC row
    assert_agree(run, "ma", tmp_path)
    # "plain" switches to Multi-Assets mode and deposits BTC: the next resync reads the mode
    sim.ledger.set_multi_assets("plain", True)
    sim.ledger.set_asset_balance("plain", "BTC", 0.5)
    snapshots = run.daemon.stats.events["AccountSnapshotEvent"]
    await sim.drop_connections()
    await run.until(lambda: run.daemon.stats.events["AccountSnapshotEvent"] >= snapshots + 2, what="resync")
    await run.until(lambda: sum(s.endswith(":user") for s in run.daemon.connected) == 2, what="user streams")
    await sim.wait_market_subscribers()
    await run.tick()
    assert_agree(run, "plain", tmp_path)
    assert_agree(run, "ma", tmp_path)
