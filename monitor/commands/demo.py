"""``monitor demo``: the whole service against the built-in exchange, on a fresh machine, offline.

The simulated Binance USD-M exchange runs in-process on free loopback ports with the demo book (a cross
account with correlated longs and a hedge, an isolated high-leverage account, a hedge-mode account) and a
scripted market. The daemon reaches it exactly as it reaches Binance: ccxt over HTTP and WebSocket. The
demo compresses time by ``--speed``; the daemon's clocks (staleness, repeats, resync) are scaled by the
same factor so that what the scenario shows in sim seconds happens on screen in real ones.

The scenario's clock starts only once the monitor is connected and resynced: at ``--speed 8`` a cascade
would otherwise liquidate positions before the monitor has seen them, and the summary would blame the
monitor for what its start-up missed.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from monitor.alerts import Alert, Level
from monitor.commands.calc import fmt, hedged_symbols, pct, ratio_style, ratio_text
from monitor.commands.prediction import PredictionLog, Verdict
from monitor.commands.tables import fit
from monitor.daemon.service import Daemon, DaemonOptions, Notifier
from monitor.model import AccountRisk, MarginMode, Venue
from monitor.notify.console import ConsoleNotifier
from monitor.notify.render import level_word
from monitor.notify.telegram import TelegramNotifier
from monitor.policy.settings import PolicyConfig, RepeatSchedule
from monitor.sim.exchange import SimExchange
from monitor.venues.base import Endpoints, VenueAccount
from monitor.venues.registry import VENUES

CONNECT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DemoResult:
    alerts: int
    by_level: dict[str, int]
    liquidations: list[Verdict]
    rejected: int
    reconnects: int

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.liquidations)


def demo_policy(speed: float) -> PolicyConfig:
    """The default policy with its clocks compressed by ``speed`` (sim seconds per real second)."""
    base = PolicyConfig(cross_positions_use_account_ratio=False)
    s, r = base.staleness, base.repeat
    return replace(
        base,
        staleness=replace(
            s,
            marks_ms=max(1_000, int(s.marks_ms / speed)),
            symbol_mark_ms=max(1_000, int(s.symbol_mark_ms / speed)),
            user_ms=max(2_000, int(s.user_ms / speed)),
        ),
        repeat=RepeatSchedule(int(r.warn_ms / speed), int(r.danger_ms / speed), int(r.critical_ms / speed)),
    )


async def run_demo(
    *,
    duration: float | None = None,
    speed: float = 4.0,
    scenario: str = "demo",
    console: Console | None = None,
    table_every: float = 5.0,
    state_dir: str | None = None,
    extra_notifiers: Sequence[Notifier] = (),
    telegram: bool = False,
    venue: str = "binanceusdm",
) -> DemoResult:
    """``venue``: a registered venue's name (``monitor.venues.registry``); the simulator speaks its
    dialect and the daemon watches the simulator's accounts as accounts of that venue."""
    console = console or Console(highlight=False)
    spec = VENUES[Venue(venue)]
    sim = SimExchange("demo", scenario, speed=speed, seed=7, clock=False, dialect=spec.sim_dialect)
    await sim.start()
    sim.on_note = lambda t, text: console.print(f"[dim]  t={t:5.0f}s  {text}[/dim]")
    # each account with the simulated venue's taker fee (Bitget's 0.06 % is in its maintenance margin)
    fees = {name: sim.ledger.account(name).taker_fee for name in sim.accounts}
    # a venue whose marks are polled (BloFin) polls once a simulated second
    poll = 1.0 / speed
    accounts = tuple(
        VenueAccount(name, k.api_key, k.secret, fees[name], k.passphrase, address=k.address, mark_poll_s=poll)
        for name, k in sim.accounts.items()
    )
    tmp = None
    if state_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="monitor-demo-")
        state_dir = tmp.name
    options = DaemonOptions(
        state_file=str(Path(state_dir) / "state.sqlite3"),
        policy=demo_policy(speed),
        venues={spec.venue: accounts},
        endpoints={spec.venue: Endpoints(sim.http_url, sim.ws_url)},
        resync_seconds=max(3.0, 20.0 / speed),
    )
    log = PredictionLog()
    notifiers: list[Notifier] = [ConsoleNotifier(console, min_level=Level.INFO), *extra_notifiers]
    daemon = Daemon(options, notifiers)
    daemon.risk_listeners.append(log.on_risks)
    daemon.alert_listeners.append(log.on_alerts)
    # counted by the word each console line shows, so the summary adds up to what was printed
    levels: dict[str, int] = {}

    def count_levels(alerts: Sequence[Alert]) -> None:
        for a in alerts:
            word = level_word(a).lower()
            levels[word] = levels.get(word, 0) + 1

    daemon.alert_listeners.append(count_levels)
    daemon.health_listeners.append(
        lambda h: console.print(
            f"[dim]  stream {h.stream} {h.state.value}{': ' + h.detail if h.detail else ''}[/dim]"
        )
    )
    bot = telegram_for(daemon) if telegram else None
    if bot is not None:
        daemon.notifiers.append(bot)
        await bot.start()
        console.print("alerts also go to Telegram (TELEGRAM_CHAT_ID)")
    total = duration if duration is not None else (sim.scenario.duration or 60.0) / speed + 3.0
    console.rule(
        f"[bold]monitor demo[/bold]: scenario {sim.scenario.name!r}, speed x{speed:g}, {total:.0f} s"
    )
    console.print(f"simulated {spec.title} at {sim.http_url} (REST) and {sim.ws_url} (WebSocket)")
    try:
        await daemon.start()
        if await connected(daemon, sim):
            console.print("[dim]  monitor connected and resynced; the scenario's clock starts[/dim]")
        else:
            console.print("[yellow]  the monitor is not connected yet; starting the scenario anyway[/yellow]")
        sim.resume()
        if bot is not None:
            bot.daemon_ready()
        loop = asyncio.get_running_loop()
        end = loop.time() + total
        next_table = loop.time() + table_every
        while (now := loop.time()) < end:
            await asyncio.sleep(min(0.2, end - now))
            if loop.time() >= next_table:
                next_table += table_every
                console.print(positions_table(daemon.engine.risks, sim.sim_time, console))
    finally:
        if bot is not None:
            await bot.stop(flush_timeout_s=5.0)
        await daemon.stop()
        await sim.stop()
        if tmp is not None:
            tmp.cleanup()
    symbols = _symbol_map(daemon)
    verdicts = [
        log.verdict(
            rec.account,
            symbols.get(sim.dialect.market_id(sim.ledger.specs[rec.symbol]), rec.symbol),
            rec.position_side.value,
            rec.margin_mode.value,
            rec.mark_price,
        )
        for rec in sim.liquidations
    ]
    result = DemoResult(
        alerts=sum(daemon.stats.alerts.values()),
        by_level=levels,
        liquidations=verdicts,
        rejected=sum(daemon.stats.rejected.values()),
        reconnects=daemon.stats.events.get("StreamHealth", 0),
    )
    console.print(summary(result, daemon))
    return result


async def connected(daemon: Daemon, sim: SimExchange, timeout_s: float = CONNECT_TIMEOUT_S) -> bool:
    """Wait, with the scenario's clock held, until every stream of the daemon is connected.

    ``Daemon.start`` returns after the first REST snapshot; the user streams count as connected once
    subscribed and resynced, the mark stream once a valid frame arrived, so the held market publishes
    its unchanged marks until it does. False when ``timeout_s`` passes first."""
    streams = {name for adapter in daemon.adapters.values() for name in adapter.stream_names()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not streams <= daemon.connected:
        if loop.time() >= deadline:
            return False
        if sim.streams.subscribers(None) > 0:
            await sim.publish_marks()
        await asyncio.sleep(0.1)
    await daemon.drain()
    return True


def _symbol_map(daemon: Daemon) -> dict[str, str]:
    """A venue's market id -> its unified symbol, as the daemon's adapters learnt them from the markets
    (the dialect's ``market_id`` names a simulated symbol as the venue does)."""
    out: dict[str, str] = {}
    for adapter in daemon.adapters.values():
        out.update(adapter.symbols)
    return out


def positions_table(risks: Mapping[str, AccountRisk], sim_time: float, console: Console) -> Table:
    """Every account's positions as the daemon last evaluated them, fitted to ``console``'s width."""
    table = Table(
        title=f"positions at t={sim_time:.0f}s",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        title_justify="left",
    )
    for col in ("account", "symbol", "side", "mode", "mark", "liq price", "dist", "ratio"):
        justify = "right" if col in ("mark", "liq price", "dist", "ratio") else "left"
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    legend: list[str] = []
    for name, risk in sorted(risks.items()):
        legend.extend(f"{name}: {line}" for line in hedged_symbols(risk.positions, digits=6))
        if risk.cross is not None:
            r = risk.cross.margin_ratio
            table.add_row(
                name, "(cross pool)", "", "cross", "", "", "", f"[{ratio_style(r)}]{ratio_text(r)}[/]"
            )
        for p in risk.positions:
            side = p.side.value if p.position_side.value == "both" else f"{p.side.value}*"
            r = p.margin_ratio
            table.add_row(
                name,
                p.symbol,
                side,
                p.margin_mode.value,
                fmt(p.mark_price),
                fmt(p.liquidation_price),
                pct(p.distance_pct),
                f"[{ratio_style(r)}]{ratio_text(r)}[/]" if p.margin_mode is MarginMode.ISOLATED else "",
            )
    if legend:
        table.caption = "; ".join(["* hedge-mode leg", *legend])
    fit(table, console, ("mode", "mark", "side"))
    return table


def summary(result: DemoResult, daemon: Daemon) -> Table:
    t = Table(title="demo summary", box=box.ROUNDED, show_header=False, title_justify="left")
    t.add_column("what")
    t.add_column("value")
    order = ["critical", "danger", "warn", "info", "ok", "ended"]
    levels = ", ".join(f"{k} {result.by_level[k]}" for k in order if k in result.by_level)
    t.add_row("alerts", f"{result.alerts} ({levels})")
    kinds: dict[str, int] = {}
    for key, n in daemon.stats.alerts.items():
        kinds[key.split(":")[0]] = kinds.get(key.split(":")[0], 0) + n
    t.add_row("alert kinds", ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    for v in result.liquidations:
        mark = "[green]predicted[/green]" if v.ok else "[red]NOT predicted[/red]"
        detail = f"exchange liquidated at {fmt(v.exchange_mark)}"
        if v.monitor_liquidation_price is not None:
            detail += f", monitor's liquidation price the tick before {fmt(v.monitor_liquidation_price)}"
        detail += ", critical alert first" if v.critical_first else ", [red]no critical alert first[/red]"
        t.add_row("liquidation", f"{v.account} {v.symbol} {v.margin_mode}: {mark} ({detail})")
    if not result.liquidations:
        t.add_row("liquidation", "none in this run")
    t.add_row("frames rejected", str(result.rejected))
    t.add_row("stream up/down events", str(result.reconnects))
    d = sorted(daemon.stats.decisions_us)
    if d:
        t.add_row(
            "event -> decision",
            f"p50 {d[len(d) // 2]:.0f} us, p99 {d[int(len(d) * 0.99)]:.0f} us over {len(d)}",
        )
    return t


def telegram_for(daemon: Daemon) -> TelegramNotifier | None:
    """A Telegram notifier when ``TELEGRAM_BOT_TOKEN`` and ``TELEGRAM_CHAT_ID`` are set, else None.
    Commands answer from the demo's daemon; its outbox lives in the demo's state file."""
    if not (os.environ.get("TELEGRAM_BOT_TOKEN") and os.environ.get("TELEGRAM_CHAT_ID")):
        return None
    from monitor.daemon.ports import DaemonControl, DaemonStatus
    from monitor.notify.wiring import telegram_notifier_from_env

    return telegram_notifier_from_env(
        os.environ,
        state_file=daemon.options.state_file,
        status=DaemonStatus(daemon),
        control=DaemonControl(daemon),
    )


def main(duration: float | None, speed: float, scenario: str, venue: str = "binanceusdm") -> int:
    asyncio.run(run_demo(duration=duration, speed=speed, scenario=scenario, telegram=True, venue=venue))
    return 0
