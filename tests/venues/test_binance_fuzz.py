"""Hostile input: mutated real frames must give a sane event or a ``FrameError``, nothing else.

Each fixture is mutated at random places (keys dropped, values replaced with wrong types, NaN,
infinities, negative or zero numbers, huge integers, random unicode, nested garbage, duplicated
elements), or cut short and re-closed into JSON that still parses. Whatever a parser returns is then
walked: every float finite and bounded, prices positive, times in range, tier tables valid.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections import OrderedDict
from collections.abc import Callable
from enum import Enum
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.events import MarkPrices, TierTable
from monitor.margin.tiers import validate_tiers
from monitor.model import Tier
from monitor.venues.binance.parse import (
    FrameError,
    parse_account_snapshot,
    parse_account_v3,
    parse_leverage_brackets,
    parse_mark_prices,
    parse_position_risk,
    parse_premium_index,
    parse_symbol_config,
    parse_user_event,
)
from monitor.venues.binance.streams import collect_marks, fast_mark, fast_mark_frame, read_mark_update
from monitor.venues.wire import MAX_MAGNITUDE, MAX_MS, MAX_PRICE, MIN_PRICE

from ._binance import SYMBOLS, load

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

UNIFIED = set(SYMBOLS.values())

# Fields whose value, when present, is a price and must be usable.
PRICE_FIELDS = {"mark_price", "liquidation_price"}
# Fields that may be 0 (nothing filled / flat) but never negative or tiny garbage.
ZERO_OR_PRICE_FIELDS = {"entry_price", "last_price", "average_price"}
NON_NEGATIVE_FIELDS = {
    "isolated_wallet",
    "maint_margin",
    "last_filled_qty",
    "filled_qty",
    "total_maint_margin",
}
POSITIVE_FIELDS = {"leverage"}
TIME_FIELDS = {"event_ms"}


# --- parsers under test, each taking one decoded JSON value -----------------------------------------


def _marks(frame: object) -> object:
    return parse_mark_prices(frame, venue="binanceusdm", symbols=SYMBOLS, received_ms=1)


def _premium(frame: object) -> object:
    return parse_premium_index(frame, venue="binanceusdm", symbols=SYMBOLS, received_ms=1)


def _user(frame: object) -> object:
    return parse_user_event(frame, venue="binanceusdm", account="main", symbols=SYMBOLS, received_ms=1)


def _risk(version: Any) -> Callable[[object], object]:
    return lambda rows: parse_position_risk(rows, symbols=SYMBOLS, version=version)


def _brackets(coin_margined: bool) -> Callable[[object], object]:
    return lambda body: parse_leverage_brackets(
        body, venue="v", account="a", symbols=SYMBOLS, received_ms=1, coin_margined=coin_margined
    )


def _account(body: object) -> object:
    return parse_account_v3(body, multi_assets=None)


def _snapshot(pair: object) -> object:
    # Both bodies live in one JSON value so one mutation run can damage either.
    account = pair.get("account") if isinstance(pair, dict) else pair
    rows = pair.get("rows") if isinstance(pair, dict) else pair
    return parse_account_snapshot(
        account, rows, venue="binanceusdm", account="main", symbols=SYMBOLS, version="v3", received_ms=1
    )


def _symbol_config(body: object) -> object:
    modes, leverages = parse_symbol_config(body, symbols=SYMBOLS)
    assert set(modes) == set(leverages) <= UNIFIED
    assert all(math.isfinite(v) and 0 < v <= MAX_MAGNITUDE for v in leverages.values())
    return None


def _symbol_config_body() -> list[Any]:
    # Shape per the symbolConfig docs; the fixture set has no capture of it.
    return [
        {"symbol": "BTCUSDT", "marginType": "CROSSED", "isAutoAddMargin": "false", "leverage": 21},
        {"symbol": "ETHUSDT", "marginType": "ISOLATED", "isAutoAddMargin": False, "leverage": 5},
    ]


def _multi_mark_array() -> list[Any]:
    template = load("ws.markPriceUpdate.documented.json")
    rows = []
    for market_id in ("BTCUSDT", "ETHUSDT", "NEWUSDT", "ADAUSDT"):
        row = copy.deepcopy(template)
        row["s"] = market_id
        rows.append(row)
    return rows


TARGETS: dict[str, tuple[Callable[[], Any], Callable[[object], object]]] = {
    "markPriceUpdate": (lambda: load("ws.markPriceUpdate.documented.json"), _marks),
    "markPrice-arr": (lambda: load("ws.markPrice-arr.documented.json"), _marks),
    "markPrice-multi": (_multi_mark_array, _marks),
    "markPrice-combined": (lambda: {"stream": "!markPrice@arr", "data": _multi_mark_array()}, _marks),
    "premiumIndex-single": (lambda: load("rest.premiumIndex.single.documented.json"), _premium),
    "premiumIndex-array": (lambda: load("rest.premiumIndex.array.documented.json"), _premium),
    "ACCOUNT_UPDATE": (lambda: load("ws.ACCOUNT_UPDATE.documented.json"), _user),
    "ACCOUNT_UPDATE-order": (lambda: load("ws.ACCOUNT_UPDATE.order.observed.json"), _user),
    "ACCOUNT_UPDATE-deposit": (lambda: load("ws.ACCOUNT_UPDATE.deposit.observed.json"), _user),
    "ORDER_TRADE_UPDATE": (lambda: load("ws.ORDER_TRADE_UPDATE.documented.json"), _user),
    "ORDER_TRADE_UPDATE-fill": (lambda: load("ws.ORDER_TRADE_UPDATE.fill.observed.json"), _user),
    "MARGIN_CALL": (lambda: load("ws.MARGIN_CALL.documented.json"), _user),
    "listenKeyExpired": (lambda: load("ws.listenKeyExpired.observed.json"), _user),
    "user-combined": (lambda: {"stream": "k", "data": load("ws.MARGIN_CALL.documented.json")}, _user),
    "positionRisk-v2": (lambda: load("rest.positionRisk.v2.hedge.documented.json"), _risk("v2")),
    "positionRisk-v3": (lambda: load("rest.positionRisk.v3.hedge.documented.json"), _risk("v3")),
    "positionRisk-coinm": (lambda: load("coinm.rest.positionRisk.documented.json"), _risk("coinm")),
    "account-v3": (lambda: load("rest.account.v3.observed.json"), _account),
    "account-v2": (lambda: load("rest.account.v2.single-asset.documented.json"), _account),
    "snapshot": (
        lambda: {
            "account": load("rest.account.v3.observed.json"),
            "rows": load("rest.positionRisk.v3.hedge.documented.json"),
        },
        _snapshot,
    ),
    "symbolConfig": (_symbol_config_body, _symbol_config),
    "leverageBracket": (lambda: load("rest.leverageBracket.array.documented.json"), _brackets(False)),
    "leverageBracket-coinm": (
        lambda: load("coinm.rest.leverageBracket-v2.observed.json"),
        _brackets(True),
    ),
}


# --- what a returned value must look like ------------------------------------------------------------


def assert_sane(value: object, field: str = "") -> None:
    """Walk a parser's result; every number must be something the margin maths can use."""
    if isinstance(value, TierTable):
        assert value.symbol in UNIFIED
        validate_tiers(value.tiers)
        assert list(value.tiers) == sorted(value.tiers, key=lambda t: t.floor)
    if isinstance(value, Tier):
        assert all(math.isfinite(x) for x in (value.floor, value.cap, value.mmr, value.cum))
        assert value.cum >= 0
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "symbol"):
            assert value.symbol in UNIFIED
        for f in dataclasses.fields(value):
            assert_sane(getattr(value, f.name), f.name)
        return
    if isinstance(value, tuple | list):
        for item in value:
            assert_sane(item, field)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            assert key in UNIFIED
            if field == "stamps":  # each symbol's exchange time, when a frame's times differ
                assert type(item) is int and 0 < item <= MAX_MS, f"{field}: {item!r}"
                continue
            assert isinstance(item, float)
            assert MIN_PRICE <= item <= MAX_PRICE
        return
    if isinstance(value, bool | Enum | str) or value is None:
        if isinstance(value, str):
            assert len(value) <= 200 and value.isprintable()
        return
    if isinstance(value, int):
        if field in TIME_FIELDS:
            assert 0 < value <= MAX_MS
        return
    assert isinstance(value, float), f"{field}: unexpected {type(value).__name__}"
    assert math.isfinite(value) and abs(value) <= MAX_MAGNITUDE, f"{field}: {value!r}"
    if field in PRICE_FIELDS:
        assert MIN_PRICE <= value <= MAX_PRICE, f"{field}: {value!r}"
    if field in ZERO_OR_PRICE_FIELDS:
        assert value == 0 or MIN_PRICE <= value <= MAX_PRICE, f"{field}: {value!r}"
    if field in NON_NEGATIVE_FIELDS:
        assert value >= 0, f"{field}: {value!r}"
    if field in POSITIVE_FIELDS:
        assert value > 0, f"{field}: {value!r}"


def check(parser: Callable[[object], object], frame: object) -> None:
    """The property: a sane result or a ``FrameError``. Any other exception fails the test."""
    try:
        result = parser(frame)
    except FrameError as exc:
        assert str(exc)
        assert len(exc.excerpt) <= 80
        return
    assert_sane(result)


# --- mutation strategies -----------------------------------------------------------------------------

NASTY_TEXT = [
    "",
    " ",
    "NaN",
    "nan",
    "-NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e400",
    "-1e400",
    "1e-400",
    "1e-300",
    "-1",
    "-0",
    "0",
    "0.0",
    "0.00000000",
    "1_000",
    " 1",
    "0x1f",
    "9223372036854775807",
    "18446744073709551616",
    "١٢٣",
    "\x00",
    "🚀",
    "BTCUSDT",
    "btcusdt",
    "NEWUSDT",
    "CROSSED",
    "ISOLATED",
    "LONG",
    "SHORT",
    "BOTH",
    "autoclose-1",
    "adl_autoclose",
    "markPriceUpdate",
    "ACCOUNT_UPDATE",
    "x" * 500,
]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, -1, 1, 2**63 - 1, 2**64, 10**25, -(10**25)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NASTY_TEXT),
    st.text(max_size=24),
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)

Path = tuple[str | int, ...]


def all_paths(value: object, prefix: Path = ()) -> list[Path]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths.extend(all_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value[:50]):
            paths.extend(all_paths(item, (*prefix, index)))
    return paths


def get_at(value: Any, path: Path) -> Any:
    for step in path:
        value = value[step]
    return value


def mutate(data: st.DataObject, frame: Any) -> Any:
    """Apply one random mutation at one random place; returns the (possibly new) root. Leaves are
    favoured: a damaged leaf inside an otherwise valid frame is the case that can slip through."""
    paths = all_paths(frame)
    leaf_paths = [p for p in paths if not isinstance(get_at(frame, p), dict | list)]
    pool = leaf_paths if leaf_paths and data.draw(st.integers(0, 3)) else paths
    path = data.draw(st.sampled_from(pool))
    op = data.draw(st.sampled_from(["replace", "nasty", "drop", "duplicate", "numeric", "wrap"]))
    current = get_at(frame, path)
    if op == "replace":
        new: Any = data.draw(json_values)
    elif op == "nasty":
        new = data.draw(st.sampled_from(NASTY_TEXT))
    elif op == "numeric":
        new = data.draw(
            st.sampled_from([0, -1, float("nan"), float("inf"), -float("inf"), 1e308, -1e-320, 2**63 - 1])
        )
    elif op == "wrap":
        new = data.draw(st.sampled_from([[current], {"data": current}, {"stream": "s", "data": current}]))
    elif op == "duplicate" and isinstance(current, list) and current:
        new = current + current
    elif op == "drop" and path:
        parent = get_at(frame, path[:-1])
        del parent[path[-1]]
        return frame
    else:
        new = data.draw(json_values)
    if not path:
        return new
    get_at(frame, path[:-1])[path[-1]] = new
    return frame


def close_json(prefix: str) -> str:
    """Turn a cut-off JSON text into one that may parse: close an open string, drop a dangling comma
    or key, and close every open bracket."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in prefix:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append("]" if ch == "[" else "}")
        elif ch in "]}" and stack:
            stack.pop()
    text = prefix
    if in_string:
        text = text[:-1] if escaped else text
        text += '"'
    text = text.rstrip().rstrip(",")
    if text.endswith(":"):
        text += "null"
    return text + "".join(reversed(stack))


NAMES = sorted(TARGETS)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.data())
def test_mutated_frames(name: str, data: st.DataObject) -> None:
    make, parser = TARGETS[name]
    frame = make()
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        frame = mutate(data, frame)
    check(parser, frame)


def test_a_frame_whose_elements_differ_in_time_is_sane() -> None:
    """A frame whose times differ carries each symbol's time (``MarkPrices.stamps``): times, not
    prices. The sanity walk once read every mapping as prices and failed on this one."""
    rows = _multi_mark_array()
    rows[0]["E"] = 1
    check(_marks, {"stream": "!markPrice@arr", "data": rows})


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.data())
def test_truncated_json_text(name: str, data: st.DataObject) -> None:
    make, parser = TARGETS[name]
    text = json.dumps(make())
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    try:
        frame = json.loads(close_json(text[:cut]))
    except ValueError:
        return  # not JSON any more: the socket layer's problem, not the parser's
    check(parser, frame)


@FUZZ
@given(frame=json_values)
def test_arbitrary_json_is_never_a_crash(frame: object) -> None:
    for _, parser in TARGETS.values():
        check(parser, frame)


def test_close_json_repairs_most_cuts() -> None:
    """The truncation test only means something if cut frames still parse: check that they do."""
    text = json.dumps(load("ws.ACCOUNT_UPDATE.documented.json"))
    parsed = 0
    for cut in range(len(text) + 1):
        try:
            json.loads(close_json(text[:cut]))
            parsed += 1
        except ValueError:
            pass
    assert parsed > len(text) // 2


def test_deeply_nested_garbage_is_summarised_not_walked() -> None:
    nested: Any = "x"
    for _ in range(100_000):
        nested = [nested]
    frame = load("ws.ACCOUNT_UPDATE.documented.json")
    frame["a"]["P"][0]["iw"] = nested
    with pytest.raises(FrameError, match=r"a\.P\[0\]\.iw: not a decimal: <array of 1>$"):
        _user(frame)


@pytest.mark.parametrize("name", ["ACCOUNT_UPDATE", "positionRisk-v3", "leverageBracket", "markPrice-arr"])
def test_huge_arrays_are_refused(name: str) -> None:
    make, parser = TARGETS[name]
    frame = make()
    huge = [None] * 1_000_000
    if name == "ACCOUNT_UPDATE":
        frame["a"]["P"] = huge
    else:
        frame = huge
    with pytest.raises(FrameError, match="array longer than"):
        parser(frame)


@settings(max_examples=500, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "e": st.sampled_from(["markPriceUpdate", "markPriceUpdatE", 1]),
            "s": st.sampled_from(["BTCUSDT", "btcusdt", "NOPE", 7, None]),
            "p": st.one_of(
                st.sampled_from(["60000.1", "1e-13", "NaN", "1_000", " 5", "", "-1", "1e16", "0"]),
                st.floats(allow_nan=True),
                st.decimals(allow_nan=False, allow_infinity=False).map(str),
            ),
            "E": st.one_of(st.integers(-5, 10**15), st.sampled_from(["1700000000000", 1.5e12, True])),
        }
    )
)
def test_fast_mark_path_accepts_only_what_the_full_reader_accepts(element: dict[str, object]) -> None:
    """The all-market fast path is an optimisation, never a loosening: whatever it accepts, the full
    reader accepts with the same values."""
    from monitor.venues.binance.fields import Obj
    from monitor.venues.binance.streams import fast_mark, read_mark_update
    from monitor.venues.wire import FrameError as Err

    symbols = {"BTCUSDT": "BTC/USDT:USDT"}
    quick = fast_mark(element, symbols)
    if quick is None:
        return
    try:
        full = read_mark_update(Obj(element, source="markPrice", path="[0]"), symbols)
    except Err as exc:
        raise AssertionError(f"fast path accepted what the reader refuses: {exc}") from exc
    assert (full.market_id, full.symbol, full.price, full.event_ms) == quick


# --- the whole-frame fast path -----------------------------------------------------------------------

ALIASES = {f"S{i}USDT": f"OLD{i}USDT" for i in range(3)}
FRAME_SYMBOLS = {f"S{i}USDT": f"S{i}/USDT:USDT" for i in range(12)} | {
    old: f"{new[:-4]}/USDT:USDT" for new, old in ALIASES.items()
}
"""Twelve ids, three of them with an alias (two ids, one unified symbol: a repeat all the same)."""
TWIN_IDS = ALIASES | {old: new for new, old in ALIASES.items()}

T0 = 1_700_000_000_000

price_texts = st.one_of(
    st.decimals(min_value="0.00000001", max_value="1e9", places=8).map(str),
    st.floats(MIN_PRICE, MAX_PRICE).map(repr),
)
mark_elements = st.fixed_dictionaries(
    {
        "e": st.just("markPriceUpdate"),
        "E": st.integers(1, MAX_MS) | st.sampled_from([T0, T0 + 1]),  # ties between repeats too
        "s": st.sampled_from(sorted(set(FRAME_SYMBOLS) - set(ALIASES.values()))),  # aliases come as damage
        "p": price_texts,
        "P": st.just("1.00000000"),
        "r": st.just("0.00010000"),
    }
)

# One damage each: a field set to a value the per-element path accepts or refuses, a key dropped, the
# element replaced, or a repeat of its symbol (same id or an alias) inserted with an older, equal or
# newer ``E`` and another price.
_ODD_PRICES: list[object] = [
    *["1e5", "+.5", "1.", ".5", "7E-3", "1e-12", "1e15", "1." + "0" * 62, "0.00000001"],
    *["nan", "NaN", "inf", " 1", "1 ", "1|2", "1,2", ",1", "1,", "1\n", "\n1", "1e400", "1e-400", "1e-13"],
    *["1e16", "-1", "0", "-0", "1_000", "", ".", "1e", "0x1f", "\u0661\u0662", "1." + "0" * 63, "9" * 80],
    *[1.5, 5, None, True, ["1"]],
]
_ODD_STAMPS: list[object] = [True, False, 0, -1, 1, MAX_MS, MAX_MS + 1, 10**30, str(T0), 1.7e12, None]
_ODD_IDS: list[object] = ["NEWUSDT", "s3usdt", "OLD0USDT", "S3USDT ", "", 7, None, ("S3USDT",)]
DAMAGES: list[tuple[str, object]] = [
    *[("p", v) for v in _ODD_PRICES],
    *[("E", v) for v in _ODD_STAMPS],
    *[("s", v) for v in _ODD_IDS],
    *[("e", v) for v in ["markPriceUpdatE", "", None, 1]],
    *[("drop", k) for k in ["e", "s", "p", "E"]],
    *[("element", v) for v in [None, [], "S3USDT", 1, {}]],
    ("mapping", None),
    ("extra", None),
    *[("repeat", (delta, alias)) for delta in (-1, 0, 1) for alias in (False, True)],
]


def damage(frame: list[Any], i: int, what: str, value: object, *, at: int = 0, price: str = "2.5") -> None:
    """Apply one of ``DAMAGES`` to ``frame[i]``; a repeat goes in at index ``at``, priced ``price``."""
    element = frame[i]
    if type(element) is not dict:
        return  # damaged already
    if what in ("p", "E", "s", "e"):
        element[what] = value
    elif what == "drop":
        element.pop(value, None)
    elif what == "element":
        frame[i] = value
    elif what == "mapping":
        frame[i] = OrderedDict(element)  # a Mapping, not exactly a dict
    elif what == "extra":
        element["X"] = "extra"
    else:
        delta, alias = cast(tuple[int, bool], value)
        twin = dict(element, p=price)
        if type(twin.get("E")) is int:
            twin["E"] += delta
        if alias and twin.get("s") in TWIN_IDS:
            twin["s"] = TWIN_IDS[twin["s"]]
        frame.insert(at, twin)


def _summary(result: MarkPrices, problems: list[str]) -> tuple[object, ...]:
    """Everything a mark-price parse gives, the order of the prices included."""
    stamps = None if result.stamps is None else dict(result.stamps)
    return (list(result.prices.items()), result.event_ms, stamps, result.venue, result.received_ms, problems)


def _collected(frame: object, *, whole: bool, symbols: dict[str, str] = FRAME_SYMBOLS) -> tuple[object, ...]:
    """``parse_mark_prices`` of a bare frame, with or without the whole-frame path."""
    try:
        return _summary(
            *collect_marks(
                frame,
                path="",
                source="markPrice",
                venue="binanceusdm",
                symbols=symbols,
                received_ms=1,
                read=read_mark_update,
                fast=fast_mark,
                whole=fast_mark_frame if whole else None,
            )
        )
    except FrameError as exc:
        return ("raised", str(exc))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), frame=st.lists(mark_elements, min_size=1, max_size=12, unique_by=lambda e: e["s"]))
def test_whole_frame_path_gives_what_the_element_path_gives(data: st.DataObject, frame: list[Any]) -> None:
    """``fast_mark_frame`` is an optimisation, never a change: good arrays, some with a damaged element
    or a repeated symbol, parse exactly as they do element by element (``collect_marks`` without
    ``whole``): the same prices in the same order, ``event_ms``, problems, or error."""
    for _ in range(data.draw(st.sampled_from([0, 1, 1, 1, 2]))):
        last = len(frame) - 1
        i = data.draw(st.sampled_from([0, last]) | st.integers(0, last))  # the ends: where anchors slip
        what, value = data.draw(st.sampled_from(DAMAGES))
        damage(frame, i, what, value, at=data.draw(st.integers(0, last + 1)), price=data.draw(price_texts))
    expected = _collected(copy.deepcopy(frame), whole=False)
    assert _collected(frame, whole=True) == expected
    if expected[0] != "raised":
        assert _summary(*_marks_of(frame)) == expected


def _marks_of(frame: object) -> tuple[MarkPrices, list[str]]:
    return parse_mark_prices(frame, venue="binanceusdm", symbols=FRAME_SYMBOLS, received_ms=1)


@pytest.mark.parametrize(("what", "value"), DAMAGES)
def test_each_damage_at_each_end_gives_what_the_element_path_gives(what: str, value: object) -> None:
    """Every damage, to the first, a middle and the last element, with a repeat put first or last."""
    for i in range(3):
        for at in (0, 3):
            frame = [
                {"e": "markPriceUpdate", "E": T0 + 1, "s": "S0USDT", "p": "60000.10000000"},
                {"e": "markPriceUpdate", "E": T0, "s": "S1USDT", "p": "3000.5"},
                {"e": "markPriceUpdate", "E": T0 + 2, "s": "S5USDT", "p": "0.00001234"},
            ]
            damage(frame, i, what, value, at=at)
            expected = _collected(copy.deepcopy(frame), whole=False)
            assert _collected(frame, whole=True) == expected, (i, at)


def test_an_all_market_frame_takes_the_whole_frame_path() -> None:
    """A frame of the simulator's ``markPriceUpdate`` shape (decimal strings, integer times) for 500
    symbols is taken whole, so the speed-up cannot quietly disappear, and agrees with the element path."""
    from monitor.sim.frames import mark_price_update

    symbols = {f"C{i:03d}USDT": f"C{i:03d}/USDT:USDT" for i in range(500)}
    frame = [
        mark_price_update(market_id, 0.0001 + i * 137.31, T0 + i % 3) for i, market_id in enumerate(symbols)
    ]
    taken = fast_mark_frame(frame, symbols)
    assert taken is not None
    prices, oldest, stamps = taken
    assert list(prices) == list(symbols.values()) and oldest == T0
    assert stamps == {symbol: T0 + i % 3 for i, symbol in enumerate(symbols.values())}
    summary = (list(prices.items()), oldest, stamps, "binanceusdm", 1, [])
    assert _collected(frame, whole=False, symbols=symbols) == summary
    assert _collected(frame, whole=True, symbols=symbols) == summary
    assert fast_mark_frame([*frame, frame[0]], symbols) is None  # a repeat: newest-wins is element work


def test_the_ids_of_the_last_frame_are_resolved_again_under_another_mapping() -> None:
    """The whole-frame path remembers what the last frame's ids resolved to, per symbols mapping: the
    same ids under a reloaded mapping (another object) resolve afresh, and an id dropped from it sends
    the frame to the element path."""
    from monitor.sim.frames import mark_price_update

    old = {f"C{i:03d}USDT": f"C{i:03d}/USDT:USDT" for i in range(5)}
    new = {market_id: symbol.replace("USDT:USDT", "USDC:USDC") for market_id, symbol in old.items()}
    frame = [mark_price_update(market_id, 1.0 + i, T0) for i, market_id in enumerate(old)]
    for symbols in (old, old, new, new, old):
        taken = fast_mark_frame(copy.deepcopy(frame), symbols)
        assert taken is not None and list(taken[0]) == list(symbols.values())
    delisted = dict(list(new.items())[1:])
    assert fast_mark_frame(copy.deepcopy(frame), delisted) is None


def test_ids_that_join_into_the_last_frames_text_are_still_told_apart() -> None:
    """The last frame's ids are remembered as one joined text. Ids holding the separator could split
    that text another way, so such a list is never remembered: each frame resolves its own ids."""
    from monitor.sim.frames import mark_price_update

    symbols = {"A,B": "AB/USDT:USDT", "C": "C/USDT:USDT", "A": "A/USDT:USDT", "B,C": "BC/USDT:USDT"}
    for ids in (["A,B", "C"], ["A", "B,C"], ["A,B", "C"], ["C", "A"], ["C", "A"], ["A", "B,C"]):
        frame = [mark_price_update(market_id, 1.0 + i, T0) for i, market_id in enumerate(ids)]
        taken = fast_mark_frame(frame, symbols)
        assert taken is not None and list(taken[0]) == [symbols[i] for i in ids], ids
    assert fast_mark_frame([mark_price_update(7, 1.0, T0)], symbols) is None  # type: ignore[arg-type]
