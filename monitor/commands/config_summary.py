"""What ``monitor check-config`` says about a valid file: what ``monitor run`` will do with it.

Pure: settings in, lines of text out. Each line answers a question a new user asks before starting the
daemon: which accounts, where their keys come from, which servers it talks to (the real exchange or a
simulator), whether it may send orders, where alerts go, where health answers.
"""

from __future__ import annotations

from monitor.daemon.config import Settings
from monitor.venues.registry import VENUES


def describe(settings: Settings) -> list[str]:
    """One line per topic, indented under the file name by the caller."""
    raw = settings.raw
    lines = [f"account {a.name}: {a.venue.value}, {settings.secret_sources[a.name]}" for a in raw.accounts]
    for venue in dict.fromkeys(a.venue for a in raw.accounts):
        given = settings.endpoints.get(venue)
        if given is not None:
            lines.append(f"endpoints {venue.value}: {given.rest} and {given.ws} (set in [endpoints])")
        else:
            spec = VENUES.get(venue)
            where = f"{spec.public_rest} and {spec.public_ws}" if spec else "its public servers"
            lines.append(f"endpoints {venue.value}: the real exchange, {where}")
    lv = settings.policy.levels
    lines.append(
        f"levels: ratio warn {lv.ratio_warn:g} / danger {lv.ratio_danger:g} / critical {lv.ratio_critical:g}"
        f" (band {lv.ratio_band:g}); distance warn {lv.distance_warn_pct:g} % / "
        f"danger {lv.distance_danger_pct:g} % / critical {lv.distance_critical_pct:g} %"
    )
    lines.append(f"state file: {raw.service.state_file}")
    health = raw.health
    if health.enabled:
        lines.append(f"health: http://{health.listen}/healthz and /metrics")
    else:
        lines.append("health: off ([health] enabled = false)")
    lines.append(f"telegram: {settings.telegram_decision}")
    lines.append(_derisk(settings))
    return lines


def _derisk(settings: Settings) -> str:
    d = settings.derisk
    modes = ", ".join(f"{a.name} {d.mode_for(a.name).value}" for a in settings.raw.accounts)
    if d.dry_run:
        switch = "dry run (orders are journaled, never sent)"
    elif all(d.mode_for(a.name).value == "off" for a in settings.raw.accounts):
        switch = "live, but every account is off (nothing is sent)"
    else:
        switch = "LIVE: orders are sent to the exchange"
    return f"de-risk: {switch}; modes: {modes}"
