"""Binance's own spellings: margin modes, position sides; the Binance reader keeps them when nested."""

from __future__ import annotations

import pytest

from monitor.model import MarginMode, PositionSide
from monitor.venues.binance.fields import Obj, parse_margin_mode, parse_position_side
from monitor.venues.wire import FrameError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("cross", MarginMode.CROSS),
        ("isolated", MarginMode.ISOLATED),
        ("CROSSED", MarginMode.CROSS),
        ("ISOLATED", MarginMode.ISOLATED),
    ],
)
def test_every_margin_type_spelling(raw: str, expected: MarginMode) -> None:
    assert parse_margin_mode(raw, source="t", path="mt") is expected


@pytest.mark.parametrize("raw", ["", "portfolio", "CROSSEDX", 1, None, "İSOLATED"])
def test_unknown_margin_types_are_errors(raw: object) -> None:
    with pytest.raises(FrameError, match="not a margin type"):
        parse_margin_mode(raw, source="t", path="mt")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("BOTH", PositionSide.BOTH), ("LONG", PositionSide.LONG), ("SHORT", PositionSide.SHORT)],
)
def test_position_sides(raw: str, expected: PositionSide) -> None:
    assert parse_position_side(raw, source="t", path="ps") is expected


@pytest.mark.parametrize("raw", ["", "BUY", None, 0])
def test_unknown_position_sides_are_errors(raw: object) -> None:
    with pytest.raises(FrameError, match="not a position side"):
        parse_position_side(raw, source="t", path="ps")


def test_a_nested_binance_object_keeps_binance_s_spellings() -> None:
    frame = Obj({"a": {"P": {"mt": "isolated", "ps": "SHORT"}}}, source="ACCOUNT_UPDATE", path="")
    row = frame.obj("a").obj("P")
    assert (row.margin_mode("mt"), row.position_side("ps")) == (MarginMode.ISOLATED, PositionSide.SHORT)
    with pytest.raises(FrameError, match=r"^ACCOUNT_UPDATE a.P.ps: not a position side"):
        Obj({"a": {"P": {"ps": "UP"}}}, source="ACCOUNT_UPDATE", path="").obj("a").obj("P").position_side(
            "ps"
        )
