"""The engine: what the daemon knows about each account, and its risk after every event.

Events come in one at a time from a single task (no locks). The engine keeps, per account, the latest
positions, wallet and tier tables, and an immutable ``Account`` built from them; a mark tick only passes
the new marks to :func:`evaluate_account` for the accounts holding a ticked symbol. Everything the engine
returns is an immutable value handed to the pure policy.

Freshness is tracked here too: a frame counts as fresh data only once it has been validated and applied.

Marks are kept newest first by the exchange's own clock: each stored mark carries its event time, and a
price older than the one stored for its symbol (a late frame, a REST body that was slow to come back) is
not applied, nor evaluated. A resync may change positions and balances; it never moves a mark back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from monitor.events import (
    AccountSnapshotEvent,
    AccountUpdate,
    MarkPrices,
    PositionState,
    TierTable,
)
from monitor.margin.account import evaluate_account
from monitor.margin.batch import AccountColumns, Batch, batchable
from monitor.margin.rows import RowLabels
from monitor.model import (
    Account,
    AccountRisk,
    Collateral,
    MarginMode,
    Position,
    PositionSide,
    Side,
    Tier,
    Venue,
)

# How long before a REST resync's requests left the stored mark of a symbol must have arrived for the
# body's mark to replace it: the body was valued after the request arrived, so it is the newer, give or
# take how far the exchange's REST views trail its stream.
REST_MARK_LAG_MS = 2_000

# Replaced marks and risks kept for ``Engine.release`` before they are freed regardless: a few ticks'.
SPENT_KEPT = 16


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """What the maths needs from a venue's market list: contract size and settlement."""

    symbol: str
    contract_size: float = 1.0
    inverse: bool = False


@dataclass(slots=True)
class AccountBook:
    """Mutable state of one account. ``account`` is the immutable view, rebuilt when anything but a
    mark changes; ``missing_tiers`` names held symbols without a tier table (not evaluated until one
    arrives: an evaluation without it would understate the requirement)."""

    venue: Venue
    name: str
    taker_fee: float = 0.0
    wallet: float | None = None
    legs: dict[tuple[str, PositionSide], PositionState] = field(default_factory=dict)
    tiers: dict[str, tuple[Tier, ...]] = field(default_factory=dict)
    account: Account | None = None
    symbols: frozenset[str] = frozenset()
    missing_tiers: frozenset[str] = frozenset()
    # when a user-stream delta last changed each leg and the wallet (our receive time)
    delta_ms: dict[tuple[str, PositionSide], int] = field(default_factory=dict)
    wallet_ms: int = 0
    # Multi-Assets mode: the pool's other assets, from the last resync and the deltas since
    collateral: tuple[Collateral, ...] = ()


class MarkTimes:
    """The exchange time of each stored mark of one venue (stream ``E``, premiumIndex ``time``, or the
    lower bound a REST body proves), kept so that the newest mark of a symbol wins.

    An all-market frame stamps every symbol with one time: ``base`` holds it for the symbols of the
    last whole frame and ``own`` those stamped otherwise since, so that such a frame costs two
    assignments, not a mapping of 500 entries. ``newest`` is the newest of all: a frame whose oldest
    time is not older than it cannot hold a price older than a stored one, which is one comparison
    per frame rather than one per symbol."""

    __slots__ = ("base", "newest", "own")

    def __init__(self) -> None:
        self.base = 0
        self.own: dict[str, int] = {}
        self.newest = 0

    def of(self, symbol: str, stored: Mapping[str, float]) -> int:
        """The time of ``symbol``'s stored mark (0 when none is stored)."""
        stamp = self.own.get(symbol)
        if stamp is None:
            return self.base if symbol in stored else 0
        return stamp

    def whole(self, ev: MarkPrices) -> None:
        """A frame that replaced every stored mark of the venue."""
        self.base = ev.event_ms
        self.own = {} if ev.stamps is None else dict(ev.stamps)
        self.newest = max(self.newest, _newest(ev))

    def some(self, ev: MarkPrices) -> None:
        """A frame that replaced the marks of its own symbols."""
        self.own.update(dict.fromkeys(ev.prices, ev.event_ms) if ev.stamps is None else ev.stamps)
        self.newest = max(self.newest, _newest(ev))

    def one(self, symbol: str, stamp: int) -> None:
        self.own[symbol] = stamp
        self.newest = max(self.newest, stamp)


def _newest(ev: MarkPrices) -> int:
    return ev.event_ms if ev.stamps is None else max(ev.stamps.values())


class Engine:
    """Accounts of any number of venues; marks are per venue."""

    def __init__(self) -> None:
        self.books: dict[str, AccountBook] = {}
        self.markets: dict[str, dict[str, MarketInfo]] = {}
        self.marks: dict[str, dict[str, float]] = {}
        self.mark_ms: dict[str, dict[str, int]] = {}
        self.risks: dict[str, AccountRisk] = {}
        # per venue, when (our clock) the REST body that set a mark had been requested
        self.rest_mark_ms: dict[str, dict[str, int]] = {}
        self.mark_times: dict[str, MarkTimes] = {}
        self._tier_pool: dict[tuple[Tier, ...], tuple[Tier, ...]] = {}
        # per account, its columns (rebuilt when its ``Account`` is); per venue, all of them joined
        # (rebuilt at the first tick after any of them changed)
        self._columns: dict[str, AccountColumns] = {}
        self._batches: dict[str, tuple[Batch, dict[str, int]]] = {}
        # what ticks replaced, kept alive until ``release`` (see there)
        self._spent: list[object] = []

    # --- set-up -------------------------------------------------------------------------------------
    def add_account(self, name: str, venue: Venue, taker_fee: float = 0.0) -> None:
        self.books[name] = AccountBook(venue, name, taker_fee)
        self.marks.setdefault(venue.value, {})
        self.mark_ms.setdefault(venue.value, {})

    def set_markets(self, venue: str, markets: Iterable[MarketInfo]) -> None:
        self.markets[venue] = {m.symbol: m for m in markets}

    # --- events -------------------------------------------------------------------------------------
    def on_marks(self, ev: MarkPrices) -> list[AccountRisk]:
        """Apply validated marks; re-evaluate only the accounts that hold a ticked symbol. A price older
        (by the exchange's time) than the stored mark of its symbol is dropped."""
        marks = self.marks.setdefault(ev.venue, {})
        stamps = self.mark_ms.setdefault(ev.venue, {})
        times = self._times(ev.venue)
        if ev.event_ms < times.newest:
            newer = _newer_only(ev, marks, times)
            if newer is None:
                return []
            ev = newer
        whole = len(ev.prices) >= len(marks) and marks.keys() <= ev.prices.keys()
        if whole:
            # a frame with every symbol known so far (an all-market frame): new mappings, and the
            # old ones are spent; updating them would free 500 old prices inside this tick
            self._spend(marks, stamps, times.own)
            marks = self.marks[ev.venue] = dict(ev.prices)
            self.mark_ms[ev.venue] = dict.fromkeys(ev.prices, ev.received_ms)
            times.whole(ev)
        else:
            marks.update(ev.prices)
            stamps.update(dict.fromkeys(ev.prices, ev.received_ms))
            times.some(ev)
        # a set, so that each account's test walks its own few symbols rather than the whole frame
        ticked = set(ev.prices)
        touched = [
            book
            for book in self.books.values()
            if book.venue == ev.venue and book.account is not None and not book.symbols.isdisjoint(ticked)
        ]
        if not touched:
            return []
        # an all-market frame touches every account: one pass over columns rather than one each
        batch, index = self._batch(ev.venue)
        names = [book.name for book in touched if book.name in index]
        which = [index[name] for name in names]
        batched = dict(zip(names, batch.evaluate(marks, which), strict=True))
        self._spend([self.risks.get(name) for name in names])  # their rows hold the old marks
        out = []
        for book in touched:
            risk = batched.get(book.name)
            if risk is None:
                out.append(self._evaluate(book))
            else:
                self.risks[book.name] = risk
                out.append(risk)
        return out

    def on_snapshot(self, ev: AccountSnapshotEvent) -> AccountRisk | None:
        """A REST resync replaces the account's positions and wallet; its marks replace only older ones.

        The account is evaluated at the newest mark of each symbol, whichever source brought it: a
        body that took long to come back holds marks the stream has already moved past, and judging
        the account at those would raise and drop a level on the strength of an old price.

        The exchange's liquidation prices are compared with ours here and only here, and only for
        the legs whose liquidation price depends on no mark newer than the body's: the exchange's
        figure was computed at the body's marks, and a cross liquidation price moves with every
        other symbol, so set against newer marks it would drift apart from a figure that is
        simply old. Such legs are compared at a later resync.
        """
        book = self.books[ev.account]
        # A delta received after the snapshot's requests left is newer than the REST bodies: keep it.
        newer = {key for key, t in book.delta_ms.items() if ev.requested_ms and t > ev.requested_ms}
        kept = {key: book.legs[key] for key in newer if key in book.legs}
        if not (ev.requested_ms and book.wallet_ms > ev.requested_ms):
            book.wallet = ev.cross_wallet_balance
            book.collateral = ev.collateral
        else:  # the balances of the newer delta, at the snapshot's prices and haircuts
            held = {c.asset: c.amount for c in book.collateral}
            book.collateral = tuple(replace(c, amount=held.get(c.asset, c.amount)) for c in ev.collateral)
        book.legs = {}
        exchange_lp: dict[tuple[str, PositionSide], float | None] = {}
        body_marks: dict[str, float] = {}
        marks = self.marks.setdefault(ev.venue, {})
        for state in ev.positions:
            key = (state.symbol, state.position_side)
            if state.amount == 0 or key in newer:
                continue
            book.legs[key] = state
            exchange_lp[key] = state.liquidation_price
            if state.mark_price:
                body_marks[state.symbol] = state.mark_price
                self._offer_rest_mark(ev, state, marks)
        book.legs.update(kept)
        self._rebuild(book, evaluate=False)
        if book.account is None:
            return None
        # legs whose liquidation price would be judged at a mark newer than the body's
        moved = {symbol for symbol, mark in body_marks.items() if marks.get(symbol) != mark}
        cross_moved = any(
            state.symbol in moved for state in book.legs.values() if state.margin_mode is MarginMode.CROSS
        )
        compared = replace(
            book.account,
            positions=tuple(
                p
                if (cross_moved if p.margin_mode is MarginMode.CROSS else p.symbol in moved)
                else replace(p, exchange_liquidation_price=exchange_lp.get(p.key))
                for p in book.account.positions
            ),
        )
        risk = evaluate_account(compared, marks)
        self.risks[book.name] = risk
        return risk

    def _offer_rest_mark(
        self, ev: AccountSnapshotEvent, state: PositionState, marks: dict[str, float]
    ) -> None:
        """Store a REST body's mark when it is known to be the newer: no mark is stored for the
        symbol; or the position changed (``update_ms``) after the stored mark's time; or the stored
        mark had arrived ``REST_MARK_LAG_MS`` before the body's requests left (a stalled stream: the
        exchange valued the body's mark after that). It then carries the newest time it is known to
        be at least as new as. A REST mark never refreshes the stream's freshness clock."""
        symbol, mark = state.symbol, state.mark_price
        assert mark is not None
        times = self._times(ev.venue)
        stored = times.of(symbol, marks)
        known_since = self._rest_mark_ms(ev.venue, symbol)
        if not (
            symbol not in marks
            or state.update_ms > stored
            or (ev.requested_ms and known_since < ev.requested_ms - REST_MARK_LAG_MS)
        ):
            return
        marks[symbol] = mark
        times.one(symbol, max(stored, state.update_ms))
        self.rest_mark_ms.setdefault(ev.venue, {})[symbol] = ev.requested_ms or ev.received_ms

    def on_account_update(self, ev: AccountUpdate) -> AccountRisk | None:
        """A user-stream delta: only the legs it names changed."""
        book = self.books[ev.account]
        if ev.cross_wallet_balance is not None:
            book.wallet = ev.cross_wallet_balance
            book.wallet_ms = ev.received_ms
        if ev.other_balances and book.collateral:
            book.collateral = _with_balances(book.collateral, ev.other_balances)
            book.wallet_ms = ev.received_ms
        for state in ev.positions:
            key = (state.symbol, state.position_side)
            book.delta_ms[key] = ev.received_ms
            if state.amount == 0:
                book.legs.pop(key, None)
            else:
                prev = book.legs.get(key)
                if prev is not None and state.leverage is None and prev.leverage is not None:
                    state = _with_leverage(state, prev.leverage)
                book.legs[key] = state
        return self._rebuild(book)

    def on_tiers(self, ev: TierTable) -> AccountRisk | None:
        book = self.books[ev.account]
        # accounts mostly share the venue's default brackets: keep one copy of each distinct table
        book.tiers[ev.symbol] = self._tier_pool.setdefault(ev.tiers, ev.tiers)
        return self._rebuild(book) if ev.symbol in book.symbols or ev.symbol in book.missing_tiers else None

    def _times(self, venue: str) -> MarkTimes:
        times = self.mark_times.get(venue)
        if times is None:
            times = self.mark_times[venue] = MarkTimes()
        return times

    def _rest_mark_ms(self, venue: str, symbol: str) -> int:
        """When (our clock) the stored mark of ``symbol`` was known: its frame's arrival, or the
        request of the REST body that set it."""
        return max(
            self.mark_ms.get(venue, {}).get(symbol, 0), self.rest_mark_ms.get(venue, {}).get(symbol, 0)
        )

    # --- queries ------------------------------------------------------------------------------------
    def mark_age_ms(self, venue: str, symbol: str, now_ms: int) -> int | None:
        stamp = self.mark_ms.get(venue, {}).get(symbol)
        return None if stamp is None else now_ms - stamp

    def account_view(self, name: str) -> Account | None:
        """The account with the latest marks folded in (for previews and the de-risk planner)."""
        book = self.books[name]
        if book.account is None:
            return None
        marks = self.marks.get(book.venue.value, {})
        return replace(
            book.account,
            positions=tuple(
                replace(p, mark_price=marks.get(p.symbol, p.mark_price)) for p in book.account.positions
            ),
            collateral=tuple(
                replace(c, price=marks.get(c.symbol, c.price)) if c.symbol else c
                for c in book.account.collateral
            ),
        )

    def prepare(self) -> list[RowLabels]:
        """Join now the columns a change left stale (or that no tick has joined yet), rather than
        inside the next tick; returns the layouts of the batches built (empty when none was missing).

        Why: a fill or a liquidation changes one account, and joining the venue's columns again cost
        the next all-market tick about as much as evaluating them. The daemon calls this when nothing
        is queued (``monitor.daemon.idle``); without it the tick joins them itself."""
        held = {book.venue.value for book in self.books.values() if book.account is not None}
        return [self._batch(venue)[0].layout for venue in sorted(held - self._batches.keys())]

    def layouts(self) -> list[RowLabels]:
        """The layouts of the venues' current batches (those a tick would evaluate now)."""
        return [batch.layout for batch, _ in self._batches.values()]

    def release(self) -> None:
        """Free what ticks replaced (the previous marks and risks).

        Why: freeing a tick's predecessors means visiting each of their objects, thousands per
        all-market frame, none of them in the processor's cache any more (docs/performance.md).
        ``monitor.daemon.idle`` calls this when nothing is queued. Without calls, no more than a few ticks'
        worth is kept."""
        self._spent.clear()

    def unreleased(self) -> int:
        """How many replaced objects (mark mappings, risks) wait for ``release``."""
        return len(self._spent)

    # --- internals ----------------------------------------------------------------------------------
    def _spend(self, *replaced: object) -> None:
        if len(self._spent) >= SPENT_KEPT:
            self._spent.clear()  # nobody releases: free them here, as before
        self._spent.extend(replaced)

    def _rebuild(self, book: AccountBook, *, evaluate: bool = True) -> AccountRisk | None:
        if book.wallet is None:
            return None
        markets = self.markets.get(book.venue.value, {})
        marks = self.marks.get(book.venue.value, {})
        positions = []
        missing = set()
        for key, state in book.legs.items():
            symbol = key[0]
            tiers = book.tiers.get(symbol)
            mark = marks.get(symbol) or state.mark_price
            if tiers is None or not mark:
                missing.add(symbol)
                continue
            positions.append(_to_position(state, markets.get(symbol), tiers, mark))
        book.missing_tiers = frozenset(missing)
        book.symbols = frozenset(p.symbol for p in positions)
        if book.collateral:
            # a tick of a symbol that prices collateral revalues the pool, held or not
            book.symbols |= {c.symbol for c in book.collateral if c.symbol is not None}
        book.account = Account(
            book.venue, book.wallet, tuple(positions), book.name, book.taker_fee, book.collateral
        )
        self._batches.pop(book.venue.value, None)
        return self._evaluate(book) if evaluate else None

    def _batch(self, venue: str) -> tuple[Batch, dict[str, int]]:
        """The venue's accounts as one set of columns, and each account's place in it."""
        cached = self._batches.get(venue)
        if cached is not None:
            return cached
        columns = []
        for book in self.books.values():
            account = book.account
            if book.venue != venue or account is None or not batchable(account):
                continue
            compiled = self._columns.get(book.name)
            if compiled is None or compiled.account is not account:
                compiled = self._columns[book.name] = AccountColumns(account)
            columns.append(compiled)
        built = (Batch(columns), {c.account.name: k for k, c in enumerate(columns)})
        self._batches[venue] = built
        return built

    def _evaluate(self, book: AccountBook) -> AccountRisk:
        assert book.account is not None
        risk = evaluate_account(book.account, self.marks.get(book.venue.value))
        self.risks[book.name] = risk
        return risk


def _with_balances(
    collateral: tuple[Collateral, ...], balances: tuple[tuple[str, float], ...]
) -> tuple[Collateral, ...]:
    """A delta's new balances of the assets held as collateral. An asset not held at the last resync
    has no index price yet: it joins the pool at the next resync."""
    new = dict(balances)
    return tuple(replace(c, amount=new[c.asset]) if c.asset in new else c for c in collateral)


def _newer_only(ev: MarkPrices, stored: Mapping[str, float], times: MarkTimes) -> MarkPrices | None:
    """``ev`` without the prices older than the stored mark of their symbol; ``None`` if none is left."""
    kept = {
        symbol: price
        for symbol, price in ev.prices.items()
        if symbol not in stored or ev.stamp(symbol) >= times.of(symbol, stored)
    }
    if len(kept) == len(ev.prices):
        return ev
    if not kept:
        return None
    if ev.stamps is None:
        return replace(ev, prices=kept)
    own = {symbol: ev.stamps[symbol] for symbol in kept}
    return replace(ev, prices=kept, event_ms=min(own.values()), stamps=own)


def _with_leverage(state: PositionState, leverage: float) -> PositionState:
    return replace(state, leverage=leverage)


def _to_position(
    state: PositionState, market: MarketInfo | None, tiers: tuple[Tier, ...], mark: float
) -> Position:
    if state.position_side is PositionSide.BOTH:
        side = Side.LONG if state.amount > 0 else Side.SHORT
    else:
        side = Side.LONG if state.position_side is PositionSide.LONG else Side.SHORT
    isolated = state.margin_mode is MarginMode.ISOLATED
    return Position(
        symbol=state.symbol,
        side=side,
        margin_mode=state.margin_mode,
        contracts=abs(state.amount),
        entry_price=state.entry_price,
        mark_price=mark,
        tiers=tiers,
        contract_size=market.contract_size if market else 1.0,
        inverse=market.inverse if market else False,
        position_side=state.position_side,
        isolated_wallet=(state.isolated_wallet or 0.0) if isolated else None,
        leverage=state.leverage,
        opened_at=state.opened_ms / 1000 if state.opened_ms else None,
    )
