"""Binance USD-M / COIN-M WebSocket frames -> ``monitor.events`` (public API: ``parse``).

Pure functions over already-decoded JSON (``json.loads`` output). The daemon receives frames raw,
not through ccxt's parsed structures, because it needs Binance's own fields (``iw``, ``cw``, ``mm``).

Symbol policy, shared with the REST parsers in ``rest``:

* ``symbols`` should map *every* Binance id of the venue to its unified symbol (ccxt's markets), so an
  unknown id means a listing the market cache has not seen yet.
* Mark prices: unknown ids are skipped and reported in the problem list; the other prices are used.
* Positions (ACCOUNT_UPDATE, MARGIN_CALL, positionRisk): an unknown id on a flat leg is dropped (nothing
  to watch); an unknown id on an open leg or an order rejects the whole frame. Applying the rest would
  hide an open position we cannot watch; rejecting it is loud, and the remedy (reload markets, resync)
  is the same for every position in the frame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import cast

from monitor.events import (
    AccountUpdate,
    ListenKeyExpired,
    MarginCall,
    MarginCallPosition,
    MarkPrices,
    OrderKind,
    OrderUpdate,
    PositionState,
)
from monitor.model import MarginMode, PositionSide
from monitor.venues.binance.fields import (
    Obj,
    check_side_sign,
    entry_price,
    lookup_symbol,
    parse_client_id,
    parse_order_id,
    position_symbol,
)
from monitor.venues.wire import (
    DECIMAL_CHARS,
    DECIMAL_RE,
    MAX_DECIMAL_TEXT,
    MAX_MS,
    MAX_PRICE,
    MIN_PRICE,
    FrameError,
    excerpt,
    index_path,
    key_path,
    parse_array,
    refuse_repeats,
)

MAX_MARKS = 5_000
"""Elements accepted in one mark-price array. Binance lists a few hundred symbols per venue."""

MAX_EVENT_ITEMS = 1_000
"""Balances or positions accepted in one user event (Binance sends only what changed)."""

MAX_PROBLEMS = 20
"""Problems listed per frame; further ones are summarised in one line so a broken array of thousands
of elements does not produce thousands of log lines."""

UserEvent = AccountUpdate | OrderUpdate | MarginCall | ListenKeyExpired


def is_control_reply(frame: object) -> bool:
    """A reply to SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS (``{"result": null, "id": 1}`` or an error
    with ``id``): not market data and not a user event. Check before calling the parsers, which reject
    it like any other frame they do not understand."""
    return (
        isinstance(frame, Mapping)
        and "id" in frame
        and ("result" in frame or "error" in frame)
        and "e" not in frame
    )


def unwrap_combined(frame: object, *, source: str) -> tuple[object, str]:
    """Strip a combined-stream wrapper ``{"stream": "<name>", "data": <payload>}`` once.

    Returns the payload and the path prefix errors should use (``data``). Only one level is unwrapped:
    a wrapper inside a wrapper is not something Binance sends."""
    if isinstance(frame, Mapping) and "data" in frame and "stream" in frame and "e" not in frame:
        if not isinstance(frame["stream"], str):
            raise FrameError(source, "stream", "not a stream name", excerpt(frame["stream"]))
        return frame["data"], "data"
    return frame, ""


# --- mark prices -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mark:
    """One well-formed mark-price element; ``symbol`` is ``None`` for an id the map does not know."""

    market_id: str
    symbol: str | None
    price: float
    event_ms: int
    id_key: str


def parse_mark_prices(
    frame: object, *, venue: str, symbols: Mapping[str, str], received_ms: int
) -> tuple[MarkPrices, list[str]]:
    """A ``markPriceUpdate`` (``<symbol>@markPrice``), an array of them (``!markPrice@arr``), either
    inside a combined-stream wrapper.

    Returns the prices of every valid, known element and a list of problems (bad elements, unknown
    ids) for the caller to log. Raises ``FrameError`` when no element is well formed. ``event_ms`` is
    the oldest ``E`` among the well-formed elements, so no price is presented as newer than it is.
    """
    source = "markPrice"
    payload, path = unwrap_combined(frame, source=source)
    return collect_marks(
        payload,
        path=path,
        source=source,
        venue=venue,
        symbols=symbols,
        received_ms=received_ms,
        read=read_mark_update,
        fast=fast_mark,
        whole=fast_mark_frame,
    )


def fast_mark(element: object, symbols: Mapping[str, str]) -> tuple[str, str, float, int] | None:
    """``(market_id, symbol, price, event_ms)`` of an element that is plainly well formed, else ``None``.

    An all-market frame carries some 500 elements every second, and nearly all are perfect. This
    accepts only what ``read_mark_update`` accepts (a known id, a decimal string within the price bounds, an
    integer timestamp in range), with none of its path bookkeeping; anything else returns ``None`` and
    goes through the full reader for its exact error. ``tests/venues`` checks the two agree.
    """
    if type(element) is not dict or element.get("e") != "markPriceUpdate":
        return None
    market_id = element.get("s")
    price_text = element.get("p")
    event_ms = element.get("E")
    if type(market_id) is not str or type(price_text) is not str or type(event_ms) is not int:
        return None
    symbol = symbols.get(market_id)
    if symbol is None or len(price_text) > MAX_DECIMAL_TEXT or not DECIMAL_RE.fullmatch(price_text):
        return None
    price = float(price_text)
    if not MIN_PRICE <= price <= MAX_PRICE or not 0 < event_ms <= MAX_MS:
        return None
    return market_id, symbol, price, event_ms


_KIND, _ID, _PRICE, _TIME = map(itemgetter, ("e", "s", "p", "E"))
_SEPARATOR = ","
_DECIMAL_CHARS_AND_SEPARATOR = (DECIMAL_CHARS + _SEPARATOR).encode("ascii")

_RESOLVED: dict[int, tuple[Mapping[str, str], int, str, list[str]]] = {}
"""Per symbols mapping (by identity, kept alive with its entry): how many ids the last whole frame
that resolved had, those ids joined by ``_SEPARATOR``, and their symbols. A mapping is not changed
once in use (the venue builds a new one when it reloads its markets)."""


def _resolved(ids: list[str], symbols: Mapping[str, str]) -> list[str] | None:
    """The symbols of ``ids``, or ``None`` when one is not a str, is unknown, or two are the same
    market.

    Ids that join into the same text as the last list that resolved are that list: it held no
    separator (else it is not kept), so the text has one fewer separators than ids, and as many ids
    can only join into it if none holds one either, each then between the same separators. One
    text, compared at once, rather than 500 strings kept from an old frame, read one by one."""
    last = _RESOLVED.get(id(symbols))
    try:
        joined = _SEPARATOR.join(ids)
    except TypeError:  # not all strs
        return None
    if last is not None and last[0] is symbols and last[1] == len(ids) and last[2] == joined:
        return last[3]
    unified = list(map(symbols.get, ids))
    if None in unified or len(set(unified)) != len(ids):
        return None
    known = cast("list[str]", unified)  # no None: checked above
    if joined.count(_SEPARATOR) == len(ids) - 1:
        if len(_RESOLVED) >= 8:  # a few venues at most; anything more is mappings that were replaced
            _RESOLVED.clear()
        _RESOLVED[id(symbols)] = (symbols, len(ids), joined, known)
    return known


WholeFrame = tuple[dict[str, float], int, dict[str, int] | None]
"""What ``fast_mark_frame`` reads from an array: prices, the oldest event time, and each symbol's
event time when they are not all that one (``None`` when they are, as in an all-market frame)."""


def fast_mark_frame(elements: list[object], symbols: Mapping[str, str]) -> WholeFrame | None:
    """``(prices, oldest event_ms, stamps)`` of an array whose every element ``fast_mark`` accepts,
    no symbol twice; else ``None``, and the caller takes the elements one by one. ``stamps`` maps
    each symbol to its ``E`` when the elements differ, else is ``None``.

    An all-market frame (``!markPrice@arr``) brings some 500 elements every second, nearly always all
    perfect. The same rules as ``fast_mark``, checked a column at a time (types, ids, the prices'
    characters and ``float`` over each, ``min``/``max`` against the bounds), run in C instead of 500
    Python calls. Anything odd, repeats included (where the newest must win), is left to the
    per-element path, so the result is always the one it gives. ``tests/venues`` checks the two agree.

    The ids are checked first: an id the market cache lacks (a listing newer than it) is in every frame
    until the markets are reloaded, and should cost little before the fallback. Binance lists the same
    ids in the same order every second, so ids equal to the last whole frame's (one comparison of
    their joined text) reuse what they resolved to (see ``_RESOLVED``). Types cost no pass of their
    own where a step refuses the wrong one anyway: an element that is not a dict fails its lookups, an
    id or a price that is not a str fails a join; a stamp must be an ``int`` (not a ``bool`` or a
    ``float``), which is checked.

    A price is ``DECIMAL_RE`` exactly when it holds only the characters ``DECIMAL_CHARS`` allows and
    ``float`` parses it: within those characters ``float``'s grammar is the pattern's (no spaces,
    underscores, ``inf``/``nan`` or non-ASCII digits can be spelled). One byte translation over the
    joined texts checks the characters; it is about thirty times cheaper than the pattern over them.
    """
    if not elements:
        return None
    rows = cast("list[dict[str, object]]", elements)
    count = len(rows)
    try:
        # an element that is not a dict (a decoded frame holds no other mapping) fails its lookup
        ids = list(map(_ID, rows))
        unified = _resolved(ids, symbols)
        if unified is None:
            return None
        kinds, texts, stamps = list(map(_KIND, rows)), list(map(_PRICE, rows)), list(map(_TIME, rows))
        joined = _SEPARATOR.join(texts)  # and a price that is not a str fails the join
    except (KeyError, TypeError):
        return None
    if kinds.count("markPriceUpdate") != count or set(map(type, stamps)) != {int}:
        return None
    if max(map(len, texts)) > MAX_DECIMAL_TEXT or joined.count(_SEPARATOR) != count - 1:
        return None
    if not joined.isascii() or joined.encode("ascii").translate(None, _DECIMAL_CHARS_AND_SEPARATOR):
        return None
    try:
        prices = list(map(float, texts))  # no NaN: its letters are not allowed
    except ValueError:
        return None
    oldest, newest = min(stamps), max(stamps)
    if min(prices) < MIN_PRICE or max(prices) > MAX_PRICE or oldest <= 0 or newest > MAX_MS:
        return None
    own = None if oldest == newest else dict(zip(unified, stamps, strict=True))
    return dict(zip(unified, prices, strict=True)), oldest, own


def read_mark_update(row: Obj, symbols: Mapping[str, str]) -> Mark:
    """The full reader of one ``markPriceUpdate`` element, with an exact error for anything wrong.

    Public because it is the reference the fast paths (``fast_mark``, ``fast_mark_frame``) must agree
    with: whatever they accept, this accepts with the same values."""
    kind = row.get("e")
    if kind != "markPriceUpdate":
        raise row.error("e", "not a markPriceUpdate", kind)
    market_id = row.symbol_id("s")
    return Mark(market_id, lookup_symbol(symbols, market_id), row.price("p"), row.ms("E"), "s")


def collect_marks(
    payload: object,
    *,
    path: str,
    source: str,
    venue: str,
    symbols: Mapping[str, str],
    received_ms: int,
    read: Callable[[Obj, Mapping[str, str]], Mark],
    fast: Callable[[object, Mapping[str, str]], tuple[str, str, float, int] | None] | None = None,
    whole: Callable[[list[object], Mapping[str, str]], WholeFrame | None] | None = None,
) -> tuple[MarkPrices, list[str]]:
    """Shared by the stream and REST (premiumIndex) forms: one object or an array of objects, each
    read by ``read``. A bad element of an array is skipped and reported; a bad single object raises.

    ``whole`` may take an entire array at once (``fast_mark_frame``); when it declines, elements
    ``fast`` accepts go straight into the prices (no per-element object: an all-market frame has some
    500 of them every second) and the rest take the full reader for their exact error."""
    problems: list[str] = []
    unknown: list[str] = []
    prices: dict[str, float] = {}
    stamped: dict[str, int] = {}
    oldest: int | None = None

    def apply(element_path: str, mark: Mark) -> None:
        nonlocal oldest
        oldest = mark.event_ms if oldest is None else min(oldest, mark.event_ms)
        if mark.symbol is None:
            where = key_path(element_path, mark.id_key)
            unknown.append(str(FrameError(source, where, "unknown symbol", excerpt(mark.market_id))))
        elif mark.event_ms >= stamped.get(mark.symbol, 0):
            prices[mark.symbol] = mark.price
            stamped[mark.symbol] = mark.event_ms

    if isinstance(payload, Mapping):
        apply(path, read(Obj(payload, source=source, path=path), symbols))
    elif isinstance(payload, list):
        elements = parse_array(payload, source=source, path=path, max_len=MAX_MARKS)
        if not elements:
            raise FrameError(source, path, "empty array")
        done = whole(elements, symbols) if whole is not None else None
        if done is not None:
            prices, oldest, own = done
            return MarkPrices(venue, prices, oldest, received_ms, own), []
        for i, element in enumerate(elements):
            quick = fast(element, symbols) if fast is not None else None
            if quick is not None:
                _, symbol, price, event_ms = quick
                if oldest is None or event_ms < oldest:
                    oldest = event_ms
                if event_ms >= stamped.get(symbol, 0):  # the newest of a symbol's repeats wins
                    prices[symbol] = price
                    stamped[symbol] = event_ms
                continue
            element_path = index_path(path, i)
            try:
                apply(element_path, read(Obj(element, source=source, path=element_path), symbols))
            except FrameError as exc:
                problems.append(str(exc))
        if oldest is None:
            raise FrameError(source, path, f"no valid element among {len(elements)}; first: {problems[0]}")
    else:
        raise FrameError(source, path, "not an object or array", excerpt(payload))
    assert oldest is not None  # a single object either read or raised
    problems.extend(unknown)
    # each price's own time, unless they all have the oldest one (the skipped repeats do not count)
    uniform = all(t == oldest for t in stamped.values())
    result = MarkPrices(venue, prices, oldest, received_ms, None if uniform else stamped)
    return result, _capped(problems, source)


def _capped(problems: list[str], source: str) -> list[str]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - MAX_PROBLEMS
    return [*problems[:MAX_PROBLEMS], f"{source}: {rest} more problems not listed"]


# --- user data stream --------------------------------------------------------------------------------


def parse_user_event(
    frame: object,
    *,
    venue: str,
    account: str,
    symbols: Mapping[str, str],
    received_ms: int,
    asset: str | None = "USDT",
) -> UserEvent | None:
    """One user-data-stream frame, raw or inside a combined-stream wrapper.

    Returns ``None`` for event types the monitor does not use (TRADE_LITE, COIN_SWAP_ORDER,
    ACCOUNT_CONFIG_UPDATE, anything new): Binance adds events without notice, and an unknown type is not
    a broken frame.

    ``asset`` picks the balance whose cross wallet (``cw``) an ACCOUNT_UPDATE reports: the settlement
    asset of the account's cross pool (USDT, or the coin for COIN-M). The other balances' ``cw`` come
    as ``other_balances``: margin too in Multi-Assets mode, ignored by the engine otherwise.
    """
    payload, path = unwrap_combined(frame, source="userStream")
    head = Obj(payload, source="userStream", path=path)
    kind = head.get("e")
    if not isinstance(kind, str):
        raise head.error("e", "not an event type", kind)
    parser = _USER_PARSERS.get(kind)
    if parser is None:
        return None
    event = Obj(payload, source=kind, path=path)
    return parser(event, _Context(venue, account, symbols, received_ms, asset))


@dataclass(frozen=True, slots=True)
class _Context:
    venue: str
    account: str
    symbols: Mapping[str, str]
    received_ms: int
    asset: str | None


def _account_update(event: Obj, ctx: _Context) -> AccountUpdate:
    """ACCOUNT_UPDATE: only the balances and legs that changed. It carries no mark, liquidation price,
    leverage or maintenance margin, so those stay ``None`` in the positions."""
    body = event.obj("a")
    reason = body.word("m")
    wallet: float | None = None
    others: list[tuple[str, float]] = []
    assets: set[str] = set()
    for i, raw in enumerate(body.array("B", max_len=MAX_EVENT_ITEMS)):
        balance = Obj(raw, source=event.source, path=index_path(body.at("B"), i))
        name = balance.word("a")
        if name in assets:
            raise balance.error("a", "asset listed twice", name)
        assets.add(name)
        cross_wallet = balance.decimal("cw")
        if name == ctx.asset:
            wallet = cross_wallet
        else:
            others.append((name, cross_wallet))
    positions: list[PositionState] = []
    for i, raw in enumerate(body.array("P", max_len=MAX_EVENT_ITEMS)):
        position = _account_position(Obj(raw, source=event.source, path=index_path(body.at("P"), i)), ctx)
        if position is not None:
            positions.append(position)
    refuse_repeats([(p.symbol, p.position_side) for p in positions], source=event.source, path=body.at("P"))
    return AccountUpdate(
        venue=ctx.venue,
        account=ctx.account,
        reason=reason,
        cross_wallet_balance=wallet,
        positions=tuple(positions),
        event_ms=event.ms("E"),
        received_ms=ctx.received_ms,
        other_balances=tuple(others),
    )


@dataclass(frozen=True, slots=True)
class _Leg:
    symbol: str
    position_side: PositionSide
    margin_mode: MarginMode
    amount: float
    isolated_wallet: float | None


def _leg(row: Obj, ctx: _Context) -> _Leg | None:
    """The fields ACCOUNT_UPDATE and MARGIN_CALL position rows share (``pa``, ``ps``, ``s``, ``mt``,
    ``iw``), checked the same way. ``None`` for a flat row of an unknown symbol."""
    amount = row.decimal("pa")
    side = row.position_side("ps")
    check_side_sign(side, amount, source=row.source, path=row.at("pa"), raw=row.get("pa"))
    symbol = position_symbol(row, "s", amount, ctx.symbols)
    if symbol is None:
        return None
    mode = row.margin_mode("mt")
    wallet = row.non_negative("iw")
    return _Leg(symbol, side, mode, amount, wallet if mode is MarginMode.ISOLATED else None)


def _account_position(row: Obj, ctx: _Context) -> PositionState | None:
    leg = _leg(row, ctx)
    if leg is None:
        return None
    return PositionState(
        symbol=leg.symbol,
        position_side=leg.position_side,
        margin_mode=leg.margin_mode,
        amount=leg.amount,
        entry_price=entry_price(row, "ep", leg.amount),
        isolated_wallet=leg.isolated_wallet,
        unrealized_pnl=row.decimal("up"),
    )


_SPECIAL_CLIENT_IDS: tuple[tuple[str, OrderKind], ...] = (
    ("autoclose-", OrderKind.LIQUIDATION),
    ("adl_autoclose", OrderKind.ADL),
    ("settlement_autoclose-", OrderKind.SETTLEMENT),
)


def order_kind(client_order_id: str, order_type: str, execution_type: str) -> OrderKind:
    """Binance marks exchange-generated orders by client id: ``autoclose-…`` liquidation,
    ``adl_autoclose`` auto-deleveraging, ``settlement_autoclose-…`` delisting/delivery settlement.

    A ``LIQUIDATION`` order type or a ``CALCULATED`` execution (the docs' "liquidation execution")
    without one of those ids is still counted as a liquidation: missing one is worse than a false
    alarm."""
    for prefix, kind in _SPECIAL_CLIENT_IDS:
        if client_order_id.startswith(prefix):
            return kind
    if order_type == "LIQUIDATION" or execution_type == "CALCULATED":
        return OrderKind.LIQUIDATION
    return OrderKind.NORMAL


_ORDER_SIDES = {"BUY": "buy", "SELL": "sell"}


def _order_update(event: Obj, ctx: _Context) -> OrderUpdate:
    """ORDER_TRADE_UPDATE. ``n`` (commission) is absent when there is none and may be negative (a
    maker rebate)."""
    order = event.obj("o")
    market_id = order.symbol_id("s")
    symbol = lookup_symbol(ctx.symbols, market_id)
    if symbol is None:
        raise order.error("s", "unknown symbol", market_id)
    client_id = parse_client_id(order.get("c"), source=order.source, path=order.at("c"))
    side = _ORDER_SIDES.get(order.word("S"))
    if side is None:
        raise order.error("S", "not an order side", order.get("S"))
    order_type = order.word("o")
    execution_type = order.word("x")
    return OrderUpdate(
        venue=ctx.venue,
        account=ctx.account,
        symbol=symbol,
        client_order_id=client_id,
        kind=order_kind(client_id, order_type, execution_type),
        side=side,
        position_side=order.position_side("ps"),
        order_type=order_type,
        execution_type=execution_type,
        status=order.word("X"),
        reduce_only=order.boolean("R"),
        last_filled_qty=order.non_negative("l"),
        filled_qty=order.non_negative("z"),
        last_price=_fill_price(order, "L"),
        average_price=_fill_price(order, "ap"),
        realized_pnl=order.decimal("rp"),
        commission=order.decimal("n") if order.has("n") else 0.0,
        event_ms=event.ms("E"),
        received_ms=ctx.received_ms,
        order_id=parse_order_id(order.get("i"), source=order.source, path=order.at("i"))
        if order.has("i")
        else None,
    )


def _fill_price(order: Obj, key: str) -> float:
    """A fill price: ``0`` until something fills, otherwise a usable price."""
    return order.optional_price(key) or 0.0


def _margin_call(event: Obj, ctx: _Context) -> MarginCall:
    """MARGIN_CALL. ``cw`` is the cross wallet (absent is allowed: an isolated-only call); ``mt`` is
    spelled ``CROSSED``/``ISOLATED`` here."""
    wallet = event.decimal("cw") if event.has("cw") else None
    positions: list[MarginCallPosition] = []
    for i, raw in enumerate(event.array("p", max_len=MAX_EVENT_ITEMS)):
        row = Obj(raw, source=event.source, path=index_path(event.at("p"), i))
        position = _margin_call_position(row, ctx)
        if position is not None:
            positions.append(position)
    refuse_repeats([(p.symbol, p.position_side) for p in positions], source=event.source, path=event.at("p"))
    return MarginCall(
        venue=ctx.venue,
        account=ctx.account,
        cross_wallet_balance=wallet,
        positions=tuple(positions),
        event_ms=event.ms("E"),
        received_ms=ctx.received_ms,
    )


def _margin_call_position(row: Obj, ctx: _Context) -> MarginCallPosition | None:
    leg = _leg(row, ctx)
    if leg is None:
        return None
    return MarginCallPosition(
        symbol=leg.symbol,
        position_side=leg.position_side,
        margin_mode=leg.margin_mode,
        amount=leg.amount,
        mark_price=row.price("mp"),
        unrealized_pnl=row.decimal("up"),
        maint_margin=row.non_negative("mm"),
        isolated_wallet=leg.isolated_wallet,
    )


def _listen_key_expired(event: Obj, ctx: _Context) -> ListenKeyExpired:
    """listenKeyExpired: ``E`` is a number in the current docs and a string in older ones and in
    captures. The key itself is never copied out."""
    return ListenKeyExpired(
        venue=ctx.venue, account=ctx.account, event_ms=event.ms("E"), received_ms=ctx.received_ms
    )


_USER_PARSERS: dict[str, Callable[[Obj, _Context], UserEvent]] = {
    "ACCOUNT_UPDATE": _account_update,
    "ORDER_TRADE_UPDATE": _order_update,
    "MARGIN_CALL": _margin_call,
    "listenKeyExpired": _listen_key_expired,
}
