"""Hyperliquid's raw bodies and frames -> :mod:`monitor.events` values. Pure functions; the shapes are
those of ``tests/venues/fixtures/hyperliquid/`` (venues note, section 2).

What is read, and why:
- Marks are the asset contexts' ``markPx`` (``activeAssetCtx`` per coin, ``metaAndAssetCtxs`` at
  once). A context carries no coin name: in ``metaAndAssetCtxs`` context *i* is ``universe[i]``.
  ``allMids`` are mids, never marks, and are not read.
- ``clearinghouseState`` (REST and WebSocket) is a full snapshot: a closed position is not listed
  (never ``szi`` "0"), so every snapshot replaces the account's positions. An isolated position's
  wallet is ``rawUsd + szi x entryPx`` (``rawUsd`` is its margin net of the entry's notional); the
  cross wallet is ``crossMarginSummary.accountValue`` less the cross positions' unrealised PnL, so that
  wallet plus PnL at any mark is Hyperliquid's account value (``accountValue = totalRawUsd + Σ szi x
  mark``). ``liquidationPx`` ``null`` is "none". ``time``, ``maxLeverage``, ``leverage.value`` are
  numbers on the wire and strings in some recordings: both are read.
- A fill's ``liquidation {liquidatedUser, ...}`` is on both sides of a liquidation trade: it is this
  account's liquidation only when ``liquidatedUser`` is the watched address (older fills carry
  ``liquidationMarkPx`` instead, on the liquidated side).
- Builder-deployed (HIP-3) markets, ``dex:COIN``, are refused by name.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from monitor.events import OrderKind, OrderUpdate, PositionState
from monitor.margin.rules import hyperliquid_tiers
from monitor.model import MarginMode, PositionSide, Tier
from monitor.venues.base import OrderResult
from monitor.venues.wire import FrameError, Obj, excerpt, index_path, parse_ms, refuse_repeats

MAX_ROWS = 2000
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
# ids below this name a single-tier table whose max leverage is the id (docs "Margin tiers")
FIRST_TIERED_TABLE = 50
# significant figures a perpetual's price may have, and its decimals: at most 6 - szDecimals
PRICE_FIGURES = 5
PRICE_DECIMALS = 6

__all__ = ["Coin", "FrameError", "Snapshot", "UnsupportedAccount"]


class UnsupportedAccount(ValueError):
    """An account the monitor refuses to watch, and why (named in the start-up report)."""


class HlObj(Obj):
    """Hyperliquid's spellings: integers sent as numbers (or as strings in some recordings)."""

    __slots__ = ()

    def integer(self, key: str) -> int:
        value = self.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit() and len(value) <= 20:
            return int(value)
        raise self.error(key, "not an integer", value)

    def address(self, key: str) -> str:
        """An EVM address, ``0x`` and 40 hex digits, lower-cased."""
        value = self.get(key)
        if not (isinstance(value, str) and _ADDRESS.fullmatch(value)):
            raise self.error(key, "not an address", value)
        return value.lower()

    def coin(self, key: str) -> str:
        value = self.symbol_id(key)
        if ":" in value:
            raise UnsupportedAccount(
                f"{value} is on a builder-deployed (HIP-3) dex: Hyperliquid HIP-3 markets are not "
                "supported (separate clearinghouse per dex, other collateral tokens)"
            )
        return value


@dataclass(frozen=True, slots=True)
class Coin:
    """One perpetual of the first dex: its name, asset index (its place in ``universe``), size
    decimals, maximum leverage and maintenance tiers."""

    name: str
    index: int
    sz_decimals: int
    max_leverage: int
    tiers: tuple[Tier, ...]


def parse_meta(body: object, source: str = "meta") -> tuple[Coin, ...]:
    """``{"type": "meta"}``: the universe with each market's margin table as tiers."""
    top = HlObj(body, source=source, path="")
    tables: dict[int, tuple[Tier, ...]] = {}
    if top.has("marginTables"):
        for i, raw in enumerate(top.array("marginTables", max_len=MAX_ROWS)):
            path = index_path("marginTables", i)
            if not isinstance(raw, list) or len(raw) != 2 or not isinstance(raw[0], int):
                raise FrameError(source, path, "not an [id, table] pair", excerpt(raw))
            table = HlObj(raw[1], source=source, path=index_path(path, 1))
            rows = []
            for j, t in enumerate(table.array("marginTiers", max_len=64)):
                tier = HlObj(t, source=source, path=index_path(table.at("marginTiers"), j))
                rows.append((tier.decimal("lowerBound"), float(tier.integer("maxLeverage"))))
            try:
                tables[raw[0]] = hyperliquid_tiers(rows)
            except ValueError as exc:
                raise FrameError(source, path, str(exc)) from None
    coins = []
    for i, raw in enumerate(top.array("universe", max_len=MAX_ROWS)):
        u = HlObj(raw, source=source, path=index_path("universe", i))
        name = u.symbol_id("name")
        max_lev = u.integer("maxLeverage")
        if max_lev <= 0:
            raise u.error("maxLeverage", "must be positive", max_lev)
        table_id = u.integer("marginTableId") if u.has("marginTableId") else None
        if table_id is None or table_id < FIRST_TIERED_TABLE:
            tiers = hyperliquid_tiers([(0.0, float(table_id or max_lev))])
        elif table_id in tables:
            tiers = tables[table_id]
        else:
            raise u.error("marginTableId", "names no table in marginTables", table_id)
        coins.append(Coin(name, i, u.integer("szDecimals"), max_lev, tiers))
    return tuple(coins)


def parse_asset_ctxs(body: object, symbols_by_coin: Mapping[str, str]) -> dict[str, float]:
    """``metaAndAssetCtxs``: ``[meta, [ctx, ...]]``, context *i* being ``universe[i]``'s."""
    source = "metaAndAssetCtxs"
    if not isinstance(body, list) or len(body) != 2:
        raise FrameError(source, "", "not a [meta, contexts] pair", excerpt(body))
    universe = HlObj(body[0], source=source, path="[0]").array("universe", max_len=MAX_ROWS)
    ctxs = body[1]
    if not isinstance(ctxs, list) or len(ctxs) != len(universe):
        raise FrameError(source, "[1]", "not one context per universe entry", excerpt(ctxs))
    marks: dict[str, float] = {}
    for i, (u, ctx) in enumerate(zip(universe, ctxs, strict=True)):
        name = HlObj(u, source=source, path=f"[0].universe[{i}]").symbol_id("name")
        symbol = symbols_by_coin.get(name)
        if symbol is not None:
            marks[symbol] = HlObj(ctx, source=source, path=f"[1][{i}]").price("markPx")
    return marks


def parse_active_asset_ctx(frame: object, symbols_by_coin: Mapping[str, str]) -> tuple[str, float] | None:
    """An ``activeAssetCtx`` push: (symbol, mark), None for a coin not watched."""
    data = HlObj(frame, source="activeAssetCtx", path="").obj("data")
    symbol = symbols_by_coin.get(data.symbol_id("coin"))
    if symbol is None:
        return None
    return symbol, data.obj("ctx").price("markPx")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One ``clearinghouseState``: the cross wallet (see the module's docstring), every position,
    Hyperliquid's cross maintenance and account value, and its time."""

    cross_wallet: float
    positions: tuple[PositionState, ...]
    cross_maint: float
    account_value: float
    time_ms: int


def parse_clearinghouse_state(
    body: object, symbols_by_coin: Mapping[str, str], source: str = "clearinghouseState"
) -> Snapshot:
    top = HlObj(body, source=source, path="")
    positions: list[PositionState] = []
    cross_pnl = 0.0
    for i, raw in enumerate(top.array("assetPositions", max_len=MAX_ROWS)):
        row = HlObj(raw, source=source, path=index_path("assetPositions", i))
        kind = row.get("type")
        if kind != "oneWay":
            raise row.error("type", "not a one-way position", kind)
        p = row.obj("position")
        coin = p.coin("coin")
        symbol = symbols_by_coin.get(coin)
        if symbol is None:
            raise p.error("coin", "not a market of the first dex's universe", coin)
        szi = p.decimal("szi")
        if szi == 0:
            raise p.error("szi", "a listed position must not be flat", p.get("szi"))
        entry = p.price("entryPx")
        value = p.non_negative("positionValue")
        mark = value / abs(szi)
        lev = p.obj("leverage")
        mode_raw = lev.get("type")
        if mode_raw not in ("cross", "isolated"):
            raise lev.error("type", "not cross or isolated", mode_raw)
        isolated = mode_raw == "isolated"
        pnl = szi * (mark - entry)
        if not isolated:
            cross_pnl += pnl
        liq = p.get("liquidationPx")
        positions.append(
            PositionState(
                symbol,
                PositionSide.BOTH,
                MarginMode.ISOLATED if isolated else MarginMode.CROSS,
                szi,
                entry,
                isolated_wallet=lev.decimal("rawUsd") + szi * entry if isolated else None,
                unrealized_pnl=p.decimal("unrealizedPnl"),
                mark_price=mark if mark > 0 else None,
                liquidation_price=None if liq is None else p.optional_price("liquidationPx"),
                leverage=float(lev.integer("value")),
            )
        )
    refuse_repeats([(p.symbol, p.position_side) for p in positions], source=source, path="assetPositions")
    cross = top.obj("crossMarginSummary")
    value = cross.decimal("accountValue")
    time_ms = parse_ms(top.get("time"), source=source, path="time") if top.has("time") else 0
    return Snapshot(
        value - cross_pnl,
        tuple(positions),
        top.non_negative("crossMaintenanceMarginUsed") if top.has("crossMaintenanceMarginUsed") else 0.0,
        value,
        time_ms,
    )


def parse_ws_clearinghouse_state(frame: object, symbols_by_coin: Mapping[str, str]) -> tuple[str, Snapshot]:
    """A ``clearinghouseState`` push: (the user it is for, lower case, its snapshot)."""
    data = HlObj(frame, source="clearinghouseState", path="").obj("data")
    dex = data.get("dex") if data.has("dex") else ""
    if dex != "":
        raise UnsupportedAccount(f"dex {str(dex)[:20]!r}: Hyperliquid HIP-3 dexes are not supported")
    user = data.address("user")
    state = parse_clearinghouse_state(data.get("clearinghouseState"), symbols_by_coin, "clearinghouseState")
    return user, state


def parse_fills_push(frame: object) -> tuple[str, list[object] | None]:
    """A ``userFills`` push: (its user, lower case; its fills, None for the snapshot sent on
    subscribing, which is history)."""
    data = HlObj(frame, source="userFills", path="").obj("data")
    user = data.address("user")
    if data.has("isSnapshot") and data.get("isSnapshot") is True:
        return user, None
    return user, data.array("fills", max_len=MAX_ROWS)


def parse_user_fills(
    fills: Sequence[object],
    *,
    user: str,
    venue: str,
    account: str,
    symbols_by_coin: Mapping[str, str],
    received_ms: int,
) -> list[OrderUpdate]:
    """Fills as order updates: a liquidation fill of this account as ``OrderKind.LIQUIDATION``, its
    client id ``liq-<oid>`` (every fill of one liquidation order says it once)."""
    out = []
    for i, raw in enumerate(fills):
        f = HlObj(raw, source="userFills", path=index_path("data.fills", i))
        symbol = symbols_by_coin.get(f.coin("coin"))
        if symbol is None:
            continue
        side = f.get("side")
        if side not in ("A", "B"):
            raise f.error("side", "not A or B", side)
        liquidated = False
        if f.has("liquidation") and f.get("liquidation") is not None:
            liq = f.obj("liquidation")
            who = liq.get("liquidatedUser") if liq.has("liquidatedUser") else None
            liquidated = isinstance(who, str) and who.lower() == user.lower()
        elif f.has("liquidationMarkPx") and f.get("liquidationMarkPx") is not None:
            liquidated = True
        oid = f.integer("oid")
        cloid = f.get("cloid") if f.has("cloid") else None
        qty = f.positive("sz")
        price = f.price("px")
        out.append(
            OrderUpdate(
                venue,
                account,
                symbol,
                f"liq-{oid}" if liquidated else (cloid if isinstance(cloid, str) else ""),
                OrderKind.LIQUIDATION if liquidated else OrderKind.NORMAL,
                "buy" if side == "B" else "sell",
                PositionSide.BOTH,
                "LIQUIDATION" if liquidated else "LIMIT",
                "TRADE",
                "FILLED",
                liquidated or str(f.get("dir")).startswith("Close"),
                qty,
                qty,
                price,
                price,
                f.decimal("closedPnl"),
                f.decimal("fee"),
                f.ms("time"),
                received_ms,
                oid,
            )
        )
    return out


# --- orders ------------------------------------------------------------------------------------------
def cloid_of(client_order_id: str) -> str:
    """Hyperliquid's client order id is 16 bytes in hex: the monitor's id hashed, the same every time
    (so the order can be looked up by the id the gateway journalled)."""
    return "0x" + hashlib.sha256(client_order_id.encode()).hexdigest()[:32]


def size_text(amount: float, sz_decimals: int) -> str:
    """A size on the coin's grid (``szDecimals``), rounded down: never more than asked."""
    step = Decimal(1).scaleb(-sz_decimals)
    d = Decimal(repr(amount)).quantize(step, rounding=ROUND_FLOOR)
    return _plain(d)


def ioc_price(mark: float, buy: bool, slippage: float, sz_decimals: int) -> str:
    """The limit of a reduce-only IOC order: the mark moved by ``slippage`` against us (Hyperliquid has
    no market order), with at most 5 significant figures and ``6 - szDecimals`` decimals, rounded
    away from the mark (a buy up, a sell down) so that it still crosses."""
    target = Decimal(repr(mark * (1 + slippage if buy else 1 - slippage)))
    rounding = ROUND_CEILING if buy else ROUND_FLOOR
    if target >= Decimal(10) ** PRICE_FIGURES:
        return _plain(target.quantize(Decimal(1), rounding=rounding))
    figures = PRICE_FIGURES - 1 - math.floor(math.log10(float(target)))
    decimals = min(figures, PRICE_DECIMALS - sz_decimals)
    return _plain(target.quantize(Decimal(1).scaleb(-decimals), rounding=rounding))


def _plain(d: Decimal) -> str:
    text = format(d.normalize(), "f")
    return text


def order_result(body: object, client_order_id: str) -> OrderResult:
    """The ``/exchange`` reply to one order: its first status (``filled``, ``resting`` or ``error``)."""
    top = HlObj(body, source="order", path="")
    statuses = top.obj("response").obj("data").array("statuses", max_len=MAX_ROWS)
    if not statuses:
        raise FrameError("order", "response.data.statuses", "empty")
    status = statuses[0]
    if isinstance(status, dict) and "filled" in status:
        filled = HlObj(status["filled"], source="order", path="response.data.statuses[0].filled")
        return OrderResult(client_order_id, "filled", filled.decimal("totalSz"), filled.price("avgPx"))
    if isinstance(status, dict) and "resting" in status:
        return OrderResult(client_order_id, "open", 0.0, None)
    if isinstance(status, dict) and "error" in status:
        return OrderResult(client_order_id, "rejected", 0.0, None, str(status["error"])[:200])
    return OrderResult(client_order_id, "unknown", 0.0, None)


_STATUS = {
    "filled": "filled",
    "open": "open",
    "triggered": "open",
    "canceled": "rejected",
    "rejected": "rejected",
    "marginCanceled": "rejected",
    "liquidatedCanceled": "rejected",
}


def order_status_result(body: object, client_order_id: str) -> OrderResult | None:
    """``{"type": "orderStatus"}``: None for ``unknownOid``."""
    top = HlObj(body, source="orderStatus", path="")
    if top.get("status") == "unknownOid":
        return None
    wrapper = top.obj("order")
    order = wrapper.obj("order")
    status = wrapper.get("status")
    orig = order.decimal("origSz")
    left = order.decimal("sz")
    filled = max(0.0, orig - left)
    price = order.decimal("limitPx")
    return OrderResult(
        client_order_id, _STATUS.get(str(status), "unknown"), filled, price if filled > 0 else None
    )


def role_of(body: object) -> tuple[str, str | None]:
    """``{"type": "userRole"}``: the role (``user``, ``agent``, ``vault``, ``subAccount``, ``missing``)
    and, for an agent, the address it signs for."""
    top = HlObj(body, source="userRole", path="")
    role = top.get("role")
    if not isinstance(role, str):
        raise top.error("role", "not a string", role)
    master = None
    if role == "agent" and top.has("data"):
        user = top.obj("data").get("user")
        master = user if isinstance(user, str) else None
    return role, master


def refuse_unsupported(
    account: str, address: str, role: str, master: str | None, abstraction: object
) -> None:
    """Raise ``UnsupportedAccount`` for an agent wallet configured as the watched account and for
    unified / portfolio-margin accounts, naming the account and saying why."""
    if role == "agent":
        raise UnsupportedAccount(
            f"account {account}: {address} is an API (agent) wallet"
            + (f" of {master}" if master else "")
            + "; it holds nothing and its state reads empty. Configure the master or sub-account "
            "address to watch, and the agent's key only to act"
        )
    # the reply is a JSON string; ccxt hands it over with its quotes
    abstraction = str(abstraction).strip('"')
    if abstraction in ("unifiedAccount", "portfolioMargin"):
        raise UnsupportedAccount(
            f"account {account}: Hyperliquid {abstraction} accounts are not supported: perp account "
            "value is not the account's collateral (spot balances margin it; no published formula)"
        )


def dex_names(body: object) -> list[str]:
    """``{"type": "perpDexs"}``: the builder-deployed dexes' names (the first dex is ``null``)."""
    if not isinstance(body, list):
        raise FrameError("perpDexs", "", "not an array", excerpt(body))
    names = []
    for i, raw in enumerate(body[:MAX_ROWS]):
        if raw is not None:
            names.append(HlObj(raw, source="perpDexs", path=f"[{i}]").symbol_id("name"))
    return names


def refuse_dex_positions(account: str, dex: str, body: object) -> None:
    """Raise ``UnsupportedAccount`` when the account holds positions on builder-deployed dex ``dex``,
    naming it and them: they have their own clearinghouse and collateral the monitor does not watch,
    and watching the rest alone would read as watching everything."""
    rows = HlObj(body, source="clearinghouseState", path="").array("assetPositions", max_len=MAX_ROWS)
    coins = sorted(
        str(HlObj(r, source="clearinghouseState", path="").obj("position").get("coin")) for r in rows
    )
    if coins:
        raise UnsupportedAccount(
            f"account {account}: it holds {', '.join(coins)} on the HIP-3 dex {dex}: Hyperliquid HIP-3 "
            "dexes are not supported (a clearinghouse and collateral of their own)"
        )


def coins_by_name(coins: Sequence[Coin]) -> dict[str, Coin]:
    return {c.name: c for c in coins}
