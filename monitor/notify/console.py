"""Alerts on the terminal: one line each, coloured by level.

The text comes from ``render.render_line`` (pure); this module only picks the colour and prints. It uses
``rich.text.Text`` rather than markup so a ``[`` in a symbol or an exchange message prints as itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from monitor.alerts import Alert, Level
from monitor.notify.render import render_line

LEVEL_STYLE = {
    Level.OK: "green",
    Level.INFO: "cyan",
    Level.WARN: "yellow",
    Level.DANGER: "bold dark_orange",
    Level.CRITICAL: "bold white on red",
}


class ConsoleNotifier:
    """Prints every alert at once; nothing is queued (the terminal is never down)."""

    def __init__(self, console: Console | None = None, *, min_level: Level = Level.INFO) -> None:
        self._console = console or Console(stderr=False, highlight=False, soft_wrap=True)
        self._min_level = min_level

    def enqueue(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            shown = max(alert.level, alert.previous_level or Level.OK)
            if shown < self._min_level:
                continue
            self._console.print(Text(render_line(alert), style=LEVEL_STYLE.get(alert.level, "")))
