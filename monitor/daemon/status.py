"""``monitor status``: the running daemon's ``/healthz`` as a table, and as an exit code for scripts.

Exit 0 healthy, 1 unhealthy (the daemon answered 503, or its JSON says not ok), 2 unreachable or not a
monitor. Only the standard library talks HTTP here: the command must work when the event loop of the
daemon it inspects is the thing that is broken, and start fast.

Besides the health document it reads ``/metrics`` for what a user means by "status": each account's
positions with their mark, liquidation price, distance and ratio, as ``monitor calc`` prints them, and
each cross pool's ratio. The level beside each comes from the health document's ``accounts``: the
level of the daemon's open episode about it (what its last alert said), OK when none is open.
``--json`` prints a JSON document in every case, also when the daemon cannot be reached (``ok: false``,
``reachable: false`` and the reason), so a script never has to parse an error line.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

DEFAULT_URL = "http://127.0.0.1:9108"
EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1
EXIT_UNREACHABLE = 2


class Unreachable(Exception):
    """No usable answer from the health endpoint; the message says why."""


def fetch(url: str, timeout: float = 3.0) -> dict[str, Any]:
    """GET ``<url>/healthz``. A 503 is an answer (unhealthy), not an error."""
    target = url.rstrip("/") + "/healthz"
    try:
        with urllib.request.urlopen(target, timeout=timeout) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        if exc.code != 503:
            raise Unreachable(f"{target}: HTTP {exc.code}") from None
        body = exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(f"{target}: {reason}") from None
    try:
        data = json.loads(body)
    except ValueError:
        raise Unreachable(f"{target}: not JSON") from None
    if not isinstance(data, dict) or "ok" not in data or "streams" not in data:
        raise Unreachable(f"{target}: not a monitor health document")
    return data


CROSS_POOL = ""  # the symbol of an account's cross pool row


@dataclass(frozen=True)
class PositionStatus:
    """One position (or, with symbol ``CROSS_POOL``, an account's cross pool) as the daemon last
    evaluated it (from ``/metrics``), with its alert level once ``with_levels`` added it."""

    account: str
    symbol: str
    side: str
    position_side: str
    margin_mode: str
    mark: float | None
    liquidation_price: float | None
    distance_pct: float | None
    margin_ratio: float | None
    level: str | None = None


_POSITION_GAUGES = {
    "monitor_position_mark_price": "mark",
    "monitor_position_liquidation_price": "liquidation_price",
    "monitor_position_distance_percent": "distance_pct",
    "monitor_position_margin_ratio": "margin_ratio",
}


def fetch_positions(url: str, timeout: float = 3.0) -> list[PositionStatus] | None:
    """The positions in ``<url>/metrics``, or None when they cannot be read (an older daemon, a proxy
    that only passes /healthz): the health answer stands on its own."""
    from prometheus_client.parser import text_string_to_metric_families

    target = url.rstrip("/") + "/metrics"
    try:
        with urllib.request.urlopen(target, timeout=timeout) as resp:
            text = resp.read().decode("utf-8", "replace")
        families = list(text_string_to_metric_families(text))
    except (urllib.error.URLError, OSError, ValueError):
        return None
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    for family in families:
        for sample in family.samples:
            labels = sample.labels
            field = _POSITION_GAUGES.get(sample.name)
            if sample.name == "monitor_account_margin_ratio":
                field = "margin_ratio"
                key: tuple[str, ...] = (labels.get("account", ""), CROSS_POOL, "", "", "cross")
            elif field is not None:
                key = tuple(
                    labels.get(k, "") for k in ("account", "symbol", "position_side", "side", "margin_mode")
                )
            else:
                continue
            rows.setdefault(key, {})[field] = float(sample.value)
    return [
        PositionStatus(
            account=key[0],
            symbol=key[1],
            position_side=key[2],
            side=key[3],
            margin_mode=key[4],
            mark=values.get("mark"),
            liquidation_price=values.get("liquidation_price"),
            distance_pct=values.get("distance_pct"),
            margin_ratio=values.get("margin_ratio"),
        )
        for key, values in sorted(rows.items())
    ]


def with_levels(positions: list[PositionStatus], health: dict[str, Any]) -> list[PositionStatus]:
    """``positions`` with the level the health document gives each (None where it names none: an
    older daemon, or a position that opened between the two requests)."""
    levels: dict[tuple[str, str, str], str] = {}
    accounts = health.get("accounts")
    for account, entry in (accounts if isinstance(accounts, dict) else {}).items():
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("cross_level"), str):
            levels[(account, CROSS_POOL, "")] = entry["cross_level"]
        for p in entry.get("positions") or []:
            if isinstance(p, dict) and isinstance(p.get("level"), str):
                levels[(account, str(p.get("symbol")), str(p.get("position_side")))] = p["level"]
    return [replace(p, level=levels.get((p.account, p.symbol, p.position_side))) for p in positions]


_LEVEL_STYLE = {
    "ok": "green",
    "info": "cyan",
    "warn": "yellow",
    "danger": "bold dark_orange",
    "critical": "bold red",
}


def positions_table(positions: list[PositionStatus], console: Console) -> Table:
    """The positions as ``monitor calc`` shows them, each cross pool first, with the alert level of
    each, fitted to the console's width."""
    from monitor.commands.calc import fmt, pct, ratio_style, ratio_text
    from monitor.commands.tables import fit

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in ("account", "symbol", "side", "mode", "mark", "liq price", "dist", "ratio", "level"):
        justify = "right" if col in ("mark", "liq price", "dist", "ratio") else "left"
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for p in positions:
        level = "" if p.level is None else f"[{_LEVEL_STYLE.get(p.level, '')}]{p.level.upper()}[/]"
        ratio = (
            ""
            if p.margin_ratio is None
            else f"[{ratio_style(p.margin_ratio)}]{ratio_text(p.margin_ratio)}[/]"
        )
        if p.symbol == CROSS_POOL:
            table.add_row(p.account, "(cross pool)", "", "cross", "", "", "", ratio, level)
            continue
        side = p.side if p.position_side == "both" else f"{p.side}*"
        table.add_row(
            p.account,
            p.symbol,
            side,
            p.margin_mode,
            fmt(p.mark),
            fmt(p.liquidation_price, 8),
            pct(p.distance_pct),
            ratio,
            level,
        )
    if any(p.position_side not in ("both", "") for p in positions):
        table.caption = "* hedge-mode leg"
    fit(table, console, ("mode", "mark", "side"))
    return table


def _age(value: Any) -> str:
    return "never" if value is None else f"{float(value):.1f} s"


def render(health: dict[str, Any], console: Console, positions: list[PositionStatus] | None = None) -> None:
    ok = bool(health.get("ok"))
    head = "[green]healthy[/green]" if ok else "[red]UNHEALTHY[/red]"
    console.print(f"monitor: {head}, up {float(health.get('uptime_s') or 0):.0f} s")
    for problem in health.get("problems") or []:
        console.print(f"  [red]-[/red] {problem}", highlight=False, soft_wrap=True)
    if positions:
        console.print(positions_table(positions, console))
    elif positions is not None:
        console.print("no open positions")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col, justify in (("stream", "left"), ("age", "right"), ("stale after", "right"), ("state", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, s in sorted((health.get("streams") or {}).items()):
        state = "[red]stale[/red]" if s.get("stale") else "[green]fresh[/green]"
        if not s.get("connected"):
            state += " (disconnected)"
        table.add_row(name, _age(s.get("age_s")), f"{float(s.get('threshold_s') or 0):g} s", state)
    for name, s in sorted((health.get("symbols") or {}).items()):
        state = "[red]stale[/red]" if s.get("stale") else "[green]fresh[/green]"
        table.add_row(f"mark {name}", _age(s.get("age_s")), f"{float(s.get('threshold_s') or 0):g} s", state)
    console.print(table)
    extra = [f"open episodes {health.get('open_episodes', 0)}"]
    if health.get("outbox_pending") is not None:
        extra.append(f"outbox {health['outbox_pending']} pending")
    if health.get("trading_state") is not None:
        extra.append(f"trading {health['trading_state']}")
    for name, channel in sorted((health.get("channels") or {}).items()):
        extra.append(f"alert channel {name} {channel.get('state')}")
    console.print(", ".join(extra), highlight=False)


def main(url: str = DEFAULT_URL, *, as_json: bool = False, timeout: float = 3.0) -> int:
    err = Console(stderr=True)
    try:
        health = fetch(url, timeout)
    except Unreachable as exc:
        if as_json:
            print(json.dumps({"ok": False, "reachable": False, "url": url, "error": str(exc)}, indent=2))
        err.print(f"[red]unreachable:[/red] {exc}", highlight=False)
        return EXIT_UNREACHABLE
    if as_json:
        print(json.dumps(health, indent=2))
    else:
        positions = fetch_positions(url, timeout)
        render(
            health, Console(highlight=False), None if positions is None else with_levels(positions, health)
        )
    return EXIT_HEALTHY if health.get("ok") is True else EXIT_UNHEALTHY
