"""Snapshot validation: every problem named by its JSON path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.commands.snapshot import SnapshotError, load_snapshot, parse_snapshot

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def base() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / "isolated-account.json").read_text())
    return data


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(SnapshotError) as info:
        parse_snapshot(data)
    return dict(info.value.problems)


@pytest.mark.parametrize(
    "name",
    ["cross-account.json", "isolated-account.json", "hedged-account.json", "multi-assets-account.json"],
)
def test_examples_parse(name: str) -> None:
    account, warnings = load_snapshot((EXAMPLES / name).read_text())
    assert account.positions and warnings == []


def test_strings_and_numbers_both_accepted() -> None:
    data = base()
    data["wallet_balance"] = 2500
    data["positions"][0]["contracts"] = 5
    account, _ = parse_snapshot(data)
    assert account.wallet_balance == 2500.0 and account.positions[0].contracts == 5.0


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [
        (lambda d: d["positions"][0].pop("mark_price"), "$.positions[0].mark_price", "Field required"),
        (lambda d: d["positions"][0].update(contracts="-1"), "$.positions[0].contracts", "greater than 0"),
        (lambda d: d.update(venue="ftx"), "$.venue", "binanceusdm"),
        (
            lambda d: d["positions"][1].update(isolated_wallet=None),
            "$.positions[1].isolated_wallet",
            "required for an isolated",
        ),
        (lambda d: d["positions"][0].update(mark_price="0"), "$.positions[0].mark_price", "greater than 0"),
        (lambda d: d["positions"][0].update(mark_price="NaN"), "$.positions[0].mark_price", "finite"),
        (lambda d: d["positions"][0].update(entry_price=True), "$.positions[0].entry_price", "boolean"),
        (
            lambda d: d["positions"][0].update(entry_price="6e4x"),
            "$.positions[0].entry_price",
            "not a decimal",
        ),
        (lambda d: d["positions"][0].update(contracts="500"), "$.positions[0].tiers", "do not cover"),
        (lambda d: d["positions"][0]["tiers"].reverse(), "$.positions[0].tiers", "tier 0"),
        (lambda d: d["positions"][0].update(colour="red"), "$.positions[0].colour", "Extra inputs"),
        (
            lambda d: d["positions"][0].update(position_side="short"),
            "$.positions[0].position_side",
            "cannot be long",
        ),
    ],
)
def test_bad_input_names_the_path(mutate: Any, path: str, fragment: str) -> None:
    data = base()
    mutate(data)
    found = problems(data)
    assert path in found, found
    assert fragment in found[path]


def test_all_problems_reported_at_once() -> None:
    data = base()
    data["positions"][0]["contracts"] = "-1"
    data["positions"][1]["mark_price"] = "0"
    assert {"$.positions[0].contracts", "$.positions[1].mark_price"} <= set(problems(data))


def test_discontinuous_tiers_warn_but_parse() -> None:
    data = base()
    data["positions"][0]["tiers"][1]["cum"] = "40"
    _, warnings = parse_snapshot(data)
    assert any("positions[0].tiers" in w and "jumps" in w for w in warnings)


def test_invalid_json_reports_line_and_column() -> None:
    with pytest.raises(SnapshotError, match="line 1 column"):
        load_snapshot('{"venue": ')


def test_duplicate_and_mixed_legs_refused() -> None:
    data = base()
    data["positions"].append(copy.deepcopy(data["positions"][0]))
    assert "$.positions[2]" in problems(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.text(max_size=8) | st.integers(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["venue", "wallet_balance", "taker_fee", "positions", "account"]),
    json_values,
    st.integers(0, 1),
    st.sampled_from(
        [
            "contracts",
            "entry_price",
            "mark_price",
            "tiers",
            "side",
            "margin_mode",
            "isolated_wallet",
            "leverage",
        ]
    ),
)
def test_fuzzed_snapshots_fail_cleanly(top_key: str, value: Any, index: int, pos_key: str) -> None:
    """Whatever a field holds, parsing either succeeds or raises SnapshotError: never another error."""
    for target in ("top", "position"):
        data = base()
        if target == "top":
            data[top_key] = value
        else:
            data["positions"][index][pos_key] = value
        try:
            parse_snapshot(data)
        except SnapshotError as exc:
            assert exc.problems and all(path.startswith("$") for path, _ in exc.problems)
