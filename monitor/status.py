"""``monitor status``: the running daemon's ``/healthz`` as a table, and as an exit code for scripts.

Exit 0 healthy, 1 unhealthy (the daemon answered 503, or its JSON says not ok), 2 unreachable or not a
monitor. Only the standard library talks HTTP here: the command must work when the event loop of the
daemon it inspects is the thing that is broken, and start fast.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
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


def _age(value: Any) -> str:
    return "never" if value is None else f"{float(value):.1f} s"


def render(health: dict[str, Any], console: Console) -> None:
    ok = bool(health.get("ok"))
    head = "[green]healthy[/green]" if ok else "[red]UNHEALTHY[/red]"
    console.print(f"monitor: {head}, up {float(health.get('uptime_s') or 0):.0f} s")
    for problem in health.get("problems") or []:
        console.print(f"  [red]-[/red] {problem}", highlight=False)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
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
        err.print(f"[red]unreachable:[/red] {exc}", highlight=False)
        return EXIT_UNREACHABLE
    if as_json:
        print(json.dumps(health, indent=2))
    else:
        render(health, Console(highlight=False, width=max(100, Console().width)))
    return EXIT_HEALTHY if health.get("ok") is True else EXIT_UNHEALTHY
