"""``monitor demo``: the scenario's clock waits for the monitor, so a fast cascade is still watched."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from monitor.commands.demo import run_demo
from monitor.model import Venue
from monitor.venues.registry import VENUES

# the demo script's isolated DOGE leg, as each venue's ccxt symbol names it
DOGE = {"binancecoinm": "DOGE/USD:DOGE", "hyperliquid": "DOGE/USDC:USDC"}
# BloFin's marks are polled (no streamed mark price): a simulated second must outlast ccxt's 200 ms
# throttle, so the poll woken by the liquidation's push reads the tick that made it
SPEED = {"blofin": 3.0}


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


@pytest.mark.parametrize("venue", sorted(v.value for v in VENUES if v is not Venue.BINANCE_USDM))
async def test_each_venues_demo_runs_end_to_end_and_predicts_its_liquidation(
    tmp_path: Path, venue: str
) -> None:
    """``monitor demo --venue <venue>``: the daemon watches the venue's dialect through the venue's
    real client, and the script's isolated DOGE liquidation is found by the symbol the venue names it
    on the wire, predicted at the exchange's price within one tick, critical first, with no frame
    rejected and no deviation from the exchange's own liquidation prices."""
    screen = io.StringIO()
    speed = SPEED.get(venue, 12.0)
    result = await run_demo(
        duration=60.0 / speed,  # 60 simulated seconds: the isolated leg is pushed through at 36-44
        speed=speed,
        scenario="demo",
        console=Console(file=screen, width=200, color_system=None),
        table_every=1_000.0,
        state_dir=str(tmp_path),
        venue=venue,
    )
    text = screen.getvalue()
    assert f"simulated {VENUES[Venue(venue)].title}" in text
    assert [(v.account, v.symbol, v.margin_mode) for v in result.liquidations] == [
        ("isolated", DOGE.get(venue, "DOGE/USDT:USDT"), "isolated")
    ], text
    (verdict,) = result.liquidations
    assert verdict.predicted_at_price and verdict.within_one_tick and verdict.critical_first, text
    assert result.rejected == 0, text
    assert "our liq" not in text, text
