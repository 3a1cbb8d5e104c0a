"""The account snapshot: the JSON that ``monitor calc`` reads and that recordings and fixtures use.

Parsing is strict because the numbers decide whether someone is woken at night: every problem is
reported with the JSON path of the value (``$.positions[1].isolated_wallet``) and what is wrong, all at
once, and nothing is guessed. Decimals may be JSON strings or numbers; booleans, NaN and infinities are
refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from monitor.margin.rules import notional, rules_for
from monitor.margin.tiers import TierError, continuity_warnings, tier_index, validate_tiers
from monitor.model import Account, Collateral, MarginMode, Position, PositionSide, Side, Tier, Venue


class SnapshotError(ValueError):
    """Every problem found in a snapshot, each as ``(json_path, message)``."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in self.problems))


def _decimal(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a decimal number or string, got a boolean")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("empty string is not a number")
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"not a decimal number: {value[:40]!r}") from None
        value = number
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


Dec = Annotated[float, BeforeValidator(_decimal), Field(allow_inf_nan=False)]
NonNeg = Annotated[float, BeforeValidator(_decimal), Field(ge=0, allow_inf_nan=False)]
Pos = Annotated[float, BeforeValidator(_decimal), Field(gt=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierIn(_Strict):
    floor: NonNeg
    cap: Pos
    mmr: NonNeg
    cum: Dec = 0.0


class PositionIn(_Strict):
    symbol: str = Field(min_length=1)
    side: Side
    position_side: PositionSide = PositionSide.BOTH
    margin_mode: MarginMode
    contracts: Pos
    contract_size: Pos = 1.0
    inverse: bool | None = None
    entry_price: Pos
    mark_price: Pos
    isolated_wallet: NonNeg | None = None
    leverage: Pos | None = None
    tiers: list[TierIn] = Field(min_length=1)
    exchange_liquidation_price: NonNeg | None = None


class CollateralIn(_Strict):
    asset: str = Field(min_length=1)
    amount: Dec
    price: Pos
    haircut: NonNeg = 0.0
    symbol: str | None = None  # a position's symbol whose mark prices this asset


class SnapshotIn(_Strict):
    venue: Venue
    account: str = ""
    wallet_balance: Dec
    taker_fee: NonNeg = 0.0
    positions: list[PositionIn] = Field(default_factory=list)
    # Multi-Assets mode: non-settlement collateral counted in the cross pool at its haircut value
    collateral: list[CollateralIn] = Field(default_factory=list)
    # recordings may carry the time they were taken; the calculator does not need it
    timestamp: str | int | None = None
    kind: Literal["account_snapshot"] | None = None


def _path(loc: Sequence[int | str]) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def parse_snapshot(data: Any) -> tuple[Account, list[str]]:
    """Validate a decoded snapshot. Returns the account and warnings (tier tables whose maintenance
    amount is discontinuous). Raises ``SnapshotError`` listing every problem."""
    try:
        raw = SnapshotIn.model_validate(data)
    except ValidationError as exc:
        raise SnapshotError(
            [(_path(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors(include_url=False)]
        ) from None

    rules = rules_for(raw.venue)
    problems: list[tuple[str, str]] = []
    warnings: list[str] = []
    positions: list[Position] = []
    seen: dict[tuple[str, PositionSide], int] = {}
    for i, p in enumerate(raw.positions):
        where = f"$.positions[{i}]"
        tiers = tuple(Tier(t.floor, t.cap, t.mmr, t.cum) for t in p.tiers)
        try:
            validate_tiers(tiers)
        except TierError as exc:
            problems.append((f"{where}.tiers", str(exc)))
            continue
        warnings += [f"{where}.tiers: {w}" for w in continuity_warnings(tiers)]
        if p.margin_mode is MarginMode.ISOLATED and p.isolated_wallet is None:
            problems.append((f"{where}.isolated_wallet", "required for an isolated position"))
        if p.margin_mode is MarginMode.CROSS and p.isolated_wallet:
            problems.append((f"{where}.isolated_wallet", "a cross position has no isolated wallet"))
        if p.position_side is not PositionSide.BOTH and p.position_side.value != p.side.value:
            problems.append((f"{where}.position_side", f"a {p.position_side} leg cannot be {p.side}"))
        key = (p.symbol, p.position_side)
        if key in seen:
            problems.append((where, f"duplicates positions[{seen[key]}] ({p.symbol} {p.position_side})"))
        seen[key] = i
        position = Position(
            symbol=p.symbol,
            side=p.side,
            margin_mode=p.margin_mode,
            contracts=p.contracts,
            entry_price=p.entry_price,
            mark_price=p.mark_price,
            tiers=tiers,
            contract_size=p.contract_size,
            inverse=rules.inverse_default if p.inverse is None else p.inverse,
            position_side=p.position_side,
            isolated_wallet=p.isolated_wallet,
            leverage=p.leverage,
            exchange_liquidation_price=p.exchange_liquidation_price or None,
        )
        value = rules.tier_value(position, position.mark_price)
        try:
            tier_index(tiers, value)
        except TierError:
            size = f"{value:.10g} (notional {notional(position, position.mark_price):.10g})"
            problems.append((f"{where}.tiers", f"do not cover the position's size {size} at mark"))
        positions.append(position)
    symbols_both = {p.symbol for p in raw.positions if p.position_side is PositionSide.BOTH}
    for i, p in enumerate(raw.positions):
        if p.position_side is not PositionSide.BOTH and p.symbol in symbols_both:
            problems.append((f"$.positions[{i}].position_side", f"{p.symbol} mixes one-way and hedge legs"))
    held = {p.symbol for p in raw.positions}
    for i, c in enumerate(raw.collateral):
        if c.haircut >= 1:
            problems.append((f"$.collateral[{i}].haircut", "must be below 1"))
        if c.symbol is not None and c.symbol not in held:
            problems.append((f"$.collateral[{i}].symbol", f"no position in {c.symbol} prices this asset"))
    if problems:
        raise SnapshotError(problems)
    collateral = tuple(Collateral(c.asset, c.amount, c.price, c.haircut, c.symbol) for c in raw.collateral)
    account = Account(raw.venue, raw.wallet_balance, tuple(positions), raw.account, raw.taker_fee, collateral)
    return account, warnings


def load_snapshot(text: str) -> tuple[Account, list[str]]:
    """Parse JSON text; a syntax error is reported with its line and column."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotError(
            [("$", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")]
        ) from None
    return parse_snapshot(data)
