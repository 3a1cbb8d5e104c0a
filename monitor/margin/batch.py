"""Risk of many accounts at once: the Binance closed forms over columns.

Why: an all-market mark frame moves every symbol each second, so every watched account is revalued on
every frame. Position by position in Python that is most of the latency budget at a thousand legs
(docs/performance.md). Here the same numbers are computed column by column with numpy, and only the rare legs
the columns cannot settle are handed to the scalar code in :mod:`monitor.margin.rules`.

What the columns settle, per leg: notional, tier at the mark, requirement, PnL; per account: the cross
pool; per *single-leg* liquidation (an isolated position, or a cross symbol held by one leg) the closed
form with the tier at the mark, accepted when that tier is also the tier at the result (the first round
of ``TieredClosedForm._single_leg``), and "no price liquidates it" when the closed form gives no
positive price and the balance has one sign over the whole price range. Everything else (a hedge-mode
symbol with two cross legs, a tier that moves on the way to liquidation, a root the segment scan must
find) goes to the scalar functions, fed with the same sums.

Every operation is written in the order the scalar path (``monitor.margin.account.evaluate_account``)
performs it, and numpy's elementwise float64 arithmetic and ``bincount`` accumulation are IEEE operations
in that same order, so the results are not close to the scalar ones but equal to them; the tests compare
with ``==``. Only the rules that are these closed forms (Binance USD-M and COIN-M, and Gate, whose fee is
in its tiers) without Multi-Assets collateral are compiled; callers check :func:`batchable` and keep the
scalar path for the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import cast

import numpy as np
import numpy.typing as npt

from monitor.margin.account import deviation_pct
from monitor.margin.rows import AccountRowLabels, RiskArrays, RiskRows, RowColumns, RowLabels, concatenated
from monitor.margin.rules import FIXED_POINT_ROUNDS, BinanceCoinm, BinanceUsdm, Gate, rules_for
from monitor.margin.solver import PRICE_FLOOR
from monitor.model import Account, AccountRisk, CrossRisk, MarginMode, PositionSide, Side

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
Bools = npt.NDArray[np.bool_]

# Gate's rule is the same closed form (its taker rate is in the tiers it is given: rules.with_fee)
_COMPILED_RULES = (BinanceUsdm, BinanceCoinm, Gate)


def batchable(account: Account) -> bool:
    """Whether the columns compute this account exactly as ``evaluate_account`` does."""
    return not account.collateral and type(rules_for(account.venue)) in _COMPILED_RULES


class AccountColumns:
    """One account compiled: a row per position, built once per change of the account (not per tick).
    Everything a ``Batch`` needs per row is here, so joining accounts is concatenation only."""

    __slots__ = (
        "_padded",
        "account",
        "contracts",
        "cross",
        "cum",
        "entry",
        "exchange",
        "floors",
        "has_cross",
        "has_exchange",
        "inverse",
        "iso_wallet",
        "iso_wallets",
        "mmr",
        "part",
        "q",
        "s",
        "shared",
        "stored_marks",
    )

    def __init__(self, account: Account) -> None:
        if not batchable(account):
            raise ValueError(f"account {account.name!r} cannot be compiled into columns")
        ps = account.positions
        self.account = account
        self.q = np.array([p.contracts * p.contract_size for p in ps], dtype=np.float64)
        self.s = np.array([1.0 if p.side == "long" else -1.0 for p in ps], dtype=np.float64)
        self.entry = np.array([p.entry_price for p in ps], dtype=np.float64)
        self.inverse = np.array([p.inverse for p in ps], dtype=np.bool_)
        self.cross = np.array([p.margin_mode is MarginMode.CROSS for p in ps], dtype=np.bool_)
        self.has_cross = bool(self.cross.any())
        self.iso_wallet = np.array([p.isolated_wallet or 0.0 for p in ps], dtype=np.float64)
        width = max((len(p.tiers) for p in ps), default=1)
        self.floors = np.full((len(ps), width), np.inf)
        self.mmr = np.zeros((len(ps), width))
        self.cum = np.zeros((len(ps), width))
        for row, p in enumerate(ps):
            k = len(p.tiers)
            self.floors[row, :k] = [t.floor for t in p.tiers]
            self.mmr[row, :k] = [t.mmr for t in p.tiers]
            self.cum[row, :k] = [t.cum for t in p.tiers]
        self._padded: dict[int, tuple[Floats, Floats, Floats]] = {}
        # what a PositionRisk repeats from its position, as columns; those that identify a row also
        # make this account's part of the layout (one object for as long as these columns live)
        self.part = AccountRowLabels(
            account.name,
            [p.symbol for p in ps],
            [p.side for p in ps],
            [p.position_side for p in ps],
            [p.margin_mode for p in ps],
        )
        self.stored_marks = [p.mark_price for p in ps]
        self.contracts = [p.contracts for p in ps]
        self.iso_wallets = [p.isolated_wallet for p in ps]
        self.exchange = [p.exchange_liquidation_price or None for p in ps]
        self.has_exchange = np.array([x is not None for x in self.exchange], dtype=np.bool_)
        # cross legs grouped by symbol: a symbol held by two legs (hedge mode) has one liquidation
        # price for both and goes to the scalar closed form over legs
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(ps):
            if p.margin_mode is MarginMode.CROSS:
                groups.setdefault(p.symbol, []).append(i)
        self.shared = [idx for idx in groups.values() if len(idx) > 1]

    def tier_matrices(self, width: int) -> tuple[Floats, Floats, Floats]:
        """Floors, rates and deductions padded on the right to ``width`` tiers (floors with ``inf``,
        which no value reaches), kept per width: a batch joins them with one concatenation."""
        kept = self._padded.get(width)
        if kept is None:
            pad = width - self.floors.shape[1]
            kept = self._padded[width] = (
                _pad(self.floors, pad, np.inf),
                _pad(self.mmr, pad, 0.0),
                _pad(self.cum, pad, 0.0),
            )
        return kept


class Batch:
    """Several accounts' columns end to end; immutable, rebuilt (by concatenation of the cached
    per-account columns) when one of them changes."""

    def __init__(self, columns: Sequence[AccountColumns]) -> None:
        self.accounts = tuple(c.account for c in columns)
        self.layout = RowLabels([c.part for c in columns])
        self.positions = concatenated([c.account.positions for c in columns])
        n = len(self.positions)
        self.symbols: list[str] = self.layout.symbols
        self.stored_marks: list[float] = concatenated([c.stored_marks for c in columns])
        self._pick = _picker(self.symbols)
        self.sides: list[Side] = self.layout.sides
        self.position_sides: list[PositionSide] = self.layout.position_sides
        self.modes: list[MarginMode] = self.layout.modes
        self.contracts: list[float] = concatenated([c.contracts for c in columns])
        self.iso_wallets: list[float | None] = concatenated([c.iso_wallets for c in columns])
        self.exchange: list[float | None] = concatenated([c.exchange for c in columns])
        self.compared: list[int] = np.flatnonzero(_join_bools([c.has_exchange for c in columns])).tolist()
        self.starts = self.layout.starts
        self.account_of: Ints = np.repeat(np.arange(len(columns), dtype=np.intp), np.diff(self.starts))
        self.q = _join([c.q for c in columns])
        self.s = _join([c.s for c in columns])
        self.entry = _join([c.entry for c in columns])
        # products the scalar forms compute first (``s * q * x`` is ``(s * q) * x``), once per batch
        self.sq: Floats = self.s * self.q
        self.sqe: Floats = self.sq * self.entry
        self.inverse = _join_bools([c.inverse for c in columns])
        # ``None`` when no leg is inverse (a USD-M batch): the column functions then compute only the
        # linear form, about half the numpy calls of computing both and choosing
        self.inverse_or_none: Bools | None = self.inverse if self.inverse.any() else None
        self.cross = _join_bools([c.cross for c in columns])
        self.iso_wallet = _join([c.iso_wallet for c in columns])
        self.isolated_rows: Ints = np.flatnonzero(~self.cross)
        self.isolated_wallets: Floats = self.iso_wallet[self.isolated_rows]
        self.wallet = np.array([a.wallet_balance for a in self.accounts], dtype=np.float64)
        width = max((c.floors.shape[1] for c in columns), default=1)
        padded = [c.tier_matrices(width) for c in columns]
        self.floors = _stack([f for f, _, _ in padded], width)
        self.mmr = _stack([m for _, m, _ in padded], width)
        self.cum = _stack([c for _, _, c in padded], width)
        self.rows: Ints = np.arange(n, dtype=np.intp)
        # each row's tier bounds, flat: tier i of row r holds the values in [lower, upper) at
        # ``r * width + i`` (the first tier from -inf, as ``_tier_index`` clamps to it)
        lower = self.floors.copy()
        lower[:, 0] = -np.inf
        self._lower: Floats = lower.ravel()
        self._upper: Floats = np.concatenate([self.floors[:, 1:], np.full((n, 1), np.inf)], axis=1).ravel()
        self._offsets: Ints = self.rows * width
        self.has_cross = [c.has_cross for c in columns]
        self.shared = [
            (k, [self.starts[k] + i for i in idx]) for k, c in enumerate(columns) for idx in c.shared
        ]
        single = np.ones(n, dtype=np.bool_)
        for _, idx in self.shared:
            single[idx] = False
        self.single: Bools = single

    def evaluate(
        self, marks: Mapping[str, float] | None = None, which: Sequence[int] | None = None
    ) -> list[AccountRisk]:
        """``evaluate_account(account, marks)`` for the accounts at positions ``which`` (all when
        ``None``), in that order. The columns are computed for every leg: at this size a column costs
        less than choosing its rows."""
        mk = self._marks(marks)
        m = np.array(mk, dtype=np.float64)
        q, e, inv, cross = self.q, self.entry, self.inverse_or_none, self.cross
        a = self.account_of
        n_accounts = len(self.accounts)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            value = _notional(q, inv, m)
            mmr, cum, bounds = self._tiers_at_mark(value)
            req = value * mmr - cum
            pnl = _upnl(self.sq, e, inv, m)
            cross_pnl = _per_account(a, np.where(cross, pnl, 0.0), n_accounts)
            cross_req = _per_account(a, np.where(cross, req, 0.0), n_accounts)
            equity = self.wallet + cross_pnl
            cross_ratio = _margin_ratio(cross_req, equity)
            base = np.where(
                cross, self.wallet[a] + (cross_pnl[a] - pnl) - (cross_req[a] - req), self.iso_wallet
            )
            lp, settled = self._single_leg(base, m, (mmr, cum), bounds)
            # a cross leg's ratio is its account's; an isolated leg's its own, over its rows alone (a
            # cross leg's own wallet is 0, which would send every row down the slow path of the ratio)
            ratio = cross_ratio[a]
            iso = self.isolated_rows
            if len(iso):
                ratio[iso] = _margin_ratio(req[iso], self.isolated_wallets + pnl[iso])

        chosen = None if which is None else set(which)
        for i in np.flatnonzero(self.single & ~settled).tolist():
            if chosen is None or int(a[i]) in chosen:
                lp[i] = _nan_for_none(self._scalar_single(i, float(base[i]), mk[i]))
        totals = list(zip(equity.tolist(), cross_req.tolist(), cross_ratio.tolist(), strict=True))
        sums = cross_pnl.tolist()
        for k, idx in self.shared:
            if chosen is None or k in chosen:
                lp[idx] = _nan_for_none(
                    self._scalar_shared(k, idx, pnl, req, sums[k], totals[k][1], mk[idx[0]])
                )
        # signed: negative once past the liquidation price; past it with no price that restores it,
        # the mark and minus infinity (see evaluate_account's position_risk)
        past = ratio >= 1.0
        unbounded = np.isnan(lp) & past
        lp = np.where(unbounded, m, lp)
        away = np.abs(m - lp) / m * 100.0
        distance = np.where(unbounded, -np.inf, np.where(past, -away, away))
        deviations = self._deviations(lp)
        deviated = [i for i in self.compared if deviations[i] is not None]
        sheet = RiskArrays(self.layout, ratio, distance, deviated, deviations)
        # one column per PositionRisk field, in field order, shared by every account's rows; the
        # numbers stay arrays (NaN for None) and become Python floats only in the rows read
        columns = RowColumns(
            (
                self.symbols,
                self.sides,
                self.position_sides,
                self.modes,
                value,
                pnl,
                req,
                ratio,
                lp,
                distance,
                mk,
                self.exchange,
                deviations,
                self.contracts,
                self.iso_wallets,
            )
        )
        return [
            self._account_risk(k, columns, totals[k], sheet)
            for k in (range(n_accounts) if which is None else which)
        ]

    def _marks(self, marks: Mapping[str, float] | None) -> list[float]:
        """Each leg's mark: from ``marks``, else the one stored in its position."""
        if not marks:
            return self.stored_marks
        try:
            return list(self._pick(marks))  # every held symbol has a mark: one C-level lookup
        except KeyError:
            return [marks.get(s, m) for s, m in zip(self.symbols, self.stored_marks, strict=True)]

    # --- columns ------------------------------------------------------------------------------------
    def _tier_index(self, value: Floats, rows: Ints | None = None) -> Ints:
        """``tier_index_extended`` per row (all rows, or ``rows``): the count of floors at or below
        the value, less one (the top tier extends to infinity)."""
        floors = self.floors if rows is None else self.floors[rows]
        idx: Ints = np.maximum((floors <= value[:, None]).sum(axis=1) - 1, 0)
        return idx

    def _tier_terms(self, rows: Ints, idx: Ints) -> tuple[Floats, Floats]:
        """Rate and deduction of tier ``idx`` of each of ``rows``."""
        return self.mmr[rows, idx], self.cum[rows, idx]

    def _bounds(self, rows: Ints | None, idx: Ints) -> tuple[Floats, Floats]:
        """Lower and upper bound of tier ``idx`` of each row (all rows, or ``rows``): a value is in
        that tier, as ``_tier_index`` finds it, exactly when ``lower <= value < upper``."""
        flat = (self._offsets if rows is None else self._offsets[rows]) + idx
        return self._lower.take(flat), self._upper.take(flat)

    def _tiers_at_mark(self, value: Floats) -> tuple[Floats, Floats, tuple[Floats, Floats]]:
        """Rate, deduction and bounds of every row's tier at the mark (``_tier_index``'s)."""
        idx = self._tier_index(value)
        mmr, cum = self._tier_terms(self.rows, idx)
        return mmr, cum, self._bounds(None, idx)

    def _single_leg(
        self,
        base: Floats,
        m: Floats,
        at_mark_terms: tuple[Floats, Floats],
        at_mark_bounds: tuple[Floats, Floats],
    ) -> tuple[Floats, Bools]:
        """``TieredClosedForm._single_leg`` for every leg at once, round for round: the closed form
        with the tier at the mark, then with the tier at the result, until the two agree. Each round
        works only on the legs still open. Returns the prices (NaN for "none") and which legs they
        settle; a leg whose root needs the segment scan is left unsettled for the scalar code.

        Whether the result's tier is the round's is a test of its bounds; the tier itself is looked
        up only for the legs that go on to another round (about a third here: a liquidation price
        mostly lies in a lower tier than the mark)."""
        # round one: every leg, at the tier at the mark, with the columns as they are
        floor = m * PRICE_FLOOR
        mmr, cum = at_mark_terms
        lower, upper = at_mark_bounds
        den, num = _closed_form_terms(
            self.q, self.sq, self.sqe, self.entry, self.inverse_or_none, base, mmr, cum
        )
        lp = _quotient(num, den)
        positive = lp > floor
        value = _notional(self.q, self.inverse_or_none, lp)
        done = positive & (lower <= value) & (value < upper)  # the result is in the round's tier
        out = np.where(done, lp, np.nan)
        settled = done  # a new array, filled in further by the rounds below and the sign test
        unsolved = [np.flatnonzero(~positive)]  # no positive root in some round, or out of rounds
        going = positive ^ done  # ``done`` lies within ``positive``: the rest of it
        rows = np.flatnonzero(going)
        # further rounds: the legs whose result left the tier they started from, at the result's tier
        for _ in range(FIXED_POINT_ROUNDS - 1):
            if not len(rows):
                break
            idx = self._tier_index(value[going], rows)
            q, sq, sqe, e, b = self.q[rows], self.sq[rows], self.sqe[rows], self.entry[rows], base[rows]
            inv = None if self.inverse_or_none is None else self.inverse_or_none[rows]
            mmr, cum = self._tier_terms(rows, idx)
            lower, upper = self._bounds(rows, idx)
            den, num = _closed_form_terms(q, sq, sqe, e, inv, b, mmr, cum)
            lp = _quotient(num, den)
            positive = lp > floor[rows]
            unsolved.append(rows[~positive])
            value = _notional(q, inv, lp)
            done = positive & (lower <= value) & (value < upper)
            hit = rows[done]
            out[hit] = lp[done]
            settled[hit] = True
            going = positive ^ done
            rows = rows[going]
        unsolved.append(rows)
        # one leg's balance is monotone in its price: the same sign at both ends means no price at all
        rows = np.concatenate(unsolved)
        if len(rows):
            # both ends in one pass: the same operations on each element, half the numpy calls
            n = len(rows)
            both = np.concatenate([rows, rows])
            balance = self._balance(base[both], np.concatenate([floor[rows], m[rows] / PRICE_FLOOR]), both)
            settled[rows[(balance[:n] > 0) == (balance[n:] > 0)]] = True
        return out, settled

    def _balance(self, base: Floats, price: Floats, rows: Ints) -> Floats:
        """``TieredClosedForm._balance``: equity minus requirement of each of ``rows`` at ``price``."""
        q, sq, e = self.q[rows], self.sq[rows], self.entry[rows]
        inv = None if self.inverse_or_none is None else self.inverse_or_none[rows]
        value = _notional(q, inv, price)
        mmr, cum = self._tier_terms(rows, self._tier_index(value, rows))
        out: Floats = base + _upnl(sq, e, inv, price) - (value * mmr - cum)
        return out

    # --- the scalar remainder -----------------------------------------------------------------------
    def _scalar_single(self, i: int, base: float, mark: float) -> float | None:
        account = self.accounts[int(self.account_of[i])]
        p = self.positions[i]
        rules = rules_for(account.venue)
        if p.margin_mode is MarginMode.CROSS:
            return rules.cross_liquidation_price((p,), base, account.taker_fee, mark)
        return rules.isolated_liquidation_price(p, account.taker_fee, mark)

    def _scalar_shared(
        self,
        acct_index: int,
        idx: list[int],
        pnl: Floats,
        req: Floats,
        cross_pnl: float,
        cross_req: float,
        mark: float,
    ) -> float | None:
        account = self.accounts[acct_index]
        own_pnl = sum(pnl[idx].tolist())
        own_req = sum(req[idx].tolist())
        base = account.wallet_balance + (cross_pnl - own_pnl) - (cross_req - own_req)
        legs = [self.positions[i] for i in idx]
        return rules_for(account.venue).cross_liquidation_price(legs, base, account.taker_fee, mark)

    def _deviations(self, lp: Floats) -> list[float | None]:
        """Ours against the exchange's liquidation price, where the account carries the exchange's
        (an account built from a REST snapshot); ``None`` elsewhere."""
        out: list[float | None] = [None] * len(lp)
        for i in self.compared:
            ours = lp.item(i)
            out[i] = deviation_pct(None if ours != ours else ours, self.exchange[i])
        return out

    def _account_risk(
        self, k: int, columns: RowColumns, totals: tuple[float, float, float], sheet: RiskArrays
    ) -> AccountRisk:
        """One account's ``AccountRisk``: its positions are its rows of the columns (``RiskRows``),
        built into ``PositionRisk`` values only where they are read."""
        account = self.accounts[k]
        cross = CrossRisk(*totals) if self.has_cross[k] else None
        rows = RiskRows(columns, self.starts[k], self.starts[k + 1], sheet)
        return AccountRisk(account.venue, account.name, cross, rows)


def _picker(keys: list[str]) -> Callable[[Mapping[str, float]], tuple[float, ...]]:
    """``itemgetter(*keys)`` that always returns a tuple (itemgetter returns a bare value for one key
    and refuses none)."""
    if len(keys) > 1:
        return cast(Callable[[Mapping[str, float]], tuple[float, ...]], itemgetter(*keys))
    return lambda marks: tuple(marks[k] for k in keys)


def _nan_for_none(price: float | None) -> float:
    return np.nan if price is None else price


def _notional(q: Floats, inverse: Bools | None, price: Floats) -> Floats:
    """``rules.notional`` over columns (``inverse`` ``None``: no leg is)."""
    if inverse is None:
        linear: Floats = q * price
        return linear
    out: Floats = np.where(inverse, q / price, q * price)
    return out


def _upnl(sq: Floats, entry: Floats, inverse: Bools | None, price: Floats) -> Floats:
    """``rules.upnl`` over columns, in its order of operations (``sq``: ``s * q``, which it computes
    first; ``inverse`` ``None``: no leg is)."""
    if inverse is None:
        linear: Floats = sq * (price - entry)
        return linear
    out: Floats = np.where(inverse, sq * (1.0 / entry - 1.0 / price), sq * (price - entry))
    return out


def _closed_form_terms(
    q: Floats,
    sq: Floats,
    sqe: Floats,
    e: Floats,
    inverse: Bools | None,
    base: Floats,
    mmr: Floats,
    cum: Floats,
) -> tuple[Floats, Floats]:
    """Denominator and numerator of ``TieredClosedForm._single_leg``'s price, per leg, in its order
    of operations (``sq``, ``sqe``: ``s * q`` and ``s * q * e``, which it computes first;
    ``inverse`` ``None``: no leg is)."""
    linear_den = q * mmr - sq
    linear_num = base + cum - sqe
    if inverse is None:
        return linear_den, linear_num
    den: Floats = np.where(inverse, base + cum + sq / e, linear_den)
    num: Floats = np.where(inverse, q * mmr + sq, linear_num)
    return den, num


def _quotient(num: Floats, den: Floats) -> Floats:
    """``num / den``, and ``0.0`` where ``den`` is 0 (as the scalar closed form has it)."""
    out: Floats = num / den
    if not den.all():
        out[den == 0] = 0.0
    return out


def _per_account(account_of: Ints, values: Floats, n_accounts: int) -> Floats:
    """Sum of each account's values, added in row order (as the scalar loop adds them; an isolated
    leg contributes ``0.0``, which leaves a sum unchanged)."""
    return np.asarray(np.bincount(account_of, weights=values, minlength=n_accounts), dtype=np.float64)


def _join(parts: list[Floats]) -> Floats:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)


def _join_bools(parts: list[Bools]) -> Bools:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.bool_)


def _stack(parts: list[Floats], width: int) -> Floats:
    """Tier matrices of one width, one under the other."""
    return np.concatenate(parts) if parts else np.zeros((0, width), dtype=np.float64)


def _pad(matrix: Floats, columns: int, value: float) -> Floats:
    """``matrix`` with ``columns`` more columns on the right, filled with ``value``."""
    if not columns:
        return matrix
    out = np.full((matrix.shape[0], matrix.shape[1] + columns), value)
    out[:, : matrix.shape[1]] = matrix
    return out


def _margin_ratio(requirement: Floats, equity: Floats) -> Floats:
    """``monitor.margin.account.margin_ratio`` over columns."""
    if (equity > 0).all():  # the usual case, where the ratio is the quotient: a third of the calls
        quotient: Floats = requirement / equity
        return quotient
    out: Floats = np.where(
        equity <= 0,
        np.where((requirement > 0) | (equity < 0), np.inf, 0.0),
        requirement / np.where(equity <= 0, 1.0, equity),
    )
    return out


def evaluate_accounts(
    accounts: Sequence[Account], marks: Mapping[str, float] | None = None
) -> list[AccountRisk]:
    """``[evaluate_account(a, marks) for a in accounts]`` for batchable accounts, in one pass."""
    return Batch([AccountColumns(a) for a in accounts]).evaluate(marks)
