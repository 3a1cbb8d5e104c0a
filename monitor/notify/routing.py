"""Pure delivery decisions: which chat gets an alert, in which lane, with or without sound, which buttons.

Kept apart from the Telegram client so every rule here is a plain function of its inputs (the clock is
an argument) and is tested without a network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.alerts import Alert, AlertKind, Level, Transition
from monitor.notify.ports import ActionKind, ActionsAllowed
from monitor.notify.render import effective_level, fact_num, top_contributors
from monitor.notify.settings import ChatSettings
from monitor.venues.registry import margin_transfers_refused

LANE_CRITICAL = 0
LANE_DANGER = 1
LANE_NORMAL = 2

REDUCE_FRACTIONS = (0.25, 0.5)
ADD_MARGIN_FRACTIONS = (0.5,)
ACTION_MIN_LEVEL = Level.WARN
MAX_OFFER_SUBJECTS = 3  # positions with buttons per message; more would bury the text


def chat_accepts(chat: ChatSettings, alert: Alert) -> bool:
    """Whether ``chat`` wants ``alert`` (a close is routed by the level it closes from)."""
    return effective_level(alert) >= chat.min_level


def lane_for(level: Level) -> int:
    """Priority lane: critical before danger before everything else."""
    if level >= Level.CRITICAL:
        return LANE_CRITICAL
    if level >= Level.DANGER:
        return LANE_DANGER
    return LANE_NORMAL


def is_silent(level: Level, chat: ChatSettings, now: datetime) -> bool:
    """INFO/WARN (and closes) never ring; DANGER rings outside the chat's quiet hours; CRITICAL always."""
    if level >= Level.CRITICAL:
        return False
    if level >= Level.DANGER:
        return chat.quiet_hours is not None and chat.quiet_hours.contains(now)
    return True


def message_level(alerts: Sequence[Alert]) -> Level:
    """The level that decides a coalesced message's sound: its loudest alert's *current* level, so a
    resolution of a critical episode arrives quietly."""
    return max((a.level for a in alerts), default=Level.OK)


@dataclass(frozen=True, slots=True)
class Offer:
    """A de-risk button to show under an alert. ``size_seen`` is the size the alert reported."""

    account: str
    venue: str
    symbol: str
    position_side: str
    action: ActionKind
    fraction: float | None
    size_seen: float | None
    label: str


def offers_for(alerts: Sequence[Alert], *, allowed: ActionsAllowed) -> list[Offer]:
    """Buttons for the risk alerts of one message, limited to the actions ``allowed`` for each account.

    Cross positions get Reduce 25 % / 50 % / Close (reducing any cross leg lowers the whole pool's
    requirement); a cross-account alert without a symbol offers them for its top contributor. Isolated
    positions get Add margin (reducing an isolated position barely moves its liquidation price), on
    venues whose API can add it (the registry's ``no_margin_transfers``). An
    account whose de-risk mode allows none of its position's actions gets no button at all.
    """
    out: list[Offer] = []
    seen: set[tuple[str, str, str]] = set()
    for alert in alerts:
        if alert.kind is not AlertKind.RISK or alert.transition is Transition.CLOSED:
            continue
        if alert.level < ACTION_MIN_LEVEL or alert.margin_mode not in ("cross", "isolated"):
            continue
        permitted = frozenset(allowed(alert.account))
        if margin_transfers_refused(alert.venue):  # the venue's API cannot add margin
            permitted -= {ActionKind.ADD_MARGIN}
        wanted = (
            (ActionKind.REDUCE, ActionKind.CLOSE)
            if alert.margin_mode == "cross"
            else (ActionKind.ADD_MARGIN,)
        )
        if not permitted.intersection(wanted):
            continue
        symbol, position_side = alert.symbol, alert.position_side or "both"
        size = fact_num(alert.facts, "contracts", "size")
        if symbol is None:
            if alert.margin_mode != "cross":
                continue
            top = top_contributors(alert.facts)
            if not top:
                continue
            symbol, position_side, _share = top[0]
            size = None
        ident = (alert.account, symbol, position_side)
        if ident in seen:
            continue
        if len(seen) >= MAX_OFFER_SUBJECTS:
            break
        seen.add(ident)
        short = symbol.split(":")[0]
        if alert.margin_mode == "cross":
            for fraction in REDUCE_FRACTIONS if ActionKind.REDUCE in permitted else ():
                out.append(
                    Offer(
                        alert.account,
                        alert.venue,
                        symbol,
                        position_side,
                        ActionKind.REDUCE,
                        fraction,
                        size,
                        f"{short} −{fraction * 100:.0f} %",
                    )
                )
            if ActionKind.CLOSE in permitted:
                out.append(
                    Offer(
                        alert.account,
                        alert.venue,
                        symbol,
                        position_side,
                        ActionKind.CLOSE,
                        1.0,
                        size,
                        f"{short} Close",
                    )
                )
        else:
            for fraction in ADD_MARGIN_FRACTIONS:
                out.append(
                    Offer(
                        alert.account,
                        alert.venue,
                        symbol,
                        position_side,
                        ActionKind.ADD_MARGIN,
                        fraction,
                        size,
                        f"{short} Add margin +{fraction * 100:.0f} %",
                    )
                )
    return out


def ack_keys(alerts: Sequence[Alert]) -> list[str]:
    """Keys of the critical alerts in a message that an Ack button acknowledges."""
    keys: list[str] = []
    for a in alerts:
        if a.level >= Level.CRITICAL and a.transition is not Transition.CLOSED and a.key not in keys:
            keys.append(a.key)
    return keys


def parse_duration(text: str) -> int:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1h30m`` or a bare number of minutes, as seconds (1 s .. 7 d)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    t = text.strip().lower()
    if not t:
        raise ValueError("empty duration")
    if t.isdigit():
        total = int(t) * 60
    else:
        total, num = 0, ""
        for ch in t:
            if ch.isdigit():
                num += ch
            elif ch in units and num:
                total += int(num) * units[ch]
                num = ""
            else:
                raise ValueError(f"bad duration {text!r}: use e.g. 30m, 2h, 1d")
        if num:
            raise ValueError(f"bad duration {text!r}: a number needs a unit (s, m, h, d)")
    if not 1 <= total <= 7 * 86400:
        raise ValueError("duration must be between 1 s and 7 days")
    return total
