"""Binance USD-M / COIN-M REST bodies -> ``monitor.events`` (public API: ``parse``).

The resync path: ``positionRisk`` + ``account`` become an ``AccountSnapshotEvent`` that replaces what
the engine holds for an account; ``leverageBracket`` becomes ``TierTable`` values; ``premiumIndex``
becomes ``MarkPrices``. The symbol policy is the one described in ``streams``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

from monitor.events import AccountSnapshotEvent, MarkPrices, PositionState, TierTable
from monitor.margin.tiers import TierError, validate_tiers
from monitor.model import Collateral, MarginMode, PositionSide, Tier
from monitor.venues.binance.fields import Obj, check_side_sign, entry_price, lookup_symbol, position_symbol
from monitor.venues.binance.streams import Mark, collect_marks
from monitor.venues.wire import MAX_MAGNITUDE, FrameError, index_path, parse_array, refuse_repeats

PositionRiskVersion = Literal["v2", "v3", "coinm"]

MAX_ROWS = 10_000
"""Rows accepted in one REST list. v2 positionRisk lists every symbol, up to three legs each."""

MAX_TIERS = 100
"""Brackets accepted per symbol; real tables have 10-20."""

_ISOLATED_WALLET_SLACK = 1e-8
"""``isolatedMargin - unRealizedProfit`` may land a rounding step below zero on a zero wallet."""


# --- premiumIndex ------------------------------------------------------------------------------------


def parse_premium_index(
    body: object,
    *,
    venue: str,
    symbols: Mapping[str, str],
    received_ms: int,
    problems: list[str] | None = None,
) -> MarkPrices:
    """GET /fapi/v1/premiumIndex (an object with ``symbol=``, an array without).

    Same rules as ``parse_mark_prices``: the prices of valid, known elements; ``FrameError`` when no
    element is well formed; ``event_ms`` is the oldest ``time``. Skipped elements are appended to
    ``problems`` when a list is given (a REST poll has no per-frame log line of its own)."""
    marks, found = collect_marks(
        body,
        path="",
        source="premiumIndex",
        venue=venue,
        symbols=symbols,
        received_ms=received_ms,
        read=_premium_index_row,
    )
    if problems is not None:
        problems.extend(found)
    return marks


def _premium_index_row(row: Obj, symbols: Mapping[str, str]) -> Mark:
    market_id = row.symbol_id("symbol")
    price, event_ms = row.price("markPrice"), row.ms("time")
    return Mark(market_id, lookup_symbol(symbols, market_id), price, event_ms, "symbol")


# --- positionRisk ------------------------------------------------------------------------------------


def parse_position_risk(
    rows: object,
    *,
    symbols: Mapping[str, str],
    version: PositionRiskVersion,
    margin_modes: Mapping[str, MarginMode] | None = None,
    leverages: Mapping[str, float] | None = None,
) -> tuple[PositionState, ...]:
    """GET /fapi/v2/positionRisk, /fapi/v3/positionRisk or /dapi/v1/positionRisk (``coinm``).

    Flat rows (amount 0) of known symbols are kept: they tell the engine a leg is closed. Flat rows of
    unknown symbols are dropped (v2 lists every symbol).

    Margin mode, in order: the row's ``marginType`` (v2, COIN-M); for v3, which has none, a non-zero
    ``isolatedWallet`` (only isolated positions hold one), then ``margin_modes`` (from
    ``parse_symbol_config``, keyed by unified symbol), then cross. A flat isolated row may therefore
    come out cross; it carries no risk either way.

    ``isolated_wallet`` is set for isolated legs only: ``isolatedWallet``, or ``isolatedMargin -
    unRealizedProfit`` where a reply lacks it (the COIN-M docs example). ``maint_margin`` is v3's
    ``maintMargin`` (already net of ``cum``). ``leverage`` is the row's (v2, COIN-M), else
    ``leverages`` (symbolConfig, keyed by unified symbol), else ``None``. ``update_ms`` is the row's
    ``updateTime`` (0 on a flat row, and when absent): when the position last changed, not when its
    ``markPrice`` was valued (a flat row has both a mark and ``updateTime`` 0).
    """
    if version not in ("v2", "v3", "coinm"):
        raise ValueError(f"unknown positionRisk version {version!r}")
    source = "positionRisk"
    positions: list[PositionState] = []
    for i, raw in enumerate(parse_array(rows, source=source, path="", max_len=MAX_ROWS)):
        row = Obj(raw, source=source, path=index_path("", i))
        position = _position_row(row, symbols, version, margin_modes or {}, leverages or {})
        if position is not None:
            positions.append(position)
    refuse_repeats([(p.symbol, p.position_side) for p in positions], source=source, path="")
    return tuple(positions)


def _position_row(
    row: Obj,
    symbols: Mapping[str, str],
    version: PositionRiskVersion,
    margin_modes: Mapping[str, MarginMode],
    leverages: Mapping[str, float],
) -> PositionState | None:
    amount = row.decimal("positionAmt")
    side = row.position_side("positionSide")
    check_side_sign(side, amount, source=row.source, path=row.at("positionAmt"), raw=row.get("positionAmt"))
    symbol = position_symbol(row, "symbol", amount, symbols)
    if symbol is None:
        return None
    upnl = row.decimal("unRealizedProfit")
    stated_wallet = row.non_negative("isolatedWallet") if row.has("isolatedWallet") else None
    if row.has("marginType") or version != "v3":
        mode = row.margin_mode("marginType")
    elif stated_wallet is not None and stated_wallet > 0:
        mode = MarginMode.ISOLATED
    else:
        mode = margin_modes.get(symbol, MarginMode.CROSS)
    wallet: float | None = None
    if mode is MarginMode.ISOLATED:
        wallet = stated_wallet if stated_wallet is not None else _wallet_from_margin(row, upnl)
        if wallet is None and amount != 0:
            raise FrameError(
                row.source, row.path, "isolated position without isolatedWallet or isolatedMargin"
            )
    return PositionState(
        symbol=symbol,
        position_side=side,
        margin_mode=mode,
        amount=amount,
        entry_price=entry_price(row, "entryPrice", amount),
        isolated_wallet=wallet,
        unrealized_pnl=upnl,
        mark_price=_mark(row, amount),
        liquidation_price=row.optional_price("liquidationPrice"),
        maint_margin=row.non_negative("maintMargin") if version == "v3" or row.has("maintMargin") else None,
        leverage=row.positive("leverage") if row.has("leverage") else leverages.get(symbol),
        update_ms=row.ms("updateTime", allow_zero=True) if row.has("updateTime") else 0,
    )


def _mark(row: Obj, amount: float) -> float | None:
    """Mark price; a flat COIN-M row reports "0.00000000", an open position must have one."""
    mark = row.optional_price("markPrice")
    if mark is None and amount != 0:
        raise row.error("markPrice", "open position without a mark price", row.get("markPrice"))
    return mark


def _wallet_from_margin(row: Obj, upnl: float) -> float | None:
    """``isolatedMargin`` includes unrealised PnL: the wallet is ``isolatedMargin - unRealizedProfit``."""
    if not row.has("isolatedMargin"):
        return None
    raw = row.get("isolatedMargin")
    wallet = row.decimal("isolatedMargin") - upnl
    if wallet < -_ISOLATED_WALLET_SLACK:
        raise row.error("isolatedMargin", "implies a negative isolated wallet", raw)
    if wallet > MAX_MAGNITUDE:
        raise row.error("isolatedMargin", "implies an isolated wallet out of range", raw)
    return max(wallet, 0.0)


# --- account -----------------------------------------------------------------------------------------


class AccountTotals(NamedTuple):
    """The account figures a snapshot needs, named after the Binance fields they come from."""

    cross_wallet_balance: float
    total_maint_margin: float
    total_margin_balance: float
    multi_assets: bool | None
    # Multi-Assets mode: every other asset's ``crossWalletBalance``, in its own units
    other_assets: tuple[tuple[str, float], ...] = ()


def parse_account_v3(body: object, *, asset: str = "USDT", multi_assets: bool | None = None) -> AccountTotals:
    """GET /fapi/v3/account (v2 has the same fields and adds ``multiAssetsMargin``).

    ``cross_wallet_balance`` is the ``asset`` row's ``crossWalletBalance`` (USDT by default), in
    both modes. In Multi-Assets mode the other rows are margin too: ``other_assets`` lists each
    other asset's ``crossWalletBalance`` in its own units (zero rows left out), to be valued at its
    index less its haircut (``parse_asset_index``). The ``total*`` fields are no substitute: they
    are USD sums without the haircuts, and fixed at the moment of the body.

    ``total_maint_margin``/``total_margin_balance`` are ``totalMaintMargin``/``totalMarginBalance``:
    USDT-only in single-asset mode, USD sums in Multi-Assets mode. The mode comes from the body's
    ``multiAssetsMargin`` (v2) or else from ``multi_assets`` (GET /fapi/v1/multiAssetsMargin).
    """
    source = "account"
    account = Obj(body, source=source, path="")
    mode = account.boolean("multiAssetsMargin") if account.has("multiAssetsMargin") else multi_assets
    rows = _asset_rows(account)
    if asset not in rows:
        raise account.error("assets", f"no {asset} asset", show=False)
    others: tuple[tuple[str, float], ...] = ()
    if mode:
        others = tuple(
            (name, amount)
            for name, row in rows.items()
            if name != asset and (amount := row.decimal("crossWalletBalance")) != 0
        )
    return AccountTotals(
        cross_wallet_balance=rows[asset].decimal("crossWalletBalance"),
        total_maint_margin=account.non_negative("totalMaintMargin"),
        total_margin_balance=account.decimal("totalMarginBalance"),
        multi_assets=mode,
        other_assets=others,
    )


class AssetIndex(NamedTuple):
    """One margin asset's value in Multi-Assets mode: ``price``, Binance's ``index`` in USD, and
    ``haircut``, its ``bidBuffer`` (a balance counts at ``index x (1 - bidBuffer)``, the ``bidRate``)."""

    price: float
    haircut: float


def parse_asset_index(body: object) -> dict[str, AssetIndex]:
    """GET /fapi/v1/assetIndex (an array without ``symbol=``, an object with it) -> asset -> index.

    Elements are named by a pair against USD (``BTCUSD``); the asset is the name less ``USD``."""
    source = "assetIndex"
    entries = (
        [("", body)]
        if isinstance(body, Mapping)
        else [
            (index_path("", i), raw)
            for i, raw in enumerate(parse_array(body, source=source, path="", max_len=MAX_ROWS))
        ]
    )
    out: dict[str, AssetIndex] = {}
    for path, raw in entries:
        row = Obj(raw, source=source, path=path)
        pair = row.symbol_id("symbol")
        if not pair.endswith("USD") or len(pair) <= 3:
            raise row.error("symbol", "not an asset against USD", pair)
        asset = pair[:-3]
        if asset in out:
            raise row.error("symbol", "listed twice", pair)
        haircut = row.non_negative("bidBuffer")
        if haircut >= 1:
            raise row.error("bidBuffer", "must be below 1", row.get("bidBuffer"))
        out[asset] = AssetIndex(row.price("index"), haircut)
    return out


def multi_assets_collateral(
    balances: tuple[tuple[str, float], ...],
    index: Mapping[str, AssetIndex],
    symbols: Mapping[str, str],
    *,
    quote: str = "USDT",
) -> tuple[tuple[Collateral, ...], tuple[str, ...]]:
    """The cross pool's other assets as ``Collateral``, and the assets that have no index to be valued
    with (for the caller to refuse: left out, they would understate the pool into false alerts).

    Each is valued at its index less its haircut. An asset with a perpetual against ``quote`` among
    ``symbols`` (market id -> unified symbol; BTC: ``BTCUSDT``) is priced by that perpetual's mark
    from then on, so the pool moves with it between resyncs: the daemon streams every mark, not the
    spot index Binance values collateral with, and the two differ by the perpetual's basis. An
    asset without one (USDC) keeps its index until the next resync. A debt counts at the index in
    full (Binance charges its ``askRate``, a little above)."""
    out: list[Collateral] = []
    missing: list[str] = []
    for asset, amount in balances:
        found = index.get(asset)
        if found is None:
            missing.append(asset)
            continue
        out.append(Collateral(asset, amount, found.price, found.haircut, symbols.get(f"{asset}{quote}")))
    return tuple(out), tuple(missing)


def parse_account_coinm(body: object, *, asset: str) -> AccountTotals:
    """GET /dapi/v1/account: COIN-M has no account totals and no Multi-Assets mode; every coin is its
    own pool. Reads the ``asset`` row's ``crossWalletBalance``, ``maintMargin`` and
    ``marginBalance``, all in that coin."""
    account = Obj(body, source="account", path="")
    row = _asset_rows(account).get(asset)
    if row is None:
        raise account.error("assets", f"no {asset} asset", show=False)
    return AccountTotals(
        cross_wallet_balance=row.decimal("crossWalletBalance"),
        total_maint_margin=row.non_negative("maintMargin"),
        total_margin_balance=row.decimal("marginBalance"),
        multi_assets=False,
    )


def _asset_rows(account: Obj) -> dict[str, Obj]:
    rows: dict[str, Obj] = {}
    for i, raw in enumerate(account.array("assets", max_len=MAX_ROWS)):
        row = Obj(raw, source=account.source, path=index_path(account.at("assets"), i))
        name = row.get("asset")
        if not isinstance(name, str):
            raise row.error("asset", "not an asset name", name)
        if name in rows:
            raise row.error("asset", "asset listed twice", name)
        rows[name] = row
    return rows


def parse_account_snapshot(
    account_body: object,
    position_rows: object,
    *,
    venue: str,
    account: str,
    symbols: Mapping[str, str],
    version: PositionRiskVersion,
    received_ms: int,
    hedge_mode: bool | None = None,
    margin_modes: Mapping[str, MarginMode] | None = None,
    leverages: Mapping[str, float] | None = None,
    asset: str | None = None,
    multi_assets: bool | None = None,
    asset_index: Mapping[str, AssetIndex] | None = None,
    pool_coin: str | None = None,
) -> AccountSnapshotEvent:
    """A full resync: the account body (v2/v3 for USD-M, /dapi/v1/account for ``coinm``) and the
    positionRisk rows of the same moment.

    ``asset`` is the settlement asset of the cross pool: ``USDT`` by default for USD-M. COIN-M keeps
    one pool per coin; without ``asset`` the coin is taken from the open positions' settle currency
    (``BTC/USD:BTC`` -> ``BTC``); with none open, from ``pool_coin`` (the coin that backed the last
    ones), else the pool's wallet is 0 (nothing is at risk); a ``ValueError`` names the coins when
    positions are open in two.
    ``hedge_mode`` comes from GET positionSide/dual (``parse_position_side_dual``); when not given it
    is ``True`` if a row is a LONG/SHORT leg and otherwise left unknown, since v3 lists only open
    symbols.

    In Multi-Assets mode (``multi_assets``, or the body's own flag) the other assets' balances
    become the snapshot's ``collateral``, valued with ``asset_index`` (``parse_asset_index``);
    without an index for an asset held, ``ValueError`` names it rather than understate the pool
    silently.
    """
    positions = parse_position_risk(
        position_rows, symbols=symbols, version=version, margin_modes=margin_modes, leverages=leverages
    )
    if version == "coinm":
        coin = asset or _settle_coin(positions) or pool_coin
        # no open position and no coin known: no pool is at risk, so there is no wallet to judge yet
        totals = (
            AccountTotals(0.0, 0.0, 0.0, False)
            if coin is None
            else parse_account_coinm(account_body, asset=coin)
        )
    else:
        totals = parse_account_v3(account_body, asset=asset or "USDT", multi_assets=multi_assets)
    if hedge_mode is None and any(p.position_side is not PositionSide.BOTH for p in positions):
        hedge_mode = True
    collateral: tuple[Collateral, ...] = ()
    if totals.other_assets:
        collateral, missing = multi_assets_collateral(totals.other_assets, asset_index or {}, symbols)
        if missing:
            raise ValueError(f"Multi-Assets account holds {', '.join(missing)} without an assetIndex price")
    return AccountSnapshotEvent(
        venue=venue,
        account=account,
        cross_wallet_balance=totals.cross_wallet_balance,
        positions=positions,
        received_ms=received_ms,
        hedge_mode=hedge_mode,
        multi_assets=totals.multi_assets,
        total_maint_margin=totals.total_maint_margin,
        total_margin_balance=totals.total_margin_balance,
        collateral=collateral,
    )


def settle_asset(symbol: str) -> str:
    """The settlement currency of a ccxt unified derivative symbol: ``BTC/USD:BTC-241227`` -> ``BTC``."""
    return symbol.rpartition(":")[2].partition("-")[0]


def _settle_coin(positions: tuple[PositionState, ...]) -> str | None:
    """The one coin whose pool backs the open positions; None with no open position. Positions in
    two coins are two pools, which one account of the daemon does not model: refused by name."""
    coins = sorted({settle_asset(p.symbol) for p in positions if p.amount != 0})
    if len(coins) > 1:
        raise ValueError(
            f"COIN-M positions in {', '.join(coins)}: one account watches one coin's pool; "
            "configure one account per coin"
        )
    return coins[0] if coins else None


# --- account settings --------------------------------------------------------------------------------


def parse_symbol_config(
    body: object, *, symbols: Mapping[str, str]
) -> tuple[dict[str, MarginMode], dict[str, float]]:
    """GET /fapi/v1/symbolConfig -> ``(margin_modes, leverages)`` per unified symbol: the two things
    v3 positionRisk lacks. ``marginType`` is spelled ``CROSSED``/``ISOLATED`` here; ``leverage`` is a
    JSON number. Unknown ids are skipped: the list covers every symbol."""
    source = "symbolConfig"
    modes: dict[str, MarginMode] = {}
    leverages: dict[str, float] = {}
    for i, raw in enumerate(parse_array(body, source=source, path="", max_len=MAX_ROWS)):
        row = Obj(raw, source=source, path=index_path("", i))
        symbol = lookup_symbol(symbols, row.symbol_id("symbol"))
        mode = row.margin_mode("marginType")
        leverage = row.positive("leverage")
        if symbol is not None:
            modes[symbol] = mode
            leverages[symbol] = leverage
    return modes, leverages


def parse_multi_assets_margin(body: object) -> bool:
    """GET /fapi/v1/multiAssetsMargin: ``{"multiAssetsMargin": true}``."""
    return Obj(body, source="multiAssetsMargin", path="").boolean("multiAssetsMargin")


def parse_position_side_dual(body: object) -> bool:
    """GET /fapi/v1/positionSide/dual: ``{"dualSidePosition": true}`` means hedge mode."""
    return Obj(body, source="positionSide", path="").boolean("dualSidePosition")


# --- leverage brackets -------------------------------------------------------------------------------


def parse_leverage_brackets(
    body: object,
    *,
    venue: str,
    account: str,
    symbols: Mapping[str, str],
    received_ms: int,
    coin_margined: bool,
) -> tuple[TierTable, ...]:
    """GET /fapi/v1/leverageBracket (USD-M) or /dapi/v2/leverageBracket (``coin_margined``).

    USD-M tiers are ``notionalFloor``/``notionalCap`` in quote notional; COIN-M tiers ``qtyFloor``
    (the docs spell it ``qtylFloor``; both are accepted) / ``qtyCap``. Numbers may be JSON numbers or
    strings. The top cap 9223372036854775807 (2^63-1, "no cap") becomes the finite float 2^63: large
    enough for any position, and still finite for arithmetic and JSON. The body may be one object
    (``symbol=`` on USD-M) or an array; entries of unknown symbols are skipped. Tiers are sorted by
    floor and checked with ``validate_tiers``; a table that fails rejects the whole body.
    """
    source = "leverageBracket"
    entries: list[tuple[str, object]]
    if isinstance(body, Mapping):
        entries = [("", body)]
    else:
        entries = [
            (index_path("", i), raw)
            for i, raw in enumerate(parse_array(body, source=source, path="", max_len=MAX_ROWS))
        ]
    tables: dict[str, TierTable] = {}
    for path, raw in entries:
        entry = Obj(raw, source=source, path=path)
        market_id = entry.symbol_id("symbol")
        symbol = lookup_symbol(symbols, market_id)
        if symbol is None:
            continue
        if symbol in tables:
            raise entry.error("symbol", "listed twice", market_id)
        tiers = _tiers(entry, coin_margined)
        tables[symbol] = TierTable(
            venue=venue, account=account, symbol=symbol, tiers=tiers, received_ms=received_ms
        )
    return tuple(tables.values())


def _tiers(entry: Obj, coin_margined: bool) -> tuple[Tier, ...]:
    brackets = entry.array("brackets", max_len=MAX_TIERS)
    tiers: list[Tier] = []
    for i, raw in enumerate(brackets):
        bracket = Obj(raw, source=entry.source, path=index_path(entry.at("brackets"), i))
        if coin_margined:
            floor = _coinm_floor(bracket)
            cap = bracket.non_negative("qtyCap")
        else:
            floor = bracket.non_negative("notionalFloor")
            cap = bracket.non_negative("notionalCap")
        mmr = bracket.non_negative("maintMarginRatio")
        cum = bracket.non_negative("cum")
        tiers.append(Tier(floor=floor, cap=cap, mmr=mmr, cum=cum))
    tiers.sort(key=lambda t: t.floor)
    try:
        validate_tiers(tiers)
    except TierError as exc:
        raise FrameError(entry.source, entry.at("brackets"), str(exc)) from None
    return tuple(tiers)


def _coinm_floor(bracket: Obj) -> float:
    """``qtyFloor`` on the wire, ``qtylFloor`` in the docs and generated SDKs: accept either, refuse
    two that disagree."""
    spellings = [key for key in ("qtyFloor", "qtylFloor") if bracket.has(key)]
    if not spellings:
        raise FrameError(bracket.source, bracket.at("qtyFloor"), "missing")
    values = {bracket.non_negative(key) for key in spellings}
    if len(values) > 1:
        raise bracket.error("qtyFloor", "disagrees with qtylFloor", bracket.get("qtyFloor"))
    return values.pop()
