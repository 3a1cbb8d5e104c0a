"""The simulated exchange's books: accounts, positions, fills, margin, and its own liquidation engine.

Pure Python, no I/O and no clock: every mutating call takes the time it should stamp (``now_ms``) and
returns the user-stream events an exchange would push for it (``AccountUpdate``, ``OrderUpdate``,
``MarginCall``); a refused call raises ``rejections.Rejected`` with a venue-neutral reason. The
dialect (``monitor.sim.dialects``) turns both into its venue's frames and error replies. That keeps
the exchange's behaviour testable on its own, and every wire format out of it.

What it models, following Binance USD-M (USDT margin; Multi-Assets mode on request) and COIN-M
(inverse contracts, ``SymbolSpec.inverse``: values, PnL and margin in the coin):

- A cross wallet per account and margin asset (USD-M: USDT alone; COIN-M: one per coin, each pool
  backing only the cross legs settled in it); one-way (``BOTH``) or hedge mode (``LONG``/``SHORT``
  legs); per symbol a margin mode and a leverage shared by both legs.
- Market orders fill at the mark price and pay the taker fee. Realised PnL goes to the cross wallet. An
  isolated leg holds its own wallet: opening moves ``notional / leverage`` out of the cross wallet into
  it (the opening fee is taken out of the isolated wallet, as Binance does), and reducing releases the
  isolated wallet in proportion to the size closed.
- Maintenance margin is ``|notional| * mmr - cum`` of the covering tier at mark
  (``monitor.margin.tiers.maint_amount``), plus, on Bybit, the estimated fee to close (``close_fee``);
  on Bitunix the notional at the entry price instead (``maintenance_on_entry``).
- Liquidation is decided from the definition, never from a liquidation-price formula: an isolated leg
  when ``isolatedWallet + UPNL <= MM``; the cross pool when ``sum MM >= crossWallet + sum UPNL``. It
  closes the affected legs at mark, forfeits the isolated wallet (or charges the cross pool's remaining
  equity as the liquidation clearance fee, the wallet floored at 0) and records a
  ``LiquidationRecord``.
- Multi-Assets mode (``set_multi_assets``): other margin assets (``set_asset_balance``) join the cross
  pool at ``amount x price x (1 - haircut)`` (``specs.MarginAsset``); one priced by a perpetual's mark
  moves with it, also at a trial liquidation price of that perpetual. The USDT wallet may go negative.
- ``liquidationPrice`` for the REST views is found numerically from the same definition: the price of
  the symbol, all other marks held, nearest to the mark at which equity meets maintenance margin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from monitor.margin.tiers import maint_amount, tier_for
from monitor.model import MarginMode, PositionSide, Side, Tier
from monitor.sim.rejections import Reason, Rejected
from monitor.sim.specs import MarginAsset, SymbolSpec, checked_mark, default_margin_assets

BOTH = "BOTH"
LONG = "LONG"
SHORT = "SHORT"
BUY = "BUY"
SELL = "SELL"

MARGIN_CALL_RATIO = 0.8
DEFAULT_TAKER_FEE = 0.0005
DEFAULT_LEVERAGE = 20
_CROSS_KEY = ("", "")
_EPS = 1e-12
# An inverse contract's liquidation price is looked for within [mark / span, mark * span].
_INVERSE_SPAN = 1e9


def _cross_key(asset: str, home: str) -> tuple[str, str]:
    """The ``warned`` key of a cross pool: the home pool keeps the old key."""
    return _CROSS_KEY if asset == home else ("", asset)


@dataclass(slots=True)
class SymbolConfig:
    """Per account and symbol, as ``GET /fapi/v1/symbolConfig`` reports it."""

    margin_mode: MarginMode = MarginMode.CROSS
    leverage: int = DEFAULT_LEVERAGE


@dataclass(slots=True)
class Leg:
    """One position leg. ``amount`` is signed (negative short) like Binance ``positionAmt``."""

    symbol: str
    position_side: str
    amount: float = 0.0
    entry_price: float = 0.0
    isolated_wallet: float = 0.0
    realized: float = 0.0
    update_time: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.symbol, self.position_side)


@dataclass(frozen=True, slots=True)
class Order:
    """A finished (or just accepted) order, as the order endpoints and ORDER_TRADE_UPDATE describe it."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str
    position_side: str
    order_type: str
    orig_qty: float
    executed_qty: float
    avg_price: float
    reduce_only: bool
    status: str
    time_in_force: str
    time: int
    update_time: int
    realized: float = 0.0
    commission: float = 0.0

    @property
    def cum_quote(self) -> float:
        return self.executed_qty * self.avg_price


@dataclass(frozen=True, slots=True)
class Trade:
    trade_id: int
    order_id: int
    symbol: str
    side: str
    position_side: str
    price: float
    qty: float
    realized: float
    commission: float
    time: int


@dataclass(slots=True)
class Account:
    """One account. ``wallets`` holds a cross wallet per margin asset: USD-M keeps one (``USDT``, the
    ``home`` asset); COIN-M one per coin, each backing only the cross positions settled in it."""

    name: str
    api_key: str
    secret: str
    wallets: dict[str, float]
    home: str = "USDT"
    hedge_mode: bool = False
    reduce_only_enforced: bool = True
    taker_fee: float = DEFAULT_TAKER_FEE
    configs: dict[str, SymbolConfig] = field(default_factory=dict)
    legs: dict[tuple[str, str], Leg] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    client_ids: dict[str, int] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    update_time: int = 0
    # Keys ("symbol", "side") of isolated legs, or _CROSS_KEY, that already got a MARGIN_CALL and have
    # not dropped back below the threshold since.
    warned: set[tuple[str, str]] = field(default_factory=set)
    # Multi-Assets mode: balances of the margin assets other than USDT, in their own units
    multi_assets: bool = False
    assets: dict[str, float] = field(default_factory=dict)

    def config(self, symbol: str) -> SymbolConfig:
        cfg = self.configs.get(symbol)
        if cfg is None:
            cfg = self.configs[symbol] = SymbolConfig()
        return cfg

    def leg(self, symbol: str, position_side: str) -> Leg:
        key = (symbol, position_side)
        leg = self.legs.get(key)
        if leg is None:
            leg = self.legs[key] = Leg(symbol, position_side)
        return leg

    def open_legs(self) -> list[Leg]:
        return [leg for leg in self.legs.values() if leg.amount != 0]

    @property
    def cross_wallet(self) -> float:
        """The cross wallet of the home asset (USDT on USD-M)."""
        return self.wallets.get(self.home, 0.0)

    @cross_wallet.setter
    def cross_wallet(self, amount: float) -> None:
        self.wallets[self.home] = amount

    def isolated_wallets(
        self, asset: str | None = None, specs: Mapping[str, SymbolSpec] | None = None
    ) -> float:
        """The isolated wallets of every leg, or of the legs settled in ``asset`` (needs ``specs``)."""
        if asset is None or specs is None:
            return sum(leg.isolated_wallet for leg in self.legs.values())
        return sum(
            leg.isolated_wallet for leg in self.legs.values() if specs[leg.symbol].margin_asset == asset
        )


# ---- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegState:
    """A leg as the user stream reports it (ACCOUNT_UPDATE ``a.P[]``, MARGIN_CALL ``p[]``)."""

    symbol: str
    position_side: str
    amount: float
    entry_price: float
    breakeven_price: float
    realized: float
    unrealized: float
    margin_mode: MarginMode
    isolated_wallet: float
    mark_price: float
    maint_margin: float


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    account: str
    reason: str
    wallet_balance: float
    cross_wallet: float
    balance_change: float
    legs: tuple[LegState, ...]
    time: int
    # other margin assets whose balance changed: (asset, balance, change)
    assets: tuple[tuple[str, float, float], ...] = ()
    # the asset ``wallet_balance`` and ``cross_wallet`` are in (a coin on COIN-M)
    asset: str = "USDT"


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    account: str
    order: Order
    execution: str
    last_qty: float
    last_price: float
    commission: float
    realized: float
    trade_id: int
    time: int


@dataclass(frozen=True, slots=True)
class MarginCall:
    account: str
    cross_wallet: float
    legs: tuple[LegState, ...]
    time: int
    asset: str = "USDT"


LedgerEvent = AccountUpdate | OrderUpdate | MarginCall


@dataclass(frozen=True, slots=True)
class LiquidationRecord:
    """One leg the simulator liquidated, for tests and the demo's report."""

    account: str
    symbol: str
    position_side: PositionSide
    margin_mode: MarginMode
    side: Side
    contracts: float
    mark_price: float
    sim_time: float
    tick_index: int


# ---- valuations ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegRisk:
    """A leg valued at the current mark: what positionRisk and account report for it."""

    symbol: str
    position_side: str
    amount: float
    entry_price: float
    breakeven_price: float
    mark_price: float
    notional: float
    unrealized: float
    maint_margin: float
    initial_margin: float
    margin_mode: MarginMode
    leverage: int
    isolated_wallet: float
    liquidation_price: float | None
    update_time: int

    @property
    def isolated_margin(self) -> float:
        """Binance ``isolatedMargin``: the isolated wallet plus unrealised PnL (0 for cross)."""
        if self.margin_mode is MarginMode.ISOLATED:
            return self.isolated_wallet + self.unrealized
        return 0.0


@dataclass(frozen=True, slots=True)
class CrossPool:
    """The cross pool of one account. ``ratio`` is maintenance / equity (liquidation at 1.0)."""

    wallet: float
    unrealized: float
    maint_margin: float
    initial_margin: float
    has_positions: bool
    # Multi-Assets mode: the other margin assets at their haircut value
    collateral: float = 0.0

    @property
    def equity(self) -> float:
        return self.wallet + self.collateral + self.unrealized

    @property
    def ratio(self) -> float:
        return _ratio(self.maint_margin, self.equity)

    @property
    def available(self) -> float:
        return max(0.0, self.equity - self.initial_margin)


@dataclass(frozen=True, slots=True)
class AccountRisk:
    name: str
    cross: CrossPool
    isolated_wallets: float
    legs: tuple[LegRisk, ...]
    multi_assets: bool = False
    # Multi-Assets mode: (asset, balance, price) of each other margin asset the account holds
    assets: tuple[tuple[str, float, float], ...] = ()
    # the margin asset this view is of: its pool, its legs
    asset: str = "USDT"

    @property
    def wallet_balance(self) -> float:
        """Binance ``walletBalance``: the cross wallet plus every isolated wallet."""
        return self.cross.wallet + self.isolated_wallets

    @property
    def total_unrealized(self) -> float:
        return sum(leg.unrealized for leg in self.legs)

    @property
    def total_maint(self) -> float:
        return sum(leg.maint_margin for leg in self.legs)

    @property
    def total_initial(self) -> float:
        return sum(leg.initial_margin for leg in self.legs)


def _ratio(maint: float, equity: float) -> float:
    if equity <= 0:
        return math.inf if maint > 0 else 0.0
    return maint / equity


def _sign(x: float) -> int:
    return 1 if x > 0 else -1 if x < 0 else 0


def _clean(x: float) -> float:
    """Drop float residue (1e-13 and below) so a closed position is exactly zero."""
    r = round(x, 10)
    return 0.0 if r == 0 else r


class Ledger:
    """All accounts of the simulated exchange and the marks they are valued at."""

    def __init__(self, specs: Mapping[str, SymbolSpec], marks: Mapping[str, float] | None = None) -> None:
        self.specs: dict[str, SymbolSpec] = dict(specs)
        self.marks: dict[str, float] = {s: spec.start_price for s, spec in self.specs.items()}
        if marks:
            self.set_marks(marks)
        self.margin_assets: dict[str, MarginAsset] = {
            a.asset: a for a in default_margin_assets() if a.symbol is None or a.symbol in self.specs
        }
        self.accounts: dict[str, Account] = {}
        self.liquidations: list[LiquidationRecord] = []
        self._by_key: dict[str, Account] = {}
        self._next_order_id = 4_000_000_001
        self._next_trade_id = 200_000_001
        self._liq_seq = 0
        # Bybit's rule: the maintenance requirement includes the fee to close (``close_fee``)
        self.close_fee_in_maintenance = False
        # OKX's rule, per symbol: (contract value, tiers counted in contracts). The whole value takes
        # the rate of the tier the contracts held fall in, with no deduction (``maint_at``)
        self.contract_tiers: dict[str, tuple[float, tuple[Tier, ...]]] = {}
        # Bitunix's rule: the maintenance margin is valued at the entry price, not the mark
        self.maintenance_on_entry = False

    # ---- setup --------------------------------------------------------------------------------

    def add_account(
        self,
        name: str,
        api_key: str,
        secret: str,
        wallet: float | Mapping[str, float],
        *,
        hedge_mode: bool = False,
        reduce_only_enforced: bool = True,
        taker_fee: float = DEFAULT_TAKER_FEE,
        now_ms: int = 0,
    ) -> Account:
        """``wallet``: the USDT cross wallet, or a cross wallet per margin asset (``{"BTC": 1.5}``),
        the first one the home asset."""
        wallets = {"USDT": float(wallet)} if isinstance(wallet, int | float) else dict(wallet)
        if not wallets:
            raise ValueError(f"account {name!r} needs a wallet")
        if name in self.accounts:
            raise ValueError(f"account {name!r} already exists")
        if api_key in self._by_key:
            raise ValueError(f"api key of {name!r} is already used")
        acct = Account(
            name,
            api_key,
            secret,
            {asset: float(amount) for asset, amount in wallets.items()},
            home=next(iter(wallets)),
            hedge_mode=hedge_mode,
            reduce_only_enforced=reduce_only_enforced,
            taker_fee=taker_fee,
            update_time=now_ms,
        )
        self.accounts[name] = acct
        self._by_key[api_key] = acct
        return acct

    def account(self, name: str) -> Account:
        try:
            return self.accounts[name]
        except KeyError:
            raise KeyError(f"no simulated account named {name!r}") from None

    def account_by_key(self, api_key: str) -> Account | None:
        return self._by_key.get(api_key)

    def spec(self, symbol: str) -> SymbolSpec:
        spec = self.specs.get(symbol)
        if spec is None:
            raise Rejected(Reason.BAD_SYMBOL, "symbol")
        return spec

    def open_position(
        self,
        account: str,
        symbol: str,
        amount: float,
        entry_price: float,
        *,
        margin_mode: MarginMode = MarginMode.CROSS,
        leverage: int = DEFAULT_LEVERAGE,
        position_side: str | None = None,
        isolated_wallet: float | None = None,
        now_ms: int = 0,
    ) -> Leg:
        """Seed a position directly, as a book does: no order, no fee, no margin check, the cross
        wallet untouched. ``amount`` is signed; in hedge mode ``position_side`` defaults to the side of
        ``amount``. An isolated leg gets ``|amount| * entry / leverage`` unless a wallet is given."""
        acct = self.account(account)
        self.spec(symbol)
        if amount == 0:
            raise ValueError("amount must not be zero")
        ps = position_side or ((LONG if amount > 0 else SHORT) if acct.hedge_mode else BOTH)
        if acct.hedge_mode and ps not in (LONG, SHORT):
            raise ValueError(f"hedge-mode account {account!r} needs position_side LONG or SHORT")
        if not acct.hedge_mode and ps != BOTH:
            raise ValueError(f"one-way account {account!r} takes position_side BOTH only")
        if (ps == LONG and amount < 0) or (ps == SHORT and amount > 0):
            raise ValueError(f"{ps} leg needs a {'positive' if ps == LONG else 'negative'} amount")
        cfg = acct.config(symbol)
        others = [leg for leg in acct.open_legs() if leg.symbol == symbol and leg.position_side != ps]
        if others and cfg.margin_mode is not margin_mode:
            raise ValueError(f"both legs of {symbol} must share one margin mode")
        cfg.margin_mode = margin_mode
        cfg.leverage = leverage
        leg = acct.leg(symbol, ps)
        if leg.amount != 0:
            raise ValueError(f"{account}/{symbol}/{ps} is already open")
        leg.amount = float(amount)
        leg.entry_price = float(entry_price)
        leg.update_time = now_ms
        if margin_mode is MarginMode.ISOLATED:
            leg.isolated_wallet = (
                float(isolated_wallet)
                if isolated_wallet is not None
                else abs(self.specs[symbol].value(amount, entry_price)) / leverage
            )
        return leg

    # ---- marks --------------------------------------------------------------------------------

    def set_mark(self, symbol: str, price: float) -> None:
        self.marks[symbol] = checked_mark(self.specs, symbol, price)

    def set_marks(self, marks: Mapping[str, float]) -> None:
        for symbol, price in marks.items():
            self.set_mark(symbol, price)

    # ---- Multi-Assets mode --------------------------------------------------------------------

    def set_multi_assets(self, account: str, on: bool) -> None:
        """POST /fapi/v1/multiAssetsMargin. Multi-Assets mode has no isolated margin."""
        acct = self.account(account)
        if on and any(acct.config(leg.symbol).margin_mode is MarginMode.ISOLATED for leg in acct.open_legs()):
            raise Rejected(Reason.MULTI_ASSETS_WITH_ISOLATED)
        acct.multi_assets = on

    def set_asset_balance(self, account: str, asset: str, amount: float, *, now_ms: int = 0) -> AccountUpdate:
        """Set the balance of a margin asset other than USDT (a deposit or a withdrawal) and return the
        ACCOUNT_UPDATE Binance pushes for it."""
        acct = self.account(account)
        if asset not in self.margin_assets:
            raise ValueError(f"{asset!r} is not a margin asset here ({', '.join(self.margin_assets)})")
        before = acct.assets.get(asset, 0.0)
        acct.assets[asset] = float(amount)
        acct.update_time = now_ms
        update = self._account_update(acct, "DEPOSIT", (), now_ms, balance_change=0.0)
        return replace(update, assets=((asset, float(amount), float(amount) - before),))

    def asset_price(self, asset: str) -> float:
        """A margin asset's price in USDT: its perpetual's mark, or its fixed price."""
        spec = self.margin_assets[asset]
        return self.marks[spec.symbol] if spec.symbol is not None else spec.price

    def collateral(self, acct: Account, moving: str | None = None, price: float | None = None) -> float:
        """The other margin assets at their haircut value (0 outside Multi-Assets mode). Assets priced
        by the perpetual ``moving`` are valued at ``price`` instead of its mark."""
        if not acct.multi_assets:
            return 0.0
        total = 0.0
        for asset, amount in acct.assets.items():
            spec = self.margin_assets[asset]
            p = (
                price
                if moving is not None and spec.symbol == moving and price is not None
                else self.asset_price(asset)
            )
            value = amount * p
            total += value * (1.0 - spec.haircut) if value > 0 else value
        return total

    # ---- valuation ----------------------------------------------------------------------------

    def unrealized(self, leg: Leg) -> float:
        return self.specs[leg.symbol].pnl(leg.amount, leg.entry_price, self.marks[leg.symbol])

    def notional(self, leg: Leg) -> float:
        """Signed, in the leg's margin asset (coin for an inverse contract)."""
        return self.specs[leg.symbol].value(leg.amount, self.marks[leg.symbol])

    def maint_margin(self, leg: Leg, acct: Account | None = None) -> float:
        if leg.amount == 0:
            return 0.0
        fee = self.close_fee(acct, leg) if acct is not None else 0.0
        # Bitunix values the maintenance margin at the entry price, every other venue at the mark
        price = leg.entry_price if self.maintenance_on_entry else self.marks[leg.symbol]
        return self.maint_at(self.specs[leg.symbol], leg.amount, price) + fee

    def maint_at(self, spec: SymbolSpec, amount: float, price: float) -> float:
        """The maintenance amount of ``amount`` of ``spec`` at ``price`` before any fee to close:
        the notional tiers' ``|value| x mmr - cum``, or, for a symbol tiered by contracts (OKX),
        ``|value| x mmr`` at the tier of the contracts held, which no price move changes."""
        value = spec.value(amount, price)
        by_contracts = self.contract_tiers.get(spec.symbol)
        if by_contracts is None:
            return maint_amount(spec.tiers, value)
        ct_val, tiers = by_contracts
        return abs(value) * tier_for(tiers, abs(amount) / ct_val).mmr

    def close_fee(self, acct: Account, leg: Leg) -> float:
        """Bybit's estimated fee to close, part of its maintenance requirement (when
        ``close_fee_in_maintenance`` is set): a taker close of a linear leg at its bankruptcy price,
        ``q x EP x (1 -/+ 1/lev) x taker``. Fixed by the entry and the leverage."""
        spec = self.specs[leg.symbol]
        if not self.close_fee_in_maintenance or leg.amount == 0 or spec.inverse:
            return 0.0
        lev = acct.config(leg.symbol).leverage
        bust = 1 - 1 / lev if leg.amount > 0 else 1 + 1 / lev
        return abs(leg.amount) * spec.contract_size * leg.entry_price * bust * acct.taker_fee

    def cross_pool(self, account: str | Account, asset: str | None = None) -> CrossPool:
        """The cross pool of ``asset`` (default: the account's home asset): its wallet and the cross
        legs settled in it. Other margin assets join only the home pool, in Multi-Assets mode."""
        acct = account if isinstance(account, Account) else self.account(account)
        asset = asset or acct.home
        upnl = maint = initial = 0.0
        has = False
        for leg in acct.legs.values():
            if leg.amount == 0:
                continue
            cfg = acct.config(leg.symbol)
            if cfg.margin_mode is not MarginMode.CROSS or self.specs[leg.symbol].margin_asset != asset:
                continue
            has = True
            upnl += self.unrealized(leg)
            maint += self.maint_margin(leg, acct)
            initial += abs(self.notional(leg)) / cfg.leverage
        collateral = self.collateral(acct) if asset == acct.home else 0.0
        return CrossPool(acct.wallets.get(asset, 0.0), upnl, maint, initial, has, collateral)

    def isolated_ratio(self, account: str | Account, symbol: str, position_side: str = BOTH) -> float:
        acct = account if isinstance(account, Account) else self.account(account)
        leg = acct.legs.get((symbol, position_side))
        if leg is None or leg.amount == 0:
            return 0.0
        return _ratio(self.maint_margin(leg, acct), leg.isolated_wallet + self.unrealized(leg))

    def ratio_at(self, account: str, marks: Mapping[str, float], leg: tuple[str, str] | None = None) -> float:
        """What the cross ratio of ``account`` (or the ratio of its isolated ``leg``) would be at
        ``marks`` (missing symbols at their current mark). Nothing is changed."""
        saved = self.marks
        self.marks = {**saved, **marks}
        try:
            if leg is None:
                return self.cross_pool(account).ratio
            return self.isolated_ratio(account, leg[0], leg[1])
        finally:
            self.marks = saved

    def risk(self, account: str | Account, asset: str | None = None) -> AccountRisk:
        """Every open leg settled in ``asset`` (default: the home asset) valued at mark, with that
        asset's cross pool and liquidation prices."""
        acct = account if isinstance(account, Account) else self.account(account)
        asset = asset or acct.home
        pool = self.cross_pool(acct, asset)
        legs = tuple(
            self._leg_risk(acct, leg, pool)
            for leg in acct.open_legs()
            if self.specs[leg.symbol].margin_asset == asset
        )
        assets = (
            tuple((a, amount, self.asset_price(a)) for a, amount in sorted(acct.assets.items()))
            if acct.multi_assets
            else ()
        )
        isolated = acct.isolated_wallets(asset, self.specs)
        return AccountRisk(acct.name, pool, isolated, legs, acct.multi_assets, assets, asset)

    def leg_risk(
        self, account: str | Account, symbol: str, position_side: str, pool: CrossPool | None = None
    ) -> LegRisk:
        """A leg valued at mark even when flat (positionRisk v2 lists flat rows too). Pass the
        account's ``cross_pool`` when valuing many legs of one account."""
        acct = account if isinstance(account, Account) else self.account(account)
        leg = acct.legs.get((symbol, position_side)) or Leg(symbol, position_side)
        return self._leg_risk(acct, leg, pool or self.cross_pool(acct, self.specs[symbol].margin_asset))

    def _leg_risk(self, acct: Account, leg: Leg, pool: CrossPool) -> LegRisk:
        cfg = acct.config(leg.symbol)
        mark = self.marks[leg.symbol]
        notional = self.notional(leg)
        s = _sign(leg.amount)
        return LegRisk(
            symbol=leg.symbol,
            position_side=leg.position_side,
            amount=leg.amount,
            entry_price=leg.entry_price,
            breakeven_price=leg.entry_price * (1 + s * acct.taker_fee) if leg.amount else 0.0,
            mark_price=mark,
            notional=notional,
            unrealized=self.unrealized(leg),
            maint_margin=self.maint_margin(leg, acct),
            initial_margin=abs(notional) / cfg.leverage,
            margin_mode=cfg.margin_mode,
            leverage=cfg.leverage,
            isolated_wallet=leg.isolated_wallet,
            liquidation_price=self.liquidation_price(acct, leg, pool) if leg.amount else None,
            update_time=leg.update_time,
        )

    def leg_state(self, acct: Account, leg: Leg) -> LegState:
        s = _sign(leg.amount)
        return LegState(
            symbol=leg.symbol,
            position_side=leg.position_side,
            amount=leg.amount,
            entry_price=leg.entry_price,
            breakeven_price=leg.entry_price * (1 + s * acct.taker_fee) if leg.amount else 0.0,
            realized=leg.realized,
            unrealized=self.unrealized(leg),
            margin_mode=acct.config(leg.symbol).margin_mode,
            isolated_wallet=leg.isolated_wallet,
            mark_price=self.marks[leg.symbol],
            maint_margin=self.maint_margin(leg, acct),
        )

    def liquidation_price(self, acct: Account, leg: Leg, pool: CrossPool | None = None) -> float | None:
        """The price of ``leg.symbol`` (everything else at its mark) nearest to the mark at which the
        leg's pool reaches its maintenance margin; ``None`` when no positive price does.

        Equity minus maintenance is piecewise linear in that price, with kinks where a leg's notional
        crosses a tier floor, so the root is found exactly by walking the kinks outward from the mark.
        Cross legs of one symbol (both hedge legs) share one price, as on Binance."""
        if leg.amount == 0:
            return None
        cfg = acct.config(leg.symbol)
        spec = self.specs[leg.symbol]
        tiers = spec.tiers
        driven = False  # collateral priced by this symbol moves with it (Multi-Assets mode)
        fixed = 0.0
        if cfg.margin_mode is MarginMode.ISOLATED:
            legs = [leg]
            base = leg.isolated_wallet
        else:
            pool = pool or self.cross_pool(acct, spec.margin_asset)
            legs = [
                other
                for other in acct.open_legs()
                if other.symbol == leg.symbol and acct.config(other.symbol).margin_mode is MarginMode.CROSS
            ]
            own = sum(self.unrealized(other) - self.maint_margin(other, acct) for other in legs)
            base = pool.wallet + pool.collateral + pool.unrealized - pool.maint_margin - own
            if acct.multi_assets and spec.margin_asset == acct.home:
                driven = True
                fixed = self.collateral(acct, leg.symbol, 0.0)
                base -= pool.collateral - fixed

        def equity_minus_maint(price: float) -> float:
            total = base + (self.collateral(acct, leg.symbol, price) - fixed if driven else 0.0)
            for other in legs:
                total += spec.pnl(other.amount, other.entry_price, price)
                valued_at = other.entry_price if self.maintenance_on_entry else price
                total -= self.maint_at(spec, other.amount, valued_at) + self.close_fee(acct, other)
            return total

        kinks: list[float] = []
        mark = self.marks[leg.symbol]
        if leg.symbol in self.contract_tiers:
            # the tier follows the contracts, not the price: no kinks and no notional cap; the
            # balance is linear, so any ladder of points brackets the root as exactly
            ladder = [mark * 2.0**k for k in range(-40, 41) if k]
            top = mark * 2.0**40
            root = _nearest_root(equity_minus_maint, ladder, mark, top, inverse=spec.inverse)
            return None if root is None else round(root, 8)
        if spec.inverse:
            # the coin value falls as the price rises: tier floors are crossed at q * CS / floor, and
            # between two of them equity minus maintenance is linear in 1 / price
            for other in legs:
                face = abs(other.amount) * spec.contract_size
                kinks.extend(face / t.floor for t in tiers[1:])
            root = _nearest_root(equity_minus_maint, kinks, mark, mark * _INVERSE_SPAN, inverse=True)
            return None if root is None else round(root, 8)
        top = math.inf
        for other in legs:
            q = abs(other.amount)
            kinks.extend(t.floor / q for t in tiers[1:])
            top = min(top, tiers[-1].cap / q * (1 - 1e-12))
        root = _nearest_root(equity_minus_maint, kinks, mark, top)
        return None if root is None else round(root, 8)

    # ---- orders -------------------------------------------------------------------------------

    def place_market_order(
        self,
        account: str,
        symbol: str,
        side: str,
        quantity: float,
        *,
        position_side: str | None = None,
        reduce_only: bool | None = None,
        client_order_id: str | None = None,
        now_ms: int = 0,
    ) -> tuple[Order, list[LedgerEvent]]:
        """Fill a MARKET order at mark, or raise ``Rejected`` for the reason an exchange would refuse it.

        ``reduce_only`` is ``None`` when the parameter was not sent. In hedge mode it must not be sent
        (Binance: -1106) and an order that reduces the named leg counts as reduce-only; with the
        account's ``reduce_only_enforced`` flag every order that is not reduce-only is refused
        (Binance: -2022).
        A reduce-only order larger than the position closes the position and no more."""
        acct = self.account(account)
        spec = self.spec(symbol)
        if side not in (BUY, SELL):
            raise Rejected(Reason.BAD_SIDE, "side")
        if not (quantity > 0 and math.isfinite(quantity)):
            raise Rejected(Reason.QTY_NOT_POSITIVE, "quantity")
        steps = quantity / spec.step
        if abs(steps - round(steps)) > 1e-6:
            raise Rejected(Reason.QTY_PRECISION, "quantity")
        if quantity < float(spec.min_qty) - _EPS:
            raise Rejected(Reason.QTY_BELOW_MIN, "quantity")
        if quantity > float(spec.market_max_qty) + _EPS:
            raise Rejected(Reason.QTY_ABOVE_MAX, "quantity")
        if acct.hedge_mode:
            if reduce_only is not None:
                raise Rejected(Reason.PARAM_NOT_ALLOWED, "reduceOnly")
            if position_side not in (LONG, SHORT):
                raise Rejected(Reason.POSITION_SIDE_MISMATCH, "positionSide")
            ps = position_side
        else:
            if position_side not in (None, BOTH):
                raise Rejected(Reason.POSITION_SIDE_MISMATCH, "positionSide")
            ps = BOTH
        leg = acct.leg(symbol, ps)
        dq = quantity if side == BUY else -quantity
        if ps == BOTH:
            reduces = leg.amount != 0 and _sign(dq) != _sign(leg.amount)
            is_reduce_only = bool(reduce_only)
            if is_reduce_only and not reduces:
                raise Rejected(Reason.REDUCE_ONLY_WOULD_INCREASE)
        else:
            reduces = (ps == LONG) == (side == SELL)
            is_reduce_only = reduces
            if reduces and leg.amount == 0:
                raise Rejected(Reason.REDUCE_ONLY_WOULD_INCREASE)
        if not is_reduce_only and acct.reduce_only_enforced:
            raise Rejected(Reason.REDUCE_ONLY_WOULD_INCREASE)
        mark = self.marks[symbol]
        cfg = acct.config(symbol)
        if is_reduce_only:
            quantity = min(quantity, abs(leg.amount))
            dq = math.copysign(quantity, dq)
        else:
            self._check_opening(acct, spec, cfg, leg, dq, mark)

        realized, commission = self._fill(acct, leg, dq, mark, now_ms)
        order_id = self._next_order_id
        self._next_order_id += 1
        trade_id = self._next_trade_id
        self._next_trade_id += 1
        cid = client_order_id or f"sim{order_id}"
        filled = Order(
            order_id=order_id,
            client_order_id=cid,
            symbol=symbol,
            side=side,
            position_side=ps,
            order_type="MARKET",
            orig_qty=quantity,
            executed_qty=quantity,
            avg_price=mark,
            reduce_only=is_reduce_only,
            status="FILLED",
            time_in_force="GTC",
            time=now_ms,
            update_time=now_ms,
            realized=realized,
            commission=commission,
        )
        acct.orders[order_id] = filled
        acct.client_ids[cid] = order_id
        acct.trades.append(
            Trade(trade_id, order_id, symbol, side, ps, mark, quantity, realized, commission, now_ms)
        )
        accepted = replace(
            filled, executed_qty=0.0, avg_price=0.0, status="NEW", realized=0.0, commission=0.0
        )
        events: list[LedgerEvent] = [
            OrderUpdate(account, accepted, "NEW", 0.0, 0.0, 0.0, 0.0, 0, now_ms),
            self._account_update(acct, "ORDER", [leg], now_ms, balance_change=0.0),
            OrderUpdate(account, filled, "TRADE", quantity, mark, commission, realized, trade_id, now_ms),
        ]
        return filled, events

    def _check_opening(
        self, acct: Account, spec: SymbolSpec, cfg: SymbolConfig, leg: Leg, dq: float, mark: float
    ) -> None:
        closing = min(abs(dq), abs(leg.amount)) if _sign(dq) != _sign(leg.amount) else 0.0
        opening = abs(dq) - closing
        notional = abs(spec.value(dq, mark))
        if notional < spec.min_notional - _EPS:
            raise Rejected(Reason.NOTIONAL_BELOW_MIN, limit=spec.min_notional)
        if opening <= 0:
            return
        after = abs(spec.value(leg.amount + dq, mark))
        if after > spec.max_notional_for_leverage(cfg.leverage) + _EPS:
            raise Rejected(Reason.MAX_POSITION_AT_LEVERAGE)
        required = abs(spec.value(opening, mark)) / cfg.leverage + notional * acct.taker_fee
        if required > self.cross_pool(acct, spec.margin_asset).available + _EPS:
            raise Rejected(Reason.INSUFFICIENT_MARGIN)

    def _fill(self, acct: Account, leg: Leg, dq: float, price: float, now_ms: int) -> tuple[float, float]:
        """Apply a fill of signed size ``dq`` at ``price``; returns (realised PnL, commission)."""
        cfg = acct.config(leg.symbol)
        spec = self.specs[leg.symbol]
        wallets, asset = acct.wallets, spec.margin_asset
        wallets.setdefault(asset, 0.0)
        isolated = cfg.margin_mode is MarginMode.ISOLATED
        realized = 0.0
        closed = 0.0
        if leg.amount != 0 and _sign(dq) != _sign(leg.amount):
            closed = min(abs(dq), abs(leg.amount))
            realized = spec.pnl(math.copysign(closed, leg.amount), leg.entry_price, price)
            if isolated:
                released = leg.isolated_wallet * closed / abs(leg.amount)
                leg.isolated_wallet -= released
                wallets[asset] += released
            wallets[asset] += realized
            leg.realized += realized
            leg.amount = _clean(leg.amount + math.copysign(closed, dq))
            if leg.amount == 0:
                leg.entry_price = 0.0
                wallets[asset] += leg.isolated_wallet
                leg.isolated_wallet = 0.0
        opened = abs(dq) - closed
        open_fee = abs(spec.value(opened, price)) * acct.taker_fee
        close_fee = abs(spec.value(closed, price)) * acct.taker_fee
        if opened > _EPS:
            size = abs(leg.amount)
            leg.entry_price = spec.average_entry(size, leg.entry_price, opened, price)
            leg.amount = _clean(leg.amount + math.copysign(opened, dq))
            if isolated:
                margin = abs(spec.value(opened, price)) / cfg.leverage
                wallets[asset] -= margin
                leg.isolated_wallet += margin - open_fee
            else:
                wallets[asset] -= open_fee
        wallets[asset] -= close_fee
        leg.update_time = now_ms
        acct.update_time = now_ms
        return realized, open_fee + close_fee

    # ---- margin and settings -------------------------------------------------------------------

    def modify_isolated_margin(
        self,
        account: str,
        symbol: str,
        amount: float,
        *,
        add: bool,
        position_side: str | None = None,
        now_ms: int = 0,
    ) -> list[LedgerEvent]:
        """Move ``amount`` between the cross wallet and an isolated leg's wallet (type 1 add, 2 remove).
        Removal is limited so the leg keeps its initial margin: ``iw + min(UPNL, 0) - notional/lev``."""
        acct = self.account(account)
        self.spec(symbol)
        ps = position_side or BOTH
        if acct.hedge_mode and ps not in (LONG, SHORT):
            raise Rejected(Reason.POSITION_SIDE_MISMATCH, "positionSide")
        if not acct.hedge_mode and ps != BOTH:
            raise Rejected(Reason.POSITION_SIDE_MISMATCH, "positionSide")
        if not (amount > 0 and math.isfinite(amount)):
            raise Rejected(Reason.INVALID_PARAM, "amount")
        cfg = acct.config(symbol)
        leg = acct.legs.get((symbol, ps))
        if cfg.margin_mode is not MarginMode.ISOLATED or leg is None or leg.amount == 0:
            raise Rejected(Reason.MARGIN_NOT_ISOLATED)
        asset = self.specs[symbol].margin_asset
        if add:
            if amount > self.cross_pool(acct, asset).available + _EPS:
                raise Rejected(Reason.CROSS_BALANCE_INSUFFICIENT)
            acct.wallets[asset] = acct.wallets.get(asset, 0.0) - amount
            leg.isolated_wallet += amount
        else:
            upnl = self.unrealized(leg)
            removable = leg.isolated_wallet + min(upnl, 0.0) - abs(self.notional(leg)) / cfg.leverage
            if amount > removable + _EPS:
                raise Rejected(Reason.ISOLATED_BALANCE_INSUFFICIENT)
            acct.wallets[asset] = acct.wallets.get(asset, 0.0) + amount
            leg.isolated_wallet -= amount
        leg.update_time = now_ms
        acct.update_time = now_ms
        return [self._account_update(acct, "MARGIN_TRANSFER", [leg], now_ms, balance_change=0.0)]

    def set_leverage(self, account: str, symbol: str, leverage: int) -> SymbolConfig:
        acct = self.account(account)
        spec = self.spec(symbol)
        if not 1 <= leverage <= spec.max_leverage:
            raise Rejected(Reason.BAD_LEVERAGE, "leverage")
        exposure = sum(abs(self.notional(leg)) for leg in acct.open_legs() if leg.symbol == symbol)
        if exposure > spec.max_notional_for_leverage(leverage) + _EPS:
            raise Rejected(Reason.MAX_POSITION_AT_LEVERAGE)
        cfg = acct.config(symbol)
        cfg.leverage = leverage
        return cfg

    def set_margin_mode(self, account: str, symbol: str, mode: MarginMode) -> SymbolConfig:
        acct = self.account(account)
        self.spec(symbol)
        cfg = acct.config(symbol)
        if cfg.margin_mode is mode:
            raise Rejected(Reason.MARGIN_MODE_UNCHANGED)
        if any(leg.symbol == symbol for leg in acct.open_legs()):
            raise Rejected(Reason.MARGIN_MODE_WITH_POSITION)
        cfg.margin_mode = mode
        return cfg

    def set_position_mode(self, account: str, hedge: bool) -> None:
        acct = self.account(account)
        if acct.hedge_mode == hedge:
            raise Rejected(Reason.POSITION_MODE_UNCHANGED)
        if acct.open_legs():
            raise Rejected(Reason.POSITION_MODE_WITH_POSITION)
        acct.hedge_mode = hedge

    # ---- the liquidation engine ---------------------------------------------------------------

    def check_liquidations(self, *, now_ms: int, sim_time: float, tick_index: int) -> list[LedgerEvent]:
        """Run after every mark update: MARGIN_CALL on first crossing of 0.8, then liquidate every
        isolated leg and every cross pool (one per margin asset) whose equity no longer covers its
        maintenance margin.

        Each leg is valued once per call (this runs every tick over every account)."""
        events: list[LedgerEvent] = []
        specs = self.specs
        for acct in self.accounts.values():
            legs = acct.open_legs()
            if not legs:
                acct.warned.clear()
                continue
            pools: dict[str, tuple[list[Leg], float, float]] = {}
            isolated: list[tuple[Leg, float, float]] = []
            for leg in legs:
                upnl, maint = self.unrealized(leg), self.maint_margin(leg, acct)
                if acct.config(leg.symbol).margin_mode is MarginMode.ISOLATED:
                    isolated.append((leg, leg.isolated_wallet + upnl, maint))
                else:
                    cross, upnl_sum, maint_sum = pools.get(specs[leg.symbol].margin_asset, ([], 0.0, 0.0))
                    cross.append(leg)
                    pools[specs[leg.symbol].margin_asset] = (cross, upnl_sum + upnl, maint_sum + maint)
            equities = {
                asset: acct.wallets.get(asset, 0.0)
                + (self.collateral(acct) if asset == acct.home else 0.0)
                + upnl_sum
                for asset, (_, upnl_sum, _) in pools.items()
            }
            # MARGIN_CALL first: in a fast market Binance's may arrive only just before (or after) the
            # liquidation it warns about.
            for asset in {acct.home, *pools}:
                key = _cross_key(asset, acct.home)
                cross, _, maint_sum = pools.get(asset, ([], 0.0, 0.0))
                if cross and _ratio(maint_sum, equities[asset]) >= MARGIN_CALL_RATIO:
                    if key not in acct.warned:
                        acct.warned.add(key)
                        states = tuple(self.leg_state(acct, leg) for leg in cross)
                        wallet = acct.wallets.get(asset, 0.0)
                        events.append(MarginCall(acct.name, wallet, states, now_ms, asset))
                else:
                    acct.warned.discard(key)
            for leg, equity, maint in isolated:
                if _ratio(maint, equity) >= MARGIN_CALL_RATIO:
                    if leg.key not in acct.warned:
                        acct.warned.add(leg.key)
                        state = self.leg_state(acct, leg)
                        asset = specs[leg.symbol].margin_asset
                        wallet = acct.wallets.get(asset, 0.0)
                        events.append(MarginCall(acct.name, wallet, (state,), now_ms, asset))
                else:
                    acct.warned.discard(leg.key)
            for leg, equity, maint in isolated:
                if equity <= maint:
                    events.extend(
                        self._liquidate(acct, [leg], MarginMode.ISOLATED, now_ms, sim_time, tick_index)
                    )
            for asset, (cross, _, maint_sum) in pools.items():
                if maint_sum >= equities[asset]:
                    events.extend(
                        self._liquidate(acct, cross, MarginMode.CROSS, now_ms, sim_time, tick_index)
                    )
        return events

    def _liquidate(
        self,
        acct: Account,
        legs: Iterable[Leg],
        mode: MarginMode,
        now_ms: int,
        sim_time: float,
        tick_index: int,
    ) -> list[LedgerEvent]:
        events: list[LedgerEvent] = []
        touched: list[Leg] = []
        realized_total = 0.0
        fee_base = 0.0
        legs = list(legs)
        asset = self.specs[legs[0].symbol].margin_asset  # one pool's legs, or one isolated leg
        wallet_before = acct.wallets.get(asset, 0.0) + acct.isolated_wallets(asset, self.specs)
        for leg in legs:
            spec = self.specs[leg.symbol]
            mark = self.marks[leg.symbol]
            size = abs(leg.amount)
            realized = spec.pnl(leg.amount, leg.entry_price, mark)
            side = SELL if leg.amount > 0 else BUY
            self._liq_seq += 1
            order_id = self._next_order_id
            self._next_order_id += 1
            trade_id = self._next_trade_id
            self._next_trade_id += 1
            order = Order(
                order_id=order_id,
                client_order_id=f"autoclose-{now_ms}{self._liq_seq:06d}",
                symbol=leg.symbol,
                side=side,
                position_side=leg.position_side,
                order_type="LIQUIDATION",
                orig_qty=size,
                executed_qty=size,
                avg_price=mark,
                reduce_only=False,
                status="FILLED",
                time_in_force="IOC",
                time=now_ms,
                update_time=now_ms,
                realized=realized,
            )
            acct.orders[order_id] = order
            acct.client_ids[order.client_order_id] = order_id
            acct.trades.append(
                Trade(
                    trade_id, order_id, leg.symbol, side, leg.position_side, mark, size, realized, 0.0, now_ms
                )
            )
            self.liquidations.append(
                LiquidationRecord(
                    account=acct.name,
                    symbol=leg.symbol,
                    position_side=PositionSide(leg.position_side.lower()),
                    margin_mode=mode,
                    side=Side.LONG if leg.amount > 0 else Side.SHORT,
                    contracts=size,
                    mark_price=mark,
                    sim_time=sim_time,
                    tick_index=tick_index,
                )
            )
            events.append(
                OrderUpdate(acct.name, order, "CALCULATED", size, mark, 0.0, realized, trade_id, now_ms)
            )
            realized_total += realized
            fee_base += abs(spec.value(size, mark)) * spec.liquidation_fee
            leg.realized += realized
            leg.amount = 0.0
            leg.entry_price = 0.0
            leg.isolated_wallet = 0.0  # isolated: the wallet is forfeited, whatever is left of it
            leg.update_time = now_ms
            touched.append(leg)
        if mode is MarginMode.CROSS:
            remaining = acct.wallets.get(asset, 0.0) + realized_total
            if acct.multi_assets and asset == acct.home:
                # the other assets stay; the USDT wallet carries the loss, negative if need be
                clearance = min(max(remaining + self.collateral(acct), 0.0), fee_base)
                acct.wallets[asset] = remaining - clearance
            else:
                clearance = min(max(remaining, 0.0), fee_base)
                acct.wallets[asset] = max(0.0, remaining - clearance)
        acct.warned.difference_update(leg.key for leg in touched)
        acct.update_time = now_ms
        wallet_after = acct.wallets.get(asset, 0.0) + acct.isolated_wallets(asset, self.specs)
        change = wallet_after - wallet_before
        events.append(self._account_update(acct, "ORDER", touched, now_ms, balance_change=change))
        return events

    def _account_update(
        self, acct: Account, reason: str, legs: Iterable[Leg], now_ms: int, *, balance_change: float
    ) -> AccountUpdate:
        """The balance of the legs' margin asset (the home asset when there are none) and the legs."""
        legs = list(legs)
        asset = self.specs[legs[0].symbol].margin_asset if legs else acct.home
        wallet = acct.wallets.get(asset, 0.0)
        return AccountUpdate(
            account=acct.name,
            reason=reason,
            wallet_balance=wallet + acct.isolated_wallets(asset, self.specs),
            cross_wallet=wallet,
            balance_change=balance_change,
            legs=tuple(self.leg_state(acct, leg) for leg in legs),
            time=now_ms,
            asset=asset,
        )


def _between(p0: float, v0: float, p1: float, v1: float, inverse: bool) -> float:
    """Where the line through (p0, v0) and (p1, v1) crosses zero: in price, or in 1 / price for an
    inverse contract (whose PnL and coin value are linear in 1 / price)."""
    if inverse:
        x0, x1 = 1.0 / p0, 1.0 / p1
        return 1.0 / (x0 + (x1 - x0) * v0 / (v0 - v1))
    return p0 + (p1 - p0) * v0 / (v0 - v1)


def _nearest_root(
    f: Callable[[float], float], kinks: Iterable[float], mark: float, top: float, *, inverse: bool = False
) -> float | None:
    """The zero of ``f`` nearest to ``mark`` in (0, top), for ``f`` linear between the kinks (in
    1 / price when ``inverse``; there the search stops at ``mark / _INVERSE_SPAN``, not at 0).

    At or below zero already means the pool is at its limit now: the mark itself is returned."""
    f_mark = f(mark)
    if f_mark <= 0:
        return mark
    points = sorted(set(kinks))
    best: float | None = None
    prev_p, prev_v = mark, f_mark
    bottom = mark / _INVERSE_SPAN if inverse else 0.0
    for p in [k for k in reversed(points) if bottom < k < mark] + [bottom]:
        v = f(p)
        if v <= 0:
            best = (
                _between(prev_p, prev_v, p, v, inverse) if inverse else p + (prev_p - p) * (-v) / (prev_v - v)
            )
            break
        prev_p, prev_v = p, v
    prev_p, prev_v = mark, f_mark
    if math.isfinite(top) and top > mark:
        for p in [k for k in points if mark < k < top] + [top]:
            v = f(p)
            if v <= 0:
                up = _between(prev_p, prev_v, p, v, inverse)
                if best is None or up - mark < mark - best:
                    best = up
                break
            prev_p, prev_v = p, v
    if best is not None and best <= 0:
        return None
    return best
