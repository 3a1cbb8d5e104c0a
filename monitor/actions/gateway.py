"""The order gateway: the only way an order or a margin transfer leaves the daemon.

Every path (the automatic de-risker, a Telegram button, a command) goes through ``Gateway.submit``,
which runs the same checks in the same order:

1. the account's mode allows this origin, and the trading state allows this kind of action;
2. a per-leg lock (a second action on the same leg while one is in flight is refused, not queued);
3. caps that need no exchange: the leg's cool-down and the account's actions per hour;
4. fresh data: acting on a stale mark or a silent user stream halts the gateway;
5. a fresh position read, and sizing from it: clamped to the position, to the fraction and notional
   caps, truncated to the market's amount grid (``MarketRules.floor_amount``), refused below the minimum;
6. reduce-only by construction: the side is the opposite of the live leg, the size never above it;
7. a client order id journaled (and synced) **before** the request is sent; in dry-run the row is
   the whole story and nothing is sent;
8. one submit. On a timeout or any error whose outcome is unknown, the order is looked up by its client
   id (never resent); "not found" counts only once a second position read shows nothing moved;
9. after a fill: the position is read again, the account re-evaluated and the result reported (a
   returned ``GatewayResult`` and an ``Alert`` of kind ACTION through ``on_alert``).

Anomalies halt it on their own, persistently: stale data, ``max_rejects`` failures in a window, an
order whose outcome stays unknown. At start, rows left in "sending" by a previous process are
resolved by look-up before anything else may be sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from monitor.actions.journal import Entry, EntryState, Journal, StateRecord, TradingState
from monitor.actions.planner import (
    Impact,
    Lot,
    apply_add_margin,
    apply_reduce,
    figures,
    fmt,
    index_of,
    margin_allowance,
    margin_impact,
    reduce_impact,
    with_leg,
)
from monitor.actions.settings import DeriskSettings, Mode
from monitor.alerts import Alert, AlertKind, FactValue, Level, Transition
from monitor.events import PositionState
from monitor.figures import fmt_pct, fmt_ratio
from monitor.logs import get_logger, scrub
from monitor.margin.account import evaluate_account
from monitor.model import Account, MarginMode, PositionSide, Side, Venue
from monitor.venues.adapter import VenueAdapter
from monitor.venues.base import OrderResult
from monitor.venues.errors import Refused
from monitor.venues.markets import MarketRules
from monitor.venues.registry import margin_transfers_refused

log = get_logger(__name__)

# Sizes read back from the exchange are compared with this relative tolerance (they are decimal
# strings of at most 8 places, parsed to float).
_SIZE_RTOL = 1e-9


class Origin(StrEnum):
    AUTO = "auto"  # the de-risker, on its own
    MANUAL = "manual"  # a person confirmed a preview


class IntentKind(StrEnum):
    REDUCE = "reduce"
    CLOSE = "close"
    ADD_MARGIN = "add_margin"


@dataclass(frozen=True, slots=True)
class Intent:
    """What someone wants done. Exactly one of ``amount`` (contracts to reduce, or margin in the
    settlement asset) and ``fraction`` (of the live size, or of the isolated wallet) for REDUCE and
    ADD_MARGIN; CLOSE takes neither. ``expected_size`` makes the gateway refuse when the live size
    differs (a person confirmed a preview of that size)."""

    account: str
    symbol: str
    position_side: PositionSide
    kind: IntentKind
    amount: float | None = None
    fraction: float | None = None
    origin: Origin = Origin.AUTO
    by_user: int | None = None
    expected_size: float | None = None
    reason: str = ""

    @property
    def leg(self) -> tuple[str, str, str]:
        return (self.account, self.symbol, self.position_side.value)


class Outcome(StrEnum):
    FILLED = "filled"
    PARTIAL = "partial"
    DONE = "done"  # margin transfer accepted
    DRY_RUN = "dry_run"
    REFUSED = "refused"  # a check of ours said no; nothing was sent
    REJECTED = "rejected"  # the exchange said no
    NOT_SENT = "not_sent"  # an error, then proof nothing was executed
    UNKNOWN = "unknown"  # no proof either way; the gateway halted


_ENTRY_OUTCOME = {
    EntryState.FILLED: Outcome.FILLED,
    EntryState.PARTIAL: Outcome.PARTIAL,
    EntryState.DONE: Outcome.DONE,
    EntryState.REJECTED: Outcome.REJECTED,
    EntryState.NOT_SENT: Outcome.NOT_SENT,
    EntryState.ABANDONED: Outcome.NOT_SENT,
    EntryState.UNKNOWN: Outcome.UNKNOWN,
    EntryState.DRY_RUN: Outcome.DRY_RUN,
}


@dataclass(frozen=True, slots=True)
class Sized:
    """An intent turned into one concrete action from a fresh read (also what a preview shows)."""

    kind: IntentKind
    side: str | None  # order side; None for a margin transfer
    amount: float
    size_before: float
    wallet_before: float | None
    margin_mode: MarginMode
    mark_price: float | None
    notes: tuple[str, ...] = ()
    impact: Impact | None = None
    account_before: Account | None = None


@dataclass(frozen=True, slots=True)
class GatewayResult:
    outcome: Outcome
    message: str
    intent: Intent
    client_id: str | None = None
    sized: Sized | None = None
    filled: float = 0.0
    average_price: float | None = None
    size_after: float | None = None
    impact: Impact | None = None
    entry_id: int | None = None
    wallet_after: float | None = None  # isolated wallet read back after the action

    @property
    def acted(self) -> bool:
        """The exchange changed something."""
        return self.outcome in (Outcome.FILLED, Outcome.PARTIAL, Outcome.DONE)

    @property
    def ok(self) -> bool:
        return self.acted or self.outcome is Outcome.DRY_RUN


@dataclass(frozen=True, slots=True)
class PreviewResult:
    ok: bool
    message: str
    sized: Sized | None = None
    dry_run: bool = True


class Refusal(Exception):
    """A check said no; ``message`` says which, for the person or the log."""


def _no_staleness(venue: Venue, account: str, symbol: str) -> str | None:
    return None


def _wall_ms() -> int:
    return int(time.time() * 1000)


class Gateway:
    """See the module docstring. ``view(account)`` gives the daemon's account with the latest marks
    (``Engine.account_view``); ``staleness(venue, account, symbol)`` returns why the data is stale, or
    None; ``on_alert`` receives the ACTION alerts (connect it to the notifiers)."""

    def __init__(
        self,
        conn: Any,
        settings: DeriskSettings,
        venues: Mapping[Venue, VenueAdapter],
        accounts: Mapping[str, Venue],
        *,
        view: Callable[[str], Account | None],
        staleness: Callable[[Venue, str, str], str | None] = _no_staleness,
        clock: Callable[[], int] = _wall_ms,
        on_alert: Callable[[Sequence[Alert]], None] | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.journal = Journal(conn)
        self.venues = dict(venues)
        self.accounts = dict(accounts)
        self.view = view
        self.staleness = staleness
        self.clock = clock
        self.on_alert = on_alert
        self._sleep = sleep
        self._state = self.journal.load_state()
        self._busy: set[tuple[str, str, str]] = set()
        self._recovered = False
        self._recovery = asyncio.Lock()

    # --- state ------------------------------------------------------------------------------------
    @property
    def state(self) -> TradingState:
        return self._state.state

    @property
    def state_record(self) -> StateRecord:
        return self._state

    @property
    def dry_run(self) -> bool:
        return self.settings.dry_run

    def halt(self, reason: str, by: str = "system") -> None:
        """Refuse everything from now on, across restarts, until ``resume``."""
        if self._state.state is TradingState.HALTED:
            return
        self._set_state(TradingState.HALTED, reason, by)
        log.error("gateway halted", reason=reason, by=by)
        self._emit(
            [
                self._alert(
                    "action:halt",
                    Level.CRITICAL,
                    "",
                    f"De-risking HALTED: {reason}. Nothing will be sent until someone resumes.",
                    facts={"state": "halted", "reason": reason, "by": by},
                )
            ]
        )

    def resume(self, by: str) -> None:
        """Back to ACTIVE. Failures before now no longer count towards the reject limit."""
        self._set_state(TradingState.ACTIVE, "resumed", by)
        log.warning("gateway resumed", by=by)

    def set_reducing(self, reason: str, by: str) -> None:
        self._set_state(TradingState.REDUCING, reason, by)

    def _set_state(self, state: TradingState, reason: str, by: str) -> None:
        record = StateRecord(state, reason, self.clock(), by)
        self.journal.save_state(record)
        self._state = record

    # --- markets ----------------------------------------------------------------------------------
    def lot(self, account: str, symbol: str) -> Lot:
        """The market's amount grid, as the account's venue lists it."""
        rules = self._rules(account, symbol)
        if rules is None:
            return Lot()
        return Lot(rules.amount_step, rules.min_amount or rules.amount_step)

    def _rules(self, account: str, symbol: str) -> MarketRules | None:
        try:
            return self._venue(account).market_rules(symbol)
        except Refusal:
            return None

    def _venue(self, account: str) -> VenueAdapter:
        venue = self.accounts.get(account)
        if venue is None or venue not in self.venues:
            raise Refusal(f"unknown account {account!r}")
        return self.venues[venue]

    # --- recovery ---------------------------------------------------------------------------------
    async def start(self) -> list[GatewayResult]:
        """Resolve what a previous process left in flight. Call once the venues are started."""
        return await self._ensure_recovered()

    async def _ensure_recovered(self) -> list[GatewayResult]:
        async with self._recovery:
            if self._recovered:
                return []
            results = [await self._resolve_pending(entry) for entry in self.journal.pending()]
            self._recovered = not self.journal.pending()
            return results

    async def _resolve_pending(self, entry: Entry) -> GatewayResult:
        """A row left in "sending": ask the exchange what became of it, never send it again."""
        intent = Intent(
            entry.account,
            entry.symbol,
            PositionSide(entry.position_side),
            IntentKind.ADD_MARGIN if entry.kind == "add_margin" else IntentKind.REDUCE,
            amount=entry.amount,
            origin=Origin(entry.origin),
            reason="recovered at start",
        )
        try:
            venue = self._venue(entry.account)
        except Refusal as exc:
            state, detail = EntryState.UNKNOWN, str(exc)
            filled, price = 0.0, None
        else:
            if entry.kind == "add_margin":
                state, detail = await self._settle_transfer(venue, entry)
                filled, price = (entry.amount if state is EntryState.DONE else 0.0), None
            else:
                state, filled, price, detail = await self._resolve_order(venue, entry)
        if state is EntryState.NOT_SENT:
            state = EntryState.ABANDONED
        if state is EntryState.SENDING:
            # could not even ask (network down): stay pending, retried before the next submit
            log.warning("pending order still unresolved", client_id=entry.client_id, detail=detail)
            return GatewayResult(Outcome.UNKNOWN, detail, intent, entry.client_id, entry_id=entry.id)
        self.journal.finish(entry.id, state, self.clock(), filled=filled, average_price=price, detail=detail)
        outcome = _ENTRY_OUTCOME[state]
        result = GatewayResult(
            outcome,
            f"recovered at start: {state.value} ({detail})",
            intent,
            entry.client_id,
            filled=filled,
            average_price=price,
            entry_id=entry.id,
        )
        log.warning("recovered journal entry", client_id=entry.client_id, state=state.value, detail=detail)
        self._emit([self._result_alert(result, entry.venue)])
        if state is EntryState.UNKNOWN:
            self.halt(f"order {entry.client_id} found in flight at start with no provable outcome")
        return result

    # --- preview ----------------------------------------------------------------------------------
    async def preview(self, intent: Intent) -> PreviewResult:
        """Everything ``submit`` would check and compute, without the lock, the journal or a send."""
        try:
            self._admit(intent)
            venue = self._venue(intent.account)
            self._check_rates(intent)
            live = await venue.fetch_position(intent.account, intent.symbol, intent.position_side)
            sized = self._size(intent, live)
        except Refusal as exc:
            return PreviewResult(False, str(exc), dry_run=self.dry_run)
        except Exception as exc:
            return PreviewResult(False, f"position read failed: {_describe(exc)}", dry_run=self.dry_run)
        return PreviewResult(True, "; ".join(sized.notes), sized, self.dry_run)

    # --- submit -----------------------------------------------------------------------------------
    async def submit(self, intent: Intent) -> GatewayResult:
        try:
            await self._ensure_recovered()
            if not self._recovered:
                raise Refusal("an order from before the restart is still unresolved")
            self._admit(intent)
            if intent.origin is Origin.MANUAL and intent.expected_size is None:
                raise Refusal("a confirmed action needs the size that was confirmed")
            if intent.leg in self._busy:
                raise Refusal("another action on this position is in progress")
        except Refusal as exc:
            return self._refused(intent, str(exc))
        self._busy.add(intent.leg)
        try:
            return await self._submit_locked(intent)
        finally:
            self._busy.discard(intent.leg)

    def _check_rates(self, intent: Intent) -> None:
        """The caps that need no exchange: the leg's cool-down, the account's actions per hour."""
        caps = self.settings.caps
        now = self.clock()
        cooldown = caps.cooldown_s if intent.origin is Origin.AUTO else caps.manual_cooldown_s
        last = self.journal.last_try_ms(intent.account, intent.symbol, intent.position_side.value)
        if last is not None and now - last < cooldown * 1000:
            left = (cooldown * 1000 - (now - last)) / 1000
            raise Refusal(f"cool-down: {left:.1f} s left on this position")
        done = self.journal.acted_since(intent.account, now - 3_600_000)
        if done >= caps.max_actions_per_hour:
            raise Refusal(
                f"{done} actions in the last hour on {intent.account} (cap {caps.max_actions_per_hour})"
            )

    def _admit(self, intent: Intent) -> None:
        mode = self.settings.mode_for(intent.account)
        if mode is Mode.OFF:
            raise Refusal(f"de-risking is off for account {intent.account}")
        if intent.origin is Origin.AUTO and mode is not Mode.AUTO:
            raise Refusal(f"account {intent.account} is in {mode.value} mode: no automatic actions")
        if self.state is TradingState.HALTED:
            raise Refusal(f"trading is halted ({self._state.reason})")
        if self.state is TradingState.REDUCING and intent.kind is IntentKind.ADD_MARGIN:
            raise Refusal("trading state is REDUCING: margin transfers are not allowed")
        if intent.kind is IntentKind.CLOSE:
            if intent.amount is not None or intent.fraction is not None:
                raise Refusal("close takes neither an amount nor a fraction")
        elif (intent.amount is None) == (intent.fraction is None):
            raise Refusal("give exactly one of amount and fraction")
        elif intent.fraction is not None and not 0 < intent.fraction <= 1:
            raise Refusal(f"fraction must be within (0, 1], got {intent.fraction}")
        elif intent.amount is not None and not (intent.amount > 0 and math.isfinite(intent.amount)):
            raise Refusal(f"amount must be positive, got {intent.amount}")

    async def _submit_locked(self, intent: Intent) -> GatewayResult:
        try:
            venue = self._venue(intent.account)
            self._check_rates(intent)
            stale = self.staleness(venue.venue, intent.account, intent.symbol)
            if stale is not None:
                if self.settings.anomalies.halt_on_stale:
                    self.halt(f"asked to act on stale data ({stale})")
                raise Refusal(f"data is stale: {stale}")
            try:
                live = await venue.fetch_position(intent.account, intent.symbol, intent.position_side)
            except Exception as exc:
                raise Refusal(f"fresh position read failed: {_describe(exc)}") from None
            sized = self._size(intent, live)
            if self.state is TradingState.HALTED:  # halted while we were reading
                raise Refusal(f"trading is halted ({self._state.reason})")
        except Refusal as exc:
            return self._refused(intent, str(exc))

        client_id = _client_id(self.clock())
        try:
            entry_id = self._journal_open(intent, venue, sized, client_id)
        except Exception as exc:  # nothing was sent: refusing is safe
            log.error("journal write failed", error=_describe(exc))
            return self._refused(intent, f"could not journal the action: {_describe(exc)}")
        if self.dry_run:
            result = GatewayResult(
                Outcome.DRY_RUN,
                f"dry-run: would {_verb(sized)}",
                intent,
                client_id,
                sized,
                impact=sized.impact,
                entry_id=entry_id,
            )
            log.info("dry-run action", client_id=client_id, account=intent.account, symbol=intent.symbol)
            self._emit([self._result_alert(result, venue.venue.value)])
            return result

        if sized.kind is IntentKind.ADD_MARGIN:
            state, filled, price, detail = await self._send_transfer(venue, intent, sized, entry_id)
        else:
            state, filled, price, detail = await self._send_order(venue, intent, sized, client_id, entry_id)
        return await self._after(venue, intent, sized, client_id, entry_id, state, filled, price, detail)

    def _journal_open(self, intent: Intent, venue: VenueAdapter, sized: Sized, client_id: str) -> int:
        return self.journal.open(
            client_id=client_id,
            now_ms=self.clock(),
            account=intent.account,
            venue=venue.venue.value,
            symbol=intent.symbol,
            position_side=intent.position_side.value,
            kind="add_margin" if sized.kind is IntentKind.ADD_MARGIN else "reduce",
            side=sized.side,
            amount=sized.amount,
            size_before=sized.size_before,
            wallet_before=sized.wallet_before,
            origin=intent.origin.value,
            by_user=intent.by_user,
            state=EntryState.DRY_RUN if self.dry_run else EntryState.SENDING,
            reason=intent.reason[:300],
        )

    # --- sizing -----------------------------------------------------------------------------------
    def _size(self, intent: Intent, live: PositionState | None) -> Sized:
        """Turn the intent into one action from the fresh read, or refuse."""
        if live is None or live.amount == 0:
            raise Refusal(f"no open {intent.symbol} position ({intent.position_side.value})")
        size = abs(live.amount)
        if intent.expected_size is not None and not _same(size, intent.expected_size):
            raise Refusal(f"position size changed from {fmt(intent.expected_size)} to {fmt(size)}")
        long = (
            live.amount > 0
            if live.position_side is PositionSide.BOTH
            else live.position_side is PositionSide.LONG
        )
        account_before = self._account_before(intent, live, long)
        mark = live.mark_price or _mark_of(account_before, intent)
        notes: list[str] = []
        if intent.kind is IntentKind.ADD_MARGIN:
            return self._size_transfer(intent, live, size, account_before, mark)

        caps = self.settings.caps
        max_fraction = caps.max_fraction if intent.origin is Origin.AUTO else caps.manual_max_fraction
        if intent.kind is IntentKind.CLOSE:
            wanted = size
        elif intent.amount is not None:
            wanted = intent.amount
        else:
            assert intent.fraction is not None
            wanted = intent.fraction * size
        qty = min(wanted, size)
        if qty > size * max_fraction:
            qty = size * max_fraction
            notes.append(f"capped at {max_fraction * 100:g} % of the position")
        if not mark:
            raise Refusal("no mark price to hold the order against the notional cap")
        per_contract = self._contract_value(intent, mark)
        if per_contract > 0 and qty * per_contract > caps.max_notional:
            qty = caps.max_notional / per_contract
            notes.append(f"capped at {fmt(caps.max_notional)} notional")
        if qty < size:
            qty = self._truncate(intent, qty)
        lot = self.lot(intent.account, intent.symbol)
        minimum = max(lot.min_qty, lot.step)
        if qty < size and qty < minimum:
            # a cap finer than the market's lot: the smallest order the market takes, if the position
            # has that much (otherwise nothing can be done with a reduce-only order)
            if minimum > size:
                raise Refusal(f"size {fmt(qty)} is below the market minimum {fmt(minimum)}")
            qty = minimum
            notes.append(f"raised to the market minimum {fmt(minimum)}")
        if qty <= 0:
            raise Refusal("nothing to reduce")
        # reduce-only by construction: the opposite side, never more than the live size
        if not 0 < qty <= size:
            raise Refusal(f"refusing a size of {qty} against a position of {size}")
        side = "sell" if long else "buy"
        impact = None
        if account_before is not None:
            impact = reduce_impact(account_before, (intent.symbol, intent.position_side), qty)
        kind = IntentKind.CLOSE if qty >= size else IntentKind.REDUCE
        return Sized(
            kind,
            side,
            qty,
            size,
            live.isolated_wallet,
            live.margin_mode,
            mark,
            tuple(notes),
            impact,
            account_before,
        )

    def _size_transfer(
        self,
        intent: Intent,
        live: PositionState,
        size: float,
        account_before: Account | None,
        mark: float | None,
    ) -> Sized:
        if live.margin_mode is not MarginMode.ISOLATED:
            raise Refusal(f"{intent.symbol} is in cross margin: margin is added to isolated positions only")
        if not self.settings.isolated_add_margin:
            raise Refusal("adding margin is switched off (isolated_add_margin)")
        if account_before is None:
            raise Refusal("the account is not known well enough yet to size a transfer")
        refused = margin_transfers_refused(account_before.venue)
        if refused:
            raise Refusal(refused)
        wallet = live.isolated_wallet or 0.0
        if intent.amount is not None:
            wanted = intent.amount
        else:
            assert intent.fraction is not None
            wanted = intent.fraction * wallet
        allowed = margin_allowance(account_before, self.settings)
        notes: list[str] = []
        amount = wanted
        if amount > allowed:
            amount = allowed
            notes.append(f"capped at {fmt(allowed)} (caps and free cross balance)")
        rules = self._rules(intent.account, intent.symbol) or MarketRules(intent.symbol)
        amount = rules.floor_margin(amount)
        if amount < rules.margin_step:
            raise Refusal("no margin can be moved: free cross balance or caps leave nothing")
        impact = margin_impact(account_before, (intent.symbol, intent.position_side), amount)
        return Sized(
            IntentKind.ADD_MARGIN,
            None,
            amount,
            size,
            wallet,
            live.margin_mode,
            mark,
            tuple(notes),
            impact,
            account_before,
        )

    def _account_before(self, intent: Intent, live: PositionState, long: bool) -> Account | None:
        """The daemon's account with this leg replaced by the fresh read: the base every before/after
        figure is computed from (independent of when the user stream reports the fill). None when the
        daemon does not know the leg, or knows it on the other side (it flipped meanwhile)."""
        view = self.view(intent.account)
        if view is None:
            return None
        key = (intent.symbol, intent.position_side)
        try:
            known = view.positions[index_of(view, key)]
        except KeyError:
            return None
        if (known.side is Side.LONG) != long:
            return None
        return with_leg(view, key, abs(live.amount), live.entry_price, live.isolated_wallet)

    def _contract_value(self, intent: Intent, mark: float) -> float:
        """Quote value of one contract at ``mark``."""
        rules = self._rules(intent.account, intent.symbol)
        return rules.contract_value(mark) if rules is not None else mark

    def _truncate(self, intent: Intent, qty: float) -> float:
        """Truncated to the market's amount grid (never rounded up past the position)."""
        rules = self._rules(intent.account, intent.symbol)
        return rules.floor_amount(qty) if rules is not None else max(qty, 0.0)

    # --- sending ----------------------------------------------------------------------------------
    async def _send_order(
        self, venue: VenueAdapter, intent: Intent, sized: Sized, client_id: str, entry_id: int
    ) -> tuple[EntryState, float, float | None, str]:
        """One submit. The exchange's "no" is final; anything else that is not a final answer (a
        timeout, a dropped connection, a 5xx, an unreadable reply, an ACK) is settled by look-up."""
        assert sized.side is not None
        error = ""
        try:
            result = await venue.create_reduce_only_market(
                intent.account, intent.symbol, sized.side, sized.amount, intent.position_side, client_id
            )
        except Refused as exc:  # the venue's "no": nothing was executed
            return EntryState.REJECTED, 0.0, None, _describe(exc)
        except Exception as exc:
            error = _describe(exc)
        else:
            state = _order_state(result, sized.amount)
            if state is not EntryState.SENDING:
                return state, result.filled, result.average_price, result.detail
        log.warning("order outcome not known yet, looking it up", client_id=client_id, error=error)
        state, filled, price, detail = await self._resolve_order(
            venue, self.journal.get(entry_id), first_error=error
        )
        if state is EntryState.SENDING:  # no answer at all: unknown, and the gateway halts
            state = EntryState.UNKNOWN
        return state, filled, price, detail

    async def _resolve_order(
        self, venue: VenueAdapter, entry: Entry, first_error: str = ""
    ) -> tuple[EntryState, float, float | None, str]:
        """Look the order up by its client id until its fate is proved.

        Found with a final status: that is the answer. Not found: conclusive only once
        ``order_settle_s`` has passed since the row was written (a request that got no answer can still
        be executed until the exchange's receive window closes), and then only if a position read
        shows that nothing moved. ``lookup_attempts`` look-ups in a row without an answer (network
        down, order still open) give up with SENDING: recovery retries later, a live send halts.
        """
        anomalies = self.settings.anomalies
        loop = asyncio.get_running_loop()
        elapsed_s = max(0, self.clock() - entry.created_ms) / 1000
        settled_at = loop.time() + max(0.0, anomalies.order_settle_s - elapsed_s)
        errors: list[str] = [first_error] if first_error else []
        unanswered = 0
        delay = anomalies.lookup_delay_s
        if first_error:
            await self._sleep(delay)
        while True:
            found: OrderResult | None = None
            try:
                found = await venue.fetch_order_by_client_id(entry.account, entry.symbol, entry.client_id)
            except Exception as exc:
                errors.append(_describe(exc))
                unanswered += 1
            else:
                if found is None and loop.time() >= settled_at:
                    break  # not found, and too late to be executed now
                if found is not None:
                    state = _order_state(found, entry.amount)
                    if state is not EntryState.SENDING:
                        return state, found.filled, found.average_price, "found by client id"
                    unanswered += 1  # known but not final yet
                    errors.append(f"order still {found.status}")
            if unanswered >= anomalies.lookup_attempts:
                return EntryState.SENDING, 0.0, None, "; ".join(errors)[-300:] or "no final answer"
            pause = delay
            if found is None and unanswered == 0:
                pause = max(0.01, min(delay, settled_at - loop.time()))
            await self._sleep(pause)
            delay = min(delay * 2, 2.0)
        try:
            live = await venue.fetch_position(entry.account, entry.symbol, PositionSide(entry.position_side))
        except Exception as exc:
            return EntryState.UNKNOWN, 0.0, None, f"not found, and position read failed: {_describe(exc)}"
        size = abs(live.amount) if live is not None else 0.0
        if _same(size, entry.size_before):
            return EntryState.NOT_SENT, 0.0, None, "not found by client id; position unchanged"
        return EntryState.UNKNOWN, 0.0, None, f"not found, but the position moved to {fmt(size)}"

    async def _send_transfer(
        self, venue: VenueAdapter, intent: Intent, sized: Sized, entry_id: int
    ) -> tuple[EntryState, float, float | None, str]:
        try:
            await venue.add_isolated_margin(intent.account, intent.symbol, sized.amount, intent.position_side)
        except Refused as exc:  # the venue's "no": nothing was executed
            return EntryState.REJECTED, 0.0, None, _describe(exc)
        except Exception as exc:
            error = _describe(exc)
        else:
            return EntryState.DONE, sized.amount, None, ""
        log.warning("transfer outcome not known, checking the position", error=error)
        state, detail = await self._settle_transfer(venue, self.journal.get(entry_id))
        if state is EntryState.SENDING:
            state = EntryState.UNKNOWN
        return state, (sized.amount if state is EntryState.DONE else 0.0), None, f"{error}; {detail}"

    async def _settle_transfer(self, venue: VenueAdapter, entry: Entry) -> tuple[EntryState, str]:
        """Prove a transfer's fate: "done" as soon as the wallet shows it, "not sent" only once the
        request can no longer be executed (``order_settle_s``, as for orders)."""
        anomalies = self.settings.anomalies
        loop = asyncio.get_running_loop()
        elapsed_s = max(0, self.clock() - entry.created_ms) / 1000
        settled_at = loop.time() + max(0.0, anomalies.order_settle_s - elapsed_s)
        unanswered = 0
        delay = anomalies.lookup_delay_s
        while True:
            state, detail = await self._prove_transfer(venue, entry)
            if state is EntryState.SENDING:
                unanswered += 1
                if unanswered >= anomalies.lookup_attempts:
                    return state, detail
            elif state is not EntryState.NOT_SENT or loop.time() >= settled_at:
                return state, detail
            await self._sleep(max(0.01, min(delay, settled_at - loop.time())) if unanswered == 0 else delay)
            delay = min(delay * 2, 2.0)

    async def _prove_transfer(self, venue: VenueAdapter, entry: Entry) -> tuple[EntryState, str]:
        """A transfer has no client id: compare the isolated wallet with the one read before."""
        try:
            live = await venue.fetch_position(entry.account, entry.symbol, PositionSide(entry.position_side))
        except Exception as exc:
            return EntryState.SENDING, f"position read failed: {_describe(exc)}"
        wallet = (live.isolated_wallet or 0.0) if live is not None else None
        before = entry.wallet_before or 0.0
        if wallet is None:
            return EntryState.UNKNOWN, "the position is gone"
        # within one step of the transfer's grid (a cent of USDT, a satoshi of a coin)
        step = (self._rules(entry.account, entry.symbol) or MarketRules(entry.symbol)).margin_step
        if abs(wallet - (before + entry.amount)) <= step:
            return EntryState.DONE, "isolated wallet shows the transfer"
        if abs(wallet - before) <= step:
            return EntryState.NOT_SENT, "isolated wallet unchanged"
        return (
            EntryState.UNKNOWN,
            f"isolated wallet {fmt(before)} -> {fmt(wallet)}, expected +{fmt(entry.amount)}",
        )

    # --- after ------------------------------------------------------------------------------------
    async def _after(
        self,
        venue: VenueAdapter,
        intent: Intent,
        sized: Sized,
        client_id: str,
        entry_id: int,
        state: EntryState,
        filled: float,
        price: float | None,
        detail: str,
    ) -> GatewayResult:
        self.journal.finish(
            entry_id, state, self.clock(), filled=filled, average_price=price, detail=scrub(detail)
        )
        outcome = _ENTRY_OUTCOME[state]
        size_after: float | None = None
        wallet_after: float | None = None
        impact = sized.impact
        if outcome in (Outcome.FILLED, Outcome.PARTIAL, Outcome.DONE):
            try:
                live = await venue.fetch_position(intent.account, intent.symbol, intent.position_side)
                size_after = abs(live.amount) if live is not None else 0.0
                wallet_after = live.isolated_wallet if live is not None else None
                impact = self._impact_after(intent, sized, filled, live)
            except Exception as exc:
                log.warning("re-read after the action failed", error=_describe(exc))
        message = _result_message(outcome, sized, filled, price, detail)
        result = GatewayResult(
            outcome,
            message,
            intent,
            client_id,
            sized,
            filled,
            price,
            size_after,
            impact,
            entry_id,
            wallet_after,
        )
        log.info(
            "action",
            outcome=outcome.value,
            client_id=client_id,
            account=intent.account,
            symbol=intent.symbol,
            amount=sized.amount,
            filled=filled,
        )
        self._emit([self._result_alert(result, venue.venue.value)])
        if outcome is Outcome.UNKNOWN:
            self.halt(f"the outcome of {client_id} on {intent.symbol} is unknown ({detail})")
        elif outcome in (Outcome.REJECTED, Outcome.NOT_SENT):
            self._check_failures()
        return result

    def _impact_after(
        self, intent: Intent, sized: Sized, filled: float, live: PositionState | None
    ) -> Impact | None:
        """Re-evaluate from the fresh read: the modelled fill on the pre-trade account, with the leg as
        the exchange now reports it."""
        base = sized.account_before
        if base is None:
            return sized.impact
        key = (intent.symbol, intent.position_side)
        if sized.kind is IntentKind.ADD_MARGIN:
            after = apply_add_margin(base, key, filled)
        else:
            after = apply_reduce(base, key, filled)
        if live is not None and live.amount != 0:
            with contextlib.suppress(KeyError):  # the fill closed it in the model
                after = with_leg(after, key, abs(live.amount), live.entry_price, live.isolated_wallet)
        before_risk, after_risk = evaluate_account(base), evaluate_account(after)
        return Impact(figures(before_risk, key), figures(after_risk, key), before_risk, after_risk)

    def _check_failures(self) -> None:
        anomalies = self.settings.anomalies
        since = max(self.clock() - int(anomalies.reject_window_s * 1000), self._resumed_ms())
        failures = self.journal.failures_since(since)
        if failures >= anomalies.max_rejects:
            self.halt(f"{failures} rejected or failed actions within {anomalies.reject_window_s:g} s")

    def _resumed_ms(self) -> int:
        """Failures from before the last resume were already dealt with by a person."""
        return self._state.changed_ms if self._state.state is not TradingState.HALTED else 0

    def _refused(self, intent: Intent, message: str) -> GatewayResult:
        # automatic refusals repeat on every tick of a crash (cool-downs): not worth an info line each
        emit = log.debug if intent.origin is Origin.AUTO else log.info
        emit("action refused", account=intent.account, symbol=intent.symbol, reason=message)
        return GatewayResult(Outcome.REFUSED, message, intent)

    # --- alerts -----------------------------------------------------------------------------------
    def _emit(self, alerts: list[Alert]) -> None:
        if self.on_alert is None:
            return
        try:
            self.on_alert(alerts)
        except Exception:
            log.exception("alert callback failed")

    def _alert(
        self,
        key: str,
        level: Level,
        account: str,
        message: str,
        *,
        venue: str = "",
        symbol: str | None = None,
        position_side: str | None = None,
        margin_mode: str | None = None,
        facts: Mapping[str, FactValue] | None = None,
    ) -> Alert:
        return Alert(
            key=key,
            kind=AlertKind.ACTION,
            level=level,
            transition=Transition.EVENT,
            venue=venue,
            account=account,
            message=message,
            ts_ms=self.clock(),
            symbol=symbol,
            position_side=position_side,
            margin_mode=margin_mode,
            facts=dict(facts or {}),
        )

    def _result_alert(self, result: GatewayResult, venue: str) -> Alert:
        intent, sized, impact = result.intent, result.sized, result.impact
        facts: dict[str, FactValue] = {
            "outcome": result.outcome.value,
            "action": (sized.kind if sized else intent.kind).value,
            "origin": intent.origin.value,
            "client_id": result.client_id,
            "dry_run": result.outcome is Outcome.DRY_RUN,
            "filled": result.filled,
            "average_price": result.average_price,
        }
        if sized is not None:
            facts.update(amount=sized.amount, side=sized.side, size_before=sized.size_before)
        if result.size_after is not None:
            facts["size_after"] = result.size_after
        if impact is not None:
            facts.update(
                ratio_before=impact.before.margin_ratio,
                ratio_after=impact.after.margin_ratio,
                liquidation_before=impact.before.liquidation_price,
                liquidation_after=impact.after.liquidation_price,
                distance_before_pct=impact.before.distance_pct,
                distance_after_pct=impact.after.distance_pct,
            )
        level = {
            Outcome.DRY_RUN: Level.INFO,
            Outcome.FILLED: Level.WARN,
            Outcome.DONE: Level.WARN,
            Outcome.PARTIAL: Level.DANGER,
            Outcome.REJECTED: Level.DANGER,
            Outcome.NOT_SENT: Level.DANGER,
            Outcome.UNKNOWN: Level.CRITICAL,
            Outcome.REFUSED: Level.INFO,
        }[result.outcome]
        text = f"{intent.account} {intent.symbol}: {result.message}"
        if impact is not None:
            text += (
                f" | ratio {fmt_ratio(impact.before.margin_ratio)} -> "
                f"{fmt_ratio(impact.after.margin_ratio)}, "
                f"liq {fmt(impact.before.liquidation_price)} -> {fmt(impact.after.liquidation_price)}, "
                f"distance {fmt_pct(impact.before.distance_pct)} -> {fmt_pct(impact.after.distance_pct)}"
            )
        return self._alert(
            f"action:{intent.account}:{intent.symbol}:{intent.position_side.value}",
            level,
            intent.account,
            text,
            venue=venue,
            symbol=intent.symbol,
            position_side=intent.position_side.value,
            margin_mode=sized.margin_mode.value if sized else None,
            facts=facts,
        )


# --- helpers --------------------------------------------------------------------------------------


def _client_id(now_ms: int) -> str:
    """``mdr`` + time + 48 random bits: unique, sortable, within Binance's 36-character pattern.
    Binance only enforces uniqueness among open orders, so the randomness is what keeps a look-up
    from finding an older order."""
    return f"mdr{_base36(now_ms)}{secrets.token_hex(6)}"


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=_SIZE_RTOL, abs_tol=1e-12)


def _order_state(result: OrderResult, amount: float) -> EntryState:
    """SENDING when the exchange's answer is not final yet (ACK, open, unknown)."""
    final = result.status in ("filled", "rejected")
    if result.filled > 0:
        if result.filled >= amount * (1 - 1e-9):
            return EntryState.FILLED
        return EntryState.PARTIAL if final else EntryState.SENDING
    if result.status == "rejected":
        return EntryState.REJECTED
    return EntryState.SENDING


def _mark_of(account: Account | None, intent: Intent) -> float | None:
    if account is None:
        return None
    for p in account.positions:
        if p.key == (intent.symbol, intent.position_side):
            return p.mark_price
    return None


def _verb(sized: Sized) -> str:
    if sized.kind is IntentKind.ADD_MARGIN:
        return f"add {fmt(sized.amount)} margin"
    what = "close" if sized.kind is IntentKind.CLOSE else "reduce"
    return f"{what}: {sized.side} {fmt(sized.amount)} of {fmt(sized.size_before)} (reduce-only)"


def _result_message(outcome: Outcome, sized: Sized, filled: float, price: float | None, detail: str) -> str:
    if outcome is Outcome.FILLED:
        return f"{_verb(sized)} filled {fmt(filled)} at {fmt(price)}"
    if outcome is Outcome.PARTIAL:
        return f"{_verb(sized)} only partly filled: {fmt(filled)} at {fmt(price)}"
    if outcome is Outcome.DONE:
        return f"{_verb(sized)}: done"
    return f"{_verb(sized)}: {outcome.value} ({scrub(detail) or 'no detail'})"


def _describe(exc: BaseException) -> str:
    """Exception class and a scrubbed, shortened message (a client's may carry signed URLs)."""
    return scrub(f"{type(exc).__name__}: {exc}")[:300]
