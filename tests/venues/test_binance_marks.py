"""Mark prices: the stream (single, array, combined wrapper) and REST premiumIndex."""

from __future__ import annotations

import copy

import pytest

from monitor.events import MarkPrices
from monitor.venues.binance.parse import (
    MAX_MARKS,
    FrameError,
    is_control_reply,
    parse_mark_prices,
    parse_premium_index,
)
from monitor.venues.binance.streams import MAX_PROBLEMS

from ._binance import SYMBOLS, load


def marks(frame: object) -> tuple[MarkPrices, list[str]]:
    return parse_mark_prices(frame, venue="binanceusdm", symbols=SYMBOLS, received_ms=42)


def test_single_update() -> None:
    raw = load("ws.markPriceUpdate.documented.json")
    result, problems = marks(raw)
    assert result == MarkPrices(
        venue="binanceusdm",
        prices={SYMBOLS[raw["s"]]: float(raw["p"])},
        event_ms=raw["E"],
        received_ms=42,
    )
    assert problems == []


def test_all_market_array() -> None:
    raw = load("ws.markPrice-arr.documented.json")
    result, problems = marks(raw)
    assert result.prices == {SYMBOLS[row["s"]]: float(row["p"]) for row in raw}
    assert result.event_ms == min(row["E"] for row in raw)
    assert problems == []


def test_combined_stream_wrapper_is_unwrapped() -> None:
    raw = load("ws.markPrice-arr.documented.json")
    assert marks({"stream": "!markPrice@arr@1s", "data": raw}) == marks(raw)


def test_wrapper_errors_name_the_data_path() -> None:
    raw = load("ws.markPriceUpdate.documented.json")
    raw["p"] = "abc"
    with pytest.raises(FrameError) as info:
        marks({"stream": "btcusdt@markPrice", "data": raw})
    assert str(info.value) == "markPrice data.p: not a decimal: 'abc'"


def _array(*symbols_and_prices: tuple[str, object]) -> list[dict[str, object]]:
    template = load("ws.markPriceUpdate.documented.json")
    rows = []
    for market_id, price in symbols_and_prices:
        row = copy.deepcopy(template)
        row["s"], row["p"] = market_id, price
        rows.append(row)
    return rows


def test_unknown_ids_are_skipped_and_reported() -> None:
    good = load("ws.markPriceUpdate.documented.json")
    frame = _array(("BTCUSDT", good["p"]), ("XYZUSDT", "1.5"))
    result, problems = marks(frame)
    assert result.prices == {"BTC/USDT:USDT": float(good["p"])}
    assert problems == ["markPrice [1].s: unknown symbol: 'XYZUSDT'"]


def test_only_unknown_ids_give_an_empty_update_not_an_error() -> None:
    result, problems = marks(_array(("XYZUSDT", "1.5")))
    assert result.prices == {}
    assert len(problems) == 1


def test_lower_case_ids_from_stream_names_still_map() -> None:
    result, _ = marks(_array(("btcusdt", "100")))
    assert result.prices == {"BTC/USDT:USDT": 100.0}


@pytest.mark.parametrize("bad", ["abc", "0", "-1", "NaN", "Infinity", "", None, True, 0, 1e-300, "1e16"])
def test_bad_elements_are_skipped_when_others_are_good(bad: object) -> None:
    result, problems = marks(_array(("ETHUSDT", bad), ("BTCUSDT", "100.5")))
    assert result.prices == {"BTC/USDT:USDT": 100.5}
    assert len(problems) == 1
    assert problems[0].startswith("markPrice [0].p: ")


@pytest.mark.parametrize("bad", ["abc", "0", "-1", "NaN", float("nan"), float("inf"), None])
def test_single_bad_update_is_an_error(bad: object) -> None:
    raw = load("ws.markPriceUpdate.documented.json")
    raw["p"] = bad
    with pytest.raises(FrameError, match=r"^markPrice p: "):
        marks(raw)


def test_array_without_a_valid_element_is_an_error() -> None:
    with pytest.raises(FrameError, match=r"no valid element among 2"):
        marks(_array(("ETHUSDT", "abc"), ("BTCUSDT", "-3")))


@pytest.mark.parametrize("frame", [[], "[]", 7, None, [[]], {"stream": 5, "data": []}])
def test_malformed_frames_are_errors(frame: object) -> None:
    with pytest.raises(FrameError):
        marks(frame)


def test_other_event_types_are_not_marks() -> None:
    raw = load("ws.markPriceUpdate.documented.json")
    raw["e"] = "aggTrade"
    with pytest.raises(FrameError, match=r"^markPrice e: not a markPriceUpdate: 'aggTrade'$"):
        marks(raw)


def test_control_replies_are_recognised_and_not_parsed_as_marks() -> None:
    reply = load("ws.SUBSCRIBE.response.documented.json")
    assert is_control_reply(reply)
    assert not is_control_reply(load("ws.markPriceUpdate.documented.json"))
    with pytest.raises(FrameError):
        marks(reply)


def test_hostile_array_length_is_refused_before_reading() -> None:
    frame = _array(("BTCUSDT", "1")) * (MAX_MARKS + 1)
    with pytest.raises(FrameError, match=f"array longer than {MAX_MARKS}"):
        marks(frame)


def test_largest_accepted_array() -> None:
    frame = _array(("BTCUSDT", "1")) * MAX_MARKS
    result, problems = marks(frame)
    assert result.prices == {"BTC/USDT:USDT": 1.0}
    assert problems == []


def test_problem_list_is_capped() -> None:
    frame = _array(*[("ETHUSDT", "bad")] * (MAX_PROBLEMS + 5), ("BTCUSDT", "2"))
    _, problems = marks(frame)
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1] == "markPrice: 5 more problems not listed"


def test_newest_element_wins_for_a_repeated_symbol_and_event_time_is_the_oldest() -> None:
    frame = _array(("BTCUSDT", "2"), ("BTCUSDT", "1"), ("ETHUSDT", "3"))
    frame[0]["E"], frame[1]["E"], frame[2]["E"] = 2_000, 1_000, 1_500
    result, _ = marks(frame)
    assert result.prices == {"BTC/USDT:USDT": 2.0, "ETH/USDT:USDT": 3.0}
    assert result.event_ms == 1_000


def test_delivery_contract_fields_are_not_required() -> None:
    # COIN-M delivery contracts send "r": "" and "T": 0; only s, p and E are read.
    raw = load("ws.markPriceUpdate.documented.json")
    raw["r"], raw["T"] = "", 0
    assert marks(raw)[0].prices == {"BTC/USDT:USDT": float(raw["p"])}


def premium(body: object, problems: list[str] | None = None) -> MarkPrices:
    return parse_premium_index(body, venue="binanceusdm", symbols=SYMBOLS, received_ms=7, problems=problems)


def test_premium_index_single_object() -> None:
    raw = load("rest.premiumIndex.single.documented.json")
    problems: list[str] = []
    result = premium(raw, problems)
    assert result == MarkPrices(
        venue="binanceusdm",
        prices={SYMBOLS[raw["symbol"]]: float(raw["markPrice"])},
        event_ms=raw["time"],
        received_ms=7,
    )
    assert problems == []


def test_premium_index_array() -> None:
    raw = load("rest.premiumIndex.array.documented.json")
    result = premium(raw)
    assert result.prices == {SYMBOLS[row["symbol"]]: float(row["markPrice"]) for row in raw}
    assert result.event_ms == min(row["time"] for row in raw)


def test_premium_index_reports_skipped_elements_when_asked() -> None:
    good = load("rest.premiumIndex.single.documented.json")
    body = [dict(good, symbol="NEWUSDT"), dict(good, markPrice="-1"), good]
    problems: list[str] = []
    assert premium(body, problems).prices == {SYMBOLS[good["symbol"]]: float(good["markPrice"])}
    assert problems == [
        "premiumIndex [1].markPrice: not a usable price: '-1'",
        "premiumIndex [0].symbol: unknown symbol: 'NEWUSDT'",
    ]
    assert premium(body).prices == premium(body, problems).prices


def test_premium_index_errors_are_named_after_the_endpoint() -> None:
    raw = load("rest.premiumIndex.single.documented.json")
    raw["markPrice"] = "0"
    with pytest.raises(FrameError, match=r"^premiumIndex markPrice: not a usable price: '0'$"):
        premium(raw)


def test_an_array_stamped_as_one_carries_one_time_and_a_mixed_one_each_price_its_own() -> None:
    """The engine keeps the newest mark per symbol by these times: an all-market frame is stamped as
    one (``stamps`` is ``None``), a body whose rows differ gives each price its own."""
    raw = load("ws.markPriceUpdate.documented.json")
    eth = dict(raw, s="ETHUSDT", p="3000.5")
    assert marks([raw, eth])[0].stamps is None
    late = dict(eth, E=raw["E"] + 250)
    result = marks([raw, late])[0]
    assert result.event_ms == raw["E"]
    assert result.stamps == {"BTC/USDT:USDT": raw["E"], "ETH/USDT:USDT": raw["E"] + 250}
    assert result.stamp("ETH/USDT:USDT") == raw["E"] + 250
    row = load("rest.premiumIndex.single.documented.json")
    body = [row, dict(row, symbol="ETHUSDT", time=row["time"] - 1_000)]
    assert premium(body).stamps == {"BTC/USDT:USDT": row["time"], "ETH/USDT:USDT": row["time"] - 1_000}
