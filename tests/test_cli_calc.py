"""``monitor calc`` as a user runs it: a real process, a file or stdin, the JSON contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_json_contract_matches_the_design_brief() -> None:
    out = run("calc", str(EXAMPLES / "cross-account.json"), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) == {"venue", "account", "positions"}
    assert set(doc["account"]["cross"]) == {"equity", "maint_margin", "margin_ratio"}
    keys = {
        "symbol",
        "side",
        "position_side",
        "margin_mode",
        "notional",
        "unrealized_pnl",
        "maint_margin",
        "margin_ratio",
        "liquidation_price",
        "distance_pct",
        "exchange_liquidation_price",
        "deviation_pct",
    }
    for p in doc["positions"]:
        assert set(p) == keys
        assert p["margin_ratio"] == doc["account"]["cross"]["margin_ratio"]  # cross: the account's ratio
        assert isinstance(p["liquidation_price"], float)


def test_stdin_and_isolated_has_null_cross() -> None:
    text = (EXAMPLES / "isolated-account.json").read_text()
    out = run("calc", "-", "--json", stdin=text)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["account"]["cross"] is None


def test_what_if_json_and_table() -> None:
    out = run("calc", str(EXAMPLES / "hedged-account.json"), "--json", "--what-if")
    doc = json.loads(out.stdout)
    assert {"mode_switches", "margin_to_add", "market_moves"} <= set(doc["what_if"])
    table = run("calc", str(EXAMPLES / "hedged-account.json"), "--what-if")
    assert table.returncode == 0 and "other margin mode" in table.stdout and "ETH/USDT:USDT" in table.stdout


@pytest.mark.parametrize(
    ("stdin", "fragment"),
    [
        (
            '{"venue": "binanceusdm", "wallet_balance": "1", "positions": [{"symbol": "X"}]}',
            "$.positions[0].side",
        ),
        ("not json", "invalid JSON"),
    ],
)
def test_bad_input_exits_2_naming_the_path(stdin: str, fragment: str) -> None:
    out = run("calc", "-", stdin=stdin)
    assert out.returncode == 2
    assert fragment in out.stderr


def test_missing_file_exits_2() -> None:
    out = run("calc", "/nonexistent/snapshot.json")
    assert out.returncode == 2 and "cannot read" in out.stderr


def _numbers(doc: object) -> list[float]:
    if isinstance(doc, dict):
        return [n for v in doc.values() for n in _numbers(v)]
    if isinstance(doc, list):
        return [n for v in doc for n in _numbers(v)]
    return [doc] if isinstance(doc, float) else []


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_json_numbers_carry_no_float_noise(example: Path) -> None:
    """``48.800000000000004`` is noise: at most 12 significant digits, equal to the table's numbers."""
    out = run("calc", str(example), "--json", "--what-if")
    assert out.returncode == 0, out.stderr
    numbers = _numbers(json.loads(out.stdout))
    assert numbers
    for n in numbers:
        assert len(repr(abs(n)).replace(".", "").lstrip("0").split("e")[0]) <= 12, n
