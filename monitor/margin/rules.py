"""Per-venue margin rules: what a position requires and at which mark price it is liquidated.

Every venue is described by the same few functions of a price ``P`` (the mark of the position's symbol):
unrealised PnL, the maintenance requirement, and the isolated equity. Liquidation is where
``equity(P) == requirement(P)``. A venue with a published closed form overrides the liquidation
functions; the others use :mod:`monitor.margin.solver`, which is also the test oracle for the closed
forms. Sources and formulas: ``margin-reference.md`` sections 1 to 3, cited per class.

Linear contracts are settled in quote and their size is ``q = contracts * contract_size`` base units;
inverse contracts are settled in coin and ``q = contracts * contract_size`` is their face value in quote
(e.g. 100 USD per BTCUSD_PERP contract). Both closed forms below are written over "legs": the positions of
one symbol that share its mark (a one-way position, or the long and short legs of a hedge-mode symbol).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import pairwise

from monitor.margin import solver
from monitor.margin.tiers import cumulative_amount
from monitor.margin.tiers import tier_index_extended as tier_index
from monitor.model import Position, Tier, Venue

# How many times tier re-selection may move before the exhaustive per-segment scan takes over.
FIXED_POINT_ROUNDS = 6


def size(p: Position) -> float:
    """``q``: base units (linear) or face value in quote (inverse)."""
    return p.contracts * p.contract_size


def upnl(p: Position, price: float) -> float:
    """Unrealised PnL in the settlement asset at ``price``."""
    q = p.contracts * p.contract_size
    s = 1.0 if p.side == "long" else -1.0
    if p.inverse:
        return s * q * (1.0 / p.entry_price - 1.0 / price)
    return s * q * (price - p.entry_price)


def notional(p: Position, price: float) -> float:
    """Position value in the settlement asset: quote for linear, coin for inverse."""
    q = p.contracts * p.contract_size
    return q / price if p.inverse else q * price


class Rules:
    """The generic rule: requirement = value x mmr - cum with the tier at the current price, equity =
    wallet + UPNL, liquidation by the numeric solver. Venues override what they publish."""

    venue: Venue = Venue.BINANCE_USDM
    inverse_default: bool = False
    # The venue publishes no formula for its liquidation price: ours is an estimate, and where a
    # position carries the exchange's figure that one is judged (``margin/account.py``).
    estimated: bool = False

    # --- what a position requires -------------------------------------------------------------
    def tier_value(self, p: Position, price: float) -> float:
        """The quantity a venue's tier table is indexed by."""
        return notional(p, price)

    def tier(self, p: Position, price: float) -> Tier:
        return p.tiers[tier_index(p.tiers, self.tier_value(p, price))]

    def requirement(self, p: Position, price: float, taker_fee: float) -> float:
        t = p.tiers[tier_index(p.tiers, self.tier_value(p, price))]
        return notional(p, price) * t.mmr - t.cum

    def isolated_equity(self, p: Position, price: float, taker_fee: float) -> float:
        return (p.isolated_wallet or 0.0) + upnl(p, price)

    def breakpoints(self, p: Position) -> list[float]:
        """Prices at which ``p`` changes tier: where the requirement bends."""
        q = p.contracts * p.contract_size
        if p.inverse:
            return [q / t.floor for t in p.tiers if t.floor > 0]
        return [t.floor / q for t in p.tiers if t.floor > 0]

    # --- where it is liquidated ----------------------------------------------------------------
    def isolated_liquidation_price(
        self, p: Position, taker_fee: float, mark: float | None = None
    ) -> float | None:
        def f(x: float) -> float:
            return self.isolated_equity(p, x, taker_fee) - self.requirement(p, x, taker_fee)

        m = p.mark_price if mark is None else mark
        return solver.solve_nearest(f, m, self.breakpoints(p)).nearest(m)

    def cross_liquidation_price(
        self, legs: Sequence[Position], base: float, taker_fee: float, mark: float | None = None
    ) -> float | None:
        """Price of the legs' symbol at which the cross pool is liquidated.

        ``base`` = cross wallet + UPNL of every other cross position - their requirement, all held at
        their current marks (Binance's WB - TMM1 + UPNL1).
        """
        return solve_cross(self, legs, base, taker_fee, mark)

    def wallet_for_liquidation_at(self, p: Position, price: float, taker_fee: float) -> float:
        """The isolated wallet that puts ``p``'s liquidation exactly at ``price``."""
        return self.requirement(p, price, taker_fee) - upnl(p, price)


def solve_cross(
    rules: Rules,
    legs: Sequence[Position],
    base: float,
    taker_fee: float,
    mark: float | None = None,
    extra: Callable[[float], float] | None = None,
) -> float | None:
    """The numeric answer for a cross symbol: the oracle for every closed form. ``extra(P)`` adds
    what else moves with the symbol's price (collateral priced by it, in Multi-Assets mode)."""
    mark = legs[0].mark_price if mark is None else mark

    def f(x: float) -> float:
        total = base if extra is None else base + extra(x)
        for leg in legs:
            total += upnl(leg, x) - rules.requirement(leg, x, taker_fee)
        return total

    bps = [b for leg in legs for b in rules.breakpoints(leg)]
    return solver.solve_nearest(f, mark, bps).nearest(mark)


def solve_isolated(rules: Rules, p: Position, taker_fee: float) -> float | None:
    """The numeric answer for an isolated position, whatever closed form ``rules`` has."""
    return Rules.isolated_liquidation_price(rules, p, taker_fee)


# --- closed forms over legs ---------------------------------------------------------------------
def _linear_lp(
    legs: Sequence[Position], mmrs: Sequence[float], cums: Sequence[float], base: float
) -> float | None:
    """margin-reference 1.3: LP = (WB' + sum cum - sum s q EP) / (sum q mmr - sum s q)."""
    num = base
    den = 0.0
    for leg, mmr, cum in zip(legs, mmrs, cums, strict=True):
        q = leg.contracts * leg.contract_size
        s = 1.0 if leg.side == "long" else -1.0
        num += cum - s * q * leg.entry_price
        den += q * mmr - s * q
    if den == 0:
        return None
    lp = num / den
    return lp if lp > legs[0].mark_price * solver.PRICE_FLOOR else None


def _inverse_lp(
    legs: Sequence[Position], mmrs: Sequence[float], cums: Sequence[float], base: float
) -> float | None:
    """margin-reference 1.4: LP = (sum q mmr + sum s q) / (WB' + sum cum + sum s q / EP)."""
    num = 0.0
    den = base
    for leg, mmr, cum in zip(legs, mmrs, cums, strict=True):
        q = leg.contracts * leg.contract_size
        s = 1.0 if leg.side == "long" else -1.0
        num += q * mmr + s * q
        den += cum + s * q / leg.entry_price
    if den == 0:
        return None
    lp = num / den
    return lp if lp > legs[0].mark_price * solver.PRICE_FLOOR else None


class TieredClosedForm(Rules):
    """Closed form with tier re-selection (Binance FAQ): the tier used is the one holding the notional
    *at the liquidation price*. Start from the tiers at the mark and re-select at the result until it is
    self-consistent (one or two rounds in practice); if that does not settle, scan every tier segment
    and keep the self-consistent root nearest the mark.

    The closed forms assume tiers by notional and a requirement of ``notional x mmr - cum``; the
    single-leg functions below, which run for every position on every tick, use that directly instead
    of going through ``tier_value`` and ``notional``.
    """

    def requirement(self, p: Position, price: float, taker_fee: float) -> float:
        """``Rules.requirement`` with the notional computed once and looked up once."""
        q = p.contracts * p.contract_size
        value = q / price if p.inverse else q * price
        t = p.tiers[tier_index(p.tiers, value)]
        return value * t.mmr - t.cum

    def _lp_with(self, legs: Sequence[Position], idx: Sequence[int], base: float) -> float | None:
        mmrs = [leg.tiers[i].mmr for leg, i in zip(legs, idx, strict=True)]
        cums = [leg.tiers[i].cum for leg, i in zip(legs, idx, strict=True)]
        inverse = legs[0].inverse
        return (_inverse_lp if inverse else _linear_lp)(legs, mmrs, cums, base)

    def _indices_at(self, legs: Sequence[Position], price: float) -> list[int]:
        return [tier_index(leg.tiers, self.tier_value(leg, price)) for leg in legs]

    def tiered_liquidation_price(self, legs: Sequence[Position], base: float, mark: float) -> float | None:
        if len(legs) == 1:
            return self._single_leg(legs[0], base, mark)
        idx = self._indices_at(legs, mark)
        for _ in range(FIXED_POINT_ROUNDS):
            lp = self._lp_with(legs, idx, base)
            if lp is None:
                break
            new = self._indices_at(legs, lp)
            if new == idx:
                return lp
            idx = new
        return self._scan_segments(legs, base, mark)

    def _single_leg(self, p: Position, base: float, mark: float) -> float | None:
        """The common case, kept lean: it runs for every position on every tick."""
        tiers = p.tiers
        q = p.contracts * p.contract_size
        s = 1.0 if p.side == "long" else -1.0
        inverse = p.inverse
        i = tier_index(tiers, q / mark if inverse else q * mark)
        for _ in range(FIXED_POINT_ROUNDS):
            t = tiers[i]
            if inverse:
                den = base + t.cum + s * q / p.entry_price
                lp = (q * t.mmr + s * q) / den if den != 0 else 0.0
            else:
                den = q * t.mmr - s * q
                lp = (base + t.cum - s * q * p.entry_price) / den if den != 0 else 0.0
            if lp <= mark * solver.PRICE_FLOOR:
                break
            j = tier_index(tiers, q / lp if inverse else q * lp)
            if j == i:
                return lp
            i = j
        # One leg's balance (equity - requirement) is monotone in its price, so the same sign at both
        # ends of the price range means no price liquidates it.
        lo, hi = mark * solver.PRICE_FLOOR, mark / solver.PRICE_FLOOR
        if (self._balance(p, base, lo) > 0) == (self._balance(p, base, hi) > 0):
            return None
        return self._scan_segments((p,), base, mark)

    def _balance(self, p: Position, base: float, price: float) -> float:
        """Equity minus requirement of one leg at ``price``, ``base`` being everything else."""
        q = p.contracts * p.contract_size
        value = q / price if p.inverse else q * price
        t = p.tiers[tier_index(p.tiers, value)]
        return base + upnl(p, price) - (value * t.mmr - t.cum)

    def _legs_balance(self, legs: Sequence[Position], base: float, price: float) -> float:
        return base + sum(self._balance(leg, 0.0, price) for leg in legs)

    def _scan_segments(self, legs: Sequence[Position], base: float, mark: float) -> float | None:
        cuts = sorted({b for leg in legs for b in self.breakpoints(leg)})
        edges = [0.0, *cuts, float("inf")]
        best: float | None = None
        for lo, hi in pairwise(edges):
            probe = hi / 2 if lo == 0 else (lo * 2 if hi == float("inf") else 0.5 * (lo + hi))
            idx = self._indices_at(legs, probe)
            lp = self._lp_with(legs, idx, base)
            if lp is None or not (lo * (1 - 1e-12) <= lp <= hi * (1 + 1e-12)):
                continue
            if best is None or abs(lp - mark) < abs(best - mark):
                best = lp
        # A table without deductions (Bitget's rule for older positions) jumps at a tier's edge: the
        # balance can cross zero there, at no root of any segment's closed form
        for cut in cuts:
            near = self._legs_balance(legs, base, cut * (1 - 1e-12))
            far = self._legs_balance(legs, base, cut * (1 + 1e-12))
            if (near > 0) != (far > 0) and (best is None or abs(cut - mark) < abs(best - mark)):
                best = cut
        return best

    def isolated_liquidation_price(
        self, p: Position, taker_fee: float, mark: float | None = None
    ) -> float | None:
        return self.tiered_liquidation_price(
            (p,), p.isolated_wallet or 0.0, p.mark_price if mark is None else mark
        )

    def cross_liquidation_price(
        self, legs: Sequence[Position], base: float, taker_fee: float, mark: float | None = None
    ) -> float | None:
        return self.tiered_liquidation_price(legs, base, legs[0].mark_price if mark is None else mark)


class BinanceUsdm(TieredClosedForm):
    """Binance USD-M: tiers by quote notional, MM = notional x MMR - cum (reference 1.1-1.3)."""

    venue = Venue.BINANCE_USDM
    inverse_default = False


class BinanceCoinm(TieredClosedForm):
    """Binance COIN-M: tiers by coin notional N x CS / P, all amounts in coin (reference 1.4)."""

    venue = Venue.BINANCE_COINM
    inverse_default = True


class Bybit(TieredClosedForm):
    """Bybit v5 (reference section 2).

    Since 2025-09-02 the maintenance requirement is computed from the mark price in cross and isolated
    margin alike (formulas 2.5), and every linear requirement includes the estimated fee to close
    (``fee_to_close``), as Bybit's ``positionMM`` does. The fee is fixed by the entry and the leverage,
    so isolated linear has the tiered closed form over a wallet net of it (an isolated wallet is
    ``positionIM`` plus added margin, which holds the same fee). The 2024 documents evaluated it at
    entry instead: their long 1 BTC @ 20,000 at 50x (MMR 0.5 %) liquidates at 19,700 there and at
    19,698.49 here, ``(EP - IM/q) / (1 - MMR)``. Isolated
    inverse follows the 2026 UTA revision: added margin counted net of the close fee,
    ``extra / (1 + taker)``; the initial margin needs ``leverage`` (without it the whole wallet counts
    as initial margin). Cross has no published closed form: linear cross uses the tiered one over the
    base net of the fees (the solver's root), inverse cross the solver.
    """

    venue = Venue.BYBIT
    inverse_default = False

    def requirement(self, p: Position, price: float, taker_fee: float) -> float:
        t = p.tiers[tier_index(p.tiers, notional(p, price))]
        return notional(p, price) * t.mmr - t.cum + self.fee_to_close(p, taker_fee)

    def fee_to_close(self, p: Position, taker_fee: float) -> float:
        """Bybit's "estimated fee to close", part of both IM and MM (formulas 2.5, verified on a real
        position to 8e-7): a taker close at the bankruptcy price, ``q x EP x (1 -/+ 1/lev) x taker``.

        It is fixed by the entry and the leverage, so it moves no liquidation price by itself; leaving
        it out under-states Bybit's requirement by about ``q x bust x taker``. Without a leverage the
        bankruptcy price is taken at the entry (the fee of a close at entry). Inverse positions count
        it through ``_inverse_base`` (the 2026 form nets it out of the added margin) and get none here.
        """
        if p.inverse:
            return 0.0
        q = p.contracts * p.contract_size
        bust = 1.0
        if p.leverage:
            bust = 1.0 - 1.0 / p.leverage if p.side == "long" else 1.0 + 1.0 / p.leverage
        return q * p.entry_price * bust * taker_fee

    def _inverse_base(self, p: Position, taker_fee: float) -> float:
        wallet = p.isolated_wallet or 0.0
        if not p.leverage:
            return wallet
        im = p.contracts * p.contract_size / p.entry_price / p.leverage
        return im + (wallet - im) / (1.0 + taker_fee)

    def isolated_equity(self, p: Position, price: float, taker_fee: float) -> float:
        if p.inverse:
            return self._inverse_base(p, taker_fee) + upnl(p, price)
        return super().isolated_equity(p, price, taker_fee)

    def isolated_liquidation_price(
        self, p: Position, taker_fee: float, mark: float | None = None
    ) -> float | None:
        m = p.mark_price if mark is None else mark
        if p.inverse:
            return self.tiered_liquidation_price((p,), self._inverse_base(p, taker_fee), m)
        wallet = (p.isolated_wallet or 0.0) - self.fee_to_close(p, taker_fee)
        return self.tiered_liquidation_price((p,), wallet, m)

    def cross_liquidation_price(
        self, legs: Sequence[Position], base: float, taker_fee: float, mark: float | None = None
    ) -> float | None:
        """Bybit publishes no cross form, but its linear requirement is Binance's (tiers at the mark,
        a deduction) plus a fee fixed per leg: the tiered closed form over the base net of the legs'
        fees is the root the solver finds (a test compares them), at a fraction of its cost."""
        if any(leg.inverse for leg in legs):
            return solve_cross(self, legs, base, taker_fee, mark)
        fees = sum(self.fee_to_close(leg, taker_fee) for leg in legs)
        return self.tiered_liquidation_price(legs, base - fees, legs[0].mark_price if mark is None else mark)

    def wallet_for_liquidation_at(self, p: Position, price: float, taker_fee: float) -> float:
        needed = self.requirement(p, price, taker_fee) - upnl(p, price)
        if p.inverse and p.leverage:
            # invert _inverse_base: base = im + (w - im) / (1 + fee)
            im = p.contracts * p.contract_size / p.entry_price / p.leverage
            return im + (needed - im) * (1.0 + taker_fee)
        return needed


class Okx(Rules):
    """OKX v5 (formulas 3.1 to 3.5): tiers by number of contracts with no deduction, the whole position
    at its tier's rate; the requirement includes the fee to close at the taker rate, value x (MMR +
    taker), which is OKX's ``mgnRatio`` denominator (``mmr`` amount + liquidation fee).

    The tier follows the contracts held, not the price, so the requirement is linear in the price
    (linear swaps) or in its inverse (coin-margined swaps), and both isolated and cross have exact
    closed forms: the balance ``base + sum upnl(P) - sum value(P) x rate`` has one root. Verified on a
    real cross position to 1e-16 (vector O-R2, ``tests/margin/test_okx_vectors.py``).
    """

    venue = Venue.OKX
    inverse_default = False

    def tier_value(self, p: Position, price: float) -> float:
        return p.contracts

    def _rate(self, p: Position, taker_fee: float) -> float:
        return p.tiers[tier_index(p.tiers, p.contracts)].mmr + taker_fee

    def requirement(self, p: Position, price: float, taker_fee: float) -> float:
        return notional(p, price) * self._rate(p, taker_fee)

    def breakpoints(self, p: Position) -> list[float]:
        return []

    def _legs_lp(self, legs: Sequence[Position], base: float, taker_fee: float) -> float | None:
        rates = [self._rate(leg, taker_fee) for leg in legs]
        closed = _inverse_lp if legs[0].inverse else _linear_lp
        return closed(legs, rates, [0.0] * len(legs), base)

    def isolated_liquidation_price(
        self, p: Position, taker_fee: float, mark: float | None = None
    ) -> float | None:
        return self._legs_lp((p,), p.isolated_wallet or 0.0, taker_fee)

    def cross_liquidation_price(
        self, legs: Sequence[Position], base: float, taker_fee: float, mark: float | None = None
    ) -> float | None:
        """The isolated equation with ``base`` (the cross equity left to these legs) for the margin:
        OKX's own cross ``liqPx`` is this root (vector O-R2)."""
        return self._legs_lp(legs, base, taker_fee)


def ratio_from_okx(mgn_ratio: float) -> float:
    """OKX's ``mgnRatio`` (equity / (maintenance + fee to close), liquidation at <= 1) as the
    project's ratio (requirement / equity, liquidation at >= 1). The one place the two directions
    meet: a zero or negative OKX ratio (no equity left) is ``inf``, as ``margin.account`` says."""
    return 1.0 / mgn_ratio if mgn_ratio > 0 else float("inf")


def ratio_to_okx(ratio: float) -> float:
    """The project's ratio as the figure OKX's app shows (equity / requirement); ``inf`` without a
    requirement, 0 without equity."""
    if ratio == float("inf"):
        return 0.0
    return 1.0 / ratio if ratio > 0 else float("inf")


# Bitget's tiered maintenance margin applies to positions opened at or after this instant (epoch s):
# 2025-11-10 08:00 UTC, support article 12560603841952.
BITGET_TIERED_FROM = 1762761600.0


class Bitget(TieredClosedForm):
    """Bitget classic USDT-FUTURES (venues note 1.4).

    Tiers by position value in USDT (``startUnit``/``endUnit``); the published ``keepMarginRate`` leaves
    out the taker fee, which Bitget adds to every maintenance margin: ``MM = value x (MMR + taker)``.
    Positions opened at or after ``BITGET_TIERED_FROM`` are charged piecewise (each slice of value at its
    own tier's rate); older ones, and a position whose open time is unknown, keep the old rule (the
    whole value at the tier reached). Bitget publishes no deduction, so the piecewise sum is written as
    ``value x (mmr + taker) - cum`` with ``cum`` from the tier table (Binance's recurrence): then
    the isolated closed form is Bitget's published one, the "pre-calculated offset" being ``cum``:
    ``LP = (margin + cum - s q EP) / (q (MMR + taker) - s q)``.

    The cross liquidation formula is published but unreadable: the exchange's figure is used when the
    position carries one, else the numeric solver over the same requirement (ours, an estimate).
    """

    venue = Venue.BITGET
    inverse_default = False

    def effective(self, p: Position, taker_fee: float) -> Position:
        """``p`` with tiers whose ``mmr`` includes the fee and whose ``cum`` follows its open time's rule."""
        piecewise = p.opened_at is not None and p.opened_at >= BITGET_TIERED_FROM
        key = (id(p.tiers), taker_fee, piecewise)
        hit = _BITGET_TIERS.get(key)
        if hit is None or hit[0] is not p.tiers:
            hit = (p.tiers, bitget_tiers(p.tiers, taker_fee, piecewise))
            if len(_BITGET_TIERS) > 4096:
                _BITGET_TIERS.clear()
            _BITGET_TIERS[key] = hit
        return replace(p, tiers=hit[1])

    def requirement(self, p: Position, price: float, taker_fee: float) -> float:
        return super().requirement(self.effective(p, taker_fee), price, taker_fee)

    def isolated_liquidation_price(
        self, p: Position, taker_fee: float, mark: float | None = None
    ) -> float | None:
        return self._liquidation_price(
            (p,), p.isolated_wallet or 0.0, taker_fee, p.mark_price if mark is None else mark
        )

    def cross_liquidation_price(
        self, legs: Sequence[Position], base: float, taker_fee: float, mark: float | None = None
    ) -> float | None:
        theirs = legs[0].exchange_liquidation_price
        if theirs:
            return theirs
        return self._liquidation_price(legs, base, taker_fee, legs[0].mark_price if mark is None else mark)

    def _liquidation_price(
        self, legs: Sequence[Position], base: float, taker_fee: float, mark: float
    ) -> float | None:
        effective = [self.effective(leg, taker_fee) for leg in legs]
        if all(leg.opened_at is not None and leg.opened_at >= BITGET_TIERED_FROM for leg in legs):
            return self.tiered_liquidation_price(effective, base, mark)
        # the old rule has no deduction: its requirement jumps at each tier's edge, where the balance
        # can cross zero with no segment's closed form holding a root, and a root further away can be
        # self-consistent: every segment and every edge is looked at, the nearest crossing wins
        return self._scan_segments(effective, base, mark)


def bitget_tiers(tiers: Sequence[Tier], taker_fee: float, piecewise: bool) -> tuple[Tier, ...]:
    """Bitget's table as ``value x mmr - cum`` tiers: the fee added to every rate; ``cum`` continuous
    (the piecewise sum) or zero (the old whole-value rule)."""
    out: list[Tier] = []
    for t in tiers:
        cum = 0.0
        if piecewise and out:
            prev = out[-1]
            cum = t.floor * (t.mmr + taker_fee - prev.mmr) + prev.cum
        out.append(Tier(t.floor, t.cap, t.mmr + taker_fee, cum))
    return tuple(out)


_BITGET_TIERS: dict[tuple[int, float, bool], tuple[Sequence[Tier], tuple[Tier, ...]]] = {}


class Hyperliquid(TieredClosedForm):
    """Hyperliquid perpetuals (venues note 2.5; docs "Liquidations", "Margin tiers").

    Fee-free: the maintenance rate of a tier is ``1 / (2 x maxLeverage)`` of that tier and the
    requirement is ``notional x mmr - deduction``, the deduction continuous across tiers
    (:func:`hyperliquid_tiers`), so it is the tiered closed form with the tier at the liquidation price.
    The documented ``liq = mark - side x margin_available / |szi| / (1 - l x side)`` is that closed form
    solved for one leg: with ``margin_available = account_value - maintenance`` (cross) it is the cross
    root over the base of every other position, and isolated, with the wallet ``rawUsd + szi x entry``
    (``rawUsd`` net of the entry's notional), it is ``-rawUsd / (szi x (1 - l x side))``, independent of
    the mark. Both reproduce Hyperliquid's ``liquidationPx`` on real positions (tests/margin).
    """

    venue = Venue.HYPERLIQUID
    inverse_default = False


def hyperliquid_tiers(tiers: Sequence[tuple[float, float]]) -> tuple[Tier, ...]:
    """A margin table ``[(lowerBound, maxLeverage), ...]`` as ``value x mmr - cum`` tiers.

    Docs "Margin tiers": ``mmr(n) = 1 / (2 x maxLeverage_n)``, ``deduction(0) = 0`` and
    ``deduction(n) = deduction(n - 1) + lowerBound(n) x (mmr(n) - mmr(n - 1))``. A table id below 50 is
    one tier at that leverage, ``[(0, id)]``. Raises ``ValueError`` on a table that does not start at 0,
    whose bounds do not rise, or with a leverage that is not positive.
    """
    if not tiers:
        raise ValueError("margin table: no tiers")
    out: list[Tier] = []
    for i, (floor, max_leverage) in enumerate(tiers):
        if max_leverage <= 0:
            raise ValueError(f"margin table: tier {i} maxLeverage {max_leverage} is not positive")
        if i == 0 and floor != 0:
            raise ValueError(f"margin table: the first lowerBound is {floor}, not 0")
        if out and floor <= out[-1].floor:
            raise ValueError(f"margin table: tier {i} lowerBound {floor} does not rise")
        tier = Tier(floor, float("inf"), 1.0 / (2.0 * max_leverage))
        if out:
            prev = out[-1] = replace(out[-1], cap=floor)
            tier = replace(tier, cum=cumulative_amount(prev, tier))
        out.append(tier)
    return tuple(out)


class Bitunix(Rules):
    """Bitunix USDT-M (venues note 3.4): an estimate, not the exchange's formula.

    Bitunix publishes no formula for its API's ``marginRate`` or ``liqPrice``. What its help centre
    does publish ("Tiered Maintenance Margin Rate Rules") is the maintenance margin, on the **entry**
    price: ``MM = open price x size x MMR``, the tier chosen by that same value, and liquidation
    "when the available margin of the position is less than the maintenance margin". Read as the
    equity condition, the requirement does not move with the mark, so the liquidation price has a
    closed form: isolated ``LP = EP - s (wallet - MM) / q``; cross, over the legs of one symbol,
    ``LP = (sum s q EP + sum MM - base) / sum s q``. Whether fees or the liquidation fee count is not
    published either: none are counted.

    ``estimated``: the exchange's figures (``get_pending_positions``' ``liqPrice``) are the
    reference; ours are compared with them (the deviation alert).
    """

    venue = Venue.BITUNIX
    inverse_default = False
    estimated = True

    def tier_value(self, p: Position, price: float) -> float:
        return p.contracts * p.contract_size * p.entry_price

    def requirement(self, p: Position, price: float, taker_fee: float) -> float:
        value = p.contracts * p.contract_size * p.entry_price
        t = p.tiers[tier_index(p.tiers, value)]
        return value * t.mmr - t.cum

    def breakpoints(self, p: Position) -> list[float]:
        return []  # the requirement does not move with the price

    def isolated_liquidation_price(
        self, p: Position, taker_fee: float, mark: float | None = None
    ) -> float | None:
        if p.inverse:  # coin-M is refused by the adapter; the calculator still gets an answer
            return super().isolated_liquidation_price(p, taker_fee, mark)
        return self._lp((p,), p.isolated_wallet or 0.0, taker_fee, p.mark_price if mark is None else mark)

    def cross_liquidation_price(
        self, legs: Sequence[Position], base: float, taker_fee: float, mark: float | None = None
    ) -> float | None:
        if any(leg.inverse for leg in legs):
            return super().cross_liquidation_price(legs, base, taker_fee, mark)
        return self._lp(legs, base, taker_fee, legs[0].mark_price if mark is None else mark)

    def _lp(self, legs: Sequence[Position], base: float, taker_fee: float, mark: float) -> float | None:
        """Where ``base + sum s q (P - EP) = sum MM``; None when no positive price gets there (a net
        flat symbol, or a long whose margin covers it down to zero)."""
        num = -base
        den = 0.0
        for leg in legs:
            q = leg.contracts * leg.contract_size
            s = 1.0 if leg.side == "long" else -1.0
            num += s * q * leg.entry_price + self.requirement(leg, mark, taker_fee)
            den += s * q
        if den == 0:
            return None
        lp = num / den
        return lp if lp > mark * solver.PRICE_FLOOR else None


class Gate(TieredClosedForm):
    """Gate USDT-margined perpetuals (venues note 3.5).

    Gate's maintenance margin includes a taker fee: ``MM = value x (MMR + taker) - deduction``, tiers by
    position value (``risk_limit`` is each tier's ceiling) with the published deduction. The fee is
    the contract's default ``taker_fee_rate`` (``/futures/usdt/contracts``), not the rate the account
    pays: a real position's ``liq_price`` and ``margin`` reproduce only with 0.075 % while the same
    account's fills paid 0.05 % (vectors G-1, G-2, G-5). The fee is therefore per contract, and the
    adapter folds it into the tier table it reads (``with_fee``): these tiers carry it, and the
    account's ``taker_fee`` (what its closes would pay) plays no part here.

    Isolated is Gate's published formula, ``(EP -/+ margin / q) / (1 -/+ (MMR + taker))``, which is
    the tiered closed form over the position's ``margin``. Cross (new classic: one pool for every
    cross position) has no complete published formula: the figure here is ours, the same closed form
    over the pool less the other positions' requirement, and the exchange's ``liq_price`` is kept
    beside it (the deviation alert compares them). It reproduces the one real cross vector (G-6, a
    lone position whose pool is its own margin).
    """

    venue = Venue.GATE
    inverse_default = False


def with_fee(tiers: Sequence[Tier], taker_fee: float) -> tuple[Tier, ...]:
    """A Gate tier table with the contract's taker rate added to every maintenance rate. The deductions
    stay as published: they follow from the differences between rates, which the fee leaves alone."""
    return tuple(Tier(t.floor, t.cap, t.mmr + taker_fee, t.cum) for t in tiers)


class Blofin(Rules):
    """BloFin USDT swaps (venues note 2.4). **Derived**: BloFin publishes no margin formula.

    These identities were derived from BloFin's examples and reproduce its documented isolated row and
    a live cross capture to every printed digit (``tests/margin/test_blofin.py``); they are ours, the
    exchange's figures are the reference, and the parity alert compares the two on every tick.

    - Maintenance margin ``MM = q x mark x MMR`` (BloFin's ``maintenanceMargin``, no fee inside); the
      requirement adds the fee to close at the taker rate: ``q x mark x (MMR + taker)``.
    - BloFin's ``marginRatio`` is equity / requirement (larger is safer, liquidation at 1); ours is its
      inverse (requirement / equity), the same condition.
    - Tiers (``position-tiers``) are by position size in contracts with no deduction, so a leg's rate
      does not move with the price: the requirement is linear in it and both margin modes have a
      closed form (the price where equity = requirement). Isolated long:
      ``LP = (EP x q - margin) / (q x (1 - MMR - taker))``; cross, for one symbol's legs, the same with
      the pool's other equity and requirement in ``base``.
    """

    venue = Venue.BLOFIN
    inverse_default = False

    def tier_value(self, p: Position, price: float) -> float:
        return p.contracts

    def rate(self, p: Position, taker_fee: float) -> float:
        """MMR of the leg's size tier plus the fee to close."""
        return p.tiers[tier_index(p.tiers, p.contracts)].mmr + taker_fee

    def requirement(self, p: Position, price: float, taker_fee: float) -> float:
        return p.contracts * p.contract_size * price * self.rate(p, taker_fee)

    def breakpoints(self, p: Position) -> list[float]:
        return []  # the tier is fixed by the size, not the price

    def isolated_liquidation_price(
        self, p: Position, taker_fee: float, mark: float | None = None
    ) -> float | None:
        return _linear_lp((p,), (self.rate(p, taker_fee),), (0.0,), p.isolated_wallet or 0.0)

    def cross_liquidation_price(
        self, legs: Sequence[Position], base: float, taker_fee: float, mark: float | None = None
    ) -> float | None:
        rates = [self.rate(leg, taker_fee) for leg in legs]
        return _linear_lp(legs, rates, [0.0] * len(legs), base)


RULES: dict[Venue, Rules] = {
    Venue.BINANCE_USDM: BinanceUsdm(),
    Venue.BINANCE_COINM: BinanceCoinm(),
    Venue.BYBIT: Bybit(),
    Venue.OKX: Okx(),
    Venue.BITGET: Bitget(),
    Venue.HYPERLIQUID: Hyperliquid(),
    Venue.BITUNIX: Bitunix(),
    Venue.GATE: Gate(),
    Venue.BLOFIN: Blofin(),
}


def rules_for(venue: Venue) -> Rules:
    return RULES[venue]
