"""``monitor calc``: the liquidation calculator over an account snapshot.

The JSON output is a contract (design brief, "Calculator output"): numbers are JSON numbers, a
liquidation price that does not exist is ``null``, and so is a margin ratio whose equity is gone
(``inf`` internally) and the distance of a position past liquidation that no price restores
(``-inf``). Distances are signed, negative past the liquidation price. The table is for people
and may change; it ends with a warning for every position past its liquidation price.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from monitor import figures
from monitor.commands.tables import fit
from monitor.margin.account import evaluate_account
from monitor.margin.whatif import WhatIf
from monitor.model import Account, AccountRisk, MarginMode, PositionRisk, PositionSide
from monitor.policy.facts import past_liquidation


def _num(x: float | None) -> float | None:
    """A JSON number: 12 significant digits (no ``48.800000000000004``; the maths is good to about
    1e-12 relative, the exchanges round to 8 decimals), ``None`` for what is not finite."""
    return float(f"{x:.12g}") if x is not None and math.isfinite(x) else None


def risk_to_json(risk: AccountRisk) -> dict[str, Any]:
    cross = None
    if risk.cross is not None:
        cross = {
            "equity": _num(risk.cross.equity),
            "maint_margin": _num(risk.cross.maint_margin),
            "margin_ratio": _num(risk.cross.margin_ratio),
        }
    return {
        "venue": risk.venue.value,
        "account": {"cross": cross},
        "positions": [
            {
                "symbol": p.symbol,
                "side": p.side.value,
                "position_side": p.position_side.value,
                "margin_mode": p.margin_mode.value,
                "notional": _num(p.notional),
                "unrealized_pnl": _num(p.unrealized_pnl),
                "maint_margin": _num(p.maint_margin),
                "margin_ratio": _num(p.margin_ratio),
                "liquidation_price": _num(p.liquidation_price),
                "distance_pct": _num(p.distance_pct),
                "exchange_liquidation_price": _num(p.exchange_liquidation_price),
                "deviation_pct": _num(p.deviation_pct),
                "past_liquidation": past_liquidation(p.distance_pct),
            }
            for p in risk.positions
        ],
    }


def what_if_to_json(w: WhatIf) -> dict[str, Any]:
    return {
        "mode_switches": [
            {
                "symbol": m.symbol,
                "position_side": str(m.position_side),
                "from": m.from_mode.value,
                "to": m.to_mode.value,
                "liquidation_price": _num(m.liquidation_price),
                "distance_pct": _num(m.distance_pct),
                "moved_margin": _num(m.moved_margin),
                "note": m.note,
            }
            for m in w.mode_switches
        ],
        "margin_to_add": [
            {
                "symbol": a.symbol,
                "position_side": str(a.position_side),
                "target_distance_pct": _num(a.target_distance_pct),
                "target_liquidation_price": _num(a.target_liquidation_price),
                "add": _num(a.add),
                "new_liquidation_price": _num(a.new_liquidation_price),
            }
            for a in w.margin_to_add
        ],
        "market_moves": [
            {
                "scope": m.scope,
                "down_pct": _num(m.down_pct),
                "up_pct": _num(m.up_pct),
                "past_liquidation": m.past_liquidation,
            }
            for m in w.market_moves
        ],
    }


def fmt(x: float | None, digits: int = 6) -> str:
    """Significant digits for prices and amounts; ``--`` where there is nothing (Binance's UI too)."""
    if x is None:
        return "--"
    if math.isinf(x):
        return "inf"
    return f"{x:,.{digits}g}" if abs(x) < 1e15 else f"{x:.4e}"


def ratio_text(r: float) -> str:
    """A margin ratio in percent, as every channel writes it (``∞``: no equity left)."""
    return "∞" if math.isinf(r) else figures.fmt_ratio(r)


def pct(x: float | None) -> str:
    return "--" if x is None else figures.fmt_pct(x)


def ratio_style(r: float) -> str:
    if r >= 0.85:
        return "bold red"
    if r >= 0.70:
        return "red"
    if r >= 0.50:
        return "yellow"
    return "green"


def render_table(account: Account, risk: AccountRisk, console: Console) -> None:
    title = f"{risk.venue.value} {account.name or ''}".strip()
    if risk.cross is not None:
        c = risk.cross
        console.print(
            f"[bold]{title}[/bold]  cross equity {fmt(c.equity)}  maintenance {fmt(c.maint_margin)}  "
            f"ratio [{ratio_style(c.margin_ratio)}]{ratio_text(c.margin_ratio)}[/]"
            + (f"  {note}" if (note := figures.venue_ratio_note(risk.venue.value, c.margin_ratio)) else "")
        )
    else:
        console.print(f"[bold]{title}[/bold]  (no cross positions)")
    with_exchange = any(p.exchange_liquidation_price is not None for p in risk.positions)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    cols = ["symbol", "side", "mode", "size", "mark", "liq price", "dist", "ratio", "maint", "uPnL"]
    if with_exchange:
        cols += ["exch liq", "dev"]
    for col in cols:
        table.add_column(col, justify="left" if col in ("symbol", "side", "mode") else "right", no_wrap=True)
    for p, pos in zip(risk.positions, account.positions, strict=True):
        side = p.side.value if p.position_side.value == "both" else f"{p.side.value}*"
        row = [
            p.symbol,
            side,
            p.margin_mode.value,
            fmt(pos.contracts),
            fmt(p.mark_price),
            fmt(p.liquidation_price, 8),
            pct(p.distance_pct),
            f"[{ratio_style(p.margin_ratio)}]{ratio_text(p.margin_ratio)}[/]",
            fmt(p.maint_margin, 5),
            fmt(p.unrealized_pnl, 5),
        ]
        if with_exchange:
            row += [fmt(p.exchange_liquidation_price, 8), pct(p.deviation_pct)]
        table.add_row(*row)
    legend = (
        ["* hedge-mode leg", *hedged_symbols(risk.positions)]
        if any(p.position_side.value != "both" for p in risk.positions)
        else []
    )
    if legend:
        table.caption = "; ".join(legend)
    fit(table, console, ("maint", "uPnL", "dev", "size", "exch liq", "mode"))
    console.print(table)
    for line in warnings(risk):
        console.print(f"[bold red]! {line}[/]")


def hedged_symbols(positions: Sequence[PositionRisk], digits: int = 8) -> list[str]:
    """Each cross symbol held by two legs: which way it is net, and where both legs close. The long
    leg of a net-short symbol has its liquidation price above the mark, which reads as a mistake
    unless the table says why. (Both legs of a symbol share its contract size: contracts compare.)
    The price is written with ``digits`` significant digits, as the table's own column."""
    legs: dict[str, list[PositionRisk]] = {}
    for p in positions:
        if p.margin_mode is MarginMode.CROSS and p.position_side is not PositionSide.BOTH:
            legs.setdefault(p.symbol, []).append(p)
    out = []
    for symbol, pair in legs.items():
        if len(pair) < 2 or any(p.contracts is None for p in pair):
            continue
        net = sum((p.contracts or 0.0) * p.side.sign for p in pair)
        lp = pair[0].liquidation_price
        where = f"both legs close at {fmt(lp, digits)}" if lp is not None else "no price closes them"
        way = "net long" if net > 0 else "net short" if net < 0 else "flat (fully hedged)"
        out.append(f"{symbol} is {way}: {where}")
    return out


def warnings(risk: AccountRisk) -> list[str]:
    """What must not be missed: a pool without equity, a position past its liquidation price."""
    out = []
    c = risk.cross
    if c is not None:
        if c.equity < 0:
            out.append(f"cross equity is negative ({fmt(c.equity)}): the account is past liquidation")
        elif c.margin_ratio >= 1.0:
            out.append(
                f"cross margin ratio {ratio_text(c.margin_ratio)} >= 100 %: the account is past liquidation"
            )
    for p in risk.positions:
        if not past_liquidation(p.distance_pct):
            continue
        leg = "" if p.position_side is PositionSide.BOTH else f" ({p.position_side.value} leg)"
        assert p.distance_pct is not None
        if math.isinf(p.distance_pct):
            how = f"mark {fmt(p.mark_price)}, and no price restores it"
        else:
            how = (
                f"mark {fmt(p.mark_price)} is {pct(-p.distance_pct)} beyond liq {fmt(p.liquidation_price, 8)}"
            )
        out.append(f"{p.symbol} {p.side.value}{leg} is past its liquidation price: {how}")
    return out


def render_what_if(w: WhatIf, console: Console) -> None:
    t = Table(title="liquidation price in the other margin mode", box=box.SIMPLE_HEAD)
    noted = any(m.note for m in w.mode_switches)  # an empty note column would only take room
    for col in ("symbol", "leg", "now", "as", "liq price", "distance", "margin moved", "note")[
        : 8 if noted else 7
    ]:
        t.add_column(col, no_wrap=col != "note")
    for m in w.mode_switches:
        t.add_row(
            m.symbol,
            str(m.position_side),
            m.from_mode.value,
            m.to_mode.value,
            fmt(m.liquidation_price, 8),
            pct(m.distance_pct),
            fmt(m.moved_margin),
            *([m.note] if noted else []),
        )
    fit(t, console, ("margin moved", "now", "note"))
    console.print(t)
    if w.margin_to_add:
        t = Table(title="margin to add to isolated positions", box=box.SIMPLE_HEAD)
        for col in ("symbol", "leg", "target distance", "target liq", "add", "new liq"):
            t.add_column(col, no_wrap=True)
        for a in w.margin_to_add:
            t.add_row(
                a.symbol,
                str(a.position_side),
                pct(a.target_distance_pct),
                fmt(a.target_liquidation_price, 8),
                fmt(a.add),
                fmt(a.new_liquidation_price, 8),
            )
        fit(t, console, ("target liq", "leg"))
        console.print(t)
    if w.market_moves:
        past = any(mv.past_liquidation for mv in w.market_moves)
        what = "restores the cross account (past liquidation now)" if past else "liquidates the cross account"
        t = Table(title=f"uniform move that {what}", box=box.SIMPLE_HEAD)
        for col in ("marks moved", "fall", "rise"):
            t.add_column(col, no_wrap=True)
        for mv in w.market_moves:
            t.add_row(mv.scope, pct(mv.down_pct), pct(mv.up_pct))
        console.print(t)


def evaluate(account: Account) -> AccountRisk:
    return evaluate_account(account)
