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
        [sys.executable, "-m", "monitor.commands.cli", *args],
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
        "past_liquidation",
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


def snapshot(wallet: str, side: str = "long", entry: str = "60000", mark: str = "58000") -> str:
    """One BTC position in a cross pool, tiered at 0.4 % throughout."""
    return json.dumps(
        {
            "venue": "binanceusdm",
            "account": "t",
            "wallet_balance": wallet,
            "positions": [
                {
                    "symbol": "BTC/USDT:USDT",
                    "side": side,
                    "margin_mode": "cross",
                    "contracts": "1",
                    "entry_price": entry,
                    "mark_price": mark,
                    "tiers": [{"floor": "0", "cap": "1e18", "mmr": "0.004", "cum": "0"}],
                }
            ],
        }
    )


def test_a_position_past_its_liquidation_price_is_signed_and_warned_about() -> None:
    """Wallet 1,000, 1 BTC long from 60,000, mark 58,000: equity -1,000. The mark is 2.13 % beyond
    the liquidation price 59,236.948 on the losing side: a negative distance, and a warning."""
    table = run("calc", "-", stdin=snapshot("1000"))
    assert table.returncode == 0, table.stderr
    assert "59,236.948" in table.stdout and "-2.13 %" in table.stdout
    assert "past its liquidation price" in table.stdout
    assert "equity is negative" in table.stdout
    doc = json.loads(run("calc", "-", "--json", stdin=snapshot("1000")).stdout)
    [p] = doc["positions"]
    assert p["distance_pct"] < 0 and p["past_liquidation"] is True
    assert abs(p["distance_pct"] + abs(58_000 - p["liquidation_price"]) / 58_000 * 100) < 1e-9


def test_a_safe_position_is_not_warned_about() -> None:
    table = run("calc", "-", stdin=snapshot("20000"))
    assert "past" not in table.stdout and "equity is negative" not in table.stdout
    [p] = json.loads(run("calc", "-", "--json", stdin=snapshot("20000")).stdout)["positions"]
    assert p["distance_pct"] > 0 and p["past_liquidation"] is False


def test_past_liquidation_with_no_price_that_restores_it() -> None:
    """A short in a pool 100,000 in debt: even a price of zero would not restore it. Its liquidation
    price is its mark, its distance unbounded (null in JSON, as an unbounded ratio is)."""
    stdin = snapshot("-100000", side="short", mark="61000")
    [p] = json.loads(run("calc", "-", "--json", stdin=stdin).stdout)["positions"]
    assert p["liquidation_price"] == 61_000 and p["distance_pct"] is None and p["past_liquidation"] is True
    table = run("calc", "-", stdin=stdin).stdout
    assert "past its liquidation price" in table and "no price restores it" in table


def test_a_hedged_symbol_says_which_way_its_legs_close() -> None:
    """ETH in hedge mode, 12 long and 4 short: both legs share one liquidation price, below the
    mark, because the symbol is net long; the legend says so in words."""
    out = run("calc", str(EXAMPLES / "hedged-account.json"))
    assert out.returncode == 0, out.stderr
    assert "ETH/USDT:USDT is net long: both legs close at 2,878.7879" in " ".join(out.stdout.split())


def test_what_if_of_a_pool_past_liquidation_names_the_move_that_restores_it() -> None:
    """A pool already past liquidation is not liquidated by a 2.13 % rise: that rise restores it.
    The what-if says which it is, in the table and in JSON."""
    doc = json.loads(run("calc", "-", "--json", "--what-if", stdin=snapshot("1000")).stdout)
    moves = doc["what_if"]["market_moves"]
    assert moves and all(m["past_liquidation"] is True for m in moves)
    table = run("calc", "-", "--what-if", stdin=snapshot("1000")).stdout
    assert "liquidates the cross account" not in table
    assert "restores the cross account" in " ".join(table.split())
    safe = json.loads(run("calc", "-", "--json", "--what-if", stdin=snapshot("20000")).stdout)
    assert all(m["past_liquidation"] is False for m in safe["what_if"]["market_moves"])


def test_an_okx_account_shows_the_ratio_okx_shows_beside_ours() -> None:
    """A real OKX cross position (vector O-R2, ``examples/okx-cross-account.json``: the wallet is
    OKX's equity less the position's uPnL). OKX's margin ratio is equity / requirement, 6,900.36 %
    in its app; ours is the inverse, 1.45 %; both are printed, and the liquidation price is OKX's."""
    out = run("calc", str(EXAMPLES / "okx-cross-account.json"))
    assert out.returncode == 0, out.stderr
    assert "ratio 1.45 %" in out.stdout
    assert "OKX shows 6900.36 %" in out.stdout
    doc = json.loads(run("calc", str(EXAMPLES / "okx-cross-account.json"), "--json").stdout)
    assert doc["positions"][0]["liquidation_price"] == pytest.approx(0.3287514731020614, rel=1e-12)


def test_a_blofin_snapshot_reproduces_blofins_live_figures() -> None:
    """``examples/blofin-cross-account.json`` is BloFin's live LTC capture (shared fixtures,
    ``rest.positions.cross-long.observed.json``): the wallet is the captured balance less the open fee
    (0.06 % of 67.85, ours), the MMR the row's maintenanceMargin over its notional (ours). BloFin's
    printed liquidation price and margin ratio (equity / requirement, the inverse of ours) come back."""
    out = run("calc", str(EXAMPLES / "blofin-cross-account.json"), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    (ltc,) = doc["positions"]
    assert ltc["liquidation_price"] == pytest.approx(6.588863861975256971, rel=1e-11)
    assert 1 / doc["account"]["cross"]["margin_ratio"] == pytest.approx(161.322877125756096924, rel=1e-11)
    assert abs(ltc["deviation_pct"]) < 1e-9
