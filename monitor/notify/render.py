"""Alerts and port results as message text: pure functions, no I/O, no clock.

Messages are plain text (no parse mode) on purpose: symbols, account labels and exchange messages can
contain anything, and plain text cannot be broken by a stray ``<`` or ``_``; it also makes the 4,096
character limit exact. Telegram counts that limit in UTF-16 code units, so an emoji counts two.

Facts an alert may carry (all optional; a missing or non-numeric fact is simply left out):

==========================  =========================================================================
``side``                    long | short
``contracts`` (``size``)    absolute position size
``notional``                position value in the settlement asset
``mark_price`` (``mark``)   mark price
``liquidation_price``       our liquidation price (None: no price liquidates)
``distance_pct``            |mark - liquidation| / mark * 100, negative once past the liquidation price
``margin_ratio``            requirement / equity, 1.0 = liquidation (written in percent, as everywhere)
``past_liquidation``        the position is past its liquidation price (its distance is negative)
``equity``/``maint_margin`` the cross pool of the account
``isolated_wallet``         isolated margin held by the position
``exchange_liquidation_price``, ``deviation_pct``  the exchange's own figure and our deviation
``age_ms``, ``threshold_ms``, ``gap_ms``  stale / recovered stream alerts (``age_s`` also accepted)
``top{N}_symbol``, ``top{N}_share``  N = 1..5: the positions carrying most of a cross account's
                            requirement (label ``SYMBOL`` or ``SYMBOL long`` for a hedge leg; share as a
                            fraction); ``top_positions`` is the same as ready-made text
==========================  =========================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from monitor import figures
from monitor.alerts import Alert, AlertKind, FactValue, Level, Transition
from monitor.notify.ports import (
    AccountRiskView,
    ActionKind,
    ActionRequest,
    ActionResult,
    ActionStatus,
    LevelRule,
    PositionRow,
    Preview,
    StatusSummary,
)

MAX_MESSAGE_UTF16 = 4096
RESENT_PREFIX = "↻ resent: an earlier attempt may have arrived; this can be a duplicate.\n\n"
MAX_TOP_CONTRIBUTORS = 5

LEVEL_ICON = {
    Level.OK: "✅",
    Level.INFO: "ℹ️",
    Level.WARN: "⚠️",
    Level.DANGER: "🟠",
    Level.CRITICAL: "🚨",
}

HELP_TEXT = """Commands
/status  daemon, accounts and feed freshness
/positions  every open position with its risk
/risk ACCOUNT  cross pool and legs of one account
/mute DURATION [SYMBOL]  silence non-critical alerts (30m, 2h, 1d)
/unmute  end all mutes
/ack  acknowledge every open critical alert
/levels  what each alert level means
/halt  stop all de-risk actions
/resume  allow de-risk actions again
/help  this text"""


# --- small formatting helpers ----------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def fact_num(facts: Mapping[str, FactValue], *names: str) -> float | None:
    """The first of ``names`` that holds a finite-or-infinite number (numeric strings accepted)."""
    for name in names:
        v = facts.get(name)
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int | float):
            return float(v)
        try:
            return float(v)
        except ValueError:
            continue
    return None


def fact_str(facts: Mapping[str, FactValue], name: str) -> str | None:
    v = facts.get(name)
    if v is None or isinstance(v, bool):
        return None
    return str(v)


def fmt_num(x: float | None) -> str:
    """Prices and sizes, as every channel writes them (``monitor.figures``)."""
    return figures.fmt_num(x)


def fmt_ratio(r: float | None) -> str:
    """A margin ratio (1.0 = liquidation) in percent, as every channel writes it."""
    return figures.fmt_ratio(r)


def fmt_pct(p: float | None) -> str:
    """A percentage (a signed distance, a deviation), as every channel writes it."""
    return figures.fmt_pct(p)


def liq_text(liq: float | None, dist: float | None) -> str:
    """``liq 58,000.00 (4.92 % away)``; past it (a negative distance), never "away"."""
    if dist is None:
        return f"liq {fmt_num(liq)}"
    if dist < 0:
        return f"liq {fmt_num(liq)} (past it by {fmt_pct(dist)})"
    return f"liq {fmt_num(liq)} ({fmt_pct(dist)} away)"


def fmt_time(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%H:%M:%S UTC")


def fmt_datetime(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- alerts -------------------------------------------------------------------------------------------


def level_change(alert: Alert) -> str:
    """How the level moved, in words: ``new``, ``escalated from warn``, ``resolved (was danger)``."""
    t, prev = alert.transition, alert.previous_level
    if t is Transition.CLOSED:
        return f"resolved (was {prev.label})" if prev is not None else "resolved"
    if t is Transition.ESCALATED:
        return f"escalated from {prev.label}" if prev is not None else "escalated"
    if t is Transition.DEESCALATED:
        return f"eased from {prev.label}" if prev is not None else "eased"
    if t is Transition.REPEATED:
        return "still unresolved"
    if t is Transition.OPENED:
        return "new"
    return ""


def subject(alert: Alert) -> str:
    """``main · binanceusdm · BTC/USDT:USDT long (cross)`` or ``main · binanceusdm · cross account``."""
    parts = [alert.account, alert.venue]
    side = fact_str(alert.facts, "side")
    if alert.symbol:
        leg = alert.symbol
        if side:
            leg += f" {side}"
        if alert.position_side and alert.position_side != "both":
            leg += f" [{alert.position_side} leg]"
        if alert.margin_mode:
            leg += f" ({alert.margin_mode})"
        parts.append(leg)
    elif alert.margin_mode == "cross":
        parts.append("cross account")
    return " · ".join(p for p in parts if p)


def _risk_lines(alert: Alert) -> list[str]:
    f = alert.facts
    lines: list[str] = []
    size = fact_num(f, "contracts", "size")
    mark = fact_num(f, "mark_price", "mark")
    liq_present = "liquidation_price" in f or "liq_price" in f
    liq = fact_num(f, "liquidation_price", "liq_price")
    dist = fact_num(f, "distance_pct")
    first: list[str] = []
    if size is not None:
        first.append(f"size {fmt_num(size)}")
    if mark is not None:
        first.append(f"mark {fmt_num(mark)}")
    if liq is not None:
        first.append(liq_text(liq, dist))
    elif liq_present:
        first.append("no liquidation price")
    elif dist is not None:
        first.append(
            f"{fmt_pct(dist)} from liquidation" if dist >= 0 else f"past liquidation by {fmt_pct(dist)}"
        )
    if first:
        lines.append(" · ".join(first))
    second: list[str] = []
    ratio = fact_num(f, "margin_ratio")
    if ratio is not None:
        second.append(f"margin ratio {fmt_ratio(ratio)}")
    equity = fact_num(f, "equity")
    mm = fact_num(f, "maint_margin")
    if equity is not None:
        second.append(f"equity {fmt_num(equity)}")
    if mm is not None:
        second.append(f"maint. {fmt_num(mm)}")
    iso = fact_num(f, "isolated_wallet")
    if iso is not None:
        second.append(f"isolated margin {fmt_num(iso)}")
    if second:
        lines.append(" · ".join(second))
    ex_liq = fact_num(f, "exchange_liquidation_price")
    dev = fact_num(f, "deviation_pct")
    if ex_liq is not None:
        lines.append(f"exchange liq {fmt_num(ex_liq)}" + (f" (ours deviates {fmt_pct(dev)})" if dev else ""))
    lines.extend(_top_lines(f))
    return lines


def top_contributors(facts: Mapping[str, FactValue]) -> list[tuple[str, str, float | None]]:
    """``(symbol, position_side, share_pct)`` of the positions carrying most of a cross requirement."""
    out: list[tuple[str, str, float | None]] = []
    for n in range(1, MAX_TOP_CONTRIBUTORS + 1):
        label = fact_str(facts, f"top{n}_symbol")
        if not label:
            continue
        symbol, _, leg = label.partition(" ")
        share = fact_num(facts, f"top{n}_share")
        out.append((symbol, leg.strip() or "both", None if share is None else share * 100))
    return out


def _top_lines(facts: Mapping[str, FactValue]) -> list[str]:
    items = []
    for sym, leg, share in top_contributors(facts):
        text = sym + (f" [{leg}]" if leg != "both" else "")
        if share is not None:
            text += f" {share:.0f} %"
        items.append(text)
    if not items:
        ready = fact_str(facts, "top_positions")
        return [f"carried by: {ready}"] if ready else []
    return ["carried by: " + ", ".join(items)]


def _stream_lines(alert: Alert) -> list[str]:
    f = alert.facts
    age = fact_num(f, "age_ms")
    age_s = age / 1000 if age is not None else fact_num(f, "age_s")
    limit = fact_num(f, "threshold_ms")
    gap = fact_num(f, "gap_ms")
    bits = []
    if alert.transition is not Transition.CLOSED and age_s is not None:
        limit_text = f" (limit {figures.fmt_duration(limit)})" if limit else ""
        bits.append(f"last data {figures.fmt_duration(age_s * 1000)} ago{limit_text}")
    if gap is not None:
        bits.append(f"silent for {figures.fmt_duration(gap)}")
    return [" · ".join(bits)] if bits else []


# why an episode ended without its subject getting better: the subject is gone (a position closed,
# often by a liquidation; the last cross position of an account closed)
ENDED_BECAUSE = {"position_closed": "position closed", "no_cross_positions": "no cross positions left"}
ENDED_ICON = "⏹"


def _ended_because(alert: Alert) -> str | None:
    """Why an episode closed without its subject getting better, in words; None for a real recovery."""
    if alert.transition is not Transition.CLOSED:
        return None
    return ENDED_BECAUSE.get(fact_str(alert.facts, "reason") or "")


def level_word(alert: Alert) -> str:
    """The word a console line and the demo's summary give an alert's level: its name, or ``ENDED``
    for an episode that ended because its subject is gone."""
    return "ENDED" if _ended_because(alert) else alert.level.name


def render_alert(alert: Alert) -> str:
    """One alert as a block of lines: headline, subject, numbers, the policy's message, the time.

    An episode that ends because its subject is gone is not "OK · resolved": a position the exchange
    liquidated would read as a green recovery, over its last numbers past the liquidation price. Its
    headline says why it ended, with no figures."""
    ended = _ended_because(alert)
    if ended:
        was = f" (was {alert.previous_level.label})" if alert.previous_level is not None else ""
        lines = [f"{ENDED_ICON} {ended}{was}", subject(alert)]
        if alert.message:
            lines.append(alert.message)
        lines.append(fmt_datetime(alert.ts_ms))
        return "\n".join(lines)
    bits = [f"{LEVEL_ICON.get(alert.level, '')} {alert.level.name}"]
    if alert.kind is not AlertKind.RISK:
        bits.append(alert.kind.value.replace("_", " "))
    change = level_change(alert)
    if change:
        bits.append(change)
    lines = [" · ".join(bits), subject(alert)]
    if alert.kind in (AlertKind.STALE, AlertKind.RECOVERED):
        lines.extend(_stream_lines(alert))
    else:
        lines.extend(_risk_lines(alert))
    if alert.message:
        lines.append(alert.message)
    lines.append(fmt_datetime(alert.ts_ms))
    return "\n".join(lines)


def order_alerts(alerts: Iterable[Alert]) -> list[Alert]:
    """Most severe first (a closing alert counts at the level it closes from), then oldest first."""
    indexed = list(enumerate(alerts))
    indexed.sort(key=lambda ia: (-effective_level(ia[1]), ia[1].ts_ms, ia[0]))
    return [a for _, a in indexed]


def effective_level(alert: Alert) -> Level:
    """The level an alert is routed and prioritised by: a close counts at the level it closes from."""
    if alert.transition is Transition.CLOSED and alert.previous_level is not None:
        return max(alert.level, alert.previous_level)
    return alert.level


def render_batch(alerts: Sequence[Alert], *, limit: int = MAX_MESSAGE_UTF16) -> list[str]:
    """The alerts of one evaluation as one message, split into parts of at most ``limit`` UTF-16 units."""
    ordered = order_alerts(alerts)
    blocks = [render_alert(a) for a in ordered]
    if len(ordered) > 1:
        top = max(a.level for a in ordered)
        blocks.insert(0, f"{len(ordered)} alerts, highest {top.name}")
    return split_text("\n\n".join(blocks), limit=limit)


def split_text(text: str, *, limit: int = MAX_MESSAGE_UTF16) -> list[str]:
    """Split at paragraph, then line, then character boundaries so every part fits ``limit``.

    Joining the parts with the separators they were split at gives back the text; no part is empty.
    """
    if limit < 2:
        raise ValueError("limit too small")
    if utf16_len(text) <= limit:
        return [text]
    parts: list[str] = []
    for para in _pack(text.split("\n\n"), "\n\n", limit):
        if utf16_len(para) <= limit:
            parts.append(para)
            continue
        for chunk in _pack(para.split("\n"), "\n", limit):
            if utf16_len(chunk) <= limit:
                parts.append(chunk)
            else:
                parts.extend(_hard_split(chunk, limit))
    return [p for p in parts if p]


def _pack(pieces: list[str], sep: str, limit: int) -> list[str]:
    """Greedily join consecutive pieces with ``sep`` while they fit."""
    out: list[str] = []
    cur: str | None = None
    for piece in pieces:
        if cur is None:
            cur = piece
        elif utf16_len(cur) + utf16_len(sep) + utf16_len(piece) <= limit:
            cur = cur + sep + piece
        else:
            out.append(cur)
            cur = piece
    if cur is not None:
        out.append(cur)
    return out


def _hard_split(text: str, limit: int) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    n = 0
    for ch in text:
        w = 2 if ord(ch) > 0xFFFF else 1
        if n + w > limit:
            out.append("".join(cur))
            cur, n = [], 0
        cur.append(ch)
        n += w
    if cur:
        out.append("".join(cur))
    return out


def render_line(alert: Alert) -> str:
    """One console line: time, level, then the policy's message, which already names the subject and
    carries the numbers. Without a message, the subject and the key numbers stand in for it."""
    head = f"{fmt_time(alert.ts_ms)} {level_word(alert):<8}"
    if alert.message:
        return f"{head} {alert.message}"
    f = alert.facts
    bits = [head, level_change(alert) + " ·", subject(alert)]
    if alert.kind is not AlertKind.RISK:
        bits.insert(1, alert.kind.value.replace("_", " "))
    ratio = fact_num(f, "margin_ratio")
    if ratio is not None:
        bits.append(f"ratio {fmt_ratio(ratio)}")
    liq = fact_num(f, "liquidation_price", "liq_price")
    dist = fact_num(f, "distance_pct")
    if liq is not None:
        bits.append(liq_text(liq, dist))
    return " ".join(b for b in bits if b)


# --- status and commands ------------------------------------------------------------------------------


def render_status(summary: StatusSummary, now_ms: int) -> str:
    """The pinned status line(s). Stale feeds go first, in capitals, so a glance catches them."""
    stale = [f for f in summary.feeds if f.stale]
    lines: list[str] = []
    if stale:
        names = ", ".join(
            f"{f.name} ({'never received' if f.age_s is None else f'{f.age_s:.0f} s old'})" for f in stale
        )
        lines.append(f"🚨 STALE DATA: {names}")
    feeds = "no feeds" if not summary.feeds else ("all feeds fresh" if not stale else f"{len(stale)} stale")
    icon = (
        "🟢"
        if not stale and summary.worst_level < Level.DANGER
        else LEVEL_ICON[max(summary.worst_level, Level.WARN)]
    )
    plural = "account" if summary.accounts == 1 else "accounts"
    counts = f"{summary.accounts} {plural}, {summary.positions} positions"
    lines.append(f"{icon} updated {fmt_time(now_ms)}, {counts}, {feeds}")
    extra = [f"worst level {summary.worst_level.label}"]
    extra.append("HALTED" if summary.halted else ("dry-run" if summary.dry_run else "live trading"))
    if summary.mutes:
        extra.append("muted: " + ", ".join(summary.mutes))
    lines.append(" · ".join(extra))
    return "\n".join(lines)


def render_position_row(row: PositionRow) -> str:
    liq = (
        liq_text(row.liquidation_price, row.distance_pct)
        if row.liquidation_price is not None
        else "no liq price"
    )
    leg = f" [{row.position_side}]" if row.position_side not in ("", "both") else ""
    return (
        f"{LEVEL_ICON.get(row.level, '')} {row.account} {row.symbol} {row.side}{leg} {row.margin_mode} "
        f"{fmt_num(row.contracts)} @ {fmt_num(row.mark_price)} · {liq} · ratio {fmt_ratio(row.margin_ratio)}"
    )


def render_positions(rows: Sequence[PositionRow]) -> str:
    if not rows:
        return "No open positions."
    ordered = sorted(rows, key=lambda r: (-r.level, r.account, r.symbol, r.position_side))
    return "\n".join(render_position_row(r) for r in ordered)


def render_risk(view: AccountRiskView) -> str:
    lines = [f"{LEVEL_ICON.get(view.level, '')} {view.account} · {view.venue} · level {view.level.label}"]
    if view.cross_margin_ratio is not None:
        lines.append(
            f"cross: ratio {fmt_ratio(view.cross_margin_ratio)} · equity {fmt_num(view.cross_equity)} · "
            f"maint. {fmt_num(view.cross_maint_margin)}"
        )
    else:
        lines.append("no cross positions")
    lines.extend(render_position_row(r) for r in view.positions)
    return "\n".join(lines)


def render_levels(rules: Sequence[LevelRule]) -> str:
    if not rules:
        return "No level rules configured."
    return "\n".join(f"{LEVEL_ICON.get(r.level, '')} {r.level.name}: {r.condition}" for r in rules)


# --- buttons ------------------------------------------------------------------------------------------


def action_label(action: ActionKind, fraction: float | None, amount: float | None = None) -> str:
    if action is ActionKind.CLOSE:
        return "Close"
    if action is ActionKind.REDUCE:
        return f"Reduce {fraction * 100:.0f} %" if fraction is not None else "Reduce"
    if amount is not None:
        return f"Add margin {fmt_num(amount)}"
    return f"Add margin +{fraction * 100:.0f} %" if fraction is not None else "Add margin"


def render_preview(request: ActionRequest, preview: Preview) -> str:
    """The text under Confirm/Cancel: what will happen, computed from the live position."""
    what = action_label(request.action, request.fraction, preview.amount)
    head = f"{what} · {request.account} · {request.symbol}"
    if request.position_side not in ("", "both"):
        head += f" [{request.position_side} leg]"
    if not preview.ok:
        return f"{head}\nNot possible: {preview.message or 'no reason given'}"
    lines = [head, f"size now {fmt_num(preview.size)}"]
    if preview.amount is not None:
        unit = "margin to add" if request.action is ActionKind.ADD_MARGIN else "contracts to sell"
        lines.append(f"{unit}: {fmt_num(preview.amount)}")
    lines.append(
        f"margin ratio {fmt_ratio(preview.margin_ratio_before)} → {fmt_ratio(preview.margin_ratio_after)}"
    )
    liq_before, liq_after = (
        fmt_num(preview.liquidation_price_before),
        fmt_num(preview.liquidation_price_after),
    )
    lines.append(f"liquidation {liq_before} → {liq_after}")
    if preview.message:
        lines.append(preview.message)
    lines.append("DRY-RUN: nothing will be sent to the exchange." if preview.dry_run else "LIVE order.")
    return "\n".join(lines)


def render_action_result(result: ActionResult) -> str:
    icon = {
        ActionStatus.DONE: "✅",
        ActionStatus.DRY_RUN: "🧪",
        ActionStatus.REFUSED: "⛔",
        ActionStatus.FAILED: "❌",
    }[result.status]
    return f"{icon} {result.status.value.replace('_', '-')}: {result.message}"
