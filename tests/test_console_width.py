"""Tables at 80 and 120 columns: the liquidation price, the distance and the ratio are never cut."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from monitor.commands.calc import evaluate, fmt, pct, ratio_text, render_table, render_what_if
from monitor.commands.demo import positions_table
from monitor.commands.snapshot import load_snapshot
from monitor.commands.tables import ELLIPSIS
from monitor.margin.whatif import what_if

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.json"))


def console(width: int) -> Console:
    return Console(width=width, file=io.StringIO(), color_system=None, record=True)


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_calc_tables_keep_the_numbers_whole(example: Path, width: int) -> None:
    account, _ = load_snapshot(example.read_text())
    risk = evaluate(account)
    out = console(width)
    render_table(account, risk, out)
    render_what_if(what_if(account, 10.0), out)
    text = out.export_text()
    assert ELLIPSIS not in text
    assert all(len(line) <= width for line in text.splitlines())
    rows = [
        line for line in text.splitlines() if line.strip().startswith(tuple(p.symbol for p in risk.positions))
    ]
    for p in risk.positions:
        wanted = [fmt(p.liquidation_price, 8), pct(p.distance_pct), ratio_text(p.margin_ratio)]
        assert any(all(w in row for w in wanted) for row in rows), (p.symbol, wanted, text)


def test_wider_terminals_show_more_columns() -> None:
    account, _ = load_snapshot(EXAMPLES[0].read_text())
    risk = evaluate(account)
    narrow, wide = console(80), console(120)
    render_table(account, risk, narrow)
    render_table(account, risk, wide)
    narrow_text, wide_text = narrow.export_text(), wide.export_text()
    assert "narrow terminal" in narrow_text
    assert "narrow terminal" not in wide_text and "maint" in wide_text


@pytest.mark.parametrize("width", [80, 120])
def test_demo_positions_table_keeps_the_numbers_whole(width: int) -> None:
    risks = {}
    for i, example in enumerate(EXAMPLES):
        account, _ = load_snapshot(example.read_text())
        risks[f"account-{i}"] = evaluate(account)
    out = console(width)
    out.print(positions_table(risks, 12.0, out))
    text = out.export_text()
    assert ELLIPSIS not in text
    for risk in risks.values():
        for p in risk.positions:
            assert fmt(p.liquidation_price) in text and pct(p.distance_pct) in text


def test_a_column_after_a_dropped_one_is_measured_where_it_now_stands() -> None:
    """Dropping a middle column must not leave the ones after it measured as if it were still
    there: the last column then got a middle column's padding, and at 80 columns every minor
    column was dropped and the liquidation price still cut."""
    from rich import box
    from rich.table import Table

    from monitor.commands.tables import fit

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for header in ("account", "symbol", "side", "mode", "mark", "liq price", "dist", "ratio", "level"):
        table.add_column(header, no_wrap=True)
    table.add_row(
        "main", "BTC/USDT:USDT", "long", "isolated", "60,000", "40,311.235", "25.35 %", "2.61 %", ""
    )
    out = console(80)
    assert fit(table, out, ("mode", "mark", "side")) == ["mode"]
    out.print(table)
    text = out.export_text()
    assert "40,311.235" in text and ELLIPSIS not in text, text


@pytest.mark.parametrize("width", [80, 120])
def test_status_positions_table_keeps_the_numbers_whole(width: int) -> None:
    from monitor.daemon.status import CROSS_POOL, PositionStatus
    from monitor.daemon.status import positions_table as status_table

    rows = [
        PositionStatus("main", CROSS_POOL, "", "", "cross", None, None, None, 0.0261, "ok"),
        PositionStatus(
            "main", "BTC/USDT:USDT", "long", "both", "cross", 60_000.0, 40_311.2351, 25.35, 0.0261, "ok"
        ),
        PositionStatus(
            "main", "SOL/USDT:USDT", "long", "both", "isolated", 150.0, 135.85859, 9.43, 0.0667, "warn"
        ),
    ]
    out = console(width)
    out.print(status_table(rows, out))
    text = out.export_text()
    assert ELLIPSIS not in text and "40,311.235" in text and "135.85859" in text, text
    assert "WARN" in text and "(cross pool)" in text
