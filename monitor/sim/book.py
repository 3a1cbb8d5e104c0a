"""Starting books for the simulator: which symbols trade, which accounts exist, what they hold.

A ``Book`` is plain data; ``build_ledger`` turns it into a live ``Ledger``. Positions are opened on the
ledger directly (no orders, no fees), so a book can hold exposure that the daemon's accounts, whose
orders must be reduce-only, could never open themselves.

API keys are derived from the seed and the account name: stable across runs (a config written for
``monitor sim`` keeps working), different per seed, and obviously not real credentials.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from monitor.model import MarginMode
from monitor.sim.ledger import BOTH, LONG, SHORT, Ledger
from monitor.sim.specs import SymbolSpec, coinm_specs, major_specs, synthetic_spec

CROSS = MarginMode.CROSS
ISOLATED = MarginMode.ISOLATED


@dataclass(frozen=True, slots=True)
class SeedPosition:
    """A position a book starts with. ``amount`` is signed; ``isolated_wallet`` defaults to
    ``|amount| * entry / leverage`` for isolated legs."""

    symbol: str
    amount: float
    entry_price: float
    margin_mode: MarginMode = CROSS
    leverage: int = 20
    position_side: str | None = None
    isolated_wallet: float | None = None


@dataclass(frozen=True, slots=True)
class AccountSeed:
    """An account a book starts with. ``wallet`` is USDT; ``assets`` (other margin assets, e.g.
    ``{"BTC": 0.5}``) need ``multi_assets``. ``wallets`` (COIN-M: a cross wallet per coin,
    ``{"BTC": 0.3}``) replaces ``wallet`` when given."""

    name: str
    wallet: float
    positions: tuple[SeedPosition, ...] = ()
    hedge_mode: bool = False
    reduce_only_enforced: bool = True
    taker_fee: float = 0.0005
    multi_assets: bool = False
    assets: Mapping[str, float] = field(default_factory=dict)
    wallets: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Book:
    name: str
    specs: Mapping[str, SymbolSpec]
    accounts: tuple[AccountSeed, ...]
    marks: Mapping[str, float] = field(default_factory=dict)


def derive_keys(account: str, seed: int = 0) -> tuple[str, str]:
    """(api key, secret) for a simulated account: 64 hex characters each, like Binance's."""
    key = hashlib.sha256(f"monitor-sim/{seed}/{account}/key".encode()).hexdigest()
    secret = hashlib.sha256(f"monitor-sim/{seed}/{account}/secret".encode()).hexdigest()
    return key, secret


def build_ledger(book: Book, *, seed: int = 0, now_ms: int = 0) -> Ledger:
    ledger = Ledger(book.specs, book.marks or None)
    for acct in book.accounts:
        key, secret = derive_keys(acct.name, seed)
        ledger.add_account(
            acct.name,
            key,
            secret,
            acct.wallets or acct.wallet,
            hedge_mode=acct.hedge_mode,
            reduce_only_enforced=acct.reduce_only_enforced,
            taker_fee=acct.taker_fee,
            now_ms=now_ms,
        )
        for pos in acct.positions:
            ledger.open_position(
                acct.name,
                pos.symbol,
                pos.amount,
                pos.entry_price,
                margin_mode=pos.margin_mode,
                leverage=pos.leverage,
                position_side=pos.position_side,
                isolated_wallet=pos.isolated_wallet,
                now_ms=now_ms,
            )
        if acct.multi_assets:
            ledger.set_multi_assets(acct.name, True)
        elif acct.assets:
            raise ValueError(f"account {acct.name!r} holds other assets outside Multi-Assets mode")
        for asset, amount in acct.assets.items():
            ledger.set_asset_balance(acct.name, asset, amount, now_ms=now_ms)
    return ledger


def demo_book() -> Book:
    """The ``monitor demo`` book (see ``scenarios.Demo`` for the timeline it is driven through).

    - ``cross``: one-way, cross, 6,000 USDT: correlated longs BTC 1.0, ETH 10, SOL 150 and a BNB short
      of 20 as a hedge, all 20x. Ratio about 0.07.
    - ``isolated``: one-way, 1,000 USDT: DOGE long 25,000 isolated at 50x (isolated wallet 97.5 =
      initial margin less the opening fee). Ratio about 0.26; liquidated about 1.5 % lower.
    - ``hedge``: hedge mode, cross, 1,500 USDT: XRP LONG 20,000 and SHORT 30,000 (net short).
      Ratio about 0.13.
    """
    specs = major_specs()
    return Book(
        "demo",
        specs,
        (
            AccountSeed(
                "cross",
                6_000.0,
                (
                    SeedPosition("BTCUSDT", 1.0, 58_500.0),
                    SeedPosition("ETHUSDT", 10.0, 3_050.0),
                    SeedPosition("SOLUSDT", 150.0, 140.0),
                    SeedPosition("BNBUSDT", -20.0, 610.0),
                ),
            ),
            AccountSeed(
                "isolated",
                1_000.0,
                (SeedPosition("DOGEUSDT", 25_000.0, 0.2, ISOLATED, leverage=50, isolated_wallet=97.5),),
            ),
            AccountSeed(
                "hedge",
                1_500.0,
                (
                    SeedPosition("XRPUSDT", 20_000.0, 0.6, position_side=LONG),
                    SeedPosition("XRPUSDT", -30_000.0, 0.6, position_side=SHORT),
                ),
                hedge_mode=True,
            ),
        ),
    )


def small_book() -> Book:
    """A small book for tests: three symbols, both margin modes, both position modes.

    - ``main``: one-way, 10,000 USDT: BTC long 0.5 cross 10x @ 60,000; ETH short 5 cross 10x @ 3,000;
      SOL long 100 isolated 10x @ 150 (wallet 1,500).
    - ``hedge``: hedge mode, 5,000 USDT: BTC LONG 0.2 and SHORT 0.1, cross 20x @ 60,000.
    - ``trader``: one-way, 20,000 USDT, flat, ``reduce_only_enforced=False`` (may open positions).
    """
    specs = {s: spec for s, spec in major_specs().items() if s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")}
    return Book(
        "small",
        specs,
        (
            AccountSeed(
                "main",
                10_000.0,
                (
                    SeedPosition("BTCUSDT", 0.5, 60_000.0, leverage=10),
                    SeedPosition("ETHUSDT", -5.0, 3_000.0, leverage=10),
                    SeedPosition("SOLUSDT", 100.0, 150.0, ISOLATED, leverage=10),
                ),
            ),
            AccountSeed(
                "hedge",
                5_000.0,
                (
                    SeedPosition("BTCUSDT", 0.2, 60_000.0, position_side=LONG),
                    SeedPosition("BTCUSDT", -0.1, 60_000.0, position_side=SHORT),
                ),
                hedge_mode=True,
            ),
            AccountSeed("trader", 20_000.0, reduce_only_enforced=False),
        ),
    )


def synthetic_book(
    n_symbols: int = 500, n_accounts: int = 50, positions_per_account: int = 20, seed: int = 0
) -> Book:
    """A large random book for benchmarks, the same for the same arguments.

    The ten majors come first, then ``S0000USDT``... Each account holds ``positions_per_account``
    distinct symbols; about one leg in five is isolated, every tenth account is in hedge mode (its
    legs alternate LONG/SHORT), and wallets are sized for cross ratios between about 0.05 and 0.6."""
    if positions_per_account > n_symbols:
        raise ValueError("positions_per_account cannot exceed n_symbols")
    rng = random.Random(seed)
    majors = list(major_specs().values())
    specs: dict[str, SymbolSpec] = {}
    for spec in majors[:n_symbols]:
        specs[spec.symbol] = spec
    for i in range(n_symbols - len(specs)):
        price = round(10 ** rng.uniform(-2, 2.7), 4)
        specs_entry = synthetic_spec(
            i, price, volatility=rng.uniform(0.0004, 0.0012), beta=rng.uniform(0.8, 1.8)
        )
        specs[specs_entry.symbol] = specs_entry
    symbols = list(specs)
    accounts: list[AccountSeed] = []
    for a in range(n_accounts):
        hedge = a % 10 == 9
        chosen = rng.sample(symbols, positions_per_account)
        positions: list[SeedPosition] = []
        cross_notional = 0.0
        for j, symbol in enumerate(chosen):
            spec = specs[symbol]
            notional = rng.uniform(1_000, 20_000)
            qty = _round_step(notional / spec.start_price, spec.step)
            if qty <= 0:
                continue
            side = 1 if rng.random() < 0.6 else -1
            leverage = rng.choice((5, 10, 20))
            mode = ISOLATED if rng.random() < 0.2 else CROSS
            entry = round(spec.start_price * rng.uniform(0.97, 1.03), 8)
            ps = (LONG if j % 2 == 0 else SHORT) if hedge else BOTH
            if hedge:
                side = 1 if ps == LONG else -1
                mode = CROSS
            positions.append(SeedPosition(symbol, side * qty, entry, mode, leverage, ps))
            if mode is CROSS:
                cross_notional += qty * spec.start_price
        wallet = round(max(1_000.0, cross_notional * rng.uniform(0.03, 0.3)), 2)
        accounts.append(AccountSeed(f"acct{a:03d}", wallet, tuple(positions), hedge_mode=hedge))
    return Book("synthetic", specs, tuple(accounts))


def _round_step(value: float, step: float) -> float:
    return round(round(value / step) * step, 10)


# ---- Binance COIN-M books ------------------------------------------------------------------------


def coinm_demo_book() -> Book:
    """The ``monitor demo --venue binancecoinm`` book, the USD-M demo restated in coin (see
    ``scenarios.COINM_DEMO_DRIVES``); each account's positions settle in one coin.

    - ``cross``: one-way, cross, 0.08 BTC: BTCUSD_PERP long 600 contracts (60,000 USD) at 20x.
    - ``isolated``: one-way, 50,000 DOGE: DOGEUSD_PERP long 500 contracts (5,000 USD) isolated at 25x.
    - ``hedge``: hedge mode, cross, 3,000 XRP: XRPUSD_PERP LONG 1,200 and SHORT 1,800 contracts.
    """
    specs = coinm_specs()
    return Book(
        "demo",
        specs,
        (
            AccountSeed("cross", 0.0, (SeedPosition("BTCUSD_PERP", 600, 58_500.0),), wallets={"BTC": 0.08}),
            AccountSeed(
                "isolated",
                0.0,
                (SeedPosition("DOGEUSD_PERP", 500, 0.2, ISOLATED, leverage=25),),
                wallets={"DOGE": 50_000.0},
            ),
            AccountSeed(
                "hedge",
                0.0,
                (
                    SeedPosition("XRPUSD_PERP", 1_200, 0.6, position_side=LONG),
                    SeedPosition("XRPUSD_PERP", -1_800, 0.6, position_side=SHORT),
                ),
                hedge_mode=True,
                wallets={"XRP": 3_000.0},
            ),
        ),
    )


def coinm_small_book() -> Book:
    """A small COIN-M book for tests: both margin modes, both position modes, a pool per coin.

    - ``main``: one-way, 0.1 BTC: BTCUSD_PERP long 300 contracts (30,000 USD) cross 10x @ 60,000.
    - ``iso``: one-way, 2 ETH: ETHUSD_PERP long 600 contracts (6,000 USD) isolated 10x @ 3,000.
    - ``hedge``: hedge mode, 0.05 BTC: BTCUSD_PERP LONG 200 and SHORT 100, cross 20x @ 60,000.
    - ``trader``: one-way, 1 BTC and 10 ETH, ``reduce_only_enforced=False``, a long of one BTC
      contract (the daemon's COIN-M snapshot names its coin from an open position).
    """
    specs = {s: spec for s, spec in coinm_specs().items() if s in ("BTCUSD_PERP", "ETHUSD_PERP")}
    return Book(
        "small",
        specs,
        (
            AccountSeed(
                "main", 0.0, (SeedPosition("BTCUSD_PERP", 300, 60_000.0, leverage=10),), wallets={"BTC": 0.1}
            ),
            AccountSeed(
                "iso",
                0.0,
                (SeedPosition("ETHUSD_PERP", 600, 3_000.0, ISOLATED, leverage=10),),
                wallets={"ETH": 2.0},
            ),
            AccountSeed(
                "hedge",
                0.0,
                (
                    SeedPosition("BTCUSD_PERP", 200, 60_000.0, position_side=LONG),
                    SeedPosition("BTCUSD_PERP", -100, 60_000.0, position_side=SHORT),
                ),
                hedge_mode=True,
                wallets={"BTC": 0.05},
            ),
            AccountSeed(
                "trader",
                0.0,
                (SeedPosition("BTCUSD_PERP", 1, 60_000.0),),
                reduce_only_enforced=False,
                wallets={"BTC": 1.0, "ETH": 10.0},
            ),
        ),
    )


BOOKS = {"demo": demo_book, "small": small_book, "synthetic": synthetic_book}
COINM_BOOKS = {"demo": coinm_demo_book, "small": coinm_small_book}


def make_book(name: str, books: Mapping[str, Callable[[], Book]] = BOOKS) -> Book:
    """A book by name from ``books`` (USD-M's by default); ``ValueError`` lists the names."""
    factory = books.get(name)
    if factory is None:
        raise ValueError(f"unknown book {name!r}; choose one of {', '.join(books)}")
    return factory()
