"""The readers every venue's payloads pass through: decimals, timestamps, bounds, error paths."""

from __future__ import annotations

import math
import pickle

import pytest

from monitor.events import Rejected
from monitor.venues.wire import MAX_EXCERPT, MAX_MAGNITUDE, FrameError, Obj, excerpt, parse_decimal, parse_ms


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.50", 1.5),
        (1.50, 1.5),
        ("0.00000000", 0.0),
        ("-45.04000000", -45.04),
        ("6563.6", 6563.6),
        ("1e-8", 1e-8),
        ("+2", 2.0),
        (".5", 0.5),
        (75, 75.0),
        (9223372036854775807, float(2**63 - 1)),
    ],
)
def test_decimal_accepts_strings_and_numbers(raw: object, expected: float) -> None:
    assert parse_decimal(raw, source="t", path="x") == pytest.approx(expected, rel=1e-15)


def test_negative_zero_becomes_plain_zero() -> None:
    assert math.copysign(1.0, parse_decimal("-0", source="t", path="x")) == 1.0
    assert math.copysign(1.0, parse_decimal(-0.0, source="t", path="x")) == 1.0


@pytest.mark.parametrize(
    "raw",
    [
        True,
        False,
        None,
        "",
        " 1",
        "1 ",
        "1_000",
        "nan",
        "NaN",
        "inf",
        "-Infinity",
        "0x10",
        "1e400",
        "1.2.3",
        "١٢",  # Arabic-Indic digits: float() accepts them, Binance never sends them
        float("nan"),
        float("inf"),
        -float("inf"),
        10**21,
        -(10**21),
        1e21,
        "1" * 65,
        [],
        {},
    ],
)
def test_decimal_rejects_non_decimals(raw: object) -> None:
    with pytest.raises(FrameError) as info:
        parse_decimal(raw, source="ACCOUNT_UPDATE", path="a.P[2].iw")
    assert str(info.value).startswith("ACCOUNT_UPDATE a.P[2].iw: ")


def test_magnitude_bound_is_inclusive() -> None:
    assert parse_decimal(MAX_MAGNITUDE, source="t", path="x") == MAX_MAGNITUDE
    assert parse_decimal(str(-MAX_MAGNITUDE), source="t", path="x") == -MAX_MAGNITUDE


def test_frame_error_reads_source_path_reason_excerpt() -> None:
    with pytest.raises(FrameError) as info:
        parse_decimal("abc", source="ACCOUNT_UPDATE", path="a.P[2].iw")
    error = info.value
    assert str(error) == "ACCOUNT_UPDATE a.P[2].iw: not a decimal: 'abc'"
    assert (error.source, error.path, error.reason, error.excerpt) == (
        "ACCOUNT_UPDATE",
        "a.P[2].iw",
        "not a decimal",
        "'abc'",
    )
    assert isinstance(error, ValueError)
    assert error.to_rejected(123) == Rejected(
        source="ACCOUNT_UPDATE", reason="a.P[2].iw: not a decimal", excerpt="'abc'", received_ms=123
    )


def test_frame_error_survives_pickling() -> None:
    error = FrameError("MARGIN_CALL", "p[0].mp", "not a usable price", "'0'")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.source, copy.path, copy.reason, copy.excerpt, str(copy)) == (
        error.source,
        error.path,
        error.reason,
        error.excerpt,
        str(error),
    )


def test_frame_error_without_path() -> None:
    assert str(FrameError("markPrice", "", "empty array")) == "markPrice: empty array"


def test_excerpts_are_short_and_never_dump_containers() -> None:
    long = excerpt("x" * 10_000)
    assert len(long) <= MAX_EXCERPT
    assert long.endswith("…")
    secret = {"listenKey": "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"}
    assert excerpt(secret) == "<object with 1 keys>"
    assert excerpt([secret, secret]) == "<array of 2>"
    assert excerpt(10**5000) == f"<integer of {(10**5000).bit_length()} bits>"
    assert excerpt(object()) == "<object>"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1736996475556, 1736996475556), ("1695716647064", 1695716647064)],
)
def test_ms_accepts_numbers_and_digit_strings(raw: object, expected: int) -> None:
    assert parse_ms(raw, source="t", path="E") == expected


@pytest.mark.parametrize("raw", [True, 1.5e12, "1.5e12", "-1", "", "12a", " 12", -5, 0, 10**15, None])
def test_ms_rejects_everything_else(raw: object) -> None:
    with pytest.raises(FrameError, match=r"^listenKeyExpired E: "):
        parse_ms(raw, source="listenKeyExpired", path="E")


def test_ms_zero_only_when_allowed() -> None:
    assert parse_ms(0, source="t", path="updateTime", allow_zero=True) == 0


def test_a_nested_object_s_errors_name_the_whole_path() -> None:
    row = Obj({"a": {"P": [{"iw": "x"}]}}, source="ACCOUNT_UPDATE", path="")
    with pytest.raises(FrameError, match=r"^ACCOUNT_UPDATE a.missing: missing$"):
        row.obj("a").get("missing")
    with pytest.raises(FrameError, match=r"^ACCOUNT_UPDATE a.P: array longer than 0"):
        row.obj("a").array("P", max_len=0)
    with pytest.raises(FrameError, match=r"^ACCOUNT_UPDATE a: not an object"):
        Obj({"a": [1]}, source="ACCOUNT_UPDATE", path="").obj("a")
