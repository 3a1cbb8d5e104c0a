"""Contract specifications of the simulated Binance USD-M market.

A ``SymbolSpec`` is everything the simulator knows about one perpetual: its exchange filters (what
``exchangeInfo`` publishes), its leverage brackets (what ``leverageBracket`` publishes and what the
ledger's maintenance margin uses), and how its price behaves in the random walk. Both the ledger and
the market read these; neither owns them.

Tier tables are written as Binance publishes them (floor, cap, maintenance rate, initial leverage) and
the ``cum`` column is derived with Binance's recurrence, so maintenance margin is continuous in notional
the way the real tables are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from monitor.margin.tiers import cumulative_amount, validate_tiers
from monitor.model import Tier


@dataclass(frozen=True, slots=True)
class Bracket:
    """One leverage bracket: a maintenance tier plus the highest leverage allowed inside it."""

    tier: Tier
    initial_leverage: int


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One USD-M perpetual. Wire-format fields (tick, step, quantities) are kept as the decimal strings
    Binance sends, so ``exchangeInfo`` reproduces them byte for byte."""

    symbol: str
    base: str
    brackets: tuple[Bracket, ...]
    start_price: float
    quote: str = "USDT"
    price_precision: int = 2
    quantity_precision: int = 3
    tick_size: str = "0.01"
    step_size: str = "0.001"
    min_qty: str = "0.001"
    max_qty: str = "1000"
    market_max_qty: str = "1000"
    min_notional: float = 5.0
    liquidation_fee: float = 0.0125
    volatility: float = 0.0004
    beta: float = 1.0
    onboard_ms: int = 1569398400000
    # An inverse (coin-margined) contract: ``contract_size`` USD of face value per contract, settled,
    # margined and tiered in the base coin (Binance COIN-M). A linear one trades base units for quote.
    inverse: bool = False
    contract_size: float = 1.0
    tiers: tuple[Tier, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One tuple per spec, built once: the tier lookup caches its floors by the table's identity.
        object.__setattr__(self, "tiers", tuple(b.tier for b in self.brackets))

    @property
    def step(self) -> float:
        return float(self.step_size)

    @property
    def margin_asset(self) -> str:
        """The asset the contract settles in and its pool is kept in: the coin for inverse contracts."""
        return self.base if self.inverse else self.quote

    def value(self, amount: float, price: float) -> float:
        """The signed value of ``amount`` contracts at ``price`` in the margin asset (notional):
        ``amount * price`` linear, ``amount * contract_size / price`` inverse (coin)."""
        if self.inverse:
            return amount * self.contract_size / price
        return amount * price

    def pnl(self, amount: float, entry: float, price: float) -> float:
        """Unrealised PnL of a signed ``amount`` opened at ``entry``, at ``price``, in the margin
        asset: ``amount * (price - entry)`` linear, ``amount * CS * (1/entry - 1/price)`` inverse."""
        if not amount:
            return 0.0
        if self.inverse:
            return amount * self.contract_size * (1.0 / entry - 1.0 / price)
        return amount * (price - entry)

    def average_entry(self, size: float, entry: float, added: float, price: float) -> float:
        """Entry price after adding ``added`` contracts at ``price`` to ``size`` at ``entry``: the
        quantity-weighted mean (linear), the harmonic one (inverse: the coin value is what adds up)."""
        if self.inverse:
            return (size + added) / (size / entry + added / price) if size else price
        return (size * entry + added * price) / (size + added)

    def max_notional_for_leverage(self, leverage: int) -> float:
        """The largest position notional allowed at ``leverage``: the cap of the last bracket whose
        initial leverage is at least the one asked for (Binance ``maxNotionalValue``)."""
        best = 0.0
        for b in self.brackets:
            if b.initial_leverage >= leverage:
                best = max(best, b.tier.cap)
        return best

    @property
    def max_leverage(self) -> int:
        return max(b.initial_leverage for b in self.brackets)


def brackets_from_rows(rows: Sequence[tuple[float, float, float, int]]) -> tuple[Bracket, ...]:
    """Build brackets from ``(floor, cap, mmr, initial_leverage)`` rows, deriving ``cum`` so the
    maintenance amount is continuous across every boundary. Raises ``TierError`` on a bad table."""
    tiers: list[Tier] = []
    for i, (floor, cap, mmr, _lev) in enumerate(rows):
        cum = 0.0 if i == 0 else cumulative_amount(tiers[-1], Tier(floor, cap, mmr))
        tiers.append(Tier(float(floor), float(cap), float(mmr), cum))
    validate_tiers(tiers)
    return tuple(Bracket(t, int(row[3])) for t, row in zip(tiers, rows, strict=True))


# Shapes of Binance's published tables (2024-2025), by liquidity class. Floors and caps in USDT.
BTC_ROWS: tuple[tuple[float, float, float, int], ...] = (
    (0, 50_000, 0.004, 125),
    (50_000, 250_000, 0.005, 100),
    (250_000, 1_000_000, 0.01, 50),
    (1_000_000, 10_000_000, 0.025, 20),
    (10_000_000, 20_000_000, 0.05, 10),
    (20_000_000, 50_000_000, 0.1, 5),
    (50_000_000, 100_000_000, 0.125, 4),
    (100_000_000, 200_000_000, 0.15, 3),
    (200_000_000, 300_000_000, 0.25, 2),
    (300_000_000, 500_000_000, 0.5, 1),
)

ETH_ROWS: tuple[tuple[float, float, float, int], ...] = (
    (0, 50_000, 0.005, 100),
    (50_000, 250_000, 0.0065, 75),
    (250_000, 1_000_000, 0.01, 50),
    (1_000_000, 5_000_000, 0.02, 25),
    (5_000_000, 10_000_000, 0.05, 10),
    (10_000_000, 20_000_000, 0.1, 5),
    (20_000_000, 50_000_000, 0.125, 4),
    (50_000_000, 100_000_000, 0.15, 3),
    (100_000_000, 200_000_000, 0.25, 2),
    (200_000_000, 300_000_000, 0.5, 1),
)

MAJOR_ALT_ROWS: tuple[tuple[float, float, float, int], ...] = (
    (0, 10_000, 0.005, 75),
    (10_000, 50_000, 0.01, 50),
    (50_000, 250_000, 0.02, 25),
    (250_000, 1_000_000, 0.05, 10),
    (1_000_000, 5_000_000, 0.1, 5),
    (5_000_000, 10_000_000, 0.125, 4),
    (10_000_000, 20_000_000, 0.15, 3),
    (20_000_000, 50_000_000, 0.25, 2),
    (50_000_000, 100_000_000, 0.5, 1),
)

SMALL_ALT_ROWS: tuple[tuple[float, float, float, int], ...] = (
    (0, 5_000, 0.01, 50),
    (5_000, 25_000, 0.025, 20),
    (25_000, 100_000, 0.05, 10),
    (100_000, 250_000, 0.1, 5),
    (250_000, 1_000_000, 0.125, 4),
    (1_000_000, 5_000_000, 0.25, 2),
    (5_000_000, 10_000_000, 0.5, 1),
)

BTC_BRACKETS = brackets_from_rows(BTC_ROWS)
ETH_BRACKETS = brackets_from_rows(ETH_ROWS)
MAJOR_ALT_BRACKETS = brackets_from_rows(MAJOR_ALT_ROWS)
SMALL_ALT_BRACKETS = brackets_from_rows(SMALL_ALT_ROWS)


def decimals_of(step: str) -> int:
    """Number of decimals a step string such as ``"0.001"`` allows (``"1"`` -> 0)."""
    return len(step.split(".")[1].rstrip("0")) if "." in step else 0


def major_specs() -> dict[str, SymbolSpec]:
    """Ten liquid perpetuals with Binance-like filters, used by the demo and small test books."""
    specs = [
        SymbolSpec(
            "BTCUSDT",
            "BTC",
            BTC_BRACKETS,
            60_000.0,
            price_precision=2,
            quantity_precision=3,
            tick_size="0.10",
            step_size="0.001",
            min_qty="0.001",
            max_qty="1000",
            market_max_qty="120",
            min_notional=100.0,
            volatility=0.0003,
            beta=1.0,
        ),
        SymbolSpec(
            "ETHUSDT",
            "ETH",
            ETH_BRACKETS,
            3_000.0,
            price_precision=2,
            quantity_precision=3,
            tick_size="0.01",
            step_size="0.001",
            min_qty="0.001",
            max_qty="10000",
            market_max_qty="2000",
            min_notional=20.0,
            volatility=0.0004,
            beta=1.2,
        ),
        SymbolSpec(
            "SOLUSDT",
            "SOL",
            MAJOR_ALT_BRACKETS,
            150.0,
            price_precision=4,
            quantity_precision=0,
            tick_size="0.0100",
            step_size="1",
            min_qty="1",
            max_qty="1000000",
            market_max_qty="5000",
            volatility=0.0006,
            beta=1.5,
        ),
        SymbolSpec(
            "BNBUSDT",
            "BNB",
            MAJOR_ALT_BRACKETS,
            600.0,
            price_precision=3,
            quantity_precision=2,
            tick_size="0.010",
            step_size="0.01",
            min_qty="0.01",
            max_qty="100000",
            market_max_qty="2000",
            volatility=0.0004,
            beta=1.1,
        ),
        SymbolSpec(
            "XRPUSDT",
            "XRP",
            MAJOR_ALT_BRACKETS,
            0.6,
            price_precision=4,
            quantity_precision=1,
            tick_size="0.0001",
            step_size="0.1",
            min_qty="0.1",
            max_qty="10000000",
            market_max_qty="2000000",
            volatility=0.0006,
            beta=1.3,
        ),
        SymbolSpec(
            "DOGEUSDT",
            "DOGE",
            MAJOR_ALT_BRACKETS,
            0.2,
            price_precision=6,
            quantity_precision=0,
            tick_size="0.000010",
            step_size="1",
            min_qty="1",
            max_qty="50000000",
            market_max_qty="30000000",
            volatility=0.0007,
            beta=1.6,
        ),
        SymbolSpec(
            "ADAUSDT",
            "ADA",
            SMALL_ALT_BRACKETS,
            0.45,
            price_precision=5,
            quantity_precision=0,
            tick_size="0.00010",
            step_size="1",
            min_qty="1",
            max_qty="10000000",
            market_max_qty="1000000",
            volatility=0.0006,
            beta=1.4,
        ),
        SymbolSpec(
            "AVAXUSDT",
            "AVAX",
            SMALL_ALT_BRACKETS,
            35.0,
            price_precision=4,
            quantity_precision=0,
            tick_size="0.0010",
            step_size="1",
            min_qty="1",
            max_qty="1000000",
            market_max_qty="50000",
            volatility=0.0007,
            beta=1.5,
        ),
        SymbolSpec(
            "LINKUSDT",
            "LINK",
            SMALL_ALT_BRACKETS,
            15.0,
            price_precision=3,
            quantity_precision=2,
            tick_size="0.001",
            step_size="0.01",
            min_qty="0.01",
            max_qty="2000000",
            market_max_qty="50000",
            volatility=0.0006,
            beta=1.4,
        ),
        SymbolSpec(
            "LTCUSDT",
            "LTC",
            SMALL_ALT_BRACKETS,
            80.0,
            price_precision=2,
            quantity_precision=3,
            tick_size="0.01",
            step_size="0.001",
            min_qty="0.001",
            max_qty="100000",
            market_max_qty="5000",
            volatility=0.0005,
            beta=1.2,
        ),
    ]
    return {s.symbol: s for s in specs}


def synthetic_spec(index: int, price: float, volatility: float, beta: float) -> SymbolSpec:
    """A small-cap perpetual named ``S<index>USDT`` for large benchmark books."""
    return SymbolSpec(
        f"S{index:04d}USDT",
        f"S{index:04d}",
        SMALL_ALT_BRACKETS,
        price,
        price_precision=4,
        quantity_precision=1,
        tick_size="0.0001",
        step_size="0.1",
        min_qty="0.1",
        max_qty="10000000",
        market_max_qty="1000000",
        volatility=volatility,
        beta=beta,
    )


def checked_mark(specs: Mapping[str, object], symbol: str, price: float) -> float:
    """A mark the simulator accepts: a listed symbol, a positive finite price, rounded as Binance
    publishes it (8 decimals)."""
    if symbol not in specs:
        raise KeyError(f"unknown symbol {symbol!r}")
    if not (price > 0 and math.isfinite(price)):
        raise ValueError(f"mark price must be positive and finite, got {price!r}")
    return round(float(price), 8)


@dataclass(frozen=True, slots=True)
class MarginAsset:
    """An asset other than USDT that counts as margin in Multi-Assets mode.

    Binance values each margin asset at its index price less a haircut (``GET /fapi/v1/assetIndex``:
    ``bidRate = index x (1 - bidBuffer)``). The simulator has no spot index, so an asset with a
    perpetual of its own (BTC with BTCUSDT) is priced by that perpetual's mark, and moves with it; an
    asset without one (USDC) holds ``price``. A debt (a negative balance) counts in full."""

    asset: str
    haircut: float
    symbol: str | None = None
    price: float = 1.0


def default_margin_assets() -> tuple[MarginAsset, ...]:
    """The margin assets the simulator accepts, with haircuts of the order Binance publishes."""
    return (
        MarginAsset("BTC", 0.05, "BTCUSDT"),
        MarginAsset("ETH", 0.05, "ETHUSDT"),
        MarginAsset("BNB", 0.05, "BNBUSDT"),
        MarginAsset("USDC", 0.0, None, 1.0),
    )


# ---- Binance COIN-M: inverse perpetuals --------------------------------------------------------


def coin_rows(
    usd_rows: Sequence[tuple[float, float, float, int]], price: float
) -> tuple[tuple[float, float, float, int], ...]:
    """A USD tier table restated in coin at ``price`` (floors and caps to three significant figures),
    the shape of Binance COIN-M's ``qtyFloor``/``qtyCap`` tables."""

    def coin(x: float) -> float:
        return float(f"{x / price:.3g}") if x else 0.0

    return tuple((coin(f), coin(c), mmr, lev) for f, c, mmr, lev in usd_rows)


def coinm_specs() -> dict[str, SymbolSpec]:
    """Six COIN-M perpetuals (``BTCUSD_PERP``...): contracts of 100 USD (BTC) or 10 USD (the others),
    settled and tiered in their coin, each coin its own cross pool."""
    rows = (
        ("BTC", 100.0, BTC_ROWS, 60_000.0, 1, "0.1", 0.0004, 1.0),
        ("ETH", 10.0, ETH_ROWS, 3_000.0, 2, "0.01", 0.0005, 1.15),
        ("SOL", 10.0, MAJOR_ALT_ROWS, 150.0, 3, "0.001", 0.0007, 1.5),
        ("BNB", 10.0, MAJOR_ALT_ROWS, 600.0, 3, "0.001", 0.0005, 0.9),
        ("XRP", 10.0, MAJOR_ALT_ROWS, 0.6, 4, "0.0001", 0.0006, 1.3),
        ("DOGE", 10.0, SMALL_ALT_ROWS, 0.2, 6, "0.000001", 0.0007, 1.6),
    )
    specs = [
        SymbolSpec(
            f"{coin}USD_PERP",
            coin,
            brackets_from_rows(coin_rows(usd_rows, price)),
            price,
            quote="USD",
            price_precision=precision,
            quantity_precision=0,
            tick_size=tick,
            step_size="1",
            min_qty="1",
            max_qty="1000000",
            market_max_qty="60000",
            min_notional=0.0,
            liquidation_fee=0.015,
            volatility=volatility,
            beta=beta,
            inverse=True,
            contract_size=size,
        )
        for coin, size, usd_rows, price, precision, tick, volatility, beta in rows
    ]
    return {s.symbol: s for s in specs}
