"""REST bodies: positionRisk (v2, v3, COIN-M), account, snapshot, leverage brackets, settings."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from monitor.events import AccountSnapshotEvent
from monitor.margin.tiers import validate_tiers
from monitor.model import Collateral, MarginMode, PositionSide, Tier
from monitor.venues.binance.parse import (
    AccountTotals,
    AssetIndex,
    FrameError,
    PositionRiskVersion,
    parse_account_coinm,
    parse_account_snapshot,
    parse_account_v3,
    parse_asset_index,
    parse_leverage_brackets,
    parse_multi_assets_margin,
    parse_position_risk,
    parse_position_side_dual,
    parse_symbol_config,
    settle_asset,
)
from monitor.venues.binance.rest import MAX_ROWS

from ._binance import SYMBOLS, load

SIDES = {"BOTH": PositionSide.BOTH, "LONG": PositionSide.LONG, "SHORT": PositionSide.SHORT}


def positions(rows: object, version: PositionRiskVersion, **kwargs: Any) -> Any:
    return parse_position_risk(rows, symbols=SYMBOLS, version=version, **kwargs)


def _optional_price(text: str) -> float | None:
    value = float(text)
    return None if value == 0 else value


# --- positionRisk ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("rest.positionRisk.v2.oneway.documented.json", "v2"),
        ("rest.positionRisk.v2.hedge.documented.json", "v2"),
        ("rest.positionRisk.v3.hedge.documented.json", "v3"),
        ("rest.positionRisk.v3.observed.json", "v3"),
        ("coinm.rest.positionRisk.documented.json", "coinm"),
        ("coinm.rest.positionRisk.observed.json", "coinm"),
    ],
)
def test_position_risk_fixtures(name: str, version: PositionRiskVersion) -> None:
    raw = load(name)
    parsed = positions(raw, version)
    assert len(parsed) == len(raw)  # flat rows of known symbols are kept
    for position, row in zip(parsed, raw, strict=True):
        assert position.symbol == SYMBOLS[row["symbol"]]
        assert position.position_side is SIDES[row["positionSide"]]
        assert position.amount == float(row["positionAmt"])
        assert position.entry_price == float(row["entryPrice"])
        assert position.unrealized_pnl == float(row["unRealizedProfit"])
        assert position.mark_price == _optional_price(row["markPrice"])
        assert position.liquidation_price == _optional_price(row["liquidationPrice"])
        assert position.update_ms == int(row["updateTime"])  # a number, or digits in old captures
        if version == "v3":
            assert position.maint_margin == float(row["maintMargin"])
            assert position.leverage is None
        else:
            assert position.maint_margin is None
            assert position.leverage == float(row["leverage"])
        if "marginType" in row:
            assert position.margin_mode.value == row["marginType"]
        if position.margin_mode is MarginMode.CROSS:
            assert position.isolated_wallet is None
        else:
            assert position.isolated_wallet == float(row["isolatedWallet"])


def test_v3_live_cross_position_without_liquidation_price() -> None:
    raw = load("rest.positionRisk.v3.hedge.documented.json")
    ada, comp = positions(raw, "v3")
    assert ada.amount == float(raw[0]["positionAmt"]) and ada.amount > 0
    assert ada.liquidation_price is None  # "0": no price liquidates it
    assert ada.margin_mode is MarginMode.CROSS  # no marginType in v3; isolatedWallet "0"
    assert comp.amount < 0 and comp.position_side is PositionSide.SHORT
    assert comp.liquidation_price == float(raw[1]["liquidationPrice"])


def test_v3_margin_mode_from_symbol_config() -> None:
    raw = load("rest.positionRisk.v3.hedge.documented.json")
    ada, comp = positions(raw, "v3", margin_modes={"COMP/USDT:USDT": MarginMode.ISOLATED})
    assert ada.margin_mode is MarginMode.CROSS
    assert comp.margin_mode is MarginMode.ISOLATED
    assert comp.isolated_wallet == float(raw[1]["isolatedWallet"])


def test_v3_isolated_wallet_implies_isolated_even_against_stale_settings() -> None:
    raw = load("rest.positionRisk.v3.observed.json")
    raw[0]["isolatedWallet"] = "7.5"
    (position,) = positions(raw, "v3", margin_modes={"BTC/USDT:USDT": MarginMode.CROSS})
    assert position.margin_mode is MarginMode.ISOLATED
    assert position.isolated_wallet == 7.5


def test_v3_row_with_margin_type_uses_it() -> None:
    raw = load("rest.positionRisk.v3.observed.json")
    raw[0]["marginType"] = "ISOLATED"
    assert positions(raw, "v3")[0].margin_mode is MarginMode.ISOLATED


def test_isolated_wallet_derived_from_isolated_margin_when_absent() -> None:
    # README: a real v2 isolated short (ccxt PR #20003) has isolatedWallet 1.57109202,
    # unRealizedProfit -0.12 and isolatedMargin 1.45109202 (isolatedMargin = wallet + uPnL).
    raw = load("coinm.rest.positionRisk.documented.json")
    row = raw[1]
    row["marginType"], row["isolatedMargin"], row["unRealizedProfit"] = (
        "isolated",
        "1.45109202",
        "-0.12000000",
    )
    assert "isolatedWallet" not in row
    position = positions([row], "coinm")[0]
    assert position.margin_mode is MarginMode.ISOLATED
    assert position.isolated_wallet == pytest.approx(1.57109202, abs=1e-12)


@pytest.mark.parametrize(
    ("margin", "pnl", "reason"),
    [("0", "0.5", "negative isolated wallet"), ("1e20", "-1e20", "isolated wallet out of range")],
)
def test_derived_isolated_wallet_must_be_sane(margin: str, pnl: str, reason: str) -> None:
    row = load("coinm.rest.positionRisk.documented.json")[1]
    row["marginType"], row["isolatedMargin"], row["unRealizedProfit"] = "isolated", margin, pnl
    with pytest.raises(FrameError, match=rf"^positionRisk \[0\]\.isolatedMargin: implies an? {reason}"):
        positions([row], "coinm")


def test_isolated_open_position_needs_a_wallet() -> None:
    row = load("coinm.rest.positionRisk.documented.json")[1]
    row["marginType"] = "isolated"
    del row["isolatedMargin"]
    with pytest.raises(FrameError, match="isolated position without isolatedWallet"):
        positions([row], "coinm")


def test_flat_coinm_rows_report_no_mark() -> None:
    raw = load("coinm.rest.positionRisk.documented.json")
    both, long, short = positions(raw, "coinm")
    assert both.amount == 0 and both.mark_price is None and both.liquidation_price is None
    assert long.mark_price == float(raw[1]["markPrice"])
    assert short.amount == 0


def test_open_position_needs_a_mark() -> None:
    raw = load("coinm.rest.positionRisk.observed.json")
    raw[0]["markPrice"] = "0.00000000"
    with pytest.raises(FrameError, match=r"^positionRisk \[0\]\.markPrice: open position without a mark"):
        positions(raw, "coinm")


def test_v2_rows_must_say_their_margin_type() -> None:
    raw = load("rest.positionRisk.v2.hedge.documented.json")
    del raw[0]["marginType"]
    with pytest.raises(FrameError, match=r"^positionRisk \[0\]\.marginType: missing$"):
        positions(raw, "v2")


def test_unknown_symbols_flat_dropped_open_rejected() -> None:
    raw = load("rest.positionRisk.v2.hedge.documented.json")
    raw[1]["symbol"] = "NEWUSDT"  # the flat SHORT
    assert [p.position_side for p in positions(raw, "v2")] == [PositionSide.LONG]
    raw[0]["symbol"] = "NEWUSDT"  # the open LONG
    with pytest.raises(FrameError, match=r"\[0\]\.symbol: unknown symbol with an open position"):
        positions(raw, "v2")


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("liquidationPrice", "-5", "not a usable price"),
        ("liquidationPrice", "NaN", "not a decimal"),
        ("positionAmt", "-0.001", "amount has the wrong sign"),
        ("entryPrice", "0", "not a usable entry price"),
        ("leverage", "0", "must be positive"),
        ("positionSide", "UP", "not a position side"),
        ("marginType", "cross-ish", "not a margin type"),
    ],
)
def test_position_row_validation(key: str, value: str, reason: str) -> None:
    raw = load("rest.positionRisk.v2.hedge.documented.json")
    raw[0][key] = value
    with pytest.raises(FrameError, match=rf"^positionRisk \[0\]\.{key}: {reason}"):
        positions(raw, "v2")


def test_repeated_leg_is_an_error() -> None:
    raw = load("rest.positionRisk.v3.hedge.documented.json")
    with pytest.raises(FrameError, match="listed twice"):
        positions([*raw, raw[0]], "v3")


def test_row_count_is_capped() -> None:
    row = load("rest.positionRisk.v2.oneway.documented.json")[0]
    with pytest.raises(FrameError, match=f"array longer than {MAX_ROWS}"):
        positions([row] * (MAX_ROWS + 1), "v2")


def test_unknown_version_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown positionRisk version"):
        positions([], "v4")  # type: ignore[arg-type]


# --- account -----------------------------------------------------------------------------------------


def _asset(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in raw["assets"] if a["asset"] == name)


def test_single_asset_account_uses_the_usdt_cross_wallet() -> None:
    raw = load("rest.account.v3.single-asset.documented.json")
    totals = parse_account_v3(raw)
    # The docs example's totals (103.12) disagree with the USDT wallet (23.72): the asset row wins.
    assert totals == AccountTotals(
        cross_wallet_balance=float(_asset(raw, "USDT")["crossWalletBalance"]),
        total_maint_margin=float(raw["totalMaintMargin"]),
        total_margin_balance=float(raw["totalMarginBalance"]),
        multi_assets=None,
    )


@pytest.mark.parametrize(
    ("name", "others"),
    [
        ("rest.account.v3.multi-assets.documented.json", (("BUSD", 103.12345678),)),
        ("rest.account.v3.observed.json", (("USDC", 22.0),)),  # FDUSD holds nothing: left out
    ],
)
def test_multi_assets_account_lists_every_margin_asset(
    name: str, others: tuple[tuple[str, float], ...]
) -> None:
    """The USDT row is the settlement wallet; the other rows are margin in their own units, to be
    valued with haircuts. The USD totals are not the pool (no haircut) and not used for it."""
    raw = load(name)
    totals = parse_account_v3(raw, multi_assets=True)
    assert totals.cross_wallet_balance == float(_asset(raw, "USDT")["crossWalletBalance"])
    assert totals.other_assets == others
    assert totals.total_maint_margin == float(raw["totalMaintMargin"])
    assert totals.total_margin_balance == float(raw["totalMarginBalance"])
    assert totals.multi_assets is True


def test_single_asset_mode_ignores_the_other_assets() -> None:
    raw = load("rest.account.v3.observed.json")
    single = parse_account_v3(raw, multi_assets=False)
    assert single.cross_wallet_balance == float(_asset(raw, "USDT")["crossWalletBalance"])
    assert single.other_assets == ()


# GET /fapi/v1/assetIndex, the response example of developers.binance.com
# (usds-margined-futures/market-data/rest-api/Multi-Assets-Mode-Asset-Index); not in the fixture set.
ASSET_INDEX_DOC: dict[str, Any] = {
    "symbol": "ADAUSD",
    "time": 1635740268004,
    "index": "1.92957370",
    "bidBuffer": "0.10000000",
    "askBuffer": "0.10000000",
    "bidRate": "1.73661633",
    "askRate": "2.12253107",
    "autoExchangeBidBuffer": "0.05000000",
    "autoExchangeAskBuffer": "0.05000000",
    "autoExchangeBidRate": "1.83309501",
    "autoExchangeAskRate": "2.02605238",
}


def test_asset_index_gives_each_assets_price_and_haircut() -> None:
    expected = {"ADA": AssetIndex(1.9295737, 0.1)}
    assert parse_asset_index(ASSET_INDEX_DOC) == expected  # with symbol=: one object
    assert parse_asset_index([ASSET_INDEX_DOC]) == expected
    # the documented bidRate is index x (1 - bidBuffer)
    bid_rate = 1.9295737 * (1 - 0.1)
    assert float(ASSET_INDEX_DOC["bidRate"]) == pytest.approx(bid_rate, rel=1e-8)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"symbol": "ADAUSDT"}, r"^assetIndex \[0\]\.symbol: not an asset against USD"),
        ({"bidBuffer": "1.5"}, r"^assetIndex \[0\]\.bidBuffer: must be below 1"),
        ({"index": "0"}, r"^assetIndex \[0\]\.index"),
    ],
)
def test_asset_index_errors_name_the_field(change: dict[str, str], message: str) -> None:
    with pytest.raises(FrameError, match=message):
        parse_asset_index([{**ASSET_INDEX_DOC, **change}])
    with pytest.raises(FrameError, match="listed twice"):
        parse_asset_index([ASSET_INDEX_DOC, ASSET_INDEX_DOC])


def test_multi_assets_snapshot_values_the_other_assets_as_collateral() -> None:
    account = load("rest.account.v3.observed.json")
    rows = load("rest.positionRisk.v3.observed.json")
    common: dict[str, Any] = {
        "venue": "binanceusdm",
        "account": "main",
        "symbols": {**SYMBOLS, "USDCUSDT": "USDC/USDT:USDT"},
        "version": "v3",
        "received_ms": 5,
    }
    index = {"USDC": AssetIndex(0.9998, 0.0), "BTC": AssetIndex(60_000.0, 0.05)}
    event = parse_account_snapshot(account, rows, **common, multi_assets=True, asset_index=index)
    assert event.cross_wallet_balance == float(_asset(account, "USDT")["crossWalletBalance"])
    # USDC has a perpetual against USDT: its mark prices it from now on
    assert event.collateral == (Collateral("USDC", 22.0, 0.9998, 0.0, "USDC/USDT:USDT"),)
    assert parse_account_snapshot(account, rows, **common).collateral == ()  # mode unknown: USDT only
    with pytest.raises(ValueError, match="holds USDC without an assetIndex price"):
        parse_account_snapshot(account, rows, **common, multi_assets=True, asset_index={})


def test_v2_account_states_its_own_mode() -> None:
    raw = load("rest.account.v2.single-asset.documented.json")
    totals = parse_account_v3(raw, multi_assets=True)  # the body's multiAssetsMargin: false wins
    assert totals.multi_assets is False
    assert totals.cross_wallet_balance == float(_asset(raw, "USDT")["crossWalletBalance"])


def test_account_without_the_asset_is_an_error() -> None:
    with pytest.raises(FrameError, match=r"^account assets: no BNB asset$"):
        parse_account_v3(load("rest.account.v3.observed.json"), asset="BNB")


def test_account_field_errors_name_the_path() -> None:
    raw = load("rest.account.v3.observed.json")
    _asset(raw, "USDT")["crossWalletBalance"] = "Infinity"
    with pytest.raises(FrameError, match=r"^account assets\[1\]\.crossWalletBalance: not a decimal"):
        parse_account_v3(raw)


def test_coinm_account_reads_the_coin_row() -> None:
    # No captured /dapi/v1/account body is in the fixture set; its asset rows use the same field names
    # as the USD-M rows, so a USD-M row renamed to BTC stands in for one.
    row = dict(_asset(load("rest.account.v3.observed.json"), "USDT"), asset="BTC")
    totals = parse_account_coinm({"assets": [row]}, asset="BTC")
    assert totals == AccountTotals(
        cross_wallet_balance=float(row["crossWalletBalance"]),
        total_maint_margin=float(row["maintMargin"]),
        total_margin_balance=float(row["marginBalance"]),
        multi_assets=False,
    )


def test_mode_settings() -> None:
    assert parse_multi_assets_margin(load("rest.multiAssetsMargin.documented.json")) is True
    assert parse_position_side_dual(load("rest.positionSide-dual.documented.json")) is True
    with pytest.raises(FrameError, match=r"^positionSide dualSidePosition: not a boolean: 'true'$"):
        parse_position_side_dual({"dualSidePosition": "true"})


def test_symbol_config_margin_types() -> None:
    # Shape per the symbolConfig docs (marginType "CROSSED"/"ISOLATED"); no capture in the fixture set.
    body = [
        {"symbol": "BTCUSDT", "marginType": "CROSSED", "isAutoAddMargin": False, "leverage": 21},
        {"symbol": "COMPUSDT", "marginType": "ISOLATED", "isAutoAddMargin": False, "leverage": 5},
        {"symbol": "NEWUSDT", "marginType": "ISOLATED", "isAutoAddMargin": False, "leverage": 5},
    ]
    modes, leverages = parse_symbol_config(body, symbols=SYMBOLS)
    assert modes == {"BTC/USDT:USDT": MarginMode.CROSS, "COMP/USDT:USDT": MarginMode.ISOLATED}
    assert leverages == {"BTC/USDT:USDT": 21.0, "COMP/USDT:USDT": 5.0}
    body[0]["leverage"] = 0
    with pytest.raises(FrameError, match=r"^symbolConfig \[0\]\.leverage: must be positive"):
        parse_symbol_config(body, symbols=SYMBOLS)


def test_v3_leverage_from_symbol_config() -> None:
    raw = load("rest.positionRisk.v3.hedge.documented.json")
    ada, comp = positions(raw, "v3", leverages={"ADA/USDT:USDT": 20.0})
    assert (ada.leverage, comp.leverage) == (20.0, None)
    # A row's own leverage (v2, COIN-M) wins over the settings.
    (row,) = load("rest.positionRisk.v2.oneway.documented.json")
    (position,) = positions([row], "v2", leverages={"BTC/USDT:USDT": 99.0})
    assert position.leverage == float(row["leverage"])


# --- snapshot ----------------------------------------------------------------------------------------


def test_snapshot_v3() -> None:
    account = load("rest.account.v3.observed.json")
    rows = load("rest.positionRisk.v3.observed.json")
    event = parse_account_snapshot(
        account, rows, venue="binanceusdm", account="main", symbols=SYMBOLS, version="v3", received_ms=5
    )
    assert event == AccountSnapshotEvent(
        venue="binanceusdm",
        account="main",
        cross_wallet_balance=float(_asset(account, "USDT")["crossWalletBalance"]),
        positions=positions(rows, "v3"),
        received_ms=5,
        hedge_mode=None,
        multi_assets=None,
        total_maint_margin=float(account["totalMaintMargin"]),
        total_margin_balance=float(account["totalMarginBalance"]),
    )


def test_snapshot_infers_hedge_mode_from_legs_and_honours_given_values() -> None:
    account = load("rest.account.v3.single-asset.documented.json")
    rows = load("rest.positionRisk.v3.hedge.documented.json")
    common: dict[str, Any] = {
        "venue": "binanceusdm",
        "account": "main",
        "symbols": SYMBOLS,
        "version": "v3",
        "received_ms": 5,
    }
    assert parse_account_snapshot(account, rows, **common).hedge_mode is True
    event = parse_account_snapshot(account, rows, **common, hedge_mode=False, multi_assets=False)
    assert event.hedge_mode is False
    assert event.multi_assets is False
    assert event.cross_wallet_balance == float(_asset(account, "USDT")["crossWalletBalance"])


COINM: dict[str, Any] = {
    "venue": "binancecoinm",
    "account": "main",
    "symbols": SYMBOLS,
    "version": "coinm",
    "received_ms": 5,
}


def _coinm_account(*coins: str) -> dict[str, Any]:
    # USD-M asset rows stand in for COIN-M ones, as in test_coinm_account_reads_the_coin_row.
    usdt = _asset(load("rest.account.v3.observed.json"), "USDT")
    rows = [dict(usdt, asset=coin, crossWalletBalance=f"{i + 1}.5") for i, coin in enumerate(coins)]
    return {"assets": rows}


def test_snapshot_coinm_uses_the_given_coin() -> None:
    rows = load("coinm.rest.positionRisk.observed.json")
    event = parse_account_snapshot(_coinm_account("ETH", "BTC"), rows, **COINM, asset="ETH")
    assert event.cross_wallet_balance == 1.5
    assert event.positions == positions(rows, "coinm")
    assert event.multi_assets is False


def test_snapshot_coinm_infers_the_coin_of_the_open_positions() -> None:
    rows = load("coinm.rest.positionRisk.observed.json")  # one open BTCUSD_PERP, one flat BCH row
    assert parse_account_snapshot(_coinm_account("ETH", "BTC"), rows, **COINM).cross_wallet_balance == 2.5


def test_snapshot_coinm_refuses_to_guess_between_pools() -> None:
    rows = load("coinm.rest.positionRisk.observed.json")
    rows[1]["positionAmt"] = "1"
    rows[1]["markPrice"] = rows[1]["entryPrice"] = "300"
    with pytest.raises(ValueError, match=r"COIN-M positions in BCH, BTC: one account watches one coin"):
        parse_account_snapshot(_coinm_account("BTC", "BCH"), rows, **COINM)


def test_snapshot_coinm_without_open_positions_reads_the_last_pools_coin() -> None:
    """No open position names the pool: the coin that backed the last ones does; with none known
    there is nothing at risk, and the wallet is 0 rather than a refusal that stops every resync."""
    rows = [load("coinm.rest.positionRisk.observed.json")[1]]  # only the flat row
    body = _coinm_account("BTC", "BCH")
    assert parse_account_snapshot(body, rows, **COINM, pool_coin="BCH").cross_wallet_balance == 2.5
    assert parse_account_snapshot(body, rows, **COINM).cross_wallet_balance == 0.0


@pytest.mark.parametrize(
    ("symbol", "coin"),
    [("BTC/USDT:USDT", "USDT"), ("BTC/USD:BTC", "BTC"), ("BCH/USD:BCH-241227", "BCH")],
)
def test_settle_asset(symbol: str, coin: str) -> None:
    assert settle_asset(symbol) == coin


# --- leverage brackets -------------------------------------------------------------------------------


def brackets(body: object, *, coin_margined: bool) -> Any:
    return parse_leverage_brackets(
        body, venue="binanceusdm", account="main", symbols=SYMBOLS, received_ms=3, coin_margined=coin_margined
    )


def _expected_tiers(entry: dict[str, Any], floor_key: str, cap_key: str) -> tuple[Tier, ...]:
    rows = sorted(entry["brackets"], key=lambda b: float(b[floor_key]))
    return tuple(
        Tier(float(b[floor_key]), float(b[cap_key]), float(b["maintMarginRatio"]), float(b["cum"]))
        for b in rows
    )


@pytest.mark.parametrize(
    "name", ["rest.leverageBracket.array.documented.json", "rest.leverageBracket.symbol.documented.json"]
)
def test_usdm_brackets_array_or_object(name: str) -> None:
    raw = load(name)
    entries = raw if isinstance(raw, list) else [raw]
    tables = brackets(raw, coin_margined=False)
    assert [t.symbol for t in tables] == [SYMBOLS[e["symbol"]] for e in entries]
    for table, entry in zip(tables, entries, strict=True):
        assert table.tiers == _expected_tiers(entry, "notionalFloor", "notionalCap")
        assert (table.venue, table.account, table.received_ms) == ("binanceusdm", "main", 3)


def test_usdm_object_and_one_element_array_agree() -> None:
    assert brackets(load("rest.leverageBracket.symbol.documented.json"), coin_margined=False) == brackets(
        load("rest.leverageBracket.array.documented.json"), coin_margined=False
    )


def test_coinm_documented_qtyl_floor_spelling() -> None:
    raw = load("coinm.rest.leverageBracket-v2.documented.json")
    (table,) = brackets(raw, coin_margined=True)
    assert table.tiers == _expected_tiers(raw[0], "qtylFloor", "qtyCap")


def test_coinm_observed_brackets_with_the_2_63_cap() -> None:
    raw = load("coinm.rest.leverageBracket-v2.observed.json")
    (table,) = brackets(raw, coin_margined=True)
    assert table.symbol == "BNB/USD:BNB"
    assert table.tiers == _expected_tiers(raw[0], "qtyFloor", "qtyCap")
    top = table.tiers[-1]
    assert raw[0]["brackets"][-1]["qtyCap"] == 2**63 - 1
    assert math.isfinite(top.cap) and top.cap == float(2**63 - 1)
    validate_tiers(table.tiers)


def test_brackets_are_sorted_by_floor() -> None:
    raw = load("coinm.rest.leverageBracket-v2.observed.json")
    expected = brackets(raw, coin_margined=True)
    random.Random(7).shuffle(raw[0]["brackets"])
    assert brackets(raw, coin_margined=True) == expected


def test_brackets_as_strings_parse_the_same() -> None:
    raw = load("coinm.rest.leverageBracket-v2.observed.json")
    expected = brackets(raw, coin_margined=True)
    for bracket in raw[0]["brackets"]:
        for key, value in bracket.items():
            bracket[key] = str(value)
    assert brackets(raw, coin_margined=True) == expected


def test_disagreeing_floor_spellings_are_an_error() -> None:
    raw = load("coinm.rest.leverageBracket-v2.observed.json")
    raw[0]["brackets"][1]["qtylFloor"] = 1999
    with pytest.raises(FrameError, match=r"^leverageBracket \[0\]\.brackets\[1\]\.qtyFloor: disagrees"):
        brackets(raw, coin_margined=True)


def test_gapped_table_is_refused_with_its_path() -> None:
    raw = load("coinm.rest.leverageBracket-v2.observed.json")
    raw[0]["brackets"][2]["qtyFloor"] = 4500
    with pytest.raises(
        FrameError, match=r"^leverageBracket \[0\]\.brackets: tier 2: floor 4500 does not continue"
    ):
        brackets(raw, coin_margined=True)


@pytest.mark.parametrize(("key", "value"), [("maintMarginRatio", 1.5), ("cum", -1), ("notionalCap", "NaN")])
def test_bad_bracket_values(key: str, value: object) -> None:
    raw = load("rest.leverageBracket.array.documented.json")
    raw[0]["brackets"][0][key] = value
    with pytest.raises(FrameError, match=r"^leverageBracket \[0\]\.brackets"):
        brackets(raw, coin_margined=False)


def test_wrong_margin_family_is_an_error() -> None:
    with pytest.raises(FrameError, match=r"notionalFloor: missing$"):
        brackets(load("coinm.rest.leverageBracket-v2.observed.json"), coin_margined=False)


def test_unknown_symbols_are_skipped_and_repeats_refused() -> None:
    raw = load("rest.leverageBracket.array.documented.json")
    other = dict(raw[0], symbol="NEWUSDT")
    assert [t.symbol for t in brackets([other, *raw], coin_margined=False)] == ["ETH/USDT:USDT"]
    with pytest.raises(FrameError, match="listed twice"):
        brackets([*raw, raw[0]], coin_margined=False)


def test_update_time_is_the_positions_not_the_marks() -> None:
    """A flat row still carries a mark, with ``updateTime`` 0: the time says when the position last
    changed, so it only bounds the mark's age from below. A body without it gives 0 (unknown)."""
    flat = load("rest.positionRisk.v2.hedge.documented.json")[1]
    assert float(flat["markPrice"]) > 0 and flat["updateTime"] == 0
    assert positions([flat], "v2")[0].update_ms == 0
    row = load("rest.positionRisk.v3.observed.json")[0]
    del row["updateTime"]
    assert positions([row], "v3")[0].update_ms == 0
    row["updateTime"] = -1
    with pytest.raises(FrameError, match=r"positionRisk \[0\]\.updateTime: timestamp out of range"):
        positions([row], "v3")
