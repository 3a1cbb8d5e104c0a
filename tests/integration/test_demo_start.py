"""``monitor demo``: the scenario's clock waits for the monitor, so a fast cascade is still watched."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from monitor.demo import run_demo


async def test_a_fast_cascade_is_predicted_because_the_clock_waits_for_the_monitor(tmp_path: Path) -> None:
    """At --speed 8 the cascade used to liquidate before the monitor connected ("NOT predicted")."""
    screen = io.StringIO()
    result = await run_demo(
        speed=8.0,
        scenario="cascade",
        console=Console(file=screen, width=160, color_system=None),
        table_every=1_000.0,
        state_dir=str(tmp_path),
    )
    text = screen.getvalue()
    assert result.liquidations, text
    for verdict in result.liquidations:
        assert verdict.monitor_liquidation_price is not None, text
        assert verdict.critical_first, text
    assert "monitor connected and resynced; the scenario's clock starts" in text


async def test_the_coinm_demo_runs_end_to_end_and_predicts_its_liquidation(tmp_path: Path) -> None:
    """``monitor demo --venue binancecoinm``: the daemon watches the COIN-M dialect as COIN-M
    accounts, and the script's isolated DOGEUSD_PERP liquidation is predicted, critical first."""
    screen = io.StringIO()
    result = await run_demo(
        duration=5.0,  # 60 simulated seconds: the isolated leg is pushed through at 36-44
        speed=12.0,
        scenario="demo",
        console=Console(file=screen, width=160, color_system=None),
        table_every=1_000.0,
        state_dir=str(tmp_path),
        venue="binancecoinm",
    )
    text = screen.getvalue()
    assert "simulated Binance COIN-M" in text
    assert [(v.account, v.symbol, v.margin_mode) for v in result.liquidations] == [
        ("isolated", "DOGE/USD:DOGE", "isolated")
    ], text
    (verdict,) = result.liquidations
    assert verdict.predicted_at_price and verdict.within_one_tick and verdict.critical_first, text
    assert result.rejected == 0, text


async def test_the_summary_counts_each_level_as_the_console_printed_it(tmp_path: Path) -> None:
    """The squeeze liquidates the hedge account: its episodes end because the positions are gone.
    The console says ENDED for those, not OK; the summary's counts are the console's words."""
    import re
    from collections import Counter

    screen = io.StringIO()
    result = await run_demo(
        speed=8.0,
        scenario="squeeze",
        console=Console(file=screen, width=200, color_system=None),
        table_every=1_000.0,
        state_dir=str(tmp_path),
    )
    text = screen.getvalue()
    printed = Counter(
        m.group(1).lower() for m in re.finditer(r"^\d\d:\d\d:\d\d UTC ([A-Z]+) ", text, re.MULTILINE)
    )
    assert printed["ended"] >= 1, text
    assert result.by_level == dict(printed), (result.by_level, text)
    assert sum(printed.values()) == result.alerts
    line = next(x for x in text.splitlines() if x.strip().startswith("│ alerts"))
    assert f"ended {printed['ended']}" in line, line


async def test_the_bitget_demo_runs_end_to_end_and_predicts_its_liquidation(tmp_path: Path) -> None:
    """``monitor demo --venue bitget``: the daemon watches the Bitget dialect through ccxt's bitget,
    and the script's isolated DOGE liquidation is predicted at the exchange's price, critical first."""
    screen = io.StringIO()
    result = await run_demo(
        duration=5.0,
        speed=12.0,
        scenario="demo",
        console=Console(file=screen, width=160, color_system=None),
        table_every=1_000.0,
        state_dir=str(tmp_path),
        venue="bitget",
    )
    text = screen.getvalue()
    assert "simulated Bitget USDT-M" in text
    assert [(v.account, v.symbol, v.margin_mode) for v in result.liquidations] == [
        ("isolated", "DOGE/USDT:USDT", "isolated")
    ], text
    (verdict,) = result.liquidations
    assert verdict.predicted_at_price and verdict.within_one_tick and verdict.critical_first, text
    assert result.rejected == 0, text


@pytest.mark.slow
async def test_the_blofin_demo_runs_end_to_end_and_predicts_its_liquidation(tmp_path: Path) -> None:
    """``monitor demo --venue blofin``: the daemon polls the BloFin dialect's marks through ccxt's
    blofin once a simulated second, and the script's isolated DOGE liquidation is predicted at the
    exchange's price, critical first. A simulated second (333 ms here) outlasts ccxt's 200 ms
    throttle, so the poll woken by the liquidation's push reads the tick that made it."""
    screen = io.StringIO()
    result = await run_demo(
        duration=15.0,
        speed=3.0,
        scenario="demo",
        console=Console(file=screen, width=160, color_system=None),
        table_every=1_000.0,
        state_dir=str(tmp_path),
        venue="blofin",
    )
    text = screen.getvalue()
    assert "simulated BloFin USDT swaps" in text
    assert [(v.account, v.symbol, v.margin_mode) for v in result.liquidations] == [
        ("isolated", "DOGE/USDT:USDT", "isolated")
    ], text
    (verdict,) = result.liquidations
    assert verdict.predicted_at_price and verdict.within_one_tick and verdict.critical_first, text
    assert result.rejected == 0, text
    assert "apart" not in text  # no parity alert: our figures are BloFin's
